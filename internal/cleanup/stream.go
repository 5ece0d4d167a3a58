package cleanup

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/qmqpd-go/qmqpd/internal/queuefile"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
)

// Queue file record types cleanup writes.
const (
	recSize byte = 'C'
	recTime byte = 'T'
	recFilt byte = 'L'
	recFrom byte = 'S'
	recRcpt byte = 'R'
	recOrcp byte = 'O'
	recWarn byte = 'W'
	recAttr byte = 'A'
	recVERP byte = 'V'
	recMesg byte = 'M'
	recEnd  byte = 'E'
)

// SMTPUTF8 bits of the size record's sixth field.
const (
	utf8Requested = 1 << 0
	utf8Header    = 1 << 1
	utf8Sender    = 1 << 2
)

// Stream processing phases.
const (
	phaseEnvelope = iota
	phaseContent
	phaseExtracted
	phaseDone
)

// sizePlaceholder is the size record's payload until it is patched at the
// end: six zeros, each right-aligned in 15 columns.
const sizePlaceholder = "              0               0               0               0               0               0"

// vstreamBufSize is the buffer size of Postfix's queue file stream: a write
// beyond the file size limit is noticed when a full buffer is flushed.
const vstreamBufSize = 4096

// Stream is one message being written by cleanup. Feed it records with
// Record, then call Finish (or Abort). It is not safe for concurrent use.
type Stream struct {
	c        *Cleanup
	s        *Settings
	file     QueueFile
	id       string
	flags    int
	w        *work // reused memory; nil after Finish or Abort
	rw       Rewriter
	headers  headerTable
	mime     *mimeParser
	phase    int
	errs     int
	reason   string
	off      int64 // bytes of records written so far (the file offset)
	arrival  time.Time
	sawTime  bool
	sender   []byte
	haveSndr bool
	inRcpt   bool
	warnSeen bool
	verp     bool
	haveRcpt bool
	origRcpt []byte
	haveOrig bool
	rcptCnt  int
	hopCount int
	seen     uint64
	resent   string
	utf8     int
	encoding string
	dataOff  int64
	xtraOff  int64
	endSeen  bool
	xtraDone bool
}

func newStream(c *Cleanup, f QueueFile, flags int, w *work) *Stream {
	s := c.Settings
	st := &Stream{
		c:     c,
		s:     s,
		file:  f,
		id:    f.ID(),
		flags: flags,
		w:     w,
		rw: Rewriter{
			Origin:          s.MyOrigin,
			Domain:          s.MyDomain,
			AppendAtOrigin:  s.AppendAtMyOrigin,
			AppendDotDomain: s.AppendDotMyDomain,
			SwapBangPath:    s.SwapBangPath,
			PercentHack:     s.AllowPercentHack,
		},
		headers: s.headerTable(),
	}
	if feat := s.unsupportedFor(flags); feat != nil {
		st.c.logf(true, "%s: %s = %s: feature not implemented; message deferred", st.ID(), feat.Param, feat.Value)
		st.errs |= StatDefer
		st.reason = feat.refusal()
	}
	return st
}

// ID returns the queue ID (also after Finish or Abort).
func (st *Stream) ID() string { return st.id }

// outOK reports whether output continues (no error so far).
func (st *Stream) outOK() bool { return st.errs == 0 }

// put writes one record, emulating where Postfix notices a file that grows
// beyond message_size_limit: when a full 4 KiB buffer is flushed, or at the
// final flush.
func (st *Stream) put(typ byte, data []byte) error {
	n := int64(1 + lenSize(len(data)) + len(data))
	if lim := st.s.MessageSizeLimit; lim > 0 {
		limitBlock := (lim/vstreamBufSize + 1) * vstreamBufSize
		if st.off+n > limitBlock {
			st.off += n
			return syscall.EFBIG
		}
	}
	st.off += n
	return st.file.Record(typ, data)
}

func lenSize(n int) int {
	k := 1
	for n >= 0x80 {
		n >>= 7
		k++
	}
	return k
}

