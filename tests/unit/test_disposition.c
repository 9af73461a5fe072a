/* spoofguardd's answer to a message (src/daemon/disposition.c): every path
 * of the inbound disposition, the fail-safe answers, the refusals decided
 * while a message comes in, and outbound sender ownership, each with the
 * exact SMTP reply the daemon sends (tests/interop/milter_client.py checks
 * the same replies on the wire). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disposition.h"

/* ---- inbound --------------------------------------------------------------- */

#define REASON "the verdict's reason"

static const char *const never_reject[] = {"remote.test", "partner.example"};

typedef struct {
    const char *name;
    /* configuration (defaults: dmarc_enforce yes, reject_protected_fail yes,
     * failsafe tempfail, no never_reject_domains) */
    int enforce_off, protected_off, failsafe_accept, never;
    /* verdict */
    int temporary;
    sg_verdict_rule rule;
    sg_dmarc_result_code dmarc;
    sg_dmarc_disposition disp;
    const char *author, *dmarc_author;
    /* the answer */
    sg_action action;
    const char *log_action;
    const char *reply; /* NULL: none */
    const char *why;   /* NULL: the verdict's reason */
    int quarantine, delete_forged, add_authres, failsafe;
} inbound_case;

static const inbound_case inbound[] = {
    {"pass", 0, 0, 0, 0, 0, SG_VERDICT_RULE_NONE, SG_DMARC_RESULT_PASS, SG_DMARC_DISP_NONE,
     "remote.test", "remote.test", SG_ACT_CONTINUE, "accept", NULL, NULL, 0, 1, 1, 0},
    {"forged under p=reject", 0, 0, 0, 0, 0, SG_VERDICT_RULE_DMARC, SG_DMARC_RESULT_FAIL,
     SG_DMARC_DISP_REJECT, "remote.test", "remote.test", SG_ACT_REJECT, "reject",
     "550 5.7.1 DMARC policy of remote.test rejects this message", NULL, 0, 1, 1, 0},
    {"p=reject names the DMARC author domain without an author", 0, 0, 0, 0, 0,
     SG_VERDICT_RULE_DMARC, SG_DMARC_RESULT_FAIL, SG_DMARC_DISP_REJECT, NULL, "bank.test",
     SG_ACT_REJECT, "reject", "550 5.7.1 DMARC policy of bank.test rejects this message", NULL, 0,
     1, 1, 0},
    {"p=reject without any domain", 0, 0, 0, 0, 0, SG_VERDICT_RULE_DMARC, SG_DMARC_RESULT_FAIL,
     SG_DMARC_DISP_REJECT, NULL, NULL, SG_ACT_REJECT, "reject",
     "550 5.7.1 DMARC policy of the sender rejects this message", NULL, 0, 1, 1, 0},
    {"forged under p=quarantine", 0, 0, 0, 0, 0, SG_VERDICT_RULE_DMARC, SG_DMARC_RESULT_FAIL,
     SG_DMARC_DISP_QUARANTINE, "remote.test", "remote.test", SG_ACT_CONTINUE, "quarantine", NULL,
     NULL, 1, 1, 1, 0},
    {"forged under p=none", 0, 0, 0, 0, 0, SG_VERDICT_RULE_DMARC, SG_DMARC_RESULT_FAIL,
     SG_DMARC_DISP_NONE, "remote.test", "remote.test", SG_ACT_CONTINUE, "accept", NULL, NULL, 0, 1,
     1, 0},
    {"own domain forged", 0, 0, 0, 0, 0, SG_VERDICT_RULE_PROTECTED, SG_DMARC_RESULT_FAIL,
     SG_DMARC_DISP_REJECT, "ourco.test", "ourco.test", SG_ACT_REJECT, "reject",
     "550 5.7.1 Message claims to be from ourco.test but is not", NULL, 0, 1, 1, 0},
    {"own domain forged, no domain known", 0, 0, 0, 0, 0, SG_VERDICT_RULE_PROTECTED,
     SG_DMARC_RESULT_NONE, SG_DMARC_DISP_REJECT, NULL, NULL, SG_ACT_REJECT, "reject",
     "550 5.7.1 Message claims to be from one of our domains but is not", NULL, 0, 1, 1, 0},
    {"own domain forged, reject_protected_fail no, p=none", 0, 1, 0, 0, 0,
     SG_VERDICT_RULE_PROTECTED, SG_DMARC_RESULT_FAIL, SG_DMARC_DISP_NONE, "ourco.test",
     "ourco.test", SG_ACT_CONTINUE, "accept", NULL, NULL, 0, 1, 1, 0},
    {"own domain protection does not need dmarc_enforce", 1, 0, 0, 0, 0, SG_VERDICT_RULE_PROTECTED,
     SG_DMARC_RESULT_FAIL, SG_DMARC_DISP_NONE, "ourco.test", "ourco.test", SG_ACT_REJECT, "reject",
     "550 5.7.1 Message claims to be from ourco.test but is not", NULL, 0, 1, 1, 0},
    {"several From addresses", 0, 0, 0, 0, 0, SG_VERDICT_RULE_MULTIPLE_FROM, SG_DMARC_RESULT_FAIL,
     SG_DMARC_DISP_REJECT, NULL, NULL, SG_ACT_REJECT, "reject",
     "550 5.7.1 Message must have exactly one author address", NULL, 0, 1, 1, 0},
    {"several From addresses, dmarc_enforce no", 1, 0, 0, 0, 0, SG_VERDICT_RULE_MULTIPLE_FROM,
     SG_DMARC_RESULT_FAIL, SG_DMARC_DISP_REJECT, NULL, NULL, SG_ACT_CONTINUE, "accept", NULL, NULL,
     0, 1, 1, 0},
    {"p=reject, dmarc_enforce no", 1, 0, 0, 0, 0, SG_VERDICT_RULE_DMARC, SG_DMARC_RESULT_FAIL,
     SG_DMARC_DISP_REJECT, "remote.test", "remote.test", SG_ACT_CONTINUE, "accept", NULL, NULL, 0,
     1, 1, 0},
    {"p=quarantine, dmarc_enforce no", 1, 0, 0, 0, 0, SG_VERDICT_RULE_DMARC, SG_DMARC_RESULT_FAIL,
     SG_DMARC_DISP_QUARANTINE, "remote.test", "remote.test", SG_ACT_CONTINUE, "accept", NULL, NULL,
     0, 1, 1, 0},
    {"never_reject_domains: the domain", 0, 0, 0, 1, 0, SG_VERDICT_RULE_DMARC, SG_DMARC_RESULT_FAIL,
     SG_DMARC_DISP_REJECT, "REMOTE.test", "remote.test", SG_ACT_CONTINUE, "quarantine", NULL,
     "DMARC reject downgraded to quarantine (never_reject_domains)", 1, 1, 1, 0},
    {"never_reject_domains: a subdomain", 0, 0, 0, 1, 0, SG_VERDICT_RULE_DMARC,
     SG_DMARC_RESULT_FAIL, SG_DMARC_DISP_REJECT, "mail.partner.example", "partner.example",
     SG_ACT_CONTINUE, "quarantine", NULL,
     "DMARC reject downgraded to quarantine (never_reject_domains)", 1, 1, 1, 0},
    {"never_reject_domains: a name that only ends the same", 0, 0, 0, 1, 0, SG_VERDICT_RULE_DMARC,
     SG_DMARC_RESULT_FAIL, SG_DMARC_DISP_REJECT, "notremote.test", "notremote.test", SG_ACT_REJECT,
     "reject", "550 5.7.1 DMARC policy of notremote.test rejects this message", NULL, 0, 1, 1, 0},
    {"never_reject_domains never lifts own-domain protection", 0, 0, 0, 1, 0,
     SG_VERDICT_RULE_PROTECTED, SG_DMARC_RESULT_FAIL, SG_DMARC_DISP_REJECT, "remote.test",
     "remote.test", SG_ACT_REJECT, "reject",
     "550 5.7.1 Message claims to be from remote.test but is not", NULL, 0, 1, 1, 0},
    {"temperror: fail-safe tempfail", 0, 0, 0, 0, 1, SG_VERDICT_RULE_NONE,
     SG_DMARC_RESULT_TEMPERROR, SG_DMARC_DISP_NONE, "remote.test", "remote.test", SG_ACT_TEMPFAIL,
     "tempfail", "451 4.7.1 Sender authentication is temporarily unavailable", NULL, 0, 0, 0, 1},
    {"temperror: fail-safe accept", 0, 0, 1, 0, 1, SG_VERDICT_RULE_NONE, SG_DMARC_RESULT_TEMPERROR,
     SG_DMARC_DISP_NONE, "remote.test", "remote.test", SG_ACT_CONTINUE, "accept", NULL, NULL, 0, 1,
     1, 1},
    /* a temporary failure may hide a pass: never a reject */
    {"temperror of a protected domain", 0, 0, 1, 0, 1, SG_VERDICT_RULE_PROTECTED,
     SG_DMARC_RESULT_TEMPERROR, SG_DMARC_DISP_REJECT, "ourco.test", "ourco.test", SG_ACT_CONTINUE,
     "accept", NULL, NULL, 0, 1, 1, 1},
    {"temperror under p=reject, fail-safe tempfail", 0, 0, 0, 0, 1, SG_VERDICT_RULE_DMARC,
     SG_DMARC_RESULT_FAIL, SG_DMARC_DISP_REJECT, "remote.test", "remote.test", SG_ACT_TEMPFAIL,
     "tempfail", "451 4.7.1 Sender authentication is temporarily unavailable", NULL, 0, 0, 0, 1},
};

