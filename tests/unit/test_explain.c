/*
 * What a reader is told (src/reader/explain.c): the headline from both
 * paths (the caller's verdict, our own trusted Authentication-Results),
 * the identity panel, each warning with a positive and a negative
 * neighbour, links inert or not by headline, and hostile input.
 *
 * The fixtures are real signed messages (tests/data/explain/msg, signed
 * by make.sh at t=1764000000 with the keys whose records are in
 * tests/data/explain/zone); every verdict here comes from the library
 * itself, verifying them at a fixed time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <spoofguard/arena.h>
#include <spoofguard/authres.h>
#include <spoofguard/dkim.h>
#include <spoofguard/dns.h>
#include <spoofguard/msg.h>
#include <spoofguard/verdict.h>

#include "common/json.h"
#include "explain.h"
#include "helpers.h"

#define NOW 1764000100
#define AUTHSERV "mx.mailbox.example"

typedef struct {
    sg_zone *zone;
    sg_resolver *r;
    sgr_lookalike *lk;
    char dir[4096];
} fixture;

static const char *protect[] = {"ourco.example"};

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    size_t line = 0;
    const char *d = getenv("SG_EXPLAIN_DATA");
    snprintf(f->dir, sizeof(f->dir), "%s", d ? d : sg_test_path(sg_test_data_dir(), "explain"));
    assert_int_equal(sg_zone_new(&f->zone), 0);
    char zp[4200];
    snprintf(zp, sizeof(zp), "%s/zone", f->dir);
    assert_int_equal(sg_zone_load_file(f->zone, zp, NULL, &line), 0);
    /* a policy lookup that fails: the temporary verdict */
    assert_int_equal(sg_zone_add(f->zone, "_dmarc.slowdns.example", "SERVFAIL", "TXT", 300), 0);
    assert_int_equal(
        sg_zone_add(f->zone, "_dmarc.broken.example", "TXT", "\"v=DMARC1; p=bogus\"", 300), 0);
    assert_int_equal(sg_resolver_new_zone(&f->r, f->zone), 0);
    /* lookalike references: ours and the operator's */
    sgr_lookalike_builder *b;
    char psl[4096];
    snprintf(psl, sizeof psl, "%s/dmarc/psl/public_suffix_list.dat", sg_test_conformance_dir());
    assert_int_equal(sgr_lookalike_builder_new(&b, psl), SGR_LOOKALIKE_OK);
    assert_int_equal(sgr_lookalike_builder_add(b, "ourco.example", 13, SGR_LOOKALIKE_PROTECTED), 0);
    assert_int_equal(sgr_lookalike_builder_add(b, "paypal.com", 10, SGR_LOOKALIKE_OPERATOR), 0);
    assert_int_equal(sgr_lookalike_builder_add(b, "shop.example", 12, SGR_LOOKALIKE_OPERATOR), 0);
    /* a list the viewer learned from its verified mail: a third party it
     * may name (rev21 R-2) */
    assert_int_equal(sgr_lookalike_builder_add(b, "lists.example", 13, SGR_LOOKALIKE_CORRESPONDENT),
                     0);
    assert_int_equal(sgr_lookalike_build(&f->lk, b), SGR_LOOKALIKE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sgr_lookalike_free(f->lk);
    sg_resolver_free(f->r);
    sg_zone_free(f->zone);
    free(f);
    return 0;
}

static char *load(fixture *f, const char *name, size_t *len)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/msg/%s", f->dir, name);
    char *m = sg_test_read_file(p, len);
    if (m == NULL)
        fail_msg("cannot read %s", p);
    return m;
}

/* The library's verdict of msg, as spoofguard verify gives it (the
 * defaults, our protected domain, a fixed time). ip/mail_from: SPF. */
static const char *helo = "mta.example"; /* the envelope's; helo_pass changes it */

static const sg_verdict_result *verify_sealer(fixture *f, sg_verdict **v, const char *msg,
                                              size_t len, const char *ip, const char *mail_from,
                                              const char *sealer)
{
    sg_verdict_opts o;
    const sg_verdict_result *r = NULL;
    sg_verdict_opts_init(&o);
    o.authserv_id = AUTHSERV;
    o.protected_domains = protect;
    o.nprotected = 1;
    o.now = NOW;
    if (sealer) {
        o.trusted_arc_sealers = &sealer;
        o.ntrusted_arc_sealers = 1;
    }
    assert_int_equal(sg_verdict_new(v, f->r, &o), 0);
    sg_verdict_envelope env = {.client_ip = ip, .helo = helo, .mail_from = mail_from};
    assert_int_equal(sg_verdict_envelope_set(*v, &env), 0);
    assert_int_equal(sg_verdict_feed(*v, msg, len), 0);
    assert_int_equal(sg_verdict_finish_sync(*v, &r), 0);
    return r;
}

static const sg_verdict_result *verify(fixture *f, sg_verdict **v, const char *msg, size_t len,
                                       const char *ip, const char *mail_from)
{
    return verify_sealer(f, v, msg, len, ip, mail_from, NULL);
}

static void base_opts(fixture *f, sgr_explain_opts *o)
{
    sgr_explain_opts_init(o);
    o->authserv_id = AUTHSERV;
    o->lookalike = f->lk;
    o->protected_domains = protect;
    o->nprotected = 1;
}

/* "Authentication-Results: VALUE\r\n" + msg (malloc'ed). */
static char *with_field(const char *name, const char *value, const char *msg, size_t len,
                        size_t *outlen)
{
    size_t n = strlen(name) + strlen(value) + 4 + len;
    char *m = malloc(n + 1);
    int k = snprintf(m, n + 1, "%s: %s\r\n", name, value);
    memcpy(m + k, msg, len);
    m[k + len] = '\0';
    *outlen = (size_t)k + len;
    return m;
}

static size_t count_kind(const sgr_warning *w, size_t n, const char *kind)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += strcmp(w[i].kind, kind) == 0;
    return c;
}

static const char *find_kind(const sgr_explanation *e, const char *kind)
{
    for (size_t i = 0; i < e->nwarnings; i++)
        if (!strcmp(e->warnings[i].kind, kind))
            return e->warnings[i].detail;
    return NULL;
}

/* Every string of the JSON is valid UTF-8 and the contract's keys are
 * there. */
static void check_json(const sgr_explanation *e)
{
    char *j = NULL;
    size_t len = 0;
    assert_int_equal(sgr_explain_json(e, &j, &len), SGR_EXPLAIN_OK);
    assert_int_equal(strlen(j), len);
    for (size_t i = 0; i < len;) {
        size_t l = sgu_utf8_len((const unsigned char *)j + i, len - i);
        if (l == 0)
            fail_msg("invalid UTF-8 at %zu in %s", i, j);
        i += l;
    }
    static const char *keys[] = {"\"headline\":",
                                 "\"identity\":{\"display_name\":",
                                 "\"address\":",
                                 "\"domain\":",
                                 "\"registrable_domain\":",
                                 "\"signed_by\":[",
                                 "\"mailed_by\":",
                                 "\"warnings\":[",
                                 "\"links\":["};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strstr(j, keys[i]) == NULL)
            fail_msg("no %s in %s", keys[i], j);
    assert_true(j[0] == '{' && j[len - 1] == '}');
    /* every key has a value: a writer that drops one ("k":,) fails here */
    assert_null(strstr(j, "\":,"));
    assert_null(strstr(j, "\":}"));
    free(j);
}

typedef struct {
    sgr_explanation *e;    /* verdict path */
    sgr_explanation *e_ar; /* our A-R path */
    sg_verdict_kind kind;
} both;

/* Explains a fixture through the verdict, then the same bytes under the
 * A-R that verdict wrote (as spoofguardd adds it) with no verdict. */
static both explain_both_text(fixture *f, char *m, size_t len, const sgr_explain_opts *o,
                              const char *ip, const char *mail_from);

static both explain_both(fixture *f, const char *name, const sgr_explain_opts *o, const char *ip,
                         const char *mail_from)
{
    size_t len;
    char *m = load(f, name, &len);
    return explain_both_text(f, m, len, o, ip, mail_from);
}

/* m: malloc'ed, freed here */
static both explain_both_text(fixture *f, char *m, size_t len, const sgr_explain_opts *o,
                              const char *ip, const char *mail_from)
{
    both b;
    size_t arlen;
    sg_verdict *v;
    const sg_verdict_result *r = verify(f, &v, m, len, ip, mail_from);
    b.kind = r->verdict;
    assert_int_equal(sgr_explain(&b.e, m, len, r, o), SGR_EXPLAIN_OK);
    assert_int_equal(b.e->verified_by, SGR_FROM_VERIFIED);
    assert_ptr_equal(b.e->verdict, r);
    check_json(b.e);
    char *ar = with_field("Authentication-Results", r->authres, m, len, &arlen);
    assert_int_equal(sgr_explain_trusts_authres(ar, arlen, AUTHSERV), 1);
    assert_int_equal(sgr_explain(&b.e_ar, ar, arlen, NULL, o), SGR_EXPLAIN_OK);
    assert_int_equal(b.e_ar->verified_by, SGR_FROM_AUTHRES);
    check_json(b.e_ar);
    free(ar);
    /* the verdict is referenced by b.e only through e->verdict, which the
     * checks below do not read after this point */
    sg_verdict_free(v);
    b.e->verdict = NULL;
    free(m);
    return b;
}

static void free_both(both *b)
{
    sgr_explain_free(b->e);
    sgr_explain_free(b->e_ar);
}

/* ---- the headline from both paths ---------------------------------------- */

static const struct {
    const char *file;
    sg_verdict_kind kind;
    sgr_headline headline;
    const char *third_party;
} headlines[] = {
    {"authentic.eml", SG_VERDICT_AUTHENTIC, SGR_HEADLINE_VERIFIED, NULL},
    {"authentic_links.eml", SG_VERDICT_AUTHENTIC, SGR_HEADLINE_VERIFIED, NULL},
    {"encoded_name.eml", SG_VERDICT_AUTHENTIC, SGR_HEADLINE_VERIFIED, NULL},
    {"unsigned_sender.eml", SG_VERDICT_AUTHENTIC, SGR_HEADLINE_VERIFIED, NULL},
    {"protected_signed.eml", SG_VERDICT_AUTHENTIC, SGR_HEADLINE_VERIFIED, NULL},
    /* DMARC reject, no signature; and a list's signature cannot lift it */
    {"forged.eml", SG_VERDICT_FORGED, SGR_HEADLINE_FORGED, NULL},
    {"forged_thirdparty.eml", SG_VERDICT_FORGED, SGR_HEADLINE_FORGED, NULL},
    /* a protected domain with p=none, and several From fields */
    {"protected.eml", SG_VERDICT_FORGED, SGR_HEADLINE_FORGED, NULL},
    {"multifrom.eml", SG_VERDICT_FORGED, SGR_HEADLINE_FORGED, NULL},
    {"thirdparty.eml", SG_VERDICT_UNVERIFIED, SGR_HEADLINE_VERIFIED_THIRD_PARTY, "lists.example"},
    /* two third parties: the List-Id's, not the topmost signature's */
    {"thirdparty_two.eml", SG_VERDICT_UNVERIFIED, SGR_HEADLINE_VERIFIED_THIRD_PARTY,
     "lists.example"},
    /* ... and without a List-Id, the ARC sealer's (ourco.example) */
    {"arc_sealed.eml", SG_VERDICT_UNVERIFIED, SGR_HEADLINE_VERIFIED_THIRD_PARTY, "ourco.example"},
    /* a forwarder's ARC seal over dmarc=pass, not trusted here */
    {"forwarded.eml", SG_VERDICT_FORGED, SGR_HEADLINE_FORGED, NULL},
    {"unverified.eml", SG_VERDICT_UNVERIFIED, SGR_HEADLINE_UNVERIFIED, NULL},
    {"pnone.eml", SG_VERDICT_UNVERIFIED, SGR_HEADLINE_UNVERIFIED, NULL},
    /* a genuine signature, but an unsigned second Sender would be shown */
    {"dupsender.eml", SG_VERDICT_UNVERIFIED, SGR_HEADLINE_UNVERIFIED, NULL},
    {"lookalike.eml", SG_VERDICT_UNVERIFIED, SGR_HEADLINE_UNVERIFIED, NULL},
    {"displayname.eml", SG_VERDICT_UNVERIFIED, SGR_HEADLINE_UNVERIFIED, NULL},
    {"replyto.eml", SG_VERDICT_UNVERIFIED, SGR_HEADLINE_UNVERIFIED, NULL},
    {"links.eml", SG_VERDICT_UNVERIFIED, SGR_HEADLINE_UNVERIFIED, NULL},
    {"attachment.eml", SG_VERDICT_UNVERIFIED, SGR_HEADLINE_UNVERIFIED, NULL},
};

