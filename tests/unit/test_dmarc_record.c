/*
 * DMARC record parser (RFC 9989 4.7, 4.8): the OpenDMARC and Stalwart
 * tables from the conformance suite, plus our own cases.
 *
 * The OpenDMARC table was written against RFC 7489; each row is checked
 * twice: its valid/invalid verdict against our rfc7489_valid flag, and
 * the RFC 9989 reading (which is more lenient: bad values fall back to
 * defaults, rf/ri/pct are no longer tags) against the table below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <spoofguard/dmarc.h>

#include "helpers.h"

static size_t split_tabs(char *line, char **cols, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (n < max) {
        char *t = strchr(p, '\t');
        cols[n++] = p;
        if (t == NULL)
            break;
        *t = '\0';
        p = t + 1;
    }
    return n;
}

/* Iterate over the data lines of a TSV file (comments skipped). */
typedef void (*row_fn)(char **cols, size_t ncols, void *ctx);

static size_t each_row(const char *rel, row_fn fn, void *ctx)
{
    char path[4096];
    char *buf, *line, *save = NULL;
    size_t rows = 0;
    snprintf(path, sizeof(path), "%s/%s", sg_test_conformance_dir(), rel);
    buf = sg_test_read_file(path, NULL);
    assert_non_null(buf);
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *cols[16];
        size_t n;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[l - 1] = '\0';
        if (line[0] == '#')
            continue;
        n = split_tabs(line, cols, 16);
        fn(cols, n, ctx);
        rows++;
    }
    free(buf);
    return rows;
}

static int parse(sg_arena *a, const char *txt, sg_dmarc_record *r)
{
    return sg_dmarc_record_parse(a, txt, strlen(txt), r);
}

/* --- OpenDMARC record-parse.tsv ------------------------------------------ */

/* Our RFC 9989 reading of each row: parse rc, applicable, effective p, and
 * whether the row is an "RFC 7489-only" case (9989 accepts what 7489 and
 * OpenDMARC reject, or the other way round). */
static const struct {
    int n;
    int rc;
    int applicable;
    sg_dmarc_policy p;
    int rfc7489_only;
    int opendmarc_lenient; /* OpenDMARC accepts what RFC 7489 6.4 does not */
} OPENDMARC_9989[] = {
    {1, 0, 1, SG_DMARC_POLICY_NONE, 0, 0},
    {2, 0, 1, SG_DMARC_POLICY_NONE, 0, 0},
    {3, 0, 1, SG_DMARC_POLICY_REJECT, 0, 0},
    {4, 0, 1, SG_DMARC_POLICY_QUARANTINE, 0, 0},
    {5, 0, 0, SG_DMARC_POLICY_NONE, 0, 1},  /* p=n: invalid p, no rua: 4.10.1 */
    {6, SG_ESYNTAX, 0, 0, 0, 0},            /* empty: not a DMARC record */
    {7, SG_ESYNTAX, 0, 0, 0, 0},            /* v= not DMARC1 */
    {8, 0, 0, SG_DMARC_POLICY_NONE, 0, 0},  /* p=bob, no rua */
    {9, 0, 0, SG_DMARC_POLICY_NONE, 0, 0},  /* sp=bob, no rua */
    {10, 0, 1, SG_DMARC_POLICY_NONE, 1, 0}, /* adkim=bob: 9989 4.8 default r */
    {11, 0, 1, SG_DMARC_POLICY_NONE, 1, 0}, /* aspf=bob: default r */
    {12, 0, 1, SG_DMARC_POLICY_NONE, 1, 0}, /* rf: not a 9989 tag */
    {13, 0, 1, SG_DMARC_POLICY_NONE, 1, 0}, /* ri: not a 9989 tag */
    {14, 0, 1, SG_DMARC_POLICY_NONE, 1, 0}, /* pct: not a 9989 tag */
    {15, 0, 0, SG_DMARC_POLICY_NONE, 0, 0}, /* no p, no rua */
    {16, 0, 1, SG_DMARC_POLICY_NONE, 0, 0},
    {17, 0, 1, SG_DMARC_POLICY_NONE, 0, 0},
    {18, 0, 1, SG_DMARC_POLICY_NONE, 0, 0},
    {19, 0, 1, SG_DMARC_POLICY_NONE, 1, 0}, /* rf=000..: not a 9989 tag */
};

