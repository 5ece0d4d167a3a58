// Package cleanup is a built-in replacement for Postfix 3.7.11's cleanup(8)
// daemon, for mail submitted by qmqpd: it takes the same records Postfix's
// qmqpd sends to cleanup (T, optional L, S, optional V, the A attributes, R
// recipients, M, the content as N/L text records, X, E), canonicalizes the
// envelope and the message headers exactly as cleanup does with the same
// settings, and writes a queue file in $queue_directory/incoming that Postfix
// cannot tell from one its own cleanup wrote.
//
// Use:
//
//	c := &cleanup.Cleanup{Settings: s, Store: cleanup.QueueStore{Queue: q}, Log: logf}
//	st, err := c.Open(ctx, cleanup.FlagMaskExternal) // queue file exists, st.ID() known
//	st.Record('T', []byte("1795530772 599664"))
//	...                                              // the records, in qmqpd's order
//	st.Record('E', nil)
//	status, reason := st.Finish()                    // 0 = queued (file ready)
//
// Status bits are Postfix's CLEANUP_STAT_* values; Reply maps them onto the
// exact reply qmqpd sends. Log lines are handed to the LogFunc in Postfix's
// words ("QID: message-id=<...>"), never printed.
//
// The content is streamed: records are processed as they arrive and written
// through a 4 KiB-buffered writer, so memory use per message is bounded by
// header_size_limit plus line_length_limit plus the duplicate-recipient
// filter (duplicate_filter_limit keys), whatever the message size. The
// buffers, token storage and sets a message uses are kept by its Cleanup
// (in a sync.Pool) when it ends and reused by later messages, so that a
// small message costs only a couple of heap allocations; buffers that
// grew beyond 64 KiB are not kept.
//
// Features of cleanup this package does not implement (lookup tables,
// masquerading, automatic BCC, header/body checks, milters, ...) are never
// silently skipped: when main.cf turns one on and the processing flags do not
// switch it off, the message is refused with a temporary error that names the
// parameter (see Settings.Unsupported).
package cleanup

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Processing flags (Postfix's CLEANUP_FLAG_* bits) a submission service
// passes to Open.
const (
	FlagFilter   = 1 << 1 // header/body checks allowed
	FlagBCCOK    = 1 << 4 // automatic BCC allowed
	FlagMapOK    = 1 << 5 // address mappings allowed
	FlagMilter   = 1 << 6 // milters allowed
	FlagAutoUTF8 = 1 << 9 // detect SMTPUTF8 from the content
	// FlagMaskExternal is what a network service such as qmqpd starts from,
	// before receive_override_options.
	FlagMaskExternal = FlagFilter | FlagBCCOK | FlagMapOK | FlagMilter
)

// Status bits (Postfix's CLEANUP_STAT_*). 0 means the message was queued.
const (
	StatOK    = 0
	StatBad   = 1 << 0 // internal protocol error
	StatWrite = 1 << 1 // error writing the queue file
	StatSize  = 1 << 2 // queue file too large
	StatCont  = 1 << 3 // content rejected
	StatHops  = 1 << 4 // too many hops
	StatRcpt  = 1 << 6 // no recipients
	StatDefer = 1 << 8 // temporary reject
)

// LogFunc receives one line cleanup would log, in Postfix's words and
// without the "postfix/cleanup[pid]: " prefix. For warnings, warning is true
// and text does not include the "warning: " label.
type LogFunc func(warning bool, text string)

// Cleanup makes queue files from submitted messages. Its zero value is not
// usable: Settings and Store are required. One Cleanup may open streams
// from many goroutines at once; it must not be copied after first use.
type Cleanup struct {
	// Settings are the main.cf parameters cleanup uses.
	Settings *Settings
	// Store creates queue files (QueueStore for a real queue directory).
	Store Store
	// Log receives log lines (nil = discard).
	Log LogFunc
	// Now is the clock for create_time (nil = time.Now).
	Now func() time.Time

	// pool holds the reusable memory (*work) of finished messages.
	pool sync.Pool
}

// Open starts one message: the queue file is created at once (so its queue
// ID is known) and the returned Stream takes the message's records. flags
// are the processing flags (FlagMaskExternal minus what
// receive_override_options switches off, see Settings.QMQPFlags).
func (c *Cleanup) Open(ctx context.Context, flags int) (*Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := c.now()
	f, err := c.Store.Create(now)
	if err != nil {
		return nil, fmt.Errorf("create queue file: %w", err)
	}
	return newStream(c, f, flags, c.getWork()), nil
}

func (c *Cleanup) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Cleanup) logf(warning bool, format string, args ...any) {
	if c.Log != nil {
		c.Log(warning, fmt.Sprintf(format, args...))
	}
}

// Reply returns the reply qmqpd sends for a cleanup status and reason: the
// status byte ('K' queued, 'Z' try again later, 'D' rejected) and the text
// after it, in the same priority order as Postfix's qmqpd. soft_bounce is
// not applied here.
func Reply(status int, reason, queueID string) (code byte, text string) {
	switch {
	case status == StatOK:
		return 'K', "Ok: queued as " + queueID
	case status&StatDefer != 0:
		return 'Z', "Error: " + reason
	case status&StatBad != 0:
		return 'Z', fmt.Sprintf("Error: internal error %d", status)
	case status&StatSize != 0:
		return 'D', "Error: message too large"
	case status&StatHops != 0:
		return 'D', "Error: too many hops"
	case status&StatCont != 0:
		if len(reason) > 0 && reason[0] == '4' {
			return 'Z', "Error: " + reason
		}
		return 'D', "Error: " + reason
	case status&StatWrite != 0:
		return 'Z', "Error: queue file write error"
	case status&StatRcpt != 0:
		return 'D', "Error: no recipients specified"
	default:
		return 'Z', fmt.Sprintf("Error: internal error %d", status)
	}
}
