/* The one-verdict call: authentic, unverified and forged messages, protected
 * domains, temporary DNS failures, and the Authentication-Results field it
 * writes (read back with the strict parser). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spoofguard/arena.h>
#include <spoofguard/authres.h>
#include <spoofguard/verdict.h>

typedef struct {
    sg_zone *zone;
    sg_resolver *r;
    sg_dkim_signkey *key;
} fixture;

static const char body[] = "Hello,\r\n\r\nthe report is attached.\r\n";

static void add_txt(sg_zone *z, const char *name, const char *text)
{
    char *q = malloc(strlen(text) + 3);
    sprintf(q, "\"%s\"", text);
    assert_int_equal(sg_zone_add(z, name, "TXT", q, 300), 0);
    free(q);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char *rec;
    assert_int_equal(sg_zone_new(&f->zone), 0);
    assert_int_equal(sg_dkim_signkey_generate(&f->key, SG_DKIM_ED25519_SHA256, 0), 0);
    assert_int_equal(sg_dkim_signkey_record(f->key, &rec), 0);
    /* remote.test: a strict external domain */
    add_txt(f->zone, "remote.test", "v=spf1 ip4:198.51.100.1 -all");
    add_txt(f->zone, "_dmarc.remote.test", "v=DMARC1; p=reject");
    add_txt(f->zone, "k1._domainkey.remote.test", rec);
    /* ourco.test: ours, with a deliberately lax published policy */
    add_txt(f->zone, "ourco.test", "v=spf1 ip4:192.0.2.1 -all");
    add_txt(f->zone, "_dmarc.ourco.test", "v=DMARC1; p=none");
    add_txt(f->zone, "k1._domainkey.ourco.test", rec);
    /* slow.test: p=reject, but its key lookup times out */
    add_txt(f->zone, "_dmarc.slow.test", "v=DMARC1; p=reject");
    assert_int_equal(sg_zone_add(f->zone, "k1._domainkey.slow.test", "TIMEOUT", "TXT", 300), 0);
    add_txt(f->zone, "slow.test", "v=spf1 -all");
    /* attacker.test: its key lookup fails; it can never align with others */
    assert_int_equal(sg_zone_add(f->zone, "k1._domainkey.attacker.test", "SERVFAIL", "TXT", 300),
                     0);
    /* lax.test: p=none, not ours */
    add_txt(f->zone, "_dmarc.lax.test", "v=DMARC1; p=none");
    /* quiet.test: publishes nothing */
    assert_int_equal(sg_zone_add(f->zone, "quiet.test", "A", "192.0.2.9", 300), 0);
    free(rec);
    assert_int_equal(sg_resolver_new_zone(&f->r, f->zone), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sg_resolver_free(f->r);
    sg_zone_free(f->zone);
    sg_dkim_signkey_free(f->key);
    free(f);
    return 0;
}

/* A message From from_domain, DKIM-signed for sign_domain (NULL: unsigned). */
static char *make_message(fixture *f, const char *from_domain, const char *sign_domain)
{
    char head[512];
    snprintf(head, sizeof(head),
             "From: Someone <someone@%s>\r\nTo: you@rcpt.test\r\nSubject: report\r\n"
             "Date: Sun, 29 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@%s>\r\n\r\n",
             from_domain, from_domain);
    size_t hl = strlen(head), bl = strlen(body);
    char *msg = malloc(hl + bl + 4096);
    if (sign_domain == NULL) {
        sprintf(msg, "%s%s", head, body);
        return msg;
    }
    sg_msg_parser *p;
    sg_dkim_signer *s;
    sg_dkim_sign_opts o;
    sg_dkim_sign_opts_init(&o);
    o.domain = sign_domain;
    o.selector = "k1";
    o.key = f->key;
    assert_int_equal(sg_dkim_signer_new(&s, &o, 1), 0);
    assert_int_equal(sg_msg_parser_new(&p, NULL, NULL, NULL), 0);
    assert_int_equal(sg_msg_feed(p, head, hl), 0);
    size_t n;
    const sg_header *h = sg_msg_headers(p, &n);
    assert_int_equal(sg_dkim_sign_headers(s, h, n), 0);
    assert_int_equal(sg_dkim_sign_body(s, body, bl), 0);
    const char *sig;
    size_t sl;
    assert_int_equal(sg_dkim_sign_finish(s, &sig, &sl), 0);
    memcpy(msg, sig, sl);
    sprintf(msg + sl, "%s%s", head, body);
    sg_dkim_signer_free(s);
    sg_msg_parser_free(p);
    return msg;
}

