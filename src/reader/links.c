/*
 * links.c - what a link really points at.
 *
 * The target is read the way the WHATWG URL parser (the browser) reads it,
 * not the way RFC 3986 would: tabs and newlines anywhere are dropped,
 * leading and trailing C0 controls and spaces are trimmed, the scheme is
 * case-insensitive, and for http(s) any run of '/' or '\' may follow the
 * colon ("https:\\evil.example" goes to evil.example; "http:evil.example"
 * too, or to a path of the page's own site: such targets are written out
 * as "http://evil.example"). The host is percent-decoded and mapped through UTS #46 by
 * libidn2, as the browser does, so the name we show is the one the browser
 * would connect to.
 */
#include "links.h"

#include <stdlib.h>
#include <string.h>

#include <idn2.h>
#include <libpsl.h>
#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <spoofguard/common.h>

#include "common/json.h"
#include "fold.h"

/* ---- small helpers ------------------------------------------------------ */

static int is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int hexval(int c)
{
    if (is_digit(c))
        return c - '0';
    c = lower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* n, less a UTF-8 sequence left incomplete at the end of s[0..n) by a cut. */
static size_t utf8_trim_partial(const char *s, size_t n)
{
    size_t lead = n;
    while (lead > 0 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
        lead--;
    if (lead > 0) {
        unsigned char c = (unsigned char)s[lead - 1];
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (n - (lead - 1) < need)
            return lead - 1;
    }
    return n;
}

/* A copy of s[0..n) in which every byte that does not start a valid
 * UTF-8 sequence is U+FFFD: these strings go to a UTF-8 page and JSON. */
static char *utf8_clean(sg_arena *a, const char *s, size_t n, size_t *outn)
{
    char *o = sg_arena_alloc(a, 3 * n + 1);
    size_t k = 0;
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t l = sgu_utf8_len((const unsigned char *)s + i, n - i);
        if (l == 0 || s[i] == '\0') {
            memcpy(o + k, "\xEF\xBF\xBD", 3);
            k += 3;
            i++;
        } else {
            memcpy(o + k, s + i, l);
            k += l;
            i += l;
        }
    }
    o[k] = '\0';
    if (outn != NULL)
        *outn = k;
    return o;
}

/* Percent-decodes s[0..n) into a new arena string, lower-casing ASCII. A
 * decoded NUL ends the name: what follows cannot be part of a host. */
static char *pct_decode_lower(sg_arena *a, const char *s, size_t n)
{
    char *o = sg_arena_alloc(a, n + 1);
    size_t k = 0;
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%' && i + 2 < n) {
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h >= 0 && l >= 0) {
                c = h * 16 + l;
                i += 2;
            }
        }
        if (c == 0)
            break;
        o[k++] = (char)lower(c);
    }
    o[k] = '\0';
    return o;
}

/* ---- host ----------------------------------------------------------------- */

/* The WHATWG host parser reads a name whose last label is a number (decimal,
 * 0x hex or octal) as an IPv4 address: "http://0x7f.1/" is 127.0.0.1. */
static int looks_ipv4(const char *h)
{
    size_t n = strlen(h);
    if (n > 0 && h[n - 1] == '.') /* one trailing dot is ignored */
        n--;
    size_t b = n;
    while (b > 0 && h[b - 1] != '.')
        b--;
    const char *last = h + b;
    n -= b;
    if (n == 0)
        return 0;
    size_t i = 0;
    if (n > 1 && last[0] == '0' && lower((unsigned char)last[1]) == 'x') {
        for (i = 2; i < n; i++)
            if (hexval((unsigned char)last[i]) < 0)
                return 0;
        return 1;
    }
    for (; i < n; i++)
        if (!is_digit((unsigned char)last[i]))
            return 0;
    return 1;
}

/* Fills host, host_unicode, registrable_domain and the host flags from a
 * decoded, lower-cased name. */
