package cleanup

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qmqpd-go/qmqpd/internal/maincf"
	"github.com/qmqpd-go/qmqpd/internal/postfixtest"
	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

var (
	updateGolden = flag.Bool("golden.update", false, "regenerate testdata/golden with a real Postfix 3.7.11 instance (needs root)")
	updateOnly   = flag.String("golden.only", "", "with -golden.update: regenerate only the cases whose name matches this regular expression")
)

// goldenCase is one QMQP submission whose queue file, reply and log lines
// real Postfix produced (testdata/golden/NAME.*).
type goldenCase struct {
	name   string
	msg    string
	sender string
	rcpts  []string
	cf     map[string]string // main.cf settings on top of postfixtest.Defaults
}

func rep(s string, n int) string { return strings.Repeat(s, n) }

var goldenCases = []goldenCase{
	{name: "simple", msg: "Subject: test one\nFrom: Alice <a@example.com>\nTo: b@example.net, c@example.net\n\nHello world.\nSecond line.\n",
		sender: "a@example.com", rcpts: []string{"b@example.net", "c@example.net"}},
	{name: "verp", msg: "To: dev\n\nno subject, no date, no message-id\n", sender: "list-@lists.example.com-@[]", rcpts: []string{"Dev@Example.NET"}},
	{name: "verp-plus", msg: "Subject: v\n\nb\n", sender: "list+@example.com-@[]", rcpts: []string{"x@example.net"}},
	{name: "crlf", msg: "Subject: crlf\r\nTo: b@example.net\r\n\r\nline1\r\nline2\r\n", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "from-lines", msg: "From someone@x Tue Nov 24 00:00:00 2026\n>From again\nSubject: f\n\nFrom inside body\n", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "long-lines", msg: "Subject: " + rep("s", 3000) + "\nX-Long: " + rep("x ", 2500) + "\n\n" + rep("b", 5000) + "\n" + rep("c", 2048) + "\n" + rep("d", 2049) + "\n",
		sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "nul-bytes", msg: "Subject: n\x00ul\nX-Nul: \x00\n\nbo\x00dy\n", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "leading-whitespace", msg: "  indented\nSubject: y\n\nbody\n", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "no-headers", msg: "just a body line\nanother\n", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "empty-message", msg: "", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "headers-only", msg: "Subject: only\nTo: b@example.net\n", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "no-final-newline", msg: "Subject: x\n\nbody without newline", sender: "a@example.com", rcpts: []string{"Bob.Smith@Example.NET"}},
	{name: "resent", msg: "Resent-From: r@example.com\nSubject: r\nFrom: orig@example.com\n\nbody\n", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "dropped-headers", msg: "Resent-Bcc: x@y.example\nBcc: z@example.net\nReturn-Path: <q@example.com>\nContent-Length: 5\nSubject: d\n\nb\n",
		sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "odd-recipients", msg: "Subject: odd\n\nb\n", sender: "alice",
		rcpts: []string{"b", "c!d", "e%f", "@x.example,@y.example:g@h.example", "i@j.example.", "k@l%m", "\"q r\"@s.example", "t u@v.example", "w(c)@x.example", "a!b!c", "@", "x@[1.2.3.4]", "trail..@dot.example", "y@z..", "bang!"}},
	{name: "odd-senders", msg: "Subject: s\n\nb\n", sender: "\"john doe\"@example.com", rcpts: []string{"b@example.net"}},
	{name: "header-rewrite", msg: "From: alice\nTo: bob, \"Carol X\" <carol>,\n  dave@example.net\nCc: (comment) eve@example.net, frank\nReply-To: group: a, b;\nSender: Bob   Smith <bob> (work)\nSubject: rw\n\nbody\n",
		sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "header-rewrite-long", msg: "To: " + strings.Join([]string{"user1", "user2", "\"Some Long Name\" <user3>", "user4@example.net", "user5", "(c) user6", "user7", "user8@example.org"}, ", ") + "\nSubject: fold\n\nb\n",
		sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "header-rewrite-odd", msg: "From: a@b  c, x!y, p%q, @r,@s:t@u, \"\"\nTo: <>, <@>, undisclosed-recipients:;\nCc: a@[1.2.3.4], b@dom., c@\nSubject: o\n\nb\n",
		sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "empty-sender-recipient", msg: "Subject: null\n\nb\n", sender: "", rcpts: []string{""}},
	{name: "mailer-daemon-sender", msg: "Subject: md\n\nb\n", sender: "mailer-daemon@RESEARCH.example.org", rcpts: []string{"b@example.net"}},
	{name: "duplicates", msg: "Subject: dups\n\nb\n", sender: "a@example.com", rcpts: []string{"Bob@Example.Net", "bob@example.net", "Bob@Example.Net", "other@example.org", "bob", "BOB@research.example.org"}},
	{name: "mime-8bit", msg: "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\nSubject: caf\xc3\xa9\n\ncaf\xc3\xa9\n",
		sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "mime-multipart", msg: "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XYZ\"\nSubject: mp\n\npreamble\n--XYZ\nContent-Type: text/plain\nContent-Transfer-Encoding: binary\nX-Part:  value\n\npart one\n--XYZ\nContent-Type: message/rfc822\n\nFrom: inner\nTo: innerto\nSubject: inner  : x\n\ninner body\n--XYZ--\nepilogue\n",
		sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "utf8-smtputf8", msg: "Subject: gr\xc3\xbc\xc3\x9fe\n\nb\n", sender: "j\xc3\xb6rg@example.com", rcpts: []string{"b@example.net"},
		cf: map[string]string{"smtputf8_enable": "yes"}},
	{name: "utf8-nosmtputf8", msg: "Subject: gr\xc3\xbc\xc3\x9fe\n\nb\n", sender: "j\xc3\xb6rg@example.com", rcpts: []string{"B\xc3\x96B@example.net", "b\xc3\xb6b@example.net"}},
	{name: "hops-48", msg: rep("Received: from x by y\n", 48) + "Subject: h\n\nb\n", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "hops-49", msg: rep("Received: from x by y\n", 49) + "Subject: h\n\nb\n", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "hops-limit-5", msg: rep("Received: from x by y\n", 4) + "Subject: h\n\nb\n", sender: "a@example.com", rcpts: []string{"b@example.net"},
		cf: map[string]string{"hopcount_limit": "5"}},
	{name: "size-fits", msg: "Subject: s\n\n" + rep("0123456789\n", 190), sender: "a@example.com", rcpts: []string{"b@example.net"},
		cf: map[string]string{"message_size_limit": "3000"}},
	{name: "size-over", msg: "Subject: s\n\n" + rep("0123456789\n", 240), sender: "a@example.com", rcpts: []string{"b@example.net"},
		cf: map[string]string{"message_size_limit": "3000"}},
	{name: "size-over-big", msg: "Subject: s\n\n" + rep("0123456789\n", 1000), sender: "a@example.com", rcpts: []string{"b@example.net"},
		cf: map[string]string{"message_size_limit": "12000"}},
	{name: "no-recipients", msg: "Subject: none\n\nb\n", sender: "a@example.com"},
	{name: "garbage-header", msg: "Subject: g\nthis is not a header\nX-After: y\n\nbody\n", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "obsolete-header-syntax", msg: "Subject  : spaced\nX-Tab\t:\tv\nMessage-Id:   <folded@x>\n\nb\n", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "message-id-present", msg: "Message-ID:\n <abc@example.com>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nFrom: x@example.com\n\nb\n", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "header-size-limit", msg: "Subject: big\nX-Big: start\n" + rep(" continuation line of text\n", 60) + "To: b@example.net\n\nb\n",
		sender: "a@example.com", rcpts: []string{"b@example.net"}, cf: map[string]string{"header_size_limit": "1000"}},
	{name: "line-length-600", msg: "Subject: " + rep("s", 1500) + "\n\n" + rep("b", 1300) + "\n", sender: "a@example.com", rcpts: []string{"b@example.net"},
		cf: map[string]string{"line_length_limit": "600"}},
	{name: "long-queue-ids", msg: "Subject: long\n\nb\n", sender: "a@example.com", rcpts: []string{"b@example.net"},
		cf: map[string]string{"enable_long_queue_ids": "yes"}},
	{name: "drop-custom-header", msg: "X-Drop-Me: yes\nSubject: keep\nBcc: kept@example.net\n\nb\n", sender: "a@example.com", rcpts: []string{"b@example.net"},
		cf: map[string]string{"message_drop_headers": "x-drop-me, return-path"}},
	{name: "no-8bit-detect", msg: "Content-Transfer-Encoding: 8bit\nSubject: e\n\nb\n", sender: "a@example.com", rcpts: []string{"b@example.net"},
		cf: map[string]string{"detect_8bit_encoding_header": "no"}},
	{name: "no-stray-crlf", msg: "Subject: crlf\r\nTo: b@example.net\r\n\r\nline1\r\n", sender: "a@example.com", rcpts: []string{"b@example.net"},
		cf: map[string]string{"cleanup_replace_stray_cr_lf": "no"}},
	{name: "dup-filter-1", msg: "Subject: d\n\nb\n", sender: "a@example.com", rcpts: []string{"x@example.net", "y@example.net", "x@example.net", "y@example.net"},
		cf: map[string]string{"duplicate_filter_limit": "1"}},
	{name: "no-orig-recipient", msg: "Subject: d\n\nb\n", sender: "a@example.com", rcpts: []string{"x", "x@research.example.org", "X@Research.Example.Org"},
		cf: map[string]string{"enable_original_recipient": "no"}},
	{name: "delay-warning", msg: "Subject: w\n\nb\n", sender: "a@example.com", rcpts: []string{"b@example.net"},
		cf: map[string]string{"delay_warning_time": "4h"}},
	{name: "attr-count-limit", msg: "Subject: a\n\nb\n", sender: "a@example.com", rcpts: []string{"b@example.net"},
		cf: map[string]string{"queue_file_attribute_count_limit": "5"}},
	{name: "undisclosed-recipients", msg: "Subject: u\n\nb\n", sender: "a@example.com", rcpts: []string{"b@example.net"},
		cf: map[string]string{"undisclosed_recipients_header": "To: undisclosed-recipients:;"}},
	{name: "append-dot-mydomain", msg: "To: user@host, other\nSubject: a\n\nb\n", sender: "me@host", rcpts: []string{"user@host", "x@[10.0.0.1]", "y@host.", "plain"},
		cf: map[string]string{"append_dot_mydomain": "yes"}},
	{name: "myorigin-and-hacks-off", msg: "To: a!b, c%d, e\nSubject: a\n\nb\n", sender: "s", rcpts: []string{"a!b", "c%d", "e"},
		cf: map[string]string{"myorigin": "origin.example", "swap_bangpath": "no", "allow_percent_hack": "no"}},
	{name: "content-filter", msg: "Subject: f\n\nb\n", sender: "a@example.com", rcpts: []string{"b@example.net"},
		cf: map[string]string{"content_filter": "smtp:[127.0.0.1]:10025"}},
	{name: "disable-mime", msg: "Content-Type: multipart/mixed; boundary=B\nSubject: m\n\n--B\nContent-Transfer-Encoding: 8bit\n\nx\n--B--\n", sender: "a@example.com", rcpts: []string{"b@example.net"},
		cf: map[string]string{"disable_mime_input_processing": "yes"}},
	{name: "cte-8bit-trailing-space", msg: "Content-Transfer-Encoding: 8bit \nSubject: e\n\nb\n", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "many-recipients", msg: "Subject: m\n\nb\n", sender: "a@example.com", rcpts: []string{"r1@example.net", "r2@example.net", "r3@example.net", "r4@example.net", "r5@example.net"}},
	{name: "from-line-long", msg: "From " + rep("f", 3000) + "\n Subject: cont\nSubject: x\n\nb\n", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "digest", msg: "Content-Type: multipart/digest; boundary=D\nSubject: dg\n\n--D\n\nSubject: in digest\nContent-Transfer-Encoding: 8bit\n\nbody\n--D--\n", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "resent-message-id", msg: "Resent-Message-Id: <r@x>\nResent-Date: Mon, 1 Jan 2024 00:00:00 +0000\nSubject: rm\n\nb\n", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "header-from-obsolete", msg: "Subject: o\n\nb\n", sender: "a@example.com", rcpts: []string{"b@example.net"},
		cf: map[string]string{"header_from_format": "obsolete"}},
	{name: "header-from-obsolete-null-sender", msg: "Subject: o\n\nb\n", sender: "", rcpts: []string{"b@example.net"},
		cf: map[string]string{"header_from_format": "obsolete"}},
	{name: "bare-cr", msg: "Subject: a\rb\nX-Y: c\r\n\nline\rmore\nend\r", sender: "a@example.com", rcpts: []string{"b@example.net"}},
	{name: "empty-recipient-among-others", msg: "Subject: e\n\nb\n", sender: "a@example.com", rcpts: []string{"", "b@example.net", "", "MAILER-DAEMON"}},
	{name: "utf8-autodetect", msg: "Subject: gr\xc3\xbc\xc3\x9fe\n\nb\n", sender: "a@example.com", rcpts: []string{"j\xc3\xb6rg@example.net", "b@example.net"},
		cf: map[string]string{"smtputf8_enable": "yes", "smtputf8_autodetect_classes": "qmqpd"}},
	{name: "header-rewrite-comments", msg: "From: (A very long comment " + rep("xx ", 100) + ") alice\nSubject: c\n\nb\n", sender: "a@example.com", rcpts: []string{"b@example.net"}},
}

