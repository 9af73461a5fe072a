/*
 * DKIM key records (RFC 6376 3.6.1, RFC 8463 4) and the two signature
 * algorithms (RFC 6376 3.3, RFC 8463 3) on OpenSSL 3 EVP.
 */
#include "dkim_int.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include "util/ascii.h"

enum { K_V, K_H, K_K, K_N, K_P, K_S, K_T, K_COUNT };

static const sg_dkim_tagdef key_tags[] = {
    {"v", K_V}, {"h", K_H}, {"k", K_K}, {"n", K_N}, {"p", K_P}, {"s", K_S}, {"t", K_T},
};

static int item_hash(const char *s, size_t n, void *p)
{
    unsigned *mask = p;
    if (n == 4 && !sg_ascii_ncasecmp(s, "sha1", 4))
        *mask |= SG_DKIM_HASH_SHA1;
    else if (n == 6 && !sg_ascii_ncasecmp(s, "sha256", 6))
        *mask |= SG_DKIM_HASH_SHA256;
    /* unrecognised algorithms are ignored (3.6.1 h=) */
    return 0;
}

static int item_service(const char *s, size_t n, void *p)
{
    int *ok = p;
    if ((n == 1 && s[0] == '*') || (n == 5 && !sg_ascii_ncasecmp(s, "email", 5)))
        *ok = 1;
    return 0;
}

struct flags {
    int y, s;
};

static int item_flag(const char *s, size_t n, void *p)
{
    struct flags *f = p;
    if (n == 1 && (s[0] == 'y' || s[0] == 'Y'))
        f->y = 1;
    else if (n == 1 && (s[0] == 's' || s[0] == 'S'))
        f->s = 1;
    return 0;
}

void sg_dkim_key_clear(sg_dkim_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_CTX_free(k->vctx);
    EVP_PKEY_free(k->pkey);
    memset(k, 0, sizeof(*k));
}

/* RSASSA-PKCS1-v1_5 over the DigestInfo of a SHA-256 digest; NULL on
 * failure. */
static EVP_PKEY_CTX *rsa_verify_ctx(EVP_PKEY *key)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);
    if (c != NULL &&
        (EVP_PKEY_verify_init(c) != 1 || EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) != 1 ||
         EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) != 1)) {
        EVP_PKEY_CTX_free(c);
        c = NULL;
    }
    return c;
}

/* Whether OpenSSL failed in itself (an allocation, an internal error)
 * rather than on its input; empties the error queue. A key or a signature
 * judged on such a failure would be judged on nothing: it is a temporary
 * error, never a permerror or a fail (adv27 MEM-1, MEM-2). */
static int crypto_failed(void)
{
    unsigned long e;
    int fatal = 0;
    while ((e = ERR_get_error()) != 0)
        if (ERR_FATAL_ERROR(e))
            fatal = 1;
    return fatal;
}

/* SG_OK with *out the key, or NULL for bytes that are no RSA key;
 * SG_ENOMEM when OpenSSL could not decide. */
static int decode_rsa_once(const uint8_t *der, size_t len, EVP_PKEY **out)
{
    const unsigned char *p = der;
    ERR_clear_error(); /* what crypto_failed reads must be this call's */
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)len);
    *out = NULL;
    if (k != NULL && p != der + len) {
        EVP_PKEY_free(k); /* trailing garbage */
        k = NULL;
    }
    if (k == NULL && crypto_failed())
        return SG_ENOMEM;
    if (k == NULL) {
        /* A bare PKCS#1 RSAPublicKey instead of SubjectPublicKeyInfo:
         * wrong per 3.6.1 but published in the wild, and accepted by most
         * verifiers (Stalwart mail-auth case 002). */
        p = der;
        k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)len);
        if (k != NULL && p != der + len) {
            EVP_PKEY_free(k);
            k = NULL;
        }
    }
    if (k == NULL && crypto_failed())
        return SG_ENOMEM;
    ERR_clear_error();
    if (k != NULL && EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
        EVP_PKEY_free(k); /* an SPKI of another type (EC...) under k=rsa */
        k = NULL;
    }
    *out = k;
    return SG_OK;
}

