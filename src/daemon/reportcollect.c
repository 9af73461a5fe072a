/*
 * DMARC report collection in spoofguardd: see reportcollect.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <spoofguard/arena.h>
#include <spoofguard/dkim.h>
#include <spoofguard/dmarc.h>
#include <spoofguard/spf.h>

#include <hiredis/hiredis.h>

#include "common/json.h"
#include "obstore.h"
#include "reportcollect.h"
#include "reports/send.h"

/* A failure report waiting for the flush thread: the sample and its
 * strings in one allocation. */
typedef struct fsample {
    struct fsample *next;
    sgrep_failure f;
    char *ruf;
} fsample;

/* Samples a worker holds between two flushes; more are counted as lost. */
#define FR_PENDING_MAX 256
/* The worker's own memory of (organisational domain, source, hour) it
 * queued, so a flood from one source costs a hash, not a sample; the
 * store's limit (sgrep_failure_queue) is the rule across workers and
 * restarts. */
#define FR_SEEN 1024

typedef struct {
    pthread_mutex_t mu;
    sgrep_collect *cur;   /* the worker adds here */
    sgrep_collect *spare; /* the flush thread writes this one out */
    fsample *pending;     /* failure reports to queue (newest first) */
    unsigned npending;
    uint64_t seen[FR_SEEN]; /* the worker's thread only */
} wtable;

struct sg_rcollect {
    wtable *w;
    unsigned nw;
    /* the store, and the file it is: a flush checks that report_store
     * still names it (the flush thread alone touches these) */
    sqlite3 *db; /* NULL: lost, and not made again yet (open_err says why) */
    char *path;  /* report_store: reopened by it, and a link re-pointed is a replacement */
    char *real;  /* the file db has open, as SQLite names it (take_name) */
    dev_t dev;
    ino_t ino;
    struct {
        dev_t dev;
        ino_t ino;
        int set;
    } side[2]; /* our -wal and -shm (remember_sides) */
    char open_err[512];
    uint64_t reopen_us;   /* not before (usec_now) after a failed open */
    int opened;           /* sg_rcollect_new worked: a last flush is due at the end */
    const sg_logger *log; /* NULL: nothing logged (tests) */
    /* failed flushes said at most once a minute (a full table asks for
     * one per message) */
    uint64_t fail_logged_us;
    unsigned fail_unlogged;
    int failing;
    unsigned interval_s;
    pthread_t thread;
    int started;
    pthread_mutex_t mu; /* stop, urgent */
    pthread_cond_t cv;
    int stop, urgent;
    int failures; /* failure_reports yes */
    /* report_redis: the counts go to the cluster's Redis, from this
     * thread, through a connection made (again) when a flush needs it */
    char redis_host[256];
    int redis_port, redis_db, use_redis;
    redisContext *redis;
    uint64_t redis_retry_us; /* not before (usec_now) after a failure */
    _Atomic uint64_t messages, lost, flushes, flush_errors, flush_usec, store_lost;
    _Atomic uint64_t fr_queued, fr_limited, fr_lost;
};

static void remember_sides(sg_rcollect *rc);

/* The name of the file db has open, as SQLite resolved report_store:
 * every symbolic link followed. SQLite keeps its -wal and -shm beside that
 * name, not beside a link, and a link defeats the header check's
 * O_NOFOLLOW: through a link, an overwritten store went unseen and our
 * journal was looked for where it never is (rev24 R24-6). The name comes
 * from SQLite rather than realpath() so the two cannot differ. 0, or -1
 * (out of memory). */
static int take_name(sg_rcollect *rc, sqlite3 *db)
{
    const char *f = sqlite3_db_filename(db, "main");
    char *real = strdup(f != NULL && *f != '\0' ? f : rc->path);
    if (real == NULL)
        return -1;
    free(rc->real);
    rc->real = real;
    return 0;
}

