/*
 * spoofguardd configuration, table-driven: see config.h.
 */
#include "config.h"
#include "common/conf_line.h"
#include "metrics_http.h"
#include <spoofguard/arena.h>
#include <spoofguard/dmarc.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#include <spoofguard/dns.h>
#include <spoofguard/outbound.h>

typedef enum { T_STRING, T_UINT, T_SIZE, T_BOOL, T_DOMAINS, T_NAMES, T_CIDRS, T_FAILSAFE } opt_type;

typedef struct {
    const char *name;
    opt_type type;
    size_t off;       /* offset of the field in sg_config */
    size_t count_off; /* lists: offset of the count field */
    const char *def;  /* default, in file syntax; NULL: unset */
    uint64_t min, max;
    int reloadable;
    const char *doc;
} opt_def;

#define F(field) offsetof(sg_config, field)
/* A library default as the table's text default. */
#define STR_(x) #x
#define LIBDEF(x) STR_(x)
#define NOCOUNT 0

/* The option table: validation, defaults, reload rules and the reference
 * in docs/spoofguardd.conf.md all come from here. */
static const opt_def options[] = {
    {"listen", T_STRING, F(listen), NOCOUNT, "inet:127.0.0.1:8891", 0, 0, 0,
     "Milter socket: `inet:HOST:PORT` or `unix:PATH`. Postfix: `smtpd_milters = inet:HOST:PORT`. "
     "HOST is a numeric address (`127.0.0.1`, `[::1]`), PORT 1 to 65535; PATH is absolute. "
     "Prefer a unix socket: whoever can connect can ask for mail to be signed. An address "
     "beyond loopback (`0.0.0.0`, for an MTA on another host) is taken with a warning from "
     "`-t` and at start: let only the MTA's hosts reach that port."},
    {"listen_group", T_STRING, F(listen_group), NOCOUNT, NULL, 0, 0, 0,
     "Group given to a unix socket (mode 0660), e.g. `postfix`, so the MTA and nobody else "
     "can connect."},
    {"authserv_id", T_STRING, F(authserv_id), NOCOUNT, NULL, 0, 0, 1,
     "Our authserv-id in Authentication-Results (RFC 8601 2.5). Default: the host name. Every "
     "incoming Authentication-Results field with this id is deleted."},
    {"workers", T_UINT, F(workers), NOCOUNT, "0", 0, 64, 0, "Event-loop threads; 0: one per core."},
    {"batch_scheduling", T_BOOL, F(batch_scheduling), NOCOUNT, "yes", 0, 0, 0,
     "Run the event-loop threads under Linux's SCHED_BATCH policy: a packet from the MTA then "
     "does not preempt the MTA process that wrote it, which goes on to its next packet or to "
     "waiting for our answer, so one wake-up of ours reads both. The CPU share is the same as "
     "under the default policy; only the wake-up preemption goes. `no`: the policy it was "
     "started with (the packaged systemd unit starts it with CPUSchedulingPolicy=batch)."},
    {"dns_servers", T_STRING, F(dns_servers), NOCOUNT, NULL, 0, 0, 0,
     "`ADDRESS[:PORT]` (`[IPv6]:PORT`), several separated by commas or spaces; port 1 to "
     "65535; unset: /etc/resolv.conf."},
    {"dns_timeout_ms", T_UINT, F(dns_timeout_ms), NOCOUNT, LIBDEF(SG_DNS_DEFAULT_TIMEOUT_MS), 50,
     60000, 0, "Per-try DNS timeout. A timed-out lookup is a temperror, never a pass."},
    {"dns_tries", T_UINT, F(dns_tries), NOCOUNT, LIBDEF(SG_DNS_DEFAULT_TRIES), 1, 10, 0,
     "DNS tries per query."},
    {"internal_networks", T_CIDRS, F(internal_networks), F(n_internal_networks),
     "127.0.0.1/32, ::1/128", 0, 0, 1,
     "Clients in these networks are outbound (signed, not verified), like SMTP-authenticated "
     "ones."},
    {"protected_domains", T_DOMAINS, F(protected_domains), F(n_protected_domains), NULL, 0, 0, 1,
     "Our own domains. Inbound mail whose From is one of them (or a subdomain) must pass DMARC "
     "alignment, whatever policy is published."},
    {"reject_protected_fail", T_BOOL, F(reject_protected_fail), NOCOUNT, "yes", 0, 0, 1,
     "Reject inbound mail claiming a protected domain that does not pass (no: add headers only)."},
    {"sender_map", T_STRING, F(sender_map), NOCOUNT, NULL, 0, 0, 1,
     "File `login address[,address...]` (`@domain` wildcards allowed), like Postfix's "
     "smtpd_sender_login_maps: an authenticated login may send only as these. Unset while the "
     "key_table has keys: mail from logins is refused (nothing says what they own); unset "
     "without signing: logins are not checked."},
    {"sender_display_names", T_BOOL, F(sender_display_names), NOCOUNT, "yes", 0, 0, 1,
     "With a sender_map, an address a person could read in From or Sender - in the display "
     "name or a comment, RFC 2047-encoded or not (`\"bob@ourco.example\" <alice@ourco.example>`) "
     "- must be one the login may send as, too. no: only the address itself is checked."},
    {"sender_display_names_exempt", T_NAMES, F(sender_display_names_exempt),
     F(n_sender_display_names_exempt), NULL, 0, 0, 1,
     "Logins (as in sender_map, any case) for which sender_display_names does not apply: "
     "systems that write a customer's address into the name they send under (`\"ann@example.net "
     "via Support\" <support@ourco.example>`). Their own address is still checked."},
    {"signing_table", T_STRING, F(signing_table), NOCOUNT, NULL, 0, 0, 1,
     "OpenDKIM-style SigningTable: `address-or-pattern keyname[,keyname...]`."},
    {"key_table", T_STRING, F(key_table), NOCOUNT, NULL, 0, 0, 0,
     "OpenDKIM-style KeyTable: `keyname domain:selector:/path/to/key`. Domain and selector are "
     "DKIM names (labels of letters, digits, '-' and '_'; A-labels for IDNs): a line with "
     "another is refused. The signer reads the file itself at each reload and loads only the "
     "keys it names, so its contents reload but the option (the file's path) needs a restart."},
    {"dmarc_enforce", T_BOOL, F(dmarc_enforce), NOCOUNT, "yes", 0, 0, 1,
     "Apply DMARC dispositions (reject, quarantine). no: monitor only."},
    {"dmarc_suffix_guard", T_BOOL, F(dmarc_suffix_guard), NOCOUNT, "yes", 0, 0, 1,
     "An Organizational Domain is never above a name's registrable domain by the public suffix "
     "list, so a suffix's DMARC record without psd=y cannot align its registrants. no: RFC "
     "9989's rules alone (a domain that is itself a public suffix, such as gov.uk, then aligns "
     "its subdomains again)."},
    {"public_suffix_list", T_STRING, F(public_suffix_list), NOCOUNT, NULL, 0, 0, 1,
     "A `public_suffix_list.dat` file for every check that uses the list: the DMARC suffix guard "
     "and the failure-report rate limit (`spoofguard verify/explain --psl` and "
     "`spoofguard-view --psl` take the same file). Unset: the system's newest list, Debian's "
     "publicsuffix package when it is newer than libpsl's built-in one. Read again on SIGHUP; "
     "a file that does not load stops the start or the reload."},
    {"never_reject_domains", T_DOMAINS, F(never_reject_domains), F(n_never_reject_domains), NULL, 0,
     0, 1, "From domains whose DMARC reject is downgraded to quarantine."},
    {"trusted_arc_sealers", T_DOMAINS, F(trusted_arc_sealers), F(n_trusted_arc_sealers), NULL, 0, 0,
     1,
     "Forwarders (mailing lists, your own relays) whose ARC seal we trust (RFC 8617 7.2; local "
     "policy, off when unset): a DMARC fail is accepted when the ARC chain passes, its newest "
     "set was sealed (ARC-Seal d=) by one of these domains and that set records dmarc=pass for "
     "the same From domain. dmarc= stays fail (policy_override trusted_forwarder in the log); "
     "never for protected_domains."},
    {"arc_seal_key", T_STRING, F(arc_seal_key), NOCOUNT, NULL, 0, 0, 1,
     "Name of a key_table key (RSA) with which to ARC-seal (RFC 8617) the inbound mail we pass "
     "on, as a forwarder (a list, an alias expander) does: one ARC set recording our "
     "Authentication-Results and the chain's result, on top; unset: no sealing."},
    {"failsafe", T_FAILSAFE, F(failsafe), NOCOUNT, "tempfail", 0, 0, 1,
     "What to answer when we cannot decide (DNS timeout, internal error): `tempfail` or "
     "`accept`."},
    {"max_connections", T_UINT, F(max_connections), NOCOUNT, "1000", 1, 100000, 1,
     "Concurrent MTA connections; more get `451 4.3.2` whatever `failsafe` says (a sender "
     "can open connections, so overload never accepts unchecked)."},
    {"max_message_size", T_SIZE, F(max_message_size), NOCOUNT, "64M", 1024, UINT64_C(1) << 40, 1,
     "Largest message checked; a larger one is refused (552 5.3.4): its sender chose its size, "
     "so it must not reach the fail-safe answer."},
    {"message_timeout_s", T_UINT, F(message_timeout_s), NOCOUNT, "60", 1, 3600, 1,
     "Time budget for the checks of one message (RFC 7208 4.6.4 asks for at least 20 s of "
     "SPF DNS time). At the limit the verdict is decided with what is known: a lookup still "
     "out counts as a temporary error, which makes the answer temporary only where it could "
     "have aligned with the From domain (a sender's own slow DNS reaches the fail-safe answer "
     "only for mail of a From domain whose DNS it is, as that domain's policy lookup failing "
     "would)."},
    {"allow_group_readable_keys", T_BOOL, F(allow_group_readable_keys), NOCOUNT, "no", 0, 0, 1,
     "Accept private keys readable by their group. World-readable keys are always refused."},
    {"user", T_STRING, F(user), NOCOUNT, NULL, 0, 0, 0,
     "Run as this user once the socket is bound and the log opened. Started as root, "
     "spoofguardd always drops root: unset means the system user `spoofguard` (start-up fails "
     "if there is none), and `root` is refused. Started as root, this user never reads a "
     "private key: the signer process holds them (see `signer_user`)."},
    {"signer_user", T_STRING, F(signer_user), NOCOUNT, "nobody", 0, 0, 0,
     "Started as root, the signer process (the only one that holds the private keys) runs as "
     "this user, in an empty root folder and a seccomp filter. It reads the keys before it "
     "drops root, and on SIGHUP re-reads keys of the folders it opened at start (a key in a "
     "new folder needs a restart); the keys stay mode 0600, owned by root."},
    {"log_file", T_STRING, F(log_file), NOCOUNT, NULL, 0, 0, 0,
     "Where the one-line-per-message log goes; unset: standard error."},
    {"metrics_listen", T_STRING, F(metrics_listen), NOCOUNT, NULL, 0, 0, 0,
     "Serve Prometheus metrics (`GET /metrics`, docs/metrics.md) on `127.0.0.1:PORT`, "
     "`[::1]:PORT` or a unix socket `/PATH`; unset: off. Loopback only: metrics have no "
     "authentication."},
    {"outbound", T_BOOL, F(outbound), NOCOUNT, "no", 0, 0, 0,
     "Outbound abuse detection (docs/outbound-daemon.md): judge each accepted outbound message "
     "(an SMTP-authenticated login, or a client in internal_networks as `ip:ADDR`) and "
     "throttle (4xx), hold (the MTA's hold queue) or block the account. The engine's "
     "limits: `outbound_limit [CLASS.]KEY VALUE`, `outbound_account LOGIN CLASS` and "
     "`outbound_internal_domain DOMAIN,...` lines (docs/outbound.md), which may repeat."},
    {"outbound_store", T_STRING, F(outbound_store), NOCOUNT, "/var/lib/spoofguard/outbound", 0, 0,
     0,
     "Where the outbound records live: a directory (LMDB, shared by the workers and "
     "`spoofguard accounts`; writable by `user`), or `redis://HOST:PORT[/DB]` for several "
     "hosts (no TLS: loopback or a private network)."},
    {"outbound_spill", T_STRING, F(outbound_spill), NOCOUNT, "/var/lib/spoofguard/outbound.spill",
     0, 0, 0,
     "What the daemon counted in memory while outbound_store was away (blocks included) is kept "
     "in this file when it stops before the store is back (mode 0600, the daemon's user), read "
     "back at the next start and carried into the store as usual. `none`: not kept, and a stop "
     "during an outage forgets it."},
    {"outbound_spill_interval", T_UINT, F(outbound_spill_interval), NOCOUNT, "30", 1, 3600, 0,
     "While the daemon counts in memory, outbound_spill is rewritten this often (seconds) when "
     "something new was counted, so that a crash (not only a stop) loses at most this much."},
    {"outbound_store_map_size", T_SIZE, F(outbound_store_map_size), NOCOUNT, "1G", 1048576,
     UINT64_C(1) << 40, 0,
     "LMDB: the store's size bound (a sparse file). A full store refuses writes: decisions "
     "are then counted in memory (spoofguard_outbound_store_fallback_total; the gauge "
     "spoofguard_outbound_store_fallback is 1), a blocked account stays held. Records idle for "
     "90 days are expired, never a blocked one."},
    {"outbound_store_sync", T_BOOL, F(outbound_store_sync), NOCOUNT, "no", 0, 0, 0,
     "LMDB: write each decision through to disk before answering. no: flushed every second "
     "(a crash of the system may forget the last second of counts; a crash of spoofguardd "
     "loses nothing)."},
    {"outbound_redis_timeout_ms", T_UINT, F(outbound_redis_timeout_ms), NOCOUNT, "200", 10, 10000,
     0,
     "Redis: how long a decision waits for Redis before it is counted in memory instead "
     "(mail keeps flowing; reconnection with backoff)."},
    {"outbound_notify", T_STRING, F(outbound_notify), NOCOUNT, NULL, 0, 0, 1,
     "A command (run by /bin/sh -c, as `user`) told of each account the engine blocks: one "
     "JSON object on its standard input (docs/outbound-daemon.md). Unset: none."},
    {"outbound_notify_interval", T_UINT, F(outbound_notify_interval), NOCOUNT, "60", 0, 86400, 1,
     "At most one outbound_notify run per this many seconds (per daemon); the blocks in "
     "between are in the log."},
    {"report_store", T_STRING, F(report_store), NOCOUNT, NULL, 0, 0, 0,
     "Collect what inbound DMARC evaluations see for the aggregate reports `spoofguard report "
     "send` makes (docs/reports.md): the SQLite file (WAL mode) shared with `spoofguard report`, "
     "e.g. `/var/lib/spoofguard/reports.db`, writable by `user`; unset: off."},
    {"report_flush_interval", T_UINT, F(report_flush_interval), NOCOUNT, "60", 1, 3600, 0,
     "Seconds between writes of the collected counts to report_store (a thread of its own; "
     "the workers never wait for it). A worker whose table is full asks for a write at once."},
    {"report_redis", T_STRING, F(report_redis), NOCOUNT, NULL, 0, 0, 0,
     "Several MX hosts, one set of reports: `redis://HOST:PORT[/DB]` (the outbound store's "
     "Redis will do). The counts go there (one hash per UTC day, kept 8 days) instead of "
     "report_store's table, from the flush thread; Redis down: they wait in memory "
     "(report_max_groups) and go at a later flush. `spoofguard report send --redis URL` on "
     "any host sends the cluster's reports, one host at a time. Needs report_store."},
    {"failure_reports", T_BOOL, F(failure_reports), NOCOUNT, "no", 0, 0, 0,
     "Send DMARC failure reports (RFC 9991) to the ruf= addresses of a policy domain whose "
     "record asks (fo=): queued in report_store, at most one per policy domain, source address "
     "and hour, one per organisational domain (public suffix list) and source address, and 10 "
     "per organisational domain, per hour; redacted (no recipient local part, no subject, no body; "
     "docs/reports.md), and "
     "mailed by `spoofguard report send`. Needs report_store."},
    {"report_max_groups", T_UINT, F(report_max_groups), NOCOUNT, "100000", 1000, 10000000, 0,
     "Distinct report rows (source, results, identifiers) one worker holds in memory between "
     "two writes, about 300 bytes each; a message that finds the table full is not counted "
     "and shows in spoofguard_report_lost_total."},
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

/* The engine's own directives (sg_ob_policy_directive): they may repeat,
 * and apply in file order. */
static int is_ob_directive(const char *name)
{
    return !strcasecmp(name, "outbound_limit") || !strcasecmp(name, "outbound_account") ||
           !strcasecmp(name, "outbound_internal_domain");
}

static const opt_def *find_option(const char *name)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (!strcasecmp(options[i].name, name))
            return &options[i];
    return NULL;
}

