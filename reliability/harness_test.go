package reliability

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/cleanup"
	"github.com/qmqpd-go/qmqpd/internal/cleanupclient"
	"github.com/qmqpd-go/qmqpd/internal/dict"
	"github.com/qmqpd-go/qmqpd/internal/maillog"
	"github.com/qmqpd-go/qmqpd/internal/matchlist"
	"github.com/qmqpd-go/qmqpd/internal/qmqp"
	"github.com/qmqpd-go/qmqpd/internal/qmqpd"
	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// long turns on the long versions (100,000-message soak, longer fault runs).
var long = flag.Bool("long", false, "run the long reliability tests (100,000-message soak)")

// figures collects numbers for docs/reliability.md; tests add to it and
// TestMain prints it with -v.
type figures struct {
	sent, queued, faults, rejected atomic.Int64
}

var stats figures

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	flag.Parse()
	code := m.Run()
	if testing.Verbose() {
		fmt.Printf("reliability figures: messages sent %d, queued (K) %d, faults injected %d, refused/failed %d\n",
			stats.sent.Load(), stats.queued.Load(), stats.faults.Load(), stats.rejected.Load())
	}
	os.Exit(code)
}

// builtin adapts the built-in cleanup to qmqpd.Queuer (what the daemon's
// qmqpd_cleanup_mode = builtin does).
type builtin struct {
	c     *cleanup.Cleanup
	opens atomic.Int64
}

