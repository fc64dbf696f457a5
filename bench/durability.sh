#!/usr/bin/env bash
# bench/durability.sh — issue 14's figures, in one run:
#   1. the full gateway (the example's three models, SQLite) in
#      recorder.durability async and sync side by side: closed-loop wrk
#      (bench/post.lua, keep-alive) requests/s, p50, p99, and at a fixed
#      DB_FIXED_RATE (1,000 requests/s, `rendezvous simulate --rate`, open
#      loop) p50 and p99; rounds interleave the two gateways so a burst of
#      load from elsewhere on the shared machine hits both alike; medians;
#   2. the spool's write rate during an outage (records/s, MB/s, fsyncs/s:
#      BenchmarkRecorder_SpoolWriteRate, batch 512 and 32);
#   3. the real-process tests of internal/e2e/durability with their figures:
#      kill -9 under load (sync, async), a private PostgreSQL stopped for
#      DB_OUTAGE (30s) under 1,000 requests/s, 1,000 rejected 1 MiB bodies;
# and rewrites the part of BENCHMARKS.md between durability:begin and
# durability:end (appended if missing). Targets: sync ≥ 50 % of async
# requests/s; sync p99 ≤ flush_interval + 10 ms at 1,000 requests/s.
#
# Usage: bench/durability.sh   (about 5 minutes)
# Needs: Go, wrk (apt-get install wrk), taskset, curl; $RENDEZVOUS_SHARED or
#   ../shared for the PostgreSQL test (its server binaries under /usr/lib/postgresql).
# Knobs (environment): DB_ROUNDS (3), DB_DURATION (8s), DB_WARMUP (3s), DB_CONNECTIONS (64),
#   DB_SERVER_CPUS (1), DB_WRK_CPUS (0) (empty: no pinning), DB_FIXED_RATE (1000),
#   DB_FIXED_DURATION (6s), DB_OUTAGE (30s), DB_SKIP_TESTS (set: skip part 3), DB_OUT (BENCHMARKS.md),
#   DB_KEEP (set: keep the work directory with the servers' logs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=${DB_ROUNDS:-3}
DURATION=${DB_DURATION:-8s}
WARMUP=${DB_WARMUP:-3s}
CONNS=${DB_CONNECTIONS:-64}
SERVER_CPUS=${DB_SERVER_CPUS-1}
WRK_CPUS=${DB_WRK_CPUS-0}
FIXED_RATE=${DB_FIXED_RATE:-1000}
FIXED_DURATION=${DB_FIXED_DURATION:-6s}
OUTAGE=${DB_OUTAGE:-30s}
OUT=${DB_OUT:-$ROOT/BENCHMARKS.md}
export RENDEZVOUS_SHARED=${RENDEZVOUS_SHARED:-$(cd .. && pwd)/shared}

