/*
 * What the daemon and the CLI do to the outbound records, each as one
 * store update (obstore.h): decide on a message, note a refusal or a
 * delivery-status report, block, release, and carry one store's records
 * into another (a host's memory into its store once that works again). The engine
 * (include/spoofguard/outbound.h) does the judging; this file decodes the
 * stored bytes into its records and encodes them back.
 */
#ifndef SG_OUTBOUND_OBOPS_H
#define SG_OUTBOUND_OBOPS_H

#include <stdatomic.h>

#include <spoofguard/outbound.h>

#include "obstore.h"

typedef enum {
    SG_OBOP_DECIDE = 0, /* records: account, sending domain (optional) */
    SG_OBOP_REFUSAL,    /* record: account */
    SG_OBOP_DSN,        /* record: account */
    SG_OBOP_BLOCK,      /* record: account */
    SG_OBOP_RELEASE,    /* record: account */
    SG_OBOP_TAKE,       /* record: any; its bytes into take[], only its block left */
    SG_OBOP_MERGE,      /* record: any; the record in src[] merged into it */
} sg_obop_kind;

typedef struct {
    sg_obop_kind kind;
    const sg_ob_policy *pol;
    const sg_ob_message *msg; /* DECIDE */
    int64_t t;                /* REFUSAL, DSN, BLOCK, RELEASE */
    const char *status;       /* DSN: "5.1.1" */
    /* DSN from outside (sg_ob_note_dsn_sent): counted only when one of the
     * failed recipient's addresses is one the account sent to */
    int dsn_checked;
    const char *dsn_reporter; /* the report's authenticated (registrable) domain */
    const char *dsn_own;      /* the domain of our address the report came to */
    const char *const *dsn_rcpts;
    size_t dsn_nrcpts;
    uint32_t reasons; /* BLOCK */
    /* TAKE: where the record's bytes go (take_len 0: there was none, and
     * nothing was written); MERGE: the encoded record to add */
    uint8_t *take;
    size_t take_cap, take_len;
    const uint8_t *src;
    size_t srclen;
    /* results */
    sg_ob_decision out; /* DECIDE, DSN */
    int dsn_counted;    /* DSN: a hard bounce was counted */
    unsigned fresh;     /* bit i: record i did not decode and started afresh */
    int engine_rc;      /* the engine's error, if any */
} sg_obop;

/* The sg_obs_fn of every operation (ctx: an sg_obop). */
int sg_obop_fn(void *ctx, sg_obs_rec *r, size_t n);

/* The buffers of one operation's records. */
typedef struct {
    uint8_t buf[SG_OBS_MAXKEYS][SG_OB_ACCOUNT_MAX];
    char acct[SG_OBS_KEY_MAX + 1];
    char dom[SG_OBS_KEY_MAX + 1];
    sg_obs_rec rec[SG_OBS_MAXKEYS];
    size_t n;
} sg_obop_recs;

/* The name a login's record has: its ASCII letters lower-cased into dst
 * (SG_OBS_KEY_MAX + 1 bytes). 0, or -1 when it is longer than a key may be
 * (the store refuses it as it is). */
int sg_obop_fold_login(char dst[SG_OBS_KEY_MAX + 1], const char *acct);

/* Sets up the records: acct (its letters lower-cased: the sender map
 * compares logins without case, and where SASL does too, Support@ and
 * support@ must be one account, or a blocked login goes on as another),
 * and for a message its sending domain ("@" + the lower-cased domain of
 * mail_from) when there is one. */
void sg_obop_recs_init(sg_obop_recs *rr, const char *acct, const char *mail_from);

/* The whole operation on a store. 0, or -1 with err set. */
int sg_obop_run(sg_obs *s, sg_obop *op, const char *acct, const char *mail_from, char *err,
                size_t errlen);

/* Every record of `from` moved into `to`, one key at a time: taken out of
 * `from` (only its block left there, so a next outage starts blocked) and
 * merged into `to`'s record of the same key (sg_ob_account_merge), so
 * counts made meanwhile on either side are kept; an empty record is
 * skipped, a blocked one goes every time. When `to` fails, the record goes
 * back into `from` and the walk stops: -1 with err. records: the records
 * carried, blocked: those that carried a block. */
typedef struct {
    size_t records, blocked;
} sg_obop_drained;
int sg_obop_drain(sg_obs *from, sg_obs *to, sg_obop_drained *out, char *err, size_t errlen);

/* Is the account blocked in the store's record of key? Read without
 * writing (sg_obs_get), for a store that has just refused a write: its
 * block still holds. 1, 0 (not blocked, no record, or one that does not
 * decode), or -1 with err. */
int sg_obop_blocked_now(sg_obs *s, const char *key, char *err, size_t errlen);

/* Records idle for `idle` seconds at `now` (sg_ob_account_last_active:
 * no decision, note, block or release since) deleted from an LMDB store,
 * as Redis expires them (the TTL): without it, every new MAIL FROM domain
 * of an internal client adds a record until the map is full (adv36 F3).
 * Never a record that holds a block (a block lasts until an administrator
 * releases it), nor one that does not decode (it may be a newer
 * release's). removed: how many went; kept_blocked: idle ones kept for
 * their block. stop (NULL: none): once it reads non-zero the walk ends
 * at the next record (a stopping daemon does not wait for millions).
 * Memory and Redis: nothing. 0, 1 stopped, or -1 with err. */
typedef struct {
    size_t removed, kept_blocked;
} sg_obop_expired;
int sg_obop_expire(sg_obs *s, int64_t now, int64_t idle, const atomic_int *stop,
                   sg_obop_expired *out, char *err, size_t errlen);

/* ---- a spill file: a store's records kept across a restart ----
 * When spoofguardd stops while its store is away, what it counted in
 * memory (blocks included) would be lost; it writes the records to a file
 * and, at the next start, reads them back into memory, from where they are
 * carried as usual. Format (big-endian): SG_OBOP_SPILL_MAGIC, then per
 * record a u16 key length (1..SG_OBS_KEY_MAX), the key (no NUL), a u32
 * length (1..SG_OB_ACCOUNT_MAX) and the engine's encoding of the record;
 * then a u16 0 and a u32 count of the records. */
#define SG_OBOP_SPILL_MAGIC "SGOBSPILL1\n"
#define SG_OBOP_SPILL_MAX (256u << 20) /* bytes; a bigger file is refused */

/* Every record of `from` into path (mode 0600, written beside it and
 * renamed, so a reader sees all of it or none). Nothing is written when
 * `from` is empty. out: the records and how many are blocked. 0, or -1
 * with err set. */
int sg_obop_spill_save(sg_obs *from, const char *path, sg_obop_drained *out, char *err,
                       size_t errlen);
/* A spill file's bytes merged into `to`: every record checked (the layout,
 * each record decodes) before any is merged, so a damaged file adds
 * nothing. 0, or -1 with err set. */
int sg_obop_spill_parse(sg_obs *to, const uint8_t *buf, size_t len, sg_obop_drained *out, char *err,
                        size_t errlen);
/* The file at path, parsed into `to`. It must be a regular file of this
 * process's user, writable by nobody else: its records can block and
 * release accounts. 1: there is none; 0; or -1 with err set. */
int sg_obop_spill_load(sg_obs *to, const char *path, sg_obop_drained *out, char *err,
                       size_t errlen);

#endif
