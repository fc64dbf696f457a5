#!/usr/bin/env bash
# bench/run.sh — measure, on this machine and in one run, the requests/s,
# latency and CPU cost of:
#   (1) a bare net/http handler returning a constant JSON body (the ceiling),
#   (2) the gateway with only the production model and recording off,
#   (3) the full gateway: three models, SQLite recording,
#   (4) the full gateway with PostgreSQL recording,
#   (5) the original design rebuilt as a peer: FastAPI + uvicorn +
#       scikit-learn, one MongoDB-protocol insert per request (FerretDB on
#       the local PostgreSQL),
# all with the same load generator (wrk), connections (64, keep-alive),
# duration and request body; then the memory of the full gateway after 60 s
# of open-loop traffic at 10k requests/s from `rendezvous simulate`, and after
# 60 s at a rate this small machine sustains (3k requests/s).
# It rewrites the section of BENCHMARKS.md between the bench markers.
#
# Usage: bench/run.sh            (about 5 minutes; never more than 10)
# Needs: Go, wrk, PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth),
#        Debian's python3-fastapi python3-uvicorn python3-sklearn python3-pymongo.
# Knobs (environment): BENCH_DURATION (20s), BENCH_WARMUP (5s),
#   BENCH_CONNECTIONS (64), BENCH_THREADS (2), BENCH_MEM_RATE (10000),
#   BENCH_MEM_RATE_LOW (3000),
#   BENCH_MEM_DURATION (60s), BENCH_PG (postgres://postgres@127.0.0.1:5432),
#   TITANIC_CSV (../shared/data/titanic_train.csv), BENCH_OUT (BENCHMARKS.md).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${BENCH_DURATION:-20s}
WARMUP=${BENCH_WARMUP:-5s}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
MEM_RATE=${BENCH_MEM_RATE:-10000}
MEM_RATE_LOW=${BENCH_MEM_RATE_LOW:-3000}
MEM_DURATION=${BENCH_MEM_DURATION:-60s}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
TITANIC_CSV=${TITANIC_CSV:-$ROOT/../shared/data/titanic_train.csv}
OUT=${BENCH_OUT:-$ROOT/BENCHMARKS.md}
ROUTE=/singletitanicpred/
PY=/usr/bin/python3

WORK=$(mktemp -d /tmp/rendezvous-bench.XXXXXX)
RESULTS=$WORK/results.tsv
META=$WORK/meta.env
STARTED=()

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

cleanup() {
	for pid in "${STARTED[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${STARTED[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
}
trap cleanup EXIT

# --- prerequisites -----------------------------------------------------------
command -v wrk >/dev/null || die "wrk not found: apt-get install wrk"
command -v go >/dev/null || die "go not found"
command -v psql >/dev/null || die "psql not found (PostgreSQL client)"
[ -r "$TITANIC_CSV" ] || die "training CSV $TITANIC_CSV not readable (set TITANIC_CSV)"
$PY -c 'import fastapi, uvicorn, sklearn, pymongo' 2>/dev/null ||
	die "the Python peer needs: apt-get install python3-fastapi python3-uvicorn python3-sklearn python3-pymongo"

log "building into $WORK/bin"
mkdir -p "$WORK/bin"
go build -o "$WORK/bin/rendezvous" ./cmd/rendezvous
go build -o "$WORK/bin/bare" ./bench/bare
go build -o "$WORK/bin/ferretdb" ./bench/ferretdb
go build -o "$WORK/bin/benchtab" ./bench/benchtab
BT=$WORK/bin/benchtab

createdb_if_missing() {
	psql "$PG/postgres" -qtAc "SELECT 1 FROM pg_database WHERE datname = '$1'" | grep -q 1 ||
		psql "$PG/postgres" -qc "CREATE DATABASE $1"
}

# start NAME CMD… — run CMD in the background, log to $WORK/NAME.log; PID in $LAST_PID.
start() {
	local name=$1
	shift
	"$@" >"$WORK/$name.log" 2>&1 &
	LAST_PID=$!
	STARTED+=("$LAST_PID")
}

