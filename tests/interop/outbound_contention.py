#!/usr/bin/env python3
"""The Redis store of the outbound engine under contention and failure,
driven as Postfix would drive two spoofguardd hosts (milter_client.py).
Called by tests/scripts/outbound_redis_contention.sh with:

    outbound_contention.py PORT_A PORT_B METRICS_A METRICS_B REDIS_PORT CLI LOG_A LOG_B \
        PORT_D LOG_D

(host d's clock is an hour ahead of the others')

Each check prints PASS/FAIL; the last line is "N passed, N failed". The
engine's default limit lets one account send 30 messages a minute
(messages_per_minute 30; later ones get 451): the sequential check says
so, the parallel ones must keep to what it allowed."""
import collections
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import milter_client as mc  # noqa: E402

PA, PB, MA, MB, RPORT = (int(x) for x in sys.argv[1:6])
CLI, LOGA, LOGB = sys.argv[6:9]
PD, LOGD = int(sys.argv[9]), sys.argv[10]
PORTS, METRICS = {'a': PA, 'b': PB, 'd': PD}, {'a': MA, 'b': MB}
LOGS = {'a': LOGA, 'b': LOGB, 'd': LOGD}
results = [0, 0]


def report(ok, name, why=''):
    results[0 if ok else 1] += 1
    print('PASS %s' % name if ok else 'FAIL %s: %s' % (name, why), flush=True)


def redis(*args):
    return subprocess.run(['redis-cli', '-p', str(RPORT)] + list(args), capture_output=True,
                          text=True, timeout=10).stdout.strip()


