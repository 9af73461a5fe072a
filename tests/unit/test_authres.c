/*
 * Authentication-Results (RFC 8601): writer, parser, round trip, finder.
 *
 * The vectors below are the header field values of RFC 8601 Appendix B
 * (https://www.rfc-editor.org/rfc/rfc8601#appendix-B, examples B.2-B.7;
 * folding as printed, indentation kept). The full RFC text could not be
 * fetched here: they were transcribed from a published test suite that
 * quotes the appendix verbatim (the DKIM Verifier add-on's arhParser
 * tests) and checked against the RFC's own ABNF.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authres/authres_int.h"
#include <spoofguard/arena.h>
#include <spoofguard/authres.h>

static sg_arena *A;

static int setup(void **state)
{
    return sg_arena_new(&A, 0);
}

static int teardown(void **state)
{
    sg_arena_free(A);
    return 0;
}

static int parse(sg_authres *r, const char *s)
{
    size_t ep;
    return sg_authres_parse(r, A, s, strlen(s), &ep);
}

static const char *prop(const sg_authres_entry *e, const char *ptype, const char *property)
{
    for (size_t i = 0; i < e->nprops; i++)
        if (strcmp(e->props[i].ptype, ptype) == 0 && strcmp(e->props[i].property, property) == 0)
            return e->props[i].value;
    return NULL;
}

/* ====================================================================== */
/* RFC 8601 Appendix B                                                     */
/* ====================================================================== */

static void rfc8601_b2_none(void **state)
{
    sg_authres r;
    assert_int_equal(parse(&r, " example.org 1; none"), SG_OK);
    assert_string_equal(r.authserv_id, "example.org");
    assert_int_equal(r.version, 1);
    assert_int_equal(r.count, 0);
}

static void rfc8601_b3_spf(void **state)
{
    sg_authres r;
    assert_int_equal(parse(&r, " example.com;\r\n          spf=pass smtp.mailfrom=example.net"),
                     SG_OK);
    assert_string_equal(r.authserv_id, "example.com");
    assert_int_equal(r.version, -1);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.entries[0].method, "spf");
    assert_int_equal(r.entries[0].method_version, -1);
    assert_string_equal(r.entries[0].result, "pass");
    assert_null(r.entries[0].reason);
    assert_null(r.entries[0].comment);
    assert_int_equal(r.entries[0].nprops, 1);
    assert_string_equal(prop(&r.entries[0], "smtp", "mailfrom"), "example.net");
}

static void rfc8601_b4_several(void **state)
{
    sg_authres r;
    assert_int_equal(parse(&r, " example.com;\r\n"
                               "          auth=pass (cram-md5) smtp.auth=sender@example.net;\r\n"
                               "          spf=pass smtp.mailfrom=example.net"),
                     SG_OK);
    assert_int_equal(r.count, 2);
    assert_string_equal(r.entries[0].method, "auth");
    assert_string_equal(r.entries[0].result, "pass");
    assert_string_equal(r.entries[0].comment, "cram-md5");
    assert_string_equal(prop(&r.entries[0], "smtp", "auth"), "sender@example.net");
    assert_string_equal(r.entries[1].method, "spf");
    assert_string_equal(prop(&r.entries[1], "smtp", "mailfrom"), "example.net");

    assert_int_equal(parse(&r, " example.com; iprev=pass\r\n          policy.iprev=192.0.2.200"),
                     SG_OK);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.entries[0].method, "iprev");
    assert_string_equal(prop(&r.entries[0], "policy", "iprev"), "192.0.2.200");
}

static void rfc8601_b5_different_mtas(void **state)
{
    sg_authres r;
    assert_int_equal(parse(&r, " example.com;\r\n"
                               "          dkim=pass (good signature) header.d=example.com"),
                     SG_OK);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.entries[0].comment, "good signature");
    assert_string_equal(prop(&r.entries[0], "header", "d"), "example.com");

    assert_int_equal(parse(&r, " example.com;\r\n"
                               "          auth=pass (cram-md5) smtp.auth=sender@example.com;\r\n"
                               "          spf=fail smtp.mailfrom=example.com"),
                     SG_OK);
    assert_int_equal(r.count, 2);
    assert_string_equal(r.entries[1].result, "fail");
    assert_string_equal(prop(&r.entries[0], "smtp", "auth"), "sender@example.com");
}

static void rfc8601_b6_multi_tiered(void **state)
{
    sg_authres r;
    assert_int_equal(parse(&r, " example.com;\r\n"
                               "      dkim=pass reason=\"good signature\"\r\n"
                               "        header.i=@mail-router.example.net;\r\n"
                               "      dkim=fail reason=\"bad signature\"\r\n"
                               "        header.i=@newyork.example.com"),
                     SG_OK);
    assert_int_equal(r.count, 2);
    assert_string_equal(r.entries[0].reason, "good signature");
    assert_string_equal(prop(&r.entries[0], "header", "i"), "@mail-router.example.net");
    assert_string_equal(r.entries[1].result, "fail");
    assert_string_equal(r.entries[1].reason, "bad signature");
    assert_string_equal(prop(&r.entries[1], "header", "i"), "@newyork.example.com");

    assert_int_equal(
        parse(&r,
              " example.net;\r\n      dkim=pass (good signature) header.i=@newyork.example.com"),
        SG_OK);
    assert_string_equal(r.authserv_id, "example.net");
    assert_string_equal(prop(&r.entries[0], "header", "i"), "@newyork.example.com");
}

