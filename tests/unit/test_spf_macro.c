/* SPF macro expander: the RFC 7208 7.4 examples and the syntax rules of 7.1-7.3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "spf/spf_int.h"

/* RFC 7208 7.4: sender strong-bad@email.example.com, client 192.0.2.3,
 * PTR name mx.example.org. */
static const sg_spf_macro_ctx ctx4 = {
    .sender = "strong-bad@email.example.com",
    .local = "strong-bad",
    .sender_domain = "email.example.com",
    .domain = "email.example.com",
    .ip_i = "192.0.2.3",
    .ip_c = "192.0.2.3",
    .ptr = "mx.example.org",
    .v6 = 0,
    .helo = "mx.example.org",
    .receiver = "rcv.example.net",
    .now = 1234567890,
};

/* the IPv6 example: 2001:db8::cb01 */
static const sg_spf_macro_ctx ctx6 = {
    .sender = "strong-bad@email.example.com",
    .local = "strong-bad",
    .sender_domain = "email.example.com",
    .domain = "email.example.com",
    .ip_i = "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1",
    .ip_c = "2001:db8::cb01",
    .ptr = "mx.example.org",
    .v6 = 1,
    .helo = "mx.example.org",
};

static const char *expand(sg_arena *a, const char *spec, const sg_spf_macro_ctx *ctx,
                          sg_spf_macro_mode mode)
{
    char *out = NULL;
    const char *why = NULL;
    int rc = sg_spf_macro_expand(&out, NULL, a, spec, strlen(spec), ctx, mode, &why);
    return rc == 0 ? out : NULL;
}

