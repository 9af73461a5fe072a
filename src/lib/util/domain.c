/*
 * Domain names: the one syntax check and the one "within". See
 * util/domain.h and spoofguard/common.h.
 */
#include "util/domain.h"

#include <string.h>
#include <strings.h>

int sg_domain_syntax_ok(const char *d, size_t len, unsigned flags)
{
    size_t labels = 0, cur = 0;
    if ((flags & SG_DOMAIN_ROOT_DOT) && len > 0 && d[len - 1] == '.')
        len--;
    if (len == 0)
        return (flags & SG_DOMAIN_EMPTY) != 0;
    if (len > SG_DOMAIN_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '.') {
            if (cur == 0)
                return 0;
            labels++;
            cur = 0;
            continue;
        }
        if (c == '\0' || ++cur > SG_DOMAIN_MAX_LABEL)
            return 0;
        if ((flags & SG_DOMAIN_HOSTCHARS) && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                               (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    if (cur == 0)
        return 0; /* "a..", or "a." where the dot is not allowed */
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
