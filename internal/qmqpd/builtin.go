package qmqpd

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/cleanup"
	"github.com/qmqpd-go/qmqpd/internal/maillog"
	"github.com/qmqpd-go/qmqpd/internal/maincf"
	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// BuiltinQueuer queues through the project's own cleanup (package
// cleanup): the queue file is written directly into
// $queue_directory/incoming.
type BuiltinQueuer struct {
	Cleanup *cleanup.Cleanup
}

// Open implements Queuer.
func (q BuiltinQueuer) Open(ctx context.Context, flags int) (Queued, error) {
	st, err := q.Cleanup.Open(ctx, flags)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// BuiltinOptions tune NewBuiltinQueuer.
type BuiltinOptions struct {
	// QueueDir is where queue paths start: $queue_directory, or "" when
	// the process already runs inside the queue directory (master mode,
	// possibly chrooted).
	QueueDir string
	// QuietWakeup skips the queue manager wakeup, without a warning, when
	// public/qmgr does not exist (standalone, no Postfix running).
	QuietWakeup bool
	// Log receives cleanup's log lines (nil discards them).
	Log Logger
	// Syncer, when set, makes queue files durable in batches (group
	// commit); share one per queue directory, across reloads.
	Syncer *queuefile.Syncer
}

// NewBuiltinQueuer builds the built-in cleanup from main.cf. Errors are
// Postfix's fatal texts for bad parameter values.
func NewBuiltinQueuer(c *maincf.Config, opts BuiltinOptions) (*BuiltinQueuer, error) {
	settings, err := cleanup.SettingsFromConfig(c)
	if err != nil {
		return nil, err
	}
	depth, err := c.Int("hash_queue_depth", 1, 0)
	if err != nil {
		return nil, err
	}
	names, err := c.Get("hash_queue_names")
	if err != nil {
		return nil, err
	}
	q := &queuefile.Queue{
		Dir:       opts.QueueDir,
		LongIDs:   settings.EnableLongQueueIDs,
		HashDepth: depth,
		Hashed:    queuefile.HashedQueue(names, queuefile.QueueIncoming),
		Syncer:    opts.Syncer,
	}
	var store cleanup.Store = cleanup.QueueStore{Queue: q}
	if opts.QuietWakeup {
		store = quietStore{QueueStore: cleanup.QueueStore{Queue: q}, absentUntil: new(atomic.Int64)}
	}
	cl := &cleanup.Cleanup{Settings: settings, Store: store}
	if l := opts.Log; l != nil {
		cl.Log = func(warning bool, text string) {
			level := maillog.Info
			if warning {
				level = maillog.Warning
			}
			l.Log(level, text)
		}
	}
	return &BuiltinQueuer{Cleanup: cl}, nil
}

// quietStore wakes the queue manager only when there is one. That public/qmgr
// is missing is remembered for a second, to save a stat(2) per message.
type quietStore struct {
	cleanup.QueueStore
	absentUntil *atomic.Int64 // unix nanoseconds
}

// WakeQmgr implements cleanup.Waker.
func (s quietStore) WakeQmgr() error {
	now := time.Now().UnixNano()
	if now < s.absentUntil.Load() {
		return nil
	}
	if _, err := os.Stat(filepath.Join(s.Queue.Dir, "public", "qmgr")); errors.Is(err, fs.ErrNotExist) {
		s.absentUntil.Store(now + int64(time.Second))
		return nil
	}
	return s.QueueStore.WakeQmgr()
}
