#!/usr/bin/env bash
# The outbound simulator at its CI size (bench/outbound_sim.py --small):
# synthetic months of benign and compromised sending replayed through
# `spoofguard accounts replay`; the issue's goals must hold on a seed the
# engine was not tuned on (>= 95% of attacks caught, a median of <= 20
# recipients reached before the hold, <= 1 false hold per 10,000
# account-days after the learning period).
set -u
CLI=${SG_CLI:?SG_CLI must point at the spoofguard binary}
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
out=$(/usr/bin/python3 "$SRC/bench/outbound_sim.py" --small --seed 2 --cli "$CLI")
rc=$?
echo "$out"
if [ $rc -ne 0 ] || ! grep -q '^SUMMARY|.*|PASS$' <<<"$out"; then
    echo "FAIL the simulator's goals (exit $rc)"
    exit 1
fi
echo "PASS the simulator's goals on the small run"
