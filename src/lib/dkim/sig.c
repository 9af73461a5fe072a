/*
 * The DKIM-Signature header field (RFC 6376 3.5): tag table, per-tag
 * validation, and the checks of 6.1.1 that need nothing but the field.
 * Policy decisions (rsa-sha1, time) are the verifier's.
 */
#include "dkim_int.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

enum { T_V, T_A, T_B, T_BH, T_C, T_D, T_H, T_I, T_L, T_Q, T_S, T_T, T_X, T_Z, T_COUNT };

static const sg_dkim_tagdef sig_tags[] = {
    {"v", T_V}, {"a", T_A}, {"b", T_B}, {"bh", T_BH}, {"c", T_C}, {"d", T_D}, {"h", T_H},
    {"i", T_I}, {"l", T_L}, {"q", T_Q}, {"s", T_S},   {"t", T_T}, {"x", T_X}, {"z", T_Z},
};

static const struct {
    const char *name;
    sg_dkim_alg alg;
} algs[] = {
    {"rsa-sha256", SG_DKIM_RSA_SHA256},
    {"ed25519-sha256", SG_DKIM_ED25519_SHA256},
    {"rsa-sha1", SG_DKIM_RSA_SHA1},
};

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
    size_t label = 0, n = strlen(d);
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (isalnum(c) || c == '-' || c == '_') {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0;
}

struct h_list {
    sg_arena *a;
    const char *names[SG_DKIM_MAX_H];
    size_t nh;
    int has_from;
    const char *reason;
};

static int h_item(const char *s, size_t n, void *p)
{
    struct h_list *h = p;
    if (n == 0) {
        h->reason = "empty name in h=";
        return SG_ESYNTAX;
    }
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c < 0x21 || c > 0x7e) {
            h->reason = "bad field name in h=";
            return SG_ESYNTAX;
        }
    }
    if (h->nh == SG_DKIM_MAX_H) {
        h->reason = "too many names in h=";
        return SG_ESYNTAX;
    }
    if ((h->names[h->nh] = sg_arena_strndup(h->a, s, n)) == NULL)
        return SG_ENOMEM;
    if (!strcasecmp(h->names[h->nh], "from"))
        h->has_from = 1;
    h->nh++;
    return 0;
}

static int split_h(sg_arena *a, const char *v, size_t n, sg_dkim_sig *out, const char **reason)
{
    struct h_list h = {.a = a};
    int rc = sg_dkim_list_each(v, n, h_item, &h);
    if (rc != 0) {
        if (h.reason)
            *reason = h.reason;
        return rc;
    }
    if (!h.has_from) {
        *reason = "h= does not include From"; /* RFC 6376 5.4, 6.1.1 */
        return SG_ESYNTAX;
    }
    out->h = sg_arena_alloc(a, h.nh * sizeof(*out->h));
    if (out->h == NULL)
        return SG_ENOMEM;
    memcpy(out->h, h.names, h.nh * sizeof(*out->h));
    out->nh = h.nh;
    return SG_OK;
}

/* "dns/txt" is the only query method defined (3.5 q=); others are
 * skipped, and the signature is usable only if dns/txt is listed */
static int q_item(const char *s, size_t n, void *p)
{
    return n == 7 && !strncasecmp(s, "dns/txt", 7);
}

static int q_ok(const char *v, size_t n)
{
    return sg_dkim_list_each(v, n, q_item, NULL) == 1;
}