static void rfc8601_b7_comment_heavy(void **state)
{
    sg_authres r;
    assert_int_equal(parse(&r, " foo.example.net (foobar) 1 (baz);\r\n"
                               "    dkim (Because I like it) / 1 (One yay) = (wait for it) fail\r\n"
                               "      policy (A dot can go here) . (like that) expired\r\n"
                               "      (this surprised me) = (as I wasn't expecting it) 1362471462"),
                     SG_OK);
    assert_string_equal(r.authserv_id, "foo.example.net");
    assert_int_equal(r.version, 1);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.entries[0].method, "dkim");
    assert_int_equal(r.entries[0].method_version, 1);
    assert_string_equal(r.entries[0].result, "fail");
    assert_null(r.entries[0].comment); /* only whitespace after "fail" */
    assert_int_equal(r.entries[0].nprops, 1);
    assert_string_equal(prop(&r.entries[0], "policy", "expired"), "1362471462");
}

/* ====================================================================== */
/* Parser edge cases                                                       */
/* ====================================================================== */

static void parse_edge_cases(void **state)
{
    sg_authres r;
    /* quoted authserv-id, escapes resolved */
    assert_int_equal(parse(&r, "\"mx.ex\\ample.org\"; none"), SG_OK);
    assert_string_equal(r.authserv_id, "mx.example.org");
    /* comment before id, nested comments, "none" case-insensitive */
    assert_int_equal(parse(&r, "(a (nested \\) one)) mx.example.org (x);(y)NONE(z)"), SG_OK);
    assert_string_equal(r.authserv_id, "mx.example.org");
    assert_int_equal(r.count, 0);
    /* version 0 and leading zeros; method version */
    assert_int_equal(parse(&r, "id 007; dkim/2=pass"), SG_OK);
    assert_int_equal(r.version, 7);
    assert_int_equal(r.entries[0].method_version, 2);
    /* the comment after the result is kept, with nested parens */
    assert_int_equal(parse(&r, "id; dmarc=fail (p=reject (really) \\(x\\)) header.from=ex.com"),
                     SG_OK);
    assert_string_equal(r.entries[0].comment, "p=reject (really) (x)");
    /* quoted values with escapes; quoted local-part kept quoted */
    assert_int_equal(parse(&r, "id; dkim=pass header.b=\"ab/c\\\"d=\" "
                               "smtp.mailfrom=\"a b\"@ex.com smtp.helo=[x]"),
                     SG_ESYNTAX); /* "[x]" is not a token */
    assert_int_equal(parse(&r, "id; dkim=pass header.b=\"ab/c\\\"d=\" "
                               "smtp.mailfrom=\"a b\"@ex.com header.s=\"\""),
                     SG_OK);
    assert_string_equal(prop(&r.entries[0], "header", "b"), "ab/c\"d=");
    assert_string_equal(prop(&r.entries[0], "smtp", "mailfrom"), "\"a b\"@ex.com");
    assert_string_equal(prop(&r.entries[0], "header", "s"), "");
    /* dot-atom local-parts with atext that are tspecials */
    assert_int_equal(parse(&r, "id; spf=pass smtp.mailfrom=a/b=c?d@ex.com"), SG_OK);
    assert_string_equal(prop(&r.entries[0], "smtp", "mailfrom"), "a/b=c?d@ex.com");
    /* folding inside comments and quoted strings: CRLF removed, WSP kept */
    assert_int_equal(parse(&r, "id; dkim=pass (a\r\n b) reason=\"x\r\n\ty\""), SG_OK);
    assert_string_equal(r.entries[0].comment, "a b");
    assert_string_equal(r.entries[0].reason, "x\ty");
    /* UTF-8 in quoted strings and comments (RFC 6532) */
    assert_int_equal(parse(&r, "id; dkim=fail (\xc3\xa9t\xc3\xa9) reason=\"T\xc3\xa9st\""), SG_OK);
    assert_string_equal(r.entries[0].reason, "T\xc3\xa9st");
    /* whitespace around the "." and "=" of a property, CFWS at the end */
    assert_int_equal(parse(&r, "id;spf = pass smtp . mailfrom = ex.com (end) \r\n "), SG_OK);
    assert_string_equal(prop(&r.entries[0], "smtp", "mailfrom"), "ex.com");
    /* a method called "none" is fine after the first resinfo... */
    assert_int_equal(parse(&r, "id; spf=none; none=pass"), SG_OK);
    assert_int_equal(r.count, 2);
    /* ...and "reason" may be a ptype */
    assert_int_equal(parse(&r, "id; x=y reason.z=1"), SG_OK);
    assert_string_equal(prop(&r.entries[0], "reason", "z"), "1");
}

