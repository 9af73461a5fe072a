/*
 * Streaming DKIM signer (RFC 6376 5): one pass makes every configured
 * signature. Header fields are hashed as soon as the header is complete;
 * the body goes through one canonicaliser + SHA-256 per distinct body
 * canonicalisation; finish writes bh=, hashes the new field and signs.
 */
#include "dkim_int.h"
#include "util/text.h"

#include <spoofguard/canon.h>
#include <spoofguard/dmarc.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "util/ascii.h"

/* 5.4.1's recommended set, and Sender (the order matters: see
 * SG_DKIM_DEFAULT_OVERSIGN). Only the instances present are listed, so the
 * Resent-* and List-* fields cost nothing on mail without them; with
 * them, RFC 8058 4 needs List-Unsubscribe and List-Unsubscribe-Post
 * signed for one-click unsubscribe. */
const char *const sg_dkim_default_headers[SG_DKIM_DEFAULT_NHEADERS] = {
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-id",
    "list-help",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
    "resent-date",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-message-id",
};

/* A field the message lacks and that MTAs add on their own after the
 * milter signed (Sendmail adds Date and Message-ID to mail that has none;
 * Postfix to local submissions): listing it as absent broke every
 * signature on the way out (adv20 F3). Such a field is not oversigned
 * while absent; present, it is, as any other. */
static int mta_adds(const sg_header *fields, size_t count, const char *name)
{
    return (!sg_ascii_casecmp(name, "date") || !sg_ascii_casecmp(name, "message-id")) &&
           sg_dkim_count_fields(fields, count, name) == 0;
}

struct ssig {
    sg_dkim_sign_opts o; /* strings point into the signer's config block */
    sg_dkim_alg alg;     /* the key's, or o.alg for a key held elsewhere */
    char **headers;
    size_t nheaders;
    char **oversign;
    size_t noversign;
    EVP_MD_CTX *md; /* header hash in progress */
    const char **h; /* this message's h= list */
    size_t nh;
    int hasher;
};

struct sg_dkim_signer {
    struct ssig *sigs;
    size_t n;
    sg_bodyhash_set bh; /* one body hash per body canonicalisation */
    sg_arena *cfg;      /* copied options: lives as long as the signer */
    sg_arena *arena;    /* per message */
    int state;          /* 0 new, 1 headers seen, 2 finished, 3 digests handed out */
    /* Between sg_dkim_sign_digests and sg_dkim_sign_complete: each field
     * with an empty b=, without its CRLF (per message arena), and the
     * column where b='s value starts. */
    char **fields;
    size_t *cols;
};

void sg_dkim_sign_opts_init(sg_dkim_sign_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->version = SG_DKIM_SIGN_OPTS_VERSION;
    o->header_canon = SG_CANON_RELAXED;
    o->body_canon = SG_CANON_RELAXED;
}

/* Version 1 callers' struct ends before alg. */
static void opts_copy(sg_dkim_sign_opts *dst, const sg_dkim_sign_opts *src)
{
    memset(dst, 0, sizeof(*dst));
    memcpy(dst, src,
           src->version == 1 ? offsetof(sg_dkim_sign_opts, alg) : sizeof(sg_dkim_sign_opts));
}

static char **copy_list(sg_arena *a, const char *const *src, size_t n)
{
    char **l = sg_arena_calloc(a, n ? n : 1, sizeof(*l));
    if (l == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((l[i] = sg_arena_strdup(a, src[i])) == NULL)
            return NULL;
    return l;
}

int sg_dkim_field_name_ok(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e || *s == ':')
            return 0;
    return 1;
}

static int text_ok(const char *s)
{
    /* d=, s=, i= end up inside the field: no ';', whitespace or controls */
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e || *s == ';')
            return 0;
    return 1;
}

void sg_dkim_signer_reset(sg_dkim_signer *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        EVP_MD_CTX_free(s->sigs[i].md);
        s->sigs[i].md = NULL;
        s->sigs[i].h = NULL;
        s->sigs[i].nh = 0;
    }
    sg_bodyhash_reset(&s->bh);
    s->fields = NULL;
    s->cols = NULL;
    sg_arena_reset(s->arena);
    s->state = 0;
}

