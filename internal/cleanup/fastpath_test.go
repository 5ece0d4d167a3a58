package cleanup

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rewriterVariants are the rewriting settings the fast path must agree
// with the full path under.
func rewriterVariants() []Rewriter {
	return []Rewriter{
		{Origin: "research.example.org", Domain: "example.org", AppendAtOrigin: true, SwapBangPath: true, PercentHack: true},
		{Origin: "research.example.org", Domain: "example.org", AppendAtOrigin: true, AppendDotDomain: true, SwapBangPath: true, PercentHack: true},
		{Origin: "o.example", Domain: "d.example", AppendDotDomain: true},
		{},
	}
}

var addressSeeds = []string{
	"user@example.com", "User.Name@Sub.Example.NET", "a@b", "a@b.", "a.@b", ".a@b", "a..b@c", "a@b..c", "a@.b",
	"a@[1.2.3.4]", "\"q r\"@s", "a%b@c", "a!b@c", "a@b@c", "@a:b@c", "x", "", "@", "a@", "a b@c", "a\\b@c",
	"a(b)@c", "a@b(c)", "j\xc3\xb6rg@example.com", "a\x00b@c", "a+tag@d-e.example", "a=b/c?d@e_f.example",
	"a\t@b", "#$&'*+-/=?^_`{}~@x.y",
}

// FuzzAddressFastPath checks that the shortcut for plain addresses gives
// exactly what the full tokenizer and rewriter give, for envelope
// addresses (Internal) and for addresses in headers (the rebuilt header
// and whether it changed).
func FuzzAddressFastPath(f *testing.F) {
	for _, s := range addressSeeds {
		f.Add(s)
	}
	f.Add("Sender Name <sender@example.org>")
	f.Add("rcpt@example.com, Other Rcpt <Other.Rcpt@Example.NET>, x")
	f.Add("<a b@c.d>, <ab@c.d> e, g: h@i.j;, k@l (comment)")
	f.Add("a@b.c d@e.f, \"x\" <y@z.w>")
	f.Add("  Name  Two <a@b.c>,\n\t<d@e.f> , g@h.i  ")
	f.Add("x@y.z, N <a@b.c>, <>, N <a>, N <a@b.c> t, a@b.c,, <a@b.c")
	f.Add("a@b.c,")
	f.Add("N.M <a@b.c>")
	f.Add("a; <b@c.d>, \"<e@f.g>")
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range rewriterVariants() {
			full := r
			full.fullPath = true
			var a, b tokArena
			got := r.internal(&a, nil, []byte(s))
			want := full.internal(&b, nil, []byte(s))
			if !bytes.Equal(got, want) {
				t.Fatalf("%+v: internal(%q) = %q, full path %q", r, s, got, want)
			}
			// header_address_token_limit: the default, and limits that
			// cut the value's tokens short.
			for _, limit := range []int{10240, len(s), len(s) - 1, len(s) / 2, 3, 1} {
				if limit < 1 {
					continue
				}
				var warnGot, warnWant []string
				gotH, gotChanged := r.rewriteHeaderValue(&a, nil, []byte("To"), []byte(s), limit, func(w string) { warnGot = append(warnGot, w) })
				wantH, wantChanged := full.rewriteHeaderValue(&b, nil, []byte("To"), []byte(s), limit, func(w string) { warnWant = append(warnWant, w) })
				if gotChanged != wantChanged || !bytes.Equal(gotH, wantH) || strings.Join(warnGot, "\n") != strings.Join(warnWant, "\n") {
					t.Fatalf("%+v: header %q, limit %d: %v %q %q, full path %v %q %q", r, s, limit, gotChanged, gotH, warnGot, wantChanged, wantH, warnWant)
				}
			}
		}
	})
}

