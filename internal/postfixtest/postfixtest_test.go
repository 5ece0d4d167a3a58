package postfixtest

import (
	"bytes"
	"strings"
	"testing"
)

func TestSendAndCollect(t *testing.T) {
	inst := Start(t, nil)
	reply := inst.SendQMQP(Packet([]byte("Subject: x\n\nbody\n"), "a@example.com", "b@example.net"))
	if !bytes.HasPrefix(reply, []byte("2")) || !bytes.Contains(reply, []byte(":KOk: queued as ")) {
		t.Fatalf("reply %q", reply)
	}
	files := inst.IncomingFiles()
	if len(files) != 1 {
		t.Fatalf("%d files in incoming, want 1", len(files))
	}
	for id, b := range files {
		if !bytes.Contains(reply, []byte(id)) {
			t.Errorf("reply %q does not name file %s", reply, id)
		}
		if b[0] != 'C' {
			t.Errorf("file starts with %q", b[:1])
		}
		out, errOut, err := inst.Postcat("-e", "-v", inst.QueueDir+"/incoming/"+id)
		if err != nil || !strings.Contains(out, "recipient: b@example.net") {
			t.Errorf("postcat: %v\n%s\n%s", err, out, errOut)
		}
	}
	var sawMsgID bool
	for _, l := range inst.LogLines() {
		if strings.HasPrefix(l, "cleanup: ") && strings.Contains(l, ": message-id=<") {
			sawMsgID = true
		}
	}
	if !sawMsgID {
		t.Errorf("no cleanup message-id line in log:\n%s", inst.Log())
	}
}
