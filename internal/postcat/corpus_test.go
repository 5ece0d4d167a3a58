package postcat

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// The inputs of the differential tests (see diff_test.go): queue files
// written by real Postfix, synthetic files with every record type, and
// damaged files.

// optionSets are the option combinations tried on every input.
var optionSets = [][]string{
	{},
	{"-b"},
	{"-h"},
	{"-e"},
	{"-bh"},
	{"-be"},
	{"-he"},
	{"-bhe"},
	{"-o"},
	{"-d"},
	{"-r"},
	{"-v"},
	{"-e", "-v"},
	{"-eo"},
	{"-bo"},
	{"-ho", "-d"},
	{"-od", "-v"},
	{"-rv"},
	{"-r", "-e"},
	{"-bv"},
	{"-vv", "-o"},
	{"-s", "0"},
	{"-s", "1"},
	{"-s", "100", "-e"},
	{"-s", "40", "-b"},
	{"-s100000", "-o"},
}

// input is one file given to postcat.
type input struct {
	name string
	data []byte
}

// realFiles are the queue files written by real Postfix 3.7.11.
func realFiles(t testing.TB) []input {
	t.Helper()
	var out []input
	for _, pattern := range []string{
		"../cleanup/testdata/golden/*.qf",
		"testdata/*.qf",
	} {
		names, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, input{name: filepath.Base(filepath.Dir(n)) + "-" + filepath.Base(n), data: b})
		}
	}
	if len(out) < 30 {
		t.Fatalf("only %d real queue files found", len(out))
	}
	return out
}

