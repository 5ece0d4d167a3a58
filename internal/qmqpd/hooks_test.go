package qmqpd

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/cleanupclient"
	"github.com/qmqpd-go/qmqpd/internal/maillog"
)

// verboseQueuer records the verbose level the context of Open carries.
type verboseQueuer struct {
	memQueuer
	levels []int
}

func (q *verboseQueuer) Open(ctx context.Context, flags int) (Queued, error) {
	q.levels = append(q.levels, maillog.Verbose(ctx))
	return q.memQueuer.Open(ctx, flags)
}

// TestDebugPeerLevel: a client debug_peer_list matches gets
// debug_peer_level more verbose levels for its connection (Postfix's
// debug_peer_check); others get none.
func TestDebugPeerLevel(t *testing.T) {
	for _, match := range []bool{true, false} {
		cfg := testConfig()
		cfg.DebugPeers = allowAll{ok: match}
		cfg.DebugPeerLevel = 3
		q := &verboseQueuer{}
		srv := NewServer(cfg, q, &memLog{})
		client, server := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- srv.ServeConn(server) }()
		go io.WriteString(client, packet("Subject: x\n\nbody\n", "s@x", "r@x"))
		reply, _ := io.ReadAll(client)
		client.Close()
		if err := <-done; err != nil || !strings.Contains(string(reply), "KOk") {
			t.Fatalf("reply %q, %v", reply, err)
		}
		want := 0
		if match {
			want = 3
		}
		if len(q.levels) != 1 || q.levels[0] != want {
			t.Errorf("debug_peer_list match %v: verbose levels %v, want [%d]", match, q.levels, want)
		}
	}
}

// TestConnectErrorText: when the cleanup service cannot be reached after
// every attempt, the fatal text is mail_connect_wait's; other open
// failures keep qmqpd's own words.
func TestConnectErrorText(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&cleanupclient.ConnectError{Text: "connect #11 to subsystem public/cleanup: No such file or directory"}, "connect #11 to subsystem public/cleanup: No such file or directory"},
		{errors.New("bad greeting"), "unable to connect to the public cleanup service"},
	} {
		q := &memQueuer{openErr: c.err}
		srv := NewServer(testConfig(), q, &memLog{})
		client, server := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- srv.ServeConn(server) }()
		go io.WriteString(client, packet("x", "s@x", "r@x"))
		_, _ = io.ReadAll(client)
		client.Close()
		err := <-done
		var fe *FatalError
		if !errors.As(err, &fe) || fe.Text != c.want {
			t.Errorf("open error %v: ServeConn %v, want fatal %q", c.err, err, c.want)
		}
	}
}

// TestSetSpoolDir: sessions started after SetSpoolDir spool large
// messages in the new directory (here one that cannot be written, so the
// reply tells).
func TestSetSpoolDir(t *testing.T) {
	srv := NewServer(testConfig(), &memQueuer{}, &memLog{})
	srv.Now = func() time.Time { return testArrival }
	srv.SpoolMemory, srv.SpoolDir = 16, t.TempDir()
	send := func() string {
		client, server := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- srv.ServeConn(server) }()
		go io.WriteString(client, packet(strings.Repeat("x", 100), "s@x", "r@x"))
		reply, _ := io.ReadAll(client)
		client.Close()
		<-done
		return string(reply)
	}
	if r := send(); !strings.Contains(r, "KOk") {
		t.Fatalf("before SetSpoolDir: %q", r)
	}
	srv.SetSpoolDir("/nonexistent/spool")
	if r, want := send(), "30:ZError: queue file write error,"; r != want {
		t.Errorf("after SetSpoolDir: %q, want %q", r, want)
	}
}
