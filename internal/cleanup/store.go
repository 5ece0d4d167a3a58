package cleanup

import (
	"time"

	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// Store creates queue files. QueueStore is the real one; tests use others
// (in memory, failing midway).
type Store interface {
	// Create makes a new, not yet ready, queue file.
	Create(now time.Time) (QueueFile, error)
}

// QueueFile is one queue file being written.
type QueueFile interface {
	// ID is the queue ID (the file's name).
	ID() string
	// Created is the time the queue ID was made from; added Message-Id
	// headers carry it.
	Created() time.Time
	// Record appends one record (buffered).
	Record(typ byte, data []byte) error
	// Flush writes buffered records to the file.
	Flush() error
	// PatchSize rewrites the size record at the start of the file.
	PatchSize(s queuefile.Size) error
	// Commit makes the file durable and ready for the queue manager; on
	// error the file is removed.
	Commit() error
	// Abort closes and removes the file.
	Abort() error
}

// Waker is implemented by a Store that can tell the queue manager about a
// new ready file; Finish calls it after a successful commit and logs its
// error as a warning, like cleanup does.
type Waker interface {
	WakeQmgr() error
}

// QueueStore creates queue files in a Postfix queue directory (incoming).
type QueueStore struct {
	Queue *queuefile.Queue
}

// Create implements Store.
func (s QueueStore) Create(now time.Time) (QueueFile, error) {
	f, err := s.Queue.Create(now)
	if err != nil {
		return nil, err
	}
	return queueFile{f}, nil
}

// queueFile adapts *queuefile.File to QueueFile.
type queueFile struct{ f *queuefile.File }

func (q queueFile) ID() string                         { return q.f.ID }
func (q queueFile) Created() time.Time                 { return q.f.Created }
func (q queueFile) Record(typ byte, data []byte) error { return q.f.Writer().Record(typ, data) }
func (q queueFile) Flush() error                       { return q.f.Writer().Flush() }
func (q queueFile) PatchSize(s queuefile.Size) error   { return q.f.PatchSize(s) }
func (q queueFile) Commit() error                      { return q.f.Commit() }
func (q queueFile) Abort() error                       { return q.f.Abort() }

// WakeQmgr implements Waker: it triggers $queue_directory/public/qmgr.
func (s QueueStore) WakeQmgr() error { return queuefile.WakeQmgr(s.Queue.Dir) }
