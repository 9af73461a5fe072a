/*
 * /reports: what the DMARC aggregate reports others sent say about our
 * domains (issue 16 item 3), read from the report store (--reports-db,
 * written by `spoofguard report parse --store`): per policy domain a chart
 * of the messages that passed and failed DMARC each UTC day, an SVG drawn
 * here (no script), the sources that failed most, and the reasons the
 * receivers gave for not applying the policy.
 *
 *   GET /reports            the last 31 days that have reports, per domain
 *   GET /reports?days=N     the last N days (1..366)
 *   GET /reports.csv        the rows of `spoofguard report summary --csv`
 *                           (?domain=D: one policy domain; ?days=N: the
 *                           last N UTC days up to today, as --days N)
 *
 * Pass bars are solid, fail bars hatched and stacked on top, so the chart
 * does not rely on colour alone; each day's group has a <title> with its
 * numbers (a tooltip, and what a screen reader says). Every bar carries
 * data-day and data-messages, which the tests read.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <spoofguard/arena.h>
#include <spoofguard/dmarc.h>

#include "index.h"
#include "pages.h"
#include "reports/reports.h"
#include "viewer.h"

#define MAX_DAYS 366
#define TOP_SOURCES 5

/* Chart geometry, in SVG user units. */
#define CH_W 720
#define CH_H 240
#define CH_LEFT 64
#define CH_RIGHT 12
#define CH_TOP 16
#define CH_BOTTOM 40

typedef struct {
    int64_t day;
    uint64_t pass, fail;
} day_row;

typedef struct {
    char domain[256];
    day_row *days;
    size_t ndays, cap;
} domain_rows;

typedef struct {
    domain_rows *d;
    size_t n, cap;
    int oom;
} all_rows;

static int collect_day(void *ctx, const sgrep_summary_row *row)
{
    all_rows *a = ctx;
    domain_rows *d = a->n ? &a->d[a->n - 1] : NULL;
    if (!d || strcmp(d->domain, row->policy_domain)) {
        if (a->n == a->cap) {
            size_t cap = a->cap ? a->cap * 2 : 8;
            domain_rows *nd = realloc(a->d, cap * sizeof *nd);
            if (!nd) {
                a->oom = 1;
                return 1;
            }
            a->d = nd;
            a->cap = cap;
        }
        d = &a->d[a->n++];
        memset(d, 0, sizeof *d);
        snprintf(d->domain, sizeof d->domain, "%s", row->policy_domain);
    }
    if (d->ndays == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 32;
        day_row *nd = realloc(d->days, cap * sizeof *nd);
        if (!nd) {
            a->oom = 1;
            return 1;
        }
        d->days = nd;
        d->cap = cap;
    }
    d->days[d->ndays++] = (day_row){row->day, row->pass, row->fail};
    return 0;
}

typedef struct {
    char ip[64];
    uint64_t pass, fail, overridden;
    sgrep_tally reason[SGREP_TALLY_NAMES];
    unsigned nreason;
} source_row;

typedef struct {
    source_row top[TOP_SOURCES];
    size_t n;
} top_sources;

/* Keeps the TOP_SOURCES sources with the most failed messages (summed over
 * the days: the rows come ordered by day, then source). */
typedef struct {
    source_row *s;
    size_t n, cap;
    int oom;
    source_row all; /* the reasons summed over the sources (ip unused) */
} source_sums;

static void add_reasons(source_row *to, const sgrep_summary_row *row)
{
    to->overridden = sgrep_sat_add(to->overridden, row->overridden);
    for (unsigned i = 0; i < row->nreason; i++)
        sgrep_reason_tally_add(to->reason, &to->nreason, row->reason[i].name,
                               row->reason[i].messages);
}

static int collect_source(void *ctx, const sgrep_summary_row *row)
{
    source_sums *a = ctx;
    add_reasons(&a->all, row);
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->s[i].ip, row->source_ip)) {
            a->s[i].pass = sgrep_sat_add(a->s[i].pass, row->pass);
            a->s[i].fail = sgrep_sat_add(a->s[i].fail, row->fail);
            add_reasons(&a->s[i], row);
            return 0;
        }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        source_row *ns = realloc(a->s, cap * sizeof *ns);
        if (!ns) {
            a->oom = 1;
            return 1;
        }
        a->s = ns;
        a->cap = cap;
    }
    source_row *s = &a->s[a->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->ip, sizeof s->ip, "%s", row->source_ip);
    s->pass = row->pass;
    s->fail = row->fail;
    add_reasons(s, row);
    return 0;
}

