/*
 * Lookalike domains: UTS #39 skeletons (ICU uspoof), edit distance 1 and
 * embedded names, compared on registrable domains (libpsl), with IDNA2008
 * by libidn2. See lookalike.h for the contract and docs/lookalike.md for
 * the thresholds and why.
 *
 * Every name, reference or candidate, goes through analyse(): IDNA2008 to
 * the A-label form, the registrable domain, the U-label forms, and the
 * skeletons. The comparisons then work on those skeletons only, so
 * "paypa1", "pаypal" (Cyrillic a) and "paypal" are one string to them.
 */
#include "reader/lookalike.h"

#include <idn2.h>
#include <libpsl.h>
#include <unicode/uchar.h>
#include <unicode/uscript.h>
#include <unicode/uspoof.h>
#include <unicode/utf8.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- thresholds (docs/lookalike.md says why) ------------------------------
 * Minimum length, in code points of the reference's registrable label
 * (U-label), for each rule and each source; 0: the rule is off. A
 * skeleton match of the whole registrable domain and the whole domain in
 * front of another one apply at any length. Protected names are few and
 * ours; an operator list can hold hundreds of brands, many of them common
 * words (express, hotels, free); correspondents are learned by the
 * thousand and include short words (mail.com, news.org). So the looser a
 * rule, the longer the name must be, and the substring rule is kept for
 * our own names. */
static const struct threshold {
    size_t other_suffix;  /* the same label under another suffix: paypal.net */
    size_t edit_same;     /* one edit, same suffix: paypall.com, upps.com */
    size_t edit_other;    /* one edit, another suffix: paypall.net */
    size_t token;         /* a hyphen-separated part: ups-tracking.example */
    size_t prefix_or_end; /* the start or end of a label: paypalsecure.example */
    size_t dotless;       /* the whole registrable domain without its dots as the
                             start of a label (bankexample.com), counting the
                             letters without the dots; shorter, as a whole
                             label or before a hyphen or digit (upscom.net) */
} thresholds[] = {
    [SGR_LOOKALIKE_PROTECTED] = {3, 3, 6, 3, 6, 8},
    [SGR_LOOKALIKE_OPERATOR] = {3, 5, 6, 5, 0, 0},
    [SGR_LOOKALIKE_CORRESPONDENT] = {5, 6, 6, 5, 0, 0},
};

/* Room for skeletons: a code point can become up to 18 (U+FDFA), so the
 * buffers are generous and a skeleton that does not fit is left empty,
 * which matches nothing. */
#define SKEL_MAX 4096
#define CP_MAX 1024

typedef struct name_info {
    char ascii[SGR_LOOKALIKE_ASCII_MAX];
    char unicode[SGR_LOOKALIKE_UNICODE_MAX];
    char reg[SGR_LOOKALIKE_ASCII_MAX]; /* registrable domain, A-label form */
    char reg_u[SGR_LOOKALIKE_UNICODE_MAX];
    char label[64];                          /* registrable label, A-label form */
    char label_u[SGR_LOOKALIKE_UNICODE_MAX]; /* the same, U-label form */
    const char *suffix;                      /* into reg, after the label; "" if none */
    size_t label_len;                        /* code points of label_u */
    char skel_label[SKEL_MAX];
    char skel_reg[SKEL_MAX];
    char skel_host[SKEL_MAX]; /* the whole name */
    char skel_raw[SKEL_MAX];  /* the name as written, before IDNA mapping */
    uint32_t cp[CP_MAX];      /* skel_label as code points */
    size_t ncp;
    uint32_t lcp[CP_MAX]; /* label_u as code points */
    size_t nlcp;
} name_info;

typedef struct ref {
    sgr_lookalike_source source;
    char *ascii, *unicode, *reg, *label, *label_u, *suffix, *skel_label, *skel_reg;
    char *skel_reg_hy;   /* skel_reg with '-' for '.': paypal-com */
    char *skel_reg_flat; /* skel_reg without its dots: paypalcom */
    uint32_t *cp, *lcp;
    size_t ncp, nlcp, label_len;
} ref;

struct sgr_lookalike_builder {
    psl_ctx_t *psl;
    USpoofChecker *sc;
    ref *refs;
    size_t n, cap;
};

struct sgr_lookalike {
    psl_ctx_t *psl;
    USpoofChecker *sc;
    ref *refs;
    size_t n;
};

/* ---- small helpers ------------------------------------------------------ */

static void fmt(char *out, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *out, size_t cap, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(out, cap, f, ap);
    va_end(ap);
    if (n < 0 && cap > 0)
        out[0] = '\0';
    /* vsnprintf may cut inside a UTF-8 sequence: end the text before it */
    if (n >= (int)cap && cap > 1) {
        int32_t i = 0, len = (int32_t)strlen(out);
        while (i < len) {
            int32_t start = i;
            UChar32 c;
            U8_NEXT(out, i, len, c);
            if (c < 0) {
                out[start] = '\0';
                break;
            }
        }
    }
}

