/*
 * DMARC evaluation: policy discovery (RFC 9989 4.10.1), Organizational
 * Domains by DNS Tree Walk (4.10, 4.10.2), identifier alignment (4.4,
 * 5.3.4), pass/fail (5.3.5) and the applicable policy (4.7 p/sp/np/t).
 *
 * Asynchronous state machine, resumed from resolver callbacks:
 *
 *   DISCOVERY  every query of the author domain's Tree Walk is issued at
 *              once (at most 8, RFC 9989 4.10). The walk's stopping rules
 *              are applied when the answers are in, in walk order, so an
 *              answer past the stopping point (even a DNS error) is simply
 *              not looked at. Parallel issue trades a few queries the
 *              sequential walk might skip for one round-trip of latency;
 *              the cap of 8 holds either way.
 *   ALIGN      relaxed alignment of a passing identifier that differs from
 *              the author domain but lies under its Organizational Domain
 *              needs that identifier's own Tree Walk (4.10.2). Names shared
 *              with earlier walks come from a per-check cache.
 *   EXIST      on a DMARC fail under a record that is not the author
 *              domain's, if np differs from sp: does the author domain
 *              exist (RFC 9989 3.2.13, A.4: NXDOMAIN means it does not)?
 *   DONE       the completion callback runs once.
 *
 * With SG_DMARC_DISCOVERY_PSL, discovery is RFC 7489 6.6.3 (author
 * domain, then the PSL Organizational Domain) and relaxed alignment
 * compares PSL registrable domains (RFC 7489 3.2): no extra queries.
 */
#include <spoofguard/dmarc.h>

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "dmarc_int.h"

/* Cache entries one check can need: the author walk, the identifier walks,
 * and three existence queries (A, AAAA, MX). */
#define MAX_ENTS (SG_DMARC_MAX_WALK * (1 + SG_DMARC_MAX_ID_WALKS) + 4)

typedef struct ent {
    struct sg_dmarc_check *chk;
    const char *name; /* the domain (for TXT: without "_dmarc.") */
    uint16_t qtype;
    int done;
    sg_dns_status status;
    int ndmarc;          /* DMARC records at this name (4.10 step 2) */
    sg_dmarc_record rec; /* the record, when ndmarc == 1 */
    sg_dns_query *q;
} ent;

typedef enum { PH_DISCOVERY = 0, PH_ALIGN, PH_EXIST, PH_DONE } phase;

typedef struct {
    const char *domain; /* normalised */
    int pass;
    int is_spf;
    const char *org; /* its Organizational Domain once known */
    int needs_walk;
    sg_dmarc_align_result res;
} ident;

struct sg_dmarc_check {
    sg_arena *arena;
    sg_resolver *res;
    sg_dmarc_opts opts;
    sg_dmarc_done_cb cb;
    void *payload;
    int org_only; /* sg_dmarc_org_domain_sync(): stop after discovery */
    phase ph;
    size_t pending;
    int auth_set;
    int cancelled;

    const char *author;
    const char *walk[SG_DMARC_MAX_WALK];
    size_t nwalk;

    size_t nents;
    size_t nids;

    /* discovery outcome */
    const char *org;       /* author's Organizational Domain (NULL: unknown) */
    const ent *policy_ent; /* where the applied record is */
    const ent *policy_alt; /* the suffix's record the guard passed over (apply_policy) */
    int subdomain;         /* author is below the policy domain */
    const void *guard;     /* the suffix guard's list (NULL: off; clamp_org()) */
    const char *walk_org;  /* the tree walk's own answer, before the guard */
    int guard_refused;     /* may_align refused an identifier the tree walk would align */

    sg_dmarc_result r;

    /* Last, and not zeroed at creation (12 KiB, most never used): an entry
     * is initialised when it is taken (need(), add_ident()). */
    ent ents[MAX_ENTS];
    ident ids[1 + SG_DMARC_MAX_DKIM];
};

/* --- results ----------------------------------------------------------------- */

const char *sg_dmarc_result_str(sg_dmarc_result_code r)
{
    switch (r) {
    case SG_DMARC_RESULT_NONE:
        return "none";
    case SG_DMARC_RESULT_PASS:
        return "pass";
    case SG_DMARC_RESULT_FAIL:
        return "fail";
    case SG_DMARC_RESULT_TEMPERROR:
        return "temperror";
    case SG_DMARC_RESULT_PERMERROR:
        return "permerror";
    }
    return "?";
}

const char *sg_dmarc_disposition_str(sg_dmarc_disposition d)
{
    switch (d) {
    case SG_DMARC_DISP_NONE:
        return "none";
    case SG_DMARC_DISP_QUARANTINE:
        return "quarantine";
    case SG_DMARC_DISP_REJECT:
        return "reject";
    }
    return "?";
}

void sg_dmarc_opts_init(sg_dmarc_opts *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->version = SG_DMARC_OPTS_VERSION;
    opts->discovery = SG_DMARC_DISCOVERY_TREEWALK;
    opts->honour_testing = 1;
    opts->suffix_guard = 1;
}

