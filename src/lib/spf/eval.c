/*
 * SPF evaluator: check_host() (RFC 7208 4-6) as an explicit state
 * machine on the asynchronous resolver.
 *
 * A check owns a stack of frames, one per record being evaluated: the
 * top-level <domain>, plus one per "include" in progress ("redirect"
 * replaces the current frame, RFC 7208 6.1). The evaluator walks the top
 * frame's terms until a term needs DNS; it then issues the query (or a
 * batch of parallel queries: the address lookups of the MX hosts and of
 * the PTR names) and returns. The resolver callback records the answer
 * and resumes the walk. The stack depth is bounded by the DNS-term limit
 * (every include counts, 4.6.4), so no recursion on the C stack grows
 * with the input.
 *
 * Memory: everything a check allocates comes from its own arena, freed
 * with the check.
 */
#include "spf_cache.h"
#include "spf_int.h"

#include <arpa/inet.h>
#include <spoofguard/dmarc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "util/ascii.h"

/* Guard against absurd configured limits: the frame stack and the
 * parallel batches are sized from them. */
#define SG_SPF_LIMIT_CAP 1000

typedef enum { O_MATCH, O_NOMATCH, O_SUSPEND, O_TEMPERROR, O_PERMERROR } outcome;

typedef enum {
    W_RECORD,  /* TXT lookup of a frame's record */
    W_ADDR,    /* "a": A/AAAA of the target */
    W_MX,      /* "mx": MX of the target */
    W_MXADDR,  /* "mx": A/AAAA of every exchange, in parallel */
    W_EXISTS,  /* "exists": A of the target */
    W_PTR,     /* PTR of the client address */
    W_PTRADDR, /* A/AAAA of every PTR name, in parallel */
    W_EXP,     /* TXT of the exp= target */
} wait_kind;

typedef enum { PHASE_TERMS, PHASE_EXP } phase;

typedef enum { PTR_UNKNOWN, PTR_PENDING, PTR_DONE } ptr_state;

struct frame {
    const char *domain; /* the current <domain> */
    sg_spf_record *rec; /* NULL while its TXT lookup is pending */
    size_t term;        /* next mechanism */
    int include;        /* 1: an include's target; 0: the top level */
    int redirected;     /* reached through redirect= */
};

struct pq {
    sg_spf_check *c;
    sg_dns_query *q;
    const char *name;
    int live;
    int result; /* per-host outcome in a batch: 0 no match, 1 match, 2 error */
};

struct sg_spf_check {
    sg_arena *arena;
    sg_resolver *res;
    sg_spf_done_cb cb;
    void *payload;
    sg_spf_limits lim;
    sg_spf_cache *cache;
    const char *default_exp;
    struct timespec deadline;

    int v6;
    uint8_t ip[16];
    const char *ptr_qname;
    sg_spf_macro_ctx mctx;

    struct frame *frames;
    size_t depth, maxdepth;
    phase phase;
    int term_counted; /* the current term's DNS lookup is counted */
    int waiting;      /* queries outstanding */
    wait_kind wait;

    /* the batch of outstanding queries */
    struct pq *batch;
    size_t nbatch, batch_pending;

    /* PTR validation, shared by "ptr" terms and %{p} (RFC 7208 5.5) */
    ptr_state ptr;
    int ptr_void;
    const char **valid;
    size_t nvalid;

    /* explanation (RFC 7208 6.2) */
    int exp_stage; /* 0: expand target, 1: have text, 2: done */
    const char *exp_text;
    size_t exp_len;

    int done;
    sg_spf_result result;
};

/* ---- small helpers ------------------------------------------------------ */

const char *sg_spf_result_str(sg_spf_result_code r)
{
    static const char *const names[] = {"none",     "neutral",   "pass",     "fail",
                                        "softfail", "temperror", "permerror"};
    if ((unsigned)r < sizeof(names) / sizeof(names[0]))
        return names[r];
    return "?";
}

int sg_spf_result_from_str(const char *s)
{
    for (int i = SG_SPF_NONE; i <= SG_SPF_PERMERROR; i++)
        if (s != NULL && !sg_ascii_casecmp(s, sg_spf_result_str((sg_spf_result_code)i)))
            return i;
    return -1;
}

const char *sg_spf_identity_str(sg_spf_identity id)
{
    return id == SG_SPF_ID_HELO ? "helo" : "mailfrom";
}

void sg_spf_request_init(sg_spf_request *req)
{
    memset(req, 0, sizeof(*req));
    req->version = SG_SPF_REQUEST_VERSION;
}

static void deadline_after(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static int deadline_passed(const struct timespec *ts)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > ts->tv_sec || (now.tv_sec == ts->tv_sec && now.tv_nsec >= ts->tv_nsec);
}

/* Compare the first `bits` bits. */
static int prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

/* Can the resolver look this name up? Labels 1..63 octets, total <= 253
 * (RFC 1035 2.3.4); any octets, a single label and a root dot allowed. */
static int queryable(const char *name)
{
    return sg_domain_syntax_ok(name, strlen(name), SG_DOMAIN_ROOT_DOT);
}

static int name_eq(const char *a, const char *b)
{
    return sg_domain_within(a, b) && sg_domain_within(b, a);
}

static void cancel_batch(sg_spf_check *c)
{
    for (size_t i = 0; i < c->nbatch; i++)
        if (c->batch[i].live) {
            c->batch[i].live = 0;
            sg_resolver_cancel(c->res, c->batch[i].q);
        }
    c->batch_pending = 0;
    c->waiting = 0;
}

/* Complete the check. */
static void finish(sg_spf_check *c, sg_spf_result_code r, const char *reason)
{
    if (c->done)
        return;
    cancel_batch(c);
    c->result.result = r;
    if (reason != NULL)
        c->result.reason = reason;
    /* a reason explains errors and "none"; for a definite result any
     * text left by an ignored problem (e.g. a bad exp=) is dropped */
    if (r != SG_SPF_NONE && r != SG_SPF_TEMPERROR && r != SG_SPF_PERMERROR)
        c->result.reason = NULL;
    c->done = 1;
    if (c->cb != NULL)
        c->cb(&c->result, c->payload);
}

