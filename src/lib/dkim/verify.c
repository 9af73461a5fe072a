/*
 * Streaming DKIM verifier (RFC 6376 6, RFC 8463, RFC 8301).
 *
 * Flow for one message:
 *   headers -> parse every DKIM-Signature up to the cap, reject what the
 *              field alone condemns, hash the signed header fields now
 *              (the header need not be kept), start all key queries at
 *              once, and set up one body hasher per distinct
 *              (body canonicalisation, l=) pair;
 *   body    -> each chunk goes through each hasher once, however many
 *              signatures share it;
 *   finish  -> each signature is decided when both its key and the body
 *              hash are known, in whichever order they arrive.
 *
 * Only sha256 signatures are ever hashed: rsa-sha1 is decided (policy)
 * from the field alone.
 */
#include "dkim_int.h"

#include <spoofguard/canon.h>

#include <stdlib.h>
#include <string.h>
#include "util/ascii.h"

/* RFC 8301 3.2: verifiers MUST NOT consider RSA keys under 1024 bits. */
#define DEFAULT_MIN_RSA_BITS 1024
/* Clock skew tolerated for t= and x= (RFC 6376 3.5 leaves it to the
 * verifier); 5 minutes covers unsynchronised but sane clocks. */
#define DEFAULT_CLOCK_SKEW 300
/* Signatures evaluated per message: each costs a DNS query and a public
 * key operation, so an attacker must not be able to ask for thousands. */
#define DEFAULT_MAX_SIGNATURES 10

enum { S_DONE, S_WAIT_KEY, S_HAVE_KEY };

struct vsig {
    sg_dkim_verifier *v;
    sg_dkim_sig sig;
    sg_dkim_sig_result *res;
    int state;
    int hasher;
    uint8_t hdr_digest[32];
    sg_dns_query *q;
    sg_dkim_key key;
    int key_rc;
    const char *key_reason;
};

struct sg_dkim_verifier {
    sg_dkim_vcore c; /* pending: signatures waiting for their key */
    sg_dkim_verify_opts opts;
    struct vsig *sigs;
    size_t nsigs;
    sg_dkim_sig_result *results;
    size_t nresults;
    const char *prefer; /* author domain: its signatures go first under the cap */
};

void sg_dkim_verifier_prefer_domain(sg_dkim_verifier *v, const char *domain)
{
    if (v != NULL)
        v->prefer = domain;
}

void sg_dkim_verifier_set_done_cb(sg_dkim_verifier *v, void (*cb)(void *payload), void *payload)
{
    v->c.done_cb = cb;
    v->c.done_payload = payload;
}

const char *sg_dkim_result_str(sg_dkim_result r)
{
    switch (r) {
    case SG_DKIM_NONE:
        return "none";
    case SG_DKIM_PASS:
        return "pass";
    case SG_DKIM_FAIL:
        return "fail";
    case SG_DKIM_NEUTRAL:
        return "neutral";
    case SG_DKIM_POLICY:
        return "policy";
    case SG_DKIM_TEMPERROR:
        return "temperror";
    case SG_DKIM_PERMERROR:
        return "permerror";
    }
    return "none";
}

const char *sg_dkim_alg_str(sg_dkim_alg alg)
{
    switch (alg) {
    case SG_DKIM_RSA_SHA256:
        return "rsa-sha256";
    case SG_DKIM_RSA_SHA1:
        return "rsa-sha1";
    case SG_DKIM_ED25519_SHA256:
        return "ed25519-sha256";
    case SG_DKIM_ALG_UNKNOWN:
        break;
    }
    return "unknown";
}

void sg_dkim_verify_opts_init(sg_dkim_verify_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->version = SG_DKIM_VERIFY_OPTS_VERSION;
    o->clock_skew = DEFAULT_CLOCK_SKEW;
    o->max_signatures = DEFAULT_MAX_SIGNATURES;
    o->min_rsa_bits = DEFAULT_MIN_RSA_BITS;
}

