package master

import (
	"errors"
	"fmt"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
	"net"
	"os"
	"syscall"
	"time"
)

// The "pass" transport (master.cf type pass, -t pass): the listener is a
// UNIX-domain stream socket. A screening process such as postscreen(8)
// connects to it, sends the client's connection as a descriptor
// (SCM_RIGHTS, riding on one data byte), then an attribute list in
// Postfix's "attr0" encoding: name NUL value NUL pairs (client_address,
// client_port, server_address, server_port) ending with an empty name.
// The child closes the passer's connection once it has both (the passer
// waits for that), and serves the descriptor like an accepted client.

// Limits of Postfix's pass_accept_attr and attr_scan0.
const (
	// PassTimeout bounds each wait of the pass handshake: for the
	// descriptor, for the first attribute byte, and for the whole
	// attribute list.
	PassTimeout = 100 * time.Second
	// passAttrLimit is the most attributes kept; more end the list early.
	passAttrLimit = 1024
	// passReadSize is how much of the attribute list one read takes (the
	// size of a VSTREAM buffer).
	passReadSize = 4096
	// passMaxFDs is how many descriptors one receive makes room for; any
	// number but exactly one is refused (and all are closed).
	passMaxFDs = 8
	// passStream is how Postfix's messages name the passer's connection
	// (a VSTREAM opened on a bare descriptor has this path).
	passStream = "unknown_stream"
)

// firstErrno is the errno a Postfix 3.7.11 child still holds when it
// reports a failure that set none (end of file from the passer, or a
// message without a descriptor) before it has served any client. It is
// left over from dropping to mail_owner's privileges (-u: the user and
// group lookups); on Debian that leaves ESRCH, which we report. (Without
// -u Postfix reports 0, "Application error", but qmqpd does not serve
// without -u anyway.)
const firstErrno = syscall.ESRCH

// errnoText is Postfix's %m: strerror, or "Application error" for 0.
func errnoText(e syscall.Errno) string {
	if e == 0 {
		return "Application error"
	}
	return syserr.Errno(e)
}

// saneAccept is Postfix's sane_accept: errors that only mean "nothing to
// accept after all" (the client went away, a sibling took the connection)
// become EAGAIN. With keepalive, inet connections get SO_KEEPALIVE as
// inet_accept does.
func saneAccept(listenFD int, keepalive bool) (int, error) {
	fd, sa, err := syscall.Accept4(listenFD, syscall.SOCK_CLOEXEC)
	if err != nil {
		switch err {
		case syscall.EAGAIN, syscall.ECONNREFUSED, syscall.ECONNRESET,
			syscall.EHOSTDOWN, syscall.EHOSTUNREACH, syscall.EINTR,
			syscall.ENETDOWN, syscall.ENETUNREACH, syscall.ENOTCONN,
			syscall.ENOBUFS, syscall.ECONNABORTED, syscall.EPROTO:
			return -1, syscall.EAGAIN
		}
		return -1, err
	}
	if keepalive {
		switch sa.(type) {
		case *syscall.SockaddrInet4, *syscall.SockaddrInet6:
			_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1)
		}
	}
	return fd, nil
}

// passReceiver receives passed connections. It remembers what C's errno
// would hold, because Postfix reports that value (%m) even after failures
// that set none.
type passReceiver struct {
	errno    syscall.Errno
	timeout  time.Duration
	warnf    func(format string, args ...any)
	verbosef func(format string, args ...any) // nil: not verbose
}

func newPassReceiver(warnf, verbosef func(string, ...any)) *passReceiver {
	return &passReceiver{errno: firstErrno, timeout: PassTimeout, warnf: warnf, verbosef: verbosef}
}

// served records that a client was served: Postfix's session code leaves
// errno at 0 behind.
func (p *passReceiver) served() { p.errno = 0 }

// setErr makes err the current errno.
func (p *passReceiver) setErr(err error) {
	var e syscall.Errno
	if errors.As(err, &e) {
		p.errno = e
	}
}

