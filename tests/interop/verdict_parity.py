#!/usr/bin/python3
"""verdict_parity: one set of messages, one known verdict each, through every
front end (stdlib Python plus dkimpy as the signer).

The messages are signed by dkimpy (an independent implementation), several
with l= (RFC 6376 3.5): the body a signature covers, then text appended
after it, l=0 with a body the attacker wrote, l= covering the whole body,
and their neighbours; plus a genuine message, a forged p=reject one, a
p=none failure and unsigned mail. Each case carries the verdict, the DKIM
results and the DMARC result that RFC 6376 8.2 and RFC 9989 ask for, written
here by hand: content outside l= is not authenticated, so it must not make
the From domain pass.

    verdict_parity.py make DIR        write DIR/msgs/*.eml and DIR/cases.tsv,
                                      signing with DIR/keys/<selector>.private
                                      (made by `spoofguard keygen`)
    verdict_parity.py cli DIR ZONE    every case through `spoofguard verify
                                      --json --zone ZONE`: the known answers
    verdict_parity.py parity DIR DNS MILTER_PORT LOG
                                      every case through `spoofguard verify
                                      --json --dns DNS` and through the
                                      spoofguardd listening on MILTER_PORT
                                      (its log in LOG): the known answers, and
                                      the same verdict, DKIM and DMARC results
                                      and the same Authentication-Results
    verdict_parity.py hostile DIR DNS MILTER_PORT LOG N
                                      N unsigned messages whose From fields
                                      come from tests/interop/from_reader_diff.py
                                      (comments, quotes, encoded words, dots,
                                      spaces, routes, groups, several
                                      mailboxes), sent by the attacker: the
                                      CLI (one process over the folder) and
                                      the daemon must agree: forged and
                                      refused-as-malformed are both a 550
                                      from the daemon, anything else is let
                                      through with the same verdict and the
                                      same Authentication-Results

Prints "PASS name" / "FAIL name: why" per check; exit status 1 on a failure.
Needs SG_CLI (the spoofguard binary).
"""
import json
import os
import random
import re
import subprocess
import sys
import time

import from_reader_diff as frd  # the From generator (this folder)

AUTHSERV = 'mx.parity.test'
PROTECT = 'ourco.test'
GENUINE = ('192.0.2.10', 'mx.bank.test', 'alice@bank.test')
ATTACKER = ('203.0.113.66', 'mx.attacker.test', 'bounce@attacker.test')
NEWS = ('192.0.2.30', 'mx.news.test', 'list@news.test')

# The zone the keys are appended to (served as "test." by unbound, read by
# `spoofguard verify --zone`).
ZONE = """$ORIGIN test.
$TTL 60
@             IN SOA ns hostmaster 1 3600 600 86400 60
@             IN NS  ns
ns            IN A   127.0.0.1
bank          IN TXT "v=spf1 ip4:192.0.2.10 -all"
mx.bank       IN TXT "v=spf1 ip4:192.0.2.10 -all"
_dmarc.bank   IN TXT "v=DMARC1; p=reject"
news          IN TXT "v=spf1 ip4:192.0.2.30 -all"
mx.news       IN TXT "v=spf1 ip4:192.0.2.30 -all"
_dmarc.news   IN TXT "v=DMARC1; p=none"
ourco         IN TXT "v=spf1 ip4:192.0.2.40 -all"
_dmarc.ourco  IN TXT "v=DMARC1; p=none"
attacker      IN TXT "v=spf1 ip4:203.0.113.66 -all"
mx.attacker   IN TXT "v=spf1 ip4:203.0.113.66 -all"
"""

# (domain, selector) of the keys the caller makes
KEYS = (('bank.test', 'bank1'), ('news.test', 'news1'), ('ourco.test', 'ourco1'))

BODY = (b'Dear customer,\r\n\r\nYour statement for November is ready.\r\n'
        b'\r\n-- \r\nBank of Test\r\n')
EVIL = (b'\r\nUPDATE: our bank details changed. Pay invoice 4471 to\r\n'
        b'IBAN XX00 0000 0000 0000 today.\r\n')


def header(frm, subject, msgid):
    return ('From: %s\r\nTo: bob@rcpt.test\r\nSubject: %s\r\n'
            'Date: Thu, 03 Dec 2026 10:00:00 +0000\r\nMessage-ID: <%s@parity.test>\r\n'
            'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n'
            % (frm, subject, msgid)).encode()


