/* Internal to the daemon: a worker thread's state, shared by server.c and
 * session.c. */
#ifndef SG_DAEMON_WORKER_H
#define SG_DAEMON_WORKER_H

#include <uv.h>

#include <spoofguard/dkim.h>
#include <spoofguard/dns.h>
#include <spoofguard/spf.h>

#include "metrics.h"
#include "server.h"
#include "uvdns.h"

typedef struct sg_worker {
    sg_server *srv;
    int index;
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
     * its place (server.c, listen_exclusive). accept_ep < 0: libuv's own
     * listener above is used. */
    int accept_ep;
    int accept_armed; /* the listener's entry is in the loop's set */
    uv_poll_t accept_poll;
    uv_timer_t accept_pause; /* out of descriptors: retry accepting later */
    sg_resolver *resolver;
    sg_uvdns *uvdns;
    sg_dkim_keycache *keycache;
    sg_spf_cache *spf_cache;
    unsigned nsessions;
    sg_metrics_shard *metrics; /* ours: this thread is its only writer */
    uv_check_t reaper;         /* recycles deferred verdicts after each loop turn */
    struct sg_dead {
        struct sg_verdict *v;
        sg_policy *pol; /* a reference */
    } * dead;
    size_t ndead, capdead;
    /* Verdicts of finished messages, reset, for the next ones: all made for
     * pool_pol (a reference), so their options still hold. */
    struct sg_verdict *pool[8];
    size_t npool;
    sg_policy *pool_pol;
    int draining;
    char readbuf[65536]; /* reads are consumed before the next one */
} sg_worker;

/* Internal server accessors used by sessions. */
sg_policy *sg_server_policy(sg_server *s); /* a new reference */
int sg_server_is_unix(const sg_server *s);
/* Global connection count across workers; returns the count after the
 * change. */
unsigned sg_server_conn_add(sg_server *s, int delta);

/* A verdict made earlier for policy pol, reset for a new message; NULL if
 * there is none (make one). */
struct sg_verdict;
struct sg_verdict *sg_worker_verdict_get(sg_worker *w, const sg_policy *pol);
/* The message of v (made for pol) is over: v is kept for a next message or
 * freed. in_callback: we are inside v's own callback, so this happens once
 * the callback chain has unwound. */
void sg_worker_verdict_done(sg_worker *w, struct sg_verdict *v, sg_policy *pol, int in_callback);

/* Start a session on fd, a connection the worker accepted itself, or
 * (fd < 0) accept one on the worker's libuv listener. */
void sg_session_accept(sg_worker *w, int fd);

#endif
