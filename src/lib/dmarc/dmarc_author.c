/*
 * The Author Domain (RFC 9989 3.2.2, 5.3.1) and domain-name normalisation.
 *
 * The From field is read with the strict address parser (addr.h): DMARC
 * must not guess which address a person sees. Every case where the field
 * does not yield exactly one DNS domain is an outcome of its own, and the
 * evaluation never turns one of them into "pass":
 *
 *  - no From field, several From fields, a From that does not parse:
 *    RFC 9989 4.4 - identifier alignment cannot occur for a message that
 *    is not valid per RFC 5322 (3.6: exactly one From), "malformed,
 *    absent, or repeated RFC5322.From"; handling is outside the spec.
 *  - no mailbox, or mailboxes with different domains: RFC 9989 5.3.1 -
 *    "If zero or more than one domain is extracted ... DMARC validation
 *    is not possible and the process terminates" (the MAY to go on with
 *    several domains is not taken: 11.5 describes it as an attack vector).
 *    Several mailboxes sharing one domain yield that one domain.
 *  - a group (RFC 6854): the author is then not a mailbox a DMARC policy
 *    can be looked up for in a well-defined way; we follow 5.3.1 / 11.5
 *    and stop rather than pick a member.
 *  - a domain literal "[192.0.2.1]": not a DNS name, no policy can exist
 *    for it (5.3.1: no domain extracted).
 *  - a name that is not a valid DNS name or cannot be converted to an
 *    A-label (5.3.1 requires A-labels).
 */
#include <spoofguard/addr.h>
#include <spoofguard/dmarc.h>

#include <libpsl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dmarc_int.h"

/* --- names ------------------------------------------------------------------ */

size_t sg_dmarc_label_count(const char *name)
{
    size_t n = 1;
    if (name == NULL || *name == '\0')
        return 0;
    for (; *name; name++)
        if (*name == '.')
            n++;
    return n;
}

const char *sg_dmarc_suffix(const char *name, size_t keep)
{
    size_t total = sg_dmarc_label_count(name);
    const char *p = name;
    while (total > keep) {
        p = strchr(p, '.');
        if (p == NULL)
            return name;
        p++;
        total--;
    }
    return p;
}

int sg_dmarc_under(const char *child, const char *parent)
{
    size_t cl = strlen(child), pl = strlen(parent);
    if (cl == pl)
        return strcmp(child, parent) == 0;
    if (cl < pl + 1)
        return 0;
    return child[cl - pl - 1] == '.' && strcmp(child + cl - pl, parent) == 0;
}

/* --- RFC 3492 Punycode encoder ---------------------------------------------- */

/* Bootstring parameters for Punycode, RFC 3492 5. */
enum { PC_BASE = 36, PC_TMIN = 1, PC_TMAX = 26, PC_SKEW = 38, PC_DAMP = 700 };
#define PC_INITIAL_BIAS 72u
#define PC_INITIAL_N 0x80u

static uint32_t pc_adapt(uint32_t delta, uint32_t numpoints, int first)
{
    uint32_t k = 0;
    delta = first ? delta / PC_DAMP : delta / 2;
    delta += delta / numpoints;
    while (delta > ((PC_BASE - PC_TMIN) * PC_TMAX) / 2) {
        delta /= PC_BASE - PC_TMIN;
        k += PC_BASE;
    }
    return k + (PC_BASE - PC_TMIN + 1) * delta / (delta + PC_SKEW);
}

static char pc_digit(uint32_t d)
{
    return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

int sg_dmarc_punycode_encode(const uint32_t *cp, size_t n, char *out, size_t outsize)
{
    uint32_t code = PC_INITIAL_N, delta = 0, bias = PC_INITIAL_BIAS, h, b;
    size_t o = 0, i;

#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (o + 1 >= outsize)                                                                      \
            return -1;                                                                             \
        out[o++] = (ch);                                                                           \
    } while (0)

    for (i = 0; i < n; i++)
        if (cp[i] < 0x80)
            PUT((char)cp[i]);
    h = b = (uint32_t)o;
    if (b > 0)
        PUT('-');
    while (h < n) {
        uint32_t m = UINT32_MAX;
        for (i = 0; i < n; i++)
            if (cp[i] >= code && cp[i] < m)
                m = cp[i];
        if ((uint64_t)(m - code) * (h + 1) > UINT32_MAX - delta)
            return -1;
        delta += (m - code) * (h + 1);
        code = m;
        for (i = 0; i < n; i++) {
            if (cp[i] < code && ++delta == 0)
                return -1;
            if (cp[i] == code) {
                uint32_t q = delta, k;
                for (k = PC_BASE;; k += PC_BASE) {
                    uint32_t t = k <= bias ? PC_TMIN : k >= bias + PC_TMAX ? PC_TMAX : k - bias;
                    if (q < t)
                        break;
                    PUT(pc_digit(t + (q - t) % (PC_BASE - t)));
                    q = (q - t) / (PC_BASE - t);
                }
                PUT(pc_digit(q));
                bias = pc_adapt(delta, h + 1, h == b);
                delta = 0;
                h++;
            }
        }
        delta++;
        code++;
    }
    out[o] = '\0';
    return (int)o;
#undef PUT
}

