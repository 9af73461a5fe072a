#!/usr/bin/python3
"""The author domain against a reader: From fields built at random (fixed
seeds) from the pieces forgers use (comments, quoted and encoded local
parts and names, a trailing dot, spaces and folds around the @ or in the
domain, full-width and ideographic dots and at signs, zero-width joiners,
control characters inside the name, routes, groups, several mailboxes,
an unclosed <, a NUL or a no-break
space in the field name, a second From behind a bare CR, a bare LF, a NUL
or another line end that is not CRLF), each in a message that nothing authenticates,
from a client bank.test's SPF does not allow. bank.test publishes
p=reject.

Python's email package is the reader (email.policy.default and the
compat32 getaddresses a older mail programs resemble): whenever it shows
an address a person reads as bank.test (the same after NFKC, the dots
UTS #46 maps, and with invisible characters dropped), spoofguard must say
forged, or refuse the message as malformed (an MTA's spoofguardd rejects
it) and name the file.

    from_reader_diff.py CLI WORKDIR [SEED...]

Prints the counts, the first disagreements, and exits 1 on any."""
import email
import email.policy
import email.utils
import json
import os
import random
import subprocess
import sys
import unicodedata
from collections import Counter

ZONE = """$ORIGIN test.
$TTL 300
bank IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
_dmarc.bank IN TXT "v=DMARC1; p=reject"
evil IN TXT "v=spf1 ip4:203.0.113.0/24 -all"
_dmarc.evil IN TXT "v=DMARC1; p=none"
"""

DOMAINS = ["bank.test", "BANK.test", "bAnK.TeSt", "bank.test.", "bank.test..", ".bank.test",
           "bank..test", " bank.test", "bank.test ", "bank .test", "bank. test", "bank.test\t",
           "bank.(c)test", "(c)bank.test", "bank.test(c)", "bank.test (c)", "[bank.test]",
           "bank\u3002test", "bank\uff0etest", "bank.test\u200b", "b\u200dank.test",
           "bank.te\\st", "bank\r\n .test", "bank.test\r\n ", "bank.t\u0435st", "xn--bank-.test",
           "bank.test;", "bank.test,", "bank.test>", "bank.test\"", "bank.test%evil.test",
           "b%61nk.test", "=?utf-8?q?bank.test?=", "bank.test\x00", "bank.test\x7f",
           "evil.test", "evil.test.bank.test", "bank.test.evil.test",
           # control characters and a stray byte inside the name: Python
           # drops VT, FF and FS..US from a domain, and keeps the others,
           # which a mail program does not draw
           "ban\x0bk.test", "\x0bbank.test", "bank\x0c.test", "ba\x1enk.test", "bank.\x1ftest",
           "bank\x01.test", "\x01bank.test", "ba\x1b[0mnk.test", "ban\udc80k.test",
           "bank.test\x0b.evil.test"]
LOCALS = ["ceo", "\"ceo\"", "\"c eo\"", "\"ceo@evil.test\"", "c.e.o", "ceo(c)", "(c)ceo",
          "\"a\\\"b\"", "ceo+x", "ceo ", " ceo", "\"\"", "c\r\n eo", "=?utf-8?q?ceo?="]
NAMES = ["", "CEO", "\"CEO\"", "\"ceo@bank.test\"", "=?utf-8?q?ceo=40bank.test?=",
         "=?utf-8?b?Y2VvQGJhbmsudGVzdA==?=", "(c)", "\"a, b\"", "a, b", "Bank <x>", "\"\\\"\"",
         "=?utf-8?q?CEO?= \"x\"", "\u00e9l\u00e8ve", "\"Billing \udcc3( Dept\""]
SMUGGLE = ["\r", "\n", "\x00", "\r\r\n", "\n\r", "\x0c", "\x0b", "\x85", "\u2028",
           "\r\n\r\n"]
FIELD = ["From", "From", "From", "FROM", "from", "From ", "From\t", "Fr\x00om", "From\u00a0"]