static outcome perm(sg_spf_check *c, const char *why)
{
    c->result.reason = why;
    return O_PERMERROR;
}

static outcome temp(sg_spf_check *c, const char *why)
{
    c->result.reason = why;
    return O_TEMPERROR;
}

static const char *fmt(sg_spf_check *c, const char *f, const char *a)
{
    size_t n = strlen(f) + strlen(a) + 1;
    char *s = sg_arena_alloc(c->arena, n);
    if (s != NULL)
        snprintf(s, n, f, a);
    return s ? s : f;
}

/* ---- DNS plumbing ------------------------------------------------------- */

static void on_answer(const sg_dns_answer *ans, void *payload);

/* Issue n queries of one type in parallel. Returns 0 or an outcome for
 * an immediate failure. */
static int issue(sg_spf_check *c, wait_kind kind, const char **names, size_t n, uint16_t qtype)
{
    c->batch = sg_arena_calloc(c->arena, n, sizeof(*c->batch));
    if (c->batch == NULL)
        return -1;
    c->nbatch = n;
    c->batch_pending = 0;
    c->wait = kind;
    c->waiting = 1;
    for (size_t i = 0; i < n; i++) {
        struct pq *p = &c->batch[i];
        p->c = c;
        p->name = names[i];
        p->live = 1;
        c->batch_pending++;
        if (sg_resolver_query(c->res, names[i], qtype, on_answer, p, &p->q) != 0) {
            /* a name the resolver refuses (over-long after all): treat as
             * a failed lookup of that name */
            p->live = 0;
            p->result = 2;
            c->batch_pending--;
        }
    }
    if (c->batch_pending == 0) {
        c->waiting = 0;
        return -1;
    }
    return 0;
}

static int issue1(sg_spf_check *c, wait_kind kind, const char *name, uint16_t qtype)
{
    const char *names[1] = {name};
    return issue(c, kind, names, 1, qtype);
}

static int void_lookup(sg_spf_check *c)
{
    /* RFC 7208 4.6.4: more than max_void_lookups void lookups ->
     * permerror. */
    return ++c->result.void_lookups > c->lim.max_void_lookups;
}

static int addr_matches(sg_spf_check *c, const sg_dns_answer *ans, int cidr4, int cidr6)
{
    for (size_t i = 0; i < ans->count; i++) {
        const sg_dns_rr *rr = &ans->rrs[i];
        if (!c->v6 && rr->type == SG_DNS_A && prefix_eq(rr->u.a, c->ip, cidr4 < 0 ? 32 : cidr4))
            return 1;
        if (c->v6 && rr->type == SG_DNS_AAAA &&
            prefix_eq(rr->u.aaaa, c->ip, cidr6 < 0 ? 128 : cidr6))
            return 1;
    }
    return 0;
}

static int is_dns_error(sg_dns_status st)
{
    return st == SG_DNS_SERVFAIL || st == SG_DNS_TIMEOUT || st == SG_DNS_EFAIL;
}

static int is_void(const sg_dns_answer *a)
{
    return a->status == SG_DNS_NXDOMAIN || a->status == SG_DNS_NODATA ||
           (a->status == SG_DNS_NOERROR && a->count == 0);
}

/* ---- records ------------------------------------------------------------ */

/* Apply the outcome of a record lookup to the top frame. Returns an
 * outcome for the frame's parent term when the lookup fails, or
 * O_NOMATCH meaning "record installed, continue". */
static outcome install_record(sg_spf_check *c, const sg_spf_cache_entry *e)
{
    struct frame *f = &c->frames[c->depth - 1];
    switch (e->kind) {
    case SG_SPF_CACHE_RECORD:
        f->rec = sg_spf_record_ref(e->rec);
        f->term = 0;
        c->term_counted = 0;
        return O_NOMATCH;
    case SG_SPF_CACHE_NONE:
        /* O_MATCH here means "no record"; record_outcome() decides what
         * that is worth at this level */
        c->result.reason = fmt(c, "no SPF record at %s", f->domain);
        return O_MATCH;
    case SG_SPF_CACHE_MULTIPLE:
        return perm(c, fmt(c, "several SPF records at %s", f->domain));
    case SG_SPF_CACHE_SYNTAX:
        return perm(c, e->reason ? fmt(c, "syntax error in SPF record: %s", e->reason)
                                 : "syntax error in SPF record");
    case SG_SPF_CACHE_TEMPERROR:
        return temp(c, fmt(c, "DNS error looking up SPF record of %s", f->domain));
    }
    return perm(c, "internal error");
}

/* Select the SPF record among the TXT answer (RFC 7208 4.5). */
static void select_record(sg_spf_check *c, const sg_dns_answer *ans, sg_spf_cache_entry *e)
{
    const sg_dns_rr *found = NULL;
    size_t n = 0;
    memset(e, 0, sizeof(*e));
    e->ttl = ans->ttl;
    if (is_dns_error(ans->status)) {
        e->kind = SG_SPF_CACHE_TEMPERROR;
        return;
    }
    for (size_t i = 0; i < ans->count; i++) {
        const sg_dns_rr *rr = &ans->rrs[i];
        if (rr->type == SG_DNS_TXT && sg_spf_is_record(rr->u.txt.data, rr->u.txt.len)) {
            found = rr;
            n++;
        }
    }
    if (n == 0) {
        e->kind = SG_SPF_CACHE_NONE;
    } else if (n > 1) {
        e->kind = SG_SPF_CACHE_MULTIPLE;
    } else {
        sg_spf_parse_error err;
        int rc = sg_spf_record_parse(&e->rec, found->u.txt.data, found->u.txt.len, &err);
        if (rc == 0) {
            e->kind = SG_SPF_CACHE_RECORD;
        } else if (rc == SG_ESYNTAX) {
            e->kind = SG_SPF_CACHE_SYNTAX;
            e->reason = err.reason;
        } else {
            e->kind = SG_SPF_CACHE_TEMPERROR; /* out of memory: try later */
        }
    }
}

