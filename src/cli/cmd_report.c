/*
 * spoofguard report: DMARC reports (issue 16).
 *
 *   spoofguard report parse [--json] [--store PATH] FILE|DIR|MAILDIR...
 *   spoofguard report summary [--json] [--store PATH] [--domain D] [--days N]
 *   spoofguard report prune --days N [--store PATH]
 *   spoofguard report send [OPTIONS]  (cmd_report_send.c)
 *
 * parse reads aggregate reports (RFC 7489, RFC 9990) and failure reports
 * (RFC 9991 / RFC 6591) from .xml, .gz, .zip and mail files, a directory of
 * them or a Maildir (new/ and cur/), and prints one line per report; with
 * --store each report is also written to the store (one transaction each,
 * de-duplicated by reporting organisation, Report-ID and content). Files are only
 * read: nothing is moved or deleted, so nothing is lost before it is stored.
 * Exit status: 0 all read, 1 a file was refused (its line says why), 2
 * usage, 4 the store could not be opened or written.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "reports/reports.h"

#define DEFAULT_STORE "/var/lib/spoofguard/reports.db"
#define MAX_DIR_DEPTH 8

enum { O_JSON = 1, O_STORE, O_DOMAIN, O_DAYS, O_CSV };

typedef struct {
    int json, csv;
    const char *store_path;
    const char *domain;
    long long days;
    int have_days;
    sgrep_store *store;
    sgrep_limits lim;
    int refused;
    int store_failed;
    /* the sink wrapper: the store's sink, and the report as it ended */
    sgrep_sink inner;
    sgrep_report last;
    int have_last;
} report_ctx;

static int opt_fn(int id, const char *value, void *payload)
{
    report_ctx *c = payload;
    switch (id) {
    case O_JSON:
        c->json = 1;
        break;
    case O_CSV:
        c->csv = 1;
        break;
    case O_STORE:
        c->store_path = value;
        break;
    case O_DOMAIN:
        c->domain = value;
        break;
    case O_DAYS:
        if (sg_cli_parse_num(value, 1, 100000, &c->days)) {
            fprintf(stderr, "spoofguard report: --days needs a number of days, 1..100000\n");
            return SG_EXIT_USAGE;
        }
        c->have_days = 1;
        break;
    }
    return SG_CLI_GO;
}

/* ---- parse -------------------------------------------------------------- */

static int w_begin(void *ctx)
{
    report_ctx *c = ctx;
    c->have_last = 0;
    return c->inner.begin ? c->inner.begin(c->inner.ctx) : 0;
}

static int w_record(void *ctx, const sgrep_report *rep, const sgrep_record *rec)
{
    report_ctx *c = ctx;
    return c->inner.record ? c->inner.record(c->inner.ctx, rep, rec) : 0;
}

static int w_end(void *ctx, const sgrep_report *rep)
{
    report_ctx *c = ctx;
    c->last = *rep;
    c->have_last = 1;
    return c->inner.end ? c->inner.end(c->inner.ctx, rep) : 0;
}

static void w_abort(void *ctx)
{
    report_ctx *c = ctx;
    if (c->inner.abort)
        c->inner.abort(c->inner.ctx);
}

/* {"name":messages,...} */
static void print_tally(const sgrep_tally *t, unsigned n)
{
    printf("{");
    for (unsigned i = 0; i < n; i++) {
        printf(i ? "," : "");
        sg_cli_json_str(stdout, t[i].name);
        printf(":%llu", (unsigned long long)t[i].messages);
    }
    printf("}");
}

