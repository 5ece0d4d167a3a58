package cli

import (
	"net"
	"os"
	"syscall"
	"testing"
)

// acceptOne connects to l and returns the accepted connection's keepalive
// settings.
func acceptOne(t *testing.T, l net.Listener) keepAlive {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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

// TestListenNoKeepAlive: connections accepted on --listen sockets have
// no TCP keepalive, as with Postfix's qmqpd.
func TestListenNoKeepAlive(t *testing.T) {
	d := &daemon{env: Env{Getenv: func(string) string { return "" }}}
	d.g.Listen = []string{"127.0.0.1:0"}
	ls, err := d.listeners()
	if err != nil {
		t.Fatal(err)
	}
	defer ls[0].Close()
	if ka := acceptOne(t, ls[0]); ka.on {
		t.Errorf("SO_KEEPALIVE is on: %+v", ka)
	}
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

// TestInheritedKeepAlive: sockets passed by systemd keep their own
// keepalive setting (Go would turn it on with 15 s timers).
func TestInheritedKeepAlive(t *testing.T) {
	// Without the wrapper, Go's default: on. (This shows what the wrapper
	// undoes.)
	if ka := acceptOne(t, inheritedListener(t, nil)); !ka.on {
		t.Logf("note: Go no longer enables keepalive on accepted connections")
	}
	if ka := acceptOne(t, inheritKeepAlive(inheritedListener(t, nil))); ka.on {
		t.Errorf("keepalive off on the listener, on for the connection: %+v", ka)
	}
	want := keepAlive{on: true, idle: 77, intvl: 11, probes: 3}
	if ka := acceptOne(t, inheritKeepAlive(inheritedListener(t, &want))); ka != want {
		t.Errorf("connection keepalive %+v, want the listener's %+v", ka, want)
	}
}
