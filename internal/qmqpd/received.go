package qmqpd

import (
	"fmt"
	"strings"
	"time"
)

// ReceivedHeader returns the three lines of the Received: header Postfix's
// qmqpd puts in front of the message. The recipient is named only when
// exactly one was received (rcptCount counts recipients as sent, duplicates
// included).
func ReceivedHeader(p Peer, hostname, mailName, queueID string, rcptCount int, firstRcpt string, arrival time.Time) []string {
	lines := []string{fmt.Sprintf("Received: from %s (%s [%s])", p.Name, p.Name, p.RFCAddr)}
	if rcptCount == 1 {
		lines = append(lines,
			fmt.Sprintf("\tby %s (%s) with QMQP id %s", hostname, mailName, queueID),
			fmt.Sprintf("\tfor <%s>; %s", Quote822Local(cString(firstRcpt)), MailDate(arrival)))
	} else {
		lines = append(lines,
			fmt.Sprintf("\tby %s (%s) with QMQP", hostname, mailName),
			fmt.Sprintf("\tid %s; %s", queueID, MailDate(arrival)))
	}
	return lines
}

// cString cuts s at its first NUL byte, as a C string would end there.
func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// MailDate formats t like Postfix's mail_date(): "Tue, 24 Nov 2026
// 14:32:52 +0000 (UTC)" in t's location, with the day of the month padded
// by a space.
func MailDate(t time.Time) string {
	_, off := t.Zone()
	mins := off / 60
	// Postfix prints the hours with a sign and the minutes as an absolute
	// value, so an offset between -1h and 0 comes out as "+00MM".
	zone := t.Format("MST")
	return fmt.Sprintf("%s %+03d%02d (%s)", t.Format("Mon, _2 Jan 2006 15:04:05"), mins/60, abs(mins)%60, zone)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// Quote822Local quotes the local part of an address when it is not an RFC
// 822 dot-string, like Postfix's quote_822_local() (8-bit clean): a b@x
// becomes "a b"@x, and an empty address becomes "".
func Quote822Local(mbox string) string {
	start := 0
	if strings.HasPrefix(mbox, "@") {
		if c := strings.IndexByte(mbox, ':'); c >= 0 {
			start = c + 1
		}
	}
	end := strings.LastIndexByte(mbox[start:], '@')
	if end < 0 {
		end = len(mbox)
	} else {
		end += start
	}
	local := mbox[start:end]
	if isDotString(local) {
		return mbox
	}
	var b strings.Builder
	b.WriteString(mbox[:start])
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c == '"' || c == '\\' || c == '\r' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	b.WriteString(mbox[end:])
	return b.String()
}

func isDotString(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' && i+1 < len(s) && s[i+1] == '.':
			return false
		case c == ' ' || c < 0x20 || c == 0x7f:
			return false
		case strings.IndexByte("()<>@,;:\\\"[]", c) >= 0:
			return false
		}
	}
	return true
}
