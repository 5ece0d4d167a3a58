package cli

import (
	"net"
	"syscall"
)

// TCP keepalive: Postfix's qmqpd never turns it on; an accepted socket
// keeps what it inherits from the listening socket (off, unless whoever
// made the socket asked for it, e.g. systemd's KeepAlive=yes). Go instead
// turns keepalive on, with its own timers, for every connection accepted
// from a net.Listen or net.FileListener listener. --listen sockets are made
// without that (ListenConfig.KeepAlive < 0); sockets passed by systemd go
// through keepAliveListener, which puts the inherited settings back.

// keepAlive is a listening socket's keepalive settings.
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

// set applies the settings to the socket behind sc: keepalive off, or on
// with the timers.
func (ka keepAlive) set(sc syscall.Conn) error {
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		set := func(level, opt, v int) {
			if err := syscall.SetsockoptInt(int(fd), level, opt, v); err != nil && serr == nil {
				serr = err
			}
		}
		if !ka.on {
			set(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 0)
			return
		}
		set(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, ka.idle)
		set(syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, ka.intvl)
		set(syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, ka.probes)
	})
	if err == nil {
		err = serr
	}
	return err
}

// keepAliveListener gives each accepted TCP connection the keepalive
// settings of the listening socket, undoing Go's defaults.
type keepAliveListener struct {
	net.Listener
	ka keepAlive
}

// inheritKeepAlive wraps a TCP listener (one net.FileListener made from an
// inherited socket) so its connections keep the socket's own keepalive
// settings; other listeners are returned as they are.
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
		_ = l.ka.set(tc)
	}
	return c, nil
}
