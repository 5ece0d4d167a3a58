// Package master implements the child side of Postfix's master(8) protocol
// for single-threaded services such as qmqpd(8):
//
//   - listening sockets are inherited as file descriptors 6, 7, ... (one per
//     address of the service), non-blocking and shared with sibling
//     processes;
//   - file descriptor 5 is a stream socket to the master; the child writes a
//     12-byte status record (pid, generation, avail) in host byte order,
//     TAKEN right after accept(2) and AVAIL when the connection is done, and
//     treats end-of-file (or any readability) on it as "the master is gone";
//   - siblings serialise select+accept with an exclusive flock on
//     pid/TRANSPORT.SERVICE below the queue directory (skipped with -l);
//   - the process exits normally after max_use connections or after max_idle
//     seconds without one.
package master

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
	"net"
	"os"
	"syscall"
	"time"
)

// File descriptors master(8) sets up for its children (master_proto.h).
const (
	FlowReadFD  = 3 // mail flow-control pipe, read end (unused by qmqpd)
	FlowWriteFD = 4 // mail flow-control pipe, write end
	StatusFD    = 5 // status channel to master(8)
	ListenFD    = 6 // first listening socket
)

// Status values in a status record.
const (
	Taken int32 = 0 // the child is busy with a connection
	Avail int32 = 1 // the child is idle and can accept
)

// StatusRecord encodes one 12-byte status update in host byte order.
func StatusRecord(pid int, generation uint32, avail int32) []byte {
	b := make([]byte, 12)
	binary.NativeEndian.PutUint32(b[0:], uint32(int32(pid)))
	binary.NativeEndian.PutUint32(b[4:], generation)
	binary.NativeEndian.PutUint32(b[8:], uint32(avail))
	return b
}

// Notify writes one status record to fd. A short write is an error.
func Notify(fd, pid int, generation uint32, avail int32) error {
	rec := StatusRecord(pid, generation, avail)
	n, err := syscall.Write(fd, rec)
	if err != nil {
		return fmt.Errorf("status update: %w", err)
	}
	if n != len(rec) {
		return fmt.Errorf("status update: short write (%d bytes)", n)
	}
	return nil
}

// LockPath returns the accept lock file name master(8) children use, relative
// to the queue directory: "pid/TRANSPORT.SERVICE".
func LockPath(transport, service string) string {
	return "pid/" + transport + "." + service
}

// OpenLock opens the accept lock file the way Postfix's safe_open does: an
// existing regular file is opened as it is, a missing one is created
// exclusively (mode 0600). The error text is Postfix's fatal message.
func OpenLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err == nil {
		fi, serr := f.Stat()
		if serr == nil && !fi.Mode().IsRegular() {
			f.Close()
			return nil, fmt.Errorf("open lock file %s: file is not a regular file", path)
		}
		return f, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open lock file %s: cannot open file: %s", path, syserr.Text(err))
	}
	f, err = os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: cannot create file exclusively: %s", path, syserr.Text(err))
	}
	return f, nil
}

