/*
 * spoofguard/dmarc.h - DMARC (RFC 9989) author domain, policy records,
 * policy discovery by DNS Tree Walk, identifier alignment and policy.
 *
 * RFC 9989 (DMARCbis) obsoletes RFC 7489 and RFC 9091. The differences
 * that matter here: the Organizational Domain comes from a DNS Tree Walk
 * (RFC 9989 4.10) instead of a public suffix list; "pct", "rf" and "ri"
 * are gone; "np", "psd" and "t" are new. For operators who want RFC 7489
 * behaviour, a public suffix list (libpsl) can replace the Tree Walk
 * (sg_dmarc_opts.discovery).
 *
 * The engine does not run SPF or DKIM: it takes their outcomes as plain
 * data (sg_dmarc_auth). It only talks to DNS through sg_resolver, and is
 * asynchronous: sg_dmarc_check_start() issues queries, the resolver's
 * callbacks advance a state machine, and a completion callback delivers
 * the result. sg_dmarc_check_sync() wraps that for tests and the CLI.
 *
 * Everything is allocated from a caller-supplied arena.
 */
#ifndef SPOOFGUARD_DMARC_H
#define SPOOFGUARD_DMARC_H

#include "arena.h"
#include "common.h"
#include "dns.h"
#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- limits ------------------------------------------------------------ */

/* A DMARC record is one TXT RR: at most 65535 octets of RDATA on the wire;
 * real records are < 1 KiB. 4 KiB bounds parser work and memory. */
#define SG_DMARC_MAX_RECORD 4096
/* rua/ruf URIs kept per list; RFC 9989 sets no number, real lists have
 * 1-3 entries; more are ignored (SG_DMARC_W_TOO_MANY_URIS). */
#define SG_DMARC_MAX_URIS 16
/* DNS Tree Walk: RFC 9989 4.10 - never more than eight queries per walk. */
#define SG_DMARC_MAX_WALK 8
/* Passing identifiers (SPF + DKIM d=) that get their own Tree Walk for
 * relaxed alignment (RFC 9989 4.10.2). Identifiers equal to the author
 * domain or outside its Organizational Domain need no walk. Messages
 * rarely carry more than 2-3 signatures; the DKIM engine caps them too. */
#define SG_DMARC_MAX_ID_WALKS 8
/* DKIM results accepted in sg_dmarc_auth. */
#define SG_DMARC_MAX_DKIM 32

/* --- records (RFC 9989 4.7, 4.8) --------------------------------------- */

typedef enum {
    SG_DMARC_POLICY_NONE = 0,
    SG_DMARC_POLICY_QUARANTINE,
    SG_DMARC_POLICY_REJECT,
} sg_dmarc_policy;

typedef enum { SG_DMARC_ALIGN_RELAXED = 0, SG_DMARC_ALIGN_STRICT } sg_dmarc_align;

typedef enum { SG_DMARC_PSD_U = 0, SG_DMARC_PSD_Y, SG_DMARC_PSD_N } sg_dmarc_psd;

/* State of a policy tag as read from the record. */
typedef enum {
    SG_DMARC_TAG_ABSENT = 0,
    SG_DMARC_TAG_VALID,
    SG_DMARC_TAG_INVALID,
} sg_dmarc_tag_state;

/* fo= bits (RFC 9989 4.7). */
#define SG_DMARC_FO_0 0x1u
#define SG_DMARC_FO_1 0x2u
#define SG_DMARC_FO_D 0x4u
#define SG_DMARC_FO_S 0x8u

/* Warning bits: things found in a record that were ignored or defaulted
 * (RFC 9989 4.8: syntax errors are discarded in favour of defaults). */
