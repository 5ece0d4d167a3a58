package qmqpd

import (
	"strings"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/cleanup"
)

// ReceivedHeader returns the three lines of the Received: header Postfix's
// qmqpd puts in front of the message. The recipient is named only when
// exactly one was received (rcptCount counts recipients as sent, duplicates
// included).
func ReceivedHeader(p Peer, hostname, mailName, queueID string, rcptCount int, firstRcpt string, arrival time.Time) []string {
	buf, ends := AppendReceivedHeader(nil, p, hostname, mailName, queueID, rcptCount, firstRcpt, arrival)
	lines := make([]string, len(ends))
	start := 0
	for i, end := range ends {
		lines[i] = string(buf[start:end])
		start = end
	}
	return lines
}

// AppendReceivedHeader appends the lines of ReceivedHeader to dst, one
// after the other without separators, and returns the result and the
// offset in it where each line ends.
func AppendReceivedHeader(dst []byte, p Peer, hostname, mailName, queueID string, rcptCount int, firstRcpt string, arrival time.Time) ([]byte, [3]int) {
	var ends [3]int
	dst = append(dst, "Received: from "...)
	dst = append(dst, p.Name...)
	dst = append(dst, " ("...)
	dst = append(dst, p.Name...)
	dst = append(dst, " ["...)
	dst = append(dst, p.RFCAddr...)
	dst = append(dst, "])"...)
	ends[0] = len(dst)
	dst = append(dst, "\tby "...)
	dst = append(dst, hostname...)
	dst = append(dst, " ("...)
	dst = append(dst, mailName...)
	if rcptCount == 1 {
		dst = append(dst, ") with QMQP id "...)
		dst = append(dst, queueID...)
		ends[1] = len(dst)
		dst = append(dst, "\tfor <"...)
		dst = append(dst, Quote822Local(cString(firstRcpt))...)
		dst = append(dst, ">; "...)
	} else {
		dst = append(dst, ") with QMQP"...)
		ends[1] = len(dst)
		dst = append(dst, "\tid "...)
		dst = append(dst, queueID...)
		dst = append(dst, "; "...)
	}
	dst = cleanup.AppendMailDate(dst, arrival, arrival.Location())
	ends[2] = len(dst)
	return dst, ends
}

// cString cuts s at its first NUL byte, as a C string would end there.
func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
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
