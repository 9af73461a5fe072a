/*
 * The report reader and store through their C interface (src/reports):
 * chunk boundaries do not change what is read (the gzip path feeds 64 KiB
 * chunks, a mail's base64 anything); a report refused half-way reaches the
 * sink as abort, never end, and leaves nothing in the store; the bounds
 * (records, nesting, text, ratio with its floor) each refuse at their
 * value and not below; the store refuses a newer schema and, read only, a
 * missing file. The CLI and the corpora are tested in
 * tests/scripts/reports_parse.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <zlib.h>

#include "helpers.h"
#include "reports.h"

static const char report[] =
    "<?xml version=\"1.0\"?>\n<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">"
    "<report_metadata><org_name>Org &amp; Co</org_name><report_id>r-1</report_id>"
    "<date_range><begin>1767225600</begin><end>1767311999</end></date_range></report_metadata>"
    "<policy_published><domain>Example.COM</domain><p>reject</p><np>none</np>"
    "<testing>y</testing><discovery_method>psl</discovery_method></policy_published>"
    "<record><row><source_ip>192.0.2.1</source_ip><count>5</count><policy_evaluated>"
    "<disposition>none</disposition><dkim>PASS</dkim><spf>fail</spf></policy_evaluated></row>"
    "<identifiers><header_from>example.com</header_from></identifiers><auth_results>"
    "<dkim><domain>example.com</domain><selector>s1</selector><result>pass</result></dkim>"
    "<dkim><domain>other.example</domain><selector>s2</selector><result>fail</result></dkim>"
    "<spf><domain>bounce.example</domain><scope>mfrom</scope><result>fail</result></spf>"
    "</auth_results></record>"
    "<record><row><source_ip>2001:db8::1</source_ip><count>2</count><policy_evaluated>"
    "<disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated>"
    "</row></record></feedback>\n";

typedef struct {
    int begins, ends, aborts, records;
    sgrep_report last;
    sgrep_record first_rec;
} tally;

static int t_begin(void *c)
{
    ((tally *)c)->begins++;
    return 0;
}
static int t_record(void *c, const sgrep_report *rep, const sgrep_record *rec)
{
    tally *t = c;
    if (t->records++ == 0)
        t->first_rec = *rec;
    return 0;
}
static int t_end(void *c, const sgrep_report *rep)
{
    tally *t = c;
    t->ends++;
    t->last = *rep;
    return 0;
}
static void t_abort(void *c)
{
    ((tally *)c)->aborts++;
}

static int feed_chunks(const char *xml, size_t len, size_t chunk, const sgrep_limits *lim, tally *t,
                       char *err, size_t errlen)
{
    sgrep_sink sink = {t, t_begin, t_record, t_end, t_abort};
    sgrep_xml *x = sgrep_xml_new(lim, &sink);
    assert_non_null(x);
    for (size_t i = 0; i < len; i += chunk)
        sgrep_xml_feed(x, xml + i, len - i < chunk ? len - i : chunk);
    int rc = sgrep_xml_finish(x, err, errlen);
    sgrep_xml_free(x);
    return rc;
}

static void reads_every_field(void **state)
{
    tally t = {0};
    char err[256];
    assert_int_equal(feed_chunks(report, strlen(report), 1 << 16, NULL, &t, err, sizeof err),
                     SGREP_OK);
    assert_int_equal(t.begins, 1);
    assert_int_equal(t.ends, 1);
    assert_int_equal(t.aborts, 0);
    const sgrep_report *r = &t.last;
    assert_int_equal(r->ns, SGREP_NS_RFC9990);
    assert_string_equal(r->org_name, "Org & Co");
    assert_string_equal(r->report_id, "r-1");
    assert_string_equal(r->policy_domain, "example.com");
    assert_string_equal(r->np, "none");
    assert_string_equal(r->testing, "y");
    assert_string_equal(r->discovery_method, "psl");
    assert_int_equal(r->begin, 1767225600);
    assert_int_equal(r->end, 1767311999);
    assert_int_equal(r->records, 2);
    assert_int_equal(r->messages, 7);
    assert_int_equal(r->dkim_aligned_pass, 5);
    assert_int_equal(r->spf_aligned_pass, 0);
    assert_int_equal(r->ndisposition, 2);
    assert_string_equal(r->disposition[0].name, "none");
    assert_int_equal(r->disposition[0].messages, 5);
    assert_string_equal(r->disposition[1].name, "reject");
    assert_int_equal(r->disposition[1].messages, 2);
    const sgrep_record *c = &t.first_rec;
    assert_string_equal(c->source_ip, "192.0.2.1");
    assert_string_equal(c->dkim, "pass");
    assert_int_equal(c->ndkim, 2);
    assert_string_equal(c->dkim_auth[1].domain, "other.example");
    assert_string_equal(c->dkim_auth[1].selector, "s2");
    assert_string_equal(c->dkim_auth[1].result, "fail");
    assert_int_equal(c->nspf, 1);
    assert_string_equal(c->spf_auth[0].scope, "mfrom");
}

/* Override reasons: messages per type of each record's first reason, in
 * lower case; a record without one, or with an empty type, is not counted;
 * a name no RFC gives is counted as "other", so invented names can neither
 * grow the tally nor take a known type's place (adv31 ADV31-6). */
