#!/usr/bin/env python3
"""Writes the MIME walk's fixture messages (tests/data/mime/*.eml).

Run from anywhere; rewrites the files next to this script, byte for byte
the same each time. The messages are written by hand (not by Python's
email package, which is the oracle of tests/scripts/mime_pyemail_diff.sh).
"""
import base64
import os
import struct
import zlib

here = os.path.dirname(os.path.abspath(__file__))


def png(w, h, rgb):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    raw = b"".join(b"\0" + bytes(rgb) * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def b64(data):
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76)) + "\n"


def qp_bytes(data):
    out = []
    for c in data:
        if c in (0x3D,) or c >= 0x7F or (c < 0x20 and c not in (0x0A,)):
            out.append("=%02X" % c)
        else:
            out.append(chr(c))
    return "".join(out)


HDR = ("From: Alice <alice@example.com>\n"
       "To: bob@example.org\n"
       "Date: Fri, 04 Dec 2026 10:00:00 +0000\n"
       "Message-ID: <{name}@example.com>\n"
       "MIME-Version: 1.0\n")


def write(name, text, crlf=False, raw=None):
    data = raw if raw is not None else text.encode("latin-1")
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    with open(os.path.join(here, name + ".eml"), "wb") as f:
        f.write(data)


def msg(name, rest, crlf=False):
    write(name, HDR.format(name=name) + rest, crlf=crlf)


logo = png(8, 8, (0x1F, 0x6F, 0xEB))
with open(os.path.join(here, "logo.png"), "wb") as f:
    f.write(logo)

# ---- multipart/alternative ------------------------------------------------
msg("alt_html_last", """Subject: html last
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

plain version
--b1
Content-Type: text/html; charset=utf-8

<p>html version</p>
--b1--
""")
msg("alt_html_first", """Subject: html first then plain
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/html; charset=utf-8

<p>html first</p>
--b1
Content-Type: text/plain; charset=utf-8

plain last
--b1--
""")
msg("alt_plain_last", """Subject: plain is the last we can show
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/enriched

<bold>enriched</bold>
--b1
Content-Type: text/plain; charset=utf-8

plain shown
--b1
Content-Type: text/x-amp-html; charset=utf-8

<html amp4email>amp</html>
--b1--
""", crlf=True)

# ---- multipart/related with cid: images ------------------------------------
msg("related_cid", """Subject: related root with an inline logo
Content-Type: multipart/related; boundary="r1"; type="multipart/alternative"

--r1
Content-Type: multipart/alternative; boundary="a1"

--a1
Content-Type: text/plain; charset=utf-8

See the logo.
--a1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<p>See <img src=3D"cid:logo%40example.com"> the logo.</p>
--a1--

--r1
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-ID: <logo@EXAMPLE.com>
Content-Disposition: inline

""" + b64(logo) + """
--r1--
""", crlf=True)
msg("related_start", """Subject: related root named by start
Content-Type: multipart/related; boundary="r1"; start="<root@example.com>"

--r1
Content-Type: image/gif
Content-Transfer-Encoding: base64
Content-ID: <pixel@example.com>

R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=
--r1
Content-Type: text/html; charset=utf-8
Content-ID: <root@example.com>

<p>root <img src="cid:pixel@example.com"></p>
--r1--
""")

# ---- multipart/mixed --------------------------------------------------------
msg("mixed_attach", """Subject: mixed: first text part that is not an attachment
Content-Type: multipart/mixed; boundary="m1"

--m1
Content-Type: text/plain; charset=utf-8; name="notes.txt"
Content-Disposition: attachment; filename="notes.txt"

attached notes
--m1
Content-Type: text/plain; charset=utf-8

the body
--m1
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcOkw7zDtsOfCg==
--m1
Content-Type: application/octet-stream
Content-Disposition: attachment;
 filename*0*=utf-8''%E2%82%AC%20rates%20;
 filename*1*=%C3%A9t%C3%A9;
 filename*2=".pdf.exe"
Content-Transfer-Encoding: base64

TVqQAAMAAAAEAAAA
--m1--
""")

# ---- charsets ---------------------------------------------------------------
def text_msg(name, subject, cs, body, cte="8bit"):
    head = HDR.format(name=name) + "Subject: " + subject + "\n"
    head += "Content-Type: text/plain; charset=%s\n" % cs
    head += "Content-Transfer-Encoding: %s\n\n" % cte
    if cte == "quoted-printable":
        payload = qp_bytes(body).encode("latin-1")
    elif cte == "base64":
        payload = b64(body).encode()
    else:
        payload = body
    write(name, None, raw=head.encode("latin-1") + payload)


text_msg("cs_latin1", "latin-1", "iso-8859-1", "Caf\u00e9 cr\u00e8me, \u00bd price\n".encode("latin-1"),
         "quoted-printable")
