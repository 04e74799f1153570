#!/usr/bin/env bash
# Cheap requests, transport-lab beside a bare actix-web app (loadtest/src/bin/bare.rs), one
# command: both release servers are started on loopback, then `wrk` runs against each in turn
# (interleaved, so a noisy neighbour hits both alike) and the medians and ranges are printed:
# requests per second, and the server's CPU time per request (the last ratio is bare's CPU per
# request over ours: 1.00 would mean the ledger and our routing cost nothing). SERVER names
# another transport-lab binary (a "before" build).
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
"${SERVER:-$TARGET_DIR/release/transport-lab}" --bind 127.0.0.1:$OURS_PORT >/dev/null 2>&1 &
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
# One wrk run: "REQ_PER_S CPU_US_PER_REQ", the second the server's user+system time over the run
# (/proc/PID/stat) divided by the requests wrk completed: what each request cost the server, a
# figure the load generator's share of the two cores moves less than the request rate.
run() { # pid url
    local before after out
    before=$(cpu_ticks "$1")
    out=$(wrk -t2 -c100 -d"${SECS}s" "$2")
    after=$(cpu_ticks "$1")
    awk -v b="$before" -v a="$after" -v hz="$(getconf CLK_TCK)" '
        /requests in/ {n = $1} /Requests\/sec/ {r = $2}
        END {printf "%d %.2f\n", r, (a - b) / hz * 1e6 / n}' <<<"$out"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
stats() { sort -n | awk '{a[NR]=$1} END {printf "%s (%s-%s)", a[int((NR+1)/2)], a[1], a[NR]}'; }

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), wrk -t2 -c100 -d${SECS}s, $ROUNDS rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| request | transport-lab req/s | bare actix-web req/s | ratio | transport-lab CPU µs/request | bare CPU µs/request | ratio |"
echo "|---|--:|--:|--:|--:|--:|--:|"
for row in healthz empty-poll; do
    ours=() bare=() ours_cpu=() bare_cpu=()
    for _ in $(seq "$ROUNDS"); do
        read -r r c < <(run "$OURS" "http://127.0.0.1:$OURS_PORT${PATHS[$row]}"); ours+=("$r"); ours_cpu+=("$c")
        read -r r c < <(run "$BARE" "http://127.0.0.1:$BARE_PORT${PATHS[$row]}"); bare+=("$r"); bare_cpu+=("$c")
    done
    o=$(printf '%s\n' "${ours[@]}" | stats)
    b=$(printf '%s\n' "${bare[@]}" | stats)
    oc=$(printf '%s\n' "${ours_cpu[@]}" | stats)
    bc=$(printf '%s\n' "${bare_cpu[@]}" | stats)
    om=${o%% *} bm=${b%% *} ocm=${oc%% *} bcm=${bc%% *}
    echo "| \`${PATHS[$row]%%\?*}\`$([ "$row" = empty-poll ] && echo ' (empty)') | $o | $b | $(awk -v o="$om" -v b="$bm" 'BEGIN {printf "%.2f", o / b}') | $oc | $bc | $(awk -v o="$ocm" -v b="$bcm" 'BEGIN {printf "%.2f", b / o}') |"
done
