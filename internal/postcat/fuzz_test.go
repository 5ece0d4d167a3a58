package postcat

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzPostcat shows arbitrary bytes as a queue file, from a seekable file
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
	if err := os.WriteFile(filepath.Join(cf, "main.cf"), []byte("queue_directory = "+cf+"\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	sets := [][]string{{}, {"-v"}, {"-bh"}, {"-e", "-o"}, {"-r", "-d"}, {"-b"}, {"-s", "7"}, {"-h", "-v", "-o"}}
	f.Fuzz(func(t *testing.T, data []byte, opt uint8) {
		p := filepath.Join(t.TempDir(), "qf")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		args := append([]string{"-c", cf}, sets[int(opt)%len(sets)]...)
		for _, c := range []dcase{{args: append(args, p)}, {args: args, stdin: stdinPipe, input: p}} {
			r := runOurs(t, c)
			if r.Status != 0 && r.Status != 1 {
				t.Fatalf("exit %d", r.Status)
			}
			for _, l := range strings.Split(strings.TrimSuffix(r.Stderr, "\n"), "\n") {
				if l != "" && !strings.HasPrefix(l, "postcat: warning: ") && !strings.HasPrefix(l, "postcat: fatal: ") {
					t.Fatalf("stderr line %q", l)
				}
			}
			if r.Status == 1 && !bytes.Contains([]byte(r.Stderr), []byte("postcat: fatal: ")) {
				t.Fatalf("exit 1 without a fatal error: %q", r.Stderr)
			}
		}
	})
}
