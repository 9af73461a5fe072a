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
 *
 * None of these may soften the verdict for the domain a mail reader
 * shows (issue 11 class 5): a trailing dot, 65 nested comments, an
 * encoded word holding the whole address, a space after "@", one invalid
 * UTF-8 byte in the display name, a ZWJ in a label - readers still
 * display `ceo@bank.example`. So when the strict reading fails, the field
 * is read again the way a lenient reader would (reader_view below):
 * encoded words decoded, comments dropped, every "@" followed to the
 * domain-looking text after it (inside a domain literal's brackets too,
 * unless it is an address: `ceo@[bank.example]` is bank.example), with
 * spaces around "@" and dots, doubled dots and any trailing dots removed,
 * then IDNA-mapped (invisible joiners dropped as a
 * fallback, then every name its ASCII parts spell). If that yields one
 * domain, it is the author domain (`lenient` is set) and DMARC and the protected
 * domains apply to it as to any other - a p=reject domain's forgery stays
 * a reject, its own signed mail still passes; if it yields several, the
 * field has several author domains (forged under the existing rule); if
 * none, the strict outcome stands. A From that parses strictly is never
 * read this way: the lenient reading only replaces outcomes that had no
 * domain at all.
 */
#include <spoofguard/addr.h>
#include <spoofguard/dmarc.h>

#include <idn2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc_int.h"
#include "util/charset.h"
#include "util/text.h"
#include "util/ascii.h"

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
        if ((i == 0 || s[i - 1] == '.') && !sg_ascii_ncasecmp(s + i, "xn--", 4))
            return 1;
    return 0;
}

/* IDNA2008 (RFC 5891) with the UTS #46 mapping, by libidn2, in
 * non-transitional processing - what current browsers and mail readers
 * use: U+3002 and the fullwidth full stops map to '.', upper case to
 * lower, invisible code points like U+200B to nothing, and a label that
 * fails validation (a ZWJ outside its CONTEXTJ rule, a disallowed code
 * point, the Bidi rule, an "xn--" label that is not valid Punycode) is
 * refused. */
static int idna_to_ascii(sg_arena *arena, const char *in, size_t len, const char **out)
{
    char *tmp, *res = NULL;
    int flags = IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL;
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

static int normalise(sg_arena *arena, const char *in, size_t len, char **out)
{
    char buf[SG_DMARC_MAX_NAME + 1];
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
        if ((rc = idna_to_ascii(arena, in, len, &src)) != 0)
            return rc;
        srclen = strlen(src);
        /* a mapped root dot ("bank.example\u3002") */
        if (srclen > 0 && src[srclen - 1] == '.')
            srclen--;
    }

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
    /* the name's own length from the arena: a From field of many "@a"
     * makes as many names */
    if ((*out = sg_arena_alloc(arena, o + 1)) == NULL)
        return SG_ENOMEM;
    memcpy(*out, buf, o);
    (*out)[o] = '\0';
    return 0;
}

int sg_dmarc_domain_normalise(sg_arena *arena, const char *in, size_t len, char **out)
{
    return normalise(arena, in, len, out);
}

