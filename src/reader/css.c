/*
 * css.c - the allow-list CSS filter of the HTML sanitizer.
 *
 * CSS can load resources (url(), image-set(), @import, @font-face), run
 * code in old engines (expression(), behavior, -moz-binding) and hide any
 * of them behind escapes ("\75rl(") or comments (u, comment, rl). Rather than
 * recognise those, the filter keeps only what it knows: a fixed property
 * list, values built from a small character set, and a few colour and
 * arithmetic functions. A backslash anywhere drops the declaration, so no
 * escape can spell a forbidden word; comments are removed first.
 */
#include "css.h"

#include "common/json.h"

#include <stdlib.h>
#include <string.h>

int sgr_buf_put(sgr_buf *b, const char *s, size_t n)
{
    if (b->overflow || b->nomem)
        return -1;
    if (n > b->max - b->n) {
        b->overflow = 1;
        return -1;
    }
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n)
            nc *= 2;
        if (nc > b->max)
            nc = b->max;
        char *d = realloc(b->d, nc);
        if (d == NULL) {
            b->nomem = 1;
            return -1;
        }
        b->d = d;
        b->cap = nc;
    }
    if (n)
        memcpy(b->d + b->n, s, n);
    b->n += n;
    return 0;
}

int sgr_buf_puts(sgr_buf *b, const char *s)
{
    return sgr_buf_put(b, s, strlen(s));
}

/* Properties that lay out and colour text and boxes. Nothing that loads a
 * resource (background-image, list-style-image, content, cursor), runs
 * code (behavior, -moz-binding) or lifts content out of the flow over
 * other content (position, z-index, opacity, visibility, clip, transform). */
static const char *const props[] = {"background-color",
                                    "background",
                                    "border",
                                    "border-bottom",
                                    "border-bottom-color",
                                    "border-bottom-style",
                                    "border-bottom-width",
                                    "border-collapse",
                                    "border-color",
                                    "border-left",
                                    "border-left-color",
                                    "border-left-style",
                                    "border-left-width",
                                    "border-radius",
                                    "border-right",
                                    "border-right-color",
                                    "border-right-style",
                                    "border-right-width",
                                    "border-spacing",
                                    "border-style",
                                    "border-top",
                                    "border-top-color",
                                    "border-top-style",
                                    "border-top-width",
                                    "border-width",
                                    "caption-side",
                                    "clear",
                                    "color",
                                    "direction",
                                    "display",
                                    "empty-cells",
                                    "float",
                                    "font",
                                    "font-family",
                                    "font-size",
                                    "font-style",
                                    "font-variant",
                                    "font-weight",
                                    "height",
                                    "letter-spacing",
                                    "line-height",
                                    "list-style-position",
                                    "list-style-type",
                                    "margin",
                                    "margin-bottom",
                                    "margin-left",
                                    "margin-right",
                                    "margin-top",
                                    "max-height",
                                    "max-width",
                                    "min-height",
                                    "min-width",
                                    "overflow",
                                    "overflow-wrap",
                                    "padding",
                                    "padding-bottom",
                                    "padding-left",
                                    "padding-right",
                                    "padding-top",
                                    "table-layout",
                                    "text-align",
                                    "text-decoration",
                                    "text-indent",
                                    "text-overflow",
                                    "text-transform",
                                    "vertical-align",
                                    "white-space",
                                    "width",
                                    "word-break",
                                    "word-spacing",
                                    "word-wrap"};

/* Functions a value may call: colours and arithmetic, none of which can
 * name a resource. */
static const char *const funcs[] = {"rgb", "rgba", "hsl", "hsla", "calc"};

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int is_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int in_list(const char *const *list, size_t count, const char *s, size_t n)
{
    for (size_t i = 0; i < count; i++)
        if (strlen(list[i]) == n) {
            size_t k = 0;
            while (k < n && lower((unsigned char)s[k]) == list[i][k])
                k++;
            if (k == n)
                return 1;
        }
    return 0;
}

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* word (lower case) at v[k..], whitespace between its letters skipped */
static int word_at(const char *v, size_t n, size_t k, const char *word)
{
    for (; *word; word++, k++) {
        while (k < n && is_space((unsigned char)v[k]))
            k++;
        if (k == n)
            return 0;
        if (lower((unsigned char)v[k]) != *word)
            return 0;
    }
    return 1;
}

