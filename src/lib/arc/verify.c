/*
 * ARC chain validation (RFC 8617 5.2), a client of the DKIM core: the
 * AMS and the AS are parsed by DKIM's signature parser (kinds SG_SIG_AMS,
 * SG_SIG_AS), hashed by its header and body hashes, and decided by its
 * key and signature checks. What is left here is the chain.
 *
 * Flow for one message:
 *   headers -> collect every ARC-Authentication-Results (AAR),
 *              ARC-Message-Signature (AMS) and ARC-Seal (AS) by i=; any
 *              structural fault (bad or duplicate i=, a gap) decides the
 *              chain as fail at once. Otherwise hash what each usable AMS
 *              and AS signs now (the header need not be kept), start the
 *              key queries (one per distinct s=/d=) and ask the body hash
 *              set for each AMS's (c= body, l=) pair;
 *   body    -> the body hashes (the verdict's, shared with DKIM, or our
 *              own);
 *   finish  -> when the body is done and every key has arrived, the chain
 *              is decided in the order of 5.2.
 *
 * Where ARC departs from plain DKIM (rsa-sha256 only, c= defaults, h=
 * rules, cv=) is said in dkim/sig.c, where the parser checks the kind.
 */
#include "arc/arc_int.h"
#include "dkim/dkim_int.h"

#include <spoofguard/arc.h>
#include <spoofguard/canon.h>

#include <stdlib.h>
#include <string.h>
#include "util/ascii.h"
#include "util/domain.h"

/* RFC 8301 3.2: verifiers MUST NOT consider RSA keys under 1024 bits. */
#define DEFAULT_MIN_RSA_BITS 1024
/* Tolerated clock difference for an AMS's x= (as for DKIM). */
#define DEFAULT_CLOCK_SKEW 300
/* Key lookups of one chain in flight at once. A chain may have 50 sets
 * (RFC 8617 5.1.1), each sealer's keys the sender's to name: all at once,
 * a forger's message put 100 lookups, 200 queries with the retry, on the
 * resolver the host's other mail shares, for names whose DNS never
 * answers (adv45 F1). A genuine chain of up to 4 sets has at most 8 keys:
 * one round trip, as before. */
#define KEYS_IN_FLIGHT 8

enum { K_AMS = 0, K_AS = 1 };

/* One AMS or AS. */
struct asig {
    sg_dkim_sig sig;
    int ok;             /* parsed and usable */
    const char *reason; /* why not, or the verification outcome */
    sg_dkim_result result;
    int key;    /* index in v->keys, or -1 */
    int hasher; /* AMS only: in the body hash set */
    uint8_t hdr_digest[32];
};

struct aset {
    size_t aar, ams, as; /* field indices; SIZE_MAX: missing */
    struct asig sig[2];
};

struct akey {
    sg_arc_verifier *v;
    char *qname;
    const char *d; /* the signing domain that named it */
    sg_dns_query *q;
    int asked; /* its lookup was started (or refused at once) */
    int done;
    sg_dkim_keystate ks; /* ks.key: &key */
    sg_dkim_key key;
};

struct sg_arc_verifier {
    sg_dkim_vcore c; /* pending: key queries out */
    sg_arc_verify_opts opts;
    int decided;
    unsigned n; /* highest instance */
    struct aset *sets;
    struct asig *tmp; /* a field being collected */
    /* in the arena, sized for the chain once its length is known: at most
     * one key per AMS and AS */
    struct akey *keys;
    size_t nkeys;
    /* the order the keys are asked in (newest AMS and seals first: what
     * decides the chain), and the next one to ask */
    size_t *order;
    size_t norder, next_key;
    const char *early_fail; /* structural failure found from the header */
    sg_arc_result result;
    sg_arc_set_result *set_results;
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
    v->c.done_cb = cb;
    v->c.done_payload = payload;
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
    if ((rc = sg_dkim_vcore_init(&v->c, resolver, cache)) != 0) {
        free(v);
        return rc;
    }
    *out = v;
    return SG_OK;
}

void sg_arc_verifier_lend_bodyhash(sg_arc_verifier *v, sg_bodyhash_set *set)
{
    v->c.bh = set != NULL ? set : &v->c.own_bh;
}

void sg_arc_verifier_reset(sg_arc_verifier *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->nkeys; i++) {
        if (v->keys[i].q != NULL)
            sg_resolver_cancel(v->c.resolver, v->keys[i].q);
        sg_dkim_key_clear(&v->keys[i].key);
    }
    sg_dkim_vcore_reset(&v->c);
    v->nkeys = 0;
    v->order = NULL;
    v->norder = v->next_key = 0;
    v->tmp = NULL;
    v->keys = NULL;
    v->sets = NULL;
    v->set_results = NULL;
    v->n = 0;
    v->early_fail = NULL;
    v->decided = 0;
    memset(&v->result, 0, sizeof(v->result));
}

