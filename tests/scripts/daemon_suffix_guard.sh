#!/usr/bin/env bash
# The DMARC suffix guard through the milter (docs/conformance.md): a DMARC
# record at a public suffix without psd=y ("_dmarc.test", p=none) would make
# the suffix every registrant's Organizational Domain (RFC 9989 4.10.2 rule
# 3), so a forger's SPF pass for attacker.test would align with
# From: ceo@bank.test (p=reject). spoofguardd with its defaults must refuse
# that forgery (550 5.7.1, dmarc=fail); with `dmarc_suffix_guard no` it
# follows rule 3 alone and accepts it (dmarc=pass). A registrant's own mail
# (From: attacker.test) passes either way; a subdomain of bank.test
# without a record of its own is refused like bank.test itself. Third, both
# with a list of our own (public_suffix_list / --psl) in which shop.test is
# a suffix: two of its registrants no longer align. Each message also goes
# through `spoofguard verify` with the same switch: the CLI and the daemon
# must write the same Authentication-Results. A list that does not load is
# refused by both.
# Exit 77 when unbound or dig is missing.
set -uo pipefail
SG_SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SG_CLI=${SG_CLI:-$SG_SRC/build/spoofguard}
SGD=${SG_DAEMON:-$(dirname "$SG_CLI")/spoofguardd}
PY=/usr/bin/python3

for tool in unbound unbound-checkconf dig; do
    command -v "$tool" >/dev/null || { echo "SKIPPED: $tool is not installed"; exit 77; }
