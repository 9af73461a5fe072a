#!/usr/bin/env bash
# spoofguardd's Prometheus endpoint (metrics_listen), black-box: a real
# spoofguardd with a private unbound (as tests/scripts/milter_blackbox.sh),
# driven over the milter protocol by tests/interop/milter_client.py, scraped
# over HTTP by tests/interop/metrics_check.py:
#   - metrics_listen refuses non-loopback addresses (spoofguardd -t);
#   - scrapes taken while a session is open and after the mail, checked by
#     `promtool check metrics` (Debian's prometheus package);
#   - counters move by exactly what was sent (sessions, actions, verdicts,
#     SPF/DKIM/DMARC/ARC results against the daemon's own log, signatures
#     by key, message and DNS histograms), fewer than 200 series, every
#     name documented in docs/metrics.md, key ages from the key files;
#   - SIGHUP good and bad: reloads{ok,failed};
#   - a daemon whose DNS never answers: failsafe{dns}, DNS timeouts; the
#     time budget and max_connections: failsafe{timeout,overload} ([::1]);
#   - garbage, oversized, idle and excess HTTP connections: bounded
#     answers, mail unaffected, daemon alive;
#   - a unix-socket endpoint.
# Prints "N passed, N failed"; exit 77 when a tool is missing.
set -uo pipefail
SG_SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SG_CLI=${SG_CLI:-$SG_SRC/build/spoofguard}
SGD=${SG_DAEMON:-$(dirname "$SG_CLI")/spoofguardd}
DATA=${SG_TEST_DATA:-$SG_SRC/tests/data}/milter
PY=/usr/bin/python3
CLIENT=$SG_SRC/tests/interop/milter_client.py
CHECK=$SG_SRC/tests/interop/metrics_check.py
export SG_CLI

for tool in unbound unbound-checkconf dig promtool; do
    command -v "$tool" >/dev/null || { echo "SKIPPED: $tool is not installed"; exit 77; }
done
[ -x "$SGD" ] || { echo "FAIL: no daemon at $SGD"; echo "0 passed, 1 failed"; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/sg-metrics.XXXXXX")
chmod 700 "$T"
# Started as root, spoofguardd runs as `user` (nobody here): the folder is
# its own, so reloads re-read the configuration and tables and the unix
# socket is removed at exit. The keys stay root's (the signer reads them).
[ "$(id -u)" = 0 ] && chown nobody "$T"
# the tables in a folder of root's, outside $T: whoever can change the
# KeyTable or a folder on the way to it (nobody owns $T) chooses the keys
# the signer loads, and it refuses one its user could; $T/etc leads there
# for the helpers that rewrite the tables, the configurations name it as it is
ETC=$(mktemp -d "${TMPDIR:-/tmp}/sg-metrics-etc.XXXXXX")
chmod 755 "$ETC"
ln -s "$ETC" "$T/etc"
export SG_DIR=$T
PIDS='' BH_PID=''
passes=0 fails=0

pid_alive() {
    local st
    [ -n "${1:-}" ] && [ -d "/proc/$1" ] || return 1
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$st" != Z ]
}
cleanup() {
    local p
    for p in $PIDS $BH_PID; do
        pid_alive "$p" && kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    bash "$SG_SRC/tests/env/dns-server.sh" stop "$T/dns" >/dev/null 2>&1
    if [ -n "${SG_KEEP:-}" ]; then echo "kept $T $ETC"; else rm -rf "$T" "$ETC"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ok() { echo "PASS $1"; passes=$((passes + 1)); }
ko() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
fatal() { ko "$1" "$2"; echo "$passes passed, $fails failed"; exit 1; }

# run_py ARGS...: metrics_check.py, its PASS/FAIL lines counted here
run_py() {
    local out line
    out=$(timeout 120 "$PY" "$CHECK" "$@" 2>&1)
    while IFS= read -r line; do
        case "$line" in
        PASS\ *) ok "${line#PASS }" ;;
        FAIL\ *) ko "${line#FAIL }" "" ;;
        *) [ -z "$line" ] || echo "  $line" ;;
        esac
    done <<<"$out"
    grep -qE '^(PASS|FAIL) ' <<<"$out" || ko "$1" "no verdict (hung or crashed)"
}

