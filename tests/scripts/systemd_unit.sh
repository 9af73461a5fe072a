#!/usr/bin/env bash
# The packaged unit (debian/spoofguard.spoofguardd.service) under a real
# systemd as PID 1, its sandbox as shipped (ProtectSystem=strict and
# ReadWritePaths, the system call filter, the capability bounding set,
# Type=notify with a watchdog), with the packaged configuration plus
# outbound detection, report collection and a signing key:
#   a. `systemctl start` is active (READY=1 came); the socket is
#      spoofguard:spoofguard 0660; the signer does not say Landlock is
#      refused to it (its filter, read offline first, allows the calls);
#   b. inbound mail over the unix socket: the genuine message passes with
#      its Authentication-Results, the forged one is refused;
#   c. outbound: signed by the signer process, the decision written to the
#      LMDB store in /var/lib/spoofguard, the report store created there;
#   d. `systemctl reload`: still active, "reloaded" in the log;
#   e. `systemctl stop`: inactive, exit status 0;
#   f. with Redis away, a stop writes the spill file in /var/lib/spoofguard
#      and the next start reads it back;
#   i. the packaged report timer's service, as the daemon's user in its
#      sandbox, mails today's report (with the test's day, DNS and mailer);
#      the timer loads and waits;
#   h. the outbound_notify example of docs/outbound-daemon.md, run by the
#      daemon in its sandbox when it blocks an account, mails the block to
#      an SMTP server (tests/interop/smtp_sink.py);
#   j. a wedged worker (its thread stopped by tests/interop/stall_thread.py,
#      the main thread running on): the daemon withholds the watchdog ping,
#      systemd kills it and Restart=on-failure starts a new one that takes
#      mail;
#   k. a wedged signer process (SIGSTOP) with an outbound message waiting
#      for its signature: the same restart, signer included;
#   g. controls, the mistakes this test found: the same unit without
#      @chown in its system call allow list, or without /var/lib/spoofguard
#      in ReadWritePaths, does not start; without the landlock calls in it,
#      the signer says Landlock is refused (adv36 F1); and with its
#      ExecReload inside the sandbox (no CAP_KILL) a reload changes nothing;
#      so a., c. and d. test the unit and not the environment.
#
# systemd 252 runs in a PID and mount namespace of its own (unshare):
# /run, /var/lib, /tmp, /var/tmp and /etc/systemd/system are tmpfs there,
# so nothing of the host's state is seen or changed, and only these units
# start: drop-ins take away their default dependencies, and sysinit.target
# and what it would start (tmpfiles, which empties /tmp at boot; udev,
# sysctl, networking) are masked. The daemon's output goes to a file (no
# journald). The network namespace is the host's:
# the test's DNS server on loopback answers. Needs root, the accounts of
# debian/spoofguard.sysusers (scripts/test.sh makes them) and a systemd
# that can boot in a namespace; otherwise it says SKIP.
set -uo pipefail
SG_SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CLI=${SG_CLI:-$SG_SRC/build/spoofguard}
SGD=$(dirname "$CLI")/spoofguardd
PY=/usr/bin/python3
MC=$SG_SRC/tests/interop/milter_client.py
NMC=/var/lib/sg-unit/milter_client.py # its copy in the namespace
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
check() { # NAME WHY CMD...: PASS when CMD succeeds
    local n=$1 why=$2
    shift 2
    if "$@" >/dev/null 2>&1; then ok "$n"; else bad "$n: $why"; fi
}
# what was checked before a skip still counts
skip() {
    echo "SKIP: $*"
    echo "$pass passed, $fail failed"
    [ "$fail" = 0 ]
    exit
}

