package master

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStatusRecord(t *testing.T) {
	b := StatusRecord(1234, 0o17, Taken)
	if len(b) != 12 {
		t.Fatalf("len %d", len(b))
	}
	if got := binary.NativeEndian.Uint32(b[0:]); got != 1234 {
		t.Errorf("pid %d", got)
	}
	if got := binary.NativeEndian.Uint32(b[4:]); got != 0o17 {
		t.Errorf("generation %d", got)
	}
	if got := binary.NativeEndian.Uint32(b[8:]); got != uint32(Taken) {
		t.Errorf("avail %d", got)
	}
}

func TestLockPathAndOpen(t *testing.T) {
	if got := LockPath("inet", "127.0.0.1:628"); got != "pid/inet.127.0.0.1:628" {
		t.Errorf("LockPath %q", got)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "inet.qmqpd")
	f, err := OpenLock(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v %v", fi.Mode(), err)
	}
	// An existing file is opened again.
	f, err = OpenLock(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = OpenLock(filepath.Join(dir, "missing", "unix.qmqpd"))
	want := "open lock file " + dir + "/missing/unix.qmqpd: cannot create file exclusively: No such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	if _, err := OpenLock(dir); err == nil || !strings.Contains(err.Error(), "cannot open file: Is a directory") && !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory as lock file: %v", err)
	}
}

// harness is a listening socket and a status channel, like master sets up.
type harness struct {
	ln       *net.TCPListener
	lnFD     int
	lnFile   *os.File
	status   int // the child's end
	masterFD int // master's end
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.File() // a blocking duplicate; make it non-blocking like master's
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.SetNonblock(int(f.Fd()), true); err != nil {
		t.Fatal(err)
	}
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{ln: ln, lnFD: int(f.Fd()), lnFile: f, status: pair[0], masterFD: pair[1]}
	t.Cleanup(func() {
		ln.Close()
		f.Close()
		syscall.Close(pair[0])
		if h.masterFD >= 0 {
			syscall.Close(h.masterFD)
		}
	})
	return h
}

// records reads the status records the child wrote so far.
func (h *harness) records(t *testing.T, n int) [][3]uint32 {
	t.Helper()
	buf := make([]byte, 12*n)
	for got := 0; got < len(buf); {
		m, err := syscall.Read(h.masterFD, buf[got:])
		if err != nil || m == 0 {
			t.Fatalf("read status: %d %v", m, err)
		}
		got += m
	}
	var out [][3]uint32
	for i := 0; i < n; i++ {
		b := buf[12*i:]
		out = append(out, [3]uint32{binary.NativeEndian.Uint32(b), binary.NativeEndian.Uint32(b[4:]), binary.NativeEndian.Uint32(b[8:])})
	}
	return out
}

func dial(t *testing.T, addr net.Addr, payload string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, payload)
	c.(*net.TCPConn).CloseWrite()
	b, _ := io.ReadAll(c)
	return string(b)
}

