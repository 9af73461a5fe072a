#!/usr/bin/env bash
# End-to-end test of the Redis store of outbound abuse detection (issue 14):
# a real redis-server on loopback (started here, no persistence) shared by
# two spoofguardd instances, A and B, behind one real Postfix: submission
# port 1 goes through A, a second submission port through B
# (tests/e2e/with-env.sh):
#   a. alice's mail is allowed through A and through B, and both decided on
#      Redis (the decision lines say "store":"redis");
#   b. `spoofguard accounts block` on the Redis store: the next message
#      through B, sent at once, is held (quarantine) - enforced within 1 s;
#      and through A too; the blocked record has no TTL in Redis;
#   c. a burst through A that gets the account blocked is enforced by B on
#      its next message (when the engine blocks on a burst); the block the
#      daemon wrote has no TTL;
#   d. `spoofguard accounts release`: the next message through B goes
#      through, and the record has its TTL again;
#   e. Redis silent (SIGSTOP): the decision gives up after
#      outbound_redis_timeout_ms and counts in memory, the mail goes through;
#      Redis stopped mid-run: mail keeps flowing through A and B (2xx,
#      delivered), spoofguard_outbound_store_fallback_total moves on both,
#      the gauge says so, the log says outbound_store_down; Redis back: the
#      daemons reconnect (outbound_store_up) and decide on Redis again;
#   f. A stopped while Redis is away: its memory goes to its spill file
#      (outbound_spill_written), and after its next start (Redis back, empty)
#      into Redis: alice's day there is that one message;
#   g. A killed (-9) while Redis is away: the spill file it rewrote during
#      the outage is read at its next start and carried the same way.
# Prints PASS/FAIL lines and "N passed, N failed"; exit status 1 on failure.
# Env: SG_CLI, SG_SRC; ports E2E_SMTP_PORT, E2E_SUBMISSION_PORT,
# E2E_SUBMISSION_B_PORT (2619), E2E_DNS_PORT, E2E_REDIS_PORT (16380),
# E2E_OB_MILTER_PORT (18891; B: +1), E2E_OB_METRICS_PORT (19891; B: +1).
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
    PFETC=$E2E_DIR/postfix/etc
    RPORT=${E2E_REDIS_PORT:-16380}
    REDIS=redis://127.0.0.1:$RPORT
    SUB_B=${E2E_SUBMISSION_B_PORT:-2619}
    MPORT=${E2E_OB_MILTER_PORT:-18891}
    XPORT=${E2E_OB_METRICS_PORT:-19891}
    A=alice@$E2E_OURDOMAIN
    B=bob@$E2E_OURDOMAIN
    cli() { "$SG_CLI" accounts "$@" --store "$REDIS"; } # cli SUBCOMMAND [ARGS...]

    redis_start() {
        run_bg redis-server /usr/bin/redis-server --port "$RPORT" --bind 127.0.0.1 --save '' \
            --appendonly no --loglevel warning
        wait_tcp 127.0.0.1 "$RPORT" 10
    }
    redis_start || {
        ko redis_start "$(tail -n3 "$E2E_DIR/redis-server.log")"
        exit 0
    }
    ok redis_start

    # the second submission port, through B
    cat >>"$PFETC/master.cf" <<EOF
127.0.0.1:$SUB_B inet n - n - - smtpd
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
  -o smtpd_milters=inet:127.0.0.1:$((MPORT + 1))