static int copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* The UTS #39 skeleton of s (UTF-8), then folded further: ASCII upper case
 * to lower (the skeleton maps '0' to 'O' and 'I' to 'l', and a domain's
 * case does not matter) and the two-letter ASCII tricks UTS #39 leaves out
 * ("vv" for "w", "cl" for "d"; "rn" for "m" is in confusables.txt). Both
 * sides of every comparison go through here, so extra folding only ever
 * adds matches. Empty when it does not fit. */
static void skeleton(const USpoofChecker *sc, const char *s, char *out, size_t cap)
{
    UErrorCode st = U_ZERO_ERROR;
    char tmp[SKEL_MAX];
    int32_t n = uspoof_getSkeletonUTF8(sc, 0, s, -1, tmp, (int32_t)sizeof tmp, &st);
    out[0] = '\0';
    if (U_FAILURE(st) || n < 0 || (size_t)n >= sizeof tmp || (size_t)n >= cap)
        return;
    size_t o = 0;
    for (int32_t i = 0; i < n; i++) {
        char c = tmp[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        char next = i + 1 < n ? tmp[i + 1] : '\0';
        if (next >= 'A' && next <= 'Z')
            next = (char)(next - 'A' + 'a');
        if (c == 'v' && next == 'v') {
            out[o++] = 'w';
            i++;
        } else if (c == 'c' && next == 'l') {
            out[o++] = 'd';
            i++;
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
}

/* UTF-8 to code points; returns the count, or 0 if it does not fit. */
static size_t to_cps(const char *s, uint32_t *cp, size_t cap)
{
    int32_t i = 0, len = (int32_t)strlen(s);
    size_t n = 0;
    while (i < len) {
        UChar32 c;
        U8_NEXT(s, i, len, c);
        if (c < 0 || n == cap)
            return 0;
        cp[n++] = (uint32_t)c;
    }
    return n;
}

static size_t count_cps(const char *s)
{
    int32_t i = 0, len = (int32_t)strlen(s);
    size_t n = 0;
    while (i < len) {
        UChar32 c;
        U8_NEXT(s, i, len, c);
        n++;
    }
    return n;
}

/* A-label to U-label form; a copy of the input when it cannot convert. */
static int to_unicode(const char *ascii, char *out, size_t cap)
{
    char *u = NULL;
    int rc = idn2_to_unicode_8z8z(ascii, &u, 0);
    if (rc == IDN2_MALLOC)
        return SGR_LOOKALIKE_ENOMEM;
    int r = copy(out, cap, rc == IDN2_OK && u ? u : ascii);
    idn2_free(u);
    if (r < 0)
        return copy(out, cap, ascii) < 0 ? -2 : 0;
    return 0;
}

static int is_ip_literal(const char *s)
{
    if (s[0] == '[' || strchr(s, ':'))
        return 1;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || *s == '.'))
            return 0;
    return 1;
}

/* ---- analysis of one name ------------------------------------------------
 * Returns 0, 1 (not a usable name: why says so) or ENOMEM. */
static int analyse(const USpoofChecker *sc, const psl_ctx_t *psl, const char *in, size_t len,
                   name_info *ni, char *why, size_t whylen)
{
    char buf[SGR_LOOKALIKE_INPUT_MAX + 1];

    if (in == NULL || len == 0) {
        fmt(why, whylen, "an empty name");
        return 1;
    }
    if (len > SGR_LOOKALIKE_INPUT_MAX) {
        fmt(why, whylen, "a name of %zu bytes, longer than any domain name", len);
        return 1;
    }
    memcpy(buf, in, len);
    buf[len] = '\0';
    if (buf[len - 1] == '.') /* one root dot is allowed */
        buf[--len] = '\0';
    if (len == 0) {
        fmt(why, whylen, "an empty name");
        return 1;
    }
    for (int32_t i = 0; i < (int32_t)len;) {
        UChar32 c;
        U8_NEXT(buf, i, (int32_t)len, c);
        if (c < 0) {
            fmt(why, whylen, "not valid UTF-8");
            return 1;
        }
        if (c <= 0x20 || c == 0x7f) {
            fmt(why, whylen, "contains a space or a control character");
            return 1;
        }
    }
    if (is_ip_literal(buf)) {
        fmt(why, whylen, "an IP address, not a domain name");
        return 1;
    }

    char *a = NULL;
    int rc = idn2_to_ascii_8z(buf, &a, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc == IDN2_MALLOC)
        return SGR_LOOKALIKE_ENOMEM;
    if (rc != IDN2_OK || a == NULL) {
        fmt(why, whylen, "not a valid internationalised domain name (IDNA2008: %s)",
            idn2_strerror(rc));
        idn2_free(a);
        return 1;
    }
    int r = copy(ni->ascii, sizeof ni->ascii, a);
    idn2_free(a);
    if (r < 0 || ni->ascii[0] == '\0') {
        fmt(why, whylen, "longer than 253 octets as an A-label");
        return 1;
    }
    size_t alen = strlen(ni->ascii);
    if (ni->ascii[alen - 1] == '.')
        ni->ascii[--alen] = '\0';
    if (strchr(ni->ascii, '.') == NULL) {
        fmt(why, whylen, "a single label, not a domain name");
        return 1;
    }
    if (strstr(ni->ascii, "..") || ni->ascii[0] == '.') {
        fmt(why, whylen, "an empty label");
        return 1;
    }
    /* letters, digits, hyphens (RFC 952/1123), and the underscore of
     * service names; anything else is no host a link can reach */
    for (const char *p = ni->ascii; *p; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
              ch == '_')) {
            fmt(why, whylen, "contains '%c', which no host name has", ch);
            return 1;
        }
    }

    /* The registrable domain; a name that is itself a public suffix
     * (co.uk, us.com) stands for itself. */
    const char *reg = psl_registrable_domain(psl, ni->ascii);
    if (copy(ni->reg, sizeof ni->reg, reg ? reg : ni->ascii) < 0)
        return 1;
    const char *dot = strchr(ni->reg, '.');
    size_t llen = dot ? (size_t)(dot - ni->reg) : strlen(ni->reg);
    if (llen >= sizeof ni->label) {
        fmt(why, whylen, "a label longer than 63 octets");
        return 1;
    }
    memcpy(ni->label, ni->reg, llen);
    ni->label[llen] = '\0';
    ni->suffix = dot ? dot + 1 : "";

    if ((rc = to_unicode(ni->ascii, ni->unicode, sizeof ni->unicode)) < 0 ||
        (rc = to_unicode(ni->reg, ni->reg_u, sizeof ni->reg_u)) < 0 ||
        (rc = to_unicode(ni->label, ni->label_u, sizeof ni->label_u)) < 0) {
        fmt(why, whylen, "its Unicode form is too long");
        return rc == SGR_LOOKALIKE_ENOMEM ? rc : 1;
    }
    ni->label_len = count_cps(ni->label_u);

    skeleton(sc, ni->label_u, ni->skel_label, sizeof ni->skel_label);
    skeleton(sc, ni->reg_u, ni->skel_reg, sizeof ni->skel_reg);
    skeleton(sc, ni->unicode, ni->skel_host, sizeof ni->skel_host);
    skeleton(sc, buf, ni->skel_raw, sizeof ni->skel_raw);
    ni->ncp = to_cps(ni->skel_label, ni->cp, CP_MAX);
    ni->nlcp = to_cps(ni->label_u, ni->lcp, CP_MAX);
    return 0;
}

