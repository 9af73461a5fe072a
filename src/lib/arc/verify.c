/*
 * ARC chain validation (RFC 8617 5.2), built on the DKIM internals.
 *
 * Flow for one message:
 *   headers -> collect every ARC-Authentication-Results (AAR),
 *              ARC-Message-Signature (AMS) and ARC-Seal (AS) by i=; any
 *              structural fault (bad or duplicate i=, a gap) decides the
 *              chain as fail at once. Otherwise parse each AMS and AS,
 *              hash what they sign now (the header need not be kept),
 *              start the key queries (one per distinct s=/d=) and set up
 *              one body hasher per distinct (c= body, l=) pair;
 *   body    -> every chunk through each hasher once;
 *   finish  -> when the body is done and every key has arrived, the chain
 *              is decided in the order of 5.2.
 *
 * Only rsa-sha256 is accepted: RFC 8617 specifies ARC with rsa-sha256
 * alone (rsa-sha1 is also excluded by RFC 8301). Stalwart's mail-auth
 * also accepts ed25519-sha256 ARC sets (an extension following
 * draft-ietf-dmarc-arc-multi); we count such a set as fail, as dkimpy
 * does.
 *
 * Where ARC departs from plain DKIM, the ValiMail suite (2018 revision)
 * and dkimpy agree, and we follow them: an AMS without c= is
 * relaxed/relaxed; an AMS h= need not name From and may hold empty
 * elements (they select nothing); an AMS h= naming ARC-Seal, and an AS
 * with h=, are invalid. Key records follow DKIM (RFC 6376 3.6.1, RFC 8301
 * 1024-bit floor).
 */
#include "dkim/dkim_int.h"

#include <spoofguard/arc.h>
#include <spoofguard/canon.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* RFC 8301 3.2: verifiers MUST NOT consider RSA keys under 1024 bits. */
#define DEFAULT_MIN_RSA_BITS 1024
/* Tolerated clock difference for t= in the future (as for DKIM). */
#define DEFAULT_CLOCK_SKEW 300
/* Instance numbers are 1..50 (RFC 8617 4.2.1): at most 2 digits. */
#define MAX_I_DIGITS 2

enum { K_AMS = 0, K_AS = 1 };

/* One parsed AMS or AS. */
struct asig {
    int ok;             /* parsed and usable */
    const char *reason; /* why not, or the verification outcome */
    sg_dkim_result result;
    sg_canon_mode hcanon, bcanon;
    const char *d, *s;
    const char **h;
    size_t nh;
    uint8_t *b, *bh;
    size_t blen, bhlen;
    int has_l;
    uint64_t l;
    sg_arc_cv cv; /* AS only */
    int key;      /* index in v->keys, or -1 */
    int hasher;   /* AMS only */
    uint8_t hdr_digest[32];
};

struct aset {
    size_t aar, ams, as; /* field indices; SIZE_MAX: missing */
    struct asig sig[2];
};

struct hasher {
    sg_canon_mode mode;
    uint64_t limit;
    EVP_MD_CTX *md;
    sg_canon_body canon;
    uint8_t digest[32];
};

struct akey {
    sg_arc_verifier *v;
    char *qname;
    sg_dns_query *q;
    int done;
    int temp; /* lookup failed temporarily */
    int rc;   /* 0: key usable */
    const char *reason;
    sg_dkim_key key;
};

struct sg_arc_verifier {
    sg_resolver *resolver;
    sg_dkim_keycache *cache;
    sg_arc_verify_opts opts;
    sg_arena *arena;
    int64_t now;
    int have_headers, body_done, decided;
    unsigned n; /* highest instance */
    struct aset *sets;
    /* in the arena, sized for the chain once its length is known: at most
     * one hasher per AMS and one key per AMS and AS */
    struct hasher *hashers;
    size_t nhashers;
    struct akey *keys;
    size_t nkeys;
    size_t pending;
    const char *early_fail; /* structural failure found from the header */
    sg_arc_result result;
    sg_arc_set_result *set_results;
    void (*done_cb)(void *payload);
    void *done_payload;
};

const char *sg_arc_cv_str(sg_arc_cv cv)
{
    switch (cv) {
    case SG_ARC_PASS:
        return "pass";
    case SG_ARC_FAIL:
        return "fail";
    case SG_ARC_NONE:
        break;
    }
    return "none";
}

void sg_arc_verify_opts_init(sg_arc_verify_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->version = SG_ARC_VERIFY_OPTS_VERSION;
    o->clock_skew = DEFAULT_CLOCK_SKEW;
    o->min_rsa_bits = DEFAULT_MIN_RSA_BITS;
}

void sg_arc_verifier_set_done_cb(sg_arc_verifier *v, void (*cb)(void *payload), void *payload)
{
    v->done_cb = cb;
    v->done_payload = payload;
}

/* ---- lifecycle ------------------------------------------------------------ */

