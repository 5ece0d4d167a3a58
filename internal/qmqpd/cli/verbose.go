package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"

	"github.com/qmqpd-go/qmqpd/internal/cleanupclient"
	"github.com/qmqpd-go/qmqpd/internal/maillog"
	"github.com/qmqpd-go/qmqpd/internal/maincf"
	"github.com/qmqpd-go/qmqpd/internal/qmqpd"
)

// Verbose logging (-v, $MAIL_VERBOSE, debug_peer_list): the lines Postfix's
// qmqpd logs from its service skeleton and from its own dealings with
// cleanup, in Postfix's words. Lines of Postfix's library internals are not
// reproduced (docs/compatibility.md lists them).

// verboseEnv is the environment variable that turns on verbose logging
// from the start, as in Postfix.
const verboseEnv = "MAIL_VERBOSE"

// logStarted logs "daemon started" as Postfix's skeleton does when
// $MAIL_VERBOSE is set: before main.cf is read, so always to syslog, with
// the default syslog_name "postfix" (or $MAIL_LOGTAG) and facility mail.
func (d *daemon) logStarted() {
	name := "postfix"
	if v := d.env.Getenv("MAIL_LOGTAG"); v != "" {
		name = v
	}
	l, err := maillog.New(maillog.Options{Tag: name + "/" + d.procName, SyslogSocket: d.env.Getenv(syslogSocketEnv)})
	if err != nil {
		return
	}
	l.Log(maillog.Info, "daemon started")
	l.Close()
}

// verboseInfo logs a verbose line at the process's level.
func (d *daemon) verboseInfo(format string, args ...any) {
	if d.verbose > 0 {
		d.logger().Log(maillog.Info, fmt.Sprintf(format, args...))
	}
}

// mustVerbose reports whether the daemon needs the verbose queuer wrapper:
// -v, or a debug_peer_list that may raise the level for some clients.
func (d *daemon) mustVerbose(cfg *maincf.Config) bool {
	if d.verbose > 0 {
		return true
	}
	v, _ := cfg.Get("debug_peer_list")
	return strings.TrimSpace(v) != ""
}

// nameMaskItems returns the items of a name_mask list that Postfix's
// verbose name_mask logs: those that are names of the table (a
// space-separated list), as written.
func nameMaskItems(value, table string) []string {
	var out []string
	names := strings.Fields(table)
	for _, name := range strings.FieldsFunc(value, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n'
	}) {
		for _, t := range names {
			if name == t {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

// autodetectNames are the smtputf8_autodetect_classes names.
const autodetectNames = "sendmail smtpd qmqpd forward bounce notify verify all"

// transpNames are the receive_override_options names.
const transpNames = "no_unknown_recipient_checks no_address_mappings no_header_body_checks no_milters"

// logTranspMask logs what Postfix's qmqpd logs at start-up with -v when it
// parses receive_override_options.
func (d *daemon) logTranspMask() {
	if d.verbose == 0 {
		return
	}
	v, _ := d.cfg.Get("receive_override_options")
	for _, name := range nameMaskItems(v, transpNames) {
		d.verboseInfo("name_mask: %s", name)
	}
}

// verboseQueuer logs, when a message is started on a verbose connection,
// what Postfix's qmqpd logs while it computes the cleanup flags, then
// starts the message with the wrapped Queuer.
type verboseQueuer struct {
	q       qmqpd.Queuer
	verbose int          // the process's level
	classes []string     // smtputf8_autodetect_classes names
	log     func(string) // info lines
}

// Open implements qmqpd.Queuer.
func (v *verboseQueuer) Open(ctx context.Context, flags int) (qmqpd.Queued, error) {
	if max(v.verbose, maillog.Verbose(ctx)) > 0 {
		v.log("before input_transp_cleanup: cleanup flags = " + cleanupclient.FlagsString(cleanupclient.FlagMaskExternal))
		v.log("after input_transp_cleanup: cleanup flags = " + cleanupclient.FlagsString(flags&^cleanupclient.FlagAutoUTF8))
		for _, name := range v.classes {
			v.log("name_mask: " + name)
		}
	}
	return v.q.Open(ctx, flags)
}

// withVerbose wraps q when verbose lines may be needed.
func (d *daemon) withVerbose(cfg *maincf.Config, q qmqpd.Queuer) qmqpd.Queuer {
	if !d.mustVerbose(cfg) {
		return q
	}
	classes, _ := cfg.Get("smtputf8_autodetect_classes")
	return &verboseQueuer{
		q:       q,
		verbose: d.verbose,
		classes: nameMaskItems(classes, autodetectNames),
		log:     func(s string) { d.logger().Log(maillog.Info, s) },
	}
}

// verboseListener logs Postfix's "connection established" and "connection
// closed" around each connection of the standalone server (-v).
type verboseListener struct {
	net.Listener
	d *daemon
}

// Accept implements net.Listener.
func (l verboseListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.d.verboseInfo("connection established")
	return &verboseConn{Conn: c, d: l.d}, nil
}

// verboseConn logs "connection closed" when it is closed the first time.
type verboseConn struct {
	net.Conn
	d    *daemon
	once sync.Once
}

// Close implements net.Conn.
func (c *verboseConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.d.verboseInfo("connection closed") })
	return err
}

// CloseWrite passes a half close on (used after early replies).
func (c *verboseConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// SyscallConn gives the session the descriptor (peer address lookup).
func (c *verboseConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("no descriptor")
}
