/*
 * spoofguard audit's library side: the MTA-STS and TLS-RPT record checks
 * against the RFCs' own examples and grammar edges, and engine cases the
 * zone-file script test (tests/scripts/audit_cli.sh) does not reach: DNS
 * failures, more than 10 MX hosts, CNAMEs inside the SPF tree, macros.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spoofguard/audit.h>

static int ok_sts(const char *s)
{
    const char *why = NULL;
    return sg_audit_mtasts_check(s, strlen(s), &why) == SG_OK;
}

static int ok_rpt(const char *s)
{
    const char *why = NULL;
    return sg_audit_tlsrpt_check(s, strlen(s), &why) == SG_OK;
}

static void mtasts_records(void **state)
{
    (void)state;
    /* RFC 8461 3.1's example */
    assert_true(ok_sts("v=STSv1; id=20160831085700Z;"));
    assert_true(ok_sts("v=STSv1;id=1"));
    assert_true(ok_sts("v=STSv1; id=abc; ext-1.x=v!al"));
    assert_true(ok_sts("v=STSv1; id=12345678901234567890123456789012")); /* 32 */
    assert_false(ok_sts("v=STSv1; id=123456789012345678901234567890123"));
    assert_false(ok_sts("v=STSv1"));              /* id= is required */
    assert_false(ok_sts("v=stsv1; id=1"));        /* %s"v=STSv1": case-sensitive */
    assert_false(ok_sts("v=STSv1 id=1"));         /* fields need ';' */
    assert_false(ok_sts("v=STSv1; id=20-16"));    /* id is letters and digits */
    assert_false(ok_sts("v=STSv1; id=1; id=2"));  /* twice */
    assert_false(ok_sts("v=STSv1; id=1; _x=1"));  /* ext-name starts alnum */
    assert_false(ok_sts("v=STSv1; id=1; x=a b")); /* no space in a value */
    assert_false(ok_sts("id=1; v=STSv1"));        /* version first */
}

