#!/usr/bin/env bash
# Keys out of the exposed process (issue 12): spoofguardd, started as root,
# signs outbound mail with an RSA-2048 and an Ed25519 key, and
#   - the signatures verify (dkimpy, keys from our keygen's records);
#   - the milter process (the one that parses the MTA's bytes) holds no
#     private key: its whole memory (/proc/PID/maps, /proc/PID/mem) is
#     searched for the RSA key's private exponent and primes and the
#     Ed25519 seed (taken from the key files with openssl), and the signer
#     process's memory is searched the same way and must hold them (so the
#     search can fail);
#   - the signer runs as signer_user, the milter as user, the signer in an
#     empty deleted root (/proc/PID/root), without root's groups, with
#     seccomp filtering (Seccomp: 2), NoNewPrivs, CAP_DAC_READ_SEARCH only;
#   - SIGHUP loads a new key file of a known folder (owned by root, mode
#     0600) and signs with it; a key in a folder the signer did not open
#     at start fails the reload, naming the restart;
#   - a stopped signer with a message waiting for it: signer_stalled and
#     no watchdog ping (WATCHDOG_USEC 2 s), still none once the waiting
#     session is gone (no answer came), signer_recovered and the pings
#     again once it runs and answers;
#   - the signer ignores the SIGTERM systemd sends the whole unit (the
#     daemon drains, and may still need signatures);
#   - with the signer gone, the message in flight gets the fail-safe
#     answer (451), logged; the daemon then drains and exits 1, so
#     systemd's Restart=on-failure starts a new daemon and signer.
# Needs root (skipped otherwise), /usr/bin/python3 with dkimpy, openssl.
set -u
SG_SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CLI=${SG_CLI:-$SG_SRC/build/spoofguard}
D=$(dirname "$CLI")/spoofguardd
PY=/usr/bin/python3
CLIENT=$SG_SRC/tests/interop/milter_client.py
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
if [ "$(id -u)" != 0 ]; then
    echo "SKIP: needs root"; echo "0 passed, 0 failed"; exit 0
fi
command -v openssl >/dev/null && $PY -c 'import dkim' 2>/dev/null ||
    { echo "SKIPPED: openssl or dkimpy missing"; exit 77; }
T=$(mktemp -d /tmp/sg-privsep.XXXXXX)
pid= lpid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ -n "$lpid" ] && kill "$lpid" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
chmod 755 "$T"
MUSER=nobody SUSER=daemon
mkdir -m 700 "$T/keys" "$T/keys2"
"$CLI" keygen --domain ourco.test --selector rsa1 --out "$T/keys" >"$T/test.zone" 2>/dev/null
"$CLI" keygen --domain ourco.test --selector ed1 --type ed25519 --out "$T/keys" >>"$T/test.zone" 2>/dev/null
printf 'rsa ourco.test:rsa1:%s/keys/rsa1.private\ned ourco.test:ed1:%s/keys/ed1.private\n' "$T" "$T" >"$T/KeyTable"
printf '*@ourco.test rsa\n*@ourco.test ed\n' >"$T/SigningTable"
echo 'alice@ourco.test @ourco.test' >"$T/senders"
chmod 644 "$T/KeyTable" "$T/SigningTable" "$T/senders" "$T/test.zone"
read -r port mport <<<"$($PY "$CLIENT" freeport 2)"
cat >"$T/conf" <<EOF
listen inet:127.0.0.1:$port
workers 2
dns_servers 127.0.0.1:9
internal_networks 127.0.0.1/32
signing_table $T/SigningTable
key_table $T/KeyTable
sender_map $T/senders
user $MUSER
signer_user $SUSER
metrics_listen 127.0.0.1:$mport
log_file $T/log
EOF
chmod 644 "$T/conf"

# The key material a process must not hold: big-endian hex from openssl,
# searched as OpenSSL keeps it (BIGNUM limbs: little-endian bytes) and as
# written (big-endian); 32 bytes of each number are plenty to be unique.
secrets() {
    openssl pkey -in "$T/keys/rsa1.private" -text -noout |
        awk '/^(privateExponent|prime1|prime2):/ {name=$1; sub(/:$/, "", name); next} /^[a-zA-Z]/ {name=""}
             name {gsub(/[ :]/, ""); hex[name] = hex[name] $0}
             END {for (n in hex) print n, hex[n]}'
    openssl pkey -in "$T/keys/ed1.private" -text -noout |
        awk '/^priv:/ {on=1; next} /^pub:/ {on=0} on {gsub(/[ :]/, ""); h = h $0} END {print "ed25519_seed", h}'
}
secrets >"$T/secrets"
[ "$(wc -l <"$T/secrets")" = 4 ] && ok "4 secrets from the key files" || bad "secrets: $(cat "$T/secrets")"

