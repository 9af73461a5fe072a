/*
 * A worker thread: one libuv loop with its own resolver and caches, so
 * every core is used without a thread per connection. It accepts on the
 * shared listening socket, hands each connection to a session with what
 * the session needs, and drains on SIGTERM (see worker.h).
 */
/* accept4 */
#define _GNU_SOURCE
#include "signer_client.h"
#include "worker.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#ifdef __linux__
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif
#include <unistd.h>

/* Every DNS answer a worker's checks get (its own thread). */
static void on_dns_answer(const sg_dns_answer *a, int from_cache, uint64_t us, void *payload)
{
    sg_metrics_shard *m = payload;
    SG_MC_INC_AT(m->dns[from_cache ? 1 : 0], a->status);
    if (!from_cache)
        sg_mhist_observe(&m->dns_latency, us);
}

/* ------------------------------------------------------------------------ */
/* accept                                                                    */

static void accept_one(sg_worker *w, int fd)
{
    w->nsessions++;
    unsigned total = atomic_fetch_add(&w->sh->conns, 1) + 1;
    unsigned swaps = sg_policy_slot_swaps(&w->sh->policy);
    sg_session_accept(&w->env, sg_policy_slot_get(&w->sh->policy), swaps, total, fd);
}

/* A session is over (sg_session_env.closed). */
static void on_session_closed(void *payload)
{
    sg_worker *w = payload;
    w->nsessions--;
    atomic_fetch_sub(&w->sh->conns, 1);
    if (w->draining && w->nsessions == 0)
        uv_stop(&w->loop);
}

static void on_connection(uv_stream_t *l, int status)
{
    sg_worker *w = l->data;
    if (status == 0 && !w->draining)
        accept_one(w, -1);
}

#ifdef EPOLLEXCLUSIVE
static void on_accept_ready(uv_poll_t *p, int status, int events);

/* Add (on) or remove the listener's entry in the loop's epoll set. It is
 * tagged with accept_ep's number, which libuv watches through accept_poll,
 * so libuv hands its events to on_accept_ready. It must be removed before
 * accept_poll stops or closes: an event for a descriptor libuv no longer
 * watches makes libuv delete that descriptor's entry, not ours, and a
 * level-triggered entry left behind would fire at every loop turn. */
static int accept_arm(sg_worker *w, int on)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE};
    if (w->accept_armed == on)
        return 0;
    ev.data.fd = w->accept_ep;
    if (epoll_ctl(uv_backend_fd(&w->loop), on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, w->sh->listen_fd,
                  &ev) != 0)
        return -1;
    w->accept_armed = on;
    return 0;
}

static void on_accept_resume(uv_timer_t *t)
{
    sg_worker *w = t->data;
    if (w->listening) {
        uv_poll_start(&w->accept_poll, UV_READABLE, on_accept_ready);
        (void)accept_arm(w, 1);
    }
}

/* One accept per wake-up: the set is level-triggered, so a backlog brings
 * us back, and the usual case costs no accept that finds nothing. */
static void on_accept_ready(uv_poll_t *p, int status, int events)
{
    sg_worker *w = p->data;
    (void)events;
    if (status < 0 || w->draining)
        return;
    int fd = accept4(w->sh->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
        w->accept_paused = 0;
        accept_one(w, fd);
    } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        /* the connection stays queued: poll again in a while rather than
         * spin on a socket that stays readable. Said once a pause, and
         * counted: the MTA only sees its milter time out (adv16 F4). */
        if (!w->accept_paused)
            sg_log(&w->sh->log, "{\"event\":\"accept_paused\",\"worker\":%d,\"why\":\"%s\"}",
                   w->index, strerror(errno));
        w->accept_paused = 1;
        sg_mc_inc(&w->metrics->accept_pauses, 1);
        (void)accept_arm(w, 0);
        uv_poll_stop(&w->accept_poll);
        uv_timer_start(&w->accept_pause, on_accept_resume, 100, 0);
    }
}

/* The exclusive listener; -1 (nothing changed) if the kernel refuses.
 * EPOLLEXCLUSIVE must be on the entry in the epoll set the thread sleeps
 * in: the kernel stops waking at the first exclusive entry whose set has
 * a thread waiting in epoll_wait. Through a set of its own nested in the
 * loop's (how this was done before), no thread ever waits in the nested
 * set itself, so every worker's loop was woken for every connection (0.6
 * to 0.8 accept4 finding nothing a message, strace). libuv cannot add an
 * entry that way, hence accept_arm() with an eventfd nobody writes
 * standing for the listener in libuv's books. */
