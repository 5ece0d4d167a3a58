package dict

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// CIDR is a parsed address or net/mask pattern (Postfix's CIDR_MATCH).
type CIDR struct {
	v6    bool
	bytes int // 4 or 16
	net   [16]byte
	mask  [16]byte
	shift int32 // mask length as Postfix stores it
}

// ParseCIDR parses a pattern of the forms "addr", "addr/len", "[addr]",
// "[addr]/len" and "[addr/len]". The address family is IPv6 when the
// address contains ':'. Errors carry Postfix's texts: `bad mask value in
// "X/Y"`, `bad mask length in "X/Y"`, `bad network value in "X/Y"`,
// `non-null host address bits in "X/Y", perhaps you should use "N/L"
// instead`, `bad address pattern: "X"`, `missing ']' character after
// "[X"` and `garbage after "[X]"`.
func ParseCIDR(pattern string) (CIDR, error) {
	var c CIDR
	addr := pattern
	var mask string
	hasMask := false
	if strings.HasPrefix(addr, "[") {
		addr = addr[1:]
		i := strings.IndexByte(addr, ']')
		if i < 0 {
			return c, fmt.Errorf("missing ']' character after \"[%s\"", addr)
		}
		after := addr[i+1:]
		addr = addr[:i]
		if strings.HasPrefix(after, "/") {
			mask, hasMask = after[1:], true
		} else if after != "" {
			return c, fmt.Errorf("garbage after \"[%s]\"", addr)
		} else {
			addr, mask, hasMask = strings.Cut(addr, "/")
		}
	} else {
		addr, mask, hasMask = strings.Cut(addr, "/")
	}
	c.v6 = strings.IndexByte(addr, ':') >= 0
	c.bytes = 4
	if c.v6 {
		c.bytes = 16
	}
	bits := int32(c.bytes * 8)
	if !hasMask {
		if !c.setAddr(addr) {
			return c, fmt.Errorf("bad address pattern: \"%s\"", addr)
		}
		c.shift = bits
		for i := 0; i < c.bytes; i++ {
			c.mask[i] = 0xff
		}
		return c, nil
	}
	var parseError string
	switch {
	case !allDigits(mask):
		parseError = "bad mask value"
	default:
		c.shift = atoi(mask)
		if c.shift > bits {
			parseError = "bad mask length"
		} else if !c.setAddr(addr) {
			parseError = "bad network value"
		}
	}
	if parseError != "" {
		return c, fmt.Errorf("%s in \"%s/%s\"", parseError, addr, mask)
	}
	if c.shift > 0 {
		for i := 0; i < c.bytes; i++ {
			c.mask[i] = 0xff
		}
		maskBytes(c.mask[:c.bytes], int(c.shift))
	}
	for i := 0; i < c.bytes; i++ {
		if c.net[i]&^c.mask[i] != 0 {
			maskBytes(c.net[:c.bytes], int(c.shift))
			return c, fmt.Errorf("non-null host address bits in \"%s/%s\", perhaps you should use \"%s/%d\" instead",
				addr, mask, ntop(c.net[:c.bytes]), c.shift)
		}
	}
	return c, nil
}

// Contains reports whether the printable address addr (IPv6 when it
// contains ':') is inside c. Addresses of the other family never match.
func (c CIDR) Contains(addr string) bool {
	v6 := strings.IndexByte(addr, ':') >= 0
	if v6 != c.v6 {
		return false
	}
	b, ok := pton(addr, v6)
	if !ok {
		return false
	}
	for i := 0; i < c.bytes; i++ {
		if b[i]&c.mask[i] != c.net[i] {
			return false
		}
	}
	return true
}

func (c *CIDR) setAddr(s string) bool {
	b, ok := pton(s, c.v6)
	c.net = b
	return ok
}

// pton converts like inet_pton(3) for the given family: dotted quads
// without leading zeros for IPv4, RFC 4291 text (with an optional trailing
// dotted quad, without zone) for IPv6.
func pton(s string, v6 bool) ([16]byte, bool) {
	var out [16]byte
	if strings.IndexByte(s, '%') >= 0 {
		return out, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Is6() != v6 {
		return out, false
	}
	if v6 {
		return a.As16(), true
	}
	b := a.As4()
	copy(out[:], b[:])
	return out, true
}

// maskBytes clears all bits after the first n.
func maskBytes(b []byte, n int) {
	if n < 0 {
		n = 0
	}
	for i := range b {
		switch {
		case n >= 8:
			n -= 8
		case n > 0:
			b[i] &= ^byte(0xff >> n)
			n = 0
		default:
			b[i] = 0
		}
	}
}

// atoi mimics C's atoi on a string of digits: strtol saturates at the
// largest long, then the value is truncated to int.
func atoi(s string) int32 {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil && errors.Is(err, strconv.ErrRange) {
		v = 1<<63 - 1
	}
	return int32(v)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ntop formats an address like glibc's inet_ntop(3).
func ntop(b []byte) string {
	if len(b) == 4 {
		return fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], b[2], b[3])
	}
	var words [8]int
	for i := range words {
		words[i] = int(b[2*i])<<8 | int(b[2*i+1])
	}
	// Longest run of zero words (first one wins), length >= 2.
	bestBase, bestLen := -1, 0
	for i := 0; i < 8; {
		if words[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && words[j] == 0 {
			j++
		}
		if j-i > bestLen {
			bestBase, bestLen = i, j-i
		}
		i = j
	}
	if bestLen < 2 {
		bestBase = -1
	}
	var sb strings.Builder
	for i := 0; i < 8; i++ {
		if bestBase >= 0 && i >= bestBase && i < bestBase+bestLen {
			if i == bestBase {
				sb.WriteByte(':')
			}
			continue
		}
		if i != 0 {
			sb.WriteByte(':')
		}
		if i == 6 && bestBase == 0 && (bestLen == 6 || (bestLen == 5 && words[5] == 0xffff)) {
			fmt.Fprintf(&sb, "%d.%d.%d.%d", b[12], b[13], b[14], b[15])
			break
		}
		fmt.Fprintf(&sb, "%x", words[i])
	}
	if bestBase >= 0 && bestBase+bestLen == 8 {
		sb.WriteByte(':')
	}
	return sb.String()
}
