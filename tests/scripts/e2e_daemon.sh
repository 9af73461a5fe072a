#!/usr/bin/env bash
# End-to-end tests of the milter daemon spoofguardd with a real Postfix and a
# real DNS server on loopback (tests/e2e/with-env.sh; issue 6):
#   a. genuine DKIM-signed mail from remote.test is delivered with exactly one
#      Authentication-Results of ours: spf=pass, dkim=pass header.d, dmarc=pass;
#   b. a forged From of remote.test (p=reject) from the attacker is rejected
#      550 5.7.1 at end of data and not delivered;
#   c. mail claiming our ourco.test (published p=none) from outside: 550 5.7.1;
#   d. alice (SMTP AUTH) sending as bob (envelope, From, Sender, bob's
#      address in her display name): 5.7.1;
#      alice as alice is delivered signed rsa-sha256 s=rsa2026 and
#      ed25519-sha256 s=ed2026, each signature verified by libopendkim,
#      dkimpy and `spoofguard dkim-verify` over the test DNS (and a tampered
#      copy failing with each, so the verifiers are not passing blindly);
#   e. forged "Authentication-Results: mx.rcpt.test; dkim=pass" fields (case,
#      comment, folding, version variants) are gone on delivery; a foreign
#      authserv-id is kept;
#   f. SIGHUP with a new key table (selector rsa2027, published first) signs
#      the next message with it, while a stream of messages across the HUP
#      all get 250 and all verify;
#   g. DNS stopped: inbound mail gets 4xx (none delivered, none without a
#      reply), the daemon lives on, outbound signing still works; DNS back:
#      delivered normally, also for a domain that had just tempfailed;
#   h. one JSON log line per message (queue_id, client, action, why), each
#      matching what the test sent; SIGTERM exits 0 with no sanitizer report.
# Also: several messages in one SMTP session (accept, refuse, accept), a
# protected subdomain, our own signed mail coming back from outside, a
# reload that fails (keys unchanged), a DNS server that never answers
# (timeouts), and the milter's latency over TCP (median < 25 ms a message).
# Prints PASS/FAIL lines and "N passed, N failed"; exit status 1 on failure.
# Needs root and the packages of scripts/install-deps.sh. Env (ctest):
# SG_CLI (spoofguardd is taken from the same directory), SG_SRC.
set -uo pipefail
SG_SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SG_CLI=${SG_CLI:-$SG_SRC/build/spoofguard}
SG_CLI=$(cd "$(dirname "$SG_CLI")" && pwd)/$(basename "$SG_CLI")
export SG_SRC SG_CLI
E2E=$SG_SRC/tests/e2e
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
. "$E2E/scenario.sh"
PY=/usr/bin/python3

