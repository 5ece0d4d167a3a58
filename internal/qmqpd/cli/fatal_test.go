package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFatalPause: in master(8) and -S modes a fatal error pauses a second
// before the process exits, as Postfix's msg_fatal does.
func TestFatalPause(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"master", []string{"-V", "-d", "-l", "-t", "bogus"}, "postfix/qmqpd: fatal: unsupported transport type: bogus\n"},
		{"stdio", []string{"-V", "-S", "-r", "0"}, "postfix/qmqpd: fatal: invalid retirement time: 0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte("compatibility_level = 3.6\nmail_owner = daemon\nsetgid_group = bin\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(exe, tc.args...)
			cmd.Env = append(os.Environ(), runAsQmqpd+"=1", "MAIL_CONFIG="+dir)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			elapsed := time.Since(start)
			if err == nil || cmd.ProcessState.ExitCode() != 1 {
				t.Fatalf("exit: %v", err)
			}
			if !strings.HasSuffix(stderr.String(), tc.want) {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.want)
			}
			if elapsed < fatalPause {
				t.Errorf("exited after %v, before the %v pause", elapsed, fatalPause)
			}
		})
	}
}
