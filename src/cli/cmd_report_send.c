/*
 * spoofguard report send: our RFC 9990 aggregate reports (issue 16 item 2).
 *
 *   spoofguard report send [--store PATH] [--day YYYY-MM-DD] [--dry-run DIR]
 *       [--org-name NAME] [--email ADDR] [--sendmail CMD] [--zone FILE|--dns HOST]
 *       [--redis redis://HOST:PORT[/DB]] [--max-per-org N]
 *
 * One report per policy domain, published policy and UTC day (default:
 * yesterday) from what spoofguardd collected. The rua addresses are read
 * from the policy domain's DMARC record now (mailto: only); one outside the
 * policy domain's organisational domain is used only when
 * <policy-domain>._report._dmarc.<dest> has a v=DMARC1 record (RFC 9990),
 * and that answer, yes or no, is kept in the store for a day. Each mail goes
 * to the local MTA (`sendmail -t -oi`); a report is marked sent for a
 * destination only when the MTA exits 0, else it is tried again on a later
 * run after a growing pause, and given up 24 hours after the first try.
 * --dry-run DIR writes the .xml.gz and one .eml per destination instead and
 * changes no send state. Then the failure reports spoofguardd queued
 * (failure_reports yes; RFC 9991), whatever their day, to the ruf
 * addresses under the same rules (dry run: failure!DOMAIN!IP!HOUR.N.eml).
 * --redis (several MX hosts, spoofguardd's report_redis): the cluster's
 * counts of the day replace the store's, one host at a time sends (a lock
 * in Redis; another host's run says so and exits 0), and a report sent by
 * any host is not sent again by another (marks in Redis, 8 days); a run
 * that loses the lock midway (it expired or was taken) stops after the
 * report in hand. A dry run reads the counts without the lock. Exit: 0
 * done, 1 a destination failed this run, 2 usage, 4 store, DNS resolver or
 * Redis error, or the lock lost. At most --max-per-org reports (default
 * 20) go a day for the policy domains of one organisational domain: the
 * organisational domain's own first, then those with the most messages.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <spoofguard/arena.h>
#include <spoofguard/common.h>
#include <spoofguard/dmarc.h>

#include <hiredis/hiredis.h>

#include "cli.h"
#include "outbound/obstore.h"
#include "reports/reports.h"
#include "reports/send.h"

#define DEFAULT_STORE "/var/lib/spoofguard/reports.db"
#define DEFAULT_SENDMAIL "/usr/sbin/sendmail -t -oi"
#define AUTH_TTL 86400         /* one _report._dmarc lookup per domain and destination a day */
#define GIVE_UP 86400          /* stop trying a destination a day after the first try */
#define MAX_BACKOFF 7200       /* seconds between tries at most */
#define MAX_RUA SGREP_MAX_DEST /* destinations per report; more are ignored */
/* Lookups of one report that may meet DNS trouble (a timeout, SERVFAIL)
 * before the rest of its destinations wait for the next run. Its owner
 * names the hosts, perhaps on DNS that never answers, and each such
 * lookup waits the resolver's whole timeout: eight addresses cost eight
 * timeouts or more, every run (adv39 F1). Two tell a hostile or broken
 * record from one unlucky answer; a legitimate destination left out is
 * asked again next hour, as any DNS failure is. */
#define DNS_TROUBLE_MAX 2

enum { O_STORE = 1, O_DAY, O_DRY, O_ORG, O_EMAIL, O_SENDMAIL, O_REDIS, O_MAX_ORG };

/* The send lock of a cluster: long enough for a big day, renewed after
 * every report. */
#define LOCK_MS 900000

typedef struct {
    const char *store_path, *dry, *org, *email, *sendmail, *redis_url;
    redisContext *redis; /* --redis: the cluster's counts, lock and sent marks */
    char token[64];
    int64_t day;
    int have_day;
    sg_cli_dns dns;
    sqlite3 *db;
    sgrep_gen_meta meta;
    char email_buf[300], org_buf[256], gen_buf[64];
    char host[256];    /* this host's name: the default --org-name */
    char store_id[64]; /* in the Report-ID of this store's reports */
    int64_t now;
    unsigned reports, sent, failed, skipped, dests, failures, held;
    size_t max_per_org; /* reports a day for one organisational domain; 0: no limit */
    /* lookups whose DNS failed in this run, not asked again until the
     * next one: a stalling host listed by many reports costs one timeout,
     * not one each (adv39 F1). Each is named by what was asked (a query
     * name, or "walk NAME" for a tree walk), so one failure stands for
     * itself only (rev25 F7: a consent lookup for one policy domain
     * stopped the others' to the same host) */
    char **dns_bad;
    size_t ndns_bad, cap_dns_bad;
} send_ctx;

static const sg_cli_opt send_opts[] = {
    {"store", "PATH", O_STORE, "the report store (default " DEFAULT_STORE ")"},
    {"day", "YYYY-MM-DD", O_DAY, "the UTC day to report (default: yesterday)"},
    {"dry-run", "DIR", O_DRY, "write the .xml.gz and .eml files to DIR instead of sending"},
    {"org-name", "NAME", O_ORG, "the reporting organisation (default: this host's name)"},
    {"email", "ADDR", O_EMAIL, "the reports' From and contact (default: dmarc-noreply@NAME)"},
    {"sendmail", "CMD", O_SENDMAIL, "the local MTA (default: " DEFAULT_SENDMAIL ")"},
    {"redis", "URL", O_REDIS,
     "a cluster's counts (spoofguardd's report_redis): redis://HOST:PORT[/DB]; one host at a "
     "time sends"},
    {"max-per-org", "N", O_MAX_ORG,
     "reports a day for the policy domains of one organisational domain at most (default 20; "
     "0: no limit): a wildcard DMARC record makes every subdomain one"},
    SG_CLI_DNS_OPTS,
    {NULL, NULL, 0, NULL},
};

static const sg_cli_cmd send_cmd = {
    "report send",
    "[OPTIONS]",
    "RFC 9990 aggregate reports of one UTC day, one per policy domain and policy, to the\n"
    "rua addresses of each domain's DMARC record, through the local MTA.\n"
    "Exit status: 0 sent (or nothing to send, or another host holds the day's lock), 1 a\n"
    "destination failed or could not be authorised for now (it is tried again), 2 usage,\n"
    "3 no store at --store (none is made) or not one, 4 the store or the MTA failed\n"
    "(docs/reports.md).\n",
    send_opts,
};

static int parse_day(const char *s, int64_t *out)
{
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || y < 1970 ||
        m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    *out = (int64_t)timegm(&tm);
    gmtime_r(&(time_t){(time_t)*out}, &tm);
    return tm.tm_mday == d ? 0 : -1; /* 2026-02-30 is refused, not moved */
}

