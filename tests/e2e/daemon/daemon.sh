# shellcheck shell=bash
# spoofguardd inside the e2e environment (tests/e2e/with-env.sh): its
# configuration, tables and keys, start/stop, and DKIM checks of delivered
# mail with independent verifiers.  Source it after "$E2E_HOME/lib.sh";
# used by tests/scripts/e2e_daemon.sh and scripts/demo-mail.sh.
#
#   SGD        the daemon binary (default: spoofguardd next to $SG_CLI)
#   SGD_CONF   its configuration file ($E2E_DIR/spoofguardd.conf)
#   SGD_LOG    its one-JSON-line-per-message log (log_file)
#   SGD_ERR    its stderr (sanitizer reports land here)

: "${SG_CLI:=$SG_SRC/build/spoofguard}"
: "${SGD:=$(dirname "$SG_CLI")/spoofguardd}"
SGD_CONF=$E2E_DIR/spoofguardd.conf
# not $E2E_DIR/spoofguardd.log: run_bg writes the daemon's stderr there
SGD_LOG=$E2E_DIR/spoofguardd-messages.log
SGD_ERR=$E2E_DIR/spoofguardd.log
SGD_PIDFILE=$E2E_RUN/spoofguardd.pid
DAEMON_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# sgd_write_config [KEYTABLE_SELECTORS...]: the configuration of the issue 6
# scenarios.  Selectors of ourco.test to sign with (default rsa2026 ed2026;
# the keys must exist in $E2E_KEYS).  Also used to rewrite the tables
# before a SIGHUP.
sgd_write_config() {
    local sels=("$@") s names=()
    [ ${#sels[@]} -gt 0 ] || sels=(rsa2026 ed2026)
    cat >"$SGD_CONF" <<EOF
# spoofguardd for the e2e scenarios (tests/e2e/daemon/daemon.sh)
listen              $MILTER
authserv_id         $E2E_MX
dns_servers         $E2E_DNS
protected_domains   $E2E_OURDOMAIN
internal_networks   $E2E_INTERNAL/32
sender_map          $E2E_DIR/senders
signing_table       $E2E_DIR/SigningTable
key_table           $E2E_DIR/KeyTable
log_file            $SGD_LOG
EOF
    # started as root, spoofguardd drops root: name a user every system has
    [ "$(id -u)" != 0 ] || echo "user                nobody" >>"$SGD_CONF"
    printf 'alice@%s alice@%s\nbob@%s bob@%s\n' \
        "$E2E_OURDOMAIN" "$E2E_OURDOMAIN" "$E2E_OURDOMAIN" "$E2E_OURDOMAIN" >"$E2E_DIR/senders"
    # write-then-rename: a reload never sees a half-written table
    : >"$E2E_DIR/KeyTable.new"
    for s in "${sels[@]}"; do
        printf 'ourco-%s %s:%s:%s\n' "$s" "$E2E_OURDOMAIN" "$s" \
            "$E2E_KEYS/$E2E_OURDOMAIN.$s.private" >>"$E2E_DIR/KeyTable.new"
        names+=("ourco-$s")
    done
    printf '*@%s %s\n' "$E2E_OURDOMAIN" "$(
        IFS=,
        echo "${names[*]}"
    )" >"$E2E_DIR/SigningTable.new"
    mv -f "$E2E_DIR/KeyTable.new" "$E2E_DIR/KeyTable"
    mv -f "$E2E_DIR/SigningTable.new" "$E2E_DIR/SigningTable"
}

sgd_pid() { tr -dc 0-9 <"$SGD_PIDFILE" 2>/dev/null; }

# sgd_start: run the daemon in the background; status 1 if it does not
# listen within 10 s.  ASan/UBSan: reports go to $SGD_ERR, exit code 23.
sgd_start() {
    export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:exitcode=23:detect_leaks=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=23}
    run_bg spoofguardd "$SGD" -c "$SGD_CONF"
    wait_tcp "$E2E_MILTER_ADDR" "$E2E_MILTER_PORT" 10 && pid_alive "$(sgd_pid)"
}

# sgd_stop: SIGTERM, wait up to 35 s (the daemon drains for at most 30 s);
# sets SGD_STATUS to its exit status ("killed" if it had to be KILLed,
# "gone" if it was not running).  Not in $(...): wait needs the shell that
# started it (sgd_start).
sgd_stop() {
    local p i
    p=$(sgd_pid)
    if ! pid_alive "$p"; then
        SGD_STATUS=gone
        return
    fi
    kill -TERM "$p"
    for ((i = 0; i < 700; i++)); do
        pid_alive "$p" || break
        sleep 0.05
    done
    if pid_alive "$p"; then
        kill -KILL "$p"
        SGD_STATUS=killed
    else
        wait "$p" 2>/dev/null
        # shellcheck disable=SC2034 # read by the caller
        SGD_STATUS=$?
    fi
    rm -f "$SGD_PIDFILE"
}

# sanitizer_reports: the sanitizer findings in the daemon's stderr
sanitizer_reports() { grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: ' "$SGD_ERR" 2>/dev/null; }

# dkim_keys_file OUT NAME...: "selector._domainkey.domain record" lines,
# fetched from the test DNS (what the peers' file-based key lookup reads)
dkim_keys_file() {
    local out=$1 n
    shift
    : >"$out"
    for n in "$@"; do
        printf '%s %s\n' "$n" "$(dig +short +time=2 +tries=1 -p "$E2E_DNS_PORT" @127.0.0.1 TXT "$n" |
            tr -d '\n' | sed -e 's/" "//g' -e 's/"//g')" >>"$out"
    done
}

# only_signature MSG N OUT: MSG with only its Nth DKIM-Signature field (1-based)
# kept, so that a verifier that reports one result per message judges that
# one signature (the signatures do not cover each other)
only_signature() {
    /usr/bin/python3 "$DAEMON_HOME/dkim_fields.py" only "$2" <"$1" >"$3"
}

# signature_tags MSG: one line per DKIM-Signature: "a=... d=... s=..."
signature_tags() { /usr/bin/python3 "$DAEMON_HOME/dkim_fields.py" tags <"$1"; }
