// Package qmqpd is a QMQP server that behaves like Postfix 3.7's qmqpd(8):
// the same access control, replies, log lines, Received: header, client
// attributes and cleanup records. One message per connection.
//
// A Server accepts connections from any net.Listener (Serve) or is handed
// single connections (ServeConn, used under Postfix's master(8)). It passes
// each message to a Queuer: Postfix's cleanup(8) service or the built-in
// cleanup.
package qmqpd

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/maillog"
	"github.com/qmqpd-go/qmqpd/internal/qmqp"
)

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = errors.New("qmqpd: server closed")

// Server serves QMQP clients.
type Server struct {
	// Queuer receives the messages.
	Queuer Queuer
	// Log receives the mail log lines; nil discards them.
	Log Logger
	// MaxConnections bounds concurrent sessions (0 = no bound). At the
	// bound, Serve stops accepting until a session ends, so clients wait in
	// the listen queue, as with master(8)'s process limit.
	MaxConnections int
	// OnFatal is called with Postfix's fatal text when a session hits a
	// condition that makes Postfix's qmqpd exit; nil logs it as an error.
	OnFatal func(text string)
	// OnQueueError, when set, turns a failure to open a queue file into a
	// "queue file write error" reply instead of Postfix's fatal exit; the
	// standalone daemon uses it so one failure does not stop the service.
	OnQueueError func(err error)
	// Now returns the time; nil means time.Now.
	Now func() time.Time
	// SpoolDir is where a message larger than SpoolMemory waits, in an
	// unnamed temporary file, until it is written to the queue ("" =
	// os.TempDir()). The queue's incoming directory is a good choice.
	SpoolDir string
	// SpoolMemory is how much of a message is held in memory
	// (<= 0 = queuefile.DefaultSpoolMemory).
	SpoolMemory int

	cfg    atomic.Pointer[Config]
	queuer atomic.Pointer[queuerBox]
	bufs   sync.Pool // *sessionBuffers kept between sessions
	names  nameCache // recent client name lookups
	// spoolDir, once set by SetSpoolDir, overrides SpoolDir.
	spoolDir atomic.Pointer[string]

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	sessions  sync.WaitGroup
	closed    bool
	done      chan struct{}
}

// NewServer returns a Server with configuration cfg.
func NewServer(cfg *Config, q Queuer, log Logger) *Server {
	s := &Server{Queuer: q, Log: log}
	s.SetConfig(cfg)
	return s
}

// SetConfig replaces the configuration; sessions that start afterwards use
// it (main.cf reload).
func (s *Server) SetConfig(cfg *Config) { s.cfg.Store(cfg) }

// SetQueuer replaces Queuer for sessions that start afterwards (main.cf
// reload); it is safe to call while the server runs.
func (s *Server) SetQueuer(q Queuer) { s.queuer.Store(&queuerBox{q}) }

type queuerBox struct{ q Queuer }

// currentQueuer is the Queuer a new session uses.
func (s *Server) currentQueuer() Queuer {
	if b := s.queuer.Load(); b != nil {
		return b.q
	}
	return s.Queuer
}

// SetSpoolDir replaces SpoolDir for sessions that start afterwards (a
// reload that moves the queue); it is safe to call while the server runs.
func (s *Server) SetSpoolDir(dir string) { s.spoolDir.Store(&dir) }

// spoolDirectory returns the directory new sessions spool large messages
// in: the last SetSpoolDir, else SpoolDir, else the system's temporary
// directory.
func (s *Server) spoolDirectory() string {
	dir := s.SpoolDir
	if p := s.spoolDir.Load(); p != nil {
		dir = *p
	}
	if dir == "" {
		return os.TempDir()
	}
	return dir
}

// getBuffers returns a session's reusable buffers.
func (s *Server) getBuffers() *sessionBuffers {
	if b, ok := s.bufs.Get().(*sessionBuffers); ok {
		return b
	}
	return &sessionBuffers{}
}

// putBuffers keeps b for a later session.
func (s *Server) putBuffers(b *sessionBuffers) {
	b.release()
	s.bufs.Put(b)
}

// Config returns the current configuration.
func (s *Server) Config() *Config { return s.cfg.Load() }

func (s *Server) init() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
		s.listeners = map[net.Listener]struct{}{}
		s.conns = map[net.Conn]struct{}{}
	}
}

// closing is closed when Close is called (not on Shutdown, which lets
// sessions finish, error delays included).
func (s *Server) closing() <-chan struct{} {
	s.init()
	return s.done
}

// Serve accepts connections on l and serves each in its own goroutine until
// the listener fails or the server is closed. It always closes l.
func (s *Server) Serve(l net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()

	var sem chan struct{}
	if s.MaxConnections > 0 {
		sem = make(chan struct{}, s.MaxConnections)
	}
	var backoff time.Duration
	for {
		if sem != nil {
			select {
			case sem <- struct{}{}:
			case <-s.done:
				return ErrServerClosed
			}
		}
		c, err := l.Accept()
		if err != nil {
			if sem != nil {
				<-sem
			}
			if s.isClosed() {
				return ErrServerClosed
			}
			if retryableAccept(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if !s.track(c) {
			c.Close()
			if sem != nil {
				<-sem
			}
			return ErrServerClosed
		}
		go func() {
			defer s.sessions.Done()
			defer func() {
				if sem != nil {
					<-sem
				}
			}()
			s.handle(c)
		}()
	}
}

// retryableAccept reports whether an accept error is a passing condition
// (a timeout, or a resource shortage such as EMFILE) worth a retry.
func retryableAccept(err error) bool {
	type temporary interface{ Temporary() bool }
	var t temporary
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.As(err, &t) && t.Temporary()
}

// track registers a connection; it fails once the server is shutting down.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.sessions.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// handle serves a tracked connection and closes it.
func (s *Server) handle(c net.Conn) {
	defer s.untrack(c)
	if fe := s.serveConn(c); fe != nil {
		if s.OnFatal != nil {
			s.OnFatal(fe.Text)
		} else if s.Log != nil {
			s.Log.Log(maillog.Error, fe.Text)
		}
	}
}

// ServeConn serves one connection in the calling goroutine and closes it.
// It returns a *FatalError when Postfix's qmqpd would exit (the caller,
// running under master(8), then exits with status 1).
func (s *Server) ServeConn(c net.Conn) error {
	s.init()
	if !s.track(c) {
		c.Close()
		return ErrServerClosed
	}
	defer s.sessions.Done()
	defer s.untrack(c)
	if fe := s.serveConn(c); fe != nil {
		return fe
	}
	return nil
}

func (s *Server) serveConn(c net.Conn) *FatalError {
	defer c.Close()
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	cfg := s.Config()
	sess := &session{
		srv:     s,
		cfg:     cfg,
		ctx:     context.Background(),
		raw:     c,
		conn:    qmqp.NewTimeoutConn(c, cfg.Timeout),
		arrival: now(),
		where:   qmqp.WhereInit,
	}
	return sess.serve()
}

// Close stops accepting, closes every connection at once and returns.
func (s *Server) Close() error {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	var err error
	for l := range s.listeners {
		if cerr := l.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	for c := range s.conns {
		c.Close()
	}
	return err
}

// Shutdown stops accepting and waits for the sessions in progress to finish
// (their messages queued and answered). When ctx ends first, it closes the
// remaining connections and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	finished := make(chan struct{})
	go func() {
		s.sessions.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		s.Close()
		<-finished
		return ctx.Err()
	}
}