void sg_arc_verifier_free(sg_arc_verifier *v)
{
    if (v == NULL)
        return;
    sg_arc_verifier_reset(v);
    sg_dkim_vcore_free(&v->c);
    free(v);
}

/* ---- parsing ---------------------------------------------------------------- */

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
    if ((i = sg_arc_parse_instance(d, (size_t)(p - d))) == 0)
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

/* Parse one AMS (kind K_AMS) or AS (K_AS) into s. Returns SG_ENOMEM or 0;
 * s->ok tells whether the field is usable, s->reason why not. */
static int parse_sig(sg_arc_verifier *v, const sg_header *f, int kind, struct asig *s)
{
    int rc = sg_dkim_sig_parse(v->c.arena, kind == K_AMS ? SG_SIG_AMS : SG_SIG_AS, f->raw,
                               f->raw_len, &s->sig, &s->reason);
    s->ok = 0;
    s->key = -1;
    s->result = SG_DKIM_PERMERROR;
    if (rc == SG_ENOMEM)
        return rc;
    if (rc != 0)
        return SG_OK;
    /* An AMS means what a DKIM-Signature means (RFC 8617 4.1.2): past its
     * x=, the hop no longer vouches for the message (a sealer's only bound
     * on replays of what it sealed). A t= in the future is not refused
     * (5.2 has no such step; dkimpy and Mail::DKIM agree): a hop whose
     * clock runs fast would have its chains end at ours. */
    if (s->sig.has_x && s->sig.x + (int64_t)v->opts.clock_skew < v->c.now) {
        s->result = SG_DKIM_POLICY;
        s->reason = "signature expired (x=)";
        return SG_OK;
    }
    s->ok = 1;
    s->result = SG_DKIM_NONE;
    s->reason = "not evaluated";
    return SG_OK;
}

/* ---- hashing -------------------------------------------------------------------- */

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
    if (md != NULL && EVP_DigestInit_ex(md, sg_dkim_sha256(v->c.cache), NULL) != 1) {
        EVP_MD_CTX_free(md);
        md = NULL;
    }
    return md;
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
static int as_digest(sg_arc_verifier *v, EVP_MD_CTX *chain, unsigned inst, const sg_header *fields)
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
    rc = sg_dkim_hash_blanked(v->c.arena, md, SG_CANON_RELAXED, fields[a->as].raw,
                              fields[a->as].raw_len, &a->sig[K_AS].sig);
    if (rc != 0) {
        EVP_MD_CTX_free(md);
        return rc;
    }
    return digest_final(md, v->sets[inst - 1].sig[K_AS].hdr_digest);
}

/* ---- keys ------------------------------------------------------------------------ */

static void key_answer(const sg_dns_answer *ans, struct akey *k)
{
    sg_arc_verifier *v = k->v;
    k->done = 1;
    k->ks.rc =
        sg_dkim_key_from_answer(v->c.cache, ans, v->c.now, &k->key, &k->ks.reason, &k->ks.temp);
}

static void decide_chain(sg_arc_verifier *v);

static void key_cb(const sg_dns_answer *ans, void *payload);

/* Asks the next keys in order, up to KEYS_IN_FLIGHT at once. Answers come
 * on the resolver's next run, never from inside the query call. */
static int ask_keys(sg_arc_verifier *v)
{
    while (v->c.pending < KEYS_IN_FLIGHT && v->next_key < v->norder) {
        struct akey *k = &v->keys[v->order[v->next_key++]];
        k->asked = 1;
        v->c.pending++;
        int rc = sg_resolver_query(v->c.resolver, k->qname, SG_DNS_TXT, key_cb, k, &k->q);
        if (rc != 0) {
            v->c.pending--;
            k->q = NULL;
            if (rc == SG_ENOMEM)
                return rc;
            k->done = 1;
            k->ks.rc = SG_ESYNTAX;
            k->ks.reason = "bad key record name";
        }
    }
    return SG_OK;
}