/* ---- builder ------------------------------------------------------------- */

static USpoofChecker *open_checker(void)
{
    UErrorCode st = U_ZERO_ERROR;
    USpoofChecker *sc = uspoof_open(&st);
    if (U_FAILURE(st))
        return NULL;
    /* UTS #39 5.2 Highly Restrictive, the level Gmail requires of IDNs in
     * mail; plus invisible characters, mixed digit sets and hidden
     * overlays (a dot over a dotted letter). */
    uspoof_setRestrictionLevel(sc, USPOOF_HIGHLY_RESTRICTIVE);
    uspoof_setChecks(sc,
                     USPOOF_RESTRICTION_LEVEL | USPOOF_INVISIBLE | USPOOF_MIXED_NUMBERS |
                         USPOOF_HIDDEN_OVERLAY,
                     &st);
    if (U_FAILURE(st)) {
        uspoof_close(sc);
        return NULL;
    }
    return sc;
}

int sgr_lookalike_builder_new(sgr_lookalike_builder **out, const char *psl_file)
{
    *out = NULL;
    sgr_lookalike_builder *b = calloc(1, sizeof *b);
    if (b == NULL)
        return SGR_LOOKALIKE_ENOMEM;
    if (psl_file == NULL)
        b->psl = psl_latest(NULL);
    else if (psl_file[0] == '\0')
        b->psl = (psl_ctx_t *)psl_builtin(); /* psl_free leaves it alone */
    else
        b->psl = psl_load_file(psl_file);
    if (b->psl == NULL) {
        free(b);
        return SGR_LOOKALIKE_EPSL;
    }
    if ((b->sc = open_checker()) == NULL) {
        psl_free(b->psl);
        free(b);
        return SGR_LOOKALIKE_EICU;
    }
    *out = b;
    return SGR_LOOKALIKE_OK;
}

static void ref_clear(ref *r)
{
    free(r->ascii);
    free(r->unicode);
    free(r->reg);
    free(r->label);
    free(r->label_u);
    free(r->suffix);
    free(r->skel_label);
    free(r->skel_reg);
    free(r->skel_reg_hy);
    free(r->skel_reg_flat);
    free(r->cp);
    free(r->lcp);
    memset(r, 0, sizeof *r);
}

