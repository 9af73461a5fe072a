#!/usr/bin/env bash
# Build the libFuzzer harnesses and run each one briefly (default 20 s),
# as many at once as there are CPUs (each fuzzer is one process on one CPU:
# every harness still gets its whole time).
#   fuzz-smoke.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
bash scripts/build.sh --fuzz
jobs=$(nproc)

# One harness: its log in build-fuzz/NAME.log, its exit status in
# build-fuzz/NAME.status.
run_one() {
    local name=$1 corpus=build-fuzz/corpus-$1 seeds=() dict=()
    mkdir -p "$corpus"
    [ -d "fuzz/seeds/$name" ] && seeds=("fuzz/seeds/$name")
    [ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")
    local rc=0
    "build-fuzz/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=0 "${dict[@]}" "$corpus" "${seeds[@]}" >"build-fuzz/$name.log" 2>&1 || rc=$?
    echo "$rc" >"build-fuzz/$name.status"
}

names=()
for f in fuzz/fuzz_*.c; do names+=("$(basename "$f" .c)"); done
running=0
for name in "${names[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    echo "fuzz-smoke: $name for ${secs}s"
    rm -f "build-fuzz/$name.status"
    run_one "$name" &
    running=$((running + 1))
done
wait || true

status=0
for name in "${names[@]}"; do
    if [ "$(cat "build-fuzz/$name.status" 2>/dev/null)" != 0 ]; then
        echo "fuzz-smoke: $name FAILED"; tail -40 "build-fuzz/$name.log"; status=1
    else
        echo "fuzz-smoke: $name: $(grep -E '^Done|#[0-9]+ *DONE' "build-fuzz/$name.log" | tail -1)"
    fi
done
exit $status