static void result_init(sg_dmarc_result *r)
{
    memset(r, 0, sizeof(*r));
    r->author_exists = -1;
    r->reason = "";
}

void sg_dmarc_result_from_author(sg_dmarc_result *out, const sg_dmarc_author *author)
{
    if (out == NULL)
        return;
    result_init(out);
    out->result = SG_DMARC_RESULT_PERMERROR;
    out->reason = author ? sg_dmarc_author_status_str(author->status) : "no author domain";
    if (author && author->status == SG_DMARC_AUTHOR_OK) {
        /* not an error at all: the caller should have run the check */
        out->result = SG_DMARC_RESULT_NONE;
        out->author_domain = author->domain;
        out->reason = "author domain not evaluated";
    }
}

/* --- walks --------------------------------------------------------------------- */

/* RFC 9989 4.10: the names a Tree Walk from `domain` queries (steps 1, 3-7):
 * the domain itself, then - if it has 8 or more labels - its 7-label
 * suffix, then one label less each time down to the TLD. At most 8. */
static size_t build_walk(const char *domain, const char **out)
{
    size_t x = sg_dmarc_label_count(domain), n = 0, k;
    if (x == 0)
        return 0;
    out[n++] = domain;
    k = x >= 8 ? 7 : x - 1;
    for (; k >= 1; k--)
        out[n++] = sg_dmarc_suffix(domain, k);
    return n;
}

static ent *find_ent(sg_dmarc_check *c, const char *name, uint16_t qtype)
{
    size_t i;
    for (i = 0; i < c->nents; i++)
        if (c->ents[i].qtype == qtype && strcmp(c->ents[i].name, name) == 0)
            return &c->ents[i];
    return NULL;
}

static int is_dns_error(sg_dns_status st)
{
    return st == SG_DNS_SERVFAIL || st == SG_DNS_TIMEOUT || st == SG_DNS_EFAIL;
}

static void advance(sg_dmarc_check *c);

static void on_answer(const sg_dns_answer *a, void *payload)
{
    ent *e = payload;
    sg_dmarc_check *c = e->chk;
    size_t i;
    e->q = NULL;
    e->done = 1;
    e->status = a->status;
    if (a->status == SG_DNS_NOERROR && e->qtype == SG_DNS_TXT) {
        for (i = 0; i < a->count; i++) {
            sg_dmarc_record rec;
            const sg_dns_rr *rr = &a->rrs[i];
            if (rr->type != SG_DNS_TXT)
                continue;
            /* 4.10 step 2: records that do not start with v=DMARC1 are
             * discarded; several DMARC records are all discarded. */
            if (sg_dmarc_record_parse(c->arena, rr->u.txt.data, rr->u.txt.len, &rec) != 0)
                continue;
            if (e->ndmarc++ == 0)
                e->rec = rec;
        }
    }
    if (c->pending > 0)
        c->pending--;
    if (c->pending == 0)
        advance(c);
}

/* Start (or reuse) a query. A name too long to carry "_dmarc." cannot have
 * a record: it is answered as NXDOMAIN without asking. */
static ent *need(sg_dmarc_check *c, const char *name, uint16_t qtype)
{
    ent *e = find_ent(c, name, qtype);
    char qname[SG_DMARC_MAX_NAME + 16];
    int rc;
    if (e != NULL)
        return e;
    if (c->nents == MAX_ENTS)
        return NULL; /* cannot happen: MAX_ENTS covers every walk we start */
    e = &c->ents[c->nents++];
    memset(e, 0, sizeof(*e));
    e->chk = c;
    e->name = name;
    e->qtype = qtype;
    /* "_dmarc." + name, truncated as snprintf would (a longer name is
     * answered below without asking), by hand: this runs every message */
    size_t pl = qtype == SG_DNS_TXT ? 7 : 0, nl = strlen(name);
    if (nl > sizeof(qname) - 1 - pl)
        nl = sizeof(qname) - 1 - pl;
    memcpy(qname, "_dmarc.", pl);
    memcpy(qname + pl, name, nl);
    qname[pl + nl] = '\0';
    if (pl + nl > SG_DMARC_MAX_NAME) {
        e->done = 1;
        e->status = SG_DNS_NXDOMAIN;
        return e;
    }
    c->pending++;
    c->r.dns_queries++;
    rc = sg_resolver_query(c->res, qname, qtype, on_answer, e, &e->q);
    if (rc != 0) {
        c->pending--;
        e->done = 1;
        e->status = rc == SG_EINVAL ? SG_DNS_NXDOMAIN : SG_DNS_EFAIL;
    }
    return e;
}

typedef struct {
    int error;        /* a DNS error before the walk stopped */
    const char *org;  /* Organizational Domain */
    const ent *psd_y; /* the psd=y record that stopped the walk, if any */
} walk_res;

