#!/usr/bin/env bash
# Authoritative-only DNS for the e2e zones: one unbound, no recursion.
#
#   dns.sh start    make missing keys and zones, (re)start unbound
#   dns.sh stop
#   dns.sh status
#
# unbound listens on 127.0.0.1:$E2E_DNS_PORT (dig -p, c-ares host:port) and
# on $E2E_DNS_ADDR:53 (glibc and Postfix, through the resolv.conf that
# with-env.sh bind-mounts over /etc/resolv.conf).  Every
# $E2E_ZONES/NAME.zone is served for NAME: a test may add or rewrite zone
# files and run `dns.sh start` again (a restart takes ~50 ms).  Names outside
# the zones get NXDOMAIN at once; nothing is ever sent off the machine.
#
# Default zones (only written when missing):
#   ourco.test     our protected domain: SPF ip4:$E2E_INTERNAL -all, DMARC
#                  p=none (deliberately lax), DKIM rsa2026 (RSA 2048) and
#                  ed2026 (Ed25519, only with spoofguard keygen)
#   remote.test    genuine external domain: SPF ip4:$E2E_EXTERNAL -all,
#                  DMARC p=reject, DKIM r1 (tests sign with sign_remote)
#   attacker.test  the attacker's own domain: SPF ip4:$E2E_ATTACKER -all
#   rcpt.test      MX for the receiving Postfix
# plus PTRs: internal -> mx.ourco.test, external -> mx.remote.test,
# attacker -> mx.attacker.test; every mx.* host has "v=spf1 a -all" for HELO.
# Keys: $E2E_KEYS/DOMAIN.SELECTOR.private (0600) and .txt (its zone record).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

D=$E2E_DIR/dns

# --- key generation ------------------------------------------------------
# E2E_KEYGEN=auto (default: spoofguard if its CLI has `keygen`, else
# opendkim) | spoofguard | opendkim.  SG_CLI names the CLI (ctest sets it).
: "${SG_CLI:=$SG_SRC/build/spoofguard}"
: "${E2E_KEYGEN:=auto}"

# the help is read whole before grep: `cmd | grep -q` under pipefail is
# false when grep exits before cmd's last write
have_sg_keygen() { [ -x "$SG_CLI" ] && [[ $("$SG_CLI" keygen --help 2>&1) == *keygen* ]]; }

keygen_spoofguard() { # domain selector type tmpdir
    "$SG_CLI" keygen --domain "$1" --selector "$2" --type "$3" --out "$4" >"$4/$2.txt" 2>/dev/null
}

keygen_opendkim() { # domain selector type tmpdir
    [ "$3" = rsa ] || return 2 # opendkim-genkey makes RSA keys only
    opendkim-genkey -b 2048 -h sha256 -d "$1" -s "$2" -D "$4"
}

# keygen DOMAIN SELECTOR rsa|ed25519: status 2 when the chosen generator
# cannot make that type (the caller then leaves the selector out)
keygen() {
    local dom=$1 sel=$2 type=$3 gen=$E2E_KEYGEN tmp rc=0
    [ -f "$E2E_KEYS/$dom.$sel.private" ] && return 0
    if [ "$gen" = auto ]; then
        gen=opendkim
        have_sg_keygen && gen=spoofguard
    fi
    install -d -m 700 "$E2E_KEYS"
    tmp=$(mktemp -d "$E2E_KEYS/.gen.XXXXXX")
    "keygen_$gen" "$dom" "$sel" "$type" "$tmp" || rc=$?
    if [ "$rc" = 0 ]; then
        chmod 600 "$tmp/$sel.private"
        mv "$tmp/$sel.private" "$E2E_KEYS/$dom.$sel.private"
        mv "$tmp/$sel.txt" "$E2E_KEYS/$dom.$sel.txt"
        log "key $sel._domainkey.$dom ($type) by $gen"
    fi
    rm -rf "$tmp"
    return "$rc"
}

# --- zones ----------------------------------------------------------------
zone_head() { # domain
    printf '$ORIGIN %s.\n$TTL 60\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A %s\n' \
        "$1" "$E2E_DNS_ADDR"
}

zone_host() { # domain addr spf: apex and mx host at addr, MX, SPF for both
    printf '@ A %s\nmx A %s\n@ MX 10 mx\n@ TXT "%s"\nmx TXT "v=spf1 a -all"\n' "$2" "$2" "$3"
}

