/*
 * Outbound abuse detection in the daemon (outbound.h).
 */
#include "outbound.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "obops.h"

struct sg_obd_job {
    sg_obd *o;
    sg_obd_cb cb;
    void *payload;
    uint64_t redis_id;
    int cancelled;
    uint64_t t0; /* uv_hrtime */
    sg_obop op;
    sg_ob_message msg;
    const sg_config *cfg;
    sg_policy *pol; /* notes: a reference, held until written */
    char account[SG_OBS_KEY_MAX + 1];
    char queue_id[64];
    char client[64];
    sg_dsn_failure dsn; /* a note of a report */
    char reporter[256]; /* its authenticated domain */
    char own[256];      /* the domain of our address it came to */
    const char *dsn_rcpts[2];
    sg_obop_recs recs;
};

/* ------------------------------------------------------------------------ */
/* shared                                                                    */

int sg_obd_shared_init(sg_obd_shared *sh, const sg_config *cfg, char *err, size_t errlen)
{
    memset(sh, 0, sizeof(*sh));
    atomic_init(&sh->fallback_active, 0);
    atomic_init(&sh->memory_dirty, 0);
    atomic_init(&sh->spill_dirty, 0);
    sh->spill_every = sh->spill_wait = cfg->outbound_spill_interval;
    atomic_init(&sh->last_notify, 0);
    atomic_init(&sh->lmdb_failed, 0);
    atomic_init(&sh->lmdb_written, 0);
    atomic_init(&sh->stopping, 0);
    if (gethostname(sh->hostname, sizeof(sh->hostname) - 1) != 0)
        strcpy(sh->hostname, "localhost");
    if (!cfg->outbound)
        return 0;
    if (cfg->outbound_spill && strcmp(cfg->outbound_spill, "none") != 0 &&
        (sh->spill = strdup(cfg->outbound_spill)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sg_obs_opts so;
    sg_obs_opts_init(&so);
    so.map_size = cfg->outbound_store_map_size;
    so.sync = cfg->outbound_store_sync;
    so.timeout_ms = cfg->outbound_redis_timeout_ms;
    sh->ttl_s = so.ttl_s;
    char e[256];
    if (sg_obs_open(&sh->memory, "memory:", &so, e, sizeof(e)) != 0) {
        snprintf(err, errlen, "outbound: %s", e);
        return -1;
    }
    if (!strncmp(cfg->outbound_store, "redis://", 8)) {
        char host[256];
        int port, db;
        if (sg_obs_redis_url(cfg->outbound_store, host, sizeof(host), &port, &db, e, sizeof(e)) !=
                0 ||
            (sh->redis = strdup(cfg->outbound_store)) == NULL) {
            snprintf(err, errlen, "outbound_store: %s", e);
            sg_obd_shared_free(sh);
            return -1;
        }
        sh->redis_timeout_ms = cfg->outbound_redis_timeout_ms;
        return 0;
    }
    if ((sh->store_path = strdup(cfg->outbound_store)) == NULL) {
        snprintf(err, errlen, "out of memory");
        sg_obd_shared_free(sh);
        return -1;
    }
    if (sg_obs_open(&sh->store, cfg->outbound_store, &so, e, sizeof(e)) != 0) {
        snprintf(err, errlen, "outbound_store: %s", e);
        sg_obd_shared_free(sh);
        return -1;
    }
    return 0;
}

void sg_obd_shared_free(sg_obd_shared *sh)
{
    sg_obs_close(sh->store);
    sg_obs_close(sh->memory);
    free(sh->redis);
    free(sh->spill);
    free(sh->store_path);
    sh->store = sh->memory = NULL;
    sh->redis = sh->spill = sh->store_path = NULL;
}

void sg_obd_shared_maintain(sg_obd_shared *sh)
{
    if (sh->store)
        sg_obs_maintain(sh->store);
}

/* On the pool: every memory record into the store. Redis through a
 * connection of its own (the workers' are asynchronous and live on their
 * loops); LMDB through the shared handle, as one more writer. */
static void carry_work(uv_work_t *w)
{
    sg_obd_shared *sh = w->data;
    sg_obs_opts so;
    sg_obs *redis = NULL;
    sg_obop_drained d = {0};
    sg_obs_opts_init(&so);
    so.timeout_ms = sh->redis_timeout_ms;
    sh->carry_err[0] = '\0';
    sh->carry_rc = 0;
    if (sh->redis != NULL)
        sh->carry_rc = sg_obs_open(&redis, sh->redis, &so, sh->carry_err, sizeof(sh->carry_err));
    if (sh->carry_rc == 0)
        sh->carry_rc = sg_obop_drain(sh->memory, redis ? redis : sh->store, &d, sh->carry_err,
                                     sizeof(sh->carry_err));
    sg_obs_close(redis);
    sh->carry_records = d.records;
    sh->carry_blocked = d.blocked;
    /* all of memory is in the store now: a start must not add it again */
    if (sh->carry_rc == 0 && sh->spill != NULL)
        (void)unlink(sh->spill);
}

/* A string for a log line's JSON, quoted (static size: paths and errors) */
#define QUOTED(name, s)                                                                            \
    char name[SGU_JSON_QUOTED_MAX(512)];                                                           \
    name[sgu_json_quote(name, sizeof(name) - 1, (s), strnlen((s), 512))] = '\0'

static void log_spill_failed(const sg_logger *log, const char *file, const char *err)
{
    QUOTED(path, file);
    QUOTED(why, err);
    sg_log(log, "{\"event\":\"outbound_spill_failed\",\"path\":%s,\"why\":%s}", path, why);
}

static void spill_work(uv_work_t *w)
{
    sg_obd_shared *sh = w->data;
    sg_obop_drained d;
    sh->spill_err[0] = '\0';
    sh->spill_rc =
        sg_obop_spill_save(sh->memory, sh->spill, &d, sh->spill_err, sizeof(sh->spill_err));
}

static void spill_done(uv_work_t *w, int status)
{
    sg_obd_shared *sh = w->data;
    sh->spilling = 0;
    if (status == 0 && sh->spill_rc == 0)
        return;
    atomic_store(&sh->spill_dirty, 1);
    log_spill_failed(sh->carry_log, sh->spill, status != 0 ? "cancelled" : sh->spill_err);
}

/* Every spill_every ticks with something new in memory, and no carry
 * under way (a spill racing a carry could write back what the carry just
 * took, after the carry removed the file). */
static void spill_tick(sg_obd_shared *sh, uv_loop_t *loop, const sg_logger *log)
{
    if (sh->spill == NULL || sh->memory == NULL)
        return;
    if (sh->spill_wait > 0)
        sh->spill_wait--;
    if (sh->spill_wait > 0 || sh->spilling || sh->carrying || !atomic_exchange(&sh->spill_dirty, 0))
        return;
    sh->spill_wait = sh->spill_every;
    sh->spilling = 1;
    sh->carry_log = log;
    sh->spill_work.data = sh;
    if (uv_queue_work(loop, &sh->spill_work, spill_work, spill_done) != 0) {
        sh->spilling = 0;
        atomic_store(&sh->spill_dirty, 1);
    }
}

static void carry_done(uv_work_t *w, int status)
{
    sg_obd_shared *sh = w->data;
    sh->carrying = 0;
    if (sh->store != NULL && status == 0) /* the gauge: the file took it, or refused */
        atomic_store(sh->carry_rc == 0 ? &sh->lmdb_written : &sh->lmdb_failed, 1);
    if (status != 0 || sh->carry_rc != 0) {
        char why[SGU_JSON_QUOTED_MAX(sizeof(sh->carry_err))];
        const char *e = status != 0 ? "cancelled" : sh->carry_err;
        why[sgu_json_quote(why, sizeof(why) - 1, e, strlen(e))] = '\0';
        sg_log(sh->carry_log,
               "{\"event\":\"outbound_store_merge_failed\",\"store\":\"%s\",\"records\":%zu,"
               "\"why\":%s}",
               sh->redis ? "redis" : "lmdb", sh->carry_records, why);
        atomic_store(&sh->memory_dirty, 1); /* what is left: next time */
        /* what it did take is in the store: the spill file must lose it */
        if (sh->carry_records > 0)
            atomic_store(&sh->spill_dirty, 1);
        /* Redis answers the workers but not the carry: wait 2, 4 .. 64 s */
        sh->carry_backoff = sh->carry_backoff ? sh->carry_backoff * 2 : 2;
        if (sh->carry_backoff > 64)
            sh->carry_backoff = 64;
        sh->carry_wait = sh->carry_backoff;
        return;
    }
    sh->carry_backoff = 0;
    sg_log(sh->carry_log,
           "{\"event\":\"outbound_store_merged\",\"store\":\"%s\",\"records\":%zu,"
           "\"blocked\":%zu}",
           sh->redis ? "redis" : "lmdb", sh->carry_records, sh->carry_blocked);
}

/* LMDB's part of the gauge, once a tick: a write refused since the last
 * tick says 1, even among writes that worked (a full map takes an update
 * that finds free pages and refuses a new record: the state is "full"),
 * writes that all worked say 0, and a tick without writes keeps what the
 * last one said. */
static void lmdb_gauge(sg_obd_shared *sh)
{
    int failed = atomic_exchange(&sh->lmdb_failed, 0);
    int written = atomic_exchange(&sh->lmdb_written, 0);
    if (failed || written)
        atomic_store(&sh->fallback_active, failed ? 1 : 0);
}

/* Every hour; within a minute of a write that met a full map (not at
 * every such write: a map full of records younger than 90 days frees
 * nothing, and the walk reads every record). */
#define SWEEP_EVERY 3600
#define SWEEP_FULL_GAP 60

static void sweep_work(uv_work_t *w)
{
    sg_obd_shared *sh = w->data;
    sh->sweep_err[0] = '\0';
    sh->sweep_rc = sg_obop_expire(sh->store, (int64_t)time(NULL), (int64_t)sh->ttl_s, &sh->stopping,
                                  &sh->swept, sh->sweep_err, sizeof(sh->sweep_err));
}

static void sweep_done(uv_work_t *w, int status)
{
    sg_obd_shared *sh = w->data;
    sh->sweeping = 0;
    if (status != 0 || sh->sweep_rc < 0) {
        QUOTED(why, status != 0 ? "cancelled" : sh->sweep_err);
        sg_log(sh->carry_log,
               "{\"event\":\"outbound_store_expire_failed\",\"store\":\"lmdb\",\"removed\":%zu,"
               "\"why\":%s}",
               sh->swept.removed, why);
        return;
    }
    /* quiet when there was nothing to do; a full map is always said, with
     * what the sweep freed (0: the map is too small for 90 days of
     * records) */
    if (sh->swept.removed == 0 && strcmp(sh->sweep_cause, "full") != 0)
        return;
    sg_log(sh->carry_log,
           "{\"event\":\"outbound_store_expired\",\"store\":\"lmdb\",\"cause\":\"%s\","
           "\"records\":%zu,\"kept_blocked\":%zu}",
           sh->sweep_cause, sh->swept.removed, sh->swept.kept_blocked);
}

static void sweep_tick(sg_obd_shared *sh, uv_loop_t *loop, const sg_logger *log)
{
    if (sh->store == NULL)
        return;
    if (sg_obs_full_seen(sh->store))
        sh->sweep_full = 1;
    if (sh->sweep_since < SWEEP_EVERY)
        sh->sweep_since++;
    if (sh->sweeping || atomic_load(&sh->stopping))
        return;
    if (!sh->sweep_ran)
        sh->sweep_cause = "start";
    else if (sh->sweep_full && sh->sweep_since >= SWEEP_FULL_GAP)
        sh->sweep_cause = "full";
    else if (sh->sweep_since >= SWEEP_EVERY)
        sh->sweep_cause = "hourly";
    else
        return;
    sh->sweep_ran = 1;
    sh->sweep_full = 0;
    sh->sweep_since = 0;
    sh->sweeping = 1;
    sh->carry_log = log;
    sh->sweep.data = sh;
    if (uv_queue_work(loop, &sh->sweep, sweep_work, sweep_done) != 0)
        sh->sweeping = 0;
}

void sg_obd_shared_stopping(sg_obd_shared *sh)
{
    atomic_store(&sh->stopping, 1);
}

void sg_obd_shared_tick(sg_obd_shared *sh, uv_loop_t *loop, const sg_logger *log)
{
    if (sh->store != NULL)
        lmdb_gauge(sh);
    sweep_tick(sh, loop, log);
    spill_tick(sh, loop, log);
    if (sh->carry_wait > 0) {
        sh->carry_wait--;
        return;
    }
    /* Redis: once every worker is back on it; LMDB: try (a full or broken
     * file fails again, and the backoff spaces the tries) */
    if ((sh->redis == NULL && sh->store == NULL) || sh->memory == NULL || sh->carrying ||
        sh->spilling || (sh->redis != NULL && atomic_load(&sh->fallback_active) != 0) ||
        !atomic_exchange(&sh->memory_dirty, 0))
        return;
    sh->carrying = 1;
    sh->carry_log = log;
    sh->carry.data = sh;
    if (uv_queue_work(loop, &sh->carry, carry_work, carry_done) != 0) {
        sh->carrying = 0;
        atomic_store(&sh->memory_dirty, 1);
    }
}

static int count_one(void *ctx, const char *key, const uint8_t *v, size_t vlen)
{
    (void)key;
    (void)v;
    (void)vlen;
    (*(size_t *)ctx)++;
    return 0;
}

void sg_obd_shared_restore(sg_obd_shared *sh, const sg_logger *log)
{
    sg_obop_drained d;
    char err[256];
    if (sh->store != NULL && sg_obs_created(sh->store)) {
        QUOTED(path, sh->store_path);
        sg_log(log, "{\"event\":\"outbound_store_created\",\"store\":\"lmdb\",\"path\":%s}", path);
    }
    if (sh->memory == NULL || sh->spill == NULL)
        return;
    int rc = sg_obop_spill_load(sh->memory, sh->spill, &d, err, sizeof(err));
    if (rc == 1)
        return;
    QUOTED(path, sh->spill);
    if (rc == 0) {
        /* the file stays until a carry has taken it all: a crash before
         * that reads it again, and a stop rewrites it */
        atomic_store(&sh->memory_dirty, 1);
        sg_log(log,
               "{\"event\":\"outbound_spill_loaded\",\"path\":%s,\"records\":%zu,"
               "\"blocked\":%zu}",
               path, d.records, d.blocked);
        return;
    }
    char bad[4096];
    snprintf(bad, sizeof(bad), "%s.bad", sh->spill);
    int moved = rename(sh->spill, bad) == 0;
    QUOTED(why, err);
    sg_log(log, "{\"event\":\"outbound_spill_unreadable\",\"path\":%s,\"why\":%s,\"moved\":%s}",
           path, why, moved ? "true" : "false");
}

void sg_obd_shared_finish(sg_obd_shared *sh, const sg_logger *log)
{
    if (sh->memory == NULL || (sh->redis == NULL && sh->store == NULL) ||
        !atomic_exchange(&sh->memory_dirty, 0))
        return;
    /* the same carry as the upkeep's, here on the main thread: nothing
     * else runs now */
    sh->carry.data = sh;
    sh->carry_log = log;
    carry_work(&sh->carry);
    carry_done(&sh->carry, 0);
    if (sh->carry_rc == 0)
        return;
    sg_obop_drained d;
    char err[256];
    if (sh->spill == NULL) {
        size_t n = 0;
        (void)sg_obs_each(sh->memory, count_one, &n, err, sizeof(err));
        sg_log(log, "{\"event\":\"outbound_memory_lost\",\"records\":%zu}", n);
        return;
    }
    if (sg_obop_spill_save(sh->memory, sh->spill, &d, err, sizeof(err)) != 0) {
        log_spill_failed(log, sh->spill, err);
        return;
    }
    QUOTED(path, sh->spill);
    sg_log(log,
           "{\"event\":\"outbound_spill_written\",\"path\":%s,\"records\":%zu,\"blocked\":%zu}",
           path, d.records, d.blocked);
}

/* ------------------------------------------------------------------------ */
/* per worker                                                                */

int sg_obd_init(sg_obd *o, sg_obd_shared *sh, uv_loop_t *loop, const sg_logger *log,
                sg_metrics_shard *m, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    o->sh = sh;
    o->loop = loop;
    o->log = log;
    o->m = m;
    if (sh->redis && sg_obredis_new(&o->redis, loop, sh->redis, sh->redis_timeout_ms, 90 * 86400,
                                    log, &sh->fallback_active, err, errlen) != 0)
        return -1;
    return 0;
}

void sg_obd_close(sg_obd *o)
{
    sg_obredis_close(o->redis);
}

void sg_obd_free(sg_obd *o)
{
    sg_obredis_free(o->redis);
    o->redis = NULL;
}

/* ------------------------------------------------------------------------ */
/* telling of a decision                                                     */

/* reasons as a JSON list of the engine's names */
static void reasons_json(uint32_t reasons, char *out, size_t cap)
{
    size_t p = 0;
    out[p++] = '[';
    for (unsigned i = 0; i < 32; i++) {
        const char *n = (reasons & (1u << i)) ? sg_ob_reason_name(1u << i) : NULL;
        if (n == NULL)
            continue;
        int w = snprintf(out + p, cap - p, "%s\"%s\"", p > 1 ? "," : "", n);
        if (w < 0 || (size_t)w >= cap - p - 2)
            break;
        p += (size_t)w;
    }
    out[p++] = ']';
    out[p] = '\0';
}

typedef struct {
    uv_process_t proc;
    uv_pipe_t in;
    uv_write_t wr;
    char *buf;
    int open; /* handles still to close */
} notify_run;

static void notify_closed(uv_handle_t *h)
{
    notify_run *n = h->data;
    if (--n->open == 0) {
        free(n->buf);
        free(n);
    }
}

static void notify_exited(uv_process_t *p, int64_t status, int sig)
{
    (void)status;
    (void)sig;
    uv_close((uv_handle_t *)p, notify_closed);
}

static void notify_written(uv_write_t *w, int status)
{
    notify_run *n = w->data;
    (void)status;
    uv_close((uv_handle_t *)&n->in, notify_closed);
}

/* The administrator's command, on a block: JSON on its standard input,
 * at most once per outbound_notify_interval across the workers; never
 * waited for. */
static void notify(sg_obd *o, const sg_obd_job *j, const char *line)
{
    const sg_config *cfg = j->cfg;
    if (cfg->outbound_notify == NULL)
        return;
    int64_t now = (int64_t)time(NULL), last = atomic_load(&o->sh->last_notify);
    if ((last && now - last < (int64_t)cfg->outbound_notify_interval) ||
        !atomic_compare_exchange_strong(&o->sh->last_notify, &last, now)) {
        sg_mc_inc(&o->m->ob_notify[1], 1);
        return;
    }
    notify_run *n = calloc(1, sizeof(*n));
    size_t l = strlen(line);
    if (n == NULL || (n->buf = malloc(l + 1)) == NULL) {
        free(n);
        sg_mc_inc(&o->m->ob_notify[2], 1);
        return;
    }
    memcpy(n->buf, line, l);
    n->buf[l] = '\n';
    uv_pipe_init(o->loop, &n->in, 0);
    n->in.data = n->proc.data = n->wr.data = n;
    n->open = 1;
    char *args[] = {"/bin/sh", "-c", cfg->outbound_notify, NULL};
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&n->in},
        {.flags = UV_IGNORE},
        {.flags = UV_IGNORE},
    };
    uv_process_options_t po = {
        .exit_cb = notify_exited,
        .file = "/bin/sh",
        .args = args,
        .stdio_count = 3,
        .stdio = stdio,
    };
    int rc = uv_spawn(o->loop, &n->proc, &po);
    if (rc != 0) {
        sg_log(o->log, "{\"event\":\"outbound_notify_failed\",\"why\":\"%s\"}", uv_strerror(rc));
        sg_mc_inc(&o->m->ob_notify[2], 1);
        uv_close((uv_handle_t *)&n->proc, NULL); /* libuv: close even a failed spawn */
        uv_close((uv_handle_t *)&n->in, notify_closed);
        return;
    }
    n->open = 2;
    uv_buf_t b = uv_buf_init(n->buf, (unsigned)(l + 1));
    if (uv_write(&n->wr, (uv_stream_t *)&n->in, &b, 1, notify_written) != 0)
        uv_close((uv_handle_t *)&n->in, notify_closed);
    sg_mc_inc(&o->m->ob_notify[0], 1);
}

