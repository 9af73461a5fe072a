/*
 * spoofguard/dkim.h - DKIM verification and signing (RFC 6376), with
 * ed25519-sha256 (RFC 8463) and the RFC 8301 algorithm and key-size rules.
 *
 * Both directions stream: header fields (as parsed by msg.h) first, then
 * body chunks of any size, then finish. Nothing proportional to the body
 * is ever held.
 *
 * Verification outcomes are data (sg_dkim_sig_result), never error
 * returns: a function returns a negative SG_E* code only for caller bugs,
 * out-of-memory or crypto-library failures.
 */
#ifndef SPOOFGUARD_DKIM_H
#define SPOOFGUARD_DKIM_H

#include "canon.h"
#include "common.h"
#include "dns.h"
#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* RFC 8601 2.7.1 result values for one signature. */
typedef enum {
    SG_DKIM_NONE = 0,  /* not evaluated */
    SG_DKIM_PASS,      /* signature verified */
    SG_DKIM_FAIL,      /* body hash or signature did not verify */
    SG_DKIM_NEUTRAL,   /* reserved (not produced today) */
    SG_DKIM_POLICY,    /* valid form but not acceptable: rsa-sha1, short RSA key,
                          expired, timestamp in the future, over the signature cap */
    SG_DKIM_TEMPERROR, /* key lookup failed temporarily (DNS timeout/SERVFAIL) */
    SG_DKIM_PERMERROR, /* signature or key record unusable */
} sg_dkim_result;

SG_EXTERN const char *sg_dkim_result_str(sg_dkim_result r);

typedef enum {
    SG_DKIM_ALG_UNKNOWN = 0,
    SG_DKIM_RSA_SHA256,
    SG_DKIM_RSA_SHA1, /* recognised only to report it as policy (RFC 8301 3.1) */
    SG_DKIM_ED25519_SHA256,
} sg_dkim_alg;

/* "rsa-sha256", "rsa-sha1", "ed25519-sha256", or "unknown". */
SG_EXTERN const char *sg_dkim_alg_str(sg_dkim_alg alg);

/* ---- key cache ---------------------------------------------------------
 *
 * Parsed public keys (EVP_PKEY plus the record's flags) keyed by the exact
 * TXT record text, kept for the record's DNS TTL. Turning an RSA SPKI into
 * a key object costs about 5x one verification, so a verifier that sees the
 * same signers again skips that work. One cache may be shared by many
 * verifiers; it has its own lock. */
typedef struct sg_dkim_keycache sg_dkim_keycache;

/* max_entries: 0 -> 4096. */
SG_EXTERN int sg_dkim_keycache_new(sg_dkim_keycache **out, size_t max_entries);
SG_EXTERN void sg_dkim_keycache_free(sg_dkim_keycache *c);
/* Counters for tests and statistics. */
SG_EXTERN void sg_dkim_keycache_stats(const sg_dkim_keycache *c, uint64_t *hits, uint64_t *misses,
                                      size_t *entries);

/* ---- verification ------------------------------------------------------ */

#define SG_DKIM_VERIFY_OPTS_VERSION 1
typedef struct {
    unsigned version;         /* SG_DKIM_VERIFY_OPTS_VERSION */
    int64_t now;              /* verification time, Unix seconds; 0: the clock */
    uint32_t clock_skew;      /* allowance for t= and x=, seconds; default 300 */
    size_t max_signatures;    /* signatures evaluated per message; default 10 */
    int fail_on_partial_body; /* l= shorter than the body -> policy; default 0 */
    unsigned min_rsa_bits;    /* RFC 8301 3.2: default (and floor) 1024 */
} sg_dkim_verify_opts;

SG_EXTERN void sg_dkim_verify_opts_init(sg_dkim_verify_opts *opts);

typedef struct {
    sg_dkim_result result;
    const char *reason;    /* short English text; never NULL */
    const char *domain;    /* d= (NULL if the field did not parse that far) */
    const char *selector;  /* s= */
    const char *identity;  /* i= decoded (default "@" d=) */
    const char *algorithm; /* a= as written */
    sg_dkim_alg alg;
    const char *b_prefix; /* first 12 characters of b= (header.b, RFC 6008) */
    int has_length;       /* l= present */
    uint64_t length;      /* l= value */
    uint64_t body_length; /* canonical body length seen (for l= reporting) */
    unsigned key_bits;    /* size of the key used (0 if none) */
    int testing;          /* key record has t=y */
    size_t field_index;   /* index of the DKIM-Signature in the header array */
    /* Over the signature cap: reported (result policy), never evaluated. */
    int skipped;
    /* The header fields (indexes into the header array) this signature's
     * h= covered: RFC 6376 5.4.2 instances, bottom-up, one per listed
     * name. Set when the signed fields were hashed; a field counts as
     * signed only if the signature passed. */
    const size_t *covered;
    size_t ncovered;
} sg_dkim_sig_result;

