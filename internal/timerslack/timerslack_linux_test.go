//go:build linux

package timerslack

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// slacks returns the timer slack of every thread of the process.
func slacks(t *testing.T) map[string]time.Duration {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Duration{}
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/" + task.Name() + "/timerslack_ns")
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread ended
		}
		if err != nil {
			t.Fatal(err)
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out[task.Name()] = time.Duration(ns)
	}
	return out
}

// moreThreads makes the runtime start n more threads (goroutines locked to
// their threads and parked there), runs f, and lets them go.
func moreThreads(n int, f func()) {
	var ready, done sync.WaitGroup
	release := make(chan struct{})
	for i := 0; i < n; i++ {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ready.Done()
			<-release
		}()
	}
	ready.Wait()
	f()
	close(release)
	done.Wait()
}

func TestRaise(t *testing.T) {
	if os.Geteuid() != 0 {
		// Only the calling thread can be changed; the others are refused.
		_, err := Raise(3 * time.Millisecond)
		tasks, lerr := os.ReadDir("/proc/self/task")
		if lerr != nil {
			t.Fatal(lerr)
		}
		if len(tasks) > 1 && !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("Raise as a user: err = %v, want a permission error", err)
		}
		return
	}
	n, err := Raise(3 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	before := slacks(t)
	if n == 0 || n > len(before) {
		t.Errorf("Raise changed %d threads; the process has %d", n, len(before))
	}
	for tid, d := range before {
		if d < 3*time.Millisecond {
			t.Errorf("thread %s: slack %v after Raise(3ms)", tid, d)
		}
	}

	// Threads the runtime starts afterwards inherit the slack.
	moreThreads(len(before)+4, func() {
		after := slacks(t)
		if len(after) <= len(before) {
			t.Fatalf("no new thread started (%d before, %d now)", len(before), len(after))
		}
		for tid, d := range after {
			if d < 3*time.Millisecond {
				t.Errorf("thread %s (started after Raise): slack %v", tid, d)
			}
		}
	})

	// A larger slack is kept.
	if _, err := Raise(7 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	n, err = Raise(time.Millisecond)
	if err != nil || n != 0 {
		t.Errorf("Raise(1ms) after Raise(7ms) = %d, %v; want 0 changes", n, err)
	}
	for tid, d := range slacks(t) {
		if d != 7*time.Millisecond {
			t.Errorf("thread %s: slack %v, want the larger 7ms kept", tid, d)
		}
	}
}
