package postconf

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// machineParams are the parameters whose values postconf computes from the
// machine (host name, domain, interface addresses). In "name = value" output
// lines their values are replaced with a placeholder so that one machine
// difference does not drown every listing; the dedicated "-h myhostname
// mydomain mynetworks" runs of the stock case compare them unmasked.
var machineParams = []string{"myhostname", "mydomain", "mynetworks"}

// machineMask is the placeholder that replaces a masked value.
const machineMask = "<machine-dependent>"

// pidMask replaces postconf's own process ID (the value of process_id, which
// also appears wherever $process_id is expanded).
const pidMask = "<pid>"

// hashOrderWarnings match the warnings that Postfix prints while walking a
// hash table, so their relative order differs from run to run (and between
// two runs of the real binary): unused/undefined/read-only parameters and the
// expansion errors found while scanning parameter values. They are compared
// as a sorted multiset; every other stderr line is compared in order.
var hashOrderWarnings = regexp.MustCompile(`^postconf: warning: (` +
	`.*: unused parameter: ` +
	`|.*: undefined parameter: ` +
	`|.*: read-only parameter assignment: ` +
	`|empty macro name: ` +
	`|truncated macro reference: ` +
	`|unreasonable macro call nesting: ` +
	`|attribute name syntax error at: ` +
	`|.* expected at: ` +
	`|unbalanced \{\} in attribute expression: ` +
	`|bad operator suffix at: ` +
	`|unexpected input at: ` +
	`)`)

// An outcome is the normalised, comparable result of one postconf run.
type outcome struct {
	Exit   string
	Stdout []string
	// Stderr holds the stderr lines that have a fixed order.
	Stderr []string
	// HashOrdered holds the hashOrderWarnings lines, sorted.
	HashOrdered []string
	// Files is the directory after an editing run (nil for listing runs).
	Files []fileState
}

// A fileState is one file left in the configuration directory after an
// editing run.
type fileState struct {
	Name  string
	Mode  string
	Lines []string
}

// splitLines splits s into lines; a final newline does not start a new line,
// and a missing final newline is made visible.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if lines[len(lines)-1] == "" {
		return lines[:len(lines)-1]
	}
	lines[len(lines)-1] += "<no newline at end>"
	return lines
}

// maskStdout applies the explicit masks to postconf's standard output: the
// process IDs pids (as whole words) and the values of machineParams in
// "name = value" lines, including their -f continuation lines.
func maskStdout(stdout string, pids ...int) []string {
	lines := splitLines(stdout)
	var words []string
	for _, pid := range pids {
		if pid > 0 {
			words = append(words, strconv.Itoa(pid))
		}
	}
	var pidWord *regexp.Regexp
	if len(words) > 0 {
		pidWord = regexp.MustCompile(`\b(` + strings.Join(words, "|") + `)\b`)
	}
	out := make([]string, 0, len(lines))
	masking := false
	for _, l := range lines {
		if masking {
			if strings.HasPrefix(l, "    ") {
				continue // a -f continuation of a masked value
			}
			masking = false
		}
		for _, name := range machineParams {
			if strings.HasPrefix(l, name+" = ") {
				l = name + " = " + machineMask
				masking = true
			}
		}
		if pidWord != nil {
			l = pidWord.ReplaceAllString(l, pidMask)
		}
		out = append(out, l)
	}
	return out
}

// splitStderr separates stderr into the lines with a fixed order and the
// sorted hash-order warnings.
func splitStderr(stderr string) (ordered, hashOrdered []string) {
	for _, l := range splitLines(stderr) {
		if hashOrderWarnings.MatchString(l) {
			hashOrdered = append(hashOrdered, l)
		} else {
			ordered = append(ordered, l)
		}
	}
	sort.Strings(hashOrdered)
	return ordered, hashOrdered
}

// sortTail sorts the last n lines of lines in place (the entries that
// "postconf -e" appends to main.cf, in hash order).
func sortTail(lines []string, n int) {
	if n > 1 && n <= len(lines) {
		sort.Strings(lines[len(lines)-n:])
	}
}

func TestMaskStdout(t *testing.T) {
	in := "mail_version = 3.7.11\n" +
		"myhostname = vm.localdomain\n" +
		"mynetworks = 127.0.0.0/8 192.0.2.0/24 [::1]/128 [fd00::]/64 [fe80::]/64 10.0.0.0/8 10.1.0.0/16\n" +
		"    172.16.0.0/12\n" +
		"process_id = 4711\n" +
		"debugger_command = ddd /usr/lib/postfix/sbin/postconf 4711 & sleep 5\n" +
		"x = 47110 14711\n" +
		"4711\n" +
		"mydomainx = kept\n"
	want := []string{
		"mail_version = 3.7.11",
		"myhostname = " + machineMask,
		"mynetworks = " + machineMask,
		"process_id = " + pidMask,
		"debugger_command = ddd /usr/lib/postfix/sbin/postconf " + pidMask + " & sleep 5",
		"x = 47110 14711",
		pidMask,
		"mydomainx = kept",
	}
	if diff := cmp.Diff(want, maskStdout(in, 4711)); diff != "" {
		t.Errorf("maskStdout (-want +got):\n%s", diff)
	}

	// Both runs' process IDs are masked on both sides: a real postconf
	// that ran as PID 500 and ours (PID 4711) then agree on a value of 500.
	realOut := "process_id = 500\nlmtp_min_data_rate = 500\n"
	oursOut := "process_id = 4711\nlmtp_min_data_rate = 500\n"
	if diff := cmp.Diff(maskStdout(realOut, 500, 4711), maskStdout(oursOut, 4711, 500)); diff != "" {
		t.Errorf("real vs ours after masking both process IDs (-real +ours):\n%s", diff)
	}
}