int sg_cidr_parse(const char *s, sg_cidr *out)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    unsigned maxp;
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *addr = buf;
    if (addr[0] == '[' && addr[n - 1] == ']') {
        addr[n - 1] = '\0';
        addr++;
    }
    memset(out, 0, sizeof(*out));
    struct in_addr a4;
    if (inet_pton(AF_INET, addr, &a4) == 1) {
        out->addr[10] = out->addr[11] = 0xff;
        memcpy(out->addr + 12, &a4, 4);
        maxp = 32;
    } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
        maxp = 128;
    } else {
        return -1;
    }
    unsigned p = maxp;
    if (slash) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(slash + 1, &end, 10);
        if (*end != '\0' || slash[1] == '\0' || errno || v > maxp)
            return -1;
        p = (unsigned)v;
    }
    out->prefix = maxp == 32 ? p + 96 : p;
    return 0;
}

int sg_cidr_match(const sg_cidr *list, size_t n, const uint8_t addr[16])
{
    for (size_t i = 0; i < n; i++) {
        unsigned bits = list[i].prefix, full = bits / 8, rest = bits % 8;
        if (memcmp(list[i].addr, addr, full) != 0)
            continue;
        if (rest) {
            uint8_t mask = (uint8_t)(0xff << (8 - rest));
            if ((list[i].addr[full] & mask) != (addr[full] & mask))
                continue;
        }
        return 1;
    }
    return 0;
}

