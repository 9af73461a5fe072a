#!/usr/bin/env bash
# Outbound signing throughput of spoofguardd (issue 12: keys in a signer
# process must keep it within 10% of signing in the milter process).
#
#   bench/sign_load.sh [--clients C] [--seconds S] [--rounds R] DAEMON [DAEMON...]
#
# Each DAEMON (a spoofguardd binary) signs with an RSA-2048 and an Ed25519
# key (the recommended pair, two signatures per message) for a ~2 KiB
# message from an authenticated sender, driven by C milter connections
# (bench/sign_load.py) for S seconds; the daemons take turns, R rounds, so
# the machine's load falls on all of them alike. Prints one JSON line per
# daemon and round (with the CPU time of the daemon and its signer per
# message, which the machine's other load disturbs less), then each
# daemon's medians.
# No DNS is needed (outbound mail is only signed). Env SG_CLI: the CLI that
# makes the keys (default build/spoofguard); SG_WORKERS (default 2).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
CLI=${SG_CLI:-$SRC/build/spoofguard}
CLIENTS=4 SECONDS_=10 ROUNDS=3
while [ $# -gt 0 ]; do
    case "$1" in
    --clients) CLIENTS=$2; shift 2 ;;
    --seconds) SECONDS_=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "usage: $0 [--clients C] [--seconds S] [--rounds R] DAEMON..." >&2; exit 2; }
T=$(mktemp -d /tmp/sg-signload.XXXXXX)
chmod 755 "$T"
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$T"' EXIT
mkdir -m 700 "$T/keys"
"$CLI" keygen --domain ourco.test --selector rsa1 --out "$T/keys" >/dev/null
"$CLI" keygen --domain ourco.test --selector ed1 --type ed25519 --out "$T/keys" >/dev/null
printf 'rsa ourco.test:rsa1:%s/keys/rsa1.private\ned ourco.test:ed1:%s/keys/ed1.private\n' "$T" "$T" >"$T/KeyTable"
printf '*@ourco.test rsa\n*@ourco.test ed\n' >"$T/SigningTable"
echo 'alice@ourco.test @ourco.test' >"$T/senders"
{
    printf 'Subject: quarterly numbers\r\nFrom: Alice <alice@ourco.test>\r\nTo: bob@rcpt.test\r\n'
    printf 'Date: Fri, 04 Dec 2026 07:00:00 +0000\r\nMessage-ID: <bench@ourco.test>\r\n\r\n'
    for i in $(seq 30); do printf 'Line %02d of the body, long enough to look like real text here.\r\n' "$i"; done
} >"$T/msg.eml"
port=$(/usr/bin/python3 "$SRC/tests/interop/milter_client.py" freeport 1)
declare -A rates cpus
for r in $(seq "$ROUNDS"); do
    for d in "$@"; do
        cat >"$T/conf" <<CONF
listen inet:127.0.0.1:$port
workers ${SG_WORKERS:-2}
dns_servers 127.0.0.1:9
internal_networks 127.0.0.1/32
signing_table $T/SigningTable
key_table $T/KeyTable
sender_map $T/senders
user ${SG_USER:-nobody}
log_file /dev/null
CONF
        "$d" -c "$T/conf" 2>"$T/err" &
        pid=$!
        for _ in $(seq 100); do
            /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
            sleep 0.05
        done
        kill -0 "$pid" 2>/dev/null || { echo "$d did not start: $(cat "$T/err")" >&2; exit 1; }
        line=$(/usr/bin/python3 "$HERE/sign_load.py" "$port" "$T/msg.eml" "$CLIENTS" "$SECONDS_")
        # CPU of the daemon and its children (the signer), start-up included
        ticks=$(for p in /proc/[0-9]*; do
            pp=$(awk '{print $1, $4}' "$p/stat" 2>/dev/null) || continue
            case " $pp " in *" $pid "*) awk '{print $14 + $15}' "$p/stat" ;; esac
        done | awk '{s += $1} END {print s}')
        kill -TERM "$pid"; wait "$pid" || true; pid=
        n=$(echo "$line" | sed 's/.*"messages": \([0-9]*\).*/\1/')
        cpu=$(awk -v t="$ticks" -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
        echo "{\"daemon\":\"$d\",\"round\":$r,\"cpu_us_per_message\":$cpu,${line#\{}"
        cpus[$d]="${cpus[$d]:-} $cpu"
        rates[$d]="${rates[$d]:-} $(echo "$line" | sed 's/.*"per_second": \([0-9.]*\).*/\1/')"
    done
done
for d in "$@"; do
    med=$(echo ${rates[$d]} | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    cmed=$(echo ${cpus[$d]} | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "median $d: $med messages/s, $cmed us of CPU per message (daemon + signer)"
done
