package queuefile

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Queue names of Postfix's queue directory.
const (
	QueueMaildrop = "maildrop"
	QueueIncoming = "incoming"
	QueueActive   = "active"
	QueueDeferred = "deferred"
	QueueHold     = "hold"
	QueueSaved    = "saved"
	QueueCorrupt  = "corrupt"
)

// safeAlphabet holds the digits of the long queue ID format: no vowels, so
// IDs never spell words. Base 52 uses all of it, base 51 all but 'z', which
// separates the time from the inode number.
const safeAlphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"

// Layout of long queue IDs.
const (
	longSecPad   = 6   // seconds: at least this many digits
	longUsecPad  = 4   // microseconds: exactly this many digits
	longInumSep  = 'z' // separates time and inode number
	longTimePad  = longSecPad + longUsecPad
	shortUsecPad = 5 // short IDs: "%05X" microseconds
	// maxIDLen is Postfix's VALID_HOSTNAME_LEN, the longest acceptable ID.
	maxIDLen = 255
)

// encodeSafe writes v in the given base with the safe alphabet, left-padded
// with '0' to at least pad digits.
func encodeSafe(dst []byte, v uint64, base uint64, pad int) []byte {
	var tmp [64]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = safeAlphabet[v%base]
		v /= base
		if v == 0 {
			break
		}
	}
	for n := len(tmp) - i; n < pad; n++ {
		dst = append(dst, '0')
	}
	return append(dst, tmp[i:]...)
}

// decodeSafe parses digits of the safe alphabet in the given base.
func decodeSafe(s string, base uint64) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(safeAlphabet[:base], s[i])
		if d < 0 {
			return 0, false
		}
		nv := v*base + uint64(d)
		if nv/base != v {
			return 0, false
		}
		v = nv
	}
	return v, true
}

// ShortID builds a queue ID in the default format: the microseconds as five
// uppercase hex digits, then the inode number in uppercase hex.
func ShortID(t time.Time, inode uint64) string {
	b := make([]byte, 0, 24)
	b = fmt.Appendf(b, "%05X", t.Nanosecond()/1000)
	b = strconv.AppendUint(b, inode, 16)
	return strings.ToUpper(string(b))
}

// LongID builds a queue ID in the enable_long_queue_ids format: the seconds
// in base 52 (at least 6 digits), the microseconds in base 52 (4 digits), 'z',
// and the inode number in base 51.
func LongID(t time.Time, inode uint64) string {
	b := make([]byte, 0, 24)
	b = encodeSafe(b, uint64(t.Unix()), 52, longSecPad)
	b = encodeSafe(b, uint64(t.Nanosecond()/1000), 52, longUsecPad)
	b = append(b, longInumSep)
	b = encodeSafe(b, inode, 51, 0)
	return string(b)
}

// NewID builds a queue ID in the short or long format.
func NewID(t time.Time, inode uint64, long bool) string {
	if long {
		return LongID(t, inode)
	}
	return ShortID(t, inode)
}

// ValidID reports whether id is acceptable as a queue file name, as
// Postfix's check: 1 to 255 characters, each a letter, digit or '_'.
func ValidID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// longSeparator returns the index of the long-format separator, or -1 when
// id is not a long ID.
func longSeparator(id string) int {
	i := strings.LastIndexByte(id, longInumSep)
	if i < longTimePad {
		return -1
	}
	return i
}

// IsLongID reports whether id has the long format.
func IsLongID(id string) bool { return longSeparator(id) >= 0 }

// IDInode returns the inode number a queue ID carries.
func IDInode(id string) (uint64, bool) {
	if i := longSeparator(id); i >= 0 {
		return decodeSafe(id[i+1:], 51)
	}
	if len(id) <= shortUsecPad {
		return 0, false
	}
	v, err := strconv.ParseUint(id[shortUsecPad:], 16, 64)
	return v, err == nil
}

// HashDir returns the hashed subdirectory path ("c1/c2/.../", depth levels)
// for a queue ID: one character of the ID per level, '_' when the ID is too
// short. A long ID is hashed by the short form of its microseconds, so both
// formats spread over the same hex directories.
func HashDir(id string, depth int) string {
	if i := longSeparator(id); i >= 0 {
		usec, ok := decodeSafe(id[i-longUsecPad:i], 52)
		if !ok {
			usec = 0
		}
		id = fmt.Sprintf("%05X", usec)
	}
	var b strings.Builder
	for n := 0; n < depth; n++ {
		c := byte('_')
		if n < len(id) {
			c = id[n]
		}
		b.WriteByte(c)
		b.WriteByte('/')
	}
	return b.String()
}

// QueuePath returns the path of a queue file relative to queue_directory:
// "queue/[hashdirs/]id". hashed says whether queue is listed in
// hash_queue_names; depth is hash_queue_depth.
func QueuePath(queue, id string, hashed bool, depth int) string {
	if hashed && depth > 0 {
		return queue + "/" + HashDir(id, depth) + id
	}
	return queue + "/" + id
}

// HashedQueue reports whether queue is listed in a hash_queue_names value
// (compared case-insensitively, split on commas and white space).
func HashedQueue(hashQueueNames, queue string) bool {
	for _, f := range strings.FieldsFunc(hashQueueNames, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n'
	}) {
		if strings.EqualFold(f, queue) {
			return true
		}
	}
	return false
}