static int set_host(sgr_link *l, sg_arena *a, const psl_ctx_t *psl, char *name)
{
    size_t n = strlen(name);
    int ascii = 1;
    if (n == 0)
        return 0;
    if (name[0] == '[') {
        l->host = name;
        l->flags |= SGR_LINK_IP_HOST;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] >= 0x80)
            ascii = 0;
    if (looks_ipv4(name)) {
        l->host = name;
        l->flags |= SGR_LINK_IP_HOST;
        return 0;
    }
    char *alabel = NULL;
    if (!ascii || strstr(name, "xn--") != NULL) {
        int rc = idn2_lookup_u8((const uint8_t *)name, (uint8_t **)&alabel,
                                IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
        if (rc != IDN2_OK) {
            l->host = utf8_clean(a, name, n, NULL);
            if (l->host == NULL)
                return SG_ENOMEM;
            l->flags |= SGR_LINK_IDNA_INVALID;
            return 0;
        }
        l->host = sg_arena_strdup(a, alabel);
        idn2_free(alabel);
        if (l->host == NULL)
            return SG_ENOMEM;
        char *u = NULL;
        if (idn2_to_unicode_8z8z(l->host, &u, 0) == IDN2_OK && u != NULL) {
            if (strcmp(u, l->host) != 0)
                l->host_unicode = sg_arena_strdup(a, u);
            idn2_free(u);
        }
    } else {
        l->host = name;
    }
    const char *rd = psl_registrable_domain(psl, l->host);
    l->registrable_domain = rd;
    return 0;
}

/* ---- the target ----------------------------------------------------------- */

/* The scheme of s (lower-cased into buf) and the index after its colon, or
 * 0 when s is relative. */
static size_t parse_scheme(const char *s, size_t n, char *buf, size_t cap)
{
    size_t i = 0;
    if (n == 0 || !is_alpha((unsigned char)s[0]))
        return 0;
    while (i < n && (is_alpha((unsigned char)s[i]) || is_digit((unsigned char)s[i]) ||
                     s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (i >= n || s[i] != ':' || i >= cap)
        return 0;
    for (size_t k = 0; k < i; k++)
        buf[k] = (char)lower((unsigned char)s[k]);
    buf[i] = '\0';
    return i + 1;
}

/* Whether an hfield of a mailto: URL (RFC 6068) adds recipients. */
static int hfields_add_recipients(sg_arena *a, const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && s[e] != '&' && s[e] != ';')
            e++;
        size_t eq = i;
        while (eq < e && s[eq] != '=')
            eq++;
        const char *name = pct_decode_lower(a, s + i, eq - i);
        if (name == NULL || !strcmp(name, "to") || !strcmp(name, "cc") || !strcmp(name, "bcc"))
            return 1;
        i = e + 1;
    }
    return 0;
}

static int describe_target(sgr_link *l, sg_arena *a, const psl_ctx_t *psl, const char *t, size_t n)
{
    char scheme[32];
    size_t p = parse_scheme(t, n, scheme, sizeof scheme);
    l->scheme = sg_arena_strdup(a, p ? scheme : "");
    if (l->scheme == NULL)
        return SG_ENOMEM;
    int special = p && (!strcmp(scheme, "http") || !strcmp(scheme, "https"));
    if (!special && !(p && !strcmp(scheme, "mailto")))
        l->flags |= SGR_LINK_BLOCKED;
    if (special) {
        size_t colon = p;
        while (p < n && (t[p] == '/' || t[p] == '\\'))
            p++;
        /* The browser reads "http:evil.example" or "http:/x" as a path on
         * the page's own site when the page has the same scheme (WHATWG
         * "special relative or authority state"), and as a host
         * otherwise: the target is written out as the host we show, so
         * that the two cannot differ (adv17 F1). */
        if (p - colon != 2 || t[colon] != '/' || t[colon + 1] != '/') {
            size_t sl = strlen(scheme);
            char *norm = sg_arena_alloc(a, sl + 3 + (n - p) + 1);
            if (norm == NULL)
                return SG_ENOMEM;
            memcpy(norm, scheme, sl);
            memcpy(norm + sl, "://", 3);
            memcpy(norm + sl + 3, t + p, n - p);
            norm[sl + 3 + (n - p)] = '\0';
            l->target = norm;
        }
        size_t e = p;
        while (e < n && t[e] != '/' && t[e] != '\\' && t[e] != '?' && t[e] != '#')
            e++;
        /* userinfo ends at the last '@' of the authority */
        for (size_t k = e; k > p; k--)
            if (t[k - 1] == '@') {
                l->flags |= SGR_LINK_USERINFO;
                p = k;
                break;
            }
        size_t h = p;
        if (h < n && t[h] == '[') {
            while (h < e && t[h] != ']')
                h++;
            if (h < e)
                h++;
        } else {
            while (h < e && t[h] != ':')
                h++;
        }
        char *name = pct_decode_lower(a, t + p, h - p);
        if (name == NULL)
            return SG_ENOMEM;
        return set_host(l, a, psl, name);
    }
    if (p && !strcmp(scheme, "mailto")) {
        /* a mail client decodes the address list, then splits it at
         * commas: "evil%2C@bank" writes to evil first (adv17 F2) */
        size_t q = p;
        while (q < n && t[q] != '?')
            q++;
        char *to = pct_decode_lower(a, t + p, q - p);
        if (to == NULL)
            return SG_ENOMEM;
        size_t k = 0;
        /* ',' is RFC 6068's separator; some clients (Outlook) split at ';' */
        for (int quoted = 0; to[k] && (quoted || (to[k] != ',' && to[k] != ';')); k++)
            if (to[k] == '"')
                quoted = !quoted;
        if ((to[k] != '\0' && to[k + 1 + strspn(to + k + 1, " ,;")] != '\0') ||
            (q < n && hfields_add_recipients(a, t + q + 1, n - q - 1)))
            l->flags |= SGR_LINK_MAILTO_MORE;
        to[k] = '\0';
        char *at = strrchr(to, '@');
        if (at != NULL) {
            char *end = at + 1 + strcspn(at + 1, " >");
            *end = '\0';
            return set_host(l, a, psl, at + 1);
        }
    }
    return 0;
}

