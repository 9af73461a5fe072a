#!/usr/bin/env bash
# spoofguard report send against DNS that never answers (adv39 F1). A
# forger's policy domain may list rua addresses on hosts whose DNS stalls:
# each lookup there waits the resolver's whole timeout, and every hourly
# run asked again for every address, so a few such domains held up the
# run for minutes and, sorted first by name, the real domains' reports
# waited. Here a DNS server of our own (a free port, never a fixed one)
# the names of its zone and never answers the other names under
# slow.test and stall2.test; three forged domains 0evilK.test (one message
# each, named to sort first) each list their own address, an address on
# shared.slow.test and six on hosts of their own under slow.test;
# 0pol.stall2.test, whose own tree walk stalls (at _dmarc.stall2.test),
# lists its own address and seven on hosts that answer; legit.test (50
# messages) lists its own address and an authorised external one. We
# count the queries the server saw, not the time:
#  - each forged report asks about at most 2 of its hosts (two lookups in
#    DNS trouble and the rest of its destinations wait for the next run);
#  - shared.slow.test, which failed in the first forged report, is not
#    asked again in the run;
#  - 0pol.stall2.test's organisational domain is walked once (it was
#    walked again for each address), and with it unknown no consent record
#    is asked (a "no" would have been cached for a day);
#  - legit.test's report is the first: its lookups come before any under
#    slow.test and its mails reach the MTA first (the busiest domain
#    first, not the first name);
#  - the forged reports' own addresses still get theirs; exit 1 (the
#    destinations not reached wait for the next run);
#  - pa.test and pb.test both list r@agg.cons.test, whose consent lookup
#    for pa.test never answers and for pb.test says yes: pa.test's failure
#    does not stop pb.test's report to the same host (rev25 F7).
set -u
CLI=${SG_CLI:?SG_CLI must point at the spoofguard binary}
FILL=${SG_REPORT_FILL:?SG_REPORT_FILL must point at report_fill}
T=$(mktemp -d /tmp/sg-rsdns.XXXXXX)
DNSPID=
cleanup() {
    [ -n "$DNSPID" ] && kill "$DNSPID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

DAY=2026-12-03
"$FILL" "$T/s.db" $DAY 1 1 1 >/dev/null 2>&1 || { echo "FAIL report_fill"; exit 1; }
/usr/bin/python3 - "$T" <<'PY' || { echo "FAIL store set-up"; exit 1; }
import json, sqlite3, sys
T = sys.argv[1]
DAY = 1796256000  # 2026-12-03
db = sqlite3.connect(T + "/s.db")
row = list(db.execute("SELECT * FROM collected LIMIT 1").fetchone())
db.execute("DELETE FROM collected")
db.execute("DELETE FROM failure_queue")
zone = {}
doms = ([("0evil%d.test" % k, 1) for k in range(3)] + [("0pol.stall2.test", 1), ("legit.test", 50)]
        + [("pa.test", 1), ("pb.test", 1)])
for i, (d, n) in enumerate(doms):
    r = list(row)
    r[0], r[1], r[2], r[6], r[13] = DAY, d, "192.0.2.%d" % (i + 1), d, n
    db.execute("INSERT INTO collected VALUES(%s)" % ",".join("?" * len(r)), r)
    if d == "legit.test":
        rua = "mailto:dmarc@legit.test,mailto:agg@reports.test"
    elif d in ("pa.test", "pb.test"):
        rua = "mailto:r@agg.cons.test"
    elif d == "0pol.stall2.test":
        rua = ",".join(["mailto:own@" + d] + ["mailto:r@ext%d.example" % j for j in range(7)])
    else:
        rua = ",".join(["mailto:own@" + d, "mailto:r@shared.slow.test"] +
                       ["mailto:r@h%d.%s.slow.test" % (j, d.split(".")[0]) for j in range(6)])
    zone["_dmarc." + d] = ["v=DMARC1; p=none; rua=" + rua]
zone["legit.test._report._dmarc.reports.test"] = ["v=DMARC1"]
zone["pa.test._report._dmarc.agg.cons.test"] = None  # never answered
zone["pb.test._report._dmarc.agg.cons.test"] = ["v=DMARC1"]
db.commit()
json.dump(zone, open(T + "/zone.json", "w"))
PY

# the DNS server: TXT answers from zone.json, nothing at all for other
# names under slow.test and stall2.test, NXDOMAIN for the rest; every
# query logged in order
cat >"$T/dns.py" <<'PY'
import json, socket, struct, sys
T = sys.argv[1]
zone = json.load(open(T + "/zone.json"))
log = open(T + "/queries.log", "a")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
open(T + "/port.tmp", "w").write(str(s.getsockname()[1]))
import os
os.rename(T + "/port.tmp", T + "/port")
while True:
    b, a = s.recvfrom(4096)
    try:
        o, labels = 12, []
        while b[o]:
            labels.append(b[o + 1:o + 1 + b[o]].decode("latin-1"))
            o += 1 + b[o]
        o += 1
        qt = struct.unpack("!H", b[o:o + 2])[0]
    except Exception:
        continue
    name = ".".join(labels).lower()
    log.write("%s %d\n" % (name, qt))
    log.flush()
    if name not in zone and any(name == z or name.endswith("." + z) for z in ("slow.test", "stall2.test")):
        continue
    if name in zone and zone[name] is None:
        continue
    recs = zone.get(name) if qt == 16 else None
    rcode = 0 if recs is not None or name in zone else 3
    ans = b""
    for t in recs or []:
        rd = b"".join(bytes([len(c)]) + c for c in [t[i:i + 255].encode() for i in range(0, len(t), 255)])
        ans += b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 300, len(rd)) + rd
    flags = 0x8400 | (b[2] & 1) << 8 | rcode
    s.sendto(b[:2] + struct.pack("!HHHHH", flags, 1, len(recs or []), 0, 0) + b[12:o + 4] + ans, a)
