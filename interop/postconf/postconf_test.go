package postconf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qmqpd-go/qmqpd/internal/testenv"
)

// matrix is the global mode matrix: every corpus case runs the invocations of
// each group it selects (see corpusCase.Groups). Every invocation gets
// "-c DIR" in front.
var matrix = map[string][][]string{
	// main.cf listings.
	"main": {
		{},
		{"-n"},
		{"-x"},
		{"-nx"},
		{"-nf"},
		{"-C", "user"},
		{"-n", "-C", "service"},
		{"config_directory", "mail_version", "nosuch_parameter", "relayhost", "relayhost"},
		{"-x", "myorigin", "mydestination", "smtpd_banner", "nosuch_parameter"},
		{"-n", "relayhost", "nosuch_parameter"},
	},
	// master.cf listings.
	"master": {
		{"-M"},
		{"-Mf"},
		{"-Mx"},
		{"-F"},
		{"-P"},
		{"-Px"},
	},
	// Defaults: main.cf is not read, but master.cf defines service parameters.
	"defaults": {
		{"-d"},
		{"-dx"},
	},
	// The remaining listing variants, run on a few representative cases.
	"full": {
		{"-f"},
		{"-xf"},
		{"-h"},
		{"-H"},
		{"-nh"},
		{"-nH"},
		{"-dH"},
		{"-C", "builtin"},
		{"-C", "service"},
		{"-C", "all"},
		{"-C", "BUILTIN,user"},
		{"-n", "-C", "user,service"},
		{"-d", "-C", "service"},
		{"-Mfx"},
		{"-Ff"},
		{"-Fh"},
		{"-FH"},
		{"-Pf"},
		{"-Ph"},
		{"-PH"},
		{"-Pfx"},
		{"-o", "relayhost=[override]:25", "-n"},
		{"-o", "relayhost=$myorigin", "-o", "myorigin=example.net", "-nx"},
		{"-o", "new_user_param=1", "-o", "relayhost=$new_user_param", "-n"},
		{"-o", "mydomain=example.org", "-x", "myhostname", "mydomain", "mydestination"},
		{"-d", "mail_version", "nosuch_parameter", "config_directory"},
		{"-dx", "smtputf8_enable", "mynetworks_style", "relay_domains", "syslog_name"},
		{"-h", "mail_version", "relayhost", "nosuch_parameter"},
		{"-H", "mail_version", "relayhost", "nosuch_parameter"},
	},
	// Command-line checks and the modes that do not list main.cf/master.cf.
	"options": {
		{"-dn"},
		{"-hH"},
		{"-Mn"},
		{"-Mh"},
		{"-MH"},
		{"-FX"},
		{"-F#"},
		{"-Pd"},
		{"-P#"},
		{"-eX"},
		{"-e#"},
		{"-X#"},
		{"-do", "a=b"},
		{"-fe", "a=b"},
		{"-xX", "a"},
		{"-bt"},
		{"-mM"},
		{"-lx"},
		{"-mn"},
		{"-aA"},
		{"-Td"},
		{"-q"},
		{"-E"},
		{"-p", "-M"},
		{"-X", "a=b"},
		{"-c", "-n"},
		{"-c", "/nonexistent/dir", "-n"},
		{"-o", "missing_equals", "-n"},
		{"-o", "=value", "-n"},
		{"-C", "bogus"},
		{"-C", "builtin,bogus"},
		{"-C", "user", "-M"},
		{"-e"},
		{"-X"},
		{"-#"},
		{"-l"},
		{"-m"},
		{"-a"},
		{"-A"},
		{"-T", "compile-version"},
		{"-T", "public-key-algorithms"},
		{"-T", "bogus"},
		{"-T", "compile-version", "-T", "run-version"},
		{"-T"},
		{"-c"},
		{"-M", "smtp", "smtp/inet", "*/unix", "nosuch", "smtp/nosuch", "*/*"},
		{"-M", "/inet"},
		{"-M", "a/b/c"},
		{"-M", "sm*tp"},
		{"-M", "*"},
		{"-M", ""},
		{"-F", "smtp/inet/command", "*/*/chroot", "nosuch/*/*", "pickup", "*/unix/type"},
		{"-F", "smtp/inet/bogus"},
		{"-F", "a/b/c/d"},
		{"-Fh", "*/*/service"},
		{"-P", "*/*/syslog_name", "submission/inet", "nosuch/*/*", "*/*/nosuch"},
		{"-P", "a/b/c/d"},
		{"-Px", "submission/inet/smtpd_sasl_auth_enable"},
		{"-Ph", "*/*/smtpd_tls_security_level"},
	},
}

