/*
 * SPF macro language (RFC 7208 7): syntax check and expansion.
 *
 *   macro-expand = ( "%{" macro-letter transformers *delimiter "}" )
 *                  / "%%" / "%_" / "%-"
 *   macro-literal = %x21-24 / %x26-7E
 *   transformers = *DIGIT [ "r" ]
 *   delimiter = "." / "-" / "+" / "," / "/" / "_" / "="
 *
 * The expander is a single bounded pass over the spec; it never recurses
 * and never reads past len (the spec may contain NUL bytes).
 */
#include "spf_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------ */

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_delim(unsigned char c)
{
    return c != 0 && strchr(".-+,/_=", c) != NULL;
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* RFC 7208 7.2 letters; the second column says "exp only" (7.2). */
static int letter_class(unsigned char c)
{
    switch (lower(c)) {
    case 's':
    case 'l':
    case 'o':
    case 'd':
    case 'i':
    case 'p':
    case 'v':
    case 'h':
        return 1;
    case 'c':
    case 'r':
    case 't':
        return 2;
    default:
        return 0;
    }
}

/* One token of a macro-string. */
typedef struct {
    enum { TOK_LIT, TOK_SPACE, TOK_MACRO, TOK_ESC } kind;
    size_t start, end; /* [start, end) in the spec */
    /* TOK_MACRO */
    unsigned char letter; /* as written (case carries the URL-escape flag) */
    unsigned digits;      /* 0: none */
    int reverse;
    const char *delims; /* points into the spec */
    size_t ndelims;
    /* TOK_ESC: the replacement text */
    const char *esc;
} token;

/* Read the token at *pos. Returns 0 or SG_ESYNTAX with *reason. */
static int next_token(const char *s, size_t len, size_t *pos, sg_spf_macro_mode mode, token *t,
                      const char **reason)
{
    size_t i = *pos;
    unsigned char c = (unsigned char)s[i];
    t->start = i;
    if (c == '%') {
        if (i + 1 >= len) {
            *reason = "'%' at the end of a macro-string";
            return SG_ESYNTAX;
        }
        unsigned char n = (unsigned char)s[i + 1];
        if (n == '%' || n == '_' || n == '-') {
            t->kind = TOK_ESC;
            t->esc = n == '%' ? "%" : n == '_' ? " " : "%20";
            t->end = *pos = i + 2;
            return 0;
        }
        if (n != '{') {
            *reason = "'%' not followed by '{', '%', '_' or '-'";
            return SG_ESYNTAX;
        }
        i += 2;
        if (i >= len || letter_class((unsigned char)s[i]) == 0) {
            *reason = "unknown macro letter";
            return SG_ESYNTAX;
        }
        if (letter_class((unsigned char)s[i]) == 2 && mode == SG_SPF_MACRO_DOMAIN) {
            *reason = "macro letters c, r, t are only allowed in explanations";
            return SG_ESYNTAX;
        }
        t->kind = TOK_MACRO;
        t->letter = (unsigned char)s[i++];
        t->digits = 0;
        t->reverse = 0;
        if (i < len && is_digit((unsigned char)s[i])) {
            unsigned long v = 0;
            while (i < len && is_digit((unsigned char)s[i])) {
                if (v <= 100000)
                    v = v * 10 + (unsigned)(s[i] - '0');
                i++;
            }
            /* RFC 7208 7.3: "If a DIGIT is specified, the value MUST be
             * nonzero." */
            if (v == 0) {
                *reason = "macro digit transformer is zero";
                return SG_ESYNTAX;
            }
            t->digits = v > SG_SPF_MAX_MACRO_DIGITS ? SG_SPF_MAX_MACRO_DIGITS : (unsigned)v;
        }
        if (i < len && lower((unsigned char)s[i]) == 'r') {
            t->reverse = 1;
            i++;
        }
        t->delims = s + i;
        while (i < len && is_delim((unsigned char)s[i]))
            i++;
        t->ndelims = (size_t)(s + i - t->delims);
        if (i >= len || s[i] != '}') {
            *reason = "malformed macro (expected '}')";
            return SG_ESYNTAX;
        }
        t->end = *pos = i + 1;
        return 0;
    }
    if (c == ' ' && mode == SG_SPF_MACRO_EXP) {
        t->kind = TOK_SPACE;
        t->end = *pos = i + 1;
        return 0;
    }
    /* macro-literal: %x21-24 / %x26-7E; a run of them is one token */
    if (c < 0x21 || c > 0x7e) {
        *reason = "invalid character in macro-string";
        return SG_ESYNTAX;
    }
    while (i < len) {
        c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e || c == '%')
            break;
        i++;
    }
    t->kind = TOK_LIT;
    t->end = *pos = i;
    return 0;
}

