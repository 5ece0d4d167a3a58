// Package syserr words system errors the way Postfix prints them with %m:
// the C library's strerror(3) text, such as "No such file or directory".
// Go's texts for Linux errno values are glibc's with a lower-case first
// letter, so the text is Go's, capitalised.
package syserr

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// Text returns the %m text for err: that of the errno inside it when there
// is one; otherwise the text of the innermost cause of *os.PathError,
// *os.SyscallError and *net.OpError wrappers. Either way the first letter
// is capitalised.
func Text(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return capitalize(errno.Error())
	}
	for {
		var pe *os.PathError
		var se *os.SyscallError
		var oe *net.OpError
		switch {
		case errors.As(err, &pe) && pe.Err != nil:
			err = pe.Err
		case errors.As(err, &se) && se.Err != nil:
			err = se.Err
		case errors.As(err, &oe) && oe.Err != nil:
			err = oe.Err
		default:
			return capitalize(err.Error())
		}
	}
}

// Errno returns Text for a bare errno value.
func Errno(e syscall.Errno) string { return capitalize(e.Error()) }

func capitalize(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
