/*
 * Internal: ASCII case and character classes, whatever the process's
 * locale. Mail's names (header fields, tags, domains, SPF mechanisms) are
 * ASCII and case-insensitive as ASCII; libc's strcasecmp, tolower and
 * isalpha follow LC_CTYPE, and an embedder that calls setlocale(LC_ALL,
 * "") on a Turkish host gets tolower('I') != 'i': DKIM then missed the
 * fields its h= names, and an unsigned MIME-VERSION on top of a signed
 * message went unseen (adv44 F1). The library uses only these
 * (tests/scripts/locale_independence.sh holds it to that).
 */
#ifndef SG_UTIL_ASCII_H
#define SG_UTIL_ASCII_H

#include <stddef.h>

static inline int sg_ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static inline int sg_ascii_upper(int c)
{
    return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

static inline int sg_ascii_isdigit(int c)
{
    return c >= '0' && c <= '9';
}

static inline int sg_ascii_isalpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline int sg_ascii_isalnum(int c)
{
    return sg_ascii_isalpha(c) || sg_ascii_isdigit(c);
}

static inline int sg_ascii_isxdigit(int c)
{
    return sg_ascii_isdigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* the C locale's isspace: SP, HT, LF, VT, FF, CR */
static inline int sg_ascii_isspace(int c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline int sg_ascii_isupper(int c)
{
    return c >= 'A' && c <= 'Z';
}

static inline int sg_ascii_islower(int c)
{
    return c >= 'a' && c <= 'z';
}

/* the C locale's isprint: SP through '~' */
static inline int sg_ascii_isprint(int c)
{
    return c >= ' ' && c <= '~';
}

static inline int sg_ascii_iscntrl(int c)
{
    return (c >= 0 && c < ' ') || c == 127;
}

static inline int sg_ascii_ncasecmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int x = sg_ascii_lower((unsigned char)a[i]), y = sg_ascii_lower((unsigned char)b[i]);
        if (x != y || x == 0)
            return x - y;
    }
    return 0;
}

static inline int sg_ascii_casecmp(const char *a, const char *b)
{
    return sg_ascii_ncasecmp(a, b, (size_t)-1);
}

#endif
