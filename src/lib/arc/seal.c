/*
 * ARC sealing (RFC 8617 5.1): one new set on top of the chain.
 *
 * Streams like the DKIM signer (dkim/sign.c) and uses its pieces: the
 * header selection and hashing, the body canonicaliser, the field folding
 * and the "sign this digest" step. What is ARC's own lives here: finding
 * the instance, the chain the seal covers, and the two-round signing
 * (the AMS first; the AS covers the AMS with its b=).
 *
 * Tag order follows the ValiMail signing suite (a, b, then alphabetical):
 * the signature covers the tags in the order written, so only the same
 * order reproduces its expected b= values. b= goes on a line of its own
 * so that the rest of the field folds the same with and without the
 * value: the bytes hashed with b= empty are exactly the bytes sent minus
 * the value (RFC 6376 3.7).
 */
#include "dkim/bodyhash.h"
#include "dkim/dkim_int.h"

#include <spoofguard/arc.h>
#include <spoofguard/canon.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "util/ascii.h"

/* With no list given, the AMS signs what our DKIM signatures sign and
 * oversign (sg_dkim_default_headers' first SG_DKIM_DEFAULT_OVERSIGN, From
 * to Content-Transfer-Encoding): a receiver that trusts our seal must not
 * take a Subject or Reply-To added on top afterwards for ours (adv41 F1);
 * then DKIM-Signature, signed as present only: a later hop may sign. */
#define ARC_DEFAULT_LAST "dkim-signature"

/* Signing rounds after the body. */
enum { ST_AMS_DIGEST, ST_AMS_SIG, ST_AS_DIGEST, ST_AS_SIG, ST_DONE };

struct sg_arc_sealer {
    sg_arc_seal_opts o; /* strings point into cfg */
    char **headers;
    size_t nheaders;
    size_t noversign; /* SG_DKIM_DEFAULT_OVERSIGN with the default list, or 0 */
    sg_dkim_alg alg;
    sg_arc_cv cv;
    char *results; /* malloc'd; NULL: none */
    sg_arena *cfg;
    sg_arena *arena; /* per message */
    /* per message */
    int state; /* 0 new, 1 header seen (body open), 2 body done */
    int step;
    int any_arc;  /* the header has ARC fields */
    int chain_ok; /* ...forming sets 1..n, hashed into as_md */
    unsigned instance;
    const char *skip;
    int64_t t;
    const char **h;
    size_t nh;
    EVP_MD_CTX *ams_md, *as_md;
    sg_bodyhash_set body;          /* one hasher: c=relaxed, no l= */
    const char *aar;               /* whole field, CRLF-terminated */
    const char *ams_pre, *ams_suf; /* around the b= value */
    const char *as_pre, *as_suf;
    const char *ams, *as; /* finished fields */
};

void sg_arc_seal_opts_init(sg_arc_seal_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->version = SG_ARC_SEAL_OPTS_VERSION;
    o->alg = SG_DKIM_RSA_SHA256;
}

/* ---- option checks ------------------------------------------------------------- */

static int field_name_ok(const char *s)
{
    /* 4.1.2: ARC fields and Authentication-Results change downstream */
    if (!sg_ascii_ncasecmp(s, "arc-", 4) || !sg_ascii_casecmp(s, "authentication-results"))
        return 0;
    return sg_dkim_field_name_ok(s);
}

/* authserv-id (RFC 8601 2.2): a token here; no ';', space or control. */
static int authserv_ok(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s == 0x7f || *s == ';')
            return 0;
    return 1;
}

/* Results text: one unfolded line. A CR or LF would let the caller's
 * input end our field and start another. */
static int results_ok(const char *s)
{
    for (; s && *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || (unsigned char)*s == 0x7f)
            return 0;
    return 1;
}

/* ---- lifecycle -------------------------------------------------------------------- */

