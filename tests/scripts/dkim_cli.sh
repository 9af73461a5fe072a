#!/bin/bash
# DKIM from the command line: keygen -> sign -> dkim-verify, the
# published RFC 8463 example, tampering, key-file permissions, and the
# streaming memory bound (a 50 MiB message signed and verified with a peak
# RSS under 16 MiB).
#
# Env (set by ctest): SG_CLI; SG_CONFORMANCE_DIR overrides tests/conformance.
set -u
CLI=${SG_CLI:?SG_CLI not set}
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CONF=${SG_CONFORMANCE_DIR:-${SG_CONFORMANCE_DEFAULT:-$SRC/tests/conformance}}/dkim
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
expect_eq() { # what got want
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got [$2] want [$3]"; fi
}
results() { "$CLI" dkim-verify "$@" | awk '{print $1}' | paste -sd, -; }

# --- published vector -------------------------------------------------------
expect_eq "rfc8463 verifies" \
    "$(results --zone "$CONF/rfc8463/zone.tsv" --now 1528637909 "$CONF/rfc8463/signed.eml")" "pass,pass"
expect_eq "rfc8463 from stdin" \
    "$(results --zone "$CONF/rfc8463/zone.tsv" --now 1528637909 - < "$CONF/rfc8463/signed.eml")" "pass,pass"
expect_eq "unsigned message" \
    "$("$CLI" dkim-verify --zone "$CONF/rfc8463/zone.tsv" "$CONF/rfc8463/unsigned.eml")" \
    "none (no DKIM signature)"
json=$("$CLI" dkim-verify --json --zone "$CONF/rfc8463/zone.tsv" --now 1528637909 "$CONF/rfc8463/signed.eml")
case $json in
'[{"domain":"football.example.com","selector":"brisbane","algorithm":"ed25519-sha256","result":"pass"'*) ok "json" ;;
*) bad "json: $json" ;;
esac

# --- keygen ---------------------------------------------------------------------
"$CLI" keygen --domain example.com --selector rsa --out "$T" > "$T/zone.txt" 2>/dev/null || bad "keygen rsa"
"$CLI" keygen --domain example.com --selector ed --type ed25519 --out "$T" >> "$T/zone.txt" 2>/dev/null || bad "keygen ed25519"
expect_eq "key mode 0600" "$(stat -c %a "$T/rsa.private") $(stat -c %a "$T/ed.private")" "600 600"
"$CLI" keygen --domain example.com --selector ed --type ed25519 --out "$T" > /dev/null 2>&1
expect_eq "keygen refuses to overwrite" "$?" "3"
# a folder that is not there: the cause, not "I/O error" (adv26 CLI-10.1)
"$CLI" keygen --domain example.com --selector x --out "$T/none/dir" > /dev/null 2> "$T/err"
expect_eq "keygen --out to a missing folder: exit 3" "$?" "3"
expect_eq "keygen --out to a missing folder: ENOENT said" \
    "$(cat "$T/err")" "spoofguard: $T/none/dir/x.private: No such file or directory"
# a usage error names the one mistake, not every rule (adv26 CLI-10.4)
kg_usage() { # what want-first-line args...
    local what=$1 want=$2
    shift 2
    "$CLI" keygen "$@" --out "$T" > /dev/null 2> "$T/err"
    expect_eq "keygen $what: exit 2, named" "$? $(head -1 "$T/err")" "2 spoofguard keygen: $want"
}
kg_usage "--type dsa" "--type 'dsa': rsa or ed25519" --domain example.com --selector y --type dsa
kg_usage "without --domain" "--domain is required" --selector y
kg_usage "without --selector" "--selector is required" --domain example.com
kg_usage "--bits with ed25519" "--bits is for --type rsa only" --domain example.com --selector y \
    --type ed25519 --bits 2048
awk -F'"' '{for (i = 2; i <= NF; i += 2) if (length($i) > 255) exit 1}' "$T/zone.txt" &&
    ok "TXT strings <= 255 bytes" || bad "TXT string over 255 bytes"