int sg_listen_parse(const char *spec, sg_listen_addr *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!strncmp(spec, "unix:", 5)) {
        const char *path = spec + 5;
        /* the MTA is given the same path: one relative to wherever the
         * daemon was started (/ under systemd) names no socket it knows */
        if (path[0] != '/') {
            snprintf(err, errlen, "listen: '%s': the socket's path must be absolute", spec);
            return -1;
        }
        if (strlen(path) >= sizeof(out->path)) {
            snprintf(err, errlen, "listen: '%s': the socket's path is longer than %zu bytes", spec,
                     sizeof(out->path) - 1);
            return -1;
        }
        out->is_unix = 1;
        strcpy(out->path, path);
        return 0;
    }
    if (strncmp(spec, "inet:", 5) != 0) {
        snprintf(err, errlen, "listen: '%s' must start with inet: or unix:", spec);
        return -1;
    }
    /* the port follows the last colon; an IPv6 address's own colons are
     * inside brackets, so "inet:[::1]" lacks a port rather than meaning
     * [::]:1 */
    const char *hp = spec + 5, *colon = strrchr(hp, ':');
    char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2]; /* with a %scope */
    int bracketed = hp[0] == '[';
    if (colon == NULL || colon == hp || (bracketed && colon[-1] != ']')) {
        snprintf(err, errlen, "listen: '%s' is not inet:HOST:PORT (IPv6: inet:[ADDRESS]:PORT)",
                 spec);
        return -1;
    }
    /* getaddrinfo took any number and kept its low 16 bits: 93237 bound
     * 27701, 0 a port of the kernel's choosing (adv37 F2) */
    const char *port = colon + 1;
    size_t plen = strlen(port);
    unsigned long pv = 0;
    if (plen >= 1 && plen <= 5 && strspn(port, "0123456789") == plen)
        pv = strtoul(port, NULL, 10);
    if (pv < 1 || pv > 65535) {
        snprintf(err, errlen, "listen: '%s': the port must be 1 to 65535", spec);
        return -1;
    }
    size_t hl = (size_t)(colon - hp);
    if (bracketed)
        hl -= 2;
    if (hl == 0 || hl >= sizeof(host)) {
        snprintf(err, errlen, "listen: '%s': HOST must be a numeric address", spec);
        return -1;
    }
    memcpy(host, hp + bracketed, hl);
    host[hl] = '\0';
    /* the numeric forms the bind always took (getaddrinfo's): 127.1, an
     * IPv6 address unbracketed (the port after the last colon) or with a
     * %scope: a working configuration must not stop the next restart */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *ai = NULL;
    if (getaddrinfo(host, NULL, &hints, &ai) != 0 || ai == NULL ||
        ai->ai_addrlen > sizeof(out->sa)) {
        if (ai != NULL)
            freeaddrinfo(ai);
        /* a name would be looked up at each start and could change what
         * is bound */
        snprintf(err, errlen,
                 "listen: '%s': HOST must be a numeric IPv4 address (a.b.c.d) or an IPv6 one "
                 "(best in brackets, [::1]); a name is not looked up",
                 spec);
        return -1;
    }
    if (bracketed && ai->ai_family != AF_INET6) {
        freeaddrinfo(ai);
        snprintf(err, errlen, "listen: '%s': only an IPv6 address goes in brackets", spec);
        return -1;
    }
    memcpy(&out->sa, ai->ai_addr, ai->ai_addrlen);
    out->salen = ai->ai_addrlen;
    if (ai->ai_family == AF_INET)
        ((struct sockaddr_in *)&out->sa)->sin_port = htons((uint16_t)pv);
    else
        ((struct sockaddr_in6 *)&out->sa)->sin6_port = htons((uint16_t)pv);
    freeaddrinfo(ai);
    return 0;
}