# ---------------------------------------------------------------- inner --
# run by with-env.sh: bash e2e_daemon.sh inner RESULT_DIR
if [ "${1:-}" = inner ]; then
    RES=$2
    . "$E2E_HOME/lib.sh"
    . "$E2E_HOME/daemon/daemon.sh"
    starts() { [[ $1 == "$2"* ]]; }

    # sm EXPECTED_ACTION send_mail-args...: send_mail, and record what the
    # daemon's log must show for it (client and action), the queue id of
    # an accepted message, and the reply
    sm() {
        local act=$1 c=$E2E_EXTERNAL i r rc
        shift
        local -a a=("$@")
        for ((i = 0; i < ${#a[@]} - 1; i++)); do [ "${a[i]}" != -c ] || c=${a[i + 1]}; done
        echo "$c $act" >>"$RES/sent"
        r=$(send_mail "$@")
        rc=$?
        if [[ $r =~ queued\ as\ ([0-9A-Za-z]+) ]]; then echo "${BASH_REMATCH[1]}" >>"$RES/queued"; fi
        printf '%s\n' "$r"
        return $rc
    }
    # mkmsg TOKEN FROM [HEADER_LINE...]: an RFC 5322 message (CRLF) whose
    # Subject and body carry TOKEN; extra header lines go first
    mkmsg() {
        local tok=$1 from=$2 h
        shift 2
        for h in "$@"; do printf '%s\r\n' "$h"; done
        printf 'From: %s\r\nTo: bob@%s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@e2e.test>\r\n\r\nbody of %s\r\n' \
            "$from" "$E2E_RCPT_DOMAIN" "$tok" "$(date -R)" "$tok" "$tok"
    }
    # authres FILE: the Authentication-Results fields of a delivered message, unfolded
    authres() { header_block "$1" | grep -i '^Authentication-Results:'; }
    # ours FILE: how many Authentication-Results carry our authserv-id
    # (case-insensitive, after an optional comment, RFC 8601 2.2)
    ours() {
        authres "$1" | grep -ciE "^Authentication-Results:[[:space:]]*(\([^)]*\)[[:space:]]*)?${E2E_MX//./\\.}([[:space:]]+[0-9]+)?[[:space:]]*;"
    }
    # eod_reply: the last reply of swaks.last answered the end of DATA (".")
    eod_reply() { grep -B1 '^<\*\* ' "$E2E_DIR/swaks.last" | head -n1 | grep -qE '^ *-> \.\s*$'; }
    # no_mail TOKEN: nothing delivered carries TOKEN
    no_mail() { ! grep -rqF -- "$1" "$E2E_MAIL"; }
    undelivered() { echo "$1" >>"$RES/undelivered"; }
    # delivered TOKEN REPLY: wait_mail, at once status 1 if REPLY was no 2xx
    # (a broken daemon must not cost 10 s a message)
    delivered() { [ "${2:0:1}" = 2 ] && wait_mail "$1" 10; }
    # alive_or_stop SECTION: a dead daemon ends the run here (the crash first)
    alive_or_stop() {
        pid_alive "$PID" && return 0
        ko "daemon_died_in_$1" "$(grep -m3 -E 'ERROR|runtime error|SUMMARY|Segmentation' "$SGD_ERR" | tr '\n' '|') $(tail -n3 "$SGD_ERR" | tr '\n' '|')"
        exit 0
    }

    T0=$(date +%s.%N)
    : >"$RES/sent"
    : >"$RES/queued"
    : >"$RES/undelivered"

    # a zone nobody queries before the DNS outage (g): no cache can answer
    # for it then; SPF for the external client, DMARC p=reject
    {
        printf '$ORIGIN late.test.\n$TTL 60\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A %s\n' "$E2E_DNS_ADDR"
        for g in g1 g2 g3 g4 g5; do printf '%s TXT "v=spf1 ip4:%s -all"\n' "$g" "$E2E_EXTERNAL"; done
        echo '_dmarc TXT "v=DMARC1; p=reject"'
    } >"$E2E_ZONES/late.test.zone"
    bash "$E2E_HOME/dns.sh" start

    [ -f "$E2E_KEYS/$E2E_OURDOMAIN.ed2026.private" ] ||
        ko setup "no ed2026 key: the harness fell back to opendkim-genkey (SG_CLI=$SG_CLI has no keygen?)"
    sgd_write_config rsa2026 ed2026
    check config_test "spoofguardd -t rejects the configuration" "$SGD" -t -c "$SGD_CONF"
    if ! sgd_start; then
        ko daemon_start "$(tail -n5 "$SGD_ERR")"
        exit 0
    fi
    ok daemon_start
    PID=$(sgd_pid)

    # the libopendkim peer (as tests/scripts/dkim_interop.sh builds it)
    have_opendkim=0
    # shellcheck disable=SC2046 # pkg-config's flags are meant to split
    if pkg-config --exists opendkim 2>/dev/null &&
        cc -o "$RES/opendkim_peer" "$SG_SRC/tests/interop/opendkim_peer.c" \
            $(pkg-config --cflags --libs opendkim) 2>"$RES/cc.log"; then
        have_opendkim=1
    fi

    # ---- a. genuine signed mail from remote.test --------------------------
    tok=a-$$-$RANDOM
    mkmsg "$tok" "Someone <someone@$E2E_REMOTE>" | sign_remote >"$RES/a.eml"
    r=$(sm accept -c "$E2E_EXTERNAL" -f "someone@$E2E_REMOTE" -d "$RES/a.eml")
    f=$(delivered "$tok" "$r")
    check a_genuine_delivered "reply '$r'" [ -n "$f" ]
    f=${f:-/dev/null}
    check a_one_authres "fields: $(authres "$f" | tr '\n' '|')" [ "$(authres "$f" | wc -l)" = 1 ]
    ar=$(authres "$f" | head -n1)
    check a_authres_ours "'$ar'" grep -qE "^Authentication-Results: ${E2E_MX//./\\.};" <<<"$ar"
    check a_spf_pass "'$ar'" grep -qE "spf=pass smtp\.mailfrom=someone@${E2E_REMOTE//./\\.}" <<<"$ar"
    check a_dkim_pass "'$ar'" grep -qE "dkim=pass [^;]*header\.d=${E2E_REMOTE//./\\.}" <<<"$ar"
    check a_dmarc_pass "'$ar'" grep -qE "dmarc=pass [^;]*header\.from=${E2E_REMOTE//./\\.}" <<<"$ar"

    alive_or_stop a

    # latency: 10 small messages in one session from the partner.  Without
    # a milter Postfix takes ~3 ms per message here; a milter over TCP that
    # lets Postfix's small no-reply packets (NR_HDR, NR_EOH, NR_BODY) wait
    # for delayed ACKs costs +40 ms per message (Nagle on Postfix's side vs
    # the daemon's delayed ACK); unix sockets do not have it.
    tok=lat-$$-$RANDOM
    specs=()
    for i in 0 1 2 3 4 5 6 7 8 9; do
        specs+=("x@$E2E_REMOTE|x@$E2E_REMOTE|$tok-$i")
        echo "$E2E_EXTERNAL accept" >>"$RES/sent"
    done
    $PY "$E2E_HOME/daemon/smtp_session.py" "$E2E_EXTERNAL" "$E2E_SMTP_PORT" - - "bob@$E2E_RCPT_DOMAIN" \
        "${specs[@]}" >"$RES/lat.out" 2>&1
    sed -n 's/.* queued as \([0-9A-Za-z]*\).*/\1/p' "$RES/lat.out" >>"$RES/queued"
    med=$(sed -n 's/.*\[\([0-9.]*\) ms\]$/\1/p' "$RES/lat.out" | sort -n | sed -n 5p)
    check latency_session_all_accepted "$(grep -vc ' 250 ' "$RES/lat.out") not accepted: $(head -c 300 "$RES/lat.out")" \
        [ "$(grep -c ' 250 ' "$RES/lat.out")" = 10 ]
    check latency_median_below_25ms "median ${med:-?} ms per message (MAIL to end of DATA): $(sed -n 's/.*\[\(.*\) ms\]$/\1/p' "$RES/lat.out" | tr '\n' ' ')" \
        awk -v m="${med:-999}" 'BEGIN { exit !(m < 25) }'

    # ---- b. forged From of remote.test (p=reject) from the attacker -------
    tok=b-$$-$RANDOM
    r=$(sm reject -c "$E2E_ATTACKER" -f "x@attacker.test" -h "From: CEO <ceo@$E2E_REMOTE>" -b "$tok")
    check b_forged_reject_550 "reply '$r'" starts "$r" "550 5.7.1"
    check b_at_end_of_data "the 550 did not answer the end of DATA" eod_reply
    undelivered "$tok"

    # ---- c. our protected domain (p=none published) from outside ----------
    tok=c-$$-$RANDOM
    r=$(sm reject -c "$E2E_ATTACKER" -f "x@attacker.test" -h "From: CEO <ceo@$E2E_OURDOMAIN>" -b "$tok")
    check c_protected_from_attacker_550 "reply '$r'" starts "$r" "550 5.7.1"
    check c_at_end_of_data "the 550 did not answer the end of DATA" eod_reply
    undelivered "$tok"
    # the same from the genuine external host (SPF pass for its own
    # remote.test envelope, but nothing aligned with ourco.test)
    tok=c2-$$-$RANDOM
    r=$(sm reject -c "$E2E_EXTERNAL" -f "someone@$E2E_REMOTE" -h "From: ceo@$E2E_OURDOMAIN" -b "$tok")
    check c_protected_from_external_550 "reply '$r'" starts "$r" "550 5.7.1"
    undelivered "$tok"

    # a subdomain of a protected domain is protected too
    tok=c3-$$-$RANDOM
    r=$(sm reject -c "$E2E_ATTACKER" -f "x@attacker.test" -h "From: ceo@sales.$E2E_OURDOMAIN" -b "$tok")
    check c_protected_subdomain_550 "reply '$r'" starts "$r" "550 5.7.1"
    undelivered "$tok"
    # ...but our own mail that comes back from outside with a valid
    # signature of ours (a forwarder, a list) passes
    tok=c4-$$-$RANDOM
    mkmsg "$tok" "alice@$E2E_OURDOMAIN" | /usr/bin/python3 /usr/bin/dkimsign --hcanon relaxed --bcanon relaxed \
        rsa2026 "$E2E_OURDOMAIN" "$E2E_KEYS/$E2E_OURDOMAIN.rsa2026.private" >"$RES/c4.eml"
    r=$(sm accept -c "$E2E_ATTACKER" -f "list@attacker.test" -d "$RES/c4.eml")
    f=$(delivered "$tok" "$r") || f=/dev/null
    check c_protected_signed_by_us_delivered "reply '$r'; $(authres "$f")" \
        grep -qE "dkim=pass [^;]*header\.d=${E2E_OURDOMAIN//./\\.}.*dmarc=pass" <(authres "$f")

    alive_or_stop b_c

    # ---- d. sender ownership and signing ----------------------------------
    alice=alice@$E2E_OURDOMAIN bob=bob@$E2E_OURDOMAIN
    tok=d1-$$-$RANDOM
    r=$(sm reject -c "$E2E_INTERNAL" -a "$alice" -f "$bob" -h "From: $bob" -b "$tok")
    check d_alice_envelope_as_bob_5.7.1 "reply '$r'" grep -qE '^5[0-9][0-9] 5\.7\.1 ' <<<"$r"
    undelivered "$tok"
    tok=d2-$$-$RANDOM
    r=$(sm reject -c "$E2E_INTERNAL" -a "$alice" -f "$alice" -h "From: Bob <$bob>" -b "$tok")
    check d_alice_from_as_bob_5.7.1 "reply '$r'" grep -qE '^5[0-9][0-9] 5\.7\.1 ' <<<"$r"
    undelivered "$tok"
    tok=d3-$$-$RANDOM
    r=$(sm reject -c "$E2E_INTERNAL" -a "$alice" -f "$alice" -h "From: $alice" -h "Sender: $bob" -b "$tok")
    check d_alice_sender_as_bob_5.7.1 "reply '$r'" grep -qE '^5[0-9][0-9] 5\.7\.1 ' <<<"$r"
    undelivered "$tok"
    # bob's address in alice's display name, plain and RFC 2047-encoded (adv15 F5)
    tok=d3n-$$-$RANDOM
    r=$(sm reject -c "$E2E_INTERNAL" -a "$alice" -f "$alice" -h "From: \"$bob\" <$alice>" -b "$tok")
    check d_alice_named_bob_5.7.1 "reply '$r'" grep -qE '^5[0-9][0-9] 5\.7\.1 .*show <bob@' <<<"$r"
    undelivered "$tok"
    tok=d3e-$$-$RANDOM
    r=$(sm reject -c "$E2E_INTERNAL" -a "$alice" -f "$alice" \
        -h "From: =?utf-8?q?Bob_=3C${bob/@/=40}=3E?= <$alice>" -b "$tok")
    check d_alice_named_bob_encoded_5.7.1 "reply '$r'" grep -qE '^5[0-9][0-9] 5\.7\.1 .*show <bob@' <<<"$r"
    undelivered "$tok"
    # bob as bob (from outside the internal network: AUTH alone makes it outbound)
    tok=d4-$$-$RANDOM
    r=$(sm accept -c "$E2E_EXTERNAL" -a "$bob" -f "$bob" -h "From: Bob <$bob>" -b "$tok")
    f=$(delivered "$tok" "$r")
    check d_bob_as_bob_delivered "reply '$r'" [ -n "$f" ]
    check d_bob_signed "signatures: $(signature_tags "${f:-/dev/null}" | tr '\n' '|')" \
        [ "$(signature_tags "${f:-/dev/null}" | grep -c "d=$E2E_OURDOMAIN")" = 2 ]

    tok=d5-$$-$RANDOM
    r=$(sm accept -c "$E2E_INTERNAL" -a "$alice" -f "$alice" -h "From: Alice <$alice>" -b "$tok")
    f=$(delivered "$tok" "$r")
    check d_alice_as_alice_delivered "reply '$r'" [ -n "$f" ]
    f=${f:-/dev/null}
    cp "$f" "$RES/d5.eml"
    tags=$(signature_tags "$f")
    check d_two_signatures "signatures: $(tr '\n' '|' <<<"$tags")" [ "$(wc -l <<<"$tags")" = 2 ]
    check d_rsa2026_signature "signatures: $(tr '\n' '|' <<<"$tags")" \
        grep -qx "a=rsa-sha256 d=$E2E_OURDOMAIN s=rsa2026" <<<"$tags"
    check d_ed2026_signature "signatures: $(tr '\n' '|' <<<"$tags")" \
        grep -qx "a=ed25519-sha256 d=$E2E_OURDOMAIN s=ed2026" <<<"$tags"
    check d_no_authres_outbound "outbound mail got an Authentication-Results" [ "$(authres "$f" | wc -l)" = 0 ]
    dkim_keys_file "$RES/keys.txt" "rsa2026._domainkey.$E2E_OURDOMAIN" "ed2026._domainkey.$E2E_OURDOMAIN"
    # each signature on its own, and a copy with one body byte changed
    for i in 1 2; do
        # CRLF: libopendkim 2.11 says "Syntax error" on a Maildir file's bare
        # LF line ends (folded header fields); dkimpy and ours take either
        only_signature "$f" "$i" /dev/stdout | sed 's/$/\r/' >"$RES/d5.$i.eml"
        sed "s/^$tok/X$tok/" "$RES/d5.$i.eml" >"$RES/d5.$i.bad.eml"
        sel=$(sed -n "${i}p" <<<"$tags" | sed 's/.* s=//')
        v=$($PY "$SG_SRC/tests/interop/dkimpy_peer.py" verify "$RES/keys.txt" <"$RES/d5.$i.eml" 2>&1)
        check "d_dkimpy_verifies_$sel" "dkimpy: '$v'" [ "$v" = pass ]
        v=$($PY "$SG_SRC/tests/interop/dkimpy_peer.py" verify "$RES/keys.txt" <"$RES/d5.$i.bad.eml" 2>&1)
        check "d_dkimpy_rejects_tampered_$sel" "dkimpy: '$v'" [ "$v" = fail ]
        if [ "$have_opendkim" = 1 ]; then
            v=$("$RES/opendkim_peer" verify "$RES/keys.txt" <"$RES/d5.$i.eml" 2>&1)
            check "d_opendkim_verifies_$sel" "libopendkim: '$v'" [ "$v" = pass ]
            v=$("$RES/opendkim_peer" verify "$RES/keys.txt" <"$RES/d5.$i.bad.eml" 2>&1)
            check "d_opendkim_rejects_tampered_$sel" "libopendkim: '$v'" [ "$v" != pass ]
        else
            ko "d_opendkim_verifies_$sel" "libopendkim peer not built: $(head -c 300 "$RES/cc.log" 2>/dev/null)"
        fi
    done
    v=$("$SG_CLI" dkim-verify --dns "$E2E_DNS" "$f" 2>&1)
    check d_sg_verifies_both "dkim-verify: $(tr '\n' '|' <<<"$v")" \
        [ "$(grep -cE "^pass d=$E2E_OURDOMAIN s=(rsa2026|ed2026) " <<<"$v")" = 2 ]
    v=$("$SG_CLI" dkim-verify --dns "$E2E_DNS" "$RES/d5.1.bad.eml" 2>&1)
    check d_sg_rejects_tampered "dkim-verify: $(tr '\n' '|' <<<"$v")" not grep -q '^pass' <<<"$v"

    # several messages in one SMTP session (one milter connection): the
    # login and the verdict state are per message
    tok=ds-$$-$RANDOM
    $PY "$E2E_HOME/daemon/smtp_session.py" "$E2E_INTERNAL" "$E2E_SUBMISSION_PORT" "$alice" \
        "$(sasl_password "$alice")" "bob@$E2E_RCPT_DOMAIN" \
        "$alice|$alice|$tok-1" "$alice|Bob <$bob>|$tok-2" "$alice|$alice|$tok-3" >"$RES/ds.out" 2>&1
    printf '%s\n' "$E2E_INTERNAL accept" "$E2E_INTERNAL reject" "$E2E_INTERNAL accept" >>"$RES/sent"
    undelivered "$tok-2"
    check d_session_accept_refuse_accept "$(tr '\n' '|' <"$RES/ds.out")" \
        grep -qxE "$tok-1 250 [^|]*\|$tok-2 550 5\.7\.1 [^|]*\|$tok-3 250 .*" <(tr '\n' '|' <"$RES/ds.out")
    sed -n 's/.* queued as \([0-9A-Za-z]*\).*/\1/p' "$RES/ds.out" >>"$RES/queued"
    for i in 1 3; do
        f=$(wait_mail "$tok-$i" 10) || f=/dev/null
        check "d_session_message_${i}_signed" "signatures: $(signature_tags "$f" | tr '\n' '|')" \
            [ "$(signature_tags "$f" | grep -c "d=$E2E_OURDOMAIN")" = 2 ]
    done
    tok=ns-$$-$RANDOM
    $PY "$E2E_HOME/daemon/smtp_session.py" "$E2E_EXTERNAL" "$E2E_SMTP_PORT" - - "bob@$E2E_RCPT_DOMAIN" \
        "x@$E2E_REMOTE|ceo@$E2E_OURDOMAIN|$tok-1" "x@$E2E_REMOTE|x@$E2E_REMOTE|$tok-2" >"$RES/ns.out" 2>&1
    printf '%s\n' "$E2E_EXTERNAL reject" "$E2E_EXTERNAL accept" >>"$RES/sent"
    undelivered "$tok-1"
    sed -n 's/.* queued as \([0-9A-Za-z]*\).*/\1/p' "$RES/ns.out" >>"$RES/queued"
    f=$(wait_mail "$tok-2" 10) || f=/dev/null
    check inbound_session_reject_then_accept "$(tr '\n' '|' <"$RES/ns.out"); $(authres "$f")" \
        eval 'grep -q "^$tok-1 550 5.7.1 " "$RES/ns.out" && [ "$(ours "$f")" = 1 ] && authres "$f" | grep -q "dmarc=pass"'

    alive_or_stop d

    # ---- e. forged Authentication-Results with our authserv-id ------------
    # (SPF-aligned mail from remote.test: delivered, with our field added)
    fake="dkim=pass header.d=$E2E_REMOTE header.b=zzforgedzz"
    variants=(
        "plain|Authentication-Results: $E2E_MX; $fake"
        "case|authentication-RESULTS: ${E2E_MX^^}; $fake"
        "comment|Authentication-Results: (trust me) $E2E_MX; $fake"
        "folded|Authentication-Results:"$'\r\n\t'"$E2E_MX;"$'\r\n\t'"$fake"
        "version|Authentication-Results: $E2E_MX 1; $fake"
        "nospace|Authentication-Results:$E2E_MX;$fake"
    )
    all=()
    for v in "${variants[@]}"; do
        name=${v%%|*} hdr=${v#*|}
        all+=("$hdr")
        tok=e-$name-$$-$RANDOM
        mkmsg "$tok" "someone@$E2E_REMOTE" "$hdr" >"$RES/e.eml"
        r=$(sm accept -c "$E2E_EXTERNAL" -f "someone@$E2E_REMOTE" -d "$RES/e.eml")
        f=$(delivered "$tok" "$r") || f=/dev/null
        check "e_forged_authres_${name}_removed" \
            "reply '$r'; fields: $(authres "$f" | tr '\n' '|')" \
            eval '[ "$(authres "$f" | wc -l)" = 1 ] && [ "$(ours "$f")" = 1 ] && ! grep -q zzforgedzz "$f" && authres "$f" | grep -q "spf=pass smtp.mailfrom=someone@"'
    done
    tok=e-all-$$-$RANDOM
    mkmsg "$tok" "someone@$E2E_REMOTE" "${all[@]}" "Authentication-Results: other.example; dkim=pass header.b=zzforeignzz" \
        "${all[0]}" >"$RES/e.eml"
    r=$(sm accept -c "$E2E_EXTERNAL" -f "someone@$E2E_REMOTE" -d "$RES/e.eml")
    f=$(delivered "$tok" "$r") || f=/dev/null
    check e_seven_forged_removed "reply '$r'; fields: $(authres "$f" | tr '\n' '|')" \
        eval '[ "$(ours "$f")" = 1 ] && ! grep -q zzforgedzz "$f"'
    check e_foreign_authres_kept "fields: $(authres "$f" | tr '\n' '|')" grep -q zzforeignzz "$f"

    # an authenticated user cannot plant one either (delivered locally)
    tok=e-out-$$-$RANDOM
    mkmsg "$tok" "$alice" "Authentication-Results: $E2E_MX; dmarc=pass header.from=bank.test header.b=zzforgedzz" >"$RES/e.eml"
    r=$(sm accept -c "$E2E_INTERNAL" -a "$alice" -f "$alice" -d "$RES/e.eml")
    f=$(delivered "$tok" "$r") || f=/dev/null
    check e_outbound_forged_authres_removed "reply '$r'; fields: $(authres "$f" | tr '\n' '|')" \
        eval '[ -s "$f" ] && ! grep -q zzforgedzz "$f"'

    alive_or_stop e

    # ---- f. SIGHUP with a new key table, under a stream of messages -------
    tmp=$(mktemp -d "$E2E_KEYS/.e2ed.XXXXXX")
    "$SG_CLI" keygen --domain "$E2E_OURDOMAIN" --selector rsa2027 --out "$tmp" >"$tmp/rsa2027.txt" 2>/dev/null
    chmod 600 "$tmp/rsa2027.private"
    mv "$tmp/rsa2027.private" "$E2E_KEYS/$E2E_OURDOMAIN.rsa2027.private"
    cat "$tmp/rsa2027.txt" >>"$E2E_ZONES/$E2E_OURDOMAIN.zone"
    rm -rf "$tmp"
    bash "$E2E_HOME/dns.sh" start
    k=$(dig +short +time=2 +tries=1 -p "$E2E_DNS_PORT" @127.0.0.1 TXT "rsa2027._domainkey.$E2E_OURDOMAIN")
    check f_rsa2027_published "dig: '$k'" grep -q 'v=DKIM1' <<<"$k"
    : >"$RES/f.replies"
    stream() { # N LOGIN|- : N messages from alice, AUTH or from the internal network
        local j r
        for ((j = 0; j < $1; j++)); do
            if [ "$2" = - ]; then
                r=$(sm accept -c "$E2E_INTERNAL" -f "$alice" -h "From: $alice" -b "f-$3-$j-$$")
            else
                r=$(sm accept -c "$E2E_INTERNAL" -a "$2" -f "$alice" -h "From: $alice" -b "f-$3-$j-$$")
            fi
            echo "f-$3-$j-$$ $r" >>"$RES/f.replies"
        done
    }
    FN=8
    stream $FN "$alice" s1 &
    p1=$!
    stream $FN "$alice" s2 &
    p2=$!
    stream $FN - s3 &
    p3=$!
    for ((i = 0; i < 200; i++)); do
        [ "$(wc -l <"$RES/f.replies")" -lt 5 ] || break
        sleep 0.05
    done
    sgd_write_config rsa2027 ed2026
    nrel=$(grep -c '"event":"reloaded"' "$SGD_LOG")
    kill -HUP "$PID"
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -c '"event":"reloaded"' "$SGD_LOG")" -gt "$nrel" ] && break
        sleep 0.05
    done
    before_hup_done=$(wc -l <"$RES/f.replies")
    wait $p1 $p2 $p3
    check f_reloaded "no reloaded event: $(grep '"event"' "$SGD_LOG" | tail -n2 | tr '\n' '|')" \
        [ "$(grep -c '"event":"reloaded"' "$SGD_LOG")" -gt "$nrel" ]
    check f_hup_during_stream "the HUP came after $before_hup_done of $((3 * FN)) messages" \
        [ "$before_hup_done" -lt $((3 * FN)) ]
    nok=$(grep -c ' 250 ' "$RES/f.replies")
    check f_stream_all_accepted "$nok of $((3 * FN)) got 250: $(grep -v ' 250 ' "$RES/f.replies" | head -n3 | tr '\n' '|')" \
        [ "$nok" = $((3 * FN)) ]
    dkim_keys_file "$RES/keys.txt" "rsa2026._domainkey.$E2E_OURDOMAIN" "ed2026._domainkey.$E2E_OURDOMAIN" \
        "rsa2027._domainkey.$E2E_OURDOMAIN"
    bad='' nold=0 nnew=0
    while read -r t rest; do
        f=$(delivered "$t" "$rest") || {
            bad+="$t undelivered; "
            continue
        }
        tags=$(signature_tags "$f" | sed 's/.* s=//' | sort | tr '\n' ' ')
        case "$tags" in
        "ed2026 rsa2026 ") nold=$((nold + 1)) ;;
        "ed2026 rsa2027 ") nnew=$((nnew + 1)) ;;
        *) bad+="$t signed by '$tags'; " ;;
        esac
        v=$("$SG_CLI" dkim-verify --dns "$E2E_DNS" "$f" 2>&1)
        [ "$(grep -c '^pass ' <<<"$v")" = 2 ] || bad+="$t: $(tr '\n' ' ' <<<"$v"); "
    done <"$RES/f.replies"
    check f_stream_delivered_and_verified "${bad:-} ($nold old, $nnew new key)" [ -z "$bad" ]
    check f_daemon_not_restarted "pid $PID gone" pid_alive "$PID"
    tok=f-after-$$-$RANDOM
    r=$(sm accept -c "$E2E_INTERNAL" -a "$alice" -f "$alice" -h "From: $alice" -b "$tok")
    f=$(delivered "$tok" "$r") || f=/dev/null
    tags=$(signature_tags "$f")
    check f_next_message_uses_rsa2027 "reply '$r'; signatures $(tr '\n' '|' <<<"$tags")" \
        eval '[ "$(wc -l <<<"$tags")" = 2 ] && grep -qx "a=rsa-sha256 d=$E2E_OURDOMAIN s=rsa2027" <<<"$tags" && grep -qx "a=ed25519-sha256 d=$E2E_OURDOMAIN s=ed2026" <<<"$tags"'
    v=$($PY "$SG_SRC/tests/interop/dkimpy_peer.py" verify "$RES/keys.txt" <"$f" 2>&1)
    check f_rsa2027_dkimpy_verifies "dkimpy (first signature): '$v'" [ "$v" = pass ]
    v=$("$SG_CLI" dkim-verify --dns "$E2E_DNS" "$f" 2>&1)
    check f_rsa2027_sg_verifies "dkim-verify: $(tr '\n' '|' <<<"$v")" \
        [ "$(grep -cE "^pass d=$E2E_OURDOMAIN s=(rsa2027|ed2026) " <<<"$v")" = 2 ]

    # a reload that fails (a key file missing) changes nothing
    printf 'ourco-bad %s:bad:%s\n' "$E2E_OURDOMAIN" "$E2E_KEYS/missing.private" >"$E2E_DIR/KeyTable"
    printf '*@%s ourco-bad\n' "$E2E_OURDOMAIN" >"$E2E_DIR/SigningTable"
    nrel=$(grep -c '"event":"reload_failed"' "$SGD_LOG")
    kill -HUP "$PID"
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -c '"event":"reload_failed"' "$SGD_LOG")" -gt "$nrel" ] && break
        sleep 0.05
    done
    check f_bad_reload_logged "no reload_failed event" [ "$(grep -c '"event":"reload_failed"' "$SGD_LOG")" -gt "$nrel" ]
    tok=f-bad-$$-$RANDOM
    r=$(sm accept -c "$E2E_INTERNAL" -a "$alice" -f "$alice" -h "From: $alice" -b "$tok")
    f=$(delivered "$tok" "$r") || f=/dev/null
    check f_bad_reload_keeps_keys "reply '$r'; signatures $(signature_tags "$f" | tr '\n' '|')" \
        [ "$(signature_tags "$f" | sed 's/.* s=//' | sort | tr '\n' ' ')" = "ed2026 rsa2027 " ]
    sgd_write_config rsa2027 ed2026

    alive_or_stop f

    # ---- g. the DNS goes away ----------------------------------------------
    bash "$E2E_HOME/dns.sh" stop
    : >"$RES/g.replies"
    tg=$(date +%s.%N)
    gp=()
    for g in g1 g2 g3; do
        (
            t=g-$g-$$-$RANDOM
            r=$(sm tempfail -c "$E2E_EXTERNAL" -f "someone@$g.late.test" -h "From: someone@$g.late.test" -b "$t")
            echo "$t $r" >>"$RES/g.replies"
        ) &
        gp+=($!)
    done
    wait "${gp[@]}" # not a bare wait: the daemon is a child of this shell too
    tg=$(awk -v a="$tg" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
    n4=$(grep -cE '^g-\S+ 4[0-9][0-9] ' "$RES/g.replies")
    check g_dns_down_tempfailed "$n4 of 3 got 4xx in ${tg}s: $(tr '\n' '|' <"$RES/g.replies")" [ "$n4" = 3 ]
    check g_dns_down_reply_4.7.1 "$(tr '\n' '|' <"$RES/g.replies")" \
        [ "$(grep -cE '^g-\S+ 451 4\.7\.1 ' "$RES/g.replies")" = 3 ]
    while read -r t _; do undelivered "$t"; done <"$RES/g.replies"
    check g_daemon_alive "pid $PID gone" pid_alive "$PID"
    # a DNS server that never answers: the lookups time out (dns_timeout_ms
    # 2000 x dns_tries 2), still a 4xx well within Postfix's 30 s
    $PY -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[2], "w").close()
