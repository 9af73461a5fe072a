#!/usr/bin/env bash
# Black-box tests of the milter daemon spoofguardd, without an MTA: the test
# plays Postfix 3.7 over the milter protocol (tests/interop/milter_client.py,
# stdlib Python) against a real spoofguardd and a real DNS server (a private
# unbound on a free loopback port serving tests/data/milter/test.zone.in with
# DKIM keys made here), and asserts the daemon's exact replies:
#   negotiation; TCP_NODELAY on the daemon's end of a session; inbound genuine (A-R with dkim=pass dmarc=pass); forged
#   p=reject From (550 5.7.1 at EOM); our protected p=none domain from
#   outside (550 5.7.1); quarantine and never_reject_domains; forged
#   Authentication-Results with our authserv-id (deleted by chgheader);
#   trusted_arc_sealers (a forged p=reject From sealed by a trusted
#   forwarder that recorded dmarc=pass: accepted, dmarc=fail kept, logged;
#   by an untrusted one: 550); arc_seal_key (a forwarder's ARC set on what
#   it passes on, verified by `spoofguard verify` and dkimpy, also on top
#   of an existing chain; none on a rejected message; -t refuses a missing
#   or non-RSA key; none on a chain whose sealer's key got no answer);
#   outbound sender ownership (at MAIL and at EOM) and signing, the
#   signatures verified by `spoofguard dkim-verify` and dkimpy; DNS down
#   (tempfail 451 4.7.1, then `failsafe accept` by SIGHUP); malformed and
#   truncated packets, a second OPTNEG, a peer that never reads its answers,
#   200 connections at once, allocations failing (every session it
#   negotiated answered, the fail-safe tempfail at worst), connections closed
#   mid-message, messages after ABORT (the header changes queued for a
#   message aborted while it waits go with it; a MAIL without ABORT has its
#   own login or none), silence after an answer made in a callback
#   (each followed by a fresh normal
#   session and a liveness check); SIGHUP with a new key table; SIGTERM
#   drain (exit 0).
# Prints "N passed, N failed"; exits non-zero on failure, 77 when a tool is
# missing (unbound, dig). Works with the ASan/UBSan build: sanitizer
# reports in the daemon's stderr fail the run.
# Env (set by ctest): SG_CLI (spoofguardd is taken from the same directory),
# SG_SRC, SG_TEST_DATA. Optional: SG_DAEMON (another spoofguardd), SG_KEEP=1
# (keep the temporary directory: configs, zone, keys, the daemons' logs).
# Each check is one function in milter_client.py (`milter_client.py list`).
set -uo pipefail
SG_SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SG_CLI=${SG_CLI:-$SG_SRC/build/spoofguard}
SGD=${SG_DAEMON:-$(dirname "$SG_CLI")/spoofguardd}
DATA=${SG_TEST_DATA:-$SG_SRC/tests/data}/milter
PY=/usr/bin/python3
CLIENT=$SG_SRC/tests/interop/milter_client.py
export SG_CLI

for tool in unbound unbound-checkconf dig; do
    command -v "$tool" >/dev/null || { echo "SKIPPED: $tool is not installed"; exit 77; }