void sg_arc_sealer_reset(sg_arc_sealer *s)
{
    if (s == NULL)
        return;
    EVP_MD_CTX_free(s->ams_md);
    EVP_MD_CTX_free(s->as_md);
    s->ams_md = s->as_md = NULL;
    sg_bodyhash_reset(&s->body);
    sg_arena_reset(s->arena);
    s->state = 0;
    s->step = ST_AMS_DIGEST;
    s->instance = 0;
    s->any_arc = s->chain_ok = 0;
    s->skip = NULL;
    s->h = NULL;
    s->nh = 0;
    s->aar = s->ams_pre = s->ams_suf = s->as_pre = s->as_suf = s->ams = s->as = NULL;
}

void sg_arc_sealer_free(sg_arc_sealer *s)
{
    if (s == NULL)
        return;
    sg_arc_sealer_reset(s);
    sg_bodyhash_free(&s->body);
    sg_arena_free(s->arena);
    sg_arena_free(s->cfg);
    free(s->results);
    free(s);
}

void sg_arc_sealer_set_cv(sg_arc_sealer *s, sg_arc_cv cv)
{
    if (s != NULL)
        s->cv = cv;
}

int sg_arc_sealer_set_results(sg_arc_sealer *s, const char *results)
{
    char *c = NULL;
    if (s == NULL || !results_ok(results))
        return SG_EINVAL;
    if (results != NULL && *results != '\0' && (c = strdup(results)) == NULL)
        return SG_ENOMEM;
    free(s->results);
    s->results = c;
    return SG_OK;
}

int sg_arc_sealer_new(sg_arc_sealer **out, const sg_arc_seal_opts *o)
{
    sg_arc_sealer *s;
    const char *const *hl;
    size_t nhl;
    int has_from = 0;
    if (out == NULL || o == NULL)
        return SG_EINVAL;
    *out = NULL;
    if (o->version != SG_ARC_SEAL_OPTS_VERSION || o->domain == NULL || o->selector == NULL ||
        !sg_dkim_domain_ok(o->domain) || !sg_dkim_domain_ok(o->selector) ||
        !authserv_ok(o->authserv_id) || !results_ok(o->results) || o->cv > SG_ARC_FAIL ||
        (o->headers == NULL && o->nheaders > 0))
        return SG_EINVAL;
    hl = o->headers ? o->headers : sg_dkim_default_headers;
    nhl = o->headers ? o->nheaders : SG_DKIM_DEFAULT_OVERSIGN;
    for (size_t k = 0; k < nhl; k++) {
        if (hl[k] == NULL || !field_name_ok(hl[k]))
            return SG_EINVAL;
        has_from |= !sg_ascii_casecmp(hl[k], "from");
    }
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return SG_ENOMEM;
    s->alg = o->key ? sg_dkim_signkey_alg(o->key) : o->alg;
    /* RFC 8617 4.1.2/4.1.3 defines a=rsa-sha256 only: validators (ours
     * included) fail any other, so a set sealed otherwise breaks the chain */
    if (s->alg != SG_DKIM_RSA_SHA256) {
        free(s);
        return SG_EINVAL;
    }
    sg_bodyhash_init(&s->body, NULL);
    s->o = *o;
    s->cv = o->cv;
    s->step = ST_AMS_DIGEST;
    if (sg_arena_new(&s->cfg, 1024) != 0 || sg_arena_new(&s->arena, 4096) != 0 ||
        (s->o.domain = sg_arena_strdup(s->cfg, o->domain)) == NULL ||
        (s->o.selector = sg_arena_strdup(s->cfg, o->selector)) == NULL ||
        (s->o.authserv_id = sg_arena_strdup(s->cfg, o->authserv_id)) == NULL ||
        (s->headers = sg_arena_calloc(s->cfg, nhl + 2, sizeof(char *))) == NULL ||
        sg_arc_sealer_set_results(s, o->results) != SG_OK)
        goto fail;
    s->o.results = NULL;
    s->o.headers = NULL;
    s->noversign = o->headers ? 0 : SG_DKIM_DEFAULT_OVERSIGN;
    /* From first if the list lacks it (RFC 6376 5.4, as the DKIM signer) */
    if (!has_from && (s->headers[s->nheaders++] = sg_arena_strdup(s->cfg, "from")) == NULL)
        goto fail;
    for (size_t k = 0; k < nhl; k++)
        if ((s->headers[s->nheaders++] = sg_arena_strdup(s->cfg, hl[k])) == NULL)
            goto fail;
    if (o->headers == NULL &&
        (s->headers[s->nheaders++] = sg_arena_strdup(s->cfg, ARC_DEFAULT_LAST)) == NULL)
        goto fail;
    *out = s;
    return SG_OK;
fail:
    sg_arc_sealer_free(s);
    return SG_ENOMEM;
}

