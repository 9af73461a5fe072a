/*
 * ARC chain validation (RFC 8617 5.2) against published vectors:
 *   - ValiMail's arc_test_suite validation cases (flat form, 171 cases);
 *   - dkimpy's ARC vectors (derived messages with its test key);
 *   - Stalwart mail-auth resources/arc 001 (pass) and 002 (ed25519 set).
 *
 * Time: every t= in the ValiMail suite is 12345..12347 (FORMAT.md shows
 * t=12345), so any current clock is after all of them; the tests use a
 * fixed now of 2026-01-01 (1767225600) so that they do not depend on the
 * clock, which is later than every t= in all three sources.
 */
#include "helpers.h"

#include "arc/arc_int.h"
#include "dkim/dkim_int.h"

#include <openssl/pem.h>

#include <spoofguard/arc.h>
#include <spoofguard/dns.h>
#include <spoofguard/msg.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TEST_NOW 1767225600

static int on_headers(const sg_header *f, size_t n, void *p)
{
    return sg_arc_verify_headers(p, f, n);
}

static int on_body(const char *d, size_t n, void *p)
{
    return sg_arc_verify_body(p, d, n);
}

struct outcome {
    sg_arc_cv cv;
    unsigned instance, oldest_pass;
    char reason[200];
    char aar1[200];
    int ams1_from; /* the first set's AMS signs From */
    int temporary;
};

/* Validate msg with a zone from `zone_rel` (scenario may be NULL), in
 * chunks of `chunk` bytes (0: whole). */
static void run(const char *zone_rel, const char *scenario, const char *msg, size_t len,
                size_t chunk, struct outcome *o)
{
    sg_zone *z = NULL;
    sg_resolver *r = NULL;
    sg_arc_verifier *v = NULL;
    sg_msg_parser *p = NULL;
    sg_msg_callbacks cbs = {on_headers, on_body, NULL};
    sg_arc_verify_opts opts;
    const sg_arc_result *res;
    size_t err_line = 0;

    assert_int_equal(sg_zone_new(&z), 0);
    assert_int_equal(
        sg_zone_load_tsv(z, sg_test_path(sg_test_conformance_dir(), zone_rel), scenario, &err_line),
        0);
    assert_int_equal(sg_resolver_new_zone(&r, z), 0);
    sg_arc_verify_opts_init(&opts);
    opts.now = TEST_NOW;
    assert_int_equal(sg_arc_verifier_new(&v, r, NULL, &opts), 0);
    assert_int_equal(sg_msg_parser_new(&p, NULL, &cbs, v), 0);
    if (chunk == 0)
        chunk = len ? len : 1;
    for (size_t off = 0; off < len; off += chunk)
        assert_int_equal(sg_msg_feed(p, msg + off, len - off < chunk ? len - off : chunk), 0);
    assert_int_equal(sg_msg_finish(p), 0);
    if (len == 0) /* an empty message: the parser may not call on_headers */
        (void)sg_arc_verify_headers(v, NULL, 0);
    assert_int_equal(sg_arc_verify_wait(v), 0);
    assert_int_equal(sg_arc_verify_result(v, &res), 0);
    memset(o, 0, sizeof(*o));
    o->cv = res->cv;
    o->instance = res->instance;
    o->oldest_pass = res->oldest_pass;
    o->temporary = res->temporary;
    snprintf(o->reason, sizeof(o->reason), "%s", res->reason);
    if (res->count > 0 && res->sets[0].aar != NULL)
        snprintf(o->aar1, sizeof(o->aar1), "%s", res->sets[0].aar);
    if (res->count > 0)
        o->ams1_from = res->sets[0].ams_covers_from;
    sg_msg_parser_free(p);
    sg_arc_verifier_free(v);
    sg_resolver_free(r);
    sg_zone_free(z);
}

static void run_file(const char *zone_rel, const char *scenario, const char *msg_rel, size_t chunk,
                     struct outcome *o)
{
    size_t len = 0;
    char *msg = sg_test_read_file(sg_test_path(sg_test_conformance_dir(), msg_rel), &len);
    assert_non_null(msg);
    run(zone_rel, scenario, msg, len, chunk, o);
    free(msg);
}