int sg_arc_verifier_new(sg_arc_verifier **out, sg_resolver *resolver, sg_dkim_keycache *cache,
                        const sg_arc_verify_opts *opts)
{
    sg_arc_verifier *v;
    int rc;
    if (out == NULL || resolver == NULL)
        return SG_EINVAL;
    *out = NULL;
    if (opts != NULL && opts->version != SG_ARC_VERIFY_OPTS_VERSION)
        return SG_EINVAL;
    v = calloc(1, sizeof(*v));
    if (v == NULL)
        return SG_ENOMEM;
    if (opts)
        v->opts = *opts;
    else
        sg_arc_verify_opts_init(&v->opts);
    if (v->opts.min_rsa_bits < DEFAULT_MIN_RSA_BITS)
        v->opts.min_rsa_bits = DEFAULT_MIN_RSA_BITS; /* RFC 8301: a floor, not a knob */
    if ((rc = sg_arena_new(&v->arena, 16384)) != 0) {
        free(v);
        return rc;
    }
    v->resolver = resolver;
    v->cache = cache;
    *out = v;
    return SG_OK;
}

void sg_arc_verifier_reset(sg_arc_verifier *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->nkeys; i++) {
        if (v->keys[i].q != NULL)
            sg_resolver_cancel(v->resolver, v->keys[i].q);
        sg_dkim_key_clear(&v->keys[i].key);
    }
    for (size_t i = 0; i < v->nhashers; i++)
        EVP_MD_CTX_free(v->hashers[i].md);
    sg_arena_reset(v->arena);
    v->nkeys = v->nhashers = v->pending = 0;
    v->hashers = NULL;
    v->keys = NULL;
    v->sets = NULL;
    v->set_results = NULL;
    v->n = 0;
    v->early_fail = NULL;
    v->have_headers = v->body_done = v->decided = 0;
    memset(&v->result, 0, sizeof(v->result));
}

void sg_arc_verifier_free(sg_arc_verifier *v)
{
    if (v == NULL)
        return;
    sg_arc_verifier_reset(v);
    sg_arena_free(v->arena);
    free(v);
}

/* ---- parsing ---------------------------------------------------------------- */

static int name_is(const sg_header *f, const char *name)
{
    size_t n = strlen(name);
    return f->name_len == n && !strncasecmp(f->name, name, n);
}

/* i= value: 1*2DIGIT in 1..50, no leading zero (RFC 8617 4.2.1). */
static unsigned parse_instance(const char *s, size_t n)
{
    unsigned x = 0;
    if (n == 0 || n > MAX_I_DIGITS || s[0] == '0')
        return 0;
    for (size_t k = 0; k < n; k++) {
        if (s[k] < '0' || s[k] > '9')
            return 0;
        x = x * 10 + (unsigned)(s[k] - '0');
    }
    return x <= SG_ARC_MAX_INSTANCES ? x : 0;
}

/* AAR (RFC 8617 4.1.1): "i=" instance ";" then an RFC 8601 payload. The
 * instance tag must come first. Returns the instance (0: malformed) and
 * the rest of the value in *rest. */
static unsigned aar_instance(const sg_header *f, const char **rest)
{
    const char *p = f->value, *e = f->value + f->value_len, *d;
    unsigned i;
    while (p < e && sg_dkim_is_fws(*p))
        p++;
    if (e - p < 2 || p[0] != 'i' || p[1] != '=')
        return 0;
    p += 2;
    while (p < e && sg_dkim_is_fws(*p))
        p++;
    d = p;
    while (p < e && *p >= '0' && *p <= '9')
        p++;
    if ((i = parse_instance(d, (size_t)(p - d))) == 0)
        return 0;
    while (p < e && sg_dkim_is_fws(*p))
        p++;
    if (p == e || *p != ';')
        return 0;
    p++;
    while (p < e && sg_dkim_is_fws(*p))
        p++;
    *rest = p;
    return i;
}

/* Both AMS and AS are tag lists: AMS tags as DKIM-Signature minus v=
 * (4.1.2), AS tags a, b, cv, d, i, s, t (4.1.3). */
enum { T_A, T_B, T_BH, T_C, T_CV, T_D, T_H, T_I, T_L, T_S, T_T, T_COUNT };

static const sg_dkim_tagdef arc_tags[] = {
    {"a", T_A}, {"b", T_B}, {"bh", T_BH}, {"c", T_C}, {"cv", T_CV}, {"d", T_D},
    {"h", T_H}, {"i", T_I}, {"l", T_L},   {"s", T_S}, {"t", T_T},
};

/* Tag lists keep the raw field around: the tag table and the offsets of
 * b= (to blank it when the field itself is hashed). */
struct parsed {
    sg_dkim_tag tags[SG_DKIM_MAX_TAGS];
    const sg_dkim_tag *tv[T_COUNT];
    size_t base; /* offset of the value in raw */
    int ok;
};

static int parse_tags(const sg_header *f, struct parsed *p, const char **reason)
{
    const char *colon = memchr(f->raw, ':', f->raw_len), *err = "bad tag list";
    size_t vlen, ntags;
    memset(p->tv, 0, sizeof(p->tv));
    p->ok = 0;
    if (colon == NULL) {
        *reason = "not a header field";
        return SG_ESYNTAX;
    }
    p->base = (size_t)(colon - f->raw) + 1;
    vlen = f->raw_len - p->base;
    if (vlen >= 2 && f->raw[p->base + vlen - 2] == '\r' && f->raw[p->base + vlen - 1] == '\n')
        vlen -= 2;
    else if (vlen >= 1 && f->raw[p->base + vlen - 1] == '\n')
        vlen -= 1;
    if (sg_dkim_taglist_parse(f->raw + p->base, vlen, p->tags, SG_DKIM_MAX_TAGS, &ntags, &err) !=
        0) {
        *reason = err;
        return SG_ESYNTAX;
    }
    for (size_t k = 0; k < ntags; k++) {
        int id = sg_dkim_tag_lookup(arc_tags, T_COUNT, p->tags[k].name, p->tags[k].name_len);
        if (id >= 0)
            p->tv[id] = &p->tags[k];
    }
    p->ok = 1;
    return SG_OK;
}

