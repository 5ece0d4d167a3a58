package postcat

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/queuefile"
	"github.com/qmqpd-go/qmqpd/internal/testenv"
)

// This file compares this package with the real postcat of Postfix 3.7.11:
// the same standard output, standard error and exit status for the same
// arguments and input.
//
// Running the real binary a few thousand times takes a minute, so what it
// printed is recorded in testdata/real/TESTNAME.json.gz (regenerate with
// -postcat.update, which needs real Postfix) and every run compares this
// package with the recording. A deterministic sample of the cases is also
// run against the real binary every time (all of them with -postcat.live),
// which proves the recording still matches the installed Postfix.
//
// One deliberate difference is filtered out: with -v the real postcat logs
// Postfix library debugging lines (how it computed mynetworks from the
// machine's interfaces, and more with -vv) on standard error. They describe
// the machine, not the queue file, and this package does not print them;
// warnings and fatal errors are still compared.

var (
	updateReal = flag.Bool("postcat.update", false, "rerun the real postcat for every differential case and rewrite testdata/real")
	liveAll    = flag.Bool("postcat.live", false, "compare every differential case with the real postcat, not only a sample")
)

// result is what one postcat run produced.
type result struct {
	Stdout string
	Stderr string
	Status int
}

// stored is a result as recorded: the outputs as bytes (base64 in JSON),
// since they need not be UTF-8.
type stored struct {
	Stdout []byte `json:"stdout"`
	Stderr []byte `json:"stderr"`
	Status int    `json:"status"`
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.Status, r.Stdout, r.Stderr)
}

// stdinKind says how the input reaches postcat when no file is named.
type stdinKind int

const (
	stdinNone stdinKind = iota // empty
	stdinFile                  // a seekable file
	stdinPipe                  // a pipe (cannot seek)
)

// dcase is one differential case.
type dcase struct {
	args  []string
	stdin stdinKind
	input string // file for stdin
}