default_zones() {
    local z=$E2E_ZONES sel rc
    mkdir -p "$z"
    if [ ! -f "$z/$E2E_OURDOMAIN.zone" ]; then
        keygen "$E2E_OURDOMAIN" rsa2026 rsa
        rc=0
        keygen "$E2E_OURDOMAIN" ed2026 ed25519 || rc=$?
        [ "$rc" = 0 ] || [ "$rc" = 2 ] || die "ed25519 key generation failed"
        {
            zone_head "$E2E_OURDOMAIN"
            zone_host "$E2E_OURDOMAIN" "$E2E_INTERNAL" "v=spf1 ip4:$E2E_INTERNAL -all"
            echo '_dmarc TXT "v=DMARC1; p=none"'
            for sel in rsa2026 ed2026; do
                [ ! -f "$E2E_KEYS/$E2E_OURDOMAIN.$sel.txt" ] || cat "$E2E_KEYS/$E2E_OURDOMAIN.$sel.txt"
            done
        } >"$z/$E2E_OURDOMAIN.zone"
    fi
    if [ ! -f "$z/$E2E_REMOTE.zone" ]; then
        keygen "$E2E_REMOTE" r1 rsa
        {
            zone_head "$E2E_REMOTE"
            zone_host "$E2E_REMOTE" "$E2E_EXTERNAL" "v=spf1 ip4:$E2E_EXTERNAL -all"
            echo '_dmarc TXT "v=DMARC1; p=reject"'
            cat "$E2E_KEYS/$E2E_REMOTE.r1.txt"
        } >"$z/$E2E_REMOTE.zone"
    fi
    if [ ! -f "$z/attacker.test.zone" ]; then
        {
            zone_head attacker.test
            zone_host attacker.test "$E2E_ATTACKER" "v=spf1 ip4:$E2E_ATTACKER -all"
        } >"$z/attacker.test.zone"
    fi
    if [ ! -f "$z/$E2E_RCPT_DOMAIN.zone" ]; then
        {
            zone_head "$E2E_RCPT_DOMAIN"
            printf '@ MX 10 %s.\n' "$E2E_MX"
            [ "$E2E_MX" != "mx.$E2E_RCPT_DOMAIN" ] || echo 'mx A 127.0.0.1'
        } >"$z/$E2E_RCPT_DOMAIN.zone"
    fi
}

write_conf() {
    local z name
    {
        cat <<EOF
server:
  username: ""
  chroot: ""
  directory: "$D"
  pidfile: "$D/unbound.pid"
  do-daemonize: yes
  use-syslog: no
  logfile: "$D/unbound.log"
  interface: 127.0.0.1@$E2E_DNS_PORT
  interface: $E2E_DNS_ADDR@53
  do-ip6: no
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  # no validator: the test zones are unsigned and there is no trust anchor
  module-config: "iterator"
  # never recurse: every name outside our zones is NXDOMAIN at once
  local-zone: "." static
  local-data-ptr: "$E2E_INTERNAL mx.$E2E_OURDOMAIN"
  local-data-ptr: "$E2E_EXTERNAL mx.$E2E_REMOTE"
  local-data-ptr: "$E2E_ATTACKER mx.attacker.test"
EOF
        # A local-zone (the built-in static "test." of RFC 6761 included)
        # wins over an auth-zone, so each auth-zone needs a transparent
        # local-zone of the same name.
        for z in "$E2E_ZONES"/*.zone; do
            name=$(basename "$z" .zone)
            printf '  local-zone: "%s." transparent\n' "$name"
        done
        for z in "$E2E_ZONES"/*.zone; do
            name=$(basename "$z" .zone)
            printf 'auth-zone:\n  name: "%s."\n  zonefile: "%s"\n' "$name" "$z"
            printf '  for-downstream: yes\n  for-upstream: yes\n  fallback-enabled: no\n'
        done
        printf 'remote-control:\n  control-enable: no\n'
    } >"$D/unbound.conf"
    unbound-checkconf "$D/unbound.conf" >/dev/null
}

start() {
    stop
    default_zones
    write_conf
    # resolv.conf for with-env.sh's bind mount (glibc: port 53 only)
    printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$E2E_DNS_ADDR" >"$E2E_DIR/resolv.conf"
    : >"$D/unbound.log"
    # 9>&-: never let a daemon inherit with-env.sh's lock
    unbound -c "$D/unbound.conf" 9>&- || {
        tail -n5 "$D/unbound.log" >&2
        die "unbound failed to start"
    }
    local i
    for ((i = 0; i < 100; i++)); do
        if dig +short +time=1 +tries=1 -p "$E2E_DNS_PORT" @127.0.0.1 SOA "$E2E_RCPT_DOMAIN" | grep -q . &&
            dig +short +time=1 +tries=1 @"$E2E_DNS_ADDR" SOA "$E2E_RCPT_DOMAIN" | grep -q .; then
            log "unbound pid $(cat "$D/unbound.pid") on 127.0.0.1:$E2E_DNS_PORT and $E2E_DNS_ADDR:53"
            return 0
        fi
        sleep 0.05
    done
    tail -n5 "$D/unbound.log" >&2
    die "unbound does not answer for $E2E_RCPT_DOMAIN"
}

stop() { stop_pidfile "$D/unbound.pid" 5 unbound; }

case "${1:-}" in
start) start ;;
stop) stop ;;
status)
    if pid_alive "$(cat "$D/unbound.pid" 2>/dev/null)"; then echo running; else
        echo stopped
        exit 1
    fi
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 64
    ;;
esac
