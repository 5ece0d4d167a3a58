package qmqpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qmqpd-go/qmqpd/internal/maillog"
	"github.com/qmqpd-go/qmqpd/internal/qmqp"
)

// memQueuer is a Queuer that keeps records in memory.
type memQueuer struct {
	mu       sync.Mutex
	next     int
	openErr  error
	status   int
	reason   string
	finished []*memQueued
	aborted  int
}

type memQueued struct {
	q       *memQueuer
	id      string
	flags   int
	records []string
}

func (q *memQueuer) Open(ctx context.Context, flags int) (Queued, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.openErr != nil {
		return nil, q.openErr
	}
	q.next++
	return &memQueued{q: q, id: fmt.Sprintf("ID%04X", q.next), flags: flags}, nil
}

func (m *memQueued) ID() string { return m.id }
func (m *memQueued) Record(typ byte, data []byte) error {
	m.records = append(m.records, string(typ)+" "+string(data))
	return nil
}
func (m *memQueued) Finish() (int, string) {
	m.q.mu.Lock()
	defer m.q.mu.Unlock()
	m.q.finished = append(m.q.finished, m)
	return m.q.status, m.q.reason
}
func (m *memQueued) Abort() {
	m.q.mu.Lock()
	defer m.q.mu.Unlock()
	m.q.aborted++
}

// memLog collects log lines as "level: text" (no prefix for info).
type memLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *memLog) Log(level maillog.Level, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if level != maillog.Info {
		text = level.String() + ": " + text
	}
	l.lines = append(l.lines, text)
}

func (l *memLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

type allowAll struct {
	ok  bool
	err error
}

func (a allowAll) Match(name, addr string) (bool, error) { return a.ok, a.err }

func testConfig() *Config {
	return &Config{
		Hostname:         "mx.example.org",
		MailName:         "Postfix",
		Timeout:          10 * time.Second,
		MessageSizeLimit: 10240000,
		LineLengthLimit:  2048,
		VERPFilter:       "-=+",
		InetProtocols:    "ipv4",
		IPv4:             true,
		CleanupFlags:     114,
		Authorized:       allowAll{ok: true},
		OwnerUID:         -1,
	}
}

var testArrival = time.Date(2026, 11, 24, 14, 32, 52, 599664000, time.UTC)

// run drives one session over net.Pipe: it writes input, half-closes by
// closing after reading the whole reply, and returns the reply bytes.
func run(t *testing.T, cfg *Config, q *memQueuer, input string) (string, *memLog) {
	t.Helper()
	log := &memLog{}
	srv := NewServer(cfg, q, log)
	srv.Now = func() time.Time { return testArrival }
	client, server := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- srv.ServeConn(server) }()
	go func() {
		io.WriteString(client, input)
	}()
	reply, _ := io.ReadAll(client)
	client.Close()
	if err := <-done; err != nil {
		t.Fatalf("ServeConn: %v", err)
	}
	return string(reply), log
}

func packet(msg, sender string, rcpts ...string) string {
	return string(qmqp.AppendPacket(nil, []byte(msg), sender, rcpts))
}

func TestQueued(t *testing.T) {
	q := &memQueuer{}
	reply, log := run(t, testConfig(), q, packet("Subject: x\n\nbody\n", "a@example.com", "b@example.net"))
	if reply != "21:KOk: queued as ID0001," {
		t.Errorf("reply = %q", reply)
	}
	want := []string{
		"connect from localhost[127.0.0.1]",
		"ID0001: client=localhost[127.0.0.1]",
		"disconnect from localhost[127.0.0.1]",
	}
	if d := cmp.Diff(want, log.get()); d != "" {
		t.Errorf("log (-want +got):\n%s", d)
	}
	if len(q.finished) != 1 {
		t.Fatalf("finished = %d", len(q.finished))
	}
	m := q.finished[0]
	if m.flags != 114 {
		t.Errorf("flags = %d", m.flags)
	}
	wantRecs := []string{
		"T 1795530772 599664",
		"S a@example.com",
		"A log_client_name=localhost",
		"A log_client_address=127.0.0.1",
		"A log_client_port=0",
		"A log_message_origin=localhost[127.0.0.1]",
		"A log_protocol_name=QMQP",
		"A client_name=localhost",
		"A client_address=127.0.0.1",
		"A client_port=0",
		"A client_address_type=0",
		"A protocol_name=QMQP",
		"R b@example.net",
		"M ",
		"N Received: from localhost (localhost [127.0.0.1])",
		"N \tby mx.example.org (Postfix) with QMQP id ID0001",
		"N \tfor <b@example.net>; Tue, 24 Nov 2026 14:32:52 +0000 (UTC)",
		"N Subject: x",
		"N ",
		"N body",
		"X ",
		"E ",
	}
	if d := cmp.Diff(wantRecs, m.records); d != "" {
		t.Errorf("records (-want +got):\n%s", d)
	}
}

