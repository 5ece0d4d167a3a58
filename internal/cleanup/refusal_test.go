package cleanup

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// simpleRecords are the records qmqpd sends for a small message.
func simpleRecords() []rec {
	records, _ := qmqpdRecords(submission{
		msg: []byte("Subject: s\n\nbody\n"), sender: "a@example.com", rcpts: []string{"b@example.net"},
		arrival: time.Unix(1795530772, 0), port: "40000", lineLimit: 2048,
		hostname: "research.example.org", queueID: "ABC123",
	}, "-=+")
	return records
}

// TestRefusal checks that every cleanup feature this package does not
// implement makes the message fail temporarily, with a reason naming the
// parameter, when main.cf turns it on; and that receive_override_options
// switching the feature off lets the message through, as in Postfix.
func TestRefusal(t *testing.T) {
	type feature struct {
		param, value, override string // override: the receive_override_options value that turns it off
	}
	features := []feature{
		{"canonical_maps", "hash:/etc/postfix/canonical", "no_address_mappings"},
		{"sender_canonical_maps", "inline:{a=b}", "no_address_mappings"},
		{"recipient_canonical_maps", "regexp:/etc/postfix/rc", "no_address_mappings"},
		{"masquerade_domains", "example.com", "no_address_mappings"},
		{"virtual_alias_maps", "hash:/etc/postfix/virtual", "no_address_mappings"},
		{"always_bcc", "archive@example.com", "no_address_mappings"},
		{"sender_bcc_maps", "hash:/etc/postfix/sbcc", "no_address_mappings"},
		{"recipient_bcc_maps", "hash:/etc/postfix/rbcc", "no_address_mappings"},
		{"header_checks", "regexp:/etc/postfix/header_checks", "no_header_body_checks"},
		{"mime_header_checks", "regexp:/etc/postfix/mime", "no_header_body_checks"},
		{"nested_header_checks", "regexp:/etc/postfix/nested", "no_header_body_checks"},
		{"body_checks", "regexp:/etc/postfix/body_checks", "no_header_body_checks"},
		{"message_reject_characters", "\\0", "no_header_body_checks"},
		{"message_strip_characters", "\\0", "no_header_body_checks"},
		{"strict_7bit_headers", "yes", "no_header_body_checks"},
		{"strict_8bitmime", "yes", "no_header_body_checks"},
		{"strict_8bitmime_body", "yes", "no_header_body_checks"},
		{"strict_mime_encoding_domain", "yes", "no_header_body_checks"},
		{"non_smtpd_milters", "inet:127.0.0.1:9999", "no_milters"},
	}
	if len(features) != len(unsupportedParams)+len(unsupportedBools) {
		t.Fatalf("test covers %d features, the package lists %d", len(features), len(unsupportedParams)+len(unsupportedBools))
	}
	for _, f := range features {
		t.Run(f.param, func(t *testing.T) {
			s := settingsFor(t, map[string]string{f.param: f.value})
			store := &memStore{}
			status, reason, file, log := runCleanup(t, s, store, time.Unix(1795530772, 0), simpleRecords())
			if status != StatDefer || file != nil {
				t.Fatalf("status %#x, file %v: want a temporary refusal", status, file != nil)
			}
			wantReason := "4.3.5 cleanup: " + f.param + " is not supported by this server"
			if reason != wantReason {
				t.Errorf("reason %q, want %q", reason, wantReason)
			}
			if code, text := Reply(status, reason, "ABC123"); code != 'Z' || text != "Error: "+wantReason {
				t.Errorf("reply %c %q", code, text)
			}
			if len(log) == 0 || !strings.Contains(log[0], f.param+" = ") || !strings.HasPrefix(log[0], "warning: ABC123: ") {
				t.Errorf("log %q does not name the parameter", log)
			}
			if !store.files[0].aborted {
				t.Errorf("queue file not removed")
			}

			// Switched off by receive_override_options: queued.
			s = settingsFor(t, map[string]string{f.param: f.value, "receive_override_options": "no_unknown_recipient_checks, " + f.override})
			store = &memStore{}
			status, _, file, log = runCleanup(t, s, store, time.Unix(1795530772, 0), simpleRecords())
			if status != StatOK || file == nil {
				t.Errorf("with receive_override_options = %s: status %#x, log %q", f.override, status, log)
			}

			// Another override does not switch it off.
			other := map[string]string{"no_address_mappings": "no_milters", "no_header_body_checks": "no_address_mappings", "no_milters": "no_header_body_checks"}[f.override]
			s = settingsFor(t, map[string]string{f.param: f.value, "receive_override_options": other})
			status, _, _, _ = runCleanup(t, s, &memStore{}, time.Unix(1795530772, 0), simpleRecords())
			if status != StatDefer {
				t.Errorf("with receive_override_options = %s: status %#x, want a refusal", other, status)
			}
		})
	}
}

