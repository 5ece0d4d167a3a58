package maincf

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// expandVars are the parameters the expansion tests refer to.
var expandVars = map[string]string{
	"x":     "X",
	"e":     "",
	"y":     "$x-$x",
	"n10":   "010",
	"lvl":   "3.6",
	"sp":    "a  b",
	"dd":    "$$x",
	"loopa": "$loopb",
	"loopb": "$loopa",
}

// expandOK are expressions that expand without error.
var expandOK = []struct{ in, want string }{
	{"plain text", "plain text"},
	{"[$x] [${x}] [$(x)] [$x_y] [${x}_y] [$$x] [$$$x] [a$$]", "[X] [X] [X] [] [X_y] [$x] [$X] [a$]"},
	{"${x?yes} ${e?yes} ${undef?yes} ${x:no} ${e:no} ${undef:no}", "yes    no no"},
	{"${x?${e:{inner}}}", "inner"},
	{"${x?{{b}}}", "{b}"},
	{"${undef?{a}:{b}}", "b"},
	{"${x?{a}:{b}}", "a"},
	{"${e?{a}:b}", "b"},
	{"${x?a:b}", "a:b"},
	{"${e?a:b}", ""},
	{"${x? {a} : {b} }", "a"},
	{"${ x ? { yes } }", " yes "},
	{"${x? yes}", " yes"},
	{"${ x }", "X"},
	{"$y", "X-X"},
	{"$dd", "$x"},
	{"${{3.6} <level {2}}", ""},
	{"${{3.6} >=level {2}}", "true"},
	{"${{3.10} >level {3.9}}", "true"},
	{"${{$lvl} ==level {3.6.0}}", "true"},
	{"${{2} !=level {2.0}}", ""},
	{"${{3.6} <=level {3.6}?{le}:{gt}}", "le"},
	{"${{a} == {a}}", "true"},
	{"${{ a } == {a}}", ""},
	{"${{010} == {10}}", "true"},
	{"${{$n10} == {10}?{num}:{str}}", "num"},
	{"${{a10} < {a9}}", "true"},
	{"${{b} > {a}?yes}", "yes"},
	{"${{b} <= {a}:no}", "no"},
	{"${{b} != {a} ? {t} : {f}}", "t"},
	{"${{} == {}}", "true"},
	{"${{$x} == {X}?{$sp}}", "a  b"},
	{"$(x)$(e)(${x})", "X(X)"},
	{"${x?$(x)}", "X"},
	{"a$$b$$$$c", "a$b$$c"},
	{"${compatibility_level}", "0"},
	{"${{$compatibility_level} <level {1} ? {no} : {yes}}", "no"},
}

// expandBad are expressions that fail, with the warnings Postfix gives
// while expanding them.
var expandBad = []struct {
	in    string
	warns []string
}{
	{"a$", []string{`empty macro name: "a$"`}},
	{"$ x", []string{`empty macro name: "$ x"`}},
	{"${}", []string{`empty macro name: "${}"`}},
	{"$(x}", []string{`truncated macro reference: "$(x}"`}},
	{"${x", []string{`truncated macro reference: "${x"`}},
	{"${x!}", []string{`attribute name syntax error at: "...x>>>!"`}},
	{"${x y}", []string{`attribute name syntax error at: "...x>>> y"`}},
	{"${x?{a}junk}", []string{`":" expected at: "...a}>>>junk"`}},
	{"${x:{b}junk}", []string{`unexpected input at: "...b}>>>junk"`}},
	{"${{a} =~ {b}}", []string{`"==" or "!="" or "<"" or "<="" or ">="" or ">" expected at: "...a}>>>=~ {b}"`}},
	{"${{a} == b}", []string{`"{expression}" expected at: "...{a} ==>>> b"`}},
	{"${{a} == {b}junk}", []string{`"?" or ":" expected at: "...}>>>junk"`}},
	{"${{a} == {b}", []string{`truncated macro reference: "${{a} == {b}"`}},
	{"${{a} == {b}}}", nil},
	{"${{a} ==foo {b}}", []string{`bad operator suffix at: "...==>>>foo"`}},
	{"${{a} ==level {b}}", []string{`malformed compatibility level syntax: "a"`}},
	{"${{1} <level {x.y}}", []string{`malformed compatibility level syntax: "x.y"`}},
	{"${{a} == {b}?{c}:{d}e}", []string{`unexpected input at: "...d}>>>e"`}},
	{"${x?{a}", []string{`truncated macro reference: "${x?{a}"`}},
	{"${x?{a}:{b}", []string{`truncated macro reference: "${x?{a}:{b}"`}},
	{"$loopa", []string{`unreasonable macro call nesting: "loopb"`}},
	{"${x?{$(e}}", []string{`truncated macro reference: "$(e"`}},
	{"${x?{${{a} = {b}}}}", []string{`"==" or "!="" or "<"" or "<="" or ">="" or ">" expected at: "...a}>>>= {b}"`}},
}

