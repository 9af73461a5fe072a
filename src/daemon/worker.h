/*
 * A worker thread (worker.c): its own libuv loop, resolver and caches,
 * accepting milter connections from the shared listening socket and
 * draining on request. One connection is one session (session.c).
 */
#ifndef SG_DAEMON_WORKER_H
#define SG_DAEMON_WORKER_H

#include <stdatomic.h>
#include <uv.h>

#include <spoofguard/dkim.h>
#include <spoofguard/dns.h>
#include <spoofguard/spf.h>

#include "log.h"
#include "metrics.h"
#include "outbound.h"
#include "policy.h"
#include "session.h"
#include "uvdns.h"
#include "verdict_pool.h"

/* What the workers share, owned by the server (server.c). */
typedef struct sg_worker_shared {
    sg_policy_slot policy; /* the current snapshot */
    sg_logger log;
    int listen_fd;
    int is_unix;
    atomic_uint conns; /* open connections across workers */
    atomic_int draining;
    int *signer_fds;             /* [1 + i]: worker i's channel to the signer, until it takes it */
    sg_obd_shared ob;            /* outbound abuse detection: the store */
    struct sg_rcollect *reports; /* DMARC report collection, or NULL (report_store unset) */
} sg_worker_shared;

typedef struct sg_worker {
    sg_worker_shared *sh;
    int index;
    int batch; /* batch_scheduling: set on the thread at its start */
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wake; /* the main thread asks us to drain */
    uv_timer_t drain_timer;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
        uv_handle_t handle;
    } listener;
    int listening;
    /* Linux: the listening socket sits in the loop's epoll set with
     * EPOLLEXCLUSIVE, so a new connection wakes one idle worker instead of
     * every worker (all but one would find nothing to accept). Its entry
     * is tagged with accept_ep, an eventfd libuv watches (accept_poll) in
     * its place (worker.c, listen_exclusive). accept_ep < 0: libuv's own
     * listener above is used. */
    int accept_ep;
    int accept_armed; /* the listener's entry is in the loop's set */
    uv_poll_t accept_poll;
    uv_timer_t accept_pause; /* out of descriptors: retry accepting later */
    int accept_paused;       /* since the last accept that worked (logged once) */
    sg_resolver *resolver;
    sg_uvdns *uvdns;
    sg_dkim_keycache *keycache;
    sg_spf_cache *spf_cache;
    unsigned nsessions;
    sg_metrics_shard *metrics;       /* ours: this thread is its only writer */
    struct sg_signer_client *signer; /* our channel to the signer process */
    sg_vpool vpool;
    sg_obd obd; /* outbound abuse detection (obd_live: set up) */
    int obd_live;
    sg_session_env env; /* what each session gets at accept */
    int draining;
    /* Liveness. beat_timer counts `beat` up while this loop turns; the
     * main thread (server.c, on_watchdog) reads it, and withholds
     * systemd's watchdog ping while it stands still: the main loop carries
     * no mail, so its own pings alone would keep a unit whose workers are
     * wedged (a loop in a parser, a deadlock) looking healthy. */
    uv_timer_t beat_timer;
    atomic_uint beat;
    /* and at each beat, how long (ms) this worker's oldest request to the
     * signer process has waited (sg_signer_client_waited), and how many
     * answers it has had from it (wrapping) */
    atomic_uint signer_wait_ms;
    atomic_uint signer_answers;
    unsigned seen_beat;  /* main thread only: beat at its last change, */
    uint64_t seen_at;    /* when that was (main loop's uv_now), */
    int stalled;         /* and worker_stalled logged since */
    char readbuf[65536]; /* reads are consumed before the next one */
} sg_worker;

/* Sets up w (in place: sessions keep pointers into it) on the shared
 * listening socket; on failure err says why and sg_worker_destroy cleans up. */
int sg_worker_init(sg_worker *w, sg_worker_shared *sh, sg_metrics_shard *metrics, int index,
                   char *err, size_t errlen);
/* Runs the worker's loop on its own thread, counting w->beat up every
 * beat_ms milliseconds while the loop turns. */
void sg_worker_start(sg_worker *w, unsigned beat_ms);
/* From the main thread, once sh->draining is set: stop accepting, end once
 * every session has (or after a deadline). */
void sg_worker_drain(sg_worker *w);
void sg_worker_join(sg_worker *w);
void sg_worker_destroy(sg_worker *w);

#endif
