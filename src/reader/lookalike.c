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
#include <stdatomic.h>
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
    /* refs by registrable domain (index + 1; 0: empty), so adding the
     * n-th name does not compare it with the n - 1 before it */
    size_t *by_reg;
    size_t by_reg_size; /* a power of two, at least twice n */
};

/* The references indexed by what each rule needs to be equal, so a check
 * looks up the few references that can match instead of comparing with
 * all of them (adv35 F2: 1,000 links x 10,000 references took 1.1 s a
 * message). A key is a 64-bit hash of a string, of its length and of a
 * tag; keys that collide only add references to compare(), which decides
 * every hit as before, so the answers do not depend on the index. */
typedef struct key_slot {
    uint64_t key;
    uint32_t off, cnt; /* refs post[off..off+cnt), ascending; cnt 0: empty */
} key_slot;

typedef struct ref_index {
    key_slot *slots;
    size_t mask;
    uint32_t *post;
    uint32_t *always; /* compared with every candidate: protected names (the
                         substring rules only they have), unkeyable ones */
    size_t nalways;
    size_t emb_seps; /* most '.' and '-' in a reference's skel_reg */
    size_t tok_seps; /* most '-' in a reference's skel_label */
    uint64_t *pw;    /* HASH_BASE^i, i <= SKEL_MAX */
} ref_index;

struct sgr_lookalike {
    psl_ctx_t *psl;
    USpoofChecker *sc;
    ref *refs;
    size_t n;
    ref_index ix;
    atomic_size_t *compares; /* compare() calls, for sgr_lookalike_compares */
};

static int index_build(ref_index *ix, const ref *refs, size_t n);
static void index_free(ref_index *ix);

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

static size_t str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return (size_t)(h ^ (h >> 32));
}

/* The slot of reg, or the empty slot where it would go. */
static size_t by_reg_find(const sgr_lookalike_builder *b, const char *reg)
{
    if (b->by_reg_size == 0)
        return 0;
    size_t mask = b->by_reg_size - 1, s = str_hash(reg) & mask;
    while (b->by_reg[s] != 0 && strcmp(b->refs[b->by_reg[s] - 1].reg, reg) != 0)
        s = (s + 1) & mask;
    return s;
}

