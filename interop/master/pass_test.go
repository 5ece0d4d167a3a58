package master

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qmqpd-go/qmqpd/internal/postfixtest"
	"github.com/qmqpd-go/qmqpd/internal/qmqp"
	"github.com/qmqpd-go/qmqpd/internal/testenv"
)

// passSide is one qmqpd behind postscreen: ours or Postfix's.
type passSide struct {
	name    string // recipient prefix and label
	addr    string // postscreen's address
	service string // the pass service postscreen hands over to
}

// TestPassBehindPostscreen runs real postscreen(8) in front of qmqpd
// services of master.cf type pass (master runs them with -t pass):
// postscreen admits loopback clients at once (permit_mynetworks) and hands
// each connection over. Our qmqpd and Postfix's run side by side in one
// instance and must give the same replies, the same qmqpd log lines and
// the same queue files, with no complaint from master or postscreen.
func TestPassBehindPostscreen(t *testing.T) {
	testenv.NeedPostfix(t)
	testenv.NeedRoot(t, "running a real master(8)")
	bin := buildQmqpd(t)
	// "smtpd" is postscreen's default smtpd_service_name; Postfix's qmqpd
	// runs from a directory next to daemon_directory so that it keeps
	// its name (and log tag) "qmqpd". Each postscreen needs a cache of
	// its own. Messages with an X-Hold header are put on hold, so that
	// their queue files stay.
	inst := postfixtest.StartWith(t, postfixtest.Options{
		QmqpdBinary: bin,
		Deliver:     true,
		MainCF:      map[string]string{"header_checks": "regexp:{{/^X-Hold: yes/ HOLD}}"},
		ExtraServices: []string{
			"{ADDR0} inet n - n - 1 postscreen -o postscreen_cache_map=btree:$data_directory/psc_ours",
			"smtpd pass - - n - - qmqpd",
			"{ADDR1} inet n - n - 1 postscreen -o smtpd_service_name=realqmqpd -o postscreen_cache_map=btree:$data_directory/psc_real",
			"realqmqpd pass - - n - - ../real/qmqpd",
			// For hand-overs from a misbehaving passer (one process each,
			// so that both see the same history).
			"ourbad pass - - n - 1 qmqpd",
			"realbad pass - - n - 1 ../real/qmqpd",
		},
	})
	// master runs a command only when a service is first used.
	realDir := filepath.Join(inst.Root, "real")
	if err := os.Mkdir(realDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(testenv.RealQmqpd, filepath.Join(realDir, "qmqpd")); err != nil {
		t.Fatal(err)
	}
	sides := []passSide{
		{name: "ours", addr: inst.ExtraAddrs[0], service: "smtpd"},
		{name: "real", addr: inst.ExtraAddrs[1], service: "realqmqpd"},
	}

	msg := []byte("From: sender@example.org\nTo: rcpt@example.net\nSubject: pass\nMessage-Id: <pass@example.org>\n\nbody\n")
	held := append([]byte("X-Hold: yes\n"), msg...)
	replies := map[string][]string{}
	heldIDs := map[string]string{}
	queuedRE := regexp.MustCompile(`^Ok: queued as ([0-9A-F]+)$`)
	for _, s := range sides {
		// Postfix's qmqp-source prints nothing when every reply is K.
		if out := qmqpSource(t, s.addr, s.name+"-source@example.net", 2); out != "" {
			t.Errorf("%s: qmqp-source: %s", s.name, out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		for _, hold := range []bool{false, true} {
			m, rcpt := msg, s.name+"-client@example.net"
			if hold {
				m, rcpt = held, s.name+"-held@example.net"
			}
			r, err := qmqp.Send(ctx, s.addr, m, "sender@example.org", []string{rcpt})
			if err != nil {
				t.Fatalf("%s: QMQP client: %v", s.name, err)
			}
			id := queuedRE.FindStringSubmatch(r.Text)
			if r.Code != 'K' || id == nil {
				t.Fatalf("%s: reply %q", s.name, r)
			}
			replies[s.name] = append(replies[s.name], string(r.Code)+queuedRE.ReplaceAllString(r.Text, "Ok: queued as QID"))
			if hold {
				heldIDs[s.name] = id[1]
			}
		}
		cancel()
	}
	if diff := cmp.Diff(replies["real"], replies["ours"]); diff != "" {
		t.Errorf("replies (-real +ours):\n%s", diff)
	}

	// The real qmgr delivers what was not held.
	for _, s := range sides {
		waitLog(t, inst, regexp.MustCompile(`postfix/discard\[\d+\]: [0-9A-F]+: to=<`+s.name+`-source@example\.net>, relay=none, .*status=sent`), 2)
		waitLog(t, inst, regexp.MustCompile(`postfix/discard\[\d+\]: [0-9A-F]+: to=<`+s.name+`-client@example\.net>, relay=none, .*status=sent`), 1)
		waitLog(t, inst, regexp.MustCompile(`postfix/cleanup\[\d+\]: `+heldIDs[s.name]+`: hold: `), 1)
	}

	// The same log lines from both qmqpd services, up to queue IDs and
	// process IDs, and the same queue files.
	got := map[string][]string{}
	files := map[string]string{}
	for _, s := range sides {
		// A session's last line may come after the client has its reply.
		deadline := time.Now().Add(20 * time.Second)
		for {
			got[s.name] = sessionLines(t, inst.Log(), s.name)
			if strings.Count(strings.Join(got[s.name], "\n"), "qmqpd: disconnect from") >= 4 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		files[s.name] = postcat(t, inst, heldIDs[s.name])
	}
	log := inst.Log()
	if len(got["real"]) != 4*3 {
		t.Errorf("real qmqpd logged %d session lines, want 12:\n%s", len(got["real"]), strings.Join(got["real"], "\n"))
	}
	if diff := cmp.Diff(got["real"], got["ours"]); diff != "" {
		t.Errorf("qmqpd log lines (-real +ours):\n%s", diff)
	}
	if diff := cmp.Diff(files["real"], files["ours"]); diff != "" {
		t.Errorf("held queue file (-real +ours):\n%s", diff)
	}
	for _, want := range []string{
		"Received: from localhost (localhost [127.0.0.1])",
		"named_attribute: client_address=127.0.0.1",
		"named_attribute: client_name=localhost",
	} {
		if !strings.Contains(files["ours"], want) {
			t.Errorf("our queue file lacks %q:\n%s", want, files["ours"])
		}
	}

	// Postscreen handed every connection over; master saw nothing wrong.
	if n := len(regexp.MustCompile(`postfix/postscreen\[\d+\]: ALLOWLISTED \[127\.0\.0\.1\]:`).FindAllString(log, -1)); n != 8 {
		t.Errorf("postscreen admitted %d clients, want 8", n)
	}
	bad := regexp.MustCompile(`postfix/(master|postscreen|qmqpd)\[\d+\]: (warning|error|fatal|panic): `)
	for _, line := range strings.Split(log, "\n") {
		if bad.MatchString(line) {
			t.Errorf("log: %s", line)
		}
	}
	// Both used the accept lock master(8) children use for a pass
	// service.
	for _, s := range sides {
		if _, err := os.Stat(filepath.Join(inst.QueueDir, "pid", "pass."+s.service)); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("log:\n%s\nour held queue file:\n%s", log, files["ours"])
	}

	t.Run("bad passer", func(t *testing.T) { badPasser(t, inst) })
}

// badPasser plays a broken postscreen against a pass service of each
// kind: the same broken hand-overs, in the same order, with a good one
// in between, must give the same log lines from our qmqpd and from
// Postfix's, and neither process may stop.
func badPasser(t *testing.T, inst *postfixtest.Instance) {
	attrs := "client_address\x00127.0.0.1\x00client_port\x001234\x00server_address\x00127.0.0.1\x00server_port\x0025\x00\x00"
	type step struct {
		data string
		fds  int // descriptors sent with the first byte of data
	}
	seq := [][]step{
		{},                       // end of file
		{{data: "x"}},            // a byte, no descriptor
		{{data: "\x00", fds: 2}}, // two descriptors
		{{data: "\x00", fds: 1}}, // no attributes
		{{data: "\x00", fds: 1}, {data: "client_address\x00127.0"}},
		{{data: "\x00", fds: 1}, {data: attrs}}, // good: a QMQP session
		{{data: "\x00", fds: 1}, {data: "client_address\x00127.0.0.1\x00"}},
		{{data: "\x00", fds: 1}, {data: "client_address\x00"}},
	}
	lines := map[string][]string{}
	for _, service := range []string{"ourbad", "realbad"} {
		pid := ""
		for i, steps := range seq {
			good := len(steps) == 2 && steps[1].data == attrs
			client, server := testenv.TCPPair(t)
			c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: filepath.Join(inst.QueueDir, "private", service), Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			f, err := server.File()
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range steps {
				var oob []byte
				if s.fds > 0 {
					oob = syscall.UnixRights([]int{int(f.Fd()), int(f.Fd())}[:s.fds]...)
				}
				if _, _, err := c.WriteMsgUnix([]byte(s.data), oob, nil); err != nil {
					t.Fatal(err)
				}
			}
			c.CloseWrite()
			f.Close()
			server.Close()
			// qmqpd closes the passer's connection when it is done.
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.ReadAll(c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("%s: passer connection: %v", service, err)
			}
			c.Close()
			p := servicePID(t, service)
			if pid != "" && p != pid {
				t.Errorf("%s: process %s replaced by %s", service, pid, p)
			}
			pid = p
			if !good && service == "realbad" {
				// Postfix leaks the descriptors of a rejected
				// hand-over of two: the client may never see end
				// of file. We close them all.
				client.Close()
				continue
			}
			client.SetDeadline(time.Now().Add(20 * time.Second))
			if good {
				client.Write(postfixtest.Packet([]byte("Subject: x\n\nbody\n"), "sender@example.org", service+"@example.net"))
				client.CloseWrite()
			}
			reply, _ := io.ReadAll(client)
			client.Close()
			if good != bytes.HasPrefix(reply, []byte("26:KOk: queued as ")) {
				t.Errorf("%s: step %d: client got %q", service, i, reply)
			}
		}
		// Wait for the last lines: one error line per broken
		// hand-over, and the good one's "disconnect".
		re := regexp.MustCompile(`postfix/qmqpd\[` + pid + `\]: (.*)`)
		deadline := time.Now().Add(20 * time.Second)
		for {
			lines[service] = nil
			n := 0
			for _, m := range re.FindAllStringSubmatch(inst.Log(), -1) {
				l := regexp.MustCompile(`\b[0-9A-F]{8,}\b`).ReplaceAllString(m[1], "QID")
				lines[service] = append(lines[service], l)
				if strings.HasPrefix(l, "error: ") || strings.HasPrefix(l, "disconnect from") {
					n++
				}
			}
			if n >= len(seq) || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	ours, real := lines["ourbad"], lines["realbad"]
	if len(real) < 2*len(seq) {
		t.Errorf("real qmqpd logged only:\n%s", strings.Join(real, "\n"))
	}
	// The warning lines need the command line to pass master.Config.Warnf
	// on; without them, the rest must still match.
	if !hasWarning(ours) {
		real = withoutWarnings(real)
	}
	if diff := cmp.Diff(real, ours); diff != "" {
		t.Errorf("qmqpd log lines (-real +ours):\n%s", diff)
	}
	// master(8) saw no process fail.
	bad := regexp.MustCompile(`postfix/(master|postscreen)\[\d+\]: (warning|error|fatal|panic): `)
	for _, line := range strings.Split(inst.Log(), "\n") {
		if bad.MatchString(line) {
			t.Errorf("log: %s", line)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("real:\n%s\nours:\n%s", strings.Join(lines["realbad"], "\n"), strings.Join(ours, "\n"))
	}
}

func hasWarning(lines []string) bool { return len(withoutWarnings(lines)) < len(lines) }

func withoutWarnings(lines []string) []string {
	var out []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "warning: ") {
			out = append(out, l)
		}
	}
	return out
}

// servicePID finds the process master(8) runs for a pass service (with
// process limit 1): the one started with "-n SERVICE".
func servicePID(t *testing.T, service string) string {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), "\x00-n\x00"+service+"\x00") {
			return e.Name()
		}
	}
	t.Fatalf("no process for service %s", service)
	return ""
}

// sessionLines returns the masked log lines of the qmqpd processes that
// served the messages for side's recipients, sorted (processes may share
// the sessions differently).
func sessionLines(t *testing.T, log, side string) []string {
	t.Helper()
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`([0-9A-F]+): (?:to=<|hold: header [^\n]* to=<)`+side+`-[a-z]+@example\.net>`).FindAllStringSubmatch(log, -1) {
		ids[m[1]] = true
	}
	pids := map[string]bool{}
	for _, m := range regexp.MustCompile(`postfix/qmqpd\[(\d+)\]: ([0-9A-F]+): client=`).FindAllStringSubmatch(log, -1) {
		if ids[m[2]] {
			pids[m[1]] = true
		}
	}
	if len(ids) != 4 || len(pids) == 0 {
		t.Errorf("%s: queue IDs %v, qmqpd processes %v", side, ids, pids)
	}
	line := regexp.MustCompile(`postfix/qmqpd\[(\d+)\]: (.*)`)
	qid := regexp.MustCompile(`\b[0-9A-F]{8,}\b`)
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if m := line.FindStringSubmatch(l); m != nil && pids[m[1]] {
			out = append(out, "qmqpd: "+qid.ReplaceAllString(m[2], "QID"))
		}
	}
	sort.Strings(out)
	return out
}