/* toplabel = ( *alphanum ALPHA *alphanum ) /
 *            ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
 * i.e. LDH, no leading/trailing hyphen, not all digits. */
static int toplabel_ok(const char *s, size_t len)
{
    int alpha_or_hyphen = 0;
    if (len == 0 || s[0] == '-' || s[len - 1] == '-')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_alpha(c) || c == '-')
            alpha_or_hyphen = 1;
        else if (!is_digit(c))
            return 0;
    }
    return alpha_or_hyphen;
}

int sg_spf_macro_check(const char *spec, size_t len, sg_spf_macro_mode mode, const char **reason)
{
    size_t pos = 0, last_macro_end = (size_t)-1;
    const char *dummy;
    token t;
    if (reason == NULL)
        reason = &dummy;
    while (pos < len) {
        int rc = next_token(spec, len, &pos, mode, &t, reason);
        if (rc != 0)
            return rc;
        if (t.kind == TOK_MACRO || t.kind == TOK_ESC)
            last_macro_end = t.end;
    }
    if (mode != SG_SPF_MACRO_DOMAIN)
        return 0;
    /* domain-end = ( "." toplabel [ "." ] ) / macro-expand (RFC 7208 7.1) */
    if (len == 0) {
        *reason = "empty domain-spec";
        return SG_ESYNTAX;
    }
    if (last_macro_end == len)
        return 0;
    size_t end = len;
    if (spec[end - 1] == '.')
        end--;
    size_t dot = end;
    while (dot > 0 && spec[dot - 1] != '.')
        dot--;
    if (dot == 0 || (last_macro_end != (size_t)-1 && dot - 1 < last_macro_end) ||
        !toplabel_ok(spec + dot, end - dot)) {
        *reason = "domain-spec does not end in a valid top label";
        return SG_ESYNTAX;
    }
    return 0;
}

int sg_spf_macro_needs_ptr(const char *spec, size_t len)
{
    for (size_t i = 0; i + 2 < len; i++) {
        if (spec[i] == '%') {
            if (spec[i + 1] == '{' && lower((unsigned char)spec[i + 2]) == 'p')
                return 1;
            i++; /* skip the escaped character ("%%{p}" is a literal) */
        }
    }
    return 0;
}

/* ---- expansion ---------------------------------------------------------- */

typedef struct {
    char buf[SG_SPF_MAX_EXPANSION + 1];
    size_t len;
    sg_spf_macro_mode mode;
} outbuf;

/* Append; in DOMAIN mode the left side is dropped when the buffer fills,
 * which is safe because only the last 253 octets (cut at a label
 * boundary) survive the final truncation (RFC 7208 7.3). In EXP mode the
 * text is cut at SG_SPF_MAX_EXPANSION. */
static void out_put(outbuf *o, const char *s, size_t n)
{
    while (n > 0) {
        if (o->len == SG_SPF_MAX_EXPANSION) {
            if (o->mode != SG_SPF_MACRO_DOMAIN)
                return;
            size_t keep = 512;
            memmove(o->buf, o->buf + o->len - keep, keep);
            o->len = keep;
        }
        size_t room = SG_SPF_MAX_EXPANSION - o->len;
        size_t k = n < room ? n : room;
        memcpy(o->buf + o->len, s, k);
        o->len += k;
        s += k;
        n -= k;
    }
}

/* RFC 7208 7.3: uppercase macro letters URL-escape the value: every
 * character outside the RFC 3986 "unreserved" set becomes %XX. */
static void out_put_escaped(outbuf *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out_put(o, (const char *)&s[i], 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            out_put(o, e, 3);
        }
    }
}

static const char *letter_value(const sg_spf_macro_ctx *ctx, unsigned char letter, char *tbuf,
                                size_t tbufsize)
{
    const char *v = NULL;
    switch (lower(letter)) {
    case 's':
        v = ctx->sender;
        break;
    case 'l':
        v = ctx->local;
        break;
    case 'o':
        v = ctx->sender_domain;
        break;
    case 'd':
        v = ctx->domain;
        break;
    case 'i':
        v = ctx->ip_i;
        break;
    case 'p':
        v = ctx->ptr ? ctx->ptr : "unknown";
        break;
    case 'v':
        v = ctx->v6 ? "ip6" : "in-addr";
        break;
    case 'h':
        v = ctx->helo;
        break;
    case 'c':
        v = ctx->ip_c;
        break;
    case 'r':
        v = ctx->receiver ? ctx->receiver : "unknown";
        break;
    case 't':
        snprintf(tbuf, tbufsize, "%" PRId64, ctx->now);
        v = tbuf;
        break;
    }
    return v ? v : "";
}

