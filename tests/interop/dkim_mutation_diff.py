#!/usr/bin/python3
"""DKIM verification against dkimpy on changed messages: messages signed by
dkimpy (rsa-sha256 and ed25519-sha256; simple and relaxed, both ways; some
with l=), then changed by zero to three of the edits a relay, a mailing
list or a forger makes (whitespace in and around header values, the case
of a field name, a refolded field, trailing spaces or blank lines in the
body, a changed or appended body line, a new field, a second copy of a
signed field above or below, a body without its last CRLF). `spoofguard
verify --json` reads them all; the first signature's result must be pass
exactly when dkimpy's verify() says so.

    dkim_mutation_diff.py CLI WORKDIR ZONE RSAKEY EDKEY N SEED

ZONE holds the two keys' records (`spoofguard keygen`), RSAKEY the RSA
PEM, EDKEY the Ed25519 private key file (PKCS#8 PEM) keygen writes. Exit 1 on
any disagreement other than the KNOWN ones below."""
import base64
import json
import os
import random
import subprocess
import sys
from collections import Counter

import dkim

from keyzone import load_zone

DOMAIN = b"example.com"

# Where the two part ways on purpose: spoofguard verify's default refuses
# an l= that leaves body content unsigned (issue 11 class 3; result
# "policy", reason "l= ..."), where dkimpy passes it: counted apart.


def ed25519_seed(path):
    """The 32-byte seed of keygen's PKCS#8 PEM, base64, as dkimpy takes it."""
    der = base64.b64decode("".join(l for l in open(path).read().splitlines() if "-----" not in l))
    return base64.b64encode(der[-32:])


BODIES = [b"Hello,\r\n\r\nthe report is attached.\r\n\r\n-- \r\nAlice\r\n",
          b"one line\r\n",
          b"",
          b"tab\there  and  two spaces \r\n\r\n\r\n",
          b"x" * 300 + b"\r\n" + b"y\r\n" * 20]


def base_message(rnd, i):
    subj = rnd.choice(["Quarterly report", "Re: lunch", "=?utf-8?q?caf=C3=A9?=", "a  b\tc"])
    hdr = (b"From: Alice <alice@example.com>\r\n"
           b"To: bob@example.net\r\n"
           b"Subject: " + subj.encode() + b"\r\n"
           b"Date: Fri, 04 Dec 2026 10:00:00 +0000\r\n"
           b"Message-ID: <" + str(i).encode() + b"@example.com>\r\n")
    return hdr, rnd.choice(BODIES)


def split(msg):
    h, _, b = msg.partition(b"\r\n\r\n")
    return h.split(b"\r\n"), b


def join(lines, body):
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def field_index(lines, name):
    for k, l in enumerate(lines):
        if l.lower().startswith(name.lower() + b":"):
            return k
    return None


def mutate(rnd, msg):
    lines, body = split(msg)
    kind = rnd.randrange(19)  # 13: the last branch (a Received field)
    if kind == 0:  # case of a signed field's name
        k = field_index(lines, b"Subject")
        lines[k] = b"SUBJECT" + lines[k][7:]
    elif kind == 1:  # whitespace inside a header value
        k = field_index(lines, b"Subject")
        lines[k] = lines[k].replace(b" ", b"   ", 1) + b" \t"
    elif kind == 2:  # refold a signed field
        k = field_index(lines, b"To")
        lines[k] = b"To:\r\n  bob@example.net"
    elif kind == 3:  # trailing spaces in the body
        body = body.replace(b"\r\n", b"  \r\n", 1)
    elif kind == 4:  # blank lines at the end
        body = body + b"\r\n\r\n"
    elif kind == 5:  # a changed body byte
        body = (b"Z" + body[1:]) if body else b"Z\r\n"
    elif kind == 6:  # text appended
        body = body + b"P.S. click here\r\n"
    elif kind == 7:  # a new, unsigned field
        lines.insert(0, b"X-Mailer: relay 1.0")
    elif kind == 8:  # a second Subject above the signed one
        lines.insert(0, b"Subject: URGENT: wire now")
    elif kind == 9:  # a second Subject below everything
        lines.append(b"Subject: URGENT: wire now")
    elif kind == 10:  # the body's last CRLF removed
        body = body[:-2] if body.endswith(b"\r\n") else body
    elif kind == 11:  # inner whitespace of the body
        body = body.replace(b" ", b"\t", 1)
    elif kind == 12:  # the signature field refolded
        k = field_index(lines, b"DKIM-Signature")
        lines[k] = lines[k].replace(b"; ", b";\r\n\t", 2)
    elif kind == 14:  # a line of spaces at the end of the body
        body = body + b"   \r\n"
    elif kind == 15:  # a signed field emptied
        k = field_index(lines, b"Subject")
        lines[k] = b"Subject:"
    elif kind == 16:  # whitespace-only continuation line in a signed field
        k = field_index(lines, b"To")
        lines[k] = lines[k] + b"\r\n \t"
    elif kind == 17:  # trailing whitespace after a signed field's value, and no space after the colon
        k = field_index(lines, b"Date")
        lines[k] = b"Date:" + lines[k][5:].lstrip() + b"  "
    elif kind == 18:  # a signed field moved to the top (order between names is free)
        k = field_index(lines, b"Date")
        lines.insert(0, lines.pop(k))
    else:  # a Received field on top, as each relay adds
        lines.insert(0, b"Received: from relay.example.org by mx.example.net; "
                        b"Fri, 04 Dec 2026 10:00:05 +0000")
    return join(lines, body), kind


