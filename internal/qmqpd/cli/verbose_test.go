package cli

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qmqpd-go/qmqpd/internal/postfixtest"
)

// postfixLibraryLine matches the verbose lines of Postfix's library
// internals that our qmqpd does not reproduce (docs/compatibility.md lists
// them): the start-up computation of mynetworks and of the match lists'
// parent-domain style, and the match list trace of each lookup.
var postfixLibraryLine = regexp.MustCompile(`^qmqpd: (name_mask: (ipv4|host)|inet_addr_local: .*|been_here: .*|mynetworks_core: .*|match_string: .*|match_hostname: .*|match_hostaddr: .*)$`)

// queueIDs masks queue IDs in log lines.
var queueIDs = regexp.MustCompile(`\b[0-9A-F]{10,12}\b`)

// logLine splits a maillog line: "Nov 24 14:32:53 host postfix/qmqpd[PID]: text".
var logLine = regexp.MustCompile(`^\S+ +\S+ \S+ \S+ [^ ]*/(\w+)\[(\d+)\]: (.*)$`)

// verboseLines sends one message to inst and returns the lines of the
// qmqpd process that took it, once that process has exited on its idle
// time-out, masked and without the library lines.
func verboseLines(t *testing.T, inst *postfixtest.Instance) []string {
	t.Helper()
	msg := postfixtest.Packet([]byte("Subject: hi\n\nbody\n"), "a@example.org", "b@example.net")
	if reply := string(inst.SendQMQP(msg)); !strings.Contains(reply, ":KOk: queued as ") {
		t.Fatalf("reply %q", reply)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		byPID := map[string][]string{}
		pid := ""
		for _, l := range strings.Split(inst.Log(), "\n") {
			m := logLine.FindStringSubmatch(l)
			if m == nil || m[1] != "qmqpd" {
				continue
			}
			text := "qmqpd: " + m[3]
			if postfixLibraryLine.MatchString(text) {
				continue
			}
			if strings.Contains(text, ": client=") {
				pid = m[2]
			}
			byPID[m[2]] = append(byPID[m[2]], queueIDs.ReplaceAllString(text, "QID"))
		}
		if out := byPID[pid]; pid != "" && out[len(out)-1] == "qmqpd: idle timeout -- exiting" {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("no idle time-out; log:\n%s", inst.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestVerboseInterop runs Postfix's qmqpd and ours with -v under the real
// master(8) (service cleanup mode), sends each one message, and compares
// the verbose logs up to the idle time-out exit.
func TestVerboseInterop(t *testing.T) {
	t.Parallel()
	args := []string{"-v", "-o", "max_idle=1s", "-o", "receive_override_options=no_milters"}
	mainCF := map[string]string{
		// Lets master(8) start this test binary as qmqpd (see TestMain).
		"import_environment": "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C " + runAsQmqpd + "=1",
	}
	var real, ours []string
	t.Run("run", func(t *testing.T) {
		t.Run("postfix", func(t *testing.T) {
			t.Parallel()
			inst := postfixtest.StartWith(t, postfixtest.Options{MainCF: mainCF, QmqpdArgs: args})
			real = verboseLines(t, inst)
		})
		t.Run("ours", func(t *testing.T) {
			t.Parallel()
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			inst := postfixtest.StartWith(t, postfixtest.Options{MainCF: mainCF, QmqpdArgs: args, QmqpdBinary: exe})
			ours = verboseLines(t, inst)
		})
	})
	if t.Failed() || real == nil {
		return
	}
	if diff := cmp.Diff(real, ours); diff != "" {
		t.Errorf("verbose log lines (-postfix +ours):\n%s", diff)
	}
	for _, want := range []string{"qmqpd: connection established", "qmqpd: send attr flags = 50", "qmqpd: name_mask: no_milters"} {
		found := false
		for _, l := range ours {
			found = found || l == want
		}
		if !found {
			t.Errorf("no line %q in\n%s", want, strings.Join(ours, "\n"))
		}
	}
}