typedef struct sg_dkim_verifier sg_dkim_verifier;

/* The verifier borrows resolver and cache (cache may be NULL: no caching);
 * both must outlive it. opts NULL: defaults. One verifier checks one
 * message at a time; sg_dkim_verifier_reset() readies it for the next. */
SG_EXTERN int sg_dkim_verifier_new(sg_dkim_verifier **out, sg_resolver *resolver,
                                   sg_dkim_keycache *cache, const sg_dkim_verify_opts *opts);
SG_EXTERN void sg_dkim_verifier_free(sg_dkim_verifier *v);
/* Cancels outstanding key queries and forgets the message. */
SG_EXTERN void sg_dkim_verifier_reset(sg_dkim_verifier *v);

/* Signatures whose d= could align with this (author) domain are
 * evaluated first when a message has more than max_signatures of them,
 * the bottom-most of those first (the originator's signature is the
 * oldest; fields added in transit are prepended above it). Call before
 * sg_dkim_verify_headers; the string is borrowed until then. NULL: header
 * order. */
SG_EXTERN void sg_dkim_verifier_prefer_domain(sg_dkim_verifier *v, const char *domain);

/* Hand over the complete header. Parses every DKIM-Signature (up to the
 * cap), hashes the signed header fields at once (so the array need not
 * outlive this call) and starts the key queries. Call exactly once. */
SG_EXTERN int sg_dkim_verify_headers(sg_dkim_verifier *v, const sg_header *fields, size_t count);
/* Body bytes (CRLF, as msg.h delivers them), any chunking. */
SG_EXTERN int sg_dkim_verify_body(sg_dkim_verifier *v, const char *data, size_t len);
/* End of body. Verifies the signatures whose keys have arrived; returns
 * the number still waiting for their key (>= 0). The rest are verified
 * as their answers are delivered by sg_resolver_run() (or the event loop
 * driving the resolver); sg_dkim_verify_pending() tells when done. */
SG_EXTERN int sg_dkim_verify_finish(sg_dkim_verifier *v);
SG_EXTERN size_t sg_dkim_verify_pending(const sg_dkim_verifier *v);
/* For event-driven callers: cb runs (from the resolver's callback) when
 * the last outstanding key of a finished message has been handled. It
 * does not run from sg_dkim_verify_finish itself: check its return value
 * (0: nothing outstanding). The verifier must not be freed inside cb. */
SG_EXTERN void sg_dkim_verifier_set_done_cb(sg_dkim_verifier *v, void (*cb)(void *payload),
                                            void *payload);
/* Convenience: finish, then run the resolver until every key arrived. */
SG_EXTERN int sg_dkim_verify_wait(sg_dkim_verifier *v);

/* Results in header order (top first), one per DKIM-Signature field; valid
 * until reset/free. Returns SG_ESTATE while keys are pending. A message
 * without DKIM-Signature gives count 0 (the caller reports "none"). */
SG_EXTERN int sg_dkim_verify_results(const sg_dkim_verifier *v, const sg_dkim_sig_result **out,
                                     size_t *count);

/* ---- signing keys -------------------------------------------------------- */

typedef struct sg_dkim_signkey sg_dkim_signkey;

/* Load a private key: PEM (PKCS#1 "RSA PRIVATE KEY" or PKCS#8 "PRIVATE
 * KEY", RSA of 1024 to 8192 bits or Ed25519; one private key a file), or
 * an Ed25519 seed as 32 raw bytes (not PEM or a line of text) or as base64
 * text. A passphrase-encrypted PEM ("ENCRYPTED
 * PRIVATE KEY", or "Proc-Type: 4,ENCRYPTED") is SG_EUNSUPPORTED: nothing
 * here could ask for the passphrase. Refuses with SG_EPERM (errbuf names
 * the file and the fix):
 *  - a file its group or others may read or write, unless
 *    SG_DKIM_KEY_ALLOW_READABLE (any mode) or
 *    SG_DKIM_KEY_ALLOW_GROUP_READABLE (group read only) is given; a file
 *    carrying an extended POSIX ACL,
 *    unless SG_DKIM_KEY_ALLOW_READABLE;
 *  - a file owned by anyone but the effective user or root (its owner can
 *    replace the key at any time, as OpenSSH's StrictModes reasons),
 *    unless SG_DKIM_KEY_ALLOW_ANY_OWNER; with SG_DKIM_KEY_OWNER_ROOT only
 *    root may own it (for a process that dropped root to a user that must
 *    not own keys).
 * A symbolic link is followed (a rotation's current.private ->
 * 2026.private); both checks are made with fstat(2) on the opened
 * descriptor, so they apply to the file that is read. */