static int digits_ok(const sg_dkim_tag *t, size_t maxdigits, uint64_t *out)
{
    uint64_t x = 0;
    if (t->value_len == 0 || t->value_len > maxdigits)
        return 0;
    for (size_t k = 0; k < t->value_len; k++) {
        if (t->value[k] < '0' || t->value[k] > '9')
            return 0;
        x = x * 10 + (uint64_t)(t->value[k] - '0');
    }
    *out = x;
    return 1;
}

struct h_list {
    sg_arena *a;
    const char *names[SG_DKIM_MAX_H];
    size_t nh;
    const char *reason;
};

static int h_item(const char *s, size_t n, void *p)
{
    struct h_list *h = p;
    /* An empty element ("from::to", or "h=" itself) names no field and
     * contributes nothing to the hash: ValiMail ams_fields_h_mis_hdr and
     * ams_fields_h_empty expect pass (dkimpy splits h= the same way). */
    if (n == 0)
        return 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c < 0x21 || c > 0x7e || c == ':') {
            h->reason = "bad field name in h=";
            return SG_ESYNTAX;
        }
    }
    /* RFC 8617 4.1.2: the AMS must not sign ARC-Seal fields (the seal is
     * added after the AMS; signing one would break at the next hop). */
    if (n == 8 && !strncasecmp(s, "arc-seal", 8)) {
        h->reason = "AMS h= includes ARC-Seal";
        return SG_ESYNTAX;
    }
    if (h->nh == SG_DKIM_MAX_H) {
        h->reason = "too many names in h=";
        return SG_ESYNTAX;
    }
    if ((h->names[h->nh] = sg_arena_strndup(h->a, s, n)) == NULL)
        return SG_ENOMEM;
    h->nh++;
    return 0;
}

static char *tag_str(sg_arena *a, const sg_dkim_tag *t)
{
    return sg_arena_strndup(a, t->value, t->value_len);
}

/* Parse one AMS (kind K_AMS) or AS (K_AS) into s. Returns SG_ENOMEM or 0;
 * s->ok tells whether the field is usable, s->reason why not. */