static void headline_both_paths(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    base_opts(f, &o);
    for (size_t i = 0; i < sizeof(headlines) / sizeof(headlines[0]); i++) {
        both b = explain_both(f, headlines[i].file, &o, NULL, NULL);
        if (b.kind != headlines[i].kind)
            fail_msg("%s: verdict %s", headlines[i].file, sg_verdict_kind_str(b.kind));
        if (b.e->headline != headlines[i].headline || b.e_ar->headline != headlines[i].headline)
            fail_msg("%s: headline %s (verdict) / %s (A-R), want %s", headlines[i].file,
                     sgr_headline_name(b.e->headline), sgr_headline_name(b.e_ar->headline),
                     sgr_headline_name(headlines[i].headline));
        if (headlines[i].third_party) {
            assert_string_equal(b.e->third_party, headlines[i].third_party);
            assert_string_equal(b.e_ar->third_party, headlines[i].third_party);
        } else {
            assert_null(b.e->third_party);
            assert_null(b.e_ar->third_party);
        }
        assert_non_null(b.e->headline_detail);
        free_both(&b);
    }
}

/* The rest of the verdicts the library gives: SPF-aligned authentic, a
 * temporary failure, an unusable policy. */
static void headline_other_verdicts(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    base_opts(f, &o);
    /* unsigned, from the sender's own SPF-listed address */
    both b = explain_both(f, "forged.eml", &o, "192.0.2.10", "ceo@shop.example");
    assert_int_equal(b.kind, SG_VERDICT_AUTHENTIC);
    assert_int_equal(b.e->headline, SGR_HEADLINE_VERIFIED);
    assert_int_equal(b.e_ar->headline, SGR_HEADLINE_VERIFIED);
    assert_string_equal(b.e->identity.mailed_by, "shop.example");
    assert_string_equal(b.e_ar->identity.mailed_by, "shop.example");
    /* nothing of the header is signed: said, the same from both paths */
    const char *d1 = find_kind(b.e, SGR_WARN_UNSIGNED_FIELD);
    const char *d2 = find_kind(b.e_ar, SGR_WARN_UNSIGNED_FIELD);
    assert_non_null(d1);
    assert_non_null(d2);
    assert_string_equal(d1, "The sender is proven by SPF alone: no signature covers From, To, "
                            "Subject, Date, Message-ID, MIME-Version, Content-Type, so what is "
                            "shown there may have been changed.");
    assert_string_equal(d1, d2);
    free_both(&b);

    const char *variants[][2] = {{"slowdns.example", "unverified"},
                                 {"broken.example", "unverified"}};
    for (size_t i = 0; i < 2; i++) {
        size_t len, arlen;
        sg_verdict *v;
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "From: x@%s\r\nSubject: t\r\nDate: Mon, 24 Nov 2025 16:00:00 +0000\r\n\r\nhi\r\n",
                 variants[i][0]);
        len = strlen(msg);
        const sg_verdict_result *r = verify(f, &v, msg, len, NULL, NULL);
        assert_int_equal(r->verdict, SG_VERDICT_UNVERIFIED);
        if (i == 0)
            assert_int_equal(r->temporary, 1);
        sgr_explanation *e, *e2;
        assert_int_equal(sgr_explain(&e, msg, len, r, &o), 0);
        char *ar = with_field("Authentication-Results", r->authres, msg, len, &arlen);
        assert_int_equal(sgr_explain(&e2, ar, arlen, NULL, &o), 0);
        assert_string_equal(sgr_headline_name(e->headline), variants[i][1]);
        assert_string_equal(sgr_headline_name(e2->headline), variants[i][1]);
        sgr_explain_free(e);
        sgr_explain_free(e2);
        free(ar);
        sg_verdict_free(v);
    }
}

/* A DMARC fail a trusted forwarder's ARC chain overrode, as our A-R says
 * it (verdict.c writes the override into the dmarc comment): unverified,
 * never forged, never verified. */
static void headline_trusted_forwarder_authres(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    sgr_explanation *e;
    size_t len, arlen;
    base_opts(f, &o);
    {
        /* the library's own verdict under the local policy, both paths */
        sg_verdict *v;
        char *m = load(f, "forwarded.eml", &len);
        const sg_verdict_result *r = verify_sealer(f, &v, m, len, NULL, NULL, "ourco.example");
        assert_int_equal(r->verdict, SG_VERDICT_UNVERIFIED);
        assert_int_equal(r->rule, SG_VERDICT_RULE_TRUSTED_ARC);
        assert_int_equal(sgr_explain(&e, m, len, r, &o), 0);
        assert_int_equal(e->headline, SGR_HEADLINE_UNVERIFIED);
        assert_string_equal(e->identity.arc, "pass by ourco.example (i=1)");
        sgr_explain_free(e);
        char *ar = with_field("Authentication-Results", r->authres, m, len, &arlen);
        assert_non_null(strstr(r->authres_line, "trusted_forwarder"));
        assert_int_equal(sgr_explain(&e, ar, arlen, NULL, &o), 0);
        assert_int_equal(e->verified_by, SGR_FROM_AUTHRES);
        assert_int_equal(e->headline, SGR_HEADLINE_UNVERIFIED);
        sgr_explain_free(e);
        free(ar);
        sg_verdict_free(v);
        free(m);
    }
    char *m = load(f, "forged.eml", &len);
    char *ar = with_field("Authentication-Results",
                          AUTHSERV "; dkim=none; arc=pass (2 hops) header.oldest-pass=0; "
                                   "dmarc=fail (p=reject dis=none, trusted_forwarder by local "
                                   "policy: ARC sealer fwd.example) header.from=shop.example "
                                   "policy.dmarc=reject",
                          m, len, &arlen);
    assert_int_equal(sgr_explain(&e, ar, arlen, NULL, &o), 0);
    assert_int_equal(e->headline, SGR_HEADLINE_UNVERIFIED);
    assert_int_equal(e->verified_by, SGR_FROM_AUTHRES);
    sgr_explain_free(e);
    free(ar);
    /* the same without the override: forged */
    ar = with_field("Authentication-Results",
                    AUTHSERV "; dkim=none; dmarc=fail (p=reject dis=reject) "
                             "header.from=shop.example policy.dmarc=reject",
                    m, len, &arlen);
    assert_int_equal(sgr_explain(&e, ar, arlen, NULL, &o), 0);
    assert_int_equal(e->headline, SGR_HEADLINE_FORGED);
    assert_non_null(strstr(e->headline_detail, "asks receivers to refuse such mail"));
    sgr_explain_free(e);
    free(ar);
    /* what was done, as the verdict's reason says it: a p=reject in test
     * mode (t=y) quarantined, a p=quarantine quarantined (rev25 F2) */
    static const char *const held[] = {"p=reject dis=quarantine", "p=quarantine dis=quarantine"};
    for (size_t k = 0; k < 2; k++) {
        char field[256];
        snprintf(field, sizeof(field),
                 AUTHSERV "; dkim=none; dmarc=fail (%s) header.from=shop.example "
                          "policy.dmarc=%s",
                 held[k], k == 0 ? "reject" : "quarantine");
        ar = with_field("Authentication-Results", field, m, len, &arlen);
        assert_int_equal(sgr_explain(&e, ar, arlen, NULL, &o), 0);
        assert_int_equal(e->headline, SGR_HEADLINE_FORGED);
        if (strstr(e->headline_detail, "asks receivers to quarantine such mail") == NULL)
            fail_msg("%s: \"%s\"", held[k], e->headline_detail);
        sgr_explain_free(e);
        free(ar);
    }
    free(m);
}

/* Only the topmost A-R, and only ours, is trusted. */
static void authres_trust(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    sgr_explanation *e;
    size_t len, l1, l2;
    base_opts(f, &o);
    char *m = load(f, "forged.eml", &len);
    const char *pass = AUTHSERV "; dkim=pass header.d=shop.example; dmarc=pass "
                                "header.from=shop.example policy.dmarc=reject";

    /* ours, forged by the sender below a foreign one: not trusted */
    char *a1 = with_field("Authentication-Results", pass, m, len, &l1);
    char *a2 = with_field("Authentication-Results", "mx.other.example; dmarc=none", a1, l1, &l2);
    assert_int_equal(sgr_explain_trusts_authres(a2, l2, AUTHSERV), 0);
    assert_int_equal(sgr_explain(&e, a2, l2, NULL, &o), 0);
    assert_int_equal(e->headline, SGR_HEADLINE_UNVERIFIED);
    assert_int_equal(e->verified_by, SGR_FROM_NONE);
    sgr_explain_free(e);
    free(a2);
    /* the same message on its own: our A-R on top is trusted */
    assert_int_equal(sgr_explain_trusts_authres(a1, l1, AUTHSERV), 1);
    assert_int_equal(sgr_explain(&e, a1, l1, NULL, &o), 0);
    assert_int_equal(e->headline, SGR_HEADLINE_VERIFIED);
    sgr_explain_free(e);
    /* ... but not under another authserv-id, nor with none configured */
    o.authserv_id = "mx.someone-else.example";
    assert_int_equal(sgr_explain_trusts_authres(a1, l1, o.authserv_id), 0);
    assert_int_equal(sgr_explain(&e, a1, l1, NULL, &o), 0);
    assert_int_equal(e->headline, SGR_HEADLINE_UNVERIFIED);
    sgr_explain_free(e);
    o.authserv_id = NULL;
    assert_int_equal(sgr_explain(&e, a1, l1, NULL, &o), 0);
    assert_int_equal(e->headline, SGR_HEADLINE_UNVERIFIED);
    sgr_explain_free(e);
    base_opts(f, &o);
    free(a1);

    /* a look-alike id, and ours malformed on top: nothing trusted, and the
     * caller's verdict decides */
    const char *bad[] = {AUTHSERV "x; dmarc=pass", AUTHSERV "; dmarc=pass (unterminated",
                         AUTHSERV "; dmarc", "x." AUTHSERV "; dmarc=pass"};
    sg_verdict *v;
    const sg_verdict_result *r = verify(f, &v, m, len, NULL, NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        a1 = with_field("Authentication-Results", bad[i], m, len, &l1);
        assert_int_equal(sgr_explain_trusts_authres(a1, l1, AUTHSERV), 0);
        assert_int_equal(sgr_explain(&e, a1, l1, NULL, &o), 0);
        assert_int_equal(e->headline, SGR_HEADLINE_UNVERIFIED);
        sgr_explain_free(e);
        assert_int_equal(sgr_explain(&e, a1, l1, r, &o), 0);
        assert_int_equal(e->headline, SGR_HEADLINE_FORGED);
        assert_int_equal(e->verified_by, SGR_FROM_VERIFIED);
        sgr_explain_free(e);
        free(a1);
    }
    /* our field, but about another From than the one shown: not trusted,
     * the caller verifies */
    a1 = with_field("Authentication-Results",
                    AUTHSERV "; dkim=pass header.d=other.example; dmarc=pass "
                             "header.from=other.example policy.dmarc=reject",
                    m, len, &l1);
    assert_int_equal(sgr_explain_trusts_authres(a1, l1, AUTHSERV), 0);
    assert_int_equal(sgr_explain(&e, a1, l1, NULL, &o), 0);
    assert_int_equal(e->verified_by, SGR_FROM_NONE);
    assert_int_equal(e->headline, SGR_HEADLINE_UNVERIFIED);
    sgr_explain_free(e);
    assert_int_equal(sgr_explain(&e, a1, l1, r, &o), 0);
    assert_int_equal(e->verified_by, SGR_FROM_VERIFIED);
    assert_int_equal(e->headline, SGR_HEADLINE_FORGED);
    sgr_explain_free(e);
    free(a1);
    /* an ARC-Authentication-Results on top is not an A-R */
    a1 = with_field("ARC-Authentication-Results", "i=1; " AUTHSERV "; dmarc=pass", m, len, &l1);
    assert_int_equal(sgr_explain_trusts_authres(a1, l1, AUTHSERV), 0);
    free(a1);
    sg_verdict_free(v);
    free(m);
}

