#!/usr/bin/env bash
# End-to-end test of outbound abuse detection (issue 14) with a real Postfix,
# SASL submission and spoofguardd on an LMDB store (tests/e2e/with-env.sh):
#   a. an ordinary message of alice is delivered (allow, one decision line);
#      alice sending as bob is refused (550) and noted for her account;
#   b. a burst from alice (messages of 5 new recipients each, back to back)
#      gets the account held: the daemon answers with the milter quarantine,
#      the recipients delivered before the first hold are counted and must
#      stay within the goal (OB_GOAL_RCPTS, default 20, the issue's median);
#   c. the held messages sit in Postfix's hold queue (postqueue -j,
#      queue_name "hold"); each decision wrote one log line with reasons,
#      the metrics moved, the notify command got one JSON object;
#   d. `spoofguard accounts list/show/explain` see the block while the
#      daemon runs; the next message of alice is held too (blocked);
#   e. `spoofguard accounts release` lets the next message through within
#      5 s, with no restart;
#   f. no message is lost: every message got 2xx (delivered or held) or a
#      4xx that the test retried; after `postsuper -H ALL` every held one is
#      delivered; bob was never affected;
#   g. delivery-status reports coming back through port 25 are charged to
#      the login owning the address: an authentic one's 5.x.x recipients
#      that the login sent to count as hard bounces (a 4.x.x does not, nor
#      a recipient it never wrote to), each once a day however many
#      reports repeat it (each logged; the block they trip is notified);
#      a forged one is refused.
# Prints PASS/FAIL lines and "N passed, N failed"; exit status 1 on failure.
# Needs root and the packages of scripts/install-deps.sh. Env (ctest):
# SG_CLI (spoofguardd is taken from the same directory), SG_SRC; ports:
# E2E_SMTP_PORT, E2E_SUBMISSION_PORT, E2E_DNS_PORT, E2E_OB_MILTER_PORT,
# E2E_OB_METRICS_PORT.
set -uo pipefail
SG_SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SG_CLI=${SG_CLI:-$SG_SRC/build/spoofguard}
SG_CLI=$(cd "$(dirname "$SG_CLI")" && pwd)/$(basename "$SG_CLI")
export SG_SRC SG_CLI
E2E=$SG_SRC/tests/e2e
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
. "$E2E/scenario.sh"

# ---------------------------------------------------------------- inner --
if [ "${1:-}" = inner ]; then
    RES=$2
    . "$E2E_HOME/lib.sh"
    . "$E2E_HOME/daemon/daemon.sh"
    not_lost() { ! grep -q ' lost ' "$RES/sent"; }
    not_reports() { ! sanitizer_reports; }
    PFETC=$E2E_DIR/postfix/etc
    STORE=$E2E_DIR/outbound
    NOTIFY=$E2E_DIR/notify.jsonl
    GOAL=${OB_GOAL_RCPTS:-20}
    METRICS=127.0.0.1:${E2E_OB_METRICS_PORT:-19891}
    A=alice@$E2E_OURDOMAIN
    B=bob@$E2E_OURDOMAIN
    BIN=bob@$E2E_RCPT_DOMAIN # bob's address at the domain this Postfix receives mail for

    sgd_write_config
    sed -i "s|^$B $B\$|$B $B, $BIN|" "$E2E_DIR/senders"
    mkdir -p "$STORE"
    : >"$NOTIFY"
    chown nobody "$STORE" "$NOTIFY"
    cat >>"$SGD_CONF" <<EOF
