#!/usr/bin/env bash
# Server CPU per delivered message for SSE and WebSocket fan-out, one command: for each
# transport and round a fresh release server and one loadtest run (CLIENTS subscribers, MESSAGES
# at RATE/s, 40-byte texts); prints the loadtest's `cpu µs/msg` (server user+system time over
# the publish and drain phases / deliveries) and latency, then the median and range per transport.
# With FLAMEGRAPH=dir, the first round of each transport is also recorded with `perf` (6 s of
# the publish phase, 1999 Hz, DWARF call graphs) and drawn with inferno (cargo install inferno)
# as dir/fanout-TRANSPORT.svg.
#
#   loadtest/scripts/fanout.sh [CLIENTS] [MESSAGES] [RATE] [ROUNDS]   # defaults: 1000 1000 200 3
set -euo pipefail
CLIENTS=${1:-1000}
MESSAGES=${2:-1000}
RATE=${3:-200}
ROUNDS=${4:-3}
cd "$(dirname "$0")/../.."
TARGET_DIR=${TARGET_DIR:-${CARGO_TARGET_DIR:-target}}
if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release -q -p transport-lab -p loadtest --bin transport-lab --bin loadtest
fi
ulimit -n 20000 || true
PORT=18191
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$CLIENTS subscribers, $MESSAGES messages at $RATE/s"
for transport in sse ws; do
    cpu=()
    for round in $(seq "$ROUNDS"); do
        "$TARGET_DIR/release/transport-lab" --bind "127.0.0.1:$PORT" --max-connections 20000 >/dev/null 2>&1 &
        server=$!
        sleep 0.5
        perf_pid=
        if [ -n "${FLAMEGRAPH:-}" ] && [ "$round" = 1 ]; then
            (sleep 2; perf record -F 1999 -g --call-graph dwarf,16384 -p "$server" -o "$OUT/perf.data" -- sleep 6 >/dev/null 2>&1) &
            perf_pid=$!
        fi
        "$TARGET_DIR/release/loadtest" --url "http://127.0.0.1:$PORT" --transport "$transport" \
            --clients "$CLIENTS" --messages "$MESSAGES" --rate "$RATE" --server-pid "$server" \
            --quiet --json "$OUT/run.json" --max-seconds 300 >/dev/null 2>&1 || true
        [ -n "$perf_pid" ] && wait "$perf_pid"
        kill "$server"; wait "$server" 2>/dev/null || true
        line=$(python3 - "$OUT/run.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["transports"][0]
q, l = t["sequence"], t["latency"]
print(f'{t["server"]["cpu_us_per_message"]:.2f} delivered {q["delivered"]}/{t["expected_deliveries"]} '
      f'lost {q["lost"]} dup {q["duplicated"]} reord {q["reordered"]} '
      f'p50 {l["p50_us"] / 1000:.1f}ms p99 {l["p99_us"] / 1000:.1f}ms')
PY
)
        echo "$transport round $round: cpu µs/msg $line"
        cpu+=("${line%% *}")
        if [ -n "$perf_pid" ]; then
            mkdir -p "$FLAMEGRAPH"
            perf script -i "$OUT/perf.data" 2>/dev/null | inferno-collapse-perf |
                inferno-flamegraph --width 1400 \
                    --title "$transport fan-out, $CLIENTS subscribers x $RATE msg/s" > "$FLAMEGRAPH/fanout-$transport.svg"
        fi
    done
    printf '%s\n' "${cpu[@]}" | sort -n |
        awk -v t="$transport" '{a[NR]=$1} END {printf "%s: server CPU per delivery %.2f µs (median; %.2f-%.2f)\n", t, a[int((NR+1)/2)], a[1], a[NR]}'
done
