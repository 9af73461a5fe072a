#!/usr/bin/env bash
# Build the libFuzzer harnesses and run each one briefly (default 20 s).
#   fuzz-smoke.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
bash scripts/build.sh --fuzz
status=0
for f in fuzz/fuzz_*.c; do
    name=$(basename "$f" .c)
    corpus=build-fuzz/corpus-$name
    mkdir -p "$corpus"
    seeds=()
    [ -d "fuzz/seeds/$name" ] && seeds=("fuzz/seeds/$name")
    dict=()
    [ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")
    echo "fuzz-smoke: $name for ${secs}s"
    if ! "build-fuzz/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=0 "${dict[@]}" "$corpus" "${seeds[@]}" >"build-fuzz/$name.log" 2>&1; then
        echo "fuzz-smoke: $name FAILED"; tail -40 "build-fuzz/$name.log"; status=1
    else
        grep -E '^Done|#[0-9]+ *DONE' "build-fuzz/$name.log" | tail -1 || true
    fi
done
exit $status
