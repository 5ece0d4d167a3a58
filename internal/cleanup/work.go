package cleanup

import (
	"bytes"
	"hash/maphash"
)

// work is the memory a Stream reuses from one message to the next: token
// storage, the MIME parser's buffers, the sets of attribute names and
// recipients seen, and scratch buffers for records being built. A Cleanup
// keeps the work of finished messages in a sync.Pool, so that a message
// costs few heap allocations once the server has warmed up.
type work struct {
	arena  tokArena
	mime   mimeParser
	attrs  keySet // attribute names of this message
	dups   keySet // duplicate filter: folded recipient keys
	sender []byte // the rewritten sender
	orig   []byte // the original recipient of an O record
	recip  []byte // the rewritten recipient
	key    []byte // a duplicate filter key
	rec    []byte // a record being built, written at once
	header []byte // a rebuilt header
	crlf   []byte // content with stray CR and LF replaced
	log    []byte // a log line being built
}

// reset empties w for the next message, dropping buffers that grew too
// large to keep.
func (w *work) reset() {
	w.arena.reset()
	w.mime.release()
	w.attrs.reset()
	w.dups.reset()
	for _, b := range []*[]byte{&w.sender, &w.orig, &w.recip, &w.key, &w.rec, &w.header, &w.crlf, &w.log} {
		*b = trimBuffer(*b)
	}
}

// getWork returns work from the pool, or new work.
func (c *Cleanup) getWork() *work {
	if w, ok := c.pool.Get().(*work); ok {
		return w
	}
	return &work{}
}

// putWork returns w to the pool.
func (c *Cleanup) putWork(w *work) {
	w.reset()
	c.pool.Put(w)
}

// keySet is a set of byte strings whose memory is reused after reset: the
// keys are stored back to back in one buffer, found through an open
// addressing hash table.
type keySet struct {
	seed   maphash.Seed
	seeded bool
	data   []byte  // the keys, back to back
	ends   []int   // ends[i] is where key i ends in data
	slots  []int32 // hash table: 1 + the index of a key, or 0 (free); a power of two long
}

// maxKeptSlots bounds the hash table a keySet keeps across resets.
const maxKeptSlots = 4096

// reset empties the set.
func (s *keySet) reset() {
	s.data = trimBuffer(s.data)
	if cap(s.ends) > maxKeptSlots/2 {
		s.ends = nil
	}
	s.ends = s.ends[:0]
	if len(s.slots) > maxKeptSlots {
		s.slots = nil
	}
	clear(s.slots)
}

// len returns the number of keys in the set.
func (s *keySet) len() int { return len(s.ends) }

// key returns key i.
func (s *keySet) key(i int) []byte {
	start := 0
	if i > 0 {
		start = s.ends[i-1]
	}
	return s.data[start:s.ends[i]]
}

// find returns the slot that holds k, or the free slot where k would go.
func (s *keySet) find(k []byte) (slot int, found bool) {
	mask := len(s.slots) - 1
	i := int(maphash.Bytes(s.seed, k)) & mask
	for {
		e := s.slots[i]
		if e == 0 {
			return i, false
		}
		if bytes.Equal(s.key(int(e-1)), k) {
			return i, true
		}
		i = (i + 1) & mask
	}
}

// has reports whether k is in the set.
func (s *keySet) has(k []byte) bool {
	if len(s.ends) == 0 {
		return false
	}
	_, found := s.find(k)
	return found
}

// add puts k in the set (a copy of it).
func (s *keySet) add(k []byte) {
	if !s.seeded {
		s.seed, s.seeded = maphash.MakeSeed(), true
	}
	if 2*(len(s.ends)+1) > len(s.slots) {
		s.grow()
	}
	i, found := s.find(k)
	if found {
		return
	}
	s.data = append(s.data, k...)
	s.ends = append(s.ends, len(s.data))
	s.slots[i] = int32(len(s.ends))
}

// grow doubles the hash table (to at least 16 slots) and reinserts the
// keys.
func (s *keySet) grow() {
	s.slots = make([]int32, max(16, 2*len(s.slots)))
	for j := range s.ends {
		i, _ := s.find(s.key(j))
		s.slots[i] = int32(j + 1)
	}
}
