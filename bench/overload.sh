#!/usr/bin/env bash
# bench/overload.sh [OLD_REV] [NEW_REV] — issue 15's overload figures, in one
# run, for the full gateway (the embedded example's three models, every
# request recorded to SQLite) at NEW_REV (default HEAD; "." the working tree)
# and at OLD_REV (default df271e0, before admission control), each built from
# `git archive` like bench/before-after.sh:
#   1. peak: wrk -c64 (OV_PEAK_DURATION, 20s) — 2xx/s (goodput), p50, p99;
#   2. overload: wrk -t2 -c2000 -d30s (bench/status.lua counts the answers by
#      status and the 503s without Retry-After) and, at the same time,
#      bench/probe with OV_PROBE_CONNS (32) connections, which times 2xx and
#      503 answers apart (wrk's latency mixes them). Reported: goodput (2xx/s
#      of both clients) as a share of the peak, p99 of admitted (2xx)
#      requests against policy.overall_deadline, the share of 503s, whether
#      every 503 carried Retry-After and how fast 503s were answered, the
#      server's VmRSS (max, sampled every second), and whether any 503 came
#      after model work: rendezvous_admission_shed_total's growth against the
#      503s the clients saw, and the records with status 'unavailable' in the
#      SQLite file (a shed request is not recorded; a 503 after the models ran
#      is);
#   2b. the platform's own share: bench/bare (plain net/http, a constant
#      answer) through the same peak and overload wrk runs, pinned the same
#      way — what net/http and the kernel keep at 2000 connections with no
#      gateway work — with every server's CPU time per answer (from /proc),
#      hence what 2000 connections add to each request before any gateway
#      work, and the goodput share that leaves reachable;
#   3. steady: wrk -c64 for OV_STEADY_DURATION (60s) — non-2xx (target 0).
# Servers on OV_SERVER_CPUS (1), clients on OV_WRK_CPUS (0), with taskset
# (GOMAXPROCS follows the affinity mask: 1 on one CPU). OV_CONFIG, a config
# file, replaces the embedded example for NEW_REV (to try server.max_in_flight
# and server.max_queue_wait); its store is overridden by --store.
# Rewrites the section of BENCHMARKS.md between the overload:begin and
# overload:end markers (appended if missing); OV_OUT= (empty) prints it only.
#
# Usage: bench/overload.sh [OLD_REV] [NEW_REV]    (about 5 minutes)
# Needs: Go, git, wrk (installed with apt-get when missing), taskset, curl, sqlite3.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OLD_REV=${1:-df271e0}
NEW_REV=${2:-HEAD}
PEAK_DURATION=${OV_PEAK_DURATION:-20s}
OVER_DURATION=${OV_OVER_DURATION:-30s}
OVER_CONNS=${OV_OVER_CONNS:-2000}
STEADY_DURATION=${OV_STEADY_DURATION:-60s}
PROBE_CONNS=${OV_PROBE_CONNS:-32}
WARMUP=${OV_WARMUP:-5s}
SERVER_CPUS=${OV_SERVER_CPUS-1}
WRK_CPUS=${OV_WRK_CPUS-0}
NEW_CONFIG=${OV_CONFIG:-}
OUT=${OV_OUT-$ROOT/BENCHMARKS.md}
ROUTE=/singletitanicpred/
CONNS=64 THREADS=1

WORK=$(mktemp -d /tmp/rendezvous-overload.XXXXXX)
LOG_TAG=overload
# shellcheck source=bench/lib.sh
. bench/lib.sh
SAMPLERS=()
cleanup() {
	local p
	for p in "${SAMPLERS[@]}"; do kill "$p" 2>/dev/null || true; done
	lib_cleanup
}
trap cleanup EXIT

if ! command -v wrk >/dev/null; then
	log "installing wrk"
	{ apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; } >"$WORK/apt.log" 2>&1 ||
		die "could not install wrk: $(tail -2 "$WORK/apt.log")"
