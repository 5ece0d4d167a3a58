// Package qmqpsend is the qmqp-send command: it sends one message to a
// QMQP server the way qmail-qmqpc does and reports the server's answer in
// its exit status.
package qmqpsend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/qmqpd-go/qmqpd/internal/qmqp"
)

// Exit statuses, following qmail-qmqpc (which uses qmail-queue's codes).
const (
	ExitOK          = 0  // the server accepted the message (K)
	ExitUsage       = 64 // bad command line (sysexits EX_USAGE)
	ExitHard        = 31 // the server refused the message permanently (D)
	ExitRead        = 54 // the message could not be read
	ExitSoft        = 71 // the server refused the message temporarily (Z)
	ExitConnTimeout = 72 // no server reachable; the last attempt timed out
	ExitNoConnect   = 73 // no server reachable
	ExitConnFailed  = 74 // the connection failed after it was made, or the reply was malformed
)

// DefaultServer is used when neither -s nor $QMQP_SERVERS names a server.
const DefaultServer = "127.0.0.1:628"

// spoolLimit is how much of standard input is kept in memory before it is
// spooled to a temporary file.
const spoolLimit = 8 << 20

type cli struct {
	Server         []string      `short:"s" name:"server" sep:"none" placeholder:"ADDR" help:"QMQP server: host:port, [ipv6]:port, host (port 628), unix:/path or /path. Repeat to try several in order; the next one is tried only when a server cannot be reached. Default: $$QMQP_SERVERS (space or comma separated), else ${default_server}."`
	From           string        `short:"f" name:"from" placeholder:"SENDER" help:"Envelope sender (default: the null sender)."`
	Input          string        `short:"i" name:"input" default:"-" placeholder:"FILE" help:"Read the message from FILE instead of standard input."`
	ConnectTimeout time.Duration `name:"connect-timeout" default:"10s" help:"Time limit for each connection attempt."`
	Timeout        time.Duration `short:"t" name:"timeout" default:"60s" help:"Time limit for each read and write once connected."`
	Quiet          bool          `short:"q" name:"quiet" help:"Do not print the server's reply."`
	Recipients     []string      `arg:"" name:"recipient" help:"Envelope recipients."`
}

const description = `Send a message (the raw RFC 5322 text, sent unchanged) to a QMQP server
and print the server's reply as its status letter and text, e.g.
"K Ok: queued as 93E5698A2F3".

Exit status (as qmail-qmqpc): 0 accepted (K), 31 rejected permanently (D),
71 rejected temporarily (Z), 72 connection timed out, 73 no server could be
reached, 74 connection failed after connecting or the reply was not a QMQP
reply, 54 the message could not be read, 64 usage error.`

type exitPanic int

// Main runs the command with the process's arguments and exits.
func Main() {
	os.Exit(Run(os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// Run runs qmqp-send: args[0] is the program name, env looks up
// environment variables ($QMQP_SERVERS). It returns the exit status.
func Run(args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) (status int) {
	if env == nil {
		env = os.Getenv
	}
	name := "qmqp-send"
	if len(args) > 0 {
		name = args[0][strings.LastIndexByte(args[0], '/')+1:]
		args = args[1:]
	}
	var c cli
	parser, err := kong.New(&c,
		kong.Name(name),
		kong.Description(description),
		kong.Writers(stdout, stderr),
		kong.Vars{"default_server": DefaultServer},
		kong.Exit(func(code int) { panic(exitPanic(code)) }),
	)
	if err != nil {
		fmt.Fprintf(stderr, "%s: fatal: %v\n", name, err)
		return ExitUsage
	}
	defer func() {
		if r := recover(); r != nil {
			code, ok := r.(exitPanic)
			if !ok {
				panic(r)
			}
			status = int(code)
			if status != 0 {
				status = ExitUsage
			}
		}
	}()
	if _, err := parser.Parse(args); err != nil {
		fmt.Fprintf(stderr, "%s: fatal: %v\n", name, err)
		fmt.Fprintf(stderr, "usage: %s [-s server]... [-f sender] [-i file] recipient...\n", name)
		return ExitUsage
	}
	servers := c.Server
	if len(servers) == 0 {
		servers = strings.FieldsFunc(env("QMQP_SERVERS"), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	}
	if len(servers) == 0 {
		servers = []string{DefaultServer}
	}
	for _, s := range servers {
		if _, _, err := qmqp.ServerAddress(s); err != nil {
			fmt.Fprintf(stderr, "%s: fatal: %v\n", name, err)
			return ExitUsage
		}
	}

	content, size, cleanup, err := openMessage(c.Input, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "%s: fatal: %v\n", name, err)
		return ExitRead
	}
	defer cleanup()

	client := &qmqp.Client{Servers: servers, ConnectTimeout: c.ConnectTimeout, Timeout: c.Timeout}
	reply, err := client.SendFrom(context.Background(), content, size, c.From, c.Recipients)
	if err != nil {
		fmt.Fprintf(stderr, "%s: fatal: %v\n", name, err)
		var ce *qmqp.ConnectError
		switch {
		case errors.As(err, &ce) && ce.Timeout():
			return ExitConnTimeout
		case errors.As(err, &ce):
			return ExitNoConnect
		case qmqp.IsMessageReadError(err):
			return ExitRead
		}
		return ExitConnFailed
	}
	if !c.Quiet {
		fmt.Fprintf(stdout, "%c %s\n", reply.Code, reply.Text)
	}
	switch reply.Code {
	case qmqp.StatusOK:
		return ExitOK
	case qmqp.StatusHard:
		return ExitHard
	}
	return ExitSoft
}

// openMessage returns the message as a ReaderAt: a regular file is used
// in place; other input is kept in memory, or spooled to a temporary file
// when it is large, so that it can be sent again to the next server.
func openMessage(path string, stdin io.Reader) (io.ReaderAt, int64, func(), error) {
	nop := func() {}
	in := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, 0, nop, err
		}
		in = f
		nop = func() { f.Close() }
	}
	if f, ok := in.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			if off, err := f.Seek(0, io.SeekCurrent); err == nil {
				return io.NewSectionReader(f, off, fi.Size()-off), fi.Size() - off, nop, nil
			}
		}
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(in, spoolLimit+1))
	if err != nil {
		nop()
		return nil, 0, func() {}, fmt.Errorf("reading message: %w", err)
	}
	if n <= spoolLimit {
		return bytes.NewReader(buf.Bytes()), n, nop, nil
	}
	tmp, err := os.CreateTemp("", "qmqp-send-*")
	if err != nil {
		nop()
		return nil, 0, func() {}, err
	}
	os.Remove(tmp.Name())
	done := func() { tmp.Close(); nop() }
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		done()
		return nil, 0, func() {}, err
	}
	rest, err := io.Copy(tmp, in)
	if err != nil {
		done()
		return nil, 0, func() {}, fmt.Errorf("reading message: %w", err)
	}
	return tmp, n + rest, done, nil
}
