#!/usr/bin/env bash
# The signer with Landlock refused to it (adv36 F1): under a system call
# filter that answers EPERM to the landlock calls, as systemd 252's
# SystemCallFilter=@system-service did, loaded before the exec
# (tests/support/landlock_eperm.c):
#   a. a KeyTable key that is a relative link out of its key folder
#      (keys/link.private -> ../outside/secret.private) is still refused,
#      by `spoofguardd -t` and by the daemon's start, with the message of
#      a link the signer cannot follow (it opens keys beneath the folder's
#      descriptor, by name, O_NOFOLLOW), as it is without the filter;
#   b. the refusal is said: `-t` warns on stderr, the daemon logs a
#      warning naming Landlock, starts and signs; without the filter
#      neither says a word of Landlock.
# No TCP port: the milter listens on a unix socket; DNS is not asked.
set -u
SG_SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CLI=${SG_CLI:-$SG_SRC/build/spoofguard}
D=$(dirname "$CLI")/spoofguardd
PY=/usr/bin/python3
CLIENT=$SG_SRC/tests/interop/milter_client.py
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
T=$(mktemp -d /tmp/sg-signer-ll.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
chmod 755 "$T"
if ! cc -O1 -o "$T/landlock_eperm" "$SG_SRC/tests/support/landlock_eperm.c" -lseccomp 2>"$T/cc.err"; then
    echo "SKIPPED: cannot build the filter: $(cat "$T/cc.err")"
    exit 77
fi
EPERM=$T/landlock_eperm

mkdir -m 700 "$T/keys" "$T/outside"
mkdir -m 755 "$T/etc"
"$CLI" keygen --domain ourco.test --selector s1 --type ed25519 --out "$T/keys" >/dev/null 2>&1 &&
    "$CLI" keygen --domain ourco.test --selector x1 --type ed25519 --out "$T/outside" >/dev/null 2>&1 ||
    { bad keygen; exit 1; }
mv "$T/outside/x1.private" "$T/outside/secret.private"
ln -s ../outside/secret.private "$T/keys/link.private"
printf 'good ourco.test:s1:%s/keys/s1.private\n' "$T" >"$T/etc/KeyTable.good"
printf 'link ourco.test:x1:%s/keys/link.private\n' "$T" >"$T/etc/KeyTable.link"
printf '*@ourco.test good\n' >"$T/etc/SigningTable.good"
printf '*@ourco.test link\n' >"$T/etc/SigningTable.link"
echo 'alice@ourco.test @ourco.test' >"$T/etc/senders"
chmod 644 "$T"/etc/*
for k in good link; do
    cat >"$T/$k.conf" <<EOF
listen unix:$T/run/milter.sock
workers 1
dns_servers 127.0.0.1:9
internal_networks 127.0.0.1/32
signing_table $T/etc/SigningTable.$k
key_table $T/etc/KeyTable.$k
sender_map $T/etc/senders
log_file $T/log
EOF
    # started as root the daemon runs as nobody, the signer as daemon: the
    # socket's folder ($T/run) must be theirs to remove the socket from
    [ "$(id -u)" = 0 ] && printf 'user nobody\nsigner_user daemon\n' >>"$T/$k.conf"
    chmod 644 "$T/$k.conf"
done
# the socket's folder nobody's, $T root's: the folders on the way to the
# KeyTable must be (rev24 R24-3)
mkdir -m 755 "$T/run"
[ "$(id -u)" = 0 ] && chown nobody "$T/run"
LINKMSG='only relative links to files in the same key folder work'

# a. the link out of the folder, with and without Landlock
for how in plain eperm; do
    run=()
    [ $how = eperm ] && run=("$EPERM")
    "${run[@]}" "$D" -t -c "$T/link.conf" >"$T/t.out" 2>"$T/t.err"
    rc=$?
    [ $rc != 0 ] && grep -q "link.private: Permission denied.*$LINKMSG" "$T/t.err" &&
        ok "a_${how}_check_refuses_link" || bad "a_${how}_check_refuses_link: exit $rc: $(tail -1 "$T/t.out") $(cat "$T/t.err")"
    : >"$T/log"
    timeout 30 "${run[@]}" "$D" -c "$T/link.conf" 2>"$T/d.err"
    rc=$?
    [ $rc = 1 ] && grep -q "$LINKMSG" "$T/d.err" &&
        ok "a_${how}_start_refuses_link" || bad "a_${how}_start_refuses_link: exit $rc: $(cat "$T/d.err" "$T/log")"
done

# b. said, or not a word
for how in plain eperm; do
    run=()
    [ $how = eperm ] && run=("$EPERM")
    "${run[@]}" "$D" -t -c "$T/good.conf" >"$T/t.out" 2>"$T/t.err"
    rc=$?
    if [ $how = eperm ]; then
        [ $rc = 0 ] && grep -q '^spoofguardd: warning: signer: Landlock refused' "$T/t.err" &&
            ok "b_eperm_check_warns" || bad "b_eperm_check_warns: exit $rc: $(cat "$T/t.err")"
    else
        [ $rc = 0 ] && ! grep -q Landlock "$T/t.err" &&
            ok "b_plain_check_silent" || bad "b_plain_check_silent: exit $rc: $(cat "$T/t.err")"
    fi
    : >"$T/log"
    "${run[@]}" "$D" -c "$T/good.conf" 2>"$T/d.err" &
    pid=$!
    for _ in $(seq 100); do grep -q '"started"' "$T/log" 2>/dev/null && break; sleep 0.1; done
    r=$($PY "$CLIENT" submit "$T/run/milter.sock" alice@ourco.test 1 2>&1)
    [ "$r" = a ] && grep -q '"login":"alice@ourco.test".*"signatures":"1"' "$T/log" &&
        ok "b_${how}_signs" || bad "b_${how}_signs: '$r' $(cat "$T/d.err" "$T/log")"
    if [ $how = eperm ]; then
        grep -q '^{"event":"warning","why":"signer: Landlock refused (.*landlock_restrict_self"}$' "$T/log" &&
            ok "b_eperm_logged" || bad "b_eperm_logged: $(cat "$T/log")"
    else
        ! grep -q Landlock "$T/log" "$T/d.err" &&
            ok "b_plain_silent" || bad "b_plain_silent: $(cat "$T/log")"
    fi
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    pid=
    [ $rc = 0 ] && ok "b_${how}_stopped" || bad "b_${how}_stopped: exit $rc"
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