/* Cases of the ValiMail suite where we knowingly differ from the
 * expectation, with the reason. Empty: we match all 171. Two cases pass
 * only because ARC departs from DKIM parsing (see src/lib/arc/verify.c):
 * ams_fields_c_na (no c= means relaxed/relaxed, not simple/simple) and
 * ams_fields_h_mis_hdr ("to::date" in h=: the empty name selects
 * nothing, where DKIM's ABNF would reject the signature). */
static const struct {
    const char *test_id;
    const char *why;
} deviations[] = {
    {NULL, NULL},
};

static const char *deviation(const char *id)
{
    for (size_t k = 0; deviations[k].test_id != NULL; k++)
        if (!strcmp(deviations[k].test_id, id))
            return deviations[k].why;
    return NULL;
}

#define VALIMAIL_TOTAL 171
/* The exact number we reach; see deviations[] for the rest. */
#define VALIMAIL_EXPECTED_PASS 171

static void valimail(void **state)
{
    size_t len = 0, ok = 0, total = 0;
    char *man = sg_test_read_file(
        sg_test_path(sg_test_conformance_dir(), "arc/flat/validation/manifest.tsv"), &len);
    char *line, *save = NULL;
    (void)state;
    assert_non_null(man);
    for (line = strtok_r(man, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char *col[7] = {0}, *c = line, path[512];
        size_t k = 0;
        struct outcome o;
        sg_arc_cv want;
        if (line[0] == '#' || line[0] == '\0')
            continue;
        while (k < 7) {
            col[k++] = c;
            c = strchr(c, '\t');
            if (c == NULL)
                break;
            *c++ = '\0';
        }
        assert_true(k >= 4);
        /* expected_cv: Pass / Fail / None; empty means fail (README) */
        want = !strcmp(col[3], "Pass")   ? SG_ARC_PASS
               : !strcmp(col[3], "None") ? SG_ARC_NONE
                                         : SG_ARC_FAIL;
        snprintf(path, sizeof(path), "arc/flat/validation/%s", col[2]);
        /* odd chunk size: the streaming body path is exercised too */
        run_file("arc/flat/validation/zone.tsv", col[0], path, total % 2 ? 7 : 0, &o);
        total++;
        if (o.cv == want) {
            ok++;
            assert_null(deviation(col[1]));
        } else {
            const char *why = deviation(col[1]);
            print_message("  %-32s want %-4s got %-4s (%s)%s%s\n", col[1], sg_arc_cv_str(want),
                          sg_arc_cv_str(o.cv), o.reason, why ? " known: " : " UNEXPECTED",
                          why ? why : "");
        }
    }
    print_message("arc validation: %zu/%d\n", ok, VALIMAIL_TOTAL);
    assert_int_equal(total, VALIMAIL_TOTAL);
    assert_int_equal(ok, VALIMAIL_EXPECTED_PASS);
    free(man);
}

/* A few structural facts of the suite, beyond cv. */
static void valimail_details(void **state)
{
    struct outcome o;
    (void)state;
    run_file("arc/flat/validation/zone.tsv", "1", "arc/flat/validation/messages/cv_pass_i1_1.eml",
             0, &o);
    assert_int_equal(o.cv, SG_ARC_PASS);
    assert_int_equal(o.instance, 1);
    assert_int_equal(o.oldest_pass, 0);
    assert_non_null(strstr(o.aar1, "lists.example.org;"));
    assert_non_null(strstr(o.aar1, "spf=pass"));
    assert_true(strncmp(o.aar1, "i=", 2) != 0);

    /* i=2 chain whose first AMS is broken: pass, oldest-pass 2 */
    run_file("arc/flat/validation/zone.tsv", "1",
             "arc/flat/validation/messages/cv_pass_i2_1_ams1_invalid.eml", 0, &o);
    assert_int_equal(o.cv, SG_ARC_PASS);
    assert_int_equal(o.instance, 2);
    assert_int_equal(o.oldest_pass, 2);

    run_file("arc/flat/validation/zone.tsv", "1", "arc/flat/validation/messages/cv_pass_i5_1.eml",
             1, &o);
    assert_int_equal(o.cv, SG_ARC_PASS);
    assert_int_equal(o.instance, 5);

    run_file("arc/flat/validation/zone.tsv", "1", "arc/flat/validation/messages/cv_base1.eml", 0,
             &o);
    assert_int_equal(o.cv, SG_ARC_NONE);
    assert_int_equal(o.instance, 0);
}

static void dkimpy(void **state)
{
    struct outcome o;
    (void)state;
    run_file("dkim/dkimpy/zone.tsv", NULL, "dkim/dkimpy/derived/arc-i1-pass.eml", 0, &o);
    assert_int_equal(o.cv, SG_ARC_PASS);
    assert_int_equal(o.instance, 1);
    /* RFC 8617 4.1.3: an ARC-Seal with h= is invalid */
    run_file("dkim/dkimpy/zone.tsv", NULL, "dkim/dkimpy/derived/arc-i1-h-in-seal.eml", 0, &o);
    assert_int_equal(o.cv, SG_ARC_FAIL);
}

static void stalwart(void **state)
{
    struct outcome o;
    (void)state;
    run_file("arc/stalwart-mail-auth/zone.tsv", "001", "arc/stalwart-mail-auth/messages/001.eml", 0,
             &o);
    assert_int_equal(o.cv, SG_ARC_PASS);
    /* 002's i=1 set is ed25519-sha256, which RFC 8617 does not define for
     * ARC: a Stalwart extension. Like dkimpy we say fail (the source
     * expects pass). */
    run_file("arc/stalwart-mail-auth/zone.tsv", "002", "arc/stalwart-mail-auth/messages/002.eml", 0,
             &o);
    assert_int_equal(o.cv, SG_ARC_FAIL);
    assert_non_null(strstr(o.reason, "ARC-Seal"));
}

/* Tampering with a passing message must break it. */
static void tamper(void **state)
{
    size_t len = 0;
    struct outcome o;
    char *msg = sg_test_read_file(
        sg_test_path(sg_test_conformance_dir(), "arc/flat/validation/messages/cv_pass_i1_1.eml"),
        &len);
    char *p;
    (void)state;
    assert_non_null(msg);
    run("arc/flat/validation/zone.tsv", "1", msg, len, 0, &o);
    assert_int_equal(o.cv, SG_ARC_PASS);
    p = strstr(msg, "Hey gang");
    assert_non_null(p);
    p[0] = 'h';
    run("arc/flat/validation/zone.tsv", "1", msg, len, 0, &o);
    assert_int_equal(o.cv, SG_ARC_FAIL);
    p[0] = 'H';
    p = strstr(msg, "Subject: Example 1");
    assert_non_null(p);
    p[17] = '2';
    run("arc/flat/validation/zone.tsv", "1", msg, len, 3, &o);
    assert_int_equal(o.cv, SG_ARC_FAIL);
    free(msg);
}

/* No keys in DNS at all: every AMS/AS lacks its key -> fail. */
static void no_key(void **state)
{
    struct outcome o;
    (void)state;
    run_file("arc/flat/validation/zone.tsv", "no-such-scenario",
             "arc/flat/validation/messages/cv_pass_i1_1.eml", 0, &o);
    assert_int_equal(o.cv, SG_ARC_FAIL);
    assert_false(o.temporary); /* NXDOMAIN: an answer, the key is not there */
}

static void done_cb(void *payload)
{
    (*(int *)payload)++;
}

/* Event-driven use: finish reports the outstanding keys, the done
 * callback fires once from the resolver, and a shared key cache is hit
 * on the second message. Per-set details of a 3-hop chain. */
static void async_and_cache(void **state)
{
    sg_zone *z = NULL;
    sg_resolver *r = NULL;
    sg_arc_verifier *v = NULL;
    sg_dkim_keycache *cache = NULL;
    sg_msg_parser *p = NULL;
    sg_msg_callbacks cbs = {on_headers, on_body, NULL};
    sg_arc_verify_opts opts;
    const sg_arc_result *res;
    size_t len = 0, err_line = 0, entries = 0;
    uint64_t hits = 0, misses = 0;
    int calls = 0, rc;
    char *msg = sg_test_read_file(
        sg_test_path(sg_test_conformance_dir(), "arc/flat/validation/messages/cv_pass_i3_1.eml"),
        &len);
    (void)state;
    assert_non_null(msg);
    assert_int_equal(sg_zone_new(&z), 0);
    assert_int_equal(
        sg_zone_load_tsv(z, sg_test_path(sg_test_conformance_dir(), "arc/flat/validation/zone.tsv"),
                         "1", &err_line),
        0);
    assert_int_equal(sg_resolver_new_zone(&r, z), 0);
    assert_int_equal(sg_dkim_keycache_new(&cache, 0), 0);
    sg_arc_verify_opts_init(&opts);
    opts.now = TEST_NOW;
    assert_int_equal(sg_arc_verifier_new(&v, r, cache, &opts), 0);
    sg_arc_verifier_set_done_cb(v, done_cb, &calls);
    assert_int_equal(sg_msg_parser_new(&p, NULL, &cbs, v), 0);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(sg_msg_feed(p, msg, len), 0);
        assert_int_equal(sg_msg_finish(p), 0);
        /* the zone resolver answers from sg_resolver_run, never inline:
         * one distinct key name is outstanding */
        rc = sg_arc_verify_finish(v);
        assert_int_equal(rc, 1);
        assert_int_equal(sg_arc_verify_result(v, &res), SG_ESTATE);
        assert_int_equal(calls, round);
        while (sg_arc_verify_pending(v) > 0)
            assert_true(sg_resolver_run(r, 1000) >= 0);
        assert_int_equal(calls, round + 1);
        assert_int_equal(sg_arc_verify_result(v, &res), 0);
        assert_int_equal(res->cv, SG_ARC_PASS);
        assert_int_equal(res->instance, 3);
        assert_int_equal(res->count, 3);
        assert_int_equal(res->oldest_pass, 0);
        for (size_t k = 0; k < 3; k++) {
            const sg_arc_set_result *sr = &res->sets[k];
            assert_int_equal(sr->instance, k + 1);
            assert_string_equal(sr->ams_domain, "example.org");
            assert_string_equal(sr->as_selector, "dummy");
            assert_int_equal(sr->as_cv, k == 0 ? SG_ARC_NONE : SG_ARC_PASS);
            assert_int_equal(sr->ams_result, SG_DKIM_PASS);
            assert_int_equal(sr->as_result, SG_DKIM_PASS);
            assert_non_null(sr->aar);
            assert_non_null(strstr(sr->aar, "example.org"));
        }
        sg_arc_verifier_reset(v);
        sg_msg_parser_reset(p);
    }
    sg_dkim_keycache_stats(cache, &hits, &misses, &entries);
    assert_int_equal(entries, 1);
    assert_true(hits >= 1);
    sg_msg_parser_free(p);
    sg_arc_verifier_free(v);
    sg_dkim_keycache_free(cache);
    sg_resolver_free(r);
    sg_zone_free(z);
    free(msg);
}

