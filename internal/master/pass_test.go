package master

import (
	"errors"
	"fmt"
	"github.com/qmqpd-go/qmqpd/internal/testenv"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// postscreenAttrs is the attribute list postscreen(8) sends after the
// descriptor.
const postscreenAttrs = "client_address\x00127.0.0.1\x00client_port\x0041234\x00server_address\x00127.0.0.1\x00server_port\x0025\x00\x00"

// logRecorder collects warning and error lines.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) warnf(format string, args ...any) {
	l.add("warning: " + fmt.Sprintf(format, args...))
}
func (l *logRecorder) errorf(format string, args ...any) {
	l.add("error: " + fmt.Sprintf(format, args...))
}
func (l *logRecorder) add(s string) { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }
func (l *logRecorder) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

// passListener is a UNIX-domain listener like the one master(8) creates
// for a pass service (non-blocking, shared).
func passListener(t *testing.T) (path string, fd int) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "pass")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	fd = int(f.Fd()) // once: Fd makes the descriptor blocking
	if err := syscall.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(); f.Close() })
	return path, fd
}

// passer plays postscreen: it connects to path and runs steps on the
// connection. It returns the connection (the caller checks that the child
// closes it).
func passer(t *testing.T, path string, steps ...func(*net.UnixConn)) *net.UnixConn {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, s := range steps {
		s(c)
	}
	return c
}

// sendFDs sends one byte carrying the descriptors of conns.
func sendFDs(t *testing.T, data string, conns ...syscall.Conn) func(*net.UnixConn) {
	return func(c *net.UnixConn) {
		var fds []int
		for _, sc := range conns {
			rc, err := sc.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			rc.Control(func(fd uintptr) { fds = append(fds, int(fd)) })
		}
		if _, _, err := c.WriteMsgUnix([]byte(data), syscall.UnixRights(fds...), nil); err != nil {
			t.Fatal(err)
		}
	}
}

func write(t *testing.T, s string) func(*net.UnixConn) {
	return func(c *net.UnixConn) {
		if _, err := io.WriteString(c, s); err != nil {
			t.Fatal(err)
		}
	}
}

func halfClose(c *net.UnixConn) { c.CloseWrite() }

// closedByChild checks that the child closed the passer's connection.
func closedByChild(t *testing.T, c *net.UnixConn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("passer connection: %v", err)
	}
}