static int by_fail(const void *a, const void *b)
{
    const source_row *x = a, *y = b;
    return x->fail < y->fail ? 1 : x->fail > y->fail ? -1 : strcmp(x->ip, y->ip);
}

static void day_text(int64_t day, char out[16])
{
    if (sgrep_day_text(day, out) != 0) /* no calendar date: never a stale struct tm */
        snprintf(out, 16, "?");
}

/* 1, 2, 5 x 10^k at or above v: the top of the y axis. */
static uint64_t nice_max(uint64_t v)
{
    uint64_t m = 1;
    for (;;) {
        if (v <= m)
            return m;
        if (v <= 2 * m)
            return 2 * m;
        if (v <= 5 * m)
            return 5 * m;
        if (m > UINT64_MAX / 10)
            return v;
        m *= 10;
    }
}

static void putf(sg_cli_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(sg_cli_buf *b, const char *fmt, ...)
{
    char s[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s, sizeof s, fmt, ap);
    va_end(ap);
    if (n > 0)
        sg_cli_buf_put(b, s, (size_t)n < sizeof s ? (size_t)n : sizeof s - 1);
}

/* The chart of one domain over [first, last] (UTC days, Unix seconds). */
static void chart(sg_cli_buf *b, const domain_rows *d, int64_t first, int64_t last, size_t idx)
{
    size_t ndays = (size_t)((last - first) / 86400) + 1;
    uint64_t ymax = 0, pass = 0, fail = 0;
    for (size_t i = 0; i < d->ndays; i++) {
        if (d->days[i].day < first || d->days[i].day > last)
            continue;
        uint64_t both = sgrep_sat_add(d->days[i].pass, d->days[i].fail);
        if (both > ymax)
            ymax = both;
        pass = sgrep_sat_add(pass, d->days[i].pass);
        fail = sgrep_sat_add(fail, d->days[i].fail);
    }
    ymax = nice_max(ymax ? ymax : 1);
    const double pw = CH_W - CH_LEFT - CH_RIGHT, ph = CH_H - CH_TOP - CH_BOTTOM;
    const double slot = pw / (double)ndays, bw = slot > 3 ? slot * 0.8 : slot;
    char d0[16], d1[16];
    day_text(first, d0);
    day_text(last, d1);
    putf(b,
         "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
         "aria-labelledby=\"chart-title-%zu\" data-domain=\"",
         CH_W, CH_H, CH_W, CH_H, idx);
    sgv_html_attr(b, d->domain);
    putf(b, "\" data-ymax=\"%llu\" data-plot-height=\"%d\"><title id=\"chart-title-%zu\">",
         (unsigned long long)ymax, (int)ph, idx);
    putf(b, "DMARC pass and fail per day for ");
    sgv_html_text(b, d->domain);
    putf(b, ", %s to %s: %llu messages passed, %llu failed</title>", d0, d1,
         (unsigned long long)pass, (unsigned long long)fail);
    /* the hatch for failed messages: the shape differs, not only the colour */
    putf(b,
         "<defs><pattern id=\"hatch-%zu\" width=\"6\" height=\"6\" "
         "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
         "<rect width=\"6\" height=\"6\" fill=\"#f3c4c4\"/>"
         "<rect width=\"3\" height=\"6\" fill=\"#a4161a\"/></pattern></defs>",
         idx);
    /* y axis: 0, half, top, with grid lines */
    for (int g = 0; g <= 2; g++) {
        if (g == 1 && ymax % 2)
            continue; /* a top of 1 has no whole half */
        double y = CH_TOP + ph - ph * g / 2.0;
        putf(b,
             "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ccc\"/>"
             "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\" fill=\"#555\">%llu"
             "</text>",
             CH_LEFT, CH_W - CH_RIGHT, y, y, CH_LEFT - 6, y + 4,
             (unsigned long long)(ymax * (unsigned)g / 2));
    }
    /* the bars */
    for (size_t i = 0; i < d->ndays; i++) {
        const day_row *r = &d->days[i];
        if (r->day < first || r->day > last)
            continue;
        size_t k = (size_t)((r->day - first) / 86400);
        double x = CH_LEFT + slot * (double)k + (slot - bw) / 2;
        double hp = ph * (double)r->pass / (double)ymax;
        double hf = ph * (double)r->fail / (double)ymax;
        char ds[16];
        day_text(r->day, ds);
        putf(b, "<g class=\"day\"><title>%s: %llu passed, %llu failed</title>", ds,
             (unsigned long long)r->pass, (unsigned long long)r->fail);
        putf(b,
             "<rect class=\"pass\" data-day=\"%s\" data-messages=\"%llu\" x=\"%.1f\" y=\"%.1f\" "
             "width=\"%.1f\" height=\"%.1f\" fill=\"#0a6b2f\"/>",
             ds, (unsigned long long)r->pass, x, CH_TOP + ph - hp, bw, hp);
        putf(b,
             "<rect class=\"fail\" data-day=\"%s\" data-messages=\"%llu\" x=\"%.1f\" y=\"%.1f\" "
             "width=\"%.1f\" height=\"%.1f\" fill=\"url(#hatch-%zu)\" stroke=\"#a4161a\" "
             "stroke-width=\"%s\"/></g>",
             ds, (unsigned long long)r->fail, x, CH_TOP + ph - hp - hf, bw, hf, idx,
             r->fail ? "0.6" : "0");
    }
    /* x axis: the first and last day, and some between */
    size_t step = ndays <= 8 ? 1 : ndays <= 31 ? 7 : 30;
    for (size_t k = 0; k < ndays; k += step) {
        char ds[16];
        day_text(first + (int64_t)k * 86400, ds);
        putf(b,
             "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\" "
             "fill=\"#555\">%s</text>",
             CH_LEFT + slot * ((double)k + 0.5), CH_H - CH_BOTTOM + 16, ds + 5);
    }
    putf(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", CH_LEFT,
         CH_W - CH_RIGHT, CH_TOP + ph, CH_TOP + ph);
    /* the legend, in words */
    putf(b,
         "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"#0a6b2f\"/>"
         "<text x=\"%d\" y=\"%d\" font-size=\"12\">passed DMARC</text>"
         "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"url(#hatch-%zu)\" "
         "stroke=\"#a4161a\"/><text x=\"%d\" y=\"%d\" font-size=\"12\">failed</text></svg>",
         CH_LEFT, CH_H - 14, CH_LEFT + 16, CH_H - 4, CH_LEFT + 130, CH_H - 14, idx, CH_LEFT + 146,
         CH_H - 4);
}

/* What a reason type tells the domain's owner (RFC 9990 2.1.2; forwarded
 * and sampled_out are RFC 7489's). */
static const struct {
    const char *type, *means;
} reason_means[] = {
    {"trusted_forwarder", "the mail came through a forwarder the receiver trusts, such as one "
                          "whose ARC seal it accepts"},
    {"mailing_list", "the mail came through a mailing list"},
    {"forwarded", "the mail was forwarded"},
    {"local_policy", "the receiver's own policy"},
    {"policy_test_mode", "the policy is in test mode (t=y)"},
    {"sampled_out", "left out by the record's pct="},
};

static void reason_list(sg_cli_buf *b, const source_row *r)
{
    for (unsigned i = 0; i < r->nreason; i++) {
        sg_cli_buf_puts(b, i ? ", " : "");
        sgv_html_text(b, r->reason[i].name);
        putf(b, " %llu", (unsigned long long)r->reason[i].messages);
    }
}

/* The sources of [since, until]: rows after until (a date a reporter made
 * up, stored before such dates were refused) are not counted. */
typedef struct {
    source_sums *s;
    int64_t until;
} source_window;

static int collect_source_until(void *ctx, const sgrep_summary_row *row)
{
    source_window *w = ctx;
    return row->day > w->until ? 0 : collect_source(w->s, row);
}

static void top_list(sg_cli_buf *b, sgrep_store *st, const char *domain, int64_t since,
                     int64_t until)
{
    source_sums s = {0};
    source_window w = {&s, until};
    int rc = sgrep_store_summary(st, domain, since, collect_source_until, &w);
    if (rc != 0 || s.oom) {
        /* a partial list would pass for the whole */
        sg_cli_buf_puts(b, "<p>The sources cannot be listed: ");
        sgv_html_text(b, s.oom ? "out of memory" : sgrep_store_error(st));
        sg_cli_buf_puts(b, "</p>");
        free(s.s);
        return;
    }
    if (s.n == 0) {
        free(s.s);
        return;
    }
    qsort(s.s, s.n, sizeof *s.s, by_fail);
    if (s.s[0].fail) {
        sg_cli_buf_puts(b, "<p>Sources that failed most:</p><ol class=\"sources\">");
        for (size_t i = 0; i < s.n && i < TOP_SOURCES && s.s[i].fail; i++) {
            sg_cli_buf_puts(b, "<li><code>");
            sgv_html_text(b, s.s[i].ip);
            putf(b, "</code>: %llu failed, %llu passed", (unsigned long long)s.s[i].fail,
                 (unsigned long long)s.s[i].pass);
            if (s.s[i].overridden) {
                putf(b, "; policy not applied to %llu: ", (unsigned long long)s.s[i].overridden);
                reason_list(b, &s.s[i]);
            }
            sg_cli_buf_puts(b, "</li>");
        }
        sg_cli_buf_puts(b, "</ol>");
    }
    /* Why receivers did not apply the policy: what stands between the
     * owner and p=reject (a list, a forwarder) */
    if (s.all.overridden) {
        putf(b,
             "<p>Receivers did not apply the published policy to %llu messages, and said "
             "why:</p><ul class=\"reasons\">",
             (unsigned long long)s.all.overridden);
        for (unsigned i = 0; i < s.all.nreason; i++) {
            const sgrep_tally *t = &s.all.reason[i];
            putf(b, "<li data-reason=\"");
            sgv_html_attr(b, t->name);
            putf(b, "\" data-messages=\"%llu\"><code>", (unsigned long long)t->messages);
            sgv_html_text(b, t->name);
            putf(b, "</code>, %llu message%s", (unsigned long long)t->messages,
                 t->messages == 1 ? "" : "s");
            for (size_t k = 0; k < sizeof reason_means / sizeof *reason_means; k++)
                if (!strcmp(t->name, reason_means[k].type)) {
                    sg_cli_buf_puts(b, ": ");
                    sg_cli_buf_puts(b, reason_means[k].means);
                }
            sg_cli_buf_puts(b, "</li>");
        }
        sg_cli_buf_puts(b, "</ul>");
    }
    free(s.s);
}

int sgv_days_arg(const char *arg, long *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (!*arg || *end || v < 1 || v > MAX_DAYS)
        return 0;
    *out = v;
    return 1;
}

/* A query value, percent-encoded (RFC 3986 unreserved kept). */
static void put_query_value(sg_cli_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~", c) != NULL) {
            sg_cli_buf_putc(b, (char)c);
        } else {
            char e[4];
            snprintf(e, sizeof e, "%%%02X", c);
            sg_cli_buf_puts(b, e);
        }
    }
}

