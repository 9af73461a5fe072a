/*
 * The outbound engine's state stores (issue 14): where the per-account
 * records of include/spoofguard/outbound.h live between decisions. A small
 * internal library shared by the daemon and the CLI, never part of
 * libspoofguard's API. The record bytes are opaque here
 * (sg_ob_account_encode/decode give them their meaning).
 *
 * One update = read up to SG_OBS_MAXKEYS records, let the caller decide on
 * them, write them back, atomically:
 *   - memory: one mutex (the fallback when Redis is away; tests);
 *   - LMDB (a directory): one write transaction, so the daemon's workers
 *     and the CLI share the file safely;
 *   - Redis (redis://HOST:PORT[/DB]): one Lua script compares each record's
 *     version and writes, or returns the current records; the caller
 *     decides again on those (a bounded number of times).
 */
#ifndef SG_OUTBOUND_OBSTORE_H
#define SG_OUTBOUND_OBSTORE_H

#include <stddef.h>
#include <stdint.h>

#define SG_OBS_MAXKEYS 2
#define SG_OBS_KEY_MAX 320 /* "@" + a domain, a login, or "ip:" + an address */
/* A Redis record's version: Redis's TIME in microseconds at the write (or
 * one more than the version before, if that is larger), a decimal integer
 * of 16 digits, so a record Redis lost and made again never reuses one a
 * host may have cached; "0" for none. Still a number, as the versions
 * before were (an older release's script sharing the Redis reads it). */
#define SG_OBS_VER_MAX 40
/* Redis keys: this prefix + the record key; LMDB keys: the record key. */
#define SG_OBS_REDIS_PREFIX "sgob:"

/* One record of an update: the caller fills key and the next buffer; the
 * store fills cur (NULL: no record yet); the decision fills next/nextlen. */
typedef struct {
    const char *key;
    const uint8_t *cur;
    size_t curlen;
    uint8_t *next; /* caller's buffer of nextcap bytes */
    size_t nextcap, nextlen;
    /* The decision says next holds a block: a block lasts until an
     * administrator releases it, so the record must never expire (Redis:
     * written without a TTL, any old one removed). The bytes are opaque
     * here; obops knows what they mean. */
    int keep;
} sg_obs_rec;

/* Decides on the current records and writes the next ones. 0: write them;
 * anything else: write nothing, the update returns it. Called more than
 * once when a shared store saw a concurrent change (each call judges the
 * records afresh). */
typedef int (*sg_obs_fn)(void *ctx, sg_obs_rec *r, size_t n);

typedef struct sg_obs sg_obs;

typedef struct {
    uint64_t map_size;   /* LMDB: the file's bound, bytes */
    int sync;            /* LMDB: fsync each decision (else the daemon syncs every second) */
    unsigned timeout_ms; /* Redis: connect and command timeout */
    unsigned ttl_s;      /* a record idle this long expires (Redis: its TTL; LMDB: obops' sweep),
                          * never one that holds a block (sg_obs_rec.keep) */
} sg_obs_opts;

void sg_obs_opts_init(sg_obs_opts *o);

/* spec: "memory:", "redis://HOST:PORT[/DB]", or a directory (LMDB,
 * created if missing). 0, or -1 with err set. */
int sg_obs_open(sg_obs **out, const char *spec, const sg_obs_opts *o, char *err, size_t errlen);
void sg_obs_close(sg_obs *s);
/* "memory", "lmdb", "redis" */
const char *sg_obs_kind(const sg_obs *s);

/* One atomic update (above). 0, fn's non-zero result, or -1 for a store
 * error (err set; nothing was written). */
int sg_obs_update(sg_obs *s, sg_obs_rec *r, size_t n, sg_obs_fn fn, void *ctx, char *err,
                  size_t errlen);

/* Each record (key, bytes) in key order (memory, LMDB) or any order (Redis).
 * cb's non-zero result stops the walk and is returned; -1 store error. */