outbound                 yes
outbound_store           $STORE
outbound_notify          cat >>$NOTIFY
outbound_notify_interval 0
metrics_listen           $METRICS
# alice and bob as accounts past their learning period (a fresh store
# would put them on the new-account ramp for 14 days), with no volume
# of their own yet: the engine's floors apply
outbound_limit           learning_days 0
# bob's few recipients are a sample: his bounces (g) then block him
outbound_limit           bounce_min_sample 2
EOF
    check config_test "spoofguardd -t refuses the outbound configuration" "$SGD" -t -c "$SGD_CONF"
    if ! sgd_start; then
        ko daemon_start "$(tail -n5 "$SGD_ERR")"
        exit 0
    fi
    ok daemon_start

    # qaction QID: the action of the daemon's message line for QID
    qaction() {
        local i l
        for ((i = 0; i < 40; i++)); do
            l=$(grep -F "\"queue_id\":\"$1\"" "$SGD_LOG" | grep -F '"direction"' | tail -n1)
            if [ -n "$l" ]; then
                sed -n 's/.*"action":"\([a-z]*\)".*/\1/p' <<<"$l"
                return 0
            fi
            sleep 0.05
        done
        echo none
    }
    # send LOGIN TOKEN RCPT...: one message (retried on a 4xx, at most 20
    # times, 0.5 s apart); prints "QID ACTION" or "lost REPLY"
    : >"$RES/tempfails"
    send() {
        local login=$1 tok=$2 r rc i to
        shift 2
        to=$(
            IFS=,
            echo "$*"
        )
        for ((i = 0; i < 20; i++)); do
            r=$(send_mail -a "$login" -f "$login" -t "$to" -h "From: $login" -h "Subject: $tok" -b "body $tok")
            rc=$?
            if [ $rc = 4 ]; then
                echo "$tok $r" >>"$RES/tempfails"
                sleep 0.5
                continue
            fi
            break
        done
        if [[ $r =~ queued\ as\ ([0-9A-Za-z]+) ]]; then
            echo "${BASH_REMATCH[1]} $(qaction "${BASH_REMATCH[1]}")"
        else
            echo "lost $r"
        fi
    }
    : >"$RES/sent" # TOKEN QID ACTION NRCPT

    # a. an ordinary message
    out=$(send "$A" ob-first "carol@$E2E_RCPT_DOMAIN")
    echo "ob-first $out 1" >>"$RES/sent"
    check a_first_allowed "$out" test "${out#* }" = accept
    check a_first_delivered "not delivered" wait_mail "body ob-first" 10
    check a_decision_line "no outbound_decision line" grep -q '"event":"outbound_decision".*"action":"allow"' "$SGD_LOG"

    # a sender-ownership refusal (alice as bob) is noted for alice
    r=$(send_mail -a "$A" -f "$B" -t "carol@$E2E_RCPT_DOMAIN" -h "From: $B" -b "body ob-spoof")
    check a_ownership_refused "$r" test "${r:0:5}" = "550 5"

    # b. the burst: 5 fresh recipients a message until the first hold
    reached=0 held_at=0 n=0
    for ((m = 1; m <= 60; m++)); do
        rc=()
        for ((k = 0; k < 5; k++)); do rc+=("burst$m-$k@$E2E_RCPT_DOMAIN"); done
        tok=$(printf 'ob-burst-%02d' "$m")
        out=$(send "$A" "$tok" "${rc[@]}")
        echo "$tok $out 5" >>"$RES/sent"
        n=$m
        case "${out#* }" in
        accept) reached=$((reached + 5)) ;;
        quarantine)
            held_at=$m
            break
            ;;
        *) break ;;
        esac
    done
    echo "(burst: $n messages, $reached recipients reached before the hold at message $held_at)"
    check b_held "no hold after $n messages: $(tail -n2 "$RES/sent" | tr '\n' '|')" test "$held_at" -gt 0
    check b_within_goal "$reached recipients reached before the hold (goal <= $GOAL)" test "$reached" -le "$GOAL"
    # two more: the account stays held (a block), or each is judged again
    for m in 1 2; do
        out=$(send "$A" "ob-after-$m" "after$m@$E2E_RCPT_DOMAIN")
        echo "ob-after-$m $out 1" >>"$RES/sent"
    done
    check b_after_held "the message after the hold: $(tail -n1 "$RES/sent")" grep -q '^ob-after-2 [0-9A-Za-z]* quarantine' "$RES/sent"
    # bob is another account: untouched
    out=$(send "$B" ob-bob "carol@$E2E_RCPT_DOMAIN")
    echo "ob-bob $out 1" >>"$RES/sent"
    check b_other_account_allowed "$out" test "${out#* }" = accept

    # c. the hold queue, the log, metrics, notify
    postqueue -c "$PFETC" -j >"$RES/queue.json" 2>/dev/null
    held_q=$(awk '$3 == "quarantine" { print $2 }' "$RES/sent")
    missing=0
    for q in $held_q; do
        /usr/bin/python3 -c 'import json,sys
q=sys.argv[1]
for l in open(sys.argv[2]):
    j=json.loads(l)
    if j.get("queue_id")==q and j.get("queue_name")=="hold": sys.exit(0)
