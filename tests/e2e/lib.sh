# shellcheck shell=bash
# Settings and helpers for the end-to-end environment (DNS + private Postfix
# on loopback, see with-env.sh).  Source it from bash; it does not run
# anything by itself.  Every setting can be overridden from the environment.
#
# $E2E_DIR is removed (rm -rf) by with-env.sh, so it must be a dedicated
# directory.  It is not under /tmp on purpose: opendkim (used as a peer) and
# our own daemon refuse key files below a world-writable directory.

E2E_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${SG_SRC:=$(cd "$E2E_HOME/../.." && pwd)}"
: "${E2E_DIR:=/run/spoofguard-e2e}"
case "$E2E_DIR" in
/*/*) ;;
*)
    echo "E2E_DIR must be an absolute path two levels deep (it gets rm -rf'd): $E2E_DIR" >&2
    exit 64
    ;;
esac
# with-env.sh runs one environment at a time (the ports are fixed)
: "${E2E_LOCK:=/run/spoofguard-e2e.lock}"

# DNS: one unbound, two sockets.  glibc (and so Postfix) can only use port
# 53, hence a spare loopback address that a bind-mounted resolv.conf names;
# libraries that take host:port (c-ares, dig -p) use the high port.
: "${E2E_DNS_ADDR:=127.0.0.153}"
: "${E2E_DNS_PORT:=15353}"
E2E_DNS=127.0.0.1:$E2E_DNS_PORT
E2E_ZONES=$E2E_DIR/dns/zones
E2E_KEYS=$E2E_DIR/keys
E2E_MAIL=$E2E_DIR/mail
# Pidfiles of processes a test starts (e.g. spoofguardd.pid): with-env.sh
# stops each at exit, and only if its command line contains the file's base
# name, so a stale pidfile never signals an unrelated process.
E2E_RUN=$E2E_DIR/run

# Postfix private instance.  MILTER uses Postfix syntax; set it to the empty
# string for no milter at all (hence ${-} and not ${:-}).
: "${E2E_SMTP_PORT:=2525}"
: "${E2E_SUBMISSION_PORT:=2587}"
MILTER=${MILTER-inet:127.0.0.1:8891}
: "${MILTER_DEFAULT_ACTION:=tempfail}"
E2E_MILTER_ADDR='' E2E_MILTER_PORT=''
if [[ $MILTER == inet:*:* ]]; then
    E2E_MILTER_ADDR=${MILTER#inet:} E2E_MILTER_PORT=${MILTER##*:}
    E2E_MILTER_ADDR=${E2E_MILTER_ADDR%:*}
fi

# Domains and client addresses of the scenarios.  All of 127.0.0.0/8 is
# routed to lo, so `swaks --local-interface ADDR` needs no setup.
: "${E2E_OURDOMAIN:=ourco.test}"  # protected (signed, DMARC p=none)
: "${E2E_REMOTE:=remote.test}"    # genuine external (DMARC p=reject)
: "${E2E_RCPT_DOMAIN:=rcpt.test}" # delivered into $E2E_MAIL/<user>/
: "${E2E_MX:=mx.rcpt.test}"       # Postfix's myhostname
# recipients with their own Maildir $E2E_MAIL/USER/ (others: $E2E_MAIL/inbox/)
: "${E2E_RCPT_USERS:=alice bob carol postmaster}"
: "${E2E_INTERNAL:=127.0.0.10}"
: "${E2E_EXTERNAL:=127.0.0.20}"
: "${E2E_ATTACKER:=127.0.0.30}"
# SASL users (login = address) on the submission port
: "${E2E_SASL_USERS:=alice@ourco.test bob@ourco.test}"
: "${E2E_PASS_ALICE:=alice-e2e-pw}"
: "${E2E_PASS_BOB:=bob-e2e-pw}"

export E2E_HOME SG_SRC E2E_DIR E2E_LOCK E2E_DNS_ADDR E2E_DNS_PORT E2E_DNS E2E_ZONES E2E_KEYS E2E_MAIL \
    E2E_RUN E2E_SMTP_PORT E2E_SUBMISSION_PORT MILTER MILTER_DEFAULT_ACTION E2E_MILTER_ADDR \
    E2E_MILTER_PORT E2E_OURDOMAIN E2E_REMOTE E2E_RCPT_DOMAIN E2E_MX E2E_RCPT_USERS E2E_INTERNAL E2E_EXTERNAL \
    E2E_ATTACKER E2E_SASL_USERS E2E_PASS_ALICE E2E_PASS_BOB

# E2E_VERBOSE=1 shows progress on stderr; quiet by default so that a test's
# closing "N passed, N failed" line stays the last one.
log() { [ -z "${E2E_VERBOSE:-}" ] || printf '[e2e %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
    printf '[e2e] FATAL: %s\n' "$*" >&2
    exit 1
}

# sasl_password LOGIN: the password of a SASL user (alice@ourco.test -> $E2E_PASS_ALICE)
sasl_password() {
    local v=${1%%@*}
    v=E2E_PASS_${v^^}
    printf '%s\n' "${!v:-}"
}

# pid_alive PID: running and not a zombie (PID 1 here reaps late, so
# `kill -0` keeps succeeding on a zombie for seconds)
pid_alive() {
    local st
    [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

# pid_is PID WORD: the command line of PID contains WORD
pid_is() { [ -n "$1" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"; }

# stop_pidfile FILE [TIMEOUT_S [WORD]]: TERM the PID named in FILE, wait up
# to TIMEOUT_S, then KILL; remove FILE.  With WORD, only if the process's
# command line contains WORD (guards against a recycled PID).
stop_pidfile() {
    local f=$1 t=${2:-10} w=${3:-} p i
    [ -f "$f" ] || return 0
    p=$(tr -dc 0-9 <"$f")
    if pid_alive "$p" && { [ -z "$w" ] || pid_is "$p" "$w"; }; then
        kill "$p" 2>/dev/null || true
        for ((i = 0; i < t * 20; i++)); do
            pid_alive "$p" || break
            sleep 0.05
        done
        if pid_alive "$p"; then
            log "pid $p ignored TERM for ${t}s: KILL"
            kill -9 "$p" 2>/dev/null || true
        fi
    fi
    rm -f "$f"
}

# run_bg NAME CMD...: start CMD in the background, output in
# $E2E_DIR/NAME.log, pid in $E2E_RUN/NAME.pid (with-env.sh stops it at exit
# if its command line still contains NAME: use the program's name)
run_bg() {
    local n=$1
    shift
    mkdir -p "$E2E_RUN"
    "$@" </dev/null >"$E2E_DIR/$n.log" 2>&1 &
    echo $! >"$E2E_RUN/$n.pid"
}

# wait_tcp ADDR PORT [TIMEOUT_S]: until something accepts connections
wait_tcp() {
    local i
    for ((i = 0; i < ${3:-10} * 20; i++)); do
        (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# wait_mail TOKEN [TIMEOUT_S]: print the path of the delivered message that
# contains TOKEN (any Maildir under $E2E_MAIL); status 1 on timeout.
# virtual(8) delivers ~50-200 ms after the 250 reply.
wait_mail() {
    local i f
    for ((i = 0; i < ${2:-10} * 20; i++)); do
        f=$(grep -rlF -- "$1" "$E2E_MAIL"/*/new/ 2>/dev/null | head -n1) || true
        if [ -n "$f" ]; then
            printf '%s\n' "$f"
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# header_block FILE: the header section with folded lines unfolded, so that
# `header_block F | grep '^Authentication-Results:'` sees whole fields
header_block() { sed -n '1,/^\r\?$/p' "$1" | sed -e ':a' -e 'N' -e '$!ba' -e 's/\r\?\n[ \t]\+/ /g'; }