// rec builds one record.
func rec(typ byte, data string) []byte { return queuefile.AppendRecord(nil, typ, []byte(data)) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// syntheticFiles exercise every record type and the walk's corner cases.
func syntheticFiles() []input {
	size := func(content, dataOff int) []byte {
		return rec('C', fmt.Sprintf("%15d %15d %15d %15d %15d %15d", content, dataOff, 1, 0, content, 0))
	}
	env := cat(rec('T', "1795530772 599664"), rec('A', "create_time=1795530772"), rec('S', "a@example.com"),
		rec('A', "rewrite_context=local"), rec('O', "b@example.net"), rec('R', "b@example.net"))
	var every []byte
	for typ := 0; typ < 256; typ++ {
		if typ == 'p' || typ == 'E' || typ == 'M' || typ == 'X' || typ == 'C' {
			continue
		}
		every = append(every, rec(byte(typ), fmt.Sprintf("value of %d", typ))...)
	}
	body := cat(rec('N', "Subject: s"), rec('L', "X-Long: aaa"), rec('L', "bbb"), rec('N', "ccc"), rec('N', "\tfolded"),
		rec('N', ""), rec('N', "body line"), rec('L', "unterminated "), rec('N', "end"), rec('D', "deleted text"))
	// A pointer record jumping over garbage.
	head := cat(rec('T', "1795530772 0"), rec('S', "s@example.com"))
	ptrRec := func(off int) []byte { return rec('p', fmt.Sprintf("%15d", off)) }
	garbage := []byte("\xff\xff\xffgarbage")
	p1 := len(head) + len(ptrRec(0))
	jump := cat(head, ptrRec(p1+len(garbage)), garbage, rec('R', "r@example.com"), rec('M', ""), rec('N', "x"), rec('X', ""), rec('E', ""))
	loop := cat(head, ptrRec(len(head)), rec('E', ""))
	zeroPtr := cat(head, rec('p', "0"), rec('M', ""), rec('X', ""), rec('E', ""))
	badPtr := cat(head, rec('p', " 12x"), rec('E', ""))
	farPtr := cat(head, rec('p', "999999"), rec('E', ""))
	return []input{
		{"every-type", cat(env, every, rec('M', ""), body, rec('X', ""), every, rec('E', ""))},
		{"with-size", cat(size(len(body)+2, 70), env, rec('M', ""), body, rec('X', ""), rec('E', ""))},
		{"size-bad", cat(rec('C', "abc"), env, rec('M', ""), body, rec('X', ""), rec('E', ""))},
		{"size-zero", cat(rec('C', "0 0 0"), env, rec('M', ""), body, rec('X', ""), rec('E', ""))},
		{"size-one-field", cat(rec('C', "12"), env, rec('M', ""), body, rec('X', ""), rec('E', ""))},
		{"size-past-eof", cat(size(10, 100000), env, rec('M', ""), body, rec('X', ""), rec('E', ""))},
		{"size-twice", cat(size(10, 90), size(10, 90), env, rec('M', ""), body, rec('X', ""), rec('E', ""))},
		{"no-size", cat(env, rec('M', ""), body, rec('X', ""), rec('E', ""))},
		{"no-end", cat(env, rec('M', ""), body, rec('X', ""))},
		{"no-extracted", cat(env, rec('M', ""), body, rec('E', ""))},
		{"no-content", cat(env, rec('E', ""))},
		{"content-only", cat(rec('M', ""), body)},
		{"twice-m", cat(env, rec('M', ""), rec('M', ""), body, rec('X', ""), rec('X', ""), rec('E', ""))},
		{"after-end", cat(env, rec('M', ""), body, rec('X', ""), rec('E', ""), rec('R', "late@example.com"), rec('E', ""))},
		{"bad-attrs", cat(env, rec('A', "noequals"), rec('A', "=value"), rec('A', "name="), rec('A', "  sp = v  "),
			rec('A', "create_time=abc"), rec('A', "a b=c"), rec('M', ""), rec('X', ""), rec('E', ""))},
		{"times", cat(rec('T', "0"), rec('T', "-5"), rec('T', "abc"), rec('T', "  77"), rec('W', "1795530772"), rec('W', ""),
			rec('A', "create_time=-100"), rec('T', "99999999999"), rec('M', ""), rec('X', ""), rec('E', ""))},
		{"nul-payloads", cat(rec('S', "a\x00b"), rec('A', "x=y\x00z"), rec('M', ""), rec('N', "te\x00xt"), rec('L', "c\x00d"),
			rec('N', "e"), rec('X', ""), rec('E', ""))},
		{"header-edge", cat(env, rec('M', ""), rec('N', "Subject : spaced"), rec('N', " lead"), rec('N', "no header"),
			rec('N', "X-After: 1"), rec('X', ""), rec('E', ""))},
		{"cont-before-x", cat(env, rec('M', ""), rec('N', "S: 1"), rec('N', ""), rec('L', "part"), rec('X', ""), rec('E', ""))},
		{"empty-records", cat(rec('S', ""), rec('R', ""), rec('M', ""), rec('N', ""), rec('L', ""), rec('X', ""), rec('E', ""))},
		{"pointer-jump", jump},
		{"pointer-loop", loop},
		{"pointer-zero", zeroPtr},
		{"pointer-bad", badPtr},
		{"pointer-far", farPtr},
		{"not-queue-file", []byte("hello world\n")},
		{"empty", nil},
		{"one-byte", []byte("C")},
		{"long-length", cat([]byte{'S', 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, []byte("x"))},
		{"length-past-eof", cat([]byte{'S', 0x90, 0x01}, []byte("short"))},
		{"length-negative", cat([]byte{'S', 0xff, 0xff, 0xff, 0xff, 0x0f})},
		{"eof-in-length", []byte{'S', 0x80}},
		{"nonprintable-warnings", cat(rec('C', "a\nb\x01c\xc3\xa9\xff"), rec('A', "bad\tname\xc3\xa9=x"), rec('A', "\x01"), rec('M', ""), rec('X', ""), rec('E', ""))},
		{"size-loop", cat(rec('C', "0 0"), rec('S', "a"), rec('M', ""), rec('N', "x"), rec('X', ""), rec('E', ""))},
		{"big-record", cat(env, rec('M', ""), rec('N', strings.Repeat("y", 70000)), rec('L', strings.Repeat("z", 5000)), rec('X', ""), rec('E', ""))},
	}
}

// damagedFiles derives broken files from a real one: truncated anywhere,
// with a bad record type or length, without the end record.
func damagedFiles(t testing.TB, base input) []input {
	t.Helper()
	var recs []queuefile.Record
	r := queuefile.NewReader(bytes.NewReader(base.data))
	for {
		rc, err := r.Next()
		if err != nil {
			break
		}
		recs = append(recs, rc)
	}
	var out []input
	add := func(name string, b []byte) {
		out = append(out, input{name: base.name + "-" + name, data: b})
	}
	for i, rc := range recs {
		off := int(rc.Offset)
		add(fmt.Sprintf("trunc-%d", off), base.data[:off])
		add(fmt.Sprintf("trunc-%d", off+1), base.data[:off+1])
		if len(rc.Data) > 1 {
			add(fmt.Sprintf("trunc-%d", off+3), base.data[:off+3])
		}
		for _, typ := range []byte{'Z', 0, 'E'} {
			if typ == rc.Type {
				continue
			}
			b := bytes.Clone(base.data)
			b[off] = typ
			add(fmt.Sprintf("type-%d-%d", i, typ), b)
		}
		b := bytes.Clone(base.data)
		b[off+1] = 0x7f // length 127: reads into the next records
		add(fmt.Sprintf("len-%d", i), b)
		b = cat(base.data[:off+1], []byte{0xff, 0xff, 0xff, 0xff, 0xff}, base.data[off+1:])
		add(fmt.Sprintf("lenbits-%d", i), b)
		if rc.Type == 'E' {
			add("no-end", cat(base.data[:off], base.data[off+2:]))
		}
		if rc.Type == 'X' {
			add("no-xtra", cat(base.data[:off], base.data[off+2:]))
		}
	}
	return out
}

// randomFiles are deterministic random mutations of the real files.
func randomFiles(files []input, n int) []input {
	rng := rand.New(rand.NewSource(3711))
	var out []input
	for i := 0; i < n; i++ {
		base := files[rng.Intn(len(files))]
		b := bytes.Clone(base.data)
		for k := 1 + rng.Intn(4); k > 0 && len(b) > 0; k-- {
			p := rng.Intn(len(b))
			switch rng.Intn(4) {
			case 0:
				b[p] = byte(rng.Intn(256))
			case 1:
				b = b[:p]
			case 2:
				b = append(b[:p:p], b[min(len(b), p+1+rng.Intn(8)):]...)
			default:
				b[p] ^= 1 << rng.Intn(8)
			}
		}
		out = append(out, input{name: fmt.Sprintf("random-%03d-%s", i, base.name), data: b})
	}
	return out
}