# --- keys (dated two days back: the key age metric), zone, messages -----
mkdir -p "$T/keys" "$T/msgs" "$T/dns"
chmod 700 "$T/keys"
for k in "remote.test r1 rsa" "ourco.test rsa1 rsa" "ourco.test ed1 ed25519"; do
    set -- $k
    "$SG_CLI" keygen --domain "$1" --selector "$2" --type "$3" --out "$T/keys" \
        >"$T/keys/$2.txt" 2>"$T/keys/$2.err" || fatal setup "keygen: $(cat "$T/keys/$2.err")"
done
touch -d '2 days ago' "$T"/keys/*.private
{
    sed '/@KEYS@/d' "$DATA/test.zone.in"
    cat "$T"/keys/*.txt
} >"$T/test.zone"
cp "$DATA"/msgs/*.eml "$T/msgs/"
"$SG_CLI" sign --canon simple/simple --domain remote.test --selector r1 --key "$T/keys/r1.private" \
    "$DATA/msgs/genuine.eml" >"$T/msgs/genuine.signed.eml" 2>"$T/sign.err" ||
    fatal setup "sign: $(cat "$T/sign.err")"
cp "$DATA/senders" "$DATA/SigningTable" "$T/"
sed -e "s|@DIR@|$T|g" -e "s|@ED_SELECTOR@|ed1|g" "$DATA/KeyTable.in" >"$T/etc/KeyTable"

read -r DNS_PORT MAIN_PORT MAIN_M DOWN_PORT DOWN_M BH_PORT < <("$PY" "$CLIENT" freeport 6)
SG_DNS_ZONE_NAME=test SG_DNS_ZONE_FILE="$T/test.zone" \
    bash "$SG_SRC/tests/env/dns-server.sh" start "$T/dns" "$DNS_PORT" >/dev/null ||
    fatal setup "the test DNS did not start"

mkconf() { # name milter-port dns-port timeout-ms tries metrics_listen [extra lines]
    sed -e "s|@DIR@/etc/|$ETC/|g" -e "s|@DIR@|$T|g" -e "s|@NAME@|$1|g" -e "s|@MILTER_PORT@|$2|g" -e "s|@DNS_PORT@|$3|g" \
        -e "s|@DNS_TIMEOUT_MS@|$4|g" -e "s|@DNS_TRIES@|$5|g" -e "s|@FAILSAFE@|tempfail|g" \
        -e "s|@MAX_CONNECTIONS@|1000|g" "$DATA/spoofguardd.conf.in" >"$T/$1.conf"
    [ "$(id -u)" != 0 ] || echo "user nobody" >>"$T/$1.conf"
    echo "metrics_listen $6" >>"$T/$1.conf"
    local line
    while IFS= read -r line; do # extra lines replace the template's
        [ -n "$line" ] || continue
        sed -i "/^${line%% *} /d" "$T/$1.conf"
        printf '%s\n' "$line" >>"$T/$1.conf"
    done <<<"${7:-}"
}

# --- the option: loopback only ------------------------------------------
for bad in 0.0.0.0:9100 192.0.2.1:9100 '[::]:9100' localhost:9100; do
    mkconf bad "$MAIN_PORT" "$DNS_PORT" 1000 2 "$bad"
    if "$SGD" -t -c "$T/bad.conf" >"$T/bad.out" 2>&1; then
        ko "refuse_$bad" "spoofguardd -t accepted metrics_listen $bad"
    elif grep -q "metrics_listen" "$T/bad.out"; then
        ok "refuse_$bad"
    else
        ko "refuse_$bad" "error does not name the option: $(head -c 300 "$T/bad.out")"
    fi
done

start_daemon() { # name milter-port: ready when the milter port accepts
    local i
    "$SGD" -c "$T/$1.conf" 2>"$T/$1.err" &
    PID=$!
    PIDS="$PIDS $PID"
    for ((i = 0; i < 200; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
        pid_alive "$PID" || break
        sleep 0.025
    done
    fatal "start_$1" "spoofguardd did not start: $(tail -n5 "$T/$1.err")"
}
stop_daemon() { # name pid
    local i
    kill -TERM "$2"
    for ((i = 0; i < 200; i++)); do pid_alive "$2" || break; sleep 0.025; done
    if pid_alive "$2"; then
        ko "stop_$1" "still running 5 s after SIGTERM"
    else
        wait "$2"
        local rc=$?
        if [ "$rc" = 0 ]; then ok "stop_$1"; else ko "stop_$1" "exit status $rc"; fi
    fi
}
promcheck() { # name file
    local out
    if [ ! -s "$2" ]; then
        ko "promtool_$1" "no scrape saved"
    elif out=$(promtool check metrics <"$2" 2>&1) && [ -z "$out" ]; then
        ok "promtool_$1"
    else
        ko "promtool_$1" "$out"
    fi
}

# --- main daemon: mail flows -------------------------------------------
mkconf main "$MAIN_PORT" "$DNS_PORT" 1000 2 "127.0.0.1:$MAIN_M"
start_daemon main "$MAIN_PORT"
MAIN_PID=$PID
export SG_MILTER_PORT=$MAIN_PORT SG_LOG_NAME=main
run_py flow "$MAIN_M" "$SG_SRC/docs/metrics.md" "$T"
promcheck during_mail "$T/during.prom"
promcheck after_mail "$T/after.prom"
run_py reload "$MAIN_M" "$T/main.conf" "$MAIN_PID"
run_py garbage "$MAIN_M"
if pid_alive "$MAIN_PID"; then ok alive_main; else ko alive_main "spoofguardd is gone: $(tail -n3 "$T/main.err")"; fi
stop_daemon main "$MAIN_PID"

# --- DNS down: the fail-safe answer, counted by cause; unix socket -----
"$PY" "$CLIENT" blackhole "$BH_PORT" "$T/bh.ready" &
BH_PID=$!
for ((i = 0; i < 100; i++)); do [ -s "$T/bh.ready" ] && break; sleep 0.02; done
mkconf down "$DOWN_PORT" "$BH_PORT" 200 1 "127.0.0.1:$DOWN_M"
start_daemon down "$DOWN_PORT"
DOWN_PID=$PID
SG_MILTER_PORT=$DOWN_PORT SG_LOG_NAME=down run_py failsafe "$DOWN_M"
stop_daemon down "$DOWN_PID"

# time budget shorter than one DNS try; 3 connections; metrics on [::1]
mhost=::1
if ! ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/'; then
    echo "  no IPv6 loopback: the [::1] endpoint is not tried"
    mhost=127.0.0.1
fi
mspec=$mhost
[ "$mhost" = ::1 ] && mspec='[::1]'
mkconf slow "$DOWN_PORT" "$BH_PORT" 1500 1 "$mspec:$DOWN_M" \
    "$(printf 'message_timeout_s 1\nmax_connections 3')"
start_daemon slow "$DOWN_PORT"
SLOW_PID=$PID
SG_MILTER_PORT=$DOWN_PORT SG_LOG_NAME=slow SG_METRICS_HOST=$mhost run_py limits "$DOWN_M"
stop_daemon slow "$SLOW_PID"

mkconf unix "$DOWN_PORT" "$DNS_PORT" 1000 2 "unix:$T/metrics.sock"
start_daemon unix "$DOWN_PORT"
UNIX_PID=$PID
if out=$("$PY" - "$T/metrics.sock" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'GET /metrics HTTP/1.0\r\n\r\n')
data = b''
while True:
    c = s.recv(65536)
    if not c:
        break
    data += c
sys.stdout.write(data.decode())
EOF
) && grep -q '^HTTP/1.1 200 OK' <<<"$out" && grep -q '^spoofguard_workers 2$' <<<"$out"; then
    ok unix_socket
else
    ko unix_socket "$(head -c 300 <<<"$out")"
fi
[ "$(stat -c %a "$T/metrics.sock")" = 660 ] && ok unix_socket_mode || ko unix_socket_mode "$(stat -c %a "$T/metrics.sock")"
stop_daemon unix "$UNIX_PID"
[ -e "$T/metrics.sock" ] && ko unix_socket_removed "left behind" || ok unix_socket_removed

if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.err >/dev/null 2>&1; then
    ko sanitizers "$(grep -hE -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.err | head -40)"
else
    ok sanitizers
fi
echo "$passes passed, $fails failed"
[ "$fails" = 0 ]