typedef struct {
    char **v;
    size_t n, cap;
    int oom;
} name_list;

static int add_name(void *ctx, const char *name)
{
    name_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) {
            l->oom = 1;
            return 1;
        }
        l->v = nv;
        l->cap = cap;
    }
    if ((l->v[l->n] = strdup(name)) == NULL) {
        l->oom = 1;
        return 1;
    }
    l->n++;
    return 0;
}

/* The owner's domains (--protect, --operator-domains), normalised as the
 * store's names are; none: every domain is shown, as before. */
typedef struct {
    sg_arena *a;
    const char **v;
    size_t n;
} ours_t;

static void ours_add(ours_t *o, const char *name)
{
    char *norm = NULL;
    if (o->a && sg_dmarc_domain_normalise(o->a, name, strlen(name), &norm) == 0)
        o->v[o->n++] = norm;
}

static void ours_init(ours_t *o, sgv_req *q)
{
    char *const *op = NULL;
    size_t nop = q->app->index ? sgv_index_operator_domains(q->app->index, &op) : 0;
    size_t want = q->app->cfg->nprotect + nop;
    if (want == 0 || sg_arena_new(&o->a, 0) != 0 ||
        (o->v = sg_arena_calloc(o->a, want, sizeof *o->v)) == NULL) {
        sg_arena_free(o->a); /* no names (or no memory): everything shown */
        o->a = NULL;
        return;
    }
    for (size_t i = 0; i < q->app->cfg->nprotect; i++)
        ours_add(o, q->app->cfg->protect[i]);
    for (size_t i = 0; i < nop; i++)
        ours_add(o, op[i]);
}