/* ---- the chain as received ----------------------------------------------------------- */

enum { K_AAR, K_AMS, K_AS };

static int kind_of(const sg_header *f)
{
    static const char *const names[3] = {"ARC-Authentication-Results", "ARC-Message-Signature",
                                         "ARC-Seal"};
    for (int k = 0; k < 3; k++)
        if (f->name_len == strlen(names[k]) && !sg_ascii_ncasecmp(f->name, names[k], f->name_len))
            return k;
    return -1;
}

/* Digits of an i= value; UINT_MAX for anything past 9 digits (still
 * "more than 50"), 0 for no number. */
static unsigned instance_num(const char *s, size_t n)
{
    unsigned x = 0;
    if (n == 0)
        return 0;
    if (n > 9)
        return ~0u;
    for (size_t k = 0; k < n; k++) {
        if (s[k] < '0' || s[k] > '9')
            return 0;
        x = x * 10 + (unsigned)(s[k] - '0');
    }
    return x;
}

/* i= (and for an AS, whether cv=fail) of one ARC field; 0 if unreadable. */
static unsigned field_instance(const sg_header *f, int kind, int *cv_fail)
{
    const char *p = f->value, *e = f->value + f->value_len, *d;
    sg_dkim_tag tags[SG_DKIM_MAX_TAGS];
    size_t ntags = 0;
    const char *err;
    unsigned inst = 0;
    *cv_fail = 0;
    if (kind == K_AAR) {
        /* 4.1.1: "i=" instance ";" first */
        while (p < e && sg_dkim_is_fws(*p))
            p++;
        if (e - p < 2 || p[0] != 'i' || p[1] != '=')
            return 0;
        for (p += 2; p < e && sg_dkim_is_fws(*p); p++)
            ;
        for (d = p; p < e && *p >= '0' && *p <= '9'; p++)
            ;
        return instance_num(d, (size_t)(p - d));
    }
    if (sg_dkim_taglist_parse(p, f->value_len, tags, SG_DKIM_MAX_TAGS, &ntags, &err) != 0)
        return 0;
    for (size_t k = 0; k < ntags; k++) {
        if (tags[k].name_len == 1 && tags[k].name[0] == 'i')
            inst = instance_num(tags[k].value, tags[k].value_len);
        else if (tags[k].name_len == 2 && !strncmp(tags[k].name, "cv", 2))
            *cv_fail = tags[k].value_len == 4 && !sg_ascii_ncasecmp(tags[k].value, "fail", 4);
    }
    return inst;
}

/* The sets 1..n, each complete once, in order into the AS hash (5.1.1);
 * SG_EINVAL if they are not that (then only a cv=fail seal can be made). */
static int hash_chain(sg_arc_sealer *s, const sg_header *fields, size_t count, unsigned n)
{
    size_t *slot = sg_arena_alloc(s->arena, 3 * (size_t)n * sizeof(*slot));
    if (slot == NULL)
        return SG_ENOMEM;
    for (size_t k = 0; k < 3 * (size_t)n; k++)
        slot[k] = SIZE_MAX;
    for (size_t i = 0; i < count; i++) {
        int kind = kind_of(&fields[i]), cvf;
        unsigned inst;
        if (kind < 0)
            continue;
        inst = field_instance(&fields[i], kind, &cvf);
        if (inst == 0 || inst > n || slot[3 * (inst - 1) + (unsigned)kind] != SIZE_MAX)
            return SG_EINVAL;
        slot[3 * (inst - 1) + (unsigned)kind] = i;
    }
    for (size_t k = 0; k < 3 * (size_t)n; k++) {
        if (slot[k] == SIZE_MAX)
            return SG_EINVAL;
        sg_canon_header(SG_CANON_RELAXED, fields[slot[k]].raw, fields[slot[k]].raw_len, 0,
                        sg_dkim_md_sink, s->as_md);
    }
    return SG_OK;
}

