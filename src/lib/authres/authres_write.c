/*
 * Authentication-Results (RFC 8601): character classes, building and the
 * writer.
 *
 * The writer works on a "sink" that counts every byte and stores what
 * fits, so the same code measures an element (to decide where to fold),
 * sizes an arena allocation, and writes.
 */
#include "authres_int.h"

#include <limits.h>
#include <string.h>

/* ====================================================================== */
/* Character classes                                                       */
/* ====================================================================== */

int sg_authres_is_tokenchar(unsigned char c)
{
    /* RFC 2045 5.1: token := 1*<any (US-ASCII) CHAR except SPACE, CTLs,
     * or tspecials> */
    if (c <= 32 || c >= 127)
        return 0;
    switch (c) {
    case '(':
    case ')':
    case '<':
    case '>':
    case '@':
    case ',':
    case ';':
    case ':':
    case '\\':
    case '"':
    case '/':
    case '[':
    case ']':
    case '?':
    case '=':
        return 0;
    }
    return 1;
}

static int is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int sg_authres_is_keyword(const char *s, size_t n)
{
    if (n == 0 || n > SG_AUTHRES_MAX_KEYWORD)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum((unsigned char)s[i]) && s[i] != '-')
            return 0;
    return s[n - 1] != '-';
}

int sg_authres_is_domain(const char *s, size_t n)
{
    size_t start = 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            if (!is_alnum((unsigned char)s[i]) && s[i] != '-')
                return 0;
            continue;
        }
        /* label s[start, i): Let-dig [Ldh-str] */
        if (i == start || s[start] == '-' || s[i - 1] == '-')
            return 0;
        start = i + 1;
    }
    return 1;
}

int sg_authres_is_bare_value(const char *s, size_t n, int allow_at)
{
    size_t i;
    if (n == 0)
        return 0;
    for (i = 0; i < n && sg_authres_is_tokenchar((unsigned char)s[i]); i++)
        ;
    if (i == n)
        return 1;
    if (!allow_at)
        return 0;
    /* RFC 8601 2.3: pvalue = [CFWS] ( value / [ [ local-part ] "@" ]
     * domain-name ) [CFWS]; bare local-parts are dot-atoms (a quoted one
     * is written inside a quoted-string instead). */
    const char *at = memchr(s, '@', n);
    if (at == NULL)
        return 0;
    size_t ll = (size_t)(at - s);
    if (ll > 0 && !sg_text_is_dot_atom(s, ll))
        return 0;
    return sg_authres_is_domain(at + 1, n - ll - 1);
}

int sg_authres_is_safe_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '\t' && (c < 32 || c == 127))
            return 0;
    }
    return 1;
}

static int str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

int sg_authres_equal(const sg_authres *a, const sg_authres *b)
{
    if (!str_eq(a->authserv_id, b->authserv_id) || a->version != b->version || a->count != b->count)
        return 0;
    for (size_t i = 0; i < a->count; i++) {
        const sg_authres_entry *x = &a->entries[i], *y = &b->entries[i];
        if (!str_eq(x->method, y->method) || x->method_version != y->method_version ||
            !str_eq(x->result, y->result) || !str_eq(x->comment, y->comment) ||
            !str_eq(x->reason, y->reason) || x->nprops != y->nprops)
            return 0;
        for (size_t j = 0; j < x->nprops; j++) {
            if (!str_eq(x->props[j].ptype, y->props[j].ptype) ||
                !str_eq(x->props[j].property, y->props[j].property) ||
                !str_eq(x->props[j].value, y->props[j].value))
                return 0;
        }
    }
    return 1;
}

/* ====================================================================== */
/* Building                                                                */
/* ====================================================================== */

void sg_authres_init(sg_authres *ar, const char *authserv_id)
{
    memset(ar, 0, sizeof(*ar));
    ar->authserv_id = authserv_id;
    ar->version = -1;
}

int sg_authres_add(sg_authres_entry **out, sg_arena *arena, sg_authres *ar, const char *method,
                   const char *result)
{
    if (arena == NULL || ar == NULL || method == NULL || result == NULL)
        return SG_EINVAL;
    if (ar->count >= SG_AUTHRES_MAX_ENTRIES)
        return SG_ELIMIT;
    /* Arena arrays cannot grow in place: copy (n <= 256, so O(n^2) is
     * nothing next to the DNS work behind each entry). */
    sg_authres_entry *n = sg_arena_calloc(arena, ar->count + 1, sizeof(*n));
    if (n == NULL)
        return SG_ENOMEM;
    if (ar->count > 0)
        memcpy(n, ar->entries, ar->count * sizeof(*n));
    sg_authres_entry *e = &n[ar->count];
    e->method = sg_arena_strdup(arena, method);
    e->result = sg_arena_strdup(arena, result);
    if (e->method == NULL || e->result == NULL)
        return SG_ENOMEM;
    e->method_version = -1;
    ar->entries = n;
    ar->count++;
    if (out != NULL)
        *out = e;
    return SG_OK;
}