static int opt_fn(int id, const char *value, void *payload)
{
    send_ctx *c = payload;
    switch (id) {
    case O_STORE:
        c->store_path = value;
        break;
    case O_DAY:
        if (parse_day(value, &c->day))
            return sg_cli_usage_error(&send_cmd, "--day needs YYYY-MM-DD");
        c->have_day = 1;
        break;
    case O_DRY:
        c->dry = value;
        break;
    case O_ORG:
        c->org = value;
        break;
    case O_EMAIL:
        c->email = value;
        break;
    case O_SENDMAIL:
        c->sendmail = value;
        break;
    case O_MAX_ORG: {
        char *end;
        errno = 0;
        unsigned long v = strtoul(value, &end, 10);
        if (!*value || *end || errno || v > 1000000 || value[0] == '-')
            return sg_cli_usage_error(&send_cmd, "--max-per-org needs a number from 0 to 1000000");
        c->max_per_org = v;
        break;
    }
    case O_REDIS:
        c->redis_url = value;
        break;
    }
    return SG_CLI_GO;
}

/* ---- destinations --------------------------------------------------------- */

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* Whether this lookup's DNS failed earlier in this run. */
static int dns_bad(const send_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->ndns_bad; i++)
        if (!strcasecmp(c->dns_bad[i], name))
            return 1;
    return 0;
}

/* Remembers that this lookup's DNS failed; out of memory it is just
 * asked again. */
static void dns_bad_add(send_ctx *c, const char *name)
{
    if (dns_bad(c, name))
        return;
    if (c->ndns_bad == c->cap_dns_bad) {
        size_t cap = c->cap_dns_bad ? 2 * c->cap_dns_bad : 16;
        char **v = realloc(c->dns_bad, cap * sizeof *v);
        if (!v)
            return;
        c->dns_bad = v;
        c->cap_dns_bad = cap;
    }
    char *copy = strdup(name);
    if (copy)
        c->dns_bad[c->ndns_bad++] = copy;
}

/* The mailto: addresses of the DMARC record at _dmarc.<domain>. Several
 * DMARC records (TXT records that parse as one, as the evaluator counts
 * them) mean none applies (RFC 9989 4.10 step 2), so none of their rua
 * gets a report: the evaluator applied no policy of theirs either. */
typedef struct {
    char addr[256]; /* as published, the domain lower-cased */
    char key[256];  /* lower case: the send state's name for it */
    uint64_t max;   /* the URI's "!size" limit in bytes, 0: none */
} rdest;

/* A destination listed twice (or in another case: mail systems take
 * local parts without regard to case) is one (adv18 F4: three mails). */
static int add_dest(rdest *out, size_t *n, const char *addr, uint64_t max)
{
    rdest d;
    snprintf(d.addr, sizeof d.addr, "%s", addr);
    char *at = strrchr(d.addr, '@');
    if (at)
        lower(at);
    snprintf(d.key, sizeof d.key, "%s", d.addr);
    lower(d.key);
    d.max = max;
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(out[i].key, d.key)) {
            if (max && (!out[i].max || max < out[i].max))
                out[i].max = max; /* the stricter limit of the two */
            return 0;
        }
    out[(*n)++] = d;
    return 1;
}

static int rua_of(send_ctx *c, const char *domain, rdest out[MAX_RUA], size_t *n)
{
    *n = 0;
    char name[300];
    snprintf(name, sizeof name, "_dmarc.%s", domain);
    if (dns_bad(c, name))
        return -1; /* failed for another of its reports: one timeout a run */
    sg_dns_result res;
    if (sg_dns_lookup_sync(c->dns.resolver, name, SG_DNS_TXT, &res) != 0)
        return -1;
    int rc = 0;
    if (res.answer.status == SG_DNS_SERVFAIL || res.answer.status == SG_DNS_TIMEOUT ||
        res.answer.status == SG_DNS_EFAIL) {
        rc = -1;
        dns_bad_add(c, name);
    }
    size_t ndmarc = 0;
    for (size_t i = 0; rc == 0 && i < res.answer.count; i++) {
        sg_arena *a = NULL;
        sg_dmarc_record rec;
        if (res.answer.rrs[i].type != SG_DNS_TXT)
            continue;
        if (sg_arena_new(&a, 0) != 0) {
            rc = -1;
            break;
        }
        if (sg_dmarc_record_parse(a, res.answer.rrs[i].u.txt.data, res.answer.rrs[i].u.txt.len,
                                  &rec) == 0 &&
            ndmarc++ == 0) {
            for (size_t k = 0; k < rec.nrua && *n < MAX_RUA; k++)
                if (rec.rua[k].mailto && sgrep_addr_ok(rec.rua[k].mailto))
                    add_dest(out, n, rec.rua[k].mailto, rec.rua[k].max_size);
        }
        sg_arena_free(a);
    }
    if (ndmarc > 1) {
        fprintf(stderr,
                "spoofguard report send: %s: several DMARC records (%zu); none applies "
                "(RFC 9989), so no report\n",
                domain, ndmarc);
        *n = 0;
    }
    sg_dns_result_free(&res);
    return rc;
}

/* Is dest inside domain (equal, or a subdomain)? */
static int within(const char *dest, const char *domain)
{
    size_t a = strlen(dest), b = strlen(domain);
    return a == b ? !strcmp(dest, domain)
                  : a > b && dest[a - b - 1] == '.' && !strcmp(dest + a - b, domain);
}

/* Whether name can be asked of DNS: 253 octets, labels of 1 to 63. */
static int name_fits_dns(const char *name)
{
    size_t n = strlen(name), label = 0;
    if (n == 0 || n > 253)
        return 0;
    for (const char *p = name; *p; p++) {
        if (*p != '.') {
            if (++label > 63)
                return 0;
        } else if (label == 0) {
            return 0;
        } else {
            label = 0;
        }
    }
    return label > 0;
}

/* The consent record at name: 1 a TXT record starting with v=DMARC1, 0
 * none, -1 unknown now (DNS trouble). RFC 9990 4.4 step 9: the record
 * may name, in its rua= (ruf= for failure reports: tag 'f'), where the
 * reports should go instead; one on the same host as dest replaces the
 * address (*override gets it), one only elsewhere means no report to
 * either (0). */
static int consent(send_ctx *c, const char *name, char tag, const char *dest, char *override,
                   size_t cap)
{
    sg_dns_result res;
    if (sg_dns_lookup_sync(c->dns.resolver, name, SG_DNS_TXT, &res) != 0)
        return -1;
    int ok = -1;
    if (res.answer.status == SG_DNS_NOERROR || res.answer.status == SG_DNS_NODATA ||
        res.answer.status == SG_DNS_NXDOMAIN) {
        /* the rule is the library's, shared with `spoofguard audit` */
        sg_arena *a = NULL;
        const char *to = NULL;
        if (sg_arena_new(&a, 0) == 0) {
            ok = sg_dmarc_report_consent(a, &res.answer, tag, dest, &to);
            if (ok == 1 && to != NULL)
                snprintf(override, cap, "%s", to);
            sg_arena_free(a);
        }
    }
    sg_dns_result_free(&res);
    return ok;
}

