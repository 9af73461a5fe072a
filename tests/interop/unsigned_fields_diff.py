#!/usr/bin/python3
"""Which displayed fields no valid signature covers (issue 11 class 8),
against dkimpy: messages signed by dkimpy over random sets of the
displayed fields (From, Sender, Reply-To, To, Cc, Subject, Date,
Message-ID, MIME-Version, Content-Type, Content-Transfer-Encoding; some
oversigned), then given copies of displayed fields above,
below or between the others, or a signed field changed. dkimpy says
whether the signature verifies, and its own select_headers (RFC 6376
5.4.2: each name in h= takes the next instance from the bottom) says
which instances it covers. spoofguard's unsigned_fields must name exactly
the displayed fields with an instance outside that set (every displayed
field present when the signature fails), and a message with a second,
uncovered instance of a displayed field is never authentic.

    unsigned_fields_diff.py CLI WORKDIR ZONE RSAKEY N SEED"""
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter

import dkim

from keyzone import load_zone

DISPLAYED = ["From", "Sender", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID",
             "MIME-Version", "Content-Type", "Content-Transfer-Encoding"]
VALUES = {"From": "Alice <alice@example.com>", "Sender": "list@example.com",
          "Reply-To": "billing@example.com", "To": "bob@example.net", "Cc": "carol@example.net",
          "Subject": "Invoice 42", "Date": "Fri, 04 Dec 2026 10:00:00 +0000",
          "Message-ID": "<%d@example.com>", "MIME-Version": "1.0",
          "Content-Type": "text/plain; charset=us-ascii", "Content-Transfer-Encoding": "7bit"}
FORGED = {"From": "CEO <ceo@example.com>", "Sender": "x@example.com",
          "Reply-To": "pay@evil.example", "To": "all@example.net", "Cc": "boss@example.net",
          "Subject": "URGENT: new bank details", "Date": "Sat, 05 Dec 2026 09:00:00 +0000",
          "Message-ID": "<forged@example.com>", "MIME-Version": "1.0",
          "Content-Type": "text/html; charset=utf-8", "Content-Transfer-Encoding": "base64"}


def make(rnd, i, key):
    present = ["From"] + [f for f in DISPLAYED[1:] if f in ("To", "Subject", "Date", "Message-ID")
                          or rnd.randrange(2)]
    lines = []
    for f in present:
        v = VALUES[f] % i if f == "Message-ID" else VALUES[f]
        lines.append("%s: %s" % (f, v))
    msg = ("\r\n".join(lines) + "\r\n\r\nPlease pay invoice 42.\r\n").encode()
    heads = [b"from"] + [f.lower().encode() for f in present[1:] if rnd.randrange(4)]
    for f in list(heads):
        if rnd.randrange(4) == 0:
            heads.append(f)  # oversigned: a copy of f added later breaks it
    sig = dkim.sign(msg, b"sgrsa", b"example.com", key, include_headers=heads,
                    canonicalize=(b"relaxed", b"relaxed"))
    hdr, _, body = (sig + msg).partition(b"\r\n\r\n")
    fields = hdr.split(b"\r\n")
    # join DKIM-Signature continuation lines into fields
    out = []
    for l in fields:
        if l[:1] in (b" ", b"\t"):
            out[-1] += b"\r\n" + l
        else:
            out.append(l)
    for _ in range(rnd.randrange(3)):
        f = rnd.choice(present if rnd.randrange(4) else DISPLAYED)
        copy = ("%s: %s" % (f, FORGED[f])).encode()
        where = rnd.randrange(4)
        if where == 0:
            out.insert(0, copy)
        elif where == 1:
            out.append(copy)
        elif where == 2:
            out.insert(rnd.randrange(1, len(out) + 1), copy)
        else:  # a signed field changed in place
            k = next((k for k, l in enumerate(out) if l.lower().startswith(f.lower().encode() + b":")), None)
            if k is not None:
                out[k] = copy
    return b"\r\n".join(out) + b"\r\n\r\n" + body


def expected(m, dnsfunc):
    ok = dkim.verify(m, dnsfunc=dnsfunc)
    headers, _ = dkim.rfc822_parse(m)
    sig = next(v for n, v in headers if n.lower() == b"dkim-signature")
    h = re.search(rb"h=([^;]*)", re.sub(rb"\s", b"", sig)).group(1).lower().split(b":")
    covered = {id(x) for x in dkim.select_headers(headers, h)} if ok else set()
    unsigned, dup_uncovered = [], False
    for f in DISPLAYED:
        inst = [x for x in headers if x[0].lower() == f.lower().encode()]
        if any(id(x) not in covered for x in inst):
            unsigned.append(f)
            dup_uncovered |= len(inst) > 1
    return ok, unsigned, dup_uncovered


def main():
    cli, work, zone, rsakey, n, seed = sys.argv[1:7]
    rnd = random.Random(int(seed))
    dnsfunc = load_zone(zone)
    key = open(rsakey, "rb").read()
    d = os.path.join(work, "msgs")
    os.makedirs(d)
    # the keys, and a policy so that an aligned pass makes DMARC pass
    with open(os.path.join(work, "zone"), "w") as f:
        f.write(open(zone).read() + '_dmarc.example.com. IN TXT "v=DMARC1; p=reject"\n')
    zone = os.path.join(work, "zone")
    cases = {}
    for i in range(int(n)):
        m = make(rnd, i, key)
        p = os.path.join(d, "%05d.eml" % i)
        with open(p, "wb") as f:
            f.write(m)
        cases[p] = expected(m, dnsfunc)
    out = subprocess.run([cli, "verify", "--zone", zone, "--ip", "192.0.2.1", "--helo",
                          "mail.example.com", "--mail-from", "alice@example.com", "--json", d],
                         capture_output=True)
    ours = {}
    for line in out.stdout.decode().splitlines():
        j = json.loads(line)
        ours[j["file"]] = j
    tally, bad = Counter(), []
    for p, (ok, unsigned, dup) in sorted(cases.items()):
        j = ours.get(p)
        if j is None:
            bad.append((p, "no result", out.stderr.decode()[-200:]))
            continue
        got = j["unsigned_fields"]
        tally[("pass" if ok else "fail", bool(unsigned), dup, j["verdict"])] += 1
        if [g.lower() for g in got] != [u.lower() for u in unsigned]:
            bad.append((p, "unsigned_fields", got, "dkimpy:", unsigned))
        elif dup and j["verdict"] == "authentic":
            bad.append((p, "authentic with an uncovered second instance", unsigned))
        elif ok and not unsigned and j["verdict"] != "authentic":
            bad.append((p, "all covered, dkimpy pass, but", j["verdict"], j["reason"]))
    for k, c in sorted(tally.items()):
        print("  dkimpy %s, uncovered field %-5s, uncovered second copy %-5s: %-10s %4d" % (k + (c,)))
    print("messages %s, disagreements %d" % (n, len(bad)))
    for b in bad[:10]:
        print("  ", b)
    reached = tally and any(k[2] for k in tally) and any(k[0] == "pass" and not k[1] for k in tally)
    return 0 if not bad and reached else 1


if __name__ == "__main__":
    sys.exit(main())
