/*
 * Authentication-Results (RFC 8601 2.2) strict parser.
 *
 *   authres-header = "Authentication-Results:" [CFWS] authserv-id
 *                    [ CFWS authres-version ]
 *                    ( no-result / 1*resinfo ) [CFWS] CRLF
 *   authres-version = 1*DIGIT [CFWS]
 *   no-result = [CFWS] ";" [CFWS] "none"
 *   resinfo = [CFWS] ";" methodspec [ CFWS reasonspec ]
 *             [ CFWS 1*propspec ]
 *   methodspec = [CFWS] method [CFWS] "=" [CFWS] result
 *   reasonspec = "reason" [CFWS] "=" [CFWS] value [CFWS]
 *   propspec = ptype [CFWS] "." [CFWS] property [CFWS] "=" pvalue
 *   method = Keyword [ [CFWS] "/" [CFWS] method-version ]
 *   pvalue = [CFWS] ( value / [ [ local-part ] "@" ] domain-name ) [CFWS]
 *
 * A single forward pass, no recursion (comment nesting is a counter).
 * Comments and quoted-strings are scanned twice: once to validate and
 * measure, once to copy into an arena string of the right size.
 */
#include "authres_int.h"

#include <string.h>

typedef struct {
    const char *s;
    size_t n;
    size_t pos;
    sg_arena *arena;
    int err;
    size_t err_pos;
} parser;

static int fail(parser *p, int err)
{
    if (p->err == SG_OK) {
        p->err = err;
        p->err_pos = p->pos;
    }
    return err;
}

static int at(const parser *p, char c)
{
    return p->pos < p->n && p->s[p->pos] == c;
}

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 5322 3.2.2 FWS: a CR is only ever the start of CRLF followed by
 * WSP; anything else (bare CR, bare LF, CRLF at the end) is refused. */
static int fold_at(const parser *p, size_t i)
{
    return i + 2 < p->n && p->s[i] == '\r' && p->s[i + 1] == '\n' && is_wsp(p->s[i + 2]);
}

/* Bytes allowed as ctext/qtext besides the delimiters: printable ASCII
 * and (RFC 6532) any byte >= 0x80. */
static int is_text(unsigned char c)
{
    return (c >= 33 && c <= 126) || c >= 0x80;
}

/* Scan a comment starting at "(": validate, and if out is not NULL copy
 * its content (nested parentheses kept, quoted-pairs resolved, folding
 * CRLFs dropped). *len receives the content length. */
static int scan_comment(parser *p, char *out, size_t *len)
{
    size_t depth = 0, k = 0;
    do {
        if (p->pos >= p->n)
            return fail(p, SG_ESYNTAX); /* unterminated */
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '(') {
            if (++depth > SG_AUTHRES_MAX_COMMENT_DEPTH)
                return fail(p, SG_ELIMIT);
            if (depth == 1) {
                p->pos++;
                continue;
            }
        } else if (c == ')') {
            if (--depth == 0) {
                p->pos++;
                break;
            }
        } else if (c == '\\') {
            /* quoted-pair = "\" (VCHAR / WSP) */
            if (p->pos + 1 >= p->n)
                return fail(p, SG_ESYNTAX);
            unsigned char q = (unsigned char)p->s[p->pos + 1];
            if (!is_text(q) && !is_wsp((char)q)) {
                p->pos++;
                return fail(p, SG_ESYNTAX);
            }
            p->pos++;
            c = q;
        } else if (c == '\r') {
            if (!fold_at(p, p->pos))
                return fail(p, SG_ESYNTAX);
            p->pos += 2;
            continue;
        } else if (!is_text(c) && !is_wsp((char)c)) {
            return fail(p, SG_ESYNTAX);
        }
        if (out != NULL)
            out[k] = (char)c;
        k++;
        p->pos++;
    } while (depth > 0);
    *len = k;
    return SG_OK;
}