typedef int (*sg_obs_each_fn)(void *ctx, const char *key, const uint8_t *v, size_t vlen);
int sg_obs_each(sg_obs *s, sg_obs_each_fn cb, void *ctx, char *err, size_t errlen);

/* One record, read without writing: cb(ctx, key, bytes, length) once,
 * with NULL and 0 when there is none. LMDB reads in a read-only
 * transaction, which takes no page: a full map that refuses every write
 * still answers, so a block in it still holds (adv36 F3). cb's result, or
 * -1 for a store error (err set). */
int sg_obs_get(sg_obs *s, const char *key, sg_obs_each_fn cb, void *ctx, char *err, size_t errlen);

/* LMDB: every record for which drop(ctx, key, bytes, length) says 1 is
 * deleted. The walk judges a few hundred records at a time in a read-only
 * transaction (no lock a decision waits for), then deletes those named in
 * a short write transaction that judges each again as it is then, so a
 * decision made in between is never deleted unseen (drop may so be called
 * twice for a record). A negative answer ends the walk there and is
 * returned (what was deleted before stays deleted). Memory and Redis:
 * nothing (Redis expires its records itself: the TTL). removed: how many
 * went. 0, drop's negative answer, or -1 with err. */
int sg_obs_sweep(sg_obs *s, sg_obs_each_fn drop, void *ctx, size_t *removed, char *err,
                 size_t errlen);

/* LMDB: this open made a new, empty store (there was no data.mdb). */
int sg_obs_created(const sg_obs *s);

/* Now, in Unix seconds, on the store's clock: Redis's (TIME) for a Redis
 * store, as the daemons decide on it (obredis.h); this host's otherwise,
 * or when TIME fails. */
int64_t sg_obs_now(sg_obs *s);

struct redisReply;
/* Redis's answer to TIME as microseconds since 1970; 0 if r is not one.
 * The CLI's store (sg_obs_now) and the daemon's workers (obredis.c) read
 * Redis's clock with it. */
uint64_t sg_obs_time_reply_us(const struct redisReply *r);

/* LMDB: a write met a full map (MDB_MAP_FULL) since the last call. */
int sg_obs_full_seen(sg_obs *s);

/* An LMDB folder as sg_obs_open would find it, before anything opens it:
 * *found when it holds a data.mdb. -1 (err names the file and the fix)
 * when that file is empty (LMDB would start a new store over it, and a
 * truncated restore would forget every block in silence), or shorter than
 * the pages the store says it uses (LMDB would open it, and a read past
 * its end is a SIGBUS), or not an LMDB file. */
int sg_obs_lmdb_check(const char *dir, int *found, char *err, size_t errlen);

/* LMDB: flush to disk (the daemon's timer without outbound_store_sync);
 * clear the slots of readers that died. No-op for the others. */
void sg_obs_maintain(sg_obs *s);

/* ---- the Redis script, shared by the synchronous client here and the
 * daemon's asynchronous one (src/daemon/obredis.c) ---- */

/* KEYS: the records; ARGV[1] the TTL in seconds, ARGV[1+i] the version the
 * caller based record i on ("0": none; "*": write it whatever its
 * version), ARGV[1+n+i] its new bytes, ARGV[1+2n+i] record i's own TTL:
 * "0" for none (PERSIST: it holds a block, sg_obs_rec.keep), else the TTL
 * (ARGV[1] when left out, as the script before it read it). Returns
 * {1, v1..vn} written, or {0, v1, d1, .., vn, dn}: a version differed,
 * nothing written, the current versions and bytes ("" when absent). */
extern const char sg_obs_redis_script[];

/* Parses redis://HOST:PORT[/DB] (port 6379 and database 0 by default). */
int sg_obs_redis_url(const char *spec, char *host, size_t hostcap, int *port, int *db, char *err,
                     size_t errlen);

#endif
