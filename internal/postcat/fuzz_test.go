package postcat

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzPostcat shows arbitrary bytes as a queue file, from a seekable input
// and from a pipe, with a few option sets, and checks that postcat never
// panics, exits 0 or 1, and prints only Postfix-style diagnostics on
// standard error.
func FuzzPostcat(f *testing.F) {
	// Small seeds only: the fuzzer mutates faster from them.
	for _, in := range syntheticFiles() {
		if len(in.data) <= 4096 {
			f.Add(in.data, uint8(0))
		}
	}
	names, _ := filepath.Glob("../cleanup/testdata/golden/*.qf")
	for i, n := range names {
		if i%4 == 0 {
			if b, err := os.ReadFile(n); err == nil && len(b) <= 4096 {
				f.Add(b, uint8(i))
			}
		}
	}
	cf := f.TempDir()
	if err := os.WriteFile(filepath.Join(cf, "main.cf"), []byte("queue_directory = "+cf+"\n"+portableAccounts), 0o644); err != nil {
		f.Fatal(err)
	}
	sets := [][]string{{}, {"-v"}, {"-bh"}, {"-e", "-o"}, {"-r", "-d"}, {"-b"}, {"-s", "7"}, {"-h", "-v", "-o"}}
	env := func(name string) string {
		if name == "TZ" {
			return "UTC"
		}
		return ""
	}
	f.Fuzz(func(t *testing.T, data []byte, opt uint8) {
		args := append([]string{"-c", cf}, sets[int(opt)%len(sets)]...)
		// Standard input, seekable (like a file) and not (like a pipe):
		// no files are written, so the fuzzer runs fast.
		for _, in := range []io.Reader{bytes.NewReader(data), hideSeek{bytes.NewReader(data)}} {
			var o, e bytes.Buffer
			status := Run(args, env, in, &o, &e)
			if status != 0 && status != 1 {
				t.Fatalf("exit %d", status)
			}
			for _, l := range strings.Split(strings.TrimSuffix(e.String(), "\n"), "\n") {
				if l != "" && !strings.HasPrefix(l, "postcat: warning: ") && !strings.HasPrefix(l, "postcat: fatal: ") {
					t.Fatalf("stderr line %q", l)
				}
			}
			if status == 1 && !strings.Contains(e.String(), "postcat: fatal: ") {
				t.Fatalf("exit 1 without a fatal error: %q", e.String())
			}
		}
	})
}
