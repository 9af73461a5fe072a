#!/usr/bin/env bash
# A private Postfix instance under $E2E_DIR/postfix: own config, queue and
# data directories.  /etc/postfix and the system instance are never used.
#
#   postfix.sh start              write the config, start master
#   postfix.sh stop
#   postfix.sh set NAME=VALUE...  change main.cf and reload; smtpd processes
#                                 started afterwards use the new values
#   postfix.sh status
#
# 127.0.0.1:$E2E_SMTP_PORT        plain SMTP, no AUTH
# 127.0.0.1:$E2E_SUBMISSION_PORT  AUTH PLAIN/LOGIN required (Cyrus sasldb:
#                                 $E2E_SASL_USERS), milter_macro_daemon_name
#                                 = ORIGINATING
# Both hand every message to smtpd_milters = $MILTER (empty: no milter) with
# milter_default_action = $MILTER_DEFAULT_ACTION.  Mail for USER@$E2E_RCPT_DOMAIN
# is delivered by virtual(8) into the Maildir $E2E_MAIL/USER/ (known users:
# $E2E_RCPT_USERS; any other to $E2E_MAIL/inbox/).  Every other destination
# is an error transport: nothing leaves the machine.
# Log: $E2E_DIR/postfix/maillog.  POSTCONF_EXTRA="k=v;k=v" is applied last.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

P=$E2E_DIR/postfix
ETC=$P/etc

write_config() {
    local u lookup=no
    mkdir -p "$ETC/sasl" "$E2E_MAIL"
    # virtual(8) refuses uid < 100 (virtual_minimum_uid): deliver as nobody
    chown nobody:nogroup "$E2E_MAIL"
    # PTR lookups only where the resolver is the test DNS (with-env.sh)
    [ -z "${E2E_IN_NS:-}" ] || lookup=yes
    cat >"$ETC/main.cf" <<EOF
compatibility_level = 3.6
# queue and data directories must not be inside the config directory
queue_directory = $P/spool
data_directory = $P/lib
mail_owner = postfix
setgid_group = postdrop
# no syslog daemon: log to a file (needs a whitelisted prefix and postlog)
maillog_file = $P/maillog
maillog_file_prefixes = $P
myhostname = $E2E_MX
mydomain = $E2E_RCPT_DOMAIN
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32 $E2E_INTERNAL/32
smtpd_peername_lookup = $lookup
alias_maps =
alias_database =
biff = no
local_transport = error:local delivery disabled
default_transport = error:outbound delivery disabled
relay_transport = error:outbound delivery disabled
virtual_mailbox_domains = $E2E_RCPT_DOMAIN
virtual_mailbox_base = $E2E_MAIL
virtual_mailbox_maps = texthash:$ETC/vmailbox
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(getent group nogroup | cut -d: -f3)
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $ETC/sasl
smtpd_milters = $MILTER
non_smtpd_milters =
disable_mime_output_conversion = yes
milter_default_action = $MILTER_DEFAULT_ACTION
milter_protocol = 6
milter_connect_macros = j {daemon_name} {daemon_addr} v _ {client_addr} {client_port} {client_name} {client_ptr}
milter_connect_timeout = 5s
milter_command_timeout = 10s
milter_content_timeout = 30s
EOF
    # chroot n everywhere (Debian's stock master.cf chroots smtpd, which
    # would need resolv.conf and libraries copied into the spool)
    cat >"$ETC/master.cf" <<EOF
127.0.0.1:$E2E_SMTP_PORT inet n - n - - smtpd
127.0.0.1:$E2E_SUBMISSION_PORT inet n - n - - smtpd
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n - 0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n - - trivial-rewrite
bounce     unix  - - n - 0 bounce
defer      unix  - - n - 0 bounce
trace      unix  - - n - 0 bounce
verify     unix  - - n - 1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n - - proxymap
showq      unix  n - n - - showq
error      unix  - - n - - error
retry      unix  - - n - - error
discard    unix  - - n - - discard
virtual    unix  - n n - - virtual
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
    {
        for u in $E2E_RCPT_USERS; do echo "$u@$E2E_RCPT_DOMAIN $u/"; done
        echo "@$E2E_RCPT_DOMAIN inbox/" # trailing slash: Maildir
    } >"$ETC/vmailbox"
    cat >"$ETC/sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: $ETC/sasl/sasldb2
EOF
    rm -f "$ETC/sasl/sasldb2"
    for u in $E2E_SASL_USERS; do
        sasl_password "$u" | saslpasswd2 -p -f "$ETC/sasl/sasldb2" -c -u "${u#*@}" "${u%%@*}" 2>/dev/null
    done
    chown root:postfix "$ETC/sasl/sasldb2"
    chmod 640 "$ETC/sasl/sasldb2"
    if [ -n "${POSTCONF_EXTRA:-}" ]; then
        local -a kv
        IFS=';' read -ra kv <<<"$POSTCONF_EXTRA"
        postconf -c "$ETC" -e "${kv[@]}"
    fi
    # the directories /etc/postfix/postfix-files would make (postfix check
    # does the same but walks every file: 1-3 s instead of ~10 ms)
    local d
    install -d -o root -g root -m 755 "$P/spool" "$P/spool/pid"
    install -d -o postfix -g root -m 700 "$P/lib" # owner postfix: master.lock
    for d in active bounce corrupt defer deferred flush hold incoming private saved trace; do
        install -d -o postfix -g root -m 700 "$P/spool/$d"
    done
    install -d -o postfix -g postdrop -m 730 "$P/spool/maildrop"
    install -d -o postfix -g postdrop -m 710 "$P/spool/public"
    cool_down
}