/* A DNS timeout for the key: the chain cannot be validated (fail), and
 * the seal's result says temperror. */
static void key_timeout(void **state)
{
    sg_zone *z = NULL;
    sg_resolver *r = NULL;
    sg_arc_verifier *v = NULL;
    sg_msg_parser *p = NULL;
    sg_msg_callbacks cbs = {on_headers, on_body, NULL};
    sg_arc_verify_opts opts;
    const sg_arc_result *res;
    size_t len = 0;
    char *msg = sg_test_read_file(
        sg_test_path(sg_test_conformance_dir(), "arc/flat/validation/messages/cv_pass_i1_1.eml"),
        &len);
    (void)state;
    assert_non_null(msg);
    assert_int_equal(sg_zone_new(&z), 0);
    assert_int_equal(sg_zone_add(z, "dummy._domainkey.example.org", "TXT", "TIMEOUT", 300), 0);
    assert_int_equal(sg_resolver_new_zone(&r, z), 0);
    sg_arc_verify_opts_init(&opts);
    opts.now = TEST_NOW;
    assert_int_equal(sg_arc_verifier_new(&v, r, NULL, &opts), 0);
    assert_int_equal(sg_msg_parser_new(&p, NULL, &cbs, v), 0);
    assert_int_equal(sg_msg_feed(p, msg, len), 0);
    assert_int_equal(sg_msg_finish(p), 0);
    assert_int_equal(sg_arc_verify_wait(v), 0);
    assert_int_equal(sg_arc_verify_result(v, &res), 0);
    assert_int_equal(res->cv, SG_ARC_FAIL);
    assert_int_equal(res->sets[0].ams_result, SG_DKIM_TEMPERROR);
    /* a later try may pass: a sealer must not end the chain for it, a
     * trusted-forwarder policy must answer temporarily (adv22 F2) */
    assert_true(res->temporary);
    sg_msg_parser_free(p);
    sg_arc_verifier_free(v);
    sg_resolver_free(r);
    sg_zone_free(z);
    free(msg);
}

