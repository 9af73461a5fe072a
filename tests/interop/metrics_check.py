#!/usr/bin/python3
"""metrics_check: black-box checks of spoofguardd's /metrics (stdlib only).

Used by tests/scripts/metrics_scrape.sh, which starts the DNS, the daemon
(metrics_listen on loopback) and runs:

    metrics_check.py flow METRICS_PORT DOCS_MD OUT_DIR
        scrape, drive mail through the milter (milter_client.MTA), scrape
        while a session is open and after, and check that every counter
        moved by exactly what was sent; the scrapes are saved in OUT_DIR
        for promtool
    metrics_check.py failsafe METRICS_PORT
        (a daemon whose DNS never answers) one genuine message gets the
        fail-safe answer: failsafe{cause="dns"}, timeouts and tempfail +1
    metrics_check.py limits METRICS_PORT
        (message_timeout_s 1, max_connections 3, DNS that never answers)
        the time budget and the overload answers: failsafe{timeout} and
        failsafe{overload} +1 each, with their actions
    metrics_check.py garbage METRICS_PORT
        bad requests get 400/404/405/431 and a bounded answer; idle
        connections past the limit are refused; mail and scrapes go on
    metrics_check.py reload METRICS_PORT CONF PID
        SIGHUP with a good and a bad configuration: reloads ok/failed +1

Prints "PASS name" / "FAIL name: why" lines; exit 1 on any failure. Env:
SG_MILTER_PORT, SG_DIR (as for milter_client.py).
"""
import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import milter_client as mc  # noqa: E402

fails = 0


def ok(name):
    print('PASS %s' % name)


def ko(name, why):
    global fails
    fails += 1
    print('FAIL %s: %s' % (name, why))


def check(name, cond, why):
    if cond:
        ok(name)
    else:
        ko(name, why)


# ---------------------------------------------------------------------------
# HTTP and the text format

def http(port, request, timeout=5.0):
    """Send raw request bytes; return (status line, headers, body) or raise."""
    s = socket.create_connection((os.environ.get('SG_METRICS_HOST', '127.0.0.1'), port),
                                 timeout=timeout)
    s.sendall(request)
    data = b''
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    return lines[0], lines[1:], body


def scrape(port, save=None):
    status, headers, body = http(port, b'GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n')
    if status != 'HTTP/1.1 200 OK':
        raise AssertionError('scrape: %s' % status)
    if 'Content-Type: text/plain; version=0.0.4; charset=utf-8' not in headers:
        raise AssertionError('scrape: content type %r' % headers)
    clen = [h for h in headers if h.lower().startswith('content-length:')]
    if not clen or int(clen[0].split(':')[1]) != len(body):
        raise AssertionError('scrape: content-length %r for %d bytes' % (clen, len(body)))
    text = body.decode('utf-8')
    if save:
        with open(save, 'w') as f:
            f.write(text)
    return parse(text)


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse(text):
    """{(name, ((label, value), ...)): float}; raises on a line it cannot read."""
    out = {}
    for line in text.splitlines():
        if line.startswith('#') or not line:
            continue
        m = SAMPLE.match(line)
        if m is None:
            raise AssertionError('unparsable line %r' % line)
        labels = tuple(sorted(LABEL.findall(m.group(2) or '')))
        key = (m.group(1), labels)
        if key in out:
            raise AssertionError('duplicate series %r' % line)
        out[key] = float(m.group(3))
    return out


def get(snap, name, **labels):
    return snap.get((name, tuple(sorted(labels.items()))), 0.0)


def family_sum(snap, name):
    return sum(v for (n, _), v in snap.items() if n == name)


def delta(a, b, name, **labels):
    return get(b, name, **labels) - get(a, name, **labels)


def expect_deltas(tag, a, b, want, families):
    """Every series of the given families moved by exactly want (default 0)."""
    bad = []
    for (name, labels), v in sorted(b.items()):
        if name not in families:
            continue
        d = v - a.get((name, labels), 0.0)
        w = want.get((name, labels), 0)
        if d != w:
            bad.append('%s%s: %+g, want %+g' % (name, dict(labels), d, w))
    for key in want:
        if key not in b:
            bad.append('%s%s: missing' % (key[0], dict(key[1])))
    check(tag, not bad, '; '.join(bad[:8]))


