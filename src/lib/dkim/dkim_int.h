/*
 * Internal DKIM interfaces shared by the verifier, the signer, the tests
 * and the fuzz harnesses: tag lists (RFC 6376 3.2), the DKIM-Signature
 * field (3.5), key records (3.6.1), base64, header selection and hashing,
 * and the two signature algorithms.
 */
#ifndef SG_DKIM_INT_H
#define SG_DKIM_INT_H

#include <spoofguard/arena.h>
#include <spoofguard/dkim.h>

#include "dkim/bodyhash.h"

#include <openssl/evp.h>
#include <string.h>
#include "util/ascii.h"

/* ---- limits ------------------------------------------------------------ */

/* Tags in one tag list. DKIM-Signature defines 14, key records 7; 64
 * leaves room for extensions while bounding the duplicate check. */
#define SG_DKIM_MAX_TAGS 64
/* Names in h=. RFC 6376 sets no bound; real signers list < 40. Each name
 * costs a scan of the header, so bound the work one signature can ask. */
#define SG_DKIM_MAX_H 256
/* Hard ceiling on max_signatures, whatever the caller asks. */
#define SG_DKIM_MAX_SIGS_CEILING 64
/* RSA keys above this are refused (verification cost grows as bits^2). */
#define SG_DKIM_MAX_RSA_BITS 8192
/* TXT records of one key answer parsed (the others ignored) */
#define SG_DKIM_MAX_KEY_RECORDS 2
#define SG_DKIM_MAX_RSA_E_BITS 64 /* OpenSSL's bound above 3072-bit moduli */
/* Signature bytes: 8192-bit RSA is 1024 bytes; Ed25519 64. */
#define SG_DKIM_MAX_SIG_BYTES 1024

/* ---- base64 ------------------------------------------------------------ */

/* Decode base64, skipping whitespace (FWS is allowed inside b=, bh= and
 * p=, RFC 6376 3.5 and 3.6.1). Strict about alphabet and padding. *out is
 * allocated from the arena (or malloc'd if arena is NULL). Returns 0 or
 * SG_ESYNTAX / SG_ENOMEM. */
int sg_dkim_b64_decode(sg_arena *a, const char *s, size_t len, uint8_t **out, size_t *outlen);
/* Encode into dst (size >= 4 * ((n + 2) / 3) + 1); returns the length. */
size_t sg_dkim_b64_encode(const uint8_t *src, size_t n, char *dst);

/* ---- tag lists (RFC 6376 3.2) --------------------------------------------- */

typedef struct {
    const char *name;
    size_t name_len;
    const char *value; /* points into the input; FWS inside kept */
    size_t value_len;  /* leading and trailing FWS excluded */
    size_t value_off;  /* offset of value in the input */
    size_t end_off;    /* offset of the ';' ending the spec (or len) */
} sg_dkim_tag;

/* Parse a tag list. Duplicate tag names, a spec without '=', a bad tag
 * name or a value byte outside VALCHAR/WSP/FWS are errors (SG_ESYNTAX,
 * *err says which). A trailing ';' and trailing whitespace are allowed. */
int sg_dkim_taglist_parse(const char *s, size_t len, sg_dkim_tag *tags, size_t max, size_t *ntags,
                          const char **err);

/* A table entry mapping a tag name to an index. */
typedef struct {
    const char *name;
    int id;
} sg_dkim_tagdef;

/* Index of the tag in defs, or -1 (unknown tags are ignored, 3.2). */
/* FWS bytes as tag-list values may carry them (RFC 6376 2.8). */
int sg_dkim_is_fws(char c);
/* Call fn on each element of a colon-separated list (h=, q=, the key
 * record's h=, s=, t=), trimmed of FWS; empty elements included. A
 * non-zero return from fn stops the walk and is returned. */
int sg_dkim_list_each(const char *v, size_t n, int (*fn)(const char *s, size_t len, void *p),
                      void *p);

int sg_dkim_tag_lookup(const sg_dkim_tagdef *defs, size_t ndefs, const char *name, size_t len);

/* ---- signature fields: DKIM-Signature (RFC 6376 3.5), ARC-Message-Signature
 * and ARC-Seal (RFC 8617 4.1.2, 4.1.3) ---------------------------------------- */

typedef enum { SG_SIG_DKIM = 1, SG_SIG_AMS = 2, SG_SIG_AS = 4 } sg_dkim_kind;

