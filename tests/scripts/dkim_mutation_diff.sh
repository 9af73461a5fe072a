#!/bin/bash
# DKIM verification against dkimpy on changed messages
# (tests/interop/dkim_mutation_diff.py): 3,000 messages signed by dkimpy
# (RSA and Ed25519, every canonicalization pair, some with l= and some
# oversigned), each changed by up to three of 19 edits relays, lists and
# forgers make; `spoofguard verify` must say pass exactly when dkimpy
# does, except where an l= leaves body content unsigned (our default
# refuses it: counted apart). Keys from `spoofguard keygen`, no network.
# Env (set by ctest): SG_CLI, SG_SRC. Exit 77 without python3-dkim.
set -u
SRC=${SG_SRC:?SG_SRC not set}
CLI=${SG_CLI:?SG_CLI not set}
PY=/usr/bin/python3
"$PY" -c 'import dkim' 2>/dev/null || { echo "SKIPPED: python3-dkim is not installed"; exit 77; }
T=$(mktemp -d /tmp/sg-dkimdiff.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$CLI" keygen --domain example.com --selector sgrsa --out "$T" >"$T/zone.txt" 2>/dev/null &&
    "$CLI" keygen --domain example.com --selector sged --type ed25519 --out "$T" >>"$T/zone.txt" 2>/dev/null ||
    { echo "FAIL keygen"; exit 1; }
pass=0 fail=0
for seed in 1 2 3; do
    mkdir "$T/w$seed"
    if "$PY" "$SRC/tests/interop/dkim_mutation_diff.py" "$CLI" "$T/w$seed" "$T/zone.txt" \
        "$T/sgrsa.private" "$T/sged.private" 1000 "$seed"; then
        echo "PASS seed $seed: spoofguard and dkimpy agree"
        pass=$((pass + 1))
    else
        echo "FAIL seed $seed: spoofguard and dkimpy disagree"
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ $fail = 0 ]