static void parse_malformed(void **state)
{
    static const char *bad[] = {
        "",
        "   ",
        "(unterminated; none",
        "id",                                 /* neither none nor resinfo */
        "id;",                                /* empty resinfo */
        "id; spf=pass;",                      /* trailing ";" */
        "id; none; spf=pass",                 /* none is the whole result */
        "id; none x",                         /*   ... and ends the field */
        "id; spf",                            /* no result */
        "id; spf=",                           /* no result */
        "id; spf=pass smtp.mailfrom",         /* no value */
        "id; spf=pass smtp.mailfrom=",        /* no value */
        "id; spf=pass smtp.=x",               /* no property */
        "id; spf=passsmtp.mailfrom=x",        /* keyword then "." */
        "id; spf=pass\"x\"",                  /* junk after result */
        "id; dkim=pass header.b=abc/def",     /* "/" needs quoting */
        "id; dkim=pass header.b=abc=",        /* "=" needs quoting */
        "id; dkim=pass header.d=a@b@c",       /* two "@" */
        "id; dkim=pass header.i=a..b@ex.com", /* not a dot-atom */
        "id; dkim=pass header.i=a@-ex.com",   /* bad domain */
        "id; dkim=pass header.i=a@ex..com",   /* bad domain */
        "id; dkim=pass header.i=a@",          /* no domain */
        "id; dkim=pass reason=a/b",           /* reason is a value */
        "id; dkim=pass reason=x@ex.com",      /* no @ form for reason */
        "id; dkim=pass header.d=x reason=y",  /* reason before props */
        "id; dkim=pass reason=x reason=y",    /* one reason */
        "id; dkim=pass foo=bar",              /* only reason= takes "=" */
        "id; dkim=pass (c",                   /* unterminated comment */
        "id; dkim=pass reason=\"x",           /* unterminated string */
        "id; dkim=pass reason=\"x\\",         /* dangling backslash */
        "id; spf=pass\r\nsmtp.mailfrom=x",    /* CRLF not followed by WSP */
        "id; spf=pass\nsmtp.mailfrom=x",      /* bare LF */
        "id; spf=pass\r smtp.mailfrom=x",     /* bare CR */
        "id; spf=pass\r\n",                   /* final CRLF is not value */
        "id; spf=pass (a\x01)",               /* control in comment */
        "id; spf=pass reason=\"a\x7f\"",      /* DEL in string */
        "id; spf=pass reason=\"a\\\x01\"",    /* control quoted-pair */
        "id; sp\xc3\xa9=pass",                /* non-ASCII keyword */
        "\xc3\xa9x.org; none",                /* non-ASCII unquoted id */
        "\"\"; none",                         /* empty authserv-id */
        "\"a\tb\"; none",                     /* TAB in authserv-id */
        "id 1 2; none",                       /* two versions */
        "id x; none",                         /* not a version */
        "id; dkim/=pass",                     /* empty method version */
        "id; dkim/1/2=pass",                  /* two method versions */
        "id; -spf=pass",                      /* keyword starting with "-" is fine? */
        "id; spf-=pass",                      /* keyword ending with "-" */
        "id; spf=pass-",                      /* result ending with "-" */
        "id; dkim=pass header.d=x header.s",  /* half a property */
        "id;; spf=pass",                      /* empty resinfo */
        "id; spf=pass; dkim=pass smtp.x=\"",  /* unterminated at the end */
        "id; dkim/1234567890=pass",           /* version too long (limit) */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sg_authres r;
        size_t ep = 12345;
        int rc = sg_authres_parse(&r, A, bad[i], strlen(bad[i]), &ep);
        if (strcmp(bad[i], "id; -spf=pass") == 0) {
            /* RFC 5321 Ldh-str lets a keyword start with "-" */
            assert_int_equal(rc, SG_OK);
            continue;
        }
        if (strcmp(bad[i], "id; dkim/1234567890=pass") == 0) {
            assert_int_equal(rc, SG_ELIMIT);
            continue;
        }
        if (rc != SG_ESYNTAX)
            fail_msg("accepted or wrong error %d for [%s]", rc, bad[i]);
        assert_true(ep <= strlen(bad[i]));
    }
    /* NUL inside the value */
    sg_authres r;
    assert_int_equal(sg_authres_parse(&r, A, "id; spf=pass\0x", 14, NULL), SG_ESYNTAX);
    assert_int_equal(sg_authres_parse(&r, A, "id; spf=pass (\0)", 16, NULL), SG_ESYNTAX);
    /* error position points at the offending byte */
    size_t ep;
    assert_int_equal(sg_authres_parse(&r, A, "id; spf=pass;", 13, &ep), SG_ESYNTAX);
    assert_int_equal(ep, 13);
    assert_int_equal(sg_authres_parse(&r, A, "id; dkim=pass header.b=ab/c", 27, &ep), SG_ESYNTAX);
    assert_int_equal(ep, 23);
    assert_int_equal(sg_authres_parse(NULL, A, "x", 1, NULL), SG_EINVAL);
}

static void parse_limits(void **state)
{
    sg_authres r;
    char *buf = malloc(SG_AUTHRES_MAX_INPUT + 100);
    assert_non_null(buf);
    /* comment nesting */
    size_t n = 0;
    n += (size_t)sprintf(buf, "id; spf=pass ");
    for (int i = 0; i < SG_AUTHRES_MAX_COMMENT_DEPTH; i++)
        buf[n++] = '(';
    for (int i = 0; i < SG_AUTHRES_MAX_COMMENT_DEPTH; i++)
        buf[n++] = ')';
    assert_int_equal(sg_authres_parse(&r, A, buf, n, NULL), SG_OK);
    n = (size_t)sprintf(buf, "id; spf=pass ");
    for (int i = 0; i <= SG_AUTHRES_MAX_COMMENT_DEPTH; i++)
        buf[n++] = '(';
    for (int i = 0; i <= SG_AUTHRES_MAX_COMMENT_DEPTH; i++)
        buf[n++] = ')';
    assert_int_equal(sg_authres_parse(&r, A, buf, n, NULL), SG_ELIMIT);
    /* entries */
    n = (size_t)sprintf(buf, "id");
    for (int i = 0; i < SG_AUTHRES_MAX_ENTRIES; i++)
        n += (size_t)sprintf(buf + n, "; m%d=pass", i);
    assert_int_equal(sg_authres_parse(&r, A, buf, n, NULL), SG_OK);
    assert_int_equal(r.count, SG_AUTHRES_MAX_ENTRIES);
    n += (size_t)sprintf(buf + n, "; over=pass");
    assert_int_equal(sg_authres_parse(&r, A, buf, n, NULL), SG_ELIMIT);
    /* properties */
    n = (size_t)sprintf(buf, "id; spf=pass");
    for (int i = 0; i < SG_AUTHRES_MAX_PROPS; i++)
        n += (size_t)sprintf(buf + n, " p.q%d=v", i);
    assert_int_equal(sg_authres_parse(&r, A, buf, n, NULL), SG_OK);
    assert_int_equal(r.entries[0].nprops, SG_AUTHRES_MAX_PROPS);
    n += (size_t)sprintf(buf + n, " p.over=v");
    assert_int_equal(sg_authres_parse(&r, A, buf, n, NULL), SG_ELIMIT);
    /* keyword length */
    n = (size_t)sprintf(buf, "id; ");
    memset(buf + n, 'k', SG_AUTHRES_MAX_KEYWORD + 1);
    n += SG_AUTHRES_MAX_KEYWORD + 1;
    n += (size_t)sprintf(buf + n, "=pass");
    assert_int_equal(sg_authres_parse(&r, A, buf, n, NULL), SG_ELIMIT);
    /* one element longer than a line can hold */
    n = (size_t)sprintf(buf, "id; dkim=pass header.b=");
    memset(buf + n, 'b', SG_AUTHRES_MAX_ELEMENT);
    n += SG_AUTHRES_MAX_ELEMENT;
    assert_int_equal(sg_authres_parse(&r, A, buf, n, NULL), SG_ELIMIT);
    /* whole input */
    memset(buf, ' ', SG_AUTHRES_MAX_INPUT + 1);
    memcpy(buf, "id; none", 8);
    assert_int_equal(sg_authres_parse(&r, A, buf, SG_AUTHRES_MAX_INPUT, NULL), SG_OK);
    assert_int_equal(sg_authres_parse(&r, A, buf, SG_AUTHRES_MAX_INPUT + 1, NULL), SG_ELIMIT);
    free(buf);
}

