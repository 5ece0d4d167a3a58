package cli

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// acceptOne connects to l, sends a byte as a QMQP client would, and
// returns the accepted connection's keepalive settings.
func acceptOne(t *testing.T, l net.Listener) keepAlive {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("1")); err != nil {
		t.Fatal(err)
	}
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ka, err := sockKeepAlive(a.(syscall.Conn))
	if err != nil {
		t.Fatal(err)
	}
	return ka
}

// kernelKeepAlive returns the kernel's keepalive timers, which a socket
// has unless they were set.
func kernelKeepAlive(t *testing.T) keepAlive {
	t.Helper()
	ka := keepAlive{on: true}
	for name, dst := range map[string]*int{"time": &ka.idle, "intvl": &ka.intvl, "probes": &ka.probes} {
		b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_keepalive_" + name)
		if err != nil {
			t.Skip(err)
		}
		if *dst, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
			t.Fatal(err)
		}
	}
	return ka
}

// listenFlag makes the listening socket of one --listen ADDR, as the
// standalone server does; it is closed when the test ends.
func listenFlag(t *testing.T, addr string) net.Listener {
	t.Helper()
	d := &daemon{env: Env{Getenv: func(string) string { return "" }}}
	d.g.Listen = []string{addr}
	ls, err := d.listeners()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls[0].Close() })
	return ls[0]
}

// TestListenKeepAlive: connections accepted on --listen TCP sockets have
// SO_KEEPALIVE with the kernel's timers, as Postfix's (sane_accept);
// UNIX-domain ones have no keepalive.
func TestListenKeepAlive(t *testing.T) {
	if ka, want := acceptOne(t, listenFlag(t, "127.0.0.1:0")), kernelKeepAlive(t); ka != want {
		t.Errorf("keepalive %+v, want %+v", ka, want)
	}
	path := filepath.Join(t.TempDir(), "s")
	l := listenFlag(t, "unix:"+path)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rc, _ := a.(syscall.Conn).SyscallConn()
	var v int
	rc.Control(func(fd uintptr) { v, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) })
	if v != 0 {
		t.Errorf("UNIX-domain connection: SO_KEEPALIVE = %d", v)
	}
}

// TestListenDeferAccept: --listen TCP sockets defer accept until the
// client's first data; a client that sends nothing, or only closes its
// side, is still accepted. Inherited sockets are left as they are.
func TestListenDeferAccept(t *testing.T) {
	l := listenFlag(t, "127.0.0.1:0")
	if v := deferAccept(t, l); v == 0 {
		t.Error("TCP_DEFER_ACCEPT not set on a --listen socket")
	}
	for _, tc := range []struct {
		name string
		act  func(c *net.TCPConn) error
	}{
		{"sends", func(c *net.TCPConn) error { _, err := c.Write([]byte("3:abc,")); return err }},
		{"half-closes", func(c *net.TCPConn) error { return c.CloseWrite() }},
		{"silent", func(*net.TCPConn) error { return nil }},
	} {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if err := tc.act(c.(*net.TCPConn)); err != nil {
			t.Fatal(err)
		}
		l.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
		a, err := l.Accept()
		if err != nil {
			t.Fatalf("client that %s: %v", tc.name, err)
		}
		a.Close()
		c.Close()
	}
	if v := deferAccept(t, inheritedListener(t, nil)); v != 0 {
		t.Errorf("inherited socket: TCP_DEFER_ACCEPT = %d", v)
	}
}

// deferAccept reads a listening socket's TCP_DEFER_ACCEPT.
func deferAccept(t *testing.T, l net.Listener) int {
	t.Helper()
	rc, err := l.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	rc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT)
	})
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// inheritedListener makes a listening TCP socket the way a supervisor
// would (optionally with keepalive and its timers) and returns it as
// net.FileListener sees it.
func inheritedListener(t *testing.T, ka *keepAlive) net.Listener {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ka != nil {
		for _, o := range [][3]int{
			{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, ka.idle},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, ka.intvl},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, ka.probes},
		} {
			if err := syscall.SetsockoptInt(fd, o[0], o[1], o[2]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 8); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "inherited")
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestInheritedKeepAlive: connections on sockets passed by systemd have
// SO_KEEPALIVE with the listening socket's timers (Go would set 15 s).
func TestInheritedKeepAlive(t *testing.T) {
	if ka, want := acceptOne(t, inheritKeepAlive(inheritedListener(t, nil))), kernelKeepAlive(t); ka != want {
		t.Errorf("plain socket: connection keepalive %+v, want %+v", ka, want)
	}
	want := keepAlive{on: true, idle: 77, intvl: 11, probes: 3}
	if ka := acceptOne(t, inheritKeepAlive(inheritedListener(t, &want))); ka != want {
		t.Errorf("connection keepalive %+v, want the listener's %+v", ka, want)
	}
}
