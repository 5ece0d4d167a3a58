package qmqpd

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qmqpd-go/qmqpd/internal/postfixtest"
	"github.com/qmqpd-go/qmqpd/internal/testenv"
)

// corpusCase is one QMQP input with the settings it runs under.
type corpusCase struct {
	name string
	// params are "name=value" settings for this case's qmqpd and cleanup
	// (master.cf -o overrides); DIR stands for the data directory.
	params []string
	packet []byte
	action action
	// want must occur in the real server's masked reply, and wantLog in
	// its masked log: they keep the case honest about what it exercises.
	want    string
	wantLog string
	// improvement marks a case where we deliberately do better than
	// Postfix: the real side's reply is not compared; ours must equal want.
	improvement bool
	// rewrite gives the case its own trivial-rewrite service, for
	// settings that address rewriting uses (myorigin, mydomain, ...).
	rewrite bool
	// client, when set, is a real QMQP client program that sends to addr
	// instead of the packet; its output and exit status are the reply.
	client func(addr string) *exec.Cmd
	// minDelay is the least time the reply may take (qmqpd_error_delay).
	minDelay time.Duration
	// v6 runs the case over IPv6 (::1), in an instance with
	// inet_protocols = all.
	v6 bool
}

// host is the loopback address the case's servers listen on.
func (c *corpusCase) host() string {
	if c.v6 {
		return "::1"
	}
	return "127.0.0.1"
}

// pkt builds a QMQP packet.
func pkt(msg, sender string, rcpts ...string) []byte {
	return postfixtest.Packet([]byte(msg), sender, rcpts...)
}

// ns is one netstring.
func ns(s string) string { return fmt.Sprintf("%d:%s,", len(s), s) }

const simpleMsg = "Subject: test\n\nbody\n"

// dataFiles are written to the data directory (DIR) before the instances
// start.
var dataFiles = map[string]string{
	"list-deny":   "#x\n!127.0.0.1\n",
	"list-allow":  "127.0.0.1\n",
	"list-bang":   "1.2.3.4, !\n",
	"nets.cidr":   "1.2.3.0/24 ok\n127.0.0.0/8 ok\n",
	"other.cidr":  "1.2.3.0/24 ok\n",
	"bad.cidr":    "1.2.3.0/33 ok\n",
	"hosts.th":    "localhost ok\n",
	"hosts.re":    "/^local/ ok\n",
	"bad.re":      "/(/ ok\n",
	"hosts.pcre":  "/^LOCAL/i ok\n",
	"ahead.pcre":  "/^local(?=host)/ ok\n",
	"deny.re":     "/^local/ !ok\n/./ ok\n",
	"hosts.cidr6": "[::1]/128 ok\n127.0.0.1 ok\n",
}