static EVP_MD_CTX *md_new(void)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md != NULL && EVP_DigestInit_ex(md, sg_dkim_sha256(NULL), NULL) != 1) {
        EVP_MD_CTX_free(md);
        md = NULL;
    }
    return md;
}

/* h=: each configured name once per instance present, in list order, as
 * many as a verifier takes (SG_DKIM_MAX_H: ours refuses more, so a
 * sender's 300 To fields made our own seal fail at our next hop). */
static int pick_headers(sg_arc_sealer *s, const sg_header *fields, size_t count)
{
    if ((s->h = sg_arena_calloc(s->arena, SG_DKIM_MAX_H, sizeof(*s->h))) == NULL)
        return SG_ENOMEM;
    s->nh = sg_dkim_pick_oversigned(fields, count, (const char *const *)s->headers, s->nheaders,
                                    sg_dkim_default_headers, s->noversign, s->h);
    return SG_OK;
}

int sg_arc_seal_headers(sg_arc_sealer *s, const sg_header *fields, size_t count)
{
    unsigned top = 0, top_as = 0;
    int any_arc = 0, top_as_fail = 0, rc;
    unsigned char *used;
    if (s == NULL || (fields == NULL && count > 0))
        return SG_EINVAL;
    if (s->state != 0)
        return SG_ESTATE;
    if (sg_dkim_count_fields(fields, count, "from") == 0)
        return SG_ENOTFOUND;
    for (size_t i = 0; i < count; i++) {
        int kind = kind_of(&fields[i]), cvf;
        unsigned inst;
        if (kind < 0)
            continue;
        any_arc = 1;
        inst = field_instance(&fields[i], kind, &cvf);
        if (inst > top)
            top = inst;
        if (kind == K_AS && inst >= top_as) {
            top_as_fail = inst == top_as ? (top_as_fail | cvf) : cvf;
            top_as = inst;
        }
    }
    s->any_arc = any_arc;
    s->state = 1;
    s->t = s->o.timestamp != 0 ? s->o.timestamp : (int64_t)time(NULL);
    if (top_as_fail && top_as == top) {
        s->skip = "the chain has ended: the newest ARC-Seal says cv=fail (RFC 8617 5.1)";
        return SG_OK;
    }
    if (top >= SG_ARC_MAX_INSTANCES) {
        s->skip = "the chain has 50 sets or more (RFC 8617 4.2.1)";
        return SG_OK;
    }
    s->instance = top + 1;
    if ((s->ams_md = md_new()) == NULL || (s->as_md = md_new()) == NULL)
        return SG_ENOMEM;
    /* The chain is hashed now, while the fields are there; whether the
     * seal covers it (cv=pass) or not (cv=fail, 5.1.2: only the new set)
     * is decided at the first digest, so that the verifier can read the
     * same pass over the message. */
    if (top > 0) {
        rc = hash_chain(s, fields, count, top);
        if (rc == SG_ENOMEM)
            return rc;
        s->chain_ok = rc == SG_OK;
    }
    if ((rc = pick_headers(s, fields, count)) != SG_OK)
        return rc;
    if ((used = sg_arena_alloc(s->arena, count ? count : 1)) == NULL)
        return SG_ENOMEM;
    sg_dkim_hash_headers(s->ams_md, SG_CANON_RELAXED, fields, count, s->h, s->nh, SIZE_MAX, used);
    rc = sg_bodyhash_add(&s->body, SG_CANON_RELAXED, UINT64_MAX);
    return rc < 0 ? rc : SG_OK;
}

int sg_arc_seal_body(sg_arc_sealer *s, const char *data, size_t len)
{
    if (s == NULL || (data == NULL && len > 0))
        return SG_EINVAL;
    if (s->state != 1)
        return SG_ESTATE;
    if (s->instance != 0)
        sg_bodyhash_update(&s->body, data, len);
    return SG_OK;
}

unsigned sg_arc_seal_instance(const sg_arc_sealer *s)
{
    return s ? s->instance : 0;
}