#define SG_DMARC_W_UNKNOWN_TAG 0x0001u     /* unregistered tag, ignored */
#define SG_DMARC_W_BAD_TAGSPEC 0x0002u     /* a tag-spec that does not parse */
#define SG_DMARC_W_DUP_TAG 0x0004u         /* repeated tag; the first wins */
#define SG_DMARC_W_BAD_VALUE 0x0008u       /* known tag, bad value: default used */
#define SG_DMARC_W_OBSOLETE_PCT 0x0010u    /* pct= (RFC 7489 only; see pct below) */
#define SG_DMARC_W_OBSOLETE_RF 0x0020u     /* rf= (RFC 7489 only), ignored */
#define SG_DMARC_W_OBSOLETE_RI 0x0040u     /* ri= (RFC 7489 only), ignored */
#define SG_DMARC_W_BAD_URI 0x0080u         /* a rua/ruf entry that is not a URI */
#define SG_DMARC_W_TOO_MANY_URIS 0x0100u   /* more than SG_DMARC_MAX_URIS */
#define SG_DMARC_W_POLICY_FALLBACK 0x0200u /* p/sp/np invalid or p missing: p=none */
#define SG_DMARC_W_NOT_APPLICABLE 0x0400u  /* ... and no valid rua: no DMARC */

typedef struct {
    const char *uri;    /* as written, trimmed, without the "!size" suffix */
    const char *mailto; /* mailto: URIs: the address, %-decoded and trimmed */
    uint64_t max_size;  /* obsolete "!size" (RFC 9989 4.8 obs-dmarc-report-size), 0: none */
    int valid;          /* syntactically a URI (RFC 3986 scheme ":" ...) */
} sg_dmarc_uri;

typedef struct {
    /* Effective policies after defaults and RFC 9989 4.10.1 fallback:
     * sp defaults to p, np to sp (RFC 9989 4.7). */
    sg_dmarc_policy p, sp, np;
    sg_dmarc_tag_state p_state, sp_state, np_state;
    sg_dmarc_align adkim, aspf;
    unsigned fo;      /* SG_DMARC_FO_* ; default SG_DMARC_FO_0 */
    int testing;      /* t=y, or (RFC 9989 A.6) pct=0 without t= */
    int t_present;    /* a valid t= tag was present */
    sg_dmarc_psd psd; /* default u */
    sg_dmarc_uri *rua, *ruf;
    size_t nrua, nruf;
    /* pct (RFC 7489 6.3; not part of RFC 9989): reported, never sampled.
     * RFC 9989 A.6 introduces t=y as the analogue of pct=0 and t=n of
     * pct=100, so pct=0 (without an explicit t=) sets testing and any
     * other value is ignored. pct is -1 when absent or invalid. */
    int pct;
    /* 0 if RFC 9989 4.10.1 says "apply no DMARC processing" (p, sp or np
     * invalid / p missing, and no syntactically valid rua URI). */
    int applicable;
    /* The record is valid under RFC 7489 6.3/6.4 as well (stricter: bad
     * values of pct/rf/ri/sp/adkim/aspf/fo, a missing p, or a bad p
     * invalidate it there). Informational; used by the conformance tests. */
    int rfc7489_valid;
    unsigned warnings; /* SG_DMARC_W_* */
} sg_dmarc_record;

/* Parse one TXT record's text. Returns 0 if it is a DMARC record (its first
 * tag is v=DMARC1, RFC 9989 4.7 "v"), whatever else is wrong with it (see
 * warnings/applicable); SG_ESYNTAX if it is not one (RFC 9989 4.10 step 2:
 * such records are discarded); SG_ELIMIT beyond SG_DMARC_MAX_RECORD;
 * SG_EINVAL or SG_ENOMEM. Strings are allocated from the arena. */
SG_EXTERN int sg_dmarc_record_parse(sg_arena *arena, const char *txt, size_t len,
                                    sg_dmarc_record *out);

SG_EXTERN const char *sg_dmarc_policy_str(sg_dmarc_policy p);
/* Canonical fo= string ("0", "1", "d:s", "0:d"...): order 0,1,d,s. */
SG_EXTERN const char *sg_dmarc_fo_str(unsigned fo, char buf[16]);

/* --- author domain (RFC 9989 5.3.1) ------------------------------------ */

