#!/usr/bin/env python3
"""Writes the report corpus of tests/scripts/reports_parse.sh into OUTDIR:
real-shaped reports (both namespaces and none, several reporters' styles,
as .xml, .gz, .zip and mail) and hostile ones (XML and zip bombs, external
entities, truncation, 600,000 records, deep nesting, a huge text node, NUL
bytes), made here so the repository carries no bombs. OUTDIR/expected.jsonl
says, per file, either the numbers `report parse --json` must print or the
words its refusal must contain. Deterministic: the same files every run.
"""
import base64
import gzip
import io
import json
import os
import quopri
import sys
import zipfile
import zlib

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
expected = []


def write(name, data, **exp):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    expected.append(dict(file=name, **exp))


def record(ip, count, disp, dkim, spf, hfrom="example.com", extra=""):
    return (f"<record><row><source_ip>{ip}</source_ip><count>{count}</count>"
            f"<policy_evaluated><disposition>{disp}</disposition><dkim>{dkim}</dkim>"
            f"<spf>{spf}</spf>{extra}</policy_evaluated></row>"
            f"<identifiers><header_from>{hfrom}</header_from></identifiers>"
            f"<auth_results><dkim><domain>{hfrom}</domain><selector>s1</selector>"
            f"<result>{dkim}</result></dkim><spf><domain>{hfrom}</domain>"
            f"<result>{spf}</result></spf></auth_results></record>\n")


def meta(org, rid, begin, end, extra=""):
    return (f"<report_metadata><org_name>{org}</org_name><email>dmarc@{org}</email>{extra}"
            f"<report_id>{rid}</report_id><date_range><begin>{begin}</begin><end>{end}</end>"
            f"</date_range></report_metadata>\n")


# --- real-shaped, valid --------------------------------------------------

# RFC 9990: namespace, generator, np, testing, discovery_method, extension
rfc9990 = ('<?xml version="1.0" encoding="UTF-8"?>\n'
           '<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">\n<version>1.0</version>\n'
           + meta("receiver.example", "r9990-1@receiver.example", 1767225600, 1767311999,
                  "<generator>spoofguard-test 1.0</generator>")
           + "<policy_published><domain>Example.COM</domain><discovery_method>treewalk"
             "</discovery_method><adkim>r</adkim><aspf>r</aspf><p>reject</p><sp>quarantine"
             "</sp><np>reject</np><testing>n</testing></policy_published>\n"
           + '<extension><ext:thing xmlns:ext="urn:example:ext"><ext:a>1</ext:a></ext:thing></extension>\n'
           + record("192.0.2.1", 10, "none", "pass", "pass")
           + record("192.0.2.2", 5, "reject", "fail", "fail", "example.com",
                    "<reason><type>policy_test_mode</type><comment>t</comment></reason>")
           + record("2001:db8::1", 3, "quarantine", "fail", "pass")
           + "</feedback>\n").encode()
agg9990 = dict(kind="aggregate", namespace="rfc9990", org_name="receiver.example",
               report_id="r9990-1@receiver.example", policy_domain="example.com",
               begin=1767225600, end=1767311999, records=3, messages=18,
               dkim_aligned_pass=10, spf_aligned_pass=13,
               disposition={"none": 10, "reject": 5, "quarantine": 3},
               reasons={"policy_test_mode": 5})
write("rfc9990.xml", rfc9990, **agg9990)

# RFC 7489's namespace with a prefix on every element
body = (meta("prefixed.example", "p-7489", 1700000000, 1700086399)
        + "<policy_published><domain>example.org</domain><p>none</p></policy_published>"
        + record("198.51.100.7", 42, "none", "pass", "fail", "example.org")
        + record("198.51.100.8", 8, "none", "fail", "fail", "example.org"))
body = body.replace("<", "<n:").replace("<n:/", "</n:")
rfc7489 = ('<?xml version="1.0"?>\n<n:feedback xmlns:n="http://dmarc.org/dmarc-xml/0.1">'
           + body + "</n:feedback>").encode()
