#!/usr/bin/env bash
# spoofguard accounts replay (issue 14, "Deliver 5"): the contract. Output
# field names and values read with python3's json module, id echoed only
# when given, throttle/hold/block on known scenarios with the built-in
# defaults, --config and --internal-domain, stdin, and exit status 2 with
# the line named for bad input (not JSON, a missing field, time going
# backwards).
set -u
CLI=${SG_CLI:?SG_CLI must point at the spoofguard binary}
T=$(mktemp -d /tmp/sg-replay.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

# 40 messages in one minute: 30 go, then throttle (30 messages a minute);
# then one message to 501 recipients: recipients_message, a block; then a
# message of the blocked account: held; another account is unaffected.
/usr/bin/python3 - "$T/burst.jsonl" <<'PY'
import json, sys
t0 = 1767571200
with open(sys.argv[1], "w") as f:
    for i in range(40):
        ev = {"t": t0 + i, "login": "alice", "client_ip": "192.0.2.1",
              "mail_from": "alice@org.example", "rcpts": ["bob@partner.example"], "size": 100}
        if i % 2 == 0:
            ev["id"] = "m%d" % i
        f.write(json.dumps(ev) + "\n")
    f.write(json.dumps({"t": t0 + 120, "login": "alice", "client_ip": "192.0.2.1",
                        "mail_from": "alice@org.example", "size": 5, "id": "big",
                        "rcpts": ["r%d@far.example" % i for i in range(501)]}) + "\n")
    f.write(json.dumps({"t": t0 + 180, "login": "alice", "client_ip": "192.0.2.1",
                        "mail_from": "alice@org.example", "rcpts": ["bob@partner.example"],
                        "size": 5, "id": "after"}) + "\n")
    f.write(json.dumps({"t": t0 + 181, "login": "bob", "client_ip": "192.0.2.2",
                        "mail_from": "bob@org.example", "rcpts": ["x@partner.example"],
                        "size": 5, "id": "other"}) + "\n")
PY
"$CLI" accounts replay "$T/burst.jsonl" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && ok "replay exits 0" || bad "replay exit $rc: $(cat "$T/err")"
/usr/bin/python3 - "$T/out" <<'PY' && ok "output contract (fields, actions, reasons, id echo)" || bad "output contract"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
keys = {"t", "login", "action", "reasons", "score"}
for d in lines:
    assert keys <= set(d) <= keys | {"id"}, d
    assert d["action"] in ("throttle", "hold", "block"), d
    assert isinstance(d["t"], int) and isinstance(d["score"], (int, float)), d
    assert isinstance(d["reasons"], list) and d["reasons"], d
thr = [d for d in lines if d["action"] == "throttle"]
# messages 30..39 are throttled (the first 30 of the minute went)
assert [d["t"] - 1767571200 for d in thr] == list(range(30, 40)), thr
assert all(d["reasons"] == ["messages_minute"] for d in thr), thr
assert [d.get("id") for d in thr] == ["m30", None, "m32", None, "m34", None, "m36", None,
                                      "m38", None], thr
big = [d for d in lines if d.get("id") == "big"][0]
assert big["action"] == "block" and "recipients_message" in big["reasons"], big
after = [d for d in lines if d.get("id") == "after"][0]
assert after["action"] == "hold" and "account_blocked" in after["reasons"], after
assert not [d for d in lines if d["login"] == "bob"], lines
assert len(lines) == 12, len(lines)
PY

# the same from stdin
"$CLI" accounts replay - <"$T/burst.jsonl" >"$T/out2" 2>/dev/null
cmp -s "$T/out" "$T/out2" && ok "stdin (-) gives the same output" || bad "stdin differs"

# --config: a class with a higher minute limit for alice; other lines skipped
cat >"$T/conf" <<'C'
# a spoofguardd.conf: the daemon's own lines are skipped
milter_socket inet:8891@127.0.0.1
outbound_limit fast.messages_per_minute 100
outbound_account alice fast
C
"$CLI" accounts replay --config "$T/conf" "$T/burst.jsonl" >"$T/out3" 2>"$T/err"
if [ $? -eq 0 ] && ! grep -q '"throttle"' "$T/out3" && grep -q '"id":"big"' "$T/out3"; then
    ok "--config: a class lifts the minute limit, the other limits stay"
else bad "--config: $(cat "$T/err" "$T/out3" | head -5)"; fi
echo 'outbound_limit messages_per_minute lots' >"$T/badconf"
"$CLI" accounts replay --config "$T/badconf" "$T/burst.jsonl" >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 2 ] && grep -q 'badconf:1' "$T/err" && ok "bad --config line: exit 2, file:line named" ||
    bad "bad config: exit $rc $(cat "$T/err")"