void sg_dkim_signer_free(sg_dkim_signer *s)
{
    if (s == NULL)
        return;
    sg_dkim_signer_reset(s);
    sg_bodyhash_free(&s->bh);
    sg_arena_free(s->arena);
    sg_arena_free(s->cfg);
    free(s);
}

/* d= and the domain of i= as A-labels (RFC 8616 4: a verifier compares
 * them as such; a U-label written as given fails at most of them), into a. */
static int sign_names_alabel(sg_arena *a, sg_dkim_sign_opts *o)
{
    int rc = sg_dmarc_domain_alabel(a, &o->domain);
    if (rc != 0 || o->identity == NULL)
        return rc == SG_ESYNTAX ? SG_EINVAL : rc;
    const char *at = strrchr(o->identity, '@');
    const char *dom = at ? at + 1 : NULL;
    if (dom == NULL)
        return SG_EINVAL;
    if ((rc = sg_dmarc_domain_alabel(a, &dom)) != 0)
        return rc == SG_ESYNTAX ? SG_EINVAL : rc;
    if (dom != at + 1) {
        size_t ln = (size_t)(at + 1 - o->identity), dn = strlen(dom);
        char *id = sg_arena_alloc(a, ln + dn + 1);
        if (id == NULL)
            return SG_ENOMEM;
        memcpy(id, o->identity, ln);
        memcpy(id + ln, dom, dn + 1);
        o->identity = id;
    }
    return 0;
}

/* i=: a local part in ASCII or UTF-8 (RFC 8616 4), no ';', space or
 * control; an A-label domain within d= (RFC 6376 3.5). */
static int identity_ok(const char *id, const char *domain)
{
    const char *at = strrchr(id, '@');
    if (at == NULL || !sg_dkim_domain_ok(at + 1) || !sg_domain_within(at + 1, domain))
        return 0;
    for (const unsigned char *p = (const unsigned char *)id; *p;) {
        if (*p >= 0x80) {
            size_t n = sg_text_utf8_len(p, strlen((const char *)p));
            if (n == 0 || p >= (const unsigned char *)at)
                return 0;
            p += n;
        } else if (*p < 0x21 || *p == 0x7f || *p == ';')
            return 0;
        else
            p++;
    }
    return 1;
}

int sg_dkim_signer_new(sg_dkim_signer **out, const sg_dkim_sign_opts *opts, size_t n)
{
    sg_dkim_signer *s;
    int rc = SG_ENOMEM;
    if (out == NULL || opts == NULL || n == 0)
        return SG_EINVAL;
    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SG_ENOMEM;
    sg_bodyhash_init(&s->bh, NULL);
    if (sg_arena_new(&s->cfg, 4096) != 0 || sg_arena_new(&s->arena, 4096) != 0)
        goto fail;
    s->sigs = sg_arena_calloc(s->cfg, n, sizeof(*s->sigs));
    if (s->sigs == NULL)
        goto fail;
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        struct ssig *g = &s->sigs[i];
        sg_dkim_sign_opts oc;
        const sg_dkim_sign_opts *o = &oc;
        rc = SG_EINVAL;
        if (opts[i].version != 1 && opts[i].version != SG_DKIM_SIGN_OPTS_VERSION)
            goto fail;
        opts_copy(&oc, &opts[i]);
        if (oc.domain == NULL || oc.selector == NULL || (rc = sign_names_alabel(s->cfg, &oc)) != 0)
            goto fail;
        rc = SG_EINVAL;
        if (!text_ok(o->domain) || !text_ok(o->selector) ||
            (o->identity != NULL && !identity_ok(o->identity, o->domain)))
            goto fail;
        /* without a key, the caller names the algorithm its key uses */
        if (o->key == NULL && o->alg != SG_DKIM_RSA_SHA256 && o->alg != SG_DKIM_ED25519_SHA256)
            goto fail;
        /* h= holds at most SG_DKIM_MAX_H names (a verifier refuses more) */
        if (o->nheaders > SG_DKIM_MAX_H / 2 || o->noversign > SG_DKIM_MAX_H / 2)
            goto fail;
        for (size_t k = 0; o->headers && k < o->nheaders; k++)
            if (!sg_dkim_field_name_ok(o->headers[k]))
                goto fail;
        for (size_t k = 0; o->oversign && k < o->noversign; k++)
            if (!sg_dkim_field_name_ok(o->oversign[k]))
                goto fail;
        rc = SG_ENOMEM;
        const char *const *hl = o->headers ? o->headers : sg_dkim_default_headers;
        size_t nhl = o->headers ? o->nheaders : SG_DKIM_DEFAULT_NHEADERS;
        const char *const *ol = o->oversign ? o->oversign : sg_dkim_default_headers;
        size_t nol = o->oversign ? o->noversign : (o->noversign ? 0 : SG_DKIM_DEFAULT_OVERSIGN);
        int has_from = 0;
        g->o = *o;
        g->alg = o->key ? sg_dkim_signkey_alg(o->key) : o->alg;
        if ((g->o.domain = sg_arena_strdup(s->cfg, o->domain)) == NULL ||
            (g->o.selector = sg_arena_strdup(s->cfg, o->selector)) == NULL ||
            (o->identity && (g->o.identity = sg_arena_strdup(s->cfg, o->identity)) == NULL))
            goto fail;
        for (size_t k = 0; k < nhl; k++)
            if (!sg_ascii_casecmp(hl[k], "from"))
                has_from = 1;
        /* From is mandatory (5.4): put it first if the list lacks it */
        g->headers = sg_arena_calloc(s->cfg, nhl + 1, sizeof(char *));
        if (g->headers == NULL)
            goto fail;
        if (!has_from && (g->headers[g->nheaders++] = sg_arena_strdup(s->cfg, "from")) == NULL)
            goto fail;
        for (size_t k = 0; k < nhl; k++)
            if ((g->headers[g->nheaders++] = sg_arena_strdup(s->cfg, hl[k])) == NULL)
                goto fail;
        if ((g->oversign = copy_list(s->cfg, ol, nol)) == NULL)
            goto fail;
        g->noversign = nol;
    }
    *out = s;
    return SG_OK;
