#!/usr/bin/env bash
# bench/before-after.sh [OLD_REV] [NEW_REV] — did a change make the gateway
# slower? Issue 13's check (defaults: OLD_REV df271e0, the commit before the
# prediction path moved to internal/gateway; NEW_REV HEAD; "." is the working
# tree as it is, uncommitted changes included).
#
# Builds `rendezvous` at both revisions (git archive into a temp dir, go
# build), then measures, with bench/gateway.sh's load and pinning (its
# functions live in bench/lib.sh):
#   (b) the gateway with only the production model and recording off
#       (bench/configs/prod-only.yaml: store none://),
#   (c) the full gateway: the embedded example's three models, every request
#       recorded to SQLite (a temp file per server),
# for old and new: four servers started side by side, each warmed up
# (uncounted), then GW_ROUNDS interleaved rounds old-b, new-b, old-c, new-c
# (even rounds new first: new-b, old-b, new-c, old-c, so neither side always
# runs right after the other's flush). Each measured run is
# `wrk -c64 --latency -s bench/post.lua` with the server on GW_SERVER_CPUS and
# wrk on GW_WRK_CPUS; the server's CPU time (utime + stime from /proc) over
# the run divided by the requests completed is the steady figure on a shared
# machine. Reported per setup: medians of requests/s, p50, p99 and CPU µs per
# request, the CPU per request of every round, and new/old.
#
# Then the Go micro-benchmarks `BenchmarkPredict*` of ./internal/api at both
# revisions: one test binary per revision, run alternately GW_BENCH_COUNT
# times (-count 1 each, so load bursts hit both alike), ns/op, B/op and
# allocs/op medians, and benchstat's comparison when benchstat is installed
# (go install golang.org/x/perf/cmd/benchstat@latest).
#
# Rewrites the part of BENCHMARKS.md between the gateway-refactor:begin and
# gateway-refactor:end markers (appended if missing).
#
# Usage: bench/before-after.sh [OLD_REV] [NEW_REV]    (about 8 minutes)
# Needs: Go, git, wrk, taskset, curl.
# Knobs (environment): GW_ROUNDS (5), GW_DURATION (8s), GW_WARMUP (4s),
#   GW_CONNECTIONS (64), GW_THREADS (1), GW_SERVER_CPUS (1), GW_WRK_CPUS (0),
#   GW_BENCH_COUNT (10; 0 skips the Go benchmarks), GW_BENCHTIME (5000x: a fixed
#   count, since a long run under load fails on a 503 more often),
#   GW_OUT (BENCHMARKS.md; empty: print the section only).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OLD_REV=${1:-df271e0}
NEW_REV=${2:-HEAD}
DURATION=${GW_DURATION:-8s}
ROUNDS=${GW_ROUNDS:-5}
WARMUP=${GW_WARMUP:-4s}
CONNS=${GW_CONNECTIONS:-64}
THREADS=${GW_THREADS:-1}
SERVER_CPUS=${GW_SERVER_CPUS-1}
WRK_CPUS=${GW_WRK_CPUS-0}
BENCH_COUNT=${GW_BENCH_COUNT:-10}
BENCHTIME=${GW_BENCHTIME:-5000x}
OUT=${GW_OUT-$ROOT/BENCHMARKS.md}
ROUTE=/singletitanicpred/

WORK=$(mktemp -d /tmp/rendezvous-beforeafter.XXXXXX)
LOG_TAG=before-after
# shellcheck source=bench/lib.sh
. bench/lib.sh
trap lib_cleanup EXIT

command -v wrk >/dev/null || die "wrk not found: apt-get install wrk"
command -v curl >/dev/null || die "curl not found"