int sg_listen_exposed(const sg_listen_addr *a)
{
    if (a->is_unix)
        return 0;
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->sa;
        return (ntohl(v4->sin_addr.s_addr) >> 24) != 127;
    }
    const struct in6_addr *v6 = &((const struct sockaddr_in6 *)&a->sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(v6))
        return v6->s6_addr[12] != 127;
    return !IN6_IS_ADDR_LOOPBACK(v6);
}

int sg_config_listen_exposed(const sg_config *c)
{
    sg_listen_addr a;
    char err[256];
    return c->listen != NULL && sg_listen_parse(c->listen, &a, err, sizeof(err)) == 0 &&
           sg_listen_exposed(&a);
}

static int check_listen(const char *value, char *err, size_t errlen)
{
    sg_listen_addr a;
    return sg_listen_parse(value, &a, err, errlen);
}

/* the resolver's own rule, so that the refusal names the line and why:
 * -t built a resolver after the whole file and said only "invalid
 * argument" (adv37 F8) */
static int check_dns_servers(const char *value, char *err, size_t errlen)
{
    const char *why = "";
    size_t off = 0, len = 0;
    if (sg_resolver_servers_check(value, &why, &off, &len) == SG_OK)
        return 0;
    if (len == 0)
        snprintf(err, errlen, "dns_servers: '%s': %s", value, why);
    else
        snprintf(err, errlen, "dns_servers: '%.*s': %s", (int)len, value + off, why);
    return -1;
}