void sg_obd_release_json(const char *account, char *out, size_t outlen)
{
    char cmd[SGD_RELEASE_CMD_MAX]; /* room for every character quoted */
    size_t n = (size_t)snprintf(cmd, sizeof(cmd), "spoofguard accounts release ");
    int plain = account[0] != '\0';
    for (const char *c = account; *c; c++)
        plain &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                 strchr("@._+-=", *c) != NULL;
    if (plain) {
        n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, "%s", account);
    } else {
        cmd[n++] = '\'';
        for (const char *c = account; *c && n + 5 < sizeof(cmd); c++) {
            if (*c == '\'') { /* ' closes, \' is a quote, ' opens again */
                memcpy(cmd + n, "'\\''", 4);
                n += 4;
            } else {
                cmd[n++] = *c;
            }
        }
        cmd[n++] = '\'';
    }
    out[sgu_json_quote(out, outlen - 1, cmd, n)] = '\0';
}

/* The reasons a decision gave, one count each. */
static void count_reasons(sg_obd *o, uint32_t reasons)
{
    for (unsigned i = 0; i < SG_M_OB_REASON_N; i++)
        if (reasons & (1u << i))
            sg_mc_inc(&o->m->ob_reasons[i], 1);
}

/* A block: the log line of the evidence that tripped it was written; this
 * is the notification, for a message (cause "message") or a report that
 * came back ("dsn"). */