// knownDiffs lists the comparisons that still differ, keyed by
// "case: args" (the same text as the subtest name before Go rewrites it),
// each with the reason. The test asserts that these cases STILL differ, so a
// fix is noticed and its entry removed.
var knownDiffs = map[string]string{}

// knownEditDiffs is knownDiffs for the editing comparisons, keyed by
// "case: args".
var knownEditDiffs = map[string]string{}

// A run is one invocation compared on a corpus case.
type run struct {
	Args []string
	// Env runs with MAIL_CONFIG=DIR instead of "-c DIR".
	Env bool
}

func (r run) name() string {
	n := shellJoin(r.Args)
	if n == "" {
		n = "(no arguments)"
	}
	if r.Env {
		n = "MAIL_CONFIG " + n
	}
	return n
}

// argv returns the arguments after argv[0] for configuration directory dir.
func (r run) argv(dir string) []string {
	if r.Env {
		return r.Args
	}
	return append([]string{"-c", dir}, r.Args...)
}

func (r run) env(dir string) []string {
	env := []string{"PATH=/usr/sbin:/usr/bin:/bin"}
	if r.Env {
		env = append(env, "MAIL_CONFIG="+dir)
	}
	return env
}

// shellJoin quotes args for messages so that they can be pasted into a shell.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./,:=") == "" {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// runsFor lists the listing invocations for c: its matrix groups, then its
// own runs.
func runsFor(c *corpusCase) []run {
	var runs []run
	groups := make([]string, 0, len(c.Groups))
	for g := range c.Groups {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		for _, a := range matrix[g] {
			runs = append(runs, run{Args: a})
		}
	}
	for _, a := range c.Runs {
		runs = append(runs, run{Args: a})
	}
	for _, a := range c.EnvRuns {
		runs = append(runs, run{Args: a, Env: true})
	}
	return runs
}

// moduleRoot finds the directory holding go.mod, upwards from the package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// ourPostconf builds ./cmd/postconf once for the test (or returns
// $PCDIFF_OURS).
func ourPostconf(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PCDIFF_OURS"); p != "" {
		return p
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go command not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "postconf")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/postconf")
	cmd.Dir = moduleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building our postconf: %v\n%s", err, out)
	}
	return bin
}

// result is the raw result of one postconf run.
type result struct {
	PID            int
	Stdout, Stderr string
	Exit           string
}

// execPostconf runs bin with argv[0] "postconf", the given arguments and
// environment, in the parent of dir.
func execPostconf(t *testing.T, bin, dir string, args, env []string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Args = append([]string{"postconf"}, args...)
	cmd.Env = env
	cmd.Dir = filepath.Dir(dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{Stdout: stdout.String(), Stderr: stderr.String()}
	if cmd.Process != nil {
		res.PID = cmd.Process.Pid
	}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		res.Exit = "timed out after 30s"
	case err == nil:
		res.Exit = "exit 0"
	case errors.As(err, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Exit = "signal " + ws.Signal().String()
		} else {
			res.Exit = fmt.Sprintf("exit %d", exitErr.ExitCode())
		}
	default:
		t.Fatalf("running %s: %v", bin, err)
	}
	return res
}

// normalise turns a raw result into a comparable outcome.
func normalise(r result) outcome {
	o := outcome{Exit: r.Exit, Stdout: maskStdout(r.Stdout, r.PID)}
	o.Stderr, o.HashOrdered = splitStderr(r.Stderr)
	return o
}

// materialise writes c's files into dir (created if needed) and backdates
// them so that Postfix does not wait for a "hot" main.cf to cool down.
func materialise(t *testing.T, c *corpusCase, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	for name, data := range c.Files {
		mode, ok := c.Modes[name]
		if !ok {
			mode = 0o644
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // not subject to the umask
			t.Fatal(err)
		}
		if err := os.Chtimes(p, past, past); err != nil {
			t.Fatal(err)
		}
	}
}

// compare reports a difference between the real and our outcome, honouring
// the known-differences table.
func compare(t *testing.T, key string, args []string, known map[string]string, real, ours outcome) {
	t.Helper()
	diff := cmp.Diff(real, ours)
	reason, isKnown := known[key]
	switch {
	case isKnown && diff == "":
		t.Errorf("known difference is gone, remove it from the known-differences table: %q (%s)", key, reason)
	case isKnown:
		t.Logf("known difference (%s)", reason)
	case diff != "":
		t.Errorf("postconf %s\nreal vs ours (-real +ours):\n%s", shellJoin(args), truncateDiff(diff, 60))
	}
}

// truncateDiff keeps the first n lines of a long diff.
func truncateDiff(d string, n int) string {
	lines := strings.Split(d, "\n")
	if len(lines) <= n {
		return d
	}
	return strings.Join(lines[:n], "\n") + fmt.Sprintf("\n... (%d more lines)", len(lines)-n)
}

