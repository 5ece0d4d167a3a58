package maincf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// mainEditCases are main.cf edits compared with the real postconf. Each
// adds at most one new name (Postfix appends new names in hash order).
var mainEditCases = []struct {
	in   string
	mode EditMode
	args []string
}{
	{"a = 1\nb = 2\n", EditSet, []string{"a=9"}},
	{"a = 1\nb = 2\n", EditSet, []string{"c = 3"}},
	{"a=1\n  cont\n#c\n   more\nb = 2\n", EditSet, []string{"a=", "b=x y"}},
	{"# head\n\nrelayhost = x\n\n# tail\n", EditSet, []string{"relayhost=[mx]:25"}},
	{"a = 1\nb = 2\na = 3\n  c3\na = 4\n", EditSet, []string{"a=5"}},
	{"a = 1\r\nb = 2\r\n", EditSet, []string{"b=3"}},
	{"a = 1\n  cont\n#c\n   more\nb=2", EditComment, []string{"a", "b"}},
	{"a = 1\n  cont\n#c\n   more\nb=2\n", EditRemove, []string{"a"}},
	{"a = 1\na = 2\n", EditRemove, []string{"a  "}},
	{"a = 1\n", EditRemove, []string{"nosuch"}},
	{"a.b = 1\nab = 2\n", EditComment, []string{"a.b"}},
	{"  lead = 1\na = 2\n", EditSet, []string{"lead=3"}},
	{"", EditSet, []string{"x = y"}},
	{"a = 1\n", EditSet, []string{"a=1", "a=2"}},
}

func TestEditMainCFMatchesPostconf(t *testing.T) {
	flags := map[EditMode]string{EditSet: "-e", EditRemove: "-X", EditComment: "-#"}
	for _, tc := range mainEditCases {
		realDir := scratchDir(t, tc.in, "")
		myDir := scratchDir(t, tc.in, "")
		os.Chmod(filepath.Join(myDir, "main.cf"), 0o600)
		os.Chmod(filepath.Join(realDir, "main.cf"), 0o600)
		_, stderr, code := realPostconf(t, realDir, append([]string{flags[tc.mode]}, tc.args...)...)
		var warns []string
		warn := func(s string) { warns = append(warns, s) }
		edits, err := ParseMainEdits(tc.mode, tc.args, warn)
		if err == nil {
			err = EditMainCF(filepath.Join(myDir, "main.cf"), tc.mode, edits, warn)
		}
		if err != nil || code != 0 {
			t.Errorf("%q %v: mine err %v, postconf rc %d %s", tc.in, tc.args, err, code, stderr)
			continue
		}
		wantErr := strings.ReplaceAll(stderr, realDir, "DIR")
		gotErr := strings.ReplaceAll(warnLines(warns), myDir, "DIR")
		if wantErr != gotErr {
			t.Errorf("%q %v: warnings: postconf\n%smine\n%s", tc.in, tc.args, wantErr, gotErr)
		}
		want, _ := os.ReadFile(filepath.Join(realDir, "main.cf"))
		got, _ := os.ReadFile(filepath.Join(myDir, "main.cf"))
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("%q %v: main.cf (-postconf +mine):\n%s", tc.in, tc.args, diff)
		}
		st, _ := os.Stat(filepath.Join(myDir, "main.cf"))
		if st.Mode().Perm() != 0o644 {
			t.Errorf("mode %v", st.Mode())
		}
		if _, err := os.Stat(filepath.Join(myDir, "main.cf.tmp")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("main.cf.tmp left behind: %v", err)
		}
	}
}

func TestParseMainEditsErrors(t *testing.T) {
	for _, tc := range []struct {
		mode EditMode
		args []string
		want string
	}{
		{EditSet, nil, "missing service argument"},
		{EditSet, []string{"a=1\nb=2"}, "-e, -X, or -# accepts no multi-line input"},
		{EditSet, []string{"  #a=1"}, "-e, -X, or -# accepts no comment input"},
		{EditSet, []string{"a1"}, `missing '=' after attribute name: "a1"`},
		{EditSet, []string{" =v"}, `missing attribute name: "=v"`},
		{EditRemove, []string{"  "}, "-X or -# requires non-blank parameter names"},
		{EditComment, []string{"a", "b=c"}, "-X or -# requires parameter names without value"},
	} {
		_, err := ParseMainEdits(tc.mode, tc.args, nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
	var warns []string
	edits, err := ParseMainEdits(EditRemove, []string{"a", "b", "a"}, func(s string) { warns = append(warns, s) })
	if err != nil || len(edits) != 2 || edits[0].Name != "b" || len(warns) != 1 {
		t.Errorf("edits %v warns %v err %v", edits, warns, err)
	}
}

func TestEditMainCFErrors(t *testing.T) {
	dir := t.TempDir()
	err := EditMainCF(filepath.Join(dir, "main.cf"), EditSet, []MainEdit{{"a", "b"}}, nil)
	if err == nil || err.Error() != "open "+dir+"/main.cf for reading: No such file or directory" {
		t.Errorf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "main.cf.tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("tmp file left: %v", err)
	}
	err = EditMainCF(filepath.Join(dir, "nodir", "main.cf"), EditSet, []MainEdit{{"a", "b"}}, nil)
	if err == nil || err.Error() != "open "+dir+"/nodir/main.cf.tmp: No such file or directory" {
		t.Errorf("err = %v", err)
	}
}

func TestEditMainCFUnterminated(t *testing.T) {
	// Postfix glues the new entry onto an unterminated last line; we do not.
	got := EditMainCFData("P", []byte("a = 1"), EditSet, []MainEdit{{"b", "2"}}, nil)
	if string(got) != "a = 1\nb = 2\n" {
		t.Errorf("got %q", got)
	}
}

func TestEditFileReusesStaleTmp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "main.cf")
	os.WriteFile(p, []byte("a = 1\n"), 0o644)
	// A stale temporary file with the wrong mode and content is replaced.
	os.WriteFile(p+".tmp", []byte("junk"), 0o644)
	if err := EditMainCF(p, EditSet, []MainEdit{{"a", "2"}}, nil); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "a = 2\n" {
		t.Errorf("got %q", got)
	}
}
