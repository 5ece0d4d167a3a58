package maincf

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
)

// Host supplies the machine facts that computed defaults depend on. The
// zero value uses the running machine; tests may replace the functions.
type Host struct {
	Hostname   func() (string, error)         // nil = os.Hostname
	Interfaces func() ([]netip.Prefix, error) // nil = the machine's interface addresses with their prefix lengths
	PID        func() int                     // nil = os.Getpid

	// The account database, for CheckGlobals (nil = os/user): a login
	// name's user and group IDs, a user ID's login name, a group name's
	// ID and a group ID's name. A name or ID that does not exist is an
	// error.
	LookupUser  func(name string) (uid, gid int, err error)
	UserName    func(uid int) (string, error)
	LookupGroup func(name string) (gid int, err error)
	GroupName   func(gid int) (string, error)
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
// mynetworks_style ("class", "subnet" or "host"), from the addresses of
// inet_interfaces ("all", "loopback-only" or a list of addresses and host
// names) and the protocols of inet_protocols ("all", "ipv4", "ipv6"). The
// result lists "net/len" (IPv6 as "[net]/len"), IPv4 first, sorted and
// without duplicates, as Postfix does. Errors are Postfix's fatal texts.
func ComputeMynetworks(style, inetProtocols, inetInterfaces string, h Host) (string, error) {
	want4, want6 := false, false
	for _, f := range strings.FieldsFunc(inetProtocols, isListSep) {
		switch f {
		case "ipv4":
			want4 = true
		case "ipv6":
			want6 = true
		case "all":
			want4, want6 = true, true
		default:
			return "", fmt.Errorf("%s", Printable(fmt.Sprintf("unknown inet_protocols value \"%s\" in \"%s\"", f, inetProtocols)))
		}
	}
	if !want4 && !want6 {
		return "", nil
	}
	styleSet := map[string]bool{}
	for _, s := range strings.FieldsFunc(style, isListSep) {
		if s != "class" && s != "subnet" && s != "host" {
			return "", fmt.Errorf("%s", Printable(fmt.Sprintf("unknown mynetworks mask style value \"%s\" in \"%s\"", s, style)))
		}
		styleSet[s] = true
	}
	if len(styleSet) != 1 {
		return "", fmt.Errorf("%s", Printable(fmt.Sprintf("bad mynetworks_style value: %s; specify exactly one value", style)))
	}
	var maskStyle string
	for s := range styleSet {
		maskStyle = s
	}
	all, err := h.interfacePrefixes()
	if err != nil {
		return "", err
	}
	usable := func(a netip.Addr) bool { return a.Is4() && want4 || a.Is6() && want6 }
	var selected []netip.Prefix
	switch iface := trimSpace(inetInterfaces); iface {
	case "all":
		for _, p := range all {
			if usable(p.Addr()) {
				selected = append(selected, p)
			}
		}
	case "loopback-only":
		for _, p := range all {
			if usable(p.Addr()) && p.Addr().IsLoopback() {
				selected = append(selected, p)
			}
		}
	default:
		for _, f := range strings.FieldsFunc(inetInterfaces, isListSep) {
			name := f
			if strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]") {
				name = name[1 : len(name)-1]
			}
			var addrs []netip.Addr
			if a, err := netip.ParseAddr(name); err == nil {
				addrs = []netip.Addr{a}
			} else {
				ips, _ := net.LookupIP(name)
				for _, ip := range ips {
					if a, ok := netip.AddrFromSlice(ip); ok {
						addrs = append(addrs, a.Unmap())
					}
				}
			}
			found := 0
			for _, a := range addrs {
				if !usable(a) {
					continue
				}
				found++
				local := false
				for _, p := range all {
					if p.Addr().WithZone("") == a.WithZone("") {
						selected = append(selected, p)
						local = true
						break
					}
				}
				if !local {
					return "", fmt.Errorf("%s", Printable(fmt.Sprintf("parameter inet_interfaces: no local interface found for %s", a)))
				}
			}
			if found == 0 {
				return "", fmt.Errorf("%s", Printable(fmt.Sprintf("config variable inet_interfaces: host not found: %s", f)))
			}
		}
	}
	// Postfix sorts the interface address list (IPv4 before IPv6, then by
	// address) before it works out the networks.
	sort.SliceStable(selected, func(i, j int) bool {
		return selected[i].Addr().WithZone("").Compare(selected[j].Addr().WithZone("")) < 0
	})
	var nets []netip.Prefix
	for _, p := range selected {
		a := p.Addr().WithZone("")
		bits := p.Bits()
		switch maskStyle {
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
		n, err := a.Prefix(bits)
		if err != nil {
			continue
		}
		nets = append(nets, n)
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range nets {
		var s string
		if n.Addr().Is4() {
			s = fmt.Sprintf("%s/%d", n.Addr(), n.Bits())
		} else {
			s = fmt.Sprintf("[%s]/%d", n.Addr(), n.Bits())
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