/* A verdict-less explanation never says verified. */
static void no_verdict_is_unverified(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    sgr_explanation *e;
    size_t len;
    base_opts(f, &o);
    char *m = load(f, "authentic.eml", &len);
    assert_int_equal(sgr_explain(&e, m, len, NULL, &o), 0);
    assert_int_equal(e->headline, SGR_HEADLINE_UNVERIFIED);
    assert_int_equal(e->verified_by, SGR_FROM_NONE);
    assert_null(e->verdict);
    assert_int_equal(e->identity.nsigned_by, 0);
    sgr_explain_free(e);
    free(m);
}

/* ---- identity ------------------------------------------------------------ */

static void identity_panel(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    base_opts(f, &o);
    both b = explain_both(f, "authentic.eml", &o, NULL, NULL);
    for (int k = 0; k < 2; k++) {
        const sgr_identity *id = k ? &b.e_ar->identity : &b.e->identity;
        assert_string_equal(id->display_name, "Alice Shop");
        assert_string_equal(id->address, "alice@shop.example");
        assert_string_equal(id->domain, "shop.example");
        assert_null(id->domain_unicode);
        assert_string_equal(id->registrable_domain, "shop.example");
        assert_int_equal(id->nsigned_by, 1);
        assert_string_equal(id->signed_by[0].domain, "shop.example");
        assert_string_equal(id->signed_by[0].selector, "k1");
        assert_string_equal(id->signed_by[0].algorithm, "rsa-sha256");
        assert_int_equal(id->signed_by[0].key_bits, 2048);
        assert_int_equal(id->signed_by[0].aligned, 1);
        assert_null(id->via);
        assert_null(id->reply_to);
        assert_null(id->sender);
        assert_null(id->mailed_by);
    }
    free_both(&b);

    b = explain_both(f, "thirdparty.eml", &o, NULL, NULL);
    for (int k = 0; k < 2; k++) {
        const sgr_identity *id = k ? &b.e_ar->identity : &b.e->identity;
        assert_string_equal(id->address, "bob@nopolicy.example");
        assert_int_equal(id->nsigned_by, 1);
        assert_string_equal(id->signed_by[0].domain, "lists.example");
        assert_string_equal(id->signed_by[0].algorithm, "ed25519-sha256");
        assert_int_equal(id->signed_by[0].aligned, 0);
        assert_string_equal(id->via, "lists.example");
        assert_string_equal(id->reply_to, "talk@lists.example");
        assert_string_equal(id->list_id, "Talk <talk.lists.example>");
    }
    free_both(&b);

    /* the ARC summary, from the verdict and from our A-R */
    b = explain_both(f, "arc_sealed.eml", &o, NULL, NULL);
    assert_string_equal(b.e->identity.arc, "pass by ourco.example (i=1)");
    assert_string_equal(b.e_ar->identity.arc, "pass by ourco.example (i=1)");
    assert_int_equal(b.e->identity.nsigned_by, 2);
    free_both(&b);
    b = explain_both(f, "authentic.eml", &o, NULL, NULL);
    assert_null(b.e->identity.arc);
    assert_null(b.e_ar->identity.arc);
    free_both(&b);

    /* RFC 2047 display name, decoded */
    b = explain_both(f, "encoded_name.eml", &o, NULL, NULL);
    assert_string_equal(b.e->identity.display_name, "J\xc3\xbcrgen M\xc3\xbcller");
    assert_string_equal(b.e->mime->subject, "Gr\xc3\xbc\xc3\x9f"
                                            "e");
    assert_int_equal(b.e->nwarnings, 0);
    free_both(&b);
}

/* ---- warnings -------------------------------------------------------------- */

static sgr_explanation *explain_file(fixture *f, const char *name, const sgr_explain_opts *o)
{
    size_t len;
    sg_verdict *v;
    sgr_explanation *e;
    char *m = load(f, name, &len);
    const sg_verdict_result *r = verify(f, &v, m, len, NULL, NULL);
    assert_int_equal(sgr_explain(&e, m, len, r, o), SGR_EXPLAIN_OK);
    e->verdict = NULL;
    sg_verdict_free(v);
    free(m);
    check_json(e);
    return e;
}

static sgr_explanation *explain_text(const char *msg, const sgr_explain_opts *o)
{
    sgr_explanation *e;
    assert_int_equal(sgr_explain(&e, msg, strlen(msg), NULL, o), SGR_EXPLAIN_OK);
    check_json(e);
    return e;
}

static void warning_lookalike(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    base_opts(f, &o);
    sgr_explanation *e = explain_file(f, "lookalike.eml", &o);
    const char *d = find_kind(e, SGR_WARN_LOOKALIKE);
    assert_non_null(d);
    assert_non_null(strstr(d, "paypa1.com"));
    assert_non_null(strstr(d, "paypal.com"));
    /* the link to the same host carries it too */
    assert_true(e->nlinks >= 1);
    assert_int_equal(count_kind(e->links[0].warnings, e->links[0].nwarnings, SGR_WARN_LOOKALIKE),
                     1);
    sgr_explain_free(e);
    /* the genuine domain and an unrelated one: nothing */
    e = explain_file(f, "authentic.eml", &o);
    assert_null(find_kind(e, SGR_WARN_LOOKALIKE));
    sgr_explain_free(e);
    e = explain_file(f, "unverified.eml", &o);
    assert_null(find_kind(e, SGR_WARN_LOOKALIKE));
    sgr_explain_free(e);
    /* a link resembling the sender's own domain, in mail proven to come
     * from that domain, is the brand's own; in any other mail it warns */
    {
        const char *body = "From: a@shop.example\r\nContent-Type: text/html\r\n\r\n"
                           "<a href=\"https://www.sh0p.example/x\">x</a>";
        size_t l;
        char *ar = with_field("Authentication-Results",
                              AUTHSERV "; dkim=pass header.d=shop.example; dmarc=pass "
                                       "header.from=shop.example policy.dmarc=reject",
                              body, strlen(body), &l);
        sgr_explanation *e2;
        assert_int_equal(sgr_explain(&e2, ar, l, NULL, &o), 0);
        assert_int_equal(e2->headline, SGR_HEADLINE_VERIFIED);
        assert_int_equal(e2->nlinks, 1);
        assert_null(find_kind(e2, SGR_WARN_LOOKALIKE));
        assert_int_equal(e2->links[0].nwarnings, 0);
        sgr_explain_free(e2);
        assert_int_equal(sgr_explain(&e2, body, strlen(body), NULL, &o), 0);
        assert_int_equal(e2->headline, SGR_HEADLINE_UNVERIFIED);
        assert_non_null(find_kind(e2, SGR_WARN_LOOKALIKE));
        assert_int_equal(
            count_kind(e2->links[0].warnings, e2->links[0].nwarnings, SGR_WARN_LOOKALIKE), 1);
        sgr_explain_free(e2);
        free(ar);
    }
    /* the Sender's domain too, and shown */
    e = explain_text("From: a@nopolicy.example\r\nSender: x@paypa1.com\r\n\r\n", &o);
    assert_string_equal(e->identity.sender, "x@paypa1.com");
    assert_int_equal(e->nwarnings, 2); /* and the Sender is not proven (RD-6) */
    assert_string_equal(e->warnings[0].kind, SGR_WARN_LOOKALIKE);
    assert_string_equal(e->warnings[0].field, "sender");
    assert_string_equal(e->warnings[1].kind, SGR_WARN_SENDER);
    sgr_explain_free(e);
    e = explain_text("From: a@nopolicy.example\r\nSender: a@nopolicy.example\r\n\r\n", &o);
    assert_null(e->identity.sender);
    assert_int_equal(e->nwarnings, 0);
    sgr_explain_free(e);
    /* without references, no lookalike warnings at all */
    o.lookalike = NULL;
    e = explain_file(f, "lookalike.eml", &o);
    assert_null(find_kind(e, SGR_WARN_LOOKALIKE));
    sgr_explain_free(e);
}

static void warning_idn(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    base_opts(f, &o);
    /* Cyrillic a in a Latin name: fails Highly Restrictive */
    sgr_explanation *e =
        explain_text("From: x@p\xd0\xb0ypal-help.example\r\nSubject: s\r\n\r\nhi\r\n", &o);
    assert_non_null(find_kind(e, SGR_WARN_IDN));
    assert_string_equal(e->identity.domain, "xn--pypal-help-zqi.example");
    assert_non_null(e->identity.domain_unicode);
    sgr_explain_free(e);
    /* a single-script IDN (German) is fine */
    e = explain_text("From: x@m\xc3\xbcller-shop.example\r\nSubject: s\r\n\r\nhi\r\n", &o);
    assert_null(find_kind(e, SGR_WARN_IDN));
    assert_null(find_kind(e, SGR_WARN_LOOKALIKE));
    sgr_explain_free(e);
}

