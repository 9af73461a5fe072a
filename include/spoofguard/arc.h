/*
 * spoofguard/arc.h - ARC chain validation (RFC 8617 5.2).
 *
 * Same shape as the DKIM verifier (dkim.h): header fields first, then
 * body chunks of any size, then finish; keys arrive through the resolver
 * asynchronously. Only validation is provided (no sealing).
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
    uint32_t clock_skew;   /* a t= later than now + this fails; default 300 */
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

#ifdef __cplusplus
}
#endif
#endif
