/*
 * The sending side of DMARC reports through its C interface
 * (src/reports/collect.c, send.c): the bounded collection table (equal
 * groups meet, the bound refuses the next new group but still counts known
 * ones, a flush adds to what is stored and empties the table), the policy
 * string (defaults of RFC 9989: sp from p, np from sp), the Report-ID (the
 * same for the same report, another for another policy), the XML writer
 * (escaping, a bad source address skipped, the selector always written)
 * and the address check. The CLI and the schema are tested in
 * tests/scripts/reports_send.sh.
 */
#include <ctype.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <sqlite3.h>

#include <spoofguard/arena.h>
#include <spoofguard/dmarc.h>

#include "helpers.h"
#include "reportcollect.h"
#include "reports/send.h"

static sgrep_obs obs(const char *ip)
{
    sgrep_obs o;
    memset(&o, 0, sizeof o);
    o.when = 1796256000 + 3600; /* 2026-12-03 01:00 UTC */
    o.policy_domain = "Example.COM";
    o.source_ip = ip;
    o.disposition = "reject";
    o.spf_aligned = 1;
    o.header_from = "example.com";
    o.envelope_from = "example.com";
    o.ndkim = 1;
    o.dkim[0].domain = "example.com";
    o.dkim[0].selector = "s1";
    o.dkim[0].result = "fail";
    o.spf_domain = "example.com";
    o.spf_scope = "mfrom";
    o.spf_result = "pass";
    o.p = "reject";
    return o;
}

/* A test's own folder and everything in it, gone. */
static void remove_dir(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A collector with failure reports on, its store at dir (a mkdtemp
 * template, filled in)/r.db, put in path (64 bytes). */
static sg_rcollect *failure_collector(char *dir, char *path)
{
    char err[256];
    sg_rcollect *rc = NULL;
    assert_non_null(mkdtemp(dir));
    snprintf(path, 64, "%s/r.db", dir);
    assert_int_equal(sg_rcollect_new(&rc, path, 60, 1000, 1, err, sizeof err), 0);
    sg_rcollect_failures_on(rc);
    return rc;
}

static long long q1(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    long long v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return v;
}

static char *q1s(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    char *v = NULL;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    assert_non_null(v);
    return v;
}

static void collect_bound_and_flush(void **state)
{
    (void)state;
    char path[] = "/tmp/sg-test-rsend-XXXXXX";
    sg_test_tmp_store(path);
    char err[256];
    sqlite3 *db = sgrep_send_open(path, err, sizeof err);
    assert_non_null(db);

    sgrep_collect *c = sgrep_collect_new(16);
    assert_non_null(c);
    sgrep_obs o = obs("192.0.2.1");
    assert_int_equal(sgrep_collect_add(c, &o), 0);
    assert_int_equal(sgrep_collect_add(c, &o), 0);
    assert_int_equal(sgrep_collect_groups(c), 1);
    assert_int_equal(sgrep_collect_messages(c), 2);
    char ip[32];
    for (int i = 2; i <= 16; i++) {
        snprintf(ip, sizeof ip, "192.0.2.%d", i);
        o = obs(ip);
        assert_int_equal(sgrep_collect_add(c, &o), 0);
    }
    assert_int_equal(sgrep_collect_groups(c), 16);
    o = obs("192.0.2.17"); /* a 17th group: refused, nothing counted */
    assert_int_equal(sgrep_collect_add(c, &o), -1);
    assert_int_equal(sgrep_collect_messages(c), 17);
    o = obs("192.0.2.1"); /* a known group still counts */
    assert_int_equal(sgrep_collect_add(c, &o), 0);
    assert_int_equal(sgrep_collect_flush(c, db, err, sizeof err), 0);
    assert_int_equal(sgrep_collect_groups(c), 0);
    assert_int_equal(q1(db, "SELECT sum(count) FROM collected"), 18);
    assert_int_equal(q1(db, "SELECT count FROM collected WHERE source_ip='192.0.2.1'"), 3);
    /* domains are kept in lower case, the day is the UTC day */
    assert_int_equal(
        q1(db,
           "SELECT count(*) FROM collected WHERE policy_domain='example.com' AND day=1796256000"),
        16);
    /* a second flush adds to the stored counters */
    assert_int_equal(sgrep_collect_add(c, &o), 0);
    assert_int_equal(sgrep_collect_flush(c, db, err, sizeof err), 0);
    assert_int_equal(q1(db, "SELECT count FROM collected WHERE source_ip='192.0.2.1'"), 4);
    sgrep_collect_free(c);
    sqlite3_close(db);
    sg_test_rm_store(path);
}

/* The slot array grows from its small start to the bound, rehashing: every
 * group is still found after each growth. */
static void collect_grows(void **state)
{
    (void)state;
    sgrep_collect *c = sgrep_collect_new(3000);
    assert_non_null(c);
    char ip[64];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 3000; i++) {
            snprintf(ip, sizeof ip, "2001:db8::%x", i);
            sgrep_obs o = obs(ip);
            assert_int_equal(sgrep_collect_add(c, &o), 0);
        }
    assert_int_equal(sgrep_collect_groups(c), 3000);
    assert_int_equal(sgrep_collect_messages(c), 6000);
    sgrep_obs o = obs("2001:db8::ffff:1");
    assert_int_equal(sgrep_collect_add(c, &o), -1);
    sgrep_collect_free(c);
}

/* A name of n octets in labels of 63 (the longest a DNS name may be: 253). */
static void long_name(char *out, size_t n, char fill)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (i + 1) % 64 == 0 ? '.' : fill;
    out[n] = '\0';
}

/* The group key is bounded field by field: a broken signature's raw s= of
 * 500 bytes is no selector (left empty), and when the DKIM results do not
 * all fit, the last are dropped; the SPF result and the published policy
 * are always kept (before, 8 such signatures filled the 4096-byte key and
 * the row was stored with no SPF and no policy, which `report send` wrote
 * as a second report claiming p=none). */
static void collect_key_bounded(void **state)
{
    (void)state;
    char path[] = "/tmp/sg-test-rkey-XXXXXX", err[256];
    sg_test_tmp_store(path);
    sqlite3 *db = sgrep_send_open(path, err, sizeof err);
    assert_non_null(db);
    sgrep_collect *c = sgrep_collect_new(16);
    static char junk[501], dom[254], sel[254];
    memset(junk, 'a', 500);
    long_name(dom, 253, 'd');
    long_name(sel, 253, 's');
    sgrep_obs o = obs("192.0.2.1");
    o.ndkim = SGREP_OBS_MAX_DKIM;
    for (unsigned i = 0; i < o.ndkim; i++) {
        o.dkim[i].domain = "victim.test";
        o.dkim[i].selector = junk;
        o.dkim[i].result = "permerror";
    }
    assert_int_equal(sgrep_collect_add(c, &o), 0);
    /* the longest names there are: not all eight results fit */
    o.source_ip = "192.0.2.2";
    for (unsigned i = 0; i < o.ndkim; i++) {
        o.dkim[i].domain = dom;
        o.dkim[i].selector = sel;
        o.dkim[i].result = "pass";
    }
    assert_int_equal(sgrep_collect_add(c, &o), 0);
    assert_int_equal(sgrep_collect_flush(c, db, err, sizeof err), 0);
    sgrep_collect_free(c);

    static const char pol[] = "p=reject sp=reject np=reject adkim=r aspf=r fo=0 t=n disc=treewalk";
    assert_int_equal(q1(db, "SELECT count(DISTINCT policy) FROM collected"), 1);
    char *v = q1s(db, "SELECT policy FROM collected WHERE source_ip='192.0.2.1'");
    assert_string_equal(v, pol);
    free(v);
    v = q1s(db, "SELECT policy FROM collected WHERE source_ip='192.0.2.2'");
    assert_string_equal(v, pol);
    free(v);
    assert_int_equal(q1(db, "SELECT count(*) FROM collected WHERE spf='example.com/mfrom/pass'"),
                     2);
    v = q1s(db, "SELECT dkim FROM collected WHERE source_ip='192.0.2.1'");
    assert_string_equal(v, "victim.test//permerror victim.test//permerror victim.test//permerror "
                           "victim.test//permerror victim.test//permerror victim.test//permerror "
                           "victim.test//permerror victim.test//permerror");
    free(v);
    /* whole results only: each kept one is the 253-octet domain and
     * selector, and some were dropped */
    v = q1s(db, "SELECT dkim FROM collected WHERE source_ip='192.0.2.2'");
    size_t kept = 0;
    for (char *save = NULL, *r = strtok_r(v, " ", &save); r; r = strtok_r(NULL, " ", &save)) {
        assert_int_equal(strlen(r), 253 + 1 + 253 + 1 + 4);
        kept++;
    }
    free(v);
    assert_true(kept > 0 && kept < SGREP_OBS_MAX_DKIM);
    sqlite3_close(db);
    sg_test_rm_store(path);

    /* a row stored before the bound: a part longer than a name is left
     * out, not written cut at 255 */
    sgrep_gen_meta m = {"mx.test", "dmarc@mx.test", "spoofguard test", NULL};
    sgrep_policy p;
    sgrep_policy_parse("p=reject", &p);
    sgrep_buf b = {0};
    sgrep_gen_begin(&b, &m, "id@mx.test", "victim.test", &p, 0, 86399);
    char dk[700];
    snprintf(dk, sizeof dk, "victim.test/%s/fail ok.test/s1/pass", junk);
    sgrep_row r = {"192.0.2.1", "none", "fail", "pass", "victim.test", "", "", dk, "", "", 1};
    assert_int_equal(sgrep_gen_record(&b, &r), 0);
    sgrep_gen_end(&b);
    assert_null(strstr(b.data, "aaaa"));
    assert_non_null(strstr(b.data, "<domain>ok.test</domain>"));
    assert_null(strstr(b.data, "<domain>victim.test</domain>\n        <selector>"));
    sgrep_buf_free(&b);
}

