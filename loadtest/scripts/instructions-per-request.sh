#!/usr/bin/env bash
# User-space instructions per cheap request, transport-lab beside the bare actix-web app
# (loadtest/src/bin/bare.rs), counted by valgrind's callgrind: the same figure on every run, on a
# machine whose request rates move by a quarter from one run to the next. Each server runs under
# callgrind; after a warm-up its counters are zeroed, REQUESTS requests go one after another on
# one keep-alive connection, and the instructions it executed (all threads, no kernel) are
# divided by REQUESTS. Both servers make the same system calls per request (one read, one write),
# so the kernel's share, not counted here, is alike.
#
#   loadtest/scripts/instructions-per-request.sh [REQUESTS]     # default 5000
#
# Needs valgrind (Debian: apt-get install valgrind). SERVER names another transport-lab binary.
set -euo pipefail
REQUESTS=${1:-5000}
cd "$(dirname "$0")/../.."
TARGET_DIR=${TARGET_DIR:-${CARGO_TARGET_DIR:-target}}
if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release -q -p transport-lab -p loadtest --bin transport-lab --bin bare
fi
SERVER=${SERVER:-$TARGET_DIR/release/transport-lab}
PORT=18195
OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$OUT"' EXIT

requests() { # path count
    python3 - "$PORT" "$1" "$2" <<'PY'
import http.client, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for _ in range(n):
    conn.request("GET", path)
    answer = conn.getresponse()
    answer.read()
    if answer.status != 200:
        sys.exit(f"{path}: {answer.status}")
PY
}

measure() { # name path server command...
    local name=$1 path=$2; shift 2
    valgrind --tool=callgrind --callgrind-out-file="$OUT/$name.out" "$@" --bind "127.0.0.1:$PORT" >/dev/null 2>&1 &
    local server=$!
    for _ in $(seq 600); do
        curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    if [ "$path" = empty-poll ]; then
        # The newest cursor, so the poll is an empty one (nothing after it).
        path="/api/poll?since=$(curl -s "http://127.0.0.1:$PORT/api/poll?since=0" | sed -n 's/.*"cursor":"\([^"]*\)".*/\1/p')"
    fi
    requests "$path" 500
    callgrind_control -z "$server" >/dev/null 2>&1
    requests "$path" "$REQUESTS"
    callgrind_control -d "$server" >/dev/null 2>&1
    kill "$server"; wait "$server" 2>/dev/null || true
    # The dump made by -d (part 1; the one written at exit is part 2) holds what was counted
    # since -z.
    local dump
    dump=$(grep -l '^part: 1$' "$OUT/$name".out* | head -1)
    awk -v n="$REQUESTS" '/^summary:/ {printf "%.0f\n", $2 / n}' "$dump"
    rm -f "$OUT/$name".out*
}

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $REQUESTS requests per row, one keep-alive connection"
echo "| request | transport-lab instructions/request | bare actix-web | bare / ours |"
echo "|---|--:|--:|--:|"
for row in healthz empty-poll; do
    path=/healthz
    [ "$row" = empty-poll ] && path=empty-poll
    ours=$(measure "ours-$row" "$path" "$SERVER")
    bare_path=$path
    [ "$row" = empty-poll ] && bare_path="/api/poll?since=x"
    bare=$(measure "bare-$row" "$bare_path" "$TARGET_DIR/release/bare")
    label='`/healthz`'
    [ "$row" = empty-poll ] && label='`/api/poll` (empty)'
    echo "| $label | $ours | $bare | $(awk -v o="$ours" -v b="$bare" 'BEGIN {printf "%.2f", b / o}') |"
done
