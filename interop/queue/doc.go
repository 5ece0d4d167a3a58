// Package queue holds interop tests between this project's queue files and
// a real Postfix 3.7.11: a private instance running master(8), qmgr(8),
// trivial-rewrite(8) and the smtp(8) client picks up the files our cleanup
// writes into incoming/ and delivers them to an SMTP sink in the test, which
// checks that every message arrived with the envelope and the exact content
// of the queue file.
//
// The package has no non-test code. Starting a Postfix master needs root;
// the tests skip without it (and fail when QMQPD_INTEROP=require).
package queue
