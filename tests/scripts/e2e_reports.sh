#!/usr/bin/env bash
# End to end, DMARC aggregate reports we send (issue 16): mail through the
# private Postfix and spoofguardd with report_store, then `spoofguard report
# send --day TODAY` through that Postfix's sendmail to the rua of the
# sender domain's DMARC record (dmarc-reports@rcpt.test, outside the
# domain, authorised by reporter.test._report._dmarc.rcpt.test), and
# `spoofguard report parse` of the delivered mail gives back the counts
# that were sent: genuine mail (SPF aligned pass) and forged mail (DMARC
# fail under p=quarantine in test mode, t=y: delivered, and the report's
# record says why, reason policy_test_mode), per source. With failure_reports on and a ruf=
# in the record, the forged messages (three from one address within the
# hour) give one RFC 9991 failure report, redacted, read back by `report
# parse` as kind failure.
set -uo pipefail
SG_SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SG_CLI=${SG_CLI:-$SG_SRC/build/spoofguard}
SG_CLI=$(cd "$(dirname "$SG_CLI")" && pwd)/$(basename "$SG_CLI")
export SG_SRC SG_CLI
E2E=$SG_SRC/tests/e2e
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
. "$E2E/scenario.sh"
NGOOD=5 NBAD=3

if [ "${1:-}" = inner ]; then
    RES=$2
    . "$E2E_HOME/lib.sh"
    {
        zone_head() { printf '$ORIGIN %s.\n$TTL 60\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A %s\n' "$1" "$E2E_DNS_ADDR"; }
        zone_head reporter.test
        printf '@ A %s\n@ TXT "v=spf1 ip4:%s -all"\n' "$E2E_EXTERNAL" "$E2E_EXTERNAL"
        echo '_dmarc TXT "v=DMARC1; p=quarantine; t=y; rua=mailto:dmarc-reports@rcpt.test; ruf=mailto:dmarc-failures@rcpt.test"'
    } >"$E2E_ZONES/reporter.test.zone"
    {
        printf '$ORIGIN _report._dmarc.rcpt.test.\n$TTL 60\n@ SOA ns.rcpt.test. hostmaster 1 3600 600 86400 60\n@ NS ns.rcpt.test.\n'
        echo 'reporter.test TXT "v=DMARC1"'
    } >"$E2E_ZONES/_report._dmarc.rcpt.test.zone"
    bash "$E2E/dns.sh" start || { ko dns "restart with the report zones failed"; exit 1; }
    # the daemon runs as the user `spoofguard` (its default): the store's
    # folder is that user's. `report send` runs as root here only because
    # Postfix's sendmail takes -C (this private instance's configuration)
    # from root alone; on a real host it runs as the daemon's user.
    RU=$(id -un spoofguard 2>/dev/null) || { ko user "no user spoofguard"; exit 1; }
    mkdir -p "$E2E_DIR/reports" && chown "$RU:" "$E2E_DIR/reports"
    cat >"$E2E_DIR/spoofguardd.conf" <<C
listen              $MILTER
authserv_id         $E2E_MX
dns_servers         $E2E_DNS
internal_networks   $E2E_INTERNAL/32
log_file            $E2E_DIR/spoofguardd-messages.log
report_store        $E2E_DIR/reports/reports.db
report_flush_interval 1
failure_reports     yes
C
    run_bg spoofguardd "$(dirname "$SG_CLI")/spoofguardd" -c "$E2E_DIR/spoofguardd.conf"
    wait_tcp "$E2E_MILTER_ADDR" "$E2E_MILTER_PORT" 10 || { ko start "spoofguardd: $(cat "$E2E_DIR/spoofguardd.log")"; exit 1; }
    good=0 bad=0
    for i in $(seq $NGOOD); do
        r=$(send_mail -c "$E2E_EXTERNAL" -f "news@reporter.test" -t "bob@$E2E_RCPT_DOMAIN" \
            -h "From: news@reporter.test" -b "good-$i-$$")
        wait_mail "good-$i-$$" 10 >/dev/null && good=$((good + 1))
    done
    for i in $(seq $NBAD); do
        r=$(send_mail -c "$E2E_ATTACKER" -f "x@attacker.test" -t "bob@$E2E_RCPT_DOMAIN" \
            -h "From: ceo@reporter.test" -h "Subject: secret-subject-$i-$$" -b "bad-$i-$$")
        wait_mail "bad-$i-$$" 10 >/dev/null && bad=$((bad + 1))
    done
    [ "$good$bad" = "$NGOOD$NBAD" ] && ok "mail delivered ($good genuine, $bad forged, p=quarantine t=y)" ||
        ko delivered "$good genuine, $bad forged of $NGOOD/$NBAD"
    sleep 2.5 # two flushes
    n=$(sqlite3 "$E2E_DIR/reports/reports.db" "SELECT sum(count) FROM collected WHERE policy_domain='reporter.test'")
    [ "$n" = $((NGOOD + NBAD)) ] && ok "collected: $n messages in the store" || ko collected "store says '$n'"
    "$SG_CLI" report send --store "$E2E_DIR/reports/reports.db" --day "$(date -u +%F)" \
        --org-name "$E2E_MX" --email "postmaster@$E2E_RCPT_DOMAIN" \
        --sendmail "/usr/sbin/sendmail -C $E2E_DIR/postfix/etc -t -oi" >"$RES/send.out" 2>&1
    rc=$?
    [ $rc = 0 ] && ok "report send: exit 0" || ko send "exit $rc: $(cat "$RES/send.out")"
    st=$(sqlite3 "$E2E_DIR/reports/reports.db" "SELECT state||' '||rua FROM send_queue")
    [ "$st" = "sent dmarc-reports@rcpt.test" ] && ok "marked sent after the MTA took it" || ko state "'$st'"
    f=$(wait_mail "Report Domain: reporter.test" 20)
    if [ -z "$f" ]; then
        ko arrived "no report in $E2E_MAIL; $(tail -5 "$E2E_DIR/postfix/maillog" 2>/dev/null)"
    else
        ok "the report arrived in the rua mailbox"
        "$SG_CLI" report parse --json "$f" >"$RES/parsed" 2>&1
        /usr/bin/python3 - "$RES/parsed" $NGOOD $NBAD <<'PY' && ok "report parse gives back the counts sent" || ko readback "$(cat "$RES/parsed")"