EOF
    postfix -c "$PFETC" reload >/dev/null 2>&1
    check postfix_second_port "nothing on $SUB_B" wait_tcp 127.0.0.1 "$SUB_B" 10

    # two daemons: the e2e configuration, each its own socket, log, metrics
    # and spill file (in a folder of the user the daemons run as)
    sgd_write_config
    mkdir -p "$E2E_DIR/spill"
    u=$(sed -n 's/^user[[:space:]]\{1,\}//p' "$SGD_CONF")
    [ -z "$u" ] || chown "$u" "$E2E_DIR/spill"
    chmod 700 "$E2E_DIR/spill"
    base=$(cat "$SGD_CONF")
    for x in a b; do
        off=0
        [ $x = b ] && off=1
        {
            grep -v '^listen \|^log_file ' <<<"$base"
            echo "listen                   inet:127.0.0.1:$((MPORT + off))"
            echo "log_file                 $E2E_DIR/sgd-$x-messages.log"
            echo "metrics_listen           127.0.0.1:$((XPORT + off))"
            echo "outbound                 yes"
            echo "outbound_store           $REDIS"
            echo "outbound_redis_timeout_ms 200"
            echo "outbound_spill           $E2E_DIR/spill/$x.spill"
            echo "outbound_spill_interval  1"
            # accounts past their learning period (see e2e_outbound.sh)
            echo "outbound_limit           learning_days 0"
        } >"$E2E_DIR/spoofguardd-$x.conf"
        check "config_test_$x" "spoofguardd -t" "$SGD" -t -c "$E2E_DIR/spoofguardd-$x.conf"
        run_bg "spoofguardd-$x" "$SGD" -c "$E2E_DIR/spoofguardd-$x.conf"
        check "daemon_start_$x" "$(tail -n3 "$E2E_DIR/spoofguardd-$x.log" 2>/dev/null)" wait_tcp 127.0.0.1 $((MPORT + off)) 10
    done
    LOG_A=$E2E_DIR/sgd-a-messages.log LOG_B=$E2E_DIR/sgd-b-messages.log

    # qaction LOG QID: the action of the message line for QID
    qaction() {
        local i l
        for ((i = 0; i < 40; i++)); do
            l=$(grep -F "\"queue_id\":\"$2\"" "$1" | grep -F '"direction"' | tail -n1)
            if [ -n "$l" ]; then
                sed -n 's/.*"action":"\([a-z]*\)".*/\1/p' <<<"$l"
                return 0
            fi
            sleep 0.05
        done
        echo none
    }
    # send VIA LOGIN TOKEN RCPT...: VIA a or b; prints "QID ACTION" (4xx retried)
    : >"$RES/sent"
    send() {
        local via=$1 login=$2 tok=$3 r rc i port log to
        shift 3
        to=$(
            IFS=,
            echo "$*"
        )
        port=$E2E_SUBMISSION_PORT log=$LOG_A
        [ "$via" = b ] && port=$SUB_B log=$LOG_B
        for ((i = 0; i < 20; i++)); do
            r=$(send_mail -a "$login" -p "$port" -f "$login" -t "$to" -h "From: $login" -h "Subject: $tok" -b "body $tok")
            rc=$?
            [ $rc = 4 ] || break
            sleep 0.5
        done
        if [[ $r =~ queued\ as\ ([0-9A-Za-z]+) ]]; then
            echo "${BASH_REMATCH[1]} $(qaction "$log" "${BASH_REMATCH[1]}")"
        else
            echo "lost $r"
        fi
    }
    sent() { # TOKEN OUT
        echo "$1 $2" >>"$RES/sent"
        printf '%s\n' "$2"
    }

    # a. allowed through both, decided on Redis
    out=$(send a "$A" rd-a1 "carol@$E2E_RCPT_DOMAIN")
    sent rd-a1 "$out" >/dev/null
    check a_allowed_via_a "$out" test "${out#* }" = accept
    out=$(send b "$A" rd-b1 "carol@$E2E_RCPT_DOMAIN")
    sent rd-b1 "$out" >/dev/null
    check a_allowed_via_b "$out" test "${out#* }" = accept
    check a_store_redis_a "no redis decision in A's log" grep -q '"event":"outbound_decision".*"store":"redis"' "$LOG_A"
    check a_store_redis_b "no redis decision in B's log" grep -q '"event":"outbound_decision".*"store":"redis"' "$LOG_B"

    # b. a block made with the CLI: enforced by B on its next message
    t0=$(date +%s.%N)
    blk=$(cli block "$A" 2>&1)
    check b_cli_block "$blk" grep -q "blocked $A" <<<"$blk"
    ts=$(date +%s.%N)
    out=$(send b "$A" rd-b2 "carol@$E2E_RCPT_DOMAIN")
    sent rd-b2 "$out" >/dev/null
    lag=$(awk -v a="$t0" -v b="$ts" 'BEGIN{printf "%.3f", b-a}')
    echo "(block to B's next message: sent ${lag}s after the block; answered ${out#* })"
    check b_enforced_by_b_within_1s "${out#* } (sent ${lag}s after)" awk -v a="${out#* }" -v l="$lag" 'BEGIN{exit !(a == "quarantine" && l < 1)}'
    out=$(send a "$A" rd-a2 "carol@$E2E_RCPT_DOMAIN")
    sent rd-a2 "$out" >/dev/null
    check b_enforced_by_a "$out" test "${out#* }" = quarantine
    # both daemons wrote the blocked record since: it has no TTL, or a
    # quiet blocked login would be free again after 90 days
    ttl=$(redis-cli -p "$RPORT" TTL "sgob:${A,,}" 2>&1)
    check b_block_never_expires "TTL $ttl" test "$ttl" = -1
    js=$(cli list --json 2>&1)
    check b_list_blocked "$js" /usr/bin/python3 -c 'import json,sys
