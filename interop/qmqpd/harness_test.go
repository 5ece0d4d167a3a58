package qmqpd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/cleanupclient"
	"github.com/qmqpd-go/qmqpd/internal/maillog"
	"github.com/qmqpd-go/qmqpd/internal/maincf"
	"github.com/qmqpd-go/qmqpd/internal/postfixtest"
	server "github.com/qmqpd-go/qmqpd/internal/qmqpd"
)

// The three servers a case is sent to.
const (
	sideReal    = "real"
	sideService = "service"
	sideBuiltin = "builtin"
)

// action is what the client does with a case's packet.
type action int

const (
	// sendAll writes the packet, half-closes and reads the reply.
	sendAll action = iota
	// stall writes the packet and waits, without closing, until the
	// server gives up (use with a short qmqpd_timeout).
	stall
	// reset writes the packet and aborts the connection (TCP reset).
	reset
	// flood writes the packet, which is far larger than socket buffers,
	// completely before it reads (the early-reply improvement).
	flood
)

// outcome is what one server did with one case, masked.
type outcome struct {
	Reply string
	Log   []string
	Queue []string
	took  time.Duration // from connecting to the end of the reply
}

// shard is one private Postfix instance with a qmqpd service and a cleanup
// service per case, configured with the case's overrides.
type shard struct {
	inst    *postfixtest.Instance
	ports   map[*corpusCase]int
	index   map[*corpusCase]int
	cleanup map[*corpusCase]string // the case's cleanup service
}

// paramName is the main.cf parameter that holds override j of case i; the
// master.cf entries refer to it, so values need no master.cf quoting.
func paramName(i, j int) string { return fmt.Sprintf("qdiff_%d_%d", i, j) }

// cleanupService is the private cleanup service of case i.
func cleanupService(i int) string { return fmt.Sprintf("qdcleanup%d", i) }

