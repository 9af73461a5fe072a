#!/usr/bin/env bash
# What the key tools take from their input files and arguments, and what
# they refuse (docs/keys.md), without DNS or a running daemon:
#   - a KeyTable domain or selector that is not a DKIM name ("../../../x",
#     '/', an empty label) is refused with the file and line by `keys
#     rotate`, `keys status` and `spoofguardd -t`, and rotate writes
#     nothing, in or outside its folders; keygen refuses such a --domain or
#     --selector (exit 2) and writes no key.
set -u
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CLI=${SG_CLI:-$SRC/build/spoofguard}
D=$(dirname "$CLI")/spoofguardd
T=$(mktemp -d /tmp/sg-keysin.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

# --- F7: KeyTable names -------------------------------------------------------
W=$T/a/b/c
mkdir -p "$W/keys" "$W/pub"
"$CLI" keygen --domain ourco.test --selector s --type ed25519 --out "$W/keys" >/dev/null 2>&1 ||
    bad "keygen of a good name"
for v in '../../../escaped:s' 'ourco.test:../s' 'a/b.test:s' 'a..test:s'; do
    printf 'good ourco.test:s:%s/keys/s.private\nk1 %s:%s/keys/s.private\n' "$W" "$v" "$W" >"$W/KT"
    printf '*@ourco.test good\n' >"$W/ST"
    "$CLI" keys rotate --key-table "$W/KT" --signing-table "$W/ST" --publish-dir "$W/pub" \
        --now 1800000000 >"$T/out" 2>&1
    rc=$?
    name=${v%%:*} sel=${v#*:}
    [ "$name" = ourco.test ] && what="'$sel' is not a selector" || what="'$name' is not a domain name"
    written=$(find "$T" -newer "$W/ST" -type f ! -name out | sed "s|$T/||")
    [ $rc != 0 ] && grep -qF "$W/KT:2: $what" "$T/out" && [ -z "$written" ] &&
        ok "keys rotate refuses KeyTable '$v' (line 2), writes nothing" ||
        bad "keys rotate '$v': exit $rc, $(cat "$T/out"), wrote: $written"
    "$CLI" keys status --key-table "$W/KT" --signing-table "$W/ST" >"$T/out" 2>&1
    rc=$?
    [ $rc != 0 ] && grep -qF "$W/KT:2: $what" "$T/out" && ok "keys status refuses '$v'" ||
        bad "keys status '$v': exit $rc, $(cat "$T/out")"
    printf 'listen inet:127.0.0.1:19510\nkey_table %s/KT\nsigning_table %s/ST\nuser nobody\n' \
        "$W" "$W" >"$W/d.conf"
    "$D" -t -c "$W/d.conf" >"$T/out" 2>&1
    rc=$?
    [ $rc != 0 ] && grep -qF "KT:2: $what" "$T/out" && ok "spoofguardd -t refuses '$v'" ||
        bad "spoofguardd -t '$v': exit $rc, $(cat "$T/out")"
done
for a in '--domain ../x --selector s2' '--domain ourco.test --selector ../s2' \
    '--domain a_b..test --selector s2' '--domain ourco.test --selector s2;x'; do
    # shellcheck disable=SC2086
    "$CLI" keygen $a --type ed25519 --out "$W/keys" >"$T/out" 2>&1
    rc=$?
    [ $rc = 2 ] && grep -qE "is not a (domain name|selector)" "$T/out" &&
        [ -z "$(find "$T" -name '*s2*')" ] && ok "keygen refuses $a" ||
        bad "keygen $a: exit $rc, $(cat "$T/out")"
done
"$CLI" keygen --domain xn--br-via.test. --selector s_2 --type ed25519 --out "$W/keys" >"$T/out" 2>/dev/null &&
    grep -q '^s_2._domainkey.xn--br-via.test.	IN	TXT' "$T/out" &&
    ok "keygen: an A-label, a root dot, '_'" || bad "keygen A-label: $(cat "$T/out")"

echo "$pass passed, $fail failed"
[ $fail = 0 ]
