/*
 * spoofguard/dns.h - one asynchronous resolver interface, two backends.
 *
 * A query names (name, type) and gets exactly one answer through a
 * callback, unless it is cancelled first. Answers are never delivered from
 * inside sg_resolver_query(): they arrive from sg_resolver_run() (or from
 * the event loop that drives a network resolver), so a caller may issue
 * queries from inside a callback without re-entrancy surprises.
 *
 * Backends:
 *  - network (c-ares): real DNS, per-query timeout and retries, TTL cache
 *    with negative caching;
 *  - zone: an in-memory zone loaded from an RFC 1035 master file or a
 *    conformance zone.tsv, with fault injection (TIMEOUT / SERVFAIL rows).
 *
 * Engines (SPF, DKIM, DMARC) only ever see sg_resolver.
 */
#ifndef SPOOFGUARD_DNS_H
#define SPOOFGUARD_DNS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* RR types we use (numeric values are the IANA ones). */
typedef enum {
    SG_DNS_A = 1,
    SG_DNS_CNAME = 5,
    SG_DNS_PTR = 12,
    SG_DNS_MX = 15,
    SG_DNS_TXT = 16,
    SG_DNS_AAAA = 28,
    SG_DNS_SPF = 99,
    SG_DNS_ANY = 255, /* only meaningful in zone fault-injection rows */
} sg_dns_type;

typedef enum {
    SG_DNS_NOERROR = 0, /* records present (count > 0) */
    SG_DNS_NODATA,      /* name exists, no record of this type */
    SG_DNS_NXDOMAIN,    /* name does not exist */
    SG_DNS_SERVFAIL,    /* server failure / refused / malformed answer */
    SG_DNS_TIMEOUT,     /* no answer in time (after retries) */
    SG_DNS_EFAIL,       /* local failure (out of memory, cancelled resolver) */
} sg_dns_status;

typedef struct {
    uint16_t type; /* sg_dns_type */
    uint32_t ttl;
    union {
        uint8_t a[4];
        uint8_t aaaa[16];
        struct {
            uint16_t pref;
            const char *host; /* NUL-terminated, no trailing dot */
        } mx;
        const char *name; /* PTR, CNAME target, NUL-terminated, no trailing dot */
        struct {
            /* The record's character-strings concatenated with nothing
             * between them (RFC 7208 3.3, RFC 6376 3.6.2.2). May contain
             * NUL bytes: use len. data[len] is always NUL. */
            const char *data;
            size_t len;
            uint16_t nstrings;
        } txt;
    } u;
} sg_dns_rr;

/* An answer. Valid only for the duration of the callback: copy what you
 * keep. For NOERROR, records hold only RRs of the queried type (CNAMEs are
 * followed by the backend); ttl is the smallest TTL among them. For
 * NODATA/NXDOMAIN ttl is the negative-caching TTL. */
typedef struct {
    sg_dns_status status;
    uint16_t qtype;
    const char *qname; /* as asked */
    uint32_t ttl;
    size_t count;
    const sg_dns_rr *rrs;
} sg_dns_answer;

typedef void (*sg_dns_cb)(const sg_dns_answer *answer, void *payload);

typedef struct sg_resolver sg_resolver;
typedef struct sg_dns_query sg_dns_query;
typedef struct sg_zone sg_zone;

/* --- network backend ------------------------------------------------- */

/* The defaults of every front end (the CLI's --dns, the daemon's
 * dns_timeout_ms and dns_tries): one definition, so they cannot drift. */
#define SG_DNS_DEFAULT_TIMEOUT_MS 2000
#define SG_DNS_DEFAULT_TRIES 2

#define SG_RESOLVER_OPTS_VERSION 1
typedef struct {
    unsigned version;     /* SG_RESOLVER_OPTS_VERSION */
    const char *servers;  /* "ADDR[:PORT][,ADDR[:PORT]...]" (commas or white space; port
                           * 1..65535; [IPv6]:PORT); NULL: /etc/resolv.conf */
    unsigned timeout_ms;  /* per try; 0: SG_DNS_DEFAULT_TIMEOUT_MS */
    unsigned tries;       /* 0: SG_DNS_DEFAULT_TRIES */
    size_t cache_entries; /* 0: 10000 */
    int no_cache;         /* 1: disable the TTL cache */
    uint32_t max_ttl;     /* cap on cached TTLs, seconds; 0: 86400 */
    uint32_t neg_ttl;     /* negative TTL when the server gives none; 0: 300 */
} sg_resolver_opts;

