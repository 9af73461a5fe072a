/*
 * bench/spf_bench.c - SPF checks per second: spoofguard against libspf2
 * and pyspf on the same record set, DNS answered from memory for all.
 *
 * The parent generates a deterministic record set (200 customer domains
 * whose policies take 3-6 DNS-querying terms: include chains through
 * shared providers, a, mx, ip4/ip6, redirect, exists with a macro; a few
 * fail/softfail/neutral/permerror/none cases) and a list of checks with
 * various client IPs, writes both to a temporary directory, then runs
 * each implementation in its own process (so each peak RSS is its own):
 *
 *   ours-cache    sg_spf_check_sync on the zone resolver, parsed records
 *                 cached in an sg_spf_cache
 *   ours-nocache  the same, every record parsed for every check
 *   ours-async    64 checks in flight on one resolver (the daemon's shape),
 *                 with the cache
 *   libspf2-zone  libspf2 with its own zone DNS layer (SPF_DNS_ZONE). That
 *                 layer is a linear list searched with strcasecmp, so
 *                 with this record set its lookups dominate;
 *   libspf2-hash  libspf2 with a hashed in-memory DNS layer written here
 *                 (same answers, same SPF_dns_rr_t copies as the zone
 *                 layer makes), which measures libspf2's engine itself.
 *                 The 2x target is judged against this one.
 *   pyspf         spf.query().check() with spf.DNSLookup answering from a
 *                 dict (bench/spf_peers.py)
 *
 * Every implementation first runs each check once and writes its results;
 * the parent compares them with ours-cache and prints disagreements (a
 * correctness signal). Rates are checks per CPU second of the worker.
 *
 * Each implementation runs R rounds (round-robin over the implementations,
 * a fresh process each time) of at least S CPU seconds; the median rate is
 * reported, and the largest peak RSS.
 *
 *   spf_bench [--seconds S] [--rounds R] [--checks N] [--keep]
 */
#include "bench_common.h"

#include <spoofguard/arena.h>
#include <spoofguard/dns.h>
#include <spoofguard/spf.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <spf2/spf.h>
#include <spf2/spf_dns_zone.h>

#define N_DOMAINS 200
#define N_PROVIDERS 10
#define DEFAULT_CHECKS 5000
#define DEFAULT_SECONDS 0.5
#define DEFAULT_ROUNDS 3
#define ASYNC_IN_FLIGHT 64
#define RECEIVER "mx.receiver.example"
#define HELO "client.sender.example"

/* ---- data set ----------------------------------------------------------- */

typedef struct {
    char *name;
    char *type;  /* TXT, A, AAAA, MX */
    char *value; /* TXT: raw text (no quotes); MX: "pref host"; A/AAAA: address */
} row;

typedef struct {
    char *ip;
    char *from;
} query;

typedef struct {
    row *rows;
    size_t nrows, caprows;
    query *q;
    size_t nq;
} dataset;

static void add_row(dataset *ds, const char *name, const char *type, char *value)
{
    if (ds->nrows == ds->caprows) {
        ds->caprows = ds->caprows ? ds->caprows * 2 : 1024;
        ds->rows = realloc(ds->rows, ds->caprows * sizeof *ds->rows);
        if (ds->rows == NULL)
            bench_die("out of memory");
    }
    ds->rows[ds->nrows].name = strdup(name);
    ds->rows[ds->nrows].type = strdup(type);
    ds->rows[ds->nrows].value = value;
    ds->nrows++;
}

#define PROV "mailer.example"
#define DOM "bench.example"

/* Provider K: _spf.pK includes two netblock records; _nb2 has an "a"
 * term. Including a provider costs 4 DNS-querying terms. */
static void gen_provider(dataset *ds, int k)
{
    char n[256];
    snprintf(n, sizeof n, "_spf.p%d." PROV, k);
    add_row(ds, n, "TXT",
            bench_strf("v=spf1 ip4:203.0.%d.0/24 include:_nb1.p%d." PROV " include:_nb2.p%d." PROV
                       " ~all",
                       k, k, k));
    snprintf(n, sizeof n, "_nb1.p%d." PROV, k);
    add_row(ds, n, "TXT",
            bench_strf("v=spf1 ip4:100.64.%d.0/24 ip4:100.65.%d.0/25 ip6:2001:db8:100:%x::/64 -all",
                       k, k, k));
    snprintf(n, sizeof n, "_nb2.p%d." PROV, k);
    add_row(ds, n, "TXT", bench_strf("v=spf1 ip4:100.66.%d.0/24 a:relay.p%d." PROV " -all", k, k));
    snprintf(n, sizeof n, "relay.p%d." PROV, k);
    add_row(ds, n, "A", bench_strf("100.67.%d.10", k));
    add_row(ds, n, "A", bench_strf("100.67.%d.11", k));
}

