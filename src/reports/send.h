/*
 * DMARC reports we send (issue 16 items 1 and 2): what spoofguardd's DMARC
 * evaluations saw, counted in memory per worker and flushed to the report
 * store's `collected` table (collect.c), and the RFC 9990 aggregate report
 * made from it for one policy domain, one published policy and one UTC day
 * (send.c): XML in the urn:ietf:params:xml:ns:dmarc-2.0 namespace, gzip, the
 * RFC's file name and Subject, a Report-ID that is the same every time the
 * same report is made. The `report send` command (src/cli/cmd_report_send.c)
 * finds the rua addresses, checks external destinations and hands the mail
 * to the local MTA; its state (tries, next try, the authorisation cache)
 * lives in tables of the same SQLite file (sgrep_send_open).
 */
#ifndef SG_REPORTS_SEND_H
#define SG_REPORTS_SEND_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

/* ---- one observation: what one DMARC evaluation saw ------------------- */

#define SGREP_OBS_MAX_DKIM 8 /* signatures kept per message; more are not reported */

/* All strings are borrowed and may be NULL (""). Results are RFC 8601
 * words in lower case ("pass", "fail", "temperror"...). */
typedef struct {
    int64_t when; /* Unix seconds: the UTC day it is counted in */
    const char *policy_domain;
    const char *source_ip;   /* textual, any form inet_pton reads */
    const char *disposition; /* none, quarantine, reject */
    /* why the disposition is not what the policy asks (RFC 9990 reason):
     * an Override word and a comment of one token; NULL: no reason */
    const char *override_type, *override_comment;
    int dkim_aligned, spf_aligned; /* policy_evaluated: 1 pass, 0 fail */
    const char *header_from, *envelope_from, *envelope_to;
    struct {
        const char *domain, *selector, *result;
    } dkim[SGREP_OBS_MAX_DKIM];
    unsigned ndkim;
    const char *spf_domain, *spf_scope, *spf_result; /* scope: mfrom, helo */
    /* the published policy the evaluation used (RFC 9990 policy_published) */
    const char *p, *sp, *np, *adkim, *aspf, *fo;
    int testing;           /* t=y */
    const char *discovery; /* psl, treewalk */
} sgrep_obs;

/* ---- collection: a bounded in-memory table of counters ----------------- */

typedef struct sgrep_collect sgrep_collect;

/* A table of at most max_groups distinct groups (RFC 9990 grouping: policy
 * domain, day, source, results, identifiers, policy). NULL on no memory. */
sgrep_collect *sgrep_collect_new(size_t max_groups);
void sgrep_collect_free(sgrep_collect *c);
/* Counts one message. 0, or -1 when the table is full (the caller flushes
 * and tries again, or counts the loss). */
int sgrep_collect_add(sgrep_collect *c, const sgrep_obs *o);
size_t sgrep_collect_groups(const sgrep_collect *c);
uint64_t sgrep_collect_messages(const sgrep_collect *c);
/* Adds every group's count to the `collected` table in one transaction
 * (upsert) and empties the table on success. 0, or -1 with err set (the
 * table is kept, so nothing is lost; a later flush tries again). */
int sgrep_collect_flush(sgrep_collect *c, sqlite3 *db, char *err, size_t errlen);

/* ---- a cluster's counts in Redis (report_redis) -------------------------- */

/* One hash per UTC day: field = a group's key, value = its count; kept 8
 * days (a late or repeated `report send` still finds them). */
#define SGREP_REDIS_DAY_PREFIX "sgrep:collected:"
#define SGREP_REDIS_TTL (8 * 86400)
/* `report send` of one host at a time: SET NX PX with a token */
#define SGREP_REDIS_LOCK "sgrep:send-lock"
/* a report sent to a destination, by any host: "sgrep:sent:RID:RUA" */
#define SGREP_REDIS_SENT_PREFIX "sgrep:sent:"

struct redisContext;
/* Adds every group's count to the day hashes in one MULTI/EXEC and empties
 * the table; -1 with err (the table is kept, retried by the next flush). */
int sgrep_collect_flush_redis(sgrep_collect *c, struct redisContext *r, char *err, size_t errlen);
/* The cluster's counts of day into the store's `collected`, replacing the
 * store's own rows of that day; *groups: how many. 0 or -1 with err. */
int sgrep_collected_from_redis(sqlite3 *db, struct redisContext *r, int64_t day, uint64_t *groups,
                               char *err, size_t errlen);

/* ---- the sending side's store ---------------------------------------- */

/* Opens the report store at path (creating it and the schema of
 * sgrep_store_open when new), plus the tables of the sending side:
 * send_queue (per Report-ID and rua: state, tries, next try) and
 * report_auth_cache (external destination authorisation, RFC 9990 3.x,
 * positive and negative, with an expiry). NULL with err set. */
sqlite3 *sgrep_send_open(const char *path, char *err, size_t errlen);

/* ---- the policy string kept with every group ---------------------------- */