int sg_authres_add_prop_n(sg_arena *arena, sg_authres_entry *e, const char *ptype,
                          const char *property, const char *value, size_t maxlen)
{
    if (arena == NULL || e == NULL || ptype == NULL || property == NULL || value == NULL)
        return SG_EINVAL;
    if (e->nprops >= SG_AUTHRES_MAX_PROPS)
        return SG_ELIMIT;
    sg_authres_prop *n = sg_arena_calloc(arena, e->nprops + 1, sizeof(*n));
    if (n == NULL)
        return SG_ENOMEM;
    if (e->nprops > 0)
        memcpy(n, e->props, e->nprops * sizeof(*n));
    size_t vl = strnlen(value, maxlen);
    n[e->nprops].ptype = sg_arena_strdup(arena, ptype);
    n[e->nprops].property = sg_arena_strdup(arena, property);
    n[e->nprops].value = sg_arena_strndup(arena, value, vl);
    if (n[e->nprops].ptype == NULL || n[e->nprops].property == NULL || n[e->nprops].value == NULL)
        return SG_ENOMEM;
    e->props = n;
    e->nprops++;
    return SG_OK;
}

int sg_authres_add_prop(sg_arena *arena, sg_authres_entry *e, const char *ptype,
                        const char *property, const char *value)
{
    return sg_authres_add_prop_n(arena, e, ptype, property, value, SIZE_MAX);
}

/* ====================================================================== */
/* Writer                                                                  */
/* ====================================================================== */

typedef struct {
    char *buf;
    size_t cap;    /* bytes that may be stored (excluding the NUL) */
    size_t len;    /* bytes produced so far, stored or not */
    size_t max_el; /* the longest element written (RFC 8601 limits each) */
} sink;

static void put(sink *s, const char *p, size_t n)
{
    if (s->len < s->cap) {
        size_t room = s->cap - s->len;
        memcpy(s->buf + s->len, p, n < room ? n : room);
    }
    s->len += n;
}

static void puts_(sink *s, const char *p)
{
    put(s, p, strlen(p));
}

/* Replace the one byte at `at` (already produced) by rep[0..n): how a
 * space before an element becomes a fold once the element's length is
 * known, without writing the element twice. */
static void replace_byte(sink *s, size_t at, const char *rep, size_t n)
{
    size_t stored = s->len < s->cap ? s->len : s->cap;
    if (at < stored) {
        size_t dst = at + n, tail = stored - (at + 1);
        if (dst < s->cap)
            memmove(s->buf + dst, s->buf + at + 1, tail < s->cap - dst ? tail : s->cap - dst);
        memcpy(s->buf + at, rep, n < s->cap - at ? n : s->cap - at);
    }
    s->len += n - 1;
}

static void put_int(sink *s, int v)
{
    char tmp[16];
    size_t i = sizeof(tmp);
    unsigned u = (unsigned)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    put(s, tmp + i, sizeof(tmp) - i);
}

/* A value bare when the parser reads it back unchanged, else a
 * quoted-string (RFC 5322 3.2.4) escaping only DQUOTE and backslash. */
static void put_value(sink *s, const char *v, int allow_at)
{
    size_t n = strlen(v);
    if (sg_authres_is_bare_value(v, n, allow_at)) {
        put(s, v, n);
        return;
    }
    put(s, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '"' || v[i] == '\\')
            put(s, "\\", 1);
        put(s, v + i, 1);
    }
    put(s, "\"", 1);
}

/* A comment (RFC 5322 3.2.2) with every "(", ")" and "\" escaped, so the
 * parser never has to balance the caller's text. */
static void put_comment(sink *s, const char *c)
{
    put(s, "(", 1);
    for (; *c; c++) {
        if (*c == '(' || *c == ')' || *c == '\\')
            put(s, "\\", 1);
        put(s, c, 1);
    }
    put(s, ")", 1);
}

/* The elements of one resinfo, in writing order. */
enum { EL_HEAD, EL_COMMENT, EL_REASON, EL_PROP };

static size_t entry_elements(const sg_authres_entry *e)
{
    return 1 + (e->comment != NULL) + (e->reason != NULL) + e->nprops;
}

