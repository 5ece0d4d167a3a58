package dict

import (
	"strings"
	"testing"
)

var fuzzKeys = []string{"1.2.3.4", "::1", "2001:db8::1", "example.com", "a.b", ""}

// FuzzCIDRTable parses arbitrary cidr table text and looks up a few keys.
func FuzzCIDRTable(f *testing.F) {
	for _, tc := range tableCases {
		if tc.typ == "cidr" {
			f.Add(tc.src)
		}
	}
	f.Add("if 1.2.3.0/24\nif !1.2.3.4\n1.2.3.0/24 x\nendif\nendif\n")
	f.Fuzz(func(t *testing.T, src string) {
		r := NewRegistry(func(string) {})
		tab := parseCIDRTable(r, "fuzz", []byte(src))
		for _, k := range fuzzKeys {
			tab.Lookup(k)
		}
	})
}

// FuzzParseCIDR checks that a parsed pattern contains its own network
// address and that errors use Postfix's wording.
func FuzzParseCIDR(f *testing.F) {
	for _, s := range []string{"1.2.3.0/24", "[::1]/128", "[1.2.3.0/24]", "1.2.3.4/24", "be/be", "[x", "[::1]a", "1.2.3.0/33", "::/0", "1.2.3.4/4294967304"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCIDR(s)
		if err != nil {
			msg := err.Error()
			for _, p := range []string{"bad mask value in", "bad mask length in", "bad network value in",
				"non-null host address bits in", "bad address pattern:", "missing ']' character after", "garbage after"} {
				if strings.HasPrefix(msg, p) {
					return
				}
			}
			t.Fatalf("ParseCIDR(%q): unexpected error text %q", s, msg)
		}
		if !c.Contains(ntop(c.net[:c.bytes])) {
			t.Fatalf("ParseCIDR(%q) does not contain its network %s", s, ntop(c.net[:c.bytes]))
		}
	})
}

// FuzzRegexpTable parses arbitrary regexp and pcre table text and looks
// up a few keys.
func FuzzRegexpTable(f *testing.F) {
	for _, tc := range tableCases {
		if tc.typ == "regexp" || tc.typ == "pcre" {
			f.Add(tc.src, tc.typ == "pcre")
		}
	}
	f.Fuzz(func(t *testing.T, src string, pcre bool) {
		fl := regexpFlavor
		if pcre {
			fl = pcreFlavor
		}
		r := NewRegistry(func(string) {})
		tab := fl.parse(r, "fuzz", []byte(src))
		for _, k := range fuzzKeys {
			tab.Lookup(k)
		}
	})
}

// FuzzInline parses inline table names.
func FuzzInline(f *testing.F) {
	for _, s := range []string{"{a=b}", "{a=b, {c = d e}}", "{}", "{a}", "{\"a b\"=c}", "{{a=b}x}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return
		}
		tab, err := openInline(nil, s)
		if err == nil {
			tab.Lookup("a")
		}
	})
}

// FuzzTexthash parses arbitrary texthash source text: it either fails with
// Postfix's duplicate-entry error or yields a table whose lookups of the
// keys it holds succeed.
func FuzzTexthash(f *testing.F) {
	for _, tc := range tableCases {
		if tc.typ == "texthash" {
			f.Add(tc.src)
		}
	}
	for _, s := range []string{"a b\n", "a b\na c\n", "\"a b\" c\n", "a\\ b c\n", "# x\n  cont\nk v\n k2\n", "key: value\n", "\"unbalanced v\n", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		r := NewRegistry(func(string) {})
		tab, err := parseTexthash(r, "fuzz", []byte(src))
		if err != nil {
			if !strings.Contains(err.Error(), ": duplicate entry: ") {
				t.Fatalf("error text %q", err)
			}
			return
		}
		m := tab.(*mapTable).m
		for k, v := range m {
			got, ok, err := tab.Lookup(k)
			if !ok || err != nil || got != v {
				t.Fatalf("lookup %q: %q %v %v, want %q", k, got, ok, err, v)
			}
		}
		for _, k := range fuzzKeys {
			tab.Lookup(k)
		}
	})
}

// FuzzPCRETable parses arbitrary pcre table text: translating PCRE syntax
// to Go's engine must never panic, and a rule it cannot translate is
// skipped with a one-line warning.
func FuzzPCRETable(f *testing.F) {
	for _, tc := range tableCases {
		if tc.typ == "pcre" {
			f.Add(tc.src)
		}
	}
	for _, s := range []string{
		"/^a(?=b)/ x\n", "/\\Qa.b\\E/ x\n", "/(?<n>a)\\k<n>/ x\n", "/a++/ x\n", "/(?#c)a/ix x\n",
		"/a/X x\n", "/\\h\\e\\Z/ x\n", "if /a/\n/b/ c\nendif\n", "/[[:alpha:]]/ $1\n", "/(a)|b/ $1x\n",
		"/\\x{41}\\p{L}/ x\n", "/a{2,1}/ x\n", "/(/ x\n", "/a/ \n", "!/a/ x\n", "/a/U x\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var warns []string
		r := NewRegistry(func(s string) { warns = append(warns, s) })
		tab := pcreFlavor.parse(r, "fuzz", []byte(src))
		for _, k := range fuzzKeys {
			tab.Lookup(k)
		}
		for _, w := range warns {
			if w == "" || strings.Contains(w, "\n") {
				t.Fatalf("warning %q", w)
			}
		}
	})
}