def main():
    cli, work, zone, rsakey, edseed, n, seed = sys.argv[1:8]
    rnd = random.Random(int(seed))
    dnsfunc = load_zone(zone)
    rsa = open(rsakey, "rb").read()
    ed = ed25519_seed(edseed)
    d = os.path.join(work, "msgs")
    os.makedirs(d)
    cases = {}
    for i in range(int(n)):
        hdr, body = base_message(rnd, i)
        msg = hdr + b"\r\n" + body
        alg = rnd.choice(["rsa", "ed"])
        canon = (rnd.choice([b"simple", b"relaxed"]), rnd.choice([b"simple", b"relaxed"]))
        length = rnd.randrange(6) == 0
        heads = [b"from", b"to", b"subject", b"date", b"message-id"]
        if rnd.randrange(3) == 0:
            heads.append(b"subject")  # oversigned: a second Subject breaks it
        sig = dkim.sign(msg, b"sgrsa" if alg == "rsa" else b"sged", DOMAIN,
                        rsa if alg == "rsa" else ed,
                        signature_algorithm=b"rsa-sha256" if alg == "rsa" else b"ed25519-sha256",
                        canonicalize=canon, include_headers=heads, length=length)
        m = sig + msg
        kinds = []
        for _ in range(rnd.randrange(4)):
            m, k = mutate(rnd, m)
            kinds.append(k)
        p = os.path.join(d, "%05d.eml" % i)
        with open(p, "wb") as f:
            f.write(m)
        try:
            peer = "pass" if dkim.verify(m, dnsfunc=dnsfunc) else "fail"
        except Exception:
            peer = "error"
        cases[p] = (peer, alg, canon, length, kinds)
    out = subprocess.run([cli, "verify", "--zone", zone, "--ip", "192.0.2.1", "--helo",
                          "mail.example.com", "--mail-from", "alice@example.com", "--json", d], capture_output=True)
    ours = {}
    for line in out.stdout.decode().splitlines():
        j = json.loads(line)
        ours[j["file"]] = (j["dkim"][0]["result"], j["dkim"][0]["reason"] or "") if j["dkim"] \
            else ("none", "")
    tally, bad, lcount = Counter(), [], 0
    for p, (peer, alg, canon, length, kinds) in sorted(cases.items()):
        us, why = ours.get(p, ("refused", ""))
        tally[(peer, us)] += 1
        if (us == "pass") == (peer == "pass"):
            continue
        if length and peer == "pass" and us == "policy" and why.startswith("l= "):
            lcount += 1  # l= with more body: refused by our default, on purpose
            continue
        bad.append((p, peer, us, alg, canon, length, kinds))
    for (peer, us), c in sorted(tally.items()):
        print("  dkimpy %-5s spoofguard %-9s %5d" % (peer, us, c))
    print("messages %s, l= with body added (ours fail on purpose) %d, disagreements %d" %
          (n, lcount, len(bad)))
    for b in bad[:12]:
        print("  ", b)
    both = tally[("pass", "pass")] > 0 and tally[("fail", "fail")] > 0
    return 0 if not bad and both else 1


if __name__ == "__main__":
    sys.exit(main())