// Config describes one child process's service loop.
type Config struct {
	// ListenFDs are the inherited listening sockets (normally 6..6+N-1).
	ListenFDs []int
	// Transport is the -t type: "inet" or "unix" (accept(2) on the
	// listeners) or "pass" (each connection arrives as a descriptor sent
	// over a UNIX-domain connection to the listener, followed by an
	// attribute list; see PassTimeout). Empty means "inet".
	Transport string
	// StatusFD is the status channel (normally 5); -1 disables status
	// updates and master-exit detection.
	StatusFD int
	// Lock is the accept lock (nil with -l).
	Lock *os.File
	// Generation is $GENERATION parsed as octal.
	Generation uint32
	// Pid is the pid written in status records; 0 means os.Getpid().
	Pid int
	// MaxUse is max_use: stop after that many connections (0 = no limit).
	MaxUse int
	// MaxIdle is max_idle: stop after that long without a connection
	// (0 = never).
	MaxIdle time.Duration
	// PreAccept runs before each accept; returning false ends the loop
	// (qmqpd uses it for "table X has changed -- restarting").
	PreAccept func() bool
	// Accepted is called for each accepted descriptor's error-free
	// connection; it serves the connection and closes it. An error is
	// fatal: Run returns it at once, without telling master the process
	// is available again (Postfix's daemons exit in that case).
	Accepted func(net.Conn) error
	// Errorf reports non-fatal problems (Postfix's "error: " lines).
	Errorf func(format string, args ...any)
	// Established, when set, is called for each accepted connection
	// before master(8) is told the process is busy (where Postfix's
	// verbose mode logs "connection established").
	Established func()
	// Notified, when set, gets the outcome of each status update sent to
	// master(8) (Taken before serving a connection, Avail after), for
	// Postfix's verbose "master_notify: status N[: error]" lines. A failed
	// Avail update ends Run with MasterGone.
	Notified func(status int32, err error)
	// Warnf reports Postfix's "warning: " lines (with -t pass: a passer
	// that sends a malformed hand-over).
	Warnf func(format string, args ...any)
	// Verbosef, when set, gets the lines Postfix's verbose mode (-v)
	// logs here (with -t pass: the attribute list as it is read).
	Verbosef func(format string, args ...any)
}

// Reason tells why Run returned normally.
type Reason int

// Reasons for a normal exit.
const (
	MaxUseReached Reason = iota // served max_use connections
	IdleTimeout                 // max_idle passed without a connection
	MasterGone                  // the status channel reported EOF
	PreAcceptStop               // PreAccept asked to stop
)

// String names the reason as Postfix's verbose logging does.
func (r Reason) String() string {
	switch r {
	case MaxUseReached:
		return "use limit reached -- exiting"
	case IdleTimeout:
		return "idle timeout -- exiting"
	case MasterGone:
		return "master disconnect -- exiting"
	}
	return "pre-accept stop -- exiting"
}