typedef struct {
    sg_arena *a;
    size_t checked, rfc7489_only, lenient;
} od_ctx;

static void od_row(char **cols, size_t n, void *vctx)
{
    od_ctx *ctx = vctx;
    sg_dmarc_record r;
    int num, rc;
    size_t i;
    int valid7489;
    assert_true(n >= 4);
    num = atoi(cols[0]);
    for (i = 0; i < sizeof(OPENDMARC_9989) / sizeof(OPENDMARC_9989[0]); i++)
        if (OPENDMARC_9989[i].n == num)
            break;
    assert_true(i < sizeof(OPENDMARC_9989) / sizeof(OPENDMARC_9989[0]));
    rc = parse(ctx->a, cols[1], &r);
    assert_int_equal(rc, OPENDMARC_9989[i].rc);
    /* "yes", "no" or "yes(opendmarc)" */
    valid7489 = strcmp(cols[3], "yes") == 0;
    if (rc == 0) {
        assert_int_equal(r.applicable, OPENDMARC_9989[i].applicable);
        assert_int_equal(r.p, OPENDMARC_9989[i].p);
        if (OPENDMARC_9989[i].opendmarc_lenient) {
            /* RFC 7489 6.4 allows only none/quarantine/reject */
            assert_string_equal(cols[3], "yes(opendmarc)");
            assert_false(r.rfc7489_valid);
            ctx->lenient++;
        } else {
            assert_int_equal(r.rfc7489_valid, valid7489);
        }
        if (OPENDMARC_9989[i].rfc7489_only) {
            /* valid for RFC 9989, invalid for RFC 7489 */
            assert_false(valid7489);
            assert_true(r.applicable);
            ctx->rfc7489_only++;
        }
    } else {
        assert_false(valid7489);
    }
    ctx->checked++;
}

static void test_opendmarc_record_parse(void **state)
{
    od_ctx ctx;
    (void)state;
    memset(&ctx, 0, sizeof(ctx));
    assert_int_equal(sg_arena_new(&ctx.a, 0), 0);
    assert_int_equal(each_row("dmarc/opendmarc/record-parse.tsv", od_row, &ctx), 19);
    assert_int_equal(ctx.checked, 19);
    assert_int_equal(ctx.rfc7489_only, 6);
    assert_int_equal(ctx.lenient, 1);
    sg_arena_free(ctx.a);
}

static void rf_row(char **cols, size_t n, void *vctx)
{
    sg_arena *a = vctx;
    sg_dmarc_record r;
    assert_int_equal(n, 3);
    assert_int_equal(parse(a, cols[0], &r), 0);
    if (strcmp(cols[1], "status") == 0) {
        assert_string_equal(cols[2], "DMARC_PARSE_OKAY");
        assert_true(r.applicable);
        assert_true(r.rfc7489_valid);
        /* pct is reported as obsolete (RFC 9989 A.6) */
        assert_true(r.warnings & SG_DMARC_W_OBSOLETE_PCT);
        assert_true(r.warnings & SG_DMARC_W_OBSOLETE_RF);
        assert_true(r.warnings & SG_DMARC_W_OBSOLETE_RI);
        assert_false(r.testing); /* pct=50 is not sampled under RFC 9989 */
    } else if (strcmp(cols[1], "pct") == 0) {
        assert_int_equal(r.pct, atoi(cols[2]));
    } else if (strcmp(cols[1], "adkim") == 0) {
        assert_int_equal(r.adkim,
                         cols[2][0] == 's' ? SG_DMARC_ALIGN_STRICT : SG_DMARC_ALIGN_RELAXED);
    } else if (strcmp(cols[1], "aspf") == 0) {
        assert_int_equal(r.aspf,
                         cols[2][0] == 's' ? SG_DMARC_ALIGN_STRICT : SG_DMARC_ALIGN_RELAXED);
    } else {
        fail_msg("unknown field %s", cols[1]);
    }
}

