#!/usr/bin/env bash
# Milter throughput benchmark (issue 6): Postfix on loopback under load, with
# no milter, with spoofguardd (TCP and unix socket) and with OpenDKIM +
# OpenDMARC, on the same messages, in the same run.
#
#   bench/milter_load.sh [--messages N] [--clients C] [--rounds R] [--warmup W]
#                        [--setups LIST] [--keep] [--results FILE] [--perf] [--strace]
#
#   --messages N   timed messages per setup and round (default 400)
#   --clients C    concurrent SMTP clients (default 8)
#   --rounds R     rounds; the setups run interleaved in each (default 3)
#   --warmup W     untimed messages before each timed batch (default 2*C)
#   --setups LIST  comma-separated subset of: none,sg-tcp,sg-unix,peers,
#                  floor-tcp,floor-unix (default: the first four). floor-*:
#                  bench/milter_floor, a milter that negotiates what
#                  spoofguardd does and only answers (build/bench/, or
#                  MILTER_FLOOR=path): the protocol's and the kernel's share
#                  of a milter's CPU on this machine, without the checks
#   --keep         keep $E2E_DIR (logs, corpus, results) for inspection
#   --results FILE copy the JSON lines (one per setup and round) to FILE
#   --perf         perf record -g the milters during their last round; prints
#                  the top of each profile (files: $E2E_DIR/bench/perf-*;
#                  PERF_FREQ=Hz sets the sampling rate, default 1999)
#   --strace       strace -c -f the milters during their last round (warm-up
#                  included); prints syscalls per message (timing is off then).
#                  STRACE_ARGS replaces -c (e.g. '-tt -s 600': a trace to read)
#
# As root (tests/e2e/with-env.sh: mount namespace, unbound, private Postfix,
# all on 127.0.0.x). Needs /usr/bin/python3 with Debian's dkim module (the
# load generator is stdlib-only; dkimpy signs the corpus), opendkim and
# opendmarc (scripts/install-deps.sh). SPOOFGUARDD=path picks the daemon
# binary (default build/spoofguardd), SG_WORKERS=N sets its `workers`,
# SG_CONF_EXTRA more option lines for both of its setups (e.g.
# 'batch_scheduling no'),
# MILTER_LOAD_PORT the first of three milter TCP ports (default 8891; the
# SMTP port is tests/e2e's $E2E_SMTP_PORT). A run
# of the defaults takes 40-50 s (5 rounds: ~70 s).
#
# Each message is its own SMTP session from 127.0.0.20 (an inbound MX's
# shape). Per setup and round: messages/s over the wall time of the timed
# batch, reply codes checked against what each setup must answer, every
# accepted message found in the Maildir (none lost, none duplicated), the
# Authentication-Results of delivered mail checked, milter CPU (utime+stime
# from /proc/PID/stat over the timed batch) per message and peak RSS
# (VmHWM). Results: one JSON line per setup and round in
# $E2E_DIR/bench/results.jsonl, then the table (bench/milter_load.py report).
# Exit status: 0 when every message was answered and delivered as expected.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
PY=/usr/bin/python3 # Debian's: has the dkim module

MESSAGES=400 CLIENTS=8 ROUNDS=3 WARMUP='' SETUPS=none,sg-tcp,sg-unix,peers KEEP='' INNER='' RESULTS='' PERF='' STRACE=''
while [ $# -gt 0 ]; do
    case "$1" in
    --messages) MESSAGES=$2; shift ;;
    --clients) CLIENTS=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --setups) SETUPS=$2; shift ;;
    --keep) KEEP=1 ;;
    --results) RESULTS=$2; shift ;;
    --perf) PERF=1 ;;
    --strace) STRACE=1 ;;
    --inner) INNER=1 ;;
    -h | --help)
        sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"
        exit 0
        ;;
    *)
        echo "milter_load.sh: unknown option $1 (--help)" >&2
        exit 64
        ;;
    esac
    shift
done
for v in MESSAGES CLIENTS ROUNDS; do
    [[ ${!v} =~ ^[1-9][0-9]{0,5}$ ]] || { echo "milter_load.sh: bad ${v,,} '${!v}'" >&2; exit 64; }