done
[ -x "$SGD" ] || { echo "FAIL: no daemon at $SGD"; echo "0 passed, 1 failed"; exit 1; }
[ -x "$SG_CLI" ] || { echo "FAIL: no CLI at $SG_CLI"; echo "0 passed, 1 failed"; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/sg-milter.XXXXXX")
chmod 700 "$T"
# Started as root, spoofguardd runs as `user` (nobody here): the folder is
# its own, so reloads re-read the configuration and tables and the unix
# socket is removed at exit. The keys stay root's (the signer reads them).
[ "$(id -u)" = 0 ] && chown nobody "$T"
# the tables in a folder of root's, outside $T: whoever can change the
# KeyTable or a folder on the way to it (nobody owns $T) chooses the keys
# the signer loads, and it refuses one its user could; $T/etc leads there
# for the helpers that rewrite the tables, the configurations name it as it is
ETC=$(mktemp -d "${TMPDIR:-/tmp}/sg-milter-etc.XXXXXX")
chmod 755 "$ETC"
ln -s "$ETC" "$T/etc"
export SG_DIR=$T
MAIN_PID='' DOWN_PID='' BH_PID='' SLOW_PID='' SEAL_PID='' DROP_PID='' GIVEUP_PID='' SEALTMP_PID='' OOM_PID=''
passes=0 fails=0 t_start=$(date +%s)

pid_alive() { # zombie-aware: a crashed child stays a zombie until waited for
    local st
    [ -n "${1:-}" ] && [ -d "/proc/$1" ] || return 1
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$st" != Z ]
}

cleanup() {
    local p d
    for p in $MAIN_PID $DOWN_PID $SLOW_PID $SEAL_PID $BH_PID ${FD_PID:-} ${PROG_PID:-} $GIVEUP_PID \
        $DROP_PID $SEALTMP_PID $OOM_PID; do
        pid_alive "$p" && kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    for d in "$T/dns" "$T/dns2"; do
        [ -f "$d/unbound.pid" ] || continue
        p=$(tr -dc 0-9 <"$d/unbound.pid")
        if pid_alive "$p" && tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF "$d/unbound.conf"; then
            kill "$p" 2>/dev/null
        fi
    done
    wait 2>/dev/null
    if [ -n "${SG_KEEP:-}" ]; then echo "kept $T $ETC"; else rm -rf "$T" "$ETC"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() {
    echo "PASS $1"
    passes=$((passes + 1))
}
ko() {
    echo "FAIL $1: $2"
    fails=$((fails + 1))
}
fatal() {
    ko "$1" "$2"
    echo "$passes passed, $fails failed"
    exit 1
}

# check NAME...: run milter_client checks against the daemon in $PORT/$PID
check() {
    local out line
    out=$(SG_MILTER_PORT=$PORT SG_MILTER_PID=$PID SG_LOG_NAME=$NAME SG_CONF=$T/$NAME.conf \
        SG_METRICS_PORT=${METRICS_PORT:-} \
        timeout 60 "$PY" "$CLIENT" check "$@" 2>&1)
    while IFS= read -r line; do
        case "$line" in
        PASS\ *) ok "${line#PASS }" ;;
        FAIL\ *) ko "${line#FAIL }" "" ;;
        *) [ -z "$line" ] || echo "  $line" ;;
        esac
    done <<<"$out"
    # a check killed by timeout or a Python traceback prints no verdict
    grep -qE '^(PASS|FAIL) ' <<<"$out" || ko "$*" "no verdict (hung or crashed)"
}

alive() { # NAME: the daemon in $PID still runs
    if pid_alive "$PID"; then ok "$1"; else ko "$1" "spoofguardd (pid $PID) is gone: $(tail -n3 "$T/$NAME.err")"; fi
}