SG_EXTERN void sg_resolver_opts_init(sg_resolver_opts *opts);
SG_EXTERN int sg_resolver_new_net(sg_resolver **out, const sg_resolver_opts *opts);
/* Check a list as sg_resolver_opts.servers takes it, with the rule
 * sg_resolver_new_net applies, without building a resolver: SG_OK, or
 * SG_EINVAL with *reason (static text) and the first entry refused at
 * servers + *off, *len bytes long (*len 0: the list names no server).
 * reason, off and len may be NULL. */
SG_EXTERN int sg_resolver_servers_check(const char *servers, const char **reason, size_t *off,
                                        size_t *len) SG_WARN_UNUSED;

/* --- zone backend ----------------------------------------------------- */

/* The resolver borrows the zone: keep it alive until the resolver is
 * freed. One zone may serve several resolvers. Answers are delivered by
 * sg_resolver_run() in query order; one run answers the queries pending
 * when it started (a query made from a callback waits for the next run).
 * CNAMEs are followed (at most 8 links; loops give SERVFAIL); TIMEOUT
 * rows answer SG_DNS_TIMEOUT at once, without waiting. */
SG_EXTERN int sg_resolver_new_zone(sg_resolver **out, const sg_zone *zone);

/* --- common ----------------------------------------------------------- */

/* Not from inside one of its own callbacks (sg_resolver_run is still
 * walking its queries: adv44 F6): end the run first, then free. Queries
 * still out are cancelled without their callbacks. */
SG_EXTERN void sg_resolver_free(sg_resolver *r);

/* Start a query. name: a domain name with or without a trailing dot.
 * On success *out (if out != NULL) is a handle valid until the callback
 * runs or the query is cancelled. Names longer than 253 octets or with a
 * label over 63 octets fail with SG_EINVAL. */
SG_EXTERN int sg_resolver_query(sg_resolver *r, const char *name, uint16_t type, sg_dns_cb cb,
                                void *payload, sg_dns_query **out);

/* Cancel a pending query: its callback will not run. */
SG_EXTERN void sg_resolver_cancel(sg_resolver *r, sg_dns_query *q);

/* Deliver ready answers and do network I/O, waiting at most timeout_ms
 * for I/O (0: do not wait, <0: wait until at least one answer or the
 * next timeout). Returns the number of queries still pending (>= 0) or a
 * negative SG_E* code. */
SG_EXTERN int sg_resolver_run(sg_resolver *r, int timeout_ms);

/* Number of queries started but not yet answered or cancelled. */
SG_EXTERN size_t sg_resolver_pending(const sg_resolver *r);

/* Event-loop integration for the network backend: the file descriptors to
 * watch and how long until the next timeout. fds[] receives up to nfds
 * descriptors; *want_write[i] says the socket also needs POLLOUT.
 * Returns the number of descriptors, and *timeout_ms (-1: none). After
 * readiness (or timeout) call sg_resolver_process_fd / _run(r, 0). */
SG_EXTERN int sg_resolver_fds(sg_resolver *r, int *fds, int *want_write, int nfds, int *timeout_ms);
SG_EXTERN void sg_resolver_process_fd(sg_resolver *r, int read_fd, int write_fd);

/* Observation, for a daemon's metrics: cb runs once for every answer a
 * network resolver delivers, just before the query's own callback and on
 * the thread that runs the resolver, with whether it came from the cache
 * and the microseconds since sg_resolver_query(). It must not call into
 * the resolver. cb NULL turns it off. SG_EINVAL for the zone backend. */
typedef void (*sg_dns_observe_cb)(const sg_dns_answer *answer, int from_cache, uint64_t elapsed_us,
                                  void *payload);
SG_EXTERN int sg_resolver_observe(sg_resolver *r, sg_dns_observe_cb cb, void *payload);

/* --- synchronous wrapper (CLI only) ------------------------------------ */

/* An answer copied out of the callback, owned by the caller. */
typedef struct {
    sg_dns_answer answer; /* answer.rrs / qname point into the owned block */
    void *mem_;
} sg_dns_result;