const char *sg_arc_seal_skip_reason(const sg_arc_sealer *s)
{
    return s ? s->skip : NULL;
}

/* ---- building the fields -------------------------------------------------------------- */

static const char *fb_keep(sg_arc_sealer *s, sg_dkim_fbuf *f)
{
    const char *c = f->oom ? NULL : sg_arena_strndup(s->arena, f->buf ? f->buf : "", f->len);
    free(f->buf);
    memset(f, 0, sizeof(*f));
    return c;
}

/* The results split at top-level ';' (not inside a comment or a quoted
 * string), each trimmed, each on its own fold. */
static void put_results(sg_dkim_fbuf *f, const char *r)
{
    char item[1024];
    while (r != NULL && *r != '\0') {
        const char *p = r, *b, *e;
        int depth = 0, quoted = 0;
        for (; *p != '\0'; p++) {
            if (*p == '\\' && p[1] != '\0' && (quoted || depth > 0))
                p++;
            else if (quoted)
                quoted = *p != '"';
            else if (*p == '"' && depth == 0)
                quoted = 1;
            else if (*p == '(')
                depth++;
            else if (*p == ')' && depth > 0)
                depth--;
            else if (*p == ';' && depth == 0)
                break;
        }
        for (b = r; b < p && (*b == ' ' || *b == '\t'); b++)
            ;
        for (e = p; e > b && (e[-1] == ' ' || e[-1] == '\t'); e--)
            ;
        if (e > b) {
            size_t n = (size_t)(e - b);
            if (n < sizeof(item)) {
                memcpy(item, b, n);
                item[n] = '\0';
                sg_dkim_fb_tag(f, item, 0, 0);
            } else { /* longer than any real result: unfolded */
                sg_dkim_fb_str(f, "; ");
                sg_dkim_fb_put(f, b, n);
            }
        }
        r = *p == ';' ? p + 1 : p;
    }
}

/* Is there an arc= result (a method name "arc" opening the text or
 * following a ';')? */
static int has_arc_result(const char *r)
{
    for (const char *p = r; p != NULL && *p; p = strchr(p, ';')) {
        if (*p == ';')
            p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!sg_ascii_ncasecmp(p, "arc", 3) && (p[3] == '=' || p[3] == ' ' || p[3] == '\t'))
            return 1;
    }
    return 0;
}

static int build_aar(sg_arc_sealer *s)
{
    sg_dkim_fbuf f = {0};
    char num[32], arc[16];
    snprintf(num, sizeof(num), "%u", s->instance);
    sg_dkim_fb_str(&f, "ARC-Authentication-Results: i=");
    sg_dkim_fb_str(&f, num);
    sg_dkim_fb_tag(&f, s->o.authserv_id, 0, 0);
    /* the record says what the chain was when we sealed it (RFC 8617
     * 4.1.1, 5.1): arc=none/pass/fail unless the results already do */
    if (!has_arc_result(s->results)) {
        snprintf(arc, sizeof(arc), "arc=%s", sg_arc_cv_str(s->cv));
        sg_dkim_fb_tag(&f, arc, 0, 0);
    }
    put_results(&f, s->results);
    sg_dkim_fb_str(&f, "\r\n");
    return (s->aar = fb_keep(s, &f)) ? SG_OK : SG_ENOMEM;
}

/* "NAME: a=ALG;\r\n b=" */
static const char *field_pre(sg_arc_sealer *s, const char *name)
{
    sg_dkim_fbuf f = {0};
    sg_dkim_fb_str(&f, name);
    sg_dkim_fb_str(&f, ": a=");
    sg_dkim_fb_str(&f, sg_dkim_alg_str(s->alg));
    sg_dkim_fb_str(&f, ";\r\n b=");
    return fb_keep(s, &f);
}

/* The tags both fields end with, in the suite's order: i=, s=, t=. */
static void put_ist(const sg_arc_sealer *s, sg_dkim_fbuf *f)
{
    char num[32];
    snprintf(num, sizeof(num), "%u", s->instance);
    sg_dkim_fb_tagval(f, "i=", num);
    sg_dkim_fb_tagval(f, "s=", s->o.selector);
    snprintf(num, sizeof(num), "%lld", (long long)s->t);
    sg_dkim_fb_tagval(f, "t=", num);
    sg_dkim_fb_str(f, "\r\n");
}