fail:
    sg_dkim_signer_free(s);
    return rc;
}

size_t sg_dkim_count_fields(const sg_header *f, size_t count, const char *name)
{
    size_t c = 0, n = strlen(name);
    for (size_t i = 0; i < count; i++)
        if (f[i].name_len == n && !sg_ascii_ncasecmp(f[i].name, name, n))
            c++;
    return c;
}

/* Whether names[k] is listed before k (any case). */
static int named_before(const char *const *names, size_t k)
{
    for (size_t j = 0; j < k; j++)
        if (!sg_ascii_casecmp(names[j], names[k]))
            return 1;
    return 0;
}

/* The fields named names[k] in f; 0 for a name listed before. */
static size_t instances(const sg_header *f, size_t count, const char *const *names, size_t k)
{
    return named_before(names, k) ? 0 : sg_dkim_count_fields(f, count, names[k]);
}

/* The h= entries when each name lists at most `level` of its instances. */
static size_t pick_total(const sg_header *f, size_t count, const char *const *names, size_t nnames,
                         size_t level)
{
    size_t t = 0;
    for (size_t k = 0; k < nnames; k++) {
        size_t c = instances(f, count, names, k);
        t += c < level ? c : level;
    }
    return t;
}

size_t sg_dkim_pick_headers(const sg_header *f, size_t count, const char *const *names,
                            size_t nnames, const char **h, size_t max)
{
    size_t level = count, nh = 0;
    if (pick_total(f, count, names, nnames, level) > max) {
        /* the largest per-name cap that fits: the names with the most
         * instances give up their topmost first (h= takes instances from
         * the bottom, RFC 6376 5.4.2) */
        size_t lo = 0, hi = count;
        while (lo < hi) {
            size_t mid = lo + (hi - lo + 1) / 2;
            if (pick_total(f, count, names, nnames, mid) <= max)
                lo = mid;
            else
                hi = mid - 1;
        }
        level = lo;
    }
    for (size_t k = 0; k < nnames; k++) {
        size_t c = instances(f, count, names, k);
        for (size_t j = 0; j < c && j < level; j++)
            h[nh++] = names[k];
    }
    return nh;
}

