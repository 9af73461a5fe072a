/*
 * spoofguard/arc.h - ARC chain validation (RFC 8617 5.2).
 *
 * Same shape as the DKIM verifier (dkim.h): header fields first, then
 * body chunks of any size, then finish; keys arrive through the resolver
 * asynchronously. Sealing (RFC 8617 5.1) streams the same way and adds
 * one ARC set on top of the chain the verifier judged.
 *
 * The chain outcome (cv = none / pass / fail, RFC 8617 4.4) is data in
 * sg_arc_result, never an error return: functions return a negative SG_E*
 * code only for caller bugs, out-of-memory or crypto-library failures.
 */
#ifndef SPOOFGUARD_ARC_H
#define SPOOFGUARD_ARC_H

#include "common.h"
#include "dkim.h"
#include "dns.h"
#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Chain validation status (RFC 8617 4.4). */
typedef enum {
    SG_ARC_NONE = 0, /* no ARC sets */
    SG_ARC_PASS,
    SG_ARC_FAIL,
} sg_arc_cv;

/* "none", "pass", "fail". */
SG_EXTERN const char *sg_arc_cv_str(sg_arc_cv cv);

/* RFC 8617 4.2.1: at most 50 ARC sets. */
#define SG_ARC_MAX_INSTANCES 50

#define SG_ARC_VERIFY_OPTS_VERSION 1
typedef struct {
    unsigned version;      /* SG_ARC_VERIFY_OPTS_VERSION */
    int64_t now;           /* verification time, Unix seconds; 0: the clock */
    uint32_t clock_skew;   /* an AMS past its x= by more than this fails; default 300 */
    unsigned min_rsa_bits; /* RFC 8301 3.2: default (and floor) 1024 */
} sg_arc_verify_opts;

SG_EXTERN void sg_arc_verify_opts_init(sg_arc_verify_opts *opts);

/* One ARC set, as seen by the validator. Strings are NULL when the field
 * did not parse that far; all valid until reset/free. */
typedef struct {
    unsigned instance; /* i= */
    /* ARC-Authentication-Results: the value after "i=N;", unfolded and
     * trimmed (authserv-id and results as the hop wrote them). */
    const char *aar;
    /* ARC-Message-Signature */
    const char *ams_domain;    /* d= */
    const char *ams_selector;  /* s= */
    sg_dkim_result ams_result; /* SG_DKIM_NONE: not evaluated (not needed) */
    const char *ams_reason;    /* never NULL */
    /* ARC-Seal */
    const char *as_domain;
    const char *as_selector;
    sg_arc_cv as_cv; /* cv= as written (SG_ARC_NONE also if unparsable) */
    sg_dkim_result as_result;
    const char *as_reason;
    /* the AMS's h= names From (RFC 8617 allows an AMS without it, so the
     * hop that made it did not vouch for the From it passed on) */
    int ams_covers_from;
} sg_arc_set_result;

typedef struct {
    sg_arc_cv cv;
    const char *reason; /* short English text; never NULL */
    unsigned instance;  /* highest i= seen (0: no chain) */
    /* RFC 8617 5.2 step 4: 0 if every AMS validated, else the instance
     * after the newest AMS that did not (older hops' results are not
     * backed by a valid AMS); only meaningful when cv is pass. */
    unsigned oldest_pass;
    const sg_arc_set_result *sets; /* sets[k] is instance k + 1 */
    size_t count;                  /* number of sets (== instance when structured) */
    /* cv is fail because a signature's key lookup got no answer (a
     * timeout, SERVFAIL): the chain may pass on a later try. A sealer
     * should not seal such a chain cv=fail, which ends it for every later
     * hop (RFC 8617 5.1.2), and a local policy that would have trusted it
     * should answer temporarily. */
    int temporary;
} sg_arc_result;

typedef struct sg_arc_verifier sg_arc_verifier;