static void key_cb(const sg_dns_answer *ans, void *payload)
{
    struct akey *k = payload;
    sg_arc_verifier *v = k->v;
    const char *top = v->sets[v->n - 1].sig[K_AS].sig.d;
    k->q = NULL;
    key_answer(ans, k);
    v->c.pending--;
    /* A key of another domain than the newest sealer's got no answer: the
     * chain can end temporary at best, and a trusted sealer's vouching
     * cannot count (the verdict's rule); the rest would cost a forger's
     * DNS its timeouts again, 8 at a time, up to the time budget (rev29
     * R29-6). The newest sealer's own keys are all asked: a trusted
     * forwarder's slow DNS only makes the answer temporary. */
    if (k->ks.rc != 0 && k->ks.temp && (k->d == NULL || top == NULL || !sg_domain_same(k->d, top)))
        v->next_key = v->norder;
    if (ask_keys(v) != SG_OK) {
        /* no memory for the next lookup: those not asked count as no
         * answer (temporary), never as a pass */
        v->next_key = v->norder;
    }
    if (v->c.pending == 0 && v->c.body_done) {
        decide_chain(v);
        if (v->c.done_cb)
            v->c.done_cb(v->c.done_payload);
    }
}

/* The key slot for s._domainkey.d (queries shared between sets). */
static int key_slot(sg_arc_verifier *v, const struct asig *s)
{
    char *q = sg_dkim_key_qname(v->c.arena, &s->sig);
    if (q == NULL)
        return SG_ENOMEM;
    for (size_t i = 0; i < v->nkeys; i++)
        if (!sg_ascii_casecmp(v->keys[i].qname, q))
            return (int)i;
    memset(&v->keys[v->nkeys], 0, sizeof(v->keys[0]));
    v->keys[v->nkeys].v = v;
    v->keys[v->nkeys].qname = q;
    v->keys[v->nkeys].d = s->sig.d;
    v->keys[v->nkeys].ks.key = &v->keys[v->nkeys].key;
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
static int collect(sg_arc_verifier *v, const sg_header *fields, size_t count)
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
    while (i0 < count &&
           !(fields[i0].name_len > 4 && !sg_ascii_ncasecmp(fields[i0].name, "ARC-", 4)))
        i0++;
    if (i0 == count)
        return SG_OK;
    v->sets = sg_arena_alloc(v->c.arena, SG_ARC_MAX_INSTANCES * sizeof(*v->sets));
    v->tmp = sg_arena_alloc(v->c.arena, sizeof(*v->tmp));
    if (v->sets == NULL || v->tmp == NULL)
        return SG_ENOMEM;
    for (size_t k = 0; k < SG_ARC_MAX_INSTANCES; k++) {
        memset(&v->sets[k], 0, sizeof(v->sets[k]));
        v->sets[k].aar = v->sets[k].ams = v->sets[k].as = SIZE_MAX;
    }
    for (size_t i = i0; i < count; i++) {
        int kind = -1;
        unsigned inst;
        size_t *slot;
        const char *rest = NULL;
        int rc;
        for (int t = 0; t < 3; t++)
            if (sg_dkim_field_is(&fields[i], names[t]))
                kind = t;
        if (kind < 0)
            continue;
        if (kind == 0) {
            inst = aar_instance(&fields[i], &rest);
        } else {
            /* the parser gives the instance even when the rest of the
             * field is unusable: that is decided later, set by set */
            if ((rc = parse_sig(v, &fields[i], kind - 1, v->tmp)) != 0)
                return rc;
            inst = v->tmp->sig.instance;
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
        if (kind > 0)
            v->sets[inst - 1].sig[kind - 1] = *v->tmp;
    }
    for (unsigned j = 0; j < v->n; j++)
        if (v->sets[j].aar == SIZE_MAX || v->sets[j].ams == SIZE_MAX || v->sets[j].as == SIZE_MAX)
            set_early_fail(v, "incomplete ARC set or gap in the instances");
    return SG_OK;
}

static int fill_set_results(sg_arc_verifier *v, const sg_header *fields)
{
    v->set_results = sg_arena_calloc(v->c.arena, v->n ? v->n : 1, sizeof(*v->set_results));
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
            if ((r->aar = sg_arena_strndup(v->c.arena, rest, (size_t)(e - rest))) == NULL)
                return SG_ENOMEM;
        }
    }
    return SG_OK;
}