/* ---- lifecycle --------------------------------------------------------------- */

int sg_dkim_verifier_new(sg_dkim_verifier **out, sg_resolver *resolver, sg_dkim_keycache *cache,
                         const sg_dkim_verify_opts *opts)
{
    sg_dkim_verifier *v;
    int rc;
    if (out == NULL || resolver == NULL)
        return SG_EINVAL;
    *out = NULL;
    if (opts != NULL && opts->version != SG_DKIM_VERIFY_OPTS_VERSION)
        return SG_EINVAL;
    v = calloc(1, sizeof(*v));
    if (v == NULL)
        return SG_ENOMEM;
    if (opts)
        v->opts = *opts;
    else
        sg_dkim_verify_opts_init(&v->opts);
    if (v->opts.max_signatures == 0)
        v->opts.max_signatures = DEFAULT_MAX_SIGNATURES;
    if (v->opts.max_signatures > SG_DKIM_MAX_SIGS_CEILING)
        v->opts.max_signatures = SG_DKIM_MAX_SIGS_CEILING;
    if (v->opts.min_rsa_bits < DEFAULT_MIN_RSA_BITS)
        v->opts.min_rsa_bits = DEFAULT_MIN_RSA_BITS; /* RFC 8301: a floor, not a knob */
    if ((rc = sg_dkim_vcore_init(&v->c, resolver, cache)) != 0) {
        free(v);
        return rc;
    }
    *out = v;
    return SG_OK;
}

void sg_dkim_verifier_lend_bodyhash(sg_dkim_verifier *v, sg_bodyhash_set *set)
{
    v->c.bh = set != NULL ? set : &v->c.own_bh;
}

void sg_dkim_verifier_reset(sg_dkim_verifier *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->nsigs; i++) {
        if (v->sigs[i].q != NULL)
            sg_resolver_cancel(v->c.resolver, v->sigs[i].q);
        sg_dkim_key_clear(&v->sigs[i].key);
    }
    sg_dkim_vcore_reset(&v->c);
    v->sigs = NULL;
    v->results = NULL;
    v->nsigs = v->nresults = 0;
    v->prefer = NULL;
}

void sg_dkim_verifier_free(sg_dkim_verifier *v)
{
    if (v == NULL)
        return;
    sg_dkim_verifier_reset(v);
    sg_dkim_vcore_free(&v->c);
    free(v);
}

/* ---- deciding one signature ------------------------------------------------------ */

static void decide(struct vsig *s, sg_dkim_result r, const char *reason)
{
    s->res->result = r;
    s->res->reason = reason;
    s->state = S_DONE;
}

/* Called when both key and body hash are known. */
static void evaluate(struct vsig *s)
{
    sg_dkim_verifier *v = s->v;
    const sg_dkim_sig *g = &s->sig;
    sg_dkim_keystate ks = {.rc = s->key_rc, .reason = s->key_reason, .key = &s->key};
    uint64_t total = sg_bodyhash_total(v->c.bh, s->hasher);
    const char *reason;
    sg_dkim_result r;

    s->res->body_length = total;
    if (s->key_rc == 0) {
        s->res->key_bits = s->key.bits;
        s->res->testing = s->key.testing;
    }
    r = sg_dkim_check_sig(g, &ks, v->opts.min_rsa_bits, sg_bodyhash_digest(v->c.bh, s->hasher),
                          s->hdr_digest, &reason);
    if (r != SG_DKIM_PASS) {
        decide(s, r, reason);
        return;
    }
    if (g->has_l && v->opts.fail_on_partial_body && total > g->l) {
        decide(s, SG_DKIM_POLICY, "l= does not cover the whole body");
        return;
    }
    decide(s, SG_DKIM_PASS,
           g->has_l && total > g->l ? "good signature (l= covers part of the body)"
                                    : "good signature");
}

