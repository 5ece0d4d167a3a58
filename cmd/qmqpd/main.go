// Command qmqpd is a drop-in replacement for Postfix's qmqpd(8) QMQP server.
// It runs under Postfix's master(8) like the original, or on its own with
// --listen. See internal/qmqpd/cli for the options.
package main

import (
	"os"

	"github.com/qmqpd-go/qmqpd/internal/qmqpd/cli"
	"github.com/qmqpd-go/qmqpd/internal/timerslack"
)

func main() {
	// Before anything else, while the process still has the privileges
	// to change all its threads (it drops them later); see the package
	// for why. Without them only this thread changes, which is harmless.
	_, _ = timerslack.Raise(timerslack.Default)
	os.Exit(cli.Main(cli.OSEnv()))
}
