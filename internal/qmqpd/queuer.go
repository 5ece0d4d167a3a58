package qmqpd

import (
	"context"

	"github.com/qmqpd-go/qmqpd/internal/cleanupclient"
)

// StatOK is the cleanup status of a queued message; other statuses are
// combinations of Postfix's CLEANUP_STAT_* bits (qmqp.CleanupStat*).
const StatOK = 0

// A Queuer starts queue files. Two implementations exist: the client of
// Postfix's cleanup(8) service (ServiceQueuer) and the project's built-in
// cleanup (see BuiltinQueuer).
type Queuer interface {
	// Open creates a queue file for one message, with the cleanup
	// processing flags (cleanupclient.Flag*). The queue ID is known when
	// Open returns.
	Open(ctx context.Context, flags int) (Queued, error)
}

// Queued is one message on its way into the queue. The session feeds it the
// records Postfix's qmqpd sends to cleanup, in the same order: T, optional L
// (content filter), S, optional V, ten A, the R records, M, the Received:
// header and content as N/L records, X, E.
type Queued interface {
	// ID is the queue ID.
	ID() string
	// Record sends one record (type byte and payload).
	Record(typ byte, data []byte) error
	// Finish completes the message after the E record and returns the
	// cleanup status bits and the reason text (for StatDefer/StatCont).
	Finish() (status int, reason string)
	// Abort abandons the message; the queue file is removed.
	Abort()
}

// ServiceQueuer queues through Postfix's own cleanup(8) service.
type ServiceQueuer struct {
	Client *cleanupclient.Client
}

// Open implements Queuer.
func (q ServiceQueuer) Open(ctx context.Context, flags int) (Queued, error) {
	s, err := q.Client.Open(ctx, flags)
	if err != nil {
		return nil, err
	}
	return s, nil
}
