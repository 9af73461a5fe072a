#!/usr/bin/env bash
# docs/spoofguardd.md and the man page match the daemon's option table.
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SPOOFGUARDD=$(dirname "${SG_CLI:?}")/spoofguardd bash "$SRC/scripts/gen-docs.sh" --check &&
    { echo "1 passed, 0 failed"; exit 0; }
echo "0 passed, 1 failed"
exit 1
