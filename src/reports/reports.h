/*
 * DMARC reports others send us (issue 16 item 3): RFC 7489 and RFC 9990
 * aggregate reports (XML in no namespace, RFC 7489's or RFC 9990's) and
 * RFC 9991 / RFC 6591 failure reports (ARF), as .xml, .gz, .zip or a mail
 * carrying one of them, read streaming and bounded; and the store they go
 * into (SQLite in WAL mode, shared with the sending side later).
 *
 * An internal static library (target sg_reports), linked by the CLI and
 * later by spoofguardd and spoofguard-view; never libspoofguard's API. No
 * global mutable state. Hostile input is refused with a reason, never a
 * crash: no DTD (so no entity of any kind but the five predefined ones),
 * no network, bounded inflation, records, nesting and text.
 */
#ifndef SG_REPORTS_H
#define SG_REPORTS_H

#include <stddef.h>
#include <stdint.h>

/* Default bounds (issue 16). */
#define SGREP_MAX_INFLATED (32u << 20) /* bytes of XML after gzip/zip/base64 */
#define SGREP_MAX_RATIO 100u           /* inflated bytes per compressed byte */
#define SGREP_RATIO_FLOOR (1u << 20)   /* the ratio is judged past this many bytes */
#define SGREP_MAX_RECORDS 500000u      /* record elements in one report */
#define SGREP_MAX_DEPTH 32u            /* element nesting */
#define SGREP_MAX_TEXT (64u << 10)     /* character data between two tags */
#define SGREP_MAX_INPUT (48u << 20)    /* bytes of one file (a mail carries base64) */
/* What one report may claim (ADV31-1): a record's count fits 32 bits (no
 * receiver sees four billion messages from one source in a day), and a
 * report's messages at most 2^40; so a sum over any number of reports stays
 * far from 2^63 for as long as a store could grow. */
#define SGREP_MAX_COUNT 4294967295ull
#define SGREP_MAX_MESSAGES (1ull << 40)
/* A report's period (ADV31-2/7): DMARC reports exist since 2012; a report
 * is about the past (a day of clock skew allowed), and covers a day, a few
 * at most (the longest real one read spans 4 days). */
#define SGREP_MIN_BEGIN 1325376000 /* 2012-01-01T00:00:00Z */
#define SGREP_MAX_FUTURE 86400
#define SGREP_MAX_SPAN (31 * 86400)

typedef struct {
    size_t max_input;
    size_t max_inflated;
    unsigned max_ratio;
    size_t ratio_floor;
    size_t max_records;
    unsigned max_depth;
    size_t max_text;
    int64_t now; /* the time of parsing, for the date checks; 0: the clock */
} sgrep_limits;

void sgrep_limits_init(sgrep_limits *l);

typedef enum { SGREP_AGGREGATE = 0, SGREP_FAILURE = 1 } sgrep_kind;
typedef enum { SGREP_NS_NONE = 0, SGREP_NS_RFC7489, SGREP_NS_RFC9990 } sgrep_ns;

/* One DKIM or SPF result of a record's auth_results. */
typedef struct {
    char domain[256];
    char selector[128]; /* DKIM */
    char scope[16];     /* SPF: mfrom, helo */
    char result[32];    /* lower case */
    char human_result[256];
} sgrep_auth;

#define SGREP_MAX_AUTH 8 /* per method and record; more are counted, not kept */

typedef struct {
    char source_ip[64];
    uint64_t count;
    char disposition[32]; /* policy_evaluated, lower case ("" when absent) */
    char dkim[16];        /* policy_evaluated dkim: pass / fail, lower case */
    char spf[16];
    char reason_type[32]; /* the first reason */
    char reason_comment[256];
    char header_from[256];
    char envelope_from[256];
    char envelope_to[256];
    sgrep_auth dkim_auth[SGREP_MAX_AUTH];
    unsigned ndkim;
    sgrep_auth spf_auth[SGREP_MAX_AUTH];
    unsigned nspf;
} sgrep_record;

#define SGREP_TALLY_NAMES 8 /* names per tally; more are counted as "other" */

typedef struct {
    char name[32]; /* lower case */
    uint64_t messages;
} sgrep_tally;

/* Adds n messages under name; past SGREP_TALLY_NAMES names the last slot
 * becomes "other", so a sender cannot grow the tally. */
