// Command qmqp-send sends a message to a QMQP server, like qmail-qmqpc.
// See internal/qmqpsend.
package main

import "github.com/qmqpd-go/qmqpd/internal/qmqpsend"

func main() { qmqpsend.Main() }
