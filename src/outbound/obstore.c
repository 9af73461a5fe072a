/*
 * The outbound state stores (obstore.h): memory, LMDB and a synchronous
 * Redis client. The daemon's asynchronous Redis client is in
 * src/daemon/obredis.c; it runs the same script.
 */
#define _POSIX_C_SOURCE 200809L /* rand_r, nanosleep */
#include "obstore.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <lmdb.h>

typedef enum { OBS_MEMORY, OBS_LMDB, OBS_REDIS } obs_kind;

#define MEM_BUCKETS 4096u

typedef struct mem_ent {
    struct mem_ent *next;
    uint8_t *val;
    size_t len;
    char key[];
} mem_ent;

struct sg_obs {
    obs_kind kind;
    sg_obs_opts opts;
    /* memory */
    pthread_mutex_t lock;
    mem_ent **buckets;
    /* LMDB */
    MDB_env *env;
    MDB_dbi dbi;
    int created;          /* this open made the file */
    atomic_int full_seen; /* a write met MDB_MAP_FULL since sg_obs_full_seen */
    /* Redis */
    redisContext *rc;
    char host[256];
    int port, db;
};

const char sg_obs_redis_script[] = "local n = #KEYS\n"
                                   "local ttl = tonumber(ARGV[1])\n"
                                   "local cur = {}\n"
                                   "for i = 1, n do\n"
                                   "  cur[i] = redis.call('HGET', KEYS[i], 'v') or '0'\n"
                                   "  if ARGV[1 + i] ~= '*' and cur[i] ~= ARGV[1 + i] then\n"
                                   "    local r = {0}\n"
                                   "    for j = 1, n do\n"
                                   "      local h = redis.call('HMGET', KEYS[j], 'v', 'd')\n"
                                   "      r[#r + 1] = h[1] or '0'\n"
                                   "      r[#r + 1] = h[2] or ''\n"
                                   "    end\n"
                                   "    return r\n"
                                   "  end\n"
                                   "end\n"
                                   "local r = {1}\n"
                                   "local t = redis.call('TIME')\n"
                                   "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
                                   "for i = 1, n do\n"
                                   "  local w = tonumber(cur[i]) or 0\n"
                                   "  local nv = string.format('%.0f', math.max(w + 1, now))\n"
                                   "  redis.call('HSET', KEYS[i], 'v', nv, 'd', ARGV[1 + n + i])\n"
                                   "  local kt = tonumber(ARGV[1 + 2 * n + i])\n"
                                   "  if kt == nil then\n"
                                   "    if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end\n"
                                   "  elseif kt > 0 then\n"
                                   "    redis.call('EXPIRE', KEYS[i], kt)\n"
                                   "  else\n"
                                   "    redis.call('PERSIST', KEYS[i])\n"
                                   "  end\n"
                                   "  r[#r + 1] = nv\n"
                                   "end\n"
                                   "return r\n";

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void sg_obs_opts_init(sg_obs_opts *o)
{
    o->map_size = 1024ull << 20;
    o->sync = 0;
    o->timeout_ms = 200;
    o->ttl_s = 90 * 86400;
}

const char *sg_obs_kind(const sg_obs *s)
{
    static const char *const names[] = {"memory", "lmdb", "redis"};
    return names[s->kind];
}

/* ------------------------------------------------------------------------ */
/* memory                                                                    */

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static mem_ent **mem_slot(sg_obs *s, const char *key)
{
    mem_ent **p = &s->buckets[fnv1a(key) % MEM_BUCKETS];
    while (*p && strcmp((*p)->key, key) != 0)
        p = &(*p)->next;
    return p;
}