# scan PID: prints one line per secret: NAME found|absent
scan() {
    $PY - "$1" "$T/secrets" <<'EOF'
import re, sys
pid, secrets = sys.argv[1], sys.argv[2]
pats = []
for line in open(secrets):
    name, hx = line.split()
    b = bytes.fromhex(hx).lstrip(b'\0')
    pats.append((name, [b[:32], b[::-1][:32]]))
found = {n: False for n, _ in pats}
regions = 0
with open('/proc/%s/maps' % pid) as maps, open('/proc/%s/mem' % pid, 'rb', 0) as mem:
    for line in maps:
        m = re.match(r'([0-9a-f]+)-([0-9a-f]+) (\S+)', line)
        lo, hi, perm = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
        # a sanitizer's shadow memory is terabytes of reserved pages: no heap
        if perm[0] != 'r' or '[vvar]' in line or '[vsyscall]' in line or hi - lo > 1 << 32:
            continue
        step, at = 1 << 26, lo
        read_any = False
        while at < hi:
            try:
                mem.seek(at)
                data = mem.read(min(step + 64, hi - at))  # overlap: no pattern is cut
            except OSError:
                break
            read_any = True
            for n, ps in pats:
                if any(p in data for p in ps):
                    found[n] = True
            at += step
        regions += read_any
print('regions', regions)
for n, _ in pats:
    print(n, 'found' if found[n] else 'absent')
EOF
}

# a supervisor's notify socket (tests/interop/notify_listener.py): the
# watchdog pings, for the stopped signer below
$PY "$SG_SRC/tests/interop/notify_listener.py" "$T/notify" "$T/got" &
lpid=$!
for _ in $(seq 100); do [ -S "$T/notify" ] && break; sleep 0.05; done
NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=2000000 "$D" -c "$T/conf" 2>"$T/err" &
pid=$!
for _ in $(seq 100); do grep -q '"started"' "$T/log" 2>/dev/null && break; sleep 0.1; done
grep -q '"started"' "$T/log" || { bad "no start: $(cat "$T/err")"; echo "$pass passed, $fail failed"; exit 1; }
signer=$(for p in /proc/[0-9]*; do
    [ "$(awk '{print $4}' "$p/stat" 2>/dev/null)" = "$pid" ] && basename "$p"
done | head -1)
[ -n "$signer" ] && ok "signer process $signer, child of spoofguardd $pid" || bad "no signer child"

# sign: N messages; the last one is written out with our signatures on top
sign() { # sign N OUTFILE -> prints the reply commands of the last message
    $PY - "$CLIENT" "$port" "$1" "$2" <<'EOF'
import sys
sys.path.insert(0, __import__('os').path.dirname(sys.argv[1]))
import milter_client as mc
port, n, out = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
msg = (b'From: Alice <alice@ourco.test>\r\nTo: bob@rcpt.test\r\nSubject: privsep\r\n'
       b'Date: Fri, 04 Dec 2026 07:00:00 +0000\r\nMessage-ID: <p@ourco.test>\r\n\r\nHello.\r\n')
m = mc.MTA(port)
m.negotiate()
m.connect('127.0.0.1', hostname='localhost')
m.helo('localhost')
for i in range(n):
    stage, replies = m.send_message(msg, sender='alice@ourco.test', login='alice@ourco.test')
    m.abort()
print(''.join(r.cmd for r in replies), *(r.data[:40] for r in replies if r.cmd == 'y'))
open(out, 'wb').write(mc.apply_mods(msg, replies))
EOF
}
got=$(sign 50 "$T/signed.eml")
[ "$got" = "iia" ] && ok "50 messages signed, two signatures each" || bad "replies: $got"
v=$($PY "$CLIENT" dkimpy-verify "$T/test.zone" "$T/signed.eml" 2>&1)
[ $? = 0 ] && ok "dkimpy verifies both signatures: $(echo $v)" || bad "dkimpy: $v"

# memory: the milter holds no key, the signer holds them all
scan "$pid" >"$T/scan-milter"
scan "$signer" >"$T/scan-signer"
r=$(awk '/^regions/ {print $2}' "$T/scan-milter")
[ "${r:-0}" -gt 10 ] && ok "milter: $r memory regions read" || bad "milter: $r regions read"
if grep -q found "$T/scan-milter"; then bad "the milter holds key material: $(grep found "$T/scan-milter" | tr '\n' ' ')"
else ok "milter $pid holds none of: $(awk '!/regions/ {printf "%s ", $1}' "$T/scan-milter")"; fi
if [ "$(grep -c found "$T/scan-signer")" = 4 ]; then ok "signer $signer holds all 4 (the search finds keys)"
else bad "signer scan: $(tr '\n' ' ' <"$T/scan-signer")"; fi
grep -q "$T/keys" "/proc/$pid/maps" && bad "a key file is mapped in the milter" || ok "no key file in the milter's maps"