/* Start evaluating `domain` in the top frame: from the cache or DNS.
 * Returns O_SUSPEND, O_NOMATCH (installed) or an error outcome. */
static outcome fetch_record(sg_spf_check *c)
{
    struct frame *f = &c->frames[c->depth - 1];
    const sg_spf_cache_entry *e;
    if (c->cache != NULL && (e = sg_spf_cache_get(c->cache, f->domain)) != NULL)
        return install_record(c, e);
    if (issue1(c, W_RECORD, f->domain, SG_DNS_TXT) != 0)
        return temp(c, "resolver refused the query");
    return O_SUSPEND;
}

/* ---- PTR validation (RFC 7208 5.5) ------------------------------------- */

/* Returns O_NOMATCH when validated names are available, or O_SUSPEND. */
static outcome ensure_ptr(sg_spf_check *c)
{
    if (c->ptr == PTR_DONE)
        return O_NOMATCH;
    c->ptr = PTR_PENDING;
    if (issue1(c, W_PTR, c->ptr_qname, SG_DNS_PTR) != 0) {
        c->ptr = PTR_DONE;
        return O_NOMATCH;
    }
    return O_SUSPEND;
}

/* %{p} (RFC 7208 7.3): a validated name equal to <domain>, else one
 * that is a subdomain of it, else any validated name, else "unknown". */
static const char *ptr_macro_value(sg_spf_check *c, const char *domain)
{
    for (size_t i = 0; i < c->nvalid; i++)
        if (name_eq(c->valid[i], domain))
            return c->valid[i];
    for (size_t i = 0; i < c->nvalid; i++)
        if (sg_domain_within(c->valid[i], domain))
            return c->valid[i];
    return c->nvalid > 0 ? c->valid[0] : "unknown";
}

/* Expand a domain-spec for the current frame. Returns O_NOMATCH with
 * *out set, O_SUSPEND (PTR validation started), or O_PERMERROR. */
static outcome expand_domain(sg_spf_check *c, const char *spec, const char **out)
{
    const char *reason = NULL;
    char *res;
    size_t len;
    struct frame *f = &c->frames[c->depth - 1];
    size_t slen = strlen(spec);
    c->mctx.domain = f->domain;
    c->mctx.ptr = NULL;
    if (sg_spf_macro_needs_ptr(spec, slen)) {
        outcome o = ensure_ptr(c);
        if (o != O_NOMATCH)
            return o;
        c->mctx.ptr = ptr_macro_value(c, f->domain);
    }
    int rc = sg_spf_macro_expand(&res, &len, c->arena, spec, slen, &c->mctx, SG_SPF_MACRO_DOMAIN,
                                 &reason);
    if (rc == SG_ENOMEM)
        return temp(c, "out of memory");
    if (rc != 0)
        return perm(c, reason ? reason : "macro error");
    *out = res;
    return O_NOMATCH;
}

/* ---- mechanisms --------------------------------------------------------- */

static outcome push_frame(sg_spf_check *c, const char *domain, int include)
{
    if (c->depth == c->maxdepth)
        return perm(c, "too many nested includes");
    struct frame *f = &c->frames[c->depth++];
    memset(f, 0, sizeof(*f));
    f->domain = domain;
    f->include = include;
    return fetch_record(c);
}

static outcome eval_mech(sg_spf_check *c, struct frame *f, const sg_spf_mech *m)
{
    const char *target = f->domain;
    outcome o;

    switch (m->type) {
    case SG_SPF_MECH_ALL:
        return O_MATCH;
    case SG_SPF_MECH_IP4:
        if (c->v6)
            return O_NOMATCH;
        return prefix_eq(m->addr, c->ip, m->cidr4 < 0 ? 32 : m->cidr4) ? O_MATCH : O_NOMATCH;
    case SG_SPF_MECH_IP6:
        /* RFC 7208 5.6: ip6 never matches an IPv4 client */
        if (!c->v6)
            return O_NOMATCH;
        return prefix_eq(m->addr, c->ip, m->cidr6 < 0 ? 128 : m->cidr6) ? O_MATCH : O_NOMATCH;
    default:
        break;
    }

    /* RFC 7208 4.6.4: include, a, mx, ptr, exists count against the
     * limit; count before any query so the 11th term fails even if its
     * answer were cached. */
    if (!c->term_counted) {
        c->term_counted = 1;
        if (++c->result.dns_lookups > c->lim.max_dns_terms)
            return perm(c, "more than 10 DNS-querying terms (RFC 7208 4.6.4)");
    }
    if (m->domain_spec != NULL) {
        o = expand_domain(c, m->domain_spec, &target);
        if (o != O_NOMATCH)
            return o;
    }
    /* A target that cannot be a DNS name (empty or over-long label after
     * expansion, e.g. from %{h}) cannot have records: the lookup is
     * treated as NXDOMAIN. The record's syntax was checked before
     * expansion (RFC 7208 7.1 domain-end), so this is data, not syntax;
     * the openspf suite agrees (invalid-hello-macro, require-valid-helo).
     * For include, a malformed target makes check_host() "none" (4.3),
     * which include turns into permerror (5.2). */
    if (m->type != SG_SPF_MECH_PTR && !queryable(target)) {
        if (m->type == SG_SPF_MECH_INCLUDE)
            return perm(c, fmt(c, "malformed include target '%s'", target));
        return void_lookup(c) ? perm(c, "more than 2 void lookups (RFC 7208 4.6.4)") : O_NOMATCH;
    }
    switch (m->type) {
    case SG_SPF_MECH_INCLUDE:
        if (!sg_spf_domain_valid(target, strlen(target)))
            return perm(c, fmt(c, "malformed include target '%s'", target));
        o = push_frame(c, target, 1);
        if (o == O_NOMATCH)
            return O_SUSPEND; /* record installed from the cache: run() walks it */
        if (o == O_MATCH)
            return perm(c, c->result.reason); /* no record at an include target */
        return o;
    case SG_SPF_MECH_A:
        if (issue1(c, W_ADDR, target, c->v6 ? SG_DNS_AAAA : SG_DNS_A) != 0)
            return temp(c, "resolver refused the query");
        return O_SUSPEND;
    case SG_SPF_MECH_MX:
        if (issue1(c, W_MX, target, SG_DNS_MX) != 0)
            return temp(c, "resolver refused the query");
        return O_SUSPEND;
    case SG_SPF_MECH_EXISTS:
        /* RFC 7208 5.7: always an A query, whatever the client family */
        if (issue1(c, W_EXISTS, target, SG_DNS_A) != 0)
            return temp(c, "resolver refused the query");
        return O_SUSPEND;
    case SG_SPF_MECH_PTR:
        o = ensure_ptr(c);
        if (o != O_NOMATCH)
            return o;
        if (c->ptr_void && void_lookup(c))
            return perm(c, "more than 2 void lookups (RFC 7208 4.6.4)");
        for (size_t i = 0; i < c->nvalid; i++)
            if (sg_domain_within(c->valid[i], target))
                return O_MATCH;
        return O_NOMATCH;
    default:
        return perm(c, "internal error");
    }
}

