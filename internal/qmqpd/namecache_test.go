package qmqpd

import (
	"context"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// countingResolver counts the lookups it passes on.
type countingResolver struct {
	fakeResolver
	reverse, forward int
}

func (r *countingResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	r.reverse++
	return r.fakeResolver.LookupAddr(ctx, addr)
}

func (r *countingResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.forward++
	return r.fakeResolver.LookupNetIP(ctx, network, host)
}

func TestNameCache(t *testing.T) {
	good := netip.MustParseAddr("192.0.2.1")
	liar := netip.MustParseAddr("192.0.2.2") // its name does not resolve back to it
	fake := fakeResolver{
		ptr: map[string][]string{
			"192.0.2.1": {"mx.example.com."},
			"192.0.2.2": {"liar.example.com."},
		},
		addr: map[string][]netip.Addr{
			"mx.example.com":   {good},
			"liar.example.com": {netip.MustParseAddr("198.51.100.7")},
		},
	}
	type result struct {
		Name             string
		Warnings         []string
		Reverse, Forward int
	}
	// run looks ip up n times through c and reports what it saw.
	run := func(c *nameCache, cfg *Config, r *countingResolver, ip netip.Addr, n int) result {
		var res result
		for i := 0; i < n; i++ {
			res.Name = c.verifiedName(context.Background(), cfg, ip, ip.String(), afInet, func(w string) { res.Warnings = append(res.Warnings, w) })
		}
		res.Reverse, res.Forward = r.reverse, r.forward
		return res
	}
	const liarWarning = "hostname 192.0.2.2 does not resolve to address liar.example.com"

	tests := []struct {
		name  string
		cache bool
		ttl   time.Duration
		temp  bool
		ip    netip.Addr
		want  result
	}{
		{"cached", true, time.Hour, false, good, result{Name: "mx.example.com", Reverse: 1, Forward: 1}},
		{"warning logged for every connection", true, time.Hour, false, liar,
			result{Name: "unknown", Warnings: []string{liarWarning, liarWarning, liarWarning}, Reverse: 1, Forward: 1}},
		{"expired entries are looked up again", true, time.Nanosecond, false, good, result{Name: "mx.example.com", Reverse: 3, Forward: 3}},
		{"no TTL, no cache", true, 0, false, good, result{Name: "mx.example.com", Reverse: 3, Forward: 3}},
		{"nil cache", false, time.Hour, false, good, result{Name: "mx.example.com", Reverse: 3, Forward: 3}},
		{"temporary failures are not kept", true, time.Hour, true, good, result{
			Name: "unknown",
			Warnings: []string{
				"hostname mx.example.com does not resolve to address 192.0.2.1: Temporary failure in name resolution",
				"hostname mx.example.com does not resolve to address 192.0.2.1: Temporary failure in name resolution",
				"hostname mx.example.com does not resolve to address 192.0.2.1: Temporary failure in name resolution",
			},
			Reverse: 3, Forward: 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := fake
			f.temp = tc.temp
			r := &countingResolver{fakeResolver: f}
			cfg := &Config{Resolver: r, NameCacheTTL: tc.ttl}
			var c *nameCache
			if tc.cache {
				c = &nameCache{}
			}
			got := run(c, cfg, r, tc.ip, 3)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestNameCacheBounded(t *testing.T) {
	r := &countingResolver{}
	cfg := &Config{Resolver: r, NameCacheTTL: time.Hour}
	c := &nameCache{}
	for i := 0; i < nameCacheSize+10; i++ {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		c.verifiedName(context.Background(), cfg, ip, ip.String(), afInet, func(string) {})
		if len(c.entries) > nameCacheSize {
			t.Fatalf("after %d addresses the cache holds %d entries, more than %d", i+1, len(c.entries), nameCacheSize)
		}
	}
	// The newest address is still remembered.
	last := nameCacheSize + 9
	ip := netip.MustParseAddr("10.0." + strconv.Itoa(last>>8) + "." + strconv.Itoa(last&0xff))
	before := r.reverse
	c.verifiedName(context.Background(), cfg, ip, ip.String(), afInet, func(string) {})
	if r.reverse != before {
		t.Errorf("the newest address was looked up again")
	}
}
