#!/usr/bin/python3
"""Differential test: the SPF lookup and void-lookup counts of `spoofguard
audit` against pyspf's (Debian python3-spf) on randomly generated record
trees (includes, redirects, a, mx, ptr, exists, ip4, void names, missing
includes, loops).

pyspf counts while it evaluates (query.lookups, query.void_lookups). To make
it walk the whole tree as the audit does:
  - its limits are raised (spf.MAX_LOOKUP, spf.MAX_VOID_LOOKUPS) and it runs
    in lax mode (strict=False), so neither the 10-term nor the 2-void limit
    nor a missing include stops it;
  - the client IP matches nothing in any tree (exists: targets are always
    void, every A record lies outside it, no +all in included records), so
    every term is evaluated, as in an audit;
  - the IP's PTR name has an address record, so ptr costs pyspf no void
    lookup (the audit has no client IP and counts none for ptr).
pyspf cannot count a tree with a loop (it recurses to its depth limit or
sees a trivial recursion, and raises) or one whose redirect= target has no
record (it stops with permerror even in lax mode), so such trees are compared only in that the audit reports
spf.loop / spf.include_missing; the rest must agree exactly. Records with
both "all" and redirect= are not generated: pyspf counts the redirect
although RFC 7208 6.1 says it is ignored.

Usage: audit_spf_pyspf.py SG_CLI N_TREES SEED
Prints "compared N, agree N, ..." and exits 1 on any disagreement.
"""
import json
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, "/usr/lib/python3/dist-packages")
import spf  # noqa: E402  (python3-spf)

IP = "198.51.100.7"
PTR_NAME = "7.100.51.198.in-addr.arpa"


class Zone:
    def __init__(self):
        self.rr = {}

    def add(self, name, typ, value):
        self.rr.setdefault((name.lower(), typ), []).append(value)

    def master_file(self):
        out = ["$TTL 300"]
        for (name, typ), vals in sorted(self.rr.items()):
            for v in vals:
                if typ == "TXT":
                    data = '"%s"' % v
                elif typ == "MX":
                    data = "%d %s." % v
                elif typ == "PTR":
                    data = v + "."
                else:
                    data = v
                out.append("%s. IN %s %s" % (name, typ, data))
        return "\n".join(out) + "\n"

    def lookup(self, name, qtype, *args, **kw):
        n = name.lower().rstrip(".")
        res = []
        for v in self.rr.get((n, qtype), []):
            if qtype == "TXT":
                v = [v.encode()]
            res.append(((n, qtype), v))
        return res


def make_tree(rng, zone, root, allow_loops):
    """A random tree of SPF records under root; returns the root name."""
    n = rng.randint(1, 7)
    names = [root] + ["d%d.%s" % (i, root) for i in range(1, n)]
    for i, d in enumerate(names):
        terms = []
        for _ in range(rng.randint(0, 5)):
            kind = rng.choice("include include a a mx mx ptr exists ip4 a_bare".split())
            if kind == "include":
                later = names[i + 1:]
                r = rng.random()
                if later and r < 0.7:
                    terms.append("include:" + rng.choice(later))
                elif allow_loops and r < 0.8:
                    terms.append("include:" + rng.choice(names[:i + 1]))
                else:
                    terms.append("include:missing%d.%s" % (rng.randint(0, 3), root))
            elif kind == "a":
                h = "h%d.%s" % (rng.randint(0, 5), root)
                if rng.random() < 0.6:
                    zone.add(h, "A", "203.0.113.%d" % rng.randint(1, 250))
                terms.append("a:" + h + rng.choice(["", "/24"]))
            elif kind == "a_bare":
                if rng.random() < 0.5:
                    zone.add(d, "A", "203.0.113.%d" % rng.randint(1, 250))
                terms.append("a")
            elif kind == "mx":
                m = "m%d.%s" % (rng.randint(0, 3), root)
                if (m, "MX") not in zone.rr and rng.random() < 0.8:
                    for k in range(rng.randint(1, 4)):
                        host = "mx%d.%s" % (k, m)
                        zone.add(m, "MX", (10 * k, host))
                        if rng.random() < 0.7:
                            zone.add(host, "A", "203.0.113.%d" % rng.randint(1, 250))
                terms.append("mx:" + m)
            elif kind == "ptr":
                terms.append("ptr")
            elif kind == "exists":
                terms.append("exists:void%d.%s" % (rng.randint(0, 9), root))
            else:
                terms.append("ip4:192.0.2.%d" % rng.randint(0, 255))
        later = names[i + 1:]
        if later and rng.random() < 0.25:
            terms.append("redirect=" + rng.choice(later))
        elif rng.random() < 0.05:
            terms.append("redirect=missing9." + root)
        elif rng.random() < 0.8:
            terms.append(rng.choice(["-all", "~all", "?all"]))
        zone.add(d, "TXT", " ".join(["v=spf1"] + terms))
    return root


