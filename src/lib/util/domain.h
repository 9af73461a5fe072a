/*
 * Internal: domain-name syntax, one rule with the differences the callers
 * need on purpose spelled as flags. "Within" (sg_domain_within) is public,
 * in spoofguard/common.h.
 *
 * One view of case and of the trailing dot everywhere: names compare
 * ASCII case-insensitively, and one trailing dot (the root) is ignored.
 */
#ifndef SG_UTIL_DOMAIN_H
#define SG_UTIL_DOMAIN_H

#include <spoofguard/common.h>

#include <stddef.h>

/* RFC 1035 2.3.4, without the root's dot: 253 octets of text. */
#define SG_DOMAIN_MAX 253
#define SG_DOMAIN_MAX_LABEL 63

enum {
    /* Labels of letters, digits, '-' and '_' only (DKIM d=, s= and the
     * i= domain, RFC 6376 3.5; selectors and some d= use '_'). Without
     * it any octet but '.' and NUL: SPF targets after macro expansion
     * and DNS query names are strings of octets (RFC 7208 7.3, RFC 2181
     * 11). */
    SG_DOMAIN_HOSTCHARS = 1u << 0,
    /* One trailing dot (the root) is allowed and not counted. Without
     * it, "example.com." is refused: a DKIM d= has no root dot. */
    SG_DOMAIN_ROOT_DOT = 1u << 1,
    /* At least two labels (an SPF domain, RFC 7208 4.3). */
    SG_DOMAIN_TWO_LABELS = 1u << 2,
    /* "" and "." (the root itself) are valid (DNS query names). */
    SG_DOMAIN_EMPTY = 1u << 3,
};

/* Is d[0..len) a domain name: labels of 1..63 octets separated by single
 * dots, at most 253 octets (the root's dot not counted), no NUL, and what
 * flags add. 1 or 0. */
int sg_domain_syntax_ok(const char *d, size_t len, unsigned flags);

/* The same name (ASCII case and one trailing dot aside)? 1 or 0. */
int sg_domain_same(const char *a, const char *b);

#endif