int sg_dmarc_domain_alabel(sg_arena *arena, const char **d)
{
    char *a;
    if (arena == NULL || d == NULL || *d == NULL)
        return SG_EINVAL;
    const unsigned char *p = (const unsigned char *)*d;
    while (*p && *p < 0x80)
        p++;
    if (*p == 0)
        return 0;
    int rc = normalise(arena, *d, strlen(*d), &a);
    if (rc == 0)
        *d = a;
    return rc;
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

/* --- the reader's view ---------------------------------------------------- */

/* Beyond this many distinct domains the field has "several" anyway. */
#define READER_MAX_DOMAINS 16

typedef struct {
    const char *d[READER_MAX_DOMAINS];
    size_t n;
    int more; /* a further distinct domain did not fit */
} domain_set;

static void set_add(domain_set *ds, const char *d)
{
    for (size_t i = 0; i < ds->n; i++)
        if (!strcmp(ds->d[i], d))
            return;
    if (ds->n == READER_MAX_DOMAINS)
        ds->more = 1;
    else
        ds->d[ds->n++] = d;
}

static int hexval(unsigned char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static int b64val(unsigned char c)
{
    return c >= 'A' && c <= 'Z'   ? c - 'A'
           : c >= 'a' && c <= 'z' ? c - 'a' + 26
           : c >= '0' && c <= '9' ? c - '0' + 52
           : c == '+'             ? 62
           : c == '/'             ? 63
                                  : -1;
}

/* Where the text of encoded words ends: the "?=" at or after k, or white
 * space or the end of s[0..n) first (then none). Every "=?x?q?" starts a
 * search, and a field of them without "?=" made each search run to the
 * end (63 KB: 0.3 s). Starts come in increasing order, and one search
 * answers every later start up to where it stopped, so each byte is
 * searched once. */
typedef struct {
    size_t n, from, stop;
    int found;
    int unreadable; /* a word in a charset iconv does not know */
} ew_memo;

static int ew_text_end(const char *s, size_t n, size_t k, ew_memo *m, size_t *e)
{
    if (m->n != n || k < m->from || k > m->stop) {
        size_t x = k;
        while (x + 1 < n && !(s[x] == '?' && s[x + 1] == '=') && (unsigned char)s[x] > ' ')
            x++;
        m->n = n;
        m->from = k;
        m->stop = x;
        m->found = x + 1 < n && s[x] == '?' && s[x + 1] == '=';
    }
    *e = m->stop;
    return m->found;
}

/* An RFC 2047 encoded word "=?charset?Q|B?text?=" at s[i]: its text, as
 * UTF-8, is appended to out (room: cap; at most 3 bytes a byte of the
 * word) and the word's length returned; 0 if there is none. The charset
 * is applied: a U-label's letters are not ASCII in any legacy charset, and
 * UTF-16 or ISO-2022-JP write even ASCII otherwise, so `j@bücher.example`
 * in ISO-8859-1 read as bcher.example (adv30 IN-1). A charset iconv does
 * not know makes the field unreadable (m->unreadable). */
static size_t ew_decode(const char *s, size_t n, size_t i, char *out, size_t *o, size_t cap,
                        ew_memo *m)
{
    size_t j = i + 2, k, e, start = *o;
    char enc;
    if (i + 2 > n || s[i] != '=' || s[i + 1] != '?')
        return 0;
    while (j < n && s[j] != '?' && (unsigned char)s[j] > ' ')
        j++;
    if (j == i + 2 || j + 2 >= n || s[j] != '?' || s[j + 2] != '?')
        return 0;
    enc = (char)(s[j + 1] | 0x20);
    if (enc != 'q' && enc != 'b')
        return 0;
    if (!ew_text_end(s, n, j + 3, m, &e))
        return 0;
    if (enc == 'q') {
        for (k = j + 3; k < e; k++) {
            if (s[k] == '_') {
                out[(*o)++] = ' ';
            } else if (s[k] == '=' && k + 2 < e && hexval((unsigned char)s[k + 1]) >= 0 &&
                       hexval((unsigned char)s[k + 2]) >= 0) {
                out[(*o)++] =
                    (char)(hexval((unsigned char)s[k + 1]) * 16 + hexval((unsigned char)s[k + 2]));
                k += 2;
            } else {
                out[(*o)++] = s[k];
            }
        }
    } else {
        uint32_t acc = 0;
        int bits = 0;
        for (k = j + 3; k < e; k++) {
            int v = b64val((unsigned char)s[k]);
            if (v < 0)
                continue; /* padding, or junk a reader skips */
            acc = (acc << 6) | (uint32_t)v;
            if ((bits += 6) >= 8) {
                bits -= 8;
                out[(*o)++] = (char)((acc >> bits) & 0xff);
            }
        }
    }
    if (sg_charset_recode(s + i + 2, j - i - 2, out, start, o, cap) != 0)
        m->unreadable = 1;
    return e + 2 - i;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* End of a balanced comment (depth counted, quoted-pairs skipped) or
 * quoted string starting at v[i], just past its closing character; 0 if
 * it is not closed (then the opening character is just a character).
 * Every opener that is not closed is scanned to the end of the field, so
 * a field of N of them costs N^2/2 steps (64 KiB of "(", seconds of CPU):
 * the scans share *budget, and a scan the budget stops sets *cut. Reading
 * the rest differently (an opener as a character) could hide an address
 * (`ceo@bank(c).example` would read as "bank"), so a cut field is not read
 * at all: the caller judges it as naming several domains. */
static size_t balanced_end(const char *v, size_t n, size_t i, size_t *budget, int *cut)
{
    size_t depth = 0, k, end = n - i > *budget ? i + *budget : n, found = 0;
    if (v[i] == '"') {
        for (k = i + 1; k < end; k++) {
            if (v[k] == '\\' && k + 1 < n)
                k++;
            else if (v[k] == '"') {
                found = k + 1;
                break;
            }
        }
    } else {
        for (k = i; k < end; k++) {
            if (v[k] == '\\' && k + 1 < n)
                k++;
            else if (v[k] == '(')
                depth++;
            else if (v[k] == ')' && --depth == 0) {
                found = k + 1;
                break;
            }
        }
    }
    if (!found && end < n) {
        *cut = 1;
        *budget = 0;
        return 0;
    }
    *budget -= (k < end ? k : end) - i;
    return found;
}

/* How reader_text treats quoted strings and comments. */
enum {
    TEXT_ADDRESSES, /* both replaced by a space */
    TEXT_QUOTED,    /* quoted strings by their contents, comments by a space */
    TEXT_ALL,       /* both by their contents: all a person could read */
};

/* Does the text so far end in '@' (blanks after it aside)? */
static int after_at(const char *out, size_t o)
{
    while (o > 0 && out[o - 1] == ' ')
        o--;
    return o > 0 && out[o - 1] == '@';
}

/* After a quoted string ending at w: nothing but blanks, then the field's
 * end, ',' or ';'? */
static int alone_member(const char *v, size_t n, size_t w)
{
    while (w < n && is_blank(v[w]))
        w++;
    return w == n || v[w] == ',' || v[w] == ';';
}

/* The field's text as a lenient reader shows it: comments replaced by a
 * space (any depth), quoted strings replaced by a space - or, with
 * TEXT_QUOTED, by their contents (readers show `"ceo@bank.example"` as
 * that address), with TEXT_ALL comments too - encoded words decoded
 * (white space between two of them dropped, RFC 2047 6.2), line breaks as
 * spaces. Syntax is found in the raw field only: a decoded '"' or '(' is
 * a character, as RFC 2047 5 requires, so an encoded word cannot hide
 * text from this reading. */
static char *reader_text(sg_arena *arena, const char *v, size_t n, int quoted, size_t *olen,
                         int *cut)
{
    /* an encoded word's text in UTF-8 takes up to 3 bytes a byte of it */
    size_t cap = 3 * n + 16;
    char *out = sg_arena_alloc(arena, cap);
    /* 64 unclosed openers in a field: far beyond any mailer's mistake */
    size_t i = 0, o = 0, w, budget = 64 * n + 65536;
    /* one for the field, one for the quoted strings in it */
    ew_memo field = {0, 1, 0, 0, 0}, quoted_m = {0, 1, 0, 0, 0};
    int after_ew = 0;
    if (out == NULL)
        return NULL;
    while (i < n) {
        if (v[i] == '=' && (w = ew_decode(v, n, i, out, &o, cap, &field)) != 0) {
            i += w;
            after_ew = 1;
            continue;
        }
        if (after_ew && is_blank(v[i])) {
            size_t k = i;
            while (k < n && is_blank(v[k]))
                k++;
            if (k + 1 < n && v[k] == '=' && v[k + 1] == '?') {
                i = k;
                continue;
            }
        }
        after_ew = 0;
        if (v[i] == '[' && after_at(out, o)) {
            /* a domain literal is text to its first ']' (RFC 5322 3.4.1:
             * no '[', ']' or lone '\\' inside): a '"' or '(' in it opens
             * nothing, as for Python's reader. Taken for an opener, it hid
             * "ceo@ourco.test" up to a matching mark inside a later comment
             * or literal, and x@evil.test was the one domain found (rev32
             * R32-1) */
            size_t k = i + 1;
            while (k < n && v[k] != ']' && v[k] != '[')
                k += v[k] == '\\' && k + 1 < n ? 2 : 1;
            if (k < n && v[k] == ']') {
                for (; i <= k; i++)
                    out[o++] = is_blank(v[i]) ? ' ' : v[i];
                continue;
            }
        }
        if ((v[i] == '(' || v[i] == '"') && (w = balanced_end(v, n, i, &budget, cut)) != 0) {
            /* a quoted string standing alone as a list's member is what a
             * reader shows as that mailbox: `x@evil.test, "ceo@ourco.test"`
             * (rev32 R32-2); one before '<' or '@' is a name or a local
             * part */
            int alone = v[i] == '"' && quoted == TEXT_ADDRESSES && alone_member(v, n, w);
            if ((v[i] == '"' && quoted != TEXT_ADDRESSES) || quoted == TEXT_ALL || alone) {
                /* many readers decode encoded words here too; a comment
                 * keeps its parentheses (TEXT_ALL): it is a word of its
                 * own, and "ceo(x)@" must still show "ceo" (rev18) */
                int comment = v[i] == '(';
                if (comment)
                    out[o++] = '(';
                for (size_t k = i + 1, e; k + 1 < w; k++) {
                    if (v[k] == '=' && (e = ew_decode(v, w - 1, k, out, &o, cap, &quoted_m)) != 0) {
                        k += e - 1;
                        continue;
                    }
                    if (v[k] == '\\' && k + 2 < w)
                        k++;
                    out[o++] = is_blank(v[k]) ? ' ' : v[k];
                }
                if (comment)
                    out[o++] = ')';
            } else {
                out[o++] = ' ';
            }
            i = w;
            continue;
        }
        out[o++] = is_blank(v[i]) ? ' ' : v[i];
        i++;
    }
    out[o] = '\0';
    *olen = o;
    /* a word whose charset we cannot read could hold any address: the
     * field is not read (the caller judges it as naming several domains) */
    if (field.unreadable || quoted_m.unreadable)
        *cut = 1;
    return out;
}

static int domain_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/* Copy of c[0..n) without the bytes `drop` says to drop. */
static char *filtered(sg_arena *arena, const char *c, size_t n, int joiners_only, size_t *olen)
{
    char *o = sg_arena_alloc(arena, n + 1);
    size_t k = 0;
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t sl =
            (unsigned char)c[i] < 0x80 ? 1 : utf8_decode((const unsigned char *)c + i, n - i, &cp);
        if (sl == 0)
            sl = 1, cp = 0xfffd;
        else if (sl == 1)
            cp = (unsigned char)c[i];
        if (joiners_only ? !(cp == 0x200c || cp == 0x200d) : cp < 0x80)
            memcpy(o + k, c + i, sl), k += sl;
        i += sl;
    }
    o[k] = '\0';
    *olen = k;
    return o;
}

static int add_name(sg_arena *arena, const char *c, size_t n, domain_set *ds, int need_dot)
{
    char *norm;
    int rc;
    while (n > 0 && c[0] == '.')
        c++, n--;
    while (n > 0 && c[n - 1] == '.')
        n--;
    if (n == 0 || (need_dot && memchr(c, '.', n) == NULL))
        return SG_ESYNTAX;
    if ((rc = normalise(arena, c, n, &norm)) == 0)
        set_add(ds, norm);
    return rc;
}

/* One name as a reader shows it. IDNA2008/UTS #46 first (its mapping
 * already drops most invisible characters: U+200B, U+00AD, U+2060...);
 * then without ZWJ/ZWNJ, which are invisible and which older readers
 * drop (IDNA2003 / UTS #46 transitional), so `ba<ZWJ>nk.example` is
 * bank.example; a name IDNA refuses even then (a disallowed character
 * such as U+2044 or U+180E inside it) names every domain it could be read
 * as: its ASCII characters alone and each ASCII run with a dot -
 * `bank.example<U+2044>x.evil.example` names bank.example and
 * x.evil.example, so it has several author domains. */
static int in_ranges(uint32_t cp);

/* c[0..n) with each dot look-alike (dot_like: U+2024, U+FE52...) as '.'. */
static char *dots_read(sg_arena *arena, const char *c, size_t n, size_t *olen)
{
    char *o = sg_arena_alloc(arena, n + 1);
    size_t k = 0;
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0;
        size_t sl =
            (unsigned char)c[i] < 0x80 ? 1 : utf8_decode((const unsigned char *)c + i, n - i, &cp);
        if (sl == 0)
            sl = 1;
        int dot = (sl > 1 && in_ranges(cp)) || c[i] == '.';
        if (dot && k > 0 && o[k - 1] == '.')
            ; /* `ourco..test`: read around the extra dot, as a person does (rev30) */
        else if (dot)
            o[k++] = '.';
        else
            memcpy(o + k, c + i, sl), k += sl;
        i += sl;
    }
    o[k] = '\0';
    *olen = k;
    return o;
}

static int add_candidate(sg_arena *arena, const char *c, size_t n, domain_set *ds)
{
    char *f;
    size_t fl;
    int rc = add_name(arena, c, n, ds, 0);
    if (rc != SG_ESYNTAX)
        return rc;
    if ((f = filtered(arena, c, n, 1, &fl)) == NULL)
        return SG_ENOMEM;
    if ((rc = add_name(arena, f, fl, ds, 0)) != SG_ESYNTAX)
        return rc;
    /* a name IDNA refuses, its dot look-alikes read as dots: NFKC makes
     * U+2024 and U+FE52 '.', and `bank<U+2024>example` reads as
     * bank.example, which had no author domain at all (adv30 IN-4). A
     * name IDNA takes (col<U+00B7>legi.cat) keeps its letters above. */
    if ((f = dots_read(arena, c, n, &fl)) == NULL)
        return SG_ENOMEM;
    if (fl != n && (rc = add_name(arena, f, fl, ds, 0)) != SG_ESYNTAX)
        return rc;
    if ((f = filtered(arena, c, n, 0, &fl)) == NULL)
        return SG_ENOMEM;
    if (fl == n)
        return 0; /* all ASCII, and not a name */
    if ((rc = add_name(arena, f, fl, ds, 1)) == SG_ENOMEM)
        return rc;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && domain_byte((unsigned char)c[j]))
            j++;
        if (j > i && add_name(arena, c + i, j - i, ds, 1) == SG_ENOMEM)
            return SG_ENOMEM;
        i = j + 1;
    }
    return 0;
}