static int parse_sig(sg_arc_verifier *v, const sg_header *f, int kind, struct parsed *p,
                     struct asig *s)
{
    const sg_dkim_tag *const *tv = p->tv;
    uint64_t u;
    int rc;
    s->ok = 0;
    s->key = -1;
    s->result = SG_DKIM_PERMERROR;
    s->hcanon = s->bcanon = SG_CANON_SIMPLE;
    if (!p->ok)
        return SG_OK; /* reason set by parse_tags */
    if (tv[T_D] && (s->d = tag_str(v->arena, tv[T_D])) == NULL)
        return SG_ENOMEM;
    if (tv[T_S] && (s->s = tag_str(v->arena, tv[T_S])) == NULL)
        return SG_ENOMEM;
    if (kind == K_AS && tv[T_CV]) {
        const sg_dkim_tag *t = tv[T_CV];
        /* 4.1.3: cv is one of none / fail / pass */
        if (t->value_len == 4 && !strncmp(t->value, "none", 4))
            s->cv = SG_ARC_NONE;
        else if (t->value_len == 4 && !strncmp(t->value, "pass", 4))
            s->cv = SG_ARC_PASS;
        else if (t->value_len == 4 && !strncmp(t->value, "fail", 4))
            s->cv = SG_ARC_FAIL;
        else {
            s->reason = "bad cv= value";
            return SG_OK;
        }
    }
    if (!tv[T_A] || !tv[T_B] || !tv[T_D] || !tv[T_S] || !tv[T_I] ||
        (kind == K_AMS && (!tv[T_BH] || !tv[T_H])) || (kind == K_AS && !tv[T_CV])) {
        s->reason = kind == K_AMS ? "missing required tag (a, b, bh, d, h, i or s)"
                                  : "missing required tag (a, b, cv, d, i or s)";
        return SG_OK;
    }
    if (kind == K_AS && tv[T_H]) {
        /* 4.1.3: the seal's coverage is fixed; an h= would suggest
         * otherwise, and ValiMail's suite treats it as a fail */
        s->reason = "ARC-Seal must not have h=";
        return SG_OK;
    }
    if (tv[T_A]->value_len == 14 && !strncasecmp(tv[T_A]->value, "ed25519-sha256", 14)) {
        s->reason = "ed25519-sha256 is not defined for ARC (RFC 8617)";
        return SG_OK;
    }
    if (tv[T_A]->value_len != 10 || strncasecmp(tv[T_A]->value, "rsa-sha256", 10) != 0) {
        s->reason = "unsupported algorithm (ARC allows rsa-sha256 only)";
        return SG_OK;
    }
    if (!sg_dkim_domain_ok(s->d)) {
        s->reason = "bad d= domain";
        return SG_OK;
    }
    if (!sg_dkim_domain_ok(s->s)) {
        s->reason = "bad s= selector";
        return SG_OK;
    }
    rc = sg_dkim_b64_decode(v->arena, tv[T_B]->value, tv[T_B]->value_len, &s->b, &s->blen);
    if (rc == SG_ENOMEM)
        return rc;
    if (rc != 0 || s->blen == 0 || s->blen > SG_DKIM_MAX_SIG_BYTES) {
        s->reason = "bad b= value";
        return SG_OK;
    }
    if (tv[T_T]) {
        if (!digits_ok(tv[T_T], 12, &u)) {
            s->reason = "bad t= value";
            return SG_OK;
        }
        if ((int64_t)u > v->now + (int64_t)v->opts.clock_skew) {
            s->reason = "timestamp in the future (t=)";
            return SG_OK;
        }
    }
    if (kind == K_AMS) {
        struct h_list h = {.a = v->arena};
        rc = sg_dkim_b64_decode(v->arena, tv[T_BH]->value, tv[T_BH]->value_len, &s->bh, &s->bhlen);
        if (rc == SG_ENOMEM)
            return rc;
        if (rc != 0 || s->bhlen != 32) {
            s->reason = "bad bh= value";
            return SG_OK;
        }
        /* No c=: relaxed/relaxed, not DKIM's simple/simple. ARC sealers
         * always use relaxed, and the 2018 revision of the ValiMail suite
         * (ams_fields_c_na) and dkimpy take a missing c= that way. */
        s->hcanon = s->bcanon = SG_CANON_RELAXED;
        if (tv[T_C]) {
            char *c = tag_str(v->arena, tv[T_C]);
            if (c == NULL)
                return SG_ENOMEM;
            if (sg_canon_parse(c, strlen(c), &s->hcanon, &s->bcanon) != 0) {
                s->reason = "unsupported canonicalization";
                return SG_OK;
            }
        }
        if (tv[T_L]) {
            if (!digits_ok(tv[T_L], 18, &s->l)) {
                s->reason = "bad l= value";
                return SG_OK;
            }
            s->has_l = 1;
        }
        /* An empty h= is accepted too: RFC 8617 does not carry over
         * DKIM's "From must be signed" (RFC 6376 5.4). */
        {
            rc = sg_dkim_list_each(tv[T_H]->value, tv[T_H]->value_len, h_item, &h);
            if (rc == SG_ENOMEM)
                return rc;
            if (rc != 0) {
                s->reason = h.reason ? h.reason : "bad h= list";
                return SG_OK;
            }
            s->h = sg_arena_alloc(v->arena, (h.nh ? h.nh : 1) * sizeof(*s->h));
            if (s->h == NULL)
                return SG_ENOMEM;
            memcpy(s->h, h.names, h.nh * sizeof(*s->h));
            s->nh = h.nh;
        }
    } else {
        /* 4.1.3: the seal is always relaxed header canonicalisation */
        s->hcanon = SG_CANON_RELAXED;
    }
    s->ok = 1;
    s->result = SG_DKIM_NONE;
    s->reason = "not evaluated";
    return SG_OK;
}

/* i= of an AMS or AS field (0: missing or malformed). */
static unsigned tag_instance(const struct parsed *p)
{
    if (!p->ok || p->tv[T_I] == NULL)
        return 0;
    return parse_instance(p->tv[T_I]->value, p->tv[T_I]->value_len);
}

/* ---- hashing -------------------------------------------------------------------- */

/* The field with its b= value removed (RFC 6376 3.7, RFC 8617 5.1.1),
 * hashed without its final CRLF. */
static int hash_blanked(sg_arc_verifier *v, EVP_MD_CTX *md, sg_canon_mode mode, const sg_header *f,
                        const struct parsed *p)
{
    size_t eq = p->tv[T_B]->value_off, b_start, b_end, n1, n2;
    char *blank;
    while (eq > 0 && f->raw[p->base + eq - 1] != '=')
        eq--;
    b_start = p->base + eq;
    b_end = p->base + p->tv[T_B]->end_off;
    n1 = b_start;
    n2 = f->raw_len - b_end;
    if ((blank = sg_arena_alloc(v->arena, n1 + n2 + 1)) == NULL)
        return SG_ENOMEM;
    memcpy(blank, f->raw, n1);
    memcpy(blank + n1, f->raw + b_end, n2);
    sg_canon_header(mode, blank, n1 + n2, 1, sg_dkim_md_sink, md);
    return SG_OK;
}

static int digest_final(EVP_MD_CTX *md, uint8_t out[32])
{
    unsigned int dlen = 0;
    int ok = EVP_DigestFinal_ex(md, out, &dlen) == 1 && dlen == 32;
    EVP_MD_CTX_free(md);
    return ok ? SG_OK : SG_ECRYPTO;
}

static EVP_MD_CTX *digest_new(const sg_arc_verifier *v)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md != NULL && EVP_DigestInit_ex(md, sg_dkim_sha256(v->cache), NULL) != 1) {
        EVP_MD_CTX_free(md);
        md = NULL;
    }
    return md;
}