func corpus() []*corpusCase {
	long := strings.Repeat("x", 3000)
	many := make([]string, 300)
	for i := range many {
		many[i] = fmt.Sprintf("user%d@example.net", i%250)
	}
	hops := strings.Repeat("Received: from a by b; Tue, 24 Nov 2026 10:00:00 +0000\n", 51)
	big := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", 4000)
	mime := "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\nSubject: mime\n\n" +
		"--b1\nContent-Type: text/plain; charset=us-ascii\n\npart one\n--b1\nContent-Type: message/rfc822\n\nSubject: inner\n\ninner body\n--b1--\n"
	cases := []*corpusCase{
		// Good messages.
		{name: "simple", packet: pkt(simpleMsg, "a@example.com", "b@example.net"), want: "KOk: queued as QID"},
		{name: "two-recipients", packet: pkt(simpleMsg, "a@example.com", "b@example.net", "c@example.org"), want: "KOk"},
		{name: "many-recipients-dups", packet: pkt(simpleMsg, "a@example.com", many...), want: "KOk"},
		{name: "null-sender", packet: pkt(simpleMsg, "", "b@example.net"), want: "KOk"},
		{name: "empty-recipient", packet: pkt(simpleMsg, "a@example.com", ""), want: "KOk"},
		{name: "unqualified", packet: pkt("Subject: u\nTo: joe\nFrom: me\n\nx\n", "me", "joe"), want: "KOk"},
		{name: "quoted-recipient", packet: pkt(simpleMsg, "a@example.com", "a b@example.net"), want: "KOk"},
		{name: "route-address", packet: pkt(simpleMsg, "@relay.example:a@example.com", "B@Example.NET"), want: "KOk"},
		{name: "control-chars-in-addresses", packet: pkt(simpleMsg, "a\x00b@example.com", "c\rd@example.net"), want: "KOk"},
		{name: "verp-minus", packet: pkt(simpleMsg, "list-@example.com-@[]", "b@example.net"), want: "KOk"},
		{name: "verp-plus", packet: pkt(simpleMsg, "list+@example.com-@[]", "b@example.net"), want: "KOk"},
		{name: "verp-bad-delimiter", packet: pkt(simpleMsg, "list#@example.com-@[]", "b@example.net"), want: "DError: Invalid VERP delimiters"},
		{name: "verp-not-a-request", packet: pkt(simpleMsg, "-@example.com-@[]", "b@example.net"), want: "KOk"},
		{name: "verp-filter", params: []string{"verp_delimiter_filter=-=", "default_verp_delimiters=-="}, packet: pkt(simpleMsg, "list+@example.com-@[]", "b@example.net"), want: "DError: Invalid VERP delimiters"},
		{name: "from-lines", packet: pkt("From someone Tue Nov 24 10:00:00 2026\n>From x\nSubject: f\n\nbody\n", "a@example.com", "b@example.net"), want: "KOk"},
		{name: "leading-whitespace", packet: pkt(" indented first line\nSubject: not a header\n", "a@example.com", "b@example.net"), want: "KOk"},
		{name: "no-final-newline", packet: pkt("Subject: n\n\nlast line", "a@example.com", "b@example.net"), want: "KOk"},
		{name: "crlf", packet: pkt("Subject: c\r\nTo: b@example.net\r\n\r\nbody\r\n", "a@example.com", "b@example.net"), want: "KOk"},
		{name: "long-line", packet: pkt("Subject: l\n\n"+long+"\n", "a@example.com", "b@example.net"), want: "KOk"},
		{name: "line-at-limit", packet: pkt("Subject: l\n\n"+long[:2048]+"\n"+long[:2049]+"\n", "a@example.com", "b@example.net"), want: "KOk"},
		{name: "empty-content", packet: pkt("", "a@example.com", "b@example.net"), want: "KOk"},
		{name: "headers-only", packet: pkt("Subject: h\nX-Foo: bar", "a@example.com", "b@example.net"), want: "KOk"},
		{name: "mime", packet: pkt(mime, "a@example.com", "b@example.net"), want: "KOk"},
		{name: "eight-bit", packet: pkt("Subject: caf\xc3\xa9\n\nna\xefve\n", "a@example.com", "b@example.net"), want: "KOk"},
		{name: "existing-ids", packet: pkt("Message-ID: <x@y>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nFrom: A <a@example.com>\nSubject: s\n\nb\n", "a@example.com", "b@example.net"), want: "KOk"},
		{name: "big", packet: pkt(big, "a@example.com", "b@example.net"), want: "KOk"},
		{name: "trailing-junk", packet: append(pkt(simpleMsg, "a@example.com", "b@example.net"), "junk"...), want: "KOk"},
		{name: "outer-length-ignored", packet: []byte("5:" + ns(simpleMsg) + ns("a@example.com") + ns("b@example.net") + ","), want: "KOk"},
		{name: "empty-and-padded-lengths", packet: []byte(":" + "00020:" + simpleMsg + "," + "0013:a@example.com," + ":,,"), want: "KOk"},
		// Failures reported by cleanup.
		{name: "no-recipients", packet: pkt(simpleMsg, "a@example.com"), want: "DError: no recipients specified"},
		{name: "too-many-hops", packet: pkt(hops+simpleMsg, "a@example.com", "b@example.net"), want: "DError: too many hops"},
		{name: "size-at-limit", params: []string{"message_size_limit=3000"}, packet: pkt(long, "a@example.com", "b@example.net"), want: "DError: message too large"},
		// Malformed packets.
		{name: "empty-connection", packet: nil, wantLog: "lost connection while receiving QMQP packet header"},
		{name: "header-not-digit", packet: []byte("x"), want: "Dnetstring format error while receiving QMQP packet header"},
		{name: "header-overflow", packet: []byte("99999999999999999999999:"), want: "Dnetstring length exceeds storage limit while receiving QMQP packet header"},
		{name: "content-not-digit", packet: []byte("10:x"), want: "Dnetstring format error while receiving message content"},
		{name: "content-no-comma", packet: []byte("30:5:abcdeX"), want: "Dnetstring format error while receiving message content"},
		{name: "content-truncated", packet: []byte("30:50:abcde"), wantLog: "lost connection while receiving message content"},
		{name: "content-over-limit", params: []string{"message_size_limit=3000"}, packet: []byte("4000:3001:"), want: "Dnetstring length exceeds storage limit while receiving message content"},
		{name: "content-over-default-limit", packet: []byte("999999999:999999999:"), want: "Dnetstring length exceeds storage limit while receiving message content"},
		{name: "sender-not-digit", packet: []byte("30:" + ns(simpleMsg) + "s"), want: "Dnetstring format error while receiving sender address"},
		{name: "sender-no-comma", packet: []byte("30:" + ns(simpleMsg) + "3:abcd"), want: "Dnetstring format error while receiving sender address"},
		{name: "sender-at-limit", packet: pkt(simpleMsg, long[:2036]+"@example.com", "b@example.net"), want: "KOk"},
		{name: "sender-over-limit", packet: []byte("9999:" + ns(simpleMsg) + "2049:"), want: "Dnetstring length exceeds storage limit while receiving sender address"},
		{name: "sender-over-line-length-limit", params: []string{"line_length_limit=512"}, packet: []byte("9999:" + ns(simpleMsg) + "513:"), want: "Dnetstring length exceeds storage limit while receiving sender address"},
		{name: "sender-truncated", packet: []byte("30:" + ns(simpleMsg) + "13:a@exam"), wantLog: "lost connection while receiving sender address"},
		{name: "recipient-bad-byte", packet: []byte("99:" + ns(simpleMsg) + ns("a@example.com") + ns("b@example.net") + "x"), want: "Dnetstring format error while receiving recipient address"},
		{name: "recipient-no-comma", packet: []byte("99:" + ns(simpleMsg) + ns("a@example.com") + "3:abcd"), want: "Dnetstring format error while receiving recipient address"},
		{name: "recipient-over-limit", packet: []byte("9999:" + ns(simpleMsg) + ns("a@example.com") + "2049:"), want: "Dnetstring length exceeds storage limit while receiving recipient address"},
		{name: "recipient-missing-end", packet: []byte("99:" + ns(simpleMsg) + ns("a@example.com") + ns("b@example.net")), wantLog: "lost connection while receiving recipient address"},
		{name: "client-resets", packet: []byte("99:" + ns(simpleMsg)), action: reset, wantLog: "lost connection while receiving sender address"},
		{name: "client-stalls", params: []string{"qmqpd_timeout=1s"}, packet: []byte("99:20:Subject"), action: stall, wantLog: "read/write timeout while receiving message content"},
		// Settings.
		{name: "soft-bounce-cleanup", params: []string{"soft_bounce=yes"}, packet: pkt(simpleMsg, "a@example.com"), want: "ZError: no recipients specified"},
		{name: "soft-bounce-format", params: []string{"soft_bounce=yes"}, packet: []byte("x"), want: "Znetstring format error"},
		{name: "soft-bounce-unauthorized", params: []string{"soft_bounce=yes", "qmqpd_authorized_clients="}, want: "ZError: localhost[127.0.0.1] is not authorized"},
		{name: "error-delay", params: []string{"qmqpd_error_delay=1s"}, packet: pkt(simpleMsg, "a@example.com"), want: "DError: no recipients specified", minDelay: time.Second},
		{name: "error-delay-not-for-success", params: []string{"qmqpd_error_delay=30s"}, packet: pkt(simpleMsg, "a@example.com", "b@example.net"), want: "KOk"},
		{name: "content-filter", params: []string{"content_filter=smtp:[127.0.0.1]:10026"}, packet: pkt(simpleMsg, "a@example.com", "b@example.net"), want: "KOk"},
		{name: "receive-override", params: []string{"receive_override_options=no_address_mappings, no_header_body_checks, no_milters, no_unknown_recipient_checks"}, packet: pkt(simpleMsg, "a@example.com", "b@example.net"), want: "KOk"},
		{name: "receive-override-bad", params: []string{"receive_override_options=no_such_option"}, packet: pkt(simpleMsg, "a@example.com", "b@example.net"), wantLog: "fatal: unknown receive_override_options value"},
		{name: "port-logging", params: []string{"qmqpd_client_port_logging=yes"}, packet: pkt(simpleMsg, "a@example.com", "b@example.net"), want: "KOk"},
		{name: "port-logging-error", params: []string{"qmqpd_client_port_logging=yes"}, packet: []byte("x"), want: "Dnetstring format error"},
		{name: "myhostname-mail-name", params: []string{"myhostname=mx.example.com", "mail_name=Mailer"}, packet: pkt(simpleMsg, "a@example.com", "b@example.net"), want: "KOk"},
		{name: "line-length-limit-content", params: []string{"line_length_limit=512"}, packet: pkt("Subject: l\n\n"+long[:1500]+"\n", "a@example.com", "b@example.net"), want: "KOk"},
		{name: "message-size-unlimited", params: []string{"message_size_limit=0"}, packet: pkt(big, "a@example.com", "b@example.net"), want: "KOk"},
		{name: "hopcount-limit", params: []string{"hopcount_limit=3"}, packet: pkt(hops[:4*56]+simpleMsg, "a@example.com", "b@example.net"), want: "DError: too many hops"},
		{name: "smtputf8-sender", params: []string{"smtputf8_enable=yes"}, packet: pkt("Subject: caf\xc3\xa9\n\nx\n", "j\xc3\xb6rg@example.com", "b@example.net"), want: "KOk"},
		{name: "smtputf8-autodetect", params: []string{"smtputf8_enable=yes", "smtputf8_autodetect_classes=qmqpd"}, packet: pkt("Subject: caf\xc3\xa9\n\nx\n", "a@example.com", "b@example.net"), want: "KOk"},
		{name: "long-queue-ids", params: []string{"enable_long_queue_ids=yes"}, packet: pkt(simpleMsg, "a@example.com", "b@example.net"), want: "KOk"},
		{name: "empty-recipient-address", params: []string{"empty_address_recipient=postmaster"}, packet: pkt(simpleMsg, "", ""), want: "KOk"},
		{name: "myorigin", params: []string{"myorigin=origin.example", "append_dot_mydomain=no"}, packet: pkt("Subject: o\nTo: joe, jane@sub\nCc: <@route:x@y>\n\nx\n", "me", "joe"), want: "KOk", rewrite: true},
		{name: "append-dot-mydomain", params: []string{"append_dot_mydomain=yes"}, packet: pkt("Subject: a\nTo: joe@sub, Jane <jane@sub.>\n\nx\n", "me@host", "x@host", "y@host."), want: "KOk", rewrite: true},
		{name: "bang-and-percent", packet: pkt("Subject: b\nTo: host!user, user%host@research.example.org\n\nx\n", "host!me", "host!user", "user%host@research.example.org", "user%host"), want: "KOk"},
		{name: "early-reply-flood", params: []string{"qmqpd_authorized_clients="}, packet: pkt(strings.Repeat(big, 2), "a@example.com", "b@example.net"), action: flood, want: "66:DError: localhost[127.0.0.1] is not authorized to use this service,", improvement: true},
	}
	// Real clients: Postfix's qmqp-source and nullmailer's qmqp module.
	cases = append(cases,
		&corpusCase{name: "client-qmqp-source", want: "<exit 0>", wantLog: "message-id=", client: func(addr string) *exec.Cmd {
			return exec.Command(testenv.RealQmqpSource, "-f", "from@example.org", "-t", "to@example.net", "-m", "1", "-l", "3000", "-M", "client.example.org", addr)
		}},
		// Refusals after the whole packet was read (an early refusal can
		// reach these clients as a reset from Postfix).
		&corpusCase{name: "client-qmqp-source-refused", want: "fatal: unrecoverable error: Error: Invalid VERP delimiters", client: func(addr string) *exec.Cmd {
			return exec.Command(testenv.RealQmqpSource, "-f", "list#@example.org-@[]", "-t", "to@example.net", "-m", "1", addr)
		}},
	)
	if nm := testenv.NullmailerQMQP(); nm != "" || testenv.Required() {
		nullmailer := func(msg string) func(addr string) *exec.Cmd {
			return func(addr string) *exec.Cmd {
				host, port, _ := net.SplitHostPort(addr)
				f, err := os.CreateTemp("", "qdiff-nm-")
				if err == nil {
					f.WriteString(msg)
					f.Seek(0, 0)
					os.Remove(f.Name())
				}
				if nm == "" {
					nm = "nullmailer-qmqp-not-installed"
				}
				cmd := exec.Command(nm)
				cmd.Stdin = strings.NewReader("host=" + host + "\nport=" + port + "\n")
				cmd.ExtraFiles = []*os.File{f} // fd 3: the queued message
				return cmd
			}
		}
		cases = append(cases,
			&corpusCase{name: "client-nullmailer", want: "qmqp: Succeeded: Ok: queued as QID", wantLog: "message-id=", client: nullmailer("from@example.org\nto1@example.net\nto2@example.net\n\nSubject: from nullmailer\n\nbody\n")},
			// nullmailer's null sender is not a netstring Postfix accepts.
			&corpusCase{name: "client-nullmailer-no-sender", wantLog: "netstring format error while receiving sender address", client: nullmailer("\nto@example.net\n\nSubject: bounce\n\nbody\n")},
			&corpusCase{name: "client-nullmailer-refused", params: []string{"soft_bounce=yes"}, want: "qmqp: Failed: Error: Invalid VERP delimiters", client: nullmailer("list#@example.org-@[]\nto@example.net\n\nSubject: x\n\nbody\n")},
		)
	}
	// Access lists: qmqpd_authorized_clients and debug_peer_list.
	for i, l := range []struct {
		list, want string
	}{
		{"", "DError: localhost[127.0.0.1] is not authorized to use this service"},
		{"localhost", "KOk"},
		{"LOCALHOST", "KOk"},
		{".localhost", "DError"},
		{"!127.0.0.1, 127.0.0.0/8", "DError"},
		{"!localhost 127.0.0.1", "DError"},
		{"# comment, 127.0.0.1", "DError"},
		{"127.0.0.1 # comment", "KOk"},
		{"DIR/nonexistent", "ZError: server configuration error"},
		{"DIR/list-deny 127.0.0.1", "DError"},
		{"DIR/list-allow", "KOk"},
		{"!DIR/list-allow 127.0.0.1", "DError"},
		{"inline:{LOCALHOST=ok}", "DError"},
		{"inline:{localhost=ok}", "KOk"},
		{"inline:{ {127.0.0.1 = ok} }", "KOk"},
		{"cidr:DIR/nets.cidr", "KOk"},
		{"cidr:DIR/other.cidr", "DError"},
		{"cidr:DIR/bad.cidr 127.0.0.1", "KOk"},
		{"cidr:{{127.0.0.0/8 ok}}", "KOk"},
		{"[127.0.0.1]", "KOk"},
		{"[127.0.0.0]/8", "KOk"},
		{"127.0.0.1/8", "ZError: server configuration error"},
		{"1.2.3.0/33", "ZError"},
		{"be/be", "ZError"},
		{"{127.0.0.1}", "DError"},
		{"regexp:{{/^local/ ok}}", "KOk"},
		{"regexp:DIR/hosts.re", "KOk"},
		{"regexp:DIR/bad.re", "DError"},
		{"regexp:DIR/deny.re", "KOk"},
		{"pcre:DIR/hosts.pcre", "DError"},
		{"pcre:DIR/ahead.pcre", "KOk"},
		{"pcre:{{/^127\\./ ok}}", "KOk"},
		{"texthash:DIR/hosts.th", "KOk"},
		{"texthash:DIR/missing", "ZError"},
		{"fail:x", "ZError"},
		{"static:{x y}", "KOk"},
		{"localhost.", "DError"},
		{"host", "DError"},
		{"*", "DError"},
		{"unknown 127.0.0.1", "KOk"},
		{"bogus:x", "ZError"},
		{"hash:DIR/missing", "ZError"},
		{"lmdb:DIR/missing", "ZError"},
		{"mysql:DIR/missing", "ZError"},
		{"environ:x", "DError"},
	} {
		c := &corpusCase{
			name:   fmt.Sprintf("authorized-%02d", i),
			params: []string{"qmqpd_authorized_clients=" + l.list},
			packet: pkt(simpleMsg, "a@example.com", "b@example.net"),
			want:   l.want,
		}
		if !strings.HasPrefix(l.want, "K") {
			// qmqpd answers a refused client without reading: a client
			// that sent data would get a reset (see early-reply-flood).
			c.packet = nil
		}
		cases = append(cases, c)
	}
	// IPv6 clients: ::1 has no name here, so the client is unknown[::1].
	for i, v := range []struct {
		params        []string
		packet        []byte
		want, wantLog string
	}{
		{nil, pkt(simpleMsg, "a@example.com", "b@example.net"), "DError: unknown[::1] is not authorized", ""},
		{[]string{"qmqpd_authorized_clients=[::1]"}, pkt(simpleMsg, "a@example.com", "b@example.net"), "KOk", ""},
		// A bare IPv6 address looks like a "type:name" table.
		{[]string{"qmqpd_authorized_clients=::1"}, nil, "", `fatal: open dictionary: expecting "type:name" form instead of "::1"`},
		{[]string{"qmqpd_authorized_clients=[::1]/128", "qmqpd_client_port_logging=yes"}, pkt(simpleMsg, "a@example.com", "b@example.net"), "KOk", ""},
		{[]string{"qmqpd_authorized_clients=[::]/0"}, pkt(simpleMsg, "a@example.com", "b@example.net", "c@example.net"), "KOk", ""},
		{[]string{"qmqpd_authorized_clients=cidr:DIR/hosts.cidr6"}, []byte("x"), "Dnetstring format error", ""},
		{[]string{"qmqpd_authorized_clients=unknown"}, pkt("Subject: v6\n\nbody\n", "", "b@example.net"), "KOk", ""},
		{[]string{"qmqpd_authorized_clients=!unknown [::1]"}, nil, "DError", ""},
		{[]string{"qmqpd_authorized_clients=[::1]/64"}, nil, "ZError: server configuration error", ""},
	} {
		params := v.params
		if params == nil {
			params = []string{"qmqpd_authorized_clients=127.0.0.1"}
		}
		packet := v.packet
		if !strings.HasPrefix(v.want, "K") && !strings.HasPrefix(v.want, "Dnetstring") {
			packet = nil
		}
		cases = append(cases, &corpusCase{name: fmt.Sprintf("ipv6-%02d", i), params: params, packet: packet, want: v.want, wantLog: v.wantLog, v6: true})
	}
	for i, l := range []string{"127.0.0.1", "bogus:x", "DIR/list-bang", "fail:x"} {
		cases = append(cases, &corpusCase{
			name:   fmt.Sprintf("debug-peer-%02d", i),
			params: []string{"debug_peer_list=" + l},
			packet: pkt(simpleMsg, "a@example.com", "b@example.net"),
		})
	}
	return cases
}

