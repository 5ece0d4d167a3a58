// Package postcat is a drop-in postcat(1) of Postfix 3.7.11: it shows the
// records of queue files with the same output, warnings and exit codes.
package postcat

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/qmqpd-go/qmqpd/internal/maincf"
	"github.com/qmqpd-go/qmqpd/internal/queuefile"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
)

const progName = "postcat"

// Option flags, one per command-line letter.
const (
	flagSearchQueue = 1 << iota // -q
	flagOffset                  // -o
	flagEnv                     // -e
	flagHeader                  // -h
	flagBody                    // -b
	flagDecimal                 // -d
	_                           // (symbolic record type, unused by postcat)
	flagRaw                     // -r

	maskText = flagHeader | flagBody
	maskAll  = flagEnv | maskText
)

// States of the record walk.
const (
	stateEnv = iota
	stateHeader
	stateBody
)

// Reader flags, as in Postfix's record reader.
const (
	recFollowPtr = 1 << iota
	recSkipDtxt
	recSeekEnd
	recDefault = recFollowPtr | recSkipDtxt | recSeekEnd
)

// Pseudo record types returned by the record reader.
const (
	recEOF   = -1
	recError = -2
)

// reverseJumpLimit bounds backward pointer jumps, as Postfix does against
// pointer loops.
const reverseJumpLimit = 10000

// usage is Postfix's usage text (it omits some options; so do we).
const usage = "usage: postcat [-b (body text)] [-c config_dir] [-d (decimal record type)] [-e (envelope records)] [-h (header text)] [-q (access queue)] [-v] [file(s)...]"

// queueNames are searched, in this order, by -q.
var queueNames = [...]string{
	queuefile.QueueMaildrop, queuefile.QueueIncoming, queuefile.QueueActive,
	queuefile.QueueDeferred, queuefile.QueueHold, queuefile.QueueSaved,
}

// fatalError ends the run with "postcat: fatal: TEXT" and exit status 1.
type fatalError struct{ text string }

func (e *fatalError) Error() string { return e.text }

func fatalf(format string, args ...any) error {
	return &fatalError{fmt.Sprintf(format, args...)}
}

// output imitates Postfix's buffered standard output: text reaches the
// writer only at explicit flushes or when 4096 bytes are pending. Whatever
// is pending when the program exits is lost, as with the real postcat.
type output struct {
	w   io.Writer
	buf []byte
}

const outputBufferSize = 4096

func (o *output) spill() {
	for len(o.buf) >= outputBufferSize {
		_, _ = o.w.Write(o.buf[:outputBufferSize])
		o.buf = append(o.buf[:0], o.buf[outputBufferSize:]...)
	}
}

func (o *output) printf(format string, args ...any) {
	o.buf = fmt.Appendf(o.buf, format, args...)
	o.spill()
}

func (o *output) write(p []byte) {
	o.buf = append(o.buf, p...)
	o.spill()
}

func (o *output) putc(c byte) {
	o.buf = append(o.buf, c)
	o.spill()
}

func (o *output) flush() {
	if len(o.buf) > 0 {
		_, _ = o.w.Write(o.buf)
		o.buf = o.buf[:0]
	}
}

// gotoState remembers pointer jumps per input path, to stop pointer loops.
type gotoState struct {
	path         string
	set          bool
	savedOffset  int64
	reverseCount int
}

// run holds one invocation's state.
type run struct {
	flags       int
	verbose     int
	startOffset int64
	out         *output
	stderr      io.Writer
	loc         *time.Location
	jumps       gotoState
	utf8        bool // keep UTF-8 in diagnostics (smtputf8_enable)
}

func (r *run) warn(format string, args ...any) {
	fmt.Fprintf(r.stderr, "%s: warning: %s\n", progName, printable(fmt.Sprintf(format, args...), r.utf8))
}

