//go:build !linux

package timerslack

import (
	"errors"
	"time"
)

// Raise is only implemented on Linux; elsewhere it changes nothing.
func Raise(d time.Duration) (int, error) {
	return 0, errors.ErrUnsupported
}