/* ---- what the link text names ---------------------------------------------- */

static int is_token_char(int c)
{
    return c > ' ' && c != '<' && c != '>' && c != '"' && c != '(' && c != ')' && c != '[' &&
           c != ']' && c != '\'' && c != '{' && c != '}' && c != '|' && c != 0x7f;
}

/* A name whose last label is a listed public suffix (no "*" default rule:
 * "file.pdf" and "e.g" name nothing). */
static int is_domain_like(const psl_ctx_t *psl, const char *d)
{
    const char *dot = strrchr(d, '.');
    if (dot == NULL || dot == d || dot[1] == '\0')
        return 0;
    for (const char *p = d; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!(c >= 0x80 || is_alpha(c) || is_digit(c) || c == '-' || c == '.'))
            return 0;
    }
    return psl_is_public_suffix2(psl, dot + 1, PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE) != 0;
}

/* The bytes of the code point at s[i] if it may be part of a name in
 * link text, else 0. Beyond ASCII: letters, digits, marks and what reads
 * as a full stop (sgr_fold_is_dot: U+3002, U+FF0E, U+2024, U+FE52...);
 * not other punctuation, spaces, symbols or format characters, so
 * "paypal.com\u2019s", "paypal.com\u2122" or "paypal.com\u00a0now" still
 * name paypal.com (adv17 F4). */
static size_t name_char_len(const char *s, size_t n, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80)
        return is_token_char(c) ? 1 : 0;
    size_t j = i;
    UChar32 cp;
    U8_NEXT((const uint8_t *)s, j, n, cp);
    if (cp < 0)
        return 1;
    if (sgr_fold_is_dot(cp))
        return j - i;
    /* invisible: "paypal\u00ad.com" shows as paypal.com (dropped below) */
    if (u_hasBinaryProperty(cp, UCHAR_DEFAULT_IGNORABLE_CODE_POINT))
        return j - i;
    int8_t t = u_charType(cp);
    if (u_isalnum(cp) || t == U_NON_SPACING_MARK || t == U_COMBINING_SPACING_MARK ||
        t == U_ENCLOSING_MARK)
        return j - i;
    return 0;
}

/* The bytes of the code point at s[i] (at least 1). */
static size_t char_len(const char *s, size_t n, size_t i)
{
    size_t l = sgu_utf8_len((const unsigned char *)s + i, n - i);
    return l ? l : 1;
}

static int has_bidi_controls(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (sgu_bidi_control_at((const unsigned char *)s + i, n - i))
            return 1;
    return 0;
}

/* The first host, address domain or domain the text names, described
 * through the same code as a target; NULL when it names none. */
