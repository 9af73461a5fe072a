#!/bin/bash
# DKIM interop, both directions, with three independent implementations:
#   dkimpy      (Debian python3-dkim, tests/interop/dkimpy_peer.py)
#   Mail::DKIM  (Debian libmail-dkim-perl 1.20230212, RSA only: that version
#               has no Ed25519; tests/interop/mail_dkim_peer.pl)
#   libopendkim (Debian libopendkim-dev 2.11, tests/interop/opendkim_peer.c,
#               compiled here)
# For rsa-sha256 and ed25519-sha256, simple/simple, relaxed/relaxed and
# relaxed/simple, on three messages: every signer's output must verify as
# pass with every verifier (spoofguard included), and a copy with one body
# byte changed, or one signed header changed, must not pass with any.
# Keys are made by `spoofguard keygen` and served to each peer through its
# own DNS hook from one key file: no network.
#
# A peer that is not installed is reported as SKIPPED (not silently passed).
# Env (set by ctest): SG_CLI, SG_SRC; SG_CONFORMANCE_DIR overrides tests/conformance.
set -u
CLI=${SG_CLI:?SG_CLI not set}
SRC=${SG_SRC:?SG_SRC not set}
CONF=${SG_CONFORMANCE_DIR:-${SG_CONFORMANCE_DEFAULT:-$SRC/tests/conformance}}/dkim
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0 passes=0 known=0

# --- peers ---------------------------------------------------------------------
PY=/usr/bin/python3
have_dkimpy=0 have_maildkim=0 have_opendkim=0
$PY -c 'import dkim' 2>/dev/null && have_dkimpy=1
perl -MMail::DKIM::Verifier -e 1 2>/dev/null && have_maildkim=1
if pkg-config --exists opendkim 2>/dev/null &&
    cc -o "$T/opendkim_peer" "$SRC/tests/interop/opendkim_peer.c" \
        $(pkg-config --cflags --libs opendkim) 2>"$T/cc.log"; then
    have_opendkim=1
fi
for p in dkimpy maildkim opendkim; do
    v=have_$p
    [ "${!v}" = 1 ] || echo "SKIPPED peer $p (not installed)"
done

# --- keys ---------------------------------------------------------------------------
"$CLI" keygen --domain example.com --selector sgrsa --out "$T" > "$T/zone.txt" 2>/dev/null &&
    "$CLI" keygen --domain example.com --selector sged --type ed25519 --out "$T" >> "$T/zone.txt" 2>/dev/null ||
    { echo "FAIL keygen"; exit 1; }
# the same keys in the peers' formats: PKCS#1 PEM for RSA, base64 seed for Ed25519
openssl rsa -in "$T/sgrsa.private" -traditional -out "$T/rsa.pkcs1.pem" 2>/dev/null
openssl pkey -in "$T/sged.private" -outform DER 2>/dev/null | tail -c 32 | base64 > "$T/ed.seed"
chmod 600 "$T/rsa.pkcs1.pem" "$T/ed.seed"
# "name record" lines from the zone-file output (strings joined)
$PY - "$T/zone.txt" > "$T/keys.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for m in re.finditer(r'^(\S+)\s+IN\s+TXT\s+\((.*?)\)', text, re.M | re.S):
    print(m.group(1).rstrip('.'), ''.join(re.findall(r'"([^"]*)"', m.group(2))))
PY

# --- messages (CRLF) ---------------------------------------------------------------------
crlf() { $PY -c 'import sys; d=sys.stdin.buffer.read().replace(b"\r\n",b"\n").replace(b"\n",b"\r\n"); sys.stdout.buffer.write(d)'; }
crlf < "$CONF/dkimpy/data/test.message" > "$T/m1.eml"
crlf < "$CONF/rfc8463/unsigned.eml" > "$T/m2.eml"
printf '%s\n' 'From: "Ann Example" <ann@example.com>' 'To: bob@example.org,' \
    '   carol@example.org' 'Subject:   folded   and' '	spaced subject  ' \
    'Date: Mon, 1 Jan 2024 10:00:00 +0000' 'Message-ID: <m3@example.com>' \
    'MIME-Version: 1.0' 'Content-Type: text/plain; charset=utf-8' '' \
    'Body line with trailing spaces   ' '	tab-led line' '' 'Line  with   inner  runs' \
    '' '' '' | crlf > "$T/m3.eml"
# issue 11 class 4: a NUL and a bare CR in the body are data to every
# implementation (only the header refuses them)
printf 'From: ann@example.com\r\nTo: bob@example.org\r\nSubject: nul\r\n\r\nbo\0dy\r\nbare\rcr\r\n' > "$T/m4.eml"