// TestPassAccept runs the receiving side against well-formed and
// malformed hand-overs. The expected log lines are those of Postfix
// 3.7.11's qmqpd for the same input (first hand-over of a fresh process,
// whose left-over errno is ESRCH).
func TestPassAccept(t *testing.T) {
	wantAttrs := map[string]string{"client_address": "127.0.0.1", "client_port": "41234", "server_address": "127.0.0.1", "server_port": "25"}
	many := strings.Builder{}
	manyWant := map[string]string{}
	for i := 0; i < 1100; i++ {
		fmt.Fprintf(&many, "a%d\x00v%d\x00", i, i)
		if i < passAttrLimit {
			manyWant[fmt.Sprint("a", i)] = fmt.Sprint("v", i)
		}
	}
	many.WriteByte(0)
	cases := []struct {
		name    string
		steps   func(t *testing.T, client syscall.Conn) []func(*net.UnixConn)
		ok      bool
		attrs   map[string]string
		log     []string
		timeout bool // the passer keeps its connection open
	}{
		{name: "postscreen", ok: true, attrs: wantAttrs, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) {
			return []func(*net.UnixConn){sendFDs(t, "\x00", s), write(t, postscreenAttrs)}
		}},
		{name: "attributes with the descriptor", ok: true, attrs: wantAttrs, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) {
			return []func(*net.UnixConn){sendFDs(t, "\x00"+postscreenAttrs, s), halfClose}
		}},
		{name: "no attributes", ok: true, attrs: map[string]string{}, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) {
			return []func(*net.UnixConn){sendFDs(t, "x", s), write(t, "\x00"), halfClose}
		}},
		{name: "repeated name and group", ok: true, attrs: map[string]string{"a": "1", "b": "2"}, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) {
			return []func(*net.UnixConn){sendFDs(t, "\x00", s), write(t, "a\x001\x00a\x00x\x00{\x00b\x002\x00}\x00c\x003\x00\x00"), halfClose}
		}},
		{name: "too many attributes", ok: true, attrs: manyWant, log: []string{
			"warning: attribute count exceeds limit 1024 in input from unknown_stream",
		}, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) {
			return []func(*net.UnixConn){sendFDs(t, "\x00", s), write(t, many.String()), halfClose}
		}},
		{name: "end of file", log: []string{
			"warning: pass_accept_attr: cannot receive file descriptor: No such process",
		}, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) {
			return []func(*net.UnixConn){halfClose}
		}},
		{name: "no descriptor", log: []string{
			"warning: pass_accept_attr: cannot receive file descriptor: No such process",
		}, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) {
			return []func(*net.UnixConn){write(t, postscreenAttrs), halfClose}
		}},
		{name: "two descriptors", log: []string{
			"warning: pass_accept_attr: cannot receive file descriptor: No such process",
		}, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) {
			return []func(*net.UnixConn){sendFDs(t, "\x00", s, s), write(t, postscreenAttrs), halfClose}
		}},
		{name: "descriptor only", log: []string{
			"warning: pass_accept_attr: cannot receive connection attributes: No such process",
		}, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) {
			return []func(*net.UnixConn){sendFDs(t, "\x00", s), halfClose}
		}},
		{name: "partial value", log: []string{
			"warning: unexpected end-of-input from unknown_stream while reading input attribute value",
			"warning: pass_accept_attr: cannot receive connection attributes: No such process",
		}, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) {
			return []func(*net.UnixConn){sendFDs(t, "\x00", s), write(t, "client_address\x00127.0"), halfClose}
		}},
		{name: "partial name", log: []string{
			"warning: unexpected end-of-input from unknown_stream while reading input attribute name",
			"warning: pass_accept_attr: cannot receive connection attributes: No such process",
		}, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) {
			return []func(*net.UnixConn){sendFDs(t, "\x00", s), write(t, "client_address\x00127.0.0.1\x00clie"), halfClose}
		}},
		{name: "name without value", log: []string{
			"warning: premature end-of-input on unknown_stream while reading input attribute value",
			"warning: pass_accept_attr: cannot receive connection attributes: No such process",
		}, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) {
			return []func(*net.UnixConn){sendFDs(t, "\x00", s), write(t, "client_address\x00"), halfClose}
		}},
		{name: "no terminator", log: []string{
			"warning: premature end-of-input on unknown_stream while reading input attribute name",
			"warning: pass_accept_attr: cannot receive connection attributes: No such process",
		}, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) {
			return []func(*net.UnixConn){sendFDs(t, "\x00", s), write(t, "client_address\x00127.0.0.1\x00"), halfClose}
		}},
		{name: "bad value after group", log: []string{
			"warning: unexpected end-of-input from unknown_stream while reading input attribute value",
			"warning: premature end-of-input on unknown_stream while reading input attribute name",
			"warning: pass_accept_attr: cannot receive connection attributes: No such process",
		}, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) {
			return []func(*net.UnixConn){sendFDs(t, "\x00", s), write(t, "{\x00}\x00c\x00xy"), halfClose}
		}},
		{name: "silent passer", timeout: true, log: []string{
			"warning: pass_accept_attr: timeout receiving file descriptor: Connection timed out",
		}, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) { return nil }},
		{name: "no attributes in time", timeout: true, log: []string{
			"warning: pass_accept_attr: cannot receive connection attributes: Connection timed out",
		}, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) {
			return []func(*net.UnixConn){sendFDs(t, "\x00", s)}
		}},
		{name: "value not in time", timeout: true, log: []string{
			"warning: timeout on unknown_stream while reading input attribute value",
			"warning: pass_accept_attr: cannot receive connection attributes: Connection timed out",
		}, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) {
			return []func(*net.UnixConn){sendFDs(t, "\x00", s), write(t, "client_address\x00")}
		}},
		{name: "partial value not in time", timeout: true, log: []string{
			"warning: unexpected end-of-input from unknown_stream while reading input attribute value",
			"warning: pass_accept_attr: cannot receive connection attributes: Connection timed out",
		}, steps: func(t *testing.T, s syscall.Conn) []func(*net.UnixConn) {
			return []func(*net.UnixConn){sendFDs(t, "\x00", s), write(t, "client_address\x00127.0")}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path, lfd := passListener(t)
			client, server := testenv.TCPPair(t)
			var log logRecorder
			p := newPassReceiver(log.warnf, nil)
			p.timeout = 200 * time.Millisecond
			pc := passer(t, path, c.steps(t, server)...)
			server.Close() // the child's copy is the only one left
			fd, attrs, errno := p.accept(lfd)
			closedByChild(t, pc)
			if diff := cmp.Diff(c.log, log.take()); diff != "" {
				t.Errorf("log (-want +got):\n%s", diff)
			}
			if !c.ok {
				if fd >= 0 {
					t.Fatalf("got descriptor %d", fd)
				}
				want := syscall.ESRCH
				if c.timeout {
					want = syscall.ETIMEDOUT
				}
				if errno != want {
					t.Errorf("errno %v, want %v", errno, want)
				}
				// The passed descriptor was closed: the client sees
				// end of file.
				client.SetReadDeadline(time.Now().Add(10 * time.Second))
				if b, err := io.ReadAll(client); err != nil || len(b) > 0 {
					t.Errorf("client: %q %v", b, err)
				}
				return
			}
			if fd < 0 {
				t.Fatalf("no descriptor (errno %v)", errno)
			}
			if diff := cmp.Diff(c.attrs, attrs); diff != "" {
				t.Errorf("attributes (-want +got):\n%s", diff)
			}
			flags, err := fcntl(fd, syscall.F_GETFD)
			if err != nil || flags&syscall.FD_CLOEXEC == 0 {
				t.Errorf("descriptor flags %#x %v, want close-on-exec", flags, err)
			}
			conn, err := passedConn(fd)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if got, want := conn.RemoteAddr().String(), client.LocalAddr().String(); got != want {
				t.Errorf("peer %s, want %s", got, want)
			}
			io.WriteString(conn, "hello")
			conn.Close()
			if b, _ := io.ReadAll(client); string(b) != "hello" {
				t.Errorf("client got %q", b)
			}
		})
	}
}

