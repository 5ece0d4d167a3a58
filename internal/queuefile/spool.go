package queuefile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// DefaultSpoolMemory is how much of a message a Spool keeps in memory
// before it moves the message to a file.
const DefaultSpoolMemory = 128 << 10

// spoolChunk is the read size once a Spool writes to its file.
const spoolChunk = 32 << 10

// Spool holds a message that must be stored before it can be written out
// (QMQP sends the content before the envelope, a queue file needs it
// after). Small messages stay in memory; once a message grows beyond the
// memory limit, everything is moved to an unnamed temporary file (O_TMPFILE
// where the system has it, else a file unlinked at once), and the memory is
// released, so a session's memory stays bounded whatever the message size.
// Nothing a Spool creates is ever visible in the queue or left after a crash
// (with O_TMPFILE).
//
// A Spool is not safe for concurrent use. Close releases it.
type Spool struct {
	dir      string
	memLimit int
	buf      []byte
	chunk    []byte // read buffer once the message is in the file
	f        *os.File
	size     int64
	err      error
}

// NewSpool returns a Spool that keeps up to memLimit bytes in memory
// (<= 0 = DefaultSpoolMemory) and spills to a temporary file in dir.
func NewSpool(dir string, memLimit int) *Spool {
	if memLimit <= 0 {
		memLimit = DefaultSpoolMemory
	}
	if dir == "" {
		dir = "."
	}
	return &Spool{dir: dir, memLimit: memLimit}
}

// Reset empties s for a new message, as NewSpool(dir, memLimit) would make
// it, but keeps its memory buffer for reuse when that is within memLimit. A
// temporary file is closed. Reset also revives a closed Spool.
func (s *Spool) Reset(dir string, memLimit int) error {
	var err error
	if s.f != nil {
		err = s.f.Close()
	}
	fresh := NewSpool(dir, memLimit)
	if cap(s.buf) <= fresh.memLimit {
		fresh.buf = s.buf[:0]
	}
	*s = *fresh
	return err
}

// NewSpool returns a Spool whose file, if it needs one, lives in the queue's
// incoming directory (the same file system as the queue files, writable by
// mail_owner).
func (q *Queue) NewSpool() *Spool {
	return NewSpool(filepath.Join(q.Dir, q.name()), DefaultSpoolMemory)
}

// Grow tells the Spool how large the message will be, so that it is read
// into one buffer of the right size (at most the memory limit).
func (s *Spool) Grow(n int64) {
	n = min(n, int64(s.memLimit-len(s.buf)))
	if s.f == nil && n > 0 && cap(s.buf)-len(s.buf) < int(n) {
		nb := make([]byte, len(s.buf), len(s.buf)+int(n))
		copy(nb, s.buf)
		s.buf = nb
	}
}

// Write appends p to the message.
func (s *Spool) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.f == nil && len(s.buf)+len(p) <= s.memLimit {
		s.buf = append(s.buf, p...)
		s.size += int64(len(p))
		return len(p), nil
	}
	if s.f == nil {
		if err := s.spill(); err != nil {
			return 0, err
		}
	}
	n, err := s.f.Write(p)
	s.size += int64(n)
	if err != nil {
		s.err = fmt.Errorf("write spool file: %w", err)
		return n, s.err
	}
	return n, nil
}

// ReadFrom reads r to its end into the Spool. Errors reading r are returned
// as they are; errors writing the spool file are wrapped.
func (s *Spool) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if s.err != nil {
			return total, s.err
		}
		inMemory := s.f == nil && len(s.buf) < s.memLimit
		if inMemory && (len(s.buf) < cap(s.buf) || len(s.buf) == 0) {
			if len(s.buf) == cap(s.buf) {
				// Grow toward the limit, never past it.
				nc := min(max(2*cap(s.buf), 4096), s.memLimit)
				nb := make([]byte, len(s.buf), nc)
				copy(nb, s.buf)
				s.buf = nb
			}
			n, err := r.Read(s.buf[len(s.buf):cap(s.buf)])
			s.buf = s.buf[:len(s.buf)+n]
			s.size += int64(n)
			total += int64(n)
			if err == io.EOF {
				return total, nil
			}
			if err != nil {
				return total, err
			}
			continue
		}
		// Otherwise the bytes go through Write, from a read buffer: a small
		// probe when the memory buffer is full, perhaps exactly at the size
		// Grow announced (look for more before growing), or the chunk
		// buffer once the message is on disk (or about to be: Write moves
		// it there when this read brings more than the memory holds).
		var via []byte
		if inMemory {
			var probe [64]byte
			via = probe[:]
		} else {
			if s.chunk == nil {
				s.chunk = make([]byte, spoolChunk)
			}
			via = s.chunk
		}
		n, err := r.Read(via)
		if n > 0 {
			if _, werr := s.Write(via[:n]); werr != nil {
				return total + int64(n), werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// spill moves the in-memory part to a new temporary file and drops the
// buffer.
func (s *Spool) spill() error {
	f, err := openTemp(s.dir)
	if err != nil {
		s.err = fmt.Errorf("create spool file in %s: %w", s.dir, err)
		return s.err
	}
	s.f = f
	if len(s.buf) > 0 {
		if _, err := f.Write(s.buf); err != nil {
			s.err = fmt.Errorf("write spool file: %w", err)
			return s.err
		}
	}
	// The memory buffer becomes the read buffer for the rest.
	if cap(s.buf) >= spoolChunk && s.chunk == nil {
		s.chunk = s.buf[:spoolChunk]
	}
	s.buf = nil
	return nil
}

// openTemp creates an unnamed file in dir.
func openTemp(dir string) (*os.File, error) {
	if f, err := openTmpfile(dir); err == nil {
		return f, nil
	}
	f, err := os.CreateTemp(dir, ".spool-*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Len returns the message size so far.
func (s *Spool) Len() int64 { return s.size }

// InMemory reports whether the message is held in memory (no file).
func (s *Spool) InMemory() bool { return s.f == nil }

// Reader returns a reader of the whole message from its first byte. Each
// call starts again at the beginning.
func (s *Spool) Reader() (io.Reader, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.f == nil {
		return bytes.NewReader(s.buf), nil
	}
	return io.NewSectionReader(s.f, 0, s.size), nil
}

// Bytes returns the message when it is held in memory (ok false otherwise).
// The slice is the Spool's own buffer: valid until Close.
func (s *Spool) Bytes() (b []byte, ok bool) {
	if s.f != nil {
		return nil, false
	}
	return s.buf, true
}

// Close releases the memory and the file.
func (s *Spool) Close() error {
	s.buf, s.chunk = nil, nil
	if s.err == nil {
		s.err = errors.New("spool closed")
	}
	if s.f != nil {
		err := s.f.Close()
		s.f = nil
		return err
	}
	return nil
}
