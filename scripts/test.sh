#!/usr/bin/env bash
# Install what is missing, build, start the loopback services the tests use,
# and run every test with ctest.
#   test.sh              normal build (build/)
#   test.sh --sanitize   the same suite under ASan + UBSan (build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/install-deps.sh
bash scripts/build.sh "$@"
dir=build
if [ "${1:-}" = --sanitize ]; then dir=build-asan; export SG_SANITIZED=1; fi

# Some tests start spoofguardd with the packaged configuration, which runs as
# the accounts the package creates. On a machine that never installed the
# package, create them as debian/spoofguard.sysusers declares them (system
# accounts, no home, no login), so the tests see what a package install gives.
while read -r kind name _ rest; do
    [ "$kind" = u ] || continue
    getent passwd "$name" >/dev/null && continue
    [ "$(id -u)" = 0 ] || { echo "test.sh: account $name missing; run as root to create it" >&2; exit 1; }
    gecos=$(sed -E 's/^"([^"]*)".*/\1/' <<<"$rest")
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin --comment "$gecos" "$name"
    echo "test.sh: created system account $name"
done < debian/spoofguard.sysusers

# A private authoritative DNS server on loopback for the network-backend
# tests; stopped whatever happens.
state=$(mktemp -d /tmp/spoofguard-test.XXXXXX)
port=${SG_TEST_DNS_PORT:-25353}
cleanup() { bash "$root/tests/env/dns-server.sh" stop "$state/dns" >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT
bash tests/env/dns-server.sh start "$state/dns" "$port"
export SG_TEST_DNS=127.0.0.1:$port

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$dir" --output-on-failure -j"$(nproc)"
