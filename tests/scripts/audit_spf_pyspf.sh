#!/bin/bash
# spoofguard audit's SPF counts (DNS-querying terms and void lookups over the
# whole include/redirect tree) against pyspf's on generated record trees
# (tests/interop/audit_spf_pyspf.py, fixed seeds).
set -u
: "${SG_CLI:?SG_CLI must point at the spoofguard binary}"
SRC="${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
PY=/usr/bin/python3
if ! $PY -c 'import spf' 2>/dev/null; then
    echo "SKIPPED: python3-spf (pyspf) is not installed"
    exit 77
fi
fail=0
for seed in 15001 15002; do
    $PY "$SRC/tests/interop/audit_spf_pyspf.py" "$SG_CLI" 500 "$seed" || fail=1
done
exit $fail