/* OpenSSL 3.0's decoders take their own allocation failures off the error
 * queue (a mark they pop), so a NULL from d2i says "no key" or "could not
 * tell" alike: a second try tells a passing failure from the bytes. A key
 * judged unusable on such a failure was cached for its TTL, and every
 * message it signed rejected (adv27 MEM-1). */
static int decode_rsa(const uint8_t *der, size_t len, EVP_PKEY **out)
{
    int rc = SG_OK;
    /* and a key it made with no size (a modulus of 0, or a failure inside
     * the decoder that its legacy path hid) is no key either */
    for (int i = 0; i < 2 && rc == SG_OK; i++) {
        if ((rc = decode_rsa_once(der, len, out)) == SG_OK && *out != NULL &&
            EVP_PKEY_get_bits(*out) > 0)
            return SG_OK;
        EVP_PKEY_free(*out);
        *out = NULL;
    }
    return rc;
}

/* The bits of k's public exponent, or -1 (no memory); *unusable when the
 * exponent is even or below 3. With e = 1 a "signature" is the padded
 * digest itself, which anyone can write: OpenSSL verifies it, and mail
 * "signed" with no private key passed (adv34 F4). An even e has no
 * inverse: no private key exists for it. */
static int rsa_e_bits(const EVP_PKEY *k, int *unusable)
{
    BIGNUM *e = NULL;
    int bits = -1;
    if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e) == 1) {
        bits = BN_num_bits(e);
        *unusable = !BN_is_odd(e) || bits < 2; /* 1 and 0: under 2 bits */
    }
    BN_free(e);
    ERR_clear_error();
    return bits;
}