WORK=$(mktemp -d /tmp/rendezvous-durbench.XXXXXX)
STARTED=()
log() { printf '[durability-bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
cleanup() {
	for pid in "${STARTED[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${STARTED[@]}"; do wait "$pid" 2>/dev/null || true; done
	[ -n "${DB_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
command -v wrk >/dev/null || die "wrk not found: apt-get install wrk"
command -v curl >/dev/null || die "curl not found"
pin() { local cpus=$1; shift; if [ -n "$cpus" ]; then taskset -c "$cpus" "$@"; else "$@"; fi; }
ms() { # wrk's latency ("512.00us", "1.27ms", "1.02s") in milliseconds
	awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.2f", n }'
}
median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "?"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

log "building into $WORK/bin"
go build -o "$WORK/bin/rendezvous" ./cmd/rendezvous
RDV=$WORK/bin/rendezvous
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')

# A gateway per mode: `rendezvous init` (config + bundles), durability set,
# the SQLite file in its directory (sync mode opens it with synchronous=full).
declare -A PORT=([async]=18191 [sync]=18192) PID=()
for mode in async sync; do
	d=$WORK/$mode
	"$RDV" init "$d" >/dev/null
	sed -i -e "s|^\(\s*\)durability: .*|\1durability: $mode|" -e "s|^\(\s*\)url: sqlite://.*|\1url: sqlite://$d/rendezvous.db|" "$d/rendezvous.yaml"
	# The store URL is absolute and the bundles resolve against the file:
	# no cd needed. taskset execs the server, so $! is the server itself.
	if [ -n "$SERVER_CPUS" ]; then
		taskset -c "$SERVER_CPUS" "$RDV" serve --config "$d/rendezvous.yaml" --addr "127.0.0.1:${PORT[$mode]}" --log-level info >"$WORK/$mode.log" 2>&1 &
	else
		"$RDV" serve --config "$d/rendezvous.yaml" --addr "127.0.0.1:${PORT[$mode]}" --log-level info >"$WORK/$mode.log" 2>&1 &
	fi
	PID[$mode]=$!
	STARTED+=("${PID[$mode]}")
done
for mode in async sync; do
	for _ in $(seq 1 150); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[$mode]}/readyz" || true)" = 200 ] && break
		sleep 0.2
	done
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[$mode]}/readyz" || true)" = 200 ] ||
		die "$mode gateway did not start: $(tail -3 "$WORK/$mode.log")"
	log "($mode) warm-up $WARMUP"
	pin "$WRK_CPUS" wrk -t1 -c"$CONNS" -d"$WARMUP" -s bench/post.lua "http://127.0.0.1:${PORT[$mode]}/singletitanicpred/" >/dev/null
done

: >"$WORK/rows"
: >"$WORK/fixed"
for r in $(seq 1 "$ROUNDS"); do
	for mode in async sync; do
		f=$WORK/$mode.$r.wrk
		pin "$WRK_CPUS" wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s bench/post.lua "http://127.0.0.1:${PORT[$mode]}/singletitanicpred/" >"$f"
		rps=$(awk '/^Requests\/sec/ {print $2}' "$f")
		p50=$(ms "$(awk '$1 == "50%" {print $2}' "$f")")
		p99=$(ms "$(awk '$1 == "99%" {print $2}' "$f")")
		non2xx=$(awk '/Non-2xx/ {print $NF}' "$f")
		# 2xx answers per second: wrk's requests/s counts the 503s of
		# admission control (server.max_in_flight) too.
		okrps=$(awk -v n="${non2xx:-0}" '/requests in/ {d = $4; sub(/s,?$/, "", d); printf "%.2f", ($1 - n) / d}' "$f")
		log "($mode) round $r: wrk $rps req/s ($okrps 2xx/s), p50 $p50 ms, p99 $p99 ms, non-2xx ${non2xx:-0}"
		echo "$mode $rps $p50 $p99 ${non2xx:-0} $okrps" >>"$WORK/rows"
	done
	for mode in async sync; do
		f=$WORK/$mode.$r.fixed.json
		pin "$WRK_CPUS" "$RDV" simulate --target "http://127.0.0.1:${PORT[$mode]}" --route original --rate "$FIXED_RATE" \
			--duration "$FIXED_DURATION" --concurrency "$CONNS" --seed 1 --json >"$f" 2>"$WORK/$mode.$r.fixed.log" ||
			die "simulate against $mode failed: $(tail -1 "$WORK/$mode.$r.fixed.log")"
		awk -v id="$mode" 'BEGIN { RS = "[,{}]" }
			/"achieved_rate"/ { split($0, a, ":"); rate = a[2] }
			/"ok"/ { split($0, a, ":"); ok = a[2] }
			/"sent"/ { split($0, a, ":"); sent = a[2] }
			/"p50_ns"/ { split($0, a, ":"); p50 = a[2] / 1e6 }
			/"p99_ns"/ { split($0, a, ":"); p99 = a[2] / 1e6 }
			END { printf "%s %.0f %d %d %.2f %.2f\n", id, rate, ok, sent, p50, p99 }' "$f" >>"$WORK/fixed"
		log "($mode) round $r: fixed $(tail -1 "$WORK/fixed")"
	done
