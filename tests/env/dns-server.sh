#!/usr/bin/env bash
# A local authoritative-only DNS server for the network resolver tests.
#
#   dns-server.sh start DIR PORT   start unbound on 127.0.0.1:PORT (UDP+TCP),
#                                  wait until it answers; prints the address
#   dns-server.sh stop DIR [PORT]  stop it (by the pidfile in DIR)
#   dns-server.sh status DIR [PORT]
#
# Serves tests/data/dns/net-test.zone as the zone "nettest.test." (or
# $SG_DNS_ZONE_FILE as $SG_DNS_ZONE_NAME, whose SOA names hostmaster) and never
# recurses: every other name is NXDOMAIN at once ("." is a static local
# zone), so nothing leaves the machine. Config, pidfile, log and a copy of
# the zone live in DIR (created if missing). Then run, for instance:
#   SG_TEST_DNS=127.0.0.1:PORT build/test_dns_net
#
# Needs unbound (Debian 12: unbound 1.17) and dig (bind9-dnsutils). Works as
# root with no system unbound: no chroot, no privilege drop, no control
# socket, no trust anchor, nothing outside DIR.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# another zone: SG_DNS_ZONE_NAME=test SG_DNS_ZONE_FILE=my.zone dns-server.sh start ...
ZONE_NAME=${SG_DNS_ZONE_NAME:-nettest.test}
ZONE_SRC=${SG_DNS_ZONE_FILE:-$HERE/../data/dns/net-test.zone}

die() { echo "dns-server.sh: $*" >&2; exit 1; }

usage() { echo "usage: $0 start|stop|status DIR [PORT]" >&2; exit 64; }

[ $# -ge 2 ] || usage
CMD=$1
DIR=$2
PORT=${3:-}
case "$DIR" in
    /*) ;;
    *) DIR=$(pwd)/$DIR ;;
esac
PIDFILE=$DIR/unbound.pid
CONF=$DIR/unbound.conf

# True while PID runs. A zombie counts as gone: PID 1 on some test machines
# reaps late, and kill -0 keeps succeeding on a zombie.
pid_alive() {
    local st
    [ -n "$1" ] && [ -d "/proc/$1" ] || return 1
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$st" != Z ]
}

# The PID in our pidfile, only if that process is still our unbound (a stale
# pidfile must never make us signal someone else).
our_pid() {
    local p
    [ -f "$PIDFILE" ] || return 1
    p=$(tr -dc 0-9 < "$PIDFILE")
    pid_alive "$p" || return 1
    tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$CONF" || return 1
    echo "$p"
}

answers() { # the server gives our SOA
    dig +time=1 +tries=1 +short -p "$PORT" @127.0.0.1 "$ZONE_NAME." SOA 2>/dev/null |
        grep -q "hostmaster.$ZONE_NAME"
}

stop() {
    local p i
    if p=$(our_pid); then
        kill "$p" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do pid_alive "$p" || break; sleep 0.05; done
        if pid_alive "$p"; then kill -9 "$p" 2>/dev/null || true; fi
    fi
    rm -f "$PIDFILE"
}

write_conf() {
    # Pitfalls (unbound 1.17): "test." is a built-in static local zone (RFC
    # 6761) and a local zone wins over an auth-zone, so our zone needs a
    # transparent local zone on top; without module-config "iterator" the
    # validator wants a trust anchor.
    cat > "$CONF" <<EOF
server:
  username: ""
  chroot: ""
  directory: "$DIR"
  pidfile: "$PIDFILE"
  logfile: "$DIR/unbound.log"
  use-syslog: no
  do-daemonize: yes
  verbosity: 1
  num-threads: 1
  so-reuseport: no
  interface: 127.0.0.1@$PORT
  port: $PORT
  do-ip6: no
  do-udp: yes
  do-tcp: yes
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  local-zone: "." static
  local-zone: "$ZONE_NAME." transparent
auth-zone:
  name: "$ZONE_NAME."
  zonefile: "$DIR/$ZONE_NAME.zone"
  for-downstream: yes
  for-upstream: yes
  fallback-enabled: no
remote-control:
  control-enable: no
EOF
}

start() {
    [ -n "$PORT" ] || usage
    case "$PORT" in *[!0-9]*) die "bad port: $PORT" ;; esac
    command -v unbound >/dev/null || die "unbound is not installed"
    command -v dig >/dev/null || die "dig is not installed (bind9-dnsutils)"
    [ -f "$ZONE_SRC" ] || die "zone file missing: $ZONE_SRC"
    mkdir -p "$DIR"
    stop
    cp "$ZONE_SRC" "$DIR/$ZONE_NAME.zone"
    write_conf
    unbound-checkconf "$CONF" >/dev/null || die "unbound-checkconf failed on $CONF"
    : > "$DIR/unbound.log"
    if ! unbound -c "$CONF"; then
        tail -5 "$DIR/unbound.log" >&2
        die "unbound failed to start"
    fi
    local i
    for ((i = 0; i < 100; i++)); do
        answers && break
        sleep 0.05
    done
    if ! answers; then
        tail -5 "$DIR/unbound.log" >&2
        stop
        die "unbound does not answer on 127.0.0.1:$PORT"
    fi
    echo "127.0.0.1:$PORT"
}

case "$CMD" in
    start) start ;;
    stop) stop ;;
    status)
        if our_pid >/dev/null; then echo running; else echo stopped; exit 1; fi
        ;;
    *) usage ;;
esac
