#!/usr/bin/env bash
# The viewer's fixtures (tests/data/viewer) say what manifest.tsv says they
# say: each message's `spoofguard verify` verdict, the details the browser
# test relies on (which signatures pass, the trusted and the untrusted
# Authentication-Results, x= needing --now), dkimpy agreeing on every
# signature, and the generator reproducing the committed bytes. A change to
# the fixtures or to the library cannot silently change what
# tests/browser/viewer_browser.py expects.
set -u
CLI=${SG_CLI:?SG_CLI must point at the spoofguard binary}
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
D=$SRC/tests/data/viewer
T=$(mktemp -d /tmp/sg-viewer-fx.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
NOW=1796256000 # 2026-12-03T00:00:00Z, as README.md and the browser test use
vfy() { "$CLI" verify --zone "$D/viewer.zone" --authserv-id mx.home.example --protect bank.example "$@" --json; }
jget() { $PY -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
file_of() { awk -F'\t' -v n="$1" '$1 == n { print $2 }' "$D/manifest.tsv"; }

# 1. every fixture's verdict, as the manifest records it
rows=0
while IFS=$'\t' read -r name file subject verdict _; do
    case $name in '#'* | '') continue ;; esac
    rows=$((rows + 1))
    f=$D/maildir/$file
    if [ ! -f "$f" ]; then
        bad "$name: $file missing"
        continue
    fi
    out=$(vfy --now $NOW "$f")
    got=$(echo "$out" | jget 'd["verdict"]')
    [ "$got" = "$verdict" ] && ok "$name: verify says $verdict" || bad "$name: verify says $got, manifest $verdict: $out"
    grep -q "^Subject: $subject\$" "$f" && ok "$name: subject" || bad "$name: subject is not '$subject'"
done <"$D/manifest.tsv"
[ "$rows" -ge 11 ] && ok "manifest lists $rows fixtures" || bad "manifest lists only $rows fixtures"
n=$(find "$D/maildir/cur" "$D/maildir/new" -type f | wc -l)
[ "$n" = "$rows" ] && ok "the Maildir holds exactly the manifest's messages" || bad "Maildir has $n files, manifest $rows"

# 2. the details the browser test relies on
out=$(vfy --now $NOW "$D/maildir/$(file_of genuine)")
[ "$(echo "$out" | jget '[(x["domain"], x["algorithm"], x["result"]) for x in d["dkim"]]')" = \
    "[('bank.example', 'rsa-sha256', 'pass'), ('bank.example', 'ed25519-sha256', 'pass')]" ] &&
    ok "genuine: RSA and Ed25519 signatures of bank.example pass" || bad "genuine dkim: $out"
echo "$out" | grep -q '2048-bit key' && ok "genuine: the RSA key is 2048 bits" || bad "genuine key size: $out"
[ "$(echo "$out" | jget 'd["dmarc"]["policy"], d["protected_domain"]')" = "('reject', True)" ] &&
    ok "genuine: p=reject, a protected domain" || bad "genuine dmarc: $out"

# x= is t+30 days: without the fixed --now the fixtures would rot
out=$(vfy --now 1800000000 "$D/maildir/$(file_of genuine)")
[ "$(echo "$out" | jget 'd["verdict"], sorted(set(x["result"] for x in d["dkim"]))')" != "('authentic', ['pass'])" ] &&
    ok "genuine: expired at a later --now (the viewer needs --now)" || bad "genuine still passes after x=: $out"

f=$D/maildir/$(file_of forged)
out=$(vfy --now $NOW --ip 203.0.113.66 --helo mailer.attacker.example --mail-from security@bank.example "$f")
[ "$(echo "$out" | jget 'd["verdict"], d["spf"]["result"], d["dkim"]')" = "('forged', 'fail', [])" ] &&
    ok "forged: unsigned, SPF fail from 203.0.113.66" || bad "forged with IP: $out"
ar=$(echo "$out" | jget 'd["authentication_results"]')
[ "$(head -1 "$f")" = "Authentication-Results: $ar" ] &&
    ok "forged: its topmost A-R is exactly what our MTA (mx.home.example) writes" || bad "forged A-R: $(head -1 "$f") vs $ar"

out=$(vfy --now $NOW "$D/maildir/$(file_of forged-signature)")
[ "$(echo "$out" | jget '[(x["domain"], x["result"], x["reason"]) for x in d["dkim"]]')" = \
    "[('bank.example', 'fail', 'body hash did not verify'), ('bank.example', 'fail', 'body hash did not verify')]" ] &&
    ok "forged-signature: both signatures fail on the changed body" || bad "forged-signature: $out"

f=$D/maildir/$(file_of unverified)
head -1 "$f" | grep -q '^Authentication-Results: mx.harbor-deals.example; .*dmarc=pass' &&
    ok "unverified: carries an untrusted A-R that claims a pass" || bad "unverified: no foreign A-R on top"
out=$(vfy --now $NOW "$f")
[ "$(echo "$out" | jget 'd["dmarc"]["result"], d["dkim"]')" = "('none', [])" ] &&
    ok "unverified: no DMARC record, unsigned" || bad "unverified: $out"

f=$D/maildir/$(file_of third-party)
out=$(vfy --now $NOW "$f")
[ "$(echo "$out" | jget '[(x["domain"], x["result"]) for x in d["dkim"]], d["dmarc"]["result"], d["dmarc"]["policy"]')" = \
    "([('lists.example', 'pass')], 'fail', 'none')" ] &&
    ok "third-party: only lists.example signs (pass), news-sender.example p=none" || bad "third-party: $out"
grep -q '^List-Id: Weekly digest <weekly.lists.example>$' "$f" && ok "third-party: List-Id" || bad "third-party: no List-Id"

for n in lookalike lookalike-idn; do
    out=$(vfy --now $NOW "$D/maildir/$(file_of $n)")
    [ "$(echo "$out" | jget 'd["dmarc"]["result"], d["dmarc"]["policy"], d["dkim"]')" = "('fail', 'none', [])" ] &&
        ok "$n: unsigned with a p=none record" || bad "$n: $out"
done
grep -q '^From: Bank Example <support@xn--bnk-6cd.example>$' "$D/maildir/$(file_of lookalike-idn)" &&
    [ "$($PY -c 'print("xn--bnk-6cd".encode().decode("idna"))')" = "bаnk" ] &&
    [ "$($PY -c 'import unicodedata; print(unicodedata.name("xn--bnk-6cd".encode().decode("idna")[1]))')" = \
        "CYRILLIC SMALL LETTER A" ] && ok "lookalike-idn: b<Cyrillic a>nk.example" || bad "lookalike-idn: not the Cyrillic a"
grep -q '^From: "bank.example Security" <alerts@random-mailer.example>$' "$D/maildir/$(file_of display-name)" &&
    ok "display-name: the name names bank.example" || bad "display-name: From"

for n in remote-image display-name; do
    grep -q 'src="http://127.0.0.1:18226/' "$D/maildir/$(file_of $n)" && ok "$n: a remote image on the counting server" ||
        bad "$n: no remote image"
done
n=$(grep -c '<div class="case">' "$D/maildir/$(file_of xss)")
[ "$n" -ge 40 ] && ok "xss: $n attack cases" || bad "xss: only $n cases"
grep -q 'filename="invoice.pdf.exe"' "$D/maildir/$(file_of attachment)" && ok "attachment: invoice.pdf.exe" ||
    bad "attachment: no invoice.pdf.exe"
case $(file_of attachment) in new/*) ok "attachment: delivered to new/" ;; *) bad "attachment not in new/" ;; esac

# 3. `spoofguard explain` (the viewer's explanation, from the terminal) gives the manifest's headline
if "$CLI" explain --help >/dev/null 2>&1; then
    while IFS=$'\t' read -r name file _ _ headline third _; do
        case $name in '#'* | '') continue ;; esac
        out=$("$CLI" explain --zone "$D/viewer.zone" --authserv-id mx.home.example --protect bank.example \
            --operator-domains "$D/operator-domains" --now $NOW --json "$D/maildir/$file")
        got=$(echo "$out" | jget 'd["headline"], d["third_party"] or "-"')
        [ "$got" = "('$headline', '$third')" ] && ok "$name: explain says $headline${third#-}" ||
            bad "$name: explain says $got, manifest ('$headline', '$third')"
    done <"$D/manifest.tsv"
    out=$("$CLI" explain --zone "$D/viewer.zone" --authserv-id mx.home.example --now $NOW --json \
        "$D/maildir/$(file_of forged)" "$D/maildir/$(file_of unverified)")
    [ "$(echo "$out" | $PY -c 'import json,sys; print([json.loads(l)["verified_by"] for l in sys.stdin])')" = \
        "['authres', 'verified']" ] && ok "explain trusts our A-R (forged) and not the sender's (unverified)" ||
        bad "explain verified_by: $out"
else
    bad "spoofguard explain is missing"
fi

# 4. dkimpy (an independent verifier) agrees with spoofguard on every signature, at the same time
while IFS=$'\t' read -r name file _; do
    case $name in '#'* | '') continue ;; esac
    f=$D/maildir/$file
    grep -qi '^DKIM-Signature:' "$f" || continue
    ours=$(vfy --now $NOW "$f" | jget '" ".join(x["result"] for x in d["dkim"])')
    theirs=$($PY - "$D/viewer.zone" "$f" $NOW <<'EOF'
import re, sys, types
import dkim
zone, path, now = sys.argv[1], sys.argv[2], int(sys.argv[3])
dkim.time = types.SimpleNamespace(time=lambda: now)  # dkimpy checks x= against time.time()
keys = {}
for line in open(zone):
    m = re.match(r"(\S+)\s+IN\s+TXT\s+(.*)$", line)
    if m:
        keys[m.group(1).rstrip(".").lower().encode()] = "".join(re.findall(r'"([^"]*)"', m.group(2))).encode()
msg = open(path, "rb").read()
d = dkim.DKIM(msg)
n = sum(1 for h in d.headers if h[0].lower() == b"dkim-signature")
out = []
for i in range(n):
    try:
        ok = d.verify(idx=i, dnsfunc=lambda name, timeout=5: keys.get(name.rstrip(b".").lower()))
    except Exception:
        ok = False
    out.append("pass" if ok else "fail")
print(" ".join(out))
EOF
    )
    [ -n "$ours" ] && [ "$ours" = "$theirs" ] && ok "$name: dkimpy agrees ($theirs)" ||
        bad "$name: spoofguard '$ours', dkimpy '$theirs'"
done <"$D/manifest.tsv"

# 5. the generator reproduces the committed fixtures byte for byte (deterministic signatures)
if $PY "$D/make-fixtures.py" "$CLI" "$T" >"$T/gen.log" 2>&1; then
    diff -r "$T/maildir" "$D/maildir" >"$T/diff.log" 2>&1 && cmp -s "$T/viewer.zone" "$D/viewer.zone" &&
        ok "make-fixtures.py reproduces viewer.zone and the Maildir" || bad "regenerated fixtures differ: $(head -5 "$T/diff.log")"
else
    bad "make-fixtures.py failed: $(tail -3 "$T/gen.log")"
fi

echo "viewer_fixtures: $pass passed, $fail failed"
[ "$fail" = 0 ]