// knownDiff is a difference between our server and Postfix's that has been
// reported to the owner of the code concerned (or is deliberate, and
// documented). The test fails when it no longer shows.
type knownDiff struct {
	caseName string
	side     string // sideService or sideBuiltin
	part     string // "reply", "log" or "queue"
	// contains must occur in the go-cmp diff, so that the entry covers
	// only the difference it describes.
	contains string
	why      string
}

var knownDiffs = []knownDiff{
	// hash (Berkeley DB) tables are not implemented: like every table
	// type we lack, they fail the way Postfix fails for a type it lacks
	// (docs/compatibility.md, "QMQP protocol and access lists").
	{"authorized-41", sideService, "log", "unsupported dictionary type: hash", "by design: no hash tables"},
	{"authorized-41", sideBuiltin, "log", "unsupported dictionary type: hash", "by design: no hash tables"},
	// Go's regexp has no lookaround; such a pcre rule is skipped with a
	// warning, so the client is not authorized (docs/compatibility.md).
	{"authorized-30", sideService, "reply", "is not authorized", "by design: pcre lookaround unsupported"},
	{"authorized-30", sideService, "log", "lookaround and atomic groups are not supported", "by design: pcre lookaround unsupported"},
	{"authorized-30", sideService, "queue", "file QID mode 0700", "by design: pcre lookaround unsupported"},
	{"authorized-30", sideBuiltin, "reply", "is not authorized", "by design: pcre lookaround unsupported"},
	{"authorized-30", sideBuiltin, "log", "lookaround and atomic groups are not supported", "by design: pcre lookaround unsupported"},
	{"authorized-30", sideBuiltin, "queue", "file QID mode 0700", "by design: pcre lookaround unsupported"},
	// debug_peer_list raises Postfix's verbose logging, whose lines trace
	// Postfix's internals; we match the list but log nothing extra
	// (docs/compatibility.md).
	{"debug-peer-00", sideService, "log", "match_hostname: qmqpd_authorized_clients", "by design: no verbose trace lines"},
	{"debug-peer-00", sideBuiltin, "log", "match_hostname: qmqpd_authorized_clients", "by design: no verbose trace lines"},
}

