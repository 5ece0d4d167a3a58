package qmqpd

import (
	"bytes"
	"fmt"
	"github.com/qmqpd-go/qmqpd/internal/postfixtest"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// A masker replaces what legitimately differs between two runs of the same
// case: queue IDs, times, client ports.
type masker struct {
	ids []string // queue IDs seen in this run, longest first
}

var (
	// qmqpd's "QID: client=..." line names the queue ID of every message
	// it started, whether or not the file survives.
	clientLineRE = regexp.MustCompile(`^qmqpd: ([0-9A-Za-z]+): client=`)
	// Replies name the queue ID of a queued message.
	queuedRE = regexp.MustCompile(`Ok: queued as ([0-9A-Za-z]+)`)
	// RFC 5322 dates as Postfix's mail_date writes them.
	// Only the moment is masked: the layout (day padding), the zone
	// offset and the zone name stay.
	dateRE = regexp.MustCompile(`(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ( ?[0-9]|[0-9]{2}) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}( [+-][0-9]{4} \([A-Za-z0-9+-]+\))`)
	// Message-Id values cleanup adds: <YYYYMMDDHHMMSS.QID@host>.
	msgIDStampRE = regexp.MustCompile(`[0-9]{14}\.QID@`)
	// qmqp-source's Message-Id holds its process ID.
	sourceMsgIDRE = regexp.MustCompile(`<[0-9]+@client\.example\.org>`)
	// A client port after a bracketed address (qmqpd_client_port_logging).
	portRE = regexp.MustCompile(`(\[[0-9A-Fa-f.:]+\]):[0-9]+`)
	// cleanup's complaints when the file system's time stamps run ahead
	// of the clock: they depend on timing, not on the input.
	clockNoiseRE = regexp.MustCompile(`^warning: (file system clock is [0-9]+ seconds ahead of local clock|resetting file time stamps - this hurts performance)$`)
	// Times in queue files: "SEC USEC" without padding, and create_time.
	timeRecRE    = regexp.MustCompile(`^[1-9][0-9]* (0|[1-9][0-9]*)$`)
	createTimeRE = regexp.MustCompile(`^create_time=[1-9][0-9]*$`)
	// Attribute records with a port value.
	portAttrRE = regexp.MustCompile(`^((?:log_)?client_port)=[0-9]+$`)
)

// newMasker collects the queue IDs of one run from its log lines, reply
// and queue file names.
func newMasker(reply string, log []string, files []string) *masker {
	seen := map[string]bool{}
	for _, l := range log {
		if m := clientLineRE.FindStringSubmatch(l); m != nil {
			seen[m[1]] = true
		}
	}
	if m := queuedRE.FindStringSubmatch(reply); m != nil {
		seen[m[1]] = true
	}
	for _, f := range files {
		seen[f] = true
	}
	m := &masker{}
	for id := range seen {
		m.ids = append(m.ids, id)
	}
	sort.Slice(m.ids, func(i, j int) bool {
		return len(m.ids[i]) > len(m.ids[j]) || len(m.ids[i]) == len(m.ids[j]) && m.ids[i] < m.ids[j]
	})
	return m
}

// text masks queue IDs, dates, Message-Id stamps and ports in s.
func (m *masker) text(s string) string {
	for _, id := range m.ids {
		s = strings.ReplaceAll(s, id, "QID")
	}
	s = dateRE.ReplaceAllStringFunc(s, func(d string) string {
		m := dateRE.FindStringSubmatch(d)
		day := "DD"
		if len(m[1]) < 2 {
			day = "D"
		} else if m[1][0] == ' ' {
			day = " D"
		}
		return "DATE(" + day + ")" + m[2]
	})
	s = msgIDStampRE.ReplaceAllString(s, "STAMP.QID@")
	s = portRE.ReplaceAllString(s, "$1:PORT")
	s = sourceMsgIDRE.ReplaceAllString(s, "<PID@client.example.org>")
	return s
}

// logLines turns raw maillog text into "program: text" lines (the time,
// host name and process ID dropped), keeping only qmqpd and cleanup.
func logLines(raw string) []string {
	var out []string
	for _, line := range strings.Split(raw, "\n") {
		prog, text, ok := postfixtest.SplitLogLine(line)
		if !ok || prog != "qmqpd" && prog != "cleanup" || clockNoiseRE.MatchString(text) {
			continue
		}
		out = append(out, prog+": "+text)
	}
	return out
}

// queueFile is one file found in incoming/.
type queueFile struct {
	ID   string
	Mode string
	Data []byte
}

// records renders a queue file as one line per record, masked: the size
// record is checked against the file's own layout instead of being
// compared byte for byte (its numbers move with the length of queue IDs
// and times).
func (m *masker) records(f queueFile) []string {
	out := []string{"file " + m.text(f.ID) + " mode " + f.Mode}
	r := queuefile.NewReader(bytes.NewReader(f.Data))
	r.AllowUnknown = true
	type rec struct {
		typ  byte
		data []byte
		off  int64
	}
	var recs []rec
	for {
		x, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			recs = append(recs, rec{typ: '!', data: []byte(err.Error())})
			break
		}
		recs = append(recs, rec{x.Type, x.Data, x.Offset})
	}
	// Offsets the size record describes.
	var afterM, xOff int64 = -1, -1
	for i, x := range recs {
		if x.typ == queuefile.RecMesg && afterM < 0 && i+1 < len(recs) {
			afterM = recs[i+1].off
		}
		if x.typ == queuefile.RecXtra && xOff < 0 {
			xOff = x.off
		}
	}
	for _, x := range recs {
		var text string
		switch {
		case x.typ == queuefile.RecSize:
			text = sizeLine(x.data, afterM, xOff)
		case x.typ == queuefile.RecTime && timeRecRE.Match(x.data):
			text = "TIME"
		case x.typ == queuefile.RecAttr && createTimeRE.Match(x.data):
			text = "create_time=TIME"
		case x.typ == queuefile.RecAttr && portAttrRE.Match(x.data):
			text = portAttrRE.ReplaceAllString(string(x.data), "$1=PORT")
		default:
			text = m.text(string(x.data))
		}
		out = append(out, fmt.Sprintf("%c %s", x.typ, strconv.Quote(text)))
	}
	return out
}

