#!/bin/bash
# ARC sealing interop: messages sealed by `spoofguard arc-seal` must give
# cv=pass with independent ARC verifiers:
#   dkimpy      (Debian python3-dkim 1.1.4: dkim.arc_verify, dkim.arc_sign;
#               tests/interop/dkimpy_peer.py)
#   Mail::DKIM  (Debian libmail-dkim-perl: Mail::DKIM::ARC::Verifier;
#               tests/interop/mail_dkim_peer.pl)
# and with ours (`spoofguard verify --json`, "arc":{"cv":...}).
#
# Chains: our i=1 on a plain message; our i=2 on our i=1; our i=2 on
# dkimpy's i=1 (sealing on top of a chain another sealer started); dkimpy's
# i=3 on that (they accept our set as a link); then a body byte changed
# after our seal (every verifier: fail). And every message of the ValiMail
# signing suite sealed by the CLI with the suite's key: pass, except where
# the chain had failed (cv=fail seal: every verifier says fail, as RFC 8617
# 5.2 wants for a chain whose newest seal says cv=fail) and no_additional_sig
# (an ended chain: the message comes out unchanged).
#
# A peer that is not installed is reported as SKIPPED (not silently passed).
# Env (set by ctest): SG_CLI, SG_SRC; SG_CONFORMANCE_DIR overrides tests/conformance.
set -u
CLI=${SG_CLI:?SG_CLI not set}
SRC=${SG_SRC:?SG_SRC not set}
CONF=${SG_CONFORMANCE_DIR:-${SG_CONFORMANCE_DEFAULT:-$SRC/tests/conformance}}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0 passes=0
PY=/usr/bin/python3
NOW=1767225600

have_dkimpy=0 have_maildkim=0
$PY -c 'import dkim, authres' 2>/dev/null && have_dkimpy=1
perl -MMail::DKIM::ARC::Verifier -e 1 2>/dev/null && have_maildkim=1
[ $have_dkimpy = 1 ] || echo "SKIPPED peer dkimpy (python3-dkim with authres not installed)"
[ $have_maildkim = 1 ] || echo "SKIPPED peer maildkim (libmail-dkim-perl not installed)"

# --- keys: ours and a second sealer's (dkimpy), one zone -------------------------------
"$CLI" keygen --domain seal.example --selector arc --out "$T" > "$T/zone.txt" 2>/dev/null &&
    "$CLI" keygen --domain fwd.example --selector py --out "$T" >> "$T/zone.txt" 2>/dev/null ||
    { echo "FAIL keygen"; exit 1; }
openssl rsa -in "$T/py.private" -traditional -out "$T/py.pkcs1.pem" 2>/dev/null
chmod 600 "$T/py.pkcs1.pem"
keys_from_zone() { # zone.txt -> "name record" lines
    $PY - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for m in re.finditer(r'^(\S+)\s+IN\s+TXT\s+\((.*?)\)', text, re.M | re.S):
    print(m.group(1).rstrip('.'), ''.join(re.findall(r'"([^"]*)"', m.group(2))))
PY
}
keys_from_zone "$T/zone.txt" > "$T/keys.txt"

# --- verifiers: each prints the chain's cv -----------------------------------------------
# ours: the "arc" object of verify --json
ours() { # msg zone
    "$CLI" verify --json --now $NOW --zone "$2" "$1" 2>/dev/null |
        $PY -c 'import json,sys; print(json.loads(sys.stdin.readline())["arc"]["result"])'
}
dkimpy() { $PY "$SRC/tests/interop/dkimpy_peer.py" arc-verify "$2" < "$1" 2>/dev/null | awk '{print $1}'; }
maildkim() { perl "$SRC/tests/interop/mail_dkim_peer.pl" arc-verify "$2" < "$1" 2>/dev/null | awk '{print $1}'; }

