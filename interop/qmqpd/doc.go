// Package qmqpd holds the differential test of our QMQP server against the
// real Postfix 3.7.11 qmqpd(8).
//
// A corpus of QMQP inputs (good messages of many shapes, every kind of
// malformed netstring, oversized fields, access-list and configuration
// variants, clients that stall or hang up) is sent to three servers:
//
//   - real: Postfix's qmqpd in a private Postfix instance (package
//     postfixtest), with Postfix's cleanup writing the queue file;
//   - service: our qmqpd (package internal/qmqpd, run in-process) handing
//     the message to the same instance's real cleanup(8) service;
//   - builtin: our qmqpd with our built-in cleanup writing the queue file
//     into the same instance's queue directory.
//
// Every case gets its own qmqpd and cleanup services in the instance's
// master.cf, with the case's settings given as "-o" overrides, so one
// instance serves many configurations; our side loads the same main.cf with
// the same overrides. For each side the test records the reply bytes, the
// mail log lines of qmqpd and cleanup and the queue files left in incoming/,
// masks what legitimately differs (queue IDs, times, client ports, process
// IDs), and compares them with go-cmp. Differences that are known and
// reported to their owners are listed in knownDiffs; the test insists that
// each of them still shows, so an entry must go when it is fixed.
//
// With QDIFF_BINARY=1 the corpus also runs against our cmd/qmqpd binary in
// place of Postfix's qmqpd under the real master(8) (two more instances per
// shard: one per cleanup mode), compared with the same real outcomes. It is
// not part of the default run to keep the package within its time budget.
//
// Some cases use real clients (Postfix's qmqp-source, nullmailer's qmqp)
// instead of a hand-made packet; their output and exit status stand for the
// reply. The "client" subtest sends with our own client and qmqp-send to
// the real qmqpd.
//
// The package has only tests; it needs root and the real Postfix binaries
// (see internal/testenv).
package qmqpd
