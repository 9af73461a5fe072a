/*
 * SPF record cache: domain -> outcome of the record lookup, for the DNS
 * TTL. Chained hash table plus a FIFO for eviction when full; entries are
 * also dropped lazily when found expired. Parsing a record costs more
 * than looking it up in a resolver cache, so popular records (the big
 * providers' include chains) are worth keeping parsed.
 */
#include "spf_cache.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "util/ascii.h"

/* Longest TTL honoured, as resolvers commonly cap it (one day). */
#define SG_SPF_CACHE_MAX_TTL 86400

struct entry {
    struct entry *chain;         /* bucket chain */
    struct entry *older, *newer; /* FIFO, oldest first */
    uint64_t hash;
    time_t expires;
    sg_spf_cache_entry e;
    char key[];
};

struct sg_spf_cache {
    struct entry **buckets;
    size_t nbuckets, count, max;
    struct entry *oldest, *newest;
    uint64_t hits, misses;
};

static time_t now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* FNV-1a over the lower-cased name without a trailing dot. */
static uint64_t hash_name(const char *s, size_t *len)
{
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '.')
        n--;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)sg_ascii_lower((unsigned char)s[i]);
        h *= 1099511628211ULL;
    }
    *len = n;
    return h;
}

int sg_spf_cache_new(sg_spf_cache **out, size_t max_entries)
{
    sg_spf_cache *c;
    if (out == NULL)
        return SG_EINVAL;
    *out = NULL;
    if (max_entries == 0)
        max_entries = 4096; /* the default, as the DKIM key cache's (adv44 F7) */
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return SG_ENOMEM;
    c->max = max_entries;
    c->nbuckets = 16;
    while (c->nbuckets < max_entries && c->nbuckets < ((size_t)1 << 24))
        c->nbuckets <<= 1;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        free(c);
        return SG_ENOMEM;
    }
    *out = c;
    return 0;
}

static void unlink_entry(sg_spf_cache *c, struct entry *e)
{
    struct entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    c->count--;
    sg_spf_record_free(e->e.rec);
    free(e);
}

void sg_spf_cache_free(sg_spf_cache *c)
{
    if (c == NULL)
        return;
    while (c->oldest != NULL)
        unlink_entry(c, c->oldest);
    free(c->buckets);
    free(c);
}

size_t sg_spf_cache_size(const sg_spf_cache *c)
{
    return c ? c->count : 0;
}

void sg_spf_cache_stats(const sg_spf_cache *c, uint64_t *hits, uint64_t *misses)
{
    if (hits)
        *hits = c ? c->hits : 0;
    if (misses)
        *misses = c ? c->misses : 0;
}

static struct entry *find(sg_spf_cache *c, const char *domain, uint64_t *hp, size_t *lenp)
{
    size_t len;
    uint64_t h = hash_name(domain, &len);
    *hp = h;
    *lenp = len;
    for (struct entry *e = c->buckets[h & (c->nbuckets - 1)]; e != NULL; e = e->chain)
        if (e->hash == h && strlen(e->key) == len && !sg_ascii_ncasecmp(e->key, domain, len))
            return e;
    return NULL;
}

const sg_spf_cache_entry *sg_spf_cache_get(sg_spf_cache *c, const char *domain)
{
    uint64_t h;
    size_t len;
    struct entry *e = find(c, domain, &h, &len);
    if (e != NULL && e->expires <= now_sec()) {
        unlink_entry(c, e);
        e = NULL;
    }
    if (e == NULL) {
        c->misses++;
        return NULL;
    }
    c->hits++;
    return &e->e;
}

void sg_spf_cache_put(sg_spf_cache *c, const char *domain, const sg_spf_cache_entry *in)
{
    uint64_t h;
    size_t len;
    struct entry *e;
    if (in->kind == SG_SPF_CACHE_TEMPERROR || in->ttl == 0)
        return;
    if ((e = find(c, domain, &h, &len)) != NULL)
        unlink_entry(c, e);
    while (c->count >= c->max && c->oldest != NULL)
        unlink_entry(c, c->oldest);
    e = calloc(1, sizeof(*e) + len + 1);
    if (e == NULL)
        return; /* a cache miss later; not an error */
    memcpy(e->key, domain, len);
    e->hash = h;
    e->e = *in;
    e->e.rec = in->rec ? sg_spf_record_ref(in->rec) : NULL;
    e->expires =
        now_sec() + (time_t)(in->ttl > SG_SPF_CACHE_MAX_TTL ? SG_SPF_CACHE_MAX_TTL : in->ttl);
    e->chain = c->buckets[h & (c->nbuckets - 1)];
    c->buckets[h & (c->nbuckets - 1)] = e;
    e->older = c->newest;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->count++;
}
