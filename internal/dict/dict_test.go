package dict

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qmqpd-go/qmqpd/internal/testenv"
)

type result struct {
	Value string
	Found bool
}

// tableCase is a table source and keys to look up, with the expected
// results and open-time warnings (the path of the source file is written
// as FILE).
type tableCase struct {
	name  string
	typ   string
	src   string
	keys  []string
	want  []result
	warns []string
}

var tableCases = []tableCase{
	{
		name: "cidr basic",
		typ:  "cidr",
		src: "# comment\n1.2.3.0/24 net\n\n1.2.3.4 host\n[::1] v6loop\n[2001:db8::]/32\tdoc v6\n" +
			"!10.0.0.0/8 notten\n",
		keys: []string{"1.2.3.4", "1.2.4.1", "10.1.2.3", "::1", "2001:db8::5", "2001:db9::1", "example.com", "::ffff:1.2.3.4"},
		want: []result{{"net", true}, {"notten", true}, {"", false}, {"v6loop", true}, {"doc v6", true}, {"", false}, {"", false}, {"", false}},
	},
	{
		name: "cidr if endif and errors",
		typ:  "cidr",
		src: "if 192.168.0.0/16\n192.168.1.0/24 one\nendif\nif !192.168.0.0/16\n0.0.0.0/0 outside\nendif\n" +
			"1.2.3.4/24 x\n1.2.3.0/33 x\nbe/be x\n[1.2.3.4 x\n1.2.3.4\nendif\nendif x\n  continued line\nif 5.6.7.8\n",
		keys: []string{"192.168.1.1", "192.168.2.1", "8.8.8.8"},
		want: []result{{"one", true}, {"", false}, {"outside", true}},
		warns: []string{
			`cidr map FILE, line 7: non-null host address bits in "1.2.3.4/24", perhaps you should use "1.2.3.0/24" instead: skipping this rule`,
			`cidr map FILE, line 8: bad mask length in "1.2.3.0/33": skipping this rule`,
			`cidr map FILE, line 9: bad mask value in "be/be": skipping this rule`,
			`cidr map FILE, line 10: missing ']' character after "[1.2.3.4": skipping this rule`,
			`cidr map FILE, line 11: no lookup result: skipping this rule`,
			`cidr map FILE, line 12: ENDIF without IF: skipping this rule`,
			`cidr map FILE, line 13: garbage after ENDIF: skipping this rule`,
			`cidr map FILE, line 15: IF has no matching ENDIF`,
		},
	},
	{
		name: "texthash",
		typ:  "texthash",
		src:  "example.com ok\n\"quoted key\" v\nkey: value\nnovalue\n1.2.3.4   spaced value  \nlong value\n  continued\n",
		keys: []string{"example.com", "\"quoted key\"", "key:", "1.2.3.4", "long", "novalue"},
		want: []result{{"ok", true}, {"v", true}, {"value", true}, {"spaced value", true}, {"value  continued", true}, {"", false}},
		warns: []string{
			`FILE, line 3: record is in "key: value" format; is this an alias file?`,
			`FILE, line 4: expected format: key whitespace value -- ignoring this line`,
		},
	},
	{
		name: "regexp",
		typ:  "regexp",
		src: "/^a(b)c$/ found $1\n/x\\/ y\n/\\.example\\.com$/ dom\n/[\\.]/ dot\n/^CASE$/i case\n" +
			"/^(x)(y)?$/ ${1}-$2-$$\n/^notfoo/!/bar/ nb\nif /^if/\n/ok$/ inside\nendif\n",
		keys: []string{"abc", "ABC", "a.example.com", "q\\", "case", "CASE", "x", "xy", "notfoo1", "notfoobar", "if-ok", "ifno", "zzz"},
		want: []result{{"found b", true}, {"found B", true}, {"dom", true}, {"dot", true}, {"", false}, {"case", true},
			{"x--$", true}, {"x-y-$", true}, {"nb", true}, {"", false}, {"inside", true}, {"", false}, {"", false}},
		warns: []string{`regexp map FILE, line 2: no closing regexp delimiter "/": skipping this rule`},
	},
	{
		name: "regexp errors",
		typ:  "regexp",
		src:  "/(a/ x\n/a/z y\n/c/ $0\n/d/ ${1\n/e/ $a\n/f/ $2\n/g/\nfoo bar\nendif\nif /h/ extra\nendif\n!/x(y)/ $1\n",
		keys: []string{"g", "h"},
		want: []result{{"", true}, {"", false}},
		warns: []string{
			`regexp map FILE, line 1: Unmatched ( or \(`,
			`regexp map FILE, line 2: unknown regexp option "z": skipping this rule`,
			`regexp map FILE, line 3: out-of-range replacement index "0"`,
			`regexp map FILE, line 3: bad replacement syntax: skipping this rule`,
			`truncated macro reference: "${1"`,
			`regexp map FILE, line 4: bad replacement syntax: skipping this rule`,
			`regexp map FILE, line 5: non-numeric replacement index "a"`,
			`regexp map FILE, line 5: bad replacement syntax: skipping this rule`,
			`regexp map FILE, line 6: out of range replacement index "2": skipping this rule`,
			`regexp map FILE, line 7: no replacement text: using empty string`,
			`regexp map FILE, line 8: ignoring unrecognized request`,
			`regexp map FILE, line 9: ignoring ENDIF without matching IF`,
			`regexp map FILE, line 10: ignoring extra text after IF statement: "extra"`,
			`regexp map FILE, line 10: do not prepend whitespace to statements between IF and ENDIF`,
			`regexp map FILE, line 12: $number found in negative match replacement text: skipping this rule`,
		},
	},
	{
		name: "regexp basic syntax",
		typ:  "regexp",
		src:  "/^a\\(b\\)*c+$/x bre $1\n/^[[:digit:]]+$/ digits\n/^a|b$/ alt\n",
		keys: []string{"abbc+", "ac+", "abc", "123", "a", "xb"},
		want: []result{{"bre b", true}, {"bre ", true}, {"alt", true}, {"digits", true}, {"alt", true}, {"alt", true}},
	},
	{
		name: "pcre",
		typ:  "pcre",
		src: "/^a(b)c$/ found $1\n/^CASE$/i case\n/^x\\d+$/ digits\n/^end$/ dollar\n/^endE$/E dollarE\n" +
			"/ s p a c e /x spaced\n/^multi$/m multi\n/(a/ x\n/c/ $0\n/^dot.$/ dotall\n",
		keys: []string{"abc", "ABC", "case", "CASE", "x12", "end", "end\n", "endE\n", "endE", "space", "a\nmulti\nb", "dot\n", "zzz"},
		want: []result{{"found b", true}, {"found B", true}, {"", false}, {"case", true}, {"digits", true}, {"dollar", true},
			{"dollar", true}, {"", false}, {"dollarE", true}, {"spaced", true}, {"multi", true}, {"dotall", true}, {"", false}},
		warns: []string{
			`pcre map FILE, line 8: error in regex at offset 2: missing closing parenthesis`,
			`pcre map FILE, line 9: out of range replacement index "0"`,
			`pcre map FILE, line 9: bad replacement syntax: skipping this rule`,
		},
	},
	{
		name: "inline",
		typ:  "inline",
		src:  "{a=1, {b = two words}, c=}",
		keys: []string{"a", "b", "c", "d"},
		want: []result{{"1", true}, {"two words", true}, {"", true}, {"", false}},
	},
}

