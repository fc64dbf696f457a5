#!/usr/bin/env bash
# Lifecycle under load (issue 16): `rendezvous simulate` open loop at RATE
# req/s for DURATION against a real gateway (in-process, SQLite store) while
# a challenger is added, promoted (forced), rolled back and removed by a
# reload, the four changes spread evenly over the run. Passes when every
# request was answered, every record is stored after a clean shutdown, and
# each record's decision.deployment names a deployment whose members and
# roles are the record's. Prints the simulate summary and the records per
# deployment.
#
#   bench/lifecycle-load.sh [RATE] [DURATION]     (default: 500 30s)
#
# It is TestModels_UnderLoad… of cmd/rendezvous run longer and without the
# race detector (the test suite runs it for 4 s with -race).
set -euo pipefail
cd "$(dirname "$0")/.."
export RENDEZVOUS_LOAD_RATE="${1:-500}" RENDEZVOUS_LOAD_DURATION="${2:-30s}"
export RENDEZVOUS_SHARED="${RENDEZVOUS_SHARED:-$(cd .. && pwd)/shared}"
echo "lifecycle under load: $RENDEZVOUS_LOAD_RATE req/s for $RENDEZVOUS_LOAD_DURATION, nproc $(nproc), $(date -u +%Y-%m-%d)"
go test -count=1 -v -run 'TestModels_UnderLoadNoRequestFailsNoRecordIsLostAndEachNamesItsDeployment' ./cmd/rendezvous/ |
	grep -E 'simulate:|records per deployment|^(--- |ok|FAIL)'
