package qmqp

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// dialAccept returns both ends of a loopback TCP connection.
func dialAccept(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln := listenTCP(t)
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// TestWriteFinal: the client reads exactly the reply and then the end of
// the stream, while the server's connection is still open (the writing
// side was shut down), and a second shutdown by Drain is harmless.
func TestWriteFinal(t *testing.T) {
	client, server := dialAccept(t)
	tc := NewTimeoutConn(server, 5*time.Second)
	if err := WriteFinalReply(tc, StatusOK, "Ok: queued as 3F2A1B"); err != nil {
		t.Fatal(err)
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(client)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if want := "21:KOk: queued as 3F2A1B,"; string(got) != want {
		t.Errorf("client read %q, want %q", got, want)
	}
	// The reading side is still open: what the client sends arrives.
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := Drain(tc, Linger{Time: 100 * time.Millisecond}); err != nil {
		t.Errorf("Drain after WriteFinal: %v", err)
	}
}

// TestWriteFinalUnreadInput: a client that sends more than the server
// reads still gets the whole reply when the server closes at once (a close
// with unread input resets the connection; the reply must have left
// before).
func TestWriteFinalUnreadInput(t *testing.T) {
	for i := range 20 {
		client, server := dialAccept(t)
		if _, err := client.Write(bytes.Repeat([]byte("extra input the server never reads\n"), 10)); err != nil {
			t.Fatal(err)
		}
		// Let the input reach the server's receive queue.
		buf := make([]byte, 1)
		server.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(server, buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
		if err := WriteFinalReply(NewTimeoutConn(server, time.Second), StatusRetry, "Error: queue file write error"); err != nil {
			t.Fatal(err)
		}
		server.Close()
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		r, err := ReadReply(client)
		if err != nil {
			t.Fatalf("round %d: client lost the reply: %v", i, err)
		}
		if r.Code != StatusRetry {
			t.Fatalf("round %d: reply %v", i, r)
		}
	}
}

// TestWriteFinalNotTCP: other connections get a plain write.
func TestWriteFinalNotTCP(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go WriteFinalReply(NewTimeoutConn(a, time.Second), StatusHard, "Error: no")
	r, err := ReadReply(b)
	if err != nil || r.Code != StatusHard || r.Text != "Error: no" {
		t.Errorf("ReadReply = %v, %v", r, err)
	}
}