size_t sg_dkim_pick_oversigned(const sg_header *f, size_t count, const char *const *names,
                               size_t nnames, const char *const *over, size_t nover, const char **h)
{
    /* every present instance, in the configured order, as many as a
     * verifier takes (SG_DKIM_MAX_H with the oversigned names)... */
    size_t nh = sg_dkim_pick_headers(f, count, names, nnames, h, SG_DKIM_MAX_H - nover);
    /* ...then one more of each oversigned name: a field added later would
     * be hashed in place of this null string and break the signature
     * (RFC 6376 5.4.2, 8.15) */
    for (size_t k = 0; k < nover; k++)
        if (!named_before(over, k) && !mta_adds(f, count, over[k]))
            h[nh++] = over[k];
    return nh;
}

int sg_dkim_sign_headers(sg_dkim_signer *s, const sg_header *fields, size_t count)
{
    unsigned char *used;
    if (s == NULL || (fields == NULL && count > 0))
        return SG_EINVAL;
    if (s->state != 0)
        return SG_ESTATE;
    if (sg_dkim_count_fields(fields, count, "from") == 0)
        return SG_ENOTFOUND;
    used = sg_arena_alloc(s->arena, count ? count : 1);
    if (used == NULL)
        return SG_ENOMEM;
    for (size_t i = 0; i < s->n; i++) {
        struct ssig *g = &s->sigs[i];
        size_t nh;
        int hi;
        g->h = sg_arena_calloc(s->arena, SG_DKIM_MAX_H, sizeof(*g->h));
        if (g->h == NULL)
            return SG_ENOMEM;
        nh = sg_dkim_pick_oversigned(fields, count, (const char *const *)g->headers, g->nheaders,
                                     (const char *const *)g->oversign, g->noversign, g->h);
        g->nh = nh;
        g->md = EVP_MD_CTX_new();
        if (g->md == NULL || EVP_DigestInit_ex(g->md, EVP_sha256(), NULL) != 1)
            return SG_ENOMEM;
        sg_dkim_hash_headers(g->md, g->o.header_canon, fields, count, g->h, g->nh, SIZE_MAX, used);
        if ((hi = sg_bodyhash_add(&s->bh, g->o.body_canon, UINT64_MAX)) < 0)
            return hi;
        g->hasher = hi;
    }
    s->state = 1;
    return SG_OK;
}

int sg_dkim_sign_body(sg_dkim_signer *s, const char *data, size_t len)
{
    if (s == NULL)
        return SG_EINVAL;
    if (s->state != 1)
        return SG_ESTATE;
    sg_bodyhash_update(&s->bh, data, len);
    return SG_OK;
}

/* ---- building the field -------------------------------------------------------- */

void sg_dkim_fb_put(sg_dkim_fbuf *f, const char *s, size_t n)
{
    if (f->oom)
        return;
    if (f->len + n + 1 > f->cap) {
        size_t nc = (f->len + n + 1) * 2;
        char *nb = realloc(f->buf, nc);
        if (nb == NULL) {
            f->oom = 1;
            return;
        }
        f->buf = nb;
        f->cap = nc;
    }
    memcpy(f->buf + f->len, s, n);
    f->len += n;
    f->buf[f->len] = '\0';
    for (size_t i = 0; i < n; i++)
        f->col = s[i] == '\n' ? 0 : f->col + 1;
}

void sg_dkim_fb_str(sg_dkim_fbuf *f, const char *s)
{
    sg_dkim_fb_put(f, s, strlen(s));
}

/* Start a tag: "; " on the same line if "tag=value" fits, else ";" and
 * a folded line. */
void sg_dkim_fb_tag(sg_dkim_fbuf *f, const char *tag, size_t need, int first)
{
    if (!first) {
        if (f->col + 2 + strlen(tag) + need > SG_DKIM_FOLD_COLUMN)
            sg_dkim_fb_str(f, ";\r\n ");
        else
            sg_dkim_fb_str(f, "; ");
    }
    sg_dkim_fb_str(f, tag);
}

void sg_dkim_fb_tagval(sg_dkim_fbuf *f, const char *tag, const char *val)
{
    sg_dkim_fb_tag(f, tag, strlen(val), 0);
    sg_dkim_fb_str(f, val);
}

/* A long value that may be folded anywhere (base64: 3.5 b=, bh=). */
static void fb_wrapped(sg_dkim_fbuf *f, const char *val)
{
    size_t n = strlen(val);
    while (n > 0) {
        size_t room = f->col < SG_DKIM_FOLD_COLUMN ? SG_DKIM_FOLD_COLUMN - f->col : 0;
        if (room == 0) {
            sg_dkim_fb_str(f, "\r\n ");
            continue;
        }
        if (room > n)
            room = n;
        sg_dkim_fb_put(f, val, room);
        val += room;
        n -= room;
    }
}