# --internal-domain: a fan-out to 60 first-time colleagues on an account
# past its learning period is internal_fanout only when the domain is ours
/usr/bin/python3 - "$T/lateral.jsonl" <<'PY'
import json, sys
t0 = 1767571200
with open(sys.argv[1], "w") as f:
    for day in range(16):
        for i in range(6):
            f.write(json.dumps({"t": t0 + day * 86400 + 36000 + i * 600, "login": "carol",
                                "client_ip": "192.0.2.3", "mail_from": "carol@corp.example",
                                "rcpts": ["dave@corp.example"], "size": 10}) + "\n")
    t = t0 + 16 * 86400 + 36000
    for i in range(0, 60, 5):
        f.write(json.dumps({"t": t + i * 10, "login": "carol", "client_ip": "192.0.2.3",
                            "mail_from": "carol@partner.example",
                            "rcpts": ["u%d@corp.example" % j for j in range(i, i + 5)],
                            "size": 10, "id": "l%d" % i}) + "\n")
PY
"$CLI" accounts replay --internal-domain corp.example "$T/lateral.jsonl" >"$T/out4" 2>&1
grep -q '"internal_fanout"' "$T/out4" && ok "--internal-domain: internal_fanout" ||
    bad "--internal-domain: $(head -3 "$T/out4")"
"$CLI" accounts replay --internal-domain other.example "$T/lateral.jsonl" >"$T/out5" 2>&1
! grep -q '"internal_fanout"' "$T/out5" && grep -q '"new_recipients"' "$T/out5" &&
    ok "other domains are external: new_recipients instead" || bad "external: $(head -3 "$T/out5")"

# a delivery-status report that tips the bounce rate: a block line
/usr/bin/python3 - "$T/dsn.jsonl" <<'PY'
import json, sys
t0 = 1767571200
with open(sys.argv[1], "w") as f:
    f.write(json.dumps({"t": t0, "login": "erin", "client_ip": "192.0.2.4",
                        "mail_from": "erin@org.example", "size": 10,
                        "rcpts": ["r%d@far.example" % i for i in range(100)]}) + "\n")
    for i in range(10):
        f.write(json.dumps({"t": t0 + 60 + i, "dsn_for": "erin", "status": "5.1.1",
                            "rcpt": "r%d@far.example" % i, "id": "d%d" % i}) + "\n")
PY
"$CLI" accounts replay "$T/dsn.jsonl" >"$T/out6" 2>&1
/usr/bin/python3 -c '
import json,sys
l=[json.loads(x) for x in open(sys.argv[1])]
assert len(l)==1 and l[0]["login"]=="erin" and l[0]["action"]=="block" and l[0]["reasons"]==["bounce_rate"] and l[0]["id"]=="d9", l
' "$T/out6" && ok "DSN: the tenth hard bounce of 100 blocks (bounce_rate)" || bad "DSN: $(cat "$T/out6")"