static void key_answer(const sg_dns_answer *ans, void *payload)
{
    struct vsig *s = payload;
    sg_dkim_verifier *v = s->v;
    int temp;
    s->q = NULL;
    v->c.pending--;
    s->key_rc = sg_dkim_key_from_answer(v->c.cache, ans, v->c.now, &s->key, &s->key_reason, &temp);
    if (temp) {
        decide(s, SG_DKIM_TEMPERROR, s->key_reason);
        return;
    }
    s->state = S_HAVE_KEY;
    if (v->c.body_done)
        evaluate(s);
}

/* Tell the owner when the last key of a finished message has been
 * handled, so an event-driven caller need not poll. */
static void key_cb(const sg_dns_answer *ans, void *payload)
{
    struct vsig *s = payload;
    sg_dkim_verifier *v = s->v;
    key_answer(ans, payload);
    if (v->c.pending == 0 && v->c.body_done && v->c.done_cb)
        v->c.done_cb(v->c.done_payload);
}

/* ---- headers -------------------------------------------------------------------- */

/* Which fields the signature covers, for the caller's "unsigned field"
 * report (at most nh of them). Out of memory leaves the list empty: a
 * field then reads as unsigned, never the other way round. */
static void record_covered(sg_dkim_verifier *v, struct vsig *s, const unsigned char *used,
                           size_t count)
{
    size_t n = 0, *out;
    for (size_t j = 0; j < count; j++)
        n += used[j];
    if (n == 0 || (out = sg_arena_alloc(v->c.arena, n * sizeof(*out))) == NULL)
        return;
    n = 0;
    for (size_t j = 0; j < count; j++)
        if (used[j])
            out[n++] = j;
    s->res->covered = out;
    s->res->ncovered = n;
}

/* The last two labels of a name ("example.com" of "a.b.example.com"), or
 * the name itself. */
static const char *last_two_labels(const char *d)
{
    const char *p = d + strlen(d), *dot = NULL;
    int dots = 0;
    while (p > d) {
        p--;
        if (*p == '.' && ++dots == 2) {
            dot = p;
            break;
        }
    }
    return dot ? dot + 1 : d;
}

/* Could a pass for signing domain d align (relaxed, RFC 9989 4.4) with the
 * author domain? At the end of the header the organisational domain is not
 * known yet (the tree walk needs DNS), so this over-approximates it: both
 * names share their last two labels. Used only to order evaluation, so
 * erring towards "could" costs nothing but a place under the cap. */
static int could_align(const char *d, const char *author)
{
    if (d == NULL || author == NULL)
        return 0;
    return sg_ascii_casecmp(last_two_labels(d), last_two_labels(author)) == 0;
}

