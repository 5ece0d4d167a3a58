package maincf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMasterEntry(t *testing.T) {
	var warns []string
	e, err := ParseMasterEntry("smtp inet n - n - - smtpd -osyslog_name=foo -vo x=y -o { a = b c } - {zz} { q }\n  -o {d=e} arg {  x y  } {a}b {c", func(s string) { warns = append(warns, s) })
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := []string{"-o", "sysl", "-o", "g_name=f", "-o", "-o", "-v", "-o", "x=y", "-o", "a=b c", "-", "zz", "q", "-o", "d=e", "arg", "x y", "a", "c"}
	if diff := cmp.Diff(wantArgs, e.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	wantWarns := []string{`master.cf: syntax error after '}' in "{a}b"`, `master.cf: missing '}' in "{c"`}
	if diff := cmp.Diff(wantWarns, warns); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	var names []string
	for _, o := range e.Options() {
		names = append(names, o.Name+"="+o.Value)
	}
	if diff := cmp.Diff([]string{"g_name=f", "x=y", "a=b c"}, names); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
	if e.ProcessName() != "smtpd" || e.ServiceName() != "smtp" || e.Name() != "smtp/inet" {
		t.Errorf("names %q %q %q", e.ProcessName(), e.ServiceName(), e.Name())
	}
}

func TestParseMasterErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"x tcp n - n - - qmqpd\n", `invalid type field "tcp" in "x tcp n - n - - qmqpd"`},
		{"x inet yes - n - - qmqpd\n", `invalid private field "yes" in "x inet yes - n - - qmqpd"`},
		{"x inet n - n 10x - qmqpd\n", `invalid wakeup field "10x" in "x inet n - n 10x - qmqpd"`},
		{"x inet n - n - -1 qmqpd\n", `invalid process_limit field "-1" in "x inet n - n - -1 qmqpd"`},
		{"x inet n\n - n - -1 qmqpd\n", `invalid process_limit field "-1" in "x inet n - n - -1 qmqpd"`},
		{"# c\nx inet n - n - -\n", `file P: line 2: bad field count`},
	} {
		_, err := ParseMaster("P", []byte(tc.in), nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: err = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestCheckMasterField(t *testing.T) {
	for _, tc := range []struct {
		field int
		v     string
		ok    bool
	}{
		{5, "-", true}, {5, "10", true}, {5, "10?", true}, {5, "?", true}, {5, "-?", true}, {5, "x", false}, {5, "--", false},
		{6, "-", true}, {6, "0", true}, {6, "", true}, {6, "-1", false},
		{2, "y", true}, {2, "yes", false}, {1, "unix-dgram", true}, {1, "tcp", false},
	} {
		if err := CheckMasterField(tc.field, tc.v); (err == nil) != tc.ok {
			t.Errorf("CheckMasterField(%d, %q) = %v", tc.field, tc.v, err)
		}
	}
}

// masterCases are master.cf files whose -M, -Mf and -F output is compared
// with the real postconf.
var masterCases = []string{
	"smtp      inet  n       -       y       -       -       smtpd\n" +
		"#submission inet n       -       y       -       -       smtpd\n" +
		"pickup    unix  n       -       y       60      1       pickup\n" +
		"scalemail-backend unix - n n - 2 pipe\n  flags=R user=scalemail argv=/usr/lib/scalemail/bin/scalemail-store ${nexthop} ${user} ${extension}\n" +
		"628 inet n - n - - qmqpd -o qmqpd_authorized_clients=127.0.0.1,[::1] -o { smtpd_banner = hello   world $myhostname } -o qmqpd_timeout=$my_timeout -v\n" +
		"[::1]:smtp inet n - n - - smtpd -v -o syslog_name=foo -D\n" +
		"pipe1 unix - n n - - pipe flags=R user=x argv=/bin/cat { arg with space } ${recipient}\n",
	"smtp inet n - n - - smtpd -osyslog_name=foo -vo x=y -o { a = b c } - {zz} { q }\n  -o {d=e} arg {  x y  } {a}b {c\n",
	"averyveryveryverylongservicename unix - - - 10? 0 cmd a b c d e f g h i j k l m n o p q r s t u v w x y z aa bb cc dd ee ff\n",
	"x unix - - - - - cmd -- -o a=b\nlong unix - - - - - cmd -o aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1 x\n",
	"p unix - n n - - pipe { first arg } {second arg} -o {a = b}\nq unix - n n - - cmd -v -- { x y }\n",
	"relay     unix  -       -       y       -       -       smtp\n        -o syslog_name=postfix/$service_name\n#       -o smtp_helo_timeout=5 -o smtp_connect_timeout=5\n",
}

func TestMasterMatchesPostconf(t *testing.T) {
	t.Parallel()
	type variant struct {
		args []string
		mine func(es []MasterEntry) string
	}
	variants := []variant{
		{[]string{"-M"}, func(es []MasterEntry) string {
			var b strings.Builder
			for i := range es {
				b.WriteString(es[i].Format(false, nil))
			}
			return b.String()
		}},
		{[]string{"-Mf"}, func(es []MasterEntry) string {
			var b strings.Builder
			for i := range es {
				b.WriteString(es[i].Format(true, nil))
			}
			return b.String()
		}},
		{[]string{"-F"}, func(es []MasterEntry) string {
			var b strings.Builder
			for i := range es {
				for f := 0; f < 8; f++ {
					b.WriteString(es[i].FormatField(f, FieldFormat{}))
				}
			}
			return b.String()
		}},
		{[]string{"-Ff"}, func(es []MasterEntry) string {
			var b strings.Builder
			for i := range es {
				for f := 0; f < 8; f++ {
					b.WriteString(es[i].FormatField(f, FieldFormat{Fold: true}))
				}
			}
			return b.String()
		}},
		{[]string{"-Fh"}, func(es []MasterEntry) string {
			var b strings.Builder
			for i := range es {
				for f := 0; f < 8; f++ {
					b.WriteString(es[i].FormatField(f, FieldFormat{HideName: true}))
				}
			}
			return b.String()
		}},
		{[]string{"-FH"}, func(es []MasterEntry) string {
			var b strings.Builder
			for i := range es {
				for f := 0; f < 8; f++ {
					b.WriteString(es[i].FormatField(f, FieldFormat{HideValue: true}))
				}
			}
			return b.String()
		}},
	}
	var runs []func() postconfResult
	for _, in := range masterCases {
		dir := scratchDir(t, "", in)
		for _, v := range variants {
			runs = append(runs, func() postconfResult { return runPostconf(dir, v.args...) })
		}
	}
	results := runPostconfAll(t, runs)
	for i, in := range masterCases {
		var warns []string
		es, err := ParseMaster("P", []byte(in), func(s string) { warns = append(warns, s) })
		if err != nil {
			t.Fatal(err)
		}
		for j, v := range variants {
			r := results[i*len(variants)+j]
			if got := v.mine(es); got != r.stdout {
				t.Errorf("%v of %q:\npostconf:\n%s\nmine:\n%s", v.args, in, r.stdout, got)
			}
			if got, want := warnLines(warns), dropLines(r.stderr, "unused parameter: ", "undefined parameter: "); got != want {
				t.Errorf("%v of %q: warnings: postconf\n%smine\n%s", v.args, in, want, got)
			}
		}
	}
}

// brokenMasterCases are master.cf files that real postconf rejects.
var brokenMasterCases = []string{
	"x tcp n - n - - qmqpd\n",
	"x inet yes - n - - qmqpd\n",
	"x inet n y- n - - qmqpd\n",
	"x inet n - N - - qmqpd\n",
	"x inet n - n 10x - qmqpd\n",
	"x inet n - n 10?? - qmqpd\n",
	"x inet n - n - -1 qmqpd\n",
	"x inet n - n - 1x qmqpd\n",
	"# c\n\nx inet n - n - -\n",
	"x inet n - n\n  - 1x qmqpd\n",
	"a unix - - - - - a\nb\n",
}

func TestBrokenMasterMatchesPostconf(t *testing.T) {
	t.Parallel()
	var runs []func() postconfResult
	var dirs []string
	for _, in := range brokenMasterCases {
		dir := scratchDir(t, "", in)
		dirs = append(dirs, dir)
		runs = append(runs, func() postconfResult { return runPostconf(dir, "-M") })
	}
	results := runPostconfAll(t, runs)
	for i, in := range brokenMasterCases {
		r := results[i]
		_, err := ReadMaster(filepath.Join(dirs[i], "master.cf"))
		if err == nil {
			t.Errorf("%q: no error; postconf says %s", in, r.stderr)
			continue
		}
		if want := "postconf: fatal: " + err.Error() + "\n"; r.code != 1 || r.stderr != want {
			t.Errorf("%q: postconf rc %d %q; mine %q", in, r.code, r.stderr, want)
		}
	}
}

func TestReadMasterMissing(t *testing.T) {
	_, err := ReadMaster(filepath.Join(t.TempDir(), "master.cf"))
	if err == nil || !strings.HasPrefix(err.Error(), "open /") || !strings.HasSuffix(err.Error(), "/master.cf: No such file or directory") {
		t.Errorf("err = %v", err)
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		t.Errorf("error should be plain text")
	}
}