# describe REV — "abc1234 (subject)", or "working tree of abc1234" for ".".
describe() {
	if [ "$1" = . ]; then echo "the working tree of \`$(git rev-parse --short HEAD)\`"; return; fi
	echo "\`$(git rev-parse --short "$1^{commit}")\` ($(git log -1 --format=%s "$1" | cut -c1-70)…)"
}
# build NAME REV — the source of REV in $WORK/src-NAME (the working tree for
# "."), the server in $WORK/bin/rendezvous-NAME, the api test binary in
# $WORK/bin/api-NAME.test; sets SRC_NAME.
build() {
	local name=$1 rev=$2 src=$WORK/src-$1
	if [ "$rev" = . ]; then
		src=$ROOT
	else
		git rev-parse --verify -q "$rev^{commit}" >/dev/null || die "no such revision: $rev"
		mkdir -p "$src"
		git archive "$rev" | tar -x -C "$src"
	fi
	log "building $name ($rev) from $src"
	(cd "$src" && go build -trimpath -o "$WORK/bin/rendezvous-$name" ./cmd/rendezvous &&
		go test -trimpath -c -o "$WORK/bin/api-$name.test" ./internal/api/)
	printf -v "SRC_$name" %s "$src"
}
mkdir -p "$WORK/bin"
build old "$OLD_REV"
build new "$NEW_REV"
go build -o "$WORK/bin/benchtab" ./bench/benchtab
BT=$WORK/bin/benchtab
OLD_DESC=$(describe "$OLD_REV")
NEW_DESC=$(describe "$NEW_REV")

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$WORK/rows"
: >"$WORK/loads"

# --- the servers ----------------------------------------------------------------
# ids: ob nb (setup b, old and new), oc nc (setup c).
port=18190
for side in o n; do
	bin=$WORK/bin/rendezvous-$([ $side = o ] && echo old || echo new)
	port=$((port + 1))
	start "${side}b" "$bin" serve --config bench/configs/prod-only.yaml --addr "127.0.0.1:$port" --log-level warn
	printf -v "PID_${side}b" %s "$LAST_PID"
	printf -v "URL_${side}b" %s "http://127.0.0.1:$port$ROUTE"
	printf -v "READY_${side}b" %s "http://127.0.0.1:$port/readyz"
	port=$((port + 1))
	start "${side}c" "$bin" serve --addr "127.0.0.1:$port" --store "sqlite://$WORK/${side}c.db" --log-level info
	printf -v "PID_${side}c" %s "$LAST_PID"
	printf -v "URL_${side}c" %s "http://127.0.0.1:$port$ROUTE"
	printf -v "READY_${side}c" %s "http://127.0.0.1:$port/readyz"
done
for id in ob nb oc nc; do
	p=PID_$id r=READY_$id
	wait_ready "${!p}" "${!r}" || die "server ($id) did not start: $(tail -3 "$WORK/$id.log")"
done
for id in ob nb oc nc; do
	u=URL_$id
	log "($id) warm-up $WARMUP"
	warmup "${!u}" "$WARMUP"
done
for r in $(seq 1 "$ROUNDS"); do
	echo "$r $(cut -d' ' -f1 /proc/loadavg)" >>"$WORK/loads"
	order="ob nb oc nc"
	[ $((r % 2)) = 0 ] && order="nb ob nc oc"
	for id in $order; do
		u=URL_$id p=PID_$id
		sleep 1 # the previous server's recorder flushes its last batch
		measure "$id" "${!u}" "${!p}" "$r"
	done
done
for id in ob nb oc nc; do
	p=PID_$id
	stop "${!p}"
