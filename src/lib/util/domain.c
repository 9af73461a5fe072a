/*
 * Domain names: the one syntax check and the one "within". See
 * util/domain.h and spoofguard/common.h.
 */
#include "util/domain.h"

#include <string.h>
#include <strings.h>

/* Octet classes: NUL is never part of a name; HOST: letters, digits,
 * '-' and '_'; OTHER: any other octet (an SPF or DNS name may hold it). */
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

int sg_domain_syntax_ok(const char *d, size_t len, unsigned flags)
{
    const unsigned char *u = (const unsigned char *)d;
    unsigned need = (flags & SG_DOMAIN_HOSTCHARS) ? HOST : OTHER;
    size_t labels = 0, start = 0;
    if ((flags & SG_DOMAIN_ROOT_DOT) && len > 0 && d[len - 1] == '.')
        len--;
    if (len == 0)
        return (flags & SG_DOMAIN_EMPTY) != 0;
    if (len > SG_DOMAIN_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned c = cls[u[i]];
        if (c == DOT) {
            if (i == start || i - start > SG_DOMAIN_MAX_LABEL)
                return 0;
            labels++;
            start = i + 1;
        } else if (c < need) {
            return 0;
        }
    }
    /* the last label: "a.." (or "a." where the dot is not allowed) ends
     * with an empty one */
    if (len == start || len - start > SG_DOMAIN_MAX_LABEL)
        return 0;
    return !(flags & SG_DOMAIN_TWO_LABELS) || labels >= 1;
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
    if (d == 0 || n < d || strncasecmp(name + n - d, domain, d) != 0)
        return 0;
    return n == d || name[n - d - 1] == '.';
}