l=[json.loads(x) for x in sys.stdin]
assert [x for x in l if x["account"]==sys.argv[1] and x["blocked"]], l' "$A" <<<"$js"

    # d. release (before c, so c starts from a clean account): B lets it through
    rel=$(cli release "$A" 2>&1)
    check d_cli_release "$rel" grep -q "released $A" <<<"$rel"
    out=$(send b "$A" rd-b3 "carol@$E2E_RCPT_DOMAIN")
    sent rd-b3 "$out" >/dev/null
    check d_released_via_b "$out" test "${out#* }" = accept
    ttl=$(redis-cli -p "$RPORT" TTL "sgob:${A,,}" 2>&1)
    check d_release_restores_ttl "TTL $ttl" test "$ttl" -gt 0

    # c. a burst through A until the engine blocks bob; then B's next
    blocked_at=0
    for ((m = 1; m <= 60; m++)); do
        rc=()
        for ((k = 0; k < 5; k++)); do rc+=("rb$m-$k@$E2E_RCPT_DOMAIN"); done
        tok=$(printf 'rd-burst-%02d' "$m")
        out=$(send a "$B" "$tok" "${rc[@]}")
        sent "$tok" "$out" >/dev/null
        if grep -qE '"event":"outbound_decision".*"account":"'"$B"'".*"action":"block"' "$LOG_A"; then
            blocked_at=$m
            break
        fi
    done
    if [ "$blocked_at" -gt 0 ]; then
        out=$(send b "$B" rd-bob-b "carol@$E2E_RCPT_DOMAIN")
        sent rd-bob-b "$out" >/dev/null
        check c_burst_block_enforced_by_b "$out" test "${out#* }" = quarantine
        ttl=$(redis-cli -p "$RPORT" TTL "sgob:${B,,}" 2>&1)
        check c_daemon_block_never_expires "TTL $ttl" test "$ttl" = -1
        cli release "$B" >/dev/null 2>&1
    else
        echo "(the engine did not block bob in 60 burst messages: c skipped)"
    fi

    # e. Redis silent (SIGSTOP): a decision waits outbound_redis_timeout_ms,
    # then counts in memory; the mail goes through
    rpid=$(tr -dc 0-9 <"$E2E_RUN/redis-server.pid")
    kill -STOP "$rpid"
    t0=$(date +%s.%N)
    out=$(send a "$A" rd-silent "carol@$E2E_RCPT_DOMAIN")
    sent rd-silent "$out" >/dev/null
    dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
    kill -CONT "$rpid"
    echo "(Redis silent: the message answered in ${dt}s)"
    check e_silent_redis_flows "$out in ${dt}s" test "${out#* }" = accept
    check e_silent_redis_memory "no memory decision in A's log" grep -q '"event":"outbound_decision".*"store":"memory"' "$LOG_A"
    check e_silent_redis_logged "no timeout line" grep -q '"event":"outbound_store_down".*"why":"timeout"' "$LOG_A"

    # e. Redis stopped mid-run: mail keeps flowing
    stop_pidfile "$E2E_RUN/redis-server.pid" 5 redis-server
    for x in a b; do
        tok=rd-down-$x
        out=$(send $x "$A" "$tok" "carol@$E2E_RCPT_DOMAIN")
        sent "$tok" "$out" >/dev/null
        check "e_flows_without_redis_$x" "$out" test "${out#* }" = accept
        check "e_delivered_$x" "$tok not delivered" wait_mail "body $tok" 10
    done
    for x in a b; do
        off=0
        [ $x = b ] && off=1
        /usr/bin/python3 -c 'import sys,urllib.request;sys.stdout.write(urllib.request.urlopen("http://127.0.0.1:"+sys.argv[1]+"/metrics").read().decode())' $((XPORT + off)) >"$RES/metrics-$x" 2>/dev/null
        check "e_fallback_metric_$x" "$(grep fallback "$RES/metrics-$x" | tr '\n' '|')" grep -qE '^spoofguard_outbound_store_fallback_total [1-9]' "$RES/metrics-$x"
        check "e_fallback_gauge_$x" "$(grep '^spoofguard_outbound_store_fallback ' "$RES/metrics-$x")" grep -qE '^spoofguard_outbound_store_fallback [1-9]' "$RES/metrics-$x"
    done
    check e_logged_down "no outbound_store_down line" grep -q '"event":"outbound_store_down"' "$LOG_A"
    # Redis back: reconnected (backoff at most 5 s), decisions on Redis again
    merged_a0=$(grep -c '"event":"outbound_store_merged"' "$LOG_A")
    merged_b0=$(grep -c '"event":"outbound_store_merged"' "$LOG_B")
    redis_start
    for ((i = 0; i < 80; i++)); do
        grep -q '"event":"outbound_store_up"' "$LOG_A" && grep -q '"event":"outbound_store_up"' "$LOG_B" && break
        sleep 0.1
    done
    check e_reconnected "no outbound_store_up line in both logs" bash -c "grep -q outbound_store_up '$LOG_A' && grep -q outbound_store_up '$LOG_B'"
    # what each daemon counted in memory is carried into Redis (which came
    # back empty: no persistence here): alice's messages of the outage are
    # in her shared record, and the next tick carries nothing twice
    for ((i = 0; i < 80; i++)); do
        [ "$(grep -c '"event":"outbound_store_merged"' "$LOG_A")" -gt "$merged_a0" ] &&
            [ "$(grep -c '"event":"outbound_store_merged"' "$LOG_B")" -gt "$merged_b0" ] && break
        sleep 0.1
    done
    check e_memory_carried "no new outbound_store_merged line in both logs" bash -c \
        "[ \$(grep -c outbound_store_merged '$LOG_A') -gt $merged_a0 ] && [ \$(grep -c outbound_store_merged '$LOG_B') -gt $merged_b0 ]"
    echo "(carried into Redis: $(grep -h '"event":"outbound_store_merge' "$LOG_A" "$LOG_B" | tr '\n' ' '))"
    js=$(cli show "$A" --json 2>&1)
    echo "(alice's day in Redis after the carry: $(sed -n 's/.*"day":{\("messages":[0-9]*\).*/\1/p' <<<"$js"))"
    # rd-down-a and rd-down-b for sure; rd-silent too unless A carried it
    # between SIGCONT and the stop (then the empty restart lost it)
    check e_memory_counts_in_redis "$js" /usr/bin/python3 -c 'import json,sys