/* The verifier borrows resolver and cache (cache may be NULL); both must
 * outlive it. opts NULL: defaults. One message at a time;
 * sg_arc_verifier_reset() readies it for the next. */
SG_EXTERN int sg_arc_verifier_new(sg_arc_verifier **out, sg_resolver *resolver,
                                  sg_dkim_keycache *cache, const sg_arc_verify_opts *opts);
SG_EXTERN void sg_arc_verifier_free(sg_arc_verifier *v);
/* Cancels outstanding key queries and forgets the message. */
SG_EXTERN void sg_arc_verifier_reset(sg_arc_verifier *v);

/* The complete header, once. Collects and parses the ARC sets, hashes the
 * signed header fields at once (the array need not outlive the call) and
 * starts the key queries. */
SG_EXTERN int sg_arc_verify_headers(sg_arc_verifier *v, const sg_header *fields, size_t count);
/* Body bytes (CRLF, as msg.h delivers them), any chunking. */
SG_EXTERN int sg_arc_verify_body(sg_arc_verifier *v, const char *data, size_t len);
/* End of body. Returns the number of key queries still outstanding
 * (>= 0); the result is ready when sg_arc_verify_pending() is 0. */
SG_EXTERN int sg_arc_verify_finish(sg_arc_verifier *v);
SG_EXTERN size_t sg_arc_verify_pending(const sg_arc_verifier *v);
/* cb runs (from the resolver's callback) when the last key of a finished
 * message has arrived; not from sg_arc_verify_finish itself (check its
 * return). The verifier must not be freed inside cb. */
SG_EXTERN void sg_arc_verifier_set_done_cb(sg_arc_verifier *v, void (*cb)(void *payload),
                                           void *payload);
/* Convenience: finish, then run the resolver until every key arrived. */
SG_EXTERN int sg_arc_verify_wait(sg_arc_verifier *v);

/* The chain result; valid until reset/free. SG_ESTATE before finish or
 * while keys are pending. */
SG_EXTERN int sg_arc_verify_result(sg_arc_verifier *v, const sg_arc_result **out);

/* ---- sealing (RFC 8617 5.1) ----------------------------------------------
 *
 * A sealer adds the set i = (highest instance present) + 1: the
 * ARC-Authentication-Results (the caller's results, under its authserv-id),
 * an ARC-Message-Signature (relaxed/relaxed, like a DKIM signature without
 * v=) and an ARC-Seal over the chain. The chain's validation status comes
 * from the caller (sg_arc_verify_result of the same message): with
 * cv=pass the seal covers every set, with cv=fail only the new one
 * (5.1.2), with cv=none there must be no ARC field at all.
 *
 * No set is added (sg_arc_seal_instance() is 0, finish gives "") when the
 * newest ARC-Seal already says cv=fail (the chain has ended, 5.1 and
 * ValiMail's no_additional_sig) or when the new instance would exceed 50
 * (4.2.1). Both are data, not errors: a sender chooses them.
 *
 * The private-key step is "sign this SHA-256 digest": either in-process
 * (opts.key, sg_arc_seal_finish) or, for a signer process holding the
 * key, in two rounds: sg_arc_seal_digest gives the AMS digest, the caller
 * returns its signature with sg_arc_seal_complete, then the AS digest
 * (which covers the AMS with its b=) and its signature the same way.
 * The signature is RSA PKCS#1 v1.5 over SHA-256's DigestInfo of the
 * digest (sg_dkim_crypto_sign): RFC 8617 defines rsa-sha256 only, so an
 * Ed25519 key is refused (SG_EINVAL). */