// TestRefusalDefaults checks that Postfix's defaults (and the empty
// defaults that refer to other empty parameters, such as
// mime_header_checks = $header_checks) turn on nothing unsupported, and
// that smtpd_milters, which Postfix's qmqpd never applies, is not refused.
func TestRefusalDefaults(t *testing.T) {
	for _, cf := range []map[string]string{nil, {"smtpd_milters": "inet:127.0.0.1:9999", "milter_header_checks": "regexp:/x"}} {
		s := settingsFor(t, cf)
		if len(s.Unsupported) != 0 {
			t.Errorf("%v: unsupported features %v", cf, s.Unsupported)
		}
		status, _, file, log := runCleanup(t, s, &memStore{}, time.Unix(1795530772, 0), simpleRecords())
		if status != StatOK || file == nil {
			t.Errorf("%v: status %#x, log %q", cf, status, log)
		}
	}
	// header_checks also sets the default of mime_ and nested_header_checks;
	// the refusal names the first parameter.
	s := settingsFor(t, map[string]string{"header_checks": "regexp:/x"})
	var names []string
	for _, f := range s.Unsupported {
		names = append(names, f.Param)
	}
	if got := strings.Join(names, " "); got != "header_checks mime_header_checks nested_header_checks" {
		t.Errorf("features %q", got)
	}
	_, reason, _, _ := runCleanup(t, s, &memStore{}, time.Unix(1795530772, 0), simpleRecords())
	if !strings.Contains(reason, " header_checks ") {
		t.Errorf("reason %q", reason)
	}
}

// TestReply checks the mapping of cleanup status bits onto qmqpd replies.
func TestReply(t *testing.T) {
	for _, c := range []struct {
		status int
		reason string
		code   byte
		text   string
	}{
		{StatOK, "", 'K', "Ok: queued as QID"},
		{StatDefer, "4.3.5 x", 'Z', "Error: 4.3.5 x"},
		{StatDefer | StatSize, "4.3.5 x", 'Z', "Error: 4.3.5 x"},
		{StatBad, "", 'Z', "Error: internal error 1"},
		{StatSize, "", 'D', "Error: message too large"},
		{StatSize | StatWrite, "", 'D', "Error: message too large"},
		{StatHops, "", 'D', "Error: too many hops"},
		{StatCont, "5.7.1 no", 'D', "Error: 5.7.1 no"},
		{StatCont, "4.7.1 later", 'Z', "Error: 4.7.1 later"},
		{StatWrite, "", 'Z', "Error: queue file write error"},
		{StatRcpt, "", 'D', "Error: no recipients specified"},
		{1 << 12, "", 'Z', "Error: internal error 4096"},
	} {
		code, text := Reply(c.status, c.reason, "QID")
		if code != c.code || text != c.text {
			t.Errorf("Reply(%#x, %q) = %c %q, want %c %q", c.status, c.reason, code, text, c.code, c.text)
		}
	}
}

// TestWriteError checks that a queue file write error fails the message
// temporarily and removes the file.
func TestWriteError(t *testing.T) {
	s := settingsFor(t, nil)
	store := &memStore{failAfter: 100, failErr: syscall.ENOSPC}
	records, _ := qmqpdRecords(submission{
		msg: []byte("Subject: s\n\n" + strings.Repeat("body line\n", 2000)), sender: "a@example.com", rcpts: []string{"b@example.net"},
		arrival: time.Unix(1795530772, 0), port: "40000", lineLimit: 2048, hostname: "h", queueID: "ABC123",
	}, "-=+")
	status, _, file, log := runCleanup(t, s, store, time.Unix(1795530772, 0), records)
	if status != StatWrite || file != nil || !store.files[0].aborted {
		t.Fatalf("status %#x, file %v", status, file != nil)
	}
	if code, text := Reply(status, "", "ABC123"); code != 'Z' || text != "Error: queue file write error" {
		t.Errorf("reply %c %q", code, text)
	}
	if !strings.Contains(strings.Join(log, "\n"), "\nwarning: ABC123: write queue file: No space left on device\n") {
		t.Errorf("log %q", log)
	}
}