func TestContentRecords(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
		want []string // records after the Received: header, before X
	}{
		{"no final newline", "a\nb", []string{"N a", "L b"}},
		{"from lines", "From x\n>From y\nSubject: s\n", []string{"N X-Mailbox-Line: From x", "N X-Mailbox-Line: >From y", "N Subject: s"}},
		{"leading space", " folded\nrest\n", []string{"N ", "N  folded", "N rest"}},
		{"cr kept", "a\r\n\r\n", []string{"N a\r", "N \r"}},
		{"long line", strings.Repeat("x", 2049) + "\n", []string{"L " + strings.Repeat("x", 2048), "N x"}},
		{"exact limit", strings.Repeat("y", 2048) + "\n", []string{"N " + strings.Repeat("y", 2048)}},
		{"empty", "", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &memQueuer{}
			reply, _ := run(t, testConfig(), q, packet(tc.msg, "s@x", "r1@x", "r2@x"))
			if !strings.Contains(reply, "KOk") {
				t.Fatalf("reply %q", reply)
			}
			recs := q.finished[0].records
			var got []string
			for i, r := range recs {
				if strings.HasPrefix(r, "N \tid ") {
					got = recs[i+1 : len(recs)-2]
					break
				}
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("content (-want +got):\n%s", d)
			}
		})
	}
}

func TestReceivedMultipleRecipients(t *testing.T) {
	q := &memQueuer{}
	run(t, testConfig(), q, packet("x\n", "s@x", "r@x", "r@x"))
	recs := q.finished[0].records
	want := []string{
		"N Received: from localhost (localhost [127.0.0.1])",
		"N \tby mx.example.org (Postfix) with QMQP",
		"N \tid ID0001; Tue, 24 Nov 2026 14:32:52 +0000 (UTC)",
	}
	for i, r := range recs {
		if r == "M " {
			if d := cmp.Diff(want, recs[i+1:i+4]); d != "" {
				t.Errorf("Received (-want +got):\n%s", d)
			}
			return
		}
	}
	t.Fatal("no M record")
}

func TestVERP(t *testing.T) {
	for _, tc := range []struct {
		sender    string
		wantS     string
		wantV     string
		wantReply string
	}{
		{"list-@example.com-@[]", "list@example.com", "-=", "KOk"},
		{"list+@example.com-@[]", "list@example.com", "+=", "KOk"},
		{"-@example.com-@[]", "-@example.com-@[]", "", "KOk"},
		{"a-@-@[]", "a-@-@[]", "", "KOk"},
		{"list#@example.com-@[]", "", "", `DError: Invalid VERP delimiters: "#=". Need two characters from "-=+"`},
	} {
		q := &memQueuer{}
		reply, log := run(t, testConfig(), q, packet("x\n", tc.sender, "r@x"))
		if !strings.Contains(reply, tc.wantReply) {
			t.Errorf("%s: reply %q, want %q", tc.sender, reply, tc.wantReply)
			continue
		}
		if tc.wantS == "" {
			if q.aborted != 1 || len(q.finished) != 0 {
				t.Errorf("%s: aborted %d finished %d", tc.sender, q.aborted, len(q.finished))
			}
			if got := log.get()[2]; got != `warning: ID0001: localhost[127.0.0.1]: Error: Invalid VERP delimiters: "#=". Need two characters from "-=+"` {
				t.Errorf("log %q", got)
			}
			continue
		}
		recs := q.finished[0].records
		if recs[1] != "S "+tc.wantS {
			t.Errorf("%s: S record %q", tc.sender, recs[1])
		}
		if tc.wantV != "" && recs[2] != "V "+tc.wantV {
			t.Errorf("%s: V record %q", tc.sender, recs[2])
		}
		if tc.wantV == "" && recs[2][0] == 'V' {
			t.Errorf("%s: unexpected V record", tc.sender)
		}
	}
}