# the signer's confinement
st=/proc/$signer/status
uid=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "$st") want=$(id -u $SUSER)
[ "$uid" = "$want $want $want $want" ] && ok "signer runs as $SUSER (uid $want)" || bad "signer uids: $uid"
muid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[ "$muid" = "$(id -u $MUSER)" ] && ok "milter runs as $MUSER" || bad "milter uid $muid"
grep -q '^Seccomp:[[:space:]]*2$' "$st" && ok "signer: Seccomp 2 (filter)" || bad "$(grep Seccomp "$st")"
grep -q '^NoNewPrivs:[[:space:]]*1$' "$st" && ok "signer: NoNewPrivs" || bad "$(grep NoNewPrivs "$st")"
grep -q '^CapEff:[[:space:]]*0000000000000004$' "$st" && ok "signer: CAP_DAC_READ_SEARCH only" ||
    bad "$(grep CapEff "$st")"
grep -q '^Groups:[[:space:]]*$' "$st" && ok "signer: no supplementary groups" || bad "$(grep Groups "$st")"
root=$(readlink "/proc/$signer/root")
case "$root" in
/tmp/spoofguard-signer.*' (deleted)') ok "signer root: $root" ;;
*) bad "signer root: '$root'" ;;
esac
[ -z "$(ls -A "/proc/$signer/root/" 2>&1)" ] && ok "signer root is empty" || bad "root holds $(ls -A "/proc/$signer/root/")"
fds=$(ls "/proc/$signer/fd" | wc -l)
[ "$fds" -le 8 ] && ok "signer: $fds descriptors (stdio, 3 channels, key folders)" ||
    bad "signer descriptors: $(ls -l "/proc/$signer/fd" | tail -n +2)"

# SIGHUP: a new key file in a known folder (root's, 0600) is loaded
"$CLI" keygen --domain ourco.test --selector ed2 --type ed25519 --out "$T/keys" >>"$T/test.zone" 2>/dev/null
printf 'ed2 ourco.test:ed2:%s/keys/ed2.private\n' "$T" >>"$T/KeyTable"
printf '*@ourco.test ed2\n' >"$T/SigningTable"
kill -HUP "$pid"
for _ in $(seq 50); do grep -q '"reloaded"' "$T/log" && break; sleep 0.1; done
grep -q '"reloaded"' "$T/log" && ok "reloaded with a new key" || bad "reload: $(tail -2 "$T/log")"
got=$(sign 1 "$T/signed2.eml")
v=$($PY "$CLIENT" dkimpy-verify "$T/test.zone" "$T/signed2.eml" 2>&1); vrc=$?
[ "$got" = ia ] && [ $vrc = 0 ] && grep -q 's=ed2' "$T/signed2.eml" &&
    ok "signed with the new key, verifies: $(echo $v)" || bad "after reload: $got $v"
# a key in a folder the signer never opened: the reload fails, keys stay
"$CLI" keygen --domain ourco.test --selector ed3 --type ed25519 --out "$T/keys2" >/dev/null 2>&1
printf 'ed3 ourco.test:ed3:%s/keys2/ed3.private\n' "$T" >>"$T/KeyTable"
kill -HUP "$pid"
for _ in $(seq 50); do grep -q '"reload_failed"' "$T/log" && break; sleep 0.1; done
grep '"reload_failed"' "$T/log" | grep -q 'restart' && ok "new key folder: reload_failed, names the restart" ||
    bad "reload with a new folder: $(tail -1 "$T/log")"
got=$(sign 1 "$T/signed3.eml")
[ "$got" = ia ] && ok "still signing with the previous table" || bad "after failed reload: $got"