# bad input: exit 2, the line named, nothing after it decided
expect_bad() { # name, line-number, message, file
    "$CLI" accounts replay "$4" >/dev/null 2>"$T/err"
    local rc=$?
    if [ $rc -eq 2 ] && grep -q "line $2: .*$3" "$T/err"; then ok "bad input: $1"
    else bad "bad input $1: exit $rc, $(cat "$T/err")"; fi
}
good='{"t":10,"login":"a","client_ip":"192.0.2.1","mail_from":"a@b.example","rcpts":[],"size":1}'
printf '%s\nnot json\n' "$good" >"$T/b1"
expect_bad "not JSON" 2 "not JSON" "$T/b1"
printf '%s\n%s\n{"t":11,"login":"a","client_ip":"x","mail_from":"","size":1}\n' "$good" "$good" >"$T/b2"
expect_bad "missing field" 3 'missing field "rcpts"' "$T/b2"
printf '%s\n{"t":9,"dsn_for":"a","status":"5.1.1"}\n' "$good" >"$T/b3"
expect_bad "time going backwards" 2 "time goes backwards" "$T/b3"
printf '{"t":"10","login":"a"}\n' >"$T/b4"
expect_bad "t not a number" 1 '"t" must be a number' "$T/b4"

# accounts list on a store (LMDB, no daemon): a login is what the MTA's SASL
# layer handed over, keyed lower-cased; in the text form its control
# characters are '?'
# spoofguardd makes its store; here an empty LMDB environment stands in
# for it (accounts refuses a --store where none is: adv26 CLI-7)
mkdir "$T/store"
printf '#include <lmdb.h>\nint main(int c, char **v) { MDB_env *e; (void)c;\n'\
'return mdb_env_create(&e) || mdb_env_open(e, v[1], 0, 0600); }\n' >"$T/mkstore.c"
cc -o "$T/mkstore" "$T/mkstore.c" -llmdb && "$T/mkstore" "$T/store" || bad "an empty LMDB store"
for c in "block alice@corp.example" "release alice@corp.example" "list" "show alice@corp.example"; do
    # shellcheck disable=SC2086
    "$CLI" accounts $c --store "$T/stor" >/dev/null 2>"$T/typo.err"
    rc=$?
    [ $rc = 3 ] && [ ! -e "$T/stor" ] && grep -q 'no store there' "$T/typo.err" &&
        ok "accounts $c on a mistyped --store: exit 3, none made" ||
        bad "accounts $c --store typo: exit $rc, $(ls "$T") $(cat "$T/typo.err")"
done
"$CLI" accounts block $'ev\e[2Jil\xc2\x9b@corp.example' --store "$T/store" >/dev/null &&
    "$CLI" accounts block bob@corp.example --store "$T/store" >/dev/null &&
    "$CLI" accounts list --store "$T/store" >"$T/list" 2>&1 || bad "accounts block/list: $(cat "$T/list")"
if grep -q '^ev?\[2jil?@corp.example  *BLOCKED' "$T/list" && grep -q '^bob@corp.example  *BLOCKED' "$T/list" &&
    ! LC_ALL=C grep -qP '[\x01-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' "$T/list"; then
    ok "accounts list, text: a login's control characters shown as ?"
else bad "accounts list: $(cat -v "$T/list")"; fi
"$CLI" accounts list --json --store "$T/store" | grep -qF '"account":"ev\u001b[2jil' &&
    ok "accounts list --json keeps the login, escaped" || bad "accounts list --json"

# usage
"$CLI" accounts replay >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok "no file: usage, exit 2" || bad "no file: exit $rc"
"$CLI" accounts replay /nonexistent/events >/dev/null 2>&1; rc=$?
[ $rc -eq 3 ] && ok "unreadable file: exit 3" || bad "unreadable: exit $rc"
"$CLI" accounts replay --help | grep -q 'internal-domain' && ok "--help lists the options" ||
    bad "--help"
"$CLI" accounts --help >/dev/null && ok "accounts --help" || bad "accounts --help"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
