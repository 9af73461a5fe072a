#!/usr/bin/env bash
# A failed allocation never earns a message a better or a worse result than
# it has (adv27 MEM-1..MEM-6). tests/support/failalloc.c (LD_PRELOAD) makes
# the Nth allocation of a `spoofguard verify` run fail, for N across the
# whole run; each run must either end with exit 4 (internal error) or print,
# for each message, the result of a run without failures, or a result marked
# temporary. Never a signal, never exit 3 ("malformed"), never a line
# missing with exit 0. Three copies of a message in one run catch a failure
# remembered past its message (a key decoded on a failed allocation was
# cached as "not a usable key" for its TTL: genuine mail rejected).
# Cases: a DKIM-signed message (RSA); a forwarded message whose trusted ARC
# sealer's override makes a p=reject DMARC fail unverified (an ARC
# verifier's failure had dropped ARC: forged); a forgery; dkim-verify --json
# of an RSA and an Ed25519 signature (a string it could not write was left
# out: "domain":, exit 0), each signature as before or temperror.
# The allocations of OpenSSL's own initialisation (about 4,000, made before
# a command runs: those of `spoofguard verify --ip no-address`, which stops
# at its first option) are not failed: in
# OpenSSL 3.0 a failure there locks a NULL lock later, or leaves a method
# store that fails every key (upstream; the daemon initialises before it
# serves). STRIDE > 1 (env) tests every STRIDE-th allocation; the default
# tests about 900 points per case.
# Skipped under AddressSanitizer (its allocator cannot be interposed).
set -u
CLI=${SG_CLI:?SG_CLI must point at the spoofguard binary}
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
DATA=${SG_TEST_DATA:-$SRC/tests/data}/explain
PY=/usr/bin/python3
if [ -n "${SG_SANITIZED:-}" ] || ldd "$CLI" 2>/dev/null | grep -q libasan; then
    echo "SKIPPED: an AddressSanitizer build (its allocator cannot be interposed)"
    exit 0
fi
T=$(mktemp -d /tmp/sg-alloc.XXXXXX)
trap 'rm -rf "$T"' EXIT
cc -O1 -shared -fPIC -o "$T/failalloc.so" "$SRC/tests/support/failalloc.c" -ldl ||
    { echo "FAIL: the allocator shim does not build"; exit 1; }
cd "$DATA" || exit 1
exec "$PY" - "$CLI" "$T" <<'PYEOF'
import json, os, subprocess, sys

cli, tmp = sys.argv[1], sys.argv[2]
shim = os.path.join(tmp, 'failalloc.so')
common = ['verify', '--json', '--zone', 'zone', '--now', '1764000100']
cases = [
    ('dkim-rsa x3', common + ['msg/authentic.eml'] * 3),
    ('trusted arc sealer', common + ['--trusted-arc-sealer', 'ourco.example', 'msg/forwarded.eml',
                                     'msg/forwarded.eml']),
    ('forgery', common + ['--ip', '203.0.113.66', '--mail-from', 'ceo@shop.example',
                          'msg/forged.eml', 'msg/forged.eml']),
    # one JSON array of signatures: RSA and Ed25519
    ('dkim-verify, RSA and Ed25519', ['dkim-verify', '--json', '--zone', 'zone', '--now',
                                      '1764000100', 'msg/thirdparty_two.eml']),
]


def sig_key(x):
    return (x.get('domain'), x.get('selector'), x.get('algorithm'), x.get('result'))


def key(d):
    """What a failure must not change: the verdict and every result."""
    if isinstance(d, list):  # dkim-verify: the signatures
        return json.dumps([sig_key(x) for x in d])
    return (d.get('verdict'), d.get('temporary'), d.get('disposition'),
            json.dumps(d.get('dmarc', {}).get('result')),
            json.dumps(d.get('dmarc', {}).get('policy_override')),
            json.dumps([(k.get('domain'), k.get('result')) for k in d.get('dkim') or []]),
            json.dumps((d.get('arc') or {}).get('result')),
            json.dumps((d.get('spf') or {}).get('result')))


def run(args, fail_at=None):
    env = dict(os.environ, LD_PRELOAD=shim, SG_FAIL_COUNT=os.path.join(tmp, 'count'))
    if fail_at is not None:
        env['SG_FAIL_AT'] = str(fail_at)
    p = subprocess.run([cli] + args, env=env, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


bad = 0
run(['verify', '--ip', 'no-address'])  # start-up, then a usage error
SKIP = int(open(os.path.join(tmp, 'count')).read())
for name, args in cases:
    rc, out, err = run(args)
    if rc != 0:
        print('FAIL %s: the run without failures exited %d: %s' % (name, rc, err[:300]))
        bad += 1
        continue
    base = [json.loads(l) for l in out.splitlines()]
    total = int(open(os.path.join(tmp, 'count')).read())
    stride = int(os.environ.get('STRIDE', '0')) or max(1, (total - SKIP) // 900)
    points = range(SKIP + 1, total + 1, stride)
    counts = {'same': 0, 'temporary': 0, 'exit 4': 0}
    problems = []
    for n in points:
        rc, out, err = run(args, n)
        why = None
        lines = []
        try:
            lines = [json.loads(l) for l in out.splitlines()]
        except ValueError:
            why = 'output is not JSON lines'
        if why is None and rc < 0:
            why = 'killed by signal %d' % -rc
        elif why is None and rc not in (0, 4):
            why = 'exit %d: %s' % (rc, err.strip()[:200])
        elif why is None and rc == 0 and len(lines) != len(base):
            why = '%d of %d results with exit 0' % (len(lines), len(base))
        if why is None and rc == 4:
            # said incomplete: dkim-verify's one document may hold nulls; verify's
            # records before the failure are whole and must hold (rev20 R-11)
            lines = [d for d in lines if not isinstance(d, list)]
        if why is None:
            for i, d in enumerate(lines):
                if isinstance(d, list) and i < len(base) and len(d) == len(base[i]) and all(
                        sig_key(x) == sig_key(y) or x.get('result') == 'temperror'
                        for x, y in zip(d, base[i])):
                    continue
                if i >= len(base) or isinstance(d, list) or (
                        key(d) != key(base[i]) and not d.get('temporary')):
                    why = 'message %d: %s, without the failure %s' % (
                        i + 1, key(d), key(base[i]) if i < len(base) else None)
                    break
        if why is not None:
            problems.append('SG_FAIL_AT=%d: %s' % (n, why))
        elif rc == 4:
            counts['exit 4'] += 1
        elif any(key(d) != key(b) for d, b in zip(lines, base)):  # temporary (or temperror)
            counts['temporary'] += 1
        else:
            counts['same'] += 1
    if problems:
        bad += 1
        print('FAIL %s: %d of %d points (allocations %d..%d, every %d)' % (
            name, len(problems), len(points), SKIP + 1, total, stride))
        for p in problems[:None if os.environ.get('ALL') else 10]:
            print('  ' + p)
    else:
        print('PASS %s: %d points (allocations %d..%d, every %d): %s' % (
            name, len(points), SKIP + 1, total, stride,
            ', '.join('%s %d' % kv for kv in counts.items())))
print('alloc_failure: %s' % ('%d case(s) failed' % bad if bad else 'all cases passed'))
sys.exit(1 if bad else 0)
PYEOF