int sg_dkim_key_parse(const char *txt, size_t len, sg_dkim_key *out, const char **reason)
{
    sg_dkim_tag tags[SG_DKIM_MAX_TAGS];
    const sg_dkim_tag *tv[K_COUNT] = {0};
    size_t ntags;
    const char *err = NULL;
    uint8_t *der = NULL;
    size_t derlen = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (sg_dkim_taglist_parse(txt, len, tags, SG_DKIM_MAX_TAGS, &ntags, &err) != 0) {
        *reason = "key record syntax error";
        return SG_ESYNTAX;
    }
    for (size_t k = 0; k < ntags; k++) {
        int id = sg_dkim_tag_lookup(key_tags, K_COUNT, tags[k].name, tags[k].name_len);
        if (id >= 0)
            tv[id] = &tags[k];
    }
    /* v= is optional but, if present, MUST be first and "DKIM1" */
    if (tv[K_V] != NULL &&
        (tv[K_V] != &tags[0] || tv[K_V]->value_len != 5 || memcmp(tv[K_V]->value, "DKIM1", 5))) {
        *reason = "key record has a bad v= tag";
        return SG_ESYNTAX;
    }
    out->type = SG_DKIM_KEY_RSA; /* k= default */
    if (tv[K_K] != NULL) {
        const char *v = tv[K_K]->value;
        size_t n = tv[K_K]->value_len;
        if (n == 3 && !sg_ascii_ncasecmp(v, "rsa", 3))
            out->type = SG_DKIM_KEY_RSA;
        else if (n == 7 && !sg_ascii_ncasecmp(v, "ed25519", 7))
            out->type = SG_DKIM_KEY_ED25519;
        else {
            *reason = "key record has an unknown k= key type";
            return SG_ESYNTAX;
        }
    }
    out->hashes = SG_DKIM_HASH_SHA1 | SG_DKIM_HASH_SHA256;
    if (tv[K_H] != NULL) {
        out->hashes = 0;
        sg_dkim_list_each(tv[K_H]->value, tv[K_H]->value_len, item_hash, &out->hashes);
    }
    if (tv[K_S] != NULL) {
        int ok = 0;
        sg_dkim_list_each(tv[K_S]->value, tv[K_S]->value_len, item_service, &ok);
        if (!ok) {
            *reason = "key record is not for email (s=)";
            return SG_ESYNTAX;
        }
    }
    if (tv[K_T] != NULL) {
        struct flags f = {0, 0};
        sg_dkim_list_each(tv[K_T]->value, tv[K_T]->value_len, item_flag, &f);
        out->testing = f.y;
        out->strict = f.s;
    }
    if (tv[K_P] == NULL) {
        *reason = "key record has no p= tag";
        return SG_ESYNTAX;
    }
    if (tv[K_P]->value_len == 0) {
        *reason = "key revoked (empty p=)";
        return SG_ESYNTAX;
    }
    if ((rc = sg_dkim_b64_decode(NULL, tv[K_P]->value, tv[K_P]->value_len, &der, &derlen)) != 0) {
        *reason = rc == SG_ENOMEM ? "out of memory" : "key record p= is not base64";
        return rc;
    }
    if (derlen == 0) {
        free(der);
        *reason = "key revoked (empty p=)";
        return SG_ESYNTAX;
    }
    if (out->type == SG_DKIM_KEY_ED25519) {
        /* RFC 8463 4: the raw 32-byte public key, not an SPKI */
        ERR_clear_error(); /* what crypto_failed reads must be this call's */
        if (derlen == 32)
            out->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, derlen);
        /* any 32 bytes make the key (the point is read when verifying):
         * no key from them is OpenSSL's own failure */
        if (out->pkey == NULL && (crypto_failed() || derlen == 32)) {
            free(der);
            *reason = "out of memory";
            return SG_ENOMEM;
        }
        ERR_clear_error();
        out->bits = 256;
    } else {
        if (decode_rsa(der, derlen, &out->pkey) != SG_OK) {
            free(der);
            *reason = "out of memory";
            return SG_ENOMEM;
        }
        if (out->pkey != NULL) {
            /* decode_rsa gives only keys with a size: a modulus of 0 is the
             * signer's unusable record, never a temperror (rev20 R-1) */
            out->bits = (unsigned)EVP_PKEY_get_bits(out->pkey);
            out->vctx = rsa_verify_ctx(out->pkey); /* NULL: set up per use */
            ERR_clear_error();
        }
        if (out->bits > SG_DKIM_MAX_RSA_BITS) {
            free(der);
            sg_dkim_key_clear(out);
            *reason = "RSA key too large";
            return SG_ESYNTAX;
        }
        /* The verification costs one squaring a bit of e: a key of the
         * signer's making with a 3070-bit e cost 6 ms a signature (0.03
         * ms with 65537), 100 of them in one ARC chain. OpenSSL bounds e
         * to 64 bits only above 3072-bit moduli; so do we, for all. */
        int unusable = 0;
        int ebits = out->pkey != NULL ? rsa_e_bits(out->pkey, &unusable) : 0;
        if (ebits < 0 || ebits > SG_DKIM_MAX_RSA_E_BITS || unusable) {
            free(der);
            sg_dkim_key_clear(out);
            *reason = ebits < 0  ? "out of memory"
                      : unusable ? "RSA public exponent is even or below 3: no signature proves "
                                   "anything"
                                 : "RSA public exponent too large";
            return ebits < 0 ? SG_ENOMEM : SG_ESYNTAX;
        }
    }
    free(der);
    if (out->pkey == NULL) {
        *reason = "key record p= is not a usable key";
        return SG_ESYNTAX;
    }
    return SG_OK;
}

/* ---- crypto ------------------------------------------------------------------ */

/* vctx: the key's cached RSA context (an RSA verification keeps no state
 * in it between calls), or NULL to make one for this call. */
static int crypto_verify_once(EVP_PKEY *key, EVP_PKEY_CTX *vctx, const uint8_t digest[32],
                              const uint8_t *sig, size_t siglen)
{
    ERR_clear_error(); /* what crypto_failed reads must be this call's */
    int ok = 0;
    if (vctx != NULL) {
        ok = EVP_PKEY_verify(vctx, sig, siglen, digest, 32) == 1;
    } else if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) {
        /* RFC 8463 3: PureEdDSA over the SHA-256 of the signed data */
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        if (m == NULL)
            return SG_ENOMEM;
        if (EVP_DigestVerifyInit(m, NULL, NULL, NULL, key) == 1)
            ok = EVP_DigestVerify(m, sig, siglen, digest, 32) == 1;
        EVP_MD_CTX_free(m);
    } else {
        /* RSASSA-PKCS1-v1_5 over the DigestInfo of the SHA-256 digest, the
         * same as EVP_DigestVerify over the data, but it lets the header
         * hash be computed while the header is at hand. */
        EVP_PKEY_CTX *c = rsa_verify_ctx(key);
        if (c == NULL) {
            ERR_clear_error();
            return SG_ENOMEM;
        }
        ok = EVP_PKEY_verify(c, sig, siglen, digest, 32) == 1;
        EVP_PKEY_CTX_free(c);
    }
    /* a bad signature leaves errors on the queue; a failure of OpenSSL's
     * own is no verdict on the signature */
    if (crypto_failed() && !ok)
        return SG_ECRYPTO;
    return ok;
}

