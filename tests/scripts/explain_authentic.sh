#!/usr/bin/env bash
# Warnings must be rare on authentic mail (issue 13 item 4): spoofguard
# explain over every DKIM-signed message of the conformance corpora
# (mail-dkim, Stalwart, dkimpy, the ValiMail ARC suite), with a p=none DMARC
# record added for each From domain so that an aligned pass counts as
# authentic, and ten large brands as lookalike references. Verified mail
# must get no warning at all; the counts are printed (docs/explain.md).
set -u
CLI=${SG_CLI:?SG_CLI must point at the spoofguard binary}
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CONF=${SG_CONFORMANCE_DIR:-${SG_CONFORMANCE_DEFAULT:-$SRC/tests/conformance}}
T=$(mktemp -d /tmp/sg-explain-auth.XXXXXX)
trap 'rm -rf "$T"' EXIT
printf '%s\n' paypal.com google.com microsoft.com apple.com amazon.com facebook.com \
    github.com ietf.org yahoo.com gmail.com >"$T/brands"
look=(--operator-domains "$T/brands" --psl "$CONF/dmarc/psl/public_suffix_list.dat")

# corpus zone [now] -- files: explained twice, the second time with a
# DMARC record for every From domain the first pass saw
run() {
    local zone=$1 now=$2
    shift 2
    "$CLI" explain --zone "$zone" ${now:+--now $now} --json "$@" /dev/null 2>/dev/null |
        /usr/bin/python3 -c '
import json, sys
for l in sys.stdin:
    d = json.loads(l)["identity"]["domain"]
    if d: print("_dmarc.%s. IN TXT \"v=DMARC1; p=none\"" % d)' | sort -u >"$T/dmarc.zone"
    "$CLI" explain --zone "$zone" --zone "$T/dmarc.zone" ${now:+--now $now} "${look[@]}" --json \
        "$@" /dev/null 2>/dev/null >>"$T/out.jsonl"
}
: >"$T/out.jsonl"
files() { awk -F'\t' -v c="$2" '!/^#/ {print $c}' "$1"; }
D=$CONF/dkim/mail-dkim
mapfile -t m < <(files "$D/manifest.tsv" 1)
run "$D/zone.tsv" "" "${m[@]/#/$D/}"
D=$CONF/dkim/dkimpy
mapfile -t m < <(files "$D/manifest.tsv" 1)
run "$D/zone.tsv" "" "${m[@]/#/$D/}"
D=$CONF/dkim/stalwart-mail-auth
while IFS=$'\t' read -r f t; do run "$D/zone.tsv" "$t" "$D/$f"; done < <(awk -F'\t' '!/^#/ {print $2"\t"$6}' "$D/manifest.tsv")
run "$CONF/arc/flat/validation/zone.tsv" "" "$CONF"/arc/flat/validation/messages/*.eml

/usr/bin/python3 - "$T/out.jsonl" <<'EOF'
import collections, json, sys
objs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
objs = [o for o in objs if o.get("file") != "/dev/null"]
by = collections.Counter(o["headline"] for o in objs)
warned = collections.Counter()
bad = []
for o in objs:
    for w in o["warnings"]:
        warned[(o["headline"], w["kind"])] += 1
        print("  %s (%s): %s: %s" % (o.get("file", "?").split("conformance/")[-1], o["headline"], w["kind"], w["detail"]))
        if o["headline"] == "verified":
            bad.append(o["file"])
n = sum(warned.values())
print("explain_authentic: %d messages: %s; %d warnings (%s)" % (
    len(objs), ", ".join("%d %s" % (c, h) for h, c in sorted(by.items())), n,
    ", ".join("%s/%s %d" % (h, k, c) for (h, k), c in sorted(warned.items())) or "none"))
ok = len(objs) > 200 and by["verified"] > 0 and not bad
print("%d passed, %d failed" % (1 if ok else 0, 0 if ok else 1))
sys.exit(0 if ok else 1)
EOF