static void print_report(report_ctx *c, const char *source)
{
    const sgrep_report *r = &c->last;
    const char *stored = !c->store                              ? NULL
                         : sgrep_store_last_duplicate(c->store) ? "duplicate"
                                                                : "new";
    /* stored beside an earlier report of the same organisation and
     * Report-ID whose content differs: one of them may be a forgery */
    int conflict = stored && sgrep_store_last_conflict(c->store);
    const char *conflict_text = conflict ? " (another report with this org_name and report_id, "
                                           "with other content, was stored before)"
                                         : "";
    if (!c->json) {
        /* every string here is the reporter's (or a file name): a
         * terminal gets no control character from it */
        char src[4096], org[256], dom[256], a[256];
        sg_cli_term(src, sizeof src, source);
        sg_cli_term(org, sizeof org, r->org_name);
        sg_cli_term(dom, sizeof dom, r->policy_domain);
        if (r->kind == SGREP_FAILURE) {
            char fail[64];
            printf("%s: failure report from %s about %s: source %s, %s, arrival %lld%s%s%s\n", src,
                   org, dom, sg_cli_term(a, sizeof a, r->source_ip),
                   r->auth_failure[0] ? sg_cli_term(fail, sizeof fail, r->auth_failure) : "-",
                   (long long)r->arrival, stored ? ", stored: " : "", stored ? stored : "",
                   conflict_text);
            return;
        }
        printf("%s: aggregate report %s from %s about %s (%s), %lld..%lld: %llu records, %llu "
               "messages, dkim pass %llu, spf pass %llu",
               src, sg_cli_term(a, sizeof a, r->report_id), org, dom, sgrep_ns_name(r->ns),
               (long long)r->begin, (long long)r->end, (unsigned long long)r->records,
               (unsigned long long)r->messages, (unsigned long long)r->dkim_aligned_pass,
               (unsigned long long)r->spf_aligned_pass);
        for (unsigned i = 0; i < r->ndisposition; i++)
            printf(", %s %llu", sg_cli_term(a, sizeof a, r->disposition[i].name),
                   (unsigned long long)r->disposition[i].messages);
        for (unsigned i = 0; i < r->nreason; i++)
            printf("%s %s %llu",
                   i ? "," : "; policy overridden:", sg_cli_term(a, sizeof a, r->reason[i].name),
                   (unsigned long long)r->reason[i].messages);
        printf("%s%s%s\n", stored ? ", stored: " : "", stored ? stored : "", conflict_text);
        return;
    }
    printf("{\"source\":");
    sg_cli_json_str(stdout, source);
    /* a failure report has no XML: its namespace is "none" */
    printf(",\"kind\":\"%s\",\"namespace\":\"%s\"", sgrep_kind_name(r->kind), sgrep_ns_name(r->ns));
    printf(",\"org_name\":");
    sg_cli_json_str(stdout, r->org_name);
    printf(",\"report_id\":");
    sg_cli_json_str(stdout, r->report_id);
    printf(",\"policy_domain\":");
    sg_cli_json_str(stdout, r->policy_domain);
    if (r->kind == SGREP_FAILURE) {
        printf(",\"source_ip\":");
        sg_cli_json_str(stdout, r->source_ip);
        printf(",\"auth_failure\":");
        sg_cli_json_str(stdout, r->auth_failure);
        printf(",\"arrival\":%lld,\"feedback_type\":", (long long)r->arrival);
        sg_cli_json_str(stdout, r->feedback_type);
        printf(",\"identity_alignment\":");
        sg_cli_json_str(stdout, r->identity_alignment);
    } else {
        printf(",\"begin\":%lld,\"end\":%lld,\"records\":%llu,\"messages\":%llu,"
               "\"dkim_aligned_pass\":%llu,\"spf_aligned_pass\":%llu,\"disposition\":",
               (long long)r->begin, (long long)r->end, (unsigned long long)r->records,
               (unsigned long long)r->messages, (unsigned long long)r->dkim_aligned_pass,
               (unsigned long long)r->spf_aligned_pass);
        print_tally(r->disposition, r->ndisposition);
        printf(",\"reasons\":");
        print_tally(r->reason, r->nreason);
    }
    if (stored)
        printf(",\"stored\":\"%s\"", stored);
    if (conflict)
        printf(",\"id_conflict\":true");
    printf("}\n");
}

