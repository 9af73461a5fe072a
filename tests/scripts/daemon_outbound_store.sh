#!/usr/bin/env bash
# The LMDB outbound store at spoofguardd's start (adv36 F7): a data.mdb of
# 0 bytes, or cut short (rev24 R24-1), is a truncated copy or restore, and
# is refused by `spoofguardd -t` and by the start, exit 3 ("this host
# cannot start it") naming the file and the fix, and by `spoofguard
# accounts`; nothing is written over it (LMDB would take an empty one for a
# new store, every block forgotten in silence, and die of SIGBUS reading
# past the end of a short one). A
# start that makes the store new says so in the log (outbound_store_created);
# one that finds it does not. No TCP: the milter listens on a unix socket.
set -u
CLI=${SG_CLI:?}
D=$(dirname "$CLI")/spoofguardd
T=$(mktemp -d /tmp/sg-obstore.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$T"' EXIT
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
chmod 755 "$T"
mkdir "$T/ob"
user=$(id -un)
if [ "$(id -u)" = 0 ]; then
    user=nobody
    chown nobody "$T" "$T/ob"
fi
printf 'listen unix:%s/milter.sock\nuser %s\nworkers 1\ndns_servers 127.0.0.1:9\nlog_file %s/log\noutbound yes\noutbound_store %s/ob\noutbound_spill none\n' \
    "$T" "$user" "$T" "$T" >"$T/sg.conf"

# start DAEMON until it logs "started", then SIGTERM; its exit status
run() {
    "$D" -c "$T/sg.conf" 2>"$T/err" &
    pid=$!
    for _ in $(seq 50); do grep -q '"started"' "$T/log" 2>/dev/null && break; sleep 0.1; done
    kill -TERM "$pid" 2>/dev/null
    wait "$pid"
    local rc=$?
    pid=
    return $rc
}

# A damaged data.mdb (DESCRIPTION, what the refusal says of the file, its
# size): refused by -t and the start (exit 3) and by spoofguard accounts
# (exit 4), each naming the file and the fix, and left as it was.
refused() {
    local want="this host cannot start it: outbound_store: $T/ob/data.mdb $2" rc
    "$D" -t -c "$T/sg.conf" >/dev/null 2>"$T/t.err"
    rc=$?
    [ $rc = 3 ] && grep -qF "$want" "$T/t.err" && grep -qF "remove the file to start a new, empty store" "$T/t.err" &&
        ok "-t refuses $1 (exit 3)" || bad "-t, $1: rc $rc, $(cat "$T/t.err")"
    : >"$T/log"
    timeout 10 "$D" -c "$T/sg.conf" 2>"$T/start.err"
    rc=$?
    [ $rc = 3 ] && grep -qF "$want" "$T/start.err" && ok "the start refuses it (exit 3)" ||
        bad "start, $1: rc $rc, $(cat "$T/start.err")"
    "$CLI" accounts list --config "$T/sg.conf" >/dev/null 2>"$T/cli.err"
    rc=$?
    [ $rc = 4 ] && grep -qF "$T/ob/data.mdb $2" "$T/cli.err" &&
        grep -qF "remove the file to start a new, empty store" "$T/cli.err" &&
        ok "spoofguard accounts refuses it" || bad "accounts list, $1: rc $rc, $(cat "$T/cli.err")"
    [ "$(stat -c %s "$T/ob/data.mdb")" = "$3" ] && ok "nothing was written over it" ||
        bad "data.mdb is now $(stat -c %s "$T/ob/data.mdb" 2>&1) bytes, was $3"
}

: >"$T/log"
run
rc=$?
n=$(grep -c '"event":"outbound_store_created","store":"lmdb","path":"'"$T"'/ob"' "$T/log")
[ $rc = 0 ] && [ "$n" = 1 ] && [ -s "$T/ob/data.mdb" ] && ok "a new store is made and said" ||
    bad "first start: rc $rc, created said $n times: $(cat "$T/err")"
"$CLI" accounts block alice@ourco.test --config "$T/sg.conf" >/dev/null 2>&1 ||
    bad "accounts block failed"
# any spelling of the login names its record, as the daemon keys it
# (adv43 F3: show and release said "no account" for Alice@OurCo.Test)
"$CLI" accounts show Alice@OurCo.Test --config "$T/sg.conf" >"$T/show" 2>&1 &&
    grep -q '^account: alice@ourco.test' "$T/show" && grep -q 'BLOCKED' "$T/show" &&
    "$CLI" accounts release ALICE@ourco.TEST --config "$T/sg.conf" >/dev/null 2>&1 &&
    "$CLI" accounts show alice@ourco.test --config "$T/sg.conf" 2>&1 | grep -q '^state: *ok' &&
    ok "accounts show and release fold the login's case, as block and the daemon do" ||
    bad "show/release in another case: $(cat "$T/show")"
: >"$T/log"
run
rc=$?
[ $rc = 0 ] && ! grep -q outbound_store_created "$T/log" && ok "a store found is not said to be new" ||
    bad "second start: rc $rc, $(grep -o '"event":"[a-z_]*"' "$T/log" | tr '\n' ' ')"

: >"$T/ob/data.mdb"
[ "$(id -u)" = 0 ] && chown nobody "$T/ob/data.mdb"
refused "an empty data.mdb" "is empty (0 bytes)" 0

# the fix the message names: removed, a new (empty) store, said
rm "$T/ob/data.mdb"
: >"$T/log"
run
rc=$?
[ $rc = 0 ] && grep -q '"event":"outbound_store_created"' "$T/log" && ok "removed: a new store, said" ||
    bad "after removal: rc $rc, $(cat "$T/err")"

# cut to half, with records in it (rev24 R24-1): LMDB opened it without a
# word, -t passed, and the start's expiry sweep died with SIGBUS a second
# after "started" (every restart); `spoofguard accounts` too. Refused as
# the empty one is.
for i in $(seq 200); do
    "$CLI" accounts block "user$i@ourco.test" --config "$T/sg.conf" >/dev/null 2>&1 ||
        { bad "accounts block user$i failed"; break; }
done
whole=$(stat -c %s "$T/ob/data.mdb")
[ "$whole" -ge 32768 ] || bad "the store is only $whole bytes"
truncate -s $((whole / 2)) "$T/ob/data.mdb"
refused "a data.mdb cut to half" "is cut short" $((whole / 2))
echo "$pass passed, $fail failed"
[ $fail = 0 ]
