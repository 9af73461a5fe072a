/*
 * util/domain: the one "within" and the one domain-syntax check, with the
 * callers' differences as flags (DKIM d=/s=, SPF targets, DNS names).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/domain.h"

#include <string.h>

static void within(void **state)
{
    static const struct {
        const char *name, *domain;
        int want;
    } cases[] = {
        {"example.com", "example.com", 1},
        {"Mail.EXAMPLE.com", "example.COM", 1}, /* ASCII case-insensitive */
        {"a.b.example.com", "example.com", 1},
        {"a.example.com.", "example.com", 1}, /* one root dot ignored, either side */
        {"a.example.com", "example.com.", 1},
        {"example.com.", "example.com.", 1},
        {"badexample.com", "example.com", 0}, /* a label boundary, not a suffix */
        {"example.com", "a.example.com", 0},
        {"com", "example.com", 0},
        {"example.com", "", 0}, /* an empty domain contains nothing */
        {"", "", 0},
        {"example.com", ".", 0},
        {"example.com..", "example.com", 0}, /* one dot only */
        {"xn--bcher-kva.example", "XN--BCHER-KVA.example", 1},
    };
    (void)state;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
        if (sg_domain_within(cases[k].name, cases[k].domain) != cases[k].want)
            fail_msg("within(%s, %s) != %d", cases[k].name, cases[k].domain, cases[k].want);
    assert_int_equal(sg_domain_within(NULL, "example.com"), 0);
    assert_int_equal(sg_domain_within("example.com", NULL), 0);
}

static void syntax(void **state)
{
    enum {
        DKIM = SG_DOMAIN_HOSTCHARS,
        SPF = SG_DOMAIN_ROOT_DOT | SG_DOMAIN_TWO_LABELS,
        QUERY = SG_DOMAIN_ROOT_DOT,
        DNS = SG_DOMAIN_ROOT_DOT | SG_DOMAIN_EMPTY,
    };
    char l63[64], l64[65], n253[254], n254[255];
    memset(l63, 'a', 63);
    l63[63] = '\0';
    memset(l64, 'a', 64);
    l64[64] = '\0';
    /* 4 labels of 63 and one of 1: 4 * 64 - 3 = 253 ... built as a.b.c.d */
    memset(n253, 'a', 253);
    for (int i = 63; i < 253; i += 64)
        n253[i] = '.';
    n253[253] = '\0';
    memcpy(n254, n253, 253);
    n254[253] = 'a';
    n254[254] = '\0';
    const struct {
        const char *d;
        unsigned flags;
        int want;
    } cases[] = {
        {"example.com", DKIM, 1},
        {"sel_1.example-x.com", DKIM, 1}, /* '_' and '-' in DKIM names */
        {"example.com.", DKIM, 0},        /* no root dot in a d= */
        {"exa mple.com", DKIM, 0},
        {"ex@mple.com", DKIM, 0},
        {"com", DKIM, 1},
        {"a..b", DKIM, 0},
        {".a", DKIM, 0},
        {"", DKIM, 0},
        {l63, DKIM, 1},
        {l64, DKIM, 0},
        {n253, DKIM, 1},
        {n254, DKIM, 0},
        {"com", SPF, 0}, /* RFC 7208 4.3: two labels */
        {"com.", SPF, 0},
        {"a.com.", SPF, 1},
        {"a b.c!.com", SPF, 1}, /* octets a macro may produce */
        {"a.com..", SPF, 0},
        {"localhost", QUERY, 1},
        {"localhost.", QUERY, 1},
        {".", QUERY, 0},
        {"", DNS, 1},
        {".", DNS, 1},
        {"a..", DNS, 0},
        {"a.b.", DNS, 1},
    };
    (void)state;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
        if (sg_domain_syntax_ok(cases[k].d, strlen(cases[k].d), cases[k].flags) != cases[k].want)
            fail_msg("syntax_ok(%s, %u) != %d", cases[k].d, cases[k].flags, cases[k].want);
    /* a NUL inside is never part of a name */
    assert_int_equal(sg_domain_syntax_ok("a\0b.com", 7, SPF), 0);
    assert_int_equal(sg_domain_syntax_ok("ab.com", 6, SPF), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(within),
        cmocka_unit_test(syntax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