/* ====================================================================== */
/* Writer                                                                  */
/* ====================================================================== */

static void build_typical(sg_authres *ar)
{
    sg_authres_entry *e;
    sg_authres_init(ar, "mx.example.org");
    assert_int_equal(sg_authres_add(&e, A, ar, "spf", "pass"), SG_OK);
    assert_int_equal(sg_authres_add_prop(A, e, "smtp", "mailfrom", "bounce@example.com"), SG_OK);
    assert_int_equal(sg_authres_add_prop(A, e, "smtp", "helo", "out.example.com"), SG_OK);
    assert_int_equal(sg_authres_add(&e, A, ar, "dkim", "pass"), SG_OK);
    e->comment = "2048-bit key";
    assert_int_equal(sg_authres_add_prop(A, e, "header", "d", "example.com"), SG_OK);
    assert_int_equal(sg_authres_add_prop(A, e, "header", "s", "sel2024"), SG_OK);
    assert_int_equal(sg_authres_add_prop(A, e, "header", "a", "rsa-sha256"), SG_OK);
    assert_int_equal(
        sg_authres_add_prop_n(A, e, "header", "b", "gfT/i2HBxyzxyzxyz", SG_AUTHRES_HEADER_B_LEN),
        SG_OK);
    assert_int_equal(sg_authres_add(&e, A, ar, "dmarc", "pass"), SG_OK);
    e->comment = "policy=reject";
    assert_int_equal(sg_authres_add_prop(A, e, "header", "from", "example.com"), SG_OK);
    assert_int_equal(sg_authres_add_prop(A, e, "policy", "dmarc", "reject"), SG_OK);
}

static void format_exact(void **state)
{
    sg_authres ar;
    char buf[1024];
    size_t len;
    build_typical(&ar);
    assert_int_equal(sg_authres_format(buf, sizeof(buf), &len, &ar, SG_AUTHRES_UNFOLDED), SG_OK);
    assert_string_equal(buf, "mx.example.org; spf=pass smtp.mailfrom=bounce@example.com "
                             "smtp.helo=out.example.com; dkim=pass (2048-bit key) "
                             "header.d=example.com header.s=sel2024 header.a=rsa-sha256 "
                             "header.b=\"gfT/i2HB\"; dmarc=pass (policy=reject) "
                             "header.from=example.com policy.dmarc=reject");
    assert_int_equal(len, strlen(buf));
    assert_int_equal(sg_authres_format(buf, sizeof(buf), &len, &ar, SG_AUTHRES_FOLDED), SG_OK);
    assert_string_equal(buf,
                        "mx.example.org;\r\n"
                        "\tspf=pass smtp.mailfrom=bounce@example.com smtp.helo=out.example.com;\r\n"
                        "\tdkim=pass (2048-bit key) header.d=example.com header.s=sel2024\r\n"
                        "\t  header.a=rsa-sha256 header.b=\"gfT/i2HB\";\r\n"
                        "\tdmarc=pass (policy=reject) header.from=example.com policy.dmarc=reject");
    /* no result: RFC 8601 2.2 "none" */
    sg_authres none;
    sg_authres_init(&none, "mx.example.org");
    assert_int_equal(sg_authres_format(buf, sizeof(buf), NULL, &none, SG_AUTHRES_FOLDED), SG_OK);
    assert_string_equal(buf, "mx.example.org; none");
    none.version = 1;
    assert_int_equal(sg_authres_format(buf, sizeof(buf), NULL, &none, 0), SG_OK);
    assert_string_equal(buf, "mx.example.org 1; none");
    /* quoting: authserv-id that is not a token, reason, method version */
    sg_authres q;
    sg_authres_entry *e;
    sg_authres_init(&q, "mx \"1\"");
    assert_int_equal(sg_authres_add(&e, A, &q, "dkim", "fail"), SG_OK);
    e->method_version = 1;
    e->reason = "bad \\ sig";
    e->comment = "a (b) \\";
    assert_int_equal(sg_authres_add_prop(A, e, "header", "i", "@news.example.com"), SG_OK);
    assert_int_equal(sg_authres_add_prop(A, e, "header", "i", "x y@example.com"), SG_OK);
    assert_int_equal(sg_authres_add_prop(A, e, "header", "i", ""), SG_OK);
    assert_int_equal(sg_authres_format(buf, sizeof(buf), NULL, &q, 0), SG_OK);
    assert_string_equal(buf, "\"mx \\\"1\\\"\"; dkim/1=fail (a \\(b\\) \\\\) "
                             "reason=\"bad \\\\ sig\" header.i=@news.example.com "
                             "header.i=\"x y@example.com\" header.i=\"\"");
}