// TestKeeps lists addresses that take the shortcut and some that must
// not; FuzzAddressFastPath proves the shortcut right for all of them.
func TestKeeps(t *testing.T) {
	r := rewriterVariants()[0]
	for _, s := range []string{"user@example.com", "a@b", "a+tag@d-e.example", "#$&'*+-/=?^_`{}~@x.y"} {
		if !r.keeps([]byte(s)) {
			t.Errorf("keeps(%q) = false", s)
		}
	}
	for _, s := range []string{"a@b.", "a..b@c", "\"q r\"@s", "a%b@c", "a!b@c", "a@b@c", "x", "", "@", "a@", "a b@c", "j\xc3\xb6rg@example.com"} {
		if r.keeps([]byte(s)) {
			t.Errorf("keeps(%q) = true", s)
		}
	}
	r.AppendDotDomain = true
	if r.keeps([]byte("a@b")) {
		t.Error("keeps(a@b) with append_dot_mydomain")
	}
}

// FuzzParseTime checks the allocation-free reading of time records
// against strings.Fields and strconv.ParseInt.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"1795530772 599664", "1795530772", " 1 2 3", "1\t2", "-1 2", "+1 2", "1 -2", "99999999999999999999 1",
		"1 99999999999999999999", "1 2x", "1x 2", "", "   ", "1\u00a02", "\u00a01 2", "1 2\u00853", "0001 0002", "1_0 2", "1 2\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sec, usec, ok := parseTime([]byte(s))
		wsec, wusec, wok := parseTimeFields([]byte(s))
		if sec != wsec || usec != wusec || ok != wok {
			t.Fatalf("parseTime(%q) = %d %d %v, want %d %d %v", s, sec, usec, ok, wsec, wusec, wok)
		}
	})
}

// splitNameValueStrings is the string version splitNameValue replaced,
// kept as its reference.
func splitNameValueStrings(s string) (name, value, errText string) {
	s = strings.TrimLeft(s, " \t\r\n\v\f")
	eq := strings.IndexByte(s, '=')
	if s == "" || s[0] == '=' {
		return "", "", "missing attribute name"
	}
	if eq < 0 {
		return "", "", "missing '=' after attribute name"
	}
	name = strings.TrimRight(s[:eq], " \t\r\n\v\f")
	if strings.ContainsAny(name, " \t\r\n\v\f") {
		return "", "", "missing '=' after attribute name"
	}
	return name, strings.Trim(s[eq+1:], " \t\r\n\v\f"), ""
}

// FuzzSplitNameValue checks splitNameValue against its string reference.
func FuzzSplitNameValue(f *testing.F) {
	for _, s := range []string{"a=b", " a = b ", "=b", "a", "a b=c", "a=", "\va\f=\r\nb\t", "", "a==b", "a=b c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, v, e := splitNameValue([]byte(s))
		wn, wv, we := splitNameValueStrings(s)
		if string(n) != wn || string(v) != wv || e != we {
			t.Fatalf("splitNameValue(%q) = %q %q %q, want %q %q %q", s, n, v, e, wn, wv, we)
		}
	})
}

// TestMailDate checks the appending date formatter against the fmt form
// it replaced, for offsets on both sides of UTC.
func TestMailDate(t *testing.T) {
	for _, off := range []int{0, -30 * 60, -5 * 3600, 5*3600 + 45*60, 14 * 3600, -12*3600 - 30*60} {
		loc := time.FixedZone("Z"+strconv.Itoa(off), off)
		for _, sec := range []int64{0, 1795530772, 1795530772 + 9*86400 + 3} {
			tm := time.Unix(sec, 0).In(loc)
			name, o := tm.Zone()
			mins := o / 60
			am := mins % 60
			if am < 0 {
				am = -am
			}
			want := fmt.Sprintf("%s %+03d%02d (%s)", tm.Format("Mon, _2 Jan 2006 15:04:05"), mins/60, am, name)
			if got := MailDate(tm, loc); got != want {
				t.Errorf("MailDate(%v) = %q, want %q", tm, got, want)
			}
		}
	}
}
