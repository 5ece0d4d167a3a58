// Package bench holds the Go benchmarks of issue #5 that span packages: the
// content pipeline (the records qmqpd hands to the built-in cleanup, down
// to the queue file) and the whole in-process server (QMQP client to
// durable queue file). The side-by-side comparison with Postfix is the
// program in bench/cmd/qmqpbench, run by bench/run.sh.
//
// Run with: go test ./bench -run XXX -bench . -benchmem
// Profile:  go test ./bench -run XXX -bench Server/32 -cpuprofile cpu.out
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/cleanup"
	"github.com/qmqpd-go/qmqpd/internal/maillog"
	"github.com/qmqpd-go/qmqpd/internal/maincf"
	"github.com/qmqpd-go/qmqpd/internal/qmqp"
	"github.com/qmqpd-go/qmqpd/internal/qmqpd"
	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// message returns a message of about size bytes with qmqp-source's shape.
func message(size int) []byte {
	var b bytes.Buffer
	b.WriteString("From: <sender@example.org>\nTo: <rcpt@example.com>\nSubject: benchmark\n\n")
	line := []byte("La de da de da 1. La de da de da 2. La de da de da 3. La de da de da 4.\n")
	for b.Len() < size {
		b.Write(line)
	}
	return b.Bytes()[:size]
}

var sizes = []int{2000, 100000, 5000000}

func sizeName(n int) string {
	switch {
	case n >= 1000000:
		return strconv.Itoa(n/1000000) + "MB"
	case n >= 1000:
		return strconv.Itoa(n/1000) + "KB"
	}
	return strconv.Itoa(n) + "B"
}

// discardStore is a cleanup.Store whose files go nowhere: the pipeline's
// own cost, without the file system.
type discardStore struct {
	n    atomic.Int64
	file discardFile // reused: the benchmarks run one message at a time
}

func (d *discardStore) Create(now time.Time) (cleanup.QueueFile, error) {
	if d.file.w == nil {
		d.file.w = queuefile.NewWriter(io.Discard)
	}
	d.file.id, d.file.created = "B"+strconv.FormatInt(d.n.Add(1), 16), now
	return &d.file, nil
}

type discardFile struct {
	id      string
	created time.Time
	w       *queuefile.Writer
}

func (f *discardFile) ID() string                               { return f.id }
func (f *discardFile) Created() time.Time                       { return f.created }
func (f *discardFile) Record(typ byte, data []byte) error       { return f.w.Record(typ, data) }
func (f *discardFile) Flush() error                             { return f.w.Flush() }
func (f *discardFile) PatchSize(s queuefile.Size) error         { return nil }
func (f *discardFile) Commit() error                            { return f.w.Flush() }
func (f *discardFile) Abort() error                             { return nil }
func (f *discardFile) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }

// record is one record qmqpd hands to cleanup.
type record struct {
	typ  byte
	data []byte
}

// records returns one message's records the way qmqpd sends them, built
// once so that the benchmark measures cleanup, not their making.
func records(msg []byte) []record {
	var recs []record
	rec := func(t byte, d []byte) { recs = append(recs, record{t, d}) }
	rec(queuefile.RecTime, []byte("1795530772 599664"))
	rec(queuefile.RecFrom, []byte("sender@example.org"))
	for _, a := range []string{"log_client_name=localhost", "log_client_address=127.0.0.1", "log_client_port=40000",
		"log_message_origin=localhost[127.0.0.1]", "log_protocol_name=QMQP", "client_name=localhost",
		"client_address=127.0.0.1", "client_port=40000", "client_address_type=2", "protocol_name=QMQP"} {
		rec(queuefile.RecAttr, []byte(a))
	}
	rec(queuefile.RecRcpt, []byte("rcpt@example.com"))
	rec(queuefile.RecMesg, nil)
	rec(queuefile.RecNorm, []byte("Received: from localhost (localhost [127.0.0.1])"))
	rec(queuefile.RecNorm, []byte("\tby bench.example.org (Postfix) with QMQP"))
	rec(queuefile.RecNorm, []byte("\tfor <rcpt@example.com>; Tue, 24 Nov 2026 20:00:00 +0000 (UTC)"))
	for len(msg) > 0 {
		i := bytes.IndexByte(msg, '\n')
		if i < 0 {
			rec(queuefile.RecCont, msg)
			break
		}
		rec(queuefile.RecNorm, msg[:i])
		msg = msg[i+1:]
	}
	rec(queuefile.RecXtra, nil)
	rec(queuefile.RecEnd, nil)
	return recs
}

// feed sends one message's records to st.
func feed(st *cleanup.Stream, recs []record) {
	for _, r := range recs {
		_ = st.Record(r.typ, r.data)
	}
}

// runPipeline sends one message's records through c per iteration.
func runPipeline(b *testing.B, c *cleanup.Cleanup, recs []record, size int) {
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		st, err := c.Open(context.Background(), cleanup.FlagMaskExternal)
		if err != nil {
			b.Fatal(err)
		}
		feed(st, recs)
		if status, reason := st.Finish(); status != 0 {
			b.Fatalf("status %d %s", status, reason)
		}
	}
}