done
LOAD_HTTP=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the Go micro-benchmarks ------------------------------------------------------
: >"$WORK/old.bench"
: >"$WORK/new.bench"
: >"$WORK/old.fails"
: >"$WORK/new.fails"
if [ "$BENCH_COUNT" -gt 0 ]; then
	for i in $(seq 1 "$BENCH_COUNT"); do
		for side in old new; do
			[ $((i % 2)) = 0 ] && side=$([ $side = old ] && echo new || echo old)
			src=SRC_$side
			log "go bench $side $i/$BENCH_COUNT"
			# A run can fail under heavy load (a 503: no model within the
			# default deadline); its failed benchmark is left out and counted.
			(cd "${!src}/internal/api" && "$WORK/bin/api-$side.test" -test.run '^$' -test.bench 'BenchmarkPredict' \
				-test.benchmem -test.benchtime "$BENCHTIME" -test.count 1) >"$WORK/run.bench" 2>&1 ||
				log "go bench $side $i: $(grep -c -- '--- FAIL' "$WORK/run.bench") benchmark(s) failed: $(grep -m1 'api_test' "$WORK/run.bench" | sed 's/^ *//')"
			grep -E '^(goos|goarch|pkg|cpu):|ns/op' "$WORK/run.bench" >>"$WORK/$side.bench" || true
			grep -c -- '--- FAIL' "$WORK/run.bench" >>"$WORK/$side.fails" || true
		done
	done
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the tables -----------------------------------------------------------------
R=$WORK/rows
ratio() { awk -v n="$1" -v o="$2" 'BEGIN {if (o + 0 == 0) print "–"; else printf "%.3f", n / o}'; }
# lohi ID — "min max" of ID's CPU per request over the rounds; range: "min–max".
lohi() { awk -v id="$1" '$1 == id {v = $5 + 0; if (n++ == 0 || v < lo) lo = v; if (n == 1 || v > hi) hi = v} END {printf "%.1f %.1f\n", lo, hi}' "$R"; }
range() { lohi "$1" | sed 's/ /–/'; }
# setup_rows S — the old, new and new/old lines of setup S's table.
setup_rows() {
	local s=$1 side id col
	local -A m
	for side in o n; do
		id=$side$s
		for col in 2 3 4 5; do m[$side$col]=$(median_col "$R" "$id" "$col"); done
		m[${side}x]=$(sum_col "$R" "$id" 6)
		echo "| $s | $([ $side = o ] && echo old || echo new) | ${m[${side}2]} | ${m[${side}3]} ms | ${m[${side}4]} ms | **${m[${side}5]}** [$(range "$id")] | ${m[${side}x]} |"
	done
	echo "| $s | new / old | $(ratio "${m[n2]}" "${m[o2]}") | $(ratio "${m[n3]}" "${m[o3]}") | $(ratio "${m[n4]}" "${m[o4]}") | **$(ratio "${m[n5]}" "${m[o5]}")** | |"
}
per_round() {
	local r id
	for r in $(seq 1 "$ROUNDS"); do
		printf '| %s | %s |' "$r" "$(awk -v r="$r" '$1 == r {print $2}' "$WORK/loads")"
		for id in ob nb oc nc; do
			printf ' %s |' "$(awk -v id="$id" -v r="$r" '$1 == id && ++n == r {printf "%s (%.0f/s)", $5, $2}' "$R")"
		done
		echo
	done
}
# verdict S — new's CPU per request against old's: "regression" when the
# median rose more than 3 % and every new round is above every old round.
verdict() {
	local s=$1 o n
	o=$(median_col "$R" "o$s" 5)
	n=$(median_col "$R" "n$s" 5)
	local olo ohi nlo nhi
	read -r olo ohi <<<"$(lohi "o$s")"
	read -r nlo nhi <<<"$(lohi "n$s")"
	awk -v o="$o" -v n="$n" -v olo="$olo" -v ohi="$ohi" -v nlo="$nlo" -v nhi="$nhi" 'BEGIN {
		d = 100 * (n - o) / o
		if (d > 3 && nlo > ohi) printf "**higher**: %+.1f %% in the median and every new round above every old round (a regression)", d
		else if (d < -3 && nhi < olo) printf "lower: %+.1f %% in the median and every new round below every old round", d
		else if (d > 3) printf "%+.1f %% in the median, but the rounds overlap (old %s–%s, new %s–%s): within noise", d, olo, ohi, nlo, nhi
		else printf "not higher: %+.1f %% in the median (old %s–%s, new %s–%s)", d, olo, ohi, nlo, nhi }'
}
# gobench_rows — per benchmark: medians of ns/op, B/op, allocs/op, old and new.
gobench_rows() {
	local f name side
	for side in old new; do
		awk -v side="$side" '/^Benchmark/ {
			name = $1; sub(/-[0-9]+$/, "", name)
			for (i = 3; i < NF; i++) { if ($(i + 1) == "ns/op") ns = $i; if ($(i + 1) == "B/op") b = $i; if ($(i + 1) == "allocs/op") a = $i }
			print name, side, ns, b, a }' "$WORK/$side.bench"
	done >"$WORK/gobench"
	for name in $(awk '{print $1}' "$WORK/gobench" | sort -u); do
		awk -v n="$name" '$1 == n {print $2 "/" $1, $3, $4, $5}' "$WORK/gobench" | sed 's/^old\//o /; s/^new\//n /' >"$WORK/gb.$name"
		local on nn ob nbb oa na
		on=$(median_col "$WORK/gb.$name" o 3) nn=$(median_col "$WORK/gb.$name" n 3)
		ob=$(median_col "$WORK/gb.$name" o 4) nbb=$(median_col "$WORK/gb.$name" n 4)
		oa=$(median_col "$WORK/gb.$name" o 5) na=$(median_col "$WORK/gb.$name" n 5)
		printf '| %s | %.0f | %.0f | %s | %.0f | %.0f | %s | %g | %g | %s |\n' "$name" "$on" "$nn" "$(ratio "$nn" "$on")" \
			"$ob" "$nbb" "$(ratio "$nbb" "$ob")" "$oa" "$na" "$(ratio "$na" "$oa")"
	done
}
# fails — a note on benchmark runs that failed (none: nothing).
fails() {
	local o n
	o=$(awk '{s += $1} END {print s + 0}' "$WORK/old.fails") n=$(awk '{s += $1} END {print s + 0}' "$WORK/new.fails")
	[ "$o$n" = 00 ] && return
	echo " Runs that failed (a 503 when no model answered within the default deadline under the machine's load) are left out: old $o, new $n."
}
PINNING="servers on CPU ${SERVER_CPUS:-any}, wrk on CPU ${WRK_CPUS:-any} (taskset)"
[ -z "$SERVER_CPUS$WRK_CPUS" ] && PINNING="no pinning"

