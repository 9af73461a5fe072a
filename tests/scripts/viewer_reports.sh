#!/bin/bash
# spoofguard-view's /reports page (issue 16): a store made by `spoofguard
# report parse --store` from reports whose numbers are known, the real
# viewer on loopback, and the SVG read back with Python: one pass and one
# fail bar per day with data, of the day's messages and of the height they
# must have on the chart's scale; the --days window; names escaped; no
# store, and no --reports-db, said in words; /reports.csv, the same bytes
# as `spoofguard report summary --csv`.
#
# Env (set by ctest): SG_VIEW, SG_CLI. Port: SG_VIEW_REPORTS_PORT (18140).
set -u
VIEW=${SG_VIEW:?SG_VIEW not set}
CLI=${SG_CLI:?SG_CLI not set}
PORT=${SG_VIEW_REPORTS_PORT:-18140}
B=http://127.0.0.1:$PORT
T=$(mktemp -d /tmp/sg-viewrep.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

# --- reports with known numbers: example.com on 3 days (one day with two
# reports from two organisations), and a domain whose name needs escaping
report() { # org id domain begin records: "ip count dkim spf" ...
    local org=$1 id=$2 dom=$3 begin=$4; shift 4
    printf '<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0"><report_metadata><org_name>%s</org_name><report_id>%s</report_id><date_range><begin>%s</begin><end>%s</end></date_range></report_metadata><policy_published><domain>%s</domain><p>reject</p></policy_published>' \
        "$org" "$id" "$begin" $((begin + 86399)) "$dom"
    for r in "$@"; do
        set -- $r
        printf '<record><row><source_ip>%s</source_ip><count>%s</count><policy_evaluated><disposition>none</disposition><dkim>%s</dkim><spf>%s</spf></policy_evaluated></row><identifiers><header_from>x</header_from></identifiers></record>' "$@"
    done
    printf '</feedback>\n'
}
D0=1767225600 # 2026-01-01
mkdir -p "$T/in" "$T/md/new" "$T/md/cur" "$T/md/tmp"
report google.com g1 example.com $D0 "192.0.2.1 100 pass pass" "198.51.100.9 7 fail fail" >"$T/in/1.xml"
report yahoo.com y1 example.com $D0 "192.0.2.1 20 pass fail" "198.51.100.9 3 fail fail" >"$T/in/2.xml"
report google.com g2 example.com $((D0 + 86400)) "192.0.2.1 50 fail pass" >"$T/in/3.xml"
report google.com g3 example.com $((D0 + 3 * 86400)) "192.0.2.1 10 pass pass" "203.0.113.5 40 fail fail" >"$T/in/4.xml"
# a name that is not a domain is refused at parse now (adv31 ADV31-8): it
# is put in the store as one stored before that was, for the escaping check
report google.com g4 bold.example $D0 "192.0.2.1 1 pass pass" >"$T/in/5.xml"
# reasons for not applying the policy (RFC 9990): 203.0.113.5 came through a
# trusted forwarder (6 of its messages), 192.0.2.1 under local policy (2)
report outlook.com o1 example.com $((D0 + 3 * 86400)) "203.0.113.5 6 fail fail" "192.0.2.1 2 pass pass" |
    sed -e '0,/<\/spf>/s//&<reason><type>trusted_forwarder<\/type><\/reason>/' \
        -e '0,/pass<\/spf>/s//&<reason><type>local_policy<\/type><\/reason>/' >"$T/in/6.xml"
"$CLI" report parse --store "$T/reports.db" "$T/in" >/dev/null && ok "store made" || bad "report parse --store"
/usr/bin/python3 -c 'import sqlite3,sys; db=sqlite3.connect(sys.argv[1]); db.execute("UPDATE received_report SET policy_domain=? WHERE policy_domain=?", ("<b>bold.example", "bold.example")); db.commit()' "$T/reports.db"

"$VIEW" --maildir "$T/md" --listen 127.0.0.1:$PORT --reports-db "$T/reports.db" >"$T/view.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "$B/reports" && break; sleep 0.1; done
curl -s "$B/reports" >"$T/page.html"
curl -s "$B/reports?days=2" >"$T/page2.html"
curl -s "$B/" >"$T/list.html"

/usr/bin/python3 - "$T/page.html" "$T/page2.html" <<'PY' && ok "chart: bars per day with the known pass/fail and heights, --days window" || bad "chart"
import re, sys
html = open(sys.argv[1]).read()
svgs = re.findall(r'<svg class="chart".*?</svg>', html, re.S)
assert len(svgs) == 2, len(svgs)
ex = next(s for s in svgs if 'data-domain="example.com"' in s)
ymax = int(re.search(r'data-ymax="(\d+)"', ex).group(1))
ph = int(re.search(r'data-plot-height="(\d+)"', ex).group(1))
assert ymax == 200, ymax  # the busiest day: 130 messages, the axis's nice top 200
bars = {}
for cls, day, n, h in re.findall(r'<rect class="(pass|fail)" data-day="([\d-]+)" data-messages="(\d+)" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"', ex):
    bars[(day, cls)] = int(n)
    assert abs(float(h) - ph * int(n) / ymax) < 0.06, (day, cls, n, h)
want = {("2026-01-01", "pass"): 120, ("2026-01-01", "fail"): 10,
        ("2026-01-02", "pass"): 50, ("2026-01-02", "fail"): 0,
        ("2026-01-04", "pass"): 12, ("2026-01-04", "fail"): 46}
assert bars == want, bars
assert "2026-01-01: 120 passed, 10 failed" in ex
assert "passed DMARC" in ex and "failed" in ex  # the legend, in words
# the window ends at the domain's last day: 31 days by default, 2 with ?days=2
html2 = open(sys.argv[2]).read()
ex2 = next(s for s in re.findall(r'<svg class="chart".*?</svg>', html2, re.S) if 'data-domain="example.com"' in s)
days2 = sorted(set(re.findall(r'data-day="([\d-]+)"', ex2)))
assert days2 == ["2026-01-04"], days2
# the sources that failed most, most first
ol = re.search(r'<ol class="sources">(.*?)</ol>', html, re.S).group(1)
assert ol.index("203.0.113.5") < ol.index("198.51.100.9"), ol
assert "203.0.113.5</code>: 46 failed, 0 passed; policy not applied to 6: trusted_forwarder 6</li>" in ol, ol
assert "198.51.100.9</code>: 10 failed, 0 passed</li>" in ol, ol
# the reasons over the window, with what they mean
ul = re.search(r'<p>Receivers did not apply the published policy to (\d+) messages, and said why:</p><ul class="reasons">(.*?)</ul>', html, re.S)
assert ul and ul.group(1) == "8", ul
items = dict((r, int(n)) for r, n in re.findall(r'<li data-reason="([a-z_]+)" data-messages="(\d+)">', ul.group(2)))
assert items == {"trusted_forwarder": 6, "local_policy": 2}, items
assert "forwarder the receiver trusts" in ul.group(2)
# ?days=2 still covers 2026-01-04; the bold domain has no reason, no list
assert html.count('class="reasons"') == 1
PY
grep -q '<h2>&#60;b&#62;bold.example</h2>' "$T/page.html" && ! grep -q '<b>bold' "$T/page.html" &&
    ok "a domain name is escaped" || bad "escaping"
grep -q 'href="/reports"' "$T/list.html" && ok "the message list links to /reports" || bad "link from the list"
grep -qi "content-security-policy: default-src 'self'; script-src 'none'" <(curl -si "$B/reports") &&
    ok "the page's CSP allows no script" || bad "CSP"
# /reports.csv: the same bytes as the CLI's --csv, whole and per domain
# (the page links both; the domain percent-encoded in the link)
curl -s -D "$T/csv.h" "$B/reports.csv" >"$T/all.csv"
"$CLI" report summary --csv --store "$T/reports.db" >"$T/cli.csv"
[ -s "$T/all.csv" ] && cmp -s "$T/all.csv" "$T/cli.csv" && ok "/reports.csv: the CLI's CSV, byte for byte" ||
    bad "/reports.csv differs: $(diff <(cat -A "$T/all.csv") <(cat -A "$T/cli.csv") | head -5)"
grep -qi '^content-type: text/csv; charset=utf-8; header=present' "$T/csv.h" &&
    grep -qi '^content-disposition: attachment; filename="dmarc-summary.csv"' "$T/csv.h" &&
    ok "/reports.csv: text/csv, as an attachment" || bad "CSV headers: $(cat "$T/csv.h")"
grep -q 'href="/reports.csv" download>' "$T/page.html" &&
    grep -q 'href="/reports.csv?domain=example.com" download>' "$T/page.html" &&
    grep -q 'href="/reports.csv?domain=%3Cb%3Ebold.example" download>' "$T/page.html" &&
    ok "the page links the CSV, whole and per domain (encoded)" || bad "CSV links"
curl -s -D "$T/csv2.h" "$B/reports.csv?domain=%3Cb%3Ebold.example" >"$T/bold.csv"
"$CLI" report summary --csv --store "$T/reports.db" --domain '<b>bold.example' >"$T/cli-bold.csv"
curl -s "$B/reports.csv?domain=example.com" >"$T/ex.csv"
"$CLI" report summary --csv --store "$T/reports.db" --domain example.com >"$T/cli-ex.csv"
[ "$(wc -l <"$T/bold.csv")" = 2 ] && cmp -s "$T/bold.csv" "$T/cli-bold.csv" &&
    [ "$(wc -l <"$T/ex.csv")" = 6 ] && cmp -s "$T/ex.csv" "$T/cli-ex.csv" &&
    grep -qi '^content-disposition: attachment; filename="dmarc-summary-_b_bold.example.csv"' "$T/csv2.h" &&
    ok "/reports.csv?domain=D: one domain's rows, as the CLI's --domain" ||
    bad "per domain: $(cat "$T/bold.csv" "$T/ex.csv" "$T/csv2.h")"
# the rows, read back by Python's csv module: known numbers
/usr/bin/python3 - "$T/all.csv" <<'PY' && ok "/reports.csv read back: the known rows" || bad "CSV rows"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
got = {(r["policy_domain"], r["day"], r["source_ip"]): (int(r["pass"]), int(r["fail"]), int(r["overridden"]), r["reasons"]) for r in rows}
assert got[("example.com", "2026-01-01", "192.0.2.1")] == (120, 0, 0, ""), got
assert got[("example.com", "2026-01-01", "198.51.100.9")] == (0, 10, 0, ""), got
assert got[("example.com", "2026-01-04", "203.0.113.5")] == (0, 46, 6, "trusted_forwarder=6"), got
assert got[("example.com", "2026-01-04", "192.0.2.1")] == (12, 0, 2, "local_policy=2"), got
assert got[("<b>bold.example", "2026-01-01", "192.0.2.1")] == (1, 0, 0, ""), got
assert got[("example.com", "2026-01-02", "192.0.2.1")] == (50, 0, 0, ""), got
assert len(rows) == 6, rows
PY
code=$(curl -s -o "$T/bad.txt" -w '%{http_code}' "$B/reports.csv?days=0")
[ "$code" = 400 ] && grep -q 'from 1 to 366' "$T/bad.txt" && ok "/reports.csv?days=0: 400, said why" || bad "days=0: $code"
kill "$pid"; wait "$pid" 2>/dev/null; pid=

# --- adv31: hostile reporters, with and without --protect. A store with
# rows no parse writes now (stored before the bounds): a report about
# example.com dated 2106, sums past 2^63 for evil.test; and reports about
# lookalikes of example.com (Cyrillic o, as its A-label) and a stranger
cp "$T/reports.db" "$T/hostile.db"
report evil e1 evil.test $D0 "203.0.113.66 1 pass pass" >"$T/h1.xml"
report evil e2 "$(printf 'ex\xd0\xb0mple.com')" $D0 "203.0.113.67 500 pass pass" >"$T/h2.xml"
report evil e3 example.com.evil.test $D0 "203.0.113.68 500 pass pass" >"$T/h3.xml"
report evil e4 example.com $D0 "203.0.113.69 1 pass pass" >"$T/h4.xml"
"$CLI" report parse --store "$T/hostile.db" "$T"/h[1-4].xml >/dev/null || bad "hostile store"
/usr/bin/python3 - "$T/hostile.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE received_report SET begin=4294944000, end=4295030399 WHERE report_id='e4'")
for _ in range(3):
    db.execute("INSERT INTO received_record(report, source_ip, count, dkim) SELECT report, source_ip, 9223372036854775807, dkim FROM received_record WHERE source_ip='203.0.113.66'")
