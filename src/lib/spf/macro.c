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
#include <stdlib.h>
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

/* out_put of n bytes that a later SG_SPF_MAX_EXPANSION bytes push out of
 * the result: only where the buffer stands afterwards matters, since the
 * final window's size follows from the total length (DOMAIN mode). */
static void out_skip(outbuf *o, size_t n)
{
    while (n > 0) {
        if (o->len == SG_SPF_MAX_EXPANSION)
            o->len = 512;
        size_t room = SG_SPF_MAX_EXPANSION - o->len;
        size_t k = n < room ? n : room;
        o->len += k;
        n -= k;
    }
}

static int is_unreserved(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 7208 7.3: uppercase macro letters URL-escape the value: every
 * character outside the RFC 3986 "unreserved" set becomes %XX. */
static void out_put_escaped(outbuf *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c)) {
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

/* ---- a letter's value, read once per expansion ----------------------------
 * A record can hold thousands of macros of the same letter (a 64 KB TXT
 * of %{lr-.+,/_=}) and the value comes from the sender (a MAIL FROM local
 * part of 4,000 bytes): reading the value once per macro cost the product
 * of the two (adv35 F3). So each letter's value is read once: where each
 * delimiter is, and how long its URL-escaped form is up to each byte.
 * Then a macro finds its parts with at most 128 steps per delimiter (the
 * digit transformer's cap) and knows its length without writing it. */

#define NDELIM 7
static const char delim_chars[NDELIM + 1] = ".-+,/_=";

typedef struct {
    int ready;
    const char *v;
    size_t n;
    size_t *pos[NDELIM]; /* ascending positions of each delimiter */
    size_t cnt[NDELIM];
    size_t *esc; /* esc[i]: the URL-escaped length of v[0..i) */
    size_t *block;
} value_info;

static const char letters[] = "slodipvhcrt";
#define NLETTERS (sizeof letters - 1)

static int value_read(value_info *vi, const char *v)
{
    size_t n = strlen(v), total = 0;
    vi->v = v;
    vi->n = n;
    for (size_t i = 0; i < n; i++)
        total += is_delim((unsigned char)v[i]);
    vi->block = malloc((total + n + 1) * sizeof *vi->block);
    if (vi->block == NULL)
        return SG_ENOMEM;
    memset(vi->cnt, 0, sizeof vi->cnt);
    for (size_t i = 0; i < n; i++)
        if (is_delim((unsigned char)v[i]))
            vi->cnt[strchr(delim_chars, v[i]) - delim_chars]++;
    size_t off = 0;
    for (size_t d = 0; d < NDELIM; d++) {
        vi->pos[d] = vi->block + off;
        off += vi->cnt[d];
        vi->cnt[d] = 0;
    }
    vi->esc = vi->block + off;
    vi->esc[0] = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (is_delim(c)) {
            size_t d = (size_t)(strchr(delim_chars, c) - delim_chars);
            vi->pos[d][vi->cnt[d]++] = i;
        }
        vi->esc[i + 1] = vi->esc[i] + (is_unreserved(c) ? 1 : 3);
    }
    vi->ready = 1;
    return 0;
}

