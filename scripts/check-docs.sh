#!/usr/bin/env bash
# Runs the shell blocks of README.md and docs/WALKTHROUGH.md marked runnable
# (a fence opened with ```sh runnable) the way a newcomer would: pasted, in
# order, into a fresh clone of this commit, with ../shared beside it.
#
#   scripts/check-docs.sh [FILE.md ...]        (default: README.md docs/WALKTHROUGH.md)
#   CHECK_DOCS_VERBOSE=1 scripts/check-docs.sh  (also show the output of sessions that pass)
#
# The blocks of one file run in order in one `bash -euo pipefail` session in
# the clone, as if pasted one after the other into one terminal (variables,
# background jobs and files carry over); what a file's session started in the
# background is stopped when it ends. The
# blocks run in a private network namespace when `unshare -n` works (root),
# so the documented 127.0.0.1:8080 never collides with another gateway on the
# machine. A failing block fails the script and prints its output.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
shared="${RENDEZVOUS_SHARED:-$(cd .. && pwd)/shared}"
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(README.md docs/WALKTHROUGH.md)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q --no-checkout "$repo" "$work/clone"
git -C "$work/clone" checkout -q "$(git rev-parse HEAD)"
ln -s "$shared" "$work/shared" # the docs say ../shared

# One session script per file: each runnable block, preceded by a line
# naming it (on stderr, so a failure's output shows which block it was in).
n=0
for f in "${files[@]}"; do
	out="$work/$(printf '%02d' "$n").sh"
	n=$((n + 1))
	awk -v src="$f" '
		/^```sh runnable[[:space:]]*$/ { inb = 1; k++; printf "echo \"### %s block %d (line %d)\" >&2\n", src, k, NR + 1; next }
		/^```/ && inb { inb = 0; next }
		inb { print }
		END { if (k == 0) exit 1 }
	' "$f" > "$out" || { echo "check-docs: no runnable block in $f" >&2; exit 1; }
done

cat > "$work/run.sh" <<'RUN'
set -uo pipefail
ip link set lo up 2>/dev/null || true
cd "$1/clone"
shift
passed=0 failed=0
for s in "$@"; do
	start=$(date +%s)
	# setsid: the session and everything it starts form one process group.
	setsid bash -euo pipefail "$s" > "$s.out" 2>&1 &
	pid=$!
	wait "$pid"
	rc=$?
	kill -- "-$pid" 2>/dev/null || true # stop what it left in the background
	blocks=$(grep -c '^### ' "$s.out" || true)
	name=$(sed -n 's/^### \([^ ]*\) .*/\1/p' "$s.out" | head -1)
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + blocks))
		echo "ok   $name: $blocks runnable blocks ($(($(date +%s) - start)) s)"
		if [ -n "${CHECK_DOCS_VERBOSE:-}" ]; then sed 's/^/    > /' "$s.out"; fi
	else
		failed=$((failed + 1))
		passed=$((passed + blocks - 1))
		echo "FAIL $name: status $rc in $(grep '^### ' "$s.out" | tail -1 | cut -c5-); its output:"
		sed 's/^/    > /' "$s.out"
	fi
	sleep 0.5
done
echo "check-docs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
RUN

sessions=("$work"/[0-9]*.sh)
if unshare -n true 2>/dev/null; then
	GOPROXY=off CHECK_DOCS_VERBOSE="${CHECK_DOCS_VERBOSE:-}" unshare -n bash "$work/run.sh" "$work" "${sessions[@]}"
else
	echo "check-docs: no private network namespace (not root?): using the machine's 127.0.0.1:8080" >&2
	bash "$work/run.sh" "$work" "${sessions[@]}"
fi