/* RFC 8601 2.5: a token; we keep to host-name characters so every
 * Authentication-Results field we write can be read back */
static int check_authserv_id(const char *value, char *err, size_t errlen)
{
    if (sg_authserv_id_ok(value))
        return 0;
    snprintf(err, errlen, "authserv_id: '%s' is not a host name", value);
    return -1;
}

static int check_report_redis(const char *value, char *err, size_t errlen)
{
    if (strncmp(value, "redis://", 8) == 0)
        return 0;
    snprintf(err, errlen, "report_redis: '%s' is not redis://HOST:PORT[/DB]", value);
    return -1;
}

typedef int (*string_check_fn)(const char *value, char *err, size_t errlen);

/* A string option's own syntax, checked as its line is read so that the
 * error names the line (a check after the whole file could name none);
 * NULL: any text. */
static string_check_fn string_check(const opt_def *o)
{
    if (o->off == F(listen))
        return check_listen;
    if (o->off == F(dns_servers))
        return check_dns_servers;
    if (o->off == F(authserv_id))
        return check_authserv_id;
    if (o->off == F(metrics_listen))
        return sg_mhttp_check;
    if (o->off == F(report_redis))
        return check_report_redis;
    return NULL;
}

/* Split a list value on commas and whitespace. */
static size_t split_list(char *v, char **items, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(v, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
        if (n == max)
            return max + 1;
        items[n++] = tok;
    }
    return n;
}

#define MAX_LIST 4096