# check NAME MSG WANT ZONE KEYS: every available verifier must say WANT
check() {
    local name=$1 msg=$2 want=$3 zone=$4 keys=$5 got line=""
    local -a vs=(ours)
    [ $have_dkimpy = 1 ] && vs+=(dkimpy)
    [ $have_maildkim = 1 ] && vs+=(maildkim)
    for v in "${vs[@]}"; do
        if [ $v = ours ]; then got=$(ours "$msg" "$zone"); else got=$($v "$msg" "$keys"); fi
        line="$line $v=$got"
        if [ "$got" = "$want" ]; then
            passes=$((passes + 1))
        else
            echo "FAIL $name: $v says ${got:-nothing}, want $want"
            [ $v = dkimpy ] && $PY "$SRC/tests/interop/dkimpy_peer.py" arc-verify "$keys" < "$msg"
            [ $v = maildkim ] && perl "$SRC/tests/interop/mail_dkim_peer.pl" arc-verify "$keys" < "$msg"
            fails=$((fails + 1))
        fi
    done
    echo "  $name:$line"
}

seal() { # in out [t]
    "$CLI" arc-seal --domain seal.example --selector arc --key "$T/arc.private" \
        --authserv-id mx.seal.example --now "${3:-$((NOW - 100))}" --zone "$T/zone.txt" "$1" > "$2"
}

crlf() { $PY -c 'import sys; d=sys.stdin.buffer.read().replace(b"\r\n",b"\n").replace(b"\n",b"\r\n"); sys.stdout.buffer.write(d)'; }
printf '%s\n' 'Authentication-Results: mx.fwd.example; arc=none; spf=pass smtp.mailfrom=example.com;' \
    '  dkim=pass header.d=example.com; dmarc=pass header.from=example.com' \
    'Authentication-Results: mx.seal.example; spf=pass smtp.mailfrom=example.com' \
    'From: "Ann Example" <ann@example.com>' 'To: list@fwd.example' \
    'Subject:   folded   and' '	spaced subject  ' 'Date: Mon, 1 Jan 2024 10:00:00 +0000' \
    'Message-ID: <m1@example.com>' 'MIME-Version: 1.0' 'Content-Type: text/plain' '' \
    'Body line with trailing spaces   ' '	tab-led line' '' '' | crlf > "$T/m1.eml"

echo "chains (zone: generated keys)"
# 1. our i=1, and a body byte changed after it
seal "$T/m1.eml" "$T/s1.eml" || { echo "FAIL arc-seal i=1"; fails=$((fails + 1)); }
check "spoofguard i=1" "$T/s1.eml" pass "$T/zone.txt" "$T/keys.txt"
sed 's/tab-led/tab-LED/' "$T/s1.eml" > "$T/s1.body"
check "spoofguard i=1, body changed" "$T/s1.body" fail "$T/zone.txt" "$T/keys.txt"
# 2. our i=2 on our i=1
seal "$T/s1.eml" "$T/s2.eml" $((NOW - 50)) || { echo "FAIL arc-seal i=2"; fails=$((fails + 1)); }
check "spoofguard i=2 on spoofguard i=1" "$T/s2.eml" pass "$T/zone.txt" "$T/keys.txt"
grep -q '^ARC-Seal: .*' "$T/s2.eml" && grep -q 'i=2' "$T/s2.eml" ||
    { echo "FAIL no i=2 set"; fails=$((fails + 1)); }
if [ $have_dkimpy = 1 ]; then
    # 3. dkimpy's i=1 (sealer fwd.example), then ours on top
    $PY "$SRC/tests/interop/dkimpy_peer.py" arc-sign "$T/py.pkcs1.pem" py fwd.example \
        mx.fwd.example $((NOW - 200)) < "$T/m1.eml" > "$T/p1.eml"
    check "dkimpy i=1" "$T/p1.eml" pass "$T/zone.txt" "$T/keys.txt"
    seal "$T/p1.eml" "$T/p2.eml" || { echo "FAIL arc-seal on dkimpy"; fails=$((fails + 1)); }
    check "spoofguard i=2 on dkimpy i=1" "$T/p2.eml" pass "$T/zone.txt" "$T/keys.txt"
    # 4. dkimpy's i=3 on that: dkimpy takes cv from the arc= of its own
    # A-R (a second host of the forwarder, so that m1's A-R is not merged)
    { printf 'Authentication-Results: mx2.fwd.example; arc=pass\r\n'; cat "$T/p2.eml"; } > "$T/p2ar.eml"
    $PY "$SRC/tests/interop/dkimpy_peer.py" arc-sign "$T/py.pkcs1.pem" py fwd.example \
        mx2.fwd.example $((NOW - 10)) < "$T/p2ar.eml" > "$T/p3.eml"
    check "dkimpy i=3 on spoofguard i=2" "$T/p3.eml" pass "$T/zone.txt" "$T/keys.txt"
