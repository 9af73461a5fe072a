/*
 * Cache of parsed DKIM public keys.
 *
 * Keyed by the exact key-record text, so a changed record can never be
 * answered with a stale key: the DNS layer decides what the current text
 * is, this cache only saves the ~110 us of turning it into an EVP_PKEY
 * (about 5x the cost of an RSA verification; see PERFORMANCE.md). The DNS
 * TTL bounds how long an unused entry stays. Parse failures are cached
 * too, so a broken record costs one parse per TTL.
 *
 * Chained hash table plus an LRU list; one mutex (the cache may be shared
 * by verifiers on several threads; EVP_PKEY reference counting is
 * thread-safe in OpenSSL 3).
 */
#include "dkim_int.h"

#include <openssl/err.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Entries kept at most, by default. A key record is ~400 bytes of text
 * plus the key object (~2 KiB for RSA-2048): 4096 entries ~ 10 MiB. */
#define KEYCACHE_DEFAULT_ENTRIES 4096
#define KEYCACHE_MAX_BUCKETS ((size_t)1 << 24)
/* TTL bounds, seconds: at least a minute (a TTL of 0 would defeat the
 * cache for hot signers, and the text key keeps it correct), at most a
 * day (RFC 2181 8 suggests capping huge TTLs). */
#define KEYCACHE_MIN_TTL 60
#define KEYCACHE_MAX_TTL 86400

struct entry {
    struct entry *hnext;       /* hash chain */
    struct entry *prev, *next; /* LRU, most recent first */
    uint64_t hash;
    int64_t expires;
    sg_dkim_key key;    /* key.pkey NULL: parse failed */
    int rc;             /* parse result */
    const char *reason; /* static string from the parser */
    size_t len;
    char txt[];
};

struct sg_dkim_keycache {
    pthread_mutex_t lock;
    struct entry **buckets;
    size_t nbuckets, count, max;
    struct entry *head, *tail;
    uint64_t hits, misses;
    /* SHA-256 fetched once: EVP_sha256() in EVP_DigestInit_ex looks the
     * algorithm up in the provider store (under its lock) every time, and
     * a message needs two or more digests */
    EVP_MD *sha256;
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

int sg_dkim_keycache_new(sg_dkim_keycache **out, size_t max_entries)
{
    sg_dkim_keycache *c;
    if (out == NULL)
        return SG_EINVAL;
    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return SG_ENOMEM;
    c->max = max_entries ? max_entries : KEYCACHE_DEFAULT_ENTRIES;
    c->nbuckets = 64;
    /* the buckets stop at 2^24, as the SPF cache's: past SIZE_MAX / 2 the
     * doubling wrapped to 0 and never ended (adv44 F3) */
    while (c->nbuckets < c->max && c->nbuckets < KEYCACHE_MAX_BUCKETS)
        c->nbuckets <<= 1;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL); /* NULL: EVP_sha256() per use */
    ERR_clear_error();
    if (c->buckets == NULL || pthread_mutex_init(&c->lock, NULL) != 0) {
        EVP_MD_free(c->sha256);
        free(c->buckets);
        free(c);
        return SG_ENOMEM;
    }
    *out = c;
    return SG_OK;
}