static void refuse(report_ctx *c, const char *source, const char *why)
{
    c->refused = 1;
    if (c->json) {
        printf("{\"source\":");
        sg_cli_json_str(stdout, source);
        printf(",\"error\":");
        sg_cli_json_str(stdout, why);
        printf("}\n");
    } else {
        char src[4096], w[512];
        fprintf(stderr, "%s: refused: %s\n", sg_cli_term(src, sizeof src, source),
                sg_cli_term(w, sizeof w, why));
    }
}

static void parse_file(report_ctx *c, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        refuse(c, path, strerror(errno));
        return;
    }
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len > c->lim.max_input)
            break;
        if (len == cap) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int rerr = ferror(f);
    fclose(f);
    if (!buf) {
        refuse(c, path, "out of memory");
        return;
    }
    if (rerr) {
        free(buf);
        refuse(c, path, "read error");
        return;
    }
    sgrep_sink sink = {c, w_begin, w_record, w_end, w_abort};
    if (c->store)
        sgrep_store_sink(c->store, path, &c->inner);
    char err[512] = "";
    int rc = sgrep_parse(buf, len, &c->lim, &sink, err, sizeof err);
    free(buf);
    if (rc == SGREP_OK && c->have_last) {
        print_report(c, path);
    } else if (rc == SGREP_ESINK) {
        c->store_failed = 1;
        refuse(c, path, c->store ? sgrep_store_error(c->store) : err);
    } else {
        refuse(c, path, err[0] ? err : "unreadable");
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void parse_path(report_ctx *c, const char *path, int depth);

/* A directory's entries in name order (dot files skipped); a Maildir is
 * read from new/ and cur/, never tmp/ (files still being delivered). */
static void parse_dir(report_ctx *c, const char *path, int depth)
{
    if (depth > MAX_DIR_DEPTH) {
        refuse(c, path, "directories nested too deep");
        return;
    }
    char sub[4096];
    struct stat st;
    snprintf(sub, sizeof sub, "%s/cur", path);
    int maildir = stat(sub, &st) == 0 && S_ISDIR(st.st_mode);
    snprintf(sub, sizeof sub, "%s/new", path);
    maildir = maildir && stat(sub, &st) == 0 && S_ISDIR(st.st_mode);
    if (maildir) {
        snprintf(sub, sizeof sub, "%s/new", path);
        parse_path(c, sub, depth + 1);
        snprintf(sub, sizeof sub, "%s/cur", path);
        parse_path(c, sub, depth + 1);
        return;
    }
    DIR *d = opendir(path);
    if (!d) {
        refuse(c, path, strerror(errno));
        return;
    }
    char **names = NULL;
    size_t nn = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (nn == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **nb = realloc(names, ncap * sizeof *nb);
            if (!nb)
                break;
            names = nb;
            cap = ncap;
        }
        size_t l = strlen(path) + strlen(e->d_name) + 2;
        names[nn] = malloc(l);
        if (!names[nn])
            break;
        snprintf(names[nn], l, "%s/%s", path, e->d_name);
        nn++;
    }
    closedir(d);
    if (nn)
        qsort(names, nn, sizeof *names, cmp_str);
    for (size_t i = 0; i < nn; i++) {
        parse_path(c, names[i], depth + 1);
        free(names[i]);
    }
    free(names);
}

static void parse_path(report_ctx *c, const char *path, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        refuse(c, path, strerror(errno));
        return;
    }
    if (S_ISDIR(st.st_mode))
        parse_dir(c, path, depth);
    else if (S_ISREG(st.st_mode))
        parse_file(c, path);
    else if (depth == 0)
        refuse(c, path, "not a regular file or directory");
}

static const sg_cli_opt parse_opts[] = {
    {"json", NULL, O_JSON, "one JSON object per report (or refused file) a line"},
    {"store", "PATH", O_STORE, "also write the reports to this store (SQLite)"},
    {NULL, NULL, 0, NULL},
};