/* RFC 9989 4.10.2: the Organizational Domain from a finished walk. */
static void walk_eval(sg_dmarc_check *c, const char *start, const char **names, size_t n,
                      walk_res *wr)
{
    size_t i;
    const char *last = NULL;
    memset(wr, 0, sizeof(*wr));
    for (i = 0; i < n; i++) {
        const ent *e = find_ent(c, names[i], SG_DNS_TXT);
        if (e == NULL || !e->done || is_dns_error(e->status)) {
            wr->error = 1;
            return;
        }
        if (e->ndmarc != 1)
            continue;
        last = names[i];
        if (e->rec.psd == SG_DMARC_PSD_N) {
            /* rule 1: psd=n marks the Organizational Domain itself */
            wr->org = names[i];
            return;
        }
        if (e->rec.psd == SG_DMARC_PSD_Y) {
            /* The walk stops here (steps 2 and 6). Rule 2: a psd=y record
             * other than the starting domain's makes the domain one label
             * below it the Organizational Domain; at the start, rule 3
             * picks the only record found: the start itself. */
            if (i == 0) {
                wr->org = names[0];
            } else {
                wr->org = sg_dmarc_suffix(start, sg_dmarc_label_count(names[i]) + 1);
                wr->psd_y = e;
            }
            return;
        }
    }
    /* rule 3: the record with the fewest labels; none at all: the start */
    wr->org = last ? last : start;
}

static void issue_walk(sg_dmarc_check *c, const char *domain)
{
    const char *names[SG_DMARC_MAX_WALK];
    size_t n = build_walk(domain, names), i;
    for (i = 0; i < n; i++)
        need(c, names[i], SG_DNS_TXT);
}

static const char *psl_org(sg_dmarc_check *c, const char *domain)
{
    const char *o = NULL;
    if (sg_dmarc_psl_registrable(c->arena, c->opts.psl, domain, &o) != 0 || o == NULL)
        return domain; /* a public suffix is its own Organizational Domain */
    return o;
}

/* --- finishing --------------------------------------------------------------- */

static void finish(sg_dmarc_check *c, sg_dmarc_result_code code, const char *reason)
{
    if (c->ph == PH_DONE)
        return;
    c->ph = PH_DONE;
    c->r.result = code;
    c->r.reason = reason;
    c->r.org_domain = c->org;
    if (code != SG_DMARC_RESULT_FAIL)
        c->r.disposition = SG_DMARC_DISP_NONE;
    if (c->cb != NULL && !c->cancelled)
        c->cb(&c->r, c->payload);
}

static const char *fmt(sg_dmarc_check *c, const char *f, const char *a)
{
    size_t n = strlen(f) + (a ? strlen(a) : 0) + 1;
    char *s = sg_arena_alloc(c->arena, n);
    if (s == NULL)
        return f;
    snprintf(s, n, f, a ? a : "");
    return s;
}

/* --- phases -------------------------------------------------------------------- */

/* The suffix guard: an Organizational Domain is never above the
 * registrable domain by the public suffix list. RFC 9989 4.10.2 rule 3
 * makes the name with the fewest labels that has a record the
 * Organizational Domain, so a record at a suffix without psd=y (as RFC
 * 9091's records were written), or at the parent of a private suffix
 * (linode.com above members.linode.com), would make it the Organizational
 * Domain of every registrant below: every one of them aligned with every
 * other and with it. A psd=y record stops the walk one label below the
 * suffix, where this changes nothing. A name that is itself a public
 * suffix has no registrable domain and keeps the walk's answer. */
static const char *clamp_org(const sg_dmarc_check *c, const char *name, const char *org)
{
    if (c->guard == NULL || org == NULL)
        return org;
    const char *reg = sg_dmarc_psl_reg(c->guard, name);
    return reg != NULL && strlen(reg) > strlen(org) && sg_domain_within(reg, org) ? reg : org;
}

/* Discovery done: pick the record to apply (4.10.1). Returns 0 to go on,
 * 1 if the check finished, 2 when it waits for one more record. */