/* Customer domain N. kind = N % 8 picks the policy shape; the comment
 * gives the DNS-querying terms it costs when nothing matches early. */
static void gen_domain(dataset *ds, int n)
{
    char d[256], h[300];
    int p = n % N_PROVIDERS, q = (n / N_PROVIDERS + 3) % N_PROVIDERS;
    char *txt = NULL;

    snprintf(d, sizeof d, "d%d." DOM, n);
    /* hosts every domain has: apex A/AAAA, two MX with A, out/mail A */
    add_row(ds, d, "A", bench_strf("198.18.%d.1", n));
    add_row(ds, d, "AAAA", bench_strf("2001:db8:%x::1", n));
    add_row(ds, d, "MX", bench_strf("10 mx1.%s", d));
    add_row(ds, d, "MX", bench_strf("20 mx2.%s", d));
    snprintf(h, sizeof h, "mx1.%s", d);
    add_row(ds, h, "A", bench_strf("198.19.%d.1", n));
    add_row(ds, h, "AAAA", bench_strf("2001:db8:%x::25", n));
    snprintf(h, sizeof h, "mx2.%s", d);
    add_row(ds, h, "A", bench_strf("198.19.%d.2", n));
    snprintf(h, sizeof h, "out.%s", d);
    add_row(ds, h, "A", bench_strf("198.20.%d.1", n));
    add_row(ds, h, "A", bench_strf("198.20.%d.2", n));

    switch (n % 8) {
    case 0: /* 4 */
        txt = bench_strf("v=spf1 ip4:198.18.%d.0/24 ip6:2001:db8:%x::/48 include:_spf.p%d." PROV
                         " -all",
                         n, n, p);
        break;
    case 1: /* 6 */
        txt = bench_strf("v=spf1 a mx include:_spf.p%d." PROV " ~all", p);
        break;
    case 2: /* 3 */
        txt = bench_strf("v=spf1 mx a:out.%s include:_ext.%s -all", d, d);
        snprintf(h, sizeof h, "_ext.%s", d);
        add_row(ds, h, "TXT",
                bench_strf("v=spf1 ip4:198.21.%d.0/24 ip6:2001:db8:%x:21::/64 -all", n, n));
        break;
    case 3: /* 6: redirect + a + provider */
        txt = bench_strf("v=spf1 redirect=_spf.%s", d);
        snprintf(h, sizeof h, "_spf.%s", d);
        add_row(ds, h, "TXT",
                bench_strf("v=spf1 a/24 ip4:198.22.%d.0/24 include:_spf.p%d." PROV " -all", n, p));
        break;
    case 4: /* 5: a provider's netblock directly + another provider; neutral */
        txt = bench_strf("v=spf1 include:_nb1.p%d." PROV " include:_spf.p%d." PROV " ?all", p, q);
        break;
    case 5: /* 6: exists with a macro (a void lookup unless listed) */
        txt = bench_strf(
            "v=spf1 a:out.%s -exists:%%{i}._bl.%s ip4:198.23.%d.0/24 include:_spf.p%d." PROV
            " -all",
            d, d, n, p);
        snprintf(h, sizeof h, "192.0.2.66._bl.%s", d);
        add_row(ds, h, "A", strdup("127.0.0.2"));
        break;
    case 6: /* 3; softfail */
        txt = bench_strf("v=spf1 mx a include:_ext.%s ~all", d);
        snprintf(h, sizeof h, "_ext.%s", d);
        add_row(ds, h, "TXT", bench_strf("v=spf1 ip4:198.21.%d.0/24 -all", n));
        break;
    default: /* kind 7: error cases and a plain one */
        switch ((n / 8) % 3) {
        case 0: /* include of a domain without SPF record: permerror */
            txt = bench_strf("v=spf1 ip4:198.18.%d.0/24 include:nospf.%s -all", n, d);
            snprintf(h, sizeof h, "nospf.%s", d);
            add_row(ds, h, "TXT", strdup("google-site-verification=abcdef"));
            break;
        case 1: /* 12 DNS terms: permerror unless an early term matches */
            txt = bench_strf("v=spf1 ip4:198.18.%d.0/24 include:_spf.p%d." PROV
                             " include:_spf.p%d." PROV " include:_spf.p%d." PROV " -all",
                             n, p, q, (q + 1) % N_PROVIDERS);
            break;
        default: /* 2 */
            txt = bench_strf("v=spf1 a mx -all");
            break;
        }
        break;
    }
    add_row(ds, d, "TXT", txt);
    /* a non-SPF TXT next to the policy, as most domains have */
    if (n % 3 == 0)
        add_row(ds, d, "TXT", bench_strf("ms-domain-verify=%08x", (unsigned)(n * 2654435761u)));
}

