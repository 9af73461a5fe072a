#!/usr/bin/env bash
# The configurations we hand out pass `spoofguardd -t` as they are: the
# sample in docs/examples (from the tree's root and from elsewhere, its
# tables found beside it) and the Debian package's default. A broken copy
# of the sample must fail, naming the missing table. -t's status is the
# start's verdict (0, 1 naming file:line, 3 for what this host lacks), and
# a listen beyond loopback is warned of, by -t and by one start.
set -u
CLI=${SG_CLI:?}
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
D=$(dirname "$CLI")/spoofguardd
T=$(mktemp -d /tmp/sg-exconf.XXXXXX)
# readable by the daemon's user: -t, as root, warns (on stderr, compared here) otherwise
chmod 755 "$T"
spid=
trap '[ -n "$spid" ] && kill -9 "$spid" 2>/dev/null; rm -rf "$T"' EXIT
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

# The samples name the packaged folders and user (/run/spoofguard, the
# user spoofguard): on a host without them -t exits 3, "this host cannot
# start it", the configuration itself being right; anything else fails.
# tcheck FILE: -t's standard output; its status 0, or 3 for those alone
tcheck() {
    "$D" -t -c "$1" 2>"$T/tcheck.err"
    local rc=$?
    [ $rc = 0 ] && return 0
    [ $rc = 3 ] && grep -q "this host cannot start it: \(listen: the socket's folder /run/spoofguard does not exist\|user: no user 'spoofguard'\)" "$T/tcheck.err" &&
        return 0
    cat "$T/tcheck.err" >&2
    return 1
}
out=$(cd "$SRC" && tcheck docs/examples/spoofguardd.conf 2>&1) &&
    grep -q "^sender_map $SRC/docs/examples/senders$" <<<"$out" &&
    ok "docs/examples/spoofguardd.conf from the tree's root" || bad "from the root: $out"
out=$(cd / && tcheck "$SRC/docs/examples/spoofguardd.conf" 2>&1) &&
    grep -q "^sender_map $SRC/docs/examples/senders$" <<<"$out" &&
    ok "docs/examples/spoofguardd.conf from /" || bad "from /: $out"
# stdout only: it is saved and loaded below (a clone in a private folder
# gets -t's warning that `user` cannot read it, on stderr)
out=$(tcheck "$SRC/debian/spoofguardd.conf" 2>"$T/packaged.err") &&
    grep -q "^listen unix:/run/spoofguard/milter.sock$" <<<"$out" &&
    grep -q "^user spoofguard$" <<<"$out" && grep -q "^failsafe tempfail$" <<<"$out" &&
    ok "debian/spoofguardd.conf (the packaged default)" ||
    bad "packaged default: $out $(cat "$T/packaged.err")"
# what -t prints is a configuration file: saved, it passes -t and prints
# the same (an option not set is a comment, not "name" without a value)
grep -v '^# .*configuration OK$' <<<"$out" >"$T/printed.conf"
out2=$(tcheck "$T/printed.conf") &&
    [ "$(grep -v 'configuration OK$' <<<"$out2")" = "$(cat "$T/printed.conf")" ] &&
    grep -q '^# authserv_id (not set)$' "$T/printed.conf" &&
    ok "the printed configuration loads and prints the same" || bad "printed configuration: $out2"
# -c relative and the tables beside it: the printed paths are absolute, so
# the printed configuration, saved beside the original and checked from
# elsewhere, loads the same tables (adv21 F7); no line ends in a space
mkdir "$T/rt"
cp "$SRC"/docs/examples/{spoofguardd.conf,senders,SigningTable,KeyTable} "$T/rt/"
out=$(cd "$T" && tcheck rt/spoofguardd.conf) &&
    grep -v '^# .*configuration OK$' <<<"$out" >"$T/rt/printed.conf" &&
    grep -q "^sender_map $T/rt/senders$" "$T/rt/printed.conf" &&
    out2=$(cd / && tcheck "$T/rt/printed.conf") &&
    [ "$(grep -v 'configuration OK$' <<<"$out2")" = "$(cat "$T/rt/printed.conf")" ] &&
    ! grep -q ' $' "$T/rt/printed.conf" &&
    ok "printed from a relative -c: absolute paths, loads from elsewhere" ||
    bad "relative -c: $out $(grep ' $' "$T/rt/printed.conf")"
# the outbound engine's lines are printed too, as lines that make the same
# policy again: a class starts as a copy of default when first named, so
# the classes come before default's own limits
cat >"$T/ob.conf" <<'EOC'
listen inet:127.0.0.1:8891
outbound_limit messages_per_minute 10
outbound_limit vip.messages_per_hour 5000
outbound_limit messages_per_day 100
outbound_account news@org.example vip
outbound_limit bounce_warn 0.07
outbound_internal_domain Org.example, sub.other.example
EOC
out=$("$D" -t -c "$T/ob.conf" 2>&1)
want='outbound_limit vip.messages_per_minute 10
outbound_limit vip.messages_per_hour 5000
outbound_account news@org.example vip
outbound_limit messages_per_minute 10
outbound_limit messages_per_day 100
outbound_limit bounce_warn 0.07
outbound_internal_domain org.example
outbound_internal_domain sub.other.example'
[ "$(grep '^outbound_\(limit\|account\|internal_domain\) ' <<<"$out")" = "$want" ] &&
    ok "-t prints the outbound engine's lines" || bad "outbound lines: $out"
