package cleanupclient

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qmqpd-go/qmqpd/internal/maillog"
	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// fakeCleanup serves one conversation on conn: greeting, flags, records
// until E, then the answer. It reports what it received.
func fakeCleanup(conn net.Conn, greeting, answer string, got chan<- string) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	io.WriteString(conn, greeting)
	flags, err := readAttrs(r)
	if err != nil {
		got <- "flags error: " + err.Error()
		return
	}
	var b strings.Builder
	b.WriteString(flags[0][0] + "=" + flags[0][1])
	qr := queuefile.NewReader(r)
	for {
		rec, err := qr.Next()
		if err != nil {
			got <- b.String() + " read error: " + err.Error()
			return
		}
		b.WriteString(" " + string(rec.Type) + ":" + string(rec.Data))
		if rec.Type == queuefile.RecEnd {
			break
		}
	}
	io.WriteString(conn, answer)
	got <- b.String()
}

func client(greeting, answer string, got chan string) *Client {
	return &Client{Path: "public/cleanup", Dial: func(ctx context.Context, path string) (net.Conn, error) {
		if path != "public/cleanup" {
			return nil, errors.New("wrong path " + path)
		}
		c, s := net.Pipe()
		go fakeCleanup(s, greeting, answer, got)
		return c, nil
	}}
}

const greeting = "protocol\x00cleanup_protocol\x00queue_id\x00ABC123\x00\x00"

func TestConversation(t *testing.T) {
	got := make(chan string, 1)
	c := client(greeting, "status\x000\x00reason\x00\x00\x00", got)
	s, err := c.Open(context.Background(), FlagMaskExternal)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID() != "ABC123" {
		t.Errorf("ID %q", s.ID())
	}
	for _, r := range []struct {
		typ  byte
		data string
	}{{'S', "a@x"}, {'R', "b@y"}, {'M', ""}, {'N', "Subject: x"}, {'X', ""}, {'E', ""}} {
		if err := s.Record(r.typ, []byte(r.data)); err != nil {
			t.Fatal(err)
		}
	}
	status, reason := s.Finish()
	if status != 0 || reason != "" {
		t.Errorf("Finish: %d %q", status, reason)
	}
	if want := "flags=114 S:a@x R:b@y M: N:Subject: x X: E:"; <-got != want {
		t.Errorf("cleanup saw something else than %q", want)
	}
}

func TestRejectStatus(t *testing.T) {
	got := make(chan string, 1)
	c := client(greeting, "status\x008\x00reason\x005.7.1 go away\x00\x00", got)
	s, err := c.Open(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Record('E', nil)
	if status, reason := s.Finish(); status != 8 || reason != "5.7.1 go away" {
		t.Errorf("Finish: %d %q", status, reason)
	}
	<-got
}

func TestBadGreeting(t *testing.T) {
	for _, g := range []string{
		"protocol\x00other\x00queue_id\x00X\x00\x00",
		"queue_id\x00X\x00\x00",
		"protocol\x00cleanup_protocol",
	} {
		c := &Client{Dial: func(ctx context.Context, path string) (net.Conn, error) {
			c, s := net.Pipe()
			go func() {
				io.WriteString(s, g)
				s.Close()
			}()
			return c, nil
		}}
		_, err := c.Open(context.Background(), 0)
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("greeting %q: %v", g, err)
		}
	}
}