/* AMS (RFC 8617 4.1.2): DKIM's header hash (RFC 6376 3.7). */
static int ams_digest(sg_arc_verifier *v, struct asig *s, const sg_header *fields, size_t count,
                      size_t self, const struct parsed *p, unsigned char *used)
{
    EVP_MD_CTX *md = digest_new(v);
    int rc;
    if (md == NULL)
        return SG_ENOMEM;
    sg_dkim_hash_headers(md, s->hcanon, fields, count, s->h, s->nh, self, used);
    if ((rc = hash_blanked(v, md, s->hcanon, &fields[self], p)) != 0) {
        EVP_MD_CTX_free(md);
        return rc;
    }
    return digest_final(md, s->hdr_digest);
}

/* Relaxed AAR, AMS and (with_as) AS of one set, each with its CRLF. */
static void hash_set(EVP_MD_CTX *md, const sg_header *fields, const struct aset *a, int with_as)
{
    const sg_header *fa = &fields[a->aar], *fm = &fields[a->ams], *fs = &fields[a->as];
    sg_canon_header(SG_CANON_RELAXED, fa->raw, fa->raw_len, 0, sg_dkim_md_sink, md);
    sg_canon_header(SG_CANON_RELAXED, fm->raw, fm->raw_len, 0, sg_dkim_md_sink, md);
    if (with_as)
        sg_canon_header(SG_CANON_RELAXED, fs->raw, fs->raw_len, 0, sg_dkim_md_sink, md);
}

/* AS (RFC 8617 5.1.1): relaxed; for each set 1..i in order its AAR, AMS
 * and AS; the AS being verified last with b= empty and no final CRLF.
 * chain already holds sets 1..i-1, so the work is linear in the number
 * of sets, not quadratic (50 sets of large fields would otherwise cost
 * tens of MiB of hashing). */
static int as_digest(sg_arc_verifier *v, EVP_MD_CTX *chain, unsigned inst, const sg_header *fields,
                     const struct parsed *p)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    const struct aset *a = &v->sets[inst - 1];
    int rc;
    if (md == NULL)
        return SG_ENOMEM;
    if (EVP_MD_CTX_copy_ex(md, chain) != 1) {
        EVP_MD_CTX_free(md);
        return SG_ECRYPTO;
    }
    hash_set(md, fields, a, 0);
    if ((rc = hash_blanked(v, md, SG_CANON_RELAXED, &fields[a->as], p)) != 0) {
        EVP_MD_CTX_free(md);
        return rc;
    }
    return digest_final(md, v->sets[inst - 1].sig[K_AS].hdr_digest);
}

static void body_sink(const void *data, size_t len, void *payload)
{
    struct hasher *h = payload;
    EVP_DigestUpdate(h->md, data, len);
}

static int find_hasher(sg_arc_verifier *v, sg_canon_mode mode, uint64_t limit)
{
    struct hasher *h;
    for (size_t i = 0; i < v->nhashers; i++)
        if (v->hashers[i].mode == mode && v->hashers[i].limit == limit)
            return (int)i;
    h = &v->hashers[v->nhashers];
    memset(h, 0, sizeof(*h));
    h->mode = mode;
    h->limit = limit;
    if ((h->md = digest_new(v)) == NULL)
        return SG_ENOMEM;
    sg_canon_body_init(&h->canon, mode, limit, body_sink, h);
    v->nhashers++;
    return (int)(v->nhashers - 1);
}

/* ---- keys ------------------------------------------------------------------------ */

static void key_answer(const sg_dns_answer *ans, struct akey *k)
{
    sg_arc_verifier *v = k->v;
    k->done = 1;
    k->rc = sg_dkim_key_from_answer(v->cache, ans, v->now, &k->key, &k->reason, &k->temp);
}

static void decide_chain(sg_arc_verifier *v);

static void key_cb(const sg_dns_answer *ans, void *payload)
{
    struct akey *k = payload;
    sg_arc_verifier *v = k->v;
    k->q = NULL;
    key_answer(ans, k);
    v->pending--;
    if (v->pending == 0 && v->body_done) {
        decide_chain(v);
        if (v->done_cb)
            v->done_cb(v->done_payload);
    }
}

/* The key slot for s._domainkey.d (queries shared between sets). */
static int key_slot(sg_arc_verifier *v, const struct asig *s)
{
    size_t n = strlen(s->s) + strlen(s->d) + sizeof("._domainkey.");
    char *q = sg_arena_alloc(v->arena, n);
    if (q == NULL)
        return SG_ENOMEM;
    strcpy(q, s->s);
    strcat(q, "._domainkey.");
    strcat(q, s->d);
    for (size_t i = 0; i < v->nkeys; i++)
        if (!strcasecmp(v->keys[i].qname, q))
            return (int)i;
    memset(&v->keys[v->nkeys], 0, sizeof(v->keys[0]));
    v->keys[v->nkeys].v = v;
    v->keys[v->nkeys].qname = q;
    v->nkeys++;
    return (int)(v->nkeys - 1);
}

/* ---- headers -------------------------------------------------------------------- */