static int build_ams_blank(sg_arc_sealer *s, const uint8_t bh[32])
{
    sg_dkim_fbuf f = {0};
    char bh64[48];
    sg_dkim_b64_encode(bh, 32, bh64);
    sg_dkim_fb_str(&f, ";\r\n bh=");
    sg_dkim_fb_str(&f, bh64);
    sg_dkim_fb_tagval(&f, "c=", "relaxed/relaxed");
    sg_dkim_fb_tagval(&f, "d=", s->o.domain);
    sg_dkim_fb_hlist(&f, s->h, s->nh, ":");
    put_ist(s, &f);
    s->ams_pre = field_pre(s, "ARC-Message-Signature");
    s->ams_suf = fb_keep(s, &f);
    return s->ams_pre && s->ams_suf ? SG_OK : SG_ENOMEM;
}

static int build_as_blank(sg_arc_sealer *s)
{
    sg_dkim_fbuf f = {0};
    sg_dkim_fb_str(&f, ";\r\n cv=");
    sg_dkim_fb_str(&f, sg_arc_cv_str(s->cv));
    sg_dkim_fb_tagval(&f, "d=", s->o.domain);
    put_ist(s, &f);
    s->as_pre = field_pre(s, "ARC-Seal");
    s->as_suf = fb_keep(s, &f);
    return s->as_pre && s->as_suf ? SG_OK : SG_ENOMEM;
}

/* pre + suf: the field with b= empty, hashed last without its CRLF. */
static int digest_blank(sg_arc_sealer *s, EVP_MD_CTX *md, const char *pre, const char *suf,
                        uint8_t out[32])
{
    size_t np = strlen(pre), ns = strlen(suf);
    char *blank = sg_arena_alloc(s->arena, np + ns + 1);
    unsigned int dlen = 0;
    if (blank == NULL)
        return SG_ENOMEM;
    memcpy(blank, pre, np);
    memcpy(blank + np, suf, ns + 1);
    sg_canon_header(SG_CANON_RELAXED, blank, np + ns, 1, sg_dkim_md_sink, md);
    return EVP_DigestFinal_ex(md, out, &dlen) == 1 && dlen == 32 ? SG_OK : SG_ECRYPTO;
}

/* The b= value's lines end at this column. Relaxed canonicalisation keeps
 * a fold inside b= as one space, so where an AMS's b= folds is part of
 * what the next ARC-Seal signs: folding as the ValiMail suite's sealer
 * does (70 characters after " b=", then 72 a line) reproduces its seals. */
#define B_FOLD_COLUMN 73

/* pre, the signature folded, suf. */
static const char *field_with_sig(sg_arc_sealer *s, const char *pre, const char *suf,
                                  const uint8_t *sig, size_t siglen)
{
    sg_dkim_fbuf f = {0};
    char b64[4 * (SG_DKIM_MAX_SIG_BYTES / 3 + 1) + 1];
    size_t n = sg_dkim_b64_encode(sig, siglen, b64), off = 0;
    sg_dkim_fb_str(&f, pre);
    while (off < n) {
        size_t room = f.col < B_FOLD_COLUMN ? B_FOLD_COLUMN - f.col : 0;
        if (room == 0) {
            sg_dkim_fb_str(&f, "\r\n ");
            continue;
        }
        if (room > n - off)
            room = n - off;
        sg_dkim_fb_put(&f, b64 + off, room);
        off += room;
    }
    sg_dkim_fb_str(&f, suf);
    return fb_keep(s, &f);
}

/* ---- signing ------------------------------------------------------------------------- */

