#!/usr/bin/env bash
# spoofguard verify: the sample messages give their known verdicts, the
# JSON contract holds, a Maildir gives one result per message, and the exit
# status follows the documented rules.
set -u
CLI=${SG_CLI:?SG_CLI must point at the spoofguard binary}
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/sg-verify.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
zone=$SRC/samples/sample.zone
msgs=$SRC/samples/messages

# verdict FILE IP HELO MAILFROM -> JSON line
verdict() {
    "$CLI" verify --zone "$zone" --authserv-id mx.test --ip "$2" --helo "$3" --mail-from "$4" \
        --json "$msgs/$1"
}
jget() { $PY -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

out=$(verdict genuine.eml 192.0.2.10 mail.bank.example alice@bank.example)
[ "$(echo "$out" | jget 'd["verdict"]')" = authentic ] && ok "genuine: authentic" || bad "genuine: $out"
[ "$(echo "$out" | jget '[x["result"] for x in d["dkim"]]')" = "['pass', 'pass']" ] &&
    ok "genuine: both signatures pass" || bad "genuine dkim: $out"
[ "$(echo "$out" | jget 'd["dmarc"]["result"], d["dmarc"]["policy"], d["dmarc"]["header_from"], d["dmarc"]["org_domain"]')" = "('pass', 'reject', 'bank.example', 'bank.example')" ] &&
    ok "genuine: dmarc keys" || bad "genuine dmarc: $out"
echo "$out" | jget 'd["spf"]["result"], d["reason"]' | grep -q "^('pass'" && ok "genuine: spf pass and a reason" ||
    bad "genuine spf: $out"

out=$(verdict forged.eml 203.0.113.66 mailer.attacker.example ceo@bank.example)
[ "$(echo "$out" | jget 'd["verdict"], d["dmarc"]["disposition"], d["spf"]["result"]')" = "('forged', 'reject', 'fail')" ] &&
    ok "forged: forged, reject, spf fail" || bad "forged: $out"

out=$(verdict forwarded.eml 198.51.100.7 mx.list.example customers-bounces@list.example)
[ "$(echo "$out" | jget 'd["verdict"], [x["result"] for x in d["dkim"]]')" = "('forged', ['fail', 'fail'])" ] &&
    ok "forwarded: body changed, signatures fail" || bad "forwarded: $out"

# protecting bank.example makes an unsigned p=none domain's mail forged too
printf 'From: x@list.example\r\nSubject: hi\r\n\r\nbody\r\n' > "$T/list.eml"
out=$("$CLI" verify --zone "$zone" --json --protect list.example "$T/list.eml")
[ "$(echo "$out" | jget 'd["verdict"], d["protected_domain"]')" = "('forged', True)" ] &&
    ok "protected domain without pass: forged" || bad "protect: $out"
out=$("$CLI" verify --zone "$zone" --json "$T/list.eml")
[ "$(echo "$out" | jget 'd["verdict"]')" = unverified ] && ok "p=none, not protected: unverified" ||
    bad "unprotected: $out"

# text output: the A-R field then the verdict line
out=$("$CLI" verify --zone "$zone" --authserv-id mx.test "$msgs/forged.eml")
echo "$out" | head -1 | grep -q '^Authentication-Results: mx.test;' && ok "text: A-R first" || bad "text: $out"
echo "$out" | tail -1 | grep -q '^verdict: forged (' && ok "text: verdict line" || bad "text: $out"

# a Maildir: one result per message, named
mkdir -p "$T/md/cur" "$T/md/new" "$T/md/tmp"
cp "$msgs/genuine.eml" "$T/md/cur/1:2,S"
cp "$msgs/forged.eml" "$T/md/new/2"
n=$("$CLI" verify --zone "$zone" --json "$T/md" | $PY -c 'import sys,json; print(len([json.loads(l)["file"] for l in sys.stdin]))')
[ "$n" = 2 ] && ok "maildir: 2 results" || bad "maildir: $n results"
n=$("$CLI" verify --zone "$zone" "$msgs/genuine.eml" "$msgs/forged.eml" | grep -c '^verdict:')
[ "$n" = 2 ] && ok "two files: 2 verdicts" || bad "two files: $n"

# exit status: 0 whatever the verdict, 2 usage, 3 unreadable input
"$CLI" verify --zone "$zone" "$msgs/forged.eml" > /dev/null; rc=$?
[ $rc = 0 ] && ok "exit 0 for a forged message" || bad "forged exit $rc"
"$CLI" verify --bogus > /dev/null 2>&1; rc=$?
[ $rc = 2 ] && ok "exit 2 for a usage error" || bad "usage exit $rc"
"$CLI" verify --zone "$zone" "$T/missing.eml" > /dev/null 2>&1; rc=$?
[ $rc = 3 ] && ok "exit 3 for an unreadable file" || bad "missing exit $rc"
printf 'no colon here\r\n\r\nbody\r\n' > "$T/bad.eml"
"$CLI" verify --zone "$zone" "$T/bad.eml" > /dev/null 2>&1; rc=$?
[ $rc = 3 ] && ok "exit 3 for a malformed header" || bad "malformed exit $rc"
# input from a pipe
"$CLI" verify --zone "$zone" - < "$msgs/forged.eml" | grep -q '^verdict: forged' && ok "stdin" || bad "stdin"

# ARC (RFC 8617) is reported: dkimpy's one-hop vectors
C=${SG_CONFORMANCE_DIR:-${SG_CONFORMANCE_DEFAULT:-$SRC/tests/conformance}}/dkim/dkimpy
out=$("$CLI" verify --now 1767225600 --zone "$C/zone.tsv" --json "$C/derived/arc-i1-pass.eml")
[ "$(echo "$out" | jget 'd["arc"]["result"], d["arc"]["instances"]')" = "('pass', 1)" ] &&
    echo "$out" | jget 'd["authentication_results"]' | grep -q 'arc=pass' &&
    ok "arc: one-hop chain passes and is in the A-R" || bad "arc pass: $out"
out=$("$CLI" verify --now 1767225600 --zone "$C/zone.tsv" --json "$C/derived/arc-i1-h-in-seal.eml")
[ "$(echo "$out" | jget 'd["arc"]["result"]')" = fail ] && ok "arc: seal with h= fails" ||
    bad "arc fail: $out"

echo "$pass passed, $fail failed"
[ $fail = 0 ]
