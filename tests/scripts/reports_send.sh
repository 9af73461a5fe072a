#!/usr/bin/env bash
# spoofguard report send (issue 16 item 2), on a day of observations put in a
# store by the daemon's collection code (report_fill):
#  - every report validates against tests/data/reports/rfc9990-structure.xsd
#    (xmllint --schema) and, mapped to RFC 7489's namespace without the RFC
#    9990 additions, against the RFC 7489 schema Debian ships with
#    Mail::DMARC; the schema refuses a broken report (the check can fail);
#  - our `report parse` and Mail::DMARC's reader read back the counts that
#    went in (Mail::DMARC only once the namespace is stripped); the messages
#    whose disposition a local policy or a trusted forwarder changed are in
#    records with that reason (Python's XML reader);
#  - file name, Subject, Report-ID the same on a second run (same bytes);
#  - rua from the DMARC record, an external destination only when
#    authorised, the answer cached; sent only when the MTA exits 0, retried
#    later with a pause, given up after a day.
set -u
CLI=${SG_CLI:?SG_CLI must point at the spoofguard binary}
FILL=${SG_REPORT_FILL:?SG_REPORT_FILL must point at report_fill}
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
D=$SRC/tests/data/reports
XSD=$D/rfc9990-structure.xsd
R7489=/usr/share/perl5/auto/share/dist/Mail-DMARC/rua-schema.xsd
T=$(mktemp -d /tmp/sg-rsend.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

DAY=2026-12-03
"$FILL" "$T/s.db" $DAY 4 4000 6 >"$T/expected" || { echo "FAIL report_fill"; exit 1; }
cat >"$T/zone" <<'Z'
_dmarc.d0.example. 300 IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@d0.example,mailto:agg@reports.test"
d0.example._report._dmarc.reports.test. 300 IN TXT "v=DMARC1"
_dmarc.d1.example. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:x@other.test"
_dmarc.d3.example. 300 IN TXT "v=DMARC1; p=quarantine; rua=mailto:Reports@Sub.D3.Example"
Z
mkdir "$T/out" "$T/out2"
"$CLI" report send --store "$T/s.db" --day $DAY --dry-run "$T/out" --zone "$T/zone" \
    --org-name receiver.test 2>"$T/err"
rc=$?
[ $rc = 0 ] && ok "dry run exit 0" || bad "dry run exit $rc: $(cat "$T/err")"
n=$(ls "$T/out" | grep -c '\.xml\.gz$')
[ "$n" = 4 ] && ok "4 reports (one per policy domain)" || bad "$n reports"
ls "$T/out" | grep '\.xml\.gz$' | grep -Evq '^receiver\.test!d[0-3]\.example!1796256000!1796342399![0-9]{8}[0-9a-f]{16}\.xml\.gz$' &&
    bad "file names: $(ls "$T/out")" || ok "RFC 9990 file names receiver!domain!begin!end!unique.xml.gz"
# d0: its own address and an authorised external one; d1: external, not
# authorised; d2: no DMARC record; d3: a subdomain address (same organisation)
e0=$(ls "$T/out" | grep -c 'd0\.example.*\.eml$'); e1=$(ls "$T/out" | grep -c 'd1\.example.*\.eml$')
e2=$(ls "$T/out" | grep -c 'd2\.example.*\.eml$'); e3=$(ls "$T/out" | grep -c 'd3\.example.*\.eml$')
[ "$e0$e1$e2$e3" = 2001 ] && ok "destinations: internal, authorised external, refused external, none" ||
    bad "mails per domain d0..d3: $e0 $e1 $e2 $e3"
grep -q "x@other.test is outside the domain and not authorised" "$T/err" && ok "unauthorised rua named" ||
    bad "no word on x@other.test: $(cat "$T/err")"
grep -lq '^To: agg@reports.test$' "$T"/out/*d0.example*.eml && ok "mail to the authorised external rua" ||
    bad "no mail to agg@reports.test"
grep -q '^To: Reports@sub.d3.example$' "$T"/out/*d3.example*.eml &&
    ok "subdomain rua (the domain lower-cased, the local part as published: RFC 5321 2.4)" ||
    bad "d3 rua: $(grep -h '^To:' "$T"/out/*d3.example*.eml)"
grep -q '^Subject: Report Domain: d0.example Submitter: receiver.test Report-ID: <[0-9]\{8\}[0-9a-f]\{16\}\.d0\.example@receiver\.test>$' \
    "$T"/out/*d0.example*.1.eml && ok "RFC 9990 Subject" || bad "Subject: $(grep ^Subject "$T"/out/*d0*.1.eml)"

# ---- schema ---------------------------------------------------------------
cat >"$T/to7489.py" <<'PY'
# RFC 9990 -> RFC 7489 shape: namespace, no generator/discovery_method/np/
# testing, pct=100 (required there), IPv6 written in full (its pattern
# knows no "::")
import ipaddress, re, sys
x = sys.stdin.read()
x = x.replace('xmlns="urn:ietf:params:xml:ns:dmarc-2.0"', 'xmlns="http://dmarc.org/dmarc-xml/0.1"')
x = re.sub(r'\s*<(generator|discovery_method|np|testing)>[^<]*</\1>', '', x)
x = x.replace('<fo>', '<pct>100</pct><fo>')
x = re.sub(r'<source_ip>([0-9a-fA-F:]+:[0-9a-fA-F:]*)</source_ip>',
           lambda m: '<source_ip>%s</source_ip>' % ipaddress.ip_address(m.group(1)).exploded, x)
sys.stdout.write(x)
PY
# Debian's copy declares its targetNamespace but refers to its types
# unprefixed; give it that namespace as the default so libxml2 compiles it
sed -e 's|targetNamespace="http://dmarc.org/dmarc-xml/0.1"|targetNamespace="http://dmarc.org/dmarc-xml/0.1" xmlns="http://dmarc.org/dmarc-xml/0.1" elementFormDefault="qualified"|' \
    "$R7489" >"$T/r7489.xsd"
v9990=0 v7489=0 total=0
for f in "$T"/out/*.xml.gz; do
    total=$((total + 1))
    zcat "$f" >"$T/r.xml"
    xmllint --noout --nonet --schema "$XSD" "$T/r.xml" 2>>"$T/xsd.err" && v9990=$((v9990 + 1))
    /usr/bin/python3 "$T/to7489.py" <"$T/r.xml" >"$T/r7.xml"
    xmllint --noout --nonet --schema "$T/r7489.xsd" "$T/r7.xml" 2>>"$T/xsd.err" && v7489=$((v7489 + 1))
done
[ $v9990 = $total ] && ok "$total/$total reports valid against the RFC 9990 structure schema" ||
    bad "RFC 9990 schema: $v9990/$total: $(head -5 "$T/xsd.err")"
[ $v7489 = $total ] && ok "$total/$total reports valid against Debian's RFC 7489 schema (mapped)" ||
    bad "RFC 7489 schema: $v7489/$total: $(head -5 "$T/xsd.err")"
# the checks can fail: a DKIM result without selector, a pct, no namespace
zcat "$T"/out/*d0.example*.xml.gz >"$T/r.xml"
for mut in 's|<selector>[^<]*</selector>||' 's|<fo>|<pct>100</pct><fo>|' 's| xmlns="[^"]*"||' \
    's|<discovery_method>treewalk|<discovery_method>walk|' 's|<generator>[^<]*</generator>||'; do
    sed -e "$mut" "$T/r.xml" >"$T/m.xml"
    xmllint --noout --nonet --schema "$XSD" "$T/m.xml" 2>/dev/null && bad "schema accepts: $mut" ||
        ok "schema refuses: $mut"
done

# ---- read back: ours and Mail::DMARC's ---------------------------------------
cat >"$T/cmp.py" <<'PY'
import json, sys
exp = {}
for l in open(sys.argv[1]):
    d, m, dk, sp, n, q, r, _ = l.split()
    exp[d] = dict(messages=int(m), dkim=int(dk), spf=int(sp),
                  disp={k: int(v) for k, v in (("none", n), ("quarantine", q), ("reject", r)) if int(v)})
bad = 0; seen = set()
for l in open(sys.argv[2]):
    o = json.loads(l)
    if "error" in o:
        print("FAIL", o); bad += 1; continue
    if o["source"].endswith(".eml"):
        continue
    e = exp[o["policy_domain"]]; seen.add(o["policy_domain"])
    got = dict(messages=o["messages"], dkim=o["dkim_aligned_pass"], spf=o["spf_aligned_pass"], disp=o["disposition"])
    if got != e or o["namespace"] != "rfc9990":
        print("FAIL", o["policy_domain"], got, "want", e); bad += 1
if seen != set(exp):
    print("FAIL domains", seen, set(exp)); bad += 1
sys.exit(1 if bad else 0)
PY
"$CLI" report parse --json "$T/out" >"$T/parsed" 2>&1
/usr/bin/python3 "$T/cmp.py" "$T/expected" "$T/parsed" && ok "report parse reads back every count that went in" ||
    bad "report parse read-back"
if perl -MMail::DMARC::Report::Receive -e1 2>/dev/null; then
    perl "$D/maildmarc_read.pl" "$T"/out/*.xml.gz 2>/dev/null >"$T/md0"
    awk '$4 != 0 { bad = 1 } END { exit bad }' "$T/md0" &&
        ok "Mail::DMARC 1.2021 finds no record while the RFC 9990 namespace is there (as expected)" ||
        bad "Mail::DMARC read the namespaced report: $(cat "$T/md0")"
    perl "$D/maildmarc_read.pl" --strip-ns "$T"/out/*.xml.gz 2>/dev/null >"$T/md"
    /usr/bin/python3 - "$T/expected" "$T/md" <<'PY' && ok "Mail::DMARC reads back every count (namespace stripped)" || bad "Mail::DMARC read-back"
import sys
exp = {l.split()[0]: [int(x) for x in l.split()[1:4]] for l in open(sys.argv[1])}
got = {}
for l in open(sys.argv[2]):
    f = l.split()
    got[f[1]] = [int(f[4]), int(f[5]), int(f[6])]
if got != exp:
    print("want", exp, "got", got); sys.exit(1)
PY
else
    bad "Mail::DMARC (libmail-dmarc-perl) is not installed"
fi

# the records with a reason: as many messages as report_fill gave one, and
# only the reasons it gave, with the disposition each one leads to
cat >"$T/reasons.py" <<'PY'
import glob, gzip, sys
import xml.etree.ElementTree as ET
ns = {"d": "urn:ietf:params:xml:ns:dmarc-2.0"}
want = {l.split()[0]: int(l.split()[7]) for l in open(sys.argv[1])}
allowed = {("local_policy", "never_reject_domains", "quarantine"),
           ("trusted_forwarder", "arc_sealer=fwd.test", "none")}
got = {}
for f in glob.glob(sys.argv[2] + "/*.xml.gz"):
    root = ET.fromstring(gzip.open(f).read())
    dom = root.find("d:policy_published/d:domain", ns).text
    got.setdefault(dom, 0)
    for rec in root.findall("d:record", ns):
        pe = rec.find("d:row/d:policy_evaluated", ns)
        for reason in pe.findall("d:reason", ns):
            t = (reason.find("d:type", ns).text, reason.find("d:comment", ns).text,
                 pe.find("d:disposition", ns).text)
            if t not in allowed:
                print("unexpected reason", t); sys.exit(1)
            got[dom] += int(rec.find("d:row/d:count", ns).text)
print(got)
sys.exit(0 if got == want and sum(want.values()) > 0 else 1)
PY
/usr/bin/python3 "$T/reasons.py" "$T/expected" "$T/out" >"$T/reasons.out" 2>&1 &&
    ok "reasons: every changed disposition reported with its reason ($(cat "$T/reasons.out"))" ||
    bad "reasons: $(cat "$T/reasons.out"); want $(cut -d' ' -f1,8 "$T/expected" | tr '\n' ' ')"

# ---- same report, same ID and bytes ---------------------------------------------
"$CLI" report send --store "$T/s.db" --day $DAY --dry-run "$T/out2" --zone "$T/zone" \
    --org-name receiver.test 2>/dev/null
same=1
for f in "$T"/out/*.xml.gz; do cmp -s "$f" "$T/out2/$(basename "$f")" || same=0; done
[ $same = 1 ] && ok "a second run makes the same files, Report-IDs and bytes" || bad "second run differs"

# ---- sending through the MTA ---------------------------------------------------
cat >"$T/mta-ok" <<SH
#!/bin/sh
# a local MTA that accepts: keeps the mail
cat >"$T/spool.\$\$.\$(date +%s%N)"
exit 0
SH
printf '#!/bin/sh\ncat >/dev/null\nexit 75\n' >"$T/mta-fail"
chmod +x "$T/mta-ok" "$T/mta-fail"
"$CLI" report send --store "$T/s.db" --day $DAY --zone "$T/zone" --org-name receiver.test \
    --sendmail "$T/mta-fail" 2>"$T/err"
rc=$?
st=$(sqlite3 "$T/s.db" "SELECT group_concat(state||':'||tries, ',') FROM send_queue")
[ $rc = 1 ] && [ "$st" = "pending:1,pending:1,pending:1" ] && ok "MTA refusal: exit 1, 3 pending after 1 try" ||
    bad "MTA refusal: rc $rc, state $st"
due=$(sqlite3 "$T/s.db" "SELECT count(*) FROM send_queue WHERE next_try > strftime('%s','now') + 200")
[ "$due" = 3 ] && ok "next try at least 5 minutes later" || bad "next_try: $due"
"$CLI" report send --store "$T/s.db" --day $DAY --zone "$T/zone" --org-name receiver.test \
    --sendmail "$T/mta-ok" 2>"$T/err"
[ -z "$(ls "$T"/spool.* 2>/dev/null)" ] && ok "not due yet: nothing sent" || bad "sent before next_try"
sqlite3 "$T/s.db" "UPDATE send_queue SET next_try = 0"
# the authorisation record goes away: the cached yes (a day) still holds
grep -v _report "$T/zone" >"$T/zone2"
"$CLI" report send --store "$T/s.db" --day $DAY --zone "$T/zone2" --org-name receiver.test \
    --sendmail "$T/mta-ok" 2>"$T/err"
rc=$?
st=$(sqlite3 "$T/s.db" "SELECT group_concat(state||':'||tries, ',') FROM send_queue")
n=$(ls "$T"/spool.* 2>/dev/null | wc -l)
[ $rc = 0 ] && [ "$st" = "sent:2,sent:2,sent:2" ] && [ "$n" = 3 ] &&
    ok "MTA accepts: 3 mails, marked sent (the cached authorisation used)" || bad "send: rc $rc state $st mails $n"
cache=$(sqlite3 "$T/s.db" "SELECT group_concat(policy_domain||'>'||dest||'='||ok, ',') FROM (SELECT * FROM report_auth_cache ORDER BY 1)")
[ "$cache" = "d0.example>rua:reports.test=1,d1.example>rua:other.test=0" ] && ok "authorisation cache: yes and no kept" ||
    bad "cache: $cache"
# an expired answer is deleted by the next run (it was kept for ever);
# the day's answers stay
sqlite3 "$T/s.db" "INSERT INTO report_auth_cache(policy_domain, dest, ok, expires) VALUES('old.example', 'rua:x.test', 1, strftime('%s','now') - 10)"
"$CLI" report send --store "$T/s.db" --day $DAY --zone "$T/zone" --org-name receiver.test \
    --sendmail "$T/mta-ok" 2>/dev/null
old=$(sqlite3 "$T/s.db" "SELECT count(*) FROM report_auth_cache WHERE policy_domain='old.example'")
kept=$(sqlite3 "$T/s.db" "SELECT count(*) FROM report_auth_cache")
[ "$old" = 0 ] && [ "$kept" = 2 ] && ok "expired authorisation answers deleted, the day's kept" ||
    bad "auth cache clean-up: $old expired rows left, $kept rows"
cat "$T"/spool.* >"$T/all.eml"
"$CLI" report parse --json "$T"/spool.* >"$T/parsed2"
/usr/bin/python3 "$T/cmp.py" <(grep -E '^d[03]\.' "$T/expected") "$T/parsed2" && ok "mail handed to the MTA reads back" ||
    bad "spooled mail read-back"
"$CLI" report send --store "$T/s.db" --day $DAY --zone "$T/zone" --org-name receiver.test \
    --sendmail "$T/mta-ok" 2>"$T/err"
n=$(ls "$T"/spool.* | wc -l)
[ "$n" = 3 ] && grep -q "3 already done" "$T/err" && ok "sent reports are not sent again" || bad "resent: $n $(cat "$T/err")"
# give up: a destination first tried more than a day ago
sqlite3 "$T/s.db" "UPDATE send_queue SET state='pending', next_try=0, first_try=first_try-90000 WHERE rua='agg@reports.test'"
"$CLI" report send --store "$T/s.db" --day $DAY --zone "$T/zone" --org-name receiver.test \
    --sendmail "$T/mta-fail" 2>/dev/null
st=$(sqlite3 "$T/s.db" "SELECT state FROM send_queue WHERE rua='agg@reports.test'")
[ "$st" = failed ] && ok "given up a day after the first try" || bad "give up: $st"

# ---- failure reports: a ruf nobody authorised is never "sent" ----------------------
# two queued failure reports (as spoofguardd queues them): d1.example names
# only x@other.test (outside, no _report._dmarc record), d0.example its own
# address. The first must end failed with the reason and no mail, the second
# sent with one mail.
rm -f "$T"/spool.*
for d in "d1.example|x@other.test" "d0.example|ruf@d0.example"; do
    sqlite3 "$T/s.db" "INSERT INTO failure_queue(policy_domain, source_ip, hour, arrival, envelope_from,
        header_from, authres, dkim_aligned, spf_aligned, headers, ruf) VALUES('${d%%|*}', '192.0.2.7',
        strftime('%s','now')/3600*3600, strftime('%s','now'), 'a@${d%%|*}', '${d%%|*}',
        'mx; dmarc=fail', 0, 0, 'From: a@${d%%|*}', '${d#*|}')"
done
"$CLI" report send --store "$T/s.db" --day $DAY --zone "$T/zone" --org-name receiver.test \
    --sendmail "$T/mta-ok" 2>"$T/err"
rc=$?
st=$(sqlite3 "$T/s.db" "SELECT group_concat(policy_domain||':'||state||':'||ifnull(last_error,'-')||':'||ifnull(sent_at,'-'), ',')
    FROM (SELECT * FROM failure_queue ORDER BY policy_domain)" | sed -E 's/:[0-9]{10}(,|$)/:T\1/g')
n=$(grep -l '^To: ruf@d0.example' "$T"/spool.* 2>/dev/null | wc -l)
m=$(ls "$T"/spool.* 2>/dev/null | wc -l)
[ $rc = 0 ] && [ "$st" = "d0.example:sent:-:T,d1.example:failed:no authorised destination:-" ] && [ "$n" = 1 ] && [ "$m" = 1 ] &&
    ok "failure reports: the unauthorised-only one failed with its reason and no mail, the other sent" ||
    bad "failure reports: rc $rc state '$st' mails $m (to d0: $n): $(cat "$T/err")"
grep -q "x@other.test is outside the domain and not authorised" "$T/err" && ok "the refused ruf named" ||
    bad "refused ruf not named: $(cat "$T/err")"

# ---- failure reports: a destination that took one is not sent it again -------------
# ruf a@ and b@; the MTA refuses b@. Three runs (the pause skipped): a@ gets
# the report once, b@ is tried three times, the row stays pending.
rm -f "$T"/spool.* "$T/to.log"
sqlite3 "$T/s.db" "INSERT INTO failure_queue(policy_domain, source_ip, hour, arrival, envelope_from,
    header_from, authres, dkim_aligned, spf_aligned, headers, ruf) VALUES('d0.example', '192.0.2.8',
    strftime('%s','now')/3600*3600, strftime('%s','now'), 'a@d0.example', 'd0.example',
    'mx; dmarc=fail', 0, 0, 'From: a@d0.example', 'a@d0.example b@d0.example')"
cat >"$T/mta-b" <<SH
#!/bin/sh
# accepts all but b@d0.example; logs every To it was handed
to=\$(sed -n 's/^To: //p' | head -1)
echo "\$to" >>"$T/to.log"
[ "\$to" = b@d0.example ] && exit 75
exit 0
SH
chmod +x "$T/mta-b"
for run in 1 2 3; do
    "$CLI" report send --store "$T/s.db" --day $DAY --zone "$T/zone" --org-name receiver.test \
        --sendmail "$T/mta-b" 2>/dev/null
    sqlite3 "$T/s.db" "UPDATE failure_queue SET next_try=0 WHERE source_ip='192.0.2.8'"
done
na=$(grep -c '^a@d0.example$' "$T/to.log"); nb=$(grep -c '^b@d0.example$' "$T/to.log")
st=$(sqlite3 "$T/s.db" "SELECT state||':'||tries FROM failure_queue WHERE source_ip='192.0.2.8'")
[ "$na" = 1 ] && [ "$nb" = 3 ] && [ "$st" = pending:3 ] &&
    ok "failure report: the destination that took it gets it once, the refusing one is retried" ||
    bad "failure report resent: a@ $na times, b@ $nb times, state $st"

# ---- failure reports: at most 8 destinations, each once (adv39 F2) -----------------
# a queued report whose ruf lists 16 addresses, the first also in other
# cases: 8 mails, as for aggregate reports (the first 8 distinct ones)
cp "$T/s.db" "$T/fan.db"
ruf="r1@d0.example R1@D0.EXAMPLE r1@d0.example$(for i in $(seq 2 16); do printf ' r%d@d0.example' $i; done)"
sqlite3 "$T/fan.db" "DELETE FROM failure_queue; INSERT INTO failure_queue(policy_domain, source_ip, hour,
    arrival, envelope_from, header_from, authres, dkim_aligned, spf_aligned, headers, ruf)
    VALUES('d0.example', '192.0.2.9', strftime('%s','now')/3600*3600, strftime('%s','now'),
    'a@d0.example', 'd0.example', 'mx; dmarc=fail', 0, 0, 'From: a@d0.example', '$ruf')"
mkdir "$T/out-fan"
"$CLI" report send --store "$T/fan.db" --day $DAY --dry-run "$T/out-fan" --zone "$T/zone" \
    --org-name receiver.test 2>"$T/err"
tos=$(cat "$T"/out-fan/failure* 2>/dev/null | sed -n 's/^To: //p' | sort | tr '\n' ' ')
[ "$tos" = "r1@d0.example r2@d0.example r3@d0.example r4@d0.example r5@d0.example r6@d0.example r7@d0.example r8@d0.example " ] &&
    ok "a failure report's 16 ruf addresses (one thrice): 8 mails, each address once" ||
    bad "ruf fan-out: mails to '$tos': $(cat "$T/err")"

# ---- several DMARC records: none applies, so no report to any rua ------------------
# (RFC 9989 4.10; `verify` says "several DMARC records" and applies none)
cp "$T/s.db" "$T/two.db"
sqlite3 "$T/two.db" "DELETE FROM failure_queue; UPDATE collected SET policy_domain='two.test'"
cat >"$T/zone-two" <<'Z'
_dmarc.two.test. 300 IN TXT "v=DMARC1; p=none; rua=mailto:first@two.test"
_dmarc.two.test. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:second@two.test"
_dmarc.two.test. 300 IN TXT "not a DMARC record"
Z
mkdir "$T/out-two"
"$CLI" report send --store "$T/two.db" --day $DAY --dry-run "$T/out-two" --zone "$T/zone-two" \
    --org-name receiver.test 2>"$T/err"
rc=$?
n=$(ls "$T/out-two" | grep -c '\.eml$')
[ $rc = 0 ] && [ "$n" = 0 ] && grep -q 'two.test: several DMARC records (2); none applies' "$T/err" &&
    ok "several DMARC records: no report to either rua, and said why" ||
    bad "several DMARC records: rc $rc, $n mails ($(grep -h '^To:' "$T"/out-two/*.eml 2>/dev/null | tr '\n' ' ')): $(cat "$T/err")"
# one DMARC record and another TXT record: the DMARC record applies
sed -i '/second@/d' "$T/zone-two"
rm -f "$T"/out-two/*
"$CLI" report send --store "$T/two.db" --day $DAY --dry-run "$T/out-two" --zone "$T/zone-two" \
    --org-name receiver.test 2>"$T/err"
grep -qh '^To: first@two.test$' "$T"/out-two/*.eml 2>/dev/null &&
    ok "one DMARC record among other TXT records: its rua gets the report" ||
    bad "one DMARC record: no mail to first@two.test: $(cat "$T/err")"

# ---- a wildcard DMARC record: at most --max-per-org reports a day for one
# organisational domain (the public suffix list's), its own first, then the
# busiest --------------------------------------------------------------------------
cp "$T/s.db" "$T/wild.db"
sqlite3 "$T/wild.db" "CREATE TEMP TABLE t AS SELECT * FROM collected LIMIT 1;
DELETE FROM collected; DELETE FROM failure_queue;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30)
INSERT INTO collected SELECT t.day, d, t.source_ip, t.disposition, t.dkim_aligned, t.spf_aligned,
 d, t.envelope_from, t.envelope_to, t.dkim, t.spf, t.policy, t.reason, c
 FROM t, (SELECT 'r' || i || '.evil.test' AS d, i AS c FROM n
          UNION ALL SELECT 'evil.test', 1
          UNION ALL SELECT 'a.shop.example.co.uk', 1 UNION ALL SELECT 'b.shop.example.co.uk', 1)"
cat >"$T/zone-wild" <<'Z'
*.evil.test. 300 IN TXT "v=DMARC1; p=none; rua=mailto:agg@evil.test"
*.shop.example.co.uk. 300 IN TXT "v=DMARC1; p=none; rua=mailto:agg@example.co.uk"
Z
wild() { # OUTDIR [OPTIONS...]: the evil.test and example.co.uk reports made
    local out=$1
    shift
    mkdir -p "$out"
    "$CLI" report send --store "$T/wild.db" --day $DAY --dry-run "$out" --zone "$T/zone-wild" \
        --org-name receiver.test "$@" 2>"$out.err"
    echo "$? $(ls "$out" | grep -c 'evil\.test!.*\.xml\.gz$') $(ls "$out" | grep -c 'co\.uk!.*\.xml\.gz$')"
}
got=$(wild "$T/w20")
has() { ls "$T/$1" | grep -q "^receiver\.test!$2!"; }
[ "$got" = "0 20 2" ] && has w20 evil.test && has w20 r30.evil.test && has w20 r12.evil.test &&
    ! has w20 r11.evil.test && grep -q 'evil.test: 11 of 31 reports held back' "$T/w20.err" &&
    grep -q ', 11 held back$' "$T/w20.err" &&
    ok "wildcard: 20 of 31 evil.test reports (its own, then the busiest), example.co.uk's 2, and said so" ||
    bad "wildcard default: exit, evil.test, co.uk reports: $got; $(ls "$T/w20" | grep -c xml): $(cat "$T/w20.err")"
got=$(wild "$T/w0" --max-per-org 0)
[ "$got" = "0 31 2" ] && grep -q ', 0 held back$' "$T/w0.err" && ok "--max-per-org 0: no limit" ||
    bad "--max-per-org 0: $got $(cat "$T/w0.err")"
got=$(wild "$T/w1" --max-per-org 1)
[ "$got" = "0 1 1" ] && has w1 evil.test && has w1 a.shop.example.co.uk &&
    grep -q 'example.co.uk: 1 of 2 reports held back' "$T/w1.err" &&
    ok "--max-per-org 1: the organisational domain's own, else the first by name" ||
    bad "--max-per-org 1: $got $(ls "$T/w1") $(cat "$T/w1.err")"
# a later run of the day with late counts: what the first one sent counts
# first, so the day's total for evil.test stays at the limit
mkdir -p "$T/wspool"
printf '#!/bin/sh\ncat >"%s/wspool/m.$$.$(date +%%s%%N)"\n' "$T" >"$T/mta-w"
chmod +x "$T/mta-w"
wsend() { "$CLI" report send --store "$T/wild.db" --day $DAY --zone "$T/zone-wild" \
    --org-name receiver.test --max-per-org 2 --sendmail "$T/mta-w" 2>"$T/ws.err"; }
wsend
n1=$(grep -l '^To: agg@evil.test' "$T"/wspool/* 2>/dev/null | wc -l)
sqlite3 "$T/wild.db" "UPDATE collected SET count = count + 1000 WHERE policy_domain IN ('r1.evil.test', 'r2.evil.test')"
wsend
n2=$(grep -l '^To: agg@evil.test' "$T"/wspool/* 2>/dev/null | wc -l)
[ "$n1" = 2 ] && [ "$n2" = 2 ] && grep -q 'evil.test: 29 of 31 reports held back' "$T/ws.err" &&
    ok "re-run with late counts: still 2 evil.test reports in all" ||
    bad "re-run: $n1 then $n2 mails to agg@evil.test; $(cat "$T/ws.err")"
for v in -1 x 1000001 ''; do
    "$CLI" report send --store "$T/wild.db" --max-per-org "$v" >/dev/null 2>&1
    [ $? = 2 ] || bad "--max-per-org '$v' accepted"
done

# ---- destinations the record lists oddly (adv18 F4, F6, F11) -----------------------
# d0: one address three times (case aside): one mail; d1: a "!size" limit
# the report is over: not sent there, said so, the other address gets it;
# d2: an external address whose _report._dmarc name is longer than DNS
# allows: not authorised (it was "DNS error; later" on every run)
cp "$T/s.db" "$T/dest.db"
sqlite3 "$T/dest.db" "DELETE FROM failure_queue"
long=$(printf 'x%.0s' $(seq 1 60)).$(printf 'y%.0s' $(seq 1 60)).$(printf 'z%.0s' $(seq 1 60)).test
cat >"$T/zone-dest" <<Z
_dmarc.d0.example. 300 IN TXT "v=DMARC1; p=none; rua=mailto:agg@d0.example,mailto:AGG@D0.example,mailto:agg@d0.example"
_dmarc.d1.example. 300 IN TXT "v=DMARC1; p=none; rua=mailto:tiny@d1.example!1k,mailto:big@d1.example!10m"
_dmarc.d2.example. 300 IN TXT "v=DMARC1; p=none; rua=mailto:agg@$long"
_dmarc.d3.example. 300 IN TXT "v=DMARC1; p=none; rua=mailto:old@vendor.test,mailto:x@moved.test,mailto:old2@vendor.test"
d3.example._report._dmarc.vendor.test. 300 IN TXT "v=DMARC1; rua=mailto:a(b)@vendor.test,mailto:new@vendor.test"
d3.example._report._dmarc.moved.test. 300 IN TXT "v=DMARC1; rua=mailto:y@elsewhere.test"
Z
mkdir "$T/out-dest"
"$CLI" report send --store "$T/dest.db" --day $DAY --dry-run "$T/out-dest" --zone "$T/zone-dest" \
    --org-name receiver.test 2>"$T/err"
rc=$?
n0=$(ls "$T/out-dest" | grep -c 'd0\.example.*\.eml$')
[ "$n0" = 1 ] && ok "a destination listed three times gets one mail" ||
    bad "d0: $n0 mails: $(grep -h '^To:' "$T"/out-dest/*d0.example*.eml 2>/dev/null | tr '\n' ' ')"
to1=$(grep -h '^To:' "$T"/out-dest/*d1.example*.eml 2>/dev/null | tr '\n' ' ')
[ "$to1" = "To: big@d1.example " ] && grep -q 'to tiny@d1.example: [0-9]* bytes, over the address.s limit of 1024 (!size); not sent' "$T/err" &&
    ok "!size: the report goes only where it fits, and the other is named" ||
    bad "!size: mails to '$to1': $(cat "$T/err")"
n2=$(ls "$T/out-dest" | grep -c 'd2\.example.*\.eml$')
[ $rc = 0 ] && [ "$n2" = 0 ] && grep -q "d2.example: agg@$long is outside the domain and not authorised" "$T/err" &&
    ok "a _report._dmarc name longer than DNS allows: not authorised, exit 0" ||
    bad "long name: rc $rc, $n2 mails: $(grep d2.example "$T/err")"
# the consent record's redirect (RFC 9990 4.4 step 9; adv18 F5): same host,
# the new address (the first one a report can be sent to: "a(b)@" before it
# is passed over, rev23 R23-2); another host, neither
to3=$(grep -h '^To:' "$T"/out-dest/*d3.example*.eml 2>/dev/null | tr '\n' ' ')
[ "$to3" = "To: new@vendor.test " ] && grep -q ' old@vendor.test asks for new@vendor.test instead' "$T/err" &&
    grep -q ' old2@vendor.test asks for new@vendor.test instead' "$T/err" &&
    ok "a consent record's rua= on the same host replaces the address (two replaced by one: one mail); one elsewhere gets nothing" ||
    bad "redirect: mails to '$to3': $(grep d3.example "$T/err")"
# a store that is not there is not made (adv18 F12)
"$CLI" report send --store "$T/typo.db" --day $DAY --zone "$T/zone-dest" 2>"$T/err"
rc=$?
[ $rc = 3 ] && [ ! -e "$T/typo.db" ] && grep -q 'typo.db: No such file' "$T/err" &&
    ok "--store naming no file: exit 3 (as summary and prune), none made" || bad "typo store: rc $rc, $(ls "$T") $(cat "$T/err")"
# a file that is no store: the user's input too (adv26 CLI-6: summary said 4)
printf 'not a database\n' >"$T/text.db"
for c in "send --day $DAY --dry-run $T" "summary" "prune --days 1"; do
    # shellcheck disable=SC2086
    "$CLI" report $c --store "$T/text.db" >/dev/null 2>"$T/err"
    rc=$?
    [ $rc = 3 ] && grep -q 'not an SQLite database' "$T/err" && ok "report $c on a text file: exit 3, said" ||
        bad "report $c on a text file: rc $rc, $(cat "$T/err")"
done

# ---- a day a forger filled (adv18 F1): 2,000 records of made-up names, each
# some 4 KB that hardly compresses, and the domain's own 5 aligned ones: the
# report stays under SGREP_REPORT_XML_MAX (6 MiB) of XML, its own records in
# (they come first), what was left out said in report_metadata's error, and
# it still validates ------------------------------------------------------------
cp "$T/s.db" "$T/flood.db"
sqlite3 "$T/flood.db" "CREATE TEMP TABLE t AS SELECT * FROM collected WHERE policy_domain='d0.example' LIMIT 1;
DELETE FROM collected; DELETE FROM failure_queue;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
INSERT INTO collected SELECT t.day, 'd0.example', '198.51.100.7', 'reject', 'fail', 'fail',
 'd0.example', lower(hex(randomblob(100))) || '.test', '',
 (SELECT group_concat('d0.example/' || lower(hex(randomblob(110))) || '/fail', ' ')
    FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5
          UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8) WHERE n.i > 0),
 lower(hex(randomblob(100))) || '.test/mfrom/fail', t.policy, '', 1 FROM t, n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5)
INSERT INTO collected SELECT t.day, 'd0.example', '192.0.2.' || i, 'none', 'pass', 'pass',
 'd0.example', 'd0.example', '', 'd0.example/s1/pass', 'd0.example/mfrom/pass', t.policy, '', 1
 FROM t, n"
mkdir "$T/out-flood"
"$CLI" report send --store "$T/flood.db" --day $DAY --dry-run "$T/out-flood" --zone "$T/zone" \
    --org-name receiver.test 2>"$T/err"
rc=$?
gz=$(ls "$T"/out-flood/*.xml.gz 2>/dev/null | head -1)
gunzip -c "$gz" >"$T/flood.xml" 2>/dev/null
xb=$(stat -c %s "$T/flood.xml" 2>/dev/null || echo 0)
eb=$(stat -c %s "$(ls "$T"/out-flood/*.eml | head -1)" 2>/dev/null || echo 0)
own=$(grep -c '<source_ip>192\.0\.2\.[1-5]</source_ip>' "$T/flood.xml")
if [ $rc = 0 ] && [ "$xb" -gt 6000000 ] && [ "$xb" -le $((6 * 1048576 + 20000)) ] && [ "$eb" -lt 10240000 ] &&
    [ "$own" = 5 ] && grep -q '<error>[0-9]* of 2005 records ([0-9]* messages) left out' "$T/flood.xml" &&
    xmllint --noout --schema "$XSD" "$T/flood.xml" 2>/dev/null; then
    ok "a flooded day: $xb bytes of XML, a $eb-byte mail, the domain's own records in, the rest said"
else
    bad "flooded day: rc $rc, XML $xb bytes, mail $eb, own $own: $(grep -o '<error>[^<]*' "$T/flood.xml") $(cat "$T/err")"
fi

# ---- the consent answer is per kind (rev17): a record that redirects
# failure reports elsewhere (ruf=) refuses them even after an aggregate
# report was let through by it in the same run ------------------------------------
cp "$T/dest.db" "$T/kind.db"
sqlite3 "$T/kind.db" "INSERT INTO failure_queue(policy_domain, source_ip, hour, arrival, envelope_from,
 header_from, authres, dkim_aligned, spf_aligned, headers, ruf) VALUES('d0.example', '192.0.2.7',
 strftime('%s','now') / 3600 * 3600, strftime('%s','now'), 'x@evil.test', 'd0.example',
 'mx; dmarc=fail', 0, 0, 'From: ceo@d0.example', 'forensic@reports.test')"
cat >"$T/zone-kind" <<'Z'
_dmarc.d0.example. 300 IN TXT "v=DMARC1; p=none; rua=mailto:agg@reports.test; ruf=mailto:forensic@reports.test"
d0.example._report._dmarc.reports.test. 300 IN TXT "v=DMARC1; ruf=mailto:x@elsewhere.test"
Z
mkdir "$T/out-kind"
"$CLI" report send --store "$T/kind.db" --day $DAY --dry-run "$T/out-kind" --zone "$T/zone-kind" \
    --org-name receiver.test 2>"$T/err"
na=$(grep -l '^To: agg@reports.test' "$T"/out-kind/*.eml 2>/dev/null | wc -l)
nf=$(ls "$T"/out-kind/failure* 2>/dev/null | wc -l)
[ "$na" = 1 ] && [ "$nf" = 0 ] && grep -q 'failure report d0.example: forensic@reports.test is outside the domain and not authorised' "$T/err" &&
    ok "consent per kind: the aggregate report goes, the failure report the record redirects elsewhere does not" ||
    bad "consent per kind: $na aggregate, $nf failure mails: $(cat "$T/err")"

# ---- the Report-ID is the store's (rev17: with the host's name in it, a
# renamed host or a container's run sent the day's reports again) ----------------
"$FILL" "$T/s2.db" $DAY 1 100 6 >/dev/null || bad "report_fill s2"
mkdir "$T/out-s1" "$T/out-s2" "$T/out-s3"
"$CLI" report send --store "$T/dest.db" --day $DAY --dry-run "$T/out-s1" --zone "$T/zone" --org-name receiver.test 2>/dev/null
"$CLI" report send --store "$T/s2.db" --day $DAY --dry-run "$T/out-s2" --zone "$T/zone" --org-name receiver.test 2>/dev/null
id1=$(grep -ho 'Report-ID: <[^>]*' "$T"/out-s1/*d0.example*.eml | head -1)
id2=$(grep -ho 'Report-ID: <[^>]*' "$T"/out-s2/*d0.example*.eml | head -1)
sid=$(sqlite3 "$T/dest.db" "SELECT v FROM store_meta WHERE k='store_id'")
[ -n "$id1" ] && [ -n "$id2" ] && [ "$id1" != "$id2" ] && [ ${#sid} = 16 ] &&
    ok "two stores, two Report-IDs" || bad "store IDs: '$id1' '$id2' sid '$sid'"
if unshare -ur hostname other-host 2>/dev/null; then
    unshare -ur sh -c "hostname other-host && \"$CLI\" report send --store \"$T/dest.db\" --day $DAY --dry-run \"$T/out-s3\" --zone \"$T/zone\" --org-name receiver.test" 2>/dev/null
    id3=$(grep -ho 'Report-ID: <[^>]*' "$T"/out-s3/*d0.example*.eml 2>/dev/null | head -1)
    [ "$id3" = "$id1" ] && ok "the same store under another host name: the same Report-ID" ||
        bad "renamed host: '$id3', want '$id1'"
else
    echo "SKIP the renamed host (no user namespace here)"
fi
# a report sent under the ID of the version before is not sent again
# under the new one (the upgrade day)
cp "$T/s2.db" "$T/s3.db"
rid1=$(printf '%s' "$(grep -ho 'Report-ID: <[^>]*' "$T"/out-s2/*d0.example*.eml | head -1)" | sed 's/.*<//')
old=$(sqlite3 "$T/s3.db" "SELECT policy FROM collected WHERE policy_domain='d0.example' LIMIT 1" |
    /usr/bin/python3 -c 'import sys, time
p = sys.stdin.read().rstrip("\n")
h = 0xcbf29ce484222325
for s in ("d0.example", p):
    for ch in s.encode():
        h = ((h ^ ch) * 0x100000001b3) & 0xffffffffffffffff
print("%s.%016x.d0.example@receiver.test" % (sys.argv[1], h))' "$(echo $DAY | tr -d -)")
sqlite3 "$T/s3.db" "INSERT INTO send_queue(report_id, rua, policy_domain, day, state, tries) VALUES('$old', 'dmarc@d0.example', 'd0.example', strftime('%s','$DAY'), 'sent', 1)"
rm -f "$T"/spool.*
"$CLI" report send --store "$T/s3.db" --day $DAY --zone "$T/zone" --org-name receiver.test \
    --sendmail "$T/mta-ok" 2>"$T/err"
n=$(grep -l '^To: dmarc@d0.example' "$T"/spool.* 2>/dev/null | wc -l)
m=$(grep -l '^To: agg@reports.test' "$T"/spool.* 2>/dev/null | wc -l)
[ "$n" = 0 ] && [ "$m" = 1 ] && [ "$rid1" != "$old" ] &&
    ok "sent under the old Report-ID: not sent again (the other address still is)" ||
    bad "upgrade day: $n to dmarc@, $m to agg@ (old id $old): $(cat "$T/err")"

# ---- usage ------------------------------------------------------------------------
"$CLI" report send --store "$T/s.db" --day 2026-02-30 >/dev/null 2>&1
[ $? = 2 ] && ok "--day 2026-02-30: exit 2" || bad "bad day accepted"
"$CLI" report send --store "$T/s.db" --email 'a@b>c' >/dev/null 2>&1
[ $? = 2 ] && ok "--email with a special: exit 2" || bad "bad email accepted"

echo "reports_send: $pass passed, $fail failed"
[ $fail = 0 ]