grep -v '^# .*configuration OK$' <<<"$out" >"$T/ob-printed.conf"
out2=$("$D" -t -c "$T/ob-printed.conf" 2>&1) &&
    [ "$(grep -v 'configuration OK$' <<<"$out2")" = "$(cat "$T/ob-printed.conf")" ] &&
    ok "with outbound lines, the printed configuration loads and prints the same" ||
    bad "outbound round trip: $out2"
# the sample's tables move with it; without them -t fails and names the file
cp "$SRC/docs/examples/spoofguardd.conf" "$T/"
out=$("$D" -t -c "$T/spoofguardd.conf" 2>&1) && bad "passes without its tables" ||
    { grep -q "$T/senders: No such file" <<<"$out" && ok "missing table named" || bad "error: $out"; }
# -t's status is the start's verdict: 1 naming file:line for what the
# start refuses whatever the host, 3 for what this host lacks, never 0 for
# a configuration the daemon then refuses (adv37 F1, F2). `user nobody`:
# the default user `spoofguard` may be missing here, which is a 3 too.
# texit STATUS PATTERN LINE...: -t on those lines; its stderr holds PATTERN
# (an empty one: anything)
texit() {
    local want=$1 pat=$2 rc
    shift 2
    printf '%s\n' "user nobody" "$@" >"$T/x.conf"
    "$D" -t -c "$T/x.conf" >"$T/x.out" 2>"$T/x.err"
    rc=$?
    [ $rc = "$want" ] && { [ -z "$pat" ] || grep -q -- "$pat" "$T/x.err"; } && ok "-t exits $want: $*" ||
        bad "-t exits $rc, not $want: $*: $(cat "$T/x.err")"
}
texit 0 '' "listen inet:127.0.0.1:8891"
texit 1 "$T/x.conf:2: listen: 'inet:127.0.0.1' is not inet:HOST:PORT" "listen inet:127.0.0.1"
texit 1 "$T/x.conf:2: listen: .*a name is not looked up" "listen inet:mx.example.invalid:8891"
texit 1 "$T/x.conf:2: listen: .*the port must be 1 to 65535" "listen inet:127.0.0.1:93237"
texit 1 "$T/x.conf:2: listen: .*the port must be 1 to 65535" "listen inet:127.0.0.1:0"
texit 3 "$T/x.conf: this host cannot start it: listen_group: no group 'sg-no-such-group'" \
    "listen unix:$T/m.sock" "listen_group sg-no-such-group"
texit 3 "$T/x.conf: this host cannot start it: log_file: the folder $T/nodir does not exist" \
    "listen inet:127.0.0.1:8891" "log_file $T/nodir/sg.log"
# a refusal says where and why (adv37 F8: "dns_servers: invalid argument")
texit 1 "$T/x.conf:3: dns_servers: '192.0.2.53:0': the port must be 1 to 65535" \
    "listen inet:127.0.0.1:8891" "dns_servers 192.0.2.53:0"
texit 1 "$T/x.conf:3: dns_servers: '192.0.2.53:70000': the port must be 1 to 65535" \
    "listen inet:127.0.0.1:8891" "dns_servers 192.0.2.53:70000"
texit 1 "$T/x.conf:3: outbound_limit 'max_rcpts 5': unknown key 'max_rcpts'" \
    "listen inet:127.0.0.1:8891" "outbound_limit max_rcpts 5"
# a listen beyond loopback is taken (an MTA on another host) and said, by
# -t and at start, as a missing sender_map is: whoever connects can ask for
# mail to be signed (adv37)
exposed="listen is not a loopback address: whoever can connect can ask for mail to be signed"
texit 0 "warning: $T/x.conf: $exposed" "listen inet:0.0.0.0:8891"
texit 0 "warning: $T/x.conf: $exposed" "listen inet:[::]:8891"
texit 0 '' "listen inet:127.0.0.2:8891"
grep -q "not a loopback" "$T/x.err" && bad "-t warns for 127.0.0.2: $(cat "$T/x.err")" ||
    ok "-t does not warn for a loopback listen"
# the start says it too (a port the kernel says is free now; killed by pid)
read -r port <<<"$(/usr/bin/python3 "$SRC/tests/interop/milter_client.py" freeport 1)"
printf '%s\n' "listen inet:0.0.0.0:$port" "workers 1" "dns_servers 127.0.0.1:9" >"$T/start.conf"
[ "$(id -u)" = 0 ] && echo "user nobody" >>"$T/start.conf"
"$D" -c "$T/start.conf" 2>"$T/start.log" &
spid=$!
for _ in $(seq 50); do grep -q '"started"' "$T/start.log" && break; sleep 0.1; done
kill -TERM "$spid" 2>/dev/null
wait "$spid"
spid=
grep -q "{\"event\":\"warning\",\"why\":\"$exposed" "$T/start.log" &&
    ok "the start warns for a listen beyond loopback" || bad "start: $(cat "$T/start.log")"
# started as root, the signer runs as signer_user: one this host lacks is
# the host's, as a missing `user` is (adv37 F4: it was exit 1, no file)
if [ "$(id -u)" = 0 ]; then
    texit 3 "$T/x.conf: this host cannot start it: signer_user: no user 'sg-no-such-user'" \
        "listen inet:127.0.0.1:8891" "signer_user sg-no-such-user"
fi
echo "$pass passed, $fail failed"
[ $fail = 0 ]
