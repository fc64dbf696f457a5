# bench/lib.sh — the parts bench/gateway.sh and bench/before-after.sh share:
# starting pinned servers, waiting for them, one measured wrk run with the
# server's CPU time per request, and medians over rounds. Sourced, not run.
#
# The sourcing script sets, before calling these functions:
#   WORK          a temp directory (server logs, wrk output, rows)
#   BT            the benchtab binary (reads CPU time from /proc)
#   DURATION, CONNS, THREADS   the wrk load
#   SERVER_CPUS, WRK_CPUS      taskset CPU lists (empty: no pinning)
#   LOG_TAG       the log prefix (optional)
# and `trap lib_cleanup EXIT` (or a trap that calls it) so that every server
# started with `start` is stopped.

STARTED=()
log() { printf '[%s %s] %s\n' "${LOG_TAG:-bench}" "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
lib_cleanup() {
	local pid
	for pid in "${STARTED[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${STARTED[@]}"; do wait "$pid" 2>/dev/null || true; done
}

pin() { # pin CPUS CMD… — run CMD on CPUS (no pinning when CPUS is empty)
	local cpus=$1
	shift
	if [ -n "$cpus" ]; then taskset -c "$cpus" "$@"; else "$@"; fi
}

start() { # start NAME CMD… — background, pinned to SERVER_CPUS; PID in LAST_PID
	local name=$1
	shift
	if [ -n "$SERVER_CPUS" ]; then
		taskset -c "$SERVER_CPUS" "$@" >"$WORK/$name.log" 2>&1 &
	else
		"$@" >"$WORK/$name.log" 2>&1 &
	fi
	LAST_PID=$! # the server itself (taskset execs it), so CPU and signals reach it
	STARTED+=("$LAST_PID")
}
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
wait_ready() { # wait_ready PID URL
	local i
	for i in $(seq 1 300); do
		kill -0 "$1" 2>/dev/null || return 1
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$2" || true)" = 200 ] && return 0
		sleep 0.2
	done
	return 1
}

# ms VALUE — wrk's latency ("512.00us", "1.27ms", "1.02s") in milliseconds.
ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.2f", n }'
}

# warmup URL DURATION — an uncounted wrk run with the measured load.
warmup() { pin "$WRK_CPUS" wrk -t"$THREADS" -c"$CONNS" -d"$2" -s bench/post.lua "$1" >/dev/null; }

# measure ID URL PID ROUND — one measured wrk run; appends "id rps p50 p99 cpu_us non2xx" to $WORK/rows.
measure() {
	local id=$1 url=$2 pid=$3 c0 c1 f
	c0=$($BT cpu "$pid")
	log "($id) round $4: measuring $DURATION"
	f=$WORK/$id.$4.wrk
	pin "$WRK_CPUS" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s bench/post.lua "$url" >"$f"
	c1=$($BT cpu "$pid")
	local rps reqs p50 p99 non2xx cpu
	rps=$(awk '/^Requests\/sec/ {print $2}' "$f")
	reqs=$(awk '/requests in/ {print $1}' "$f")
	p50=$(ms "$(awk '$1 == "50%" {print $2}' "$f")")
	p99=$(ms "$(awk '$1 == "99%" {print $2}' "$f")")
	non2xx=$(awk '/Non-2xx/ {print $NF}' "$f")
	cpu=$(awk -v a="$c0" -v b="$c1" -v n="$reqs" 'BEGIN {printf "%.1f", (b - a) * 1e6 / n}')
	log "($id) round $4: $rps req/s, p50 $p50 ms, p99 $p99 ms, $cpu CPU-µs/req, non-2xx ${non2xx:-0}"
	echo "$id $rps $p50 $p99 $cpu ${non2xx:-0}" >>"$WORK/rows"
}

# median_col FILE ID COLUMN — the median of one column over the lines of FILE
# whose first field is ID. sum_col: the sum instead.
median_col() {
	awk -v id="$2" -v c="$3" '$1 == id {print $c}' "$1" | sort -g |
		awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
sum_col() { awk -v id="$2" -v c="$3" '$1 == id {s += $c} END {print s}' "$1"; }

# machine — "N CPUs, MODEL, goVERSION" for the results' header.
machine() {
	echo "$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(go version | awk '{print $3}')"
}

# replace_section FILE BEGIN END SECTION [HEADING_TEXT] — put the contents of
# SECTION in place of the lines from the one containing BEGIN to the one
# containing END of FILE; appended (after HEADING_TEXT) when BEGIN is absent.
replace_section() {
	local out=$1 begin=$2 end=$3 section=$4 heading=${5:-}
	if grep -q "$begin" "$out" 2>/dev/null; then
		awk -v f="$section" -v b="$begin" -v e="$end" '
			index($0, b) { while ((getline l < f) > 0) print l; skip = 1; next }
			index($0, e) { skip = 0; next }
			!skip' "$out" >"$WORK/out.md"
		cat "$WORK/out.md" >"$out"
	else
		{ echo; [ -n "$heading" ] && printf '%s\n\n' "$heading"; cat "$section"; } >>"$out"
	fi
}