// harness runs the cases of one test in a scratch tree whose path is
// replaced by $ROOT in keys and outputs.
type harness struct {
	t        *testing.T
	root     string
	recorded map[string]result
	mu       sync.Mutex
	fresh    map[string]stored
	cases    []dcase
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, root: t.TempDir(), fresh: map[string]stored{}}
	if *updateReal {
		testenv.NeedPostfix(t)
		return h
	}
	h.recorded = map[string]result{}
	f, err := os.Open(h.recordPath())
	if err != nil {
		t.Fatalf("no recording of the real postcat (regenerate with -postcat.update): %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]stored
	if err := json.NewDecoder(zr).Decode(&file); err != nil {
		t.Fatalf("%s: %v", h.recordPath(), err)
	}
	for k, v := range file {
		h.recorded[k] = result{string(v.Stdout), string(v.Stderr), v.Status}
	}
	return h
}

func (h *harness) recordPath() string {
	return filepath.Join("testdata", "real", h.t.Name()+".json.gz")
}

// dir makes a directory below the scratch tree.
func (h *harness) dir(name string) string {
	p := filepath.Join(h.root, name)
	if err := os.MkdirAll(p, 0o755); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// portableAccounts is appended to every main.cf: postcat, like every
// Postfix program, checks mail_owner and setgid_group (postfix and postdrop
// by default) at start-up, and these accounts exist on every Linux system,
// with or without Postfix. Being the last lines, they change no line
// number, and the outputs are the same as with Postfix's own accounts (the
// live sample runs the real postcat on these very files).
const portableAccounts = "mail_owner = daemon\nsetgid_group = bin\n"

// config makes a config directory with a main.cf; its name carries a hash
// of the text so that a changed setting is a new case.
func (h *harness) config(text string) string {
	sum := sha256.Sum256([]byte(strings.ReplaceAll(text, h.root, "$ROOT")))
	p := h.dir("cf-" + hex.EncodeToString(sum[:4]))
	file := filepath.Join(p, "main.cf")
	if err := os.WriteFile(file, []byte(text+portableAccounts), 0o644); err != nil {
		h.t.Fatal(err)
	}
	// Postfix pauses while main.cf is younger than a second or so.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(file, old, old); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// files writes inputs below the scratch tree; each name carries a hash of
// the contents, so that a changed input is a new case.
func (h *harness) files(inputs []input) []string {
	d := h.dir("in")
	var paths []string
	for _, in := range inputs {
		sum := sha256.Sum256(in.data)
		p := filepath.Join(d, in.name+"."+hex.EncodeToString(sum[:4]))
		if err := os.WriteFile(p, in.data, 0o644); err != nil {
			h.t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func (h *harness) add(c dcase) { h.cases = append(h.cases, c) }

func (h *harness) key(c dcase) string {
	k := strings.Join(c.args, " ")
	if c.stdin != stdinNone {
		k += fmt.Sprintf(" <%d %s", c.stdin, c.input)
	}
	return strings.ReplaceAll(k, h.root, "$ROOT")
}

func (h *harness) normalize(r result) result {
	r.Stdout = strings.ReplaceAll(r.Stdout, h.root, "$ROOT")
	r.Stderr = strings.ReplaceAll(r.Stderr, h.root, "$ROOT")
	return r
}

// live reports whether case i is compared with the real binary in this
// run: every 150th case, or all with -postcat.live.
func live(i int) bool { return *liveAll || i%150 == 0 }

// run checks every case that was added.
func (h *harness) run() {
	t := h.t
	if len(h.cases) == 0 {
		t.Fatal("no cases")
	}
	if *updateReal || *liveAll {
		testenv.NeedPostfix(t)
	}
	seen := map[string]bool{}
	var wg sync.WaitGroup
	ch := make(chan int)
	// The real postcat sleeps a second before a fatal exit, so most of
	// its time is spent waiting: run several at once.
	for w := 0; w < 12; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				h.check(i, h.cases[i])
			}
		}()
	}
	for i, c := range h.cases {
		k := h.key(c)
		if seen[k] {
			t.Fatalf("duplicate case %s", k)
		}
		seen[k] = true
		ch <- i
	}
	close(ch)
	wg.Wait()
	if *updateReal && !t.Failed() {
		if err := os.MkdirAll(filepath.Dir(h.recordPath()), 0o755); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		enc := json.NewEncoder(zw)
		enc.SetIndent("", " ")
		if err := enc.Encode(h.fresh); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(h.recordPath(), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d cases", len(h.cases))
}

func (h *harness) check(i int, c dcase) {
	t := h.t
	k := h.key(c)
	got := h.normalize(runOurs(t, c))
	var want result
	switch {
	case *updateReal:
		want = h.normalize(runReal(t, c))
		h.mu.Lock()
		h.fresh[k] = stored{[]byte(want.Stdout), []byte(want.Stderr), want.Status}
		h.mu.Unlock()
	case live(i) && testenv.HavePostfix():
		want = h.normalize(runReal(t, c))
		if rec, ok := h.recorded[k]; ok && rec != want {
			t.Errorf("%s: the real postcat no longer prints what was recorded (regenerate with -postcat.update)\n=== now\n%s=== recorded\n%s", k, want, rec)
		}
	default:
		var ok bool
		if want, ok = h.recorded[k]; !ok {
			t.Errorf("%s: not recorded (regenerate with -postcat.update)", k)
			return
		}
	}
	if want.Status == statusLoops {
		// Where the real postcat loops forever we stop with a fatal
		// error after the first round (docs/compatibility.md).
		if got.Status != 1 || !strings.Contains(got.Stderr, "endless loop") ||
			!strings.HasPrefix(want.Stdout, got.Stdout[:min(len(got.Stdout), len(want.Stdout))]) {
			t.Errorf("postcat %s: the real one loops forever; ours should stop with a fatal error after printing what it printed\n=== real (beginning)\n%s=== ours\n%s", k, want, got)
		}
		return
	}
	if got != want {
		t.Errorf("postcat %s differs\n=== real\n%s=== ours\n%s", k, want, got)
	}
}

// verboseArgs reports whether -v is among the options.
func verboseArgs(args []string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			return false
		}
		for j := 1; j < len(a); j++ {
			switch a[j] {
			case 'v':
				return true
			case 'c', 's':
				if j == len(a)-1 {
					i++
				}
				j = len(a)
			}
		}
	}
	return false
}

// dropDebug removes the real postcat's -v debugging lines (see the top of
// this file) from its standard error.
func dropDebug(stderr string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		l := sc.Text()
		for _, keep := range []string{"postcat: warning: ", "postcat: fatal: ", "postcat: panic: ", "postcat: invalid option", "postcat: option requires"} {
			if strings.HasPrefix(l, keep) {
				b.WriteString(l + "\n")
				break
			}
		}
	}
	return b.String()
}

// runReal runs the real postcat with argv[0] "postcat" (Postfix names
// itself after argv[0]) and TZ=UTC.
func runReal(t testing.TB, c dcase) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.RealPostcat)
	cmd.Args = append([]string{"postcat"}, c.args...)
	cmd.Env = []string{"TZ=UTC", "PATH=/usr/bin:/bin"}
	o, e := &cappedBuffer{onFull: cancel}, &cappedBuffer{onFull: cancel}
	cmd.Stdout, cmd.Stderr = o, e
	switch c.stdin {
	case stdinFile:
		f, err := os.Open(c.input)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.Stdin = f
	case stdinPipe:
		b, err := os.ReadFile(c.input)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdin = bytes.NewReader(b)
	}
	err := cmd.Run()
	if o.full || e.full || ctx.Err() != nil {
		// The real postcat loops without end on some damaged files; it
		// died writing to a full pipe. Keep the beginning.
		return result{Stdout: o.String()[:min(4096, o.Len())], Stderr: e.String()[:min(4096, e.Len())], Status: statusLoops}
	}
	status := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		status = ee.ExitCode()
		if status < 0 {
			t.Fatalf("real postcat %q: %v", c.args, err)
		}
	case err != nil:
		t.Fatalf("real postcat %q: %v", c.args, err)
	}
	r := result{o.String(), e.String(), status}
	if verboseArgs(c.args) {
		r.Stderr = dropDebug(r.Stderr)
	}
	return r
}