// sizeLine describes a size record by how its numbers relate to the file:
// "content=ok" when the content size is the distance from the first
// content record to the X record, and so on; a mismatch shows the offset.
func sizeLine(data []byte, afterM, xOff int64) string {
	s, err := queuefile.ParseSize(data)
	if err != nil {
		return "bad size record " + strconv.Quote(string(data))
	}
	rel := func(got, want int64) string {
		if got == want {
			return "ok"
		}
		return fmt.Sprintf("off by %+d", got-want)
	}
	width := "fixed"
	if len(data) != queuefile.SizePayloadLen {
		width = fmt.Sprintf("width %d", len(data))
	}
	return fmt.Sprintf("%s content=%s data=%s rcpt=%d qmgr=%d length=%s utf8=%d", width,
		rel(s.ContentSize, xOff-afterM), rel(s.DataOffset, afterM), s.Recipients, s.QmgrFlags,
		rel(s.ContentLength, s.ContentSize), s.SMTPUTF8)
}

func TestMasker(t *testing.T) {
	log := []string{
		"qmqpd: connect from localhost[127.0.0.1]:40312",
		"qmqpd: 8E94B9899C3: client=localhost[127.0.0.1]:40312",
		"cleanup: 8E94B9899C3: message-id=<20261124194929.8E94B9899C3@research.example.org>",
	}
	m := newMasker("26:KOk: queued as 8E94B9899C3,", log, nil)
	var got []string
	for _, l := range log {
		got = append(got, m.text(l))
	}
	want := []string{
		"qmqpd: connect from localhost[127.0.0.1]:PORT",
		"qmqpd: QID: client=localhost[127.0.0.1]:PORT",
		"cleanup: QID: message-id=<STAMP.QID@research.example.org>",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if s := m.text("\tfor <b@example.net>; Tue,  4 Nov 2026 19:49:29 +0000 (UTC)"); s != "\tfor <b@example.net>; DATE( D) +0000 (UTC)" {
		t.Errorf("date: %q", s)
	}
}

func TestSizeLine(t *testing.T) {
	size := queuefile.Size{ContentSize: 321, DataOffset: 479, Recipients: 1, ContentLength: 321}
	if s := sizeLine(size.Payload(), 479, 800); s != "fixed content=ok data=ok rcpt=1 qmgr=0 length=ok utf8=0" {
		t.Errorf("good: %s", s)
	}
	if s := sizeLine(size.Payload(), 480, 800); s != "fixed content=off by +1 data=off by -1 rcpt=1 qmgr=0 length=ok utf8=0" {
		t.Errorf("bad: %s", s)
	}
}

func TestLogLines(t *testing.T) {
	raw := "Nov 24 19:49:29 research postfix/master[17349]: daemon started\n" +
		"Nov 24 19:49:29 research postfix/qmqpd[17366]: connect from localhost[127.0.0.1]\n" +
		"Nov 24 19:49:29 research postfix/cleanup[17377]: warning: x\n" +
		"Nov 24 19:49:29 research postfix/cleanup[17377]: warning: file system clock is 1 seconds ahead of local clock\n"
	got := logLines(raw)
	want := []string{"qmqpd: connect from localhost[127.0.0.1]", "cleanup: warning: x"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q", got)
	}
}
