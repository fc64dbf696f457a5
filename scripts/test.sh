#!/usr/bin/env bash
# The project's test command (README): every package, then the race detector
# on every package but the FerretDB-backed ones, so each package with
# concurrent code (model, api, gateway, monitor, record, rendezvous, breaker,
# remote, simulate, the store backends, web, cmd, …) runs under -race,
# including packages added later.
#
# Left out of -race: internal/e2e, internal/e2e/durability and
# internal/store/mongo/ferrettest. internal/e2e/durability (issue 14: kill -9
# of the real binary under load, a private PostgreSQL stopped for 30 s under
# 1,000 requests/s, 1,000 rejected 1 MiB bodies; about 1.5 minutes) builds
# and drives the rendezvous binary as a separate process, so the detector
# would only watch its load loops, not the gateway. The other two's
# tests drive FerretDB (a PostgreSQL-backed MongoDB) and are already the
# slowest of the suite without the detector; their own concurrency is the
# mongo driver's, and the code they exercise (record, store/mongo, api) runs
# under -race in its own package. Also left out: internal/model/train, which
# has no concurrent code and is pure CPU (62 s under -race on the shared
# 2-core machine against 3 s without).
#
# Each go test run's -json output goes through scripts/testsum, which prints
# one line per package (and failed tests' output); the totals of both runs
# (passed, failed, skipped and why each skip) come last, also when a run
# failed.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
go build -o "$tmp/testsum" ./scripts/testsum
sum() { "$tmp/testsum" -add "$tmp/state"; }
trap 'status=$?; "$tmp/testsum" -report "$tmp/state" || status=1; rm -rf "$tmp"; exit $status' EXIT
go test -count=1 -timeout 30m -json ./... | sum
race_skip='/internal/e2e$|/internal/e2e/durability$|/internal/store/mongo/ferrettest$|/internal/model/train$'
# shellcheck disable=SC2046 # one argument per package
go test -count=1 -race -timeout 30m -json $(go list ./... | grep -Ev "$race_skip") | sum