// accept accepts one passer connection on listenFD, receives the client
// descriptor and the attribute list, and closes the passer's connection.
// It returns the descriptor (close-on-exec), or -1 and the errno Postfix
// would report (EAGAIN: nothing to report). Problems are logged as
// Postfix's pass_accept_attr warnings.
func (p *passReceiver) accept(listenFD int) (int, map[string]string, syscall.Errno) {
	const who = "pass_accept_attr"
	afd, err := saneAccept(listenFD, false)
	if err != nil {
		p.setErr(err)
		if p.errno != syscall.EAGAIN {
			p.warnf("%s: cannot accept connection: %s", who, errnoText(p.errno))
		}
		return -1, nil, p.errno
	}
	fd := -1
	var attrs map[string]string
	if err := readWait(afd, time.Now().Add(p.timeout)); err != nil {
		p.setErr(err)
		p.warnf("%s: timeout receiving file descriptor: %s", who, errnoText(p.errno))
	} else if fd, err = recvFD(afd); fd < 0 {
		p.setErr(err)
		p.warnf("%s: cannot receive file descriptor: %s", who, errnoText(p.errno))
	} else if attrs, err = p.recvAttrs(afd); err != nil {
		p.setErr(err)
		p.warnf("%s: cannot receive connection attributes: %s", who, errnoText(p.errno))
		if cerr := syscall.Close(fd); cerr != nil {
			p.setErr(cerr)
			p.warnf("%s: close: %s", who, errnoText(p.errno))
		}
		fd = -1
	}
	if cerr := syscall.Close(afd); cerr != nil {
		p.setErr(cerr)
		p.warnf("%s: close: %s", who, errnoText(p.errno))
	}
	return fd, attrs, p.errno
}

// recvAttrs waits for the attribute list and reads it.
func (p *passReceiver) recvAttrs(fd int) (map[string]string, error) {
	if err := readWait(fd, time.Now().Add(p.timeout)); err != nil {
		return nil, err
	}
	r := &attrReader{read: func(b []byte, deadline time.Time) (int, error) {
		if err := readWait(fd, deadline); err != nil {
			return 0, err
		}
		for {
			n, err := syscall.Read(fd, b)
			if err == syscall.EINTR {
				continue
			}
			return n, err
		}
	}, deadline: time.Now().Add(p.timeout)}
	attrs, err := scanAttrs(r, p.warnf, p.verbosef)
	if err == nil && (r.eof || r.err != nil) {
		err = r.err
		if err == nil {
			err = errStaleErrno
		}
	}
	return attrs, err
}

// errStaleErrno marks a failure that sets no errno (end of file).
var errStaleErrno = errors.New("end of input")

// recvFD receives one descriptor riding on one data byte, the way
// Postfix's unix_recv_fd does. Anything else (end of file, a byte without
// a descriptor, several descriptors) fails; the error is then nil when C
// would leave errno alone. Descriptors received in a failed attempt are
// closed.
func recvFD(fd int) (int, error) {
	buf := make([]byte, 1)
	oob := make([]byte, syscall.CmsgSpace(4*passMaxFDs))
	var oobn, flags int
	var err error
	for {
		_, oobn, flags, _, err = syscall.Recvmsg(fd, buf, oob, syscall.MSG_CMSG_CLOEXEC)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return -1, err
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return -1, nil
	}
	var fds []int
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_RIGHTS {
			got, err := syscall.ParseUnixRights(&m)
			if err == nil {
				fds = append(fds, got...)
			}
		}
	}
	if len(msgs) == 1 && len(fds) == 1 && flags&syscall.MSG_CTRUNC == 0 {
		return fds[0], nil
	}
	for _, f := range fds {
		syscall.Close(f)
	}
	return -1, nil
}

// readWait waits until fd is readable (or at end of file), at most until
// deadline; it fails with ETIMEDOUT then.
func readWait(fd int, deadline time.Time) error {
	if fd >= syscall.FD_SETSIZE {
		return fmt.Errorf("descriptor %d does not fit FD_SETSIZE %d", fd, syscall.FD_SETSIZE)
	}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return syscall.ETIMEDOUT
		}
		var set syscall.FdSet
		set.Bits[fd/64] |= 1 << (uint(fd) % 64)
		tv := syscall.NsecToTimeval(left.Nanoseconds())
		n, err := syscall.Select(fd+1, &set, nil, nil, &tv)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return err
		case n > 0:
			return nil
		}
	}
}

// attrReader is a buffered byte reader with Postfix's VSTREAM end-of-file
// and error behaviour: both are sticky, and a time-out is an error with
// errno ETIMEDOUT. All reads share one deadline.
type attrReader struct {
	read     func(b []byte, deadline time.Time) (int, error)
	deadline time.Time
	buf      []byte
	pos      int
	eof      bool
	err      error
}

// getc returns the next byte, or false at end of file, a time-out or an
// error.
func (r *attrReader) getc() (byte, bool) {
	if r.pos < len(r.buf) {
		c := r.buf[r.pos]
		r.pos++
		return c, true
	}
	if r.eof || r.err != nil {
		return 0, false
	}
	if r.buf == nil {
		r.buf = make([]byte, passReadSize)
	}
	n, err := r.read(r.buf[:cap(r.buf)], r.deadline)
	switch {
	case err != nil:
		r.err = err
		r.buf = r.buf[:0]
		return 0, false
	case n == 0:
		r.eof = true
		r.buf = r.buf[:0]
		return 0, false
	}
	r.buf, r.pos = r.buf[:n], 1
	return r.buf[0], true
}