// BenchmarkContentPipeline is the built-in cleanup from qmqpd's records to
// queue file records, per message, without the file system.
func BenchmarkContentPipeline(b *testing.B) {
	for _, size := range sizes {
		b.Run(sizeName(size), func(b *testing.B) {
			msg := message(size)
			recs := records(msg)
			c := &cleanup.Cleanup{Settings: cleanup.DefaultSettings("bench.example.org", "example.org"), Store: &discardStore{}}
			runPipeline(b, c, recs, size)
		})
	}
}

// BenchmarkQueueFile is the content pipeline writing real queue files
// (create, write, commit with fsync) in a temporary directory, one at a
// time.
func BenchmarkQueueFile(b *testing.B) {
	for _, size := range sizes[:2] {
		b.Run(sizeName(size), func(b *testing.B) {
			recs := records(message(size))
			dir := b.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "incoming"), 0o700); err != nil {
				b.Fatal(err)
			}
			q := &queuefile.Queue{Dir: dir}
			c := &cleanup.Cleanup{Settings: cleanup.DefaultSettings("bench.example.org", "example.org"), Store: cleanup.QueueStore{Queue: q}}
			runPipeline(b, c, recs, size)
		})
	}
}

// noWake hides QueueStore's WakeQmgr: no queue manager runs here.
type noWake struct{ s cleanup.QueueStore }

func (n noWake) Create(now time.Time) (cleanup.QueueFile, error) { return n.s.Create(now) }

// startServer runs our qmqpd in-process with the built-in cleanup on a
// free loopback port, logging to a file like the standalone daemon.
func startServer(tb testing.TB, mode queuefile.SyncMode) (addr string) {
	tb.Helper()
	root := tb.TempDir()
	queueDir := filepath.Join(root, "spool")
	for _, d := range []string{filepath.Join(root, "etc"), filepath.Join(queueDir, "incoming"), filepath.Join(queueDir, "public")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	mainCF := fmt.Sprintf("myhostname = bench.example.org\nmydomain = example.org\nqmqpd_authorized_clients = 127.0.0.0/8\n"+
		"queue_directory = %s\nmaillog_file = %s\nmaillog_file_prefixes = %s\ninet_protocols = ipv4\nqmqpd_cleanup_mode = builtin\n",
		queueDir, filepath.Join(root, "maillog"), root)
	if err := os.WriteFile(filepath.Join(root, "etc", "main.cf"), []byte(mainCF), 0o644); err != nil {
		tb.Fatal(err)
	}
	cfg, err := maincf.Load(maincf.Options{ConfigDir: filepath.Join(root, "etc"), ProcessName: "qmqpd", ServiceName: "qmqpd"})
	if err != nil {
		tb.Fatal(err)
	}
	logger, err := maillog.New(maillog.Options{Tag: "postfix/qmqpd", Hostname: "bench.example.org",
		MaillogFile: filepath.Join(root, "maillog"), MaillogPrefixes: []string{root}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { logger.Close() })
	scfg, err := qmqpd.ConfigFromMainCF(cfg, false, qmqpd.Reporter{})
	if err != nil {
		tb.Fatal(err)
	}
	// As qmqpd.NewBuiltinQueuer builds it, with the Syncer when asked for
	// and without the queue manager wakeup (no qmgr runs).
	settings, err := cleanup.SettingsFromConfig(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	q := &queuefile.Queue{Dir: queueDir, LongIDs: settings.EnableLongQueueIDs}
	if mode != 0 {
		s, err := queuefile.NewSyncerMode(queueDir, mode)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		q.Syncer = s
	}
	cl := &cleanup.Cleanup{Settings: settings, Store: noWake{cleanup.QueueStore{Queue: q}}, Log: func(warning bool, text string) {
		level := maillog.Info
		if warning {
			level = maillog.Warning
		}
		logger.Log(level, text)
	}}
	bq := qmqpd.BuiltinQueuer{Cleanup: cl}
	srv := qmqpd.NewServer(scfg, bq, logger)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// BenchmarkServer drives the in-process server with the Go client from 1
// and 32 parallel sessions, 2 KB messages: plain per-file fsync, and group
// commit in both Syncer modes.
func BenchmarkServer(b *testing.B) {
	for _, sessions := range []int{1, 32} {
		for _, mode := range []queuefile.SyncMode{0, queuefile.SyncFiles, queuefile.SyncFS} {
			name := fmt.Sprintf("%d/plain", sessions)
			if mode != 0 {
				name = fmt.Sprintf("%d/group-%s", sessions, mode)
			}
			b.Run(name, func(b *testing.B) {
				addr := startServer(b, mode)
				msg := message(2000)
				c := &qmqp.Client{Servers: []string{addr}}
				b.ReportAllocs()
				send := func() {
					rep, err := c.Send(context.Background(), msg, "sender@example.org", []string{"rcpt@example.com"})
					if err != nil || rep.Code != qmqp.StatusOK {
						b.Errorf("send: %v %v", rep, err)
					}
				}
				if sessions == 1 {
					for b.Loop() {
						send()
					}
					return
				}
				b.SetParallelism(max(1, sessions/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						send()
					}
				})
			})
		}
	}
}