static void set_early_fail(sg_arc_verifier *v, const char *reason)
{
    if (v->early_fail == NULL)
        v->early_fail = reason;
}

/* Collect the sets (RFC 8617 5.2 step 1-2). 0 or SG_ENOMEM; a structural
 * fault sets v->early_fail. */
static int collect(sg_arc_verifier *v, const sg_header *fields, size_t count, struct parsed *ptmp)
{
    static const char *const names[3] = {"ARC-Authentication-Results", "ARC-Message-Signature",
                                         "ARC-Seal"};
    static const char *const bad_i[3] = {
        "ARC-Authentication-Results with a bad i=", "ARC-Message-Signature with a bad i=",
        "ARC-Seal with a bad i="};
    static const char *const dup[3] = {"duplicate ARC-Authentication-Results instance",
                                       "duplicate ARC-Message-Signature instance",
                                       "duplicate ARC-Seal instance"};
    size_t i0 = 0;
    /* Most mail has no ARC field at all: then there is nothing to set up
     * (v->n stays 0, the chain is "none"). */
    while (i0 < count && !(fields[i0].name_len > 4 && !strncasecmp(fields[i0].name, "ARC-", 4)))
        i0++;
    if (i0 == count)
        return SG_OK;
    v->sets = sg_arena_alloc(v->arena, SG_ARC_MAX_INSTANCES * sizeof(*v->sets));
    if (v->sets == NULL)
        return SG_ENOMEM;
    for (size_t k = 0; k < SG_ARC_MAX_INSTANCES; k++) {
        memset(&v->sets[k], 0, sizeof(v->sets[k]));
        v->sets[k].aar = v->sets[k].ams = v->sets[k].as = SIZE_MAX;
    }
    for (size_t i = i0; i < count; i++) {
        int kind = -1;
        unsigned inst;
        size_t *slot;
        const char *rest = NULL, *reason = NULL;
        for (int t = 0; t < 3; t++)
            if (name_is(&fields[i], names[t]))
                kind = t;
        if (kind < 0)
            continue;
        if (kind == 0) {
            inst = aar_instance(&fields[i], &rest);
        } else {
            (void)parse_tags(&fields[i], ptmp, &reason);
            inst = tag_instance(ptmp);
        }
        /* Keep scanning after a fault: the result still reports the
         * highest instance seen. The first fault is the reason. */
        if (inst == 0) {
            set_early_fail(v, bad_i[kind]);
            continue;
        }
        if (inst > v->n)
            v->n = inst;
        slot = kind == 0   ? &v->sets[inst - 1].aar
               : kind == 1 ? &v->sets[inst - 1].ams
                           : &v->sets[inst - 1].as;
        if (*slot != SIZE_MAX) {
            set_early_fail(v, dup[kind]);
            continue;
        }
        *slot = i;
    }
    for (unsigned j = 0; j < v->n; j++)
        if (v->sets[j].aar == SIZE_MAX || v->sets[j].ams == SIZE_MAX || v->sets[j].as == SIZE_MAX)
            set_early_fail(v, "incomplete ARC set or gap in the instances");
    return SG_OK;
}

static int fill_set_results(sg_arc_verifier *v, const sg_header *fields)
{
    v->set_results = sg_arena_calloc(v->arena, v->n ? v->n : 1, sizeof(*v->set_results));
    if (v->set_results == NULL)
        return SG_ENOMEM;
    for (unsigned j = 0; j < v->n; j++) {
        sg_arc_set_result *r = &v->set_results[j];
        const char *rest = "";
        r->instance = j + 1;
        r->ams_reason = r->as_reason = "not evaluated";
        if (v->sets[j].aar != SIZE_MAX) {
            const sg_header *f = &fields[v->sets[j].aar];
            const char *e;
            (void)aar_instance(f, &rest);
            e = f->value + f->value_len;
            while (e > rest && sg_dkim_is_fws(e[-1]))
                e--;
            if ((r->aar = sg_arena_strndup(v->arena, rest, (size_t)(e - rest))) == NULL)
                return SG_ENOMEM;
        }
    }
    return SG_OK;
}

/* Parse each AMS and AS, hash what it signs and pick its key slot. */
static int parse_sets(sg_arc_verifier *v, const sg_header *fields, size_t count, struct parsed *p,
                      unsigned char *used)
{
    if (v->n == 0)
        return SG_OK;
    v->hashers = sg_arena_alloc(v->arena, v->n * sizeof(*v->hashers));
    v->keys = sg_arena_alloc(v->arena, 2 * v->n * sizeof(*v->keys));
    if (v->hashers == NULL || v->keys == NULL)
        return SG_ENOMEM;
    EVP_MD_CTX *chain = digest_new(v);
    int rc = SG_OK;
    if (chain == NULL)
        return SG_ENOMEM;
    for (unsigned j = 0; j < v->n && rc == 0; j++) {
        struct aset *a = &v->sets[j];
        for (int kind = K_AMS; kind <= K_AS && rc == 0; kind++) {
            size_t fi = kind == K_AMS ? a->ams : a->as;
            struct asig *s = &a->sig[kind];
            const char *reason = NULL;
            if (parse_tags(&fields[fi], p, &reason) != 0)
                s->reason = reason;
            if ((rc = parse_sig(v, &fields[fi], kind, p, s)) != 0 || !s->ok)
                continue;
            if (kind == K_AMS) {
                rc = ams_digest(v, s, fields, count, fi, p, used);
                if (rc == 0 &&
                    (rc = find_hasher(v, s->bcanon, s->has_l ? s->l : UINT64_MAX)) >= 0) {
                    s->hasher = rc;
                    rc = 0;
                }
            } else {
                rc = as_digest(v, chain, j + 1, fields, p);
            }
            if (rc == 0 && (rc = key_slot(v, s)) >= 0) {
                s->key = rc;
                rc = 0;
            }
        }
        hash_set(chain, fields, a, 1);
    }
    EVP_MD_CTX_free(chain);
    return rc;
}