sys.exit(1)' "$q" "$RES/queue.json" || missing=$((missing + 1))
    done
    check c_in_hold_queue "$missing of $(wc -w <<<"$held_q") held messages not in the hold queue" test "$missing" = 0 -a -n "$held_q"
    for q in $held_q; do
        tok=$(awk -v q="$q" '$2 == q { print $1 }' "$RES/sent")
        if grep -rqF -- "body $tok" "$E2E_MAIL"/*/new/ 2>/dev/null; then
            ko c_held_not_delivered "$tok ($q) was delivered while held"
            break
        fi
    done
    grep -q '^FAIL c_held_not_delivered' "$RES/results" || ok c_held_not_delivered
    check c_reasons_logged "no hold/block decision line with reasons" grep -qE '"event":"outbound_decision".*"action":"(hold|block)","reasons":\["' "$SGD_LOG"
    curl -s "http://$METRICS/metrics" >"$RES/metrics" 2>/dev/null || /usr/bin/python3 -c 'import sys,urllib.request;sys.stdout.write(urllib.request.urlopen("http://"+sys.argv[1]+"/metrics").read().decode())' "$METRICS" >"$RES/metrics"
    check c_metric_decisions "spoofguard_outbound_decisions_total{action=hold|block} is 0" grep -qE '^spoofguard_outbound_decisions_total\{action="(hold|block)"\} [1-9]' "$RES/metrics"
    check c_metric_reasons "no spoofguard_outbound_reasons_total above 0" grep -qE '^spoofguard_outbound_reasons_total\{reason="[a-z_]+"\} [1-9]' "$RES/metrics"
    check c_metric_refusal "no ownership_refusal event" grep -qE '^spoofguard_outbound_events_total\{kind="ownership_refusal"\} [1-9]' "$RES/metrics"
    check c_metric_latency "no decision latency histogram" grep -qE '^spoofguard_outbound_decision_duration_seconds_count [1-9]' "$RES/metrics"
    for ((i = 0; i < 40; i++)); do [ -s "$NOTIFY" ] && break; sleep 0.05; done
    check c_notify_json "notify: $(head -c 300 "$NOTIFY")" /usr/bin/python3 -c 'import json,sys
l=[json.loads(x) for x in open(sys.argv[1]) if x.strip()]
assert l and l[0]["account"]==sys.argv[2] and l[0]["event"]=="outbound_block" and l[0]["reasons"], l' "$NOTIFY" "$A"

    # d. the CLI sees the block while the daemon runs
    blocked=0
    grep -qE '"event":"outbound_decision".*"account":"'"$A"'".*"action":"block"' "$SGD_LOG" && blocked=1
    list=$("$SG_CLI" accounts list --config "$SGD_CONF" 2>&1)
    echo "$list" >"$RES/list"
    check d_list "$list" grep -q "^$A" "$RES/list"
    if [ "$blocked" = 1 ]; then
        check d_list_blocked "$list" grep -q "^$A *BLOCKED" "$RES/list"
        js=$("$SG_CLI" accounts list --json --config "$SGD_CONF" 2>&1)
        check d_list_json "$js" /usr/bin/python3 -c 'import json,sys
l=[json.loads(x) for x in sys.stdin]
a=[x for x in l if x["account"]==sys.argv[1]][0]
assert a["blocked"] and a["reasons"], a' "$A" <<<"$js"
        ex=$("$SG_CLI" accounts explain "$A" --config "$SGD_CONF" 2>&1)
        check d_explain "$ex" grep -q "spoofguard accounts release $A" <<<"$ex"
    fi
    sh=$("$SG_CLI" accounts show "$A" --json --config "$SGD_CONF" 2>&1)
    check d_show_json "$sh" /usr/bin/python3 -c 'import json,sys; json.loads(sys.stdin.read())' <<<"$sh"
    check d_show_unknown_exit1 "exit $?" bash -c "'$SG_CLI' accounts show nobody@nowhere --config '$SGD_CONF'; test \$? = 1"
    if [ "$blocked" = 0 ]; then
        # the hold was per message: block it by hand, as an administrator would
        check d_block "$("$SG_CLI" accounts block "$A" --config "$SGD_CONF" 2>&1)" "$SG_CLI" accounts block "$A" --config "$SGD_CONF"
        out=$(send "$A" ob-blocked "x@$E2E_RCPT_DOMAIN")
        echo "ob-blocked $out 1" >>"$RES/sent"
        check d_block_enforced "$out" test "${out#* }" = quarantine
    fi

    # e. release: the next message goes through within 5 s, no restart
    PID=$(sgd_pid)
    t0=$(date +%s.%N)
    rel=$("$SG_CLI" accounts release "$A" --config "$SGD_CONF" 2>&1)
    check e_release "$rel" grep -q "released $A" <<<"$rel"
    passed=''
    for ((i = 1; i <= 10; i++)); do
        tok=$(printf 'ob-released-%02d' "$i")
        out=$(send "$A" "$tok" "carol@$E2E_RCPT_DOMAIN")
        echo "$tok $out 1" >>"$RES/sent"
        if [ "${out#* }" = accept ]; then
            passed=$tok
            break
        fi
        sleep 0.5
    done
    dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
    echo "(release to the next delivered message: ${dt}s, attempt ${passed:-none})"
    check e_released_within_5s "attempt ${passed:-none}, ${dt}s" awk -v p="${passed:-}" -v d="$dt" 'BEGIN{exit !(p != "" && d <= 5)}'
    check e_delivered "$passed not delivered" wait_mail "body $passed" 10
    check e_no_restart "the daemon restarted" test "$(sgd_pid)" = "$PID"

    # f. nothing lost: every 2xx is delivered or held; release the held
    check f_nothing_refused "$(grep ' lost ' "$RES/sent" | head -n3 | tr '\n' '|')" not_lost
    postsuper -c "$PFETC" -H ALL >/dev/null 2>&1
    postqueue -c "$PFETC" -f >/dev/null 2>&1
    lost=''
    while read -r tok q act nr; do
        [ "$q" = lost ] && continue
        wait_mail "body $tok" 15 >/dev/null || lost="$lost $tok"
    done <"$RES/sent"
    check f_all_delivered_after_release "not delivered:$lost" test -z "$lost"
    echo "(tempfails retried: $(wc -l <"$RES/tempfails"); messages: $(wc -l <"$RES/sent"))"

    # g. delivery-status reports coming back through port 25 (null sender)
    # to an address of a login (bob's bob@rcpt.test, an address this
    # Postfix receives mail for) are charged to that login: an authentic
    # one (signed by the reporting domain) counts its 5.x.x failed
    # recipients that bob really sent to, not a 4.x.x one and not one he
    # never wrote to; a forged one is refused and counts nothing.
    dsn() { # ID STATUS:RECIPIENT...: a report from remote.test's MTA to bob
        local id=$1 st
        shift
        printf 'From: Mail Delivery System <MAILER-DAEMON@%s>\nTo: %s\nSubject: Undelivered Mail Returned to Sender\nDate: %s\nMessage-ID: <%s@%s>\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="dsnB"\n\n--dsnB\nContent-Type: text/plain\n\nThis is the mail system at host mx.%s.\n\n--dsnB\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.%s\n' \
            "$E2E_REMOTE" "$BIN" "$(date -R)" "$id" "$E2E_REMOTE" "$E2E_REMOTE" "$E2E_REMOTE"
        for st in "$@"; do
            printf '\nFinal-Recipient: rfc822; %s\nAction: %s\nStatus: %s\n' "${st#*:}" \
                "$([ "${st:0:1}" = 5 ] && echo failed || echo delayed)" "${st%%:*}"
        done
        printf '\n--dsnB--\n'
    }
    hard_of() { # the account's hard bounces of the last 24 hours, or "none"
        "$SG_CLI" accounts show "$1" --json --config "$SGD_CONF" 2>/dev/null |
            /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bounces_24h"]["hard"])' 2>/dev/null || echo none
    }
    # (this Postfix delivers only to $E2E_RCPT_DOMAIN: bob writes there,
    # and remote.test's MTA, a relay on the way, reports the failures)
    out=$(send "$B" ob-bob-far "gone-1@$E2E_RCPT_DOMAIN" "gone-2@$E2E_RCPT_DOMAIN")
    check g_bob_sent_far "$out" test "${out#* }" = accept
    h0=$(hard_of "$B")
    # gone-1 repeated (another case): one recipient counts once per report
    dsn dsn-1 "5.1.1:gone-1@$E2E_RCPT_DOMAIN" "5.1.1:<GONE-2@$E2E_RCPT_DOMAIN>" \
        "4.4.1:gone-1@$E2E_RCPT_DOMAIN" "5.1.1:never-written-to@$E2E_RCPT_DOMAIN" \
        "5.1.1:Gone-1@$E2E_RCPT_DOMAIN" "5.1.1:gone-1@$E2E_RCPT_DOMAIN" | sign_remote >"$E2E_DIR/dsn-1.eml"
    r=$(send_mail -c "$E2E_EXTERNAL" -f '<>' -t "$BIN" -d "$E2E_DIR/dsn-1.eml")
    check g_dsn_accepted "$r" test "${r:0:1}" = 2
    q=''
    [[ $r =~ queued\ as\ ([0-9A-Za-z]+) ]] && q=${BASH_REMATCH[1]}
    check g_dsn_judged "no accept line for the report ($q)" test "$(qaction "$q")" = accept
    for ((i = 0; i < 40; i++)); do [ "$(hard_of "$B")" = 2 ] && break; sleep 0.1; done
    check g_dsn_hard_bounces_counted "bob's hard bounces: $h0 -> $(hard_of "$B") (want 0 -> 2: two 5.1.1 of his recipients; not the 4.4.1, not the recipient he never wrote to, not gone-1's repeats)" test "$h0:$(hard_of "$B")" = 0:2
    # the same failures in another authentic report: counted that day already
    dsn dsn-1b "5.1.1:gone-1@$E2E_RCPT_DOMAIN" "5.1.1:Gone-2@$E2E_RCPT_DOMAIN" | sign_remote >"$E2E_DIR/dsn-1b.eml"
    r=$(send_mail -c "$E2E_EXTERNAL" -f '<>' -t "$BIN" -d "$E2E_DIR/dsn-1b.eml")
    q=''
    [[ $r =~ queued\ as\ ([0-9A-Za-z]+) ]] && q=${BASH_REMATCH[1]}
    check g_dsn_again_judged "no accept line for the second report ($q): $r" test "$(qaction "$q")" = accept
    # a count, if any, lands within moments of the accept (as the first did)
    for ((i = 0; i < 10; i++)); do [ "$(hard_of "$B")" = 2 ] || break; sleep 0.1; done
    check g_dsn_again_not_counted "bob's hard bounces: $(hard_of "$B") after a second report on the same recipients (want 2)" test "$(hard_of "$B")" = 2
    # each counted failure is on record, and the block it tripped was told
    check g_dsn_logged "outbound_bounce lines for bob: $(grep -c '"event":"outbound_bounce"' "$SGD_LOG") (want 2)" \
        test "$(grep -F '"event":"outbound_bounce"' "$SGD_LOG" | grep -cF "\"account\":\"$B\"")" = 2
    check g_dsn_block_logged "no outbound_bounce line with tripped:true" grep -qE '"event":"outbound_bounce".*"tripped":true' "$SGD_LOG"
    check g_dsn_block_notified "notify: $(tail -c 400 "$NOTIFY")" /usr/bin/python3 -c 'import json,sys
l=[json.loads(x) for x in open(sys.argv[1]) if x.strip()]
b=[o for o in l if o["account"]==sys.argv[2] and o.get("cause")=="dsn"]
assert len(b)==1 and "bounce_rate" in b[0]["reasons"] and b[0]["release"]=="spoofguard accounts release "+sys.argv[2], l' "$NOTIFY" "$B"
    dsn dsn-2 "5.1.1:gone-1@$E2E_RCPT_DOMAIN" "5.1.1:gone-2@$E2E_RCPT_DOMAIN" >"$E2E_DIR/dsn-2.eml"
    r=$(send_mail -c "$E2E_ATTACKER" -f '<>' -t "$BIN" -d "$E2E_DIR/dsn-2.eml")
    check g_forged_dsn_refused "$r" test "${r:0:5}" = "550 5"
    check g_forged_dsn_not_counted "bob's hard bounces: $(hard_of "$B") after a forged report (want 2)" test "$(hard_of "$B")" = 2
    # h. a message's recipients count up to the documented 5,000 (the
    #    list stopped growing at 4,096), straight over the milter protocol:
    #    Postfix's smtpd_recipient_limit is 1,000
    r=$(/usr/bin/python3 "$SG_SRC/tests/interop/milter_client.py" submit "${MILTER##*:}" "$A" 1 6000 2>&1)
    check h_many_rcpts_answered "$r" test "${#r}" = 1
    check h_many_rcpts_counted "$(grep -F '"queue_id":"S00000000"' "$SGD_LOG" | grep -F outbound_decision | tail -n1 | head -c 300)" \
        grep -qE '"queue_id":"S00000000".*"rcpts":5000,' "$SGD_LOG"
    sgd_stop
    check daemon_exit_0 "status $SGD_STATUS" test "$SGD_STATUS" = 0
    check no_sanitizer_reports "$(sanitizer_reports | head -n3 | tr '\n' '|')" not_reports
    exit 0
fi

# ---------------------------------------------------------------- outer --
[ "$(id -u)" = 0 ] || fail_early "needs root (tests/e2e/with-env.sh)"
SGD=$(dirname "$SG_CLI")/spoofguardd
[ -x "$SGD" ] || fail_early "no daemon at $SGD"
for t in swaks unbound postfix; do
    command -v "$t" >/dev/null || fail_early "$t is not installed (scripts/install-deps.sh)"
done
export E2E_DIR=${E2E_OUTBOUND_DIR:-/run/spoofguard-e2e-outbound}
export MILTER=${MILTER:-inet:127.0.0.1:${E2E_OB_MILTER_PORT:-18891}}
e2e_outer "e2e outbound tests" 20
