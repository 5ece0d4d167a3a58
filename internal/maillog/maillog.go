// Package maillog writes mail log lines the way Postfix 3.7 does: to syslog
// (as glibc's syslog(3) formats them, with syslog_name and syslog_facility),
// to maillog_file (Postfix's postlog line format, either directly or through
// the postlogd(8) datagram socket), and optionally also to stderr (-V).
//
// Every line's text goes through the same cleanup as in Postfix: bytes that
// are not printable become '?', and the text is cut at 2000 bytes.
package maillog

import (
	"context"
	"errors"
	"fmt"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Level is the severity of a log line.
type Level int

// Severities, in Postfix's order.
const (
	Info Level = iota
	Warning
	Error
	Fatal
	Panic
)

// String returns the word Postfix prefixes to non-info lines.
func (l Level) String() string {
	switch l {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Error:
		return "error"
	case Fatal:
		return "fatal"
	case Panic:
		return "panic"
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// syslog severities (RFC 3164) for each Level.
func (l Level) syslogSeverity() int {
	switch l {
	case Info:
		return 6 // LOG_INFO
	case Warning:
		return 4 // LOG_WARNING
	case Error:
		return 3 // LOG_ERR
	}
	return 2 // LOG_CRIT for fatal and panic
}

// recordLimit is the longest text Postfix passes to syslog or postlogd.
const recordLimit = 2000

// facilities maps syslog_facility values to syslog facility codes (already
// shifted, as in <syslog.h>).
var facilities = map[string]int{
	"auth": 4 << 3, "authpriv": 10 << 3, "cron": 9 << 3, "daemon": 3 << 3,
	"ftp": 11 << 3, "kern": 0, "lpr": 6 << 3, "mail": 2 << 3, "news": 7 << 3,
	"syslog": 5 << 3, "user": 1 << 3, "uucp": 8 << 3,
	"local0": 16 << 3, "local1": 17 << 3, "local2": 18 << 3, "local3": 19 << 3,
	"local4": 20 << 3, "local5": 21 << 3, "local6": 22 << 3, "local7": 23 << 3,
}

// Facility returns the syslog facility code for a syslog_facility value.
func Facility(name string) (int, bool) {
	f, ok := facilities[name]
	return f, ok
}

// Options says where log lines go.
type Options struct {
	// Tag is "$syslog_name/$process_name", e.g. "postfix/qmqpd".
	Tag string
	// Facility is the syslog_facility value ("mail" if empty).
	Facility string
	// Hostname is $myhostname; its first label appears in postlog lines.
	Hostname string
	// MaillogFile is $maillog_file. Empty means syslog.
	MaillogFile string
	// MaillogPrefixes is $maillog_file_prefixes, split into items.
	// MaillogFile must start with one of them.
	MaillogPrefixes []string
	// PostlogSocket, when set together with MaillogFile, is the
	// postlogd(8) datagram socket ($queue_directory/public/$postlog_service_name)
	// the lines are sent to, as Postfix daemons under master(8) do. When
	// empty, lines are appended to MaillogFile directly.
	PostlogSocket string
	// SyslogSocket is the syslog daemon's socket; "" means /dev/log.
	SyslogSocket string
	// Stderr, when non-nil, also receives every line as "TAG: [level: ]text"
	// (Postfix's -V option).
	Stderr io.Writer
	// Pid is the process ID shown in lines; 0 means os.Getpid().
	Pid int
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
	// UTF8 keeps valid UTF-8 in texts (smtputf8_enable = yes); otherwise
	// every non-ASCII byte becomes '?'.
	UTF8 bool
}

// Logger writes Postfix-format log lines. It is safe for concurrent use.
type Logger struct {
	opts     Options
	facility int
	*sink
	derived bool // made by WithTag: Close leaves the sink to its owner
}

// sink is where lines go; loggers made by WithTag share their parent's, so
// lines keep their order across them.
type sink struct {
	mu       sync.Mutex
	file     *fileWriter // maillog_file opened for appending (direct mode)
	conn     net.Conn    // syslog or postlogd datagram socket
	connPath string
	line     []byte // datagram being built (under mu)
	stamp    stamp  // the last time prefix formatted (under mu)
}

// stamp caches the "Mon DD HH:MM:SS" text of one second: a busy server
// logs many lines per second.
type stamp struct {
	sec  int64
	loc  *time.Location
	text [len(time.Stamp)]byte
}

// appendStamp appends now as time.Stamp ("Jan _2 15:04:05") or, with
// postlog true, as "Jan 02 15:04:05" (Postfix's postlog client pads the
// day with a zero, syslog(3) with a space).
func (st *stamp) appendStamp(dst []byte, now time.Time, postlog bool) []byte {
	if sec := now.Unix(); sec != st.sec || now.Location() != st.loc || st.loc == nil {
		now.AppendFormat(st.text[:0], time.Stamp)
		st.sec, st.loc = sec, now.Location()
	}
	n := len(dst)
	dst = append(dst, st.text[:]...)
	if postlog && dst[n+4] == ' ' {
		dst[n+4] = '0'
	}
	return dst
}

// WithTag returns a logger that writes to the same destinations, through
// the same connection or file, with another tag (e.g. "postfix/cleanup"
// next to "postfix/qmqpd"). Closing it does nothing; close the original.
func (l *Logger) WithTag(tag string) *Logger {
	d := *l
	d.opts.Tag = tag
	d.derived = true
	return &d
}

// ErrFacility is returned by New for an unknown syslog_facility value; the
// caller words the fatal error (it names the configuration file).
var ErrFacility = errors.New("unrecognized syslog_facility")

// New returns a Logger. It checks maillog_file against its prefixes and
// opens the file in direct mode; errors carry Postfix's fatal texts.
func New(opts Options) (*Logger, error) {
	if opts.Facility == "" {
		opts.Facility = "mail"
	}
	fac, ok := facilities[opts.Facility]
	if !ok {
		return nil, ErrFacility
	}
	if opts.Pid == 0 {
		opts.Pid = os.Getpid()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Logger{opts: opts, facility: fac, sink: &sink{}}
	if opts.MaillogFile != "" {
		matched := false
		for _, p := range opts.MaillogPrefixes {
			if strings.HasPrefix(opts.MaillogFile, p) {
				matched = true
				break
			}
		}
		if !matched {
			return nil, fmt.Errorf("maillog_file value '%s' does not match any prefix in maillog_file_prefixes", opts.MaillogFile)
		}
		if opts.PostlogSocket == "" {
			f, err := openLogFile(opts.MaillogFile)
			if err != nil {
				return nil, fmt.Errorf("open logfile '%s': %s", opts.MaillogFile, syserr.Text(err))
			}
			l.file = newFileWriter(f)
		}
	}
	// Connect the datagram socket now, as Postfix's daemons open syslog
	// before they chroot: inside a chroot the path may not exist. A
	// failure is not an error (lines are dropped while nobody listens,
	// and the connection is retried for each line).
	switch {
	case opts.MaillogFile == "":
		l.dial(l.syslogPath())
	case opts.PostlogSocket != "":
		l.dial(opts.PostlogSocket)
	}
	return l, nil
}

func (l *Logger) syslogPath() string {
	if l.opts.SyslogSocket == "" {
		return "/dev/log"
	}
	return l.opts.SyslogSocket
}

// dial connects the datagram socket to path (the caller holds l.mu or
// owns l exclusively); it reports success.
func (l *Logger) dial(path string) bool {
	if l.conn != nil {
		l.conn.Close()
	}
	c, err := net.Dial("unixgram", path)
	if err != nil {
		l.conn = nil
		return false
	}
	l.conn, l.connPath = c, path
	return true
}

// Close releases the log file and sockets.
func (l *Logger) Close() error {
	if l.derived {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	if l.file != nil {
		err = l.file.close()
	}
	l.file = nil
	if l.conn != nil {
		l.conn.Close()
		l.conn = nil
	}
	return err
}

// Infof logs an info line.
func (l *Logger) Infof(format string, args ...any) { l.Log(Info, fmt.Sprintf(format, args...)) }

// Warnf logs a "warning: " line.
func (l *Logger) Warnf(format string, args ...any) { l.Log(Warning, fmt.Sprintf(format, args...)) }

// Errorf logs an "error: " line.
func (l *Logger) Errorf(format string, args ...any) { l.Log(Error, fmt.Sprintf(format, args...)) }

// Fatalf logs a "fatal: " line. The caller exits with status 1.
func (l *Logger) Fatalf(format string, args ...any) { l.Log(Fatal, fmt.Sprintf(format, args...)) }

// Warn logs text as a warning; it fits the func(string) warning callbacks
// used across the project.
func (l *Logger) Warn(text string) { l.Log(Warning, text) }

// Log writes one line at the given level to every configured destination.
func (l *Logger) Log(level Level, text string) {
	if l == nil {
		return
	}
	text = Printable(text, l.opts.UTF8)
	if len(text) > recordLimit {
		text = text[:recordLimit]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opts.Stderr != nil {
		body := text
		if level != Info {
			body = level.String() + ": " + text
		}
		fmt.Fprintf(l.opts.Stderr, "%s: %s\n", l.opts.Tag, body)
	}
	now := l.opts.Now()
	switch {
	case l.opts.MaillogFile == "":
		l.line = l.appendSyslog(l.line[:0], level, now, text)
		l.sendDatagram(l.syslogPath(), l.line)
	case l.opts.PostlogSocket != "":
		l.line = l.appendPostlog(l.line[:0], level, now, text)
		l.sendDatagram(l.opts.PostlogSocket, l.line)
	case l.file != nil:
		l.file.mu.Lock()
		l.file.buf = append(l.appendPostlog(l.file.buf, level, now, text), '\n')
		l.file.mu.Unlock()
		l.file.wakeUp()
	}
}

// appendPostlog appends the PostlogLine of a level's text.
func (l *Logger) appendPostlog(dst []byte, level Level, now time.Time, text string) []byte {
	dst = l.stamp.appendStamp(dst, now, true)
	dst = append(dst, ' ')
	host := l.opts.Hostname
	if i := strings.IndexByte(host, '.'); i >= 0 {
		host = host[:i]
	}
	dst = append(dst, host...)
	dst = append(dst, ' ')
	return appendTagBody(dst, l.opts.Tag, l.opts.Pid, level, text)
}

// appendSyslog appends the SyslogLine of a level's text.
func (l *Logger) appendSyslog(dst []byte, level Level, now time.Time, text string) []byte {
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(l.facility|level.syslogSeverity()), 10)
	dst = append(dst, '>')
	dst = l.stamp.appendStamp(dst, now, false)
	dst = append(dst, ' ')
	return appendTagBody(dst, l.opts.Tag, l.opts.Pid, level, text)
}

// appendTagBody appends "TAG[PID]: [level: ]text".
func appendTagBody(dst []byte, tag string, pid int, level Level, text string) []byte {
	dst = append(dst, tag...)
	dst = append(dst, '[')
	dst = strconv.AppendInt(dst, int64(pid), 10)
	dst = append(dst, "]: "...)
	if level != Info {
		dst = append(dst, level.String()...)
		dst = append(dst, ": "...)
	}
	return append(dst, text...)
}

// sendDatagram sends p to the unix datagram socket at path, connecting on
// first use and reconnecting once after a failure. Like Postfix, it drops
// the line silently when nobody listens.
func (l *Logger) sendDatagram(path string, p []byte) {
	for attempt := 0; attempt < 2; attempt++ {
		if l.conn == nil || l.connPath != path {
			if !l.dial(path) {
				return
			}
		}
		if _, err := l.conn.Write(p); err == nil {
			return
		}
		l.conn.Close()
		l.conn = nil
	}
}

// Printable replaces every byte that Postfix's printable() would not keep
// with '?': ASCII control characters and DEL always, and non-ASCII bytes
// unless utf8ok is set and they form valid UTF-8.
func Printable(s string, utf8ok bool) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
			i++
			continue
		}
		if c >= 0x80 && utf8ok {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || n > 1 {
				b.WriteString(s[i : i+n])
				i += n
				continue
			}
		}
		b.WriteByte('?')
		i++
	}
	return b.String()
}

// fileWriter appends lines to maillog_file from one goroutine: lines logged
// while a write is in progress, or within batchDelay of the first line of
// a batch, are collected and written together, so a busy server makes one
// write(2) for many lines instead of one per line. Lines are in the file in
// the order they were logged.
type fileWriter struct {
	f    *os.File
	mu   sync.Mutex
	buf  []byte
	wake chan struct{} // capacity 1: "there is something to write"
	quit chan struct{}
	done chan struct{}
}

// batchDelay is how long the writer lets lines gather after the first one
// of a batch. Each message logs five lines or so from its session, which
// without the delay reached the file in two or three writes; a millisecond
// is not something a reader of the log can notice, and Close still writes
// everything before it returns.
const batchDelay = time.Millisecond

func newFileWriter(f *os.File) *fileWriter {
	w := &fileWriter{f: f, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// wakeUp tells the writing goroutine that lines wait in buf.
func (w *fileWriter) wakeUp() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *fileWriter) run() {
	defer close(w.done)
	var spare []byte
	for {
		select {
		case <-w.wake:
		case <-w.quit:
			w.flush(&spare)
			return
		}
		time.Sleep(batchDelay)
		w.flush(&spare)
	}
}

// flush writes what has been collected; spare is the buffer reused for the
// next batch.
func (w *fileWriter) flush(spare *[]byte) {
	w.mu.Lock()
	b := w.buf
	w.buf = (*spare)[:0]
	w.mu.Unlock()
	if len(b) > 0 {
		_, _ = w.f.Write(b)
	}
	if cap(b) <= 64<<10 {
		*spare = b
	} else {
		*spare = nil
	}
}

// close writes the remaining lines and closes the file (not stdout or
// stderr).
func (w *fileWriter) close() error {
	close(w.quit)
	<-w.done
	if w.f == os.Stdout || w.f == os.Stderr {
		return nil
	}
	return w.f.Close()
}

// openLogFile opens maillog_file for appending. /dev/stdout and
// /dev/stderr share the process's own descriptor (a duplicate of it), so
// that log lines and other output to the same file (qmqpd -S writes its
// reply to standard output) keep one file offset and do not overwrite each
// other when standard output is a regular file.
func openLogFile(path string) (*os.File, error) {
	std := map[string]int{"/dev/stdout": 1, "/dev/stderr": 2}
	if fd, ok := std[path]; ok {
		if nfd, err := syscall.Dup(fd); err == nil {
			syscall.CloseOnExec(nfd)
			return os.NewFile(uintptr(nfd), path), nil
		}
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}

// verboseKey is the context key of a connection's verbose level.
type verboseKey struct{}

// WithVerbose returns a context that carries verbose logging level n for
// the work done on one connection (Postfix's msg_verbose as raised by
// debug_peer_list for a matching client). Code that logs Postfix's verbose
// lines reads it with Verbose.
func WithVerbose(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, verboseKey{}, n)
}

// Verbose returns the verbose level ctx carries (0 = none).
func Verbose(ctx context.Context) int {
	if ctx == nil {
		return 0
	}
	n, _ := ctx.Value(verboseKey{}).(int)
	return n
}
