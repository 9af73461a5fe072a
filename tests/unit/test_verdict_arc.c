/*
 * trusted_arc_sealers (local policy, RFC 8617 7.2), end to end: messages
 * from remote.test (p=reject) reach us through a forwarder (SPF fails,
 * no DKIM), sealed with our own ARC sealer, and the verdict must
 *   - accept (disposition none, policy_override "trusted_forwarder",
 *     dmarc= still fail with a comment) only when the chain passes, the
 *     newest set is sealed by a trusted domain and its AAR says dmarc=pass
 *     for the same From domain;
 *   - do nothing by default, for an untrusted sealer, a failing chain, a
 *     trusted AAR that says fail or speaks of another domain, a protected
 *     From domain, or a message that passes DMARC anyway;
 *   - do nothing when a forger adds his own (valid) set on top of a
 *     genuinely forwarded message, or seals a forgery himself.
 */
#include "helpers.h"

#include "dkim/dkim_int.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spoofguard/arc.h>
#include <spoofguard/verdict.h>

typedef struct {
    sg_zone *zone;
    sg_resolver *r;
    sg_dkim_signkey *fwd, *evil, *dkim;
} fixture;

#define FWD_IP "203.0.113.5"
#define PASS_AAR                                                                                   \
    "spf=pass smtp.mailfrom=remote.test; dkim=pass header.d=remote.test; dmarc=pass "              \
    "header.from=remote.test"

