package maillog

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 11, 4, 9, 5, 7, 0, time.Local)

func TestSyslog(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	l, err := New(Options{Tag: "mail/qmqpd", Facility: "local3", SyslogSocket: sock, Pid: 42, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Infof("connect from %s", "x[1.2.3.4]")
	l.Warn("bad\x01thing")
	l.Errorf("e")
	l.Fatalf("f")
	// local3 = 19; info 6, warning 4, error 3, fatal 2 (LOG_CRIT).
	for _, want := range []string{
		"<158>Nov  4 09:05:07 mail/qmqpd[42]: connect from x[1.2.3.4]",
		"<156>Nov  4 09:05:07 mail/qmqpd[42]: warning: bad?thing",
		"<155>Nov  4 09:05:07 mail/qmqpd[42]: error: e",
		"<154>Nov  4 09:05:07 mail/qmqpd[42]: fatal: f",
	} {
		buf := make([]byte, 4096)
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := pc.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:n]); got != want {
			t.Errorf("datagram %q, want %q", got, want)
		}
	}
}

func TestFacilities(t *testing.T) {
	for name, want := range map[string]int{"mail": 2 << 3, "local0": 16 << 3, "local7": 23 << 3, "user": 1 << 3, "daemon": 3 << 3, "auth": 4 << 3} {
		if got, ok := Facility(name); !ok || got != want {
			t.Errorf("Facility(%q) = %d %v, want %d", name, got, ok, want)
		}
	}
	if _, ok := Facility("nonsense"); ok {
		t.Error("nonsense accepted")
	}
	if _, err := New(Options{Facility: "nonsense"}); err != ErrFacility {
		t.Errorf("New: %v", err)
	}
}