/* Words old engines ran or loaded through, refused even inside a longer
 * identifier or a selector, and across whitespace ("expre ssion": two words
 * to CSS, but old engines read a comment there as nothing): no reader of
 * the output should have to ask. */
static int has_bad_word(const char *v, size_t n)
{
    static const char *const words[] = {"expression", "javascript", "behavior", "binding"};
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
        for (size_t k = 0; k < n; k++)
            if (!is_space((unsigned char)v[k]) && word_at(v, n, k, words[w]))
                return 1;
    return 0;
}

/* A declaration value made only of: identifiers and numbers with units,
 * #colours, %, the separators , / + -, an !important at the end, quoted
 * names (letters, digits, spaces, - _ ,), and allowed functions with
 * balanced parentheses. */
static int value_ok(const char *v, size_t n)
{
    int depth = 0;
    size_t i = 0;
    if (has_bad_word(v, n))
        return 0;
    while (i < n) {
        int c = (unsigned char)v[i];
        if (is_alnum(c) || c == '-' || c == '_') {
            size_t b = i;
            while (i < n && (is_alnum((unsigned char)v[i]) || v[i] == '-' || v[i] == '_'))
                i++;
            if (i < n && v[i] == '(') {
                if (!in_list(funcs, sizeof funcs / sizeof funcs[0], v + b, i - b))
                    return 0;
                depth++;
                i++;
            }
            continue;
        }
        if (c == ')') {
            if (--depth < 0)
                return 0;
            i++;
            continue;
        }
        if (c == '"' || c == '\'') {
            size_t e = i + 1;
            while (e < n && v[e] != c) {
                int q = (unsigned char)v[e];
                if (q >= 0x80) {
                    size_t l = sgu_utf8_len((const unsigned char *)v + e, n - e);
                    if (l == 0)
                        return 0;
                    e += l;
                    continue;
                }
                if (!(is_alnum(q) || q == ' ' || q == '-' || q == '_' || q == ','))
                    return 0;
                e++;
            }
            if (e >= n)
                return 0;
            i = e + 1;
            continue;
        }
        if (c == '!') {
            /* only a final !important */
            size_t k = i + 1;
            while (k < n && is_space((unsigned char)v[k]))
                k++;
            if (n - k != 9 || !in_list((const char *const[]){"important"}, 1, v + k, 9))
                return 0;
            i = n;
            continue;
        }
        if (is_space(c) || c == '#' || c == '%' || c == '.' || c == ',' || c == '/' || c == '+' ||
            c == '*') {
            i++;
            continue;
        }
        return 0;
    }
    return depth == 0;
}

/* Copies s[0..n) to a new heap string without comments; an unterminated
 * comment ends the text. NULL on allocation failure. */
static char *strip_comments(const char *s, size_t n, size_t *outn)
{
    char *o = malloc(n + 1);
    size_t k = 0;
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
            const char *e = NULL;
            for (size_t j = i + 2; j + 1 < n; j++)
                if (s[j] == '*' && s[j + 1] == '/') {
                    e = s + j;
                    break;
                }
            if (e == NULL)
                break;
            o[k++] = ' ';
            i = (size_t)(e - s) + 1;
            continue;
        }
        o[k++] = s[i];
    }
    o[k] = '\0';
    *outn = k;
    return o;
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_space((unsigned char)(*s)[0]))
        (*s)++, (*n)--;
    while (*n && is_space((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

/* Properties whose negative values move a box over what comes before it:
 * a later box with margin-left:-17em painted a fake target over an inert
 * link's real one (adv17 F3). */
static const char *const offset_props[] = {"margin",         "margin-bottom", "margin-left",
                                           "margin-right",   "margin-top",    "text-indent",
                                           "letter-spacing", "word-spacing"};

/* A negative number, or calc(), which can make one. */
static int may_be_negative(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '-' && i + 1 < n && ((v[i + 1] >= '0' && v[i + 1] <= '9') || v[i + 1] == '.'))
            return 1;
        if (i + 4 <= n && lower((unsigned char)v[i]) == 'c' && word_at(v, n, i, "calc"))
            return 1;
    }
    return 0;
}

/* Filters comment-free declarations. */
static int decls(sgr_buf *out, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && s[e] != ';')
            e++;
        const char *d = s + i;
        size_t dn = e - i;
        i = e + 1;
        const char *colon = memchr(d, ':', dn);
        if (colon == NULL || memchr(d, '\\', dn) != NULL)
            continue;
        const char *name = d, *val = colon + 1;
        size_t nn = (size_t)(colon - d), vn = dn - nn - 1;
        trim(&name, &nn);
        trim(&val, &vn);
        if (nn == 0 || vn == 0 || !in_list(props, sizeof props / sizeof props[0], name, nn) ||
            !value_ok(val, vn))
            continue;
        if (in_list(offset_props, sizeof offset_props / sizeof offset_props[0], name, nn) &&
            may_be_negative(val, vn))
            continue;
        for (size_t k = 0; k < nn; k++) {
            char c = (char)lower((unsigned char)name[k]);
            if (sgr_buf_put(out, &c, 1) != 0)
                return -1;
        }
        if (sgr_buf_put(out, ":", 1) != 0 || sgr_buf_put(out, val, vn) != 0 ||
            sgr_buf_put(out, ";", 1) != 0)
            return -1;
    }
    return 0;
}