/* The DNS a report's destinations have cost so far. */
typedef struct {
    const char *domain; /* the policy domain */
    char org[256];      /* its organisational domain, once org_state is 1 */
    int org_state;      /* 0 not walked yet, 1 org known, 2 no name to walk, -1 unknown now */
    unsigned trouble;   /* its lookups that met DNS trouble (DNS_TROUBLE_MAX) */
} rauth;

static void rauth_init(rauth *ra, const char *domain)
{
    memset(ra, 0, sizeof *ra);
    ra->domain = domain;
}

/* The organisational domain of name by the tree walk into org: 1 known,
 * 0 name cannot be walked (not a DNS name: no organisation shares it),
 * -1 unknown (DNS trouble now), -2 not asked (name's DNS failed earlier
 * in the run, or the report's DNS budget is spent). A walk asks its
 * names at once: one timeout at most. */
static int org_of(send_ctx *c, rauth *ra, const char *name, char *org, size_t cap)
{
    char walk[300];
    snprintf(walk, sizeof walk, "walk %s", name);
    if (dns_bad(c, walk) || ra->trouble >= DNS_TROUBLE_MAX)
        return -2;
    sg_arena *a = NULL;
    if (sg_arena_new(&a, 0) != 0)
        return -1;
    sg_dmarc_opts o;
    sg_dmarc_opts_init(&o);
    const char *found = NULL;
    int rc = sg_dmarc_org_domain_sync(a, c->dns.resolver, &o, name, &found);
    int known = rc == SG_ESYNTAX ? 0 : rc == 0 && found ? 1 : -1;
    if (known == 1)
        snprintf(org, cap, "%s", found);
    sg_arena_free(a);
    if (known < 0) {
        ra->trouble++;
        dns_bad_add(c, walk);
    }
    return known;
}

/* RFC 9990: a destination outside the policy domain's organisational
 * domain must say it takes the domain's reports. 1 yes, 0 no, -1 unknown
 * now (DNS trouble: not cached, asked again next run), -2 not asked (the
 * report's DNS budget spent, or a name it needs failed earlier in the
 * run: also asked again next run). On 1, *override is the address the
 * consent record names instead, or "" (an answer with one is not cached:
 * it is read again each run). */
static int authorised(send_ctx *c, rauth *ra, const char *dest, char tag, char *override,
                      size_t cap)
{
    override[0] = '\0';
    if (within(dest, ra->domain))
        return 1;
    /* the policy domain's organisational domain: one walk a report, not
     * one per address (adv39 F1) */
    if (ra->org_state == 0) {
        ra->org_state = org_of(c, ra, ra->domain, ra->org, sizeof ra->org);
        if (ra->org_state == 0)
            ra->org_state = 2;
    }
    /* with the policy domain's unknown, dest's would decide nothing */
    char org_d[256];
    int known_d = ra->org_state < 0 ? ra->org_state : org_of(c, ra, dest, org_d, sizeof org_d);
    if (ra->org_state == 1 && known_d == 1 && !strcasecmp(ra->org, org_d))
        return 1;

    sqlite3_stmt *q;
    int cached = -1;
    /* the answer depends on the kind (a redirect is a rua= or a ruf=):
     * cached apart, under "rua:" or "ruf:" and the host (rev17: an
     * aggregate run's "yes" let a failure report past its redirect); rows
     * of the version before, keyed by the host alone, are not read
     * (rev18: they knew no redirect) */
    char key[300];
    snprintf(key, sizeof key, "%s%s", tag == 'f' ? "ruf:" : "rua:", dest);
    if (sqlite3_prepare_v2(c->db,
                           "SELECT ok FROM report_auth_cache WHERE policy_domain=?1 AND dest=?2"
                           " AND expires>?3",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, ra->domain, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, c->now);
        if (sqlite3_step(q) == SQLITE_ROW)
            cached = sqlite3_column_int(q, 0);
        sqlite3_finalize(q);
    }
    if (cached >= 0)
        return cached;
    /* an organisational domain unknown: a "no" from the consent record
     * would be cached for a day although the two may be one organisation */
    if (known_d < 0)
        return known_d;
    char name[600];
    snprintf(name, sizeof name, "%s._report._dmarc.%s", ra->domain, dest);
    if (ra->trouble >= DNS_TROUBLE_MAX || dns_bad(c, name))
        return -2;
    /* RFC 9990 4.4 step 4: a name longer than DNS allows has no positive
     * answer (it was a "DNS error; later" on every run: adv18 F11) */
    int ok = name_fits_dns(name) ? consent(c, name, tag, dest, override, cap) : 0;
    if (ok < 0) {
        ra->trouble++;
        dns_bad_add(c, name);
    }
    if (ok >= 0 && !override[0] &&
        sqlite3_prepare_v2(c->db,
                           "INSERT OR REPLACE INTO report_auth_cache(policy_domain,"
                           " dest, ok, expires) VALUES(?1, ?2, ?3, ?4)",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, ra->domain, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 3, ok);
        sqlite3_bind_int64(q, 4, c->now + AUTH_TTL);
        sqlite3_step(q);
        sqlite3_finalize(q);
    }
    return ok;
}

/* What a negative answer of authorised() tells the operator. */
static const char *unknown_why(int ok)
{
    return ok == -2 ? "authorisation not looked up (DNS trouble twice for this report, or at "
                      "this host earlier in the run); later"
                    : "authorisation unknown (DNS error); later";
}

/* ---- send state -------------------------------------------------------------- */

typedef struct {
    int exists;
    char state[16];
    int tries;
    int64_t first_try, next_try;
} qstate;

static void q_get(send_ctx *c, const char *rid, const char *rua, qstate *s)
{
    memset(s, 0, sizeof *s);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT state, tries, first_try, next_try FROM send_queue"
                           " WHERE report_id=?1 AND rua=?2",
                           -1, &q, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(q, 1, rid, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, rua, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
        s->exists = 1;
        snprintf(s->state, sizeof s->state, "%s", (const char *)sqlite3_column_text(q, 0));
        s->tries = sqlite3_column_int(q, 1);
        s->first_try = sqlite3_column_int64(q, 2);
        s->next_try = sqlite3_column_int64(q, 3);
    }
    sqlite3_finalize(q);
}

static int q_put(send_ctx *c, const char *rid, const char *rua, const char *domain, const qstate *s,
                 const char *error)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(c->db,
                           "INSERT OR REPLACE INTO send_queue(report_id, rua, policy_domain, day,"
                           " state, tries, first_try, next_try, sent_at, last_error)"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                           -1, &q, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(q, 1, rid, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, rua, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, domain, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, c->day);
    sqlite3_bind_text(q, 5, s->state, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 6, s->tries);
    sqlite3_bind_int64(q, 7, s->first_try);
    sqlite3_bind_int64(q, 8, s->next_try);
    if (!strcmp(s->state, "sent"))
        sqlite3_bind_int64(q, 9, c->now);
    else
        sqlite3_bind_null(q, 9);
    if (error)
        sqlite3_bind_text(q, 10, error, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 10);
    int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(q);
    return rc;
}

/* The pause before the next try after `tries` failed ones: 5 min, 10,
 * 20 ... at most two hours (none tried yet: the longest); a day after the
 * first try a destination is given up (GIVE_UP). */
