package testscript

import (
	"errors"
	"fmt"

	"github.com/qmqpd-go/qmqpd/internal/postconf"
	"github.com/qmqpd-go/qmqpd/internal/qmqpsend"
)

// commands maps each command name a script can exec to its in-process main.
func commands() map[string]func() {
	return map[string]func(){
		"postconf":  postconf.Main,
		"qmqp-send": qmqpsend.Main,
	}
}

var errMissingPostfix = errors.New("real Postfix is not installed and QMQPD_INTEROP=require")

func errUnknownCondition(cond string) error { return fmt.Errorf("unknown condition %q", cond) }