typedef struct {
    char p[16], sp[16], np[16], adkim[4], aspf[4], fo[16], testing[4], discovery[16];
} sgrep_policy;

/* "p=reject sp=reject np=reject adkim=r aspf=r fo=0 t=n disc=treewalk":
 * canonical, so equal policies give equal strings. */
void sgrep_policy_format(char *out, size_t outlen, const sgrep_obs *o);
/* Reads it back; unknown or bad values get RFC 9989's defaults. */
void sgrep_policy_parse(const char *s, sgrep_policy *out);

/* ---- the report -------------------------------------------------------- */

typedef struct {
    const char *org_name;  /* the reporting organisation: a domain name */
    const char *email;     /* its contact address */
    const char *generator; /* "spoofguard 0.x" */
    const char *error;     /* report_metadata's error (what was left out), or NULL */
} sgrep_gen_meta;

/* XML a report holds at most (SGREP_REPORT_XML_MAX): gzip'd and in base64,
 * the mail stays under Postfix's default message_size_limit (10,240,000)
 * even for text that hardly compresses (the records a forger makes up);
 * ordinary records compress 15 to 20 times, so some 20,000 fit. */
#define SGREP_REPORT_XML_MAX (6u << 20)

/* A report being written: XML text in memory. */
typedef struct {
    char *data;
    size_t len, cap;
    int oom;
    uint64_t records, messages;
} sgrep_buf;