done
[ -x "$SGD" ] || { echo "FAIL: no daemon at $SGD"; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/sg-guard.XXXXXX")
chmod 755 "$T"
DPID=''
pid_alive() {
    local st
    [ -n "${1:-}" ] && [ -d "/proc/$1" ] || return 1
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$st" != Z ]
}
stop_daemon() {
    if pid_alive "$DPID"; then kill -TERM "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null; fi
    DPID=''
}
cleanup() {
    stop_daemon
    bash "$SG_SRC/tests/env/dns-server.sh" stop "$T/dns" >/dev/null 2>&1
    if [ -n "${SG_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
pass=0 fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
fatal() { echo "FAIL $*"; echo "$pass passed, $((fail + 1)) failed"; exit 1; }

cat >"$T/test.zone" <<'Z'
$ORIGIN test.
$TTL 60
@             IN SOA ns hostmaster 1 3600 600 86400 60
@             IN NS  ns
ns            IN A   127.0.0.1
_dmarc        IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@nic.test"
attacker      IN TXT "v=spf1 ip4:203.0.113.0/24 -all"
mx.attacker   IN TXT "v=spf1 ip4:203.0.113.0/24 -all"
_dmarc.bank   IN TXT "v=DMARC1; p=reject"
bank          IN TXT "v=spf1 ip4:192.0.2.10 -all"
_dmarc.shop   IN TXT "v=DMARC1; p=none"
a.shop        IN TXT "v=spf1 ip4:203.0.113.0/24 -all"
Z
# a list of our own (public_suffix_list / --psl): shop.test is a suffix
# there (a hosting provider's, say), in no built-in list
printf '// private suffixes of the test\nshop.test\n' >"$T/psl.dat"
mkdir -p "$T/msgs"
msg() { # NAME FROM
    printf 'From: %s\r\nTo: v@rcpt.test\r\nSubject: s\r\nDate: Sun, 6 Dec 2026 10:00:00 +0000\r\nMessage-ID: <%s@guard.test>\r\n\r\nbody\r\n' \
        "$2" "$1" >"$T/msgs/$1.eml"
}
# name, MAIL FROM; the answers (dmarc result:final reply) with the guard on,
# off, and on with our list, where b.shop.test and a.shop.test are two
# registrants under the suffix shop.test and so never align
msg forged_bank 'ceo@bank.test'
msg own_mail 'news@attacker.test'
msg forged_sub 'ceo@pay.bank.test'
msg shop_customer 'ceo@b.shop.test'
CASES='forged_bank x@attacker.test fail:550 pass:accept fail:550
own_mail x@attacker.test pass:accept pass:accept pass:accept
forged_sub x@attacker.test fail:550 pass:accept fail:550
shop_customer x@a.shop.test pass:accept pass:accept fail:accept'

read -r DNS_PORT MILTER_PORT < <($PY "$SG_SRC/tests/interop/milter_client.py" freeport 2)
SG_DNS_ZONE_NAME=test SG_DNS_ZONE_FILE="$T/test.zone" \
    bash "$SG_SRC/tests/env/dns-server.sh" start "$T/dns" "$DNS_PORT" >/dev/null ||
    fatal "the test DNS did not start"

start_daemon() { # EXTRA-CONFIG-LINE
    cat >"$T/sgd.conf" <<CONF
listen              inet:127.0.0.1:$MILTER_PORT
authserv_id         mx.guard.test
workers             1
dns_servers         127.0.0.1:$DNS_PORT
internal_networks   127.0.0.1/32
log_file            $T/sgd.log
$1
CONF
    [ "$(id -u)" != 0 ] || echo "user                nobody" >>"$T/sgd.conf"
    "$SGD" -t -c "$T/sgd.conf" >"$T/t.out" 2>&1 || fatal "spoofguardd -t: $(tail -n3 "$T/t.out")"
    "$SGD" -c "$T/sgd.conf" 2>>"$T/sgd.err" &
    DPID=$!
    for ((i = 0; i < 200; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$MILTER_PORT") 2>/dev/null && return 0
        pid_alive "$DPID" || fatal "spoofguardd exited: $(tail -n5 "$T/sgd.err")"
        sleep 0.025
    done
    fatal "spoofguardd does not listen"
}

# one message through the milter as Postfix sends it: prints the final
# reply's code (550, or accept) and our A-R, unfolded, on one line
milter() { # NAME MAILFROM
    $PY - "$SG_SRC/tests/interop" "$MILTER_PORT" "$T/msgs/$1.eml" "$2" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import milter_client as mc
m = mc.MTA(int(sys.argv[2]))
m.negotiate()
m.connect('203.0.113.5', hostname='mx.attacker.test')
m.helo('mx.attacker.test')
stage, replies = m.send_message(open(sys.argv[3], 'rb').read(), sender=sys.argv[4])
ar = [mc.unfold(r.value).strip() for r in replies if r.cmd == 'i' and
      r.name == 'Authentication-Results']
final = replies[-1] if replies else None
code = '550' if final is not None and final.cmd == 'y' and final.text.startswith('550') else (
    'accept' if stage == 'E' and final is not None and final.cmd in 'ac' else repr(final))
print(code + '\t' + (ar[0] if ar else ''))
m.abort()
m.quit()
m.close()
PY
}

for mode in on off list; do
    case $mode in
    on) start_daemon '' && sw=() && col=3 ;;
    off) start_daemon 'dmarc_suffix_guard  no' && sw=(--no-suffix-guard) && col=4 ;;
    list) start_daemon "public_suffix_list  $T/psl.dat" && sw=(--psl "$T/psl.dat") && col=5 ;;
    esac
    while read -r name mf _; do
        want=$(echo "$CASES" | awk -v n="$name" -v c=$col '$1 == n { print $c }')
        got=$(milter "$name" "$mf") || { bad "$mode $name: milter client failed"; continue; }
        code=${got%%$'\t'*} ar=${got#*$'\t'}
        dm=$(echo "$ar" | grep -o 'dmarc=[a-z]*' | head -1)
        [ "$dm:$code" = "dmarc=${want%%:*}:${want#*:}" ] &&
            ok "daemon, guard $mode, $name: $dm, $code" ||
            bad "daemon, guard $mode, $name: want $want, got $code / $ar"
        cli=$("$SG_CLI" verify --dns "127.0.0.1:$DNS_PORT" --authserv-id mx.guard.test \
            --ip 203.0.113.5 --helo mx.attacker.test --mail-from "$mf" --json "${sw[@]}" \
            "$T/msgs/$name.eml" | $PY -c 'import json,sys; print(json.load(sys.stdin)["authentication_results"])')
        [ -n "$ar" ] && [ "$cli" = "$ar" ] && ok "CLI = daemon, guard $mode, $name" ||
            bad "CLI != daemon, guard $mode, $name:
  cli    $cli
  daemon $ar"
    done <<<"$CASES"
    stop_daemon
done
# a list that does not load (missing, or without one rule) is refused by
# both, never replaced by another list in silence
: >"$T/empty.dat"
for f in "$T/missing.dat" "$T/empty.dat"; do
    printf 'listen inet:127.0.0.1:%s\npublic_suffix_list %s\n' "$MILTER_PORT" "$f" >"$T/bad.conf"
    [ "$(id -u)" != 0 ] || echo "user nobody" >>"$T/bad.conf"
    if "$SGD" -t -c "$T/bad.conf" >/dev/null 2>"$T/bad.err"; then
        bad "spoofguardd -t accepted public_suffix_list $(basename "$f")"
    else
        grep -q "public_suffix_list $f: cannot load the list" "$T/bad.err" &&
            ok "spoofguardd -t refuses public_suffix_list $(basename "$f")" ||
            bad "spoofguardd -t, $(basename "$f"): $(cat "$T/bad.err")"
    fi
    "$SG_CLI" verify --psl "$f" --json "$T/msgs/own_mail.eml" >/dev/null 2>"$T/bad.err"
    rc=$?
    [ $rc = 2 ] && grep -q "cannot load the public suffix list" "$T/bad.err" &&
        ok "verify --psl $(basename "$f"): usage error" ||
        bad "verify --psl $(basename "$f"): exit $rc, $(cat "$T/bad.err")"
done
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/sgd.err"; then
    bad "sanitizers: $(grep -hE -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/sgd.err" | head -20)"
fi
echo "$pass passed, $fail failed"
[ $fail = 0 ]
