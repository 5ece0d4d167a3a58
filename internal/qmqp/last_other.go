//go:build !linux

package qmqp

import "net"

// writeLastTCP is a plain write where MSG_MORE is not available.
func writeLastTCP(c *net.TCPConn, p []byte) (int, error) { return c.Write(p) }