# --- sign + verify, tampering -------------------------------------------------
MSG="$CONF/dkimpy/data/test.message"
for c in relaxed/relaxed simple/simple relaxed/simple simple/relaxed; do
    "$CLI" sign --domain example.com --selector rsa --key "$T/rsa.private" --selector ed \
        --key "$T/ed.private" --canon $c "$MSG" > "$T/signed.eml" || bad "sign $c"
    expect_eq "sign+verify $c" "$(results --zone "$T/zone.txt" "$T/signed.eml")" "pass,pass"
    sed 's/This is a test/This is a tesT/' "$T/signed.eml" > "$T/t1.eml"
    expect_eq "body byte $c" "$(results --zone "$T/zone.txt" "$T/t1.eml")" "fail,fail"
    sed 's/^Subject: Testing/Subject: TestinG/' "$T/signed.eml" > "$T/t2.eml"
    expect_eq "signed header $c" "$(results --zone "$T/zone.txt" "$T/t2.eml")" "fail,fail"
done
# no bytes is no message, in sign and arc-seal as in verify (adv26 CLI-8)
for cmd in sign "arc-seal --authserv-id mx.example.com"; do
    # shellcheck disable=SC2086 # the command and its own option
    "$CLI" $cmd --domain example.com --selector rsa --key "$T/rsa.private" </dev/null >"$T/e.out" 2>"$T/e.err"
    rc=$?
    [ $rc = 3 ] && [ ! -s "$T/e.out" ] && grep -q 'stdin: empty: no message' "$T/e.err" &&
        ok "${cmd%% *} of no bytes: exit 3, nothing written" || bad "${cmd%% *} of no bytes: exit $rc, $(head -c 200 "$T/e.err")"
done
cat "$MSG" | "$CLI" sign --domain example.com --selector ed --key "$T/ed.private" > "$T/p.eml"
expect_eq "sign from a pipe" "$(results --zone "$T/zone.txt" "$T/p.eml")" "pass"
expect_eq "message kept byte for byte" "$(tail -c "$(stat -c %s "$MSG")" "$T/p.eml" | cmp - "$MSG" && echo same)" "same"

# the second pass writes what the first one read (adv26 CLI-4): a file read in
# part before sign ran (an mbox's "From " line a script took) ...
{ printf 'From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n'; cat "$MSG"; } >"$T/m.mbox"
( read -r _; "$CLI" sign --domain example.com --selector ed --key "$T/ed.private" >"$T/mb.eml" ) <"$T/m.mbox"
expect_eq "stdin a file read in part: what sign read, signed" \
    "$(results --zone "$T/zone.txt" "$T/mb.eml") $(grep -c '^From MAILER' "$T/mb.eml")" "pass 0"
# ... and a file cut short while its signed copy is written: exit 4, said
{ cat "$MSG"; head -c 2000000 /dev/zero | tr '\0' 'x' | fold -w 76; } >"$T/big.eml"
mkfifo "$T/fifo"
exec 3<>"$T/fifo"
"$CLI" sign --domain example.com --selector ed --key "$T/ed.private" "$T/big.eml" >&3 2>"$T/cut.err" &
spid=$!
# the first pass has read the whole file (rchar: what read() returned) before
# the cut; sign then finds the file changed before or while it writes it
size=$(stat -c %s "$T/big.eml")
for ((i = 0; i < 1000; i++)); do
    [ "$(awk '/^rchar/ {print $2}' /proc/$spid/io 2>/dev/null)" -ge "$size" ] 2>/dev/null && break
    sleep 0.01
done
truncate -s 100000 "$T/big.eml"
cat "$T/fifo" 3>&- >/dev/null & # its end of file comes when the writers close
cpid=$!
wait $spid
rc=$?
exec 3>&-
wait $cpid 2>/dev/null
expect_eq "a file cut short while written: exit 4, said" \
    "$rc $(grep -cE 'changed (or could not be read again|while it was read)' "$T/cut.err")" "4 1"

# --- key permissions --------------------------------------------------------------
cp "$T/ed.private" "$T/open.private"
chmod 644 "$T/open.private"
err=$("$CLI" sign --domain example.com --selector ed --key "$T/open.private" "$MSG" 2>&1 >/dev/null)
rc=$?
expect_eq "readable key refused" "$rc" "3"
case $err in *"chmod 600"*) ok "refusal names the fix" ;; *) bad "refusal message: $err" ;; esac
"$CLI" sign --insecure-key-permissions --domain example.com --selector ed --key "$T/open.private" \
    "$MSG" > /dev/null