static void policy_defaults(void **state)
{
    (void)state;
    sgrep_obs o = obs("192.0.2.1");
    o.p = "quarantine";
    char s[160];
    sgrep_policy_format(s, sizeof s, &o);
    assert_string_equal(s, "p=quarantine sp=quarantine np=quarantine adkim=r aspf=r fo=0 t=n "
                           "disc=treewalk");
    o.sp = "none";
    o.testing = 1;
    o.aspf = "s";
    o.discovery = "psl";
    sgrep_policy_format(s, sizeof s, &o);
    sgrep_policy p;
    sgrep_policy_parse(s, &p);
    assert_string_equal(p.p, "quarantine");
    assert_string_equal(p.sp, "none");
    assert_string_equal(p.np, "none"); /* np defaults to sp */
    assert_string_equal(p.aspf, "s");
    assert_string_equal(p.testing, "y");
    assert_string_equal(p.discovery, "psl");
    sgrep_policy_parse("p=bogus disc=walk", &p); /* bad words: the defaults */
    assert_string_equal(p.p, "none");
    assert_string_equal(p.discovery, "treewalk");
}

static void report_id_stable(void **state)
{
    (void)state;
    char a[300], b[300], ua[64], ub[64];
    sgrep_report_id(a, sizeof a, ua, sizeof ua, 1796256000, "example.com", "p=none", "mx1",
                    "mx.test");
    sgrep_report_id(b, sizeof b, ub, sizeof ub, 1796256000, "example.com", "p=none", "mx1",
                    "mx.test");
    assert_string_equal(a, b);
    assert_int_equal(strncmp(a, "20261203", 8), 0);
    assert_non_null(strstr(a, ".example.com@mx.test"));
    /* unique-id = 1*(ALPHA / DIGIT) (RFC 9990 5.1; it had a dot: adv18 F9) */
    assert_int_equal(strspn(ua, "0123456789abcdef"), strlen(ua));
    assert_int_equal(strlen(ua), 24);
    sgrep_report_id(b, sizeof b, ub, sizeof ub, 1796256000, "example.com", "p=reject", "mx1",
                    "mx.test");
    assert_string_not_equal(a, b);
    /* another host's store, another report: another ID (adv18 F3) */
    sgrep_report_id(b, sizeof b, ub, sizeof ub, 1796256000, "example.com", "p=none", "mx2",
                    "mx.test");
    assert_string_not_equal(a, b);
    /* a cluster's counts: the same ID whichever host sends */
    sgrep_report_id(a, sizeof a, ua, sizeof ua, 1796256000, "example.com", "p=none", NULL,
                    "mx.test");
    sgrep_report_id(b, sizeof b, ub, sizeof ub, 1796256000, "example.com", "p=none", NULL,
                    "mx.test");
    assert_string_equal(a, b);
    char f[300];
    sgrep_report_filename(f, sizeof f, "mx.test", "example.com", 1796256000, 1796342399, ua);
    char want[300];
    snprintf(want, sizeof want, "mx.test!example.com!1796256000!1796342399!%s.xml.gz", ua);
    assert_string_equal(f, want);
}

static void xml_writer(void **state)
{
    (void)state;
    sgrep_gen_meta m = {"mx.test", "dmarc@mx.test", "spoofguard test", NULL};
    sgrep_policy p;
    sgrep_policy_parse("p=reject", &p);
    sgrep_buf b = {0};
    sgrep_gen_begin(&b, &m, "id@mx.test", "example.com", &p, 0, 86399);
    sgrep_row r = {"not-an-ip", "reject", "fail", "pass", "a<b&c.example", "", "", "", "", "", 7};
    assert_int_equal(sgrep_gen_record(&b, &r), -1);
    r.source_ip = "2001:DB8:0:0::1";
    r.dkim = "d.example//pass x.example/s2/weird";
    assert_int_equal(sgrep_gen_record(&b, &r), 0);
    sgrep_gen_end(&b);
    assert_false(b.oom);
    assert_int_equal(b.records, 1);
    assert_int_equal(b.messages, 7);
    assert_non_null(strstr(b.data, "<source_ip>2001:db8::1</source_ip>"));
    assert_non_null(strstr(b.data, "<header_from>a&lt;b&amp;c.example</header_from>"));
    /* an empty selector is still written; an unknown result is temperror */
    assert_non_null(strstr(b.data, "<selector></selector>"));
    assert_non_null(strstr(b.data, "<result>temperror</result>"));
    /* no SPF result recorded: the header From domain, scope mfrom, none */
    assert_non_null(strstr(b.data, "<domain>a&lt;b&amp;c.example</domain>\n        "
                                   "<scope>mfrom</scope>\n        <result>none</result>"));
    assert_null(strstr(b.data, "<envelope_to>"));
    sgrep_buf_free(&b);
}

/* The report as a strict consumer reads it: well-formed XML 1.0 (no
 * recovery) and valid against our RFC 9990 structure schema. 1 when both. */
static int report_valid(const char *xml, size_t len)
{
    char xsd[1024];
    snprintf(xsd, sizeof xsd, "%s/reports/rfc9990-structure.xsd", sg_test_data_dir());
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, "r.xml", NULL, XML_PARSE_NONET);
    if (!doc)
        return 0;
    xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(xsd);
    xmlSchemaPtr schema = pc ? xmlSchemaParse(pc) : NULL;
    xmlSchemaValidCtxtPtr vc = schema ? xmlSchemaNewValidCtxt(schema) : NULL;
    assert_non_null(vc);
    int ok = xmlSchemaValidateDoc(vc, doc) == 0;
    xmlSchemaFreeValidCtxt(vc);
    xmlSchemaFree(schema);
    xmlSchemaFreeParserCtxt(pc);
    xmlFreeDoc(doc);
    return ok;
}

/* Stored strings hold what a sender wrote: a MAIL FROM domain of invalid
 * UTF-8 or with a character XML 1.0 forbids is still written as valid XML
 * (U+FFFD in its place), so one forged message cannot make a strict
 * consumer drop the whole day's report. Valid UTF-8 is kept as it is. */
