#!/usr/bin/env bash
# DMARC reports of a cluster (issue 16 item 1): several MX hosts count into
# one real redis-server on loopback (spoofguardd's report_redis), and one
# host at a time sends the reports (report send --redis):
#  - two hosts' counts (report_fill into Redis, the daemon's flush code) give
#    one report per domain whose counts are the sum of both;
#  - while another host holds the lock, report send does nothing, says so,
#    and exits 0;
#  - a report sent by host A is not sent again by host B (its own store
#    knows nothing of A's sending: the marks are in Redis);
#  - a run whose lock is taken midway stops after the report in hand
#    (exit 4) and leaves the rest to the next run;
#  - spoofguardd with report_redis: messages played over the milter protocol
#    are counted in Redis; with Redis stopped, mail is still answered and
#    the counts wait in memory; with Redis back they arrive.
set -u
CLI=${SG_CLI:?SG_CLI must point at the spoofguard binary}
FILL=${SG_REPORT_FILL:?SG_REPORT_FILL must point at report_fill}
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SGD=$(dirname "$CLI")/spoofguardd
PY=/usr/bin/python3
command -v redis-server >/dev/null || { echo "SKIPPED: redis-server is not installed"; exit 77; }
T=$(mktemp -d /tmp/sg-rcluster.XXXXXX)
chmod 755 "$T"
RPID='' DPID=''
cleanup() {
    [ -z "$DPID" ] || kill -KILL "$DPID" 2>/dev/null
    [ -z "$RPID" ] || kill -KILL "$RPID" 2>/dev/null
    wait 2>/dev/null
    bash "$SRC/tests/env/dns-server.sh" stop "$T/dns" >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

read -r RPORT DNS_PORT MPORT < <("$PY" "$SRC/tests/interop/milter_client.py" freeport 3)
redis_start() {
    redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
        >"$T/redis.log" 2>&1 &
    RPID=$!
    for ((i = 0; i < 50; i++)); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
redis_start || { bad "redis-server did not start: $(tail -n3 "$T/redis.log")"; echo "$pass passed, $fail failed"; exit 1; }
URL=redis://127.0.0.1:$RPORT

# ---- two hosts count, one report of the sum ------------------------------------
DAY=2026-12-03
"$FILL" "$URL" $DAY 3 3000 5 >"$T/host1" 2>/dev/null && "$FILL" "$URL" $DAY 3 3000 5 >"$T/host2" 2>/dev/null ||
    bad "report_fill into Redis failed"
cat >"$T/zone" <<'Z'
_dmarc.d0.example. 300 IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@d0.example"
_dmarc.d1.example. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@d1.example"
_dmarc.d2.example. 300 IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@d2.example"
Z
mkdir -p "$T/dry"
"$CLI" report send --store "$T/a.db" --day $DAY --dry-run "$T/dry" --zone "$T/zone" \
    --org-name receiver.test --redis "$URL" 2>"$T/dry.err"
rc=$?
[ $rc = 0 ] && ok "dry run from the cluster: exit 0" || bad "dry run exit $rc: $(cat "$T/dry.err")"
sum_ok=1
for f in "$T"/dry/*.xml.gz; do
    "$CLI" report parse --json "$f" >>"$T/parsed" 2>/dev/null
done
"$PY" - "$T/parsed" "$T/host1" "$T/host2" <<'PYEOF' && ok "each report counts both hosts' messages (3 domains)" || bad "counts: $(cat "$T/parsed")"
import json, sys
got = {}
for l in open(sys.argv[1]):
    o = json.loads(l)
    got[o["policy_domain"]] = got.get(o["policy_domain"], 0) + o["messages"]
want = {}
for f in sys.argv[2:4]:
    for l in open(f):
        d, n = l.split()[:2]
        want[d] = want.get(d, 0) + int(n)
if got != want or len(want) != 3:
    print("want", want, "got", got); sys.exit(1)
PYEOF

# ---- the lock -------------------------------------------------------------------
redis-cli -p "$RPORT" SET sgrep:send-lock someone-else PX 60000 >/dev/null
: >"$T/mail.a"
"$CLI" report send --store "$T/a.db" --day $DAY --zone "$T/zone" --org-name receiver.test \
    --redis "$URL" --sendmail "tee -a $T/mail.a" >/dev/null 2>"$T/locked.err"
rc=$?
if [ $rc = 0 ] && grep -q "another host holds the lock" "$T/locked.err" && [ ! -s "$T/mail.a" ]; then
    ok "lock held elsewhere: nothing sent, said so, exit 0"
else
    bad "lock: exit $rc, $(cat "$T/locked.err"), $(wc -c <"$T/mail.a") bytes mailed"
fi
[ "$(redis-cli -p "$RPORT" GET sgrep:send-lock)" = someone-else ] && ok "another host's lock left alone" ||
    bad "the lock changed: $(redis-cli -p "$RPORT" GET sgrep:send-lock)"
redis-cli -p "$RPORT" DEL sgrep:send-lock >/dev/null

# ---- host A sends, host B does not send again --------------------------------------
"$CLI" report send --store "$T/a.db" --day $DAY --zone "$T/zone" --org-name receiver.test \
    --redis "$URL" --sendmail "tee -a $T/mail.a" >/dev/null 2>"$T/a.err"
rc=$?
na=$(grep -c '^Subject: Report Domain' "$T/mail.a")
[ $rc = 0 ] && [ "$na" = 3 ] && ok "host A sent the 3 reports" || bad "host A: exit $rc, $na mails: $(cat "$T/a.err")"
[ -z "$(redis-cli -p "$RPORT" GET sgrep:send-lock)" ] && ok "the lock released after the run" || bad "lock still held"
: >"$T/mail.b"
"$CLI" report send --store "$T/b.db" --day $DAY --zone "$T/zone" --org-name receiver.test \
    --redis "$URL" --sendmail "tee -a $T/mail.b" >/dev/null 2>"$T/b.err"
rc=$?
if [ $rc = 0 ] && [ ! -s "$T/mail.b" ] && grep -q "3 already done" "$T/b.err"; then
    ok "host B sends nothing A sent (marks in Redis)"
else
    bad "host B: exit $rc, $(wc -c <"$T/mail.b") bytes mailed: $(cat "$T/b.err")"
fi

# ---- a lock lost midway: stop, do not send the rest --------------------------------
# Another day's counts; the "MTA" of this run is also the other host: on
# the first mail it takes the lock (as a host would once ours expired).
DAY2=2026-12-02
"$FILL" "$URL" $DAY2 3 3000 5 >/dev/null 2>&1 || bad "report_fill of $DAY2 failed"
cat >"$T/thief" <<SH
#!/bin/sh
cat >>"$T/mail.c"
redis-cli -p $RPORT SET sgrep:send-lock other-host PX 60000 >/dev/null
SH
chmod +x "$T/thief"
: >"$T/mail.c"
"$CLI" report send --store "$T/c.db" --day $DAY2 --zone "$T/zone" --org-name receiver.test \
    --redis "$URL" --sendmail "$T/thief" >/dev/null 2>"$T/c.err"
rc=$?
nc=$(grep -c '^Subject: Report Domain' "$T/mail.c")
if [ $rc = 4 ] && [ "$nc" = 1 ] && grep -q "lost the send lock" "$T/c.err"; then
    ok "lock taken midway: stopped after 1 report of 3, said so, exit 4"
else
    bad "lost lock: exit $rc, $nc mails: $(cat "$T/c.err")"
fi
[ "$(redis-cli -p "$RPORT" GET sgrep:send-lock)" = other-host ] && ok "the other host's lock left as it is" ||
    bad "the lock is now '$(redis-cli -p "$RPORT" GET sgrep:send-lock)'"
redis-cli -p "$RPORT" DEL sgrep:send-lock >/dev/null
: >"$T/mail.c"
"$CLI" report send --store "$T/c.db" --day $DAY2 --zone "$T/zone" --org-name receiver.test \
    --redis "$URL" --sendmail "tee -a $T/mail.c" >/dev/null 2>"$T/c2.err"
rc=$?
nc=$(grep -c '^Subject: Report Domain' "$T/mail.c")
[ $rc = 0 ] && [ "$nc" = 2 ] && grep -q "1 already done" "$T/c2.err" &&
    ok "the next run sends the 2 left, not the one already sent" || bad "next run: exit $rc, $nc mails: $(cat "$T/c2.err")"

# ---- spoofguardd counting into Redis ------------------------------------------
if [ -x "$SGD" ] && command -v unbound >/dev/null; then
    mkdir -p "$T/keys" && chmod 700 "$T/keys"
    "$CLI" keygen --domain remote.test --selector r1 --type rsa --out "$T/keys" >"$T/keys/r1.txt"
    { sed '/@KEYS@/d' "$SRC/tests/data/milter/test.zone.in"; cat "$T/keys/r1.txt"; } >"$T/test.zone"
    "$CLI" sign --domain remote.test --selector r1 --key "$T/keys/r1.private" \
        "$SRC/tests/data/milter/msgs/genuine.eml" >"$T/genuine.eml"
    SG_DNS_ZONE_NAME=test SG_DNS_ZONE_FILE="$T/test.zone" \
        bash "$SRC/tests/env/dns-server.sh" start "$T/dns" "$DNS_PORT" >/dev/null
    mkdir -p "$T/rep"
    [ "$(id -u)" != 0 ] || chown nobody "$T/rep"
    cat >"$T/d.conf" <<C
listen              inet:127.0.0.1:$MPORT
authserv_id         mx.sgtest.example
workers             2
dns_servers         127.0.0.1:$DNS_PORT
report_store        $T/rep/reports.db
report_redis        $URL
report_flush_interval 1
log_file            $T/d.log
C
    [ "$(id -u)" != 0 ] || echo "user nobody" >>"$T/d.conf"
    "$SGD" -c "$T/d.conf" 2>"$T/d.err" &
    DPID=$!
    "$PY" "$SRC/tests/interop/milter_client.py" waitport "$MPORT" 10
    play() { "$PY" "$SRC/tests/interop/milter_client.py" play "$MPORT" "$1" "$T/genuine.eml"; }
    today=$(( $(date +%s) / 86400 * 86400 ))
    count() { redis-cli -p "$RPORT" HVALS "sgrep:collected:$today" | awk '{s+=$1} END {print s+0}'; }
    r=$(play 4)
    for ((i = 0; i < 40; i++)); do [ "$(count)" = 4 ] && break; sleep 0.1; done
    [ "$r" = cccc ] && [ "$(count)" = 4 ] && ok "spoofguardd counted 4 messages in Redis" ||
        bad "daemon: replies '$r', Redis has $(count): $(tail -n3 "$T/d.err")"
    kill "$RPID" && wait "$RPID" 2>/dev/null
    RPID=''
    r=$(play 3)
    [ "$r" = ccc ] && ok "Redis stopped: mail still answered" || bad "Redis down: replies '$r'"
    sleep 1.5 # a flush fails: the counts stay in memory
    redis_start || bad "redis-server did not come back"
    for ((i = 0; i < 60; i++)); do [ "$(count)" = 3 ] && break; sleep 0.1; done
    [ "$(count)" = 3 ] && ok "Redis back: the 3 counted while it was down arrive" ||
        bad "after Redis came back it has $(count) (want 3: a fresh Redis, the kept counts)"
    kill -TERM "$DPID" && wait "$DPID"
    st=$?
    DPID=''
    [ $st = 0 ] && ok "spoofguardd exit 0" || bad "spoofguardd exit $st: $(tail -n3 "$T/d.err")"
else
    echo "(spoofguardd or unbound missing: the daemon part is not run)"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -ge 10 ]