static void assert_override(const sg_disposition *d, const char *want)
{
    if (want == NULL) {
        assert_null(d->override_type);
        assert_string_equal(d->override_comment, "");
        return;
    }
    char got[400];
    snprintf(got, sizeof got, "%s/%s", d->override_type ? d->override_type : "(null)",
             d->override_comment);
    assert_string_equal(got, want);
}

/* The aggregate report's reason each case of the table gives ("type/comment",
 * the published policy being the disposition's); the others give none. */
static const struct {
    const char *name, *override;
} inbound_override[] = {
    {"own domain protection does not need dmarc_enforce", "local_policy/protected_domain"},
    {"several From addresses, dmarc_enforce no", "local_policy/dmarc_enforce=no"},
    {"p=reject, dmarc_enforce no", "local_policy/dmarc_enforce=no"},
    {"p=quarantine, dmarc_enforce no", "local_policy/dmarc_enforce=no"},
    {"never_reject_domains: the domain", "local_policy/never_reject_domains"},
    {"never_reject_domains: a subdomain", "local_policy/never_reject_domains"},
};

static const char *override_of(const char *name)
{
    for (size_t i = 0; i < sizeof(inbound_override) / sizeof(inbound_override[0]); i++)
        if (!strcmp(inbound_override[i].name, name))
            return inbound_override[i].override;
    return NULL;
}