static int discovery_done(sg_dmarc_check *c)
{
    const ent *first;
    walk_res wr;

    if (c->opts.discovery == SG_DMARC_DISCOVERY_PSL) {
        /* RFC 7489 6.6.3: author domain, then its Organizational Domain */
        const ent *org;
        c->org = psl_org(c, c->author);
        first = find_ent(c, c->author, SG_DNS_TXT);
        if (c->org_only)
            return finish(c, SG_DMARC_RESULT_NONE, "organizational domain (PSL)"), 1;
        if (first == NULL || is_dns_error(first->status))
            return finish(c, SG_DMARC_RESULT_TEMPERROR, "DNS error looking up the policy"), 1;
        if (first->ndmarc == 1) {
            c->policy_ent = first;
            c->subdomain = 0;
            return 0;
        }
        org = strcmp(c->org, c->author) ? find_ent(c, c->org, SG_DNS_TXT) : NULL;
        if (org && is_dns_error(org->status))
            return finish(c, SG_DMARC_RESULT_TEMPERROR, "DNS error looking up the policy"), 1;
        if (org && org->ndmarc == 1) {
            c->policy_ent = org;
            c->subdomain = 1;
            return 0;
        }
        return finish(c, SG_DMARC_RESULT_NONE, "no DMARC policy record"), 1;
    }

    walk_eval(c, c->author, c->walk, c->nwalk, &wr);
    c->walk_org = wr.error ? NULL : wr.org;
    c->org = clamp_org(c, c->author, c->walk_org);
    if (c->org_only)
        return finish(c, wr.error ? SG_DMARC_RESULT_TEMPERROR : SG_DMARC_RESULT_NONE,
                      wr.error ? "DNS error during the tree walk" : "organizational domain"),
               1;

    first = find_ent(c, c->author, SG_DNS_TXT);
    if (first == NULL || is_dns_error(first->status))
        return finish(c, SG_DMARC_RESULT_TEMPERROR, "DNS error looking up the policy"), 1;
    if (first->ndmarc == 1) {
        /* 4.10.1: a record at the Author Domain applies, with its p */
        c->policy_ent = first;
        c->subdomain = 0;
        return 0;
    }
    if (wr.error)
        return finish(c, SG_DMARC_RESULT_TEMPERROR, "DNS error during the tree walk"), 1;
    if (wr.psd_y != NULL && strcmp(wr.org, c->author) != 0) {
        /* rule 2's Organizational Domain, one label below a psd=y record
         * of 7 labels, is not a name of the walk (an author of 9 labels or
         * more skips from itself to its 7-label suffix): its record is
         * asked for, or the PSD's policy would stand in for it (adv25
         * DM-2) */
        const ent *o = find_ent(c, wr.org, SG_DNS_TXT);
        if (o == NULL) {
            need(c, wr.org, SG_DNS_TXT);
            if (c->pending > 0)
                return 2;
            o = find_ent(c, wr.org, SG_DNS_TXT);
        }
        if (o == NULL || is_dns_error(o->status))
            return finish(c, SG_DMARC_RESULT_TEMPERROR, "DNS error looking up the policy"), 1;
    }
    /* 4.10.1: otherwise the Organizational Domain's record, else the PSD's.
     * Under the suffix guard, the registrable domain's record first, then
     * the suffix's that the RFC's rules would have applied. */
    for (int k = 0; k < 2; k++) {
        const char *org = k == 0 ? c->org : wr.org;
        if (k == 1 && org == c->org)
            break;
        const ent *o = strcmp(org, c->author) ? find_ent(c, org, SG_DNS_TXT) : NULL;
        if (o == NULL || o->ndmarc != 1)
            continue;
        if (c->policy_ent == NULL) {
            c->policy_ent = o;
            c->subdomain = 1;
        } else {
            c->policy_alt = o; /* the suffix's: the stricter applies */
        }
    }
    if (c->policy_ent != NULL)
        return 0;
    {
        if (wr.psd_y != NULL) {
            c->policy_ent = wr.psd_y;
            c->subdomain = 1;
            return 0;
        }
    }
    if (first->ndmarc > 1)
        return finish(c, SG_DMARC_RESULT_NONE, "several DMARC records at the author domain"), 1;
    return finish(c, SG_DMARC_RESULT_NONE, "no DMARC policy record"), 1;
}

/* Whether a pass for identifier domain d (lower case) could align, relaxed,
 * with the author domain, whatever DNS answers are missing. Never when the
 * two share no label: an Organizational Domain is the name itself or an
 * ancestor; nor outside a known Organizational Domain (org; NULL: unknown).
 * With the suffix guard (guard: its public suffix list), an
 * Organizational Domain is never above a name's registrable domain
 * (clamp_org), so two names align only under one registrable domain. */
/* Both names have one registrable domain by the list ctx. */
static int same_registrable(const void *ctx, const char *a, const char *b)
{
    const char *ra = sg_dmarc_psl_reg(ctx, a), *rb = sg_dmarc_psl_reg(ctx, b);
    return ra != NULL && rb != NULL && strcmp(ra, rb) == 0;
}

static int may_align(const void *guard, const char *author, const char *org, const char *d)
{
    if (sg_dmarc_common_ancestor(author, d) == NULL)
        return 0;
    if (org != NULL && !sg_domain_within(d, org))
        return 0;
    return guard == NULL || same_registrable(guard, author, d);
}