static void format_errors(void **state)
{
    sg_authres ar;
    sg_authres_entry *e;
    char buf[256];
    size_t len = 0;
    /* header injection through the authserv-id */
    static const char *bad_ids[] = {"",   "mx\r\nX-Evil: 1", "mx\n", "a\tb", "a\x7f", " ", " mx",
                                    "mx "};
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        sg_authres_init(&ar, bad_ids[i]);
        assert_int_equal(sg_authres_format(buf, sizeof(buf), NULL, &ar, 0), SG_EINVAL);
    }
    sg_authres_init(&ar, NULL);
    assert_int_equal(sg_authres_format(buf, sizeof(buf), NULL, &ar, 0), SG_EINVAL);
    /* values, comments and reasons with CR/LF */
    sg_authres_init(&ar, "mx");
    assert_int_equal(sg_authres_add(&e, A, &ar, "spf", "pass"), SG_OK);
    assert_int_equal(sg_authres_add_prop(A, e, "smtp", "mailfrom", "a\r\nX: y"), SG_OK);
    assert_int_equal(sg_authres_format(buf, sizeof(buf), NULL, &ar, 0), SG_EINVAL);
    e->props[0].value = "ok";
    e->comment = "x\ny";
    assert_int_equal(sg_authres_format(buf, sizeof(buf), NULL, &ar, 0), SG_EINVAL);
    e->comment = NULL;
    e->reason = "\r";
    assert_int_equal(sg_authres_format(buf, sizeof(buf), NULL, &ar, 0), SG_EINVAL);
    e->reason = NULL;
    /* keywords */
    e->method = "sp f";
    assert_int_equal(sg_authres_format(buf, sizeof(buf), NULL, &ar, 0), SG_EINVAL);
    e->method = "spf";
    e->props[0].ptype = "smtp.x";
    assert_int_equal(sg_authres_format(buf, sizeof(buf), NULL, &ar, 0), SG_EINVAL);
    e->props[0].ptype = "smtp";
    e->result = "";
    assert_int_equal(sg_authres_format(buf, sizeof(buf), NULL, &ar, 0), SG_EINVAL);
    e->result = "pass";
    e->method_version = -2;
    assert_int_equal(sg_authres_format(buf, sizeof(buf), NULL, &ar, 0), SG_EINVAL);
    e->method_version = -1;
    /* buffer too small: the length needed is still reported */
    assert_int_equal(sg_authres_format(buf, 5, &len, &ar, 0), SG_ELIMIT);
    assert_int_equal(len, strlen("mx; spf=pass smtp.mailfrom=ok"));
    assert_int_equal(buf[4], '\0');
    assert_int_equal(sg_authres_format(buf, len + 1, &len, &ar, 0), SG_OK);
    assert_string_equal(buf, "mx; spf=pass smtp.mailfrom=ok");
    char *s = NULL;
    assert_int_equal(sg_authres_format_arena(&s, &len, A, &ar, SG_AUTHRES_FOLDED), SG_OK);
    assert_string_equal(s, "mx;\r\n\tspf=pass smtp.mailfrom=ok");
    /* element too long for a line */
    char *big = malloc(SG_AUTHRES_MAX_ELEMENT + 1);
    memset(big, 'x', SG_AUTHRES_MAX_ELEMENT);
    big[SG_AUTHRES_MAX_ELEMENT] = '\0';
    e->props[0].value = big;
    assert_int_equal(sg_authres_format_arena(&s, &len, A, &ar, 0), SG_ELIMIT);
    free(big);
}

/* Every line of the folded form (counted with the field name) stays within
 * 78 characters, each resinfo starts a line, and unfolding gives the
 * one-line form back. */
static void format_folding(void **state)
{
    sg_authres ar;
    build_typical(&ar);
    char *f, *u;
    size_t fl, ul;
    assert_int_equal(sg_authres_format_arena(&f, &fl, A, &ar, SG_AUTHRES_FOLDED), SG_OK);
    assert_int_equal(sg_authres_format_arena(&u, &ul, A, &ar, SG_AUTHRES_UNFOLDED), SG_OK);
    size_t col = 24, lines = 1;
    for (size_t i = 0; i < fl; i++) {
        if (f[i] == '\r') {
            assert_int_equal(f[i + 1], '\n');
            assert_true(f[i + 2] == '\t');
            assert_true(col <= SG_AUTHRES_LINE);
            col = 0;
            lines++;
            i++;
            continue;
        }
        col += f[i] == '\t' ? 8 : 1;
    }
    assert_true(col <= SG_AUTHRES_LINE);
    assert_int_equal(lines, 5);
    /* unfolding (RFC 5322 2.2.3) and collapsing the indent gives u */
    char *x = malloc(fl + 1);
    size_t k = 0;
    for (size_t i = 0; i < fl; i++) {
        if (f[i] == '\r') {
            i += 2; /* CRLF */
            while (i < fl && (f[i] == '\t' || f[i] == ' '))
                i++;
            if (x[k - 1] != ' ')
                x[k++] = ' ';
            i--;
            continue;
        }
        x[k++] = f[i];
    }
    x[k] = '\0';
    assert_string_equal(x, u);
    free(x);
}

/* ====================================================================== */
/* Round trip                                                              */
/* ====================================================================== */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static const char *pick(const char *const *v, size_t n)
{
    return v[rnd((uint32_t)n)];
}

/* A random string from an alphabet that exercises quoting and escaping. */
static char *rnd_text(size_t maxlen)
{
    static const char alpha[] = "abcXYZ019.-_+@/=?;:,()<>[]\"\\ \t!#$%&'*^`{|}~";
    size_t n = rnd((uint32_t)maxlen + 1);
    char *s = sg_arena_alloc(A, n + 3);
    for (size_t i = 0; i < n; i++)
        s[i] = alpha[rnd(sizeof(alpha) - 1)];
    if (rnd(8) == 0 && n > 0) { /* a UTF-8 letter */
        s[0] = '\xc3';
        s[1 < n ? 1 : 0] = '\xa9';
        if (n == 1)
            s[0] = 'e';
    }
    s[n] = '\0';
    return s;
}