static void put_element(sink *s, const sg_authres_entry *e, size_t k)
{
    if (k == 0) {
        puts_(s, e->method);
        if (e->method_version >= 0) {
            put(s, "/", 1);
            put_int(s, e->method_version);
        }
        put(s, "=", 1);
        puts_(s, e->result);
        return;
    }
    k--;
    if (e->comment != NULL) {
        if (k == 0) {
            put_comment(s, e->comment);
            return;
        }
        k--;
    }
    if (e->reason != NULL) {
        if (k == 0) {
            puts_(s, "reason=");
            put_value(s, e->reason, 0);
            return;
        }
        k--;
    }
    const sg_authres_prop *p = &e->props[k];
    puts_(s, p->ptype);
    put(s, ".", 1);
    puts_(s, p->property);
    put(s, "=", 1);
    put_value(s, p->value, 1);
}

static void put_id(sink *s, const sg_authres *ar)
{
    put_value(s, ar->authserv_id, 0);
    if (ar->version >= 0) {
        put(s, " ", 1);
        put_int(s, ar->version);
    }
}

/* The two checks below run for every element of every field: one pass
 * over the NUL-terminated string, no strlen first. */
static int text_ok(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c != '\t' && (c < 32 || c == 127))
            return 0;
    }
    return 1;
}

/* sg_authres_is_keyword(s, strlen(s)) */
static int kw_ok(const char *s)
{
    size_t i;
    if (s == NULL)
        return 0;
    for (i = 0; s[i]; i++)
        if (i == SG_AUTHRES_MAX_KEYWORD || (!is_alnum((unsigned char)s[i]) && s[i] != '-'))
            return 0;
    return i > 0 && s[i - 1] != '-';
}

static int validate(const sg_authres *ar)
{
    if (ar->authserv_id == NULL || ar->authserv_id[0] == '\0')
        return SG_EINVAL;
    /* RFC 8601 2.2: authserv-id is a token or quoted-string; the only
     * bytes that could let it break out of the field are control
     * characters (CR, LF, NUL...); HTAB is not an identifier either. */
    for (const char *p = ar->authserv_id; *p; p++)
        if ((unsigned char)*p < 32 || *p == 127)
            return SG_EINVAL;
    /* Leading or trailing blanks (or only blanks) would make the id read
     * differently by different consumers, and the finder trims them. */
    if (ar->authserv_id[0] == ' ' || ar->authserv_id[strlen(ar->authserv_id) - 1] == ' ')
        return SG_EINVAL;
    if (ar->version < -1 || ar->version > SG_AUTHRES_MAX_VERSION)
        return SG_EINVAL;
    if (ar->count > SG_AUTHRES_MAX_ENTRIES)
        return SG_ELIMIT;
    if (ar->count > 0 && ar->entries == NULL)
        return SG_EINVAL;
    sink m = {NULL, 0, 0, 0};
    put_id(&m, ar);
    if (m.len > SG_AUTHRES_MAX_ELEMENT)
        return SG_ELIMIT;
    for (size_t i = 0; i < ar->count; i++) {
        const sg_authres_entry *e = &ar->entries[i];
        if (!kw_ok(e->method) || !kw_ok(e->result))
            return SG_EINVAL;
        if (e->method_version < -1 || e->method_version > SG_AUTHRES_MAX_VERSION)
            return SG_EINVAL;
        if ((e->comment != NULL && !text_ok(e->comment)) ||
            (e->reason != NULL && !text_ok(e->reason)))
            return SG_EINVAL;
        if (e->nprops > SG_AUTHRES_MAX_PROPS)
            return SG_ELIMIT;
        if (e->nprops > 0 && e->props == NULL)
            return SG_EINVAL;
        for (size_t j = 0; j < e->nprops; j++) {
            const sg_authres_prop *p = &e->props[j];
            if (!kw_ok(p->ptype) || !kw_ok(p->property) || p->value == NULL || !text_ok(p->value))
                return SG_EINVAL;
        }
    }
    /* element lengths are checked as they are written (sink.max_el) */
    return SG_OK;
}

/* Column of the first value byte: "Authentication-Results: " */
#define FIRST_COL 24
#define TAB_COLS 8