db.commit()
PY
"$VIEW" --maildir "$T/md" --listen 127.0.0.1:$PORT --reports-db "$T/hostile.db" --protect Example.COM >"$T/view4.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "$B/reports" && break; sleep 0.1; done
curl -s "$B/reports" >"$T/hostile.html"
code=$(curl -s -o "$T/hostile.csv" -w '%{http_code}' "$B/reports.csv")
curl -s "$B/reports.csv?domain=Example.COM." >"$T/hostile-ex.csv"
curl -s "$B/reports.csv?domain=example.com" >"$T/hostile-ex2.csv"
kill "$pid"; wait "$pid" 2>/dev/null; pid=
/usr/bin/python3 - "$T/hostile.html" <<'PY' && ok "hostile store, --protect: only example.com charted, its window and failing sources kept; the others listed by name" || bad "hostile page: $(head -c 3000 "$T/hostile.html")"
import re, sys
html = open(sys.argv[1]).read()
assert "integer overflow" not in html
secs = re.findall(r'<section class="report-domain"><h2>(.*?)</h2>', html)
assert secs == ["example.com"], secs
svg = re.search(r'<svg class="chart".*?</svg>', html, re.S).group(0)
days = sorted(set(re.findall(r'data-day="([\d-]+)"', svg)))
assert days == ["2026-01-01", "2026-01-02", "2026-01-04"], days
assert "2106" not in svg
ol = re.search(r'<ol class="sources">(.*?)</ol>', html, re.S).group(1)
assert "203.0.113.5" in ol and "198.51.100.9" in ol, ol
other = re.search(r'<section class="report-other-domains">.*?<ul class="other-domains">(.*?)</ul>', html, re.S)
names = re.findall(r'<li><code>(.*?)</code></li>', other.group(1))
assert names == ["&#60;b&#62;bold.example", "evil.test", "example.com.evil.test", "xn--exmple-4nf.com"], names
assert "domains you did not name" in html
PY
[ "$code" = 200 ] && grep -q '^"evil.test",2026-01-01,"203.0.113.66",18446744073709551615,' "$T/hostile.csv" &&
    grep -q '^"example.com",2026-01-01,' "$T/hostile.csv" &&
    ok "/reports.csv with sums past 2^63: 200, saturated, every domain" || bad "hostile CSV: $code $(head -5 "$T/hostile.csv")"