static int by_reg_grow(sgr_lookalike_builder *b)
{
    size_t size = b->by_reg_size ? 2 * b->by_reg_size : 64;
    size_t *t = calloc(size, sizeof *t);
    if (t == NULL)
        return -1;
    free(b->by_reg);
    b->by_reg = t;
    b->by_reg_size = size;
    for (size_t i = 0; i < b->n; i++)
        b->by_reg[by_reg_find(b, b->refs[i].reg)] = i + 1;
    return 0;
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
    size_t slot = by_reg_find(b, ni->reg);
    if (b->by_reg_size && b->by_reg[slot] != 0) {
        ref *same = &b->refs[b->by_reg[slot] - 1];
        if (source < same->source)
            same->source = source;
        free(ni);
        return SGR_LOOKALIKE_OK;
    }
    if (2 * (b->n + 1) > b->by_reg_size) {
        if (by_reg_grow(b) != 0) {
            free(ni);
            return SGR_LOOKALIKE_ENOMEM;
        }
        slot = by_reg_find(b, ni->reg);
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
    b->by_reg[slot] = ++b->n;
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
    free(b->by_reg);
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
    lk->compares = malloc(sizeof *lk->compares);
    if (lk->compares == NULL || index_build(&lk->ix, b->refs, b->n) != SGR_LOOKALIKE_OK) {
        index_free(&lk->ix);
        free(lk->compares);
        free(lk);
        sgr_lookalike_builder_free(b);
        return SGR_LOOKALIKE_ENOMEM;
    }
    atomic_init(lk->compares, 0);
    lk->psl = b->psl;
    lk->sc = b->sc;
    lk->refs = b->refs;
    lk->n = b->n;
    free(b->by_reg);
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
    index_free(&lk->ix);
    free(lk->compares);
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
    char why[SGR_LOOKALIKE_DETAIL_MAX];
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
    char who[SGR_LOOKALIKE_UNICODE_MAX + SGR_LOOKALIKE_ASCII_MAX + 4];
    show_name(c, who, sizeof who);
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

/* ---- the index ------------------------------------------------------------
 * Which references can a candidate match at all? Each rule but two needs
 * some string of the reference to equal a string of the candidate:
 *   skeleton       skel_reg = the candidate's skel_reg, its skel_raw, or a
 *                  tail of skel_raw after a dot
 *   other_suffix   skel_label = the candidate's skel_label
 *   edit_distance  one edit apart iff a one-deletion variant (or the whole)
 *                  of one equals one of the other: a deletion on both sides
 *                  at i is a substitution, at i and i+1 a transposition
 *   embedded       skel_reg (or skel_reg_hy) = a piece of the candidate's
 *                  skel_host between separators; skel_label = a piece of
 *                  its skel_label between hyphens
 * The other two (the start or end of a label, the name without its dots)
 * are our own names' only, which are few: those are compared every time. */

enum { K_REG = 1, K_SKREG, K_SKLABEL, K_EDIT };

#define HASH_BASE 0x100000001b3ULL

static uint64_t key_of(uint64_t h, size_t len, unsigned tag)
{
    uint64_t x = h + (uint64_t)len * 0x9e3779b97f4a7c15ULL + (uint64_t)tag * 0xd6e8feb86659fd93ULL;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* P[i]: the polynomial hash of the first i units, so any piece's hash is
 * P[q] - P[p] * B^(q-p), and one deletion's is the two sides joined. */
static void prefix_bytes(const char *s, size_t n, uint64_t *P)
{
    P[0] = 0;
    for (size_t i = 0; i < n; i++)
        P[i + 1] = P[i] * HASH_BASE + (uint64_t)(unsigned char)s[i] + 1;
}

static void prefix_cps(const uint32_t *a, size_t n, uint64_t *P)
{
    P[0] = 0;
    for (size_t i = 0; i < n; i++)
        P[i + 1] = P[i] * HASH_BASE + (uint64_t)a[i] + 1;
}

static uint64_t piece_hash(const uint64_t *P, const uint64_t *pw, size_t p, size_t q)
{
    return P[q] - P[p] * pw[q - p];
}

/* the n units without the one at i */
static uint64_t deletion_hash(const uint64_t *P, const uint64_t *pw, size_t n, size_t i)
{
    return P[i] * pw[n - 1 - i] + piece_hash(P, pw, i + 1, n);
}

typedef struct key_pair {
    uint64_t key;
    uint32_t ref;
} key_pair;

typedef struct pair_list {
    key_pair *v;
    size_t n, cap;
    int oom;
} pair_list;

static void pair_add(pair_list *l, uint64_t key, size_t ri)
{
    if (l->oom)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 1024;
        key_pair *nv = realloc(l->v, cap * sizeof *nv);
        if (nv == NULL) {
            l->oom = 1;
            return;
        }
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n].key = key;
    l->v[l->n].ref = (uint32_t)ri;
    l->n++;
}

static void add_string_key(pair_list *l, const uint64_t *pw, uint64_t *P, const char *s,
                           unsigned tag, size_t ri)
{
    size_t n = strlen(s);
    prefix_bytes(s, n, P);
    pair_add(l, key_of(piece_hash(P, pw, 0, n), n, tag), ri);
}

/* the whole and every one-deletion variant */
static void add_edit_keys(pair_list *l, const uint64_t *pw, uint64_t *P, const uint32_t *a,
                          size_t n, size_t ri)
{
    prefix_cps(a, n, P);
    pair_add(l, key_of(P[n], n, K_EDIT), ri);
    for (size_t i = 0; i < n; i++)
        pair_add(l, key_of(deletion_hash(P, pw, n, i), n - 1, K_EDIT), ri);
}

static size_t count_seps(const char *s, const char *seps)
{
    size_t k = 0;
    for (; *s; s++)
        k += strchr(seps, *s) != NULL;
    return k;
}

static int pair_cmp(const void *x, const void *y)
{
    const key_pair *a = x, *b = y;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return (a->ref > b->ref) - (a->ref < b->ref);
}

/* A reference every candidate is compared with: our own names (the two
 * substring rules only they have), and one some rule cannot key (a
 * skeleton that did not fit matches by other means than equality). */
static int compared_always(const ref *r)
{
    return r->source == SGR_LOOKALIKE_PROTECTED || r->skel_reg[0] == '\0' || r->nlcp == 0;
}

static int index_build(ref_index *ix, const ref *refs, size_t n)
{
    memset(ix, 0, sizeof *ix);
    if (n > UINT32_MAX)
        return SGR_LOOKALIKE_ENOMEM;
    uint64_t *P = malloc((SKEL_MAX + 1) * sizeof *P);
    ix->pw = malloc((SKEL_MAX + 1) * sizeof *ix->pw);
    ix->always = malloc((n ? n : 1) * sizeof *ix->always);
    pair_list l = {0};
    if (P == NULL || ix->pw == NULL || ix->always == NULL) {
        free(P);
        return SGR_LOOKALIKE_ENOMEM;
    }
    ix->pw[0] = 1;
    for (size_t i = 1; i <= SKEL_MAX; i++)
        ix->pw[i] = ix->pw[i - 1] * HASH_BASE;
    for (size_t i = 0; i < n; i++) {
        const ref *r = &refs[i];
        add_string_key(&l, ix->pw, P, r->reg, K_REG, i);
        if (compared_always(r)) {
            ix->always[ix->nalways++] = (uint32_t)i;
            continue;
        }
        add_string_key(&l, ix->pw, P, r->skel_reg, K_SKREG, i);
        if (strcmp(r->skel_reg_hy, r->skel_reg) != 0)
            add_string_key(&l, ix->pw, P, r->skel_reg_hy, K_SKREG, i);
        add_string_key(&l, ix->pw, P, r->skel_label, K_SKLABEL, i);
        size_t e = count_seps(r->skel_reg, ".-"), t = count_seps(r->skel_label, "-");
        ix->emb_seps = e > ix->emb_seps ? e : ix->emb_seps;
        ix->tok_seps = t > ix->tok_seps ? t : ix->tok_seps;
        const struct threshold *th = &thresholds[r->source];
        size_t min = th->edit_same < th->edit_other ? th->edit_same : th->edit_other;
        if (min == 0 || r->label_len < min)
            continue;
        add_edit_keys(&l, ix->pw, P, r->cp, r->ncp, i);
        if (r->nlcp != r->ncp || memcmp(r->lcp, r->cp, r->ncp * sizeof *r->cp) != 0)
            add_edit_keys(&l, ix->pw, P, r->lcp, r->nlcp, i);
    }
    free(P);
    if (l.oom) {
        free(l.v);
        return SGR_LOOKALIKE_ENOMEM;
    }
    if (l.n > 1)
        qsort(l.v, l.n, sizeof *l.v, pair_cmp);
    size_t distinct = 0;
    for (size_t i = 0; i < l.n; i++)
        distinct += i == 0 || l.v[i].key != l.v[i - 1].key;
    size_t size = 16;
    while (size < 2 * distinct)
        size *= 2;
    ix->slots = calloc(size, sizeof *ix->slots);
    ix->post = malloc((l.n ? l.n : 1) * sizeof *ix->post);
    if (ix->slots == NULL || ix->post == NULL) {
        free(l.v);
        return SGR_LOOKALIKE_ENOMEM;
    }
    ix->mask = size - 1;
    size_t np = 0;
    for (size_t i = 0; i < l.n;) {
        size_t j = i, off = np;
        for (; j < l.n && l.v[j].key == l.v[i].key; j++)
            if (j == i || l.v[j].ref != l.v[j - 1].ref)
                ix->post[np++] = l.v[j].ref;
        size_t s = (size_t)l.v[i].key & ix->mask;
        while (ix->slots[s].cnt != 0)
            s = (s + 1) & ix->mask;
        ix->slots[s].key = l.v[i].key;
        ix->slots[s].off = (uint32_t)off;
        ix->slots[s].cnt = (uint32_t)(np - off);
        i = j;
    }
    free(l.v);
    return SGR_LOOKALIKE_OK;
}

static void index_free(ref_index *ix)
{
    free(ix->slots);
    free(ix->post);
    free(ix->always);
    free(ix->pw);
    memset(ix, 0, sizeof *ix);
}

static const key_slot *index_find(const ref_index *ix, uint64_t key)
{
    for (size_t s = (size_t)key & ix->mask; ix->slots[s].cnt != 0; s = (s + 1) & ix->mask)
        if (ix->slots[s].key == key)
            return &ix->slots[s];
    return NULL;
}

typedef struct cand_list {
    uint32_t *v;
    size_t n, cap;
    int oom;
} cand_list;

static void cand_add(cand_list *l, const uint32_t *refs, size_t n)
{
    if (l->oom || n == 0)
        return;
    if (l->n + n > l->cap) {
        size_t cap = l->cap ? l->cap : 64;
        while (cap < l->n + n)
            cap *= 2;
        uint32_t *nv = realloc(l->v, cap * sizeof *nv);
        if (nv == NULL) {
            l->oom = 1;
            return;
        }
        l->v = nv;
        l->cap = cap;
    }
    memcpy(l->v + l->n, refs, n * sizeof *refs);
    l->n += n;
}

static void cand_key(cand_list *l, const ref_index *ix, uint64_t key)
{
    const key_slot *k = index_find(ix, key);
    if (k)
        cand_add(l, ix->post + k->off, k->cnt);
}

static int u32_cmp(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

/* Pieces of s that begin at its start or after a separator and end before
 * a separator (or at the end, if to_end), with at most max_seps separators
 * inside: what embedded_at_boundary and is_token can find there. */
static void cand_pieces(cand_list *l, const ref_index *ix, uint64_t *P, const char *s,
                        const char *seps, size_t max_seps, int to_end, unsigned tag)
{
    size_t n = strlen(s);
    prefix_bytes(s, n, P);
    for (size_t p = 0; p < n; p++) {
        if (p > 0 && strchr(seps, s[p - 1]) == NULL)
            continue;
        size_t inside = 0;
        for (size_t q = p; q <= n && inside <= max_seps; q++) {
            int end = q == n ? to_end : strchr(seps, s[q]) != NULL;
            if (!end)
                continue;
            /* the whole of s is never a piece of itself */
            if (q > p && !(p == 0 && q == n))
                cand_key(l, ix, key_of(piece_hash(P, ix->pw, p, q), q - p, tag));
            inside++;
        }
    }
}

static void cand_edits(cand_list *l, const ref_index *ix, uint64_t *P, const uint32_t *a, size_t n)
{
    prefix_cps(a, n, P);
    cand_key(l, ix, key_of(P[n], n, K_EDIT));
    for (size_t i = 0; i < n; i++)
        cand_key(l, ix, key_of(deletion_hash(P, ix->pw, n, i), n - 1, K_EDIT));
}

/* The references compare() can find a hit on for c, ascending (the order
 * of the hits), each once; a superset of them. */
static int candidates(const sgr_lookalike *lk, const name_info *c, cand_list *l)
{
    const ref_index *ix = &lk->ix;
    uint64_t *P = malloc((SKEL_MAX + 1) * sizeof *P);
    if (P == NULL)
        return SGR_LOOKALIKE_ENOMEM;
    cand_add(l, ix->always, ix->nalways);
    if (c->skel_reg[0]) {
        size_t n = strlen(c->skel_reg);
        prefix_bytes(c->skel_reg, n, P);
        cand_key(l, ix, key_of(P[n], n, K_SKREG));
    }
    if (c->skel_raw[0]) {
        size_t n = strlen(c->skel_raw);
        prefix_bytes(c->skel_raw, n, P);
        cand_key(l, ix, key_of(P[n], n, K_SKREG));
        for (size_t j = 0; j < n; j++)
            if (c->skel_raw[j] == '.')
                cand_key(l, ix, key_of(piece_hash(P, ix->pw, j + 1, n), n - j - 1, K_SKREG));
    }
    {
        size_t n = strlen(c->skel_label);
        prefix_bytes(c->skel_label, n, P);
        cand_key(l, ix, key_of(P[n], n, K_SKLABEL));
    }
    if (c->ncp)
        cand_edits(l, ix, P, c->cp, c->ncp);
    if (c->nlcp && (c->nlcp != c->ncp || memcmp(c->lcp, c->cp, c->ncp * sizeof *c->cp) != 0))
        cand_edits(l, ix, P, c->lcp, c->nlcp);
    cand_pieces(l, ix, P, c->skel_host, ".-", ix->emb_seps, 0, K_SKREG);
    cand_pieces(l, ix, P, c->skel_label, "-", ix->tok_seps, 1, K_SKLABEL);
    free(P);
    if (l->oom)
        return SGR_LOOKALIKE_ENOMEM;
    if (l->n > 1) {
        qsort(l->v, l->n, sizeof *l->v, u32_cmp);
        size_t k = 1;
        for (size_t i = 1; i < l->n; i++)
            if (l->v[i] != l->v[k - 1])
                l->v[k++] = l->v[i];
        l->n = k;
    }
    return SGR_LOOKALIKE_OK;
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
    const key_slot *same = NULL;
    {
        size_t n = strlen(c->reg);
        uint64_t P[SGR_LOOKALIKE_ASCII_MAX + 1];
        prefix_bytes(c->reg, n, P);
        same = index_find(&lk->ix, key_of(P[n], n, K_REG));
    }
    for (size_t k = 0; same != NULL && k < same->cnt && known == NULL; k++) {
        const ref *r = &lk->refs[lk->ix.post[same->off + k]];
        if (strcmp(c->reg, r->reg) != 0)
            continue;
        if (r->source != SGR_LOOKALIKE_CORRESPONDENT)
            known = r;
        else if (known_corr == NULL)
            known_corr = r;
    }
    cand_list cl = {0};
    if (known == NULL && candidates(lk, c, &cl) != SGR_LOOKALIKE_OK) {
        free(cl.v);
        free(h);
        free(c);
        memset(res, 0, sizeof *res);
        res->verdict = SGR_LOOKALIKE_INVALID;
        fmt(res->detail, sizeof res->detail, "out of memory");
        return SGR_LOOKALIKE_ENOMEM;
    }
    size_t chosen_hits = 0; /* hits on protected and operator names */
    for (size_t k = 0; k < cl.n && known == NULL; k++) {
        const ref *r = &lk->refs[cl.v[k]];
        if (known_corr != NULL && r->source == SGR_LOOKALIKE_CORRESPONDENT)
            continue;
        memset(h, 0, sizeof *h);
        atomic_fetch_add_explicit(lk->compares, 1, memory_order_relaxed);
        if (compare(c, r, h)) {
            add_hit(res, h);
            chosen_hits += r->source != SGR_LOOKALIKE_CORRESPONDENT;
        }
    }
    free(cl.v);
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

size_t sgr_lookalike_compares(const sgr_lookalike *lk)
{
    return lk ? atomic_load_explicit(lk->compares, memory_order_relaxed) : 0;
}