done
: "${WARMUP:=$((2 * CLIENTS))}"
[[ $WARMUP =~ ^[0-9]{1,5}$ ]] || { echo "milter_load.sh: bad warmup '$WARMUP'" >&2; exit 64; }
[ "$ROUNDS" -le 20 ] || { echo "milter_load.sh: at most 20 rounds" >&2; exit 64; }

: "${SPOOFGUARDD:=$SRC/build/spoofguardd}"
export SPOOFGUARDD

if [ -z "$INNER" ]; then
    [ "$(id -u)" = 0 ] || { echo "milter_load.sh: needs root (tests/e2e/with-env.sh)" >&2; exit 1; }
    [ -x "$SPOOFGUARDD" ] || { echo "milter_load.sh: no $SPOOFGUARDD (cmake --build build)" >&2; exit 1; }
    case ",$SETUPS," in
    *,peers,*)
        for p in opendkim opendmarc; do
            command -v "$p" >/dev/null || command -v "/usr/sbin/$p" >/dev/null ||
                { echo "milter_load.sh: $p missing: run scripts/install-deps.sh" >&2; exit 1; }
        done
        ;;
    esac
    "$PY" -c 'import dkim' 2>/dev/null || { echo "milter_load.sh: $PY lacks dkim (python3-dkim)" >&2; exit 1; }
    # Postfix starts without a milter (setup 1); each setup then switches
    # smtpd_milters. milter_default_action stays tempfail: a milter that
    # fails under load shows up as 4xx, never as silently unchecked mail.
    exec env MILTER='' "$SRC/tests/e2e/with-env.sh" ${KEEP:+--keep} -- \
        bash "$0" --inner --messages "$MESSAGES" --clients "$CLIENTS" --rounds "$ROUNDS" \
        --warmup "$WARMUP" --setups "$SETUPS" ${PERF:+--perf} ${STRACE:+--strace} ${RESULTS:+--results "$(realpath -m "$RESULTS")"}
fi

# ---------------------------------------------------------------- inside
# shellcheck source=../tests/e2e/lib.sh
. "$E2E_HOME/lib.sh"
B=$E2E_DIR/bench
mkdir -p "$B"
chmod 755 "$B"
RES=$B/results.jsonl
: >"$RES"
T0=$(date +%s)
say() { printf '[milter_load %s] %s\n' "$(date +%T)" "$*"; }

# MILTER_LOAD_PORT: first of the three milter TCP ports (others may be in use)
: "${MILTER_LOAD_PORT:=8891}"
SG_TCP_PORT=$MILTER_LOAD_PORT DKIM_PORT=$((MILTER_LOAD_PORT + 1)) DMARC_PORT=$((MILTER_LOAD_PORT + 2))
FLOOR_PORT=$((MILTER_LOAD_PORT + 3))
SG_SOCK=$B/spoofguardd.sock FLOOR_SOCK=$B/floor.sock
: "${MILTER_FLOOR:=$SRC/build/bench/milter_floor}"

# fill_template IN OUT: @NAME@ placeholders
fill_template() {
    sed -e "s|@LISTEN@|$LISTEN|g" -e "s|@MX@|$E2E_MX|g" -e "s|@DNS@|$E2E_DNS|g" \
        -e "s|@DNSPORT@|$E2E_DNS_PORT|g" -e "s|@INTERNAL@|$E2E_INTERNAL|g" \
        -e "s|@OURDOMAIN@|$E2E_OURDOMAIN|g" -e "s|@LOG@|$LOGF|g" -e "s|@DIR@|$B|g" \
        -e "s|@PORT@|$PORT|g" -e "s|@DOMAIN@|$BENCH_DOMAIN|g" -e "s|@DNSADDR@|$E2E_DNS_ADDR|g" \
        "$HERE/milter/$1" >"$2"
}

pidof_run() { tr -dc 0-9 <"$E2E_RUN/$1.pid"; }