/* positions of delimiter d below x */
static size_t count_below(const value_info *vi, size_t d, size_t x)
{
    size_t lo = 0, hi = vi->cnt[d];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vi->pos[d][mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The k-th (from 1) delimiter of the set from the left (from_right 0) or
 * the right; k is at most the number there is. */
static size_t kth_delim(const value_info *vi, unsigned set, size_t k, int from_right)
{
    size_t idx[NDELIM] = {0}, at = 0;
    while (k-- > 0) {
        size_t best = NDELIM;
        for (size_t d = 0; d < NDELIM; d++) {
            if (!(set & (1u << d)) || idx[d] == vi->cnt[d])
                continue;
            size_t p = from_right ? vi->pos[d][vi->cnt[d] - 1 - idx[d]] : vi->pos[d][idx[d]];
            if (best == NDELIM || (from_right ? p > at : p < at)) {
                best = d;
                at = p;
            }
        }
        idx[best]++;
    }
    return at;
}

/* One macro as a range of its value: the output is v[from..to) with each
 * delimiter of the set as '.' (in reverse part order if reverse). */
typedef struct {
    unsigned set;
    int upper, reverse;
    size_t from, to, len; /* len: the output's length */
} macro_range;

/* Split on the delimiters, optionally reverse, keep the rightmost
 * `digits` parts, join with '.' (RFC 7208 7.3). Kept in order, the
 * rightmost parts are the value after the take-th delimiter from the
 * right; reversed, they are the first `take` parts of the value. */
static void macro_locate(const token *t, const value_info *vi, macro_range *m)
{
    m->set = 0;
    if (t->ndelims == 0)
        m->set = 1u; /* '.' */
    for (size_t i = 0; i < t->ndelims; i++)
        m->set |= 1u << (strchr(delim_chars, t->delims[i]) - delim_chars);
    m->upper = t->letter >= 'A' && t->letter <= 'Z';
    m->reverse = t->reverse;
    size_t ndel = 0;
    for (size_t d = 0; d < NDELIM; d++)
        if (m->set & (1u << d))
            ndel += vi->cnt[d];
    size_t nparts = ndel + 1, take = nparts;
    if (t->digits > 0 && t->digits < nparts)
        take = t->digits;
    m->from = 0;
    m->to = vi->n;
    if (take < nparts) {
        if (!t->reverse)
            m->from = kth_delim(vi, m->set, take, 1) + 1;
        else
            m->to = kth_delim(vi, m->set, take, 0);
    }
    m->len = m->to - m->from;
    if (m->upper) {
        /* a delimiter is written as '.', one byte, whatever its escape */
        m->len = vi->esc[m->to] - vi->esc[m->from];
        for (size_t d = 0; d < NDELIM; d++)
            if ((m->set & (1u << d)) && !is_unreserved((unsigned char)delim_chars[d]))
                m->len -= 2 * (count_below(vi, d, m->to) - count_below(vi, d, m->from));
    }
}

static int in_set(unsigned set, unsigned char c)
{
    const char *d = is_delim(c) ? strchr(delim_chars, c) : NULL;
    return d != NULL && (set & (1u << (d - delim_chars)));
}

static void put_piece(outbuf *o, const char *p, size_t n, int upper)
{
    if (upper)
        out_put_escaped(o, p, n);
    else
        out_put(o, p, n);
}

/* Writes the macro; stops reading the value once an explanation is full
 * (EXP mode), the one place the buffer does not slide. */
static void macro_write(outbuf *o, const value_info *vi, const macro_range *m)
{
    const char *v = vi->v;
    if (!m->reverse) {
        size_t start = m->from;
        for (size_t i = m->from; i < m->to; i++) {
            if (!in_set(m->set, (unsigned char)v[i]))
                continue;
            put_piece(o, v + start, i - start, m->upper);
            out_put(o, ".", 1);
            start = i + 1;
            if (o->mode != SG_SPF_MACRO_DOMAIN && o->len == SG_SPF_MAX_EXPANSION)
                return;
        }
        put_piece(o, v + start, m->to - start, m->upper);
        return;
    }
    /* the parts of v[from..to) from the last one back */
    size_t end = m->to;
    for (size_t i = m->to; i > m->from; i--) {
        if (!in_set(m->set, (unsigned char)v[i - 1]))
            continue;
        put_piece(o, v + i, end - i, m->upper);
        out_put(o, ".", 1);
        end = i - 1;
        if (o->mode != SG_SPF_MACRO_DOMAIN && o->len == SG_SPF_MAX_EXPANSION)
            return;
    }
    put_piece(o, v + m->from, end - m->from, m->upper);
}

typedef struct {
    value_info vi[NLETTERS];
    const sg_spf_macro_ctx *ctx;
    char tbuf[32];
} letter_cache;

static int cache_get(letter_cache *lc, unsigned char letter, const value_info **out)
{
    size_t k = (size_t)(strchr(letters, lower(letter)) - letters);
    value_info *vi = &lc->vi[k];
    if (!vi->ready) {
        int rc = value_read(vi, letter_value(lc->ctx, letter, lc->tbuf, sizeof lc->tbuf));
        if (rc != 0)
            return rc;
    }
    *out = vi;
    return 0;
}

static void cache_free(letter_cache *lc)
{
    for (size_t k = 0; k < NLETTERS; k++)
        free(lc->vi[k].block);
    free(lc);
}

/* The output length of the token at *pos (advancing it), and the token. */
static int token_len(letter_cache *lc, const char *spec, size_t len, size_t *pos,
                     sg_spf_macro_mode mode, token *t, macro_range *m, const value_info **vi,
                     size_t *n, const char **reason)
{
    int rc = next_token(spec, len, pos, mode, t, reason);
    if (rc != 0)
        return rc;
    switch (t->kind) {
    case TOK_LIT:
    case TOK_SPACE:
        *n = t->end - t->start;
        break;
    case TOK_ESC:
        *n = strlen(t->esc);
        break;
    case TOK_MACRO:
        if ((rc = cache_get(lc, t->letter, vi)) != 0)
            return rc;
        macro_locate(t, *vi, m);
        *n = m->len;
        break;
    }
    return 0;
}

int sg_spf_macro_expand(char **out, size_t *outlen, sg_arena *arena, const char *spec, size_t len,
                        const sg_spf_macro_ctx *ctx, sg_spf_macro_mode mode, const char **reason)
{
    const char *dummy;
    size_t pos = 0, total = 0;
    token t;
    macro_range m;
    const value_info *vi = NULL;
    /* the work buffer lives on the stack (4 KiB): only the result goes
     * to the arena, so a check that expands many terms stays small */
    outbuf ob, *o = &ob;
    letter_cache *lc = calloc(1, sizeof *lc);
    if (lc == NULL)
        return SG_ENOMEM;
    lc->ctx = ctx;
    if (reason == NULL)
        reason = &dummy;
    memset(o->buf, 0, sizeof o->buf);
    o->len = 0;
    o->mode = mode;
    /* DOMAIN mode keeps the end of the expansion: first the length of
     * each token, then only the tokens that reach the last
     * SG_SPF_MAX_EXPANSION bytes are written; the others only move the
     * buffer as their bytes would. */
    if (mode == SG_SPF_MACRO_DOMAIN) {
        while (pos < len) {
            size_t n = 0;
            int rc = token_len(lc, spec, len, &pos, mode, &t, &m, &vi, &n, reason);
            if (rc != 0) {
                cache_free(lc);
                return rc;
            }
            total += n;
        }
        pos = 0;
    }
    size_t at = 0; /* bytes of the expansion so far */
    while (pos < len) {
        size_t n = 0;
        int rc = token_len(lc, spec, len, &pos, mode, &t, &m, &vi, &n, reason);
        if (rc != 0) {
            cache_free(lc);
            return rc;
        }
        if (mode == SG_SPF_MACRO_DOMAIN && total - at - n >= SG_SPF_MAX_EXPANSION) {
            out_skip(o, n);
        } else if (mode == SG_SPF_MACRO_DOMAIN || o->len < SG_SPF_MAX_EXPANSION) {
            switch (t.kind) {
            case TOK_LIT:
            case TOK_SPACE:
                out_put(o, spec + t.start, t.end - t.start);
                break;
            case TOK_ESC:
                out_put(o, t.esc, strlen(t.esc));
                break;
            case TOK_MACRO:
                macro_write(o, vi, &m);
                break;
            }
        }
        at += n;
    }
    cache_free(lc);
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
