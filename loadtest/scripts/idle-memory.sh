#!/usr/bin/env bash
# Server memory per idle connection, per streaming transport, one command: for each transport a
# fresh release server, CONNECTIONS subscribers (each its own `client=`), one message delivered
# to all, then (RSS after - RSS before) / connections, from /proc. The bare actix-web SSE and
# WebSocket (loadtest/src/bin/bare.rs) are measured the same way, as the floor. RUNS picks rows
# ("sse stream longpoll ws bare-sse bare-ws"); SERVER names another transport-lab binary.
#
#   loadtest/scripts/idle-memory.sh [CONNECTIONS] [ROUNDS]     # defaults: 10000, 2
#
# 10,000 connections need about 10,100 open files in each process: the script raises its soft
# `ulimit -n` to 20000 (the hard limit must allow it) and passes --max-connections to the server.
set -euo pipefail
CONNECTIONS=${1:-10000}
ROUNDS=${2:-2}
cd "$(dirname "$0")/../.."
TARGET_DIR=${TARGET_DIR:-${CARGO_TARGET_DIR:-target}}
if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release -q -p transport-lab -p loadtest --bin transport-lab --bin loadtest --bin bare
fi
ulimit -n 20000 || { echo "raise the hard open-files limit to 20000 (ulimit -Hn)"; exit 1; }
PORT=18190
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

measure() { # name, server command...
    local name=$1; shift
    "$@" >/dev/null 2>&1 &
    local server=$!
    sleep 1
    local extra=()
    [ "$name" != "${name#bare-}" ] && extra=(--publish-url "http://127.0.0.1:$PORT/api/messages" --subscribe-url "http://127.0.0.1:$PORT/api/{transport}")
    local transport=${name#bare-}
    "$TARGET_DIR/release/loadtest" --url "http://127.0.0.1:$PORT" --transport "$transport" \
        --clients "$CONNECTIONS" --messages 1 --rate 1 --drain-s 5 --connect-concurrency 128 \
        --longpoll-timeout-s 60 --server-pid "$server" --quiet --json "$OUT/$name.json" \
        --max-seconds 120 "${extra[@]}" >/dev/null 2>&1 || true
    kill "$server"; wait "$server" 2>/dev/null || true
    python3 - "$OUT/$name.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["transports"][0]
s, n = t["server"], t["connected"]
grown = s["after_drain"]["rss_kib"] - s["before_connect"]["rss_kib"]
print(f"{grown / n:.1f} {n} {t['sequence']['delivered']}")
PY
}

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $CONNECTIONS connections, $ROUNDS rounds"
echo "| transport | KiB per idle connection (median, range) | connected | delivered |"
echo "|---|--:|--:|--:|"
for name in ${RUNS:-sse stream longpoll ws bare-sse bare-ws}; do
    results=()
    for _ in $(seq "$ROUNDS"); do
        if [ "$name" != "${name#bare-}" ]; then
            results+=("$(measure "$name" "$TARGET_DIR/release/bare" --bind "127.0.0.1:$PORT")")
        else
            results+=("$(measure "$name" "${SERVER:-$TARGET_DIR/release/transport-lab}" --bind "127.0.0.1:$PORT" --max-connections 20000)")
        fi
    done
    printf '%s\n' "${results[@]}" | sort -n | awk -v name="$name" '
        {kib[NR] = $1; conn = $2; got = $3}
        END {printf "| %s | %.1f (%.1f-%.1f) | %d | %d |\n", name, kib[int((NR + 1) / 2)], kib[1], kib[NR], conn, got}'
done