fi
for c in curl sqlite3 taskset; do command -v $c >/dev/null || die "$c not found"; done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge $((OVER_CONNS + PROBE_CONNS + 256)) ] || die "ulimit -n $(ulimit -n) is too low for $OVER_CONNS connections"

describe() {
	if [ "$1" = . ]; then echo "the working tree of \`$(git rev-parse --short HEAD)\`"; return; fi
	echo "\`$(git rev-parse --short "$1^{commit}")\` ($(git log -1 --format=%s "$1" | cut -c1-60)…)"
}
build() { # build NAME REV
	local src=$WORK/src-$1
	if [ "$2" = . ]; then
		src=$ROOT
	else
		git rev-parse --verify -q "$2^{commit}" >/dev/null || die "no such revision: $2"
		mkdir -p "$src"
		git archive "$2" | tar -x -C "$src"
	fi
	log "building $1 ($2)"
	(cd "$src" && go build -trimpath -o "$WORK/bin/rendezvous-$1" ./cmd/rendezvous)
}
mkdir -p "$WORK/bin"
build old "$OLD_REV"
build new "$NEW_REV"
go build -o "$WORK/bin/probe" ./bench/probe
go build -o "$WORK/bin/benchtab" ./bench/benchtab
BT=$WORK/bin/benchtab

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the servers ----------------------------------------------------------------
PORT_old=18291 PORT_new=18292
for s in old new; do
	p=PORT_$s
	args=(serve --addr "127.0.0.1:${!p}" --store "sqlite://$WORK/$s.db" --log-level warn)
	[ $s = new ] && [ -n "$NEW_CONFIG" ] && args+=(--config "$NEW_CONFIG")
	start "$s" "$WORK/bin/rendezvous-$s" "${args[@]}"
	printf -v "PID_$s" %s "$LAST_PID"
	printf -v "URL_$s" %s "http://127.0.0.1:${!p}$ROUTE"
	printf -v "BASE_$s" %s "http://127.0.0.1:${!p}"
done
for s in old new; do
	p=PID_$s b=BASE_$s
	wait_ready "${!p}" "${!b}/readyz" || die "server ($s) did not start: $(tail -3 "$WORK/$s.log")"
done
# The overall deadline the new server runs with (its config, as it loaded it).
DEADLINE_MS=$(
	if [ -n "$NEW_CONFIG" ]; then f=$NEW_CONFIG; else f=examples/titanic/rendezvous.yaml; fi
	awk '$1 == "overall_deadline:" {v = $2; sub(/ms$/, "", v); print v}' "$f"
)
[ -n "$DEADLINE_MS" ] || die "no policy.overall_deadline found"

for s in old new; do
	u=URL_$s
	log "($s) warm-up $WARMUP"
	warmup "${!u}" "$WARMUP"
done

