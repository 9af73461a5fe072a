/*
 * The signature fields of the DKIM family, one parser for three kinds:
 * DKIM-Signature (RFC 6376 3.5), ARC-Message-Signature (RFC 8617 4.1.2:
 * DKIM-Signature's tags without v=, i= the instance) and ARC-Seal (4.1.3:
 * a, b, cv, d, i, s, t). One function per tag, run from a table in a
 * fixed order; where the kinds differ, the table says which kind a tag
 * belongs to, requires or forbids, and the tag's function checks the
 * kind. Policy (rsa-sha1, time, key checks) is the verifier's.
 *
 * Where ARC departs from plain DKIM, the ValiMail suite (2018 revision)
 * and dkimpy agree, and we follow them: an AMS without c= is
 * relaxed/relaxed; an AMS h= need not name From and may hold empty
 * elements (they select nothing); an AMS h= naming ARC-Seal, and an AS
 * with h=, are invalid; ARC allows rsa-sha256 alone.
 */
#include "dkim_int.h"

#include <spoofguard/arc.h>
#include <spoofguard/dmarc.h>

#include "util/domain.h"

#include <string.h>
#include "util/ascii.h"

enum { DKIM = SG_SIG_DKIM, AMS = SG_SIG_AMS, AS = SG_SIG_AS, ARC = AMS | AS, ALL = DKIM | ARC };

/* Instance numbers are 1..50 (RFC 8617 4.2.1): at most 2 digits. */
#define MAX_I_DIGITS 2

/* One parse: the output, the arena, and why it failed. */
struct pctx {
    sg_arena *a;
    sg_dkim_sig *out;
    const char *reason;
};

static int bad(struct pctx *c, const char *reason)
{
    c->reason = reason;
    return SG_ESYNTAX;
}

/* 1*maxdigits DIGIT into *out (saturating at UINT64_MAX). */
static int parse_digits(const char *v, size_t n, size_t maxdigits, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0 || n > maxdigits)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned d;
        if (v[i] < '0' || v[i] > '9')
            return -1;
        d = (unsigned)(v[i] - '0');
        x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
    }
    *out = x;
    return 0;
}

/* ARC i=: 1*2DIGIT in 1..50, no leading zero (RFC 8617 4.2.1); 0 if not. */
unsigned sg_arc_parse_instance(const char *s, size_t n)
{
    uint64_t x;
    if (n == 0 || s[0] == '0' || parse_digits(s, n, MAX_I_DIGITS, &x) != 0)
        return 0;
    return x <= SG_ARC_MAX_INSTANCES ? (unsigned)x : 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10; /* lenient: RFC 2045 hex is upper case */
    return -1;
}

/* dkim-quoted-printable (2.11): "=XX" escapes, FWS ignored. */
static char *decode_qp(sg_arena *a, const char *v, size_t n)
{
    char *o = sg_arena_alloc(a, n + 1), *p = o;
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (sg_dkim_is_fws(v[i]))
            continue;
        if (v[i] == '=') {
            int hi, lo;
            if (i + 2 >= n)
                return NULL;
            hi = hexval(v[i + 1]);
            lo = hexval(v[i + 2]);
            if (hi < 0 || lo < 0)
                return NULL;
            *p++ = (char)(hi * 16 + lo);
            i += 2;
            continue;
        }
        *p++ = v[i];
    }
    *p = '\0';
    if (memchr(o, '\0', (size_t)(p - o)) != NULL)
        return NULL; /* =00 would truncate the identity */
    return o;
}

int sg_dkim_domain_ok(const char *d)
{
    return d != NULL && sg_domain_syntax_ok(d, strlen(d), SG_DOMAIN_HOSTCHARS);
}

int sg_dkim_name_ok(const char *name)
{
    return sg_dkim_domain_ok(name);
}

/* ---- one function per tag -------------------------------------------------- */

static int tag_v(struct pctx *c, const char *v, size_t n)
{
    return n == 1 && v[0] == '1' ? SG_OK : bad(c, "unsupported signature version");
}

static int tag_cv(struct pctx *c, const char *v, size_t n)
{
    /* 4.1.3: cv is one of none / fail / pass */
    static const struct {
        const char *name;
        int cv;
    } cvs[] = {{"none", SG_ARC_NONE}, {"pass", SG_ARC_PASS}, {"fail", SG_ARC_FAIL}};
    for (size_t k = 0; k < sizeof(cvs) / sizeof(cvs[0]); k++)
        if (n == 4 && !memcmp(v, cvs[k].name, 4)) {
            c->out->cv = cvs[k].cv;
            return SG_OK;
        }
    return bad(c, "bad cv= value");
}

