#!/bin/bash
# spoofguard-view against slow clients (slowloris, the outside report F4):
# connections that trickle a request in must neither lock readers out nor
# live past the request deadlines. Three viewers on loopback, driven by
# viewer_slowloris.py from source addresses 127.0.0.2 to 127.0.1.20:
#   share     defaults: 2 addresses x 32 slow connections; a reader from a
#             third address is answered; each address keeps at most 16
#   evict     --request-timeout 3600: 320 slow connections fill the pool of
#             256; the oldest unfinished heads are closed, a reader is answered
#   deadline  --request-timeout 2: a trickled head, a trickled body and an
#             idle kept-alive connection are closed, not before the deadline
#
# Env (set by ctest): SG_VIEW, SG_SRC. Ports: SG_VIEW_SLOW_PORT (18150) and
# the next two.
set -u
VIEW=${SG_VIEW:?SG_VIEW not set}
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PORT=${SG_VIEW_SLOW_PORT:-18150}
PY=/usr/bin/python3
T=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fails=0
mkdir -p "$T/md/new" "$T/md/cur" "$T/md/tmp"
printf 'From: a@example.com\nSubject: hello\n\nHi.\n' > "$T/md/new/1.a.host"

run() { # mode port [viewer options]
    local mode=$1 port=$2
    shift 2
    "$VIEW" --maildir "$T/md" --listen "127.0.0.1:$port" "$@" > "$T/$mode.log" 2>&1 &
    pids+=($!)
    local up=0
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/style.css" && up=1 && break
        sleep 0.1
    done
    echo "--- $mode ($*)"
    if [ $up = 0 ]; then
        echo "FAIL the viewer did not start: $(head -3 "$T/$mode.log")"
        fails=$((fails + 1))
        return
    fi
    "$PY" "$SRC/tests/scripts/viewer_slowloris.py" "$mode" "$port" || {
        fails=$((fails + 1))
        echo "viewer log:"
        head -5 "$T/$mode.log"
    }
}
run share "$PORT"
run evict $((PORT + 1)) --request-timeout 3600
run deadline $((PORT + 2)) --request-timeout 2

echo "viewer_slowloris: $fails mode(s) failed"
[ "$fails" = 0 ]