text_msg("cs_cp1252", "windows-1252", "windows-1252",
         "\u201csmart\u201d quotes \u2013 and \u20ac5\n".encode("cp1252"))
text_msg("cs_koi8r", "koi8-r", "koi8-r", "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440\n".encode("koi8_r"))
text_msg("cs_iso2022jp", "iso-2022-jp", "iso-2022-jp",
         "\u3053\u3093\u306b\u3061\u306f\u3001\u4e16\u754c\n".encode("iso2022_jp"), "7bit")
text_msg("cs_sjis", "shift_jis", "shift_jis", "\u65e5\u672c\u8a9e\u306e\u30e1\u30fc\u30eb\n".encode("shift_jis"),
         "base64")
text_msg("cs_utf8_invalid", "utf-8 with invalid bytes", "utf-8",
         b"ok \xc3\xa9 bad \xff \xe2\x82 \xed\xa0\x80 \xc0\xaf end\n")
text_msg("cs_unknown", "unknown charset", "x-no-such-charset", b"caf\xc3\xa9 and \xe9\n")
text_msg("cs_nul", "NUL in the body", "utf-8", b"before\x00after\n")

# ---- encoded words ------------------------------------------------------------
msg("subject_b", "Subject: =?UTF-8?B?w4Fydg==?= =?utf-8?b?w616IHTFsXLFkQ==?=\n"
    "Content-Type: text/plain\n\nx\n")
msg("subject_q", "Subject: =?iso-8859-1?q?caf=E9_cr=E8me?= and more\nContent-Type: text/plain\n\nx\n")
# one character (U+00E9, C3 A9) split over two encoded words
msg("subject_split", "Subject: =?utf-8?B?Y2Fmww==?=\n =?utf-8?B?qSBiYXI=?=\nContent-Type: text/plain\n\nx\n")
msg("subject_invalid", "Subject: =?utf-8?X?abc?= and =?utf-8?B?not base64!?= kept\n"
    "Content-Type: text/plain\n\nx\n")

# ---- hostile and odd structures (also read by the Python oracle) -------------
msg("hostile_no_content_type", "Subject: no Content-Type\n\nplain by default\n")
msg("hostile_header_only", "Subject: only a header\n")
msg("hostile_broken_boundary", """Subject: the boundary never comes
Content-Type: multipart/mixed; boundary="declared"

text before
--other
Content-Type: text/html

<p>x</p>
--other--
""")
msg("hostile_truncated_base64", """Subject: cut in the middle
Content-Type: multipart/mixed; boundary="m"

--m
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

aGVsbG8gd29y
--m
Content-Type: application/pdf; name="cut.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLj""")
write("hostile_nul_body", None, raw=(HDR.format(name="hostile_nul_body") +
      "Subject: NUL bytes\nContent-Type: text/html; charset=utf-8\n\n").encode()
      + b"<p>a\x00b</p>\x00\n")
msg("names_encoded", """Subject: names in RFC 2047 and with a bidi override
Content-Type: multipart/mixed; boundary="m"

--m
Content-Type: text/plain

see attached
--m
Content-Type: application/pdf; name="=?utf-8?B?w6l0w6kucGRm?="
Content-Disposition: attachment; filename="=?utf-8?B?w6l0w6kucGRm?="

x
--m
Content-Type: application/octet-stream
Content-Disposition: attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe

x
--m
Content-Type: message/rfc822
Content-Disposition: attachment; filename="forwarded.eml"

Subject: inner
Content-Type: multipart/mixed; boundary="inner"

--inner
Content-Type: application/pdf; name="inner.pdf"

x
--inner--
--m--
""")
# where the two readers part ways (see mime_pyemail_diff.sh)
msg("diff_two_html", """Subject: two html alternatives
Content-Type: multipart/alternative; boundary="a"

--a
Content-Type: text/html

<p>older</p>
--a
Content-Type: text/html

<p>richest, last</p>
--a--
""")
msg("diff_mixed_inline_html", """Subject: plain first, inline html later
Content-Type: multipart/mixed; boundary="m"

--m
Content-Type: text/plain

the first text part
--m
Content-Type: text/html

<p>a later inline part</p>
--m--
""")

# an html part whose only charset is in its <meta> (not valid UTF-8)
write("cs_html_meta", None, raw=(HDR.format(name="cs_html_meta") +
      "Subject: meta charset\nContent-Type: text/html\n\n").encode()
      + '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
        '</head><body>\u201ccaf\u00e9\u201d</body></html>\n'.encode("cp1252"))
# the same <meta>, but the bytes are UTF-8: they are read as UTF-8
write("cs_html_meta_utf8", None, raw=(HDR.format(name="cs_html_meta_utf8") +
      "Subject: meta charset, UTF-8 bytes\nContent-Type: text/html\n\n").encode()
      + '<meta charset="iso-8859-1"><p>caf\u00e9</p>\n'.encode("utf-8"))
