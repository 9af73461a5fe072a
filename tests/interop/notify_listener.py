#!/usr/bin/python3
"""notify_listener: play systemd's side of sd_notify (stdlib only).

    notify_listener.py SOCKET LOG

Binds a unix datagram socket at SOCKET (what NOTIFY_SOCKET names) and
appends every message it receives to LOG, one assignment per line, until
SIGTERM. Tests then look for READY=1, WATCHDOG=1, RELOADING=1, STOPPING=1.
"""
import os
import signal
import socket
import sys

path, log = sys.argv[1], sys.argv[2]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)  # the daemon may have dropped to another user
with open(log, "a", buffering=1) as out:
    while True:
        msg = s.recv(4096).decode("utf-8", "replace")
        for line in msg.splitlines():
            out.write(line + "\n")