static const sg_cli_cmd parse_cmd = {
    "report parse",
    "[--json] [--store PATH] FILE|DIR|MAILDIR...",
    "Reads DMARC aggregate reports (RFC 7489, RFC 9990) and failure reports (RFC 9991)\n"
    "from .xml, .gz, .zip or mail files, directories of them or Maildirs, bounded: at most\n"
    "32 MiB inflated, an inflation ratio of at most 100, 500,000 records, no DTD or entities.\n"
    "Files are never moved or deleted. Exit 1 when a file was refused (its line says why),\n"
    "4 when the store could not be opened or written.\n",
    parse_opts,
};

static int report_parse(int argc, char **argv)
{
    report_ctx c = {0};
    sgrep_limits_init(&c.lim);
    int first;
    int rc = sg_cli_parse(&parse_cmd, argc, argv, NULL, opt_fn, &c, &first);
    if (rc != SG_CLI_GO)
        return rc;
    if (first >= argc)
        return sg_cli_usage_error(&parse_cmd, "no FILE, DIR or MAILDIR given");
    if (c.store_path) {
        char err[512];
        c.store = sgrep_store_open(c.store_path, err, sizeof err);
        if (!c.store) {
            fprintf(stderr, "spoofguard report parse: store %s\n", err);
            return SG_EXIT_INTERNAL;
        }
    }
    for (int i = first; i < argc; i++)
        parse_path(&c, argv[i], 0);
    fflush(stdout);
    sgrep_store_close(c.store);
    if (c.store_failed)
        return SG_EXIT_INTERNAL;
    return c.refused ? SG_EXIT_FAIL : SG_EXIT_OK;
}

/* ---- summary ------------------------------------------------------------ */

typedef struct {
    int json, csv;
    int oom;          /* a CSV row could not be made: stopped */
    int have;         /* a domain heading was printed */
    char domain[256]; /* its name (SQLite's text is only valid for one row) */
    int64_t day;
    unsigned long long undated; /* rows whose day is no calendar date: left out */
} summary_state;

static int summary_row(void *ctx, const sgrep_summary_row *row)
{
    summary_state *s = ctx;
    if (s->csv) { /* the row writer formats its own day */
        char *line = sgrep_summary_csv(row);
        if (line == NULL) {
            s->oom = 1;
            return 1;
        }
        fputs(line, stdout);
        free(line);
        return 0;
    }
    char day[16];
    if (sgrep_day_text(row->day, day) != 0) { /* "day" is YYYY-MM-DD, or no row */
        s->undated++;
        return 0;
    }
    if (s->json) {
        printf("{\"policy_domain\":");
        sg_cli_json_str(stdout, row->policy_domain);
        printf(",\"day\":\"%s\",\"source_ip\":", day);
        sg_cli_json_str(stdout, row->source_ip);
        printf(",\"pass\":%llu,\"fail\":%llu,\"overridden\":%llu,\"reasons\":",
               (unsigned long long)row->pass, (unsigned long long)row->fail,
               (unsigned long long)row->overridden);
        print_tally(row->reason, row->nreason);
        printf("}\n");
        return 0;
    }
    char txt[256]; /* the store's text came from reporters */
    if (!s->have || strcmp(s->domain, row->policy_domain)) {
        printf("%s%s\n  %-10s  %-39s  %10s  %10s  %10s\n", s->have ? "\n" : "",
               sg_cli_term(txt, sizeof txt, row->policy_domain), "day", "source", "pass", "fail",
               "overridden");
        snprintf(s->domain, sizeof s->domain, "%s", row->policy_domain);
        s->have = 1;
        s->day = -1;
    }
    printf("  %-10s  %-39s  %10llu  %10llu  %10llu", s->day == row->day ? "" : day,
           sg_cli_term(txt, sizeof txt, row->source_ip), (unsigned long long)row->pass,
           (unsigned long long)row->fail, (unsigned long long)row->overridden);
    for (unsigned i = 0; i < row->nreason; i++)
        printf("%s%s %llu", i ? ", " : "  ", sg_cli_term(txt, sizeof txt, row->reason[i].name),
               (unsigned long long)row->reason[i].messages);
    printf("\n");
    s->day = row->day;
    return 0;
}

