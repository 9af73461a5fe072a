/*
 * spoofguard/spf.h - Sender Policy Framework (RFC 7208).
 *
 * Two layers:
 *  - the record parser: SPF record text -> an immutable sg_spf_record
 *    (terms with qualifiers, unexpanded domain-specs, CIDR lengths,
 *    redirect/exp). Syntax errors are reported with a reason; the
 *    evaluator turns them into "permerror" (RFC 7208 4.6).
 *  - the evaluator: check_host() (RFC 7208 4) run asynchronously on an
 *    sg_resolver. A check suspends on every DNS query and resumes in the
 *    resolver's callback; no thread, no blocking. sg_spf_check_sync()
 *    drives the resolver itself (CLI, tests).
 *
 * The outcome (pass, fail, ..., permerror) is data in sg_spf_result, never
 * an error return.
 */
#ifndef SPOOFGUARD_SPF_H
#define SPOOFGUARD_SPF_H

#include "arena.h"
#include "common.h"
#include "dns.h"

#ifdef __cplusplus
extern "C" {
#endif

/* RFC 7208 2.6. The numeric order is not meaningful. */
typedef enum {
    SG_SPF_NONE = 0,
    SG_SPF_NEUTRAL,
    SG_SPF_PASS,
    SG_SPF_FAIL,
    SG_SPF_SOFTFAIL,
    SG_SPF_TEMPERROR,
    SG_SPF_PERMERROR,
} sg_spf_result_code;

/* "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror". */
SG_EXTERN const char *sg_spf_result_str(sg_spf_result_code r);
/* Inverse of sg_spf_result_str (case-insensitive); -1 when unknown. */
SG_EXTERN int sg_spf_result_from_str(const char *s);

/* The identity being authorised (RFC 7208 2.3, 2.4). */
typedef enum {
    SG_SPF_ID_MAILFROM = 0,
    SG_SPF_ID_HELO,
} sg_spf_identity;

SG_EXTERN const char *sg_spf_identity_str(sg_spf_identity id); /* "mailfrom", "helo" */

/* ---- parsed records -------------------------------------------------- */

typedef enum {
    SG_SPF_MECH_ALL = 0,
    SG_SPF_MECH_INCLUDE,
    SG_SPF_MECH_A,
    SG_SPF_MECH_MX,
    SG_SPF_MECH_PTR,
    SG_SPF_MECH_IP4,
    SG_SPF_MECH_IP6,
    SG_SPF_MECH_EXISTS,
} sg_spf_mech_type;

SG_EXTERN const char *sg_spf_mech_str(sg_spf_mech_type t); /* "all", "include"... */

typedef struct {
    sg_spf_mech_type type;
    /* The result when the mechanism matches: PASS ('+', default), FAIL
     * ('-'), SOFTFAIL ('~') or NEUTRAL ('?') (RFC 7208 4.6.2). */
    sg_spf_result_code qualifier;
    /* The domain-spec exactly as written (macros NOT expanded), or NULL
     * when the mechanism has none (a, mx, ptr default to <domain>). */
    const char *domain_spec;
    /* CIDR prefix lengths; -1 when absent. ip4/a/mx use cidr4, ip6/a/mx
     * use cidr6 (RFC 7208 5.6). */
    int cidr4;
    int cidr6;
    /* ip4: addr[0..3]; ip6: addr[0..15]. */
    uint8_t addr[16];
    /* The whole term as written (for Received-SPF "mechanism="). */
    const char *text;
} sg_spf_mech;

/* An immutable parsed record. It may be shared by several checks and
 * kept in a cache: it is reference-counted (not thread-safe). */
typedef struct sg_spf_record {
    const sg_spf_mech *mechs;
    size_t nmechs;
    const char *redirect; /* domain-spec of redirect=, or NULL */
    const char *exp;      /* domain-spec of exp=, or NULL */
    size_t nunknown;      /* unknown modifiers (RFC 7208 6: ignored) */
    int has_all;          /* an "all" mechanism is present (RFC 7208 6.1) */
} sg_spf_record;

/* Why a record failed to parse. */
typedef struct {
    size_t pos;         /* byte offset of the offending term */
    const char *reason; /* static English text */
} sg_spf_parse_error;

/* Returns 1 if the TXT text is an SPF version 1 record: "v=spf1"
 * (case-insensitive) followed by a space or the end (RFC 7208 4.5). */
SG_EXTERN int sg_spf_is_record(const char *text, size_t len);

/* Parse a complete record ("v=spf1 ..."). text may contain NUL bytes
 * (they are a syntax error). Returns 0 and *out (free with
 * sg_spf_record_free), SG_ESYNTAX with *err filled (if err != NULL), or
 * SG_ENOMEM. Terms are limited to SG_SPF_MAX_TERMS. */
SG_EXTERN int sg_spf_record_parse(sg_spf_record **out, const char *text, size_t len,
                                  sg_spf_parse_error *err);
/* Another reference to a parsed record. */
SG_EXTERN sg_spf_record *sg_spf_record_ref(sg_spf_record *rec);
/* Drop a reference; the last one frees. NULL is a no-op. */
SG_EXTERN void sg_spf_record_free(sg_spf_record *rec);

/* A parser bound: records are at most a few hundred octets in practice;
 * a record with more terms than this is rejected as permerror rather than
 * walked (RFC 7208 4.6.4 caps DNS terms at 10; non-DNS terms such as
 * ip4/ip6 are unbounded by the RFC, so the cap is ours). */
#define SG_SPF_MAX_TERMS 1024

/* ---- record cache ---------------------------------------------------- */

/* Caches the outcome of the record lookup for a domain (the parsed record,
 * "no record", "several records" or a syntax error) for the DNS TTL. One
 * cache may serve many checks; not thread-safe. */
typedef struct sg_spf_cache sg_spf_cache;

/* max_entries: 0 -> 4096. */
SG_EXTERN int sg_spf_cache_new(sg_spf_cache **out, size_t max_entries);
SG_EXTERN void sg_spf_cache_free(sg_spf_cache *cache);
/* Number of live entries; hits and misses since creation. */
SG_EXTERN size_t sg_spf_cache_size(const sg_spf_cache *cache);
SG_EXTERN void sg_spf_cache_stats(const sg_spf_cache *cache, uint64_t *hits, uint64_t *misses);

/* ---- checks ---------------------------------------------------------- */

/* Processing limits, RFC 7208 4.6.4. A zero field takes the default. */
typedef struct {
    /* "include", "a", "mx", "ptr", "exists" and "redirect" terms that
     * query DNS, over the whole evaluation: MUST be 10 (4.6.4). */
    unsigned max_dns_terms;
    /* Terms whose query returned NXDOMAIN or an empty answer: SHOULD be
     * limited to two (4.6.4); over the limit -> permerror. */
    unsigned max_void_lookups;
    /* MX records looked up per "mx" term: more than 10 -> permerror
     * (4.6.4). */
    unsigned max_mx_names;
    /* PTR names validated per "ptr"/%{p}: only the first 10 are used,
     * the rest ignored (4.6.4). */
    unsigned max_ptr_names;
} sg_spf_limits;

#define SG_SPF_DEFAULT_DNS_TERMS 10
#define SG_SPF_DEFAULT_VOID_LOOKUPS 2
#define SG_SPF_DEFAULT_MX_NAMES 10
#define SG_SPF_DEFAULT_PTR_NAMES 10
/* RFC 7208 4.6.4: "MAY abort after at least 20 seconds". */
#define SG_SPF_DEFAULT_BUDGET_MS 20000
/* Default explanation for "fail" (RFC 7208 6.2 leaves it to the
 * implementation); a macro-string, expanded like an exp= text. */
#define SG_SPF_DEFAULT_EXPLANATION "%{s} is not authorized by %{o} to send from %{i}"

#define SG_SPF_REQUEST_VERSION 1
typedef struct {
    unsigned version; /* SG_SPF_REQUEST_VERSION */
    /* Client IP: either ip (text, v4 or v6) or, when ip is NULL, family
     * (4 or 6) and addr (4 or 16 bytes). IPv4-mapped IPv6 addresses are
     * treated as IPv4 (RFC 7208 5: "<ip>" of the SMTP client). */
    const char *ip;
    int family;
    uint8_t addr[16];
    /* SMTP HELO/EHLO argument (may be NULL for the MAIL FROM check). */
    const char *helo;
    /* MAIL FROM reverse-path: "user@dom", "<user@dom>", "dom" (local
     * part postmaster, RFC 7208 4.3), or ""/"<>"/NULL (null sender). */
    const char *mail_from;
    /* Which identity to check. SG_SPF_ID_MAILFROM with an empty
     * mail_from checks the HELO identity instead (RFC 7208 2.4: the
     * sender becomes postmaster@HELO); sg_spf_result.identity says which
     * one ran. */
    sg_spf_identity identity;
    const char *receiver; /* %{r}: the receiving host; NULL: "unknown" */
    int64_t now;          /* %{t}: seconds since the epoch; 0: time(NULL) */
    unsigned budget_ms;   /* whole-check time budget; 0: SG_SPF_DEFAULT_BUDGET_MS */
    sg_spf_limits limits;
    /* Explanation used for "fail" without (usable) exp=; a macro-string;
     * NULL: SG_SPF_DEFAULT_EXPLANATION. */
    const char *default_explanation;
    sg_spf_cache *cache; /* optional record cache */
} sg_spf_request;

SG_EXTERN void sg_spf_request_init(sg_spf_request *req);

typedef struct {
    sg_spf_result_code result;
    sg_spf_identity identity;
    const char *domain;      /* the <domain> checked (top level), lower-case as given */
    const char *sender;      /* the <sender> used for macros, e.g. postmaster@helo */
    const char *explanation; /* for fail: the exp= text or the default; else NULL */
    const char *mechanism;   /* the matching term (e.g. "-all", "include:x"), or
                                "default" when none matched; NULL for errors/none */
    const char *reason;      /* why: error text for temperror/permerror/none */
    unsigned dns_lookups;    /* DNS-querying terms evaluated (4.6.4) */
    unsigned void_lookups;   /* void lookups (4.6.4) */
    int exp_from_record;     /* explanation came from exp= (not the default) */
} sg_spf_result;

typedef struct sg_spf_check sg_spf_check;

/* Called once when the check completes. The result and its strings stay
 * valid until sg_spf_check_free(). Do not free the check inside the
 * callback. */
typedef void (*sg_spf_done_cb)(const sg_spf_result *result, void *payload);

/* Start a check. The request is copied. Normally the callback runs from
 * sg_resolver_run() (or the event loop driving the resolver); when the
 * outcome needs no DNS at all (malformed domain -> none) it runs before
 * sg_spf_check_start() returns. Returns 0, SG_EINVAL (bad request: no or
 * unparsable IP, no identity) or SG_ENOMEM. */
SG_EXTERN int sg_spf_check_start(sg_spf_check **out, sg_resolver *resolver,
                                 const sg_spf_request *req, sg_spf_done_cb cb, void *payload);

/* The result once done, else NULL. */
SG_EXTERN const sg_spf_result *sg_spf_check_result(const sg_spf_check *check);

/* Enforce the time budget: if it is exhausted, cancel pending queries
 * and complete the check with temperror (the callback runs). The event
 * loop calls this periodically; returns 1 if the check is done. */
SG_EXTERN int sg_spf_check_poll(sg_spf_check *check);

/* Cancel pending queries and free. The callback is not called. */
SG_EXTERN void sg_spf_check_free(sg_spf_check *check);

/* Synchronous wrapper: runs the check to completion on the resolver
 * (sg_resolver_run) and copies the result, strings included, into the
 * arena. Returns 0 (outcome in *out), SG_EINVAL or SG_ENOMEM. */
SG_EXTERN int sg_spf_check_sync(sg_spf_result *out, sg_arena *arena, sg_resolver *resolver,
                                const sg_spf_request *req);

/* ---- Received-SPF (RFC 7208 9.1) ------------------------------------- */

typedef struct {
    const sg_spf_result *result;
    const char *client_ip;     /* text form; required */
    const char *envelope_from; /* MAIL FROM as received (may be "") */
    const char *helo;
    const char *receiver; /* the receiving host (authserv-id), or NULL */
} sg_spf_received_info;

/* Write the field *value* of a Received-SPF header (without the
 * "Received-SPF:" name), e.g.
 *   pass (mx.example.org: domain of a@b.example designates 192.0.2.1 as
 *   permitted sender) client-ip=192.0.2.1; envelope-from="a@b.example";
 *   helo=mail.b.example; receiver=mx.example.org; identity=mailfrom;
 *   mechanism="ip4:192.0.2.0/24"
 * Values that are not dot-atoms are written as quoted-strings; bytes that
 * cannot appear in a header (CR, LF, NUL, non-ASCII) are replaced by '?'.
 * Allocated from the arena; returns 0 or SG_EINVAL / SG_ENOMEM. */
SG_EXTERN int sg_spf_received_spf(char **out, sg_arena *arena, const sg_spf_received_info *info);

#ifdef __cplusplus
}
#endif
#endif
