#!/usr/bin/env bash
# Self-test of the end-to-end environment (tests/e2e), no milter involved:
#  - stale pidfiles naming an unrelated live process are ignored;
#  - inside with-env.sh: the test DNS answers on its port and through the
#    system resolver; Postfix delivers plain mail from the external client
#    and authenticated submission mail into the Maildirs; wrong or missing
#    AUTH is refused; the published DKIM keys match the private keys in
#    $E2E_KEYS (dkimpy signs and verifies); an unreachable milter tempfails;
#  - nothing is left running afterwards and the host's resolv.conf is intact;
#  - a run killed with SIGKILL is cleaned up by the next run.
# Needs root and the packages of scripts/install-deps.sh.
set -uo pipefail
SG_SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
E2E=$SG_SRC/tests/e2e
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
. "$E2E/scenario.sh"

# ---------------------------------------------------------------- inner --
# run by with-env.sh: bash e2e_harness.sh inner RESULT_DIR
if [ "${1:-}" = inner ]; then
    RES=$2
    . "$E2E_HOME/lib.sh"
    tr -dc 0-9 <"$E2E_DIR/dns/unbound.pid" >"$RES/unbound.pid"
    tr -dc 0-9 <"$E2E_DIR/postfix/spool/pid/master.pid" >"$RES/master.pid"
    [ "${3:-}" = quick ] && { # after a killed run: is the new one usable?
        r=$(send_mail -b "quick-$$")
        check recover_after_kill "reply '$r'" wait_mail "quick-$$" 10
        exit 0
    }

    a=$(dig +short +time=2 +tries=1 @127.0.0.1 -p "$E2E_DNS_PORT" TXT "_dmarc.$E2E_REMOTE")
    check dns_port "got '$a'" [ "$a" = '"v=DMARC1; p=reject"' ]
    a=$(getent hosts "mx.$E2E_REMOTE" | awk '{print $1}')
    b=$(dig +short +time=2 +tries=1 TXT "_dmarc.$E2E_OURDOMAIN")
    check dns_system_resolver "getent '$a', dig '$b'" \
        [ "$a" = "$E2E_EXTERNAL" -a "$b" = '"v=DMARC1; p=none"' ]
    a=$(dig +time=2 +tries=1 @127.0.0.1 -p "$E2E_DNS_PORT" A example.com | grep -o 'status: [A-Z]*')
    check dns_no_recursion "got '$a'" [ "$a" = 'status: NXDOMAIN' ]

    tok=plain-$$-$RANDOM
    r=$(send_mail -c "$E2E_EXTERNAL" -f "someone@$E2E_REMOTE" -t "bob@$E2E_RCPT_DOMAIN" -b "$tok")
    f=$(wait_mail "$tok" 10)
    check plain_delivered "reply '$r', file '$f'" [ "${f#"$E2E_MAIL"/bob/new/}" != "$f" ]
    check plain_ptr "no Received from mx.$E2E_REMOTE [$E2E_EXTERNAL]" \
        grep -q "^Received: from mx.$E2E_REMOTE (mx.$E2E_REMOTE \[$E2E_EXTERNAL\])" <(header_block "$f")

    tok=auth-$$-$RANDOM
    r=$(send_mail -c "$E2E_INTERNAL" -a "alice@$E2E_OURDOMAIN" -f "alice@$E2E_OURDOMAIN" -b "$tok")
    f=$(wait_mail "$tok" 10)
    check submission_delivered "reply '$r', file '$f'" grep -q 'with ESMTPA' <(header_block "$f")
    r=$(send_mail -a "bob@$E2E_OURDOMAIN" -f "bob@$E2E_OURDOMAIN" -- --auth-password wrong)
    check submission_bad_password "reply '$r'" [ "${r:0:3}" = 535 ]
    r=$(send_mail -p "$E2E_SUBMISSION_PORT" -f "bob@$E2E_OURDOMAIN")
    check submission_needs_auth "reply '$r'" [ "${r:0:1}" = 5 ]

    # genuine external mail, signed with the remote.test key, verifies
    # after delivery: private key and published record belong together
    tok=dkim-$$-$RANDOM
    printf 'From: someone@%s\r\nTo: bob@%s\r\nSubject: %s\r\nMessage-ID: <%s@%s>\r\n\r\nbody %s\r\n' \
        "$E2E_REMOTE" "$E2E_RCPT_DOMAIN" "$tok" "$tok" "$E2E_REMOTE" "$tok" | sign_remote >"$RES/signed.eml"
    r=$(send_mail -d "$RES/signed.eml")
    f=$(wait_mail "$tok" 10)
    check dkim_remote_verifies "reply '$r', file '$f'" \
        /usr/bin/python3 /usr/bin/dkimverify <"${f:-/dev/null}"
    # our own keys, signed and verified outside Postfix
    printf 'From: alice@%s\r\nSubject: k\r\n\r\nhi\r\n' "$E2E_OURDOMAIN" >"$RES/our.eml"
    /usr/bin/python3 /usr/bin/dkimsign rsa2026 "$E2E_OURDOMAIN" "$E2E_KEYS/$E2E_OURDOMAIN.rsa2026.private" \
        <"$RES/our.eml" >"$RES/our-rsa.eml" 2>/dev/null
    check dkim_ourco_rsa_verifies "dkimverify failed" \
        /usr/bin/python3 /usr/bin/dkimverify <"$RES/our-rsa.eml"
    if [ -f "$E2E_KEYS/$E2E_OURDOMAIN.ed2026.private" ]; then
        # dkimpy takes an Ed25519 key as the base64 raw 32-byte seed: the
        # last 32 bytes of the PKCS#8 DER (RFC 8410)
        openssl pkey -in "$E2E_KEYS/$E2E_OURDOMAIN.ed2026.private" -outform DER | tail -c 32 |
            base64 >"$RES/ed.raw"
        /usr/bin/python3 /usr/bin/dkimsign --signalg ed25519-sha256 ed2026 "$E2E_OURDOMAIN" \
            "$RES/ed.raw" <"$RES/our.eml" >"$RES/our-ed.eml" 2>/dev/null
        check dkim_ourco_ed25519_verifies "dkimverify failed" \
            /usr/bin/python3 /usr/bin/dkimverify <"$RES/our-ed.eml"
    fi

    # milter wiring: nothing listens -> milter_default_action=tempfail
    bash "$E2E_HOME/postfix.sh" set smtpd_milters=inet:127.0.0.1:9
    tok=nomilter-$$-$RANDOM
    r=$(send_mail -b "$tok")
    check milter_down_tempfails "reply '$r'" [ "${r:0:3}" = 451 ]
    bash "$E2E_HOME/postfix.sh" set smtpd_milters=
    r=$(send_mail -b "$tok-2")
    check milter_cleared "reply '$r'" wait_mail "$tok-2" 10
    check tempfailed_not_delivered "a tempfailed message was delivered" \
        not grep -rqxF -- "$tok" "$E2E_MAIL"
    exit 0
