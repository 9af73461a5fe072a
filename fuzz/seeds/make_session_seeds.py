#!/usr/bin/python3
"""Writes the seeds of fuzz/fuzz_session.c into DIR: whole milter
connections as Postfix 3.7 sends them (OPTNEG, macros, CONNECT, HELO,
MAIL, RCPT, header fields, EOH, BODY, EOM), against the harness's zone:
a forged p=reject From, a p=none domain, our protected domain from
outside, an authenticated sender (outbound, then QUIT while the signature
is being made), the same signed twice in one connection, a message aborted
and sent again, and hostile header fields (a broken signature, a forged
Authentication-Results with our authserv-id, an ARC seal, a report).
Outbound: a login spraying 60 recipients twice in one connection, a login
sending as an address it does not own, a client of the internal network,
and an authentic delivery-status report from outside for boss's mail.

    fuzz/seeds/make_session_seeds.py fuzz/seeds/fuzz_session
"""
import os
import struct
import sys


def pkt(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


def z(*parts):
    return b"".join(p.encode() if isinstance(p, str) else p for p in parts)


def session(frm, ip="192.0.2.7", auth=None, headers=(), body=b"hello\r\n", abort_first=False,
            quit=False, helo="client.example", mail_from=None, rcpts=("u@ours.test",),
            messages=1):
    out = pkt(b"O", struct.pack(">III", 6, 0x1FF, 0x1FFFFF))
    out += pkt(b"D", z("C", "j\0mx.ours.test\0", "{daemon_name}\0smtpd\0"))
    out += pkt(b"C", z("client.example\0", "4", struct.pack(">H", 25), ip, "\0"))
    out += pkt(b"H", z(helo, "\0"))
    if mail_from is None:
        mail_from = "x@" + frm.split("@")[1]
    for rnd in range(max(messages, 2 if abort_first else 1)):
        macros = "i\0ABC12%d\0" % rnd + ("{auth_authen}\0%s\0" % auth if auth else "")
        out += pkt(b"D", z("M", macros))
        out += pkt(b"M", z("<%s>\0" % mail_from, "SIZE=100\0"))
        for r in rcpts:
            out += pkt(b"R", z("<%s>\0" % r))
        out += pkt(b"L", z("From\0", " %s\0" % frm))
        out += pkt(b"L", z("Subject\0", " test\0"))
        for name, value in headers:
            out += pkt(b"L", z(name, "\0 ", value, "\0"))
        out += pkt(b"N")
        out += pkt(b"B", body)
        out += pkt(b"A" if abort_first and rnd == 0 else b"E")
    # an MTA sends QUIT only after the answer to EOM; the harness ends the
    # stream once the loop has settled
    if quit:
        out += pkt(b"Q")
    return out


SEEDS = {
    "forged": session("ceo@bank.test", ip="203.0.113.9"),
    "lax": session("a@lax.test", ip="198.51.100.9"),
    "ours": session("boss@ours.test"),
    "auth": session("boss@ours.test", auth="boss", quit=True),
    "abort": session("ceo@bank.test", abort_first=True),
    "hdrs": session("ceo@bank.test", headers=[
        ("DKIM-Signature", "v=1; a=rsa-sha256; d=bank.test; s=s; h=from; bh=AAAA; b=AAAA"),
        ("Authentication-Results", "mx.ours.test; dmarc=pass header.from=bank.test"),
        ("ARC-Seal", "i=1; a=rsa-sha256; cv=none; d=fwd.test; s=s; b=AAAA"),
        ("Content-Type", "multipart/report; report-type=delivery-status; boundary=x")]),
    "ob-spray": session("boss@ours.test", auth="boss", messages=2,
                        rcpts=["r%d@far%d.test" % (i, i % 7) for i in range(60)]),
    "ob-notmine": session("ceo@ours.test", auth="alice", mail_from="alice@ours.test",
                          rcpts=("a@far.test",)),
    "ob-internal": session("printer@ours.test", ip="10.1.2.3", rcpts=("b@far.test",)),
    # signed twice in one connection (the signer's answers), a display
    # name and a Sender the login owns
    "ob-sign": session("\"Boss (boss@ours.test)\" <boss@ours.test>", auth="boss", messages=2,
                       mail_from="boss@ours.test", rcpts=("c@far.test",),
                       headers=[("Sender", "alice@ours.test"), ("Date", "Mon, 7 Dec 2026 01:00 +0000")]),
    "ob-dsn": session("MAILER-DAEMON@bank.test", helo="bank.test", mail_from="",
                      rcpts=("boss@ours.test",), headers=[
        ("MIME-Version", "1.0"),
        ("Content-Type", "multipart/report; report-type=delivery-status; boundary=\"b\"")],
        body=(b"--b\r\nContent-Type: text/plain\r\n\r\nnot delivered\r\n"
              b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
              b"Reporting-MTA: dns; mx.bank.test\r\n\r\n"
              b"Final-Recipient: rfc822; gone@bank.test\r\nAction: failed\r\n"
              b"Status: 5.1.1\r\n\r\n--b--\r\n")),
}

for name, data in SEEDS.items():
    with open(os.path.join(sys.argv[1], name), "wb") as f:
        f.write(data)
