#!/usr/bin/env bash
# spoofguard explain (issue 13 item 7): the JSON contract's keys (read with
# python3's json module), the headline against `spoofguard verify --json`
# for every fixture (parity), the same headline again from the A-R that
# verify writes (our --authserv-id on top, no verification), the text
# form, several messages, and the exit statuses.
set -u
CLI=${SG_CLI:?SG_CLI must point at the spoofguard binary}
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
D=$SRC/tests/data/explain
T=$(mktemp -d /tmp/sg-explain.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
ID=mx.mailbox.example
common=(--zone "$D/zone" --protect ourco.example --now 1764000100)
look=(--operator-domains "$D/operator-domains" --psl "$SRC/tests/conformance/dmarc/psl/public_suffix_list.dat")

# ---- parity with verify, both paths, and the JSON contract ----------------
for m in "$D"/msg/*.eml; do
    n=$(basename "$m")
    "$CLI" verify "${common[@]}" --authserv-id $ID --json "$m" >"$T/v.json" 2>/dev/null ||
        { bad "$n: verify failed"; continue; }
    "$CLI" explain "${common[@]}" "${look[@]}" --json "$m" >"$T/e.json" 2>"$T/err"; rc=$?
    [ $rc = 0 ] || { bad "$n: explain exit $rc $(cat "$T/err")"; continue; }
    # our MTA's field on top, as spoofguardd adds it: explained without verifying
    /usr/bin/python3 -c 'import json,sys; print("Authentication-Results: " + json.load(open(sys.argv[1]))["authentication_results"])' \
        "$T/v.json" >"$T/ar.eml"
    cat "$m" >>"$T/ar.eml"
    "$CLI" explain "${common[@]}" "${look[@]}" --authserv-id $ID --json --zone /dev/null \
        "$T/ar.eml" >"$T/a.json" 2>"$T/err" || { bad "$n: explain (A-R) failed"; continue; }
    if out=$(/usr/bin/python3 - "$T/v.json" "$T/e.json" "$T/a.json" "$D/expected.tsv" "$n" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
e = json.load(open(sys.argv[2]))
a = json.load(open(sys.argv[3]))
name = sys.argv[5]
expected = dict(l.split("\t")[:2] for l in open(sys.argv[4]).read().splitlines()
                if l and not l.startswith("#"))
problems = []
# the contract of issue 13 item 7: these keys, these types
def check(o, where):
    if o.get("headline") not in ("verified", "verified_third_party", "unverified", "forged"):
        problems.append(where + ": headline %r" % o.get("headline"))
    idt = o.get("identity")
    if not isinstance(idt, dict):
        problems.append(where + ": no identity"); return
    for k in ("display_name", "address", "domain", "registrable_domain", "mailed_by"):
        if k not in idt:
            problems.append(where + ": identity." + k + " missing")
    if not isinstance(idt.get("signed_by"), list):
        problems.append(where + ": identity.signed_by not a list")
    for w in o.get("warnings", None) or []:
        if set(w) < {"kind", "detail"}:
            problems.append(where + ": warning %r" % w)
    if not isinstance(o.get("warnings"), list) or not isinstance(o.get("links"), list):
        problems.append(where + ": warnings/links not lists")
    for l in o.get("links") or []:
        for k in ("text", "target", "host", "registrable_domain", "inert", "warnings"):
            if k not in l:
                problems.append(where + ": link." + k + " missing")
        if not isinstance(l.get("inert"), bool):
            problems.append(where + ": link.inert not a boolean")
check(e, "verified now")
check(a, "from A-R")
if e.get("verified_by") != "verified":
    problems.append("verified_by %r, want verified" % e.get("verified_by"))
if a.get("verified_by") != "authres":
    problems.append("A-R path: verified_by %r, want authres" % a.get("verified_by"))
# parity with verify: authentic is verified, forged is forged, unverified is
# unverified or third party (a passing signature of another domain)
want = {"authentic": ["verified"], "forged": ["forged"],
        "unverified": ["unverified", "verified_third_party"]}[v["verdict"]]
if e["headline"] not in want:
    problems.append("verify says %s, explain %s" % (v["verdict"], e["headline"]))
if e["headline"] == "verified_third_party" and not any(d["result"] == "pass" for d in v["dkim"]):
    problems.append("third party without a passing signature")
if a["headline"] != e["headline"]:
    problems.append("A-R path %s, verdict path %s" % (a["headline"], e["headline"]))
if expected.get(name) != e["headline"]:
    problems.append("expected.tsv says %s, got %s" % (expected.get(name), e["headline"]))
if e["headline"] != "verified" and any(not l["inert"] for l in e["links"]):
    problems.append("a link is not inert")
print("; ".join(problems) or "%s -> %s" % (v["verdict"], e["headline"]))
sys.exit(1 if problems else 0)
EOF
    ); then ok "$n: $out"; else bad "$n: $out"; fi
done

# every fixture has an expected headline and the other way round
for n in $(cut -f1 "$D/expected.tsv" | grep -v '^#'); do
    [ -f "$D/msg/$n" ] || bad "expected.tsv names missing $n"
done

# ---- warnings, as the CLI shows them ----------------------------------------
kinds() { "$CLI" explain "${common[@]}" "${look[@]}" --json "$D/msg/$1" |
    /usr/bin/python3 -c 'import json,sys; print(" ".join(sorted(set(w["kind"] for w in json.load(sys.stdin)["warnings"]))))'; }
while IFS=$'\t' read -r n h w; do
    case "$n" in '#'* | '') continue ;; esac
    got=$(kinds "$n")
    [ "$got" = "$w" ] && ok "$n warnings: [${w}]" || bad "$n warnings: [$got], want [$w]"
done <"$D/expected.tsv"

# a list the reader does not know is no third party: its List-Id is the
# message's to write (rev21 R-2); known through --operator-domains, it is
for n in thirdparty.eml thirdparty_two.eml; do
    got=$("$CLI" explain "${common[@]}" --json "$D/msg/$n" | /usr/bin/python3 -c \
        'import json,sys; d=json.load(sys.stdin); print(d["headline"], d["third_party"], all(l["inert"] for l in d["links"]))')
    [ "$got" = "unverified None True" ] && ok "$n: lists.example unknown: unverified, links inert" ||
        bad "$n without --operator-domains: $got"
done

# ---- text form -------------------------------------------------------------
"$CLI" explain "${common[@]}" "${look[@]}" "$D/msg/forged_thirdparty.eml" >"$T/t.txt"
head -1 "$T/t.txt" | grep -q '^Forged: This message is not from shop.example' &&
    grep -q '^Signed by:   lists.example (s=k1, ed25519-sha256, 256-bit key, not the sender' "$T/t.txt" &&
    ok "text: headline in words, signing domain" || bad "text: $(cat "$T/t.txt")"
"$CLI" explain "${common[@]}" "${look[@]}" "$D/msg/links.eml" >"$T/t.txt"
grep -q '^  4. javascript:alert(1)  \[inert\]$' "$T/t.txt" &&
    grep -q '^     host www.paypa1.com, registrable domain paypa1.com$' "$T/t.txt" &&
    grep -q '^     \[text_mismatch\] The link text names www.paypal.com' "$T/t.txt" &&
    ok "text: numbered links, host, registrable domain, inert" || bad "text links: $(cat "$T/t.txt")"
# nothing from the message reaches the terminal as a control character
printf 'From: "\033[31mRed\033]0;title\007" <a@b.example>\nSubject: \033[2J\n\nx\n' >"$T/esc.eml"
"$CLI" explain --zone "$D/zone" "$T/esc.eml" | LC_ALL=C grep -q $'\033' &&
    bad "text: an escape sequence reached the terminal" || ok "text: control characters replaced"

# ---- several messages: one object per line, each with its file -------------
"$CLI" explain "${common[@]}" --json "$D/msg/authentic.eml" "$D/msg/forged.eml" >"$T/m.json"
/usr/bin/python3 - "$T/m.json" <<'EOF' && ok "two messages: two JSON lines with file" || bad "two messages: $(cat "$T/m.json")"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
objs = [json.loads(l) for l in lines]
assert len(objs) == 2, lines
assert objs[0]["file"].endswith("authentic.eml") and objs[0]["headline"] == "verified"
assert objs[1]["file"].endswith("forged.eml") and objs[1]["headline"] == "forged"
assert list(objs[0])[:2] == ["file", "headline"]
EOF

# ---- exit statuses and options -----------------------------------------------
"$CLI" explain "${common[@]}" --json "$D/msg/forged.eml" >/dev/null; rc=$?
[ $rc = 0 ] && ok "forged mail: exit 0 (the verdict is in the output)" || bad "forged: exit $rc"
"$CLI" explain "${common[@]}" "$D/msg/authentic.eml" "$T/no-such.eml" >"$T/o" 2>"$T/err"; rc=$?
[ $rc = 3 ] && grep -q 'no-such.eml: cannot open' "$T/err" && grep -q '^Verified' "$T/o" &&
    ok "unreadable file: exit 3, the others still explained" || bad "unreadable: exit $rc"
"$CLI" explain "${common[@]}" "$T" >/dev/null 2>&1; rc=$?
[ $rc = 3 ] && ok "a folder: exit 3" || bad "folder: exit $rc"
"$CLI" explain "${common[@]}" >/dev/null 2>"$T/err"; rc=$?
[ $rc = 2 ] && grep -q 'no message' "$T/err" && ok "no message: exit 2" || bad "no message: exit $rc"
for c in "--no-such-option x" "--now soon x" "--protect not..a..domain x" "--authserv-id" \
    "--authserv-id= x"; do
    "$CLI" explain $c </dev/null >/dev/null 2>&1; rc=$?
    [ $rc = 2 ] && ok "explain $c: exit 2" || bad "explain $c: exit $rc"
done
# an --operator-domains file that cannot be read (adv26 CLI-2): exit 3, said,
# nothing explained; a folder was read as an empty list (exit 0, lookalikes
# checked against nothing), /dev/zero grew without bound, a missing file
# was a usage error (2)
mkfifo "$T/fifo"
{ printf 'paypal.example\n'; head -c 1048577 /dev/zero | tr '\0' a; } >"$T/long-ops"
for f in /nonexistent "$T" /dev/zero "$T/fifo" "$T/long-ops"; do
    timeout 10 "$CLI" explain "${common[@]}" --operator-domains "$f" "$D/msg/authentic.eml" \
        >"$T/o" 2>"$T/err"; rc=$?
    [ $rc = 3 ] && grep -qF -- "--operator-domains $f" "$T/err" && [ ! -s "$T/o" ] &&
        ok "--operator-domains $f: exit 3, said" || bad "--operator-domains $f: exit $rc $(cat "$T/err")"
done
grep -q "long-ops:2: a line longer than 1048576 bytes" "$T/err" && ok "--operator-domains: the long line named" ||
    bad "--operator-domains long line: $(cat "$T/err")"
# a FIFO as MSG is refused at once, not after a writer came (adv26 CLI-10.10)
timeout 10 "$CLI" explain "${common[@]}" "$T/fifo" >/dev/null 2>"$T/err"; rc=$?
[ $rc = 3 ] && grep -q 'fifo: cannot open: not a regular file' "$T/err" && ok "a FIFO: exit 3 at once" ||
    bad "a FIFO: exit $rc $(cat "$T/err")"
"$CLI" explain "${common[@]}" "$T/no-such.eml" >/dev/null 2>"$T/err"
grep -q 'no-such.eml: cannot open: No such file or directory' "$T/err" && ok "cannot open: the cause said" ||
    bad "cannot open: $(cat "$T/err")"
# the 64 MiB cap is named, in the refusal and in --help (adv26 CLI-10.11)
{ cat "$D/msg/authentic.eml"; head -c $((64 << 20)) /dev/zero | tr '\0' a; } >"$T/big.eml"
"$CLI" explain "${common[@]}" "$T/big.eml" >/dev/null 2>"$T/err"; rc=$?
rm -f "$T/big.eml"
[ $rc = 3 ] && grep -q 'big.eml: message larger than 64 MiB' "$T/err" &&
    "$CLI" explain --help | grep -q 'over 64 MiB is refused' && ok "over 64 MiB: exit 3, the cap named here and in --help" ||
    bad "over 64 MiB: exit $rc $(cat "$T/err")"
out=$("$CLI" explain --help); rc=$?
missing=
for o in zone dns protect authserv-id ip helo mail-from json operator-domains psl now; do
    echo "$out" | grep -qE "^      --$o( |$)" || missing="$missing --$o"
done
[ $rc = 0 ] && [ "$(echo "$out" | head -1)" = "usage: spoofguard explain [OPTIONS] MSG..." ] &&
    [ -z "$missing" ] && ok "explain --help: every option of the contract" ||
    bad "explain --help (exit $rc, missing:$missing): $out"
# the common format of every command's help (as cli_options.sh checks the others)
echo "$out" | grep -qx 'options:' && echo "$out" | grep -qE '^  -h, --help +print this help and exit$' &&
    echo "$out" | grep -qE '^      --version +print the version and exit$' &&
    [ "$(echo "$out" | sed -n '/^options:/,/^$/p' | grep -cvE '^(options:|  (-h, |    )--[a-z-]+( [^ ]+)?( +[^ ].*)?|  +[^ -].*|)$')" = 0 ] &&
    [ "$("$CLI" explain -h)" = "$out" ] && ok "explain --help: the common format" ||
    bad "explain --help format: $out"
"$CLI" --help | grep -qE '^  explain +what a reader should be told' && ok "listed in spoofguard --help" ||
    bad "not in spoofguard --help"
for o in operator-domains psl authserv-id mail-from; do
    grep -q "\\\\-\\\\-${o//-/\\\\-}" "$SRC/docs/spoofguard.1" || bad "man page: no --$o"
done
grep -q '^\.B spoofguard explain' "$SRC/docs/spoofguard.1" && ok "man page: explain" ||
    bad "man page: no explain"
# stdin
"$CLI" explain "${common[@]}" --json - <"$D/msg/forged.eml" | grep -q '"headline":"forged"' &&
    ok "stdin" || bad "stdin"
# with --ip: SPF is checked (the sender's own address: an SPF-aligned pass)
"$CLI" explain "${common[@]}" --ip 192.0.2.10 --mail-from ceo@shop.example --json \
    "$D/msg/forged.eml" | /usr/bin/python3 -c 'import json,sys; o=json.load(sys.stdin); sys.exit(not(o["headline"]=="verified" and o["identity"]["mailed_by"]=="shop.example"))' &&
    ok "--ip: SPF checked, mailed_by" || bad "--ip"

# a header the parser refuses (verify: exit 3; spoofguardd: 550 5.6.0) is
# never the milder "unverified" with no sender: forged, and why (adv26 CLI-5)
printf 'From: CEO <ceo@shop.example>\r\nSubject: hi\rFrom: x@y.example\r\n\r\nwire it\r\n' \
    >"$T/bad-cr.eml"
printf 'From: CEO <ceo@shop.example>\r\nSubject: h\0i\r\n\r\nwire it\r\n' >"$T/bad-nul.eml"
{
    printf 'From: CEO <ceo@shop.example>\r\n'
    for ((i = 0; i < 12000; i++)); do printf 'X-Pad: %0100d\r\n' 0; done
    printf '\r\nwire it\r\n'
} >"$T/bad-big.eml"
for m in cr:malformed nul:malformed big:size; do
    out=$("$CLI" explain "${common[@]}" --json "$T/bad-${m%%:*}.eml")
    rc=$?
    h=$(printf '%s' "$out" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["headline"], d["headline_detail"])')
    [ $rc = 0 ] && case "$h" in "forged "*"${m##*:}"*) true ;; *) false ;; esac &&
        ok "a header the parser refuses (${m%%:*}): forged, said why" ||
        bad "refused header ${m%%:*}: exit $rc, $h"
done

echo "$pass passed, $fail failed"
[ $fail = 0 ]