static void put_part(outbuf *o, const char *p, size_t n, int upper, int first)
{
    if (!first)
        out_put(o, ".", 1);
    if (upper)
        out_put_escaped(o, p, n);
    else
        out_put(o, p, n);
}

/* Split on the delimiters, optionally reverse, keep the rightmost
 * `digits` parts, join with '.' (RFC 7208 7.3). Every byte of the value is
 * looked at a bounded number of times, without a parts array: the value
 * comes from the sender (a MAIL FROM local part of 2,000 labels) and a
 * record may expand 85 macros in each of 10 terms, so a scan per part
 * (quadratic) cost seconds a message. */
static void expand_macro(outbuf *o, const token *t, const char *val)
{
    size_t vlen = strlen(val);
    const char *delims = ".";
    size_t ndelims = 1;
    if (t->ndelims > 0) {
        delims = t->delims;
        ndelims = t->ndelims;
    }
    int upper = t->letter >= 'A' && t->letter <= 'Z';
    if (t->digits == 0 && !t->reverse && ndelims == 1 && delims[0] == '.') {
        /* common case: the value as is */
        if (upper)
            out_put_escaped(o, val, vlen);
        else
            out_put(o, val, vlen);
        return;
    }
    size_t nparts = 1;
    for (size_t i = 0; i < vlen; i++)
        if (memchr(delims, val[i], ndelims) != NULL)
            nparts++;
    size_t take = nparts;
    if (t->digits > 0 && t->digits < nparts)
        take = t->digits;
    if (!t->reverse) {
        /* the rightmost `take` parts in order: skip the others */
        size_t skip = nparts - take, i = 0, k = 0;
        for (; i < vlen && skip > 0; i++)
            if (memchr(delims, val[i], ndelims) != NULL)
                skip--;
        for (size_t start = i; k < take; k++) {
            size_t end = start;
            while (end < vlen && memchr(delims, val[end], ndelims) == NULL)
                end++;
            put_part(o, val + start, end - start, upper, k == 0);
            start = end + 1;
        }
        return;
    }
    /* reversed, the rightmost `take` are source parts take-1 .. 0: find
     * where part take-1 ends, then walk back */
    size_t end = 0, seen = 0;
    while (end < vlen && !(memchr(delims, val[end], ndelims) != NULL && ++seen == take))
        end++;
    for (size_t k = 0; k < take; k++) {
        size_t start = end;
        while (start > 0 && memchr(delims, val[start - 1], ndelims) == NULL)
            start--;
        put_part(o, val + start, end - start, upper, k == 0);
        end = start > 0 ? start - 1 : 0;
    }
}

int sg_spf_macro_expand(char **out, size_t *outlen, sg_arena *arena, const char *spec, size_t len,
                        const sg_spf_macro_ctx *ctx, sg_spf_macro_mode mode, const char **reason)
{
    const char *dummy;
    char tbuf[32];
    size_t pos = 0;
    token t;
    /* the work buffer lives on the stack (4 KiB): only the result goes
     * to the arena, so a check that expands many terms stays small */
    outbuf ob, *o = &ob;
    if (reason == NULL)
        reason = &dummy;
    o->len = 0;
    o->mode = mode;
    while (pos < len) {
        int rc = next_token(spec, len, &pos, mode, &t, reason);
        if (rc != 0)
            return rc;
        switch (t.kind) {
        case TOK_LIT:
        case TOK_SPACE:
            out_put(o, spec + t.start, t.end - t.start);
            break;
        case TOK_ESC:
            out_put(o, t.esc, strlen(t.esc));
            break;
        case TOK_MACRO:
            expand_macro(o, &t, letter_value(ctx, t.letter, tbuf, sizeof(tbuf)));
            break;
        }
    }
    char *res = o->buf;
    size_t n = o->len;
    if (mode == SG_SPF_MACRO_DOMAIN) {
        /* RFC 7208 7.3: remove labels from the left until <= 253. A
         * trailing dot is not counted (it is dropped before the query). */
        size_t eff = (n > 0 && res[n - 1] == '.') ? n - 1 : n;
        while (eff > 253) {
            char *dot = memchr(res, '.', eff);
            if (dot == NULL)
                break; /* one huge label: left invalid, caller rejects */
            size_t cut = (size_t)(dot - res) + 1;
            res += cut;
            n -= cut;
            eff -= cut;
        }
    }
    *out = sg_arena_strndup(arena, res, n);
    if (*out == NULL)
        return SG_ENOMEM;
    if (outlen != NULL)
        *outlen = n;
    return 0;
}
