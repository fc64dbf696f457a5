#!/usr/bin/env bash
# bench/gateway.sh — the issue-4 gateway throughput comparison, in one run:
#   (a) a bare net/http handler returning a constant JSON body (bench/bare),
#   (b) the gateway with only the production model and recording off
#       (bench/configs/prod-only.yaml: store none://),
#   (c) the full gateway: the embedded example's three models, every request
#       recorded to SQLite,
# each driven by the same wrk (keep-alive, 64 connections, bench/post.lua:
# POST /singletitanicpred/) after an uncounted warm-up. Servers and wrk are
# pinned apart with taskset (servers on GW_SERVER_CPUS, wrk on GW_WRK_CPUS),
# the same for all three, so the load generator never takes CPU from the
# server it measures. Reports requests/s, p50, p99, the server's CPU time per
# request, the recorder's dropped/enqueued/written counters of (c) (from
# /metrics, then from the shutdown log once the queue is flushed), and the
# issue-4 ratios, and rewrites the section of BENCHMARKS.md between the
# gateway:begin and gateway:end markers (appended if missing).
#
# Closed-loop wrk at 64 connections saturates every server, so its p99 is
# mostly queueing (64 connections / throughput). The p99 target ("(c) adds
# ≤ 1 ms p99 over (b)") is therefore also measured at the same fixed rate for
# (b) and (c), below either's capacity: `rendezvous simulate --rate
# GW_FIXED_RATE --route original --concurrency 64` (open loop, keep-alive,
# latency from the intended send time), pinned like wrk.
#
# Usage: bench/gateway.sh     (about 3 minutes)
# Needs: Go, wrk (apt-get install wrk), taskset (util-linux), curl.
# Knobs (environment): GW_ROUNDS (3), GW_DURATION (8s per round and server), GW_WARMUP (4s), GW_CONNECTIONS (64),
#   GW_THREADS (1), GW_SERVER_CPUS (1), GW_WRK_CPUS (0), GW_OUT (BENCHMARKS.md),
#   GW_FIXED_RATE (1000 requests/s), GW_FIXED_DURATION (6s per round);
#   GW_SERVER_CPUS= and GW_WRK_CPUS= (empty) turn pinning off. When pinned,
#   the fixed-rate part is also run once more with nothing pinned (fresh
#   servers on both CPUs), as a gateway on this machine would run.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${GW_DURATION:-8s}
ROUNDS=${GW_ROUNDS:-3}
WARMUP=${GW_WARMUP:-4s}
CONNS=${GW_CONNECTIONS:-64}
THREADS=${GW_THREADS:-1}
SERVER_CPUS=${GW_SERVER_CPUS-1}
WRK_CPUS=${GW_WRK_CPUS-0}
OUT=${GW_OUT:-$ROOT/BENCHMARKS.md}
FIXED_RATE=${GW_FIXED_RATE:-1000}
FIXED_DURATION=${GW_FIXED_DURATION:-6s}
ROUTE=/singletitanicpred/

WORK=$(mktemp -d /tmp/rendezvous-gwbench.XXXXXX)
LOG_TAG=gateway-bench
# shellcheck source=bench/lib.sh
. bench/lib.sh
trap lib_cleanup EXIT

command -v wrk >/dev/null || die "wrk not found: apt-get install wrk"
command -v curl >/dev/null || die "curl not found"

log "building into $WORK/bin"
mkdir -p "$WORK/bin"
go build -o "$WORK/bin/rendezvous" ./cmd/rendezvous
go build -o "$WORK/bin/bare" ./bench/bare
go build -o "$WORK/bin/benchtab" ./bench/benchtab
BT=$WORK/bin/benchtab

