#!/usr/bin/env bash
# What one Redis can carry for `--bus redis://`, one command: the server's own publish script
# (src/backplane/epoch.lua + publish.lua: number, append to the room's Stream, trim, announce)
# run by redis-benchmark against a fresh redis-server, with SERVERS pub/sub connections listening
# on tl:bus as that many transport-lab servers would. Prints messages per second (the script's
# calls per second), median and range over ROUNDS, with and without pipelining (a server's
# multiplexed connection pipelines the publishes that arrive together).
#
#   loadtest/scripts/redis-ceiling.sh [MESSAGES] [ROUNDS]   # defaults: 200000 3
set -euo pipefail
MESSAGES=${1:-200000}
ROUNDS=${2:-3}
cd "$(dirname "$0")/../.."
PORT=${PORT:-19379}
DIR=$(mktemp -d)
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" >/dev/null &
REDIS=$!
LISTENERS=()
cleanup() {
    kill "${LISTENERS[@]}" 2>/dev/null || true
    kill "$REDIS" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.05; done
SHA=$(redis-cli -p "$PORT" SCRIPT LOAD "$(cat src/backplane/epoch.lua src/backplane/publish.lua)")
TEXT=$(printf 'x%.0s' $(seq 40))
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "redis: $(redis-server --version | cut -d' ' -f3), $MESSAGES publishes of a 40-byte text per run, 50 clients"
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%d (%d-%d)", m, a[1], a[NR]}'; }
for servers in 0 2 10; do
    while [ "${#LISTENERS[@]}" -lt "$servers" ]; do
        redis-cli -p "$PORT" SUBSCRIBE tl:bus >/dev/null &
        LISTENERS+=("$!")
    done
    sleep 0.2
    for pipeline in 1 16; do
        rates=()
        for _ in $(seq "$ROUNDS"); do
            redis-cli -p "$PORT" DEL 'tl:{bench}:epoch' 'tl:{bench}:seq' 'tl:{bench}:log' >/dev/null
            rate=$(redis-benchmark -p "$PORT" -c 50 -n "$MESSAGES" -P "$pipeline" --csv \
                EVALSHA "$SHA" 3 'tl:{bench}:epoch' 'tl:{bench}:seq' 'tl:{bench}:log' \
                bench1 1000 1700000000000 '' ada "$TEXT" bench | tail -1 | cut -d'"' -f4)
            rates+=("${rate%.*}")
        done
        newest=$(redis-cli -p "$PORT" GET 'tl:{bench}:seq')
        echo "servers listening: $servers, pipeline $pipeline: $(printf '%s\n' "${rates[@]}" | median) messages/s (last run numbered up to $newest)"
    done
done