static int tag_a(struct pctx *c, const char *v, size_t n)
{
    (void)v;
    (void)n;
    if (c->out->kind == SG_SIG_DKIM)
        return c->out->alg == SG_DKIM_ALG_UNKNOWN ? bad(c, "unsupported algorithm") : SG_OK;
    /* RFC 8617 specifies ARC with rsa-sha256 alone (rsa-sha1 is also
     * excluded by RFC 8301). Stalwart's mail-auth also accepts
     * ed25519-sha256 sets (draft-ietf-dmarc-arc-multi); dkimpy does not. */
    if (c->out->alg == SG_DKIM_ED25519_SHA256)
        return bad(c, "ed25519-sha256 is not defined for ARC (RFC 8617)");
    if (c->out->alg != SG_DKIM_RSA_SHA256)
        return bad(c, "unsupported algorithm (ARC allows rsa-sha256 only)");
    return SG_OK;
}

/* A U-label d= is looked up, and aligned, as its A-label (RFC 8616 4). */
static int tag_d(struct pctx *c, const char *v, size_t n)
{
    (void)v;
    (void)n;
    int rc = sg_dmarc_domain_alabel(c->a, &c->out->d);
    if (rc == SG_ENOMEM)
        return rc;
    return rc == SG_OK && sg_dkim_domain_ok(c->out->d) ? SG_OK : bad(c, "bad d= domain");
}

static int tag_s(struct pctx *c, const char *v, size_t n)
{
    (void)v;
    (void)n;
    return sg_dkim_domain_ok(c->out->s) ? SG_OK : bad(c, "bad s= selector");
}

static int tag_b(struct pctx *c, const char *v, size_t n)
{
    sg_dkim_sig *o = c->out;
    int rc = sg_dkim_b64_decode(c->a, v, n, &o->b, &o->blen);
    if (rc != 0)
        return rc == SG_ENOMEM ? rc : bad(c, "b= is not base64");
    if (o->blen == 0 || o->blen > SG_DKIM_MAX_SIG_BYTES)
        return bad(c, "b= has a bad length");
    return SG_OK;
}

static int tag_bh(struct pctx *c, const char *v, size_t n)
{
    sg_dkim_sig *o = c->out;
    int rc = sg_dkim_b64_decode(c->a, v, n, &o->bh, &o->bhlen);
    if (rc != 0)
        return rc == SG_ENOMEM ? rc : bad(c, "bh= is not base64");
    if (o->bhlen != (o->alg == SG_DKIM_RSA_SHA1 ? 20u : 32u))
        return bad(c, "bh= has the wrong length for the hash");
    return SG_OK;
}

static int tag_c(struct pctx *c, const char *v, size_t n)
{
    return sg_canon_parse(v, n, &c->out->hcanon, &c->out->bcanon) == 0
               ? SG_OK
               : bad(c, "unsupported canonicalization");
}

struct h_list {
    struct pctx *c;
    const char *names[SG_DKIM_MAX_H];
    size_t nh;
    int has_from;
};

static int h_item(const char *s, size_t n, void *p)
{
    struct h_list *h = p;
    if (n == 0) {
        /* In an AMS an empty element ("from::to", or "h=" itself) names
         * no field and contributes nothing: ValiMail ams_fields_h_mis_hdr
         * and ams_fields_h_empty expect pass (dkimpy splits h= the same
         * way). DKIM's ABNF has no empty hdr-name. */
        return h->c->out->kind == SG_SIG_AMS ? 0 : bad(h->c, "empty name in h=");
    }
    for (size_t k = 0; k < n; k++) {
        unsigned char ch = (unsigned char)s[k];
        if (ch < 0x21 || ch > 0x7e)
            return bad(h->c, "bad field name in h=");
    }
    /* RFC 8617 4.1.2: the AMS must not sign ARC-Seal fields (the seal is
     * added after the AMS; signing one would break at the next hop). */
    if (h->c->out->kind == SG_SIG_AMS && n == 8 && !sg_ascii_ncasecmp(s, "arc-seal", 8))
        return bad(h->c, "AMS h= includes ARC-Seal");
    if (h->nh == SG_DKIM_MAX_H)
        return bad(h->c, "too many names in h=");
    if ((h->names[h->nh] = sg_arena_strndup(h->c->a, s, n)) == NULL)
        return SG_ENOMEM;
    if (n == 4 && !sg_ascii_ncasecmp(s, "from", 4))
        h->has_from = 1;
    h->nh++;
    return 0;
}