static int set_option(sg_config *c, const opt_def *o, const char *value, char *err, size_t errlen)
{
    char *base = (char *)c;
    char *copy = strdup(value);
    int rc = -1;
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    switch (o->type) {
    case T_STRING: {
        string_check_fn check = string_check(o);
        if (check != NULL && check(copy, err, errlen) != 0)
            break;
        char **f = (char **)(base + o->off);
        free(*f);
        *f = copy;
        return 0;
    }
    case T_UINT:
    case T_SIZE: {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(copy, &end, 10);
        uint64_t mul = 1;
        if (o->type == T_SIZE && *end) {
            switch (toupper((unsigned char)*end)) {
            case 'K':
                mul = 1024;
                end++;
                break;
            case 'M':
                mul = 1024 * 1024;
                end++;
                break;
            case 'G':
                mul = 1024ull * 1024 * 1024;
                end++;
                break;
            }
        }
        if (copy[0] == '-' || copy[0] == '\0' || *end || errno || v > UINT64_MAX / mul) {
            snprintf(err, errlen, "%s: '%s' is not a number", o->name, value);
            break;
        }
        v *= mul;
        if (v < o->min || v > o->max) {
            snprintf(err, errlen, "%s: %llu is out of range (%llu..%llu)", o->name, v,
                     (unsigned long long)o->min, (unsigned long long)o->max);
            break;
        }
        if (o->type == T_UINT)
            *(unsigned *)(base + o->off) = (unsigned)v;
        else
            *(uint64_t *)(base + o->off) = v;
        rc = 0;
        break;
    }
    case T_BOOL:
        if (!strcasecmp(copy, "yes") || !strcasecmp(copy, "true") || !strcasecmp(copy, "on") ||
            !strcmp(copy, "1"))
            *(int *)(base + o->off) = 1, rc = 0;
        else if (!strcasecmp(copy, "no") || !strcasecmp(copy, "false") ||
                 !strcasecmp(copy, "off") || !strcmp(copy, "0"))
            *(int *)(base + o->off) = 0, rc = 0;
        else
            snprintf(err, errlen, "%s: '%s' is not yes or no", o->name, value);
        break;
    case T_FAILSAFE:
        if (!strcasecmp(copy, "tempfail"))
            *(sg_failsafe *)(base + o->off) = SG_FAILSAFE_TEMPFAIL, rc = 0;
        else if (!strcasecmp(copy, "accept"))
            *(sg_failsafe *)(base + o->off) = SG_FAILSAFE_ACCEPT, rc = 0;
        else
            snprintf(err, errlen, "%s: '%s' is not tempfail or accept", o->name, value);
        break;
    case T_DOMAINS:
    case T_NAMES: {
        static const size_t max = MAX_LIST;
        char **items = malloc(sizeof(char *) * (max + 1));
        size_t n;
        if (items == NULL) {
            snprintf(err, errlen, "out of memory");
            break;
        }
        n = split_list(copy, items, max);
        if (n > max) {
            snprintf(err, errlen, "%s: more than %zu entries", o->name, max);
            free(items);
            break;
        }
        char ***f = (char ***)(base + o->off);
        size_t *cnt = (size_t *)(base + o->count_off);
        char **list = calloc(n ? n : 1, sizeof(char *));
        size_t i;
        /* Domains are compared in the form the verdict uses for the From
         * domain: A-labels, lower case, no root dot (IDNA2008 + UTS #46 by
         * libidn2, so a U-label protects what it names; the CLI's
         * --protect goes through the same function). */
        sg_arena *na = NULL;
        if (sg_arena_new(&na, 1024) != 0) {
            snprintf(err, errlen, "out of memory");
            free(list);
            free(items);
            break;
        }
        for (i = 0; list != NULL && i < n; i++) {
            char *norm = items[i];
            int nrc = o->type == T_NAMES
                          ? 0
                          : sg_dmarc_domain_normalise(na, items[i], strlen(items[i]), &norm);
            if (nrc != 0) {
                snprintf(err, errlen, "%s: '%s' is not a domain name%s", o->name, items[i],
                         nrc == SG_ESYNTAX ? " (IDNA2008/UTS #46)" : "");
                break;
            }
            if ((list[i] = strdup(norm)) == NULL)
                break;
        }
        sg_arena_free(na);
        if (list == NULL || i < n) {
            if (list && i == n)
                snprintf(err, errlen, "out of memory");
            for (size_t j = 0; list && j < i; j++)
                free(list[j]);
            free(list);
            free(items);
            break;
        }
        for (size_t j = 0; j < *cnt; j++)
            free((*f)[j]);
        free(*f);
        *f = list;
        *cnt = n;
        free(items);
        rc = 0;
        break;
    }
    case T_CIDRS: {
        char **items = malloc(sizeof(char *) * (MAX_LIST + 1));
        size_t n;
        if (items == NULL) {
            snprintf(err, errlen, "out of memory");
            break;
        }
        n = split_list(copy, items, MAX_LIST);
        sg_cidr *list = n <= MAX_LIST ? calloc(n ? n : 1, sizeof(sg_cidr)) : NULL;
        size_t i = 0;
        if (n > MAX_LIST)
            snprintf(err, errlen, "%s: more than %d entries", o->name, MAX_LIST);
        for (; list != NULL && i < n; i++)
            if (sg_cidr_parse(items[i], &list[i]) != 0) {
                snprintf(err, errlen, "%s: '%s' is not an address or network", o->name, items[i]);
                break;
            }
        free(items);
        if (list == NULL || i < n) {
            free(list);
            break;
        }
        sg_cidr **f = (sg_cidr **)(base + o->off);
        free(*f);
        *f = list;
        *(size_t *)(base + o->count_off) = n;
        rc = 0;
        break;
    }
    }
    free(copy);
    return rc;
}

