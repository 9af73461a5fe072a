#!/usr/bin/env python3
"""Python's email package as an independent MIME reader (the oracle of
tests/scripts/mime_pyemail_diff.sh): for each message file, one JSON line
with the decoded Subject, the body a reader is shown (email's get_body,
html preferred over plain) converted to text, and the attachment names,
in the same shape as `test_mime --dump`.

The decoding follows the choices mime.c documents, so that only the
readers' own differences remain: us-ascii (or no label) and unknown
labels read as UTF-8, iso-8859-1 as windows-1252, invalid bytes as
U+FFFD, CRLF as LF, NUL as U+FFFD; names with controls and bidi
controls replaced by U+FFFD. Subjects and names come from email itself
(policy.default: RFC 2047 and RFC 2231 decoding); the leaf parts (not
those of attached messages) with their type and decoded size."""
import codecs
import email
import json
import re
import sys
from email import policy

LATIN1 = {"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "l1", "iso-ir-100", "cp819",
          "ibm819", "iso_8859-1:1987", "csisolatin1"}
UTF8 = {None, "", "utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968", "us", "iso646-us"}


META = re.compile(rb"<meta[^>]*?charset\s*=[\s\"']*([A-Za-z0-9_.:-]+)", re.I)


def meta_charset(data):
    """An html part without a MIME charset that is not UTF-8: the charset
    its <meta> names in the first 1024 bytes (what a browser would use)."""
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    m = META.search(data[:1024])
    return m.group(1).decode().lower() if m else None


def decode_text(part):
    data = part.get_payload(decode=True) or b""
    data = data.replace(b"\r\n", b"\n")
    cs = part.get_content_charset()
    if cs is None and part.get_content_subtype() == "html":
        cs = meta_charset(data)
    if cs in UTF8:
        cs = "utf-8"
    elif cs in LATIN1:
        cs = "windows-1252"
    try:
        codecs.lookup(cs)
    except LookupError:
        cs = "utf-8"
    return data.decode(cs, errors="replace").replace("\0", "\ufffd")


NAME_BAD = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def leaves(part):
    """Leaf parts in walk order, not descending into attached messages."""
    if part.is_multipart() and part.get_content_maintype() == "multipart":
        for sub in part.iter_parts():
            yield from leaves(sub)
    else:
        yield part


def line(s):
    s = re.sub("[\x00-\x08\x0a-\x1f\x7f-\x9f]", "", s)
    return s.strip(" \t")


for path in sys.argv[1:]:
    with open(path, "rb") as f:
        msg = email.message_from_binary_file(f, policy=policy.default)
    subject = line(str(msg.get("subject", "")))
    body = msg.get_body(preferencelist=("html", "plain"))
    names, parts = [], []
    for p in leaves(msg):
        n = p.get_filename()
        if n is not None:
            names.append(NAME_BAD.sub("\ufffd", n))
        # an attached message's size depends on how it is written back
        size = None if p.get_content_maintype() == "message" else \
            len(p.get_payload(decode=True) or b"")
        parts.append([p.get_content_type(), size])
    out = {"file": path, "subject": subject,
           "body_type": "none" if body is None else body.get_content_subtype(),
           "body": "" if body is None else decode_text(body), "names": names,
           "parts": parts}
    print(json.dumps(out, ensure_ascii=False))