typedef enum {
    SG_DMARC_AUTHOR_OK = 0,
    SG_DMARC_AUTHOR_NO_FROM,          /* no From field (RFC 9989 4.4, 5.3.1) */
    SG_DMARC_AUTHOR_MULTIPLE_FROM,    /* several From fields (RFC 9989 4.4) */
    SG_DMARC_AUTHOR_SYNTAX,           /* From does not parse (RFC 9989 4.4) */
    SG_DMARC_AUTHOR_NO_MAILBOX,       /* empty From / empty group (5.3.1: zero domains) */
    SG_DMARC_AUTHOR_MULTIPLE_DOMAINS, /* mailboxes with different domains (5.3.1) */
    SG_DMARC_AUTHOR_GROUP,            /* RFC 6854 group syntax (11.5, see dmarc_author.c) */
    SG_DMARC_AUTHOR_LITERAL,          /* domain literal "[...]": no DNS name (5.3.1) */
    SG_DMARC_AUTHOR_BAD_DOMAIN,       /* not a usable DNS name / IDN conversion fails */
} sg_dmarc_author_status;

typedef struct {
    sg_dmarc_author_status status;
    /* A-label form, lower case (RFC 9989 5.3.1, RFC 5890 2.3); NULL unless OK. */
    const char *domain;
    const char *domain_raw; /* as written in the (first) mailbox, or NULL */
    size_t nmailboxes;      /* mailboxes in the field (0 if it did not parse) */
    /* 1: the strict parser found no usable domain (strict_status says
     * why), and status/domain are the reader's view of the field: the one
     * domain (OK) or several (MULTIPLE_DOMAINS) a lenient mail reader
     * shows. Never set when the strict reading gave a domain. */
    int lenient;
    sg_dmarc_author_status strict_status;
} sg_dmarc_author;

/* The Author Domain from a message's header fields. A problem with the
 * From field is an outcome (status), never an error: the return value is
 * 0, SG_EINVAL or SG_ENOMEM. Several mailboxes that all share one domain
 * are accepted (5.3.1 speaks of domains, not mailboxes). */
SG_EXTERN int sg_dmarc_author_domain(sg_arena *arena, const sg_header *fields, size_t count,
                                     sg_dmarc_author *out);
/* Same, from one From field value (without the field name). */
SG_EXTERN int sg_dmarc_author_from_value(sg_arena *arena, const char *value, size_t len,
                                         sg_dmarc_author *out);
SG_EXTERN const char *sg_dmarc_author_status_str(sg_dmarc_author_status st);

/* Every address a person could read in an address field's value (From,
 * Sender): the field read as the lenient reader above reads it, display
 * names, quoted strings and comments included, RFC 2047 encoded words
 * decoded, so `"bob@ourco.example" <alice@ourco.example>` shows two. An
 * address is an "@" (or the full-width or small commercial at, which look
 * like one) with the local part before it as shown (atext, dots and UTF-8;
 * "" when there is none) and each domain of two labels or more a reader
 * could see after it, in A-label form, lower case. At most max into out;
 * *more is set when there were more, or when the field is too hostile to
 * read (more than 256 at signs, text shown out of order: then read nothing
 * of it as harmless). The cost is linear in len. Returns 0, SG_EINVAL or
 * SG_ENOMEM. */
typedef struct {
    const char *local;
    const char *domain;
} sg_dmarc_shown;
SG_EXTERN int sg_dmarc_shown_addresses(sg_arena *arena, const char *value, size_t len,
                                       sg_dmarc_shown *out, size_t max, size_t *count, int *more);

/* Domain name to the form DMARC compares (RFC 9989 4.4: case-insensitive;
 * 5.3.1: U-labels to A-labels): IDNA2008 (RFC 5891) with the UTS #46
 * non-transitional mapping, by libidn2 - so U+3002 and the fullwidth full
 * stops are dots, upper case is lowered, and "xn--" labels are checked -
 * then LDH(+'_') labels, lower case. One trailing (root) dot is dropped.
 * Returns 0, SG_ESYNTAX (empty label, label > 63 or name > 253 octets,
 * bad UTF-8, control characters, a name IDNA2008 refuses: a ZWJ/ZWNJ
 * outside CONTEXTJ, a disallowed code point, the Bidi rule, bad
 * Punycode), SG_EINVAL or SG_ENOMEM. */
