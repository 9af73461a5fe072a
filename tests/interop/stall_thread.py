#!/usr/bin/python3
"""stall_thread: stop one thread of a running process, and only that one.

    stall_thread.py PID THREAD_NAME READY_FILE [SECONDS]

Finds the thread of PID whose name (/proc/PID/task/TID/comm) is
THREAD_NAME, attaches to it alone with ptrace (PTRACE_SEIZE, then
PTRACE_INTERRUPT: a ptrace stop of that thread, the process's other
threads run on) and writes READY_FILE once it is stopped. It lets the
thread go (PTRACE_DETACH) on SIGTERM, or after SECONDS (default 30).

This plays a wedged worker (an endless loop in a parser, a deadlock) for
the daemon's liveness tests without a test-only hook in the daemon.
Needs the right to trace PID (root, or the same user). Exit status 2 when
the thread is not found or cannot be traced.
"""
import ctypes
import os
import signal
import sys
import time

PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WALL = 0x40000000

pid, name, ready = int(sys.argv[1]), sys.argv[2], sys.argv[3]
seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 30.0

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]


def find_tid():
    for _ in range(100):
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/comm") as f:
                    if f.read().strip() == name:
                        return int(t)
            except FileNotFoundError:
                pass
        time.sleep(0.05)
    return None


tid = find_tid()
if tid is None:
    print(f"stall_thread: no thread named {name} in {pid}", file=sys.stderr)
    sys.exit(2)
if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0 or \
        libc.ptrace(PTRACE_INTERRUPT, tid, None, None) != 0:
    print(f"stall_thread: ptrace {tid}: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
    sys.exit(2)
os.waitpid(tid, WALL)  # the interrupt's stop
with open(ready, "w") as f:
    f.write(f"{tid}\n")

done = []
signal.signal(signal.SIGTERM, lambda *_: done.append(1))
end = time.monotonic() + seconds
while not done and time.monotonic() < end:
    # The process killed meanwhile (the watchdog's SIGABRT): a traced
    # thread that dies stays a zombie until its tracer reaps it, and holds
    # up the whole process's end until then
    try:
        got, status = os.waitpid(tid, os.WNOHANG | WALL)
    except ChildProcessError:
        sys.exit(0)
    if got == tid and (os.WIFEXITED(status) or os.WIFSIGNALED(status)):
        sys.exit(0)
    time.sleep(0.05)
libc.ptrace(PTRACE_DETACH, tid, None, None)
