#!/usr/bin/env bash
# The main job of spoofguardd, live: a real Postfix and a real DNS server on
# loopback (tests/e2e/with-env.sh), spoofguardd as Postfix's milter, and a
# handful of messages: genuine partner mail, forged From lines, a logged-in
# user posing as a colleague, and outbound mail to sign.  For each it shows
# what happened: delivered with which Authentication-Results or
# DKIM-Signature, or refused with which SMTP reply.  Then everything stops.
#
#   bash scripts/demo-mail.sh      # as root, after scripts/build.sh
#
# Needs build/spoofguard and build/spoofguardd (or SG_CLI=path/to/spoofguard,
# the daemon next to it) and the packages of scripts/install-deps.sh.
# Exit status 0 when every message got the expected outcome.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SELF=$ROOT/scripts/$(basename "$0")

# ---------------------------------------------------------------- inner --
if [ "${1:-}" = inner ]; then
    . "$E2E_HOME/lib.sh"
    . "$E2E_HOME/daemon/daemon.sh"
    ok=0 bad=0
    # field NAME FILE: the delivered header fields NAME as stored (folded)
    field() { awk -v n="$1" '/^\r?$/{exit} /^[^ \t]/{on = (tolower(substr($0,1,length(n)+1)) == tolower(n) ":")} on' "$2" | tr -d '\r'; }
    show() { expand -t 2 | sed 's/^/      /'; }
    # outcome EXPECT REPLY TOKEN: print what happened; EXPECT delivered|refused
    outcome() {
        local want=$1 r=$2 tok=$3 f
        if [ "${r:0:1}" = 2 ] && f=$(wait_mail "$tok" 10); then
            echo "   -> delivered to bob@$E2E_RCPT_DOMAIN"
            DELIVERED=$f
            [ "$want" = delivered ] && ok=$((ok + 1)) || bad=$((bad + 1))
        else
            echo "   -> refused: ${r:-no reply}"
            DELIVERED=''
            [ "$want" = refused ] && ok=$((ok + 1)) || bad=$((bad + 1))
        fi
    }
    alice=alice@$E2E_OURDOMAIN bob=bob@$E2E_OURDOMAIN

    sgd_write_config
    if ! sgd_start; then
        echo "spoofguardd did not start:"
        tail -n5 "$SGD_ERR"
        exit 1
    fi
    cat <<EOF
spoofguardd is the milter of a private Postfix ($E2E_MX); the DNS serves:
  $E2E_OURDOMAIN   our domain: signs with RSA and Ed25519; DMARC p=none published,
                but listed in protected_domains
  $E2E_REMOTE  a partner: SPF only for its server $E2E_EXTERNAL, DMARC p=reject
EOF

    echo
    echo "1. Partner mail, DKIM-signed by $E2E_REMOTE, from its own server $E2E_EXTERNAL"
    tok=demo1-$$
    printf 'From: Sam <sam@%s>\r\nTo: bob@%s\r\nSubject: quarterly figures %s\r\nMessage-ID: <%s@%s>\r\nDate: %s\r\n\r\nHello Bob.\r\n' \
        "$E2E_REMOTE" "$E2E_RCPT_DOMAIN" "$tok" "$tok" "$E2E_REMOTE" "$(date -R)" | sign_remote >"$E2E_DIR/demo1.eml"
    r=$(send_mail -c "$E2E_EXTERNAL" -f "sam@$E2E_REMOTE" -d "$E2E_DIR/demo1.eml")
    outcome delivered "$r" "$tok"
    [ -z "$DELIVERED" ] || field Authentication-Results "$DELIVERED" | show

    echo
    echo "2. \"From: ceo@$E2E_REMOTE\" sent by an attacker's server $E2E_ATTACKER"
    r=$(send_mail -c "$E2E_ATTACKER" -f "ceo@attacker.test" -h "From: CEO <ceo@$E2E_REMOTE>" -b "demo2-$$")
    outcome refused "$r" "demo2-$$"

    echo
    echo "3. \"From: ceo@$E2E_OURDOMAIN\" (our own domain) sent from $E2E_ATTACKER"
    r=$(send_mail -c "$E2E_ATTACKER" -f "ceo@attacker.test" -h "From: CEO <ceo@$E2E_OURDOMAIN>" -b "demo3-$$")
    outcome refused "$r" "demo3-$$"

    echo
    echo "4. $alice logs in (SMTP AUTH) and sends as her colleague $bob"
    r=$(send_mail -c "$E2E_INTERNAL" -a "$alice" -f "$alice" -h "From: Bob <$bob>" -b "demo4-$$")
    outcome refused "$r" "demo4-$$"

    echo
    echo "5. $alice logs in and sends as herself"
    r=$(send_mail -c "$E2E_INTERNAL" -a "$alice" -f "$alice" -h "From: Alice <$alice>" -b "demo5-$$")
    outcome delivered "$r" "demo5-$$"
    if [ -n "$DELIVERED" ]; then
        echo "      signed by spoofguardd; each signature checked by spoofguard dkim-verify over DNS:"
        "$SG_CLI" dkim-verify --dns "$E2E_DNS" "$DELIVERED" |
            sed -E 's/^([a-z]+) (d=[^ ]+ s=[^ ]+ a=[^ ]+) ?/DKIM-Signature \2: \1 /' | show
    fi

    echo
    echo "spoofguardd's log has one JSON line per message; its action and why:"
    /usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    if "event" not in o:
        print("   %-8s %-9s %s" % (o["action"], o.get("direction", ""), o["why"]))' "$SGD_LOG"
    sgd_stop
    echo
    if [ "$bad" = 0 ]; then echo "All $ok messages were handled as expected."; else
        echo "$bad of $((ok + bad)) messages were NOT handled as expected."
    fi
    [ "$bad" = 0 ]
    exit
fi

# ---------------------------------------------------------------- outer --
[ "$(id -u)" = 0 ] || {
    echo "demo-mail.sh: run as root (it starts a private Postfix and DNS server)" >&2
    exit 1
}
export SG_SRC=$ROOT
export SG_CLI=${SG_CLI:-$ROOT/build/spoofguard}
for f in "$SG_CLI" "$(dirname "$SG_CLI")/spoofguardd"; do
    [ -x "$f" ] || {
        echo "demo-mail.sh: $f is missing: run scripts/build.sh first" >&2
        exit 1
    }
done
for t in postfix unbound swaks dig; do
    command -v "$t" >/dev/null || {
        echo "demo-mail.sh: $t is missing: run scripts/install-deps.sh first" >&2
        exit 1
    }
done
exec bash "$ROOT/tests/e2e/with-env.sh" -- bash "$SELF" inner