import json, sys
o = json.loads(open(sys.argv[1]).readline())
good, bad = int(sys.argv[2]), int(sys.argv[3])
want = dict(kind="aggregate", namespace="rfc9990", policy_domain="reporter.test",
            messages=good + bad, spf_aligned_pass=good, dkim_aligned_pass=0,
            disposition={"none": good + bad}, records=2)
got = {k: o.get(k) for k in want}
if got != want:
    print("want", want, "got", got); sys.exit(1)
PY
        # the records as read back into a store: only the forged source's
        # carries a reason, the policy's test mode
        "$SG_CLI" report parse --store "$RES/readback.db" "$f" >/dev/null 2>&1
        rs=$(sqlite3 "$RES/readback.db" "SELECT source_ip||' '||count||' '||reason_type||' '||reason_comment
            FROM received_record WHERE reason_type<>'' ORDER BY source_ip")
        [ "$rs" = "$E2E_ATTACKER $NBAD policy_test_mode t=y" ] &&
            ok "the forged source's record says why it was not quarantined (policy_test_mode, t=y)" ||
            ko reason "records with a reason: '$rs'"
    fi
    # RFC 9991 failure reports: the three forged messages came from one
    # address within the hour: one report, to the ruf address, redacted
    q=$(sqlite3 "$E2E_DIR/reports/reports.db" "SELECT count(*)||' '||state||' '||source_ip FROM failure_queue")
    [ "$q" = "1 sent $E2E_ATTACKER" ] && ok "one failure report queued for $NBAD forged messages, sent" ||
        ko failure_queue "failure_queue says '$q'"
    ff=$(wait_mail "DMARC failure report for reporter.test" 20)
    if [ -z "$ff" ]; then
        ko failure_arrived "no failure report in $E2E_MAIL; $(cat "$RES/send.out")"
    else
        n=$(grep -rl "DMARC failure report for reporter.test" "$E2E_MAIL"/*/new/ | wc -l)
        [ "$n" = 1 ] && ok "exactly one failure report arrived" || ko failure_count "$n failure reports"
        grep -q "^To: dmarc-failures@rcpt.test" "$ff" && ok "to the ruf address" || ko failure_to "$(head -5 "$ff")"
        if grep -q "secret-subject" "$ff" || grep -q "bad-[0-9]-$$" "$ff" || grep -qi "^To: bob@" "$ff" ||
            ! grep -q "redacted@$E2E_RCPT_DOMAIN" "$ff" || ! grep -q "^From: ceo@reporter.test" "$ff"; then
            ko failure_redacted "subject, body or a recipient leaked, or From missing: $(sed -n '/rfc822-headers/,$p' "$ff")"
        else
            ok "redacted: no subject, no body, recipients as redacted@$E2E_RCPT_DOMAIN, From kept"
        fi
        "$SG_CLI" report parse --json "$ff" >"$RES/fparsed" 2>&1
        /usr/bin/python3 - "$RES/fparsed" "$E2E_ATTACKER" <<'PY' && ok "report parse reads it back as a failure report" || ko failure_readback "$(cat "$RES/fparsed")"
import json, sys
o = json.loads(open(sys.argv[1]).readline())
want = dict(kind="failure", policy_domain="reporter.test", source_ip=sys.argv[2], auth_failure="dmarc")
got = {k: o.get(k) for k in want}
if got != want:
    print("want", want, "got", got); sys.exit(1)
PY
    fi
    "$SG_CLI" report send --store "$E2E_DIR/reports/reports.db" --day "$(date -u +%F)" \
        --org-name "$E2E_MX" --sendmail "/usr/sbin/sendmail -C $E2E_DIR/postfix/etc -t -oi" 2>"$RES/send2.out"
    grep -q "1 already done" "$RES/send2.out" && grep -q "0 failure reports" "$RES/send2.out" &&
        ok "a second run sends nothing again" || ko resend "$(cat "$RES/send2.out")"
    stop_pidfile "$E2E_RUN/spoofguardd.pid"
    exit 0
fi

# ---------------------------------------------------------------- outer --
[ "$(id -u)" = 0 ] || fail_early "needs root (tests/e2e/with-env.sh)"
export E2E_DIR=${E2E_REPORTS_DIR:-/run/spoofguard-e2e-reports}
e2e_outer "e2e reports tests" 14