# fixed ID BASEURL [CPUS] — open loop at FIXED_RATE, the simulator on CPUS
# (default WRK_CPUS; "-" for no pinning); appends "id rate ok sent p50 p99"
# to $WORK/fixed.
fixed() {
	local id=$1 base=$2 f=$WORK/$1.fixed.json cpus=${3:-$WRK_CPUS}
	[ "$cpus" = - ] && cpus=
	log "($id) fixed rate: $FIXED_RATE requests/s for $FIXED_DURATION"
	pin "$cpus" "$WORK/bin/rendezvous" simulate --target "$base" --route original --rate "$FIXED_RATE" \
		--duration "$FIXED_DURATION" --concurrency "$CONNS" --seed 1 --json >"$f" 2>"$WORK/$id.fixed.log" ||
		die "simulate against ($id) failed: $(tail -1 "$WORK/$id.fixed.log")"
	awk -v id="$id" 'BEGIN { RS = "[,{}]" }
		/"achieved_rate"/ { split($0, a, ":"); rate = a[2] }
		/"ok"/ { split($0, a, ":"); ok = a[2] }
		/"sent"/ { split($0, a, ":"); sent = a[2] }
		/"p50_ns"/ { split($0, a, ":"); p50 = a[2] / 1e6 }
		/"p99_ns"/ { split($0, a, ":"); p99 = a[2] / 1e6 }
		END { printf "%s %.0f %d %d %.2f %.2f\n", id, rate, ok, sent, p50, p99 }' "$f" >>"$WORK/fixed"
	log "($id) fixed rate: $(tail -1 "$WORK/fixed")"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$WORK/fixed"
: >"$WORK/rows"

start bare "$WORK/bin/bare" --addr 127.0.0.1:18181
BARE=$LAST_PID
start prod "$WORK/bin/rendezvous" serve --config bench/configs/prod-only.yaml --addr 127.0.0.1:18182 --log-level warn
PROD=$LAST_PID
start full "$WORK/bin/rendezvous" serve --addr 127.0.0.1:18183 --store "sqlite://$WORK/full.db" --log-level info
FULL=$LAST_PID
wait_ready "$BARE" "http://127.0.0.1:18181$ROUTE" || die "bare server did not start: $(cat "$WORK/bare.log")"
wait_ready "$PROD" http://127.0.0.1:18182/readyz || die "gateway (b) did not start: $(tail -3 "$WORK/prod.log")"
wait_ready "$FULL" http://127.0.0.1:18183/readyz || die "gateway (c) did not start: $(tail -3 "$WORK/full.log")"
URL_a=http://127.0.0.1:18181$ROUTE PID_a=$BARE
URL_b=http://127.0.0.1:18182$ROUTE PID_b=$PROD
URL_c=http://127.0.0.1:18183$ROUTE PID_c=$FULL
for id in a b c; do
	u=URL_$id
	log "($id) warm-up $WARMUP"
	warmup "${!u}" "$WARMUP"
done
# Rounds interleave the three servers, so a burst of load from elsewhere on
# the machine hits all three alike; the table shows each one's median.
for r in $(seq 1 "$ROUNDS"); do
	for id in a b c; do
		u=URL_$id p=PID_$id
		measure "$id" "${!u}" "${!p}" "$r"
	done
done
for r in $(seq 1 "$ROUNDS"); do
	fixed b http://127.0.0.1:18182
	fixed c http://127.0.0.1:18183
done
stop "$BARE"
stop "$PROD"
metric() { awk -v m="$1" '$1 == m {printf "%d", $2}' "$WORK/metrics"; }
curl -s http://127.0.0.1:18183/metrics >"$WORK/metrics"
DROPPED=$(metric rendezvous_recorder_dropped_total)
ENQUEUED=$(metric rendezvous_recorder_enqueued_total)
WRITTEN=$(metric rendezvous_recorder_written_total)
C503=$(awk 'index($0, "rendezvous_http_requests_total{code=\"503\"") == 1 {s += $NF} END {printf "%d", s}' "$WORK/metrics")
PRODLATE=$(awk 'index($1, "rendezvous_model_latency_seconds_count{model=\"prod-gbt\",outcome=\"late\"") == 1 ||
	index($1, "rendezvous_model_latency_seconds_count{model=\"prod-gbt\",outcome=\"timeout\"") == 1 {s += $2} END {printf "%d", s}' "$WORK/metrics")
stop "$FULL"
# The shutdown log line: records_written=N dropped=N lost=N after the flush.
FLUSHED=$(grep -o 'records_written=[0-9]* dropped=[0-9]* lost=[0-9]*' "$WORK/full.log" | tail -1 || true)
log "(c) recorder: enqueued $ENQUEUED, written $WRITTEN, dropped $DROPPED at the end of the run; after shutdown: ${FLUSHED:-?}"

# The fixed rate again with nothing pinned, when the runs above were pinned:
# fresh (b) and (c) get both CPUs (GOMAXPROCS 2) and share them with the
# simulator, as a gateway on this machine would.
if [ -n "$SERVER_CPUS$WRK_CPUS" ]; then
	SERVER_CPUS_SAVED=$SERVER_CPUS
	SERVER_CPUS=
	start produ "$WORK/bin/rendezvous" serve --config bench/configs/prod-only.yaml --addr 127.0.0.1:18184 --log-level warn
	PRODU=$LAST_PID
	start fullu "$WORK/bin/rendezvous" serve --addr 127.0.0.1:18185 --store "sqlite://$WORK/fullu.db" --log-level info
	FULLU=$LAST_PID
	SERVER_CPUS=$SERVER_CPUS_SAVED
	wait_ready "$PRODU" http://127.0.0.1:18184/readyz || die "unpinned gateway (b) did not start: $(tail -3 "$WORK/produ.log")"
	wait_ready "$FULLU" http://127.0.0.1:18185/readyz || die "unpinned gateway (c) did not start: $(tail -3 "$WORK/fullu.log")"
	for r in $(seq 1 "$ROUNDS"); do
		fixed bu http://127.0.0.1:18184 -
		fixed cu http://127.0.0.1:18185 -
	done
	curl -s http://127.0.0.1:18185/metrics >"$WORK/metricsu"
	DROPPEDU=$(awk '$1 == "rendezvous_recorder_dropped_total" {printf "%d", $2}' "$WORK/metricsu")
	stop "$PRODU"
	stop "$FULLU"
fi

# --- the table ------------------------------------------------------------------
# median ID COLUMN — the median over the rounds of one column of $WORK/rows
# (non-2xx: the sum).
median() {
	if [ "$2" = 6 ]; then sum_col "$WORK/rows" "$1" 6; else median_col "$WORK/rows" "$1" "$2"; fi
}
row() { echo "$(median "$1" 2) $(median "$1" 3) $(median "$1" 4) $(median "$1" 5) $(median "$1" 6)"; }
read -r ARPS AP50 AP99 ACPU ANON <<<"$(row a)"
read -r BRPS BP50 BP99 BCPU BNON <<<"$(row b)"
read -r CRPS CP50 CP99 CCPU CNON <<<"$(row c)"
ROUNDS_TEXT=$(awk '{printf "%s%s %s", (NR > 1 ? "; " : ""), $1, $2}' "$WORK/rows")
# fmedian ID COLUMN — the median over the fixed-rate rounds (ok and sent: the sums).
fmedian() {
	if [ "$2" = 3 ] || [ "$2" = 4 ]; then sum_col "$WORK/fixed" "$1" "$2"; else median_col "$WORK/fixed" "$1" "$2"; fi
}
frow() { echo "$(fmedian "$1" 2) $(fmedian "$1" 3) $(fmedian "$1" 4) $(fmedian "$1" 5) $(fmedian "$1" 6)"; }
read -r BFR BFOK BFSENT BFP50 BFP99 <<<"$(frow b)"
read -r CFR CFOK CFSENT CFP50 CFP99 <<<"$(frow c)"
FIXED_TEXT=$(awk '$1 == "b" || $1 == "c" {printf "%s%s %s ms", (n++ ? "; " : ""), $1, $6}' "$WORK/fixed")
FDP99=$(awk -v c="$CFP99" -v b="$BFP99" 'BEGIN {printf "%.2f", c - b}')
OK4=$(awk -v d="$FDP99" 'BEGIN {print (d <= 1)}')
UNPINNED=
if grep -q '^bu ' "$WORK/fixed"; then
	read -r BUR BUOK BUSENT BUP50 BUP99 <<<"$(frow bu)"
	read -r CUR CUOK CUSENT CUP50 CUP99 <<<"$(frow cu)"
	FDP99U=$(awk -v c="$CUP99" -v b="$BUP99" 'BEGIN {printf "%.2f", c - b}')
	OK4U=$(awk -v d="$FDP99U" 'BEGIN {print (d <= 1)}')
	FIXEDU_TEXT=$(awk '$1 == "bu" || $1 == "cu" {printf "%s%s %s ms", (n++ ? "; " : ""), substr($1, 1, 1), $6}' "$WORK/fixed")
	UNPINNED="
Again at $FIXED_RATE requests/s with nothing pinned: fresh (b) and (c) get both CPUs (GOMAXPROCS $(nproc)) and share them with the simulator, as a gateway on this machine would; $ROUNDS rounds each. p99 per round: $FIXEDU_TEXT.

| | requests/s achieved | ok / sent | p50 | p99 |
|---|---:|---:|---:|---:|
| b | $BUR | $BUOK / $BUSENT | $BUP50 ms | $BUP99 ms |
| c | $CUR | $CUOK / $CUSENT | $CUP50 ms | $CUP99 ms |
"
fi
pct() { awk -v x="$1" -v y="$2" 'BEGIN {printf "%.0f", 100 * x / y}'; }
RATIO=$(pct "$CRPS" "$ARPS")
DP99=$(awk -v c="$CP99" -v b="$BP99" 'BEGIN {printf "%.2f", c - b}')
verdict() { if [ "$1" = 1 ]; then echo "met"; else echo "**not met**"; fi; }
OK1=$(awk -v r="$RATIO" 'BEGIN {print (r >= 50)}')
OK1CPU=$(awk -v r="$(pct "$ACPU" "$CCPU")" 'BEGIN {print (r >= 50)}')
OK2=$(awk -v d="$DP99" 'BEGIN {print (d <= 1)}')
OK3=$([ "${DROPPED:-x}" = 0 ] && echo 1 || echo 0)
PINNING="servers on CPU ${SERVER_CPUS:-any}, wrk on CPU ${WRK_CPUS:-any} (taskset)"
[ -z "$SERVER_CPUS$WRK_CPUS" ] && PINNING="no pinning"

SECTION=$WORK/section.md
cat >"$SECTION" <<EOF
<!-- gateway:begin (written by bench/gateway.sh; do not edit by hand) -->

### Gateway throughput (issue 4) — run of $(date -u '+%Y-%m-%d %H:%M UTC')

Machine: $(machine); load average before the run: $LOAD_BEFORE (the machine is shared).  
Load: \`wrk -t$THREADS -c$CONNS -d$DURATION --latency -s bench/post.lua\` (keep-alive, POST \`$ROUTE\`) after a $WARMUP warm-up per server; $PINNING, the same for every row. $ROUNDS rounds, each measuring (a), (b), (c) in turn; every figure is the median over the rounds (non-2xx: the sum). Server CPU is utime + stime of the server process over the measured run divided by the requests completed: unlike requests/s it hardly depends on what else the machine runs, so (a)'s CPU per request over (c)'s is the throughput ratio a machine with nothing else to do would show.

Requests/s per round: $ROUNDS_TEXT.

| | setup | requests/s | p50 | p99 | server CPU µs / request | req/s vs (a) | non-2xx |
|---|---|---:|---:|---:|---:|---:|---:|
| a | bare net/http, constant JSON (\`bench/bare\`) | $ARPS | $AP50 ms | $AP99 ms | $ACPU | 100 % | $ANON |
| b | gateway, production model only, no recording (\`bench/configs/prod-only.yaml\`, store \`none://\`) | $BRPS | $BP50 ms | $BP99 ms | $BCPU | $(pct "$BRPS" "$ARPS") % | $BNON |
| c | gateway, 3 models, SQLite recording (embedded example) | $CRPS | $CP50 ms | $CP99 ms | $CCPU | $RATIO % | $CNON |

CPU per request: (a) / (c) = $(pct "$ACPU" "$CCPU") %, (a) / (b) = $(pct "$ACPU" "$BCPU") %.

The same two gateways at a fixed $FIXED_RATE requests/s (open loop, \`rendezvous simulate --route original --concurrency $CONNS\`, latency from the intended send time), $ROUNDS rounds of $FIXED_DURATION each alternating (b) and (c), medians (ok / sent: sums). p99 per round: $FIXED_TEXT.

| | requests/s achieved | ok / sent | p50 | p99 |
|---|---:|---:|---:|---:|
| b | $BFR | $BFOK / $BFSENT | $BFP50 ms | $BFP99 ms |
| c | $CFR | $CFOK / $CFSENT | $CFP50 ms | $CFP99 ms |
$UNPINNED
Targets (issue 4):

- (c) ≥ 50 % of (a) in requests/s: $RATIO % — $(verdict "$OK1"); by CPU per request $(pct "$ACPU" "$CCPU") % — $(verdict "$OK1CPU")
- (c) adds ≤ 1 ms p99 over (b): at the fixed rate $FDP99 ms — $(verdict "$OK4")$( [ -n "$UNPINNED" ] && echo " with each server on one CPU, $FDP99U ms — $(verdict "$OK4U") on both CPUs unpinned (recorder dropped ${DROPPEDU:-?})"); under saturating wrk $DP99 ms — $(verdict "$OK2") (closed loop: queueing)
- zero dropped records at that rate: ${DROPPED:-?} dropped (recorder: $ENQUEUED enqueued, $WRITTEN written when the run ended; after the shutdown flush: ${FLUSHED:-not logged}) — $(verdict "$OK3")

Over the whole life of (c) (warm-up, rounds and the fixed-rate run), /metrics counted $C503 requests answered 503 and $PRODLATE production answers late or timed out. A 503 is either no model answering within its 50 ms deadline or the client closing the connection first: wrk closes its $CONNS connections with requests in flight at the end of every run (warm-up included), which the table's non-2xx column does not see.

<!-- gateway:end -->
EOF

replace_section "$OUT" '<!-- gateway:begin' '<!-- gateway:end' "$SECTION" "## Gateway throughput (issue 4)

Written by \`bench/gateway.sh\`; see the script's header for what it measures."
cat "$SECTION" >&2
log "wrote $OUT (raw output in $WORK)"
