/*
 * Internal to the network DNS backend: owned answers, the wire-format
 * answer parser that builds them, and the TTL cache that keeps them.
 *
 * An answer (sg_dns_ans) is one immutable, reference-counted block: the
 * header, the sg_dns_rr array and every string the records point to. The
 * cache and every query waiting for it share one block; nothing is copied
 * on a cache hit except the rr array when TTLs must be aged.
 */
#ifndef SG_DNS_CACHE_H
#define SG_DNS_CACHE_H

#include <spoofguard/dns.h>

/* --- owned answers --------------------------------------------------------- */

typedef struct sg_dns_ans {
    unsigned refs;
    sg_dns_status status;
    uint32_t ttl;       /* as in sg_dns_answer (capped by max_ttl) */
    uint32_t cache_ttl; /* lifetime in the cache: also bounded by the CNAME TTLs */
    size_t count;
    sg_dns_rr *rrs; /* points into this block */
} sg_dns_ans;

/* An answer without records (SERVFAIL, TIMEOUT, EFAIL...). NULL when out of
 * memory. */
sg_dns_ans *sg_dns_ans_new_status(sg_dns_status st, uint32_t ttl);
sg_dns_ans *sg_dns_ans_ref(sg_dns_ans *a);
void sg_dns_ans_unref(sg_dns_ans *a);

/* Limits applied while parsing. */
typedef struct {
    uint32_t max_ttl; /* cap on every TTL (seconds) */
    uint32_t neg_ttl; /* negative TTL when the authority section has no SOA */
} sg_dns_ans_limits;

/* Longest presentation-format name the parser produces: 255 wire octets,
 * each possibly escaped as \DDD, plus the NUL. */
#define SG_DNS_PRESENTATION_MAX (255 * 4 + 1)

/* Longest CNAME chain followed inside one answer (and, by the resolver,
 * across re-queries). RFC 1034 3.6.2 asks resolvers to follow chains but
 * to guard against loops; 16 is what BIND and unbound also treat as
 * excessive. */
#define SG_DNS_MAX_CNAME_CHAIN 16

/* Build an answer for (qname, qtype) from a raw DNS response (RFC 1035
 * 4.1). The answer's status comes from the RCODE and the records; a
 * response that does not parse, or that answers another question, gives a
 * SERVFAIL answer (never an error return). CNAMEs owned by qname are
 * followed through the answer section; only RRs of qtype owned by the
 * chain's last name are returned. If the chain ends in a name for which
 * the response holds neither records nor a negative proof (SOA), the
 * returned answer is NODATA and that name is written to follow[] (size
 * SG_DNS_PRESENTATION_MAX), so that the caller may ask for it (that answer
 * must not be cached; its cache_ttl is the chain's smallest TTL, to bound
 * the final answer's lifetime); otherwise follow[0] = 0. Names compare
 * octet by octet after escapes (\DDD, \X) are decoded, ASCII case folded.
 * *hops receives the number of CNAMEs followed. Returns 0, SG_ENOMEM or
 * SG_EINVAL (a type the parser does not know). */
int sg_dns_ans_from_wire(sg_dns_ans **out, const uint8_t *pkt, size_t len, const char *qname,
                         uint16_t qtype, const sg_dns_ans_limits *lim, char *follow,
                         unsigned *hops);

/* Copy a's rr array with every TTL lowered by age seconds (clamped at 0):
 * for answers served from the cache. Returns NULL when out of memory. */
sg_dns_rr *sg_dns_ans_aged_rrs(const sg_dns_ans *a, uint32_t age);

/* --- the TTL cache ----------------------------------------------------------- */

/* Monotonic milliseconds; injectable so that tests can move time. */
typedef uint64_t (*sg_dns_clock_fn)(void *ctx);
uint64_t sg_dns_clock_monotonic(void *ctx);

typedef struct {
    size_t max_entries;    /* > 0 */
    uint32_t max_ttl;      /* seconds; lifetimes are capped to this */
    sg_dns_clock_fn clock; /* NULL: sg_dns_clock_monotonic */
    void *clock_ctx;
} sg_dns_cache_opts;

typedef struct sg_dns_cache sg_dns_cache;

int sg_dns_cache_new(sg_dns_cache **out, const sg_dns_cache_opts *opts);
void sg_dns_cache_free(sg_dns_cache *c);

/* Store ans under (name, type); name is compared case-insensitively.
 * Only NOERROR, NODATA and NXDOMAIN answers with cache_ttl > 0 are stored
 * (others are ignored and 0 is returned). Replaces an existing entry; when
 * full, evicts the least recently used entry. Takes its own reference. */
int sg_dns_cache_put(sg_dns_cache *c, const char *name, uint16_t type, sg_dns_ans *ans);

/* Look (name, type) up. On a hit returns a new reference and *age (seconds
 * since it was stored) and *remaining (seconds until it expires, >= 1);
 * expired entries are dropped and count as misses. */
sg_dns_ans *sg_dns_cache_get(sg_dns_cache *c, const char *name, uint16_t type, uint32_t *age,
                             uint32_t *remaining);

size_t sg_dns_cache_count(const sg_dns_cache *c);

/* --- network backend test hooks (resolver_net.c) ----------------------------- */

typedef struct {
    uint64_t sent;       /* queries handed to c-ares (each try counts) */
    uint64_t cache_hits; /* queries answered from the cache */
    uint64_t coalesced;  /* queries that joined one already in flight */
    uint64_t requeries;  /* follow-up queries for a dangling CNAME target */
} sg_dns_net_stats;

/* Counters of a network resolver; SG_EINVAL if r is another backend. */
int sg_dns_net_stats_get(const sg_resolver *r, sg_dns_net_stats *out);

#endif
