/*
 * The report summary as CSV (RFC 4180): `spoofguard report summary --csv`
 * and the viewer's /reports.csv write the same bytes.
 *
 * The cells hold reporters' text, and the file is opened in spreadsheets:
 * every text cell is quoted (a spreadsheet in a locale whose separator is
 * ';' splits an unquoted cell there), and a text cell that starts with
 * = + - @ TAB or CR gets a leading apostrophe, so it is not run as a
 * formula (OWASP's advice on CSV injection); so does one where spaces
 * come first (a spreadsheet that trims them), or the full-width forms
 * of those signs (one that folds them).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reports.h"

/* Sized beforehand (csv_text_max); `short_` says it was not enough, which
 * would be a bug here, never a cut row. */
typedef struct {
    char *s;
    size_t len, cap;
    int short_;
} csv_buf;

static void put(csv_buf *b, const char *s, size_t n)
{
    if (n >= b->cap - b->len) {
        b->short_ = 1;
        return;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
}

/* An upper bound of what csv_text writes for s. */
static size_t csv_text_max(const char *s)
{
    return 2 * strlen(s) + 3;
}

/* Would a spreadsheet read v as a formula? */
static int formula_like(const char *v)
{
    static const char *const wide[] = {"\xef\xbc\x9d", "\xef\xbc\x8b", "\xef\xbc\x8d",
                                       "\xef\xbc\xa0"}; /* = + - @ full-width */
    if (v[0] != '\0' && strchr("\t\r", v[0]) != NULL)
        return 1;
    while (*v == ' ')
        v++;
    if (*v != '\0' && strchr("=+-@", *v) != NULL)
        return 1;
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
        if (!strncmp(v, wide[i], 3))
            return 1;
    return 0;
}

static void csv_text(csv_buf *b, const char *v)
{
    put(b, "\"", 1);
    if (formula_like(v))
        put(b, "'", 1);
    for (; *v; v++) {
        if (*v == '"')
            put(b, "\"", 1);
        put(b, v, 1);
    }
    put(b, "\"", 1);
}

char *sgrep_summary_csv(const sgrep_summary_row *row)
{
    /* the reasons cell: a reporter's name must neither split the cell nor
     * start a formula: a-z 0-9 _, and - . after the first character */
    char reasons[SGREP_TALLY_NAMES * (sizeof row->reason[0].name + 24)] = "";
    size_t nr = 0;
    for (unsigned i = 0; i < row->nreason && i < SGREP_TALLY_NAMES; i++) {
        char name[sizeof row->reason[i].name];
        size_t k = 0;
        for (const char *p = row->reason[i].name; *p && k + 1 < sizeof name; p++) {
            int ok = isalnum((unsigned char)*p) || *p == '_' || (k > 0 && strchr("-.", *p));
            name[k++] = ok ? *p : '?';
        }
        name[k] = '\0';
        nr += (size_t)snprintf(reasons + nr, sizeof reasons - nr, "%s%s=%llu", i ? ";" : "", name,
                               (unsigned long long)row->reason[i].messages);
    }
    char day[32], nums[96];
    time_t t = (time_t)row->day;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(day, sizeof day, "%Y-%m-%d", &tm) == 0)
        snprintf(day, sizeof day, "%lld", (long long)row->day);
    int nn = snprintf(nums, sizeof nums, ",%llu,%llu,%llu,", (unsigned long long)row->pass,
                      (unsigned long long)row->fail, (unsigned long long)row->overridden);
    const char *src = row->source_ip ? row->source_ip : "";
    csv_buf b = {0};
    b.cap = csv_text_max(row->policy_domain) + strlen(day) + 2 + csv_text_max(src) + (size_t)nn +
            csv_text_max(reasons) + 3;
    b.s = malloc(b.cap);
    if (b.s == NULL)
        return NULL;
    csv_text(&b, row->policy_domain);
    put(&b, ",", 1);
    put(&b, day, strlen(day));
    put(&b, ",", 1);
    csv_text(&b, src);
    put(&b, nums, (size_t)nn);
    csv_text(&b, reasons);
    put(&b, "\r\n", 2);
    if (b.short_) {
        free(b.s);
        return NULL;
    }
    b.s[b.len] = '\0';
    return b.s;
}
