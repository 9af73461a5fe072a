#!/usr/bin/python3
"""Interop peer on dkimpy (Debian python3-dkim), for tests/scripts/dkim_interop.sh.

  dkimpy_peer.py sign ALG CANON KEYFILE SELECTOR DOMAIN < MSG > SIGNED
      ALG rsa-sha256 | ed25519-sha256; CANON header/body;
      KEYFILE: PEM (RSA) or base64 Ed25519 seed
  dkimpy_peer.py verify KEYS < MSG
      KEYS: lines "selector._domainkey.domain record"; prints pass or fail
      for the first signature.

Keys come from KEYS through dkimpy's dnsfunc hook: no DNS.
"""
import sys

import dkim


def main():
    msg = sys.stdin.buffer.read()
    if sys.argv[1] == "sign":
        alg, canon, keyfile, sel, dom = sys.argv[2:7]
        h, _, b = canon.partition("/")
        key = open(keyfile, "rb").read()
        sig = dkim.sign(msg, sel.encode(), dom.encode(), key,
                        canonicalize=(h.encode(), (b or "simple").encode()),
                        signature_algorithm=alg.encode())
        sys.stdout.buffer.write(sig + msg)
    elif sys.argv[1] == "verify":
        keys = {}
        for line in open(sys.argv[2], "rb"):
            name, _, rec = line.rstrip(b"\r\n").partition(b" ")
            keys[name.lower().rstrip(b".")] = rec.strip()

        def dnsfunc(name, timeout=5):
            if isinstance(name, str):
                name = name.encode()
            return keys.get(name.lower().rstrip(b"."))

        ok = dkim.verify(msg, dnsfunc=dnsfunc)
        print("pass" if ok else "fail")
    else:
        sys.exit(2)


if __name__ == "__main__":
    main()