# --- keys, zone, messages -------------------------------------------------------
mkdir -p "$T/keys" "$T/msgs" "$T/dns"
chmod 700 "$T/keys"
keygen() { # domain selector type
    "$SG_CLI" keygen --domain "$1" --selector "$2" --type "$3" --out "$T/keys" \
        >"$T/keys/$2.txt" 2>"$T/keys/$2.err" || fatal setup "keygen $1 $2: $(cat "$T/keys/$2.err")"
}
keygen remote.test r1 rsa
keygen ourco.test rsa1 rsa
keygen ourco.test ed1 ed25519
keygen ourco.test new1 ed25519
keygen fwd.test arc1 rsa
keygen evil.test arc9 rsa
for k in "$T"/keys/*.private; do
    [ "$(stat -c %a "$k")" = 600 ] || fatal setup "$k is not mode 0600"
done
{
    sed '/@KEYS@/d' "$DATA/test.zone.in"
    cat "$T"/keys/*.txt
} >"$T/test.zone"

"$SG_CLI" sign --canon simple/simple --domain remote.test --selector r1 --key "$T/keys/r1.private" \
    "$DATA/msgs/genuine.eml" >"$T/msgs/genuine.signed.eml" 2>"$T/sign.err" ||
    fatal setup "sign: $(cat "$T/sign.err")"
cp "$DATA"/msgs/*.eml "$T/msgs/"
# forged Authentication-Results on top of the genuine message: by another
# host (kept), ours (deleted), by a host whose name merely starts with our
# authserv-id (kept), ours with a version and a lower-case field name (deleted)
{
    printf 'Authentication-Results: mx.other.example; spf=pass smtp.mailfrom=remote.test\n'
    printf 'Authentication-Results: mx.sgtest.example;\n\tdkim=pass header.d=remote.test;\n\tdmarc=pass\n'
    printf 'Authentication-Results: mx.sgtest.example.evil.test; dkim=pass header.d=remote.test\n'
    printf 'authentication-results: mx.sgtest.example 1; dmarc=pass header.from=remote.test\n'
    cat "$T/msgs/genuine.signed.eml"
} >"$T/msgs/forged-ar.eml"
{
    printf 'Authentication-Results: mx.sgtest.example; dkim=pass header.d=remote.test\n'
    cat "$T/msgs/genuine.signed.eml"
} >"$T/msgs/forged-ar1.eml"
# the forged p=reject message, ARC-sealed by a forwarder that says it saw
# dmarc=pass: fwd.test is in main's trusted_arc_sealers, evil.test is not
arc_seal() { # domain selector out
    "$SG_CLI" arc-seal --domain "$1" --selector "$2" --key "$T/keys/$2.private" \
        --authserv-id "mx.$1" --zone "$T/test.zone" \
        --results "spf=pass smtp.mailfrom=remote.test; dmarc=pass header.from=remote.test" \
        "$DATA/msgs/forged-remote.eml" >"$3" 2>"$T/seal.err" ||
        fatal setup "arc-seal $1: $(cat "$T/seal.err")"
}
arc_seal fwd.test arc1 "$T/msgs/arc-trusted.eml"
arc_seal evil.test arc9 "$T/msgs/arc-untrusted.eml"

# --- DNS: a private unbound serving test.zone ----------------------------
read -r DNS_PORT MAIN_PORT DOWN_PORT BH_PORT SLOW_PORT SEAL_PORT SEAL_METRICS FD_PORT FD_METRICS \
    PROG_PORT DROP_PORT GIVEUP_PORT DROPARC_PORT SEALTMP_PORT SEALTMP_METRICS OOM_PORT \
    < <("$PY" "$CLIENT" freeport 16)
start_unbound() { # DIR PORT
    SG_DNS_ZONE_NAME=test SG_DNS_ZONE_FILE="$T/test.zone" \
        bash "$SG_SRC/tests/env/dns-server.sh" start "$1" "$2" >/dev/null ||
        fatal setup "the test DNS did not start"
}
start_unbound "$T/dns" "$DNS_PORT"

# --- tables and configurations ---------------------------------------------------
cp "$DATA/senders" "$DATA/SigningTable" "$T/"
sed -e "s|@DIR@|$T|g" -e "s|@ED_SELECTOR@|ed1|g" "$DATA/KeyTable.in" >"$T/etc/KeyTable"
sed -e "s|@DIR@|$T|g" -e "s|@ED_SELECTOR@|new1|g" "$DATA/KeyTable.in" >"$T/etc/KeyTable.new"
mkconf() { # name milter-port dns-port timeout-ms tries [extra lines]
    sed -e "s|@DIR@/etc/|$ETC/|g" -e "s|@DIR@|$T|g" -e "s|@NAME@|$1|g" -e "s|@MILTER_PORT@|$2|g" -e "s|@DNS_PORT@|$3|g" \
        -e "s|@DNS_TIMEOUT_MS@|$4|g" -e "s|@DNS_TRIES@|$5|g" -e "s|@FAILSAFE@|tempfail|g" \
        -e "s|@MAX_CONNECTIONS@|1000|g" "$DATA/spoofguardd.conf.in" >"$T/$1.conf"
    [ "$(id -u)" != 0 ] || echo "user nobody" >>"$T/$1.conf"
    local line
    while IFS= read -r line; do # extra lines replace the template's
        [ -n "$line" ] || continue
        sed -i "/^${line%% *} /d" "$T/$1.conf"
        printf '%s\n' "$line" >>"$T/$1.conf"
    done <<<"${6:-}"
}
mkconf main "$MAIN_PORT" "$DNS_PORT" 1000 2 \
    "$(printf 'trusted_arc_sealers fwd.test\nsender_display_names_exempt helpdesk@ourco.test, crm')"
mkconf down "$DOWN_PORT" "$BH_PORT" 200 1
# a forwarder that ARC-seals what it passes on, with fwd.test's key
{
    cat "$T/etc/KeyTable"
    printf 'fwd-arc fwd.test:arc1:%s/keys/arc1.private\n' "$T"
} >"$T/etc/KeyTable.seal"
mkconf seal "$SEAL_PORT" "$DNS_PORT" 1000 2 \
    "$(printf 'key_table %s\narc_seal_key fwd-arc\nmetrics_listen 127.0.0.1:%s' "$ETC/KeyTable.seal" "$SEAL_METRICS")"
# one worker and metrics, started with few file descriptors (fd_exhaustion)
mkconf fd "$FD_PORT" "$DNS_PORT" 1000 2 "$(printf 'workers 1\nmetrics_listen 127.0.0.1:%s' "$FD_METRICS")"
# DNS that never answers, 3 tries of 2.5 s, a 20 s budget: the verdict
# waits 7.5 s, longer than Sendmail waits for a reply (10 s by default)
# when the test client waits 5 (progress)
mkconf prog "$PROG_PORT" "$BH_PORT" 2500 3 "message_timeout_s 20"
# time budget shorter than one DNS try; 3 connections; 100K messages
mkconf slow "$SLOW_PORT" "$BH_PORT" 1500 1 \
    "$(printf 'message_timeout_s 1\nmax_connections 3\nmax_message_size 100K\nbatch_scheduling no')"
# DNS where names under slow.test never answer (a forger's own domain), a
# budget shorter than one of his lookups, and the fail-safe answer accept
mkconf giveup "$GIVEUP_PORT" "$DROP_PORT" 1500 2 \
    "$(printf 'message_timeout_s 2\nfailsafe accept')"
# the forwarder again, where the chain's sealer (fwd.test) never answers
mkconf oom "$OOM_PORT" "$DNS_PORT" 1000 2 "workers 1"
mkconf sealtmp "$SEALTMP_PORT" "$DROPARC_PORT" 300 1 \
    "$(printf 'key_table %s\narc_seal_key fwd-arc\nmetrics_listen 127.0.0.1:%s' "$ETC/KeyTable.seal" "$SEALTMP_METRICS")"

if "$SGD" -t -c "$T/main.conf" >"$T/t.out" 2>&1 && grep -q 'configuration OK' "$T/t.out"; then
    ok config_test
else
    ko config_test "spoofguardd -t: $(tail -n3 "$T/t.out")"
fi

# signing with no sender_map: logins are refused (adv21 F1), and -t says so
grep -v '^sender_map ' "$T/main.conf" >"$T/nomap.conf"
if "$SGD" -t -c "$T/nomap.conf" >"$T/t-nomap.out" 2>&1 &&
    grep -q 'warning: .*the key_table has keys but there is no sender_map: mail from authenticated logins is refused' "$T/t-nomap.out" &&
    ! grep -q 'there is no sender_map' "$T/t.out"; then
    ok config_test_no_sender_map
else
    ko config_test_no_sender_map "$(grep -v '^[a-z#]' "$T/t-nomap.out" | tail -n3)"
fi

# -t refuses what the start would refuse (adv21 F4): each line is added to
# the main configuration, and -t must fail naming the cause
mkdir "$T/store-ro"
while IFS='|' read -r conf want; do
    { grep -v "^${conf%% *} " "$T/main.conf"; printf '%b\n' "$conf"; } >"$T/bad.conf"
    if ! "$SGD" -t -c "$T/bad.conf" >"$T/t-bad.out" 2>&1 && grep -q "$want" "$T/t-bad.out"; then
        ok "config_test_refuses: $conf"
    else
        ko "config_test_refuses: $conf" "$(grep -v '^[a-z#]' "$T/t-bad.out" | tail -n2)"
    fi
done <<BADCONF
user root|user: 'root' is root
listen unix:$T/no-such-folder/milter.sock|socket's folder $T/no-such-folder does not exist
outbound yes\\noutbound_store $T/no-such-folder/ob|outbound_store: the folder $T/no-such-folder/ob does not exist
report_store $T/no-such-folder/reports.db|report_store: the folder $T/no-such-folder does not exist
dns_servers 127.0.0.1:99999|dns_servers
BADCONF
if [ "$(id -u)" = 0 ]; then
    # a report store made by root (`report parse` as root): nobody cannot write it
    : >"$T/store-ro/reports.db"
    chmod 644 "$T/store-ro/reports.db"
    { cat "$T/main.conf"; echo "report_store $T/store-ro/reports.db"; } >"$T/ro.conf"
    if ! "$SGD" -t -c "$T/ro.conf" >"$T/t-ro.out" 2>&1 &&
        grep -q "report_store $T/store-ro/reports.db: not writable by user 'nobody'" "$T/t-ro.out"; then
        ok config_test_store_owner
    else
        ko config_test_store_owner "$(grep -v '^[a-z#]' "$T/t-ro.out" | tail -n2)"
    fi
fi

# started as root, the daemon reads its configuration again at each reload
# as `user`: -t warns when that user cannot (adv16 F5); the configuration
# itself is right, so -t still passes
if [ "$(id -u)" = 0 ]; then
    install -m 0600 "$T/main.conf" "$T/private.conf"
    if ! "$SGD" -t -c "$T/private.conf" >"$T/t-private.out" 2>&1; then
        ko config_test_user_reads "-t failed: $(tail -n2 "$T/t-private.out")"
    elif grep -q "warning: .*private.conf: not readable by user 'nobody'" "$T/t-private.out"; then
        ok config_test_user_reads
    else
        ko config_test_user_reads "no warning: $(grep -v '^[a-z#]' "$T/t-private.out" | tail -n2)"
    fi
    sed 's/^user nobody$/user sg-no-such-user/' "$T/main.conf" >"$T/nouser.conf"
    # the start as root would fail: so does -t (adv21 F4; it was a warning)
    if ! "$SGD" -t -c "$T/nouser.conf" >"$T/t-nouser.out" 2>&1 &&
        grep -q "user: no user 'sg-no-such-user'" "$T/t-nouser.out"; then
        ok config_test_no_user
    else
        ko config_test_no_user "-t passed a user that does not exist: $(tail -n2 "$T/t-nouser.out")"
    fi
    "$SGD" -t -c "$T/main.conf" >"$T/t-main.out" 2>&1
    if grep -q "warning: .*not readable" "$T/t-main.out"; then
        ko config_test_user_reads_ok "a warning for files user nobody can read"
    else
        ok config_test_user_reads_ok
    fi
fi

# private keys readable by others are refused at load, naming file and fix
badkey() { # mode name
    local k=$T/keys/bad-$2.private
    install -m "$1" "$T/keys/ed1.private" "$k"
    sed "s|$T/keys/ed1.private|$k|" "$T/etc/KeyTable" >"$T/etc/KeyTable.$2"
    sed "s|^key_table .*|key_table $ETC/KeyTable.$2|" "$T/main.conf" >"$T/$2.conf"
    if "$SGD" -t -c "$T/$2.conf" >"$T/$2.out" 2>&1; then
        ko "config_key_$2" "a key of mode $1 was accepted"
    elif grep -qF "$k" "$T/$2.out" && grep -q "chmod" "$T/$2.out"; then
        ok "config_key_$2"
    else
        ko "config_key_$2" "error does not name the file and the fix: $(head -c 300 "$T/$2.out")"
    fi
}
badkey 644 world
badkey 640 group

# arc_seal_key must name an RSA key of the key table
badseal() { # name key expected-error
    sed "s|^arc_seal_key .*|arc_seal_key $2|" "$T/seal.conf" >"$T/seal-$1.conf"
    if "$SGD" -t -c "$T/seal-$1.conf" >"$T/seal-$1.out" 2>&1; then
        ko "config_arc_seal_$1" "arc_seal_key $2 was accepted"
    elif grep -qF "$3" "$T/seal-$1.out"; then
        ok "config_arc_seal_$1"
    else
        ko "config_arc_seal_$1" "error: $(head -c 300 "$T/seal-$1.out")"
    fi
}
badseal missing no-such-key "no key 'no-such-key' in key_table"
badseal ed25519 ourco-ed "is not RSA"

# stop_daemon NAME PID CHECK: SIGTERM with no session open: exit 0 soon
stop_daemon() {
    local i rc
    kill -TERM "$2"
    for ((i = 0; i < 200; i++)); do pid_alive "$2" || break; sleep 0.025; done
    if pid_alive "$2"; then
        ko "$3" "still running 5 s after SIGTERM with no session"
        kill -KILL "$2"
        wait "$2" 2>/dev/null
    else
        wait "$2"
        rc=$?
        if [ "$rc" = 0 ]; then ok "$3"; else ko "$3" "exit status $rc: $(tail -n3 "$T/$1.err")"; fi
    fi
}

# start NAME PORT: spoofguardd in the background, ready when it accepts
start_daemon() {
    local name=$1 port=$2 i
    "$SGD" -c "$T/$name.conf" 2>"$T/$name.err" &
    PID=$! NAME=$name PORT=$port
    for ((i = 0; i < 200; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        pid_alive "$PID" || break
        sleep 0.025
    done
    local how="still not accepting after 5 s"
    if ! pid_alive "$PID"; then
        wait "$PID"
        i=$?
        how="exited with status $i"
        [ "$i" -le 128 ] || how="killed by signal $((i - 128))"
        PID=''
    fi
    fatal "start_$name" "spoofguardd $how: $(tail -n5 "$T/$name.err")"
}

start_daemon main "$MAIN_PORT"
MAIN_PID=$PID

# batch_scheduling (default yes): each of the 2 workers runs SCHED_BATCH
# (policy 3, field 41 of /proc/PID/task/TID/stat), the other threads keep
# the default (0); with "no" nothing is batch. The workers set it when they
# start: wait a little for both.
policies() { # PID -> "N0 N3": threads with policy 0, with policy 3
    local t p n0=0 n3=0
    for t in /proc/"$1"/task/*/stat; do
        p=$(sed 's/.*) //' "$t" 2>/dev/null | awk '{print $39}')
        case $p in 0) n0=$((n0 + 1)) ;; 3) n3=$((n3 + 1)) ;; esac
    done
    echo "$n0 $n3"
}
for ((i = 0; i < 40; i++)); do [ "$(policies "$MAIN_PID" | cut -d' ' -f2)" = 2 ] && break; sleep 0.025; done
read -r n0 n3 < <(policies "$MAIN_PID")
[ "$n3" = 2 ] && [ "$n0" -ge 1 ] && ok batch_scheduling_workers ||
    ko batch_scheduling_workers "threads with policy 0: $n0, SCHED_BATCH: $n3 (want 2 workers batch, the rest not)"

