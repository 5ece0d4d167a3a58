package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/qmqp"
)

// loadResult is what one driver run measured.
type loadResult struct {
	msgs    int
	errors  int
	elapsed time.Duration
	lat     []time.Duration // per message, when the driver can tell
	errText string
}

// runQMQPSource sends msgs messages of size bytes over sessions parallel
// sessions with Postfix's qmqp-source and times the whole run.
func runQMQPSource(ctx context.Context, addr string, sessions, size, msgs int) loadResult {
	cmd := exec.CommandContext(ctx, qmqpSource,
		"-s", strconv.Itoa(sessions), "-l", strconv.Itoa(size), "-m", strconv.Itoa(msgs),
		"-f", "sender@example.org", "-t", "rcpt@example.com", "-M", "client.example.org", addr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	r := loadResult{msgs: msgs, elapsed: time.Since(t0)}
	if err != nil || out.Len() > 0 {
		r.errors = 1
		r.errText = fmt.Sprintf("qmqp-source: %v: %.300s", err, out.String())
	}
	return r
}

// message builds a message of exactly size bytes (at least its 70 bytes of
// headers) shaped like qmqp-source's:
// a few headers, then short body lines.
func message(size int) []byte {
	var b bytes.Buffer
	b.WriteString("From: <sender@example.org>\nTo: <rcpt@example.com>\nSubject: benchmark\n\n")
	line := []byte("La de da de da 1. La de da de da 2. La de da de da 3. La de da de da 4.\n")
	for b.Len() < size {
		n := min(len(line), size-b.Len())
		if n < len(line) {
			b.Write(line[:n-1])
			b.WriteByte('\n')
			break
		}
		b.Write(line)
	}
	return b.Bytes()
}

// runGoClient sends msgs messages over sessions parallel sessions with our
// QMQP client and records every message's latency (connect to reply).
func runGoClient(ctx context.Context, addr string, sessions, msgs int, msg []byte) loadResult {
	var next atomic.Int64
	var errs atomic.Int64
	lat := make([]time.Duration, msgs)
	var firstErr atomic.Value
	var wg sync.WaitGroup
	// Generous timeouts: on a saturated machine 500 clients pushing 10 MB
	// each can keep a dialing goroutine from running for seconds.
	c := &qmqp.Client{Servers: []string{addr}, ConnectTimeout: 2 * time.Minute, Timeout: 5 * time.Minute}
	t0 := time.Now()
	for range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= msgs || ctx.Err() != nil {
					return
				}
				s := time.Now()
				rep, err := c.Send(ctx, msg, "sender@example.org", []string{"rcpt@example.com"})
				lat[i] = time.Since(s)
				if err == nil && rep.Code != qmqp.StatusOK {
					err = fmt.Errorf("reply %c %s", rep.Code, rep.Text)
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	r := loadResult{msgs: msgs, elapsed: time.Since(t0), lat: lat, errors: int(errs.Load())}
	if s, ok := firstErr.Load().(string); ok {
		r.errText = s
	}
	return r
}

// runCeiling measures the raw durable-write rate of the file system: each
// of sessions goroutines creates a file, writes size bytes, fsyncs and
// closes it, msgs files in all, in dir. Afterwards dir is set aside in
// aside, or removed when aside is nil.
func runCeiling(dir string, sessions, size, msgs int, aside *setAside) (loadResult, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return loadResult{}, err
	}
	defer func() {
		if aside == nil || aside.move(dir) != nil {
			os.RemoveAll(dir)
		}
	}()
	data := message(size)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	t0 := time.Now()
	for range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= msgs {
					return
				}
				err := func() error {
					f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(i)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
					if err != nil {
						return err
					}
					if _, err := f.Write(data); err != nil {
						f.Close()
						return err
					}
					if err := f.Sync(); err != nil {
						f.Close()
						return err
					}
					return f.Close()
				}()
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	r := loadResult{msgs: msgs, elapsed: time.Since(t0)}
	if err, ok := firstErr.Load().(error); ok {
		return r, err
	}
	return r, nil
}

// percentile returns the p-th percentile (0 < p <= 100) of d, which it sorts.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	k := int(float64(len(d))*p/100+0.5) - 1
	return d[min(max(k, 0), len(d)-1)]
}