# Postfix re-reads a config file changed within the last second or two and
# pauses 0.3 s per read ("main.cf cool down"): a start right after writing
# it costs 1.5 s instead of 0.1 s.  Back-date the files.
cool_down() { touch -d "@$(($(date +%s) - 10))" "$ETC/main.cf" "$ETC/master.cf" "$ETC/vmailbox"; }

master_pid() { tr -dc 0-9 2>/dev/null <"$P/spool/pid/master.pid" || true; }

start() {
    stop
    write_config
    ! (exec 3<>"/dev/tcp/127.0.0.1/$E2E_SMTP_PORT") 2>/dev/null || die "127.0.0.1:$E2E_SMTP_PORT is already in use"
    # `master -w` returns once master is up (postfix start: +1-3 s of checks)
    /usr/lib/postfix/sbin/master -c "$ETC" -w 9>&- || {
        tail -n5 "$P/maillog" >&2 2>/dev/null
        die "postfix master failed to start"
    }
    wait_tcp 127.0.0.1 "$E2E_SMTP_PORT" 10 || die "smtpd does not listen on $E2E_SMTP_PORT"
    log "postfix master pid $(master_pid), smtpd :$E2E_SMTP_PORT :$E2E_SUBMISSION_PORT, milter '$MILTER'"
}

# group_alive PGID: a member of the process group is still running (zombies
# do not count: PID 1 here reaps them seconds late)
group_alive() { ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'; }

# TERM to master is what `postfix stop` does; master kills its process
# group.  Wait until the whole group is gone (a child still delivering
# would otherwise outlive us).
stop() {
    local p i
    p=$(master_pid)
    pid_alive "$p" && pid_is "$p" master || return 0
    kill "$p" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        group_alive "$p" || return 0
        sleep 0.05
    done
    log "postfix process group $p still up after 10 s: KILL"
    kill -9 -- "-$p" 2>/dev/null || true
}

case "${1:-}" in
start) start ;;
stop) stop ;;
set)
    shift
    postconf -c "$ETC" -e "$@"
    cool_down
    postfix -c "$ETC" reload >/dev/null 2>&1
    sleep 0.3 # master re-reads main.cf asynchronously after the HUP
    ;;
status)
    if pid_alive "$(master_pid)"; then echo running; else
        echo stopped
        exit 1
    fi
    ;;
*)
    echo "usage: $0 start|stop|set NAME=VALUE...|status" >&2
    exit 64
    ;;
esac