static void tell_block(sg_obd *o, sg_obd_job *j, const sg_ob_decision *d, const char *cause,
                       int64_t t, const char *acct, const char *qid, const char *reasons)
{
    char host[SGU_JSON_QUOTED_MAX(256)], release[SGU_JSON_QUOTED_MAX(SGD_RELEASE_CMD_MAX)],
        line[16384];
    host[sgu_json_quote(host, sizeof(host) - 1, o->sh->hostname, strlen(o->sh->hostname))] = '\0';
    sg_obd_release_json(j->account, release, sizeof(release));
    snprintf(line, sizeof(line),
             "{\"event\":\"outbound_block\",\"host\":%s,\"time\":%lld,\"account\":%s,"
             "\"action\":\"%s\",\"reasons\":%s,\"score\":%.2f,\"queue_id\":%s,"
             "\"client\":\"%s\",\"cause\":\"%s\",\"release\":%s}",
             host, (long long)t, acct, sg_ob_action_name(d->action), reasons, d->score, qid,
             j->client, cause, release);
    notify(o, j, line);
}

/* The metrics, the log line and, on a trip, the notification. */
static void tell(sg_obd *o, sg_obd_job *j, const sg_obd_result *res)
{
    uint64_t us = (uv_hrtime() - j->t0) / 1000;
    sg_mhist_observe(&o->m->ob_latency, us);
    if (res->failed)
        return;
    SG_MC_INC_AT(o->m->ob_decisions, res->d.action);
    if (res->d.action != SG_OB_ALLOW)
        count_reasons(o, res->d.reasons);
    if (j->op.fresh)
        sg_mc_inc(&o->m->ob_fresh, 1);

    char acct[SGU_JSON_QUOTED_MAX(SG_OBS_KEY_MAX + 1)], qid[SGU_JSON_QUOTED_MAX(64)], reasons[768],
        line[8192];
    /* sgu_json_quote adds no NUL */
    acct[sgu_json_quote(acct, sizeof(acct) - 1, j->account, strlen(j->account))] = '\0';
    qid[sgu_json_quote(qid, sizeof(qid) - 1, j->queue_id, strlen(j->queue_id))] = '\0';
    reasons_json(res->d.reasons, reasons, sizeof(reasons));
    snprintf(line, sizeof(line),
             "{\"event\":\"outbound_decision\",\"queue_id\":%s,\"account\":%s,\"client\":\"%s\","
             "\"rcpts\":%zu,\"action\":\"%s\",\"reasons\":%s,\"score\":%.2f,\"tripped\":%s,"
             "\"store\":\"%s\"%s,\"us\":%llu}",
             qid, acct, j->client, j->msg.nrcpts, sg_ob_action_name(res->d.action), reasons,
             res->d.score, res->d.tripped ? "true" : "false", res->store,
             j->op.fresh ? ",\"record_reset\":true" : "", (unsigned long long)us);
    sg_log(o->log, "%s", line);
    if (res->d.tripped)
        tell_block(o, j, &res->d, "message", j->msg.t, acct, qid, reasons);
}

