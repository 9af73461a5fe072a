/*
 * DMARC evaluation against an in-memory zone: OpenDMARC alignment table,
 * Stalwart evaluation and policy-discovery tables, the PSL test list, and
 * our own cases for the RFC 9989 Tree Walk (deep names, the 8-query cap,
 * psd=, np=), strict/relaxed alignment, t=y, DNS errors and the async API.
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

typedef struct {
    sg_zone *z;
    sg_resolver *r;
    sg_arena *a;
} fx;

static void fx_init(fx *f)
{
    assert_int_equal(sg_zone_new(&f->z), 0);
    assert_int_equal(sg_resolver_new_zone(&f->r, f->z), 0);
    assert_int_equal(sg_arena_new(&f->a, 0), 0);
}

static void fx_free(fx *f)
{
    sg_resolver_free(f->r);
    sg_zone_free(f->z);
    sg_arena_free(f->a);
}

/* Add a TXT record given as plain text (quoted for the master-file form). */
static void add_txt(fx *f, const char *name, const char *txt)
{
    char buf[2048];
    size_t o = 0;
    buf[o++] = '"';
    for (; *txt && o < sizeof(buf) - 4; txt++) {
        if (*txt == '"' || *txt == '\\')
            buf[o++] = '\\';
        buf[o++] = *txt;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    assert_int_equal(sg_zone_add(f->z, name, "TXT", buf, 300), 0);
}

static void add(fx *f, const char *name, const char *type, const char *data)
{
    assert_int_equal(sg_zone_add(f->z, name, type, data, 300), 0);
}

static sg_dmarc_result check(fx *f, const sg_dmarc_opts *o, const char *author, int spf_pass,
                             const char *spf_dom, const char *dkim_d, int dkim_pass)
{
    sg_dmarc_result r;
    sg_dmarc_dkim dk;
    sg_dmarc_auth au;
    memset(&au, 0, sizeof(au));
    au.spf_pass = spf_pass;
    au.spf_domain = spf_dom;
    if (dkim_d) {
        dk.d = dkim_d;
        dk.pass = dkim_pass;
        au.dkim = &dk;
        au.ndkim = 1;
    }
    assert_int_equal(sg_dmarc_check_sync(f->a, f->r, o, author, &au, &r), 0);
    return r;
}

static sg_dmarc_psl *snapshot_psl(void)
{
    char path[4096];
    sg_dmarc_psl *p = NULL;
    snprintf(path, sizeof(path), "%s/dmarc/psl/public_suffix_list.dat", sg_test_conformance_dir());
    assert_int_equal(sg_dmarc_psl_load_file(&p, path), 0);
    return p;
}

/* Every slot past the last column is "", so a short row fails its
 * assert on the count, never reads garbage. */
static size_t split_tabs(char *line, char **cols, size_t max)
{
    static char empty[] = "";
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
    for (size_t i = n; i < max; i++)
        cols[i] = empty;
    return n;
}

static char *read_conf(const char *rel)
{
    char path[4096];
    char *b;
    snprintf(path, sizeof(path), "%s/%s", sg_test_conformance_dir(), rel);
    b = sg_test_read_file(path, NULL);
    assert_non_null(b);
    return b;
}

/* --- OpenDMARC alignment.tsv --------------------------------------------------- */

static void test_opendmarc_alignment(void **state)
{
    char *buf = read_conf("dmarc/opendmarc/alignment.tsv"), *line, *save = NULL;
    sg_dmarc_psl *psl = snapshot_psl();
    size_t rows = 0, lenient = 0;
    (void)state;
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c[8];
        size_t n;
        int mode_strict, want, m;
        char *author = NULL;
        const char *org = NULL;
        char rec[128];
        fx f;
        if (line[0] == '#')
            continue;
        n = split_tabs(line, c, 8);
        assert_true(n >= 5);
        mode_strict = strcmp(c[3], "strict") == 0;
        want = strcmp(c[4], "aligned") == 0;
        /* OpenDMARC ignores leading/trailing dots (rows 5, 6); those are
         * not domain names (RFC 1035 2.3.1), so an identifier written that
         * way is unusable here and cannot align. */
        if (n > 5 && strstr(c[5], "dots are ignored")) {
            want = 0;
            lenient++;
        }
        for (m = 0; m < 2; m++) { /* tree walk, then PSL */
            sg_dmarc_opts o;
            sg_dmarc_result r;
            fx_init(&f);
            sg_dmarc_opts_init(&o);
            if (m == 1) {
                o.discovery = SG_DMARC_DISCOVERY_PSL;
                o.psl = psl;
            }
            /* domain_b is the author; it publishes a policy at its
             * registrable domain (DMARC only aligns under a policy). */
            if (sg_dmarc_domain_normalise(f.a, c[2], strlen(c[2]), &author) == 0) {
                assert_int_equal(sg_dmarc_psl_registrable(f.a, psl, author, &org), 0);
                snprintf(rec, sizeof(rec), "_dmarc.%s", org ? org : author);
                add_txt(&f, rec,
                        mode_strict ? "v=DMARC1; p=reject; adkim=s; aspf=s" : "v=DMARC1; p=reject");
                r = check(&f, &o, c[2], 1, c[1], c[1], 1);
                if ((r.result == SG_DMARC_RESULT_PASS) != want)
                    fail_msg("row %s (%s): %s ~ %s: %s", c[0], m ? "psl" : "walk", c[1], c[2],
                             sg_dmarc_result_str(r.result));
            } else {
                assert_false(want); /* row 7: "..com" is no author domain */
            }
            fx_free(&f);
        }
        rows++;
    }
    assert_int_equal(rows, 10);
    assert_int_equal(lenient, 2);
    sg_dmarc_psl_free(psl);
    free(buf);
}

/* --- Stalwart evaluation.tsv --------------------------------------------------- */