int sg_arc_verify_headers(sg_arc_verifier *v, const sg_header *fields, size_t count)
{
    struct parsed *p;
    unsigned char *used;
    int rc;
    if (v == NULL || (fields == NULL && count > 0))
        return SG_EINVAL;
    if (v->have_headers)
        return SG_ESTATE;
    v->have_headers = 1;
    v->now = v->opts.now ? v->opts.now : (int64_t)time(NULL);
    p = sg_arena_alloc(v->arena, sizeof(*p));
    used = sg_arena_alloc(v->arena, count ? count : 1);
    if (p == NULL || used == NULL)
        return SG_ENOMEM;
    if ((rc = collect(v, fields, count, p)) != 0)
        return rc;
    if ((rc = fill_set_results(v, fields)) != 0)
        return rc;
    if (v->early_fail != NULL)
        return SG_OK; /* decided: no keys, no hashing */
    if ((rc = parse_sets(v, fields, count, p, used)) != 0)
        return rc;
    /* All key queries at once: the answers come back in parallel. */
    for (size_t i = 0; i < v->nkeys; i++) {
        struct akey *k = &v->keys[i];
        v->pending++;
        rc = sg_resolver_query(v->resolver, k->qname, SG_DNS_TXT, key_cb, k, &k->q);
        if (rc != 0) {
            v->pending--;
            k->q = NULL;
            if (rc == SG_ENOMEM)
                return rc;
            k->done = 1;
            k->rc = SG_ESYNTAX;
            k->reason = "bad key record name";
        }
    }
    return SG_OK;
}

int sg_arc_verify_body(sg_arc_verifier *v, const char *data, size_t len)
{
    if (v == NULL || (data == NULL && len > 0))
        return SG_EINVAL;
    if (!v->have_headers || v->body_done)
        return SG_ESTATE;
    for (size_t i = 0; i < v->nhashers; i++)
        sg_canon_body_update(&v->hashers[i].canon, data, len);
    return SG_OK;
}

/* ---- deciding ---------------------------------------------------------------------- */

/* Verify one AMS or AS whose key has arrived; sets s->result/reason. */
static void verify_sig(sg_arc_verifier *v, struct asig *s, int kind)
{
    const struct akey *k;
    int ok;
    if (!s->ok)
        return; /* permerror, reason from parsing */
    if (s->key < 0 || !(k = &v->keys[s->key])->done) {
        s->result = SG_DKIM_TEMPERROR;
        s->reason = "key lookup got no answer";
        return;
    }
    if (k->temp) {
        s->result = SG_DKIM_TEMPERROR;
        s->reason = k->reason;
        return;
    }
    s->result = SG_DKIM_PERMERROR;
    if (k->rc != 0) {
        s->reason = k->reason;
        return;
    }
    if (k->key.type != SG_DKIM_KEY_RSA) {
        s->reason = "key type does not match the signature algorithm";
        return;
    }
    if (!(k->key.hashes & SG_DKIM_HASH_SHA256)) {
        s->reason = "key h= does not allow sha256";
        return;
    }
    if (k->key.bits < v->opts.min_rsa_bits) {
        s->result = SG_DKIM_POLICY;
        s->reason = "RSA key shorter than 1024 bits (RFC 8301)";
        return;
    }
    if (kind == K_AMS && memcmp(s->bh, v->hashers[s->hasher].digest, 32) != 0) {
        s->result = SG_DKIM_FAIL;
        s->reason = "body hash did not verify";
        return;
    }
    ok = sg_dkim_key_verify(&k->key, s->hdr_digest, s->b, s->blen);
    if (ok < 0) {
        s->result = SG_DKIM_TEMPERROR;
        s->reason = "crypto library error";
        return;
    }
    if (!ok) {
        s->result = SG_DKIM_FAIL;
        s->reason = "signature did not verify";
        return;
    }
    s->result = SG_DKIM_PASS;
    s->reason = "good signature";
}

static void finish_result(sg_arc_verifier *v, sg_arc_cv cv, const char *reason)
{
    v->result.cv = cv;
    v->result.reason = reason;
}

