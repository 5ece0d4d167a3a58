module github.com/qmqpd-go/qmqpd

go 1.25

require github.com/rogpeppe/go-internal v1.16.0

require (
	github.com/alecthomas/kong v1.17.0 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	golang.org/x/sys v0.26.0 // indirect
	golang.org/x/tools v0.26.0 // indirect
)
