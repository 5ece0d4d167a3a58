//go:build !(linux && (amd64 || arm64))

package queuefile

import (
	"errors"
	"os"
)

const syncfsSupported = false

func syncfs(*os.File) error { return errors.ErrUnsupported }

func waitWriteback(*os.File) (bool, error) { return false, nil }

func openTmpfile(string) (*os.File, error) { return nil, errors.ErrUnsupported }
