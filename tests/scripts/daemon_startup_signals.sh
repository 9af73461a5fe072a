#!/usr/bin/env bash
# Signals during spoofguardd's start-up (adv36 F6): a SIGHUP in its first
# milliseconds (a `kill -HUP` or logrotate's postrotate right after a
# start: `systemctl reload` waits for READY=1, they do not) killed it,
# exit 129. Now:
#   a. a SIGHUP while the start-up is held (its log_file is a FIFO nobody
#      reads yet: the open waits, inside the start-up, for as long as the
#      test likes) neither kills the daemon nor is lost: once started it
#      signs a message and logs one "reloaded";
#   b. SIGTERM and SIGINT while the start-up is held end it at once (the
#      default action: blocked, only SIGKILL ended a stuck start-up, rev24
#      R24-5), no signer left; the next start over a stale socket file
#      removes it and serves;
#   d. after the start-up, SIGTERM and SIGINT are a clean exit (status 0,
#      "draining" and "stopped" logged, the socket removed, no signer
#      left);
#   c. SIGHUP at several instants after the log's open (while it binds,
#      forks the signer, loads the keys, drops root, opens LMDB...): every
#      one lives, signs and reloads once.
# Each instant is counted from a point of the start-up itself (the FIFO's
# open), not from the exec, and every outcome must be the same: no
# instant is lucky. The signer is checked to keep no signal blocked.
# No TCP port: a unix socket; DNS is not asked.
set -u
SG_SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CLI=${SG_CLI:-$SG_SRC/build/spoofguard}
D=$(dirname "$CLI")/spoofguardd
PY=/usr/bin/python3
T=$(mktemp -d /tmp/sg-startsig.XXXXXX)
# the daemons are the Python's children: it kills what it started
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
mkdir -m 700 "$T/keys"
mkdir -m 755 "$T/etc"
"$CLI" keygen --domain ourco.test --selector s1 --type ed25519 --out "$T/keys" >/dev/null 2>&1 ||
    { echo "FAIL keygen"; echo "0 passed, 1 failed"; exit 1; }