// Run serves connections as a master(8) child until a normal exit condition
// occurs (the Reason) or a fatal error (in Postfix's words).
func Run(cfg Config) (Reason, error) {
	pid := cfg.Pid
	if pid == 0 {
		pid = os.Getpid()
	}
	if cfg.Errorf == nil {
		cfg.Errorf = func(string, ...any) {}
	}
	if cfg.Warnf == nil {
		cfg.Warnf = func(string, ...any) {}
	}
	var pass *passReceiver
	switch cfg.Transport {
	case "pass":
		pass = newPassReceiver(cfg.Warnf, cfg.Verbosef)
	case "", "inet", "unix":
	default:
		return 0, fmt.Errorf("unsupported transport type: %s", cfg.Transport)
	}
	useCount := 0
	idleDeadline := time.Time{}
	if cfg.MaxIdle > 0 {
		idleDeadline = time.Now().Add(cfg.MaxIdle)
	}
	for cfg.MaxUse == 0 || useCount < cfg.MaxUse {
		if cfg.Lock != nil {
			if err := flock(cfg.Lock, syscall.LOCK_EX); err != nil {
				return 0, fmt.Errorf("select lock: %s", syserr.Text(err))
			}
		}
		readyFD, gone, timedOut, err := wait(cfg.ListenFDs, cfg.StatusFD, idleDeadline)
		if err != nil {
			unlock(cfg.Lock)
			return 0, fmt.Errorf("select: %s", syserr.Text(err))
		}
		if gone {
			unlock(cfg.Lock)
			return MasterGone, nil
		}
		if timedOut {
			unlock(cfg.Lock)
			return IdleTimeout, nil
		}
		// The idle timer stops while a connection is being accepted; a
		// failed accept restarts it with the time it had left.
		idleLeft := time.Until(idleDeadline)
		if cfg.PreAccept != nil && !cfg.PreAccept() {
			unlock(cfg.Lock)
			return PreAcceptStop, nil
		}
		// With -t pass the lock is held for the whole hand-over, as in
		// Postfix.
		var nfd int
		var aerr error
		if pass != nil {
			var e syscall.Errno
			if nfd, _, e = pass.accept(readyFD); nfd < 0 {
				aerr = e
			}
		} else {
			nfd, aerr = saneAccept(readyFD, cfg.Transport != "unix")
		}
		if cfg.Lock != nil {
			if err := flock(cfg.Lock, syscall.LOCK_UN); err != nil {
				if aerr == nil {
					syscall.Close(nfd)
				}
				return 0, fmt.Errorf("select unlock: %s", syserr.Text(err))
			}
		}
		if aerr != nil {
			if aerr != syscall.EAGAIN {
				text := syserr.Text(aerr)
				if e, ok := aerr.(syscall.Errno); ok {
					text = errnoText(e)
				}
				cfg.Errorf("accept connection: %s", text)
			}
			if cfg.MaxIdle > 0 {
				idleDeadline = time.Now().Add(idleLeft)
			}
			continue
		}
		if cfg.Established != nil {
			cfg.Established()
		}
		if cfg.StatusFD >= 0 {
			err := Notify(cfg.StatusFD, pid, cfg.Generation, Taken)
			if cfg.Notified != nil {
				cfg.Notified(Taken, err)
			}
		}
		var conn net.Conn
		if pass != nil {
			conn, err = passedConn(nfd)
		} else {
			f := os.NewFile(uintptr(nfd), "client socket")
			conn, err = net.FileConn(f)
			f.Close()
		}
		if err == nil {
			if ferr := cfg.Accepted(conn); ferr != nil {
				return 0, ferr
			}
			if pass != nil {
				pass.served()
			}
		} else {
			cfg.Errorf("accept connection: %s", syserr.Text(err))
		}
		if cfg.StatusFD >= 0 {
			err := Notify(cfg.StatusFD, pid, cfg.Generation, Avail)
			if cfg.Notified != nil {
				cfg.Notified(Avail, err)
			}
			if err != nil {
				return MasterGone, nil
			}
		}
		if useCount < int(^uint(0)>>1) {
			useCount++
		}
		if cfg.MaxIdle > 0 {
			idleDeadline = time.Now().Add(cfg.MaxIdle)
		}
	}
	return MaxUseReached, nil
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

func unlock(f *os.File) {
	if f != nil {
		_ = flock(f, syscall.LOCK_UN)
	}
}

// wait blocks until a listener is readable (returning it), the status
// channel is readable (gone), or the deadline passes (timedOut).
func wait(listen []int, status int, deadline time.Time) (fd int, gone, timedOut bool, err error) {
	for {
		var set syscall.FdSet
		maxFD := -1
		add := func(fd int) {
			set.Bits[fd/64] |= 1 << (uint(fd) % 64)
			if fd > maxFD {
				maxFD = fd
			}
		}
		for _, l := range listen {
			add(l)
		}
		if status >= 0 {
			add(status)
		}
		var tv *syscall.Timeval
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return -1, false, true, nil
			}
			t := syscall.NsecToTimeval(left.Nanoseconds())
			tv = &t
		}
		n, err := syscall.Select(maxFD+1, &set, nil, nil, tv)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return -1, false, false, err
		}
		if n == 0 {
			if !deadline.IsZero() && time.Until(deadline) <= 0 {
				return -1, false, true, nil
			}
			continue
		}
		isSet := func(fd int) bool { return set.Bits[fd/64]&(1<<(uint(fd)%64)) != 0 }
		if status >= 0 && isSet(status) {
			return -1, true, false, nil
		}
		for _, l := range listen {
			if isSet(l) {
				return l, false, false, nil
			}
		}
	}
}

// ListenFDs returns the descriptors of count inherited listening sockets.
func ListenFDs(count int) []int {
	fds := make([]int, count)
	for i := range fds {
		fds[i] = ListenFD + i
		syscall.CloseOnExec(fds[i])
	}
	return fds
}

// CloseOnExecInherited marks the master's descriptors 3..5 close-on-exec,
// as Postfix children do.
func CloseOnExecInherited() {
	for _, fd := range []int{FlowReadFD, FlowWriteFD, StatusFD} {
		syscall.CloseOnExec(fd)
	}
}
