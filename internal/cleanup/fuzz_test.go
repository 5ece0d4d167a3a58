package cleanup

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// FuzzCleanup sends arbitrary messages, senders and recipients through the
// content pipeline (envelope rewriting, header parsing and rewriting, MIME
// state machine, line splitting) and checks that it never panics and that
// whatever it queues is a well-formed queue file: records that parse to the
// end record, a size record whose fields agree with the file, and as many
// recipient records as the size record says. A message that is not queued
// leaves no ready file. The message then runs again through the same
// Cleanup after another message, in the memory those two used, and must
// give the same status, file and log lines.
func FuzzCleanup(f *testing.F) {
	for _, c := range goldenCases {
		sender := c.sender
		rcpt := strings.Join(c.rcpts, "\n")
		f.Add([]byte(c.msg), sender, rcpt, uint16(0))
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: message/rfc822\n\nContent-Type: multipart/alternative; boundary=y\n\n--y\n\n--y--\n--x--\n"), "a@b", "c@d", uint16(513))
	f.Add([]byte("From: \"unterminated <a@b\nTo: (((\nCc: <<<>>>@@@,,,;;;\n\n"), "<>", "\"\"", uint16(600))
	f.Fuzz(func(t *testing.T, msg []byte, sender, rcpts string, lineLimit uint16) {
		s := DefaultSettings("research.example.org", "example.org")
		s.Location = time.UTC
		s.LineLengthLimit = 512 + int(lineLimit%2048)
		s.HeaderSizeLimit = 600 + int(lineLimit)
		s.MessageSizeLimit = 200000
		var rl []string
		if rcpts != "" {
			rl = strings.Split(rcpts, "\n")
		}
		records, refusal := qmqpdRecords(submission{
			msg: msg, sender: sender, rcpts: rl, arrival: time.Unix(1795530772, 599664), port: "40000",
			lineLimit: s.LineLengthLimit, hostname: s.MyHostname, queueID: "ABC123",
		}, s.VERPDelimiterFilter)
		if refusal != "" {
			return
		}
		store := &memStore{}
		var lines []string
		c := &Cleanup{Settings: s, Store: store, Log: logCollector(&lines), Now: func() time.Time { return time.Unix(1795530772, 0) }}
		status, reason, file := runOn(t, c, store, records)
		checkReuse(t, c, &lines, records, status, reason, file)
		if status != StatOK {
			if file != nil || len(store.ready()) != 0 {
				t.Fatalf("status %#x but a ready file", status)
			}
			return
		}
		if file == nil {
			t.Fatal("queued without a ready file")
		}
		if err := checkQueueFile(file); err != nil {
			t.Fatal(err)
		}
	})
}

// checkQueueFile verifies a complete queue file as cleanup writes it.
func checkQueueFile(b []byte) error {
	r := queuefile.NewReader(bytes.NewReader(b))
	var (
		size                 queuefile.Size
		haveSize, sawEnd     bool
		rcpts                int64
		mOff, xOff, afterOff int64 = -1, -1, -1
	)
	for {
		rc, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if sawEnd {
			return errors.New("records after the end record")
		}
		switch rc.Type {
		case 'C':
			if rc.Offset != 0 {
				return errors.New("size record not first")
			}
			if size, err = queuefile.ParseSize(rc.Data); err != nil {
				return err
			}
			haveSize = true
		case 'R':
			rcpts++
		case 'M':
			mOff = rc.Offset
			afterOff = r.Offset()
		case 'X':
			xOff = rc.Offset
		case 'E':
			sawEnd = true
		}
	}
	switch {
	case !haveSize:
		return errors.New("no size record")
	case !sawEnd:
		return errors.New("no end record")
	case mOff < 0 || xOff < 0:
		return errors.New("no content or extracted segment")
	case size.DataOffset != afterOff:
		return errors.New("size record: wrong data offset")
	case size.ContentSize != xOff-afterOff:
		return errors.New("size record: wrong content size")
	case size.Recipients != rcpts:
		return errors.New("size record: wrong recipient count")
	}
	return nil
}

// runOn feeds records to a new stream of c and returns the status, reason
// and the file (nil if not committed).
func runOn(t testing.TB, c *Cleanup, store *memStore, records []rec) (int, string, []byte) {
	t.Helper()
	st, err := c.Open(t.Context(), c.Settings.QMQPFlags())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	for _, r := range records {
		if err := st.Record(r.typ, r.data); err != nil {
			t.Fatalf("record %c: %v", r.typ, err)
		}
	}
	status, reason := st.Finish()
	if f := store.files[len(store.files)-1]; f.committed {
		return status, reason, f.buf.Bytes()
	}
	return status, reason, nil
}

// reuseFiller is a message with many tokens, MIME boundaries, attributes
// and recipients, run between two runs of a fuzzed message.
var reuseFiller = submission{
	msg: []byte("From: a, b, \"c d\" <e@f>, (x) g!h, i%j\nTo: k, l;, m: n, o;\nContent-Type: multipart/mixed; boundary=\"==q\"\n" +
		"Message-Id: <x@y>\nCc: " + strings.Repeat("p, ", 60) + "q\n\n--==q\nContent-Type: message/rfc822\n\nTo: r\n\n--==q--\n"),
	sender: "s@t", rcpts: []string{"u", "v@w", "U", "x!y", "\"\"", "z@[1.2.3.4]"},
	arrival: time.Unix(1795530772, 599664), port: "40001", lineLimit: 2048, hostname: "filler.example", queueID: "FILL1",
}

// checkReuse runs reuseFiller and then records again through c (with a
// store of their own), and compares the second run of records with the
// first (status, reason, file, and the log lines, which *lines collects).
func checkReuse(t *testing.T, c *Cleanup, lines *[]string, records []rec, status int, reason string, file []byte) {
	t.Helper()
	firstLog := slices.Clone(*lines)
	firstStore := c.Store
	defer func() { c.Store, *lines = firstStore, firstLog }()
	store := &memStore{}
	c.Store = store
	filler, _ := qmqpdRecords(reuseFiller, c.Settings.VERPDelimiterFilter)
	runOn(t, c, store, filler)
	*lines = nil
	status2, reason2, file2 := runOn(t, c, store, records)
	if status2 != status || reason2 != reason || !bytes.Equal(file2, file) {
		t.Fatalf("second run in reused memory: status %#x %q, file\n%q\nfirst run: status %#x %q, file\n%q", status2, reason2, file2, status, reason, file)
	}
	if !slices.Equal(*lines, firstLog) {
		t.Fatalf("second run in reused memory logged\n%q\nfirst run\n%q", *lines, firstLog)
	}
}
