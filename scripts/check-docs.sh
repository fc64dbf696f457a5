#!/usr/bin/env bash
# Runs the shell blocks of README.md and docs/WALKTHROUGH.md marked runnable
# (a fence opened with ```sh runnable) the way a newcomer would: pasted, in
# order, into a fresh clone of this commit, with ../shared beside it.
#
#   scripts/check-docs.sh [FILE.md ...]        (default: README.md docs/WALKTHROUGH.md)
#
# Each block runs in its own `bash -euo pipefail` in the clone (so files a
# block leaves, like ./rendezvous or rendezvous.db, are there for the next);
# processes a block started in the background are stopped when it ends. The
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

# extract FILE: one file per runnable block, numbered on from the blocks
# already extracted, its first line naming where it comes from.
extract() {
	awk -v out="$work/blocks" -v src="$1" -v n="$(ls "$work/blocks" | wc -l)" '
		/^```sh runnable[[:space:]]*$/ { n++; f = sprintf("%s/%03d.sh", out, n); printf "# %s, block at line %d\n", src, NR > f; inb = 1; next }
		/^```/ && inb { inb = 0; close(f); next }
		inb { print >> f }
	' "$1"
}
mkdir -p "$work/blocks"
for f in "${files[@]}"; do extract "$f"; done
blocks=("$work"/blocks/*.sh)
if [ ! -e "${blocks[0]}" ]; then
	echo "check-docs: no runnable blocks in ${files[*]}" >&2
	exit 1
fi

# run_blocks runs every block in order; it is what runs in the namespace.
cat > "$work/run.sh" <<'RUN'
set -uo pipefail
ip link set lo up 2>/dev/null || true
cd "$1/clone"
shift
passed=0 failed=0
for b in "$@"; do
	head -1 "$b"
	start=$(date +%s)
	# setsid: the block and everything it starts form one process group.
	setsid bash -euo pipefail "$b" > "$b.out" 2>&1 &
	pid=$!
	wait "$pid"
	rc=$?
	kill -- "-$pid" 2>/dev/null || true # stop what the block left in the background
	sleep 0.5
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		echo "  ok ($(($(date +%s) - start)) s)"
	else
		failed=$((failed + 1))
		echo "  FAILED with status $rc; the block was:"
		sed 's/^/    | /' "$b"
		echo "  its output:"
		sed 's/^/    > /' "$b.out"
	fi
done
echo "check-docs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
RUN

if unshare -n true 2>/dev/null; then
	GOPROXY=off unshare -n bash "$work/run.sh" "$work" "${blocks[@]}"
else
	echo "check-docs: no private network namespace (not root?): using the machine's 127.0.0.1:8080" >&2
	bash "$work/run.sh" "$work" "${blocks[@]}"
fi