// out is cleanup_out: it writes a record, splitting text records longer
// than line_length_limit into continuation chunks.
func (st *Stream) out(typ byte, data []byte) {
	if !st.outOK() {
		return
	}
	var err error
	for {
		if len(data) > st.s.LineLengthLimit && (typ == recNorm || typ == recCont) {
			err = st.put(recCont, data[:st.s.LineLengthLimit])
			data = data[st.s.LineLengthLimit:]
			if err != nil || len(data) == 0 {
				break
			}
		} else {
			err = st.put(typ, data)
			break
		}
	}
	if err != nil {
		st.writeError(err)
	}
}

// outString writes a record whose text is s.
func (st *Stream) outString(typ byte, s string) {
	st.w.rec = append(st.w.rec[:0], s...)
	st.out(typ, st.w.rec)
}

// release gives the stream's reused memory back to its Cleanup.
func (st *Stream) release() {
	if st.w == nil {
		return
	}
	st.c.putWork(st.w)
	st.w, st.mime, st.sender, st.origRcpt = nil, nil, nil, nil
}

func (st *Stream) writeError(err error) {
	if errors.Is(err, syscall.EFBIG) {
		st.c.logf(true, "%s: queue file size limit exceeded", st.ID())
		st.errs |= StatSize
	} else {
		st.c.logf(true, "%s: write queue file: %s", st.ID(), syserr.Text(err))
		st.errs |= StatWrite
	}
}

// Record processes one input record, as cleanup does for records from
// qmqpd. Errors in the message are reported by Finish as status bits; the
// returned error is non-nil only for misuse (records after Finish or Abort).
func (st *Stream) Record(typ byte, data []byte) error {
	if st.phase != phaseDone && !st.outOK() {
		// After an error cleanup only drains its input.
		if typ == recEnd {
			st.phase = phaseDone
		}
		return nil
	}
	switch st.phase {
	case phaseEnvelope:
		if st.off == 0 && st.outOK() {
			st.outString(recSize, sizePlaceholder)
		}
		st.envelope(typ, data)
	case phaseContent:
		st.content(typ, data)
	case phaseExtracted:
		st.extracted(typ, data)
	default:
		return fmt.Errorf("%s: record after the end of the message", st.ID())
	}
	return nil
}

// envelope processes one record of the envelope segment.
func (st *Stream) envelope(typ byte, data []byte) {
	var name, value []byte
	if typ == recAttr {
		var err string
		name, value, err = splitNameValue(cstr(data))
		if err != "" {
			st.c.logf(true, "%s: message rejected: malformed attribute: %s: %.100s", st.ID(), err, cstr(data))
			st.errs |= StatBad
			return
		}
		if len(value) == 0 {
			st.c.logf(true, "%s: spurious null attribute value for \"%s\" -- ignored", st.ID(), name)
			return
		}
	}
	if !strings.ContainsRune(queuefile.EnvelopeTypes, rune(typ)) {
		st.c.logf(true, "%s: message rejected: unexpected record type %d in envelope", st.ID(), typ)
		st.errs |= StatBad
		return
	}
	if !st.inRcpt && typ == recRcpt {
		if !st.haveSndr {
			st.c.logf(true, "%s: message rejected: missing sender envelope record", st.ID())
			st.errs |= StatBad
			return
		}
		if !st.sawTime || st.arrival.Unix() == 0 {
			st.c.logf(true, "%s: message rejected: missing time envelope record", st.ID())
			st.errs |= StatBad
			return
		}
		if !st.warnSeen && len(st.sender) > 0 && st.s.DelayWarningTime > 0 {
			st.outString(recWarn, fmt.Sprintf("%15d", st.arrival.Unix()+int64(st.s.DelayWarningTime/time.Second)))
		}
		st.inRcpt = true
	}
	switch typ {
	case recRcpt:
		if !st.haveOrig {
			// Used during this call only: no copy needed.
			st.origRcpt, st.haveOrig = cstr(data), true
		}
		st.recipient(cstr(data))
		st.origRcpt, st.haveOrig = nil, false
		return
	case recOrcp:
		if st.haveOrig {
			st.c.logf(true, "%s: ignoring out-of-order original recipient record <%.200s>", st.ID(), st.origRcpt)
		}
		st.w.orig = append(st.w.orig[:0], cstr(data)...)
		st.origRcpt, st.haveOrig = st.w.orig, true
		return
	case recMesg:
		st.inRcpt = false
		st.phase = phaseContent
		st.out(recMesg, nil)
		st.dataOff = st.off
		st.mime = &st.w.mime
		st.mime.init(st.s, st.headers, st)
		return
	case recTime:
		if !st.sawTime {
			sec, usec, ok := parseTime(cstr(data))
			if ok {
				st.arrival = time.Unix(sec, usec*1000)
			}
			st.sawTime = true
			st.out(recTime, data)
		}
		st.w.rec = strconv.AppendInt(append(st.w.rec[:0], "create_time="...), st.c.now().Unix(), 10)
		st.out(recAttr, st.w.rec)
		return
	case recFrom:
		if st.haveSndr {
			st.c.logf(true, "%s: message rejected: multiple envelope sender records", st.ID())
			st.errs |= StatBad
			return
		}
		st.setSender(cstr(data))
		return
	case recWarn:
		if !st.warnSeen {
			st.warnSeen = true
			st.out(recWarn, data)
		}
		return
	case recVERP:
		if !st.verp {
			switch {
			case !st.haveSndr || len(st.sender) == 0:
				st.c.logf(true, "%s: ignoring VERP request for null sender", st.ID())
			case !verpDelimsOK(cstr(data), st.s.VERPDelimiterFilter):
				st.c.logf(true, "%s: ignoring bad VERP request: \"%.100s\"", st.ID(), cstr(data))
			default:
				st.verp = true
				st.out(recVERP, data)
			}
		}
		return
	case recAttr:
		if !st.w.attrs.has(name) {
			if st.w.attrs.len() >= st.s.QueueFileAttributeCountLimit {
				st.c.logf(true, "%s: message rejected: attribute count exceeds limit %d", st.ID(), st.s.QueueFileAttributeCountLimit)
				st.errs |= StatBad
				return
			}
			st.w.attrs.add(name)
		}
		st.out(recAttr, data)
		return
	case recSize, 'c':
		return
	}
	st.out(typ, data)
}