SG_EXTERN int sg_dmarc_domain_normalise(sg_arena *arena, const char *in, size_t len, char **out);
/* *d as its A-label when it holds a byte that is not ASCII (a U-label:
 * SPF's envelope, DKIM's d= under RFC 8616), by sg_dmarc_domain_normalise;
 * an ASCII name is left as it is. Returns 0, SG_ESYNTAX (a name IDNA
 * refuses: *d unchanged), SG_EINVAL or SG_ENOMEM. */
SG_EXTERN int sg_dmarc_domain_alabel(sg_arena *arena, const char **d);

/* --- public suffix list (RFC 7489 3.2 alternative) ---------------------- */

typedef struct sg_dmarc_psl sg_dmarc_psl;
/* The list built into libpsl. */
SG_EXTERN int sg_dmarc_psl_builtin(sg_dmarc_psl **out);
/* The list a front end uses: path (sg_dmarc_psl_load_file) when given,
 * else the newest on this system: the distribution's file (Debian's
 * publicsuffix package) when it is newer than the built-in one, else the
 * built-in one. It reads a file: for front ends, once, at start-up, so
 * that every check of a process (the suffix guard, reports, the reader)
 * uses one list, and every front end the same default. SG_EIO as
 * sg_dmarc_psl_load_file; SG_EUNSUPPORTED (no path) when there is none at
 * all. */
SG_EXTERN int sg_dmarc_psl_open(sg_dmarc_psl **out, const char *path);
/* A public_suffix_list.dat (or libpsl DAFSA) file. SG_EIO if it cannot
 * be loaded or holds no rule. */
SG_EXTERN int sg_dmarc_psl_load_file(sg_dmarc_psl **out, const char *path);
SG_EXTERN void sg_dmarc_psl_free(sg_dmarc_psl *psl);
/* Registrable domain (RFC 7489 3.2 Organizational Domain) of a domain.
 * *out is NULL when the domain is itself a public suffix (or empty, or
 * starts with a dot). Input may be U-label or A-label, any case. */
SG_EXTERN int sg_dmarc_psl_registrable(sg_arena *arena, const sg_dmarc_psl *psl, const char *domain,
                                       const char **out);

/* --- evaluation --------------------------------------------------------- */

typedef enum {
    SG_DMARC_DISCOVERY_TREEWALK = 0, /* RFC 9989 4.10 (default) */
    SG_DMARC_DISCOVERY_PSL,          /* RFC 7489 3.2 + 6.6.3 with a PSL */
} sg_dmarc_discovery;

/* 2: suffix_guard (a version 1 caller gets the guard on) */
#define SG_DMARC_OPTS_VERSION 2
typedef struct {
    unsigned version; /* SG_DMARC_OPTS_VERSION */
    sg_dmarc_discovery discovery;
    /* required for SG_DMARC_DISCOVERY_PSL, and the suffix guard's list
     * (NULL: libpsl's built-in one); borrowed */
    const sg_dmarc_psl *psl;
    /* 1 (default): t=y lowers the disposition one level (RFC 9989 4.7 t). */
    int honour_testing;
    /* 1 (default): in the tree walk, an Organizational Domain is never
     * above a name's registrable domain by the public suffix list (psl's
     * list, or libpsl's built-in one): only names of one registrable
     * domain align, and a subdomain without a record takes the stricter
     * of its registrable domain's policy and the one the RFC's rules
     * apply. RFC 9989 4.10.2 rule 3 would align every registrant under a
     * suffix (or a private suffix's parent) that published a record
     * without psd=y. A domain that is itself a public suffix (gov.uk,
     * blogspot.com) then aligns only with itself. 0: the RFC's rules
     * alone. */
    int suffix_guard;
} sg_dmarc_opts;

SG_EXTERN void sg_dmarc_opts_init(sg_dmarc_opts *opts);

