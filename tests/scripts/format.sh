#!/usr/bin/env bash
# The tree is clang-formatted (.clang-format): a diff here fails the test.
set -u
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$SRC" || exit 1
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src include tests fuzz bench -name '*.[ch]')
bad=$(for f in $files; do clang-format --dry-run "$f" 2>&1 | grep -q warning && echo "$f"; done)
n=$(echo "$files" | wc -w)
if [ -n "$bad" ]; then
    echo "not clang-formatted (run clang-format -i):"; echo "$bad"
    echo "$((n - $(echo "$bad" | wc -l))) passed, $(echo "$bad" | wc -l) failed"
    exit 1
fi
echo "$n passed, 0 failed"
