/*
 * Owned DNS answers, the bounded wire-format answer parser, and the TTL
 * cache of the network backend. See cache.h for the contracts.
 */
#include "dns/cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ===================================================================== */
/* Owned answers                                                          */
/* ===================================================================== */

/* Offset of the rr array inside an answer block. */
#define ANS_RRS_OFF                                                                                \
    ((sizeof(sg_dns_ans) + _Alignof(sg_dns_rr) - 1) / _Alignof(sg_dns_rr) * _Alignof(sg_dns_rr))

static sg_dns_ans *ans_alloc(size_t count, size_t strbytes)
{
    if (count > (SIZE_MAX - ANS_RRS_OFF - strbytes) / sizeof(sg_dns_rr))
        return NULL;
    sg_dns_ans *a = calloc(1, ANS_RRS_OFF + count * sizeof(sg_dns_rr) + strbytes);
    if (a == NULL)
        return NULL;
    a->refs = 1;
    a->count = count;
    a->rrs = count ? (sg_dns_rr *)((char *)a + ANS_RRS_OFF) : NULL;
    return a;
}

sg_dns_ans *sg_dns_ans_new_status(sg_dns_status st, uint32_t ttl)
{
    sg_dns_ans *a = ans_alloc(0, 0);
    if (a != NULL) {
        a->status = st;
        a->ttl = ttl;
        a->cache_ttl = ttl;
    }
    return a;
}

sg_dns_ans *sg_dns_ans_ref(sg_dns_ans *a)
{
    if (a != NULL)
        a->refs++;
    return a;
}

void sg_dns_ans_unref(sg_dns_ans *a)
{
    if (a != NULL && --a->refs == 0)
        free(a);
}

sg_dns_rr *sg_dns_ans_aged_rrs(const sg_dns_ans *a, uint32_t age)
{
    sg_dns_rr *rrs = malloc((a->count ? a->count : 1) * sizeof(*rrs));
    if (rrs == NULL)
        return NULL;
    for (size_t i = 0; i < a->count; i++) {
        rrs[i] = a->rrs[i];
        rrs[i].ttl = rrs[i].ttl > age ? rrs[i].ttl - age : 0;
    }
    return rrs;
}

/* ===================================================================== */
/* Wire format (RFC 1035 4.1)                                             */
/* ===================================================================== */

#define DNS_HEADER_LEN 12
#define DNS_CLASS_IN 1
#define DNS_TYPE_SOA 6
#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_NXDOMAIN 3
#define DNS_FLAG_QR 0x8000u
#define DNS_FLAG_TC 0x0200u
/* A name has at most 127 labels, so a legitimate name never needs more
 * compression pointers than that (RFC 1035 4.1.4); more means a loop. */
#define DNS_MAX_POINTERS 127
#define DNS_MAX_WIRE_NAME 255 /* RFC 1035 2.3.4 */

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* RFC 2181 8: a TTL with the most significant bit set is treated as 0. */
static uint32_t ttl_fix(uint32_t ttl)
{
    return (ttl & 0x80000000u) ? 0 : ttl;
}

/* Decode the (possibly compressed) name at off into presentation format
 * (labels joined by '.', no trailing dot, '.' and '\' inside labels and
 * non-printable octets escaped as in RFC 1035 5.1; the root is ""). *next
 * receives the offset just after the name where it starts. */
static int name_decode(const uint8_t *pkt, size_t len, size_t off, char *out, size_t *next)
{
    size_t o = 0, wire = 1;
    unsigned ptrs = 0;
    int jumped = 0;

    for (;;) {
        if (off >= len)
            return -1;
        uint8_t c = pkt[off];
        if ((c & 0xC0) == 0xC0) {
            if (off + 1 >= len || ++ptrs > DNS_MAX_POINTERS)
                return -1;
            if (!jumped)
                *next = off + 2;
            jumped = 1;
            off = ((size_t)(c & 0x3F) << 8) | pkt[off + 1];
            continue;
        }
        if (c & 0xC0) /* extended label types (RFC 6891 6): unsupported */
            return -1;
        off++;
        if (c == 0)
            break;
        wire += (size_t)c + 1;
        if (wire > DNS_MAX_WIRE_NAME || c > len - off)
            return -1;
        if (o > 0)
            out[o++] = '.';
        for (size_t i = 0; i < c; i++) {
            uint8_t b = pkt[off + i];
            if (b == '.' || b == '\\') {
                out[o++] = '\\';
                out[o++] = (char)b;
            } else if (b < 0x21 || b > 0x7E) {
                out[o++] = '\\';
                out[o++] = (char)('0' + b / 100);
                out[o++] = (char)('0' + b / 10 % 10);
                out[o++] = (char)('0' + b % 10);
            } else {
                out[o++] = (char)b;
            }
        }
        off += c;
    }
    if (!jumped)
        *next = off;
    out[o] = '\0';
    return 0;
}

