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

#include <idn2.h>
#include <stdint.h>
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

/* --- IDNA ---------------------------------------------------------------- */

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

/* Does some label start with the ACE prefix "xn--" (any case)? Such a
 * label must be a valid A-label (RFC 5891 5.4), which libidn2 checks. */
static int has_ace_label(const char *s, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if ((i == 0 || s[i - 1] == '.') && !strncasecmp(s + i, "xn--", 4))
            return 1;
    return 0;
}

/* IDNA2008 (RFC 5891) with the UTS #46 mapping, by libidn2. Strict mode
 * is non-transitional processing, what current browsers and mail readers
 * use: U+3002 and the fullwidth full stops map to '.', upper case to
 * lower, and a label that fails validation (a ZWJ outside its CONTEXTJ
 * rule, a disallowed code point, bad Bidi, an "xn--" label that is not
 * valid Punycode) is refused. The reader's view (`transitional`) is what
 * an older IDNA2003 reader looks up: ZWJ/ZWNJ are dropped and "ß" becomes
 * "ss" - so `ba<ZWJ>nk.example` is judged as bank.example, the name such a
 * reader resolves and every reader displays. */
static int idna_to_ascii(sg_arena *arena, const char *in, size_t len, int transitional,
                         const char **out)
{
    char *tmp, *res = NULL;
    int flags = IDN2_NFC_INPUT | (transitional ? IDN2_TRANSITIONAL : IDN2_NONTRANSITIONAL);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t sl = utf8_decode((const unsigned char *)in + i, len - i, &cp);
        if (sl == 0)
            return SG_ESYNTAX; /* a domain we cannot read must not become one */
        i += sl;
    }
    if ((tmp = sg_arena_strndup(arena, in, len)) == NULL)
        return SG_ENOMEM;
    int rc = idn2_to_ascii_8z(tmp, &res, flags);
    if (rc == IDN2_MALLOC)
        return SG_ENOMEM;
    if (rc != IDN2_OK || res == NULL) {
        idn2_free(res);
        return SG_ESYNTAX;
    }
    *out = sg_arena_strdup(arena, res);
    idn2_free(res);
    return *out ? 0 : SG_ENOMEM;
}

static int normalise(sg_arena *arena, const char *in, size_t len, int transitional, char **out)
{
    char *buf;
    const char *src;
    size_t srclen, i, o = 0, start;
    int nonascii = 0, rc;

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
    if (nonascii || has_ace_label(in, len)) {
        if ((rc = idna_to_ascii(arena, in, len, transitional, &src)) != 0)
            return rc;
        srclen = strlen(src);
        /* a mapped root dot ("bank.example\u3002") */
        if (srclen > 0 && src[srclen - 1] == '.')
            srclen--;
    }

    if ((buf = sg_arena_alloc(arena, SG_DMARC_MAX_NAME + 1)) == NULL)
        return SG_ENOMEM;
    /* Every name, A-labels included, ends up here: LDH(+_) labels of 1-63
     * octets, at most 253 octets (RFC 1035 2.3.4, RFC 5890 2.3.2.1). */
    start = 0;
    while (start <= srclen) {
        size_t end = start;
        while (end < srclen && src[end] != '.')
            end++;
        if (end == start || end - start > 63)
            return SG_ESYNTAX;
        if (o > 0)
            buf[o++] = '.';
        if (o + (end - start) > SG_DMARC_MAX_NAME)
            return SG_ESYNTAX;
        for (i = start; i < end; i++) {
            char c = src[i];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (!ascii_label_char(c))
                return SG_ESYNTAX;
            buf[o++] = c;
        }
        start = end + 1;
    }
    buf[o] = '\0';
    *out = buf;
    return 0;
}

int sg_dmarc_domain_normalise(sg_arena *arena, const char *in, size_t len, char **out)
{
    return normalise(arena, in, len, 0, out);
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
