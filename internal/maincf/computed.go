package maincf

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
)

// Host supplies the machine facts that computed defaults depend on. The
// zero value uses the running machine; tests may replace the functions.
type Host struct {
	Hostname   func() (string, error)         // nil = os.Hostname
	Interfaces func() ([]netip.Prefix, error) // nil = the machine's interface addresses with their prefix lengths
	PID        func() int                     // nil = os.Getpid
}

func (h Host) hostname() string {
	f := h.Hostname
	if f == nil {
		f = os.Hostname
	}
	name, err := f()
	if err != nil || name == "" {
		return "localhost"
	}
	return name
}

func (h Host) pid() int {
	if h.PID != nil {
		return h.PID()
	}
	return os.Getpid()
}

// interfacePrefixes returns the machine's interface addresses with their
// network prefix lengths, IPv4 first, then IPv6, each in interface order.
func (h Host) interfacePrefixes() ([]netip.Prefix, error) {
	if h.Interfaces != nil {
		return h.Interfaces()
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var v4, v6 []netip.Prefix
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ones, _ := ipn.Mask.Size()
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			p := netip.PrefixFrom(ip, ones)
			if ip.Is4() {
				v4 = append(v4, p)
			} else {
				v6 = append(v6, p)
			}
		}
	}
	return append(v4, v6...), nil
}

// DefaultMydomain is the domain used when the host name has no dot.
const DefaultMydomain = "localdomain"

// ComputeMyhostname works out myhostname's default: the machine's host
// name, with "." plus mydomain appended when it has no dot (mydomain is
// the expanded main.cf value, or "" for "localdomain").
func ComputeMyhostname(hostname, mydomain string) string {
	if strings.Contains(hostname, ".") {
		return hostname
	}
	if mydomain == "" {
		mydomain = DefaultMydomain
	}
	return hostname + "." + mydomain
}

// ComputeMydomain works out mydomain's default from myhostname: the part
// after the first dot, or "localdomain".
func ComputeMydomain(myhostname string) string {
	if i := strings.IndexByte(myhostname, '.'); i >= 0 {
		return myhostname[i+1:]
	}
	return DefaultMydomain
}

// ComputeMynetworks works out mynetworks' default for the given
// mynetworks_style ("class", "subnet" or "host", case-insensitive), from
// the interface addresses, keeping IPv4 and/or IPv6 as inet_protocols
// says ("all", "ipv4", "ipv6" or a list). The error is Postfix's fatal text.
func ComputeMynetworks(style, inetProtocols, inetInterfaces string, h Host) (string, error) {
	want4, want6 := true, true
	if p := strings.ToLower(strings.Join(strings.FieldsFunc(inetProtocols, isListSep), " ")); p != "all" {
		want4, want6 = false, false
		for _, f := range strings.Fields(p) {
			switch f {
			case "ipv4":
				want4 = true
			case "ipv6":
				want6 = true
			case "all":
				want4, want6 = true, true
			}
		}
	}
	if !want4 && !want6 {
		return "", nil
	}
	var styles []string
	for _, s := range strings.FieldsFunc(style, isListSep) {
		styles = append(styles, strings.ToLower(s))
	}
	if len(styles) != 1 || (styles[0] != "class" && styles[0] != "subnet" && styles[0] != "host") {
		if len(styles) == 1 {
			return "", fmt.Errorf("unknown mynetworks mask style value \"%s\" in \"%s\"", styles[0], style)
		}
		return "", fmt.Errorf("bad mynetworks_style value: %s; specify exactly one value", style)
	}
	all, err := h.interfacePrefixes()
	if err != nil {
		return "", err
	}
	var selected []netip.Prefix
	switch iface := strings.ToLower(trimSpace(inetInterfaces)); iface {
	case "all", "":
		selected = all
	case "loopback-only":
		for _, p := range all {
			if p.Addr().IsLoopback() {
				selected = append(selected, p)
			}
		}
	default:
		for _, f := range strings.FieldsFunc(inetInterfaces, isListSep) {
			f = strings.TrimSuffix(strings.TrimPrefix(f, "["), "]")
			a, err := netip.ParseAddr(f)
			if err != nil {
				continue
			}
			for _, p := range all {
				if p.Addr().WithZone("") == a.WithZone("") {
					selected = append(selected, p)
					break
				}
			}
		}
		// IPv4 first, as Postfix lists them.
		var v4, v6 []netip.Prefix
		for _, p := range selected {
			if p.Addr().Is4() {
				v4 = append(v4, p)
			} else {
				v6 = append(v6, p)
			}
		}
		selected = append(v4, v6...)
	}
	var out []string
	seen := map[string]bool{}
	for _, p := range selected {
		a := p.Addr().WithZone("")
		if a.Is4() && !want4 || a.Is6() && !want6 {
			continue
		}
		bits := p.Bits()
		switch styles[0] {
		case "host":
			bits = a.BitLen()
		case "class":
			if a.Is4() {
				b := a.As4()[0]
				switch {
				case b < 128:
					bits = 8
				case b < 192:
					bits = 16
				case b < 224:
					bits = 24
				case b < 240:
					bits = 4
				default:
					return "", fmt.Errorf("mynetworks_core: unknown address class: %s", a)
				}
			}
		}
		net, err := a.Prefix(bits)
		if err != nil {
			continue
		}
		var s string
		if a.Is4() {
			s = fmt.Sprintf("%s/%d", net.Addr(), bits)
		} else {
			s = fmt.Sprintf("[%s]/%d", net.Addr(), bits)
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return strings.Join(out, " "), nil
}

// isListSep reports whether r separates list elements (comma or white
// space).
func isListSep(r rune) bool {
	return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n'
}