static char *pick_ip(bench_rng *r, int n)
{
    int p = (int)bench_rng_below(r, N_PROVIDERS);
    unsigned host = 1 + bench_rng_below(r, 250);
    switch (bench_rng_below(r, 20)) {
    case 0:
    case 1:
        return bench_strf("198.18.%d.%u", n, host); /* own block / apex /24 */
    case 2:
        return bench_strf("198.18.%d.1", n); /* apex A */
    case 3:
        return bench_strf("198.19.%d.%u", n, 1 + bench_rng_below(r, 2)); /* an MX */
    case 4:
        return bench_strf("198.20.%d.%u", n, 1 + bench_rng_below(r, 2)); /* out. */
    case 5:
        return bench_strf("198.21.%d.%u", n, host);
    case 6:
        return bench_strf("203.0.%d.%u", p, host); /* provider */
    case 7:
        return bench_strf("100.64.%d.%u", p, host);
    case 8:
        return bench_strf("100.66.%d.%u", p, host);
    case 9:
        return bench_strf("100.67.%d.1%u", p, bench_rng_below(r, 2)); /* relay A */
    case 10:
        return bench_strf("2001:db8:%x::%x", n, 1 + bench_rng_below(r, 0x30));
    case 11:
        return bench_strf("2001:db8:100:%x::%x", p, host);
    case 12:
        return bench_strf("2001:db8:ffff::%x", host);
    case 13:
        return strdup("192.0.2.66"); /* listed in _bl for kind 5 */
    default:
        return bench_strf("192.0.2.%u", host); /* unrelated: the default */
    }
}

static void gen_dataset(dataset *ds, size_t nchecks)
{
    bench_rng r;
    size_t i;
    int k;

    memset(ds, 0, sizeof *ds);
    for (k = 0; k < N_PROVIDERS; k++)
        gen_provider(ds, k);
    for (k = 0; k < N_DOMAINS; k++)
        gen_domain(ds, k);

    bench_rng_seed(&r, 0x5f5f5f5fULL);
    ds->q = calloc(nchecks, sizeof *ds->q);
    ds->nq = nchecks;
    for (i = 0; i < nchecks; i++) {
        int n = (int)bench_rng_below(&r, N_DOMAINS);
        ds->q[i].ip = pick_ip(&r, n);
        if (bench_rng_below(&r, 40) == 0) /* no SPF record at all: none */
            ds->q[i].from = bench_strf("user%zu@nodomain%d." DOM, i, n);
        else
            ds->q[i].from = bench_strf("user%zu@d%d." DOM, i, n);
    }
}

static void write_dataset(const dataset *ds, const char *dir)
{
    char *p = bench_strf("%s/rows.tsv", dir);
    FILE *f = fopen(p, "w");
    size_t i;
    if (f == NULL)
        bench_die("cannot write %s", p);
    for (i = 0; i < ds->nrows; i++)
        fprintf(f, "%s\t%s\t%s\n", ds->rows[i].name, ds->rows[i].type, ds->rows[i].value);
    fclose(f);
    free(p);
    p = bench_strf("%s/queries.tsv", dir);
    f = fopen(p, "w");
    if (f == NULL)
        bench_die("cannot write %s", p);
    for (i = 0; i < ds->nq; i++)
        fprintf(f, "%s\t%s\t%s\n", ds->q[i].ip, ds->q[i].from, HELO);
    fclose(f);
    free(p);
}

/* Workers read the files back (the parent's memory is not theirs). */
static void read_dataset(dataset *ds, const char *dir)
{
    char *p = bench_strf("%s/rows.tsv", dir), *text, *line, *save = NULL;
    memset(ds, 0, sizeof *ds);
    text = bench_read_file(p, NULL);
    if (text == NULL)
        bench_die("cannot read %s", p);
    free(p);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *t1 = strchr(line, '\t'), *t2;
        if (t1 == NULL || (t2 = strchr(t1 + 1, '\t')) == NULL)
            bench_die("bad row: %s", line);
        *t1 = *t2 = '\0';
        add_row(ds, line, t1 + 1, strdup(t2 + 1));
    }
    free(text);
    p = bench_strf("%s/queries.tsv", dir);
    text = bench_read_file(p, NULL);
    if (text == NULL)
        bench_die("cannot read %s", p);
    free(p);
    {
        size_t cap = 0;
        save = NULL;
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *t1 = strchr(line, '\t'), *t2;
            if (t1 == NULL || (t2 = strchr(t1 + 1, '\t')) == NULL)
                bench_die("bad query: %s", line);
            *t1 = *t2 = '\0';
            if (ds->nq == cap) {
                cap = cap ? cap * 2 : 1024;
                ds->q = realloc(ds->q, cap * sizeof *ds->q);
            }
            ds->q[ds->nq].ip = strdup(line);
            ds->q[ds->nq].from = strdup(t1 + 1);
            ds->nq++;
        }
    }
    free(text);
}