int sgr_lookalike_builder_add(sgr_lookalike_builder *b, const char *name, size_t len,
                              sgr_lookalike_source source)
{
    if (b == NULL || source > SGR_LOOKALIKE_CORRESPONDENT)
        return SGR_LOOKALIKE_EINVAL;
    name_info *ni = malloc(sizeof *ni);
    if (ni == NULL)
        return SGR_LOOKALIKE_ENOMEM;
    char why[SGR_LOOKALIKE_DETAIL_MAX];
    int rc = analyse(b->sc, b->psl, name, len, ni, why, sizeof why);
    if (rc != 0 || ni->skel_label[0] == '\0' || ni->ncp == 0) {
        free(ni);
        return rc < 0 ? rc : SGR_LOOKALIKE_EINVAL;
    }
    /* every rule works on the registrable domain: mail.paypal.com and
     * paypal.com are one reference */
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->refs[i].reg, ni->reg) == 0) {
            if (source < b->refs[i].source)
                b->refs[i].source = source;
            free(ni);
            return SGR_LOOKALIKE_OK;
        }
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 16;
        ref *nr = realloc(b->refs, cap * sizeof *nr);
        if (nr == NULL) {
            free(ni);
            return SGR_LOOKALIKE_ENOMEM;
        }
        b->refs = nr;
        b->cap = cap;
    }
    ref *r = &b->refs[b->n];
    memset(r, 0, sizeof *r);
    r->source = source;
    r->ascii = strdup(ni->ascii);
    r->unicode = strdup(ni->unicode);
    r->reg = strdup(ni->reg);
    r->label = strdup(ni->label);
    r->label_u = strdup(ni->label_u);
    r->suffix = strdup(ni->suffix);
    r->skel_label = strdup(ni->skel_label);
    r->skel_reg = strdup(ni->skel_reg);
    r->skel_reg_hy = strdup(ni->skel_reg);
    r->skel_reg_flat = strdup(ni->skel_reg);
    r->cp = malloc(ni->ncp * sizeof *r->cp);
    r->ncp = ni->ncp;
    r->lcp = malloc((ni->nlcp ? ni->nlcp : 1) * sizeof *r->lcp);
    r->nlcp = ni->nlcp;
    r->label_len = ni->label_len;
    if (!r->ascii || !r->unicode || !r->reg || !r->label || !r->label_u || !r->suffix ||
        !r->skel_label || !r->skel_reg || !r->skel_reg_hy || !r->skel_reg_flat || !r->cp ||
        !r->lcp) {
        ref_clear(r);
        free(ni);
        return SGR_LOOKALIKE_ENOMEM;
    }
    for (char *p = r->skel_reg_hy; *p; p++)
        if (*p == '.')
            *p = '-';
    size_t k = 0;
    for (const char *p = r->skel_reg_flat; *p; p++)
        if (*p != '.')
            r->skel_reg_flat[k++] = *p;
    r->skel_reg_flat[k] = '\0';
    memcpy(r->cp, ni->cp, ni->ncp * sizeof *r->cp);
    memcpy(r->lcp, ni->lcp, ni->nlcp * sizeof *r->lcp);
    b->n++;
    free(ni);
    return SGR_LOOKALIKE_OK;
}

size_t sgr_lookalike_builder_count(const sgr_lookalike_builder *b)
{
    return b ? b->n : 0;
}

void sgr_lookalike_builder_free(sgr_lookalike_builder *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n; i++)
        ref_clear(&b->refs[i]);
    free(b->refs);
    if (b->sc)
        uspoof_close(b->sc);
    if (b->psl)
        psl_free(b->psl);
    free(b);
}

/* Protected first, then operator, then correspondents; by name within a
 * source, so the order of hits does not depend on the order of adding. */
static int ref_cmp(const void *x, const void *y)
{
    const ref *a = x, *b = y;
    if (a->source != b->source)
        return a->source < b->source ? -1 : 1;
    return strcmp(a->ascii, b->ascii);
}

int sgr_lookalike_build(sgr_lookalike **out, sgr_lookalike_builder *b)
{
    *out = NULL;
    if (b == NULL)
        return SGR_LOOKALIKE_EINVAL;
    sgr_lookalike *lk = calloc(1, sizeof *lk);
    if (lk == NULL) {
        sgr_lookalike_builder_free(b);
        return SGR_LOOKALIKE_ENOMEM;
    }
    if (b->n > 1)
        qsort(b->refs, b->n, sizeof *b->refs, ref_cmp);
    lk->psl = b->psl;
    lk->sc = b->sc;
    lk->refs = b->refs;
    lk->n = b->n;
    free(b);
    *out = lk;
    return SGR_LOOKALIKE_OK;
}

const psl_ctx_t *sgr_lookalike_psl(const sgr_lookalike *lk)
{
    return lk->psl;
}

void sgr_lookalike_free(sgr_lookalike *lk)
{
    if (lk == NULL)
        return;
    for (size_t i = 0; i < lk->n; i++)
        ref_clear(&lk->refs[i]);
    free(lk->refs);
    uspoof_close(lk->sc);
    psl_free(lk->psl);
    free(lk);
}

/* ---- comparisons --------------------------------------------------------- */

/* An edit of exactly one (Damerau: insertion, deletion, substitution, or
 * transposition of two neighbours). Linear: both strings agree up to the
 * first difference and after the edit. *op and *at say which edit. */
enum { ED_SUB, ED_SWAP, ED_EXTRA, ED_MISSING };
static int edit1(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, int *op, size_t *at)
{
    size_t i = 0;
    if (na == nb) {
        while (i < na && a[i] == b[i])
            i++;
        if (i == na)
            return 0; /* equal */
        *at = i;
        if (memcmp(a + i + 1, b + i + 1, (na - i - 1) * sizeof *a) == 0) {
            *op = ED_SUB;
            return 1;
        }
        if (i + 1 < na && a[i] == b[i + 1] && a[i + 1] == b[i] &&
            memcmp(a + i + 2, b + i + 2, (na - i - 2) * sizeof *a) == 0) {
            *op = ED_SWAP;
            return 1;
        }
        return 0;
    }
    if (na == nb + 1 || nb == na + 1) {
        const uint32_t *l = na > nb ? a : b, *s = na > nb ? b : a;
        size_t ns = na > nb ? nb : na;
        while (i < ns && l[i] == s[i])
            i++;
        if (memcmp(l + i + 1, s + i, (ns - i) * sizeof *a) != 0)
            return 0;
        *op = na > nb ? ED_EXTRA : ED_MISSING;
        *at = i;
        return 1;
    }
    return 0;
}

