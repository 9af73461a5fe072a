/*
 * DMARC differential-test driver (see tests/scripts/dmarc_maildmarc_diff.sh
 * and tests/interop/dmarc_maildmarc.pl).
 *
 *   test_dmarc_interop --driver ZONE.tsv CASES.tsv PSL.dat
 *
 * evaluates every case (id, author, spf_pass, spf_domain, dkim_d,
 * dkim_pass) twice - RFC 9989 tree walk and RFC 7489 PSL discovery - and
 * prints "id mode result disposition policy_domain org_domain" lines.
 * Without arguments it runs a cmocka self-test of that driver on a small
 * fixed zone with known answers.
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

/* Returns 0, or -1 on a set-up error (message on stderr). */
static int run_driver(const char *zone_path, const char *cases_path, const char *psl_path,
                      FILE *out)
{
    sg_zone *z = NULL;
    sg_resolver *r = NULL;
    sg_dmarc_psl *psl = NULL;
    char *buf, *line, *save = NULL;
    size_t err_line = 0;
    int rc = -1;

    buf = sg_test_read_file(cases_path, NULL);
    if (buf == NULL) {
        fprintf(stderr, "%s: cannot read\n", cases_path);
        return -1;
    }
    if (sg_zone_new(&z) != 0 || sg_zone_load_tsv(z, zone_path, NULL, &err_line) != 0) {
        fprintf(stderr, "%s: zone does not load (line %zu)\n", zone_path, err_line);
        goto out;
    }
    if (sg_resolver_new_zone(&r, z) != 0 || sg_dmarc_psl_load_file(&psl, psl_path) != 0) {
        fprintf(stderr, "resolver or PSL set-up failed\n");
        goto out;
    }
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c[8];
        int mode;
        if (line[0] == '#')
            continue;
        if (split_tabs(line, c, 8) < 6) {
            fprintf(stderr, "bad case line\n");
            goto out;
        }
        for (mode = 0; mode < 2; mode++) {
            sg_arena *a = NULL;
            sg_dmarc_opts o;
            sg_dmarc_dkim dk;
            sg_dmarc_auth au;
            sg_dmarc_result res;
            sg_dmarc_opts_init(&o);
            if (mode == 1) {
                o.discovery = SG_DMARC_DISCOVERY_PSL;
                o.psl = psl;
            }
            memset(&au, 0, sizeof(au));
            au.spf_pass = atoi(c[2]);
            au.spf_domain = c[3][0] ? c[3] : NULL;
            if (c[4][0]) {
                dk.d = c[4];
                dk.pass = atoi(c[5]);
                au.dkim = &dk;
                au.ndkim = 1;
            }
            if (sg_arena_new(&a, 0) != 0 || sg_dmarc_check_sync(a, r, &o, c[1], &au, &res) != 0) {
                fprintf(stderr, "case %s: check failed\n", c[0]);
                sg_arena_free(a);
                goto out;
            }
            fprintf(out, "%s\t%s\t%s\t%s\t%s\t%s\n", c[0], mode ? "psl" : "walk",
                    sg_dmarc_result_str(res.result), sg_dmarc_disposition_str(res.disposition),
                    res.policy_domain ? res.policy_domain : "-",
                    res.org_domain ? res.org_domain : "-");
            sg_arena_free(a);
        }
    }
    rc = 0;
out:
    sg_dmarc_psl_free(psl);
    sg_resolver_free(r);
    sg_zone_free(z);
    free(buf);
    return rc;
}

/* --- self-test ----------------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_driver_known_answers(void **state)
{
    char dir[] = "/tmp/sg-dmarc-interop-XXXXXX";
    char zone[256], cases[256], outp[256], psl[4096];
    char *got;
    FILE *out;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(zone, sizeof(zone), "%s/zone.tsv", dir);
    snprintf(cases, sizeof(cases), "%s/cases.tsv", dir);
    snprintf(outp, sizeof(outp), "%s/out.tsv", dir);
    snprintf(psl, sizeof(psl), "%s/dmarc/psl/public_suffix_list.dat", sg_test_conformance_dir());
    write_file(zone, "#name\ttype\tvalue\n"
                     "_dmarc.example.com\tTXT\t\"v=DMARC1; p=reject; t=y\"\n"
                     "_dmarc.mail.example.com\tTXT\t\"v=DMARC1; p=none\"\n"
                     "_dmarc.slow.example\tTXT\tTIMEOUT\n");
    write_file(cases, "#id\tauthor\tspf_pass\tspf_domain\tdkim_d\tdkim_pass\n"
                      "1\texample.com\t1\tbounce.example.com\t\t0\n"
                      "2\ta.mail.example.com\t0\t\tother.example\t1\n"
                      "3\tslow.example\t0\t\t\t0\n");
    out = fopen(outp, "w");
    assert_non_null(out);
    assert_int_equal(run_driver(zone, cases, psl, out), 0);
    fclose(out);
    got = sg_test_read_file(outp, NULL);
    assert_non_null(got);
    /* 2: the tree walk stops at no psd, so example.com is the org and
     * supplies the policy (sp = p = reject, t=y lowers it); RFC 7489 asks
     * a.mail.example.com and example.com - the same record here. */
    assert_string_equal(got, "1\twalk\tpass\tnone\texample.com\texample.com\n"
                             "1\tpsl\tpass\tnone\texample.com\texample.com\n"
                             "2\twalk\tfail\tquarantine\texample.com\texample.com\n"
                             "2\tpsl\tfail\tquarantine\texample.com\texample.com\n"
                             "3\twalk\ttemperror\tnone\t-\t-\n"
                             "3\tpsl\ttemperror\tnone\t-\tslow.example\n");
    free(got);
    unlink(zone);
    unlink(cases);
    unlink(outp);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_driver_known_answers),
    };
    if (argc == 5 && strcmp(argv[1], "--driver") == 0)
        return run_driver(argv[2], argv[3], argv[4], stdout) == 0 ? 0 : 2;
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--driver ZONE.tsv CASES.tsv PSL.dat]\n", argv[0]);
        return 2;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