#define SG_DKIM_KEY_ALLOW_READABLE 0x1u
#define SG_DKIM_KEY_ALLOW_ANY_OWNER 0x2u
#define SG_DKIM_KEY_ALLOW_GROUP_READABLE 0x4u
#define SG_DKIM_KEY_OWNER_ROOT 0x8u
/* sg_dkim_signkey_loadat only: the file must be reached beneath dirfd,
 * links included. path must be a name in dirfd (no '/'), and a link is
 * followed only to another name in the same folder (a few hops at most):
 * `..`, a name with '/', an absolute link or one into a subfolder or out
 * of it fail (EACCES, as "Permission denied"). Resolved in user space
 * with openat(2) O_NOFOLLOW and readlinkat(2), no openat2(2): it works on
 * every kernel, and under a seccomp filter that keeps openat read-only.
 * For a process whose folder descriptors lead out of its root
 * (spoofguardd's signer). */
#define SG_DKIM_KEY_BENEATH 0x10u
SG_EXTERN int sg_dkim_signkey_load(sg_dkim_signkey **out, const char *path, unsigned flags,
                                   char *errbuf, size_t errlen);
/* The same, path relative to the directory dirfd (openat(2)); AT_FDCWD
 * gives sg_dkim_signkey_load. */
SG_EXTERN int sg_dkim_signkey_loadat(sg_dkim_signkey **out, int dirfd, const char *path,
                                     unsigned flags, char *errbuf, size_t errlen);
SG_EXTERN int sg_dkim_signkey_from_mem(sg_dkim_signkey **out, const void *data, size_t len);
SG_EXTERN int sg_dkim_signkey_from_ed25519_seed(sg_dkim_signkey **out, const uint8_t seed[32]);
/* Generate a new key: SG_DKIM_RSA_SHA256 (bits 0 -> 2048; 1024..8192) or
 * SG_DKIM_ED25519_SHA256. */
SG_EXTERN int sg_dkim_signkey_generate(sg_dkim_signkey **out, sg_dkim_alg alg, unsigned bits);
SG_EXTERN void sg_dkim_signkey_free(sg_dkim_signkey *k);
SG_EXTERN sg_dkim_alg sg_dkim_signkey_alg(const sg_dkim_signkey *k);
SG_EXTERN unsigned sg_dkim_signkey_bits(const sg_dkim_signkey *k);
/* Write the key as PEM (PKCS#8; Ed25519 too) to a new file: mode 0600,
 * O_EXCL (SG_EEXIST if it exists). */
SG_EXTERN int sg_dkim_signkey_write(const sg_dkim_signkey *k, const char *path);
/* The key record "v=DKIM1; k=rsa; p=..." (malloc'd; free()). */
SG_EXTERN int sg_dkim_signkey_record(const sg_dkim_signkey *k, char **out);
/* The one private-key operation of DKIM and ARC signing: sign the SHA-256
 * digest of the signed data (RSA PKCS#1 v1.5 over its DigestInfo; Ed25519
 * over the 32 bytes, RFC 8463 3). For callers that keep the key apart
 * from the message (a signer process). *siglen: in, the room in sig
 * (SG_EINVAL if below the key's size: 512 bytes fit RSA-4096); out, the
 * signature's length. */
SG_EXTERN int sg_dkim_signkey_sign_digest(const sg_dkim_signkey *k, const uint8_t digest[32],
                                          uint8_t *sig, size_t *siglen);
/* Is name usable as a DKIM d= domain or s= selector: what the verifier
 * accepts there (RFC 6376 3.1, 3.5): labels of 1..63 letters, digits,
 * '-' or '_' (so A-labels, not U-labels), single dots between, at most
 * 253 octets, no root dot. A signer's key tables and key generator check
 * their names with it: such a name also ends up in file names and zone
 * text, where "../x" or a space would be read as something else. 1 or 0. */
SG_EXTERN int sg_dkim_name_ok(const char *name);
/* The record as a zone-file line:
 *   S._domainkey.D. IN TXT ( "v=DKIM1; k=rsa; p=..." "..." )
 * with character-strings of at most 255 bytes (RFC 1035 3.3). malloc'd.
 * SG_EINVAL unless selector and domain (one root dot allowed) pass
 * sg_dkim_name_ok. */
SG_EXTERN int sg_dkim_zone_txt(char **out, const char *domain, const char *selector,
                               const char *record);

/* ---- signing ------------------------------------------------------------- */