static int tag_h(struct pctx *c, const char *v, size_t n)
{
    sg_dkim_sig *o = c->out;
    struct h_list h = {.c = c};
    int rc = sg_dkim_list_each(v, n, h_item, &h);
    if (rc != 0)
        return rc;
    /* RFC 6376 5.4, 6.1.1. RFC 8617 does not carry this over to the AMS. */
    if (!h.has_from && o->kind == SG_SIG_DKIM)
        return bad(c, "h= does not include From");
    if ((o->h = sg_arena_alloc(c->a, (h.nh ? h.nh : 1) * sizeof(*o->h))) == NULL)
        return SG_ENOMEM;
    memcpy(o->h, h.names, h.nh * sizeof(*o->h));
    o->nh = h.nh;
    return SG_OK;
}

static int tag_i(struct pctx *c, const char *v, size_t n)
{
    sg_dkim_sig *o = c->out;
    const char *at;
    if (o->kind != SG_SIG_DKIM)
        return o->instance != 0 ? SG_OK : bad(c, "bad i= instance");
    o->i = decode_qp(c->a, v, n);
    if (o->i == NULL || (at = strrchr(o->i, '@')) == NULL)
        return bad(c, "bad i= identity");
    /* its domain compared with d= as A-labels, the local part as it is */
    const char *dom = at + 1;
    int rc = sg_dmarc_domain_alabel(c->a, &dom);
    if (rc == SG_ENOMEM)
        return rc;
    if (rc == SG_OK && dom != at + 1) {
        size_t ll = (size_t)(at - o->i), dl = strlen(dom);
        char *i = sg_arena_alloc(c->a, ll + dl + 2);
        if (i == NULL)
            return SG_ENOMEM;
        memcpy(i, o->i, ll + 1);
        memcpy(i + ll + 1, dom, dl + 1);
        o->i = i;
        at = i + ll;
    }
    /* a domain-name, as d= is (3.5): no trailing dot (adv24 DK-4b) */
    if (rc != SG_OK || !sg_dkim_domain_ok(at + 1))
        return bad(c, "bad i= domain");
    if (!sg_domain_within(at + 1, o->d))
        return bad(c, "i= domain is not d= or a subdomain of it");
    return SG_OK;
}

static int tag_l(struct pctx *c, const char *v, size_t n)
{
    /* 1*76DIGIT (RFC 6376 3.5; the AMS takes DKIM's l=, RFC 8617 4.1.2),
     * saturating: a length beyond any body covers the whole body */
    if (parse_digits(v, n, 76, &c->out->l) != 0)
        return bad(c, "bad l= value");
    c->out->has_l = 1;
    return SG_OK;
}

/* "dns/txt" is the only query method defined (3.5 q=); others are
 * skipped, and the signature is usable only if dns/txt is listed */
static int q_item(const char *s, size_t n, void *p)
{
    (void)p;
    return n == 7 && !sg_ascii_ncasecmp(s, "dns/txt", 7);
}

static int tag_q(struct pctx *c, const char *v, size_t n)
{
    return sg_dkim_list_each(v, n, q_item, NULL) == 1 ? SG_OK : bad(c, "unsupported query method");
}

static int tag_t(struct pctx *c, const char *v, size_t n)
{
    uint64_t u;
    if (parse_digits(v, n, 12, &u) != 0)
        return bad(c, "bad t= value");
    c->out->t = (int64_t)u;
    c->out->has_t = 1;
    return SG_OK;
}

static int tag_x(struct pctx *c, const char *v, size_t n)
{
    uint64_t u;
    if (parse_digits(v, n, 12, &u) != 0)
        return bad(c, "bad x= value");
    c->out->x = (int64_t)u;
    c->out->has_x = 1;
    return SG_OK;
}

/* The tags, in the order their values are checked (which decides the
 * reason given when a field has several faults). kinds: where the tag
 * means something (elsewhere it is an unknown tag, ignored, RFC 6376
 * 3.2); required, forbidden: by kind; early: the value is checked before
 * the other tags' presence, as it says what the field is. */