void sg_dkim_fb_hlist(sg_dkim_fbuf *f, const char *const *h, size_t nh, const char *sep)
{
    /* fold between names (FWS is allowed around ':', 3.5) */
    sg_dkim_fb_tag(f, "h=", strlen(h[0]), 0);
    for (size_t k = 0; k < nh; k++) {
        size_t need = strlen(h[k]) + (k + 1 < nh ? 1 : 0);
        if (k > 0) {
            if (f->col + strlen(sep) + need > SG_DKIM_FOLD_COLUMN) {
                sg_dkim_fb_str(f, sep[0] == ' ' ? " :\r\n " : ":\r\n ");
            } else {
                sg_dkim_fb_str(f, sep);
            }
        }
        sg_dkim_fb_str(f, h[k]);
    }
}

static void build_field(sg_dkim_fbuf *f, const struct ssig *g, const uint8_t bh[32], int64_t t)
{
    char num[32], bh64[48];
    const char *sep = g->o.flags & SG_DKIM_SIGN_H_SPACED ? " : " : ":";
    sg_dkim_fb_str(f, "DKIM-Signature: v=1");
    sg_dkim_fb_tagval(f, "a=", sg_dkim_alg_str(g->alg));
    sg_dkim_fb_tagval(
        f, "c=",
        g->o.header_canon == SG_CANON_RELAXED
            ? (g->o.body_canon == SG_CANON_RELAXED ? "relaxed/relaxed" : "relaxed/simple")
            : (g->o.body_canon == SG_CANON_RELAXED ? "simple/relaxed" : "simple/simple"));
    sg_dkim_fb_tagval(f, "d=", g->o.domain);
    if (g->o.identity)
        sg_dkim_fb_tagval(f, "i=", g->o.identity);
    if (g->o.flags & SG_DKIM_SIGN_Q_TAG)
        sg_dkim_fb_tagval(f, "q=", "dns/txt");
    sg_dkim_fb_tagval(f, "s=", g->o.selector);
    if (t >= 0) {
        snprintf(num, sizeof(num), "%lld", (long long)t);
        sg_dkim_fb_tagval(f, "t=", num);
        if (g->o.expire_after) {
            snprintf(num, sizeof(num), "%lld", (long long)(t + (int64_t)g->o.expire_after));
            sg_dkim_fb_tagval(f, "x=", num);
        }
    }
    sg_dkim_fb_hlist(f, g->h, g->nh, sep);
    sg_dkim_b64_encode(bh, 32, bh64);
    sg_dkim_fb_tagval(f, "bh=", bh64);
    /* b= goes last with its value right after '=', so every reading of
     * "delete the b= value" (3.7) gives the same bytes */
    sg_dkim_fb_tag(f, "b=", 16, 0);
}

size_t sg_dkim_signer_count(const sg_dkim_signer *s)
{
    return s ? s->n : 0;
}

int sg_dkim_sign_digests(sg_dkim_signer *s, uint8_t *digests, size_t n)
{
    int rc;
    if (s == NULL || digests == NULL || n != s->n)
        return SG_EINVAL;
    if (s->state != 1)
        return SG_ESTATE;
    s->fields = sg_arena_calloc(s->arena, s->n, sizeof(*s->fields));
    s->cols = sg_arena_calloc(s->arena, s->n, sizeof(*s->cols));
    if (s->fields == NULL || s->cols == NULL)
        return SG_ENOMEM;
    if ((rc = sg_bodyhash_final(&s->bh)) != 0)
        return rc;
    for (size_t i = 0; i < s->n; i++) {
        struct ssig *g = &s->sigs[i];
        sg_dkim_fbuf f = {0};
        unsigned int dlen = 0;
        int64_t t = g->o.timestamp == 0 ? (int64_t)time(NULL) : g->o.timestamp;
        build_field(&f, g, sg_bodyhash_digest(&s->bh, g->hasher), t < 0 ? -1 : t);
        if (f.oom || (s->fields[i] = sg_arena_strndup(s->arena, f.buf, f.len)) == NULL) {
            free(f.buf);
            return SG_ENOMEM;
        }
        s->cols[i] = f.col;
        /* the new field, b= empty, without its CRLF, last (3.7) */
        sg_canon_header(g->o.header_canon, f.buf, f.len, 1, sg_dkim_md_sink, g->md);
        free(f.buf);
        if (EVP_DigestFinal_ex(g->md, digests + 32 * i, &dlen) != 1)
            return SG_ECRYPTO;
    }
    s->state = 3;
    return SG_OK;
}

