/*
 * What a milter session (session.h) is given by its worker, apart from
 * its header so that the session's own files (session_priv.h) see it
 * without depending on the session's entry point.
 */
#ifndef SG_DAEMON_SESSION_ENV_H
#define SG_DAEMON_SESSION_ENV_H

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
    struct sg_policy_slot *policy; /* messages renew their snapshot here; NULL: never */
    struct sg_rcollect *reports;   /* DMARC report collection (report_store), or NULL */
    unsigned worker_index;         /* this worker's table in reports */
} sg_session_env;

#endif