// cfKey identifies a main.cf variant.
func cfKey(cf map[string]string) string {
	var keys []string
	for k, v := range cf {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	return strings.Join(keys, "\n")
}

const goldenDir = "testdata/golden"

// TestGoldenGenerate regenerates testdata/golden from a real Postfix
// instance when -golden.update is given.
func TestGoldenGenerate(t *testing.T) {
	if !*updateGolden {
		t.Skip("use -golden.update to regenerate the golden files")
	}
	groups := map[string][]goldenCase{}
	var order []string
	only := regexp.MustCompile(*updateOnly)
	for _, c := range goldenCases {
		if !only.MatchString(c.name) {
			continue
		}
		k := cfKey(c.cf)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], c)
	}
	if err := os.MkdirAll(goldenDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, k := range order {
		cases := groups[k]
		inst := postfixtest.Start(t, cases[0].cf)
		for _, c := range cases {
			inst.ClearIncoming()
			before := len(inst.LogLines())
			reply := inst.SendQMQP(postfixtest.Packet([]byte(c.msg), c.sender, c.rcpts...))
			var lines []string
			for i := 0; ; i++ {
				all := inst.LogLines()
				lines = all[before:]
				if len(lines) > 0 && strings.HasPrefix(lines[len(lines)-1], "qmqpd: disconnect from") {
					break
				}
				if i > 500 {
					t.Fatalf("%s: no disconnect line in log:\n%s", c.name, strings.Join(lines, "\n"))
				}
				time.Sleep(10 * time.Millisecond)
			}
			base := filepath.Join(goldenDir, c.name)
			must(t, os.WriteFile(base+".reply", reply, 0o644))
			must(t, os.WriteFile(base+".log", []byte(strings.Join(lines, "\n")+"\n"), 0o644))
			files := inst.IncomingFiles()
			_ = os.Remove(base + ".qf")
			for _, b := range files {
				must(t, os.WriteFile(base+".qf", b, 0o644))
			}
			if len(files) > 1 {
				t.Fatalf("%s: %d files in incoming", c.name, len(files))
			}
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var (
	clientLine = regexp.MustCompile(`^qmqpd: ([0-9A-Za-z]+): client=`)
	msgIDLine  = regexp.MustCompile(`^cleanup: [0-9A-Za-z]+: (?:resent-)?message-id=<(\d{14})\.`)
)

// settingsFor builds Settings the way a daemon would: from a main.cf with
// the postfixtest defaults plus the case's settings.
func settingsFor(t testing.TB, cf map[string]string) *Settings {
	t.Helper()
	all := postfixtest.Defaults()
	for k, v := range cf {
		all[k] = v
	}
	dir := t.TempDir()
	var b strings.Builder
	for k, v := range all {
		fmt.Fprintf(&b, "%s = %s\n", k, v)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := maincf.Load(maincf.Options{ConfigDir: dir})
	if err != nil {
		t.Fatalf("maincf: %v", err)
	}
	s, err := SettingsFromConfig(c)
	if err != nil {
		t.Fatalf("settings: %v", err)
	}
	s.Location = time.UTC
	return s
}

// TestGolden checks that, for every golden case, this package writes the
// same queue file, gives the same reply and logs the same cleanup lines as
// real Postfix did, given the same queue ID, times and client port.
func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			r := replayGolden(t, c)
			if r.gotReply != string(r.wantReply) {
				t.Errorf("reply %q, want %q", r.gotReply, r.wantReply)
			}
			if diff := cmp.Diff(r.wantLog, r.gotLog); diff != "" {
				t.Errorf("cleanup log lines differ (-postfix +ours):\n%s", diff)
			}
			if diff := cmp.Diff(dumpRecords(r.wantQF), dumpRecords(r.got)); diff != "" {
				t.Errorf("queue file differs (-postfix +ours):\n%s", diff)
			} else if !bytes.Equal(r.wantQF, r.got) {
				t.Errorf("queue file bytes differ")
			}
		})
	}
}

