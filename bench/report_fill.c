/*
 * report_fill: puts a day of collected DMARC observations into a report
 * store through the daemon's own collection code (sgrep_collect_add, the
 * bounded table, flushed when full), for the `report send` tests and
 * bench/report_gen_bench.sh.
 *
 *   report_fill STORE YYYY-MM-DD DOMAINS MESSAGES [SOURCES]
 *
 * STORE may be redis://HOST:PORT: the counts then go where spoofguardd's
 * report_redis sends them (one hash per day), as one host of a cluster.
 *
 * Domain i is d<i>.example; its messages come from SOURCES addresses (IPv4
 * and IPv6), with DKIM and SPF results drawn from a fixed pseudo-random
 * sequence, so a run is the same every time. A fifth of the failing
 * messages of a reject domain are quarantined instead (reason local_policy,
 * never_reject_domains), a fifth of a quarantine domain's delivered (reason
 * trusted_forwarder, arc_sealer=fwd.test). On stdout, one line per domain
 * with what a report of it must say:
 *   DOMAIN MESSAGES DKIM_ALIGNED_PASS SPF_ALIGNED_PASS NONE QUARANTINE REJECT
 *   REASONS (messages with a reason)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "send.h"

/* CPU time of this thread: on a shared machine wall time would count the
 * time other processes had the CPU */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    unsigned long long msgs, dkim, spf, disp[3], reasons;
} totals;

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: report_fill STORE YYYY-MM-DD DOMAINS MESSAGES [SOURCES]\n");
        return 2;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (sscanf(argv[2], "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
        return 2;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    int64_t day = (int64_t)timegm(&tm);
    unsigned long ndom = strtoul(argv[3], NULL, 10);
    unsigned long long nmsg = strtoull(argv[4], NULL, 10);
    unsigned nsrc = argc > 5 ? (unsigned)strtoul(argv[5], NULL, 10) : 8;
    if (!ndom || !nsrc)
        return 2;
    char err[512];
    sqlite3 *db = NULL;
    redisContext *rds = NULL;
    if (!strncmp(argv[1], "redis://", 8)) {
        char host[256];
        int port = 6379;
        if (sscanf(argv[1] + 8, "%255[^:/]:%d", host, &port) < 1)
            return 2;
        rds = redisConnect(host, port);
        if (!rds || rds->err) {
            fprintf(stderr, "report_fill: %s: %s\n", argv[1], rds ? rds->errstr : "no memory");
            return 4;
        }
    } else if (!(db = sgrep_send_open(argv[1], err, sizeof err))) {
        fprintf(stderr, "report_fill: %s\n", err);
        return 4;
    }
#define FLUSH(c)                                                                                   \
    (rds ? sgrep_collect_flush_redis(c, rds, err, sizeof err)                                      \
         : sgrep_collect_flush(c, db, err, sizeof err))
    totals *t = calloc(ndom, sizeof *t);
    sgrep_collect *c = sgrep_collect_new(200000);
    if (!t || !c)
        return 4;
    static const char *const disp[] = {"none", "quarantine", "reject"};
    static const char *const spfres[] = {"pass", "fail", "softfail", "neutral", "none"};
    static const char *const dkimres[] = {"pass", "fail", "neutral", "temperror"};
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    double t_add = 0, t_flush = 0, t0;
    for (unsigned long long m = 0; m < nmsg; m++) {
        unsigned long d = (unsigned long)(m % ndom);
        uint64_t r = rng(&seed);
        unsigned src = (unsigned)(r % nsrc);
        char dom[64], ip[64], from[80], sel[32], hfrom[64];
        snprintf(dom, sizeof dom, "d%lu.example", d);
        snprintf(hfrom, sizeof hfrom, "%s", dom);
        if (src % 4 == 3)
            snprintf(ip, sizeof ip, "2001:db8:%lx::%x", d & 0xffff, src);
        else
            snprintf(ip, sizeof ip, "10.%lu.%lu.%u", (d >> 8) & 255, d & 255, src % 250 + 1);
        int forged = src % 3 == 2;
        int dkim_pass = !forged && (r >> 8) % 8 != 0;
        int spf_pass = !forged && (r >> 12) % 4 != 0;
        snprintf(from, sizeof from, "%s", forged ? "forger.test" : dom);
        snprintf(sel, sizeof sel, "s%u", (unsigned)((r >> 16) % 2));
        sgrep_obs o;
        memset(&o, 0, sizeof o);
        o.when = day + (int64_t)(m % 86400);
        o.policy_domain = dom;
        o.source_ip = ip;
        int dmarc_pass = dkim_pass || spf_pass;
        int di = dmarc_pass ? 0 : (int)(d % 3);
        if (di == 2 && (r >> 28) % 5 == 0) {
            di = 1;
            o.override_type = "local_policy";
            o.override_comment = "never_reject_domains";
        } else if (di == 1 && (r >> 28) % 5 == 1) {
            di = 0;
            o.override_type = "trusted_forwarder";
            o.override_comment = "arc_sealer=fwd.test";
        }
        o.disposition = disp[di];
        o.dkim_aligned = dkim_pass;
        o.spf_aligned = spf_pass;
        o.header_from = hfrom;
        o.envelope_from = from;
        o.envelope_to = "receiver.test";
        o.ndkim = 1;
        o.dkim[0].domain = from;
        o.dkim[0].selector = sel;
        o.dkim[0].result = dkim_pass ? "pass" : dkimres[1 + (r >> 20) % 3];
        o.spf_domain = from;
        o.spf_scope = "mfrom";
        o.spf_result = spf_pass ? "pass" : spfres[1 + (r >> 24) % 4];
        o.p = disp[d % 3];
        o.adkim = "r";
        o.aspf = d % 5 == 0 ? "s" : "r";
        o.fo = "0";
        o.testing = d % 7 == 0;
        o.discovery = "treewalk";
        t0 = now_s();
        int full = sgrep_collect_add(c, &o) != 0;
        t_add += now_s() - t0;
        if (full) {
            t0 = now_s();
            int bad = FLUSH(c) != 0;
            t_flush += now_s() - t0;
            if (bad || sgrep_collect_add(c, &o) != 0) {
                fprintf(stderr, "report_fill: %s\n", err);
                return 4;
            }
        }
        t[d].msgs++;
        t[d].dkim += (unsigned long long)dkim_pass;
        t[d].spf += (unsigned long long)spf_pass;
        t[d].disp[di]++;
        t[d].reasons += o.override_type != NULL;
    }
    t0 = now_s();
    if (FLUSH(c) != 0) {
        fprintf(stderr, "report_fill: %s\n", err);
        return 4;
    }
    t_flush += now_s() - t0;
    /* the daemon's per-message cost (the add, on the worker) and the flush
     * thread's, per message (timer reads included) */
    fprintf(stderr, "report_fill: add %.0f ns/msg, flush %.0f ns/msg (%llu messages)\n",
            t_add * 1e9 / (double)(nmsg ? nmsg : 1), t_flush * 1e9 / (double)(nmsg ? nmsg : 1),
            nmsg);
    for (unsigned long d = 0; d < ndom; d++)
        if (t[d].msgs)
            printf("d%lu.example %llu %llu %llu %llu %llu %llu %llu\n", d, t[d].msgs, t[d].dkim,
                   t[d].spf, t[d].disp[0], t[d].disp[1], t[d].disp[2], t[d].reasons);
    sgrep_collect_free(c);
    sqlite3_close(db);
    if (rds)
        redisFree(rds);
    free(t);
    return 0;
}