/* A report that came back and was counted: logged (what blocks an
 * account must be on record), and a block is told as a message's is. */
static void tell_note(sg_obd *o, sg_obd_job *j, const char *store)
{
    const sg_ob_decision *d = &j->op.out;
    if (j->op.kind != SG_OBOP_DSN || !j->op.dsn_counted)
        return;
    char acct[SGU_JSON_QUOTED_MAX(SG_OBS_KEY_MAX + 1)], qid[SGU_JSON_QUOTED_MAX(64)],
        rcpt[SGU_JSON_QUOTED_MAX(sizeof(j->dsn.final_rcpt))],
        rep[SGU_JSON_QUOTED_MAX(sizeof(j->reporter))], reasons[768];
    const char *r = j->dsn.final_rcpt[0] ? j->dsn.final_rcpt : j->dsn.orig_rcpt;
    acct[sgu_json_quote(acct, sizeof(acct) - 1, j->account, strlen(j->account))] = '\0';
    qid[sgu_json_quote(qid, sizeof(qid) - 1, j->queue_id, strlen(j->queue_id))] = '\0';
    rcpt[sgu_json_quote(rcpt, sizeof(rcpt) - 1, r, strlen(r))] = '\0';
    rep[sgu_json_quote(rep, sizeof(rep) - 1, j->reporter, strlen(j->reporter))] = '\0';
    reasons_json(d->reasons, reasons, sizeof(reasons));
    sg_log(o->log,
           "{\"event\":\"outbound_bounce\",\"queue_id\":%s,\"account\":%s,\"rcpt\":%s,"
           "\"reporter\":%s,\"status\":\"%s\",\"action\":\"%s\",\"reasons\":%s,"
           "\"score\":%.2f,\"tripped\":%s,\"store\":\"%s\"}",
           qid, acct, rcpt, rep, j->dsn.status, sg_ob_action_name(d->action), reasons, d->score,
           d->tripped ? "true" : "false", store);
    if (!d->tripped)
        return;
    count_reasons(o, d->reasons);
    tell_block(o, j, d, "dsn", j->op.t, acct, qid, reasons);
}