// goldenResult is what real Postfix and this package did with one golden
// case.
type goldenResult struct {
	wantReply, wantQF []byte
	wantLog           []string
	gotReply          string
	got               []byte // our queue file (nil when not queued)
	gotLog            []string
}

// replayGolden runs one golden case through this package with the queue
// ID, times and client port real Postfix used.
func replayGolden(t *testing.T, c goldenCase) goldenResult {
	t.Helper()
	g := prepareGolden(t, c)
	// The real instance has no qmgr, so its cleanup cannot wake it.
	store := &memStore{id: g.qid, created: g.created, wakeErr: errNoQmgr}
	status, reason, got, gotLog := runCleanup(t, g.s, store, g.now, g.records)
	return g.result(status, reason, got, gotLog)
}

// errNoQmgr is what waking the golden instance's absent qmgr gave.
var errNoQmgr = errors.New("unable to look up public/qmgr: No such file or directory")

// goldenRun is one golden case ready to replay: what Postfix did, and the
// records, settings, queue ID and times to give this package.
type goldenRun struct {
	wantReply, wantQF []byte
	wantLog           []string
	s                 *Settings
	records           []rec
	qid               string
	created, now      time.Time
}

// result pairs what Postfix did with what this package did.
func (g goldenRun) result(status int, reason string, got []byte, gotLog []string) goldenResult {
	code, text := Reply(status, reason, g.qid)
	return goldenResult{
		wantReply: g.wantReply, wantQF: g.wantQF, wantLog: g.wantLog,
		gotReply: fmt.Sprintf("%d:%c%s,", len(text)+1, code, text), got: got, gotLog: gotLog,
	}
}