/* One code point as a quoted string for a detail: 'a', or 'а' (U+0430
 * CYRILLIC SMALL LETTER A) when it is not ASCII. */
static void describe_cp(uint32_t c, char *out, size_t cap)
{
    char u8[8];
    int32_t n = 0;
    UBool err = 0;
    U8_APPEND((uint8_t *)u8, n, (int32_t)sizeof u8, (UChar32)c, err);
    u8[err ? 0 : n] = '\0';
    if (c >= 0x21 && c < 0x7f) {
        fmt(out, cap, "'%s'", u8);
        return;
    }
    char name[128];
    UErrorCode st = U_ZERO_ERROR;
    u_charName((UChar32)c, U_UNICODE_CHAR_NAME, name, (int32_t)sizeof name, &st);
    if (U_FAILURE(st))
        name[0] = '\0';
    fmt(out, cap, "'%s' (U+%04X%s%s)", u8, (unsigned)c, name[0] ? " " : "", name);
}

/* "pаypal.com (xn--pypal-4ve.com)": the U-label form, and the A-label form
 * when it differs, so the reader sees what the browser will resolve. */
static void show_name(const name_info *c, char *out, size_t cap)
{
    if (strcmp(c->unicode, c->ascii) == 0)
        fmt(out, cap, "%s", c->unicode);
    else
        fmt(out, cap, "%s (%s)", c->unicode, c->ascii);
}

/* Why two labels with one skeleton differ: the first differing character
 * when they have the same length, else the skeleton they share. */
static void skeleton_reason(const char *cand_label, const char *ref_label, const char *skel,
                            char *out, size_t cap)
{
    uint32_t a[CP_MAX], b[CP_MAX];
    size_t na = to_cps(cand_label, a, CP_MAX), nb = to_cps(ref_label, b, CP_MAX);
    if (na == nb && na > 0) {
        for (size_t i = 0; i < na; i++) {
            if (a[i] != b[i]) {
                char da[160], db[160];
                describe_cp(a[i], da, sizeof da);
                describe_cp(b[i], db, sizeof db);
                fmt(out, cap, "%s in place of %s, which look the same", da, db);
                return;
            }
        }
    }
    fmt(out, cap, "characters that look the same (both read as \"%s\" under UTS #39)", skel);
}

static void edit_reason(int op, size_t at, const uint32_t *ccp, const uint32_t *rcp, char *out,
                        size_t cap)
{
    char d1[160], d2[160];
    switch (op) {
    case ED_SUB:
        describe_cp(ccp[at], d1, sizeof d1);
        describe_cp(rcp[at], d2, sizeof d2);
        fmt(out, cap, "one character changed, %s in place of %s", d1, d2);
        break;
    case ED_SWAP:
        describe_cp(rcp[at], d1, sizeof d1);
        describe_cp(rcp[at + 1], d2, sizeof d2);
        fmt(out, cap, "two neighbouring characters swapped (%s and %s)", d1, d2);
        break;
    case ED_EXTRA:
        describe_cp(ccp[at], d1, sizeof d1);
        fmt(out, cap, "one character added, %s", d1);
        break;
    default:
        describe_cp(rcp[at], d1, sizeof d1);
        fmt(out, cap, "one character left out, %s", d1);
        break;
    }
}

/* Does needle occur in hay at a boundary on both sides ('.', '-', or the
 * ends), not as hay's own tail after a dot (that tail is the registrable
 * domain, compared elsewhere)? */
static int embedded_at_boundary(const char *hay, const char *needle)
{
    size_t nl = strlen(needle), hl = strlen(hay);
    if (nl == 0 || nl >= hl)
        return 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) {
        int left = p == hay || p[-1] == '.' || p[-1] == '-';
        char after = p[nl];
        int right = after == '.' || after == '-';
        if (left && right)
            return 1;
    }
    return 0;
}

/* needle as a whole hyphen-separated token of label (more than one token) */
static int is_token(const char *label, const char *needle)
{
    size_t nl = strlen(needle);
    if (nl == 0 || strlen(label) <= nl)
        return 0;
    for (const char *p = strstr(label, needle); p; p = strstr(p + 1, needle)) {
        int left = p == label || p[-1] == '-';
        int right = p[nl] == '\0' || p[nl] == '-';
        if (left && right)
            return 1;
    }
    return 0;
}

/* paypalsecure, securepaypal; not in the middle of a word, where longer
 * names hide a short one by chance more often than on purpose */
static int starts_or_ends_with(const char *label, const char *needle)
{
    size_t nl = strlen(needle), ll = strlen(label);
    if (nl == 0 || ll <= nl)
        return 0;
    return strncmp(label, needle, nl) == 0 || strcmp(label + ll - nl, needle) == 0;
}

