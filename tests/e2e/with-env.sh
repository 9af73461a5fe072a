#!/usr/bin/env bash
# Run a command inside a throw-away DNS + Postfix environment on loopback.
#
#   with-env.sh [--keep] -- CMD [ARGS...]
#
#  1. re-executes itself in a private mount namespace, so /etc/resolv.conf
#     can be replaced for this process tree only (the host's file is never
#     touched; the mount vanishes with the namespace);
#  2. waits for any other with-env.sh (flock on $E2E_LOCK: the ports are
#     fixed, and ctest -j may start several e2e tests at once), then stops
#     whatever a killed earlier run left running (by its pidfiles);
#  3. dns.sh start, bind-mounts $E2E_DIR/resolv.conf over /etc/resolv.conf
#     (glibc, Postfix, dig and c-ares defaults now see only the test DNS),
#     postfix.sh start;
#  4. runs CMD (stdin /dev/null) with the E2E_* settings exported; CMD may
#     `. "$E2E_HOME/lib.sh"` for the helpers.  CMD starts the milter under
#     test itself, listening on $MILTER, with `run_bg NAME CMD...` (pidfile
#     $E2E_RUN/NAME.pid, NAME being a word of its command line);
#  5. on exit, also on failure, INT or TERM: stops every $E2E_RUN/*.pid,
#     Postfix and unbound, and removes $E2E_DIR unless --keep.
# Exit status: CMD's.  Prints nothing of its own unless E2E_VERBOSE=1 (or
# on a fatal error), so that CMD's closing line stays the last one.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

KEEP=''
while [ $# -gt 0 ]; do
    case "$1" in
    --keep) KEEP=1 ;;
    --) shift; break ;;
    *) break ;;
    esac
    shift
done
[ $# -gt 0 ] || {
    sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0" >&2
    exit 64
}
[ "$(id -u)" = 0 ] || die "with-env.sh needs root (mount namespace, Postfix)"

if [ -z "${E2E_IN_NS:-}" ]; then
    exec unshare --mount --propagation private env E2E_IN_NS=1 \
        bash "$HERE/with-env.sh" ${KEEP:+--keep} -- "$@"
fi

# fd 9 holds the lock; nothing started below may inherit it (9>&-), or a
# killed run's daemons would keep the next run waiting
exec 9>"$E2E_LOCK"
flock -w 600 9 || die "another with-env.sh holds $E2E_LOCK for 10 minutes"

stop_all() { # [DIR]: what runs from DIR (default $E2E_DIR)
    local d=${1:-$E2E_DIR} f
    for f in "$d"/run/*.pid; do
        [ -e "$f" ] || continue
        # SIGKILL after 6 s: a graceful milter stop may poll slowly
        stop_pidfile "$f" 6 "$(basename "$f" .pid)"
    done
    E2E_DIR=$d bash "$HERE/postfix.sh" stop 9>&- || true
    E2E_DIR=$d bash "$HERE/dns.sh" stop 9>&- || true
}

cmd_pid=''
teardown() {
    local rc=$? t0
    set +e
    t0=$(date +%s.%N)
    [ -z "$cmd_pid" ] || kill -TERM "$cmd_pid" 2>/dev/null
    stop_all
    if [ -z "$KEEP" ]; then rm -rf "$E2E_DIR"; else log "kept $E2E_DIR"; fi
    log "environment down in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s, rc=$rc"
    exit "$rc"
}
trap teardown EXIT
# bash runs a trap only once the foreground child is done: CMD therefore
# runs in the background under `wait`, and a signal acts at once
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$(date +%s.%N)
# a run killed by SIGKILL (its trap cannot run) leaves its daemons up,
# holding the ports: stop them by the pidfiles in its directory, which
# may differ from ours (the last one is recorded next to the lock)
prev=$(cat "$E2E_LOCK.dir" 2>/dev/null || true)
[ "$prev" != "$E2E_DIR" ] || prev=''
for d in "$prev" "$E2E_DIR"; do
    if [ -n "$d" ] && [ -d "$d" ]; then
        log "stopping leftovers of an earlier run in $d"
        stop_all "$d"
    fi
done
echo "$E2E_DIR" >"$E2E_LOCK.dir"
rm -rf "$E2E_DIR"
install -d -m 755 "$E2E_DIR" "$E2E_RUN"

bash "$HERE/dns.sh" start 9>&-
mount --bind "$E2E_DIR/resolv.conf" /etc/resolv.conf
bash "$HERE/postfix.sh" start 9>&-
log "up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s; running: $*"

set +e
"$@" </dev/null 9>&- &
cmd_pid=$!
wait "$cmd_pid"
rc=$?
cmd_pid=''
exit "$rc"
