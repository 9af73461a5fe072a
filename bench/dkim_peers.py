#!/usr/bin/python3
"""dkimpy side of bench/dkim_bench.c.

usage: /usr/bin/python3 dkim_peers.py DIR SECONDS

DIR holds what dkim_bench wrote: cases.tsv (name, algorithm, selector,
unsigned file, signed file), keys.tsv (DNS name, key record), rsa.pem and
ed.seed (base64 Ed25519 seed, dkimpy's private key form). For every case:
verify the signed message and sign the unsigned one (relaxed/relaxed),
each once untimed (its verdict is reported; the signature made is written
to DIR/peersig_dkimpy_<case>.eml for spoofguard to verify), then repeated
until SECONDS of process CPU time. Prints one line per measurement:
  op=verify case=rsa-2k n=12 cpu=0.41 ok=1
and at the end "hwm=KiB", the peak RSS (VmHWM) of the process. Interpreter start and file loading are not timed.
"""
import sys
import time

import dkim  # Debian python3-dkim: run with /usr/bin/python3


def vm_hwm_kb():
    """Peak RSS of this process image, KiB (VmHWM; interpreter included)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def main():
    dirname, seconds = sys.argv[1], float(sys.argv[2])
    keys = {}
    with open(dirname + "/keys.tsv", "rb") as f:
        for line in f:
            name, rec = line.rstrip(b"\n").split(b"\t")
            keys[name.lower()] = rec
    with open(dirname + "/rsa.pem", "rb") as f:
        rsa_key = f.read()
    with open(dirname + "/ed.seed", "rb") as f:
        ed_key = f.read().strip()

    def dnsfunc(name, timeout=5):
        if isinstance(name, str):
            name = name.encode("ascii")
        return keys.get(name.rstrip(b".").lower())

    def timed(fn):
        first = fn()
        n = 0
        t0 = time.process_time()
        while True:
            fn()
            n += 1
            cpu = time.process_time() - t0
            if cpu >= seconds and n >= 2:
                return first, n, cpu

    with open(dirname + "/cases.tsv", encoding="ascii") as f:
        cases = [line.rstrip("\n").split("\t") for line in f]
    for name, alg, selector, plain_file, signed_file in cases:
        with open(dirname + "/" + signed_file, "rb") as f:
            signed = f.read()
        with open(dirname + "/" + plain_file, "rb") as f:
            plain = f.read()

        ok, n, cpu = timed(lambda: dkim.verify(signed, dnsfunc=dnsfunc))
        print("op=verify case=%s n=%d cpu=%.6f ok=%d" % (name, n, cpu, 1 if ok else 0), flush=True)

        if alg == "ed25519":
            key, sigalg = ed_key, b"ed25519-sha256"
        else:
            key, sigalg = rsa_key, b"rsa-sha256"

        def sign():
            return dkim.sign(plain, selector.encode(), b"bench.example", key,
                             canonicalize=(b"relaxed", b"relaxed"),
                             signature_algorithm=sigalg)

        sig, n, cpu = timed(sign)
        with open("%s/peersig_dkimpy_%s.eml" % (dirname, name), "wb") as f:
            f.write(sig + plain)
        print("op=sign case=%s n=%d cpu=%.6f ok=%d" % (name, n, cpu, 1 if sig else 0), flush=True)
    print("hwm=%d" % vm_hwm_kb())


if __name__ == "__main__":
    main()