static const sg_verdict_result *check(fixture *f, sg_verdict **v, const char *msg, const char *ip,
                                      const char *mail_from)
{
    sg_verdict_opts o;
    const char *protect[] = {"ourco.test"};
    const sg_verdict_result *r = NULL;
    sg_verdict_opts_init(&o);
    o.authserv_id = "mx.rcpt.test";
    o.protected_domains = protect;
    o.nprotected = 1;
    assert_int_equal(sg_verdict_new(v, f->r, &o), 0);
    sg_verdict_envelope env = {.client_ip = ip, .helo = "mail.example", .mail_from = mail_from};
    assert_int_equal(sg_verdict_envelope_set(*v, &env), 0);
    /* fed in odd chunks: the verdict must not depend on them */
    size_t len = strlen(msg);
    for (size_t i = 0; i < len; i += 7)
        assert_int_equal(sg_verdict_feed(*v, msg + i, len - i < 7 ? len - i : 7), 0);
    assert_int_equal(sg_verdict_finish_sync(*v, &r), 0);
    assert_non_null(r);
    return r;
}

/* The A-R field must parse with our strict parser and carry our id. */
static void assert_authres(const sg_verdict_result *r, const char *method, const char *result)
{
    sg_arena *a;
    sg_authres ar;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    assert_non_null(r->authres_line);
    assert_int_equal(sg_authres_parse(&ar, a, r->authres_line, strlen(r->authres_line), NULL), 0);
    assert_string_equal(ar.authserv_id, "mx.rcpt.test");
    int found = 0;
    for (size_t i = 0; i < ar.count; i++)
        if (!strcmp(ar.entries[i].method, method) && !strcmp(ar.entries[i].result, result))
            found = 1;
    if (!found)
        fail_msg("no %s=%s in %s", method, result, r->authres_line);
    /* the folded form says the same */
    assert_int_equal(sg_authres_parse(&ar, a, r->authres, strlen(r->authres), NULL), 0);
    sg_arena_free(a);
}

static void genuine_signed_is_authentic(void **state)
{
    fixture *f = *state;
    sg_verdict *v;
    char *m = make_message(f, "remote.test", "remote.test");
    const sg_verdict_result *r = check(f, &v, m, "203.0.113.5", "bounce@other.test");
    assert_int_equal(r->verdict, SG_VERDICT_AUTHENTIC);
    assert_int_equal(r->temporary, 0);
    assert_int_equal(r->ndkim, 1);
    assert_int_equal(r->dkim[0].result, SG_DKIM_PASS);
    assert_int_equal(r->dmarc.result, SG_DMARC_RESULT_PASS);
    assert_int_equal(r->disposition, SG_DMARC_DISP_NONE);
    assert_authres(r, "dmarc", "pass");
    assert_authres(r, "dkim", "pass");
    assert_non_null(strstr(r->authres_line, "header.from=remote.test"));
    sg_verdict_free(v);
    free(m);
}

static void spf_alone_aligns(void **state)
{
    fixture *f = *state;
    sg_verdict *v;
    char *m = make_message(f, "remote.test", NULL);
    const sg_verdict_result *r = check(f, &v, m, "198.51.100.1", "news@remote.test");
    assert_int_equal(r->spf.result, SG_SPF_PASS);
    assert_int_equal(r->verdict, SG_VERDICT_AUTHENTIC);
    assert_non_null(strstr(r->authres_line, "smtp.mailfrom=news@remote.test"));
    sg_verdict_free(v);
    free(m);
}