static void reasons_tallied(void **state)
{
    char xml[8192];
    size_t n = 0;
#define REC(count, pe)                                                                             \
    n += (size_t)snprintf(xml + n, sizeof xml - n,                                                 \
                          "<record><row><source_ip>192.0.2.1</source_ip><count>%d</count>"         \
                          "<policy_evaluated><disposition>none</disposition>%s"                    \
                          "</policy_evaluated></row></record>",                                    \
                          count, pe)
    n +=
        (size_t)snprintf(xml, sizeof xml,
                         "<feedback><report_metadata><org_name>o</org_name><report_id>r</report_id>"
                         "<date_range><begin>1767225600</begin><end>1767311999</end></date_range>"
                         "</report_metadata>"
                         "<policy_published><domain>example.com</domain></policy_published>");
    REC(4, "<reason><type>forwarded</type></reason><reason><type>local_policy</type></reason>");
    REC(2, "<reason><type> MAILING_LIST </type><comment>list</comment></reason>");
    REC(1, "<reason><type></type><comment>nothing</comment></reason>");
    REC(5, "");
    REC(3, "<reason><type>forwarded</type></reason>");
    char pe[64];
    for (int i = 1; i <= 9; i++) { /* invented: all go to "other" */
        snprintf(pe, sizeof pe, "<reason><type>made_up_%d</type></reason>", i);
        REC(10, pe);
    }
    /* known types after the invented ones still have their own places */
    REC(6, "<reason><type>trusted_forwarder</type></reason>");
    REC(1, "<reason><type>policy_test_mode</type></reason>");
    REC(1, "<reason><type>sampled_out</type></reason>");
    REC(1, "<reason><type>local_policy</type></reason>");
    REC(1, "<reason><type>other</type></reason>");
#undef REC
    n += (size_t)snprintf(xml + n, sizeof xml - n, "</feedback>");
    assert_true(n < sizeof xml);
    tally t = {0};
    char err[256];
    assert_int_equal(feed_chunks(xml, n, 7, NULL, &t, err, sizeof err), SGREP_OK);
    const sgrep_report *r = &t.last;
    assert_int_equal(r->messages, 4 + 2 + 1 + 5 + 3 + 90 + 10);
    assert_int_equal(r->nreason, 7);
    assert_string_equal(r->reason[0].name, "forwarded");
    assert_int_equal(r->reason[0].messages, 7);
    assert_string_equal(r->reason[1].name, "mailing_list");
    assert_int_equal(r->reason[1].messages, 2);
    assert_string_equal(r->reason[2].name, "other");
    assert_int_equal(r->reason[2].messages, 90 + 1);
    assert_string_equal(r->reason[3].name, "trusted_forwarder");
    assert_int_equal(r->reason[3].messages, 6);
    assert_string_equal(r->reason[4].name, "policy_test_mode");
    assert_string_equal(r->reason[5].name, "sampled_out");
    assert_string_equal(r->reason[6].name, "local_policy");
    uint64_t sum = 0;
    for (unsigned i = 0; i < r->nreason; i++)
        sum += r->reason[i].messages;
    assert_int_equal(sum,
                     4 + 2 + 3 + 90 + 10); /* the empty type and the record without one: none */
    assert_int_equal(r->ndisposition, 1);
    assert_int_equal(r->disposition[0].messages, r->messages);
}

/* Any chunking, down to one byte, reads the same report. */
/* A full tally with "other" among its names (an RFC 7489 type) adds the
 * rest to it: one "other", and the sum kept. */
static void tally_other_once(void **state)
{
    (void)state;
    sgrep_tally t[SGREP_TALLY_NAMES];
    unsigned nt = 0;
    char name[16];
    memset(t, 0, sizeof t);
    sgrep_tally_add(t, &nt, "other", 1);
    for (int i = 1; i <= 9; i++) {
        snprintf(name, sizeof name, "p%d", i);
        sgrep_tally_add(t, &nt, name, (uint64_t)i + 1);
    }
    assert_int_equal(nt, SGREP_TALLY_NAMES);
    uint64_t sum = 0;
    int others = 0;
    for (unsigned i = 0; i < nt; i++) {
        sum += t[i].messages;
        others += !strcmp(t[i].name, "other");
    }
    assert_int_equal(others, 1);
    assert_int_equal(sum, 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10);
    assert_string_equal(t[0].name, "other");
    assert_int_equal(t[0].messages, 1 + 9 + 10); /* p8 and p9 did not fit */
    assert_string_equal(t[7].name, "p7");
}