static void test_stalwart_evaluation(void **state)
{
    char *buf = read_conf("dmarc/stalwart-mail-auth/evaluation.tsv"), *line, *save = NULL;
    size_t rows = 0;
    (void)state;
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c[12];
        fx f;
        sg_dmarc_result r;
        const char *from;
        int spf_pass, dkim_pass;
        if (line[0] == '#')
            continue;
        assert_true(split_tabs(line, c, 12) >= 11);
        fx_init(&f);
        add_txt(&f, c[1], c[2]);
        from = strchr(c[3], '@') + 1;
        spf_pass = strcmp(c[4], "pass") == 0;
        dkim_pass = strcmp(c[6], "pass") == 0;
        r = check(&f, NULL, from, spf_pass, c[5], c[7], dkim_pass);
        /* expected_*_alignment: pass / fail(not aligned) / none */
        assert_int_equal(r.dkim_align, c[8][0] == 'p'   ? SG_DMARC_ALIGN_RESULT_PASS
                                       : c[8][0] == 'f' ? SG_DMARC_ALIGN_RESULT_FAIL
                                                        : SG_DMARC_ALIGN_RESULT_NONE);
        assert_int_equal(r.spf_align, c[9][0] == 'p'   ? SG_DMARC_ALIGN_RESULT_PASS
                                      : c[9][0] == 'f' ? SG_DMARC_ALIGN_RESULT_FAIL
                                                       : SG_DMARC_ALIGN_RESULT_NONE);
        assert_string_equal(sg_dmarc_policy_str(r.policy), c[10]);
        assert_int_equal(r.result, c[8][0] == 'p' ? SG_DMARC_RESULT_PASS : SG_DMARC_RESULT_FAIL);
        fx_free(&f);
        rows++;
    }
    assert_int_equal(rows, 4);
    free(buf);
}

/* --- Stalwart policy-discovery.tsv ------------------------------------------- */

static void load_stalwart_zone(fx *f, char *spec)
{
    char *save = NULL, *item;
    if (strcmp(spec, "(empty zone)") == 0)
        return;
    for (item = strtok_r(spec, "|", &save); item; item = strtok_r(NULL, "|", &save)) {
        char *eq, *sp;
        while (*item == ' ')
            item++;
        eq = strchr(item, '=');
        sp = strchr(item, ' ');
        if (eq && (!sp || eq < sp)) { /* name=TXT */
            size_t l;
            *eq = '\0';
            l = strlen(eq + 1);
            while (l && eq[l] == ' ')
                eq[l--] = '\0';
            add_txt(f, item, eq + 1);
        } else { /* name TYPE value */
            char name[256], type[16], val[256];
            assert_int_equal(sscanf(item, "%255s %15s %255s", name, type, val), 3);
            add(f, name, type, val);
        }
    }
}

static void test_stalwart_policy_discovery(void **state)
{
    char *buf = read_conf("dmarc/stalwart-mail-auth/policy-discovery.tsv"), *line, *save = NULL;
    sg_dmarc_psl *psl = snapshot_psl();
    size_t rows = 0, differs_7489 = 0;
    (void)state;
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c[8], *zone;
        fx f;
        sg_dmarc_result r, r7;
        sg_dmarc_opts o7;
        const char *from, *spf;
        int num;
        if (line[0] == '#')
            continue;
        assert_true(split_tabs(line, c, 8) >= 6);
        num = atoi(c[0]);
        zone = strdup(c[1]);
        from = strchr(c[2], '@') + 1;
        spf = c[3][0] ? c[3] : NULL;
        fx_init(&f);
        load_stalwart_zone(&f, zone);
        sg_dmarc_opts_init(&o7);
        o7.discovery = SG_DMARC_DISCOVERY_PSL;
        o7.psl = psl;
        /* SPF pass is assumed where a domain is given; no DKIM */
        r = check(&f, NULL, from, spf != NULL, spf, NULL, 0);
        r7 = check(&f, &o7, from, spf != NULL, spf, NULL, 0);
        if (strncmp(c[4], "policy=", 7) == 0) {
            assert_string_equal(sg_dmarc_policy_str(r.policy), c[4] + 7);
            assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
        } else if (strncmp(c[4], "no DMARC record", 15) == 0) {
            assert_int_equal(r.result, SG_DMARC_RESULT_NONE);
            assert_null(r.policy_domain);
        } else if (strncmp(c[4], "spf alignment=pass", 18) == 0) {
            assert_int_equal(r.spf_align, SG_DMARC_ALIGN_RESULT_PASS);
            assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
        } else if (strncmp(c[4], "spf alignment=fail", 18) == 0) {
            assert_int_equal(r.spf_align, SG_DMARC_ALIGN_RESULT_FAIL);
            assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
        } else {
            fail_msg("unknown expectation %s", c[4]);
        }
        /* Rows whose note names an RFC 7489 difference: the PSL mode gives
         * the RFC 7489 answer. Row 3: np is honoured in both modes (RFC
         * 9091 extends 7489). Row 7: the PSL (".example" unlisted) puts
         * giant.bank.example and mega.bank.example under bank.example, so
         * RFC 7489 aligns them. Row 6: RFC 7489 discovery only asks the
         * author domain and its PSL Organizational Domain (example.com),
         * never mail.example.com, so DMARC does not apply at all there. */
        if (num == 7) {
            assert_int_equal(r7.spf_align, SG_DMARC_ALIGN_RESULT_PASS);
            assert_int_equal(r7.result, SG_DMARC_RESULT_PASS);
            differs_7489++;
        } else if (num == 6) {
            assert_int_equal(r7.result, SG_DMARC_RESULT_NONE);
            differs_7489++;
        } else {
            assert_int_equal(r7.result, r.result);
            assert_int_equal(r7.policy, r.policy);
        }
        if (num == 8) {
            /* 8 walk queries (4.10 cap) + A, AAAA, MX for np */
            assert_int_equal(r.dns_queries, 11);
            assert_int_equal(r.author_exists, 0);
            assert_int_equal(r.policy_tag, SG_DMARC_FROM_TAG_NP);
        }
        free(zone);
        fx_free(&f);
        rows++;
    }
    assert_int_equal(rows, 8);
    assert_int_equal(differs_7489, 2);
    sg_dmarc_psl_free(psl);
    free(buf);
}

/* --- PSL tests.txt (RFC 7489 Organizational Domain) ------------------------- */