static void warning_display_name(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    base_opts(f, &o);
    sgr_explanation *e = explain_file(f, "displayname.eml", &o);
    const char *d = find_kind(e, SGR_WARN_DISPLAY_NAME);
    assert_non_null(d);
    assert_string_equal(d, "The name says service@paypal.com, the address is at "
                           "helpdesk-mail.example.");
    sgr_explain_free(e);
    static const char *clean[] = {
        "From: Alice Shop <alice@shop.example>\r\n\r\n",
        "From: \"shop.example Support\" <help@shop.example>\r\n\r\n",
        "From: \"alice@shop.example\" <alice@shop.example>\r\n\r\n",
        "From: \"J. R. R. Tolkien\" <jrr@shop.example>\r\n\r\n",
        "From: \"Dr.Who\" <who@shop.example>\r\n\r\n",
        "From: \"Support team (www.shop.example)\" <s@mail.shop.example>\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(clean) / sizeof(clean[0]); i++) {
        e = explain_text(clean[i], &o);
        if (find_kind(e, SGR_WARN_DISPLAY_NAME))
            fail_msg("%s: %s", clean[i], find_kind(e, SGR_WARN_DISPLAY_NAME));
        sgr_explain_free(e);
    }
    /* a reference under a suffix that is not public ("shop.example") */
    e = explain_text("From: \"shop.example Security\" <alerts@random-mailer.example>\r\n\r\n", &o);
    assert_string_equal(find_kind(e, SGR_WARN_DISPLAY_NAME),
                        "The name says shop.example, the address is at random-mailer.example.");
    sgr_explain_free(e);
    /* a brand's name without its domain: ours (protected), or the one the
     * From domain resembles */
    e = explain_text("From: PayPal <service@paypa1-secure.example>\r\n\r\n", &o);
    assert_string_equal(find_kind(e, SGR_WARN_DISPLAY_NAME),
                        "The name says PayPal, like paypal.com, but the address is at "
                        "paypa1-secure.example.");
    sgr_explain_free(e);
    e = explain_text("From: Ourco Example Team <x@elsewhere.example>\r\n\r\n", &o);
    assert_string_equal(find_kind(e, SGR_WARN_DISPLAY_NAME),
                        "The name says Ourco Example Team, like ourco.example, but the address "
                        "is at elsewhere.example.");
    sgr_explain_free(e);
    e = explain_text("From: Ourco <x@elsewhere.example>\r\n\r\n", &o); /* the label alone */
    assert_non_null(find_kind(e, SGR_WARN_DISPLAY_NAME));
    sgr_explain_free(e);
    static const char *clean2[] = {
        "From: Ourco Example Team <x@ourco.example>\r\n\r\n", /* the real one */
        "From: Ourco Example Team <x@mail.ourco.example>\r\n\r\n",
        "From: Ourcompany News <x@elsewhere.example>\r\n\r\n", /* a longer word */
        "From: PayPal Fan Club <x@elsewhere.example>\r\n\r\n", /* not ours, not alike */
    };
    for (size_t i = 0; i < sizeof(clean2) / sizeof(clean2[0]); i++) {
        e = explain_text(clean2[i], &o);
        if (find_kind(e, SGR_WARN_DISPLAY_NAME))
            fail_msg("%s: %s", clean2[i], find_kind(e, SGR_WARN_DISPLAY_NAME));
        sgr_explain_free(e);
    }
    e = explain_text("From: \"PayPal (paypal.com)\" <x@paypa1-secure.example>\r\n\r\n", &o);
    assert_string_equal(find_kind(e, SGR_WARN_DISPLAY_NAME),
                        "The name says paypal.com, the address is at paypa1-secure.example.");
    sgr_explain_free(e);
    /* what a person sees, not the code points (adv14 finding 4): a
     * character that draws nothing, a dot or an at sign of another form,
     * fullwidth letters; no reference needed (bigbank.com is none) */
    /* a quoted local part naming another domain: shown whole by readers */
    e = explain_text("From: \"payroll@ourco.example\"@helpdesk-mail.example\r\n\r\n", &o);
    assert_string_equal(find_kind(e, SGR_WARN_DISPLAY_NAME),
                        "The address begins with payroll@ourco.example, but it is at "
                        "helpdesk-mail.example.");
    sgr_explain_free(e);
    e = explain_text("From: \"alice@shop.example\"@shop.example\r\n\r\n", &o);
    assert_null(find_kind(e, SGR_WARN_DISPLAY_NAME));
    sgr_explain_free(e);
    /* ... and read folded before its at sign is looked for: a fullwidth
     * or small at sign, a fullwidth dot (adv29 RD-5) */
    static const char *const local_at[] = {
        "payroll\xef\xbc\xa0ourco\xef\xbc\x8e"
        "example",                          /* U+FF20, U+FF0E */
        "payroll\xef\xbc\xa0ourco.example", /* U+FF20 FULLWIDTH COMMERCIAL AT */
        "payroll\xef\xb9\xab"
        "ourco.example", /* U+FE6B SMALL COMMERCIAL AT */
        "payroll@ourco\xe2\x80\xa4"
        "example",                                      /* U+2024 ONE DOT LEADER */
        "pay\xe2\x80\x8broll\xef\xbc\xa0ourco.example", /* ZWSP too */
    };
    for (size_t i = 0; i < sizeof(local_at) / sizeof(local_at[0]); i++) {
        char msg[256];
        snprintf(msg, sizeof(msg), "From: \"%s\"@helpdesk-mail.example\r\n\r\n", local_at[i]);
        e = explain_text(msg, &o);
        const char *w = find_kind(e, SGR_WARN_DISPLAY_NAME);
        if (w == NULL || strcmp(w, "The address begins with payroll@ourco.example, but it is at "
                                   "helpdesk-mail.example.") != 0)
            fail_msg("local part %zu: %s", i, w ? w : "no warning");
        sgr_explain_free(e);
    }
    static const char *const local_clean[] = {
        /* the real domain behind a fullwidth at sign */
        "From: \"alice\xef\xbc\xa0shop.example\"@shop.example\r\n\r\n",
        /* fullwidth letters, no at sign: a name, not an address */
        "From: \"\xef\xbd\x90\xef\xbd\x81\xef\xbd\x99\"@helpdesk-mail.example\r\n\r\n",
        /* a word that names no domain after the at sign */
        "From: \"payroll\xef\xbc\xa0team\"@helpdesk-mail.example\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(local_clean) / sizeof(local_clean[0]); i++) {
        e = explain_text(local_clean[i], &o);
        if (find_kind(e, SGR_WARN_DISPLAY_NAME))
            fail_msg("%s: %s", local_clean[i], find_kind(e, SGR_WARN_DISPLAY_NAME));
        sgr_explain_free(e);
    }
    static const char *const seen[] = {
        "billing@bigbank.com\xe3\x85\xa4", /* U+3164 HANGUL FILLER */
        "billing@bigbank.com\xe2\xa0\x80", /* U+2800 BRAILLE BLANK */
        "bill\xe2\x80\x8b"
        "ing@big\xe2\x80\x8c"
        "bank.com", /* ZWSP, ZWNJ */
        "billing@bigbank\xe2\x80\xa4"
        "com", /* U+2024 ONE DOT LEADER */
        "billing@bigbank\xef\xbc\x8e"
        "com", /* U+FF0E */
        "billing@bigbank\xe3\x80\x82"
        "com", /* U+3002 */
        "billing\xef\xbc\xa0"
        "bigbank.com",                                                     /* U+FF20 FULLWIDTH @ */
        "\xef\xbd\x82\xef\xbd\x89\xef\xbd\x8c\xef\xbd\x8cing@bigbank.com", /* fullwidth "bill" */
        "\xef\xb7\xba\xef\xb7\xba billing@bigbank.com", /* U+FDFA: NFKC grows it 18 times */
    };
    for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]); i++) {
        char msg[256];
        snprintf(msg, sizeof(msg), "From: \"%s\" <x@helpdesk-mail.example>\r\n\r\n", seen[i]);
        e = explain_text(msg, &o);
        const char *w = find_kind(e, SGR_WARN_DISPLAY_NAME);
        if (w == NULL || strcmp(w, "The name says billing@bigbank.com, the address is at "
                                   "helpdesk-mail.example.") != 0)
            fail_msg("name %zu: %s", i, w ? w : "no warning");
        sgr_explain_free(e);
    }
}

/* A name that claims a domain in letters that only look like its own
 * (adv29 RD-4): read through the lookalike checker's skeleton. Against
 * bank.example, as the probe had it, whose label (4 letters) is too short
 * for the one-word rule, and paypal.com, whose label is not. */
static void warning_display_name_confusables(void **state)
{
    (void)state;
    static const char *prot[] = {"bank.example", "paypal.com", "first-bank.example"};
    sgr_lookalike_builder *b;
    sgr_lookalike *lk;
    char psl[4096];
    snprintf(psl, sizeof psl, "%s/dmarc/psl/public_suffix_list.dat", sg_test_conformance_dir());
    assert_int_equal(sgr_lookalike_builder_new(&b, psl), SGR_LOOKALIKE_OK);
    assert_int_equal(sgr_lookalike_builder_add(b, "bank.example", 12, SGR_LOOKALIKE_PROTECTED), 0);
    assert_int_equal(sgr_lookalike_builder_add(b, "paypal.com", 10, SGR_LOOKALIKE_PROTECTED), 0);
    assert_int_equal(
        sgr_lookalike_builder_add(b, "first-bank.example", 18, SGR_LOOKALIKE_PROTECTED), 0);
    assert_int_equal(sgr_lookalike_build(&lk, b), SGR_LOOKALIKE_OK);
    sgr_explain_opts o;
    sgr_explain_opts_init(&o);
    o.lookalike = lk;
    o.protected_domains = prot;
    o.nprotected = 3;
    static const char *const claims[] = {
        "Bank Example", /* the plain one, as before */
        "BANK EXAMPLE",
        "B\xd0\xb0nk \xd0\x95\xd1\x85\xd0\xb0mple", /* Cyrillic а, Е, х, а */
        "\xd0\x92"
        "ank Example", /* Cyrillic В */
        "Bank \xd0\x95\xd1\x85"
        "ample Security",                  /* Cyrillic Е, х */
        "Bank Exarnple",                   /* rn for m */
        "BANK EXA\xce\x9cPLE",             /* Greek capital Mu */
        "B\xce\xb1nk Ex\xc9\x91mple",      /* Greek alpha, Latin alpha */
        "\xef\xbc\xa2\xd0\xb0nk Example",  /* fullwidth B, Cyrillic а */
        "Bank Ex\xd0\xb0\xe2\x80\x8bmple", /* Cyrillic а and a ZWSP */
        "P\xd0\xb0yP\xd0\xb0l",            /* the one-word rule: Cyrillic а */
        "PayPaI Support",                  /* capital I for l */
    };
    for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
        char msg[256];
        snprintf(msg, sizeof(msg), "From: \"%s\" <security@attacker.example>\r\n\r\n", claims[i]);
        sgr_explanation *e = explain_text(msg, &o);
        const char *w = find_kind(e, SGR_WARN_DISPLAY_NAME);
        if (w == NULL || strstr(w, "but the address is at attacker.example.") == NULL)
            fail_msg("name %zu (%s): %s", i, claims[i], w ? w : "no warning");
        sgr_explain_free(e);
    }
    /* characters whose skeletons are long after the claim cannot cancel
     * its reading (rev21 R-3): 40 Hangul syllables (3 bytes, skeleton 15),
     * 30 U+060A (2 bytes, skeleton 12) */
    static const char *const tails[][2] = {
        {"B\xd0\xb0nk \xd0\x95\xd1\x85\xd0\xb0mple ", "\xea\xb0\xb0"},
        {"B\xd0\xb0nk \xd0\x95\xd1\x85\xd0\xb0mple ", "\xd8\x8a"},
        {"PayPaI ", "\xea\xb0\xb0"},
        {"PayPaI", "\xea\xb0\xb0"}};
    for (size_t i = 0; i < 4; i++) {
        char name[512], msg[640];
        size_t k = (size_t)snprintf(name, sizeof(name), "%s", tails[i][0]);
        for (int r = 0; r < (i == 1 ? 30 : 40); r++)
            k += (size_t)snprintf(name + k, sizeof(name) - k, "%s", tails[i][1]);
        snprintf(msg, sizeof(msg), "From: \"%s\" <security@attacker.example>\r\n\r\n", name);
        sgr_explanation *e = explain_text(msg, &o);
        if (find_kind(e, SGR_WARN_DISPLAY_NAME) == NULL)
            fail_msg("long tail %zu: no display_name warning", i);
        sgr_explain_free(e);
    }
    /* the claim names the domain it reads as */
    sgr_explanation *e = explain_text("From: \"\xd0\x92"
                                      "ank Example\" <security@attacker.example>\r\n\r\n",
                                      &o);
    assert_string_equal(find_kind(e, SGR_WARN_DISPLAY_NAME),
                        "The name says \xd0\x92"
                        "ank Example, like bank.example, but the address is at attacker.example.");
    sgr_explain_free(e);
    static const char *const people[] = {
        "Maria Garcia", "Bank of Example", /* not the name's letters in a row */
        "Example Bank",                    /* nor in another order */
        "Bank",                            /* a label of 4 letters alone */
        "B\xd0\xb0nk",                     /* the same in Cyrillic */
        "\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd \xd0\x9f\xd0\xb5\xd1\x82\xd1\x80\xd0\xbe\xd0\xb2",
        /* Иван Петров */
        "\xd0\x92\xd0\xb5\xd1\x80\xd0\xb0 \xd0\x9a\xd0\xbe\xd0\xb2\xd0\xb0\xd0\xbb\xd1\x8c",
        /* Вера Коваль: Cyrillic letters that read as Latin ones */
        "\xce\x9c\xce\xb1\xcf\x81\xce\xaf\xce\xb1 \xce\xa0\xce\xb1\xcf\x80\xce\xac",
        /* Μαρία Παπά (Greek) */
        "Paypalooza Fan Club", /* a longer word */
        "Barn Example Farm",   /* "rn" is m, and "barn" is not "bank" */
        "First Things",        /* a word of a label of two (first-bank) */
    };
    for (size_t i = 0; i < sizeof(people) / sizeof(people[0]); i++) {
        char msg[256];
        snprintf(msg, sizeof(msg), "From: \"%s\" <security@attacker.example>\r\n\r\n", people[i]);
        e = explain_text(msg, &o);
        if (find_kind(e, SGR_WARN_DISPLAY_NAME))
            fail_msg("%s: %s", people[i], find_kind(e, SGR_WARN_DISPLAY_NAME));
        sgr_explain_free(e);
    }
    /* the look-alike name on the real address is the sender's own */
    e = explain_text("From: \"B\xd0\xb0nk \xd0\x95\xd1\x85\xd0\xb0mple\" <security@bank.example>"
                     "\r\n\r\n",
                     &o);
    assert_null(find_kind(e, SGR_WARN_DISPLAY_NAME));
    sgr_explain_free(e);
    sgr_lookalike_free(lk);
}

