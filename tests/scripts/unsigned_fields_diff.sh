#!/bin/bash
# Issue 11 class 8 against dkimpy (tests/interop/unsigned_fields_diff.py):
# 2,400 messages signed by dkimpy over random sets of the displayed fields,
# then given copies of displayed fields above, below or between the others,
# or a signed field changed. unsigned_fields must name exactly the fields
# with an instance dkimpy's own header selection does not cover (all of
# them when dkimpy says the signature fails), and a second, uncovered copy
# of a displayed field is never authentic. No network.
# Env (set by ctest): SG_CLI, SG_SRC. Exit 77 without python3-dkim.
set -u
SRC=${SG_SRC:?SG_SRC not set}
CLI=${SG_CLI:?SG_CLI not set}
PY=/usr/bin/python3
"$PY" -c 'import dkim' 2>/dev/null || { echo "SKIPPED: python3-dkim is not installed"; exit 77; }
T=$(mktemp -d /tmp/sg-unsigned.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$CLI" keygen --domain example.com --selector sgrsa --out "$T" >"$T/zone.txt" 2>/dev/null ||
    { echo "FAIL keygen"; exit 1; }
pass=0 fail=0
for seed in 1 2 3; do
    mkdir "$T/w$seed"
    if "$PY" "$SRC/tests/interop/unsigned_fields_diff.py" "$CLI" "$T/w$seed" "$T/zone.txt" \
        "$T/sgrsa.private" 800 "$seed"; then
        echo "PASS seed $seed: unsigned_fields as dkimpy covers them"
        pass=$((pass + 1))
    else
        echo "FAIL seed $seed"
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ $fail = 0 ]