static void rfc7208_7_4_examples(void **state)
{
    static const struct {
        const char *in, *out;
    } v[] = {
        {"%{s}", "strong-bad@email.example.com"},
        {"%{o}", "email.example.com"},
        {"%{d}", "email.example.com"},
        {"%{d4}", "email.example.com"},
        {"%{d3}", "email.example.com"},
        {"%{d2}", "example.com"},
        {"%{d1}", "com"},
        {"%{dr}", "com.example.email"},
        {"%{d2r}", "example.email"},
        {"%{l}", "strong-bad"},
        {"%{l-}", "strong.bad"},
        {"%{lr}", "strong-bad"},
        {"%{lr-}", "bad.strong"},
        {"%{l1r-}", "strong"},
        {"%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
        {"%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
        {"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
        {"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
        {"%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
    };
    sg_arena *a;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const char *got = expand(a, v[i].in, &ctx4, SG_SPF_MACRO_DOMAIN);
        assert_non_null(got);
        assert_string_equal(got, v[i].out);
    }
    assert_string_equal(expand(a, "%{ir}.%{v}._spf.%{d2}", &ctx6, SG_SPF_MACRO_DOMAIN),
                        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf."
                        "example.com");
    sg_arena_free(a);
}

static void escapes_and_letters(void **state)
{
    sg_arena *a;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    /* 7.3: %% %_ %- */
    assert_string_equal(expand(a, "a%%b%_c%-d", &ctx4, SG_SPF_MACRO_EXP), "a%b c%20d");
    /* exp-only letters c r t */
    assert_string_equal(expand(a, "%{c} %{r} %{t}", &ctx4, SG_SPF_MACRO_EXP),
                        "192.0.2.3 rcv.example.net 1234567890");
    assert_string_equal(expand(a, "%{c}", &ctx6, SG_SPF_MACRO_EXP), "2001:db8::cb01");
    assert_string_equal(expand(a, "%{r}", &ctx6, SG_SPF_MACRO_EXP), "unknown");
    assert_string_equal(expand(a, "%{p}.%{h}.%{v}", &ctx4, SG_SPF_MACRO_DOMAIN),
                        "mx.example.org.mx.example.org.in-addr");
    /* uppercase: URL-escaped (7.3), lowercase letters case-insensitive */
    sg_spf_macro_ctx c = ctx4;
    c.local = "~jack&jill=up-a_b3.c";
    assert_string_equal(expand(a, "%{L}", &c, SG_SPF_MACRO_EXP), "~jack%26jill%3Dup-a_b3.c");
    assert_string_equal(expand(a, "%{S}", &ctx4, SG_SPF_MACRO_EXP),
                        "strong-bad%40email.example.com");
    assert_string_equal(expand(a, "%{D2R}", &ctx4, SG_SPF_MACRO_DOMAIN), "example.email");
    /* several delimiters */
    c.local = "a-b+c,d/e_f=g.h";
    assert_string_equal(expand(a, "%{l-+,/_=.}", &c, SG_SPF_MACRO_DOMAIN), "a.b.c.d.e.f.g.h");
    /* parts a, b, "c,d/e_f=g.h"; reversed; rightmost two */
    assert_string_equal(expand(a, "%{l2r-+}", &c, SG_SPF_MACRO_DOMAIN), "b.a");
    assert_string_equal(expand(a, "%{l-+}", &c, SG_SPF_MACRO_DOMAIN), "a.b.c,d/e_f=g.h");
    /* digit larger than the part count: everything */
    assert_string_equal(expand(a, "%{d200}", &ctx4, SG_SPF_MACRO_DOMAIN), "email.example.com");
    /* %{p} without a validated name */
    c = ctx4;
    c.ptr = NULL;
    assert_string_equal(expand(a, "%{p}", &c, SG_SPF_MACRO_EXP), "unknown");
    sg_arena_free(a);
}

static void truncation_253(void **state)
{
    /* 7.3: left labels dropped until <= 253 octets */
    sg_arena *a;
    char spec[512];
    sg_spf_macro_ctx c = ctx4;
    c.sender_domain = "abcdefghij.abcdefghij.abcdefghij.abcdefghij.abcdefghij";
    assert_int_equal(sg_arena_new(&a, 0), 0);
    snprintf(spec, sizeof(spec), "x.%%{o}.%%{o}.%%{o}.%%{o}.%%{o}.example.com");
    const char *got = expand(a, spec, &c, SG_SPF_MACRO_DOMAIN);
    assert_non_null(got);
    assert_true(strlen(got) <= 253);
    assert_true(strlen(got) > 253 - 11);
    assert_true(got[0] != '.');
    assert_string_equal(got + strlen(got) - 12, ".example.com");
    /* a huge expansion (beyond the buffer) still keeps the right suffix */
    char big[4000] = "";
    for (int i = 0; i < 300; i++)
        strcat(big, "%{o}.");
    strcat(big, "tail.example.com");
    got = expand(a, big, &c, SG_SPF_MACRO_DOMAIN);
    assert_non_null(got);
    assert_true(strlen(got) <= 253);
    assert_string_equal(got + strlen(got) - 17, ".tail.example.com");
    sg_arena_free(a);
}

/* A sender's local part of 2,000 labels (a MAIL FROM of ~8 KB): each
 * transformer gives the parts a reference split gives. Before, every
 * reversed part was found by scanning from the start (1.2 s a message
 * with a hostile record expanding 85 such macros in each of 10 terms). */
static void long_values(void **state)
{
    enum { N = 2000 };
    static char local[N * 6], sender[N * 6 + 32];
    sg_arena *a;
    size_t n = 0;
    (void)state;
    /* a1-a2.a3-a4. ... .a1999-a2000: '-' and '.' alternate */
    for (int i = 1; i <= N; i++)
        n += (size_t)snprintf(local + n, sizeof(local) - n, "%sa%d",
                              i == 1  ? ""
                              : i % 2 ? "."
                                      : "-",
                              i);
    snprintf(sender, sizeof(sender), "%s@evil.example", local);
    sg_spf_macro_ctx c = ctx4;
    c.local = local;
    c.sender = sender;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    static const struct {
        const char *in, *out;
    } v[] = {
        {"%{l3r}", "a5-a6.a3-a4.a1-a2"},
        {"%{l3r-}", "a4.a5.a2.a3.a1"},
        {"%{l2}", "a1997-a1998.a1999-a2000"},
        {"%{l2-}", "a1998.a1999.a2000"},
        {"%{l1r.-}", "a1"},
        {"%{l2.-}", "a1999.a2000"},
        {"%{l4r.-}.x", "a4.a3.a2.a1.x"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const char *got = expand(a, v[i].in, &c, SG_SPF_MACRO_DOMAIN);
        if (got == NULL || strcmp(got, v[i].out) != 0)
            fail_msg("%s: got %s, want %s", v[i].in, got ? got : "(error)", v[i].out);
    }
    /* all 2,000 parts reversed: cut from the left to 253 octets (7.3) */
    const char *all = expand(a, "%{lr.-}", &c, SG_SPF_MACRO_DOMAIN);
    assert_non_null(all);
    assert_true(strlen(all) <= 253);
    assert_string_equal(all + strlen(all) - 9, ".a3.a2.a1");
    sg_arena_free(a);
}

/* The DOMAIN buffer as out_put leaves it after n bytes: 4,096, then 512
 * kept each time it fills and more follows. */
static size_t window_after(size_t n)
{
    size_t len = 0;
    while (n > 0) {
        if (len == SG_SPF_MAX_EXPANSION)
            len = 512;
        size_t k = SG_SPF_MAX_EXPANSION - len < n ? SG_SPF_MAX_EXPANSION - len : n;
        len += k;
        n -= k;
    }
    return len;
}

/* Thousands of macros over a 4,000-byte local part (adv35 F3: 5 records
 * of 5,000 %{lr-.+,/_=} cost 0.44 s, every macro reading the whole
 * value). The results are those of the expansion written out in full
 * (RFC 7208 7.3 truncation included), and the cost no longer grows with
 * macros x value: 20 such expansions took about 1.8 s of CPU before. */
static void many_macros_long_local(void **state)
{
    enum { L = 4000, M = 5000 };
    static char local[L + 1], sender[L + 32], spec[M * 12 + 16], want[SG_SPF_MAX_EXPANSION + 1];
    sg_arena *a;
    (void)state;
    memset(local, 'a', L);
    snprintf(sender, sizeof(sender), "%s@evil.example", local);
    sg_spf_macro_ctx c = ctx4;
    c.local = local;
    c.sender = sender;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    size_t n = 0;
    for (int i = 0; i < M; i++)
        n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%%{lr-.+,/_=}");

    clock_t t0 = clock();
    /* one label of 20 MB, then ".t": 7.3 cuts it all */
    memcpy(spec + n, ".t", 3);
    for (int round = 0; round < 20; round++) {
        const char *got = expand(a, spec, &c, SG_SPF_MACRO_DOMAIN);
        assert_non_null(got);
        assert_string_equal(got, "t");
    }
    double cpu = (double)(clock() - t0) / CLOCKS_PER_SEC;
    print_message("20 expansions of %d macros over a %d-byte local part: %.3f s CPU\n", M, L, cpu);
    assert_true(cpu < 0.5);

    /* no dot at all: the buffer as it stands, as before */
    spec[n] = '\0';
    const char *got = expand(a, spec, &c, SG_SPF_MACRO_DOMAIN);
    assert_non_null(got);
    assert_int_equal(strlen(got), window_after((size_t)M * L));
    assert_true(strspn(got, "a") == strlen(got));

    /* a value with delimiters: the parts a split of the value gives */
    for (size_t i = 0; i < L; i++)
        local[i] = i % 3 == 2 ? '/' : (char)('a' + i % 3);
    local[L - 1] = 'z'; /* ab/ab/.../ab/z */
    static const struct {
        const char *in, *out;
    } v[] = {
        {"%{l2/}.x", "ab.z.x"},
        {"%{l1r/}.x", "ab.x"},
        {"%{L2r/}.%{l1/}.x", "ab.ab.z.x"},
        {"%{l3+}.%{l128r/}.x", NULL},
    };
    for (size_t i = 0; i < 3; i++) {
        got = expand(a, v[i].in, &c, SG_SPF_MACRO_DOMAIN);
        if (got == NULL || strcmp(got, v[i].out) != 0)
            fail_msg("%s: got %s, want %s", v[i].in, got ? got : "(error)", v[i].out);
    }
    /* the whole value (no '+'), then 128 parts reversed: over the buffer,
     * then cut from the left to 253 octets */
    got = expand(a, v[3].in, &c, SG_SPF_MACRO_DOMAIN);
    assert_non_null(got);
    assert_true(strlen(got) <= 253 && strlen(got) > 200);
    assert_string_equal(got + strlen(got) - 8, ".ab.ab.x");
    assert_int_equal(strspn(got, "ab.x"), strlen(got));

    /* an explanation stops at 4,096 bytes: the escaped value, repeated */
    size_t w = 0;
    for (int i = 0; w < SG_SPF_MAX_EXPANSION; i++)
        for (size_t k = 0; k < L && w < SG_SPF_MAX_EXPANSION; k++) {
            const char *e = local[k] == '/' ? "%2F" : NULL;
            char one[2] = {local[k], '\0'};
            for (const char *p = e ? e : one; *p && w < SG_SPF_MAX_EXPANSION; p++)
                want[w++] = *p;
        }
    want[w] = '\0';
    n = 0;
    for (int i = 0; i < M; i++)
        n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%%{L}");
    got = expand(a, spec, &c, SG_SPF_MACRO_EXP);
    assert_non_null(got);
    assert_string_equal(got, want);
    sg_arena_free(a);
}

static void syntax(void **state)
{
    static const struct {
        const char *spec;
        sg_spf_macro_mode mode;
        int ok;
    } v[] = {
        {"%{d}", SG_SPF_MACRO_DOMAIN, 1},
        {"foo.example.com", SG_SPF_MACRO_DOMAIN, 1},
        {"foo.example.com.", SG_SPF_MACRO_DOMAIN, 1},
        {"%{d}.example-1.com", SG_SPF_MACRO_DOMAIN, 1},
        {"%%", SG_SPF_MACRO_DOMAIN, 1},
        {"%", SG_SPF_MACRO_DOMAIN, 0},
        {"%x.example.com", SG_SPF_MACRO_DOMAIN, 0},     /* bad escape */
        {"%{x}.example.com", SG_SPF_MACRO_DOMAIN, 0},   /* unknown letter */
        {"%{d", SG_SPF_MACRO_DOMAIN, 0},                /* unterminated */
        {"%{d0}.example.com", SG_SPF_MACRO_DOMAIN, 0},  /* 7.3: digit nonzero */
        {"%{d2x}.example.com", SG_SPF_MACRO_DOMAIN, 0}, /* bad transformer */
        {"%{c}.example.com", SG_SPF_MACRO_DOMAIN, 0},   /* 7.2: exp only */
        {"%{c}.example.com", SG_SPF_MACRO_EXP, 1},
        {"%{t}", SG_SPF_MACRO_EXP, 1},
        {"foo", SG_SPF_MACRO_DOMAIN, 0},         /* no "." toplabel */
        {"foo.123", SG_SPF_MACRO_DOMAIN, 0},     /* numeric toplabel */
        {"foo.-bar", SG_SPF_MACRO_DOMAIN, 0},    /* toplabel hyphen */
        {"foo.1-2", SG_SPF_MACRO_DOMAIN, 1},     /* LDH with hyphen */
        {"foo bar.com", SG_SPF_MACRO_DOMAIN, 0}, /* SP only in exp */
        {"foo bar", SG_SPF_MACRO_EXP, 1},
        {"caf\xc3\xa9.example", SG_SPF_MACRO_EXP, 0}, /* non-ASCII */
        {"", SG_SPF_MACRO_DOMAIN, 0},
        {"", SG_SPF_MACRO_EXP, 1},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const char *why = NULL;
        int rc = sg_spf_macro_check(v[i].spec, strlen(v[i].spec), v[i].mode, &why);
        if ((rc == 0) != v[i].ok)
            fail_msg("'%s' mode %d: got %d (%s)", v[i].spec, v[i].mode, rc, why ? why : "");
        if (rc != 0)
            assert_non_null(why);
    }
    /* an embedded NUL is not a macro-literal */
    assert_int_equal(sg_spf_macro_check("a\0b.com", 7, SG_SPF_MACRO_DOMAIN, NULL), SG_ESYNTAX);
    assert_true(sg_spf_macro_needs_ptr("x.%{p}.com", 10));
    assert_true(sg_spf_macro_needs_ptr("%{P2}", 5));
    assert_false(sg_spf_macro_needs_ptr("%%{p}", 5));
    assert_false(sg_spf_macro_needs_ptr("%{d}.p", 6));
}

static void domain_valid(void **state)
{
    assert_true(sg_spf_domain_valid("example.com", 11));
    assert_true(sg_spf_domain_valid("example.com.", 12));
    assert_false(sg_spf_domain_valid("localhost", 9));
    assert_false(sg_spf_domain_valid("a..com", 6));
    assert_false(sg_spf_domain_valid(".com", 4));
    assert_false(sg_spf_domain_valid("", 0));
    char l64[80];
    memset(l64, 'a', 64);
    memcpy(l64 + 64, ".com", 5);
    assert_false(sg_spf_domain_valid(l64, strlen(l64)));
    assert_true(sg_spf_domain_valid(l64 + 1, strlen(l64 + 1)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc7208_7_4_examples),   cmocka_unit_test(escapes_and_letters),
        cmocka_unit_test(truncation_253),         cmocka_unit_test(syntax),
        cmocka_unit_test(domain_valid),           cmocka_unit_test(long_values),
        cmocka_unit_test(many_macros_long_local),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
