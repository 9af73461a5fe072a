/*
 * Deciding one signature of the DKIM family once its key and body hash
 * are known (RFC 6376 6.1.2-6.1.3, RFC 8301, RFC 8463; RFC 8617 5.2 runs
 * the same checks for the AMS and the seal).
 */
#include "dkim_int.h"

#include <string.h>
#include <strings.h>

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
        return SG_DKIM_PERMERROR;
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
        if (at == NULL || strcasecmp(at + 1, g->d) != 0) {
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