enum { T_V, T_CV, T_A, T_D, T_S, T_B, T_BH, T_C, T_H, T_I, T_L, T_Q, T_T, T_X, T_COUNT };

static const struct tagdef {
    const char *name;
    size_t len;
    unsigned kinds, required, forbidden;
    int early;
    int (*fn)(struct pctx *c, const char *v, size_t n);
} tagdefs[T_COUNT] = {
    [T_V] = {"v", 1, DKIM, DKIM, 0, 1, tag_v},
    [T_CV] = {"cv", 2, AS, AS, 0, 1, tag_cv},
    [T_A] = {"a", 1, ALL, ALL, 0, 0, tag_a},
    [T_D] = {"d", 1, ALL, ALL, 0, 0, tag_d},
    [T_S] = {"s", 1, ALL, ALL, 0, 0, tag_s},
    [T_B] = {"b", 1, ALL, ALL, 0, 0, tag_b},
    [T_BH] = {"bh", 2, DKIM | AMS, DKIM | AMS, 0, 0, tag_bh},
    [T_C] = {"c", 1, DKIM | AMS, 0, 0, 0, tag_c},
    [T_H] = {"h", 1, ALL, DKIM | AMS, AS, 0, tag_h},
    [T_I] = {"i", 1, ALL, ARC, 0, 0, tag_i},
    [T_L] = {"l", 1, DKIM | AMS, 0, 0, 0, tag_l},
    [T_Q] = {"q", 1, DKIM, 0, 0, 0, tag_q},
    [T_T] = {"t", 1, ALL, 0, 0, 0, tag_t},
    [T_X] = {"x", 1, DKIM | AMS, 0, 0, 0, tag_x}, /* AMS: DKIM's meaning (RFC 8617 4.1.2) */
};

static const char *missing_reason(sg_dkim_kind kind, int id)
{
    if (id == T_V)
        return "missing v= tag";
    switch (kind) {
    case SG_SIG_AMS:
        return "missing required tag (a, b, bh, d, h, i or s)";
    case SG_SIG_AS:
        return "missing required tag (a, b, cv, d, i or s)";
    default:
        return "missing required tag (a, b, bh, d, h or s)";
    }
}

static int tag_id(unsigned kind, const sg_dkim_tag *t)
{
    for (int id = 0; id < T_COUNT; id++)
        if (tagdefs[id].len == t->name_len && tagdefs[id].name[0] == t->name[0] &&
            !memcmp(tagdefs[id].name, t->name, t->name_len))
            return (tagdefs[id].kinds & kind) ? id : -1;
    return -1;
}

static char *tag_str(sg_arena *a, const sg_dkim_tag *t)
{
    return sg_arena_strndup(a, t->value, t->value_len);
}

/* What can be said of even a broken field, so that it can be reported by
 * domain, selector, algorithm and instance. */
static int fill_early(struct pctx *c, const sg_dkim_tag *const *tv)
{
    static const struct {
        const char *name;
        sg_dkim_alg alg;
    } algs[] = {
        {"rsa-sha256", SG_DKIM_RSA_SHA256},
        {"ed25519-sha256", SG_DKIM_ED25519_SHA256},
        {"rsa-sha1", SG_DKIM_RSA_SHA1},
    };
    sg_dkim_sig *o = c->out;
    /* d=, s=, a= and c= allow no whitespace inside (3.5 ABNF): copied as
     * they are, so a space makes them invalid */
    if (tv[T_D] && (o->d = tag_str(c->a, tv[T_D])) == NULL)
        return SG_ENOMEM;
    if (tv[T_S] && (o->s = tag_str(c->a, tv[T_S])) == NULL)
        return SG_ENOMEM;
    if (tv[T_A]) {
        if ((o->a = tag_str(c->a, tv[T_A])) == NULL)
            return SG_ENOMEM;
        for (size_t k = 0; k < sizeof(algs) / sizeof(algs[0]); k++)
            if (!sg_ascii_casecmp(o->a, algs[k].name))
                o->alg = algs[k].alg;
    }
    if (tv[T_B]) {
        size_t p = 0;
        for (size_t k = 0; k < tv[T_B]->value_len && p < sizeof(o->b_prefix) - 1; k++)
            if (!sg_dkim_is_fws(tv[T_B]->value[k]))
                o->b_prefix[p++] = tv[T_B]->value[k];
        o->b_prefix[p] = '\0';
    }
    if (tv[T_I] && o->kind != SG_SIG_DKIM)
        o->instance = sg_arc_parse_instance(tv[T_I]->value, tv[T_I]->value_len);
    return SG_OK;
}