/* ---- workers -------------------------------------------------------------- */

typedef struct {
    const dataset *ds;
    const char **results;  /* static strings, one per query */
    unsigned long lookups; /* ours: DNS-querying terms over the first pass */
} run_state;

/* Run every check once (results), then whole passes until `seconds` of
 * CPU; returns checks/s over the timed passes. */
typedef const char *(*check_fn)(void *impl, const query *q, unsigned *lookups);

static void time_checks(void *impl, check_fn fn, run_state *st, double seconds, size_t *checks,
                        double *cpu)
{
    size_t i, n = 0;
    double t0, t;
    for (i = 0; i < st->ds->nq; i++) {
        unsigned lk = 0;
        st->results[i] = fn(impl, &st->ds->q[i], &lk);
        st->lookups += lk;
    }
    t0 = bench_cpu_now();
    do {
        for (i = 0; i < st->ds->nq; i++)
            (void)fn(impl, &st->ds->q[i], NULL);
        n += st->ds->nq;
        t = bench_cpu_now() - t0;
    } while (t < seconds);
    *checks = n;
    *cpu = t;
}

/* -- ours -- */

typedef struct {
    sg_zone *zone;
    sg_resolver *res;
    sg_spf_cache *cache;
    sg_arena *arena;
} ours_impl;

static void ours_setup(ours_impl *o, const dataset *ds, int use_cache)
{
    size_t i;
    memset(o, 0, sizeof *o);
    if (sg_zone_new(&o->zone) != 0)
        bench_die("sg_zone_new");
    for (i = 0; i < ds->nrows; i++) {
        const row *rw = &ds->rows[i];
        char *data;
        int rc;
        if (strcmp(rw->type, "TXT") == 0)
            data = bench_strf("\"%s\"", rw->value);
        else if (strcmp(rw->type, "MX") == 0)
            data = bench_strf("%s.", rw->value);
        else
            data = strdup(rw->value);
        rc = sg_zone_add(o->zone, rw->name, rw->type, data, 3600);
        if (rc != 0)
            bench_die("sg_zone_add %s %s %s: %s", rw->name, rw->type, data, sg_strerror(rc));
        free(data);
    }
    if (sg_resolver_new_zone(&o->res, o->zone) != 0)
        bench_die("sg_resolver_new_zone");
    if (use_cache && sg_spf_cache_new(&o->cache, 4096) != 0)
        bench_die("sg_spf_cache_new");
    if (sg_arena_new(&o->arena, 0) != 0)
        bench_die("sg_arena_new");
}

static void ours_request(sg_spf_request *req, const ours_impl *o, const query *q)
{
    sg_spf_request_init(req);
    req->ip = q->ip;
    req->mail_from = q->from;
    req->helo = HELO;
    req->receiver = RECEIVER;
    req->now = 1764000000;
    req->cache = o->cache;
}

static const char *ours_check(void *impl, const query *q, unsigned *lookups)
{
    ours_impl *o = impl;
    sg_spf_request req;
    sg_spf_result res;
    int rc;
    ours_request(&req, o, q);
    rc = sg_spf_check_sync(&res, o->arena, o->res, &req);
    if (rc != 0)
        bench_die("sg_spf_check_sync(%s, %s): %s", q->ip, q->from, sg_strerror(rc));
    if (lookups != NULL)
        *lookups = res.dns_lookups;
    sg_arena_reset(o->arena);
    return sg_spf_result_str(res.result);
}

/* -- ours, asynchronous: ASYNC_IN_FLIGHT checks share the resolver -- */

typedef struct {
    sg_spf_check *check;
    size_t qi;
    int done;
} async_slot;

typedef struct {
    const char **results; /* NULL: timing pass */
    unsigned long *lookups;
    size_t done;
} async_ctx;

typedef struct {
    async_ctx *ctx;
    async_slot *slot;
} async_payload;

static void async_done(const sg_spf_result *r, void *payload)
{
    async_payload *ap = payload;
    if (ap->ctx->results != NULL) {
        ap->ctx->results[ap->slot->qi] = sg_spf_result_str(r->result);
        *ap->ctx->lookups += r->dns_lookups;
    }
    ap->slot->done = 1;
    ap->ctx->done++;
}

