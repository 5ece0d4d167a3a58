//go:build !(linux && (amd64 || arm64))

package queuefile

import (
	"errors"
	"os"
	"time"
)

const syncfsSupported = false

func syncfs(*os.File) error { return errors.ErrUnsupported }

func waitWriteback(*os.File) (bool, error) { return false, nil }

func syncfsFlush(*os.File, string) (bool, string) { return true, "unknown" }

func openTmpfile(string) (*os.File, error) { return nil, errors.ErrUnsupported }

// createLinked is not available here: Create makes files Postfix's way.
func (q *Queue) createLinked(time.Time) (*File, bool) { return nil, false }
