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
    /* spfslow.test: p=reject, its SPF record lookup times out */
    add_txt(f->zone, "_dmarc.spfslow.test", "v=DMARC1; p=reject");
    assert_int_equal(sg_zone_add(f->zone, "spfslow.test", "TIMEOUT", "TXT", 300), 0);
    /* dslow.test: its DMARC record lookup fails (and so does the walk up) */
    assert_int_equal(sg_zone_add(f->zone, "_dmarc.dslow.test", "TIMEOUT", "TXT", 300), 0);
    add_txt(f->zone, "k1._domainkey.dslow.test", rec);
    add_txt(f->zone, "dslow.test", "v=spf1 -all");
    /* ourslow.test: ours, p=none, and its key lookup times out */
    add_txt(f->zone, "_dmarc.ourslow.test", "v=DMARC1; p=none");
    assert_int_equal(sg_zone_add(f->zone, "k1._domainkey.ourslow.test", "TIMEOUT", "TXT", 300), 0);
    add_txt(f->zone, "ourslow.test", "v=spf1 -all");
    /* held.test: p=quarantine, not ours; heldy.test: p=reject in test
     * mode (t=y: quarantine) */
    add_txt(f->zone, "_dmarc.held.test", "v=DMARC1; p=quarantine");
    add_txt(f->zone, "_dmarc.heldy.test", "v=DMARC1; p=reject; t=y");
    /* lax.test: p=none, not ours */
    add_txt(f->zone, "_dmarc.lax.test", "v=DMARC1; p=none");
    /* evil.test: a forger's own domain, SPF passing for its network, p=none */
    add_txt(f->zone, "evil.test", "v=spf1 ip4:203.0.113.0/24 -all");
    add_txt(f->zone, "_dmarc.evil.test", "v=DMARC1; p=none");
    /* bank.walk: p=reject, and the tree walk above it fails (_dmarc.walk);
     * two signers whose key lookups time out: one under bank.walk, one
     * that shares only the suffix with it */
    add_txt(f->zone, "_dmarc.bank.walk", "v=DMARC1; p=reject");
    assert_int_equal(sg_zone_add(f->zone, "_dmarc.walk", "TIMEOUT", "TXT", 300), 0);
    assert_int_equal(sg_zone_add(f->zone, "k1._domainkey.slowkey.walk", "TIMEOUT", "TXT", 300), 0);
    assert_int_equal(sg_zone_add(f->zone, "k1._domainkey.mail.bank.walk", "TIMEOUT", "TXT", 300),
                     0);
    /* ourdslow.test: ours, and its DMARC record lookup times out */
    assert_int_equal(sg_zone_add(f->zone, "_dmarc.ourdslow.test", "TIMEOUT", "TXT", 300), 0);
    add_txt(f->zone, "k1._domainkey.ourdslow.test", rec);
    add_txt(f->zone, "ourdslow.test", "v=spf1 ip4:192.0.2.1 -all");
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

/* A message From from_domain, DKIM-signed for sign_domain (NULL: unsigned);
 * oversign 0 signs each listed name once, as many signers do; extra: more
 * header fields, signed with the rest. */
