package postconf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	ours "github.com/qmqpd-go/qmqpd/internal/postconf"
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
	// The short forms of "main" and "master" that cases outside coreCases
	// run instead.
	"main-short": {
		{},
		{"-x"},
	},
	"master-short": {
		{"-M"},
		{"-P"},
	},
	"defaults-short": {
		{"-d"},
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
		{"-p", "-n"},
		{"-vn"},
		{"-vvx", "relayhost", "nosuch_parameter"},
		{"-vM"},
		{"-t", "failure_template"},
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
		{"-b"},
		{"-t"},
		{"-t", "failure_template"},
		{"-b", "/nonexistent/template"},
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

// coreCases run every group of the matrix that they select. To keep the
// test fast, the other cases run "main", "master" and "defaults" in their
// short forms and skip "full" (their own runs and edits are kept).
var coreCases = map[string]bool{
	"debian-stock":       true,
	"expand-forms":       true,
	"legacy-dbms":        true,
	"master-o-spellings": true,
	"user-params":        true,
}

// shortGroup maps a group to what a case outside coreCases runs instead
// ("" = nothing).
var shortGroup = map[string]string{
	"main":     "main-short",
	"master":   "master-short",
	"defaults": "defaults-short",
	"full":     "",
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
		if short, ok := shortGroup[g]; ok && !coreCases[c.Name] {
			if short == "" {
				continue
			}
			g = short
		}
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

// realSlots bounds the real postconf processes that run at once. Most of
// their time is spent asleep: Postfix sleeps one second before it exits
// after a fatal error, so far more processes than CPUs can run together.
const realSlots = 32

// realRetries is how many more times a real run is repeated when its
// outcome differs from ours and depends on hash-table order. Postfix walks
// its parameter dictionaries in an order that changes from run to run; when
// the walk stops at a fatal error, which warnings come before it depends on
// that order. Our postconf uses one fixed order (a documented improvement),
// so it must produce one of the outcomes the real binary produces.
const realRetries = 16

// realTimeout stops a real postconf run that hangs. It is generous: on a
// machine loaded by other work, the huge-value cases take many seconds.
const realTimeout = 3 * time.Minute

// result is the raw result of one postconf run.
type result struct {
	PID            int
	Stdout, Stderr string
	Exit           string
}

// execPostconf runs the real postconf with argv[0] "postconf", the given
// arguments and environment, in the parent of dir.
func execPostconf(bin, dir string, args, env []string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), realTimeout)
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
		res.Exit = "timed out after " + realTimeout.String()
	case err == nil:
		res.Exit = "exit 0"
	case errors.As(err, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Exit = "signal " + ws.Signal().String()
		} else {
			res.Exit = fmt.Sprintf("exit %d", exitErr.ExitCode())
		}
	default:
		return res, fmt.Errorf("running %s: %w", bin, err)
	}
	return res, nil
}

// runOurs runs our postconf in-process, with argv[0] "postconf" and an
// environment that holds only the given variables.
func runOurs(args, env []string) result {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var stdout, stderr bytes.Buffer
	status := ours.Run(append([]string{"postconf"}, args...), func(k string) string { return vars[k] },
		strings.NewReader(""), &stdout, &stderr)
	return result{PID: os.Getpid(), Stdout: stdout.String(), Stderr: stderr.String(), Exit: fmt.Sprintf("exit %d", status)}
}

// normalise turns a raw result into a comparable outcome. otherPID is the
// process ID of the run it is compared with: it is masked too, so that a
// value that happens to equal one run's process ID (a real postconf
// started as PID 500 prints lmtp_min_data_rate = 500) is masked on both
// sides alike.
func normalise(r result, otherPID int) outcome {
	o := outcome{Exit: r.Exit, Stdout: maskStdout(r.Stdout, r.PID, otherPID)}
	o.Stderr, o.HashOrdered = splitStderr(r.Stderr)
	return o
}

// materialise writes c's files into dir (created if needed) and backdates
// them so that Postfix does not wait for a "hot" main.cf to cool down.
func materialise(c *corpusCase, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	past := time.Now().Add(-time.Minute)
	for name, data := range c.Files {
		mode, ok := c.Modes[name]
		if !ok {
			mode = 0o644
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			return err
		}
		if err := os.Chmod(p, mode); err != nil { // not subject to the umask
			return err
		}
		if err := os.Chtimes(p, past, past); err != nil {
			return err
		}
	}
	return nil
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
		t.Errorf("postconf %s\nreal: %s, stderr %q\nours: %s, stderr %q\nreal vs ours (-real +ours):\n%s",
			shellJoin(args), real.Exit, firstLines(real.Stderr, 3), ours.Exit, firstLines(ours.Stderr, 3), truncateDiff(diff, 60))
	}
}

// firstLines returns at most n lines.
func firstLines(lines []string, n int) []string {
	if len(lines) > n {
		return lines[:n]
	}
	return lines
}

// truncateDiff keeps the first n lines of a long diff.
func truncateDiff(d string, n int) string {
	lines := strings.Split(d, "\n")
	if len(lines) <= n {
		return d
	}
	return strings.Join(lines[:n], "\n") + fmt.Sprintf("\n... (%d more lines)", len(lines)-n)
}