/* RFC 8617 5.2 in order, once the body and all keys are in. */
static void decide_chain(sg_arc_verifier *v)
{
    unsigned n = v->n;
    if (v->decided)
        return;
    v->decided = 1;
    v->result.instance = n;
    v->result.sets = v->set_results;
    v->result.count = n;
    if (v->early_fail != NULL) {
        /* The sets are not well-formed enough to report one by one. */
        v->result.count = 0;
        finish_result(v, SG_ARC_FAIL, v->early_fail);
        return;
    }
    if (n == 0) {
        finish_result(v, SG_ARC_NONE, "no ARC sets");
        return;
    }
    for (unsigned j = 0; j < n; j++) {
        sg_arc_set_result *r = &v->set_results[j];
        const struct asig *m = &v->sets[j].sig[K_AMS], *s = &v->sets[j].sig[K_AS];
        r->ams_domain = m->d;
        r->ams_selector = m->s;
        r->as_domain = s->d;
        r->as_selector = s->s;
        r->as_cv = s->cv;
        if (!m->ok) {
            r->ams_result = m->result;
            r->ams_reason = m->reason ? m->reason : "unusable field";
        }
        if (!s->ok) {
            r->as_result = s->result;
            r->as_reason = s->reason ? s->reason : "unusable field";
        }
    }
    /* Step 2: every seal must be usable, and cv= must be none for i=1 and
     * pass for the rest (4.1.3; a cv=fail anywhere ends the chain). */
    for (unsigned j = 0; j < n; j++) {
        const struct asig *s = &v->sets[j].sig[K_AS];
        if (!s->ok) {
            finish_result(v, SG_ARC_FAIL, "an ARC-Seal is malformed");
            return;
        }
    }
    if (v->sets[n - 1].sig[K_AS].cv == SG_ARC_FAIL) {
        finish_result(v, SG_ARC_FAIL, "the newest ARC-Seal says cv=fail");
        return;
    }
    for (unsigned j = 0; j < n; j++) {
        sg_arc_cv want = j == 0 ? SG_ARC_NONE : SG_ARC_PASS;
        if (v->sets[j].sig[K_AS].cv != want) {
            finish_result(v, SG_ARC_FAIL,
                          j == 0 ? "ARC-Seal i=1 must have cv=none"
                                 : "an ARC-Seal after i=1 does not have cv=pass");
            return;
        }
    }
    /* Step 3: the newest AMS must validate. */
    {
        struct asig *m = &v->sets[n - 1].sig[K_AMS];
        verify_sig(v, m, K_AMS);
        v->set_results[n - 1].ams_result = m->result;
        v->set_results[n - 1].ams_reason = m->reason;
        if (m->result != SG_DKIM_PASS) {
            finish_result(v, SG_ARC_FAIL, "the newest ARC-Message-Signature did not verify");
            return;
        }
    }
    /* Step 4: oldest-pass, from the older AMSs (their failure does not
     * break the chain). */
    v->result.oldest_pass = 0;
    for (unsigned j = n - 1; j >= 1; j--) {
        struct asig *m = &v->sets[j - 1].sig[K_AMS];
        verify_sig(v, m, K_AMS);
        v->set_results[j - 1].ams_result = m->result;
        v->set_results[j - 1].ams_reason = m->reason;
        if (m->result != SG_DKIM_PASS) {
            v->result.oldest_pass = j + 1;
            break;
        }
    }
    /* Step 5: every seal, newest first. */
    for (unsigned j = n; j >= 1; j--) {
        struct asig *s = &v->sets[j - 1].sig[K_AS];
        verify_sig(v, s, K_AS);
        v->set_results[j - 1].as_result = s->result;
        v->set_results[j - 1].as_reason = s->reason;
        if (s->result != SG_DKIM_PASS) {
            finish_result(v, SG_ARC_FAIL, "an ARC-Seal did not verify");
            return;
        }
    }
    finish_result(v, SG_ARC_PASS, "chain validated");
}

int sg_arc_verify_finish(sg_arc_verifier *v)
{
    if (v == NULL)
        return SG_EINVAL;
    if (!v->have_headers)
        return SG_ESTATE;
    if (!v->body_done) {
        v->body_done = 1;
        for (size_t i = 0; i < v->nhashers; i++) {
            unsigned int dlen = 0;
            sg_canon_body_final(&v->hashers[i].canon);
            if (EVP_DigestFinal_ex(v->hashers[i].md, v->hashers[i].digest, &dlen) != 1)
                return SG_ECRYPTO;
        }
        if (v->pending == 0)
            decide_chain(v);
    }
    return (int)v->pending;
}

size_t sg_arc_verify_pending(const sg_arc_verifier *v)
{
    return v ? v->pending : 0;
}

int sg_arc_verify_wait(sg_arc_verifier *v)
{
    int rc = sg_arc_verify_finish(v);
    while (rc > 0) {
        rc = sg_resolver_run(v->resolver, -1);
        if (rc < 0)
            return rc;
        if (rc == 0 && v->pending > 0) {
            /* the resolver has nothing left for us: never hang */
            for (size_t i = 0; i < v->nkeys; i++)
                v->keys[i].q = NULL;
            v->pending = 0;
            decide_chain(v);
        }
        rc = (int)v->pending;
    }
    return rc;
}

int sg_arc_verify_result(sg_arc_verifier *v, const sg_arc_result **out)
{
    if (v == NULL || out == NULL)
        return SG_EINVAL;
    if (!v->have_headers || !v->body_done || v->pending > 0)
        return SG_ESTATE;
    decide_chain(v);
    *out = &v->result;
    return SG_OK;
}
