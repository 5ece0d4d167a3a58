package cli

import (
	"errors"

	"github.com/qmqpd-go/qmqpd/internal/maincf"
	"github.com/qmqpd-go/qmqpd/internal/qmqpd"
)

// newBuiltinQueuer returns the built-in cleanup writing into queueDir.
func newBuiltinQueuer(c *maincf.Config, queueDir string) (qmqpd.Queuer, error) {
	return nil, errors.New("qmqpd_cleanup_mode = builtin is not available in this build")
}
