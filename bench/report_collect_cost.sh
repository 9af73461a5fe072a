#!/usr/bin/env bash
# What DMARC report collection costs spoofguardd (issue 16: at most 2 % of
# its CPU), counted in instructions rather than timed: on this 2-core machine
# two identical timed runs of bench/milter_load.sh differ by ~9 %, far more
# than the 2 % to resolve, while callgrind's instruction count of the same
# work is the same from run to run whatever else the machine does.
#
#   bench/report_collect_cost.sh [--messages N] [--base M] [--sources K] [--keep]
#
# Plays Postfix over the milter protocol (tests/interop/milter_client.py)
# against spoofguardd under `valgrind --tool=callgrind`, four times:
# collection off and on (report_store, the default flush every 60 s), each with
# M and with M+N messages. Per message = (I(M+N) - I(M)) / N for the daemon
# process (all its threads: the workers, the loop and the report flush
# thread with its SQLite writes), so start-up and shutdown cancel out. The
# signer process is not counted (collection does not touch it).
#
# The messages, over one connection each: 3 in 4 a DKIM-signed message of
# remote.test from its own server (SPF, DKIM and DMARC pass), 1 in 4 a
# forgery of it (p=reject: DMARC fail, refused); the clients come from K
# addresses (default 64) of each kind, so the day's table holds 2K groups:
# the flush's cost per message grows with groups per message, and 128
# groups for 450 messages is far more than a real MX's day holds.
# DNS: a private unbound on loopback (tests/env/dns-server.sh).
#
# Valgrind does not emulate seccomp(2), which the signer process loads at
# start, so the daemon measured is a build of its own in build-nosecc/
# (SG_SIGNER_SECCOMP=OFF, RelWithDebInfo as the default build): the same code
# but for the signer's filter. SPOOFGUARDD=path measures another binary.
#
# Prints the four counts, instructions per message off and on, and the
# overhead in percent. Needs valgrind, unbound, dig, python3; root or not.
# Defaults: N=400, M=50 (a few minutes).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
SGD=${SPOOFGUARDD:-}
CLI=${SPOOFGUARD:-$SRC/build/spoofguard}
PY=/usr/bin/python3
N=400 M=50 K=64 KEEP=
while [ $# -gt 0 ]; do
    case $1 in
    --messages) N=$2 && shift ;;
    --base) M=$2 && shift ;;
    --sources) K=$2 && shift ;;
    --keep) KEEP=1 ;;
    *) echo "usage: $0 [--messages N] [--base M] [--sources K] [--keep]" >&2 && exit 64 ;;
    esac
    shift
done
for t in valgrind unbound dig; do command -v $t >/dev/null || { echo "$t is not installed" >&2; exit 77; }; done
[ -x "$CLI" ] || { echo "build first (scripts/build.sh)" >&2; exit 1; }
if [ -z "$SGD" ]; then
    cmake -S "$SRC" -B "$SRC/build-nosecc" -DSG_SIGNER_SECCOMP=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$SRC/build-nosecc" -j"$(nproc)" --target spoofguardd >/dev/null
    SGD=$SRC/build-nosecc/spoofguardd
fi

T=$(mktemp -d /tmp/sg-rcost.XXXXXX)
chmod 755 "$T"
DPID=
cleanup() {
    [ -z "$DPID" ] || kill -KILL "$DPID" 2>/dev/null || true
    bash "$SRC/tests/env/dns-server.sh" stop "$T/dns" >/dev/null 2>&1 || true
    if [ -n "$KEEP" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

mkdir -p "$T/keys" && chmod 700 "$T/keys"
"$CLI" keygen --domain remote.test --selector r1 --type rsa --out "$T/keys" >"$T/keys/r1.txt"
{
    sed '/@KEYS@/d' "$SRC/tests/data/milter/test.zone.in"
    cat "$T/keys/r1.txt"
} >"$T/test.zone"
"$CLI" sign --domain remote.test --selector r1 --key "$T/keys/r1.private" \
    "$SRC/tests/data/milter/msgs/genuine.eml" >"$T/genuine.eml"
cp "$SRC/tests/data/milter/msgs/forged-remote.eml" "$T/forged.eml"
read -r DNS_PORT MILTER_PORT < <("$PY" "$SRC/tests/interop/milter_client.py" freeport 2)
SG_DNS_ZONE_NAME=test SG_DNS_ZONE_FILE="$T/test.zone" \
    bash "$SRC/tests/env/dns-server.sh" start "$T/dns" "$DNS_PORT" >/dev/null

# As root, the whole run is nobody's: callgrind opens its output file at
# start and writes it at exit, after a daemon started as root has dropped
# to its user.
AS=
[ "$(id -u)" != 0 ] || AS="setpriv --reuid=nobody --regid=nogroup --clear-groups"

conf() { # mode
    cat <<C
listen              inet:127.0.0.1:$MILTER_PORT
authserv_id         mx.sgtest.example
workers             2
dns_servers         127.0.0.1:$DNS_PORT
dns_timeout_ms      5000
message_timeout_s   60
log_file            $T/$1.log
C
    [ "$1" = off ] || echo "report_store $T/$1-reports/reports.db"
}

run() { # mode messages -> instructions of the daemon process
    local mode=$1 n=$2 i
    conf "$mode" >"$T/$mode.conf"
    rm -rf "$T/$mode-reports" && mkdir -p "$T/$mode-reports"
    [ "$(id -u)" != 0 ] || chown -R nobody "$T/$mode-reports" && touch "$T/$mode.log" && chown nobody "$T/$mode.log"
    rm -rf "$T/cg" && mkdir -m 1777 "$T/cg"
    $AS valgrind --tool=callgrind --callgrind-out-file="$T/cg/%p" --trace-children=no \
        "$SGD" -c "$T/$mode.conf" 2>"$T/$mode-$n.err" &
    DPID=$!
    "$PY" "$SRC/tests/interop/milter_client.py" waitport "$MILTER_PORT" 60
    echo "replies: $("$PY" "$SRC/tests/interop/milter_client.py" play "$MILTER_PORT" "$n" \
        "$T/genuine.eml" "$T/forged.eml" "$K")" >&2
    kill -TERM "$DPID"
    wait "$DPID" || true
    # valgrind runs in the daemon's own process: its file carries that pid
    # (the signer, forked, writes another)
    awk '/^(summary|totals):/ {print $2; exit}' "$T/cg/$DPID"
    DPID=
}

declare -A I
for mode in off on; do
    for n in "$M" "$((M + N))"; do
        I[$mode.$n]=$(run "$mode" "$n")
        printf '%-4s %5d messages: %d instructions\n' "$mode" "$n" "${I[$mode.$n]}"
    done
done
off=$(((I[off.$((M + N))] - I[off.$M]) / N))
on=$(((I[on.$((M + N))] - I[on.$M]) / N))
printf 'per message: off %d, on %d instructions; collection costs %s %%\n' "$off" "$on" \
    "$(awk -v a="$off" -v b="$on" 'BEGIN{printf "%.2f", (b - a) * 100 / a}')"
