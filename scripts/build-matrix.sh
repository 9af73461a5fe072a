#!/usr/bin/env bash
# Build and test spoofguard in every configuration a user or packager may
# pick, each in its own folder under build-matrix/, with -Werror on:
#   gcc-Debug gcc-Release gcc-RelWithDebInfo gcc-MinSizeRel
#   clang-Debug clang-Release clang-RelWithDebInfo clang-MinSizeRel
#   dpkg-buildflags   (gcc, Debian's CFLAGS/CPPFLAGS/LDFLAGS, hardening=+all,
#                      CMAKE_BUILD_TYPE=None as debhelper does)
#
#   build-matrix.sh [--tests all|unit|none] [CONFIG...]   (default: all nine)
#
# --tests all runs the whole ctest suite in each folder; unit (the default)
# runs the cmocka unit tests (ctest -L unit), which is where optimisation
# and NDEBUG differences show. Prints one line per configuration (build
# seconds, test result) and exits non-zero if any build or test failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tests=unit
configs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --tests) tests=${2:?}; shift ;;
        --tests=*) tests=${1#--tests=} ;;
        -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
        -*) echo "build-matrix.sh: unknown option $1" >&2; exit 2 ;;
        *) configs+=("$1") ;;
    esac
    shift
done
case "$tests" in all | unit | none) ;; *) echo "build-matrix.sh: --tests all|unit|none" >&2; exit 2 ;; esac
if [ ${#configs[@]} -eq 0 ]; then
    for cc in gcc clang; do
        for t in Debug Release RelWithDebInfo MinSizeRel; do configs+=("$cc-$t"); done
    done
    configs+=(dpkg-buildflags)
fi

# The network-resolver tests ask a private DNS server on loopback (as
# scripts/test.sh does); one for the whole matrix.
state=$(mktemp -d /tmp/spoofguard-matrix.XXXXXX)
port=${SG_TEST_DNS_PORT:-25353}
cleanup() { bash "$root/tests/env/dns-server.sh" stop "$state/dns" >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT
if [ "$tests" != none ]; then
    bash tests/env/dns-server.sh start "$state/dns" "$port" >/dev/null
    export SG_TEST_DNS=127.0.0.1:$port
fi

# One configuration: configure + build + test in a subshell, so that the
# dpkg-buildflags environment stays there.
run_config() (
    local name=$1 dir=build-matrix/$1 args=(-DSG_WERROR=ON)
    case "$name" in
        gcc-* | clang-*) args+=(-DCMAKE_C_COMPILER="${name%%-*}" -DCMAKE_BUILD_TYPE="${name#*-}") ;;
        dpkg-buildflags)
            eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
            # CMake reads CFLAGS and LDFLAGS but not CPPFLAGS (debhelper joins them too)
            export CFLAGS="$CFLAGS $CPPFLAGS" LDFLAGS
            args+=(-DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=None) ;;
        *) echo "build-matrix.sh: unknown configuration $name" >&2; return 2 ;;
    esac
    rm -rf "$dir"
    local t0=$SECONDS
    if ! { cmake -S . -B "$dir" "${args[@]}" && cmake --build "$dir" -j"$(nproc)"; } \
        > "$state/$name.build.log" 2>&1; then
        tail -30 "$state/$name.build.log" >&2
        printf '%-22s %5ss  %s\n' "$name" $((SECONDS - t0)) "BUILD FAILED"
        return 1
    fi
    local built=$((SECONDS - t0)) sel=() result=skipped
    [ "$tests" = unit ] && sel=(-L unit)
    if [ "$tests" != none ]; then
        t0=$SECONDS
        if ctest --test-dir "$dir" "${sel[@]}" -j"$(nproc)" --output-on-failure \
            > "$state/$name.test.log" 2>&1; then
            result="pass ($(grep -Eo 'out of [0-9]+' "$state/$name.test.log" | tail -1 | cut -d' ' -f3) tests, $((SECONDS - t0))s)"
        else
            grep -E 'tests passed|\*\*\*|Failed|FAIL' "$state/$name.test.log" | tail -30 >&2
            printf '%-22s %5ss  %s\n' "$name" "$built" "TESTS FAILED"
            return 1
        fi
    fi
    printf '%-22s %5ss  %s\n' "$name" "$built" "$result"
)

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
printf '%-22s %6s  %s\n' configuration build "tests ($tests)"
status=0
for c in "${configs[@]}"; do run_config "$c" || status=1; done
[ $status = 0 ] && echo "build-matrix: all ${#configs[@]} configurations passed" ||
    echo "build-matrix: FAILED" >&2
exit $status
