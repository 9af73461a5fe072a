/*
 * The cost of one outbound decision with its store (issue 14: p99 <= 1 ms
 * with LMDB, <= 2 ms with Redis on loopback, >= 5,000 decisions a second):
 * the engine's decide + charge on the account's and the sending domain's
 * records, read and written back atomically, exactly as spoofguardd runs
 * it (src/daemon/outbound.c):
 *   - lmdb: one write transaction per decision (sg_obs_update), the
 *     daemon's flags (no fsync per decision; --sync: fsync each);
 *   - redis: the daemon's asynchronous client (obredis.c) on a libuv loop,
 *     with its version cache: one script run per decision when this
 *     client wrote the records last; --shared-accounts: every thread
 *     writes every account, so most decisions conflict first (the cost of
 *     several hosts sharing accounts).
 *
 *   outbound_store_bench --store DIR|redis://HOST:PORT [--threads N]
 *                        [--decisions N] [--accounts N] [--sync]
 *
 * Each thread (a daemon worker) decides one message at a time; the
 * latency is per decision, wall clock, the store included. Prints p50,
 * p99, p99.9, max, decisions/s over all threads, and peak RSS.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <uv.h>

#include <spoofguard/outbound.h>

#include "log.h"
#include "obops.h"
#include "obredis.h"
#include "obstore.h"

typedef struct {
    int index;
    const char *spec;
    sg_obs *store; /* lmdb: shared */
    size_t decisions, accounts;
    size_t inflight; /* Redis: concurrent decisions on the worker's connection */
    int shared;
    const sg_ob_policy *pol;
    double *lat_us;
    double *cpu_us; /* the thread's CPU time per decision (LMDB): the cost without preemption */
    size_t nlat;
    size_t actions[4];
    int failed;
} worker;

static double cpu_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* One synthetic message: an account, 1-4 recipients of a pool, a clock
 * that moves 0.2 s a message (the accounts keep some headroom). */
typedef struct {
    char login[64], from[96], rcptbuf[4][64];
    const char *rcpts[4];
    sg_ob_message m;
} msg;

static void make_msg(worker *w, size_t i, unsigned *seed, msg *out)
{
    size_t a = (size_t)rand_r(seed) % w->accounts;
    if (w->shared)
        snprintf(out->login, sizeof(out->login), "user%zu@ourco.test", a);
    else
        snprintf(out->login, sizeof(out->login), "t%d-user%zu@ourco.test", w->index, a);
    snprintf(out->from, sizeof(out->from), "%s", out->login);
    size_t n = 1 + (size_t)rand_r(seed) % 4;
    for (size_t k = 0; k < n; k++) {
        snprintf(out->rcptbuf[k], sizeof(out->rcptbuf[k]), "r%u@example%u.test",
                 (unsigned)rand_r(seed) % 500, (unsigned)rand_r(seed) % 50);
        out->rcpts[k] = out->rcptbuf[k];
    }
    out->m = (sg_ob_message){
        .t = 1767225600 + (int64_t)(i / 5),
        .login = out->login,
        .client_ip = "192.0.2.10",
        .mail_from = out->from,
        .rcpts = out->rcpts,
        .nrcpts = n,
        .size = 4000,
    };
}

static void *run_lmdb(void *arg)
{
    worker *w = arg;
    unsigned seed = 1234u + (unsigned)w->index;
    char err[256];
    for (size_t i = 0; i < w->decisions; i++) {
        msg mm;
        make_msg(w, i, &seed, &mm);
        sg_obop op = {.kind = SG_OBOP_DECIDE, .pol = w->pol, .msg = &mm.m};
        double t0 = now_us(), c0 = cpu_now_us();
        if (sg_obop_run(w->store, &op, mm.login, mm.from, err, sizeof(err)) != 0) {
            fprintf(stderr, "decision failed: %s\n", err);
            w->failed = 1;
            return NULL;
        }
        w->cpu_us[w->nlat] = cpu_now_us() - c0;
        w->lat_us[w->nlat++] = now_us() - t0;
        w->actions[op.out.action & 3]++;
    }
    return NULL;
}