def W(name, n, **labels):
    return ((name, tuple(sorted(labels.items()))), n)


# ---------------------------------------------------------------------------
# mail

def log_lines(after):
    """The daemon's message log lines (JSON) after byte offset `after`."""
    import json
    path = os.path.join(mc.tdir(), os.environ.get('SG_LOG_NAME', 'main') + '.log')
    with open(path, 'rb') as f:
        f.seek(after)
        data = f.read()
    out = []
    for line in data.decode('utf-8', 'replace').splitlines():
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if 'action' in j:
            out.append(j)
    return out


def log_size():
    return os.path.getsize(os.path.join(mc.tdir(), os.environ.get('SG_LOG_NAME', 'main') + '.log'))


def inbound(name, ip, helo, sender):
    stage, replies, m = mc.inbound(mc.data_msg(name), ip=ip, helo=helo, sender=sender)
    mc.finish(m)
    return ''.join(r.cmd for r in replies), replies


def outbound_alice():
    m = mc.outbound_session('alice@ourco.test')
    stage, replies = m.send_message(mc.data_msg('from-alice.eml'), sender='alice@ourco.test',
                                    login='alice@ourco.test')
    mc.finish(m)
    return ''.join(r.cmd for r in replies)


def wait_open(port, want, secs=3.0):
    end = time.monotonic() + secs
    while True:
        s = scrape(port)
        if get(s, 'spoofguard_milter_sessions_open') == want or time.monotonic() > end:
            return s
        time.sleep(0.02)


# ---------------------------------------------------------------------------
# checks