# --- 1-6: protocol and policy ------------------------------------------------
check negotiate tcp_nodelay quit_reset genuine genuine_plain_mta forged_reject many_signatures protected quarantine never_reject
check genuine_null_sender genuine_ipv6
check forged_ar forged_ar1 forged_ar_readers actions_respected body_chunking
check arc_trusted_forwarder arc_untrusted_forwarder
# issue 11 classes 4-6: the daemon and the CLI agree on hostile headers
check vparse_line_ends vparse_author_domain vparse_idn
check outbound_wrong_envelope outbound_wrong_from outbound_quoted_local outbound_sender_field outbound_sign \
    outbound_xtext_login \
    outbound_internal outbound_reinjected outbound_big_body outbound_long_line outbound_case outbound_two_from \
    outbound_display_names reply_percent outbound_sendmail_rewrites outbound_mail_without_abort
check silent_after_async_answer
alive alive_after_policy

# an accepted milter connection is probed (keepalive after 2 minutes): an
# MTA that vanished does not hold a session for the 65-minute idle limit
exec 5<>"/dev/tcp/127.0.0.1/$MAIN_PORT"
printf '\000\000\000\015O\000\000\000\006\000\000\001\377\000\037\377\377' >&5 # OPTNEG
sleep 0.3
ka=$(ss -tno state established "( sport = :$MAIN_PORT )" 2>/dev/null | grep -o 'timer:(keepalive,[^)]*)' | head -1)
exec 5>&-
case "$ka" in
timer:\(keepalive,*) ok keepalive ;;
*) ko keepalive "no keepalive timer on the accepted socket: '$ka' $(ss -tno state established "( sport = :$MAIN_PORT )" 2>&1 | tail -2)" ;;
esac