func TestSplitStderr(t *testing.T) {
	in := "postconf: warning: /d/main.cf, line 3: overriding earlier entry: a=b\n" +
		"postconf: warning: /d/main.cf: unused parameter: z=1\n" +
		"postconf: warning: /d/master.cf: undefined parameter: y\n" +
		"postconf: warning: /d/main.cf: unused parameter: a=1\n" +
		"postconf: warning: empty macro name: \"[a$]\"\n" +
		"postconf: fatal: macro processing error\n" +
		"no newline"
	ordered, hashed := splitStderr(in)
	wantOrdered := []string{
		"postconf: warning: /d/main.cf, line 3: overriding earlier entry: a=b",
		"postconf: fatal: macro processing error",
		"no newline<no newline at end>",
	}
	wantHashed := []string{
		"postconf: warning: /d/main.cf: unused parameter: a=1",
		"postconf: warning: /d/main.cf: unused parameter: z=1",
		"postconf: warning: /d/master.cf: undefined parameter: y",
		"postconf: warning: empty macro name: \"[a$]\"",
	}
	if diff := cmp.Diff(wantOrdered, ordered); diff != "" {
		t.Errorf("ordered (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantHashed, hashed); diff != "" {
		t.Errorf("hash-ordered (-want +got):\n%s", diff)
	}
}

func TestSplitArgs(t *testing.T) {
	got, err := splitArgs(`-e 'a = b c' "x=\"y\"" z\ w '' "l1\nl2\tt"`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-e", "a = b c", `x="y"`, "z w", "", "l1\nl2\tt"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("splitArgs (-want +got):\n%s", diff)
	}
	if _, err := splitArgs(`'open`); err == nil {
		t.Error("splitArgs accepted an unterminated quote")
	}
}

func TestDropProjectLine(t *testing.T) {
	full := make([]string, 0, 900)
	for i := 0; i < 900; i++ {
		full = append(full, fmt.Sprintf("p%03d = v", i))
	}
	insert := func(lines []string, i int, l string) []string {
		return append(append(append([]string(nil), lines[:i]...), l), lines[i:]...)
	}
	named := []string{"a = 1", "qmqpd_authorized_clients =", "qmqpd_client_port_logging = no"}
	values := append([]string(nil), full...)
	for _, tc := range []struct {
		name     string
		real     []string
		ours     []string
		hideName bool
		want     bool
	}{
		{"named", named, insert(named, 2, "qmqpd_cleanup_mode ="), false, true},
		{"named with value", named, insert(named, 2, "qmqpd_cleanup_mode = builtin"), false, true},
		{"name only", named, insert(named, 2, "qmqpd_cleanup_mode"), false, true},
		{"wrong place", named, insert(named, 1, "qmqpd_cleanup_mode ="), false, false},
		{"other line", named, insert(named, 2, "x = y"), false, false},
		{"two lines", named, insert(insert(named, 2, "qmqpd_cleanup_mode ="), 0, "z"), false, false},
		{"identical", named, named, false, false},
		{"value in full listing", values, insert(values, 450, ""), true, true},
		{"value in short listing", named, insert(named, 2, ""), true, false},
		{"non-empty value", values, insert(values, 450, "x"), true, false},
	} {
		got, ok := dropProjectLine(outcome{Stdout: tc.real}, outcome{Stdout: tc.ours}, tc.hideName)
		if ok != tc.want {
			t.Errorf("%s: dropped %v, want %v", tc.name, ok, tc.want)
		}
		if ok && !cmp.Equal(got.Stdout, tc.real) {
			t.Errorf("%s: left %q", tc.name, got.Stdout)
		}
	}
}

func TestHasFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"-c", "/d", "-h"}, true},
		{[]string{"-c", "/d", "-nh"}, true},
		{[]string{"-c", "/h", "-n"}, false},
		{[]string{"-ch", "-n"}, false},
		{[]string{"-c", "/d", "-n", "h"}, false},
		{[]string{"-c", "/d", "--", "-h"}, false},
		{[]string{"-o", "h=1", "-xh"}, true},
	} {
		if got := hasFlag(tc.args, 'h'); got != tc.want {
			t.Errorf("hasFlag(%q) = %v", tc.args, got)
		}
	}
}
