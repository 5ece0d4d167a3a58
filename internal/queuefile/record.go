// Package queuefile reads and writes Postfix 3.7 queue files: the record
// encoding (type byte, base-128 length, payload), the fixed-width size record,
// queue IDs in the short and long formats, hashed queue directories, and the
// life of one file in $queue_directory/incoming from creation to "ready".
package queuefile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Record types of Postfix 3.7 (src/global/rec_type.h). The comment after each
// constant is the name postcat prints for it.
const (
	RecSize      byte = 'C' // message_size: first record, fixed-width sizes
	RecTime      byte = 'T' // message_arrival_time: "SEC USEC"
	RecCTime     byte = 'c' // queue_file_create_time
	RecFull      byte = 'F' // sender_fullname
	RecInsp      byte = 'I' // content_inspector
	RecFilt      byte = 'L' // content_filter (envelope); same byte as RecCont
	RecFrom      byte = 'S' // sender
	RecDone      byte = 'D' // done_recipient
	RecRcpt      byte = 'R' // recipient
	RecOrcp      byte = 'O' // original_recipient
	RecDrcp      byte = '/' // canceled_recipient
	RecWarn      byte = 'W' // warning_message_time: "%15ld"
	RecAttr      byte = 'A' // named_attribute: "name=value"
	RecKill      byte = 'K' // killed_record
	RecRdr       byte = '>' // redirect_to
	RecFlgs      byte = 'f' // flags (cleanup input only)
	RecDelay     byte = 'd' // cleanup delay upon arrival (cleanup input only)
	RecMesg      byte = 'M' // message_content: start of the content segment
	RecCont      byte = 'L' // unterminated_text: a chunk of a longer line
	RecNorm      byte = 'N' // regular_text: a line without its newline
	RecDtxt      byte = 'w' // padding
	RecXtra      byte = 'X' // extracted_info: start of the extracted segment
	RecRRTo      byte = 'r' // return_receipt
	RecERTo      byte = 'e' // errors_to
	RecPrio      byte = 'P' // priority
	RecPtr       byte = 'p' // pointer_record: "%15ld" offset, 0 = dummy
	RecVERP      byte = 'V' // verp_delimiters
	RecDSNRet    byte = '<' // dsn_return_flags
	RecDSNEnvID  byte = 'i' // dsn_envelope_id
	RecDSNOrcpt  byte = 'o' // dsn_original_recipient
	RecDSNNotify byte = 'n' // dsn_notify_flags
	RecMiltCount byte = 'm' // milter count (cleanup input only)
	RecEnd       byte = 'E' // message_end: last record
)

// Record type sets per segment, as Postfix defines them. The first member of
// each set is the record that ends the segment.
const (
	EnvelopeTypes = "MCTcFILSDRO/WVA>K<ion"
	ContentTypes  = "XLNw"
	ExtractTypes  = "EDRO/PreAFIL>Kon"
)

// Pseudo record types Postfix uses for "no record" and "bad record" in its
// name table; they never appear in a file.
const (
	RecEOF   = -1
	RecError = -2
)

// Attribute names cleanup stores as RecAttr records that matter to readers.
const (
	AttrCreateTime  = "create_time"
	AttrDSNOrigRcpt = "dsn_orig_rcpt"
)

// Fixed sizes of the size record: its payload is six numbers, each
// right-aligned in 15 columns, separated by single spaces.
const (
	SizePayloadLen = 6*15 + 5
	SizeRecordLen  = 2 + SizePayloadLen
)

// MaxLengthBits is the number of length bits a reader accepts (Postfix's
// reader rejects lengths that need more than the bits of a C int).
const MaxLengthBits = 32

var recNames = map[byte]string{
	RecSize:      "message_size",
	RecTime:      "message_arrival_time",
	RecCTime:     "queue_file_create_time",
	RecFull:      "sender_fullname",
	RecInsp:      "content_inspector",
	RecFilt:      "content_filter",
	RecFrom:      "sender",
	RecDone:      "done_recipient",
	RecDrcp:      "canceled_recipient",
	RecRcpt:      "recipient",
	RecOrcp:      "original_recipient",
	RecWarn:      "warning_message_time",
	RecAttr:      "named_attribute",
	RecPtr:       "pointer_record",
	RecKill:      "killed_record",
	RecMesg:      "message_content",
	RecNorm:      "regular_text",
	RecDtxt:      "padding",
	RecXtra:      "extracted_info",
	RecRRTo:      "return_receipt",
	RecERTo:      "errors_to",
	RecPrio:      "priority",
	RecVERP:      "verp_delimiters",
	RecEnd:       "message_end",
	RecRdr:       "redirect_to",
	RecFlgs:      "flags",
	RecDSNRet:    "dsn_return_flags",
	RecDSNEnvID:  "dsn_envelope_id",
	RecDSNOrcpt:  "dsn_original_recipient",
	RecDSNNotify: "dsn_notify_flags",
}

