package qmqpd

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qmqpd-go/qmqpd/internal/maincf"
)

// fakeResolver answers from maps; missing entries are "not found".
type fakeResolver struct {
	ptr  map[string][]string
	addr map[string][]netip.Addr
	temp bool // forward lookups fail temporarily
}

func (r fakeResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	if n, ok := r.ptr[addr]; ok {
		return n, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

func (r fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if r.temp {
		return nil, &net.DNSError{Err: "server misbehaving", Name: host, IsTemporary: true}
	}
	var out []netip.Addr
	for _, a := range r.addr[host] {
		if network == "ip4" && a.Is4() || network == "ip6" && a.Is6() {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

// addrConn is a net.Conn with a given remote TCP address (no socket, so
// the address comes from RemoteAddr).
type addrConn struct {
	net.Conn
	remote *net.TCPAddr
}

func (c addrConn) RemoteAddr() net.Addr             { return c.remote }
func (c addrConn) SetDeadline(time.Time) error      { return nil }
func (c addrConn) SetReadDeadline(time.Time) error  { return nil }
func (c addrConn) SetWriteDeadline(time.Time) error { return nil }

func TestLookupPeer(t *testing.T) {
	res := fakeResolver{
		ptr: map[string][]string{
			"192.0.2.1":   {"mx.example.com."},
			"2001:db8::1": {"v6.example.com."},
			"192.0.2.2":   {"192.0.2.2"},
			"192.0.2.3":   {"bad!name.example.com"},
			"192.0.2.4":   {"nowhere.example.com"},
			"192.0.2.5":   {"elsewhere.example.com"},
			"192.0.2.6":   {"slow.example.com"},
		},
		addr: map[string][]netip.Addr{
			"mx.example.com":        {netip.MustParseAddr("192.0.2.1")},
			"v6.example.com":        {netip.MustParseAddr("2001:db8::1")},
			"elsewhere.example.com": {netip.MustParseAddr("198.51.100.1")},
		},
	}
	for _, c := range []struct {
		name     string
		ip       string
		v4, v6   bool
		ports    bool
		temp     bool
		want     Peer
		warnings []string
		err      string
	}{
		{name: "ipv4 verified", ip: "192.0.2.1", v4: true, want: Peer{"mx.example.com", "192.0.2.1", "192.0.2.1", 2, "4242", "mx.example.com[192.0.2.1]"}},
		{name: "port logging", ip: "192.0.2.1", v4: true, ports: true, want: Peer{"mx.example.com", "192.0.2.1", "192.0.2.1", 2, "4242", "mx.example.com[192.0.2.1]:4242"}},
		{name: "ipv6", ip: "2001:db8::1", v4: true, v6: true, want: Peer{"v6.example.com", "2001:db8::1", "IPv6:2001:db8::1", 10, "4242", "v6.example.com[2001:db8::1]"}},
		{name: "v4-mapped", ip: "::ffff:192.0.2.1", v4: true, v6: true, want: Peer{"mx.example.com", "192.0.2.1", "192.0.2.1", 2, "4242", "mx.example.com[192.0.2.1]"}},
		{name: "v4-mapped, ipv6 only", ip: "::ffff:192.0.2.9", v6: true, want: Peer{"unknown", "::ffff:192.0.2.9", "IPv6:::ffff:192.0.2.9", 10, "4242", "unknown[::ffff:192.0.2.9]"}},
		{name: "no ptr", ip: "192.0.2.99", v4: true, want: Peer{"unknown", "192.0.2.99", "192.0.2.99", 2, "4242", "unknown[192.0.2.99]"}},
		{name: "numeric ptr", ip: "192.0.2.2", v4: true, want: Peer{"unknown", "192.0.2.2", "192.0.2.2", 2, "4242", "unknown[192.0.2.2]"},
			warnings: []string{"numeric hostname: 192.0.2.2"}},
		{name: "bad ptr", ip: "192.0.2.3", v4: true, want: Peer{"unknown", "192.0.2.3", "192.0.2.3", 2, "4242", "unknown[192.0.2.3]"},
			warnings: []string{"valid_hostname: invalid character 33(decimal): bad!name.example.com"}},
		{name: "forward nx", ip: "192.0.2.4", v4: true, want: Peer{"unknown", "192.0.2.4", "192.0.2.4", 2, "4242", "unknown[192.0.2.4]"},
			warnings: []string{"hostname nowhere.example.com does not resolve to address 192.0.2.4: Name or service not known"}},
		{name: "forward temporary", ip: "192.0.2.6", v4: true, temp: true, want: Peer{"unknown", "192.0.2.6", "192.0.2.6", 2, "4242", "unknown[192.0.2.6]"},
			warnings: []string{"hostname slow.example.com does not resolve to address 192.0.2.6: Temporary failure in name resolution"}},
		{name: "forward mismatch", ip: "192.0.2.5", v4: true, want: Peer{"unknown", "192.0.2.5", "192.0.2.5", 2, "4242", "unknown[192.0.2.5]"},
			warnings: []string{"hostname 192.0.2.5 does not resolve to address elsewhere.example.com"}},
		{name: "ipv4 disabled", ip: "192.0.2.1", v6: true, err: `cannot handle socket type AF_INET with "inet_protocols = test"`},
		{name: "ipv6 disabled", ip: "2001:db8::1", v4: true, err: `cannot handle socket type AF_INET6 with "inet_protocols = test"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := res
			r.temp = c.temp
			cfg := &Config{IPv4: c.v4, IPv6: c.v6, InetProtocols: "test", PortLogging: c.ports, Resolver: r}
			ip := net.ParseIP(c.ip)
			if !strings.Contains(c.ip, ":") {
				ip = ip.To4() // a socket of family AF_INET
			}
			conn := addrConn{remote: &net.TCPAddr{IP: ip, Port: 4242}}
			var warnings []string
			p, err := lookupPeer(context.Background(), conn, cfg, nil, func(s string) { warnings = append(warnings, s) }, func(string) {})
			if c.err != "" {
				var fe *ErrSocketFamily
				if !errors.As(err, &fe) || err.Error() != c.err {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(c.want, p); d != "" {
				t.Errorf("peer (-want +got):\n%s", d)
			}
			if d := cmp.Diff(c.warnings, warnings); d != "" {
				t.Errorf("warnings (-want +got):\n%s", d)
			}
		})
	}
}

func TestHostnameProblem(t *testing.T) {
	long := ""
	for i := 0; i < 64; i++ {
		long += "a"
	}
	for name, want := range map[string]string{
		"mx.example.com":  "",
		"a_b.example":     "",
		"":                "empty hostname",
		"a..b":            "misplaced delimiter: a..b",
		"a.":              "misplaced delimiter: a.",
		"-a.b":            "misplaced hyphen: -a.b",
		"a-.b":            "misplaced hyphen: a-.b",
		"123.456":         "numeric hostname: 123.456",
		long + ".example": "hostname label too long: " + long + ".example",
	} {
		if got := maincf.HostnameProblem(name); got != want {
			t.Errorf("HostnameProblem(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestV4MappedSocket: a client of a dual-stack IPv6 socket that comes over
// IPv4 is seen as ::ffff:a.b.c.d by the kernel and logged as a.b.c.d.
func TestV4MappedSocket(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::]:0")
	if err != nil {
		t.Skipf("no IPv6: %v", err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	c, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Skipf("no dual-stack sockets: %v", err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ip, _, inet, gone := rawPeer(s)
	if !inet || gone || !ip.Is4In6() {
		t.Fatalf("rawPeer: %v inet=%v gone=%v, want a v4-mapped address", ip, inet, gone)
	}
	cfg := &Config{IPv4: true, IPv6: true, Resolver: fakeResolver{}}
	p, err := lookupPeer(context.Background(), s, cfg, nil, func(string) {}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if p.Addr != "127.0.0.1" || p.RFCAddr != "127.0.0.1" || p.Family != 2 || p.NamAddr != "unknown[127.0.0.1]" {
		t.Errorf("peer %+v", p)
	}
}
