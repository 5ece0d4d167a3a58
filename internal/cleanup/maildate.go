package cleanup

import "time"

// AppendMailDate appends t in loc (nil = time.Local) as MailDate formats it,
// for callers that build records without allocating (qmqpd's Received:
// header).
func AppendMailDate(dst []byte, t time.Time, loc *time.Location) []byte {
	return appendMailDate(dst, t, loc)
}