# The unit's system call filter, read as systemd reads it (with the groups
# of the systemd installed), lets through the calls the daemon needs. The
# landlock calls are in no group of systemd 252 but @known: refused, they
# answered EPERM (SystemCallErrorNumber=) and the signer ran without
# Landlock (adv36 F1). Needs systemd-analyze only, no systemd to boot.
if command -v systemd-analyze >/dev/null; then
    refused=$("$PY" - "$SG_SRC/debian/spoofguard.spoofguardd.service" landlock_create_ruleset \
        landlock_add_rule landlock_restrict_self rt_sigprocmask <<'PYEOF' 
import re, subprocess, sys
out = subprocess.run(['systemd-analyze', 'syscall-filter'], capture_output=True,
                     text=True).stdout
groups, cur = {}, None
for line in out.splitlines():
    if line.startswith('@'):
        cur = groups.setdefault(line.split()[0], [])
    elif cur is not None and re.match(r'^\s+[-@a-z0-9_]+$', line):
        cur.append(line.strip())
def expand(name, seen):
    if not name.startswith('@'):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    return set().union(*[expand(x, seen) for x in groups.get(name, [])])
# systemd.exec(5): the first assignment makes an allow list (@default
# included) or, with ~, a deny list; later ones add to it or take from
# it; an empty one starts again
mode, names = None, set()
for line in open(sys.argv[1]):
    m = re.match(r'^SystemCallFilter=(.*)$', line.strip())
    if not m:
        continue
    v = m.group(1).strip()
    if not v:
        mode, names = None, set()
        continue
    deny = v.startswith('~')
    these = set().union(*[expand(x.split(':')[0], set()) for x in v.lstrip('~').split()])
    if mode is None:
        mode = 'deny' if deny else 'allow'
        names = these | (expand('@default', set()) if mode == 'allow' else set())
    elif (mode == 'allow') != deny:
        names |= these
    else:
        names -= these
if not groups:
    print('(systemd-analyze syscall-filter listed no groups)')
for c in sys.argv[2:]:
    if mode is not None and (c in names) != (mode == 'allow'):
        print(c)
PYEOF
    ) || refused="(the check failed) $refused"
    check unit_filter_allows_what_the_daemon_needs "refused by the unit: $(echo $refused)" \
        test -z "$refused"
else
    echo "(systemd-analyze is not installed: the unit's system call filter is not checked)"
fi

[ "$(id -u)" = 0 ] || skip "needs root"
for t in unshare nsenter /lib/systemd/systemd systemd-tmpfiles; do
    command -v "$t" >/dev/null || skip "$t is not installed"
done
for u in spoofguard spoofguard-signer; do
    id "$u" >/dev/null 2>&1 || skip "no account $u (scripts/test.sh creates it)"
done