func findKnown(caseName, side, part string) *knownDiff {
	for i := range knownDiffs {
		k := &knownDiffs[i]
		if k.caseName == caseName && k.side == side && k.part == part {
			return k
		}
	}
	return nil
}

// Our binary under master(8) (QDIFF_BINARY=1).
const (
	sideBinService = "binary-service"
	sideBinBuiltin = "binary-builtin"
)

// buildQmqpd compiles cmd/qmqpd where master(8) can run it.
func buildQmqpd(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "qmqpd")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/qmqpd-go/qmqpd/cmd/qmqpd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// shardCount instances share the corpus; each runs its cases one after the
// other (the log and incoming/ are per instance).
const shardCount = 4

func TestCorpus(t *testing.T) {
	cases := corpus()
	if len(cases) < 40 {
		t.Fatalf("corpus has %d cases, want at least 40", len(cases))
	}
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("duplicate case %s", c.name)
		}
		seen[c.name] = true
	}
	dataDir, err := os.MkdirTemp("", "qdiff-data-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	if err := os.Chmod(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range dataFiles {
		if err := os.WriteFile(filepath.Join(dataDir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if l, err := net.Listen("tcp", "[::1]:0"); err != nil {
		// Some containers have no IPv6 loopback; the rest still runs.
		t.Logf("no IPv6 loopback (%v): IPv6 cases skipped", err)
		var v4 []*corpusCase
		for _, c := range cases {
			if !c.v6 {
				v4 = append(v4, c)
			}
		}
		cases = v4
	} else {
		l.Close()
	}
	var used sync.Map
	held := reservePorts(t, cases)
	// The real outcome of each case, for the runs of our binary.
	reals := map[*corpusCase]*realOutcome{}
	for _, c := range cases {
		reals[c] = &realOutcome{done: make(chan struct{})}
	}
	// With QDIFF_BINARY=1, our cmd/qmqpd also runs in place of Postfix's
	// qmqpd under the real master(8), in both cleanup modes (more
	// instances: not part of the default run).
	type binSide struct {
		side   string
		mainCF map[string]string
		held   map[*corpusCase]net.Listener
	}
	var binSides []binSide
	var bin string
	if os.Getenv("QDIFF_BINARY") != "" {
		bin = buildQmqpd(t)
		binSides = []binSide{
			{sideBinService, nil, reservePorts(t, cases)},
			{sideBinBuiltin, map[string]string{"qmqpd_cleanup_mode": "builtin"}, reservePorts(t, cases)},
		}
	}
	// Spread the cases by cost: a case that waits for a timeout or an
	// error delay costs about as much as a dozen others.
	shards := make([][]*corpusCase, shardCount+1)
	cost := make([]int, shardCount)
	for _, c := range cases {
		if c.v6 {
			shards[shardCount] = append(shards[shardCount], c)
			continue
		}
		best := 0
		for i := range cost {
			if cost[i] < cost[best] {
				best = i
			}
		}
		shards[best] = append(shards[best], c)
		cost[best]++
		if c.action == stall || c.minDelay > 0 || strings.HasSuffix(c.name, "-refused") {
			cost[best] += 12
		}
	}
	// The shards mostly wait for Postfix's processes, so they all run at
	// once, whatever -test.parallel says (t.Run from several goroutines).
	var wg sync.WaitGroup
	for s, mine := range shards {
		if len(mine) == 0 {
			continue
		}
		var extra map[string]string
		if s == shardCount {
			extra = map[string]string{"inet_protocols": "all"}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(fmt.Sprintf("shard%d", s), func(t *testing.T) {
				defer func() {
					for _, c := range mine {
						reals[c].finish(outcome{Reply: "<the real run failed>"})
					}
				}()
				sh := startShard(t, mine, dataDir, extra, held, "")
				for _, c := range mine {
					t.Run(c.name, func(t *testing.T) {
						runCase(t, sh, c, dataDir, &used, reals)
					})
				}
			})
		}()
		for _, b := range binSides {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.Run(fmt.Sprintf("%s%d", b.side, s), func(t *testing.T) {
					ex := map[string]string{}
					for k, v := range extra {
						ex[k] = v
					}
					for k, v := range b.mainCF {
						ex[k] = v
					}
					sh := startShard(t, mine, dataDir, ex, b.held, bin)
					for _, c := range mine {
						t.Run(c.name, func(t *testing.T) {
							runBinaryCase(t, sh, c, b.side, dataDir, reals)
						})
					}
				})
			}()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t.Run("client", clientChecks)
	}()
	wg.Wait()
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		for _, k := range knownDiffs {
			if _, ran := used.Load(k.caseName); !ran {
				continue // not selected by -run
			}
			if _, ok := used.Load(k.caseName + "/" + k.side + "/" + k.part); !ok {
				t.Errorf("knownDiffs entry %s/%s/%s matches no case run", k.caseName, k.side, k.part)
			}
		}
	})
}

