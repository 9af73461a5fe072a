/*
 * From a parsed signature of the DKIM family to its result, for
 * DKIM-Signature, ARC-Message-Signature and ARC-Seal alike: the key's
 * name, the header hash with b= blanked (RFC 6376 3.7, 5.4.2; RFC 8617
 * 5.1.1), and the checks once the key and the body hash are known (RFC
 * 6376 6.1.2-6.1.3, RFC 8301, RFC 8463; RFC 8617 5.2 runs the same ones).
 * The body hashes are in bodyhash.c.
 */
#include "dkim_int.h"

#include <string.h>
#include "util/ascii.h"

char *sg_dkim_key_qname(sg_arena *a, const sg_dkim_sig *g)
{
    size_t ls = strlen(g->s), ld = strlen(g->d);
    char *q = sg_arena_alloc(a, ls + ld + sizeof("._domainkey."));
    if (q != NULL) {
        memcpy(q, g->s, ls);
        memcpy(q + ls, "._domainkey.", 12);
        memcpy(q + ls + 12, g->d, ld + 1);
    }
    return q;
}

sg_dkim_result sg_dkim_check_sig(const sg_dkim_sig *g, const sg_dkim_keystate *ks,
                                 unsigned min_rsa_bits, const uint8_t *bh_digest,
                                 const uint8_t hdr_digest[32], const char **reason)
{
    const sg_dkim_key *k = ks->key;
    int ok;
    if (ks->temp) {
        *reason = ks->reason;
        return SG_DKIM_TEMPERROR;
    }
    if (ks->rc != 0) {
        *reason = ks->reason;
        /* our own failure (memory, OpenSSL) says nothing of the key */
        return ks->rc == SG_ENOMEM || ks->rc == SG_ECRYPTO ? SG_DKIM_TEMPERROR : SG_DKIM_PERMERROR;
    }
    if ((g->alg == SG_DKIM_ED25519_SHA256) != (k->type == SG_DKIM_KEY_ED25519)) {
        *reason = "key type does not match the signature algorithm";
        return SG_DKIM_PERMERROR;
    }
    if (!(k->hashes & SG_DKIM_HASH_SHA256)) {
        *reason = "key h= does not allow sha256";
        return SG_DKIM_PERMERROR;
    }
    if (k->strict && g->kind == SG_SIG_DKIM) {
        /* 3.6.1 t=s: the i= domain must be d= exactly, no subdomain (an
         * ARC signature has no identity) */
        const char *at = strrchr(g->i, '@');
        if (at == NULL || sg_ascii_casecmp(at + 1, g->d) != 0) {
            *reason = "key t=s forbids an i= subdomain";
            return SG_DKIM_PERMERROR;
        }
    }
    if (k->type == SG_DKIM_KEY_RSA && k->bits < min_rsa_bits) {
        *reason = "RSA key shorter than 1024 bits (RFC 8301)";
        return SG_DKIM_POLICY;
    }
    if (bh_digest != NULL && (g->bhlen != 32 || memcmp(g->bh, bh_digest, 32) != 0)) {
        *reason = "body hash did not verify";
        return SG_DKIM_FAIL;
    }
    ok = sg_dkim_key_verify(k, hdr_digest, g->b, g->blen);
    if (ok < 0) {
        *reason = "crypto library error";
        return SG_DKIM_TEMPERROR;
    }
    if (!ok) {
        *reason = "signature did not verify";
        return SG_DKIM_FAIL;
    }
    *reason = "good signature";
    return SG_DKIM_PASS;
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
                sg_ascii_ncasecmp(fields[j].name, h[k], hl) != 0)
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
