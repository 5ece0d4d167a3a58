// Command qmqpbench measures our qmqpd against Postfix 3.7.11's qmqpd side
// by side on one machine (issue #5): both servers write durable queue files
// to the same file system with the same main.cf limits, host name and
// authorized clients, and no qmgr runs for either. Each cell (parallel
// sessions x message size) is measured as:
//
//   - the raw fsync ceiling: create, write, fsync, close a file of the same
//     size, from as many goroutines as sessions, in the same rotation as
//     the servers (median of the repetitions);
//   - throughput, CPU seconds per 1000 messages and peak RSS with Postfix's
//     qmqp-source, alternating ceiling, Postfix and ours (C A B C A B ...);
//   - per-message latency (p50, p99) with our Go QMQP client, alternating
//     the same way.
//
// A memory test then sends one 10 MB message from each of many concurrent
// clients to our server and records its peak RSS.
//
// Results are printed as a table and written into a Markdown file (between
// the results markers) with an SVG chart. Run it through bench/run.sh, as
// root (Postfix's master needs it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	quick      bool
	dir        string
	ours       string
	port       int
	seconds    float64
	reps       int
	sessions   []int
	sizes      []int
	memClients int
	memSize    int
	memLimitMB int
	out        string
	svg        string
	variants   []variant
}

// variant is another build of our qmqpd measured in the same rotation
// (A B C ...), to show what a change bought.
type variant struct{ name, binary string }

type variantFlag struct{ v *[]variant }

func (f variantFlag) String() string { return "" }

func (f variantFlag) Set(s string) error {
	name, bin, ok := strings.Cut(s, "=")
	if !ok || name == "" || bin == "" || name == "ours" || name == "postfix" {
		return fmt.Errorf("-variant wants NAME=BINARY (NAME not ours/postfix), got %q", s)
	}
	*f.v = append(*f.v, variant{name, bin})
	return nil
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "qmqpbench:", err)
		os.Exit(1)
	}
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mult := 1
		switch {
		case strings.HasSuffix(f, "MB"):
			mult, f = 1000000, strings.TrimSuffix(f, "MB")
		case strings.HasSuffix(f, "KB"):
			mult, f = 1000, strings.TrimSuffix(f, "KB")
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n*mult)
	}
	return out, nil
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("qmqpbench", flag.ContinueOnError)
	var o options
	var sessions, sizes string
	fs.BoolVar(&o.quick, "quick", false, "quick mode: fewer cells, shorter runs (a couple of minutes)")
	fs.StringVar(&o.dir, "dir", "/tmp/bench/run", "scratch directory (on the file system under test)")
	fs.StringVar(&o.ours, "ours", "", "path of our qmqpd binary (required)")
	fs.IntVar(&o.port, "port", 23001, "Postfix listens on PORT, ours on PORT+1 (127.0.0.1)")
	fs.Float64Var(&o.seconds, "seconds", 0, "target seconds per run (default 1.5 quick, 4 full)")
	fs.IntVar(&o.reps, "reps", 0, "A B repetitions per cell (default 2 quick, 3 full)")
	fs.StringVar(&sessions, "sessions", "", "parallel sessions (default 1,32 quick; 1,8,32,128 full)")
	fs.StringVar(&sizes, "sizes", "", "message sizes, e.g. 2KB,100KB,5MB (default 2KB,100KB quick; 2KB,100KB,5MB full)")
	fs.IntVar(&o.memClients, "mem-clients", 0, "memory test: concurrent clients (default 50 quick, 500 full; -1 = skip)")
	fs.IntVar(&o.memSize, "mem-size", 10000000, "memory test: message size")
	fs.IntVar(&o.memLimitMB, "mem-abort", 2048, "memory test: abort when our RSS exceeds this many MiB")
	fs.StringVar(&o.out, "out", "", "Markdown file to write the results into (between the results markers)")
	fs.Var(variantFlag{&o.variants}, "variant", "NAME=BINARY: also measure another qmqpd build in the rotation (repeatable)")
	fs.StringVar(&o.svg, "svg", "", "SVG chart file (default: beside -out, benchmarks.svg)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.ours == "" {
		return errors.New("-ours is required")
	}
	if o.port < 23000 || o.port+1+len(o.variants) > 23999 {
		return errors.New("-port must leave PORT .. PORT+1+variants within 23000-23999")
	}
	if o.seconds == 0 {
		o.seconds = 4
		if o.quick {
			o.seconds = 1.5
		}
	}
	if o.reps <= 0 {
		o.reps = 3
		if o.quick {
			o.reps = 2
		}
	}
	var err error
	if sessions == "" {
		sessions = "1,8,32,128"
		if o.quick {
			sessions = "1,32"
		}
	}
	if o.sessions, err = parseInts(sessions); err != nil {
		return err
	}
	if sizes == "" {
		sizes = "2KB,100KB,5MB"
		if o.quick {
			sizes = "2KB,100KB"
		}
	}
	if o.sizes, err = parseInts(sizes); err != nil {
		return err
	}
	if o.memClients == 0 {
		o.memClients = 500
		if o.quick {
			o.memClients = 50
		}
	}
	if o.out != "" && o.svg == "" {
		o.svg = filepath.Join(filepath.Dir(o.out), "benchmarks.svg")
	}
	if os.Geteuid() != 0 {
		return errors.New("must run as root (Postfix's master needs it)")
	}
	// Interrupted (^C, or SIGTERM), the run in progress is stopped and
	// every process the benchmark started is stopped before it exits.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return bench(ctx, o, stdout)
}

