#!/usr/bin/env bash
# Install every build, test and benchmark dependency of spoofguard from
# Debian's packages (Debian 12). Idempotent; starts no system service.
#   install-deps.sh [--package]   --package: also what building the .debs needs
set -euo pipefail

# build
PKGS=(build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
      libssl-dev libc-ares-dev libuv1-dev libpsl-dev libidn2-dev libcmocka-dev libsystemd-dev
      libicu-dev libseccomp-dev libgumbo-dev libgmime-3.0-dev libmicrohttpd-dev libcrypt-dev
      libxml2-dev zlib1g-dev libsqlite3-dev
      liblmdb-dev libhiredis-dev)
# tests: DNS server, peers used as oracles, MTA for end-to-end tests
# redis-server: the outbound store shared by two spoofguardd (tests, bench)
PKGS+=(redis-server)
PKGS+=(unbound bind9-dnsutils python3 python3-spf python3-dkim python3-authres python3-nacl
       libmail-dkim-perl libcryptx-perl opendkim opendkim-tools
       postfix swaks sasl2-bin libsasl2-modules iproute2 openssl procps time
       prometheus)
# the viewer's browser test (tests/browser): headless Chromium driven by Selenium
PKGS+=(chromium chromium-driver python3-selenium)
# DMARC reports we send (tests/scripts/reports_send.sh): xmllint --schema, the
# sqlite3 shell to look at and age the send state
PKGS+=(libxml2-utils sqlite3)
# locales: localedef, for the library's answers under other locales
# (tests/scripts/locale_independence.sh)
PKGS+=(locales)
# benchmarks: the peers' C libraries
PKGS+=(libopendkim-dev libspf2-dev libmail-dmarc-perl opendmarc)
for opt in "$@"; do
    case $opt in
    # build and check the Debian packages (scripts/package-test.sh)
    --package) PKGS+=(debhelper dpkg-dev lintian systemd man-db) ;;
    # kept for old command lines: the browser packages are now always installed
    --browser) ;;
    *) echo "install-deps: unknown option $opt" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${PKGS[@]}"; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == *"ok installed" ]] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PKGS[@]} packages present"
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
[ "$(id -u)" = 0 ] || { echo "install-deps: run as root" >&2; exit 1; }

# Postfix must not write a live /etc/postfix config: tests run a private instance.
echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections

# Debian's postinst scripts would start unbound, postfix and opendkim system
# instances; policy-rc.d says no for the duration of the install.
created_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
fi
trap '[ -z "$created_policy" ] || rm -f /usr/sbin/policy-rc.d' EXIT

apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
echo "install-deps: done"
