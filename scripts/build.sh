#!/usr/bin/env bash
# Configure and build spoofguard.
#   build.sh [--sanitize] [--fuzz] [--bench]   -> build/, build-asan/, build-fuzz/
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build
args=(-DSG_WERROR=ON) # development and CI: a new warning is an error
for a in "$@"; do
    case "$a" in
        --sanitize) dir=build-asan; args+=(-DSG_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug) ;;
        --fuzz) dir=build-fuzz; args+=(-DSG_FUZZ=ON -DCMAKE_C_COMPILER=clang) ;;
        --bench) args+=(-DSG_BENCH=ON) ;;
        *) echo "build.sh: unknown option $a" >&2; exit 2 ;;
    esac
done
cmake -S . -B "$dir" "${args[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)" 2>&1 | grep -vE '^\[ *[0-9]+%\]|^(Consolidate|Scanning)' || true
# grep ate the exit status: check the build for real
cmake --build "$dir" -j"$(nproc)" >/dev/null
echo "build.sh: built $dir"
