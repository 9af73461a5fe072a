/*
 * One milter session (session.c): what it is given when the worker accepts
 * the connection, so it never calls back up into the worker or the server.
 */
#ifndef SG_DAEMON_SESSION_H
#define SG_DAEMON_SESSION_H

#include <uv.h>

#include <spoofguard/dkim.h>
#include <spoofguard/dns.h>
#include <spoofguard/spf.h>

#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "verdict_pool.h"

/* The worker's part, the same for each of its sessions (borrowed; it
 * outlives them). */
typedef struct sg_session_env {
    uv_loop_t *loop;
    uv_stream_t *listener; /* libuv's listener, for sg_session_accept(fd < 0) */
    int is_unix;           /* the listener is a unix socket (else TCP) */
    const sg_logger *log;
    sg_metrics_shard *metrics; /* the worker's: its thread is the only writer */
    sg_resolver *resolver;
    sg_dkim_keycache *keycache;
    sg_spf_cache *spf_cache;
    sg_vpool *vpool;
    struct sg_signer_client *signer; /* the worker's channel to the signer */
    struct sg_obd *obd;              /* outbound abuse detection, or NULL when off */
    char *readbuf;                   /* reads are consumed before the next one */
    size_t readbuf_size;
    /* called once per sg_session_accept, when that session (or the failed
     * accept) is over */
    void (*closed)(void *payload);
    void *payload;
    struct sg_rcollect *reports; /* DMARC report collection (report_store), or NULL */
    unsigned worker_index;       /* this worker's table in reports */
} sg_session_env;

/* Start a session on fd, a connection the worker accepted itself, or
 * (fd < 0) accept one on env->listener. pol: a reference the session takes
 * over. conns: connections open across workers, this one included (over
 * max_connections every message gets the fail-safe answer). */
void sg_session_accept(const sg_session_env *env, sg_policy *pol, unsigned conns, int fd);

#endif
