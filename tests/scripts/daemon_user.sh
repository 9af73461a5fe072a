#!/usr/bin/env bash
# spoofguardd started as root with `user nobody` runs as nobody once its
# socket is bound; an unknown user is a start-up error naming it.
set -u
CLI=${SG_CLI:?}
D=$(dirname "$CLI")/spoofguardd
T=$(mktemp -d /tmp/sg-user.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$T"' EXIT
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
if [ "$(id -u)" != 0 ]; then
    echo "SKIP: needs root"; echo "0 passed, 0 failed"; exit 0
fi
chmod 755 "$T"
# a port the kernel says is free now (a random one collided with a client's
# ephemeral port under a parallel ctest run)
SG_SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
read -r port <<<"$(/usr/bin/python3 "$SG_SRC/tests/interop/milter_client.py" freeport 1)"
printf 'listen inet:127.0.0.1:%s\nuser nobody\nworkers 1\ndns_servers 127.0.0.1:9\n' "$port" > "$T/ok.conf"
"$D" -c "$T/ok.conf" 2> "$T/log" &
pid=$!
for _ in $(seq 50); do grep -q '"started"' "$T/log" && break; sleep 0.1; done
uid=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status" 2>/dev/null)
want=$(id -u nobody)
[ "$uid" = "$want $want $want $want" ] && ok "runs as nobody (uid $want)" || bad "uids: '$uid'"
grep -q '^Groups:[[:space:]]*0\b' "/proc/$pid/status" && bad "kept group root" || ok "no root group"
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
[ $rc = 0 ] && ok "exits 0 on SIGTERM" || bad "exit $rc"
printf 'listen inet:127.0.0.1:%s\nuser no-such-user-here\n' "$port" > "$T/bad.conf"
"$D" -c "$T/bad.conf" 2> "$T/err"; rc=$?
[ $rc = 1 ] && grep -q "no user 'no-such-user-here'" "$T/err" && ok "unknown user refused" ||
    bad "unknown user: rc $rc, $(cat "$T/err")"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