time.sleep(60)' "$E2E_DNS_PORT" "$RES/bh.ready" &
    bh=$!
    for ((i = 0; i < 100; i++)); do [ -e "$RES/bh.ready" ] && break; sleep 0.05; done
    tb=$(date +%s.%N)
    tok=g-g5-$$-$RANDOM
    r=$(sm tempfail -c "$E2E_EXTERNAL" -f "someone@g5.late.test" -h "From: someone@g5.late.test" -b "$tok")
    tb=$(awk -v a="$tb" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
    kill "$bh"
    wait "$bh" 2>/dev/null
    undelivered "$tok"
    check g_dns_silent_tempfailed "reply '$r' after ${tb}s" starts "$r" "451 4.7.1"
    check g_daemon_alive_after_timeouts "pid $PID gone" pid_alive "$PID"
    # outbound needs no DNS: signing goes on
    tok=g-out-$$-$RANDOM
    r=$(sm accept -c "$E2E_INTERNAL" -a "$alice" -f "$alice" -h "From: $alice" -b "$tok")
    check g_dns_down_outbound_signed "reply '$r'" eval 'f=$(delivered "$tok" "$r") && [ "$(signature_tags "$f" | wc -l)" = 2 ]'
    bash "$E2E_HOME/dns.sh" start
    # a fresh domain, and the one that has just tempfailed (no cached failure)
    for g in g4 g1 g5; do
        tok=g-back-$g-$$-$RANDOM
        r=$(sm accept -c "$E2E_EXTERNAL" -f "someone@$g.late.test" -h "From: someone@$g.late.test" -b "$tok")
        f=$(delivered "$tok" "$r") || f=/dev/null
        check "g_dns_back_delivered_$g" "reply '$r'; $(authres "$f")" \
            grep -qE "dmarc=pass [^;]*header\.from=$g\.late\.test" <(authres "$f")
    done

    alive_or_stop g

    # ---- nothing that was refused got delivered ----------------------------
    bad=''
    while read -r t; do no_mail "$t" || bad+="$t "; done <"$RES/undelivered"
    check refused_not_delivered "delivered anyway: $bad" [ -z "$bad" ]

    # ---- h. the log: one JSON line per message ------------------------------
    $PY - "$SGD_LOG" "$RES/sent" "$RES/queued" >"$RES/h.out" 2>&1 <<'PY'
import collections, json, sys
log, sent, queued = sys.argv[1:]
msgs, bad = [], []
for n, line in enumerate(open(log), 1):
    try:
        o = json.loads(line)
    except ValueError as e:
        bad.append("line %d not JSON: %s" % (n, e))
        continue
    if "event" in o:
        continue
    msgs.append(o)
    for k in ("queue_id", "client", "action", "why"):
        if k not in o:
            bad.append("line %d lacks %s" % (n, k))
    if not o.get("client") or not o.get("why") or not o.get("action"):
        bad.append("line %d: empty client/action/why" % n)
want = collections.Counter(tuple(l.split()) for l in open(sent) if l.strip())
got = collections.Counter((o.get("client"), o.get("action")) for o in msgs)
if want != got:
    bad.append("(client, action) sent %s, logged %s" % (dict(want - got), dict(got - want)))
ids = collections.Counter(o.get("queue_id") for o in msgs)
for q in (l.strip() for l in open(queued) if l.strip()):
    if ids[q] != 1:
        bad.append("queue id %s logged %d times" % (q, ids[q]))
# a queue id is known from RCPT on: only a refusal at MAIL may lack one
for o in msgs:
    if o.get("queue_id") is None and not (o.get("action") == "reject" and o.get("direction") == "outbound"):
        bad.append("no queue_id: %s" % json.dumps(o)[:200])
print("%d message lines" % len(msgs))
print("\n".join(bad[:5]))
sys.exit(1 if bad else 0)
PY
    h=$?
    check h_log_one_line_per_message "$(tr '\n' ' ' <"$RES/h.out")" [ "$h" = 0 ]

    # ---- SIGTERM under traffic, then a restart --------------------------------
    # every message gets 250 (checked: one Authentication-Results of ours)
    # or a 4xx (Postfix's milter_default_action once the daemon is gone):
    # none is refused for good, none delivered unchecked
    : >"$RES/t.replies"
    tstream() {
        local j r t
        for ((j = 0; j < 8; j++)); do
            t=t-$1-$j-$$
            r=$(send_mail -c "$E2E_EXTERNAL" -f "someone@$E2E_REMOTE" -h "From: someone@$E2E_REMOTE" -b "$t")
            echo "$t $r" >>"$RES/t.replies"
        done
    }
    tstream a &
    p1=$!
    tstream b &
    p2=$!
    for ((i = 0; i < 200; i++)); do
        [ "$(wc -l <"$RES/t.replies")" -lt 3 ] || break
        sleep 0.05
    done
    sgd_stop
    wait $p1 $p2
    check sigterm_exit_0 "exit status $SGD_STATUS" [ "$SGD_STATUS" = 0 ]
    check no_sanitizer_reports "$(sanitizer_reports | head -n3 | tr '\n' '|')" not sanitizer_reports
    bad='' n2=0 n4=0
    while read -r t code _; do
        case "$code" in
        250)
            n2=$((n2 + 1))
            f=$(wait_mail "$t" 10) || f=/dev/null
            [ "$(ours "$f")" = 1 ] || bad+="$t delivered with $(ours "$f") fields of ours; "
            ;;
        4[0-9][0-9]) n4=$((n4 + 1)) ;;
        *) bad+="$t got '$code'; " ;;
        esac
    done <"$RES/t.replies"
    check sigterm_under_traffic_nothing_lost "${bad:-} ($n2 delivered, $n4 tempfailed of $(wc -l <"$RES/t.replies"))" \
        eval '[ -z "$bad" ] && [ "$(wc -l <"$RES/t.replies")" = 16 ]'
    : >"$SGD_ERR"
    if sgd_start; then
        tok=restart-$$-$RANDOM
        r=$(send_mail -c "$E2E_EXTERNAL" -f "someone@$E2E_REMOTE" -h "From: someone@$E2E_REMOTE" -b "$tok")
        f=$(delivered "$tok" "$r") || f=/dev/null
        check restart_serves_again "reply '$r'" [ "$(ours "$f")" = 1 ]
        sgd_stop
        check restart_sigterm_exit_0 "exit status $SGD_STATUS" [ "$SGD_STATUS" = 0 ]
    else
        ko restart_serves_again "did not start again: $(tail -n3 "$SGD_ERR")"
    fi
    check restart_no_sanitizer_reports "$(sanitizer_reports | head -n3 | tr '\n' '|')" not sanitizer_reports
    echo "(inner checks: $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s; DNS refused: replies in ${tg}s, DNS silent: ${tb}s; SIGTERM under traffic: $n2 delivered, $n4 tempfailed)"
    exit 0
fi

# ---------------------------------------------------------------- outer --
[ "$(id -u)" = 0 ] || fail_early "needs root (tests/e2e/with-env.sh)"
SGD=$(dirname "$SG_CLI")/spoofguardd
[ -x "$SGD" ] || fail_early "no daemon at $SGD"
[ -x "$SG_CLI" ] || fail_early "no CLI at $SG_CLI"
for t in swaks unbound dig postfix; do
    command -v "$t" >/dev/null || fail_early "$t is not installed (scripts/install-deps.sh)"
done
export E2E_DIR=${E2E_DAEMON_DIR:-/run/spoofguard-e2e-daemon}
export MILTER=${MILTER:-inet:127.0.0.1:8891}
e2e_outer "e2e daemon tests, daemon $SGD" 60
