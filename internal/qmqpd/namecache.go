package qmqpd

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// DefaultNameCacheTTL is how long the daemon reuses the outcome of a
// client's name lookups (Config.NameCacheTTL).
const DefaultNameCacheTTL = time.Second

// nameCacheSize bounds the number of addresses a nameCache remembers.
const nameCacheSize = 4096

// nameCache remembers, for Config.NameCacheTTL, what the reverse lookup and
// forward confirmation of a client address gave: the name, and the warning
// logged with it, which is logged again for every connection that reuses
// the entry, as Postfix would log it after the same lookups. A client that
// sends message after message, the way mailing lists and satellites use
// QMQP, then costs two lookups a second instead of two per message.
// Outcomes of lookups that failed for the moment are not kept.
type nameCache struct {
	mu      sync.Mutex
	entries map[netip.Addr]nameEntry
}

type nameEntry struct {
	name, warning string
	expires       time.Time
}

// verifiedName returns the verified name of ip (see the function of that
// name), from the cache while its entry is fresh. A nil cache, or a zero
// Config.NameCacheTTL, looks up every time.
func (c *nameCache) verifiedName(ctx context.Context, cfg *Config, ip netip.Addr, addr string, family int, warn func(string)) string {
	ttl := cfg.NameCacheTTL
	if c == nil || ttl <= 0 {
		name, warning, _ := verifiedName(ctx, cfg.Resolver, ip, addr, family)
		if warning != "" {
			warn(warning)
		}
		return name
	}
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[ip]
	c.mu.Unlock()
	if !ok || !now.Before(e.expires) {
		var temporary bool
		e.name, e.warning, temporary = verifiedName(ctx, cfg.Resolver, ip, addr, family)
		if !temporary {
			e.expires = now.Add(ttl)
			c.store(ip, e, now)
		}
	}
	if e.warning != "" {
		warn(e.warning)
	}
	return e.name
}

// store keeps e for ip, making room first when the cache is full: expired
// entries go, and if that is not enough, all of them.
func (c *nameCache) store(ip netip.Addr, e nameEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[netip.Addr]nameEntry)
	}
	if _, ok := c.entries[ip]; !ok && len(c.entries) >= nameCacheSize {
		for k, old := range c.entries {
			if !now.Before(old.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= nameCacheSize {
			clear(c.entries)
		}
	}
	c.entries[ip] = e
}