static void xml_any_bytes_valid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "forger@\xC3\x28.victim.test",     /* a lead byte without its continuation */
        "forger@\xEF\xBF\xBF.victim.test", /* U+FFFF: UTF-8, not an XML Char */
        "forger@\xEF\xBF\xBE.victim.test", /* U+FFFE */
        "forger@\xED\xA0\x80.victim.test", /* a surrogate */
        "forger@\xC0\xAE.victim.test",     /* an overlong '.' */
        "forger@\xF4\x90\x80\x80.test",    /* past U+10FFFF */
        "forger@victim.test\xE2\x82",      /* cut short by the end */
        "forger@\x01\x1b.victim.test",     /* controls */
        "forger@\xFF\xFE.victim.test",
    };
    sgrep_gen_meta m = {"mx.test", "dmarc@mx.test", "spoofguard test", NULL};
    sgrep_policy p;
    sgrep_policy_parse("p=reject", &p);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char spf[300];
        snprintf(spf, sizeof spf, "%s/mfrom/fail", bad[i]);
        sgrep_buf b = {0};
        sgrep_gen_begin(&b, &m, "id@mx.test", "victim.test", &p, 0, 86399);
        sgrep_row r = {"192.0.2.1", "reject", "fail", "fail", "victim.test", bad[i], "",
                       "",          spf,      "",     1};
        assert_int_equal(sgrep_gen_record(&b, &r), 0);
        r.spf = ""; /* no SPF result: the envelope domain is written instead */
        assert_int_equal(sgrep_gen_record(&b, &r), 0);
        sgrep_gen_end(&b);
        assert_false(b.oom);
        if (!report_valid(b.data, b.len))
            fail_msg("case %zu: the report is not valid XML:\n%s", i, b.data);
        sgrep_buf_free(&b);
    }
    /* what replaces them */
    sgrep_buf b = {0};
    sgrep_gen_begin(&b, &m, "id@mx.test", "victim.test", &p, 0, 86399);
    sgrep_row r = {"192.0.2.1",
                   "reject",
                   "fail",
                   "fail",
                   "victim.test",
                   bad[0],
                   "",
                   "",
                   "j\xC3\xBCrgen@\xEF\xBF\xBF.example/mfrom/fail",
                   "",
                   1};
    assert_int_equal(sgrep_gen_record(&b, &r), 0);
    sgrep_gen_end(&b);
    assert_non_null(
        strstr(b.data, "<envelope_from>forger@\xEF\xBF\xBD(.victim.test</envelope_from>"));
    assert_non_null(strstr(b.data, "<domain>j\xC3\xBCrgen@\xEF\xBF\xBD.example</domain>"));
    assert_true(report_valid(b.data, b.len));
    sgrep_buf_free(&b);
}

/* RFC 9990 reasons: a group with a reason is not the group without one;
 * the store keeps "type/comment"; the report writes it inside
 * policy_evaluated, an unknown type as "other", a type alone without a
 * comment. */
static void reasons(void **state)
{
    (void)state;
    char path[] = "/tmp/sg-test-reason-XXXXXX", err[256];
    sg_test_tmp_store(path);
    sqlite3 *db = sgrep_send_open(path, err, sizeof err);
    assert_non_null(db);
    sgrep_collect *c = sgrep_collect_new(16);
    sgrep_obs o = obs("192.0.2.1");
    o.disposition = "quarantine";
    assert_int_equal(sgrep_collect_add(c, &o), 0);
    o.override_type = "local_policy";
    o.override_comment = "never_reject_domains";
    assert_int_equal(sgrep_collect_add(c, &o), 0);
    assert_int_equal(sgrep_collect_add(c, &o), 0);
    o.override_type = "policy_test_mode";
    o.override_comment = NULL;
    assert_int_equal(sgrep_collect_add(c, &o), 0);
    assert_int_equal(sgrep_collect_groups(c), 3);
    assert_int_equal(sgrep_collect_flush(c, db, err, sizeof err), 0);
    assert_int_equal(q1(db, "SELECT count FROM collected WHERE reason=''"), 1);
    assert_int_equal(q1(db, "SELECT count FROM collected WHERE reason="
                            "'local_policy/never_reject_domains'"),
                     2);
    assert_int_equal(q1(db, "SELECT count FROM collected WHERE reason='policy_test_mode'"), 1);
    sgrep_collect_free(c);
    sqlite3_close(db);
    sg_test_rm_store(path);

    sgrep_gen_meta m = {"mx.test", "dmarc@mx.test", "spoofguard test", NULL};
    sgrep_policy p;
    sgrep_policy_parse("p=reject", &p);
    sgrep_buf b = {0};
    sgrep_gen_begin(&b, &m, "id@mx.test", "example.com", &p, 0, 86399);
    sgrep_row r = {"192.0.2.1",
                   "none",
                   "fail",
                   "fail",
                   "example.com",
                   "",
                   "",
                   "",
                   "",
                   "trusted_forwarder/arc_sealer=fwd.example",
                   2};
    assert_int_equal(sgrep_gen_record(&b, &r), 0);
    r.reason = "made_up/x<y";
    assert_int_equal(sgrep_gen_record(&b, &r), 0);
    r.reason = "policy_test_mode";
    assert_int_equal(sgrep_gen_record(&b, &r), 0);
    r.reason = "";
    assert_int_equal(sgrep_gen_record(&b, &r), 0);
    sgrep_gen_end(&b);
    assert_false(b.oom);
    assert_non_null(strstr(b.data, "<spf>fail</spf>\n        <reason>\n"
                                   "          <type>trusted_forwarder</type>\n"
                                   "          <comment>arc_sealer=fwd.example</comment>\n"
                                   "        </reason>\n      </policy_evaluated>"));
    assert_non_null(strstr(b.data, "<type>other</type>\n          <comment>x&lt;y</comment>"));
    assert_non_null(strstr(b.data, "<type>policy_test_mode</type>\n        </reason>"));
    /* four records, three reasons */
    size_t n = 0;
    for (const char *s = b.data; (s = strstr(s, "<reason>")) != NULL; s++)
        n++;
    assert_int_equal(n, 3);
    sgrep_buf_free(&b);
}

/* A store of schema version 1 (before reasons) is migrated on open: its
 * counts are kept, with no reason, and a daemon still writing the old
 * columns keeps counting. */