# --- signing and verifying with each implementation ------------------------------------------
# sign IMPL ALG CANON MSG OUT ; verify IMPL MSG -> prints the result word
sign() {
    local impl=$1 alg=$2 canon=$3 msg=$4 out=$5 sel key
    if [ "$alg" = rsa-sha256 ]; then sel=sgrsa; else sel=sged; fi
    case $impl in
    spoofguard) "$CLI" sign --domain example.com --selector $sel --key "$T/$sel.private" \
        --canon "$canon" "$msg" > "$out" ;;
    dkimpy)
        if [ $sel = sgrsa ]; then key=$T/rsa.pkcs1.pem; else key=$T/ed.seed; fi
        $PY "$SRC/tests/interop/dkimpy_peer.py" sign $alg "$canon" "$key" $sel example.com \
            < "$msg" > "$out" ;;
    maildkim) perl "$SRC/tests/interop/mail_dkim_peer.pl" sign $alg "$canon" "$T/rsa.pkcs1.pem" \
        $sel example.com < "$msg" > "$out" ;;
    opendkim) "$T/opendkim_peer" sign $alg "$canon" "$T/$sel.private" $sel example.com \
        < "$msg" > "$out" ;;
    esac
}
# verify_all IMPL FILE... -> RES[IMPL|FILE]: the result word of each file.
# dkimpy and Mail::DKIM take the whole list in one process (starting Python
# or Perl with its DKIM module costs more than a verification: one process
# a file was ~80 s of this test); spoofguard and libopendkim start in
# milliseconds and are run once a file, as a user runs them.
declare -A RES
verify_all() {
    local impl=$1 f i=0 line
    shift
    [ $# -gt 0 ] || return 0
    case $impl in
    spoofguard | opendkim)
        for f in "$@"; do
            if [ $impl = spoofguard ]; then
                RES[$impl\|$f]=$("$CLI" dkim-verify --zone "$T/zone.txt" "$f" | head -n 1 | awk '{print $1}')
            else
                RES[$impl\|$f]=$("$T/opendkim_peer" verify "$T/keys.txt" < "$f" 2>/dev/null)
            fi
        done
        return 0 ;;
    dkimpy) $PY "$SRC/tests/interop/dkimpy_peer.py" verify "$T/keys.txt" "$@" > "$T/batch.out" 2>"$T/batch.err" ;;
    maildkim) perl "$SRC/tests/interop/mail_dkim_peer.pl" verify "$T/keys.txt" "$@" > "$T/batch.out" 2>"$T/batch.err" ;;
    esac
    local files=("$@")
    while IFS= read -r line; do
        RES[$impl\|${files[$i]}]=${line%% *}
        i=$((i + 1))
    done < "$T/batch.out"
    # a peer that died part-way leaves the rest without a result (not pass)
    [ $i = $# ] || echo "NOTE $impl answered $i of $# messages: $(head -c 300 "$T/batch.err")"
}
available() { # impl alg
    case $1 in
    spoofguard) return 0 ;;
    maildkim) [ $have_maildkim = 1 ] && [ "$2" = rsa-sha256 ] ;;
    dkimpy) [ $have_dkimpy = 1 ] ;;
    opendkim) [ $have_opendkim = 1 ] ;;
    esac
}
# one body byte: the first letter of the body flips case; one signed
# header: the first letter of the Subject value flips case. For each signed
# file F given, writes F.body and F.hdr (one process for all).
tamper_all() {
    $PY - "$@" <<'PY'
import re, sys
for src in sys.argv[1:]:
    orig = open(src, "rb").read()
    end = orig.index(b"\r\n\r\n") + 4
    for kind in ("body", "hdr"):
        d = bytearray(orig)
        if kind == "body":
            i = re.compile(rb"[A-Za-z]").search(orig, end).start()
        else:
            i = re.compile(rb"(?im)^Subject:[ \t\r\n]*([A-Za-z])").search(orig[:end]).start(1)
        d[i] ^= 0x20
        open(src + "." + kind, "wb").write(d)
PY
}

IMPLS="spoofguard dkimpy maildkim opendkim"
# libopendkim 2.11 hashes a relaxed body with a NUL or a bare CR differently
# from dkimpy, Mail::DKIM and us (who all agree): m4 is checked among those
# three
skip_m4() { [ "$1" = m4 ] && [ "$2" = opendkim ]; } # msg impl