static int listen_exclusive(sg_worker *w)
{
    if (uv_backend_fd(&w->loop) < 0)
        return -1;
    int tag = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (tag < 0)
        return -1;
    w->accept_ep = tag;
    /* armed first: a refused EPOLLEXCLUSIVE leaves no poll handle on a
     * closed descriptor behind */
    if (accept_arm(w, 1) != 0 || uv_poll_init(&w->loop, &w->accept_poll, tag) != 0) {
        (void)accept_arm(w, 0);
        close(tag);
        w->accept_ep = -1;
        return -1;
    }
    w->accept_poll.data = w;
    uv_timer_init(&w->loop, &w->accept_pause);
    w->accept_pause.data = w;
    uv_poll_start(&w->accept_poll, UV_READABLE, on_accept_ready);
    return 0;
}
#endif

/* ------------------------------------------------------------------------ */
/* drain                                                                     */

/* Sessions that outlive the drain deadline are cut: the MTA then applies
 * its own milter_default_action for them. */
#define DRAIN_DEADLINE_MS 30000

static void on_drain_deadline(uv_timer_t *t)
{
    sg_worker *w = t->data;
    uv_stop(&w->loop);
}

static void on_wake(uv_async_t *a)
{
    sg_worker *w = a->data;
    if (!atomic_load(&w->sh->draining) || w->draining)
        return;
    w->draining = 1;
    uv_timer_init(&w->loop, &w->drain_timer);
    w->drain_timer.data = w;
    uv_timer_start(&w->drain_timer, on_drain_deadline, DRAIN_DEADLINE_MS, 0);
    if (w->listening) {
        w->listening = 0;
        if (w->accept_ep >= 0) {
            (void)accept_arm(w, 0);
            uv_close((uv_handle_t *)&w->accept_poll, NULL);
            uv_close((uv_handle_t *)&w->accept_pause, NULL);
        } else {
            uv_close(&w->listener.handle, NULL);
        }
    }
    if (w->nsessions == 0)
        uv_stop(&w->loop);
}

void sg_worker_drain(sg_worker *w)
{
    uv_async_send(&w->wake);
}

/* ------------------------------------------------------------------------ */
/* the worker                                                                */

/* SCHED_BATCH (batch_scheduling): the MTA writes a milter stage in one or
 * more packets and then blocks on our answer or on its client. Under the
 * default policy each packet's wake-up preempts the writer on its CPU, so
 * we run, find half of what is coming and sleep again: over a unix socket
 * the accept and the MTA's first packet were two wake-ups a message.
 * Without wake-up preemption the writer finishes first. Measured with
 * bench/milter_load.sh (bench/README.md, issue 11 fourth pass). */
static void set_batch(sg_worker *w)
{
#ifdef SCHED_BATCH
    struct sched_param sp = {0};
    int pol;
    /* already so: the packaged unit's CPUSchedulingPolicy=batch, its
     * system call filter leaving us no sched_setscheduler */
    if (pthread_getschedparam(pthread_self(), &pol, &sp) == 0 && pol == SCHED_BATCH)
        return;
    sp.sched_priority = 0;
    int rc = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    if (rc != 0)
        sg_log(&w->sh->log,
               "{\"event\":\"batch_scheduling_failed\",\"worker\":%d,\"error\":\"%s\"}", w->index,
               strerror(rc));
#else
    (void)w;
#endif
}

