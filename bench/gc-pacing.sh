#!/usr/bin/env bash
# bench/gc-pacing.sh — server.gc_headroom against Go's own GC pacing, on the
# full gateway (the embedded example, SQLite recording), one binary run both
# ways: "go" with GOGC=100 in the environment (which keeps Go's pacing) and
# "headroom" with the default server.gc_headroom. Each round, for each way: a
# fresh server pinned to OV_SERVER_CPUS (1), a 5 s warm-up, wrk -c64 for 10 s
# (peak), then wrk -t2 -c2000 for 20 s (overload) from OV_WRK_CPUS (0).
# Reported per run: 2xx/s, the server's CPU time per request (from /proc),
# the collections (go_gc_duration_seconds_count, whole run) and the peak
# RSS (VmHWM). The ways alternate, GC_ROUNDS (2) rounds, so the machine's
# drift falls on both.
# Rewrites the section of BENCHMARKS.md between the gc-pacing:begin and
# gc-pacing:end markers; GC_OUT= (empty) prints it only.
#
# Usage: bench/gc-pacing.sh    (about 3 minutes per round)
# Needs: Go, wrk, taskset, curl.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=${GC_ROUNDS:-2}
SERVER_CPUS=${OV_SERVER_CPUS-1}
WRK_CPUS=${OV_WRK_CPUS-0}
OUT=${GC_OUT-$ROOT/BENCHMARKS.md}
ROUTE=/singletitanicpred/
WORK=$(mktemp -d /tmp/rendezvous-gc-pacing.XXXXXX)
LOG_TAG=gc-pacing
# shellcheck source=bench/lib.sh
. bench/lib.sh
trap lib_cleanup EXIT
for c in wrk curl taskset; do command -v $c >/dev/null || die "$c not found"; done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

go build -trimpath -o "$WORK/rendezvous" ./cmd/rendezvous
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
reqs() { awk '/requests in/ {print $1}' "$1"; }
rps() { awk '/^Requests\/sec/ {printf "%.0f", $2}' "$1"; }
: >"$WORK/rows"
port=18390
for round in $(seq 1 "$ROUNDS"); do
	for way in go headroom; do
		port=$((port + 1))
		env=()
		[ $way = go ] && env=(GOGC=100)
		start "$way-$round" env "${env[@]}" "$WORK/rendezvous" serve --addr "127.0.0.1:$port" --store "sqlite://$WORK/$way-$round.db" --log-level warn
		pid=$LAST_PID
		wait_ready "$pid" "http://127.0.0.1:$port/readyz" || die "server did not start: $(tail -3 "$WORK/$way-$round.log")"
		url=http://127.0.0.1:$port$ROUTE
		pin "$WRK_CPUS" wrk -t1 -c64 -d5s -s bench/status.lua "$url" >/dev/null
		t0=$(ticks "$pid")
		pin "$WRK_CPUS" wrk -t1 -c64 -d10s -s bench/status.lua "$url" >"$WORK/peak.wrk"
		t1=$(ticks "$pid")
		pin "$WRK_CPUS" wrk -t2 -c2000 -d20s --timeout 5s -s bench/status.lua "$url" >"$WORK/over.wrk"
		t2=$(ticks "$pid")
		gcs=$(curl -s "http://127.0.0.1:$port/metrics" | awk '$1 == "go_gc_duration_seconds_count" {print $2}')
		hwm=$(awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status")
		hz=$(getconf CLK_TCK)
		row="$way $round $(rps "$WORK/peak.wrk") $(awk -v a="$t0" -v b="$t1" -v n="$(reqs "$WORK/peak.wrk")" -v hz="$hz" 'BEGIN {printf "%.1f", (b - a) / hz * 1e6 / n}') $(rps "$WORK/over.wrk") $(awk -v a="$t1" -v b="$t2" -v n="$(reqs "$WORK/over.wrk")" -v hz="$hz" 'BEGIN {printf "%.1f", (b - a) / hz * 1e6 / n}') $gcs $hwm"
		log "$row"
		echo "$row" >>"$WORK/rows"
		stop "$pid"
	done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

SECTION=$WORK/section.md
{
	cat <<EOT
<!-- gc-pacing:begin (written by bench/gc-pacing.sh; do not edit by hand) -->

### GC pacing (server.gc_headroom) — run of $(date -u '+%Y-%m-%d %H:%M UTC')

Machine: $(machine); load average before the run $LOAD_BEFORE, after $LOAD_AFTER. \`$(git rev-parse --short HEAD)\`, the embedded example with SQLite recording; server on CPU ${SERVER_CPUS:-any}, wrk on CPU ${WRK_CPUS:-any}. "go": \`GOGC=100\` (Go's own pacing); "headroom": the default \`server.gc_headroom\` (48 MiB). Peak: \`wrk -t1 -c64 -d10s\`; overload: \`wrk -t2 -c2000 -d20s\`; CPU µs per request from the server's /proc times; collections over the whole run (5 s warm-up included); RSS is the peak (VmHWM).

| way | round | peak 2xx/s | peak CPU µs/req | overload 2xx/s | overload CPU µs/req | overload / peak | collections | RSS max |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
EOT
	awk '{printf "| %s | %s | %s | %s | %s | %s | %.0f %% | %s | %s MB |\n", $1, $2, $3, $4, $5, $6, 100 * $5 / $3, $7, $8}' "$WORK/rows"
	echo
	for way in go headroom; do
		awk -v w=$way '$1 == w {p += $4; o += $6; g += $7; n++} END {printf "Mean over %d rounds, %s: %.1f CPU µs/req at 64 connections, %.1f at 2,000, %.0f collections per run.\n", n, w, p / n, o / n, g / n}' "$WORK/rows"
		echo
	done
	echo "<!-- gc-pacing:end -->"
} >"$SECTION"
if [ -n "$OUT" ]; then
	replace_section "$OUT" '<!-- gc-pacing:begin' '<!-- gc-pacing:end' "$SECTION" "## GC pacing

Written by \`bench/gc-pacing.sh\`; see the script's header for what it measures."
	log "wrote $OUT"
fi
cat "$SECTION" >&2
