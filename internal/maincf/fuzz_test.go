package maincf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func FuzzParseMainCF(f *testing.F) {
	for _, s := range readerCases {
		f.Add([]byte(s))
	}
	for _, tc := range mainEditCases {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte("a = 1\n  b\n#c\n\n d\ne=f\r\n\x00g = h\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseMainCF("P", data, func(string) {})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "P, line ") {
				t.Fatalf("error without location: %v", err)
			}
		} else {
			// Entries written back as "name = value" read the same.
			var b bytes.Buffer
			for _, e := range entries {
				if e.Name == "" || strings.ContainsAny(e.Name, "= \t\r\n\v\f") {
					t.Fatalf("bad name %q", e.Name)
				}
				if e.Value != trimSpace(e.Value) {
					t.Fatalf("untrimmed value %q", e.Value)
				}
				fmt.Fprintf(&b, "%s = %s\n", e.Name, e.Value)
			}
			again, err := ParseMainCF("P", b.Bytes(), nil)
			if err != nil {
				t.Fatalf("re-parse: %v", err)
			}
			if len(again) != len(entries) {
				t.Fatalf("re-parse: %d entries, want %d", len(again), len(entries))
			}
			for i := range again {
				if again[i].Name != entries[i].Name || again[i].Value != entries[i].Value {
					t.Fatalf("re-parse: %q, want %q", again[i], entries[i])
				}
			}
			// Setting a parameter with the editor makes the reader see it.
			out := EditMainCFData("P", data, EditSet, []MainEdit{{"fuzz_param", "v 1"}}, nil)
			after, err := ParseMainCF("P", out, nil)
			if err != nil {
				t.Fatalf("after -e: %v\n%q", err, out)
			}
			got := ""
			for _, e := range after {
				if e.Name == "fuzz_param" {
					got = e.Value
				}
			}
			if got != "v 1" {
				t.Fatalf("after -e: fuzz_param = %q\n%q", got, out)
			}
		}
		EditMainCFData("P", data, EditRemove, []MainEdit{{"a", ""}}, nil)
		EditMainCFData("P", data, EditComment, []MainEdit{{"a", ""}}, nil)
	})
}

func FuzzParseMasterCF(f *testing.F) {
	for _, s := range masterCases {
		f.Add([]byte(s))
	}
	for _, s := range brokenMasterCases {
		f.Add([]byte(s))
	}
	f.Add([]byte(stockMaster))
	f.Fuzz(func(t *testing.T, data []byte) {
		unbalanced := strings.Count(string(data), "{") != strings.Count(string(data), "}")
		entries, err := ParseMaster("P", data, func(string) {})
		if err != nil {
			return
		}
		for _, e := range entries {
			e.Options()
			for i := 0; i < 8; i++ {
				e.FormatField(i, FieldFormat{Fold: true})
			}
			if unbalanced || strings.ContainsAny(strings.Join(e.Argv(), " "), "{}\x00") || hasEmpty(e.Argv()) || firstArgHasBlanks(e.Args) {
				// Braces and empty arguments do not survive a round trip,
				// nor does an argument with blanks taken from an unclosed
				// '{': postconf -M prints "{- 00" as "- 00", as Postfix does.
				continue
			}
			// The -M and -Mf layouts read back as the same entry.
			for _, fold := range []bool{false, true} {
				text := e.Format(fold, nil)
				again, err := ParseMaster("P", []byte(text), nil)
				if err != nil || len(again) != 1 {
					t.Fatalf("re-parse of %q: %v (%d entries)", text, err, len(again))
				}
				if diff := cmp.Diff(e.Argv(), again[0].Argv()); diff != "" {
					t.Fatalf("re-parse of %q (-want +got):\n%s", text, diff)
				}
			}
		}
		// Editing never fails on a file that parses, and the result parses.
		reqs, err := ParseMasterEdits(EditParams, EditSet, []string{"*/*/fuzz_param=1"})
		if err != nil {
			t.Fatal(err)
		}
		out, err := EditMasterData("P", data, EditParams, EditSet, reqs, nil)
		if err != nil || unbalanced {
			// Lines the editor refuses (e.g. name and type split); an
			// unclosed '{' re-wrapped by the editor fails to parse in
			// real postconf as well (-Pe on "0 unix y y y 0 0 0 0 0{").
			return
		}
		if _, err := ParseMaster("P", out, nil); err != nil {
			t.Fatalf("after -Pe: %v\n%q", err, out)
		}
	})
}

func FuzzExpand(f *testing.F) {
	for _, tc := range expandOK {
		f.Add(tc.in)
	}
	for _, tc := range expandBad {
		f.Add(tc.in)
	}
	f.Add("${rel}")
	vars := map[string]string{
		"x": "X", "e": "", "y": "$x-$x", "loop": "$loop", "rel": "${{$rel} == {x}?a:b}",
		"lvl": "3.6", "bad": "${", "dd": "$$x",
	}
	lookup := func(name string, _ LookupMode) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
	f.Fuzz(func(t *testing.T, in string) {
		var warns []string
		e := Expander{Lookup: lookup, Warn: func(s string) { warns = append(warns, s) }}
		out, err := e.Expand(in)
		var me *MacroError
		switch {
		case err == nil:
			if len(warns) != 0 {
				t.Fatalf("warnings without error: %v", warns)
			}
			if !strings.Contains(in, "$") && out != cString(in) {
				t.Fatalf("Expand(%q) = %q", in, out)
			}
		case errors.As(err, &me):
			if len(me.Warnings) == 0 || len(warns) != len(me.Warnings) {
				t.Fatalf("error %v without matching warnings %v", me.Warnings, warns)
			}
		default:
			if !strings.HasPrefix(err.Error(), "mac_exp_eval: bad conversion: ") {
				t.Fatalf("unexpected error %v", err)
			}
		}
		scan := Expander{Scan: true, Lookup: lookup}
		if got, _ := scan.Expand(in); got != "" {
			t.Fatalf("scan produced %q", got)
		}
		once := Expander{Once: true, Lookup: lookup}
		once.Expand(in)
	})
}

func hasEmpty(ss []string) bool {
	for _, s := range ss {
		// An argument that starts with '#' at the start of a folded line
		// reads back as a comment (in Postfix too).
		// One made only of \v and \f (white space to the line reader but
		// not a field separator) on a folded line of its own makes that
		// line blank, and blank lines are skipped (in Postfix too).
		if strings.Trim(s, " \t\r\n\v\f") == "" || strings.HasPrefix(s, "#") {
			return true
		}
	}
	return false
}

// firstArgHasBlanks reports whether the first non-option argument contains
// white space: Postfix (and we) print it without braces.
func firstArgHasBlanks(args []string) bool {
	for i := 0; i < len(args); i++ {
		if !strings.HasPrefix(args[i], "-") || args[i] == "--" {
			return strings.ContainsAny(args[i], masterBlanks)
		}
		if takesValue(args[i]) {
			i++
		}
	}
	return false
}
