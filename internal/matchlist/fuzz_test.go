package matchlist

import (
	"strings"
	"testing"
)

// FuzzMatchList parses arbitrary list values (without file includes, which
// would read the file system) and matches a few clients. Parsing and
// matching must not panic, and a match that reports an error must say no.
func FuzzMatchList(f *testing.F) {
	for _, s := range []string{
		"", "127.0.0.0/8", "!127.0.0.1, 127.0.0.0/8", "example.com .example.com", "# c, x",
		"[::1]/128 [1.2.3.0/24] [1.2.3.0]/24", "1.2.3.4/24 be/be [be:be", "inline:{a=b, {c = d}}",
		"!!x !inline:{1.2.3.4=x}", "static:{a b} {x y}", "cidr:{{1.2.3.0/24 ok}}", "regexp:{{/^a/ x}}",
		"pcre:{{/(?i)b/ y}}", "bogus:x", "::1", "!", "[", "[]", "[/]", "0.0.0.0/0", "[::]/0",
	} {
		f.Add(s, "host.example.com", "1.2.3.4")
	}
	f.Fuzz(func(t *testing.T, list, name, addr string) {
		for _, tok := range strings.FieldsFunc(list, func(r rune) bool { return strings.ContainsRune(", \t\r\n", r) }) {
			if strings.HasPrefix(strings.TrimLeft(tok, "!"), "/") {
				return
			}
		}
		l, err := New("fuzz_list", list, len(name)%2 == 0, nil, func(string) {})
		if err != nil {
			return
		}
		ok, err := l.Match(name, addr)
		if err != nil && ok {
			t.Fatalf("Match(%q, %q) on %q = true with error %v", name, addr, list, err)
		}
	})
}