func fcntl(fd, cmd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// TestPassErrnoCarriesOver: a failure that sets no errno reports the one
// left over, as Postfix does: ESRCH at first, the previous failure's
// errno, and "Application error" (0) after a served client.
func TestPassErrnoCarriesOver(t *testing.T) {
	path, lfd := passListener(t)
	var log logRecorder
	p := newPassReceiver(log.warnf, nil)
	p.timeout = 100 * time.Millisecond
	fail := func() {
		pc := passer(t, path, halfClose)
		if fd, _, _ := p.accept(lfd); fd >= 0 {
			t.Fatal("accepted")
		}
		closedByChild(t, pc)
	}
	fail()
	passer(t, path) // silent: times out
	p.accept(lfd)
	fail()
	p.served()
	fail()
	want := []string{
		"warning: pass_accept_attr: cannot receive file descriptor: No such process",
		"warning: pass_accept_attr: timeout receiving file descriptor: Connection timed out",
		"warning: pass_accept_attr: cannot receive file descriptor: Connection timed out",
		"warning: pass_accept_attr: cannot receive file descriptor: Application error",
	}
	if diff := cmp.Diff(want, log.take()); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	// Nothing to accept: EAGAIN, and nothing logged.
	if fd, _, e := p.accept(lfd); fd >= 0 || e != syscall.EAGAIN {
		t.Errorf("accept on an idle listener: %d %v", fd, e)
	}
	if got := log.take(); len(got) > 0 {
		t.Errorf("log %q", got)
	}
}

// TestRunPass: Run with -t pass serves handed-over clients between TAKEN
// and AVAIL records, reports a broken hand-over as Postfix does ("error:
// accept connection: ...", no status record, no use counted) and goes on.
func TestRunPass(t *testing.T) {
	path, lfd := passListener(t)
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{status: pair[0], masterFD: pair[1]}
	defer syscall.Close(pair[0])
	defer syscall.Close(pair[1])
	lock, err := OpenLock(filepath.Join(t.TempDir(), "lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	var log logRecorder
	peers := make(chan string, 4)
	done := make(chan error, 1)
	go func() {
		r, err := Run(Config{
			ListenFDs:  []int{lfd},
			Transport:  "pass",
			StatusFD:   h.status,
			Lock:       lock,
			Generation: 0o3,
			Pid:        77,
			MaxUse:     3,
			Warnf:      log.warnf,
			Errorf:     log.errorf,
			Accepted: func(c net.Conn) error {
				peers <- c.RemoteAddr().Network() + " " + c.RemoteAddr().String()
				b := make([]byte, 5)
				io.ReadFull(c, b)
				c.Write([]byte(strings.ToUpper(string(b))))
				return c.Close()
			},
		})
		if err == nil && r != MaxUseReached {
			err = fmt.Errorf("reason %v", r)
		}
		done <- err
	}()

	// A well-formed hand-over of a TCP client.
	client, server := testenv.TCPPair(t)
	closedByChild(t, passer(t, path, sendFDs(t, "\x00", server), write(t, postscreenAttrs)))
	server.Close()
	io.WriteString(client, "hello")
	if b, _ := io.ReadAll(client); string(b) != "HELLO" {
		t.Errorf("reply %q", b)
	}
	if got, want := <-peers, "tcp "+client.LocalAddr().String(); got != want {
		t.Errorf("peer %q, want %q", got, want)
	}

	// A broken one: logged, and the loop goes on.
	closedByChild(t, passer(t, path, write(t, "x"), halfClose))

	// A descriptor that is not a socket (a pipe) is served too.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	io.WriteString(w, "pipes")
	closedByChild(t, passer(t, path, sendFDs(t, "\x00", r), write(t, postscreenAttrs)))
	r.Close()
	if got := <-peers; got != "file " {
		t.Errorf("pipe peer %q", got)
	}

	// A UNIX-domain socket too.
	sp, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	mine := os.NewFile(uintptr(sp[0]), "mine")
	theirs := os.NewFile(uintptr(sp[1]), "theirs")
	defer mine.Close()
	mc, err := net.FileConn(mine)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	closedByChild(t, passer(t, path, sendFDs(t, "\x00", theirs), write(t, postscreenAttrs)))
	theirs.Close()
	io.WriteString(mc, "local")
	if b, _ := io.ReadAll(mc); string(b) != "LOCAL" {
		t.Errorf("unix reply %q", b)
	}
	if got := <-peers; !strings.HasPrefix(got, "unix") {
		t.Errorf("unix peer %q", got)
	}

	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop after max_use")
	}
	want := [][3]uint32{{77, 3, 0}, {77, 3, 1}, {77, 3, 0}, {77, 3, 1}, {77, 3, 0}, {77, 3, 1}}
	if got := h.records(t, 6); !equal(got, want) {
		t.Errorf("status records %v, want %v", got, want)
	}
	wantLog := []string{
		"warning: pass_accept_attr: cannot receive file descriptor: Application error",
		"error: accept connection: Application error",
	}
	if diff := cmp.Diff(wantLog, log.take()); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

// TestRunPassFirstFailure: the first broken hand-over of a process is
// reported with errno ESRCH, as Postfix's children report it.
func TestRunPassFirstFailure(t *testing.T) {
	path, lfd := passListener(t)
	var log logRecorder
	served := 0
	pc := passer(t, path, halfClose)
	r, err := Run(Config{
		ListenFDs: []int{lfd},
		Transport: "pass",
		StatusFD:  -1,
		MaxIdle:   300 * time.Millisecond,
		Warnf:     log.warnf,
		Errorf:    log.errorf,
		Accepted:  func(c net.Conn) error { served++; return c.Close() },
	})
	if err != nil || r != IdleTimeout || served != 0 {
		t.Errorf("Run: %v %v served %d", r, err, served)
	}
	closedByChild(t, pc)
	want := []string{
		"warning: pass_accept_attr: cannot receive file descriptor: No such process",
		"error: accept connection: No such process",
	}
	if diff := cmp.Diff(want, log.take()); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

// TestRunTransport: an unknown -t type is refused.
func TestRunTransport(t *testing.T) {
	_, err := Run(Config{Transport: "fifo", Accepted: func(net.Conn) error { return nil }})
	if err == nil || err.Error() != "unsupported transport type: fifo" {
		t.Errorf("Run: %v", err)
	}
}

// chunks feeds an attrReader from pieces of input, then end of file.
func chunks(parts ...string) *attrReader {
	return &attrReader{read: func(b []byte, _ time.Time) (int, error) {
		for len(parts) > 0 && parts[0] == "" {
			parts = parts[1:]
		}
		if len(parts) == 0 {
			return 0, nil
		}
		n := copy(b, parts[0])
		parts[0] = parts[0][n:]
		if parts[0] == "" {
			parts = parts[1:]
		}
		return n, nil
	}}
}

// encodeAttrs writes attrs in attr0 form, sorted by name.
func encodeAttrs(attrs map[string]string) string {
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k + "\x00" + attrs[k] + "\x00")
	}
	b.WriteByte(0)
	return b.String()
}

// TestScanAttrsSplit: the list may arrive in any pieces.
func TestScanAttrsSplit(t *testing.T) {
	want := map[string]string{"client_address": "127.0.0.1", "client_port": "41234", "server_address": "127.0.0.1", "server_port": "25"}
	for i := 0; i <= len(postscreenAttrs); i++ {
		r := chunks(postscreenAttrs[:i], postscreenAttrs[i:], "trailing junk")
		got, err := scanAttrs(r, func(string, ...any) { t.Error("warning") }, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("split at %d (-want +got):\n%s", i, diff)
		}
	}
}

// FuzzScanAttrs: no input makes the scanner misbehave; a success returns
// at most passAttrLimit attributes, and a list re-encoded from a result
// reads back the same.
func FuzzScanAttrs(f *testing.F) {
	f.Add([]byte(postscreenAttrs))
	f.Add([]byte("{\x00a\x00b\x00}\x00c\x00d\x00\x00"))
	f.Add([]byte("a\x00"))
	f.Add([]byte(""))
	f.Add([]byte("\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		warned := 0
		got, err := scanAttrs(chunks(string(in)), func(string, ...any) { warned++ }, func(string, ...any) {})
		if err != nil {
			if got != nil || warned == 0 && len(in) > 0 {
				t.Fatalf("error %v with result %v, %d warnings", err, got, warned)
			}
			return
		}
		if len(got) > passAttrLimit {
			t.Fatalf("%d attributes", len(got))
		}
		for k := range got {
			if k == "" || strings.ContainsRune(k, 0) {
				t.Fatalf("bad name %q", k)
			}
		}
		if _, ok := got["{"]; ok {
			return // a "{" read inside a group would open one at the top
		}
		again, err := scanAttrs(chunks(encodeAttrs(got)), func(string, ...any) {}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// TestScanAttrsVerbose: the verbose lines are those Postfix 3.7.11's
// qmqpd -v logs for the same lists.
func TestScanAttrsVerbose(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{postscreenAttrs, []string{
			"unknown_stream: wanted attribute: (any attribute name or list terminator)",
			"input attribute name: client_address",
			"input attribute value: 127.0.0.1",
			"unknown_stream: wanted attribute: (any attribute name or list terminator)",
			"input attribute name: client_port",
			"input attribute value: 41234",
			"unknown_stream: wanted attribute: (any attribute name or list terminator)",
			"input attribute name: server_address",
			"input attribute value: 127.0.0.1",
			"unknown_stream: wanted attribute: (any attribute name or list terminator)",
			"input attribute name: server_port",
			"input attribute value: 25",
			"unknown_stream: wanted attribute: (any attribute name or list terminator)",
			"input attribute name: (end)",
		}},
		{"{\x00a\x00b\x00}\x00c\x00d\x00\x00", []string{
			"unknown_stream: wanted attribute: (any attribute name or list terminator)",
			"input attribute name: {",
			"unknown_stream: wanted attribute: (any attribute name or '}')",
			"input attribute name: a",
			"input attribute value: b",
			"unknown_stream: wanted attribute: (any attribute name or '}')",
			"input attribute name: }",
			"unknown_stream: wanted attribute: (list terminator)",
			"input attribute name: c",
			"input attribute value: d",
			"unknown_stream: wanted attribute: (list terminator)",
			"input attribute name: (end)",
		}},
		{"client_address\x00127.0", []string{
			"unknown_stream: wanted attribute: (any attribute name or list terminator)",
			"input attribute name: client_address",
			"warning: unexpected end-of-input from unknown_stream while reading input attribute value",
		}},
		{"a\x00\x00\x00", []string{
			"unknown_stream: wanted attribute: (any attribute name or list terminator)",
			"input attribute name: a",
			"input attribute value: (end)",
			"unknown_stream: wanted attribute: (any attribute name or list terminator)",
			"input attribute name: (end)",
		}},
	} {
		var log logRecorder
		scanAttrs(chunks(c.in), log.warnf, func(format string, args ...any) { log.add(fmt.Sprintf(format, args...)) })
		if diff := cmp.Diff(c.want, log.take()); diff != "" {
			t.Errorf("%q (-want +got):\n%s", c.in, diff)
		}
	}
}