// realOutcome is the real qmqpd's outcome of a case, once done is closed.
type realOutcome struct {
	done chan struct{}
	once sync.Once
	out  outcome
}

// finish publishes the outcome (the first call wins).
func (r *realOutcome) finish(o outcome) {
	r.once.Do(func() {
		r.out = o
		close(r.done)
	})
}

// unDir writes the data directory as DIR.
func unDir(o outcome, dataDir string) outcome {
	o.Reply = strings.ReplaceAll(o.Reply, dataDir, "DIR")
	for i := range o.Log {
		o.Log[i] = strings.ReplaceAll(o.Log[i], dataDir, "DIR")
	}
	return o
}

// runBinaryCase sends c to our qmqpd binary under master(8) and compares
// with the real qmqpd's outcome. Known differences are those of the
// in-process run in the same cleanup mode.
func runBinaryCase(t *testing.T, sh *shard, c *corpusCase, side, dataDir string, reals map[*corpusCase]*realOutcome) {
	ours := unDir(sh.run(t, c, sideReal), dataDir)
	select {
	case <-reals[c].done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the real qmqpd's run of this case did not finish")
	}
	real := reals[c].out
	if os.Getenv("QDIFF_SHOW") != "" {
		t.Logf("our binary: reply %q\nlog:\n%s", ours.Reply, strings.Join(ours.Log, "\n"))
	}
	knownSide := sideService
	if side == sideBinBuiltin {
		knownSide = sideBuiltin
	}
	parts := []struct {
		name       string
		real, ours any
	}{
		{"reply", real.Reply, ours.Reply},
		{"log", real.Log, ours.Log},
		{"queue", real.Queue, ours.Queue},
	}
	if c.improvement {
		if ours.Reply != c.want {
			t.Errorf("reply %q, want %q (improvement over Postfix)", ours.Reply, c.want)
		}
		parts = parts[1:]
	}
	for _, p := range parts {
		diff := cmp.Diff(p.real, p.ours)
		k := findKnown(c.name, knownSide, p.name)
		switch {
		case k != nil && diff != "" && !strings.Contains(diff, k.contains):
			t.Errorf("%s differs from real qmqpd beyond the known difference (%s) (-real +ours):\n%s", p.name, k.why, diff)
		case k == nil && diff != "":
			t.Errorf("%s differs from real qmqpd (-real +ours):\n%s", p.name, diff)
		}
	}
}