static void test_opendmarc_record_fields(void **state)
{
    sg_arena *a;
    (void)state;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    assert_int_equal(each_row("dmarc/opendmarc/record-fields.tsv", rf_row, a), 4);
    sg_arena_free(a);
}

/* --- Stalwart record-parse.tsv --------------------------------------------- */

static const char *uris_str(sg_arena *a, const sg_dmarc_uri *u, size_t n)
{
    char *buf = sg_arena_alloc(a, 1024);
    size_t i, o = 0;
    buf[0] = '\0';
    for (i = 0; i < n; i++) {
        o += (size_t)snprintf(buf + o, 1024 - o, "%s%s!%llu", i ? "," : "",
                              u[i].mailto ? u[i].mailto : u[i].uri,
                              (unsigned long long)u[i].max_size);
    }
    return buf;
}

static void st_row(char **cols, size_t n, void *vctx)
{
    sg_arena *a = vctx;
    sg_dmarc_record r;
    char fo[16];
    assert_true(n >= 11);
    assert_int_equal(parse(a, cols[1], &r), 0);
    assert_true(r.applicable);
    assert_string_equal(sg_dmarc_policy_str(r.p), cols[2]);
    assert_string_equal(sg_dmarc_policy_str(r.sp), cols[3]);
    assert_string_equal(sg_dmarc_policy_str(r.np), cols[4]);
    assert_string_equal(r.adkim == SG_DMARC_ALIGN_STRICT ? "s" : "r", cols[5]);
    assert_string_equal(r.aspf == SG_DMARC_ALIGN_STRICT ? "s" : "r", cols[6]);
    assert_string_equal(sg_dmarc_fo_str(r.fo, fo), cols[7]);
    assert_string_equal(uris_str(a, r.rua, r.nrua), cols[8]);
    assert_string_equal(uris_str(a, r.ruf, r.nruf), cols[9]);
    assert_string_equal(r.testing ? "y" : "n", cols[10]);
    assert_string_equal(r.psd == SG_DMARC_PSD_Y   ? "y"
                        : r.psd == SG_DMARC_PSD_N ? "n"
                                                  : "default",
                        cols[11]);
}

static void test_stalwart_record_parse(void **state)
{
    sg_arena *a;
    (void)state;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    assert_int_equal(each_row("dmarc/stalwart-mail-auth/record-parse.tsv", st_row, a), 6);
    sg_arena_free(a);
}

/* --- own cases ---------------------------------------------------------------- */

static void test_version_rules(void **state)
{
    sg_arena *a;
    sg_dmarc_record r;
    (void)state;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    /* 4.7 v: first tag, value case-sensitive; tag name per ABNF is not */
    assert_int_equal(parse(a, "p=none; v=DMARC1", &r), SG_ESYNTAX);
    assert_int_equal(parse(a, "v=dmarc1; p=none", &r), SG_ESYNTAX);
    assert_int_equal(parse(a, "v=DMARC1 p=none", &r), SG_ESYNTAX);
    assert_int_equal(parse(a, "v=DMARC10; p=none", &r), SG_ESYNTAX);
    assert_int_equal(parse(a, "v=spf1 -all", &r), SG_ESYNTAX);
    assert_int_equal(parse(a, "", &r), SG_ESYNTAX);
    assert_int_equal(parse(a, "V=DMARC1; p=reject", &r), 0);
    assert_int_equal(r.p, SG_DMARC_POLICY_REJECT);
    assert_int_equal(parse(a, "v = DMARC1 ; p = Reject ;", &r), 0);
    assert_int_equal(r.p, SG_DMARC_POLICY_REJECT);
    assert_int_equal(parse(a, "v=DMARC1", &r), 0);
    assert_false(r.applicable);
    /* a NUL inside the version value: not DMARC1; inside a later value:
     * that tag-spec is malformed and ignored */
    assert_int_equal(sg_dmarc_record_parse(a, "v=DMARC1\0; p=reject", 19, &r), SG_ESYNTAX);
    assert_int_equal(sg_dmarc_record_parse(a, "v=DMARC1; p=re\0ject", 20, &r), 0);
    assert_true(r.warnings & SG_DMARC_W_BAD_TAGSPEC);
    assert_int_equal(r.p_state, SG_DMARC_TAG_ABSENT);
    sg_arena_free(a);
}

