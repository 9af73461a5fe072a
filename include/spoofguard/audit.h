/*
 * spoofguard/audit.h - what a domain publishes, checked: SPF, DKIM, DMARC,
 * MX, MTA-STS and TLS-RPT, each problem a finding with its severity, the
 * RFC section behind it and the record that fixes it.
 *
 * The engine does no I/O of its own: DNS goes through the resolver (zone
 * file or network), and what it needs from local files (the private
 * keys' public halves and ages) comes in the options. Finding codes are a
 * contract (docs/audit.md): new ones may be added, none renamed.
 */
#ifndef SPOOFGUARD_AUDIT_H
#define SPOOFGUARD_AUDIT_H

#include "arena.h"
#include "common.h"
#include "dns.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    SG_AUDIT_INFO = 0,
    SG_AUDIT_WARNING,
    SG_AUDIT_ERROR,
} sg_audit_severity;

/* "info", "warning", "error" */
SG_EXTERN const char *sg_audit_severity_str(sg_audit_severity s);

typedef struct {
    const char *code; /* "spf.too_many_lookups" */
    sg_audit_severity severity;
    const char *rfc;    /* "RFC 7208 4.6.4" */
    const char *detail; /* what was found, in English */
    const char *fix;    /* the record to publish (or the action), never NULL */
} sg_audit_finding;

/* A DKIM selector to check. local_record: the key record made from the
 * local private key ("v=DKIM1; k=rsa; p=..."), NULL when there is none;
 * local_error: why the local key could not be read (NULL: no problem);
 * key_mtime: when the local key was made (seconds since the epoch, 0:
 * unknown), for dkim.key_old. */
typedef struct {
    const char *selector;
    const char *local_record;
    const char *local_error;
    const char *key_path; /* for messages; may be NULL */
    int64_t key_mtime;
} sg_audit_selector;

/* Fetches the MTA-STS policy file of host ("mta-sts." and the domain) as
 * RFC 8461 3.3 says (HTTPS, a valid certificate for host, status 200, no
 * redirect, text/plain) into buf: 0 and *len, or -1 with why in err. The
 * engine does no I/O of its own: the caller (the CLI) fetches. */
typedef int (*sg_audit_fetch_fn)(void *ctx, const char *host, char *buf, size_t cap, size_t *len,
                                 char *err, size_t errlen);
/* RFC 8461 3.3: a policy is at most 64 KiB. */
#define SG_AUDIT_MTASTS_POLICY_MAX 65536

#define SG_AUDIT_OPTS_VERSION 3
/* Rotation period (M3AAWG DKIM Key Rotation BCP: at least every 6 months). */
#define SG_AUDIT_DEFAULT_KEY_MAX_AGE_DAYS 180
/* The whole SPF tree is counted past RFC 7208's limits, up to this many
 * DNS-querying terms (a hostile tree is bounded all the same). */
#define SG_AUDIT_SPF_MAX_WALK 1000
/* Nesting depth walked (RFC 7208 sets none; 10 lookups imply <= 10). */
#define SG_AUDIT_SPF_MAX_DEPTH 32
/* The whole SPF walk of one domain: 15 times the default per-try DNS
 * timeout (SG_DNS_DEFAULT_TIMEOUT_MS); past it the walk stops
 * (spf.incomplete). */
#define SG_AUDIT_SPF_TIME_LIMIT_MS 30000

typedef struct {
    unsigned version; /* SG_AUDIT_OPTS_VERSION */
    const sg_audit_selector *selectors;
    size_t nselectors;
    unsigned key_max_age_days; /* 0: SG_AUDIT_DEFAULT_KEY_MAX_AGE_DAYS */
    int64_t now;               /* clock for key ages (seconds since the epoch) */
    /* version 2: the MTA-STS policy fetcher; NULL: the policy is not
     * fetched (finding mtasts.policy_not_fetched) */
    sg_audit_fetch_fn mtasts_fetch;
    void *mtasts_ctx;
    /* version 3: the SPF walk's time limit in ms; 0: SG_AUDIT_SPF_TIME_LIMIT_MS */
    unsigned spf_time_limit_ms;
} sg_audit_opts;

SG_EXTERN void sg_audit_opts_init(sg_audit_opts *opts);

typedef struct {
    const char *domain; /* normalised (lower case, no trailing dot) */
    sg_audit_finding *findings;
    size_t nfindings;
    /* SPF counts over the whole include/redirect tree (RFC 7208 4.6.4):
     * DNS-querying terms and void lookups. */
    unsigned spf_lookups, spf_void_lookups;
    size_t nerrors, nwarnings;
} sg_audit_report;

/* Audit one domain. Everything in *out lives in arena. Returns 0 (the
 * findings say what is wrong, DNS failures included), SG_EINVAL for a
 * name that is no domain, or SG_ENOMEM. Synchronous: runs the resolver. */
SG_EXTERN int sg_audit_domain(sg_audit_report *out, sg_arena *arena, sg_resolver *resolver,
                              const sg_audit_opts *opts, const char *domain);

/* Record checks shared with the fuzz harness: 0 when well-formed, else
 * SG_ESYNTAX with *reason (static text). RFC 8461 3.1 and RFC 8460 3. */
SG_EXTERN int sg_audit_mtasts_check(const char *txt, size_t len, const char **reason);
SG_EXTERN int sg_audit_tlsrpt_check(const char *txt, size_t len, const char **reason);
/* A DKIM key record receivers can use for our signatures (rsa-sha256,
 * ed25519-sha256): it parses as verifiers parse it (RFC 6376 3.6.1: v=
 * first, s= email, one of each tag, the key decodes), its h= lists
 * sha256, it has no t=y, an RSA key has 1024 bits or more. 0, SG_ESYNTAX
 * with *reason (static text), or SG_ENOMEM. `keys activate` asks it of
 * what every name server serves. */
SG_EXTERN int sg_audit_dkim_key_check(const char *txt, size_t len, const char **reason);

/* An MTA-STS policy file (RFC 8461 3.2), parsed: pointers into the text. */
typedef enum {
    SG_AUDIT_MTASTS_NONE = 0,
    SG_AUDIT_MTASTS_TESTING,
    SG_AUDIT_MTASTS_ENFORCE,
} sg_audit_mtasts_mode;
#define SG_AUDIT_MTASTS_MAX_MX 64
typedef struct {
    sg_audit_mtasts_mode mode;
    uint32_t max_age; /* seconds, at most 31557600 */
    size_t nmx;
    struct {
        const char *name; /* "mail.example.com" or "*.example.net", not NUL-terminated */
        size_t len;
    } mx[SG_AUDIT_MTASTS_MAX_MX];
} sg_audit_mtasts_policy;

/* Parses a policy: "key: value" lines ending in CRLF or LF; version STSv1,
 * mode, max_age required, at least one mx unless mode is none; other keys
 * are ignored; of a repeated key other than mx the first counts. 0 or
 * SG_ESYNTAX with *reason (static text). */
SG_EXTERN int sg_audit_mtasts_policy_parse(const char *text, size_t len,
                                           sg_audit_mtasts_policy *out, const char **reason);
/* Whether an MX host name matches one of the policy's mx patterns (RFC
 * 8461 4.1: a "*." pattern stands for exactly one leftmost label; case
 * ignored, a trailing dot too): 1 or 0. */
SG_EXTERN int sg_audit_mtasts_mx_match(const sg_audit_mtasts_policy *p, const char *host);

#ifdef __cplusplus
}
#endif
#endif
