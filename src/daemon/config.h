/*
 * spoofguardd configuration: one declarative table of options (name,
 * type, default, whether a SIGHUP reload may change it, documentation).
 * Loading, validation, `spoofguardd -t`, reload and the option reference
 * in docs/ all come from that table.
 *
 * File syntax: one `name value` per line; `#` starts a comment; list
 * values are separated by commas and/or spaces.
 */
#ifndef SG_DAEMON_CONFIG_H
#define SG_DAEMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef enum { SG_FAILSAFE_TEMPFAIL = 0, SG_FAILSAFE_ACCEPT = 1 } sg_failsafe;

typedef struct {
    uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d */
    unsigned prefix;  /* 0..128, on the mapped form */
} sg_cidr;

typedef struct {
    char *listen;       /* inet:HOST:PORT or unix:PATH */
    char *listen_group; /* group of a unix socket (the MTA's), or NULL */
    char *authserv_id;
    unsigned workers;
    int batch_scheduling; /* the workers run SCHED_BATCH (Linux) */
    char *dns_servers;    /* NULL: /etc/resolv.conf */
    unsigned dns_timeout_ms;
    unsigned dns_tries;
    sg_cidr *internal_networks;
    size_t n_internal_networks;
    char **protected_domains;
    size_t n_protected_domains;
    int reject_protected_fail;
    char *sender_map;
    int sender_display_names;
    char **sender_display_names_exempt;
    size_t n_sender_display_names_exempt;
    char *signing_table;
    char *key_table;
    int dmarc_enforce;        /* 0: monitor only, never reject/quarantine for DMARC */
    int dmarc_suffix_guard;   /* sg_dmarc_opts.suffix_guard */
    char *public_suffix_list; /* a public_suffix_list.dat; NULL: the system's newest */
    char **never_reject_domains;
    size_t n_never_reject_domains;
    char **trusted_arc_sealers; /* local policy: ARC sealers whose dmarc=pass we take */
    size_t n_trusted_arc_sealers;
    char *arc_seal_key; /* key_table name: ARC-seal inbound mail we pass on; NULL: off */
    sg_failsafe failsafe;
    unsigned max_connections;
    uint64_t max_message_size;
    unsigned message_timeout_s;
    int allow_group_readable_keys; /* only for keys owned by a trusted group; default off */
    char *log_file;                /* NULL: stderr */
    char *user;                    /* run as this user after start-up, or NULL */
    char *signer_user;             /* the signer process's user (started as root) */
    char *metrics_listen;          /* loopback HOST:PORT or a unix socket path, or NULL */
    /* outbound abuse detection (issue 14; docs/outbound-daemon.md) */
    int outbound;
    char *outbound_store; /* an LMDB directory or redis://HOST:PORT[/DB] */
    char *outbound_spill; /* a file, or "none" */
    unsigned outbound_spill_interval;
    uint64_t outbound_store_map_size;
    int outbound_store_sync;
    unsigned outbound_redis_timeout_ms;
    char *outbound_notify;
    unsigned outbound_notify_interval;
    /* the engine's policy: built-in defaults, then the outbound_limit,
     * outbound_account and outbound_internal_domain lines in file order */
    struct sg_ob_policy *ob_policy;
    /* DMARC report collection (docs/reports.md): the SQLite file or NULL
     * (off); seconds between flushes; rows a worker holds between them */
    char *report_store;
    unsigned report_flush_interval;
    unsigned report_max_groups;
    int failure_reports; /* RFC 9991 failure reports queued in report_store */
    char *report_redis;  /* a cluster's counts: redis://HOST:PORT[/DB], or NULL */
} sg_config;

/* Load a file into *out (zeroed first; defaults applied). On error
 * returns non-zero and writes "FILE:LINE: message" into err. */
int sg_config_load(sg_config *out, const char *path, char *err, size_t errlen);
/* Defaults only (no file). */
int sg_config_defaults(sg_config *out);
void sg_config_free(sg_config *c);

/* Options a reload cannot change: returns the name of the first one
 * that differs between a and b, or NULL. */
const char *sg_config_reload_blocker(const sg_config *a, const sg_config *b);

/* Print the option reference (Markdown) generated from the table. */
void sg_config_print_reference(void *FILE_ptr);
/* Print the effective configuration in file syntax, the outbound
 * engine's lines last. 0; SG_ENOMEM when those lines cannot be made
 * (nothing printed); SG_EIO when writing failed. */
int sg_config_print(const sg_config *c, void *FILE_ptr);

/* A `listen` value read: the one reading of it, so that what the
 * configuration's check accepts is what server.c binds (adv37 F1). */
typedef struct {
    int is_unix;
    char path[108];             /* unix: the socket (sun_path's size) */
    struct sockaddr_storage sa; /* inet: the address and port */
    socklen_t salen;
} sg_listen_addr;

/* `unix:/PATH` or `inet:HOST:PORT`: HOST a numeric IPv4 address or an
 * IPv6 one, best in brackets (no name: it would be looked up at each
 * start), PORT 1 to 65535. 0, or -1 with the reason in err. */
int sg_listen_parse(const char *spec, sg_listen_addr *out, char *err, size_t errlen);

/* 1 if a is a TCP address beyond loopback (127.0.0.0/8, ::1): other
 * hosts may connect and ask for mail to be signed. */
int sg_listen_exposed(const sg_listen_addr *a);

/* A listen beyond loopback is allowed (the MTA may run on another host),
 * but said, by -t and at start, as the missing sender_map is: a
 * connection can ask for mail to be signed (adv37). */
#define SG_CONFIG_LISTEN_EXPOSED                                                                   \
    "listen is not a loopback address: whoever can connect can ask for mail to be signed; let "    \
    "only the MTA's hosts reach the port (a firewall), or listen on loopback or a unix socket"
/* 1 if c->listen is a TCP address beyond loopback. */
int sg_config_listen_exposed(const sg_config *c);

/* 1 if the address (16-byte mapped form) is in one of the networks. */
int sg_cidr_match(const sg_cidr *list, size_t n, const uint8_t addr[16]);
/* Parse "1.2.3.4", "::1", "[::1]", with an optional /prefix. 0 or -1. */
int sg_cidr_parse(const char *s, sg_cidr *out);

#endif
