/*
 * The hashes of the DKIM family: one SHA-256 per distinct (body
 * canonicalisation, l=) pair of a message, shared by every signature that
 * names the pair (see bodyhash.h), and the header hash with its b=
 * blanking, shared by DKIM-Signature, ARC-Message-Signature and ARC-Seal.
 */
#include "dkim_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* ---- header hash (RFC 6376 3.7, 5.4.2) ----------------------------------------- */

void sg_dkim_md_sink(const void *data, size_t len, void *payload)
{
    EVP_DigestUpdate((EVP_MD_CTX *)payload, data, len);
}

void sg_dkim_hash_headers(EVP_MD_CTX *md, sg_canon_mode mode, const sg_header *fields, size_t count,
                          const char *const *h, size_t nh, size_t skip, unsigned char *used)
{
    memset(used, 0, count);
    for (size_t k = 0; k < nh; k++) {
        size_t hl = strlen(h[k]);
        /* 5.4.2: instances are used bottom-up; a name with none left (an
         * oversigned field) contributes the null string. */
        for (size_t j = count; j-- > 0;) {
            if (used[j] || j == skip || fields[j].name_len != hl ||
                strncasecmp(fields[j].name, h[k], hl) != 0)
                continue;
            used[j] = 1;
            sg_canon_header(mode, fields[j].raw, fields[j].raw_len, 0, sg_dkim_md_sink, md);
            break;
        }
    }
}

int sg_dkim_hash_blanked(sg_arena *a, EVP_MD_CTX *md, sg_canon_mode mode, const char *raw,
                         size_t len, const sg_dkim_sig *g)
{
    size_t n1 = g->b_start, n2 = len - g->b_end;
    char *blank = sg_arena_alloc(a, n1 + n2 + 1);
    if (blank == NULL)
        return SG_ENOMEM;
    /* relaxed canonicalisation looks across the gap (white space either
     * side of it), so the field is hashed as one piece */
    memcpy(blank, raw, n1);
    memcpy(blank + n1, raw + g->b_end, n2);
    sg_canon_header(mode, blank, n1 + n2, 1, sg_dkim_md_sink, md);
    return SG_OK;
}

int sg_dkim_header_digest(sg_arena *a, const EVP_MD *sha256, const sg_dkim_sig *g,
                          const sg_header *fields, size_t count, size_t self, unsigned char *used,
                          uint8_t out[32])
{
    const sg_header *f = &fields[self];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int dlen = 0;
    int rc = SG_ECRYPTO;
    if (md == NULL)
        return SG_ENOMEM;
    if (EVP_DigestInit_ex(md, sha256, NULL) == 1) {
        sg_dkim_hash_headers(md, g->hcanon, fields, count, g->h, g->nh, self, used);
        rc = sg_dkim_hash_blanked(a, md, g->hcanon, f->raw, f->raw_len, g);
        if (rc == SG_OK && (EVP_DigestFinal_ex(md, out, &dlen) != 1 || dlen != 32))
            rc = SG_ECRYPTO;
    }
    EVP_MD_CTX_free(md);
    return rc;
}
