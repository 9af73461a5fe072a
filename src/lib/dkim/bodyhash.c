/*
 * One SHA-256 per distinct (body canonicalisation, l=) pair of a message,
 * shared by every signature that names the pair, all the pairs of one
 * canonicalisation from one pass. See bodyhash.h.
 */
#include "dkim/bodyhash.h"

#include <spoofguard/common.h>

#include <stdlib.h>
#include <string.h>

void sg_bodyhash_init(sg_bodyhash_set *s, const EVP_MD *sha256)
{
    memset(s, 0, sizeof(*s));
    s->sha256 = sha256 ? sha256 : EVP_sha256();
}

void sg_bodyhash_reset(sg_bodyhash_set *s)
{
    s->n = 0;
    s->updating = s->final = s->final_rc = 0;
    s->stream[0].started = s->stream[1].started = 0;
}

void sg_bodyhash_free(sg_bodyhash_set *s)
{
    for (size_t i = 0; i < s->nmd; i++)
        EVP_MD_CTX_free(s->h[i].md);
    EVP_MD_CTX_free(s->stream[0].md);
    EVP_MD_CTX_free(s->stream[1].md);
    free(s->h);
    memset(s, 0, sizeof(*s));
}

int sg_bodyhash_add(sg_bodyhash_set *s, sg_canon_mode mode, uint64_t limit)
{
    sg_bodyhash *h;
    if (s->final || s->updating)
        return SG_ESTATE;
    if (mode != SG_CANON_SIMPLE && mode != SG_CANON_RELAXED)
        return SG_EINVAL;
    for (size_t i = 0; i < s->n; i++)
        if (s->h[i].mode == mode && s->h[i].limit == limit)
            return (int)i;
    if (s->n == s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 4;
        sg_bodyhash *nh = realloc(s->h, nc * sizeof(*nh));
        if (nh == NULL)
            return SG_ENOMEM;
        s->h = nh;
        s->cap = nc;
    }
    h = &s->h[s->n];
    if (s->n == s->nmd) {
        if ((h->md = EVP_MD_CTX_new()) == NULL)
            return SG_ENOMEM;
        s->nmd++;
    }
    h->mode = mode;
    h->limit = limit;
    h->done = 0;
    return (int)s->n++;
}

/* Hasher i's digest: the stream's hash as it is now, copied and ended. */
static int take(sg_bodyhash_set *s, sg_bodyhash *h, EVP_MD_CTX *run)
{
    unsigned int dlen = 0;
    h->done = 1;
    if (EVP_MD_CTX_copy_ex(h->md, run) != 1 || EVP_DigestFinal_ex(h->md, h->digest, &dlen) != 1 ||
        dlen != 32) {
        s->final_rc = SG_ECRYPTO;
        return -1;
    }
    return 0;
}

/* The smallest l= of the mode not yet taken, and every hasher whose l=
 * the stream has reached taken. */
static uint64_t cut_at(sg_bodyhash_set *s, sg_bodyhash_stream *st, sg_canon_mode mode)
{
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < s->n; i++) {
        sg_bodyhash *h = &s->h[i];
        if (h->done || h->mode != mode || h->limit == UINT64_MAX)
            continue;
        if (h->limit <= st->fed)
            take(s, h, st->md);
        else if (h->limit < next)
            next = h->limit;
    }
    return next;
}

static void stream_sink(const void *data, size_t len, void *payload)
{
    sg_bodyhash_stream *st = payload;
    sg_bodyhash_set *s = st->set;
    const char *d = data;
    sg_canon_mode mode = st == &s->stream[SG_CANON_SIMPLE] ? SG_CANON_SIMPLE : SG_CANON_RELAXED;
    while (st->cut - st->fed <= len) { /* UINT64_MAX - fed: never */
        size_t k = (size_t)(st->cut - st->fed);
        EVP_DigestUpdate(st->md, d, k);
        d += k;
        len -= k;
        st->fed += k;
        st->cut = cut_at(s, st, mode);
    }
    if (len > 0) {
        EVP_DigestUpdate(st->md, d, len);
        st->fed += len;
    }
}

/* The streams this message's hashers need, begun at its first body chunk
 * (every hasher is known by then). */
static int start(sg_bodyhash_set *s)
{
    s->updating = 1;
    for (size_t i = 0; i < s->n; i++) {
        sg_canon_mode mode = s->h[i].mode;
        sg_bodyhash_stream *st = &s->stream[mode];
        if (st->started)
            continue;
        if (st->md == NULL && (st->md = EVP_MD_CTX_new()) == NULL)
            return SG_ENOMEM;
        if (EVP_DigestInit_ex(st->md, s->sha256, NULL) != 1)
            return SG_ECRYPTO;
        st->started = 1;
        st->fed = 0;
        st->set = s;
        sg_canon_body_init(&st->canon, mode, UINT64_MAX, stream_sink, st);
        st->cut = cut_at(s, st, mode); /* l=0 is taken at once */
    }
    return SG_OK;
}

void sg_bodyhash_update(sg_bodyhash_set *s, const char *data, size_t len)
{
    if (s->final || s->final_rc)
        return;
    if (!s->updating && (s->final_rc = start(s)) != 0)
        return;
    for (int m = 0; m < 2; m++)
        if (s->stream[m].started)
            sg_canon_body_update(&s->stream[m].canon, data, len);
}

int sg_bodyhash_final(sg_bodyhash_set *s)
{
    if (s->final)
        return s->final_rc;
    if (!s->updating && s->final_rc == 0)
        s->final_rc = start(s); /* an empty body */
    s->final = 1;
    if (s->final_rc != 0)
        return s->final_rc;
    for (int m = 0; m < 2; m++)
        if (s->stream[m].started)
            sg_canon_body_final(&s->stream[m].canon);
    /* what is left: no l=, or an l= beyond the canonical body */
    for (size_t i = 0; i < s->n; i++)
        if (!s->h[i].done)
            take(s, &s->h[i], s->stream[s->h[i].mode].md);
    return s->final_rc;
}

const uint8_t *sg_bodyhash_digest(const sg_bodyhash_set *s, int i)
{
    return s->h[i].digest;
}

uint64_t sg_bodyhash_total(const sg_bodyhash_set *s, int i)
{
    return s->stream[s->h[i].mode].canon.total;
}
