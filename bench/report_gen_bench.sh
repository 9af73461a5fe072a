#!/usr/bin/env bash
# Report generation speed (issue 16: reports for 10,000 policy domains and
# 10 million messages of a day within 10 minutes and 256 MiB): report_fill
# puts the day into a fresh store through the collection code (not timed),
# then `spoofguard report send --dry-run` writes every report (.xml.gz) and
# mail (.eml), with each domain's DMARC record (its rua) read from a zone
# file; GNU time gives the wall time and the peak RSS.
#   bench/report_gen_bench.sh BUILD_DIR [DOMAINS] [MESSAGES] [SOURCES]
set -eu
B=${1:?usage: report_gen_bench.sh BUILD_DIR [DOMAINS] [MESSAGES] [SOURCES]}
ND=${2:-10000} NM=${3:-10000000} NS=${4:-16}
T=$(mktemp -d /tmp/sg-rgen.XXXXXX)
trap 'rm -rf "$T"' EXIT
DAY=2026-12-03
t0=$(date +%s.%N)
"$B/report_fill" "$T/s.db" $DAY "$ND" "$NM" "$NS" >"$T/expected"
t1=$(date +%s.%N)
rows=$(sqlite3 "$T/s.db" "SELECT count(*) FROM collected")
awk -v n="$ND" 'BEGIN { for (i = 0; i < n; i++)
    printf "_dmarc.d%d.example. 3600 IN TXT \"v=DMARC1; p=none; rua=mailto:dmarc@d%d.example\"\n", i, i }' >"$T/zone"
mkdir "$T/out"
/usr/bin/time -v "$B/spoofguard" report send --store "$T/s.db" --day $DAY --dry-run "$T/out" \
    --zone "$T/zone" --org-name receiver.test 2>"$T/time"
grep -E "Elapsed|Maximum resident" "$T/time"
tail -1 <(grep "report send" "$T/time")
printf 'fill (collection code, not timed): %.1f s; %s collected rows; %s messages; %s domains\n' \
    "$(echo "$t1 - $t0" | bc)" "$rows" "$NM" "$ND"
echo "reports: $(ls "$T/out" | grep -c 'xml.gz$'), mails: $(ls "$T/out" | grep -c 'eml$'), bytes: $(du -sb "$T/out" | cut -f1)"