/* Does a label of host start with needle (or is it needle)? whole: only
 * as the label itself or before a hyphen or a digit. */
static int label_starts_with(const char *host, const char *needle, int whole)
{
    size_t nl = strlen(needle);
    if (nl == 0)
        return 0;
    for (const char *p = host; p; p = strchr(p, '.')) {
        p += *p == '.';
        if (strncmp(p, needle, nl) == 0 && (!whole || p[nl] == '\0' || p[nl] == '.' ||
                                            p[nl] == '-' || (p[nl] >= '0' && p[nl] <= '9')))
            return 1;
    }
    return 0;
}

/* One reference against the candidate: at most one hit, the strongest
 * kind. Returns 1 and fills *h on a hit. */
static int compare(const name_info *c, const ref *r, sgr_lookalike_hit *h)
{
    const struct threshold *t = &thresholds[r->source];
    int same_suffix = strcmp(c->suffix, r->suffix) == 0;
    size_t L = r->label_len;
    char who[SGR_LOOKALIKE_UNICODE_MAX + SGR_LOOKALIKE_ASCII_MAX + 4];
    char why[SGR_LOOKALIKE_DETAIL_MAX];
    show_name(c, who, sizeof who);
    why[0] = '\0';

    if (c->skel_reg[0] && strcmp(c->skel_reg, r->skel_reg) == 0) {
        h->kind = SGR_LOOKALIKE_SKELETON;
        if (strcmp(c->label_u, r->label_u) != 0)
            skeleton_reason(c->label_u, r->label_u, r->skel_label, why, sizeof why);
        else
            fmt(why, sizeof why, "the suffix \".%s\" looks like \".%s\"", c->suffix, r->suffix);
    } else if (c->skel_raw[0] &&
               (strcmp(c->skel_raw, r->skel_reg) == 0 ||
                (strlen(c->skel_raw) > strlen(r->skel_reg) &&
                 c->skel_raw[strlen(c->skel_raw) - strlen(r->skel_reg) - 1] == '.' &&
                 strcmp(c->skel_raw + strlen(c->skel_raw) - strlen(r->skel_reg), r->skel_reg) ==
                     0))) {
        /* "paypaI.com": IDNA folds the capital I to "i", but the reader
         * saw something that reads as "paypal.com" */
        h->kind = SGR_LOOKALIKE_SKELETON;
        fmt(why, sizeof why, "as written it reads as %s (a capital letter that looks like another)",
            r->reg);
    } else if (!same_suffix && strcmp(c->skel_label, r->skel_label) == 0 && t->other_suffix &&
               L >= t->other_suffix) {
        h->kind = SGR_LOOKALIKE_OTHER_SUFFIX;
        if (strcmp(c->label_u, r->label_u) == 0) {
            fmt(why, sizeof why, "the same name \"%s\" under another suffix (.%s, not .%s)",
                r->label_u, c->suffix[0] ? c->suffix : "?", r->suffix);
        } else {
            char s[SGR_LOOKALIKE_DETAIL_MAX];
            skeleton_reason(c->label_u, r->label_u, r->skel_label, s, sizeof s);
            fmt(why, sizeof why, "%s, under another suffix (.%s, not .%s)", s,
                c->suffix[0] ? c->suffix : "?", r->suffix);
        }
    } else {
        int op = 0;
        size_t at = 0;
        size_t min = same_suffix ? t->edit_same : t->edit_other;
        int ed_ok = min && L >= min;
        /* on the skeletons (a typo on top of a homoglyph), and on the
         * labels themselves: a skeleton can grow ("m" is "rn", "cl" is
         * "d"), which turns one edit of the label into two */
        int ed_skel = ed_ok && c->ncp && edit1(c->cp, c->ncp, r->cp, r->ncp, &op, &at);
        int ed_label =
            !ed_skel && ed_ok && c->nlcp && edit1(c->lcp, c->nlcp, r->lcp, r->nlcp, &op, &at);
        if (ed_skel || ed_label) {
            h->kind = SGR_LOOKALIKE_EDIT_DISTANCE;
            edit_reason(op, at, ed_skel ? c->cp : c->lcp, ed_skel ? r->cp : r->lcp, why,
                        sizeof why);
            if (!same_suffix) {
                size_t w = strlen(why);
                fmt(why + w, sizeof why - w, ", under another suffix (.%s, not .%s)", c->suffix,
                    r->suffix);
            }
        } else {
            /* the reference's whole domain in front of another one:
             * paypal.com.evil.example, paypal.com-login.example,
             * paypal-com.example */
            if (embedded_at_boundary(c->skel_host, r->skel_reg) ||
                embedded_at_boundary(c->skel_host, r->skel_reg_hy)) {
                h->kind = SGR_LOOKALIKE_EMBEDDED;
                fmt(why, sizeof why,
                    "it starts with the name %s, but the domain it belongs to is %s", r->unicode,
                    c->reg_u);
            } else if (t->dotless && label_starts_with(c->skel_host, r->skel_reg_flat,
                                                       strlen(r->skel_reg_flat) < t->dotless)) {
                /* bankexample.com: the same attack as bank-example.com.
                 * Under 8 letters only as a whole label or before a hyphen
                 * or digit: go.com's 5 started gocompare.com, my.com's
                 * mycompany.com (rev21 R-7) */
                h->kind = SGR_LOOKALIKE_EMBEDDED;
                fmt(why, sizeof why, "it contains the name %s without its dots", r->unicode);
            } else if (t->token && L >= t->token && is_token(c->skel_label, r->skel_label)) {
                h->kind = SGR_LOOKALIKE_EMBEDDED;
                fmt(why, sizeof why, "it contains the name \"%s\" inside the longer name \"%s\"",
                    r->label_u, c->label_u);
            } else if (t->prefix_or_end && L >= t->prefix_or_end &&
                       starts_or_ends_with(c->skel_label, r->skel_label)) {
                h->kind = SGR_LOOKALIKE_EMBEDDED;
                fmt(why, sizeof why, "it contains the name \"%s\" inside the longer name \"%s\"",
                    r->label_u, c->label_u);
            } else {
                return 0;
            }
        }
    }
    h->source = r->source;
    copy(h->reference, sizeof h->reference, r->unicode);
    copy(h->reference_ascii, sizeof h->reference_ascii, r->ascii);
    fmt(h->detail, sizeof h->detail, "%s looks like %s: %s", who, r->unicode, why);
    return 1;
}