func lookupVars(extra map[string]string) func(string, LookupMode) (string, bool) {
	return func(name string, _ LookupMode) (string, bool) {
		if v, ok := extra[name]; ok {
			return v, true
		}
		if v, ok := expandVars[name]; ok {
			return v, true
		}
		return BuiltinDefault(name)
	}
}

func TestExpand(t *testing.T) {
	for _, tc := range expandOK {
		e := Expander{Lookup: lookupVars(nil)}
		got, err := e.Expand(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestExpandErrors(t *testing.T) {
	for _, tc := range expandBad {
		if tc.warns == nil {
			continue // "}}}": an unbalanced "}" is literal text
		}
		var seen []string
		e := Expander{Lookup: lookupVars(nil), Warn: func(s string) { seen = append(seen, s) }}
		_, err := e.Expand(tc.in)
		var me *MacroError
		if !errors.As(err, &me) {
			t.Errorf("Expand(%q): err = %v, want *MacroError", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.warns, me.Warnings); diff != "" {
			t.Errorf("Expand(%q) warnings (-want +got):\n%s", tc.in, diff)
		}
		if diff := cmp.Diff(me.Warnings, seen); diff != "" {
			t.Errorf("Expand(%q) Warn callback differs from MacroError (-err +cb):\n%s", tc.in, diff)
		}
		if me.Error() != "macro processing error" {
			t.Errorf("Error() = %q", me.Error())
		}
	}
}

func TestExpandBadConversion(t *testing.T) {
	_, err := Expand("${{99999999999999999999} == {1}}", func(string) (string, bool) { return "", false })
	if err == nil || err.Error() != "mac_exp_eval: bad conversion: 99999999999999999999" {
		t.Fatalf("err = %v", err)
	}
}

func TestExpandRelationalLoop(t *testing.T) {
	// Postfix crashes on this; we report a nesting error.
	_, err := Expand("$a", func(n string) (string, bool) { return "${{$a} == {x}}", true })
	var me *MacroError
	if !errors.As(err, &me) || len(me.Warnings) == 0 || !strings.HasPrefix(me.Warnings[0], "unreasonable macro call nesting") {
		t.Fatalf("err = %v", err)
	}
}

func TestExpandOnce(t *testing.T) {
	e := Expander{Lookup: lookupVars(nil), Once: true}
	got, err := e.Expand("$y ${x}")
	if err != nil || got != "$x-$x X" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestExpandScan(t *testing.T) {
	var names []string
	e := Expander{Scan: true, Lookup: func(n string, m LookupMode) (string, bool) {
		names = append(names, fmt.Sprintf("%s/%d", n, m))
		return "v", true
	}}
	got, err := e.Expand("a $x ${y?{$t1}:{$f1}} ${{$l} == {$r}?$q} $$z")
	if err != nil || got != "" {
		t.Fatalf("got %q, %v", got, err)
	}
	want := []string{"x/0", "y/1", "t1/0", "f1/0", "l/0", "r/0", "q/0"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("scan (-want +got):\n%s", diff)
	}
}

func TestExpandStatusUndefined(t *testing.T) {
	e := Expander{Lookup: lookupVars(nil)}
	_, undef, err := e.ExpandStatus("$x ${nosuch?a}")
	if err != nil || undef {
		t.Errorf("undef=%v err=%v", undef, err)
	}
	_, undef, err = e.ExpandStatus("$x $nosuch")
	if err != nil || !undef {
		t.Errorf("undef=%v err=%v", undef, err)
	}
}

func TestParseCompatLevel(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"0", true}, {"2", true}, {"3.6", true}, {"3.6.1", true}, {" 3", true}, {"+3", true},
		{"", false}, {"a", false}, {"3.", false}, {"3.6.", false}, {"3.1024", false}, {"-1", false}, {"3.6.1.2", false}, {"3x", false},
	} {
		_, err := ParseCompatLevel(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseCompatLevel(%q) err = %v", tc.in, err)
		}
	}
	a, _ := ParseCompatLevel("3.10")
	b, _ := ParseCompatLevel("3.9")
	if a <= b {
		t.Errorf("3.10 <= 3.9")
	}
}

// TestExpandMatchesPostconf checks the expansion results and warnings
// against the real postconf -x.
func TestExpandMatchesPostconf(t *testing.T) {
	t.Parallel()
	var mainCF strings.Builder
	for name, v := range expandVars {
		if !strings.HasPrefix(name, "loop") {
			fmt.Fprintf(&mainCF, "%s = %s\n", name, v)
		}
	}
	var names []string
	var refs strings.Builder
	refs.WriteString("zz_refs = $x $e $y $n10 $lvl $sp $dd")
	for i, tc := range expandOK {
		n := fmt.Sprintf("t%d", i)
		names = append(names, n)
		fmt.Fprintf(&mainCF, "%s = %s\n", n, tc.in)
		fmt.Fprintf(&refs, " $%s", n)
	}
	mainCF.WriteString(refs.String() + "\n")
	dir := scratchDir(t, mainCF.String(), "")
	out, _, code := realPostconf(t, dir, append([]string{"-xh"}, names...)...)
	if code != 0 {
		t.Fatalf("postconf exit %d", code)
	}
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	cfg, err := Load(Options{ConfigDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range expandOK {
		raw, _ := cfg.Raw(names[i])
		mine, err := cfg.Expand(raw)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if i >= len(got) || collapse(mine) != got[i] {
			t.Errorf("%q: mine %q, postconf %q", tc.in, collapse(mine), got[i])
		}
	}

	var runs []func() postconfResult
	var dirs []string
	for _, tc := range expandBad {
		dir := scratchDir(t, "x = X\ne =\nloopa = $loopb\nloopb = $loopa\nt = "+tc.in+"\nr = $t\n", "")
		dirs = append(dirs, dir)
		runs = append(runs, func() postconfResult { return runPostconf(dir, "-xh", "t") })
	}
	results := runPostconfAll(t, runs)
	for i, tc := range expandBad {
		r := results[i]
		// Our prediction: the scan of t, then the expansion of t. The
		// unused-parameter warnings of postconf's scan are not ours to
		// predict here.
		var scanWarns []string
		scan := Expander{Scan: true, Lookup: func(string, LookupMode) (string, bool) { return "", false }}
		scan.Warn = func(s string) { scanWarns = append(scanWarns, s) }
		scan.Expand(tc.in)
		cfg, err := Load(Options{ConfigDir: dirs[i]})
		if err != nil {
			t.Fatal(err)
		}
		var expWarns []string
		e := cfg.Expander()
		e.Warn = func(s string) { expWarns = append(expWarns, s) }
		val, err := e.Expand(tc.in)
		want := warnLines(scanWarns) + warnLines(expWarns)
		wantCode := 0
		wantOut := collapse(val) + "\n"
		if err != nil {
			want += "postconf: fatal: " + err.Error() + "\n"
			wantCode = 1
			wantOut = ""
		}
		stderr := dropLines(r.stderr, "unused parameter: ")
		if r.code != wantCode || r.stdout != wantOut || stderr != want {
			t.Errorf("%q:\npostconf: rc %d out %q err\n%s\nmine: rc %d out %q err\n%s", tc.in, r.code, r.stdout, stderr, wantCode, wantOut, want)
		}
	}
}
