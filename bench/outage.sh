#!/usr/bin/env bash
# bench/outage.sh — issue 14's long outage test: the real binary in async
# mode at 1,000 requests/s with its PostgreSQL (a private cluster on its own
# port, $RENDEZVOUS_SHARED/tools/private-pg.sh; the machine's PostgreSQL is
# never touched) stopped for OUTAGE (10m) and started again. It runs
# TestPostgresOutage of internal/e2e/durability (CI runs it with a 30 s
# outage) and rewrites the part of BENCHMARKS.md between outage:begin and
# outage:end (appended if missing) with its figures: answered, lost, non-2xx,
# /readyz, RSS, spool drain time.
#
# Usage: bench/outage.sh   (OUTAGE + about 1 minute, plus the drain)
# Knobs (environment): OUTAGE (10m), OUTAGE_RATE (1000), OUTAGE_DRAIN (10m: the
#   longest the spool may take to drain), OUTAGE_SPOOL_MAX (bytes; default the
#   configuration's 1 GiB), OUTAGE_OUT (BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
OUTAGE=${OUTAGE:-10m}
OUT=${OUTAGE_OUT:-$PWD/BENCHMARKS.md}
export RENDEZVOUS_SHARED=${RENDEZVOUS_SHARED:-$(cd .. && pwd)/shared}
export RENDEZVOUS_OUTAGE=$OUTAGE RENDEZVOUS_OUTAGE_RATE=${OUTAGE_RATE:-1000} RENDEZVOUS_OUTAGE_DRAIN=${OUTAGE_DRAIN:-10m}
[ -n "${OUTAGE_SPOOL_MAX:-}" ] && export RENDEZVOUS_OUTAGE_SPOOL_MAX=$OUTAGE_SPOOL_MAX
LOG=$(mktemp /tmp/rendezvous-outage.XXXXXX.log)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
echo "[outage-bench] PostgreSQL down for $OUTAGE at $RENDEZVOUS_OUTAGE_RATE requests/s; log: $LOG" >&2
status=PASS
go test -count=1 -timeout 2h -v -run '^TestPostgresOutage$' ./internal/e2e/durability >"$LOG" 2>&1 || status=FAIL
grep -q -- '--- SKIP' "$LOG" && { grep -A2 -- '--- SKIP' "$LOG" >&2; echo "[outage-bench] the test was skipped" >&2; exit 1; }
figures=$(grep -o 'FIGURES .*' "$LOG" | tail -1 | sed 's/^FIGURES //')
[ -n "$figures" ] || { tail -40 "$LOG" >&2; echo "[outage-bench] no figures in the test's log" >&2; exit 1; }
fig() { tr ' ' '\n' <<<"$figures" | awk -F= -v k="$1" '$1 == k {print $2}'; }
failures=$(grep -E '^\s+outage_test.go:[0-9]+: ' "$LOG" | grep -v 'FIGURES\|achieved\|/readyz [0-9]' | sed -E 's/^\s+/- /' || true)
notes=$(grep -E '^\s+outage_test.go:[0-9]+: achieved' "$LOG" | sed -E 's/^\s+outage_test.go:[0-9]+: //' || true)
SECTION=$(mktemp)
{
	echo "<!-- outage:begin (written by bench/outage.sh; do not edit by hand) -->"
	echo
	echo "### PostgreSQL outage of $OUTAGE under $RENDEZVOUS_OUTAGE_RATE requests/s (issue 14) — run of $DATE: $status"
	echo
	echo "Machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(go env GOVERSION); load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine)."
	echo "\`TestPostgresOutage\` (internal/e2e/durability): the built binary, async mode, a private PostgreSQL cluster stopped (\`pg_ctl -m fast\`) for $OUTAGE and started again; the load (64 senders, open loop, POST /v1/predict, no X-Request-ID: the gateway's ids are read from the answers) runs 3 s before, through the outage and 5 s after; model deadlines are raised to 1 s and \`server.max_in_flight\` to 256 (above the 65 senders) so that CPU starvation on the shared machine does not show up as 503s."
	echo
	echo "| figure | value |"
	echo "|---|---:|"
	echo "| requests answered 200 (during the outage) | $(fig answered) ($(fig answered_during_outage)) |"
	echo "| answered 200 but not in PostgreSQL afterwards | **$(fig missing)** |"
	echo "| stored twice | $(fig stored_twice) |"
	echo "| non-2xx answers / transport errors | $(fig non2xx) / $(fig transport_errors) |"
	echo "| /readyz not 200 (samples every 0.5 s) | $(fig readyz_not_200) |"
	echo "| /readyz?verbose said degraded / spooling during the outage (samples) | $(fig verbose_degraded) / $(fig verbose_spooling) |"
	echo "| RSS before the outage → peak | $(fig rss_base_mb) MB → $(fig rss_peak_mb) MB |"
	echo "| spool drained, after PostgreSQL was started again | $(fig drain_after_restart_s) s |"
	echo "| requests with a client X-Request-ID during the outage: 200 / other | $(fig client_id_probe_ok_during_outage) / $(fig client_id_probe_other) |"
	echo
	echo "$notes"
	if [ -n "$failures" ]; then
		echo
		echo "Failures:"
		echo
		echo "$failures"
	fi
	echo
	echo "<!-- outage:end -->"
} >"$SECTION"
if grep -q '<!-- outage:begin' "$OUT"; then
	awk -v f="$SECTION" '/<!-- outage:begin/ {while ((getline l < f) > 0) print l; skip = 1; next}
		/<!-- outage:end/ {skip = 0; next} !skip' "$OUT" >"$SECTION.out"
	cp "$SECTION.out" "$OUT"
	rm -f "$SECTION.out"
else
	printf '\n## PostgreSQL outage (issue 14)\n\n`bench/outage.sh` writes the part between the markers.\n\n' >>"$OUT"
	cat "$SECTION" >>"$OUT"
fi
cat "$SECTION"
rm -f "$SECTION"
[ "$status" = PASS ]
