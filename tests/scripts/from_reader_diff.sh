#!/bin/bash
# Issue 11 class 5, against a reader: 9,000 From fields built from the
# pieces forgers use (tests/interop/from_reader_diff.py, three fixed seeds),
# none authenticated; whatever Python's email package shows as an address
# at the p=reject domain, `spoofguard verify` must call forged or refuse
# as malformed, naming the file.
# Env (set by ctest): SG_CLI, SG_SRC.
set -u
SRC=${SG_SRC:?SG_SRC not set}
CLI=${SG_CLI:?SG_CLI not set}
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "SKIPPED: python3 not installed"; exit 77; }
T=$(mktemp -d /tmp/sg-fromdiff.XXXXXX)
trap 'rm -rf "$T"' EXIT
if "$PY" "$SRC/tests/interop/from_reader_diff.py" "$CLI" "$T" 1 2 3; then
    echo "PASS every From the reader shows at bank.test is forged or refused"
    echo "1 passed, 0 failed"
else
    echo "FAIL a From the reader shows at bank.test got a softer verdict"
    echo "0 passed, 1 failed"
    exit 1
fi