/* A control character or a byte that is not UTF-8 inside a name: readers
 * either drop it (Python's email package removes VT, FF and FS..US from a
 * domain, as white space) or draw it as nothing or a replacement mark, so
 * a person reads the name around it: `ban<VT>k.example` is bank.example,
 * and so is `<0x80>bank.example`. */
static int unseen_byte(const char *t, size_t n, size_t j)
{
    unsigned char c = (unsigned char)t[j];
    uint32_t cp;
    if (c < 0x20 || c == 0x7f)
        return 1;
    if (c >= 0x80 && utf8_decode((const unsigned char *)t + j, n - j, &cp) == 0)
        return 1;
    return 0;
}

/* An "@" as a person reads it at t[i]: the ASCII one, or the full-width
 * (U+FF20) and small (U+FE6B) commercial at, which are not addresses to
 * a mail system but look like one on screen. Returns its length, or 0. */
static size_t shown_at(const char *t, size_t n, size_t i)
{
    if (t[i] == '@')
        return 1;
    if (i + 2 < n && (unsigned char)t[i] == 0xef &&
        (((unsigned char)t[i + 1] == 0xbc && (unsigned char)t[i + 2] == 0xa0) ||
         ((unsigned char)t[i + 1] == 0xb9 && (unsigned char)t[i + 2] == 0xab)))
        return 3;
    return 0;
}