/* ---- driving ------------------------------------------------------------ */

static void apply(sg_spf_check *c, outcome o);
static void run(sg_spf_check *c);
static void exp_step(sg_spf_check *c);

/* The top frame produced `r` (matched term m, or NULL for the default). */
static void frame_result(sg_spf_check *c, sg_spf_result_code r, const sg_spf_mech *m)
{
    if (c->depth > 1) {
        /* RFC 7208 5.2: an include matches only on pass; fail, softfail
         * and neutral do not match. Errors never get here (they finish
         * the whole check). */
        struct frame *f = &c->frames[--c->depth];
        sg_spf_record_free(f->rec);
        f->rec = NULL;
        apply(c, r == SG_SPF_PASS ? O_MATCH : O_NOMATCH);
        return;
    }
    c->result.result = r;
    c->result.mechanism = m != NULL ? m->text : "default";
    if (r == SG_SPF_FAIL) {
        c->phase = PHASE_EXP;
        c->exp_stage = 0;
        return; /* run() continues with the explanation */
    }
    finish(c, r, NULL);
}

/* Apply a term's outcome to the top frame. */
static void apply(sg_spf_check *c, outcome o)
{
    struct frame *f = &c->frames[c->depth - 1];
    switch (o) {
    case O_MATCH:
        frame_result(c, f->rec->mechs[f->term].qualifier, &f->rec->mechs[f->term]);
        break;
    case O_NOMATCH:
        f->term++;
        c->term_counted = 0;
        break;
    case O_TEMPERROR:
        finish(c, SG_SPF_TEMPERROR, NULL);
        break;
    case O_PERMERROR:
        finish(c, SG_SPF_PERMERROR, NULL);
        break;
    case O_SUSPEND:
        break;
    }
}

/* After a record lookup outcome for the top frame. */
static void record_outcome(sg_spf_check *c, outcome o)
{
    struct frame *f = &c->frames[c->depth - 1];
    if (o == O_SUSPEND || o == O_NOMATCH)
        return; /* waiting, or installed: run() evaluates it */
    if (o == O_MATCH) {
        /* no record: "none" at the top level (RFC 7208 4.5); permerror
         * at an include target (5.2) or a redirect target (6.1) */
        if (c->depth == 1 && !f->redirected)
            finish(c, SG_SPF_NONE, NULL);
        else
            finish(c, SG_SPF_PERMERROR, NULL);
        return;
    }
    finish(c, o == O_TEMPERROR ? SG_SPF_TEMPERROR : SG_SPF_PERMERROR, NULL);
}

static void end_of_record(sg_spf_check *c)
{
    struct frame *f = &c->frames[c->depth - 1];
    /* RFC 7208 6.1: redirect is ignored when "all" is present (all
     * always matches, so reaching the end means it is absent). */
    if (f->rec->redirect != NULL && !f->rec->has_all) {
        const char *target;
        outcome o;
        if (!c->term_counted) {
            c->term_counted = 1;
            if (++c->result.dns_lookups > c->lim.max_dns_terms) {
                finish(c, SG_SPF_PERMERROR, "more than 10 DNS-querying terms (RFC 7208 4.6.4)");
                return;
            }
        }
        o = expand_domain(c, f->rec->redirect, &target);
        if (o == O_SUSPEND)
            return;
        if (o != O_NOMATCH) {
            apply(c, o);
            return;
        }
        if (!sg_spf_domain_valid(target, strlen(target))) {
            /* RFC 7208 6.1: a malformed target-name -> permerror */
            finish(c, SG_SPF_PERMERROR, fmt(c, "malformed redirect target '%s'", target));
            return;
        }
        /* The redirect replaces the current frame: its result is the
         * result of this record, and this record's exp= is no longer
         * used (RFC 7208 6.1, 6.2). */
        sg_spf_record_free(f->rec);
        f->rec = NULL;
        f->domain = target;
        f->redirected = 1;
        c->term_counted = 0;
        record_outcome(c, fetch_record(c));
        return;
    }
    /* RFC 7208 4.7: no match, no redirect -> neutral */
    frame_result(c, SG_SPF_NEUTRAL, NULL);
}

