package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of CPU times in /proc (100 on Linux).
const clockTicks = 100

// procStat returns a process's parent pid, command name and CPU time
// (user + system) in seconds.
func procStat(pid int) (ppid int, comm string, cpu float64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", 0, false
	}
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return 0, "", 0, false
	}
	comm = string(b[open+1 : end])
	f := strings.Fields(string(b[end+1:]))
	// f[0] = state, f[1] = ppid, f[11] = utime, f[12] = stime.
	if len(f) < 13 {
		return 0, "", 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return ppid, comm, (ut + st) / clockTicks, true
}

// childrenNamed lists the children of parent whose command is one of names.
func childrenNamed(parent int, names ...string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, comm, _, ok := procStat(pid)
		if !ok || ppid != parent {
			continue
		}
		for _, n := range names {
			if comm == n {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// statusKB returns a field of /proc/PID/status in KiB (VmRSS, VmHWM).
func statusKB(pid int, field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line[len(field)+1:])
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// resetPeak resets a process's peak RSS (VmHWM) to its current RSS.
func resetPeak(pid int) {
	_ = os.WriteFile(filepath.Join("/proc", strconv.Itoa(pid), "clear_refs"), []byte("5"), 0)
}

// usage follows a server's processes during one run: CPU seconds used and
// the peak of their summed resident memory.
type usage struct {
	pids    func() []int
	start   map[int]float64 // CPU at the start (processes that existed)
	last    map[int]float64 // latest CPU seen per process
	peakKB  int64           // highest sampled sum of VmRSS
	stopped chan struct{}
	done    sync.WaitGroup
	mu      sync.Mutex
	// limitKB, when > 0, calls over once the sampled sum exceeds it.
	limitKB int64
	over    func()
}

func startUsage(pids func() []int, limitKB int64, over func()) *usage {
	u := &usage{pids: pids, start: map[int]float64{}, last: map[int]float64{}, stopped: make(chan struct{}), limitKB: limitKB, over: over}
	for _, pid := range pids() {
		if _, _, cpu, ok := procStat(pid); ok {
			u.start[pid] = cpu
			u.last[pid] = cpu
		}
		resetPeak(pid)
	}
	u.done.Add(1)
	go func() {
		defer u.done.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			u.sample()
			select {
			case <-u.stopped:
				return
			case <-t.C:
			}
		}
	}()
	return u
}

func (u *usage) sample() {
	var sum int64
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, pid := range u.pids() {
		sum += statusKB(pid, "VmRSS")
		if _, _, cpu, ok := procStat(pid); ok {
			u.last[pid] = cpu
		}
	}
	if sum > u.peakKB {
		u.peakKB = sum
		if u.limitKB > 0 && sum > u.limitKB && u.over != nil {
			u.over()
			u.over = nil
		}
	}
}

// stop ends sampling and returns the CPU seconds used during the run and the
// peak RSS in KiB: the larger of the sampled peak and the sum of the
// processes' own peaks (VmHWM, reset at the start).
func (u *usage) stop() (cpu float64, peakKB int64) {
	close(u.stopped)
	u.done.Wait()
	u.sample()
	u.mu.Lock()
	defer u.mu.Unlock()
	var hwm int64
	for _, pid := range u.pids() {
		hwm += statusKB(pid, "VmHWM")
	}
	for pid, c := range u.last {
		cpu += c - u.start[pid]
	}
	return cpu, max(hwm, u.peakKB)
}