stop() {
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# wait_ready PID URL [METHOD BODY] — until URL answers 200 (≤ 60 s); fails if PID exits.
wait_ready() {
	local pid=$1 url=$2 i code
	for i in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || return 1
		if [ $# -ge 4 ]; then
			code=$(curl -s -o /dev/null -w '%{http_code}' -X "$3" -H 'Content-Type: application/json' -d "$4" "$url" || true)
		else
			code=$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)
		fi
		[ "$code" = 200 ] && return 0
		sleep 0.2
	done
	return 1
}

BODY='{"pclass":3,"sex":"male","sibsp":0,"parch":0,"fare":7.25,"embarked":"S","age":22,"passid":"1"}'

# measure ID NAME URL SERVER_PID [benchtab cpu args for store processes…]
measure() {
	local id=$1 name=$2 url=$3 pid=$4
	shift 4
	local store=("$@")
	log "($id) $name: warm-up $WARMUP"
	wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s bench/post.lua "$url" >/dev/null
	local s0 s1 st0=- st1=-
	s0=$($BT cpu "$pid")
	if [ ${#store[@]} -gt 0 ]; then st0=$($BT cpu "${store[@]}"); fi
	log "($id) $name: measuring $DURATION"
	wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s bench/post.lua "$url" >"$WORK/$id.wrk"
	s1=$($BT cpu "$pid")
	if [ ${#store[@]} -gt 0 ]; then st1=$($BT cpu "${store[@]}"); fi
	local server store_cpu=-
	server=$(awk -v a="$s0" -v b="$s1" 'BEGIN{printf "%.2f", b-a}')
	if [ "$st0" != - ]; then store_cpu=$(awk -v a="$st0" -v b="$st1" 'BEGIN{printf "%.2f", b-a}'); fi
	grep -E 'Requests/sec|99%' "$WORK/$id.wrk" | tr -s ' ' | sed 's/^/    /' >&2
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$name" "$id.wrk" "$server" "$store_cpu" "${NOTE:-}" >>"$RESULTS"
	NOTE=
}

skip() { printf '%s\t%s\t-\t-\t-\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; log "($1) skipped: $3"; }

# first_error LOG — the gateway's one-line start-up error, for the table.
first_error() { grep -m1 -E 'rendezvous serve:|error' "$1" | tr '\t|' '  ' | cut -c1-160; }

# --- facts about this run ------------------------------------------------------
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine=$(uname -srm)"
	echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "cpus=$(nproc)"
	echo "memory=$(free -g | awk '/^Mem:/{print $2 " GiB"}')"
	echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "go=$(go version | awk '{print $3}')"
	echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{print "wrk " $2}')"
	echo "python=$($PY -c 'import sys, fastapi, uvicorn, sklearn, pymongo; print("Python %d.%d.%d" % sys.version_info[:3], "· FastAPI", fastapi.__version__, "· uvicorn", uvicorn.__version__, "· scikit-learn", sklearn.__version__, "· pymongo", pymongo.version)')"
	echo "threads=$THREADS"
	echo "connections=$CONNS"
	echo "duration=$DURATION"
	echo "warmup=$WARMUP"
	echo "path=$ROUTE"
} >"$META"
: >"$RESULTS"
NOTES=()

# --- (1) bare net/http ---------------------------------------------------------
start bare "$WORK/bin/bare" --addr 127.0.0.1:18081
wait_ready "$LAST_PID" "http://127.0.0.1:18081$ROUTE" || die "bare server did not start: $(cat "$WORK/bare.log")"
measure 1 "bare net/http, constant JSON" "http://127.0.0.1:18081$ROUTE" "$LAST_PID"
stop "$LAST_PID"

# --- (2) gateway, production model only, recording off --------------------------
NAME2="gateway, production model only, recording off"
start prod-only "$WORK/bin/rendezvous" serve --config bench/configs/prod-only.yaml --addr 127.0.0.1:18082 --log-level warn
if ! wait_ready "$LAST_PID" http://127.0.0.1:18082/readyz; then
	err=$(first_error "$WORK/prod-only.log")
	stop "$LAST_PID"
	if grep -q 'unsupported store URL scheme' "$WORK/prod-only.log"; then
		# No discard store yet: record to SQLite in memory-backed /dev/shm,
		# the nearest thing to "off" this build offers.
		NAME2="gateway, production model only, SQLite on tmpfs (no none:// store yet)"
		NOTES+=("Row (2) could not turn recording off (${err}); it records to SQLite in /dev/shm instead.")
		rm -f /dev/shm/rendezvous-bench-prod.db*
		start prod-only "$WORK/bin/rendezvous" serve --config bench/configs/prod-only.yaml --addr 127.0.0.1:18082 \
			--store sqlite:///dev/shm/rendezvous-bench-prod.db --log-level warn
		wait_ready "$LAST_PID" http://127.0.0.1:18082/readyz || { skip 2 "$NAME2" "did not start: $(first_error "$WORK/prod-only.log")"; LAST_PID=; }
	else
		skip 2 "$NAME2" "did not start: $err"
		LAST_PID=
	fi
fi
if [ -n "${LAST_PID:-}" ]; then
	measure 2 "$NAME2" "http://127.0.0.1:18082$ROUTE" "$LAST_PID"
	stop "$LAST_PID"
	rm -f /dev/shm/rendezvous-bench-prod.db*
fi

# --- (3) full gateway, SQLite --------------------------------------------------
start full-sqlite "$WORK/bin/rendezvous" serve --addr 127.0.0.1:18083 --store "sqlite://$WORK/full.db" --log-level warn
if wait_ready "$LAST_PID" http://127.0.0.1:18083/readyz; then
	measure 3 "gateway, 3 models, SQLite recording" "http://127.0.0.1:18083$ROUTE" "$LAST_PID"
	stop "$LAST_PID"
else
	skip 3 "gateway, 3 models, SQLite recording" "did not start: $(first_error "$WORK/full-sqlite.log")"
	stop "$LAST_PID"
fi

# --- (4) full gateway, PostgreSQL ----------------------------------------------
createdb_if_missing rendezvous_bench
psql "$PG/rendezvous_bench" -qc 'DROP SCHEMA public CASCADE; CREATE SCHEMA public' >/dev/null 2>&1 || true
start full-pg "$WORK/bin/rendezvous" serve --addr 127.0.0.1:18084 --store "$PG/rendezvous_bench" --log-level warn
if wait_ready "$LAST_PID" http://127.0.0.1:18084/readyz; then
	measure 4 "gateway, 3 models, PostgreSQL recording" "http://127.0.0.1:18084$ROUTE" "$LAST_PID" --comm postgres
	stop "$LAST_PID"
else
	skip 4 "gateway, 3 models, PostgreSQL recording" "did not start: $(first_error "$WORK/full-pg.log")"
	stop "$LAST_PID"
fi

# --- (5) the original design ---------------------------------------------------
createdb_if_missing ferretdb_bench
start ferretdb "$WORK/bin/ferretdb" --listen 127.0.0.1:18027 --postgresql-url "$PG/ferretdb_bench"
FERRET_PID=$LAST_PID
start peer env PEER_TRAIN_CSV="$TITANIC_CSV" PEER_MONGO_URL=mongodb://127.0.0.1:18027/ PEER_MONGO_DB=peer \
	$PY -m uvicorn app:app --app-dir bench/peer --host 127.0.0.1 --port 18085 --workers 1 --log-level warning --no-access-log
if wait_ready "$LAST_PID" "http://127.0.0.1:18085$ROUTE" POST "$BODY"; then
	measure 5 "original design: FastAPI + uvicorn + scikit-learn, pymongo insert into FerretDB" \
		"http://127.0.0.1:18085$ROUTE" "$LAST_PID" --comm postgres "$FERRET_PID"
	stop "$LAST_PID"
	docs=$($PY -c 'import pymongo; print(pymongo.MongoClient("mongodb://127.0.0.1:18027/")["peer"]["records"].estimated_document_count())' 2>/dev/null || echo "?")
	NOTES+=("The peer (5) stored $docs documents in FerretDB (warm-up and measured requests).")
else
	skip 5 "original design: FastAPI + uvicorn + scikit-learn + FerretDB" "did not start: $(tail -1 "$WORK/peer.log")"
	stop "$LAST_PID"
fi
stop "$FERRET_PID"
psql "$PG/postgres" -qc 'DROP DATABASE IF EXISTS ferretdb_bench' >/dev/null 2>&1 || true

# --- memory: full gateway after MEM_DURATION at a fixed rate, open loop ----------
# memory PREFIX RATE PORT — a fresh full gateway (SQLite), `rendezvous simulate`
# at RATE for MEM_DURATION, then its RSS; results go to meta as PREFIX_*.
memory() {
	local p=$1 rate=$2 port=$3 pid rss hwm dropped
	start "$p" "$WORK/bin/rendezvous" serve --addr "127.0.0.1:$port" --store "sqlite://$WORK/$p.db" --log-level warn
	pid=$LAST_PID
	if ! wait_ready "$pid" "http://127.0.0.1:$port/readyz"; then
		echo "${p}_note=the gateway did not start: $(first_error "$WORK/$p.log")" >>"$META"
		stop "$pid"
		return
	fi
	log "memory: rendezvous simulate --rate $rate --duration $MEM_DURATION"
	if ! "$WORK/bin/rendezvous" simulate --target "http://127.0.0.1:$port" --rate "$rate" --duration "$MEM_DURATION" \
		--seed 1 --json >"$WORK/$p.json" 2>"$WORK/$p-sim.log"; then
		echo "${p}_note=the simulator failed: $(tail -1 "$WORK/$p-sim.log")" >>"$META"
		stop "$pid"
		return
	fi
	read -r rss hwm < <($BT mem "$pid")
	dropped=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^rendezvous_recorder_dropped[a-z_]* /{s+=$2} END{print s+0}')
	$PY - "$WORK/$p.json" "$p" >>"$META" <<-'EOF'
		import json, sys
		s, p = json.load(open(sys.argv[1])), sys.argv[2]
		print("%s_rate=%.0f" % (p, s["achieved_rate"]))
		print("%s_sent=%d" % (p, s["sent"]))
		print("%s_ok=%d" % (p, s["ok"]))
		print("%s_p99=%.2f ms" % (p, s["p99_ns"] / 1e6))
		print("%s_backlog=%d" % (p, s.get("backlog", 0)))
	EOF
	{
		echo "${p}_rss_mb=$rss"
		echo "${p}_hwm_mb=$hwm"
		echo "${p}_duration=$MEM_DURATION"
		echo "${p}_target_rate=$rate"
		echo "${p}_note=recorder dropped $dropped records during the run (from /metrics)"
	} >>"$META"
	log "memory at $rate/s: RSS $rss MB (peak $hwm MB), dropped $dropped"
	stop "$pid"
}
memory mem "$MEM_RATE" 18086
memory memlow "$MEM_RATE_LOW" 18087

if [ ${#NOTES[@]} -gt 0 ]; then
	echo "notes=${NOTES[*]}" >>"$META"
fi
$BT report --results "$RESULTS" --meta "$META" --out "$OUT"
log "wrote $OUT (raw output in $WORK)"