/* A name, not an address's part: a dot inside, a letter in its last label. */
static int name_like(const char *cand, size_t o)
{
    size_t last = o;
    while (last > 0 && cand[last - 1] == '.')
        last--;
    size_t dot = last;
    while (dot > 0 && cand[dot - 1] != '.')
        dot--;
    int letter = 0;
    for (size_t k = dot; k < last; k++)
        letter |= !(cand[k] >= '0' && cand[k] <= '9');
    return dot > 0 && letter;
}

/* The domains a reader could see after the "@" that ends at t[j] (white
 * space around "@" and around dots skipped, unseen bytes dropped) into
 * ds; cand is scratch of n + 1 bytes, latin of 2n + 1. A byte that is not
 * UTF-8 inside the name is also read as ISO-8859-1, as readers that fall
 * back to the message's charset show it: `b<0xFC>cher.example` is
 * bcher.example and bücher.example, two domains (adv30 IN-1). After the
 * name it ends the name, as before. */
static int at_domains(sg_arena *arena, const char *t, size_t n, size_t j, char *cand, char *latin,
                      domain_set *ds)
{
    size_t o = 0, lo = 0;
    int eight = 0, pending = 0; /* such a byte read, and a letter after it */
    int literal = 0;
    while (j < n && (t[j] == ' ' || unseen_byte(t, n, j)))
        j++;
    /* `ceo@[bank.example]`: a domain literal spelling a name is shown as
     * that name (the lax scan reads it so too); alone it had no author
     * domain, beside another address it hid our protected domain from the
     * judged one: "payroll@[ourco.test], x@evil.test" was authentic for
     * evil.test (rev30 R30-1). Its quoted pairs read as their character
     * (`[ourco\.test]` is shown [ourco.test]) and the name ends where a
     * name's characters do (`[bank.example;]`, `[bank.example:25]`: rev31
     * R31-2). An address literal ([192.0.2.1], [IPv6:...], [tag:...])
     * names no domain. */
    if (j < n && t[j] == '[') {
        literal = 1;
        for (j++; j < n && (t[j] == ' ' || t[j] == '\\' || unseen_byte(t, n, j)); j++)
            ;
    }
    while (j < n) {
        if (literal && t[j] == '\\' && j + 1 < n) {
            j++; /* a quoted pair: the character after it */
            continue;
        }
        unsigned char c = (unsigned char)t[j];
        uint32_t cp;
        size_t sl;
        if (domain_byte(c)) {
            cand[o++] = (char)c;
            latin[lo++] = (char)c;
            eight |= pending;
            j++;
        } else if (unseen_byte(t, n, j)) {
            if (c >= 0xa0 && o > 0) { /* a letter in ISO-8859-1 */
                latin[lo++] = (char)(0xc0 | (c >> 6));
                latin[lo++] = (char)(0x80 | (c & 0x3f));
                pending = 1;
            }
            j++;
        } else if (c >= 0x80 && (sl = utf8_decode((const unsigned char *)t + j, n - j, &cp)) != 0) {
            /* the next at sign ends the name: else every at sign read on
             * to the field's end, and 21,800 full-width ones in a 64 KiB
             * From cost 11.8 s and 2.3 GiB (adv35 F1) */
            if (shown_at(t, n, j))
                break;
            eight |= pending;
            memcpy(cand + o, t + j, sl);
            memcpy(latin + lo, t + j, sl);
            o += sl;
            lo += sl;
            j += sl;
        } else if (c == ' ') {
            size_t k = j;
            while (k < n && t[k] == ' ')
                k++;
            if ((o > 0 && cand[o - 1] == '.') || (k < n && t[k] == '.'))
                j = k;
            else if (literal && !name_like(cand, o) && k < n && t[k] != ']')
                j = k, o = lo = 0, eight = pending = 0;
            else
                break;
        } else if (literal && !name_like(cand, o) && c != ']' && c != '[' && c != '@') {
            /* inside a literal, text before a name is not the name:
             * [IPv6:ourco.test], [x:ourco.test], [*ourco.test] show
             * ourco.test (rev32 R32-3); after one, the name has ended. An
             * '@' or a bracket ends it too: each "@" is read up to the
             * next, or "@[@[@[..." cost the field's length each */
            j++, o = lo = 0, eight = pending = 0;
        } else {
            break;
        }
    }
    if (literal && !name_like(cand, o))
        return 0; /* an address literal: [192.0.2.1], [IPv6:2001:db8::1] */
    int rc = add_candidate(arena, cand, o, ds);
    if (rc == 0 && eight)
        rc = add_candidate(arena, latin, lo, ds);
    return rc;
}

