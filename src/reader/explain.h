/*
 * What a reader is told about one message (issue 13 items 2-4, 6, 7): the
 * headline, the identity panel, the warnings, the links and, for the
 * viewer, the body made safe to show. One function for `spoofguard
 * explain` and `spoofguard-view`, so the terminal and the browser never
 * disagree.
 *
 * The headline comes from our own verification only: the topmost
 * Authentication-Results field when it carries our authserv-id (the one
 * our MTA added; spoofguardd removes look-alikes from outside), else a
 * verdict the caller computed with the library just now (and the result
 * says so: keys may have rotated since delivery), else nothing proven.
 *
 *   verified              the From domain is proven (DMARC pass)
 *   verified_third_party  not proven, but a passing DKIM signature of
 *                         another domain (a list, a mail provider): named
 *   unverified            nothing proven either way
 *   forged                the verdict says forged
 *
 * Nothing that is not authentic is ever `verified`; a third-party
 * signature never lifts a forged message.
 *
 * Part of the reader's view (src/reader, target sg_explain), not
 * libspoofguard's API. No global mutable state; the result owns its
 * memory.
 */
#ifndef SG_READER_EXPLAIN_H
#define SG_READER_EXPLAIN_H

#include <stddef.h>
#include <stdint.h>

#include <spoofguard/verdict.h>

#include "lookalike.h"
#include "mime.h"
#include "sanitize.h"

#define SGR_EXPLAIN_OK 0
#define SGR_EXPLAIN_ENOMEM (-1)
#define SGR_EXPLAIN_EINVAL (-2)

typedef enum {
    SGR_HEADLINE_VERIFIED = 0,
    SGR_HEADLINE_VERIFIED_THIRD_PARTY,
    SGR_HEADLINE_UNVERIFIED,
    SGR_HEADLINE_FORGED,
} sgr_headline;

/* "verified", "verified_third_party", "unverified", "forged" (JSON; the
 * contract of issue 13 item 7: never renamed). */
const char *sgr_headline_name(sgr_headline h);
/* "Verified", "Verified through a third party", "Unverified", "Forged". */
const char *sgr_headline_title(sgr_headline h);

typedef enum {
    SGR_FROM_NONE = 0, /* nothing verified the message: no trusted A-R, no verdict */
    SGR_FROM_AUTHRES,  /* our MTA's Authentication-Results (topmost, our authserv-id) */
    SGR_FROM_VERIFIED, /* the caller's verdict (verified now, by the reader) */
} sgr_verified_by;

/* What the mailbox knows (the viewer learns it from its index; the CLI
 * has none). Addresses are lower-cased addr-specs. */
typedef struct {
    /* 1 if earlier mail from this address is in the mailbox, 0 if none,
     * -1 when unknown (no first_contact warning then). */
    int (*seen)(void *payload, const char *address);
    /* The address of a known correspondent (learned from verified mail
     * only, so a forger cannot plant one) whose display name equals
     * `name` (case and whitespace folded), when that address is not
     * `address`; NULL when none. */
    const char *(*name_owner)(void *payload, const char *name, const char *address);
    void *payload;
} sgr_correspondents;

typedef struct {
    const char *authserv_id; /* our A-R id; NULL: no A-R is trusted */
    /* Lookalike references (protected, operator, correspondents); NULL:
     * no lookalike or idn warnings. Borrowed. */
    const sgr_lookalike *lookalike;
    const sgr_correspondents *correspondents; /* NULL: none */
    /* The body: rendered (sanitized HTML in the result) when link_href is
     * set, else only its links are listed (the CLI). In verified and
     * verified_third_party mail links go through link_href (the
     * interstitial); in unverified and forged mail they are inert. */
    sgr_link_href_cb link_href;
    sgr_cid_src_cb cid_src;
    void *payload;
    const char *link_target;            /* see sgr_sanitize_opts */
    int allow_remote_images;            /* honoured for verified mail only */
    const sgr_mime_limits *mime_limits; /* NULL: defaults */
    /* Our protected domains, as given to sg_verdict_opts (added for the
     * A-R path): a trusted A-R cannot say that a From in one of them was
     * forged when the domain publishes no policy, so the verdict's rule is
     * applied again here. NULL/0: none. */
    const char *const *protected_domains;
    size_t nprotected;
    /* 1: no body rendering and no link list (added for lists of many
     * messages): headline, identity, header and attachment warnings only. */
    int skip_body;
} sgr_explain_opts;

void sgr_explain_opts_init(sgr_explain_opts *o);

/* 1 if the message's topmost Authentication-Results field claims
 * authserv_id (then sgr_explain needs no verdict), else 0. */
int sgr_explain_trusts_authres(const char *msg, size_t len, const char *authserv_id);