static void ours_async_pass(ours_impl *o, const dataset *ds, const char **results,
                            unsigned long *lookups)
{
    async_slot slots[ASYNC_IN_FLIGHT];
    async_payload pay[ASYNC_IN_FLIGHT];
    async_ctx ctx = {results, lookups, 0};
    size_t next = 0, i;

    memset(slots, 0, sizeof slots);
    while (ctx.done < ds->nq) {
        for (i = 0; i < ASYNC_IN_FLIGHT && next < ds->nq; i++) {
            sg_spf_request req;
            if (slots[i].check != NULL)
                continue;
            ours_request(&req, o, &ds->q[next]);
            slots[i].qi = next++;
            slots[i].done = 0;
            pay[i].ctx = &ctx;
            pay[i].slot = &slots[i];
            if (sg_spf_check_start(&slots[i].check, o->res, &req, async_done, &pay[i]) != 0)
                bench_die("sg_spf_check_start");
        }
        if (sg_resolver_run(o->res, 0) < 0)
            bench_die("sg_resolver_run");
        /* a check may not be freed inside its callback */
        for (i = 0; i < ASYNC_IN_FLIGHT; i++) {
            if (slots[i].check != NULL && slots[i].done) {
                sg_spf_check_free(slots[i].check);
                slots[i].check = NULL;
            }
        }
    }
}

/* -- libspf2 -- */

typedef struct {
    SPF_server_t *server;
    SPF_dns_server_t *dns; /* ours (hashed), or NULL when the zone layer is used */
} spf2_impl;

/* The hashed layer: (lower-case name, type) -> an SPF_dns_rr_t built by
 * libspf2's own zone code; lookups hand out a copy, as its zone does. */
typedef struct {
    char *key;
    SPF_dns_rr_t *rr;
} hent;

typedef struct {
    hent *tab;
    size_t cap;
} hzone;

static uint32_t hkey(const char *name, size_t len, int type)
{
    uint32_t h = 2166136261u ^ (uint32_t)type;
    size_t i;
    for (i = 0; i < len; i++)
        h = (h ^ (uint8_t)tolower((unsigned char)name[i])) * 16777619u;
    return h;
}

static SPF_dns_rr_t *hzone_lookup(SPF_dns_server_t *srv, const char *domain, ns_type type,
                                  int should_cache)
{
    hzone *hz = srv->hook;
    size_t len = strlen(domain), i;
    SPF_dns_rr_t *out = NULL;
    if (len > 0 && domain[len - 1] == '.')
        len--;
    for (i = hkey(domain, len, type) & (hz->cap - 1);; i = (i + 1) & (hz->cap - 1)) {
        hent *e = &hz->tab[i];
        if (e->key == NULL)
            break;
        if (e->rr->rr_type == type && strncasecmp(e->key, domain, len) == 0 &&
            e->key[len] == '\0') {
            if (SPF_dns_rr_dup(&out, e->rr) != SPF_E_SUCCESS)
                return NULL;
            return out;
        }
    }
    return SPF_dns_rr_new_nxdomain(srv, domain);
}

static ns_type ns_type_of(const char *t)
{
    if (strcmp(t, "A") == 0)
        return ns_t_a;
    if (strcmp(t, "AAAA") == 0)
        return ns_t_aaaa;
    if (strcmp(t, "MX") == 0)
        return ns_t_mx;
    return ns_t_txt;
}

static void spf2_load_zone(SPF_dns_server_t *zone, const dataset *ds)
{
    size_t i;
    for (i = 0; i < ds->nrows; i++) {
        const row *rw = &ds->rows[i];
        if (SPF_dns_zone_add_str(zone, rw->name, ns_type_of(rw->type), NETDB_SUCCESS, rw->value) !=
            SPF_E_SUCCESS)
            bench_die("SPF_dns_zone_add_str %s", rw->name);
    }
}

static void spf2_setup(spf2_impl *s, const dataset *ds, int hashed)
{
    memset(s, 0, sizeof *s);
    if (!hashed) {
        s->server = SPF_server_new(SPF_DNS_ZONE, 0);
        if (s->server == NULL)
            bench_die("SPF_server_new");
        spf2_load_zone(s->server->resolver, ds);
    } else {
        SPF_dns_server_t *builder = SPF_dns_zone_new(NULL, "builder", 0);
        hzone *hz = calloc(1, sizeof *hz);
        size_t i;
        if (builder == NULL || hz == NULL)
            bench_die("SPF_dns_zone_new");
        spf2_load_zone(builder, ds);
        hz->cap = 8192;
        hz->tab = calloc(hz->cap, sizeof *hz->tab);
        for (i = 0; i < ds->nrows; i++) {
            const row *rw = &ds->rows[i];
            ns_type t = ns_type_of(rw->type);
            size_t len = strlen(rw->name), j;
            int dup = 0;
            for (j = hkey(rw->name, len, t) & (hz->cap - 1); hz->tab[j].key != NULL;
                 j = (j + 1) & (hz->cap - 1)) {
                if (hz->tab[j].rr->rr_type == t && strcasecmp(hz->tab[j].key, rw->name) == 0) {
                    dup = 1;
                    break;
                }
            }
            if (dup)
                continue;
            hz->tab[j].key = strdup(rw->name);
            hz->tab[j].rr = SPF_dns_lookup(builder, rw->name, t, 0);
            if (hz->tab[j].rr == NULL || hz->tab[j].rr->num_rr == 0)
                bench_die("libspf2 builder lost %s", rw->name);
        }
        SPF_dns_free(builder);
        s->dns = calloc(1, sizeof *s->dns);
        s->dns->lookup = hzone_lookup;
        s->dns->name = "hashed";
        s->dns->hook = hz;
        s->server = SPF_server_new_dns(s->dns, 0);
        if (s->server == NULL)
            bench_die("SPF_server_new_dns");
    }
    SPF_server_set_rec_dom(s->server, RECEIVER);
}