# wait until PID listens (TCP port or unix socket) or died
wait_listen() { # NAME PID tcp PORT | NAME PID unix PATH
    local i
    for ((i = 0; i < 200; i++)); do
        pid_alive "$2" || { say "$1 died at start-up:"; tail -n 5 "$E2E_DIR/$1.log"; return 1; }
        if [ "$3" = tcp ]; then
            (exec 3<>"/dev/tcp/127.0.0.1/$4") 2>/dev/null && return 0
        else
            [ -S "$4" ] && return 0
        fi
        sleep 0.05
    done
    say "$1 does not listen after 10 s"
    return 1
}

has_setup() { case ",$SETUPS," in *,"$1",*) return 0 ;; esac; return 1; }

# ------------------------------------------------------------ the corpus
# The genuine sender is $BENCH_DOMAIN, a copy of remote.test outside .test
# (OpenDKIM cannot resolve *.test without a ResolverConfiguration file, see
# milter/opendkim.conf.in): SPF ip4:$E2E_EXTERNAL -all, DMARC p=reject,
# DKIM r1 = remote.test's key. Long TTLs: no cache expiry inside a run.
BENCH_DOMAIN=remote.bench
{
    # shellcheck disable=SC2016 # $ORIGIN and $TTL are zone-file syntax
    printf '$ORIGIN %s.\n$TTL 3600\n@ SOA ns hostmaster 1 3600 600 86400 3600\n' "$BENCH_DOMAIN"
    printf '@ NS ns\nns A %s\n@ A %s\nmx A %s\n@ MX 10 mx\n' "$E2E_DNS_ADDR" "$E2E_EXTERNAL" "$E2E_EXTERNAL"
    printf '@ TXT "v=spf1 ip4:%s -all"\nmx TXT "v=spf1 a -all"\n' "$E2E_EXTERNAL"
    printf '_dmarc TXT "v=DMARC1; p=reject"\n'
    # the record's owner is absolute (r1._domainkey.remote.test.)
    sed "s/^r1\._domainkey\.$E2E_REMOTE\./r1._domainkey/" "$E2E_KEYS/$E2E_REMOTE.r1.txt"
} >"$E2E_ZONES/$BENCH_DOMAIN.zone"
bash "$E2E_HOME/dns.sh" start
dig +short -p "$E2E_DNS_PORT" @127.0.0.1 TXT "r1._domainkey.$BENCH_DOMAIN" | grep -q DKIM1 ||
    { say "the bench zone $BENCH_DOMAIN is not served"; exit 1; }

say "corpus (dkimpy signs once, untimed)"
"$PY" "$HERE/milter_load.py" corpus --key "$E2E_KEYS/$E2E_REMOTE.r1.private" --out "$B/corpus" \
    --domain "$BENCH_DOMAIN" --templates 100

# ------------------------------------------------------------ the milters
declare -A PIDS
if has_setup sg-tcp; then
    LISTEN=inet:127.0.0.1:$SG_TCP_PORT LOGF=$B/sg-tcp.log PORT=''
    fill_template spoofguardd.conf.in "$B/sg-tcp.conf"
    [ -z "${SG_WORKERS:-}" ] || echo "workers $SG_WORKERS" >>"$B/sg-tcp.conf"
    # SG_CONF_EXTRA: more option lines (e.g. report_store, for the
    # collection overhead of docs/reports.md)
    [ -z "${SG_CONF_EXTRA:-}" ] || printf '%b\n' "$SG_CONF_EXTRA" >>"$B/sg-tcp.conf"
    run_bg sg-tcp "$SPOOFGUARDD" -c "$B/sg-tcp.conf"
    PIDS[sg-tcp]=$(pidof_run sg-tcp)
    wait_listen sg-tcp "${PIDS[sg-tcp]}" tcp "$SG_TCP_PORT"
fi
if has_setup sg-unix; then
    LISTEN=unix:$SG_SOCK LOGF=$B/sg-unix.log PORT=''
    fill_template spoofguardd.conf.in "$B/sg-unix.conf"
    [ -z "${SG_WORKERS:-}" ] || echo "workers $SG_WORKERS" >>"$B/sg-unix.conf"
    [ -z "${SG_CONF_EXTRA:-}" ] || printf '%b\n' "$SG_CONF_EXTRA" >>"$B/sg-unix.conf"
    run_bg sg-unix "$SPOOFGUARDD" -c "$B/sg-unix.conf"
    PIDS[sg-unix]=$(pidof_run sg-unix)
    wait_listen sg-unix "${PIDS[sg-unix]}" unix "$SG_SOCK"
    # spoofguardd makes the socket root:root 0660 and smtpd runs as
    # postfix: hand it to the postfix group (spoofguardd has no option for
    # the socket's owner or mode yet)
    chgrp postfix "$SG_SOCK"