j=json.loads(sys.stdin.read())
assert j["windows"]["day"]["messages"] in (2, 3), j["windows"]["day"]' <<<"$js"
    n0=$(grep -c '"store":"redis"' "$LOG_B")
    out=$(send b "$A" rd-back "carol@$E2E_RCPT_DOMAIN")
    sent rd-back "$out" >/dev/null
    check e_back_on_redis "$out" test "$(grep -c '"store":"redis"' "$LOG_B")" -gt "$n0"

    # restart_a_after_outage STEP COPY: Redis back (empty), A started again
    # (its earlier stderr kept as spoofguardd-a.COPY.log) and waited for
    # until it has carried something into Redis; then STEP_spill_loaded,
    # _carried, _removed (the file) and _counts_in_redis (alice's one
    # message of the outage, exactly) are checked
    restart_a_after_outage() {
        cp "$E2E_DIR/spoofguardd-a.log" "$E2E_DIR/spoofguardd-a.$2.log"
        redis_start
        merged_a0=$(grep -c '"event":"outbound_store_merged"' "$LOG_A")
        loaded_a0=$(grep -c '"event":"outbound_spill_loaded"' "$LOG_A")
        run_bg spoofguardd-a "$SGD" -c "$E2E_DIR/spoofguardd-a.conf"
        check "$1_restarted" "$(tail -n3 "$E2E_DIR/spoofguardd-a.log" 2>/dev/null)" wait_tcp 127.0.0.1 "$MPORT" 10
        for ((i = 0; i < 80; i++)); do
            [ "$(grep -c '"event":"outbound_store_merged"' "$LOG_A")" -gt "$merged_a0" ] && break
            sleep 0.1
        done
        check "$1_spill_loaded" "no outbound_spill_loaded line" \
            test "$(grep -c '"event":"outbound_spill_loaded"' "$LOG_A")" -gt "$loaded_a0"
        check "$1_spill_carried" "$(grep -h 'outbound_s' "$LOG_A" | tail -n3 | tr '\n' ' ')" \
            test "$(grep -c '"event":"outbound_store_merged"' "$LOG_A")" -gt "$merged_a0"
        check "$1_spill_removed" "$(ls -l "$E2E_DIR/spill")" test ! -e "$E2E_DIR/spill/a.spill"
        # Redis came back empty: alice's day there is the outage's one message
        js=$(cli show "$A" --json 2>&1)
        echo "(alice's day in Redis after A's restart ($1): $(sed -n 's/.*"day":{\("messages":[0-9]*\).*/\1/p' <<<"$js"))"
        check "$1_spill_counts_in_redis" "$js" /usr/bin/python3 -c 'import json,sys
j=json.loads(sys.stdin.read())
assert j["windows"]["day"]["messages"] == 1, j["windows"]["day"]' <<<"$js"
    }

    # f. A stopped while Redis is away: what A counted in memory goes to its
    # spill file, and after its next start into Redis
    stop_pidfile "$E2E_RUN/redis-server.pid" 5 redis-server
    out=$(send a "$A" rd-spill "carol@$E2E_RCPT_DOMAIN")
    sent rd-spill "$out" >/dev/null
    check f_flows_without_redis "$out" test "${out#* }" = accept
    stop_pidfile "$E2E_RUN/spoofguardd-a.pid" 35 spoofguardd-a
    check f_spill_written "$(grep -h 'outbound_spill\|merge_failed' "$LOG_A" | tail -n2 | tr '\n' ' ')" \
        grep -q '"event":"outbound_spill_written","path":"'"$E2E_DIR/spill/a.spill"'"' "$LOG_A"
    check f_spill_file "$(ls -l "$E2E_DIR/spill")" test -s "$E2E_DIR/spill/a.spill"
    restart_a_after_outage f first

    # g. A killed (-9) while Redis is away: the spill file it keeps during
    # the outage (every outbound_spill_interval, here 1 s) survives the crash
    stop_pidfile "$E2E_RUN/redis-server.pid" 5 redis-server
    out=$(send a "$A" rd-crash "carol@$E2E_RCPT_DOMAIN")
    sent rd-crash "$out" >/dev/null
    check g_flows_without_redis "$out" test "${out#* }" = accept
    for ((i = 0; i < 50; i++)); do [ -s "$E2E_DIR/spill/a.spill" ] && break; sleep 0.1; done
    check g_spill_kept_during_outage "$(ls -l "$E2E_DIR/spill")" test -s "$E2E_DIR/spill/a.spill"
    kill -9 "$(tr -dc 0-9 <"$E2E_RUN/spoofguardd-a.pid")"
    sleep 0.5
    restart_a_after_outage g second

    # nothing lost: release the held ones, everything is delivered
    postsuper -c "$PFETC" -H ALL >/dev/null 2>&1
    postqueue -c "$PFETC" -f >/dev/null 2>&1
    lost=''
    while read -r tok q act; do
        if [ "$q" = lost ]; then lost="$lost $tok(refused)"; continue; fi
        wait_mail "body $tok" 15 >/dev/null || lost="$lost $tok"
    done <"$RES/sent"
    check nothing_lost "not delivered:$lost" test -z "$lost"
    for x in a b; do
        stop_pidfile "$E2E_RUN/spoofguardd-$x.pid" 35 "spoofguardd-$x"
        if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$E2E_DIR/spoofguardd-$x".*log; then
            ko "no_sanitizer_reports_$x" "$(grep -h -m2 -E 'ERROR|runtime error' "$E2E_DIR/spoofguardd-$x".*log | tr '\n' '|')"
        else
            ok "no_sanitizer_reports_$x"
        fi
    done
    exit 0
fi

# ---------------------------------------------------------------- outer --
[ "$(id -u)" = 0 ] || fail_early "needs root (tests/e2e/with-env.sh)"
SGD=$(dirname "$SG_CLI")/spoofguardd
[ -x "$SGD" ] || fail_early "no daemon at $SGD"
for t in swaks unbound postfix redis-server; do
    command -v "$t" >/dev/null || [ -x "/usr/bin/$t" ] || fail_early "$t is not installed (scripts/install-deps.sh)"
done
export E2E_DIR=${E2E_OUTBOUND_REDIS_DIR:-/run/spoofguard-e2e-obredis}
export MILTER=${MILTER:-inet:127.0.0.1:${E2E_OB_MILTER_PORT:-18891}}
export SGD
e2e_outer "e2e outbound Redis tests" 20
