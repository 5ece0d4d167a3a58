package qmqpd

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/qmqpd-go/qmqpd/internal/postfixtest"
	"github.com/qmqpd-go/qmqpd/internal/qmqp"
	"github.com/qmqpd-go/qmqpd/internal/qmqpsend"
)

// clientChecks sends with our QMQP client (package qmqp) and our qmqp-send
// command to the real qmqpd: the messages must be queued as sent, and the
// real server's refusals must come back as the replies and exit statuses
// qmail-qmqpc gives.
func clientChecks(t *testing.T) {
	inst := postfixtest.Start(t, map[string]string{"max_use": "100000"})

	// The Go client, a server that cannot be reached first.
	c := &qmqp.Client{Servers: []string{"127.0.0.1:1", inst.Addr}}
	msg := []byte("Subject: from our client\n\nbody\n")
	reply, err := c.Send(context.Background(), msg, "a@example.com", []string{"b@example.net", "c@example.net"})
	if err != nil || reply.Code != qmqp.StatusOK || !strings.HasPrefix(reply.Text, "Ok: queued as ") {
		t.Fatalf("Send: %v %q", err, reply)
	}
	id := strings.TrimPrefix(reply.Text, "Ok: queued as ")
	files := inst.IncomingFiles()
	if len(files) != 1 || files[id] == nil {
		t.Fatalf("incoming holds %d files, not %s", len(files), id)
	}
	out, errOut, err := inst.Postcat("-e", "-b", "-h", inst.QueueDir+"/incoming/"+id)
	for _, want := range []string{"sender: a@example.com", "recipient: b@example.net", "recipient: c@example.net", "Subject: from our client", "body"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("postcat: %q missing (%v)\n%s%s", want, err, out, errOut)
		}
	}
	inst.ClearIncoming()

	// A refusal from the real server: no recipients.
	reply, err = c.Send(context.Background(), msg, "a@example.com", nil)
	if err != nil || reply.String() != "DError: no recipients specified" {
		t.Errorf("no recipients: %v %q", err, reply)
	}

	// qmqp-send, with the message on standard input.
	var stdout, stderr bytes.Buffer
	status := qmqpsend.Run([]string{"qmqp-send", "-s", inst.Addr, "-f", "s@example.com", "r@example.net"},
		func(string) string { return "" }, strings.NewReader("Subject: qmqp-send\n\nhello\n"), &stdout, &stderr)
	if status != qmqpsend.ExitOK || !strings.HasPrefix(stdout.String(), "K Ok: queued as ") {
		t.Errorf("qmqp-send: status %d, stdout %q, stderr %q", status, stdout.String(), stderr.String())
	}
	files = inst.IncomingFiles()
	if len(files) != 1 {
		t.Errorf("qmqp-send: incoming holds %d files", len(files))
	}
	stdout.Reset()
	stderr.Reset()
	status = qmqpsend.Run([]string{"qmqp-send", "-s", inst.Addr, "-f", "list#@example.com-@[]", "r@example.net"},
		func(string) string { return "" }, strings.NewReader("Subject: qmqp-send\n\nhello\n"), &stdout, &stderr)
	if status != qmqpsend.ExitHard {
		t.Errorf("qmqp-send with a bad VERP sender: status %d, stdout %q, stderr %q", status, stdout.String(), stderr.String())
	}
}