// prepareGolden reads one golden case and prepares its replay.
func prepareGolden(t testing.TB, c goldenCase) goldenRun {
	t.Helper()
	base := filepath.Join(goldenDir, c.name)
	wantReply, err := os.ReadFile(base + ".reply")
	if err != nil {
		t.Fatalf("golden file missing (run with -golden.update as root): %v", err)
	}
	logText, err := os.ReadFile(base + ".log")
	must(t, err)
	wantQF, err := os.ReadFile(base + ".qf")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var qid string
	var created time.Time
	var wantLog []string
	for _, l := range strings.Split(strings.TrimSpace(string(logText)), "\n") {
		if m := clientLine.FindStringSubmatch(l); m != nil {
			qid = m[1]
		}
		if m := msgIDLine.FindStringSubmatch(l); m != nil {
			created, _ = time.Parse("20060102150405", m[1])
		}
		if strings.HasPrefix(l, "cleanup: ") {
			wantLog = append(wantLog, strings.TrimPrefix(l, "cleanup: "))
		}
	}
	if qid == "" {
		t.Fatalf("no queue ID in %s.log", base)
	}
	arrival := created
	if arrival.IsZero() {
		arrival = time.Unix(1795530772, 599664)
	}
	now, port := arrival, "40000"
	if wantQF != nil {
		r := queuefile.NewReader(bytes.NewReader(wantQF))
		for {
			rc, err := r.Next()
			if err != nil {
				break
			}
			d := string(rc.Data)
			switch {
			case rc.Type == 'T':
				sec, usec, _ := parseTime(rc.Data)
				arrival = time.Unix(sec, usec*1000)
			case rc.Type == 'A' && strings.HasPrefix(d, "create_time="):
				sec, _ := strconv.ParseInt(d[len("create_time="):], 10, 64)
				now = time.Unix(sec, 0)
			case rc.Type == 'A' && strings.HasPrefix(d, "client_port="):
				port = d[len("client_port="):]
			}
		}
	}
	if created.IsZero() {
		created = now
	}
	s := settingsFor(t, c.cf)
	records, refusal := qmqpdRecords(submission{
		msg: []byte(c.msg), sender: c.sender, rcpts: c.rcpts, arrival: arrival, port: port,
		contentFilter: postfixtestValue(c.cf, "content_filter"), lineLimit: s.LineLengthLimit,
		hostname: s.MyHostname, queueID: qid,
	}, s.VERPDelimiterFilter)
	if refusal != "" {
		t.Fatalf("qmqpd refusal %q: not a cleanup case", refusal)
	}
	return goldenRun{wantReply: wantReply, wantQF: wantQF, wantLog: wantLog, s: s, records: records, qid: qid, created: created, now: now}
}

func postfixtestValue(cf map[string]string, name string) string {
	if v, ok := cf[name]; ok {
		return v
	}
	return postfixtest.Defaults()[name]
}

// dumpRecords lists a queue file's records as readable lines.
func dumpRecords(b []byte) []string {
	if b == nil {
		return nil
	}
	var out []string
	r := queuefile.NewReader(bytes.NewReader(b))
	for {
		rc, err := r.Next()
		if err != nil {
			if err.Error() != "EOF" {
				out = append(out, "error: "+err.Error())
			}
			break
		}
		out = append(out, fmt.Sprintf("%6d %c %q", rc.Offset, rc.Type, rc.Data))
	}
	return out
}