def message(rnd, i):
    def addr():
        at = rnd.choice(["@", "@", "@", " @", "@ ", "@(c)", "\uff20"])
        return rnd.choice(LOCALS) + at + rnd.choice(DOMAINS)

    def mailbox():
        a, n = addr(), rnd.choice(NAMES)
        return rnd.choice(["%s" % a, "%s <%s>" % (n, a), "<%s>" % a, "%s<%s>" % (n, a),
                           "%s <@route.test:%s>" % (n, a), "%s <%s" % (n, a),
                           "%s <%s> (c)" % (n, a)])

    k = rnd.randrange(8)
    if k == 0:
        v = "%s, %s" % (mailbox(), mailbox())
    elif k == 1:
        v = "g: %s;" % mailbox()
    elif k == 2:
        v = "g: %s, %s;" % (mailbox(), mailbox())
    elif k == 3:
        v = "evil@evil.test (%s)" % mailbox()
    else:
        v = mailbox()
    extra = "Sender: evil@evil.test\r\n" if rnd.randrange(10) == 0 else ""
    # a second From hidden behind a line end that is not CRLF (class 4)
    smuggle = ""
    if rnd.randrange(5) == 0:
        smuggle = "Subject: hi%sFrom: %s\r\n" % (rnd.choice(SMUGGLE), mailbox())
    raw = "%s%s: %s\r\n%sTo: u@ours.test\r\nSubject: x\r\nMessage-ID: <%d@evil.test>\r\n\r\nhi\r\n" % (
        smuggle, rnd.choice(FIELD), v, extra, i)
    return raw.encode("utf-8", "surrogateescape")


def reader_domains(data):
    doms = set()
    try:
        m = email.message_from_bytes(data, policy=email.policy.default)
        for h in m.get_all("From") or []:
            try:
                doms.update((a.domain or "").lower() for a in h.addresses)
            except Exception:
                pass
    except Exception:
        pass
    try:
        m = email.message_from_bytes(data, policy=email.policy.compat32)
        for _, a in email.utils.getaddresses([str(h) for h in m.get_all("From") or []]):
            if "@" in a:
                doms.add(a.rsplit("@", 1)[1].lower())
    except Exception:
        pass
    return doms


# What a person reads as the same name: compatibility forms folded (NFKC:
# full-width letters and dots), the dots UTS #46 maps to "." (ideographic
# and half-width ideographic full stops), invisible characters dropped
# (zero-width space, joiners, word joiner, BOM, soft hyphen), and so are
# control characters and the mark of a byte that is not UTF-8, which a
# mail program draws as nothing or a box.
INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)


def as_read(domain):
    d = domain.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    d = unicodedata.normalize("NFKC", d).translate(INVISIBLE)
    d = "".join(c for c in d if c != "\ufffd" and (c in "\t\r\n" or unicodedata.category(c) != "Cc"))
    d = d.replace("\u3002", ".").replace("\uff61", ".")
    return d.strip().rstrip(".").lower()


def refused_files(stderr):
    """The files `spoofguard verify` refused as malformed, from its stderr."""
    head, tail = "spoofguard: ", ": malformed message header"
    return {line[len(head):-len(tail)]
            for line in stderr.decode("utf-8", "replace").splitlines()
            if line.startswith(head) and line.endswith(tail)}


def main():
    cli, work = sys.argv[1], sys.argv[2]
    seeds = [int(s) for s in sys.argv[3:]] or [1]
    with open(os.path.join(work, "zone"), "w") as f:
        f.write(ZONE)
    total, shown, bad, tally = 0, 0, [], Counter()
    for seed in seeds:
        rnd = random.Random(seed)
        d = os.path.join(work, "msgs-%d" % seed)
        os.makedirs(d)
        msgs = []
        for i in range(3000):
            p = os.path.join(d, "%05d.eml" % i)
            data = message(rnd, i)
            with open(p, "wb") as f:
                f.write(data)
            msgs.append((p, data))
        out = subprocess.run([cli, "verify", "--zone", os.path.join(work, "zone"), "--ip",
                              "203.0.113.9", "--helo", "mx.evil.test", "--mail-from",
                              "x@evil.test", "--json", d], capture_output=True)
        res = {}
        for line in out.stdout.decode("utf-8", "replace").splitlines():
            j = json.loads(line)
            res[j["file"]] = j
        refused = refused_files(out.stderr)
        for p, data in msgs:
            total += 1
            bank = any(as_read(x) == "bank.test" for x in reader_domains(data))
            shown += bank
            j = res.get(p)
            if j is None and p not in refused:
                bad.append(("no result and not refused", p, data))
                continue
            v = j["verdict"] if j else "refused"
            tally[(bank, v)] += 1
            if bank and v not in ("forged", "refused"):
                bad.append((v + ": " + j["reason"], p, data))
    for (bank, v), n in sorted(tally.items()):
        print("  reader shows bank.test: %-5s  spoofguard: %-10s %5d" % (bank, v, n))
    print("messages %d, shown as bank.test by the reader %d, disagreements %d" %
          (total, shown, len(bad)))
    for why, p, data in bad[:10]:
        print("  %s: %s %r" % (why, p, data.split(b"\r\nTo:")[0]))
    # the corpus must reach both sides, or the check says nothing
    ok = not bad and shown >= total // 10 and tally[(False, "authentic")] > 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