int sgr_css_declarations(sgr_buf *out, const char *s, size_t n)
{
    size_t cn;
    char *c = strip_comments(s, n, &cn);
    if (c == NULL) {
        out->nomem = 1;
        return -1;
    }
    int rc = decls(out, c, cn);
    free(c);
    return rc;
}

/* Plain selector syntax: element, class, id, attribute, pseudo-class and
 * combinator characters; no functional pseudo-classes (no parentheses), so
 * a selector never looks like a function call to any reader. Selectors naming our own sg- classes
 * are refused, so a message cannot restyle what the viewer adds (an inert link's target). */
static int selector_ok(const char *s, size_t n)
{
    if (n == 0 || has_bad_word(s, n))
        return 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (!(is_alnum(c) || is_space(c) || strchr("-_.#,:>+~*[]=^$|\"'", c) != NULL))
            return 0;
        if (c == 0)
            return 0;
        if (i + 3 <= n && lower(c) == 's' && lower((unsigned char)s[i + 1]) == 'g' &&
            s[i + 2] == '-')
            return 0;
    }
    return 1;
}

/* The index after the block that starts at s[i] == '{' (balanced braces,
 * strings skipped), or n. */
static size_t skip_block(const char *s, size_t n, size_t i)
{
    int depth = 0;
    for (; i < n; i++) {
        if (s[i] == '"' || s[i] == '\'') {
            char q = s[i];
            for (i++; i < n && s[i] != q; i++)
                ;
            continue;
        }
        if (s[i] == '{')
            depth++;
        else if (s[i] == '}' && --depth == 0)
            return i + 1;
    }
    return n;
}

int sgr_css_stylesheet(sgr_buf *out, const char *s, size_t n)
{
    size_t cn;
    char *c = strip_comments(s, n, &cn);
    int rc = 0;
    if (c == NULL) {
        out->nomem = 1;
        return -1;
    }
    size_t i = 0;
    while (i < cn && rc == 0) {
        while (i < cn && (is_space((unsigned char)c[i]) || c[i] == ';' || c[i] == '}'))
            i++;
        if (i >= cn)
            break;
        if (c[i] == '@') {
            /* at-rule: up to its ';' or through its block */
            size_t e = i;
            while (e < cn && c[e] != ';' && c[e] != '{')
                e++;
            i = (e < cn && c[e] == '{') ? skip_block(c, cn, e) : e + 1;
            continue;
        }
        size_t b = i;
        while (i < cn && c[i] != '{' && c[i] != '}')
            i++;
        if (i >= cn || c[i] == '}')
            continue;
        const char *sel = c + b;
        size_t sn = i - b;
        size_t end = skip_block(c, cn, i);
        const char *body = c + i + 1;
        size_t bn = (end > i + 1 ? end - i - 1 : 0);
        if (bn && body[bn - 1] == '}')
            bn--;
        i = end;
        trim(&sel, &sn);
        if (!selector_ok(sel, sn) || memchr(body, '{', bn) != NULL)
            continue;
        size_t mark = out->n;
        if (sgr_buf_put(out, sel, sn) != 0 || sgr_buf_put(out, "{", 1) != 0) {
            rc = -1;
            break;
        }
        size_t before = out->n;
        if (decls(out, body, bn) != 0) {
            rc = -1;
            break;
        }
        if (out->n == before)
            out->n = mark; /* nothing survived: no empty rule */
        else if (sgr_buf_put(out, "}", 1) != 0)
            rc = -1;
    }
    free(c);
    return rc;
}