static void random_structure(sg_authres *ar)
{
    static const char *const ids[] = {"mx.example.org", "EXAMPLE.com",      "a", "mx 1", "x@y",
                                      "\"q\"",          "h\xc3\xa9.example"};
    static const char *const methods[] = {"spf",  "dkim",     "dmarc",     "arc", "iprev",
                                          "auth", "x-custom", "sender-id", "none"};
    static const char *const results[] = {"pass",      "fail",      "none",   "neutral", "softfail",
                                          "temperror", "permerror", "policy", "hardfail"};
    static const char *const ptypes[] = {"smtp", "header", "body", "policy", "reason"};
    static const char *const props[] = {"mailfrom", "helo", "d",    "s",     "a",      "b",
                                        "from",     "i",    "auth", "dmarc", "rcptto", "iprev"};
    static const char *const values[] = {"example.com",
                                         "user@example.com",
                                         "@example.com",
                                         "a.b+c/d=e?f@sub.example.org",
                                         "rsa-sha256",
                                         "gfT/i2HB",
                                         "192.0.2.1",
                                         "2001:db8::1",
                                         "\"q l\"@x.org",
                                         "",
                                         "a..b@c",
                                         "x@-y",
                                         "UPPER.Example.NET",
                                         "reject"};
    sg_authres_init(ar, rnd(4) == 0 ? rnd_text(12) : pick(ids, 7));
    size_t idl = strlen(ar->authserv_id);
    if (idl == 0 || strchr(ar->authserv_id, '\t') || ar->authserv_id[0] == ' ' ||
        ar->authserv_id[idl - 1] == ' ')
        ar->authserv_id = "fallback.example";
    ar->version = rnd(3) == 0 ? (int)rnd(3) : -1;
    size_t n = rnd(6);
    for (size_t i = 0; i < n; i++) {
        sg_authres_entry *e;
        assert_int_equal(sg_authres_add(&e, A, ar, pick(methods, 9), pick(results, 9)), SG_OK);
        if (rnd(4) == 0)
            e->method_version = (int)rnd(3);
        if (rnd(3) == 0)
            e->comment = rnd(2) ? rnd_text(20) : "policy=reject";
        if (rnd(4) == 0)
            e->reason = rnd(2) ? rnd_text(20) : "good";
        size_t np = rnd(7);
        for (size_t j = 0; j < np; j++) {
            const char *v = rnd(3) == 0 ? rnd_text(30) : pick(values, 14);
            assert_int_equal(sg_authres_add_prop(A, e, pick(ptypes, 5), pick(props, 12), v), SG_OK);
        }
    }
}

static void round_trip(void **state)
{
    for (int iter = 0; iter < 5000; iter++) {
        sg_arena_reset(A);
        sg_authres ar, back, again;
        random_structure(&ar);
        for (unsigned fl = 0; fl <= SG_AUTHRES_FOLDED; fl++) {
            char *s, *s2;
            size_t len, len2, ep = 0;
            assert_int_equal(sg_authres_format_arena(&s, &len, A, &ar, fl), SG_OK);
            int rc = sg_authres_parse(&back, A, s, len, &ep);
            if (rc != SG_OK)
                fail_msg("iter %d: parse %d at %zu of [%s]", iter, rc, ep, s);
            if (!sg_authres_equal(&ar, &back))
                fail_msg("iter %d: round trip differs for [%s]", iter, s);
            /* parse -> format -> parse is stable, byte for byte */
            assert_int_equal(sg_authres_format_arena(&s2, &len2, A, &back, fl), SG_OK);
            assert_string_equal(s, s2);
            assert_int_equal(sg_authres_parse(&again, A, s2, len2, NULL), SG_OK);
            assert_true(sg_authres_equal(&back, &again));
        }
    }
}

/* Fields written by others (comments anywhere, odd spacing) parse, and
 * parse -> format -> parse is a fixed point. */
static void reparse_stable(void **state)
{
    static const char *in[] = {
        " foo.example.net (foobar) 1 (baz);\r\n"
        "    dkim (Because I like it) / 1 (One yay) = (wait for it) fail\r\n"
        "      policy (A dot can go here) . (like that) expired\r\n"
        "      (this surprised me) = (as I wasn't expecting it) 1362471462",
        "mx.google.com;\r\n       dkim=pass header.i=@github.com header.s=pf2023 "
        "header.b=abcd;\r\n       spf=pass (google.com: domain of x@y.com designates 192.0.2.1 "
        "as permitted sender) smtp.mailfrom=x@y.com;\r\n       dmarc=pass (p=REJECT sp=REJECT "
        "dis=NONE) header.from=github.com",
        "\"q \\\"x\\\"\" 1; auth=pass (cram-md5) smtp.auth=\"a b\"@example.net",
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        sg_authres a, b;
        char *s;
        size_t len;
        assert_int_equal(parse(&a, in[i]), SG_OK);
        assert_int_equal(sg_authres_format_arena(&s, &len, A, &a, SG_AUTHRES_FOLDED), SG_OK);
        assert_int_equal(sg_authres_parse(&b, A, s, len, NULL), SG_OK);
        assert_true(sg_authres_equal(&a, &b));
    }
}

/* ====================================================================== */
/* Finder                                                                  */
/* ====================================================================== */

static sg_header hdr(const char *name, const char *value)
{
    sg_header h;
    memset(&h, 0, sizeof(h));
    h.name = name;
    h.name_len = strlen(name);
    h.value = value;
    h.value_len = strlen(value);
    h.raw = value;
    h.raw_len = h.value_len;
    return h;
}