// TestRunMaxUse: each connection is served between a TAKEN and an AVAIL
// record with the generation; the loop ends after max_use connections.
func TestRunMaxUse(t *testing.T) {
	h := newHarness(t)
	lock, err := OpenLock(filepath.Join(t.TempDir(), "lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	done := make(chan Reason, 1)
	go func() {
		r, err := Run(Config{
			ListenFDs:  []int{h.lnFD},
			StatusFD:   h.status,
			Lock:       lock,
			Generation: 0o7,
			Pid:        4321,
			MaxUse:     2,
			Accepted: func(c net.Conn) error {
				b := make([]byte, 5)
				io.ReadFull(c, b)
				c.Write(bytes.ToUpper(b))
				c.Close()
				return nil
			},
		})
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	for _, p := range []string{"hello", "world"} {
		if got := dial(t, h.ln.Addr(), p); got != strings.ToUpper(p) {
			t.Errorf("reply %q", got)
		}
	}
	waitReason(t, done, MaxUseReached, "Run did not stop after max_use")
	want := [][3]uint32{{4321, 7, 0}, {4321, 7, 1}, {4321, 7, 0}, {4321, 7, 1}}
	if got := h.records(t, 4); !equal(got, want) {
		t.Errorf("status records %v, want %v", got, want)
	}
	if MaxUseReached.String() != "use limit reached -- exiting" {
		t.Error(MaxUseReached.String())
	}
}

func equal(a, b [][3]uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// waitReason waits up to 10 s for Run's reason on done and checks it is
// want; failing to end is fatal, with the message what.
func waitReason(t *testing.T, done <-chan Reason, want Reason, what string) {
	t.Helper()
	select {
	case r := <-done:
		if r != want {
			t.Errorf("reason %v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal(what)
	}
}

// TestRunMasterGone: end of file on the status channel ends the loop.
func TestRunMasterGone(t *testing.T) {
	h := newHarness(t)
	done := make(chan Reason, 1)
	go func() {
		r, _ := Run(Config{ListenFDs: []int{h.lnFD}, StatusFD: h.status, Accepted: func(c net.Conn) error { c.Close(); return nil }})
		done <- r
	}()
	syscall.Close(h.masterFD)
	h.masterFD = -1
	waitReason(t, done, MasterGone, "Run did not notice the master going away")
}

// TestRunIdle: max_idle without a connection ends the loop.
func TestRunIdle(t *testing.T) {
	h := newHarness(t)
	r, err := Run(Config{ListenFDs: []int{h.lnFD}, StatusFD: h.status, MaxIdle: 50 * time.Millisecond, Accepted: func(c net.Conn) error { c.Close(); return nil }})
	if err != nil || r != IdleTimeout {
		t.Errorf("Run: %v %v", r, err)
	}
}

// TestRunPreAccept: PreAccept returning false stops before accepting.
func TestRunPreAccept(t *testing.T) {
	h := newHarness(t)
	c, err := net.Dial("tcp", h.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	served := false
	r, err := Run(Config{ListenFDs: []int{h.lnFD}, StatusFD: -1, PreAccept: func() bool { return false }, Accepted: func(c net.Conn) error { served = true; c.Close(); return nil }})
	if err != nil || r != PreAcceptStop || served {
		t.Errorf("Run: %v %v served=%v", r, err, served)
	}
}

// TestRunFatal: an error from Accepted ends Run at once, after the TAKEN
// record and without an AVAIL record.
func TestRunFatal(t *testing.T) {
	h := newHarness(t)
	done := make(chan error, 1)
	go func() {
		_, err := Run(Config{ListenFDs: []int{h.lnFD}, StatusFD: h.status, Pid: 1, Accepted: func(c net.Conn) error {
			c.Close()
			return errors.New("the Postfix QMQP server must run with $mail_owner privileges")
		}})
		done <- err
	}()
	dial(t, h.ln.Addr(), "x")
	select {
	case err := <-done:
		if err == nil || err.Error() != "the Postfix QMQP server must run with $mail_owner privileges" {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run went on after a fatal error")
	}
	if got := h.records(t, 1); got[0][2] != uint32(Taken) {
		t.Errorf("records %v", got)
	}
	syscall.SetNonblock(h.masterFD, true)
	if n, _ := syscall.Read(h.masterFD, make([]byte, 12)); n > 0 {
		t.Errorf("an AVAIL record after the fatal error")
	}
}

// TestRunInetKeepalive: inet connections get SO_KEEPALIVE, as Postfix's
// inet_accept sets it.
func TestRunInetKeepalive(t *testing.T) {
	h := newHarness(t)
	got := make(chan int, 1)
	go func() {
		Run(Config{ListenFDs: []int{h.lnFD}, StatusFD: -1, MaxUse: 1, Accepted: func(c net.Conn) error {
			v := -1
			if rc, err := c.(syscall.Conn).SyscallConn(); err == nil {
				rc.Control(func(fd uintptr) { v, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) })
			}
			got <- v
			return c.Close()
		}})
	}()
	dial(t, h.ln.Addr(), "x")
	select {
	case v := <-got:
		if v != 1 {
			t.Errorf("SO_KEEPALIVE = %d", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no connection")
	}
}

// TestRunNotified: Established comes before the Taken update, Notified gets
// each update's outcome, and a master gone while the connection was served
// makes the Avail update fail and Run end with MasterGone.
func TestRunNotified(t *testing.T) {
	h := newHarness(t)
	var events []string
	done := make(chan Reason, 1)
	go func() {
		r, err := Run(Config{
			ListenFDs:   []int{h.lnFD},
			StatusFD:    h.status,
			Established: func() { events = append(events, "established") },
			Notified: func(status int32, err error) {
				events = append(events, fmt.Sprintf("status %d: %v", status, errors.Is(err, syscall.EPIPE)))
			},
			Accepted: func(c net.Conn) error {
				// master(8) goes away while the client is served.
				syscall.Close(h.masterFD)
				h.masterFD = -1
				c.Close()
				return nil
			},
		})
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	c, err := net.Dial("tcp", h.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitReason(t, done, MasterGone, "Run did not end")
	want := []string{"established", "status 0: false", "status 1: true"}
	if strings.Join(events, "|") != strings.Join(want, "|") {
		t.Errorf("events %q, want %q", events, want)
	}
}