static int64_t backoff(int tries)
{
    int64_t pause = tries < 1 ? MAX_BACKOFF : 300ll << (tries - 1 < 5 ? tries - 1 : 5);
    return pause > MAX_BACKOFF ? MAX_BACKOFF : pause;
}

/* Hands the mail to the MTA; 0 when it exited 0. */
static int mta(send_ctx *c, const sgrep_buf *mail, char *why, size_t whylen)
{
    FILE *p = popen(c->sendmail, "w");
    if (!p) {
        snprintf(why, whylen, "cannot run %s: %s", c->sendmail, strerror(errno));
        return -1;
    }
    size_t w = fwrite(mail->data, 1, mail->len, p);
    int st = pclose(p);
    if (w != mail->len || st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(why, whylen, "%s: exit %d", c->sendmail, st == -1 ? -1 : WEXITSTATUS(st));
        return -1;
    }
    return 0;
}

static int write_file(const char *dir, const char *name, const void *d, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int rc = fwrite(d, 1, n, f) == n ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

/* ---- a cluster (--redis) ------------------------------------------------------ */

/* The lock: 1 taken, 0 another host holds it, -1 Redis failed. */
static int lock_take(send_ctx *c)
{
    unsigned char rnd[16];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(rnd, 1, sizeof rnd, f) != sizeof rnd) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(c->token + 2 * i, 3, "%02x", rnd[i]);
    redisReply *r =
        redisCommand(c->redis, "SET %s %s NX PX %d", SGREP_REDIS_LOCK, c->token, LOCK_MS);
    int rc = r == NULL || r->type == REDIS_REPLY_ERROR ? -1 : r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return rc;
}

/* Renew (ms > 0) or release (ms == 0) the lock, only while it is ours.
 * Returns 1 while it is ours (or there is no cluster), 0 when another host
 * holds it or nobody does, -1 when Redis did not answer. */
static int lock_touch(send_ctx *c, int ms)
{
    static const char lua[] = "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
                              "if ARGV[2] == '0' then return redis.call('DEL', KEYS[1]) end "
                              "return redis.call('PEXPIRE', KEYS[1], ARGV[2])";
    if (!c->redis || !c->token[0])
        return 1;
    redisReply *r =
        redisCommand(c->redis, "EVAL %s 1 %s %s %d", lua, SGREP_REDIS_LOCK, c->token, ms);
    int rc = r == NULL || r->type != REDIS_REPLY_INTEGER ? -1 : r->integer == 1;
    freeReplyObject(r);
    return rc;
}

/* After each report: a lock that expired or was taken (a run slower than
 * LOCK_MS, a Redis restarted, an operator's DEL) means another host may be
 * sending the same day now; going on would mail its reports twice. */
static int lock_kept(send_ctx *c)
{
    int lk = lock_touch(c, LOCK_MS);
    if (lk == 1)
        return 1;
    fprintf(stderr,
            "spoofguard report send: %s the send lock (%s); stopped, the rest is left "
            "for the next run\n",
            lk == 0 ? "lost" : "could not renew", SGREP_REDIS_LOCK);
    c->token[0] = '\0'; /* not ours: never released by us */
    return 0;
}

/* A report sent to a destination by any host of the cluster: 1 yes, 0 no. */
static int sent_mark(send_ctx *c, const char *rid, const char *rua, int set)
{
    if (!c->redis)
        return 0;
    redisReply *r =
        set ? redisCommand(c->redis, "SET %s%s:%s 1 EX %d", SGREP_REDIS_SENT_PREFIX, rid, rua,
                           SGREP_REDIS_TTL)
            : redisCommand(c->redis, "EXISTS %s%s:%s", SGREP_REDIS_SENT_PREFIX, rid, rua);
    int yes = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return yes;
}

/* ---- one report ------------------------------------------------------------ */

typedef struct {
    const char *org;
    int kept;
} org_entry;

static int org_cmp(const void *a, const void *b)
{
    return strcmp(((const org_entry *)a)->org, ((const org_entry *)b)->org);
}

/* Which of the day's n reports go (*keep, allocated): at most
 * c->max_per_org for the policy domains of one organisational domain, by
 * the public suffix list, which a forger cannot move, not by a tree walk
 * of records he may publish himself. Says which organisational domains
 * lost reports. 0, or -1 on an internal error. */