int sg_dkim_sign_body_hash(const sg_dkim_signer *s, const uint8_t **hash, size_t *len)
{
    if (s == NULL || hash == NULL || len == NULL || s->n == 0)
        return SG_EINVAL;
    if (!s->bh.final || s->bh.final_rc != 0)
        return SG_ESTATE;
    *hash = sg_bodyhash_digest(&s->bh, s->sigs[0].hasher);
    *len = 32;
    return SG_OK;
}

int sg_dkim_sign_complete(sg_dkim_signer *s, const uint8_t *const *sigs, const size_t *siglens,
                          size_t n, const char **out, size_t *len)
{
    sg_dkim_fbuf all = {0};
    if (s == NULL || sigs == NULL || siglens == NULL || out == NULL || n != s->n)
        return SG_EINVAL;
    if (s->state != 3)
        return SG_ESTATE;
    for (size_t i = 0; i < s->n; i++)
        if (sigs[i] == NULL || siglens[i] == 0 || siglens[i] > SG_DKIM_MAX_SIG_BYTES)
            return SG_EINVAL;
    for (size_t i = 0; i < s->n; i++) {
        char b64[4 * (SG_DKIM_MAX_SIG_BYTES / 3 + 1) + 1];
        sg_dkim_fbuf f = {0};
        sg_dkim_fb_str(&f, s->fields[i]);
        f.col = s->cols[i];
        sg_dkim_b64_encode(sigs[i], siglens[i], b64);
        fb_wrapped(&f, b64);
        sg_dkim_fb_str(&f, "\r\n");
        sg_dkim_fb_put(&all, f.buf ? f.buf : "", f.len);
        free(f.buf);
        if (f.oom)
            all.oom = 1;
    }
    char *o = all.oom ? NULL : sg_arena_strndup(s->arena, all.buf ? all.buf : "", all.len);
    free(all.buf);
    if (o == NULL)
        return SG_ENOMEM;
    *out = o;
    if (len)
        *len = all.len;
    s->state = 2;
    return SG_OK;
}

/* The in-process convenience: the split above with the caller's keys. */
int sg_dkim_sign_finish(sg_dkim_signer *s, const char **out, size_t *len)
{
    uint8_t *digests, *sigbuf;
    const uint8_t **sigs;
    size_t *siglens;
    int rc;
    if (s == NULL || out == NULL)
        return SG_EINVAL;
    if (s->state != 1)
        return SG_ESTATE;
    for (size_t i = 0; i < s->n; i++)
        if (s->sigs[i].o.key == NULL)
            return SG_EINVAL; /* a key held elsewhere: use the split calls */
    digests = sg_arena_alloc(s->arena, 32 * s->n);
    sigbuf = sg_arena_alloc(s->arena, SG_DKIM_MAX_SIG_BYTES * s->n);
    sigs = sg_arena_calloc(s->arena, s->n, sizeof(*sigs));
    siglens = sg_arena_calloc(s->arena, s->n, sizeof(*siglens));
    if (digests == NULL || sigbuf == NULL || sigs == NULL || siglens == NULL)
        return SG_ENOMEM;
    if ((rc = sg_dkim_sign_digests(s, digests, s->n)) != SG_OK)
        return rc;
    for (size_t i = 0; i < s->n; i++) {
        sigs[i] = sigbuf + SG_DKIM_MAX_SIG_BYTES * i;
        siglens[i] = SG_DKIM_MAX_SIG_BYTES;
        rc = sg_dkim_signkey_sign_digest(s->sigs[i].o.key, digests + 32 * i,
                                         sigbuf + SG_DKIM_MAX_SIG_BYTES * i, &siglens[i]);
        if (rc != SG_OK)
            return rc;
    }
    return sg_dkim_sign_complete(s, sigs, siglens, s->n, out, len);
}