fi
for f in floor-tcp floor-unix; do
    has_setup $f || continue
    [ -x "$MILTER_FLOOR" ] || { say "no $MILTER_FLOOR (cmake -DSG_BENCH=ON, target milter_floor)"; exit 1; }
    kind=${f#floor-} where=$FLOOR_SOCK spec=unix:$FLOOR_SOCK
    [ "$kind" = unix ] || where=$FLOOR_PORT spec=inet:127.0.0.1:$FLOOR_PORT
    run_bg $f "$MILTER_FLOOR" "$spec"
    PIDS[$f]=$(pidof_run $f)
    wait_listen $f "${PIDS[$f]}" "$kind" "$where"
done
if has_setup peers; then
    LISTEN='' LOGF=''
    echo "$E2E_INTERNAL" >"$B/ignore.hosts"
    PORT=$DKIM_PORT fill_template opendkim.conf.in "$B/opendkim.conf"
    PORT=$DMARC_PORT fill_template opendmarc.conf.in "$B/opendmarc.conf"
    run_bg opendkim opendkim -f -x "$B/opendkim.conf"
    PIDS[opendkim]=$(pidof_run opendkim)
    wait_listen opendkim "${PIDS[opendkim]}" tcp "$DKIM_PORT"
    run_bg opendmarc opendmarc -f -c "$B/opendmarc.conf"
    PIDS[opendmarc]=$(pidof_run opendmarc)
    wait_listen opendmarc "${PIDS[opendmarc]}" tcp "$DMARC_PORT"
fi

# ------------------------------------------------------------ the rounds
# setup name | smtpd_milters | expected answers | milter pids | Maildir user
setup_line() {
    case "$1" in
    none) echo "no milter||none||alice" ;;
    sg-tcp) echo "spoofguardd tcp|inet:127.0.0.1:$SG_TCP_PORT|spoofguard|${PIDS[sg-tcp]}|bob" ;;
    sg-unix) echo "spoofguardd unix|unix:$SG_SOCK|spoofguard|${PIDS[sg-unix]}|carol" ;;
    floor-tcp) echo "floor milter tcp|inet:127.0.0.1:$FLOOR_PORT|none|${PIDS[floor-tcp]}|alice" ;;
    floor-unix) echo "floor milter unix|unix:$FLOOR_SOCK|none|${PIDS[floor-unix]}|alice" ;;
    peers) echo "opendkim+opendmarc tcp|inet:127.0.0.1:$DKIM_PORT, inet:127.0.0.1:$DMARC_PORT|peers|${PIDS[opendkim]},${PIDS[opendmarc]}|postmaster" ;;
    esac
}