static void inbound_table(void **state)
{
    for (size_t i = 0; i < sizeof(inbound) / sizeof(inbound[0]); i++) {
        const inbound_case *c = &inbound[i];
        sg_config cfg;
        assert_int_equal(sg_config_defaults(&cfg), 0);
        if (c->enforce_off)
            cfg.dmarc_enforce = 0;
        if (c->protected_off)
            cfg.reject_protected_fail = 0;
        if (c->failsafe_accept)
            cfg.failsafe = SG_FAILSAFE_ACCEPT;
        char **saved = cfg.never_reject_domains;
        size_t nsaved = cfg.n_never_reject_domains;
        if (c->never) {
            cfg.never_reject_domains = (char **)never_reject;
            cfg.n_never_reject_domains = 2;
        }
        sg_verdict_result vr;
        memset(&vr, 0, sizeof(vr));
        vr.reason = REASON;
        vr.temporary = c->temporary;
        vr.rule = c->rule;
        vr.dmarc.result = c->dmarc;
        vr.disposition = c->disp;
        vr.dmarc.disposition = c->disp;
        vr.dmarc.policy = (sg_dmarc_policy)c->disp;
        vr.author.domain = c->author;
        vr.dmarc.author_domain = c->dmarc_author;

        sg_disposition d;
        sg_disposition_inbound(&cfg, &vr, &d);
        print_message("%s\n", c->name);
        assert_int_equal(d.action, c->action);
        assert_string_equal(d.log_action, c->log_action);
        if (c->reply == NULL)
            assert_null(d.reply);
        else
            assert_string_equal(d.reply, c->reply);
        assert_string_equal(d.why, c->why ? c->why : REASON);
        assert_int_equal(d.quarantine, c->quarantine);
        assert_int_equal(d.delete_forged, c->delete_forged);
        assert_int_equal(d.add_authres, c->add_authres);
        assert_int_equal(d.failsafe, c->failsafe);
        if (c->failsafe)
            assert_int_equal(d.cause, SG_MFS_DNS);
        assert_override(&d, override_of(c->name));
        cfg.never_reject_domains = saved;
        cfg.n_never_reject_domains = nsaved;
        sg_config_free(&cfg);
    }
}

/* The reason an aggregate report gives when the applied disposition is not
 * the published policy's, where DMARC itself moved it (t=y lowers it one
 * step, a trusted ARC sealer lifts it) or a local rule went further. */