static void value_claims(void **state)
{
    static const struct {
        const char *v;
        int ours;
    } t[] = {
        {" mx.example.org; spf=pass", 1},
        {" MX.Example.ORG; spf=pass", 1},            /* RFC 8601 5: case */
        {" mx.example.org.; none", 1},               /* trailing dot */
        {" (forged) mx.example.org; dkim=pass", 1},  /* comment first */
        {" (a (b) \\) c) mx.example.org; none", 1},  /* nested, escaped */
        {"\r\n\tmx.example.org;\r\n\tdkim=pass", 1}, /* folded raw */
        {"mx.example.org", 1},                       /* nothing else */
        {" mx.example.org;", 1},                     /* trailing ; */
        {" mx.example.org (x", 1},                   /* broken rest */
        {" mx.example.org;\x01garbage", 1},
        {" mx.example.org/junk; dkim=pass", 1}, /* token ends at / */
        {" mx.example.org(c); dkim=pass", 1},
        {" \"mx.example.org\"; dkim=pass", 1}, /* quoted */
        {" \"MX.example.org \"; dkim=pass", 1},
        {" \"mx.exam\\ple.org\"; dkim=pass", 1}, /* quoted-pair */
        {" \"mx.example.org; dkim=pass", 1},     /* unterminated */
        {" mx.example.org 1; dkim=pass", 1},
        {" mx.example.org\x7f; dkim=pass", 1}, /* lax: no, token: yes */
        {" mx.example.orgx; dkim=pass", 0},
        {" x.mx.example.org; dkim=pass", 0},
        {" example.org; dkim=pass", 0},
        {" (mx.example.org) other.example; dkim=pass", 0},
        {" (mx.example.org; dkim=pass", 0}, /* all comment */
        {" \"mx.example.org\"x; dkim=pass", 1},
        {" mx.example.org.x; none", 0},
        {"", 0},
        {"   ", 0},
        /* what a mail library decodes and a script trims (str.strip()) */
        {" =?utf-8?q?mx.example.org?=; dmarc=pass", 1},
        {" =?US-ASCII?B?bXguZXhhbXBsZS5vcmc=?=; dmarc=pass", 1},
        {" =?utf-8?q?mx=2Eexample?= =?utf-8?q?.org?=; dmarc=pass", 1}, /* joined */
        {" =?utf-8?q?mx.example?=.org; dmarc=pass", 1},
        {" =?utf-8?q?other.example?=; dmarc=pass", 0},
        {" =?utf-8?q?x.mx.example.org?=; dmarc=pass", 0},
        {" =?utf-8?q?mx.example.org?=x; dmarc=pass", 0},
        {" =?utf-8?x?mx.example.org?=; dmarc=pass", 0}, /* no such encoding */
        /* in its charset: UTF-16 writes even ASCII otherwise (adv30 IN-5) */
        {" =?utf-16?b?//5tAHgALgBlAHgAYQBtAHAAbABlAC4AbwByAGcA?=; dmarc=pass", 1},
        {" =?utf-16?b?//5vAHQAaABlAHIALgBlAHgAYQBtAHAAbABlAA==?=; dmarc=pass", 0},
        {" =?iso-8859-1?q?mx.example.org?=; dmarc=pass", 1},
        /* a charset we cannot read could say ours: taken as ours */
        {" =?x-no-such-charset?q?other.example?=; dmarc=pass", 1},
        {"\xc2\xa0mx.example.org; dmarc=pass", 1},     /* NBSP */
        {"\x0bmx.example.org; dmarc=pass", 1},         /* VT */
        {"\x0cmx.example.org; dmarc=pass", 1},         /* FF */
        {"\xe3\x80\x80mx.example.org; dmarc=pass", 1}, /* U+3000 */
        {"\xe2\x80\x8bmx.example.org; dmarc=pass", 1}, /* U+200B */
        {" mx.example.org\xc2\xa0; dmarc=pass", 1},
        {"\xc2\xa0x.mx.example.org; dmarc=pass", 0},
        {" mx.example.org..; dmarc=pass", 1},
        {" (x\\) mx.example.org; dmarc=pass", 1}, /* a reader's comment ends at ")" */
        {" 'mx.example.org'; dmarc=pass", 1},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int got = sg_authres_value_claims(t[i].v, strlen(t[i].v), "mx.example.org");
        if (got != t[i].ours)
            fail_msg("[%s]: got %d want %d", t[i].v, got, t[i].ours);
    }
    /* what may be trusted: the RFC reading alone */
    static const struct {
        const char *v;
        int ours;
    } strict[] = {
        {" mx.example.org; spf=pass", 1},          {" MX.Example.ORG.; spf=pass", 1},
        {" (c) mx.example.org; spf=pass", 1},      {" \"mx.example.org\"; spf=pass", 1},
        {" mx.example.org 1; spf=pass", 1},        {" =?utf-8?q?mx.example.org?=; dmarc=pass", 0},
        {"\xc2\xa0mx.example.org; dmarc=pass", 0}, {" mx.example.org..; dmarc=pass", 0},
        {" \"mx.example.org; dmarc=pass", 0},      {" mx.example.org/junk; dkim=pass", 0},
        {" (x\\) mx.example.org; dmarc=pass", 0},  {" x.mx.example.org; dmarc=pass", 0},
    };
    for (size_t i = 0; i < sizeof(strict) / sizeof(strict[0]); i++) {
        int got = sg_authres_value_is_ours(strict[i].v, strlen(strict[i].v), "mx.example.org");
        if (got != strict[i].ours)
            fail_msg("is_ours [%s]: got %d want %d", strict[i].v, got, strict[i].ours);
        /* whatever may be trusted is also deleted */
        if (got)
            assert_int_equal(
                sg_authres_value_claims(strict[i].v, strlen(strict[i].v), "mx.example.org"), 1);
    }
    /* a quoted authserv-id with blanks and ";" (found by the fuzzer):
     * what the writer emits for it is found again */
    sg_authres ar;
    char *s;
    size_t len;
    sg_authres_init(&ar, "mx; d\xc3\xa9");
    assert_int_equal(sg_authres_format_arena(&s, &len, A, &ar, 0), SG_OK);
    assert_string_equal(s, "\"mx; d\xc3\xa9\"; none");
    assert_int_equal(sg_authres_value_claims(s, len, ar.authserv_id), 1);
    /* ...and a lax reader would take it for "mx": so does the finder */
    assert_int_equal(sg_authres_value_claims(s, len, "mx"), 1);
    assert_int_equal(sg_authres_value_claims(s, len, "d\xc3\xa9"), 0);
    /* an authserv-id that is only a dot (found by the fuzzer) */
    assert_int_equal(sg_authres_value_claims(".;pz=ar", 7, "."), 1);
    assert_int_equal(sg_authres_value_claims(".;pz=ar", 7, "x"), 0);
    /* our id configured with a trailing dot or in upper case */
    assert_int_equal(sg_authres_value_claims(" mx.example.org; none", 21, "MX.EXAMPLE.ORG."), 1);
}

