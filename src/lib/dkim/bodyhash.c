/*
 * One SHA-256 per distinct (body canonicalisation, l=) pair of a message,
 * shared by every signature that names the pair. See bodyhash.h.
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
    s->final = s->final_rc = 0;
}

void sg_bodyhash_free(sg_bodyhash_set *s)
{
    for (size_t i = 0; i < s->nmd; i++)
        EVP_MD_CTX_free(s->h[i].md);
    free(s->h);
    memset(s, 0, sizeof(*s));
}

static void md_sink(const void *data, size_t len, void *payload)
{
    EVP_DigestUpdate((EVP_MD_CTX *)payload, data, len);
}

int sg_bodyhash_add(sg_bodyhash_set *s, sg_canon_mode mode, uint64_t limit)
{
    sg_bodyhash *h;
    if (s->final)
        return SG_ESTATE;
    for (size_t i = 0; i < s->n; i++)
        if (s->h[i].mode == mode && s->h[i].limit == limit)
            return (int)i;
    if (s->n == s->cap) {
        /* the canonicalisers' sinks point at the digest contexts, not
         * at the entries, so the array may move */
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
    if (EVP_DigestInit_ex(h->md, s->sha256, NULL) != 1)
        return SG_ENOMEM;
    h->mode = mode;
    h->limit = limit;
    sg_canon_body_init(&h->canon, mode, limit, md_sink, h->md);
    return (int)s->n++;
}

void sg_bodyhash_update(sg_bodyhash_set *s, const char *data, size_t len)
{
    if (s->final)
        return;
    for (size_t i = 0; i < s->n; i++)
        sg_canon_body_update(&s->h[i].canon, data, len);
}

int sg_bodyhash_final(sg_bodyhash_set *s)
{
    if (s->final)
        return s->final_rc;
    s->final = 1;
    s->final_rc = SG_OK;
    for (size_t i = 0; i < s->n; i++) {
        unsigned int dlen = 0;
        sg_canon_body_final(&s->h[i].canon);
        if (EVP_DigestFinal_ex(s->h[i].md, s->h[i].digest, &dlen) != 1 || dlen != 32)
            s->final_rc = SG_ECRYPTO;
    }
    return s->final_rc;
}

const uint8_t *sg_bodyhash_digest(const sg_bodyhash_set *s, int i)
{
    return s->h[i].digest;
}

uint64_t sg_bodyhash_total(const sg_bodyhash_set *s, int i)
{
    return s->h[i].canon.total;
}