/* The domains after each "@" in the reader's text of the field. */
static int reader_scan(sg_arena *arena, const char *value, size_t len, int quoted, domain_set *ds)
{
    size_t n;
    int cut = 0, rc;
    char *t = reader_text(arena, value, len, quoted, &n, &cut), *cand, *latin;
    if (t == NULL)
        return SG_ENOMEM;
    if (cut) {
        ds->more = 1;
        return 0;
    }
    /* one buffer for every candidate: a field of N "@" would otherwise
     * take N^2/2 bytes (a 64 KiB field, 2 GB) */
    if ((cand = sg_arena_alloc(arena, n + 1)) == NULL ||
        (latin = sg_arena_alloc(arena, 2 * n + 1)) == NULL)
        return SG_ENOMEM;
    for (size_t i = 0; i < n && !ds->more; i++)
        if (t[i] == '@' && (rc = at_domains(arena, t, n, i + 1, cand, latin, ds)) != 0)
            return rc;
    return 0;
}

static int strict_author(sg_arena *arena, const char *value, size_t len, sg_dmarc_author *out)
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

/* Every domain a reader could show as an address in this From value.
 * Text in a quoted display name is a name, not an address, when the field
 * has an address elsewhere (as for a field that parses); only a field
 * with none is read with its quoted strings as text. */
