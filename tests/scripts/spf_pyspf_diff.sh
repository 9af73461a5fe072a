#!/bin/bash
# SPF: differential test against pyspf (Debian python3-spf) on randomly
# generated policy trees (tests/interop/spf_pyspf.py, fixed seeds), plus
# the `spoofguard spf` CLI contract (exit statuses, JSON keys).
set -u
: "${SG_CLI:?SG_CLI must point at the spoofguard binary}"
SRC="${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
PY=/usr/bin/python3
fail=0

# --- CLI contract -----------------------------------------------------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/z.zone" <<'ZONE'
example.com.      TXT "v=spf1 ip4:192.0.2.0/24 -all exp=why.example.com"
why.example.com.  TXT "%{i} may not send for %{d}"
helo.example.com. TXT "v=spf1 a -all"
helo.example.com. A   198.51.100.1
ZONE
expect() { # expected-status description command...
    local want=$1 what=$2; shift 2
    "$@" > "$tmp/out" 2> "$tmp/err"
    local got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL: $what: exit $got, expected $want"; cat "$tmp/out" "$tmp/err"; fail=1
    fi
}
expect 0 "pass" "$SG_CLI" spf --ip 192.0.2.7 --mail-from a@example.com --zone "$tmp/z.zone"
grep -qx pass "$tmp/out" || { echo "FAIL: pass output"; cat "$tmp/out"; fail=1; }
expect 0 "fail" "$SG_CLI" spf --ip 203.0.113.9 --mail-from a@example.com --zone "$tmp/z.zone"
grep -qx fail "$tmp/out" && grep -qx "explanation: 203.0.113.9 may not send for example.com" \
    "$tmp/out" || { echo "FAIL: fail output"; cat "$tmp/out"; fail=1; }
expect 0 "json" "$SG_CLI" spf --ip 203.0.113.9 --mail-from a@example.com \
    --helo helo.example.com --zone "$tmp/z.zone" --json
$PY - "$tmp/out" <<'PYEOF' || fail=1
import json, sys
o = json.load(open(sys.argv[1]))
want = {"result": "fail", "identity": "mailfrom", "domain": "example.com",
        "explanation": "203.0.113.9 may not send for example.com", "dns_lookups": 0,
        "void_lookups": 0, "helo_result": "fail", "mechanism": "-all"}
bad = {k: (o.get(k), v) for k, v in want.items() if o.get(k) != v}
if bad or not o.get("received_spf", "").startswith("fail ("):
    print("FAIL: json", bad, o); sys.exit(1)
PYEOF
expect 0 "helo identity" "$SG_CLI" spf --ip 198.51.100.1 --mail-from "" \
    --helo helo.example.com --zone "$tmp/z.zone" --json
grep -q '"identity":"helo"' "$tmp/out" && grep -q '"result":"pass"' "$tmp/out" ||
    { echo "FAIL: helo identity"; cat "$tmp/out"; fail=1; }
expect 2 "missing --mail-from" "$SG_CLI" spf --ip 192.0.2.7 --zone "$tmp/z.zone"
expect 2 "unknown option" "$SG_CLI" spf --ip 192.0.2.7 --mail-from a@b.c --bogus
expect 2 "null sender without helo" "$SG_CLI" spf --ip 192.0.2.7 --mail-from "<>" \
    --zone "$tmp/z.zone"
expect 3 "bad ip" "$SG_CLI" spf --ip 192.0.2 --mail-from a@example.com --zone "$tmp/z.zone"
expect 3 "missing zone" "$SG_CLI" spf --ip 192.0.2.7 --mail-from a@example.com \
    --zone "$tmp/nonexistent.zone"

# --- differential test against pyspf -----------------------------------------
if ! $PY -c 'import spf' 2>/dev/null; then
    echo "SKIP: python3-spf (pyspf) not installed; differential part not run"
    exit $fail
fi
for seed in 7208 4408; do
    $PY "$SRC/tests/interop/spf_pyspf.py" "$SG_CLI" 60 300 "$seed" || fail=1
done
exit $fail
