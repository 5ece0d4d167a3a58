#!/bin/sh
# Benchmark our qmqpd against Postfix 3.7.11's qmqpd side by side (issue #5).
#
#   bench/run.sh -quick     # a couple of minutes: 1 and 32 sessions, 2 KB and 100 KB
#   bench/run.sh            # full: 1, 8, 32, 128 sessions x 2 KB, 100 KB, 5 MB, 500 x 10 MB memory test
#
# Extra flags go to the benchmark program (see `go run ./bench/cmd/qmqpbench -h`),
# e.g. -sessions 32 -sizes 2KB -reps 3 -dir /var/tmp/qmqpbench.
# Needs root (Postfix's master) and the Debian postfix package; uses
# 127.0.0.1 ports 23001 and 23002 only. Results go to docs/benchmarks.md and
# docs/benchmarks.svg (use -out "" to only print them).
set -eu
cd "$(dirname "$0")/.."
bin=${TMPDIR:-/tmp}/qmqpbench-bin.$$
mkdir -p "$bin"
trap 'rm -rf "$bin"' EXIT INT TERM
go build -o "$bin/qmqpd" ./cmd/qmqpd
go build -o "$bin/qmqpbench" ./bench/cmd/qmqpbench
"$bin/qmqpbench" -ours "$bin/qmqpd" -out docs/benchmarks.md "$@"
