/*
 * Domain names: the one syntax check and the one "within". See
 * util/domain.h and spoofguard/common.h.
 */
#include "util/domain.h"

#include <string.h>
#include "ascii.h"

/* Octet classes: HOST: letters, digits, '-' and '_' (a DKIM name);
 * OTHER: any other octet an SPF or DNS name may hold; BAD: NUL. */
enum { BAD = 0, OTHER = 1, HOST = 2, DOT = 3 };
static const unsigned char cls[256] = {
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 10 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 1, /* 20 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, /* 30 */
    1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 40 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 2, /* 50 */
    1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 60 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, /* 70 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 80 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 90 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* a0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* b0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* c0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* d0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* e0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* f0 */
};

/* Labels of 1..63 octets between single dots in [d, e). Returns the
 * number of labels, or 0. The common case (any octet allowed) hops from
 * dot to dot with memchr, which scans a word at a time. */
static size_t labels_ok(const char *d, const char *e, int host)
{
    size_t labels = 0;
    for (const char *p = d;; labels++) {
        const char *dot = memchr(p, '.', (size_t)(e - p)), *end = dot ? dot : e;
        if (end == p || end - p > SG_DOMAIN_MAX_LABEL)
            return 0; /* ".a", "a..b", or "a." where the root dot is not allowed */
        if (host)
            for (const char *q = p; q < end; q++)
                if (cls[(unsigned char)*q] != HOST)
                    return 0;
        if (dot == NULL)
            return labels + 1;
        p = dot + 1;
    }
}

int sg_domain_syntax_ok(const char *d, size_t len, unsigned flags)
{
    size_t labels;
    if ((flags & SG_DOMAIN_ROOT_DOT) && len > 0 && d[len - 1] == '.')
        len--;
    if (len == 0)
        return (flags & SG_DOMAIN_EMPTY) != 0;
    if (len > SG_DOMAIN_MAX || memchr(d, '\0', len) != NULL)
        return 0;
    labels = labels_ok(d, d + len, (flags & SG_DOMAIN_HOSTCHARS) != 0);
    return labels >= ((flags & SG_DOMAIN_TWO_LABELS) ? 2u : 1u);
}

int sg_domain_same(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la && a[la - 1] == '.')
        la--;
    if (lb && b[lb - 1] == '.')
        lb--;
    return la == lb && !sg_ascii_ncasecmp(a, b, la);
}

int sg_domain_within(const char *name, const char *domain)
{
    size_t n, d;
    if (name == NULL || domain == NULL)
        return 0;
    n = strlen(name);
    d = strlen(domain);
    if (n > 0 && name[n - 1] == '.')
        n--;
    if (d > 0 && domain[d - 1] == '.')
        d--;
    /* the root contains every name, but no caller means it: an empty
     * domain (a misconfiguration, a parse that found nothing) contains
     * nothing */
    if (d == 0 || n < d || sg_ascii_ncasecmp(name + n - d, domain, d) != 0)
        return 0;
    return n == d || name[n - d - 1] == '.';
}