# the signer stopped (wedged) while a message waits for its signature
pings() { grep -cx WATCHDOG=1 "$T/got"; }
# one sample's value from the metrics endpoint: metric 'NAME{LABELS}'
metric() { curl -s "http://127.0.0.1:$mport/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
[ "$(metric 'spoofguard_stalls_total{what="signer"}')" = 0 ] && [ "$(metric 'spoofguard_stalled{what="signer"}')" = 0 ] &&
    ok "metrics: no signer stall yet" || bad "metrics before the stall: $(curl -s "http://127.0.0.1:$mport/metrics" | grep stall)"
kill -STOP "$signer"
$PY "$CLIENT" submit "$port" alice@ourco.test 1 >"$T/stalled.out" 2>&1 &
subp=$!
for _ in $(seq 60); do grep -q '"signer_stalled"' "$T/log" && break; sleep 0.05; done
grep -q '"event":"signer_stalled","ms":[0-9]*,"watchdog":"withheld"' "$T/log" &&
    ok "signer_stalled logged" || bad "no signer_stalled: $(tail -2 "$T/log")"
: >"$T/got"
sleep 1.5
[ "$(pings)" = 0 ] && ok "no watchdog ping while the signer is stopped" || bad "$(pings) pings with the signer stopped"
[ "$(metric 'spoofguard_stalls_total{what="signer"}')" = 1 ] && [ "$(metric 'spoofguard_stalled{what="signer"}')" = 1 ] &&
    ok "metrics: one signer stall, stalled now" || bad "metrics in the stall: $(curl -s "http://127.0.0.1:$mport/metrics" | grep stall)"
kill "$subp" 2>/dev/null; wait "$subp" 2>/dev/null # its session ends: the request is cancelled
sleep 1
grep -q '"signer_recovered"' "$T/log" && bad "signer_recovered with no answer from the signer" ||
    ok "still stalled once the waiting session is gone"
[ "$(pings)" = 0 ] && ok "and still no ping" || bad "$(pings) pings after the session went"
kill -CONT "$signer" # it answers the cancelled request
for _ in $(seq 60); do grep -q '"signer_recovered"' "$T/log" && break; sleep 0.05; done
grep -q '"signer_recovered"' "$T/log" && ok "signer_recovered once it answers" || bad "no signer_recovered: $(tail -2 "$T/log")"
for _ in $(seq 40); do [ "$(metric 'spoofguard_stalled{what="signer"}')" = 0 ] && break; sleep 0.05; done
[ "$(metric 'spoofguard_stalls_total{what="signer"}')" = 1 ] && [ "$(metric 'spoofguard_stalled{what="signer"}')" = 0 ] &&
    [ "$(metric 'spoofguard_stalls_total{what="worker"}')" = 0 ] &&
    ok "metrics: the stall counted once, none now" || bad "metrics after the stall: $(curl -s "http://127.0.0.1:$mport/metrics" | grep stall)"
for _ in $(seq 60); do [ "$(pings)" -gt 0 ] && break; sleep 0.05; done
[ "$(pings)" -gt 0 ] && ok "the pings again" || bad "no ping after the signer answered"
got=$(sign 1 "$T/signed4.eml")
[ "$got" = ia ] && ok "signs after the stall" || bad "after the stall: $got"

# systemd's stop sends SIGTERM to the whole unit: the signer stays for the
# daemon's drain (it ends when the daemon does)
kill -TERM "$signer"
sleep 0.3
got=$(sign 1 "$T/afterterm.eml")
[ "$got" = ia ] && ok "signer outlives a SIGTERM of its own" || bad "after SIGTERM to the signer: $got"

# the signer gone: the message in flight gets the fail-safe answer (logged,
# counted), then the daemon drains and exits 1 so the service manager
# (Restart=on-failure) starts a whole new one: the milter side has no root
# and no keys to start another signer with
got=$($PY - "$CLIENT" "$port" "$signer" <<'EOF2'
import os, sys, time
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import milter_client as mc
port, signer = int(sys.argv[2]), int(sys.argv[3])
msg = (b'From: Alice <alice@ourco.test>\r\nTo: bob@rcpt.test\r\nSubject: privsep\r\n'
       b'Date: Fri, 04 Dec 2026 07:00:00 +0000\r\nMessage-ID: <g@ourco.test>\r\n\r\nHello.\r\n')
m = mc.MTA(port)
m.negotiate()
m.connect('127.0.0.1', hostname='localhost')
m.helo('localhost')
m.mail('alice@ourco.test', login='alice@ourco.test')
m.rcpt('bob@rcpt.test')
m.data_cmd('4Xq1Rk2Zz8')
for name, value in mc.split_message(msg)[0]:
    m.header(name, value)
m.eoh()
m.body(mc.split_message(msg)[1])
os.kill(signer, 9)
time.sleep(0.3)
replies = m.eom()
print(''.join(r.cmd for r in replies), *(r.data[:40] for r in replies if r.cmd == 'y'))
EOF2
)
case "$got" in y*451*) ok "signer gone: in flight: $got" ;;
    *) bad "signer gone: '$got'" ;; esac
grep -q '"why":"signer gone"' "$T/log" && ok "logged: signer gone" || bad "log: $(tail -1 "$T/log")"
for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid"; rc=$?; pid=
[ $rc = 1 ] && ok "the daemon exits 1 for a restart" || bad "after the signer died: exit $rc"
grep -q '"event":"signer_died","signal":9' "$T/log" && ok "logged: signer_died (signal 9)" ||
    bad "log: $(tail -3 "$T/log")"

# root is never kept
printf 'listen inet:127.0.0.1:%s\nuser root\n' "$port" >"$T/root.conf"
"$D" -c "$T/root.conf" 2>"$T/err2"; rc=$?
[ $rc = 1 ] && grep -q "does not run as root" "$T/err2" && ok "user root refused" || bad "user root: rc $rc $(cat "$T/err2")"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