int sg_rcollect_new(sg_rcollect **out, const char *path, unsigned interval_s, size_t max_groups,
                    unsigned nworkers, char *err, size_t errlen)
{
    *out = NULL;
    sg_rcollect *rc = calloc(1, sizeof *rc);
    if (!rc || !(rc->w = calloc(nworkers, sizeof *rc->w))) {
        free(rc);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc->nw = nworkers;
    rc->interval_s = interval_s ? interval_s : 60;
    pthread_mutex_init(&rc->mu, NULL);
    pthread_cond_init(&rc->cv, NULL);
    for (unsigned i = 0; i < nworkers; i++) {
        pthread_mutex_init(&rc->w[i].mu, NULL);
        rc->w[i].cur = sgrep_collect_new(max_groups);
        rc->w[i].spare = sgrep_collect_new(max_groups);
        if (!rc->w[i].cur || !rc->w[i].spare) {
            snprintf(err, errlen, "out of memory");
            sg_rcollect_free(rc);
            return -1;
        }
    }
    char e[512];
    struct stat st;
    if ((rc->path = strdup(path)) == NULL) {
        snprintf(err, errlen, "out of memory");
        sg_rcollect_free(rc);
        return -1;
    }
    rc->db = sgrep_send_open(path, e, sizeof e);
    if (!rc->db) {
        snprintf(err, errlen, "report_store %s", e);
        sg_rcollect_free(rc);
        return -1;
    }
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "report_store %s: %s", path, strerror(errno));
        sg_rcollect_free(rc);
        return -1;
    }
    if (take_name(rc, rc->db) != 0) {
        snprintf(err, errlen, "out of memory");
        sg_rcollect_free(rc);
        return -1;
    }
    rc->dev = st.st_dev;
    rc->ino = st.st_ino;
    remember_sides(rc);
    rc->opened = 1;
    *out = rc;
    return 0;
}

void sg_rcollect_set_log(sg_rcollect *rc, const sg_logger *log)
{
    rc->log = log;
}

static uint64_t usec_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A string for a log line's JSON, quoted (paths and errors) */
#define QUOTED(name, s)                                                                            \
    char name[SGU_JSON_QUOTED_MAX(512)];                                                           \
    name[sgu_json_quote(name, sizeof(name) - 1, (s), strnlen((s), 512))] = '\0'

/* Does the file at path still begin as an SQLite database does? One
 * overwritten in place keeps its inode, and SQLite goes on writing its
 * journal beside it without an error (it reads what it needs from its
 * cache and the WAL) until the next start finds "file is not a database"
 * (adv36 F5). 1 yes, 0 no, -1 cannot tell (then nothing is done). */
static int sqlite_header_ok(const char *path)
{
    static const char magic[16] = "SQLite format 3";
    char head[16];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    ssize_t n = pread(fd, head, sizeof head, 0);
    close(fd);
    if (n < 0)
        return -1;
    return n == (ssize_t)sizeof head && memcmp(head, magic, sizeof head) == 0;
}

/* The files SQLite keeps beside the store in WAL mode: its journal and
 * the journal's index. */
static const char *const side_ext[2] = {"-wal", "-shm"};

/* Which files beside the store are this connection's, taken once it is
 * open (SQLite keeps them while a connection is). */
static void remember_sides(sg_rcollect *rc)
{
    char p[4096];
    struct stat st;
    for (int i = 0; i < 2; i++) {
        rc->side[i].set = snprintf(p, sizeof p, "%s%s", rc->real, side_ext[i]) < (int)sizeof p &&
                          stat(p, &st) == 0;
        rc->side[i].dev = rc->side[i].set ? st.st_dev : 0;
        rc->side[i].ino = rc->side[i].set ? st.st_ino : 0;
    }
}