// splitNameValue splits "name=value" like Postfix's split_nameval: white
// space around the name and the value is ignored. name and value point
// into s.
func splitNameValue(s []byte) (name, value []byte, errText string) {
	s = trimSpaceLeft(s)
	eq := bytes.IndexByte(s, '=')
	if len(s) == 0 || s[0] == '=' {
		return nil, nil, "missing attribute name"
	}
	if eq < 0 {
		return nil, nil, "missing '=' after attribute name"
	}
	name = trimSpaceRight(s[:eq])
	for _, c := range name {
		if isSpace(c) {
			return nil, nil, "missing '=' after attribute name"
		}
	}
	value = trimSpaceRight(trimSpaceLeft(s[eq+1:]))
	return name, value, ""
}

// trimSpaceLeft removes leading bytes for which isSpace holds.
func trimSpaceLeft(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

// trimSpaceRight removes trailing bytes for which isSpace holds.
func trimSpaceRight(b []byte) []byte {
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// parseTime reads a time record, "seconds [microseconds]": the first two
// fields as strings.Fields splits them, parsed by strconv.ParseInt (a bad
// or missing second field is 0).
func parseTime(b []byte) (sec, usec int64, ok bool) {
	if sec, usec, ok := parseTimeDigits(b); ok {
		return sec, usec, true
	}
	return parseTimeFields(b)
}

// parseTimeDigits is parseTime without allocating for the usual record:
// ASCII only, with one or two fields of at most 18 digits each (so no
// sign and no overflow) and, if there is a third field, ASCII white space
// before it. It reports false for anything else.
func parseTimeDigits(b []byte) (sec, usec int64, ok bool) {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return 0, 0, false
		}
	}
	var fields [2]int64
	n := 0
	for i := 0; i < len(b) && n < 2; {
		if isSpace(b[i]) {
			i++
			continue
		}
		start := i
		var v int64
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			v = v*10 + int64(b[i]-'0')
			i++
		}
		if i == start || i-start > 18 || (i < len(b) && !isSpace(b[i])) {
			return 0, 0, false
		}
		fields[n] = v
		n++
	}
	if n == 0 {
		return 0, 0, false
	}
	return fields[0], fields[1], true
}