static void store_migrates_v1(void **state)
{
    (void)state;
    char path[] = "/tmp/sg-test-v1-XXXXXX", err[256];
    sg_test_tmp_store(path);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    static const char v1[] =
        "CREATE TABLE collected("
        " day INTEGER NOT NULL, policy_domain TEXT NOT NULL, source_ip TEXT NOT NULL,"
        " disposition TEXT NOT NULL, dkim_aligned TEXT NOT NULL, spf_aligned TEXT NOT NULL,"
        " header_from TEXT NOT NULL, envelope_from TEXT NOT NULL, envelope_to TEXT NOT NULL,"
        " dkim TEXT NOT NULL, spf TEXT NOT NULL, policy TEXT NOT NULL, count INTEGER NOT NULL,"
        " PRIMARY KEY(day, policy_domain, source_ip, disposition, dkim_aligned, spf_aligned,"
        "  header_from, envelope_from, envelope_to, dkim, spf, policy)) WITHOUT ROWID;"
        "INSERT INTO collected VALUES(1796256000, 'example.com', '192.0.2.9', 'none', 'fail',"
        " 'pass', 'example.com', '', '', '', '', 'p=none', 41);"
        "PRAGMA user_version=1;";
    assert_int_equal(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    db = sgrep_send_open(path, err, sizeof err);
    assert_non_null(db);
    assert_int_equal(q1(db, "PRAGMA user_version"), 3);
    char *reason = q1s(db, "SELECT reason FROM collected WHERE source_ip='192.0.2.9'");
    assert_string_equal(reason, "");
    free(reason);
    assert_int_equal(q1(db, "SELECT count FROM collected WHERE source_ip='192.0.2.9'"), 41);
    /* the old daemon's upsert, without the reason column */
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO collected(day, policy_domain, source_ip, disposition,"
                     " dkim_aligned, spf_aligned, header_from, envelope_from, envelope_to, dkim,"
                     " spf, policy, count) VALUES(1796256000, 'example.com', '192.0.2.9', 'none',"
                     " 'fail', 'pass', 'example.com', '', '', '', '', 'p=none', 1)"
                     " ON CONFLICT DO UPDATE SET count = count + excluded.count",
                     NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_equal(q1(db, "SELECT count FROM collected WHERE source_ip='192.0.2.9'"), 42);
    sqlite3_close(db);
    /* opened again: version 3 stays, nothing migrated twice */
    db = sgrep_send_open(path, err, sizeof err);
    assert_non_null(db);
    assert_int_equal(q1(db, "SELECT sum(count) FROM collected"), 42);
    /* a store newer than this program is refused, not rewritten */
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=4", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(sgrep_send_open(path, err, sizeof err));
    assert_non_null(strstr(err, "schema version 4 is newer"));
    sg_test_rm_store(path);
}

static void addresses(void **state)
{
    (void)state;
    assert_true(sgrep_addr_ok("dmarc@example.com"));
    assert_false(sgrep_addr_ok("dmarc@example.com\nBcc: x@y"));
    assert_false(sgrep_addr_ok("a b@example.com"));
    assert_false(sgrep_addr_ok("<a@example.com>"));
    assert_false(sgrep_addr_ok("example.com"));
    assert_false(sgrep_addr_ok("a@"));
    assert_false(sgrep_addr_ok("a@b;rm -rf"));
}

/* RFC 9991 failure reports: when one is due (fo=), what the header keeps
 * (redaction), the report mail, and the store's rate limit. */
static void failure_due(void **state)
{
    (void)state;
    /* fo=0 (the default, also 0 bits): DMARC failed */
    assert_true(sgrep_failure_due(0, 0, 0, 0, 0, 0));
    assert_false(sgrep_failure_due(0, 1, 1, 0, 0, 1));
    /* fo=1: either mechanism without an aligned pass, DMARC passing or not */
    assert_true(sgrep_failure_due(0x2, 1, 1, 0, 0, 0));
    assert_false(sgrep_failure_due(0x2, 1, 1, 1, 0, 0));
    /* d: a DKIM signature failed; s: SPF failed */
    assert_true(sgrep_failure_due(0x4, 1, 1, 1, 1, 0));
    assert_false(sgrep_failure_due(0x4, 1, 1, 1, 0, 1));
    assert_true(sgrep_failure_due(0x8, 1, 1, 1, 0, 1));
    assert_true(sgrep_failure_due(0x4 | 0x8, 1, 1, 1, 0, 1));
}

static void failure_redaction(void **state)
{
    (void)state;
    static const char hdr[] =
        "Received: from mx.attacker.test by mx.rcpt.test\r\n"
        "From: \"The CEO\" <ceo@bank.example>\r\n"
        "To: \"Bob Smith\" <bob.smith@rcpt.test>,\r\n\tcarol@Other.Example\r\n"
        "Cc: dave@rcpt.test\r\n"
        "Subject: your salary review, Bob\r\n"
        "Date: Fri, 04 Dec 2026 19:56:59 +0000\r\n"
        "Message-ID: <abc@attacker.test>\r\n"
        "Reply-To: thief@attacker.test\r\n"
        "DKIM-Signature: v=1; a=rsa-sha256; d=bank.example; s=s1;\r\n\tb=AAAA\r\n"
        "X-Secret: 4111111111111111\r\n";
    char out[4096];
    size_t n = sgrep_failure_redact(hdr, strlen(hdr), out, sizeof(out));
    assert_int_equal(n, strlen(out));
    assert_string_equal(out,
                        "From: \"The CEO\" <ceo@bank.example>\n"
                        "To: redacted@rcpt.test, redacted@Other.Example\n"
                        "Cc: redacted@rcpt.test\n"
                        "Subject: [redacted]\n"
                        "Date: Fri, 04 Dec 2026 19:56:59 +0000\n"
                        "Message-ID: <abc@attacker.test>\n"
                        "DKIM-Signature: v=1; a=rsa-sha256; d=bank.example; s=s1;\n\tb=AAAA\n");
    /* nothing of a local part, the subject, or a dropped field */
    assert_null(strstr(out, "bob"));
    assert_null(strstr(out, "salary"));
    assert_null(strstr(out, "thief"));
    assert_null(strstr(out, "4111"));
    /* whole fields only: a cap that cuts the third keeps two */
    n = sgrep_failure_redact(hdr, strlen(hdr), out, 90);
    assert_string_equal(out, "From: \"The CEO\" <ceo@bank.example>\n"
                             "To: redacted@rcpt.test, redacted@Other.Example\n");
    /* a kept DKIM-Signature loses its z= tag (copies of To and Subject,
     * RFC 6376 3.5), wherever it is and however it is folded; the other
     * tags stay as they came */
    static const char zhdr[] =
        "DKIM-Signature: v=1; a=rsa-sha256; d=esp.example; s=s1;\r\n"
        "\tz=To:=22Bob=20Secret=22=20<bob.secret@rcpt.test>|\r\n"
        "\t  Subject:confidential=20merger; h=from:to;\r\n\tb=AAAA\r\n"
        "DKIM-Signature: v=1; d=esp.example; s=s2; b=BBBB; z =To:bob.secret@rcpt.test\r\n"
        "DKIM-Signature: z=Subject:merger;v=1; d=esp.example; s=s3; b=CCCC;\r\n";
    n = sgrep_failure_redact(zhdr, strlen(zhdr), out, sizeof(out));
    assert_string_equal(out, "DKIM-Signature: v=1; a=rsa-sha256; d=esp.example; s=s1; h=from:to;\n"
                             "\tb=AAAA\n"
                             "DKIM-Signature: v=1; d=esp.example; s=s2; b=BBBB\n"
                             "DKIM-Signature:v=1; d=esp.example; s=s3; b=CCCC;\n");
    assert_null(strstr(out, "Secret"));
    assert_null(strstr(out, "merger"));
    /* no header, and a To without an address */
    assert_int_equal(sgrep_failure_redact("", 0, out, sizeof(out)), 0);
    assert_int_equal(sgrep_failure_redact("To: undisclosed-recipients:;\n", 29, out, sizeof(out)),
                     0);
}

static void failure_mail_and_queue(void **state)
{
    (void)state;
    sgrep_gen_meta m = {"mx.rcpt.test", "postmaster@rcpt.test", "spoofguard test", NULL};
    sgrep_failure f = {
        .arrival = 1796410619, /* Fri, 04 Dec 2026 18:56:59 */
        .policy_domain = "bank.example",
        .source_ip = "192.0.2.66",
        .envelope_from = "x@attacker.test",
        .header_from = "bank.example",
        .authres = "mx.rcpt.test; dmarc=fail header.from=bank.example",
        .dkim_domain = "bank.example",
        .dkim_selector = "s1",
        .headers = "From: ceo@bank.example\nSubject: [redacted]\n",
    };
    sgrep_buf b = {0};
    sgrep_failure_mail(&b, &m, "ruf@bank.example", &f, "1.failure@mx.rcpt.test", 1796410800);
    assert_false(b.oom);
    static const char *const want[] = {
        "From: postmaster@rcpt.test\n",
        "To: ruf@bank.example\n",
        "Subject: DMARC failure report for bank.example from 192.0.2.66\n",
        "Date: Fri, 04 Dec 2026 19:00:00 +0000\n",
        "Message-ID: <1.failure@mx.rcpt.test>\n",
        "Content-Type: multipart/report; report-type=feedback-report;\n",
        "\nContent-Type: message/feedback-report\n\nFeedback-Type: auth-failure\n"
        "User-Agent: spoofguard test\nVersion: 1\nAuth-Failure: dmarc\n"
        "Original-Mail-From: <x@attacker.test>\n"
        "Arrival-Date: Fri, 04 Dec 2026 18:56:59 +0000\nSource-IP: 192.0.2.66\n"
        "Reported-Domain: bank.example\n"
        "Authentication-Results: mx.rcpt.test; dmarc=fail header.from=bank.example\n"
        /* RFC 9991 3: the mechanisms that failed to authenticate an
         * aligned identity (adv18 F7: it said "none" for both failing) */
        "Identity-Alignment: dkim, spf\nDKIM-Domain: bank.example\n"
        "DKIM-Identity: @bank.example\nDKIM-Selector: s1\n\n",
        "Content-Type: text/rfc822-headers\n\nFrom: ceo@bank.example\nSubject: [redacted]\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (strstr(b.data, want[i]) == NULL)
            fail_msg("missing %s in\n%s", want[i], b.data);
    f.dkim_aligned = 1;
    sgrep_failure_mail(&b, &m, "ruf@bank.example", &f, "1.failure@mx.rcpt.test", 1796410800);
    assert_non_null(strstr(b.data, "\nIdentity-Alignment: spf\n"));
    f.spf_aligned = 1;
    sgrep_failure_mail(&b, &m, "ruf@bank.example", &f, "1.failure@mx.rcpt.test", 1796410800);
    assert_non_null(strstr(b.data, "\nIdentity-Alignment: none\n"));
    f.dkim_aligned = f.spf_aligned = 0;
    /* our A-R keeps its folding, and a long one ends after a whole result
     * (adv18 F8: one line of 1,524 octets, cut inside a result) */
    char ar[6000];
    size_t al = (size_t)snprintf(ar, sizeof ar, "mx.rcpt.test;\r\n\tspf=fail smtp.mailfrom=x.test");
    for (int i = 0; i < 20; i++)
        al += (size_t)snprintf(ar + al, sizeof ar - al,
                               ";\r\n\tdkim=fail header.d=bank.example header.s=%0200d", i);
    snprintf(ar + al, sizeof ar - al, ";\r\n\tdmarc=fail header.from=bank.example");
    f.authres = ar;
    sgrep_failure_mail(&b, &m, "ruf@bank.example", &f, "1.failure@mx.rcpt.test", 1796410800);
    const char *arf = strstr(b.data, "\nAuthentication-Results: mx.rcpt.test;\n\tspf=fail");
    assert_non_null(arf);
    const char *id = strstr(arf, "\nIdentity-Alignment:");
    assert_non_null(id);
    assert_true(id - arf < 4100);
    /* the last result whole: a selector of its 200 digits, no ';' after */
    assert_true(id - arf > 209 && memcmp(id - 209, "header.s=", 9) == 0 && id[-1] != ';');
    for (const char *d = id - 200; d < id; d++)
        assert_true(isdigit((unsigned char)*d));
    for (const char *l = b.data, *e; *l; l = e + 1) {
        e = strchr(l, '\n');
        if (!e)
            break;
        assert_true(e - l <= 998);
    }
    f.authres = "mx.rcpt.test; dmarc=fail header.from=bank.example";
    /* a stored value cannot add a header line */
    f.source_ip = "192.0.2.66\nBcc: evil@attacker.test";
    sgrep_failure_mail(&b, &m, "ruf@bank.example", &f, "2.failure@mx.rcpt.test", 1796410800);
    assert_null(strstr(b.data, "\nBcc:"));
    /* its parts are US-ASCII: a sender's 8-bit bytes (a MAIL FROM of
     * invalid UTF-8, a raw UTF-8 display name) become '?' */
    f.source_ip = "192.0.2.66";
    f.envelope_from = "forger@\xC3\x28.victim.test";
    f.authres = "mx.rcpt.test; spf=fail smtp.mailfrom=forger@\xC3\x28.victim.test";
    f.headers = "From: \"J\xC3\xBCrgen\" <ceo@bank.example>\nDate: x\x01y\n";
    sgrep_failure_mail(&b, &m, "ruf@bank.example", &f, "3.failure@mx.rcpt.test", 1796410800);
    for (size_t i = 0; i < b.len; i++)
        if ((unsigned char)b.data[i] > 0x7f)
            fail_msg("byte 0x%02x at %zu of\n%s", (unsigned char)b.data[i], i, b.data);
    assert_non_null(strstr(b.data, "Original-Mail-From: <forger@?(.victim.test>\n"));
    assert_non_null(strstr(b.data, "smtp.mailfrom=forger@?(.victim.test\n"));
    assert_non_null(strstr(b.data, "\n\nFrom: \"J??rgen\" <ceo@bank.example>\nDate: x y\n"));
    sgrep_buf_free(&b);

    /* the queue: one per policy domain, source and hour */
    char dir[] = "/tmp/sg-fq.XXXXXX", path[64], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/r.db", dir);
    sqlite3 *db = sgrep_send_open(path, err, sizeof err);
    assert_non_null(db);
    f.source_ip = "192.0.2.66";
    assert_int_equal(sgrep_failure_queue(db, &f, "ruf@bank.example", err, sizeof err), 1);
    f.arrival += 60; /* the same hour (18:57:59) */
    assert_int_equal(sgrep_failure_queue(db, &f, "ruf@bank.example", err, sizeof err), 0);
    f.source_ip = "192.0.2.67"; /* another source */
    assert_int_equal(sgrep_failure_queue(db, &f, "ruf@bank.example", err, sizeof err), 1);
    f.source_ip = "192.0.2.66";
    f.arrival += 3600; /* the next hour */
    assert_int_equal(sgrep_failure_queue(db, &f, "ruf@bank.example", err, sizeof err), 1);
    /* per organisational domain: another policy domain under it, same
     * source and hour, is limited; SGREP_FAILURE_ORG_HOUR sources at most */
    f.arrival += 3600;
    f.org_domain = "bank.example";
    assert_int_equal(sgrep_failure_queue(db, &f, "ruf@bank.example", err, sizeof err), 1);
    f.policy_domain = "r1.bank.example";
    assert_int_equal(sgrep_failure_queue(db, &f, "ruf@bank.example", err, sizeof err), 0);
    char ip[32];
    for (int i = 1; i < SGREP_FAILURE_ORG_HOUR; i++) {
        snprintf(ip, sizeof ip, "198.51.100.%d", i);
        f.source_ip = ip;
        assert_int_equal(sgrep_failure_queue(db, &f, "ruf@bank.example", err, sizeof err), 1);
    }
    f.source_ip = "198.51.100.200";
    assert_int_equal(sgrep_failure_queue(db, &f, "ruf@bank.example", err, sizeof err), 0);
    f.org_domain = "other.example"; /* another organisation is not */
    assert_int_equal(sgrep_failure_queue(db, &f, "ruf@other.example", err, sizeof err), 1);
    sqlite3_close(db);
    remove_dir(dir);
}

/* The daemon's failure-report limit with a wildcard record (F3): every
 * rN.evil.test has a policy domain of its own, so one per policy domain
 * limited nothing (200 messages from one address gave 200 reports). Now
 * one per organisational domain (public suffix list), source and hour,
 * and SGREP_FAILURE_ORG_HOUR per organisational domain and hour. */
static void failure_limit_wildcard(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg-fl.XXXXXX", path[64], err[256];
    sg_rcollect *rc = failure_collector(dir, path);
    sg_dmarc_psl *psl = NULL; /* the daemon's default: the system's newest list */
    assert_int_equal(sg_dmarc_psl_open(&psl, NULL), 0);
    sg_arena *a = NULL;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    static const char txt[] = "v=DMARC1; p=none; ruf=mailto:ruf@evil.test; fo=1";
    sg_dmarc_record rec;
    assert_int_equal(sg_dmarc_record_parse(a, txt, strlen(txt), &rec), 0);
    sg_verdict_result vr;
    memset(&vr, 0, sizeof vr);
    vr.dmarc.result = SG_DMARC_RESULT_FAIL;
    vr.dmarc.record = &rec;
    char dom[64], ip[64];
    const int64_t now = 1796547600 + 60;
    for (int i = 0; i < 200; i++) {
        snprintf(dom, sizeof dom, "r%d.evil.test", i);
        vr.dmarc.policy_domain = vr.dmarc.author_domain = dom;
        sg_rcollect_failure(rc, 0, psl, &vr, "203.0.113.5", "m@evil.test", "", 0, now);
    }
    /* many sources (an IPv6 sender has addresses to spare) */
    for (int i = 0; i < 50; i++) {
        snprintf(dom, sizeof dom, "s%d.evil.test", i);
        snprintf(ip, sizeof ip, "2001:db8::%x", i + 1);
        vr.dmarc.policy_domain = vr.dmarc.author_domain = dom;
        sg_rcollect_failure(rc, 0, psl, &vr, ip, "m@evil.test", "", 0, now);
    }
    /* another organisation from the same source still gets its own */
    vr.dmarc.policy_domain = vr.dmarc.author_domain = "good.test";
    sg_rcollect_failure(rc, 0, psl, &vr, "203.0.113.5", "m@good.test", "", 0, now);
    sg_rcollect_free(rc); /* the last flush writes the queue */
    sg_dmarc_psl_free(psl);
    sqlite3 *db = sgrep_send_open(path, err, sizeof err);
    assert_non_null(db);
    assert_int_equal(q1(db, "SELECT count(*) FROM failure_queue WHERE source_ip='203.0.113.5'"
                            " AND policy_domain LIKE '%.evil.test'"),
                     1);
    assert_int_equal(
        q1(db, "SELECT count(*) FROM failure_queue WHERE policy_domain LIKE '%.evil.test'"),
        SGREP_FAILURE_ORG_HOUR);
    assert_int_equal(q1(db, "SELECT count(*) FROM failure_queue WHERE policy_domain='good.test'"),
                     1);
    sqlite3_close(db);
    sg_arena_free(a);
    remove_dir(dir);
}

/* The ruf addresses the daemon queues (adv39 F2): a record may list 16;
 * a failure report goes to 8 at most, as an aggregate one, an address
 * listed again (in any case) once. */
static void failure_ruf_capped(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg-fr.XXXXXX", path[64], err[256];
    sg_rcollect *rc = failure_collector(dir, path);
    sg_dmarc_psl *psl = NULL;
    assert_int_equal(sg_dmarc_psl_open(&psl, NULL), 0);
    sg_arena *a = NULL;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    char txt[1024];
    size_t n = (size_t)snprintf(txt, sizeof txt,
                                "v=DMARC1; p=none; fo=1; ruf=mailto:r1@evil.test,"
                                "mailto:R1@EVIL.TEST,mailto:r1@evil.test");
    for (int i = 2; i <= 14; i++)
        n += (size_t)snprintf(txt + n, sizeof txt - n, ",mailto:r%d@evil.test", i);
    sg_dmarc_record rec;
    assert_int_equal(sg_dmarc_record_parse(a, txt, n, &rec), 0);
    assert_int_equal(rec.nruf, 16);
    sg_verdict_result vr;
    memset(&vr, 0, sizeof vr);
    vr.dmarc.result = SG_DMARC_RESULT_FAIL;
    vr.dmarc.record = &rec;
    vr.dmarc.policy_domain = vr.dmarc.author_domain = "evil.test";
    sg_rcollect_failure(rc, 0, psl, &vr, "203.0.113.5", "m@evil.test", "", 0, 1796547600 + 60);
    sg_rcollect_free(rc);
    sg_dmarc_psl_free(psl);
    sqlite3 *db = sgrep_send_open(path, err, sizeof err);
    assert_non_null(db);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT ruf FROM failure_queue", -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0),
                        "r1@evil.test r2@evil.test r3@evil.test r4@evil.test r5@evil.test "
                        "r6@evil.test r7@evil.test r8@evil.test");
    sqlite3_finalize(q);
    sqlite3_close(db);
    sg_arena_free(a);
    remove_dir(dir);
}

/* What the daemon's collection takes of one evaluation (adv18): of many
 * signatures the aligned pass and one other, the one naming the author's
 * domain (F1: eight failing made-up selectors made each forgery a row of
 * kilobytes); a null sender's postmaster@HELO as scope mfrom with an empty
 * envelope_from (F10); no failure report for a psd=y record (F2). */
static void collect_what_counts(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg-cw.XXXXXX", path[64], err[256];
    sg_rcollect *rc = failure_collector(dir, path);
    sg_arena *a = NULL;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    static const char txt[] = "v=DMARC1; p=reject; ruf=mailto:ruf@bank.example; fo=1";
    sg_dmarc_record rec;
    assert_int_equal(sg_dmarc_record_parse(a, txt, strlen(txt), &rec), 0);
    sg_dkim_sig_result sigs[9];
    memset(sigs, 0, sizeof sigs);
    char sel[8][64];
    for (int i = 0; i < 8; i++) {
        snprintf(sel[i], sizeof sel[i], "madeup%d", i);
        sigs[i].domain = i == 5 ? "mail.bank.example" : "junk.test";
        sigs[i].selector = sel[i];
        sigs[i].result = SG_DKIM_FAIL;
    }
    sigs[8] = (sg_dkim_sig_result){.domain = "bank.example", .selector = "s1"};
    sigs[8].result = SG_DKIM_PASS;
    sg_verdict_result vr;
    memset(&vr, 0, sizeof vr);
    vr.dmarc.result = SG_DMARC_RESULT_PASS;
    vr.dmarc.record = &rec;
    vr.dmarc.policy_domain = vr.dmarc.author_domain = "bank.example";
    vr.dmarc.dkim_align = SG_DMARC_ALIGN_RESULT_PASS;
    vr.dmarc.dkim_aligned_domain = "bank.example";
    vr.dkim = sigs;
    vr.ndkim = 9;
    vr.spf_checked = 1;
    vr.spf.result = SG_SPF_PASS;
    vr.spf.identity = SG_SPF_ID_MAILFROM;
    vr.spf.domain = "bounces.bank.example";
    const int64_t now = 1796256000 + 3600;
    sg_rcollect_add(rc, 0, &vr, "192.0.2.1", "none", NULL, NULL, now);
    /* a bounce: null reverse-path, SPF of the HELO name */
    vr.ndkim = 0;
    vr.dmarc.dkim_align = SG_DMARC_ALIGN_RESULT_FAIL;
    vr.dmarc.dkim_aligned_domain = NULL;
    vr.dmarc.result = SG_DMARC_RESULT_FAIL;
    vr.spf.identity = SG_SPF_ID_HELO;
    vr.spf.domain = "mta.bank.example";
    sg_rcollect_add(rc, 0, &vr, "192.0.2.2", "reject", NULL, NULL, now);
    /* a public suffix operator's record asks for failure reports */
    static const char psd[] = "v=DMARC1; p=reject; psd=y; ruf=mailto:ruf@nic.bank; fo=1";
    sg_dmarc_record prec;
    assert_int_equal(sg_dmarc_record_parse(a, psd, strlen(psd), &prec), 0);
    vr.dmarc.record = &prec;
    vr.dmarc.policy_domain = "bank";
    vr.dmarc.author_domain = "payroll.bank";
    sg_rcollect_failure(rc, 0, NULL, &vr, "192.0.2.9", "x@evil.test", "", 0, now);
    vr.dmarc.record = &rec; /* the same with an ordinary record is queued */
    vr.dmarc.policy_domain = vr.dmarc.author_domain = "bank.example";
    sg_rcollect_failure(rc, 0, NULL, &vr, "192.0.2.9", "x@evil.test", "", 0, now);
    sg_rcollect_free(rc);
    sqlite3 *db = sgrep_send_open(path, err, sizeof err);
    assert_non_null(db);
    char *dk = q1s(db, "SELECT dkim FROM collected WHERE source_ip='192.0.2.1'");
    assert_string_equal(dk, "bank.example/s1/pass mail.bank.example/madeup5/fail");
    free(dk);
    char *row = q1s(db, "SELECT envelope_from || '|' || spf FROM collected"
                        " WHERE source_ip='192.0.2.2'");
    assert_string_equal(row, "|mta.bank.example/mfrom/pass");
    free(row);
    assert_int_equal(q1(db, "SELECT count(*) FROM failure_queue WHERE policy_domain='bank'"), 0);
    assert_int_equal(
        q1(db, "SELECT count(*) FROM failure_queue WHERE policy_domain='bank.example'"), 1);
    sqlite3_close(db);
    sg_arena_free(a);
    remove_dir(dir);
}

/* The messages the store at path holds (sum of collected counts), read
 * without making it: -1 when there is none to read. */
static long long stored(const char *path)
{
    sqlite3 *db = NULL;
    long long n = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, "SELECT coalesce(sum(count), 0) FROM collected", -1, &st,
                               NULL) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
        }
    }
    sqlite3_close(db);
    return n;
}