/* ------------------------------------------------------------------------ */
/* deciding                                                                  */

/* After a write to memory (not before: a carry or spill that starts now
 * must see it). */
static void memory_written(sg_obd_shared *sh)
{
    atomic_store(&sh->memory_dirty, 1);
    atomic_store(&sh->spill_dirty, 1);
}

static int decide_in_memory(sg_obd *o, sg_obd_job *j, sg_obd_result *res, const char *why)
{
    char e[256];
    sg_mc_inc(&o->m->ob_fallback, 1);
    res->store = "memory";
    if (why)
        sg_log(o->log, "{\"event\":\"outbound_store_error\",\"store\":\"%s\",\"why\":\"%s\"}",
               o->sh->redis ? "redis" : "lmdb", why);
    /* a block Redis showed just now holds while Redis refuses writes
     * (full, read-only: the worker read the record again after the error
     * reply); when Redis does not answer, every copy is too old to trust
     * (it may predate a release) and memory alone decides */
    if (o->redis && j->op.kind == SG_OBOP_DECIDE && j->recs.n > 0 &&
        sg_obredis_cached_blocked(o->redis, j->recs.rec[0].key)) {
        res->d = (sg_ob_decision){.action = SG_OB_HOLD, .reasons = SG_OBR_BLOCKED};
        res->store = "redis-cache";
        return 0;
    }
    /* LMDB that refused the write (a full map) is still read, and what it
     * reads is now, not a copy: a blocked account stays held (adv36 F3;
     * memory knows nothing of the block, and would start the account
     * afresh: 29 messages out) */
    if (o->redis == NULL && o->sh->store != NULL && j->op.kind == SG_OBOP_DECIDE && j->recs.n > 0 &&
        sg_obop_blocked_now(o->sh->store, j->recs.rec[0].key, e, sizeof(e)) == 1) {
        res->d = (sg_ob_decision){.action = SG_OB_HOLD, .reasons = SG_OBR_BLOCKED};
        res->store = "lmdb-readonly";
        return 0;
    }
    if (sg_obs_update(o->sh->memory, j->recs.rec, j->recs.n, sg_obop_fn, &j->op, e, sizeof(e)) !=
        0) {
        res->failed = 1;
        return -1;
    }
    memory_written(o->sh);
    res->d = j->op.out;
    return 0;
}