static void test_policy_fallback(void **state)
{
    sg_arena *a;
    sg_dmarc_record r;
    (void)state;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    /* 4.10.1: missing p with a valid rua: act as p=none */
    assert_int_equal(parse(a, "v=DMARC1; rua=mailto:d@example.org", &r), 0);
    assert_true(r.applicable);
    assert_int_equal(r.p_state, SG_DMARC_TAG_ABSENT);
    assert_true(r.warnings & SG_DMARC_W_POLICY_FALLBACK);
    /* invalid sp or np with a valid rua: the whole record acts as p=none */
    assert_int_equal(parse(a, "v=DMARC1; p=reject; sp=bogus; rua=mailto:d@example.org", &r), 0);
    assert_true(r.applicable);
    assert_int_equal(r.p, SG_DMARC_POLICY_NONE);
    assert_int_equal(r.sp, SG_DMARC_POLICY_NONE);
    assert_int_equal(parse(a, "v=DMARC1; p=reject; np=all; rua=mailto:d@example.org", &r), 0);
    assert_int_equal(r.np_state, SG_DMARC_TAG_INVALID);
    assert_int_equal(r.p, SG_DMARC_POLICY_NONE);
    /* ... and without a valid rua: no DMARC processing */
    assert_int_equal(parse(a, "v=DMARC1; p=reject; np=all", &r), 0);
    assert_false(r.applicable);
    assert_int_equal(parse(a, "v=DMARC1; p=nonsense; rua=not a uri", &r), 0);
    assert_false(r.applicable);
    assert_true(r.warnings & SG_DMARC_W_BAD_URI);
    /* defaults: sp <- p, np <- sp */
    assert_int_equal(parse(a, "v=DMARC1; p=reject; sp=quarantine", &r), 0);
    assert_int_equal(r.np, SG_DMARC_POLICY_QUARANTINE);
    assert_int_equal(parse(a, "v=DMARC1; p=quarantine; np=reject", &r), 0);
    assert_int_equal(r.sp, SG_DMARC_POLICY_QUARANTINE);
    assert_int_equal(r.np, SG_DMARC_POLICY_REJECT);
    sg_arena_free(a);
}

static void test_t_psd_pct(void **state)
{
    sg_arena *a;
    sg_dmarc_record r;
    (void)state;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    assert_int_equal(parse(a, "v=DMARC1; p=reject; t=y", &r), 0);
    assert_true(r.testing);
    assert_int_equal(parse(a, "v=DMARC1; p=reject; t=maybe", &r), 0);
    assert_false(r.testing);
    assert_true(r.warnings & SG_DMARC_W_BAD_VALUE);
    /* RFC 9989 A.6: pct=0 ~ t=y; an explicit t= wins; other pct ignored */
    assert_int_equal(parse(a, "v=DMARC1; p=reject; pct=0", &r), 0);
    assert_true(r.testing);
    assert_int_equal(r.pct, 0);
    assert_true(r.warnings & SG_DMARC_W_OBSOLETE_PCT);
    assert_int_equal(parse(a, "v=DMARC1; p=reject; pct=0; t=n", &r), 0);
    assert_false(r.testing);
    assert_int_equal(parse(a, "v=DMARC1; p=reject; pct=10", &r), 0);
    assert_false(r.testing);
    assert_int_equal(r.pct, 10);
    assert_int_equal(parse(a, "v=DMARC1; p=reject; pct=abc", &r), 0);
    assert_int_equal(r.pct, -1);
    assert_false(r.rfc7489_valid);
    assert_int_equal(parse(a, "v=DMARC1; p=reject; psd=y", &r), 0);
    assert_int_equal(r.psd, SG_DMARC_PSD_Y);
    assert_int_equal(parse(a, "v=DMARC1; p=reject; psd=N", &r), 0);
    assert_int_equal(r.psd, SG_DMARC_PSD_N);
    assert_int_equal(parse(a, "v=DMARC1; p=reject; psd=n; psd=u", &r), 0);
    assert_int_equal(r.psd, SG_DMARC_PSD_N); /* first wins */
    assert_int_equal(parse(a, "v=DMARC1; p=reject; psd=u", &r), 0);
    assert_int_equal(r.psd, SG_DMARC_PSD_U);
    assert_false(r.warnings & SG_DMARC_W_BAD_VALUE);
    assert_int_equal(parse(a, "v=DMARC1; p=reject; psd=x", &r), 0);
    assert_int_equal(r.psd, SG_DMARC_PSD_U);
    sg_arena_free(a);
}