int sg_dkim_verify_headers(sg_dkim_verifier *v, const sg_header *fields, size_t count)
{
    size_t nfields = 0, idx = 0, si = 0, budget;
    unsigned char *used, *eval;
    sg_dkim_sig *parsed;
    int *prc;
    const char **preason;
    int rc;
    if (v == NULL || (fields == NULL && count > 0))
        return SG_EINVAL;
    if ((rc = sg_dkim_vcore_headers(&v->c, v->opts.now)) != 0)
        return rc;
    for (size_t i = 0; i < count; i++)
        if (sg_dkim_field_is(&fields[i], "DKIM-Signature"))
            nfields++;
    if (nfields == 0)
        return SG_OK;
    v->results = sg_arena_calloc(v->c.arena, nfields, sizeof(*v->results));
    v->nsigs = nfields < v->opts.max_signatures ? nfields : v->opts.max_signatures;
    v->sigs = sg_arena_calloc(v->c.arena, v->nsigs, sizeof(*v->sigs));
    used = sg_arena_alloc(v->c.arena, count);
    eval = sg_arena_calloc(v->c.arena, nfields, 1);
    parsed = sg_arena_calloc(v->c.arena, nfields, sizeof(*parsed));
    prc = sg_arena_calloc(v->c.arena, nfields, sizeof(*prc));
    preason = sg_arena_calloc(v->c.arena, nfields, sizeof(*preason));
    if (v->results == NULL || v->sigs == NULL || used == NULL || eval == NULL || parsed == NULL ||
        prc == NULL || preason == NULL)
        return SG_ENOMEM;
    v->nresults = nfields;

    /* Which signatures are evaluated under the cap. A sender can put any
     * number of junk signatures in front of a genuine one; the ones that
     * could prove the From domain go first, bottom-up (the originator's
     * signature is the oldest: signatures added later are prepended), then
     * the rest in header order. A forger who writes many d=<author domain>
     * signatures with bad b= can still crowd them out, but only from a
     * message he composed himself, whose genuine signature (a replay)
     * he could as well have left out. */
    for (size_t i = 0, k = 0; i < count; i++) {
        if (!sg_dkim_field_is(&fields[i], "DKIM-Signature"))
            continue;
        prc[k] = sg_dkim_sig_parse(v->c.arena, SG_SIG_DKIM, fields[i].raw, fields[i].raw_len,
                                   &parsed[k], &preason[k]);
        if (prc[k] == SG_ENOMEM)
            return SG_ENOMEM;
        k++;
    }
    budget = v->nsigs;
    if (v->prefer != NULL)
        for (size_t k = nfields; k-- > 0 && budget > 0;)
            if (prc[k] == 0 && could_align(parsed[k].d, v->prefer)) {
                eval[k] = 1;
                budget--;
            }
    for (size_t k = 0; k < nfields && budget > 0; k++)
        if (!eval[k]) {
            eval[k] = 1;
            budget--;
        }

    for (size_t i = 0; i < count; i++) {
        sg_dkim_sig_result *r;
        struct vsig *s;
        const char *reason;
        if (!sg_dkim_field_is(&fields[i], "DKIM-Signature"))
            continue;
        r = &v->results[idx];
        r->field_index = i;
        r->reason = "";
        if (!eval[idx]) {
            /* Over the cap: report, never evaluate (no DNS, no crypto). */
            const sg_dkim_sig *tmp = &parsed[idx];
            r->domain = tmp->d;
            r->selector = tmp->s;
            r->algorithm = tmp->a;
            r->alg = tmp->alg;
            r->b_prefix = sg_arena_strdup(v->c.arena, tmp->b_prefix);
            r->result = SG_DKIM_POLICY;
            r->reason = "not evaluated: too many signatures";
            r->skipped = 1;
            idx++;
            continue;
        }
        s = &v->sigs[si++];
        s->v = v;
        s->res = r;
        s->state = S_DONE;
        s->sig = parsed[idx];
        rc = prc[idx];
        reason = preason[idx];
        idx++;
        r->domain = s->sig.d;
        r->selector = s->sig.s;
        r->algorithm = s->sig.a;
        r->alg = s->sig.alg;
        r->identity = s->sig.i;
        r->b_prefix = s->sig.b_prefix;
        r->has_length = s->sig.has_l;
        r->length = s->sig.l;
        if (rc != 0) {
            decide(s, SG_DKIM_PERMERROR, reason);
            continue;
        }
        if (s->sig.alg == SG_DKIM_RSA_SHA1) {
            decide(s, SG_DKIM_POLICY, "rsa-sha1 is not acceptable (RFC 8301)");
            continue;
        }
        /* Time: RFC 6376 3.5 and 6.1.1 let verifiers refuse expired
         * signatures and ones from the future. The signature may be
         * cryptographically sound; it is refused by local time policy, so
         * the RFC 8601 result is "policy", not "fail" (which would suggest
         * tampering). */
        if (s->sig.has_x && s->sig.x + (int64_t)v->opts.clock_skew < v->c.now) {
            decide(s, SG_DKIM_POLICY, "signature expired (x=)");
            continue;
        }
        if (s->sig.has_t && s->sig.t > v->c.now + (int64_t)v->opts.clock_skew) {
            decide(s, SG_DKIM_POLICY, "signature timestamp in the future (t=)");
            continue;
        }
        rc = sg_dkim_header_digest(v->c.arena, sg_dkim_sha256(v->c.cache), &s->sig, fields, count,
                                   i, used, s->hdr_digest);
        if (rc != 0)
            return rc;
        record_covered(v, s, used, count);
        rc = sg_bodyhash_add(v->c.bh, s->sig.bcanon, s->sig.has_l ? s->sig.l : UINT64_MAX);
        if (rc < 0)
            return rc;
        s->hasher = rc;
        s->state = S_WAIT_KEY;
    }
    v->nsigs = si;
    /* All key queries at once: the answers come back in parallel. */
    for (size_t i = 0; i < v->nsigs; i++) {
        struct vsig *s = &v->sigs[i];
        char *qname;
        if (s->state != S_WAIT_KEY)
            continue;
        qname = sg_dkim_key_qname(v->c.arena, &s->sig);
        if (qname == NULL)
            return SG_ENOMEM;
        v->c.pending++;
        rc = sg_resolver_query(v->c.resolver, qname, SG_DNS_TXT, key_cb, s, &s->q);
        if (rc != 0) {
            v->c.pending--;
            s->q = NULL;
            if (rc == SG_ENOMEM)
                return rc;
            decide(s, SG_DKIM_PERMERROR, "bad key record name");
        }
    }
    return SG_OK;
}