static void test_psl_tests_txt(void **state)
{
    char *buf = read_conf("dmarc/psl/tests.txt"), *line, *save = NULL;
    sg_dmarc_psl *psl = snapshot_psl();
    sg_arena *a;
    size_t cases = 0;
    (void)state;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char in[512], want[512];
        const char *got = NULL;
        if (strncmp(line, "//", 2) == 0 || line[0] == '\0' || line[0] == '\r')
            continue;
        assert_int_equal(sscanf(line, "%511s %511s", in, want), 2);
        if (strcmp(in, "null") == 0) {
            assert_int_equal(sg_dmarc_psl_registrable(a, psl, NULL, &got), SG_EINVAL);
        } else {
            assert_int_equal(sg_dmarc_psl_registrable(a, psl, in, &got), 0);
            if (strcmp(want, "null") == 0) {
                if (got != NULL)
                    fail_msg("%s: want null, got %s", in, got);
            } else {
                if (got == NULL || strcmp(got, want) != 0)
                    fail_msg("%s: want %s, got %s", in, want, got ? got : "null");
            }
        }
        cases++;
    }
    assert_int_equal(cases, 78);
    sg_arena_free(a);
    sg_dmarc_psl_free(psl);
    free(buf);
}

/* --- Tree Walk ----------------------------------------------------------------- */