static void lru_unlink(sg_dkim_keycache *c, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(sg_dkim_keycache *c, struct entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (c->tail == NULL)
        c->tail = e;
}

static void remove_entry(sg_dkim_keycache *c, struct entry *e)
{
    struct entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(c, e);
    sg_dkim_key_clear(&e->key);
    free(e);
    c->count--;
}

void sg_dkim_keycache_free(sg_dkim_keycache *c)
{
    if (c == NULL)
        return;
    while (c->head)
        remove_entry(c, c->head);
    pthread_mutex_destroy(&c->lock);
    EVP_MD_free(c->sha256);
    free(c->buckets);
    free(c);
}

void sg_dkim_keycache_stats(const sg_dkim_keycache *c, uint64_t *hits, uint64_t *misses,
                            size_t *entries)
{
    sg_dkim_keycache *m = (sg_dkim_keycache *)c; /* the lock is not logical state */
    pthread_mutex_lock(&m->lock);
    if (hits)
        *hits = c->hits;
    if (misses)
        *misses = c->misses;
    if (entries)
        *entries = c->count;
    pthread_mutex_unlock(&m->lock);
}

const EVP_MD *sg_dkim_sha256(const sg_dkim_keycache *c)
{
    return c != NULL && c->sha256 != NULL ? c->sha256 : EVP_sha256();
}

static void copy_out(const struct entry *e, sg_dkim_key *out, const char **reason)
{
    *out = e->key;
    if (out->pkey)
        EVP_PKEY_up_ref(out->pkey);
    /* each user gets its own context, copied from the entry's (under the
     * cache lock: the entry's is only ever read here) */
    if (out->vctx && (out->vctx = EVP_PKEY_CTX_dup(out->vctx)) == NULL)
        ERR_clear_error();
    *reason = e->reason;
}

int sg_dkim_keycache_get(sg_dkim_keycache *c, const char *txt, size_t len, uint32_t ttl,
                         int64_t now, sg_dkim_key *out, const char **reason)
{
    uint64_t h;
    struct entry *e;
    int rc;
    if (c == NULL)
        return sg_dkim_key_parse(txt, len, out, reason);
    h = fnv1a(txt, len);
    pthread_mutex_lock(&c->lock);
    for (e = c->buckets[h & (c->nbuckets - 1)]; e != NULL; e = e->hnext) {
        if (e->hash == h && e->len == len && !memcmp(e->txt, txt, len)) {
            if (e->expires < now) {
                remove_entry(c, e);
                break;
            }
            lru_unlink(c, e);
            lru_push(c, e);
            c->hits++;
            copy_out(e, out, reason);
            rc = e->rc;
            pthread_mutex_unlock(&c->lock);
            return rc;
        }
    }
    c->misses++;
    pthread_mutex_unlock(&c->lock);

    /* Parse outside the lock: it is the expensive part. */
    rc = sg_dkim_key_parse(txt, len, out, reason);
    if (rc == SG_ENOMEM || rc == SG_ECRYPTO)
        return rc; /* says nothing of the record: never cached (adv27 MEM-1) */
    e = malloc(sizeof(*e) + len + 1);
    if (e == NULL)
        return rc; /* caching is an optimisation */
    memset(e, 0, sizeof(*e));
    memcpy(e->txt, txt, len);
    e->txt[len] = '\0';
    e->len = len;
    e->hash = h;
    if (ttl < KEYCACHE_MIN_TTL)
        ttl = KEYCACHE_MIN_TTL;
    if (ttl > KEYCACHE_MAX_TTL)
        ttl = KEYCACHE_MAX_TTL;
    /* an unusable record is kept a minute at most: a failure of ours no
     * retry caught must not outlive its cause by the record's TTL */
    e->expires = now + (rc != 0 ? KEYCACHE_MIN_TTL : ttl);
    e->rc = rc;
    e->reason = rc ? *reason : NULL;
    e->key = *out;
    if (e->key.pkey)
        EVP_PKEY_up_ref(e->key.pkey);
    /* the parsed context stays with the entry; the caller gets a copy */
    if (out->vctx && (out->vctx = EVP_PKEY_CTX_dup(out->vctx)) == NULL)
        ERR_clear_error();
    pthread_mutex_lock(&c->lock);
    /* another thread may have inserted it meanwhile: keep both briefly is
     * harmless, but keep the table tidy by dropping the older one */
    for (struct entry *o = c->buckets[h & (c->nbuckets - 1)]; o != NULL; o = o->hnext)
        if (o->hash == h && o->len == len && !memcmp(o->txt, txt, len)) {
            remove_entry(c, o);
            break;
        }
    while (c->count >= c->max && c->tail)
        remove_entry(c, c->tail);
    e->hnext = c->buckets[h & (c->nbuckets - 1)];
    c->buckets[h & (c->nbuckets - 1)] = e;
    lru_push(c, e);
    c->count++;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int sg_dkim_key_from_answer(sg_dkim_keycache *c, const sg_dns_answer *ans, int64_t now,
                            sg_dkim_key *key, const char **reason, int *temp)
{
    *temp = 0;
    switch (ans->status) {
    case SG_DNS_NOERROR: {
        int first = 1, result = SG_ENOTFOUND;
        unsigned tried = 0;
        *reason = "no key record";
        for (size_t i = 0; i < ans->count; i++) {
            sg_dkim_key k;
            const char *why = NULL;
            int rc;
            if (ans->rrs[i].type != SG_DNS_TXT)
                continue;
            /* RFC 6376 3.6.2.2 leaves it to the verifier whether to try
             * more than one record. Parsing one costs up to ~90 us (the
             * key's DER), and a signer's DNS answered 400 unusable ones
             * to each of an ARC chain's 100 queries: 3.9 s a message. */
            if (tried++ == SG_DKIM_MAX_KEY_RECORDS)
                break;
            rc = sg_dkim_keycache_get(c, ans->rrs[i].u.txt.data, ans->rrs[i].u.txt.len,
                                      ans->rrs[i].ttl, now, &k, &why);
            /* our own failure on one record outranks another's permerror */
            if (rc == 0 || first || rc == SG_ENOMEM || rc == SG_ECRYPTO) {
                sg_dkim_key_clear(key);
                *key = k;
                result = rc;
                *reason = rc == SG_ENOMEM && why == NULL ? "out of memory" : why;
                first = 0;
            } else {
                sg_dkim_key_clear(&k);
            }
            if (rc == 0)
                break;
        }
        return result;
    }
    case SG_DNS_NODATA:
    case SG_DNS_NXDOMAIN:
        *reason = "no key record";
        return SG_ENOTFOUND;
    default:
        *temp = 1;
        *reason = ans->status == SG_DNS_TIMEOUT ? "key lookup timed out" : "key lookup failed";
        return SG_ETIMEOUT;
    }
}