void sgrep_tally_add(sgrep_tally *t, unsigned *nt, const char *name, uint64_t n);
/* The same for override reasons: the reason types of RFC 7489 and RFC 9990
 * keep their own names; any other name is counted as "other" (which is one
 * of them), so made-up names cannot take the known types' places. */
void sgrep_reason_tally_add(sgrep_tally *t, unsigned *nt, const char *name, uint64_t n);
/* 1 when name is a reason type of RFC 7489 or RFC 9990. */
int sgrep_reason_known(const char *name);
/* a + b, at most UINT64_MAX */
static inline uint64_t sgrep_sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

typedef struct {
    sgrep_kind kind;
    sgrep_ns ns;
    char org_name[256];
    char email[256];
    char report_id[256];
    char generator[256];
    char policy_domain[256];
    int64_t begin, end; /* Unix seconds; aggregate */
    char adkim[8], aspf[8], p[16], sp[16], np[16], pct[8], fo[16], testing[8];
    char discovery_method[16];
    /* Sums over the records, computed as they stream by. */
    uint64_t records;
    uint64_t messages;
    uint64_t dkim_aligned_pass; /* messages whose policy_evaluated dkim is pass */
    uint64_t spf_aligned_pass;
    sgrep_tally disposition[SGREP_TALLY_NAMES]; /* "unknown" when absent */
    unsigned ndisposition;
    /* Messages per policy override reason (RFC 9990 type of a record's
     * first reason; records without one are not counted): why a receiver
     * did not apply the published policy. */
    sgrep_tally reason[SGREP_TALLY_NAMES];
    unsigned nreason;
    /* Failure reports (RFC 9991 / RFC 6591 fields; "" when absent). */
    char source_ip[64];
    char auth_failure[64];
    char feedback_type[32];
    char identity_alignment[64];
    char original_mail_from[256];
    char original_rcpt_to[256];
    char reporting_mta[256];
    char dkim_domain[256];
    char dkim_selector[128];
    char spf_dns[256];
    char delivery_result[32];
    int64_t arrival; /* Unix seconds, 0 when absent or unreadable */
} sgrep_report;

/*
 * What the parser tells its caller. begin is called before a report is
 * read, record once per record element (rep holds the metadata read so far:
 * a valid report puts report_metadata first), end when the report was read
 * whole, abort when it was refused after begin (a store rolls back). Each
 * returns 0 to go on; a non-zero return stops the parse with that status
 * (SGREP_ESINK) and err from the sink's own message. Any may be NULL.
 */
typedef struct {
    void *ctx;
    int (*begin)(void *ctx);
    int (*record)(void *ctx, const sgrep_report *rep, const sgrep_record *rec);
    int (*end)(void *ctx, const sgrep_report *rep);
    void (*abort)(void *ctx);
} sgrep_sink;

#define SGREP_OK 0
#define SGREP_EREFUSED (-1) /* the input was refused: err says why */
#define SGREP_ENOMEM (-2)
#define SGREP_ESINK (-3) /* the sink said stop */

/*
 * Reads one file's bytes: sniffs the container (gzip, zip, XML, else an
 * RFC 5322 message), reads the report in it and calls the sink. Returns
 * SGREP_OK when a report was read, or an error with a one-line English
 * reason in err. lim NULL: the defaults.
 */
int sgrep_parse(const unsigned char *data, size_t len, const sgrep_limits *lim,
                const sgrep_sink *sink, char *err, size_t errlen);

/* Only the XML of an aggregate report (no container), fed in chunks. */
typedef struct sgrep_xml sgrep_xml;
sgrep_xml *sgrep_xml_new(const sgrep_limits *lim, const sgrep_sink *sink);
/* Returns SGREP_OK or an error (then err is set and further calls fail). */
int sgrep_xml_feed(sgrep_xml *x, const char *buf, size_t len);
/* Ends the document: SGREP_OK when a whole <feedback> was read. */
int sgrep_xml_finish(sgrep_xml *x, char *err, size_t errlen);
const char *sgrep_xml_error(const sgrep_xml *x);
/* Stops the document for a reason found outside it (an inflater's bound):
 * sgrep_xml_finish then refuses it and the sink's abort is called. */
void sgrep_xml_abort(sgrep_xml *x, const char *why);
void sgrep_xml_free(sgrep_xml *x);

/* A mail (internal: sgrep_parse calls it for what is not XML or an archive). */
int sgrep_parse_mail(const unsigned char *data, size_t len, const sgrep_limits *lim,
                     const sgrep_sink *sink, char *err, size_t errlen);
