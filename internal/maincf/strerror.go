package maincf

import (
	"errors"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
	"io/fs"
	"syscall"
)

// Strerror returns the C library's text for the system error inside err
// ("No such file or directory"), as Postfix prints it with %m. Errors
// without an errno fall back to err.Error().
func Strerror(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return syserr.Errno(errno)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