// statusLoops is the pseudo exit status of a real postcat that never ends.
const statusLoops = -1

// cappedBuffer collects up to 1 MB; beyond that it discards the output
// and calls onFull (which kills the process writing without end).
type cappedBuffer struct {
	bytes.Buffer
	full   bool
	onFull func()
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.full || c.Len()+len(p) > 1<<20 {
		if !c.full {
			c.full = true
			c.onFull()
		}
		return len(p), nil
	}
	return c.Buffer.Write(p)
}

// hideSeek hides a reader's Seek method, making it look like a pipe.
type hideSeek struct{ io.Reader }

// runOurs runs this package in-process the same way.
func runOurs(t testing.TB, c dcase) result {
	t.Helper()
	env := func(name string) string {
		if name == "TZ" {
			return "UTC"
		}
		return ""
	}
	var in io.Reader = strings.NewReader("")
	switch c.stdin {
	case stdinFile:
		f, err := os.Open(c.input)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		in = f
	case stdinPipe:
		b, err := os.ReadFile(c.input)
		if err != nil {
			t.Fatal(err)
		}
		in = hideSeek{bytes.NewReader(b)}
	}
	var o, e bytes.Buffer
	status := Run(c.args, env, in, &o, &e)
	return result{o.String(), e.String(), status}
}

// fileCases adds every option set over every path.
func (h *harness) fileCases(cf string, paths []string, sets [][]string) {
	for _, p := range paths {
		for _, opts := range sets {
			h.add(dcase{args: append(append([]string{"-c", cf}, opts...), p)})
		}
	}
}

// TestDiffRealFiles runs every option set over every queue file real
// Postfix 3.7.11 wrote (the golden corpus of internal/cleanup and the
// reference examples).
func TestDiffRealFiles(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cf := h.config("queue_directory = " + h.dir("q") + "\n")
	paths := h.files(realFiles(t))
	// Every option set over a dozen files, a few over all of them.
	for i, p := range paths {
		if i%5 == 0 {
			h.fileCases(cf, []string{p}, optionSets)
		} else {
			h.fileCases(cf, []string{p}, [][]string{{}, {"-bh"}, {"-e", "-v"}, {"-bo"}, {"-rd"}})
		}
	}
	h.run()
}