static int reader_view(sg_arena *arena, const char *value, size_t len, domain_set *ds)
{
    int rc = reader_scan(arena, value, len, TEXT_ADDRESSES, ds);
    if (rc == 0 && ds->n == 0 && !ds->more)
        rc = reader_scan(arena, value, len, TEXT_QUOTED, ds);
    return rc;
}

int sg_dmarc_author_from_value(sg_arena *arena, const char *value, size_t len, sg_dmarc_author *out)
{
    domain_set ds = {{0}, 0, 0};
    int rc = strict_author(arena, value, len, out);
    if (rc != 0 || out->status == SG_DMARC_AUTHOR_OK ||
        out->status == SG_DMARC_AUTHOR_MULTIPLE_DOMAINS)
        return rc;
    if ((rc = reader_view(arena, value ? value : "", len, &ds)) != 0)
        return rc;
    if (ds.n == 0 && !ds.more)
        return 0; /* no domain anywhere: the strict outcome stands */
    out->strict_status = out->status;
    out->lenient = 1;
    if (ds.n == 1 && !ds.more) {
        out->status = SG_DMARC_AUTHOR_OK;
        out->domain = ds.d[0];
    } else {
        out->status = SG_DMARC_AUTHOR_MULTIPLE_DOMAINS;
        out->domain = NULL;
    }
    return 0;
}

