#!/usr/bin/python3
"""Several messages in one SMTP session, for the e2e tests.

  smtp_session.py CLIENT_ADDR PORT LOGIN|- PASSWORD|- RCPT MSG...
      MSG: "envelope-from|From field|token"; the token is the Subject and
      the body.  After a refusal the session goes on (RSET, as an MTA does).

Prints one line per message: "token CODE TEXT [MS ms]": the reply to the
end of DATA (or to the command that refused it) and the time from MAIL to
that reply.
"""
import smtplib
import sys
import time

HELO = {"127.0.0.10": "mx.ourco.test", "127.0.0.20": "mx.remote.test",
        "127.0.0.30": "mx.attacker.test"}


def main():
    addr, port, login, password, rcpt = sys.argv[1:6]
    s = smtplib.SMTP("127.0.0.1", int(port), source_address=(addr, 0), timeout=30)
    s.ehlo(HELO.get(addr, "client.test"))
    if login != "-":
        s.login(login, password)
    for spec in sys.argv[6:]:
        env, frm, tok = spec.split("|")
        msg = ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@e2e.test>\r\n\r\n%s\r\n"
               % (frm, rcpt, tok, tok, tok))
        t0 = time.monotonic()
        code, text = s.mail(env)
        if code == 250:
            code, text = s.rcpt(rcpt)
        if code == 250:
            code, text = s.data(msg.encode())
        ms = (time.monotonic() - t0) * 1000
        print(tok, code, text.decode(errors="replace").replace("\n", " "), "[%.1f ms]" % ms)
        if code != 250:
            s.rset()
    s.quit()


if __name__ == "__main__":
    main()