static int text_names_host(sg_arena *a, const psl_ctx_t *psl, const char *s, size_t n,
                           const char **out)
{
    size_t i = 0, l;
    *out = NULL;
    while (i < n) {
        while (i < n && name_char_len(s, n, i) == 0)
            i += char_len(s, n, i);
        size_t b = i;
        while (i < n && (l = name_char_len(s, n, i)) != 0)
            i += l;
        if (i == b)
            continue;
        /* the name as a reader sees it, as display names are read:
         * "paypal\u2024com", fullwidth "ｐａｙｐａｌ．ｃｏｍ" read paypal.com
         * (adv29 RD-7); invisible characters are not there */
        const char *tok = s + b;
        int rc = sgr_fold_seen(a, s + b, i - b, &tok);
        if (rc == SG_ENOMEM)
            return SG_ENOMEM;
        size_t tn = rc == 0 ? strlen(tok) : i - b;
        if (rc != 0)
            tok = s + b;
        while (tn > 0 && strchr(".,;:!?", tok[tn - 1]) != NULL)
            tn--;
        if (tn == 0)
            continue;
        sgr_link t = {0};
        char scheme[32];
        char *buf = NULL;
        size_t sp = parse_scheme(tok, tn, scheme, sizeof scheme);
        if (sp && tn > sp + 1 && tok[sp] == '/') {
            if (describe_target(&t, a, psl, tok, tn) != 0)
                return SG_ENOMEM;
        } else {
            const char *at = memchr(tok, '@', tn);
            size_t off = at ? (size_t)(at - tok) + 1 : 0;
            if (sp && !strcmp(scheme, "mailto"))
                off = at ? off : sp;
            size_t dn = strcspn(tok + off, "/?#:");
            if (dn > tn - off)
                dn = tn - off;
            buf = pct_decode_lower(a, tok + off, dn);
            if (buf == NULL)
                return SG_ENOMEM;
            /* an address is a name whatever its TLD; a bare word must end
             * in a listed public suffix to count as one */
            if (at == NULL ? !is_domain_like(psl, buf) : strchr(buf, '.') == NULL)
                continue;
            if (set_host(&t, a, psl, buf) != 0)
                return SG_ENOMEM;
        }
        if (t.host != NULL && t.host[0] != '\0') {
            *out = t.host;
            return 0;
        }
    }
    return 0;
}

static int same_site(const psl_ctx_t *psl, const char *h1, const char *h2)
{
    const char *r1 = psl_registrable_domain(psl, h1);
    const char *r2 = psl_registrable_domain(psl, h2);
    if (r1 != NULL && r2 != NULL)
        return strcmp(r1, r2) == 0;
    return strcmp(h1, h2) == 0;
}

/* ---- public ----------------------------------------------------------------- */

int sgr_link_describe(sgr_link *out, sg_arena *a, const psl_ctx_t *psl, const char *target,
                      size_t target_len, const char *text, size_t text_len)
{
    if (out == NULL || a == NULL || (target == NULL && target_len) || (text == NULL && text_len))
        return SG_EINVAL;
    memset(out, 0, sizeof(*out));
    if (psl == NULL)
        psl = psl_builtin();

    /* the URL parser's clean-up: trim C0 controls and spaces at both ends,
     * drop ASCII tab and newline anywhere */
    while (target_len && (unsigned char)target[0] <= 0x20)
        target++, target_len--;
    while (target_len && (unsigned char)target[target_len - 1] <= 0x20)
        target_len--;
    size_t cap = target_len > SGR_LINK_TARGET_MAX ? SGR_LINK_TARGET_MAX : target_len;
    char *t = sg_arena_alloc(a, cap + 1);
    if (t == NULL)
        return SG_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < target_len && k < cap; i++)
        if (target[i] != '\t' && target[i] != '\n' && target[i] != '\r')
            t[k++] = target[i];
    k = utf8_trim_partial(t, k);
    t[k] = '\0';
    if (k < target_len && cap < target_len)
        out->flags |= SGR_LINK_TRUNCATED;
    t = utf8_clean(a, t, k, &k);
    if (t == NULL)
        return SG_ENOMEM;
    out->target = t;

    /* the text, whitespace runs collapsed to one space */
    char *x = sg_arena_alloc(a, (text_len > SGR_LINK_TEXT_MAX ? SGR_LINK_TEXT_MAX : text_len) + 1);
    if (x == NULL)
        return SG_ENOMEM;
    size_t xn = 0;
    for (size_t i = 0; i < text_len && xn < SGR_LINK_TEXT_MAX; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
            if (xn > 0 && x[xn - 1] != ' ')
                x[xn++] = ' ';
        } else {
            x[xn++] = (char)c;
        }
    }
    while (xn > 0 && x[xn - 1] == ' ')
        xn--;
    xn = utf8_trim_partial(x, xn);
    x = utf8_clean(a, x, xn, &xn);
    if (x == NULL)
        return SG_ENOMEM;
    out->text = x;

    int rc = describe_target(out, a, psl, t, k);
    if (rc != 0)
        return rc;
    rc = text_names_host(a, psl, x, xn, &out->text_host);
    if (rc != 0)
        return rc;
    if (has_bidi_controls(x, xn))
        out->flags |= SGR_LINK_TEXT_BIDI;
    if (out->text_host != NULL && (out->host == NULL || !same_site(psl, out->text_host, out->host)))
        out->flags |= SGR_LINK_TEXT_MISMATCH;
    return 0;
}

