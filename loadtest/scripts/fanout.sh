#!/usr/bin/env bash
# Server CPU per delivered message for SSE and WebSocket fan-out, one command: for each
# transport and round a fresh release server and one loadtest run (CLIENTS subscribers, MESSAGES
# at RATE/s, 40-byte texts); prints the loadtest's `cpu µs/msg` (server user+system time over
# the publish and drain phases / deliveries) and latency, then the median and range per transport.
# With FLAMEGRAPH=dir, the first round of each transport is also recorded with `perf` (6 s of
# the publish phase, 1999 Hz, DWARF call graphs) and drawn with inferno (cargo install inferno)
# as dir/fanout-ROW.svg (the collapsed stacks beside it, .folded).
#
# The bare actix-web app (loadtest/src/bin/bare.rs: no ledger, one shared frame per message) runs
# beside it as bare-sse and bare-ws, the rows taking turns within each round: what actix-web and
# the kernel cost per delivery before any of ours. With nginx and its nchan module installed
# (Debian: nginx-light libnginx-mod-nchan), nchan-sse and nchan-ws run too: the same loadtest
# against a C pub/sub server (loadtest/scripts/nchan.conf, two workers, their CPU summed).
# RUNS picks rows ("sse ws bare-sse bare-ws nchan-sse nchan-ws"); SERVER names another
# transport-lab binary (a "before" build).
#
#   loadtest/scripts/fanout.sh [CLIENTS] [MESSAGES] [RATE] [ROUNDS]   # defaults: 1000 1000 200 3
set -euo pipefail
CLIENTS=${1:-1000}
MESSAGES=${2:-1000}
RATE=${3:-200}
ROUNDS=${4:-3}
NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so
if [ -z "${RUNS:-}" ]; then
    RUNS="sse ws bare-sse bare-ws"
    if command -v nginx >/dev/null && [ -f "$NCHAN_MODULE" ]; then
        RUNS="$RUNS nchan-sse nchan-ws"
    else
        echo "nchan rows skipped: no nginx with $NCHAN_MODULE (apt-get install nginx-light libnginx-mod-nchan)"
    fi
fi
cd "$(dirname "$0")/../.."
TARGET_DIR=${TARGET_DIR:-${CARGO_TARGET_DIR:-target}}
if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release -q -p transport-lab -p loadtest --bin transport-lab --bin loadtest --bin bare
fi
ulimit -n 20000 || true
PORT=18191
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$CLIENTS subscribers, $MESSAGES messages at $RATE/s"
SERVER=${SERVER:-$TARGET_DIR/release/transport-lab}
declare -A cpu
for round in $(seq "$ROUNDS"); do
    # In turns, so a noisy neighbour hits every row alike.
    for name in $RUNS; do
        transport=${name#*-}
        extra=()
        case $name in
            bare-*) "$TARGET_DIR/release/bare" --bind "127.0.0.1:$PORT" >/dev/null 2>&1 & ;;
            nchan-*)
                mkdir -p "$OUT/nchan/tmp"
                sed -e "s|PREFIX|$OUT/nchan|g" -e "s|PORT|$PORT|g" loadtest/scripts/nchan.conf > "$OUT/nchan/nginx.conf"
                nginx -p "$OUT/nchan" -c "$OUT/nchan/nginx.conf" -e "$OUT/nchan/error.log" >/dev/null 2>&1 & ;;
            *) "$SERVER" --bind "127.0.0.1:$PORT" --max-connections 20000 >/dev/null 2>&1 & ;;
        esac
        server=$!
        [ "$name" != "$transport" ] &&
            extra=(--publish-url "http://127.0.0.1:$PORT/api/messages" --subscribe-url "http://127.0.0.1:$PORT/api/{transport}")
        sleep 0.5
        # The processes whose CPU is the server's: nginx's workers, not its idle master.
        pids=$server
        if [ "$name" != "${name#nchan-}" ]; then
            pids=$(pgrep -d, -P "$server")
        fi
        perf_pid=
        if [ -n "${FLAMEGRAPH:-}" ] && [ "$round" = 1 ]; then
            (sleep 2; perf record -F 1999 -g --call-graph dwarf,16384 -p "$pids" -o "$OUT/perf.data" -- sleep 6 >/dev/null 2>&1) &
            perf_pid=$!
        fi
        "$TARGET_DIR/release/loadtest" --url "http://127.0.0.1:$PORT" --transport "$transport" "${extra[@]}" \
            --clients "$CLIENTS" --messages "$MESSAGES" --rate "$RATE" --server-pid "$pids" \
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
        echo "$name round $round: cpu µs/msg $line"
        cpu[$name]+="${line%% *} "
        if [ -n "$perf_pid" ]; then
            mkdir -p "$FLAMEGRAPH"
            perf script -i "$OUT/perf.data" 2>/dev/null | inferno-collapse-perf > "$FLAMEGRAPH/fanout-$name.folded"
            inferno-flamegraph < "$FLAMEGRAPH/fanout-$name.folded" --width 1400 \
                    --title "$name fan-out, $CLIENTS subscribers x $RATE msg/s" > "$FLAMEGRAPH/fanout-$name.svg"
        fi
    done
done
for name in $RUNS; do
    printf '%s\n' ${cpu[$name]} | sort -n |
        awk -v t="$name" '{a[NR]=$1} END {printf "%s: server CPU per delivery %.2f µs (median; %.2f-%.2f)\n", t, a[int((NR+1)/2)], a[1], a[NR]}'
done