// UnknownTypeName is what Name returns for a byte that is no record type.
const UnknownTypeName = "unknown_record_type"

// Name returns the name postcat prints for a record type. 'L' is
// "content_filter" (Postfix's table lists it first); postcat prints
// "unterminated_text" for 'L' inside the content itself. Types Postfix has no
// name for, including 'm' and 'd', give "unknown_record_type".
func Name(typ byte) string {
	if n, ok := recNames[typ]; ok {
		return n
	}
	return UnknownTypeName
}

// Known reports whether typ is a record type of Postfix 3.7.
func Known(typ byte) bool {
	_, ok := recNames[typ]
	return ok || typ == RecMiltCount || typ == RecDelay
}

// Record is one decoded record.
type Record struct {
	Type   byte
	Data   []byte
	Offset int64 // file offset of the type byte; -1 if unknown
}

// writerBufSize is the most the Writer buffers: a typical message's whole
// queue file fits, so it reaches the file in one write(2), and the size
// record can still be patched in memory. The buffer starts at
// writerBufStart and grows only for larger files.
const (
	writerBufSize  = 16 << 10
	writerBufStart = 4 << 10
)

// Writer encodes records onto an underlying writer, buffered. Call Flush
// before using the underlying writer directly.
type Writer struct {
	dst     io.Writer
	buf     []byte // bytes not yet written to dst
	flushed int64  // bytes written to dst
	off     int64  // flushed + len(buf)
	err     error
	hdr     [1 + 10]byte
	fmt     []byte
}

// NewWriter returns a Writer that starts counting offsets at 0.
func NewWriter(w io.Writer) *Writer {
	return NewWriterAt(w, 0)
}

// NewWriterAt is NewWriter for a destination that already holds off bytes.
func NewWriterAt(w io.Writer, off int64) *Writer {
	return &Writer{dst: w, buf: make([]byte, 0, writerBufStart), flushed: off, off: off}
}

// header encodes the type byte and the length of a record into w.hdr.
func (w *Writer) header(typ byte, n int) []byte {
	h := w.hdr[:0]
	h = append(h, typ)
	rest := uint64(n)
	for {
		b := byte(rest & 0x7f)
		rest >>= 7
		if rest != 0 {
			b |= 0x80
		}
		h = append(h, b)
		if rest == 0 {
			break
		}
	}
	return h
}

// write buffers p; a write larger than the buffer goes straight through
// once the buffer is flushed, without a copy.
func (w *Writer) write(p []byte) error {
	for len(p) > 0 {
		if len(w.buf) == 0 && len(p) >= writerBufSize {
			n, err := w.dst.Write(p)
			w.flushed += int64(n)
			w.off += int64(n)
			if err == nil && n < len(p) {
				err = io.ErrShortWrite
			}
			if err != nil {
				w.err = err
			}
			return err
		}
		if len(w.buf) == cap(w.buf) && !w.grow() {
			if err := w.flush(); err != nil {
				return err
			}
		}
		n := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+n]
		w.off += int64(n)
		p = p[n:]
	}
	return nil
}

// grow doubles a full buffer that is below writerBufSize.
func (w *Writer) grow() bool {
	if cap(w.buf) >= writerBufSize {
		return false
	}
	nb := make([]byte, len(w.buf), min(2*cap(w.buf), writerBufSize))
	copy(nb, w.buf)
	w.buf = nb
	return true
}

func (w *Writer) writeString(s string) error {
	for len(s) > 0 {
		if len(w.buf) == cap(w.buf) && !w.grow() {
			if err := w.flush(); err != nil {
				return err
			}
		}
		n := copy(w.buf[len(w.buf):cap(w.buf)], s)
		w.buf = w.buf[:len(w.buf)+n]
		w.off += int64(n)
		s = s[n:]
	}
	return nil
}

func (w *Writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.dst.Write(w.buf)
	w.flushed += int64(n)
	if err == nil && n < len(w.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		// Keep the offset arithmetic exact: what was not written is lost.
		w.off = w.flushed
		w.buf = w.buf[:0]
		w.err = err
		return err
	}
	w.buf = w.buf[:0]
	return nil
}

// Record writes one record. After the first error every later call returns
// that error.
func (w *Writer) Record(typ byte, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if err := w.write(w.header(typ, len(data))); err != nil {
		return err
	}
	return w.write(data)
}