/* ASCII-only case-insensitive equality of two strings (RFC 4343). */
static int name_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return 0;
        if (x == 0)
            return 1;
    }
}

/* Next octet of a presentation-format name: \DDD and \X escapes give one
 * octet, an unescaped '.' is a label separator (*sep = 1). -1 at the end. */
static int name_octet(const char **p, int *sep)
{
    const unsigned char *s = (const unsigned char *)*p;
    *sep = 0;
    if (*s == 0)
        return -1;
    if (*s == '\\' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9' && s[3] >= '0' &&
        s[3] <= '9') {
        *p += 4;
        return ((s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0')) & 0xFF;
    }
    if (*s == '\\' && s[1] != 0) {
        *p += 2;
        return s[1];
    }
    *p += 1;
    *sep = *s == '.';
    return *s;
}

/* Do two presentation-format names denote the same wire name? Octet by
 * octet, escapes decoded, ASCII case folded (RFC 4343): so a name asked
 * with a raw space matches the "\032" the decoder writes. */
static int wire_name_eq(const char *a, const char *b)
{
    for (;;) {
        int sa, sb;
        int x = name_octet(&a, &sa), y = name_octet(&b, &sb);
        if (x >= 'A' && x <= 'Z')
            x += 32;
        if (y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y || sa != sb)
            return 0;
        if (x < 0)
            return 1;
    }
}

/* The offset just after the name at off, without decoding it: its labels
 * up to the root or a pointer; -1 when they run off the packet. */
static int name_skip(const uint8_t *pkt, size_t len, size_t off, size_t *next)
{
    for (;;) {
        if (off >= len)
            return -1;
        uint8_t c = pkt[off];
        if ((c & 0xC0) == 0xC0) {
            if (off + 1 >= len)
                return -1;
            *next = off + 2;
            return 0;
        }
        if (c & 0xC0)
            return -1;
        if (c == 0) {
            *next = off + 1;
            return 0;
        }
        if (c > len - off - 1)
            return -1;
        off += (size_t)c + 1;
    }
}

/* One resource record's framing. The owner is decoded only for records
 * of a type we look for (owner_is): a 2-byte pointer can stand for 253
 * octets of name, and decoding every owner on every pass over a 64 KB
 * answer of such records took 58 ms. */
typedef struct {
    size_t owner_off;
    uint16_t type, klass;
    uint32_t ttl;
    size_t rdoff;
    uint16_t rdlen;
} wire_rr;

static int rr_read(const uint8_t *pkt, size_t len, size_t *off, wire_rr *rr)
{
    size_t p;
    rr->owner_off = *off;
    if (name_skip(pkt, len, *off, &p) != 0 || len - p < 10)
        return -1;
    rr->type = rd16(pkt + p);
    rr->klass = rd16(pkt + p + 2);
    rr->ttl = ttl_fix(rd32(pkt + p + 4));
    rr->rdlen = rd16(pkt + p + 8);
    rr->rdoff = p + 10;
    if (rr->rdlen > len - rr->rdoff)
        return -1;
    *off = rr->rdoff + rr->rdlen;
    return 0;
}

/* Validate one record's RDATA for our types and return the string bytes it
 * needs (including the NUL); -1 when malformed. */
static long rdata_size(const uint8_t *pkt, size_t len, const wire_rr *rr, uint16_t qtype,
                       char *namebuf)
{
    const uint8_t *d = pkt + rr->rdoff;
    size_t end = rr->rdoff + rr->rdlen, next;

    switch (qtype) {
    case SG_DNS_A:
        return rr->rdlen == 4 ? 0 : -1;
    case SG_DNS_AAAA:
        return rr->rdlen == 16 ? 0 : -1;
    case SG_DNS_MX:
        if (rr->rdlen < 3 || name_decode(pkt, len, rr->rdoff + 2, namebuf, &next) != 0 ||
            next != end)
            return -1;
        return (long)strlen(namebuf) + 1;
    case SG_DNS_PTR:
    case SG_DNS_CNAME:
        if (name_decode(pkt, len, rr->rdoff, namebuf, &next) != 0 || next != end)
            return -1;
        return (long)strlen(namebuf) + 1;
    case SG_DNS_TXT:
    case SG_DNS_SPF: {
        /* RFC 1035 3.3.14: one or more <character-string>s filling RDATA */
        size_t i = 0, total = 0;
        if (rr->rdlen == 0)
            return -1;
        while (i < rr->rdlen) {
            size_t n = d[i];
            if (n > (size_t)rr->rdlen - i - 1)
                return -1;
            total += n;
            i += n + 1;
        }
        return (long)total + 1;
    }
    default:
        return -1;
    }
}

/* Fill one sg_dns_rr from validated RDATA; strings go to *pool. */
static void rdata_fill(const uint8_t *pkt, size_t len, const wire_rr *rr, uint16_t qtype,
                       sg_dns_rr *out, char **pool, char *namebuf)
{
    const uint8_t *d = pkt + rr->rdoff;
    size_t next, n;

    out->type = qtype;
    out->ttl = rr->ttl;
    switch (qtype) {
    case SG_DNS_A:
        memcpy(out->u.a, d, 4);
        break;
    case SG_DNS_AAAA:
        memcpy(out->u.aaaa, d, 16);
        break;
    case SG_DNS_MX:
        out->u.mx.pref = rd16(d);
        (void)name_decode(pkt, len, rr->rdoff + 2, namebuf, &next);
        n = strlen(namebuf) + 1;
        memcpy(*pool, namebuf, n);
        out->u.mx.host = *pool;
        *pool += n;
        break;
    case SG_DNS_PTR:
    case SG_DNS_CNAME:
        (void)name_decode(pkt, len, rr->rdoff, namebuf, &next);
        n = strlen(namebuf) + 1;
        memcpy(*pool, namebuf, n);
        out->u.name = *pool;
        *pool += n;
        break;
    default: { /* TXT, SPF */
        char *dst = *pool;
        size_t i = 0, o = 0;
        uint16_t ns = 0;
        while (i < rr->rdlen) {
            size_t k = d[i];
            memcpy(dst + o, d + i + 1, k);
            o += k;
            i += k + 1;
            ns++;
        }
        dst[o] = '\0';
        out->u.txt.data = dst;
        out->u.txt.len = o;
        out->u.txt.nstrings = ns;
        *pool += o + 1;
        break;
    }
    }
}

static int is_supported_type(uint16_t t)
{
    return t == SG_DNS_A || t == SG_DNS_AAAA || t == SG_DNS_MX || t == SG_DNS_PTR ||
           t == SG_DNS_CNAME || t == SG_DNS_TXT || t == SG_DNS_SPF;
}

static uint32_t cap(uint32_t v, uint32_t max)
{
    return v < max ? v : max;
}

/* Parser state kept off the stack: four presentation-size name buffers. */
typedef struct {
    wire_rr rr;
    char owner[SG_DNS_PRESENTATION_MAX];
    char cur[SG_DNS_PRESENTATION_MAX];
    char name[SG_DNS_PRESENTATION_MAX];
    /* octets of owner names an answer may make us decode: 16 per octet
     * of answer (a CNAME chain of 16 hops over compressed owners); past
     * it the answer is a server failure */
    size_t budget;
} parse_scratch;

/* Is the record's owner the name s->cur? 1 yes, 0 no, -1 a malformed
 * name or the decoding budget spent (charge = 0: a pass repeating one
 * already charged). */
static int owner_is(const uint8_t *pkt, size_t len, parse_scratch *s, int charge)
{
    size_t next;
    if (name_decode(pkt, len, s->rr.owner_off, s->owner, &next) != 0)
        return -1;
    if (charge) {
        size_t n = strlen(s->owner) + 1;
        if (n > s->budget)
            return -1;
        s->budget -= n;
    }
    return wire_name_eq(s->owner, s->cur);
}

static int servfail(sg_dns_ans **out)
{
    *out = sg_dns_ans_new_status(SG_DNS_SERVFAIL, 0);
    return *out ? 0 : SG_ENOMEM;
}

int sg_dns_ans_from_wire(sg_dns_ans **out, const uint8_t *pkt, size_t len, const char *qname,
                         uint16_t qtype, const sg_dns_ans_limits *lim, char *follow, unsigned *hops)
{
    *out = NULL;
    follow[0] = '\0';
    *hops = 0;
    if (!is_supported_type(qtype) || qname == NULL || lim == NULL)
        return SG_EINVAL;
    if (pkt == NULL || len < DNS_HEADER_LEN)
        return servfail(out);

    uint16_t flags = rd16(pkt + 2);
    unsigned rcode = flags & 0xF;
    uint16_t qd = rd16(pkt + 4), an = rd16(pkt + 6), ns = rd16(pkt + 8);
    if (!(flags & DNS_FLAG_QR) || (flags & DNS_FLAG_TC) || qd != 1)
        return servfail(out);
    if (rcode != DNS_RCODE_NOERROR && rcode != DNS_RCODE_NXDOMAIN)
        return servfail(out); /* FORMERR, SERVFAIL, NOTIMP, REFUSED, ... */

    parse_scratch *s = malloc(sizeof(*s));
    if (s == NULL)
        return SG_ENOMEM;
    int rc = 0, is;
    size_t off = DNS_HEADER_LEN, an_off, next;
    s->budget = 16 * len + 65536;

    /* the question must be ours */
    if (name_decode(pkt, len, off, s->name, &next) != 0 || len - next < 4 ||
        !wire_name_eq(s->name, qname) || rd16(pkt + next) != qtype ||
        rd16(pkt + next + 2) != DNS_CLASS_IN)
        goto bad;
    off = an_off = next + 4;

    /* frame the answer section; the authority section may hold the SOA
     * that gives the negative TTL (RFC 2308 5: min(SOA TTL, MINIMUM)) */
    for (unsigned i = 0; i < an; i++)
        if (rr_read(pkt, len, &off, &s->rr) != 0)
            goto bad;
    int have_soa = 0;
    uint32_t neg = lim->neg_ttl;
    for (unsigned i = 0; i < ns; i++) {
        if (rr_read(pkt, len, &off, &s->rr) != 0)
            goto bad;
        if (s->rr.type == DNS_TYPE_SOA && s->rr.klass == DNS_CLASS_IN && !have_soa &&
            s->rr.rdlen >= 22) {
            uint32_t minimum = rd32(pkt + s->rr.rdoff + s->rr.rdlen - 4);
            neg = s->rr.ttl < minimum ? s->rr.ttl : minimum;
            have_soa = 1;
        }
    }

    /* follow the CNAME chain owned by qname (RFC 1034 3.6.2, 4.3.2) */
    uint32_t chain_ttl = UINT32_MAX;
    snprintf(s->cur, sizeof(s->cur), "%s", qname);
    if (qtype != SG_DNS_CNAME) {
        for (;;) {
            int found = 0;
            off = an_off;
            for (unsigned i = 0; i < an; i++) {
                (void)rr_read(pkt, len, &off, &s->rr);
                if (s->rr.type != SG_DNS_CNAME || s->rr.klass != DNS_CLASS_IN)
                    continue;
                if ((is = owner_is(pkt, len, s, 1)) < 0)
                    goto bad;
                if (!is)
                    continue;
                if (rdata_size(pkt, len, &s->rr, SG_DNS_CNAME, s->name) < 0)
                    goto bad;
                found = 1;
                break;
            }
            if (!found)
                break;
            if (++*hops > SG_DNS_MAX_CNAME_CHAIN)
                goto bad; /* a loop, or a chain too long to trust */
            chain_ttl = s->rr.ttl < chain_ttl ? s->rr.ttl : chain_ttl;
            memcpy(s->cur, s->name, sizeof(s->cur));
        }
    }

    /* measure the records of qtype owned by the chain's last name */
    size_t count = 0, strbytes = 0;
    uint32_t minttl = UINT32_MAX;
    if (rcode == DNS_RCODE_NOERROR) {
        off = an_off;
        for (unsigned i = 0; i < an; i++) {
            (void)rr_read(pkt, len, &off, &s->rr);
            if (s->rr.type != qtype || s->rr.klass != DNS_CLASS_IN)
                continue;
            if ((is = owner_is(pkt, len, s, 1)) < 0)
                goto bad;
            if (!is)
                continue;
            long sz = rdata_size(pkt, len, &s->rr, qtype, s->name);
            if (sz < 0)
                goto bad;
            count++;
            strbytes += (size_t)sz;
            minttl = s->rr.ttl < minttl ? s->rr.ttl : minttl;
        }
    }

    sg_dns_ans *a = ans_alloc(count, strbytes);
    if (a == NULL) {
        rc = SG_ENOMEM;
        goto done;
    }
    if (count > 0) {
        char *pool = (char *)(a->rrs + count);
        size_t k = 0;
        off = an_off;
        for (unsigned i = 0; i < an; i++) {
            (void)rr_read(pkt, len, &off, &s->rr);
            /* the measuring pass decoded these owners already */
            if (s->rr.type != qtype || s->rr.klass != DNS_CLASS_IN || owner_is(pkt, len, s, 0) != 1)
                continue;
            rdata_fill(pkt, len, &s->rr, qtype, &a->rrs[k++], &pool, s->name);
        }
        a->status = SG_DNS_NOERROR;
        a->ttl = cap(minttl, lim->max_ttl);
        for (k = 0; k < count; k++)
            a->rrs[k].ttl = cap(a->rrs[k].ttl, lim->max_ttl);
    } else {
        a->status = rcode == DNS_RCODE_NXDOMAIN ? SG_DNS_NXDOMAIN : SG_DNS_NODATA;
        a->ttl = cap(neg, lim->max_ttl);
        if (rcode == DNS_RCODE_NOERROR && *hops > 0 && !have_soa) {
            /* the chain leaves the data this server gave us: the caller
             * must ask for its last name; nothing here is cacheable */
            memcpy(follow, s->cur, strlen(s->cur) + 1);
        }
    }
    /* with follow[] set, cache_ttl is the chain's own lifetime: the
     * caller must not cache this answer, only bound the final one */
    a->cache_ttl = follow[0] ? cap(chain_ttl, lim->max_ttl) : cap(a->ttl, chain_ttl);
    *out = a;
    goto done;

bad:
    rc = servfail(out);
done:
    free(s);
    return rc;
}

/* ===================================================================== */
/* The TTL cache                                                          */
/* ===================================================================== */

/* Hash buckets: a power of two near the entry bound, capped so a huge
 * configured bound does not allocate a huge table up front. */
#define CACHE_MIN_BUCKETS 16
#define CACHE_MAX_BUCKETS (1u << 20)

typedef struct centry {
    struct centry *hnext;
    struct centry *newer, *older; /* LRU list */
    uint64_t hash;
    uint64_t stored_ms, expires_ms;
    sg_dns_ans *ans;
    uint16_t type;
    char name[]; /* lower-cased */
} centry;

struct sg_dns_cache {
    sg_dns_cache_opts o;
    centry **buckets;
    size_t nbuckets, count;
    centry *newest, *oldest;
    uint64_t seed; /* per cache, so names from mail cannot aim at one chain */
};

uint64_t sg_dns_clock_monotonic(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t now_ms(const sg_dns_cache *c)
{
    return c->o.clock(c->o.clock_ctx);
}

static char lower(char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
}

/* FNV-1a over the lower-cased name and the type, keyed by the per-cache
 * seed, then a 64-bit finaliser to spread the bits into the low ones. */
static uint64_t key_hash(const sg_dns_cache *c, const char *name, uint16_t type)
{
    uint64_t h = 0xcbf29ce484222325ull ^ c->seed;
    for (const char *p = name; *p; p++) {
        h ^= (unsigned char)lower(*p);
        h *= 0x100000001b3ull;
    }
    h ^= type;
    h *= 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

int sg_dns_cache_new(sg_dns_cache **out, const sg_dns_cache_opts *opts)
{
    *out = NULL;
    if (opts == NULL || opts->max_entries == 0)
        return SG_EINVAL;
    sg_dns_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return SG_ENOMEM;
    c->o = *opts;
    if (c->o.clock == NULL)
        c->o.clock = sg_dns_clock_monotonic;
    c->nbuckets = CACHE_MIN_BUCKETS;
    while (c->nbuckets < opts->max_entries && c->nbuckets < CACHE_MAX_BUCKETS)
        c->nbuckets <<= 1;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        free(c);
        return SG_ENOMEM;
    }
    if (getrandom(&c->seed, sizeof(c->seed), GRND_NONBLOCK) != (ssize_t)sizeof(c->seed))
        c->seed = (uint64_t)(uintptr_t)c ^ sg_dns_clock_monotonic(NULL);
    *out = c;
    return SG_OK;
}

static void lru_unlink(sg_dns_cache *c, centry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push_newest(sg_dns_cache *c, centry *e)
{
    e->older = c->newest;
    e->newer = NULL;
    if (c->newest)
        c->newest->newer = e;
    c->newest = e;
    if (c->oldest == NULL)
        c->oldest = e;
}

static void entry_remove(sg_dns_cache *c, centry *e)
{
    centry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(c, e);
    sg_dns_ans_unref(e->ans);
    free(e);
    c->count--;
}

static centry *entry_find(sg_dns_cache *c, const char *name, uint16_t type, uint64_t h)
{
    for (centry *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && e->type == type && name_eq(e->name, name))
            return e;
    return NULL;
}

void sg_dns_cache_free(sg_dns_cache *c)
{
    if (c == NULL)
        return;
    while (c->oldest)
        entry_remove(c, c->oldest);
    free(c->buckets);
    free(c);
}

int sg_dns_cache_put(sg_dns_cache *c, const char *name, uint16_t type, sg_dns_ans *ans)
{
    if (c == NULL || name == NULL || ans == NULL)
        return SG_EINVAL;
    if ((ans->status != SG_DNS_NOERROR && ans->status != SG_DNS_NODATA &&
         ans->status != SG_DNS_NXDOMAIN) ||
        ans->cache_ttl == 0 || c->o.max_ttl == 0)
        return SG_OK; /* RFC 2308 7: failures are not cached here */

    uint64_t h = key_hash(c, name, type);
    centry *old = entry_find(c, name, type, h);
    if (old != NULL)
        entry_remove(c, old);
    while (c->count >= c->o.max_entries && c->oldest)
        entry_remove(c, c->oldest);

    size_t n = strlen(name);
    centry *e = malloc(sizeof(*e) + n + 1);
    if (e == NULL)
        return SG_ENOMEM;
    for (size_t i = 0; i <= n; i++)
        e->name[i] = lower(name[i]);
    e->hash = h;
    e->type = type;
    e->stored_ms = now_ms(c);
    e->expires_ms = e->stored_ms + (uint64_t)cap(ans->cache_ttl, c->o.max_ttl) * 1000u;
    e->ans = sg_dns_ans_ref(ans);
    size_t b = h & (c->nbuckets - 1);
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    lru_push_newest(c, e);
    c->count++;
    return SG_OK;
}

sg_dns_ans *sg_dns_cache_get(sg_dns_cache *c, const char *name, uint16_t type, uint32_t *age,
                             uint32_t *remaining)
{
    if (c == NULL || name == NULL)
        return NULL;
    uint64_t h = key_hash(c, name, type);
    centry *e = entry_find(c, name, type, h);
    if (e == NULL)
        return NULL;
    uint64_t now = now_ms(c);
    if (now >= e->expires_ms) {
        entry_remove(c, e);
        return NULL;
    }
    lru_unlink(c, e);
    lru_push_newest(c, e);
    uint64_t elapsed = now > e->stored_ms ? now - e->stored_ms : 0;
    if (age)
        *age = (uint32_t)(elapsed / 1000u);
    if (remaining)
        *remaining = (uint32_t)((e->expires_ms - now + 999u) / 1000u);
    return sg_dns_ans_ref(e->ans);
}

size_t sg_dns_cache_count(const sg_dns_cache *c)
{
    return c ? c->count : 0;
}