// TestDiffSynthetic runs every option set over synthetic files: every
// record type, pointer records, size record variants, malformed records.
func TestDiffSynthetic(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cf := h.config("queue_directory = " + h.dir("q") + "\n")
	h.fileCases(cf, h.files(syntheticFiles()), optionSets)
	h.run()
}

// TestDiffDamaged runs a few option sets over damaged versions of real
// files: truncated at and inside every record, every record's type
// replaced, bad lengths, no end record, and random mutations.
func TestDiffDamaged(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cf := h.config("queue_directory = " + h.dir("q") + "\n")
	real := realFiles(t)
	byName := map[string]input{}
	for _, in := range real {
		byName[in.name] = in
	}
	var inputs []input
	for _, n := range []string{"golden-simple.qf"} {
		in, ok := byName[n]
		if !ok {
			t.Fatalf("no real file %s", n)
		}
		inputs = append(inputs, damagedFiles(t, in)...)
	}
	inputs = append(inputs, randomFiles(real, 100)...)
	h.fileCases(cf, h.files(inputs), [][]string{{}, {"-v"}, {"-bh", "-o"}})
	h.run()
}

// TestDiffStdin reads queue files from standard input, seekable and not.
func TestDiffStdin(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cf := h.config("queue_directory = " + h.dir("q") + "\n")
	inputs := realFiles(t)[:6]
	for _, s := range syntheticFiles() {
		switch s.name {
		case "with-size", "pointer-jump", "pointer-loop", "no-end", "empty", "not-queue-file", "length-past-eof":
			inputs = append(inputs, s)
		}
	}
	sets := [][]string{{}, {"-bh"}, {"-b"}, {"-h"}, {"-e"}, {"-o", "-v"}, {"-s", "5"}, {"-s", "70", "-o"}, {"-s", "100000"}}
	for _, p := range h.files(inputs) {
		for _, opts := range sets {
			for _, kind := range []stdinKind{stdinFile, stdinPipe} {
				h.add(dcase{args: append([]string{"-c", cf}, opts...), stdin: kind, input: p})
			}
		}
	}
	h.run()
}

// TestDiffCommandLine checks option errors, several files, missing files
// and configuration problems.
func TestDiffCommandLine(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	qdir := h.dir("q")
	cf := h.config("queue_directory = " + qdir + "\n")
	real := realFiles(t)
	paths := h.files(append(real[:2:2], input{"bad", []byte{'S', 0x80}},
		input{"utf8-warning", cat(rec('C', "a\xc3\xa9\xff\x01"), rec('S', "x"), rec('E', ""))}))
	utf8 := h.config("queue_directory = " + qdir + "\ncompatibility_level = 3.6\n")
	utf8Off := h.config("queue_directory = " + qdir + "\ncompatibility_level = 3.6\nsmtputf8_enable = no\n")
	utf8On := h.config("queue_directory = " + qdir + "\nsmtputf8_enable = yes\n")
	badDepth := h.config("queue_directory = " + qdir + "\nhash_queue_depth = x\n")
	zeroDepth := h.config("queue_directory = " + qdir + "\nhash_queue_depth = 0\n")
	tz := h.config("queue_directory = " + qdir + "\nimport_environment = TZ=Asia/Tokyo\n")
	expandQ := h.config("base = " + h.root + "\nqueue_directory = ${base}/q\n")
	for _, args := range [][]string{
		{"-c", cf, "-z", paths[0]},
		{"-c", cf, "-s"},
		{"-c", cf, "-s", "x1", paths[0]},
		{"-c", cf, "-s", "-1", paths[0]},
		{"-c", cf, "-s", "", paths[0]},
		{"-c"},
		{"-c", cf, paths[0], paths[1]},
		{"-c", cf, "-e", paths[0], paths[1], paths[2]},
		{"-c", cf, paths[2], paths[0]},
		{"-c", cf, paths[0], "/nonexistent/file"},
		{"-c", cf, "/nonexistent/file", paths[0]},
		{"-c", cf, "--", paths[0]},
		{"-c", cf, paths[0], "-b"},
		{"-c", "/nonexistent/config", paths[0]},
		{"-c", badDepth, paths[0]},
		{"-c", zeroDepth, "-q", "ABCDEF"},
		{"-c", tz, paths[1]},
		{"-c", expandQ, "-q", "ABCDEF"},
		{"-c" + cf, "-bhe", paths[0]},
		{"-c", cf, "-d", "-o", "-s", "0", paths[1]},
		{"-c", cf, paths[3]},
		{"-c", utf8, paths[3]},
		{"-c", utf8Off, paths[3]},
		{"-c", utf8On, paths[3]},
		{"-c", utf8, "/nonexistent/\xc3\xa9\x01"},
		{"-c", cf, "/nonexistent/\xc3\xa9\x01"},
	} {
		h.add(dcase{args: args})
	}
	h.run()
}