rc=0
IFS=, read -ra SETUP_LIST <<<"$SETUPS"
for ((r = 1; r <= ROUNDS; r++)); do
    for s in "${SETUP_LIST[@]}"; do
        line=$(setup_line "$s")
        [ -n "$line" ] || { say "unknown setup $s"; exit 64; }
        IFS='|' read -r name milters expect pids user <<<"$line"
        for p in ${pids//,/ }; do
            pid_alive "$p" || { say "$name: milter pid $p is gone (crashed?)"; rc=1; continue 2; }
        done
        bash "$E2E_HOME/postfix.sh" set "smtpd_milters=$milters"
        perf_pid=''
        if [ -n "$PERF" ] && [ "$r" = "$ROUNDS" ] && [ -n "$pids" ]; then
            perf record -q -F ${PERF_FREQ:-1999} -g -p "$pids" -o "$B/perf-$s.data" >/dev/null 2>&1 &
            perf_pid=$!
            sleep 0.5
        fi
        strace_pid=''
        if [ -n "$STRACE" ] && [ "$r" = "$ROUNDS" ] && [ -n "$pids" ]; then
            strace ${STRACE_ARGS:--c} -f -o "$B/strace-$s.txt" $(printf -- '-p %s ' ${pids//,/ }) 2>/dev/null &
            strace_pid=$!
            sleep 0.5
        fi
        "$PY" "$HERE/milter_load.py" send --corpus "$B/corpus" --setup "$name" --tag "$s-r$r" \
            --round "$r" --messages "$MESSAGES" --clients "$CLIENTS" --warmup "$WARMUP" \
            --port "$E2E_SMTP_PORT" \
            --expect "$expect" --maildir "$E2E_MAIL/$user" --rcpt "$user@$E2E_RCPT_DOMAIN" \
            --pids "$pids" --out "$RES" || rc=1
        if [ -n "$strace_pid" ]; then
            kill -INT "$strace_pid" 2>/dev/null || true
            wait "$strace_pid" 2>/dev/null || true
            [ -n "${STRACE_ARGS:-}" ] || say "syscalls of $s per message ($((MESSAGES + WARMUP)) messages; $B/strace-$s.txt):"
            [ -n "${STRACE_ARGS:-}" ] || awk -v m=$((MESSAGES + WARMUP)) '$1 ~ /^[0-9.]+$/ && NF >= 5 { n = $4; name = $NF;
                printf "  %-16s %6.2f\n", name, n / m }' "$B/strace-$s.txt" | sort -k2 -rn
        fi
        if [ -n "$perf_pid" ]; then
            kill -INT "$perf_pid" 2>/dev/null || true
            wait "$perf_pid" 2>/dev/null || true
            {
                perf report -i "$B/perf-$s.data" --stdio --no-children --sort dso -g none 2>/dev/null
                perf report -i "$B/perf-$s.data" --stdio --no-children --sort dso,symbol \
                    --percent-limit 0.5 -g none 2>/dev/null
            } | grep -v '^#' | grep -v '^$' | sed 's/ *- *- *$//' >"$B/perf-$s.txt" || true
            say "perf profile of $s (self time, top 25; $B/perf-$s.txt):"
            head -n 30 "$B/perf-$s.txt"
        fi
    done
done
bash "$E2E_HOME/postfix.sh" set "smtpd_milters="

"$PY" "$HERE/milter_load.py" report "$RES" || rc=1

# ------------------------------------------------------------ the end
# spoofguardd must drain and exit on TERM; the libmilter peers take up to
# 5 s to notice TERM, and are only peers: KILL.
for n in sg-tcp sg-unix; do
    [ -n "${PIDS[$n]:-}" ] || continue
    kill -TERM "${PIDS[$n]}" 2>/dev/null || true
done
for n in opendkim opendmarc floor-tcp floor-unix; do
    [ -n "${PIDS[$n]:-}" ] || continue
    w=$n && case $n in floor-*) w=milter_floor ;; esac
    if pid_alive "${PIDS[$n]}" && pid_is "${PIDS[$n]}" "$w"; then
        { kill -KILL "${PIDS[$n]}" && wait "${PIDS[$n]}"; } 2>/dev/null || true
    fi
done
for n in sg-tcp sg-unix; do
    [ -n "${PIDS[$n]:-}" ] || continue
    for ((i = 0; i < 100; i++)); do pid_alive "${PIDS[$n]}" || break; sleep 0.05; done
    pid_alive "${PIDS[$n]}" || wait "${PIDS[$n]}" 2>/dev/null || say "$n exited with status $?"
    if pid_alive "${PIDS[$n]}"; then
        say "$n did not exit within 5 s of SIGTERM"
        rc=1
    fi
    if grep -qv '"action"\|"event"' "$B/$n.log" 2>/dev/null; then
        say "$n log has unexpected lines:"
        grep -v '"action"\|"event"' "$B/$n.log" | head -n 3
    fi
    # tempfails or failsafe answers in its own log
    t=$(grep -c '"action":"tempfail"' "$B/$n.log" 2>/dev/null || true)
    [ "${t:-0}" = 0 ] || { say "$n logged $t tempfail answers"; rc=1; }
done
[ -z "$RESULTS" ] || cp "$RES" "$RESULTS"
say "done in $(($(date +%s) - T0)) s "
exit "$rc"
