#!/usr/bin/env bash
# bench/stream.sh — issue 18's stream-mode figures, one run, printed (not
# written into BENCHMARKS.md: copy them by hand with the date and load).
#
# Starts, each as its own process: nats-server -js (temporary store, free
# port), `rendezvous worker` serving the example's prod-gbt bundle
# (concurrency 4), a gateway (`rendezvous serve`: the embedded example with
# production on the worker, records through the stream, async) and a
# `rendezvous recorder` writing to a fresh PostgreSQL schema. Then:
#   1. ST_RATE requests/s (1000) for ST_DURATION (30s) with `rendezvous
#      simulate`: CPU µs per request of each process (utime + stime from
#      /proc/PID/stat), answered, stored;
#   2. the recorder stopped, ST_BACKLOG_DURATION (20s) more at ST_RATE, then
#      the recorder started again: how long it takes to store the backlog
#      (records/s from the stream into PostgreSQL).
#
# Usage: bench/stream.sh      (about 1.5 minutes)
# Needs: Go, nats-server, psql, curl; PostgreSQL at ST_PG (default
# postgres://postgres@127.0.0.1:5432/test?sslmode=disable).
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${ST_RATE:-1000}
DURATION=${ST_DURATION:-30s}
BACKLOG_DURATION=${ST_BACKLOG_DURATION:-20s}
PG=${ST_PG:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
SCHEMA=stream_bench_$(date +%s)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	psql "$PG" -qAtc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
log() { printf '[stream %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, clock ticks
HZ=$(getconf CLK_TCK)
stored() { psql "$PG" -qAtc "SELECT count(*) FROM $SCHEMA.records"; }

go build -o "$WORK/rendezvous" ./cmd/rendezvous
RV=$WORK/rendezvous
NPORT=$(free_port)
GPORT=$(free_port)
BUS=nats://127.0.0.1:$NPORT
STORE="$PG&schema=$SCHEMA"

nats-server -js -a 127.0.0.1 -p "$NPORT" -sd "$WORK/js" >"$WORK/nats.log" 2>&1 &
NATS=$!
PIDS+=("$NATS")
"$RV" init "$WORK/gw" >/dev/null
sed -i 's|    bundle: models/prod-gbt.json|    nats: prod-gbt|' "$WORK/gw/rendezvous.yaml"
sed -i "1i bus: $BUS" "$WORK/gw/rendezvous.yaml"
sed -i "s|^recorder:|recorder:\n  bus: $BUS\n  spool_dir: $WORK/spool|" "$WORK/gw/rendezvous.yaml"
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$NPORT") 2>/dev/null && break; sleep 0.1; done
"$RV" worker --bus "$BUS" --model "$WORK/gw/models/prod-gbt.json" --concurrency 4 >"$WORK/worker.log" 2>&1 &
WORKER=$!
PIDS+=("$WORKER")
"$RV" recorder --bus "$BUS" --store "$STORE" >"$WORK/recorder.log" 2>&1 &
RECORDER=$!
PIDS+=("$RECORDER")
for _ in $(seq 1 100); do grep -q "recorder consuming" "$WORK/recorder.log" && break; sleep 0.1; done
"$RV" serve --config "$WORK/gw/rendezvous.yaml" --addr "127.0.0.1:$GPORT" --store "$STORE" >"$WORK/gateway.log" 2>&1 &
GW=$!
PIDS+=("$GW")
for _ in $(seq 1 150); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GPORT/readyz")" = 200 ] && break; sleep 0.2; done
"$RV" simulate --target "http://127.0.0.1:$GPORT" --count 2000 --concurrency 8 --seed 1 >/dev/null 2>&1 # warm-up
for _ in $(seq 1 300); do [ "$(stored)" -ge 2000 ] && break; sleep 0.1; done

log "load average: $(cut -d' ' -f1-3 /proc/loadavg); phase 1: $RATE req/s for $DURATION"
declare -A before
for n in GW WORKER RECORDER NATS; do before[$n]=$(ticks "${!n}"); done
base=$(stored)
"$RV" simulate --target "http://127.0.0.1:$GPORT" --rate "$RATE" --duration "$DURATION" --seed 2 --json >"$WORK/sim1.json" 2>/dev/null
sent=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sent"])' "$WORK/sim1.json")
for _ in $(seq 1 300); do [ "$(stored)" -ge $((base + sent)) ] && break; sleep 0.1; done
echo "phase 1 (load average now $(cut -d' ' -f1-3 /proc/loadavg)): simulate summary: $(cat "$WORK/sim1.json")"
for n in GW WORKER RECORDER NATS; do
	after=$(ticks "${!n}")
	awk -v n="$n" -v d=$((after - ${before[$n]})) -v hz="$HZ" -v r="$sent" \
		'BEGIN { printf "  %-9s CPU %.2f s = %.0f µs per request (%d requests)\n", n, d / hz, d / hz * 1e6 / r, r }'
done
echo "  stored after phase 1: $(( $(stored) - base )) of $sent"

log "phase 2: recorder stopped, $RATE req/s for $BACKLOG_DURATION"
kill -TERM "$RECORDER"
wait "$RECORDER" 2>/dev/null || true
base=$(stored)
"$RV" simulate --target "http://127.0.0.1:$GPORT" --rate "$RATE" --duration "$BACKLOG_DURATION" --seed 3 --json >"$WORK/sim2.json" 2>/dev/null
sent=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sent"])' "$WORK/sim2.json")
echo "phase 2: simulate summary: $(cat "$WORK/sim2.json"); stored meanwhile: $(( $(stored) - base ))"
"$RV" recorder --bus "$BUS" --store "$STORE" >"$WORK/recorder2.log" 2>&1 &
RECORDER=$!
PIDS+=("$RECORDER")
start=$(date +%s.%N)
for _ in $(seq 1 1200); do [ "$(stored)" -ge $((base + sent)) ] && break; sleep 0.05; done
end=$(date +%s.%N)
awk -v n="$(( $(stored) - base ))" -v s="$start" -v e="$end" \
	'BEGIN { printf "  backlog of %d records stored in %.1f s by one recorder: %.0f records/s into PostgreSQL\n", n, e - s, n / (e - s) }'
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
