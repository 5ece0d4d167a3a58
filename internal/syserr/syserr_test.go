package syserr

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestText(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{syscall.ENOENT, "No such file or directory"},
		{syscall.EAGAIN, "Resource temporarily unavailable"},
		{syscall.EIO, "Input/output error"},
		{syscall.ECONNREFUSED, "Connection refused"},
		{&os.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, "Permission denied"},
		{fmt.Errorf("status update: %w", syscall.EPIPE), "Broken pipe"},
		{os.NewSyscallError("connect", syscall.ECONNRESET), "Connection reset by peer"},
		{&net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ENOENT)}, "No such file or directory"},
		{&os.PathError{Op: "read", Path: "x", Err: errors.New("bad thing")}, "Bad thing"},
		{errors.New("already Capital"), "Already Capital"},
		{errors.New(""), ""},
	} {
		if got := Text(c.err); got != c.want {
			t.Errorf("Text(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	if got := Errno(syscall.ELOOP); got != "Too many levels of symbolic links" {
		t.Errorf("Errno(ELOOP) = %q", got)
	}
}