fi

echo "verify --trusted-arc-sealer (local policy): a DMARC fail of example.com (p=reject)"
printf '%s\n' '_dmarc.example.com. 300 IN TXT "v=DMARC1; p=reject"' \
    'example.com. 300 IN TXT "v=spf1 -all"' >> "$T/zone.txt"
"$CLI" arc-seal --domain seal.example --selector arc --key "$T/arc.private" \
    --authserv-id mx.seal.example --now $((NOW - 100)) --zone "$T/zone.txt" \
    --results "spf=pass smtp.mailfrom=example.com; dmarc=pass header.from=example.com" \
    "$T/m1.eml" > "$T/t1.eml"
# dmarc result, disposition, policy_override, verdict, and dmarc= in the A-R
judge() { # msg [trusted...]
    local m=$1 a=()
    shift
    for d in "$@"; do a+=(--trusted-arc-sealer "$d"); done
    "$CLI" verify --json --now $NOW --zone "$T/zone.txt" --ip 203.0.113.5 \
        --mail-from bounce@fwd.example "${a[@]}" "$m" 2>/dev/null |
        $PY -c 'import json,sys,re; j=json.loads(sys.stdin.readline()); d=j["dmarc"]
print(d["result"], d["disposition"], d["policy_override"], j["verdict"],
      re.search(r"dmarc=\S+", j["authentication_results"]).group(0))'
}
expect() { # name got want
    if [ "$2" = "$3" ]; then passes=$((passes + 1)); echo "  $1: $2"
    else echo "FAIL $1: got '$2', want '$3'"; fails=$((fails + 1)); fi
}
expect "trusted sealer, passing chain" "$(judge "$T/t1.eml" seal.example)" \
    "fail none trusted_forwarder unverified dmarc=fail"
expect "no trusted sealer (default)" "$(judge "$T/t1.eml")" "fail reject None forged dmarc=fail"
expect "another sealer trusted" "$(judge "$T/t1.eml" fwd.example)" "fail reject None forged dmarc=fail"
sed 's/tab-led/tab-LED/' "$T/t1.eml" > "$T/t1.body"
expect "trusted sealer, failing chain" "$(judge "$T/t1.body" seal.example)" \
    "fail reject None forged dmarc=fail"
"$CLI" verify --trusted-arc-sealer 'not a domain' "$T/t1.eml" >/dev/null 2>&1
expect "--trusted-arc-sealer with a bad name: exit" "$?" 2
# the trusted sealer's key gets no answer (adv22 F2): temporary, not the
# reject a failed chain gets; and no seal on top, which would say cv=fail
# and end the chain for every later hop
printf '%s\n' '_dmarc.example.com. 300 IN TXT "v=DMARC1; p=reject"' \
    'example.com. 300 IN TXT "v=spf1 -all"' 'arc._domainkey.seal.example. TIMEOUT TXT' > "$T/zone-to.txt"
