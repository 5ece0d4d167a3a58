//go:build linux && (amd64 || arm64)

package queuefile

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// TestSyncerFlushCoversWrites watches the block layer (a private tracefs
// instance; root only) while batches of files are committed through a real
// Syncer that flushes after syncfs, and checks the durability of what this
// process wrote: every write request it issued to the queue's device
// completed before this process submitted a cache flush (a PREFLUSH bio,
// which the kernel completes only after a device flush that started after
// it was submitted, and which the syncing call waits for) within the same
// round of commits. On ext4 without a journal, syncfs(2) alone fails this
// (the inode tables written after its flush). Where syncfs ends with a
// journal or log commit, the writes after it are copies of journaled
// metadata and the check does not apply.
func TestSyncerFlushCoversWrites(t *testing.T) {
	const tracefs = "/sys/kernel/tracing"
	inst := filepath.Join(tracefs, "instances", fmt.Sprintf("qmqpd-test-%d", os.Getpid()))
	if err := os.Mkdir(inst, 0o700); err != nil {
		t.Skipf("no tracefs instance (needs root and tracefs at %s): %v", tracefs, err)
	}
	defer os.Remove(inst)
	q := newQueue(t)
	var st syscall.Stat_t
	if err := syscall.Stat(q.Dir, &st); err != nil {
		t.Fatal(err)
	}
	major, minor := majorMinor(uint64(st.Dev))
	devText := fmt.Sprintf("%d,%d", major, minor)
	for _, ev := range []string{"block_rq_issue", "block_rq_complete", "block_bio_queue"} {
		p := filepath.Join(inst, "events", "block", ev, "enable")
		if err := os.WriteFile(p, []byte("1"), 0); err != nil {
			t.Skipf("block tracepoints unavailable: %v", err)
		}
	}
	s, err := NewSyncer(q.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q.Syncer = s
	t.Logf("queue on device %s, %s", devText, s)
	if s.flush == nil {
		t.Skipf("%s: syncfs ends with a durable commit here", s)
	}
	comm := filepath.Base(os.Args[0])
	if len(comm) > 15 {
		comm = comm[:15]
	}
	marker := filepath.Join(inst, "trace_marker")
	clock := new(atomic.Int64)
	for round := range 8 {
		if err := os.WriteFile(marker, []byte(fmt.Sprintf("commit-start %d", round)), 0); err != nil {
			t.Fatal(err)
		}
		for _, r := range commitMany(t, q, 32, clock) {
			if r.err != nil {
				t.Fatal(r.err)
			}
		}
		if err := os.WriteFile(marker, []byte(fmt.Sprintf("commit-end %d", round)), 0); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(inst, "tracing_on"), []byte("0"), 0)
	f, err := os.Open(filepath.Join(inst, "trace"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if problems := checkFlushOrder(t, bufio.NewScanner(f), devText, comm); len(problems) > 0 {
		t.Errorf("%d of this process's writes were not followed by a cache flush of its own before Commit returned, e.g.:\n%s",
			len(problems), strings.Join(problems[:min(len(problems), 5)], "\n"))
	}
}

// checkFlushOrder reads a block-layer trace and returns the writes to dev
// issued by comm between a commit-start and its commit-end marker that did
// not complete before a flush bio that comm submitted in the same window.
// (Flush requests cannot be matched to their completions by the trace
// alone when the device has several queues; the flush bio of the process
// itself is unambiguous, and its submitter waits for it.)
func checkFlushOrder(t *testing.T, sc *bufio.Scanner, dev, comm string) []string {
	type write struct {
		desc string
		done float64 // completion time; 0 while in flight
	}
	var (
		problems  []string
		inflight  = map[string]*write{} // "sector+len" -> our write
		ours      []*write              // our writes of the current window
		lastFlush float64               // our last flush bio of the window
		inWindow  bool
		writes    int
	)
	tag := "[" + comm + "]"
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		ts, rest, ok := traceTime(line)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		switch {
		case strings.HasPrefix(rest, "tracing_mark_write: commit-start"):
			inWindow, ours, lastFlush = true, nil, 0
		case strings.HasPrefix(rest, "tracing_mark_write: commit-end"):
			for _, w := range ours {
				if w.done == 0 || w.done >= lastFlush {
					problems = append(problems, w.desc)
				}
			}
			inWindow = false
		case len(f) < 3 || f[1] != dev:
		case f[0] == "block_bio_queue:":
			if inWindow && strings.HasPrefix(f[2], "F") && strings.HasSuffix(line, tag) {
				lastFlush = ts
			}
		case f[0] == "block_rq_issue:":
			if !inWindow || !strings.HasPrefix(f[2], "W") || !strings.HasSuffix(line, tag) {
				continue
			}
			if key, ok := rqKey(f, 5); ok {
				w := &write{desc: line}
				inflight[key] = w
				ours = append(ours, w)
				writes++
			}
		case f[0] == "block_rq_complete:":
			if key, ok := rqKey(f, 4); ok {
				if w := inflight[key]; w != nil {
					w.done = ts
					delete(inflight, key)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if writes == 0 {
		t.Skip("no write requests of this process were traced")
	}
	t.Logf("%d write requests of this process traced", writes)
	return problems
}

// traceTime splits a trace line after its timestamp ("... 123.456789: rest").
func traceTime(line string) (float64, string, bool) {
	i := strings.Index(line, ": ")
	if i < 0 {
		return 0, "", false
	}
	head := line[:i]
	j := strings.LastIndexByte(head, ' ')
	ts, err := strconv.ParseFloat(head[j+1:], 64)
	if err != nil {
		return 0, "", false
	}
	return ts, line[i+2:], true
}

// rqKey is "sector+len" of a block_rq_issue or block_rq_complete event,
// whose fields after the event name are "dev rwbs [bytes] () sector + len".
func rqKey(f []string, at int) (string, bool) {
	for i := at - 1; i < len(f)-2; i++ {
		if f[i+1] == "+" {
			return f[i] + "+" + f[i+2], true
		}
	}
	return "", false
}
