// Package postconf holds the differential test suite that runs the project's
// postconf(1) and Debian's real Postfix 3.7.11 /usr/sbin/postconf side by side
// on a corpus of main.cf/master.cf directories (testdata/corpus) and compares
// their standard output, standard error, exit status and, for editing modes,
// the files they leave behind.
//
// The package has no non-test code; run it with
//
//	go test ./interop/postconf
//
// Set PCDIFF_OURS to the path of another postconf binary to compare that
// binary instead of building ./cmd/postconf; with PCDIFF_OURS=/usr/sbin/postconf
// every comparison must pass, which validates the harness and its masking.
package postconf
