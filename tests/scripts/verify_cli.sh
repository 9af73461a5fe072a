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
# a file name with ESC, C1 CSI as UTF-8 and as one byte (an 8-bit
# terminal's CSI; not UTF-8) reaches the terminal as ?; UTF-8 stays
mkdir "$T/esc"
cp "$msgs/forged.eml" "$T/esc/a"$'\033'"[2Jb"$'\302\233'"c"$'\233'"d"$'\303\251'".eml"
cp "$msgs/forged.eml" "$T/esc/z.eml"
"$CLI" verify --zone "$zone" "$T/esc" >"$T/esc.out"
if LC_ALL=C grep -q "$(printf '\033\\|\302\233\\|\233')" "$T/esc.out"; then
    bad "text: control characters of a file name reached the terminal: $(cat -v "$T/esc.out")"
else
    grep -q "^== $T/esc/a?\[2Jb?c?d"$'\303\251'".eml$" "$T/esc.out" && grep -q "^== $T/esc/z.eml$" "$T/esc.out" &&
        ok "text: a file name's control characters shown as ?" || bad "text: $(cat -v "$T/esc.out")"
fi

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
"$CLI" verify --zone "$zone" "$T/missing.eml" > /dev/null 2>"$T/err"; rc=$?
[ $rc = 3 ] && ok "exit 3 for an unreadable file" || bad "missing exit $rc"
# the cause is said, not only "cannot open" / "I/O error" (adv26 CLI-10.1)
grep -q 'missing.eml: cannot open: No such file or directory' "$T/err" &&
    ok "cannot open: the cause said" || bad "cannot open: $(cat "$T/err")"
"$CLI" verify --zone "$T/no-zone" "$msgs/forged.eml" > /dev/null 2>"$T/err"; rc=$?
[ $rc = 3 ] && grep -q 'no-zone: No such file or directory' "$T/err" &&
    ok "--zone of a missing file: exit 3, ENOENT said" || bad "--zone missing: exit $rc, $(cat "$T/err")"
"$CLI" verify --zone "$T" "$msgs/forged.eml" > /dev/null 2>"$T/err"; rc=$?
[ $rc = 3 ] && grep -q ': Is a directory' "$T/err" &&
    ok "--zone of a folder: exit 3, EISDIR said" || bad "--zone folder: exit $rc, $(cat "$T/err")"
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

# issue 11 class 6: --protect as a U-label protects its A-label; a name
# IDNA2008 refuses is refused loudly (exit 2), never silently ignored
printf 'From: x@xn--bcher-kva.example\r\nSubject: hi\r\n\r\nbody\r\n' >"$T/idn.eml"
printf 'From: x@B\xc3\x9cCHER.example\r\nSubject: hi\r\n\r\nbody\r\n' >"$T/idn-u.eml"
for prot in "bücher.example" "BÜCHER.example" "xn--bcher-kva.example" "b$(printf '\xc3\xbc')cher$(printf '\xe3\x80\x82')example"; do
    for f in idn.eml idn-u.eml; do
        out=$("$CLI" verify --zone "$zone" --json --protect "$prot" "$T/$f")
        [ "$(echo "$out" | jget 'd["verdict"], d["protected_domain"], d["dmarc"]["header_from"]')" = "('forged', True, 'xn--bcher-kva.example')" ] &&
            ok "--protect $prot covers $f" || bad "--protect $prot $f: $out"
    done
done
out=$("$CLI" verify --zone "$zone" --json --protect other.example "$T/idn.eml")
[ "$(echo "$out" | jget 'd["verdict"], d["protected_domain"]')" = "('unverified', False)" ] &&
    ok "--protect other domain: not protected" || bad "--protect other: $out"
for prot in "ba$(printf '\xe2\x80\x8d')nk.example" "xn--zz.example" "a..b" "bank example"; do
    err=$("$CLI" verify --zone "$zone" --json --protect "$prot" "$T/idn.eml" 2>&1 >/dev/null)
    rc=$?
    [ $rc = 2 ] && echo "$err" | grep -q -- "--protect .*not a domain name" &&
        ok "--protect '$prot' refused loudly" || bad "--protect '$prot': rc $rc $err"
done