/* Not every failure of OpenSSL's own leaves a fatal error on its queue (an
 * Ed25519 verification whose allocation failed said only "did not
 * verify"): a "did not" is asked twice, a passing failure then answering 1
 * (adv27 MEM-2). A forged signature costs two verifications, of a number
 * bounded per message. */
int sg_dkim_key_verify(const sg_dkim_key *k, const uint8_t digest[32], const uint8_t *sig,
                       size_t siglen)
{
    int ok = crypto_verify_once(k->pkey, k->vctx, digest, sig, siglen);
    return ok == 0 ? crypto_verify_once(k->pkey, k->vctx, digest, sig, siglen) : ok;
}

int sg_dkim_crypto_sign(EVP_PKEY *key, const uint8_t digest[32], uint8_t *sig, size_t *siglen)
{
    int rc = SG_ECRYPTO;
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        if (m == NULL)
            return SG_ENOMEM;
        if (EVP_DigestSignInit(m, NULL, NULL, NULL, key) == 1 &&
            EVP_DigestSign(m, sig, siglen, digest, 32) == 1)
            rc = SG_OK;
        EVP_MD_CTX_free(m);
    } else {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);
        if (c == NULL)
            return SG_ENOMEM;
        if (EVP_PKEY_sign_init(c) == 1 && EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1 &&
            EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1 &&
            EVP_PKEY_sign(c, sig, siglen, digest, 32) == 1)
            rc = SG_OK;
        EVP_PKEY_CTX_free(c);
    }
    ERR_clear_error();
    return rc;
}

/* ---- start-up --------------------------------------------------------------- */

int sg_crypto_init(void)
{
    /* two public keys (any will do) take every path a message's key and
     * signature take: the config, SHA-256, the decoders, both verifiers */
    static const char *const recs[] = {
        "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAo1DnoevptAWmjsf9AnOcaXqZJk"
        "nyamz1Ro6qz2p+28zEV+t2h4sNTCJQQy8OOWLursfZi4JjCUFg3KrVfee1m8A0iYGwGAve157T25y0id8tNvIN2w"
        "ZzNWLxXSqhsv6HCmeLltcJvW16z0FbjFZUXz46FrQEXAxiN30mT1bP+NRGh4OB2ZdvBJrAd8cAd3akbBfz4n2KVz"
        "WpmWSzxCBKmOi/5g3lrRSYZVYSn27z0UOJ7oItoCwfQGnpvYqGkLFg0rNRaZ7J3Apo9kh1NtEPyuBTuExNIlql8T"
        "2G2crWeRJ8EY91shUw2F5EgKQoO1ieH1XRhgrpSA8h+6+aHe6NowIDAQAB",
        "v=DKIM1; k=ed25519; p=W6Iy28ipYRHeMQUCogW7lJ6MMXONRDjHM5QwGkjuDPs=",
    };
    static const uint8_t digest[32];
    uint8_t sig[256] = {1};
    EVP_MD *md;
    if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1 ||
        (md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
        ERR_clear_error();
        return SG_ECRYPTO;
    }
    EVP_MD_free(md);
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
        sg_dkim_key k;
        const char *why;
        int ok;
        if (sg_dkim_key_parse(recs[i], strlen(recs[i]), &k, &why) != SG_OK)
            return SG_ECRYPTO;
        /* a signature of nothing: "did not verify" (0) is the right answer */
        ok = sg_dkim_key_verify(&k, digest, sig, k.type == SG_DKIM_KEY_ED25519 ? 64 : 256);
        sg_dkim_key_clear(&k);
        if (ok != 0)
            return SG_ECRYPTO;
    }
    ERR_clear_error();
    return SG_OK;
}
