#!/bin/bash
# ARC verification against dkimpy on changed chains
# (tests/interop/arc_mutation_diff.py): 250 messages sealed by dkimpy at
# one to three forwarders, with edits between hops and after the last
# (body, signed field, an ARC field removed or copied, cv= or i=
# rewritten, ARC stripped); `spoofguard verify` must give the chain result
# dkimpy gives. Keys from `spoofguard keygen`, no network.
# Env (set by ctest): SG_CLI, SG_SRC. Exit 77 without python3-dkim.
set -u
SRC=${SG_SRC:?SG_SRC not set}
CLI=${SG_CLI:?SG_CLI not set}
PY=/usr/bin/python3
"$PY" -c 'import dkim' 2>/dev/null || { echo "SKIPPED: python3-dkim is not installed"; exit 77; }
T=$(mktemp -d /tmp/sg-arcdiff.XXXXXX)
trap 'rm -rf "$T"' EXIT
for k in example.com:s1 fwd1.test:a1 fwd2.test:a2 fwd3.test:a3; do
    "$CLI" keygen --domain "${k%%:*}" --selector "${k##*:}" --out "$T" >>"$T/zone.txt" 2>/dev/null &&
        mv "$T/${k##*:}.private" "$T/${k%%:*}.private" || { echo "FAIL keygen $k"; exit 1; }
done
mkdir "$T/w"
if "$PY" "$SRC/tests/interop/arc_mutation_diff.py" "$CLI" "$T/w" "$T/zone.txt" "$T" 250 1; then
    echo "PASS spoofguard and dkimpy agree on every chain"
    echo "1 passed, 0 failed"
else
    echo "FAIL spoofguard and dkimpy disagree"
    echo "0 passed, 1 failed"
    exit 1
fi
