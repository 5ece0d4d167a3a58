package queue

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/cleanup"
	"github.com/qmqpd-go/qmqpd/internal/postfixtest"
	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// delivery is one message the SMTP sink received.
type delivery struct {
	from  string
	rcpts []string
	data  []byte // with CRLF turned into LF and dots unstuffed
}

// sink is a minimal SMTP server that accepts everything.
type sink struct {
	l    net.Listener
	mu   sync.Mutex
	got  []delivery
	cond chan struct{}
}

func startSink(t *testing.T) *sink {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{l: l, cond: make(chan struct{}, 100)}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *sink) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	reply := func(text string) {
		w.WriteString(text + "\r\n")
		w.Flush()
	}
	reply("220 sink.example ESMTP")
	var cur delivery
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(verb, "EHLO"):
			reply("250-sink.example\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING")
		case strings.HasPrefix(verb, "HELO"):
			reply("250 sink.example")
		case strings.HasPrefix(verb, "MAIL FROM:"):
			cur = delivery{from: addrOf(line[len("MAIL FROM:"):])}
			reply("250 ok")
		case strings.HasPrefix(verb, "RCPT TO:"):
			cur.rcpts = append(cur.rcpts, addrOf(line[len("RCPT TO:"):]))
			reply("250 ok")
		case verb == "DATA":
			reply("354 go ahead")
			var data bytes.Buffer
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				l = strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
				if l == "." {
					break
				}
				l = strings.TrimPrefix(l, ".")
				data.WriteString(l + "\n")
			}
			cur.data = data.Bytes()
			s.mu.Lock()
			s.got = append(s.got, cur)
			s.mu.Unlock()
			s.cond <- struct{}{}
			reply("250 queued")
		case verb == "QUIT":
			reply("221 bye")
			return
		default:
			reply("250 ok")
		}
	}
}

// addrOf extracts the address of "<addr> PARAMS".
func addrOf(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '>'); strings.HasPrefix(s, "<") && i > 0 {
		return s[1:i]
	}
	return s
}

// instance is a private Postfix (internal/postfixtest) with qmgr and the
// smtp client relaying everything to the sink.
type instance struct {
	*postfixtest.Instance
	queue string
	owner *queuefile.Owner
}

