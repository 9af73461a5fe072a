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
    sg_resolver *resolver;
    sg_uvdns *uvdns;
    sg_dkim_keycache *keycache;
    sg_spf_cache *spf_cache;
    unsigned nsessions;
    sg_metrics_shard *metrics; /* ours: this thread is its only writer */
    uv_check_t reaper;         /* frees deferred verdicts after each loop turn */
    struct sg_verdict **dead;
    size_t ndead, capdead;
    int draining;
    char readbuf[65536]; /* reads are consumed before the next one */
} sg_worker;

/* Internal server accessors used by sessions. */
sg_policy *sg_server_policy(sg_server *s); /* a new reference */
int sg_server_is_unix(const sg_server *s);
/* Global connection count across workers; returns the count after the
 * change. */
unsigned sg_server_conn_add(sg_server *s, int delta);

/* Free a verdict once the current callback chain has unwound (a verdict
 * must not be freed from inside its own callback). */
struct sg_verdict;
void sg_worker_defer_free(sg_worker *w, struct sg_verdict *v);

/* Accept one connection on the worker's listener and start its session. */
void sg_session_accept(sg_worker *w);

#endif