int sg_dmarc_could_align(const sg_dmarc_opts *opts, const sg_dmarc_result *r, const char *d)
{
    char low[SG_DMARC_MAX_NAME + 2];
    size_t n;
    if (d == NULL)
        return 0;
    if (r == NULL || r->author_domain == NULL)
        return 1; /* nothing known: it could */
    n = strlen(d);
    if (n && d[n - 1] == '.')
        n--;
    if (n == 0 || n > SG_DMARC_MAX_NAME)
        return 0; /* not a name DMARC could have used */
    for (size_t i = 0; i < n; i++)
        low[i] = (char)(d[i] >= 'A' && d[i] <= 'Z' ? d[i] - 'A' + 'a' : d[i]);
    low[n] = '\0';
    if (strcmp(low, r->author_domain) == 0)
        return 1;
    if (opts != NULL && opts->discovery == SG_DMARC_DISCOVERY_PSL && opts->psl != NULL)
        return same_registrable(sg_dmarc_psl_ctx(opts->psl), r->author_domain, low);
    int guard = opts == NULL || opts->version < 2 || opts->suffix_guard;
    return may_align(guard ? sg_dmarc_psl_ctx(opts ? opts->psl : NULL) : NULL, r->author_domain,
                     r->org_domain, low);
}

/* Set up alignment (5.3.4). Returns 0 to go on. */
static void align_start(sg_dmarc_check *c)
{
    const sg_dmarc_record *rec = &c->policy_ent->rec;
    size_t i, walks = 0;
    for (i = 0; i < c->nids; i++) {
        ident *id = &c->ids[i];
        sg_dmarc_align mode = id->is_spf ? rec->aspf : rec->adkim;
        id->res = SG_DMARC_ALIGN_RESULT_FAIL;
        if (!id->pass || id->domain == NULL) {
            id->res = SG_DMARC_ALIGN_RESULT_NONE;
            continue;
        }
        if (strcmp(id->domain, c->author) == 0) {
            id->res = SG_DMARC_ALIGN_RESULT_PASS; /* identical: strict and relaxed */
            continue;
        }
        if (mode == SG_DMARC_ALIGN_STRICT)
            continue; /* 3.2.10.2: identical names only */
        if (c->opts.discovery == SG_DMARC_DISCOVERY_PSL) {
            const char *o = psl_org(c, id->domain);
            const char *ao = c->org ? c->org : c->author;
            id->res = strcmp(o, ao) == 0 ? SG_DMARC_ALIGN_RESULT_PASS : SG_DMARC_ALIGN_RESULT_FAIL;
            continue;
        }
        if (!may_align(c->guard, c->author, c->org, id->domain)) {
            /* a fail whatever the walk would find (or, org unknown, would
             * have found): a DNS error elsewhere in the tree does not make
             * it a temperror */
            if (c->walk_org != NULL && sg_domain_within(id->domain, c->walk_org))
                c->guard_refused = 1;
            continue;
        }
        if (c->org == NULL) {
            id->res = SG_DMARC_ALIGN_RESULT_UNKNOWN;
            continue;
        }
        if (walks == SG_DMARC_MAX_ID_WALKS)
            continue; /* beyond the cap: counted as not aligned */
        walks++;
        id->needs_walk = 1;
        issue_walk(c, id->domain);
    }
}

static void align_done(sg_dmarc_check *c)
{
    size_t i;
    for (i = 0; i < c->nids; i++) {
        ident *id = &c->ids[i];
        if (id->needs_walk) {
            const char *names[SG_DMARC_MAX_WALK];
            size_t n = build_walk(id->domain, names);
            walk_res wr;
            walk_eval(c, id->domain, names, n, &wr);
            if (wr.error) {
                id->res = SG_DMARC_ALIGN_RESULT_UNKNOWN;
            } else {
                id->org = clamp_org(c, id->domain, wr.org);
                id->res = strcmp(id->org, c->org) == 0 ? SG_DMARC_ALIGN_RESULT_PASS
                                                       : SG_DMARC_ALIGN_RESULT_FAIL;
            }
        }
    }
    /* Fold per-identifier results into the SPF and DKIM summaries. */
    c->r.spf_align = c->r.dkim_align = SG_DMARC_ALIGN_RESULT_NONE;
    for (i = 0; i < c->nids; i++) {
        ident *id = &c->ids[i];
        sg_dmarc_align_result *sum = id->is_spf ? &c->r.spf_align : &c->r.dkim_align;
        if (id->res == SG_DMARC_ALIGN_RESULT_PASS) {
            if (*sum != SG_DMARC_ALIGN_RESULT_PASS) {
                if (id->is_spf)
                    c->r.spf_aligned_domain = id->domain;
                else
                    c->r.dkim_aligned_domain = id->domain;
            }
            *sum = SG_DMARC_ALIGN_RESULT_PASS;
        } else if (id->res == SG_DMARC_ALIGN_RESULT_UNKNOWN) {
            if (*sum != SG_DMARC_ALIGN_RESULT_PASS)
                *sum = SG_DMARC_ALIGN_RESULT_UNKNOWN;
        } else if (id->res == SG_DMARC_ALIGN_RESULT_FAIL) {
            if (*sum == SG_DMARC_ALIGN_RESULT_NONE)
                *sum = SG_DMARC_ALIGN_RESULT_FAIL;
        }
    }
}

static sg_dmarc_disposition disp_of(sg_dmarc_policy p)
{
    return p == SG_DMARC_POLICY_REJECT       ? SG_DMARC_DISP_REJECT
           : p == SG_DMARC_POLICY_QUARANTINE ? SG_DMARC_DISP_QUARANTINE
                                             : SG_DMARC_DISP_NONE;
}