SECTION=$WORK/section.md
{
	cat <<EOF
<!-- gateway-refactor:begin (written by bench/before-after.sh; do not edit by hand) -->

## Prediction path restructured (issue 13): before and after

Run of $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/before-after.sh $OLD_REV $NEW_REV\`: old = $OLD_DESC, new = $NEW_DESC.  
Machine: $(machine); load average (1, 5, 15 min) before the run: $LOAD_BEFORE, after the wrk rounds: $LOAD_HTTP, at the end: $LOAD_AFTER. The machine is shared with other sessions building and testing on the same cores, so requests/s and latency move with their load; server CPU per request is the steadier figure.  
Load: as \`bench/gateway.sh\`: \`wrk -t$THREADS -c$CONNS -d$DURATION --latency -s bench/post.lua\` (keep-alive, POST \`$ROUTE\`) after a $WARMUP warm-up per server; $PINNING. Four servers side by side, $ROUNDS interleaved rounds (old-b, new-b, old-c, new-c; even rounds new first). (b): \`bench/configs/prod-only.yaml\`, production model only, store \`none://\`; (c): the embedded example, three models, every request recorded to SQLite. Medians over the rounds, CPU range in brackets; non-2xx: the sum.

| setup | build | requests/s | p50 | p99 | server CPU µs / request [range] | non-2xx |
|---|---|---:|---:|---:|---:|---:|
EOF
	setup_rows b
	setup_rows c
	cat <<EOF

Per round: server CPU µs / request (requests/s); load average (1 min) at the start of the round.

| round | load | b old | b new | c old | c new |
|---:|---:|---:|---:|---:|---:|
EOF
	per_round
	cat <<EOF

Server CPU per request, new against old: (b) $(verdict b); (c) $(verdict c).
EOF
	if [ "$BENCH_COUNT" -gt 0 ]; then
		cat <<EOF

Go micro-benchmarks (\`go test -run '^\$' -bench BenchmarkPredict -benchtime $BENCHTIME\` in ./internal/api, three rule models and a recorder that keeps nothing, no network; \`RunParallel\` with GOMAXPROCS $(nproc), unpinned): one test binary per revision, $BENCH_COUNT runs each, alternating. Medians; wall ns/op follows the machine's load, B/op and allocs/op do not.$(fails)

| benchmark | ns/op old | ns/op new | new / old | B/op old | B/op new | new / old | allocs/op old | allocs/op new | new / old |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
EOF
		gobench_rows
		BS=$(command -v benchstat || echo "$(go env GOPATH)/bin/benchstat")
		if [ -x "$BS" ]; then
			echo
			echo "benchstat:"
			echo
			echo '```'
			(cd "$WORK" && "$BS" old.bench new.bench) | sed '/^goos\|^goarch\|^cpu\|^pkg/d' | cat -s
			echo '```'
		fi
	fi
	echo
	echo "<!-- gateway-refactor:end -->"
} >"$SECTION"

if [ -n "$OUT" ]; then
	replace_section "$OUT" '<!-- gateway-refactor:begin' '<!-- gateway-refactor:end' "$SECTION"
	log "wrote $OUT (raw output in $WORK)"
fi
cat "$SECTION" >&2