/* Hash what each usable AMS and AS signs and pick its key slot. */
static int hash_sets(sg_arc_verifier *v, const sg_header *fields, size_t count, unsigned char *used)
{
    if (v->n == 0)
        return SG_OK;
    v->keys = sg_arena_alloc(v->c.arena, 2 * v->n * sizeof(*v->keys));
    if (v->keys == NULL)
        return SG_ENOMEM;
    EVP_MD_CTX *chain = digest_new(v);
    int rc = SG_OK;
    if (chain == NULL)
        return SG_ENOMEM;
    for (unsigned j = 0; j < v->n && rc == 0; j++) {
        struct aset *a = &v->sets[j];
        for (int kind = K_AMS; kind <= K_AS && rc == 0; kind++) {
            struct asig *s = &a->sig[kind];
            if (!s->ok)
                continue;
            if (kind == K_AMS) {
                /* AMS (RFC 8617 4.1.2): DKIM's header hash (RFC 6376 3.7) */
                rc = sg_dkim_header_digest(v->c.arena, sg_dkim_sha256(v->c.cache), &s->sig, fields,
                                           count, a->ams, used, s->hdr_digest);
                if (rc == 0 && (rc = sg_bodyhash_add(v->c.bh, s->sig.bcanon,
                                                     s->sig.has_l ? s->sig.l : UINT64_MAX)) >= 0) {
                    s->hasher = rc;
                    rc = 0;
                }
            } else {
                rc = as_digest(v, chain, j + 1, fields);
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
    unsigned char *used;
    int rc;
    if (v == NULL || (fields == NULL && count > 0))
        return SG_EINVAL;
    if ((rc = sg_dkim_vcore_headers(&v->c, v->opts.now)) != 0)
        return rc;
    used = sg_arena_alloc(v->c.arena, count ? count : 1);
    if (used == NULL)
        return SG_ENOMEM;
    if ((rc = collect(v, fields, count)) != 0)
        return rc;
    if ((rc = fill_set_results(v, fields)) != 0)
        return rc;
    if (v->early_fail != NULL)
        return SG_OK; /* decided: no keys, no hashing */
    if ((rc = hash_sets(v, fields, count, used)) != 0)
        return rc;
    /* The keys in the order 5.2 needs them: the newest AMS, the seals
     * newest first, then the older AMSs (oldest-pass only) */
    if (v->nkeys == 0)
        return SG_OK;
    if ((v->order = sg_arena_alloc(v->c.arena, v->nkeys * sizeof(*v->order))) == NULL)
        return SG_ENOMEM;
    unsigned char qbuf[128], *queued = qbuf; /* 50 sets: 100 keys at most */
    if (v->nkeys > sizeof(qbuf) && (queued = sg_arena_alloc(v->c.arena, v->nkeys)) == NULL)
        return SG_ENOMEM;
    memset(queued, 0, v->nkeys);
    for (unsigned pass = 0; pass < 3; pass++)
        for (unsigned j = v->n; j-- > 0;) {
            const struct asig *s = pass == 0   ? (j == v->n - 1 ? &v->sets[j].sig[K_AMS] : NULL)
                                   : pass == 1 ? &v->sets[j].sig[K_AS]
                                               : &v->sets[j].sig[K_AMS];
            if (s == NULL || !s->ok || s->key < 0 || queued[s->key])
                continue;
            queued[s->key] = 1;
            v->order[v->norder++] = (size_t)s->key;
        }
    return ask_keys(v);
}

int sg_arc_verify_body(sg_arc_verifier *v, const char *data, size_t len)
{
    return v != NULL ? sg_dkim_vcore_body(&v->c, data, len) : SG_EINVAL;
}

/* ---- deciding ---------------------------------------------------------------------- */

/* Verify one AMS or AS whose key has arrived; sets s->result/reason. */
static void verify_sig(sg_arc_verifier *v, struct asig *s, int kind)
{
    const struct akey *k;
    if (!s->ok)
        return; /* permerror, reason from parsing */
    if (s->key < 0 || !(k = &v->keys[s->key])->done) {
        s->result = SG_DKIM_TEMPERROR;
        s->reason = s->key >= 0 && !v->keys[s->key].asked
                        ? "key not looked up (time allowed over, or the chain could no longer "
                          "pass)"
                        : "key lookup got no answer";
        return;
    }
    s->result = sg_dkim_check_sig(&s->sig, &k->ks, v->opts.min_rsa_bits,
                                  kind == K_AMS ? sg_bodyhash_digest(v->c.bh, s->hasher) : NULL,
                                  s->hdr_digest, &s->reason);
    /* The verdict's rule for DKIM (fail_on_partial_body): a hop that
     * signed l= octets vouched for none after them, and text added below
     * its seal would pass on as sealed (RFC 6376 8.2) */
    if (kind == K_AMS && s->result == SG_DKIM_PASS && s->sig.has_l &&
        sg_bodyhash_total(v->c.bh, s->hasher) > s->sig.l) {
        s->result = SG_DKIM_POLICY;
        s->reason = "l= does not cover the whole body";
    }
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
        r->ams_domain = m->sig.d;
        r->ams_selector = m->sig.s;
        for (size_t k = 0; k < m->sig.nh && !r->ams_covers_from; k++)
            r->ams_covers_from = m->sig.h[k] != NULL && !sg_ascii_casecmp(m->sig.h[k], "from");
        r->as_domain = s->sig.d;
        r->as_selector = s->sig.s;
        r->as_cv = (sg_arc_cv)s->sig.cv;
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
    if (v->sets[n - 1].sig[K_AS].sig.cv == SG_ARC_FAIL) {
        finish_result(v, SG_ARC_FAIL, "the newest ARC-Seal says cv=fail");
        return;
    }
    for (unsigned j = 0; j < n; j++) {
        sg_arc_cv want = j == 0 ? SG_ARC_NONE : SG_ARC_PASS;
        if (v->sets[j].sig[K_AS].sig.cv != (int)want) {
            finish_result(v, SG_ARC_FAIL,
                          j == 0 ? "ARC-Seal i=1 must have cv=none"
                                 : "an ARC-Seal after i=1 does not have cv=pass");
            return;
        }
    }
    /* Step 3: the newest AMS must validate. A key that got no answer (a
     * timeout, SERVFAIL) makes the failure temporary only if nothing else
     * fails for good: every seal is checked first, so that a forged seal
     * cannot hide behind an AMS whose key the forger's own DNS withholds
     * (rev19 #1). */
    const char *temp = NULL;
    {
        struct asig *m = &v->sets[n - 1].sig[K_AMS];
        verify_sig(v, m, K_AMS);
        v->set_results[n - 1].ams_result = m->result;
        v->set_results[n - 1].ams_reason = m->reason;
        if (m->result == SG_DKIM_TEMPERROR) {
            temp = "the newest ARC-Message-Signature's key got no answer";
        } else if (m->result != SG_DKIM_PASS) {
            finish_result(v, SG_ARC_FAIL, "the newest ARC-Message-Signature did not verify");
            return;
        }
    }
    /* Step 4: oldest-pass, from the older AMSs (their failure does not
     * break the chain). */
    v->result.oldest_pass = 0;
    for (unsigned j = n - 1; j >= 1 && temp == NULL; j--) {
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
        if (s->result == SG_DKIM_TEMPERROR) {
            if (temp == NULL)
                temp = "an ARC-Seal's key got no answer";
        } else if (s->result != SG_DKIM_PASS) {
            finish_result(v, SG_ARC_FAIL, "an ARC-Seal did not verify");
            return;
        }
    }
    if (temp != NULL) {
        v->result.temporary = 1;
        finish_result(v, SG_ARC_FAIL, temp);
        return;
    }
    finish_result(v, SG_ARC_PASS, "chain validated");
}

int sg_arc_verify_finish(sg_arc_verifier *v)
{
    int rc;
    if (v == NULL)
        return SG_EINVAL;
    if ((rc = sg_dkim_vcore_end_body(&v->c)) < 0)
        return rc;
    if (rc == 1 && v->c.pending == 0)
        decide_chain(v);
    return (int)v->c.pending;
}

size_t sg_arc_verify_pending(const sg_arc_verifier *v)
{
    return v ? v->c.pending : 0;
}

static void give_up(void *self)
{
    sg_arc_verifier *v = self;
    for (size_t i = 0; i < v->nkeys; i++)
        v->keys[i].q = NULL;
    v->c.pending = 0;
    decide_chain(v);
}

void sg_arc_verify_give_up(sg_arc_verifier *v)
{
    for (size_t i = 0; i < v->nkeys; i++)
        if (v->keys[i].q != NULL) {
            sg_resolver_cancel(v->c.resolver, v->keys[i].q);
            v->keys[i].q = NULL;
        }
    if (v->c.body_done)
        give_up(v);
    else
        v->c.pending = 0;
}

int sg_arc_verify_wait(sg_arc_verifier *v)
{
    int rc = sg_arc_verify_finish(v);
    return v != NULL ? sg_dkim_vcore_wait(&v->c, rc, give_up, v) : rc;
}

int sg_arc_verify_result(sg_arc_verifier *v, const sg_arc_result **out)
{
    if (v == NULL || out == NULL)
        return SG_EINVAL;
    if (!v->c.have_headers || !v->c.body_done || v->c.pending > 0)
        return SG_ESTATE;
    decide_chain(v);
    *out = &v->result;
    return SG_OK;
}