int sg_dkim_verify_body(sg_dkim_verifier *v, const char *data, size_t len)
{
    return v != NULL ? sg_dkim_vcore_body(&v->c, data, len) : SG_EINVAL;
}

int sg_dkim_verify_finish(sg_dkim_verifier *v)
{
    int rc;
    if (v == NULL)
        return SG_EINVAL;
    if ((rc = sg_dkim_vcore_end_body(&v->c)) < 0)
        return rc;
    if (rc == 1)
        for (size_t i = 0; i < v->nsigs; i++)
            if (v->sigs[i].state == S_HAVE_KEY)
                evaluate(&v->sigs[i]);
    return (int)v->c.pending;
}

size_t sg_dkim_verify_pending(const sg_dkim_verifier *v)
{
    return v ? v->c.pending : 0;
}

static void give_up(void *self)
{
    sg_dkim_verifier *v = self;
    for (size_t i = 0; i < v->nsigs; i++)
        if (v->sigs[i].state == S_WAIT_KEY) {
            v->sigs[i].q = NULL;
            decide(&v->sigs[i], SG_DKIM_TEMPERROR, "key lookup got no answer");
        }
}

void sg_dkim_verify_give_up(sg_dkim_verifier *v)
{
    for (size_t i = 0; i < v->nsigs; i++)
        if (v->sigs[i].state == S_WAIT_KEY) {
            if (v->sigs[i].q != NULL)
                sg_resolver_cancel(v->c.resolver, v->sigs[i].q);
            v->sigs[i].q = NULL;
            decide(&v->sigs[i], SG_DKIM_TEMPERROR, "key lookup did not finish in time");
        }
    v->c.pending = 0;
}

int sg_dkim_verify_wait(sg_dkim_verifier *v)
{
    int rc = sg_dkim_verify_finish(v);
    return v != NULL ? sg_dkim_vcore_wait(&v->c, rc, give_up, v) : rc;
}

int sg_dkim_verify_results(const sg_dkim_verifier *v, const sg_dkim_sig_result **out, size_t *count)
{
    if (v == NULL || out == NULL || count == NULL)
        return SG_EINVAL;
    if (v->c.pending > 0 || (v->nsigs > 0 && !v->c.body_done))
        return SG_ESTATE;
    *out = v->results;
    *count = v->nresults;
    return SG_OK;
}