static void api_state(void **state)
{
    sg_zone *z = NULL;
    sg_resolver *r = NULL;
    sg_arc_verifier *v = NULL;
    const sg_arc_result *res;
    sg_arc_verify_opts o;
    (void)state;
    assert_int_equal(sg_zone_new(&z), 0);
    assert_int_equal(sg_resolver_new_zone(&r, z), 0);
    assert_int_equal(sg_arc_verifier_new(&v, NULL, NULL, NULL), SG_EINVAL);
    sg_arc_verify_opts_init(&o);
    o.version = 99;
    assert_int_equal(sg_arc_verifier_new(&v, r, NULL, &o), SG_EINVAL);
    assert_int_equal(sg_arc_verifier_new(&v, r, NULL, NULL), 0);
    assert_int_equal(sg_arc_verify_result(v, &res), SG_ESTATE);
    assert_int_equal(sg_arc_verify_body(v, "x", 1), SG_ESTATE);
    assert_int_equal(sg_arc_verify_headers(v, NULL, 0), 0);
    assert_int_equal(sg_arc_verify_headers(v, NULL, 0), SG_ESTATE);
    assert_int_equal(sg_arc_verify_finish(v), 0);
    assert_int_equal(sg_arc_verify_result(v, &res), 0);
    assert_int_equal(res->cv, SG_ARC_NONE);
    sg_arc_verifier_reset(v);
    assert_int_equal(sg_arc_verify_result(v, &res), SG_ESTATE);
    assert_string_equal(sg_arc_cv_str(SG_ARC_PASS), "pass");
    assert_string_equal(sg_arc_cv_str(SG_ARC_FAIL), "fail");
    assert_string_equal(sg_arc_cv_str(SG_ARC_NONE), "none");
    sg_arc_verifier_free(v);
    sg_resolver_free(r);
    sg_zone_free(z);
}

