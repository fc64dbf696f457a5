#!/usr/bin/env bash
# The project's test command (README): every package, plus the race detector
# on the concurrent core (rendezvous fan-out and the recorder). Each go test
# run's -json output goes through scripts/testsum, which prints one line per
# package (and failed tests' output); the totals of both runs (passed,
# failed, skipped and why each skip) come last, also when a run failed.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
go build -o "$tmp/testsum" ./scripts/testsum
sum() { "$tmp/testsum" -add "$tmp/state"; }
trap 'status=$?; "$tmp/testsum" -report "$tmp/state" || status=1; rm -rf "$tmp"; exit $status' EXIT
go test -count=1 -timeout 30m -json ./... | sum
go test -count=1 -race -timeout 15m -json ./internal/rendezvous/... ./internal/record/... | sum