static const char *spf2_check(void *impl, const query *q, unsigned *lookups)
{
    spf2_impl *s = impl;
    SPF_request_t *req = SPF_request_new(s->server);
    SPF_response_t *resp = NULL;
    const char *r;
    SPF_errcode_t ec;
    if (strchr(q->ip, ':') != NULL)
        ec = SPF_request_set_ipv6_str(req, q->ip);
    else
        ec = SPF_request_set_ipv4_str(req, q->ip);
    if (ec != SPF_E_SUCCESS)
        bench_die("libspf2: bad ip %s", q->ip);
    SPF_request_set_helo_dom(req, HELO);
    SPF_request_set_env_from(req, q->from);
    SPF_request_query_mailfrom(req, &resp);
    r = resp ? SPF_strresult(SPF_response_result(resp)) : "(null)";
    /* libspf2 spells the error results "temperror"/"permerror" too, but
     * "(invalid)" for SPF_RESULT_INVALID */
    SPF_response_free(resp);
    SPF_request_free(req);
    (void)lookups;
    return r;
}

static int worker(const char *impl, const char *dir, double seconds)
{
    dataset ds;
    run_state st;
    size_t checks = 0, i;
    double cpu = 0;
    char *p;
    FILE *f;
    long rss0;

    read_dataset(&ds, dir);
    memset(&st, 0, sizeof st);
    st.ds = &ds;
    st.results = calloc(ds.nq, sizeof *st.results);
    rss0 = bench_hwm_kb();

    if (strcmp(impl, "ours-cache") == 0 || strcmp(impl, "ours-nocache") == 0) {
        ours_impl o;
        ours_setup(&o, &ds, strcmp(impl, "ours-cache") == 0);
        time_checks(&o, ours_check, &st, seconds, &checks, &cpu);
    } else if (strcmp(impl, "ours-async") == 0) {
        ours_impl o;
        double t0;
        ours_setup(&o, &ds, 1);
        ours_async_pass(&o, &ds, st.results, &st.lookups);
        t0 = bench_cpu_now();
        do {
            ours_async_pass(&o, &ds, NULL, NULL);
            checks += ds.nq;
            cpu = bench_cpu_now() - t0;
        } while (cpu < seconds);
    } else if (strcmp(impl, "libspf2-zone") == 0 || strcmp(impl, "libspf2-hash") == 0) {
        spf2_impl s;
        spf2_setup(&s, &ds, strcmp(impl, "libspf2-hash") == 0);
        time_checks(&s, spf2_check, &st, seconds, &checks, &cpu);
    } else {
        bench_die("unknown worker %s", impl);
    }

    p = bench_strf("%s/results.%s", dir, impl);
    f = fopen(p, "w");
    if (f == NULL)
        bench_die("cannot write %s", p);
    for (i = 0; i < ds.nq; i++)
        fprintf(f, "%s\n", st.results[i]);
    fclose(f);
    free(p);
    printf("checks=%zu cpu=%.6f lookups=%lu rss0=%ld hwm=%ld\n", checks, cpu, st.lookups, rss0,
           bench_hwm_kb());
    return 0;
}

/* ---- parent ------------------------------------------------------------------ */

#define MAX_ROUNDS 9

typedef struct {
    const char *name;
    const char *label;
    int ok;
    double rate; /* median over the rounds */
    double rates[MAX_ROUNDS];
    int nrates;
    long rss_kb;
    size_t disagree;
    unsigned long lookups;
    char **results;
} impl_run;

static char **read_results(const char *dir, const char *impl, size_t n)
{
    char *p = bench_strf("%s/results.%s", dir, impl), *text, *line, *save = NULL;
    char **out;
    size_t i = 0;
    text = bench_read_file(p, NULL);
    free(p);
    if (text == NULL)
        return NULL;
    out = calloc(n, sizeof *out);
    for (line = strtok_r(text, "\n", &save); line && i < n; line = strtok_r(NULL, "\n", &save))
        out[i++] = line;
    for (; i < n; i++)
        out[i] = "(missing)";
    return out;
}

