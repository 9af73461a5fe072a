#!/usr/bin/env bash
# DKIM key rotation (issue 15): `spoofguard keys rotate | activate |
# retire | status` against spoofguardd signing real mail, with the domain
# served by two real authoritative servers on loopback (two unbound
# instances, the two NS of ourco.test), one of which publishes the new
# keys late:
#   - rotate makes RSA-2048 and Ed25519 keys (0600) and the files to
#     publish, and changes nothing the daemon signs with;
#   - activate finds the NS set itself (NS, then A records, each server
#     asked directly with recursion off), refuses while one server lacks
#     the new record (exit 1, tables untouched), and with --wait switches
#     only once both serve it; every message signed before carries the old
#     selectors (s=), every one after the new, and verifies with our CLI
#     and with dkimpy (keys fetched by dig from the loopback servers);
#   - a stale record (another key under the new selector) is refused;
#   - retire is refused in the grace period (5 d + 2 TTL; --now, the
#     testing aid, moves the clock), then prints the p= revocation and
#     removes the private keys;
#   - every step re-run is a no-op, and a SIGKILL between two steps of
#     rotate, activate and retire (SG_KEYS_CRASH_AT) is recovered by
#     running the step again;
#   - /metrics: spoofguard_dkim_key_age_seconds from the rotation state.
# Needs root (the daemon's signer), unbound, dig, openssl, dkimpy.
# Ports: SG_KEYS_DNS_PORT (25432) on SG_KEYS_NS1 / SG_KEYS_NS2 (127.0.0.2,
# 127.0.0.3).
set -u
SG_SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CLI=${SG_CLI:-$SG_SRC/build/spoofguard}
D=$(dirname "$CLI")/spoofguardd
PY=/usr/bin/python3
CLIENT=$SG_SRC/tests/interop/milter_client.py
PORT=${SG_KEYS_DNS_PORT:-25432}
NS1=${SG_KEYS_NS1:-127.0.0.2}
NS2=${SG_KEYS_NS2:-127.0.0.3}
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
if [ "$(id -u)" != 0 ]; then
    echo "SKIP: needs root"; echo "0 passed, 0 failed"; exit 0
fi
command -v unbound >/dev/null && command -v dig >/dev/null && command -v openssl >/dev/null &&
    $PY -c 'import dkim' 2>/dev/null || { echo "SKIPPED: unbound, dig, openssl or dkimpy missing"; exit 77; }