typedef struct {
    int seen;
    const char *owner_name, *owner_addr;
} mailbox;

static int mb_seen(void *p, const char *address)
{
    (void)address;
    return ((mailbox *)p)->seen;
}

static const char *mb_owner(void *p, const char *name, const char *address)
{
    mailbox *m = p;
    if (m->owner_name && !strcasecmp(name, m->owner_name) && strcasecmp(address, m->owner_addr))
        return m->owner_addr;
    return NULL;
}

static void warning_correspondents(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    mailbox mb = {0, "Alice Shop", "alice@shop.example"};
    sgr_correspondents c = {mb_seen, mb_owner, &mb};
    base_opts(f, &o);
    o.correspondents = &c;
    /* first contact */
    sgr_explanation *e = explain_file(f, "authentic.eml", &o);
    assert_non_null(find_kind(e, SGR_WARN_FIRST_CONTACT));
    assert_null(find_kind(e, SGR_WARN_DISPLAY_NAME)); /* her own address */
    sgr_explain_free(e);
    mb.seen = 1;
    e = explain_file(f, "authentic.eml", &o);
    assert_null(find_kind(e, SGR_WARN_FIRST_CONTACT));
    sgr_explain_free(e);
    mb.seen = -1;
    e = explain_file(f, "authentic.eml", &o);
    assert_null(find_kind(e, SGR_WARN_FIRST_CONTACT));
    sgr_explain_free(e);
    /* her name on another address */
    e = explain_text("From: Alice Shop <alice.shop@freemail.example>\r\n\r\n", &o);
    const char *d = find_kind(e, SGR_WARN_DISPLAY_NAME);
    assert_non_null(d);
    assert_non_null(strstr(d, "alice@shop.example"));
    sgr_explain_free(e);
    e = explain_text("From: Bob Other <alice.shop@freemail.example>\r\n\r\n", &o);
    assert_null(find_kind(e, SGR_WARN_DISPLAY_NAME));
    sgr_explain_free(e);
}

static void warning_reply_to(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    base_opts(f, &o);
    sgr_explanation *e = explain_file(f, "replyto.eml", &o);
    const char *d = find_kind(e, SGR_WARN_REPLY_TO);
    assert_non_null(d);
    assert_non_null(strstr(d, "billing@collect-payments.example"));
    sgr_explain_free(e);
    /* a list's Reply-To to itself, in mail the list signed */
    e = explain_file(f, "thirdparty.eml", &o);
    assert_null(find_kind(e, SGR_WARN_REPLY_TO));
    sgr_explain_free(e);
    /* the same domain */
    e = explain_text("From: a@shop.example\r\nReply-To: b@help.shop.example\r\n\r\n", &o);
    assert_null(find_kind(e, SGR_WARN_REPLY_TO));
    sgr_explain_free(e);
    /* a Reply-To that is a lookalike warns even beside the real From */
    e = explain_text("From: a@nopolicy.example\r\nReply-To: b@paypa1.com\r\n\r\n", &o);
    assert_non_null(find_kind(e, SGR_WARN_REPLY_TO));
    assert_non_null(find_kind(e, SGR_WARN_LOOKALIKE));
    sgr_explain_free(e);
}

static void warning_unsigned_field(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    base_opts(f, &o);
    both b = explain_both(f, "unsigned_sender.eml", &o, NULL, NULL);
    for (int k = 0; k < 2; k++) {
        sgr_explanation *e = k ? b.e_ar : b.e;
        assert_int_equal(e->headline, SGR_HEADLINE_VERIFIED);
        const char *d = find_kind(e, SGR_WARN_UNSIGNED_FIELD);
        assert_non_null(d);
        assert_non_null(strstr(d, "Sender is not covered by shop.example's signature"));
    }
    free_both(&b);
    b = explain_both(f, "authentic.eml", &o, NULL, NULL);
    assert_null(find_kind(b.e, SGR_WARN_UNSIGNED_FIELD));
    assert_null(find_kind(b.e_ar, SGR_WARN_UNSIGNED_FIELD));
    free_both(&b);
    /* unverified mail gets no such warning: nothing in it is proven */
    sgr_explanation *e = explain_file(f, "unverified.eml", &o);
    assert_null(find_kind(e, SGR_WARN_UNSIGNED_FIELD));
    sgr_explain_free(e);
    /* a List-Id a replayer added: the identity panel shows it, so it is
     * said to be unsigned too (adv14 finding 6), without making the mail
     * unverified (not a field RFC 5322 allows once) */
    size_t len, l2;
    char *m = load(f, "authentic.eml", &len);
    char *m2 = with_field("List-Id", "Security team <security.shop.example>", m, len, &l2);
    free(m);
    b = explain_both_text(f, m2, l2, &o, NULL, NULL);
    for (int k = 0; k < 2; k++) {
        e = k ? b.e_ar : b.e;
        assert_int_equal(e->headline, SGR_HEADLINE_VERIFIED);
        const char *d = find_kind(e, SGR_WARN_UNSIGNED_FIELD);
        if (d == NULL || strstr(d, "List-Id is not covered by shop.example's signature") == NULL)
            fail_msg("%s: %s", k ? "A-R" : "verdict", d ? d : "no unsigned_field warning");
    }
    free_both(&b);
}

/* The value of msg's first DKIM-Signature with "h=" made "h=" extra: a
 * copy a sender can make of a signature he received, same d=, s= and the
 * whole b=, over fields of his choosing. It fails; the reader must not take
 * its h= for the one that verified. */
static char *copied_signature(const char *msg, const char *extra)
{
    const char *p = strstr(msg, "DKIM-Signature:");
    assert_non_null(p);
    p += strlen("DKIM-Signature:");
    const char *e = p;
    while ((e = strchr(e, '\n')) != NULL && (e[1] == ' ' || e[1] == '\t'))
        e++;
    assert_non_null(e);
    size_t n = (size_t)(e - p);
    char *v = malloc(n + strlen(extra) + 1), *h;
    memcpy(v, p, n);
    v[n] = '\0';
    if (n && v[n - 1] == '\r')
        v[n - 1] = '\0';
    assert_non_null(h = strstr(v, " h="));
    h += 3;
    memmove(h + strlen(extra), h, strlen(h) + 1);
    memcpy(h, extra, strlen(extra));
    return v;
}

static void copied_signature_above(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    size_t len, l2, l3;
    base_opts(f, &o);
    char *m = load(f, "unsigned_sender.eml", &len);
    /* 1. the copy "covers" the unsigned Sender: still not covered */
    char *fake = copied_signature(m, "sender:");
    char *m2 = with_field("DKIM-Signature", fake, m, len, &l2);
    both b = explain_both_text(f, m2, l2, &o, NULL, NULL);
    for (int k = 0; k < 2; k++) {
        sgr_explanation *e = k ? b.e_ar : b.e;
        assert_int_equal(e->headline, SGR_HEADLINE_VERIFIED);
        const char *d = find_kind(e, SGR_WARN_UNSIGNED_FIELD);
        if (d == NULL || strstr(d, "Sender is not covered") == NULL)
            fail_msg("%s: no unsigned Sender warning", k ? "from the A-R" : "verified");
    }
    free_both(&b);
    free(fake);
    /* 2. a second unsigned Sender, and a copy whose h= "covers" both: the
     * verdict says unverified, and so must the reader of our A-R */
    fake = copied_signature(m, "sender:sender:");
    char *m3 = with_field("Sender", "ceo@shop.example", m, len, &l3);
    m2 = with_field("DKIM-Signature", fake, m3, l3, &l2);
    free(m3);
    b = explain_both_text(f, m2, l2, &o, NULL, NULL);
    assert_int_equal(b.kind, SG_VERDICT_UNVERIFIED);
    assert_int_equal(b.e->headline, SGR_HEADLINE_UNVERIFIED);
    assert_int_equal(b.e_ar->headline, SGR_HEADLINE_UNVERIFIED);
    free_both(&b);
    free(fake);
    free(m);
}

/* Our A-R says which identifiers DMARC aligned (aligned=): the reader
 * cannot tell from spf= alone (a HELO pass, aspf=s). A genuine message with
 * an unsigned second Sender on top and an SPF pass for a host of the
 * From's own domain given as HELO (MAIL FROM fails): the verdict says
 * unverified (DKIM alone), and so must the reader of our A-R, which once
 * took the HELO pass for alignment and said Verified with the attacker's
 * Sender. The same with SPF aligned through MAIL FROM is verified on both
 * paths; an A-R without aligned= (written before it was) is read as DKIM
 * alone. */
static void helo_pass(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    size_t l2;
    base_opts(f, &o);
    char *dup = load(f, "dupsender.eml", &l2);
    helo = "mx.shop.example";
    both b = explain_both_text(f, dup, l2, &o, "192.0.2.66", "x@lists.example");
    helo = "mta.example";
    assert_int_equal(b.kind, SG_VERDICT_UNVERIFIED);
    assert_int_equal(b.e->headline, SGR_HEADLINE_UNVERIFIED);
    if (b.e_ar->headline != SGR_HEADLINE_UNVERIFIED)
        fail_msg("A-R path: %s, want unverified", sgr_headline_name(b.e_ar->headline));
    /* and the HELO name is not who mailed it: MAIL FROM failed */
    assert_null(b.e->identity.mailed_by);
    assert_null(b.e_ar->identity.mailed_by);
    free_both(&b);

    dup = load(f, "dupsender.eml", &l2);
    b = explain_both_text(f, dup, l2, &o, "192.0.2.10", "bounce@shop.example");
    assert_int_equal(b.kind, SG_VERDICT_AUTHENTIC);
    assert_int_equal(b.e->headline, SGR_HEADLINE_VERIFIED);
    assert_int_equal(b.e_ar->headline, SGR_HEADLINE_VERIFIED);
    assert_non_null(find_kind(b.e_ar, SGR_WARN_UNSIGNED_FIELD));
    free_both(&b);

    /* the same A-R without aligned=: DKIM alone, unverified */
    sg_verdict *v;
    dup = load(f, "dupsender.eml", &l2);
    const sg_verdict_result *r = verify(f, &v, dup, l2, "192.0.2.10", "bounce@shop.example");
    char *ar = strdup(r->authres), *w = strstr(ar, " aligned=dkim+spf");
    assert_non_null(w);
    memmove(w, w + strlen(" aligned=dkim+spf"), strlen(w + strlen(" aligned=dkim+spf")) + 1);
    size_t arlen;
    char *msg = with_field("Authentication-Results", ar, dup, l2, &arlen);
    sgr_explanation *e;
    assert_int_equal(sgr_explain(&e, msg, arlen, NULL, &o), SGR_EXPLAIN_OK);
    assert_int_equal(e->verified_by, SGR_FROM_AUTHRES);
    assert_int_equal(e->headline, SGR_HEADLINE_UNVERIFIED);
    sgr_explain_free(e);
    free(msg);
    free(ar);
    free(dup);
    sg_verdict_free(v);
}