printf 'k ourco.test:s1:%s/keys/s1.private\n' "$T" >"$T/etc/KeyTable"
printf '*@ourco.test k\n' >"$T/etc/SigningTable"
echo 'alice@ourco.test @ourco.test' >"$T/etc/senders"
chmod 644 "$T"/etc/*
# started as root: the daemon runs as nobody (it removes its socket from
# its own folder $T/dN, writes the LMDB store there), the signer as
# daemon; $T stays root's, as the folders on the way to the KeyTable must
if [ "$(id -u)" = 0 ]; then
    RUNAS=$(printf 'user nobody\nsigner_user daemon\n')
else
    RUNAS=
fi

"$PY" - "$D" "$T" "$SG_SRC/tests/interop" "$RUNAS" <<'EOF'
import atexit, os, signal, subprocess, sys, threading, time
D, T, interop, runas = sys.argv[1:5]
sys.path.insert(0, interop)
import milter_client as mc

passed = failed = 0
def check(name, ok, why=''):
    global passed, failed
    print(('PASS ' if ok else 'FAIL ') + name + ('' if ok else ': ' + why), flush=True)
    passed += ok
    failed += not ok

def wait(cond, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()

# what this script started, killed by pid at its end (a signer goes with
# its daemon: PR_SET_PDEATHSIG)
started = []
atexit.register(lambda: [q.kill() for q in started if q.poll() is None])

n = 0
def daemon(again=None):
    """A daemon of its own (socket, store, log FIFO), its start-up held at
    the open of log_file until the test reads it; again: in the folder and
    with the configuration of that one, gone."""
    global n
    if again is not None:
        d, conf = again.dir, again.conf
    else:
        n += 1
        d = '%s/d%d' % (T, n)
        conf = '%s/d%d.conf' % (T, n)
    if again is None:
        os.mkdir(d)
        os.mkdir(d + '/ob')
        if os.geteuid() == 0:
            os.chown(d, 65534, -1)
            os.chown(d + '/ob', 65534, -1)
        os.mkfifo(d + '/log')
    with open(conf, 'w') as f:
        f.write('listen unix:%s/m.sock\nworkers 2\ndns_servers 127.0.0.1:9\n'
                'internal_networks 127.0.0.1/32\nsigning_table %s/etc/SigningTable\n'
                'key_table %s/etc/KeyTable\nsender_map %s/etc/senders\noutbound yes\n'
                'outbound_store %s/ob\nlog_file %s/log\n%s\n' % (d, T, T, T, d, d, runas))
    os.chmod(conf, 0o644)
    # the dispositions systemd gives a service: default for all three (a
    # shell's background job would ignore SIGINT)
    def defaults():
        for s in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            signal.signal(s, signal.SIG_DFL)
    p = subprocess.Popen([D, '-c', conf], stderr=open(d + '/err', 'w'), preexec_fn=defaults)
    p.dir, p.conf, p.lines = d, conf, []
    started.append(p)
    return p

# openat's number, for a kernel that hides wchan
OPENAT = {'x86_64': '257', 'aarch64': '56', 'riscv64': '56'}.get(os.uname().machine)

def held(p):
    """True once p waits in the open of its log FIFO: inside the start-up.
    Where the kernel shows neither the wait channel nor the system call,
    a second after the exec."""
    blind = []
    def waiting():
        try:
            if os.readlink('/proc/%d/exe' % p.pid) != os.path.realpath(D):
                return False
            with open('/proc/%d/wchan' % p.pid) as f:
                w = f.read().strip()
            if w not in ('', '0'):
                return w in ('wait_for_partner', 'fifo_open')
            with open('/proc/%d/syscall' % p.pid) as f:
                return f.read().split()[0] == OPENAT
        except (OSError, IndexError):
            if not blind:
                blind.append(time.time())
            return time.time() - blind[0] > 1
    return wait(waiting, 10)

def read_log(p):
    """Open the FIFO, which lets the start-up go on, and keep its lines;
    True once the open has returned (the daemon's with it)."""
    opened = threading.Event()
    def pump():
        with open(p.dir + '/log', 'rb') as f:  # waits for the writer
            opened.set()
            for line in f:
                p.lines.append(line.decode(errors='replace').strip())
    threading.Thread(target=pump, daemon=True).start()
    return opened.wait(10)

def logged(p, event):
    return sum('"event":"%s"' % event in l for l in p.lines)

def what(p):
    err = open(p.dir + '/err').read().strip()
    return 'exit %s, log %s, stderr %r' % (p.poll(), p.lines[-4:], err[-300:])

def lives_and_serves(name, p):
    """Started, still alive, signs a message, one reload logged; then a
    SIGTERM ends it with status 0."""
    up = wait(lambda: logged(p, 'started') or p.poll() is not None, 20)
    check(name + '_alive', up and p.poll() is None, what(p))
    if p.poll() is not None:
        return
    r = mc.submit(p.dir + '/m.sock', 'alice@ourco.test', 1)
    # the log line may follow the reply
    check(name + '_signs', r == 'a' and
          wait(lambda: any('"signatures":"1"' in l for l in p.lines), 10),
          'reply %r, %s' % (r, what(p)))
    check(name + '_one_reload', wait(lambda: logged(p, 'reloaded') == 1, 10) and
          logged(p, 'reloaded') == 1, what(p))
    p.terminate()
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    check(name + '_stopped', p.returncode == 0, what(p))

def signers_left(p):
    out = subprocess.run(['pgrep', '-f', '--', '-c ' + p.conf], capture_output=True, text=True)
    return out.stdout.split()

# a. SIGHUP while the start-up is held
p = daemon()
if not held(p):
    check('a_held_in_startup', False, 'never waited at the log FIFO: ' + what(p))
    p.kill()
else:
    p.send_signal(signal.SIGHUP)
    time.sleep(0.2)  # time to die, if it would
    read_log(p)
    # the signer keeps no signal of the start-up blocked
    signer = wait(lambda: logged(p, 'started') or p.poll() is not None, 20) and \
        subprocess.run(['pgrep', '-P', str(p.pid)], capture_output=True, text=True).stdout.split()
    if signer:
        blk = [l for l in open('/proc/%s/status' % signer[0]) if l.startswith('SigBlk:')]
        check('a_signer_blocks_nothing', blk and int(blk[0].split()[1], 16) == 0, str(blk))
    lives_and_serves('a_hup_held', p)

# b. SIGTERM and SIGINT while the start-up is held: its end, at once
for sig in (signal.SIGTERM, signal.SIGINT):
    name = 'b_' + sig.name.lower() + '_held'
    p = daemon()
    if not held(p):
        check(name, False, 'never waited at the log FIFO: ' + what(p))
        p.kill()
        continue
    p.send_signal(sig)
    try:
        p.wait(1)
    except subprocess.TimeoutExpired:
        pass
    check(name + '_ends_within_1s', p.returncode == -sig,
          'alive 1s after %s' % sig.name if p.returncode is None else what(p))
    if p.returncode is None:
        p.kill()
        p.wait()
    left = signers_left(p)
    check(name + '_no_signer_left', not left, 'pids %s' % left)
    for pid in left:
        os.kill(int(pid), signal.SIGKILL)
    # a socket file left behind (a start ended after its bind) does not
    # stop the next start
    import socket
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(p.dir + '/m.sock')
    stale.close()
    p = daemon(again=p)
    if not held(p):
        check(name + '_next_start', False, 'never waited at the log FIFO: ' + what(p))
        p.kill()
        continue
    read_log(p)
    p.send_signal(signal.SIGHUP)
    lives_and_serves(name + '_next_start', p)

# d. SIGTERM and SIGINT once started: orderly, as before
for sig in (signal.SIGTERM, signal.SIGINT):
    name = 'd_' + sig.name.lower() + '_started'
    p = daemon()
    if not held(p) or not read_log(p):
        check(name, False, 'the start-up was not seen: ' + what(p))
        p.kill()
        continue
    if not wait(lambda: logged(p, 'started') or p.poll() is not None, 20):
        check(name, False, 'not started: ' + what(p))
        p.kill()
        continue
    p.send_signal(sig)
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    # the log's last lines may still be in the pipe
    wait(lambda: logged(p, 'stopped') == 1, 2)
    check(name + '_clean_exit', p.returncode == 0 and logged(p, 'draining') == 1 and
          logged(p, 'stopped') == 1, what(p))
    check(name + '_socket_removed', not os.path.exists(p.dir + '/m.sock'), 'still there')
    left = signers_left(p)
    check(name + '_no_signer_left', not left, 'pids %s' % left)
    for pid in left:
        os.kill(int(pid), signal.SIGKILL)

# c. SIGHUP at instants after the log's open, the rest of the start-up
for delay in (0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.2):
    name = 'c_hup_after_%gms' % (delay * 1000)
    p = daemon()
    if not held(p):
        check(name, False, 'never waited at the log FIFO: ' + what(p))
        p.kill()
        continue
    if not read_log(p):  # the instant counts from the daemon's open
        check(name, False, 'the log FIFO did not open: ' + what(p))
        p.kill()
        continue
    time.sleep(delay)
    p.send_signal(signal.SIGHUP)
    lives_and_serves(name, p)
    for pid in signers_left(p):
        os.kill(int(pid), signal.SIGKILL)

print('%d passed, %d failed' % (passed, failed))
sys.exit(1 if failed else 0)
EOF