def accounts(*args):
    p = subprocess.run([CLI, 'accounts'] + list(args) + ['--store', 'redis://127.0.0.1:%d' % RPORT],
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def one(via, login, qid, sender=None, barrier=None):
    """One authenticated message from an internal host: allow, hold,
    tempfail or reject. With a barrier, everything up to the end of the
    message is sent, then all the sessions end their messages at once:
    the decisions (made at end of message) then meet in the daemons."""
    sender = login if sender is None else sender  # login None: no SMTP AUTH
    m = mc.MTA(PORTS[via], timeout=15)
    try:
        m.negotiate()
        m.connect('10.1.2.3', hostname='client.ourco.test')
        m.helo('client.ourco.test')
        raw = ('From: %s\r\nTo: friend@rcpt.test\r\nSubject: hi\r\n'
               'Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <%s@x>\r\n\r\nhello\r\n'
               % (login or sender, qid)).encode()
        replies = [r for r in (m.mail(sender, login=login), m.rcpt('friend@rcpt.test'),
                               m.data_cmd(qid)) if r is not None and r.cmd != 'c']
        if not replies:
            headers, body = mc.split_message(raw)
            for name, value in headers:
                m.header(name, value)
            m.eoh()
            m.body(body)
            if barrier is not None:
                barrier.wait(timeout=30)
            replies = m.eom()
        m.abort()
    finally:
        m.close()
    if any(r.cmd == 'q' for r in replies):
        return 'hold'
    last = replies[-1]
    if last.cmd == 'y':
        return 'tempfail' if (last.text or '').startswith('4') else 'reject'
    return {'t': 'tempfail', 'r': 'reject', 'a': 'allow', 'c': 'allow'}.get(last.cmd, last.cmd)


def parallel(login, n, tag):
    res = [None] * n
    barrier = threading.Barrier(n)

    def work(i):
        try:
            res[i] = one('ab'[i % 2], login, '%s%03d' % (tag, i), barrier=barrier)
        except Exception as e:  # a session that failed is a result too
            res[i] = 'error: %s' % e

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return collections.Counter(res)


def decisions(tag):
    out = []
    for via in 'ab':
        for line in open(LOGS[via], errors='replace'):
            if '"outbound_decision"' in line:
                d = json.loads(line)
                if d.get('queue_id', '').startswith(tag):
                    out.append(d)
    return out


def gauge(via):
    text = urllib.request.urlopen('http://127.0.0.1:%d/metrics' % METRICS[via],
                                  timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith('spoofguard_outbound_store_fallback '):
            return int(float(line.split()[1]))
    return None


# 1. the reference: one message at a time, alternating hosts
seq = collections.Counter(one('ab'[i % 2], 'p1@ourco.test', 'SEQ%02d' % i) for i in range(32))
LIMIT = 30
report(seq['allow'] == LIMIT, 'sequential over two hosts: %d allowed' % LIMIT, repr(seq))

# 1b. host d's clock an hour ahead: the same limit over a and d, since
# both decide on Redis's clock, and d says how far its own is off (adv43
# F1: with an hour between them each host's writes reset the other's
# buckets, and 120 of 120 went)
skew = collections.Counter(one('da'[i % 2], 'p8@ourco.test', 'SKW%02d' % i) for i in range(40))
said = [json.loads(line) for line in open(LOGD, errors='replace')
        if '"outbound_clock_skew"' in line]
off = [int(x.get('redis_minus_ours_s', 0)) for x in said]
report(skew['allow'] == LIMIT and off and -3700 < off[-1] < -3500,
       'a host an hour ahead: %d allowed over it and another, and it says its clock is off'
       % LIMIT, '%r; outbound_clock_skew on d: %r' % (skew, said[:3]))

# 2. 60 and 100 parallel sessions of fresh accounts over both hosts: the
# same limit, nothing counted in memory while Redis answers (each host's
# memory knows neither the shared counts nor a block: adv13 F1 let 60 of 60
# and 74 of 100 through where 29 were due)
for login, n, tag in (('p2@ourco.test', 60, 'PA'), ('p3@ourco.test', 100, 'PB')):
    got = parallel(login, n, tag)
    stores = collections.Counter(d['store'] for d in decisions(tag))
    report(got['allow'] <= LIMIT and got['allow'] >= LIMIT - 10 and stores['memory'] == 0 and
           sum(got.values()) == n and set(got) <= {'allow', 'hold', 'tempfail'},
           '%d parallel sessions: at most %d allowed, none decided in memory' % (n, LIMIT),
           '%r, stores %r' % (got, stores))

# 3. a blocked account sending in parallel bursts: nothing gets out
rc, out = accounts('block', 'p4@ourco.test')
allowed = 0
for burst in range(4):
    got = parallel('p4@ourco.test', 60, 'PK%d' % burst)
    allowed += got['allow']
report(rc == 0 and allowed == 0, 'blocked account, 4 bursts of 60: none allowed',
       'block %d %s; allowed %d' % (rc, out.strip(), allowed))

# 4. Redis loses the key (eviction, FLUSHALL, a restart without
# persistence) and the account is blocked again: a host whose worker
# cached the old record must not write it back over the block (versions
# never repeat: adv13 F2 saw "state: ok" again). Null sender: a decision
# writing one record, the account's.
L = 'p5@ourco.test'
for i in range(4):
    one('a', L, 'AB%d' % i, sender='<>')
redis('DEL', 'sgob:' + L)
accounts('block', L)
for i in range(3):
    one('b', L, 'AC%d' % i, sender='<>')
after = one('a', L, 'AD0', sender='<>')
rc, show = accounts('show', L)
report(after == 'hold' and 'BLOCKED' in show, 'a record lost and blocked again: stays blocked',
       '%s; %s' % (after, show.strip()))

# 4c. Redis loses a record that held a block: the account is free again,
# and the host whose worker had it blocked says so (adv43 F2: a restart
# without persistence freed every blocked account without a word). Host d
# has one worker, so the one that cached the block meets the loss.
L = 'p9@ourco.test'
accounts('block', L)
held = one('d', L, 'BL0', sender='<>')
redis('DEL', 'sgob:' + L)
freed = one('d', L, 'BL1', sender='<>')
lost = [line for line in open(LOGD, errors='replace')
        if '"outbound_block_lost"' in line and '"p9@ourco.test"' in line]
report(held == 'hold' and freed == 'allow' and len(lost) == 1,
       'a blocked record Redis lost: the host that had it says outbound_block_lost',
       'held %s, then %s; %d lines' % (held, freed, len(lost)))

# 4b. a host of the release before (its script: versions counted from 1)
# sharing this Redis during an upgrade: it reads the versions written now
# (they are still numbers) and writes one a later decision here takes
OLD_SCRIPT = '''local n = #KEYS
local ttl = tonumber(ARGV[1])
local cur = {}
for i = 1, n do
  cur[i] = redis.call('HGET', KEYS[i], 'v') or '0'
  if ARGV[1 + i] ~= '*' and cur[i] ~= ARGV[1 + i] then
    local r = {0}
    for j = 1, n do
      local h = redis.call('HMGET', KEYS[j], 'v', 'd')
      r[#r + 1] = h[1] or '0'
      r[#r + 1] = h[2] or ''
    end
    return r
  end
end
local r = {1}
for i = 1, n do
  local nv = tonumber(cur[i]) + 1
  redis.call('HSET', KEYS[i], 'v', nv, 'd', ARGV[1 + n + i])
  if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end
  r[#r + 1] = tostring(nv)
end
return r
'''
L = 'p7@ourco.test'
one('a', L, 'UP0')
ver = redis('HGET', 'sgob:' + L, 'v')
old = redis('EVAL', OLD_SCRIPT, '1', 'sgob:' + L, '0', ver, 'x')
after = one('b', L, 'UP1')
report(ver.isdigit() and old.splitlines()[:1] == ['1'] and after == 'allow',
       'a host of the release before reads and writes the versions',
       'version %r, old script %r, next decision %s' % (ver, old, after))

# 5. Redis refusing writes (full under noeviction): a block it still holds
# is enforced from what each worker last read, the gauge says the store is
# not working, the log gives Redis's own error (adv13 F3)
L = 'p6@ourco.test'
one('a', L, 'OM0')
one('b', L, 'OM1')
accounts('block', L)
one('a', L, 'OM2')
one('b', L, 'OM3')
redis('CONFIG', 'SET', 'maxmemory-policy', 'noeviction')
redis('DEBUG', 'POPULATE', '40000', 'junk', '100')
redis('CONFIG', 'SET', 'maxmemory', '1mb')
got = collections.Counter(one('ab'[i % 2], L, 'OM%d' % (10 + i)) for i in range(10))
time.sleep(1.2)
gauges = (gauge('a'), gauge('b'))
logged = any('"outbound_store_down"' in line and 'OOM' in line
             for line in open(LOGA, errors='replace'))
report(got == collections.Counter(hold=10) and gauges[0] >= 1 and gauges[1] >= 1 and logged,
       'Redis full: the block holds, the gauge and the log say so',
       '%r, gauges %r, OOM logged %s' % (got, gauges, logged))
redis('CONFIG', 'SET', 'maxmemory', '0')
redis('FLUSHALL')

# 6. key spaces (adv13 F7): a login spelled like a host's record
# ("ip:10.1.2.3") whose refusals once blocked that host's own mail; a
# login longer than 255 bytes, which once shared the record of every
# login with its first 255 bytes
for i in range(6):
    one('a', 'ip:10.1.2.3', 'NS%d' % i, sender='someone@ourco.test')
host = one('a', None, 'NS9', sender='host@ourco.test')
rc, show = accounts('show', 'login:ip:10.1.2.3')
report(host == 'allow' and rc == 0 and 'ownership_refusals' in show,
       'a login spelled ip:ADDRESS counts under login:, not the host',
       'host %s; login:ip:10.1.2.3 %d %s' % (host, rc, show.strip()[:300]))
long_login = 'x' * 300 + '@ourco.test'
got = one('b', long_login, 'LL0', sender='x@ourco.test')
said = [line for line in open(LOGB, errors='replace')
        if '"LL0"' in line and 'longer than 255 bytes' in line]
report(got == 'reject' and said, 'a login longer than 255 bytes is refused, as such',
       '%s; %d log lines say why' % (got, len(said)))

print('%d passed, %d failed' % tuple(results))
sys.exit(1 if results[1] else 0)
