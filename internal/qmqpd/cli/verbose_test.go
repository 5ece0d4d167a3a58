package cli

import (
	"net"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qmqpd-go/qmqpd/internal/postfixtest"
	"github.com/qmqpd-go/qmqpd/internal/qmqp"
)

// postfixLibraryLine matches the verbose lines of Postfix's library
// internals that our qmqpd does not reproduce (docs/compatibility.md lists
// them): the start-up computation of mynetworks and of the match lists'
// parent-domain style, and the match list trace of each lookup.
var postfixLibraryLine = regexp.MustCompile(`^qmqpd: (name_mask: (ipv4|host)|inet_addr_local: .*|been_here: .*|mynetworks_core: .*|match_string: .*|match_hostname: .*|match_hostaddr: .*|netstring_(get_length|get_data|put): .*)$`)

// queueIDs masks queue IDs in log lines.
var queueIDs = regexp.MustCompile(`\b[0-9A-F]{10,12}\b`)

// logLine splits a maillog line: "Nov 24 14:32:53 host postfix/qmqpd[PID]: text".
var logLine = regexp.MustCompile(`^\S+ +\S+ \S+ \S+ [^ ]*/(\w+)\[(\d+)\]: (.*)$`)

// generation masks the process generation, which depends on how often
// master(8) has started the service.
var generation = regexp.MustCompile(`^qmqpd: process generation: \d+ \(\d+\)$`)

// verboseLines sends one message to inst and returns the lines of the
// qmqpd process that took it, once that process has logged last, masked
// and without the library lines. The lines of other connections served by
// the same process (the instance's start-up probe) are left out: a
// connection's lines run from a start line to an end line (as given), and
// the last one with a queue file is the message's.
func verboseLines(t *testing.T, inst *postfixtest.Instance, start, end, last string) []string {
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
			text = generation.ReplaceAllString(text, "qmqpd: process generation: G")
			byPID[m[2]] = append(byPID[m[2]], queueIDs.ReplaceAllString(text, "QID"))
		}
		if lines := byPID[pid]; pid != "" && lines[len(lines)-1] == last {
			// The process's own lines, and those of its last connection
			// that opened a queue file (the probe comes first, and also
			// opens one).
			var out, conn, msg []string
			at := -1
			in := false
			for _, l := range lines {
				switch {
				case l == start:
					in, conn = true, []string{l}
				case in:
					conn = append(conn, l)
					if l == end {
						in = false
						if strings.Contains(strings.Join(conn, "\n"), ": client=") {
							msg, at = conn, len(out)
						}
					}
				default:
					out = append(out, l)
				}
			}
			if at < 0 {
				t.Fatalf("no connection with a queue file in:\n%s", strings.Join(lines, "\n"))
			}
			return append(append(out[:at:at], msg...), out[at:]...)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line %q; log:\n%s", last, inst.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestVerboseInterop runs Postfix's qmqpd and ours under the real
// master(8) (service cleanup mode), sends each one message, and compares
// the verbose logs of the process that took it: with -v up to the idle
// time-out exit, and with debug_peer_list matching the client (verbose
// for that connection only, at debug_peer_level 2: the netstring trace is
// left out, see postfixLibraryLine).
func TestVerboseInterop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		args   []string
		mainCF map[string]string
		start  string // the first line of a connection
		end    string // its last line
		last   string
		want   []string // lines ours must have (the comparison alone passes if both log nothing)
		absent []string // lines neither may have
	}{
		{
			name:  "-v",
			args:  []string{"-v", "-o", "max_idle=1s", "-o", "receive_override_options=no_milters"},
			start: "qmqpd: connection established",
			end:   "qmqpd: connection closed",
			last:  "qmqpd: idle timeout -- exiting",
			want:  []string{"qmqpd: connection established", "qmqpd: send attr flags = 50", "qmqpd: name_mask: no_milters"},
		},
		{
			name:   "debug_peer_list",
			mainCF: map[string]string{"debug_peer_list": "127.0.0.1"},
			start:  "qmqpd: connect from localhost[127.0.0.1]",
			end:    "qmqpd: disconnect from localhost[127.0.0.1]",
			last:   "qmqpd: disconnect from localhost[127.0.0.1]",
			want:   []string{"qmqpd: send attr flags = 114", "qmqpd: public/cleanup socket: wanted attribute: status"},
			absent: []string{"qmqpd: connection established", "qmqpd: connection closed", "qmqpd: master_notify: status 0"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mainCF := map[string]string{
				// Lets master(8) start this test binary as qmqpd (see TestMain).
				"import_environment": "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C " + runAsQmqpd + "=1",
			}
			for k, v := range tc.mainCF {
				mainCF[k] = v
			}
			var real, ours []string
			t.Run("run", func(t *testing.T) {
				t.Run("postfix", func(t *testing.T) {
					t.Parallel()
					inst := postfixtest.StartWith(t, postfixtest.Options{MainCF: mainCF, QmqpdArgs: tc.args})
					real = verboseLines(t, inst, tc.start, tc.end, tc.last)
				})
				t.Run("ours", func(t *testing.T) {
					t.Parallel()
					exe, err := os.Executable()
					if err != nil {
						t.Fatal(err)
					}
					inst := postfixtest.StartWith(t, postfixtest.Options{MainCF: mainCF, QmqpdArgs: tc.args, QmqpdBinary: exe})
					ours = verboseLines(t, inst, tc.start, tc.end, tc.last)
				})
			})
			if t.Failed() || real == nil {
				return
			}
			if diff := cmp.Diff(real, ours); diff != "" {
				t.Errorf("verbose log lines (-postfix +ours):\n%s", diff)
			}
			has := func(l string) bool {
				for _, o := range ours {
					if o == l {
						return true
					}
				}
				return false
			}
			for _, l := range tc.want {
				if !has(l) {
					t.Errorf("no line %q in\n%s", l, strings.Join(ours, "\n"))
				}
			}
			for _, l := range tc.absent {
				if has(l) {
					t.Errorf("line %q in\n%s", l, strings.Join(ours, "\n"))
				}
			}
		})
	}
}