// RecordString is Record for a string payload, without copying it.
func (w *Writer) RecordString(typ byte, data string) error {
	if w.err != nil {
		return w.err
	}
	if err := w.write(w.header(typ, len(data))); err != nil {
		return err
	}
	return w.writeString(data)
}

// Recordf writes a record whose payload is fmt.Sprintf(format, args...).
func (w *Writer) Recordf(typ byte, format string, args ...any) error {
	w.fmt = fmt.Appendf(w.fmt[:0], format, args...)
	return w.Record(typ, w.fmt)
}

// Attr writes a named attribute record "name=value".
func (w *Writer) Attr(name, value string) error {
	w.fmt = append(append(append(w.fmt[:0], name...), '='), value...)
	return w.Record(RecAttr, w.fmt)
}

// Offset returns the number of bytes written so far, buffered ones included:
// the file offset of the next record.
func (w *Writer) Offset() int64 { return w.off }

// Flush writes buffered bytes to the underlying writer.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	return w.flush()
}

// patchBuffered overwrites bytes at offset off when they are all still in
// the buffer (not yet written out), and reports whether it did.
func (w *Writer) patchBuffered(p []byte, off int64) bool {
	if w.err != nil || off < w.flushed || off+int64(len(p)) > w.off {
		return false
	}
	copy(w.buf[off-w.flushed:], p)
	return true
}

// Err returns the first write error, if any.
func (w *Writer) Err() error { return w.err }

// Errors of the record reader. Use errors.Is on a *FormatError.
var (
	ErrTruncatedLength = errors.New("unexpected EOF reading length")
	ErrLengthBits      = errors.New("too many length bits")
	ErrIllegalLength   = errors.New("illegal length")
	ErrTruncatedData   = errors.New("unexpected EOF in data")
	ErrUnknownType     = errors.New("unknown record type")
)

// FormatError describes a malformed record. Its text is Postfix's warning
// text, "PATH: " first when the reader has a path.
type FormatError struct {
	Path   string
	Kind   error // one of the Err* values above
	Type   byte
	Length int64
	Offset int64 // offset of the record's type byte
}

// Error returns the Postfix wording, e.g. "unexpected EOF in data, record
// type 78 length 12".
func (e *FormatError) Error() string {
	var s string
	switch e.Kind {
	case ErrIllegalLength:
		s = fmt.Sprintf("illegal length %d, record type %d", e.Length, e.Type)
	case ErrTruncatedData:
		s = fmt.Sprintf("unexpected EOF in data, record type %d length %d", e.Type, e.Length)
	default:
		s = fmt.Sprintf("%s, record type %d", e.Kind, e.Type)
	}
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	return s
}

// Unwrap returns the kind, so errors.Is(err, ErrTruncatedData) works.
func (e *FormatError) Unwrap() error { return e.Kind }

// Reader decodes records. By default it rejects record types that Postfix
// 3.7 does not define; set AllowUnknown to read them like Postfix's raw
// reader does.
type Reader struct {
	// Path names the input in error texts ("" = none).
	Path string
	// MaxLength rejects longer payloads (0 = no limit) with ErrIllegalLength.
	MaxLength int64
	// AllowUnknown accepts any type byte.
	AllowUnknown bool

	br  *bufio.Reader
	off int64
}

// NewReader returns a Reader positioned at offset 0.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReader(r)}
}

// NewReaderAt returns a Reader whose first byte is at offset off.
func NewReaderAt(r io.Reader, off int64) *Reader {
	return &Reader{br: bufio.NewReader(r), off: off}
}

// Offset returns the offset of the next record.
func (r *Reader) Offset() int64 { return r.off }

// Next reads one record. It returns io.EOF when the input ends cleanly at a
// record boundary, and a *FormatError for a malformed record.
func (r *Reader) Next() (Record, error) {
	start := r.off
	typ, err := r.br.ReadByte()
	if err != nil {
		if err == io.EOF {
			return Record{}, io.EOF
		}
		return Record{}, fmt.Errorf("read queue file record at offset %d: %w", start, err)
	}
	r.off++
	fail := func(kind error, n int64) (Record, error) {
		return Record{}, &FormatError{Path: r.Path, Kind: kind, Type: typ, Length: n, Offset: start}
	}
	n, err := readLength(r.br, &r.off)
	if err != nil {
		if errors.Is(err, ErrLengthBits) || errors.Is(err, ErrTruncatedLength) {
			return fail(err, 0)
		}
		return Record{}, fmt.Errorf("read queue file record at offset %d: %w", start, err)
	}
	if n < 0 || (r.MaxLength > 0 && n > r.MaxLength) {
		return fail(ErrIllegalLength, n)
	}
	if !r.AllowUnknown && !Known(typ) {
		return fail(ErrUnknownType, n)
	}
	data, got, err := readPayload(r.br, n)
	r.off += got
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fail(ErrTruncatedData, n)
		}
		return Record{}, fmt.Errorf("read queue file record at offset %d: %w", start, err)
	}
	return Record{Type: typ, Data: data, Offset: start}, nil
}