int sg_config_defaults(sg_config *c)
{
    char err[256];
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < NOPTIONS; i++)
        if (options[i].def && set_option(c, &options[i], options[i].def, err, sizeof(err)) != 0)
            return -1;
    if (sg_ob_policy_new(&c->ob_policy) != 0)
        return -1;
    return 0;
}

/* A relative *file names a file beside the configuration file: it
 * becomes an absolute path, so that what -t prints loads again from any
 * folder (adv21 F7) and a reload finds the same file. */
static int resolve_beside(char **file, const char *config_path)
{
    char cwd[4096] = "";
    if (*file == NULL || (*file)[0] == '/')
        return 0;
    if (config_path[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL)
        return -2;
    const char *slash = strrchr(config_path, '/');
    size_t dirlen = slash ? (size_t)(slash - config_path) + 1 : 0;
    size_t cl = strlen(cwd), n = cl + 1 + dirlen + strlen(*file) + 1;
    char *joined = malloc(n);
    if (joined == NULL)
        return -1;
    snprintf(joined, n, "%s%s%.*s%s", cwd, cl ? "/" : "", (int)dirlen, config_path, *file);
    free(*file);
    *file = joined;
    return 0;
}

int sg_config_load(sg_config *c, const char *path, char *err, size_t errlen)
{
    char msg[512];
    sg_lines r;
    ssize_t len;
    unsigned char seen[NOPTIONS] = {0};

    if (sg_config_defaults(c) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* a folder, a read error or an endless line is an error, never the
     * defaults of the lines not read (adv26 CLI-2: a folder was "OK") */
    if (sg_lines_open(&r, path, err, errlen) != 0) {
        sg_config_free(c);
        return -1;
    }
    while ((len = sg_lines_next(&r, err, errlen)) >= 0) {
        size_t lineno = r.lineno;
        char *name, *p;
        if (!sg_conf_line(r.line, &name, &p))
            continue;
        if (is_ob_directive(name)) {
            int drc = sg_ob_policy_directive(c->ob_policy, name, p);
            if (drc != 0) {
                sg_ob_directive_why(msg, sizeof(msg), name, p, drc);
                snprintf(err, errlen, "%s:%zu: %s '%s': %s", path, lineno, name, p, msg);
                goto fail;
            }
            continue;
        }
        const opt_def *o = find_option(name);
        if (o == NULL) {
            snprintf(err, errlen, "%s:%zu: unknown option '%s'", path, lineno, name);
            goto fail;
        }
        if (seen[o - options]++) {
            snprintf(err, errlen, "%s:%zu: '%s' set twice", path, lineno, o->name);
            goto fail;
        }
        if (*p == '\0' && o->type != T_DOMAINS && o->type != T_NAMES && o->type != T_CIDRS) {
            snprintf(err, errlen, "%s:%zu: '%s' needs a value", path, lineno, o->name);
            goto fail;
        }
        if (set_option(c, o, p, msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "%s:%zu: %s", path, lineno, msg);
            goto fail;
        }
    }
    sg_lines_close(&r);
    if (len != SG_LINES_END) {
        sg_config_free(c);
        return -1;
    }
    /* Every relative path names a file beside the configuration, so a
     * configuration and its files can be checked and moved as one, and
     * -t's verdict does not depend on the folder it was run from: the
     * list and the store were opened from the current one (/ under
     * systemd; adv37 F3). The docs list these (gen-man.py, spoofguardd.md);
     * listen and metrics_listen refuse a relative socket path. */
    char **rel[] = {&c->sender_map,     &c->signing_table,      &c->key_table,
                    &c->log_file,       &c->public_suffix_list, &c->outbound_store,
                    &c->outbound_spill, &c->report_store};
    int rc;
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++)
        if (*rel[i] != NULL && strncmp(*rel[i], "redis://", 8) != 0 &&
            strcmp(*rel[i], "memory:") != 0 &&
            !(rel[i] == &c->outbound_spill && strcmp(*rel[i], "none") == 0) &&
            (rc = resolve_beside(rel[i], path)) != 0) {
            if (rc == -2)
                snprintf(err, errlen, "%s: the current folder: %s", path, strerror(errno));
            else
                snprintf(err, errlen, "out of memory");
            sg_config_free(c);
            return -1;
        }
    if ((c->signing_table == NULL) != (c->key_table == NULL)) {
        snprintf(err, errlen, "%s: signing_table and key_table go together", path);
        sg_config_free(c);
        return -1;
    }
    if (c->report_redis && c->report_store == NULL) {
        snprintf(err, errlen, "%s: report_redis needs report_store", path);
        sg_config_free(c);
        return -1;
    }
    if (c->failure_reports && c->report_store == NULL) {
        snprintf(err, errlen, "%s: failure_reports needs report_store (the queue lives there)",
                 path);
        sg_config_free(c);
        return -1;
    }
    return 0;
fail:
    sg_lines_close(&r);
    sg_config_free(c);
    return -1;
}

void sg_config_free(sg_config *c)
{
    char *base = (char *)c;
    for (size_t i = 0; i < NOPTIONS; i++) {
        const opt_def *o = &options[i];
        if (o->type == T_STRING) {
            free(*(char **)(base + o->off));
        } else if (o->type == T_DOMAINS || o->type == T_NAMES) {
            char **list = *(char ***)(base + o->off);
            size_t n = *(size_t *)(base + o->count_off);
            for (size_t j = 0; j < n; j++)
                free(list[j]);
            free(list);
        } else if (o->type == T_CIDRS) {
            free(*(sg_cidr **)(base + o->off));
        }
    }
    sg_ob_policy_free(c->ob_policy);
    memset(c, 0, sizeof(*c));
}

const char *sg_config_reload_blocker(const sg_config *a, const sg_config *b)
{
    const char *pa = (const char *)a, *pb = (const char *)b;
    for (size_t i = 0; i < NOPTIONS; i++) {
        const opt_def *o = &options[i];
        if (o->reloadable)
            continue;
        switch (o->type) {
        case T_STRING: {
            const char *x = *(char *const *)(pa + o->off), *y = *(char *const *)(pb + o->off);
            if ((x == NULL) != (y == NULL) || (x && strcmp(x, y)))
                return o->name;
            break;
        }
        case T_UINT:
            if (*(const unsigned *)(pa + o->off) != *(const unsigned *)(pb + o->off))
                return o->name;
            break;
        case T_BOOL:
            if (*(const int *)(pa + o->off) != *(const int *)(pb + o->off))
                return o->name;
            break;
        case T_SIZE:
            if (*(const uint64_t *)(pa + o->off) != *(const uint64_t *)(pb + o->off))
                return o->name;
            break;
        default:
            break; /* every list option is reloadable */
        }
    }
    return NULL;
}

static const char *type_name(opt_type t)
{
    switch (t) {
    case T_STRING:
        return "string";
    case T_UINT:
        return "number";
    case T_SIZE:
        return "size (K, M, G suffixes)";
    case T_BOOL:
        return "yes/no";
    case T_DOMAINS:
        return "list of domains";
    case T_NAMES:
        return "list of names";
    case T_CIDRS:
        return "list of addresses/networks";
    case T_FAILSAFE:
        return "tempfail/accept";
    }
    return "?";
}

void sg_config_print_reference(void *fp)
{
    FILE *f = fp;
    fprintf(f, "| option | type | default | reload | meaning |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < NOPTIONS; i++)
        fprintf(f, "| `%s` | %s | %s | %s | %s |\n", options[i].name, type_name(options[i].type),
                options[i].def ? options[i].def : "(unset)", options[i].reloadable ? "yes" : "no",
                options[i].doc);
}

int sg_config_print(const sg_config *c, void *fp)
{
    FILE *f = fp;
    const char *base = (const char *)c;
    char *ob_lines = NULL;
    /* made first: on an error nothing is printed */
    if (c->ob_policy != NULL) {
        int rc = sg_ob_policy_lines(c->ob_policy, &ob_lines);
        if (rc != SG_OK)
            return rc;
    }
    for (size_t i = 0; i < NOPTIONS; i++) {
        const opt_def *o = &options[i];
        /* an option not set is a comment: "name" alone would not load, and
         * what --check prints must be a configuration file */
        if (o->type == T_STRING && *(char *const *)(base + o->off) == NULL) {
            fprintf(f, "# %s (not set)\n", o->name);
            continue;
        }
        /* an empty list is the name alone (it loads as one) */
        fprintf(f, "%s", o->name);
        switch (o->type) {
        case T_STRING:
            fprintf(f, " %s", *(char *const *)(base + o->off));
            break;
        case T_UINT:
            fprintf(f, " %u", *(const unsigned *)(base + o->off));
            break;
        case T_SIZE:
            fprintf(f, " %llu", (unsigned long long)*(const uint64_t *)(base + o->off));
            break;
        case T_BOOL:
            fprintf(f, " %s", *(const int *)(base + o->off) ? "yes" : "no");
            break;
        case T_FAILSAFE:
            fprintf(f, " %s",
                    *(const sg_failsafe *)(base + o->off) == SG_FAILSAFE_ACCEPT ? "accept"
                                                                                : "tempfail");
            break;
        case T_DOMAINS:
        case T_NAMES: {
            char *const *l = *(char **const *)(base + o->off);
            size_t n = *(const size_t *)(base + o->count_off);
            for (size_t j = 0; j < n; j++)
                fprintf(f, "%s%s", j ? ", " : " ", l[j]);
            break;
        }
        case T_CIDRS: {
            const sg_cidr *l = *(sg_cidr *const *)(base + o->off);
            size_t n = *(const size_t *)(base + o->count_off);
            for (size_t j = 0; j < n; j++) {
                char buf[INET6_ADDRSTRLEN];
                int v4 =
                    l[j].prefix >= 96 && !memcmp(l[j].addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
                if (v4)
                    inet_ntop(AF_INET, l[j].addr + 12, buf, sizeof(buf));
                else
                    inet_ntop(AF_INET6, l[j].addr, buf, sizeof(buf));
                fprintf(f, "%s%s/%u", j ? ", " : " ", buf, v4 ? l[j].prefix - 96 : l[j].prefix);
            }
            break;
        }
        }
        fputc('\n', f);
    }
    if (ob_lines != NULL)
        fputs(ob_lines, f);
    free(ob_lines);
    return ferror(f) ? SG_EIO : 0;
}