/* dom is one of ours, or a subdomain of one (label boundary) */
static int ours_has(const ours_t *o, const char *dom)
{
    if (o->a == NULL)
        return 1;
    size_t dl = strlen(dom);
    for (size_t i = 0; i < o->n; i++) {
        size_t nl = strlen(o->v[i]);
        if (dl == nl ? !strcmp(dom, o->v[i])
                     : dl > nl && dom[dl - nl - 1] == '.' && !strcmp(dom + dl - nl, o->v[i]))
            return 1;
    }
    return 0;
}

static void ours_free(ours_t *o)
{
    sg_arena_free(o->a);
}

#define OTHERS_LISTED 50 /* names of domains not ours, at most */

void sgv_page_reports(sgv_req *q, sgv_resp *r, const char *rest)
{
    sg_cli_buf b = {0};
    sgv_page_open(&b, q, "DMARC reports");
    sg_cli_buf_puts(&b, "<h1>DMARC reports</h1>");
    const char *path = q->app->cfg->reports_db;
    if (!path) {
        sg_cli_buf_puts(&b, "<p>No report store: start spoofguard-view with --reports-db PATH "
                            "(the store `spoofguard report parse --store PATH` writes).</p>");
        sgv_page_close(r, &b, 200);
        return;
    }
    long days = 31;
    const char *arg = sgv_req_arg(q, "days");
    if (arg != NULL)
        (void)sgv_days_arg(arg, &days); /* the page: a bad value keeps the default window */
    char err[512];
    sgrep_store *st = sgrep_store_open_ro(path, err, sizeof err);
    if (!st) {
        sg_cli_buf_puts(&b, "<p>The report store cannot be read: ");
        sgv_html_text(&b, err);
        sg_cli_buf_puts(&b, "</p>");
        sgv_page_close(r, &b, 200);
        return;
    }
    /* each domain is read apart: one domain's rows that cannot be read
     * (whatever a reporter put there) never hide another's */
    name_list names = {0};
    if (sgrep_store_domains(st, add_name, &names) != 0 || names.oom) {
        sg_cli_buf_puts(&b, "<p>The report store cannot be read: ");
        sgv_html_text(&b, names.oom ? "out of memory" : sgrep_store_error(st));
        sg_cli_buf_puts(&b, "</p>");
    } else if (names.n == 0) {
        sg_cli_buf_puts(&b, "<p>No aggregate report in the store yet.</p>");
    } else {
        putf(&b,
             "<p>Messages that passed and failed DMARC per UTC day, as the receivers that "
             "sent reports saw them (the last %ld days that have reports, up to today).</p>",
             days);
        sg_cli_buf_puts(&b, "<p><a href=\"/reports.csv\" download>Every source of every day, "
                            "as CSV</a> (what <code>spoofguard report summary --csv</code> "
                            "prints).</p>");
    }
    /* with --protect or --operator-domains, only those domains (and their
     * subdomains) get a section: anyone can send a report about any name,
     * a lookalike of ours included, and its section would read like ours */
    ours_t ours = {0};
    ours_init(&ours, q);
    int64_t now = q->app->cfg->now ? (int64_t)q->app->cfg->now : (int64_t)time(NULL);
    int64_t today = now / 86400 * 86400;
    size_t shown = 0, others = 0;
    for (size_t i = 0; i < names.n; i++) {
        const char *dom = names.v[i];
        if (!ours_has(&ours, dom)) {
            others++;
            continue;
        }
        all_rows a = {0};
        sg_cli_buf_puts(&b, "<section class=\"report-domain\"><h2>");
        sgv_html_text(&b, dom);
        sg_cli_buf_puts(&b, "</h2>");
        if (sgrep_store_daily(st, dom, 0, collect_day, &a) != 0 || a.oom) {
            sg_cli_buf_puts(&b, "<p>This domain's reports cannot be read: ");
            sgv_html_text(&b, a.oom ? "out of memory" : sgrep_store_error(st));
            sg_cli_buf_puts(&b, "</p>");
        } else if (a.n == 1 && a.d[0].ndays > 0) {
            domain_rows *d = &a.d[0];
            /* the window ends at the last day with reports up to today: a
             * report dated in the future (stored before such dates were
             * refused) must not move the owner's chart away */
            size_t k = d->ndays;
            while (k > 0 && d->days[k - 1].day > today)
                k--;
            int64_t last = k ? d->days[k - 1].day : today;
            int64_t first = last - (int64_t)(days - 1) * 86400;
            chart(&b, d, first, last, shown);
            top_list(&b, st, dom, first, last);
        }
        sg_cli_buf_puts(&b, "<p><a class=\"csv\" href=\"/reports.csv?domain=");
        put_query_value(&b, dom); /* only unreserved bytes: safe in the attribute */
        sg_cli_buf_puts(&b, "\" download>This domain's sources, as CSV</a></p>");
        sg_cli_buf_puts(&b, "</section>");
        shown++;
        for (size_t k = 0; k < a.n; k++)
            free(a.d[k].days);
        free(a.d);
    }
    if (others) {
        putf(&b,
             "<section class=\"report-other-domains\"><h2>Other domains</h2><p>Reports about "
             "domains you did not name (--protect, --operator-domains), %zu: not charted; "
             "a lookalike of your domain would be here:</p><ul class=\"other-domains\">",
             others);
        /* anyone can add names here, as many as reports they send */
        size_t listed = 0;
        for (size_t i = 0; i < names.n && listed < OTHERS_LISTED; i++)
            if (!ours_has(&ours, names.v[i])) {
                sg_cli_buf_puts(&b, "<li><code>");
                sgv_html_text(&b, names.v[i]);
                sg_cli_buf_puts(&b, "</code></li>");
                listed++;
            }
        if (others > listed)
            putf(&b, "<li>and %zu more</li>", others - listed);
        sg_cli_buf_puts(&b, "</ul></section>");
    }
    ours_free(&ours);
    for (size_t i = 0; i < names.n; i++)
        free(names.v[i]);
    free(names.v);
    sgrep_store_close(st);
    sgv_page_close(r, &b, 200);
}

