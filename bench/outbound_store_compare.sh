#!/usr/bin/env bash
# Two builds of outbound_store_bench, interleaved on the same machine in the
# same run (issue 14's decision cost, before and after a change):
#
#   bench/outbound_store_compare.sh BEFORE_BIN AFTER_BIN [ROUNDS]
#
# Per round and binary: LMDB (a fresh folder, 20,000 decisions) and Redis (a
# fresh redis-server on loopback, no persistence, 10,000 decisions), each on
# 1 and 2 threads. One line per run: round, which, store, threads, the load
# average, wall p50/p99 (us), the CPU p50/p99 for LMDB, decisions/s.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 BEFORE_BIN AFTER_BIN [ROUNDS]" >&2; exit 64; }
BEFORE=$1 AFTER=$2 ROUNDS=${3:-3}
command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 77; }
PORT=$(/usr/bin/python3 "$(dirname "$0")/../tests/interop/milter_client.py" freeport 1)
for ((round = 1; round <= ROUNDS; round++)); do
    for which in before after; do
        bin=$BEFORE
        [ "$which" = after ] && bin=$AFTER
        for store in lmdb redis; do
            for t in 1 2; do
                if [ "$store" = redis ]; then
                    redis-server --port "$PORT" --save '' --appendonly no --daemonize yes --bind 127.0.0.1 >/dev/null
                    for ((i = 0; i < 50; i++)); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
                    spec=redis://127.0.0.1:$PORT n=10000
                else
                    spec=$(mktemp -d) n=20000
                fi
                out=$("$bin" --store "$spec" --threads "$t" --decisions "$n" 2>&1 | tr '\n' ' ') || true
                if [ "$store" = redis ]; then redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true; else rm -rf "$spec"; fi
                echo "$round $which $store threads=$t load=$(cut -d' ' -f1 /proc/loadavg)" \
                    "$(grep -o 'latency_us p50=[0-9.]* p99=[0-9.]*' <<<"$out")" \
                    "$(grep -o 'cpu_us *p50=[0-9.]* p99=[0-9.]*' <<<"$out" | tr -s ' ')" \
                    "$(grep -o 'decisions_per_s=[0-9]*' <<<"$out")"
            done
        done
    done
done