static int occurrences(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static const char *file_text(const char *path)
{
    static char buf[16384];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The collector the store_lost tests drive, logging to logp: each
 * lost_add counts n passes of bank.example's p=reject from one source in
 * one hour. */
typedef struct {
    sg_rcollect *rc;
    sg_logger log;
    sg_arena *a;
    sg_dmarc_record rec;
    sg_verdict_result vr;
} lost_fx;

static void lost_open(lost_fx *f, const char *store, const char *logp)
{
    char err[256];
    static const char txt[] = "v=DMARC1; p=reject";
    memset(f, 0, sizeof *f);
    f->log.fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0600);
    assert_true(f->log.fd >= 0);
    assert_int_equal(sg_rcollect_new(&f->rc, store, 60, 1000, 1, err, sizeof err), 0);
    sg_rcollect_set_log(f->rc, &f->log);
    assert_int_equal(sg_arena_new(&f->a, 0), 0);
    assert_int_equal(sg_dmarc_record_parse(f->a, txt, strlen(txt), &f->rec), 0);
    f->vr.dmarc.result = SG_DMARC_RESULT_PASS;
    f->vr.dmarc.record = &f->rec;
    f->vr.dmarc.policy_domain = f->vr.dmarc.author_domain = "bank.example";
}

static void lost_add(lost_fx *f, int n)
{
    for (int i = 0; i < n; i++)
        sg_rcollect_add(f->rc, 0, &f->vr, "192.0.2.1", "none", NULL, NULL, 1796256000 + 3600);
}

/* Frees what lost_open made (the collector already freed) and dir. */
static void lost_close(lost_fx *f, const char *dir)
{
    sg_arena_free(f->a);
    close(f->log.fd);
    remove_dir(dir);
}

/* Overwrites the store at path in place (through a link too) with 48 KiB
 * that are not SQLite, as a bad restore or another program would. */
static void overwrite_with_junk(const char *path)
{
    static char junk[49152];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 7919 % 251);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
}