/* Scan a quoted-string starting at DQUOTE; same contract as above. */
static int scan_qstring(parser *p, char *out, size_t *len)
{
    size_t k = 0;
    p->pos++; /* DQUOTE */
    for (;;) {
        if (p->pos >= p->n)
            return fail(p, SG_ESYNTAX);
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c == '\\') {
            if (p->pos + 1 >= p->n)
                return fail(p, SG_ESYNTAX);
            unsigned char q = (unsigned char)p->s[p->pos + 1];
            if (!is_text(q) && !is_wsp((char)q)) {
                p->pos++;
                return fail(p, SG_ESYNTAX);
            }
            p->pos++;
            c = q;
        } else if (c == '\r') {
            if (!fold_at(p, p->pos))
                return fail(p, SG_ESYNTAX);
            p->pos += 2;
            continue;
        } else if (!is_text(c) && !is_wsp((char)c)) {
            return fail(p, SG_ESYNTAX);
        }
        if (out != NULL)
            out[k] = (char)c;
        k++;
        p->pos++;
    }
    *len = k;
    return SG_OK;
}

typedef int (*scan_fn)(parser *, char *, size_t *);

/* Validate, then copy into the arena. */
static int scan_copy(parser *p, scan_fn fn, const char **out)
{
    size_t start = p->pos, len = 0;
    int rc = fn(p, NULL, &len);
    if (rc != SG_OK)
        return rc;
    size_t end = p->pos;
    char *buf = sg_arena_alloc(p->arena, len + 1);
    if (buf == NULL)
        return fail(p, SG_ENOMEM);
    p->pos = start;
    rc = fn(p, buf, &len);
    if (rc != SG_OK || p->pos != end)
        return fail(p, SG_EINVAL); /* cannot happen: same input twice */
    buf[len] = '\0';
    *out = buf;
    return SG_OK;
}

/* [CFWS]: *any set when something was skipped; the first comment is
 * copied to *first_comment when that is not NULL (and still NULL). */
static int skip_cfws(parser *p, int *any, const char **first_comment)
{
    int seen = 0;
    while (p->pos < p->n) {
        char c = p->s[p->pos];
        if (is_wsp(c)) {
            p->pos++;
        } else if (c == '\r' || c == '\n') {
            if (!fold_at(p, p->pos))
                return fail(p, SG_ESYNTAX);
            p->pos += 2;
        } else if (c == '(') {
            int rc;
            if (first_comment != NULL && *first_comment == NULL) {
                rc = scan_copy(p, scan_comment, first_comment);
            } else {
                size_t len;
                rc = scan_comment(p, NULL, &len);
            }
            if (rc != SG_OK)
                return rc;
        } else {
            break;
        }
        seen = 1;
    }
    if (any != NULL)
        *any = seen;
    return SG_OK;
}

static int is_ldh(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* A Keyword, copied. */
static int keyword(parser *p, const char **out)
{
    size_t start = p->pos;
    while (p->pos < p->n && is_ldh(p->s[p->pos]))
        p->pos++;
    size_t len = p->pos - start;
    if (len > SG_AUTHRES_MAX_KEYWORD) {
        p->pos = start;
        return fail(p, SG_ELIMIT);
    }
    if (!sg_authres_is_keyword(p->s + start, len)) {
        p->pos = start;
        return fail(p, SG_ESYNTAX);
    }
    *out = sg_arena_strndup(p->arena, p->s + start, len);
    return *out ? SG_OK : fail(p, SG_ENOMEM);
}

/* 1*DIGIT, at most 9 of them (SG_AUTHRES_MAX_VERSION). */
static int number(parser *p, int *out)
{
    size_t start = p->pos;
    long v = 0;
    while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        if (p->pos - start >= 9)
            return fail(p, SG_ELIMIT);
        v = v * 10 + (p->s[p->pos] - '0');
        p->pos++;
    }
    if (p->pos == start)
        return fail(p, SG_ESYNTAX);
    *out = (int)v;
    return SG_OK;
}

static int is_runchar(unsigned char c)
{
    /* token characters plus the atext ones that are tspecials */
    return sg_authres_is_tokenchar(c) || c == '/' || c == '=' || c == '?';
}

