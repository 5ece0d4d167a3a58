package cleanup

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// This file holds test helpers: an in-memory Store, and a stand-in for
// Postfix's qmqpd that turns a QMQP submission into the records qmqpd
// sends to cleanup (so cleanup can be tested without the qmqpd package).

// memStore is a Store whose files live in memory.
type memStore struct {
	id      string
	created time.Time
	files   []*memFile
	// failAfter makes Record fail once this many bytes were written
	// (0 = never).
	failAfter int64
	failErr   error
	// wakeErr is what WakeQmgr returns.
	wakeErr error
}

func (m *memStore) WakeQmgr() error { return m.wakeErr }

func (m *memStore) Create(now time.Time) (QueueFile, error) {
	id := m.id
	if id == "" {
		id = "ABC123"
	}
	created := m.created
	if created.IsZero() {
		created = now
	}
	f := &memFile{id: id, created: created, failAfter: m.failAfter, failErr: m.failErr}
	m.files = append(m.files, f)
	return f, nil
}

// ready returns the committed files.
func (m *memStore) ready() []*memFile {
	var out []*memFile
	for _, f := range m.files {
		if f.committed {
			out = append(out, f)
		}
	}
	return out
}

type memFile struct {
	id        string
	created   time.Time
	buf       bytes.Buffer // flushed bytes
	pending   bytes.Buffer // buffered records
	committed bool
	aborted   bool
	failAfter int64
	failErr   error
}

func (f *memFile) ID() string         { return f.id }
func (f *memFile) Created() time.Time { return f.created }
func (f *memFile) Record(typ byte, data []byte) error {
	if f.committed || f.aborted {
		return errors.New("record after close")
	}
	f.pending.Write(queuefile.AppendRecord(nil, typ, data))
	if f.pending.Len() >= 4096 {
		return f.Flush()
	}
	return nil
}
func (f *memFile) Flush() error {
	if f.failAfter > 0 && int64(f.buf.Len()+f.pending.Len()) > f.failAfter {
		f.buf.Write(f.pending.Bytes()[:f.failAfter-int64(f.buf.Len())])
		f.pending.Reset()
		return f.failErr
	}
	f.buf.Write(f.pending.Bytes())
	f.pending.Reset()
	return nil
}
func (f *memFile) PatchSize(s queuefile.Size) error {
	if err := f.Flush(); err != nil {
		return err
	}
	copy(f.buf.Bytes()[2:], s.Payload())
	return nil
}
func (f *memFile) Commit() error {
	if err := f.Flush(); err != nil {
		f.aborted = true
		return err
	}
	f.committed = true
	return nil
}
func (f *memFile) Abort() error { f.aborted = true; return nil }

// rec is one record as qmqpd would send it.
type rec struct {
	typ  byte
	data []byte
}

// submission is one QMQP message and how qmqpd saw it.
type submission struct {
	msg           []byte
	sender        string
	rcpts         []string
	arrival       time.Time
	port          string
	contentFilter string
	lineLimit     int
	hostname      string
	queueID       string
}

// qmqpdRecords returns the records Postfix's qmqpd sends to cleanup for s,
// or the reply qmqpd itself gives when it refuses the sender's VERP
// delimiters (then records is nil).
func qmqpdRecords(s submission, verpFilter string) (records []rec, refusal string) {
	add := func(t byte, d string) { records = append(records, rec{t, []byte(d)}) }
	add('T', fmt.Sprintf("%d %d", s.arrival.Unix(), s.arrival.Nanosecond()/1000))
	if s.contentFilter != "" {
		add('L', s.contentFilter)
	}
	sender, verp := s.sender, ""
	if endOrigin := len(sender) - 4; endOrigin > 0 && sender[endOrigin:] == "-@[]" {
		if at := strings.IndexByte(sender, '@'); at >= 0 {
			if p := at - 1; p < endOrigin-2 && p > 0 {
				verp = string([]byte{sender[p], '='})
				sender = sender[:p] + sender[p+1:endOrigin]
				if !verpDelimsOK([]byte(verp), verpFilter) {
					return nil, fmt.Sprintf("Error: Invalid VERP delimiters: \"%s\". Need two characters from \"%s\"", verp, verpFilter)
				}
			}
		}
	}
	add('S', sender)
	if verp != "" {
		add('V', verp)
	}
	for _, a := range []string{
		"log_client_name=localhost", "log_client_address=127.0.0.1", "log_client_port=" + s.port,
		"log_message_origin=localhost[127.0.0.1]", "log_protocol_name=QMQP", "client_name=localhost",
		"client_address=127.0.0.1", "client_port=" + s.port, "client_address_type=2", "protocol_name=QMQP",
	} {
		add('A', a)
	}
	for _, r := range s.rcpts {
		add('R', r)
	}
	add('M', "")
	date := MailDate(s.arrival, time.UTC)
	add('N', "Received: from localhost (localhost [127.0.0.1])")
	if len(s.rcpts) == 1 {
		add('N', fmt.Sprintf("\tby %s (Postfix) with QMQP id %s", s.hostname, s.queueID))
		add('N', fmt.Sprintf("\tfor <%s>; %s", quote822Local(nil, []byte(s.rcpts[0]), quoteFlagDefault), date))
	} else {
		add('N', fmt.Sprintf("\tby %s (Postfix) with QMQP", s.hostname))
		add('N', fmt.Sprintf("\tid %s; %s", s.queueID, date))
	}
	first := true
	msg := s.msg
	for len(msg) > 0 {
		var line []byte
		typ := byte('L')
		if i := bytes.IndexByte(msg, '\n'); i >= 0 && i <= s.lineLimit {
			line, msg, typ = msg[:i], msg[i+1:], 'N'
		} else if len(msg) > s.lineLimit {
			line, msg = msg[:s.lineLimit], msg[s.lineLimit:]
		} else {
			line, msg = msg, nil
		}
		if first {
			if bytes.HasPrefix(bytes.TrimLeft(cstr(line), ">"), []byte("From ")) {
				records = append(records, rec{typ, append([]byte("X-Mailbox-Line: "), cstr(line)...)})
				continue
			}
			first = false
			if len(line) > 0 && isSpaceTab(line[0]) {
				add('N', "")
			}
		}
		records = append(records, rec{typ, line})
	}
	add('X', "")
	add('E', "")
	return records, ""
}

// logLine is one line cleanup logged.
func logCollector(lines *[]string) LogFunc {
	return func(warning bool, text string) {
		if warning {
			text = "warning: " + text
		}
		*lines = append(*lines, text)
	}
}

// runCleanup feeds records to a Stream over a memStore and returns the
// status, reason, file bytes (nil if not committed) and log lines.
func runCleanup(t testing.TB, s *Settings, store *memStore, now time.Time, records []rec) (int, string, []byte, []string) {
	t.Helper()
	var lines []string
	c := &Cleanup{Settings: s, Store: store, Log: logCollector(&lines), Now: func() time.Time { return now }}
	status, reason, file := runOn(t, c, store, records)
	return status, reason, file, lines
}
