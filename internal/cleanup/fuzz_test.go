package cleanup

import (
	"bytes"
	"errors"
	"io"
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
// leaves no ready file.
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
		status, _, file, _ := runCleanup(t, s, store, time.Unix(1795530772, 0), records)
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