/* Decode one UTF-8 sequence; returns its length or 0 if malformed
 * (overlongs, surrogates and > U+10FFFF rejected, RFC 3629 3). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len, i;
    uint32_t c;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    } else if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        c = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        c = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
        c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* Characters allowed in an ASCII label: LDH plus '_' (RFC 2181 11 allows
 * any octet in DNS; '_' occurs in real host names and in DKIM d= of some
 * senders; anything else cannot be a mail domain). */
static int ascii_label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* The longest label we will try to encode, in code points: a label is at
 * most 63 octets once encoded, and every code point takes at least one. */
#define MAX_LABEL_CP 63

int sg_dmarc_domain_normalise(sg_arena *arena, const char *in, size_t len, char **out)
{
    char *lower = NULL, *buf;
    const char *src;
    size_t srclen, i, o = 0, start;
    int nonascii = 0;

    if (arena == NULL || (in == NULL && len > 0) || out == NULL)
        return SG_EINVAL;
    *out = NULL;
    if (len > 0 && in[len - 1] == '.') /* one root dot is allowed */
        len--;
    if (len == 0 || len > 4 * SG_DMARC_MAX_NAME)
        return SG_ESYNTAX;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x21 || c == 0x7f)
            return SG_ESYNTAX;
        if (c >= 0x80)
            nonascii = 1;
    }

    src = in;
    srclen = len;
    if (nonascii) {
        /* Validate first: libpsl would silently turn malformed UTF-8 into
         * U+FFFD, and a domain we cannot read must not become one. */
        for (i = 0; i < len;) {
            uint32_t cp;
            size_t sl = utf8_decode((const unsigned char *)in + i, len - i, &cp);
            if (sl == 0)
                return SG_ESYNTAX;
            i += sl;
        }
    }
    if (nonascii) {
        /* Lower-case U-labels with libpsl (ICU/libidn2 inside) - the only
         * Unicode case mapping we have. IDNA2008 mapping/NFC validation is
         * out of scope: the A-label we build is compared exactly. */
        char *tmp = sg_arena_strndup(arena, in, len);
        if (tmp == NULL)
            return SG_ENOMEM;
        if (psl_str_to_utf8lower(tmp, "utf-8", NULL, &lower) != PSL_SUCCESS || lower == NULL) {
            /* Fall back to the bytes as given (ASCII is lowered below). */
            lower = NULL;
        } else {
            src = lower;
            srclen = strlen(lower);
        }
    }

    buf = sg_arena_alloc(arena, SG_DMARC_MAX_NAME + 1);
    if (buf == NULL) {
        psl_free_string(lower);
        return SG_ENOMEM;
    }

    start = 0;
    while (start <= srclen) {
        size_t end = start, ll;
        int lbl_nonascii = 0;
        while (end < srclen && src[end] != '.')
            end++;
        ll = end - start;
        if (ll == 0)
            goto bad;
        for (i = start; i < end; i++)
            if ((unsigned char)src[i] >= 0x80)
                lbl_nonascii = 1;
        if (o > 0) {
            if (o + 1 > SG_DMARC_MAX_NAME)
                goto bad;
            buf[o++] = '.';
        }
        if (!lbl_nonascii) {
            if (ll > 63 || o + ll > SG_DMARC_MAX_NAME)
                goto bad;
            for (i = start; i < end; i++) {
                char c = src[i];
                if (c >= 'A' && c <= 'Z')
                    c = (char)(c - 'A' + 'a');
                if (!ascii_label_char(c))
                    goto bad;
                buf[o++] = c;
            }
        } else {
            uint32_t cps[MAX_LABEL_CP];
            size_t ncp = 0, k;
            char enc[64];
            int el;
            for (i = start; i < end;) {
                uint32_t cp;
                size_t sl = utf8_decode((const unsigned char *)src + i, end - i, &cp);
                if (sl == 0 || ncp == MAX_LABEL_CP)
                    goto bad;
                if (cp >= 'A' && cp <= 'Z')
                    cp += 'a' - 'A';
                if (cp < 0x80 && !ascii_label_char((char)cp))
                    goto bad;
                cps[ncp++] = cp;
                i += sl;
            }
            /* "xn--" + encoding must fit in 63 octets (RFC 5890 2.3.2.1) */
            el = sg_dmarc_punycode_encode(cps, ncp, enc, sizeof(enc) - 4);
            if (el < 0 || o + 4 + (size_t)el > SG_DMARC_MAX_NAME)
                goto bad;
            memcpy(buf + o, "xn--", 4);
            o += 4;
            for (k = 0; k < (size_t)el; k++)
                buf[o++] = enc[k];
        }
        start = end + 1;
    }
    buf[o] = '\0';
    psl_free_string(lower);
    *out = buf;
    return 0;
