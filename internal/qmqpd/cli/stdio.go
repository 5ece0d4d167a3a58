package cli

import (
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// stdioConn is the client connection of -S: requests on stdin, replies on
// stdout. When stdin is a socket (started by inetd or tcpserver), the
// client's address is read from it, as Postfix does; otherwise the peer is
// "localhost[127.0.0.1]", like Postfix's.
type stdioConn struct {
	in  *os.File
	out io.Writer
}

func (c *stdioConn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *stdioConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *stdioConn) Close() error                { return nil }

// CloseWrite ends the reply stream when standard output is a socket, so the
// client sees end of file right after the reply (see qmqp.Drain).
func (c *stdioConn) CloseWrite() error {
	f, ok := c.out.(*os.File)
	if !ok {
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		if isStream(int(fd)) == kindSocket {
			serr = syscall.Shutdown(int(fd), syscall.SHUT_WR)
		}
	}); err != nil {
		return nil
	}
	return serr
}

// SyscallConn gives access to standard input's descriptor, so that the
// peer address can be asked from it (getpeername).
func (c *stdioConn) SyscallConn() (syscall.RawConn, error) { return c.in.SyscallConn() }
func (c *stdioConn) LocalAddr() net.Addr                   { return stdioAddr{} }
func (c *stdioConn) RemoteAddr() net.Addr                  { return stdioAddr{} }

// SetDeadline applies the read deadline to stdin when it supports one
// (pipes and sockets do, regular files do not).
func (c *stdioConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// SetReadDeadline sets stdin's deadline where possible; it never fails, so
// qmqpd_timeout simply does not apply to a regular file.
func (c *stdioConn) SetReadDeadline(t time.Time) error {
	_ = c.in.SetReadDeadline(t)
	return nil
}

// SetWriteDeadline sets stdout's deadline where possible.
func (c *stdioConn) SetWriteDeadline(t time.Time) error {
	if f, ok := c.out.(*os.File); ok {
		_ = f.SetWriteDeadline(t)
	}
	return nil
}

type stdioAddr struct{}

func (stdioAddr) Network() string { return "stdio" }
func (stdioAddr) String() string  { return "stdio" }

// Kinds of descriptors pollable prepares.
const (
	kindOther = iota
	kindSocket
	kindPipe
)

func isStream(fd int) int {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return kindOther
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFSOCK:
		return kindSocket
	case syscall.S_IFIFO:
		return kindPipe
	}
	return kindOther
}

// pollable returns f, or, when f is a socket or a pipe, a duplicate of it
// in non-blocking mode, which Go's runtime poller serves: then
// qmqpd_timeout (read and write deadlines) applies to -S sessions started
// by inetd, tcpserver or a pipeline, as it does in Postfix. Regular files
// and terminals are returned as they are.
func pollable(f *os.File) *os.File {
	rc, err := f.SyscallConn()
	if err != nil {
		return f
	}
	nfd := -1
	_ = rc.Control(func(fd uintptr) {
		if isStream(int(fd)) == kindOther {
			return
		}
		d, err := syscall.Dup(int(fd))
		if err != nil {
			return
		}
		if err := syscall.SetNonblock(d, true); err != nil {
			syscall.Close(d)
			return
		}
		syscall.CloseOnExec(d)
		nfd = d
	})
	if nfd < 0 {
		return f
	}
	return os.NewFile(uintptr(nfd), f.Name())
}