/* m (LF or CRLF lines) in CRLF form, signed on top by lists.example (its
 * key in the fixtures, the fields listed, t= before NOW); malloc'ed, *len
 * set. */
static char *signed_by_lists(fixture *f, const char *lf, size_t ln, size_t *len)
{
    char *m = malloc(2 * ln + 1);
    size_t n = 0;
    for (size_t i = 0; i < ln; i++) {
        if (lf[i] == '\n' && (i == 0 || lf[i - 1] != '\r'))
            m[n++] = '\r';
        m[n++] = lf[i];
    }
    m[n] = '\0';
    char path[4200], err[256];
    sg_dkim_signkey *key;
    snprintf(path, sizeof(path), "%s/keys/lists-k1.private", f->dir);
    assert_int_equal(sg_dkim_signkey_load(&key, path,
                                          SG_DKIM_KEY_ALLOW_ANY_OWNER | SG_DKIM_KEY_ALLOW_READABLE,
                                          err, sizeof(err)),
                     0);
    static const char *const h[] = {"From", "To", "Subject", "Date", "Sender", "Message-ID"};
    sg_dkim_sign_opts o;
    sg_dkim_sign_opts_init(&o);
    o.domain = "lists.example";
    o.selector = "k1";
    o.key = key;
    o.headers = h;
    o.nheaders = sizeof(h) / sizeof(h[0]);
    o.noversign = 1;
    o.timestamp = NOW - 60;
    sg_dkim_signer *sg;
    sg_msg_parser *p;
    assert_int_equal(sg_dkim_signer_new(&sg, &o, 1), 0);
    assert_int_equal(sg_msg_parser_new(&p, NULL, NULL, NULL), 0);
    const char *body = strstr(m, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    assert_int_equal(sg_msg_feed(p, m, (size_t)(body - m)), 0);
    size_t nh;
    const sg_header *hd = sg_msg_headers(p, &nh);
    assert_int_equal(sg_dkim_sign_headers(sg, hd, nh), 0);
    assert_int_equal(sg_dkim_sign_body(sg, body, n - (size_t)(body - m)), 0);
    const char *sig;
    size_t sl;
    assert_int_equal(sg_dkim_sign_finish(sg, &sig, &sl), 0);
    char *out = malloc(sl + n + 1);
    memcpy(out, sig, sl);
    memcpy(out + sl, m, n);
    out[sl + n] = '\0';
    *len = sl + n;
    sg_dkim_signer_free(sg);
    sg_msg_parser_free(p);
    sg_dkim_signkey_free(key);
    free(m);
    return out;
}

/* A replay (the From domain's genuine signature, an unsigned second Sender
 * on top) that the replayer also signed with a domain of his own, his
 * Sender covered: still unverified on both paths, never "verified through
 * a third party" with live links (adv14 finding 2). */
static void replay_third_party(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    size_t len, l2;
    base_opts(f, &o);
    char *m = load(f, "dupsender.eml", &len);
    char *m2 = signed_by_lists(f, m, len, &l2);
    free(m);
    both b = explain_both_text(f, m2, l2, &o, NULL, NULL);
    assert_int_equal(b.kind, SG_VERDICT_UNVERIFIED);
    if (b.e->headline != SGR_HEADLINE_UNVERIFIED || b.e_ar->headline != SGR_HEADLINE_UNVERIFIED)
        fail_msg("%s (verdict) / %s (A-R), want unverified", sgr_headline_name(b.e->headline),
                 sgr_headline_name(b.e_ar->headline));
    free_both(&b);
    /* the same signature on an ordinary unverified message whose Sender
     * names the signer (a list, a provider) names it */
    m = load(f, "unverified.eml", &len);
    char *m1 = with_field("Sender", "bounces@lists.example", m, len, &l2);
    free(m);
    m2 = signed_by_lists(f, m1, l2, &l2);
    free(m1);
    b = explain_both_text(f, m2, l2, &o, NULL, NULL);
    if (b.e->headline != SGR_HEADLINE_VERIFIED_THIRD_PARTY ||
        b.e_ar->headline != SGR_HEADLINE_VERIFIED_THIRD_PARTY)
        fail_msg("unverified.eml: %s / %s, want verified_third_party",
                 sgr_headline_name(b.e->headline), sgr_headline_name(b.e_ar->headline));
    free_both(&b);
}

static int href(char *buf, size_t cap, size_t index, const sgr_link *l, void *payload);

/* A third party is named only when the message says it handled it: its
 * List-Id, its passing ARC seal, its Sender field. Any other signature
 * proves only that its signer signed: an attacker's own signature on a
 * spoof of a p=none domain must not make its links one click, and a
 * signer that looks like one of ours is warned of (adv29 RD-3). */
static void third_party_needs_relation(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    size_t len, l2;
    base_opts(f, &o);
    o.link_href = href;
    /* no relation: unverified, the signer listed, links inert */
    char *m = load(f, "unverified.eml", &len);
    char *m2 = signed_by_lists(f, m, len, &l2);
    free(m);
    both b = explain_both_text(f, m2, l2, &o, NULL, NULL);
    if (b.e->headline != SGR_HEADLINE_UNVERIFIED || b.e_ar->headline != SGR_HEADLINE_UNVERIFIED)
        fail_msg("no relation: %s / %s, want unverified", sgr_headline_name(b.e->headline),
                 sgr_headline_name(b.e_ar->headline));
    assert_null(b.e->third_party);
    assert_null(b.e_ar->third_party);
    assert_int_equal(b.e->identity.nsigned_by, 1);
    assert_string_equal(b.e->identity.signed_by[0].domain, "lists.example");
    free_both(&b);
    /* neighbours: a List-Id naming it (thirdparty.eml), an ARC seal
     * (arc_sealed.eml) and a Sender (replay_third_party) name it */
    /* a lookalike of ours as the signer, with and without a relation */
    const char *body = "From: bob@nopolicy.example\r\nSubject: x\r\nContent-Type: text/html\r\n"
                       "\r\n<a href=\"https://www.nopolicy.example/\">x</a>";
    const char *ars[] = {AUTHSERV "; dkim=pass header.d=0urco.example; dmarc=none "
                                  "header.from=nopolicy.example",
                         AUTHSERV "; dkim=pass header.d=0urco.example; dmarc=none "
                                  "header.from=nopolicy.example"};
    const char *lists[] = {NULL, "<talk.0urco.example>"};
    for (size_t i = 0; i < 2; i++) {
        size_t l, l3;
        sgr_explanation *e;
        char *m3 =
            lists[i] ? with_field("List-Id", lists[i], body, strlen(body), &l3) : strdup(body);
        if (!lists[i])
            l3 = strlen(body);
        char *ar = with_field("Authentication-Results", ars[i], m3, l3, &l);
        assert_int_equal(sgr_explain(&e, ar, l, NULL, &o), SGR_EXPLAIN_OK);
        /* a lookalike is never a party the reader knows (rev21 R-2) */
        assert_int_equal(e->headline, SGR_HEADLINE_UNVERIFIED);
        assert_int_equal(e->nlinks, 1);
        assert_int_equal(e->links[0].inert, 1);
        int found = 0;
        for (size_t k = 0; k < e->nwarnings; k++)
            found |= !strcmp(e->warnings[k].kind, SGR_WARN_LOOKALIKE) &&
                     !strcmp(e->warnings[k].field, "signed-by") &&
                     strstr(e->warnings[k].detail, "0urco.example looks like ourco.example");
        if (!found)
            fail_msg("%zu: no lookalike warning on the signer", i);
        check_json(e);
        sgr_explain_free(e);
        free(ar);
        free(m3);
    }
    /* A relation the attacker writes himself - a Sender or a List-Id
     * naming his own signing domain - names no third party the reader
     * does not know; one it knows (the learned list) it names (rev21
     * R-2) */
    const char *fields[][2] = {{"Sender", "bounces@relay-mailer.example"},
                               {"List-Id", "<news.relay-mailer.example>"},
                               {"Sender", "owner@lists.example"},
                               {"List-Id", "<talk.lists.example>"}};
    for (size_t i = 0; i < 4; i++) {
        size_t l, l3;
        sgr_explanation *e;
        const char *signer = i < 2 ? "relay-mailer.example" : "lists.example";
        char arv[256];
        snprintf(arv, sizeof(arv),
                 AUTHSERV "; dkim=pass header.d=%s; dmarc=none header.from=nopolicy.example",
                 signer);
        char *m3 = with_field(fields[i][0], fields[i][1], body, strlen(body), &l3);
        char *ar = with_field("Authentication-Results", arv, m3, l3, &l);
        assert_int_equal(sgr_explain(&e, ar, l, NULL, &o), SGR_EXPLAIN_OK);
        sgr_headline want = i < 2 ? SGR_HEADLINE_UNVERIFIED : SGR_HEADLINE_VERIFIED_THIRD_PARTY;
        if (e->headline != want)
            fail_msg("%s: %s by %s: %s", fields[i][0], fields[i][1], signer,
                     sgr_headline_name(e->headline));
        assert_int_equal(e->links[0].inert, i < 2);
        sgr_explain_free(e);
        free(ar);
        free(m3);
    }
    /* an unrelated signer that resembles nothing: no warning on it */
    size_t l;
    sgr_explanation *e;
    char *ar = with_field("Authentication-Results",
                          AUTHSERV "; dkim=pass header.d=lists.example; dmarc=none "
                                   "header.from=nopolicy.example",
                          body, strlen(body), &l);
    assert_int_equal(sgr_explain(&e, ar, l, NULL, &o), SGR_EXPLAIN_OK);
    assert_int_equal(e->headline, SGR_HEADLINE_UNVERIFIED);
    assert_null(find_kind(e, SGR_WARN_LOOKALIKE));
    sgr_explain_free(e);
    free(ar);
}

/* Google signs a Workspace domain's mail as
 * ourco-example.<date>.gappssmtp.com: no lookalike of ourco.example, in
 * verified mail (whose proof is the From's) nor in other mail (the signer
 * is read by its registrable domain); a signer that is a lookalike by its
 * registrable domain still is (rev21 R-4). */
static void signer_by_registrable(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    base_opts(f, &o);
    static const struct {
        const char *from, *ar;
        int warned;
    } cases[] = {
        {"alice@ourco.example",
         "dkim=pass header.d=ourco-example.20230601.gappssmtp.com; spf=pass "
         "smtp.mailfrom=alice@ourco.example; dmarc=pass header.from=ourco.example",
         0},
        {"bob@nopolicy.example",
         "dkim=pass header.d=ourco-example.20230601.gappssmtp.com; dmarc=none "
         "header.from=nopolicy.example",
         0},
        {"bob@nopolicy.example",
         "dkim=pass header.d=mail.0urco.example; dmarc=none header.from=nopolicy.example", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msg[512];
        sgr_explanation *e;
        int n = snprintf(msg, sizeof(msg),
                         "Authentication-Results: " AUTHSERV
                         "; %s\r\nFrom: %s\r\nSubject: x\r\n\r\nhi\r\n",
                         cases[i].ar, cases[i].from);
        assert_int_equal(sgr_explain(&e, msg, (size_t)n, NULL, &o), SGR_EXPLAIN_OK);
        int found = 0;
        for (size_t k = 0; k < e->nwarnings; k++)
            found |= !strcmp(e->warnings[k].field, "signed-by");
        if (found != cases[i].warned)
            fail_msg("case %zu: signed-by warning %d, want %d", i, found, cases[i].warned);
        sgr_explain_free(e);
    }
}

/* An address literal naming a protected domain (adv14 finding 3): the
 * verdict's lax rule makes it forged, and the reader of our A-R, where the
 * From has no domain to compare, decides it again by the same rule. */
static void protected_literal(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    base_opts(f, &o);
    static const char *const froms[] = {"payroll@[ourco.example]",
                                        "Ourco Payroll <payroll@[ ourco.example ]>"};
    for (size_t i = 0; i < 2; i++) {
        char buf[256];
        int n = snprintf(buf, sizeof(buf),
                         "From: %s\r\nTo: reader@mailbox.example\r\nSubject: payslip\r\n"
                         "Date: Mon, 24 Nov 2025 16:00:00 +0000\r\n\r\nhi\r\n",
                         froms[i]);
        char *m = strdup(buf);
        both b = explain_both_text(f, m, (size_t)n, &o, "192.0.2.20", "x@lists.example");
        assert_int_equal(b.kind, SG_VERDICT_FORGED);
        if (b.e->headline != SGR_HEADLINE_FORGED || b.e_ar->headline != SGR_HEADLINE_FORGED)
            fail_msg("%s: %s (verdict) / %s (A-R), want forged", froms[i],
                     sgr_headline_name(b.e->headline), sgr_headline_name(b.e_ar->headline));
        free_both(&b);
    }
}

static void warning_attachment(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    base_opts(f, &o);
    sgr_explanation *e = explain_file(f, "attachment.eml", &o);
    const char *d = find_kind(e, SGR_WARN_ATTACHMENT);
    assert_non_null(d);
    assert_non_null(strstr(d, "invoice.pdf.exe"));
    sgr_explain_free(e);
    e = explain_file(f, "attachment_safe.eml", &o);
    assert_null(find_kind(e, SGR_WARN_ATTACHMENT));
    sgr_explain_free(e);
}

/* ---- links ------------------------------------------------------------------ */

static int href(char *buf, size_t cap, size_t index, const sgr_link *l, void *payload)
{
    (void)l;
    (void)payload;
    snprintf(buf, cap, "/link/M/%zu", index);
    return 0;
}

/* A body cut at the MIME layer's bound (8 MiB) is not shown: cut inside
 * a <style> it rendered as nothing at all, without the note (adv17 F8).
 * One just under the bound is shown. */
static void cut_body_not_shown(void **state)
{
    fixture *f = *state;
    static const char head[] = "From: a@nodmarc.example\r\nTo: b@x.example\r\nSubject: css\r\n"
                               "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                               "<style>";
    static const char tail[] = "</style><p>the end</p>\r\n";
    sgr_explain_opts o;
    base_opts(f, &o);
    o.link_href = href;
    for (int big = 0; big < 2; big++) {
        size_t css = big ? (9u << 20) : (7u << 20), hl = strlen(head), tl = strlen(tail);
        char *m = malloc(hl + css + tl);
        assert_non_null(m);
        memcpy(m, head, hl);
        for (size_t i = 0; i < css; i += 12)
            memcpy(m + hl + i, "a{color:red}", css - i < 12 ? css - i : 12);
        memcpy(m + hl + css, tail, tl);
        sgr_explanation *e;
        assert_int_equal(sgr_explain(&e, m, hl + css + tl, NULL, &o), 0);
        assert_non_null(e->html);
        if (big)
            assert_non_null(strstr(e->html, "too large"));
        else
            assert_non_null(strstr(e->html, "the end"));
        sgr_explain_free(e);
        free(m);
    }
    /* cut plain text is still text: shown */
    static const char thead[] = "From: a@nodmarc.example\r\nTo: b@x.example\r\nSubject: t\r\n"
                                "\r\nfirst line\r\n";
    size_t tl = strlen(thead), n = tl + (9u << 20);
    char *m = malloc(n);
    assert_non_null(m);
    memcpy(m, thead, tl);
    memset(m + tl, 'x', n - tl);
    sgr_explanation *e;
    assert_int_equal(sgr_explain(&e, m, n, NULL, &o), 0);
    assert_non_null(e->html);
    assert_non_null(strstr(e->html, "first line"));
    sgr_explain_free(e);
    free(m);
}

static void links_by_headline(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    base_opts(f, &o);
    o.link_href = href;
    o.link_target = "_top";
    sgr_explanation *e = explain_file(f, "authentic_links.eml", &o);
    assert_int_equal(e->headline, SGR_HEADLINE_VERIFIED);
    assert_int_equal(e->nlinks, 2);
    for (size_t i = 0; i < e->nlinks; i++) {
        assert_int_equal(e->links[i].inert, 0);
        assert_int_equal(e->links[i].nwarnings, 0);
    }
    assert_string_equal(e->links[0].link->host, "www.shop.example");
    assert_non_null(e->html);
    assert_non_null(strstr(e->html, "href=\"/link/M/0\""));
    assert_null(strstr(e->html, "https://www.shop.example"));
    sgr_explain_free(e);

    e = explain_file(f, "links.eml", &o);
    assert_int_equal(e->headline, SGR_HEADLINE_UNVERIFIED);
    assert_int_equal(e->nlinks, 5);
    for (size_t i = 0; i < e->nlinks; i++)
        assert_int_equal(e->links[i].inert, 1);
    assert_non_null(e->html);
    assert_null(strstr(e->html, "href"));
    /* each link its own warning */
    const char *want[] = {"text_mismatch", "ip_host", "userinfo", "blocked_scheme",
                          SGR_WARN_LOOKALIKE};
    for (size_t i = 0; i < 5; i++)
        if (count_kind(e->links[i].warnings, e->links[i].nwarnings, want[i]) != 1)
            fail_msg("link %zu (%s): no %s", i, e->links[i].link->target, want[i]);
    assert_string_equal(e->links[0].warnings[0].detail,
                        "The link text names www.paypal.com, the link goes to evil.example.");
    sgr_explain_free(e);

    /* a list of messages: no body, no links, the same headline */
    o.skip_body = 1;
    e = explain_file(f, "links.eml", &o);
    assert_int_equal(e->headline, SGR_HEADLINE_UNVERIFIED);
    assert_int_equal(e->nlinks, 0);
    assert_null(e->html);
    sgr_explain_free(e);
    o.skip_body = 0;

    /* a hundred decoy hosts first do not hide a lookalike host after them */
    {
        size_t cap = 16384, n = 0;
        char *m = malloc(cap);
        n += (size_t)snprintf(m + n, cap - n,
                              "From: a@nopolicy.example\r\nContent-Type: text/html\r\n\r\n");
        for (int i = 0; i < 100; i++)
            n += (size_t)snprintf(m + n, cap - n, "<a href=\"https://h%d.decoy.example/\">%d</a>",
                                  i, i);
        n += (size_t)snprintf(m + n, cap - n, "<a href=\"https://www.paypa1.com/\">x</a>");
        e = explain_text(m, &o);
        assert_int_equal(e->nlinks, 101);
        assert_int_equal(
            count_kind(e->links[100].warnings, e->links[100].nwarnings, SGR_WARN_LOOKALIKE), 1);
        assert_non_null(find_kind(e, SGR_WARN_LOOKALIKE));
        sgr_explain_free(e);
        free(m);
    }

    /* the CLI: no link_href, links listed, inert, no HTML */
    o.link_href = NULL;
    e = explain_file(f, "authentic_links.eml", &o);
    assert_null(e->html);
    assert_int_equal(e->nlinks, 2);
    assert_int_equal(e->links[0].inert, 1);
    sgr_explain_free(e);
}

static void remote_images_verified_only(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    size_t len, l2;
    base_opts(f, &o);
    o.link_href = href;
    o.allow_remote_images = 1;
    const char *img =
        "Content-Type: text/html\r\n\r\n<p><img src=\"https://img.example/a.png\"></p>";
    char *m = load(f, "authentic.eml", &len);
    /* our A-R on a message with a remote image */
    const char *pass = AUTHSERV "; dkim=pass header.d=shop.example; dmarc=pass "
                                "header.from=shop.example policy.dmarc=reject";
    char msg[1024];
    snprintf(msg, sizeof(msg), "From: a@shop.example\r\nMIME-Version: 1.0\r\n%s\r\n", img);
    char *ar = with_field("Authentication-Results", pass, msg, strlen(msg), &l2);
    sgr_explanation *e;
    assert_int_equal(sgr_explain(&e, ar, l2, NULL, &o), 0);
    assert_int_equal(e->headline, SGR_HEADLINE_VERIFIED);
    assert_int_equal(e->remote_images_allowed, 1);
    assert_non_null(strstr(e->html, "https://img.example/a.png"));
    sgr_explain_free(e);
    assert_int_equal(sgr_explain(&e, msg, strlen(msg), NULL, &o), 0);
    assert_int_equal(e->headline, SGR_HEADLINE_UNVERIFIED);
    assert_int_equal(e->remote_images_allowed, 0);
    assert_int_equal(e->remote_images_blocked, 1);
    assert_null(strstr(e->html, "img.example"));
    sgr_explain_free(e);
    free(ar);
    free(m);
}

/* ---- hostile input ------------------------------------------------------------- */

static void hostile_input(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    base_opts(f, &o);
    o.link_href = href;
    static const char nul[] = "From: a\0b@shop.example\r\nSubject: x\r\n\r\nbody";
    size_t big = 300000;
    char *huge = malloc(big + 64);
    memcpy(huge, "Subject: ", 9);
    memset(huge + 9, 'a', big);
    memcpy(huge + 9 + big, "\r\nFrom: a@b.example\r\n\r\nx", 25);
    struct {
        const char *m;
        size_t len;
    } cases[] = {
        {"", 0},
        {"no header at all", 0},
        {"Subject: no from\r\n\r\nbody", 0},
        {"From: a@shop.example\r\nFrom: b@evil.example\r\n\r\n", 0},
        {nul, sizeof(nul) - 1},
        {huge, 9 + big + 24},
        {"From: x@y.example\r\nContent-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--\r\n",
         0},
        {"From: <>\r\n\r\n", 0},
        {"From: \"\xff\xfe\x01\" <a@b.example>\r\n\r\n", 0},
        {"From: =?x-unknown?b?////?= <a@b.example>\r\nReply-To: ,,,\r\n\r\n", 0},
        {"From: a@b.example\r\nContent-Type: text/html\r\n\r\n<a href=\"java\tscript:x\">y", 0},
    };
    /* len 0: the literal's length (the empty message is "") */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sgr_explanation *e = NULL;
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].m);
        if (sgr_explain(&e, cases[i].m, len, NULL, &o) != SGR_EXPLAIN_OK)
            fail_msg("case %zu failed", i);
        assert_int_not_equal(e->headline, SGR_HEADLINE_VERIFIED);
        assert_int_not_equal(e->headline, SGR_HEADLINE_VERIFIED_THIRD_PARTY);
        check_json(e);
        sgr_explain_free(e);
    }
    /* two From fields under a trusted pass: still forged */
    size_t l;
    const char *two = "From: a@shop.example\r\nFrom: b@evil.example\r\n\r\n";
    char *ar = with_field("Authentication-Results",
                          AUTHSERV "; dmarc=pass header.from=shop.example", two, strlen(two), &l);
    sgr_explanation *e;
    assert_int_equal(sgr_explain(&e, ar, l, NULL, &o), 0);
    assert_int_equal(e->headline, SGR_HEADLINE_FORGED);
    sgr_explain_free(e);
    free(ar);
    free(huge);
    assert_int_equal(sgr_explain(NULL, "", 0, NULL, &o), SGR_EXPLAIN_EINVAL);
    assert_int_equal(sgr_explain(&e, NULL, 5, NULL, &o), SGR_EXPLAIN_EINVAL);
    assert_int_equal(sgr_explain_json(NULL, NULL, NULL), SGR_EXPLAIN_EINVAL);
}

