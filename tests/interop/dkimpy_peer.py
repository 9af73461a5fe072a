#!/usr/bin/python3
"""Interop peer on dkimpy (Debian python3-dkim), for tests/scripts/dkim_interop.sh.

  dkimpy_peer.py sign ALG CANON KEYFILE SELECTOR DOMAIN < MSG > SIGNED
      ALG rsa-sha256 | ed25519-sha256; CANON header/body;
      KEYFILE: PEM (RSA) or base64 Ed25519 seed
  dkimpy_peer.py verify KEYS < MSG
  dkimpy_peer.py verify KEYS FILE...
      KEYS: lines "selector._domainkey.domain record"; prints pass or fail
      for the first signature, one line per message (several files in one
      process: starting Python and dkimpy costs more than a verification)

  dkimpy_peer.py arc-sign KEYFILE SELECTOR DOMAIN SRV_ID T < MSG > SEALED
      one ARC set (dkimpy takes cv= from the arc= result of the message's
      Authentication-Results of SRV_ID; t= fixed to T)
  dkimpy_peer.py arc-verify KEYS < MSG
      prints the chain's cv (pass, fail, none) and dkimpy's reason; dkimpy's
      None ("a chain that has ended": the newest seal says cv=fail) is
      printed as fail, which is what RFC 8617 5.2 makes of it

Keys come from KEYS through dkimpy's dnsfunc hook: no DNS.
"""
import sys

import dkim


def load_keys(path):
    keys = {}
    for line in open(path, "rb"):
        name, _, rec = line.rstrip(b"\r\n").partition(b" ")
        keys[name.lower().rstrip(b".")] = rec.strip()

    def dnsfunc(name, timeout=5):
        if isinstance(name, str):
            name = name.encode()
        return keys.get(name.lower().rstrip(b"."))

    return dnsfunc


def main():
    if sys.argv[1] == "verify":
        dnsfunc = load_keys(sys.argv[2])
        for path in sys.argv[3:] or [None]:
            msg = sys.stdin.buffer.read() if path is None else open(path, "rb").read()
            try:
                ok = dkim.verify(msg, dnsfunc=dnsfunc)
            except Exception as e:  # one message's error is its result, not the batch's end
                print("error", type(e).__name__)
                continue
            print("pass" if ok else "fail")
        return
    msg = sys.stdin.buffer.read()
    if sys.argv[1] == "sign":
        alg, canon, keyfile, sel, dom = sys.argv[2:7]
        h, _, b = canon.partition("/")
        key = open(keyfile, "rb").read()
        sig = dkim.sign(msg, sel.encode(), dom.encode(), key,
                        canonicalize=(h.encode(), (b or "simple").encode()),
                        signature_algorithm=alg.encode())
        sys.stdout.buffer.write(sig + msg)
    elif sys.argv[1] == "arc-sign":
        keyfile, sel, dom, srv_id, t = sys.argv[2:7]
        key = open(keyfile, "rb").read()
        fields = dkim.arc_sign(msg, sel.encode(), dom.encode(), key, srv_id.encode(),
                               timestamp=int(t))
        sys.stdout.buffer.write(b"".join(fields) + msg)
    elif sys.argv[1] == "arc-verify":
        cv, _, reason = dkim.arc_verify(msg, dnsfunc=load_keys(sys.argv[2]))
        print((cv or b"fail").decode(), reason)
    else:
        sys.exit(2)


if __name__ == "__main__":
    main()