got=$("$CLI" verify --json --now $NOW --zone "$T/zone-to.txt" --ip 203.0.113.5 \
    --mail-from bounce@fwd.example --trusted-arc-sealer seal.example "$T/t1.eml" 2>/dev/null |
    $PY -c 'import json,sys; j=json.loads(sys.stdin.readline())
print(j["arc"]["result"], j["dmarc"]["disposition"], j["verdict"], j["temporary"])')
expect "trusted sealer, its key times out" "$got" "fail none unverified True"
"$CLI" arc-seal --domain seal2.example --selector arc --key "$T/arc.private" \
    --authserv-id mx.seal2.example --now $NOW --zone "$T/zone-to.txt" "$T/t1.eml" \
    > "$T/t1.to" 2>"$T/t1.err"
rc=$?
expect "arc-seal when a key of the chain times out: exit" "$rc" 1
cmp -s "$T/t1.to" "$T/t1.eml" && grep -q 'got no answer' "$T/t1.err" && passes=$((passes + 1)) ||
    { echo "FAIL arc-seal on a timed-out key: message changed or no reason: $(cat "$T/t1.err")"; fails=$((fails + 1)); }

echo "ValiMail signing suite messages, sealed by the CLI with the suite's key"
S=$CONF/arc/flat/sign
cp "$S/scenario1.private.pem" "$T/suite.pem" && chmod 600 "$T/suite.pem"
# the suite's zone in both forms
awk -F'\t' '!/^#/ && $1 == 1 {v=$4; gsub(/"/, "", v); print $2, v}' "$S/zone.tsv" > "$T/suite.keys"
while IFS=$'\t' read -r sc id msg dom sel srv hdrs t _ _ _ expect _; do
    [ "${sc:0:1}" = "#" ] && continue
    out=$T/suite.$id.eml
    if ! "$CLI" arc-seal --domain "$dom" --selector "$sel" --key "$T/suite.pem" \
        --authserv-id "$srv" --headers "$hdrs" --now "$t" --zone "$S/zone.tsv" "$S/$msg" \
        > "$out" 2>"$T/err"; then
        echo "FAIL $id: arc-seal: $(head -c 300 "$T/err")"
        fails=$((fails + 1))
        continue
    fi
    if [ "$expect" = empty ]; then
        if cmp -s "$out" "$S/$msg"; then passes=$((passes + 1)); echo "  $id: unchanged (ended chain)"
        else echo "FAIL $id: a set was added to an ended chain"; fails=$((fails + 1)); fi
        continue
    fi
    want=pass
    case $id in *_fail) want=fail ;; esac
    check "$id" "$out" $want "$S/zone.tsv" "$T/suite.keys"
done < "$S/manifest.tsv"

# the AAR takes only our MTA's own results: the first run of fields whose
# authserv-id is ours the RFC way. A forger's field that a lax reader takes
# for ours (an encoded-word, an NBSP) and one below another host's are not.
printf '%s\n' 'Authentication-Results: =?utf-8?q?mx.seal.example?=; dmarc=pass header.from=example.com' \
    'Authentication-Results: mx.seal.example; spf=fail smtp.mailfrom=attacker.example' \
    $'Authentication-Results: \xc2\xa0mx.seal.example; dkim=pass header.d=example.com' \
    'Authentication-Results: mx.other.example; none' \
    'Authentication-Results: mx.seal.example; dkim=pass header.d=example.com' \
    'From: ann@example.com' 'To: list@fwd.example' 'Subject: s' \
    'Date: Mon, 1 Jan 2024 10:00:00 +0000' 'Message-ID: <m9@example.com>' '' 'body' | crlf > "$T/m9.eml"
seal "$T/m9.eml" "$T/s9.eml"
aar=$($PY -c 'import sys,re; t=open(sys.argv[1],encoding="utf-8",errors="replace").read().replace("\r\n","\n"); m=re.search(r"^ARC-Authentication-Results:(.*(?:\n[ \t].*)*)", t, re.M); print(" ".join(m.group(1).split()) if m else "")' "$T/s9.eml")
case $aar in
*"spf=fail smtp.mailfrom=attacker.example"*dmarc=pass* | *dmarc=pass* | *dkim=pass*)
    echo "FAIL AAR merged a forged field: $aar"; fails=$((fails + 1)) ;;
*"spf=fail smtp.mailfrom=attacker.example"*)
    echo "  AAR has only our MTA's results"; passes=$((passes + 1)) ;;
*) echo "FAIL AAR lost our results: $aar"; fails=$((fails + 1)) ;;
esac

echo "$passes verifier results as expected, $fails failure(s)"
[ "$fails" -eq 0 ]