// parseTimeFields is parseTime for any input.
func parseTimeFields(b []byte) (sec, usec int64, ok bool) {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, 0, false
	}
	sec, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	if len(f) > 1 {
		usec, _ = strconv.ParseInt(f[1], 10, 64)
	}
	return sec, usec, true
}

// verpDelimsOK is verp_delims_verify: exactly two characters, both from
// the filter.
func verpDelimsOK(d []byte, filter string) bool {
	if len(d) != 2 {
		return false
	}
	return strings.IndexByte(filter, d[0]) >= 0 && strings.IndexByte(filter, d[1]) >= 0
}

// setSender rewrites and writes the envelope sender.
func (st *Stream) setSender(raw []byte) {
	clean := st.rw.internal(&st.w.arena, st.w.sender[:0], raw)
	st.w.sender = clean
	// fold turns 14 bytes into 14 ASCII bytes only when they are ASCII
	// (non-ASCII characters that lower-case to ASCII are longer than
	// one byte), so the ASCII comparison decides the prefix test alone.
	if len(clean) >= 14 && asciiEqualFold(clean[:14], "MAILER-DAEMON@") {
		if canon := st.rw.Internal([]byte("MAILER-DAEMON")); st.foldEqual(clean, canon) {
			clean = []byte{}
		}
	}
	if st.s.SMTPUTF8Enable && len(clean) > 0 && !allASCII(clean) && utf8.Valid(clean) {
		st.utf8 |= utf8Sender
		if st.flags&FlagAutoUTF8 != 0 {
			st.utf8 |= utf8Requested
		}
	}
	st.out(recFrom, clean)
	st.sender, st.haveSndr = clean, true
}

// recipient rewrites, de-duplicates and writes one envelope recipient.
func (st *Stream) recipient(raw []byte) {
	w := st.w
	in := raw
	if len(in) == 0 {
		in = []byte(st.s.EmptyAddressRecipient)
	}
	clean := st.rw.internal(&w.arena, w.recip[:0], in)
	w.recip = clean
	if st.s.SMTPUTF8Enable && len(clean) > 0 && !allASCII(clean) && utf8.Valid(clean) {
		if st.flags&FlagAutoUTF8 != 0 {
			st.utf8 |= utf8Requested
		}
	}
	// The dsn_orig_rcpt value is prefix;address.
	var prefix string
	if len(clean) > 0 {
		prefix = "rfc822"
		if !allASCII(clean) && st.utf8&utf8Requested != 0 {
			prefix = "utf-8"
		}
	}
	key := w.key[:0]
	if st.s.EnableOriginalRecipient {
		if prefix != "" {
			key = append(append(append(key, prefix...), ';'), clean...)
		}
		key = append(key, "\n0\n"...)
		key = append(key, st.origRcpt...)
		key = append(key, '\n')
	}
	key = st.foldBytes(append(key, clean...))
	w.key = key
	if !w.dups.has(key) {
		if st.s.DuplicateFilterLimit <= 0 || w.dups.len() < st.s.DuplicateFilterLimit {
			w.dups.add(key)
		}
		if prefix != "" {
			w.rec = append(append(append(w.rec[:0], "dsn_orig_rcpt="...), prefix...), ';')
			w.rec = append(w.rec, clean...)
			st.out(recAttr, w.rec)
		}
		st.out(recOrcp, st.origRcpt)
		st.out(recRcpt, clean)
		st.rcptCnt++
	}
	st.haveRcpt = true
}