agg7489 = dict(kind="aggregate", namespace="rfc7489", org_name="prefixed.example",
               report_id="p-7489", policy_domain="example.org", begin=1700000000,
               end=1700086399, records=2, messages=50, dkim_aligned_pass=42,
               spf_aligned_pass=0, disposition={"none": 50}, reasons={})
write("rfc7489-prefixed.xml", rfc7489, **agg7489)

# override reasons: only each record's first counts, its type in lower case;
# an empty type or none is not a reason
reasons = ('<?xml version="1.0"?>\n<feedback>\n'
           + meta("forwarding.example", "reasons-1", 1767225600, 1767311999)
           + "<policy_published><domain>example.net</domain><p>reject</p></policy_published>\n"
           + record("192.0.2.10", 6, "none", "fail", "fail", "example.net",
                    "<reason><type>forwarded</type><comment>list</comment></reason>"
                    "<reason><type>mailing_list</type></reason>")
           + record("192.0.2.11", 2, "none", "fail", "fail", "example.net",
                    "<reason><type> Trusted_Forwarder </type></reason>")
           + record("192.0.2.12", 1, "reject", "fail", "fail", "example.net",
                    "<reason><type></type><comment>empty</comment></reason>")
           + record("192.0.2.13", 3, "reject", "fail", "fail", "example.net")
           + record("192.0.2.14", 4, "none", "fail", "pass", "example.net",
                    "<reason><type>forwarded</type></reason>")
           + "</feedback>\n").encode()
write("reasons.xml", reasons, kind="aggregate", namespace="none", org_name="forwarding.example",
      report_id="reasons-1", policy_domain="example.net", begin=1767225600, end=1767311999,
      records=5, messages=16, dkim_aligned_pass=0, spf_aligned_pass=4,
      disposition={"none": 12, "reject": 4},
      reasons={"forwarded": 10, "trusted_forwarder": 2})

# Outlook-style: xsi attributes, upper case, whitespace, CDATA, &amp;,
# missing optional elements, a fraction in the dates, BOM, CRLF
messy = ("\ufeff<?xml version=\"1.0\"?>\r\n<feedback xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\""
         " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\r\n"
         "<report_metadata><org_name><![CDATA[Big & Co]]></org_name>"
         "<report_id>\r\n   id&amp;1  \r\n</report_id><date_range><begin> 1700000000.0 </begin>"
         "<end>1700086400</end></date_range></report_metadata>\r\n"
         "<policy_published><domain>  messy.example </domain></policy_published>\r\n"
         "<record><row><source_ip>203.0.113.9</source_ip><count> 7 </count><policy_evaluated>"
         "<disposition>None</disposition><dkim>PASS</dkim><spf>Fail</spf></policy_evaluated>"
         "</row><identifiers><header_from>messy.example</header_from></identifiers></record>\r\n"
         "<record><row><source_ip>203.0.113.10</source_ip><count>2</count><policy_evaluated>"
         "</policy_evaluated></row></record>\r\n"
         "</feedback>\r\n").encode()
write("outlook-messy.xml", messy, kind="aggregate", namespace="none", org_name="Big & Co",
      report_id="id&1", policy_domain="messy.example", begin=1700000000, end=1700086400,
      records=2, messages=9, dkim_aligned_pass=7, spf_aligned_pass=0,
      disposition={"none": 7, "unknown": 2}, reasons={})

# An XInclude is not processed (no XML_PARSE_XINCLUDE): the report reads as is
xinc = rfc9990.replace(b"<version>1.0</version>",
                       b'<version>1.0</version><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd" parse="text"/>')
write("xinclude-ignored.xml", xinc, **agg9990)

# gzip: two members (concatenated), then trailing garbage as Mimecast sends
half = len(rfc9990) // 2
gz = gzip.compress(rfc9990[:half], mtime=0) + gzip.compress(rfc9990[half:], mtime=0) + b"\0\0garbage\n"
write("two-members-trailing.xml.gz", gz, **agg9990)

# zip: deflated with a directory entry first; stored; data descriptor
def zipped(data, method, with_dir=False):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method) as z:
        if with_dir:
            z.writestr(zipfile.ZipInfo("reports/"), b"")
        z.writestr("reports/report.xml", data)
    return b.getvalue()