T=$(mktemp -d /tmp/sg-keys.XXXXXX)
pid= apid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    [ -n "$apid" ] && kill "$apid" 2>/dev/null
    for s in a b; do [ -f "$T/$s/unbound.pid" ] && kill "$(cat "$T/$s/unbound.pid")" 2>/dev/null; done
    wait 2>/dev/null
    # SG_KEYS_KEEP=1 keeps the folder (the outputs in docs/keys.md come from it)
    [ -n "${SG_KEYS_KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
chmod 755 "$T"
MUSER=nobody SUSER=daemon
DOM=ourco.test
mkdir -m 700 "$T/keys"
mkdir -m 755 "$T/a" "$T/b"

# --- the domain today: two keys, served by both name servers -------------
"$CLI" keygen --domain $DOM --selector old-r --out "$T/keys" >"$T/old.zone" 2>/dev/null
"$CLI" keygen --domain $DOM --selector old-e --type ed25519 --out "$T/keys" >>"$T/old.zone" 2>/dev/null
printf '# our keys\nourco-rsa %s:old-r:%s/keys/old-r.private\nourco-ed %s:old-e:%s/keys/old-e.private\n' \
    $DOM "$T" $DOM "$T" >"$T/KeyTable"
printf '*@%s ourco-rsa, ourco-ed\n' $DOM >"$T/SigningTable"
printf 'alice@%s @%s\n' $DOM $DOM >"$T/senders"
# the tables as a packaged daemon has them: readable by its group only
chgrp nogroup "$T/KeyTable" "$T/SigningTable"
chmod 640 "$T/KeyTable" "$T/SigningTable"

zone() { # FILE [EXTRA...]: the zone with the old keys and the extra records
    local f=$1
    shift
    {
        printf '$ORIGIN %s.\n$TTL 60\n@ IN SOA ns1 hostmaster 1 3600 600 86400 60\n' $DOM
        printf '@ IN NS ns1\n@ IN NS ns2\nns1 IN A %s\nns2 IN A %s\n' "$NS1" "$NS2"
        cat "$T/old.zone" "$@"
    } >"$f.tmp" && mv "$f.tmp" "$f"
}

# unbound S ADDR: an authoritative server for the zone file $T/S/zone
unbound_start() {
    local s=$1 addr=$2
    [ -f "$T/$s/unbound.pid" ] && kill "$(cat "$T/$s/unbound.pid")" 2>/dev/null && sleep 0.2
    cat >"$T/$s/unbound.conf" <<EOF
server:
  username: ""
  chroot: ""
  directory: "$T/$s"
  pidfile: "$T/$s/unbound.pid"
  do-daemonize: yes
  use-syslog: no
  logfile: "$T/$s/unbound.log"
  interface: $addr@$PORT
  do-ip6: no
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  local-zone: "." static
  local-zone: "$DOM." transparent
auth-zone:
  name: "$DOM."
  zonefile: "$T/$s/zone"
  for-downstream: yes
  for-upstream: no
  fallback-enabled: no
remote-control:
  control-enable: no
EOF
    unbound -c "$T/$s/unbound.conf" 9>&- || { cat "$T/$s/unbound.log"; return 1; }
    for _ in $(seq 100); do
        dig +norec +time=1 +tries=1 -p "$PORT" @"$addr" $DOM SOA 2>/dev/null | grep -q 'status: NOERROR' && return 0
        sleep 0.05
    done
    echo "unbound $s does not answer"; cat "$T/$s/unbound.log"
    return 1
}
zone "$T/a/zone"
zone "$T/b/zone"
unbound_start a "$NS1" && unbound_start b "$NS2" && ok "two authoritative servers: $NS1:$PORT, $NS2:$PORT" ||
    { bad "unbound"; echo "$pass passed, $fail failed"; exit 1; }

# --- spoofguardd signing with the tables ----------------------------------
read -r mport mmport <<<"$($PY "$CLIENT" freeport 2)"
cat >"$T/conf" <<EOF
listen inet:127.0.0.1:$mport
workers 2
dns_servers $NS1:$PORT
internal_networks 127.0.0.1/32
signing_table SigningTable
key_table KeyTable
sender_map senders
user $MUSER
signer_user $SUSER
metrics_listen 127.0.0.1:$mmport
log_file $T/log
EOF
chmod 644 "$T/conf"
"$D" -c "$T/conf" 2>"$T/err" &
pid=$!
for _ in $(seq 100); do grep -q '"started"' "$T/log" 2>/dev/null && break; sleep 0.1; done
grep -q '"started"' "$T/log" || { bad "no start: $(cat "$T/err")"; echo "$pass passed, $fail failed"; exit 1; }
reloads() { grep -c '"reloaded"' "$T/log"; }

# sign OUT: one message through the daemon; prints the selectors (s=) of
# its signatures, sorted
n_signed=0
sign() {
    n_signed=$((n_signed + 1))
    $PY - "$CLIENT" "$mport" "$1" "$n_signed" <<'EOF'
import re, sys
sys.path.insert(0, __import__('os').path.dirname(sys.argv[1]))
import milter_client as mc
port, out, n = int(sys.argv[2]), sys.argv[3], sys.argv[4]
msg = (b'From: Alice <alice@ourco.test>\r\nTo: bob@rcpt.test\r\nSubject: rotation ' + n.encode() +
       b'\r\nDate: Fri, 04 Dec 2026 07:00:00 +0000\r\nMessage-ID: <k' + n.encode() +
       b'@ourco.test>\r\n\r\nHello.\r\n')
m = mc.MTA(port)
m.negotiate()
m.connect('127.0.0.1', hostname='localhost')
m.helo('localhost')
stage, replies = m.send_message(msg, sender='alice@ourco.test', login='alice@ourco.test')
signed = mc.apply_mods(msg, replies)
open(out, 'wb').write(signed)
sels = sorted(re.findall(rb'[;\s]s=([A-Za-z0-9._-]+)', signed.split(b'\r\n\r\n')[0]))
print(' '.join(s.decode() for s in sels) or 'none')
EOF
}
K="$CLI keys --config $T/conf"
got=$(sign "$T/m0.eml")
[ "$got" = "old-e old-r" ] && ok "before rotation: signed with $got" || bad "before rotation: $got"

# --- rotate ----------------------------------------------------------------
# the rotation happened (--now) ten days ago, so the key-age metric can
# tell the state's creation time from the files' mtimes
NOW0=$(($(date +%s) - 10 * 86400))
cp "$T/KeyTable" "$T/KeyTable.before"
cp "$T/SigningTable" "$T/SigningTable.before"
$K rotate --now "$NOW0" >"$T/rotate.out" 2>"$T/rotate.err"
rc=$?
YM=$(date -u -d "@$NOW0" +%Y%m)
R=${YM}r E=${YM}e
[ $rc = 0 ] && [ -f "$T/keys/$DOM.$R.private" ] && [ -f "$T/keys/$DOM.$E.private" ] &&
    ok "rotate: keys $R and $E" || bad "rotate: rc $rc $(cat "$T/rotate.err")"
[ "$(stat -c %a "$T/keys/$DOM.$R.private")" = 600 ] && [ "$(stat -c %a "$T/keys/$DOM.$E.private")" = 600 ] &&
    ok "new private keys are 0600" || bad "modes $(stat -c %a "$T/keys/"*)"
openssl pkey -in "$T/keys/$DOM.$R.private" -noout -text 2>/dev/null | grep -q 'Private-Key: (2048 bit' &&
    openssl pkey -in "$T/keys/$DOM.$E.private" -noout -text 2>/dev/null | grep -q 'ED25519' &&
    ok "RSA-2048 and Ed25519 (openssl)" || bad "key types"
P=$T/dkim-publish
[ -s "$P/$DOM.zone" ] && [ -s "$P/$DOM.nsupdate" ] && [ -s "$P/$DOM.txt" ] &&
    grep -q "^update add $R._domainkey.$DOM. 3600 TXT \"v=DKIM1; k=rsa; p=" "$P/$DOM.nsupdate" &&
    grep -q "^$E._domainkey.$DOM TXT v=DKIM1; k=ed25519; p=" "$P/$DOM.txt" &&
    cmp -s "$T/rotate.out" "$P/$DOM.zone" && ok "publish files: zone fragment (stdout), nsupdate, TXT text" ||
    bad "publish files: $(ls "$P") $(cat "$P/$DOM.nsupdate")"
cmp -s "$T/KeyTable" "$T/KeyTable.before" && cmp -s "$T/SigningTable" "$T/SigningTable.before" &&
    ok "rotate leaves the tables alone" || bad "rotate changed the tables"
sum_keys() { sha256sum "$T/keys/"* "$T/KeyTable.rotation" | sha256sum; }
s1=$(sum_keys)
$K rotate --now "$((NOW0 + 60))" >"$T/rotate2.out" 2>"$T/rotate2.err"
[ $? = 0 ] && [ "$(sum_keys)" = "$s1" ] && cmp -s "$T/rotate.out" "$T/rotate2.out" &&
    grep -q 'already pending' "$T/rotate2.err" && ok "rotate again: no-op (same keys, same state)" ||
    bad "rotate re-run: $(cat "$T/rotate2.err")"
$K status --json --now "$NOW0" >"$T/status0.json"
$PY - "$T/status0.json" "$R" "$E" <<'EOF' && ok "status: old keys active, new ones pending" || bad "status: $(cat "$T/status0.json")"
import json, sys
st = {k['selector']: k['state'] for d in json.load(open(sys.argv[1])) for k in d['keys']}
assert st == {'old-r': 'active', 'old-e': 'active', sys.argv[2]: 'pending', sys.argv[3]: 'pending'}, st
EOF
$K status --now "$NOW0" >"$T/status0.txt"
got=$(sign "$T/m1.eml")
[ "$got" = "old-e old-r" ] && ok "after rotate, still signed with $got" || bad "after rotate: $got"

# --- publish at server a only: activate refuses ----------------------------
zone "$T/a/zone" "$P/$DOM.zone"
unbound_start a "$NS1" || bad "restart a"
ACT="$K activate --dns $NS1:$PORT --ns-port $PORT --pid-file $T/pid --interval 1"
echo "$pid" >"$T/pid"
$ACT >"$T/act1.out" 2>"$T/act1.err"
rc=$?
[ $rc = 1 ] && grep -q 'refused' "$T/act1.err" && ok "activate refused while ns2 lacks the keys (exit 1)" ||
    bad "activate with one server: rc $rc $(cat "$T/act1.out" "$T/act1.err")"
grep -q "$R._domainkey.$DOM at ns1.$DOM ($NS1:$PORT): ok" "$T/act1.out" &&
    grep -q "$R._domainkey.$DOM at ns2.$DOM ($NS2:$PORT): NXDOMAIN" "$T/act1.out" &&
    ok "NS set found (ns1, ns2), each asked: $(grep ns2 "$T/act1.out" | head -1)" || bad "activate output: $(cat "$T/act1.out")"
cmp -s "$T/KeyTable" "$T/KeyTable.before" && cmp -s "$T/SigningTable" "$T/SigningTable.before" &&
    [ "$(reloads)" = 0 ] && ok "refused: nothing changed, no reload" || bad "refused activate changed something"

# a stale record at b (another key under the new RSA selector): refused too
"$CLI" keygen --domain $DOM --selector "$R" --out "$T/a" >"$T/stale.zone" 2>/dev/null
zone "$T/b/zone" "$T/stale.zone"
unbound_start b "$NS2" || bad "restart b"
$ACT >"$T/act2.out" 2>"$T/act2.err"
rc=$?
[ $rc = 1 ] && grep -q "$R._domainkey.$DOM at ns2.$DOM ($NS2:$PORT): stale: another public key" "$T/act2.out" &&
    ok "a stale key at ns2 is refused" || bad "stale: rc $rc $(cat "$T/act2.out")"
# the right key at ns2 in a record verifiers refuse or treat as unsigned:
# refused, and why (adv19 F3: t=y, h=sha1, a second p= were "ok")
variant() { # TAGS: the new RSA record with TAGS before p= (strings of 200 octets)
    $PY - "$P/$DOM.zone" "$R" "$1" <<'VEOF'
import re, sys
text, sel, tags = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
rec = re.search(r'^' + re.escape(sel) + r'\._domainkey\S*\s+(?:\d+\s+)?IN\s+TXT\s+\((.*?)\)', text, re.S | re.M)
txt = ''.join(re.findall(r'"([^"]*)"', rec.group(1)))
txt = txt.replace('k=rsa; ', 'k=rsa; ' + tags + ' ') if tags != 'dup' else txt + '; p='
print('%s._domainkey IN TXT %s' % (sel, ' '.join('"%s"' % txt[i:i + 200] for i in range(0, len(txt), 200))))
VEOF
}
for v in 't=y;' 'h=sha1;' 'dup'; do
    variant "$v" >"$T/variant.zone"
    zone "$T/b/zone" "$T/variant.zone"
    unbound_start b "$NS2" || bad "restart b"
    $ACT >"$T/act2v.out" 2>"$T/act2v.err"
    rc=$?
    [ $rc = 1 ] && grep -q "$R._domainkey.$DOM at ns2.$DOM ($NS2:$PORT): unusable by verifiers" "$T/act2v.out" &&
        cmp -s "$T/KeyTable" "$T/KeyTable.before" && ok "the new key at ns2 with $v: refused ($(grep -o 'unusable[^;]*' "$T/act2v.out" | head -1))" ||
        bad "variant $v: rc $rc $(grep ns2 "$T/act2v.out") $(grep "^$R" "$T/variant.zone" | cut -c1-80)"
done
# a third name server whose address cannot be found: not skipped (adv19 F1)
zone "$T/b/zone" "$P/$DOM.zone"
unbound_start b "$NS2" || bad "restart b"
echo '@ IN NS ns3.nowhere.test.' >"$T/ns3.zone"
zone "$T/a/zone" "$P/$DOM.zone" "$T/ns3.zone"
unbound_start a "$NS1" || bad "restart a"
$ACT >"$T/act2n.out" 2>"$T/act2n.err"
rc=$?
[ $rc = 1 ] && grep -q 'name server ns3.nowhere.test has no address' "$T/act2n.err" &&
    cmp -s "$T/KeyTable" "$T/KeyTable.before" && [ "$(reloads)" = 0 ] &&
    ok "an NS without an address refuses the activation, named" || bad "ns3: rc $rc $(cat "$T/act2n.out" "$T/act2n.err")"
# more addresses than are checked: refused, not checked in part (adv19 F2).
# ns3 with 33 addresses: more than one answer is read for (32)
nsset() { # N3 N4: ns3 and ns4 with so many addresses
    echo '@ IN NS ns3'
    echo '@ IN NS ns4'
    for i in $(seq "$1"); do echo "ns3 IN A 127.0.9.$i"; done
    for i in $(seq "$2"); do echo "ns4 IN A 127.0.10.$i"; done
}
refused_nsset() { # N3 N4 WANT WHAT: activate with that NS set says WANT, changes nothing
    nsset "$1" "$2" >"$T/nsset.zone"
    zone "$T/a/zone" "$P/$DOM.zone" "$T/nsset.zone"
    unbound_start a "$NS1" || bad "restart a"
    $ACT >"$T/act2m.out" 2>"$T/act2m.err"
    local rc=$?
    [ $rc = 1 ] && grep -q "$3" "$T/act2m.err" &&
        cmp -s "$T/KeyTable" "$T/KeyTable.before" && [ "$(reloads)" = 0 ] &&
        ok "$4 refuses the activation" || bad "$4: rc $rc $(cat "$T/act2m.out" "$T/act2m.err")"
}
refused_nsset 33 1 "name server ns3.$DOM: A lookup failed (more than 32 records)" "an NS of 33 addresses"
# 2 + 32 + 31 = 65 addresses in all: more than the 64 checked
refused_nsset 32 31 "the NS set of $DOM has more than 64 addresses" "an NS set of 65 addresses"
zone "$T/a/zone" "$P/$DOM.zone"
unbound_start a "$NS1" || bad "restart a"
zone "$T/b/zone"
unbound_start b "$NS2" || bad "restart b"

# both serve the new keys, but --pid-file names no running process (there
# is no daemon to reload): refused before the switch (adv21 F5)
zone "$T/b/zone" "$P/$DOM.zone"
unbound_start b "$NS2" || bad "restart b"
sleep 0 &
dead=$!
wait $dead
echo "$dead" >"$T/dead.pid"
$K activate --dns $NS1:$PORT --ns-port $PORT --pid-file "$T/dead.pid" >"$T/act2p.out" 2>"$T/act2p.err"
rc=$?
[ $rc = 3 ] && grep -q "$DOM: not switched: nothing to reload; nothing changed" "$T/act2p.err" &&
    cmp -s "$T/KeyTable" "$T/KeyTable.before" && [ "$(reloads)" = 0 ] &&
    ok "--pid-file without a process: refused before the switch (exit 3)" ||
    bad "dead pid: rc $rc $(cat "$T/act2p.err")"
zone "$T/b/zone"
unbound_start b "$NS2" || bad "restart b"

# --- activate --wait; ns2 publishes 4 s later ------------------------------
t0=$(date +%s.%N)
$ACT --wait 60 >"$T/act3.out" 2>"$T/act3.err" &
apid=$!
sleep 2
got=$(sign "$T/m2.eml")
[ "$got" = "old-e old-r" ] && kill -0 $apid 2>/dev/null && ok "while activate waits: signed with $got" ||
    bad "while waiting: $got"
# the admin adds a line while activate waits: not written over with the
# copy activate read (adv19 F4), the switch refused, then done by a re-run
echo '# added while activate waits' >>"$T/KeyTable"
sleep 2
zone "$T/b/zone" "$P/$DOM.zone"
unbound_start b "$NS2" || bad "restart b"
tpub=$(date +%s.%N)
wait $apid
rc=$?
apid=
[ $rc != 0 ] && grep -q 'KeyTable changed since it was read' "$T/act3.err" &&
    grep -q '^# added while activate waits' "$T/KeyTable" && grep -q "^ourco-rsa $DOM:old-r:" "$T/KeyTable" &&
    [ "$(reloads)" = 0 ] && ok "a KeyTable edit while activate waited: kept, the switch refused (exit $rc)" ||
    bad "edit while waiting: rc $rc $(cat "$T/act3.err") $(cat "$T/KeyTable")"
$ACT >"$T/act3.out" 2>"$T/act3.err"
rc=$?
tdone=$(date +%s.%N)
[ $rc = 0 ] && grep -q '^# added while activate waits' "$T/KeyTable" &&
    ok "activate again: done $(echo "$tdone - $tpub" | bc) s after ns2 published ($(echo "$tdone - $t0" | bc) s in all), the added line kept" ||
    bad "activate after the edit: rc $rc $(cat "$T/act3.out" "$T/act3.err")"
for _ in $(seq 50); do [ "$(reloads)" = 1 ] && break; sleep 0.1; done
[ "$(reloads)" = 1 ] && ok "spoofguardd reloaded (SIGHUP by pid file)" || bad "reloads: $(reloads)"
grep -q "^ourco-rsa $DOM:$R:$T/keys/$DOM.$R.private" "$T/KeyTable" &&
    grep -q "^ourco-ed $DOM:$E:$T/keys/$DOM.$E.private" "$T/KeyTable" && grep -q '^# our keys' "$T/KeyTable" &&
    cmp -s "$T/SigningTable" "$T/SigningTable.before" &&
    [ "$(stat -c '%a %G' "$T/KeyTable" "$T/KeyTable.rotation" | sort -u)" = "640 nogroup" ] &&
    ok "KeyTable switched in place (comment, mode 0640 and group kept; the state too), SigningTable unchanged" ||
    bad "tables: $(cat "$T/KeyTable" "$T/SigningTable")"
got=$(sign "$T/m3.eml")
[ "$got" = "$E $R" ] && ok "after activation: signed with $got" || bad "after activation: $got"

# dkimpy, its keys fetched by dig from each loopback server in turn
dkimpy() { # MSG SERVER
    $PY - "$1" "$2" "$PORT" <<'EOF'
import re, subprocess, sys
import dkim
msg, server, port = open(sys.argv[1], 'rb').read(), sys.argv[2], sys.argv[3]
def dnsfunc(name, timeout=5):
    n = name.decode() if isinstance(name, bytes) else name
    out = subprocess.run(['dig', '+norec', '+short', '-p', port, '@' + server, n.rstrip('.'), 'TXT'],
                         capture_output=True, text=True).stdout
    return ''.join(re.findall(r'"([^"]*)"', out)).encode() or None
n = len(re.findall(rb'(?im)^dkim-signature:', msg.split(b'\r\n\r\n')[0]))
d = dkim.DKIM(msg)
res = [d.verify(idx=i, dnsfunc=dnsfunc) for i in range(n)]
print(n, res)
sys.exit(0 if n == 2 and all(res) else 1)
EOF
}
v1=$(dkimpy "$T/m3.eml" "$NS1" 2>&1) && v2=$(dkimpy "$T/m3.eml" "$NS2" 2>&1) &&
    ok "dkimpy verifies both new signatures via ns1 and ns2: $v1" || bad "dkimpy: $v1 $v2"
v=$("$CLI" dkim-verify --dns "$NS1:$PORT" "$T/m3.eml" 2>&1)
[ "$(grep -c '^pass d=ourco.test' <<<"$v")" = 2 ] && ok "our dkim-verify: 2 x pass" || bad "dkim-verify: $v"

cp "$T/KeyTable" "$T/KeyTable.after"
$ACT >"$T/act4.out" 2>"$T/act4.err"
[ $? = 0 ] && grep -q 'nothing to activate' "$T/act4.err" && cmp -s "$T/KeyTable" "$T/KeyTable.after" &&
    [ "$(reloads)" = 1 ] && ok "activate again: no-op" || bad "activate re-run: $(cat "$T/act4.err")"

# metrics: the new keys' age from the rotation state (created = NOW0)
sleep 0.5
$PY - "$mmport" "$R" "$E" "$NOW0" <<'EOF' && ok "metrics: spoofguard_dkim_key_age_seconds for $R and $E" || bad "metrics"
import re, sys, time, urllib.request
port, r, e, now0 = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
text = urllib.request.urlopen('http://127.0.0.1:%s/metrics' % port, timeout=5).read().decode()
ages = dict(re.findall(r'^spoofguard_dkim_key_age_seconds\{domain="ourco.test",selector="([^"]+)"\} (\S+)$', text, re.M))
assert set(ages) == {r, e}, ages
for a in ages.values():
    assert abs(float(a) - (time.time() - now0)) < 30, (a, now0)
EOF

# --- retire ----------------------------------------------------------------
$K status --json >"$T/status1.json"
$K status --check --dns $NS1:$PORT --ns-port $PORT >"$T/status1.txt"
$PY - "$T/status1.json" "$R" "$E" <<'EOF' && ok "status: new keys active, old ones retiring" || bad "status: $(cat "$T/status1.json")"
import json, sys
st = {k['selector']: k['state'] for d in json.load(open(sys.argv[1])) for k in d['keys']}
assert st == {'old-r': 'retiring', 'old-e': 'retiring', sys.argv[2]: 'active', sys.argv[3]: 'active'}, st
EOF
since=$($PY -c "import json,sys; print([k for d in json.load(open(sys.argv[1])) for k in d['keys'] if k['selector']=='old-r'][0]['retiring_since'])" "$T/status1.json")
# the records' TTL at the servers is 3600 (the fragment's own): the floor
# is 5 d + 2 h
due=$((since + 5 * 86400 + 7200))
$K retire --now $((due - 1)) >"$T/ret1.out" 2>"$T/ret1.err"
rc=$?
[ $rc = 1 ] && grep -q 'refused: in its grace period' "$T/ret1.err" && [ -f "$T/keys/old-r.private" ] &&
    ok "retire 1 s before 5 d + 2 TTL (TTL seen: 3600): refused, key kept" || bad "early retire: rc $rc $(cat "$T/ret1.err")"
$K retire --grace 3600 --now "$due" >/dev/null 2>"$T/ret2.err"
[ $? = 2 ] && [ -f "$T/keys/old-r.private" ] && ok "--grace below the floor without --force: usage error" ||
    bad "short grace: $(cat "$T/ret2.err")"
$K retire --grace $((30 * 86400)) --now "$due" >/dev/null 2>"$T/ret3.err"
[ $? = 1 ] && ok "a longer --grace is honoured (refused at the floor)" || bad "long grace: $(cat "$T/ret3.err")"
SG_KEYS_CRASH_AT=retire:unlink $K retire --now "$due" >/dev/null 2>&1
rc=$?
[ $rc = 137 ] && [ ! -f "$T/keys/old-r.private" ] && grep -q 'selector=old-r .*state=retiring' "$T/KeyTable.rotation" &&
    ok "killed after removing a key, before recording it" || bad "crash retire: rc $rc"
$K retire --now "$due" >"$T/ret4.out" 2>"$T/ret4.err"
rc=$?
[ $rc = 0 ] && grep -q "^old-r._domainkey.$DOM. 3600 IN TXT \"v=DKIM1; k=rsa; p=\"" "$T/ret4.out" &&
    grep -q "^old-e._domainkey.$DOM. 3600 IN TXT \"v=DKIM1; k=ed25519; p=\"" "$T/ret4.out" &&
    [ ! -f "$T/keys/old-e.private" ] && [ -f "$T/keys/$DOM.$R.private" ] && [ -s "$P/$DOM.revoke.nsupdate" ] &&
    ok "re-run retires both: revocation records (p=), private keys removed, new keys kept" ||
    bad "retire: rc $rc $(cat "$T/ret4.out" "$T/ret4.err")"
$K retire --now "$due" >"$T/ret5.out" 2>"$T/ret5.err"
[ $? = 0 ] && [ ! -s "$T/ret5.out" ] && grep -q 'nothing to retire' "$T/ret5.err" && ok "retire again: no-op" ||
    bad "retire re-run: $(cat "$T/ret5.err")"

# --- crashes in rotate and activate ----------------------------------------
# A second rotation a month later, killed at each point, then re-run.
NOW1=$((NOW0 + 32 * 86400))
YM1=$(date -u -d "@$NOW1" +%Y%m)
R1=${YM1}r E1=${YM1}e
SG_KEYS_CRASH_AT=rotate:state $K rotate --now $NOW1 >/dev/null 2>&1
rc=$?
[ $rc = 137 ] && grep -q "selector=$R1 .*state=pending" "$T/KeyTable.rotation" && [ ! -e "$T/keys/$DOM.$R1.private" ] &&
    ok "rotate killed after recording the selectors, before any key" || bad "crash rotate:state rc $rc"
SG_KEYS_CRASH_AT=rotate:key $K rotate --now $((NOW1 + 5)) >/dev/null 2>&1
rc=$?
[ $rc = 137 ] && [ -f "$T/keys/$DOM.$R1.private" ] && [ ! -e "$T/keys/$DOM.$E1.private" ] &&
    ok "rotate killed again after the first key" || bad "crash rotate:key rc $rc $(ls "$T/keys")"
h1=$(sha256sum <"$T/keys/$DOM.$R1.private")
$K rotate --now $((NOW1 + 10)) >"$T/rot3.out" 2>/dev/null
[ $? = 0 ] && [ -f "$T/keys/$DOM.$E1.private" ] && [ "$(sha256sum <"$T/keys/$DOM.$R1.private")" = "$h1" ] &&
    grep -q "^$R1._domainkey" "$T/rot3.out" && grep -q "^$E1._domainkey" "$T/rot3.out" &&
    [ "$(ls "$T/keys" | grep -c tmp)" = 0 ] && ok "re-run finishes the rotation with the same selectors and key" ||
    bad "rotate recovery: $(ls "$T/keys")"
zone "$T/a/zone" "$P/$DOM.zone"
zone "$T/b/zone" "$P/$DOM.zone"
unbound_start a "$NS1" && unbound_start b "$NS2" || bad "restart"
cp "$T/KeyTable" "$T/KeyTable.before2"
SG_KEYS_CRASH_AT=activate:keytable $ACT >/dev/null 2>&1
rc=$?
[ $rc = 137 ] && grep -q "^ourco-rsa $DOM:$R1:" "$T/KeyTable" && [ "$(reloads)" = 1 ] &&
    grep -q "selector=$R1 .*state=pending" "$T/KeyTable.rotation" &&
    ok "activate killed after the KeyTable write (state still pending)" || bad "crash activate:keytable rc $rc"
SG_KEYS_CRASH_AT=activate:reload $ACT >/dev/null 2>&1
rc=$?
for _ in $(seq 50); do [ "$(reloads)" = 2 ] && break; sleep 0.1; done
[ $rc = 137 ] && [ "$(reloads)" = 2 ] && grep -q "selector=$R1 .*state=pending" "$T/KeyTable.rotation" &&
    ok "activate killed after the reload, before the state" || bad "crash activate:reload rc $rc"
$ACT >"$T/act5.out" 2>"$T/act5.err"
rc=$?
for _ in $(seq 50); do [ "$(reloads)" = 3 ] && break; sleep 0.1; done
grep -q "selector=$R1 .*state=active" "$T/KeyTable.rotation" && grep -q "selector=$R .*state=retiring" "$T/KeyTable.rotation" &&
    [ $rc = 0 ] && [ "$(grep -c "$DOM:" "$T/KeyTable")" = 2 ] && ok "re-run completes the activation" ||
    bad "activate recovery: rc $rc $(cat "$T/act5.err" "$T/KeyTable")"
got=$(sign "$T/m4.eml")
[ "$got" = "$E1 $R1" ] && dkimpy "$T/m4.eml" "$NS2" >/dev/null && ok "after recovery: signed with $got, verifies" ||
    bad "after recovery: $got"

# the state file parses after all of this, and a damaged one is refused
cp "$T/KeyTable.rotation" "$T/rotation.good"
sed -i 's/state=active/state=actve/' "$T/KeyTable.rotation"
$K status >/dev/null 2>"$T/bad.err"
[ $? = 3 ] && grep -q "bad value for 'state'" "$T/bad.err" && ok "a damaged state file is refused: $(cat "$T/bad.err")" ||
    bad "damaged state: $(cat "$T/bad.err")"
cp "$T/rotation.good" "$T/KeyTable.rotation"

# --- retire and a key another domain shares through a link (adv33 R3) -----
# b.test signs with ourco.test's old key through a relative link in the
# same folder; retiring ourco.test's old key must keep the file b.test
# still reaches (files compared by identity, not by path string).
S=$T/share
mkdir -m 755 "$S"
mkdir -m 700 "$S/keys"
"$CLI" keygen --domain $DOM --selector shr --out "$S/keys" >"$S/old.zone" 2>/dev/null
mv "$S/keys/shr.private" "$S/keys/a-old.private"
ln -s a-old.private "$S/keys/b.private"
printf 'ka %s:shr:%s/keys/a-old.private\nkb b.test:shr:%s/keys/b.private\n' $DOM "$S" "$S" >"$S/KeyTable"
printf '*@%s ka\n*@b.test kb\n' $DOM >"$S/SigningTable"
printf '@%s @%s\n@b.test @b.test\n' $DOM $DOM >"$S/senders"
printf 'listen inet:127.0.0.1:%s\ndns_servers %s:%s\nsigning_table %s/SigningTable\nkey_table %s/KeyTable\nsender_map %s/senders\nuser %s\nsigner_user %s\n' \
    "$mport" "$NS1" "$PORT" "$S" "$S" "$S" $MUSER $SUSER >"$S/conf"
chmod 644 "$S/conf" "$S/KeyTable" "$S/SigningTable" "$S/senders"
KS="$CLI keys --key-table $S/KeyTable --signing-table $S/SigningTable --domain $DOM"
NOW2=$(date +%s)
$KS rotate --selector-rsa shrnew --now "$NOW2" >/dev/null 2>"$S/rot.err" || bad "shared: rotate: $(cat "$S/rot.err")"
zone "$T/a/zone" "$S/old.zone" "$S/dkim-publish/$DOM.zone"
zone "$T/b/zone" "$S/old.zone" "$S/dkim-publish/$DOM.zone"
unbound_start a "$NS1" && unbound_start b "$NS2" || bad "restart"
$KS activate --ns "$NS1:$PORT" --ns "$NS2:$PORT" --no-reload --now "$NOW2" >/dev/null 2>"$S/act.err" ||
    bad "shared: activate: $(cat "$S/act.err")"
$KS retire --now $((NOW2 + 30 * 86400)) >"$S/ret.out" 2>"$S/ret.err"
rc=$?
[ $rc = 1 ] && [ -f "$S/keys/a-old.private" ] && grep -q 'still' "$S/ret.err" &&
    ok "retire keeps a key another KeyTable line reaches through a link (exit 1): $(head -1 "$S/ret.err")" ||
    bad "shared key: rc $rc $(cat "$S/ret.err") $(ls -l "$S/keys")"
"$D" -t -c "$S/conf" >"$S/t.out" 2>&1 && ok "shared key: spoofguardd -t still passes (b.test signs)" ||
    bad "shared key: spoofguardd -t: $(tail -2 "$S/t.out")"
# the same through another spelling of the path (keys/./a-old.private)
sed -i "s#^kb .*#kb b.test:shr:$S/keys/./a-old.private#" "$S/KeyTable"
$KS retire --now $((NOW2 + 30 * 86400)) >"$S/ret2.out" 2>"$S/ret2.err"
rc=$?
[ $rc = 1 ] && [ -f "$S/keys/a-old.private" ] && ok "retire keeps a key another line names by another spelling" ||
    bad "other spelling: rc $rc $(cat "$S/ret2.err")"

kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=
echo "$pass passed, $fail failed"
[ $fail = 0 ]