static void override_reasons(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int enforce_off;
        sg_verdict_rule rule;
        sg_dmarc_result_code dmarc;
        sg_dmarc_policy published;
        sg_dmarc_disposition disp; /* what DMARC asks after t= and ARC */
        int testing, trusted;
        const char *log_action, *override;
    } cases[] = {
        {"t=y, p=reject: quarantine", 0, SG_VERDICT_RULE_DMARC, SG_DMARC_RESULT_FAIL,
         SG_DMARC_POLICY_REJECT, SG_DMARC_DISP_QUARANTINE, 1, 0, "quarantine",
         "policy_test_mode/t=y"},
        {"t=y, p=quarantine: none", 0, SG_VERDICT_RULE_DMARC, SG_DMARC_RESULT_FAIL,
         SG_DMARC_POLICY_QUARANTINE, SG_DMARC_DISP_NONE, 1, 0, "accept", "policy_test_mode/t=y"},
        {"t=y, p=none: nothing to lower", 0, SG_VERDICT_RULE_DMARC, SG_DMARC_RESULT_FAIL,
         SG_DMARC_POLICY_NONE, SG_DMARC_DISP_NONE, 1, 0, "accept", NULL},
        {"t=y but the message passes", 0, SG_VERDICT_RULE_NONE, SG_DMARC_RESULT_PASS,
         SG_DMARC_POLICY_REJECT, SG_DMARC_DISP_NONE, 1, 0, "accept", NULL},
        {"t=y under dmarc_enforce no: the local policy decided", 1, SG_VERDICT_RULE_DMARC,
         SG_DMARC_RESULT_FAIL, SG_DMARC_POLICY_REJECT, SG_DMARC_DISP_QUARANTINE, 1, 0, "accept",
         "local_policy/dmarc_enforce=no"},
        {"trusted ARC sealer", 0, SG_VERDICT_RULE_TRUSTED_ARC, SG_DMARC_RESULT_FAIL,
         SG_DMARC_POLICY_REJECT, SG_DMARC_DISP_NONE, 0, 1, "accept",
         "trusted_forwarder/arc_sealer=fwd.test"},
        {"own domain under p=quarantine: rejected", 0, SG_VERDICT_RULE_PROTECTED,
         SG_DMARC_RESULT_FAIL, SG_DMARC_POLICY_QUARANTINE, SG_DMARC_DISP_QUARANTINE, 0, 0, "reject",
         "local_policy/protected_domain"},
        {"own domain under t=y p=reject: rejected", 0, SG_VERDICT_RULE_PROTECTED,
         SG_DMARC_RESULT_FAIL, SG_DMARC_POLICY_REJECT, SG_DMARC_DISP_QUARANTINE, 1, 0, "reject",
         NULL},
        {"several From under p=none", 0, SG_VERDICT_RULE_MULTIPLE_FROM, SG_DMARC_RESULT_FAIL,
         SG_DMARC_POLICY_NONE, SG_DMARC_DISP_NONE, 0, 0, "reject",
         "local_policy/one_author_address"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sg_config cfg;
        assert_int_equal(sg_config_defaults(&cfg), 0);
        cfg.dmarc_enforce = !cases[i].enforce_off;
        sg_verdict_result vr;
        memset(&vr, 0, sizeof(vr));
        vr.reason = REASON;
        vr.rule = cases[i].rule;
        vr.dmarc.result = cases[i].dmarc;
        vr.dmarc.policy = cases[i].published;
        vr.dmarc.disposition = vr.disposition = cases[i].disp;
        vr.dmarc.testing = cases[i].testing;
        vr.author.domain = "remote.test";
        if (cases[i].trusted) {
            vr.policy_override = "trusted_forwarder";
            vr.arc_trusted_sealer = "fwd.test";
        }
        sg_disposition d;
        sg_disposition_inbound(&cfg, &vr, &d);
        print_message("%s\n", cases[i].name);
        assert_string_equal(d.log_action, cases[i].log_action);
        assert_override(&d, cases[i].override);
        sg_config_free(&cfg);
    }
}

/* ---- fail-safe and early refusals -------------------------------------------- */