/* value = token / quoted-string; with allow_at, also the pvalue forms
 * [local-part] "@" domain-name. Surrounding CFWS is the caller's. */
static int value(parser *p, int allow_at, const char **out)
{
    size_t start = p->pos;
    if (at(p, '"')) {
        int rc = scan_copy(p, scan_qstring, out);
        if (rc != SG_OK || !allow_at || !at(p, '@'))
            return rc;
        /* quoted local-part: keep it quoted, as written (minus folding) */
        size_t qend = p->pos;
        p->pos++;
        size_t dstart = p->pos;
        while (p->pos < p->n && (is_ldh(p->s[p->pos]) || p->s[p->pos] == '.'))
            p->pos++;
        if (!sg_authres_is_domain(p->s + dstart, p->pos - dstart))
            return fail(p, SG_ESYNTAX);
        char *v = sg_arena_alloc(p->arena, p->pos - start + 1);
        if (v == NULL)
            return fail(p, SG_ENOMEM);
        size_t k = 0;
        for (size_t i = start; i < p->pos; i++) {
            if (i < qend && p->s[i] == '\r') {
                i++; /* CRLF of a fold: drop both */
                continue;
            }
            v[k++] = p->s[i];
        }
        v[k] = '\0';
        *out = v;
        return SG_OK;
    }
    while (p->pos < p->n && is_runchar((unsigned char)p->s[p->pos]))
        p->pos++;
    if (allow_at && at(p, '@')) {
        p->pos++;
        while (p->pos < p->n && (is_ldh(p->s[p->pos]) || p->s[p->pos] == '.'))
            p->pos++;
    }
    size_t len = p->pos - start;
    if (!sg_authres_is_bare_value(p->s + start, len, allow_at)) {
        p->pos = start;
        return fail(p, SG_ESYNTAX);
    }
    *out = sg_arena_strndup(p->arena, p->s + start, len);
    return *out ? SG_OK : fail(p, SG_ENOMEM);
}

static int ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return 0;
    }
    return *a == *b;
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != SG_OK)                                                                          \
            return rc_;                                                                            \
    } while (0)

static int expect(parser *p, char c)
{
    if (!at(p, c))
        return fail(p, SG_ESYNTAX);
    p->pos++;
    return SG_OK;
}

/* Append a zeroed element to an arena array that grows by doubling. */
static void *grow(parser *p, void *arr, size_t n, size_t *cap, size_t elsize)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *na = sg_arena_calloc(p->arena, ncap, elsize);
    if (na == NULL)
        return NULL;
    if (n > 0)
        memcpy(na, arr, n * elsize);
    *cap = ncap;
    return na;
}

/* The part of a resinfo after the ";": methodspec, reason, props. */
static int resinfo(parser *p, sg_authres_entry *e, const char *method)
{
    int any;
    e->method = method;
    e->method_version = -1;
    e->comment = NULL;
    e->reason = NULL;
    e->props = NULL;
    e->nprops = 0;
    if (at(p, '/')) {
        p->pos++;
        TRY(skip_cfws(p, NULL, NULL));
        TRY(number(p, &e->method_version));
        TRY(skip_cfws(p, NULL, NULL));
    }
    TRY(expect(p, '='));
    TRY(skip_cfws(p, NULL, NULL));
    TRY(keyword(p, &e->result));
    TRY(skip_cfws(p, &any, &e->comment));
    size_t pcap = 0;
    while (p->pos < p->n && !at(p, ';')) {
        /* "[ CFWS reasonspec ] [ CFWS 1*propspec ]": a separator is
         * required before the reason and before the first property */
        if (!any && (e->nprops == 0))
            return fail(p, SG_ESYNTAX);
        size_t kw_pos = p->pos;
        const char *kw;
        TRY(keyword(p, &kw));
        TRY(skip_cfws(p, NULL, NULL));
        if (at(p, '=')) {
            if (!ieq(kw, "reason") || e->reason != NULL || e->nprops > 0) {
                p->pos = kw_pos;
                return fail(p, SG_ESYNTAX);
            }
            p->pos++;
            TRY(skip_cfws(p, NULL, NULL));
            TRY(value(p, 0, &e->reason));
        } else if (at(p, '.')) {
            if (e->nprops >= SG_AUTHRES_MAX_PROPS)
                return fail(p, SG_ELIMIT);
            sg_authres_prop *np = grow(p, e->props, e->nprops, &pcap, sizeof(*np));
            if (np == NULL)
                return fail(p, SG_ENOMEM);
            e->props = np;
            sg_authres_prop *pr = &e->props[e->nprops];
            pr->ptype = kw;
            p->pos++;
            TRY(skip_cfws(p, NULL, NULL));
            TRY(keyword(p, &pr->property));
            TRY(skip_cfws(p, NULL, NULL));
            TRY(expect(p, '='));
            TRY(skip_cfws(p, NULL, NULL));
            TRY(value(p, 1, &pr->value));
            e->nprops++;
        } else {
            return fail(p, SG_ESYNTAX);
        }
        TRY(skip_cfws(p, &any, NULL));
    }
    return SG_OK;
}