static int ascii_control(char c)
{
    return (unsigned char)c < 0x20 || c == 0x7f;
}

/* A byte of a local part as it reads on screen: RFC 5322 atext, dots,
 * and any byte of a UTF-8 character (RFC 6532). */
static int local_byte(unsigned char c)
{
    return sg_text_is_atext(c) || c == '.' || c >= 0x80;
}

/* Code points drawn as, or like, a full stop: after "@" a person reads
 * them as the dots of a domain, which IDNA either refuses (U+2024: the
 * name then fell apart) or takes as a letter of one label (U+A4F8), and
 * the address was not seen at all (rev18). Table-driven, sorted. */
static const struct {
    uint32_t lo, hi;
} dot_like[] = {
    {0x00B7, 0x00B7}, {0x0387, 0x0387}, {0x0589, 0x0589}, {0x0660, 0x0660}, {0x06D4, 0x06D4},
    {0x06F0, 0x06F0}, {0x0701, 0x0702}, {0x0964, 0x0964}, {0x16EB, 0x16EB}, {0x1803, 0x1803},
    {0x2024, 0x2024}, {0x2027, 0x2027}, {0x2219, 0x2219}, {0x22C5, 0x22C5}, {0x2E31, 0x2E31},
    {0x2E33, 0x2E33}, {0x2E3C, 0x2E3C}, {0x3002, 0x3002}, {0x30FB, 0x30FB}, {0xA4F8, 0xA4F8},
    {0xA60E, 0xA60E}, {0xFE12, 0xFE12}, {0xFE52, 0xFE52}, {0xFF0E, 0xFF0E}, {0xFF61, 0xFF61},
    {0xFF65, 0xFF65},
};

static int in_ranges(uint32_t cp)
{
    for (size_t k = 0; k < sizeof(dot_like) / sizeof(dot_like[0]) && dot_like[k].lo <= cp; k++)
        if (cp <= dot_like[k].hi)
            return 1;
    return 0;
}

/* The reader's text as it reads on screen, in place: a dot look-alike
 * becomes '.', the invisible direction marks (LRM, RLM, ALM) go. -1 when
 * the text holds a bidi override, embedding or isolate, which shows it
 * in another order than it is stored (`<RLO>tset.ocruo@oec` reads
 * ceo@ourco.test: rev18): such a field cannot be read here. */
static int screen_text(char *t, size_t *n)
{
    size_t o = 0;
    for (size_t i = 0; i < *n;) {
        uint32_t cp;
        size_t sl =
            (unsigned char)t[i] < 0x80 ? 1 : utf8_decode((const unsigned char *)t + i, *n - i, &cp);
        if (sl <= 1) {
            t[o++] = t[i++];
            continue;
        }
        if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
            return -1;
        if (cp == 0x200E || cp == 0x200F || cp == 0x061C) {
            i += sl;
            continue;
        }
        if (in_ranges(cp)) {
            t[o++] = '.';
            i += sl;
            continue;
        }
        memmove(t + o, t + i, sl);
        o += sl;
        i += sl;
    }
    t[o] = '\0';
    *n = o;
    return 0;
}

/* t[b..e) as a person sees it: control bytes and broken UTF-8 dropped. */
static char *copy_local(sg_arena *arena, const char *t, size_t b, size_t e)
{
    char *local = sg_arena_alloc(arena, e - b + 1);
    size_t ll = 0;
    if (local == NULL)
        return NULL;
    for (size_t j = b; j < e;) {
        uint32_t cp;
        size_t sl =
            (unsigned char)t[j] < 0x80 ? 1 : utf8_decode((const unsigned char *)t + j, e - j, &cp);
        if (sl == 0 || ascii_control(t[j])) {
            j++;
            continue;
        }
        memcpy(local + ll, t + j, sl);
        ll += sl;
        j += sl;
    }
    local[ll] = '\0';
    return local;
}