// ungetc pushes the last byte back.
func (r *attrReader) ungetc() { r.pos-- }

// timedOut tells whether the reader stopped on its deadline.
func (r *attrReader) timedOut() bool { return errors.Is(r.err, syscall.ETIMEDOUT) }

// scanString reads one NUL-terminated string, as attr_scan0 does: at end
// of input it warns in Postfix's words (what names "context"); verbosef,
// when not nil, gets Postfix's verbose line for a string read.
func scanString(r *attrReader, what string, warnf, verbosef func(string, ...any)) (string, bool) {
	var s []byte
	for {
		c, ok := r.getc()
		if !ok {
			if len(s) == 0 {
				how := "premature end-of-input"
				if r.timedOut() {
					how = "timeout"
				}
				warnf("%s on %s while reading %s", how, passStream, what)
			} else {
				warnf("unexpected end-of-input from %s while reading %s", passStream, what)
			}
			return "", false
		}
		if c == 0 {
			if verbosef != nil {
				shown := string(s)
				if shown == "" {
					shown = "(end)"
				}
				verbosef("%s: %s", what, shown)
			}
			return string(s), true
		}
		s = append(s, c)
	}
}

// scanAttrs reads an attribute list into a table the way Postfix's
// attr_scan0 does for a hash-table request: an immediate end of input is an
// empty, successful list (the caller checks the reader's state); the first
// value of a repeated name wins; a "{" ... "}" group is read into the same
// table, and what follows it up to the terminator is skipped; past
// passAttrLimit names the list ends early with a warning. It returns nil
// and an error after a problem it has warned about. With verbosef, it
// logs what Postfix's verbose mode (-v) logs while it reads.
func scanAttrs(r *attrReader, warnf, verbosef func(string, ...any)) (map[string]string, error) {
	attrs := map[string]string{}
	if _, ok := r.getc(); !ok {
		return attrs, nil
	}
	r.ungetc()
	const (
		wantAny   = iota // names and values, or the terminator
		wantClose        // inside "{", up to "}"
		wantEnd          // after "}": skip up to the terminator
	)
	wanted := [...]string{
		wantAny:   "(any attribute name or list terminator)",
		wantClose: "(any attribute name or '}')",
		wantEnd:   "(list terminator)",
	}
	state := wantAny
	for {
		if verbosef != nil {
			verbosef("%s: wanted attribute: %s", passStream, wanted[state])
		}
		name, ok := scanString(r, "input attribute name", warnf, verbosef)
		if !ok {
			return nil, r.failure()
		}
		if name == "" {
			return attrs, nil
		}
		switch {
		case state == wantAny && name == "{":
			state = wantClose
			continue
		case state == wantClose && name == "}":
			state = wantEnd
			continue
		case state == wantEnd:
			// Postfix skips the value and ignores a problem there; the
			// next name read then fails.
			scanString(r, "input attribute value", warnf, verbosef)
			continue
		}
		value, ok := scanString(r, "input attribute value", warnf, verbosef)
		if !ok {
			return nil, r.failure()
		}
		if _, dup := attrs[name]; dup {
			continue
		}
		if len(attrs) >= passAttrLimit {
			warnf("attribute count exceeds limit %d in input from %s", passAttrLimit, passStream)
			return attrs, nil
		}
		attrs[name] = value
	}
}

// failure is the error after a failed read: the read error, or
// errStaleErrno at end of file.
func (r *attrReader) failure() error {
	if r.err != nil {
		return r.err
	}
	return errStaleErrno
}

// fileConn serves a passed descriptor that is not a socket (net.FileConn
// refuses those); Postfix serves any descriptor it is handed.
type fileConn struct{ *os.File }

type fileAddr struct{}

func (fileAddr) Network() string { return "file" }
func (fileAddr) String() string  { return "" }

func (fileConn) LocalAddr() net.Addr  { return fileAddr{} }
func (fileConn) RemoteAddr() net.Addr { return fileAddr{} }

// passedConn makes a net.Conn of a received descriptor, which it takes
// over. A descriptor that is not a socket is served as a plain file (made
// non-blocking, so that deadlines work); Postfix serves whatever it is
// handed.
func passedConn(fd int) (net.Conn, error) {
	if _, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE); err == syscall.ENOTSOCK {
		if err := syscall.SetNonblock(fd, true); err != nil {
			syscall.Close(fd)
			return nil, err
		}
		return fileConn{os.NewFile(uintptr(fd), "client socket")}, nil
	}
	f := os.NewFile(uintptr(fd), "client socket")
	defer f.Close()
	return net.FileConn(f)
}