// cellResult holds one cell's measurements.
type cellResult struct {
	sessions, size int
	ceiling        float64 // files/s: median over the repetitions
	srv            map[string]*srvResult
}

type srvResult struct {
	rates   []float64 // msgs/s per qmqp-source run
	cpu     []float64 // CPU s per 1000 msgs per qmqp-source run
	cpuAll  []float64 // the same with the server's helper processes
	rssKB   int64     // peak over all runs
	lat     []time.Duration
	goRates []float64
	errors  []string
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type memResult struct {
	clients, size int
	peakKB        int64
	elapsed       time.Duration
	errors        int
	errText       string
	aborted       bool
}

func logf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// errInterrupted is returned when a signal stopped the benchmark.
var errInterrupted = errors.New("interrupted; every process started was stopped")

func bench(ctx context.Context, o options, stdout io.Writer) error {
	if _, err := os.Stat(o.dir); err == nil {
		// Left by an interrupted run. Deleting its files frees many inodes
		// at once, which makes file creation slower for a while on ext4
		// without a journal (see setAside): let them age first.
		if err := os.RemoveAll(o.dir); err != nil {
			return err
		}
		logf(stdout, "removed an earlier scratch directory; waiting %s for its freed inodes to age", inodeAging)
		select {
		case <-time.After(inodeAging):
		case <-ctx.Done():
			return errInterrupted
		}
	}
	defer os.RemoveAll(o.dir)
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	env := describeEnv(o.dir)
	pfAddr := fmt.Sprintf("127.0.0.1:%d", o.port)
	ourAddr := fmt.Sprintf("127.0.0.1:%d", o.port+1)
	pf, err := startPostfix(filepath.Join(o.dir, "postfix"), pfAddr)
	if err != nil {
		return err
	}
	defer pf.stop()
	maxConn := max(600, o.memClients+10)
	ours, err := startOurs(filepath.Join(o.dir, "ours"), ourAddr, o.ours, maxConn)
	if err != nil {
		return err
	}
	defer ours.stop()
	servers := []*server{pf, ours} // A B (C ...), in this order every time
	for i, v := range o.variants {
		addr := fmt.Sprintf("127.0.0.1:%d", o.port+2+i)
		vs, err := startOurs(filepath.Join(o.dir, "variant-"+v.name), addr, v.binary, maxConn)
		if err != nil {
			return fmt.Errorf("variant %s: %w", v.name, err)
		}
		defer vs.stop()
		vs.name = v.name
		servers = append(servers, vs)
		logf(stdout, "variant %s (%s) on %s", v.name, v.binary, addr)
	}
	logf(stdout, "postfix on %s, ours on %s, scratch %s", pfAddr, ourAddr, o.dir)

	// Rough first guesses of messages per second, refined by each run.
	est := map[string]float64{}
	guess := func(srv string, size, sessions int) float64 {
		if r, ok := est[fmt.Sprint(srv, size, sessions)]; ok {
			return r
		}
		switch {
		case size >= 1000000:
			return 15
		case size >= 100000:
			return 150
		}
		if sessions == 1 {
			return 300
		}
		return 800
	}
	count := func(srv string, size, sessions int) int {
		n := int(guess(srv, size, sessions) * o.seconds)
		return min(max(n, sessions, 10), 200000)
	}

	var cells []*cellResult
	start := time.Now()
	aside := &setAside{dir: filepath.Join(o.dir, "set-aside")}
	for _, size := range o.sizes {
		msg := message(size)
		// Files of small messages are set aside rather than deleted (see
		// setAside); large ones would fill the disk, and their cost is
		// in the data, not in the inode.
		keep := aside
		if size > setAsideMaxSize {
			keep = nil
		}
		for _, sess := range o.sessions {
			c := &cellResult{sessions: sess, size: size, srv: map[string]*srvResult{}}
			for _, s := range servers {
				c.srv[s.name] = &srvResult{}
			}
			var ceilings []float64
			for rep := 0; rep < o.reps; rep++ {
				// The ceiling takes its turn in the rotation too, so that
				// it drifts with the machine as the servers do.
				if ctx.Err() != nil {
					return errInterrupted
				}
				n := count("ceiling", size, sess)
				cr, err := runCeiling(filepath.Join(o.dir, "ceiling"), sess, size, n, keep)
				if err != nil {
					return fmt.Errorf("fsync ceiling: %w", err)
				}
				rate := float64(cr.msgs) / cr.elapsed.Seconds()
				ceilings = append(ceilings, rate)
				est[fmt.Sprint("ceiling", size, sess)] = rate
				logf(stdout, "%4d sessions %7s: fsync ceiling %5d files %7.0f/s", sess, sizeName(size), cr.msgs, rate)
				for _, s := range servers {
					r := c.srv[s.name]
					n := count(s.name, size, sess)
					all := s.allPids
					if all == nil {
						all = s.pids
					}
					u := startUsage(s.pids, 0, nil)
					ua := startUsage(all, 0, nil)
					lr := runQMQPSource(ctx, s.addr, sess, size, n)
					cpu, rss := u.stop()
					if ctx.Err() != nil {
						return errInterrupted
					}
					cpuAll, _ := ua.stop()
					r.cpuAll = append(r.cpuAll, cpuAll/float64(lr.msgs)*1000)
					rate := float64(lr.msgs) / lr.elapsed.Seconds()
					r.rates = append(r.rates, rate)
					r.cpu = append(r.cpu, cpu/float64(lr.msgs)*1000)
					r.rssKB = max(r.rssKB, rss)
					est[fmt.Sprint(s.name, size, sess)] = rate
					if got := countIncoming(s.queueDir); got != lr.msgs {
						r.errors = append(r.errors, fmt.Sprintf("qmqp-source sent %d, %d queue files ready", lr.msgs, got))
					}
					if lr.errText != "" {
						r.errors = append(r.errors, lr.errText)
					}
					if err := clearIncoming(s.queueDir, keep); err != nil {
						return err
					}
					logf(stdout, "%4d sessions %7s: %-7s qmqp-source %5d msgs %7.0f msg/s  cpu %.3f s/1000  rss %.1f MiB", sess, sizeName(size), s.name, lr.msgs, rate, cpu/float64(lr.msgs)*1000, float64(rss)/1024)
				}
				for _, s := range servers {
					r := c.srv[s.name]
					n := count(s.name, size, sess)
					lr := runGoClient(ctx, s.addr, sess, n, msg)
					if ctx.Err() != nil {
						return errInterrupted
					}
					r.lat = append(r.lat, lr.lat...)
					r.goRates = append(r.goRates, float64(lr.msgs)/lr.elapsed.Seconds())
					if lr.errors > 0 {
						r.errors = append(r.errors, fmt.Sprintf("go client: %d errors, first: %s", lr.errors, lr.errText))
					}
					if got := countIncoming(s.queueDir); got != lr.msgs-lr.errors {
						r.errors = append(r.errors, fmt.Sprintf("go client: %d queued, %d queue files ready", lr.msgs-lr.errors, got))
					}
					if err := clearIncoming(s.queueDir, keep); err != nil {
						return err
					}
					logf(stdout, "%4d sessions %7s: %-7s go client   %5d msgs %7.0f msg/s  p50 %s p99 %s", sess, sizeName(size), s.name, lr.msgs, float64(lr.msgs)/lr.elapsed.Seconds(), ms(percentile(lr.lat, 50)), ms(percentile(lr.lat, 99)))
				}
			}
			c.ceiling = median(ceilings)
			cells = append(cells, c)
		}
	}

	var mem *memResult
	varMem := map[string]*memResult{}
	if o.memClients > 0 {
		mem = memoryTest(ctx, stdout, ours, o)
		for _, s := range servers[2:] {
			varMem[s.name] = memoryTest(ctx, stdout, s, o)
		}
		if ctx.Err() != nil {
			return errInterrupted
		}
	}
	env.duration = time.Since(start)
	env.loadEnd = loadAvg()

	table := renderTable(cells, mem, env, o) + renderVariants(cells, varMem, o)
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, table)
	if o.out != "" {
		if err := writeReport(o.out, o.svg, table, cells); err != nil {
			return err
		}
		logf(stdout, "wrote %s and %s", o.out, o.svg)
	}
	return nil
}