static void redis_done(void *payload, int status)
{
    sg_obd_job *j = payload;
    sg_obd *o = j->o;
    sg_obd_result res = {.store = "redis"};
    j->redis_id = 0;
    if (j->cancelled) { /* the message is gone: so is what it pointed to */
        free(j);
        return;
    }
    if (status == 0) {
        res.d = j->op.out;
    } else if (status == SG_OBREDIS_BUSY) {
        /* Redis works but other hosts kept changing this account's
         * record: the message waits (451), as under a rate limit; counted
         * in memory it would escape the shared counts and any block */
        res.d = (sg_ob_decision){.action = SG_OB_THROTTLE};
        res.store = "redis-busy";
    } else {
        decide_in_memory(o, j, &res, NULL);
    }
    tell(o, j, &res);
    if (j->cb)
        j->cb(j->payload, &res);
    free(j);
}

int sg_obd_decide(sg_obd *o, const sg_obd_ask *ask, sg_obd_cb cb, void *payload, sg_obd_result *res,
                  sg_obd_job **job)
{
    memset(res, 0, sizeof(*res));
    *job = NULL;
    sg_obd_job *j = malloc(sizeof(*j));
    if (j == NULL) {
        res->failed = 1;
        res->store = "none";
        return 0;
    }
    memset(j, 0, offsetof(sg_obd_job, recs));
    j->o = o;
    j->cb = cb;
    j->payload = payload;
    j->t0 = uv_hrtime();
    j->cfg = ask->cfg;
    j->msg = ask->msg;
    j->msg.login = j->account;
    if (o->redis) /* the hosts sharing the records decide on one clock */
        j->msg.t = sg_obredis_time(o->redis);
    snprintf(j->account, sizeof(j->account), "%s", ask->account);
    snprintf(j->queue_id, sizeof(j->queue_id), "%s", ask->queue_id ? ask->queue_id : "");
    snprintf(j->client, sizeof(j->client), "%s", ask->msg.client_ip ? ask->msg.client_ip : "");
    j->op.kind = SG_OBOP_DECIDE;
    j->op.pol = ask->cfg->ob_policy;
    j->op.msg = &j->msg;
    sg_obop_recs_init(&j->recs, j->account, ask->msg.mail_from);

    if (o->redis) {
        j->redis_id =
            sg_obredis_update(o->redis, j->recs.rec, j->recs.n, sg_obop_fn, &j->op, redis_done, j);
        if (j->redis_id != 0) {
            *job = j;
            return 1;
        }
        decide_in_memory(o, j, res, NULL); /* down: logged when it went */
    } else {
        char e[256];
        res->store = "lmdb";
        int rc =
            sg_obs_update(o->sh->store, j->recs.rec, j->recs.n, sg_obop_fn, &j->op, e, sizeof(e));
        if (rc == 0 || rc == -1) /* else the engine's error, not the file's */
            atomic_store(rc == 0 ? &o->sh->lmdb_written : &o->sh->lmdb_failed, 1);
        if (rc == 0)
            res->d = j->op.out;
        else
            decide_in_memory(o, j, res, e);
    }
    tell(o, j, res);
    free(j);
    return 0;
}