def sign(d, msg, domain, canon=b'relaxed/relaxed', length=False):
    import dkim
    sel = dict(KEYS)[domain]
    key = open(os.path.join(d, 'keys', sel + '.private'), 'rb').read()
    c = tuple(canon.split(b'/'))
    sig = dkim.sign(msg, sel.encode(), domain.encode(), key, canonicalize=c, length=length,
                    include_headers=[b'from', b'to', b'subject', b'date', b'message-id'])
    return sig + msg


# name, (ip, helo, mail from), verdict, [dkim results in header order], dmarc
CASES = [
    ('genuine', GENUINE, 'authentic', ['pass'], 'pass'),
    # appended after the signed part: not authenticated, the domain asks reject
    ('l_appended', ATTACKER, 'forged', ['policy'], 'fail'),
    ('l_appended_simple', ATTACKER, 'forged', ['policy'], 'fail'),
    # l=0: the signer vouched for no body at all; the attacker wrote it
    ('l0_attacker_body', ATTACKER, 'forged', ['policy'], 'fail'),
    # l= covering the whole body: a full signature, a replay passes DMARC
    ('l_whole_body', ATTACKER, 'authentic', ['pass'], 'pass'),
    # only empty lines appended: relaxed canonicalization drops them (RFC
    # 6376 3.4.4), so the canonical body is still all covered
    ('l_trailing_empty_lines', ATTACKER, 'authentic', ['pass'], 'pass'),
    # l= larger than the body: the body hash cannot match
    ('l_beyond_body', ATTACKER, 'forged', ['fail'], 'fail'),
    # the same l= trick under p=none: DMARC fails, the owner only monitors
    ('l_appended_pnone', ATTACKER, 'unverified', ['policy'], 'fail'),
    # ... and at a domain we protect: forged whatever it publishes
    ('l_appended_protected', ATTACKER, 'forged', ['policy'], 'fail'),
    # the signer re-signed the whole (longer) body: that signature passes
    ('l_appended_resigned', GENUINE, 'authentic', ['pass', 'policy'], 'pass'),
    ('forged_reject', ATTACKER, 'forged', [], 'fail'),
    ('pnone_fail', ATTACKER, 'unverified', [], 'fail'),
    ('unsigned_no_policy', ATTACKER, 'unverified', [], 'none'),
]


def make(d):
    os.makedirs(os.path.join(d, 'msgs'), exist_ok=True)
    bank = header('Bank of Test <statements@bank.test>', 'Your statement', 'm1')
    news = header('News <list@news.test>', 'Weekly news', 'm2')
    ourco = header('CEO <ceo@ourco.test>', 'Payment', 'm3')
    relaxed_l = sign(d, bank + b'\r\n' + BODY, 'bank.test', length=True)
    whole = sign(d, bank + b'\r\n' + BODY, 'bank.test')
    msgs = {
        'genuine': whole,
        'l_appended': relaxed_l + EVIL,
        'l_appended_simple': sign(d, bank + b'\r\n' + BODY, 'bank.test', b'simple/simple',
                                  True) + EVIL,
        'l0_attacker_body': sign(d, bank + b'\r\n', 'bank.test', length=True) + EVIL,
        'l_whole_body': relaxed_l,
        'l_trailing_empty_lines': relaxed_l + b'\r\n\r\n',
        # the signed body without its last line
        'l_beyond_body': relaxed_l[:-len(b'Bank of Test\r\n')],
        'l_appended_pnone': sign(d, news + b'\r\n' + BODY, 'news.test', length=True) + EVIL,
        'l_appended_protected': sign(d, ourco + b'\r\n' + BODY, 'ourco.test',
                                     length=True) + EVIL,
        'l_appended_resigned': sign(d, relaxed_l + EVIL, 'bank.test'),
        'forged_reject': bank + b'\r\n' + BODY + EVIL,
        'pnone_fail': news + b'\r\n' + BODY,
        'unsigned_no_policy': header('x@attacker.test', 'hello', 'm4') + b'\r\n' + BODY,
    }
    with open(os.path.join(d, 'cases.tsv'), 'w') as f:
        for name, env, verdict, dkims, dmarc in CASES:
            with open(os.path.join(d, 'msgs', name + '.eml'), 'wb') as m:
                m.write(msgs[name])
            f.write('\t'.join([name, *env, verdict, ','.join(dkims), dmarc]) + '\n')
    with open(os.path.join(d, 'zone.head'), 'w') as f:
        f.write(ZONE)


