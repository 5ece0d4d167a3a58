// Package reliability holds the project's reliability and security tests:
// a soak test, fault injection, hostile input and access control, run
// against the real QMQP server (internal/qmqpd) with the built-in cleanup
// (internal/cleanup) writing real queue files (internal/queuefile).
//
// The package has no API; see docs/reliability.md for the guarantees and
// which test proves each one. Run the long versions with
//
//	go test ./reliability -long
package reliability
