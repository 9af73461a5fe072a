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
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <zlib.h>

#include "helpers.h"
#include "reports.h"

static const char report[] =
    "<?xml version=\"1.0\"?>\n<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">"
    "<report_metadata><org_name>Org &amp; Co</org_name><report_id>r-1</report_id>"
    "<date_range><begin>100</begin><end>200</end></date_range></report_metadata>"
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
    assert_int_equal(r->begin, 100);
    assert_int_equal(r->end, 200);
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
 * a sender inventing names cannot grow the tally past its 8 names. */
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
                         "<date_range><begin>1</begin><end>2</end></date_range></report_metadata>"
                         "<policy_published><domain>example.com</domain></policy_published>");
    REC(4, "<reason><type>forwarded</type></reason><reason><type>local_policy</type></reason>");
    REC(2, "<reason><type> MAILING_LIST </type><comment>list</comment></reason>");
    REC(1, "<reason><type></type><comment>nothing</comment></reason>");
    REC(5, "");
    REC(3, "<reason><type>forwarded</type></reason>");
    char pe[64];
    for (int i = 1; i <= 9; i++) { /* 2 names so far: 6 more fit, 3 go to "other" */
        snprintf(pe, sizeof pe, "<reason><type>made_up_%d</type></reason>", i);
        REC(10, pe);
    }
#undef REC
    n += (size_t)snprintf(xml + n, sizeof xml - n, "</feedback>");
    assert_true(n < sizeof xml);
    tally t = {0};
    char err[256];
    assert_int_equal(feed_chunks(xml, n, 7, NULL, &t, err, sizeof err), SGREP_OK);
    const sgrep_report *r = &t.last;
    assert_int_equal(r->messages, 4 + 2 + 1 + 5 + 3 + 90);
    assert_int_equal(r->nreason, 8);
    assert_string_equal(r->reason[0].name, "forwarded");
    assert_int_equal(r->reason[0].messages, 7);
    assert_string_equal(r->reason[1].name, "mailing_list");
    assert_int_equal(r->reason[1].messages, 2);
    for (int i = 2; i < 7; i++) {
        snprintf(pe, sizeof pe, "made_up_%d", i - 1);
        assert_string_equal(r->reason[i].name, pe);
        assert_int_equal(r->reason[i].messages, 10);
    }
    /* made_up_6's slot became "other" and took made_up_7..9 */
    assert_string_equal(r->reason[7].name, "other");
    assert_int_equal(r->reason[7].messages, 40);
    uint64_t sum = 0;
    for (unsigned i = 0; i < r->nreason; i++)
        sum += r->reason[i].messages;
    assert_int_equal(sum, 4 + 2 + 3 + 90); /* the empty type and the record without one: none */
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