static void find_fields(void **state)
{
    sg_header h[] = {
        hdr("Received", "from x by y"),
        hdr("Authentication-Results", " other.example; spf=pass"),   /* AR #1 */
        hdr("authentication-results", " mx.example.org; dkim=pass"), /* AR #2 ours */
        hdr("ARC-Authentication-Results", " i=1; mx.example.org; spf=pass"),
        hdr("X-Authentication-Results", " mx.example.org; spf=pass"),
        hdr("Authentication-Results", " (c) MX.EXAMPLE.ORG;;;broken"), /* AR #3 ours */
        hdr("From", "a@b.example"),
        hdr("AUTHENTICATION-RESULTS", " mx.example.org.example; none"),       /* AR #4 */
        hdr("Authentication-Results", "\r\n\t\"mx.example.org\";\r\n\tnone"), /* AR #5 ours */
    };
    sg_authres_match *m;
    size_t n;
    assert_int_equal(sg_authres_find(&m, &n, A, h, 9, "mx.example.org"), SG_OK);
    assert_int_equal(n, 3);
    assert_int_equal(m[0].index, 2);
    assert_int_equal(m[0].ordinal, 2);
    assert_int_equal(m[1].index, 5);
    assert_int_equal(m[1].ordinal, 3);
    assert_int_equal(m[2].index, 8);
    assert_int_equal(m[2].ordinal, 5);
    assert_int_equal(sg_authres_find(&m, &n, A, h, 9, "nobody.example"), SG_OK);
    assert_int_equal(n, 0);
    assert_null(m);
    assert_int_equal(sg_authres_find(&m, &n, A, h, 9, "other.example"), SG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(m[0].ordinal, 1);
    assert_int_equal(sg_authres_find(&m, &n, A, NULL, 0, "x"), SG_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sg_authres_find(&m, &n, A, h, 9, ""), SG_EINVAL);
    /* what we write, we find */
    sg_authres ar;
    char *s;
    size_t len;
    build_typical(&ar);
    assert_int_equal(sg_authres_format_arena(&s, &len, A, &ar, SG_AUTHRES_FOLDED), SG_OK);
    assert_int_equal(sg_authres_value_claims(s, len, "mx.example.org"), 1);
}

/* The one-line form derived from the folded one (what the verdict stores)
 * is the writer's own unfolded form, for fields that fold in every place:
 * long values, comments and reasons with blanks, quotes and parentheses,
 * many results and properties. */
static void unfold_matches_writer(void **state)
{
    static const char alpha[] = "ab@.-_\"\\ ();=\txyz0  ";
    uint32_t seed = 99;
    char pool[48][400];
    size_t np = 0;
    (void)state;
#define RND(n) ((seed = seed * 1103515245u + 12345u) >> 8) % (n)
    for (int iter = 0; iter < 4000; iter++) {
        sg_authres ar;
        sg_authres_entry ents[8];
        sg_authres_prop props[8][6];
        sg_arena *a;
        char *folded, *line, *want;
        size_t fl, wl;
        assert_int_equal(sg_arena_new(&a, 0), 0);
        memset(ents, 0, sizeof(ents));
        sg_authres_init(&ar, "mx.example.com");
        ar.count = RND(8);
        ar.entries = ents;
        np = 0;
        for (size_t i = 0; i < ar.count; i++) {
            sg_authres_entry *e = &ents[i];
            e->method = "dkim";
            e->result = "pass";
            e->method_version = -1;
            e->nprops = RND(6);
            e->props = props[i];
            for (size_t j = 0; j <= e->nprops + 1 && np < 48; j++) {
                size_t n = RND(4) ? RND(20) : RND(200);
                for (size_t k = 0; k < n; k++)
                    pool[np][k] = alpha[RND(sizeof(alpha) - 1)];
                pool[np][n] = '\0';
                if (j < e->nprops) {
                    props[i][j].ptype = "header";
                    props[i][j].property = "d";
                    props[i][j].value = pool[np];
                } else if (j == e->nprops) {
                    e->comment = RND(2) ? pool[np] : NULL;
                } else {
                    e->reason = RND(2) ? pool[np] : NULL;
                }
                np++;
            }
        }
        assert_int_equal(sg_authres_format_arena(&folded, &fl, a, &ar, SG_AUTHRES_FOLDED), 0);
        assert_int_equal(sg_authres_format_arena(&want, &wl, a, &ar, SG_AUTHRES_UNFOLDED), 0);
        assert_non_null(line = sg_authres_unfold_arena(a, folded, fl));
        assert_string_equal(line, want);
        sg_arena_free(a);
    }
#undef RND
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc8601_b2_none),
        cmocka_unit_test(rfc8601_b3_spf),
        cmocka_unit_test(rfc8601_b4_several),
        cmocka_unit_test(rfc8601_b5_different_mtas),
        cmocka_unit_test(rfc8601_b6_multi_tiered),
        cmocka_unit_test(rfc8601_b7_comment_heavy),
        cmocka_unit_test(parse_edge_cases),
        cmocka_unit_test(parse_malformed),
        cmocka_unit_test(parse_limits),
        cmocka_unit_test(format_exact),
        cmocka_unit_test(format_errors),
        cmocka_unit_test(format_folding),
        cmocka_unit_test(unfold_matches_writer),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(reparse_stable),
        cmocka_unit_test(value_claims),
        cmocka_unit_test(find_fields),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
