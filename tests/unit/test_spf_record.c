/* SPF record parser (RFC 7208 4.5, 4.6, 5, 6, 12). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <spoofguard/spf.h>

static sg_spf_record *parse_ok(const char *text)
{
    sg_spf_record *r = NULL;
    sg_spf_parse_error err;
    int rc = sg_spf_record_parse(&r, text, strlen(text), &err);
    if (rc != 0)
        fail_msg("'%s': %d (%s at %zu)", text, rc, err.reason ? err.reason : "", err.pos);
    return r;
}

static void is_record(void **state)
{
    assert_true(sg_spf_is_record("v=spf1", 6));
    assert_true(sg_spf_is_record("v=spf1 -all", 11));
    assert_true(sg_spf_is_record("V=SpF1 -all", 11)); /* 4.5: case-insensitive */
    assert_false(sg_spf_is_record("v=spf10 -all", 12));
    assert_false(sg_spf_is_record("v=spf1\t-all", 11));
    assert_false(sg_spf_is_record(" v=spf1 -all", 12));
    assert_false(sg_spf_is_record("v=spf", 5));
    assert_false(sg_spf_is_record("spf2.0/pra -all", 15));
}

static void full_record(void **state)
{
    sg_spf_record *r =
        parse_ok("v=spf1 +a:example.com/24//64 -mx ~ptr ?exists:%{i}.bl.example.org "
                 "ip4:192.0.2.0/24 ip6:2001:DB8::/32 include:_spf.example.net a//0 mx/30 "
                 "IP4:198.51.100.1 redirect=r.example.com exp=e.%{d} foo.bar-baz_1=%{s}  ");
    assert_int_equal(r->nmechs, 10);
    const sg_spf_mech *m = r->mechs;
    assert_int_equal(m[0].type, SG_SPF_MECH_A);
    assert_int_equal(m[0].qualifier, SG_SPF_PASS);
    assert_string_equal(m[0].domain_spec, "example.com");
    assert_int_equal(m[0].cidr4, 24);
    assert_int_equal(m[0].cidr6, 64);
    assert_string_equal(m[0].text, "+a:example.com/24//64");
    assert_int_equal(m[1].type, SG_SPF_MECH_MX);
    assert_int_equal(m[1].qualifier, SG_SPF_FAIL);
    assert_null(m[1].domain_spec);
    assert_int_equal(m[1].cidr4, -1);
    assert_int_equal(m[2].type, SG_SPF_MECH_PTR);
    assert_int_equal(m[2].qualifier, SG_SPF_SOFTFAIL);
    assert_int_equal(m[3].type, SG_SPF_MECH_EXISTS);
    assert_int_equal(m[3].qualifier, SG_SPF_NEUTRAL);
    assert_string_equal(m[3].domain_spec, "%{i}.bl.example.org"); /* kept unexpanded */
    assert_int_equal(m[4].type, SG_SPF_MECH_IP4);
    assert_int_equal(m[4].cidr4, 24);
    assert_memory_equal(m[4].addr, "\xc0\x00\x02\x00", 4);
    assert_int_equal(m[5].type, SG_SPF_MECH_IP6);
    assert_int_equal(m[5].cidr6, 32);
    assert_memory_equal(m[5].addr, "\x20\x01\x0d\xb8", 4);
    assert_int_equal(m[6].type, SG_SPF_MECH_INCLUDE);
    assert_string_equal(m[6].domain_spec, "_spf.example.net");
    assert_int_equal(m[7].cidr4, -1);
    assert_int_equal(m[7].cidr6, 0);
    assert_int_equal(m[8].cidr4, 30);
    assert_int_equal(m[9].type, SG_SPF_MECH_IP4); /* mechanism names case-insensitive */
    assert_string_equal(r->redirect, "r.example.com");
    assert_string_equal(r->exp, "e.%{d}");
    assert_int_equal(r->nunknown, 1);
    assert_false(r->has_all);
    /* references */
    assert_ptr_equal(sg_spf_record_ref(r), r);
    sg_spf_record_free(r);
    assert_string_equal(r->mechs[0].text, "+a:example.com/24//64");
    sg_spf_record_free(r);

    r = parse_ok("v=spf1");
    assert_int_equal(r->nmechs, 0);
    sg_spf_record_free(r);
    r = parse_ok("v=spf1 -all redirect=x.example.com");
    assert_true(r->has_all);
    sg_spf_record_free(r);
    /* a domain-spec that ends in a macro needs no toplabel */
    r = parse_ok("v=spf1 a:%{d} mx:foo.%{o} exists:%{l}%% ip4:0.0.0.0/0");
    sg_spf_record_free(r);
}