static void forged_strict_domain_is_rejected(void **state)
{
    fixture *f = *state;
    sg_verdict *v;
    char *m = make_message(f, "remote.test", NULL);
    const sg_verdict_result *r = check(f, &v, m, "203.0.113.66", "ceo@remote.test");
    assert_int_equal(r->spf.result, SG_SPF_FAIL);
    assert_int_equal(r->verdict, SG_VERDICT_FORGED);
    assert_int_equal(r->dmarc.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(r->disposition, SG_DMARC_DISP_REJECT);
    assert_int_equal(r->protected_domain, 0);
    assert_authres(r, "dmarc", "fail");
    assert_authres(r, "spf", "fail");
    sg_verdict_free(v);
    free(m);
}

static void tampered_signature_fails(void **state)
{
    fixture *f = *state;
    sg_verdict *v;
    char *m = make_message(f, "remote.test", "remote.test");
    char *p = strstr(m, "attached");
    p[0] = 'A'; /* one body byte */
    const sg_verdict_result *r = check(f, &v, m, "203.0.113.5", "x@other.test");
    assert_int_equal(r->dkim[0].result, SG_DKIM_FAIL);
    assert_int_equal(r->verdict, SG_VERDICT_FORGED);
    sg_verdict_free(v);
    free(m);
}

static void protected_domain_with_lax_policy_is_forged(void **state)
{
    fixture *f = *state;
    sg_verdict *v;
    /* ourco.test publishes p=none, but it is ours: no pass, no entry */
    char *m = make_message(f, "ourco.test", NULL);
    const sg_verdict_result *r = check(f, &v, m, "203.0.113.66", "ceo@ourco.test");
    assert_int_equal(r->dmarc.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(r->dmarc.disposition, SG_DMARC_DISP_NONE);
    assert_int_equal(r->protected_domain, 1);
    assert_int_equal(r->verdict, SG_VERDICT_FORGED);
    assert_int_equal(r->disposition, SG_DMARC_DISP_REJECT);
    sg_verdict_free(v);
    free(m);

    /* a subdomain of ours is ours too, even where nothing is published */
    m = make_message(f, "billing.ourco.test", NULL);
    r = check(f, &v, m, "203.0.113.66", "x@attacker.test");
    assert_int_equal(r->protected_domain, 1);
    assert_int_equal(r->verdict, SG_VERDICT_FORGED);
    sg_verdict_free(v);
    free(m);

    /* and our own signed mail passes */
    m = make_message(f, "ourco.test", "ourco.test");
    r = check(f, &v, m, "203.0.113.66", "x@attacker.test");
    assert_int_equal(r->verdict, SG_VERDICT_AUTHENTIC);
    sg_verdict_free(v);
    free(m);
}

static void no_policy_is_unverified(void **state)
{
    fixture *f = *state;
    sg_verdict *v;
    char *m = make_message(f, "quiet.test", NULL);
    const sg_verdict_result *r = check(f, &v, m, "203.0.113.66", "x@quiet.test");
    assert_int_equal(r->dmarc.result, SG_DMARC_RESULT_NONE);
    assert_int_equal(r->verdict, SG_VERDICT_UNVERIFIED);
    assert_int_equal(r->temporary, 0);
    sg_verdict_free(v);
    free(m);
}

static void p_none_fail_is_unverified(void **state)
{
    fixture *f = *state;
    sg_verdict *v;
    char *m = make_message(f, "lax.test", NULL);
    const sg_verdict_result *r = check(f, &v, m, "203.0.113.66", "x@lax.test");
    assert_int_equal(r->dmarc.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(r->verdict, SG_VERDICT_UNVERIFIED);
    assert_int_equal(r->disposition, SG_DMARC_DISP_NONE);
    assert_authres(r, "dmarc", "fail");
    sg_verdict_free(v);
    free(m);
}

static void key_timeout_is_never_a_reject(void **state)
{
    fixture *f = *state;
    sg_verdict *v;
    /* signed by slow.test, whose key lookup times out: the DMARC fail this
     * would give could hide a pass, so the verdict is temporary */
    char *m = make_message(f, "slow.test", "slow.test");
    const sg_verdict_result *r = check(f, &v, m, "203.0.113.66", "x@slow.test");
    assert_int_equal(r->dkim[0].result, SG_DKIM_TEMPERROR);
    assert_int_equal(r->temporary, 1);
    assert_int_not_equal(r->verdict, SG_VERDICT_AUTHENTIC);
    assert_int_equal(r->disposition, SG_DMARC_DISP_NONE);
    assert_authres(r, "dkim", "temperror");
    sg_verdict_free(v);
    free(m);
}

static void from_problems_never_pass(void **state)
{
    fixture *f = *state;
    static const char *msgs[] = {
        "To: a@b.test\r\nSubject: no from\r\n\r\nx\r\n",
        "From: a@remote.test\r\nFrom: b@remote.test\r\n\r\nx\r\n",
        "From: a@remote.test, b@quiet.test\r\n\r\nx\r\n",
        "From: undisclosed:;\r\n\r\nx\r\n",
        "From: \"x <a@evil.test>\" <b@\r\n\r\nx\r\n",
    };
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        sg_verdict *v;
        /* SPF passes for remote.test: it must not make any of these pass */
        const sg_verdict_result *r = check(f, &v, msgs[i], "198.51.100.1", "x@remote.test");
        assert_int_not_equal(r->verdict, SG_VERDICT_AUTHENTIC);
        assert_int_not_equal(r->dmarc.result, SG_DMARC_RESULT_PASS);
        sg_verdict_free(v);
    }
}

static void from_tricks_on_protected_domains(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *from;
        sg_verdict_rule rule;
    } cases[] = {
        /* a second From: readers show the first */
        {"From: ceo@ourco.test\r\nFrom: me@attacker.test\r\n", SG_VERDICT_RULE_PROTECTED},
        {"From: ceo@ourco.test, me@attacker.test\r\n", SG_VERDICT_RULE_PROTECTED},
        {"From: Board: ceo@ourco.test;\r\n", SG_VERDICT_RULE_PROTECTED},
        {"From: ceo@OURCO.TEST <me@[192.0.2.1]>\r\n", SG_VERDICT_RULE_PROTECTED},
        /* the same tricks on a domain that is not ours */
        {"From: a@remote.test\r\nFrom: me@attacker.test\r\n", SG_VERDICT_RULE_MULTIPLE_FROM},
        {"From: a@remote.test, me@attacker.test\r\n", SG_VERDICT_RULE_MULTIPLE_FROM},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sg_verdict *v;
        char msg[512];
        snprintf(msg, sizeof(msg), "%sSubject: pay now\r\n\r\nbody\r\n", cases[i].from);
        const sg_verdict_result *r = check(f, &v, msg, "203.0.113.66", "me@attacker.test");
        if (r->verdict != SG_VERDICT_FORGED || r->rule != cases[i].rule ||
            r->disposition != SG_DMARC_DISP_REJECT)
            fail_msg("case %zu: verdict %s rule %d (%s)", i, sg_verdict_kind_str(r->verdict),
                     (int)r->rule, r->reason);
        sg_verdict_free(v);
    }
}

static void forgers_dns_error_is_not_temporary(void **state)
{
    fixture *f = *state;
    sg_verdict *v;
    /* a forgery of remote.test carrying a signature of the forger's own
     * domain, whose key lookup fails: that could never have aligned */
    char *m = make_message(f, "remote.test", "attacker.test");
    const sg_verdict_result *r = check(f, &v, m, "203.0.113.66", "x@remote.test");
    assert_int_equal(r->dkim[0].result, SG_DKIM_TEMPERROR);
    assert_int_equal(r->temporary, 0);
    assert_int_equal(r->verdict, SG_VERDICT_FORGED);
    assert_int_equal(r->rule, SG_VERDICT_RULE_DMARC);
    assert_int_equal(r->disposition, SG_DMARC_DISP_REJECT);
    sg_verdict_free(v);
    free(m);
}

static void hostile_values_still_give_authres(void **state)
{
    fixture *f = *state;
    sg_verdict *v;
    /* found by fuzz_verdict: a broken signature whose a= value spans a
     * folded line; its bytes end up in header.a and must not stop the
     * Authentication-Results field (that was a forced tempfail) */
    const char *m = "DKIM-Signature: v=1; a=ed25519-sha2bh=cyE7XEu\r\n"
                    " Chjq; d=remote.test\r\n"
                    "From: x@remote.test\r\n\r\nbody\r\n";
    const sg_verdict_result *r = check(f, &v, m, "203.0.113.66", "x\x01y@remote.test");
    assert_int_equal(r->temporary, 0);
    assert_non_null(r->authres_line);
    assert_int_equal(r->dkim[0].result, SG_DKIM_PERMERROR);
    assert_authres(r, "dkim", "permerror");
    assert_int_equal(r->verdict, SG_VERDICT_FORGED);
    sg_verdict_free(v);
}

static void display_name_trick(void **state)
{
    fixture *f = *state;
    sg_verdict *v;
    /* the display name shows an address; the real one is remote.test */
    const char *m = "From: \"ceo@ourco.test\" <x@remote.test>\r\n\r\nhi\r\n";
    const sg_verdict_result *r = check(f, &v, m, "203.0.113.66", "x@remote.test");
    assert_string_equal(r->author.domain, "remote.test");
    assert_int_equal(r->protected_domain, 0);
    assert_int_equal(r->verdict, SG_VERDICT_FORGED);
    sg_verdict_free(v);
}

/* One verdict reset between messages gives, message after message, what
 * a fresh verdict gives: a state left over from the previous message (a
 * pass, a pending timeout, a broken header) must never leak into the next. */
static void reset_verdict_equals_fresh(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *from, *sign, *ip, *mail_from;
    } cases[] = {
        {"remote.test", "remote.test", "203.0.113.5", "bounce@other.test"}, /* authentic */
        {"remote.test", NULL, "203.0.113.5", "x@attacker.test"},            /* forged */
        {"slow.test", "slow.test", "203.0.113.5", "x@slow.test"},           /* temporary */
        {"ourco.test", NULL, "192.0.2.1", "a@ourco.test"},                  /* SPF aligned */
        {"ourco.test", "attacker.test", "203.0.113.5", "x@attacker.test"},  /* protected */
        {"remote.test", "remote.test", "198.51.100.1", "a@remote.test"},    /* both pass */
        {"quiet.test", NULL, "203.0.113.5", "x@quiet.test"},                /* no policy */
    };
    const size_t n = sizeof(cases) / sizeof(cases[0]);
    sg_verdict_opts o;
    const char *protect[] = {"ourco.test"};
    sg_verdict *reused;
    sg_verdict_opts_init(&o);
    o.authserv_id = "mx.rcpt.test";
    o.protected_domains = protect;
    o.nprotected = 1;
    assert_int_equal(sg_verdict_new(&reused, f->r, &o), 0);
    for (size_t round = 0; round < 3; round++) {
        for (size_t k = 0; k < n; k++) {
            /* every order: rotate the cases each round */
            size_t i = (k * (round + 1) + round) % n;
            char *m = make_message(f, cases[i].from, cases[i].sign);
            sg_verdict *fresh;
            const sg_verdict_result *a = check(f, &fresh, m, cases[i].ip, cases[i].mail_from), *b;
            sg_verdict_envelope env = {
                .client_ip = cases[i].ip, .helo = "mail.example", .mail_from = cases[i].mail_from};
            sg_verdict_reset(reused);
            assert_int_equal(sg_verdict_envelope_set(reused, &env), 0);
            assert_int_equal(sg_verdict_feed(reused, m, strlen(m)), 0);
            assert_int_equal(sg_verdict_finish_sync(reused, &b), 0);
            assert_int_equal(a->verdict, b->verdict);
            assert_int_equal(a->temporary, b->temporary);
            assert_int_equal(a->disposition, b->disposition);
            assert_int_equal(a->protected_domain, b->protected_domain);
            assert_int_equal(a->ndkim, b->ndkim);
            assert_int_equal(a->spf.result, b->spf.result);
            assert_int_equal(a->dmarc.result, b->dmarc.result);
            assert_string_equal(a->reason, b->reason);
            assert_string_equal(a->authres, b->authres);
            assert_string_equal(a->authres_line, b->authres_line);
            sg_verdict_free(fresh);
            free(m);
        }
        /* a message the parser refuses, then the next must be clean */
        static const char broken[] = "no colon here\r\n\r\nbody\r\n";
        sg_verdict_reset(reused);
        assert_int_not_equal(sg_verdict_feed(reused, broken, sizeof(broken) - 1), 0);
    }
    sg_verdict_free(reused);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(genuine_signed_is_authentic, setup, teardown),
        cmocka_unit_test_setup_teardown(reset_verdict_equals_fresh, setup, teardown),
        cmocka_unit_test_setup_teardown(spf_alone_aligns, setup, teardown),
        cmocka_unit_test_setup_teardown(forged_strict_domain_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(tampered_signature_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(protected_domain_with_lax_policy_is_forged, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(no_policy_is_unverified, setup, teardown),
        cmocka_unit_test_setup_teardown(p_none_fail_is_unverified, setup, teardown),
        cmocka_unit_test_setup_teardown(key_timeout_is_never_a_reject, setup, teardown),
        cmocka_unit_test_setup_teardown(from_problems_never_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(display_name_trick, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_values_still_give_authres, setup, teardown),
        cmocka_unit_test_setup_teardown(from_tricks_on_protected_domains, setup, teardown),
        cmocka_unit_test_setup_teardown(forgers_dns_error_is_not_temporary, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