/* ---- the body hashed once for DKIM and ARC -------------------------------- */

struct both {
    sg_dkim_verifier *d;
    sg_arc_verifier *a;
    sg_bodyhash_set *set; /* NULL: each verifier hashes the body itself */
};

static int both_headers(const sg_header *f, size_t n, void *p)
{
    struct both *b = p;
    int rc = sg_dkim_verify_headers(b->d, f, n);
    return rc != 0 ? rc : sg_arc_verify_headers(b->a, f, n);
}

static int both_body(const char *d, size_t n, void *p)
{
    struct both *b = p;
    int rc;
    if (b->set != NULL) {
        /* a lent set is fed by its owner; the verifiers refuse the body */
        assert_int_equal(sg_dkim_verify_body(b->d, d, n), SG_ESTATE);
        assert_int_equal(sg_arc_verify_body(b->a, d, n), SG_ESTATE);
        sg_bodyhash_update(b->set, d, n);
        return 0;
    }
    rc = sg_dkim_verify_body(b->d, d, n);
    return rc != 0 ? rc : sg_arc_verify_body(b->a, d, n);
}

struct both_out {
    sg_arc_cv cv;
    size_t ndkim;
    sg_dkim_result dkim[8];
    char reason[8][120];
};

/* Stalwart's 001: an ARC set whose AMS is relaxed/relaxed, and three
 * DKIM-Signatures, relaxed/simple (two) and relaxed/relaxed (one). */