static void names(void **state)
{
    (void)state;
    assert_string_equal(sgr_headline_name(SGR_HEADLINE_VERIFIED), "verified");
    assert_string_equal(sgr_headline_name(SGR_HEADLINE_VERIFIED_THIRD_PARTY),
                        "verified_third_party");
    assert_string_equal(sgr_headline_name(SGR_HEADLINE_UNVERIFIED), "unverified");
    assert_string_equal(sgr_headline_name(SGR_HEADLINE_FORGED), "forged");
    assert_string_equal(sgr_headline_title(SGR_HEADLINE_VERIFIED_THIRD_PARTY),
                        "Verified through a third party");
}

/* A message our A-R says is verified for `domain` (the From's A-label). */
static sgr_explanation *explain_verified(const char *from, const char *domain, const char *rest,
                                         const sgr_explain_opts *o)
{
    char body[2048], ar[512];
    size_t l;
    sgr_explanation *e;
    snprintf(body, sizeof(body), "From: %s\r\n%s", from, rest);
    snprintf(ar, sizeof(ar),
             AUTHSERV "; dkim=pass header.d=%s; dmarc=pass header.from=%s policy.dmarc=reject",
             domain, domain);
    char *m = with_field("Authentication-Results", ar, body, strlen(body), &l);
    assert_int_equal(sgr_explain(&e, m, l, NULL, o), SGR_EXPLAIN_OK);
    assert_int_equal(e->headline, SGR_HEADLINE_VERIFIED);
    check_json(e);
    free(m);
    return e;
}

