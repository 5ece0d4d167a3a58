package reliability

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fuzzRequired lists every parser issue #6 names (and the other parsers of
// network or file input), the package that owns it, a pattern for its fuzz
// target's name and the helper who owns the package.
var fuzzRequired = []struct {
	parser, dir, target, owner string
}{
	{"netstrings and the QMQP packet", "internal/qmqp", "^FuzzReader$", "qdiff"},
	{"QMQP replies (client side)", "internal/qmqp", "^FuzzReadReply$", "qdiff"},
	{"QMQP session", "internal/qmqpd", "^FuzzSession$", "daemon"},
	{"QMQP session (end to end over TCP)", "reliability", "^FuzzSession$", "reliab"},
	{"main.cf", "internal/maincf", "^FuzzParseMainCF$", "pconf"},
	{"master.cf", "internal/maincf", "^FuzzParseMasterCF$", "pconf"},
	{"$name expansion", "internal/maincf", "^FuzzExpand$", "pconf"},
	{"match lists", "internal/matchlist", "^FuzzMatchList$", "qdiff"},
	{"lookup tables: cidr", "internal/dict", "^FuzzCIDRTable$", "qdiff"},
	{"lookup tables: CIDR patterns", "internal/dict", "^FuzzParseCIDR$", "qdiff"},
	{"lookup tables: regexp", "internal/dict", "^FuzzRegexpTable$", "qdiff"},
	{"lookup tables: inline", "internal/dict", "^FuzzInline$", "qdiff"},
	{"lookup tables: texthash", "internal/dict", "(?i)^Fuzz.*texthash", "qdiff"},
	{"lookup tables: pcre", "internal/dict", "(?i)^Fuzz.*pcre", "qdiff"},
	{"queue-file records", "internal/queuefile", "^FuzzReader$", "bench"},
	{"content pipeline (cleanup)", "internal/cleanup", "^Fuzz", "queue"},
	{"queue files read by postcat", "internal/postcat", "^Fuzz", "queue"},
	{"cleanup service replies", "internal/cleanupclient", "^Fuzz", "daemon"},
}

// fuzzTargets returns the names of the fuzz functions in dir's test files.
func fuzzTargets(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	var names []string
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && strings.HasPrefix(fd.Name.Name, "Fuzz") {
				names = append(names, fd.Name.Name)
			}
		}
	}
	return names
}

// TestFuzzInventory checks that every parser has a Go fuzz target with a
// committed seed corpus (testdata/fuzz/<target>/). A missing one is
// reported as a skip naming the findings file where it was requested, so
// "go test -v -run TestFuzzInventory ./reliability" is the live list.
func TestFuzzInventory(t *testing.T) {
	for _, r := range fuzzRequired {
		t.Run(r.parser, func(t *testing.T) {
			dir := filepath.Join("..", r.dir)
			re := regexp.MustCompile(r.target)
			var found []string
			for _, n := range fuzzTargets(t, dir) {
				if re.MatchString(n) {
					found = append(found, n)
				}
			}
			if len(found) == 0 {
				t.Skipf("findings-%s: no fuzz target %s in %s", r.owner, r.target, r.dir)
			}
			for _, n := range found {
				ents, _ := os.ReadDir(filepath.Join(dir, "testdata", "fuzz", n))
				if len(ents) == 0 {
					t.Skipf("findings-%s: %s.%s has no committed seed corpus (testdata/fuzz/%s)", r.owner, r.dir, n, n)
				}
			}
		})
	}
}