metrics_sum() { # metrics_sum BASE PREFIX — the sum of the series starting with PREFIX
	curl -s "$1/metrics" | awk -v p="$2" 'index($0, p) == 1 {s += $NF} END {printf "%d", s}'
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# hist_quantile BEFORE AFTER CLASS Q — the Q quantile (ms) of the requests of
# status CLASS (2xx, 5xx) handled between two /metrics snapshots, from
# rendezvous_http_request_duration_seconds's buckets summed over routes,
# interpolated within a bucket as Prometheus's histogram_quantile does; "-"
# when the server has no such series (before the class label) or no request.
hist_quantile() {
	awk -v cls="class=\"$3\"" -v q="$4" '
		index($0, "rendezvous_http_request_duration_seconds_bucket{") == 1 && index($0, cls) {
			match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
			if (FILENAME == ARGV[1]) b[le] -= $NF; else b[le] += $NF
			les[le] = 1
		}
		END {
			n = 0; for (l in les) if (l != "+Inf") ks[++n] = l + 0
			if (n == 0) { print "-"; exit }
			asort(ks); total = b["+Inf"]
			if (total <= 0) { print "-"; exit }
			rank = q * total; prev = 0; prevc = 0
			for (i = 1; i <= n; i++) {
				c = 0; for (l in b) if (l != "+Inf" && l + 0 == ks[i]) c = b[l]
				if (c >= rank) { printf "%.2f", 1000 * (prev + (ks[i] - prev) * (rank - prevc) / (c - prevc > 0 ? c - prevc : 1)); exit }
				prev = ks[i]; prevc = c
			}
			printf ">%.0f", 1000 * ks[n]
		}' "$1" "$2"
}
kv() { # kv FILE KEY — the value of KEY=… on the first line of FILE that has it
	tr ' ' '\n' <"$1" | awk -F= -v k="$2" '$1 == k {print $2; exit}'
}

# --- 1. the peak at 64 connections -------------------------------------------------
: >"$WORK/rows"
for s in old new; do
	u=URL_$s p=PID_$s
	DURATION=$PEAK_DURATION
	f=$WORK/peak-$s.wrk
	log "($s) peak: wrk -c$CONNS -d$PEAK_DURATION"
	c0=$($BT cpu "${!p}")
	pin "$WRK_CPUS" wrk -t1 -c$CONNS -d"$PEAK_DURATION" --latency -s bench/status.lua "${!u}" >"$f"
	printf -v "PEAKCPU_$s" %s "$(awk -v a="$c0" -v b="$($BT cpu "${!p}")" -v n="$(awk '/requests in/ {print $1}' "$f")" 'BEGIN {printf "%.1f", (b - a) * 1e6 / n}')"
	secs=${PEAK_DURATION%s}
	printf -v "PEAK_$s" %s "$(awk -v n="$(kv <(grep '^status' "$f") ok)" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')"
	printf -v "PEAKP50_$s" %s "$(ms "$(awk '$1 == "50%" {print $2}' "$f")")"
	printf -v "PEAKP99_$s" %s "$(ms "$(awk '$1 == "99%" {print $2}' "$f")")"
	printf -v "PEAKNON_$s" %s "$(($(kv <(grep '^status' "$f") s503) + $(kv <(grep '^status' "$f") other)))"
	v=PEAK_$s; log "($s) peak: ${!v} 2xx/s"
done

# --- 2. overload: wrk -c2000 and the probe at once ---------------------------------
for s in old new; do
	u=URL_$s p=PID_$s b=BASE_$s
	shed0=$(metrics_sum "${!b}" rendezvous_admission_shed_total)
	curl -s "${!b}/metrics" >"$WORK/metrics0-$s"
	( max=0; while kill -0 "${!p}" 2>/dev/null; do r=$(rss_kb "${!p}"); [ "$r" -gt "$max" ] && max=$r && echo "$max" >"$WORK/rss-$s"; sleep 1; done ) &
	SAMPLERS+=($!)
	sampler=$!
	log "($s) overload: wrk -t2 -c$OVER_CONNS -d$OVER_DURATION + probe -c$PROBE_CONNS"
	pin "$WRK_CPUS" "$WORK/bin/probe" -url "${!u}" -c "$PROBE_CONNS" -d "$OVER_DURATION" >"$WORK/probe-$s.out" 2>&1 &
	probe=$!
	c0=$($BT cpu "${!p}")
	pin "$WRK_CPUS" wrk -t2 -c"$OVER_CONNS" -d"$OVER_DURATION" --timeout 5s --latency -s bench/status.lua "${!u}" >"$WORK/over-$s.wrk"
	wait "$probe" || die "probe failed: $(cat "$WORK/probe-$s.out")"
	printf -v "OVERCPUS_$s" %s "$(awk -v a="$c0" -v b="$($BT cpu "${!p}")" 'BEGIN {print b - a}')"
	sleep 2 # requests the clients abandoned finish; the recorder catches up
	kill "$sampler" 2>/dev/null || true
	shed1=$(metrics_sum "${!b}" rendezvous_admission_shed_total)
	curl -s "${!b}/metrics" >"$WORK/metrics1-$s"
	printf -v "SHED_$s" %s "$((shed1 - shed0))"
	v=SHED_$s; log "($s) overload: $(grep '^status' "$WORK/over-$s.wrk"); probe: $(cat "$WORK/probe-$s.out"); shed ${!v}"
done

# --- 2b. the platform's own ratio: bench/bare through the same peak and overload ---
# A plain net/http server answering a constant JSON body, pinned like the
# gateways: what share of its 64-connection throughput net/http and this
# kernel keep at OVER_CONNS connections with no gateway work at all.
go build -o "$WORK/bin/bare" ./bench/bare
start bare "$WORK/bin/bare" -addr 127.0.0.1:18293
PID_bare=$LAST_PID
wait_ready "$PID_bare" http://127.0.0.1:18293$ROUTE || die "bare server did not start: $(tail -3 "$WORK/bare.log")"
URL_bare=http://127.0.0.1:18293$ROUTE
warmup "$URL_bare" "$WARMUP"
log "(bare) peak: wrk -c$CONNS -d$PEAK_DURATION"
c0=$($BT cpu "$PID_bare")
pin "$WRK_CPUS" wrk -t1 -c$CONNS -d"$PEAK_DURATION" -s bench/status.lua "$URL_bare" >"$WORK/peak-bare.wrk"
c1=$($BT cpu "$PID_bare")
log "(bare) overload: wrk -t2 -c$OVER_CONNS -d$OVER_DURATION"
pin "$WRK_CPUS" wrk -t2 -c"$OVER_CONNS" -d"$OVER_DURATION" --timeout 5s -s bench/status.lua "$URL_bare" >"$WORK/over-bare.wrk"
c2=$($BT cpu "$PID_bare")
stop "$PID_bare"
# CPU µs per request of the bare server at each load, and what 2,000
# connections add to every request before any gateway work.
PEAKCPU_bare=$(awk -v a="$c0" -v b="$c1" -v n="$(awk '/requests in/ {print $1}' "$WORK/peak-bare.wrk")" 'BEGIN {printf "%.1f", (b - a) * 1e6 / n}')
OVERCPU_bare=$(awk -v a="$c1" -v b="$c2" -v n="$(awk '/requests in/ {print $1}' "$WORK/over-bare.wrk")" 'BEGIN {printf "%.1f", (b - a) * 1e6 / n}')
EXTRA_bare=$(awk -v a="$PEAKCPU_bare" -v b="$OVERCPU_bare" 'BEGIN {printf "%.1f", b - a}')
PEAK_bare=$(awk -v n="$(kv <(grep '^status' "$WORK/peak-bare.wrk") ok)" -v s="${PEAK_DURATION%s}" 'BEGIN {printf "%.0f", n / s}')
GOOD_bare=$(awk -v n="$(kv <(grep '^status' "$WORK/over-bare.wrk") ok)" -v s="${OVER_DURATION%s}" 'BEGIN {printf "%.0f", n / s}')
GOODPCT_bare=$(awk -v g="$GOOD_bare" -v p="$PEAK_bare" 'BEGIN {printf "%.0f", p ? 100 * g / p : 0}')
log "(bare) peak $PEAK_bare 2xx/s, overload $GOOD_bare 2xx/s ($GOODPCT_bare %)"

# --- 3. steady: 64 connections for a minute ----------------------------------------
for s in old new; do
	u=URL_$s
	log "($s) steady: wrk -c$CONNS -d$STEADY_DURATION"
	pin "$WRK_CPUS" wrk -t1 -c$CONNS -d"$STEADY_DURATION" --latency -s bench/status.lua "${!u}" >"$WORK/steady-$s.wrk"
	log "($s) steady: $(grep '^status' "$WORK/steady-$s.wrk")"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Records: the servers flush on shutdown, then the SQLite files are read.
for s in old new; do
	p=PID_$s
	stop "${!p}"
	printf -v "UNAV_$s" %s "$(sqlite3 "$WORK/$s.db" "SELECT count(*) FROM records WHERE status = 'unavailable'" 2>/dev/null || echo '?')"
done

# --- the table ------------------------------------------------------------------
declare -A F
secs=${OVER_DURATION%s}
for s in old new; do
	w=$WORK/over-$s.wrk pr=$WORK/probe-$s.out st=$(grep '^status' "$WORK/over-$s.wrk")
	ok=$(($(kv <(echo "$st") ok) + $(kv "$pr" ok)))
	s503=$(($(kv <(echo "$st") s503) + $(kv "$pr" s503)))
	other=$(($(kv <(echo "$st") other) + $(kv "$pr" other)))
	nora=$(($(kv <(echo "$st") no_retry_after) + $(kv "$pr" no_retry_after)))
	errs=$(($(kv <(echo "$st") errors) + $(kv <(echo "$st") timeouts) + $(kv "$pr" errors)))
	answered=$((ok + s503 + other))
	peak=PEAK_$s
	F[$s.good]=$(awk -v n="$ok" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')
	F[$s.goodpct]=$(awk -v g="${F[$s.good]}" -v p="${!peak}" 'BEGIN {printf "%.0f", 100 * g / p}')
	pc=PEAKCPU_$s oc=OVERCPUS_$s
	F[$s.peakcpu]=${!pc}
	F[$s.overcpu]=$(awk -v c="${!oc}" -v n="$answered" 'BEGIN {printf "%.1f", n ? c * 1e6 / n : 0}')
	# The most goodput / peak a gateway whose own work costs the same at
	# both loads could keep: its peak cost over that cost plus what
	# 2,000 connections add to a request of the bare server.
	F[$s.bound]=$(awk -v p="${!pc}" -v x="$EXTRA_bare" 'BEGIN {printf "%.0f", 100 * p / (p + x)}')
	F[$s.okp50]=$(kv "$pr" ok_p50)
	F[$s.okp99]=$(kv "$pr" ok_p99)
	F[$s.allp99]=$(ms "$(awk '$1 == "99%" {print $2}' "$w")")
	F[$s.s503]=$s503
	F[$s.s503pct]=$(awk -v a="$s503" -v n="$answered" 'BEGIN {printf "%.1f", n ? 100 * a / n : 0}')
	F[$s.other]=$other
	F[$s.errs]=$errs
	F[$s.nora]=$nora
	F[$s.shp50]=$(kv "$pr" s503_p50)
	F[$s.shp99]=$(kv "$pr" s503_p99)
	F[$s.srv2p50]=$(hist_quantile "$WORK/metrics0-$s" "$WORK/metrics1-$s" 2xx 0.5)
	F[$s.srv2p99]=$(hist_quantile "$WORK/metrics0-$s" "$WORK/metrics1-$s" 2xx 0.99)
	F[$s.srv5p50]=$(hist_quantile "$WORK/metrics0-$s" "$WORK/metrics1-$s" 5xx 0.5)
	F[$s.srv5p99]=$(hist_quantile "$WORK/metrics0-$s" "$WORK/metrics1-$s" 5xx 0.99)
	# Little's law: with every connection always waiting for an answer,
	# the mean time an answer takes, seen by the clients, is the number of
	# connections over the answers per second — whatever the server does.
	F[$s.little]=$(awk -v c="$((OVER_CONNS + PROBE_CONNS))" -v a="$answered" -v s="$secs" 'BEGIN {printf "%.0f", a ? 1000 * c * s / a : 0}')
	F[$s.rss]=$(awk -v k="$(cat "$WORK/rss-$s" 2>/dev/null || echo 0)" 'BEGIN {printf "%.0f", k / 1024}')
	F[$s.steady]=$(($(kv <(grep '^status' "$WORK/steady-$s.wrk") s503) + $(kv <(grep '^status' "$WORK/steady-$s.wrk") other)))
	F[$s.steadyerr]=$(kv <(grep '^status' "$WORK/steady-$s.wrk") errors)
	F[$s.steadyn]=$(awk '/requests in/ {print $1}' "$WORK/steady-$s.wrk")
done
SHED_old_TEXT="n/a (no admission control)"
[ "$(curl -s "$BASE_old/metrics" 2>/dev/null | grep -c admission_shed || true)" -gt 0 ] && SHED_old_TEXT=$SHED_old
verdict() { if [ "$1" = 1 ]; then echo "met"; else echo "**not met**"; fi; }
le() { awk -v a="$1" -v b="$2" 'BEGIN {print (a != "-" && a + 0 <= b + 0) ? 1 : 0}'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN {print (a + 0 >= b + 0) ? 1 : 0}'; }
SETUP="embedded example"
[ -n "$NEW_CONFIG" ] && SETUP="\`$NEW_CONFIG\`"
PINNING="servers on CPU ${SERVER_CPUS:-any} (GOMAXPROCS $(pin "$SERVER_CPUS" nproc)), wrk and the probe on CPU ${WRK_CPUS:-any} (taskset)"
[ -z "$SERVER_CPUS$WRK_CPUS" ] && PINNING="no pinning"

# With no 503 at all there is nothing to time: say so rather than "met".
if [ "${F[new.s503]}" = 0 ]; then
	SHED_VERDICT="no 503 was answered"
else
	SHED_VERDICT="as the probe sees it $(verdict "$(le "${F[new.shp99]}" 4.999)"), in the server $(verdict "$(le "${F[new.srv5p99]}" 4.999)")"
fi

SECTION=$WORK/section.md
cat >"$SECTION" <<EOT
<!-- overload:begin (written by bench/overload.sh; do not edit by hand) -->

### Overload (issue 15) — run of $(date -u '+%Y-%m-%d %H:%M UTC')

Machine: $(machine); load average before the run $LOAD_BEFORE, after $LOAD_AFTER (the machine is shared: other jobs ran beside it).
The full gateway (3 models, SQLite recording; new: $SETUP), before = $(describe "$OLD_REV"), after = $(describe "$NEW_REV"); $PINNING.
Peak: \`wrk -t1 -c$CONNS -d$PEAK_DURATION\`. Overload: \`wrk -t2 -c$OVER_CONNS -d$OVER_DURATION --timeout 5s\` (\`bench/status.lua\`: answers by status, 503s without Retry-After) and at the same time \`bench/probe -c$PROBE_CONNS\`, which times 2xx and 503 answers apart; goodput and 503 counts add both clients, latencies by status are the probe's. Steady: \`wrk -t1 -c$CONNS -d$STEADY_DURATION\`. Overall deadline (policy.overall_deadline): $DEADLINE_MS ms.

| | before | after | target |
|---|---:|---:|---|
| peak (-c$CONNS): 2xx/s | $PEAK_old | $PEAK_new | |
| peak: p50 / p99 (all answers) | $PEAKP50_old / $PEAKP99_old ms | $PEAKP50_new / $PEAKP99_new ms | |
| peak: non-2xx | $PEAKNON_old | $PEAKNON_new | |
| overload (-c$OVER_CONNS): goodput 2xx/s | ${F[old.good]} | ${F[new.good]} | |
| goodput / peak | ${F[old.goodpct]} % | ${F[new.goodpct]} % | ≥ 90 % |
| the platform's own share: \`bench/bare\` (net/http, constant answer, no gateway), same wrk runs without the probe: 2xx/s at -c$OVER_CONNS / at -c$CONNS | $GOOD_bare / $PEAK_bare = $GOODPCT_bare % | (same server) | |
| server CPU µs per answer (its /proc times): peak / overload | ${F[old.peakcpu]} / ${F[old.overcpu]} | ${F[new.peakcpu]} / ${F[new.overcpu]} | |
| \`bench/bare\`: CPU µs per answer, peak / overload (what $OVER_CONNS connections add to every request) | $PEAKCPU_bare / $OVERCPU_bare (+$EXTRA_bare) | (same server) | |
| most goodput / peak reachable if the gateway's own work cost the same at both loads: peak µs / (peak µs + bare's extra µs) | ${F[old.bound]} % | ${F[new.bound]} % | |
| admitted (2xx) p50 / p99 | ${F[old.okp50]} / ${F[old.okp99]} ms | ${F[new.okp50]} / ${F[new.okp99]} ms | p99 ≤ $DEADLINE_MS ms |
| p99 of all answers (wrk) | ${F[old.allp99]} ms | ${F[new.allp99]} ms | |
| 503s (share of answers) | ${F[old.s503]} (${F[old.s503pct]} %) | ${F[new.s503]} (${F[new.s503pct]} %) | |
| 503s without Retry-After | ${F[old.nora]} | ${F[new.nora]} | 0 |
| 503 answered in: p50 / p99 | ${F[old.shp50]} / ${F[old.shp99]} ms | ${F[new.shp50]} / ${F[new.shp99]} ms | < 5 ms |
| Little's law: connections / answers per second (the clients' mean wait, whatever the server does) | ${F[old.little]} ms | ${F[new.little]} ms | |
| in the server (handler start → answer written): 2xx p50 / p99 | ${F[old.srv2p50]} / ${F[old.srv2p99]} ms | ${F[new.srv2p50]} / ${F[new.srv2p99]} ms | p99 ≤ $DEADLINE_MS ms |
| in the server: 503 p50 / p99 | ${F[old.srv5p50]} / ${F[old.srv5p99]} ms | ${F[new.srv5p50]} / ${F[new.srv5p99]} ms | < 5 ms |
| other non-2xx; socket errors + timeouts | ${F[old.other]}; ${F[old.errs]} | ${F[new.other]}; ${F[new.errs]} | |
| shed before work (rendezvous_admission_shed_total) | $SHED_old_TEXT | $SHED_new | |
| records with status unavailable (503 after model work, whole run) | $UNAV_old | $UNAV_new | 0 |
| server RSS, max | ${F[old.rss]} MB | ${F[new.rss]} MB | ≤ 200 MB |
| steady (-c$CONNS, $STEADY_DURATION): non-2xx of requests; socket errors | ${F[old.steady]} of ${F[old.steadyn]}; ${F[old.steadyerr]} | ${F[new.steady]} of ${F[new.steadyn]}; ${F[new.steadyerr]} | 0 |

Targets, after: admitted p99 ≤ deadline — as the probe sees it $(verdict "$(le "${F[new.okp99]}" "$DEADLINE_MS")"), in the server $(verdict "$(le "${F[new.srv2p99]}" "$DEADLINE_MS")"); goodput ≥ 90 % of peak — $(verdict "$(ge "${F[new.goodpct]}" 90)") (${F[new.goodpct]} %, where a server that does nothing keeps $GOODPCT_bare % and the platform's per-connection cost alone caps this gateway at ${F[new.bound]} %); every 503 with Retry-After — $(verdict "$([ "${F[new.nora]}" = 0 ] && echo 1 || echo 0)"); 503 in < 5 ms (p99) — $SHED_VERDICT; no 503 after model work — $(verdict "$([ "$UNAV_new" = 0 ] && echo 1 || echo 0)"); RSS ≤ 200 MB — $(verdict "$(le "${F[new.rss]}" 200)"); zero non-2xx at 64 connections — $(verdict "$([ "${F[new.steady]}" = 0 ] && echo 1 || echo 0)").

<!-- overload:end -->
EOT

if [ -n "$OUT" ]; then
	replace_section "$OUT" '<!-- overload:begin' '<!-- overload:end' "$SECTION" "## Overload (issue 15)

Written by \`bench/overload.sh\`; see the script's header for what it measures."
	log "wrote $OUT"
fi
cat "$SECTION" >&2
log "raw output in $WORK"
