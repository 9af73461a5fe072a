#!/usr/bin/env bash
# Build with the benchmarks and run them all (SPF, DKIM, whole-process
# verify), then print a summary table.
#   scripts/bench.sh [--no-build] [--seconds S]   (S: CPU seconds per SPF run; DKIM uses 0.4 S)
# Run by hand, never by CI (the machine must be otherwise idle for stable
# numbers). The full output is kept in build/bench/bench-<date>.log.
# Needs the peers: libspf2-dev, libopendkim-dev, python3-spf, python3-dkim,
# libmail-dkim-perl (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
seconds=()
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=0 ;;
        --seconds) seconds=(--seconds "$2"); shift ;;
        *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

if [ "$build" = 1 ]; then
    scripts/build.sh --bench
fi
# SG_BENCH_BIN: where the binaries are (default build/bench, what build.sh makes)
bin=${SG_BENCH_BIN:-build/bench}
for b in spf_bench dkim_bench verify_whole; do
    if [ ! -x "$bin/$b" ]; then
        echo "bench.sh: $bin/$b missing (build with scripts/build.sh --bench)" >&2
        exit 1
    fi
done

log="$bin/bench-$(date -u +%Y%m%dT%H%M%SZ).log"
{
    echo "# spoofguard benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "# $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$log"

start=$(date +%s)
echo | tee -a "$log"
echo "== SPF ==" | tee -a "$log"
status=0
"$bin/spf_bench" "${seconds[@]}" 2>&1 | tee -a "$log" || { status=1; echo "bench.sh: spf_bench failed" | tee -a "$log"; }
echo | tee -a "$log"
echo "== DKIM ==" | tee -a "$log"
dkim_secs=()
if [ ${#seconds[@]} -gt 0 ]; then
    dkim_secs=(--seconds "$(awk -v s="${seconds[1]}" 'BEGIN { print s * 0.4 }')")
fi
"$bin/dkim_bench" "${dkim_secs[@]}" 2>&1 | tee -a "$log" || { status=1; echo "bench.sh: dkim_bench failed" | tee -a "$log"; }
echo | tee -a "$log"
echo "== verify, whole process ==" | tee -a "$log"
# the spoofguard binary of the same build (build/bench/.. or $SG_BENCH_BIN/..)
"$bin/verify_whole" --spoofguard "$bin/../spoofguard" 2>&1 | tee -a "$log" ||
    { status=1; echo "bench.sh: verify_whole failed" | tee -a "$log"; }
end=$(date +%s)

echo
echo "== summary ($((end - start)) s; log: $log) =="
{
    echo "benchmark|spoofguard|peer|ratio|target|status"
    grep '^SUMMARY|' "$log" | cut -d'|' -f2-
} | column -t -s'|' -o '  '
exit $status