# issue 11 class 5: the reader's view is flagged in the JSON (a key added)
printf 'From: ceo@bank.example.\r\nSubject: hi\r\n\r\nbody\r\n' >"$T/dot.eml"
out=$("$CLI" verify --zone "$zone" --json "$T/dot.eml")
[ "$(echo "$out" | jget 'd["verdict"], d["dmarc"]["header_from"], d["dmarc"]["header_from_lenient"], d["dmarc"]["disposition"]')" = "('forged', 'bank.example', True, 'reject')" ] &&
    ok "trailing dot: judged as bank.example (p=reject)" || bad "trailing dot: $out"
out=$("$CLI" verify --zone "$zone" --json "$T/list.eml")
[ "$(echo "$out" | jget 'd["dmarc"]["header_from_lenient"]')" = False ] &&
    ok "header_from_lenient false for a From that parses" || bad "lenient key: $out"

# issue 11 class 4: a bare CR or NUL in the header is a malformed header
# (exit 3, as the daemon's 550 5.6.0); in the body they are data
for m in 'Subject: hi\rFrom: ceo@bank.example\r\nFrom: x@list.example\r\n\r\nb\r\n' \
    'From: x@list.example\r\nX: a\0b\r\n\r\nb\r\n' 'From: x@list.example\rFrom: ceo@bank.example\n\nb\n'; do
    printf "$m" >"$T/m.eml"
    "$CLI" verify --zone "$zone" --json "$T/m.eml" >/dev/null 2>"$T/m.err"
    rc=$?
    [ $rc = 3 ] && grep -q 'malformed message header' "$T/m.err" && ok "refused: $m" || bad "rc $rc for $m"
done
printf 'From: x@list.example\r\nSubject: hi\r\n\r\nbo\0dy\rx\r\n' >"$T/m.eml"
out=$("$CLI" verify --zone "$zone" --json "$T/m.eml")
[ "$(echo "$out" | jget 'd["verdict"]')" = unverified ] && ok "NUL and CR in the body: a verdict" ||
    bad "body NUL: $out"
# issue 11: sender-controlled counts, DMARC temperror, unsigned fields (new keys only)
{ cat "$zone"; printf 'k1._domainkey.slow IN TIMEOUT TXT\n_dmarc.slow IN TXT "v=DMARC1; p=reject"\nslow IN TXT "v=spf1 -all"\n'; } > "$T/z.zone"
{ for i in $(seq 300); do printf 'DKIM-Signature: x\r\n'; done; printf 'From: ceo@bank.example\r\nSubject: pay\r\n\r\nbody\r\n'; } > "$T/many.eml"
out=$("$CLI" verify --zone "$T/z.zone" --authserv-id mx.test --ip 203.0.113.66 --helo x.test --mail-from a@attacker.example --json "$T/many.eml")
[ "$(echo "$out" | jget 'd["verdict"], d["temporary"], d["dkim_skipped"], len(d["dkim"]), sum(x["skipped"] for x in d["dkim"])')" = "('forged', False, 290, 300, 290)" ] &&
    echo "$out" | jget 'd["authentication_results"]' | grep -q '284 more signatures not listed' &&
    ok "300 signatures: forged, definite, 290 skipped, A-R written" || bad "many signatures: $out"
printf 'DKIM-Signature: v=1; a=ed25519-sha256; d=slow.example; s=k1; h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA==\r\nFrom: a@slow.example\r\n\r\n' > "$T/slow.eml"
out=$("$CLI" verify --zone "$T/z.zone" --ip 203.0.113.66 --helo x.test --mail-from a@attacker.example --json "$T/slow.eml")
[ "$(echo "$out" | jget 'd["verdict"], d["temporary"], d["dmarc"]["result"], d["dmarc"]["disposition"]')" = "('unverified', True, 'temperror', 'none')" ] &&
    echo "$out" | jget 'd["authentication_results"]' | grep -q 'dmarc=temperror' &&
    ok "aligned key timeout: dmarc temperror in JSON and A-R" || bad "temperror: $out"
{ printf 'Reply-To: thief@attacker.example\r\n'; cat "$msgs/genuine.eml"; } > "$T/replyto.eml"
out=$("$CLI" verify --zone "$zone" --ip 192.0.2.10 --helo mail.bank.example --mail-from alice@bank.example --json "$T/replyto.eml")
[ "$(echo "$out" | jget 'd["verdict"], "Reply-To" in d["unsigned_fields"], "From" in d["unsigned_fields"]')" = "('authentic', True, False)" ] &&
    ok "unsigned Reply-To reported, signed From not" || bad "unsigned_fields: $out"