/* One CSV row, known bytes: text cells always quoted, quotes doubled, a
 * cell that would start a formula gets an apostrophe, reason names that
 * would split the cell or start a formula are made safe. */
static void summary_csv_row(void **state)
{
    (void)state;
    sgrep_summary_row row = {.policy_domain = "=cmd|calc!A0",
                             .day = 1767225600 + 3 * 86400,
                             .source_ip = "x;\"y\",z",
                             .pass = 12,
                             .fail = 3,
                             .overridden = 9};
    sgrep_tally_add(row.reason, &row.nreason, "trusted_forwarder", 6);
    sgrep_tally_add(row.reason, &row.nreason, "a;b=c,\"d", 2);
    sgrep_tally_add(row.reason, &row.nreason, "-1-1", 1);
    char *line = sgrep_summary_csv(&row);
    assert_non_null(line);
    assert_string_equal(line, "\"'=cmd|calc!A0\",2026-01-04,\"x;\"\"y\"\",z\",12,3,9,"
                              "\"trusted_forwarder=6;a?b?c??d=2;?1-1=1\"\r\n");
    free(line);
    row.policy_domain = "example.com";
    row.source_ip = "+1";
    row.nreason = 0;
    line = sgrep_summary_csv(&row);
    assert_non_null(line);
    assert_string_equal(line, "\"example.com\",2026-01-04,\"'+1\",12,3,9,\"\"\r\n");
    free(line);
    /* spaces first, and the full-width equals sign */
    row.policy_domain = "  =1+1";
    row.source_ip = "\xef\xbc\x9d"
                    "cmd";
    line = sgrep_summary_csv(&row);
    assert_non_null(line);
    assert_string_equal(line, "\"'  =1+1\",2026-01-04,\"'\xef\xbc\x9d"
                              "cmd\",12,3,9,\"\"\r\n");
    free(line);
    row.policy_domain = "a=b"; /* not first: left alone */
    line = sgrep_summary_csv(&row);
    assert_non_null(line);
    assert_int_equal(strncmp(line, "\"a=b\",", 6), 0);
    free(line);
}

static void chunk_boundaries_do_not_matter(void **state)
{
    static const size_t chunks[] = {1, 2, 3, 7, 64, 1000};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        tally t = {0};
        char err[256];
        assert_int_equal(feed_chunks(report, strlen(report), chunks[i], NULL, &t, err, sizeof err),
                         SGREP_OK);
        assert_string_equal(t.last.org_name, "Org & Co");
        assert_int_equal(t.last.messages, 7);
        assert_int_equal(t.last.dkim_aligned_pass, 5);
        assert_string_equal(t.first_rec.dkim_auth[1].domain, "other.example");
    }
}

/* Each bound refuses just past its value, and the sink hears abort. */
static void bounds_refuse_at_their_value(void **state)
{
    sgrep_limits lim;
    char err[256];
    tally t;

    sgrep_limits_init(&lim);
    lim.max_records = 2; /* the report has 2: read */
    memset(&t, 0, sizeof t);
    assert_int_equal(feed_chunks(report, strlen(report), 4096, &lim, &t, err, sizeof err),
                     SGREP_OK);
    lim.max_records = 1;
    memset(&t, 0, sizeof t);
    assert_int_equal(feed_chunks(report, strlen(report), 4096, &lim, &t, err, sizeof err),
                     SGREP_EREFUSED);
    assert_string_equal(err, "more than 1 records");
    assert_int_equal(t.ends, 0);
    assert_int_equal(t.aborts, 1);

    sgrep_limits_init(&lim);
    lim.max_depth = 6; /* feedback/record/auth_results/dkim/domain is 5 deep */
    memset(&t, 0, sizeof t);
    assert_int_equal(feed_chunks(report, strlen(report), 4096, &lim, &t, err, sizeof err),
                     SGREP_OK);
    lim.max_depth = 4;
    memset(&t, 0, sizeof t);
    assert_int_equal(feed_chunks(report, strlen(report), 4096, &lim, &t, err, sizeof err),
                     SGREP_EREFUSED);
    assert_string_equal(err, "elements nested deeper than 4");

    sgrep_limits_init(&lim);
    lim.max_text = 14; /* "bounce.example" is the longest text: 14 bytes */
    memset(&t, 0, sizeof t);
    assert_int_equal(feed_chunks(report, strlen(report), 4096, &lim, &t, err, sizeof err),
                     SGREP_OK);
    lim.max_text = 13;
    memset(&t, 0, sizeof t);
    assert_int_equal(feed_chunks(report, strlen(report), 4096, &lim, &t, err, sizeof err),
                     SGREP_EREFUSED);
}