static const sg_cli_opt summary_opts[] = {
    {"json", NULL, O_JSON,
     "one JSON object a line: policy_domain, day, source_ip, pass, fail, overridden, reasons"},
    {"csv", NULL, O_CSV, "CSV (RFC 4180, a header line): the same columns, reasons as type=n;..."},
    {"store", "PATH", O_STORE, "the store (default " DEFAULT_STORE ")"},
    {"domain", "D", O_DOMAIN, "only this policy domain"},
    {"days", "N", O_DAYS, "only the last N days"},
    {NULL, NULL, 0, NULL},
};

static const sg_cli_cmd summary_cmd = {
    "report summary",
    "[--json|--csv] [--store PATH] [--domain D] [--days N]",
    "Per policy domain and UTC day, the messages each source sent that passed DMARC (DKIM or\n"
    "SPF aligned pass, as the reporters evaluated them) and that failed, from the reports\n"
    "in the store; and how many the receivers did not apply the policy to, and why (RFC 9990\n"
    "override reasons).\n"
    "Exit status: 0, 2 usage, 3 no store at that path (or not readable), 4 internal error.\n",
    summary_opts,
};

/* summary reads (a missing store is an error, never created), prune
 * writes. 0, or the exit status: 3 for a store that is not there or not
 * readable (a mistyped path is the user's input, not our failure), 4 for
 * one that does not open. */
static int open_store(report_ctx *c, const char *cmd, int write)
{
    char err[512];
    const char *path = c->store_path ? c->store_path : DEFAULT_STORE;
    const char *why;
    if (access(path, write ? R_OK | W_OK : R_OK) != 0) {
        fprintf(stderr, "spoofguard report %s: store %s: %s\n", cmd, path, strerror(errno));
        return SG_EXIT_INPUT;
    }
    if ((why = sg_cli_not_sqlite(path)) != NULL) { /* adv26 CLI-6: it was exit 4 */
        fprintf(stderr, "spoofguard report %s: store %s: %s\n", cmd, path, why);
        return SG_EXIT_INPUT;
    }
    c->store = write ? sgrep_store_open(path, err, sizeof err)
                     : sgrep_store_open_ro(path, err, sizeof err);
    if (!c->store) {
        fprintf(stderr, "spoofguard report %s: store %s\n", cmd, err);
        return SG_EXIT_INTERNAL;
    }
    return 0;
}

static int report_summary(int argc, char **argv)
{
    report_ctx c = {0};
    int first;
    int rc = sg_cli_parse(&summary_cmd, argc, argv, NULL, opt_fn, &c, &first);
    if (rc != SG_CLI_GO)
        return rc;
    if (first < argc)
        return sg_cli_usage_error(&summary_cmd, "unexpected operand '%s'", argv[first]);
    if (c.json && c.csv)
        return sg_cli_usage_error(&summary_cmd, "--json and --csv exclude each other");
    /* the name as stored: DMARC's form (lower case, A-labels, no root dot);
     * one that is no domain name is looked up as given (a row stored before
     * names were checked) */
    char stored[256];
    if (c.domain) {
        rc = sgrep_domain_stored(c.domain, stored, sizeof stored);
        if (rc == SG_ENOMEM) {
            fprintf(stderr, "spoofguard report summary: out of memory\n");
            return SG_EXIT_INTERNAL;
        }
        if (rc == 0)
            c.domain = stored;
    }
    if ((rc = open_store(&c, "summary", 0)) != 0)
        return rc;
    int64_t since = 0;
    if (c.have_days) {
        int64_t today = (int64_t)time(NULL) / 86400 * 86400;
        since = today - (c.days - 1) * 86400;
    }
    summary_state st = {.json = c.json, .csv = c.csv, .day = -1};
    if (c.csv)
        fputs(SGREP_CSV_HEADER, stdout);
    rc = sgrep_store_summary(c.store, c.domain, since, summary_row, &st);
    if (rc)
        fprintf(stderr, "spoofguard report summary: %s\n", sgrep_store_error(c.store));
    else if (st.oom)
        fprintf(stderr, "spoofguard report summary: out of memory\n");
    rc |= st.oom;
    if (st.undated)
        fprintf(stderr,
                "spoofguard report summary: %llu rows dated outside the years 1970-9999 left out "
                "(stored before such dates were refused; report prune removes them)\n",
                st.undated);
    sgrep_store_close(c.store);
    return rc ? SG_EXIT_INTERNAL : SG_EXIT_OK;
}