/* gzip and zip: inflated bytes go to the XML reader, bounded by lim. */
int sgrep_parse_gzip(const unsigned char *data, size_t len, const sgrep_limits *lim,
                     const sgrep_sink *sink, char *err, size_t errlen);
int sgrep_parse_zip(const unsigned char *data, size_t len, const sgrep_limits *lim,
                    const sgrep_sink *sink, char *err, size_t errlen);

const char *sgrep_ns_name(sgrep_ns ns);    /* "rfc7489" "rfc9990" "none" */
const char *sgrep_kind_name(sgrep_kind k); /* "aggregate" "failure" */

/* ---- the store -------------------------------------------------------- */

typedef struct sgrep_store sgrep_store;

/* Opens (creating it and its schema when new) the SQLite store at path,
 * WAL mode. Returns NULL with err set on failure. */
sgrep_store *sgrep_store_open(const char *path, char *err, size_t errlen);
/* Opens an existing store read-only (the viewer): no schema is written;
 * NULL with err set when it is missing or not a report store. */
sgrep_store *sgrep_store_open_ro(const char *path, char *err, size_t errlen);
void sgrep_store_close(sgrep_store *s);

/* A sink that writes one report per transaction: begin opens it, end
 * commits unless a report of the same (org_name, report_id) and the same
 * content digest is already stored, abort rolls back.
 * After end, sgrep_store_last_duplicate says whether it was a duplicate.
 * source is recorded with the report. */
void sgrep_store_sink(sgrep_store *s, const char *source, sgrep_sink *out);
int sgrep_store_last_duplicate(const sgrep_store *s);
/* After end: 1 when the report was stored although a report of the same
 * organisation and Report-ID with other content was stored before (a
 * duplicate is the same identity and the same content digest). */
int sgrep_store_last_conflict(const sgrep_store *s);
const char *sgrep_store_error(const sgrep_store *s);

/* Deletes received reports whose period ended before `before` (Unix
 * seconds); returns how many, or -1. */
long long sgrep_store_prune(sgrep_store *s, int64_t before);

/* One row of the summary: messages of one source for one policy domain and
 * UTC day; pass means DMARC pass (DKIM or SPF aligned pass). */
typedef struct {
    const char *policy_domain;
    int64_t day; /* Unix seconds of 00:00 UTC */
    const char *source_ip;
    uint64_t pass, fail;
    /* Messages the reporters did not apply the published policy to, per
     * the type of the record's first reason (RFC 9990 2.1.2). */
    uint64_t overridden;
    sgrep_tally reason[SGREP_TALLY_NAMES];
    unsigned nreason;
} sgrep_summary_row;

/* day (Unix seconds) as "YYYY-MM-DD" in out: 0, or -1 when gmtime fails or
 * the year is not 1970..9999 (a row stored before absurd dates were
 * refused), and then out holds "". */
int sgrep_day_text(int64_t day, char out[16]);

/* Calls fn for each row, ordered by domain, day, source. domain NULL: all;
 * since: only days at or after it (0: all). Returns 0 or -1. */
int sgrep_store_summary(sgrep_store *s, const char *domain, int64_t since,
                        int (*fn)(void *ctx, const sgrep_summary_row *row), void *ctx);

/* The summary as CSV (RFC 4180, csv.c): the header line, and one row
 * (CRLF-ended, malloc()ed; NULL when out of memory). Text cells are
 * always quoted and never start a formula. */
#define SGREP_CSV_HEADER "policy_domain,day,source_ip,pass,fail,overridden,reasons\r\n"
char *sgrep_summary_csv(const sgrep_summary_row *row);

/* name in the form the store keeps policy domains: DMARC's (lower case,
 * A-labels, no root dot), into out (cap bytes; out may be name). 0, or
 * SG_ESYNTAX (no domain name, or longer than cap) or SG_ENOMEM, and then
 * out is unchanged. */
int sgrep_domain_stored(const char *name, char *out, size_t cap);

/* Calls fn with each policy domain that has an aggregate report (ordered),
 * so that a reader can ask for each one apart. Returns 0 or -1. */
int sgrep_store_domains(sgrep_store *s, int (*fn)(void *ctx, const char *domain), void *ctx);

/* The same, summed over the sources: one row per domain and day
 * (source_ip NULL). */
int sgrep_store_daily(sgrep_store *s, const char *domain, int64_t since,
                      int (*fn)(void *ctx, const sgrep_summary_row *row), void *ctx);

#endif