#define SG_ARC_SEAL_OPTS_VERSION 1
typedef struct {
    unsigned version;           /* SG_ARC_SEAL_OPTS_VERSION */
    const char *domain;         /* d= (required) */
    const char *selector;       /* s= (required) */
    const sg_dkim_signkey *key; /* borrowed, RSA; NULL: digest/complete only */
    sg_dkim_alg alg;            /* without key: must be SG_DKIM_RSA_SHA256 */
    const char *authserv_id;    /* required (RFC 8601 2.5) */
    /* The results after the authserv-id, as in an Authentication-Results
     * value: "spf=pass smtp.mailfrom=a.example; dkim=pass ...". Unfolded
     * (no CR or LF); may be NULL. An arc= result with cv is put first
     * unless the results have one. */
    const char *results;
    sg_arc_cv cv; /* the chain as received, from the verifier */
    /* Fields the AMS signs, each instance present (at most 256 in all, as
     * for DKIM signatures: see sg_dkim_sign_opts.headers); NULL: From,
     * Sender, Reply-To, To, Cc, Subject, Date, Message-ID, In-Reply-To,
     * References, MIME-Version, Content-Type, Content-Transfer-Encoding,
     * each also once more than present (oversigned, as the DKIM signer's
     * defaults; not a Date or Message-ID the message lacks), and
     * DKIM-Signature. Authentication-Results and ARC fields are refused
     * (RFC 8617 4.1.2: a later hop changes them). */
    const char *const *headers;
    size_t nheaders;
    int64_t timestamp; /* t= of both signatures: 0 -> now */
} sg_arc_seal_opts;

SG_EXTERN void sg_arc_seal_opts_init(sg_arc_seal_opts *opts);

typedef struct sg_arc_sealer sg_arc_sealer;

/* Options and strings are copied; the key is borrowed. SG_EINVAL for a
 * missing or malformed option. */
SG_EXTERN int sg_arc_sealer_new(sg_arc_sealer **out, const sg_arc_seal_opts *opts);
SG_EXTERN void sg_arc_sealer_free(sg_arc_sealer *s);
/* Forget the message (cv and results stay as set). */
SG_EXTERN void sg_arc_sealer_reset(sg_arc_sealer *s);
/* The chain status, any time before the first sg_arc_seal_digest (or
 * finish): the verifier may read the same single pass over the message
 * and give its result at the end. It stays for the next messages. */
SG_EXTERN void sg_arc_sealer_set_cv(sg_arc_sealer *s, sg_arc_cv cv);
/* The results (copied; same rules as opts.results), any time before the
 * first digest. */
SG_EXTERN int sg_arc_sealer_set_results(sg_arc_sealer *s, const char *results);

/* The complete header, once (the array need not outlive the call).
 * SG_ENOTFOUND: no From field. */
SG_EXTERN int sg_arc_seal_headers(sg_arc_sealer *s, const sg_header *fields, size_t count);
SG_EXTERN int sg_arc_seal_body(sg_arc_sealer *s, const char *data, size_t len);
/* The instance being added (0: none will be; see reason). */
SG_EXTERN unsigned sg_arc_seal_instance(const sg_arc_sealer *s);
/* Why no set is added (NULL when one is). */
SG_EXTERN const char *sg_arc_seal_skip_reason(const sg_arc_sealer *s);

/* Split signing: after the body, the digest to sign next (first the
 * AMS's, then the AS's); SG_ESTATE when none is due (no set, or done);
 * SG_EINVAL when cv does not match the header (none with ARC fields,
 * pass without a complete chain). */
SG_EXTERN int sg_arc_seal_digest(sg_arc_sealer *s, uint8_t digest[32]);
/* The signature of the digest just returned. */
SG_EXTERN int sg_arc_seal_complete(sg_arc_sealer *s, const uint8_t *sig, size_t siglen);
/* The three fields, top first (ARC-Seal, ARC-Message-Signature,
 * ARC-Authentication-Results), CRLF-terminated, to put on top of the
 * message; "" (len 0) when no set is added. With opts.key, signs what is
 * still unsigned; without, SG_ESTATE until both signatures are in. Valid
 * until reset/free. */
SG_EXTERN int sg_arc_seal_finish(sg_arc_sealer *s, const char **out, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