static int hold_back(send_ctx *c, char **doms, char **pols, const int64_t *msgs, size_t n,
                     unsigned char **keep)
{
    sgrep_day_report *r = calloc(n ? n : 1, sizeof *r);
    sg_arena *a = NULL;
    sg_dmarc_psl *psl = NULL;
    org_entry *by_org = NULL;
    int rc = -1;
    *keep = calloc(n ? n : 1, 1);
    if (!r || !*keep || sg_arena_new(&a, 0) != 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (!doms[i] || !pols[i])
            goto out; /* out of memory reading them */
    if (c->max_per_org == 0 || n <= c->max_per_org) {
        memset(*keep, 1, n);
        rc = 0;
        goto out;
    }
    /* the daemon's default list (its public_suffix_list unset) */
    if (sg_dmarc_psl_open(&psl, NULL) != 0) {
        fprintf(stderr, "spoofguard report send: no public suffix list to group reports by "
                        "organisational domain; run with --max-per-org 0\n");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *org = NULL;
        sg_dmarc_psl_registrable(a, psl, doms[i], &org);
        char *low = sg_arena_strdup(a, org && *org ? org : doms[i]);
        if (!low)
            goto out;
        for (char *p = low; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        r[i] = (sgrep_day_report){low, doms[i], msgs[i], 0};
    }
    /* what an earlier run of the day chose counts first (send_queue has a
     * row for each destination it queued) */
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(c->db, "SELECT DISTINCT policy_domain FROM send_queue WHERE day=?1", -1,
                           &q, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(q, 1, c->day);
    int st;
    while ((st = sqlite3_step(q)) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(q, 0);
        for (size_t i = 0; d && i < n; i++)
            if (strcasecmp(d, doms[i]) == 0)
                r[i].started = 1;
    }
    sqlite3_finalize(q);
    if (st != SQLITE_DONE)
        goto out;
    long held = sgrep_limit_per_org(r, n, c->max_per_org, *keep);
    if (held < 0)
        goto out;
    if (held > 0) {
        /* one line for each organisational domain that lost reports */
        by_org = malloc(n * sizeof *by_org);
        if (!by_org)
            goto out;
        for (size_t i = 0; i < n; i++)
            by_org[i] = (org_entry){r[i].org, (*keep)[i]};
        qsort(by_org, n, sizeof *by_org, org_cmp);
        for (size_t i = 0, j; i < n; i = j) {
            size_t lost = 0;
            for (j = i; j < n && !strcmp(by_org[j].org, by_org[i].org); j++)
                lost += !by_org[j].kept;
            if (lost) {
                char org[300];
                fprintf(stderr,
                        "spoofguard report send: %s: %zu of %zu reports held back (at most %zu "
                        "a day for one organisational domain, --max-per-org)\n",
                        sg_cli_term(org, sizeof org, by_org[i].org), lost, j - i, c->max_per_org);
            }
        }
        c->held = (unsigned)held;
    }
    rc = 0;
out:
    sg_dmarc_psl_free(psl);
    sg_arena_free(a);
    free(by_org);
    free(r);
    return rc;
}

static int one_report(send_ctx *c, const char *domain, const char *policy, sgrep_buf *xml,
                      sgrep_buf *mail)
{
    char rid[600], unique[64], fname[800];
    sgrep_report_id(rid, sizeof rid, unique, sizeof unique, c->day, domain, policy,
                    c->redis ? NULL : c->store_id, c->meta.org_name);
    char rid_v1[600];
    sgrep_report_id_v1(rid_v1, sizeof rid_v1, c->day, domain, policy, c->meta.org_name);
    int64_t begin = c->day, end = c->day + 86399;
    sgrep_report_filename(fname, sizeof fname, c->meta.org_name, domain, begin, end, unique);

    rdest rua[MAX_RUA];
    size_t nrua = 0;
    int rc = 0;
    if (rua_of(c, domain, rua, &nrua) != 0) {
        fprintf(stderr, "spoofguard report send: %s: DNS error reading its DMARC record; later\n",
                domain);
        c->failed++;
        return 1;
    }
    /* the destinations still to do (not sent, not given up, due) */
    rdest todo[MAX_RUA], seen[MAX_RUA];
    size_t ntodo = 0, nseen = 0;
    rauth ra;
    rauth_init(&ra, domain);
    for (size_t i = 0; i < nrua; i++) {
        char instead[256];
        int ok = authorised(c, &ra, strrchr(rua[i].key, '@') + 1, 'a', instead, sizeof instead);
        if (ok == 1 && instead[0]) {
            rdest d[1];
            size_t nd = 0;
            add_dest(d, &nd, instead, rua[i].max);
            if (strcmp(d[0].key, rua[i].key) != 0)
                fprintf(stderr, "spoofguard report send: %s: %s asks for %s instead\n", domain,
                        rua[i].addr, d[0].addr);
            rua[i] = d[0];
        }
        /* two addresses a consent record redirects to one: one mail, as
         * for failure reports (rev25) */
        if (ok == 1 && !add_dest(seen, &nseen, rua[i].addr, rua[i].max))
            continue;
        if (ok != 1) {
            fprintf(stderr, "spoofguard report send: %s: %s %s\n", domain, rua[i].addr,
                    ok == 0 ? "is outside the domain and not authorised (_report._dmarc)"
                            : unknown_why(ok));
            if (ok < 0) { /* not reached this run: the exit status says so */
                c->failed++;
                rc = 1;
            }
            continue;
        }
        if (!c->dry) {
            qstate s, v1;
            q_get(c, rid, rua[i].key, &s);
            q_get(c, rid_v1, rua[i].key, &v1);
            if ((s.exists &&
                 (!strcmp(s.state, "sent") || !strcmp(s.state, "failed") || s.next_try > c->now)) ||
                (v1.exists && !strcmp(v1.state, "sent")) || sent_mark(c, rid, rua[i].key, 0)) {
                c->skipped++;
                continue;
            }
        }
        todo[ntodo++] = rua[i];
    }
    /* the stricter "!size" of addresses that became one */
    for (size_t i = 0; i < ntodo && i < MAX_RUA; i++)
        for (size_t j = 0; j < nseen && j < MAX_RUA; j++)
            if (!strcmp(todo[i].key, seen[j].key))
                todo[i].max = seen[j].max;
    if (!ntodo && !c->dry)
        return rc;

    sgrep_policy pol;
    sgrep_policy_parse(policy, &pol);
    sgrep_gen_begin(xml, &c->meta, rid, domain, &pol, begin, end);
    size_t head = xml->len;
    uint64_t left_rows = 0, left_msgs = 0, all_rows = 0;
    sqlite3_stmt *q;
    /* The records a domain owner needs first - those that passed aligned,
     * then the busiest - so that a day a forger fills with made-up
     * records still reports the domain's own mail (adv18 F1) */
    if (sqlite3_prepare_v2(c->db,
                           "SELECT source_ip, disposition, dkim_aligned, spf_aligned, header_from,"
                           " envelope_from, envelope_to, dkim, spf, reason, count FROM collected"
                           " WHERE day=?1 AND policy_domain=?2 AND policy=?3"
                           " ORDER BY (dkim_aligned='pass' OR spf_aligned='pass') DESC, count DESC,"
                           " source_ip",
                           -1, &q, NULL) != SQLITE_OK)
        return 4;
    sqlite3_bind_int64(q, 1, c->day);
    sqlite3_bind_text(q, 2, domain, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, policy, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW) {
        all_rows++;
        if (xml->len >= SGREP_REPORT_XML_MAX) {
            left_rows++;
            left_msgs += (uint64_t)sqlite3_column_int64(q, 10);
            continue;
        }
        sgrep_row r;
#define COL(i) ((const char *)sqlite3_column_text(q, i))
        r.source_ip = COL(0);
        r.disposition = COL(1);
        r.dkim_aligned = COL(2);
        r.spf_aligned = COL(3);
        r.header_from = COL(4);
        r.envelope_from = COL(5);
        r.envelope_to = COL(6);
        r.dkim = COL(7);
        r.spf = COL(8);
        r.reason = COL(9);
#undef COL
        r.count = (uint64_t)sqlite3_column_int64(q, 10);
        sgrep_gen_record(xml, &r);
    }
    sqlite3_finalize(q);
    sgrep_gen_end(xml);
    if (left_rows && !xml->oom) {
        /* said in report_metadata's error (RFC 9990), which comes before
         * the records: the head is written again with it */
        char why[300];
        snprintf(why, sizeof why,
                 "%llu of %llu records (%llu messages) left out: the report would have been "
                 "over %u bytes of XML; those that passed aligned and the busiest are in",
                 (unsigned long long)left_rows, (unsigned long long)all_rows,
                 (unsigned long long)left_msgs, SGREP_REPORT_XML_MAX);
        sgrep_buf whole = {0};
        c->meta.error = why;
        sgrep_gen_begin(&whole, &c->meta, rid, domain, &pol, begin, end);
        c->meta.error = NULL;
        sgrep_buf_put(&whole, xml->data + head, xml->len - head);
        whole.records = xml->records;
        whole.messages = xml->messages;
        whole.oom |= xml->oom;
        sgrep_buf_free(xml);
        *xml = whole;
        fprintf(stderr, "spoofguard report send: %s: %s\n", rid, why);
    }
    if (xml->oom)
        return 4;
    if (!xml->records) /* nothing reportable (no source parsed): no report */
        return 0;
    unsigned char *gz = NULL;
    size_t gzlen = 0;
    if (sgrep_gzip(xml->data, xml->len, &gz, &gzlen) != 0)
        return 4;
    c->reports++;
    if (c->dry && write_file(c->dry, fname, gz, gzlen) != 0) {
        fprintf(stderr, "spoofguard report send: %s/%s: %s\n", c->dry, fname, strerror(errno));
        free(gz);
        return 4;
    }
    for (size_t i = 0; i < ntodo; i++) {
        sgrep_mail(mail, &c->meta, todo[i].addr, domain, rid, fname, gz, gzlen, c->now);
        if (mail->oom) {
            rc = 4;
            break;
        }
        if (todo[i].max && mail->len > todo[i].max) {
            /* RFC 9990 5.1: a URI whose size limit the report exceeds MUST
             * NOT be used (adv18 F6) */
            fprintf(stderr,
                    "spoofguard report send: %s to %s: %zu bytes, over the address's limit of "
                    "%llu (!size); not sent\n",
                    rid, todo[i].addr, mail->len, (unsigned long long)todo[i].max);
            c->skipped++;
            continue;
        }
        c->dests++;
        if (c->dry) {
            char ename[900];
            snprintf(ename, sizeof ename, "%.*s.%zu.eml", (int)(strlen(fname) - 7), fname, i + 1);
            if (write_file(c->dry, ename, mail->data, mail->len) != 0) {
                rc = 4;
                break;
            }
            continue;
        }
        qstate s;
        q_get(c, rid, todo[i].key, &s);
        if (!s.exists)
            s.first_try = c->now;
        s.tries++;
        char why[300];
        if (mta(c, mail, why, sizeof why) == 0) {
            snprintf(s.state, sizeof s.state, "sent");
            s.next_try = 0;
            c->sent++;
            sent_mark(c, rid, todo[i].key, 1);
            if (q_put(c, rid, todo[i].key, domain, &s, NULL) != 0)
                rc = 4;
            continue;
        }
        int64_t pause = backoff(s.tries);
        s.next_try = c->now + pause;
        snprintf(s.state, sizeof s.state, "%s",
                 c->now + pause - s.first_try > GIVE_UP ? "failed" : "pending");
        fprintf(stderr, "spoofguard report send: %s to %s: %s (%s)\n", rid, todo[i].addr, why,
                s.state);
        c->failed++;
        if (q_put(c, rid, todo[i].key, domain, &s, why) != 0)
            rc = 4;
        if (!rc)
            rc = 1;
    }
    free(gz);
    return rc;
}

/* ---- failure reports (RFC 9991) --------------------------------------------- */

/* Whether a failure report went to dest already (failure_sent): 1 yes, 0
 * no; mark sets it. */
static int failure_sent(send_ctx *c, const char *domain, const char *ip, int64_t hour,
                        const char *dest, int mark)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(c->db,
                           mark ? "INSERT OR IGNORE INTO failure_sent(policy_domain, source_ip,"
                                  " hour, dest, sent_at) VALUES(?1, ?2, ?3, ?4, ?5)"
                                : "SELECT 1 FROM failure_sent WHERE policy_domain=?1 AND"
                                  " source_ip=?2 AND hour=?3 AND dest=?4",
                           -1, &q, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(q, 1, domain, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, ip, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, hour);
    sqlite3_bind_text(q, 4, dest, -1, SQLITE_STATIC);
    if (mark)
        sqlite3_bind_int64(q, 5, c->now);
    int yes = sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    return yes;
}

/* The queued failure reports that are due, each to its ruf addresses (the
 * authorised ones, as for rua). Each destination that took a report is
 * remembered (failure_sent), as send_queue does for aggregate reports: a
 * retry goes only to those that did not. A row is marked sent once every
 * destination took it; otherwise it is tried again later like an
 * aggregate report. Returns 0, 1 (a destination failed) or 4. */
static int failure_reports(send_ctx *c, sgrep_buf *mail)
{
    sqlite3_stmt *q;
    int rc = 0;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT policy_domain, source_ip, hour, arrival, envelope_from,"
                           " header_from, authres, dkim_aligned, spf_aligned, dkim_domain,"
                           " dkim_selector, headers, ruf, tries, first_try FROM failure_queue"
                           " WHERE state='pending' AND next_try<=?1 ORDER BY arrival",
                           -1, &q, NULL) != SQLITE_OK) {
        fprintf(stderr, "spoofguard report send: %s\n", sqlite3_errmsg(c->db));
        return 4;
    }
    sqlite3_bind_int64(q, 1, c->now);
    /* read all first: the state is written back while the daemon may add */
    typedef struct {
        sgrep_failure f;
        char *s[9]; /* domain, ip, mail from, from, A-R, d=, s=, headers, ruf */
        int64_t hour;
        int tries;
        int64_t first_try;
    } row;
    row *rows = NULL;
    size_t n = 0, cap = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            row *r2 = realloc(rows, cap * sizeof *r2);
            if (!r2) {
                rc = 4;
                break;
            }
            rows = r2;
        }
        row *r = &rows[n++];
        memset(r, 0, sizeof *r);
        static const int cols[9] = {0, 1, 4, 5, 6, 9, 10, 11, 12};
        for (int k = 0; k < 9; k++) {
            const char *v = (const char *)sqlite3_column_text(q, cols[k]);
            r->s[k] = v ? strdup(v) : NULL;
        }
        r->hour = sqlite3_column_int64(q, 2);
        r->f.arrival = sqlite3_column_int64(q, 3);
        r->f.dkim_aligned = sqlite3_column_int(q, 7);
        r->f.spf_aligned = sqlite3_column_int(q, 8);
        r->tries = sqlite3_column_int(q, 13);
        r->first_try = sqlite3_column_int64(q, 14);
        r->f.policy_domain = r->s[0];
        r->f.source_ip = r->s[1];
        r->f.envelope_from = r->s[2];
        r->f.header_from = r->s[3];
        r->f.authres = r->s[4];
        r->f.dkim_domain = r->s[5];
        r->f.dkim_selector = r->s[6];
        r->f.headers = r->s[7];
    }
    sqlite3_finalize(q);
    for (size_t i = 0; i < n && rc != 4; i++) {
        row *r = &rows[i];
        if (!r->s[0] || !r->s[1] || !r->s[8])
            continue;
        char rid[400];
        uint64_t h = 0xcbf29ce484222325ull;
        for (const char *p = r->s[0]; *p; p++)
            h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
        for (const char *p = r->s[1]; *p; p++)
            h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
        h = (h ^ (uint64_t)r->hour) * 0x100000001b3ull;
        /* the same report made again gets the same ID */
        snprintf(rid, sizeof rid, "%016llx.%lld.failure@%s", (unsigned long long)h,
                 (long long)r->hour, c->meta.org_name);
        int all_ok = 1, tried = 0;
        char why[300] = "";
        size_t k = 0, before = 0;
        rauth ra; /* each failure report its own DNS budget, as each aggregate one */
        rauth_init(&ra, r->s[0]);
        /* the rules of rua (adv39 F2: a record's 16 ruf addresses were 16
         * mails, an address listed twice two): at most MAX_RUA, each once;
         * a row the daemon queued before it capped them may hold more */
        rdest ruf[MAX_RUA], sent_to[MAX_RUA];
        size_t nruf = 0, nsent_to = 0;
        for (char *save = NULL, *dest = strtok_r(r->s[8], " ", &save); dest && nruf < MAX_RUA;
             dest = strtok_r(NULL, " ", &save))
            if (strchr(dest, '@') && sgrep_addr_ok(dest))
                add_dest(ruf, &nruf, dest, 0);
        for (size_t j = 0; j < nruf; j++) {
            rdest one[1];
            size_t none = 0;
            add_dest(one, &none, ruf[j].addr, 0);
            const char *to = one[0].key, *at = strrchr(to, '@');
            char instead[256];
            int ok = authorised(c, &ra, at + 1, 'f', instead, sizeof instead);
            if (ok == 1 && instead[0]) {
                none = 0;
                add_dest(one, &none, instead, 0);
                to = one[0].key;
            }
            /* two addresses a consent record redirects to one: one mail */
            if (ok == 1 && !add_dest(sent_to, &nsent_to, one[0].addr, 0))
                continue;
            if (ok != 1) {
                fprintf(stderr, "spoofguard report send: failure report %s: %s %s\n", r->s[0], to,
                        ok == 0 ? "is outside the domain and not authorised (_report._dmarc)"
                                : unknown_why(ok));
                if (ok < 0)
                    all_ok = 0;
                continue;
            }
            if (!c->dry && failure_sent(c, r->s[0], r->s[1], r->hour, to, 0)) {
                before++;
                continue;
            }
            sgrep_failure_mail(mail, &c->meta, one[0].addr, &r->f, rid, c->now);
            if (mail->oom) {
                rc = 4;
                break;
            }
            c->dests++;
            k++;
            if (c->dry) {
                char name[800];
                snprintf(name, sizeof name, "failure!%s!%s!%lld.%zu.eml", r->s[0], r->s[1],
                         (long long)r->hour, k);
                for (char *p = name; *p; p++)
                    if (*p == '/' || *p == ':')
                        *p = '_';
                if (write_file(c->dry, name, mail->data, mail->len) != 0)
                    rc = 4;
                continue;
            }
            tried = 1;
            if (mta(c, mail, why, sizeof why) == 0) {
                c->sent++;
                failure_sent(c, r->s[0], r->s[1], r->hour, to, 1);
            } else {
                all_ok = 0;
            }
        }
        c->failures++;
        if (c->dry || rc == 4)
            continue;
        sqlite3_stmt *u;
        int tries = r->tries + (tried ? 1 : 0);
        int64_t first = r->first_try ? r->first_try : c->now;
        int64_t pause = backoff(tries);
        /* every ruf address refused by rule (outside the domain, no
         * _report._dmarc authorisation): nothing went and nothing ever
         * will; "sent" would tell the operator it was delivered */
        int nobody = all_ok && k == 0 && before == 0;
        if (nobody)
            snprintf(why, sizeof why, "no authorised destination");
        const char *state = nobody                             ? "failed"
                            : all_ok                           ? "sent"
                            : c->now + pause - first > GIVE_UP ? "failed"
                                                               : "pending";
        if (!all_ok) {
            fprintf(stderr, "spoofguard report send: failure report %s from %s: %s (%s)\n", r->s[0],
                    r->s[1], why[0] ? why : "a destination could not be checked", state);
            c->failed++;
            rc = 1;
        }
        if (sqlite3_prepare_v2(c->db,
                               "UPDATE failure_queue SET state=?1, tries=?2, first_try=?3,"
                               " next_try=?4, sent_at=?5, last_error=?6 WHERE policy_domain=?7"
                               " AND source_ip=?8 AND hour=?9",
                               -1, &u, NULL) != SQLITE_OK) {
            rc = 4;
            break;
        }
        sqlite3_bind_text(u, 1, state, -1, SQLITE_STATIC);
        sqlite3_bind_int(u, 2, tries);
        sqlite3_bind_int64(u, 3, first);
        sqlite3_bind_int64(u, 4, all_ok ? 0 : c->now + pause);
        if (all_ok && !nobody)
            sqlite3_bind_int64(u, 5, c->now);
        else
            sqlite3_bind_null(u, 5);
        if (why[0])
            sqlite3_bind_text(u, 6, why, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(u, 6);
        sqlite3_bind_text(u, 7, r->s[0], -1, SQLITE_STATIC);
        sqlite3_bind_text(u, 8, r->s[1], -1, SQLITE_STATIC);
        sqlite3_bind_int64(u, 9, r->hour);
        if (sqlite3_step(u) != SQLITE_DONE)
            rc = 4;
        sqlite3_finalize(u);
    }
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 9; k++)
            free(rows[i].s[k]);
    free(rows);
    return rc;
}

