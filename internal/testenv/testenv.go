// Package testenv tells tests whether the real Postfix 3.7.11 binaries (and
// nullmailer's QMQP client) are available, and turns their absence into a
// failure when QMQPD_INTEROP=require is set, as it is in CI.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"testing"
)

// RealPostconf and the other paths are where Debian's postfix package installs
// the binaries the interop tests use as oracles.
const (
	RealPostconf    = "/usr/sbin/postconf"
	RealPostcat     = "/usr/sbin/postcat"
	RealQmqpSource  = "/usr/sbin/qmqp-source"
	RealDaemonDir   = "/usr/lib/postfix/sbin"
	RealMaster      = RealDaemonDir + "/master"
	RealQmqpd       = RealDaemonDir + "/qmqpd"
	RealCleanup     = RealDaemonDir + "/cleanup"
	RealQmgr        = RealDaemonDir + "/qmgr"
	interopVariable = "QMQPD_INTEROP"
)

// Required reports whether the environment demands that interop tests run
// (QMQPD_INTEROP=require).
func Required() bool { return os.Getenv(interopVariable) == "require" }

// HavePostfix reports whether the real Postfix binaries are installed.
func HavePostfix() bool {
	for _, p := range []string{RealPostconf, RealPostcat, RealQmqpd, RealCleanup, RealMaster} {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

// NeedPostfix skips t when real Postfix is missing, or fails it when
// QMQPD_INTEROP=require.
func NeedPostfix(t testing.TB) {
	t.Helper()
	if HavePostfix() {
		return
	}
	msg := "real Postfix 3.7.11 not installed (apt-get install postfix); interop test"
	if Required() {
		t.Fatalf("%s cannot run, and QMQPD_INTEROP=require", msg)
	}
	t.Skipf("%s skipped", msg)
}

// NullmailerQMQP returns the path of nullmailer's qmqp client, from
// $NULLMAILER_QMQP or the standard install location, or "" when absent.
func NullmailerQMQP() string {
	for _, p := range []string{os.Getenv("NULLMAILER_QMQP"), "/usr/lib/nullmailer/qmqp"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	return ""
}

// NeedNullmailer returns nullmailer's qmqp client path, skipping t when it is
// missing, or failing it when QMQPD_INTEROP=require.
func NeedNullmailer(t testing.TB) string {
	t.Helper()
	if p := NullmailerQMQP(); p != "" {
		return p
	}
	msg := "nullmailer's qmqp client not found (set NULLMAILER_QMQP); interop test"
	if Required() {
		t.Fatalf("%s cannot run, and QMQPD_INTEROP=require", msg)
	}
	t.Skipf("%s skipped", msg)
	return ""
}

// NeedRoot skips t unless it runs as root, or fails it when
// QMQPD_INTEROP=require; what says what needs root ("running a real
// master(8)").
func NeedRoot(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if Required() {
		t.Fatalf("%s needs root, and QMQPD_INTEROP=require", what)
	}
	t.Skipf("%s needs root", what)
}

// TCPPair returns both ends of a loopback TCP connection, closed when t
// ends.
func TCPPair(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.AcceptTCP()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}