// postcat prints a queue file with Postfix's postcat, masking what
// differs from one message to the next (queue ID, times, client port).
func postcat(t *testing.T, inst *postfixtest.Instance, id string) string {
	t.Helper()
	cmd := exec.Command(testenv.RealPostcat, "-c", inst.ConfigDir, "-q", id)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("postcat -q %s: %v: %s", id, err, stderr.String())
	}
	s := strings.ReplaceAll(out.String(), id, "QID")
	for _, r := range []struct{ re, with string }{
		{`(?m)^(message_arrival_time: |create_time: |Date: ).*$`, "${1}TIME"},
		// The content offset depends on the lengths of the time and port
		// records.
		{`(?m)^(message_size: +\d+ +)\d+`, "${1}OFFSET"},
		{`(?m)^(named_attribute: (?:log_)?client_port=)\d+$`, "${1}PORT"},
		{`(?m)^(\s*for <[^>]*>; ).*$`, "${1}DATE"},
		{`(?:ours|real)-held@`, "RCPT@"},
	} {
		s = regexp.MustCompile(r.re).ReplaceAllString(s, r.with)
	}
	if !strings.Contains(s, "*** MESSAGE FILE END") {
		t.Errorf("queue file %s is incomplete:\n%s", id, s)
	}
	return s
}