/* Our connection to a file that is gone or no longer ours, closed, and
 * our journal and its index removed if they are still at the path: SQLite
 * lays a journal it finds there over whatever file the path names next (a
 * new store, a restored copy: a test saw the old counts come back into the
 * replacement). Only ours: a journal someone put there with a restored
 * copy is that copy's. One damaged in place gets no checkpoint of our
 * journal either; one deleted or replaced has it, into the old file. */
static void close_lost(sg_rcollect *rc, int damaged)
{
    char p[4096];
    struct stat st;
    if (damaged) {
        int on = 1;
        sqlite3_db_config(rc->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, &on);
    }
    sqlite3_close(rc->db);
    rc->db = NULL;
    for (int i = 0; i < 2; i++)
        if (rc->side[i].set &&
            snprintf(p, sizeof p, "%s%s", rc->real, side_ext[i]) < (int)sizeof p &&
            stat(p, &st) == 0 && st.st_dev == rc->side[i].dev && st.st_ino == rc->side[i].ino)
            (void)unlink(p);
}

/* Before a flush: report_store must still name the file this daemon has
 * open. Deleted under it, the counts went into the unlinked file (lost
 * with it, while the metrics said nothing: adv36 F5) and the report-send
 * timer (ConditionPathExists) stopped; replaced (a restore, a rename, a
 * link pointed at another file: the path is followed, as SQLite and
 * `spoofguard report send` follow it), they went into the old one. The
 * header and our journal are looked at by the name SQLite has open. Each
 * is logged (report_store_lost) and
 * counted, and the store is opened again at the path, made anew if it is
 * not there, with the schema and mode the start gives it. A store that
 * cannot be opened (overwritten with something else, its folder gone)
 * makes every write fail: the counts stay in memory, each failed flush is
 * counted, and the next flush tries again. */
static void check_store(sg_rcollect *rc)
{
    struct stat st;
    const char *why = NULL;
    int damaged = 0;
    if (rc->db != NULL) {
        if (stat(rc->path, &st) != 0) {
            if (errno == ENOENT || errno == ENOTDIR)
                why = "deleted";
        } else if (st.st_dev != rc->dev || st.st_ino != rc->ino) {
            why = "replaced";
        } else if (sqlite_header_ok(rc->real) == 0) {
            why = "not an SQLite database any more (overwritten?)";
            damaged = 1;
        }
        if (why == NULL)
            return;
        atomic_fetch_add(&rc->store_lost, 1);
        if (rc->log) {
            QUOTED(path, rc->path);
            sg_log(rc->log, "{\"event\":\"report_store_lost\",\"path\":%s,\"why\":\"%s\"}", path,
                   why);
        }
        close_lost(rc, damaged);
    }
    /* a full table asks for a flush per message: a store that cannot be
     * opened is tried again once a second only */
    if (usec_now() < rc->reopen_us)
        return;
    int made = stat(rc->path, &st) != 0;
    char e[512];
    sqlite3 *db = sgrep_send_open(rc->path, e, sizeof e);
    if (db == NULL || stat(rc->path, &st) != 0 || take_name(rc, db) != 0) {
        snprintf(rc->open_err, sizeof rc->open_err, "%.500s", db ? strerror(errno) : e);
        sqlite3_close(db);
        rc->reopen_us = usec_now() + 1000000;
        return;
    }
    rc->db = db;
    rc->dev = st.st_dev;
    rc->ino = st.st_ino;
    remember_sides(rc);
    if (rc->log) {
        QUOTED(path, rc->path);
        sg_log(rc->log, "{\"event\":\"report_store_reopened\",\"path\":%s,\"created\":%s}", path,
               made ? "true" : "false");
    }
}

/* A flush that failed: counted always, logged once a minute at most, with
 * how many failed since the last line. */
