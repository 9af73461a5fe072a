/*
 * Internal: the outbound engine's policy and account record. Every array
 * has a fixed size, so a record's encoded size is a constant whatever the
 * traffic (SG_OB_ACCOUNT_MAX bounds it; ob_record_size() says how much).
 */
#ifndef SG_OUTBOUND_OB_H
#define SG_OUTBOUND_OB_H

#include <spoofguard/outbound.h>
#include <stddef.h>
#include <stdint.h>

/* ---- policy keys: one table (policy.c), one index each ---- */
enum {
    OBK_MSG_MINUTE,
    OBK_MSG_HOUR,
    OBK_MSG_DAY,
    OBK_RCPT_DAY,
    OBK_RCPT_MESSAGE,
    OBK_EXT_DAY,
    OBK_LEARNING_DAYS,
    OBK_RAMP_RCPT_DAY,
    OBK_BASE_FLOOR,
    OBK_BASE_FACTOR,
    OBK_NEW_FLOOR,
    OBK_NEW_FACTOR,
    OBK_NEW_SHARE,
    OBK_INT_FLOOR,
    OBK_INT_FACTOR,
    OBK_BODY_RCPTS,
    OBK_REFUSALS_HOUR,
    OBK_NETWORKS_DAY,
    OBK_BOUNCE_SAMPLE,
    OBK_BOUNCE_WARN,
    OBK_BOUNCE_HOLD,
    OBK_DOM_MSG_DAY,
    OBK_DOM_RCPT_DAY,
    OBK_HOLD_SCORE,
    OBK_BLOCK_SCORE,
    OBK_HOLDS_TO_BLOCK,
    OBK_ONSET,
    OBK_W_BASELINE,
    OBK_W_RAMP,
    OBK_W_NEW,
    OBK_W_EXT,
    OBK_W_BODY,
    OBK_W_REFUSALS,
    OBK_W_NEW_NET,
    OBK_W_NETWORKS,
    OBK_W_BOUNCES,
    OBK_W_INTERNAL,
    OBK_W_LIMITS,
    OBK_W_DOMAIN,
    OBK_COUNT
};

typedef struct {
    const char *name;
    double def, min, max;
    int integer; /* the value must be a whole number */
    const char *help;
} ob_key;

extern const ob_key sg_ob_keys[OBK_COUNT];

#define OB_MAX_CLASSES 64
#define OB_CLASS_NAME_MAX 64

typedef struct {
    char name[OB_CLASS_NAME_MAX];
    double v[OBK_COUNT];
} ob_class;

typedef struct {
    char *account;
    int cls;
} ob_assign;

struct sg_ob_policy {
    ob_class *classes; /* [0] is "default" */
    size_t nclasses;
    ob_assign *assign;
    size_t nassign, assign_cap;
    char **internal; /* lower-case domains */
    size_t ninternal, internal_cap;
};

/* The class an account key belongs to ("default" unless assigned). */
const ob_class *sg_ob_policy_class(const sg_ob_policy *p, const char *account);
/* Is the address's domain one of the organisation's? fallback: the
 * domain used when the policy names none (the sender's own). */
int sg_ob_policy_internal(const sg_ob_policy *p, const char *addr, const char *fallback);

/* A growing string for the text views (JSON, configuration lines). s
 * must start as a malloc()ed block (cap > 0); after a failed allocation
 * oom is set and later writes do nothing. */
typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} ob_buf;
void sg_ob_printf(ob_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the record ---- */

/* Counters kept per time bucket. */
/* F_NEW counts first-time external recipients, F_NEWINT first-time
 * internal ones: a recipient feeds one signal, never two. */
enum { F_MSG, F_RCPT, F_NEW, F_EXT, F_NEWINT, F_REFUSE, F_HOLD, F_BOUNCE, F_COUNT };

/* Three sliding windows: a minute of 6 x 10 s, an hour of 12 x 5 min, a
 * day of 24 x 1 h. A bucket's stamp is its index in time plus one (0:
 * empty), so a bucket left from an earlier turn of the ring is known stale
 * without sweeping. */
enum { W_MINUTE, W_HOUR, W_DAY, W_COUNT };
#define OB_RING_MAX 24

typedef struct {
    uint32_t stamp[OB_RING_MAX];
    uint32_t c[OB_RING_MAX][F_COUNT];
} ob_ring;

#define OB_BLOOM_WORDS 128 /* 8192 bits a generation */
#define OB_BLOOM_K 4
#define OB_BLOOM_CAPACITY 700 /* ~1% false "known" when full */
#define OB_NETS 32
#define OB_BODIES 16
#define OB_BOUNCED 64

struct sg_ob_account {
    int64_t created, last_t;
    int64_t blocked_since, released_at;
    uint32_t blocked, block_reasons;

    ob_ring ring[W_COUNT];

    /* Baseline by hour of day (UTC): decaying averages of what the
     * account sent (allowed) per hour, x100; peaks decay ~2% a day. */
    int64_t base_hour; /* the open hour (t / 3600); 0: none yet */
    uint32_t cur[F_COUNT];
    uint32_t ewma_rcpt[24], ewma_new[24], ewma_int[24];
    uint32_t peak_rcpt, peak_new, peak_int;
    uint32_t base_hours;

    /* recipients: two Bloom generations; the older is cleared when the
     * newer fills, so the history never saturates. Hashed with HMAC-SHA256
     * under hkey, a secret of this record made with its history (all
     * zeros: none yet), so that no one outside can compute which
     * addresses look known (adv28 OB-1). bloom_legacy: bit g set when
     * generation g came from a record before version 4 (unkeyed FNV-1a) */
    uint64_t bloom[2][OB_BLOOM_WORDS];
    uint32_t bloom_n[2];
    uint32_t bloom_cur;
    uint64_t hkey[2];
    uint32_t bloom_legacy;

    /* networks: /24 or /48 prefixes, least recently seen evicted */
    uint8_t net[OB_NETS][16];
    int64_t net_first[OB_NETS], net_last[OB_NETS];
    uint32_t nnet;

    /* recent bodies: fingerprint, first use in the current hour, recipients */
    uint64_t body[OB_BODIES];
    int64_t body_t[OB_BODIES];
    uint32_t body_rcpts[OB_BODIES];

    /* recipients a report from outside failed, each counted once a day:
     * the address's keyed hash and when it was counted (0: free); when
     * full the oldest is forgotten. bounced_by: the keyed hash (| 1) of
     * the reporting domain whose report counted it, 0 for the other
     * address of the same failure: how many a reporter counted today */
    uint64_t bounced[OB_BOUNCED];
    int64_t bounced_t[OB_BOUNCED];
    uint64_t bounced_by[OB_BOUNCED];
};

/* a + b, held at UINT32_MAX: counters never wrap */
static inline uint32_t ob_sat_add(uint32_t a, uint32_t b)
{
    return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

/* Sum of counter f over the window w ending at time t. */
uint32_t sg_ob_ring_sum(const sg_ob_account *a, int w, int f, int64_t t);
void sg_ob_ring_add(sg_ob_account *a, int f, int64_t t, uint32_t n);
void sg_ob_ring_clear(sg_ob_account *a);
/* src's buckets into dst: the same bucket adds up, one dst lacks (or holds
 * from an older turn of the ring) is taken; buckets that began before
 * not_before are left out. */
void sg_ob_ring_merge(sg_ob_account *dst, const sg_ob_account *src, int64_t not_before);

uint64_t sg_ob_hash(const char *s, size_t n, int fold_case);
/* HMAC-SHA256 under k, 64 bits of it: SG_OK with *out, SG_ENOMEM,
 * SG_ECRYPTO. */
int sg_ob_keyed_hash(const uint64_t k[2], const char *s, size_t n, int fold_case, uint64_t *out);
/* The record's history key, made now (getrandom) if it has none: SG_OK,
 * or SG_EIO when no randomness could be had. */
int sg_ob_history_key(sg_ob_account *a);
/* An address (or a reporting domain) under the record's key, ASCII case
 * folded: SG_OK with *out, or SG_ENOMEM. */
int sg_ob_rcpt_hash(const sg_ob_account *a, const char *s, uint64_t *out);
/* Is addr in the recipient history? keyed_only: not by a generation an
 * older record made with the unkeyed hash (proof for a report from
 * outside must be the keyed history). 1 yes, 0 no, SG_ENOMEM; keyed (may
 * be NULL): the address's keyed hash, for the caller's own use. */
int sg_ob_bloom_has(const sg_ob_account *a, const char *addr, int keyed_only, uint64_t *keyed);
/* Into the history; the record must have its key (sg_ob_history_key).
 * SG_OK, or SG_ENOMEM (nothing added). */
int sg_ob_bloom_add(sg_ob_account *a, const char *addr);
/* src's keyed history joined to dst's, when both have the same key (or
 * dst none yet: it takes src's). 1 when joined, 0 when src's means
 * nothing under dst's key and was left out. */
int sg_ob_bloom_merge(sg_ob_account *dst, const sg_ob_account *src);
/* The record as version 1 (unpacked), 2 (packed) or 3 wrote it, without
 * the fields added since: stores may still hold such records, and
 * sg_ob_account_decode reads them; for tests and fuzzing. */
int sg_ob_account_encode_old(const sg_ob_account *a, unsigned version, uint8_t *buf, size_t cap,
                             size_t *len);

#endif
