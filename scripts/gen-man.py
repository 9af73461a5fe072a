#!/usr/bin/python3
"""Build docs/spoofguardd.8 (or, with --conf, docs/spoofguardd.conf.5) from
the option reference table on stdin."""
import re
import sys

rows = sys.stdin.read().splitlines()[2:]


def options():
    out = []
    for r in rows:
        c = [x.strip() for x in r.strip("|").split("|")]
        name, typ, de, rel, doc = c[0].strip("`"), c[1], c[2], c[3], c[4]
        doc = re.sub(r"`([^`]*)`", r"\\fB\1\\fR", doc).replace("-", "\\-")
        out.append(".TP\n.B %s\n%s (%s; default %s; %s)" %
                   (name, doc, typ, de, "reloadable" if rel == "yes" else "restart to change"))
    return out


if sys.argv[1:] == ["--conf"]:
    out = [r""".TH SPOOFGUARDD.CONF 5 "2026-12-04" "spoofguard 0.1.0" "File Formats Manual"
.SH NAME
spoofguardd.conf \- configuration of the spoofguardd mail authentication milter
.SH SYNOPSIS
.I /etc/spoofguard/spoofguardd.conf
.SH DESCRIPTION
.BR spoofguardd (8)
reads its settings from this file at start\-up and again on SIGHUP
.RB ( "systemctl reload spoofguardd" ).
A reload that fails (syntax error, unreadable table or key, or a change to
an option marked "restart to change") is logged and the running settings
are kept.
.B spoofguardd \-t
checks a file, its tables and its keys without starting.
.PP
One option per line:
.I name value.
Lists take commas or spaces. A yes/no option also takes true/false, on/off
and 1/0, in any case; failsafe takes tempfail or accept in any case.
.B #
starts a comment. An option may appear once. A line holding a NUL byte
or more than 1 MiB, here or in a table, is an error, and so is a file that
is not a regular file (/dev/null reads as empty). A relative path
.RB ( sender_map ", " signing_table ", " key_table ", " log_file ,
.BR public_suffix_list ", " outbound_store ", " outbound_spill ", " report_store )
names a file in the folder of the configuration file, wherever
spoofguardd is started from; a socket path
.RB ( listen ", " metrics_listen )
must be absolute.
.SH OPTIONS"""]
    out += options()
    out.append(r""".SH TABLES
.TP
.B sender_map
One login per line, then the addresses it may send as
.RB ( @domain :
any address there).
.TP
.B signing_table
OpenDKIM SigningTable syntax: an address pattern
.RB ( * " globs)"
and the key names to sign with.
.TP
.B key_table
One key per line:
.IR "name domain" : selector : /path/to/private.pem .
Keys must not be readable by other users (mode 0600).
.SH EXAMPLE
.nf
listen              unix:/run/spoofguard/milter.sock
user                spoofguard
protected_domains   example.org
dmarc_enforce       yes
failsafe            tempfail
.fi
.SH FILES
.TP
.I /etc/spoofguard/spoofguardd.conf
the configuration read by default
.TP
.I /usr/share/doc/spoofguard/examples/
a commented sample configuration and tables
.SH SEE ALSO
.BR spoofguardd (8),
.BR spoofguard (1)""")
    print("\n".join(out))
    sys.exit(0)

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
message naming the file and line otherwise, 3 if the configuration is right
but this host cannot start it (the user, signer_user or listen_group it
names does not exist, a folder of the socket, of the log_file or of a store is
missing, a store is not writable by the user), said on standard error.
.TP
.B \-\-reference
Print the configuration reference as Markdown.
.SH CONFIGURATION
One option per line:
.I name value.
Lists take commas or spaces. A yes/no option also takes true/false, on/off
and 1/0, in any case; failsafe takes tempfail or accept in any case.
.B #
starts a comment. A line holding a NUL byte or more than 1 MiB, here or
in a table, is an error, and so is a file that is not a regular file
(/dev/null reads as empty)."""]
out += options()
out.append(r""".SH SIGNALS
.TP
.B SIGHUP
Reload configuration, tables and keys without dropping sessions: each message whose MAIL comes after the reload is judged with the new ones, also on a connection opened before it.
.TP
.BR SIGTERM ", " SIGINT
Stop accepting, let sessions finish (at most 30 seconds), exit.
.SH FILES
.I /etc/spoofguard/spoofguardd.conf
.SH SEE ALSO
.BR spoofguardd.conf (5),
.BR spoofguard (1),
.BR postconf (5)""")
print("\n".join(out))
