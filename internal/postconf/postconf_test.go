package postconf

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run runs postconf in-process on a configuration directory holding the
// given main.cf and master.cf.
func run(t *testing.T, mainCF, masterCF string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{"main.cf": mainCF, "master.cf": masterCF} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb bytes.Buffer
	status = Run(append([]string{"postconf", "-c", dir}, args...), func(string) string { return "" },
		strings.NewReader(""), &out, &errb)
	return strings.ReplaceAll(out.String(), dir, "DIR"), strings.ReplaceAll(errb.String(), dir, "DIR"), status
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name             string
		mainCF, masterCF string
		args             []string
		stdout, stderr   string
		status           int
	}{
		{"non-default", "relayhost = [r]\n", "", []string{"-n"},
			"config_directory = DIR\nrelayhost = [r]\n", "", 0},
		{"project parameter", "qmqpd_cleanup_mode = builtin\n", "", []string{"-n", "qmqpd_cleanup_mode"},
			"qmqpd_cleanup_mode = builtin\n", "", 0},
		{"unknown", "", "", []string{"nosuch"},
			"", "postconf: warning: nosuch: unknown parameter\n", 0},
		{"unused", "a = 1\n", "", []string{"-n"},
			"config_directory = DIR\n", "postconf: warning: DIR/main.cf: unused parameter: a=1\n", 0},
		{"fatal", "bad line\n", "", []string{"-n"},
			"", "postconf: fatal: DIR/main.cf, line 1: missing '=' after attribute name: \"bad line\"\n", 1},
		{"NUL ends the quoted text", "x\x00 = y\n", "", []string{"-n"},
			"", "postconf: fatal: DIR/main.cf, line 1: missing '=' after attribute name: \"x\"\n", 1},
		{"duplicate service without -o", "", "smtp inet n - n - - smtpd\nsmtp inet n - n - - smtpd -o d=1\n", []string{"-M"},
			"smtp       inet  n       -       n       -       -       smtpd\nsmtp       inet  n       -       n       -       -       smtpd -o d=1\n",
			"postconf: warning: DIR/master.cf: unused parameter: d=1\n", 0},
		{"usage", "", "", []string{"-q"},
			"", "postconf: invalid option -- 'q'\n", 1},
		{"params init", "line_length_limit = 100\n", "", []string{"-m"},
			"", "postconf: fatal: invalid line_length_limit parameter value 100 < 512\n", 1},
		{"no bounce daemon", "daemon_directory = /nonexistent\n", "", []string{"-t"},
			"", "postconf: fatal: execv /nonexistent/bounce: No such file or directory (postconf -b and -t run Postfix's bounce(8), which this project does not ship)\n", 1},
		{"no smtpd", "daemon_directory = /nonexistent\n", "", []string{"-a"},
			"", "postconf: fatal: cannot list SASL server types: /nonexistent/smtpd is not installed (they are those of Postfix's smtpd(8); this postconf ships no SASL implementation)\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, status := run(t, tc.mainCF, tc.masterCF, tc.args...)
			if tc.name == "usage" {
				stderr, _, _ = strings.Cut(stderr, "postconf: fatal: usage:")
			}
			if stdout != tc.stdout || stderr != tc.stderr || status != tc.status {
				t.Errorf("postconf %q:\nstdout %q\nstderr %q\nstatus %d\nwant %q %q %d",
					tc.args, stdout, stderr, status, tc.stdout, tc.stderr, tc.status)
			}
		})
	}
}

func TestParseParamClass(t *testing.T) {
	if c, err := parseParamClass("Builtin, user"); err != nil || c != flagBuiltin|flagUser {
		t.Errorf("parseParamClass = %v, %v", c, err)
	}
	if _, err := parseParamClass("builtin,bogus"); err == nil || err.Error() != `unknown -C option value "bogus" in "builtin,bogus"` {
		t.Errorf("err = %v", err)
	}
}