T=$(mktemp -d /tmp/sg-unit.XXXXXX)
chmod 755 "$T"
touch "$T/sentinel" # gone at the end: the namespace reached the host's /tmp
P=
cleanup() {
    [ -z "$P" ] || kill -9 "$P" 2>/dev/null
    bash "$SG_SRC/tests/env/dns-server.sh" stop "$T/dns" >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT

# DNS: the milter scenarios' zone with a fresh remote.test key
mkdir -p "$T/keys" && chmod 700 "$T/keys"
"$CLI" keygen --domain remote.test --selector r1 --type rsa --out "$T/keys" >"$T/keys/r1.txt" &&
    "$CLI" keygen --domain ourco.test --selector s1 --type ed25519 --out "$T/keys" >/dev/null ||
    { bad "keygen"; exit 1; }
{
    sed -e '/@KEYS@/d' -e 's|^\(_dmarc.remote .*\)"v=DMARC1; p=reject"|\1"v=DMARC1; p=reject; rua=mailto:dmarc@remote.test"|' \
        "$SG_SRC/tests/data/milter/test.zone.in"
    cat "$T/keys/r1.txt"
} >"$T/test.zone"
grep -q 'rua=mailto:dmarc@remote.test' "$T/test.zone" || { bad "zone: no rua for remote.test"; exit 1; }
"$CLI" sign --domain remote.test --selector r1 --key "$T/keys/r1.private" \
    "$SG_SRC/tests/data/milter/msgs/genuine.eml" >"$T/genuine.eml"
cp "$SG_SRC/tests/data/milter/msgs/forged-remote.eml" "$T/forged.eml"
read -r DNS_PORT SINK_PORT <<<"$("$PY" "$MC" freeport 2)"
mkdir -p "$T/sink"
SG_DNS_ZONE_NAME=test SG_DNS_ZONE_FILE="$T/test.zone" \
    bash "$SG_SRC/tests/env/dns-server.sh" start "$T/dns" "$DNS_PORT" >/dev/null ||
    { bad "dns server"; exit 1; }

# What goes into the namespace: the unit as packaged but for ExecStart,
# the drop-in, a target with nothing in it to boot into, the binary, the
# configurations, the key and its tables.
mkdir -p "$T/units/spoofguardd.service.d" "$T/in"
unit() { # the packaged unit, ExecStart on the copied binary, sed EXPR applied
    sed -e 's|^ExecStart=.*|ExecStart=/var/lib/sg-unit/spoofguardd -c /var/lib/sg-unit/spoofguardd.conf|' \
        -e "${1:-}" "$SG_SRC/debian/spoofguard.spoofguardd.service"
}
unit >"$T/units/spoofguardd.service"
printf '[Unit]\nDefaultDependencies=no\n[Service]\nStandardOutput=append:/var/lib/sg-unit/out\nStandardError=append:/var/lib/sg-unit/out\n' \
    >"$T/units/spoofguardd.service.d/test.conf"
# LeakSanitizer stops the process's threads with ptrace, which the unit's
# system call filter refuses: under ASan the leak check is off here (the
# other tests run it), the memory errors are still caught
[ -z "${SG_SANITIZED:-}" ] ||
    echo "Environment=ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=23" >>"$T/units/spoofguardd.service.d/test.conf"
printf '[Unit]\nDescription=spoofguard unit test\nDefaultDependencies=no\n' >"$T/units/sg-unit.target"
# Masked: what the unit names, and everything a default dependency would
# start on the host's kernel and file systems (sysinit.target: tmpfiles,
# udev, sysctl, modules). A unit that still asks for them fails to start.
for u in network-online.target nss-lookup.target postfix.service sysinit.target basic.target \
    sockets.target timers.target paths.target local-fs.target swap.target \
    systemd-tmpfiles-setup.service systemd-tmpfiles-setup-dev.service \
    systemd-tmpfiles-clean.service systemd-tmpfiles-clean.timer systemd-udevd.service \
    systemd-udev-trigger.service systemd-sysctl.service systemd-modules-load.service \
    systemd-remount-fs.service systemd-sysusers.service systemd-journald.service \
    systemd-journald.socket networking.service systemd-networkd.service; do
    ln -s /dev/null "$T/units/$u"
done
cp "$SGD" "$T/in/spoofguardd"
cp "$MC" "$SG_SRC/debian/spoofguard.tmpfiles" "$T/genuine.eml" "$T/forged.eml" "$T/in/"
cp "$CLI" "$(dirname "$CLI")/spoofguard-report" "$T/in/"
sed 's|^ExecStart=/usr/bin/spoofguard |ExecStart=/var/lib/sg-unit/spoofguard |' \
    "$SG_SRC/debian/spoofguard.spoofguard-report-send.service" >"$T/units/spoofguard-report-send.service"
cp "$SG_SRC/debian/spoofguard.spoofguard-report-send.timer" "$T/units/spoofguard-report-send.timer"
# the test's day, DNS and mailer; the rest of the unit as packaged
mkdir -p "$T/units/spoofguard-report-send.service.d"
mkdir -p "$T/units/spoofguard-report-send.timer.d"
printf '[Unit]\nDefaultDependencies=no\n' >"$T/units/spoofguard-report-send.timer.d/test.conf"
printf '[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=\nExecStart=/var/lib/sg-unit/spoofguard report send --day %s --dns 127.0.0.1:%s --sendmail /var/lib/sg-unit/sendmail\nStandardOutput=append:/var/lib/sg-unit/report.out\nStandardError=append:/var/lib/sg-unit/report.out\n' \
    "$(date -u +%F)" "$DNS_PORT" >"$T/units/spoofguard-report-send.service.d/test.conf"
printf '#!/bin/sh\n# a mailer that keeps what it is given, as its caller\ncat >"/var/lib/spoofguard/sent-$$.eml"\n' >"$T/in/sendmail"
chmod 755 "$T/in/sendmail"
cp "$T/keys/s1.private" "$T/in/s1.private"
echo "ourco-s1 ourco.test:s1:/var/lib/sg-unit/s1.private" >"$T/in/KeyTable"
echo "*@ourco.test ourco-s1" >"$T/in/SigningTable"
printf 'alice@ourco.test @ourco.test\ncarol@ourco.test @ourco.test\n' >"$T/in/senders"
conf() { # STORE: the packaged configuration and what this test turns on
    cat "$SG_SRC/debian/spoofguardd.conf"
    cat <<EOF
authserv_id         mx.sgunit.test
dns_servers         127.0.0.1:$DNS_PORT
log_file            /var/lib/spoofguard/spoofguardd.log
signing_table       /var/lib/sg-unit/SigningTable
key_table           /var/lib/sg-unit/KeyTable
sender_map          /var/lib/sg-unit/senders
outbound            yes
outbound_store      $1
outbound_redis_timeout_ms 100
report_store        /var/lib/spoofguard/reports.db
EOF
}
conf /var/lib/spoofguard/outbound >"$T/in/spoofguardd.conf"
cat >"$T/boot.sh" <<'EOF'
#!/bin/bash
# PID 1 of the new namespaces, until it becomes systemd. What the namespace
# needs is copied in first: then /tmp and /var/tmp are hidden, so nothing
# started here (tmpfiles at boot empties /tmp) can reach the host's.
set -e
mount --make-rprivate /
mount -t tmpfs -o mode=755 tmpfs /var/lib
mkdir -m 755 /var/lib/sg-unit
cp -a "$SGT"/in/. /var/lib/sg-unit/
chmod 600 /var/lib/sg-unit/s1.private
mount -t tmpfs -o mode=755 tmpfs /etc/systemd/system
cp -a "$SGT"/units/. /etc/systemd/system/
mount -t tmpfs -o mode=755 tmpfs /run
systemd-tmpfiles --create /var/lib/sg-unit/spoofguard.tmpfiles
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
exec /lib/systemd/systemd --system --unit=sg-unit.target --log-target=null
EOF
chmod 755 "$T/boot.sh"
setsid unshare --pid --fork --mount --mount-proc \
    env container=spoofguard-test SGT="$T" SG_SRC="$SG_SRC" "$T/boot.sh" >"$T/boot.log" 2>&1 &
for _ in $(seq 100); do
    P=$(pgrep -f -- "--unit=sg-unit.target" | head -1)
    [ -n "$P" ] && nsenter -t "$P" -m -p systemctl is-system-running 2>/dev/null | grep -qE 'running|degraded' && break
    sleep 0.1
done
if ! { [ -n "$P" ] && nsenter -t "$P" -m -p systemctl is-system-running 2>/dev/null | grep -qE 'running|degraded'; }; then
    skip "systemd does not boot in a namespace here: $(tr '\n' ' ' <"$T/boot.log")"
fi
ns() { nsenter -t "$P" -m -p "$@"; }
sc() { ns systemctl "$@"; }
show() { sc show -p "$1" --value spoofguardd; }
logtail() { ns tail -n3 /var/lib/sg-unit/out /var/lib/spoofguard/spoofguardd.log 2>&1 | tr '\n' ' '; }
echo "systemd $(systemctl --version | awk 'NR==1 {print $2}') is PID 1 of its namespace (host pid $P)"

# a. start
sc start spoofguardd
check a_active "$(show ActiveState) $(logtail)" test "$(show ActiveState)" = active
sock=$(ns stat -c '%U:%G %a' /run/spoofguard/milter.sock 2>&1)
check a_socket "$sock" test "$sock" = "spoofguard:spoofguard 660"
mp=$(show MainPID)
check a_runs_as_spoofguard "$(ns cat "/proc/$mp/status" 2>&1 | grep Uid)" \
    ns grep -qE "^Uid:[[:space:]]+$(id -u spoofguard)[[:space:]]" "/proc/$mp/status"
# the unit's filter lets the signer have Landlock: it says nothing of a
# refusal (adv36 F1; g. shows it would)
landlock_quiet() { ! ns grep -q '"why":"signer: Landlock refused' /var/lib/spoofguard/spoofguardd.log; }
check a_signer_landlock_not_refused "$(ns grep -m1 Landlock /var/lib/spoofguard/spoofguardd.log)" \
    landlock_quiet

# b. inbound mail over the unix socket
r=$(ns "$PY" "$NMC" play /run/spoofguard/milter.sock 4 /var/lib/sg-unit/genuine.eml /var/lib/sg-unit/forged.eml 2>&1)
echo "(inbound replies: $r)"
check b_genuine_pass_forged_refused "$r $(logtail)" test "$r" = cccy
check b_authres "$(ns grep -c '"verdict"' /var/lib/spoofguard/spoofguardd.log)" \
    ns grep -q '"dmarc":"pass"' /var/lib/spoofguard/spoofguardd.log

# c. outbound: signed (the signer process), decided on LMDB, reports stored
r=$(ns "$PY" "$NMC" submit /run/spoofguard/milter.sock alice@ourco.test 2 2>&1)
echo "(outbound replies: $r)"
check c_outbound_accepted "$r $(logtail)" test "$r" = aa
check c_signed "$(logtail)" ns grep -q '"login":"alice@ourco.test".*"signatures":"1"' /var/lib/spoofguard/spoofguardd.log
check c_decided_on_lmdb "$(logtail)" ns grep -q '"event":"outbound_decision".*"store":"lmdb"' /var/lib/spoofguard/spoofguardd.log
st=$(ns stat -c '%U %a' /var/lib/spoofguard/outbound/data.mdb /var/lib/spoofguard/reports.db 2>&1 | tr '\n' ' ')
check c_state_files "$st" test "$st" = "spoofguard 600 spoofguard 600 "

# d. reload
sc reload spoofguardd
sleep 0.5
check d_reload_active "$(show ActiveState) $(logtail)" test "$(show ActiveState)" = active
check d_reloaded_logged "$(logtail)" ns grep -q '"reloaded"' /var/lib/spoofguard/spoofguardd.log

# e. stop
sc stop spoofguardd
check e_stopped "$(show ActiveState) $(show Result)" test "$(show ActiveState)/$(show Result)/$(show ExecMainStatus)" = inactive/success/0
check e_socket_removed "left" ns test ! -e /run/spoofguard/milter.sock

# i. the report timer's service (packaged, not enabled): as the daemon's
# user, in its sandbox, today's counts from b. (flushed at e.'s stop) go
# out as an RFC 9990 report to remote.test's rua
sc start spoofguard-report-send.service
rs="$(sc show -p Result --value spoofguard-report-send.service)/$(sc show -p ExecMainStatus --value spoofguard-report-send.service)"
out=$(ns cat /var/lib/sg-unit/report.out 2>&1 | tr '\n' ' ')
check i_report_service_ran "$rs: $out" grep -q "^success/0 spoofguard report send: .* 1 mails sent, 0 failed" <<<"$rs $out"
sent=$(ns sh -c 'ls /var/lib/spoofguard/sent-*.eml 2>/dev/null | head -1')
check i_report_mailed "$(ns cat /var/lib/sg-unit/report.out 2>&1 | tr '\n' ' ')" \
    ns grep -q '^Subject: Report Domain: remote.test ' "${sent:-/nonexistent}"
check i_report_as_spoofguard "$(ns stat -c %U "${sent:-/nonexistent}" 2>&1)" \
    test "$(ns stat -c %U "${sent:-/nonexistent}" 2>&1)" = spoofguard
check i_report_rua "$(ns grep -m1 '^To:' "${sent:-/nonexistent}" 2>&1)" ns grep -q '^To: .*dmarc@remote.test' "${sent:-/nonexistent}"
sc start spoofguard-report-send.timer
check i_timer_waiting "$(sc show -p ActiveState,SubState --value spoofguard-report-send.timer | tr '\n' ' ')" \
    test "$(sc show -p SubState --value spoofguard-report-send.timer)" = waiting
sc stop spoofguard-report-send.timer

# f. Redis away: the stop spills, the next start reads it back
conf redis://127.0.0.1:1 | ns tee /var/lib/sg-unit/spoofguardd.conf >/dev/null
sc start spoofguardd
r=$(ns "$PY" "$NMC" submit /run/spoofguard/milter.sock alice@ourco.test 1 2>&1)
check f_outbound_in_memory "$r $(logtail)" ns grep -q '"event":"outbound_decision".*"store":"memory"' /var/lib/spoofguard/spoofguardd.log
sc stop spoofguardd
check f_spill_written "$(logtail)" ns grep -q '"event":"outbound_spill_written","path":"/var/lib/spoofguard/outbound.spill","records":2' /var/lib/spoofguard/spoofguardd.log
sc start spoofguardd
check f_spill_loaded "$(logtail)" ns grep -q '"event":"outbound_spill_loaded","path":"/var/lib/spoofguard/outbound.spill","records":2' /var/lib/spoofguard/spoofguardd.log
sc stop spoofguardd
conf /var/lib/spoofguard/outbound | ns tee /var/lib/sg-unit/spoofguardd.conf >/dev/null

# h. the notify command of docs/outbound-daemon.md, as written there but
# for the port, run by the daemon in its sandbox when an account is blocked
# (here: two recipients where the limit says one), reaches an SMTP server
"$PY" "$SG_SRC/tests/interop/smtp_sink.py" "$SINK_PORT" "$T/sink" &
spid=$!
notify=$(awk '/<!-- notify-example -->/ {f = 1; next} f && /^outbound_notify / {print; exit}' \
    "$SG_SRC/docs/outbound-daemon.md" | sed "s|smtp://127.0.0.1:25|smtp://127.0.0.1:$SINK_PORT|")
{
    conf /var/lib/spoofguard/outbound
    echo "$notify"
    echo "outbound_notify_interval 0"
    echo "outbound_limit recipients_per_message 1"
} | ns tee /var/lib/sg-unit/spoofguardd.conf >/dev/null
check h_notify_example_found "no outbound_notify line after the marker" grep -q 'smtp://127.0.0.1:[0-9]' <<<"$notify"
sc start spoofguardd
r=$(ns "$PY" "$NMC" submit /run/spoofguard/milter.sock carol@ourco.test 1 2 2>&1)
for _ in $(seq 50); do [ -s "$T/sink/1.eml" ] && break; sleep 0.1; done
check h_blocked "$r $(logtail)" ns grep -q '"event":"outbound_decision".*"account":"carol@ourco.test".*"tripped":true' /var/lib/spoofguard/spoofguardd.log
check h_notify_mail_sent "$(ls "$T/sink") $(logtail)" grep -q '"event":"outbound_block".*"account":"carol@ourco.test"' "$T/sink/1.eml"
check h_notify_envelope "$(head -1 "$T/sink/1.eml" 2>&1)" grep -q '^X-Envelope: <postmaster@ourco.test> -> <postmaster@ourco.test>' "$T/sink/1.eml"
sc stop spoofguardd
kill "$spid" 2>/dev/null
conf /var/lib/spoofguard/outbound | ns tee /var/lib/sg-unit/spoofguardd.conf >/dev/null

# j. one worker wedged: the main loop alone is alive, which must not be
# enough for the watchdog (WatchdogSec=2s here, 30 s as packaged)
host_pid() { # the pid the host sees for the namespace's pid $1
    local p
    for p in $(pgrep -x spoofguardd); do
        [ "$(readlink "/proc/$p/ns/pid")" = "$(readlink "/proc/$P/ns/pid")" ] &&
            [ "$(awk '/^NSpid:/ {print $NF}' "/proc/$p/status" 2>/dev/null)" = "$1" ] && echo "$p"
    done
}
restarted() { # NAME: systemd restarted the service once (the watchdog), within 15 s
    for _ in $(seq 150); do
        [ "$(show NRestarts)" = 1 ] && [ "$(show ActiveState)" = active ] && break
        sleep 0.1
    done
    check "$1" "NRestarts $(show NRestarts) $(show ActiveState) $(logtail)" \
        test "$(show NRestarts)/$(show ActiveState)" = 1/active
}
ns sh -c 'printf "[Service]\nWatchdogSec=2s\n" >/etc/systemd/system/spoofguardd.service.d/watchdog.conf'
sc daemon-reload
sc start spoofguardd
mp=$(show MainPID)
hp=$(host_pid "$mp")
"$PY" "$SG_SRC/tests/interop/stall_thread.py" "${hp:-0}" sg-worker-0 "$T/stopped" 30 2>"$T/stall.err" &
stpid=$!
for _ in $(seq 100); do [ -s "$T/stopped" ] && break; sleep 0.05; done
check j_worker_stopped "host pid ${hp:-none} of $mp: $(cat "$T/stall.err")" test -s "$T/stopped"
restarted j_watchdog_restarted
check j_new_main_pid "$mp -> $(show MainPID)" test "$(show MainPID)" != "$mp"
check j_stall_logged "$(logtail)" ns grep -q '"event":"worker_stalled","worker":0,.*"watchdog":"withheld"' \
    /var/lib/spoofguard/spoofguardd.log
r=$(ns "$PY" "$NMC" play /run/spoofguard/milter.sock 1 /var/lib/sg-unit/genuine.eml 2>&1)
check j_mail_after_restart "$r $(logtail)" test "$r" = c
kill "$stpid" 2>/dev/null
wait "$stpid" 2>/dev/null
sc stop spoofguardd
sc reset-failed spoofguardd 2>/dev/null

# k. the signer wedged (stopped) while a message waits for its signature:
# the milter's loops all turn, the watchdog must still go unfed
sc start spoofguardd
mp=$(show MainPID)
hp=$(host_pid "$mp")
sp=$(pgrep -P "${hp:-0}" | head -1)
check k_signer_found "main $mp (host ${hp:-none}), signer ${sp:-none}" test -n "$sp"
kill -STOP "${sp:-0}" 2>/dev/null
# kill wakes one thread, which stops the others when it runs: until all
# have, another could still sign the message below (a loaded machine)
for ((i = 0; i < 200; i++)); do
    states=$(sed 's/.*) //; s/ .*//' /proc/"${sp:-0}"/task/*/stat 2>/dev/null | sort -u | tr -d '\n')
    [ "$states" = T ] && break
    sleep 0.025
done
check k_signer_stopped "thread states '$states'" test "$states" = T
timeout 20 nsenter -t "$P" -m -p "$PY" "$NMC" submit /run/spoofguard/milter.sock alice@ourco.test 1 >/dev/null 2>&1 &
subpid=$!
restarted k_watchdog_restarted
check k_stall_logged "$(logtail)" ns grep -q '"event":"signer_stalled","ms":[0-9]*,"watchdog":"withheld"' \
    /var/lib/spoofguard/spoofguardd.log
check k_old_signer_gone "signer $sp still there" test ! -e "/proc/$sp"
r=$(ns "$PY" "$NMC" submit /run/spoofguard/milter.sock alice@ourco.test 1 2>&1)
check k_signs_after_restart "$r $(logtail)" test "$r" = a
kill "$subpid" 2>/dev/null
wait "$subpid" 2>/dev/null
sc stop spoofguardd
ns rm /etc/systemd/system/spoofguardd.service.d/watchdog.conf
sc daemon-reload
sc reset-failed spoofguardd 2>/dev/null

# g. controls: the mistakes this test found make the start fail
control() { # NAME SED-EXPR
    unit "$2" | ns tee /etc/systemd/system/spoofguardd.service >/dev/null
    sc daemon-reload
    sc start spoofguardd 2>/dev/null
    check "g_control_$1" "$(show ActiveState) $(logtail)" test "$(show ActiveState)" != active
    sc stop spoofguardd 2>/dev/null
    sc reset-failed spoofguardd 2>/dev/null
}
control without_chown 's|^SystemCallFilter=@setuid @chown |SystemCallFilter=@setuid |'
ns rm -rf /var/lib/spoofguard/outbound
control without_state_dir 's|^ReadWritePaths=.*|ReadWritePaths=/run/spoofguard|'
# without the landlock calls in its allow list (as packaged until adv36
# F1) the unit starts, and the signer says Landlock is refused to it
unit '/^SystemCallFilter=landlock_/d' | ns tee /etc/systemd/system/spoofguardd.service >/dev/null
sc daemon-reload
sc start spoofguardd
check g_control_without_landlock "$(show ActiveState) $(logtail)" ns grep -q \
    '"event":"warning","why":"signer: Landlock refused (Operation not permitted' \
    /var/lib/spoofguard/spoofguardd.log
sc stop spoofguardd
sc reset-failed spoofguardd 2>/dev/null
# and a reload signalled from inside the sandbox reaches nobody
unit 's|^ExecReload=+|ExecReload=|' | ns tee /etc/systemd/system/spoofguardd.service >/dev/null
sc daemon-reload
sc start spoofguardd
n0=$(ns grep -c '"reloaded"' /var/lib/spoofguard/spoofguardd.log)
sc reload spoofguardd 2>/dev/null
sleep 0.5
check g_control_reload_in_sandbox "$(logtail)" \
    test "$(ns grep -c '"reloaded"' /var/lib/spoofguard/spoofguardd.log)" = "$n0"
sc stop spoofguardd
if ns grep -qE 'ERROR: AddressSanitizer|runtime error:' /var/lib/sg-unit/out; then
    bad "no_sanitizer_reports: $(ns grep -m2 -E 'ERROR|runtime error' /var/lib/sg-unit/out | tr '\n' ' ')"
else
    ok no_sanitizer_reports
fi

check host_tmp_untouched "the host's /tmp was emptied" test -e "$T/sentinel"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