static void run_both(sg_bodyhash_set *set, struct both_out *o)
{
    sg_zone *z = NULL;
    sg_resolver *r = NULL;
    sg_msg_parser *p = NULL;
    sg_dkim_verify_opts dopts;
    sg_arc_verify_opts aopts;
    struct both b = {.set = set};
    sg_msg_callbacks cbs = {both_headers, both_body, NULL};
    const sg_arc_result *ares;
    const sg_dkim_sig_result *dres;
    size_t len = 0, err_line = 0, n = 0;
    char *msg = sg_test_read_file(
        sg_test_path(sg_test_conformance_dir(), "arc/stalwart-mail-auth/messages/001.eml"), &len);
    assert_non_null(msg);
    assert_int_equal(sg_zone_new(&z), 0);
    assert_int_equal(
        sg_zone_load_tsv(z,
                         sg_test_path(sg_test_conformance_dir(), "arc/stalwart-mail-auth/zone.tsv"),
                         "001", &err_line),
        0);
    assert_int_equal(sg_resolver_new_zone(&r, z), 0);
    sg_dkim_verify_opts_init(&dopts);
    dopts.now = TEST_NOW;
    sg_arc_verify_opts_init(&aopts);
    aopts.now = TEST_NOW;
    assert_int_equal(sg_dkim_verifier_new(&b.d, r, NULL, &dopts), 0);
    assert_int_equal(sg_arc_verifier_new(&b.a, r, NULL, &aopts), 0);
    if (set != NULL) {
        sg_dkim_verifier_lend_bodyhash(b.d, set);
        sg_arc_verifier_lend_bodyhash(b.a, set);
    }
    assert_int_equal(sg_msg_parser_new(&p, NULL, &cbs, &b), 0);
    assert_int_equal(sg_msg_feed(p, msg, len), 0);
    assert_int_equal(sg_msg_finish(p), 0);
    if (set != NULL)
        assert_int_equal(sg_bodyhash_final(set), 0);
    assert_int_equal(sg_dkim_verify_wait(b.d), 0);
    assert_int_equal(sg_arc_verify_wait(b.a), 0);
    assert_int_equal(sg_arc_verify_result(b.a, &ares), 0);
    assert_int_equal(sg_dkim_verify_results(b.d, &dres, &n), 0);
    memset(o, 0, sizeof(*o));
    o->cv = ares->cv;
    o->ndkim = n;
    assert_true(n <= 8);
    for (size_t k = 0; k < n; k++) {
        o->dkim[k] = dres[k].result;
        snprintf(o->reason[k], sizeof(o->reason[k]), "%s", dres[k].reason);
    }
    sg_msg_parser_free(p);
    sg_dkim_verifier_free(b.d);
    sg_arc_verifier_free(b.a);
    sg_resolver_free(r);
    sg_zone_free(z);
    free(msg);
}

/* The verdict lends one body-hash set to both verifiers: the body is
 * hashed once per (c= body, l=) pair, not once per verifier, and every
 * result is the one each verifier reaches on its own. */