[ "$(wc -l <"$T/hostile-ex.csv")" = 7 ] && cmp -s "$T/hostile-ex.csv" "$T/hostile-ex2.csv" &&
    ok "/reports.csv?domain=Example.COM.: as example.com" || bad "?domain= normalised: $(cat "$T/hostile-ex.csv")"
# without --protect every domain has its section, as before; none broken
"$VIEW" --maildir "$T/md" --listen 127.0.0.1:$PORT --reports-db "$T/hostile.db" >"$T/view5.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "$B/reports" && break; sleep 0.1; done
curl -s "$B/reports" >"$T/hostile2.html"
kill "$pid"; wait "$pid" 2>/dev/null; pid=
n=$(grep -o '<section class="report-domain">' "$T/hostile2.html" | wc -l)
[ "$n" = 5 ] && ! grep -q 'integer overflow\|report-other-domains' "$T/hostile2.html" &&
    ok "hostile store, no --protect: the 5 domains' sections, none failed" || bad "no --protect: $n sections"

# no store at that path, and no --reports-db at all
"$VIEW" --maildir "$T/md" --listen 127.0.0.1:$PORT --reports-db "$T/missing.db" >"$T/view2.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "$B/reports" && break; sleep 0.1; done
curl -s "$B/reports" | grep -q 'The report store cannot be read' && ok "missing store: said" || bad "missing store"
[ ! -e "$T/missing.db" ] && ok "missing store: not created (read only)" || bad "the viewer created a store"
kill "$pid"; wait "$pid" 2>/dev/null; pid=
"$VIEW" --maildir "$T/md" --listen 127.0.0.1:$PORT >"$T/view3.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "$B/reports" && break; sleep 0.1; done
curl -s "$B/reports" | grep -q 'No report store: start spoofguard-view with --reports-db' && ok "no --reports-db: said" || bad "no --reports-db"
code=$(curl -s -o /dev/null -w '%{http_code}' "$B/reports.csv")
[ "$code" = 404 ] && ok "no --reports-db: /reports.csv is 404" || bad "no --reports-db CSV: $code"

echo "$pass passed, $fail failed"
[ $fail = 0 ]