/* adv36 F5: report_store deleted under the daemon took every later count
 * into the unlinked file, the metrics saying nothing was lost; one
 * overwritten in place was written on without an error. Each flush now
 * checks the path still names the file it has open: deleted or replaced,
 * it is said, counted and opened again (made anew, as the start makes it);
 * damaged, the writes fail, counted and said, the counts wait in memory
 * until the path holds a store again. */
static void store_lost_under_the_daemon(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg-lost.XXXXXX", path[64], other[64], side[80], logp[80], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/r.db", dir);
    snprintf(other, sizeof other, "%s/other.db", dir);
    snprintf(logp, sizeof logp, "%s/log", dir);
    lost_fx f;
    sg_rcollect_stats st;
    lost_open(&f, path, logp);
    struct stat first;
    assert_int_equal(stat(path, &first), 0);
    lost_add(&f, 3);
    sg_rcollect_flush(f.rc);
    assert_int_equal(stored(path), 3);

    /* deleted, journal and all, as the probe did */
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    lost_add(&f, 4);
    sg_rcollect_flush(f.rc);
    assert_int_equal(stored(path), 4); /* made anew: the later counts are kept */
    struct stat again;
    assert_int_equal(stat(path, &again), 0);
    assert_int_equal(again.st_mode, first.st_mode);
    sg_rcollect_stats_get(f.rc, &st);
    assert_int_equal(st.store_lost, 1);
    assert_int_equal(st.flush_errors, 0);
    const char *text = file_text(logp);
    assert_non_null(strstr(text, "\"event\":\"report_store_lost\""));
    assert_non_null(strstr(text, "\"why\":\"deleted\""));
    assert_non_null(strstr(text, "\"event\":\"report_store_reopened\""));
    assert_non_null(strstr(text, "\"created\":true"));
    /* nothing new: nothing said */
    sg_rcollect_flush(f.rc);
    assert_int_equal(occurrences(file_text(logp), "report_store_lost"), 1);

    /* replaced (a restore, a rename): the counts go to the file there now */
    sqlite3 *db = sgrep_send_open(other, err, sizeof err);
    assert_non_null(db);
    sqlite3_close(db);
    assert_int_equal(rename(other, path), 0);
    lost_add(&f, 2);
    sg_rcollect_flush(f.rc);
    assert_int_equal(stored(path), 2);
    sg_rcollect_stats_get(f.rc, &st);
    assert_int_equal(st.store_lost, 2);
    assert_non_null(strstr(file_text(logp), "\"why\":\"replaced\""));
    assert_non_null(strstr(file_text(logp), "\"created\":false"));

    /* the file alone deleted: our journal beside it goes too, or SQLite
     * would lay it over the new store (the old counts back in it) */
    assert_int_equal(unlink(path), 0);
    lost_add(&f, 3);
    sg_rcollect_flush(f.rc);
    assert_int_equal(stored(path), 3);
    sg_rcollect_stats_get(f.rc, &st);
    assert_int_equal(st.store_lost, 3);

    /* overwritten in place: the writes fail, counted and said (once a
     * minute), and the counts wait in memory */
    overwrite_with_junk(path);
    lost_add(&f, 5);
    sg_rcollect_flush(f.rc);
    sg_rcollect_stats_get(f.rc, &st);
    assert_int_equal(st.store_lost, 4);
    assert_int_equal(st.flush_errors, 1);
    text = file_text(logp);
    assert_non_null(strstr(text, "not an SQLite database any more"));
    assert_int_equal(occurrences(text, "\"event\":\"report_flush_failed\""), 1);
    snprintf(side, sizeof side, "%s-wal", path);
    assert_int_equal(access(side, F_OK), -1); /* none of ours left to lay over a restore */
    lost_add(&f, 1);
    sg_rcollect_flush(f.rc);
    sg_rcollect_stats_get(f.rc, &st);
    assert_int_equal(st.flush_errors, 2);
    assert_int_equal(st.store_lost, 4); /* lost once */
    assert_int_equal(occurrences(file_text(logp), "\"event\":\"report_flush_failed\""), 1);
    /* the administrator removes it: made anew, with what waited (the open
     * is tried once a second) */
    assert_int_equal(unlink(path), 0);
    sleep(1);
    sg_rcollect_flush(f.rc);
    assert_int_equal(stored(path), 6);
    sg_rcollect_stats_get(f.rc, &st);
    assert_int_equal(st.flush_errors, 2);
    lost_add(&f, 1);
    sg_rcollect_free(f.rc); /* the last flush */
    assert_int_equal(stored(path), 7);
    assert_null(strstr(file_text(logp), "report_counts_lost"));
    /* a stop while the path holds no store: what memory held is said lost */
    assert_int_equal(sg_rcollect_new(&f.rc, path, 60, 1000, 1, err, sizeof err), 0);
    sg_rcollect_set_log(f.rc, &f.log);
    overwrite_with_junk(path);
    lost_add(&f, 2);
    sg_rcollect_free(f.rc);
    assert_non_null(strstr(file_text(logp), "\"event\":\"report_counts_lost\",\"path\":"));
    assert_non_null(strstr(file_text(logp), "\"groups\":1}"));
    lost_close(&f, dir);
}