done
metrics() { curl -s "http://127.0.0.1:${PORT[$1]}/metrics"; }
for mode in async sync; do
	metrics "$mode" >"$WORK/$mode.metrics"
	kill -TERM "${PID[$mode]}"
	wait "${PID[$mode]}" 2>/dev/null || true
done
flushed() { grep -o 'records_written=[0-9]* dropped=[0-9]* lost=[0-9]*' "$WORK/$1.log" | tail -1 || echo "?"; }
c503() { awk 'index($0, "rendezvous_http_requests_total{code=\"503\"") == 1 {s += $NF} END {printf "%d", s}' "$WORK/$1.metrics"; }

col() { awk -v m="$1" -v c="$2" '$1 == m {print $c}' "$3" | median; }
sum() { awk -v m="$1" -v c="$2" '$1 == m {s += $c} END {printf "%d", s}' "$3"; }
per_round() { awk -v c="$2" '{printf "%s%s %s", (NR > 1 ? "; " : ""), $1, $c}' "$1"; }
A_RPS=$(col async 6 "$WORK/rows") S_RPS=$(col sync 6 "$WORK/rows")
RATIO=$(awk -v a="$A_RPS" -v s="$S_RPS" 'BEGIN {printf "%.0f", 100 * s / a}')
S_FIX_P99=$(col sync 6 "$WORK/fixed")
FLUSH_MS=$(awk '/flush_interval:/ {v = $2; sub(/ms/, "", v); print v; exit}' "$WORK/sync/rendezvous.yaml")
P99_LIMIT=$((FLUSH_MS + 10))

log "spool write rate (BenchmarkRecorder_SpoolWriteRate)"
go test -run '^$' -bench BenchmarkRecorder_SpoolWriteRate -benchtime 20000x -count 3 ./internal/record >"$WORK/spool.bench" 2>&1 ||
	die "spool benchmark failed: $(tail -5 "$WORK/spool.bench")"
spool_row() { # spool_row BATCH — medians of records/s, MB/s, fsyncs/s
	local b=$1
	local recs mbs fs
	recs=$(awk -v b="batch=$b" 'index($1, b) { for (i = 2; i <= NF; i++) if ($(i+1) == "records/s") print $i }' "$WORK/spool.bench" | median)
	mbs=$(awk -v b="batch=$b" 'index($1, b) { for (i = 2; i <= NF; i++) if ($(i+1) == "MB/s") print $i }' "$WORK/spool.bench" | median)
	fs=$(awk -v b="batch=$b" 'index($1, b) { for (i = 2; i <= NF; i++) if ($(i+1) == "fsyncs/s") print $i }' "$WORK/spool.bench" | median)
	printf '| %s | %.0f | %.1f | %.0f |\n' "$b" "$recs" "$mbs" "$fs"
}

TESTS="(skipped: DB_SKIP_TESTS set)"
if [ -z "${DB_SKIP_TESTS:-}" ]; then
	log "real-process tests (internal/e2e/durability, outage $OUTAGE)"
	RENDEZVOUS_OUTAGE=$OUTAGE go test -count=1 -timeout 30m -v -run 'TestKill9Sync|TestKill9Async|TestPostgresOutage|TestRejectedBodiesByteBound' \
		./internal/e2e/durability >"$WORK/e2e.log" 2>&1 || log "warning: a real-process test failed (see below)"
	TESTS=$(grep -E '^\s+(kill|outage|bytes)_test.go:[0-9]+: (durability=|FIGURES|achieved|[0-9]+ rejected)|^--- ' "$WORK/e2e.log" | sed -E 's/^\s+//; s/^/    /')
fi