// TestDiffQueue checks -q: queue IDs looked up in maildrop, incoming,
// active, deferred, hold and saved, with hashed directories, long IDs,
// missing files and bad IDs.
func TestDiffQueue(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	real := realFiles(t)
	all := sha256.New()
	for _, in := range real[:7] {
		all.Write(in.data)
	}
	qdir := h.dir("q-" + hex.EncodeToString(all.Sum(nil)[:4]))
	for _, q := range []string{"maildrop", "incoming", "active", "deferred", "hold", "saved", "defer"} {
		h.dir(filepath.Join(filepath.Base(qdir), q))
	}
	place := func(queue, id string, hashed bool, depth int, data []byte) {
		p := filepath.Join(qdir, queuefile.QueuePath(queue, id, hashed, depth))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	place("incoming", "3F1A2B4C5D", false, 1, real[0].data)
	place("deferred", "8E1A2B4C5D", true, 1, real[1].data)
	place("deferred", "9E1A2B4C5D", true, 2, real[1].data)
	place("hold", "AB12CD34EF", false, 1, real[2].data)
	place("active", "4Rb8Dq3xZzz9Lk", false, 1, real[3].data)
	place("incoming", "4Rb8Dq3xZzz9Lk", false, 1, real[4].data)
	place("saved", "5F00000001", false, 1, real[5].data)
	place("maildrop", "6F00000001", false, 1, []byte("not a queue file"))
	place("incoming", "7F00000001", true, 1, real[6].data)
	cf := h.config("queue_directory = " + qdir + "\n")
	deep := h.config("queue_directory = " + qdir + "\nhash_queue_depth = 2\n")
	hashAll := h.config("queue_directory = " + qdir + "\nhash_queue_names = incoming deferred\n")
	ids := [][]string{
		{"3F1A2B4C5D"}, {"8E1A2B4C5D"}, {"9E1A2B4C5D"}, {"AB12CD34EF"}, {"4Rb8Dq3xZzz9Lk"}, {"5F00000001"},
		{"6F00000001"}, {"7F00000001"}, {"DEADBEEF"}, {"../etc"}, {"abc!"}, {""},
		{"3F1A2B4C5D", "AB12CD34EF"}, {"3F1A2B4C5D", "DEADBEEF", "AB12CD34EF"},
	}
	for _, cfg := range []string{cf, deep, hashAll} {
		for _, id := range ids {
			for _, opts := range [][]string{{"-q"}, {"-q", "-bh"}, {"-qe", "-o"}} {
				h.add(dcase{args: append(append([]string{"-c", cfg}, opts...), id...)})
			}
		}
	}
	h.add(dcase{args: []string{"-c", h.config("queue_directory = " + filepath.Join(qdir, "nope") + "\n"), "-q", "3F1A2B4C5D"}})
	h.add(dcase{args: []string{"-c", h.config("queue_directory = " + filepath.Join(qdir, "incoming", "3F1A2B4C5D") + "\n"), "-q", "3F1A2B4C5D"}})
	h.add(dcase{args: []string{"-c", cf, "-q"}})
	h.run()
}

// TestCorpusNames guards against duplicate or too few synthetic inputs.
func TestCorpusNames(t *testing.T) {
	names := map[string]bool{}
	for _, in := range syntheticFiles() {
		if names[in.name] {
			t.Errorf("duplicate synthetic file %s", in.name)
		}
		names[in.name] = true
	}
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) < 30 {
		t.Errorf("only %d synthetic files: %v", len(keys), keys)
	}
}
