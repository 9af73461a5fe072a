/*
 * Outbound abuse detection in the daemon (issue 14; docs/outbound-daemon.md):
 * runs the engine (include/spoofguard/outbound.h) on the store the
 * configuration names, one decision per accepted outbound message, and
 * tells of it: one log line, the metrics, and on a block the
 * outbound_notify command.
 *
 * The store: LMDB (a synchronous write transaction of a few microseconds
 * on the worker's thread), or Redis (asynchronous on the worker's loop,
 * obredis.h). When the store fails (Redis away or silent, LMDB full or
 * broken) the decision is counted in memory, shared by the workers, and
 * mail keeps flowing; only if even that fails does the message get the
 * configured fail-safe answer. What was counted in memory (blocks
 * included) is carried into the store once it works again (Redis: every
 * worker back on it) by the main thread's upkeep, on libuv's thread pool
 * (sg_obd_shared_tick).
 */
#ifndef SG_DAEMON_OUTBOUND_H
#define SG_DAEMON_OUTBOUND_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include <spoofguard/outbound.h>

#include "config.h"
#include "dsn.h"
#include "log.h"
#include "metrics.h"
#include "obredis.h"
#include "obops.h"
#include "policy.h"

/* What the workers share (owned by the server). */
typedef struct sg_obd_shared {
    sg_obs *store;    /* LMDB; NULL with Redis */
    sg_obs *memory;   /* the fallback */
    char *redis;      /* redis://..., or NULL */
    char *spill;      /* outbound_spill, or NULL ("none") */
    char *store_path; /* LMDB: its folder, for the log */
    unsigned redis_timeout_ms;
    atomic_int memory_dirty; /* something was counted in memory since the last carry */
    atomic_int spill_dirty;  /* ... since the last spill */
    /* the gauge: Redis, the workers whose Redis is down now; LMDB, 1 while
     * the file refuses writes (sg_obd_shared_tick sets it from the LMDB
     * writes refused and done since the last tick) */
    atomic_int fallback_active;
    atomic_int lmdb_failed, lmdb_written;
    _Atomic int64_t last_notify;
    char hostname[256];
    /* carrying memory into the store (main thread; the work on the pool) */
    int carrying;
    unsigned carry_wait, carry_backoff; /* ticks to skip after a failed carry */
    uv_work_t carry;
    const sg_logger *carry_log;
    int carry_rc;
    size_t carry_records, carry_blocked;
    char carry_err[256];
    /* keeping memory in the spill file during an outage (main thread; the
     * work on the pool, never at the same time as a carry) */
    unsigned spill_every, spill_wait;
    int spilling, spill_rc;
    uv_work_t spill_work;
    char spill_err[256];
    /* LMDB: expiring idle records (main thread; the work on the pool) */
    int sweeping, sweep_rc, sweep_full, sweep_ran;
    const char *sweep_cause;
    unsigned sweep_since; /* ticks since the last sweep began */
    unsigned ttl_s;
    uv_work_t sweep;
    sg_obop_expired swept;
    char sweep_err[256];
    atomic_int stopping; /* a sweep under way stops: the daemon is stopping */
} sg_obd_shared;

/* With cfg->outbound off: nothing opened, every call is a no-op. */
int sg_obd_shared_init(sg_obd_shared *sh, const sg_config *cfg, char *err, size_t errlen);
void sg_obd_shared_free(sg_obd_shared *sh);
/* Main thread, every second: flush LMDB, clear dead readers. */
void sg_obd_shared_maintain(sg_obd_shared *sh);
/* Main thread, every second: when memory holds counts (and, with Redis,
 * every worker is back on it), carry them into the store (sg_obop_drain)
 * on the loop's thread pool; logs outbound_store_merged, or
 * outbound_store_merge_failed and tries again later (2 s, doubling to 64).
 * A carry that took everything removes the spill file. Meanwhile, every
 * outbound_spill_interval seconds with something new counted in memory,
 * memory is written to the spill file on the pool (outbound_spill_failed
 * when it cannot be), so a crash during an outage loses at most that.
 * LMDB: records idle for 90 days (Redis's TTL) are expired on the pool,
 * never a blocked one (sg_obop_expire), at the first tick, every hour, and
 * within a minute of a write that met a full map; logs
 * outbound_store_expired (records removed, or the map was full) or
 * outbound_store_expire_failed. And the gauge: 1 while LMDB refuses
 * writes (a write failed since the last tick, or none has worked since). */