func (b *builtin) Open(ctx context.Context, flags int) (qmqpd.Queued, error) {
	b.opens.Add(1)
	st, err := b.c.Open(ctx, flags)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// memLog keeps the server's log lines.
type memLog struct {
	mu      sync.Mutex
	lines   []string
	discard bool // count only (soak)
	count   int
}

func (l *memLog) Log(level maillog.Level, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count++
	if l.discard {
		return
	}
	if level != maillog.Info {
		text = level.String() + ": " + text
	}
	l.lines = append(l.lines, text)
}

func (l *memLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// env is one server under test with its queue directory.
type env struct {
	t      testing.TB
	dir    string // queue_directory
	addr   string
	srv    *qmqpd.Server
	q      *builtin
	queue  *queuefile.Queue
	log    *memLog
	served chan error
}

// opts change the server setup.
type opts struct {
	dir        string        // queue directory ("" = a new temporary one)
	authorized string        // qmqpd_authorized_clients ("" = 127.0.0.0/8)
	timeout    time.Duration // qmqpd_timeout (default 10s)
	maxConns   int           // MaxConnections
	fs         queuefile.FS  // file system (nil = real)
	queuer     qmqpd.Queuer  // replaces the built-in cleanup
	settings   func(*cleanup.Settings)
	cfg        func(*qmqpd.Config)
	noQueueErr bool             // leave OnQueueError unset (Postfix's fatal behaviour)
	quietLog   bool             // count log lines without keeping them
	now        func() time.Time // queue file clock (nil = time.Now)
	pid        int              // process ID in temporary names (0 = real)
	hashed     bool             // incoming is hashed (hash_queue_depth 1)
}

// makeQueue creates the queue directories Postfix has (incoming, public).
func makeQueue(t testing.TB, dir string) {
	t.Helper()
	for _, d := range []string{"incoming", "public"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func matcher(t testing.TB, value string) *matchlist.List {
	t.Helper()
	reg := dict.NewRegistry(func(string) {})
	l, err := matchlist.New("qmqpd_authorized_clients", value, true, reg, func(string) {})
	if err != nil {
		t.Fatalf("matchlist %q: %v", value, err)
	}
	return l
}

func serverConfig(t testing.TB, o opts) *qmqpd.Config {
	auth := o.authorized
	if auth == "" {
		auth = "127.0.0.0/8"
	}
	timeout := o.timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	cfg := &qmqpd.Config{
		Hostname:         "reliab.example.org",
		MailName:         "Postfix",
		Timeout:          timeout,
		CleanupFlags:     cleanupclient.FlagMaskExternal,
		MessageSizeLimit: 10240000,
		LineLengthLimit:  2048,
		VERPFilter:       "-=+",
		InetProtocols:    "ipv4",
		IPv4:             true,
		Authorized:       matcher(t, auth),
		Resolver:         noDNS{},
		OwnerUID:         -1,
	}
	if o.cfg != nil {
		o.cfg(cfg)
	}
	return cfg
}

// noDNS answers every reverse lookup with "not found", so tests never
// depend on the machine's resolver.
type noDNS struct{}

func (noDNS) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

func (noDNS) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func newCleanup(dir string, o opts) (*builtin, *queuefile.Queue) {
	q := &queuefile.Queue{Dir: dir, FS: o.fs, Now: o.now, PID: o.pid, Hashed: o.hashed, HashDepth: 1}
	s := cleanup.DefaultSettings("reliab.example.org", "example.org")
	s.Location = time.UTC
	if o.settings != nil {
		o.settings(s)
	}
	return &builtin{c: &cleanup.Cleanup{Settings: s, Store: cleanup.QueueStore{Queue: q}}}, q
}

// start runs an in-process server on 127.0.0.1:0; it is closed at the end
// of the test.
func start(t testing.TB, o opts) *env {
	t.Helper()
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	makeQueue(t, dir)
	e := &env{t: t, dir: dir, log: &memLog{discard: o.quietLog}, served: make(chan error, 1)}
	e.q, e.queue = newCleanup(dir, o)
	var queuer qmqpd.Queuer = e.q
	if o.queuer != nil {
		queuer = o.queuer
	}
	e.srv = qmqpd.NewServer(serverConfig(t, o), queuer, e.log)
	e.srv.MaxConnections = o.maxConns
	if !o.noQueueErr {
		e.srv.OnQueueError = func(err error) { e.log.Log(maillog.Error, "unable to open a queue file: "+err.Error()) }
	}
	e.srv.OnFatal = func(text string) { e.log.Log(maillog.Fatal, text) }
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	go func() { e.served <- e.srv.Serve(l) }()
	t.Cleanup(func() { e.stop() })
	return e
}

// stop closes the server and waits for every session to end.
func (e *env) stop() {
	if e.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		e.t.Errorf("shutdown: %v", err)
	}
	if err := <-e.served; !errors.Is(err, qmqpd.ErrServerClosed) {
		e.t.Errorf("Serve returned %v", err)
	}
	e.srv = nil
}

// msg is one test message.
type msg struct {
	sender string
	rcpts  []string
	body   []byte // the message as sent (headers and body)
}

// newMsg makes a message whose headers cleanup leaves unchanged, with a
// unique token so it can be recognised in the queue.
func newMsg(tok string, rcpts int, bodyLines int) msg {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: alice@example.com\nTo: bob@example.org\nDate: Tue, 24 Nov 2026 19:00:00 +0000\nMessage-ID: <%s@example.com>\nSubject: test %s\n\n", tok, tok)
	for i := 0; i < bodyLines; i++ {
		fmt.Fprintf(&b, "line %d of %s: the quick brown fox jumps over the lazy dog\n", i, tok)
	}
	m := msg{sender: "alice-" + tok + "@example.com", body: b.Bytes()}
	for i := 0; i < rcpts; i++ {
		m.rcpts = append(m.rcpts, fmt.Sprintf("rcpt%d-%s@example.org", i, tok))
	}
	return m
}

func (m msg) packet() []byte { return qmqp.AppendPacket(nil, m.body, m.sender, m.rcpts) }

// send delivers one packet on a new connection and returns the reply.
func send(addr string, packet []byte) (qmqp.Reply, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return qmqp.Reply{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write(packet); err != nil {
		return qmqp.Reply{}, err
	}
	return qmqp.ReadReply(bufio.NewReader(c))
}

// queuedID returns the queue ID of a K reply.
func queuedID(r qmqp.Reply) (string, bool) {
	if r.Code != 'K' {
		return "", false
	}
	id, ok := strings.CutPrefix(r.Text, "Ok: queued as ")
	return id, ok
}

// queued is what a queue file holds.
type queued struct {
	id      string
	mode    fs.FileMode
	uid     int
	sender  string
	rcpts   []string
	content []byte // the content segment as text
}

// readQueueFile parses a queue file completely and checks its structure:
// size record first, segments in order, E last, size record consistent
// with the file.
func readQueueFile(path string) (*queued, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%v)", path, fi.Mode())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	q := &queued{id: filepath.Base(path), mode: fi.Mode().Perm(), uid: int(fi.Sys().(*syscall.Stat_t).Uid)}
	r := queuefile.NewReader(bytes.NewReader(data))
	var (
		size      queuefile.Size
		first     = true
		segment   = 0 // 0 envelope, 1 content, 2 extracted, 3 end
		dataOff   = int64(-1)
		xtraOff   = int64(-1)
		nrcpt     int64
		content   bytes.Buffer
		endOffset int64
	)
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if segment == 3 {
			return nil, fmt.Errorf("%s: record %c after E", path, rec.Type)
		}
		if first {
			if rec.Type != queuefile.RecSize {
				return nil, fmt.Errorf("%s: first record %c, want C", path, rec.Type)
			}
			if size, err = queuefile.ParseSize(rec.Data); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			first = false
			continue
		}
		if dataOff == -2 {
			dataOff = rec.Offset
		}
		switch segment {
		case 0:
			switch rec.Type {
			case queuefile.RecFrom:
				q.sender = string(rec.Data)
			case queuefile.RecRcpt:
				q.rcpts = append(q.rcpts, string(rec.Data))
				nrcpt++
			case queuefile.RecMesg:
				segment = 1
				dataOff = -2
			}
		case 1:
			switch rec.Type {
			case queuefile.RecNorm:
				content.Write(rec.Data)
				content.WriteByte('\n')
			case queuefile.RecCont:
				content.Write(rec.Data)
			case queuefile.RecXtra:
				xtraOff = rec.Offset
				segment = 2
			}
		case 2:
			if rec.Type == queuefile.RecEnd {
				segment = 3
				endOffset = r.Offset()
			}
		}
	}
	if segment != 3 {
		return nil, fmt.Errorf("%s: incomplete queue file (no E record)", path)
	}
	if endOffset != int64(len(data)) {
		return nil, fmt.Errorf("%s: %d bytes after the E record", path, int64(len(data))-endOffset)
	}
	if size.DataOffset != dataOff || size.ContentSize != xtraOff-dataOff || size.Recipients != nrcpt {
		return nil, fmt.Errorf("%s: size record %+v does not match the file (data %d, extracted %d, recipients %d)", path, size, dataOff, xtraOff, nrcpt)
	}
	q.content = content.Bytes()
	return q, nil
}

// check compares a queue file with the message sent.
func (q *queued) check(m msg) error {
	if q.mode != 0o700 {
		return fmt.Errorf("%s: mode %o, want 700", q.id, q.mode)
	}
	if q.sender != m.sender {
		return fmt.Errorf("%s: sender %q, want %q", q.id, q.sender, m.sender)
	}
	if strings.Join(q.rcpts, ",") != strings.Join(m.rcpts, ",") {
		return fmt.Errorf("%s: recipients %q, want %q", q.id, q.rcpts, m.rcpts)
	}
	if !bytes.HasPrefix(q.content, []byte("Received: from ")) || !bytes.HasSuffix(q.content, m.body) {
		return fmt.Errorf("%s: content does not hold the message:\n%s", q.id, q.content)
	}
	// Exactly the Received: header precedes the message.
	rest := q.content[:len(q.content)-len(m.body)]
	for i, line := range strings.Split(strings.TrimSuffix(string(rest), "\n"), "\n") {
		if (i == 0) != strings.HasPrefix(line, "Received: ") || (i > 0 && !strings.HasPrefix(line, "\t")) {
			return fmt.Errorf("%s: unexpected header line before the message: %q", q.id, line)
		}
	}
	return nil
}

// queueFiles lists every non-directory entry under dir/incoming (and, for
// strictness, anything but the expected directories under dir).
func queueFiles(t testing.TB, dir string) map[string]fs.FileMode {
	t.Helper()
	out := map[string]fs.FileMode{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			// Renamed (temporary name to queue ID) or removed while the
			// walk ran against a live server; callers that check the
			// final state walk again after the server has stopped.
			return nil
		}
		if err != nil {
			return err
		}
		out[rel] = fi.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// verifyQueue checks that the queue holds exactly one ready, complete file
// per K reply, matching the message, and nothing else (other than the
// names in allow).
func verifyQueue(t testing.TB, dir string, want map[string]msg, allow ...string) {
	t.Helper()
	ids := make(map[string]int, len(want))
	var list []msg
	for id, m := range want {
		ids[id] = len(list)
		list = append(list, m)
	}
	verifyQueueGen(t, dir, ids, func(i int) msg { return list[i] }, allow...)
}

// verifyQueueGen is verifyQueue for many messages: ids maps each queue ID
// to the index gen rebuilds the message from.
func verifyQueueGen(t testing.TB, dir string, ids map[string]int, gen func(int) msg, allow ...string) {
	t.Helper()
	files := queueFiles(t, dir)
	for _, a := range allow {
		delete(files, a)
	}
	bad := 0
	for id, i := range ids {
		if bad > 10 {
			t.Fatal("too many errors")
		}
		rel := filepath.Join("incoming", id)
		if _, ok := files[rel]; !ok {
			t.Errorf("K reply for %s but no queue file", id)
			bad++
			continue
		}
		delete(files, rel)
		q, err := readQueueFile(filepath.Join(dir, rel))
		if err == nil {
			err = q.check(gen(i))
		}
		if err != nil {
			t.Error(err)
			bad++
		}
	}
	for rel, mode := range files {
		t.Errorf("unexpected file in the queue directory: %s (%v)", rel, mode)
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB, pid string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + pid + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// settle waits (bounded) until f reports true; servers close sockets and
// goroutines end asynchronously after the last reply.
func settle(f func() bool) bool {
	for i := 0; i < 200; i++ {
		if f() {
			return true
		}
		time.Sleep(25 * time.Millisecond)
	}
	return f()
}

// heapInuse returns the live heap after a full collection.
func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func itoa(i int) string { return strconv.Itoa(i) }