SECTION=$WORK/section.md
{
	echo "<!-- durability:begin (written by bench/durability.sh; do not edit by hand) -->"
	echo
	echo "### Durability modes, spool, kill and outage (issue 14) — run of $DATE"
	echo
	echo "Machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(go env GOVERSION); load average before the run: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared)."
	echo "Two gateways (\`rendezvous init\`: three models, SQLite in its own directory), \`recorder.durability: async\` and \`sync\` (SQLite at synchronous=full), flush_interval ${FLUSH_MS} ms, batch_size 512; servers on CPU ${SERVER_CPUS:-any}, load on CPU ${WRK_CPUS:-any} (taskset). $ROUNDS rounds, each: wrk on async, wrk on sync (\`wrk -t1 -c$CONNS -d$DURATION --latency -s bench/post.lua\`), then \`simulate --rate $FIXED_RATE --duration $FIXED_DURATION --route original --concurrency $CONNS\` on each. Medians over rounds; non-2xx and ok/sent are sums."
	echo
	echo "Closed loop, 2xx answers/s per round: $(per_round "$WORK/rows" 6)."
	echo
	echo "| mode | requests/s (wrk) | 2xx/s | p50 | p99 | non-2xx | at $FIXED_RATE req/s: achieved | ok / sent | p50 | p99 |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for mode in async sync; do
		echo "| $mode | $(col "$mode" 2 "$WORK/rows") | $(col "$mode" 6 "$WORK/rows") | $(col "$mode" 3 "$WORK/rows") ms | $(col "$mode" 4 "$WORK/rows") ms | $(sum "$mode" 5 "$WORK/rows") | $(col "$mode" 2 "$WORK/fixed") | $(sum "$mode" 3 "$WORK/fixed") / $(sum "$mode" 4 "$WORK/fixed") | $(col "$mode" 5 "$WORK/fixed") ms | $(col "$mode" 6 "$WORK/fixed") ms |"
	done
	echo
	echo "Fixed-rate p99 per round: $(per_round "$WORK/fixed" 6)."
	echo "Recorder after the shutdown flush: async $(flushed async), sync $(flushed sync); 503s over each gateway's life (warm-up included; wrk closes connections with requests in flight): async $(c503 async), sync $(c503 sync)."
	echo
	echo "Targets:"
	echo
	echo "- sync ≥ 50 % of async throughput (closed loop, 2xx answers/s): $RATIO % — $(awk -v r="$RATIO" 'BEGIN {print (r >= 50 ? "met" : "**not met**")}')"
	echo "- sync p99 ≤ flush_interval + 10 ms = $P99_LIMIT ms at $FIXED_RATE requests/s: $S_FIX_P99 ms — $(awk -v p="$S_FIX_P99" -v l="$P99_LIMIT" 'BEGIN {print (p + 0 <= l ? "met" : "**not met**")}')"
	echo
	echo "Spool write rate during a store outage (\`BenchmarkRecorder_SpoolWriteRate\`: gateway-shaped records with three models, encoded, one frame and one fsync per batch; median of 3):"
	echo
	echo "| batch | records/s | MB/s | fsyncs/s |"
	echo "|---:|---:|---:|---:|"
	spool_row 512
	spool_row 32
	echo
	echo "Real-process tests (\`internal/e2e/durability\`, the built binary; outage $OUTAGE at 1,000 requests/s against a private PostgreSQL), their log lines:"
	echo
	echo "$TESTS"
	echo
	echo "<!-- durability:end -->"
} >"$SECTION"
if grep -q '<!-- durability:begin' "$OUT"; then
	awk -v f="$SECTION" '/<!-- durability:begin/ {while ((getline l < f) > 0) print l; skip = 1; next}
		/<!-- durability:end/ {skip = 0; next} !skip' "$OUT" >"$WORK/out.md"
	cp "$WORK/out.md" "$OUT"
else
	printf '\n## Durability (issue 14)\n\n`bench/durability.sh` writes the part between the markers; notes after it are by hand.\n\n' >>"$OUT"
	cat "$SECTION" >>"$OUT"
fi
cat "$SECTION"
log "wrote $OUT"