/* One DKIM signature's outcome: only "pass" matters to DMARC (4.4.1). */
typedef struct {
    const char *d; /* the signature's d= (SDID) */
    int pass;      /* 1 if the signature verified ("pass") */
} sg_dmarc_dkim;

typedef struct {
    /* SPF result "pass" for the MAIL FROM identity (RFC 9989 3.2.4), and
     * that identity's domain: the RFC5321.MailFrom domain, or the HELO
     * domain when MAIL FROM was null (RFC 7208 2.4). NULL: none. */
    int spf_pass;
    const char *spf_domain;
    const sg_dmarc_dkim *dkim; /* may be NULL if ndkim == 0 */
    size_t ndkim;
} sg_dmarc_auth;

typedef enum {
    SG_DMARC_RESULT_NONE = 0, /* no policy record: DMARC does not apply */
    SG_DMARC_RESULT_PASS,
    SG_DMARC_RESULT_FAIL,
    SG_DMARC_RESULT_TEMPERROR, /* DNS error: neither pass nor fail (5.3.6) */
    SG_DMARC_RESULT_PERMERROR, /* unusable record or author domain */
} sg_dmarc_result_code;

typedef enum {
    SG_DMARC_DISP_NONE = 0,
    SG_DMARC_DISP_QUARANTINE,
    SG_DMARC_DISP_REJECT,
} sg_dmarc_disposition;

/* Which tag the applied policy came from. */
typedef enum {
    SG_DMARC_FROM_TAG_NONE = 0, /* no policy applies */
    SG_DMARC_FROM_TAG_P,
    SG_DMARC_FROM_TAG_SP,
    SG_DMARC_FROM_TAG_NP,
} sg_dmarc_policy_tag;

typedef enum {
    SG_DMARC_ALIGN_RESULT_NONE = 0, /* no passing identifier of that kind */
    SG_DMARC_ALIGN_RESULT_PASS,     /* a passing identifier aligns */
    SG_DMARC_ALIGN_RESULT_FAIL,     /* passing identifier(s), none aligned */
    SG_DMARC_ALIGN_RESULT_UNKNOWN,  /* DNS error while deciding */
} sg_dmarc_align_result;

typedef struct {
    sg_dmarc_result_code result;
    /* What the Domain Owner asks for this message: NONE unless result is
     * FAIL; after t=y (testing) lowering. */
    sg_dmarc_disposition disposition;
    /* The published policy that applies (p, sp or np), before t=y. */
    sg_dmarc_policy policy;
    sg_dmarc_policy_tag policy_tag;
    int testing;                   /* the applied record has t=y (or pct=0) */
    const char *author_domain;     /* A-label */
    const char *policy_domain;     /* where the applied record was found, or NULL */
    const char *org_domain;        /* the author's Organizational Domain, or NULL */
    const sg_dmarc_record *record; /* the applied record, or NULL */
    sg_dmarc_align_result spf_align, dkim_align;
    const char *spf_aligned_domain;  /* the aligned identifier, or NULL */
    const char *dkim_aligned_domain; /* first aligned d=, or NULL */
    int author_exists;               /* 1 yes, 0 NXDOMAIN (np applies), -1 not checked */
    unsigned dns_queries;            /* DNS queries issued (all walks + existence) */
    const char *reason;              /* short English explanation, never NULL */
} sg_dmarc_result;

SG_EXTERN const char *sg_dmarc_result_str(sg_dmarc_result_code r);
SG_EXTERN const char *sg_dmarc_disposition_str(sg_dmarc_disposition d);

/* A result for a message whose author domain could not be determined
 * (author->status != OK): PERMERROR with a reason naming the problem
 * (RFC 9989 5.3.1: "DMARC validation is not possible"). Never pass. */
SG_EXTERN void sg_dmarc_result_from_author(sg_dmarc_result *out, const sg_dmarc_author *author);

typedef struct sg_dmarc_check sg_dmarc_check;
typedef void (*sg_dmarc_done_cb)(const sg_dmarc_result *res, void *payload);