// payloadChunk bounds what the reader allocates ahead of the bytes that
// actually arrive: a corrupt length of 2 GiB costs no more than the file.
const payloadChunk = 64 << 10

// readPayload reads an n-byte payload, growing the buffer as bytes arrive
// rather than trusting the declared length.
func readPayload(br io.Reader, n int64) ([]byte, int64, error) {
	if n <= payloadChunk {
		data := make([]byte, n)
		got, err := io.ReadFull(br, data)
		return data, int64(got), err
	}
	data := make([]byte, 0, payloadChunk)
	for int64(len(data)) < n {
		if len(data) == cap(data) {
			nd := make([]byte, len(data), min(2*int64(cap(data)), n))
			copy(nd, data)
			data = nd
		}
		end := int(min(int64(cap(data)), n))
		got, err := io.ReadFull(br, data[len(data):end])
		data = data[:len(data)+got]
		if err != nil {
			return data, int64(len(data)), err
		}
	}
	return data, int64(len(data)), nil
}

// readLength decodes a base-128 length the way Postfix's reader does,
// including its arithmetic: each 7-bit group is shifted as a 32-bit signed
// int, so a large final group yields a negative (illegal) length.
func readLength(br io.ByteReader, off *int64) (int64, error) {
	var n int64
	for shift := uint(0); ; shift += 7 {
		if shift >= MaxLengthBits {
			return 0, ErrLengthBits
		}
		b, err := br.ReadByte()
		if err != nil {
			if err == io.EOF {
				return 0, ErrTruncatedLength
			}
			return 0, err
		}
		*off++
		n |= int64(int32(uint32(b&0x7f) << shift))
		if b&0x80 == 0 {
			return n, nil
		}
	}
}

// AppendRecord appends the encoding of one record to dst.
func AppendRecord(dst []byte, typ byte, data []byte) []byte {
	dst = append(dst, typ)
	rest := uint64(len(data))
	for {
		b := byte(rest & 0x7f)
		rest >>= 7
		if rest != 0 {
			b |= 0x80
		}
		dst = append(dst, b)
		if rest == 0 {
			break
		}
	}
	return append(dst, data...)
}

// Size is the content of the size record 'C'.
type Size struct {
	ContentSize   int64 // offset of the X record minus DataOffset
	DataOffset    int64 // offset of the first record after M
	Recipients    int64 // number of R records
	QmgrFlags     int64 // queue manager hints (0 for QMQP mail)
	ContentLength int64 // as ContentSize unless milters edited the content
	SMTPUTF8      int64 // SMTPUTF8 flags
}

// Payload returns the fixed-width payload, "%15d %15d %15d %15d %15d %15d".
func (s Size) Payload() []byte {
	b := make([]byte, 0, SizePayloadLen)
	var num [20]byte
	for i, v := range [...]int64{s.ContentSize, s.DataOffset, s.Recipients, s.QmgrFlags, s.ContentLength, s.SMTPUTF8} {
		if i > 0 {
			b = append(b, ' ')
		}
		d := strconv.AppendInt(num[:0], v, 10)
		for k := len(d); k < 15; k++ {
			b = append(b, ' ')
		}
		b = append(b, d...)
	}
	return b
}

// ParseSize decodes a size record payload. Like Postfix it needs the first
// two numbers; missing later ones are 0.
func ParseSize(data []byte) (Size, error) {
	var v [6]int64
	i, n := 0, 0
	for n < 6 {
		for i < len(data) && (data[i] == ' ' || data[i] == '\t') {
			i++
		}
		if i >= len(data) {
			break
		}
		j := i
		if data[j] == '-' || data[j] == '+' {
			j++
		}
		for j < len(data) && data[j] >= '0' && data[j] <= '9' {
			j++
		}
		x, err := strconv.ParseInt(string(data[i:j]), 10, 64)
		if err != nil {
			break
		}
		v[n] = x
		n++
		i = j
	}
	if n < 2 {
		return Size{}, fmt.Errorf("invalid size record: %.100s", data)
	}
	return Size{v[0], v[1], v[2], v[3], v[4], v[5]}, nil
}