typedef struct {
    sg_cli_buf *b;
    int oom;
} csv_state;

static int csv_row(void *ctx, const sgrep_summary_row *row)
{
    csv_state *c = ctx;
    char *line = sgrep_summary_csv(row);
    if (line == NULL) {
        c->oom = 1;
        return 1;
    }
    sg_cli_buf_puts(c->b, line);
    free(line);
    return c->b->oom;
}

static void plain_error(sgv_resp *r, int status, const char *what, const char *why)
{
    sg_cli_buf b = {0};
    sg_cli_buf_puts(&b, what);
    sg_cli_buf_puts(&b, why);
    sg_cli_buf_puts(&b, "\n");
    sgv_resp_set(r, status, "text/plain; charset=utf-8", b.oom ? "error\n" : b.data,
                 b.oom ? 6 : b.len);
    sg_cli_buf_free(&b);
}

void sgv_page_reports_csv(sgv_req *q, sgv_resp *r, const char *rest)
{
    (void)rest;
    const char *path = q->app->cfg->reports_db;
    if (!path) {
        plain_error(r, 404, "No report store: ", "start spoofguard-view with --reports-db PATH");
        return;
    }
    const char *domain = sgv_req_arg(q, "domain");
    if (domain != NULL && *domain == '\0')
        domain = NULL;
    /* the name as stored (lower case, A-labels, no root dot); one that is
     * no domain name (a row stored before names were checked) as given */
    char stored[256];
    if (domain != NULL && sgrep_domain_stored(domain, stored, sizeof stored) == 0)
        domain = stored;
    int64_t since = 0;
    const char *arg = sgv_req_arg(q, "days");
    if (arg) {
        long v;
        if (!sgv_days_arg(arg, &v)) { /* a download: say so rather than guess */
            plain_error(r, 400, "days: ", "a whole number of days from 1 to 366");
            return;
        }
        int64_t now = q->app->cfg->now ? (int64_t)q->app->cfg->now : (int64_t)time(NULL);
        since = now / 86400 * 86400 - (int64_t)(v - 1) * 86400;
    }
    char err[512];
    sgrep_store *st = sgrep_store_open_ro(path, err, sizeof err);
    if (!st) {
        plain_error(r, 500, "The report store cannot be read: ", err);
        return;
    }
    sg_cli_buf b = {0};
    csv_state c = {&b, 0};
    sg_cli_buf_puts(&b, SGREP_CSV_HEADER);
    if (sgrep_store_summary(st, domain, since, csv_row, &c) != 0)
        plain_error(r, 500, "The report store cannot be read: ", sgrep_store_error(st));
    else if (c.oom || b.oom)
        plain_error(r, 500, "The CSV cannot be made: ", "out of memory");
    else {
        sgv_resp_set(r, 200, "text/csv; charset=utf-8; header=present", b.data, b.len);
        /* the domain came in the query: a file name of its letters,
         * digits, '-' and '.' only */
        char name[300];
        snprintf(name, sizeof name, "dmarc-summary%s%.200s.csv", domain ? "-" : "",
                 domain ? domain : "");
        for (char *p = name; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
                *p = '_';
        r->disposition = sgv_disposition(name);
    }
    sg_cli_buf_free(&b);
    sgrep_store_close(st);
}