/* rev24 R24-6: report_store a symbolic link. SQLite opens the target and
 * keeps its -wal and -shm beside it, not beside the link: the header
 * check (which does not follow a link) could not tell an overwritten
 * store, and the cleanup looked for our journal beside the link, leaving
 * it to be laid over the next store made at the target. */
static void store_lost_through_a_link(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg-lost.XXXXXX", link[64], real[64], side[80], logp[80], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(link, sizeof link, "%s/r.db", dir);
    snprintf(real, sizeof real, "%s/data/real.db", dir);
    snprintf(logp, sizeof logp, "%s/log", dir);
    snprintf(side, sizeof side, "%s/data", dir);
    assert_int_equal(mkdir(side, 0700), 0);
    assert_int_equal(symlink("data/real.db", link), 0);
    lost_fx f;
    sg_rcollect_stats st;
    lost_open(&f, link, logp);
    lost_add(&f, 3);
    sg_rcollect_flush(f.rc);
    assert_int_equal(stored(link), 3);
    snprintf(side, sizeof side, "%s-wal", real);
    assert_int_equal(access(side, F_OK), 0); /* beside the target */

    /* the target alone deleted: our journal beside it goes too */
    assert_int_equal(unlink(real), 0);
    lost_add(&f, 4);
    sg_rcollect_flush(f.rc);
    assert_int_equal(stored(link), 4);
    sg_rcollect_stats_get(f.rc, &st);
    assert_int_equal(st.store_lost, 1);
    assert_non_null(strstr(file_text(logp), "\"why\":\"deleted\""));

    /* overwritten in place through the link: seen, the writes fail, and
     * our journal beside the target is removed */
    overwrite_with_junk(link);
    lost_add(&f, 5);
    sg_rcollect_flush(f.rc);
    sg_rcollect_stats_get(f.rc, &st);
    assert_int_equal(st.store_lost, 2);
    assert_int_equal(st.flush_errors, 1);
    assert_non_null(strstr(file_text(logp), "not an SQLite database any more"));
    assert_int_equal(access(side, F_OK), -1);
    snprintf(side, sizeof side, "%s-shm", real);
    assert_int_equal(access(side, F_OK), -1);
    /* removed: made anew at the target, with what waited */
    assert_int_equal(unlink(real), 0);
    sleep(1);
    sg_rcollect_flush(f.rc);
    assert_int_equal(stored(link), 5);
    struct stat lst;
    assert_int_equal(lstat(link, &lst), 0);
    assert_true(S_ISLNK(lst.st_mode)); /* the link is left as it was */

    /* the link pointed at another store: replaced, counts go there */
    snprintf(side, sizeof side, "%s/data/other.db", dir);
    sqlite3 *db = sgrep_send_open(side, err, sizeof err);
    assert_non_null(db);
    sqlite3_close(db);
    assert_int_equal(unlink(link), 0);
    assert_int_equal(symlink("data/other.db", link), 0);
    lost_add(&f, 2);
    sg_rcollect_flush(f.rc);
    assert_int_equal(stored(side), 2);
    assert_int_equal(stored(real), 5);
    sg_rcollect_stats_get(f.rc, &st);
    assert_int_equal(st.store_lost, 3);
    assert_non_null(strstr(file_text(logp), "\"why\":\"replaced\""));
    sg_rcollect_free(f.rc);
    lost_close(&f, dir);
}