static char *make_message_x(fixture *f, const char *from_domain, const char *sign_domain,
                            int oversign, const char *extra)
{
    char head[512];
    snprintf(head, sizeof(head),
             "%sFrom: Someone <someone@%s>\r\nTo: you@rcpt.test\r\nSubject: report\r\n"
             "Date: Sun, 29 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@%s>\r\n\r\n",
             extra, from_domain, from_domain);
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
    if (!oversign)
        o.noversign = 1;
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

static char *make_message_ex(fixture *f, const char *from_domain, const char *sign_domain,
                             int oversign)
{
    return make_message_x(f, from_domain, sign_domain, oversign, "");
}

static char *make_message(fixture *f, const char *from_domain, const char *sign_domain)
{
    return make_message_ex(f, from_domain, sign_domain, 1);
}

static const sg_verdict_result *check(fixture *f, sg_verdict **v, const char *msg, const char *ip,
                                      const char *mail_from)
{
    sg_verdict_opts o;
    const char *protect[] = {"ourco.test", "ourslow.test", "ourdslow.test"};
    const sg_verdict_result *r = NULL;
    sg_verdict_opts_init(&o);
    o.authserv_id = "mx.rcpt.test";
    o.protected_domains = protect;
    o.nprotected = 3;
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

/* The reason names what the policy asks: the MTA may show it as its
 * quarantine reason (Sendmail's held queue said "refuse": adv40 F5). */
static void failure_reason_names_the_policy(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *domain, *verb;
        sg_dmarc_disposition disp;
    } cases[] = {
        {"held.test", "receivers to quarantine such mail", SG_DMARC_DISP_QUARANTINE},
        {"heldy.test", "receivers to quarantine such mail", SG_DMARC_DISP_QUARANTINE},
        {"remote.test", "receivers to refuse such mail", SG_DMARC_DISP_REJECT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sg_verdict *v;
        char from[64];
        snprintf(from, sizeof(from), "ceo@%s", cases[i].domain);
        char *m = make_message(f, cases[i].domain, NULL);
        const sg_verdict_result *r = check(f, &v, m, "203.0.113.66", from);
        assert_int_equal(r->verdict, SG_VERDICT_FORGED);
        assert_int_equal(r->disposition, cases[i].disp);
        if (strstr(r->reason, cases[i].verb) == NULL)
            fail_msg("%s: reason \"%s\"", cases[i].domain, r->reason);
        /* the words a reader rebuilding the verdict from the A-R gets */
        assert_string_equal(r->reason,
                            sg_verdict_dmarc_reason(SG_DMARC_RESULT_FAIL, cases[i].disp));
        sg_verdict_free(v);
        free(m);
    }
    assert_non_null(strstr(sg_verdict_dmarc_reason(SG_DMARC_RESULT_FAIL, SG_DMARC_DISP_NONE),
                           "test mode (t=y)"));
    assert_string_equal(sg_verdict_dmarc_reason(SG_DMARC_RESULT_NONE, SG_DMARC_DISP_NONE),
                        "the From domain publishes no DMARC policy");
    assert_null(sg_verdict_dmarc_reason(SG_DMARC_RESULT_PASS, SG_DMARC_DISP_NONE));
}

/* An options struct of a version the library does not know, or a NULL
 * result pointer, is SG_EINVAL, never ignored or a crash (adv44 F2, F4). */
static void contracts(void **state)
{
    fixture *f = *state;
    sg_verdict *v = NULL;
    sg_verdict_opts o;
    sg_dmarc_opts d;
    static const unsigned versions[] = {0, SG_VERDICT_OPTS_VERSION + 1, 99};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        sg_verdict_opts_init(&o);
        o.version = versions[i];
        assert_int_equal(sg_verdict_new(&v, f->r, &o), SG_EINVAL);
        assert_null(v);
    }
    sg_verdict_opts_init(&o);
    sg_dmarc_opts_init(&d);
    o.dmarc = &d;
    d.version = 0;
    assert_int_equal(sg_verdict_new(&v, f->r, &o), SG_EINVAL);
    d.version = SG_DMARC_OPTS_VERSION + 1;
    assert_int_equal(sg_verdict_new(&v, f->r, &o), SG_EINVAL);
    d.version = 1; /* the version before suffix_guard: still taken */
    assert_int_equal(sg_verdict_new(&v, f->r, &o), SG_OK);
    assert_int_equal(sg_verdict_feed(v, "From: a@b.test\r\n\r\nx\r\n", 22), SG_OK);
    assert_int_equal(sg_verdict_finish_sync(v, NULL), SG_EINVAL);
    assert_int_equal(sg_verdict_finish_sync(NULL, NULL), SG_EINVAL);
    /* the envelope: once, before finish; a call out of turn is SG_ESTATE
     * as everywhere else in the API, a NULL SG_EINVAL (adv44 F7) */
    sg_verdict_envelope env = {.client_ip = "192.0.2.1", .helo = "h.test", .mail_from = "a@b.test"};
    assert_int_equal(sg_verdict_envelope_set(NULL, &env), SG_EINVAL);
    assert_int_equal(sg_verdict_envelope_set(v, NULL), SG_EINVAL);
    assert_int_equal(sg_verdict_envelope_set(v, &env), SG_OK);
    assert_int_equal(sg_verdict_envelope_set(v, &env), SG_ESTATE);
    /* without a client address too (no SPF started: rev29 R29-3) */
    sg_verdict_envelope no_ip = {.helo = "h.test", .mail_from = "a@b.test"};
    sg_verdict_reset(v);
    assert_int_equal(sg_verdict_envelope_set(v, &no_ip), SG_OK);
    assert_int_equal(sg_verdict_envelope_set(v, &no_ip), SG_ESTATE);
    assert_int_equal(sg_verdict_envelope_set(v, &env), SG_ESTATE);
    sg_verdict_reset(v);
    assert_int_equal(sg_verdict_envelope_set(v, &env), SG_OK);
    const sg_verdict_result *vr = NULL;
    assert_int_equal(sg_verdict_finish_sync(v, &vr), SG_OK);
    assert_int_equal(sg_verdict_envelope_set(v, &env), SG_ESTATE);
    sg_verdict_reset(v);
    assert_int_equal(sg_verdict_envelope_set(v, &env), SG_OK);
    sg_verdict_free(v);
    /* sg_dmarc_check_sync alone too */
    sg_arena *a;
    sg_dmarc_result res;
    assert_int_equal(sg_arena_new(&a, 0), SG_OK);
    d.version = 0;
    assert_int_equal(sg_dmarc_check_sync(a, f->r, &d, "b.test", NULL, &res), SG_EINVAL);
    sg_arena_free(a);
    /* a key cache of any size comes back (the bucket count wrapped to 0
     * and the loop never ended: adv44 F3) */
    sg_dkim_keycache *c = NULL;
    assert_int_equal(sg_dkim_keycache_new(&c, (size_t)-1), SG_OK);
    sg_dkim_keycache_free(c);
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
        /* an address literal naming our domain (readers show it as is) */
        {"From: payroll@[ourco.test]\r\n", SG_VERDICT_RULE_PROTECTED},
        {"From: Payroll <payroll@[ ourco.test ]>\r\n", SG_VERDICT_RULE_PROTECTED},
        {"From: payroll@[pay.OURCO.test]\r\n", SG_VERDICT_RULE_PROTECTED},
        {"From: payroll@[\x0bourco.test]\r\n", SG_VERDICT_RULE_PROTECTED},
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

/* A From the strict reader refuses, read the way a reader shows it: a
 * domain literal spelling a name is that name, a root dot or a doubled dot
 * reads around; beside an address of the sender's own (SPF passes for
 * remote.test), our protected domain made the message authentic for
 * remote.test (rev30 R30-1, R30-2). */
static void lenient_from_keeps_protection(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *from, *ip, *mail_from;
        sg_verdict_kind verdict;
        sg_verdict_rule rule;
    } cases[] = {
        {"From: Payroll <payroll@[ourco.test]>, x@remote.test", "198.51.100.1", "x@remote.test",
         SG_VERDICT_FORGED, SG_VERDICT_RULE_PROTECTED},
        {"From: <ceo@[ourco.test]>, x@remote.test", "198.51.100.1", "x@remote.test",
         SG_VERDICT_FORGED, SG_VERDICT_RULE_PROTECTED},
        {"From: x@remote.test, payroll@[ ourco.test ]", "198.51.100.1", "x@remote.test",
         SG_VERDICT_FORGED, SG_VERDICT_RULE_PROTECTED},
        {"From: x@remote.test, ceo@ourco.test.", "198.51.100.1", "x@remote.test", SG_VERDICT_FORGED,
         SG_VERDICT_RULE_PROTECTED},
        {"From: x@remote.test, ceo@ourco..test", "198.51.100.1", "x@remote.test", SG_VERDICT_FORGED,
         SG_VERDICT_RULE_PROTECTED},
        /* quoted pairs and other text inside the literal (rev31 R31-2) */
        {"From: Payroll <payroll@[ourco\\.test]>, x@remote.test", "198.51.100.1", "x@remote.test",
         SG_VERDICT_FORGED, SG_VERDICT_RULE_PROTECTED},
        {"From: Payroll <payroll@[\\our\\co.test]>, x@remote.test", "198.51.100.1", "x@remote.test",
         SG_VERDICT_FORGED, SG_VERDICT_RULE_PROTECTED},
        {"From: Payroll <payroll@[ourco.test;]>, x@remote.test", "198.51.100.1", "x@remote.test",
         SG_VERDICT_FORGED, SG_VERDICT_RULE_PROTECTED},
        {"From: x@attacker.test, a@[remote.test:25]", "203.0.113.66", "me@attacker.test",
         SG_VERDICT_FORGED, SG_VERDICT_RULE_MULTIPLE_FROM},
        /* a '"' or '(' inside a literal opens nothing (rev32 R32-1), a
         * quoted string alone is a mailbox (R32-2), a name after a tag in
         * a literal is that name (R32-3) */
        {"From: CEO <@[\"]:ceo@ourco.test>, x@[192.0.2.1] (\", y@remote.test)", "198.51.100.1",
         "x@remote.test", SG_VERDICT_FORGED, SG_VERDICT_RULE_PROTECTED},
        {"From: a@[(], ceo@ourco.test, b@[)], x@remote.test", "198.51.100.1", "x@remote.test",
         SG_VERDICT_FORGED, SG_VERDICT_RULE_PROTECTED},
        {"From: x@remote.test, \"ceo@ourco.test\"", "198.51.100.1", "x@remote.test",
         SG_VERDICT_FORGED, SG_VERDICT_RULE_PROTECTED},
        {"From: payroll@[IPv6:ourco.test], x@remote.test", "198.51.100.1", "x@remote.test",
         SG_VERDICT_FORGED, SG_VERDICT_RULE_PROTECTED},
        {"From: payroll@[\"ourco.test\"], x@remote.test", "198.51.100.1", "x@remote.test",
         SG_VERDICT_FORGED, SG_VERDICT_RULE_PROTECTED},
        {"From: \"Doe, Jane\" <x@remote.test>, \"Smith, J\"", "198.51.100.1", "x@remote.test",
         SG_VERDICT_AUTHENTIC, SG_VERDICT_RULE_NONE},
        /* what no reader shows as an address does not count: a comment
         * in a From the strict parser refuses (an unquoted comma) was
         * forged under the protected rule by my first fix (rev31 R31-3) */
        {"From: Doe, Jane <x@remote.test> (formerly jane@ourco.test)", "198.51.100.1",
         "x@remote.test", SG_VERDICT_AUTHENTIC, SG_VERDICT_RULE_NONE},
        {"From: support.ourco.test, Ticket 1 <x@remote.test>", "198.51.100.1", "x@remote.test",
         SG_VERDICT_AUTHENTIC, SG_VERDICT_RULE_NONE},
        /* a p=reject domain in a literal: judged as that domain */
        {"From: ceo@[remote.test]", "203.0.113.66", "me@attacker.test", SG_VERDICT_FORGED,
         SG_VERDICT_RULE_DMARC},
        {"From: ceo@[ remote.test. ]", "203.0.113.66", "me@attacker.test", SG_VERDICT_FORGED,
         SG_VERDICT_RULE_DMARC},
        /* and its own mail stays its own: SPF passes for remote.test */
        {"From: ceo@[remote.test]", "198.51.100.1", "x@remote.test", SG_VERDICT_AUTHENTIC,
         SG_VERDICT_RULE_NONE},
        /* an address literal names no domain */
        {"From: ceo@[192.0.2.1]", "198.51.100.1", "x@remote.test", SG_VERDICT_UNVERIFIED,
         SG_VERDICT_RULE_NONE},
        {"From: ceo@[IPv6:2001:db8::1]", "198.51.100.1", "x@remote.test", SG_VERDICT_UNVERIFIED,
         SG_VERDICT_RULE_NONE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sg_verdict *v;
        char msg[512];
        snprintf(msg, sizeof(msg), "%s\r\nSubject: pay now\r\n\r\nbody\r\n", cases[i].from);
        const sg_verdict_result *r = check(f, &v, msg, cases[i].ip, cases[i].mail_from);
        if (r->verdict != cases[i].verdict || r->rule != cases[i].rule)
            fail_msg("case %zu (%s): verdict %s rule %d (%s)", i, cases[i].from,
                     sg_verdict_kind_str(r->verdict), (int)r->rule, r->reason);
        sg_verdict_free(v);
    }
}

/* What the sender wrote goes into our field only when no reader can take
 * it for a result of ours: a quoted MAIL FROM local part, a HELO or a
 * signature's d=/s= holding "; dmarc=pass" was written inside quotes,
 * and readers that take the first "dmarc=" read a pass (rev30 R30-3). */
static void authres_takes_no_injected_results(void **state)
{
    fixture *f = *state;
    sg_verdict_opts o;
    sg_verdict *v;
    const sg_verdict_result *r = NULL;
    const char *msg = "From: a@remote.test\r\nDKIM-Signature: v=1; a=rsa-sha256; "
                      "d=remote.test dmarc=pass (; s=x\" dmarc=pass; h=from; bh=AAAA; b=AAAA\r\n"
                      "Subject: x\r\n\r\nbody\r\n";
    sg_verdict_opts_init(&o);
    o.authserv_id = "mx.rcpt.test";
    assert_int_equal(sg_verdict_new(&v, f->r, &o), 0);
    sg_verdict_envelope env = {.client_ip = "203.0.113.66",
                               .helo = "h;dkim=pass",
                               .mail_from =
                                   "\"x;dmarc=pass header.from=remote.test;\"@attacker.test"};
    assert_int_equal(sg_verdict_envelope_set(v, &env), 0);
    assert_int_equal(sg_verdict_feed(v, msg, strlen(msg)), 0);
    assert_int_equal(sg_verdict_finish_sync(v, &r), 0);
    const char *ar = r->authres_line;
    assert_non_null(ar);
    /* one dmarc= and one dkim= result (policy.dmarc= is a property), our
     * own: a fail and a permerror; no pass anywhere */
    const char *dm = strstr(ar, " dmarc="), *dk = strstr(ar, " dkim=");
    if (dm == NULL || dk == NULL || strncmp(dm, " dmarc=fail", 11) != 0 ||
        strstr(dm + 1, " dmarc=") != NULL || strncmp(dk, " dkim=permerror", 15) != 0 ||
        strstr(dk + 1, " dkim=") != NULL || strstr(ar, "=pass") != NULL)
        fail_msg("%s", ar);
    assert_non_null(strstr(ar, "smtp.mailfrom=attacker.test;"));
    sg_verdict_free(v);
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
    /* a From with no address but a comment a reader shows: the lax scan
     * names our domain, control characters in it skipped as readers do */
    static const char *const lax[] = {"From: (ceo@ourco.test)\r\n\r\nhi\r\n",
                                      "From: (ceo@our\013co.test)\r\n\r\nhi\r\n",
                                      "From: (ceo@\x01ourco\x7f.test\x1f)\r\n\r\nhi\r\n"};
    for (size_t i = 0; i < sizeof(lax) / sizeof(lax[0]); i++) {
        r = check(f, &v, lax[i], "203.0.113.66", "x@evil.test");
        if (r->verdict != SG_VERDICT_FORGED || r->rule != SG_VERDICT_RULE_PROTECTED ||
            !r->protected_domain)
            fail_msg("lax case %zu: %s (%s)", i, sg_verdict_kind_str(r->verdict), r->reason);
        sg_verdict_free(v);
    }
    /* ... and a longer name that only starts like ours is not ours */
    r = check(f, &v, "From: (ceo@ourco.test\x0b.evil.test)\r\n\r\nhi\r\n", "203.0.113.66",
              "x@evil.test");
    assert_int_equal(r->protected_domain, 0);
    sg_verdict_free(v);
    /* nor are literals of other names: unverified, as before */
    static const char *const others[] = {"From: payroll@[ourco.testing]\r\n\r\nhi\r\n",
                                         "From: payroll@[xourco.test]\r\n\r\nhi\r\n",
                                         "From: payroll@[192.0.2.1]\r\n\r\nhi\r\n"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        r = check(f, &v, others[i], "203.0.113.66", "x@evil.test");
        if (r->verdict != SG_VERDICT_UNVERIFIED || r->protected_domain)
            fail_msg("other literal %zu: %s (%s)", i, sg_verdict_kind_str(r->verdict), r->reason);
        sg_verdict_free(v);
    }
}

/* Issue 11 class 5 through the verdict: the domain a reader shows is
 * judged by its policy; odd but legitimate From fields still pass. */
static void reader_view_of_the_from(void **state)
{
    fixture *f = *state;
    static char nest[160];
    static const struct {
        const char *from; /* after "someone@" */
        const char *signer;
        sg_verdict_kind want;
        sg_verdict_rule rule;
        int lenient;
    } cases[] = {
        {"remote.test.", "remote.test", SG_VERDICT_AUTHENTIC, SG_VERDICT_RULE_NONE, 1},
        {"remote.test.", NULL, SG_VERDICT_FORGED, SG_VERDICT_RULE_DMARC, 1},
        {"ourco.test.", NULL, SG_VERDICT_FORGED, SG_VERDICT_RULE_PROTECTED, 1},
        {"ourco.test.", "ourco.test", SG_VERDICT_AUTHENTIC, SG_VERDICT_RULE_NONE, 1},
        {"lax.test.", NULL, SG_VERDICT_UNVERIFIED, SG_VERDICT_RULE_NONE, 1},
        {" remote . test .", NULL, SG_VERDICT_FORGED, SG_VERDICT_RULE_DMARC, 1},
        {"remote\xe3\x80\x82test", NULL, SG_VERDICT_FORGED, SG_VERDICT_RULE_DMARC, 0},
        {"re\xe2\x80\x8dmote.test", NULL, SG_VERDICT_FORGED, SG_VERDICT_RULE_DMARC, 1},
        {"our\xe2\x80\x8d"
         "co.test",
         NULL, SG_VERDICT_FORGED, SG_VERDICT_RULE_PROTECTED, 1},
        {nest, "remote.test", SG_VERDICT_AUTHENTIC, SG_VERDICT_RULE_NONE, 0},
        {nest, NULL, SG_VERDICT_FORGED, SG_VERDICT_RULE_DMARC, 0},
        /* control characters and stray bytes in the name, which readers
         * drop or do not draw (Python: `remo<VT>te.test` is remote.test) */
        {"remo\x0bte.test", NULL, SG_VERDICT_FORGED, SG_VERDICT_RULE_DMARC, 1},
        {"\x0bremote.test", NULL, SG_VERDICT_FORGED, SG_VERDICT_RULE_DMARC, 1},
        {"remote\x0c.test", NULL, SG_VERDICT_FORGED, SG_VERDICT_RULE_DMARC, 1},
        {"remote\x01.test", NULL, SG_VERDICT_FORGED, SG_VERDICT_RULE_DMARC, 1},
        {"\x80remote.test", NULL, SG_VERDICT_FORGED, SG_VERDICT_RULE_DMARC, 1},
        {"our\x1f"
         "co.test",
         NULL, SG_VERDICT_FORGED, SG_VERDICT_RULE_PROTECTED, 1},
        {"remo\x0bte.test", "remote.test", SG_VERDICT_AUTHENTIC, SG_VERDICT_RULE_NONE, 1},
    };
    memset(nest, 0, sizeof(nest));
    strcpy(nest, "remote.test ");
    memset(nest + 12, '(', 65);
    memset(nest + 77, ')', 65);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sg_verdict *v;
        char *msg = make_message(f, cases[i].from, cases[i].signer);
        const sg_verdict_result *r = check(f, &v, msg, "203.0.113.66", "me@attacker.test");
        if (r->verdict != cases[i].want || r->rule != cases[i].rule ||
            r->author.lenient != cases[i].lenient)
            fail_msg("case %zu (%s): verdict %s rule %d lenient %d (%s)", i, cases[i].from,
                     sg_verdict_kind_str(r->verdict), (int)r->rule, r->author.lenient, r->reason);
        if (r->verdict == SG_VERDICT_FORGED && r->disposition != SG_DMARC_DISP_REJECT)
            fail_msg("case %zu: disposition %d", i, (int)r->disposition);
        sg_verdict_free(v);
        free(msg);
    }
}

/* An obsolete route ahead of an address that a control character made
 * unreadable to the strict parser: readers show the address (Python:
 * ceo@remote.test), so the route's domain, whose own SPF passes, must not
 * stand in for it. */
static void route_is_not_the_author(void **state)
{
    fixture *f = *state;
    static const char *const froms[] = {
        "<@evil.test:ceo@\x1fremote.test>",
        "CEO <@evil.test:ceo@\x0bremote.test>",
        "<@evil.test:ceo@\x80remote.test>",
    };
    for (size_t i = 0; i < sizeof(froms) / sizeof(froms[0]); i++) {
        char msg[512];
        sg_verdict *v;
        snprintf(msg, sizeof(msg), "From: %s\r\nTo: you@rcpt.test\r\nSubject: pay\r\n\r\n%s",
                 froms[i], body);
        const sg_verdict_result *r = check(f, &v, msg, "203.0.113.66", "x@evil.test");
        if (r->verdict != SG_VERDICT_FORGED)
            fail_msg("case %zu: %s (%s)", i, sg_verdict_kind_str(r->verdict), r->reason);
        sg_verdict_free(v);
    }
    /* the same route in a field that parses: the address's domain */
    {
        char msg[512];
        sg_verdict *v;
        snprintf(msg, sizeof(msg),
                 "From: <@evil.test:ceo@remote.test>\r\nTo: you@rcpt.test\r\n\r\n%s", body);
        const sg_verdict_result *r = check(f, &v, msg, "203.0.113.66", "x@evil.test");
        assert_int_equal(r->verdict, SG_VERDICT_FORGED);
        assert_int_equal(r->author.lenient, 0);
        assert_string_equal(r->author.domain, "remote.test");
        sg_verdict_free(v);
    }
}

/* Protected domains given as U-labels protect their A-labels; a name that
 * is not a domain is refused rather than silently protecting nothing. */
static void protected_u_labels(void **state)
{
    fixture *f = *state;
    sg_verdict *v;
    sg_verdict_opts o;
    const sg_verdict_result *r;
    const char *good[] = {"OURCO\xe3\x80\x82test"};
    const char *bad[] = {"ourco.test", "our\xe2\x80\x8d"
                                       "co.test"};
    static const char msg[] = "From: ceo@ourco.test\r\nSubject: x\r\n\r\nbody\r\n";
    sg_verdict_opts_init(&o);
    o.protected_domains = good;
    o.nprotected = 1;
    assert_int_equal(sg_verdict_new(&v, f->r, &o), 0);
    assert_int_equal(sg_verdict_feed(v, msg, strlen(msg)), 0);
    assert_int_equal(sg_verdict_finish_sync(v, &r), 0);
    assert_int_equal(r->protected_domain, 1);
    assert_int_equal(r->verdict, SG_VERDICT_FORGED);
    sg_verdict_free(v);
    o.protected_domains = bad;
    o.nprotected = 2;
    assert_int_equal(sg_verdict_new(&v, f->r, &o), SG_EINVAL);
    assert_null(v);
    o.protected_domains = NULL; /* a count without a list */
    o.nprotected = 1;
    assert_int_equal(sg_verdict_new(&v, f->r, &o), SG_EINVAL);
    assert_null(v);
}

/* ---- issue 11: the verdict under attack ------------------------------------ */

/* The A-R field must round-trip through the strict parser; returns the
 * number of dkim= results it holds. */
static size_t authres_dkim_count(const sg_verdict_result *r)
{
    sg_arena *a;
    sg_authres ar;
    size_t n = 0;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    assert_non_null(r->authres_line);
    assert_non_null(r->authres);
    assert_int_equal(sg_authres_parse(&ar, a, r->authres, strlen(r->authres), NULL), 0);
    assert_int_equal(sg_authres_parse(&ar, a, r->authres_line, strlen(r->authres_line), NULL), 0);
    assert_string_equal(ar.authserv_id, "mx.rcpt.test");
    for (size_t i = 0; i < ar.count; i++)
        n += !strcmp(ar.entries[i].method, "dkim");
    sg_arena_free(a);
    return n;
}

/* Like check(), for messages that may be refused: the feed's return. */
static int run(fixture *f, sg_verdict **v, const char *msg, size_t len, const char *ip,
               const char *mail_from, const sg_verdict_result **out)
{
    sg_verdict_opts o;
    const char *protect[] = {"ourco.test"};
    int rc = 0;
    sg_verdict_opts_init(&o);
    o.authserv_id = "mx.rcpt.test";
    o.protected_domains = protect;
    o.nprotected = 1;
    *out = NULL;
    assert_int_equal(sg_verdict_new(v, f->r, &o), 0);
    sg_verdict_envelope env = {.client_ip = ip, .helo = "mail.example", .mail_from = mail_from};
    assert_int_equal(sg_verdict_envelope_set(*v, &env), 0);
    for (size_t i = 0; i < len && rc == 0; i += 4096)
        rc = sg_verdict_feed(*v, msg + i, len - i < 4096 ? len - i : 4096);
    if (rc != 0)
        return rc;
    assert_int_equal(sg_verdict_finish_sync(*v, out), 0);
    return 0;
}

/* n copies of line, then tail. */
static char *repeat(const char *line, size_t n, const char *tail, size_t *len)
{
    size_t ll = strlen(line), tl = strlen(tail);
    char *m = malloc(ll * n + tl + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(m + i * ll, line, ll);
    memcpy(m + ll * n, tail, tl + 1);
    *len = ll * n + tl;
    return m;
}

/* Class 1: however many fields of a kind the sender writes, the verdict
 * is definite (here a forgery of remote.test: p=reject, unsigned, SPF
 * fail) or the message is refused as over the header limits (SG_ELIMIT,
 * a permanent refusal) -- never an internal error, never temporary. */
static void sender_counts_never_internal_error(void **state)
{
    fixture *f = *state;
    static const size_t counts[] = {0,   1,   9,   10,  11,  15,  16,   17,
                                    254, 255, 256, 257, 990, 998, 1000, 10000};
    static const struct {
        const char *line;
        sg_verdict_kind expect; /* when accepted */
    } kinds[] = {
        {"DKIM-Signature: x\r\n", SG_VERDICT_FORGED},
        {"DKIM-Signature: v=1; a=ed25519-sha256; d=junk.test; s=k1; h=from; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA==\r\n",
         SG_VERDICT_FORGED},
        {"DKIM-Signature: v=1; a=ed25519-sha256; d=remote.test; s=k1; h=from; "
         "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA==\r\n",
         SG_VERDICT_FORGED},
        {"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=a.test; s=s; b=dGVzdA==\r\n"
         "ARC-Message-Signature: i=1; a=rsa-sha256; d=a.test; s=s; h=from; bh=dGVzdA==; "
         "b=dGVzdA==\r\nARC-Authentication-Results: i=1; a.test; spf=pass\r\n",
         SG_VERDICT_FORGED},
        {"Authentication-Results: mx.rcpt.test; dmarc=pass header.from=remote.test\r\n",
         SG_VERDICT_FORGED},
        {"Received: from a by b; Sun, 29 Nov 2026 10:00:00 +0000\r\n", SG_VERDICT_FORGED},
        {"To: a@b.test\r\n", SG_VERDICT_FORGED},
        /* several From fields: forged by rule whatever the count */
        {"From: x@remote.test\r\n", SG_VERDICT_FORGED},
    };
    const char *tail = "From: ceo@remote.test\r\nSubject: pay\r\n\r\nbody\r\n";
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
            size_t len;
            sg_verdict *v;
            const sg_verdict_result *r;
            char *m = repeat(kinds[k].line, counts[c], tail, &len);
            int rc = run(f, &v, m, len, "203.0.113.66", "x@remote.test", &r);
            if (rc != 0) {
                /* only the header limits may refuse it, and only past them */
                if (rc != SG_ELIMIT || counts[c] < 250)
                    fail_msg("kind %zu count %zu: feed %d", k, counts[c], rc);
            } else {
                if (r->temporary || r->verdict != kinds[k].expect)
                    fail_msg("kind %zu count %zu: %s%s (%s)", k, counts[c],
                             sg_verdict_kind_str(r->verdict), r->temporary ? " temporary" : "",
                             r->reason);
                size_t nd = authres_dkim_count(r);
                assert_true(nd >= 1 && nd <= 16);
                if (k < 3)
                    assert_int_equal(r->ndkim, counts[c]);
                if (k < 3 && counts[c] > 10)
                    assert_int_equal(r->ndkim_skipped, counts[c] - 10);
                if (k < 3 && counts[c] > 16)
                    assert_non_null(strstr(r->authres_line, "more signatures not listed"));
            }
            sg_verdict_free(v);
            free(m);
        }
}

/* A genuine remote.test signature below or above n junk signatures. */
static char *with_junk(fixture *f, const char *junk_fmt, size_t n, int junk_below, int *len)
{
    char *genuine = make_message(f, "remote.test", "remote.test");
    size_t gl = strlen(genuine), cap = gl + n * 256 + 1, off = 0;
    char *m = malloc(cap);
    /* the signature is the first field of genuine: split it off */
    char *head = strstr(genuine, "\r\nFrom:") + 2;
    size_t sl = (size_t)(head - genuine);
    if (!junk_below) {
        for (size_t i = 0; i < n; i++)
            off += (size_t)snprintf(m + off, cap - off, junk_fmt, i);
        memcpy(m + off, genuine, gl);
        off += gl;
    } else {
        memcpy(m + off, genuine, sl);
        off += sl;
        for (size_t i = 0; i < n; i++)
            off += (size_t)snprintf(m + off, cap - off, junk_fmt, i);
        memcpy(m + off, head, gl - sl);
        off += gl - sl;
    }
    m[off] = '\0';
    *len = (int)off;
    free(genuine);
    return m;
}

static const char junk_other[] =
    "DKIM-Signature: v=1; a=ed25519-sha256; d=junk%zu.test; s=k1; h=from; "
    "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA==\r\n";
static const char junk_broken[] = "DKIM-Signature: x%zu\r\n";
static const char junk_aligned[] =
    "DKIM-Signature: v=1; a=ed25519-sha256; d=remote.test; s=k1; h=from; "
    "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA%02zu\r\n";
static const char junk_sub_aligned[] =
    "DKIM-Signature: v=1; a=ed25519-sha256; d=s%zu.remote.test; s=k1; h=from; "
    "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGVzdA==\r\n";

/* Class 2: junk above (or below) a genuine signature never pushes it out
 * from under the cap, unless the junk itself could align -- and then
 * only when the sender put it below the genuine one, which only the
 * message's composer can do. */
static void junk_signatures_do_not_push_out_the_genuine_one(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *fmt;
        int below;
        size_t n;
        sg_verdict_kind expect;
    } cases[] = {
        {junk_other, 0, 9, SG_VERDICT_AUTHENTIC},
        {junk_other, 0, 10, SG_VERDICT_AUTHENTIC},
        {junk_other, 0, 11, SG_VERDICT_AUTHENTIC},
        {junk_other, 0, 300, SG_VERDICT_AUTHENTIC},
        {junk_other, 1, 10, SG_VERDICT_AUTHENTIC},
        {junk_other, 1, 300, SG_VERDICT_AUTHENTIC},
        {junk_broken, 0, 10, SG_VERDICT_AUTHENTIC},
        {junk_broken, 0, 500, SG_VERDICT_AUTHENTIC},
        /* aligned junk above: evaluated bottom-up, the genuine one first */
        {junk_aligned, 0, 9, SG_VERDICT_AUTHENTIC},
        {junk_aligned, 0, 10, SG_VERDICT_AUTHENTIC},
        {junk_aligned, 0, 50, SG_VERDICT_AUTHENTIC},
        {junk_sub_aligned, 0, 50, SG_VERDICT_AUTHENTIC},
        /* aligned junk below it, within the cap: all evaluated */
        {junk_aligned, 1, 9, SG_VERDICT_AUTHENTIC},
        /* ten aligned bad signatures below the genuine one crowd it out:
         * only the composer can place them there, and the message is his */
        {junk_aligned, 1, 10, SG_VERDICT_FORGED},
        {junk_aligned, 1, 50, SG_VERDICT_FORGED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int len;
        sg_verdict *v;
        const sg_verdict_result *r;
        char *m = with_junk(f, cases[i].fmt, cases[i].n, cases[i].below, &len);
        assert_int_equal(run(f, &v, m, (size_t)len, "203.0.113.66", "x@other.test", &r), 0);
        if (r->verdict != cases[i].expect || r->temporary) {
            for (size_t k = 0; k < r->ndkim; k++)
                if (!r->dkim[k].skipped)
                    print_message("%zu %s %s %s\n", k, r->dkim[k].domain,
                                  sg_dkim_result_str(r->dkim[k].result), r->dkim[k].reason);
            fail_msg("case %zu: %s (%s)", i, sg_verdict_kind_str(r->verdict), r->reason);
        }
        assert_int_equal(r->ndkim, cases[i].n + 1);
        size_t skipped = 0, pass = 0;
        for (size_t k = 0; k < r->ndkim; k++) {
            skipped += r->dkim[k].skipped != 0;
            pass += r->dkim[k].result == SG_DKIM_PASS;
            if (r->dkim[k].skipped)
                assert_int_equal(r->dkim[k].result, SG_DKIM_POLICY);
        }
        assert_int_equal(skipped, r->ndkim_skipped);
        assert_int_equal(skipped, cases[i].n + 1 > 10 ? cases[i].n + 1 - 10 : 0);
        assert_int_equal(pass, cases[i].expect == SG_VERDICT_AUTHENTIC);
        /* the A-R names the pass even when hundreds are listed after it */
        if (cases[i].expect == SG_VERDICT_AUTHENTIC)
            assert_authres(r, "dkim", "pass");
        assert_authres(r, "dmarc", cases[i].expect == SG_VERDICT_AUTHENTIC ? "pass" : "fail");
        sg_verdict_free(v);
        free(m);
    }
}

/* Class 7: a DMARC fail that a temporary error on an identifier that
 * could align may have caused is a temperror, in the result and in the
 * A-R; an error on an identifier that cannot align leaves it definite. */
static void dmarc_temperror_is_consistent(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *from, *sign, *ip, *mail_from;
        int temporary;
        sg_dmarc_result_code dmarc;
    } cases[] = {
        /* aligned DKIM key lookup times out */
        {"slow.test", "slow.test", "203.0.113.66", "x@other.test", 1, SG_DMARC_RESULT_TEMPERROR},
        /* ... and the same From with the aligned signature failing for good */
        {"slow.test", NULL, "203.0.113.66", "x@other.test", 0, SG_DMARC_RESULT_FAIL},
        /* aligned SPF (MAIL FROM in the From domain) times out */
        {"spfslow.test", NULL, "203.0.113.66", "x@spfslow.test", 1, SG_DMARC_RESULT_TEMPERROR},
        /* the same SPF timeout on a MAIL FROM that cannot align */
        {"remote.test", NULL, "203.0.113.66", "x@spfslow.test", 0, SG_DMARC_RESULT_FAIL},
        /* a forger's own key lookup fails */
        {"remote.test", "attacker.test", "203.0.113.66", "x@other.test", 0, SG_DMARC_RESULT_FAIL},
        /* the DMARC record lookup itself times out */
        {"dslow.test", NULL, "203.0.113.66", "x@other.test", 1, SG_DMARC_RESULT_TEMPERROR},
        /* ours (p=none), aligned key times out: temperror, not forged */
        {"ourslow.test", "ourslow.test", "203.0.113.66", "x@other.test", 1,
         SG_DMARC_RESULT_TEMPERROR},
        /* the walk failed, so the Organizational Domain is unknown: a key
         * timeout under the author's registrable domain could hide a pass,
         * one that shares only a public suffix with it cannot (the suffix
         * guard; sg_dmarc_could_align) */
        {"bank.walk", "mail.bank.walk", "203.0.113.66", "x@other.test", 1,
         SG_DMARC_RESULT_TEMPERROR},
        {"bank.walk", "slowkey.walk", "203.0.113.66", "x@other.test", 0, SG_DMARC_RESULT_FAIL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sg_verdict *v;
        char *m = make_message(f, cases[i].from, cases[i].sign);
        const sg_verdict_result *r = check(f, &v, m, cases[i].ip, cases[i].mail_from);
        if (r->temporary != cases[i].temporary || r->dmarc.result != cases[i].dmarc)
            fail_msg("case %zu: temporary %d dmarc %s (%s)", i, r->temporary,
                     sg_dmarc_result_str(r->dmarc.result), r->reason);
        assert_authres(r, "dmarc", sg_dmarc_result_str(cases[i].dmarc));
        if (r->temporary) {
            assert_int_equal(r->verdict, SG_VERDICT_UNVERIFIED);
            assert_int_equal(r->disposition, SG_DMARC_DISP_NONE);
            assert_int_equal(r->dmarc.disposition, SG_DMARC_DISP_NONE);
            assert_null(strstr(r->authres_line, "dis=reject"));
        } else {
            assert_int_equal(r->verdict, SG_VERDICT_FORGED);
            assert_int_equal(r->disposition, SG_DMARC_DISP_REJECT);
        }
        sg_verdict_free(v);
        free(m);
    }
}

/* Our own domain's DMARC record lookup times out (adv16 F0): the record
 * cannot change the protected-domain rule, so a message nothing could
 * prove is refused; one that an aligned pass might prove waits. */
static void protected_without_record(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *sign, *ip, *mail_from;
        sg_verdict_kind verdict;
        int temporary;
    } cases[] = {
        /* the attacker's SPF passes, nothing signed: no identifier could align */
        {NULL, "203.0.113.66", "x@evil.test", SG_VERDICT_FORGED, 0},
        /* signed by the attacker's own domain */
        {"evil.test", "203.0.113.66", "x@evil.test", SG_VERDICT_FORGED, 0},
        /* SPF fails for our domain's MAIL FROM: nothing passed */
        {NULL, "203.0.113.66", "x@ourdslow.test", SG_VERDICT_FORGED, 0},
        /* our own signature passes: the record could make it a pass */
        {"ourdslow.test", "203.0.113.66", "x@evil.test", SG_VERDICT_UNVERIFIED, 1},
        /* our own server: SPF passes for our domain */
        {NULL, "192.0.2.1", "x@ourdslow.test", SG_VERDICT_UNVERIFIED, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sg_verdict *v;
        char *m = make_message(f, "ourdslow.test", cases[i].sign);
        const sg_verdict_result *r = check(f, &v, m, cases[i].ip, cases[i].mail_from);
        if (r->verdict != cases[i].verdict || r->temporary != cases[i].temporary)
            fail_msg("case %zu: verdict %d temporary %d (%s)", i, r->verdict, r->temporary,
                     r->reason);
        assert_int_equal(r->dmarc.result, SG_DMARC_RESULT_TEMPERROR);
        if (cases[i].verdict == SG_VERDICT_FORGED) {
            assert_int_equal(r->disposition, SG_DMARC_DISP_REJECT);
            assert_int_equal(r->rule, SG_VERDICT_RULE_PROTECTED);
        } else {
            assert_int_equal(r->disposition, SG_DMARC_DISP_NONE);
        }
        sg_verdict_free(v);
        free(m);
    }
}

static int listed(const sg_verdict_result *r, const char *name)
{
    for (size_t i = 0; i < r->nunsigned_fields; i++)
        if (!strcmp(r->unsigned_fields[i], name))
            return 1;
    return 0;
}

/* Class 8: a second, unsigned instance of a displayed field above a
 * signature that signs each name once. */
static void unsigned_duplicates(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *extra; /* prepended above the signature */
        int oversign;
        const char *ip;
        const char *name; /* expected in unsigned_fields, or NULL */
        sg_verdict_kind expect;
    } cases[] = {
        {"", 0, "203.0.113.66", NULL, SG_VERDICT_AUTHENTIC},
        {"Subject: urgent: new bank details\r\n", 0, "203.0.113.66", "Subject",
         SG_VERDICT_UNVERIFIED},
        {"To: victim@rcpt.test\r\n", 0, "203.0.113.66", "To", SG_VERDICT_UNVERIFIED},
        {"Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n", 0, "203.0.113.66", "Date",
         SG_VERDICT_UNVERIFIED},
        {"Message-ID: <evil@x.test>\r\n", 0, "203.0.113.66", "Message-ID", SG_VERDICT_UNVERIFIED},
        /* Reply-To and Cc are not in the message: one unsigned instance is
         * reported, the verdict stands (the signer did not sign it) */
        {"Reply-To: thief@attacker.test\r\n", 0, "203.0.113.66", "Reply-To", SG_VERDICT_AUTHENTIC},
        {"Cc: x@attacker.test\r\n", 0, "203.0.113.66", "Cc", SG_VERDICT_AUTHENTIC},
        /* a second From: several From fields, forged by rule */
        {"From: boss@remote.test\r\n", 0, "203.0.113.66", "From", SG_VERDICT_FORGED},
        /* an oversigning signer: the added field breaks the signature */
        {"Subject: urgent\r\n", 1, "203.0.113.66", "Subject", SG_VERDICT_FORGED},
        /* SPF aligns too: the domain's own server sent it all */
        {"Subject: urgent\r\n", 0, "198.51.100.1", "Subject", SG_VERDICT_AUTHENTIC},
        /* a field the signature does not list at all, once: reported only */
        {"Sender: s@remote.test\r\n", 0, "203.0.113.66", "Sender", SG_VERDICT_AUTHENTIC},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sg_verdict *v;
        char *signed_msg = make_message_ex(f, "remote.test", "remote.test", cases[i].oversign);
        char *m = malloc(strlen(signed_msg) + strlen(cases[i].extra) + 1);
        sprintf(m, "%s%s", cases[i].extra, signed_msg);
        const char *mf = strcmp(cases[i].ip, "198.51.100.1") ? "x@other.test" : "x@remote.test";
        const sg_verdict_result *r = check(f, &v, m, cases[i].ip, mf);
        if (r->verdict != cases[i].expect)
            fail_msg("case %zu: %s (%s)", i, sg_verdict_kind_str(r->verdict), r->reason);
        assert_int_equal(r->temporary, 0);
        if (cases[i].name)
            assert_true(listed(r, cases[i].name));
        /* the signed instances are never reported */
        if (!cases[i].oversign && cases[i].expect != SG_VERDICT_FORGED) {
            static const char *const signed_names[] = {"From", "To", "Subject", "Date",
                                                       "Message-ID"};
            for (size_t k = 0; k < 5; k++)
                if (!cases[i].name || strcmp(cases[i].name, signed_names[k]))
                    assert_false(listed(r, signed_names[k]));
        }
        sg_verdict_free(v);
        free(m);
        free(signed_msg);
    }
    /* two Subject fields, both signed (the signer listed the name for
     * each instance): nothing unsigned, the pass stands -- the rule is
     * about what no signature covers, not about the count alone */
    {
        sg_verdict *v2;
        char *m2 = make_message_x(f, "remote.test", "remote.test", 1, "Subject: first\r\n");
        const sg_verdict_result *r2 = check(f, &v2, m2, "203.0.113.66", "x@other.test");
        assert_int_equal(r2->verdict, SG_VERDICT_AUTHENTIC);
        assert_false(listed(r2, "Subject"));
        sg_verdict_free(v2);
        free(m2);
    }
    /* MIME fields decide how the signed body is shown: a second, unsigned
     * Content-Type (text/html over signed HTML source shown as text), or
     * transfer encoding, or MIME-Version above the signed ones */
    static const char mime_signed[] = "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
                                      "Content-Transfer-Encoding: 7bit\r\n";
    static const struct {
        const char *extra, *name;
    } mime[] = {
        {"Content-Type: text/html; charset=utf-8\r\n", "Content-Type"},
        {"Content-Transfer-Encoding: base64\r\n", "Content-Transfer-Encoding"},
        {"MIME-Version: 1.0\r\n", "MIME-Version"},
    };
    for (size_t i = 0; i < sizeof(mime) / sizeof(mime[0]); i++) {
        sg_verdict *v3;
        char *sm = make_message_x(f, "remote.test", "remote.test", 0, mime_signed);
        char *m3 = malloc(strlen(sm) + strlen(mime[i].extra) + 1);
        sprintf(m3, "%s%s", mime[i].extra, sm);
        const sg_verdict_result *r3 = check(f, &v3, m3, "203.0.113.66", "x@other.test");
        if (r3->verdict != SG_VERDICT_UNVERIFIED || !listed(r3, mime[i].name))
            fail_msg("mime case %zu: %s (%s)", i, sg_verdict_kind_str(r3->verdict), r3->reason);
        sg_verdict_free(v3);
        free(m3);
        /* the signed message alone: every MIME field covered */
        r3 = check(f, &v3, sm, "203.0.113.66", "x@other.test");
        assert_int_equal(r3->verdict, SG_VERDICT_AUTHENTIC);
        assert_false(listed(r3, mime[i].name));
        sg_verdict_free(v3);
        free(sm);
    }
    /* a Content-Type the signer did not sign, once: reported only */
    {
        sg_verdict *v4;
        char *sm = make_message_ex(f, "remote.test", "remote.test", 0);
        char *m4 = malloc(strlen(sm) + 64);
        sprintf(m4, "Content-Type: text/html\r\n%s", sm);
        const sg_verdict_result *r4 = check(f, &v4, m4, "203.0.113.66", "x@other.test");
        assert_int_equal(r4->verdict, SG_VERDICT_AUTHENTIC);
        assert_true(listed(r4, "Content-Type"));
        sg_verdict_free(v4);
        free(m4);
        free(sm);
    }
    /* unsigned: every displayed field present is listed */
    sg_verdict *v;
    char *m = make_message(f, "remote.test", NULL);
    const sg_verdict_result *r = check(f, &v, m, "198.51.100.1", "x@remote.test");
    assert_int_equal(r->verdict, SG_VERDICT_AUTHENTIC);
    assert_int_equal(r->nunsigned_fields, 5);
    sg_verdict_free(v);
    free(m);
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
        {"remote.test.", NULL, "203.0.113.5", "x@attacker.test"},           /* lenient From */
        {"remote.test.", "remote.test", "203.0.113.5", "x@attacker.test"},  /* lenient, signed */
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
            assert_int_equal(a->ndkim_skipped, b->ndkim_skipped);
            assert_int_equal(a->nunsigned_fields, b->nunsigned_fields);
            assert_int_equal(a->author.lenient, b->author.lenient);
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
        cmocka_unit_test_setup_teardown(contracts, setup, teardown),
        cmocka_unit_test_setup_teardown(lenient_from_keeps_protection, setup, teardown),
        cmocka_unit_test_setup_teardown(authres_takes_no_injected_results, setup, teardown),
        cmocka_unit_test_setup_teardown(reset_verdict_equals_fresh, setup, teardown),
        cmocka_unit_test_setup_teardown(spf_alone_aligns, setup, teardown),
        cmocka_unit_test_setup_teardown(forged_strict_domain_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(tampered_signature_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(protected_domain_with_lax_policy_is_forged, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(no_policy_is_unverified, setup, teardown),
        cmocka_unit_test_setup_teardown(p_none_fail_is_unverified, setup, teardown),
        cmocka_unit_test_setup_teardown(failure_reason_names_the_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(key_timeout_is_never_a_reject, setup, teardown),
        cmocka_unit_test_setup_teardown(from_problems_never_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(display_name_trick, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_values_still_give_authres, setup, teardown),
        cmocka_unit_test_setup_teardown(from_tricks_on_protected_domains, setup, teardown),
        cmocka_unit_test_setup_teardown(forgers_dns_error_is_not_temporary, setup, teardown),
        cmocka_unit_test_setup_teardown(reader_view_of_the_from, setup, teardown),
        cmocka_unit_test_setup_teardown(protected_u_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(sender_counts_never_internal_error, setup, teardown),
        cmocka_unit_test_setup_teardown(junk_signatures_do_not_push_out_the_genuine_one, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dmarc_temperror_is_consistent, setup, teardown),
        cmocka_unit_test_setup_teardown(protected_without_record, setup, teardown),
        cmocka_unit_test_setup_teardown(unsigned_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(route_is_not_the_author, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