/* Start policy discovery for an author domain (any form: it is normalised
 * with sg_dmarc_domain_normalise). `auth` may be NULL here and given later
 * with sg_dmarc_check_set_auth(), so discovery can overlap SPF and DKIM.
 * `cb` runs exactly once unless the check is cancelled: normally from a
 * resolver callback (inside sg_resolver_run()), but it runs before
 * sg_dmarc_check_start() / sg_dmarc_check_set_auth() returns when no DNS
 * query is left to wait for (an author domain that is not a DNS name, or
 * discovery already finished when the auth data arrives) - callers must
 * be ready for that re-entry. The check and the result live in `arena`;
 * the resolver and opts->psl must outlive the check. An invalid author
 * domain is not an error: the check completes with PERMERROR. Returns 0,
 * SG_EINVAL, SG_ENOMEM. */
SG_EXTERN int sg_dmarc_check_start(sg_dmarc_check **out, sg_arena *arena, sg_resolver *resolver,
                                   const sg_dmarc_opts *opts, const char *author_domain,
                                   const sg_dmarc_auth *auth, sg_dmarc_done_cb cb, void *payload);
/* Provide the SPF/DKIM outcomes (copied; may complete the check and run
 * the callback before returning). SG_ESTATE if already given or done. */
SG_EXTERN int sg_dmarc_check_set_auth(sg_dmarc_check *c, const sg_dmarc_auth *auth);
/* Cancel outstanding queries; the callback will not run. */
SG_EXTERN void sg_dmarc_check_cancel(sg_dmarc_check *c);

/* Synchronous wrapper (tests, CLI): runs the resolver until done. */
SG_EXTERN int sg_dmarc_check_sync(sg_arena *arena, sg_resolver *resolver, const sg_dmarc_opts *opts,
                                  const char *author_domain, const sg_dmarc_auth *auth,
                                  sg_dmarc_result *out);

/* Organizational Domain of a domain by itself (RFC 9989 4.10.2 Tree Walk,
 * or the PSL per opts), synchronously; for tests and tools. *out is NULL
 * when a DNS error made it undeterminable. */
SG_EXTERN int sg_dmarc_org_domain_sync(sg_arena *arena, sg_resolver *resolver,
                                       const sg_dmarc_opts *opts, const char *domain,
                                       const char **out);

/* Whether a pass for identifier domain d could have aligned with the
 * author domain of a finished check's result r (with the same opts),
 * whatever the DNS answers the check did not get: 0 when it could not.
 * A temporary error on such an identifier may have hidden a pass; on any
 * other it cannot change the result. Never for names that share no label
 * or, with the suffix guard, whose shared ancestors are public suffixes
 * and whose registrable domains differ; 1 when r knows no author domain. */
SG_EXTERN int sg_dmarc_could_align(const sg_dmarc_opts *opts, const sg_dmarc_result *r,
                                   const char *d);

/* External report destinations (RFC 9990 4.4; RFC 7489 7.1): whether
 * the TXT answer at POLICY._report._dmarc.DEST (DEST the host of the
 * report address) says DEST takes POLICY's reports. kind 'a' for
 * aggregate reports (rua=), 'f' for failure reports (ruf=). 1 when
 * exactly one record starts with "v=DMARC1" and either names no address
 * of that kind or names one on DEST that sg_dmarc_report_addr_ok takes
 * (*override, in the arena: the first such, to use instead; NULL when
 * none); 0 otherwise: no such record, several
 * (the answer would hang on their order), or one that sends the reports
 * elsewhere only. `report send` and the audit share it, so the audit
 * calls authorised exactly what is sent. */
/* 1 when addr (local@domain) can be written as a report's address in a
 * header as it is: printable ASCII without space or RFC 5322 specials,
 * at most 254 octets, exactly one '@' with something on each side, and
 * no '%', '!' or '|' (routes to a third party, pipes). */
SG_EXTERN int sg_dmarc_report_addr_ok(const char *addr);
SG_EXTERN int sg_dmarc_report_consent(sg_arena *arena, const sg_dns_answer *ans, char kind,
                                      const char *dest, const char **override);

#ifdef __cplusplus
}
#endif
#endif