/* The start of the word of local-part bytes (and control bytes) ending
 * at e; an at sign before it ends it (the full-width ones are UTF-8, which
 * a local part may hold: each read back to the field's start, adv35 F1). */
static size_t word_start(const char *t, size_t e)
{
    while (e > 0 && (local_byte((unsigned char)t[e - 1]) || ascii_control(t[e - 1])) &&
           !(e >= 3 && shown_at(t, e, e - 3) == 3))
        e--;
    return e;
}

#define SHOWN_MAX_AT 256 /* at signs read in one field */

int sg_dmarc_shown_addresses(sg_arena *arena, const char *value, size_t len, sg_dmarc_shown *out,
                             size_t max, size_t *count, int *more)
{
    size_t n;
    int cut = 0, rc;
    char *t, *cand, *latin;
    if (arena == NULL || (value == NULL && len > 0) || (out == NULL && max > 0) || count == NULL ||
        more == NULL)
        return SG_EINVAL;
    *count = 0;
    *more = 0;
    if ((t = reader_text(arena, value ? value : "", len, TEXT_ALL, &n, &cut)) == NULL ||
        (cand = sg_arena_alloc(arena, n + 1)) == NULL ||
        (latin = sg_arena_alloc(arena, 2 * n + 1)) == NULL)
        return SG_ENOMEM;
    if (cut || screen_text(t, &n) != 0) {
        *more = 1; /* a field this hostile is not read at all */
        return 0;
    }
    for (size_t i = 0, w, ats = 0; i < n && !*more; i++) {
        if ((w = shown_at(t, n, i)) == 0)
            continue;
        /* each at sign costs copies of the text around it: a field of
         * thousands is no one's name, and is not read */
        if (++ats > SHOWN_MAX_AT) {
            *more = 1;
            break;
        }
        domain_set ds = {{0}, 0, 0};
        /* a handle ("Jane (@jane.example)"): no local part, nothing an
         * address needs before its "@" */
        int handle = i == 0 || t[i - 1] == ' ' || t[i - 1] == '(';
        size_t e = i, b;
        while (e > 0 && t[e - 1] == ' ')
            e--;
        int comment = e > 0 && t[e - 1] == ')'; /* "ceo(x)@": a comment ends at the "@" */
        /* back from "@" past what wraps a local part on screen - white
         * space, the quotes of `"bob"@`, the `>` or `)` of `<bob>@`,
         * invisible control characters - then over the local part itself
         * (rev17: each of these read as no local part, and was let
         * through) */
        while (e > 0 && (strchr(" \">)]", t[e - 1]) != NULL || ascii_control(t[e - 1])))
            e--;
        b = word_start(t, e);
        if ((rc = at_domains(arena, t, n, i + w, cand, latin, &ds)) != 0 && rc != SG_ESYNTAX)
            return rc;
        const char *locals[2] = {copy_local(arena, t, b, e), NULL};
        if (locals[0] == NULL)
            return SG_ENOMEM;
        /* "ceo(x)@" is ceo's address with a comment: the word before the
         * comment is shown too (rev18) */
        if (comment && b > 0 && t[b - 1] == '(') {
            size_t e2 = b - 1;
            while (e2 > 0 && t[e2 - 1] == ' ')
                e2--;
            size_t b2 = word_start(t, e2);
            if (b2 < e2 && (locals[1] = copy_local(arena, t, b2, e2)) == NULL)
                return SG_ENOMEM;
        }
        for (size_t l = 0; l < 2 && locals[l]; l++)
            for (size_t k = 0; k < ds.n; k++) {
                if (strchr(ds.d[k], '.') == NULL)
                    continue; /* "Team @ HQ" names no address */
                if (locals[l][0] == '\0' && handle)
                    continue;
                if (*count == max) {
                    *more = 1;
                    break;
                }
                out[(*count)++] = (sg_dmarc_shown){locals[l], ds.d[k]};
            }
        *more |= ds.more;
        i += w - 1;
    }
    return 0;
}

/* Field names compare case-insensitively (RFC 5322 1.2.2). Scanned here
 * rather than with sg_headers_find() to keep this file independent of the
 * message parser's implementation. */
static int is_from(const sg_header *h)
{
    return h->name_len == 4 && sg_ascii_ncasecmp(h->name, "From", 4) == 0;
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