func runTableCase(t *testing.T, tc tableCase) (spec string, got []result, warns []string, file string) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "table")
	spec = tc.typ + ":" + file
	if tc.typ == "inline" {
		spec = tc.typ + ":" + tc.src
	} else {
		if err := os.WriteFile(file, []byte(tc.src), 0o644); err != nil {
			t.Fatal(err)
		}
		// Postfix re-reads a texthash file modified in the last second.
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(file, old, old); err != nil {
			t.Fatal(err)
		}
	}
	reg := NewRegistry(func(s string) { warns = append(warns, strings.ReplaceAll(s, file, "FILE")) })
	tab, err := reg.Open(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range tc.keys {
		v, found, err := tab.Lookup(k)
		if err != nil {
			t.Errorf("Lookup(%q): %v", k, err)
		}
		got = append(got, result{v, found})
	}
	return spec, got, warns, file
}

func TestTables(t *testing.T) {
	for _, tc := range tableCases {
		t.Run(tc.name, func(t *testing.T) {
			_, got, warns, _ := runTableCase(t, tc)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("lookups of %q (-want +got):\n%s", tc.keys, diff)
			}
			if diff := cmp.Diff(tc.warns, warns); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTablesInterop looks up the same keys with Postfix's postmap -q and
// compares results and warnings.
func TestTablesInterop(t *testing.T) {
	testenv.NeedPostfix(t)
	conf := t.TempDir()
	if err := os.WriteFile(filepath.Join(conf, "main.cf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	postmap := filepath.Join(filepath.Dir(testenv.RealPostconf), "postmap")
	for _, tc := range tableCases {
		t.Run(tc.name, func(t *testing.T) {
			spec, got, warns, file := runTableCase(t, tc)
			// One postmap for all keys: "postmap -q - MAP" reads keys from
			// standard input and prints "key<TAB>value" for those found.
			for _, k := range tc.keys {
				if strings.ContainsAny(k, "\t\n") || k == "" {
					postmapEach(t, postmap, conf, spec, file, tc.keys, got, warns)
					return
				}
			}
			cmd := exec.Command(postmap, "-c", conf, "-q", "-", spec)
			cmd.Stdin = strings.NewReader(strings.Join(tc.keys, "\n") + "\n")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
				t.Fatalf("postmap -q - %s: %v: %s", spec, err, stderr.String())
			}
			found := map[string]string{}
			for _, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
				if k, v, ok := strings.Cut(l, "\t"); ok {
					found[k] = v
				}
			}
			for i, k := range tc.keys {
				v, ok := found[k]
				if real := (result{Value: v, Found: ok}); real != got[i] {
					t.Errorf("key %q: postmap %+v, ours %+v", k, real, got[i])
				}
			}
			var realWarns []string
			for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				if w, ok := strings.CutPrefix(l, "postmap: warning: "); ok && !postmapOnly(w) {
					realWarns = append(realWarns, strings.ReplaceAll(w, file, "FILE"))
				}
			}
			if diff := cmp.Diff(realWarns, warns); diff != "" {
				t.Errorf("warnings (-postmap +ours):\n%s", diff)
			}
		})
	}
}

// postmapEach compares keys one "postmap -q KEY" at a time (for keys that
// "postmap -q -" cannot take); warnings are those of the first query.
func postmapEach(t *testing.T, postmap, conf, spec, file string, keys []string, got []result, warns []string) {
	t.Helper()
	for i, k := range keys {
		cmd := exec.Command(postmap, "-c", conf, "-q", k, spec)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		real := result{Value: strings.TrimSuffix(string(out), "\n"), Found: err == nil}
		if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
			t.Fatalf("postmap -q %q %s: %v: %s", k, spec, err, stderr.String())
		}
		if real != got[i] {
			t.Errorf("key %q: postmap %+v, ours %+v", k, real, got[i])
		}
		if i == 0 {
			var realWarns []string
			for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				if w, ok := strings.CutPrefix(l, "postmap: warning: "); ok && !postmapOnly(w) {
					realWarns = append(realWarns, strings.ReplaceAll(w, file, "FILE"))
				}
			}
			if diff := cmp.Diff(realWarns, warns); diff != "" {
				t.Errorf("warnings (-postmap +ours):\n%s", diff)
			}
		}
	}
}

// postmapOnly reports warnings that postmap's own query code adds.
func postmapOnly(w string) bool {
	return strings.HasSuffix(w, "empty string result is not allowed") ||
		strings.HasSuffix(w, "should return NO RESULT in case of NOT FOUND")
}

func TestEnviron(t *testing.T) {
	r := NewRegistry(nil)
	r.LookupEnv = func(name string) (string, bool) {
		if name == "QDIFF_X" {
			return "yes", true
		}
		return "", false
	}
	tab, err := r.Open("environ:whatever")
	if err != nil {
		t.Fatal(err)
	}
	if tab.Flags() != Fixed || tab.Type() != "environ" || tab.Name() != "whatever" {
		t.Errorf("table %s:%s flags %v", tab.Type(), tab.Name(), tab.Flags())
	}
	if v, ok, err := tab.Lookup("QDIFF_X"); v != "yes" || !ok || err != nil {
		t.Errorf("QDIFF_X: %q %v %v", v, ok, err)
	}
	if _, ok, err := tab.Lookup("localhost"); ok || err != nil {
		t.Errorf("localhost: %v %v", ok, err)
	}
}