static void test_misc_tags(void **state)
{
    sg_arena *a;
    sg_dmarc_record r;
    char fo[16];
    (void)state;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    /* duplicate: first wins (RFC 9989 4.8 leniency) */
    assert_int_equal(parse(a, "v=DMARC1; p=reject; p=none", &r), 0);
    assert_int_equal(r.p, SG_DMARC_POLICY_REJECT);
    assert_true(r.warnings & SG_DMARC_W_DUP_TAG);
    /* fo: 0 and 1 are exclusive; a bad value leaves the default */
    assert_int_equal(parse(a, "v=DMARC1; p=none; fo=0:1", &r), 0);
    assert_string_equal(sg_dmarc_fo_str(r.fo, fo), "0");
    assert_int_equal(parse(a, "v=DMARC1; p=none; fo=1:d:s", &r), 0);
    assert_string_equal(sg_dmarc_fo_str(r.fo, fo), "1:d:s");
    assert_int_equal(parse(a, "v=DMARC1; p=none; fo=d:d", &r), 0);
    assert_string_equal(sg_dmarc_fo_str(r.fo, fo), "0");
    /* unknown and malformed tag-specs are ignored */
    assert_int_equal(parse(a, "v=DMARC1; p=none; x-y=1; =3; foo; bar=", &r), 0);
    assert_true(r.applicable);
    assert_true(r.warnings & SG_DMARC_W_BAD_TAGSPEC);
    /* report sizes */
    assert_int_equal(
        parse(a, "v=DMARC1; p=none; rua=mailto:a@b.example!1t, mailto:c@d.example!x", &r), 0);
    assert_int_equal(r.nrua, 2);
    assert_true(r.rua[0].max_size == (1ull << 40));
    assert_true(r.rua[1].max_size == 0);
    assert_string_equal(r.rua[1].mailto, "c@d.example");
    assert_int_equal(parse(a, "v=DMARC1; p=none; rua=mailto:a@b!99999999999999999999", &r), 0);
    assert_true(r.rua[0].max_size == 0);
    assert_true(r.rua[0].valid);
    sg_arena_free(a);
}

static void test_limits(void **state)
{
    sg_arena *a;
    sg_dmarc_record r;
    char *big;
    size_t i;
    (void)state;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    big = malloc(SG_DMARC_MAX_RECORD + 2);
    memcpy(big, "v=DMARC1; p=none; rua=", 22);
    for (i = 22; i < SG_DMARC_MAX_RECORD + 1; i++)
        big[i] = (i % 10 == 0) ? ',' : 'a';
    assert_int_equal(sg_dmarc_record_parse(a, big, SG_DMARC_MAX_RECORD + 1, &r), SG_ELIMIT);
    assert_int_equal(sg_dmarc_record_parse(a, big, SG_DMARC_MAX_RECORD, &r), 0);
    assert_int_equal(r.nrua, SG_DMARC_MAX_URIS);
    assert_true(r.warnings & SG_DMARC_W_TOO_MANY_URIS);
    free(big);
    assert_int_equal(sg_dmarc_record_parse(NULL, "v=DMARC1", 8, &r), SG_EINVAL);
    sg_arena_free(a);
}