static sg_dmarc_policy policy_of(const sg_dmarc_record *rec, int subdomain, int exists,
                                 sg_dmarc_policy_tag *tag)
{
    *tag = !subdomain    ? SG_DMARC_FROM_TAG_P
           : exists == 0 ? SG_DMARC_FROM_TAG_NP
                         : SG_DMARC_FROM_TAG_SP;
    return !subdomain ? rec->p : exists == 0 ? rec->np : rec->sp;
}

/* Policy (4.10.1 p / sp / np) and disposition (4.7 t). Under the suffix
 * guard a subdomain without a record takes its registrable domain's
 * record, or the suffix's (what the RFC's rules alone apply) when that is
 * stricter: the guard makes alignment stricter and never a policy softer. */
static void apply_policy(sg_dmarc_check *c, int exists)
{
    sg_dmarc_policy_tag tag, alt_tag;
    sg_dmarc_policy p = policy_of(&c->policy_ent->rec, c->subdomain, exists, &tag), alt_p;
    if (c->policy_alt != NULL && c->policy_alt->rec.applicable &&
        (alt_p = policy_of(&c->policy_alt->rec, 1, exists, &alt_tag)) > p) {
        c->policy_ent = c->policy_alt;
        c->r.policy_domain = c->policy_ent->name;
        c->r.record = &c->policy_ent->rec;
        p = alt_p;
        tag = alt_tag;
    }
    const sg_dmarc_record *rec = &c->policy_ent->rec;
    c->r.policy_tag = tag;
    c->r.policy = p;
    c->r.testing = rec->testing;
    c->r.disposition = disp_of(p);
    /* 4.7 t=y: apply one level below the policy; no effect on "none". */
    if (rec->testing && c->opts.honour_testing && p != SG_DMARC_POLICY_NONE)
        c->r.disposition = disp_of((sg_dmarc_policy)(p - 1));
}

static const char *fail_reason(sg_dmarc_check *c, int exists)
{
    if (c->guard_refused)
        return fmt(c,
                   exists ? "no aligned identifier; the tree walk stopped at %s, above the "
                            "public suffix list's registrable domains: only the same "
                            "registrable domain aligns"
                          : "no aligned identifier; the tree walk stopped at %s, above the "
                            "public suffix list's registrable domains: only the same "
                            "registrable domain aligns; author domain does not exist (np)",
                   c->walk_org);
    return exists ? "no aligned identifier"
                  : "no aligned identifier; author domain does not exist (np)";
}

static int np_matters(const sg_dmarc_check *c)
{
    const sg_dmarc_record *rec = &c->policy_ent->rec,
                          *alt = c->policy_alt ? &c->policy_alt->rec : NULL;
    return c->subdomain && (rec->np != rec->sp || (alt && alt->np != alt->sp));
}

static void advance(sg_dmarc_check *c)
{
    if (c->ph == PH_DONE || c->cancelled || c->pending > 0)
        return;
    if (c->ph == PH_DISCOVERY) {
        if (!c->org_only && !c->auth_set)
            return; /* wait for sg_dmarc_check_set_auth() */
        if (discovery_done(c) != 0)
            return;
        if (!c->policy_ent->rec.applicable && c->policy_alt != NULL &&
            c->policy_alt->rec.applicable) {
            /* the registrable domain's record is unusable, the suffix's,
             * which the RFC's rules alone apply, is not: the guard never
             * leaves a policy out (adv25 DM-1) */
            c->policy_ent = c->policy_alt;
            c->policy_alt = NULL;
        }
        c->r.policy_domain = c->policy_ent->name;
        c->r.record = &c->policy_ent->rec;
        if (!c->policy_ent->rec.applicable) {
            /* 4.10.1: invalid p/sp/np and no valid rua: no DMARC processing */
            finish(c, SG_DMARC_RESULT_PERMERROR,
                   fmt(c, "DMARC record at %s has no valid policy and no valid rua",
                       c->policy_ent->name));
            return;
        }
        c->ph = PH_ALIGN;
        align_start(c);
        if (c->pending > 0)
            return;
    }
    if (c->ph == PH_ALIGN) {
        align_done(c);
        if (c->r.spf_align == SG_DMARC_ALIGN_RESULT_PASS ||
            c->r.dkim_align == SG_DMARC_ALIGN_RESULT_PASS) {
            /* 5.3.5: one aligned identifier suffices. The policy is shown
             * as it would apply to an existing domain (no existence query
             * is spent on a pass). */
            apply_policy(c, 1);
            c->r.disposition = SG_DMARC_DISP_NONE;
            finish(c, SG_DMARC_RESULT_PASS,
                   c->r.dkim_align == SG_DMARC_ALIGN_RESULT_PASS ? "aligned DKIM pass"
                                                                 : "aligned SPF pass");
            return;
        }
        if (c->r.spf_align == SG_DMARC_ALIGN_RESULT_UNKNOWN ||
            c->r.dkim_align == SG_DMARC_ALIGN_RESULT_UNKNOWN) {
            /* 5.3.6: a DNS error leaves neither pass nor fail. The policy
             * found is still the domain's: shown (p= in the
             * Authentication-Results), not applied. */
            apply_policy(c, 1);
            finish(c, SG_DMARC_RESULT_TEMPERROR, "DNS error during identifier alignment");
            return;
        }
        if (np_matters(c)) {
            c->ph = PH_EXIST;
            need(c, c->author, SG_DNS_A);
            need(c, c->author, SG_DNS_AAAA);
            need(c, c->author, SG_DNS_MX);
            if (c->pending > 0)
                return;
        } else {
            apply_policy(c, 1);
            finish(c, SG_DMARC_RESULT_FAIL, fail_reason(c, 1));
            return;
        }
    }
    if (c->ph == PH_EXIST) {
        static const uint16_t types[] = {SG_DNS_A, SG_DNS_AAAA, SG_DNS_MX};
        int exists = 0, nx = 0, err = 0;
        size_t i;
        for (i = 0; i < 3; i++) {
            const ent *e = find_ent(c, c->author, types[i]);
            if (e == NULL || is_dns_error(e->status))
                err++;
            else if (e->status == SG_DNS_NXDOMAIN)
                nx++;
            else
                exists = 1; /* A.4: any answer but NXDOMAIN means it exists */
        }
        if (!exists && err) {
            finish(c, SG_DMARC_RESULT_TEMPERROR, "DNS error checking whether the domain exists");
            return;
        }
        c->r.author_exists = exists ? 1 : 0;
        apply_policy(c, exists);
        finish(c, SG_DMARC_RESULT_FAIL, fail_reason(c, exists));
    }
}