def flow(port, docs, outdir):
    s0 = wait_open(port, 0, 5.0)
    names = sorted({n for n, _ in s0})
    check('series_under_200', len(s0) < 200, '%d series' % len(s0))
    print('  series with this configuration: %d' % len(s0))
    check('names_prefixed', all(n.startswith('spoofguard_') for n in names),
          'unprefixed: %r' % [n for n in names if not n.startswith('spoofguard_')])
    with open(docs) as f:
        doc = f.read()
    documented = set(re.findall(r'^\| `(spoofguard_[a-z_]+)`', doc, re.M))
    base = {re.sub(r'_(bucket|sum|count)$', '', n) if n.endswith(('_bucket', '_sum', '_count'))
            and 'duration' in n else n for n in names}
    check('names_documented', base == documented,
          'served, not documented: %r; documented, not served: %r'
          % (sorted(base - documented), sorted(documented - base)))
    # the key files were dated two days back before the daemon started
    for sel in ('rsa1', 'ed1'):
        age = get(s0, 'spoofguard_signing_key_age_seconds', domain='ourco.test', selector=sel)
        check('key_age_' + sel, 172800 <= age < 172800 + 600, 'age %r, want 2 days' % age)

    logpos = log_size()
    sessions = 0
    # a session held open across a scrape: the gauge sees it, and a
    # scrape taken while mail flows is what promtool checks
    held = mc.session()
    sessions += 1
    held.connect(mc.GENUINE_IP, hostname=mc.GENUINE_HELO)
    held.helo(mc.GENUINE_HELO)
    mid = wait_open(port, 1)
    scrape(port, save=os.path.join(outdir, 'during.prom'))
    check('sessions_open_during', get(mid, 'spoofguard_milter_sessions_open') == 1,
          'open %r, want 1' % get(mid, 'spoofguard_milter_sessions_open'))
    stage, replies = held.send_message(mc.data_msg('genuine.signed.eml'), sender='news@remote.test')
    mc.finish(held)
    got = []
    got.append(''.join(r.cmd for r in replies))
    for _ in range(2):
        got.append(inbound('genuine.signed.eml', mc.GENUINE_IP, mc.GENUINE_HELO,
                           'news@remote.test')[0])
        sessions += 1
    got.append(inbound('forged-remote.eml', mc.ATTACKER_IP, mc.ATTACKER_HELO,
                       'bounce@attacker.test')[0])
    got.append(inbound('forged-quar.eml', mc.ATTACKER_IP, mc.ATTACKER_HELO,
                       'bounce@attacker.test')[0])
    sessions += 2
    got.append(outbound_alice())
    sessions += 1
    check('mail_answers', got == ['ic', 'ic', 'ic', 'iy', 'iqc', 'iia'],
          'replies %r' % got)
    s1 = wait_open(port, 0)
    scrape(port, save=os.path.join(outdir, 'after.prom'))

    expect_deltas('sessions', s0, s1, dict([
        W('spoofguard_milter_sessions_total', sessions)]),
        {'spoofguard_milter_sessions_total', 'spoofguard_milter_sessions_open'})
    expect_deltas('actions', s0, s1, dict([
        W('spoofguard_actions_total', 3, direction='inbound', action='accept'),
        W('spoofguard_actions_total', 1, direction='inbound', action='reject'),
        W('spoofguard_actions_total', 1, direction='inbound', action='quarantine'),
        W('spoofguard_actions_total', 1, direction='outbound', action='accept')]),
        {'spoofguard_actions_total'})
    expect_deltas('signatures', s0, s1, dict([
        W('spoofguard_signatures_total', 1, domain='ourco.test', selector='rsa1'),
        W('spoofguard_signatures_total', 1, domain='ourco.test', selector='ed1')]),
        {'spoofguard_signatures_total'})
    expect_deltas('failsafe_none', s0, s1, {}, {'spoofguard_failsafe_total',
                                                'spoofguard_reloads_total',
                                                'spoofguard_dns_timeouts_total'})
    for d, n in (('inbound', 5), ('outbound', 1)):
        check('message_duration_' + d,
              delta(s0, s1, 'spoofguard_message_duration_seconds_count', direction=d) == n and
              delta(s0, s1, 'spoofguard_message_duration_seconds_bucket', direction=d,
                    le='+Inf') == n and
              delta(s0, s1, 'spoofguard_message_duration_seconds_sum', direction=d) > 0,
              'count %+g, want %+d' % (delta(s0, s1, 'spoofguard_message_duration_seconds_count',
                                              direction=d), n))

    # the results, against the daemon's own log of these messages (an
    # independent record: one JSON line per message) and what we know
    # the messages are: 3 genuine (authentic, all pass), 2 forged
    lines = [j for j in log_lines(logpos) if j.get('direction') == 'inbound']
    check('log_lines', len(lines) == 5, '%d inbound log lines, want 5' % len(lines))
    want = {}

    def add(name, label, value):
        k = (name, ((label, value),))
        want[k] = want.get(k, 0) + 1
    for j in lines:
        add('spoofguard_verdicts_total', 'verdict', j['verdict'])
        add('spoofguard_spf_results_total', 'result', j['spf'])
        add('spoofguard_dmarc_results_total', 'result', j['dmarc'])
        dk = re.findall(r'\bdkim=([a-z]+)', j['authres'])
        for r in dk or ['none']:
            add('spoofguard_dkim_results_total', 'result', r)
        add('spoofguard_arc_results_total', 'result', 'none')  # no ARC in these messages
    check('log_verdicts_known',
          want.get(('spoofguard_verdicts_total', (('verdict', 'authentic'),))) == 3 and
          want.get(('spoofguard_verdicts_total', (('verdict', 'forged'),))) == 2,
          'log verdicts %r' % {k[1][0][1]: v for k, v in want.items()
                               if k[0] == 'spoofguard_verdicts_total'})
    for fam in ('verdicts', 'spf_results', 'dkim_results', 'dmarc_results', 'arc_results'):
        name = 'spoofguard_%s_total' % fam
        expect_deltas(fam, s0, s1, {k: v for k, v in want.items() if k[0] == name}, {name})

    # DNS: every answer is counted once; network ones are in the histogram
    net = sum(v - s0.get(k, 0) for k, v in s1.items()
              if k[0] == 'spoofguard_dns_queries_total' and ('source', 'network') in k[1])
    hist = delta(s0, s1, 'spoofguard_dns_query_duration_seconds_count')
    check('dns_counted', net > 0 and net == hist,
          'network answers %+g, histogram count %+g' % (net, hist))
    check('dns_no_failures',
          all(s1.get(k, 0) == s0.get(k, 0) for k in s1
              if k[0] == 'spoofguard_dns_queries_total' and
              dict(k[1])['status'] in ('servfail', 'timeout', 'error')), 'DNS failures counted')