expect_eq "explicit relaxation" "$?" "0"
printf 'To: a@b\r\nSubject: x\r\n\r\nbody\r\n' | "$CLI" sign --domain example.com --selector ed \
    --key "$T/ed.private" > /dev/null 2>&1
expect_eq "no From: refused" "$?" "3"
# a key we cannot use says what it is (adv26 CLI-10.2, CLI-10.3): an
# encrypted PEM, PKCS#8 and the legacy Proc-Type form, is a private key
# whose passphrase nothing asks for; a key out of the size bounds is told
# both bounds
keyerr() { # what key-file want-in-message
    local err
    chmod 600 "$2"
    err=$("$CLI" sign --domain example.com --selector x --key "$2" "$MSG" 2>&1 >/dev/null)
    expect_eq "$1: exit 3" "$?" "3"
    case $err in *"$3"*) ok "$1: said" ;; *) bad "$1: $err" ;; esac
}
openssl genpkey -algorithm ed25519 -aes256 -pass pass:pw -out "$T/enc8.key" 2>/dev/null
keyerr "encrypted PKCS#8 key" "$T/enc8.key" "encrypted keys are not supported"
openssl genrsa -traditional -aes256 -passout pass:pw -out "$T/enc1.key" 1024 2>/dev/null
grep -q 'Proc-Type: 4,ENCRYPTED' "$T/enc1.key" || bad "no Proc-Type key made"
keyerr "encrypted PKCS#1 key" "$T/enc1.key" "encrypted keys are not supported"
openssl genrsa -out "$T/rsa512.key" 512 2>/dev/null
keyerr "RSA-512 key" "$T/rsa512.key" "RSA of 1024 to 8192 bits, or Ed25519"

# --- streaming memory: 50 MiB ------------------------------------------------------
/usr/bin/python3 - "$T/big.eml" <<'PY'
import sys
line = b"0123456789 abcdefghijklmnopqrstuvwxyz  ABCDEFGHIJKLMNOPQRSTUVWXYZ \t trailing   \r\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"From: big@example.com\r\nTo: x@example.org\r\nSubject: big\r\n\r\n")
    n = 50 * 1024 * 1024 // len(line) + 1
    chunk = line * 1000
    for _ in range(n // 1000):
        f.write(chunk)
    f.write(line * (n % 1000))
PY
peak() { # command... -> prints max RSS in KiB
    /usr/bin/time -f '%M' -o "$T/rss" "$@" > "$T/out" 2>/dev/null
    cat "$T/rss"
}
limit=$((16 * 1024))
# ASan's shadow memory and quarantine add a fixed cost; 64 MiB still proves
# that a 50 MiB message is streamed, not held.
[ -n "${SG_SANITIZED:-}" ] && limit=$((64 * 1024))
rss=$(peak "$CLI" sign --domain example.com --selector rsa --key "$T/rsa.private" --selector ed \
    --key "$T/ed.private" "$T/big.eml")
mv "$T/out" "$T/bigsigned.eml"
[ "$rss" -lt $limit ] && ok "sign 50 MiB file: peak RSS ${rss} KiB" || bad "sign 50 MiB: peak RSS ${rss} KiB"
rss=$(peak sh -c "cat '$T/big.eml' | '$CLI' sign --domain example.com --selector ed --key '$T/ed.private'")
[ "$rss" -lt $limit ] && ok "sign 50 MiB pipe: peak RSS ${rss} KiB" || bad "sign 50 MiB pipe: peak RSS ${rss} KiB"
rss=$(peak "$CLI" dkim-verify --zone "$T/zone.txt" "$T/bigsigned.eml")
expect_eq "50 MiB verifies" "$(awk '{print $1}' "$T/out" | paste -sd, -)" "pass,pass"
[ "$rss" -lt $limit ] && ok "verify 50 MiB: peak RSS ${rss} KiB" || bad "verify 50 MiB: peak RSS ${rss} KiB"

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