void sg_obd_shared_tick(sg_obd_shared *sh, uv_loop_t *loop, const sg_logger *log);

/* A sweep under way stops at its next step (what it deleted stays
 * deleted): the daemon is draining. */
void sg_obd_shared_stopping(sg_obd_shared *sh);

/* Main thread, before the workers start: outbound_store_created when the
 * LMDB store was made new by this start (an administrator who expected the
 * blocks of a restored store sees it was not there); then what an earlier
 * run left in the spill file (outbound_spill) read into memory, to be
 * carried like any other count; the file stays until that carry has taken
 * everything (a crash before it loses nothing); logs
 * outbound_spill_loaded. A file that cannot be read is renamed PATH.bad
 * and logged (outbound_spill_unreadable): it must not stop the mail. */
void sg_obd_shared_restore(sg_obd_shared *sh, const sg_logger *log);
/* Main thread, once the workers have stopped and no carry runs: what
 * memory still holds uncarried gets one last carry, and if the store
 * still refuses, goes to the spill file (outbound_spill_written, or
 * outbound_spill_failed / outbound_memory_lost when it cannot be kept). */
void sg_obd_shared_finish(sg_obd_shared *sh, const sg_logger *log);

/* One worker's part. */
typedef struct sg_obd {
    sg_obd_shared *sh;
    uv_loop_t *loop;
    const sg_logger *log;
    sg_metrics_shard *m;
    sg_obredis *redis;
} sg_obd;

int sg_obd_init(sg_obd *o, sg_obd_shared *sh, uv_loop_t *loop, const sg_logger *log,
                sg_metrics_shard *m, char *err, size_t errlen);
void sg_obd_close(sg_obd *o); /* before the loop's last run */
void sg_obd_free(sg_obd *o);  /* after it */

/* One message to judge. Everything pointed to stays the caller's until
 * the answer (or sg_obd_cancel). */
typedef struct {
    const sg_config *cfg;
    const char *account;  /* login, or "ip:ADDR" */
    const char *queue_id; /* or NULL */
    sg_ob_message msg;
} sg_obd_ask;

typedef struct {
    sg_ob_decision d;
    const char *store; /* what decided: "lmdb", "redis", "memory" */
    int failed;        /* nothing could decide: give the fail-safe answer */
} sg_obd_result;

typedef void (*sg_obd_cb)(void *payload, const sg_obd_result *res);
typedef struct sg_obd_job sg_obd_job;

/* Returns 0 when decided now (*res), or 1 when the answer comes through
 * cb later (*job: for sg_obd_cancel). */
int sg_obd_decide(sg_obd *o, const sg_obd_ask *ask, sg_obd_cb cb, void *payload, sg_obd_result *res,
                  sg_obd_job **job);
void sg_obd_cancel(sg_obd *o, sg_obd_job *job);

/* The notification's "release" value, JSON-quoted into out: the command
 * that releases account, the login in single quotes when it holds
 * anything a shell would read (an administrator may paste it). outlen:
 * at least SGU_JSON_QUOTED_MAX(SGD_RELEASE_CMD_MAX). */
#define SGD_RELEASE_CMD_MAX (4 * SG_OBS_KEY_MAX + 64) /* each ' is written '\'' */
void sg_obd_release_json(const char *account, char *out, size_t outlen);

/* Evidence besides messages, fire and forget: a sender-ownership refusal
 * (dsn NULL), or a failed recipient of a delivery-status report from
 * outside (counted only for a recipient the account sent to outside our
 * domains - own: the domain of our address the report came to, when the
 * policy lists no internal domains - and at most 2 a day from one
 * reporter: the report's authenticated domain; logged when counted, and a
 * block it trips is told like a message's). queue_id:
 * the report's, for the log (NULL: none). The note keeps a reference to
 * pol until it is written. */
void sg_obd_note(sg_obd *o, sg_policy *pol, const char *account, const sg_dsn_failure *dsn,
                 const char *reporter, const char *own, const char *queue_id);

#endif