/* ---- Redis: the daemon's client on a loop ---- */

/* A worker's loop and connection; its sessions each decide one message at
 * a time, as spoofguardd's sessions on one worker do, so up to inflight
 * decisions share the connection (the daemon pipelines them the same way). */
typedef struct rloop rloop;
typedef struct {
    rloop *l;
    size_t slot;
    sg_obop_recs recs;
    sg_obop op;
    msg mm;
    double t0;
} rsession;

struct rloop {
    worker *w;
    uv_loop_t loop;
    sg_obredis *r;
    rsession *s;
    size_t started, done, live;
    unsigned seed;
    uv_timer_t start;
};

static void next_decision(rsession *s);

static void finish(rloop *l)
{
    if (l->live == 0 && l->r != NULL) {
        sg_obredis_close(l->r);
        l->r = NULL;
    }
}

static void redis_done(void *payload, int status)
{
    rsession *s = payload;
    rloop *l = s->l;
    l->live--;
    if (status != 0) {
        fprintf(stderr, "redis decision failed\n");
        l->w->failed = 1;
        finish(l);
        return;
    }
    l->w->lat_us[l->w->nlat++] = now_us() - s->t0;
    l->w->actions[s->op.out.action & 3]++;
    l->done++;
    if (l->started < l->w->decisions && !l->w->failed)
        next_decision(s);
    finish(l);
}

static void next_decision(rsession *s)
{
    rloop *l = s->l;
    make_msg(l->w, l->started++, &l->seed, &s->mm);
    /* the sessions of one worker write different accounts (the slot in
     * the login), as concurrent messages mostly do */
    if (l->w->inflight > 1 && !l->w->shared) {
        char login[64];
        snprintf(login, sizeof(login), "s%zu-%s", s->slot, s->mm.login);
        snprintf(s->mm.login, sizeof(s->mm.login), "%s", login);
        snprintf(s->mm.from, sizeof(s->mm.from), "%s", login);
    }
    s->op = (sg_obop){.kind = SG_OBOP_DECIDE, .pol = l->w->pol, .msg = &s->mm.m};
    sg_obop_recs_init(&s->recs, s->mm.login, s->mm.from);
    s->t0 = now_us();
    l->live++;
    if (sg_obredis_update(l->r, s->recs.rec, s->recs.n, sg_obop_fn, &s->op, redis_done, s) == 0) {
        fprintf(stderr, "redis is down\n");
        l->live--;
        l->w->failed = 1;
        finish(l);
    }
}

/* the client connects on the loop: start once it is up */
static void on_start(uv_timer_t *t)
{
    rloop *l = t->data;
    uv_close((uv_handle_t *)t, NULL);
    for (size_t i = 0; i < l->w->inflight && l->started < l->w->decisions && !l->w->failed; i++)
        next_decision(&l->s[i]);
}

