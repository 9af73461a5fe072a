#!/usr/bin/env bash
# The CLI's option handling, the same for every command (one getopt_long
# table each, src/cli): --help in one format, --version (top level and per
# command) printing the project version from CMakeLists.txt, exit 2 for an
# unknown option, a missing value or a stray operand; "--" ends options.
# spoofguard verify takes any number of files and folders: 5,000 file
# arguments, xargs, in memory that does not grow with their count.
set -u
CLI=${SG_CLI:?SG_CLI must point at the spoofguard binary}
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$(mktemp -d /tmp/sg-cliopt.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
zone=$SRC/samples/sample.zone
msgs=$SRC/samples/messages

version=$(sed -n 's/^project(spoofguard VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
[ -n "$version" ] || bad "no version in CMakeLists.txt"
[ "$("$CLI" --version)" = "spoofguard $version" ] && ok "spoofguard --version" ||
    bad "--version: $("$CLI" --version)"

for cmd in verify spf dkim-verify sign keygen arc-seal; do
    out=$("$CLI" $cmd --help); rc=$?
    [ $rc = 0 ] && [ "$(echo "$out" | head -1 | cut -d' ' -f1-3)" = "usage: spoofguard $cmd" ] &&
        echo "$out" | grep -qx 'options:' &&
        echo "$out" | grep -qE '^  -h, --help +print this help and exit$' &&
        echo "$out" | grep -qE '^      --version +print the version and exit$' &&
        ok "$cmd --help: the common format" || bad "$cmd --help (exit $rc): $out"
    # every option line: two spaces, the option, its help
    n=$(echo "$out" | sed -n '/^options:/,/^$/p' | grep -cvE '^(options:|  (-h, |    )--[a-z-]+( [^ ]+)?( +[^ ].*)?|  +[^ -].*|)$')
    [ "$n" = 0 ] && ok "$cmd --help: option lines" || bad "$cmd --help: $n odd option lines"
    [ "$("$CLI" $cmd -h)" = "$out" ] && ok "$cmd -h = --help" || bad "$cmd -h"
    [ "$("$CLI" $cmd --version)" = "spoofguard $version" ] && ok "$cmd --version" ||
        bad "$cmd --version"
    "$CLI" $cmd --no-such-option >/dev/null 2>"$T/err"; rc=$?
    [ $rc = 2 ] && grep -q "spoofguard $cmd: unknown option --no-such-option" "$T/err" &&
        ok "$cmd: unknown option, exit 2" || bad "$cmd unknown option: exit $rc $(cat "$T/err")"
done
for c in "verify --ip" "spf --ip" "dkim-verify --now" "sign --key" "keygen --domain" "verify --zone"; do
    "$CLI" $c >/dev/null 2>"$T/err"; rc=$?
    [ $rc = 2 ] && grep -q "needs a value" "$T/err" && ok "$c: missing value, exit 2" ||
        bad "$c missing value: exit $rc $(cat "$T/err")"
done
for c in "verify --now soon" "verify --dns-timeout 0" "dkim-verify --max-signatures 65" \
    "keygen --domain d --selector s --bits 512" "sign --domain d --selector s --key k --expire -1" \
    "arc-seal --domain d --selector s --key k --now soon" "arc-seal --domain d --selector s --key k"; do
    "$CLI" $c </dev/null >/dev/null 2>&1; rc=$?
    [ $rc = 2 ] && ok "$c: exit 2" || bad "$c: exit $rc"
done
"$CLI" dkim-verify a b >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && ok "dkim-verify: one message, exit 2" || bad "dkim-verify a b: exit $rc"
"$CLI" spf --ip 192.0.2.1 --mail-from a@b stray >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && ok "spf: stray operand, exit 2" || bad "spf stray: exit $rc"
"$CLI" --no-such-option >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && ok "top level: unknown option, exit 2" || bad "top level: exit $rc"

# options after operands, and "--" before a file whose name starts with "-"
cp "$msgs/forged.eml" "$T/-forged.eml"
out=$(cd "$T" && "$CLI" verify "$msgs/genuine.eml" --zone "$zone" --json -- -forged.eml)
[ "$(echo "$out" | grep -c '"verdict"')" = 2 ] && ok "options after operands; -- ends options" ||
    bad "--: $out"
# options read by the parser itself (--zone) may be repeated
printf '$ORIGIN other.example.\n$TTL 60\n@ IN SOA ns hostmaster 1 3600 600 86400 60\n@ IN TXT "x"\n' >"$T/extra.zone"
out=$("$CLI" verify --zone "$T/extra.zone" --zone "$zone" --json "$msgs/forged.eml")
echo "$out" | grep -q '"verdict":"forged"' && ok "--zone twice" || bad "--zone twice: $out"

# any number of files: 5,000 arguments, each a message
mkdir "$T/many"
# made in one process: 5,000 `ln -s` processes took 20 s
/usr/bin/python3 -c 'import os, sys
for i in range(1, 5001):
    os.symlink(sys.argv[1], "%s/m%04d.eml" % (sys.argv[2], i))' "$msgs/forged.eml" "$T/many" ||
    bad "could not make 5000 links"
args=("$T"/many/*.eml)
"$CLI" verify --zone "$zone" --json "${args[@]}" >"$T/out" 2>"$T/err"; rc=$?
n=$(grep -c '"verdict":"forged"' "$T/out")
[ $rc = 0 ] && [ "$n" = 5000 ] && ok "5000 file arguments: 5000 verdicts" ||
    bad "5000 files: exit $rc, $n verdicts: $(head -c 300 "$T/err")"
# in argument order, each named
[ "$(sed -n '4999p' "$T/out" | grep -o '"file":"[^"]*"')" = "\"file\":\"$T/many/m4999.eml\"" ] &&
    ok "5000 files: in order, named" || bad "order: $(sed -n '4999p' "$T/out" | head -c 200)"
# the same through xargs (several invocations, each with many files)
n=$(printf '%s\0' "${args[@]}" | xargs -0 -n 2000 "$CLI" verify --zone "$zone" --json |
    grep -c '"verdict":"forged"')
[ "$n" = 5000 ] && ok "xargs -n 2000: 5000 verdicts" || bad "xargs: $n"
n=$(find "$T/many" -name '*.eml' -print0 | xargs -0 "$CLI" verify --zone "$zone" | grep -c '^verdict: forged')
[ "$n" = 5000 ] && ok "find | xargs: 5000 verdicts" || bad "find | xargs: $n"
# a folder and files together
n=$("$CLI" verify --zone "$zone" --json "$T/many" "$msgs/genuine.eml" | grep -c '"verdict"')
[ "$n" = 5001 ] && ok "folder + file: 5001 verdicts" || bad "folder + file: $n"
# one unreadable file among many: exit 3, the others still checked
"$CLI" verify --zone "$zone" --json "${args[@]:0:10}" "$T/missing.eml" "${args[@]:10:10}" \
    >"$T/out" 2>/dev/null; rc=$?
n=$(grep -c '"verdict"' "$T/out")
[ "$rc" = 3 ] && [ "$n" = 20 ] && ok "unreadable among many: exit 3, 20 verdicts" ||
    bad "unreadable among many: exit $rc, $n verdicts"

# bounded memory: the peak RSS for 5,000 files is within 2 MiB of that for 50
# output that cannot be written is no success (adv26 CLI-1): each command's
# stdout is checked at exit; keygen keeps no key whose record was lost
for c in "verify --zone $zone $msgs/genuine.eml" "verify --json --zone $zone $msgs/genuine.eml" \
    "spf --ip 192.0.2.1 --mail-from a@bank.example --zone $zone" \
    "dkim-verify --zone $zone $msgs/genuine.eml" "--help" "verify --help"; do
    # shellcheck disable=SC2086
    "$CLI" $c >/dev/full 2>"$T/full.err"
    rc=$?
    [ $rc = 4 ] && grep -q 'could not be written: No space left' "$T/full.err" &&
        ok "$c > /dev/full: exit 4, said" || bad "$c > /dev/full: exit $rc, $(cat "$T/full.err")"
done
( trap '' PIPE; "$CLI" verify --json --zone "$zone" "${args[@]:0:2000}" 2>"$T/pipe.err" | head -c 10 >/dev/null
  echo "${PIPESTATUS[0]}" >"$T/pipe.rc" )
[ "$(cat "$T/pipe.rc")" = 4 ] && grep -q 'Broken pipe' "$T/pipe.err" &&
    ok "a reader that went away, SIGPIPE ignored: exit 4" ||
    bad "closed pipe: exit $(cat "$T/pipe.rc"), $(head -c 300 "$T/pipe.err")"
mkdir -m 700 "$T/kg"
"$CLI" keygen --domain ex.test --selector s1 --out "$T/kg" >/dev/full 2>"$T/kg.err"
rc=$?
[ $rc = 4 ] && [ ! -e "$T/kg/s1.private" ] && grep -q 'record could not be written' "$T/kg.err" &&
    ok "keygen > /dev/full: exit 4, no key left" || bad "keygen > /dev/full: exit $rc, $(ls "$T/kg")"
"$CLI" keygen --domain ex.test --selector s1 --out "$T/kg" >"$T/kg.rr" 2>/dev/null &&
    grep -q '^s1._domainkey.ex.test' "$T/kg.rr" && ok "keygen again: the key and its record" ||
    bad "keygen after a lost record"

peak() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
if [ -x /usr/bin/time ]; then
    small=$(peak "$CLI" verify --zone "$zone" --json "${args[@]:0:50}")
    big=$(peak "$CLI" verify --zone "$zone" --json "${args[@]}")
    if [ -n "${SG_SANITIZED:-}" ]; then
        ok "memory: not measured under sanitizers (small $small KiB, big $big KiB)"
    elif [ $((big - small)) -le 2048 ]; then
        ok "memory: 50 files $small KiB, 5000 files $big KiB"
    else
        bad "memory grows with the file count: 50 files $small KiB, 5000 files $big KiB"
    fi
fi

echo "$pass passed, $fail failed"
[ $fail = 0 ]
