package maincf

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadLogicalLines(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  []LogicalLine
		warns []string
	}{
		{"a = 1\nb = 2\n", []LogicalLine{{"a = 1", 1}, {"b = 2", 2}}, nil},
		{"foo = bar\n  baz\n\tqux", []LogicalLine{{"foo = bar  baz\tqux", 1}}, nil},
		{"foo = a\n    # indented comment\n\n   b\n", []LogicalLine{{"foo = a   b", 1}}, nil},
		{"foo = a\n# col0 comment\n b\nc=d", []LogicalLine{{"foo = a b", 1}, {"c=d", 4}}, nil},
		{"# c\n\n  \t\nx=1\r\n \r\ny=2", []LogicalLine{{"x=1\r", 4}, {"y=2", 6}}, nil},
		{"   leading = ws\nx = 1\n", []LogicalLine{{"x = 1", 2}},
			[]string{`P: logical line must not start with whitespace: "   leading = ws"`}},
		{" 123456789012345678901234567890123\n", nil,
			[]string{`P: logical line must not start with whitespace: " 12345678901234567890123456789..."`}},
		{"#c\n  cont\n  more\nx=1", []LogicalLine{{"x=1", 4}},
			[]string{`P: logical line must not start with whitespace: "  cont  more"`}},
		{"", nil, nil},
	} {
		var warns []string
		got := ReadLogicalLines("P", []byte(tc.in), func(s string) { warns = append(warns, s) })
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q lines (-want +got):\n%s", tc.in, diff)
		}
		if diff := cmp.Diff(tc.warns, warns); diff != "" {
			t.Errorf("%q warnings (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestSplitNameValue(t *testing.T) {
	for _, tc := range []struct {
		in, name, value string
		err             error
	}{
		{"a = b", "a", "b", nil},
		{"a=b=c", "a", "b=c", nil},
		{"  a  =  b c  ", "a", "b c", nil},
		{"empty =", "empty", "", nil},
		{"foo.bar = x", "foo.bar", "x", nil},
		{"hash = bar # not a comment", "hash", "bar # not a comment", nil},
		{"= value", "", "", ErrMissingName},
		{"   ", "", "", ErrMissingName},
		{"bad line here", "", "", ErrMissingEqual},
		{"a b = c", "", "", ErrMissingEqual},
	} {
		n, v, err := SplitNameValue(tc.in)
		if n != tc.name || v != tc.value || !errors.Is(err, tc.err) {
			t.Errorf("SplitNameValue(%q) = %q, %q, %v", tc.in, n, v, err)
		}
	}
}

func TestDictLoad(t *testing.T) {
	var warns []string
	d := NewDict()
	err := d.Load("/d/main.cf", []byte("foo = bar\n  baz   qux\nfoo = bar  baz   qux\nfoo = new\nx = two\tthree\nx = 1\n"), func(s string) { warns = append(warns, s) })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/d/main.cf, line 4: overriding earlier entry: foo=bar  baz   qux",
		"/d/main.cf, line 6: overriding earlier entry: x=two?three",
	}
	if diff := cmp.Diff(want, warns); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if v, _ := d.Lookup("foo"); v != "new" {
		t.Errorf("foo = %q", v)
	}
	if d.Line("x") != 6 || d.Len() != 2 {
		t.Errorf("line %d len %d", d.Line("x"), d.Len())
	}
	err = d.Load("/d/main.cf", []byte("a = 1\n\nbad line\n  here\n"), nil)
	if err == nil || err.Error() != `/d/main.cf, line 3: missing '=' after attribute name: "bad line  here"` {
		t.Errorf("err = %v", err)
	}
	err = d.Load("/d/main.cf", []byte("= value\n"), nil)
	if err == nil || err.Error() != `/d/main.cf, line 1: missing attribute name: "= value"` {
		t.Errorf("err = %v", err)
	}
	_, err = ReadMainCF("/nonexistent/main.cf", nil)
	if err == nil || err.Error() != "open /nonexistent/main.cf: No such file or directory" {
		t.Errorf("err = %v", err)
	}
}

// readerCases are main.cf files whose reading is compared with the real
// postconf -n. They set only built-in parameters (user-defined ones follow
// postconf's "unused" rules, tested elsewhere).
var readerCases = []string{
	"relayhost = a\n  b   c\n\n# comment\n\td\nrelayhost = x\n",
	"   leading = ws\nrelayhost = x\n",
	"  0123456789012345678901234567890123456789\nrelayhost = x\n",
	"relayhost = one\r\nmyorigin = two \r\n\r\n",
	"smtpd_banner = one\ttwo\nsmtpd_banner = three\n",
	"relayhost = a\nrelayhost = a\nrelayhost=b\n",
	"relayhost = x\nbad line here\n",
	"relayhost = x\n\n# c\n= value\n",
	"relayhost = x\n  more\nmissing equal\n  continued\n",
	"relayhost = \x01ctl\nrelayhost = y\n",
	"relayhost = hash = bar # not a comment\n",
	"relayhost =\n",
	"#only comments\n\n",
	"relayhost = a\n#c\n  b",
}

func TestReaderMatchesPostconf(t *testing.T) {
	t.Parallel()
	var runs []func() postconfResult
	var dirs []string
	for _, in := range readerCases {
		dir := scratchDir(t, in, "")
		dirs = append(dirs, dir)
		runs = append(runs, func() postconfResult { return runPostconf(dir, "-n") })
	}
	results := runPostconfAll(t, runs)
	for i, in := range readerCases {
		r := results[i]
		var warns []string
		d := NewDict()
		d.Set("config_directory", dirs[i])
		err := d.LoadFile(filepath.Join(dirs[i], "main.cf"), func(s string) { warns = append(warns, s) })
		wantErr := warnLines(warns)
		wantOut := ""
		wantCode := 0
		if err != nil {
			wantErr += "postconf: fatal: " + err.Error() + "\n"
			wantCode = 1
		} else {
			for _, n := range d.Names() {
				v, _ := d.Lookup(n)
				if v = collapse(v); v == "" {
					wantOut += n + " =\n"
				} else {
					wantOut += fmt.Sprintf("%s = %s\n", n, v)
				}
			}
		}
		if r.code != wantCode || r.stdout != wantOut || r.stderr != wantErr {
			t.Errorf("%q:\npostconf: rc %d\n%s%s\nmine: rc %d\n%s%s", in, r.code, r.stdout, r.stderr, wantCode, wantOut, wantErr)
		}
	}
}

func TestPrintable(t *testing.T) {
	if got := Printable("a\tb\x7fc\xc3\xa9"); got != "a?b?c??" {
		t.Errorf("got %q", got)
	}
	if s := "plain"; Printable(s) != s {
		t.Error("changed")
	}
}

func TestStrerror(t *testing.T) {
	_, err := ReadMaster("/nonexistent/master.cf")
	if err == nil || !strings.HasSuffix(err.Error(), ": No such file or directory") {
		t.Errorf("err = %v", err)
	}
}