write("deflated-dir.zip", zipped(rfc7489, zipfile.ZIP_DEFLATED, True), **agg7489)
write("stored.zip", zipped(rfc7489, zipfile.ZIP_STORED), **agg7489)
b = io.BytesIO()
with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
    with z.open("r.xml", "w") as f:  # streamed: sizes in a data descriptor
        f.write(rfc9990)
write("data-descriptor.zip", b.getvalue(), **agg9990)


def mail(parts, subject="Report Domain: example.com Submitter: receiver.example"):
    boundary = "b1b2b3"
    s = (f"From: noreply-dmarc@receiver.example\r\nTo: dmarc@example.com\r\nSubject: {subject}\r\n"
         f"Message-ID: <m1@receiver.example>\r\nMIME-Version: 1.0\r\n"
         f"Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n")
    for headers, body in parts:
        s += f"--{boundary}\r\n{headers}\r\n\r\n{body}\r\n"
    return (s + f"--{boundary}--\r\n").encode()


b64 = lambda d: "\r\n".join(base64.b64encode(d).decode()[i:i + 76] for i in range(0, len(base64.b64encode(d)), 76))
write("gzip-octet-stream.eml", mail([
    ("Content-Type: text/plain", "This is an aggregate report."),
    ("Content-Type: application/octet-stream; name=\"r.xml.gz\"\r\nContent-Transfer-Encoding: base64",
     b64(gzip.compress(rfc9990, mtime=0)))]), **agg9990)
write("zip-x-zip.eml", mail([
    ("Content-Type: application/x-zip-compressed; name=\"r.zip\"\r\nContent-Transfer-Encoding: base64",
     b64(zipped(rfc7489, zipfile.ZIP_DEFLATED)))]), **agg7489)
write("xml-qp-text-plain.eml", mail([
    ("Content-Type: text/html", "<html><body>DMARC feedback <b>report</b></body></html>"),
    ("Content-Type: text/plain; name=\"r.xml\"\r\nContent-Transfer-Encoding: quoted-printable",
     quopri.encodestring(rfc9990).decode().replace("\n", "\r\n"))]), **agg9990)

arf = ("Feedback-Type: auth-failure\r\nUser-Agent: test/1.0\r\nVersion: 1\r\n"
       "Auth-Failure: dmarc\r\nIdentity-Alignment: dkim, spf\r\n"
       "Original-Mail-From: <a@forged.example>\r\nArrival-Date: Thu, 01 Jan 2026 00:00:10 +0000\r\n"
       "Source-IP: 192.0.2.99\r\nReported-Domain: Example.COM\r\n")
fr = ("From: dmarc-ruf@receiver.example\r\nTo: ruf@example.com\r\nSubject: failure\r\n"
      "Message-ID: <f1@receiver.example>\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/report; report-type=feedback-report; boundary=\"xx\"\r\n\r\n"
      "--xx\r\nContent-Type: text/plain\r\n\r\nA failure report.\r\n"
      f"--xx\r\nContent-Type: message/feedback-report\r\n\r\n{arf}\r\n"
      "--xx\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: a@example.com\r\nSubject: x\r\n\r\n"
      "--xx--\r\n").encode()
write("arf-rfc9991.eml", fr, kind="failure", policy_domain="example.com", source_ip="192.0.2.99",
      auth_failure="dmarc", arrival=1767225610)
# the Reported-Domain as stored names are: no root dot, lower case (adv31)
write("arf-root-dot.eml", fr.replace(b"Reported-Domain: Example.COM", b"Reported-Domain: Example.COM.")
      .replace(b"<f1@", b"<f2@"), kind="failure", policy_domain="example.com",
      source_ip="192.0.2.99", auth_failure="dmarc", arrival=1767225610)

# --- hostile ---------------------------------------------------------------

laughs = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
          + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">\n' for i in range(1, 10))
          + ']>\n<feedback><report_metadata><org_name>&lol9;</org_name></report_metadata></feedback>\n').encode()