typedef struct {
    const char *domain;    /* d= */
    const char *selector;  /* s=; NULL from an A-R without header.s */
    const char *algorithm; /* "rsa-sha256", "ed25519-sha256"; NULL from an A-R */
    unsigned key_bits;     /* 0 when unknown (A-R) */
    int aligned;           /* aligned with the From domain (DMARC relaxed/strict as published) */
} sgr_signed_by;

typedef struct {
    const char *display_name;       /* decoded (RFC 2047), UTF-8; "" when none */
    const char *address;            /* addr-spec as shown; NULL when the From has none */
    const char *domain;             /* the address's domain, A-label form, lower case */
    const char *domain_unicode;     /* U-label form; NULL unless it differs */
    const char *registrable_domain; /* libpsl; NULL when none */
    const sgr_signed_by *signed_by; /* passing signatures only */
    size_t nsigned_by;
    const char *mailed_by; /* SPF-passing MAIL FROM (or HELO) domain; NULL */
    const char *via;       /* the first passing signing domain when none is aligned; NULL */
    const char *reply_to;  /* addr-spec(s), when the field exists and differs from From */
    const char *sender;    /* addr-spec, when it differs from From */
    const char *list_id;   /* List-Id, or NULL */
    const char *arc;       /* "pass by sealer.example (i=2)", "fail", NULL when no ARC */
} sgr_identity;

/* Warning kinds (JSON `kind`, never renamed): */
#define SGR_WARN_LOOKALIKE "lookalike"
#define SGR_WARN_DISPLAY_NAME "display_name"
#define SGR_WARN_FIRST_CONTACT "first_contact"
#define SGR_WARN_IDN "idn"
#define SGR_WARN_REPLY_TO "reply_to"
#define SGR_WARN_UNSIGNED_FIELD "unsigned_field"
#define SGR_WARN_ATTACHMENT "attachment"
#define SGR_WARN_SENDER "sender" /* added for adv29 RD-6 */

typedef struct {
    const char *kind;   /* SGR_WARN_* */
    const char *field;  /* "from", "reply-to", "sender", "link", "subject", ... */
    const char *detail; /* one specific English sentence */
} sgr_warning;

/* A link as the reader sees it: the sanitizer's description plus what
 * this message makes of it. */
typedef struct {
    const sgr_link *link;        /* text, target, host, registrable_domain, flags */
    int inert;                   /* not clickable in the message */
    const sgr_warning *warnings; /* lookalike / idn hits on its host, text mismatch... */
    size_t nwarnings;
} sgr_link_view;

typedef struct {
    sgr_headline headline;
    const char *headline_detail; /* one sentence: why this headline */
    const char *third_party;     /* verified_third_party: the signing domain; else NULL */
    sgr_verified_by verified_by;
    const sg_verdict_result *verdict; /* the caller's, when verified_by is VERIFIED */
    sgr_identity identity;
    const sgr_warning *warnings;
    size_t nwarnings;
    const sgr_link_view *links;
    size_t nlinks;
    int links_truncated;
    const sgr_mime_view *mime;   /* subject, date, parts (attachments) */
    const sgr_mime *mime_handle; /* for sgr_mime_part_content */
    /* Sanitized body HTML (UTF-8), when opts->link_href was set; else NULL. */
    const char *html;
    size_t html_len;
    int remote_images_allowed;
    size_t remote_images_blocked;
} sgr_explanation;

/* Explains msg[0..len). verdict: the caller's verdict of this message (the
 * library's sg_verdict, with the same bytes), or NULL when the message
 * carries our trusted A-R (sgr_explain_trusts_authres) or nothing could be
 * verified. Returns SGR_EXPLAIN_OK with *out set (free with
 * sgr_explain_free), ENOMEM or EINVAL. Hostile input never fails: it is
 * explained (unverified or forged). The result copies what it shows: only
 * its `verdict` member points at the caller's verdict (valid while that
 * lives); msg may be freed after the call. */
int sgr_explain(sgr_explanation **out, const char *msg, size_t len,
                const sg_verdict_result *verdict, const sgr_explain_opts *opts);

void sgr_explain_free(sgr_explanation *e);

/* The JSON object of issue 13 item 7 (`spoofguard explain --json` and the
 * viewer's /api/messages/ID): malloc'ed, NUL-terminated, caller frees.
 * Keys: headline, headline_detail, third_party, verified_by ("authres",
 * "verified", "none"), identity {display_name, address, domain,
 * registrable_domain, signed_by [{domain, selector, algorithm, key_bits,
 * aligned}], mailed_by, via, reply_to, sender, list_id, arc}, warnings
 * [{kind, field, detail}], links [{text, target, host, host_unicode,
 * registrable_domain, inert, warnings [{kind, detail}]}], subject, date,
 * attachments [{index, name, type, size, risk [names], detail}]. */
int sgr_explain_json(const sgr_explanation *e, char **out, size_t *len);

#endif
