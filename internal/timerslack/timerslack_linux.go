//go:build linux

package timerslack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// prctl(2) options (<linux/prctl.h>).
const (
	prSetTimerslack = 29
	prGetTimerslack = 30
)

// Raise gives every thread of the process a timer slack of at least d and
// returns how many threads it changed; threads with a larger slack keep it.
// Threads started later inherit the slack of the thread that starts them,
// so calling it at the start of main covers the process's life.
//
// The calling thread needs no privilege; the others, among them the
// runtime's monitor thread, are changed through /proc/TID/timerslack_ns,
// which the kernel allows only with CAP_SYS_NICE (root). Without it, Raise
// changes the calling thread and returns an error wrapping
// fs.ErrPermission for the others.
func Raise(d time.Duration) (int, error) {
	want := uint64(d.Nanoseconds())
	changed := 0
	runtime.LockOSThread()
	cur, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetTimerslack, 0, 0)
	if errno == 0 && uint64(cur) < want {
		if _, _, errno = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerslack, uintptr(want), 0); errno == 0 {
			changed++
		}
	}
	self := syscall.Gettid()
	runtime.UnlockOSThread()
	if errno != 0 {
		return changed, fmt.Errorf("prctl PR_SET_TIMERSLACK: %w", errno)
	}

	// The runtime may start a thread while the list is walked, from a
	// thread not yet changed; walk again until a pass finds nothing new.
	seen := map[string]bool{strconv.Itoa(self): true}
	var firstErr error
	for pass := 0; pass < 4; pass++ {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return changed, fmt.Errorf("list threads: %w", err)
		}
		fresh := false
		for _, t := range tasks {
			tid := t.Name()
			if seen[tid] {
				continue
			}
			seen[tid], fresh = true, true
			did, err := raiseThread(tid, want)
			if did {
				changed++
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}
		if !fresh {
			break
		}
	}
	return changed, firstErr
}

// raiseThread raises thread tid's slack to want unless it is already there.
// A thread that ended meanwhile is not an error.
func raiseThread(tid string, want uint64) (bool, error) {
	name := "/proc/" + tid + "/timerslack_ns"
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("thread %s: %w", tid, err)
	}
	if cur, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && cur >= want {
		return false, nil
	}
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(strconv.FormatUint(want, 10))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("thread %s: %w", tid, err)
	}
	return true, nil
}