typedef struct {
    sg_dkim_kind kind;
    sg_dkim_alg alg;
    const char *a; /* a= as written */
    sg_canon_mode hcanon, bcanon;
    const char *d, *s, *i; /* i= decoded from dkim-quoted-printable (DKIM only) */
    const char **h;        /* h= names, as written */
    size_t nh;
    uint8_t *b, *bh;
    size_t blen, bhlen;
    int has_l, has_t, has_x;
    uint64_t l;
    int64_t t, x;
    unsigned instance;     /* ARC i= (1..50; 0: missing or malformed) */
    int cv;                /* ARC-Seal cv= (sg_arc_cv) */
    size_t b_start, b_end; /* the b= value in raw (bytes to blank out) */
    char b_prefix[13];
} sg_dkim_sig;

/* Parse and validate one signature field of the given kind (raw bytes
 * including the name, as in sg_header.raw). Fills what it can even on
 * failure (d=, s=, a=, the ARC instance) so that the result can name
 * them. Returns 0, SG_ESYNTAX (permerror; *reason set) or SG_ENOMEM.
 * rsa-sha1 parses for DKIM (alg SG_DKIM_RSA_SHA1): refusing it is policy,
 * decided by the caller. */
int sg_dkim_sig_parse(sg_arena *a, sg_dkim_kind kind, const char *raw, size_t raw_len,
                      sg_dkim_sig *out, const char **reason);

/* ARC i= value: 1*2DIGIT in 1..50, no leading zero (RFC 8617 4.2.1); 0
 * if it is not one. */
unsigned sg_arc_parse_instance(const char *s, size_t n);

/* The key record's name, s._domainkey.d (RFC 6376 3.6.2.1), in the arena. */
char *sg_dkim_key_qname(sg_arena *a, const sg_dkim_sig *g);

/* ---- key records (RFC 6376 3.6.1) ------------------------------------------ */

enum { SG_DKIM_KEY_RSA = 1, SG_DKIM_KEY_ED25519 = 2 };
enum { SG_DKIM_HASH_SHA1 = 1u, SG_DKIM_HASH_SHA256 = 2u };

typedef struct {
    int type;        /* SG_DKIM_KEY_* */
    unsigned hashes; /* h=: SG_DKIM_HASH_* allowed (all if absent) */
    int testing;     /* t=y */
    int strict;      /* t=s: i= domain must equal d= */
    unsigned bits;
    EVP_PKEY *pkey; /* owned reference */
    /* owned, may be NULL: an RSA verification context set up once
     * (PKCS#1 v1.5, SHA-256). Creating one costs about a tenth of the
     * verification itself (provider and algorithm look-ups); the key
     * cache keeps one per key and hands out copies. */
    EVP_PKEY_CTX *vctx;
} sg_dkim_key;

/* Parse a key record and decode its key. Returns 0, SG_ESYNTAX
 * (permerror: syntax, version, revoked, unusable key; *reason set) or
 * SG_ENOMEM. */
int sg_dkim_key_parse(const char *txt, size_t len, sg_dkim_key *out, const char **reason);
void sg_dkim_key_clear(sg_dkim_key *k);
/* Verify sig over the signed data whose SHA-256 is digest (RFC 8463 3:
 * Ed25519 signs the digest itself; RSA PKCS#1 v1.5 with the DigestInfo of
 * digest). Returns 1 verified, 0 did not, < 0 (SG_ENOMEM, SG_ECRYPTO)
 * OpenSSL could not tell. */
int sg_dkim_key_verify(const sg_dkim_key *k, const uint8_t digest[32], const uint8_t *sig,
                       size_t siglen);

/* SHA-256 for EVP_DigestInit_ex: the cache's, fetched once (c may be
 * NULL: EVP_sha256()). */
const EVP_MD *sg_dkim_sha256(const sg_dkim_keycache *c);

/* Through the cache (c may be NULL): on return *out holds its own
 * reference to the key. ttl: DNS TTL of the record; now: clock. A parse
 * failure is cached too, with the same reason. */
int sg_dkim_keycache_get(sg_dkim_keycache *c, const char *txt, size_t len, uint32_t ttl,
                         int64_t now, sg_dkim_key *out, const char **reason);

/* The key from a key-record lookup's answer (RFC 6376 6.1.2: the first
 * usable record wins; else the first record's error). *key is replaced
 * (the old one cleared) whenever a record was seen. Returns 0; a key
 * record error with *reason; SG_ENOTFOUND for no record; or SG_ETIMEOUT
 * with *temp = 1 when the lookup failed temporarily. */
/* Fields of a header named name (any case). */
size_t sg_dkim_count_fields(const sg_header *f, size_t count, const char *name);
/* h= for a new signature: each of names (a repeat counts once) once per
 * instance present in f, in order, at most max in all: past max, the
 * names with the most instances give up their topmost ones first (h=
 * takes instances from the bottom, RFC 6376 5.4.2). h holds max entries;
 * returns how many it got. */
