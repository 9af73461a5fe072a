#!/usr/bin/env bash
# The Redis store of outbound abuse detection under contention and
# failure (outside probe adv13): a real redis-server on a free loopback
# port, no persistence, shared by two spoofguardd hosts (two workers each),
# driven as Postfix drives them (tests/interop/outbound_contention.py):
# one account's parallel sessions over both hosts keep to the shared
# limit and are never counted in a host's memory while Redis answers; a
# blocked account's parallel bursts get nothing out; a record Redis lost
# and that was blocked again is never written back by a host that cached
# the old one; Redis refusing writes keeps a block it holds, and the gauge
# and the log say so. Also: a database Redis does not have (redis://.../99)
# is refused by the connection, never replaced by database 0. And a host
# whose clock is an hour ahead (tests/support/timeshift.c): one login
# alternating between it and another host keeps to the limit, since both
# decide on Redis's clock (adv43 F1: each host's writes erased the other's
# counts, 120 of 120 allowed), and the host says its clock is off
# (outbound_clock_skew).
# Exit 77 when redis-server is missing.
set -uo pipefail
SG_SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SG_CLI=${SG_CLI:-$SG_SRC/build/spoofguard}
SGD=${SG_DAEMON:-$(dirname "$SG_CLI")/spoofguardd}
PY=/usr/bin/python3
for tool in redis-server redis-cli; do
    command -v "$tool" >/dev/null || { echo "SKIPPED: $tool is not installed"; exit 77; }
done
[ -x "$SGD" ] || { echo "FAIL: no daemon at $SGD"; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/sg-obcont.XXXXXX")
chmod 755 "$T"
PIDS=()
pid_alive() {
    local st
    [ -n "${1:-}" ] && [ -d "/proc/$1" ] || return 1
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$st" != Z ]
}
cleanup() {
    for p in "${PIDS[@]}"; do
        if pid_alive "$p"; then kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; fi
    done
    [ -f "$T/redis.pid" ] && kill "$(cat "$T/redis.pid")" 2>/dev/null
    if [ -n "${SG_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fatal() { echo "FAIL $*"; echo "0 passed, 1 failed"; exit 1; }

read -r RPORT PA PB MA MB PC MC PD MD < <($PY "$SG_SRC/tests/interop/milter_client.py" freeport 9)
cc -O1 -shared -fPIC -o "$T/timeshift.so" "$SG_SRC/tests/support/timeshift.c" -ldl ||
    fatal "cannot build tests/support/timeshift.c"
[ "$(SG_SHIFT=3600 LD_PRELOAD=$T/timeshift.so date +%s)" -ge $(($(date +%s) + 3590)) ] ||
    fatal "timeshift.so does not move the clock"
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$T/redis.pid" --logfile "$T/redis.log" --dir "$T" || fatal "redis-server"
for ((i = 0; i < 50; i++)); do
    redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break
    sleep 0.1
done
for i in $(seq 1 30); do echo "p$i@ourco.test p$i@ourco.test"; done >"$T/senders"
mkdir -p "$T/spill"
start_daemon() { # NAME MILTER METRICS STORE
    cat >"$T/$1.conf" <<CONF
listen              inet:127.0.0.1:$2
metrics_listen      127.0.0.1:$3
authserv_id         mx.contention.test
workers             ${WORKERS:-2}
internal_networks   127.0.0.1/32, ::1/128, 10.0.0.0/8
protected_domains   ourco.test
sender_map          $T/senders
log_file            $T/$1.log
outbound            yes
outbound_store      $4
outbound_redis_timeout_ms 500
outbound_spill      $T/spill/$1.spill
outbound_limit      learning_days 0
CONF
    if [ "$(id -u)" = 0 ]; then
        echo "user                nobody" >>"$T/$1.conf"
        touch "$T/$1.log"
        chown nobody "$T/$1.log" "$T/spill"
    fi
    if [ -n "${SHIFT:-}" ]; then # the shim before libasan: ASan is told not to mind
        SG_SHIFT=$SHIFT LD_PRELOAD="$T/timeshift.so" \
            ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
            "$SGD" -c "$T/$1.conf" 2>>"$T/$1.err" &
    else
        "$SGD" -c "$T/$1.conf" 2>>"$T/$1.err" &
    fi
    PIDS+=($!)
    $PY "$SG_SRC/tests/interop/milter_client.py" waitport "$2" 10 ||
        fatal "spoofguardd $1 did not start: $(tail -n5 "$T/$1.err")"
}
start_daemon a "$PA" "$MA" "redis://127.0.0.1:$RPORT"
start_daemon b "$PB" "$MB" "redis://127.0.0.1:$RPORT"
SHIFT=3600 WORKERS=1 start_daemon d "$PD" "$MD" "redis://127.0.0.1:$RPORT"
dbfail=0

# a database Redis does not have (it has 16): down, with Redis's reason,
# so its decisions are counted in memory, none in database 0
start_daemon c "$PC" "$MC" "redis://127.0.0.1:$RPORT/99"
for ((i = 0; i < 50; i++)); do
    grep -q '"outbound_store_down".*SELECT 99 failed' "$T/c.log" 2>/dev/null && break
    sleep 0.1
done
if grep -q '"outbound_store_down".*SELECT 99 failed' "$T/c.log" 2>/dev/null; then
    echo "PASS redis://.../99: down (SELECT 99 failed), not database 0"
else
    echo "FAIL redis://.../99: no outbound_store_down with SELECT 99 failed: $(tail -n3 "$T/c.log" 2>/dev/null)"
    dbfail=1
fi
# the CLI on a database Redis does not have: refused, nothing written in
# database 0 (rev27 R27-2: its clock's TIME left the connection there)
"$SG_CLI" accounts block db99@ourco.test --store "redis://127.0.0.1:$RPORT/99" >/dev/null 2>"$T/cli99.err"
rc99=$?
if [ $rc99 != 0 ] && [ "$(redis-cli -p "$RPORT" EXISTS sgob:db99@ourco.test)" = 0 ] &&
    grep -q 'SELECT 99 failed' "$T/cli99.err"; then
    echo "PASS spoofguard accounts on redis://.../99: refused, nothing in database 0"
else
    echo "FAIL accounts block on redis://.../99: rc $rc99, in database 0: $(redis-cli -p "$RPORT" EXISTS sgob:db99@ourco.test), $(cat "$T/cli99.err")"
    dbfail=1
fi
$PY "$SG_SRC/tests/interop/outbound_contention.py" "$PA" "$PB" "$MA" "$MB" "$RPORT" "$SG_CLI" \
    "$T/a.log" "$T/b.log" "$PD" "$T/d.log"
rc=$?
[ $dbfail = 0 ] || rc=1

if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.err 2>/dev/null; then
    echo "FAIL sanitizers: $(grep -hE -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.err | head -20)"
    rc=1
fi
exit $rc
