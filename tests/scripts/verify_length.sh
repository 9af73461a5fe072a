#!/usr/bin/env bash
# spoofguard verify and l= (RFC 6376 3.5, 8.2): a signature whose l= leaves
# body content uncovered does not make the From domain pass, in the CLI as
# in the library's verdict and the daemon (one source of defaults). dkimpy
# signs the cases (tests/interop/verdict_parity.py, which holds the known
# answer of each): text appended after the l= part, l=0 with an attacker's
# body, simple and relaxed canonicalization, l= covering the whole body (a
# pass), only empty lines appended (a pass), l= beyond the body, p=none, a
# protected domain, a re-signed message; and their unsigned neighbours.
set -u
CLI=${SG_CLI:?SG_CLI must point at the spoofguard binary}
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
$PY -c 'import dkim' 2>/dev/null || { echo "SKIPPED: python3-dkim is not installed"; exit 77; }
T=$(mktemp -d /tmp/sg-length.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/keys"
chmod 700 "$T/keys"
for k in bank.test:bank1 news.test:news1 ourco.test:ourco1; do
    "$CLI" keygen --domain "${k%%:*}" --selector "${k##*:}" --bits 1024 --out "$T/keys" \
        >>"$T/keys.zone" 2>/dev/null || { echo "FAIL keygen $k"; exit 1; }
done
export SG_CLI=$CLI
$PY "$SRC/tests/interop/verdict_parity.py" make "$T" || { echo "FAIL make"; exit 1; }
cat "$T/zone.head" "$T/keys.zone" >"$T/test.zone"
$PY "$SRC/tests/interop/verdict_parity.py" cli "$T" "$T/test.zone"
