package testscript

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/postcat"
	"github.com/qmqpd-go/qmqpd/internal/postconf"
	"github.com/qmqpd-go/qmqpd/internal/qmqpd/cli"
	"github.com/qmqpd-go/qmqpd/internal/qmqpsend"
	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// commands maps each command name a script can exec to its in-process main.
func commands() map[string]func() {
	return map[string]func(){
		"postcat":   postcat.Main,
		"postconf":  postconf.Main,
		"qmqp-send": qmqpsend.Main,
		"qmqpd":     cli.Command,
		"waitfile":  waitFile,
		// fakecleanup SOCKET ANSWER: a stand-in for Postfix's cleanup(8)
		// service, for qmqpd scenarios (see fakeCleanup).
		"fakecleanup": fakeCleanup,
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

// fakeCleanup is "fakecleanup SOCKET ANSWER": it listens on the unix
// socket SOCKET, serves one client the way Postfix's cleanup(8) starts
// (greeting with queue ID 4A1B2C3D4E5, then the client's flags and records
// up to the E record) and then, for ANSWER "hangup", closes the
// connection without an answer (cleanup died), or for "status=N" or
// "status=N:REASON" answers with that status. It exits when done, so
// scripts run it in the background and wait for it.
func fakeCleanup() {
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "fakecleanup: %v\n", err)
		os.Exit(1)
	}
	if len(os.Args) != 3 {
		fail(errors.New("usage: fakecleanup SOCKET hangup|status=N[:REASON]"))
	}
	os.Remove(os.Args[1])
	ln, err := net.Listen("unix", os.Args[1])
	if err != nil {
		fail(err)
	}
	defer ln.Close()
	c, err := ln.Accept()
	if err != nil {
		fail(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := io.WriteString(c, "protocol\x00cleanup_protocol\x00queue_id\x004A1B2C3D4E5\x00\x00"); err != nil {
		fail(err)
	}
	// The flags: name, value, then the empty name that ends the list.
	for i := 0; i < 3; i++ {
		if _, err := r.ReadString(0); err != nil {
			fail(fmt.Errorf("flags: %w", err))
		}
	}
	qr := queuefile.NewReader(r)
	for {
		rec, err := qr.Next()
		if err != nil {
			fail(fmt.Errorf("records: %w", err))
		}
		if rec.Type == queuefile.RecEnd {
			break
		}
	}
	answer := os.Args[2]
	if answer == "hangup" {
		return
	}
	status, reason, _ := strings.Cut(strings.TrimPrefix(answer, "status="), ":")
	fmt.Fprintf(c, "status\x00%s\x00reason\x00%s\x00\x00", status, reason)
}