long sgr_link_list_add(sgr_link_list *list, sg_arena *a, const sgr_link *l)
{
    size_t max = list->max ? list->max : SGR_LINKS_MAX_DEFAULT;
    if (list->n >= max) {
        list->truncated = 1;
        return -1;
    }
    if (list->n == list->cap) {
        size_t nc = list->cap ? list->cap * 2 : 16;
        if (nc > max)
            nc = max;
        sgr_link *v = sg_arena_alloc(a, nc * sizeof(*v));
        if (v == NULL)
            return SG_ENOMEM;
        if (list->n)
            memcpy(v, list->v, list->n * sizeof(*v));
        list->v = v;
        list->cap = nc;
    }
    list->v[list->n] = *l;
    return (long)list->n++;
}

/* ---- URLs in plain text ------------------------------------------------------ */

static int starts_ci(const char *s, size_t n, const char *p)
{
    size_t m = strlen(p);
    if (n < m)
        return 0;
    for (size_t i = 0; i < m; i++)
        if (lower((unsigned char)s[i]) != p[i])
            return 0;
    return 1;
}

static int url_char(int c)
{
    return c > ' ' && c != '<' && c != '>' && c != '"' && c != '`' && c != 0x7f;
}

int sgr_text_next_url(const char *s, size_t n, size_t *start, size_t *end)
{
    static const char *const prefixes[] = {"https://", "http://", "mailto:", "www."};
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && (is_alpha((unsigned char)s[i - 1]) || is_digit((unsigned char)s[i - 1]) ||
                      s[i - 1] == '.' || s[i - 1] == '/'))
            continue;
        size_t which = sizeof prefixes / sizeof prefixes[0];
        for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++)
            if (starts_ci(s + i, n - i, prefixes[p])) {
                which = p;
                break;
            }
        if (which == sizeof prefixes / sizeof prefixes[0])
            continue;
        size_t e = i;
        while (e < n && url_char((unsigned char)s[e]))
            e++;
        /* trailing punctuation, and closing brackets without an opening one
         * inside the URL, belong to the sentence. The brackets are counted
         * once and the count kept as they are dropped: counting again for
         * each one made a URL ending in 100,000 ")" cost seconds. */
        long paren = 0, square = 0;
        for (size_t k = i; k < e; k++) {
            paren += (s[k] == '(') - (s[k] == ')');
            square += (s[k] == '[') - (s[k] == ']');
        }
        for (;;) {
            if (e > i && strchr(".,;:!?'*", s[e - 1]) != NULL) {
                e--;
            } else if (e > i && s[e - 1] == ')' && paren < 0) {
                e--;
                paren++;
            } else if (e > i && s[e - 1] == ']' && square < 0) {
                e--;
                square++;
            } else {
                break;
            }
        }
        if (e <= i + strlen(prefixes[which]))
            continue; /* a bare "http://" names nothing */
        *start = i;
        *end = e;
        return 1;
    }
    return 0;
}

int sgr_links_from_text(sgr_link_list *list, sg_arena *a, const psl_ctx_t *psl, const char *text,
                        size_t len)
{
    size_t off = 0, b, e;
    if (list == NULL || a == NULL || (text == NULL && len))
        return SG_EINVAL;
    while (off < len && sgr_text_next_url(text + off, len - off, &b, &e)) {
        const char *u = text + off + b;
        size_t un = e - b;
        sgr_link l;
        int rc;
        if (starts_ci(u, un, "www.")) {
            char *t = sg_arena_alloc(a, un + 8);
            if (t == NULL)
                return SG_ENOMEM;
            memcpy(t, "http://", 7);
            memcpy(t + 7, u, un);
            rc = sgr_link_describe(&l, a, psl, t, un + 7, u, un);
        } else {
            rc = sgr_link_describe(&l, a, psl, u, un, u, un);
        }
        if (rc != 0)
            return rc;
        l.flags |= SGR_LINK_FROM_TEXT;
        long idx = sgr_link_list_add(list, a, &l);
        if (idx < -1)
            return (int)idx;
        if (idx == -1)
            return 0;
        off += e;
    }
    return 0;
}