// runCase sends c to the three servers and compares.
func runCase(t *testing.T, sh *shard, c *corpusCase, dataDir string, used *sync.Map, reals map[*corpusCase]*realOutcome) {
	used.Store(c.name, true)
	defer reals[c].finish(outcome{Reply: "<the real run failed>"})
	real := unDir(sh.run(t, c, sideReal), dataDir)
	reals[c].finish(real)
	if os.Getenv("QDIFF_SHOW") != "" {
		t.Logf("real reply %q", real.Reply)
	}
	if !strings.Contains(real.Reply, c.want) && !c.improvement {
		t.Errorf("real qmqpd replied %q, want it to contain %q", real.Reply, c.want)
	}
	if real.took < c.minDelay {
		t.Errorf("real qmqpd replied after %v, before qmqpd_error_delay %v", real.took, c.minDelay)
	}
	if !strings.Contains(strings.Join(real.Log, "\n"), c.wantLog) {
		t.Errorf("real log does not contain %q:\n%s", c.wantLog, strings.Join(real.Log, "\n"))
	}
	for _, side := range []string{sideService, sideBuiltin} {
		ours := unDir(sh.run(t, c, side), dataDir)
		if ours.took < c.minDelay {
			t.Errorf("%s: replied after %v, before qmqpd_error_delay %v", side, ours.took, c.minDelay)
		}
		parts := []struct {
			name       string
			real, ours any
		}{
			{"reply", real.Reply, ours.Reply},
			{"log", real.Log, ours.Log},
			{"queue", real.Queue, ours.Queue},
		}
		if c.improvement {
			if ours.Reply != c.want {
				t.Errorf("%s: reply %q, want %q (improvement over Postfix)", side, ours.Reply, c.want)
			}
			t.Logf("real qmqpd's reply: %q", real.Reply)
			parts = parts[1:]
		}
		for _, p := range parts {
			diff := cmp.Diff(p.real, p.ours)
			k := findKnown(c.name, side, p.name)
			if k != nil {
				used.Store(c.name+"/"+side+"/"+p.name, true)
			}
			switch {
			case k != nil && diff == "":
				t.Errorf("%s %s: known difference (%s) no longer shows: remove it from knownDiffs", side, p.name, k.why)
			case k != nil && !strings.Contains(diff, k.contains):
				t.Errorf("%s %s differs from real qmqpd beyond the known difference (%s) (-real +ours):\n%s", side, p.name, k.why, diff)
			case k == nil && diff != "":
				t.Errorf("%s %s differs from real qmqpd (-real +ours):\n%s", side, p.name, diff)
			}
		}
	}
	if t.Failed() {
		short := func(lines []string) string {
			var b strings.Builder
			for _, l := range lines {
				if len(l) > 200 {
					l = l[:200] + "..."
				}
				b.WriteString(l + "\n")
			}
			return b.String()
		}
		t.Logf("real outcome: reply %q\nlog:\n%squeue:\n%s", real.Reply, short(real.Log), short(real.Queue))
	}
}
