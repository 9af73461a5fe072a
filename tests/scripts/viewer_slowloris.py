#!/usr/bin/python3
"""Slow clients against spoofguard-view (run by viewer_slowloris.sh).

    viewer_slowloris.py share PORT     the viewer with its defaults
    viewer_slowloris.py evict PORT     --request-timeout 3600: no deadline interferes
    viewer_slowloris.py deadline PORT  --request-timeout 2

share: 32 connections from each of 2 addresses hold a partial request head
(the outside report F4); a reader from a third address is answered, and no
address holds more than its share (16). evict: 20 addresses x 16 fill the
pool (256) and more; the oldest unfinished heads make room, the newest stay,
and a reader is answered. deadline: a head sent a line every 0.5 s, a body
sent a byte every 0.5 s and an idle kept-alive connection are each closed,
not before the 2 s deadline, however often bytes arrive.

Prints "ok ..." / "FAIL ..." lines; exit status 1 on any failure. Timeouts
here only bound how long the test waits for a behaviour, they assert no
speed.
"""
import select
import socket
import sys
import time

HEAD = b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n'  # never finished
fails = 0


def check(cond, what):
    global fails
    print(('ok   ' if cond else 'FAIL ') + what)
    if not cond:
        fails += 1


def slow(port, src, data=HEAD):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(('127.0.0.1', port))
    s.sendall(data)
    return s


def reader(port, src='127.0.0.9'):
    """The status line of the answer to a prompt request, or what went wrong."""
    s = socket.socket()
    s.settimeout(15)
    s.bind((src, 0))
    try:
        s.connect(('127.0.0.1', port))
        s.sendall(b'GET /style.css HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
        d = s.recv(100)
        return d.split(b'\r\n')[0].decode() if d else 'closed without an answer'
    except OSError as e:
        return 'no answer: %s' % e
    finally:
        s.close()


def closed_within(socks, wait):
    """The sockets the server closes (end of stream or reset) within wait seconds."""
    gone, pending = set(), {s.fileno(): s for s in socks}
    p = select.poll()
    for fd in pending:
        p.register(fd, select.POLLIN)
    end = time.monotonic() + wait
    while pending and time.monotonic() < end:
        for fd, _ in p.poll(200):
            s = pending[fd]
            try:
                d = s.recv(4096)
            except OSError:
                d = b''
            if not d:
                gone.add(s)
                p.unregister(fd)
                del pending[fd]
    return gone


def share(port):
    socks = {src: [slow(port, src) for _ in range(32)] for src in ('127.0.0.2', '127.0.0.3')}
    answer = reader(port)
    check(answer == 'HTTP/1.1 200 OK',
          'a reader is answered while 2 addresses hold 32 slow connections each (%s)' % answer)
    for src, ss in socks.items():
        gone = closed_within(ss, 2)
        check(len(ss) - len(gone) <= 16,
              '%s holds at most 16 connections (%d of 32 open)' % (src, len(ss) - len(gone)))
    for ss in socks.values():
        for s in ss:
            s.close()


def evict(port):
    socks = []
    for i in range(20):
        socks += [slow(port, '127.0.1.%d' % (i + 1)) for _ in range(16)]
    answer = reader(port)
    check(answer == 'HTTP/1.1 200 OK',
          'a reader is answered while 320 slow connections from 20 addresses want in (%s)' % answer)
    gone = closed_within(socks, 3)
    check(len(gone) >= 320 - 256, 'the pool made room: %d of 320 closed' % len(gone))
    # room is made from the clients holding the most places (adv32 F2), so
    # the 20 end up with a fair share each (256 / 20: 12 or 13), not the
    # first 16 with all of it
    held = [sum(1 for s in socks[16 * i:16 * (i + 1)] if s not in gone) for i in range(20)]
    check(max(held) - min(held) <= 2 and min(held) >= 11,
          'each address keeps a fair share (held: %s)' % held)
    for s in socks:
        s.close()


def trickle(s, data, limit_s=30):
    """Sends data every 0.5 s until the server closes s: the time that took, or None."""
    t0 = time.monotonic()
    s.setblocking(False)
    while time.monotonic() - t0 < limit_s:
        try:
            d = s.recv(4096)
            if not d:
                return time.monotonic() - t0
        except BlockingIOError:
            pass
        except OSError:
            return time.monotonic() - t0
        try:
            s.send(data)
        except BlockingIOError:
            pass
        except OSError:
            return time.monotonic() - t0
        time.sleep(0.5)
    return None


def deadline(port):
    deadline_s = 2
    answer = reader(port)
    check(answer == 'HTTP/1.1 200 OK', 'a prompt request is answered (%s)' % answer)

    t0 = time.monotonic()
    s = slow(port, '127.0.0.5')
    took = trickle(s, b'X-a: b\r\n')
    check(took is not None, 'a head sent a line every 0.5 s is closed (after %.1f s)' % (took or 0))
    check(took is None or time.monotonic() - t0 >= deadline_s - 0.05,
          '... not before the deadline')
    s.close()

    t0 = time.monotonic()
    s = slow(port, '127.0.0.6',
             b'POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 200\r\n'
             b'Content-Type: application/x-www-form-urlencoded\r\n\r\n')
    took = trickle(s, b'a')
    check(took is not None, 'a body sent a byte every 0.5 s is closed (after %.1f s)' % (took or 0))
    check(took is None or time.monotonic() - t0 >= deadline_s - 0.05,
          '... not before the deadline')
    s.close()

    s = slow(port, '127.0.0.7', b'GET /style.css HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    s.settimeout(15)
    got = b''
    while b'\r\n\r\n' not in got:
        got += s.recv(4096)
    head, _, body = got.partition(b'\r\n\r\n')
    length = [int(l.split(b':')[1]) for l in head.split(b'\r\n')
              if l.lower().startswith(b'content-length:')]
    while length and len(body) < length[0]:
        body += s.recv(4096)
    check(head.startswith(b'HTTP/1.1 200'), 'a kept-alive request is answered')
    t0 = time.monotonic()
    gone = closed_within([s], 30)
    idle = time.monotonic() - t0
    check(bool(gone), 'the idle kept-alive connection is closed (after %.1f s)' % idle)
    check(idle >= deadline_s - 0.05, '... not before the deadline')
    s.close()


if __name__ == '__main__':
    {'share': share, 'evict': evict, 'deadline': deadline}[sys.argv[1]](int(sys.argv[2]))
    sys.exit(1 if fails else 0)