void sg_obd_cancel(sg_obd *o, sg_obd_job *j)
{
    if (j == NULL)
        return;
    /* the answer still comes (and frees the job), to nobody */
    j->cancelled = 1;
    if (o->redis && j->redis_id)
        sg_obredis_cancel(o->redis, j->redis_id);
}

static void note_done(void *payload, int status)
{
    sg_obd_job *j = payload;
    char e[256];
    if (status == 0 && !j->cancelled) {
        tell_note(j->o, j, "redis");
    } else if (status != 0 && !j->cancelled) {
        /* busy: Redis works, the note is carried there within a second
         * (sg_obd_shared_tick); not a fallback */
        if (status != SG_OBREDIS_BUSY)
            sg_mc_inc(&j->o->m->ob_fallback, 1);
        if (sg_obs_update(j->o->sh->memory, j->recs.rec, j->recs.n, sg_obop_fn, &j->op, e,
                          sizeof(e)) == 0) {
            memory_written(j->o->sh);
            tell_note(j->o, j, "memory");
        }
    }
    sg_policy_unref(j->pol);
    free(j);
}

void sg_obd_note(sg_obd *o, sg_policy *pol, const char *account, const sg_dsn_failure *dsn,
                 const char *reporter, const char *own, const char *queue_id)
{
    const sg_config *cfg = &pol->cfg;
    char e[256];
    sg_obd_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return;
    j->o = o;
    j->pol = sg_policy_ref(pol);
    j->op.kind = dsn ? SG_OBOP_DSN : SG_OBOP_REFUSAL;
    j->op.pol = cfg->ob_policy;
    j->op.t = o->redis ? sg_obredis_time(o->redis) : (int64_t)time(NULL);
    if (dsn != NULL) {
        /* copied: the job may outlive the caller's report */
        j->dsn = *dsn;
        j->dsn_rcpts[0] = j->dsn.final_rcpt;
        j->dsn_rcpts[1] = j->dsn.orig_rcpt;
        snprintf(j->reporter, sizeof(j->reporter), "%s", reporter ? reporter : "");
        snprintf(j->own, sizeof(j->own), "%s", own ? own : "");
        j->op.status = j->dsn.status;
        j->op.dsn_checked = 1;
        j->op.dsn_reporter = j->reporter;
        j->op.dsn_own = j->own;
        j->op.dsn_rcpts = j->dsn_rcpts;
        j->op.dsn_nrcpts = 2;
    }
    j->cfg = cfg;
    snprintf(j->account, sizeof(j->account), "%s", account);
    snprintf(j->queue_id, sizeof(j->queue_id), "%s", queue_id ? queue_id : "");
    sg_obop_recs_init(&j->recs, j->account, NULL);
    sg_mc_inc(&o->m->ob_events[dsn ? 1 : 0], 1);
    if (o->redis &&
        sg_obredis_update(o->redis, j->recs.rec, j->recs.n, sg_obop_fn, &j->op, note_done, j))
        return;
    int rc = o->sh->store ? sg_obs_update(o->sh->store, j->recs.rec, j->recs.n, sg_obop_fn, &j->op,
                                          e, sizeof(e))
                          : -1;
    if (o->sh->store && (rc == 0 || rc == -1))
        atomic_store(rc == 0 ? &o->sh->lmdb_written : &o->sh->lmdb_failed, 1);
    if (rc == 0) {
        tell_note(o, j, "lmdb");
        sg_policy_unref(j->pol);
        free(j);
        return;
    }
    note_done(j, -1);
}
