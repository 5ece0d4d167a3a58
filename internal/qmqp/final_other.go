//go:build !linux

package qmqp

import "net"

// writeFinalTCP is a plain write where MSG_MORE is not available.
func writeFinalTCP(c *net.TCPConn, p []byte) (int, error) { return c.Write(p) }