// printable censors a diagnostic as Postfix does: every byte that is not
// printable ASCII becomes '?', except that valid UTF-8 is kept when
// smtputf8_enable is on.
func printable(s string, keepUTF8 bool) string {
	b := []byte(s)
	for i := 0; i < len(b); {
		c := b[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		if keepUTF8 && c >= 0x80 {
			if r, n := utf8.DecodeRune(b[i:]); r != utf8.RuneError && n > 1 {
				i += n
				continue
			}
		}
		b[i] = '?'
		i++
	}
	return string(b)
}

// Main runs postcat with the process's arguments and environment and exits.
func Main() {
	os.Exit(Run(os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// Run is postcat with arguments args (without the program name). It returns
// the exit status.
func Run(args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	r := &run{out: &output{w: stdout}, stderr: stderr}
	if err := r.main(args, env, stdin); err != nil {
		// Pending standard output is lost, as when Postfix calls exit().
		fmt.Fprintf(stderr, "%s: fatal: %s\n", progName, printable(err.Error(), r.utf8))
		return 1
	}
	return 0
}

func (r *run) main(args []string, env func(string) string, stdin io.Reader) error {
	configDir := env("MAIL_CONFIG")
	operands, err := r.parseArgs(args, &configDir)
	if err != nil {
		return err
	}
	if r.flags&maskAll == 0 {
		r.flags |= maskAll
	}
	if configDir == "" {
		configDir = "/etc/postfix"
	}
	cfg, err := loadConfig(configDir, env, func(text string) { r.warn("%s", text) })
	if err != nil {
		return err
	}
	r.loc = location(cfg.tz)
	r.utf8 = cfg.smtputf8

	switch {
	case len(operands) == 0:
		s := newStream("stdin", stdin)
		return r.postcat(s, true)
	case r.flags&flagSearchQueue != 0:
		return r.searchQueue(cfg, operands)
	default:
		for _, name := range operands {
			f, err := os.Open(name)
			if err != nil {
				return fatalf("open %s: %s", name, syserr.Text(err))
			}
			s := newStream(name, f)
			err = r.postcat(s, false)
			f.Close()
			if err != nil {
				return err
			}
			if s.readErr != nil {
				r.warn("close %s: %s", name, syserr.Text(s.readErr))
			}
		}
	}
	return nil
}

// parseArgs is getopt(3) with "+bc:dehoqrs:v": options end at the first
// operand or "--".
func (r *run) parseArgs(args []string, configDir *string) ([]string, error) {
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			switch c {
			case 'b':
				r.flags |= flagBody
			case 'd':
				r.flags |= flagDecimal
			case 'e':
				r.flags |= flagEnv
			case 'h':
				r.flags |= flagHeader
			case 'o':
				r.flags |= flagOffset
			case 'q':
				r.flags |= flagSearchQueue
			case 'r':
				r.flags |= flagRaw
			case 'v':
				r.verbose++
			case 'c', 's':
				var arg string
				if j+1 < len(a) {
					arg = a[j+1:]
				} else if i+1 < len(args) {
					i++
					arg = args[i]
				} else {
					fmt.Fprintf(r.stderr, "%s: option requires an argument -- '%c'\n", progName, c)
					return nil, fatalf("%s", usage)
				}
				j = len(a)
				if c == 'c' {
					*configDir = arg
				} else {
					off, ok := parseOffset(arg)
					if !ok {
						return nil, fatalf("bad offset: %s", arg)
					}
					r.startOffset = off
				}
			default:
				fmt.Fprintf(r.stderr, "%s: invalid option -- '%c'\n", progName, c)
				return nil, fatalf("%s", usage)
			}
		}
	}
	return args[i:], nil
}

// parseOffset accepts what Postfix accepts for -s: all digits, converted
// like atol (saturating).
func parseOffset(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	return atol([]byte(s)), true
}

// searchQueue implements -q: each operand is a queue ID looked up in the
// queues below queue_directory.
func (r *run) searchQueue(cfg settings, ids []string) error {
	if fi, err := os.Stat(cfg.queueDir); err != nil {
		return fatalf("chdir %s: %s", cfg.queueDir, syserr.Text(err))
	} else if !fi.IsDir() {
		return fatalf("chdir %s: Not a directory", cfg.queueDir)
	}
	for _, id := range ids {
		if !queuefile.ValidID(id) {
			return fatalf("bad mail queue ID: %s", id)
		}
		var (
			f       *os.File
			rel     string
			lastErr error
		)
		for tries := 0; f == nil && tries < 2; tries++ {
			for _, q := range queueNames {
				rel = queuefile.QueuePath(q, id, queuefile.HashedQueue(cfg.hashQueueNames, q), cfg.hashQueueDepth)
				var err error
				if f, err = os.Open(filepath.Join(cfg.queueDir, rel)); err == nil {
					break
				}
				lastErr = err
			}
		}
		if f == nil {
			return fatalf("open queue file %s: %s", id, syserr.Text(lastErr))
		}
		s := newStream(rel, f)
		err := r.postcat(s, false)
		f.Close()
		if err != nil {
			return err
		}
		if s.readErr != nil {
			r.warn("close %s: %s", id, syserr.Text(s.readErr))
		}
	}
	return nil
}

// recGet reads one record like Postfix's raw record reader, with its
// warnings. It returns the type, recEOF or recError.
func (r *run) recGet(s *stream, buf *[]byte, flags int) int {
	for {
		typ := s.getc()
		if typ < 0 {
			return recEOF
		}
		var n int64
		for shift := uint(0); ; shift += 7 {
			if shift >= 32 {
				r.warn("%s: too many length bits, record type %d", s.path, typ)
				return recError
			}
			b := s.getc()
			if b < 0 {
				r.warn("%s: unexpected EOF reading length, record type %d", s.path, typ)
				return recError
			}
			n |= int64(int32(uint32(b&0x7f) << shift))
			if b&0x80 == 0 {
				break
			}
		}
		if n < 0 {
			r.warn("%s: illegal length %d, record type %d", s.path, n, typ)
			return recError
		}
		if got := s.readPayload(buf, n); got != n {
			r.warn("%s: unexpected EOF in data, record type %d length %d", s.path, typ, n)
			return recError
		}
		if flags == 0 {
			return typ
		}
		if byte(typ) == queuefile.RecPtr && flags&recFollowPtr != 0 {
			if t := r.recGoto(s, *buf); t != recError {
				continue
			}
			return recError
		}
		if byte(typ) == queuefile.RecDtxt && flags&recSkipDtxt != 0 {
			continue
		}
		if byte(typ) == queuefile.RecEnd && flags&recSeekEnd != 0 {
			if err := s.seek(0, io.SeekEnd); err != nil {
				r.warn("%s: seek error after reading END record: %s", s.path, syserr.Text(err))
				return recError
			}
		}
		return typ
	}
}

// recGoto follows a pointer record; it returns 0 or recError.
func (r *run) recGoto(s *stream, payload []byte) int {
	j := &r.jumps
	if !j.set || j.path != s.path {
		*j = gotoState{path: s.path, set: true}
	}
	text := cString(payload)
	for len(text) > 0 && isSpace(text[0]) {
		text = text[1:]
	}
	off, ok := offCvt(text)
	switch {
	case !ok:
		r.warn("%s: malformed pointer record value: %s", s.path, text)
		return recError
	case off == 0:
		return 0
	}
	if off <= j.savedOffset {
		j.reverseCount++
		if j.reverseCount > reverseJumpLimit {
			r.warn("%s: too many reverse jump records", s.path)
			return recError
		}
	}
	if err := s.seek(off, io.SeekStart); err != nil {
		r.warn("%s: seek error after pointer record: %s", s.path, syserr.Text(err))
		return recError
	}
	j.savedOffset = off
	return 0
}

// postcat shows one input. isStdin selects how -s skips: by reading.
func (r *run) postcat(s *stream, isStdin bool) error {
	flags := r.flags
	out := r.out
	recFlags := recDefault
	if r.verbose > 0 {
		recFlags = 0
	}
	var (
		prevType   int
		offset     int64
		buf        []byte
		dataOffset int64 = -1
		dataSize   int64 = -1
	)
	textRecord := func(t int) bool { return t == int(queuefile.RecCont) || t == int(queuefile.RecNorm) }

	if r.startOffset > 0 {
		if isStdin {
			for o := int64(0); o < r.startOffset; o++ {
				if s.getc() < 0 {
					return fatalf("%s: skip %d bytes failed after %d", s.path, r.startOffset, o)
				}
			}
		} else if err := s.seek(r.startOffset, io.SeekStart); err != nil {
			return fatalf("%s: seek to %d: %s", s.path, r.startOffset, syserr.Text(err))
		}
	}

	// A queue file starts with an envelope record.
	if r.startOffset == 0 {
		if ch := s.getc(); ch >= 0 {
			// Postfix tests the type with strchr(), which also finds
			// the string's terminating NUL: type 0 passes.
			if ch != 0 && strings.IndexByte(queuefile.EnvelopeTypes, byte(ch)) < 0 {
				r.warn("%s: input is not a valid queue file", s.path)
				return nil
			}
			s.ungetc()
		}
	}
	if r.startOffset == 0 && flags&flagEnv != 0 {
		out.printf("*** ENVELOPE RECORDS %s ***\n", s.path)
	}
	state := stateEnv
	doPrint := flags&flagEnv != 0

	prefix := func(t int) {
		if flags&flagOffset != 0 {
			out.printf("%9d ", uint64(offset))
		}
		if flags&flagDecimal != 0 {
			out.printf("%3d ", t)
		}
	}
	marker := func(t int, text string) {
		prefix(t)
		out.printf("*** %s %s ***\n", text, s.path)
		out.flush()
	}
	printRecord := func(t int, value []byte) {
		prefix(t)
		out.printf("%s: %s\n", queuefile.Name(byte(t)), value)
		out.flush()
	}

	// skip seeks past the message content as the size record says. A
	// size record whose fields point backwards makes the real postcat
	// read the same records over and over without end; the second skip
	// from the same place to the same offset proves such a loop, and we
	// stop there instead.
	type skipKey struct {
		site int
		off  int64
	}
	skipped := map[skipKey]bool{}
	skip := func(site int, off int64) error {
		k := skipKey{site, off}
		if skipped[k] {
			return fatalf("%s: invalid size record: the message content would be skipped in an endless loop", s.path)
		}
		skipped[k] = true
		if err := s.seek(off, io.SeekStart); err != nil {
			return fatalf("seek error: %s", syserr.Text(err))
		}
		return nil
	}

	for {
		if flags&flagOffset != 0 {
			offset = s.tell()
		}
		recType := r.recGet(s, &buf, recFlags)
		if recType == recError {
			return fatalf("record read error")
		}
		if recType == recEOF {
			break
		}
		str := cString(buf)

		switch {
		case textRecord(recType):
			if state == stateHeader && flags&maskText != 0 && prevType != int(queuefile.RecCont) &&
				!(isHeader(str) || (len(str) > 0 && (str[0] == ' ' || str[0] == '\t'))) {
				state = stateBody
				doPrint = flags&flagBody != 0
				if !doPrint && flags&flagEnv == 0 {
					return nil
				}
				if !doPrint && flags&flagEnv != 0 && dataOffset >= 0 && dataSize >= 0 {
					if err := skip(1, dataOffset+dataSize); err != nil {
						return err
					}
				}
			}
		case recType == int(queuefile.RecMesg):
			if state != stateEnv {
				r.warn("%s: out-of-order message content marker", s.path)
			}
			if flags&flagEnv != 0 {
				marker(recType, "MESSAGE CONTENTS")
			}
			if flags&maskText == 0 && dataOffset >= 0 && dataSize >= 0 {
				if err := skip(2, dataOffset+dataSize); err != nil {
					return err
				}
			}
			state = stateHeader
			doPrint = flags&flagHeader != 0
			continue
		case recType == int(queuefile.RecXtra):
			if state != stateHeader && state != stateBody {
				r.warn("%s: out-of-order extracted segment marker", s.path)
			}
			if doPrint && prevType == int(queuefile.RecCont) {
				out.putc('\n')
			}
			if flags&flagEnv != 0 {
				marker(recType, "HEADER EXTRACTED")
			}
			state = stateEnv
			doPrint = flags&flagEnv != 0
			if !doPrint {
				return nil
			}
			continue
		case recType == int(queuefile.RecEnd):
			if state != stateEnv {
				r.warn("%s: out-of-order message end marker", s.path)
			}
			if flags&flagEnv != 0 {
				marker(recType, "MESSAGE FILE END")
			}
			if flags&flagRaw != 0 {
				continue
			}
			return nil
		case recType == int(queuefile.RecPtr):
			if doPrint {
				printRecord(recType, str)
			}
			if flags&flagRaw == 0 && r.recGoto(s, buf) == recError {
				return fatalf("bad pointer record, or input is not seekable")
			}
			continue
		case recType == int(queuefile.RecSize):
			if doPrint {
				printRecord(recType, str)
			}
			if dataSize >= 0 || dataOffset >= 0 {
				r.warn("file contains multiple size records")
			} else {
				n := scanLongs(str, &dataSize, &dataOffset)
				if n != 2 || dataOffset <= 0 || dataSize <= 0 {
					r.warn("invalid size record: %s", truncate(str, 100))
				}
				if flags&flagEnv == 0 {
					if err := s.seek(dataOffset, io.SeekStart); err != nil {
						return fatalf("seek error: %s", syserr.Text(err))
					}
					state = stateHeader
					doPrint = flags&flagHeader != 0
				}
			}
			continue
		}

		if !doPrint {
			continue
		}
		prefix(recType)
		switch byte(recType) {
		case queuefile.RecTime:
			out.printf("%s: %s", queuefile.Name(byte(recType)), asctime(atol(str), r.loc))
		case queuefile.RecWarn:
			out.printf("%s: %s", queuefile.Name(byte(recType)), asctime(atol(str), r.loc))
		case queuefile.RecCont:
			if state == stateEnv {
				out.printf("%s: ", queuefile.Name(byte(recType)))
			} else if r.verbose > 0 {
				out.printf("unterminated_text: ")
			}
			out.write(buf)
			if state == stateEnv || r.verbose > 0 || flags&flagOffset != 0 {
				recType = 0
				out.putc('\n')
			}
		case queuefile.RecNorm:
			if r.verbose > 0 {
				out.printf("%s: ", queuefile.Name(byte(recType)))
			}
			out.write(buf)
			out.putc('\n')
		case queuefile.RecDtxt:
			out.printf("%s: ", queuefile.Name(byte(recType)))
			out.write(buf)
			out.putc('\n')
		case queuefile.RecAttr:
			name, value, problem := splitNameval(str)
			if problem != "" {
				r.warn("%s: malformed attribute: %s: %s", s.path, problem, truncate(str, 100))
				break
			}
			if string(name) == queuefile.AttrCreateTime {
				out.printf("%s: %s", queuefile.AttrCreateTime, asctime(atol(value), r.loc))
			} else {
				out.printf("%s: %s=%s\n", queuefile.Name(byte(recType)), name, value)
			}
		default:
			out.printf("%s: %s\n", queuefile.Name(byte(recType)), str)
		}
		prevType = recType
		out.flush()
	}
	return nil
}

// cString is the payload as C code sees it: up to the first NUL.
func cString(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// isHeader reports whether a line starts like a message header: one or
// more printable ASCII characters other than ':' and white space,
// optionally followed by spaces or tabs, then ':'.
func isHeader(s []byte) bool {
	n := 0
	afterName := false
	for _, c := range s {
		switch {
		case c == ':':
			return n > 0
		case c == ' ' || c == '\t':
			if n == 0 {
				return false
			}
			afterName = true
		case c >= 0x80 || c < 0x20 || c == 0x7f:
			return false
		default:
			if afterName {
				return false
			}
			n++
		}
	}
	return false
}

// splitNameval splits "name = value" like Postfix: surrounding white space
// is removed; the problem text is Postfix's.
func splitNameval(s []byte) (name, value []byte, problem string) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i == len(s) || s[i] == '=' {
		return nil, nil, "missing attribute name"
	}
	start := i
	for i < len(s) && !isSpace(s[i]) && s[i] != '=' {
		i++
	}
	end := i
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i == len(s) || s[i] != '=' {
		return nil, nil, "missing '=' after attribute name"
	}
	i++
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	v := s[i:]
	for len(v) > 0 && isSpace(v[len(v)-1]) {
		v = v[:len(v)-1]
	}
	return s[start:end], v, ""
}

// atol converts like C's atol (strtol base 10, saturating): leading white
// space, an optional sign, digits; anything else ends the number.
func atol(s []byte) int64 {
	v, _, _ := strtol(s)
	return v
}

// strtol parses one number like C's strtol in base 10 (saturating) and
// returns the value, the bytes used, and whether any digit was seen.
func strtol(s []byte) (int64, int, bool) {
	v, n, _ := maincf.CStrtol(string(s))
	return v, n, n > 0
}

// scanLongs is sscanf(s, "%ld %ld", a, b): it stores numbers in order
// until one fails and returns how many it stored.
func scanLongs(s []byte, a, b *int64) int {
	v, n, ok := strtol(s)
	if !ok {
		return 0
	}
	*a = v
	v, _, ok = strtol(s[n:])
	if !ok {
		return 1
	}
	*b = v
	return 2
}

// offCvt converts a pointer record's offset: digits only, no overflow.
func offCvt(s []byte) (int64, bool) {
	var v int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if v > (1<<63-1)/10 || v*10 > 1<<63-1-d {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

var (
	dayNames   = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	monthNames = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// asctime formats seconds since the epoch like asctime(localtime(&t)),
// newline included. Where the C library gives up (years that do not fit an
// int), Postfix crashes; we print the year Go computes instead.
func asctime(sec int64, loc *time.Location) string {
	t := time.Unix(sec, 0).In(loc)
	return fmt.Sprintf("%.3s %.3s%3d %.2d:%.2d:%.2d %d\n",
		dayNames[t.Weekday()], monthNames[t.Month()-1], t.Day(),
		t.Hour(), t.Minute(), t.Second(), t.Year())
}

// location returns the time zone for TZ (empty = the local zone). A leading
// ':' is dropped; an unknown zone is UTC, as the C library does.
func location(tz string) *time.Location {
	if tz == "" {
		return time.Local
	}
	tz = strings.TrimPrefix(tz, ":")
	if loc, err := time.LoadLocation(tz); err == nil {
		return loc
	}
	return time.UTC
}