/* Blocks: issues the query and runs the resolver until the answer
 * arrives. Returns 0 and fills *out (free with sg_dns_result_free). */
SG_EXTERN int sg_dns_lookup_sync(sg_resolver *r, const char *name, uint16_t type,
                                 sg_dns_result *out);
SG_EXTERN void sg_dns_result_free(sg_dns_result *res);

/* Copy an answer (e.g. inside a callback) into an owned sg_dns_result. */
SG_EXTERN int sg_dns_answer_copy(const sg_dns_answer *in, sg_dns_result *out);

/* --- zones -------------------------------------------------------------- */

SG_EXTERN int sg_zone_new(sg_zone **out);
SG_EXTERN void sg_zone_free(sg_zone *z);

/* Parse an RFC 1035 master file (text) into the zone: owner names
 * (relative and absolute, @, blank owner = previous), $ORIGIN, $TTL,
 * optional TTL and class, A, AAAA, MX, TXT (several quoted strings,
 * \DDD and \X escapes), PTR, CNAME, SPF, parentheses spanning lines,
 * comments. Other registered types (SOA, NS, SRV... or TYPEnnn) are
 * accepted and only mark the name as existing; a misspelt type is an
 * error. Fault injection: `name [ttl] [IN] TIMEOUT TYPE` or
 * `name SERVFAIL TYPE` where TYPE is a type mnemonic or ANY.
 * Wildcard owners (`*.example`) answer as RFC 4592 says, and names above
 * a record exist (empty non-terminals). A query for a type the name has
 * no record of gives NODATA if the name
 * has any line (record, other type, fault row), NXDOMAIN otherwise.
 * origin: initial $ORIGIN (NULL: root). On a syntax error returns
 * SG_ESYNTAX and, if err_line != NULL, the 1-based line number;
 * $INCLUDE and $GENERATE give SG_EUNSUPPORTED (with the line), and so
 * does a name with an escaped dot inside a label ("x\.y", "x\046y"):
 * names are held as dotted text, which cannot tell it from two labels.
 * TXT data keeps every octet, NUL included (u.txt.len). A
 * character-string over 255 octets is SG_ESYNTAX (RFC 1035 3.3). On error
 * the records before the bad line stay in the zone. */
SG_EXTERN int sg_zone_load_text(sg_zone *z, const char *text, size_t len, const char *origin,
                                size_t *err_line);
SG_EXTERN int sg_zone_load_file(sg_zone *z, const char *path, const char *origin, size_t *err_line);

/* Load the conformance suites' flat zone.tsv format. If the file has a
 * scenario column, only rows whose scenario equals `scenario` are loaded
 * (scenario NULL: load rows of every scenario; use for files without the
 * column, where `scenario` is ignored). The column is found from the '#'
 * header line (the one not called name/type/value, e.g. "scenario" or
 * "case"). Special rows: `name NXDOMAIN -`, `name SERVFAIL -`, `name
 * TIMEOUT -` (every type), `name EXISTS -`, and `name TYPE TIMEOUT` (that
 * type only). Values are master-file RDATA with absolute names; a TXT
 * string over 255 octets is split as it would be on the wire. Records get
 * TTL 300. err_line: the line of a bad row. */
SG_EXTERN int sg_zone_load_tsv(sg_zone *z, const char *path, const char *scenario,
                               size_t *err_line);

/* Add one record given as master-file text for the data part, e.g.
 * sg_zone_add(z, "example.com", "TXT", "\"v=spf1 -all\"", 300). Takes the
 * same rows as zone.tsv: type may be TIMEOUT/SERVFAIL/EXISTS/NXDOMAIN and
 * data may be TIMEOUT/SERVFAIL (see sg_zone_load_tsv). name is absolute. */
SG_EXTERN int sg_zone_add(sg_zone *z, const char *name, const char *type, const char *data,
                          uint32_t ttl);

/* Type mnemonic <-> number; 0 / NULL when unknown. */
SG_EXTERN uint16_t sg_dns_type_from_str(const char *s);
SG_EXTERN const char *sg_dns_type_str(uint16_t type);
SG_EXTERN const char *sg_dns_status_str(sg_dns_status st);

#ifdef __cplusplus
}
#endif
#endif
