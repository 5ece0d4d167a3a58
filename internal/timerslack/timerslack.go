// Package timerslack lets the kernel defer the timed wakeups of every
// thread of the process by a little, so that it can batch them.
//
// The reason is Go's runtime monitor thread (sysmon). While goroutines keep
// entering system calls that block for a while, as the queue's syncfs(2)
// does under load, sysmon takes their processors back and never gets idle
// long enough to lengthen its sleep: it naps 20 µs at a time, thousands of
// times a second. The kernel's default timer slack of 50 µs makes each nap
// a separate wakeup and context switch, which on a virtual machine costs far
// more than the nap. With a slack of a millisecond the kernel folds those
// wakeups together and sysmon does the same work in far fewer of them;
// docs/benchmarks.md measures what that buys.
//
// The slack only delays timers of the process by up to its value: a
// network read, a lock or a sync never waits for it, and the daemon's own
// timers (seconds at least) do not notice.
package timerslack

import "time"

// Default is the slack the daemon asks for.
const Default = time.Millisecond