/* RFC 8461 3.2's example policy, and each rule of the grammar. */
static void mtasts_policies(void **state)
{
    sg_audit_mtasts_policy p;
    const char *reason;
    (void)state;
    static const char rfc[] = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
                              "mx: *.example.net\r\nmx: backupmx.example.com\r\n"
                              "max_age: 604800\r\n";
    assert_int_equal(sg_audit_mtasts_policy_parse(rfc, strlen(rfc), &p, &reason), SG_OK);
    assert_int_equal(p.mode, SG_AUDIT_MTASTS_ENFORCE);
    assert_int_equal(p.max_age, 604800);
    assert_int_equal(p.nmx, 3);
    /* RFC 8461 4.1: "*." stands for one leftmost label, case and a
     * trailing dot aside */
    assert_true(sg_audit_mtasts_mx_match(&p, "mail.example.com"));
    assert_true(sg_audit_mtasts_mx_match(&p, "MAIL.Example.COM."));
    assert_true(sg_audit_mtasts_mx_match(&p, "mx1.example.net"));
    assert_false(sg_audit_mtasts_mx_match(&p, "example.net"));
    assert_false(sg_audit_mtasts_mx_match(&p, "a.b.example.net"));
    assert_false(sg_audit_mtasts_mx_match(&p, "mail.example.com.evil.test"));
    assert_false(sg_audit_mtasts_mx_match(&p, "xmail.example.com"));
    assert_false(sg_audit_mtasts_mx_match(&p, ".example.net"));
    /* LF line ends, keys in any order, unknown keys ignored, the first
     * mode counts, no final line end */
    static const char lf[] = "mx: a.test\nmax_age: 0\nfuture_key: x y\nmode: testing\n"
                             "mode: enforce\nversion: STSv1";
    assert_int_equal(sg_audit_mtasts_policy_parse(lf, strlen(lf), &p, &reason), SG_OK);
    assert_int_equal(p.mode, SG_AUDIT_MTASTS_TESTING);
    assert_int_equal(p.max_age, 0);
    static const char none[] = "version: STSv1\nmode: none\nmax_age: 86400\n";
    assert_int_equal(sg_audit_mtasts_policy_parse(none, strlen(none), &p, &reason), SG_OK);
    assert_int_equal(p.nmx, 0);
    static const struct {
        const char *text, *reason;
    } bad[] = {
        {"mode: enforce\nmx: a.test\nmax_age: 1\n", "no version: STSv1 line"},
        {"version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n", "version is not STSv1"},
        {"version: STSv1\nmx: a.test\nmax_age: 1\n", "no mode line"},
        {"version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n",
         "mode is not enforce, testing or none"},
        {"version: STSv1\nmode: enforce\nmx: a.test\n", "no max_age line"},
        {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601\n",
         "max_age is over 31557600 (a year)"},
        {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n",
         "max_age is not a number of seconds"},
        {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 12345678901\n",
         "max_age is not 1 to 10 digits"},
        {"version: STSv1\nmode: enforce\nmax_age: 1\n",
         "no mx line (required unless mode is none)"},
        {"version: STSv1\nmode: enforce\nmx: a..test\nmax_age: 1\n",
         "an mx value that is not a host name or \"*.\" pattern"},
        {"version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n",
         "an mx value that is not a host name or \"*.\" pattern"},
        {"version: STSv1\nmode enforce\nmx: a.test\nmax_age: 1\n",
         "a line that is not \"key: value\""},
        {"version: STSv1\nmode: enforce\x01\nmx: a.test\nmax_age: 1\n",
         "a control character in a value"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        reason = NULL;
        assert_int_equal(
            sg_audit_mtasts_policy_parse(bad[i].text, strlen(bad[i].text), &p, &reason),
            SG_ESYNTAX);
        assert_string_equal(reason, bad[i].reason);
    }
    /* 64 mx lines fit, 65 do not */
    char big[8192];
    size_t n = (size_t)snprintf(big, sizeof(big), "version: STSv1\nmode: enforce\nmax_age: 1\n");
    for (int i = 0; i < 65; i++) {
        n += (size_t)snprintf(big + n, sizeof(big) - n, "mx: m%d.test\n", i);
        int rc = sg_audit_mtasts_policy_parse(big, n, &p, &reason);
        assert_int_equal(rc, i < 64 ? SG_OK : SG_ESYNTAX);
    }
}

static void tlsrpt_records(void **state)
{
    (void)state;
    /* RFC 8460 3.3's examples */
    assert_true(ok_rpt("v=TLSRPTv1;rua=mailto:reports@example.com"));
    assert_true(ok_rpt("v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt"));
    assert_true(ok_rpt("v=TLSRPTv1; rua=mailto:a@example.com, https://r.example/x;"));
    assert_false(ok_rpt("v=TLSRPTv1"));
    assert_false(ok_rpt("v=TLSRPTv1; rua=ftp://r.example/x"));
    assert_false(ok_rpt("v=TLSRPTv1; rua=mailto:"));
    assert_false(ok_rpt("v=TLSRPTv1; rua=mailto:a@b.example,"));
    assert_false(ok_rpt("v=TLSRPTv2; rua=mailto:a@b.example"));
    assert_false(ok_rpt("v=TLSRPTv1; rua=mailto:a@b.example; rua=mailto:c@d.example"));
}

/* Audit dom on zone text; returns the report (arena owned by caller). */
static sg_audit_report run(sg_arena *a, const char *zone_text, const char *dom)
{
    sg_zone *z;
    sg_resolver *r;
    sg_audit_report rep;
    size_t line = 0;
    assert_int_equal(sg_zone_new(&z), SG_OK);
    assert_int_equal(sg_zone_load_text(z, zone_text, strlen(zone_text), NULL, &line), SG_OK);
    assert_int_equal(sg_resolver_new_zone(&r, z), SG_OK);
    assert_int_equal(sg_audit_domain(&rep, a, r, NULL, dom), SG_OK);
    sg_resolver_free(r);
    sg_zone_free(z);
    return rep;
}

static const sg_audit_finding *find(const sg_audit_report *rep, const char *code)
{
    size_t i;
    for (i = 0; i < rep->nfindings; i++)
        if (strcmp(rep->findings[i].code, code) == 0)
            return &rep->findings[i];
    return NULL;
}

static void engine_edges(void **state)
{
    sg_arena *a;
    sg_audit_report rep;
    const sg_audit_finding *f;
    (void)state;
    assert_int_equal(sg_arena_new(&a, 0), SG_OK);

    /* a timeout inside the tree is an error, never a clean bill */
    rep = run(a,
              "e.test. TXT \"v=spf1 include:slow.e.test -all\"\n"
              "slow.e.test. TIMEOUT TXT\n",
              "e.test");
    f = find(&rep, "spf.dns_error");
    assert_non_null(f);
    assert_int_equal(f->severity, SG_AUDIT_ERROR);
    assert_int_equal(rep.spf_lookups, 1);

    /* past RFC 7208's limits (11 lookups) the record fails anyway: the
     * first unanswered query ends the walk instead of waiting on each of
     * the rest (adv34 F5), and the audit says its counts are incomplete */
    rep = run(a,
              "t.test. TXT \"v=spf1 a:a1.t.test a:a2.t.test a:a3.t.test a:a4.t.test a:a5.t.test "
              "a:a6.t.test a:a7.t.test a:a8.t.test a:a9.t.test a:a10.t.test a:a11.t.test "
              "a:s1.t.test a:s2.t.test -all\"\n"
              "a1.t.test. A 192.0.2.1\na2.t.test. A 192.0.2.1\na3.t.test. A 192.0.2.1\n"
              "a4.t.test. A 192.0.2.1\na5.t.test. A 192.0.2.1\na6.t.test. A 192.0.2.1\n"
              "a7.t.test. A 192.0.2.1\na8.t.test. A 192.0.2.1\na9.t.test. A 192.0.2.1\n"
              "a10.t.test. A 192.0.2.1\na11.t.test. A 192.0.2.1\n"
              "s1.t.test. TIMEOUT A\ns2.t.test. TIMEOUT A\n",
              "t.test");
    f = find(&rep, "spf.incomplete");
    assert_non_null(f);
    assert_int_equal(f->severity, SG_AUDIT_ERROR);
    assert_int_equal(rep.spf_lookups, 12);
    assert_non_null(find(&rep, "spf.too_many_lookups"));

    /* 11 MX hosts: permerror (RFC 7208 4.6.4); only 10 are looked up, and
     * the 3 without address records are void */
    rep = run(a,
              "m.test. TXT \"v=spf1 mx -all\"\n"
              "m.test. MX 1 h1.m.test.\nm.test. MX 2 h2.m.test.\nm.test. MX 3 h3.m.test.\n"
              "m.test. MX 4 h4.m.test.\nm.test. MX 5 h5.m.test.\nm.test. MX 6 h6.m.test.\n"
              "m.test. MX 7 h7.m.test.\nm.test. MX 8 h8.m.test.\nm.test. MX 9 h9.m.test.\n"
              "m.test. MX 10 h10.m.test.\nm.test. MX 11 h11.m.test.\n"
              "h1.m.test. A 192.0.2.1\nh2.m.test. A 192.0.2.2\nh3.m.test. A 192.0.2.3\n"
              "h4.m.test. A 192.0.2.4\nh5.m.test. A 192.0.2.5\nh6.m.test. A 192.0.2.6\n"
              "h7.m.test. A 192.0.2.7\n",
              "m.test");
    assert_non_null(find(&rep, "spf.too_many_mx"));
    assert_int_equal(rep.spf_lookups, 1);
    assert_int_equal(rep.spf_void_lookups, 3);
    assert_non_null(find(&rep, "spf.too_many_void"));

    /* an include reached through a CNAME, and a macro that is not followed */
    rep = run(a,
              "c.test. TXT \"v=spf1 include:alias.c.test exists:%{i}.x.c.test -all\"\n"
              "alias.c.test. CNAME real.c.test.\n"
              "real.c.test. TXT \"v=spf1 a:real.c.test -all\"\n"
              "real.c.test. A 192.0.2.9\n",
              "c.test");
    assert_int_equal(rep.spf_lookups, 3);
    assert_int_equal(rep.spf_void_lookups, 0);
    assert_null(find(&rep, "spf.include_missing"));
    assert_non_null(find(&rep, "spf.macro"));

    /* one record included again and again is walked once, its lookups
     * counted each time (an evaluation counts them each time, RFC 7208
     * 4.6.4), and reported once, quoting at most 512 octets of it */
    {
        char *zone = malloc(8192);
        size_t n = (size_t)sprintf(zone, "r.test. TXT \"v=spf1");
        for (int i = 0; i < 14; i++) /* one string: at most 255 octets */
            n += (size_t)sprintf(zone + n, " include:b.r.test");
        n += (size_t)sprintf(zone + n, " -all\"\nb.r.test. TXT \"v=spf1 a:x.r.test ip4:bogus\"");
        for (int i = 0; i < 4; i++) { /* 4 strings of 200 octets: one record */
            n += (size_t)sprintf(zone + n, " \"");
            memset(zone + n, 'x', 200);
            n += 200;
            zone[n++] = '"';
        }
        strcpy(zone + n, "\nx.r.test. A 192.0.2.1\n");
        rep = run(a, zone, "r.test");
        free(zone);
        size_t syntax = 0;
        for (size_t i = 0; i < rep.nfindings; i++)
            if (strcmp(rep.findings[i].code, "spf.syntax") == 0) {
                syntax++;
                assert_true(strlen(rep.findings[i].detail) < 700);
            }
        assert_int_equal(syntax, 1);
        assert_int_equal(rep.spf_lookups, 14);
        assert_non_null(find(&rep, "spf.too_many_lookups"));
    }

    /* two key records at one selector: an error, each judged, and the
     * report the same whatever the order of the answer (adv34 F6) */
    {
        static const char *recs[2] = {"\"v=DKIM1; k=rsa; p=bm90IGEga2V5\"",
                                      "\"v=DKIM1; k=rsa; t=y; p=\""};
        sg_audit_report two[2];
        sg_audit_selector sel = {.selector = "s1"};
        sg_audit_opts o;
        sg_audit_opts_init(&o);
        o.selectors = &sel;
        o.nselectors = 1;
        for (int order = 0; order < 2; order++) {
            char zone[512];
            sg_zone *z;
            sg_resolver *r;
            size_t line = 0;
            snprintf(zone, sizeof(zone),
                     "k.test. TXT \"v=spf1 -all\"\ns1._domainkey.k.test. TXT %s\n"
                     "s1._domainkey.k.test. TXT %s\n",
                     recs[order], recs[1 - order]);
            assert_int_equal(sg_zone_new(&z), SG_OK);
            assert_int_equal(sg_zone_load_text(z, zone, strlen(zone), NULL, &line), SG_OK);
            assert_int_equal(sg_resolver_new_zone(&r, z), SG_OK);
            assert_int_equal(sg_audit_domain(&two[order], a, r, &o, "k.test"), SG_OK);
            sg_resolver_free(r);
            sg_zone_free(z);
        }
        f = find(&two[0], "dkim.multiple");
        assert_non_null(f);
        assert_int_equal(f->severity, SG_AUDIT_ERROR);
        assert_non_null(find(&two[0], "dkim.syntax"));
        assert_non_null(find(&two[0], "dkim.revoked"));
        assert_int_equal(two[0].nfindings, two[1].nfindings);
        for (size_t i = 0; i < two[0].nfindings; i++) {
            assert_string_equal(two[0].findings[i].code, two[1].findings[i].code);
            assert_string_equal(two[0].findings[i].detail, two[1].findings[i].detail);
        }
        assert_int_equal(two[0].nerrors, two[1].nerrors);
    }

    /* not a domain name */
    {
        sg_zone *z;
        sg_resolver *r;
        assert_int_equal(sg_zone_new(&z), SG_OK);
        assert_int_equal(sg_resolver_new_zone(&r, z), SG_OK);
        assert_int_equal(sg_audit_domain(&rep, a, r, NULL, "no_dots"), SG_EINVAL);
        assert_int_equal(sg_audit_domain(&rep, a, r, NULL, "a..b"), SG_EINVAL);
        sg_resolver_free(r);
        sg_zone_free(z);
    }
    sg_arena_free(a);
}

/* A record of n TXT strings of 250 octets after its head: one record. */
static char *long_record(const char *owner, const char *head, int n)
{
    char *zone = malloc(strlen(owner) + strlen(head) + (size_t)n * 254 + 64), *p = zone;
    p += sprintf(p, "%s TXT \"%s\"", owner, head);
    for (int i = 0; i < n; i++) {
        p += sprintf(p, " \"");
        for (int j = 0; j < 250; j++)
            *p++ = j == 0 ? ';' : j == 1 ? ' ' : j < 5 ? 'x' : j == 5 ? '=' : 'y';
        *p++ = '"';
    }
    strcpy(p, "\n");
    return zone;
}

/* Records longer than what is read: the finding says so, with the limit,
 * and quotes at most 512 octets, as every finding quoting a record does. */
static void long_records(void **state)
{
    sg_arena *a;
    sg_audit_report rep;
    const sg_audit_finding *f;
    (void)state;
    assert_int_equal(sg_arena_new(&a, 0), SG_OK);

    /* 8 KB with p=reject: not "no p=" but too long */
    char *zone = long_record("_dmarc.l.test.", "v=DMARC1; p=reject", 32);
    rep = run(a, zone, "l.test");
    free(zone);
    f = find(&rep, "dmarc.syntax");
    assert_non_null(f);
    assert_int_equal(f->severity, SG_AUDIT_ERROR);
    assert_non_null(strstr(f->detail, "the DMARC record of l.test is 8018 octets, longer than the "
                                      "4096 a DMARC record may have here"));
    assert_null(strstr(f->detail, "no p="));
    assert_non_null(strstr(f->detail, "\"v=DMARC1; p=reject; xxx=yyy"));
    assert_true(strlen(f->detail) < 800);

    /* malformed MTA-STS and TLS-RPT records: quoted in part */
    zone = long_record("_mta-sts.m.test.", "v=STSv1; id=", 40);
    rep = run(a, zone, "m.test");
    free(zone);
    f = find(&rep, "mtasts.syntax");
    assert_non_null(f);
    assert_true(strlen(f->detail) < 800);
    zone = long_record("_smtp._tls.t.test.", "v=TLSRPTv1; rua=bogus", 40);
    rep = run(a, zone, "t.test");
    free(zone);
    f = find(&rep, "tlsrpt.syntax");
    assert_non_null(f);
    assert_true(strlen(f->detail) < 800);
    sg_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mtasts_records), cmocka_unit_test(mtasts_policies),
        cmocka_unit_test(tlsrpt_records), cmocka_unit_test(engine_edges),
        cmocka_unit_test(long_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