static void failsafe_answers(void **state)
{
    static const sg_mfs causes[] = {SG_MFS_TIMEOUT, SG_MFS_OVERLOAD, SG_MFS_INTERNAL};
    sg_config cfg;
    sg_disposition d;
    assert_int_equal(sg_config_defaults(&cfg), 0);
    for (size_t i = 0; i < sizeof(causes) / sizeof(causes[0]); i++) {
        cfg.failsafe = SG_FAILSAFE_TEMPFAIL;
        sg_disposition_failsafe(&cfg, "message time budget exhausted", causes[i], &d);
        assert_int_equal(d.action, SG_ACT_TEMPFAIL);
        assert_string_equal(d.log_action, "tempfail");
        assert_string_equal(d.reply,
                            causes[i] == SG_MFS_OVERLOAD
                                ? "451 4.3.2 Too busy to check the message now, try again later"
                                : "451 4.7.1 Message cannot be checked now, try again later");
        assert_string_equal(d.why, "message time budget exhausted");
        assert_true(d.failsafe);
        assert_int_equal(d.cause, causes[i]);
        /* the MTA retries: nothing of the message is edited */
        assert_false(d.delete_forged || d.add_authres || d.quarantine);

        cfg.failsafe = SG_FAILSAFE_ACCEPT;
        sg_disposition_failsafe(&cfg, "out of memory", causes[i], &d);
        if (causes[i] == SG_MFS_OVERLOAD) {
            /* a sender can cause it: never accepted unchecked */
            assert_int_equal(d.action, SG_ACT_TEMPFAIL);
            assert_string_equal(d.reply,
                                "451 4.3.2 Too busy to check the message now, try again later");
            assert_true(d.failsafe);
            assert_false(d.delete_forged || d.add_authres || d.quarantine);
            continue;
        }
        assert_int_equal(d.action, SG_ACT_CONTINUE);
        assert_string_equal(d.log_action, "accept");
        assert_null(d.reply);
        assert_string_equal(d.why, "out of memory");
        assert_true(d.failsafe);
        assert_int_equal(d.cause, causes[i]);
        /* accepted unchecked: forged A-R fields still go, no A-R of ours */
        assert_true(d.delete_forged);
        assert_false(d.add_authres || d.quarantine);
    }
    sg_config_free(&cfg);
}

static void refusals(void **state)
{
    sg_disposition d;
    const char *r = "550 5.7.1 Message must have exactly one From field";
    sg_disposition_reject(r, &d);
    assert_int_equal(d.action, SG_ACT_REJECT);
    assert_string_equal(d.log_action, "reject");
    assert_ptr_equal(d.reply, r); /* no length limit on a reply decided earlier */
    assert_string_equal(d.why, r);
    assert_false(d.failsafe || d.delete_forged || d.add_authres || d.quarantine);

    /* malformed or over-limit header: permanent, never the fail-safe */
    assert_string_equal(sg_disposition_header_reply(SG_ESYNTAX),
                        "550 5.6.0 Malformed message header");
    assert_string_equal(sg_disposition_header_reply(SG_ELIMIT),
                        "552 5.6.0 Message header exceeds our limits");
    assert_null(sg_disposition_header_reply(SG_OK));
    assert_null(sg_disposition_header_reply(SG_ENOMEM));
    assert_null(sg_disposition_header_reply(SG_EIO));
    assert_string_equal(SG_REPLY_TOO_BIG, "552 5.3.4 Message too big to be checked");
}

/* ---- outbound sender ownership ---------------------------------------------- */

static char dir[64];
static sg_maps *maps;         /* with a sender map */
static sg_maps *maps_none;    /* without */
static sg_maps *maps_signing; /* keys to sign with, no sender map */
static sg_config cfg_map, cfg_none, cfg_signing;