# a suffix's DMARC record without psd=y: the suffix guard (default) keeps a
# forger's SPF pass for attacker.test from aligning with bank.test;
# --no-suffix-guard gives RFC 9989 4.10.2 rule 3 alone (docs/conformance.md)
cat >"$T/psd.zone" <<'Z'
attacker.test. 300 IN TXT "v=spf1 ip4:203.0.113.0/24 -all"
_dmarc.bank.test. 300 IN TXT "v=DMARC1; p=reject"
_dmarc.test. 300 IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@nic.test"
Z
printf 'From: ceo@bank.test\r\nTo: v@rcpt.test\r\nSubject: s\r\nDate: Sun, 6 Dec 2026 10:00:00 +0000\r\nMessage-ID: <p@x>\r\n\r\nb\r\n' >"$T/psd.eml"
psd() { "$CLI" verify --zone "$T/psd.zone" --authserv-id mx.test --ip 203.0.113.5 \
    --helo mx.attacker.test --mail-from x@attacker.test --json "$@" "$T/psd.eml"; }
out=$(psd)
[ "$(echo "$out" | jget 'd["verdict"], d["dmarc"]["result"], d["dmarc"]["org_domain"]')" = "('forged', 'fail', 'bank.test')" ] &&
    ok "suffix record without psd=y: forged (suffix guard)" || bad "suffix guard: $out"
out=$(psd --no-suffix-guard)
[ "$(echo "$out" | jget 'd["verdict"], d["dmarc"]["result"], d["dmarc"]["org_domain"]')" = "('authentic', 'pass', 'test')" ] &&
    ok "--no-suffix-guard: RFC 9989 rule 3 alone" || bad "--no-suffix-guard: $out"

# --- input a script gets wrong (adv26 CLI-3, CLI-6, CLI-8, CLI-9) -------------
expect_rc() { # name want-rc want-stderr-text cmd...
    local name=$1 want=$2 text=$3
    shift 3
    "$@" >"$T/rc.out" 2>"$T/rc.err"
    local rc=$?
    [ $rc = "$want" ] && grep -q -- "$text" "$T/rc.err" && ok "$name: exit $want" ||
        bad "$name: exit $rc, $(head -c 300 "$T/rc.err")"
}
expect_rc "no bytes is no message" 3 'empty: no message' "$CLI" verify --zone "$zone" - </dev/null
expect_rc "dkim-verify of no bytes" 3 'empty: no message' "$CLI" dkim-verify --zone "$zone" </dev/null
: >"$T/empty.eml"
expect_rc "explain of an empty file" 3 'empty: no message' "$CLI" explain "$T/empty.eml"
expect_rc "'-' twice" 2 "can be read once" "$CLI" verify --zone "$zone" - - <"$msgs/genuine.eml"
expect_rc "--authserv-id with a control character" 2 "is not a host name" \
    "$CLI" verify --authserv-id $'mx\x01' --zone "$zone" "$msgs/genuine.eml"
expect_rc "explain --ip 999.1.1.1" 2 "is not an IPv4 or IPv6 address" \
    "$CLI" explain --ip 999.1.1.1 "$msgs/genuine.eml"
{ printf 'From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n'; cat "$msgs/genuine.eml"; } >"$T/one.mbox"
expect_rc "an mbox: refused, and said what it may be" 3 "starts as an mbox does; a file is one message" \
    "$CLI" verify --zone "$zone" "$T/one.mbox"
