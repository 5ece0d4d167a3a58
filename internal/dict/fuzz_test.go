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
