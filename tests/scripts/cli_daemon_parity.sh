#!/usr/bin/env bash
# The CLI and the daemon give the same verdict on the same message (issue 11
# item 3): one set of messages (tests/interop/verdict_parity.py: the l= cases
# and their neighbours, a genuine message, a forged p=reject one, a p=none
# failure, unsigned mail) goes through `spoofguard verify --json` and through
# a running spoofguardd (played by tests/interop/milter_client.py as Postfix
# would), both asking the same private unbound on a free loopback port. Each
# side must give the case's known answer, and the two must agree on the
# verdict, the DKIM and DMARC results and the whole Authentication-Results.
# Then 300 unsigned messages with hostile From fields (the generator of
# from_reader_diff.py): forged or refused by the CLI is a 550 from the
# daemon, anything else passes with the same verdict and A-R.
# Exit 77 when a tool is missing (unbound, dig, dkimpy).
set -uo pipefail
SG_SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SG_CLI=${SG_CLI:-$SG_SRC/build/spoofguard}
SGD=${SG_DAEMON:-$(dirname "$SG_CLI")/spoofguardd}
PY=/usr/bin/python3
export SG_CLI

for tool in unbound unbound-checkconf dig; do
    command -v "$tool" >/dev/null || { echo "SKIPPED: $tool is not installed"; exit 77; }
done
$PY -c 'import dkim' 2>/dev/null || { echo "SKIPPED: python3-dkim is not installed"; exit 77; }
[ -x "$SGD" ] || { echo "FAIL: no daemon at $SGD"; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/sg-parity.XXXXXX")
chmod 700 "$T"
DPID=''
pid_alive() {
    local st
    [ -n "${1:-}" ] && [ -d "/proc/$1" ] || return 1
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$st" != Z ]
}
cleanup() {
    if pid_alive "$DPID"; then kill -TERM "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null; fi
    bash "$SG_SRC/tests/env/dns-server.sh" stop "$T/dns" >/dev/null 2>&1
    if [ -n "${SG_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fatal() { echo "FAIL $*"; echo "0 passed, 1 failed"; exit 1; }

mkdir -p "$T/keys"
chmod 700 "$T/keys"
for k in bank.test:bank1 news.test:news1 ourco.test:ourco1; do
    "$SG_CLI" keygen --domain "${k%%:*}" --selector "${k##*:}" --bits 1024 --out "$T/keys" \
        >>"$T/keys.zone" 2>"$T/keygen.err" || fatal "keygen $k: $(cat "$T/keygen.err")"
done
$PY "$SG_SRC/tests/interop/verdict_parity.py" make "$T" || fatal "making the messages"
cat "$T/zone.head" "$T/keys.zone" >"$T/test.zone"

read -r DNS_PORT MILTER_PORT < <($PY "$SG_SRC/tests/interop/milter_client.py" freeport 2)
SG_DNS_ZONE_NAME=test SG_DNS_ZONE_FILE="$T/test.zone" \
    bash "$SG_SRC/tests/env/dns-server.sh" start "$T/dns" "$DNS_PORT" >/dev/null ||
    fatal "the test DNS did not start"

# the daemon's settings that matter to the verdict are the CLI's options
# below: authserv-id and protected domain; everything else is its default
cat >"$T/sgd.conf" <<CONF
listen              inet:127.0.0.1:$MILTER_PORT
authserv_id         mx.parity.test
workers             1
dns_servers         127.0.0.1:$DNS_PORT
internal_networks   127.0.0.1/32
protected_domains   ourco.test
log_file            $T/sgd.log
CONF
# started as root, spoofguardd drops root: name a user every system has
[ "$(id -u)" != 0 ] || echo "user                nobody" >>"$T/sgd.conf"
"$SGD" -t -c "$T/sgd.conf" >"$T/t.out" 2>&1 || fatal "spoofguardd -t: $(tail -n3 "$T/t.out")"
"$SGD" -c "$T/sgd.conf" 2>"$T/sgd.err" &
DPID=$!
for ((i = 0; i < 200; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$MILTER_PORT") 2>/dev/null && break
    pid_alive "$DPID" || fatal "spoofguardd exited: $(tail -n5 "$T/sgd.err")"
    sleep 0.025
done

$PY "$SG_SRC/tests/interop/verdict_parity.py" parity "$T" "127.0.0.1:$DNS_PORT" "$MILTER_PORT" \
    "$T/sgd.log"
rc=$?
# and 300 hostile From shapes (the class 5 generator): the same answers
$PY "$SG_SRC/tests/interop/verdict_parity.py" hostile "$T" "127.0.0.1:$DNS_PORT" "$MILTER_PORT" \
    "$T/sgd.log" 300 || rc=1
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/sgd.err"; then
    echo "FAIL sanitizers: $(grep -hE -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/sgd.err" | head -20)"
    rc=1
fi
exit $rc