static int mem_update(sg_obs *s, sg_obs_rec *r, size_t n, sg_obs_fn fn, void *ctx, char *err,
                      size_t errlen)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < n; i++) {
        mem_ent *e = *mem_slot(s, r[i].key);
        r[i].cur = e ? e->val : NULL;
        r[i].curlen = e ? e->len : 0;
    }
    int rc = fn(ctx, r, n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        mem_ent **p = mem_slot(s, r[i].key), *e = *p;
        uint8_t *v = malloc(r[i].nextlen ? r[i].nextlen : 1);
        if (v == NULL) {
            seterr(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        memcpy(v, r[i].next, r[i].nextlen);
        if (e == NULL) {
            size_t kl = strlen(r[i].key);
            if ((e = calloc(1, sizeof(*e) + kl + 1)) == NULL) {
                free(v);
                seterr(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            memcpy(e->key, r[i].key, kl + 1);
            *p = e;
        }
        free(e->val);
        e->val = v;
        e->len = r[i].nextlen;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int mem_get(sg_obs *s, const char *key, sg_obs_each_fn cb, void *ctx)
{
    pthread_mutex_lock(&s->lock);
    mem_ent *e = *mem_slot(s, key);
    int rc = cb(ctx, key, e ? e->val : NULL, e ? e->len : 0);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int mem_each(sg_obs *s, sg_obs_each_fn cb, void *ctx)
{
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t b = 0; rc == 0 && b < MEM_BUCKETS; b++)
        for (mem_ent *e = s->buckets[b]; rc == 0 && e; e = e->next)
            rc = cb(ctx, e->key, e->val, e->len);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* LMDB                                                                      */

/* What a damaged data.mdb's refusal tells the administrator to do. */
#define LMDB_DAMAGED_FIX                                                                           \
    "a truncated copy or restore? Put back a whole copy, or remove the file to start a new, "      \
    "empty store (every block it held is then forgotten)"

/* Does data.mdb hold every page its newest meta page says the store uses?
 * LMDB maps the file and checks nothing of the sort: a file cut after its
 * two meta pages opens without an error, and the first read of a page past
 * the end is a SIGBUS: the start's expiry sweep (every restart a crash),
 * a decision's read transaction, `spoofguard accounts` (rev24 R24-1).
 * Checked before any of those opens the store, so no read of that store
 * can reach past its end afterwards: a commit writes its pages before the
 * meta page that names them. A file cut while a process has it open is
 * beyond any check made at open: that process dies as it would have.
 *
 * Read only and without the lock file: -t runs as root and leaves nothing
 * behind, and a daemon may hold the store meanwhile (the meta page is read
 * before the file's size, so its commits can only make the file longer
 * than what was read). 0 whole, or one this open cannot read (the store's
 * own open then says why); -1 with err when short or not an LMDB file. */
static int lmdb_whole(const char *dir, const char *data, char *err, size_t errlen)
{
    MDB_env *env;
    MDB_envinfo info;
    MDB_stat ms;
    struct stat st;
    mdb_filehandle_t fd;
    if (mdb_env_create(&env) != 0)
        return 0;
    int rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK, 0);
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
        /* shorter than its two meta pages, or never a store */
        mdb_env_close(env);
        seterr(err, errlen, "%s is not a whole LMDB store (%s): " LMDB_DAMAGED_FIX, data,
               mdb_strerror(rc));
        return -1;
    }
    if (rc != 0 || mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &ms) != 0 ||
        mdb_env_get_fd(env, &fd) != 0 || fstat(fd, &st) != 0) {
        mdb_env_close(env);
        return 0;
    }
    mdb_env_close(env);
    unsigned long long need = ((unsigned long long)info.me_last_pgno + 1) * ms.ms_psize;
    if ((unsigned long long)st.st_size >= need)
        return 0;
    seterr(err, errlen,
           "%s is cut short (%lld bytes of the %llu its pages need), not a whole LMDB "
           "store: " LMDB_DAMAGED_FIX,
           data, (long long)st.st_size, need);
    return -1;
}

static int lmdb_check_once(const char *dir, int *found, char *err, size_t errlen)
{
    char data[4096];
    struct stat st;
    *found = 0;
    if (snprintf(data, sizeof(data), "%s/data.mdb", dir) >= (int)sizeof(data)) {
        seterr(err, errlen, "%s: path too long", dir);
        return -1;
    }
    if (stat(data, &st) != 0)
        return 0; /* none (made new), or the open says why */
    *found = 1;
    if (!S_ISREG(st.st_mode))
        return 0; /* the open says why */
    /* LMDB takes an empty data.mdb for a new environment and starts it
     * afresh; an empty one here is a truncated copy or restore, and opening
     * it would forget every block without a word (adv36 F7) */
    if (st.st_size == 0) {
        seterr(err, errlen, "%s is empty (0 bytes), not an LMDB store: " LMDB_DAMAGED_FIX, data);
        return -1;
    }
    return lmdb_whole(dir, data, err, errlen);
}

/* A store another process is making at this moment (spoofguardd and
 * `spoofguard accounts` opening a new one together) is empty, then short,
 * for the milliseconds LMDB takes to write its first pages under its own
 * lock, which this check does not take: what is still damaged after
 * 200 ms of looking again is a damaged file (a restore stays as it is). */
int sg_obs_lmdb_check(const char *dir, int *found, char *err, size_t errlen)
{
    for (int i = 0;; i++) {
        int rc = lmdb_check_once(dir, found, err, errlen);
        if (rc == 0 || i == 20)
            return rc;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
}

static int lmdb_open(sg_obs *s, const char *dir, char *err, size_t errlen)
{
    int rc;
    MDB_txn *txn;
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        seterr(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    int found = 0;
    if (sg_obs_lmdb_check(dir, &found, err, errlen) != 0)
        return -1;
    /* a new store is said by the caller (sg_obs_created): an administrator
     * who expected the blocks of a restored one must see it was not */
    s->created = !found;
    if ((rc = mdb_env_create(&s->env)) != 0)
        goto fail;
    /* The bound: a full map refuses writes (the daemon then counts in
     * memory) rather than growing the file without end. */
    if ((rc = mdb_env_set_mapsize(s->env, s->opts.map_size)) != 0)
        goto fail;
    /* Threads of one process each run their own transactions (the
     * daemon's workers); without MDB_NOSYNC every decision waits for the
     * disk. A crash of the process loses nothing either way; a crash of
     * the system may lose the last second (the daemon syncs every second). */
    unsigned flags = MDB_NOTLS | (s->opts.sync ? 0 : MDB_NOSYNC | MDB_NOMETASYNC);
    if ((rc = mdb_env_open(s->env, dir, flags, 0660)) != 0)
        goto fail;
    int dead = 0;
    mdb_reader_check(s->env, &dead);
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
        goto fail;
    if ((rc = mdb_dbi_open(txn, NULL, 0, &s->dbi)) != 0) {
        mdb_txn_abort(txn);
        goto fail;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        goto fail;
    return 0;
fail:
    seterr(err, errlen, "%s: %s", dir, mdb_strerror(rc));
    return -1;
}

/* A write that failed: its error, and a full map noted for the caller's
 * upkeep (sg_obs_full_seen). */
static int lmdb_write_failed(sg_obs *s, int rc, char *err, size_t errlen)
{
    if (rc == MDB_MAP_FULL)
        atomic_store(&s->full_seen, 1);
    seterr(err, errlen, "lmdb: %s", mdb_strerror(rc));
    return -1;
}

/* A write transaction; another process may have grown the map. */
static int lmdb_begin(sg_obs *s, unsigned flags, MDB_txn **txn)
{
    int rc = mdb_txn_begin(s->env, NULL, flags, txn);
    if (rc == MDB_MAP_RESIZED && mdb_env_set_mapsize(s->env, 0) == 0)
        rc = mdb_txn_begin(s->env, NULL, flags, txn);
    return rc;
}

static int lmdb_update(sg_obs *s, sg_obs_rec *r, size_t n, sg_obs_fn fn, void *ctx, char *err,
                       size_t errlen)
{
    MDB_txn *txn;
    int rc = lmdb_begin(s, 0, &txn);
    if (rc != 0) {
        seterr(err, errlen, "lmdb: %s", mdb_strerror(rc));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        MDB_val k = {strlen(r[i].key), (void *)r[i].key}, v;
        rc = mdb_get(txn, s->dbi, &k, &v);
        if (rc == MDB_NOTFOUND) {
            r[i].cur = NULL;
            r[i].curlen = 0;
        } else if (rc != 0) {
            mdb_txn_abort(txn);
            seterr(err, errlen, "lmdb: %s", mdb_strerror(rc));
            return -1;
        } else {
            r[i].cur = v.mv_data;
            r[i].curlen = v.mv_size;
        }
    }
    int frc = fn(ctx, r, n);
    if (frc != 0) {
        mdb_txn_abort(txn);
        return frc;
    }
    for (size_t i = 0; i < n; i++) {
        MDB_val k = {strlen(r[i].key), (void *)r[i].key}, v = {r[i].nextlen, r[i].next};
        if ((rc = mdb_put(txn, s->dbi, &k, &v, 0)) != 0) {
            mdb_txn_abort(txn);
            return lmdb_write_failed(s, rc, err, errlen);
        }
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return lmdb_write_failed(s, rc, err, errlen);
    return 0;
}

/* One record read in a read-only transaction: it takes no page, so a full
 * map still answers. */
static int lmdb_get(sg_obs *s, const char *key, sg_obs_each_fn cb, void *ctx, char *err,
                    size_t errlen)
{
    MDB_txn *txn;
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = lmdb_begin(s, MDB_RDONLY, &txn);
    if (rc == 0) {
        rc = mdb_get(txn, s->dbi, &k, &v);
        if (rc == 0 || rc == MDB_NOTFOUND) {
            int out = rc == 0 ? cb(ctx, key, v.mv_data, v.mv_size) : cb(ctx, key, NULL, 0);
            mdb_txn_abort(txn);
            return out;
        }
        mdb_txn_abort(txn);
    }
    seterr(err, errlen, "lmdb: %s", mdb_strerror(rc));
    return -1;
}

/* Records judged per step of a sweep, in a read-only transaction: it
 * holds no lock the workers wait for, but it keeps the pages of its
 * snapshot from reuse, which a full map needs; judging one takes ~20 us
 * (decoding it), so a step lasts a few milliseconds. */
#define SWEEP_BATCH 256
/* LMDB's longest key (mdb_env_get_maxkeysize, as built): where a step
 * resumes, whoever's the key */
#define LMDB_KEY_MAX 511

typedef struct {
    char key[SWEEP_BATCH][SG_OBS_KEY_MAX + 1];
    size_t n;
    char next[LMDB_KEY_MAX + 1]; /* the last key judged */
    size_t nextlen;
} sweep_step;

/* Judges up to SWEEP_BATCH records after `from` (from the first when
 * fromlen is 0) in a read-only transaction: st gets the keys drop() named
 * and where to go on. *done at the end of the store, or when drop said
 * stop (*stopped, its answer). 0, or an LMDB error. */
static int sweep_judge(sg_obs *s, sg_obs_each_fn drop, void *ctx, const char *from, size_t fromlen,
                       sweep_step *st, int *done, int *stopped)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k = {fromlen, (void *)from}, v;
    size_t judged = 0;
    st->n = 0;
    int rc = lmdb_begin(s, MDB_RDONLY, &txn);
    if (rc == 0 && (rc = mdb_cursor_open(txn, s->dbi, &c)) != 0)
        mdb_txn_abort(txn);
    if (rc != 0)
        return rc;
    rc = mdb_cursor_get(c, &k, &v, fromlen ? MDB_SET_RANGE : MDB_FIRST);
    if (rc == 0 && fromlen && k.mv_size == fromlen && !memcmp(k.mv_data, from, fromlen))
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT); /* judged in the step before */
    while (rc == 0 && judged < SWEEP_BATCH) {
        judged++;
        if (k.mv_size <= LMDB_KEY_MAX) {
            memcpy(st->next, k.mv_data, k.mv_size);
            st->nextlen = k.mv_size;
        }
        if (k.mv_size <= SG_OBS_KEY_MAX) { /* longer: not ours */
            char *key = st->key[st->n];
            memcpy(key, k.mv_data, k.mv_size);
            key[k.mv_size] = '\0';
            int d = drop(ctx, key, v.mv_data, v.mv_size);
            if (d < 0) {
                *stopped = d;
                rc = MDB_NOTFOUND; /* the end, for this walk */
                break;
            }
            if (d > 0)
                st->n++;
        }
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    *done = rc == MDB_NOTFOUND;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The keys st->key[at .. at+n) deleted in one write transaction, each
 * judged again as it is now (a decision may have come since the read):
 * the transaction takes a few microseconds per key. 0, or an LMDB error
 * (nothing of this call deleted). */
static int sweep_delete(sg_obs *s, sg_obs_each_fn drop, void *ctx, const sweep_step *st, size_t at,
                        size_t n, size_t *removed)
{
    MDB_txn *txn;
    size_t gone = 0;
    int rc = lmdb_begin(s, 0, &txn);
    if (rc != 0)
        return rc;
    for (size_t i = at; i < at + n; i++) {
        MDB_val k = {strlen(st->key[i]), (void *)st->key[i]}, v;
        rc = mdb_get(txn, s->dbi, &k, &v);
        if (rc == MDB_NOTFOUND) { /* gone meanwhile */
            rc = 0;
            continue;
        }
        if (rc == 0 && drop(ctx, st->key[i], v.mv_data, v.mv_size) > 0 &&
            (rc = mdb_del(txn, s->dbi, &k, NULL)) == 0)
            gone++;
        if (rc != 0) {
            mdb_txn_abort(txn);
            return rc;
        }
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return rc;
    *removed += gone;
    return 0;
}

static int lmdb_sweep(sg_obs *s, sg_obs_each_fn drop, void *ctx, size_t *removed, char *err,
                      size_t errlen)
{
    sweep_step *st = malloc(sizeof(*st));
    char from[LMDB_KEY_MAX + 1];
    size_t fromlen = 0;
    int done = 0, stopped = 0, rc = 0;
    if (st == NULL) {
        seterr(err, errlen, "out of memory");
        return -1;
    }
    while (!done && rc == 0) {
        st->nextlen = fromlen;
        memcpy(st->next, from, fromlen);
        if ((rc = sweep_judge(s, drop, ctx, from, fromlen, st, &done, &stopped)) != 0)
            break;
        /* a delete copies the pages on its way, which a full map may not
         * have for many at once: fewer a transaction, freeing as they go */
        for (size_t at = 0, chunk = st->n; rc == 0 && at < st->n;) {
            size_t n = chunk < st->n - at ? chunk : st->n - at;
            rc = sweep_delete(s, drop, ctx, st, at, n, removed);
            if (rc == MDB_MAP_FULL && chunk > 1) {
                chunk = chunk / 4 ? chunk / 4 : 1;
                rc = 0;
            } else if (rc == 0) {
                at += n;
            }
        }
        memcpy(from, st->next, st->nextlen);
        fromlen = st->nextlen;
    }
    free(st);
    if (rc != 0) {
        seterr(err, errlen, "lmdb: %s", mdb_strerror(rc));
        return -1;
    }
    return stopped;
}

static int lmdb_each(sg_obs *s, sg_obs_each_fn cb, void *ctx, char *err, size_t errlen)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    char key[SG_OBS_KEY_MAX + 1];
    int rc = lmdb_begin(s, MDB_RDONLY, &txn), out = 0;
    if (rc == 0 && (rc = mdb_cursor_open(txn, s->dbi, &c)) != 0)
        mdb_txn_abort(txn);
    if (rc != 0) {
        seterr(err, errlen, "lmdb: %s", mdb_strerror(rc));
        return -1;
    }
    while (out == 0 && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
        if (k.mv_size > SG_OBS_KEY_MAX)
            continue; /* not ours */
        memcpy(key, k.mv_data, k.mv_size);
        key[k.mv_size] = '\0';
        out = cb(ctx, key, v.mv_data, v.mv_size);
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (out == 0 && rc != MDB_NOTFOUND) {
        seterr(err, errlen, "lmdb: %s", mdb_strerror(rc));
        return -1;
    }
    return out;
}

/* ------------------------------------------------------------------------ */
/* Redis, synchronous (the CLI)                                              */

int sg_obs_redis_url(const char *spec, char *host, size_t hostcap, int *port, int *db, char *err,
                     size_t errlen)
{
    if (strncmp(spec, "redis://", 8) != 0) {
        seterr(err, errlen, "%s: not a redis:// address", spec);
        return -1;
    }
    const char *p = spec + strlen("redis://"), *colon, *slash;
    slash = strchr(p, '/');
    colon = strrchr(p, ':');
    if (slash && colon > slash)
        colon = NULL;
    size_t hl = colon ? (size_t)(colon - p) : slash ? (size_t)(slash - p) : strlen(p);
    if (hl == 0 || hl >= hostcap) {
        seterr(err, errlen, "%s: no host", spec);
        return -1;
    }
    memcpy(host, p, hl);
    host[hl] = '\0';
    *port = 6379;
    if (colon) {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || v < 1 || v > 65535 || (*end && *end != '/')) {
            seterr(err, errlen, "%s: bad port", spec);
            return -1;
        }
        *port = (int)v;
    }
    *db = 0;
    if (slash && slash[1]) {
        char *end;
        long v = strtol(slash + 1, &end, 10);
        if (*end || v < 0 || v > 1023) {
            seterr(err, errlen, "%s: bad database number", spec);
            return -1;
        }
        *db = (int)v;
    }
    return 0;
}

static int redis_connect(sg_obs *s, char *err, size_t errlen)
{
    struct timeval tv = {s->opts.timeout_ms / 1000, (s->opts.timeout_ms % 1000) * 1000};
    if (s->rc)
        redisFree(s->rc);
    s->rc = redisConnectWithTimeout(s->host, s->port, tv);
    if (s->rc == NULL || s->rc->err) {
        seterr(err, errlen, "redis %s:%d: %s", s->host, s->port,
               s->rc ? s->rc->errstr : "no memory");
        if (s->rc)
            redisFree(s->rc);
        s->rc = NULL;
        return -1;
    }
    redisSetTimeout(s->rc, tv);
    if (s->db) {
        redisReply *r = redisCommand(s->rc, "SELECT %d", s->db);
        int bad = r == NULL || r->type == REDIS_REPLY_ERROR;
        if (r)
            freeReplyObject(r);
        if (bad) {
            seterr(err, errlen, "redis: SELECT %d failed", s->db);
            /* not left connected to database 0, where the next call
             * would write (rev27 R27-2) */
            redisFree(s->rc);
            s->rc = NULL;
            return -1;
        }
    }
    return 0;
}

/* Runs the script: 1 written, 0 conflict (cur/ver hold the current
 * records, kept in *keep until the next call), -1 error. */
static int redis_cas(redisContext *rc, sg_obs_rec *r, size_t n, char ver[][SG_OBS_VER_MAX],
                     unsigned ttl, redisReply **keep, char *err, size_t errlen)
{
    /* EVAL, the script, n, the TTL; a key, a version, the bytes and a TTL
     * each */
    const char *argv[4 + SG_OBS_MAXKEYS * 4];
    size_t argl[4 + SG_OBS_MAXKEYS * 4], a = 0;
    char keys[SG_OBS_MAXKEYS][SG_OBS_KEY_MAX + 8], nk[16], ttls[16];
    argv[a] = "EVAL", argl[a++] = 4;
    argv[a] = sg_obs_redis_script, argl[a++] = strlen(sg_obs_redis_script);
    snprintf(nk, sizeof(nk), "%zu", n);
    argv[a] = nk, argl[a++] = strlen(nk);
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], sizeof(keys[i]), SG_OBS_REDIS_PREFIX "%s", r[i].key);
        argv[a] = keys[i], argl[a++] = strlen(keys[i]);
    }
    snprintf(ttls, sizeof(ttls), "%u", ttl);
    argv[a] = ttls, argl[a++] = strlen(ttls);
    for (size_t i = 0; i < n; i++)
        argv[a] = ver[i], argl[a++] = strlen(ver[i]);
    for (size_t i = 0; i < n; i++)
        argv[a] = (const char *)r[i].next, argl[a++] = r[i].nextlen;
    for (size_t i = 0; i < n; i++) {
        argv[a] = r[i].keep ? "0" : ttls;
        argl[a] = strlen(argv[a]);
        a++;
    }
    redisReply *rep = redisCommandArgv(rc, (int)a, argv, argl);
    if (rep == NULL) {
        seterr(err, errlen, "redis: %s", rc->errstr[0] ? rc->errstr : "no answer");
        return -1;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        rep->element[0]->type != REDIS_REPLY_INTEGER) {
        seterr(err, errlen, "redis: unexpected answer%s%s",
               rep->type == REDIS_REPLY_ERROR ? ": " : "",
               rep->type == REDIS_REPLY_ERROR ? rep->str : "");
        freeReplyObject(rep);
        return -1;
    }
    if (rep->element[0]->integer == 1) {
        freeReplyObject(rep);
        return 1;
    }
    if (rep->elements != 1 + 2 * n) {
        freeReplyObject(rep);
        seterr(err, errlen, "redis: unexpected answer");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *v = rep->element[1 + 2 * i], *d = rep->element[2 + 2 * i];
        snprintf(ver[i], SG_OBS_VER_MAX, "%.*s", v->str ? (int)v->len : 1, v->str ? v->str : "0");
        int absent = strcmp(ver[i], "0") == 0;
        r[i].cur = absent ? NULL : (const uint8_t *)d->str;
        r[i].curlen = absent ? 0 : d->len;
    }
    if (*keep)
        freeReplyObject(*keep);
    *keep = rep;
    return 0;
}

static int redis_update(sg_obs *s, sg_obs_rec *r, size_t n, sg_obs_fn fn, void *ctx, char *err,
                        size_t errlen)
{
    char ver[SG_OBS_MAXKEYS][SG_OBS_VER_MAX];
    redisReply *keep = NULL;
    int rc = -1;
    if (s->rc == NULL && redis_connect(s, err, errlen) != 0)
        return -1;
    /* A version no record has: the first run only fetches the records
     * as they are; then each try decides on what the script returned. */
    for (size_t i = 0; i < n; i++) {
        strcpy(ver[i], "?");
        r[i].nextlen = 0;
    }
    int c = redis_cas(s->rc, r, n, ver, s->opts.ttl_s, &keep, err, errlen);
    unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int attempt = 0; c == 0; attempt++) {
        /* Optimistic writes starve a writer that keeps losing to a busy
         * one (two hosts on one account): after a few tries, a random
         * wait growing to about 6 ms, and a budget of 2 s in all rather
         * than a count of tries (this client serves the CLI, which may
         * wait; the daemon's client bounds its own tries). */
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 > 2000)
            break;
        if (attempt >= 3) {
            unsigned span = 100u << (attempt < 9 ? attempt - 3 : 6);
            struct timespec ts = {0, (long)(rand_r(&seed) % span) * 1000L};
            nanosleep(&ts, NULL);
        }
        int frc = fn(ctx, r, n);
        if (frc != 0) {
            rc = frc;
            c = 2;
            break;
        }
        c = redis_cas(s->rc, r, n, ver, s->opts.ttl_s, &keep, err, errlen);
    }
    if (c == 1)
        rc = 0;
    else if (c == 0)
        seterr(err, errlen, "redis: the records kept changing");
    if (c < 0) { /* the next call reconnects */
        redisFree(s->rc);
        s->rc = NULL;
    }
    if (keep)
        freeReplyObject(keep);
    return rc;
}

static int redis_each(sg_obs *s, sg_obs_each_fn cb, void *ctx, char *err, size_t errlen)
{
    char cursor[32] = "0";
    int out = 0;
    if (s->rc == NULL && redis_connect(s, err, errlen) != 0)
        return -1;
    do {
        redisReply *r =
            redisCommand(s->rc, "SCAN %s MATCH " SG_OBS_REDIS_PREFIX "* COUNT 200", cursor);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            seterr(err, errlen, "redis: SCAN failed");
            if (r)
                freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; out == 0 && i < r->element[1]->elements; i++) {
            redisReply *k = r->element[1]->element[i];
            redisReply *d = redisCommand(s->rc, "HGET %b d", k->str, k->len);
            if (d && d->type == REDIS_REPLY_STRING &&
                k->len - strlen(SG_OBS_REDIS_PREFIX) <= SG_OBS_KEY_MAX) {
                char key[SG_OBS_KEY_MAX + 1];
                size_t kl = k->len - strlen(SG_OBS_REDIS_PREFIX);
                memcpy(key, k->str + strlen(SG_OBS_REDIS_PREFIX), kl);
                key[kl] = '\0';
                out = cb(ctx, key, (const uint8_t *)d->str, d->len);
            }
            if (d)
                freeReplyObject(d);
        }
        freeReplyObject(r);
    } while (out == 0 && strcmp(cursor, "0") != 0);
    return out;
}

static int redis_get(sg_obs *s, const char *key, sg_obs_each_fn cb, void *ctx, char *err,
                     size_t errlen)
{
    if (s->rc == NULL && redis_connect(s, err, errlen) != 0)
        return -1;
    redisReply *d = redisCommand(s->rc, "HGET " SG_OBS_REDIS_PREFIX "%s d", key);
    if (d == NULL || (d->type != REDIS_REPLY_STRING && d->type != REDIS_REPLY_NIL)) {
        seterr(err, errlen, "redis: HGET failed");
        if (d)
            freeReplyObject(d);
        else { /* the next call reconnects */
            redisFree(s->rc);
            s->rc = NULL;
        }
        return -1;
    }
    int rc = d->type == REDIS_REPLY_STRING ? cb(ctx, key, (const uint8_t *)d->str, d->len)
                                           : cb(ctx, key, NULL, 0);
    freeReplyObject(d);
    return rc;
}

/* ------------------------------------------------------------------------ */

int sg_obs_open(sg_obs **out, const char *spec, const sg_obs_opts *o, char *err, size_t errlen)
{
    sg_obs *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (s == NULL) {
        seterr(err, errlen, "out of memory");
        return -1;
    }
    if (o)
        s->opts = *o;
    else
        sg_obs_opts_init(&s->opts);
    pthread_mutex_init(&s->lock, NULL);
    int rc;
    if (!strcmp(spec, "memory:")) {
        s->kind = OBS_MEMORY;
        s->buckets = calloc(MEM_BUCKETS, sizeof(*s->buckets));
        rc = s->buckets ? 0 : -1;
        if (rc)
            seterr(err, errlen, "out of memory");
    } else if (!strncmp(spec, "redis://", 8)) {
        s->kind = OBS_REDIS;
        rc = sg_obs_redis_url(spec, s->host, sizeof(s->host), &s->port, &s->db, err, errlen);
    } else {
        s->kind = OBS_LMDB;
        rc = lmdb_open(s, spec, err, errlen);
    }
    if (rc != 0) {
        sg_obs_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void sg_obs_close(sg_obs *s)
{
    if (s == NULL)
        return;
    if (s->buckets) {
        for (size_t b = 0; b < MEM_BUCKETS; b++)
            for (mem_ent *e = s->buckets[b], *nx; e; e = nx) {
                nx = e->next;
                free(e->val);
                free(e);
            }
        free(s->buckets);
    }
    if (s->env) {
        mdb_env_sync(s->env, 1);
        mdb_env_close(s->env);
    }
    if (s->rc)
        redisFree(s->rc);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int sg_obs_update(sg_obs *s, sg_obs_rec *r, size_t n, sg_obs_fn fn, void *ctx, char *err,
                  size_t errlen)
{
    if (n == 0 || n > SG_OBS_MAXKEYS) {
        seterr(err, errlen, "bad record count");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (strlen(r[i].key) > SG_OBS_KEY_MAX) {
            seterr(err, errlen, "key too long");
            return -1;
        }
    switch (s->kind) {
    case OBS_MEMORY:
        return mem_update(s, r, n, fn, ctx, err, errlen);
    case OBS_LMDB:
        return lmdb_update(s, r, n, fn, ctx, err, errlen);
    case OBS_REDIS:
        return redis_update(s, r, n, fn, ctx, err, errlen);
    }
    return -1;
}

int sg_obs_each(sg_obs *s, sg_obs_each_fn cb, void *ctx, char *err, size_t errlen)
{
    switch (s->kind) {
    case OBS_MEMORY:
        return mem_each(s, cb, ctx);
    case OBS_LMDB:
        return lmdb_each(s, cb, ctx, err, errlen);
    case OBS_REDIS:
        return redis_each(s, cb, ctx, err, errlen);
    }
    return -1;
}

int sg_obs_get(sg_obs *s, const char *key, sg_obs_each_fn cb, void *ctx, char *err, size_t errlen)
{
    if (strlen(key) > SG_OBS_KEY_MAX) {
        seterr(err, errlen, "key too long");
        return -1;
    }
    switch (s->kind) {
    case OBS_MEMORY:
        return mem_get(s, key, cb, ctx);
    case OBS_LMDB:
        return lmdb_get(s, key, cb, ctx, err, errlen);
    case OBS_REDIS:
        return redis_get(s, key, cb, ctx, err, errlen);
    }
    return -1;
}

int sg_obs_sweep(sg_obs *s, sg_obs_each_fn drop, void *ctx, size_t *removed, char *err,
                 size_t errlen)
{
    *removed = 0;
    if (s->kind != OBS_LMDB)
        return 0;
    return lmdb_sweep(s, drop, ctx, removed, err, errlen);
}

int64_t sg_obs_now(sg_obs *s)
{
    int64_t now = (int64_t)time(NULL);
    char err[8]; /* a failed connection is the next operation's to tell */
    if (s->kind != OBS_REDIS || (s->rc == NULL && redis_connect(s, err, sizeof(err)) != 0))
        return now; /* connected lazily, as the other operations */
    redisReply *r = redisCommand(s->rc, "TIME");
    uint64_t us = sg_obs_time_reply_us(r);
    freeReplyObject(r);
    return us ? (int64_t)(us / 1000000) : now;
}

/* Digits only, at most 19 (a uint64_t); 0 otherwise. */
static uint64_t reply_u64(const redisReply *v)
{
    if (v == NULL || v->type != REDIS_REPLY_STRING || v->len == 0 || v->len > 19)
        return 0;
    uint64_t n = 0;
    for (size_t i = 0; i < v->len; i++) {
        if (v->str[i] < '0' || v->str[i] > '9')
            return 0;
        n = n * 10 + (uint64_t)(v->str[i] - '0');
    }
    return n;
}

uint64_t sg_obs_time_reply_us(const redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        return 0;
    return reply_u64(r->element[0]) * 1000000 + reply_u64(r->element[1]) % 1000000;
}

int sg_obs_created(const sg_obs *s)
{
    return s->kind == OBS_LMDB && s->created;
}

int sg_obs_full_seen(sg_obs *s)
{
    return s->kind == OBS_LMDB && atomic_exchange(&s->full_seen, 0);
}

void sg_obs_maintain(sg_obs *s)
{
    if (s->kind != OBS_LMDB)
        return;
    int dead = 0;
    mdb_env_sync(s->env, 1);
    mdb_reader_check(s->env, &dead);
}