# --- 8: robustness: after each case the daemon is alive and serves a fresh
# normal session correctly ---------------------------------------------------
for c in silent rb_truncated rb_len0 rb_huge rb_garbage rb_header_nonul rb_many rb_close_mid \
    rb_after_abort rb_quit_nc quit_nc_state rb_out_of_order rb_odd_headers rb_optneg_twice \
    rb_answers_not_read; do
    check "$c"
    alive "alive_after_$c"
    check sanity
done

# --- out of file descriptors: said and counted, and accepting again after --------
# (the daemon's descriptors at rest, then a start with two more than that)
start_daemon fd "$FD_PORT"
sleep 0.2
nfd=$(ls "/proc/$PID/fd" | wc -l)
stop_daemon fd "$PID" sigterm_fd_probe
(
    ulimit -n $((nfd + 2))
    exec "$SGD" -c "$T/fd.conf" 2>"$T/fd.err"
) &
PID=$! NAME=fd PORT=$FD_PORT
FD_PID=$PID
for ((i = 0; i < 200; i++)); do [ -e "/proc/$PID/fd" ] && [ "$(ls "/proc/$PID/fd" | wc -l)" -ge "$nfd" ] && break; sleep 0.025; done
sleep 0.2
METRICS_PORT=$FD_METRICS
check fd_exhaustion
METRICS_PORT=
alive alive_after_fd_exhaustion
stop_daemon fd "$FD_PID" sigterm_fd
FD_PID=''
PID=$MAIN_PID NAME=main PORT=$MAIN_PORT