// startShard starts an instance for cases. dataDir replaces "DIR" in
// parameter values.
// bin, when set, is our qmqpd binary, which then runs in master.cf in
// place of Postfix's.
func startShard(t *testing.T, cases []*corpusCase, dataDir string, extraMainCF map[string]string, held map[*corpusCase]net.Listener, bin string) *shard {
	sh := &shard{ports: map[*corpusCase]int{}, index: map[*corpusCase]int{}, cleanup: map[*corpusCase]string{}}
	// postlogd(8) exits after max_use (100) datagrams, and lines sent
	// while master restarts it can be lost; the corpus logs far more.
	mainCF := map[string]string{"max_use": "100000"}
	for k, v := range extraMainCF {
		mainCF[k] = v
	}
	var master strings.Builder
	// Cases without settings share one qmqpd and one cleanup service
	// (fewer processes to start); the others get their own.
	var shared *corpusCase
	for i, c := range cases {
		sh.index[c] = i
		if len(c.params) == 0 && !c.rewrite {
			if shared != nil {
				sh.ports[c] = sh.ports[shared]
				sh.cleanup[c] = sh.cleanup[shared]
				continue
			}
			shared = c
		}
		port := held[c].Addr().(*net.TCPAddr).Port
		sh.ports[c] = port
		sh.cleanup[c] = cleanupService(i)
		var opts strings.Builder
		for j, p := range c.params {
			name, value, ok := strings.Cut(p, "=")
			if !ok {
				t.Fatalf("case %s: bad parameter %q", c.name, p)
			}
			mainCF[paramName(i, j)] = strings.ReplaceAll(value, "DIR", dataDir)
			fmt.Fprintf(&opts, " -o %s=$%s", name, paramName(i, j))
		}
		fmt.Fprintf(&master, "%s inet n - n - - qmqpd -o cleanup_service_name=%s%s\n", net.JoinHostPort(c.host(), strconv.Itoa(port)), cleanupService(i), opts.String())
		cleanupOpts := opts.String()
		if c.rewrite {
			// trivial-rewrite reads main.cf only: give the case its own.
			rw := fmt.Sprintf("qdrewrite%d", i)
			fmt.Fprintf(&master, "%s unix - - n - - trivial-rewrite%s\n", rw, opts.String())
			cleanupOpts = " -o rewrite_service_name=" + rw + cleanupOpts
		}
		fmt.Fprintf(&master, "%s unix n - n - 0 cleanup%s\n", cleanupService(i), cleanupOpts)
	}
	sh.inst = postfixtest.StartWith(t, postfixtest.Options{MainCF: mainCF, QmqpdBinary: bin})
	inst := sh.inst
	// postfixtest.Start probes the listener once; let that session end
	// before the cases' log windows start.
	for try := 0; try < 1000; try++ {
		if done, _ := sessionOver(logLines(inst.Log())); done {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	f, err := os.OpenFile(filepath.Join(inst.ConfigDir, "master.cf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(master.String()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	pidText, err := os.ReadFile(filepath.Join(inst.QueueDir, "pid", "master.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		t.Fatal(err)
	}
	// Let go of the reserved ports just before master binds them.
	for _, c := range cases {
		held[c].Close()
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// Wait until master listens on every new port. (A probe connection
	// would start qmqpd early, and a probe bind could make master's fail.)
	deadline := time.Now().Add(10 * time.Second)
	for c, port := range sh.ports {
		for !listening(c.v6, port) {
			if time.Now().After(deadline) {
				t.Fatalf("master did not open port %d after reload:\n%s", port, inst.Log())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return sh
}

// listening reports whether some socket listens on the loopback port
// (from /proc/net/tcp or tcp6).
func listening(v6 bool, port int) bool {
	file, addr := "/proc/net/tcp", "0100007F"
	if v6 {
		file, addr = "/proc/net/tcp6", "00000000000000000000000001000000"
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	want := fmt.Sprintf("%s:%04X", addr, port)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == want && f[3] == "0A" {
			return true
		}
	}
	return false
}

// reservePorts holds a distinct free port for every case until its
// shard's master takes it over (a port picked and released at once could
// be picked again for the next case).
func reservePorts(t *testing.T, cases []*corpusCase) map[*corpusCase]net.Listener {
	held := map[*corpusCase]net.Listener{}
	t.Cleanup(func() {
		for _, l := range held {
			l.Close()
		}
	})
	for _, c := range cases {
		l, err := net.Listen("tcp", net.JoinHostPort(c.host(), "0"))
		if err != nil {
			t.Fatal(err)
		}
		held[c] = l
	}
	return held
}

// run sends case c to one side and collects what it did.
func (sh *shard) run(t *testing.T, c *corpusCase, side string) outcome {
	t.Helper()
	inst := sh.inst
	start := len(inst.Log())
	var addr string
	var stop func()
	if side == sideReal {
		addr = net.JoinHostPort(c.host(), strconv.Itoa(sh.ports[c]))
	} else {
		addr, stop = sh.startOurs(t, c, side)
		defer stop()
	}
	fatal := make(chan struct{})
	replyCh := make(chan string, 1)
	// inSession waits until the server has started reading the packet.
	inSession := func() {
		for i := 0; i < 2000; i++ {
			if strings.Contains(inst.Log()[start:], ": client=") {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	began := time.Now()
	var took time.Duration
	go func() {
		r := converse(addr, c, fatal, inSession)
		took = time.Since(began)
		replyCh <- r
	}()

	// Wait for the end of the session in the log: qmqpd's last line.
	var lines []string
	deadline := time.Now().Add(15 * time.Second)
	for {
		lines = logLines(inst.Log()[start:])
		done, isFatal := sessionOver(lines)
		if isFatal {
			close(fatal)
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			close(fatal)
			t.Errorf("%s: no end of session in the log after 15s; log so far:\n%s", side, strings.Join(lines, "\n"))
			break
		}
		time.Sleep(3 * time.Millisecond)
	}
	reply := <-replyCh
	files := sh.collectFiles(t)
	var ids []string
	for _, f := range files {
		ids = append(ids, f.ID)
	}
	m := newMasker(reply, lines, ids)
	out := outcome{Reply: m.text(reply), took: took}
	for _, l := range lines {
		out.Log = append(out.Log, m.text(l))
	}
	for _, f := range files {
		out.Queue = append(out.Queue, m.records(f)...)
	}
	return out
}

// sessionOver reports whether the log shows the end of a qmqpd session (its
// "disconnect from" line or a fatal error).
func sessionOver(lines []string) (done, fatal bool) {
	for _, l := range lines {
		if strings.HasPrefix(l, "qmqpd: fatal: ") {
			return true, true
		}
		if strings.HasPrefix(l, "qmqpd: disconnect from ") {
			return true, false
		}
	}
	return false, false
}

// converse plays the client side of case c against addr and returns every
// byte the server sent. A fatal signal ends the wait (the server will never
// answer). inSession returns once the server reads the packet.
func converse(addr string, c *corpusCase, fatal <-chan struct{}, inSession func()) string {
	if c.client != nil {
		return runClient(c.client(addr))
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return "dial error: " + err.Error()
	}
	tc := conn.(*net.TCPConn)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-fatal:
			conn.Close()
		case <-finished:
		}
	}()
	switch c.action {
	case reset:
		_, _ = conn.Write(c.packet)
		inSession()
		_ = tc.SetLinger(0)
		conn.Close()
		return ""
	case stall:
		_, _ = conn.Write(c.packet)
	case sendAll, flood:
		if _, err := conn.Write(c.packet); err != nil && c.action == flood {
			return "write error: " + errText(err)
		}
		_ = tc.CloseWrite()
	}
	reply, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return string(reply) + "<read error: " + errText(err) + ">"
	}
	return string(reply)
}

// runClient runs a real QMQP client program and returns what it printed
// and how it exited.
func runClient(cmd *exec.Cmd) string {
	out, err := cmd.CombinedOutput()
	status := "exit 0"
	if err != nil {
		status = err.Error()
	}
	return string(out) + "<" + status + ">"
}

func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

// collectFiles waits until incoming/ holds only finished files (cleanup
// removes an abandoned file after qmqpd has gone), returns them sorted and
// empties incoming/.
func (sh *shard) collectFiles(t *testing.T) []queueFile {
	t.Helper()
	dir := filepath.Join(sh.inst.QueueDir, "incoming")
	var files []queueFile
	for try := 0; ; try++ {
		files = files[:0]
		pending := false
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			fi, err := d.Info()
			if errors.Is(err, os.ErrNotExist) {
				pending = true // cleanup is removing it
				return nil
			}
			if err != nil {
				return err
			}
			if fi.Mode().Perm()&0o100 == 0 {
				pending = true
			}
			b, err := os.ReadFile(path)
			if errors.Is(err, os.ErrNotExist) {
				pending = true
				return nil
			}
			if err != nil {
				return err
			}
			files = append(files, queueFile{ID: d.Name(), Mode: fmt.Sprintf("%04o", fi.Mode().Perm()), Data: b})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !pending || try > 200 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].ID < files[j].ID })
	sh.inst.ClearIncoming()
	return files
}

// startOurs starts our qmqpd for case c in the given cleanup mode, on a
// fresh loopback port, logging through the instance's postlogd. It
// serves one connection. Configuration errors are logged as the fatal
// errors they are in the daemon, and then nothing is served.
func (sh *shard) startOurs(t *testing.T, c *corpusCase, side string) (addr string, stop func()) {
	t.Helper()
	inst := sh.inst
	i := sh.index[c]
	newLog := func(prog string) *maillog.Logger {
		l, err := maillog.New(maillog.Options{
			Tag:             "postfix/" + prog,
			Hostname:        inst.MainCF["myhostname"],
			MaillogFile:     inst.LogFile,
			MaillogPrefixes: []string{"/"},
			PostlogSocket:   filepath.Join(inst.QueueDir, "public", "postlog"),
		})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	qlog := newLog("qmqpd")
	clog := newLog("cleanup")
	ln, err := net.Listen("tcp", net.JoinHostPort(c.host(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var srv *server.Server
	stop = func() {
		ln.Close()
		if srv != nil {
			srv.Close()
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("%s: our server did not stop", side)
		}
		qlog.Close()
		clog.Close()
	}
	overrides := []string{"cleanup_service_name=" + sh.cleanup[c]}
	for j, p := range c.params {
		name, _, _ := strings.Cut(p, "=")
		overrides = append(overrides, name+"=$"+paramName(i, j))
	}
	cfg, err := maincf.Load(maincf.Options{
		ConfigDir:   inst.ConfigDir,
		Overrides:   overrides,
		ProcessName: "qmqpd",
		ServiceName: net.JoinHostPort(c.host(), strconv.Itoa(sh.ports[c])),
		Warn:        qlog.Warn,
	})
	if err == nil {
		srv, err = newServer(cfg, side, inst.QueueDir, qlog, clog)
	}
	if err != nil {
		// The daemon exits; the client waits in the listen queue.
		qlog.Log(maillog.Fatal, err.Error())
		go func() {
			defer close(done)
			c, err := ln.Accept()
			if err == nil {
				io.Copy(io.Discard, c)
				c.Close()
			}
		}()
		return ln.Addr().String(), stop
	}
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		if err := srv.ServeConn(conn); err != nil {
			var fe *server.FatalError
			if errors.As(err, &fe) {
				qlog.Log(maillog.Fatal, fe.Text)
			}
		}
	}()
	return ln.Addr().String(), stop
}

// newServer builds our server the way the daemon does under master(8),
// without the privilege checks (the test runs as root).
func newServer(cfg *maincf.Config, side, queueDir string, qlog, clog *maillog.Logger) (*server.Server, error) {
	scfg, err := server.ConfigFromMainCF(cfg, false, server.Reporter{
		Warn:  qlog.Warn,
		Error: func(s string) { qlog.Log(maillog.Error, s) },
	})
	if err != nil {
		return nil, err
	}
	var q server.Queuer
	switch side {
	case sideService:
		name, err := cfg.Get("cleanup_service_name")
		if err != nil {
			return nil, err
		}
		ipc, err := cfg.Time("ipc_timeout", time.Second, 0)
		if err != nil {
			return nil, err
		}
		q = server.ServiceQueuer{Client: &cleanupclient.Client{
			Path:    filepath.Join(queueDir, "public", name),
			Timeout: ipc,
		}}
	case sideBuiltin:
		bq, err := server.NewBuiltinQueuer(cfg, server.BuiltinOptions{QueueDir: queueDir, Log: clog})
		if err != nil {
			return nil, err
		}
		q = bq
	}
	srv := server.NewServer(scfg, q, qlog)
	return srv, nil
}
