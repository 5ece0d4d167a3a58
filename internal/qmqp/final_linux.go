//go:build linux

package qmqp

import (
	"net"
	"os"
	"syscall"
)

// writeFinalTCP sends p on c with MSG_MORE (see TimeoutConn.WriteFinal),
// through Go's poller, so that c's write deadline applies. Errors have the
// shape of net.TCPConn.Write's.
func writeFinalTCP(c *net.TCPConn, p []byte) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	done := 0
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		for done < len(p) {
			n, err := syscall.SendmsgN(int(fd), p[done:], nil, nil, syscall.MSG_MORE|syscall.MSG_NOSIGNAL)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false // wait until writable, then call again
			case err != nil:
				serr = err
				return true
			}
			done += n
		}
		return true
	})
	if err == nil && serr != nil {
		err = os.NewSyscallError("sendmsg", serr)
	}
	if err != nil {
		return done, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return done, nil
}