static void *run_redis(void *arg)
{
    worker *w = arg;
    rloop *l = calloc(1, sizeof(*l));
    sg_logger log = {.fd = 2};
    atomic_int down;
    char err[256];
    atomic_init(&down, 0);
    l->w = w;
    l->seed = 1234u + (unsigned)w->index;
    l->s = calloc(w->inflight, sizeof(*l->s));
    for (size_t i = 0; i < w->inflight; i++)
        l->s[i] = (rsession){.l = l, .slot = i};
    uv_loop_init(&l->loop);
    if (sg_obredis_new(&l->r, &l->loop, w->spec, 2000, 3600, &log, &down, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        w->failed = 1;
        return NULL;
    }
    sg_obredis *r = l->r;
    uv_timer_init(&l->loop, &l->start);
    l->start.data = l;
    uv_timer_start(&l->start, on_start, 50, 0);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    uv_loop_close(&l->loop);
    sg_obredis_free(r);
    free(l->s);
    free(l);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *spec = NULL;
    size_t threads = 2, decisions = 50000, accounts = 2000, inflight = 1;
    int sync = 0, shared = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--store") && i + 1 < argc)
            spec = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--decisions") && i + 1 < argc)
            decisions = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--accounts") && i + 1 < argc)
            accounts = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--inflight") && i + 1 < argc)
            inflight = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--sync"))
            sync = 1;
        else if (!strcmp(argv[i], "--shared-accounts"))
            shared = 1;
        else {
            fprintf(stderr,
                    "usage: outbound_store_bench --store DIR|redis://HOST:PORT [--threads N] "
                    "[--decisions N] [--accounts N] [--inflight N] [--sync] [--shared-accounts]\n");
            return 2;
        }
    }
    if (spec == NULL || threads == 0 || threads > 64 || accounts == 0 || inflight == 0 ||
        inflight > 256)
        return 2;
    int redis = !strncmp(spec, "redis://", 8);
    sg_ob_policy *pol;
    sg_obs *store = NULL;
    char err[256];
    if (sg_ob_policy_new(&pol) != 0 || sg_ob_policy_add_internal_domain(pol, "ourco.test") != 0)
        return 4;
    if (!redis) {
        sg_obs_opts o;
        sg_obs_opts_init(&o);
        o.sync = sync;
        if (sg_obs_open(&store, spec, &o, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            return 4;
        }
    }
    worker *ws = calloc(threads, sizeof(*ws));
    pthread_t *th = calloc(threads, sizeof(*th));
    size_t per = decisions / threads;
    for (size_t i = 0; i < threads; i++) {
        ws[i] = (worker){.index = (int)i,
                         .spec = spec,
                         .store = store,
                         .decisions = per,
                         .accounts = accounts,
                         .inflight = inflight,
                         .shared = shared,
                         .pol = pol};
        ws[i].lat_us = malloc(per * sizeof(double));
        ws[i].cpu_us = malloc(per * sizeof(double));
    }
    double t0 = now_us();
    for (size_t i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, redis ? run_redis : run_lmdb, &ws[i]);
    for (size_t i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double wall = (now_us() - t0) / 1e6;
    size_t n = 0, act[4] = {0};
    for (size_t i = 0; i < threads; i++) {
        if (ws[i].failed)
            return 1;
        n += ws[i].nlat;
        for (int k = 0; k < 4; k++)
            act[k] += ws[i].actions[k];
    }
    double *all = malloc(n * sizeof(double));
    size_t p = 0;
    for (size_t i = 0; i < threads; i++) {
        memcpy(all + p, ws[i].lat_us, ws[i].nlat * sizeof(double));
        p += ws[i].nlat;
    }
    qsort(all, n, sizeof(double), cmp);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
#define PCT(q) all[(size_t)((double)(n - 1) * (q))]
    printf("store=%s%s threads=%zu inflight=%zu decisions=%zu accounts=%zu%s\n",
           redis ? "redis" : "lmdb", !redis && sync ? "(sync)" : "", threads, redis ? inflight : 1,
           n, accounts, shared ? " shared" : "");
    printf("latency_us p50=%.1f p99=%.1f p99.9=%.1f max=%.1f\n", PCT(0.50), PCT(0.99), PCT(0.999),
           all[n - 1]);
    if (!redis) {
        p = 0;
        for (size_t i = 0; i < threads; i++) {
            memcpy(all + p, ws[i].cpu_us, ws[i].nlat * sizeof(double));
            p += ws[i].nlat;
        }
        qsort(all, n, sizeof(double), cmp);
        printf("cpu_us     p50=%.1f p99=%.1f p99.9=%.1f max=%.1f\n", PCT(0.50), PCT(0.99),
               PCT(0.999), all[n - 1]);
    }
    printf("decisions_per_s=%.0f wall_s=%.2f peak_rss_mb=%.1f\n", (double)n / wall, wall,
           (double)ru.ru_maxrss / 1024.0);
    printf("actions allow=%zu throttle=%zu hold=%zu block=%zu\n", act[0], act[1], act[2], act[3]);
    for (size_t i = 0; i < threads; i++) {
        free(ws[i].lat_us);
        free(ws[i].cpu_us);
    }
    free(ws);
    free(th);
    free(all);
    sg_obs_close(store);
    sg_ob_policy_free(pol);
    return 0;
}