void sgrep_buf_free(sgrep_buf *b);
/* An RFC 5322 date of Unix time t, in UTC. */
void sgrep_date(char *out, size_t n, int64_t t);
/* Appends n bytes (sets oom instead when memory runs out). */
void sgrep_buf_put(sgrep_buf *b, const char *s, size_t n);
/* Appends formatted text, at most 2,047 bytes of it. */
void sgrep_buf_printf(sgrep_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One row of `collected`, as stored. */
typedef struct {
    const char *source_ip, *disposition, *dkim_aligned, *spf_aligned;
    const char *header_from, *envelope_from, *envelope_to;
    const char *dkim;   /* "d/s/result d/s/result" */
    const char *spf;    /* "domain/scope/result" */
    const char *reason; /* "type/comment", "type" or "" (none) */
    uint64_t count;
} sgrep_row;

/* Report-ID (RFC 9990 ridfmt: dot-atom "@" dot-atom): the day and a hash
 * of the policy string, the policy domain and `host`, "@" the reporting
 * organisation: the same report made again gets the same ID. host names
 * the store the counts come from (its sgrep_store_id; NULL for a
 * cluster's counts in Redis): two MX hosts with stores of their own send
 * different reports, which must not share an ID (adv18 F3: consumers keep
 * one). unique (for the file name: 1*(ALPHA / DIGIT), RFC 9990 5.1) gets
 * the part before the domain. */
void sgrep_report_id(char *out, size_t outlen, char *unique, size_t uniquelen, int64_t day,
                     const char *policy_domain, const char *policy, const char *host,
                     const char *org_name);

/* The Report-ID as versions before the store ID made it ("YYYYMMDD.HASH.
 * domain@org"): a report sent under it is not sent again under the new one
 * on the day of the upgrade. */
void sgrep_report_id_v1(char *out, size_t outlen, int64_t day, const char *policy_domain,
                        const char *policy, const char *org_name);
/* The store's ID (16 hex digits, made once with the store): 0, or -1. */
int sgrep_store_id(sqlite3 *db, char *out, size_t cap);

void sgrep_gen_begin(sgrep_buf *b, const sgrep_gen_meta *m, const char *report_id,
                     const char *policy_domain, const sgrep_policy *pol, int64_t begin,
                     int64_t end);
/* Writes one record; a row whose source address does not parse is skipped
 * (-1; nothing was written). */
int sgrep_gen_record(sgrep_buf *b, const sgrep_row *r);
void sgrep_gen_end(sgrep_buf *b);

/* gzip (RFC 1952) of data; *out malloc'ed. 0 or -1. */
int sgrep_gzip(const void *data, size_t len, unsigned char **out, size_t *outlen);

/* The RFC 9990 file name: receiver!policy-domain!begin!end!unique.xml.gz */
void sgrep_report_filename(char *out, size_t outlen, const char *org_name,
                           const char *policy_domain, int64_t begin, int64_t end,
                           const char *unique);

/* The whole mail for one destination (RFC 5322 + MIME, CRLF-free: sendmail
 * -t takes LF), into b. The address must already be checked
 * (sgrep_addr_ok). */
void sgrep_mail(sgrep_buf *b, const sgrep_gen_meta *m, const char *to, const char *policy_domain,
                const char *report_id, const char *filename, const unsigned char *gz, size_t gzlen,
                int64_t now);

/* An address we are willing to put in a header: local@domain, printable
 * ASCII without specials that could break the header or the command. */
int sgrep_addr_ok(const char *addr);

/* Destinations of one report, aggregate (rua) or failure (ruf), at most;
 * a record may list 16 (SG_DMARC_MAX_URIS), each a mail of ours to an
 * address its publisher chose. More are ignored, an address listed
 * again (in any case) is one. */
#define SGREP_MAX_DEST 8

/* ---- failure reports (RFC 9991: RFC 5965 ARF with RFC 6591's fields) -------- */

/* The header of the message a report is about, redacted (RFC 6590's
 * spirit; docs/reports.md, "Failure reports"): only From, Date,
 * Message-ID, DKIM-Signature (without its z= tag, which copies header
 * fields), To and Cc with
 * every local part replaced by "redacted" and display names dropped, and
 * Subject replaced by "[redacted]"; every other field, and the body, never.
 * Folded lines are kept folded; a field is kept whole or not at all (out
 * is cut at cap on a field boundary). hdr: "Name: value" lines, CRLF or LF.
 * Returns the length written to out (NUL-terminated, LF line ends). */
size_t sgrep_failure_redact(const char *hdr, size_t len, char *out, size_t cap);
/* Whether the redaction keeps (part of) a field of this name: what the
 * daemon need keep of a message for a failure report. */
int sgrep_failure_field_kept(const char *name, size_t n);

/* Why a failure report is due for an evaluation, by the record's fo= bits
 * (RFC 9989 4.7, RFC 9991 3): 0 DMARC failed (no aligned pass), 1 either
 * mechanism did not give an aligned pass, d a DKIM signature failed, s SPF
 * failed. Returns 1 when one of them applies. */
int sgrep_failure_due(unsigned fo, int dmarc_pass, int dkim_aligned, int spf_aligned,
                      int dkim_failed, int spf_failed);

typedef struct {
    int64_t arrival;
    const char *policy_domain, *source_ip;
    /* the policy domain's organisational domain by the public suffix list
     * (the rate limit's); NULL or "": the policy domain itself */
    const char *org_domain;
    const char *envelope_from; /* the MAIL FROM address ("" for the null sender) */
    const char *header_from;   /* the From domain */
    const char *authres;       /* our Authentication-Results value */
    int dkim_aligned, spf_aligned;
    const char *dkim_domain, *dkim_selector; /* a signature that failed; may be NULL */
    const char *headers;                     /* redacted (sgrep_failure_redact) */
} sgrep_failure;

/* The whole report mail for one destination (LF line ends, for sendmail
 * -t): multipart/report; report-type=feedback-report with a text part, the
 * message/feedback-report part (Feedback-Type: auth-failure, Version: 1,
 * User-Agent, Auth-Failure: dmarc, Original-Mail-From, Arrival-Date,
 * Source-IP, Reported-Domain, Authentication-Results, Identity-Alignment,
 * DKIM-Domain/Selector) and the redacted header as text/rfc822-headers.
 * report_id names it (Message-ID). The address must be checked already. */
void sgrep_failure_mail(sgrep_buf *b, const sgrep_gen_meta *m, const char *to,
                        const sgrep_failure *f, const char *report_id, int64_t now);

/* Aggregate reports of one day for the policy domains of one
 * organisational domain at most (report send's --max-per-org default): a
 * wildcard DMARC record (*.evil.test) makes every name under a domain a
 * policy domain, so a forger who writes From: x@rN.evil.test with a
 * thousand values of N would have us mail a thousand reports a day to the
 * rua he published. */
#define SGREP_AGGREGATE_ORG_DAY 20

typedef struct {
    const char *org;    /* organisational domain (lower case) */
    const char *domain; /* policy domain */
    int64_t messages;   /* the report's message count */
    int started;        /* an earlier run of the day queued it (send_queue) */
} sgrep_day_report;

/* Marks in keep[i] (1/0) which of a day's n reports are sent when each
 * organisational domain may have at most limit (0: no limit): those an
 * earlier run started first (they were chosen then and count against the
 * limit, so a re-run with late counts never sends more than limit in
 * all), then the organisational domain's own reports, then those with the
 * most messages, then by name (ties in the order of r).
 * Returns how many are held back; -1 when out of memory (keep untouched). */
long sgrep_limit_per_org(const sgrep_day_report *r, size_t n, size_t limit, unsigned char *keep);

/* Failure reports one organisational domain gets in an hour at most, from
 * all sources together. */
#define SGREP_FAILURE_ORG_HOUR 10

/* Queues a failure report in the store's failure_queue (sgrep_send_open's
 * schema) for the ruf addresses ruf (space separated): 1 queued, 0 the
 * rate limit said no (RFC 9991 5, 7; kept across workers and restarts):
 * one was queued this hour already for this organisational domain
 * (f->org_domain) and source, or SGREP_FAILURE_ORG_HOUR for this
 * organisational domain; -1 with err. Run it in a transaction when
 * several writers share the store. */
int sgrep_failure_queue(sqlite3 *db, const sgrep_failure *f, const char *ruf, char *err,
                        size_t errlen);

#endif
