#!/usr/bin/env bash
# spoofguard report parse / summary / prune (issue 16 item 3):
#  - the 52 real reports in tests/conformance/dmarc-reports parse, each to
#    the numbers of tests/data/reports/real-manifest.jsonl, and that
#    manifest agrees with an independent reader (tests/data/reports/
#    oracle.py: Python's gzip, zipfile, email and xml.etree);
#  - a generated corpus (make_corpus.py): real-shaped reports read exactly,
#    hostile ones (bombs, entities, truncation, 600,000 records, nesting,
#    huge text, NUL) refused with the expected reason, nothing crashes (CI
#    runs this under ASan + UBSan too);
#  - the store: de-duplication, a refused report leaves nothing behind,
#    summary, prune; the exit statuses (`report send`: reports_send.sh).
set -u
CLI=${SG_CLI:?SG_CLI must point at the spoofguard binary}
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CONF=${SG_CONFORMANCE_DIR:-${SG_CONFORMANCE_DEFAULT:-$SRC/tests/conformance}}
REAL=$CONF/dmarc-reports/real
D=$SRC/tests/data/reports
T=$(mktemp -d /tmp/sg-reports.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

# compare.py OUT EXPECTED PREFIX: each expected line (keyed by "file") against
# the output line of that file: the same values for every key the expected
# line has (but "file"/"checked"), or an "error" containing its words.
cat >"$T/compare.py" <<'PY'
import json, sys
out = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    out[o["source"]] = o
bad = 0
n = 0
for line in open(sys.argv[2]):
    e = json.loads(line)
    src = sys.argv[3] + e.pop("file")
    e.pop("checked", None)
    o = out.get(src)
    n += 1
    if o is None:
        print(f"FAIL {src}: no output line"); bad += 1; continue
    if "error" in e:
        if e["error"].lower() not in o.get("error", "").lower():
            print(f"FAIL {src}: want refusal '{e['error']}', got {o}"); bad += 1
        else:
            print(f"PASS {src}: refused: {o['error']}")
        continue
    diff = {k: (v, o.get(k)) for k, v in e.items() if o.get(k) != v}
    if "error" in o or diff:
        print(f"FAIL {src}: {o.get('error') or diff}"); bad += 1
    else:
        print(f"PASS {src}")
if len(out) != n:
    print(f"FAIL {len(out)} output lines for {n} expected files"); bad += 1
sys.exit(1 if bad else 0)
PY

# ---- the real reports -----------------------------------------------------
n=$(find "$REAL" -type f | wc -l)
[ "$n" = 52 ] && ok "52 real reports present" || bad "real reports: $n files, want 52"
mapfile -t files < <(cd "$REAL" && find . -type f | sed 's|^\./||' | sort)
(cd "$REAL" && "$CLI" report parse --json "${files[@]}") >"$T/real.jsonl" 2>"$T/real.err"
rc=$?
# all read but RFC 9990's own example, dated 1979: a report before 2012
# (before DMARC reports existed) is refused (adv31 ADV31-2); the manifest
# keeps what the file says, for the oracle
[ $rc = 1 ] && [ "$(grep -c '"error"' "$T/real.jsonl")" = 1 ] &&
    grep -q '"parsedmarc/rfc9990-sample.xml","error":"date_range begin is before 2012-01-01' "$T/real.jsonl" &&
    ok "real reports: exit 1, only RFC 9990's example dated 1979 refused" ||
    bad "real reports: exit $rc $(grep error "$T/real.jsonl" | head -3)"
/usr/bin/python3 - "$D/real-manifest.jsonl" >"$T/real-expected.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["file"] == "parsedmarc/rfc9990-sample.xml":
        e = {"file": e["file"], "error": "date_range begin is before 2012-01-01"}
    print(json.dumps(e))
PY
if /usr/bin/python3 "$T/compare.py" "$T/real.jsonl" "$T/real-expected.jsonl" "" >"$T/cmp.out"; then
    ok "real reports: every file gives the manifest's numbers ($(grep -c '^PASS' "$T/cmp.out") files)"
else
    grep -v '^PASS' "$T/cmp.out"; bad "real reports against the manifest"
fi
# the manifest against the independent reader (files it can read)
(cd "$REAL" && /usr/bin/python3 "$D/oracle.py" "${files[@]}") >"$T/oracle.jsonl"
if /usr/bin/python3 - "$T/oracle.jsonl" "$D/real-manifest.jsonl" <<'PY'
import json, sys
o = {json.loads(l)["source"]: json.loads(l) for l in open(sys.argv[1])}
bad = by_hand = 0
for line in open(sys.argv[2]):
    e = json.loads(line)
    r = o[e["file"]]
    if "oracle_error" in r:
        by_hand += 1
        if not e["checked"].startswith("by hand"):
            print("oracle cannot read", e["file"]); bad += 1
        continue
    for k, v in r.items():
        if k != "source" and e.get(k) != v:
            print("oracle differs", e["file"], k, v, e.get(k)); bad += 1
print(f"{len(o) - by_hand} files cross-checked by the oracle, {by_hand} by hand")
sys.exit(bad)
PY
then ok "manifest agrees with oracle.py"; else bad "manifest against oracle.py"; fi

# ---- the generated corpus: real-shaped and hostile ----------------------------
/usr/bin/python3 "$D/make_corpus.py" "$T/corpus" || bad "make_corpus.py"
mapfile -t files < <(cd "$T/corpus" && ls | grep -v '^expected.jsonl$')
(cd "$T/corpus" && "$CLI" report parse --json "${files[@]}") >"$T/corpus.jsonl" 2>"$T/corpus.err"
rc=$?
[ $rc = 1 ] && ok "corpus: exit 1 (some refused)" || bad "corpus: exit $rc (want 1) $(head -c 300 "$T/corpus.err")"
if /usr/bin/python3 "$T/compare.py" "$T/corpus.jsonl" "$T/corpus/expected.jsonl" "" >"$T/cmp2.out"; then
    ok "corpus: $(grep -c 'refused:' "$T/cmp2.out") hostile files refused with the reason, $(grep '^PASS' "$T/cmp2.out" | grep -vc 'refused:') read exactly"
else
    grep -v '^PASS' "$T/cmp2.out"; bad "corpus"
fi
cat "$T/cmp2.out" | grep 'refused:' | sed 's/^PASS /  /'
# the real-shaped ones, read by the independent reader too (all but the one
# with an undeclared entity, which Python's strict parser rejects); only
# those: the oracle has no bounds, and inflating the bombs we refuse took it
# half a minute for nothing compared
mapfile -t real < <(/usr/bin/python3 -c 'import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if "error" not in e: print(e["file"])' "$T/corpus/expected.jsonl")
(cd "$T/corpus" && /usr/bin/python3 "$D/oracle.py" "${real[@]}") >"$T/corpus-oracle.jsonl"
if /usr/bin/python3 - "$T/corpus-oracle.jsonl" "$T/corpus/expected.jsonl" <<'PY'
import json, sys
o = {json.loads(l)["source"]: json.loads(l) for l in open(sys.argv[1])}
bad = n = 0
for line in open(sys.argv[2]):
    e = json.loads(line)
    if "error" in e:
        continue
    r = o[e["file"]]
    if e["file"] == "entity-reference-undeclared.xml":
        assert "oracle_error" in r, r
        continue
    n += 1
    for k, v in r.items():
        if k != "source" and e.get(k) != v:
            print("oracle differs", e["file"], k, v, e.get(k)); bad += 1
print(f"{n} real-shaped files cross-checked by the oracle")
sys.exit(bad)
PY
then ok "corpus: the expected numbers agree with oracle.py"; else bad "corpus against oracle.py"; fi

# ---- exit statuses and the text form -----------------------------------------
"$CLI" report parse "$REAL/cryinc/google.xml" >"$T/text" 2>&1 && grep -q "3166094538684628578 from google.com about foo-bar.io" "$T/text" &&
    ok "text form, exit 0" || bad "text form: $(cat "$T/text")"
"$CLI" report parse "$REAL/stalwart/dmarc-feedback-003.xml" >"$T/text" 2>&1 &&
    grep -q "none 9; policy overridden: trusted_forwarder 8$" "$T/text" &&
    ok "text form: override reasons" || bad "text form reasons: $(cat "$T/text")"
# a reporter's text reaches a terminal without control characters. libxml2
# already drops what XML forbids (ESC, BEL); DEL and C1 (CSI as UTF-8) are
# XML characters and came through before: in the Report-ID, a disposition,
# a reason, the policy domain and the source address; a file name with ESC
# in the refusal line; the summary from the store
printf '<feedback><report_metadata><org_name>Evil\033]0;pwned\007Org</org_name><report_id>id\302\2332J</report_id><date_range><begin>1767225600</begin><end>1767311999</end></date_range></report_metadata><policy_published><domain>example.org</domain></policy_published><record><row><source_ip>192.0.2.1\177\302\2332J</source_ip><count>3</count><policy_evaluated><disposition>no\177ne</disposition><reason><type>for\302\2338mwarded</type></reason></policy_evaluated></row></record></feedback>\n' >"$T/esc.xml"
printf '<html></html>' >"$T/esc-"$'\033'"[2J.xml"
"$CLI" report parse "$T/esc.xml" "$T/esc-"*.xml >"$T/esc.out" 2>&1
"$CLI" report parse --store "$T/esc.db" "$T/esc.xml" >/dev/null 2>&1 &&
    "$CLI" report summary --store "$T/esc.db" >>"$T/esc.out" 2>&1
if LC_ALL=C grep -q "$(printf '[\001-\010\016-\037\177]\\|\302[\200-\237]')" "$T/esc.out"; then
    bad "control characters reached the terminal: $(cat -v "$T/esc.out")"
elif grep -q "report id?2J from Evil\]0;pwnedOrg about example.org" "$T/esc.out" &&
    grep -q "no?ne 3; policy overridden: other 3" "$T/esc.out" &&
    grep -q "esc-?\[2J.xml: refused" "$T/esc.out" && grep -q "^example.org$" "$T/esc.out" &&
    grep -qi "192.0.2.1??2J" "$T/esc.out"; then
    ok "text forms: DEL and C1 from reports shown as ?"
else
    bad "text forms with control characters: $(cat -v "$T/esc.out")"
fi
"$CLI" report parse --json "$REAL/cryinc/google.xml" "$T/corpus/xxe-passwd.xml" >"$T/two" 2>&1; rc=$?
[ $rc = 1 ] && [ "$(wc -l <"$T/two")" = 2 ] && ok "one refused of two: exit 1, two lines" || bad "exit with a refusal: $rc"
"$CLI" report parse --json "$T/nonexistent" >"$T/ne" 2>&1; rc=$?
[ $rc = 1 ] && grep -q '"error"' "$T/ne" && ok "missing file: an error line, exit 1" || bad "missing file: $rc"
"$CLI" report parse >/dev/null 2>&1; [ $? = 2 ] && ok "no operand: exit 2" || bad "no operand"
"$CLI" report send --no-such-option >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && ok "report send: unknown option, exit 2 (sending: reports_send.sh)" || bad "report send: $rc"

# ---- Maildir: new/ and cur/ read, tmp/ not --------------------------------
mkdir -p "$T/md/new" "$T/md/cur" "$T/md/tmp"
cp "$REAL/stalwart/dmarc-feedback-100.eml" "$T/md/new/1.host"
cp "$REAL/parsedmarc/dmarc_ruf_report_linkedin.eml" "$T/md/cur/2.host:2,S"
cp "$REAL/stalwart/dmarc-feedback-102.eml" "$T/md/tmp/3.host"
"$CLI" report parse --json "$T/md" >"$T/md.jsonl"; rc=$?
[ $rc = 0 ] && [ "$(wc -l <"$T/md.jsonl")" = 2 ] && ! grep -q '/tmp/3.host' "$T/md.jsonl" &&
    ok "Maildir: new/ and cur/ read, tmp/ skipped" || bad "Maildir: $rc $(cat "$T/md.jsonl")"
[ -f "$T/md/new/1.host" ] && [ -f "$T/md/cur/2.host:2,S" ] && ok "Maildir: nothing moved or deleted" || bad "Maildir files touched"

# ---- the store -----------------------------------------------------------------
DB=$T/reports.db
"$CLI" report parse --json --store "$DB" "$REAL/parsedmarc/nice-input.xml" >"$T/s1" || bad "store: first parse"
"$CLI" report parse --json --store "$DB" "$REAL/parsedmarc/nice-input.xml.gz" "$REAL/parsedmarc/nice-input.xml.zip" >"$T/s2" || bad "store: second parse"
grep -q '"stored":"new"' "$T/s1" && [ "$(grep -c '"stored":"duplicate"' "$T/s2")" = 2 ] &&
    ok "store: the same report three times: new, duplicate, duplicate" || bad "store dedup: $(cat "$T/s1" "$T/s2")"
# refused after 12 of its 20 records were written: a truncated copy under another Report-ID
sed 's/11038226378739404135/trunc-1/' "$REAL/parsedmarc/nice-input.xml" | head -c 9000 >"$T/trunc.xml"
"$CLI" report parse --json --store "$DB" "$T/trunc.xml" "$REAL/parsedmarc/dmarc_ruf_report_linkedin.eml" \
    "$REAL/parsedmarc/dmarc_ruf_report_linkedin.crlf.eml" >"$T/s3"; rc=$?
[ $rc = 1 ] || bad "store: a refused report must exit 1 ($rc)"
/usr/bin/python3 - "$DB" <<'PY' && ok "store: one aggregate report (20 records, 3047 messages), one failure report, nothing of the refused one" || bad "store contents"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
q = lambda s: db.execute(s).fetchall()
assert q("PRAGMA journal_mode") == [("wal",)], q("PRAGMA journal_mode")
assert q("SELECT kind, org_name, report_id, records, messages FROM received_report ORDER BY id") == [
    ("aggregate", "google.com", "11038226378739404135", 20, 3047),
    ("failure", "linkedin.com", "BB.91.26019.C3EA7CC5@mail516.prod.linkedin.com", 0, 0)], q("SELECT * FROM received_report")
assert q("SELECT count(*), sum(count) FROM received_record") == [(20, 3047)]
assert q("SELECT count(*) FROM received_auth WHERE method='dkim'")[0][0] >= 20
assert q("SELECT source_ip, auth_failure FROM received_failure") == [("10.10.10.10", "dmarc")]
PY
# summary: DMARC pass = dkim or spf aligned pass, per domain/day/source, against python's own sums
"$CLI" report summary --json --store "$DB" >"$T/sum.jsonl" || bad "summary exit"
/usr/bin/python3 - "$T/sum.jsonl" "$REAL/parsedmarc/nice-input.xml" <<'PY' && ok "summary: pass/fail per source match the XML" || bad "summary numbers"
import json, sys, collections, xml.etree.ElementTree as ET
rows = [json.loads(l) for l in open(sys.argv[1])]
want = collections.Counter()
root = ET.parse(sys.argv[2]).getroot()
for r in root.iter("record"):
    ip, n = r.findtext("row/source_ip"), int(r.findtext("row/count"))
    ok = "pass" in (r.findtext("row/policy_evaluated/dkim"), r.findtext("row/policy_evaluated/spf"))
    want[(ip, "pass" if ok else "fail")] += n
got = collections.Counter()
for r in rows:
    assert r["policy_domain"] == "example.com" and r["day"] == "2024-06-13", r
    got[(r["source_ip"], "pass")] += r["pass"]; got[(r["source_ip"], "fail")] += r["fail"]
got = +got
assert got == want, (got, want)
PY
"$CLI" report summary --store "$DB" --domain example.com >"$T/sum.txt" && grep -q '^example.com$' "$T/sum.txt" &&
    grep -q '2024-06-13' "$T/sum.txt" && ok "summary: text form" || bad "summary text: $(head -5 "$T/sum.txt")"
[ "$("$CLI" report summary --json --store "$DB" --domain other.example | wc -l)" = 0 ] && ok "summary --domain filters" || bad "summary --domain"
# summary: the reasons receivers gave for not applying the policy, per
# domain/day/source, against Python's reading of the XML (the first
# reason's type, lower case; none or an empty type is not counted). One
# source gives two reason types in two reports of one day: merged.
RDB=$T/reasons.db
mix() { # org id: 192.0.2.50 sends under two reasons and none
    printf '<feedback><report_metadata><org_name>%s</org_name><report_id>%s</report_id><date_range><begin>1767225600</begin><end>1767311999</end></date_range></report_metadata><policy_published><domain>example.net</domain><p>reject</p></policy_published>' "$1" "$2"
    printf '<record><row><source_ip>192.0.2.50</source_ip><count>%s</count><policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf><reason><type>%s</type></reason></policy_evaluated></row><identifiers><header_from>example.net</header_from></identifiers></record>' 3 trusted_forwarder 2 MAILING_LIST
    printf '<record><row><source_ip>192.0.2.50</source_ip><count>1</count><policy_evaluated><disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row><identifiers><header_from>example.net</header_from></identifiers></record></feedback>\n'
}
mix one.example m1 >"$T/mix1.xml"
mix two.example m2 >"$T/mix2.xml"
rfiles=("$REAL/cryinc/acme.xml" "$REAL/stalwart/dmarc-feedback-003.xml" "$T/corpus/reasons.xml"
    "$T/corpus/rfc9990.xml" "$REAL/parsedmarc/nice-input.xml" "$T/mix1.xml" "$T/mix2.xml")
"$CLI" report parse --store "$RDB" "${rfiles[@]}" >/dev/null || bad "reasons store"
"$CLI" report summary --json --store "$RDB" >"$T/rsum.jsonl" || bad "reasons summary exit"
/usr/bin/python3 - "$T/rsum.jsonl" "${rfiles[@]}" <<'PY' && ok "summary: overridden and reasons per source match the XML" || bad "summary reasons"
import collections, datetime, json, sys, xml.etree.ElementTree as ET
def local(tag):
    return tag.rsplit("}", 1)[-1]
def text(el, path):
    for name in path.split("/"):
        el = next((c for c in el if local(c.tag) == name), None) if el is not None else None
    return (el.text or "").strip() if el is not None else ""
want = collections.defaultdict(collections.Counter)
for f in sys.argv[2:]:
    root = ET.parse(f).getroot()
    dom = text(root, "policy_published/domain").lower()
    day = datetime.datetime.fromtimestamp(int(text(root, "report_metadata/date_range/begin").split(".")[0]) // 86400 * 86400, datetime.timezone.utc).strftime("%Y-%m-%d")
    for rec in (c for c in root if local(c.tag) == "record"):
        key = (dom, day, text(rec, "row/source_ip"))
        want[key]["."] += 0
        pe = next((c for c in rec.iter() if local(c.tag) == "policy_evaluated"), None)
        first = next((c for c in pe if local(c.tag) == "reason"), None) if pe is not None else None
        r = text(first, "type").lower() if first is not None else ""
        if r:
            want[key][r] += int(text(rec, "row/count"))
rows = [json.loads(l) for l in open(sys.argv[1])]
got = {(r["policy_domain"], r["day"], r["source_ip"]): r for r in rows}
assert set(got) == set(want), set(got) ^ set(want)
for k, c in want.items():
    c = {n: v for n, v in c.items() if n != "."}
    assert got[k]["reasons"] == c, (k, got[k], c)
    assert got[k]["overridden"] == sum(c.values()), (k, got[k])
m = got[("example.net", "2026-01-01", "192.0.2.50")]
assert m["reasons"] == {"trusted_forwarder": 6, "mailing_list": 4} and m["fail"] == 12, m
assert got[("stalw.art", "2022-11-02", "173.228.157.66")]["reasons"] == {"trusted_forwarder": 4}
PY
"$CLI" report summary --store "$RDB" --domain stalw.art >"$T/rsum.txt"
grep -qE '^  2022-11-02  173\.228\.157\.66 +0 +4 +4  trusted_forwarder 4$' "$T/rsum.txt" &&
    grep -qE '^  day +source +pass +fail +overridden$' "$T/rsum.txt" &&
    ok "summary, text: the overridden column and its reasons" || bad "summary reasons text: $(cat "$T/rsum.txt")"
# summary --csv: the JSON's rows as RFC 4180 CSV (Python's csv module reads
# it back); a reporter's cell that a spreadsheet would run as a formula
# starts with an apostrophe, and a reason name cannot split its cell
"$CLI" report summary --csv --store "$RDB" >"$T/rsum.csv" || bad "summary --csv exit"
/usr/bin/python3 - "$T/rsum.csv" "$T/rsum.jsonl" <<'PY' && ok "summary --csv: the same rows as --json" || bad "summary csv"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
js = [json.loads(l) for l in open(sys.argv[2])]
assert len(rows) == len(js) and len(js) > 20, (len(rows), len(js))
for c, j in zip(rows, js):
    for k in ("policy_domain", "day", "source_ip"):
        assert c[k] == j[k], (c, j)
    for k in ("pass", "fail", "overridden"):
        assert int(c[k]) == j[k], (c, j)
    got = dict((n, int(v)) for n, v in (x.split("=") for x in c["reasons"].split(";") if x))
    assert got == j["reasons"], (c, j)
PY
printf '<feedback><report_metadata><org_name>evil</org_name><report_id>csv-1</report_id><date_range><begin>1767225600</begin><end>1767311999</end></date_range></report_metadata><policy_published><domain>Example.NET.</domain><p>reject</p></policy_published><record><row><source_ip>+1,2</source_ip><count>3</count><policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf><reason><type>a;b=c,"d</type></reason></policy_evaluated></row><identifiers><header_from>x</header_from></identifiers></record><record><row><source_ip>x;=1</source_ip><count>2</count><policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf><reason><type>-1-1</type></reason></policy_evaluated></row><identifiers><header_from>x</header_from></identifiers></record></feedback>\n' >"$T/csv-evil.xml"
"$CLI" report parse --store "$T/csv.db" "$T/csv-evil.xml" >/dev/null || bad "csv store"
"$CLI" report summary --csv --store "$T/csv.db" >"$T/evil.csv"
/usr/bin/python3 - "$T/evil.csv" <<'PY' && ok "summary --csv: formulas neutralised, reasons kept in their cell" || bad "csv hostile: $(cat "$T/evil.csv")"
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
assert rows[0] == "policy_domain,day,source_ip,pass,fail,overridden,reasons".split(","), rows
assert rows[1] == ["example.net", "2026-01-01", "'+1,2", "0", "3", "3", "other=3"], rows
assert rows[2] == ["example.net", "2026-01-01", "x;=1", "0", "2", "2", "other=2"], rows
# every text cell quoted: a ';' locale's spreadsheet does not split inside quotes
for line in open(sys.argv[1], newline="").read().split("\r\n")[1:]:
    if line:
        c = line.split(",")
        assert c[0].startswith('"') and c[2].startswith('"') and c[-1].startswith('"'), line
PY
"$CLI" report summary --csv --json --store "$RDB" >/dev/null 2>&1; [ $? = 2 ] && ok "summary: --csv with --json is a usage error" || bad "csv+json"
"$CLI" report prune --store "$DB" --days 36500 | grep -q '^0 reports deleted' && ok "prune keeps recent reports" || bad "prune keep"
/usr/bin/python3 -c 'import sqlite3,sys; db=sqlite3.connect(sys.argv[1]); db.execute("UPDATE received_report SET stored_at=0"); db.commit()' "$DB"
"$CLI" report prune --store "$DB" --days 1 | grep -q '^2 reports deleted' &&
    /usr/bin/python3 -c 'import sqlite3,sys; db=sqlite3.connect(sys.argv[1]); sys.exit(sum(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("received_report","received_record","received_auth","received_failure")))' "$DB" &&
    ok "prune deletes old reports with their records" || bad "prune delete"
"$CLI" report parse --store /nonexistent/dir/x.db "$REAL/cryinc/google.xml" >/dev/null 2>&1; rc=$?
[ $rc = 4 ] && ok "store cannot be opened: exit 4" || bad "store open failure: $rc"

# ---- adv31: hostile reporters ----------------------------------------------
# mk ORG ID DOMAIN BEGIN END SOURCE COUNT DKIM: one record's report on stdout
mk() {
    printf '<feedback><report_metadata><org_name>%s</org_name><report_id>%s</report_id><date_range><begin>%s</begin><end>%s</end></date_range></report_metadata><policy_published><domain>%s</domain><p>reject</p></policy_published><record><row><source_ip>%s</source_ip><count>%s</count><policy_evaluated><disposition>none</disposition><dkim>%s</dkim><spf>fail</spf></policy_evaluated></row></record></feedback>\n' "$1" "$2" "$4" "$5" "$3" "$6" "$7" "$8"
}
A=$T/adv31.db
# ADV31-3: a forger sends first under the real reporter's predictable ID;
# the real report is stored too, flagged; each again is a duplicate
mk AOL owner.example_1767225600 owner.example 1767225600 1767311999 203.0.113.9 1 pass >"$T/forged.xml"
mk AOL owner.example_1767225600 owner.example 1767225600 1767311999 198.51.100.7 500 fail >"$T/real.xml"
gzip -c "$T/real.xml" >"$T/real.xml.gz"
"$CLI" report parse --json --store "$A" "$T/forged.xml" "$T/real.xml" "$T/real.xml.gz" "$T/forged.xml" >"$T/conflict.jsonl" 2>&1
"$CLI" report parse --store "$A" "$T/real.xml" >"$T/conflict.txt" 2>&1
/usr/bin/python3 - "$T/conflict.jsonl" <<'PY' && ok "same Report-ID, other content: stored and flagged id_conflict; the same again: duplicate" || bad "id_conflict: $(cat "$T/conflict.jsonl")"
import json, sys
o = [json.loads(l) for l in open(sys.argv[1])]
assert [x["stored"] for x in o] == ["new", "new", "duplicate", "duplicate"], o
assert [x.get("id_conflict") for x in o] == [None, True, None, None], o
PY
grep -q "stored: duplicate$" "$T/conflict.txt" && ok "text: a duplicate" || bad "conflict text: $(cat "$T/conflict.txt")"
mk AOL owner.example_1767225600 owner.example 1767225600 1767311999 198.51.100.8 5 fail >"$T/third.xml"
"$CLI" report parse --store "$A" "$T/third.xml" | grep -q "stored: new (another report with this org_name and report_id, with other content, was stored before)$" &&
    ok "text: the id conflict said" || bad "text: no id conflict"
# failure reports share the rule: the same From domain and Message-ID with
# other content is stored and flagged
sed 's/^Source-IP: 192.0.2.99/Source-IP: 192.0.2.100/' "$T/corpus/arf-rfc9991.eml" >"$T/arf2.eml"
"$CLI" report parse --json --store "$A" "$T/corpus/arf-rfc9991.eml" "$T/arf2.eml" "$T/corpus/arf-rfc9991.eml" >"$T/arf.jsonl"
/usr/bin/python3 - "$T/arf.jsonl" <<'PY' && ok "failure reports: same Message-ID, other content: stored, id_conflict" || bad "failure id_conflict: $(cat "$T/arf.jsonl")"
import json, sys
o = [json.loads(l) for l in open(sys.argv[1])]
assert [(x["stored"], x.get("id_conflict")) for x in o] == [("new", None), ("new", True), ("duplicate", None)], o
PY
# ADV31-4: a blank org_name is one identity: stored once over runs
mk '  ' x:1 owner.example 1767225600 1767311999 192.0.2.1 3 pass >"$T/blank.xml"
"$CLI" report parse --json --store "$A" "$T/blank.xml" >/dev/null
"$CLI" report parse --json --store "$A" "$T/blank.xml" | grep -q '"stored":"duplicate"' &&
    ok "blank org_name: a duplicate the second time" || bad "blank org_name stored again"
# ADV31-9: --domain as the stored name, whatever its case or root dot
for d in owner.example Owner.Example owner.example.; do
    n=$("$CLI" report summary --json --store "$A" --domain "$d" | wc -l)
    [ "$n" = 4 ] && ok "summary --domain $d: 4 rows" || bad "summary --domain $d: $n rows"
done
n=$("$CLI" report summary --json --store "$A" --domain 'a..b' | wc -l); [ "$n" = 0 ] && ok "--domain not a name: as given, no row" || bad "--domain a..b: $n"
# ADV31-1: rows past what a parse accepts now (stored before the bounds)
# overflow no sum: every domain's summary is still there
mk evil e-1 evil.test 1767225600 1767311999 203.0.113.66 1 pass >"$T/evil.xml"
"$CLI" report parse --store "$A" "$T/evil.xml" >/dev/null
/usr/bin/python3 -c 'import sqlite3,sys; db=sqlite3.connect(sys.argv[1]); [db.execute("INSERT INTO received_record(report, source_ip, count, dkim) SELECT report, source_ip, 9223372036854775807, dkim FROM received_record WHERE source_ip=?", ("203.0.113.66",)) for i in range(3)]; db.commit()' "$A"
"$CLI" report summary --json --store "$A" >"$T/ovf.jsonl" 2>"$T/ovf.err"; rc=$?
[ $rc = 0 ] && grep -q '"policy_domain":"owner.example".*"source_ip":"198.51.100.7","pass":0,"fail":500' "$T/ovf.jsonl" &&
    grep -q '"policy_domain":"evil.test"' "$T/ovf.jsonl" && ok "sums past 2^63: exit 0, every domain shown" ||
    bad "overflow: exit $rc $(cat "$T/ovf.err")"
"$CLI" report summary --csv --store "$A" >/dev/null 2>&1 && ok "sums past 2^63: --csv exit 0" || bad "overflow csv"
# ADV31-1/2/7: what one report may claim, refused with its reason
now=$(date +%s)
mk o c-1 owner.example 1767225600 1767311999 192.0.2.1 4294967296 pass >"$T/r1.xml"
mk o c-2 owner.example $((now - 3600)) $((now + 30 * 86400)) 192.0.2.1 1 pass >"$T/r2.xml"
mk o c-3 owner.example 9223372036854775807 9223372036854775807 192.0.2.1 1 pass >"$T/r3.xml"
mk o c-4 owner.example 1767311999 1767225600 192.0.2.1 1 pass >"$T/r4.xml"
mk o c-5 owner.example 1700000000 1767225600 192.0.2.1 1 pass >"$T/r5.xml"
mk o c-6 'owner.example\..' 1767225600 1767311999 192.0.2.1 1 pass >"$T/r6.xml"
"$CLI" report parse --json "$T"/r[1-6].xml >"$T/refused.jsonl"; rc=$?
/usr/bin/python3 - "$T/refused.jsonl" <<'PY' && [ $rc = 1 ] && ok "implausible counts, dates and domains refused with reasons" || bad "refusals: $rc $(cat "$T/refused.jsonl")"
import json, sys
o = [json.loads(l)["error"] for l in open(sys.argv[1])]
want = ["count over 4294967295", "more than a day after now", "more than a day after now",
        "end is before begin", "covers more than 31 days", "not a domain name"]
assert len(o) == len(want) and all(w in e for w, e in zip(want, o)), o
PY

echo "$pass passed, $fail failed"
[ $fail = 0 ]