# --- 9: SIGHUP with a new key table -----------------------------------------------
check sighup sighup_storm sighup_sender_map sighup_internal_networks
alive alive_after_sighup
check log_json

# --- 7: DNS down: a port that takes queries and never answers ----------------------
"$PY" "$CLIENT" blackhole "$BH_PORT" "$T/bh.ready" &
BH_PID=$!
for ((i = 0; i < 100; i++)); do [ -s "$T/bh.ready" ] && break; sleep 0.02; done
start_daemon down "$DOWN_PORT"
DOWN_PID=$PID
check dns_down_tempfail dns_down_outbound dns_down_close_pending dns_down_abort_pending
alive alive_dns_down
check sighup_failsafe dns_down_accept
alive alive_dns_down_accept

# limits: time budget, message size, connections
start_daemon slow "$SLOW_PORT"
SLOW_PID=$PID
sleep 0.1 # the workers have started (they accept)
read -r n0 n3 < <(policies "$SLOW_PID")
[ "$n3" = 0 ] && [ "$n0" -ge 3 ] && ok batch_scheduling_no ||
    ko batch_scheduling_no "batch_scheduling no: threads with policy 0: $n0, SCHED_BATCH: $n3"
check budget max_size overload
alive alive_limits
stop_daemon slow "$SLOW_PID" sigterm_slow
SLOW_PID=''