/* The scripts of a label, "Latin, Cyrillic" (Common and Inherited left
 * out); *latin says whether Latin is among them. Returns how many. */
static size_t label_scripts(const char *u, char *out, size_t cap, int *latin)
{
    UScriptCode seen[16];
    size_t ns = 0;
    int32_t i = 0, len = (int32_t)strlen(u);
    out[0] = '\0';
    *latin = 0;
    while (i < len) {
        UChar32 ch;
        U8_NEXT(u, i, len, ch);
        UErrorCode st = U_ZERO_ERROR;
        UScriptCode sc = uscript_getScript(ch, &st);
        if (U_FAILURE(st) || sc == USCRIPT_COMMON || sc == USCRIPT_INHERITED)
            continue;
        size_t k = 0;
        while (k < ns && seen[k] != sc)
            k++;
        if (k == ns && ns < 16) {
            seen[ns++] = sc;
            if (sc == USCRIPT_LATIN)
                *latin = 1;
            size_t w = strlen(out);
            fmt(out + w, cap - w, "%s%s", ns > 1 ? ", " : "", uscript_getName(sc));
        }
    }
    return ns;
}

/* Every character reads as a Latin letter or digit: раура reads as
 * "paypa". */
static int reads_as_ascii(const char *skel)
{
    if (skel[0] == '\0')
        return 0;
    for (const char *p = skel; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return 0;
    return 1;
}

/* Per label that is not plain ASCII: UTS #39 Highly Restrictive (and the
 * invisible, mixed-number and hidden-overlay checks), then whole-script
 * confusables the way browsers treat them: a label in one non-Latin
 * script whose every character looks like a Latin letter, under an ASCII
 * top-level domain, is shown as its A-label too (ICU no longer reports
 * whole-script confusables in uspoof_check). Returns 1 and fills *h for
 * the first label that fails. */
static int idn_check(const USpoofChecker *sc, const name_info *c, sgr_lookalike_hit *h)
{
    const char *tld = strrchr(c->ascii, '.');
    int ascii_tld = tld && strncmp(tld + 1, "xn--", 4) != 0;
    const char *p = c->ascii;
    while (*p) {
        const char *e = strchr(p, '.');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char a[64], u[SGR_LOOKALIKE_UNICODE_MAX], why[SGR_LOOKALIKE_DETAIL_MAX];
        why[0] = '\0';
        if (n > 4 && strncmp(p, "xn--", 4) == 0 && n < sizeof a) {
            memcpy(a, p, n);
            a[n] = '\0';
            if (to_unicode(a, u, sizeof u) == 0) {
                UErrorCode st = U_ZERO_ERROR;
                int32_t res = uspoof_checkUTF8(sc, u, -1, NULL, &st);
                char scripts[256];
                int latin;
                size_t ns = label_scripts(u, scripts, sizeof scripts, &latin);
                if (U_FAILURE(st)) {
                    res = 0;
                }
                if (res & USPOOF_RESTRICTION_LEVEL) {
                    fmt(why, sizeof why,
                        "the label \"%s\" mixes scripts (%s) in a way UTS #39 Highly Restrictive "
                        "does not allow",
                        u, scripts);
                } else if (res & USPOOF_INVISIBLE) {
                    fmt(why, sizeof why,
                        "the label \"%s\" contains invisible or stacked combining marks", u);
                } else if (res & USPOOF_MIXED_NUMBERS) {
                    fmt(why, sizeof why,
                        "the label \"%s\" mixes digits from different number systems", u);
                } else if (res != 0) {
                    fmt(why, sizeof why,
                        "the label \"%s\" fails the UTS #39 checks (a hidden overlay)", u);
                } else if (ascii_tld && ns == 1 && !latin) {
                    char skel[SKEL_MAX];
                    skeleton(sc, u, skel, sizeof skel);
                    if (reads_as_ascii(skel))
                        fmt(why, sizeof why,
                            "every character of the %s label \"%s\" looks like a Latin letter "
                            "(it reads as \"%s\")",
                            scripts, u, skel);
                }
            }
        }
        if (why[0]) {
            h->kind = SGR_LOOKALIKE_IDN;
            h->source = SGR_LOOKALIKE_PROTECTED;
            h->reference[0] = h->reference_ascii[0] = '\0';
            fmt(h->detail, sizeof h->detail, "%s is shown as %s: %s", c->unicode, c->ascii, why);
            return 1;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

static void add_hit(sgr_lookalike_result *res, const sgr_lookalike_hit *h)
{
    if (res->nhits < SGR_LOOKALIKE_MAX_HITS)
        res->hits[res->nhits++] = *h;
    res->nhits_total++;
}

int sgr_lookalike_check(const sgr_lookalike *lk, const char *name, size_t len,
                        sgr_lookalike_result *res)
{
    memset(res, 0, sizeof *res);
    res->verdict = SGR_LOOKALIKE_INVALID;
    if (lk == NULL) {
        fmt(res->detail, sizeof res->detail, "no checker");
        return SGR_LOOKALIKE_EINVAL;
    }
    name_info *c = malloc(sizeof *c);
    if (c == NULL) {
        fmt(res->detail, sizeof res->detail, "out of memory");
        return SGR_LOOKALIKE_ENOMEM;
    }
    int rc = analyse(lk->sc, lk->psl, name, len, c, res->detail, sizeof res->detail);
    if (rc != 0) {
        free(c);
        if (rc < 0)
            fmt(res->detail, sizeof res->detail, "out of memory");
        return rc < 0 ? rc : SGR_LOOKALIKE_OK;
    }
    copy(res->ascii, sizeof res->ascii, c->ascii);
    copy(res->unicode, sizeof res->unicode, c->unicode);
    copy(res->registrable, sizeof res->registrable, c->reg);
    copy(res->registrable_unicode, sizeof res->registrable_unicode, c->reg_u);
    res->verdict = SGR_LOOKALIKE_CLEAN;

    sgr_lookalike_hit *h = calloc(1, sizeof *h);
    if (h == NULL) {
        free(c);
        res->verdict = SGR_LOOKALIKE_INVALID;
        fmt(res->detail, sizeof res->detail, "out of memory");
        return SGR_LOOKALIKE_ENOMEM;
    }
    if (idn_check(lk->sc, c, h))
        add_hit(res, h);

    /* The reference itself, or a name under its registrable domain. A
     * correspondent is learned from mail, and an attacker can send
     * verified mail from his own bank-example.com: a learned name is known
     * only against the other correspondents, never against a protected or
     * operator name, which are compared first (adv29 RD-1). */
    const ref *known = NULL, *known_corr = NULL;
    for (size_t i = 0; i < lk->n && known == NULL; i++) {
        if (strcmp(c->reg, lk->refs[i].reg) != 0)
            continue;
        if (lk->refs[i].source != SGR_LOOKALIKE_CORRESPONDENT)
            known = &lk->refs[i];
        else if (known_corr == NULL)
            known_corr = &lk->refs[i];
    }
    size_t chosen_hits = 0; /* hits on protected and operator names */
    for (size_t i = 0; i < lk->n && known == NULL; i++) {
        if (known_corr != NULL && lk->refs[i].source == SGR_LOOKALIKE_CORRESPONDENT)
            continue;
        memset(h, 0, sizeof *h);
        if (compare(c, &lk->refs[i], h)) {
            add_hit(res, h);
            chosen_hits += lk->refs[i].source != SGR_LOOKALIKE_CORRESPONDENT;
        }
    }
    if (known == NULL && chosen_hits == 0)
        known = known_corr;
    if (known != NULL) {
        res->verdict = SGR_LOOKALIKE_KNOWN;
        copy(res->known, sizeof res->known, known->ascii);
    } else if (res->nhits_total > 0) {
        res->verdict = SGR_LOOKALIKE_SUSPECT;
    }
    free(h);
    free(c);
    return SGR_LOOKALIKE_OK;
}

const char *sgr_lookalike_kind_name(sgr_lookalike_kind kind)
{
    switch (kind) {
    case SGR_LOOKALIKE_SKELETON:
        return "skeleton";
    case SGR_LOOKALIKE_OTHER_SUFFIX:
        return "other_suffix";
    case SGR_LOOKALIKE_EDIT_DISTANCE:
        return "edit_distance";
    case SGR_LOOKALIKE_EMBEDDED:
        return "embedded";
    case SGR_LOOKALIKE_IDN:
        return "idn";
    }
    return "unknown";
}

const char *sgr_lookalike_source_name(sgr_lookalike_source source)
{
    switch (source) {
    case SGR_LOOKALIKE_PROTECTED:
        return "protected";
    case SGR_LOOKALIKE_OPERATOR:
        return "operator";
    case SGR_LOOKALIKE_CORRESPONDENT:
        return "correspondent";
    }
    return "unknown";
}

void sgr_lookalike_skeleton(const sgr_lookalike *lk, const char *s, char *out, size_t cap)
{
    if (cap == 0)
        return;
    skeleton(lk->sc, s, out, cap);
}