def load(d):
    out = []
    for line in open(os.path.join(d, 'cases.tsv')):
        name, ip, helo, mf, verdict, dkims, dmarc = line.rstrip('\n').split('\t')
        out.append((name, (ip, helo, mf), verdict, dkims.split(',') if dkims else [], dmarc))
    return out


def cli_verdict(d, name, env, dns_args):
    ip, helo, mf = env
    cmd = [os.environ['SG_CLI'], 'verify', '--json', '--authserv-id', AUTHSERV, '--protect',
           PROTECT, '--ip', ip, '--helo', helo, '--mail-from', mf, *dns_args,
           os.path.join(d, 'msgs', name + '.eml')]
    p = subprocess.run(cmd, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError('exit %d: %s' % (p.returncode, p.stderr.decode()[:300]))
    return json.loads(p.stdout)


results = [0, 0]


def report(ok, name, why=''):
    results[0 if ok else 1] += 1
    print('PASS %s' % name if ok else 'FAIL %s: %s' % (name, why))


def known_answer(name, verdict, dkims, dmarc, got_verdict, got_dkim, got_dmarc, where):
    want = (verdict, dkims, dmarc)
    got = (got_verdict, got_dkim, got_dmarc)
    report(want == got, '%s %s' % (where, name), 'want %r, got %r' % (want, got))


def cmd_cli(d, zone):
    for name, env, verdict, dkims, dmarc in load(d):
        try:
            j = cli_verdict(d, name, env, ['--zone', zone])
        except Exception as e:
            report(False, 'cli ' + name, str(e))
            continue
        known_answer(name, verdict, dkims, dmarc, j['verdict'], [x['result'] for x in j['dkim']],
                     j['dmarc']['result'], 'cli')


def ar_results(ar, method):
    """The results of one method in an unfolded A-R value, in order."""
    out = []
    for part in ar.split(';')[1:]:
        part = part.strip()
        if part.startswith(method + '='):
            out.append(part[len(method) + 1:].split()[0])
    return out


def daemon_verdicts(d, cases, port, log):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import milter_client as mc
    out = {}
    for i, (name, env, _, _, _) in enumerate(cases):
        ip, helo, mf = env
        qid = 'PAR%04d' % i
        m = mc.MTA(port)
        m.negotiate()
        m.connect(ip, hostname=helo)
        m.helo(helo)
        msg = open(os.path.join(d, 'msgs', name + '.eml'), 'rb').read()
        stage, replies = m.send_message(msg, queue_id=qid, sender=mf)
        m.abort()
        m.quit()
        m.close()
        ar = [mc.unfold(r.value) for r in replies if r.cmd == 'i' and
              r.name == 'Authentication-Results']
        final = replies[-1] if replies else None
        out[qid] = {'name': name, 'stage': stage, 'ar': ar[0] if ar else None,
                    'final': final.cmd if final else None,
                    'text': final.text if final is not None and final.cmd == 'y' else None}
    # the daemon logs one line per message, after it answered
    deadline = time.time() + 10
    while time.time() < deadline:
        seen = {}
        for line in open(log, encoding='utf-8', errors='replace'):
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if o.get('queue_id') in out:
                seen[o['queue_id']] = o
        if len(seen) == len(out):
            break
        time.sleep(0.05)
    for qid, o in seen.items():
        out[qid]['log'] = o
    return {v['name']: v for v in out.values()}


def cmd_parity(d, dns, port, log):
    cases = load(d)
    got = daemon_verdicts(d, cases, int(port), log)
    for name, env, verdict, dkims, dmarc in cases:
        g = got[name]
        try:
            j = cli_verdict(d, name, env, ['--dns', dns])
        except Exception as e:
            report(False, 'cli ' + name, str(e))
            continue
        known_answer(name, verdict, dkims, dmarc, j['verdict'], [x['result'] for x in j['dkim']],
                     j['dmarc']['result'], 'cli')
        lg = g.get('log')
        if lg is None or g['ar'] is None:
            report(False, 'daemon ' + name, 'no log line or no A-R: %r' % g)
            continue
        ar = g['ar'].strip()
        known_answer(name, verdict, dkims, dmarc, lg['verdict'],
                     [x for x in ar_results(ar, 'dkim') if x != 'none'], lg['dmarc'], 'daemon')
        cli_ar = j['authentication_results']
        same = (j['verdict'], [x['result'] for x in j['dkim']] or ['none'], j['dmarc']['result'],
                cli_ar)
        other = (lg['verdict'], ar_results(ar, 'dkim'), lg['dmarc'], ar)
        report(same == other, 'same ' + name, 'cli %r\n  daemon %r' % (same, other))
        # what the daemon did with it follows from the verdict
        rejected = g['final'] == 'y' and (g['text'] or '').startswith('550 5.7.1')
        report(rejected == (verdict == 'forged'), 'action ' + name,
               'verdict %s but the daemon answered %r %r' % (verdict, g['final'], g['text']))


def hostile_messages(d, n):
    """n messages of the From generator that travel through the milter
    protocol unchanged: the field name spelled From (any case), no NUL and
    no line end that is not CRLF in the header (how an MTA splits those is
    its own business, tested in milter_blackbox.sh)."""
    rnd = random.Random(7)
    names, i = [], 0
    while len(names) < n:
        data = frd.message(rnd, i)
        i += 1
        head = data.split(b'\r\n\r\n', 1)[0]
        if (b'\x00' in head or re.search(rb'\r(?!\n)|(?<!\r)\n', head) or
                not re.match(rb'(?i)from:', head)):
            continue
        name = 'h%04d' % len(names)
        with open(os.path.join(d, 'msgs', name + '.eml'), 'wb') as f:
            f.write(data)
        names.append(name)
    return names


def cmd_hostile(d, dns, port, log, n):
    names = hostile_messages(d, int(n))
    ip, helo, mf = ATTACKER
    cmd = [os.environ['SG_CLI'], 'verify', '--json', '--authserv-id', AUTHSERV, '--protect',
           PROTECT, '--ip', ip, '--helo', helo, '--mail-from', mf, '--dns', dns,
           *[os.path.join(d, 'msgs', x + '.eml') for x in names]]
    p = subprocess.run(cmd, capture_output=True, timeout=300)
    cli = {}
    for line in p.stdout.decode().splitlines():
        j = json.loads(line)
        cli[os.path.basename(j['file'])[:-4]] = j
    for path in frd.refused_files(p.stderr):
        cli.setdefault(os.path.basename(path)[:-4], 'refused')
    got = daemon_verdicts(d, [(x, ATTACKER, None, None, None) for x in names], int(port), log)
    tally = {}
    for name in names:
        c, g = cli.get(name), got[name]
        if c is None:
            report(False, 'hostile ' + name, 'the CLI gave no result: %s' % p.stderr.decode()[-300:])
            continue
        rejected = g['final'] == 'y' and (g['text'] or '').startswith('550 ')
        cv = c if c == 'refused' else c['verdict']
        tally[cv] = tally.get(cv, 0) + 1
        if cv in ('forged', 'refused'):
            ok = rejected and (cv == 'refused' or g.get('log', {}).get('verdict') == 'forged')
            why = 'cli %s, daemon answered %r %r' % (cv, g['final'], g['text'])
        else:
            lg = g.get('log') or {}
            ok = (not rejected and lg.get('verdict') == cv and g['ar'] is not None and
                  g['ar'].strip() == c['authentication_results'])
            why = 'cli %s %r\n  daemon %r %r' % (cv, c['authentication_results'], lg.get('verdict'),
                                                g['ar'])
        if not ok:
            report(False, 'hostile ' + name, why)
    report(True, 'hostile From shapes, CLI and daemon: %s' % ', '.join(
        '%s %d' % kv for kv in sorted(tally.items())))


def main(argv):
    if len(argv) >= 2 and argv[0] == 'make':
        make(argv[1])
        return 0
    if len(argv) == 3 and argv[0] == 'cli':
        cmd_cli(argv[1], argv[2])
    elif len(argv) == 5 and argv[0] == 'parity':
        cmd_parity(*argv[1:])
    elif len(argv) == 6 and argv[0] == 'hostile':
        cmd_hostile(*argv[1:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print('%d passed, %d failed' % tuple(results))
    return 1 if results[1] else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
