#!/usr/bin/env bash
# spoofguardd under a systemd-style supervisor (Type=notify): READY=1 once
# it accepts, WATCHDOG=1 at half of WATCHDOG_USEC, none while a worker's
# loop stands still (worker_stalled logged; worker_recovered and the pings
# again once it moves), RELOADING=1 then READY=1 around a SIGHUP,
# STOPPING=1 on SIGTERM. The supervisor's socket is played by
# tests/interop/notify_listener.py; the wedged worker by
# tests/interop/stall_thread.py (a ptrace stop of that one thread).
set -u
CLI=${SG_CLI:?}
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
D=$(dirname "$CLI")/spoofguardd
T=$(mktemp -d /tmp/sg-notify.XXXXXX)
pid= lpid= spid=
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null; [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ -n "$lpid" ] && kill "$lpid" 2>/dev/null; rm -rf "$T"' EXIT
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
waitfor() { for _ in $(seq 100); do grep -qx "$1" "$2" 2>/dev/null && return 0; sleep 0.05; done; return 1; }

/usr/bin/python3 "$SRC/tests/interop/notify_listener.py" "$T/notify" "$T/got" &
lpid=$!
for _ in $(seq 100); do [ -S "$T/notify" ] && break; sleep 0.05; done
printf 'listen unix:%s/milter.sock\nworkers 1\ndns_servers 127.0.0.1:9\nmetrics_listen %s/metrics.sock\n' "$T" "$T" > "$T/d.conf"
# one sample's value from the metrics endpoint: metric 'NAME{LABELS}'
metric() { curl -s --unix-socket "$T/metrics.sock" http://sg/metrics | awk -v k="$1" '$1 == k { print $2 }'; }
stalls() { curl -s --unix-socket "$T/metrics.sock" http://sg/metrics | grep stall; }
# Started as root, spoofguardd runs as nobody: it must reach its folder
# (reload, socket removal) and the supervisor's socket, as under systemd.
if [ "$(id -u)" = 0 ]; then
    echo "user nobody" >>"$T/d.conf"
    chown nobody "$T"
    chmod 666 "$T/notify"
fi
: > "$T/got"
# 1 s watchdog: a ping is due every 500 ms, and a worker still for 500 ms
# is stalled
NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=1000000 "$D" -c "$T/d.conf" 2> "$T/log" &
pid=$!
waitfor READY=1 "$T/got" && ok "READY=1" || bad "no READY=1: $(cat "$T/got" "$T/log")"
[ -S "$T/milter.sock" ] && ok "socket bound before READY=1" || bad "no socket at READY=1"
grep -qx "MAINPID=$pid" "$T/got" && ok "MAINPID=$pid" || bad "MAINPID: $(cat "$T/got")"
sleep 2
n=$(grep -cx WATCHDOG=1 "$T/got")
[ "$n" -ge 3 ] && [ "$n" -le 6 ] && ok "$n watchdog pings in ~2 s" || bad "$n watchdog pings in ~2 s"
grep -q worker_stalled "$T/log" && bad "a stall logged with every worker running: $(cat "$T/log")"
[ "$(metric 'spoofguard_stalls_total{what="worker"}')" = 0 ] && [ "$(metric 'spoofguard_stalled{what="worker"}')" = 0 ] &&
    ok "metrics: no stall yet" || bad "metrics before the stall: $(stalls)"

# The one worker wedged (its thread stopped, the main thread running on):
# the pings stop, so systemd would restart the daemon
/usr/bin/python3 "$SRC/tests/interop/stall_thread.py" "$pid" sg-worker-0 "$T/stopped" 20 &
spid=$!
for _ in $(seq 100); do [ -s "$T/stopped" ] && break; sleep 0.05; done
if [ ! -s "$T/stopped" ]; then
    bad "could not stop the worker thread (ptrace)"
else
    for _ in $(seq 40); do grep -q '"worker_stalled"' "$T/log" && break; sleep 0.05; done
    grep -qxE '\{"event":"worker_stalled","worker":0,"ms":([5-9][0-9]{2}|[0-9]{4,}),"watchdog":"withheld"\}' "$T/log" &&
        ok "worker_stalled logged" || bad "worker_stalled: $(cat "$T/log")"
    : > "$T/got"
    sleep 1.5
    n=$(grep -cx WATCHDOG=1 "$T/got")
    [ "$n" = 0 ] && ok "no watchdog ping in 1.5 s of stall" || bad "$n watchdog pings while the worker stood still"
    [ "$(metric 'spoofguard_stalls_total{what="worker"}')" = 1 ] && [ "$(metric 'spoofguard_stalled{what="worker"}')" = 1 ] &&
        ok "metrics: one worker stall, stalled now" || bad "metrics in the stall: $(stalls)"
    : > "$T/got"
    kill "$spid"; wait "$spid"; spid=
    waitfor WATCHDOG=1 "$T/got" && ok "the pings again once the worker runs" || bad "no ping after the stall"
    grep -q '"worker_recovered","worker":0,' "$T/log" && ok "worker_recovered logged" ||
        bad "worker_recovered: $(cat "$T/log")"
    for _ in $(seq 40); do [ "$(metric 'spoofguard_stalled{what="worker"}')" = 0 ] && break; sleep 0.05; done
    [ "$(metric 'spoofguard_stalls_total{what="worker"}')" = 1 ] && [ "$(metric 'spoofguard_stalled{what="worker"}')" = 0 ] &&
        ok "metrics: the stall counted once, none now" || bad "metrics after the stall: $(stalls)"
fi
: > "$T/got"
kill -HUP "$pid"
waitfor READY=1 "$T/got" && grep -qx RELOADING=1 "$T/got" &&
    [ "$(grep -nx RELOADING=1 "$T/got" | head -1 | cut -d: -f1)" -lt "$(grep -nx READY=1 "$T/got" | head -1 | cut -d: -f1)" ] &&
    ok "SIGHUP: RELOADING=1 then READY=1" || bad "SIGHUP: $(cat "$T/got")"
grep -q '"reloaded"' "$T/log" && ok "reloaded" || bad "no reload: $(cat "$T/log")"
kill -TERM "$pid"
wait "$pid"; rc=$?; pid=
[ $rc = 0 ] && ok "exit 0" || bad "exit $rc"
waitfor STOPPING=1 "$T/got" && ok "STOPPING=1" || bad "no STOPPING=1: $(cat "$T/got")"
# without NOTIFY_SOCKET (no systemd) the daemon starts as before
env -u NOTIFY_SOCKET WATCHDOG_USEC=400000 "$D" -c "$T/d.conf" 2> "$T/log2" &
pid=$!
for _ in $(seq 100); do grep -q '"started"' "$T/log2" && break; sleep 0.05; done
grep -q '"started"' "$T/log2" && ok "starts without NOTIFY_SOCKET" || bad "$(cat "$T/log2")"
kill -TERM "$pid"; wait "$pid"; pid=
echo "$pass passed, $fail failed"
[ $fail = 0 ]