/* --- public entry points ---------------------------------------------------- */

static void add_ident(sg_dmarc_check *c, const char *domain, int pass, int is_spf)
{
    ident *id = &c->ids[c->nids++];
    memset(id, 0, sizeof(*id));
    id->domain = domain;
    id->pass = pass;
    id->is_spf = is_spf;
}

static int add_dkim_id(sg_dmarc_check *c, const sg_dmarc_dkim *k)
{
    char *d = NULL;
    int rc = 0;
    if (k->d != NULL)
        rc = sg_dmarc_domain_normalise(c->arena, k->d, strlen(k->d), &d);
    if (rc == SG_ENOMEM)
        return rc;
    add_ident(c, rc == 0 ? d : NULL, k->pass, 0);
    return 0;
}

static int copy_auth(sg_dmarc_check *c, const sg_dmarc_auth *auth)
{
    size_t i;
    c->nids = 0;
    if (auth == NULL)
        return 0;
    if (auth->ndkim > 0 && auth->dkim == NULL)
        return SG_EINVAL;
    if (auth->spf_domain != NULL) {
        char *d = NULL;
        int rc =
            sg_dmarc_domain_normalise(c->arena, auth->spf_domain, strlen(auth->spf_domain), &d);
        if (rc == SG_ENOMEM)
            return rc;
        add_ident(c, rc == 0 ? d : NULL, auth->spf_pass, 1);
    }
    /* Only passing signatures can align (RFC 9989 4.4): they take the
     * places under the cap first, so that failed signatures a sender put
     * in front cannot crowd a pass out. */
    for (int pass = 1; pass >= 0; pass--)
        for (i = 0; i < auth->ndkim && c->nids < 1 + SG_DMARC_MAX_DKIM; i++) {
            if ((auth->dkim[i].pass != 0) != pass)
                continue;
            int rc = add_dkim_id(c, &auth->dkim[i]);
            if (rc != 0)
                return rc;
        }
    return 0;
}

static int check_new(sg_dmarc_check **out, sg_arena *arena, sg_resolver *resolver,
                     const sg_dmarc_opts *opts, const char *author_domain, sg_dmarc_done_cb cb,
                     void *payload, int org_only)
{
    sg_dmarc_check *c;
    char *norm = NULL;
    int rc;
    if (out == NULL || arena == NULL || resolver == NULL || author_domain == NULL)
        return SG_EINVAL;
    *out = NULL;
    if (opts != NULL && (opts->version < 1 || opts->version > SG_DMARC_OPTS_VERSION))
        return SG_EINVAL; /* adv44 F2 */
    if (opts != NULL && opts->discovery == SG_DMARC_DISCOVERY_PSL && opts->psl == NULL)
        return SG_EINVAL;
    c = sg_arena_alloc(arena, sizeof(*c));
    if (c == NULL)
        return SG_ENOMEM;
    memset(c, 0, offsetof(sg_dmarc_check, ents));
    c->arena = arena;
    c->res = resolver;
    if (opts != NULL)
        c->opts = *opts;
    else
        sg_dmarc_opts_init(&c->opts);
    if (c->opts.version < 2)
        c->opts.suffix_guard = 1; /* a caller from before the field */
    c->cb = cb;
    c->payload = payload;
    c->org_only = org_only;
    if (c->opts.suffix_guard && c->opts.discovery == SG_DMARC_DISCOVERY_TREEWALK)
        c->guard = sg_dmarc_psl_ctx(c->opts.psl);
    result_init(&c->r);
    *out = c;

    rc = sg_dmarc_domain_normalise(arena, author_domain, strlen(author_domain), &norm);
    if (rc == SG_ENOMEM)
        return rc;
    if (rc != 0)
        return 1; /* caller finishes with PERMERROR */
    c->author = norm;
    c->r.author_domain = norm;

    if (c->opts.discovery == SG_DMARC_DISCOVERY_PSL) {
        const char *org = psl_org(c, norm);
        need(c, norm, SG_DNS_TXT);
        if (strcmp(org, norm) != 0)
            need(c, org, SG_DNS_TXT);
    } else {
        size_t i;
        c->nwalk = build_walk(norm, c->walk);
        for (i = 0; i < c->nwalk; i++)
            need(c, c->walk[i], SG_DNS_TXT);
    }
    return 0;
}