static void syntax_errors(void **state)
{
    static const char *const bad[] = {
        "v=spf1 a:",          /* empty domain-spec */
        "v=spf1 include",     /* include needs a target */
        "v=spf1 exists",      /* 5.7 */
        "v=spf1 all:foo.com", /* 5.1: all takes nothing */
        "v=spf1 all/24",
        "v=spf1 ip4:1.2.3.4/33", /* 5.6 */
        "v=spf1 ip4:1.2.3.4/",
        "v=spf1 ip4:1.2.3.4/032", /* no leading zeros (12) */
        "v=spf1 ip4:1.2.3",
        "v=spf1 ip4:1.2.3.4.5",
        "v=spf1 ip4:1.2.3.256",
        "v=spf1 ip4:01.2.3.4",
        "v=spf1 ip4",
        "v=spf1 ip6:::1/129",
        "v=spf1 ip6:1.2.3.4",
        "v=spf1 ip6:gggg::1",
        "v=spf1 a/33",
        "v=spf1 a//129",
        "v=spf1 mx:example.com/24//",
        "v=spf1 a:foo",     /* 7.1 domain-end */
        "v=spf1 a:foo.123", /* numeric toplabel */
        "v=spf1 a:example.com:8080",
        "v=spf1 foo", /* unknown mechanism */
        "v=spf1 -foo:bar.com",
        "v=spf1 -redirect=x.example.com",                       /* qualifier on a modifier */
        "v=spf1 redirect=a.example.com redirect=b.example.com", /* 6: at most once */
        "v=spf1 exp=a.example.com exp=b.example.com",
        "v=spf1 redirect=",
        "v=spf1 exp=%{c}.example.com",     /* 7.2: c only in explanation text */
        "v=spf1 exists:%{d0}.example.com", /* 7.3: digit nonzero */
        "v=spf1 exists:%{z}.example.com",
        "v=spf1 exists:%(ir).sbl.example.com",
        "v=spf1 a:foo%.example.com",
        "v=spf1 1foo=bar", /* 6: name starts with ALPHA */
        "v=spf1 foo=%",    /* unknown modifier: still a macro-string */
        "v=spf1 =bar",
        "v=spf1 +",
        "v=spf1 ip4:1.2.3.4 \xef\xbb\xbf-all", /* non-ASCII */
        "v=spf1 -all\x01",
        "v=spf10",
        "spf1 -all",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sg_spf_record *r = NULL;
        sg_spf_parse_error err = {0};
        int rc = sg_spf_record_parse(&r, bad[i], strlen(bad[i]), &err);
        if (rc != SG_ESYNTAX)
            fail_msg("'%s' parsed (rc %d)", bad[i], rc);
        assert_null(r);
        assert_non_null(err.reason);
    }
    /* an embedded NUL is a syntax error, not the end of the record */
    sg_spf_record *r = NULL;
    assert_int_equal(sg_spf_record_parse(&r, "v=spf1 -all\0 +all", 17, NULL), SG_ESYNTAX);
    /* and said as such, wherever the NUL is (a zone's "\000" keeps it) */
    static const char *const nul[] = {"v=spf1 \0 ip4:192.0.2.1 -all",
                                      "v=spf1 ip4:192.0.2.1\0 -all"};
    static const size_t nulat[] = {7, 20}, nullen[] = {27, 26};
    for (size_t i = 0; i < 2; i++) {
        sg_spf_parse_error e = {0};
        assert_int_equal(sg_spf_record_parse(&r, nul[i], nullen[i], &e), SG_ESYNTAX);
        assert_string_equal(e.reason, "a NUL byte in the record");
        assert_int_equal(e.pos, nulat[i]);
    }
    /* error position points at the offending term */
    sg_spf_parse_error err;
    assert_int_equal(sg_spf_record_parse(&r, "v=spf1 -all bad:x", 17, &err), SG_ESYNTAX);
    assert_int_equal(err.pos, 12);
}

static void term_limit(void **state)
{
    char buf[SG_SPF_MAX_TERMS * 8 + 64];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "v=spf1");
    for (int i = 0; i < SG_SPF_MAX_TERMS; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, " -all");
    sg_spf_record *r = NULL;
    assert_int_equal(sg_spf_record_parse(&r, buf, n, NULL), 0);
    assert_int_equal(r->nmechs, SG_SPF_MAX_TERMS);
    sg_spf_record_free(r);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, " -all");
    assert_int_equal(sg_spf_record_parse(&r, buf, n, NULL), SG_ESYNTAX);
}

static void names(void **state)
{
    assert_string_equal(sg_spf_result_str(SG_SPF_SOFTFAIL), "softfail");
    assert_int_equal(sg_spf_result_from_str("PermError"), SG_SPF_PERMERROR);
    assert_int_equal(sg_spf_result_from_str("bogus"), -1);
    assert_string_equal(sg_spf_mech_str(SG_SPF_MECH_EXISTS), "exists");
    assert_string_equal(sg_spf_identity_str(SG_SPF_ID_HELO), "helo");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(is_record),     cmocka_unit_test(full_record),
        cmocka_unit_test(syntax_errors), cmocka_unit_test(term_limit),
        cmocka_unit_test(names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