// TestPostconfMatchesPostfix runs every corpus case through the mode matrix
// and its own runs with both postconf binaries and compares the results.
func TestPostconfMatchesPostfix(t *testing.T) {
	testenv.NeedPostfix(t)
	ours := ourPostconf(t)
	cases := loadCorpus(t)
	if len(cases) < 40 {
		t.Fatalf("corpus has %d cases, want at least 40", len(cases))
	}
	t.Run("list", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.Name, func(t *testing.T) {
				t.Parallel()
				dir := filepath.Join(t.TempDir(), "cfg")
				materialise(t, c, dir)
				t.Cleanup(func() { checkUnchanged(t, c, dir) })
				for _, r := range runsFor(c) {
					t.Run(r.name(), func(t *testing.T) {
						t.Parallel()
						real := normalise(execPostconf(t, testenv.RealPostconf, dir, r.argv(dir), r.env(dir)))
						got := normalise(execPostconf(t, ours, dir, r.argv(dir), r.env(dir)))
						compare(t, c.Name+": "+r.name(), r.argv(dir), knownDiffs, real, got)
					})
				}
			})
		}
	})
	t.Run("edit", func(t *testing.T) {
		for _, c := range cases {
			for _, args := range c.Edits {
				t.Run(c.Name+": "+shellJoin(args), func(t *testing.T) {
					t.Parallel()
					compareEdit(t, c, args, ours)
				})
			}
		}
	})
}

// checkUnchanged fails when a listing run modified the shared directory.
func checkUnchanged(t *testing.T, c *corpusCase, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Errorf("listing runs left unreadable %s: %v", e.Name(), err)
			continue
		}
		if want, ok := c.Files[e.Name()]; !ok || !bytes.Equal(want, data) {
			t.Errorf("a listing run created or changed %s", e.Name())
		}
	}
	if len(names) != len(c.Files) {
		t.Errorf("listing runs changed the directory: now %q", names)
	}
}

// compareEdit runs one editing invocation with the real and our postconf, on
// the same freshly written directory path, and compares the output and the
// files left behind.
func compareEdit(t *testing.T, c *corpusCase, args []string, ours string) {
	dir := filepath.Join(t.TempDir(), "cfg")
	argv := append([]string{"-c", dir}, args...)
	env := []string{"PATH=/usr/sbin:/usr/bin:/bin"}
	appended := appendedEntries(c, args)
	one := func(bin string) outcome {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		materialise(t, c, dir)
		o := normalise(execPostconf(t, bin, dir, argv, env))
		o.Files = snapshot(t, dir)
		if o.Exit == "exit 0" {
			for i := range o.Files {
				if o.Files[i].Name == "main.cf" {
					sortTail(o.Files[i].Lines, appended)
				}
			}
		}
		return o
	}
	real := one(testenv.RealPostconf)
	got := one(ours)
	compare(t, c.Name+": "+shellJoin(args), argv, knownEditDiffs, real, got)
}

// snapshot lists the files in dir with their modes and contents.
func snapshot(t *testing.T, dir string) []fileState {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []fileState
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		fs := fileState{Name: e.Name(), Mode: info.Mode().String()}
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			fs.Lines = splitLines(string(data))
		}
		files = append(files, fs)
	}
	return files
}

// appendedEntries counts the main.cf entries that a "postconf -e" run appends
// at the end of main.cf: the distinct requested names without an entry in
// the original file. Postfix appends them in hash-table order, so the test
// compares those trailing lines as a set. Other editing modes append nothing.
func appendedEntries(c *corpusCase, args []string) int {
	var names []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			names = append(names, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			names = append(names, args[i:]...)
			break
		}
		for j := 1; j < len(a); j++ {
			switch a[j] {
			case 'M', 'F', 'P', 'X', '#':
				return 0
			case 'c', 'C', 'o', 'T':
				if j == len(a)-1 {
					i++ // the option's value is the next argument
				}
				j = len(a)
			}
		}
	}
	existing := map[string]bool{}
	for _, line := range strings.Split(string(c.Files["main.cf"]), "\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' || line[0] == '#' {
			continue
		}
		key := strings.FieldsFunc(line, func(r rune) bool { return r == '=' || r == ' ' || r == '\t' || r == '\r' })
		if len(key) > 0 && !strings.HasPrefix(line, "=") {
			existing[key[0]] = true
		}
	}
	seen := map[string]bool{}
	n := 0
	for _, a := range names {
		name, _, _ := strings.Cut(a, "=")
		name = strings.TrimSpace(name)
		if !seen[name] && !existing[name] {
			n++
		}
		seen[name] = true
	}
	return n
}
