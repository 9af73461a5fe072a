/*
 * spoofguardd metrics: registry and Prometheus text rendering (see
 * metrics.h). Format: https://prometheus.io/docs/instrumenting/exposition_formats/
 * (text format 0.0.4): "# HELP name text", "# TYPE name type", then
 * "name{label="value",...} number" lines; a histogram is cumulative
 * name_bucket{le="..."} lines ending with le="+Inf", then name_sum and
 * name_count.
 */
#include "metrics.h"

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spoofguard/arc.h>
#include <spoofguard/dkim.h>
#include <spoofguard/dmarc.h>
#include <spoofguard/dns.h>
#include <spoofguard/outbound.h>
#include <spoofguard/spf.h>
#include <spoofguard/verdict.h>

const uint64_t sg_hist_bounds_us[SG_HIST_NB] = {
    500,    1000,   2500,    5000,    10000,   25000,    50000,    100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000,
};

/* ------------------------------------------------------------------------ */
/* output buffer                                                             */

void sg_mbuf_init(sg_mbuf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void sg_mbuf_free(sg_mbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static int mbuf_reserve(sg_mbuf *b, size_t more)
{
    if (b->full)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    if (b->len + more + 1 > b->max) {
        b->full = 1;
        return -1;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    if (cap > b->max)
        cap = b->max;
    char *d = realloc(b->data, cap);
    if (d == NULL) {
        b->full = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

static void mbuf_put(sg_mbuf *b, const char *s, size_t n)
{
    if (mbuf_reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sg_mbuf_printf(sg_mbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        b->full = 1; /* every line we print is short: longer is a bug, not data */
        return;
    }
    mbuf_put(b, tmp, (size_t)n);
}

/* ------------------------------------------------------------------------ */
/* text format                                                               */

/* HELP text escapes backslash and line feed; label values also '"'. */
static void put_escaped(sg_mbuf *b, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            mbuf_put(b, "\\\\", 2);
        else if (*s == '\n')
            mbuf_put(b, "\\n", 2);
        else if (*s == '"' && quote)
            mbuf_put(b, "\\\"", 2);
        else
            mbuf_put(b, s, 1);
    }
}

void sg_prom_head(sg_mbuf *b, const char *name, const char *type, const char *help)
{
    sg_mbuf_printf(b, "# HELP %s ", name);
    put_escaped(b, help, 0);
    sg_mbuf_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void put_labels(sg_mbuf *b, const char *const *labels, size_t npairs, const char *le)
{
    if (npairs == 0 && le == NULL)
        return;
    mbuf_put(b, "{", 1);
    for (size_t i = 0; i < npairs; i++) {
        sg_mbuf_printf(b, "%s%s=\"", i ? "," : "", labels[2 * i]);
        put_escaped(b, labels[2 * i + 1], 1);
        mbuf_put(b, "\"", 1);
    }
    if (le)
        sg_mbuf_printf(b, "%sle=\"%s\"", npairs ? "," : "", le);
    mbuf_put(b, "}", 1);
}

void sg_prom_sample(sg_mbuf *b, const char *name, const char *const *labels, size_t npairs,
                    uint64_t value)
{
    mbuf_put(b, name, strlen(name));
    put_labels(b, labels, npairs, NULL);
    sg_mbuf_printf(b, " %llu\n", (unsigned long long)value);
}

void sg_prom_sample_f(sg_mbuf *b, const char *name, const char *const *labels, size_t npairs,
                      double value)
{
    mbuf_put(b, name, strlen(name));
    put_labels(b, labels, npairs, NULL);
    /* times and ages: milliseconds are enough */
    sg_mbuf_printf(b, " %.3f\n", value);
}

void sg_prom_histogram(sg_mbuf *b, const char *name, const char *const *labels, size_t npairs,
                       const sg_hist_snap *h)
{
    char series[128], le[32];
    uint64_t cum = 0;
    snprintf(series, sizeof(series), "%s_bucket", name);
    for (size_t i = 0; i <= SG_HIST_NB; i++) {
        cum += h->bucket[i];
        if (i < SG_HIST_NB)
            snprintf(le, sizeof(le), "%g", (double)sg_hist_bounds_us[i] / 1e6);
        else
            strcpy(le, "+Inf");
        mbuf_put(b, series, strlen(series));
        put_labels(b, labels, npairs, le);
        sg_mbuf_printf(b, " %llu\n", (unsigned long long)cum);
    }
    snprintf(series, sizeof(series), "%s_sum", name);
    mbuf_put(b, series, strlen(series));
    put_labels(b, labels, npairs, NULL);
    sg_mbuf_printf(b, " %.6f\n", (double)h->sum_us / 1e6);
    snprintf(series, sizeof(series), "%s_count", name);
    sg_prom_sample(b, series, labels, npairs, cum);
}

/* ------------------------------------------------------------------------ */
/* registry                                                                  */

void sg_mhist_observe(sg_mhist *h, uint64_t us)
{
    size_t i = 0;
    while (i < SG_HIST_NB && us > sg_hist_bounds_us[i])
        i++;
    sg_mc_inc(&h->bucket[i], 1);
    sg_mc_inc(&h->sum_us, us);
}

int sg_metrics_init(sg_metrics *m, size_t nshards, const char *version, double start_time)
{
    memset(m, 0, sizeof(*m));
    size_t n = nshards ? nshards : 1;
    m->shards = aligned_alloc(_Alignof(sg_metrics_shard), n * sizeof(sg_metrics_shard));
    if (m->shards == NULL)
        return -1;
    memset(m->shards, 0, n * sizeof(sg_metrics_shard));
    m->nshards = nshards;
    m->version = version;
    m->start_time = start_time;
    return 0;
}

void sg_metrics_free(sg_metrics *m)
{
    for (size_t i = 0; i < m->nkeys; i++) {
        free(m->key_domain[i]);
        free(m->key_selector[i]);
    }
    free(m->shards);
    memset(m, 0, sizeof(*m));
}

unsigned sg_metrics_key_slot(sg_metrics *m, const char *domain, const char *selector)
{
    for (size_t i = 0; i < m->nkeys; i++)
        if (!strcmp(m->key_domain[i], domain) && !strcmp(m->key_selector[i], selector))
            return (unsigned)i;
    if (m->nkeys >= SG_METRICS_KEY_OTHER)
        return SG_METRICS_KEY_OTHER;
    char *d = strdup(domain), *s = strdup(selector);
    if (d == NULL || s == NULL) {
        free(d);
        free(s);
        return SG_METRICS_KEY_OTHER;
    }
    m->key_domain[m->nkeys] = d;
    m->key_selector[m->nkeys] = s;
    return (unsigned)m->nkeys++;
}

static uint64_t ld(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Sum of one counter over the shards: off is its offset in the shard. */
static uint64_t sum_at(const sg_metrics *m, size_t off)
{
    uint64_t v = 0;
    for (size_t i = 0; i < m->nshards; i++)
        v += ld((const _Atomic uint64_t *)((const char *)&m->shards[i] + off));
    return v;
}
#define SUM(m, field) sum_at((m), offsetof(sg_metrics_shard, field))

static void hist_sum(const sg_metrics *m, size_t off, sg_hist_snap *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < m->nshards; i++) {
        const sg_mhist *h = (const sg_mhist *)((const char *)&m->shards[i] + off);
        for (size_t k = 0; k <= SG_HIST_NB; k++)
            out->bucket[k] += ld(&h->bucket[k]);
        out->sum_us += ld(&h->sum_us);
    }
}

static const char *const DIRECTION[SG_MDIR_N] = {"inbound", "outbound"};
static const char *const ACTION[SG_MACT_N] = {"accept", "reject", "quarantine", "tempfail"};
static const char *const FAILSAFE[SG_MFS_N] = {"dns", "timeout", "overload", "internal", "signer"};
static const char *const DNS_STATUS[SG_M_DNS_N] = {"noerror",  "nodata",  "nxdomain",
                                                   "servfail", "timeout", "error"};

/* A counter family with one label over an enum, one series per value. */
static void enum_family(sg_mbuf *b, const sg_metrics *m, const char *name, const char *help,
                        const char *label, size_t off, size_t n, const char *(*str)(int))
{
    sg_prom_head(b, name, "counter", help);
    for (size_t i = 0; i < n; i++) {
        const char *l[2] = {label, str((int)i)};
        sg_prom_sample(b, name, l, 1, sum_at(m, off + i * sizeof(_Atomic uint64_t)));
    }
}

static const char *verdict_str(int v)
{
    return sg_verdict_kind_str((sg_verdict_kind)v);
}
static const char *spf_str(int v)
{
    return sg_spf_result_str((sg_spf_result_code)v);
}
static const char *dkim_str(int v)
{
    return sg_dkim_result_str((sg_dkim_result)v);
}
static const char *dmarc_str(int v)
{
    return sg_dmarc_result_str((sg_dmarc_result_code)v);
}
static const char *arc_str(int v)
{
    return sg_arc_cv_str((sg_arc_cv)v);
}
static const char *failsafe_str(int v)
{
    return FAILSAFE[v];
}

#define OFF(field) offsetof(sg_metrics_shard, field)

static const char *ob_action_str(int v)
{
    return sg_ob_action_name((sg_ob_action)v);
}
static const char *const OB_NOTIFY[SG_M_OB_NOTIFY_N] = {"run", "suppressed", "failed"};
static const char *ob_notify_str(int v)
{
    return OB_NOTIFY[v];
}

/* The outbound engine's decisions (issue 14). Reason labels are the
 * engine's reason names: a fixed set, never what a sender writes. */
static void render_outbound(const sg_metrics *m, sg_mbuf *b)
{
    sg_hist_snap h;
    enum_family(b, m, "spoofguard_outbound_decisions_total",
                "Outbound messages judged by the abuse engine, by action.", "action",
                OFF(ob_decisions), SG_M_OB_ACTION_N, ob_action_str);
    sg_prom_head(b, "spoofguard_outbound_reasons_total", "counter",
                 "Reasons given by outbound decisions other than allow (one per reason).");
    for (size_t i = 0; i < SG_M_OB_REASON_N; i++) {
        const char *name = sg_ob_reason_name(1u << i);
        if (name == NULL)
            continue;
        const char *l[2] = {"reason", name};
        sg_prom_sample(b, "spoofguard_outbound_reasons_total", l, 1,
                       sum_at(m, OFF(ob_reasons) + i * sizeof(_Atomic uint64_t)));
    }
    sg_prom_head(b, "spoofguard_outbound_decision_duration_seconds", "histogram",
                 "Time one outbound decision took, store included.");
    hist_sum(m, OFF(ob_latency), &h);
    sg_prom_histogram(b, "spoofguard_outbound_decision_duration_seconds", NULL, 0, &h);
    sg_prom_head(b, "spoofguard_outbound_store_fallback_total", "counter",
                 "Outbound decisions counted in memory because the store (Redis, LMDB) failed.");
    sg_prom_sample(b, "spoofguard_outbound_store_fallback_total", NULL, 0, SUM(m, ob_fallback));
    sg_prom_head(b, "spoofguard_outbound_store_fallback", "gauge",
                 "Workers counting outbound mail in memory now (Redis unreachable); LMDB: 1 "
                 "while it refuses writes.");
    sg_prom_sample(b, "spoofguard_outbound_store_fallback", NULL, 0,
                   m->ob_fallback_active ? (uint64_t)atomic_load(m->ob_fallback_active) : 0);
    sg_prom_head(b, "spoofguard_outbound_records_reset_total", "counter",
                 "Stored outbound records that did not decode and started afresh.");
    sg_prom_sample(b, "spoofguard_outbound_records_reset_total", NULL, 0, SUM(m, ob_fresh));
    enum_family(b, m, "spoofguard_outbound_notify_total",
                "Runs of the outbound_notify command on a trip, by result.", "result",
                OFF(ob_notify), SG_M_OB_NOTIFY_N, ob_notify_str);
    sg_prom_head(b, "spoofguard_outbound_events_total", "counter",
                 "Evidence noted for outbound accounts besides messages, by kind.");
    {
        const char *r[2] = {"kind", "ownership_refusal"}, *d[2] = {"kind", "dsn"};
        sg_prom_sample(b, "spoofguard_outbound_events_total", r, 1, sum_at(m, OFF(ob_events)));
        sg_prom_sample(b, "spoofguard_outbound_events_total", d, 1,
                       sum_at(m, OFF(ob_events) + sizeof(_Atomic uint64_t)));
    }
}

void sg_metrics_render(const sg_metrics *m, sg_mbuf *b, double now)
{
    sg_hist_snap h;

    sg_prom_head(b, "spoofguard_build_info", "gauge",
                 "Always 1; the version label says which spoofguardd runs.");
    {
        const char *l[2] = {"version", m->version ? m->version : "unknown"};
        sg_prom_sample(b, "spoofguard_build_info", l, 1, 1);
    }
    sg_prom_head(b, "spoofguard_start_time_seconds", "gauge",
                 "When spoofguardd started, in seconds since the Unix epoch.");
    sg_prom_sample_f(b, "spoofguard_start_time_seconds", NULL, 0, m->start_time);
    sg_prom_head(b, "spoofguard_workers", "gauge", "Event-loop worker threads.");
    sg_prom_sample(b, "spoofguard_workers", NULL, 0, m->nshards);

    uint64_t opened = SUM(m, sessions_opened), closed = SUM(m, sessions_closed);
    sg_prom_head(b, "spoofguard_milter_sessions_open", "gauge",
                 "Milter connections from the MTA open now.");
    sg_prom_sample(b, "spoofguard_milter_sessions_open", NULL, 0,
                   opened > closed ? opened - closed : 0);
    sg_prom_head(b, "spoofguard_milter_sessions_total", "counter",
                 "Milter connections accepted from the MTA.");
    sg_prom_sample(b, "spoofguard_milter_sessions_total", NULL, 0, opened);

    sg_prom_head(b, "spoofguard_actions_total", "counter",
                 "Messages answered, by direction and the answer given to the MTA.");
    for (size_t d = 0; d < SG_MDIR_N; d++)
        for (size_t a = 0; a < SG_MACT_N; a++) {
            const char *l[4] = {"direction", DIRECTION[d], "action", ACTION[a]};
            sg_prom_sample(
                b, "spoofguard_actions_total", l, 2,
                sum_at(m, OFF(actions) + (d * SG_MACT_N + a) * sizeof(_Atomic uint64_t)));
        }

    enum_family(b, m, "spoofguard_verdicts_total", "Inbound messages judged, by verdict.",
                "verdict", OFF(verdicts), SG_M_VERDICT_N, verdict_str);
    enum_family(b, m, "spoofguard_spf_results_total",
                "SPF results of inbound messages (the MAIL FROM identity, or HELO for the "
                "null sender).",
                "result", OFF(spf), SG_M_SPF_N, spf_str);
    enum_family(b, m, "spoofguard_dkim_results_total",
                "DKIM results of inbound messages: one per signature, none for a message "
                "without any.",
                "result", OFF(dkim), SG_M_DKIM_N, dkim_str);
    enum_family(b, m, "spoofguard_dmarc_results_total", "DMARC results of inbound messages.",
                "result", OFF(dmarc), SG_M_DMARC_N, dmarc_str);
    enum_family(b, m, "spoofguard_arc_results_total",
                "ARC chain validation results of inbound messages.", "result", OFF(arc), SG_M_ARC_N,
                arc_str);
    enum_family(b, m, "spoofguard_failsafe_total",
                "Messages given the fail-safe answer (option failsafe), by cause.", "cause",
                OFF(failsafe), SG_MFS_N, failsafe_str);

    sg_prom_head(b, "spoofguard_signatures_total", "counter",
                 "DKIM signatures added to outbound mail, by signing domain and selector.");
    for (size_t k = 0; k < SG_METRICS_MAX_KEYS; k++) {
        int other = k == SG_METRICS_KEY_OTHER;
        if (k >= m->nkeys && !other)
            continue;
        uint64_t v = sum_at(m, OFF(signatures) + k * sizeof(_Atomic uint64_t));
        if (other && v == 0)
            continue;
        const char *l[4] = {"domain", other ? "_other" : m->key_domain[k], "selector",
                            other ? "_other" : m->key_selector[k]};
        sg_prom_sample(b, "spoofguard_signatures_total", l, 2, v);
    }
    sg_prom_head(b, "spoofguard_accept_pauses_total", "counter",
                 "Times a worker could not accept a milter connection (out of file descriptors "
                 "or memory) and paused 100 ms; the connection waits in the backlog.");
    sg_prom_sample(b, "spoofguard_accept_pauses_total", NULL, 0, sum_at(m, OFF(accept_pauses)));
    sg_prom_head(b, "spoofguard_arc_seals_total", "counter",
                 "Our ARC sets on inbound mail passed on (arc_seal_key): added, or left off "
                 "(the signer failed or was too slow; the message went on without).");
    for (size_t r = 0; r < 2; r++) {
        const char *l[2] = {"result", r ? "unsigned" : "added"};
        sg_prom_sample(b, "spoofguard_arc_seals_total", l, 1,
                       sum_at(m, OFF(arc_seals) + r * sizeof(_Atomic uint64_t)));
    }
    sg_prom_head(b, "spoofguard_signing_key_age_seconds", "gauge",
                 "Age of each signing key in use: now minus the key file's modification time "
                 "when it was loaded.");
    for (size_t i = 0; i < m->nlive; i++) {
        unsigned k = m->live[i].slot;
        if (k >= m->nkeys)
            continue;
        const char *l[4] = {"domain", m->key_domain[k], "selector", m->key_selector[k]};
        double age = now - (double)m->live[i].mtime;
        sg_prom_sample_f(b, "spoofguard_signing_key_age_seconds", l, 2, age > 0 ? age : 0);
    }
    sg_prom_head(b, "spoofguard_dkim_key_age_seconds", "gauge",
                 "Age of each DKIM key in use: now minus its creation time in the rotation state "
                 "(spoofguard keys), else its file's modification time.");
    for (size_t i = 0; i < m->nlive; i++) {
        unsigned k = m->live[i].slot;
        if (k >= m->nkeys)
            continue;
        const char *l[4] = {"domain", m->key_domain[k], "selector", m->key_selector[k]};
        double age = now - (double)m->live[i].created;
        sg_prom_sample_f(b, "spoofguard_dkim_key_age_seconds", l, 2, age > 0 ? age : 0);
    }

    sg_prom_head(b, "spoofguard_dns_queries_total", "counter",
                 "DNS answers delivered to the checks, by source (cache or network) and status.");
    for (size_t c = 0; c < 2; c++)
        for (size_t st = 0; st < SG_M_DNS_N; st++) {
            const char *l[4] = {"source", c ? "cache" : "network", "status", DNS_STATUS[st]};
            sg_prom_sample(b, "spoofguard_dns_queries_total", l, 2,
                           sum_at(m, OFF(dns) + (c * SG_M_DNS_N + st) * sizeof(_Atomic uint64_t)));
        }
    sg_prom_head(b, "spoofguard_dns_timeouts_total", "counter",
                 "DNS queries that got no answer after every try (dns_timeout_ms, dns_tries).");
    sg_prom_sample(b, "spoofguard_dns_timeouts_total", NULL, 0,
                   sum_at(m, OFF(dns) + SG_DNS_TIMEOUT * sizeof(_Atomic uint64_t)));
    sg_prom_head(b, "spoofguard_dns_query_duration_seconds", "histogram",
                 "Time from asking to answer of DNS queries that went to the network.");
    hist_sum(m, OFF(dns_latency), &h);
    sg_prom_histogram(b, "spoofguard_dns_query_duration_seconds", NULL, 0, &h);

    sg_prom_head(b, "spoofguard_message_duration_seconds", "histogram",
                 "Time from MAIL FROM to our answer at end of message, by direction.");
    for (size_t d = 0; d < SG_MDIR_N; d++) {
        const char *l[2] = {"direction", DIRECTION[d]};
        hist_sum(m, OFF(message_duration) + d * sizeof(sg_mhist), &h);
        sg_prom_histogram(b, "spoofguard_message_duration_seconds", l, 1, &h);
    }

    render_outbound(m, b);

    sg_prom_head(b, "spoofguard_reloads_total", "counter",
                 "Configuration reloads (SIGHUP), by result.");
    {
        const char *ok[2] = {"result", "ok"}, *failed[2] = {"result", "failed"};
        sg_prom_sample(b, "spoofguard_reloads_total", ok, 1, m->reloads_ok);
        sg_prom_sample(b, "spoofguard_reloads_total", failed, 1, m->reloads_failed);
    }
    {
        static const char *const WHAT[2] = {"worker", "signer"};
        sg_prom_head(b, "spoofguard_stalls_total", "counter",
                     "Worker loops and signer requests that stood still for the stall period "
                     "(half of WatchdogSec=, else 10 s), by what stood still.");
        for (size_t i = 0; i < 2; i++) {
            const char *l[2] = {"what", WHAT[i]};
            sg_prom_sample(b, "spoofguard_stalls_total", l, 1, m->stalls[i]);
        }
        sg_prom_head(b, "spoofguard_stalled", "gauge",
                     "Worker loops and signer processes standing still now, by what.");
        for (size_t i = 0; i < 2; i++) {
            const char *l[2] = {"what", WHAT[i]};
            sg_prom_sample(b, "spoofguard_stalled", l, 1, m->stalled[i]);
        }
    }
    sg_prom_head(b, "spoofguard_scrape_connections_refused_total", "counter",
                 "Connections to metrics_listen closed at once: too many open already.");
    sg_prom_sample(b, "spoofguard_scrape_connections_refused_total", NULL, 0, m->http_refused);
    sg_prom_head(b, "spoofguard_log_lines_lost_total", "counter",
                 "Log lines the log file or stderr did not take whole (a full disk, a size "
                 "limit); the next line starts on a line of its own.");
    sg_prom_sample(b, "spoofguard_log_lines_lost_total", NULL, 0,
                   m->logstats ? atomic_load(&m->logstats->lost) : 0);
}