/* A report's address (adv39 F3): mailto %-decoding turns %40, %25 and
 * %7C into '@', '%' and '|', so a record could write To: a@b@c, a
 * Postfix "percent hack" route (a%third.example@evil.test: delivered to
 * a third party without its consent) or a pipe; one '@' only, and no
 * '%', '!' or '|' (routes and pipes) anywhere. */
static void test_report_addr_ok(void **state)
{
    sg_arena *a;
    sg_dmarc_record r;
    (void)state;
    /* what is taken */
    assert_true(sg_dmarc_report_addr_ok("dmarc@example.com"));
    assert_true(sg_dmarc_report_addr_ok("dmarc+agg@example.com"));
    assert_true(sg_dmarc_report_addr_ok("first.last@sub.example.com"));
    assert_true(sg_dmarc_report_addr_ok("a-b_c=d&e'f/g{h}~i#j$k*l?m^n`o@example.com"));
    /* several '@' */
    assert_false(sg_dmarc_report_addr_ok("victim@victim.example@evil.test"));
    assert_false(sg_dmarc_report_addr_ok("a@b@c"));
    assert_false(sg_dmarc_report_addr_ok("@victim.example@evil.test"));
    /* routes: percent hack, bang path */
    assert_false(sg_dmarc_report_addr_ok("victim%victim.example@evil.test"));
    assert_false(sg_dmarc_report_addr_ok("victim.example!victim@evil.test"));
    assert_false(sg_dmarc_report_addr_ok("victim@evil.test%victim.example"));
    assert_false(sg_dmarc_report_addr_ok("victim@evil.test!x"));
    /* a pipe */
    assert_false(sg_dmarc_report_addr_ok("|/bin/touch/tmp/x@evil.test"));
    assert_false(sg_dmarc_report_addr_ok("a|b@evil.test"));
    /* refused before, still refused */
    assert_false(sg_dmarc_report_addr_ok("a b@example.com"));
    assert_false(sg_dmarc_report_addr_ok("<a@example.com>"));
    assert_false(sg_dmarc_report_addr_ok("a@example.com\nBcc: x@y"));
    assert_false(sg_dmarc_report_addr_ok("example.com"));
    assert_false(sg_dmarc_report_addr_ok("a@"));
    assert_false(sg_dmarc_report_addr_ok("@example.com"));
    assert_false(sg_dmarc_report_addr_ok(NULL));
    /* as the record gives them, %-decoded */
    assert_int_equal(sg_arena_new(&a, 0), 0);
    static const char rec[] = "v=DMARC1; p=none; rua=mailto:victim%40victim.example@e3.test,"
                              "mailto:victim%25victim.example@e5.test,"
                              "mailto:|/bin/touch%20/tmp/x@e29.test,mailto:ok+agg@e1.test";
    assert_int_equal(sg_dmarc_record_parse(a, rec, sizeof rec - 1, &r), 0);
    assert_int_equal(r.nrua, 4);
    for (size_t i = 0; i < 3; i++) {
        assert_non_null(r.rua[i].mailto);
        assert_false(sg_dmarc_report_addr_ok(r.rua[i].mailto));
    }
    assert_string_equal(r.rua[0].mailto, "victim@victim.example@e3.test");
    assert_true(sg_dmarc_report_addr_ok(r.rua[3].mailto));
    sg_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opendmarc_record_parse),
        cmocka_unit_test(test_opendmarc_record_fields),
        cmocka_unit_test(test_stalwart_record_parse),
        cmocka_unit_test(test_version_rules),
        cmocka_unit_test(test_policy_fallback),
        cmocka_unit_test(test_t_psd_pct),
        cmocka_unit_test(test_misc_tags),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_report_addr_ok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