static void add_key(sg_zone *z, const char *name, sg_dkim_signkey *k)
{
    char *rec, *q;
    assert_int_equal(sg_dkim_signkey_record(k, &rec), 0);
    /* one character-string: a 1024-bit RSA record fits in 255 bytes */
    assert_true(strlen(rec) < 255);
    q = malloc(strlen(rec) + 3);
    sprintf(q, "\"%s\"", rec);
    assert_int_equal(sg_zone_add(z, name, "TXT", q, 300), 0);
    free(q);
    free(rec);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_int_equal(sg_zone_new(&f->zone), 0);
    assert_int_equal(sg_dkim_signkey_generate(&f->fwd, SG_DKIM_RSA_SHA256, 1024), 0);
    assert_int_equal(sg_dkim_signkey_generate(&f->evil, SG_DKIM_RSA_SHA256, 1024), 0);
    assert_int_equal(sg_dkim_signkey_generate(&f->dkim, SG_DKIM_RSA_SHA256, 1024), 0);
    assert_int_equal(
        sg_zone_add(f->zone, "remote.test", "TXT", "\"v=spf1 ip4:198.51.100.1 -all\"", 300), 0);
    assert_int_equal(
        sg_zone_add(f->zone, "_dmarc.remote.test", "TXT", "\"v=DMARC1; p=reject\"", 300), 0);
    assert_int_equal(sg_zone_add(f->zone, "fwd.test", "TXT", "\"v=spf1 -all\"", 300), 0);
    add_key(f->zone, "arc._domainkey.fwd.test", f->fwd);
    add_key(f->zone, "arc._domainkey.evil.test", f->evil);
    /* slow.test's key never answers */
    assert_int_equal(sg_zone_add(f->zone, "arc._domainkey.slow.test", "TXT", "TIMEOUT", 300), 0);
    add_key(f->zone, "k1._domainkey.remote.test", f->dkim);
    assert_int_equal(sg_resolver_new_zone(&f->r, f->zone), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sg_resolver_free(f->r);
    sg_zone_free(f->zone);
    sg_dkim_signkey_free(f->fwd);
    sg_dkim_signkey_free(f->evil);
    sg_dkim_signkey_free(f->dkim);
    free(f);
    return 0;
}

/* ---- making messages ------------------------------------------------------------------ */

static const char base[] =
    "From: Ann <ann@remote.test>\r\nTo: list@fwd.test\r\n"
    "Subject: [list] hello\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
    "Message-ID: <a1@remote.test>\r\n\r\nHello,\r\nthe list adds a footer.\r\n";

struct both {
    sg_arc_verifier *v;
    sg_arc_sealer *s;
};

static int b_headers(const sg_header *f, size_t n, void *p)
{
    struct both *b = p;
    int rc = sg_arc_verify_headers(b->v, f, n);
    return rc ? rc : sg_arc_seal_headers(b->s, f, n);
}

static int b_body(const char *d, size_t n, void *p)
{
    struct both *b = p;
    int rc = sg_arc_verify_body(b->v, d, n);
    return rc ? rc : sg_arc_seal_body(b->s, d, n);
}

/* msg with a new ARC set by domain (selector "arc") on top; malloc'd */
static char *seal(fixture *f, const char *msg, const char *domain, sg_dkim_signkey *key,
                  const char *results)
{
    struct both b = {0};
    sg_msg_parser *p = NULL;
    sg_msg_callbacks cbs = {b_headers, b_body, NULL};
    sg_arc_seal_opts o;
    const sg_arc_result *res;
    const char *out;
    size_t olen;
    char *sealed;
    sg_arc_seal_opts_init(&o);
    o.domain = domain;
    o.selector = "arc";
    o.key = key;
    o.authserv_id = "mx.fwd.test";
    o.results = results;
    assert_int_equal(sg_arc_verifier_new(&b.v, f->r, NULL, NULL), 0);
    assert_int_equal(sg_arc_sealer_new(&b.s, &o), 0);
    assert_int_equal(sg_msg_parser_new(&p, NULL, &cbs, &b), 0);
    assert_int_equal(sg_msg_feed(p, msg, strlen(msg)), 0);
    assert_int_equal(sg_msg_finish(p), 0);
    assert_int_equal(sg_arc_verify_wait(b.v), 0);
    assert_int_equal(sg_arc_verify_result(b.v, &res), 0);
    sg_arc_sealer_set_cv(b.s, res->cv);
    assert_int_equal(sg_arc_seal_finish(b.s, &out, &olen), 0);
    assert_true(olen > 0);
    sealed = malloc(olen + strlen(msg) + 1);
    memcpy(sealed, out, olen);
    strcpy(sealed + olen, msg);
    sg_msg_parser_free(p);
    sg_arc_sealer_free(b.s);
    sg_arc_verifier_free(b.v);
    return sealed;
}

static int d_headers(const sg_header *f, size_t n, void *p)
{
    return sg_dkim_sign_headers(p, f, n);
}

static int d_body(const char *d, size_t n, void *p)
{
    return sg_dkim_sign_body(p, d, n);
}

/* msg DKIM-signed by remote.test (aligned: DMARC passes); malloc'd */
static char *dkim_sign(fixture *f, const char *msg)
{
    sg_dkim_sign_opts o;
    sg_dkim_signer *s = NULL;
    sg_msg_parser *p = NULL;
    sg_msg_callbacks cbs = {d_headers, d_body, NULL};
    const char *sig;
    size_t slen;
    char *out;
    sg_dkim_sign_opts_init(&o);
    o.domain = "remote.test";
    o.selector = "k1";
    o.key = f->dkim;
    assert_int_equal(sg_dkim_signer_new(&s, &o, 1), 0);
    assert_int_equal(sg_msg_parser_new(&p, NULL, &cbs, s), 0);
    assert_int_equal(sg_msg_feed(p, msg, strlen(msg)), 0);
    assert_int_equal(sg_msg_finish(p), 0);
    assert_int_equal(sg_dkim_sign_finish(s, &sig, &slen), 0);
    out = malloc(slen + strlen(msg) + 1);
    memcpy(out, sig, slen);
    strcpy(out + slen, msg);
    sg_msg_parser_free(p);
    sg_dkim_signer_free(s);
    return out;
}

/* ---- judging ---------------------------------------------------------------------------- */

/* The verdict for msg from the forwarder's IP, trusting `trusted` (NULL
 * ends the list; none: the default). *v must be freed by the caller. */
static const sg_verdict_result *judge(fixture *f, sg_verdict **v, const char *msg,
                                      const char *const *trusted, const char *protect)
{
    sg_verdict_opts o;
    sg_verdict_envelope env = {FWD_IP, "mx.fwd.test", "bounce@fwd.test"};
    const sg_verdict_result *r;
    size_t n = 0;
    while (trusted && trusted[n])
        n++;
    sg_verdict_opts_init(&o);
    o.authserv_id = "mx.us.test";
    o.trusted_arc_sealers = trusted;
    o.ntrusted_arc_sealers = n;
    if (protect) {
        o.protected_domains = &protect;
        o.nprotected = 1;
    }
    assert_int_equal(sg_verdict_new(v, f->r, &o), 0);
    assert_int_equal(sg_verdict_envelope_set(*v, &env), 0);
    assert_int_equal(sg_verdict_feed(*v, msg, strlen(msg)), 0);
    assert_int_equal(sg_verdict_finish_sync(*v, &r), 0);
    return r;
}

static void assert_forged_reject(const sg_verdict_result *r)
{
    assert_int_equal(r->dmarc.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(r->verdict, SG_VERDICT_FORGED);
    assert_int_equal(r->disposition, SG_DMARC_DISP_REJECT);
    assert_int_not_equal(r->rule, SG_VERDICT_RULE_TRUSTED_ARC);
    assert_null(r->policy_override);
    assert_null(r->arc_trusted_sealer);
    assert_null(strstr(r->authres_line, "trusted_forwarder"));
}

static const char *const trust_fwd[] = {"FWD.test.", NULL}; /* case and dot do not matter */
static const char *const trust_other[] = {"other.test", NULL};

/* ---- the tests -------------------------------------------------------------------------- */

static void trusted_passing_chain_overrides(void **state)
{
    fixture *f = *state;
    sg_verdict *v = NULL;
    char *m = seal(f, base, "fwd.test", f->fwd, PASS_AAR);
    const sg_verdict_result *r = judge(f, &v, m, trust_fwd, NULL);
    assert_non_null(r->arc);
    assert_int_equal(r->arc->cv, SG_ARC_PASS);
    assert_int_equal(r->dmarc.result, SG_DMARC_RESULT_FAIL); /* a local policy, not a pass */
    assert_int_equal(r->verdict, SG_VERDICT_UNVERIFIED);
    assert_int_equal(r->disposition, SG_DMARC_DISP_NONE);
    assert_int_equal(r->dmarc.disposition, SG_DMARC_DISP_NONE);
    assert_int_equal(r->dmarc_disposition_evaluated, SG_DMARC_DISP_REJECT);
    assert_int_equal(r->rule, SG_VERDICT_RULE_TRUSTED_ARC);
    assert_string_equal(r->policy_override, "trusted_forwarder");
    assert_string_equal(r->arc_trusted_sealer, "fwd.test");
    assert_non_null(strstr(r->authres_line, "dmarc=fail (p=reject dis=none, trusted_forwarder by "
                                            "local policy: ARC sealer fwd.test)"));
    assert_non_null(strstr(r->authres_line, "arc=pass"));
    /* the same message, by default (no trusted sealer): forged */
    sg_verdict_free(v);
    assert_forged_reject(judge(f, &v, m, NULL, NULL));
    sg_verdict_free(v);
    free(m);
}

static void untrusted_or_failing_chain_does_nothing(void **state)
{
    fixture *f = *state;
    sg_verdict *v = NULL;
    char *m = seal(f, base, "fwd.test", f->fwd, PASS_AAR), *p;
    /* another sealer trusted */
    assert_forged_reject(judge(f, &v, m, trust_other, NULL));
    sg_verdict_free(v);
    /* a body byte changed after the seal: the chain fails */
    p = strstr(m, "footer");
    p[0] = 'F';
    {
        const sg_verdict_result *r = judge(f, &v, m, trust_fwd, NULL);
        assert_int_equal(r->arc->cv, SG_ARC_FAIL);
        assert_forged_reject(r);
    }
    sg_verdict_free(v);
    free(m);
}

static void trusted_aar_must_say_dmarc_pass_for_this_from(void **state)
{
    fixture *f = *state;
    sg_verdict *v = NULL;
    static const char *const aars[] = {
        /* the forwarder saw a forgery */
        "spf=fail smtp.mailfrom=remote.test; dmarc=fail header.from=remote.test",
        /* a pass for another domain than the From we judge */
        "dmarc=pass header.from=evil.test",
        /* no DMARC result at all */
        "spf=pass smtp.mailfrom=remote.test",
        /* contradictory results for this domain */
        "dmarc=pass header.from=remote.test; dmarc=fail header.from=remote.test",
        /* unparsable (strict RFC 8601 parser: an unterminated comment) */
        "dmarc=pass header.from=remote.test (no end",
        /* one result naming two author domains: which one passed? (adv22 F5) */
        "dmarc=pass header.from=evil.test header.from=remote.test",
        "dmarc=pass header.from=remote.test header.from=evil.test",
    };
    for (size_t i = 0; i < sizeof(aars) / sizeof(*aars); i++) {
        char *m = seal(f, base, "fwd.test", f->fwd, aars[i]);
        const sg_verdict_result *r = judge(f, &v, m, trust_fwd, NULL);
        assert_int_equal(r->arc->cv, SG_ARC_PASS);
        assert_forged_reject(r);
        sg_verdict_free(v);
        free(m);
    }
}

/* The trusted sealer's key got no answer: the chain fails, but only for
 * now, and so might the override: a temporary answer, never the reject a
 * failed chain gets (adv22 F2). Untrusted, the same failure changes
 * nothing. */
static void trusted_sealer_key_timeout_is_temporary(void **state)
{
    fixture *f = *state;
    sg_verdict *v = NULL;
    static const char *const trust_slow[] = {"slow.test", NULL};
    char *m = seal(f, base, "slow.test", f->fwd, PASS_AAR);
    const sg_verdict_result *r = judge(f, &v, m, trust_slow, NULL);
    assert_int_equal(r->arc->cv, SG_ARC_FAIL);
    assert_true(r->arc->temporary);
    assert_int_equal(r->verdict, SG_VERDICT_UNVERIFIED);
    assert_true(r->temporary);
    assert_int_equal(r->disposition, SG_DMARC_DISP_NONE);
    assert_int_equal(r->dmarc.disposition, SG_DMARC_DISP_NONE);
    assert_null(r->policy_override);
    assert_null(strstr(r->authres_line, "dis=reject"));
    /* arc has no temperror: the fail says it is undecided */
    assert_non_null(strstr(r->authres_line, "arc=fail (1 hop; a key got no answer, temporary)"));
    sg_verdict_free(v);
    r = judge(f, &v, m, trust_fwd, NULL);
    assert_true(r->arc->temporary);
    assert_forged_reject(r);
    assert_false(r->temporary);
    sg_verdict_free(v);
    free(m);
}

static void dmarc_pass_and_protected_domains_are_untouched(void **state)
{
    fixture *f = *state;
    sg_verdict *v = NULL;
    char *signed_msg = dkim_sign(f, base);
    char *m = seal(f, signed_msg, "fwd.test", f->fwd, PASS_AAR);
    const sg_verdict_result *r = judge(f, &v, m, trust_fwd, NULL);
    assert_int_equal(r->dmarc.result, SG_DMARC_RESULT_PASS);
    assert_int_equal(r->verdict, SG_VERDICT_AUTHENTIC);
    assert_null(r->policy_override);
    sg_verdict_free(v);
    free(m);
    /* a protected From domain must pass by itself */
    m = seal(f, base, "fwd.test", f->fwd, PASS_AAR);
    r = judge(f, &v, m, trust_fwd, "remote.test");
    assert_int_equal(r->verdict, SG_VERDICT_FORGED);
    assert_int_equal(r->rule, SG_VERDICT_RULE_PROTECTED);
    assert_null(r->policy_override);
    sg_verdict_free(v);
    free(m);
    free(signed_msg);
}

static void forger_cannot_claim_it(void **state)
{
    fixture *f = *state;
    sg_verdict *v = NULL;
    const sg_verdict_result *r;
    /* 1. the forger seals his forgery himself, claiming dmarc=pass */
    char *m = seal(f, base, "evil.test", f->evil, PASS_AAR);
    r = judge(f, &v, m, trust_fwd, NULL);
    assert_int_equal(r->arc->cv, SG_ARC_PASS);
    assert_forged_reject(r);
    sg_verdict_free(v);
    free(m);
    /* 2. a genuine trusted seal, then the forger's own valid set on top
     * (he may have changed anything before sealing): the newest sealer
     * is not trusted */
    {
        char *fwd = seal(f, base, "fwd.test", f->fwd, PASS_AAR);
        m = seal(f, fwd, "evil.test", f->evil, PASS_AAR);
        r = judge(f, &v, m, trust_fwd, NULL);
        assert_int_equal(r->arc->cv, SG_ARC_PASS);
        assert_int_equal(r->arc->instance, 2);
        assert_forged_reject(r);
        sg_verdict_free(v);
        free(m);
        free(fwd);
    }
    /* 3. a forged ARC set that claims d=fwd.test but is signed with the
     * forger's key: the chain fails */
    {
        sg_dkim_signkey *stolen_name = f->evil;
        m = seal(f, base, "fwd.test", stolen_name, PASS_AAR);
        r = judge(f, &v, m, trust_fwd, NULL);
        assert_int_equal(r->arc->cv, SG_ARC_FAIL);
        assert_forged_reject(r);
        sg_verdict_free(v);
        free(m);
    }
}

/* msg with tag's value in the named ARC field replaced (tag preceded by
 * a space or ';', value up to the next ';' or the field's end); msg is
 * freed, the new message malloc'd. */
static char *set_tag(char *msg, const char *field, const char *tag, const char *value)
{
    char *start = strstr(msg, field), *end, *at, *vend, *out;
    size_t tl = strlen(tag);
    assert_non_null(start);
    for (end = start; !(end[0] == '\r' && end[1] == '\n' && end[2] != ' ' && end[2] != '\t'); end++)
        assert_true(*end != '\0');
    for (at = start + strlen(field); at < end; at++)
        if ((at[-1] == ' ' || at[-1] == ';') && !strncmp(at, tag, tl) && at[tl] == '=')
            break;
    assert_true(at < end);
    at += tl + 1;
    for (vend = at; vend < end && *vend != ';'; vend++)
        ;
    out = malloc(strlen(msg) + strlen(value) + 1);
    assert_non_null(out);
    sprintf(out, "%.*s%s%s", (int)(at - msg), msg, value, vend);
    free(msg);
    return out;
}

/* A forger's set: a seal claiming the trusted forwarder (d=fwd.test, its
 * signature junk) over an AMS of his own domain, whose key never answers.
 * The seal fails for good whatever the AMS's key would say: forged and
 * rejected, never the temporary answer a withheld key would buy (rev19 #1;
 * the chain was judged at its first failing step, the AMS, as temporary). */
static void forged_seal_behind_a_withheld_key(void **state)
{
    fixture *f = *state;
    sg_verdict *v = NULL;
    char *m = set_tag(seal(f, base, "slow.test", f->fwd, PASS_AAR), "ARC-Seal", "d", "fwd.test");
    const sg_verdict_result *r = judge(f, &v, m, trust_fwd, NULL);
    assert_int_equal(r->arc->cv, SG_ARC_FAIL);
    assert_false(r->arc->temporary);
    assert_string_equal(r->arc->reason, "an ARC-Seal did not verify");
    assert_forged_reject(r);
    assert_false(r->temporary);
    sg_verdict_free(v);
    free(m);
}

/* A trusted forwarder's passing set whose ARC-Message-Signature does not
 * sign From (RFC 8617 allows it; our sealer always signs From) says
 * nothing about the From: whoever holds such a sealed message may change
 * its From, so it must not turn a DMARC failure into an accept. The set
 * is re-signed by hand with the forwarder's key and another h=; the
 * sets that do sign From show the re-signing is sound (they override). */
static void trusted_set_must_sign_from(void **state)
{
    static const struct {
        const char *h;
        int covers;
    } cases[] = {
        {"from:to:subject:date:message-id", 1},
        {"To:FROM", 1},
        {"to:subject:date:message-id", 0},
        {"to:x-from:date", 0},
    };
    fixture *f = *state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        sg_verdict *v = NULL;
        const sg_verdict_result *r;
        char *m = seal(f, base, "fwd.test", f->fwd, PASS_AAR);
        m = set_tag(m, "ARC-Message-Signature:", "h", cases[c].h);
        m = set_tag(m, "ARC-Message-Signature:", "b", "AAAA");
        m = set_tag(m, "ARC-Seal:", "b", "AAAA");
        assert_non_null(m = sg_test_arc_sign_field(m, 1, sg_dkim_signkey_pkey(f->fwd)));
        assert_non_null(m = sg_test_arc_sign_field(m, 0, sg_dkim_signkey_pkey(f->fwd)));
        r = judge(f, &v, m, trust_fwd, NULL);
        assert_non_null(r->arc);
        if (r->arc->cv != SG_ARC_PASS || r->arc->count != 1 ||
            r->arc->sets[0].ams_covers_from != cases[c].covers)
            fail_msg("h=%s: cv %s, covers From %d", cases[c].h, sg_arc_cv_str(r->arc->cv),
                     r->arc->count ? r->arc->sets[0].ams_covers_from : -1);
        if (cases[c].covers) {
            assert_int_equal(r->rule, SG_VERDICT_RULE_TRUSTED_ARC);
            assert_string_equal(r->policy_override, "trusted_forwarder");
            assert_int_equal(r->disposition, SG_DMARC_DISP_NONE);
        } else {
            assert_forged_reject(r);
        }
        sg_verdict_free(v);
        free(m);
    }
}

/* Our seal over a message with 300 To fields: the AMS's h= stays within
 * what a verifier takes (ours: 256 names), so our next hop validates it. */
static void seal_over_many_fields(void **state)
{
    fixture *f = *state;
    sg_verdict *v = NULL;
    size_t n = 0;
    char *msg = malloc(sizeof(base) + 300 * 32), *m;
    const sg_verdict_result *r;
    assert_non_null(msg);
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(msg + n, "To: r%d@fwd.test\r\n", i);
    strcpy(msg + n, base);
    m = seal(f, msg, "fwd.test", f->fwd, PASS_AAR);
    r = judge(f, &v, m, trust_fwd, NULL);
    assert_non_null(r->arc);
    if (r->arc->cv != SG_ARC_PASS)
        fail_msg("cv %s: %s", sg_arc_cv_str(r->arc->cv), r->arc->reason);
    assert_int_equal(r->arc->sets[0].ams_covers_from, 1);
    sg_verdict_free(v);
    free(m);
    free(msg);
}

static void bad_sealer_names_are_refused(void **state)
{
    fixture *f = *state;
    sg_verdict *v = NULL;
    const char *bad[] = {"not a domain", NULL};
    sg_verdict_opts o;
    sg_verdict_opts_init(&o);
    assert_null(o.trusted_arc_sealers); /* off by default */
    assert_int_equal(o.ntrusted_arc_sealers, 0);
    o.trusted_arc_sealers = bad;
    o.ntrusted_arc_sealers = 1;
    assert_int_equal(sg_verdict_new(&v, f->r, &o), SG_EINVAL);
    assert_null(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(trusted_passing_chain_overrides, setup, teardown),
        cmocka_unit_test_setup_teardown(untrusted_or_failing_chain_does_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(trusted_aar_must_say_dmarc_pass_for_this_from, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dmarc_pass_and_protected_domains_are_untouched, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(forger_cannot_claim_it, setup, teardown),
        cmocka_unit_test_setup_teardown(trusted_sealer_key_timeout_is_temporary, setup, teardown),
        cmocka_unit_test_setup_teardown(forged_seal_behind_a_withheld_key, setup, teardown),
        cmocka_unit_test_setup_teardown(trusted_set_must_sign_from, setup, teardown),
        cmocka_unit_test_setup_teardown(seal_over_many_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_sealer_names_are_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
