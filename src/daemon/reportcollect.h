/*
 * DMARC report collection in spoofguardd (issue 16 item 1): each worker
 * counts what its inbound DMARC evaluations saw in a bounded table of its
 * own (src/reports/collect.c), under a mutex only the collector's flush
 * thread ever contends for (for a pointer swap); the flush thread adds the
 * counts to the report store's `collected` table every
 * report_flush_interval seconds, or at once when a table fills up. A worker
 * never waits for SQLite. A message that finds its worker's table full is
 * not counted and is counted as lost (spoofguard_report_lost_total).
 */
#ifndef SG_DAEMON_REPORTCOLLECT_H
#define SG_DAEMON_REPORTCOLLECT_H

#include <stddef.h>
#include <stdint.h>

#include <spoofguard/verdict.h>

#include "log.h"

typedef struct sg_rcollect sg_rcollect;

/* Opens (creates) the store at path now, so a bad path stops the start;
 * call it after privileges were dropped (the files then belong to the
 * daemon's user). 0, or -1 with err set. */
int sg_rcollect_new(sg_rcollect **out, const char *path, unsigned interval_s, size_t max_groups,
                    unsigned nworkers, char *err, size_t errlen);
/* Where the flush thread tells what the metrics count: a store found
 * lost (report_store_lost, report_store_reopened) and failed writes
 * (report_flush_failed, at most one line a minute). Before
 * sg_rcollect_start; without it nothing is logged. */
void sg_rcollect_set_log(sg_rcollect *rc, const sg_logger *log);
/* Starts the flush thread. 0 or -1. */
int sg_rcollect_start(sg_rcollect *rc);
/* One flush now, on the caller's thread, when the flush thread was never
 * started (tests); otherwise nothing. */
void sg_rcollect_flush(sg_rcollect *rc);
/* Stops the thread after a last flush, closes the store, frees. */
void sg_rcollect_free(sg_rcollect *rc);

/* One inbound message of worker w, with its verdict, the disposition
 * applied ("reject", "quarantine" or anything else: none) and, when that
 * is not what the published policy asks, why (override_type: an RFC 9990
 * Override word; override_comment: one token; NULL or "" otherwise).
 * Messages without a DMARC policy (no record found) are not reported. */
void sg_rcollect_add(sg_rcollect *rc, unsigned w, const sg_verdict_result *vr,
                     const char *client_ip, const char *applied, const char *override_type,
                     const char *override_comment, int64_t now);

/* report_redis redis://HOST:PORT[/DB]: the counts go to the cluster's
 * Redis (one hash per day, src/reports/collect.c) instead of the store's
 * `collected`; the store keeps the failure reports. Before
 * sg_rcollect_start. 0, or -1 with err (a bad URL). */
int sg_rcollect_use_redis(sg_rcollect *rc, const char *url, char *err, size_t errlen);

/* failure_reports yes (RFC 9991): before sg_rcollect_start. */
void sg_rcollect_failures_on(sg_rcollect *rc);

/* The same message for a failure report: queued (redacted; mailed by
 * `spoofguard report send`) when the policy domain's record asks for one
 * (ruf=, fo=), at most one per organisational domain of the policy domain
 * (public suffix list: psl, the policy snapshot's; NULL: the verdict's
 * Organizational Domain), source and hour, and SGREP_FAILURE_ORG_HOUR per
 * organisational domain and hour. mail_from:
 * the MAIL FROM address; hdr: the header fields the session kept
 * ("Name: value" lines; sgrep_failure_redact keeps only what it allows). */
void sg_rcollect_failure(sg_rcollect *rc, unsigned w, const sg_dmarc_psl *psl,
                         const sg_verdict_result *vr, const char *client_ip, const char *mail_from,
                         const char *hdr, size_t hdrlen, int64_t now);

typedef struct {
    uint64_t messages; /* counted */
    uint64_t lost;     /* not counted: the table was full */
    uint64_t flushes, flush_errors;
    uint64_t flush_usec; /* time spent writing, all flushes */
    /* flushes that found report_store no longer the file the daemon had
     * open (deleted, replaced, overwritten) */
    uint64_t store_lost;
    /* failure reports: queued; not queued by the rate limit (one this
     * hour already for that organisational domain and source, or its
     * hourly cap); lost (memory, a full worker list, a write) */
    uint64_t failures_queued, failures_limited, failures_lost;
} sg_rcollect_stats;
void sg_rcollect_stats_get(sg_rcollect *rc, sg_rcollect_stats *out);

#endif