static void flush_failed(sg_rcollect *rc, const char *err)
{
    atomic_fetch_add(&rc->flush_errors, 1);
    rc->fail_unlogged++;
    uint64_t now = usec_now();
    if (rc->log == NULL || (rc->failing && now - rc->fail_logged_us < 60 * 1000000ull))
        return;
    QUOTED(path, rc->path);
    QUOTED(why, err);
    sg_log(rc->log, "{\"event\":\"report_flush_failed\",\"path\":%s,\"errors\":%u,\"why\":%s}",
           path, rc->fail_unlogged, why);
    rc->failing = 1;
    rc->fail_logged_us = now;
    rc->fail_unlogged = 0;
}

/* The workers' failure samples into failure_queue, one transaction. A
 * sample the store already has for its domain, source and hour is the
 * rate limit at work; one that cannot be written is lost (a report, not
 * mail: it is counted). */
static void flush_failures(sg_rcollect *rc)
{
    fsample *all = NULL;
    for (unsigned i = 0; i < rc->nw; i++) {
        wtable *t = &rc->w[i];
        pthread_mutex_lock(&t->mu);
        fsample *list = t->pending;
        t->pending = NULL;
        t->npending = 0;
        pthread_mutex_unlock(&t->mu);
        while (list) {
            fsample *n = list->next;
            list->next = all;
            all = list;
            list = n;
        }
    }
    if (!all)
        return;
    if (rc->db == NULL) { /* the store is lost (check_store): no write */
        while (all) {
            fsample *n = all->next;
            atomic_fetch_add(&rc->fr_lost, 1);
            free(all);
            all = n;
        }
        return;
    }
    char err[256];
    int tx = sqlite3_exec(rc->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
    while (all) {
        fsample *n = all->next;
        int r = sgrep_failure_queue(rc->db, &all->f, all->ruf, err, sizeof err);
        atomic_fetch_add(r > 0 ? &rc->fr_queued : r == 0 ? &rc->fr_limited : &rc->fr_lost, 1);
        free(all);
        all = n;
    }
    if (tx)
        sqlite3_exec(rc->db, "COMMIT", NULL, NULL, NULL);
}

/* The table into the store: SQLite, or the cluster's Redis. A Redis that
 * fails loses its connection (made again next time); the table is kept. */
static int write_table(sg_rcollect *rc, sgrep_collect *t, char *err, size_t errlen)
{
    if (!rc->use_redis && rc->db == NULL) {
        snprintf(err, errlen, "%s", rc->open_err);
        return -1;
    }
    if (!rc->use_redis)
        return sgrep_collect_flush(t, rc->db, err, errlen);
    /* a worker whose table is full asks for a flush per message it could
     * not count: a Redis that is down is tried again once a second only */
    if (rc->redis == NULL && usec_now() < rc->redis_retry_us) {
        snprintf(err, errlen, "redis: down, tried again soon");
        return -1;
    }
    if (rc->redis == NULL) {
        struct timeval tv = {2, 0};
        rc->redis = redisConnectWithTimeout(rc->redis_host, rc->redis_port, tv);
        if (rc->redis && !rc->redis->err)
            redisSetTimeout(rc->redis, tv);
        if (rc->redis && !rc->redis->err && rc->redis_db) {
            redisReply *r = redisCommand(rc->redis, "SELECT %d", rc->redis_db);
            if (r == NULL || r->type == REDIS_REPLY_ERROR)
                rc->redis->err = REDIS_ERR_OTHER;
            freeReplyObject(r);
        }
    }
    if (sgrep_collect_flush_redis(t, rc->redis, err, errlen) == 0)
        return 0;
    if (rc->redis)
        redisFree(rc->redis);
    rc->redis = NULL;
    rc->redis_retry_us = usec_now() + 1000000;
    return -1;
}

/* Swaps each worker's table for its (empty) spare and writes the full one
 * out. A table that could not be written stays the spare, whole: the next
 * flush swaps it back in only after writing it (nothing is lost). */
static void flush_all(sg_rcollect *rc)
{
    int wrote = 0;
    check_store(rc);
    for (unsigned i = 0; i < rc->nw; i++) {
        wtable *t = &rc->w[i];
        char err[512];
        uint64_t t0 = usec_now();
        /* a spare left over from a failed write goes first */
        if (sgrep_collect_groups(t->spare) && write_table(rc, t->spare, err, sizeof err) != 0) {
            flush_failed(rc, err);
            continue;
        }
        pthread_mutex_lock(&t->mu);
        sgrep_collect *full = t->cur;
        t->cur = t->spare;
        t->spare = full;
        pthread_mutex_unlock(&t->mu);
        if (sgrep_collect_groups(full)) {
            if (write_table(rc, full, err, sizeof err) != 0) {
                flush_failed(rc, err);
            } else {
                atomic_fetch_add(&rc->flushes, 1);
                wrote = 1;
            }
        }
        atomic_fetch_add(&rc->flush_usec, usec_now() - t0);
    }
    /* the next failure after a write that worked is said at once */
    if (wrote && rc->failing) {
        rc->failing = 0;
        rc->fail_unlogged = 0;
    }
    flush_failures(rc);
}

static void *flusher(void *arg)
{
    sg_rcollect *rc = arg;
    pthread_mutex_lock(&rc->mu);
    while (!rc->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += rc->interval_s;
        while (!rc->stop && !rc->urgent)
            if (pthread_cond_timedwait(&rc->cv, &rc->mu, &until) == ETIMEDOUT)
                break;
        rc->urgent = 0;
        pthread_mutex_unlock(&rc->mu);
        flush_all(rc);
        pthread_mutex_lock(&rc->mu);
    }
    pthread_mutex_unlock(&rc->mu);
    return NULL;
}

void sg_rcollect_flush(sg_rcollect *rc)
{
    if (!rc->started)
        flush_all(rc);
}

int sg_rcollect_start(sg_rcollect *rc)
{
    if (pthread_create(&rc->thread, NULL, flusher, rc) != 0)
        return -1;
    rc->started = 1;
    return 0;
}

void sg_rcollect_free(sg_rcollect *rc)
{
    if (!rc)
        return;
    if (rc->started) {
        pthread_mutex_lock(&rc->mu);
        rc->stop = 1;
        pthread_cond_signal(&rc->cv);
        pthread_mutex_unlock(&rc->mu);
        pthread_join(rc->thread, NULL);
    }
    if (rc->opened) {
        flush_all(rc); /* the workers are gone: what they counted last */
        /* a store that refused that write (lost, damaged): what memory
         * still holds ends here, and is said (the metrics end too) */
        size_t left = 0;
        for (unsigned i = 0; i < rc->nw; i++)
            left += sgrep_collect_groups(rc->w[i].cur) + sgrep_collect_groups(rc->w[i].spare);
        if (left > 0 && rc->log) {
            QUOTED(path, rc->path);
            sg_log(rc->log, "{\"event\":\"report_counts_lost\",\"path\":%s,\"groups\":%zu}", path,
                   left);
        }
    }
    sqlite3_close(rc->db);
    free(rc->path);
    free(rc->real);
    if (rc->redis)
        redisFree(rc->redis);
    for (unsigned i = 0; rc->w && i < rc->nw; i++) {
        for (fsample *f = rc->w[i].pending, *n; f; f = n) {
            n = f->next;
            free(f);
        }
        sgrep_collect_free(rc->w[i].cur);
        sgrep_collect_free(rc->w[i].spare);
        pthread_mutex_destroy(&rc->w[i].mu);
    }
    free(rc->w);
    pthread_mutex_destroy(&rc->mu);
    pthread_cond_destroy(&rc->cv);
    free(rc);
}

static const char *policy_word(sg_dmarc_policy p)
{
    return sg_dmarc_policy_str(p);
}

static void obs_dkim(sgrep_obs *o, const sg_dkim_sig_result *s)
{
    o->dkim[o->ndkim].domain = s->domain;
    o->dkim[o->ndkim].selector = s->selector ? s->selector : "";
    o->dkim[o->ndkim].result = sg_dkim_result_str(s->result);
    o->ndkim++;
}

/* d is the author's domain, or a parent or child of it */
static int near_author(const char *d, const char *author)
{
    return d && author && (sg_domain_within(d, author) || sg_domain_within(author, d));
}

void sg_rcollect_add(sg_rcollect *rc, unsigned w, const sg_verdict_result *vr,
                     const char *client_ip, const char *applied, const char *override_type,
                     const char *override_comment, int64_t now)
{
    const sg_dmarc_result *d = &vr->dmarc;
    /* RFC 9990 reports messages evaluated against a published policy */
    if (!rc || w >= rc->nw || !d->policy_domain || !d->record || !client_ip || !*client_ip ||
        (d->result != SG_DMARC_RESULT_PASS && d->result != SG_DMARC_RESULT_FAIL))
        return;
    const sg_dmarc_record *r = d->record;
    sgrep_obs o;
    memset(&o, 0, sizeof o);
    o.when = now;
    o.policy_domain = d->policy_domain;
    o.source_ip = client_ip;
    o.disposition = applied && !strcmp(applied, "reject")       ? "reject"
                    : applied && !strcmp(applied, "quarantine") ? "quarantine"
                                                                : "none";
    o.override_type = override_type;
    o.override_comment = override_comment;
    o.dkim_aligned = d->dkim_align == SG_DMARC_ALIGN_RESULT_PASS;
    o.spf_aligned = d->spf_align == SG_DMARC_ALIGN_RESULT_PASS;
    o.header_from = d->author_domain;
    if (vr->spf_checked) {
        /* a null reverse-path: RFC 7208 2.4 checks postmaster@HELO as the
         * MAIL FROM identity, and RFC 9990 has only the scope mfrom; the
         * envelope_from stays empty (it was the HELO name, scope helo:
         * adv18 F10) */
        o.envelope_from = vr->spf.identity == SG_SPF_ID_HELO ? "" : vr->spf.domain;
        o.spf_domain = vr->spf.domain;
        o.spf_scope = "mfrom";
        o.spf_result = sg_spf_result_str(vr->spf.result);
    }
    /* The signatures that matter to the domain owner, not every one a
     * sender wrote: each group holds the DKIM results, so eight failing
     * signatures with made-up selectors made every forged message a new
     * row of kilobytes (adv18 F1: 6,000 messages, an 11 MB report no MTA
     * took). The aligned passes, then one other result: the first that
     * names the author's domain (or a parent or child of it), else the
     * first (RFC 9990 orders them so). */
    const sg_dkim_sig_result *other = NULL;
    for (size_t i = 0; i < vr->ndkim; i++) {
        const sg_dkim_sig_result *s = &vr->dkim[i];
        if (!s->domain)
            continue;
        if (s->result == SG_DKIM_PASS && d->dkim_aligned_domain &&
            !strcasecmp(s->domain, d->dkim_aligned_domain)) {
            if (o.ndkim < SGREP_OBS_MAX_DKIM - 1)
                obs_dkim(&o, s);
        } else if (!other || (!near_author(other->domain, d->author_domain) &&
                              near_author(s->domain, d->author_domain))) {
            other = s;
        }
    }
    if (other)
        obs_dkim(&o, other);
    o.p = policy_word(r->p);
    o.sp = policy_word(r->sp);
    o.np = policy_word(r->np);
    o.adkim = r->adkim == SG_DMARC_ALIGN_STRICT ? "s" : "r";
    o.aspf = r->aspf == SG_DMARC_ALIGN_STRICT ? "s" : "r";
    char fo[16];
    o.fo = sg_dmarc_fo_str(r->fo, fo);
    o.testing = r->testing;
    o.discovery = "treewalk";
    wtable *t = &rc->w[w];
    pthread_mutex_lock(&t->mu);
    int rcode = sgrep_collect_add(t->cur, &o);
    pthread_mutex_unlock(&t->mu);
    if (rcode == 0) {
        atomic_fetch_add_explicit(&rc->messages, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&rc->lost, 1, memory_order_relaxed);
    pthread_mutex_lock(&rc->mu);
    rc->urgent = 1;
    pthread_cond_signal(&rc->cv);
    pthread_mutex_unlock(&rc->mu);
}

int sg_rcollect_use_redis(sg_rcollect *rc, const char *url, char *err, size_t errlen)
{
    if (sg_obs_redis_url(url, rc->redis_host, sizeof rc->redis_host, &rc->redis_port, &rc->redis_db,
                         err, errlen) != 0)
        return -1;
    rc->use_redis = 1;
    return 0;
}

void sg_rcollect_failures_on(sg_rcollect *rc)
{
    rc->failures = 1;
}

/* Copies the strings into one block after the sample: NULL stays NULL. */
static char *keep(char **at, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = memcpy(*at, s, n);
    *at += n;
    return d;
}

/* The policy domain's organisational domain for the rate limit, lower
 * case: the public suffix list's registrable domain, which the sender
 * cannot move (a tree walk's answer depends on records the domain's owner
 * publishes, here perhaps the attacker); the policy domain itself when it
 * is a public suffix. */
static void failure_org(const sg_dmarc_psl *psl, const sg_dmarc_result *d, char *out, size_t n)
{
    const char *org = NULL;
    sg_arena *a = NULL;
    if (psl && sg_arena_new(&a, 0) == 0)
        sg_dmarc_psl_registrable(a, psl, d->policy_domain, &org);
    else if (!psl)
        org = d->org_domain;
    snprintf(out, n, "%s", org && *org ? org : d->policy_domain);
    sg_arena_free(a);
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
}

void sg_rcollect_failure(sg_rcollect *rc, unsigned w, const sg_dmarc_psl *psl,
                         const sg_verdict_result *vr, const char *client_ip, const char *mail_from,
                         const char *hdr, size_t hdrlen, int64_t now)
{
    const sg_dmarc_result *d = &vr->dmarc;
    if (!rc || !rc->failures || w >= rc->nw || !d->policy_domain || !d->record ||
        !d->record->nruf || !client_ip || !*client_ip ||
        (d->result != SG_DMARC_RESULT_PASS && d->result != SG_DMARC_RESULT_FAIL))
        return;
    const sg_dmarc_record *r = d->record;
    /* RFC 9991 2: never the ruf of a public suffix operator's record */
    if (r->psd == SG_DMARC_PSD_Y)
        return;
    int dkim_aligned = d->dkim_align == SG_DMARC_ALIGN_RESULT_PASS;
    int spf_aligned = d->spf_align == SG_DMARC_ALIGN_RESULT_PASS;
    int dkim_failed = 0;
    const sg_dkim_sig_result *failed = NULL;
    for (size_t i = 0; i < vr->ndkim; i++)
        if (vr->dkim[i].result == SG_DKIM_FAIL && vr->dkim[i].domain) {
            dkim_failed = 1;
            if (!failed)
                failed = &vr->dkim[i];
        }
    int spf_failed = vr->spf_checked && vr->spf.result == SG_SPF_FAIL;
    if (!sgrep_failure_due(r->fo, d->result == SG_DMARC_RESULT_PASS, dkim_aligned, spf_aligned,
                           dkim_failed, spf_failed))
        return;
    /* at most one per organisational domain, source and hour (RFC 9991):
     * a wildcard record gives every name under a domain a policy domain of
     * its own, so the policy domain alone limits nothing; the store also
     * caps the reports per organisational domain and hour */
    char org[256];
    failure_org(psl, d, org, sizeof org);
    int64_t hour = now - now % 3600;
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)hour;
    for (const char *p = org; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    h = (h ^ '|') * 0x100000001b3ull;
    for (const char *p = client_ip; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    h |= 1; /* 0 is an empty slot */
    wtable *t = &rc->w[w];
    if (t->seen[h % FR_SEEN] == h) {
        atomic_fetch_add_explicit(&rc->fr_limited, 1, memory_order_relaxed);
        return;
    }
    /* the ruf addresses we may put in a header, space separated: at most
     * SGREP_MAX_DEST, each once, as `report send` takes them (adv39 F2) */
    char ruf[1024];
    size_t rl = 0, nkept = 0;
    const char *kept[SGREP_MAX_DEST];
    for (size_t i = 0; i < r->nruf && nkept < SGREP_MAX_DEST; i++) {
        const char *a = r->ruf[i].mailto;
        if (!a || !sgrep_addr_ok(a) || rl + strlen(a) + 2 > sizeof ruf)
            continue;
        size_t k = 0;
        while (k < nkept && strcasecmp(kept[k], a) != 0)
            k++;
        if (k < nkept)
            continue;
        kept[nkept++] = a;
        rl += (size_t)snprintf(ruf + rl, sizeof ruf - rl, "%s%s", rl ? " " : "", a);
    }
    if (rl == 0)
        return;
    char red[8192];
    sgrep_failure_redact(hdr ? hdr : "", hdr ? hdrlen : 0, red, sizeof red);
    const char *strs[] = {d->policy_domain,
                          org,
                          client_ip,
                          mail_from ? mail_from : "",
                          d->author_domain ? d->author_domain : "",
                          vr->authres ? vr->authres : "",
                          failed ? failed->domain : NULL,
                          failed && failed->selector ? failed->selector : NULL,
                          red,
                          ruf};
    size_t need = sizeof(fsample);
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        need += strs[i] ? strlen(strs[i]) + 1 : 0;
    fsample *fs = malloc(need);
    if (!fs) {
        atomic_fetch_add_explicit(&rc->fr_lost, 1, memory_order_relaxed);
        return;
    }
    char *at = (char *)(fs + 1);
    memset(fs, 0, sizeof *fs);
    fs->f.arrival = now;
    fs->f.policy_domain = keep(&at, strs[0]);
    fs->f.org_domain = keep(&at, strs[1]);
    fs->f.source_ip = keep(&at, strs[2]);
    fs->f.envelope_from = keep(&at, strs[3]);
    fs->f.header_from = keep(&at, strs[4]);
    fs->f.authres = keep(&at, strs[5]);
    fs->f.dkim_domain = keep(&at, strs[6]);
    fs->f.dkim_selector = keep(&at, strs[7]);
    fs->f.headers = keep(&at, strs[8]);
    fs->ruf = keep(&at, strs[9]);
    fs->f.dkim_aligned = dkim_aligned;
    fs->f.spf_aligned = spf_aligned;
    pthread_mutex_lock(&t->mu);
    int full = t->npending >= FR_PENDING_MAX;
    if (!full) {
        fs->next = t->pending;
        t->pending = fs;
        t->npending++;
    }
    pthread_mutex_unlock(&t->mu);
    if (full) {
        free(fs);
        atomic_fetch_add_explicit(&rc->fr_lost, 1, memory_order_relaxed);
        return;
    }
    t->seen[h % FR_SEEN] = h;
}

void sg_rcollect_stats_get(sg_rcollect *rc, sg_rcollect_stats *out)
{
    out->messages = atomic_load(&rc->messages);
    out->lost = atomic_load(&rc->lost);
    out->flushes = atomic_load(&rc->flushes);
    out->flush_errors = atomic_load(&rc->flush_errors);
    out->flush_usec = atomic_load(&rc->flush_usec);
    out->store_lost = atomic_load(&rc->store_lost);
    out->failures_queued = atomic_load(&rc->fr_queued);
    out->failures_limited = atomic_load(&rc->fr_limited);
    out->failures_lost = atomic_load(&rc->fr_lost);
}