static void worker_main(void *arg)
{
    sg_worker *w = arg;
    char name[16];
    /* named for top -H, ps -L, gdb and a stalled worker's report (the
     * log's "worker" is the same number) */
    snprintf(name, sizeof(name), "sg-worker-%u", (unsigned)w->index % 100000u);
    (void)pthread_setname_np(pthread_self(), name);
    if (w->batch)
        set_batch(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

static void on_beat(uv_timer_t *t)
{
    sg_worker *w = t->data;
    uint64_t waited = sg_signer_client_waited(w->signer);
    atomic_store_explicit(&w->signer_wait_ms, waited > UINT_MAX ? UINT_MAX : (unsigned)waited,
                          memory_order_relaxed);
    atomic_store_explicit(&w->signer_answers, (unsigned)sg_signer_client_answers(w->signer),
                          memory_order_relaxed);
    atomic_fetch_add_explicit(&w->beat, 1, memory_order_relaxed);
}

void sg_worker_start(sg_worker *w, unsigned beat_ms)
{
    /* before the thread exists: nothing else touches its loop yet */
    uv_timer_start(&w->beat_timer, on_beat, beat_ms, beat_ms);
    uv_thread_create(&w->thread, worker_main, w);
}

void sg_worker_join(sg_worker *w)
{
    uv_thread_join(&w->thread);
}

/* Parsed SPF records kept per worker: a busy MX sees a few thousand
 * sending domains an hour. */
#define SPF_CACHE_ENTRIES 10000

int sg_worker_init(sg_worker *w, sg_worker_shared *sh, sg_metrics_shard *metrics, int index,
                   char *err, size_t errlen)
{
    const sg_config *cfg = &sh->policy.cur->cfg;
    sg_resolver_opts ro;
    w->index = index;
    w->batch = cfg->batch_scheduling;
    w->accept_ep = -1;
    if (uv_loop_init(&w->loop) != 0)
        goto fail;
    w->sh = sh; /* from here on sg_worker_destroy has a loop to clean up */
    sg_resolver_opts_init(&ro);
    ro.servers = cfg->dns_servers;
    ro.timeout_ms = cfg->dns_timeout_ms;
    ro.tries = cfg->dns_tries;
    int rc = sg_resolver_new_net(&w->resolver, &ro);
    if (rc != 0) {
        snprintf(err, errlen, "DNS resolver: %s", sg_strerror(rc));
        return -1;
    }
    w->metrics = metrics;
    if (sg_signer_client_new(&w->signer, &w->loop, sh->signer_fds[1 + index]) != 0)
        goto fail;
    sh->signer_fds[1 + index] = -1; /* the client's now */
    (void)sg_resolver_observe(w->resolver, on_dns_answer, w->metrics);
    if (sg_uvdns_new(&w->uvdns, &w->loop, w->resolver) != 0 ||
        sg_dkim_keycache_new(&w->keycache, 0) != 0 ||
        sg_spf_cache_new(&w->spf_cache, SPF_CACHE_ENTRIES) != 0)
        goto fail;
    if (cfg->outbound) {
        if (sg_obd_init(&w->obd, &sh->ob, &w->loop, &sh->log, w->metrics, err, errlen) != 0)
            return -1;
        w->obd_live = 1;
    }
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->wake.data = w;
    uv_timer_init(&w->loop, &w->beat_timer);
    w->beat_timer.data = w;
    uv_unref((uv_handle_t *)&w->beat_timer); /* liveness only, it keeps no loop running */
    sg_vpool_init(&w->vpool, &w->loop);
    w->env = (sg_session_env){
        .loop = &w->loop,
        .listener = &w->listener.stream,
        .is_unix = sh->is_unix,
        .log = &sh->log,
        .metrics = w->metrics,
        .resolver = w->resolver,
        .keycache = w->keycache,
        .spf_cache = w->spf_cache,
        .vpool = &w->vpool,
        .signer = w->signer,
        .obd = w->obd_live ? &w->obd : NULL,
        .readbuf = w->readbuf,
        .readbuf_size = sizeof(w->readbuf),
        .closed = on_session_closed,
        .payload = w,
        .policy = &sh->policy,
        .reports = sh->reports,
        .worker_index = (unsigned)index,
    };

#ifdef EPOLLEXCLUSIVE
    if (listen_exclusive(w) == 0) {
        w->listening = 1;
        return 0;
    }
#endif
    int fd = dup(sh->listen_fd);
    if (fd < 0)
        goto fail;
    if (sh->is_unix) {
        uv_pipe_init(&w->loop, &w->listener.pipe, 0);
        rc = uv_pipe_open(&w->listener.pipe, fd);
    } else {
        uv_tcp_init(&w->loop, &w->listener.tcp);
        rc = uv_tcp_open(&w->listener.tcp, fd);
    }
    w->listener.handle.data = w;
    if (rc != 0 || uv_listen(&w->listener.stream, 1024, on_connection) != 0) {
        snprintf(err, errlen, "listener: %s", uv_strerror(rc));
        return -1;
    }
    w->listening = 1;
    return 0;
fail:
    snprintf(err, errlen, "worker set-up failed (out of memory or descriptors)");
    return -1;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void sg_worker_destroy(sg_worker *w)
{
    if (w->sh == NULL)
        return;
    if (w->uvdns)
        sg_uvdns_close(w->uvdns);
    sg_vpool_destroy(&w->vpool);
    if (w->obd_live)
        sg_obd_close(&w->obd);
#ifdef EPOLLEXCLUSIVE
    if (w->accept_ep >= 0)
        (void)accept_arm(w, 0); /* before accept_poll closes */
#endif
    uv_walk(&w->loop, close_walk, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    if (w->obd_live)
        sg_obd_free(&w->obd);
    if (w->accept_ep >= 0)
        close(w->accept_ep); /* after its poll handle is closed */
    sg_resolver_free(w->resolver);
    sg_dkim_keycache_free(w->keycache);
    sg_spf_cache_free(w->spf_cache);
    sg_signer_client_free(w->signer);
}