int sg_dkim_sig_parse(sg_arena *a, const char *raw, size_t raw_len, sg_dkim_sig *out,
                      const char **reason)
{
    sg_dkim_tag tags[SG_DKIM_MAX_TAGS];
    const sg_dkim_tag *tv[T_COUNT] = {0};
    size_t ntags, base, vlen;
    const char *colon, *err = NULL;
    int rc;
    uint64_t u;

    memset(out, 0, sizeof(*out));
    out->hcanon = out->bcanon = SG_CANON_SIMPLE;
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
        int id = sg_dkim_tag_lookup(sig_tags, T_COUNT, tags[k].name, tags[k].name_len);
        if (id >= 0)
            tv[id] = &tags[k];
    }

    /* Fill d=, s= and a= first so even a broken signature can be reported
     * by domain and selector. */
    /* d=, s=, a= and c= allow no whitespace inside (3.5 ABNF): copied as
     * they are, so a space makes them invalid below */
    if (tv[T_D] && (out->d = sg_arena_strndup(a, tv[T_D]->value, tv[T_D]->value_len)) == NULL)
        return SG_ENOMEM;
    if (tv[T_S] && (out->s = sg_arena_strndup(a, tv[T_S]->value, tv[T_S]->value_len)) == NULL)
        return SG_ENOMEM;
    if (tv[T_A]) {
        if ((out->a = sg_arena_strndup(a, tv[T_A]->value, tv[T_A]->value_len)) == NULL)
            return SG_ENOMEM;
        for (size_t k = 0; k < sizeof(algs) / sizeof(algs[0]); k++)
            if (!strcasecmp(out->a, algs[k].name))
                out->alg = algs[k].alg;
    }
    if (tv[T_B]) {
        size_t p = 0;
        for (size_t k = 0; k < tv[T_B]->value_len && p < sizeof(out->b_prefix) - 1; k++)
            if (!sg_dkim_is_fws(tv[T_B]->value[k]))
                out->b_prefix[p++] = tv[T_B]->value[k];
        out->b_prefix[p] = '\0';
    }

    /* 6.1.1: required tags, then each value */
    if (tv[T_V] == NULL) {
        *reason = "missing v= tag";
        return SG_ESYNTAX;
    }
    if (tv[T_V]->value_len != 1 || tv[T_V]->value[0] != '1') {
        *reason = "unsupported signature version";
        return SG_ESYNTAX;
    }
    if (!tv[T_A] || !tv[T_B] || !tv[T_BH] || !tv[T_D] || !tv[T_H] || !tv[T_S]) {
        *reason = "missing required tag (a, b, bh, d, h or s)";
        return SG_ESYNTAX;
    }
    if (out->alg == SG_DKIM_ALG_UNKNOWN) {
        *reason = "unsupported algorithm";
        return SG_ESYNTAX;
    }
    if (!sg_dkim_domain_ok(out->d)) {
        *reason = "bad d= domain";
        return SG_ESYNTAX;
    }
    if (!sg_dkim_domain_ok(out->s)) {
        *reason = "bad s= selector";
        return SG_ESYNTAX;
    }
    if ((rc = sg_dkim_b64_decode(a, tv[T_B]->value, tv[T_B]->value_len, &out->b, &out->blen)) !=
        0) {
        *reason = "b= is not base64";
        return rc;
    }
    if (out->blen == 0 || out->blen > SG_DKIM_MAX_SIG_BYTES) {
        *reason = "b= has a bad length";
        return SG_ESYNTAX;
    }
    if ((rc = sg_dkim_b64_decode(a, tv[T_BH]->value, tv[T_BH]->value_len, &out->bh, &out->bhlen)) !=
        0) {
        *reason = "bh= is not base64";
        return rc;
    }
    if (out->bhlen != (out->alg == SG_DKIM_RSA_SHA1 ? 20u : 32u)) {
        *reason = "bh= has the wrong length for the hash";
        return SG_ESYNTAX;
    }
    if (tv[T_C]) {
        char *c = sg_arena_strndup(a, tv[T_C]->value, tv[T_C]->value_len);
        if (c == NULL)
            return SG_ENOMEM;
        if (sg_canon_parse(c, strlen(c), &out->hcanon, &out->bcanon) != 0) {
            *reason = "unsupported canonicalization";
            return SG_ESYNTAX;
        }
    }
    if ((rc = split_h(a, tv[T_H]->value, tv[T_H]->value_len, out, reason)) != 0)
        return rc;
    if (tv[T_I]) {
        const char *at;
        out->i = decode_qp(a, tv[T_I]->value, tv[T_I]->value_len);
        if (out->i == NULL || (at = strrchr(out->i, '@')) == NULL) {
            *reason = "bad i= identity";
            return SG_ESYNTAX;
        }
        if (!sg_dkim_domain_within(at + 1, out->d)) {
            *reason = "i= domain is not d= or a subdomain of it";
            return SG_ESYNTAX;
        }
    } else {
        char *i = sg_arena_alloc(a, strlen(out->d) + 2);
        if (i == NULL)
            return SG_ENOMEM;
        i[0] = '@';
        strcpy(i + 1, out->d);
        out->i = i;
    }
    if (tv[T_L]) {
        if (parse_digits(tv[T_L]->value, tv[T_L]->value_len, 76, &out->l) != 0) {
            *reason = "bad l= value";
            return SG_ESYNTAX;
        }
        out->has_l = 1;
    }
    if (tv[T_Q] && !q_ok(tv[T_Q]->value, tv[T_Q]->value_len)) {
        *reason = "unsupported query method";
        return SG_ESYNTAX;
    }
    if (tv[T_T]) {
        if (parse_digits(tv[T_T]->value, tv[T_T]->value_len, 12, &u) != 0) {
            *reason = "bad t= value";
            return SG_ESYNTAX;
        }
        out->t = (int64_t)u;
        out->has_t = 1;
    }
    if (tv[T_X]) {
        if (parse_digits(tv[T_X]->value, tv[T_X]->value_len, 12, &u) != 0) {
            *reason = "bad x= value";
            return SG_ESYNTAX;
        }
        out->x = (int64_t)u;
        out->has_x = 1;
    }
    if (out->has_t && out->has_x && out->x < out->t) {
        *reason = "x= is before t="; /* 3.5 x=: MUST be greater than t= */
        return SG_ESYNTAX;
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
