package testscript

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/postcat"
	"github.com/qmqpd-go/qmqpd/internal/postconf"
	"github.com/qmqpd-go/qmqpd/internal/qmqpd/cli"
	"github.com/qmqpd-go/qmqpd/internal/qmqpsend"
)

// commands maps each command name a script can exec to its in-process main.
func commands() map[string]func() {
	return map[string]func(){
		"postcat":   postcat.Main,
		"postconf":  postconf.Main,
		"qmqp-send": qmqpsend.Main,
		"qmqpd":     cli.Command,
		"waitfile":  waitFile,
	}
}

var errMissingPostfix = errors.New("real Postfix is not installed and QMQPD_INTEROP=require")

func errUnknownCondition(cond string) error { return fmt.Errorf("unknown condition %q", cond) }

// waitFile is "waitfile PATH": it waits (up to 20 s) until PATH exists, for
// scripts that start a server in the background (qmqpd --ready-file).
func waitFile() {
	for i := 0; i < 2000; i++ {
		if _, err := os.Stat(os.Args[1]); err == nil {
			os.Exit(0)
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "waitfile: %s did not appear\n", os.Args[1])
	os.Exit(1)
}
