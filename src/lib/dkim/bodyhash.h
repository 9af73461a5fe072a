/*
 * Body hashes of one message (RFC 6376 3.7 bh=): one SHA-256 per distinct
 * (body canonicalisation, l=) pair, however many DKIM-Signatures and
 * ARC-Message-Signatures ask for it. The verdict owns one set per message
 * and lends it to the DKIM and the ARC verifier; a standalone verifier or
 * the signer owns its own.
 *
 * The body is canonicalised and hashed once per canonicalisation (two at
 * most), whatever the number of l= values: the hash of the first l= bytes
 * is a copy of the running hash taken when the canonical body reaches
 * them. One pass per pair cost up to 60 passes over the body for a
 * message whose hostile signatures each named another l=.
 *
 * Use: add() while reading the header, update() with each body chunk,
 * final() once at the end of the body, then digest(i) and total(i). The
 * set must not move while a message is hashed.
 */
#ifndef SG_DKIM_BODYHASH_H
#define SG_DKIM_BODYHASH_H

#include <spoofguard/canon.h>

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    sg_canon_mode mode;
    uint64_t limit; /* l=, or UINT64_MAX */
    EVP_MD_CTX *md; /* owned, kept across sg_bodyhash_reset: the copy taken at the cut */
    int done;       /* digest is final */
    uint8_t digest[32];
} sg_bodyhash;

/* One canonicalisation's pass over the body. */
typedef struct {
    EVP_MD_CTX *md;      /* owned: the running hash of the canonical body */
    sg_canon_body canon; /* no limit; its sink is the stream */
    uint64_t fed;        /* canonical bytes hashed */
    uint64_t cut;        /* the next l= to copy the hash at (UINT64_MAX: none) */
    int started;         /* this message's pass has begun */
    void *set;           /* the sg_bodyhash_set, for the sink */
} sg_bodyhash_stream;

typedef struct {
    sg_bodyhash *h;
    size_t n;   /* in use for this message */
    size_t nmd; /* entries holding a digest context (>= n) */
    size_t cap;
    sg_bodyhash_stream stream[2]; /* by sg_canon_mode */
    int updating;                 /* the body has begun: no more add */
    int final;                    /* sg_bodyhash_final done: no more add or update */
    int final_rc;                 /* what final returned */
    const EVP_MD *sha256;
} sg_bodyhash_set;

/* sha256: the digest to use (NULL: EVP_sha256()). */
void sg_bodyhash_init(sg_bodyhash_set *s, const EVP_MD *sha256);
/* Forget this message's hashers; the digest contexts are kept for reuse. */
void sg_bodyhash_reset(sg_bodyhash_set *s);
void sg_bodyhash_free(sg_bodyhash_set *s);

/* The index of the hasher for (mode, limit), added if new. Returns the
 * index, SG_ENOMEM, or SG_ESTATE once the body has begun. */
int sg_bodyhash_add(sg_bodyhash_set *s, sg_canon_mode mode, uint64_t limit);
/* One chunk of the body (in wire form, CRLF line ends) through every
 * hasher. Nothing after final. */
void sg_bodyhash_update(sg_bodyhash_set *s, const char *data, size_t len);
/* End of the body: every digest is known. Idempotent. 0 or SG_ECRYPTO. */
int sg_bodyhash_final(sg_bodyhash_set *s);
/* After final: hasher i's SHA-256, and the canonical length of the whole
 * body in its mode (beyond l= too, RFC 6376 8.2). */
const uint8_t *sg_bodyhash_digest(const sg_bodyhash_set *s, int i);
uint64_t sg_bodyhash_total(const sg_bodyhash_set *s, int i);

#endif
