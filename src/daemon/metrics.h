/*
 * spoofguardd metrics: the registry and its rendering in the Prometheus
 * text exposition format 0.0.4. No I/O here (metrics_http.c serves it).
 *
 * Every worker thread owns one shard and is its only writer: a counter
 * goes up with a relaxed load and store (no lock, no locked instruction
 * on the mail path); the scraping thread reads the shards with relaxed
 * loads and adds them up. Label values come only from bounded sets
 * (result enums, the key table's domains and selectors), never from
 * anything a sender writes. Metric names are a contract: docs/metrics.md.
 */
#ifndef SG_DAEMON_METRICS_H
#define SG_DAEMON_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ---- a bounded output buffer ----------------------------------------------- */

typedef struct {
    char *data;
    size_t len, cap, max;
    int full; /* something did not fit (or out of memory): the text is cut */
} sg_mbuf;

void sg_mbuf_init(sg_mbuf *b, size_t max);
void sg_mbuf_free(sg_mbuf *b);
void sg_mbuf_printf(sg_mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the text format ------------------------------------------------------- */

/* Histogram buckets (upper bounds, microseconds; +Inf is implied). One
 * set for every histogram: 0.5 ms to 30 s. */
#define SG_HIST_NB 15
extern const uint64_t sg_hist_bounds_us[SG_HIST_NB];

typedef struct {
    _Atomic uint64_t bucket[SG_HIST_NB + 1]; /* non-cumulative; last: over the top bound */
    _Atomic uint64_t sum_us;
} sg_mhist;

/* A snapshot of one histogram (or the sum of several). */
typedef struct {
    uint64_t bucket[SG_HIST_NB + 1];
    uint64_t sum_us;
} sg_hist_snap;

/* "# HELP" (escaped) and "# TYPE" lines. */
void sg_prom_head(sg_mbuf *b, const char *name, const char *type, const char *help);
/* One sample: labels is npairs (name, value) pairs; values are escaped
 * (backslash, double quote, line feed). */
void sg_prom_sample(sg_mbuf *b, const char *name, const char *const *labels, size_t npairs,
                    uint64_t value);
void sg_prom_sample_f(sg_mbuf *b, const char *name, const char *const *labels, size_t npairs,
                      double value);
/* _bucket{...,le=...} (cumulative), _sum (seconds) and _count. */
void sg_prom_histogram(sg_mbuf *b, const char *name, const char *const *labels, size_t npairs,
                       const sg_hist_snap *h);

/* ---- spoofguardd's registry ---------------------------------------------- */

typedef enum { SG_MDIR_INBOUND = 0, SG_MDIR_OUTBOUND, SG_MDIR_N } sg_mdir;
typedef enum {
    SG_MACT_ACCEPT = 0,
    SG_MACT_REJECT,
    SG_MACT_QUARANTINE,
    SG_MACT_TEMPFAIL,
    SG_MACT_N
} sg_mact;
/* Why a message got the fail-safe answer. */
typedef enum {
    SG_MFS_DNS = 0,  /* a temporary DNS failure kept the verdict from being decided */
    SG_MFS_TIMEOUT,  /* message_timeout_s ran out */
    SG_MFS_OVERLOAD, /* over max_connections */
    SG_MFS_INTERNAL, /* out of memory, signing or parsing set-up failed */
    SG_MFS_SIGNER,   /* the signer process is gone or answered an error */
    SG_MFS_N
} sg_mfs;

/* Sizes of the library's result enums (sg_verdict_kind, sg_spf_result_code,
 * sg_dkim_result, sg_dmarc_result_code, sg_arc_cv, sg_dns_status). */
#define SG_M_VERDICT_N 3
#define SG_M_SPF_N 7
#define SG_M_DKIM_N 7
#define SG_M_DMARC_N 5
#define SG_M_ARC_N 3
#define SG_M_DNS_N 6

/* Outbound: actions (sg_ob_action), reason bits, notify results. */
#define SG_M_OB_ACTION_N 4
#define SG_M_OB_REASON_N 32
#define SG_M_OB_NOTIFY_N 3

/* Distinct (domain, selector) label pairs for signing keys; keys beyond
 * share the last slot, labelled "_other", so the series stay bounded. */
#define SG_METRICS_MAX_KEYS 32
#define SG_METRICS_KEY_OTHER (SG_METRICS_MAX_KEYS - 1)

typedef struct {
    /* a cache line of its own: workers never write the same line */
    _Alignas(64) _Atomic uint64_t sessions_opened;
    _Atomic uint64_t sessions_closed;
    _Atomic uint64_t verdicts[SG_M_VERDICT_N];
    _Atomic uint64_t actions[SG_MDIR_N][SG_MACT_N];
    _Atomic uint64_t spf[SG_M_SPF_N];
    _Atomic uint64_t dkim[SG_M_DKIM_N];
    _Atomic uint64_t dmarc[SG_M_DMARC_N];
    _Atomic uint64_t arc[SG_M_ARC_N];
    _Atomic uint64_t failsafe[SG_MFS_N];
    _Atomic uint64_t signatures[SG_METRICS_MAX_KEYS];
    _Atomic uint64_t accept_pauses;      /* accept4 out of descriptors or memory */
    _Atomic uint64_t arc_seals[2];       /* our ARC sets: added, left off (arc_seal_key) */
    _Atomic uint64_t dns[2][SG_M_DNS_N]; /* [from_cache][status] */
    sg_mhist dns_latency;                /* network answers only */
    sg_mhist message_duration[SG_MDIR_N];
    /* outbound decisions (issue 14) */
    _Atomic uint64_t ob_decisions[SG_M_OB_ACTION_N]; /* sg_ob_action */
    _Atomic uint64_t ob_reasons[SG_M_OB_REASON_N];   /* by reason bit */
    _Atomic uint64_t ob_fallback;                    /* decided in memory: the store failed */
    _Atomic uint64_t ob_fresh;                       /* records that did not decode */
    _Atomic uint64_t ob_notify[SG_M_OB_NOTIFY_N]; /* the notify command: run, suppressed, failed */
    _Atomic uint64_t ob_events[2];                /* ownership refusals, DSNs noted */
    sg_mhist ob_latency;
} sg_metrics_shard;

typedef struct {
    unsigned slot;
    int64_t mtime;   /* Unix seconds */
    int64_t created; /* from the rotation state, else mtime */
} sg_metrics_live_key;

/* Owned by the server. Shards are written by their worker; everything
 * else is read and written by the main thread only. */
typedef struct {
    sg_metrics_shard *shards;
    size_t nshards;
    uint64_t reloads_ok, reloads_failed;
    double start_time; /* Unix seconds */
    const char *version;
    /* label slots, append-only so a counter never changes its labels */
    char *key_domain[SG_METRICS_MAX_KEYS], *key_selector[SG_METRICS_MAX_KEYS];
    size_t nkeys;
    /* the keys of the current configuration, for their age */
    sg_metrics_live_key live[SG_METRICS_MAX_KEYS];
    size_t nlive;
    uint64_t http_refused; /* scrape connections refused (over the limit) */
    /* the watchdog check's (server.c on_watchdog): stalls seen, and what
     * stands still now, of the workers [0] and the signer [1] */
    uint64_t stalls[2];
    unsigned stalled[2];
    /* workers counting outbound mail in memory now (the store failed), or
     * NULL without outbound (owned by the server) */
    const atomic_int *ob_fallback_active;
    /* the log's lines lost (owned by the server), or NULL */
    const struct sg_logstats *logstats;
} sg_metrics;

int sg_metrics_init(sg_metrics *m, size_t nshards, const char *version, double start_time);
void sg_metrics_free(sg_metrics *m);

/* The label slot of a key (main thread): an existing one, a new one, or
 * SG_METRICS_KEY_OTHER when the slots are used up. */
unsigned sg_metrics_key_slot(sg_metrics *m, const char *domain, const char *selector);

/* Render every metric; now: Unix seconds (for key ages). */
void sg_metrics_render(const sg_metrics *m, sg_mbuf *b, double now);

/* ---- writers (a shard's own thread only) ------------------------------- */

static inline void sg_mc_inc(_Atomic uint64_t *c, uint64_t v)
{
    /* single writer: a plain add, made race-free for the reader */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

/* arr[i] += 1 for an enum value i; a value the registry does not know
 * (a library enum that grew) is dropped rather than miscounted. */
#define SG_MC_INC_AT(arr, i)                                                                       \
    do {                                                                                           \
        size_t i_ = (size_t)(i);                                                                   \
        if (i_ < sizeof(arr) / sizeof((arr)[0]))                                                   \
            sg_mc_inc(&(arr)[i_], 1);                                                              \
    } while (0)

void sg_mhist_observe(sg_mhist *h, uint64_t us);

#endif