def failsafe(port):
    s0 = scrape(port)
    code, replies = inbound('genuine.signed.eml', mc.GENUINE_IP, mc.GENUINE_HELO,
                            'news@remote.test')
    check('failsafe_answer', code == 'y' and replies[-1].text.startswith('451 4.7.1'),
          'replies %s' % mc.describe(replies))
    s1 = wait_open(port, 0)
    expect_deltas('failsafe_dns', s0, s1, dict([
        W('spoofguard_failsafe_total', 1, cause='dns'),
        W('spoofguard_actions_total', 1, direction='inbound', action='tempfail')]),
        {'spoofguard_failsafe_total', 'spoofguard_actions_total'})
    t = delta(s0, s1, 'spoofguard_dns_timeouts_total')
    nt = delta(s0, s1, 'spoofguard_dns_queries_total', source='network', status='timeout')
    check('dns_timeouts', t >= 1 and t == nt, 'timeouts %+g, queries{timeout} %+g' % (t, nt))
    # each timed-out query waited one try of 200 ms at least
    fast = delta(s0, s1, 'spoofguard_dns_query_duration_seconds_bucket', le='0.1')
    check('dns_latency_of_timeouts', fast == 0 and
          delta(s0, s1, 'spoofguard_dns_query_duration_seconds_bucket', le='+Inf') == t,
          '%+g answers under 100 ms though every one timed out' % fast)


def limits(port):
    s0 = scrape(port)
    for name in ('budget', 'overload'):
        try:
            mc.CHECKS[name]()
            ok('limits_' + name)
        except mc.CheckFailed as e:
            ko('limits_' + name, str(e))
    s1 = wait_open(port, 0)
    expect_deltas('failsafe_limits', s0, s1, dict([
        W('spoofguard_failsafe_total', 1, cause='timeout'),
        W('spoofguard_failsafe_total', 1, cause='overload'),
        W('spoofguard_actions_total', 1, direction='inbound', action='tempfail'),
        W('spoofguard_actions_total', 1, direction='outbound', action='tempfail'),
        W('spoofguard_actions_total', 1, direction='outbound', action='accept'),
        W('spoofguard_signatures_total', 1, domain='ourco.test', selector='rsa1'),
        W('spoofguard_signatures_total', 1, domain='ourco.test', selector='ed1')]),
        {'spoofguard_failsafe_total', 'spoofguard_actions_total', 'spoofguard_signatures_total'})
    # one budget message, two overload-check messages, three idle sessions
    check('limits_sessions', delta(s0, s1, 'spoofguard_milter_sessions_total') == 6,
          'sessions %+g, want +6' % delta(s0, s1, 'spoofguard_milter_sessions_total'))