write("billion-laughs.xml", laughs, error="DOCTYPE")
xxe = (b'<?xml version="1.0"?>\n<!DOCTYPE feedback [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
       b"<feedback><report_metadata><org_name>&x;</org_name></report_metadata></feedback>\n")
write("xxe-passwd.xml", xxe, error="DOCTYPE")
write("external-dtd.xml", b'<?xml version="1.0"?>\n<!DOCTYPE feedback SYSTEM "http://127.0.0.1:9/x.dtd">\n'
      + rfc9990.split(b"\n", 1)[1], error="DOCTYPE")
write("entity-reference-undeclared.xml", rfc9990.replace(b"receiver.example</org_name>", b"&x;</org_name>"),
      **agg9990 | dict(org_name=""))

spaces = b"<a/>" * (16 << 20)  # valid XML: only the bound stops it
write("gzip-bomb.xml.gz", gzip.compress(b"<feedback>" + spaces, 9, mtime=0), error="inflation ratio")
write("zip-bomb.zip", zipped(b"<feedback>" + spaces, zipfile.ZIP_DEFLATED), error="inflation ratio")
# over 32 MiB but under the ratio: distinct records compress about 10:1
big = io.StringIO()
big.write("<feedback>" + meta("big.example", "big", 1, 2) + "<policy_published><domain>big.example</domain></policy_published>")
i = 0
while big.tell() < (34 << 20):
    big.write(record(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", i % 97 + 1, "none", "pass", "fail", f"h{i}.big.example"))
    i += 1
big.write("</feedback>")
write("over-32mib.xml.gz", gzip.compress(big.getvalue().encode(), 6, mtime=0), error="inflates to more than")
del big

gzr = gzip.compress(rfc9990, mtime=0)
write("truncated.xml.gz", gzr[: len(gzr) // 2], error="truncated gzip")
zr = zipped(rfc9990, zipfile.ZIP_DEFLATED)
write("truncated.zip", zr[:70], error="truncated")
write("truncated.xml", rfc9990[: len(rfc9990) * 2 // 3], error="truncated")
write("corrupt.xml.gz", gzr[:20] + bytes(b ^ 0x55 for b in gzr[20:40]) + gzr[40:], error="gzip")

# plain XML: 600,000 short records stay under 32 MiB, and no inflation ratio applies
rec = "<record><row><count>1</count></row></record>\n"
many = ("<feedback>" + meta("many.example", "many", 1, 2) + rec * 600000 + "</feedback>").encode()
write("600000-records.xml", many, error="more than 500000 records")
write("deep-nesting.xml", b"<feedback>" + b"<a>" * 100000 + b"</a>" * 100000 + b"</feedback>",
      error="nested deeper")
write("huge-text.xml", b"<feedback><report_metadata><org_name>" + b"A" * (8 << 20)
      + b"</org_name></report_metadata></feedback>", error="bytes of text")
write("nul-bytes.xml", rfc9990.replace(b"receiver.example</org_name>", b"recei\0ver</org_name>"),
      error="NUL byte")
write("count-not-a-number.xml", rfc9990.replace(b"<count>10</count>", b"<count>ten</count>"),
      error="count is not a number")
write("count-overflow.xml", rfc9990.replace(b"<count>10</count>", b"<count>99999999999999999999999</count>"),
      error="count is not a number")
write("not-a-report.bin", bytes(range(256)) * 4, error="neither XML")
write("html-not-feedback.xml", b"<html><body>hello</body></html>", error="no <feedback>")
write("mail-without-report.eml", mail([("Content-Type: text/plain", "hello")]), error="no report in the mail")
enc = bytearray(zipped(rfc9990, zipfile.ZIP_STORED))
enc[6] |= 1  # the encrypted flag
write("encrypted.zip", bytes(enc), error="encrypted")
write("empty.xml", b"", error="empty")
write("empty-feedback.xml", b'<?xml version="1.0"?><feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0"/>',
      error="an empty <feedback>")

with open(os.path.join(out, "expected.jsonl"), "w") as f:
    for e in expected:
        f.write(json.dumps(e, sort_keys=True) + "\n")