static void run(sg_spf_check *c)
{
    while (!c->done && !c->waiting) {
        if (c->phase == PHASE_EXP) {
            exp_step(c);
            continue;
        }
        struct frame *f = &c->frames[c->depth - 1];
        if (f->rec == NULL)
            return; /* cannot happen: a frame without record is waiting */
        if (f->term < f->rec->nmechs) {
            outcome o = eval_mech(c, f, &f->rec->mechs[f->term]);
            if (o == O_SUSPEND)
                continue; /* waiting is set, or a frame was pushed */
            apply(c, o);
        } else {
            end_of_record(c);
        }
    }
}

/* ---- explanation (RFC 7208 6.2) ---------------------------------------- */

static void set_default_exp(sg_spf_check *c)
{
    char *res;
    c->mctx.domain = c->frames[0].domain;
    c->mctx.ptr = NULL;
    const char *d = c->default_exp;
    if (sg_spf_macro_needs_ptr(d, strlen(d)) && c->ptr != PTR_DONE) {
        /* validate names first, then come back here */
        c->exp_stage = 3;
        if (ensure_ptr(c) == O_SUSPEND)
            return;
    }
    if (c->ptr == PTR_DONE)
        c->mctx.ptr = ptr_macro_value(c, c->frames[0].domain);
    if (sg_spf_macro_expand(&res, NULL, c->arena, d, strlen(d), &c->mctx, SG_SPF_MACRO_EXP, NULL) ==
        0)
        c->result.explanation = res;
    else
        c->result.explanation = d;
    c->exp_stage = 2;
    finish(c, SG_SPF_FAIL, NULL);
}

static void exp_step(sg_spf_check *c)
{
    struct frame *f = &c->frames[0];
    const char *target;
    outcome o;
    char *res;

    c->mctx.domain = f->domain;
    switch (c->exp_stage) {
    case 0: /* expand the exp= target and look it up */
        if (f->rec == NULL || f->rec->exp == NULL) {
            set_default_exp(c);
            return;
        }
        o = expand_domain(c, f->rec->exp, &target);
        if (o == O_SUSPEND)
            return;
        if (o != O_NOMATCH || !queryable(target) || issue1(c, W_EXP, target, SG_DNS_TXT) != 0) {
            /* errors in exp are ignored: default explanation */
            set_default_exp(c);
            return;
        }
        return;
    case 1: /* have the text: expand it */
        if (sg_spf_macro_needs_ptr(c->exp_text, c->exp_len)) {
            o = ensure_ptr(c);
            if (o == O_SUSPEND)
                return;
            c->mctx.ptr = ptr_macro_value(c, f->domain);
        }
        if (sg_spf_macro_expand(&res, NULL, c->arena, c->exp_text, c->exp_len, &c->mctx,
                                SG_SPF_MACRO_EXP, NULL) != 0) {
            set_default_exp(c);
            return;
        }
        c->result.explanation = res;
        c->result.exp_from_record = 1;
        c->exp_stage = 2;
        finish(c, SG_SPF_FAIL, NULL);
        return;
    case 3:
        set_default_exp(c);
        return;
    default:
        finish(c, SG_SPF_FAIL, NULL);
        return;
    }
}

/* ---- the resolver callback ---------------------------------------------- */

static void batch_done(sg_spf_check *c)
{
    struct frame *f = &c->frames[c->depth - 1];
    switch (c->wait) {
    case W_MXADDR: {
        const sg_spf_mech *m = &f->rec->mechs[f->term];
        outcome o = O_NOMATCH;
        (void)m;
        /* RFC 7208 5: a DNS error in any lookup the mechanism makes
         * "stops" it with temperror ("except where noted": 5.4 notes
         * nothing for the exchanges' address lookups, unlike 5.5). The
         * lookups ran in parallel, so "first" has no meaning: an error on
         * any exchange wins over a match on another, which also keeps
         * the result independent of answer order (pyspf agrees). */
        for (size_t i = 0; i < c->nbatch && o == O_NOMATCH; i++)
            if (c->batch[i].result == 2)
                o = temp(c, fmt(c, "DNS error looking up MX host %s", c->batch[i].name));
        for (size_t i = 0; i < c->nbatch && o == O_NOMATCH; i++)
            if (c->batch[i].result == 1)
                o = O_MATCH;
        apply(c, o);
        break;
    }
    case W_PTRADDR: {
        /* RFC 7208 5.5: names whose address lookup errs are skipped */
        c->valid = sg_arena_calloc(c->arena, c->nbatch, sizeof(*c->valid));
        c->nvalid = 0;
        for (size_t i = 0; c->valid != NULL && i < c->nbatch; i++)
            if (c->batch[i].result == 1)
                c->valid[c->nvalid++] = c->batch[i].name;
        c->ptr = PTR_DONE;
        break; /* run() re-enters the term (or explanation) that asked */
    }
    default:
        break;
    }
}