def garbage(port):
    cases = [
        ('bad_method', b'POST /metrics HTTP/1.1\r\n\r\n', '405'),
        ('bad_path', b'GET /metricsX HTTP/1.1\r\n\r\n', '404'),
        ('bad_path_root', b'GET / HTTP/1.0\r\n\r\n', '404'),
        ('not_http', b'hello there\r\n\r\n', '400'),
        ('bad_version', b'GET /metrics HTTP/2.0\r\n\r\n', '400'),
        ('nul_bytes', b'GET /metrics\x00 HTTP/1.1\r\n\r\n', '400'),
        ('bare_lf', b'GET /metrics HTTP/1.0\n\n', '200'),
        ('query_string', b'GET /metrics?x=1 HTTP/1.1\r\n\r\n', '200'),
        ('too_long', b'GET /metrics HTTP/1.1\r\nX: ' + b'a' * 8000 + b'\r\n\r\n', '431'),
        ('binary', bytes(range(1, 256)) * 4, '400'),
    ]
    for name, req, want in cases:
        try:
            status, _, body = http(port, req)
            check('http_' + name, status.split(' ')[1:2] == [want] and len(body) < 1 << 20,
                  'status %r, want %s' % (status, want))
        except OSError as e:
            check('http_' + name, False, 'no answer: %s' % e)
    # a scraper that connects and closes without a word, or mid-request
    for req in (b'', b'GET /met'):
        s = socket.create_connection(('127.0.0.1', port))
        s.sendall(req)
        s.close()
    # 8 idle connections take every slot: a 9th, a scrape, is served and
    # the oldest idle one closed (refusing the new one let anyone keep the
    # scrapes out by holding 8 idle connections: adv12 F4), counted, and
    # mail is not held up meanwhile
    s0 = scrape(port)
    time.sleep(0.3)  # the server closes each connection once it sees our close
    idle = [socket.create_connection(('127.0.0.1', port)) for _ in range(8)]
    time.sleep(0.3)
    held = 0
    for s in idle:
        try:
            s.recv(1, socket.MSG_DONTWAIT)
        except BlockingIOError:
            held += 1  # open, and nothing said: the server holds it
        except OSError:
            pass
    check('conn_idle_held', held == 8, '%d of 8 idle connections held open' % held)
    extra = socket.create_connection(('127.0.0.1', port), timeout=3)
    extra.sendall(b'GET /metrics HTTP/1.1\r\n\r\n')
    try:
        got = extra.recv(100)
    except OSError as e:
        got = b''
    extra.close()
    check('conn_limit', got.startswith(b'HTTP/1.1 200'),
          'a scrape while 8 idle connections were open: %r' % got)
    idle[0].settimeout(3)
    try:
        first = idle[0].recv(1)
    except OSError:
        first = b'?'
    check('conn_oldest_closed', first == b'', 'the oldest idle connection got %r' % first)
    t0 = time.monotonic()
    code, _ = inbound('genuine.signed.eml', mc.GENUINE_IP, mc.GENUINE_HELO, 'news@remote.test')
    el = time.monotonic() - t0
    check('mail_during_slowloris', code == 'ic' and el < 2.0, 'reply %r after %.2fs' % (code, el))
    for s in idle:
        s.close()
    time.sleep(0.2)
    s1 = scrape(port)
    check('refused_counted', delta(s0, s1, 'spoofguard_scrape_connections_refused_total') >= 1,
          'refused %+g' % delta(s0, s1, 'spoofguard_scrape_connections_refused_total'))
    # many scrapes in a row: no descriptor or memory creep visible as
    # failures, every one complete
    for i in range(200):
        scrape(port)
    ok('scrapes_200')


def reload(port, conf, pid):
    s0 = scrape(port)
    os.kill(pid, signal.SIGHUP)
    time.sleep(0.5)
    s1 = scrape(port)
    with open(conf) as f:
        good = f.read()
    with open(conf, 'a') as f:
        f.write('no_such_option 1\n')
    os.kill(pid, signal.SIGHUP)
    time.sleep(0.5)
    with open(conf, 'w') as f:
        f.write(good)
    s2 = scrape(port)
    check('reload_ok', delta(s0, s1, 'spoofguard_reloads_total', result='ok') == 1 and
          delta(s0, s1, 'spoofguard_reloads_total', result='failed') == 0,
          'after a good SIGHUP: %r' % delta(s0, s1, 'spoofguard_reloads_total', result='ok'))
    check('reload_failed', delta(s1, s2, 'spoofguard_reloads_total', result='failed') == 1 and
          delta(s1, s2, 'spoofguard_reloads_total', result='ok') == 0,
          'after a bad SIGHUP: %r' % delta(s1, s2, 'spoofguard_reloads_total', result='failed'))


def main(argv):
    try:
        if argv[0] == 'flow' and len(argv) == 4:
            flow(int(argv[1]), argv[2], argv[3])
        elif argv[0] == 'failsafe' and len(argv) == 2:
            failsafe(int(argv[1]))
        elif argv[0] == 'limits' and len(argv) == 2:
            limits(int(argv[1]))
        elif argv[0] == 'garbage' and len(argv) == 2:
            garbage(int(argv[1]))
        elif argv[0] == 'reload' and len(argv) == 4:
            reload(int(argv[1]), argv[2], int(argv[3]))
        else:
            sys.stderr.write(__doc__)
            return 64
    except (AssertionError, OSError, mc.MilterError, mc.CheckFailed) as e:
        ko(argv[0], 'aborted: %r' % e)
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