# a Maildir whose reader has not run yet: new/ and no cur/
mkdir -p "$T/fresh/new" "$T/fresh/tmp"
cp "$msgs/genuine.eml" "$T/fresh/new/1.eml"
cp "$msgs/forged.eml" "$T/fresh/new/2.eml"
n=$("$CLI" verify --json --zone "$zone" "$T/fresh" | grep -c '"verdict"')
[ "$n" = 2 ] && ok "a Maildir with new/ and no cur/: both messages" || bad "Maildir new/ only: $n"
# a folder of Maildirs, a link to nothing, a FIFO: said, and a message among them read
mkdir -p "$T/mix/alice/cur"
cp "$msgs/genuine.eml" "$T/mix/a.eml"
ln -s "$T/nothing" "$T/mix/b.eml"
mkfifo "$T/mix/c.eml"
"$CLI" verify --json --zone "$zone" "$T/mix" >"$T/mix.out" 2>"$T/mix.err"
rc=$?
[ $rc = 3 ] && [ "$(grep -c '"verdict"' "$T/mix.out")" = 1 ] &&
    grep -q 'b.eml: No such file' "$T/mix.err" && grep -q 'c.eml: not a regular file' "$T/mix.err" &&
    grep -q 'alice: a folder inside a folder, not read' "$T/mix.err" &&
    ok "a folder's unreadable entries said, exit 3; its message read" ||
    bad "folder entries: exit $rc, $(cat "$T/mix.err")"
# SIGTERM mid-run: whole records, said, the signal's status. The run is
# held where it must stop: a folder, then stdin, a FIFO no one writes to
# (poll, not a read that SA_RESTART would resume: rev20 R-2)
mkdir "$T/many"
for ((i = 0; i < 60; i++)); do cp "$msgs/genuine.eml" "$T/many/m$i.eml"; done
mkfifo "$T/held"
exec 4<>"$T/held"
"$CLI" verify --json --zone "$zone" "$T/many" - <&4 >"$T/sig.out" 2>"$T/sig.err" &
vpid=$!
exec 4>&-
# waiting in poll (x86-64 7, ppoll 271), or asleep twice in a row
for ((i = 0, s = 0; i < 500 && s < 2; i++)); do
    case "$(cut -d' ' -f1 /proc/$vpid/syscall 2>/dev/null)" in 7 | 271) break ;; esac
    [ "$(awk '{print $3}' /proc/$vpid/stat 2>/dev/null)" = S ] && s=$((s + 1)) || s=0
    sleep 0.02
done
kill -TERM $vpid
# a run that does not stop fails here, not at ctest's timeout
for ((i = 0; i < 500; i++)); do kill -0 $vpid 2>/dev/null || break; sleep 0.02; done
kill -KILL $vpid 2>/dev/null
wait $vpid
rc=$?
lines=$(wc -l <"$T/sig.out")
if [ $rc = 143 ] && [ "$lines" = 60 ] &&
    /usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$T/sig.out" &&
    grep -q "stopped by signal 15 after 60 messages" "$T/sig.err"; then
    ok "SIGTERM while it waits on stdin: 60 whole records, said, status 143"
else
    bad "SIGTERM: status $rc, $lines lines, $(cat "$T/sig.err")"
fi
# a SIGHUP that was ignored (nohup) stays ignored (rev20 R-4): held on stdin
# again, the HUP comes, then a message and the end of stdin
mkfifo "$T/held2"
exec 5<>"$T/held2"
trap '' HUP
"$CLI" verify --json --zone "$zone" "$T/many" - <"$T/held2" >"$T/hup.out" 2>"$T/hup.err" 5>&- &
hpid=$!
trap - HUP
for ((i = 0, s = 0; i < 500 && s < 2; i++)); do
    case "$(cut -d' ' -f1 /proc/$hpid/syscall 2>/dev/null)" in 7 | 271) break ;; esac
    [ "$(awk '{print $3}' /proc/$hpid/stat 2>/dev/null)" = S ] && s=$((s + 1)) || s=0
    sleep 0.02
done
kill -HUP $hpid 2>/dev/null
sleep 0.1
cat "$msgs/genuine.eml" >&5
exec 5>&-
for ((i = 0; i < 500; i++)); do kill -0 $hpid 2>/dev/null || break; sleep 0.02; done
kill -KILL $hpid 2>/dev/null
wait $hpid
rc=$?
[ $rc = 0 ] && [ "$(wc -l <"$T/hup.out")" = 61 ] && ok "SIGHUP ignored by the caller: the run goes on" ||
    bad "ignored SIGHUP: status $rc, $(wc -l <"$T/hup.out") lines, $(cat "$T/hup.err")"

echo "$pass passed, $fail failed"
[ $fail = 0 ]
