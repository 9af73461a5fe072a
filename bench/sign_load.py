#!/usr/bin/python3
"""sign_load: outbound signing throughput of spoofguardd (issue 12).

    sign_load.py PORT MSGFILE CLIENTS SECONDS

CLIENTS processes each hold one milter connection (driven like Postfix by
tests/interop/milter_client.py's MTA) and send the message MSGFILE again
and again as an authenticated sender for SECONDS; every answer must be the
DKIM-Signature insertions followed by accept. Prints one JSON line:
messages, seconds, messages per second, signatures per message.
"""
import json
import multiprocessing
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'interop'))
import milter_client as mc  # noqa: E402


def client(port, msg, until, q):
    try:
        run(port, msg, until, q)
    except Exception as e:  # the parent must not wait forever for this one
        sys.stderr.write('client: %s\n' % e)
        q.put((0, 0, 1))


def run(port, msg, until, q):
    m = mc.MTA(port)
    m.negotiate()
    m.connect('198.51.100.25', hostname='client.example')
    m.helo('client.example')
    n, sigs, bad = 0, 0, 0
    while time.monotonic() < until:
        stage, replies = m.send_message(msg, sender='alice@ourco.test', login='alice@ourco.test')
        cmds = ''.join(r.cmd for r in replies)
        if stage != 'E' or not cmds.endswith('a') or cmds.count('i') == 0:
            bad += 1
        sigs += cmds.count('i')
        n += 1
        m.abort()
    q.put((n, sigs, bad))


def main():
    port, path, clients, secs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    msg = open(path, 'rb').read()
    q = multiprocessing.Queue()
    t0 = time.monotonic()
    until = t0 + secs
    ps = [multiprocessing.Process(target=client, args=(port, msg, until, q)) for _ in range(clients)]
    for p in ps:
        p.start()
    res = [q.get() for _ in ps]
    for p in ps:
        p.join()
    wall = time.monotonic() - t0
    n = sum(r[0] for r in res)
    out = {'messages': n, 'seconds': round(wall, 2), 'per_second': round(n / wall, 1),
           'signatures_per_message': round(sum(r[1] for r in res) / max(n, 1), 2),
           'wrong_answers': sum(r[2] for r in res)}
    print(json.dumps(out))
    return 1 if out['wrong_answers'] else 0


if __name__ == '__main__':
    sys.exit(main())