fi

# ---------------------------------------------------------------- outer --
[ "$(id -u)" = 0 ] || { echo "FAIL: needs root"; echo "0 passed, 1 failed"; exit 1; }
export E2E_DIR=/run/spoofguard-e2e-selftest MILTER=''
RES=$(mktemp -d /tmp/sg-e2e-harness.XXXXXX)
decoy=''
cleanup() {
    [ -z "$decoy" ] || kill "$decoy" 2>/dev/null
    rm -rf "$RES"
}
trap cleanup EXIT
: >"$RES/results"
ok() { echo "PASS $1" | tee -a "$RES/results"; }
ko() { echo "FAIL $1: $2" | tee -a "$RES/results"; }
. "$E2E/lib.sh"
group_alive() { ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'; }
left_running() { # pidfile...: print what is still running
    local f p
    for f in "$@"; do
        p=$(cat "$f" 2>/dev/null)
        if pid_alive "$p" || { [ "$(basename "$f")" = master.pid ] && [ -n "$p" ] && group_alive "$p"; }; then
            echo "$(basename "$f" .pid)=$p"
        fi
    done
}
t0=$(date +%s)
resolv_before=$(cat /etc/resolv.conf)

# 1. stale pidfiles that name a live, unrelated process
sleep 300 &
decoy=$!
rm -rf "$E2E_DIR"
mkdir -p "$E2E_DIR/run" "$E2E_DIR/dns" "$E2E_DIR/postfix/spool/pid"
for f in run/spoofguardd.pid dns/unbound.pid postfix/spool/pid/master.pid; do
    echo "$decoy" >"$E2E_DIR/$f"
done

# 2. a full run
bash "$E2E/with-env.sh" -- bash "$SELF" inner "$RES"
rc=$?
if [ "$rc" = 0 ]; then ok with_env_status; else ko with_env_status "with-env.sh exited $rc"; fi
if pid_alive "$decoy"; then ok stale_pidfiles_ignored; else ko stale_pidfiles_ignored "the decoy process was signalled"; fi
kill "$decoy" 2>/dev/null
decoy=''
left=$(left_running "$RES/unbound.pid" "$RES/master.pid")
if [ -z "$left" ] && [ -s "$RES/master.pid" ]; then ok nothing_left; else ko nothing_left "still running: ${left:-no pids recorded}"; fi
if [ ! -e "$E2E_DIR" ] && [ "$(cat /etc/resolv.conf)" = "$resolv_before" ]; then ok host_untouched; else
    ko host_untouched "$E2E_DIR left or /etc/resolv.conf changed"
fi

# 3. a run killed with SIGKILL (its trap cannot run), then a new run
mv "$RES/unbound.pid" "$RES/old-unbound.pid"
mv "$RES/master.pid" "$RES/old-master.pid"
bash "$E2E/with-env.sh" -- bash -c 'sleep 300 & echo $! >"$E2E_RUN/sleep.pid"; echo $$ >"$1/cmd.pid";
    tr -dc 0-9 <"$E2E_DIR/dns/unbound.pid" >"$1/killed-unbound.pid";
    tr -dc 0-9 <"$E2E_DIR/postfix/spool/pid/master.pid" >"$1/killed-master.pid";
    cp "$E2E_RUN/sleep.pid" "$1/killed-sleep.pid"; wait' sh "$RES" &
envpid=$!
# up to 60 s: on a loaded 2-core machine unbound + Postfix take over 10 s to start
for ((i = 0; i < 1200; i++)); do [ -s "$RES/killed-sleep.pid" ] && break; sleep 0.05; done
{
    kill -9 "$envpid"
    wait "$envpid"
} 2>/dev/null # no "Killed" job notice
bash "$E2E/with-env.sh" -- bash "$SELF" inner "$RES" quick
rc=$?
left=$(left_running "$RES/killed-unbound.pid" "$RES/killed-master.pid" "$RES/killed-sleep.pid" \
    "$RES/unbound.pid" "$RES/master.pid")
sleep 0.2 # the orphaned CMD shell exits once its sleep is gone
left+=$(left_running "$RES/cmd.pid")
if [ "$rc" = 0 ] && [ -z "$left" ] && [ -s "$RES/killed-master.pid" ]; then ok killed_run_cleaned; else
    ko killed_run_cleaned "rc=$rc, still running: ${left:-no pids recorded}"
fi

pass=$(grep -c '^PASS' "$RES/results")
fail=$(grep -c '^FAIL' "$RES/results")
[ "$pass" -ge 19 ] || { echo "FAIL count: only $pass checks ran"; fail=$((fail + 1)); }
echo "(e2e harness self-test: $(($(date +%s) - t0)) s)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