/* The report with `extra` put in its first record (an extension), fed in
 * chunks of 1000 bytes (the scan keeps its state across them). */
static int with_extra(const char *extra, char *err, size_t errlen)
{
    const char *at = strstr(report, "</record>");
    size_t head = (size_t)(at - report), el = strlen(extra);
    char *doc = malloc(strlen(report) + el + 1);
    tally t;
    memset(&t, 0, sizeof t);
    memcpy(doc, report, head);
    memcpy(doc + head, extra, el);
    strcpy(doc + head + el, at);
    int rc = feed_chunks(doc, strlen(doc), 1000, NULL, &t, err, errlen);
    free(doc);
    return rc;
}

/* libxml2 2.9 spends time quadratic in the attributes of one tag and in
 * the distinct names it has seen, before any callback: both are bounded
 * ahead of it (xml.c: MAX_MARKUP, MAX_SKIPPED_NAMES). */
static void markup_and_names_bounded(void **state)
{
    enum { BIG = 400000 };
    char *x = malloc(BIG), err[256];
    size_t n;
    (void)state;
    assert_non_null(x);
    /* one tag of 20,000 attributes (~200 KB), quoted '>' in each value */
    n = (size_t)sprintf(x, "<ext");
    for (int i = 0; i < 20000; i++)
        n += (size_t)sprintf(x + n, " a%d=\">\"", i);
    strcpy(x + n, "/>");
    assert_int_equal(with_extra(x, err, sizeof err), SGREP_EREFUSED);
    assert_string_equal(err, "a tag or other markup longer than 65536 bytes");
    /* 2,000 distinct unknown elements */
    n = 0;
    for (int i = 0; i < 2000; i++)
        n += (size_t)sprintf(x + n, "<n%d/>", i);
    assert_int_equal(with_extra(x, err, sizeof err), SGREP_EREFUSED);
    assert_string_equal(err, "more than 1000 distinct names of elements not read");
    /* ... but 1,000 distinct (999 here and <ext>), 20,000 of one name and
     * a tag of 100 attributes are read */
    n = 0;
    for (int i = 0; i < 999; i++)
        n += (size_t)sprintf(x + n, "<n%d/>", i);
    for (int i = 0; i < 20000; i++)
        n += (size_t)sprintf(x + n, "<ext>x</ext>");
    n += (size_t)sprintf(x + n, "<ext");
    for (int i = 0; i < 100; i++)
        n += (size_t)sprintf(x + n, " a%d='1'", i);
    strcpy(x + n, "/>");
    if (with_extra(x, err, sizeof err) != SGREP_OK)
        fail_msg("refused: %s", err);
    free(x);
}

static size_t gz(const char *in, size_t len, unsigned char *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = z.total_out;
    deflateEnd(&z);
    return n;
}

/* A report padded with 400 KiB of empty elements compresses far beyond 100:1: read
 * while under the floor (1 MiB out), refused with the floor lowered. */
static void ratio_floor(void **state)
{
    size_t pad = 400u << 10, len = strlen(report);
    char *xml = malloc(len + pad);
    memcpy(xml, report, len - 12); /* before "</feedback>\n" */
    for (size_t i = 0; i < pad; i += 4)
        memcpy(xml + len - 12 + i, "<p/>", 4);
    memcpy(xml + len - 12 + pad, report + len - 12, 12);
    unsigned char *z = malloc(1 << 20);
    size_t zl = gz(xml, len + pad, z, 1 << 20);
    assert_true((len + pad) / zl > 100);
    char err[256];
    tally t = {0};
    sgrep_sink sink = {&t, t_begin, t_record, t_end, t_abort};
    assert_int_equal(sgrep_parse(z, zl, NULL, &sink, err, sizeof err), SGREP_OK);
    assert_int_equal(t.last.messages, 7);
    sgrep_limits lim;
    sgrep_limits_init(&lim);
    lim.ratio_floor = 64u << 10;
    memset(&t, 0, sizeof t);
    assert_int_equal(sgrep_parse(z, zl, &lim, &sink, err, sizeof err), SGREP_EREFUSED);
    assert_non_null(strstr(err, "inflation ratio over 100"));
    assert_int_equal(t.ends, 0);
    assert_int_equal(t.aborts, 1);
    free(z);
    free(xml);
}

static char *tmpdb(void)
{
    char *p = strdup("/tmp/sg-test-reports.XXXXXX");
    assert_non_null(p);
    sg_test_tmp_store(p);
    return p;
}

