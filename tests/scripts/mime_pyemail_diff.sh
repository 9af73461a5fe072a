#!/bin/bash
# The MIME walk against an independent reader: Python's email package
# (tests/interop/mime_pyemail_peer.py) and ours (`test_mime --dump`) read
# every message in tests/data/mime; the decoded Subject, the body shown
# (html or plain, as text) and the attachment names must agree, except
# where the two readers part ways on purpose (KNOWN below, each with its
# reason). A known difference that goes away fails too, so the list stays
# true.
# Env (set by ctest): SG_CLI (test_mime sits next to it), SG_SRC.
set -u
SRC=${SG_SRC:?SG_SRC not set}
BIN=$(dirname "${SG_CLI:?SG_CLI not set}")/test_mime
PY=/usr/bin/python3
[ -x "$BIN" ] || { echo "FAIL: $BIN not built"; exit 1; }
[ -x "$PY" ] || { echo "SKIPPED: python3 not installed"; exit 0; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$SRC/tests/data/mime" || exit 1
"$BIN" --dump *.eml >"$T/ours.jsonl" || { echo "FAIL: test_mime --dump"; exit 1; }
"$PY" "$SRC/tests/interop/mime_pyemail_peer.py" *.eml >"$T/python.jsonl" ||
    { echo "FAIL: the Python reader"; exit 1; }
"$PY" - "$T/ours.jsonl" "$T/python.jsonl" <<'PYEOF'
import json, sys
# (file, field): why the readers legitimately differ
KNOWN = {
    ("diff_two_html.eml", "body"):
        "two html alternatives: RFC 2046 5.1.4 says the last is the richest (ours); "
        "email's get_body takes the first of the preferred type",
    ("diff_mixed_inline_html.eml", "body_type"):
        "multipart/mixed: we show the first text part (what the sender put first); "
        "get_body searches the whole mixed part for html",
    ("diff_mixed_inline_html.eml", "body"): "the same",
    ("hostile_broken_boundary.eml", "body"):
        "the declared boundary never comes: we show the text GMime kept (the prologue), "
        "email shows nothing",
    ("subject_invalid.eml", "subject"):
        "=?utf-8?B?not base64!?= has spaces in its encoded-text, so it is no encoded word "
        "(RFC 2047 2) and we keep it as written; email strips the delimiters",
}
ours = [json.loads(l) for l in open(sys.argv[1])]
theirs = [json.loads(l) for l in open(sys.argv[2])]
assert len(ours) == len(theirs) and len(ours) > 0
fails = agree = 0
seen = set()
for o, t in zip(ours, theirs):
    assert o["file"] == t["file"]
    for k in ("subject", "body_type", "body", "names"):
        key = (o["file"], k)
        if o[k] == t[k]:
            agree += 1
            if key in KNOWN:
                print("FAIL: %s %s: known difference gone, update KNOWN" % key)
                fails += 1
        elif key in KNOWN:
            seen.add(key)
            print("known: %s %s: %s" % (key[0], key[1], KNOWN[key]))
        else:
            print("FAIL: %s %s: ours %r, python %r" % (o["file"], k, o[k], t[k]))
            fails += 1
for key in KNOWN:
    if key not in seen and not any(o["file"] == key[0] for o in ours):
        print("FAIL: %s: no such fixture" % key[0])
        fails += 1
print("%d messages, %d fields agree, %d known differences, %d failed"
      % (len(ours), agree, len(seen), fails))
sys.exit(1 if fails else 0)
PYEOF
