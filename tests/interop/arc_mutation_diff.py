#!/usr/bin/python3
"""ARC verification against dkimpy on changed chains: messages DKIM-signed
by dkimpy, then sealed by dkimpy at one to three forwarders (each adds its
Authentication-Results and an ARC set, cv= as dkimpy found the chain),
with edits between hops or after the last: a body or signed field
changed, an ARC field removed or copied above, a seal's cv= or i=
rewritten, a new field on top, trailing spaces in the body, every ARC
field stripped. `spoofguard verify --json` must give the chain's result
(pass, fail, none) dkimpy's arc_verify gives.

    arc_mutation_diff.py CLI WORKDIR ZONE KEYDIR N SEED

ZONE holds `spoofguard keygen`'s records of s1._domainkey.example.com and
aN._domainkey.fwdN.test (N = 1..3); KEYDIR the private keys, named
DOMAIN.private. Exit 1 on any disagreement."""
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter

import dkim

from keyzone import load_zone

SEL = {"example.com": b"s1", "fwd1.test": b"a1", "fwd2.test": b"a2", "fwd3.test": b"a3"}


def main():
    cli, work, zone, keydir, n, seed = sys.argv[1:7]
    rnd = random.Random(int(seed))
    dnsfunc = load_zone(zone)
    keys = {d: open(os.path.join(keydir, d + ".private"), "rb").read() for d in SEL}

    def hop(msg, i):
        d = "fwd%d.test" % i
        srv = ("mx%d.%s" % (i, d)).encode()
        cv, _, _ = dkim.arc_verify(msg, dnsfunc=dnsfunc)
        arc = {b"pass": b"pass", b"fail": b"fail"}.get(cv, b"none")
        msg = (b"Authentication-Results: " + srv + b"; dkim=pass header.d=example.com; arc=" +
               arc + b"\r\n" + msg)
        return b"".join(dkim.arc_sign(msg, SEL[d], d.encode(), keys[d], srv,
                                      timestamp=1796000000 + i)) + msg

    def mutate(msg):
        h, _, b = msg.partition(b"\r\n\r\n")
        lines = []
        for l in h.split(b"\r\n"):
            if l[:1] in (b" ", b"\t") and lines:
                lines[-1] += b"\r\n" + l
            else:
                lines.append(l)
        arc = [j for j, l in enumerate(lines) if l.lower().startswith(b"arc-")]
        k = rnd.randrange(10)
        if k == 0:
            b = b.replace(b"pay", b"PAY", 1)
        elif k == 1:
            lines = [re.sub(rb"^Subject: .*", b"Subject: changed", l) for l in lines]
        elif k == 2 and arc:
            del lines[rnd.choice(arc)]
        elif k == 3 and arc:
            lines.insert(0, lines[rnd.choice(arc)])
        elif k == 4:
            lines = [l.replace(b"cv=pass", b"cv=fail", 1) if l.startswith(b"ARC-Seal") else l
                     for l in lines]
        elif k == 5:
            lines.insert(0, b"X-Extra: 1")
        elif k == 6:
            b = b.replace(b"\r\n", b"  \r\n", 1)
        elif k == 7:
            lines = [l.replace(b"i=1;", b"i=2;", 1) if l.startswith(b"ARC-Seal") else l
                     for l in lines]
        elif k == 8:
            lines = [l.replace(b"cv=none", b"cv=pass", 1) for l in lines]
        else:
            lines = [l for l in lines if not l.lower().startswith(b"arc-")]
        return b"\r\n".join(lines) + b"\r\n\r\n" + b, k

    d = os.path.join(work, "msgs")
    os.makedirs(d)
    cases = {}
    for i in range(int(n)):
        base = (b"From: Alice <alice@example.com>\r\nTo: list@fwd1.test\r\nSubject: hello\r\n"
                b"Date: Fri, 04 Dec 2026 10:00:00 +0000\r\nMessage-ID: <%d@example.com>\r\n\r\n"
                b"please pay\r\n" % i)
        m = dkim.sign(base, b"s1", b"example.com", keys["example.com"],
                      canonicalize=(b"relaxed", b"relaxed"),
                      include_headers=[b"from", b"to", b"subject", b"date", b"message-id"]) + base
        hops, edits = rnd.randrange(1, 4), []
        for h in range(1, hops + 1):
            m = hop(m, h)
            if h < hops and rnd.randrange(3) == 0:
                m, k = mutate(m)
                edits.append((h, k))
        if rnd.randrange(2):
            m, k = mutate(m)
            edits.append(("end", k))
        p = os.path.join(d, "%05d.eml" % i)
        with open(p, "wb") as f:
            f.write(m)
        try:
            cv, _, _ = dkim.arc_verify(m, dnsfunc=dnsfunc)
            peer = (cv or b"fail").decode()  # None: an ended chain, fail (RFC 8617 5.2)
        except Exception as e:
            peer = "error:" + type(e).__name__
        cases[p] = (peer, hops, edits)
    out = subprocess.run([cli, "verify", "--zone", zone, "--ip", "192.0.2.1", "--helo",
                          "mx1.fwd1.test", "--mail-from", "list@fwd1.test", "--json", d],
                         capture_output=True)
    ours = {}
    for line in out.stdout.decode().splitlines():
        j = json.loads(line)
        ours[j["file"]] = j["arc"]["result"]
    tally, bad = Counter(), []
    for p, (peer, hops, edits) in sorted(cases.items()):
        us = ours.get(p, "refused")
        tally[(peer, us)] += 1
        if peer != us:
            bad.append((p, peer, us, hops, edits))
    for (peer, us), c in sorted(tally.items()):
        print("  dkimpy %-5s spoofguard %-7s %4d" % (peer, us, c))
    print("chains %s, disagreements %d" % (n, len(bad)))
    for b in bad[:10]:
        print("  ", b)
    reached = all(tally[(x, x)] > 0 for x in ("pass", "fail", "none"))
    return 0 if not bad and reached else 1


if __name__ == "__main__":
    sys.exit(main())
