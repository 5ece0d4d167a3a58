package cli

import (
	"io"
	"net"
	"os"
	"time"
)

// stdioConn is the client connection of -S: requests on stdin, replies on
// stdout. Like Postfix, the peer is then "localhost[127.0.0.1]".
type stdioConn struct {
	in  *os.File
	out io.Writer
}

func (c *stdioConn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *stdioConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *stdioConn) Close() error                { return nil }
func (c *stdioConn) LocalAddr() net.Addr         { return stdioAddr{} }
func (c *stdioConn) RemoteAddr() net.Addr        { return stdioAddr{} }

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