static void on_answer(const sg_dns_answer *ans, void *payload)
{
    struct pq *p = payload;
    sg_spf_check *c = p->c;
    struct frame *f = &c->frames[c->depth - 1];
    const sg_spf_mech *m =
        (f->rec != NULL && f->term < f->rec->nmechs) ? &f->rec->mechs[f->term] : NULL;
    outcome o = O_NOMATCH;

    p->live = 0;
    c->batch_pending--;
    if (c->done)
        return;
    if (deadline_passed(&c->deadline)) {
        finish(c, SG_SPF_TEMPERROR, "SPF time budget exhausted (RFC 7208 4.6.4)");
        return;
    }

    switch (c->wait) {
    case W_RECORD: {
        sg_spf_cache_entry e;
        select_record(c, ans, &e);
        if (c->cache != NULL)
            sg_spf_cache_put(c->cache, f->domain, &e);
        c->waiting = 0;
        o = install_record(c, &e);
        if (e.kind == SG_SPF_CACHE_RECORD)
            sg_spf_record_free(e.rec); /* install_record took its own ref */
        record_outcome(c, o);
        break;
    }
    case W_ADDR:
    case W_EXISTS:
        c->waiting = 0;
        if (is_dns_error(ans->status)) {
            o = temp(c, fmt(c, "DNS error looking up %s", ans->qname));
        } else if (is_void(ans)) {
            o = void_lookup(c) ? perm(c, "more than 2 void lookups (RFC 7208 4.6.4)") : O_NOMATCH;
        } else if (c->wait == W_EXISTS) {
            o = O_MATCH;
        } else {
            o = addr_matches(c, ans, m->cidr4, m->cidr6) ? O_MATCH : O_NOMATCH;
        }
        apply(c, o);
        break;
    case W_MX: {
        c->waiting = 0;
        if (is_dns_error(ans->status)) {
            apply(c, temp(c, fmt(c, "DNS error looking up MX of %s", ans->qname)));
            break;
        }
        if (is_void(ans)) {
            apply(c, void_lookup(c) ? perm(c, "more than 2 void lookups (RFC 7208 4.6.4)")
                                    : O_NOMATCH);
            break;
        }
        /* RFC 7208 4.6.4: more than 10 MX names -> permerror */
        if (ans->count > c->lim.max_mx_names) {
            apply(c, perm(c, "more than 10 MX records (RFC 7208 4.6.4)"));
            break;
        }
        const char **names = sg_arena_calloc(c->arena, ans->count, sizeof(*names));
        size_t n = 0;
        if (names == NULL) {
            apply(c, temp(c, "out of memory"));
            break;
        }
        for (size_t i = 0; i < ans->count; i++) {
            const char *h = ans->rrs[i].u.mx.host;
            /* RFC 7505 null MX ("."), or junk: no address to match */
            if (ans->rrs[i].type != SG_DNS_MX || h == NULL || h[0] == '\0' || !strcmp(h, "."))
                continue;
            if ((names[n] = sg_arena_strdup(c->arena, h)) == NULL) {
                apply(c, temp(c, "out of memory"));
                return;
            }
            n++;
        }
        if (n == 0) {
            apply(c, O_NOMATCH);
            break;
        }
        if (issue(c, W_MXADDR, names, n, c->v6 ? SG_DNS_AAAA : SG_DNS_A) != 0) {
            /* every name refused: no match, unless a DNS error */
            apply(c, temp(c, "resolver refused the MX host queries"));
            break;
        }
        return; /* still waiting */
    }
    case W_MXADDR:
        if (is_dns_error(ans->status))
            p->result = 2;
        else if (ans->status == SG_DNS_NOERROR && addr_matches(c, ans, m->cidr4, m->cidr6))
            p->result = 1;
        if (c->batch_pending > 0)
            return;
        c->waiting = 0;
        batch_done(c);
        break;
    case W_PTR: {
        c->waiting = 0;
        c->ptr_void = is_void(ans);
        size_t n = 0, seen = 0;
        const char **names = NULL;
        if (ans->status == SG_DNS_NOERROR && ans->count > 0) {
            names = sg_arena_calloc(c->arena, ans->count, sizeof(*names));
            for (size_t i = 0; names != NULL && i < ans->count && seen < c->lim.max_ptr_names;
                 i++) {
                /* RFC 7208 4.6.4: only the first 10 PTR names are used;
                 * one we cannot use (a single label) is one of them, else
                 * ten unusable names would reach an 11th (adv23 F3) */
                if (ans->rrs[i].type != SG_DNS_PTR || ans->rrs[i].u.name == NULL)
                    continue;
                seen++;
                names[n] = sg_arena_strdup(c->arena, ans->rrs[i].u.name);
                if (names[n] != NULL && sg_spf_domain_valid(names[n], strlen(names[n])))
                    n++;
            }
        }
        /* RFC 7208 5.5: a PTR lookup error -> no validated names */
        if (n == 0 || issue(c, W_PTRADDR, names, n, c->v6 ? SG_DNS_AAAA : SG_DNS_A) != 0) {
            c->nvalid = 0;
            c->ptr = PTR_DONE;
        } else {
            return;
        }
        break;
    }
    case W_PTRADDR:
        if (ans->status == SG_DNS_NOERROR && addr_matches(c, ans, -1, -1))
            p->result = 1;
        if (c->batch_pending > 0)
            return;
        c->waiting = 0;
        batch_done(c);
        break;
    case W_EXP: {
        c->waiting = 0;
        /* RFC 7208 6.2: any DNS problem, no record or several records ->
         * as if there were no exp= */
        if (ans->status != SG_DNS_NOERROR || ans->count != 1 || ans->rrs[0].type != SG_DNS_TXT) {
            c->exp_stage = 3;
            break;
        }
        const char *reason;
        if (sg_spf_macro_check(ans->rrs[0].u.txt.data, ans->rrs[0].u.txt.len, SG_SPF_MACRO_EXP,
                               &reason) != 0) {
            c->exp_stage = 3;
            break;
        }
        c->exp_text = sg_arena_strndup(c->arena, ans->rrs[0].u.txt.data, ans->rrs[0].u.txt.len);
        c->exp_len = ans->rrs[0].u.txt.len;
        c->exp_stage = c->exp_text != NULL ? 1 : 3;
        break;
    }
    }
    run(c);
}

/* ---- set-up ------------------------------------------------------------- */

static int parse_ip(sg_spf_check *c, const sg_spf_request *req)
{
    uint8_t a6[16];
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (req->ip != NULL) {
        if (inet_pton(AF_INET, req->ip, c->ip) == 1) {
            c->v6 = 0;
            return 0;
        }
        if (inet_pton(AF_INET6, req->ip, a6) != 1)
            return SG_EINVAL;
    } else if (req->family == 4) {
        memcpy(c->ip, req->addr, 4);
        c->v6 = 0;
        return 0;
    } else if (req->family == 6) {
        memcpy(a6, req->addr, 16);
    } else {
        return SG_EINVAL;
    }
    /* IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 client it maps
     * (RFC 7208 5: the <ip> is the client's address; RFC 4291 2.5.5.2) */
    if (!memcmp(a6, mapped, 12)) {
        memcpy(c->ip, a6 + 12, 4);
        c->v6 = 0;
    } else {
        memcpy(c->ip, a6, 16);
        c->v6 = 1;
    }
    return 0;
}