static int parse_all(parser *p, sg_authres *r)
{
    int any;
    TRY(skip_cfws(p, NULL, NULL));
    /* authserv-id = value (RFC 8601 2.5 says it SHOULD be a domain name;
     * 2.2 only requires a token or quoted-string) */
    if (p->pos >= p->n)
        return fail(p, SG_ESYNTAX);
    TRY(value(p, 0, &r->authserv_id));
    TRY(skip_cfws(p, &any, NULL));
    if (any && p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        TRY(number(p, &r->version));
        TRY(skip_cfws(p, NULL, NULL));
    }
    /* no-result or at least one resinfo */
    if (p->pos >= p->n)
        return fail(p, SG_ESYNTAX);
    size_t ecap = 0;
    while (p->pos < p->n) {
        TRY(expect(p, ';'));
        TRY(skip_cfws(p, NULL, NULL));
        size_t kw_pos = p->pos;
        const char *kw;
        TRY(keyword(p, &kw));
        TRY(skip_cfws(p, NULL, NULL));
        if (r->count == 0 && ieq(kw, "none") && !at(p, '=') && !at(p, '/')) {
            if (p->pos < p->n) /* "none" ends the field */
                return fail(p, SG_ESYNTAX);
            return SG_OK;
        }
        if (r->count >= SG_AUTHRES_MAX_ENTRIES) {
            p->pos = kw_pos;
            return fail(p, SG_ELIMIT);
        }
        sg_authres_entry *ne = grow(p, r->entries, r->count, &ecap, sizeof(*ne));
        if (ne == NULL)
            return fail(p, SG_ENOMEM);
        r->entries = ne;
        TRY(resinfo(p, &r->entries[r->count], kw));
        r->count++;
    }
    return SG_OK;
}

int sg_authres_parse(sg_authres *out, sg_arena *arena, const char *value_, size_t len,
                     size_t *err_pos)
{
    if (out == NULL || arena == NULL || (value_ == NULL && len > 0))
        return SG_EINVAL;
    if (len > SG_AUTHRES_MAX_INPUT) {
        if (err_pos != NULL)
            *err_pos = SG_AUTHRES_MAX_INPUT;
        return SG_ELIMIT;
    }
    parser p = {value_, len, 0, arena, SG_OK, 0};
    sg_authres r;
    sg_authres_init(&r, NULL);
    int rc = parse_all(&p, &r);
    if (rc == SG_OK) {
        /* Anything accepted must be writable (same limits, same
         * character rules): e.g. an authserv-id of `""` or one holding
         * a TAB is refused here. */
        size_t folded;
        rc = sg_authres_check(&r, &folded);
        if (rc == SG_EINVAL)
            rc = SG_ESYNTAX;
        if (rc != SG_OK) {
            p.err = rc;
            p.err_pos = 0;
        }
    }
    if (rc != SG_OK) {
        if (err_pos != NULL)
            *err_pos = p.err_pos;
        return rc;
    }
    *out = r;
    return SG_OK;
}