func startInstance(t *testing.T, relay string) *instance {
	pi := postfixtest.StartWith(t, postfixtest.Options{
		MainCF: map[string]string{
			"mydestination":                   "",
			"relayhost":                       "[" + strings.Replace(relay, ":", "]:", 1),
			"smtp_line_length_limit":          "0",
			"smtp_dns_support_level":          "disabled",
			"smtp_connection_cache_on_demand": "no",
			"queue_run_delay":                 "1s",
			"minimal_backoff_time":            "1s",
			"maximal_backoff_time":            "2s",
		},
		ExtraServices: []string{
			"qmgr      unix  n       -       n       300     1       qmgr",
			"bounce    unix  -       -       n       -       0       bounce",
			"defer     unix  -       -       n       -       0       bounce",
			"trace     unix  -       -       n       -       0       bounce",
			"smtp      unix  -       -       n       -       -       smtp",
			"retry     unix  -       -       n       -       -       error",
			"error     unix  -       -       n       -       -       error",
		},
	})
	pf, err := user.Lookup("postfix")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(pf.Uid)
	gid, _ := strconv.Atoi(pf.Gid)
	inst := &instance{Instance: pi, queue: pi.QueueDir, owner: &queuefile.Owner{UID: uid, GID: gid}}
	// Wait until qmgr listens.
	for i := 0; ; i++ {
		if _, err := os.Stat(filepath.Join(inst.queue, "public", "qmgr")); err == nil {
			break
		}
		if i > 500 {
			t.Fatalf("no public/qmgr:\n%s", inst.logText())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return inst
}

func (inst *instance) logText() string { return inst.Log() }

// message is one submission written with our cleanup.
type message struct {
	sender string
	rcpts  []string
	body   string
}

// writeMessage runs one message through our cleanup into the instance's
// incoming queue (which wakes qmgr) and returns its queue file.
func writeMessage(t *testing.T, inst *instance, m message) (string, []byte) {
	s := cleanup.DefaultSettings("research.example.org", "example.org")
	s.Location = time.UTC
	q := &queuefile.Queue{Dir: inst.queue, Owner: inst.owner}
	tee := &teeStore{inner: cleanup.QueueStore{Queue: q}}
	c := &cleanup.Cleanup{Settings: s, Store: tee, Log: func(warning bool, text string) {
		if warning {
			t.Errorf("cleanup warning: %s", text)
		}
	}}
	st, err := c.Open(context.Background(), s.QMQPFlags())
	if err != nil {
		t.Fatal(err)
	}
	put := func(typ byte, data string) {
		if err := st.Record(typ, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	put('T', fmt.Sprintf("%d %d", now.Unix(), now.Nanosecond()/1000))
	put('S', m.sender)
	for _, a := range []string{"log_client_name=localhost", "log_client_address=127.0.0.1", "log_client_port=40000",
		"log_message_origin=localhost[127.0.0.1]", "log_protocol_name=QMQP", "client_name=localhost",
		"client_address=127.0.0.1", "client_port=40000", "client_address_type=2", "protocol_name=QMQP"} {
		put('A', a)
	}
	for _, r := range m.rcpts {
		put('R', r)
	}
	put('M', "")
	put('N', "Received: from localhost (localhost [127.0.0.1])")
	put('N', "\tby research.example.org (Postfix) with QMQP id "+st.ID()+"; "+cleanup.MailDate(now, time.UTC))
	for _, line := range strings.SplitAfter(m.body, "\n") {
		if line == "" {
			continue
		}
		text := strings.TrimSuffix(line, "\n")
		for len(text) > s.LineLengthLimit {
			put('L', text[:s.LineLengthLimit])
			text = text[s.LineLengthLimit:]
		}
		if strings.HasSuffix(line, "\n") {
			put('N', text)
		} else {
			put('L', text)
		}
	}
	put('X', "")
	put('E', "")
	if status, reason := st.Finish(); status != cleanup.StatOK {
		t.Fatalf("cleanup: status %#x %s", status, reason)
	}
	return st.ID(), tee.records.Bytes()
}

// teeStore is the real QueueStore, keeping a copy of every record written
// (qmgr may take the file away as soon as it is ready).
type teeStore struct {
	inner   cleanup.QueueStore
	records bytes.Buffer
}

func (s *teeStore) Create(now time.Time) (cleanup.QueueFile, error) {
	f, err := s.inner.Create(now)
	if err != nil {
		return nil, err
	}
	return teeFile{f, &s.records}, nil
}

// WakeQmgr lets cleanup wake qmgr as it does with the real store.
func (s *teeStore) WakeQmgr() error { return s.inner.WakeQmgr() }

type teeFile struct {
	cleanup.QueueFile
	copy *bytes.Buffer
}

func (f teeFile) Record(typ byte, data []byte) error {
	f.copy.Write(queuefile.AppendRecord(nil, typ, data))
	return f.QueueFile.Record(typ, data)
}

// content returns the message content of a queue file as a delivery
// shows it: N records end a line, L records continue it.
func content(t *testing.T, qf []byte) []byte {
	var out bytes.Buffer
	r := queuefile.NewReader(bytes.NewReader(qf))
	in := false
	for {
		rc, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case rc.Type == 'M':
			in = true
		case rc.Type == 'X':
			return out.Bytes()
		case in && rc.Type == 'N':
			out.Write(rc.Data)
			out.WriteByte('\n')
		case in && rc.Type == 'L':
			out.Write(rc.Data)
		}
	}
	t.Fatal("no extracted segment")
	return nil
}

// TestQmgrDeliversOurFiles writes messages with our cleanup into the
// incoming queue of a real Postfix 3.7.11 and checks that its qmgr picks
// each one up and the smtp client delivers it with the same envelope and
// exactly the content of the queue file.
func TestQmgrDeliversOurFiles(t *testing.T) {
	sk := startSink(t)
	inst := startInstance(t, sk.l.Addr().String())
	msgs := []message{
		{"alice@example.com", []string{"bob@example.net"}, "Subject: one\nFrom: Alice <alice@example.com>\nTo: bob@example.net\n\nHello.\n.leading dot\n"},
		{"list-bounces@example.com", []string{"a@example.net", "b@example.net", "c@example.org"}, "Subject: three recipients\n\nbody\n"},
		{"", []string{"postmaster@example.net"}, "Subject: from the null sender\n\nbounce-like\n"},
		{"carol@example.com", []string{"dave@example.net"}, "Subject: long\n\n" + strings.Repeat("x", 5000) + "\nshort\n" + strings.Repeat("y", 2048) + "\n"},
		{"erin@example.com", []string{"frank@example.net"}, "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\nSubject: 8bit\n\ncaf\xc3\xa9\n"},
		{"gina", []string{"hank"}, "To: hank\nSubject: unqualified\n\nrewritten to @research.example.org\n"},
	}
	type sent struct {
		id      string
		content []byte
		msg     message
	}
	var all []sent
	for _, m := range msgs {
		id, qf := writeMessage(t, inst, m)
		all = append(all, sent{id, content(t, qf), m})
	}
	deadline := time.After(60 * time.Second)
	for n := 0; n < len(msgs); {
		select {
		case <-sk.cond:
			n++
		case <-deadline:
			t.Fatalf("only %d of %d messages delivered in 60 s:\n%s", n, len(msgs), inst.logText())
		}
	}
	sk.mu.Lock()
	got := append([]delivery(nil), sk.got...)
	sk.mu.Unlock()
	for _, s := range all {
		var match *delivery
		for i := range got {
			if bytes.Equal(got[i].data, s.content) {
				match = &got[i]
			}
		}
		if match == nil {
			t.Errorf("%s: no delivery with the queue file's content:\n%s", s.id, s.content)
			continue
		}
		wantFrom := s.msg.sender
		if wantFrom != "" && !strings.Contains(wantFrom, "@") {
			wantFrom += "@research.example.org"
		}
		var wantRcpts []string
		for _, r := range s.msg.rcpts {
			if !strings.Contains(r, "@") {
				r += "@research.example.org"
			}
			wantRcpts = append(wantRcpts, r)
		}
		sort.Strings(match.rcpts)
		sort.Strings(wantRcpts)
		if match.from != wantFrom || strings.Join(match.rcpts, ",") != strings.Join(wantRcpts, ",") {
			t.Errorf("%s: delivered from <%s> to %v, want <%s> to %v", s.id, match.from, match.rcpts, wantFrom, wantRcpts)
		}
		// qmgr removes the file after the smtp client reported success.
		for i := 0; !strings.Contains(inst.logText(), s.id+": removed"); i++ {
			if i > 3000 {
				t.Errorf("%s: qmgr did not log its removal", s.id)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Nothing was left behind or deferred.
	for i := 0; ; i++ {
		left := 0
		for _, q := range []string{"incoming", "active", "deferred", "corrupt"} {
			_ = filepath.WalkDir(filepath.Join(inst.queue, q), func(p string, d os.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					left++
				}
				return nil
			})
		}
		if left == 0 {
			break
		}
		if i > 500 {
			t.Fatalf("%d queue files left behind:\n%s", left, inst.logText())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(inst.logText(), "warning:") {
		t.Errorf("Postfix logged warnings:\n%s", inst.logText())
	}
}