PY
/usr/bin/python3 "$T/dns.py" "$T" &
DNSPID=$!
for _ in $(seq 1 100); do
    [ -s "$T/port" ] && break
    sleep 0.1
done
[ -s "$T/port" ] || { echo "FAIL the test's DNS server did not start"; exit 1; }
PORT=$(cat "$T/port")

cat >"$T/mta" <<SH
#!/bin/sh
# a local MTA that accepts: logs each mail's To in the order it came
sed -n 's/^To: //p' | head -1 >>"$T/mta.log"
exit 0
SH
chmod +x "$T/mta"
start=$(date +%s)
"$CLI" report send --store "$T/s.db" --day $DAY --dns "127.0.0.1:$PORT" --dns-timeout 200 \
    --org-name receiver.test --email d@receiver.test --max-per-org 0 --sendmail "$T/mta" \
    2>"$T/err"
rc=$?
secs=$(($(date +%s) - start))
Q=$T/queries.log
echo "run: exit $rc, $secs s, $(wc -l <"$Q") queries, mails: $(tr '\n' ' ' <"$T/mta.log")"

# hosts of its own each forged report asked about (of 6)
for k in 0 1 2; do
    h=$(grep -o "h[0-9]\.0evil$k\.slow\.test" "$Q" | sort -u | wc -l)
    [ "$h" -le 2 ] && ok "0evil$k.test: $h of its 6 stalling hosts asked (at most 2)" ||
        bad "0evil$k.test: $h of its 6 stalling hosts asked, want at most 2"
done
# shared.slow.test: asked in the first forged report only
last_shared=$(grep -n 'shared\.slow\.test' "$Q" | tail -1 | cut -d: -f1)
first_e1=$(grep -n '^_dmarc\.0evil1\.test ' "$Q" | head -1 | cut -d: -f1)
[ -n "$last_shared" ] && [ -n "$first_e1" ] && [ "$last_shared" -lt "$first_e1" ] &&
    ok "a host whose DNS failed is not asked again in the run" ||
    bad "shared.slow.test asked at line ${last_shared:-none}, after 0evil1.test's first query (${first_e1:-none})"
