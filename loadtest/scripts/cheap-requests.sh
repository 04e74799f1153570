#!/usr/bin/env bash
# Cheap requests, transport-lab beside a bare actix-web app (loadtest/src/bin/bare.rs), one
# command: both release servers are started on loopback, then `wrk` runs against each in turn
# (interleaved, so a noisy neighbour hits both alike) and the medians and ranges are printed.
#
#   loadtest/scripts/cheap-requests.sh [ROUNDS] [SECONDS]      # defaults: 5 rounds of 5 s per row
#
# Needs `wrk` (Debian: apt-get install wrk). Builds with cargo first; set TARGET_DIR to use
# binaries built elsewhere (default: $CARGO_TARGET_DIR or ./target).
set -euo pipefail
ROUNDS=${1:-5}
SECS=${2:-5}
cd "$(dirname "$0")/../.."
TARGET_DIR=${TARGET_DIR:-${CARGO_TARGET_DIR:-target}}
if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release -q -p transport-lab -p loadtest --bin transport-lab --bin bare
fi
OURS_PORT=18180
BARE_PORT=18181
"$TARGET_DIR/release/transport-lab" --bind 127.0.0.1:$OURS_PORT >/dev/null 2>&1 &
OURS=$!
"$TARGET_DIR/release/bare" --bind 127.0.0.1:$BARE_PORT >/dev/null 2>&1 &
BARE=$!
trap 'kill $OURS $BARE 2>/dev/null; wait $OURS $BARE 2>/dev/null' EXIT
sleep 1

# The newest cursor, so the short poll is an empty one (nothing after it).
CURSOR=$(curl -s "http://127.0.0.1:$OURS_PORT/api/poll?since=0" | sed -n 's/.*"cursor":"\([^"]*\)".*/\1/p')
declare -A PATHS=(
    [healthz]="/healthz"
    [empty-poll]="/api/poll?since=$CURSOR"
)
rps() { wrk -t2 -c100 -d"${SECS}s" "$1" | awk '/Requests\/sec/ {print int($2)}'; }
stats() { sort -n | awk '{a[NR]=$1} END {printf "%d (%d-%d)", a[int((NR+1)/2)], a[1], a[NR]}'; }

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), wrk -t2 -c100 -d${SECS}s, $ROUNDS rounds"
echo "| request | transport-lab req/s | bare actix-web req/s | ratio |"
echo "|---|--:|--:|--:|"
for row in healthz empty-poll; do
    ours=() bare=()
    for _ in $(seq "$ROUNDS"); do
        ours+=("$(rps "http://127.0.0.1:$OURS_PORT${PATHS[$row]}")")
        bare+=("$(rps "http://127.0.0.1:$BARE_PORT${PATHS[$row]}")")
    done
    o=$(printf '%s\n' "${ours[@]}" | stats)
    b=$(printf '%s\n' "${bare[@]}" | stats)
    om=${o%% *} bm=${b%% *}
    echo "| \`${PATHS[$row]%%\?*}\`$([ "$row" = empty-poll ] && echo ' (empty)') | $o | $b | $(awk -v o="$om" -v b="$bm" 'BEGIN {printf "%.2f", o / b}') |"
done