// A job is one comparison: a listing run on a case's shared directory, or
// an editing run on private copies.
type job struct {
	c    *corpusCase
	name string   // subtest name
	key  string   // knownDiffs key
	dir  string   // configuration directory
	args []string // arguments after argv[0]
	env  []string
	edit bool

	real, ours outcome
	err        error
	// extra is set when ours printed the one line of our own parameter
	// qmqpd_cleanup_mode that the real postconf does not know (the line
	// is then removed from ours before the comparison).
	extra bool
	// retries counts the extra real runs (see realRetries).
	retries int
}

// projectParam is the parameter that our postconf adds to Postfix's table.
const projectParam = "qmqpd_cleanup_mode"

// dropProjectLine removes from ours the one stdout line that shows
// projectParam, when that line is the only difference from real and sits
// where a listing of built-in parameters puts it: right after
// qmqpd_authorized_clients, or, in a listing without names (-h), as an
// empty value in a full listing.
func dropProjectLine(real, ours outcome, hideName bool) (outcome, bool) {
	if len(ours.Stdout) != len(real.Stdout)+1 {
		return ours, false
	}
	i := 0
	for i < len(real.Stdout) && real.Stdout[i] == ours.Stdout[i] {
		i++
	}
	if !cmp.Equal(real.Stdout[i:], ours.Stdout[i+1:]) {
		return ours, false
	}
	line := ours.Stdout[i]
	ok := false
	if hideName {
		ok = line == "" && len(real.Stdout) > 800
	} else {
		ok = (line == projectParam || strings.HasPrefix(line, projectParam+" =")) &&
			i > 0 && strings.HasPrefix(ours.Stdout[i-1], "qmqpd_authorized_clients")
	}
	if !ok {
		return ours, false
	}
	ours.Stdout = append(append([]string(nil), ours.Stdout[:i]...), ours.Stdout[i+1:]...)
	return ours, true
}

// verboseLine matches what -v adds to standard error: Postfix's debug log
// of its library calls ("postconf: dict_update: ...", "postconf:
// name_mask: ..."), which our postconf does not reproduce (a documented
// difference). Warnings and fatal errors are kept.
var verboseLine = regexp.MustCompile(`^postconf: (?:warning|fatal|error|panic): `)

// dropVerbose removes the -v debug lines from o's standard error.
func dropVerbose(o outcome) outcome {
	var kept []string
	for _, l := range o.Stderr {
		if verboseLine.MatchString(l) {
			kept = append(kept, l)
		}
	}
	o.Stderr = kept
	return o
}

// hasFlag reports whether the option letter appears among the options of
// args (after "-c DIR" and the like, before the operands).
func hasFlag(args []string, letter byte) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			return false
		}
		for j := 1; j < len(a); j++ {
			if a[j] == letter {
				return true
			}
			if strings.IndexByte("cCoT", a[j]) >= 0 {
				if j == len(a)-1 {
					i++ // the option's value is the next argument
				}
				break
			}
		}
	}
	return false
}

// wantsProjectLine reports whether a successful run with these arguments
// (after "-c DIR") must show projectParam: the full listings, with and
// without -d and -x.
func wantsProjectLine(userArgs []string) bool {
	switch strings.Join(userArgs, " ") {
	case "", "-d", "-x", "-dx":
		return true
	}
	return false
}

// runJob runs one job with both postconfs, real runs limited by slots.
func runJob(j *job, slots chan struct{}) {
	realPID := 0
	realRun := func() (outcome, error) {
		slots <- struct{}{}
		defer func() { <-slots }()
		if j.edit {
			if err := os.RemoveAll(j.dir); err != nil {
				return outcome{}, err
			}
			if err := materialise(j.c, j.dir); err != nil {
				return outcome{}, err
			}
		}
		r, err := execPostconf(testenv.RealPostconf, j.dir, j.args, j.env)
		if err != nil {
			return outcome{}, err
		}
		realPID = r.PID
		o := normalise(r, os.Getpid()) // ours runs in this process
		if j.edit {
			o.Files, err = snapshotEdit(j.c, j.dir, j.args, o.Exit)
		}
		return o, err
	}
	if j.real, j.err = realRun(); j.err != nil {
		return
	}
	if hasFlag(j.args, 'v') {
		j.real = dropVerbose(j.real)
	}
	if j.edit {
		if j.err = os.RemoveAll(j.dir); j.err != nil {
			return
		}
		if j.err = materialise(j.c, j.dir); j.err != nil {
			return
		}
	}
	oursRaw := runOurs(j.args, j.env)
	var files []fileState
	if j.edit {
		if files, j.err = snapshotEdit(j.c, j.dir, j.args, oursRaw.Exit); j.err != nil {
			return
		}
	}
	// ours normalises our run against the real run it is compared with.
	ours := func() outcome {
		o := normalise(oursRaw, realPID)
		o.Files = files
		if hasFlag(j.args, 'v') {
			o = dropVerbose(o)
		}
		return o
	}
	hideName := hasFlag(j.args, 'h')
	j.ours, j.extra = dropProjectLine(j.real, ours(), hideName)
	for ; j.retries < realRetries && !cmp.Equal(j.real, j.ours); j.retries++ {
		// Editing does not stop half-way through a hash walk.
		hashOrder := len(j.real.HashOrdered) > 0 && !j.edit
		if !hashOrder && !disturbed(j.real) {
			break
		}
		if j.real, j.err = realRun(); j.err != nil {
			return
		}
		if hasFlag(j.args, 'v') {
			j.real = dropVerbose(j.real)
		}
		j.ours, j.extra = dropProjectLine(j.real, ours(), hideName)
	}
}

