/*
 * Internal: the in-memory zone behind the zone resolver backend, and the
 * pieces the master-file and zone.tsv loaders share.
 *
 * A zone maps a lower-cased owner name to its RRsets, an "exists" mark
 * (NODATA vs NXDOMAIN) and fault-injection rows. All memory belongs to the
 * zone's arena, so pointers handed out (names, rr arrays, TXT data) stay
 * valid until sg_zone_free(), even if records are added later.
 */
#ifndef SG_DNS_ZONE_H
#define SG_DNS_ZONE_H

#include <spoofguard/dns.h>

/* CNAME chain bound: RFC 1034 3.6.2 wants chains followed but loops
 * detected; real resolvers give up after about 8-16 links (BIND: 16,
 * Unbound: 11). Eight is plenty for test zones; longer gives SERVFAIL. */
#define SG_ZONE_MAX_CNAME 8
/* TTL of records that give none and follow no $TTL (RFC 1035 5.1 takes
 * the last stated TTL; with none stated at all we need some value). */
#define SG_ZONE_DEFAULT_TTL 3600
/* TTL reported with NODATA/NXDOMAIN: a zone has no SOA to take the RFC
 * 2308 negative TTL from; 300 matches the network backend's default. */
#define SG_ZONE_NEG_TTL 300
/* Records loaded from zone.tsv carry no TTL. */
#define SG_ZONE_TSV_TTL 300
/* Largest zone file we read (master file or zone.tsv): far above any
 * test zone, small enough that a mistaken path cannot exhaust memory. */
#define SG_ZONE_MAX_FILE (64u * 1024u * 1024u)
/* RFC 2181 8: TTLs are 31-bit; larger values are a syntax error here. */
#define SG_ZONE_MAX_TTL 2147483647u
/* RFC 1035 3.3: a <character-string> is at most 255 octets; RDATA (and so
 * a whole TXT record) at most 65535. */
#define SG_ZONE_MAX_CHARSTRING 255
#define SG_ZONE_MAX_RDATA 65535

/* Pseudo types, only in loaders' type columns (above the 16-bit space). */
#define SG_ZONE_T_TIMEOUT 0x10001
#define SG_ZONE_T_SERVFAIL 0x10002
#define SG_ZONE_T_NXDOMAIN 0x10003
#define SG_ZONE_T_EXISTS 0x10004
#define SG_ZONE_T_UNKNOWN 0x10005 /* a well-formed mnemonic we do not store */

/* The outcome of one lookup; rrs point into the zone. */
typedef struct {
    sg_dns_status status;
    uint32_t ttl;
    size_t count;
    const sg_dns_rr *rrs;
    unsigned cname_hops; /* CNAMEs followed to get here */
} sg_zone_answer;

/* Resolve (name, qtype) by the zone.tsv rules (tests/conformance/
 * SOURCES.md): a fault row for (name, qtype) or (name, ANY) first; then the
 * records of qtype; then a CNAME (qtype != CNAME), followed at most
 * SG_ZONE_MAX_CNAME times (longer chains and loops: SERVFAIL); then
 * NODATA if the name exists, else NXDOMAIN. name: no trailing dot, any
 * case. Never fails. */
void sg_zone_resolve(const sg_zone *z, const char *name, uint16_t qtype, sg_zone_answer *out);

/* Number of resource records stored (not marks or faults). */
size_t sg_zone_count(const sg_zone *z);
/* Bytes of memory the zone holds (arena and tables), for tests that bound
 * what a load costs per input byte without timing anything. */
size_t sg_zone_bytes(const sg_zone *z);

/* Building blocks for the loaders. owner: absolute, no trailing dot, any
 * case (it is lower-cased); rr strings are copied into the zone. */
int sg_zone_add_rr(sg_zone *z, const char *owner, const sg_dns_rr *rr);
int sg_zone_mark_exists(sg_zone *z, const char *owner);
/* type: an RR type or SG_DNS_ANY; st: SG_DNS_TIMEOUT or SG_DNS_SERVFAIL. */
int sg_zone_add_fault(sg_zone *z, const char *owner, uint16_t type, sg_dns_status st);

/* Map a type-column token (case-insensitive) to an RR type, a
 * SG_ZONE_T_* pseudo type, or 0 if it is no mnemonic at all. Knows the
 * stored types, ANY, TYPEnnn (RFC 3597 5), the fault/mark keywords and the
 * registered types we only mark existence for (SOA, NS, SRV...). */
uint32_t sg_zone_type_lookup(const char *s, size_t len);

/* Parse master-file RDATA text for one record of `type` (a stored type),
 * relative names taken relative to origin ("" = root), and add it.
 * Returns SG_ESYNTAX on bad data. (zone_text.c) */
int sg_zone_add_rdata_text(sg_zone *z, const char *owner, uint16_t type, const char *data,
                           size_t len, const char *origin, uint32_t ttl, unsigned flags);
/* flags: a TXT/SPF string over 255 octets is split into 255-octet
 * character-strings as a zone compiler would put it on the wire, instead
 * of being a syntax error. The conformance zone.tsv files write 2048-bit
 * DKIM keys as one long string. */
#define SG_ZONE_SPLIT_LONG 1u
/* flags: an MX with a preference but no exchange has the root as its
 * exchange (zone.tsv writes the YAML's `MX: [0, ""]` as "0 "). */
#define SG_ZONE_MX_EMPTY_OK 2u

/* Zone resolver backend only: number of queries accepted so far by
 * sg_resolver_query() (cancelled ones included), for tests that count the
 * lookups a check makes. 0 for other backends. */
size_t sg_resolver_zone_queries(const sg_resolver *r);

/* Read a whole file, bounded by SG_ZONE_MAX_FILE; NUL-terminated,
 * caller frees. SG_EIO / SG_ELIMIT / SG_ENOMEM. */
int sg_zone_read_file(const char *path, char **out, size_t *len);

#endif
