#!/usr/bin/python3
"""DKIM-Signature fields of a delivered message (stdin), for the e2e tests.

  dkim_fields.py tags        one line per DKIM-Signature: "a=.. d=.. s=.."
  dkim_fields.py only N      the message with only its Nth DKIM-Signature
                             (1-based) kept, every other one removed

The signatures a signer adds at once do not cover each other (h= never
names DKIM-Signature), so removing the others leaves the kept one
verifiable: that lets a verifier that reports one result per message
judge each signature on its own.
"""
import re
import sys


def split_fields(data):
    """(header fields as raw byte strings with their line ends, body)"""
    m = re.search(rb"\r?\n\r?\n", data)
    head, body = (data[: m.start()], data[m.start():]) if m else (data, b"")
    fields = []
    for line in re.split(rb"(?<=\n)", head):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    if fields and not fields[-1].endswith(b"\n"):
        # the last field lost its line end to the separator match
        nl = b"\r\n" if b"\r\n" in data else b"\n"
        fields[-1] += nl
        body = body[len(nl):]
    return fields, body


def is_sig(field):
    return field.split(b":", 1)[0].strip().lower() == b"dkim-signature"


def tags(field):
    value = re.sub(rb"\s+", b"", field.split(b":", 1)[1])
    out = {}
    for t in value.split(b";"):
        k, _, v = t.partition(b"=")
        if k:
            out[k.decode()] = v.decode()
    return out


def main():
    data = sys.stdin.buffer.read()
    fields, body = split_fields(data)
    if sys.argv[1] == "tags":
        for f in fields:
            if is_sig(f):
                t = tags(f)
                print("a=%s d=%s s=%s" % (t.get("a"), t.get("d"), t.get("s")))
    elif sys.argv[1] == "only":
        want, n, out = int(sys.argv[2]), 0, []
        for f in fields:
            if is_sig(f):
                n += 1
                if n != want:
                    continue
            out.append(f)
        if n < want:
            sys.exit(1)
        sys.stdout.buffer.write(b"".join(out) + body)
    else:
        sys.exit(2)


if __name__ == "__main__":
    main()
