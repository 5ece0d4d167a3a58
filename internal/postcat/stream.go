package postcat

import (
	"bufio"
	"errors"
	"io"
	"syscall"
)

// stream is the input of one postcat run: buffered, with the file offset
// when the input is seekable, and Postfix's rule that a read error looks
// like the end of the input (the close then reports it).
type stream struct {
	path    string
	src     io.Reader
	seeker  io.Seeker // nil when the input cannot seek (a pipe)
	br      *bufio.Reader
	off     int64 // offset of the next byte (meaningful when seeker != nil)
	readErr error // first read error other than EOF
}

func newStream(path string, src io.Reader) *stream {
	s := &stream{path: path, src: src, br: bufio.NewReaderSize(src, 4096)}
	if sk, ok := src.(io.Seeker); ok {
		if off, err := sk.Seek(0, io.SeekCurrent); err == nil {
			s.seeker, s.off = sk, off
		}
	}
	return s
}

// getc returns the next byte, or -1 at the end of the input or on error.
func (s *stream) getc() int {
	b, err := s.br.ReadByte()
	if err != nil {
		if err != io.EOF && s.readErr == nil {
			s.readErr = err
		}
		return -1
	}
	s.off++
	return int(b)
}

// ungetc pushes back the byte getc returned.
func (s *stream) ungetc() {
	if s.br.UnreadByte() == nil {
		s.off--
	}
}

// read fills p as far as the input allows and returns the count.
func (s *stream) read(p []byte) int {
	n, err := io.ReadFull(s.br, p)
	s.off += int64(n)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF && s.readErr == nil {
		s.readErr = err
	}
	return n
}

// payloadChunk bounds how far a payload buffer grows ahead of the bytes
// that actually arrive, so that a corrupt length costs no more memory than
// the file's size.
const payloadChunk = 64 << 10

// readPayload reads an n-byte record payload into *buf (reusing its
// storage) and returns how many bytes were read; fewer than n means the
// input ended.
func (s *stream) readPayload(buf *[]byte, n int64) int64 {
	b := (*buf)[:0]
	for int64(len(b)) < n {
		want := min(n-int64(len(b)), payloadChunk)
		if int64(cap(b)-len(b)) < want {
			nb := make([]byte, len(b), int64(len(b))+max(want, int64(len(b))))
			copy(nb, b)
			b = nb
		}
		got := s.read(b[len(b) : int64(len(b))+want])
		b = b[:len(b)+got]
		if int64(got) < want {
			break
		}
	}
	*buf = b
	return int64(len(b))
}

// tell returns the offset of the next byte, or -1 when the input cannot
// seek.
func (s *stream) tell() int64 {
	if s.seeker == nil {
		return -1
	}
	return s.off
}

// errIllegalSeek is what seeking a pipe fails with.
var errIllegalSeek = syscall.ESPIPE

// seek moves to an absolute offset (whence io.SeekStart) or to the end.
func (s *stream) seek(off int64, whence int) error {
	if s.seeker == nil {
		return errIllegalSeek
	}
	if whence == io.SeekStart && off < 0 {
		return syscall.EINVAL
	}
	n, err := s.seeker.Seek(off, whence)
	if err != nil {
		var pe interface{ Unwrap() error }
		if errors.As(err, &pe) {
			return pe.Unwrap()
		}
		return err
	}
	s.br.Reset(s.src)
	s.off = n
	return nil
}