# send_mail [-c CLIENT_ADDR] [-f FROM] [-t TO] [-a LOGIN] [-p PORT] [-h 'Name: value']...
#           [-b BODY] [-d DATA_FILE] [-- SWAKS_ARGS...]
# Sends one message with swaks (-h replaces a header swaks would write,
# e.g. From:, or adds it) and prints the server's reply to the last
# command it answered: "250 2.0.0 Ok: queued as ..." after a successful
# DATA, or the rejection ("550 5.7.1 ...", "451 4.7.1 ...") wherever it came.
# Multi-line replies are joined with " | ".  Status: 0 accepted (2xx),
# 4 temporary failure, 5 permanent failure, 1 no reply (connection failed).
# Defaults: client $E2E_EXTERNAL, from someone@$E2E_REMOTE, to bob@$E2E_RCPT_DOMAIN,
# port $E2E_SMTP_PORT; -a LOGIN switches to the submission port with
# AUTH PLAIN (password from sasl_password).  -d sends a whole RFC 5322
# message from a file (headers included) instead of swaks's own.
# The full transcript is in $E2E_DIR/swaks.last.
send_mail() {
    local client=$E2E_EXTERNAL from="someone@$E2E_REMOTE" to="bob@$E2E_RCPT_DOMAIN" login=''
    local port='' body='' data='' reply code tlog
    local -a extra=() pass=()
    while [ $# -gt 0 ]; do
        case "$1" in
        -c) client=$2 ;;
        -f) from=$2 ;;
        -t) to=$2 ;;
        -a) login=$2 ;;
        -p) port=$2 ;;
        -h) extra+=(--header "$2") ;; # replaces a header of that name
        -b) body=$2 ;;
        -d) data=$2 ;;
        --)
            shift
            pass=("$@")
            break
            ;;
        *)
            echo "send_mail: unknown option $1" >&2
            return 64
            ;;
        esac
        shift 2
    done
    if [ -n "$login" ]; then
        : "${port:=$E2E_SUBMISSION_PORT}"
        extra+=(--auth PLAIN --auth-user "$login" --auth-password "$(sasl_password "$login")")
    fi
    : "${port:=$E2E_SMTP_PORT}"
    [ -z "$body" ] || extra+=(--body "$body")
    [ -z "$data" ] || extra+=(--data "@$data")
    # a file per call: send_mail may run in parallel (load tests)
    tlog=$(mktemp "$E2E_DIR/swaks.XXXXXX")
    swaks --server "127.0.0.1:$port" --local-interface "$client" --helo "$(helo_for "$client")" \
        --from "$from" --to "$to" --timeout 30 "${extra[@]}" "${pass[@]}" </dev/null >"$tlog" 2>&1
    # The last reply block the server sent before our QUIT (or before the
    # connection ended): "<- " / "<** " lines, after the last "-> " line.
    reply=$(awk '
        /^ *-> QUIT/ { exit }
        /^ *(->|~>) / { blk = ""; next }
        /^ *<(-|\*\*|~) / { sub(/^ *<(-|\*\*|~) +/, ""); blk = blk (blk == "" ? "" : " | ") $0 }
        END { print blk }' "$tlog")
    mv -f "$tlog" "$E2E_DIR/swaks.last"
    printf '%s\n' "$reply"
    code=${reply:0:1}
    case "$code" in
    2) return 0 ;;
    4) return 4 ;;
    5) return 5 ;;
    *) return 1 ;;
    esac
}

# helo_for ADDR: the HELO name matching the PTR/A records of the test zones
helo_for() {
    case "$1" in
    "$E2E_INTERNAL") echo "mx.$E2E_OURDOMAIN" ;;
    "$E2E_EXTERNAL") echo "mx.$E2E_REMOTE" ;;
    "$E2E_ATTACKER") echo "mx.attacker.test" ;;
    *) echo "client.test" ;;
    esac
}

# sign_remote [SELECTOR]: DKIM-sign stdin (a CRLF or LF message) as
# $E2E_REMOTE with its published key, relaxed/relaxed, to stdout
sign_remote() {
    /usr/bin/python3 /usr/bin/dkimsign --hcanon relaxed --bcanon relaxed "${1:-r1}" "$E2E_REMOTE" \
        "$E2E_KEYS/$E2E_REMOTE.${1:-r1}.private"
}