/* One byte in decimal at o; returns the digits written. */
static size_t put_dec(char *o, unsigned v)
{
    size_t n = 0;
    if (v >= 100)
        o[n++] = (char)('0' + v / 100);
    if (v >= 10)
        o[n++] = (char)('0' + v / 10 % 10);
    o[n++] = (char)('0' + v % 10);
    return n;
}

/* a.b.c.d from ip[0..3] (step 1) or d.c.b.a (step -1, ip pointing at the
 * last byte), NUL-terminated; returns the length. */
static size_t put_quad(char *o, const uint8_t *ip, int step)
{
    size_t n = 0;
    for (int i = 0; i < 4; i++, ip += step) {
        if (i)
            o[n++] = '.';
        n += put_dec(o + n, *ip);
    }
    o[n] = '\0';
    return n;
}

static int setup_ip_strings(sg_spf_check *c)
{
    char buf[128], rev[128];
    if (!c->v6) {
        put_quad(buf, c->ip, 1);
        memcpy(rev + put_quad(rev, c->ip + 3, -1), ".in-addr.arpa", sizeof(".in-addr.arpa"));
        c->mctx.ip_i = sg_arena_strdup(c->arena, buf);
        c->mctx.ip_c = c->mctx.ip_i;
    } else {
        static const char hex[] = "0123456789abcdef";
        size_t k = 0;
        /* RFC 7208 7.3: %{i} of an IPv6 client is dot-separated nibbles */
        for (int i = 0; i < 16; i++) {
            buf[k++] = hex[c->ip[i] >> 4];
            buf[k++] = '.';
            buf[k++] = hex[c->ip[i] & 15];
            buf[k++] = '.';
        }
        buf[k - 1] = '\0';
        c->mctx.ip_i = sg_arena_strdup(c->arena, buf);
        k = 0;
        for (int i = 15; i >= 0; i--) {
            rev[k++] = hex[c->ip[i] & 15];
            rev[k++] = '.';
            rev[k++] = hex[c->ip[i] >> 4];
            rev[k++] = '.';
        }
        memcpy(rev + k, "ip6.arpa", 9);
        if (inet_ntop(AF_INET6, c->ip, buf, sizeof(buf)) == NULL)
            return SG_EINVAL;
        c->mctx.ip_c = sg_arena_strdup(c->arena, buf);
    }
    c->ptr_qname = sg_arena_strdup(c->arena, rev);
    c->mctx.v6 = c->v6;
    return (c->mctx.ip_i && c->mctx.ip_c && c->ptr_qname) ? 0 : SG_ENOMEM;
}

/* Work out <sender> and <domain> (RFC 7208 2.3, 2.4, 4.3). */
static int setup_identity(sg_spf_check *c, const sg_spf_request *req)
{
    const char *mf = req->mail_from ? req->mail_from : "";
    size_t n = strlen(mf);
    const char *helo = req->helo ? req->helo : "";
    /* strip one pair of angle brackets from a reverse-path */
    if (n >= 2 && mf[0] == '<' && mf[n - 1] == '>') {
        mf++;
        n -= 2;
    }
    c->mctx.helo = sg_arena_strdup(c->arena, helo);
    if (req->identity == SG_SPF_ID_MAILFROM && n > 0) {
        const char *at = NULL;
        for (size_t i = n; i > 0; i--)
            if (mf[i - 1] == '@') {
                at = mf + i - 1;
                break;
            }
        c->result.identity = SG_SPF_ID_MAILFROM;
        if (at == NULL) {
            /* no local part: "postmaster" (RFC 7208 4.3) */
            c->mctx.local = "postmaster";
            c->mctx.sender_domain = sg_arena_strndup(c->arena, mf, n);
        } else {
            size_t ll = (size_t)(at - mf);
            c->mctx.local = ll ? sg_arena_strndup(c->arena, mf, ll) : "postmaster";
            c->mctx.sender_domain = sg_arena_strndup(c->arena, at + 1, n - ll - 1);
        }
    } else {
        /* RFC 7208 2.3: HELO identity, sender postmaster@helo (2.4 does
         * the same for the null reverse-path) */
        c->result.identity = SG_SPF_ID_HELO;
        c->mctx.local = "postmaster";
        c->mctx.sender_domain = c->mctx.helo;
    }
    if (c->mctx.local == NULL || c->mctx.sender_domain == NULL || c->mctx.helo == NULL)
        return SG_ENOMEM;
    /* A U-label domain (an SMTPUTF8 envelope) is looked up, and expands
     * in macros, as its A-label (RFC 8616 3): bücher.example's own mail
     * was "none" and failed its DMARC (adv30 IN-3). A name IDNA refuses
     * stays as it is, and the check finds it malformed (4.3). */
    if (sg_dmarc_domain_alabel(c->arena, &c->mctx.sender_domain) == SG_ENOMEM ||
        sg_dmarc_domain_alabel(c->arena, &c->mctx.helo) == SG_ENOMEM)
        return SG_ENOMEM;
    size_t ll = strlen(c->mctx.local), dl = strlen(c->mctx.sender_domain);
    char *s = sg_arena_alloc(c->arena, ll + dl + 2);
    if (s == NULL)
        return SG_ENOMEM;
    /* local@domain, without snprintf's format interpreter (every check) */
    memcpy(s, c->mctx.local, ll);
    s[ll] = '@';
    memcpy(s + ll + 1, c->mctx.sender_domain, dl + 1);
    c->mctx.sender = s;
    c->result.sender = s;
    c->result.domain = c->mctx.sender_domain;
    return 0;
}

static unsigned lim(unsigned v, unsigned def)
{
    return v == 0 ? def : v;
}