/* Emit q=dns/txt (the default value; some signers write it). */
#define SG_DKIM_SIGN_Q_TAG 0x1u
/* Separate h= names with " : " instead of ":" (dkimpy's style). */
#define SG_DKIM_SIGN_H_SPACED 0x2u

/* Version 1 (without alg) is still accepted. */
#define SG_DKIM_SIGN_OPTS_VERSION 2
typedef struct {
    unsigned version;     /* SG_DKIM_SIGN_OPTS_VERSION */
    const char *domain;   /* d= (required) */
    const char *selector; /* s= (required) */
    /* borrowed; NULL: the key is held elsewhere (alg names it), and the
     * signature is made with sg_dkim_sign_digests/_complete */
    const sg_dkim_signkey *key;
    sg_canon_mode header_canon; /* default relaxed */
    sg_canon_mode body_canon;   /* default relaxed */
    const char *identity;       /* i= (optional; must be within d=) */
    /* Fields to sign, each instance present; NULL: From, Sender,
     * Reply-To, To, Cc, Subject, Date, Message-ID, In-Reply-To,
     * References, MIME-Version, Content-Type, Content-Transfer-Encoding,
     * the List-* fields of RFC 2369, RFC 2919 and RFC 8058 and the
     * Resent-* fields. From is always signed. At
     * most 128 names here and in oversign; h= holds at most 256 in all
     * (verifiers refuse more): past that, the names with the most
     * instances give up their topmost ones first. */
    const char *const *headers;
    size_t nheaders;
    /* Fields signed once more than they occur, so none can be added
     * (RFC 6376 8.15); NULL: the default list above up to
     * Content-Transfer-Encoding (not List-* or Resent-*). noversign = 1
     * with oversign NULL disables it. */
    const char *const *oversign;
    size_t noversign;
    int64_t timestamp;     /* t=: 0 -> now; -1 -> no t= */
    uint32_t expire_after; /* x= = t + this; 0: no x= */
    unsigned flags;        /* SG_DKIM_SIGN_* */
    sg_dkim_alg alg;       /* without key: the algorithm of the key that signs */
} sg_dkim_sign_opts;

SG_EXTERN void sg_dkim_sign_opts_init(sg_dkim_sign_opts *opts);

typedef struct sg_dkim_signer sg_dkim_signer;

/* One signer makes n signatures (e.g. RSA-2048 and Ed25519) in one pass.
 * The options (and the strings and keys they point to) are copied except
 * the keys, which are borrowed. */
SG_EXTERN int sg_dkim_signer_new(sg_dkim_signer **out, const sg_dkim_sign_opts *opts, size_t n);
SG_EXTERN void sg_dkim_signer_free(sg_dkim_signer *s);
SG_EXTERN void sg_dkim_signer_reset(sg_dkim_signer *s);
/* The header; hashed at once (the array need not outlive the call).
 * SG_ENOTFOUND if the message has no From field (RFC 6376 5.4). */
SG_EXTERN int sg_dkim_sign_headers(sg_dkim_signer *s, const sg_header *fields, size_t count);
SG_EXTERN int sg_dkim_sign_body(sg_dkim_signer *s, const char *data, size_t len);
/* End of body: *out is the DKIM-Signature field(s), CRLF-terminated and
 * folded under 78 columns, to put on top of the message; valid until
 * reset/free. */
SG_EXTERN int sg_dkim_sign_finish(sg_dkim_signer *s, const char **out, size_t *len);

/* The same in two steps, for keys held by another process (spoofguardd's
 * signer): at the end of the body, the SHA-256 header hash each signature's
 * key must sign (n = sg_dkim_signer_count(); digests holds 32 * n bytes,
 * in the order of the options)... */
SG_EXTERN size_t sg_dkim_signer_count(const sg_dkim_signer *s);
SG_EXTERN int sg_dkim_sign_digests(sg_dkim_signer *s, uint8_t *digests, size_t n);
/* ...then the signatures of those digests (sg_dkim_signkey_sign_digest's), in
 * the same order: *out as sg_dkim_sign_finish gives it. */
SG_EXTERN int sg_dkim_sign_complete(sg_dkim_signer *s, const uint8_t *const *sigs,
                                    const size_t *siglens, size_t n, const char **out, size_t *len);
/* After sg_dkim_sign_digests or sg_dkim_sign_finish: the first signature's
 * body hash (its bh=, 32 bytes of SHA-256), valid until reset/free. A
 * fingerprint of the content that costs nothing more, for a caller that
 * counts one body sent to many (spoofguardd's outbound protection).
 * SG_ESTATE before the end of the body. */
SG_EXTERN int sg_dkim_sign_body_hash(const sg_dkim_signer *s, const uint8_t **hash, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