# 1. every signer signs every message: "alg canon signer msg file" lines
signed=()
for alg in rsa-sha256 ed25519-sha256; do
    for canon in simple/simple relaxed/relaxed relaxed/simple; do
        for signer in $IMPLS; do
            available $signer $alg || continue
            for m in m1 m2 m3 m4; do
                skip_m4 $m $signer && continue
                s=$T/$signer.$alg.${canon/\//-}.$m.eml
                if ! sign $signer $alg $canon "$T/$m.eml" "$s" 2>"$T/sign.err" || [ ! -s "$s" ]; then
                    echo "FAIL $signer could not sign $m $alg $canon: $(head -c 300 "$T/sign.err")"
                    fails=$((fails + 1))
                    continue
                fi
                signed+=("$alg $canon $signer $m $s")
            done
        done
    done
done

# 2. the two altered copies of each, then every verifier on all it can read
files=()
for e in "${signed[@]}"; do files+=("${e##* }"); done
[ ${#files[@]} -gt 0 ] && tamper_all "${files[@]}"
for f in "${files[@]}"; do
    if ! [ -s "$f.body" ] || ! [ -s "$f.hdr" ] || cmp -s "$f" "$f.body" || cmp -s "$f" "$f.hdr"; then
        echo "FAIL could not make the altered copies of $f"
        fails=$((fails + 1))
    fi
done
for verifier in $IMPLS; do
    batch=()
    for e in "${signed[@]}"; do
        read -r alg canon signer m s <<<"$e"
        available $verifier $alg || continue
        skip_m4 $m $verifier && continue
        batch+=("$s" "$s.body" "$s.hdr")
    done
    verify_all $verifier "${batch[@]}"
done

# 3. each signed message must pass with each verifier, its altered copies not
for e in "${signed[@]}"; do
    read -r alg canon signer m s <<<"$e"
    for verifier in $IMPLS; do
        available $verifier $alg || continue
        skip_m4 $m $verifier && continue
        r0=${RES[$verifier|$s]-} r1=${RES[$verifier|$s.body]-} r2=${RES[$verifier|$s.hdr]-}
        if [ "$r0" = pass ] && [ -n "$r1" ] && [ "$r1" != pass ] && [ -n "$r2" ] && [ "$r2" != pass ]; then
            passes=$((passes + 1))
        elif [ $signer = opendkim ] && [ $alg = ed25519-sha256 ] &&
            [ "${canon%/*}" = simple ] && [ "$r0" != pass ] &&
            [ "${RES[opendkim|$s]-}" != pass ]; then
            # Known libopendkim 2.11 defect: with simple header
            # canonicalisation its Ed25519 signatures sometimes
            # do not verify, with its own verifier either (the
            # field is folded differently when hashed and when
            # written). Not a spoofguard result: counted apart.
            echo "KNOWN $alg $canon $m signed by opendkim, rejected by $verifier" \
                "and by libopendkim itself (libopendkim signing defect)"
            known=$((known + 1))
        else
            echo "FAIL $alg $canon $m signed by $signer, verified by $verifier:" \
                "intact=$r0 body-changed=$r1 header-changed=$r2"
            fails=$((fails + 1))
        fi
    done
done
# 4. an IDN signer named as a U-label (adv30 IN-6): keygen, sign and audit
# take it as its A-label, the form DNS and every verifier use (RFC 8616 4).
# A UTF-8 local part in i= is kept: libopendkim 2.11 calls that a syntax
# error (it predates RFC 8616), so that copy is counted apart for it.
idn=$(printf 'b\xc3\xbccher.example') jose=$(printf 'jos\xc3\xa9')
if ! "$CLI" keygen --domain "$idn" --selector sgidn --out "$T" > "$T/idn.zone" 2>"$T/idn.err"; then
    echo "FAIL keygen --domain $idn: $(head -c 300 "$T/idn.err")"
    fails=$((fails + 1))
else
    cat "$T/idn.zone" >> "$T/zone.txt"
    $PY - "$T/idn.zone" >> "$T/keys.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for m in re.finditer(r'^(\S+)\s+IN\s+TXT\s+\((.*?)\)', text, re.M | re.S):
    print(m.group(1).rstrip('.'), ''.join(re.findall(r'"([^"]*)"', m.group(2))))
PY
    printf 'From: %s@%s\r\nTo: bob@example.org\r\nSubject: idn\r\n\r\nbody\r\n' "$jose" "$idn" > "$T/idn.eml"
    for id in "" "$jose@$idn"; do
        out=$T/idn${id:+.i}.signed
        "$CLI" sign --domain "$idn" ${id:+--identity "$id"} --selector sgidn \
            --key "$T/sgidn.private" "$T/idn.eml" > "$out" 2>"$T/idn.err"
        want="d=xn--bcher-kva.example;${id:+i=$jose@xn--bcher-kva.example;}s=sgidn;"
        sig=$(tr -d '\r\n\t ' < "$out" | grep -o 'd=[^;]*;\(i=[^;]*;\)\?s=[^;]*;')
        if [ "$sig" != "$want" ]; then
            echo "FAIL sign --domain $idn ${id:+--identity $id}: want $want, got '$sig' $(head -c 300 "$T/idn.err")"
            fails=$((fails + 1))
            continue
        fi
        for verifier in $IMPLS; do
            available $verifier rsa-sha256 || continue
            verify_all $verifier "$out"
            r=${RES[$verifier|$out]-none}
            if [ "$r" = pass ]; then
                passes=$((passes + 1))
            elif [ -n "$id" ] && [ $verifier = opendkim ]; then
                echo "KNOWN a UTF-8 i= local part: libopendkim 2.11 says '$r'"
                known=$((known + 1))
            else
                echo "FAIL the U-label signer's signature ${id:+(i=$id) }verified by $verifier: $r"
                fails=$((fails + 1))
            fi
        done
    done
    if ! "$CLI" audit --zone "$T/zone.txt" "$idn" 2>&1 | grep -q '^xn--bcher-kva.example: '; then
        echo "FAIL audit $idn does not audit its A-label"
        fails=$((fails + 1))
    fi
fi

echo "$passes signer/verifier/message combinations ok, $known known peer defects, $fails failure(s)"
[ "$fails" -eq 0 ]