/* ---- prune -------------------------------------------------------------- */

static const sg_cli_opt prune_opts[] = {
    {"days", "N", O_DAYS, "keep the reports of the last N days (required)"},
    {"store", "PATH", O_STORE, "the store (default " DEFAULT_STORE ")"},
    {NULL, NULL, 0, NULL},
};

static const sg_cli_cmd prune_cmd = {
    "report prune",
    "--days N [--store PATH]",
    "Deletes the received reports whose period ended more than N days ago (and that were\n"
    "stored more than N days ago), with their records: the store's retention.\n"
    "Exit status: 0, 2 usage, 3 no store at that path (none is made) or not writable,\n"
    "4 internal error.\n",
    prune_opts,
};

static int report_prune(int argc, char **argv)
{
    report_ctx c = {0};
    int first;
    int rc = sg_cli_parse(&prune_cmd, argc, argv, NULL, opt_fn, &c, &first);
    if (rc != SG_CLI_GO)
        return rc;
    if (!c.have_days)
        return sg_cli_usage_error(&prune_cmd, "--days N is required");
    if (first < argc)
        return sg_cli_usage_error(&prune_cmd, "unexpected operand '%s'", argv[first]);
    if ((rc = open_store(&c, "prune", 1)) != 0)
        return rc;
    long long n = sgrep_store_prune(c.store, (int64_t)time(NULL) - c.days * 86400);
    if (n < 0)
        fprintf(stderr, "spoofguard report prune: %s\n", sgrep_store_error(c.store));
    else
        printf("%lld reports deleted\n", n);
    sgrep_store_close(c.store);
    return n < 0 ? SG_EXIT_INTERNAL : SG_EXIT_OK;
}

/* ---- dispatcher --------------------------------------------------------- */

int cmd_report_send(int argc, char **argv); /* cmd_report_send.c */

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} subcommands[] = {
    {"parse", report_parse, "read reports from files, directories or Maildirs"},
    {"summary", report_summary, "pass and fail per domain, day and source, from the store"},
    {"prune", report_prune, "delete received reports older than N days from the store"},
    {"send", cmd_report_send, "send our RFC 9990 aggregate reports of a day"},
    {NULL, NULL, NULL},
};

static void report_usage(FILE *f)
{
    fprintf(f, "usage: spoofguard report SUBCOMMAND [OPTIONS]\n\nsubcommands:\n");
    for (size_t i = 0; subcommands[i].name; i++)
        fprintf(f, "  %-8s %s\n", subcommands[i].name, subcommands[i].help);
    fprintf(f, "\nspoofguard report SUBCOMMAND --help for its options.\n");
}

int cmd_report(int argc, char **argv);
int cmd_report(int argc, char **argv)
{
    if (argc < 2) {
        report_usage(stderr);
        return SG_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        report_usage(stdout);
        return SG_EXIT_OK;
    }
    for (size_t i = 0; subcommands[i].name; i++) {
        if (strcmp(argv[1], subcommands[i].name))
            continue;
        if (!subcommands[i].fn) {
            fprintf(stderr, "spoofguard report %s: not yet\n", argv[1]);
            return SG_EXIT_USAGE;
        }
        return subcommands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "spoofguard report: unknown subcommand '%s'\n", argv[1]);
    report_usage(stderr);
    return SG_EXIT_USAGE;
}