size_t sg_dkim_pick_headers(const sg_header *f, size_t count, const char *const *names,
                            size_t nnames, const char **h, size_t max);
/* The fields our DKIM signatures sign by default (sign.c); the first
 * SG_DKIM_DEFAULT_OVERSIGN once more than present, so none can be added
 * (RFC 6376 8.15): what readers show as who, to whom, what and in which
 * thread, and how the body decodes. Not the List-* fields: a list that
 * passes a message on unchanged but for its List-Id must not break the
 * signature. The ARC sealer signs and oversigns the same first ones. */
#define SG_DKIM_DEFAULT_NHEADERS 27
#define SG_DKIM_DEFAULT_OVERSIGN 13 /* up to content-transfer-encoding */
extern const char *const sg_dkim_default_headers[SG_DKIM_DEFAULT_NHEADERS];
/* A signature's h= (h holds SG_DKIM_MAX_H): the present instances of
 * names, then one more of each of over[] (nover at most SG_DKIM_MAX_H / 2)
 * so that none can be added (RFC 6376 8.15), but for a Date or Message-ID
 * the message lacks (MTAs add those after signing). The DKIM signer's and
 * the ARC sealer's. */
size_t sg_dkim_pick_oversigned(const sg_header *f, size_t count, const char *const *names,
                               size_t nnames, const char *const *over, size_t nover,
                               const char **h);
int sg_dkim_key_from_answer(sg_dkim_keycache *c, const sg_dns_answer *ans, int64_t now,
                            sg_dkim_key *key, const char **reason, int *temp);

/* Is f the field called name? Inline: the verifiers test every field of
 * the header against a constant name (sg_header_is, a call with its own
 * strlen, cost ~4 instructions a field more). */
static inline int sg_dkim_field_is(const sg_header *f, const char *name)
{
    size_t n = strlen(name);
    return f->name_len == n && sg_ascii_ncasecmp(f->name, name, n) == 0;
}

/* ---- hashing ---------------------------------------------------------------- */

/* EVP_DigestUpdate as a canon sink (payload: EVP_MD_CTX *). */
void sg_dkim_md_sink(const void *data, size_t len, void *payload);

/* Hash the signature field itself with its b= value blanked (RFC 6376
 * 3.7, RFC 8617 5.1.1), without its final CRLF. raw, len: the field;
 * g: its parse (b_start, b_end). The arena holds the blanked copy. */
int sg_dkim_hash_blanked(sg_arena *a, EVP_MD_CTX *md, sg_canon_mode mode, const char *raw,
                         size_t len, const sg_dkim_sig *g);

/* The header hash of a DKIM-Signature or an AMS (RFC 6376 3.7): the
 * fields named in h=, then the signature field (fields[self]) blanked.
 * used: scratch of count bytes; on return it marks the fields covered. */
int sg_dkim_header_digest(sg_arena *a, const EVP_MD *sha256, const sg_dkim_sig *g,
                          const sg_header *fields, size_t count, size_t self, unsigned char *used,
                          uint8_t out[32]);

/* Hash the fields named in h (RFC 6376 5.4.2): for each name, the last
 * not-yet-used instance, searching bottom-up; a name with no instance left
 * contributes nothing. skip: index of a field never selected (the
 * signature itself) or SIZE_MAX. used: scratch of count bytes. */
void sg_dkim_hash_headers(EVP_MD_CTX *md, sg_canon_mode mode, const sg_header *fields, size_t count,
                          const char *const *h, size_t nh, size_t skip, unsigned char *used);

/* ---- building signature fields (the signer's folding, shared with the ARC
 * sealer) ------------------------------------------------------------------ */

/* Fold lines before this column (RFC 5322 2.1.1: SHOULD be under 78). */
#define SG_DKIM_FOLD_COLUMN 76

/* A growing field text that tracks its column; oom sticks. */
typedef struct {
    char *buf; /* malloc'd, NUL-terminated */
    size_t len, cap;
    size_t col;
    int oom;
} sg_dkim_fbuf;

void sg_dkim_fb_put(sg_dkim_fbuf *f, const char *s, size_t n);
void sg_dkim_fb_str(sg_dkim_fbuf *f, const char *s);
/* Start a tag: "; " then tag on this line if tag plus need more bytes
 * fit, else ";" and a folded line (first: no separator). */
void sg_dkim_fb_tag(sg_dkim_fbuf *f, const char *tag, size_t need, int first);
void sg_dkim_fb_tagval(sg_dkim_fbuf *f, const char *tag, const char *val);
/* "; h=" and the names (nh >= 1) joined by sep (":" or " : "), folded
 * between names. */
