package qmqpd

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/qmqp"
)

// TestTimeout: a client that stops sending gets no reply after
// qmqpd_timeout; the session logs the timeout and aborts the queue file.
func TestTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.Timeout = 50 * time.Millisecond
	q := &memQueuer{}
	log := &memLog{}
	srv := NewServer(cfg, q, log)
	client, server := net.Pipe()
	defer client.Close()
	done := make(chan error, 1)
	go func() { done <- srv.ServeConn(server) }()
	io.WriteString(client, "67:21:Subject")
	reply, _ := io.ReadAll(client)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(reply) != 0 {
		t.Errorf("reply %q after a timeout", reply)
	}
	lines := log.get()
	if want := "ID0001: localhost[127.0.0.1]: read/write timeout while receiving message content"; !contains(lines, want) {
		t.Errorf("log %q lacks %q", lines, want)
	}
	if len(q.finished) != 0 || q.aborted != 1 {
		t.Errorf("finished %d, aborted %d", len(q.finished), q.aborted)
	}
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

// TestSoftBounceAndErrorDelay: soft_bounce turns D into Z (in the reply and
// the log); every negative reply waits qmqpd_error_delay, K does not.
func TestSoftBounceAndErrorDelay(t *testing.T) {
	cfg := testConfig()
	cfg.SoftBounce = true
	cfg.ErrorDelay = 300 * time.Millisecond
	q := &memQueuer{status: qmqp.CleanupStatRcpt}
	start := time.Now()
	reply, log := run(t, cfg, q, packet("x\n", "s", "r"))
	if elapsed := time.Since(start); elapsed < cfg.ErrorDelay {
		t.Errorf("negative reply after %v, want at least %v", elapsed, cfg.ErrorDelay)
	}
	if want := string(qmqp.AppendReply(nil, 'Z', "Error: no recipients specified")); reply != want {
		t.Errorf("reply %q, want %q", reply, want)
	}
	if !contains(log.get(), "warning: ID0001: localhost[127.0.0.1]: Error: no recipients specified") {
		t.Errorf("log %q", log.get())
	}
}

// TestNotAuthorizedEarlyReply: the refusal reaches a client that is still
// writing its packet, and nothing is queued.
func TestNotAuthorizedEarlyReply(t *testing.T) {
	cfg := testConfig()
	cfg.Authorized = allowAll{ok: false}
	q := &memQueuer{}
	big := packet(strings.Repeat("x", 100000), "s", "r")
	reply, log := runReply(t, cfg, q, big)
	if want := string(qmqp.NotAuthorized("localhost[127.0.0.1]").Netstring()); reply != want {
		t.Errorf("reply %q, want %q", reply, want)
	}
	if q.next != 0 {
		t.Errorf("%d queue files opened", q.next)
	}
	if lines := log.get(); len(lines) != 2 || lines[0] != "connect from localhost[127.0.0.1]" || lines[1] != "disconnect from localhost[127.0.0.1]" {
		t.Errorf("log %q", lines)
	}
}

// TestConfigErrorReply: a lookup failure in the access list is a
// configuration error (Z), as in Postfix.
func TestConfigErrorReply(t *testing.T) {
	cfg := testConfig()
	cfg.Authorized = allowAll{err: errors.New("table unavailable")}
	reply, _ := runReply(t, cfg, &memQueuer{}, packet("x", "s", "r"))
	if want := string(qmqp.ReplyConfigError.Netstring()); reply != want {
		t.Errorf("reply %q, want %q", reply, want)
	}
}

// TestShutdownWaitsForSession: Shutdown lets a session in progress finish
// and answer; Serve returns ErrServerClosed.
func TestShutdownWaitsForSession(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	q := &memQueuer{}
	log := &memLog{}
	srv := NewServer(testConfig(), q, log)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pkt := packet("Subject: x\n\nbody\n", "s@x", "r@x")
	io.WriteString(c, pkt[:5])
	for i := 0; !contains(log.get(), "ID0001: client=localhost[127.0.0.1]"); i++ {
		if i > 10000 {
			t.Fatal("session did not start")
		}
		time.Sleep(time.Millisecond)
	}
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	io.WriteString(c, pkt[5:])
	r, err := qmqp.ReadReply(c)
	if err != nil || r.Code != 'K' {
		t.Fatalf("reply %v %v", r, err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestCloseInterruptsErrorDelay: Close does not wait for a pending error
// delay.
func TestCloseInterruptsErrorDelay(t *testing.T) {
	cfg := testConfig()
	cfg.ErrorDelay = time.Hour
	cfg.Authorized = allowAll{ok: false}
	srv := NewServer(cfg, &memQueuer{}, &memLog{})
	client, server := net.Pipe()
	defer client.Close()
	done := make(chan error, 1)
	go func() { done <- srv.ServeConn(server) }()
	go io.Copy(io.Discard, client)
	time.Sleep(20 * time.Millisecond)
	srv.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("session still waiting after Close")
	}
}

// runReply is run for a client that hangs up as soon as it has read the
// reply netstring (so an early reply's drain ends at once).
func runReply(t *testing.T, cfg *Config, q *memQueuer, input string) (string, *memLog) {
	t.Helper()
	log := &memLog{}
	srv := NewServer(cfg, q, log)
	client, server := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- srv.ServeConn(server) }()
	go io.WriteString(client, input)
	r, err := qmqp.ReadReply(client)
	client.Close()
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("ServeConn: %v", err)
	}
	return string(r.Netstring()), log
}