static int setup(void **state)
{
    char path[128];
    char err[256];
    strcpy(dir, "/tmp/sgdispXXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/senders", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fputs("alice@ourco.test  alice@ourco.test, a.smith@ourco.test\n", f);
    fclose(f);
    sg_config_defaults(&cfg_map);
    cfg_map.sender_map = strdup(path);
    sg_config_defaults(&cfg_none);
    sg_config_defaults(&cfg_signing);
    snprintf(path, sizeof(path), "%s/KeyTable", dir);
    if ((f = fopen(path, "w")) == NULL)
        return -1;
    fprintf(f, "k ourco.test:s1:%s/s1.private\n", dir); /* the signer reads it, not the maps */
    fclose(f);
    cfg_signing.key_table = strdup(path);
    snprintf(path, sizeof(path), "%s/SigningTable", dir);
    if ((f = fopen(path, "w")) == NULL)
        return -1;
    fputs("*@ourco.test k\n", f);
    fclose(f);
    cfg_signing.signing_table = strdup(path);
    if (sg_maps_load(&maps, &cfg_map, err, sizeof(err)) != 0 ||
        sg_maps_load(&maps_none, &cfg_none, err, sizeof(err)) != 0 ||
        sg_maps_load(&maps_signing, &cfg_signing, err, sizeof(err)) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    sg_maps_free(maps);
    sg_maps_free(maps_none);
    sg_maps_free(maps_signing);
    sg_config_free(&cfg_map);
    sg_config_free(&cfg_none);
    sg_config_free(&cfg_signing);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static void mail_from(void **state)
{
    static const struct {
        int with_map;
        const char *login, *path;
        int rc;
        const char *reply;
    } cases[] = {
        {1, "alice@ourco.test", "alice@ourco.test", 0, NULL},
        {1, "alice@ourco.test", "A.Smith@OURCO.test", 0, NULL},
        {1, "alice@ourco.test", "bob@ourco.test", 1,
         "550 5.7.1 alice@ourco.test is not allowed to send as <bob@ourco.test>"},
        {1, "alice@ourco.test", "bob%relay@ourco.test", 1,
         "550 5.7.1 alice@ourco.test is not allowed to send as <bob%relay@ourco.test>"},
        {1, "alice@ourco.test", "bob@@ourco.test", 1, "553 5.1.7 Malformed sender address"},
        {1, "alice@ourco.test", "", 0, NULL}, /* the null sender (bounces) */
        {1, "", "bob@ourco.test", 0, NULL},   /* not authenticated: an internal host */
        {0, "alice@ourco.test", "bob@ourco.test", 0, NULL}, /* no sender map */
        /* no sender map where we sign: nothing says what a login owns, and
         * we would sign any From it wrote (adv21 F1) */
        {2, "alice@ourco.test", "alice@ourco.test", 1,
         "550 5.7.1 alice@ourco.test may not send here: no sender_map lists its addresses"},
        {2, "alice@ourco.test", "", 1,
         "550 5.7.1 alice@ourco.test may not send here: no sender_map lists its addresses"},
        {2, "", "ceo@ourco.test", 0, NULL}, /* an internal host: by its network */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sg_arena *a;
        char *reply = (char *)"unset";
        assert_int_equal(sg_arena_new(&a, 4096), 0);
        int rc = sg_sender_mail_from(cases[i].with_map == 2 ? maps_signing
                                     : cases[i].with_map    ? maps
                                                            : maps_none,
                                     a, cases[i].login, cases[i].path, &reply);
        print_message("MAIL FROM %s as %s\n", cases[i].path, cases[i].login);
        assert_int_equal(rc, cases[i].rc);
        if (cases[i].reply)
            assert_string_equal(reply, cases[i].reply);
        else
            assert_null(reply);
        free(reply);
        sg_arena_free(a);
    }
}

/* a parsed field as the message parser hands it over (raw bytes unused) */
#define H(n, v)                                                                                    \
    {                                                                                              \
        .name = n, .name_len = sizeof(n) - 1, .value = v, .value_len = sizeof(v) - 1               \
    }

static void header_fields(void **state)
{
    static const sg_header one_from[] = {H("Subject", " hi"),
                                         H("From", " Alice <alice@ourco.test>")};
    static const sg_header bob_from[] = {H("From", " bob@ourco.test")};
    static const sg_header two_from[] = {H("From", " alice@ourco.test"),
                                         H("From", " alice@ourco.test")};
    static const sg_header no_from[] = {H("Subject", " hi")};
    static const sg_header two_addr[] = {H("From", " alice@ourco.test, a.smith@ourco.test")};
    static const sg_header bad_from[] = {H("From", " <<<")};
    static const sg_header bob_sender[] = {H("From", " alice@ourco.test"),
                                           H("Sender", " bob@ourco.test")};
    static const sg_header bad_sender[] = {H("From", " alice@ourco.test"), H("sender", " <<<")};
    static const sg_header quoted[] = {H("From", " <\"alice@ourco.test\"@attacker.test>")};
    /* addresses a person reads in a display name or comment (adv15 F5) */
    static const sg_header name_bob[] = {H("From", " \"bob@ourco.test\" <alice@ourco.test>")};
    static const sg_header name_ew[] = {
        H("From", " =?utf-8?q?Bob_=3Cbob=40ourco=2Etest=3E?= <alice@ourco.test>")};
    static const sg_header name_comment[] = {
        H("From", " Alice (bob@ourco.test) <alice@ourco.test>")};
    static const sg_header name_wide[] = {
        H("From", " \"bob\xef\xbc\xa0ourco.test\" <alice@ourco.test>")};
    static const sg_header name_bank[] = {H("From", " \"ceo@bank.example\" <alice@ourco.test>")};
    static const sg_header name_own[] = {H("From", " \"alice@ourco.test\" <alice@ourco.test>")};
    static const sg_header name_mine[] = {H("From", " \"A.Smith@OURCO.TEST\" <alice@ourco.test>")};
    static const sg_header name_plain[] = {H("From", " \"Alice @ HQ\" <alice@ourco.test>")};
    /* rev17: a suffix of the own local part, a quoted or hidden local
     * part, a bare domain */
    static const sg_header name_suffix[] = {H("From", " \"ice@ourco.test\" <alice@ourco.test>")};
    static const sg_header name_quoted[] = {
        H("From", " \"\\\"bob\\\"@ourco.test\" <alice@ourco.test>")};
    static const sg_header name_vt[] = {
        H("From", " =?utf-8?q?bob=0B=40ourco.test?= <alice@ourco.test>")};
    static const sg_header name_at_own[] = {H("From", " \"@ourco.test\" <alice@ourco.test>")};
    static const sg_header name_at_bank[] = {
        H("From", " \"bob,@bank.example\" <alice@ourco.test>")};
    static const sg_header name_handle[] = {
        H("From", " Jane (@jane.bsky.social) <alice@ourco.test>")};
    static const sg_header name_lisu[] = {H("From", " \"ceo@bank\xea\x93\xb8"
                                                    "example\" <alice@ourco.test>")};
    static const sg_header name_rlo[] = {H("From",
                                           " \"\xe2\x80\xae"
                                           "tset.ocruo@oec\xe2\x80\xac\" <alice@ourco.test>")};
    static const sg_header name_comment_local[] = {
        H("From", " \"ceo(alice)@ourco.test\" <alice@ourco.test>")};
    static const sg_header name_sender[] = {H("From", " alice@ourco.test"),
                                            H("Sender", " \"bob@ourco.test\" <alice@ourco.test>")};
    static const struct {
        int with_map;
        const char *login;
        const sg_header *f;
        size_t n;
        int rc;
        const char *from, *reply;
    } cases[] = {
        {1, "alice@ourco.test", one_from, 2, 0, "alice@ourco.test", NULL},
        {1, "alice@ourco.test", bob_from, 1, 1, "bob@ourco.test",
         "550 5.7.1 alice@ourco.test is not allowed to send as <bob@ourco.test>"},
        {1, "alice@ourco.test", two_from, 2, 1, NULL,
         "550 5.7.1 Message must have exactly one From field"},
        {0, "", no_from, 1, 1, NULL, "550 5.7.1 Message must have exactly one From field"},
        {0, "", two_addr, 1, 1, NULL, "550 5.7.1 From field must hold exactly one valid address"},
        {1, "alice@ourco.test", bad_from, 1, 1, NULL,
         "550 5.7.1 From field must hold exactly one valid address"},
        {1, "alice@ourco.test", bob_sender, 2, 1, "alice@ourco.test",
         "550 5.7.1 alice@ourco.test is not allowed to send as <bob@ourco.test>"},
        {1, "alice@ourco.test", bad_sender, 2, 1, "alice@ourco.test",
         "550 5.7.1 Unparsable sender field"},
        {1, "alice@ourco.test", quoted, 1, 1, "alice@ourco.test@attacker.test",
         "550 5.7.1 alice@ourco.test is not allowed to send as "
         "<\"alice@ourco.test\"@attacker.test>"},
        {1, "alice@ourco.test", name_bob, 1, 1, "alice@ourco.test",
         "550 5.7.1 alice@ourco.test is not allowed to show <bob@ourco.test> in the From field"},
        {1, "alice@ourco.test", name_ew, 1, 1, "alice@ourco.test",
         "550 5.7.1 alice@ourco.test is not allowed to show <bob@ourco.test> in the From field"},
        {1, "alice@ourco.test", name_comment, 1, 1, "alice@ourco.test",
         "550 5.7.1 alice@ourco.test is not allowed to show <bob@ourco.test> in the From field"},
        {1, "alice@ourco.test", name_wide, 1, 1, "alice@ourco.test",
         "550 5.7.1 alice@ourco.test is not allowed to show <bob@ourco.test> in the From field"},
        {1, "alice@ourco.test", name_bank, 1, 1, "alice@ourco.test",
         "550 5.7.1 alice@ourco.test is not allowed to show <ceo@bank.example> in the From "
         "field"},
        {1, "alice@ourco.test", name_sender, 2, 1, "alice@ourco.test",
         "550 5.7.1 alice@ourco.test is not allowed to show <bob@ourco.test> in the Sender field"},
        {1, "alice@ourco.test", name_suffix, 1, 1, "alice@ourco.test",
         "550 5.7.1 alice@ourco.test is not allowed to show <ice@ourco.test> in the From field"},
        {1, "alice@ourco.test", name_quoted, 1, 1, "alice@ourco.test",
         "550 5.7.1 alice@ourco.test is not allowed to show <bob@ourco.test> in the From field"},
        {1, "alice@ourco.test", name_vt, 1, 1, "alice@ourco.test",
         "550 5.7.1 alice@ourco.test is not allowed to show <bob@ourco.test> in the From field"},
        {1, "alice@ourco.test", name_at_bank, 1, 1, "alice@ourco.test",
         "550 5.7.1 alice@ourco.test is not allowed to show <@bank.example> in the From field"},
        {1, "alice@ourco.test", name_at_own, 1, 0, "alice@ourco.test", NULL},
        {1, "alice@ourco.test", name_handle, 1, 0, "alice@ourco.test", NULL},
        {1, "alice@ourco.test", name_lisu, 1, 1, "alice@ourco.test",
         "550 5.7.1 alice@ourco.test is not allowed to show <ceo@bank.example> in the From field"},
        {1, "alice@ourco.test", name_rlo, 1, 1, "alice@ourco.test",
         "550 5.7.1 The From field cannot be read safely: too many addresses, or text shown out of "
         "order"},
        {1, "alice@ourco.test", name_comment_local, 1, 1, "alice@ourco.test",
         "550 5.7.1 alice@ourco.test is not allowed to show <ceo@ourco.test> in the From field"},
        {1, "alice@ourco.test", name_own, 1, 0, "alice@ourco.test", NULL},
        {1, "alice@ourco.test", name_mine, 1, 0, "alice@ourco.test", NULL},
        {1, "alice@ourco.test", name_plain, 1, 0, "alice@ourco.test", NULL},
        {1, "", name_bob, 1, 0, "alice@ourco.test", NULL},
        /* without a login, or without a map, only the From rules hold */
        {1, "", bob_sender, 2, 0, "alice@ourco.test", NULL},
        {0, "alice@ourco.test", bob_from, 1, 0, "bob@ourco.test", NULL},
        /* where we sign, a login needs the map (a null-sender message from
         * it reaches this rule) */
        {2, "alice@ourco.test", bob_from, 1, 1, "bob@ourco.test",
         "550 5.7.1 alice@ourco.test may not send here: no sender_map lists its addresses"},
        {2, "", bob_from, 1, 0, "bob@ourco.test", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sg_arena *a;
        char *reply = (char *)"unset";
        const char *from = "unset";
        assert_int_equal(sg_arena_new(&a, 4096), 0);
        print_message("header case %zu\n", i);
        int rc = sg_sender_headers(cases[i].with_map == 2 ? maps_signing
                                   : cases[i].with_map    ? maps
                                                          : maps_none,
                                   a, cases[i].login, cases[i].f, cases[i].n, 1, &from, &reply);
        assert_int_equal(rc, cases[i].rc);
        if (cases[i].from)
            assert_string_equal(from, cases[i].from);
        else
            assert_null(from);
        if (cases[i].reply)
            assert_string_equal(reply, cases[i].reply);
        else
            assert_null(reply);
        free(reply);
        sg_arena_free(a);
    }
}

/* sender_display_names no: only the address itself is checked */
static void display_names_off(void **state)
{
    static const sg_header name_bob[] = {H("From", " \"bob@ourco.test\" <alice@ourco.test>")};
    sg_arena *a;
    char *reply = (char *)"unset";
    const char *from = NULL;
    (void)state;
    assert_int_equal(sg_arena_new(&a, 4096), 0);
    assert_int_equal(sg_sender_headers(maps, a, "alice@ourco.test", name_bob, 1, 0, &from, &reply),
                     0);
    assert_null(reply);
    assert_string_equal(from, "alice@ourco.test");
    sg_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inbound_table),     cmocka_unit_test(override_reasons),
        cmocka_unit_test(failsafe_answers),  cmocka_unit_test(refusals),
        cmocka_unit_test(mail_from),         cmocka_unit_test(header_fields),
        cmocka_unit_test(display_names_off),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