# a DNS proxy before the test's unbound that never answers for one domain
start_dropper() { # port suffix
    rm -f "$T/drop.ready"
    "$PY" "$CLIENT" dropper "$1" "$T/drop.ready" "$DNS_PORT" "$2" &
    DROP_PID=$!
    for ((i = 0; i < 100; i++)); do [ -s "$T/drop.ready" ] && break; sleep 0.02; done
}
stop_dropper() {
    kill "$DROP_PID" 2>/dev/null
    wait "$DROP_PID" 2>/dev/null
    DROP_PID=''
}

# the sender's own DNS cannot spend the time budget (adv23 F1)
start_dropper "$DROP_PORT" slow.test
start_daemon giveup "$GIVEUP_PORT"
GIVEUP_PID=$PID
check slow_sender_dns
alive alive_slow_sender_dns
stop_daemon giveup "$GIVEUP_PID" sigterm_giveup
GIVEUP_PID=''
stop_dropper

# a long wait at end of message: SMFIR_PROGRESS keeps the MTA waiting
start_daemon prog "$PROG_PORT"
PROG_PID=$PID
check progress
stop_daemon prog "$PROG_PID" sigterm_prog
PROG_PID=''

# a forwarder sealing what it passes on (arc_seal_key)
start_daemon seal "$SEAL_PORT"
SEAL_PID=$PID
METRICS_PORT=$SEAL_METRICS
check arc_seal_inbound arc_seal_on_chain arc_seal_not_rejected arc_seal_signer_stalled \
    arc_seal_abort_waiting
