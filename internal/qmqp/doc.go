// Package qmqp implements the wire side of QMQP, the Quick Mail Queuing
// Protocol, the way Postfix 3.7's qmqpd(8) speaks it.
//
// A QMQP packet is one netstring that holds the message netstring, the
// sender netstring and one netstring per recipient. Reader parses a packet
// as a stream with Postfix's rules: the outer length is read but not
// trusted, the recipient list ends at the outer comma, length fields may be
// empty or zero-padded, and every limit is checked before any memory is set
// aside for a field. Parse failures are *Error values whose text is exactly
// what qmqpd puts in its reply and its log ("netstring format error while
// receiving message content", "lost connection while receiving sender
// address", ...).
//
// WriteReply and the Reply helpers produce the one status netstring a
// server sends (K, Z or D); ReplyEarly sends a reply before the packet has
// been read without provoking a TCP reset. Client sends a packet the way
// qmail-qmqpc does and parses the reply.
package qmqp