/* A learned correspondent never hides a lookalike of a protected name,
 * nor an idn hit (adv29 RD-1): the viewer learns the domain of every
 * verified message, the attacker's own lookalike included. */
static void correspondent_keeps_warnings(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    sgr_lookalike_builder *b;
    sgr_lookalike *lk;
    char psl[4096];
    snprintf(psl, sizeof psl, "%s/dmarc/psl/public_suffix_list.dat", sg_test_conformance_dir());
    assert_int_equal(sgr_lookalike_builder_new(&b, psl), SGR_LOOKALIKE_OK);
    assert_int_equal(sgr_lookalike_builder_add(b, "ourco.example", 13, SGR_LOOKALIKE_PROTECTED), 0);
    assert_int_equal(sgr_lookalike_builder_add(b, "paypal.com", 10, SGR_LOOKALIKE_OPERATOR), 0);
    const char *learned[] = {"ourco-example.com", "xn--urco-45d.example", "friend.example",
                             "xn--mller-shop-9db.example"};
    for (size_t i = 0; i < sizeof(learned) / sizeof(learned[0]); i++)
        assert_int_equal(sgr_lookalike_builder_add(b, learned[i], strlen(learned[i]),
                                                   SGR_LOOKALIKE_CORRESPONDENT),
                         0);
    assert_int_equal(sgr_lookalike_build(&lk, b), SGR_LOOKALIKE_OK);
    base_opts(f, &o);
    o.lookalike = lk;
    const char *html =
        "Content-Type: text/html\r\n\r\n<a href=\"https://x.ourco-example.com/\">x</a>";
    /* the lookalike, in its own verified mail and as a link */
    sgr_explanation *e =
        explain_verified("s@ourco-example.com", "ourco-example.com", "Subject: x\r\n\r\n", &o);
    assert_non_null(find_kind(e, SGR_WARN_LOOKALIKE));
    sgr_explain_free(e);
    assert_int_equal(sgr_explain(&e, html, strlen(html), NULL, &o), SGR_EXPLAIN_OK);
    assert_int_equal(e->nlinks, 1);
    assert_int_equal(count_kind(e->links[0].warnings, e->links[0].nwarnings, SGR_WARN_LOOKALIKE),
                     1);
    sgr_explain_free(e);
    /* the homograph: lookalike and idn, U-label or A-label From */
    const char *forms[] = {"s@\xd0\xbeurco.example", "s@xn--urco-45d.example"};
    for (size_t i = 0; i < 2; i++) {
        e = explain_verified(forms[i], "xn--urco-45d.example", "\r\n", &o);
        if (!find_kind(e, SGR_WARN_LOOKALIKE) || !find_kind(e, SGR_WARN_IDN))
            fail_msg("%s: lookalike %s, idn %s", forms[i], find_kind(e, SGR_WARN_LOOKALIKE),
                     find_kind(e, SGR_WARN_IDN));
        sgr_explain_free(e);
    }
    /* neighbours: a learned friend and a learned single-script IDN stay quiet */
    e = explain_verified("s@friend.example", "friend.example", "\r\n", &o);
    assert_null(find_kind(e, SGR_WARN_LOOKALIKE));
    assert_null(find_kind(e, SGR_WARN_IDN));
    sgr_explain_free(e);
    e = explain_verified("s@xn--mller-shop-9db.example", "xn--mller-shop-9db.example", "\r\n", &o);
    assert_null(find_kind(e, SGR_WARN_LOOKALIKE));
    assert_null(find_kind(e, SGR_WARN_IDN));
    sgr_explain_free(e);
    sgr_lookalike_free(lk);
}

/* Every sentence that says what is proven names the A-label, what DMARC
 * proved; the Unicode form only beside it, "shown as", and never for a
 * name that resembles another (adv29 RD-2). */
static void proof_names_alabel(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    base_opts(f, &o);
    /* a homograph of ourco.example (Cyrillic о), written either way */
    const char *forms[] = {"s@\xd0\xbeurco.example", "s@xn--urco-45d.example"};
    for (size_t i = 0; i < 2; i++) {
        sgr_explanation *e = explain_verified(forms[i], "xn--urco-45d.example", "\r\n", &o);
        if (strstr(e->headline_detail, "The sender's domain xn--urco-45d.example is proven") ==
                NULL ||
            strstr(e->headline_detail, "\xd0\xbe") || strstr(e->headline_detail, "shown as"))
            fail_msg("%s: %s", forms[i], e->headline_detail);
        sgr_explain_free(e);
    }
    /* a Latin-only confusable of the operator's paypal.com (U+0251): no
     * idn hit, a lookalike one: the A-label alone */
    sgr_explanation *e = explain_verified("s@p\xc9\x91ypal.com", "xn--pypal-0jc.com", "\r\n", &o);
    assert_non_null(find_kind(e, SGR_WARN_LOOKALIKE));
    assert_null(find_kind(e, SGR_WARN_IDN));
    assert_string_equal(e->headline_detail,
                        "The sender's domain xn--pypal-0jc.com is proven (DMARC pass: the From "
                        "domain is proven).");
    sgr_explain_free(e);
    /* a name that resembles nothing: the Unicode form beside, marked */
    e = explain_verified("s@m\xc3\xbcller-shop.example", "xn--mller-shop-9db.example", "\r\n", &o);
    assert_null(find_kind(e, SGR_WARN_LOOKALIKE));
    assert_null(find_kind(e, SGR_WARN_IDN));
    assert_non_null(strstr(e->headline_detail,
                           "xn--mller-shop-9db.example (shown as m\xc3\xbcller-shop.example) is "
                           "proven"));
    sgr_explain_free(e);
    /* ASCII: as before */
    e = explain_verified("s@shop.example", "shop.example", "\r\n", &o);
    assert_non_null(strstr(e->headline_detail, "The sender's domain shop.example is proven"));
    sgr_explain_free(e);
}

/* A Sender that nothing proves took part is warned of, whatever the
 * headline (adv29 RD-6): verified attacker mail listed "Sender
 * security@ourco.example" without a word. */
static void sender_not_proven(void **state)
{
    fixture *f = *state;
    sgr_explain_opts o;
    base_opts(f, &o);
    /* the probe's message: verified attacker mail, our Sender, a foreign Reply-To */
    sgr_explanation *e = explain_verified("notify@attacker.example", "attacker.example",
                                          "Sender: Ourco Security <security@ourco.example>\r\n"
                                          "Reply-To: collect@payments-desk.example\r\n\r\n",
                                          &o);
    const char *d = find_kind(e, SGR_WARN_SENDER);
    assert_non_null(d);
    assert_string_equal(d, "The Sender field names security@ourco.example, but ourco.example did "
                           "not send this: no signature or SPF pass of it.");
    assert_null(find_kind(e, SGR_WARN_REPLY_TO)); /* verified: its own choice (docs) */
    sgr_explain_free(e);
    /* our domain as the Reply-To of verified mail: replies reach the real
     * party, as a Drive share's or a DocuSign envelope's to a colleague
     * (rev21 R-5) */
    e = explain_verified("notify@attacker.example", "attacker.example",
                         "Reply-To: security@ourco.example\r\n\r\n", &o);
    assert_null(find_kind(e, SGR_WARN_REPLY_TO));
    sgr_explain_free(e);
    /* neighbours: a Sender of the From's own organisation; a Sender whose
     * domain signed; a Reply-To elsewhere that is not ours */
    e = explain_verified("a@shop.example", "shop.example",
                         "Sender: news@mail.shop.example\r\nReply-To: b@elsewhere.example\r\n\r\n",
                         &o);
    assert_null(find_kind(e, SGR_WARN_SENDER));
    assert_null(find_kind(e, SGR_WARN_REPLY_TO));
    sgr_explain_free(e);
    const char *body = "From: bob@nopolicy.example\r\nSender: bounces@lists.example\r\n"
                       "List-Id: <talk.lists.example>\r\n\r\nx";
    size_t l;
    char *ar = with_field("Authentication-Results",
                          AUTHSERV "; dkim=pass header.d=lists.example; dmarc=none "
                                   "header.from=nopolicy.example",
                          body, strlen(body), &l);
    assert_int_equal(sgr_explain(&e, ar, l, NULL, &o), SGR_EXPLAIN_OK);
    assert_int_equal(e->headline, SGR_HEADLINE_VERIFIED_THIRD_PARTY);
    assert_null(find_kind(e, SGR_WARN_SENDER));
    sgr_explain_free(e);
    free(ar);
    /* unverified mail naming us as Sender: warned too */
    e = explain_text("From: a@nopolicy.example\r\nSender: boss@ourco.example\r\n\r\n", &o);
    assert_non_null(find_kind(e, SGR_WARN_SENDER));
    sgr_explain_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names),
        cmocka_unit_test(headline_both_paths),
        cmocka_unit_test(headline_other_verdicts),
        cmocka_unit_test(headline_trusted_forwarder_authres),
        cmocka_unit_test(authres_trust),
        cmocka_unit_test(no_verdict_is_unverified),
        cmocka_unit_test(identity_panel),
        cmocka_unit_test(warning_lookalike),
        cmocka_unit_test(warning_idn),
        cmocka_unit_test(warning_display_name),
        cmocka_unit_test(warning_display_name_confusables),
        cmocka_unit_test(warning_correspondents),
        cmocka_unit_test(warning_reply_to),
        cmocka_unit_test(warning_unsigned_field),
        cmocka_unit_test(copied_signature_above),
        cmocka_unit_test(helo_pass),
        cmocka_unit_test(protected_literal),
        cmocka_unit_test(replay_third_party),
        cmocka_unit_test(third_party_needs_relation),
        cmocka_unit_test(signer_by_registrable),
        cmocka_unit_test(warning_attachment),
        cmocka_unit_test(links_by_headline),
        cmocka_unit_test(cut_body_not_shown),
        cmocka_unit_test(remote_images_verified_only),
        cmocka_unit_test(hostile_input),
        cmocka_unit_test(correspondent_keeps_warnings),
        cmocka_unit_test(proof_names_alabel),
        cmocka_unit_test(sender_not_proven),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
