/*
 * The daemon's Redis client for the outbound records (issue 14): hiredis
 * on a worker's libuv loop, never blocking it. One update is one run of
 * the compare-and-set script (src/outbound/obstore.h) against the
 * versions this worker last saw (a small local cache); on a conflict the
 * script returns the current records and the update is decided again on
 * them, a bounded number of times. A block written by another host thus
 * reaches this one on its next decision for that account.
 *
 * Redis away (refused, closed, silent for timeout_ms): the update fails
 * at once or at the timeout, the caller counts in memory instead, and the
 * client reconnects with backoff.
 */
#ifndef SG_DAEMON_OBREDIS_H
#define SG_DAEMON_OBREDIS_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "log.h"
#include "obstore.h"

typedef struct sg_obredis sg_obredis;

/* url: redis://HOST:PORT[/DB]. fallback_active: a gauge of clients that
 * are down (shared by the workers). */
int sg_obredis_new(sg_obredis **out, uv_loop_t *loop, const char *url, unsigned timeout_ms,
                   unsigned ttl_s, const sg_logger *log, atomic_int *fallback_active, char *err,
                   size_t errlen);
/* Starts closing its handles (the loop must run once more), then frees
 * with sg_obredis_free after the loop has closed. */
void sg_obredis_close(sg_obredis *r);
void sg_obredis_free(sg_obredis *r);

/* status 0: written (the records hold what fn decided last); -1: Redis
 * failed or timed out, nothing is known to be written; SG_OBREDIS_BUSY:
 * other writers kept changing the records (MAX_ATTEMPTS decisions),
 * nothing written, Redis works: the message should wait, not be counted
 * elsewhere. */
#define SG_OBREDIS_BUSY (-2)
typedef void (*sg_obredis_done)(void *payload, int status);

/* Starts an update of recs (the caller's until done or cancel; fn runs on
 * this loop). Returns a request id, or 0 when Redis is down now (nothing
 * started: count in memory). */
uint64_t sg_obredis_update(sg_obredis *r, sg_obs_rec *recs, size_t n, sg_obs_fn fn, void *ctx,
                           sg_obredis_done done, void *payload);
/* Did Redis say just now (within the timeout; after an error reply the
 * worker reads the account's record again) that key's record is blocked?
 * What a decision counted in memory because Redis refuses writes (full,
 * read-only) still enforces of a block made elsewhere; an older copy is
 * not trusted (it may predate a release). */
int sg_obredis_cached_blocked(sg_obredis *r, const char *key);

/* Now, in Unix seconds, on Redis's clock: this host's clock plus the
 * offset the worker last learned from Redis (TIME at each connection, the
 * versions of its writes; 0 until then). Every host deciding on the same
 * records decides on one clock (adv43 F1: two hosts an hour apart reset
 * each other's window buckets, 120 of 120 messages out against a limit
 * of 30). */
int64_t sg_obredis_time(const sg_obredis *r);
/* The caller's data is gone: fn is not run again for id; done is still
 * called once (with -1 or 0), to free what the caller keeps for it. */
void sg_obredis_cancel(sg_obredis *r, uint64_t id);

#endif