int sg_arc_seal_digest(sg_arc_sealer *s, uint8_t digest[32])
{
    int rc;
    if (s == NULL || digest == NULL)
        return SG_EINVAL;
    if (s->state == 0 || s->instance == 0 || (s->step != ST_AMS_DIGEST && s->step != ST_AS_DIGEST))
        return SG_ESTATE;
    if (s->step == ST_AMS_DIGEST) {
        /* cv=none is the verifier's word for "no ARC field", and it says
         * pass only for a well-formed chain: anything else means the
         * caller judged another message */
        if ((s->cv == SG_ARC_NONE) == s->any_arc || (s->cv == SG_ARC_PASS && !s->chain_ok))
            return SG_EINVAL;
        if (s->cv == SG_ARC_FAIL && EVP_DigestInit_ex(s->as_md, sg_dkim_sha256(NULL), NULL) != 1)
            return SG_ECRYPTO;
        s->state = 2;
        if ((rc = sg_bodyhash_final(&s->body)) != SG_OK)
            return rc;
        if ((rc = build_aar(s)) != SG_OK ||
            (rc = build_ams_blank(s, sg_bodyhash_digest(&s->body, 0))) != SG_OK ||
            (rc = digest_blank(s, s->ams_md, s->ams_pre, s->ams_suf, digest)) != SG_OK)
            return rc;
        s->step = ST_AMS_SIG;
        return SG_OK;
    }
    if ((rc = build_as_blank(s)) != SG_OK ||
        (rc = digest_blank(s, s->as_md, s->as_pre, s->as_suf, digest)) != SG_OK)
        return rc;
    s->step = ST_AS_SIG;
    return SG_OK;
}

int sg_arc_seal_complete(sg_arc_sealer *s, const uint8_t *sig, size_t siglen)
{
    if (s == NULL || sig == NULL || siglen == 0 || siglen > SG_DKIM_MAX_SIG_BYTES)
        return SG_EINVAL;
    if (s->step == ST_AMS_SIG) {
        if ((s->ams = field_with_sig(s, s->ams_pre, s->ams_suf, sig, siglen)) == NULL)
            return SG_ENOMEM;
        /* 5.1.1: the new AAR and AMS follow the older sets */
        sg_canon_header(SG_CANON_RELAXED, s->aar, strlen(s->aar), 0, sg_dkim_md_sink, s->as_md);
        sg_canon_header(SG_CANON_RELAXED, s->ams, strlen(s->ams), 0, sg_dkim_md_sink, s->as_md);
        s->step = ST_AS_DIGEST;
        return SG_OK;
    }
    if (s->step == ST_AS_SIG) {
        if ((s->as = field_with_sig(s, s->as_pre, s->as_suf, sig, siglen)) == NULL)
            return SG_ENOMEM;
        s->step = ST_DONE;
        return SG_OK;
    }
    return SG_ESTATE;
}

int sg_arc_seal_finish(sg_arc_sealer *s, const char **out, size_t *len)
{
    size_t n1, n2, n3;
    char *o;
    if (s == NULL || out == NULL)
        return SG_EINVAL;
    if (s->state == 0)
        return SG_ESTATE;
    if (s->instance == 0) {
        *out = "";
        if (len)
            *len = 0;
        return SG_OK;
    }
    while (s->o.key != NULL && s->step != ST_DONE) {
        uint8_t digest[32], sig[SG_DKIM_MAX_SIG_BYTES];
        size_t siglen = sizeof(sig);
        EVP_PKEY *pk = sg_dkim_signkey_pkey(s->o.key);
        int rc;
        if ((size_t)EVP_PKEY_get_size(pk) > sizeof(sig))
            return SG_ECRYPTO;
        if ((rc = sg_arc_seal_digest(s, digest)) != SG_OK ||
            (rc = sg_dkim_crypto_sign(pk, digest, sig, &siglen)) != SG_OK ||
            (rc = sg_arc_seal_complete(s, sig, siglen)) != SG_OK)
            return rc;
    }
    if (s->step != ST_DONE)
        return SG_ESTATE;
    n1 = strlen(s->as);
    n2 = strlen(s->ams);
    n3 = strlen(s->aar);
    if ((o = sg_arena_alloc(s->arena, n1 + n2 + n3 + 1)) == NULL)
        return SG_ENOMEM;
    memcpy(o, s->as, n1);
    memcpy(o + n1, s->ams, n2);
    memcpy(o + n1 + n2, s->aar, n3 + 1);
    *out = o;
    if (len)
        *len = n1 + n2 + n3;
    return SG_OK;
}
