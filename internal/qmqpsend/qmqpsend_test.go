package qmqpsend

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/qmqpd-go/qmqpd/internal/qmqp"
)

type got struct {
	content, sender string
	rcpts           []string
}

// server answers every packet with reply and records what it received.
func server(t *testing.T, reply qmqp.Reply) (addr string, received func() []got) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var all []got
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r := qmqp.NewReader(c, qmqp.Limits{MessageSize: 64 << 20, AddressSize: 2048})
			var g got
			m, _, err := r.Message()
			if err == nil {
				var b []byte
				b, err = io.ReadAll(m)
				g.content = string(b)
			}
			if err == nil {
				g.sender, err = r.Sender()
			}
			for err == nil {
				var rc string
				var ok bool
				if rc, ok, err = r.NextRecipient(); !ok {
					break
				}
				g.rcpts = append(g.rcpts, rc)
			}
			mu.Lock()
			all = append(all, g)
			mu.Unlock()
			if err == nil {
				qmqp.WriteReply(c, reply.Code, reply.Text)
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String(), func() []got {
		mu.Lock()
		defer mu.Unlock()
		return append([]got(nil), all...)
	}
}

func run(args []string, env map[string]string, stdin io.Reader) (int, string, string) {
	var out, errb strings.Builder
	code := Run(append([]string{"qmqp-send"}, args...), func(k string) string { return env[k] }, stdin, &out, &errb)
	return code, out.String(), errb.String()
}

func TestSendStatuses(t *testing.T) {
	tests := []struct {
		reply qmqp.Reply
		code  int
	}{
		{qmqp.Queued("93E5698A2F3"), ExitOK},
		{qmqp.Reply{Code: 'D', Text: "Error: no recipients specified"}, ExitHard},
		{qmqp.Reply{Code: 'Z', Text: "Error: server configuration error"}, ExitSoft},
	}
	for _, tt := range tests {
		addr, received := server(t, tt.reply)
		code, out, errText := run([]string{"-s", addr, "-f", "me@example.org", "a@example.com", "b@example.com"}, nil,
			strings.NewReader("Subject: x\n\nbody\n"))
		if code != tt.code || out != string(tt.reply.Code)+" "+tt.reply.Text+"\n" || errText != "" {
			t.Errorf("reply %v: exit %d, stdout %q, stderr %q", tt.reply, code, out, errText)
		}
		g := received()
		if len(g) != 1 || g[0].content != "Subject: x\n\nbody\n" || g[0].sender != "me@example.org" ||
			strings.Join(g[0].rcpts, " ") != "a@example.com b@example.com" {
			t.Errorf("server received %+v", g)
		}
	}
}

func TestServersInOrder(t *testing.T) {
	ok, _ := server(t, qmqp.Queued("X"))
	dead := filepath.Join(t.TempDir(), "nobody.sock")
	code, out, _ := run([]string{"-q", "-s", "unix:" + dead, "-s", ok, "r"}, nil, strings.NewReader("x"))
	if code != ExitOK || out != "" {
		t.Errorf("dead then ok: exit %d, stdout %q", code, out)
	}
	// $QMQP_SERVERS when there is no -s.
	code, out, _ = run([]string{"r"}, map[string]string{"QMQP_SERVERS": "unix:" + dead + ", " + ok}, strings.NewReader("x"))
	if code != ExitOK || out != "K Ok: queued as X\n" {
		t.Errorf("QMQP_SERVERS: exit %d, stdout %q", code, out)
	}
	code, _, errText := run([]string{"-s", "unix:" + dead, "r"}, nil, strings.NewReader("x"))
	want := "qmqp-send: fatal: unable to connect to unix:" + dead + ": no such file or directory\n"
	if code != ExitNoConnect || errText != want {
		t.Errorf("dead: exit %d, stderr %q, want %q", code, errText, want)
	}
}

func TestBadReply(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.CopyN(io.Discard, c, 5)
		c.Write([]byte("Kok 1 qp 2\n"))
		c.Close()
	}()
	code, _, errText := run([]string{"-s", ln.Addr().String(), "r"}, nil, strings.NewReader("x"))
	if code != ExitConnFailed || !strings.Contains(errText, qmqp.ErrBadReply.Error()) {
		t.Errorf("exit %d, stderr %q", code, errText)
	}
}

func TestInputFileAndSpool(t *testing.T) {
	addr, received := server(t, qmqp.Queued("F"))
	file := filepath.Join(t.TempDir(), "msg")
	os.WriteFile(file, []byte("from a file\n"), 0o644)
	if code, _, errText := run([]string{"-s", addr, "-i", file, "r"}, nil, strings.NewReader("")); code != 0 {
		t.Fatalf("exit %d: %s", code, errText)
	}
	big := strings.Repeat("0123456789abcdef", spoolLimit/16+100)
	if code, _, errText := run([]string{"-s", addr, "r"}, nil, strings.NewReader(big)); code != 0 {
		t.Fatalf("big: exit %d: %s", code, errText)
	}
	g := received()
	if len(g) != 2 || g[0].content != "from a file\n" || g[1].content != big {
		t.Errorf("received %d messages", len(g))
	}
	code, _, errText := run([]string{"-s", addr, "-i", filepath.Join(t.TempDir(), "none"), "r"}, nil, nil)
	if code != ExitRead || !strings.Contains(errText, "no such file") {
		t.Errorf("missing input: exit %d, %q", code, errText)
	}
	code, _, _ = run([]string{"-s", addr, "r"}, nil, errReader{})
	if code != ExitRead {
		t.Errorf("read error: exit %d", code)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"-x", "r"}, {"-s", "unix:", "r"}, {"-s", "[::1", "r"}, {"--timeout=x", "r"}} {
		code, out, errText := run(args, nil, strings.NewReader(""))
		if code != ExitUsage || out != "" || !strings.HasPrefix(errText, "qmqp-send: fatal: ") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errText)
		}
	}
	code, out, _ := run([]string{"--help"}, nil, nil)
	if code != 0 || !strings.Contains(out, "Exit status") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
}
