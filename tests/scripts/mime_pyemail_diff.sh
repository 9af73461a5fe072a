#!/bin/bash
# The MIME walk against an independent reader: Python's email package
# (tests/interop/mime_pyemail_peer.py) and ours (`test_mime --dump`) read
# every message in tests/data/mime; the decoded Subject, the body shown
# (html or plain, as text), the attachment names and the leaf parts (type
# and decoded size) must agree, except
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
CONF=${SG_CONFORMANCE_DIR:-${SG_CONFORMANCE_DEFAULT:-$SRC/tests/conformance}}
# 1. our fixtures (tests/data/mime); 2. every message of the conformance
# suites (real DMARC failure reports, DKIM/ARC test messages: CRLF, mbox
# "From " lines, attached messages), where the part sizes are left out
# (email turns CRLF into LF inside a part, GMime keeps the bytes)
cd "$SRC/tests/data/mime" || exit 1
"$BIN" --dump *.eml >"$T/ours.jsonl" || { echo "FAIL: test_mime --dump"; exit 1; }
"$PY" "$SRC/tests/interop/mime_pyemail_peer.py" *.eml >"$T/python.jsonl" ||
    { echo "FAIL: the Python reader"; exit 1; }
if [ -d "$CONF" ]; then
    cd "$CONF" || exit 1
    find . -name '*.eml' | LC_ALL=C sort >"$T/corpus.list"
    tr '\n' '\0' <"$T/corpus.list" | xargs -0 "$BIN" --dump >>"$T/ours.jsonl" ||
        { echo "FAIL: test_mime --dump (corpus)"; exit 1; }
    tr '\n' '\0' <"$T/corpus.list" | xargs -0 "$PY" "$SRC/tests/interop/mime_pyemail_peer.py" \
        >>"$T/python.jsonl" || { echo "FAIL: the Python reader (corpus)"; exit 1; }
else
    echo "SKIPPED: the conformance corpus ($CONF) is missing"
fi
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
    ("hostile_broken_boundary.eml", "parts"):
        "the same: email lists the multipart itself as one part, we list none",
    ("hostile_truncated_base64.eml", "parts"):
        "base64 cut 2 characters into a quantum: GMime drops the incomplete quantum "
        "(RFC 2045 6.8 has no meaning for it), email pads it and keeps a byte",
    ("./arc/flat/validation/messages/cv_empty.eml", "body_type"):
        "an empty file: GMime makes no entity of it and we list no part; email reads an "
        "empty text/plain message",
    ("./arc/flat/validation/messages/cv_empty.eml", "parts"): "the same",
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
    # an attached message's size depends on how it is written back; in the
    # corpus (CRLF) only the types are compared
    corpus = o["file"].startswith("./")
    o["parts"] = [ty if corpus else [ty, None if ty.startswith("message/") else n]
                  for ty, n in o["parts"]]
    if corpus:
        t["parts"] = [ty for ty, n in t["parts"]]
    for k in ("subject", "body_type", "body", "names", "parts"):
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
    if key not in seen and not key[0].startswith("./") and \
            not any(o["file"] == key[0] for o in ours):
        print("FAIL: %s: no such fixture" % key[0])
        fails += 1
print("%d messages, %d fields agree, %d known differences, %d failed"
      % (len(ours), agree, len(seen), fails))
sys.exit(1 if fails else 0)
PYEOF