/* One round of one implementation: a fresh worker process. */
static void run_impl(impl_run *ir, const char *dir, double seconds, size_t nq)
{
    char *out = bench_strf("%s/out.%s", dir, ir->name), *secs = bench_strf("%.3f", seconds), *text;
    bench_child ch;
    size_t checks = 0;
    double cpu = 0;
    long rss0 = 0, hwm = -1;

    if (strcmp(ir->name, "pyspf") == 0) {
        char *script = bench_strf("%s/spf_peers.py", bench_script_dir());
        const char *argv[] = {"/usr/bin/python3", script, dir, secs, NULL};
        if (bench_run(argv, out, &ch) != 0)
            bench_die("cannot run python");
        free(script);
    } else {
        const char *argv[] = {bench_self_exe(), "--worker", ir->name, dir, secs, NULL};
        if (bench_run(argv, out, &ch) != 0)
            bench_die("cannot run worker");
    }
    text = bench_read_file(out, NULL);
    if (ch.status != 0 || text == NULL ||
        sscanf(text, "checks=%zu cpu=%lf lookups=%lu rss0=%ld hwm=%ld", &checks, &cpu, &ir->lookups,
               &rss0, &hwm) < 2 ||
        cpu <= 0) {
        fprintf(stderr, "spf_bench: %s failed (status %d): %s\n", ir->name, ch.status,
                text ? text : "");
        ir->ok = -1;
    } else if (ir->ok >= 0) {
        ir->ok = 1;
        ir->rates[ir->nrates++] = (double)checks / cpu;
        /* the worker's own VmHWM: wait4's ru_maxrss would include the
         * forked copy of this process from before the exec */
        if (hwm <= 0)
            hwm = ch.maxrss_kb;
        if (hwm > ir->rss_kb)
            ir->rss_kb = hwm;
        if (ir->results == NULL)
            ir->results = read_results(dir, ir->name, nq);
    }
    free(text);
    free(out);
    free(secs);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr, "usage: spf_bench [--seconds S] [--rounds R] [--checks N] [--keep]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    double seconds = DEFAULT_SECONDS;
    size_t nchecks = DEFAULT_CHECKS, i, j;
    int keep = 0, rounds = DEFAULT_ROUNDS, r;
    dataset ds;
    const char *dir;
    char buf[32];
    impl_run runs[] = {
        {.name = "ours-cache", .label = "spoofguard (record cache)"},
        {.name = "ours-nocache", .label = "spoofguard (no cache)"},
        {.name = "ours-async", .label = "spoofguard (async, 64 in flight, cache)"},
        {.name = "libspf2-hash", .label = "libspf2 (hashed in-memory DNS)"},
        {.name = "libspf2-zone", .label = "libspf2 (its SPF_DNS_ZONE layer)"},
        {.name = "pyspf", .label = "pyspf (dict DNS)"},
    };
    const size_t nruns = sizeof runs / sizeof runs[0];
    impl_run *ref = &runs[0], *spf2 = &runs[3], *py = &runs[5];
    const char *hist_names[] = {"pass", "fail",      "softfail", "neutral",
                                "none", "temperror", "permerror"};
    size_t hist[7] = {0};

    if (argc >= 2 && strcmp(argv[1], "--worker") == 0) {
        if (argc != 5)
            usage();
        return worker(argv[2], argv[3], atof(argv[4]));
    }
    for (i = 1; i < (size_t)argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < (size_t)argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--checks") == 0 && i + 1 < (size_t)argc)
            nchecks = (size_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < (size_t)argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--keep") == 0)
            keep = 1;
        else
            usage();
    }
    if (nchecks == 0 || seconds <= 0 || rounds < 1 || rounds > MAX_ROUNDS)
        usage();

    gen_dataset(&ds, nchecks);
    dir = strdup(bench_tmpdir("sg-spf-bench"));
    write_dataset(&ds, dir);
    printf("SPF benchmark: %d customer domains, %d providers, %zu DNS records, %zu checks;"
           " median of %d rounds of %.2f CPU s per implementation\n",
           N_DOMAINS, N_PROVIDERS, ds.nrows, ds.nq, rounds, seconds);

    /* round-robin, median per implementation: a burst of load from another
     * process then hits every implementation alike */
    for (r = 0; r < rounds; r++)
        for (i = 0; i < nruns; i++)
            run_impl(&runs[i], dir, seconds, ds.nq);
    for (i = 0; i < nruns; i++) {
        impl_run *ir = &runs[i];
        if (ir->ok != 1)
            ir->ok = 0;
        if (ir->ok) {
            qsort(ir->rates, (size_t)ir->nrates, sizeof(double), cmp_double);
            ir->rate = ir->rates[ir->nrates / 2];
        }
    }
    if (!ref->ok)
        bench_die("spoofguard worker failed; no reference results");

    for (i = 0; i < ds.nq; i++) {
        for (j = 0; j < 7; j++) {
            if (strcmp(ref->results[i], hist_names[j]) == 0) {
                hist[j]++;
                break;
            }
        }
    }
    printf("results (spoofguard):");
    for (j = 0; j < 7; j++)
        printf(" %s %zu", hist_names[j], hist[j]);
    printf("; mean DNS-querying terms per check %.2f\n", (double)ref->lookups / (double)ds.nq);

    printf("\n%-42s %14s %22s %12s %14s\n", "implementation", "checks/s", "(rounds: min..max)",
           "peak RSS", "disagreements");
    for (i = 0; i < nruns; i++) {
        impl_run *ir = &runs[i];
        if (!ir->ok) {
            printf("%-42s %14s\n", ir->label, "FAILED");
            continue;
        }
        if (ir != ref) {
            for (j = 0; j < ds.nq; j++)
                if (strcmp(ir->results[j], ref->results[j]) != 0)
                    ir->disagree++;
        }
        {
            char mm[64], b1[32], b2[32];
            snprintf(mm, sizeof mm, "%s..%s", bench_fmt_num(b1, ir->rates[0]),
                     bench_fmt_num(b2, ir->rates[ir->nrates - 1]));
            printf("%-42s %14s %22s %8.1f MiB %14zu\n", ir->label, bench_fmt_num(buf, ir->rate), mm,
                   (double)ir->rss_kb / 1024.0, ir->disagree);
        }
    }
    printf("\n");
    if (spf2->ok)
        printf("ratio spoofguard(cache)/libspf2(hashed DNS)  %6.2fx  (target >= 2x: %s)\n",
               ref->rate / spf2->rate, ref->rate / spf2->rate >= 2.0 ? "MET" : "NOT MET");
    if (spf2->ok)
        printf("ratio spoofguard(no cache)/libspf2(hashed)   %6.2fx\n", runs[1].rate / spf2->rate);
    if (runs[4].ok)
        printf("ratio spoofguard(cache)/libspf2(zone layer)  %6.2fx\n", ref->rate / runs[4].rate);
    if (py->ok)
        printf("ratio spoofguard(cache)/pyspf                %6.2fx\n", ref->rate / py->rate);

    for (i = 1; i < nruns; i++) {
        impl_run *ir = &runs[i];
        size_t shown = 0;
        if (!ir->ok || ir->disagree == 0)
            continue;
        printf("\ndisagreements %s vs spoofguard (%zu; first ones):\n", ir->name, ir->disagree);
        for (j = 0; j < ds.nq && shown < 8; j++) {
            if (strcmp(ir->results[j], ref->results[j]) == 0)
                continue;
            printf("  ip=%s from=%s: spoofguard=%s %s=%s\n", ds.q[j].ip, ds.q[j].from,
                   ref->results[j], ir->name, ir->results[j]);
            shown++;
        }
    }
    /* machine-readable summary for scripts/bench.sh:
     * SUMMARY|what|spoofguard|peer|ratio|target|status */
    printf("\n");
    if (spf2->ok)
        printf("SUMMARY|SPF checks/s vs libspf2 (hashed DNS)|%.0f|%.0f|%.2fx|>= 2x|%s\n", ref->rate,
               spf2->rate, ref->rate / spf2->rate,
               ref->rate / spf2->rate >= 2.0 ? "MET" : "NOT MET");
    if (runs[4].ok)
        printf("SUMMARY|SPF checks/s vs libspf2 (its zone layer)|%.0f|%.0f|%.2fx||\n", ref->rate,
               runs[4].rate, ref->rate / runs[4].rate);
    if (py->ok)
        printf("SUMMARY|SPF checks/s vs pyspf|%.0f|%.0f|%.2fx||\n", ref->rate, py->rate,
               ref->rate / py->rate);
    printf("SUMMARY|SPF peak RSS MiB (ours vs libspf2)|%.1f|%.1f|||\n",
           (double)ref->rss_kb / 1024.0, spf2->ok ? (double)spf2->rss_kb / 1024.0 : 0.0);
    printf("SUMMARY|SPF results differing from ours (libspf2, pyspf)||%zu, %zu|||\n",
           spf2->disagree, py->disagree);
    if (keep)
        printf("data kept in %s\n", dir);
    else
        bench_rmdir(dir);
    return 0;
}