// memoryTest sends one memSize message from each of memClients concurrent
// clients to our server and records its peak RSS. It aborts (and says so)
// when the server grows past memLimitMB, to protect the machine.
func memoryTest(ctx context.Context, stdout io.Writer, s *server, o options) *memResult {
	logf(stdout, "memory test: %d clients x %s to %s", o.memClients, sizeName(o.memSize), s.name)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := &memResult{clients: o.memClients, size: o.memSize}
	u := startUsage(s.pids, int64(o.memLimitMB)*1024, func() { m.aborted = true; cancel() })
	lr := runGoClient(ctx, s.addr, o.memClients, o.memClients, message(o.memSize))
	_, m.peakKB = u.stop()
	m.elapsed, m.errors, m.errText = lr.elapsed, lr.errors, lr.errText
	if !m.aborted {
		if got := countIncoming(s.queueDir); got != lr.msgs-lr.errors {
			m.errText += fmt.Sprintf(" (%d queued, %d queue files ready)", lr.msgs-lr.errors, got)
		}
	}
	_ = clearIncoming(s.queueDir, nil)
	logf(stdout, "memory test: peak RSS %.1f MiB, %d errors, %s%s", float64(m.peakKB)/1024, m.errors, m.elapsed.Round(time.Millisecond), map[bool]string{true: " (ABORTED over limit)"}[m.aborted])
	return m
}

// setAsideMaxSize is the largest message size whose queue files are set
// aside instead of deleted between runs.
const setAsideMaxSize = 16 << 10

// inodeAging is how long ext4 keeps skipping a freed inode (30 s, the
// dirty-expire interval, plus 5 s), with a margin.
const inodeAging = 40 * time.Second

func sizeName(n int) string {
	switch {
	case n >= 1000000 && n%1000000 == 0:
		return strconv.Itoa(n/1000000) + " MB"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + " KB"
	}
	return strconv.Itoa(n) + " B"
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
}
