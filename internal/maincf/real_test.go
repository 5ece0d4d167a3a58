package maincf

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/testenv"
)

// realPostconf runs the real postconf with -c dir. It first moves the
// mtime of the configuration files two seconds into the past, so that
// postconf does not wait for a "hot" main.cf. The program-name prefix of
// its messages is reduced to "postconf: ".
func realPostconf(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	testenv.NeedPostfix(t)
	r := runPostconf(dir, args...)
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.stdout, r.stderr, r.code
}

// postconfResult is the outcome of one run of the real postconf.
type postconfResult struct {
	stdout, stderr string
	code           int
	err            error
}

// runPostconf is realPostconf without a *testing.T, for use from several
// goroutines at once (postconf sleeps a second before a fatal exit, so
// tests of error cases run their postconf processes concurrently).
func runPostconf(dir string, args ...string) postconfResult {
	past := time.Now().Add(-2 * time.Second)
	for _, f := range []string{"main.cf", "master.cf"} {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); err == nil {
			if err := os.Chtimes(p, past, past); err != nil {
				return postconfResult{err: err}
			}
		}
	}
	cmd := exec.Command(testenv.RealPostconf, append([]string{"-c", dir}, args...)...)
	cmd.Env = append(os.Environ(), "LANG=C", "LC_ALL=C")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		return postconfResult{err: fmt.Errorf("running postconf: %w", err)}
	}
	return postconfResult{stdout: out.String(), stderr: strings.ReplaceAll(errb.String(), testenv.RealPostconf+": ", "postconf: "), code: code}
}

// runPostconfAll runs several postconf invocations concurrently.
func runPostconfAll(t *testing.T, runs []func() postconfResult) []postconfResult {
	t.Helper()
	testenv.NeedPostfix(t)
	res := make([]postconfResult, len(runs))
	var wg sync.WaitGroup
	for i, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = run()
		}()
	}
	wg.Wait()
	for _, r := range res {
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	return res
}

// dropLines removes the lines of s that contain any of the substrings.
func dropLines(s string, subs ...string) string {
	var out []string
	for _, l := range strings.SplitAfter(s, "\n") {
		keep := l != ""
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				keep = false
			}
		}
		if keep {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// scratchDir makes a configuration directory with the given main.cf and
// master.cf contents.
func scratchDir(t *testing.T, mainCF, masterCF string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "master.cf"), []byte(masterCF), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// collapse normalises white space like postconf's output does.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// warnLines formats warnings the way postconf prints them.
func warnLines(ws []string) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString("postconf: warning: " + w + "\n")
	}
	return b.String()
}
