#!/usr/bin/python3
"""Build docs/spoofguardd.8 from the option reference table on stdin."""
import re
import sys

rows = sys.stdin.read().splitlines()[2:]
out = [r""".TH SPOOFGUARDD 8 "2026-11-29" "spoofguard 0.1.0" "System Manager's Manual"
.SH NAME
spoofguardd \- mail authentication milter for Postfix and Sendmail
.SH SYNOPSIS
.B spoofguardd
[\fB\-c\fR \fIFILE\fR] [\fB\-t\fR] [\fB\-\-reference\fR]
.SH DESCRIPTION
.B spoofguardd
signs outbound mail with DKIM (RSA and Ed25519) after checking that the
authenticated login owns the sender addresses, and checks inbound mail with
SPF, DKIM and DMARC, writing one Authentication\-Results field and applying
the DMARC disposition. Mail claiming one of our protected domains from
outside without passing is rejected. When a message cannot be decided (DNS
timeout, internal error, overload) the configured fail\-safe answer is given:
tempfail by default.
.SH OPTIONS
.TP
.BI \-c " FILE"
Configuration file (default /etc/spoofguard/spoofguardd.conf).
.TP
.B \-t
Check the configuration, the tables, the keys and the resolver settings,
print the effective configuration and exit: 0 if it is usable, 1 with a
message naming the file and line otherwise.
.TP
.B \-\-reference
Print the configuration reference as Markdown.
.SH CONFIGURATION
One option per line:
.I name value.
Lists take commas or spaces.
.B #
starts a comment."""]
for r in rows:
    c = [x.strip() for x in r.strip("|").split("|")]
    name, typ, de, rel, doc = c[0].strip("`"), c[1], c[2], c[3], c[4]
    doc = re.sub(r"`([^`]*)`", r"\\fB\1\\fR", doc).replace("-", "\\-")
    out.append(".TP\n.B %s\n%s (%s; default %s; %s)" %
               (name, doc, typ, de, "reloadable" if rel == "yes" else "restart to change"))
out.append(r""".SH SIGNALS
.TP
.B SIGHUP
Reload configuration, tables and keys without dropping sessions.
.TP
.BR SIGTERM ", " SIGINT
Stop accepting, let sessions finish (at most 30 seconds), exit.
.SH FILES
.I /etc/spoofguard/spoofguardd.conf
.SH SEE ALSO
.BR spoofguard (1),
.BR postconf (5)""")
print("\n".join(out))