// TestLostAnswer: no answer from cleanup is a queue file write error.
func TestLostAnswer(t *testing.T) {
	got := make(chan string, 1)
	c := client(greeting, "status\x00", got)
	s, err := c.Open(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Record('E', nil)
	if status, _ := s.Finish(); status != StatusWrite {
		t.Errorf("status %d, want %d", status, StatusWrite)
	}
}

// FuzzReadAttrs: whatever cleanup sends, reading its attributes ends with
// a result or an error, within bounded memory.
func FuzzReadAttrs(f *testing.F) {
	f.Add([]byte(greeting))
	f.Add([]byte("status\x000\x00reason\x00\x00\x00"))
	f.Add([]byte("\x00"))
	f.Add([]byte("a\x00"))
	f.Add(bytes.Repeat([]byte("a\x00b\x00"), 100))
	f.Fuzz(func(t *testing.T, in []byte) {
		attrs, err := readAttrs(bufio.NewReader(bytes.NewReader(in)))
		if err != nil {
			return
		}
		if len(attrs) > maxAttrs {
			t.Fatalf("%d attributes", len(attrs))
		}
		n := 0
		for _, a := range attrs {
			if a[0] == "" || len(a[0]) > maxAttrLen || len(a[1]) > maxAttrLen {
				t.Fatalf("bad attribute %q", a)
			}
			n += len(a[0]) + len(a[1]) + 2
		}
		if n+1 > len(in) {
			t.Fatalf("read %d bytes from %d", n+1, len(in))
		}
	})
}

// postfixVerbose is what Postfix 3.7.11's qmqpd -v logs for its
// conversation with cleanup (captured from the real daemon; the queue ID
// replaced).
var postfixVerbose = []string{
	"connect to subsystem public/cleanup",
	"public/cleanup socket: wanted attribute: protocol",
	"input attribute name: protocol",
	"input attribute value: cleanup_protocol",
	"public/cleanup socket: wanted attribute: queue_id",
	"input attribute name: queue_id",
	"input attribute value: ABC123",
	"public/cleanup socket: wanted attribute: (list terminator)",
	"input attribute name: (end)",
	"send attr flags = 114",
	"public/cleanup socket: wanted attribute: status",
	"input attribute name: status",
	"input attribute value: 0",
	"public/cleanup socket: wanted attribute: reason",
	"input attribute name: reason",
	"input attribute value: (end)",
	"public/cleanup socket: wanted attribute: (list terminator)",
	"input attribute name: (end)",
}

func TestVerboseConversation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		verbose int
		ctx     context.Context
		want    []string
	}{
		{"quiet", 0, context.Background(), nil},
		{"-v", 1, context.Background(), postfixVerbose},
		{"debug peer", 0, maillog.WithVerbose(context.Background(), 2), postfixVerbose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan string, 1)
			c := client(greeting, "status\x000\x00reason\x00\x00\x00", got)
			c.Name = "public/cleanup"
			c.Verbose = tc.verbose
			var lines []string
			c.Info = func(s string) { lines = append(lines, s) }
			c.Warn = func(s string) { t.Errorf("warning: %s", s) }
			s, err := c.Open(tc.ctx, FlagMaskExternal)
			if err != nil {
				t.Fatal(err)
			}
			s.Record('E', nil)
			if st, _ := s.Finish(); st != 0 {
				t.Fatalf("status %d", st)
			}
			<-got
			if diff := cmp.Diff(tc.want, lines); diff != "" {
				t.Errorf("verbose lines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestScanWarnings: malformed answers from cleanup are logged with
// Postfix's attr_scan0 warnings.
func TestScanWarnings(t *testing.T) {
	path := "public/cleanup socket"
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"", "premature end-of-input on " + path + " while reading input attribute name"},
		{"stat", "unexpected end-of-input from " + path + " while reading input attribute name"},
		{"status\x00", "premature end-of-input on " + path + " while reading input attribute value"},
		{"\x00", "missing attribute status in input from " + path},
		{"other\x001\x00", "unexpected attribute other from " + path + " (expecting: status)"},
		{"status\x00x1\x00reason\x00\x00\x00", "malformed numerical data from " + path + " while reading input attribute value: x1"},
		{"status\x000\x00reason\x00\x00extra\x00", "unexpected attribute extra from " + path + " (expecting: (list terminator))"},
	} {
		var warns []string
		sc := scanner{r: bufio.NewReader(strings.NewReader(tc.in)), path: path,
			info: func(string) {}, warn: func(s string) { warns = append(warns, s) }}
		if _, err := sc.scan(want{name: "status", number: true}, want{name: "reason"}); err == nil {
			t.Errorf("%q: no error", tc.in)
		}
		if len(warns) != 1 || warns[0] != tc.want {
			t.Errorf("%q: warnings %q, want %q", tc.in, warns, tc.want)
		}
	}
	var warns []string
	sc := scanner{r: bufio.NewReader(strings.NewReader("protocol\x00other\x00")), path: path,
		info: func(string) {}, warn: func(s string) { warns = append(warns, s) }}
	if _, err := sc.scan(want{name: "protocol", expect: "cleanup_protocol"}); err == nil || len(warns) != 1 ||
		warns[0] != "unexpected protocol other from "+path+" (expected: cleanup_protocol)" {
		t.Errorf("protocol mismatch: %v %q", err, warns)
	}
}

// FuzzScan: the attribute scanner ends with values or an error whatever
// cleanup sends.
func FuzzScan(f *testing.F) {
	f.Add([]byte(greeting))
	f.Add([]byte("status\x000\x00reason\x00\x00\x00"))
	f.Add([]byte("status\x00-1\x00reason\x00x\x00\x00"))
	f.Add([]byte("\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		sc := scanner{r: bufio.NewReader(bytes.NewReader(in)), path: "p", info: func(string) {}, warn: func(string) {}}
		vals, err := sc.scan(want{name: "status", number: true}, want{name: "reason"})
		if err == nil && (len(vals) != 2 || !isUnsigned(vals[0])) {
			t.Fatalf("values %q", vals)
		}
	})
}

func TestFlagsString(t *testing.T) {
	for flags, want := range map[int]string{
		0:                                      "none",
		FlagMaskExternal:                       "enable_header_body_filter enable_automatic_bcc enable_address_mapping enable_milters",
		FlagFilter | FlagAutoUTF8 | FlagBounce: "enable_bad_mail_bounce enable_header_body_filter smtputf8_autodetect",
		1 << 12:                                "0x1000",
	} {
		if got := FlagsString(flags); got != want {
			t.Errorf("FlagsString(%#x) = %q, want %q", flags, got, want)
		}
	}
}

// TestConnectRetries: like Postfix's mail_connect_wait, Open retries a
// failed connection, warning each time, and then gives up with Postfix's
// fatal text.
func TestConnectRetries(t *testing.T) {
	dir := t.TempDir()
	c := &Client{Path: dir + "/public/cleanup", Name: "public/cleanup", Attempts: 3, RetryDelay: time.Millisecond}
	var warns []string
	c.Warn = func(s string) { warns = append(warns, s) }
	_, err := c.Open(context.Background(), 0)
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Text != "connect #3 to subsystem public/cleanup: No such file or directory" {
		t.Fatalf("error %v", err)
	}
	want := []string{
		"connect #1 to subsystem public/cleanup: No such file or directory",
		"connect #2 to subsystem public/cleanup: No such file or directory",
	}
	if diff := cmp.Diff(want, warns); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	// A service that comes up while qmqpd waits is used.
	c.Attempts, c.RetryDelay = 50, 10*time.Millisecond
	warns = nil
	got := make(chan string, 1)
	go func() {
		time.Sleep(30 * time.Millisecond)
		os.Mkdir(dir+"/public", 0o755)
		ln, err := net.Listen("unix", c.Path)
		if err != nil {
			got <- err.Error()
			return
		}
		defer ln.Close()
		conn, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		fakeCleanup(conn, greeting, "status\x000\x00reason\x00\x00\x00", got)
	}()
	s, err := c.Open(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Record('E', nil)
	if st, _ := s.Finish(); st != 0 {
		t.Errorf("status %d", st)
	}
	<-got
	if len(warns) == 0 {
		t.Errorf("no warning while the service was missing")
	}
	// Without retries the dial error comes back as it is.
	c.Attempts, c.Path = 0, dir+"/none"
	if _, err := c.Open(context.Background(), 0); err == nil || errors.As(err, &ce) {
		t.Errorf("single attempt: %v", err)
	}
}