int sg_dkim_sig_parse(sg_arena *a, sg_dkim_kind kind, const char *raw, size_t raw_len,
                      sg_dkim_sig *out, const char **reason)
{
    sg_dkim_tag tags[SG_DKIM_MAX_TAGS];
    const sg_dkim_tag *tv[T_COUNT] = {0};
    struct pctx c = {.a = a, .out = out};
    size_t ntags, base, vlen;
    const char *colon, *err = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    out->kind = kind;
    /* No c=: simple/simple for DKIM (3.5). For the AMS relaxed/relaxed:
     * ARC sealers always use relaxed, and the 2018 revision of the
     * ValiMail suite (ams_fields_c_na) and dkimpy take a missing c= that
     * way. The seal is always relaxed (RFC 8617 5.1.1). */
    out->hcanon = out->bcanon = kind == SG_SIG_DKIM ? SG_CANON_SIMPLE : SG_CANON_RELAXED;
    colon = memchr(raw, ':', raw_len);
    if (colon == NULL) {
        *reason = "not a header field";
        return SG_ESYNTAX;
    }
    base = (size_t)(colon - raw) + 1;
    vlen = raw_len - base;
    /* the field's own line ending is not part of the tag list */
    if (vlen >= 2 && raw[base + vlen - 2] == '\r' && raw[base + vlen - 1] == '\n')
        vlen -= 2;
    else if (vlen >= 1 && raw[base + vlen - 1] == '\n')
        vlen -= 1;
    if (sg_dkim_taglist_parse(raw + base, vlen, tags, SG_DKIM_MAX_TAGS, &ntags, &err) != 0) {
        *reason = err;
        return SG_ESYNTAX;
    }
    for (size_t k = 0; k < ntags; k++) {
        int id = tag_id(kind, &tags[k]);
        if (id >= 0)
            tv[id] = &tags[k];
    }
    if ((rc = fill_early(&c, tv)) != 0)
        return rc;

    /* 6.1.1: required tags (and the ones saying what the field is), the
     * forbidden ones, then each value */
    for (int id = 0; id < T_COUNT && rc == 0; id++) {
        const struct tagdef *d = &tagdefs[id];
        if (tv[id] == NULL && (d->required & kind))
            rc = bad(&c, missing_reason(kind, id));
        else if (tv[id] != NULL && d->early)
            rc = d->fn(&c, tv[id]->value, tv[id]->value_len);
    }
    for (int id = 0; id < T_COUNT && rc == 0; id++)
        if (tv[id] != NULL && (tagdefs[id].forbidden & kind))
            rc = bad(&c, "ARC-Seal must not have h="); /* 4.1.3: its coverage is fixed */
    for (int id = 0; id < T_COUNT && rc == 0; id++)
        if (tv[id] != NULL && !tagdefs[id].early)
            rc = tagdefs[id].fn(&c, tv[id]->value, tv[id]->value_len);
    if (rc == 0 && out->has_t && out->has_x && out->x < out->t)
        rc = bad(&c, "x= is before t="); /* 3.5 x=: MUST be greater than t= */
    if (rc != 0) {
        if (rc == SG_ESYNTAX)
            *reason = c.reason;
        return rc;
    }
    if (kind == SG_SIG_DKIM && out->i == NULL) {
        /* no i=: "@" d= (3.5) */
        char *i = sg_arena_alloc(a, strlen(out->d) + 2);
        if (i == NULL)
            return SG_ENOMEM;
        i[0] = '@';
        strcpy(i + 1, out->d);
        out->i = i;
    }

    /* The b= value, with the whitespace around it, is blanked when the
     * field itself is hashed (3.7): from just after '=' to the ';' or the
     * end of the value. */
    {
        size_t eq = tv[T_B]->value_off;
        while (eq > 0 && raw[base + eq - 1] != '=')
            eq--;
        out->b_start = base + eq;
        out->b_end = base + tv[T_B]->end_off;
    }
    return SG_OK;
}