static void shared_body_hash(void **state)
{
    sg_bodyhash_set set;
    struct both_out alone, shared;
    (void)state;
    run_both(NULL, &alone);
    sg_bodyhash_init(&set, NULL);
    run_both(&set, &shared);
    /* relaxed (the AMS and one DKIM signature) and simple: two hashes,
     * where the verifiers on their own compute three */
    assert_int_equal(set.n, 2);
    sg_bodyhash_free(&set);
    assert_int_equal(alone.cv, SG_ARC_PASS);
    assert_int_equal(shared.cv, alone.cv);
    assert_int_equal(alone.ndkim, 3);
    assert_int_equal(shared.ndkim, alone.ndkim);
    for (size_t k = 0; k < alone.ndkim; k++) {
        assert_int_equal(shared.dkim[k], alone.dkim[k]);
        assert_string_equal(shared.reason[k], alone.reason[k]);
    }
    /* the relaxed/relaxed DKIM signature shares the AMS's hash and
     * passes with it */
    {
        int pass = 0;
        for (size_t k = 0; k < shared.ndkim; k++)
            pass += shared.dkim[k] == SG_DKIM_PASS;
        assert_true(pass >= 1);
    }
}

/* ---- one l= rule: an AMS with a long l= ------------------------------------ */

/* cv_pass_i1_1 with its set (AS lines 3-7, AMS 8-14) made again: both
 * signatures with t= t, the AMS with h= and optional further tags (`more`,
 * e.g. " l=5;"), signed with the suite's key unless sign_ams is 0; the AS
 * always. Validated into o. */
static void resigned_at(const char *t, const char *h, const char *more, int sign_ams,
                        struct outcome *o)
{
    size_t len = 0;
    char *orig = sg_test_read_file(
        sg_test_path(sg_test_conformance_dir(), "arc/flat/validation/messages/cv_pass_i1_1.eml"),
        &len);
    FILE *kf =
        fopen(sg_test_path(sg_test_conformance_dir(), "arc/flat/sign/scenario1.private.pem"), "r");
    assert_non_null(orig);
    assert_non_null(kf);
    EVP_PKEY *key = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
    fclose(kf);
    assert_non_null(key);
    const char *as = strstr(orig, "ARC-Seal:"), *aar = strstr(orig, "ARC-Authentication-Results:");
    char *msg = malloc(len + strlen(h) + strlen(more) + 1024);
    assert_non_null(as);
    assert_non_null(aar);
    assert_non_null(msg);
    sprintf(msg,
            "%.*sARC-Seal: a=rsa-sha256; cv=none; d=example.org; i=1; s=dummy; t=%s;"
            " b=AAAA\r\n"
            "ARC-Message-Signature: a=rsa-sha256; c=relaxed/relaxed; d=example.org;\r\n"
            " h=%s; i=1;\r\n"
            " s=dummy; t=%s;%s\r\n"
            " bh=KWSe46TZKCcDbH4klJPo+tjk5LWJnVRlP5pvjXFZYLQ=; b=AAAA\r\n%s",
            (int)(as - orig), orig, t, h, t, more, aar);
    if (sign_ams)
        assert_non_null(msg = sg_test_arc_sign_field(msg, 1, key));
    assert_non_null(msg = sg_test_arc_sign_field(msg, 0, key));
    run("arc/flat/validation/zone.tsv", "1", msg, strlen(msg), 0, o);
    free(msg);
    EVP_PKEY_free(key);
    free(orig);
}

static void resigned(const char *h, const char *more, int sign_ams, struct outcome *o)
{
    resigned_at("12345", h, more, sign_ams, o);
}

/* The AMS takes DKIM's l= (RFC 8617 4.1.2; RFC 6376 3.5: 1*76DIGIT). A
 * sealer may write a length beyond any body; the ARC copy of the parser
 * read at most 18 digits and failed such a chain, which DKIM's rule (the
 * one rule now) passes: the length saturates and covers the whole body. */