static void test_walk_deep(void **state)
{
    fx f;
    sg_dmarc_result r;
    const char *org = NULL;
    (void)state;
    fx_init(&f);
    /* 13 labels. The walk asks the name, then its 7-label suffix
     * g.h.i.j.k.example.com, then one label less each time: 8 queries.
     * A record at a skipped name (8 labels) is never seen. */
    add_txt(&f, "_dmarc.f.g.h.i.j.k.example.com", "v=DMARC1; p=none; psd=n");
    add_txt(&f, "_dmarc.example.com", "v=DMARC1; p=quarantine; sp=reject");
    r = check(&f, NULL, "a.b.c.d.e.f.g.h.i.j.k.example.com", 0, NULL, NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_string_equal(r.policy_domain, "example.com");
    assert_string_equal(r.org_domain, "example.com");
    assert_int_equal(r.policy_tag, SG_DMARC_FROM_TAG_SP);
    assert_int_equal(r.policy, SG_DMARC_POLICY_REJECT);
    assert_int_equal(r.dns_queries, 8);
    /* the 7-label suffix is asked: a record there is found */
    add_txt(&f, "_dmarc.g.h.i.j.k.example.com", "v=DMARC1; p=none; sp=quarantine; psd=n");
    r = check(&f, NULL, "a.b.c.d.e.f.g.h.i.j.k.example.com", 0, NULL, NULL, 0);
    assert_string_equal(r.policy_domain, "g.h.i.j.k.example.com");
    assert_string_equal(r.org_domain, "g.h.i.j.k.example.com");
    assert_int_equal(r.policy, SG_DMARC_POLICY_QUARANTINE);
    /* psd=n stops the walk: a timeout above it is never looked at */
    add(&f, "_dmarc.k.example.com", "TXT", "TIMEOUT");
    r = check(&f, NULL, "a.b.c.d.e.f.g.h.i.j.k.example.com", 0, NULL, NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(sg_dmarc_org_domain_sync(f.a, f.r, NULL, "x.y.z.example.com", &org), 0);
    assert_string_equal(org, "example.com");
    assert_int_equal(sg_dmarc_org_domain_sync(f.a, f.r, NULL, "unrelated.example", &org), 0);
    assert_string_equal(org, "unrelated.example"); /* no records: itself */
    fx_free(&f);
}

static void test_walk_query_cap(void **state)
{
    fx f;
    sg_dmarc_result r;
    (void)state;
    fx_init(&f);
    /* 1..40 labels: never more than 8 queries (RFC 9989 4.10) */
    {
        char name[256] = "example.com";
        size_t labels;
        for (labels = 2; labels <= 40; labels++) {
            size_t want = labels < 8 ? labels : 8;
            r = check(&f, NULL, name, 0, NULL, NULL, 0);
            assert_int_equal(r.result, SG_DMARC_RESULT_NONE);
            assert_int_equal(r.dns_queries, want);
            memmove(name + 2, name, strlen(name) + 1);
            name[0] = 'x';
            name[1] = '.';
        }
    }
    /* a name whose _dmarc child would exceed 253 octets */
    {
        char name[260];
        memset(name, 'a', sizeof(name));
        memcpy(name + 63, ".", 1);
        memcpy(name + 127, ".", 1);
        memcpy(name + 191, ".", 1);
        memcpy(name + 245, ".example", 9);
        r = check(&f, NULL, name, 0, NULL, NULL, 0);
        assert_int_equal(r.result, SG_DMARC_RESULT_NONE);
    }
    fx_free(&f);
}

static void test_walk_psd(void **state)
{
    fx f;
    sg_dmarc_result r;
    (void)state;
    fx_init(&f);
    /* a PSD record (psd=y) and no record for the organisation below it:
     * the PSD's policy applies to its subdomains, with sp/np (4.10.1) */
    add_txt(&f, "_dmarc.example", "v=DMARC1; p=reject; sp=quarantine; np=reject; psd=y");
    add(&f, "mail.shop.example", "A", "192.0.2.1");
    r = check(&f, NULL, "mail.shop.example", 1, "bounce.other.example", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_string_equal(r.org_domain, "shop.example");
    assert_string_equal(r.policy_domain, "example");
    assert_int_equal(r.policy_tag, SG_DMARC_FROM_TAG_SP);
    assert_int_equal(r.disposition, SG_DMARC_DISP_QUARANTINE);
    assert_int_equal(r.author_exists, 1);
    /* non-existent author under the PSD: np */
    r = check(&f, NULL, "ghost.shop.example", 0, NULL, NULL, 0);
    assert_int_equal(r.policy_tag, SG_DMARC_FROM_TAG_NP);
    assert_int_equal(r.disposition, SG_DMARC_DISP_REJECT);
    /* relaxed alignment across organisations under the PSD fails ... */
    r = check(&f, NULL, "mail.shop.example", 0, NULL, "news.shop.example", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    r = check(&f, NULL, "mail.shop.example", 0, NULL, "shop2.example", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(r.dkim_align, SG_DMARC_ALIGN_RESULT_FAIL);
    /* the PSD itself as author: psd=y at the start is its own org (rule 3) */
    r = check(&f, NULL, "example", 0, NULL, NULL, 0);
    assert_string_equal(r.org_domain, "example");
    assert_int_equal(r.policy_tag, SG_DMARC_FROM_TAG_P);
    fx_free(&f);

    /* a psd=y record of 7 labels: an author of 9 labels or more skips
     * from itself to that suffix, so the walk never asks for its
     * Organizational Domain (8 labels, rule 2); its own record applies,
     * not the PSD's (adv25 DM-2: p=none stood in for the org's reject) */
    fx_init(&f);
    add_txt(&f, "_dmarc.l3.l4.l5.l6.l7.x.test", "v=DMARC1; p=none; psd=y");
    add_txt(&f, "_dmarc.bank.l3.l4.l5.l6.l7.x.test", "v=DMARC1; p=reject; sp=quarantine");
    add(&f, "ceo.bank.l3.l4.l5.l6.l7.x.test", "A", "192.0.2.1");
    add(&f, "a.ceo.bank.l3.l4.l5.l6.l7.x.test", "A", "192.0.2.1");
    for (int o = 0; o < 2; o++) {
        sg_dmarc_opts opts;
        sg_dmarc_opts_init(&opts);
        opts.suffix_guard = o;
        r = check(&f, &opts, "ceo.bank.l3.l4.l5.l6.l7.x.test", 1, "attacker.test", NULL, 0);
        assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
        assert_string_equal(r.org_domain, "bank.l3.l4.l5.l6.l7.x.test");
        assert_string_equal(r.policy_domain, "bank.l3.l4.l5.l6.l7.x.test");
        assert_int_equal(r.policy_tag, SG_DMARC_FROM_TAG_SP);
        assert_int_equal(r.disposition, SG_DMARC_DISP_QUARANTINE);
        r = check(&f, &opts, "a.ceo.bank.l3.l4.l5.l6.l7.x.test", 0, NULL, NULL, 0);
        assert_string_equal(r.policy_domain, "bank.l3.l4.l5.l6.l7.x.test");
        assert_int_equal(r.disposition, SG_DMARC_DISP_QUARANTINE);
        /* an aligned pass is still one */
        r = check(&f, &opts, "ceo.bank.l3.l4.l5.l6.l7.x.test", 1, "mx.bank.l3.l4.l5.l6.l7.x.test",
                  NULL, 0);
        assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    }
    /* the organisation without a record: the PSD's applies, as before */
    r = check(&f, NULL, "ceo.shop.l3.l4.l5.l6.l7.x.test", 0, NULL, NULL, 0);
    assert_string_equal(r.org_domain, "shop.l3.l4.l5.l6.l7.x.test");
    assert_string_equal(r.policy_domain, "l3.l4.l5.l6.l7.x.test");
    fx_free(&f);

    fx_init(&f);
    /* psd=n below the registrable domain makes its own organisation */
    add_txt(&f, "_dmarc.example.com", "v=DMARC1; p=reject");
    add_txt(&f, "_dmarc.mail.example.com", "v=DMARC1; p=quarantine; psd=n");
    r = check(&f, NULL, "a.mail.example.com", 0, NULL, "example.com", 1);
    assert_string_equal(r.org_domain, "mail.example.com");
    assert_string_equal(r.policy_domain, "mail.example.com");
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    r = check(&f, NULL, "a.mail.example.com", 0, NULL, "b.mail.example.com", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    /* without psd: the record with the fewest labels is the org (rule 3),
     * and it also supplies the policy; the intermediate record does not */
    fx_free(&f);
    fx_init(&f);
    add_txt(&f, "_dmarc.example.com", "v=DMARC1; p=reject");
    add_txt(&f, "_dmarc.mail.example.com", "v=DMARC1; p=none");
    add(&f, "a.mail.example.com", "MX", "10 mx.example.com");
    r = check(&f, NULL, "a.mail.example.com", 0, NULL, "example.com", 1);
    assert_string_equal(r.org_domain, "example.com");
    assert_string_equal(r.policy_domain, "example.com");
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    r = check(&f, NULL, "a.mail.example.com", 0, NULL, NULL, 0);
    assert_int_equal(r.disposition, SG_DMARC_DISP_REJECT);
    fx_free(&f);
}

static void test_walk_multiple_records(void **state)
{
    fx f;
    sg_dmarc_result r;
    (void)state;
    fx_init(&f);
    /* two DMARC records at one name: both discarded (4.10 step 2) */
    add_txt(&f, "_dmarc.example.com", "v=DMARC1; p=reject");
    add_txt(&f, "_dmarc.example.com", "v=DMARC1; p=none");
    add_txt(&f, "_dmarc.sub.example.com", "v=spf1 -all");
    r = check(&f, NULL, "sub.example.com", 0, NULL, NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_NONE);
    r = check(&f, NULL, "example.com", 0, NULL, NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_NONE);
    assert_string_equal(r.reason, "several DMARC records at the author domain");
    fx_free(&f);
}

static void test_np(void **state)
{
    fx f;
    sg_dmarc_result r;
    (void)state;
    fx_init(&f);
    add_txt(&f, "_dmarc.example.org", "v=DMARC1; p=reject; np=quarantine");
    add(&f, "mx-only.example.org", "MX", "10 mail.example.org");
    add(&f, "txt-only.example.org", "TXT", "\"hello\"");
    r = check(&f, NULL, "ghost.example.org", 0, NULL, NULL, 0);
    assert_int_equal(r.author_exists, 0);
    assert_int_equal(r.policy, SG_DMARC_POLICY_QUARANTINE);
    r = check(&f, NULL, "mx-only.example.org", 0, NULL, NULL, 0);
    assert_int_equal(r.author_exists, 1);
    assert_int_equal(r.policy, SG_DMARC_POLICY_REJECT); /* sp defaults to p */
    /* RFC 9989 A.4: any record makes a name exist, not only A/AAAA/MX */
    r = check(&f, NULL, "txt-only.example.org", 0, NULL, NULL, 0);
    assert_int_equal(r.author_exists, 1);
    assert_int_equal(r.policy_tag, SG_DMARC_FROM_TAG_SP);
    /* the author's own record: p, no existence query */
    r = check(&f, NULL, "example.org", 0, NULL, NULL, 0);
    assert_int_equal(r.policy_tag, SG_DMARC_FROM_TAG_P);
    assert_int_equal(r.author_exists, -1);
    /* existence unknown on a fail with np: temperror (5.3.6) */
    add(&f, "flaky.example.org", "A", "TIMEOUT");
    add(&f, "flaky.example.org", "AAAA", "TIMEOUT");
    add(&f, "flaky.example.org", "MX", "TIMEOUT");
    r = check(&f, NULL, "flaky.example.org", 0, NULL, NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_TEMPERROR);
    /* ... but a pass does not need it */
    r = check(&f, NULL, "flaky.example.org", 0, NULL, "example.org", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    fx_free(&f);
}

static void test_alignment_modes(void **state)
{
    fx f;
    sg_dmarc_result r;
    (void)state;
    fx_init(&f);
    add_txt(&f, "_dmarc.example.com", "v=DMARC1; p=reject; adkim=s");
    /* strict DKIM: only identical names */
    r = check(&f, NULL, "example.com", 0, NULL, "mail.example.com", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    r = check(&f, NULL, "example.com", 0, NULL, "EXAMPLE.com.", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    assert_string_equal(r.dkim_aligned_domain, "example.com");
    /* relaxed SPF (aspf default r) aligns the subdomain */
    r = check(&f, NULL, "example.com", 1, "bounces.example.com", "mail.example.com", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    assert_int_equal(r.spf_align, SG_DMARC_ALIGN_RESULT_PASS);
    assert_int_equal(r.dkim_align, SG_DMARC_ALIGN_RESULT_FAIL);
    /* a failing mechanism never aligns */
    r = check(&f, NULL, "example.com", 0, "example.com", "example.com", 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(r.spf_align, SG_DMARC_ALIGN_RESULT_NONE);
    assert_int_equal(r.dkim_align, SG_DMARC_ALIGN_RESULT_NONE);
    /* label-boundary suffixes are not relatives */
    r = check(&f, NULL, "example.com", 1, "badexample.com", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    /* strict SPF */
    fx_free(&f);
    fx_init(&f);
    add_txt(&f, "_dmarc.example.com", "v=DMARC1; p=quarantine; aspf=s");
    r = check(&f, NULL, "example.com", 1, "bounces.example.com", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(r.disposition, SG_DMARC_DISP_QUARANTINE);
    r = check(&f, NULL, "example.com", 1, "example.com", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    assert_int_equal(r.disposition, SG_DMARC_DISP_NONE);
    fx_free(&f);
}

static void test_testing_flag(void **state)
{
    fx f;
    sg_dmarc_result r;
    sg_dmarc_opts o;
    (void)state;
    fx_init(&f);
    add_txt(&f, "_dmarc.a.example", "v=DMARC1; p=reject; t=y");
    add_txt(&f, "_dmarc.b.example", "v=DMARC1; p=quarantine; t=y");
    add_txt(&f, "_dmarc.c.example", "v=DMARC1; p=reject; pct=0");
    add_txt(&f, "_dmarc.d.example", "v=DMARC1; p=reject; pct=20");
    r = check(&f, NULL, "a.example", 0, NULL, NULL, 0);
    assert_int_equal(r.policy, SG_DMARC_POLICY_REJECT);
    assert_int_equal(r.disposition, SG_DMARC_DISP_QUARANTINE); /* one level below */
    assert_true(r.testing);
    r = check(&f, NULL, "b.example", 0, NULL, NULL, 0);
    assert_int_equal(r.disposition, SG_DMARC_DISP_NONE);
    r = check(&f, NULL, "c.example", 0, NULL, NULL, 0);
    assert_int_equal(r.disposition, SG_DMARC_DISP_QUARANTINE);
    r = check(&f, NULL, "d.example", 0, NULL, NULL, 0);
    assert_int_equal(r.disposition, SG_DMARC_DISP_REJECT); /* pct is not sampled */
    sg_dmarc_opts_init(&o);
    o.honour_testing = 0;
    r = check(&f, &o, "a.example", 0, NULL, NULL, 0);
    assert_int_equal(r.disposition, SG_DMARC_DISP_REJECT);
    fx_free(&f);
}

static void test_dns_errors(void **state)
{
    fx f;
    sg_dmarc_result r;
    (void)state;
    fx_init(&f);
    add(&f, "_dmarc.example.com", "TXT", "TIMEOUT");
    r = check(&f, NULL, "example.com", 0, NULL, NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_TEMPERROR);
    fx_free(&f);

    fx_init(&f);
    /* author record found; the rest of the walk fails */
    add_txt(&f, "_dmarc.example.com", "v=DMARC1; p=reject");
    add(&f, "_dmarc.com", "TXT", "SERVFAIL");
    r = check(&f, NULL, "example.com", 0, NULL, "example.com", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS); /* identical: no org needed */
    /* org unknown: an identifier that might share it is a temperror... */
    r = check(&f, NULL, "example.com", 0, NULL, "mail.example.com", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_TEMPERROR);
    assert_int_equal(r.policy, SG_DMARC_POLICY_REJECT); /* shown, not applied */
    assert_int_equal(r.disposition, SG_DMARC_DISP_NONE);
    /* ...one that cannot is a fail: no shared label, or (suffix guard)
     * only a public suffix in common */
    r = check(&f, NULL, "example.com", 0, NULL, "other.example", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(r.disposition, SG_DMARC_DISP_REJECT);
    r = check(&f, NULL, "example.com", 0, NULL, "attacker.com", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    {
        sg_dmarc_opts o;
        sg_dmarc_opts_init(&o);
        o.suffix_guard = 0; /* the RFC alone: com might be the org domain */
        r = check(&f, &o, "example.com", 0, NULL, "attacker.com", 1);
        assert_int_equal(r.result, SG_DMARC_RESULT_TEMPERROR);
    }
    /* no passing identifier: a fail under the author's own record needs
     * no Organizational Domain */
    r = check(&f, NULL, "example.com", 0, NULL, NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_null(r.org_domain);
    /* a subdomain without its own record does need it */
    r = check(&f, NULL, "sub.example.com", 0, NULL, NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_TEMPERROR);
    fx_free(&f);

    fx_init(&f);
    add_txt(&f, "_dmarc.example.com", "v=DMARC1; p=reject");
    add(&f, "_dmarc.mail.example.com", "TXT", "TIMEOUT");
    /* one identifier's walk fails, another aligns: pass (5.3.5) */
    {
        sg_dmarc_dkim dk[2] = {{"mail.example.com", 1}, {"example.com", 1}};
        sg_dmarc_auth au = {0, NULL, dk, 2};
        assert_int_equal(sg_dmarc_check_sync(f.a, f.r, NULL, "example.com", &au, &r), 0);
        assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
        au.ndkim = 1;
        assert_int_equal(sg_dmarc_check_sync(f.a, f.r, NULL, "example.com", &au, &r), 0);
        assert_int_equal(r.result, SG_DMARC_RESULT_TEMPERROR);
    }
    fx_free(&f);
}

/* A suffix operator's record without psd=y (RFC 9091's had no psd tag):
 * by RFC 9989 4.10.2 rule 3 the suffix becomes every registrant's
 * Organizational Domain. The suffix guard keeps it at the registrable
 * domain: no alignment between registrants, and each one's own policy for
 * its subdomains. */
static void test_suffix_guard(void **state)
{
    fx f;
    sg_dmarc_result r;
    sg_dmarc_opts rfc;
    (void)state;
    sg_dmarc_opts_init(&rfc);
    assert_int_equal(rfc.suffix_guard, 1); /* the default */
    rfc.suffix_guard = 0;
    fx_init(&f);
    add_txt(&f, "_dmarc.test", "v=DMARC1; p=none; rua=mailto:dmarc@nic.test");
    add_txt(&f, "_dmarc.bank.test", "v=DMARC1; p=reject");
    add_txt(&f, "_dmarc.shop.co.uk", "v=DMARC1; p=quarantine");
    add_txt(&f, "_dmarc.co.uk", "v=DMARC1; p=none");
    add(&f, "pay.bank.test", "A", "192.0.2.1");

    /* the RFC's rules alone: the forger's SPF or DKIM pass aligns */
    r = check(&f, &rfc, "bank.test", 1, "attacker.test", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    assert_string_equal(r.org_domain, "test");
    /* the guard: a fail, the domain's p=reject, and why */
    r = check(&f, NULL, "bank.test", 1, "attacker.test", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_string_equal(r.org_domain, "bank.test");
    assert_int_equal(r.disposition, SG_DMARC_DISP_REJECT);
    assert_non_null(strstr(r.reason, "public suffix"));
    r = check(&f, NULL, "bank.test", 0, NULL, "attacker.test", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    r = check(&f, NULL, "bank.test", 0, NULL, "mail.attacker.test", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    /* a multi-label suffix (co.uk) the same way */
    r = check(&f, &rfc, "shop.co.uk", 1, "evil.co.uk", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    r = check(&f, NULL, "shop.co.uk", 1, "evil.co.uk", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(r.disposition, SG_DMARC_DISP_QUARANTINE);
    /* within one registrable domain, relaxed alignment still holds */
    r = check(&f, NULL, "pay.bank.test", 1, "bounce.bank.test", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    r = check(&f, NULL, "bank.test", 0, NULL, "mail.bank.test", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    /* a subdomain without a record: its registrable domain's policy (sp
     * defaults to p=reject), not the suffix's p=none */
    r = check(&f, &rfc, "pay.bank.test", 1, "attacker.test", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    r = check(&f, &rfc, "pay.bank.test", 0, NULL, NULL, 0);
    assert_string_equal(r.policy_domain, "test");
    assert_int_equal(r.disposition, SG_DMARC_DISP_NONE);
    r = check(&f, NULL, "pay.bank.test", 0, NULL, NULL, 0);
    assert_string_equal(r.policy_domain, "bank.test");
    assert_int_equal(r.policy_tag, SG_DMARC_FROM_TAG_SP);
    assert_int_equal(r.disposition, SG_DMARC_DISP_REJECT);
    /* a registrant without a record of its own: the suffix's record
     * still applies, as the RFC's rules say */
    r = check(&f, NULL, "other.test", 1, "attacker.test", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_string_equal(r.policy_domain, "test");
    assert_string_equal(r.org_domain, "other.test");
    /* the suffix itself as author: only identical names align */
    r = check(&f, NULL, "test", 0, NULL, "nic.test", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    r = check(&f, NULL, "test", 0, NULL, "test", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    /* ...so a domain on the list sending as itself loses relaxed
     * alignment (documented; suffix_guard = 0 gives it back) */
    add_txt(&f, "_dmarc.gov.uk", "v=DMARC1; p=reject");
    r = check(&f, NULL, "gov.uk", 1, "bounce.notify.gov.uk", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    r = check(&f, &rfc, "gov.uk", 1, "bounce.notify.gov.uk", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    /* a private suffix whose parent is not one: the parent's record
     * (rule 3) would make it every customer's Organizational Domain */
    add_txt(&f, "_dmarc.linode.com", "v=DMARC1; p=reject");
    r = check(&f, &rfc, "linode.com", 1, "evil.members.linode.com", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    r = check(&f, NULL, "linode.com", 1, "evil.members.linode.com", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_non_null(strstr(r.reason, "registrable"));
    r = check(&f, NULL, "a.members.linode.com", 0, NULL, "b.members.linode.com", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    r = check(&f, NULL, "linode.com", 1, "mail.linode.com", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    fx_free(&f);

    /* the policy: never softer than the RFC's rules alone. A suffix
     * record p=quarantine; np=reject over a registrant's p=none: its
     * forged subdomains are still held by the suffix's record */
    fx_init(&f);
    add_txt(&f, "_dmarc.test", "v=DMARC1; p=quarantine; np=reject");
    add_txt(&f, "_dmarc.bank.test", "v=DMARC1; p=none");
    add(&f, "pay.bank.test", "A", "192.0.2.1");
    r = check(&f, &rfc, "pay.bank.test", 0, NULL, NULL, 0);
    assert_int_equal(r.disposition, SG_DMARC_DISP_QUARANTINE);
    r = check(&f, NULL, "pay.bank.test", 0, NULL, NULL, 0);
    assert_int_equal(r.disposition, SG_DMARC_DISP_QUARANTINE);
    assert_string_equal(r.policy_domain, "test");
    r = check(&f, NULL, "ghost.bank.test", 0, NULL, NULL, 0);
    assert_int_equal(r.policy_tag, SG_DMARC_FROM_TAG_NP);
    assert_int_equal(r.disposition, SG_DMARC_DISP_REJECT);
    r = check(&f, NULL, "bank.test", 0, NULL, NULL, 0); /* its own record: its own p */
    assert_int_equal(r.disposition, SG_DMARC_DISP_NONE);
    fx_free(&f);

    /* ...nor is an unusable record at the registrable domain (an sp= typo,
     * no rua) a way around the suffix's: the RFC's rules alone apply the
     * suffix's p=reject to a subdomain, and so does the guard (adv25 DM-1:
     * permerror, no policy at all) */
    fx_init(&f);
    add_txt(&f, "_dmarc.test", "v=DMARC1; p=reject");
    add_txt(&f, "_dmarc.bank.test", "v=DMARC1; p=reject; sp=rejet");
    add(&f, "mail.bank.test", "A", "192.0.2.1");
    r = check(&f, &rfc, "mail.bank.test", 1, "attacker.example", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(r.disposition, SG_DMARC_DISP_REJECT);
    r = check(&f, NULL, "mail.bank.test", 1, "attacker.example", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(r.disposition, SG_DMARC_DISP_REJECT);
    assert_string_equal(r.policy_domain, "test");
    assert_string_equal(r.org_domain, "bank.test");
    /* the guard's alignment still holds: the same registrable domain only */
    r = check(&f, NULL, "mail.bank.test", 1, "bounce.bank.test", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    r = check(&f, NULL, "mail.bank.test", 0, NULL, "other.test", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    /* the registrable domain's own unusable record, for itself: permerror */
    r = check(&f, NULL, "bank.test", 1, "attacker.example", NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_PERMERROR);
    fx_free(&f);
}

/* sg_dmarc_could_align: what a temporary error on an identifier may hide */
static void test_could_align(void **state)
{
    sg_dmarc_result r;
    sg_dmarc_opts rfc, psl;
    sg_dmarc_psl *list = snapshot_psl();
    (void)state;
    memset(&r, 0, sizeof(r));
    sg_dmarc_opts_init(&rfc);
    rfc.suffix_guard = 0;
    sg_dmarc_opts_init(&psl);
    psl.discovery = SG_DMARC_DISCOVERY_PSL;
    psl.psl = list;
    assert_int_equal(sg_dmarc_could_align(NULL, &r, "x.example"), 1); /* nothing known */
    r.author_domain = "bank.test";
    static const struct {
        const char *d, *org;
        int guard, rfc, psl;
    } t[] = {
        {"bank.test", NULL, 1, 1, 1},
        {"BANK.TEST.", NULL, 1, 1, 1},
        {"mail.bank.test", NULL, 1, 1, 1},
        {"attacker.test", NULL, 0, 1, 0}, /* only the suffix in common */
        {"other.example", NULL, 0, 0, 0}, /* nothing in common */
        {"attacker.test", "test", 0, 1, 0},
        {"mail.bank.test", "bank.test", 1, 1, 1},
        {"other.test", "bank.test", 0, 0, 0},
        {"", NULL, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        r.org_domain = t[i].org;
        int g = sg_dmarc_could_align(NULL, &r, t[i].d), f = sg_dmarc_could_align(&rfc, &r, t[i].d),
            p = sg_dmarc_could_align(&psl, &r, t[i].d);
        if (g != t[i].guard || f != t[i].rfc || p != t[i].psl)
            fail_msg("%s (org %s): guard %d rfc %d psl %d", t[i].d, t[i].org ? t[i].org : "?", g, f,
                     p);
    }
    assert_int_equal(sg_dmarc_could_align(NULL, &r, NULL), 0);
    sg_dmarc_psl_free(list);
}

/* RFC 9989 4.7 "p": a record without p is treated as if it said p=none;
 * its valid sp and np still apply. An invalid sp or np: all none. */
static void test_missing_p_keeps_sp_np(void **state)
{
    fx f;
    sg_dmarc_result r;
    (void)state;
    fx_init(&f);
    add_txt(&f, "_dmarc.bank.example",
            "v=DMARC1; sp=reject; np=quarantine; rua=mailto:d@bank.example");
    add_txt(&f, "_dmarc.b2.example", "v=DMARC1; p=bogus; sp=reject; rua=mailto:d@b2.example");
    add_txt(&f, "_dmarc.b3.example", "v=DMARC1; sp=reject; np=bogus; rua=mailto:d@b3.example");
    add_txt(&f, "_dmarc.b4.example", "v=DMARC1; sp=reject");
    add(&f, "pay.bank.example", "A", "192.0.2.1");
    add(&f, "pay.b2.example", "A", "192.0.2.1");
    add(&f, "pay.b3.example", "A", "192.0.2.1");
    r = check(&f, NULL, "bank.example", 0, NULL, NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(r.disposition, SG_DMARC_DISP_NONE); /* p: none */
    r = check(&f, NULL, "pay.bank.example", 0, NULL, NULL, 0);
    assert_int_equal(r.policy_tag, SG_DMARC_FROM_TAG_SP);
    assert_int_equal(r.disposition, SG_DMARC_DISP_REJECT);
    r = check(&f, NULL, "ghost.bank.example", 0, NULL, NULL, 0);
    assert_int_equal(r.policy_tag, SG_DMARC_FROM_TAG_NP);
    assert_int_equal(r.disposition, SG_DMARC_DISP_QUARANTINE);
    r = check(&f, NULL, "pay.b2.example", 0, NULL, NULL, 0); /* an invalid p the same */
    assert_int_equal(r.disposition, SG_DMARC_DISP_REJECT);
    r = check(&f, NULL, "pay.b3.example", 0, NULL, NULL, 0); /* an invalid np: all none */
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(r.disposition, SG_DMARC_DISP_NONE);
    r = check(&f, NULL, "b4.example", 0, NULL, NULL, 0); /* no p, no rua: no DMARC */
    assert_int_equal(r.result, SG_DMARC_RESULT_PERMERROR);
    fx_free(&f);
}

static void test_unusable_records(void **state)
{
    fx f;
    sg_dmarc_result r;
    (void)state;
    fx_init(&f);
    add_txt(&f, "_dmarc.a.example", "v=DMARC1; p=block");
    add_txt(&f, "_dmarc.b.example", "v=DMARC1; p=block; rua=mailto:d@b.example");
    r = check(&f, NULL, "a.example", 0, NULL, NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_PERMERROR);
    r = check(&f, NULL, "b.example", 0, NULL, NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(r.policy, SG_DMARC_POLICY_NONE);
    r = check(&f, NULL, "-bad domain-", 0, NULL, NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_PERMERROR);
    fx_free(&f);
}

static void test_psl_mode_differences(void **state)
{
    fx f;
    sg_dmarc_result r;
    sg_dmarc_opts o;
    sg_dmarc_psl *psl = snapshot_psl();
    (void)state;
    fx_init(&f);
    sg_dmarc_opts_init(&o);
    o.discovery = SG_DMARC_DISCOVERY_PSL;
    o.psl = psl;
    /* an intermediate record: found by the tree walk, not by RFC 7489 */
    add_txt(&f, "_dmarc.mail.example.com", "v=DMARC1; p=reject");
    r = check(&f, NULL, "a.mail.example.com", 0, NULL, NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_FAIL);
    assert_string_equal(r.policy_domain, "mail.example.com");
    r = check(&f, &o, "a.mail.example.com", 0, NULL, NULL, 0);
    assert_int_equal(r.result, SG_DMARC_RESULT_NONE);
    assert_int_equal(r.dns_queries, 2);
    /* a multi-label public suffix: both agree */
    add_txt(&f, "_dmarc.example.co.uk", "v=DMARC1; p=quarantine");
    r = check(&f, &o, "www.example.co.uk", 0, NULL, "mail.example.co.uk", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    assert_string_equal(r.org_domain, "example.co.uk");
    r = check(&f, NULL, "www.example.co.uk", 0, NULL, "mail.example.co.uk", 1);
    assert_int_equal(r.result, SG_DMARC_RESULT_PASS);
    assert_string_equal(r.org_domain, "example.co.uk");
    fx_free(&f);
    sg_dmarc_psl_free(psl);
}

static void test_psl_builtin(void **state)
{
    sg_dmarc_psl *p = NULL;
    sg_arena *a;
    const char *o = NULL;
    int rc = sg_dmarc_psl_builtin(&p);
    (void)state;
    if (rc == SG_EUNSUPPORTED) /* libpsl built without a built-in list */
        skip();
    assert_int_equal(rc, 0);
    assert_int_equal(sg_arena_new(&a, 0), 0);
    assert_int_equal(sg_dmarc_psl_registrable(a, p, "www.Example.CO.UK", &o), 0);
    assert_string_equal(o, "example.co.uk");
    assert_int_equal(sg_dmarc_psl_registrable(a, p, "co.uk", &o), 0);
    assert_null(o);
    sg_arena_free(a);
    sg_dmarc_psl_free(p);
}

/* --- async API ------------------------------------------------------------------ */

typedef struct {
    int calls;
    sg_dmarc_result res;
} cbst;

static void on_done(const sg_dmarc_result *res, void *payload)
{
    cbst *s = payload;
    s->calls++;
    s->res = *res;
}

static void test_async_late_auth_and_cancel(void **state)
{
    fx f;
    cbst st;
    sg_dmarc_check *c;
    sg_dmarc_dkim dk = {"example.com", 1};
    sg_dmarc_auth au = {0, NULL, &dk, 1};
    (void)state;
    fx_init(&f);
    add_txt(&f, "_dmarc.example.com", "v=DMARC1; p=reject");
    memset(&st, 0, sizeof(st));
    assert_int_equal(sg_dmarc_check_start(&c, f.a, f.r, NULL, "example.com", NULL, on_done, &st),
                     0);
    assert_int_equal(st.calls, 0); /* never from inside start with queries out */
    while (sg_resolver_run(f.r, -1) > 0)
        ;
    assert_int_equal(st.calls, 0); /* discovery done, waiting for auth */
    assert_int_equal(sg_dmarc_check_set_auth(c, &au), 0);
    assert_int_equal(st.calls, 1);
    assert_int_equal(st.res.result, SG_DMARC_RESULT_PASS);
    assert_int_equal(sg_dmarc_check_set_auth(c, &au), SG_ESTATE);

    memset(&st, 0, sizeof(st));
    assert_int_equal(sg_dmarc_check_start(&c, f.a, f.r, NULL, "example.com", &au, on_done, &st), 0);
    sg_dmarc_check_cancel(c);
    while (sg_resolver_run(f.r, -1) > 0)
        ;
    assert_int_equal(st.calls, 0);
    assert_int_equal(sg_resolver_pending(f.r), 0);
    fx_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opendmarc_alignment),
        cmocka_unit_test(test_stalwart_evaluation),
        cmocka_unit_test(test_stalwart_policy_discovery),
        cmocka_unit_test(test_psl_tests_txt),
        cmocka_unit_test(test_walk_deep),
        cmocka_unit_test(test_walk_query_cap),
        cmocka_unit_test(test_walk_psd),
        cmocka_unit_test(test_walk_multiple_records),
        cmocka_unit_test(test_np),
        cmocka_unit_test(test_alignment_modes),
        cmocka_unit_test(test_testing_flag),
        cmocka_unit_test(test_dns_errors),
        cmocka_unit_test(test_unusable_records),
        cmocka_unit_test(test_suffix_guard),
        cmocka_unit_test(test_missing_p_keeps_sp_np),
        cmocka_unit_test(test_could_align),
        cmocka_unit_test(test_psl_mode_differences),
        cmocka_unit_test(test_psl_builtin),
        cmocka_unit_test(test_async_late_auth_and_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