/* At most `limit` reports a day for one organisational domain: its own
 * first, then the busiest, then by name; other organisations untouched;
 * the same choice whatever the order the store gives the reports in. */
static void limit_per_org(void **state)
{
    (void)state;
    enum { N = 34 };
    char names[N][32];
    sgrep_day_report r[N];
    unsigned char keep[N];
    size_t n = 0;
    for (int i = 1; i <= 30; i++) { /* r1..r30.evil.test, i messages each */
        snprintf(names[n], sizeof names[n], "r%d.evil.test", i);
        r[n] = (sgrep_day_report){"evil.test", names[n], i, 0};
        n++;
    }
    r[n++] = (sgrep_day_report){"evil.test", "Evil.TEST", 1, 0}; /* its own, the quietest */
    r[n++] = (sgrep_day_report){"example.co.uk", "b.example.co.uk", 5, 0};
    r[n++] = (sgrep_day_report){"example.co.uk", "a.example.co.uk", 5, 0};
    r[n++] = (sgrep_day_report){"example.co.uk", "c.example.co.uk", 9, 0};

    assert_int_equal(sgrep_limit_per_org(r, n, 0, keep), 0); /* no limit */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(keep[i], 1);
    assert_int_equal(sgrep_limit_per_org(r, n, 40, keep), 0);

    for (int round = 0; round < 50; round++) {
        /* shuffled (a fixed sequence): the choice must not move */
        for (size_t i = n - 1; round > 0 && i > 0; i--) {
            size_t j = (size_t)(round * 7919 + i * 104729) % (i + 1);
            sgrep_day_report t = r[i];
            r[i] = r[j];
            r[j] = t;
        }
        memset(keep, 0xee, sizeof keep);
        assert_int_equal(sgrep_limit_per_org(r, n, 20, keep), 11);
        for (size_t i = 0; i < n; i++) {
            int want;
            if (!strcmp(r[i].org, "example.co.uk"))
                want = 1;
            else if (!strcmp(r[i].domain, "Evil.TEST"))
                want = 1;
            else
                want = r[i].messages >= 12; /* r30..r12: the 19 busiest */
            assert_int_equal(keep[i], want);
        }
        /* a re-run of the day: what an earlier run queued (r1 and r2,
         * the busiest then) is kept first, whatever the counts say now */
        for (size_t i = 0; i < n; i++)
            r[i].started = r[i].messages <= 2 && strcmp(r[i].domain, "Evil.TEST") != 0 &&
                           strcmp(r[i].org, "evil.test") == 0;
        assert_int_equal(sgrep_limit_per_org(r, n, 3, keep), 28 + 0);
        for (size_t i = 0; i < n; i++) {
            int want;
            if (!strcmp(r[i].org, "example.co.uk"))
                want = 1;
            else
                want = r[i].started || !strcmp(r[i].domain, "Evil.TEST");
            assert_int_equal(keep[i], want);
        }
        for (size_t i = 0; i < n; i++)
            r[i].started = 0;
        assert_int_equal(sgrep_limit_per_org(r, n, 2, keep), 29 + 1);
        for (size_t i = 0; i < n; i++) {
            int want;
            if (!strcmp(r[i].domain, "Evil.TEST") || !strcmp(r[i].domain, "r30.evil.test"))
                want = 1;
            else if (!strcmp(r[i].org, "example.co.uk")) /* c (9), then a before b */
                want = strcmp(r[i].domain, "b.example.co.uk") != 0;
            else
                want = 0;
            assert_int_equal(keep[i], want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(collect_bound_and_flush),
        cmocka_unit_test(collect_grows),
        cmocka_unit_test(collect_key_bounded),
        cmocka_unit_test(policy_defaults),
        cmocka_unit_test(report_id_stable),
        cmocka_unit_test(xml_writer),
        cmocka_unit_test(xml_any_bytes_valid),
        cmocka_unit_test(reasons),
        cmocka_unit_test(store_migrates_v1),
        cmocka_unit_test(addresses),
        cmocka_unit_test(failure_due),
        cmocka_unit_test(failure_redaction),
        cmocka_unit_test(failure_mail_and_queue),
        cmocka_unit_test(failure_limit_wildcard),
        cmocka_unit_test(failure_ruf_capped),
        cmocka_unit_test(limit_per_org),
        cmocka_unit_test(collect_what_counts),
        cmocka_unit_test(store_lost_under_the_daemon),
        cmocka_unit_test(store_lost_through_a_link),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