alive alive_arc_seal
stop_daemon seal "$SEAL_PID" sigterm_seal
SEAL_PID=''

# the same forwarder when the chain's sealer's key gets no answer: the chain
# is temporary, and cv=fail would end it for every later hop (adv22 F2)
start_dropper "$DROPARC_PORT" fwd.test
start_daemon sealtmp "$SEALTMP_PORT"
SEALTMP_PID=$PID
METRICS_PORT=$SEALTMP_METRICS
check arc_seal_temporary
alive alive_arc_seal_temporary
stop_daemon sealtmp "$SEALTMP_PID" sigterm_sealtmp
SEALTMP_PID=''
stop_dropper

# allocations failing from the first connection on (tests/support/failalloc.c):
# every session answered, the fail-safe answer at worst (adv27 MEM-7). Not
# under AddressSanitizer, whose allocator cannot be interposed.
if [ -n "${SG_SANITIZED:-}" ] || ldd "$SGD" 2>/dev/null | grep -q libasan; then
    echo "skip oom_failsafe (an AddressSanitizer build)"
elif cc -O1 -shared -fPIC -o "$T/failalloc.so" "$SG_SRC/tests/support/failalloc.c" -ldl 2>"$T/cc.err"; then
    for every in ${SG_OOM_EVERY:-37 41 43 47 53 59 61 67 71}; do
        LD_PRELOAD=$T/failalloc.so SG_FAIL_ARM=accept SG_FAIL_AT=$every SG_FAIL_EVERY=$every \
            start_daemon oom "$OOM_PORT"
        OOM_PID=$PID
        check oom_failsafe
        alive "alive_oom_every_$every"
        stop_daemon oom "$OOM_PID" "sigterm_oom_every_$every"
        OOM_PID=''
    done
    # the static answer itself, reached on purpose: every allocation of
    # 60,000 bytes or more fails, as a 64 KiB body packet is read in
    LD_PRELOAD=$T/failalloc.so SG_FAIL_ARM=accept SG_FAIL_AT=1 SG_FAIL_EVERY=1 SG_FAIL_MIN=60000 \
        start_daemon oom "$OOM_PORT"
    OOM_PID=$PID
    check oom_static
    alive alive_oom_static
    stop_daemon oom "$OOM_PID" sigterm_oom_static
    OOM_PID=''
else
    ko oom_failsafe "the allocator shim does not build: $(head -c 300 "$T/cc.err")"
fi

# DNS comes back (a real server on the dead port): normal verdicts again
kill -TERM "$BH_PID" 2>/dev/null && wait "$BH_PID" 2>/dev/null
BH_PID=''
start_unbound "$T/dns2" "$BH_PORT"
PID=$DOWN_PID NAME=down PORT=$DOWN_PORT
check genuine forged_reject
alive alive_dns_back
stop_daemon down "$DOWN_PID" sigterm_idle
DOWN_PID=''

# --- 10: SIGTERM with a session open ---------------------------------------------------
PID=$MAIN_PID NAME=main PORT=$MAIN_PORT
check sigterm
for ((i = 0; i < 200; i++)); do pid_alive "$MAIN_PID" || break; sleep 0.025; done
if pid_alive "$MAIN_PID"; then
    ko sigterm_exit "still running 5 s after its last session ended"
else
    wait "$MAIN_PID"
    rc=$?
    if [ "$rc" = 0 ]; then ok sigterm_exit; else ko sigterm_exit "exit status $rc: $(tail -n3 "$T/main.err")"; fi
fi
MAIN_PID=''

# --- sanitizer reports (the ASan/UBSan build) ------------------------------------------
if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.err >/dev/null 2>&1; then
    ko sanitizers "$(grep -hE -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.err | head -40)"
else
    ok sanitizers
fi

echo "time $(($(date +%s) - t_start)) s"
echo "$passes passed, $fails failed"
[ "$fails" = 0 ]