// TestVerboseStandalone: with -v the standalone server logs Postfix's
// "connection established" and "connection closed" around each
// connection's lines, and the verbose lines of the message.
func TestVerboseStandalone(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "-v", "--listen", "127.0.0.1:0")
	if r := send(t, s.addrs[0], "x@example.net"); r.Code != 'K' {
		t.Fatalf("reply %v", r)
	}
	s.waitLog("connection closed")
	s.signal(syscall.SIGTERM)
	s.wait()
	var got []string
	for _, l := range strings.Split(s.log(), "\n") {
		if m := logLine.FindStringSubmatch(l); m != nil && m[1] == "qmqpd" {
			got = append(got, queueIDs.ReplaceAllString(m[3], "QID"))
		}
	}
	want := []string{
		"connection established",
		"connect from localhost[127.0.0.1]",
		"before input_transp_cleanup: cleanup flags = enable_header_body_filter enable_automatic_bcc enable_address_mapping enable_milters",
		"after input_transp_cleanup: cleanup flags = enable_header_body_filter enable_automatic_bcc enable_address_mapping enable_milters",
		"name_mask: sendmail",
		"name_mask: verify",
		"QID: client=localhost[127.0.0.1]",
		"disconnect from localhost[127.0.0.1]",
		"connection closed",
	}
	if len(got) < 2 || len(got) < len(want)+2 {
		t.Fatalf("log:\n%s", strings.Join(got, "\n"))
	}
	// After "daemon started -- ..." and before "terminating on signal 15".
	if diff := cmp.Diff(want, got[1:len(got)-1]); diff != "" {
		t.Errorf("verbose lines (-want +got):\n%s", diff)
	}
}

// TestDebugPeerStandalone: debug_peer_list raises the verbose level for a
// matching client's connection only.
func TestDebugPeerStandalone(t *testing.T) {
	t.Parallel()
	s := startServer(t, "debug_peer_list = 127.0.0.2\n", "--listen", "127.0.0.1:0")
	for i, local := range []string{"127.0.0.2", "127.0.0.1"} {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", s.addrs[0])
		if err != nil {
			t.Skipf("cannot connect from %s: %v", local, err)
		}
		c.Write(qmqp.AppendPacket(nil, []byte("Subject: x\n\nbody\n"), "a@example.org", []string{"b@example.net"}))
		r, err := qmqp.ReadReply(c)
		c.Close()
		if err != nil || r.Code != 'K' {
			t.Fatalf("from %s: %v %v", local, r, err)
		}
		// One session after the other.
		for n := 0; strings.Count(s.log(), "]: disconnect from ") <= i; n++ {
			if n > 2000 {
				t.Fatalf("no disconnect line for %s:\n%s", local, s.log())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	s.signal(syscall.SIGTERM)
	s.wait()
	conns := map[string][]string{}
	cur := ""
	for _, l := range strings.Split(s.log(), "\n") {
		m := logLine.FindStringSubmatch(l)
		if m == nil || m[1] != "qmqpd" {
			continue
		}
		if strings.HasPrefix(m[3], "connect from ") {
			cur = m[3][strings.LastIndexByte(m[3], '[')+1 : len(m[3])-1]
		}
		if cur != "" {
			conns[cur] = append(conns[cur], m[3])
		}
		if strings.HasPrefix(m[3], "disconnect from ") {
			cur = ""
		}
	}
	has := func(addr, prefix string) bool {
		for _, l := range conns[addr] {
			if strings.HasPrefix(l, prefix) {
				return true
			}
		}
		return false
	}
	if !has("127.0.0.2", "before input_transp_cleanup: ") || !has("127.0.0.2", "name_mask: verify") {
		t.Errorf("matching client: no verbose lines:\n%s", strings.Join(conns["127.0.0.2"], "\n"))
	}
	if has("127.0.0.1", "before input_transp_cleanup: ") || len(conns["127.0.0.1"]) == 0 {
		t.Errorf("other client:\n%s", strings.Join(conns["127.0.0.1"], "\n"))
	}
	if strings.Contains(s.log(), "connection established") {
		t.Errorf("skeleton lines without -v:\n%s", s.log())
	}
}