static void write_all(sink *s, const sg_authres *ar, int folded)
{
    size_t col = FIRST_COL;
    size_t before = s->len;
    put_id(s, ar);
    col += s->len - before;
    if (ar->count == 0) {
        /* RFC 8601 2.2 no-result */
        if (folded && col + 6 > SG_AUTHRES_LINE)
            puts_(s, ";\r\n\tnone");
        else
            puts_(s, "; none");
        return;
    }
    for (size_t i = 0; i < ar->count; i++) {
        const sg_authres_entry *e = &ar->entries[i];
        size_t nel = entry_elements(e);
        int last_entry = i + 1 == ar->count;
        /* one resinfo per line: the natural boundary for readers */
        if (folded) {
            puts_(s, ";\r\n\t");
            col = TAB_COLS;
        } else {
            puts_(s, "; ");
        }
        for (size_t k = 0; k < nel; k++) {
            size_t space = s->len;
            if (k > 0)
                put(s, " ", 1);
            size_t start = s->len;
            put_element(s, e, k);
            size_t el = s->len - start;
            size_t need = el + (k + 1 == nel && !last_entry); /* its ";" */
            if (el > s->max_el)
                s->max_el = el;
            if (k > 0 && folded && col + 1 + need > SG_AUTHRES_LINE) {
                /* continuation lines indented one step more */
                replace_byte(s, space, "\r\n\t  ", 5);
                col = TAB_COLS + 2;
            } else if (k > 0) {
                col++;
            }
            col += el;
        }
    }
}

int sg_authres_check(const sg_authres *ar, size_t *folded_len)
{
    int rc = validate(ar);
    if (rc != SG_OK)
        return rc;
    sink m = {NULL, 0, 0, 0};
    write_all(&m, ar, 1);
    *folded_len = m.len;
    return m.len > SG_AUTHRES_MAX_INPUT || m.max_el > SG_AUTHRES_MAX_ELEMENT ? SG_ELIMIT : SG_OK;
}

int sg_authres_format(char *buf, size_t size, size_t *out_len, const sg_authres *ar, unsigned flags)
{
    if (ar == NULL || (buf == NULL && size != 0) || (flags & ~(unsigned)SG_AUTHRES_FOLDED))
        return SG_EINVAL;
    int rc = validate(ar);
    if (rc != SG_OK)
        return rc;
    sink s = {buf, size > 0 ? size - 1 : 0, 0, 0};
    write_all(&s, ar, (flags & SG_AUTHRES_FOLDED) != 0);
    if (out_len != NULL)
        *out_len = s.len;
    if (s.max_el > SG_AUTHRES_MAX_ELEMENT) {
        if (size > 0)
            buf[0] = '\0';
        return SG_ELIMIT;
    }
    if (s.len > SG_AUTHRES_MAX_INPUT)
        return SG_ELIMIT;
    if (size == 0 || s.len > size - 1) {
        if (size > 0)
            buf[size - 1] = '\0';
        return SG_ELIMIT;
    }
    buf[s.len] = '\0';
    return SG_OK;
}

int sg_authres_format_arena(char **out, size_t *out_len, sg_arena *arena, const sg_authres *ar,
                            unsigned flags)
{
    /* A verdict's field fits here: written once, then copied, instead of
     * measured and written again. */
    char local[2048];
    if (out == NULL || arena == NULL || ar == NULL || (flags & ~(unsigned)SG_AUTHRES_FOLDED))
        return SG_EINVAL;
    int rc = validate(ar);
    if (rc != SG_OK)
        return rc;
    sink s = {local, sizeof(local), 0, 0};
    write_all(&s, ar, (flags & SG_AUTHRES_FOLDED) != 0);
    if (s.len > SG_AUTHRES_MAX_INPUT || s.max_el > SG_AUTHRES_MAX_ELEMENT)
        return SG_ELIMIT;
    char *buf = sg_arena_alloc(arena, s.len + 1);
    if (buf == NULL)
        return SG_ENOMEM;
    if (s.len <= sizeof(local)) {
        memcpy(buf, local, s.len);
    } else {
        sink big = {buf, s.len, 0, 0};
        write_all(&big, ar, (flags & SG_AUTHRES_FOLDED) != 0);
    }
    buf[s.len] = '\0';
    if (out_len != NULL)
        *out_len = s.len;
    *out = buf;
    return SG_OK;
}

char *sg_authres_unfold_arena(sg_arena *a, const char *folded, size_t len)
{
    char *o = sg_arena_alloc(a, len + 1);
    size_t k = 0;
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        /* the runs between CRs in one copy: a CR is rare (one per fold) */
        const char *cr = memchr(folded + i, '\r', len - i);
        size_t run = cr ? (size_t)(cr - (folded + i)) : len - i;
        memcpy(o + k, folded + i, run);
        k += run;
        i += run;
        if (i == len)
            break;
        if (i + 2 < len && folded[i + 1] == '\n' && folded[i + 2] == '\t') {
            i += 3;
            if (i + 1 < len && folded[i] == ' ' && folded[i + 1] == ' ')
                i += 2;
            o[k++] = ' ';
        } else {
            o[k++] = folded[i++];
        }
    }
    o[k] = '\0';
    return o;
}