static void ams_long_length(void **state)
{
    static const struct {
        const char *l;
        sg_arc_cv want;
    } cases[] = {
        {"1000000000000000000", SG_ARC_PASS},       /* 19 digits */
        {"1234567890123456789012345", SG_ARC_PASS}, /* saturates */
        {"100000000000000000000000000000000000000000000000000000000000000000000000000"
         "00",
         SG_ARC_FAIL}, /* 77 digits: beyond the ABNF, the newest AMS is malformed */
    };
    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        char more[128];
        struct outcome o;
        snprintf(more, sizeof(more), " l=%s;", cases[c].l);
        /* a valid seal either way; the AMS is signed when it parses */
        resigned("from:to:date:subject:mime-version:arc-authentication-results", more,
                 cases[c].want == SG_ARC_PASS, &o);
        if (o.cv != cases[c].want)
            fail_msg("l=%s: cv %s (%s)", cases[c].l, sg_arc_cv_str(o.cv), o.reason);
        if (o.cv == SG_ARC_FAIL)
            assert_non_null(strstr(o.reason, "ARC-Message-Signature"));
    }
}

/* RFC 8617 lets an AMS leave From out (the ValiMail suite passes an empty
 * h=); a set that does vouches for nothing about the From, and the
 * result says so (ams_covers_from), for the verdict's trusted-sealer rule:
 * a trusted forwarder's pass must not stand for a From it did not sign. */
static void ams_covers_from(void **state)
{
    static const struct {
        const char *h;
        int from;
    } cases[] = {
        {"from:to:date:subject", 1},
        {"To:Date:FROM", 1},
        {"to:date:subject:mime-version", 0},
        {"to::date", 0},
    };
    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct outcome o;
        resigned(cases[c].h, "", 1, &o);
        if (o.cv != SG_ARC_PASS || o.ams1_from != cases[c].from)
            fail_msg("h=%s: cv %s (%s), covers From %d", cases[c].h, sg_arc_cv_str(o.cv), o.reason,
                     o.ams1_from);
    }
}

/* What a sealer's AMS vouches for, by DKIM's meaning of its tags (RFC
 * 8617 4.1.2), as the verdict's DKIM rule has it (adv22 F1, F3, F4): no
 * body octet after l= (the body is 42 octets), nothing after x=; a t= in
 * the future does not end the chain (a hop whose clock runs fast). */
static void ams_what_it_vouches_for(void **state)
{
    static const struct {
        const char *t, *more;
        sg_arc_cv want;
        const char *why;
    } cases[] = {
        {"12345", " l=42;", SG_ARC_PASS, NULL},
        {"12345", " l=100;", SG_ARC_PASS, NULL},
        {"12345", " l=41;", SG_ARC_FAIL, "ARC-Message-Signature"},
        {"12345", " l=0;", SG_ARC_FAIL, "ARC-Message-Signature"},
        {"12345", " x=12400;", SG_ARC_FAIL, "ARC-Message-Signature"},
        {"12345", " x=1767225500;", SG_ARC_PASS, NULL}, /* 100 s ago: the clock skew */
        {"12345", " x=1767225200;", SG_ARC_FAIL, "ARC-Message-Signature"},
        {"12345", " x=4102444800;", SG_ARC_PASS, NULL},
        {"1767232800", "", SG_ARC_PASS, NULL}, /* two hours ahead of now */
        {"4102444800", "", SG_ARC_PASS, NULL}, /* 2100 */
    };
    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct outcome o;
        resigned_at(cases[c].t, "from:to:date:subject:mime-version:arc-authentication-results",
                    cases[c].more, 1, &o);
        if (o.cv != cases[c].want || (cases[c].why && !strstr(o.reason, cases[c].why)) ||
            o.temporary)
            fail_msg("t=%s%s: cv %s (%s)%s", cases[c].t, cases[c].more, sg_arc_cv_str(o.cv),
                     o.reason, o.temporary ? " temporary" : "");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valimail),
        cmocka_unit_test(valimail_details),
        cmocka_unit_test(dkimpy),
        cmocka_unit_test(stalwart),
        cmocka_unit_test(tamper),
        cmocka_unit_test(no_key),
        cmocka_unit_test(async_and_cache),
        cmocka_unit_test(key_timeout),
        cmocka_unit_test(api_state),
        cmocka_unit_test(shared_body_hash),
        cmocka_unit_test(ams_long_length),
        cmocka_unit_test(ams_covers_from),
        cmocka_unit_test(ams_what_it_vouches_for),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