func TestNetstringErrors(t *testing.T) {
	for _, tc := range []struct {
		name, input, reply, logLine string
	}{
		{"bad header", "x", "58:Dnetstring format error while receiving QMQP packet header,", "ID0001: localhost[127.0.0.1]: netstring format error while receiving QMQP packet header"},
		{"bad content", "10:3:abcX", "55:Dnetstring format error while receiving message content,", "ID0001: localhost[127.0.0.1]: netstring format error while receiving message content"},
		{"long sender", "9999:1:x," + "2049:" + strings.Repeat("s", 2049) + ",", "70:Dnetstring length exceeds storage limit while receiving sender address,", "ID0001: localhost[127.0.0.1]: netstring length exceeds storage limit while receiving sender address"},
		{"bad rcpt", "9999:1:x,1:s,x", "57:Dnetstring format error while receiving recipient address,", "ID0001: localhost[127.0.0.1]: netstring format error while receiving recipient address"},
		{"eof in content", "99:10:abc", "", "ID0001: localhost[127.0.0.1]: lost connection while receiving message content"},
		{"eof at start", "", "", "ID0001: localhost[127.0.0.1]: lost connection while receiving QMQP packet header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &memQueuer{}
			cfg := testConfig()
			reply, log := runClose(t, cfg, q, tc.input)
			if reply != tc.reply {
				t.Errorf("reply = %q, want %q", reply, tc.reply)
			}
			lines := log.get()
			if len(lines) != 4 || lines[2] != tc.logLine {
				t.Errorf("log = %q", lines)
			}
			if q.aborted != 1 || len(q.finished) != 0 {
				t.Errorf("aborted %d finished %d", q.aborted, len(q.finished))
			}
		})
	}
}

// runClose is like run, but the client closes its sending side right after
// the input (net.Pipe has no half-close, so the server sees EOF on its next
// read only through a separate pipe direction: emulate with a reader that
// ends).
func runClose(t *testing.T, cfg *Config, q *memQueuer, input string) (string, *memLog) {
	t.Helper()
	log := &memLog{}
	srv := NewServer(cfg, q, log)
	srv.Now = func() time.Time { return testArrival }
	c := &scriptConn{in: strings.NewReader(input)}
	if err := srv.ServeConn(c); err != nil {
		t.Fatal(err)
	}
	return c.out.String(), log
}

// scriptConn is a net.Conn that reads a fixed input and records output.
type scriptConn struct {
	in  io.Reader
	out strings.Builder
}

func (c *scriptConn) Read(p []byte) (int, error)       { return c.in.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) LocalAddr() net.Addr              { return pipeAddr{} }
func (c *scriptConn) RemoteAddr() net.Addr             { return pipeAddr{} }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func TestAuthorization(t *testing.T) {
	cfg := testConfig()
	cfg.Authorized = allowAll{ok: false}
	q := &memQueuer{}
	reply, log := runClose(t, cfg, q, packet("x", "s", "r"))
	if reply != "66:DError: localhost[127.0.0.1] is not authorized to use this service," {
		t.Errorf("reply %q", reply)
	}
	if d := cmp.Diff([]string{"connect from localhost[127.0.0.1]", "disconnect from localhost[127.0.0.1]"}, log.get()); d != "" {
		t.Errorf("log (-want +got):\n%s", d)
	}
	if q.next != 0 {
		t.Error("queue file opened for an unauthorized client")
	}

	cfg.Authorized = allowAll{err: errors.New("table lookup problem")}
	reply, _ = runClose(t, cfg, q, "")
	if reply != "34:ZError: server configuration error," {
		t.Errorf("reply %q", reply)
	}

	cfg.Authorized = nil
	cfg.SoftBounce = true
	cfg.PortLogging = true
	reply, log = runClose(t, cfg, q, "")
	if reply != "68:ZError: localhost[127.0.0.1]:0 is not authorized to use this service," {
		t.Errorf("reply %q", reply)
	}
	if log.get()[0] != "connect from localhost[127.0.0.1]:0" {
		t.Errorf("log %q", log.get())
	}
}