func TestMaillogFileAndStderr(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "maillog")
	var stderr bytes.Buffer
	l, err := New(Options{Tag: "postfix/qmqpd", Hostname: "mx.example.org", MaillogFile: file, MaillogPrefixes: []string{dir}, Stderr: &stderr, Pid: 7, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	l.Infof("hello")
	l.Warnf("w %d", 1)
	l.Close()
	b, _ := os.ReadFile(file)
	want := "Nov 04 09:05:07 mx postfix/qmqpd[7]: hello\nNov 04 09:05:07 mx postfix/qmqpd[7]: warning: w 1\n"
	if string(b) != want {
		t.Errorf("file %q, want %q", b, want)
	}
	if want := "postfix/qmqpd: hello\npostfix/qmqpd: warning: w 1\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
	_, err = New(Options{MaillogFile: "/tmp/x", MaillogPrefixes: []string{"/var", "/dev/stdout"}})
	if err == nil || err.Error() != "maillog_file value '/tmp/x' does not match any prefix in maillog_file_prefixes" {
		t.Errorf("prefix check: %v", err)
	}
	_, err = New(Options{MaillogFile: dir + "/no/such/file", MaillogPrefixes: []string{dir}})
	if err == nil || !strings.HasPrefix(err.Error(), "open logfile '"+dir+"/no/such/file': No such file") {
		t.Errorf("open error: %v", err)
	}
}

// TestPostlog: lines go to the postlogd socket in postlog format, and the
// socket is reopened by name when postlogd is restarted.
func TestPostlog(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "postlog")
	listen := func() *net.UnixConn {
		pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		return pc
	}
	pc := listen()
	l, err := New(Options{Tag: "postfix/qmqpd", Hostname: "mx", MaillogFile: "/var/log/x", MaillogPrefixes: []string{"/var"}, PostlogSocket: sock, Pid: 9, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	read := func(pc *net.UnixConn) string {
		buf := make([]byte, 4096)
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := pc.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	l.Infof("one")
	if got := read(pc); got != "Nov 04 09:05:07 mx postfix/qmqpd[9]: one" {
		t.Errorf("got %q", got)
	}
	pc.Close()
	os.Remove(sock)
	pc = listen()
	defer pc.Close()
	l.Infof("two")
	if got := read(pc); got != "Nov 04 09:05:07 mx postfix/qmqpd[9]: two" {
		t.Errorf("after restart: %q", got)
	}
}

func TestPrintable(t *testing.T) {
	for _, c := range []struct {
		in   string
		utf8 bool
		want string
	}{
		{"plain", false, "plain"},
		{"tab\there", false, "tab?here"},
		{"caf\xc3\xa9", false, "caf??"},
		{"caf\xc3\xa9", true, "caf\xc3\xa9"},
		{"bad\xff", true, "bad?"},
		{"del\x7f", true, "del?"},
	} {
		if got := Printable(c.in, c.utf8); got != c.want {
			t.Errorf("Printable(%q, %v) = %q, want %q", c.in, c.utf8, got, c.want)
		}
	}
}

func TestLongLine(t *testing.T) {
	var stderr bytes.Buffer
	l, err := New(Options{Tag: "t", Stderr: &stderr, SyslogSocket: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	l.Infof("%s", strings.Repeat("x", 3000))
	if n := len(strings.TrimSuffix(strings.TrimPrefix(stderr.String(), "t: "), "\n")); n != 2000 {
		t.Errorf("line of %d bytes, want 2000", n)
	}
}

// TestConcurrentFileLines: lines logged from many goroutines all reach the
// file whole, each once, in each goroutine's order.
func TestConcurrentFileLines(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "maillog")
	l, err := New(Options{Tag: "t", Hostname: "h", MaillogFile: file, MaillogPrefixes: []string{dir}, Pid: 1})
	if err != nil {
		t.Fatal(err)
	}
	const workers, lines = 8, 200
	done := make(chan struct{})
	for w := 0; w < workers; w++ {
		go func() {
			for i := 0; i < lines; i++ {
				l.Infof("w%d line %d", w, i)
			}
			done <- struct{}{}
		}()
	}
	for w := 0; w < workers; w++ {
		<-done
	}
	l.Close()
	b, _ := os.ReadFile(file)
	next := make([]int, workers)
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var w, i int
		f := strings.SplitN(line, ": ", 2)
		if len(f) != 2 {
			t.Fatalf("bad line %q", line)
		}
		if _, err := fmt.Sscanf(f[1], "w%d line %d", &w, &i); err != nil || i != next[w] {
			t.Fatalf("line %q out of order (want line %d of w%d)", line, next[w], w)
		}
		next[w]++
	}
	for w, n := range next {
		if n != lines {
			t.Errorf("w%d: %d lines", w, n)
		}
	}
}

// TestWithTag: a derived logger shares the destination, so lines of both
// tags stay in the order they were logged; closing it leaves the parent
// working.
func TestWithTag(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "maillog")
	l, err := New(Options{Tag: "postfix/qmqpd", Hostname: "h", MaillogFile: file, MaillogPrefixes: []string{dir}, Pid: 5, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	c := l.WithTag("postfix/cleanup")
	for i := 0; i < 50; i++ {
		l.Infof("q%d", i)
		c.Infof("c%d", i)
	}
	c.Close()
	l.Infof("after")
	l.Close()
	b, _ := os.ReadFile(file)
	var want strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&want, "Nov 04 09:05:07 h postfix/qmqpd[5]: q%d\nNov 04 09:05:07 h postfix/cleanup[5]: c%d\n", i, i)
	}
	want.WriteString("Nov 04 09:05:07 h postfix/qmqpd[5]: after\n")
	if string(b) != want.String() {
		t.Errorf("file:\n%s\nwant:\n%s", b, want.String())
	}
}

// TestTimeStampChanges: the time prefix, formatted once per second, follows
// the clock across seconds, days with one and two digits and time zones,
// in both the maillog_file form (day padded with 0) and the syslog form
// (day padded with a space).
func TestTimeStampChanges(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	times := []time.Time{
		time.Date(2026, 11, 4, 9, 5, 7, 100, time.UTC),
		time.Date(2026, 11, 4, 9, 5, 7, 900, time.UTC),
		time.Date(2026, 11, 4, 9, 5, 8, 0, time.UTC),
		time.Date(2026, 11, 14, 23, 59, 59, 0, time.UTC),
		time.Date(2026, 11, 14, 23, 59, 59, 0, est),
		time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "log")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	i := 0
	now := func() time.Time { return times[i] }
	file := filepath.Join(dir, "maillog")
	lf, err := New(Options{Tag: "postfix/qmqpd", Hostname: "mx.example.org", MaillogFile: file, MaillogPrefixes: []string{dir}, Pid: 3, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := New(Options{Tag: "postfix/qmqpd", SyslogSocket: sock, Pid: 3, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	var want []string
	for i = range times {
		lf.Infof("line %d", i)
		ls.Warnf("line %d", i)
		want = append(want, fmt.Sprintf("%s mx postfix/qmqpd[3]: line %d", times[i].Format("Jan 02 15:04:05"), i))
		buf := make([]byte, 512)
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := pc.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got, w := string(buf[:n]), fmt.Sprintf("<20>%s postfix/qmqpd[3]: warning: line %d", times[i].Format(time.Stamp), i); got != w {
			t.Errorf("syslog %q, want %q", got, w)
		}
	}
	if err := lf.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(file)
	if got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("maillog_file:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