def pyspf_counts(zone, root):
    spf.DNSLookup = zone.lookup
    spf.MAX_LOOKUP = 10 ** 6
    spf.MAX_VOID_LOOKUPS = 10 ** 6
    q = spf.query(i=IP, s="postmaster@" + root, h="helo.example", strict=False)
    try:
        res = q.check()
    except (spf.PermError, AssertionError, RecursionError) as e:
        return None, str(e)
    # lax mode: a noted permerror (missing include) lets pyspf finish the
    # walk, and it then sets .ext to the result of the whole evaluation
    if res[0] == "permerror" and getattr(q.perm_error, "ext", None) is None:
        return None, res[2]
    return (q.lookups, q.void_lookups), res[0]


def main():
    cli, ntrees, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    zone = Zone()
    zone.add(PTR_NAME, "PTR", "host.ptr.example")
    zone.add("host.ptr.example", "A", "203.0.113.254")
    roots = [make_tree(rng, zone, "t%d.s%d.example" % (k, seed), rng.random() < 0.15)
             for k in range(ntrees)]
    with tempfile.NamedTemporaryFile("w", suffix=".zone") as zf:
        zf.write(zone.master_file())
        zf.flush()
        out = subprocess.run([cli, "audit", "--zone", zf.name, "--json"] + roots,
                             capture_output=True, text=True)
    ours = {}
    for line in out.stdout.splitlines():
        o = json.loads(line)
        ours[o["domain"]] = o
    compared = agree = skipped = bad = over_lookups = over_void = 0
    for root in roots:
        o = ours.get(root)
        if o is None:
            print("FAIL %s: no audit output (%s)" % (root, out.stderr.strip()))
            bad += 1
            continue
        mine = (o["spf"]["lookups"], o["spf"]["void_lookups"])
        codes = {f["code"] for f in o["findings"]}
        theirs, why = pyspf_counts(zone, root)
        if theirs is None:
            # pyspf stopped: a loop or a redirect without a record
            skipped += 1
            if not codes & {"spf.loop", "spf.include_missing", "spf.too_many_mx"}:
                print("FAIL %s: pyspf stopped (%s) but the audit found nothing of it"
                      % (root, why))
                bad += 1
            continue
        compared += 1
        if mine == theirs:
            agree += 1
            over_lookups += mine[0] > 10
            over_void += mine[1] > 2
        else:
            bad += 1
            print("FAIL %s: audit lookups/void %s, pyspf %s" % (root, mine, theirs))
            for (n, t), v in sorted(zone.rr.items()):
                if n.endswith(root) and t == "TXT":
                    print("   %s TXT %s" % (n, v))
    print("seed %d: %d trees; compared %d, agree %d (of them past the limits: %d over 10 "
          "lookups, %d over 2 void); pyspf could not count %d (loops or redirect without a "
          "record; the audit flagged each)"
          % (seed, len(roots), compared, agree, over_lookups, over_void, skipped))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
