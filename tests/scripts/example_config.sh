#!/usr/bin/env bash
# The configurations we hand out pass `spoofguardd -t` as they are: the
# sample in docs/examples (from the tree's root and from elsewhere, its
# tables found beside it) and the Debian package's default. A broken copy
# of the sample must fail, naming the missing table.
set -u
CLI=${SG_CLI:?}
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
D=$(dirname "$CLI")/spoofguardd
T=$(mktemp -d /tmp/sg-exconf.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

out=$(cd "$SRC" && "$D" -t -c docs/examples/spoofguardd.conf 2>&1) &&
    grep -q "configuration OK" <<<"$out" && grep -q "^sender_map docs/examples/senders$" <<<"$out" &&
    ok "docs/examples/spoofguardd.conf from the tree's root" || bad "from the root: $out"
out=$(cd / && "$D" -t -c "$SRC/docs/examples/spoofguardd.conf" 2>&1) &&
    grep -q "^sender_map $SRC/docs/examples/senders$" <<<"$out" &&
    ok "docs/examples/spoofguardd.conf from /" || bad "from /: $out"
out=$("$D" -t -c "$SRC/debian/spoofguardd.conf" 2>&1) &&
    grep -q "^listen unix:/run/spoofguard/milter.sock$" <<<"$out" &&
    grep -q "^user spoofguard$" <<<"$out" && grep -q "^failsafe tempfail$" <<<"$out" &&
    ok "debian/spoofguardd.conf (the packaged default)" || bad "packaged default: $out"
# what -t prints is a configuration file: saved, it passes -t and prints
# the same (an option not set is a comment, not "name" without a value)
grep -v '^# .*configuration OK$' <<<"$out" >"$T/printed.conf"
out2=$("$D" -t -c "$T/printed.conf" 2>&1) &&
    [ "$(grep -v 'configuration OK$' <<<"$out2")" = "$(cat "$T/printed.conf")" ] &&
    grep -q '^# authserv_id (not set)$' "$T/printed.conf" &&
    ok "the printed configuration loads and prints the same" || bad "printed configuration: $out2"
# the sample's tables move with it; without them -t fails and names the file
cp "$SRC/docs/examples/spoofguardd.conf" "$T/"
out=$("$D" -t -c "$T/spoofguardd.conf" 2>&1) && bad "passes without its tables" ||
    { grep -q "$T/senders: No such file" <<<"$out" && ok "missing table named" || bad "error: $out"; }
echo "$pass passed, $fail failed"
[ $fail = 0 ]
