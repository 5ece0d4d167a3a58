package cli

import (
	"net"
	"syscall"
)

// TCP keepalive, as Postfix's qmqpd has it: every connection accepted on a
// TCP (inet) socket gets SO_KEEPALIVE, with the timers it inherits from the
// listening socket (the kernel's defaults, unless whoever made the socket
// set others, e.g. systemd's KeepAliveTimeSec=). UNIX-domain connections
// get none. Go instead turns keepalive on with its own 15-second timers
// for every connection accepted from a net.Listen or net.FileListener
// listener. --listen sockets are made without that (ListenConfig.KeepAlive
// < 0) and with SO_KEEPALIVE on the listening socket, which accepted
// connections inherit (no system call per connection); sockets passed by
// systemd go through keepAliveListener, which puts the listening socket's
// timers back.

// keepAlive is a socket's keepalive settings.
type keepAlive struct {
	on                  bool
	idle, intvl, probes int // TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT
}

// sockKeepAlive reads the keepalive settings of the socket behind sc.
func sockKeepAlive(sc syscall.Conn) (keepAlive, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return keepAlive{}, err
	}
	var ka keepAlive
	var serr error
	err = rc.Control(func(fd uintptr) {
		get := func(level, opt int) int {
			v, err := syscall.GetsockoptInt(int(fd), level, opt)
			if err != nil && serr == nil {
				serr = err
			}
			return v
		}
		ka.on = get(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) != 0
		ka.idle = get(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		ka.intvl = get(syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL)
		ka.probes = get(syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT)
	})
	if err == nil {
		err = serr
	}
	return ka, err
}

// setTimers gives the socket behind sc the keepalive timers of ka.
func (ka keepAlive) setTimers(sc syscall.Conn) error {
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		for _, o := range [...][2]int{
			{syscall.TCP_KEEPIDLE, ka.idle},
			{syscall.TCP_KEEPINTVL, ka.intvl},
			{syscall.TCP_KEEPCNT, ka.probes},
		} {
			if err := syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, o[0], o[1]); err != nil && serr == nil {
				serr = err
			}
		}
	})
	if err == nil {
		err = serr
	}
	return err
}

// listenControl is the ListenConfig.Control of --listen sockets. TCP
// listening sockets get SO_KEEPALIVE, which their connections inherit, and
// TCP_DEFER_ACCEPT of one second: a QMQP client always speaks first, so a
// connection is handed to the server when its first data (or its FIN)
// arrives, and the session's first read finds the packet waiting instead
// of parking once more in the poller. A client that connects and stays
// silent is accepted anyway after about a second. Sockets from master(8)
// or systemd keep the options their owner chose (systemd: DeferAcceptSec=).
func listenControl(network, _ string, rc syscall.RawConn) error {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1)
		if serr == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, deferAcceptSeconds)
		}
	}); err != nil {
		return err
	}
	return serr
}

// deferAcceptSeconds is the TCP_DEFER_ACCEPT of --listen sockets.
const deferAcceptSeconds = 1

// keepAliveListener gives each accepted TCP connection the keepalive
// timers of the listening socket, undoing Go's (Go has already turned
// SO_KEEPALIVE on, as Postfix does).
type keepAliveListener struct {
	net.Listener
	ka keepAlive
}

// inheritKeepAlive wraps a TCP listener made by net.FileListener from an
// inherited socket; other listeners are returned as they are.
func inheritKeepAlive(l net.Listener) net.Listener {
	tl, ok := l.(*net.TCPListener)
	if !ok {
		return l
	}
	ka, err := sockKeepAlive(tl)
	if err != nil {
		// Not a TCP socket after all; nothing to put back.
		return l
	}
	return &keepAliveListener{Listener: l, ka: ka}
}

// Accept implements net.Listener.
func (l *keepAliveListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = l.ka.setTimers(tc)
	}
	return c, nil
}