int sg_dmarc_check_start(sg_dmarc_check **out, sg_arena *arena, sg_resolver *resolver,
                         const sg_dmarc_opts *opts, const char *author_domain,
                         const sg_dmarc_auth *auth, sg_dmarc_done_cb cb, void *payload)
{
    int rc = check_new(out, arena, resolver, opts, author_domain, cb, payload, 0);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        finish(*out, SG_DMARC_RESULT_PERMERROR, "author domain is not a valid DNS name");
        return 0;
    }
    if (auth != NULL) {
        rc = copy_auth(*out, auth);
        if (rc != 0)
            return rc;
        (*out)->auth_set = 1;
    }
    advance(*out); /* only acts when nothing was left to ask */
    return 0;
}

int sg_dmarc_check_set_auth(sg_dmarc_check *c, const sg_dmarc_auth *auth)
{
    int rc;
    if (c == NULL)
        return SG_EINVAL;
    if (c->auth_set || c->ph == PH_DONE)
        return SG_ESTATE;
    rc = copy_auth(c, auth);
    if (rc != 0)
        return rc;
    c->auth_set = 1;
    advance(c);
    return 0;
}

void sg_dmarc_check_cancel(sg_dmarc_check *c)
{
    size_t i;
    if (c == NULL)
        return;
    c->cancelled = 1;
    for (i = 0; i < c->nents; i++) {
        if (c->ents[i].q != NULL) {
            sg_resolver_cancel(c->res, c->ents[i].q);
            c->ents[i].q = NULL;
        }
    }
    c->pending = 0;
}

typedef struct {
    int done;
    sg_dmarc_result res;
} sync_state;

static void sync_cb(const sg_dmarc_result *res, void *payload)
{
    sync_state *s = payload;
    s->res = *res;
    s->done = 1;
}

static int run_until_done(sg_resolver *resolver, sg_dmarc_check *c, sync_state *st)
{
    while (!st->done) {
        int rc = sg_resolver_run(resolver, -1);
        if (rc < 0) {
            sg_dmarc_check_cancel(c);
            return rc;
        }
        if (rc == 0 && !st->done && sg_resolver_pending(resolver) == 0) {
            sg_dmarc_check_cancel(c);
            return SG_ESTATE; /* no answer will ever come */
        }
    }
    return 0;
}

int sg_dmarc_check_sync(sg_arena *arena, sg_resolver *resolver, const sg_dmarc_opts *opts,
                        const char *author_domain, const sg_dmarc_auth *auth, sg_dmarc_result *out)
{
    sync_state st;
    sg_dmarc_check *c = NULL;
    int rc;
    static const sg_dmarc_auth empty = {0, NULL, NULL, 0};
    if (out == NULL)
        return SG_EINVAL;
    memset(&st, 0, sizeof(st));
    rc = sg_dmarc_check_start(&c, arena, resolver, opts, author_domain, auth ? auth : &empty,
                              sync_cb, &st);
    if (rc != 0)
        return rc;
    rc = run_until_done(resolver, c, &st);
    if (rc != 0)
        return rc;
    *out = st.res;
    return 0;
}

int sg_dmarc_org_domain_sync(sg_arena *arena, sg_resolver *resolver, const sg_dmarc_opts *opts,
                             const char *domain, const char **out)
{
    sync_state st;
    sg_dmarc_check *c = NULL;
    int rc;
    if (out == NULL)
        return SG_EINVAL;
    *out = NULL;
    memset(&st, 0, sizeof(st));
    rc = check_new(&c, arena, resolver, opts, domain, sync_cb, &st, 1);
    if (rc < 0)
        return rc;
    if (rc == 1)
        return SG_ESYNTAX;
    advance(c);
    rc = run_until_done(resolver, c, &st);
    if (rc != 0)
        return rc;
    *out = st.res.org_domain;
    return 0;
}