int sg_spf_check_start(sg_spf_check **out, sg_resolver *resolver, const sg_spf_request *req,
                       sg_spf_done_cb cb, void *payload)
{
    sg_arena *arena;
    sg_spf_check *c;
    int rc;

    if (out == NULL || resolver == NULL || req == NULL || req->version != SG_SPF_REQUEST_VERSION)
        return SG_EINVAL;
    *out = NULL;
    if ((rc = sg_arena_new(&arena, 8192)) != 0)
        return rc;
    c = sg_arena_calloc(arena, 1, sizeof(*c));
    if (c == NULL) {
        sg_arena_free(arena);
        return SG_ENOMEM;
    }
    c->arena = arena;
    c->res = resolver;
    c->cb = cb;
    c->payload = payload;
    c->cache = req->cache;
    c->lim.max_dns_terms = lim(req->limits.max_dns_terms, SG_SPF_DEFAULT_DNS_TERMS);
    c->lim.max_void_lookups = lim(req->limits.max_void_lookups, SG_SPF_DEFAULT_VOID_LOOKUPS);
    c->lim.max_mx_names = lim(req->limits.max_mx_names, SG_SPF_DEFAULT_MX_NAMES);
    c->lim.max_ptr_names = lim(req->limits.max_ptr_names, SG_SPF_DEFAULT_PTR_NAMES);
    if (c->lim.max_dns_terms > SG_SPF_LIMIT_CAP || c->lim.max_void_lookups > SG_SPF_LIMIT_CAP ||
        c->lim.max_mx_names > SG_SPF_LIMIT_CAP || c->lim.max_ptr_names > SG_SPF_LIMIT_CAP) {
        sg_arena_free(arena);
        return SG_EINVAL;
    }
    deadline_after(&c->deadline, lim(req->budget_ms, SG_SPF_DEFAULT_BUDGET_MS));
    c->default_exp = sg_arena_strdup(arena, req->default_explanation ? req->default_explanation
                                                                     : SG_SPF_DEFAULT_EXPLANATION);
    c->mctx.receiver = req->receiver ? sg_arena_strdup(arena, req->receiver) : "unknown";
    c->mctx.now = req->now ? req->now : (int64_t)time(NULL);
    /* every include adds a frame and counts as a DNS term */
    c->maxdepth = c->lim.max_dns_terms + 2;
    c->frames = sg_arena_calloc(arena, c->maxdepth, sizeof(*c->frames));
    if (c->frames == NULL || c->default_exp == NULL || c->mctx.receiver == NULL) {
        sg_arena_free(arena);
        return SG_ENOMEM;
    }
    if ((rc = parse_ip(c, req)) != 0 || (rc = setup_ip_strings(c)) != 0 ||
        (rc = setup_identity(c, req)) != 0) {
        sg_arena_free(arena);
        return rc;
    }
    *out = c;

    /* RFC 7208 4.3: a malformed <domain> or one that is not multi-label
     * gives "none" before any DNS query. */
    if (!sg_spf_domain_valid(c->result.domain, strlen(c->result.domain))) {
        finish(c, SG_SPF_NONE, "malformed or single-label domain (RFC 7208 4.3)");
        return 0;
    }
    c->depth = 1;
    c->frames[0].domain = c->result.domain;
    outcome o = fetch_record(c);
    record_outcome(c, o);
    run(c);
    return 0;
}

const sg_spf_result *sg_spf_check_result(const sg_spf_check *c)
{
    return c != NULL && c->done ? &c->result : NULL;
}

void sg_spf_check_abandon(sg_spf_check *c, const char *reason)
{
    if (c != NULL)
        finish(c, SG_SPF_TEMPERROR, reason);
}

int sg_spf_check_poll(sg_spf_check *c)
{
    if (c == NULL)
        return 1;
    if (!c->done && deadline_passed(&c->deadline))
        finish(c, SG_SPF_TEMPERROR, "SPF time budget exhausted (RFC 7208 4.6.4)");
    return c->done;
}

void sg_spf_check_free(sg_spf_check *c)
{
    if (c == NULL)
        return;
    cancel_batch(c);
    for (size_t i = 0; i < c->depth; i++)
        sg_spf_record_free(c->frames[i].rec);
    sg_arena_free(c->arena);
}

/* ---- synchronous wrapper ------------------------------------------------ */

static const char *dup_or_null(sg_arena *a, const char *s, int *oom)
{
    if (s == NULL)
        return NULL;
    char *d = sg_arena_strdup(a, s);
    if (d == NULL)
        *oom = 1;
    return d;
}

int sg_spf_check_sync(sg_spf_result *out, sg_arena *arena, sg_resolver *resolver,
                      const sg_spf_request *req)
{
    sg_spf_check *c;
    int rc, oom = 0;
    if (out == NULL || arena == NULL)
        return SG_EINVAL;
    if ((rc = sg_spf_check_start(&c, resolver, req, NULL, NULL)) != 0)
        return rc;
    while (!sg_spf_check_poll(c)) {
        rc = sg_resolver_run(resolver, 100);
        if (rc < 0) {
            finish(c, SG_SPF_TEMPERROR, "resolver failure");
            break;
        }
        if (rc == 0 && !c->done && sg_resolver_pending(resolver) == 0) {
            /* nothing pending yet not done: a bug, do not spin */
            finish(c, SG_SPF_TEMPERROR, "internal error: check stalled");
            break;
        }
    }
    *out = c->result;
    out->domain = dup_or_null(arena, c->result.domain, &oom);
    out->sender = dup_or_null(arena, c->result.sender, &oom);
    out->explanation = dup_or_null(arena, c->result.explanation, &oom);
    out->mechanism = dup_or_null(arena, c->result.mechanism, &oom);
    out->reason = dup_or_null(arena, c->result.reason, &oom);
    sg_spf_check_free(c);
    return oom ? SG_ENOMEM : 0;
}
