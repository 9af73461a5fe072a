/*
 * Internal: SPF macro expander (RFC 7208 7) and helpers shared by the
 * record parser, the evaluator and the tests/fuzzers.
 */
#ifndef SG_SPF_INT_H
#define SG_SPF_INT_H

#include <spoofguard/spf.h>

#include "util/domain.h"

/* Values of the macro letters (RFC 7208 7.3). Strings are NUL-terminated. */
typedef struct {
    const char *sender;        /* s */
    const char *local;         /* l */
    const char *sender_domain; /* o */
    const char *domain;        /* d: the current <domain> */
    const char *ip_i;          /* i: dotted quad or dotted nibbles */
    const char *ip_c;          /* c: dotted quad or RFC 5952 text (exp only) */
    const char *ptr;           /* p: validated name; NULL when not yet known */
    int v6;                    /* v: "ip6" if set, else "in-addr" */
    const char *helo;          /* h */
    const char *receiver;      /* r (exp only) */
    int64_t now;               /* t (exp only) */
} sg_spf_macro_ctx;

typedef enum {
    /* A domain-spec: no spaces, c/r/t forbidden, result truncated from
     * the left to 253 octets (RFC 7208 7.3). */
    SG_SPF_MACRO_DOMAIN = 0,
    /* An explain-string (RFC 7208 6.2): spaces allowed, all letters. */
    SG_SPF_MACRO_EXP = 1,
    /* An unknown modifier's value: a macro-string, all letters (the RFC
     * grammar does not restrict them there), only checked, never
     * expanded. */
    SG_SPF_MACRO_MODIFIER = 2,
} sg_spf_macro_mode;

/* Longest expansion kept. A domain-spec is truncated to 253 octets at
 * the end anyway; an explanation is a single SMTP reply text (RFC 5321
 * 4.5.3.1.5 limits reply lines to 512 octets), so 4096 is generous. */
#define SG_SPF_MAX_EXPANSION 4096
/* RFC 7208 7.3: implementations MUST support at least 128 for the
 * digit transformer; a larger value is read as 128, which differs from
 * "every part" only for a value of more than 128 parts (a domain of 253
 * octets has at most 127 labels) and keeps the part walk bounded. */
#define SG_SPF_MAX_MACRO_DIGITS 128

/* Syntax check only. Returns 0 or SG_ESYNTAX with *reason. */
int sg_spf_macro_check(const char *spec, size_t len, sg_spf_macro_mode mode, const char **reason);

/* Whether the string uses %{p} (the evaluator must validate PTR names
 * first). Assumes the syntax was checked. */
int sg_spf_macro_needs_ptr(const char *spec, size_t len);

/* Expand into arena memory. ctx->ptr must be set when the spec uses p.
 * Returns 0, SG_ESYNTAX (reason set) or SG_ENOMEM. For DOMAIN mode the
 * result is truncated from the left to 253 octets (RFC 7208 7.3). */
int sg_spf_macro_expand(char **out, size_t *outlen, sg_arena *arena, const char *spec, size_t len,
                        const sg_spf_macro_ctx *ctx, sg_spf_macro_mode mode, const char **reason);

/* RFC 7208 4.3 / RFC 1035: a syntactically valid multi-label domain:
 * 1..253 octets (one trailing dot allowed), labels 1..63 octets, at
 * least two labels. Any octet but '.' and NUL: a macro-expanded name may
 * hold what a DKIM d= may not (RFC 7208 7.3). */
static inline int sg_spf_domain_valid(const char *d, size_t len)
{
    return sg_domain_syntax_ok(d, len, SG_DOMAIN_ROOT_DOT | SG_DOMAIN_TWO_LABELS);
}

struct sg_spf_check;
/* The verdict stops waiting: the check's queries are cancelled and it
 * completes with temperror and reason (the callback runs), unless done. */
void sg_spf_check_abandon(struct sg_spf_check *c, const char *reason);

#endif