int cmd_report_send(int argc, char **argv);
int cmd_report_send(int argc, char **argv)
{
    send_ctx c;
    memset(&c, 0, sizeof c);
    c.store_path = DEFAULT_STORE;
    c.sendmail = DEFAULT_SENDMAIL;
    c.max_per_org = SGREP_AGGREGATE_ORG_DAY;
    int first = 0;
    int rc = sg_cli_parse(&send_cmd, argc, argv, &c.dns, opt_fn, &c, &first);
    if (rc != SG_CLI_GO)
        return rc;
    if (first < argc)
        return sg_cli_usage_error(&send_cmd, "unexpected operand '%s'", argv[first]);
    c.now = (int64_t)time(NULL);
    if (!c.have_day)
        c.day = c.now - c.now % 86400 - 86400;
    if (gethostname(c.host, sizeof c.host - 1) != 0)
        snprintf(c.host, sizeof c.host, "localhost");
    if (!c.org) {
        snprintf(c.org_buf, sizeof c.org_buf, "%s", c.host);
        c.org = c.org_buf;
    }
    if (!c.email) {
        snprintf(c.email_buf, sizeof c.email_buf, "dmarc-noreply@%s", c.org);
        c.email = c.email_buf;
    }
    if (!sgrep_addr_ok(c.email))
        return sg_cli_usage_error(&send_cmd, "--email: '%s' is not an address", c.email);
    snprintf(c.gen_buf, sizeof c.gen_buf, "spoofguard %s", sg_version());
    c.meta.org_name = c.org;
    c.meta.email = c.email;
    c.meta.generator = c.gen_buf;

    rc = sg_cli_dns_open(&c.dns);
    if (rc != 0)
        return rc;
    char err[512];
    if (!c.redis_url && access(c.store_path, F_OK) != 0) {
        /* a mistyped --store made an empty one and reported "0 reports"
         * (adv18 F12); spoofguardd creates it (report_store) */
        fprintf(stderr, "spoofguard report send: %s: %s (spoofguardd's report_store creates it)\n",
                c.store_path, strerror(errno));
        sg_cli_dns_close(&c.dns);
        return SG_EXIT_INPUT; /* the user's input, as summary and prune say */
    }
    const char *why = c.redis_url ? NULL : sg_cli_not_sqlite(c.store_path);
    if (why != NULL) {
        fprintf(stderr, "spoofguard report send: %s: %s\n", c.store_path, why);
        sg_cli_dns_close(&c.dns);
        return SG_EXIT_INPUT;
    }
    c.db = sgrep_send_open(c.store_path, err, sizeof err);
    if (!c.db) {
        fprintf(stderr, "spoofguard report send: %s\n", err);
        sg_cli_dns_close(&c.dns);
        return SG_EXIT_INTERNAL;
    }
    if (sgrep_store_id(c.db, c.store_id, sizeof c.store_id) != 0) {
        fprintf(stderr, "spoofguard report send: %s: no store ID: %s\n", c.store_path,
                sqlite3_errmsg(c.db));
        sqlite3_close(c.db);
        sg_cli_dns_close(&c.dns);
        return SG_EXIT_INTERNAL;
    }
    /* an expired answer is never read again, and nothing else deleted it:
     * the table grew by a row per policy domain and external destination
     * a day, for ever. A failure here costs only room: the run goes on */
    sqlite3_stmt *expired;
    if (sqlite3_prepare_v2(c.db, "DELETE FROM report_auth_cache WHERE expires<=?1", -1, &expired,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(expired, 1, c.now);
        sqlite3_step(expired);
    }
    sqlite3_finalize(expired);
    if (c.redis_url) {
        char host[256];
        int port, db;
        struct timeval tv = {5, 0};
        if (sg_obs_redis_url(c.redis_url, host, sizeof host, &port, &db, err, sizeof err) != 0) {
            sqlite3_close(c.db);
            sg_cli_dns_close(&c.dns);
            return sg_cli_usage_error(&send_cmd, "--redis: %s", err);
        }
        c.redis = redisConnectWithTimeout(host, port, tv);
        redisReply *sel = NULL;
        if (c.redis && !c.redis->err && db)
            sel = redisCommand(c.redis, "SELECT %d", db);
        int lk = c.redis && !c.redis->err && (!db || (sel && sel->type == REDIS_REPLY_STATUS))
                     ? (c.dry ? 1 : lock_take(&c))
                     : -1;
        freeReplyObject(sel);
        uint64_t groups = 0;
        if (lk == 1 &&
            sgrep_collected_from_redis(c.db, c.redis, c.day, &groups, err, sizeof err) != 0)
            lk = -1;
        if (lk != 1) {
            if (lk == 0)
                fprintf(stderr,
                        "spoofguard report send: another host holds the lock (%s); "
                        "nothing done\n",
                        SGREP_REDIS_LOCK);
            else
                fprintf(stderr, "spoofguard report send: --redis %s: %s\n", c.redis_url,
                        c.redis && c.redis->err ? c.redis->errstr : err);
            lock_touch(&c, 0);
            if (c.redis)
                redisFree(c.redis);
            sqlite3_close(c.db);
            sg_cli_dns_close(&c.dns);
            return lk == 0 ? SG_EXIT_OK : SG_EXIT_INTERNAL;
        }
        fprintf(stderr, "spoofguard report send: %llu groups of the cluster from %s\n",
                (unsigned long long)groups, c.redis_url);
    }
    /* the groups of the day, read first: reports are written while the
     * daemon may flush into the same table */
    sqlite3_stmt *q;
    char **doms = NULL, **pols = NULL;
    int64_t *msgs = NULL;
    size_t n = 0, cap = 0;
    rc = SG_EXIT_OK;
    /* the busiest policy domains first, then by name (adv39 F1): in name
     * order a forger's "0..." domains, whose DNS may stall, came before
     * the real ones, whose reports then waited; his messages to us are
     * what he must spend to come first now */
    if (sqlite3_prepare_v2(c.db,
                           "SELECT c.policy_domain, c.policy, SUM(c.count) FROM collected c"
                           " JOIN (SELECT policy_domain, SUM(count) AS total FROM collected"
                           " WHERE day=?1 GROUP BY 1) t ON t.policy_domain=c.policy_domain"
                           " WHERE c.day=?1 GROUP BY 1, 2 ORDER BY MAX(t.total) DESC, 1, 2",
                           -1, &q, NULL) != SQLITE_OK) {
        fprintf(stderr, "spoofguard report send: %s\n", sqlite3_errmsg(c.db));
        rc = SG_EXIT_INTERNAL;
    } else {
        sqlite3_bind_int64(q, 1, c.day);
        while (sqlite3_step(q) == SQLITE_ROW) {
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                char **d2 = realloc(doms, cap * sizeof *d2);
                if (d2)
                    doms = d2;
                char **p2 = realloc(pols, cap * sizeof *p2);
                if (p2)
                    pols = p2;
                int64_t *m2 = realloc(msgs, cap * sizeof *m2);
                if (m2)
                    msgs = m2;
                if (!d2 || !p2 || !m2) {
                    rc = SG_EXIT_INTERNAL;
                    break;
                }
            }
            doms[n] = strdup((const char *)sqlite3_column_text(q, 0));
            pols[n] = strdup((const char *)sqlite3_column_text(q, 1));
            msgs[n] = sqlite3_column_int64(q, 2);
            n++;
        }
        sqlite3_finalize(q);
    }
    unsigned char *keep = NULL;
    if (rc != SG_EXIT_INTERNAL && hold_back(&c, doms, pols, msgs, n, &keep) != 0)
        rc = SG_EXIT_INTERNAL;
    sgrep_buf xml = {0}, mail = {0};
    for (size_t i = 0; rc != SG_EXIT_INTERNAL && i < n; i++) {
        if (!keep[i])
            continue;
        int r = one_report(&c, doms[i], pols[i], &xml, &mail);
        if (r == 4)
            rc = SG_EXIT_INTERNAL;
        else if (r == 1)
            rc = SG_EXIT_FAIL;
        if (!c.dry && !lock_kept(&c))
            rc = SG_EXIT_INTERNAL; /* ends the loop: the rest waits for the next run */
    }
    for (size_t i = 0; i < n; i++) {
        free(doms[i]);
        free(pols[i]);
    }
    free(doms);
    free(pols);
    free(msgs);
    free(keep);
    if (rc != SG_EXIT_INTERNAL) {
        int r = failure_reports(&c, &mail);
        if (r == 4)
            rc = SG_EXIT_INTERNAL;
        else if (r == 1 && rc == SG_EXIT_OK)
            rc = SG_EXIT_FAIL;
    }
    sgrep_buf_free(&xml);
    sgrep_buf_free(&mail);
    char day[16];
    time_t t = (time_t)c.day;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    fprintf(stderr,
            "spoofguard report send: %s: %u reports, %u failure reports, %u mails %s, %u failed, "
            "%u already done, %u held back\n",
            day, c.reports, c.failures, c.dry ? c.dests : c.sent, c.dry ? "written" : "sent",
            c.failed, c.skipped, c.held);
    lock_touch(&c, 0);
    if (c.redis)
        redisFree(c.redis);
    sqlite3_close(c.db);
    sg_cli_dns_close(&c.dns);
    for (size_t i = 0; i < c.ndns_bad; i++)
        free(c.dns_bad[i]);
    free(c.dns_bad);
    return rc;
}