// disturbed reports whether a real run was stopped from outside (killed,
// e.g. by the kernel's out-of-memory killer on a loaded machine, or timed
// out): such a run says nothing about Postfix, so it is repeated.
func disturbed(o outcome) bool {
	return o.Exit == "signal "+syscall.SIGKILL.String() || strings.HasPrefix(o.Exit, "timed out")
}

// TestPostconfMatchesPostfix runs every corpus case through the mode matrix
// and its own runs with the real postconf and ours (in-process), and
// compares stdout, stderr, exit status and, for editing runs, the files
// left behind. All runs go first, concurrently; the subtests then report.
func TestPostconfMatchesPostfix(t *testing.T) {
	testenv.NeedPostfix(t)
	cases := loadCorpus(t)
	if len(cases) < 40 {
		t.Fatalf("corpus has %d cases, want at least 40", len(cases))
	}
	names := map[string]bool{}
	for _, c := range cases {
		names[c.Name] = true
	}
	for name := range coreCases {
		if !names[name] {
			t.Fatalf("core case %q is not in the corpus", name)
		}
	}
	root := t.TempDir()
	var jobs []*job
	listDirs := map[*corpusCase]string{}
	for ci, c := range cases {
		dir := filepath.Join(root, fmt.Sprintf("c%03d", ci), "cfg")
		if err := materialise(c, dir); err != nil {
			t.Fatal(err)
		}
		listDirs[c] = dir
		for _, r := range runsFor(c) {
			jobs = append(jobs, &job{c: c, name: r.name(), key: c.Name + ": " + r.name(),
				dir: dir, args: r.argv(dir), env: r.env(dir)})
		}
		for ei, args := range c.Edits {
			edir := filepath.Join(root, fmt.Sprintf("c%03d-e%03d", ci, ei), "cfg")
			jobs = append(jobs, &job{c: c, name: "edit " + shellJoin(args), key: c.Name + ": " + shellJoin(args),
				dir: edir, args: append([]string{"-c", edir}, args...),
				env: []string{"PATH=/usr/sbin:/usr/bin:/bin"}, edit: true})
		}
	}
	slots := make(chan struct{}, realSlots)
	work := make(chan *job)
	var wg sync.WaitGroup
	for range realSlots + 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				runJob(j, slots)
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	fatal := 0
	for _, j := range jobs {
		if j.real.Exit != "exit 0" {
			fatal++
		}
		if j.retries > 0 {
			t.Logf("%s: real postconf run %d more times (hash order, or killed)", j.key, j.retries)
		}
	}
	t.Logf("%d cases, %d comparisons (%d with a non-zero exit)", len(cases), len(jobs), fatal)

	byCase := map[*corpusCase][]*job{}
	for _, j := range jobs {
		byCase[j.c] = append(byCase[j.c], j)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			for _, j := range byCase[c] {
				t.Run(j.name, func(t *testing.T) {
					if j.err != nil {
						t.Fatal(j.err)
					}
					known := knownDiffs
					if j.edit {
						known = knownEditDiffs
					}
					compare(t, j.key, j.args, known, j.real, j.ours)
					userArgs := j.args
					if len(userArgs) >= 2 && userArgs[0] == "-c" {
						userArgs = userArgs[2:]
					}
					if !j.edit && j.real.Exit == "exit 0" && wantsProjectLine(userArgs) && !j.extra {
						t.Errorf("postconf %s: our output lacks the one extra line for %s", shellJoin(j.args), projectParam)
					}
				})
			}
			checkUnchanged(t, c, listDirs[c])
		})
	}
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

// snapshotEdit lists the files an editing run left in dir; the entries
// that "postconf -e" appended to main.cf are sorted (see appendedEntries).
func snapshotEdit(c *corpusCase, dir string, argv []string, exit string) ([]fileState, error) {
	files, err := snapshot(dir)
	if err != nil || exit != "exit 0" {
		return files, err
	}
	appended := appendedEntries(c, argv[2:]) // after "-c DIR"
	for i := range files {
		if files[i].Name == "main.cf" {
			sortTail(files[i].Lines, appended)
		}
	}
	return files, nil
}

// snapshot lists the files in dir with their modes and contents.
func snapshot(dir string) ([]fileState, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []fileState
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		fs := fileState{Name: e.Name(), Mode: info.Mode().String()}
		if info.Mode().IsRegular() {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				return nil, err
			}
			fs.Lines = splitLines(string(data))
		}
		files = append(files, fs)
	}
	return files, nil
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