/* A header field name for h= (RFC 5322 ftext: printable ASCII but a colon). */
int sg_dkim_field_name_ok(const char *s);
void sg_dkim_fb_hlist(sg_dkim_fbuf *f, const char *const *h, size_t nh, const char *sep);

/* ---- what the DKIM and the ARC verifier share ------------------------------- */

/* One message's state common to both verifiers: the resolver and key
 * cache they borrow, the message's arena, its body hashes (their own or
 * lent by the verdict), the clock, how far the message has come, and the
 * key queries still out. */
typedef struct {
    sg_resolver *resolver;
    sg_dkim_keycache *cache;
    sg_arena *arena;
    sg_bodyhash_set own_bh;
    sg_bodyhash_set *bh; /* &own_bh, or the owner's */
    int64_t now;
    int have_headers, body_done;
    size_t pending; /* key queries out */
    void (*done_cb)(void *payload);
    void *done_payload;
} sg_dkim_vcore;

int sg_dkim_vcore_init(sg_dkim_vcore *c, sg_resolver *resolver, sg_dkim_keycache *cache);
/* Forget the message (the caller has cancelled its queries). */
void sg_dkim_vcore_reset(sg_dkim_vcore *c);
void sg_dkim_vcore_free(sg_dkim_vcore *c);
/* The header, once (SG_ESTATE after); the clock is now, or time() if 0. */
int sg_dkim_vcore_headers(sg_dkim_vcore *c, int64_t now);
/* A body chunk into the verifier's own hashes; SG_ESTATE with a lent set
 * (its owner feeds it), before the header or after the end. */
int sg_dkim_vcore_body(sg_dkim_vcore *c, const char *data, size_t len);
/* The end of the body: 1 the first time (the caller then decides what
 * waited for the body hashes), 0 after; SG_ESTATE before the header;
 * SG_ECRYPTO. */
int sg_dkim_vcore_end_body(sg_dkim_vcore *c);
/* Run the resolver until no key is pending; rc: what finish returned.
 * When the resolver has nothing left while keys are still pending,
 * give_up(self) decides them (never hang). */
int sg_dkim_vcore_wait(sg_dkim_vcore *c, int rc, void (*give_up)(void *self), void *self);

/* Lend the verifier the owner's body hashes (the verdict's, shared with
 * the ARC verifier): from then on the owner feeds the body and finals the
 * set, and sg_dkim_verify_body is refused. Call once, before any message;
 * the set must outlive the verifier's use of it. */
void sg_dkim_verifier_lend_bodyhash(sg_dkim_verifier *v, sg_bodyhash_set *set);
/* The verdict stops waiting: key lookups still out are cancelled and
 * their signatures decided temperror ("key lookup did not finish in
 * time"). The done callback does not run. */
void sg_dkim_verify_give_up(sg_dkim_verifier *v);

/* ---- deciding one signature ------------------------------------------------ */

/* What a verifier knows of one signature's key. */
typedef struct {
    int temp; /* the lookup failed temporarily */
    int rc;   /* 0: key usable; else reason says why not */
    const char *reason;
    const sg_dkim_key *key;
} sg_dkim_keystate;

/* The key and signature checks of RFC 6376 6.1.2-6.1.3 (and RFC 8617 5.2
 * for ARC, which runs the same ones) once the key and the body hash are
 * known: key usable, key type against a=, key h=, t=s, RFC 8301's RSA
 * floor, the body hash (bh_digest; NULL for an ARC-Seal, which signs no
 * body), then the signature over hdr_digest. Returns the result, with
 * *reason; SG_DKIM_PASS with reason "good signature". */
sg_dkim_result sg_dkim_check_sig(const sg_dkim_sig *g, const sg_dkim_keystate *k,
                                 unsigned min_rsa_bits, const uint8_t *bh_digest,
                                 const uint8_t hdr_digest[32], const char **reason);

/* ---- crypto --------------------------------------------------------------- */

/* Sign; sig must hold EVP_PKEY_get_size(key) bytes. */
int sg_dkim_crypto_sign(EVP_PKEY *key, const uint8_t digest[32], uint8_t *sig, size_t *siglen);

/* The signing key's EVP_PKEY (for tests). */
EVP_PKEY *sg_dkim_signkey_pkey(const sg_dkim_signkey *k);

/* A domain name as DKIM uses it (d=, s=, the i= domain): labels of
 * letters, digits, '-' and '_' (selectors and some d= use '_'), no empty
 * label, 63/253 octet limits. */
int sg_dkim_domain_ok(const char *d);

#endif
