package qmqp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/testenv"
)

// received is what a test server parsed from one packet.
type received struct {
	Content string
	Sender  string
	Rcpts   []string
}

// testServer accepts connections on ln and runs handle for each until the
// test ends.
func testServer(t *testing.T, ln net.Listener, handle func(net.Conn)) {
	t.Helper()
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c)
			}()
		}
	}()
}

func listenTCP(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// parsingHandler parses a packet, sends got on ch and answers with reply.
func parsingHandler(reply Reply, ch chan<- received) func(net.Conn) {
	return func(c net.Conn) {
		defer c.Close()
		r := NewReader(c, Limits{MessageSize: 1 << 20, AddressSize: 2048})
		var got received
		content, _, err := r.Message()
		if err == nil {
			var b []byte
			b, err = io.ReadAll(content)
			got.Content = string(b)
		}
		if err == nil {
			got.Sender, err = r.Sender()
		}
		for err == nil {
			var rc string
			var ok bool
			rc, ok, err = r.NextRecipient()
			if !ok {
				break
			}
			got.Rcpts = append(got.Rcpts, rc)
		}
		if err != nil {
			var qe *Error
			if errors.As(err, &qe) {
				if rep, ok := qe.Reply(); ok {
					WriteReply(c, rep.Code, rep.Text)
				}
			}
			return
		}
		if ch != nil {
			ch <- got
		}
		WriteReply(c, reply.Code, reply.Text)
	}
}

func TestClientSend(t *testing.T) {
	ln := listenTCP(t)
	ch := make(chan received, 1)
	testServer(t, ln, parsingHandler(Queued("ABC"), ch))
	msg := []byte("Subject: hi\n\nbody\n")
	r, err := Send(context.Background(), ln.Addr().String(), msg, "me@example.org", []string{"a@example.com", "b@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if r != Queued("ABC") {
		t.Errorf("reply = %v", r)
	}
	got := <-ch
	want := received{Content: string(msg), Sender: "me@example.org", Rcpts: []string{"a@example.com", "b@example.com"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("server got %+v, want %+v", got, want)
	}
}

func TestPacketEncoding(t *testing.T) {
	got := string(AppendPacket(nil, []byte("hello"), "a@b", []string{"c@d.e"}))
	want := "22:5:hello,3:a@b,5:c@d.e,,"
	if got != want {
		t.Errorf("AppendPacket = %q, want %q", got, want)
	}
	var b bytes.Buffer
	if err := WritePacket(&b, strings.NewReader("hello"), 5, "a@b", []string{"c@d.e"}); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("WritePacket = %q, want %q", b.String(), want)
	}
	if err := WritePacket(io.Discard, strings.NewReader("hell"), 5, "", nil); err == nil {
		t.Error("WritePacket with short content: no error")
	}
}

// closedAddr returns a loopback address nobody listens on.
func closedAddr(t *testing.T) string {
	ln := listenTCP(t)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestClientServerOrder(t *testing.T) {
	okLn := listenTCP(t)
	testServer(t, okLn, parsingHandler(Queued("OK1"), nil))
	zLn := listenTCP(t)
	testServer(t, zLn, parsingHandler(Reply{StatusRetry, "Error: try later"}, nil))
	dead := closedAddr(t)

	// An unreachable server is skipped.
	c := &Client{Servers: []string{dead, okLn.Addr().String()}}
	r, err := c.Send(context.Background(), []byte("x"), "", []string{"r"})
	if err != nil || r.Code != StatusOK {
		t.Errorf("dead, ok: %v, %v", r, err)
	}
	// Like qmail-qmqpc, an answer (even Z) is final.
	c = &Client{Servers: []string{zLn.Addr().String(), okLn.Addr().String()}}
	r, err = c.Send(context.Background(), []byte("x"), "", []string{"r"})
	if err != nil || r != (Reply{StatusRetry, "Error: try later"}) {
		t.Errorf("Z, ok: %v, %v", r, err)
	}
	// Nothing reachable.
	c = &Client{Servers: []string{dead, dead}}
	_, err = c.Send(context.Background(), []byte("x"), "", []string{"r"})
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Server != dead {
		t.Errorf("dead, dead: error %v, want *ConnectError for %s", err, dead)
	}
	if _, err := (&Client{}).Send(context.Background(), nil, "", nil); !errors.Is(err, ErrNoServers) {
		t.Errorf("no servers: %v", err)
	}
}

func TestClientUnixAndBadReply(t *testing.T) {
	path := filepath.Join(t.TempDir(), "qmqp.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	testServer(t, ln, parsingHandler(Queued("U1"), nil))
	r, err := Send(context.Background(), "unix:"+path, []byte("x"), "s", []string{"r"})
	if err != nil || r != Queued("U1") {
		t.Errorf("unix: %v, %v", r, err)
	}

	bad := listenTCP(t)
	testServer(t, bad, func(c net.Conn) {
		defer c.Close()
		io.Copy(io.Discard, io.LimitReader(c, 10))
		c.Write([]byte("Kok 1234 qp 99\n"))
	})
	_, err = Send(context.Background(), bad.Addr().String(), []byte("x"), "s", []string{"r"})
	if !errors.Is(err, ErrBadReply) {
		t.Errorf("bad reply: error %v, want ErrBadReply", err)
	}
}

func TestServerAddress(t *testing.T) {
	tests := []struct{ in, network, addr string }{
		{"127.0.0.1:628", "tcp", "127.0.0.1:628"},
		{"mail.example.com", "tcp", "mail.example.com:628"},
		{"[::1]:6000", "tcp", "[::1]:6000"},
		{"[::1]", "tcp", "[::1]:628"},
		{"::1", "tcp", "[::1]:628"},
		{"unix:/run/qmqp", "unix", "/run/qmqp"},
		{"/run/qmqp", "unix", "/run/qmqp"},
	}
	for _, tt := range tests {
		n, a, err := ServerAddress(tt.in)
		if err != nil || n != tt.network || a != tt.addr {
			t.Errorf("ServerAddress(%q) = %q, %q, %v", tt.in, n, a, err)
		}
	}
	for _, in := range []string{"", "unix:", "[::1"} {
		if _, _, err := ServerAddress(in); err == nil {
			t.Errorf("ServerAddress(%q): no error", in)
		}
	}
}

// TestReplyEarly checks that a client that writes a whole large packet
// before reading gets the early reply, not a connection reset.
func TestReplyEarly(t *testing.T) {
	ln := listenTCP(t)
	want := NotAuthorized("localhost[127.0.0.1]")
	testServer(t, ln, func(c net.Conn) {
		ReplyEarly(c, want, Linger{Time: 5 * time.Second, Bytes: 4 << 20})
	})
	msg := bytes.Repeat([]byte("0123456789abcdef\n"), 1<<16) // 1.1 MB
	r, err := Send(context.Background(), ln.Addr().String(), msg, "s", []string{"r"})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if r != want {
		t.Errorf("reply = %v, want %v", r, want)
	}
}

func TestReplyEarlyBounded(t *testing.T) {
	server, client := net.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- ReplyEarly(server, ReplyConfigError, Linger{Time: 50 * time.Millisecond, Bytes: 10})
	}()
	rep, err := ReadReply(client)
	if err != nil || rep != ReplyConfigError {
		t.Fatalf("ReadReply = %v, %v", rep, err)
	}
	// The server stops draining after 10 bytes and closes.
	client.Write([]byte("0123456789"))
	if err := <-done; err != nil {
		t.Errorf("ReplyEarly: %v", err)
	}
	if _, err := client.Write([]byte("more")); err == nil {
		t.Error("write after ReplyEarly finished: no error")
	}
}

// TestInteropQmqpSink sends to Postfix's qmqp-sink.
func TestInteropQmqpSink(t *testing.T) {
	testenv.NeedPostfix(t)
	addr := closedAddr(t)
	cmd := exec.Command("/usr/sbin/qmqp-sink", "-c", addr, "5")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	var r Reply
	var err error
	for i := 0; i < 100; i++ {
		r, err = Send(context.Background(), addr, []byte("Subject: x\n\nbody\n"), "a@b", []string{"c@d", "e@f"})
		var ce *ConnectError
		if !errors.As(err, &ce) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || r != (Reply{StatusOK, "Ok"}) {
		t.Errorf("qmqp-sink reply = %v, %v (output %q)", r, err, out.String())
	}
}

// TestInteropQmqpSource lets Postfix's qmqp-source send to a Reader.
func TestInteropQmqpSource(t *testing.T) {
	testenv.NeedPostfix(t)
	ln := listenTCP(t)
	ch := make(chan received, 3)
	testServer(t, ln, parsingHandler(Queued("SRC"), ch))
	cmd := exec.Command(testenv.RealQmqpSource, "-m", "3", "-l", "300", "-f", "from@example.org", "-t", "to@example.net", ln.Addr().String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("qmqp-source: %v: %s", err, out)
	}
	for i := 0; i < 3; i++ {
		got := <-ch
		if got.Sender != "from@example.org" || len(got.Rcpts) != 1 || got.Rcpts[0] != "to@example.net" || len(got.Content) < 300 {
			t.Errorf("message %d: %q %q, %d content bytes", i, got.Sender, got.Rcpts, len(got.Content))
		}
	}
}

// TestInteropNullmailer lets nullmailer's qmqp client send to a Reader.
func TestInteropNullmailer(t *testing.T) {
	nm := testenv.NeedNullmailer(t)
	ln := listenTCP(t)
	ch := make(chan received, 1)
	testServer(t, ln, parsingHandler(Queued("NM"), ch))
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	mail := filepath.Join(t.TempDir(), "mail")
	if err := os.WriteFile(mail, []byte("from@example.org\nto1@example.net\nto2@example.net\n\nSubject: x\n\nbody\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(mail)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(nm)
	cmd.Stdin = strings.NewReader("host=127.0.0.1\nport=" + port + "\n")
	cmd.ExtraFiles = []*os.File{f} // fd 3
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nullmailer qmqp: %v: %s", err, out)
	}
	got := <-ch
	want := received{Content: "Subject: x\n\nbody\n", Sender: "from@example.org", Rcpts: []string{"to1@example.net", "to2@example.net"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