static long long count(const char *db, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

/* Stored once whatever the container; a refused report leaves nothing. */
static void store_dedup_and_rollback(void **state)
{
    char *db = tmpdb(), err[256];
    sgrep_store *s = sgrep_store_open(db, err, sizeof err);
    assert_non_null(s);
    sgrep_sink sink;
    sgrep_store_sink(s, "a.xml", &sink);
    assert_int_equal(
        sgrep_parse((const unsigned char *)report, strlen(report), NULL, &sink, err, sizeof err),
        SGREP_OK);
    assert_false(sgrep_store_last_duplicate(s));
    unsigned char z[4096];
    size_t zl = gz(report, strlen(report), z, sizeof z);
    sgrep_store_sink(s, "a.xml.gz", &sink);
    assert_int_equal(sgrep_parse(z, zl, NULL, &sink, err, sizeof err), SGREP_OK);
    assert_true(sgrep_store_last_duplicate(s));
    /* refused at the second record: the first must not stay */
    sgrep_limits lim;
    sgrep_limits_init(&lim);
    lim.max_records = 1;
    char *other = strdup(report);
    memcpy(strstr(other, "r-1"), "r-2", 3);
    sgrep_store_sink(s, "b.xml", &sink);
    assert_int_equal(
        sgrep_parse((const unsigned char *)other, strlen(other), &lim, &sink, err, sizeof err),
        SGREP_EREFUSED);
    sgrep_store_close(s);
    assert_int_equal(count(db, "SELECT count(*) FROM received_report"), 1);
    assert_int_equal(count(db, "SELECT count(*) FROM received_record"), 2);
    assert_int_equal(count(db, "SELECT count(*) FROM received_auth"), 3);
    assert_int_equal(count(db, "SELECT sum(count) FROM received_record"), 7);
    /* and read only it opens, and sums the day */
    s = sgrep_store_open_ro(db, err, sizeof err);
    assert_non_null(s);
    sgrep_store_close(s);
    free(other);
    sg_test_rm_store(db);
    free(db);
}

/* A report from org/id about domain over [begin, end], its records given
 * as (source, count) pairs, each with a DKIM pass when pass. malloc()ed. */
static char *mkrep(const char *org, const char *id, const char *domain, long long begin,
                   long long end, const char *src, unsigned long long count, unsigned nrec,
                   int pass)
{
    size_t cap = 512 + (size_t)nrec * 256, n = 0;
    char *x = malloc(cap);
    assert_non_null(x);
    n += (size_t)snprintf(x + n, cap - n,
                          "<feedback><report_metadata><org_name>%s</org_name><report_id>%s"
                          "</report_id><date_range><begin>%lld</begin><end>%lld</end>"
                          "</date_range></report_metadata><policy_published><domain>%s</domain>"
                          "<p>reject</p></policy_published>",
                          org, id, begin, end, domain);
    for (unsigned i = 0; i < nrec; i++)
        n += (size_t)snprintf(x + n, cap - n,
                              "<record><row><source_ip>%s</source_ip><count>%llu</count>"
                              "<policy_evaluated><disposition>none</disposition><dkim>%s</dkim>"
                              "<spf>fail</spf></policy_evaluated></row></record>",
                              src, count, pass ? "pass" : "fail");
    n += (size_t)snprintf(x + n, cap - n, "</feedback>");
    assert_true(n < cap);
    return x;
}

#define DAY0 1767225600LL /* 2026-01-01 */

static int parse_into(sgrep_store *s, const char *xml, const sgrep_limits *lim, char *err,
                      size_t errlen)
{
    sgrep_sink sink;
    sgrep_store_sink(s, "t.xml", &sink);
    return sgrep_parse((const unsigned char *)xml, strlen(xml), lim, &sink, err, errlen);
}

static int sum_row(void *ctx, const sgrep_summary_row *row)
{
    sgrep_summary_row *all = ctx; /* [0] owner.example, [1] evil.test */
    sgrep_summary_row *to = &all[strcmp(row->policy_domain, "owner.example") ? 1 : 0];
    to->pass = sgrep_sat_add(to->pass, row->pass);
    to->fail = sgrep_sat_add(to->fail, row->fail);
    return 0;
}

/* adv31 ADV31-1: a record's count is at most 2^32-1 and a report's
 * messages at most 2^40; and whatever a store holds (rows written before
 * these bounds), the sums saturate instead of failing every domain's
 * summary with SQLite's "integer overflow". */
static void counts_bounded_sums_saturate(void **state)
{
    (void)state;
    char err[256];
    tally t = {0};
    char *x =
        mkrep("o", "r", "owner.example", DAY0, DAY0 + 86399, "192.0.2.1", 4294967296ull, 1, 0);
    assert_int_equal(feed_chunks(x, strlen(x), 4096, NULL, &t, err, sizeof err), SGREP_EREFUSED);
    assert_string_equal(err, "record 1: count over 4294967295");
    free(x);
    x = mkrep("o", "r", "owner.example", DAY0, DAY0 + 86399, "192.0.2.1", 4294967295ull, 256, 0);
    memset(&t, 0, sizeof t);
    assert_int_equal(feed_chunks(x, strlen(x), 4096, NULL, &t, err, sizeof err), SGREP_OK);
    free(x);
    x = mkrep("o", "r", "owner.example", DAY0, DAY0 + 86399, "192.0.2.1", 4294967295ull, 257, 0);
    memset(&t, 0, sizeof t);
    assert_int_equal(feed_chunks(x, strlen(x), 4096, NULL, &t, err, sizeof err), SGREP_EREFUSED);
    assert_string_equal(err, "the records' counts add up to more than 1099511627776 messages");
    assert_int_equal(t.aborts, 1);
    free(x);

    /* a store with rows no parse writes now: sum() would pass 2^63 */
    char *db = tmpdb();
    sgrep_store *s = sgrep_store_open(db, err, sizeof err);
    assert_non_null(s);
    x = mkrep("google.com", "g-1", "owner.example", DAY0, DAY0 + 86399, "198.51.100.7", 500, 1, 0);
    assert_int_equal(parse_into(s, x, NULL, err, sizeof err), SGREP_OK);
    free(x);
    x = mkrep("evil", "e-1", "evil.test", DAY0, DAY0 + 86399, "203.0.113.9", 1, 3, 1);
    assert_int_equal(parse_into(s, x, NULL, err, sizeof err), SGREP_OK);
    free(x);
    sgrep_store_close(s);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "UPDATE received_record SET count=9223372036854775807 WHERE "
                                  "source_ip='203.0.113.9'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    s = sgrep_store_open_ro(db, err, sizeof err);
    assert_non_null(s);
    sgrep_summary_row all[2];
    memset(all, 0, sizeof all);
    assert_int_equal(sgrep_store_summary(s, NULL, 0, sum_row, all), 0);
    assert_int_equal(all[0].fail, 500);
    assert_true(all[1].pass >= 3 * (uint64_t)INT64_MAX - (1ull << 20)); /* saturated, or near */
    memset(all, 0, sizeof all);
    assert_int_equal(sgrep_store_daily(s, NULL, 0, sum_row, all), 0);
    assert_int_equal(all[0].fail, 500);
    sgrep_store_close(s);
    sg_test_rm_store(db);
    free(db);
}

/* adv31 ADV31-2/7: a period that is not plausible is refused with its
 * reason; a day that is no calendar date is never printed as one; prune
 * does not believe an end after the report was stored. */
static void dates_plausible(void **state)
{
    (void)state;
    static const struct {
        long long begin, end;
        const char *why;
    } bad[] = {
        {DAY0 + 86400, DAY0, "date_range end is before begin"},
        {1, 2, "date_range begin is before 2012-01-01"},
        {1325375999, 1325376000, "date_range begin is before 2012-01-01"},
        {DAY0 + 30 * 86400, DAY0 + 31 * 86400 + 1, "date_range end is more than a day after now"},
        {4294967295LL, 4294967296LL, "date_range end is more than a day after now"},
        {INT64_MAX, INT64_MAX, "date_range end is more than a day after now"},
        {DAY0 - 40 * 86400, DAY0, "date_range covers more than 31 days"},
    };
    sgrep_limits lim;
    sgrep_limits_init(&lim);
    lim.now = DAY0 + 30 * 86400;
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tally t = {0};
        char *x = mkrep("o", "r", "owner.example", bad[i].begin, bad[i].end, "192.0.2.1", 1, 1, 0);
        assert_int_equal(feed_chunks(x, strlen(x), 4096, &lim, &t, err, sizeof err),
                         SGREP_EREFUSED);
        assert_non_null(strstr(err, bad[i].why));
        assert_int_equal(t.ends, 0);
        free(x);
    }
    /* at the bounds: read */
    tally t = {0};
    char *x = mkrep("o", "r", "owner.example", DAY0, DAY0 + 31 * 86400, "192.0.2.1", 1, 1, 0);
    assert_int_equal(feed_chunks(x, strlen(x), 4096, &lim, &t, err, sizeof err), SGREP_OK);
    free(x);
    x = mkrep("o", "r", "owner.example", 1325376000, 1325376000 + 86399, "192.0.2.1", 1, 1, 0);
    assert_int_equal(feed_chunks(x, strlen(x), 4096, &lim, &t, err, sizeof err), SGREP_OK);
    free(x);

    char day[16];
    assert_int_equal(sgrep_day_text(DAY0, day), 0);
    assert_string_equal(day, "2026-01-01");
    assert_int_equal(sgrep_day_text(INT64_MAX / 86400 * 86400, day), -1);
    assert_string_equal(day, "");
    assert_int_equal(sgrep_day_text(-86400, day), -1);

    /* a report dated 2106, stored before such dates were refused */
    char *db = tmpdb();
    sgrep_store *s = sgrep_store_open(db, err, sizeof err);
    assert_non_null(s);
    x = mkrep("o", "r", "owner.example", DAY0, DAY0 + 86399, "192.0.2.1", 1, 1, 0);
    assert_int_equal(parse_into(s, x, NULL, err, sizeof err), SGREP_OK);
    free(x);
    sgrep_store_close(s);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "UPDATE received_report SET begin=4294944000,"
                                  " end=4295030399, stored_at=stored_at-10*86400",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    s = sgrep_store_open(db, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(sgrep_store_prune(s, (int64_t)time(NULL) - 5 * 86400), 1);
    sgrep_store_close(s);
    assert_int_equal(count(db, "SELECT count(*) FROM received_report"), 0);
    sg_test_rm_store(db);
    free(db);
}

/* adv31 ADV31-3/4: a duplicate is the same (org_name, report_id) and the
 * same content; a forger who sent first under a real reporter's ID does
 * not make the real report a duplicate: it is stored, flagged. An empty or
 * blank org_name is one value, so such a report is stored once. */
static void duplicates_need_same_content(void **state)
{
    (void)state;
    char *db = tmpdb(), err[256];
    sgrep_store *s = sgrep_store_open(db, err, sizeof err);
    assert_non_null(s);
    char *forged = mkrep("AOL", "owner.example_1767225600", "owner.example", DAY0, DAY0 + 86399,
                         "203.0.113.9", 1, 1, 1);
    char *real = mkrep("AOL", "owner.example_1767225600", "owner.example", DAY0, DAY0 + 86399,
                       "198.51.100.7", 500, 1, 0);
    assert_int_equal(parse_into(s, forged, NULL, err, sizeof err), SGREP_OK);
    assert_false(sgrep_store_last_duplicate(s));
    assert_false(sgrep_store_last_conflict(s));
    assert_int_equal(parse_into(s, real, NULL, err, sizeof err), SGREP_OK);
    assert_false(sgrep_store_last_duplicate(s));
    assert_true(sgrep_store_last_conflict(s));
    /* each again, one gzip'd: duplicates */
    unsigned char z[4096];
    size_t zl = gz(real, strlen(real), z, sizeof z);
    sgrep_sink sink;
    sgrep_store_sink(s, "real.xml.gz", &sink);
    assert_int_equal(sgrep_parse(z, zl, NULL, &sink, err, sizeof err), SGREP_OK);
    assert_true(sgrep_store_last_duplicate(s));
    assert_int_equal(parse_into(s, forged, NULL, err, sizeof err), SGREP_OK);
    assert_true(sgrep_store_last_duplicate(s));
    assert_int_equal(count(db, "SELECT count(*) FROM received_report"), 2);
    assert_int_equal(count(db, "SELECT sum(count) FROM received_record"), 501);
    free(forged);
    free(real);
    /* an empty, then a blank org_name: the same identity */
    char *empty = mkrep("", "x:1", "owner.example", DAY0, DAY0 + 86399, "192.0.2.1", 3, 1, 1);
    char *blank = mkrep("  \n ", "x:1", "owner.example", DAY0, DAY0 + 86399, "192.0.2.1", 3, 1, 1);
    assert_int_equal(parse_into(s, empty, NULL, err, sizeof err), SGREP_OK);
    assert_false(sgrep_store_last_duplicate(s));
    assert_int_equal(parse_into(s, empty, NULL, err, sizeof err), SGREP_OK);
    assert_true(sgrep_store_last_duplicate(s));
    assert_int_equal(parse_into(s, blank, NULL, err, sizeof err), SGREP_OK);
    assert_true(sgrep_store_last_duplicate(s));
    assert_int_equal(count(db, "SELECT count(*) FROM received_report WHERE org_name=''"), 1);
    free(empty);
    free(blank);
    sgrep_store_close(s);
    sg_test_rm_store(db);
    free(db);
}

/* A store of schema version 2 is migrated: its reports and records kept
 * (dropping the old table must not cascade to them), an absent org_name
 * becomes '', and a report stored before digests still makes the same
 * identity a duplicate. */
static void store_migrates_v2(void **state)
{
    (void)state;
    char *db = tmpdb(), err[256];
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(
            h,
            "PRAGMA foreign_keys=ON;"
            "CREATE TABLE received_report(id INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
            " namespace TEXT, org_name TEXT, email TEXT, report_id TEXT, generator TEXT,"
            " policy_domain TEXT, begin INTEGER, end INTEGER, adkim TEXT, aspf TEXT, p TEXT,"
            " sp TEXT, np TEXT, pct TEXT, fo TEXT, testing TEXT, discovery_method TEXT,"
            " records INTEGER, messages INTEGER, dkim_aligned_pass INTEGER,"
            " spf_aligned_pass INTEGER, source TEXT, stored_at INTEGER NOT NULL,"
            " UNIQUE(org_name, report_id));"
            "CREATE TABLE received_record(report INTEGER NOT NULL REFERENCES"
            " received_report(id) ON DELETE CASCADE, source_ip TEXT, count INTEGER NOT NULL,"
            " disposition TEXT, dkim TEXT, spf TEXT, reason_type TEXT, reason_comment TEXT,"
            " header_from TEXT, envelope_from TEXT, envelope_to TEXT);"
            "INSERT INTO received_report(id, kind, org_name, report_id, policy_domain, begin,"
            " end, stored_at) VALUES(1, 'aggregate', NULL, 'x:1', 'owner.example', 1767225600,"
            " 1767311999, 1767312000), (2, 'aggregate', 'AOL', 'a-1', 'owner.example',"
            " 1767225600, 1767311999, 1767312000);"
            "INSERT INTO received_record(report, source_ip, count) VALUES(1, '192.0.2.1', 3),"
            " (2, '192.0.2.2', 4);"
            "PRAGMA user_version=2;",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    sgrep_store *s = sgrep_store_open(db, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(count(db, "PRAGMA user_version"), 3);
    assert_int_equal(count(db, "SELECT count(*) FROM received_record"), 2);
    assert_int_equal(count(db, "SELECT count(*) FROM received_report WHERE org_name=''"), 1);
    char *x = mkrep("AOL", "a-1", "owner.example", DAY0, DAY0 + 86399, "192.0.2.2", 4, 1, 0);
    assert_int_equal(parse_into(s, x, NULL, err, sizeof err), SGREP_OK);
    assert_true(sgrep_store_last_duplicate(s));
    free(x);
    /* and the cascade works again */
    assert_int_equal(sgrep_store_prune(s, (int64_t)time(NULL)), 2);
    sgrep_store_close(s);
    assert_int_equal(count(db, "SELECT count(*) FROM received_record"), 0);
    sg_test_rm_store(db);
    free(db);
}

/* adv31 ADV31-8: the policy domain is stored as DMARC compares it (lower
 * case, no root dot, A-labels); a name that is not a domain is refused. */
static void policy_domain_normalised(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"Owner.Example.", "owner.example"},
        {"\xd0\xbewner.example", "xn--wner-45d.example"}, /* Cyrillic o */
        {"=cmd|calc!A0", NULL},
        {"owner..example", NULL},
    };
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tally t = {0};
        char *x = mkrep("o", "r", cases[i].in, DAY0, DAY0 + 86399, "192.0.2.1", 1, 1, 0);
        int rc = feed_chunks(x, strlen(x), 4096, NULL, &t, err, sizeof err);
        if (cases[i].out) {
            assert_int_equal(rc, SGREP_OK);
            assert_string_equal(t.last.policy_domain, cases[i].out);
        } else {
            assert_int_equal(rc, SGREP_EREFUSED);
            assert_string_equal(err, "policy_published domain is not a domain name");
        }
        free(x);
    }
}

static void store_refuses_newer_schema_and_ro_missing(void **state)
{
    char *db = tmpdb(), err[256];
    sqlite3 *h;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    assert_null(sgrep_store_open(db, err, sizeof err));
    assert_non_null(strstr(err, "newer"));
    sg_test_rm_store(db);
    assert_null(sgrep_store_open_ro(db, err, sizeof err));
    assert_int_equal(access(db, F_OK), -1); /* read only: not created */
    free(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_every_field),
        cmocka_unit_test(reasons_tallied),
        cmocka_unit_test(tally_other_once),
        cmocka_unit_test(summary_csv_row),
        cmocka_unit_test(chunk_boundaries_do_not_matter),
        cmocka_unit_test(bounds_refuse_at_their_value),
        cmocka_unit_test(markup_and_names_bounded),
        cmocka_unit_test(ratio_floor),
        cmocka_unit_test(store_dedup_and_rollback),
        cmocka_unit_test(store_refuses_newer_schema_and_ro_missing),
        cmocka_unit_test(counts_bounded_sums_saturate),
        cmocka_unit_test(dates_plausible),
        cmocka_unit_test(duplicates_need_same_content),
        cmocka_unit_test(store_migrates_v2),
        cmocka_unit_test(policy_domain_normalised),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
