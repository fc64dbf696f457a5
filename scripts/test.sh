#!/usr/bin/env bash
# The project's test command (README): every package, plus the race detector
# on the concurrent core (rendezvous fan-out and the recorder).
set -euo pipefail
cd "$(dirname "$0")/.."
go test -count=1 -timeout 30m ./...
go test -count=1 -race -timeout 15m ./internal/rendezvous/... ./internal/record/...
