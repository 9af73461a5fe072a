#!/usr/bin/python3
"""pyspf side of bench/spf_bench.c.

usage: /usr/bin/python3 spf_peers.py DIR SECONDS

Reads DIR/rows.tsv (name, type, value) and DIR/queries.tsv (ip, mail
from, helo) written by spf_bench, answers pyspf's DNS from a dict
(spf.DNSLookup replaced), runs every check once (timed: pyspf is slow
enough that one pass is the measurement; more passes run while the CPU
time is under SECONDS), writes DIR/results.pyspf and prints
"checks=N cpu=S". Timing uses process CPU time and excludes interpreter
start and data loading.
"""
import sys
import time

import spf  # Debian python3-spf: run with /usr/bin/python3


def load(dirname):
    zone = {}
    with open(dirname + "/rows.tsv", encoding="ascii") as f:
        for line in f:
            name, typ, value = line.rstrip("\n").split("\t")
            name = name.lower()
            if typ == "TXT" or typ == "SPF":
                v = [value.encode("ascii")]
            elif typ == "MX":
                pref, host = value.split()
                v = (int(pref), host)
            else:
                v = value
            zone.setdefault((name, typ), []).append(v)
    queries = []
    with open(dirname + "/queries.tsv", encoding="ascii") as f:
        for line in f:
            ip, sender, helo = line.rstrip("\n").split("\t")
            queries.append((ip, sender, helo))
    return zone, queries


def vm_hwm_kb():
    """Peak RSS of this process image, KiB (VmHWM; interpreter included)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def main():
    dirname, seconds = sys.argv[1], float(sys.argv[2])
    zone, queries = load(dirname)

    def lookup(name, qtype, strict=True, timeout=None):
        name = name.rstrip(".").lower()
        return [((name, qtype), v) for v in zone.get((name, qtype), ())]

    spf.DNSLookup = lookup
    receiver = "mx.receiver.example"

    def check(q):
        return spf.query(i=q[0], s=q[1], h=q[2], receiver=receiver).check()[0]

    results = []
    t0 = time.process_time()
    for q in queries:
        results.append(check(q))
    n = len(queries)
    cpu = time.process_time() - t0
    while cpu < seconds:
        for q in queries:
            check(q)
        n += len(queries)
        cpu = time.process_time() - t0

    with open(dirname + "/results.pyspf", "w", encoding="ascii") as f:
        for r in results:
            f.write(r + "\n")
    print("checks=%d cpu=%.6f lookups=0 rss0=0 hwm=%d" % (n, cpu, vm_hwm_kb()))


if __name__ == "__main__":
    main()
