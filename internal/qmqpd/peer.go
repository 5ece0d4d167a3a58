package qmqpd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"

	"github.com/qmqpd-go/qmqpd/internal/maincf"
)

// Address family numbers as Linux defines them; Postfix logs and stores
// them as decimal numbers (client_address_type).
const (
	afUnspec = 0
	afInet   = 2
	afInet6  = 10
)

// Peer is what qmqpd knows about its client, as Postfix's qmqpd_peer.c
// computes it.
type Peer struct {
	Name    string // verified host name, or "unknown"
	Addr    string // printable address, no "IPv6:" prefix
	RFCAddr string // Addr, with "IPv6:" prefix for IPv6
	Family  int    // 2 (AF_INET), 10 (AF_INET6) or 0
	Port    string // decimal client port
	NamAddr string // NAME[ADDR] or NAME[ADDR]:PORT
}

// Resolver looks up names; *net.Resolver implements it.
type Resolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ErrSocketFamily is returned by lookupPeer when the connection's address
// family is disabled by inet_protocols (Postfix's fatal error).
type ErrSocketFamily struct{ Text string }

// Error returns Postfix's fatal text.
func (e *ErrSocketFamily) Error() string { return e.Text }

// rawPeer returns the peer's address as the socket reports it, keeping the
// IPv4-mapped IPv6 form and the socket family, which net.TCPAddr hides.
func rawPeer(c net.Conn) (ip netip.Addr, port int, inet bool, gone bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			ap := ta.AddrPort()
			return ap.Addr(), int(ap.Port()), true, false
		}
		return netip.Addr{}, 0, false, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return netip.Addr{}, 0, false, true
	}
	var sa syscall.Sockaddr
	var perr error
	if err := rc.Control(func(fd uintptr) { sa, perr = syscall.Getpeername(int(fd)) }); err != nil || perr != nil {
		if errors.Is(perr, syscall.ENOTSOCK) {
			return netip.Addr{}, 0, false, false
		}
		return netip.Addr{}, 0, false, true
	}
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrFrom4(sa.Addr), sa.Port, true, false
	case *syscall.SockaddrInet6:
		return netip.AddrFrom16(sa.Addr), sa.Port, true, false
	}
	return netip.Addr{}, 0, false, false
}

// lookupPeer fills in a Peer for conn. warn and info receive Postfix's log
// texts for name verification problems.
// names, when not nil, reuses recent lookups (Config.NameCacheTTL).
func lookupPeer(ctx context.Context, conn net.Conn, cfg *Config, names *nameCache, warn, info func(string)) (Peer, error) {
	var p Peer
	ip, port, inet, gone := rawPeer(conn)
	switch {
	case gone:
		p = Peer{Name: "unknown", Addr: "unknown", RFCAddr: "unknown", Family: afUnspec, Port: "unknown"}
	case !inet:
		p = Peer{Name: "localhost", Addr: "127.0.0.1", RFCAddr: "127.0.0.1", Family: afUnspec, Port: "0"}
	default:
		is4 := ip.Is4()
		if is4 && !cfg.IPv4 || !is4 && !cfg.IPv6 {
			kind := "AF_INET"
			if !is4 {
				kind = "AF_INET6"
			}
			return p, &ErrSocketFamily{Text: fmt.Sprintf("cannot handle socket type %s with \"inet_protocols = %s\"", kind, cfg.InetProtocols)}
		}
		ip = ip.WithZone("")
		p.Port = strconv.Itoa(port)
		switch {
		case is4:
			p.Addr, p.RFCAddr, p.Family = ip.String(), ip.String(), afInet
		case ip.Is4In6() && cfg.IPv4:
			v4 := ip.Unmap()
			p.Addr, p.RFCAddr, p.Family = v4.String(), v4.String(), afInet
			ip = v4
		default:
			p.Addr, p.RFCAddr, p.Family = ip.String(), "IPv6:"+ip.String(), afInet6
		}
		p.Name = names.verifiedName(ctx, cfg, ip, p.Addr, p.Family, warn)
	}
	p.NamAddr = p.Name + "[" + p.Addr + "]"
	if cfg.PortLogging {
		p.NamAddr += ":" + p.Port
	}
	return p, nil
}

// verifiedName does the reverse lookup and forward confirmation; it returns
// "unknown" when either fails, with Postfix's warning, if it logs one.
// temporary reports a lookup that failed for the moment (a time-out, a
// server failure), whose outcome is not worth remembering.
func verifiedName(ctx context.Context, r Resolver, ip netip.Addr, addr string, family int) (name, warning string, temporary bool) {
	if r == nil {
		r = net.DefaultResolver
	}
	names, err := r.LookupAddr(ctx, ip.String())
	if err != nil || len(names) == 0 {
		return "unknown", "", isTemporary(err)
	}
	name = strings.TrimSuffix(names[0], ".")
	if _, err := netip.ParseAddr(name); err == nil {
		return "unknown", "numeric hostname: " + name, false
	}
	if problem := maincf.HostnameProblem(name); problem != "" {
		return "unknown", "valid_hostname: " + problem, false
	}
	network := "ip4"
	if family == afInet6 {
		network = "ip6"
	}
	addrs, err := r.LookupNetIP(ctx, network, name)
	if err == nil && len(addrs) == 0 {
		err = &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	if err != nil {
		return "unknown", fmt.Sprintf("hostname %s does not resolve to address %s: %s", name, addr, gaiText(err)), isTemporary(err)
	}
	for _, a := range addrs {
		if a.Unmap().WithZone("") == ip {
			return name, "", false
		}
	}
	// Postfix swaps the two arguments in this message; so do we.
	return "unknown", fmt.Sprintf("hostname %s does not resolve to address %s", addr, name), false
}

// isTemporary tells a lookup error that may go away by itself.
func isTemporary(err error) bool {
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.IsTemporary || de.IsTimeout
	}
	return err != nil
}

// gaiText words a lookup error as glibc's gai_strerror would.
func gaiText(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) {
		switch {
		case de.IsNotFound:
			return "Name or service not known"
		case de.IsTemporary || de.IsTimeout:
			return "Temporary failure in name resolution"
		}
	}
	return "Non-recoverable failure in name resolution"
}