func TestFinalStatus(t *testing.T) {
	for _, tc := range []struct {
		status int
		reason string
		reply  string
	}{
		{qmqp.CleanupStatRcpt, "", "DError: no recipients specified"},
		{qmqp.CleanupStatSize, "", "DError: message too large"},
		{qmqp.CleanupStatHops, "", "DError: too many hops"},
		{qmqp.CleanupStatCont, "5.7.1 go away", "DError: 5.7.1 go away"},
		{qmqp.CleanupStatCont, "4.7.1 later", "ZError: 4.7.1 later"},
		{qmqp.CleanupStatDefer | qmqp.CleanupStatRcpt, "4.3.0 busy", "ZError: 4.3.0 busy"},
		{qmqp.CleanupStatBad, "", "ZError: internal error 1"},
		{qmqp.CleanupStatWrite, "", "ZError: queue file write error"},
		{1 << 12, "", "ZError: internal error 4096"},
	} {
		q := &memQueuer{status: tc.status, reason: tc.reason}
		reply, log := runClose(t, testConfig(), q, packet("x\n", "s", "r"))
		want := string(qmqp.AppendReply(nil, tc.reply[0], tc.reply[1:]))
		if reply != want {
			t.Errorf("status %d: reply %q, want %q", tc.status, reply, want)
		}
		if got, want := log.get()[2], "warning: ID0001: localhost[127.0.0.1]: "+tc.reply[1:]; got != want {
			t.Errorf("status %d: log %q, want %q", tc.status, got, want)
		}
	}
}

func TestContentFilterAndFlags(t *testing.T) {
	cfg := testConfig()
	cfg.ContentFilter = "smtp:[127.0.0.1]:10025"
	q := &memQueuer{}
	runClose(t, cfg, q, packet("x\n", "s", "r"))
	recs := q.finished[0].records
	if recs[1] != "L smtp:[127.0.0.1]:10025" || recs[2] != "S s" {
		t.Errorf("records %q", recs[:3])
	}
	for _, tc := range []struct {
		override, classes string
		want              int
	}{
		{"", "sendmail, verify", 114},
		{"no_address_mappings", "", 66},
		{"no_header_body_checks, no_milters", "", 48},
		{"no_unknown_recipient_checks", "qmqpd", 114 | 512},
	} {
		got, err := CleanupFlags(tc.override, tc.classes)
		if err != nil || got != tc.want {
			t.Errorf("CleanupFlags(%q, %q) = %d, %v; want %d", tc.override, tc.classes, got, err, tc.want)
		}
	}
	if _, err := CleanupFlags("no_milters, bogus", ""); err == nil || err.Error() != `unknown receive_override_options value "bogus" in "no_milters, bogus"` {
		t.Errorf("err = %v", err)
	}
}

func TestQueueOpenFailure(t *testing.T) {
	q := &memQueuer{openErr: errors.New("connection refused")}
	log := &memLog{}
	srv := NewServer(testConfig(), q, log)
	c := &scriptConn{in: strings.NewReader(packet("x", "s", "r"))}
	err := srv.ServeConn(c)
	var fe *FatalError
	if !errors.As(err, &fe) || fe.Text != "unable to connect to the public cleanup service" {
		t.Fatalf("err = %v", err)
	}

	var got error
	srv.OnQueueError = func(err error) { got = err }
	c = &scriptConn{in: strings.NewReader(packet("x", "s", "r"))}
	if err := srv.ServeConn(c); err != nil {
		t.Fatal(err)
	}
	if got == nil || c.out.String() != "30:ZError: queue file write error," {
		t.Errorf("got %v, reply %q", got, c.out.String())
	}
}

func TestQuote822Local(t *testing.T) {
	for in, want := range map[string]string{
		"a@example.net":         "a@example.net",
		"a b@example.net":       `"a b"@example.net`,
		"":                      `""`,
		"a.b.c@x":               "a.b.c@x",
		"a..b@x":                `"a..b"@x`,
		`q"x@y`:                 `"q\"x"@y`,
		"@route:a b@x":          `@route:"a b"@x`,
		"nodomain":              "nodomain",
		"x@y@z":                 `"x@y"@z`,
		"Bob.Smith@Example.NET": "Bob.Smith@Example.NET",
		".lead@x":               `".lead"@x`,
		"t\u00e9st@x":           "t\u00e9st@x",
	} {
		if got := Quote822Local(in); got != want {
			t.Errorf("Quote822Local(%q) = %q, want %q", in, got, want)
		}
	}
}