# 0pol.stall2.test: one stalled walk of its own, as many queries as the
# one walk of shared.slow.test; no consent record asked, none cached
np=$(grep -c '^_dmarc\.stall2\.test ' "$Q")
ns=$(grep -c '^_dmarc\.shared\.slow\.test ' "$Q")
nc=$(grep -c '_report\._dmarc\.ext' "$Q")
cached=$(sqlite3 "$T/s.db" "SELECT count(*) FROM report_auth_cache WHERE policy_domain='0pol.stall2.test'")
[ "$np" -ge 1 ] && [ "$np" -le "$ns" ] && [ "$nc" = 0 ] && [ "$cached" = 0 ] &&
    ok "a policy domain's organisational domain is walked once a report; unknown, nothing is asked or cached" ||
    bad "0pol.stall2.test: $np queries of its stalled walk (one walk: $ns), $nc consent lookups, $cached cached answers"
# the busiest domain first
first_slow=$(grep -n 'slow\.test ' "$Q" | head -1 | cut -d: -f1)
last_legit=$(grep -n 'legit\.test\|reports\.test' "$Q" | tail -1 | cut -d: -f1)
[ -n "$first_slow" ] && [ -n "$last_legit" ] && [ "$last_legit" -lt "$first_slow" ] &&
    ok "legit.test's lookups all come before any stalling one" ||
    bad "legit.test's last lookup at line ${last_legit:-none}, the first stalling one at ${first_slow:-none}"
first2=$(head -2 "$T/mta.log" | sort | tr '\n' ' ')
[ "$first2" = "agg@reports.test dmarc@legit.test " ] &&
    ok "legit.test's report is sent first, to its own and its authorised address" ||
    bad "the first mails went to: $(tr '\n' ' ' <"$T/mta.log")"
own=$(grep -c '^own@0evil[0-2]\.test$\|^own@0pol\.stall2\.test$' "$T/mta.log")
[ "$own" = 4 ] && [ "$(wc -l <"$T/mta.log")" = 7 ] &&
    ok "the forged reports still reach their own addresses (no lookup), nothing else" ||
    bad "mails: $(tr '\n' ' ' <"$T/mta.log")"
# one policy domain's stalled consent lookup does not stop another's
npa=$(grep -c '^pa\.test\._report\._dmarc\.agg\.cons\.test ' "$Q")
[ "$(grep -c '^r@agg\.cons\.test$' "$T/mta.log")" = 1 ] && [ "$npa" -ge 1 ] &&
    grep -q 'pa.test: r@agg.cons.test authorisation unknown (DNS error); later' "$T/err" &&
    ok "pa.test's consent lookup stalls, pb.test's report to the same host is sent" ||
    bad "agg.cons.test: $npa lookups for pa.test, mails: $(tr '\n' ' ' <"$T/mta.log"); $(grep cons.test "$T/err")"
[ $rc = 1 ] && grep -q 'r@h5.0evil0.slow.test authorisation not looked up (DNS trouble twice for this report' "$T/err" &&
    ok "exit 1, and the destinations left for the next run are named" ||
    bad "exit $rc: $(cat "$T/err")"
# a second run asks again (DNS trouble is not cached), and as little
: >"$Q"
"$CLI" report send --store "$T/s.db" --day $DAY --dns "127.0.0.1:$PORT" --dns-timeout 200 \
    --org-name receiver.test --email d@receiver.test --max-per-org 0 --sendmail "$T/mta" \
    2>"$T/err2"
rc=$?
h=$(grep -o 'h[0-9]\.0evil[0-9]\.slow\.test' "$Q" | sort -u | wc -l)
[ $rc = 1 ] && [ "$h" -ge 1 ] && [ "$h" -le 6 ] && [ "$(wc -l <"$T/mta.log")" = 7 ] &&
    ok "the next run asks again (the failures are not cached), as little, and sends nothing twice" ||
    bad "second run: exit $rc, $h stalling hosts asked, mails $(tr '\n' ' ' <"$T/mta.log")"

echo "reports_send_dns: $pass passed, $fail failed"
[ $fail = 0 ]