// foldBytes is fold for a key held in b, which it may change in place.
func (st *Stream) foldBytes(b []byte) []byte {
	if st.s.SMTPUTF8Enable && !allASCII(b) && utf8.Valid(b) {
		return []byte(strings.ToLower(string(b)))
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}

// fold case-folds a comparison key: ASCII only, or full Unicode lower case
// for valid UTF-8 when smtputf8_enable is on.
func (st *Stream) fold(s string) string {
	if st.s.SMTPUTF8Enable && utf8.ValidString(s) {
		return strings.ToLower(s)
	}
	return asciiLower(s)
}

func (st *Stream) foldEqual(a, b []byte) bool {
	return st.fold(string(a)) == st.fold(string(b))
}

func allASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// content processes one record of the content segment.
func (st *Stream) content(typ byte, data []byte) {
	if typ != recNorm && typ != recCont && typ != recXtra {
		st.c.logf(true, "%s: message rejected: unexpected record type %d in message content", "cleanup_message_headerbody", typ)
		st.errs |= StatBad
		return
	}
	if st.s.ReplaceStrayCRLF && (bytes.IndexByte(data, '\r') >= 0 || bytes.IndexByte(data, '\n') >= 0) {
		st.w.crlf = append(st.w.crlf[:0], data...)
		for i, c := range st.w.crlf {
			if c == '\r' || c == '\n' {
				st.w.crlf[i] = ' '
			}
		}
		data = st.w.crlf
	}
	st.mime.update(typ, data)
	if typ == recXtra {
		st.xtraOff = st.off
		st.phase = phaseExtracted
		st.mime = nil
	}
}

// extracted processes one record of the extracted segment.
func (st *Stream) extracted(typ byte, data []byte) {
	if !st.xtraDone {
		st.xtraDone = true
		st.out(recXtra, nil)
	}
	switch typ {
	case recEnd:
		if st.encoding != "" {
			st.outString(recAttr, "encoding="+st.encoding)
		}
		st.endSeen = true
		st.out(recEnd, nil)
		st.phase = phaseDone
	default:
		st.out(typ, data)
	}
}

// Finish completes the message after the E record: it checks that the
// message was complete and had recipients, patches the size record and
// makes the queue file ready. It returns the cleanup status (StatOK when
// the message is queued) and, for StatDefer and StatCont, the reason text.
// On any error the queue file is removed.
func (st *Stream) Finish() (status int, reason string) {
	if st.file == nil {
		return StatBad, ""
	}
	if st.outOK() {
		if !st.haveRcpt {
			st.errs |= StatRcpt
		}
		if !st.endSeen {
			st.errs |= StatBad
		}
	}
	if st.outOK() {
		st.final()
	}
	if st.errs == 0 {
		if err := st.file.Commit(); err != nil {
			if errors.Is(err, syscall.EFBIG) {
				st.errs |= StatSize
			} else {
				st.errs |= StatWrite
			}
		}
	} else {
		// Closing a stream that failed to write, or whose buffered
		// records cannot all be written, fails again.
		if st.errs&(StatSize|StatWrite) != 0 || (st.s.MessageSizeLimit > 0 && st.off > st.s.MessageSizeLimit) {
			st.c.logf(true, "mail_stream_cleanup: close error")
		}
		_ = st.file.Abort()
	}
	if st.errs == 0 {
		if w, ok := st.c.Store.(Waker); ok {
			if err := w.WakeQmgr(); err != nil {
				st.c.logf(true, "%s", err.Error())
			}
		}
	}
	st.file = nil
	st.phase = phaseDone
	st.release()
	return st.errs, st.reason
}

// final is cleanup_final: flush and patch the size record.
func (st *Stream) final() {
	if lim := st.s.MessageSizeLimit; lim > 0 && st.off > lim {
		st.writeError(syscall.EFBIG)
		return
	}
	size := queuefile.Size{
		ContentSize:   st.xtraOff - st.dataOff,
		DataOffset:    st.dataOff,
		Recipients:    int64(st.rcptCnt),
		ContentLength: st.xtraOff - st.dataOff,
		SMTPUTF8:      int64(st.utf8),
	}
	// Patch the size record before the final flush: while the start of
	// the file is still in the record buffer (a small message), the patch
	// costs no system call and the whole file goes out in one write.
	// Errors are reported as Postfix's flush-then-rewrite reports them.
	if err := st.file.PatchSize(size); err != nil {
		st.writeError(err)
		return
	}
	if err := st.file.Flush(); err != nil {
		st.writeError(err)
	}
}

// Abort abandons the message and removes its queue file. cleanup logs
// nothing in this case.
func (st *Stream) Abort() {
	if st.file != nil {
		_ = st.file.Abort()
		st.file = nil
	}
	st.phase = phaseDone
	st.release()
}
