// Command qmqpd is a drop-in replacement for Postfix's qmqpd(8) QMQP server.
// It runs under Postfix's master(8) like the original, or on its own with
// --listen. See internal/qmqpd/cli for the options.
package main

import (
	"os"

	"github.com/qmqpd-go/qmqpd/internal/qmqpd/cli"
)

func main() {
	os.Exit(cli.Main(cli.OSEnv()))
}