bad:
    psl_free_string(lower);
    return SG_ESYNTAX;
}

/* --- the Author Domain -------------------------------------------------- */

const char *sg_dmarc_author_status_str(sg_dmarc_author_status st)
{
    switch (st) {
    case SG_DMARC_AUTHOR_OK:
        return "ok";
    case SG_DMARC_AUTHOR_NO_FROM:
        return "no From field";
    case SG_DMARC_AUTHOR_MULTIPLE_FROM:
        return "several From fields";
    case SG_DMARC_AUTHOR_SYNTAX:
        return "From field does not parse";
    case SG_DMARC_AUTHOR_NO_MAILBOX:
        return "From field has no mailbox";
    case SG_DMARC_AUTHOR_MULTIPLE_DOMAINS:
        return "From field has mailboxes in different domains";
    case SG_DMARC_AUTHOR_GROUP:
        return "From field uses group syntax";
    case SG_DMARC_AUTHOR_LITERAL:
        return "From domain is an address literal";
    case SG_DMARC_AUTHOR_BAD_DOMAIN:
        return "From domain is not a valid DNS name";
    }
    return "?";
}

int sg_dmarc_author_from_value(sg_arena *arena, const char *value, size_t len, sg_dmarc_author *out)
{
    sg_addr_list list;
    size_t i;
    int rc;
    const char *first = NULL;

    if (arena == NULL || (value == NULL && len > 0) || out == NULL)
        return SG_EINVAL;
    memset(out, 0, sizeof(*out));
    rc = sg_addr_parse_list(arena, value ? value : "", len, &list, NULL);
    if (rc == SG_ENOMEM || rc == SG_EINVAL)
        return rc;
    if (rc != 0) { /* SG_ESYNTAX, SG_ELIMIT */
        out->status = SG_DMARC_AUTHOR_SYNTAX;
        return 0;
    }
    out->nmailboxes = list.count;
    if (list.count > 0)
        out->domain_raw = list.mailboxes[0].domain;
    if (list.ngroups > 0) {
        out->status = SG_DMARC_AUTHOR_GROUP;
        return 0;
    }
    if (list.count == 0) {
        out->status = SG_DMARC_AUTHOR_NO_MAILBOX;
        return 0;
    }
    for (i = 0; i < list.count; i++) {
        const sg_mailbox *m = &list.mailboxes[i];
        char *norm;
        if (m->is_literal) {
            out->status = SG_DMARC_AUTHOR_LITERAL;
            return 0;
        }
        rc = sg_dmarc_domain_normalise(arena, m->domain, strlen(m->domain), &norm);
        if (rc == SG_ENOMEM)
            return rc;
        if (rc != 0) {
            out->status = SG_DMARC_AUTHOR_BAD_DOMAIN;
            return 0;
        }
        if (first == NULL) {
            first = norm;
        } else if (strcmp(first, norm) != 0) {
            out->status = SG_DMARC_AUTHOR_MULTIPLE_DOMAINS;
            return 0;
        }
    }
    out->status = SG_DMARC_AUTHOR_OK;
    out->domain = first;
    return 0;
}

/* Field names compare case-insensitively (RFC 5322 1.2.2). Scanned here
 * rather than with sg_headers_find() to keep this file independent of the
 * message parser's implementation. */
static int is_from(const sg_header *h)
{
    return h->name_len == 4 && strncasecmp(h->name, "From", 4) == 0;
}

int sg_dmarc_author_domain(sg_arena *arena, const sg_header *fields, size_t count,
                           sg_dmarc_author *out)
{
    const sg_header *from = NULL;
    size_t i;
    if (arena == NULL || (fields == NULL && count > 0) || out == NULL)
        return SG_EINVAL;
    memset(out, 0, sizeof(*out));
    for (i = 0; i < count; i++) {
        if (!is_from(&fields[i]))
            continue;
        if (from != NULL) {
            out->status = SG_DMARC_AUTHOR_MULTIPLE_FROM;
            return 0;
        }
        from = &fields[i];
    }
    if (from == NULL) {
        out->status = SG_DMARC_AUTHOR_NO_FROM;
        return 0;
    }
    return sg_dmarc_author_from_value(arena, from->value, from->value_len, out);
}
