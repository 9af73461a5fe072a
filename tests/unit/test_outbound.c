/* The outbound decision engine (issue 14): each signal trips on its
 * scenario and stays quiet on its benign neighbour, with every other
 * signal's weight at 0 so that the one under test decides alone; the
 * record's encoding (round trip, refusal of damaged bytes); block and
 * release; the policy directives; the replay event reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spoofguard/outbound.h>

#include "common/ob_event.h"
#include "outbound/ob.h"

#define T0 1767571200 /* a Monday, 00:00 UTC */
#define DAY 86400

static const char *const weights[] = {
    "weight_baseline_volume",     "weight_new_account_ramp", "weight_new_recipients",
    "weight_external_recipients", "weight_same_body",        "weight_ownership_refusals",
    "weight_new_network",         "weight_many_networks",    "weight_bounce_rate",
    "weight_internal_fanout",     "weight_limits",           "weight_domain_volume",
};

/* A policy where only `only` (a weight key, or NULL for none) counts. */
static sg_ob_policy *policy_only(const char *only)
{
    sg_ob_policy *p;
    assert_int_equal(sg_ob_policy_new(&p), SG_OK);
    for (size_t i = 0; i < sizeof(weights) / sizeof(weights[0]); i++)
        assert_int_equal(
            sg_ob_policy_set(p, NULL, weights[i], only && !strcmp(only, weights[i]) ? "1" : "0"),
            SG_OK);
    assert_int_equal(sg_ob_policy_add_internal_domain(p, "org.example"), SG_OK);
    return p;
}

static sg_ob_decision send(const sg_ob_policy *p, sg_ob_account *a, int64_t t, const char *ip,
                           const char *const *rcpts, size_t n, const char *body)
{
    sg_ob_message m = {t, "alice", ip, "alice@org.example", rcpts, n, 1000, NULL, 0};
    sg_ob_decision d;
    if (body != NULL) {
        m.body_hash = (const uint8_t *)body;
        m.body_hash_len = strlen(body);
    }
    assert_int_equal(sg_ob_decide(p, a, NULL, &m, &d), SG_OK);
    return d;
}

static sg_ob_decision send1(const sg_ob_policy *p, sg_ob_account *a, int64_t t, const char *rcpt)
{
    const char *r[1] = {rcpt};
    return send(p, a, t, "192.0.2.10", r, 1, NULL);
}

/* n distinct addresses "<prefix><i>@<domain>" */
static char **addrs(const char *prefix, const char *domain, size_t n)
{
    char **v = calloc(n, sizeof(*v));
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) {
        v[i] = malloc(128);
        assert_non_null(v[i]);
        snprintf(v[i], 128, "%s%zu@%s", prefix, i, domain);
    }
    return v;
}

static void addrs_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* An account past its learning period: 15 days of 8 messages on working
 * hours to a few known correspondents, from one network. */
static sg_ob_account *learned(const sg_ob_policy *p)
{
    sg_ob_account *a;
    static const char *const known[] = {"bob@partner.example", "carol@client.example",
                                        "dave@org.example", "erin@org.example"};
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    for (int day = 0; day < 15; day++)
        for (int i = 0; i < 8; i++) {
            sg_ob_decision d = send1(p, a, T0 + day * DAY + 9 * 3600 + i * 3000, known[i % 4]);
            assert_int_equal(d.action, SG_OB_ALLOW);
        }
    return a;
}

/* ---- hard limits ---- */

static void throttle_per_minute(void **state)
{
    sg_ob_policy *p = policy_only(NULL);
    sg_ob_account *a;
    sg_ob_decision d;
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    for (int i = 0; i < 30; i++)
        assert_int_equal(send1(p, a, T0 + i, "bob@partner.example").action, SG_OB_ALLOW);
    d = send1(p, a, T0 + 30, "bob@partner.example");
    assert_int_equal(d.action, SG_OB_THROTTLE);
    assert_int_equal(d.reasons, SG_OBR_MSG_MINUTE);
    /* throttled is not sent: it does not count, and a minute later the
     * client's retry goes */
    assert_int_equal(send1(p, a, T0 + 31, "bob@partner.example").action, SG_OB_THROTTLE);
    assert_int_equal(send1(p, a, T0 + 70, "bob@partner.example").action, SG_OB_ALLOW);
    sg_ob_account_free(a);
    sg_ob_policy_free(p);
}

static void recipients_per_message_blocks_and_release(void **state)
{
    sg_ob_policy *p = policy_only("weight_limits");
    sg_ob_account *a;
    sg_ob_decision d;
    char **r = addrs("x", "far.example", 501);
    int64_t since;
    uint32_t why;
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    d = send(p, a, T0, "192.0.2.1", (const char *const *)r, 500, NULL);
    assert_int_equal(d.action, SG_OB_ALLOW);
    d = send(p, a, T0 + 60, "192.0.2.1", (const char *const *)r, 501, NULL);
    assert_int_equal(d.action, SG_OB_BLOCK);
    assert_true(d.reasons & SG_OBR_RCPT_MESSAGE);
    assert_int_equal(d.tripped, 1);
    assert_true(sg_ob_account_blocked(a, &since, &why));
    assert_int_equal(since, T0 + 60);
    /* blocked: every later message is held, however small */
    d = send1(p, a, T0 + 120, "bob@partner.example");
    assert_int_equal(d.action, SG_OB_HOLD);
    assert_true(d.reasons & SG_OBR_BLOCKED);
    assert_int_equal(d.tripped, 0);
    sg_ob_account_release(a, T0 + 180);
    assert_false(sg_ob_account_blocked(a, NULL, NULL));
    d = send1(p, a, T0 + 181, "bob@partner.example");
    assert_int_equal(d.action, SG_OB_ALLOW);
    addrs_free(r, 501);
    sg_ob_account_free(a);
    sg_ob_policy_free(p);
}

static void new_account_ramp(void **state)
{
    sg_ob_policy *p = policy_only("weight_new_account_ramp");
    sg_ob_account *a, *b;
    char **r = addrs("x", "far.example", 50);
    sg_ob_decision d = {0};
    int i;
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    assert_int_equal(sg_ob_account_new(&b), SG_OK);
    /* 300 recipients in a day on day 1: under the ramp (500) */
    for (i = 0; i < 6; i++)
        assert_int_equal(
            send(p, a, T0 + i * 600, "192.0.2.1", (const char *const *)r, 50, NULL).action,
            SG_OB_ALLOW);
    /* 600: held before the end */
    for (i = 0; i < 12; i++) {
        d = send(p, b, T0 + i * 600, "192.0.2.1", (const char *const *)r, 50, NULL);
        if (d.action != SG_OB_ALLOW)
            break;
    }
    assert_true(i < 12);
    assert_true(d.reasons & SG_OBR_NEW_ACCOUNT);
    addrs_free(r, 50);
    sg_ob_account_free(a);
    sg_ob_account_free(b);
    sg_ob_policy_free(p);
}

/* ---- learned signals ---- */

static void new_recipients(void **state)
{
    sg_ob_policy *p = policy_only("weight_new_recipients");
    sg_ob_account *a = learned(p), *b = learned(p);
    char **r = addrs("v", "victim.example", 40);
    int64_t t = T0 + 16 * DAY + 10 * 3600;
    sg_ob_decision d = {0};
    int i;
    /* the neighbour: 40 messages in an hour to people written to before */
    for (i = 0; i < 40; i++)
        assert_int_equal(send1(p, a, t + i * 60, "bob@partner.example").action, SG_OB_ALLOW);
    /* the drip: one message a minute, each to someone new */
    for (i = 0; i < 40; i++) {
        d = send1(p, b, t + i * 60, r[i]);
        if (d.action != SG_OB_ALLOW)
            break;
    }
    assert_true(i <= 20);
    assert_true(d.reasons & SG_OBR_NEW_RCPT);
    addrs_free(r, 40);
    sg_ob_account_free(a);
    sg_ob_account_free(b);
    sg_ob_policy_free(p);
}

static void internal_fanout(void **state)
{
    sg_ob_policy *p = policy_only("weight_internal_fanout");
    sg_ob_account *a = learned(p), *b = learned(p);
    char **in = addrs("colleague", "org.example", 60), **out = addrs("x", "far.example", 60);
    int64_t t = T0 + 16 * DAY + 10 * 3600;
    sg_ob_decision d = {0};
    int i;
    /* external newcomers are not this signal's business */
    for (i = 0; i < 60; i += 5)
        assert_int_equal(
            send(p, a, t + i * 30, "192.0.2.10", (const char *const *)out + i, 5, NULL).action,
            SG_OB_ALLOW);
    for (i = 0; i < 60; i += 5) {
        d = send(p, b, t + i * 30, "192.0.2.10", (const char *const *)in + i, 5, NULL);
        if (d.action != SG_OB_ALLOW)
            break;
    }
    assert_true(i <= 20);
    assert_true(d.reasons & SG_OBR_INTERNAL_FANOUT);
    addrs_free(in, 60);
    addrs_free(out, 60);
    sg_ob_account_free(a);
    sg_ob_account_free(b);
    sg_ob_policy_free(p);
}

/* user%elsewhere@ and elsewhere!user@ at an internal domain are relayed
 * on by MTAs honouring the percent hack or bang paths: external, so
 * alternating both forms no longer hides external recipients. So is
 * "user@elsewhere"@ (Postfix resolve_dequoted_address, adv28 OB-2), any
 * quoted '@', '%' or '!', and a source route: internal is only a plain
 * dot-atom or quoted string. */
static void percent_hack_is_external(void **state)
{
    static const struct {
        const char *addr;
        int internal;
    } cases[] = {
        {"colleague@org.example", 1},
        {"Colleague@Sub.Org.Example", 1},
        {"victim%far.example@org.example", 0},
        {"far.example!victim@org.example", 0},
        {"a%b@far.example", 0},
        {"x@far.example", 0},
        {"odd@org.example%far.example", 0}, /* not a domain of ours */
        {"\"v1@far.example\"@org.example", 0},
        {"\"V1@far.example\"@Org.Example", 0},
        {"\"v1%far.example\"@org.example", 0},
        {"\"far.example!v1\"@org.example", 0},
        {"\"v1\\@far.example\"@org.example", 0},
        {"@relay.example:v1@org.example", 0},
        {"@org.example:v1@org.example", 0},
        {"\"colleague\"@org.example", 1},
        {"\"first last\"@org.example", 1},
        {"first.last+tag@org.example", 1},
        {"first..last@org.example", 0},
        {".first@org.example", 0},
        {"first last@org.example", 0},
        {"\"open@org.example", 0},
        {"@org.example", 0},
    };
    sg_ob_policy *p = policy_only(NULL);
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (sg_ob_policy_internal(p, cases[i].addr, NULL) != cases[i].internal)
            fail_msg("%s: internal %d", cases[i].addr, !cases[i].internal);
    sg_ob_policy_free(p);
}

static void baseline_volume(void **state)
{
    sg_ob_policy *p = policy_only("weight_baseline_volume");
    sg_ob_account *a = learned(p), *b = learned(p);
    char **r = addrs("bob", "partner.example", 10);
    int64_t t = T0 + 16 * DAY + 10 * 3600;
    sg_ob_decision d = {0};
    int i;
    /* 30 recipients in an hour is within the floor (40) */
    for (i = 0; i < 3; i++)
        assert_int_equal(
            send(p, a, t + i * 600, "192.0.2.10", (const char *const *)r, 10, NULL).action,
            SG_OB_ALLOW);
    for (i = 0; i < 20; i++) {
        d = send(p, b, t + i * 120, "192.0.2.10", (const char *const *)r, 10, NULL);
        if (d.action != SG_OB_ALLOW)
            break;
    }
    assert_true(i < 20);
    assert_true(d.reasons & SG_OBR_BASELINE);
    addrs_free(r, 10);
    sg_ob_account_free(a);
    sg_ob_account_free(b);
    sg_ob_policy_free(p);
}

static void same_body(void **state)
{
    sg_ob_policy *p = policy_only("weight_same_body");
    sg_ob_account *a, *b;
    char **r = addrs("x", "far.example", 10);
    char body[32];
    sg_ob_decision d = {0};
    int i;
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    assert_int_equal(sg_ob_account_new(&b), SG_OK);
    for (i = 0; i < 8; i++) {
        snprintf(body, sizeof(body), "body-%d", i);
        assert_int_equal(
            send(p, a, T0 + i * 60, "192.0.2.1", (const char *const *)r, 10, body).action,
            SG_OB_ALLOW);
    }
    for (i = 0; i < 8; i++) {
        d = send(p, b, T0 + i * 60, "192.0.2.1", (const char *const *)r, 10, "same");
        if (d.action != SG_OB_ALLOW)
            break;
    }
    assert_true(i < 5);
    assert_true(d.reasons & SG_OBR_SAME_BODY);
    addrs_free(r, 10);
    sg_ob_account_free(a);
    sg_ob_account_free(b);
    sg_ob_policy_free(p);
}

static void ownership_refusals(void **state)
{
    sg_ob_policy *p = policy_only("weight_ownership_refusals");
    sg_ob_account *a, *b;
    sg_ob_decision d;
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    assert_int_equal(sg_ob_account_new(&b), SG_OK);
    sg_ob_note_refusal(p, a, T0);
    assert_int_equal(send1(p, a, T0 + 10, "bob@partner.example").action, SG_OB_ALLOW);
    for (int i = 0; i < 3; i++)
        sg_ob_note_refusal(p, b, T0 + i);
    d = send1(p, b, T0 + 10, "bob@partner.example");
    assert_int_equal(d.action, SG_OB_HOLD);
    assert_int_equal(d.reasons, SG_OBR_OWNERSHIP);
    /* an hour later the refusals have left the window */
    assert_int_equal(send1(p, b, T0 + 3700, "bob@partner.example").action, SG_OB_ALLOW);
    sg_ob_account_free(a);
    sg_ob_account_free(b);
    sg_ob_policy_free(p);
}

static void many_networks(void **state)
{
    sg_ob_policy *p = policy_only("weight_many_networks");
    sg_ob_account *a, *b;
    const char *r[1] = {"bob@partner.example"};
    char ip[64];
    sg_ob_decision d = {0};
    int i;
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    assert_int_equal(sg_ob_account_new(&b), SG_OK);
    /* 30 addresses of one /24, and 30 of one IPv6 /48: two networks */
    for (i = 0; i < 30; i++) {
        snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
        assert_int_equal(send(p, a, T0 + i * 600, ip, r, 1, NULL).action, SG_OB_ALLOW);
        snprintf(ip, sizeof(ip), "2001:db8:1:%x::1", i);
        assert_int_equal(send(p, a, T0 + i * 600 + 1, ip, r, 1, NULL).action, SG_OB_ALLOW);
    }
    /* a botnet: a new /24 each time */
    for (i = 0; i < 30; i++) {
        snprintf(ip, sizeof(ip), "203.0.%d.7", i);
        d = send(p, b, T0 + i * 600, ip, r, 1, NULL);
        if (d.action != SG_OB_ALLOW)
            break;
    }
    assert_true(i >= 5 && i <= 10);
    assert_true(d.reasons & SG_OBR_NETWORKS);
    sg_ob_account_free(a);
    sg_ob_account_free(b);
    sg_ob_policy_free(p);
}

static void new_network_scores_alone_below_hold(void **state)
{
    sg_ob_policy *p = policy_only("weight_new_network");
    sg_ob_account *a = learned(p);
    const char *r[1] = {"bob@partner.example"};
    sg_ob_decision d;
    assert_int_equal(sg_ob_policy_set(p, NULL, "weight_new_network", "0.25"), SG_OK);
    d = send(p, a, T0 + 16 * DAY, "192.0.2.99", r, 1, NULL); /* the known /24 */
    assert_true(d.score == 0);
    d = send(p, a, T0 + 16 * DAY + 60, "203.0.113.5", r, 1, NULL);
    assert_int_equal(d.action, SG_OB_ALLOW);
    assert_true(d.score > 0.24 && d.score < 0.26);
    sg_ob_account_free(a);
    sg_ob_policy_free(p);
}

static void bounce_rate(void **state)
{
    sg_ob_policy *p = policy_only("weight_bounce_rate");
    sg_ob_account *a, *b;
    char **r = addrs("x", "far.example", 100);
    sg_ob_decision d;
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    assert_int_equal(sg_ob_account_new(&b), SG_OK);
    assert_int_equal(send(p, a, T0, "192.0.2.1", (const char *const *)r, 100, NULL).action,
                     SG_OB_ALLOW);
    assert_int_equal(send(p, b, T0, "192.0.2.1", (const char *const *)r, 100, NULL).action,
                     SG_OB_ALLOW);
    /* 9% hard, and any number of transient failures: not blocked */
    for (int i = 0; i < 9; i++) {
        assert_int_equal(sg_ob_note_dsn(p, a, T0 + 60 + i, "5.1.1", &d), SG_OK);
        assert_int_equal(d.action, SG_OB_ALLOW);
        assert_int_equal(sg_ob_note_dsn(p, b, T0 + 60 + i, "5.1.1", &d), SG_OK);
    }
    for (int i = 0; i < 20; i++)
        assert_int_equal(sg_ob_note_dsn(p, a, T0 + 100 + i, "4.2.2", &d), SG_OK);
    assert_false(sg_ob_account_blocked(a, NULL, NULL));
    /* the tenth hard bounce: 10% */
    assert_int_equal(sg_ob_note_dsn(p, b, T0 + 200, "5.1.1", &d), SG_OK);
    assert_int_equal(d.action, SG_OB_BLOCK);
    assert_int_equal(d.reasons, SG_OBR_BOUNCES);
    assert_int_equal(d.tripped, 1);
    assert_true(sg_ob_account_blocked(b, NULL, NULL));
    addrs_free(r, 100);
    sg_ob_account_free(a);
    sg_ob_account_free(b);
    sg_ob_policy_free(p);
}

static void bounce_needs_a_sample(void **state)
{
    sg_ob_policy *p = policy_only("weight_bounce_rate");
    sg_ob_account *a;
    sg_ob_decision d;
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    for (int i = 0; i < 10; i++)
        assert_int_equal(send1(p, a, T0 + i * 60, "bob@partner.example").action, SG_OB_ALLOW);
    /* 3 of 10 bounced, but 10 recipients are no sample (minimum 50) */
    for (int i = 0; i < 3; i++)
        assert_int_equal(sg_ob_note_dsn(p, a, T0 + 900 + i, "5.1.1", &d), SG_OK);
    assert_false(sg_ob_account_blocked(a, NULL, NULL));
    sg_ob_account_free(a);
    sg_ob_policy_free(p);
}

/* A reporting domain of its own for each i: one domain counts at most 2
 * failed recipients of an account a day. */
static const char *reporter(int i)
{
    static char buf[4][32];
    char *b = buf[i & 3];
    snprintf(b, sizeof(buf[0]), "r%d.example", i);
    return b;
}

/* A report from outside counts only for a recipient the account sent to:
 * a domain of the sender's choosing, authenticated or not, must not be
 * able to push an account over the bounce rate with made-up recipients. */
static void bounce_from_outside_needs_a_sent_recipient(void **state)
{
    sg_ob_policy *p = policy_only("weight_bounce_rate");
    sg_ob_account *a;
    char **r = addrs("x", "far.example", 100);
    sg_ob_decision d;
    int counted;
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    assert_int_equal(send(p, a, T0, "192.0.2.1", (const char *const *)r, 100, NULL).action,
                     SG_OB_ALLOW);
    /* 30 made-up recipients (30 %): none counts, no block */
    for (int i = 0; i < 30; i++) {
        char other[64];
        snprintf(other, sizeof(other), "made-up%d@far.example", i);
        const char *rc[2] = {other, ""};
        assert_int_equal(
            sg_ob_note_dsn_sent(p, a, T0 + 60 + i, "5.1.1", reporter(i), NULL, rc, 2, &counted, &d),
            SG_OK);
        assert_int_equal(counted, 0);
        assert_int_equal(d.action, SG_OB_ALLOW);
    }
    /* no address at all: not counted either */
    assert_int_equal(
        sg_ob_note_dsn_sent(p, a, T0 + 100, "5.1.1", "far.example", NULL, NULL, 0, &counted, &d),
        SG_OK);
    assert_int_equal(counted, 0);
    assert_false(sg_ob_account_blocked(a, NULL, NULL));
    /* a transient failure of a real recipient: judged, not a hard bounce */
    const char *real[2] = {"", r[0]};
    assert_int_equal(
        sg_ob_note_dsn_sent(p, a, T0 + 110, "4.4.1", "far.example", NULL, real, 2, &counted, &d),
        SG_OK);
    assert_int_equal(counted, 0);
    /* real recipients, found by either address (case folded), up to 10 %:
     * the tenth blocks */
    for (int i = 0; i < 10; i++) {
        char up[64];
        snprintf(up, sizeof(up), "%s", r[i]);
        for (char *c = up; *c; c++)
            *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
        const char *rc[2] = {i % 2 ? up : "made-up@far.example", i % 2 ? "" : r[i]};
        assert_int_equal(sg_ob_note_dsn_sent(p, a, T0 + 120 + i, "5.1.1", reporter(i), NULL, rc, 2,
                                             &counted, &d),
                         SG_OK);
        assert_int_equal(counted, 1);
        assert_int_equal(d.action, i < 9 ? SG_OB_ALLOW : SG_OB_BLOCK);
    }
    assert_true(sg_ob_account_blocked(a, NULL, NULL));
    assert_int_equal(
        sg_ob_note_dsn_sent(p, a, T0, "5.1.1", "far.example", NULL, NULL, 1, NULL, NULL),
        SG_EINVAL);
    addrs_free(r, 100);
    sg_ob_account_free(a);
    sg_ob_policy_free(p);
}

/* One failed recipient counts once a day, however many reports name it:
 * anyone the account wrote to can send authentic reports about his own
 * address, and each used to be one more hard bounce until the account
 * was blocked. Either of its addresses, any case, a report dated back;
 * the memory survives the record's encoding and a merge, and forgets
 * the oldest of more than 64 addresses. */
static void bounce_from_outside_counts_once_a_day(void **state)
{
    sg_ob_policy *p = policy_only("weight_bounce_rate");
    sg_ob_account *a, *b;
    char **r = addrs("x", "far.example", 100);
    sg_ob_decision d;
    int counted;
    uint8_t *buf = malloc(SG_OB_ACCOUNT_MAX);
    size_t len;
    char up[64];
    assert_non_null(buf);
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    assert_int_equal(sg_ob_account_new(&b), SG_OK);
    assert_int_equal(send(p, a, T0, "192.0.2.1", (const char *const *)r, 100, NULL).action,
                     SG_OB_ALLOW);
    assert_int_equal(send(p, b, T0, "192.0.2.1", (const char *const *)r, 100, NULL).action,
                     SG_OB_ALLOW);
    /* 1. one recipient, 50 reports: the first counts */
    for (int i = 0; i < 50; i++) {
        const char *rc[2] = {r[0], ""};
        assert_int_equal(sg_ob_note_dsn_sent(p, a, T0 + 60 + i, "5.1.1", "far.example", NULL, rc, 2,
                                             &counted, &d),
                         SG_OK);
        assert_int_equal(counted, i == 0);
        assert_int_equal(d.action, SG_OB_ALLOW);
    }
    /* 2. the same by its other address in capitals, and dated an hour back */
    snprintf(up, sizeof(up), "X0@FAR.EXAMPLE");
    {
        const char *rc[2] = {"made-up@far.example", up};
        assert_int_equal(
            sg_ob_note_dsn_sent(p, a, T0 + 200, "5.1.1", "far.example", NULL, rc, 2, &counted, &d),
            SG_OK);
        assert_int_equal(counted, 0);
        rc[1] = r[0];
        assert_int_equal(
            sg_ob_note_dsn_sent(p, a, T0 - 3600, "5.2.2", "far.example", NULL, rc, 2, &counted, &d),
            SG_OK);
        assert_int_equal(counted, 0);
    }
    /* 3. the memory is in the record */
    assert_int_equal(sg_ob_account_encode(a, buf, SG_OB_ACCOUNT_MAX, &len), SG_OK);
    assert_int_equal(sg_ob_account_decode(b, buf, len), SG_OK);
    {
        const char *rc[1] = {r[0]};
        assert_int_equal(
            sg_ob_note_dsn_sent(p, b, T0 + 300, "5.1.1", "far.example", NULL, rc, 1, &counted, &d),
            SG_OK);
        assert_int_equal(counted, 0);
    }
    /* 4. nine other recipients, twice each: each counts once, and the
     * tenth hard bounce of 100 recipients (10 %) blocks */
    for (int i = 1; i < 10; i++)
        for (int rep = 0; rep < 2; rep++) {
            const char *rc[2] = {r[i], NULL};
            assert_int_equal(sg_ob_note_dsn_sent(p, a, T0 + 400 + 10 * i + rep, "5.1.1",
                                                 reporter(i), NULL, rc, 2, &counted, &d),
                             SG_OK);
            assert_int_equal(counted, rep == 0);
            assert_int_equal(d.action, i == 9 && rep == 0 ? SG_OB_BLOCK : SG_OB_ALLOW);
        }
    assert_true(sg_ob_account_blocked(a, NULL, NULL));
    /* 5. a day after it counted, the recipient counts again */
    {
        const char *rc[1] = {r[0]};
        assert_int_equal(sg_ob_note_dsn_sent(p, a, T0 + 60 + DAY - 1, "5.1.1", "far.example", NULL,
                                             rc, 1, &counted, &d),
                         SG_OK);
        assert_int_equal(counted, 0);
        assert_int_equal(sg_ob_note_dsn_sent(p, a, T0 + 60 + DAY, "5.1.1", "far.example", NULL, rc,
                                             1, &counted, &d),
                         SG_OK);
        assert_int_equal(counted, 1);
    }
    /* 6. merged: what one side counted, the other does not count again
     * (b keyed as a: a copy of the same record, as two hosts hold) */
    sg_ob_account_free(b);
    assert_int_equal(sg_ob_account_new(&b), SG_OK);
    memcpy(b->hkey, a->hkey, sizeof(b->hkey));
    assert_int_equal(send(p, b, T0, "192.0.2.1", (const char *const *)r, 100, NULL).action,
                     SG_OB_ALLOW);
    assert_int_equal(sg_ob_account_merge(b, a), SG_OK);
    {
        const char *rc[1] = {r[5]};
        assert_int_equal(
            sg_ob_note_dsn_sent(p, b, T0 + 500, "5.1.1", "far.example", NULL, rc, 1, &counted, &d),
            SG_OK);
        assert_int_equal(counted, 0);
    }
    /* 7. 65 recipients: the first is forgotten, the last is not */
    sg_ob_account_free(a);
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    assert_int_equal(send(p, a, T0, "192.0.2.1", (const char *const *)r, 100, NULL).action,
                     SG_OB_ALLOW);
    for (int i = 0; i < 65; i++) {
        const char *rc[1] = {r[i]};
        assert_int_equal(
            sg_ob_note_dsn_sent(p, a, T0 + 60 + i, "5.1.1", reporter(i), NULL, rc, 1, &counted, &d),
            SG_OK);
        assert_int_equal(counted, 1);
    }
    {
        const char *rc[1] = {r[64]};
        assert_int_equal(
            sg_ob_note_dsn_sent(p, a, T0 + 200, "5.1.1", "far.example", NULL, rc, 1, &counted, &d),
            SG_OK);
        assert_int_equal(counted, 0);
        rc[0] = r[0];
        assert_int_equal(
            sg_ob_note_dsn_sent(p, a, T0 + 201, "5.1.1", reporter(100), NULL, rc, 1, &counted, &d),
            SG_OK);
        assert_int_equal(counted, 1);
    }
    free(buf);
    addrs_free(r, 100);
    sg_ob_account_free(a);
    sg_ob_account_free(b);
    sg_ob_policy_free(p);
}

/* adv28 OB-1: the recipient history is keyed. Under the unkeyed hash
 * (FNV-1a, 25 bits picking the probes) these addresses had exactly the
 * Bloom bits of mallory@attacker.example (found by the probe's
 * bloomcollide.c in 0.2 s each), and one report naming them blocked an
 * account that had written to mallory once. Each report here comes from
 * a reporter of its own, so that only the hash stands in the way. */
static void history_is_keyed(void **state)
{
    static const char *const twins[] = {
        "nx0062cf5b@attacker.example", "nx01a930d0@attacker.example", "nx0244dfea@attacker.example",
        "nx0357579f@attacker.example", "nx0368fcb8@attacker.example", "nx0417c0d3@attacker.example",
        "nx07bf115d@attacker.example", "nx0986bfb3@attacker.example",
    };
    sg_ob_policy *p = policy_only("weight_bounce_rate");
    sg_ob_account *a, *b;
    char **r = addrs("p", "partner.example", 61);
    sg_ob_decision d;
    int counted, n = 0;
    (void)state;
    /* HMAC-SHA256, key 00..0f, message 00..0e, its first 8 bytes as a
     * little-endian word: Python's hmac says 0xd46d3bc50934b727 */
    {
        const uint64_t k[2] = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
        char msg[15];
        uint64_t h = 0, hf = 1;
        for (int i = 0; i < 15; i++)
            msg[i] = (char)i;
        assert_int_equal(sg_ob_keyed_hash(k, msg, sizeof(msg), 0, &h), SG_OK);
        assert_true(h == 0xd46d3bc50934b727ull);
        /* folding: "Bob@X" hashes as "bob@x" */
        assert_int_equal(sg_ob_keyed_hash(k, "Bob@X", 5, 1, &h), SG_OK);
        assert_int_equal(sg_ob_keyed_hash(k, "bob@x", 5, 0, &hf), SG_OK);
        assert_true(h == hf);
    }
    free(r[60]);
    r[60] = strdup("mallory@attacker.example");
    assert_non_null(r[60]);
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    assert_int_equal(sg_ob_account_new(&b), SG_OK);
    for (int k = 0; k < 61; k += 10) {
        size_t m = k + 10 <= 61 ? 10 : 1;
        assert_int_equal(
            send(p, a, T0 + k, "192.0.2.1", (const char *const *)&r[k], m, NULL).action,
            SG_OB_ALLOW);
        assert_int_equal(
            send(p, b, T0 + k, "192.0.2.1", (const char *const *)&r[k], m, NULL).action,
            SG_OB_ALLOW);
    }
    for (size_t i = 0; i < sizeof(twins) / sizeof(twins[0]); i++) {
        const char *rc[2] = {twins[i], ""};
        assert_false(sg_ob_bloom_has(a, twins[i], 0, NULL));
        assert_int_equal(sg_ob_note_dsn_sent(p, a, T0 + 100 + (int64_t)i, "5.1.1", reporter((int)i),
                                             NULL, rc, 2, &counted, &d),
                         SG_OK);
        n += counted;
    }
    assert_int_equal(n, 0);
    assert_false(sg_ob_account_blocked(a, NULL, NULL));
    /* the real address still counts */
    {
        const char *rc[2] = {"Mallory@Attacker.example", ""};
        assert_int_equal(sg_ob_note_dsn_sent(p, a, T0 + 200, "5.1.1", "attacker.example", NULL, rc,
                                             2, &counted, &d),
                         SG_OK);
        assert_int_equal(counted, 1);
    }
    /* two records, two keys: the same recipients set other bits */
    assert_true(a->hkey[0] != b->hkey[0] || a->hkey[1] != b->hkey[1]);
    assert_true(memcmp(a->bloom, b->bloom, sizeof(a->bloom)) != 0);
    for (int i = 0; i < 61; i++)
        assert_true(sg_ob_bloom_has(a, r[i], 1, NULL) && sg_ob_bloom_has(b, r[i], 1, NULL));
    addrs_free(r, 61);
    sg_ob_account_free(a);
    sg_ob_account_free(b);
    sg_ob_policy_free(p);
}

/* adv28 OB-1: one reporting domain adds at most 2 bounces a day to one
 * account, whatever it reports, even about recipients the account did
 * write to; a day later it may add 2 more. Other reporters are not
 * held back: a bounce storm from many domains still blocks. */
/* An outsider with domains of his own reports colleagues of the account as
 * failed: their addresses are on any company page, and mail between them
 * does not fail at another organisation's server (rev21 R-1). The policy's
 * internal domains, or without them the domain the report came to. */
static void bounce_internal_never_counts(void **state)
{
    (void)state;
    for (int listed = 0; listed < 2; listed++) {
        sg_ob_policy *p;
        sg_ob_account *a;
        sg_ob_decision d;
        int counted, n = 0;
        char **coll = addrs("c", "corp.example", 6), **part = addrs("p", "partner.example", 54);
        assert_int_equal(sg_ob_policy_new(&p), SG_OK);
        if (listed)
            assert_int_equal(sg_ob_policy_add_internal_domain(p, "corp.example"), SG_OK);
        assert_int_equal(sg_ob_account_new(&a), SG_OK);
        sg_ob_message m = {
            T0,   "bob", "192.0.2.7", "bob@corp.example", (const char *const *)part, 54, 2000,
            NULL, 0};
        assert_int_equal(sg_ob_decide(p, a, NULL, &m, &d), SG_OK);
        m.t += 60;
        m.rcpts = (const char *const *)coll;
        m.nrcpts = 6;
        assert_int_equal(sg_ob_decide(p, a, NULL, &m, &d), SG_OK);
        const char *rep[3] = {"evil1.example", "evil2.example", "evil3.example"};
        for (int i = 0; i < 6; i++) {
            const char *rc[2] = {coll[i], ""};
            assert_int_equal(sg_ob_note_dsn_sent(p, a, T0 + 600 + i, "5.1.1", rep[i / 2],
                                                 listed ? NULL : "corp.example", rc, 2, &counted,
                                                 &d),
                             SG_OK);
            n += counted;
        }
        if (n != 0 || sg_ob_account_blocked(a, NULL, NULL))
            fail_msg("internal list %d: %d colleagues counted, blocked %d", listed, n,
                     sg_ob_account_blocked(a, NULL, NULL));
        /* a partner's failure from its own domain still counts */
        const char *rc[2] = {part[0], ""};
        assert_int_equal(sg_ob_note_dsn_sent(p, a, T0 + 700, "5.1.1", "partner.example",
                                             listed ? NULL : "corp.example", rc, 2, &counted, &d),
                         SG_OK);
        assert_int_equal(counted, 1);
        addrs_free(coll, 6);
        addrs_free(part, 54);
        sg_ob_account_free(a);
        sg_ob_policy_free(p);
    }
}

static void bounce_one_reporter_counts_two_a_day(void **state)
{
    sg_ob_policy *p = policy_only("weight_bounce_rate");
    sg_ob_account *a;
    char **r = addrs("x", "far.example", 100);
    sg_ob_decision d;
    int counted, n = 0;
    (void)state;
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    assert_int_equal(send(p, a, T0, "192.0.2.1", (const char *const *)r, 100, NULL).action,
                     SG_OB_ALLOW);
    /* 30 real recipients (30 %) from far.example, in any case */
    for (int i = 0; i < 30; i++) {
        const char *rc[2] = {r[i], ""};
        assert_int_equal(sg_ob_note_dsn_sent(p, a, T0 + 60 + i, "5.1.1",
                                             i % 2 ? "FAR.example" : "far.example", NULL, rc, 2,
                                             &counted, &d),
                         SG_OK);
        n += counted;
    }
    assert_int_equal(n, 2);
    assert_false(sg_ob_account_blocked(a, NULL, NULL));
    /* no reporter named is one reporter too */
    n = 0;
    for (int i = 30; i < 40; i++) {
        const char *rc[2] = {r[i], ""};
        assert_int_equal(sg_ob_note_dsn_sent(p, a, T0 + 60 + i, "5.1.1", i % 2 ? NULL : "", NULL,
                                             rc, 2, &counted, &d),
                         SG_OK);
        n += counted;
    }
    assert_int_equal(n, 2);
    /* a day after the first, far.example counts again, 2 more */
    n = 0;
    for (int i = 40; i < 50; i++) {
        const char *rc[2] = {r[i], ""};
        assert_int_equal(sg_ob_note_dsn_sent(p, a, T0 + 60 + DAY + 29, "5.1.1", "far.example", NULL,
                                             rc, 2, &counted, &d),
                         SG_OK);
        n += counted;
    }
    assert_int_equal(n, 2);
    assert_false(sg_ob_account_blocked(a, NULL, NULL));
    /* the storm: 6 more reporters, one bounce each, on top of the 4
     * counted in the last day: the tenth bounce of 100 recipients blocks */
    sg_ob_account_free(a);
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    assert_int_equal(send(p, a, T0, "192.0.2.1", (const char *const *)r, 100, NULL).action,
                     SG_OB_ALLOW);
    for (int i = 0; i < 10; i++) {
        const char *rc[2] = {r[i], ""};
        assert_int_equal(sg_ob_note_dsn_sent(p, a, T0 + 60 + i, "5.1.1", reporter(i / 2), NULL, rc,
                                             2, &counted, &d),
                         SG_OK);
        assert_int_equal(counted, 1);
        assert_int_equal(d.action, i < 9 ? SG_OB_ALLOW : SG_OB_BLOCK);
    }
    addrs_free(r, 100);
    sg_ob_account_free(a);
    sg_ob_policy_free(p);
}

/* A record from before the keyed history (version 3 and older): its
 * history still tells first-time recipients (forgetting it would hold an
 * innocent's ordinary mail for a day), but is no proof for a report from
 * outside; a recipient written to again joins the keyed history. */
static void old_history_is_no_evidence(void **state)
{
    sg_ob_policy *p = policy_only("weight_bounce_rate");
    sg_ob_account *a, *b;
    uint8_t *buf = malloc(SG_OB_ACCOUNT_MAX);
    size_t len;
    sg_ob_decision d;
    int counted;
    (void)state;
    assert_non_null(buf);
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    assert_int_equal(sg_ob_account_new(&b), SG_OK);
    /* what the unkeyed history held: bits at FNV-1a's probes */
    a->created = T0;
    a->bloom_n[0] = 100;
    for (int i = 0; i < 100; i++) {
        char addr[64];
        snprintf(addr, sizeof(addr), "x%d@far.example", i);
        uint64_t h = sg_ob_hash(addr, strlen(addr), 1);
        uint32_t h1 = (uint32_t)h, h2 = (uint32_t)(h >> 32) | 1;
        for (uint32_t k = 0; k < OB_BLOOM_K; k++) {
            uint32_t bit = (h1 + k * h2) % (OB_BLOOM_WORDS * 64);
            a->bloom[0][bit / 64] |= 1ull << (bit % 64);
        }
    }
    sg_ob_ring_add(a, F_RCPT, T0, 100);
    assert_int_equal(sg_ob_account_encode_old(a, 3, buf, SG_OB_ACCOUNT_MAX, &len), SG_OK);
    assert_int_equal(sg_ob_account_decode(b, buf, len), SG_OK);
    assert_true(sg_ob_bloom_has(b, "X1@far.example", 0, NULL));
    assert_false(sg_ob_bloom_has(b, "x1@far.example", 1, NULL));
    assert_false(sg_ob_bloom_has(b, "nobody@far.example", 0, NULL));
    for (int i = 0; i < 10; i++) {
        char addr[64];
        snprintf(addr, sizeof(addr), "x%d@far.example", i);
        const char *rc[2] = {addr, ""};
        assert_int_equal(
            sg_ob_note_dsn_sent(p, b, T0 + 60 + i, "5.1.1", reporter(i), NULL, rc, 2, &counted, &d),
            SG_OK);
        assert_int_equal(counted, 0);
    }
    /* written to again: known (not first-time), and now evidence */
    {
        const char *rc[1] = {"x1@far.example"};
        sg_ob_message m = {T0 + 3600, "a", "192.0.2.1", "a@org.example", rc, 1, 100, NULL, 0};
        assert_int_equal(sg_ob_decide(p, b, NULL, &m, &d), SG_OK);
        assert_int_equal(sg_ob_ring_sum(b, W_DAY, F_NEW, T0 + 3600), 0);
        assert_true(sg_ob_bloom_has(b, "x1@far.example", 1, NULL));
        assert_int_equal(
            sg_ob_note_dsn_sent(p, b, T0 + 3700, "5.1.1", "far.example", NULL, rc, 1, &counted, &d),
            SG_OK);
        assert_int_equal(counted, 1);
    }
    /* the old generations go as the keyed history fills */
    assert_true(b->bloom_legacy != 0 && b->bloom_legacy != 3);
    free(buf);
    sg_ob_account_free(a);
    sg_ob_account_free(b);
    sg_ob_policy_free(p);
}

static void holds_in_an_hour_block(void **state)
{
    sg_ob_policy *p = policy_only("weight_ownership_refusals");
    sg_ob_account *a;
    sg_ob_decision d;
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    for (int i = 0; i < 3; i++)
        sg_ob_note_refusal(p, a, T0 + i);
    assert_int_equal(send1(p, a, T0 + 10, "bob@partner.example").action, SG_OB_HOLD);
    assert_int_equal(send1(p, a, T0 + 20, "bob@partner.example").action, SG_OB_HOLD);
    d = send1(p, a, T0 + 30, "bob@partner.example");
    assert_int_equal(d.action, SG_OB_BLOCK);
    assert_int_equal(d.tripped, 1);
    sg_ob_account_free(a);
    sg_ob_policy_free(p);
}

static void domain_volume(void **state)
{
    sg_ob_policy *p = policy_only("weight_domain_volume");
    sg_ob_account *dom, *acct[10];
    sg_ob_decision d = {0};
    const char *r[1] = {"bob@partner.example"};
    int i;
    char login[16];
    assert_int_equal(sg_ob_policy_directive(p, "outbound_limit", "domain_messages_per_day 20"),
                     SG_OK);
    assert_int_equal(sg_ob_account_new(&dom), SG_OK);
    for (i = 0; i < 10; i++)
        assert_int_equal(sg_ob_account_new(&acct[i]), SG_OK);
    /* ten accounts of one domain, each quiet, together too loud */
    for (i = 0; i < 40; i++) {
        sg_ob_message m = {T0 + i * 60, login, "192.0.2.1", "x@org.example", r, 1, 10, NULL, 0};
        snprintf(login, sizeof(login), "u%d", i % 10);
        assert_int_equal(sg_ob_decide(p, acct[i % 10], dom, &m, &d), SG_OK);
        if (d.action != SG_OB_ALLOW)
            break;
    }
    assert_true(i > 10 && i <= 20);
    assert_true(d.reasons & SG_OBR_DOMAIN);
    for (i = 0; i < 10; i++)
        sg_ob_account_free(acct[i]);
    sg_ob_account_free(dom);
    sg_ob_policy_free(p);
}

/* ---- the record ---- */

/* Records written before packing (version 1) and before the bounce
 * memory (version 2) are still read, to the same account; the packed form decodes back to the same
 * bytes whatever the fill: an empty account, a learned one, one whose recipient history is full
 * (its Bloom bits dense), and zero runs at every length around the token's 128. */
static void packed_and_plain_records(void **state)
{
    sg_ob_policy *p = policy_only(NULL);
    sg_ob_account *acc[3], *b;
    uint8_t *buf = malloc(SG_OB_ACCOUNT_MAX), *buf2 = malloc(SG_OB_ACCOUNT_MAX);
    size_t len, len2, old_len = 0;
    char *j1, *j2;
    char **r = addrs("h", "far.example", 600);
    assert_int_equal(sg_ob_account_new(&acc[0]), SG_OK);
    acc[1] = learned(p);
    acc[2] = learned(p);
    for (int i = 0; i < 600; i++)
        (void)send1(p, acc[2], T0 + 15 * DAY + i * 120, r[i]);
    assert_int_equal(sg_ob_account_new(&b), SG_OK);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(sg_ob_account_encode(acc[k], buf, SG_OB_ACCOUNT_MAX, &len), SG_OK);
        assert_int_equal(sg_ob_account_decode(b, buf, len), SG_OK);
        assert_int_equal(sg_ob_account_encode(b, buf2, SG_OB_ACCOUNT_MAX, &len2), SG_OK);
        assert_int_equal(len, len2);
        assert_memory_equal(buf, buf2, len);
        /* what an older record reads back as: its history kept, but as
         * unkeyed generations, and no key yet */
        sg_ob_account *up;
        assert_int_equal(sg_ob_account_new(&up), SG_OK);
        *up = *acc[k];
        memset(up->hkey, 0, sizeof(up->hkey));
        up->bloom_legacy = 3;
        assert_int_equal(sg_ob_account_encode(up, buf, SG_OB_ACCOUNT_MAX, &len), SG_OK);
        sg_ob_account_free(up);
        for (unsigned v = 1; v <= 3; v++) {
            assert_int_equal(sg_ob_account_encode_old(acc[k], v, buf2, SG_OB_ACCOUNT_MAX, &old_len),
                             SG_OK);
            if (v == 1) {
                assert_int_equal(old_len, 6404);
                assert_true(len < old_len);
            }
            assert_int_equal(sg_ob_account_decode(b, buf2, old_len), SG_OK);
            assert_int_equal(sg_ob_account_json(p, acc[k], T0 + 20 * DAY, &j1), SG_OK);
            assert_int_equal(sg_ob_account_json(p, b, T0 + 20 * DAY, &j2), SG_OK);
            assert_string_equal(j1, j2);
            free(j1);
            free(j2);
            /* the old record re-encodes as the current version, to the same bytes */
            assert_int_equal(sg_ob_account_encode(b, buf2, SG_OB_ACCOUNT_MAX, &len2), SG_OK);
            assert_int_equal(len, len2);
            assert_memory_equal(buf, buf2, len);
        }
        /* a packed body that unpacks one byte short or long is refused */
        assert_int_equal(sg_ob_account_decode(b, buf, len - 1), SG_ESYNTAX);
        assert_int_equal(sg_ob_account_encode_old(acc[k], 4, buf2, SG_OB_ACCOUNT_MAX, &old_len),
                         SG_EINVAL);
    }
    /* zero runs of 1..300 bytes between non-zero ones, in the networks */
    for (size_t gap = 0; gap < 40; gap++) {
        sg_ob_account *z;
        assert_int_equal(sg_ob_account_new(&z), SG_OK);
        for (size_t i = 0; i < sizeof(z->net); i += gap + 1)
            ((uint8_t *)z->net)[i] = (uint8_t)(i * 7 + 1);
        assert_int_equal(sg_ob_account_encode(z, buf, SG_OB_ACCOUNT_MAX, &len), SG_OK);
        assert_int_equal(sg_ob_account_decode(b, buf, len), SG_OK);
        assert_memory_equal(b->net, z->net, sizeof(z->net));
        sg_ob_account_free(z);
    }
    addrs_free(r, 600);
    for (int k = 0; k < 3; k++)
        sg_ob_account_free(acc[k]);
    sg_ob_account_free(b);
    free(buf);
    free(buf2);
    sg_ob_policy_free(p);
}

static void encode_round_trip_and_damage(void **state)
{
    sg_ob_policy *p = policy_only(NULL);
    sg_ob_account *a = learned(p), *b;
    uint8_t *buf = malloc(SG_OB_ACCOUNT_MAX), *buf2 = malloc(SG_OB_ACCOUNT_MAX);
    size_t len, len2;
    char *j1, *j2;
    assert_non_null(buf);
    assert_non_null(buf2);
    sg_ob_account_block(a, T0 + 20 * DAY, SG_OBR_NEW_RCPT);
    assert_int_equal(sg_ob_account_encode(a, buf, SG_OB_ACCOUNT_MAX, &len), SG_OK);
    /* packed: a learned account is a few hundred bytes, not 6,404 */
    assert_true(len > 100 && len < 2000);
    assert_int_equal(sg_ob_account_encode(a, buf, len - 1, &len2), SG_ELIMIT);
    assert_int_equal(sg_ob_account_new(&b), SG_OK);
    assert_int_equal(sg_ob_account_decode(b, buf, len), SG_OK);
    /* the same bytes again, and the same view */
    assert_int_equal(sg_ob_account_encode(b, buf2, SG_OB_ACCOUNT_MAX, &len2), SG_OK);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    assert_int_equal(sg_ob_account_json(p, a, T0 + 20 * DAY, &j1), SG_OK);
    assert_int_equal(sg_ob_account_json(p, b, T0 + 20 * DAY, &j2), SG_OK);
    assert_string_equal(j1, j2);
    assert_non_null(strstr(j1, "\"blocked\":true"));
    assert_non_null(strstr(j1, "\"block_reasons\":[\"new_recipients\"]"));
    assert_non_null(strstr(j1, "\"network\":\"192.0.2.0/24\""));
    assert_non_null(strstr(j1, "\"hard_bounces\":0"));
    assert_null(strstr(j1, "null"));
    free(j1);
    free(j2);
    /* any flipped bit, a short or long record, another version */
    for (size_t i = 0; i < len; i += 7) {
        buf[i] ^= 0x10;
        assert_int_equal(sg_ob_account_decode(b, buf, len), SG_ESYNTAX);
        buf[i] ^= 0x10;
    }
    assert_int_equal(sg_ob_account_decode(b, buf, len - 1), SG_ESYNTAX);
    assert_int_equal(sg_ob_account_decode(b, buf, len + 1), SG_ESYNTAX);
    assert_int_equal(sg_ob_account_decode(b, buf, 0), SG_ESYNTAX);
    buf[4] = 5;
    assert_int_equal(sg_ob_account_decode(b, buf, len), SG_ESYNTAX);
    buf[4] = 4;
    /* a refused record leaves the account as it was */
    assert_true(sg_ob_account_blocked(b, NULL, NULL));
    /* a bounce memory time out of range (the checksum is no proof) */
    a->bounced[3] = 42;
    a->bounced_t[3] = -5;
    assert_int_equal(sg_ob_account_encode(a, buf, SG_OB_ACCOUNT_MAX, &len), SG_OK);
    assert_int_equal(sg_ob_account_decode(b, buf, len), SG_ESYNTAX);
    a->bounced_t[3] = SG_OB_TIME_MAX + 2;
    assert_int_equal(sg_ob_account_encode(a, buf, SG_OB_ACCOUNT_MAX, &len), SG_OK);
    assert_int_equal(sg_ob_account_decode(b, buf, len), SG_ESYNTAX);
    a->bounced_t[3] = SG_OB_TIME_MAX + 1;
    assert_int_equal(sg_ob_account_encode(a, buf, SG_OB_ACCOUNT_MAX, &len), SG_OK);
    assert_int_equal(sg_ob_account_decode(b, buf, len), SG_OK);
    assert_int_equal(b->bounced_t[3], SG_OB_TIME_MAX + 1);
    free(buf);
    free(buf2);
    sg_ob_account_free(a);
    sg_ob_account_free(b);
    sg_ob_policy_free(p);
}

static void release_clears_evidence_keeps_history(void **state)
{
    sg_ob_policy *p = policy_only("weight_new_recipients");
    sg_ob_account *a = learned(p);
    char **r = addrs("v", "victim.example", 40);
    int64_t t = T0 + 16 * DAY + 10 * 3600;
    int i;
    for (i = 0; i < 40 && !sg_ob_account_blocked(a, NULL, NULL); i++)
        (void)send1(p, a, t + i * 10, r[i]);
    assert_true(sg_ob_account_blocked(a, NULL, NULL));
    sg_ob_account_release(a, t + 1000);
    /* judged afresh: the same counters do not block it again */
    assert_int_equal(send1(p, a, t + 1001, "bob@partner.example").action, SG_OB_ALLOW);
    addrs_free(r, 40);
    sg_ob_account_free(a);
    sg_ob_policy_free(p);
}

/* The latest event a record holds, whatever kind: what an LMDB store's
 * expiry goes by (adv36 F3), so a note, a block or a release each keep a
 * record as a decision does, and the encoding carries it. */
static void last_active_counts_every_event(void **state)
{
    (void)state;
    sg_ob_policy *p = policy_only(NULL);
    sg_ob_account *a, *b;
    sg_ob_decision d;
    uint8_t buf[SG_OB_ACCOUNT_MAX];
    size_t len;
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    assert_int_equal(sg_ob_account_last_active(a), 0);
    assert_int_equal(sg_ob_account_last_active(NULL), 0);
    (void)send1(p, a, T0 + 100, "bob@partner.example");
    assert_int_equal(sg_ob_account_last_active(a), T0 + 100);
    /* a refusal only fills the windows: to the hour at worst */
    sg_ob_note_refusal(p, a, T0 + 5 * DAY + 1800);
    assert_true(sg_ob_account_last_active(a) >= T0 + 5 * DAY);
    assert_true(sg_ob_account_last_active(a) <= T0 + 5 * DAY + 1800);
    assert_int_equal(sg_ob_note_dsn(p, a, T0 + 9 * DAY + 7, "5.1.1", &d), SG_OK);
    assert_true(sg_ob_account_last_active(a) >= T0 + 9 * DAY);
    sg_ob_account_block(a, T0 + 20 * DAY, SG_OBR_SAME_BODY);
    assert_int_equal(sg_ob_account_last_active(a), T0 + 20 * DAY);
    sg_ob_account_release(a, T0 + 30 * DAY);
    assert_int_equal(sg_ob_account_last_active(a), T0 + 30 * DAY);
    assert_int_equal(sg_ob_account_encode(a, buf, sizeof buf, &len), SG_OK);
    assert_int_equal(sg_ob_account_new(&b), SG_OK);
    assert_int_equal(sg_ob_account_decode(b, buf, len), SG_OK);
    assert_int_equal(sg_ob_account_last_active(b), T0 + 30 * DAY);
    sg_ob_account_free(a);
    sg_ob_account_free(b);
    sg_ob_policy_free(p);
}

/* ---- policy ---- */

static void policy_directives(void **state)
{
    sg_ob_policy *p;
    sg_ob_account *a;
    sg_ob_decision d;
    char **r = addrs("x", "far.example", 20);
    sg_ob_message m = {T0,
                       "news@org.example",
                       "192.0.2.1",
                       "news@org.example",
                       (const char *const *)r,
                       20,
                       1,
                       NULL,
                       0};
    assert_int_equal(sg_ob_policy_new(&p), SG_OK);
    assert_int_equal(sg_ob_policy_directive(p, "outbound_limit", "messages_per_minute 30"), SG_OK);
    assert_int_equal(sg_ob_policy_directive(p, "outbound_limit", "small.recipients_per_message 10"),
                     SG_OK);
    assert_int_equal(sg_ob_policy_directive(p, "outbound_account", "news@org.example small"),
                     SG_OK);
    assert_int_equal(
        sg_ob_policy_directive(p, "outbound_internal_domain", "org.example, Sub.Other.example"),
        SG_OK);
    /* a name in any case, as spoofguardd.conf takes option names: the
     * daemon refused "Outbound_Limit" lines as "not found" and `accounts
     * replay` skipped them */
    assert_int_equal(sg_ob_policy_directive(p, "Outbound_Limit", "messages_per_day 500"), SG_OK);
    /* not ours, bad values: refused, nothing changed */
    assert_int_equal(sg_ob_policy_directive(p, "milter_socket", "inet:1@x"), SG_ENOTFOUND);
    assert_int_equal(sg_ob_policy_directive(p, "outbound_limit", "no_such_key 3"), SG_EINVAL);
    assert_int_equal(sg_ob_policy_directive(p, "outbound_limit", "messages_per_minute x"),
                     SG_ESYNTAX);
    assert_int_equal(sg_ob_policy_directive(p, "outbound_limit", "messages_per_minute -1"),
                     SG_ESYNTAX);
    assert_int_equal(sg_ob_policy_directive(p, "outbound_limit", "messages_per_minute 1.5"),
                     SG_ESYNTAX);
    assert_int_equal(sg_ob_policy_directive(p, "outbound_limit", "messages_per_minute"),
                     SG_ESYNTAX);
    assert_int_equal(sg_ob_policy_directive(p, "outbound_limit", "bad/class.hold_score 1"),
                     SG_ESYNTAX);
    assert_int_equal(sg_ob_policy_directive(p, "outbound_account", "only-one"), SG_ESYNTAX);
    assert_int_equal(sg_ob_policy_directive(p, "outbound_internal_domain", "ok.example, b@d"),
                     SG_ESYNTAX);
    /* empty labels, a label over 63 octets: not a domain (fuzz_config found
     * "a.." read back as "a." and then "a") */
    static const char *const not_domains[] = {
        "a..",
        "a..b",
        ".a",
        "..",
        ".",
        "ok.example..",
        "ok.example, x..y",
        "a0123456789012345678901234567890123456789012345678901234567890123.example"};
    for (size_t i = 0; i < sizeof(not_domains) / sizeof(not_domains[0]); i++)
        assert_int_equal(sg_ob_policy_directive(p, "outbound_internal_domain", not_domains[i]),
                         SG_ESYNTAX);
    assert_int_equal(sg_ob_policy_set(p, "default", "score_onset", "1"), SG_ESYNTAX);
    /* the class applies to its account only */
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    assert_int_equal(sg_ob_decide(p, a, NULL, &m, &d), SG_OK);
    assert_int_equal(d.action, SG_OB_BLOCK);
    assert_true(d.reasons & SG_OBR_RCPT_MESSAGE);
    sg_ob_account_free(a);
    /* ... whatever the case the login was typed in: one record (obops.c
     * lower-cases its key), one class (adv13 F4: NEWS@ got the default) */
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    m.login = "NEWS@Org.Example";
    assert_int_equal(sg_ob_decide(p, a, NULL, &m, &d), SG_OK);
    assert_int_equal(d.action, SG_OB_BLOCK);
    sg_ob_account_free(a);
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    m.login = "someone@org.example";
    assert_int_equal(sg_ob_decide(p, a, NULL, &m, &d), SG_OK);
    assert_int_equal(d.action, SG_OB_ALLOW);
    sg_ob_account_free(a);
    addrs_free(r, 20);
    sg_ob_policy_free(p);
}

/* Two records of one account made one (a host that counted in memory
 * while Redis was away): the counts add up, recipients and networks
 * known are joined, a block carries over unless released after, and
 * nothing from before a release comes back. */
static void account_merge(void **state)
{
    sg_ob_policy *p = policy_only(NULL);
    sg_ob_account *dst, *src, *empty;
    uint8_t b1[SG_OB_ACCOUNT_MAX], b2[SG_OB_ACCOUNT_MAX];
    size_t l1, l2;
    int64_t t = T0 + 20 * DAY + 9 * 3600, since;
    uint32_t reasons;
    (void)state;
    assert_int_equal(sg_ob_account_new(&dst), SG_OK);
    assert_int_equal(sg_ob_account_new(&src), SG_OK);
    assert_int_equal(sg_ob_account_new(&empty), SG_OK);
    char **r = addrs("r", "far.example", 20);
    for (int i = 0; i < 10; i++) /* the shared record: 10 messages */
        (void)send1(p, dst, t + i * 10, r[i]);
    /* src keyed alike: a copy of the shared record (another host's) */
    memcpy(src->hkey, dst->hkey, sizeof(src->hkey));
    for (int i = 10; i < 15; i++) /* the host's memory: 5 more, in dst's last bucket */
        (void)send(p, src, t + 90, "198.51.100.7", (const char *const *)&r[i], 1, NULL);
    assert_int_equal(sg_ob_ring_sum(dst, W_DAY, F_MSG, t + 300), 10);
    assert_int_equal(sg_ob_ring_sum(dst, W_MINUTE, F_MSG, t + 95), 6);
    /* merging nothing changes nothing */
    assert_int_equal(sg_ob_account_encode(dst, b1, sizeof b1, &l1), SG_OK);
    assert_int_equal(sg_ob_account_merge(dst, empty), SG_OK);
    assert_int_equal(sg_ob_account_encode(dst, b2, sizeof b2, &l2), SG_OK);
    assert_true(l1 == l2 && !memcmp(b1, b2, l1));
    assert_int_equal(sg_ob_account_merge(dst, src), SG_OK);
    assert_int_equal(sg_ob_ring_sum(dst, W_DAY, F_MSG, t + 300), 15);
    assert_int_equal(sg_ob_ring_sum(dst, W_HOUR, F_RCPT, t + 300), 15);
    /* the same 10-second bucket added up: t+90 held dst's 10th and src's five */
    assert_int_equal(sg_ob_ring_sum(dst, W_MINUTE, F_MSG, t + 95), 11);
    for (int i = 0; i < 15; i++)
        assert_true(sg_ob_bloom_has(dst, r[i], 1, NULL));
    assert_false(sg_ob_bloom_has(dst, r[19], 1, NULL));
    assert_int_equal(dst->nnet, 2); /* 192.0.2.0/24 and 198.51.100.0/24 */
    /* a history under another key (a host's memory, keyed when the
     * outage began) means nothing here: its counts add up, its
     * recipients are left out */
    {
        sg_ob_account *other;
        assert_int_equal(sg_ob_account_new(&other), SG_OK);
        (void)send1(p, other, t + 100, r[16]);
        assert_true(sg_ob_bloom_has(other, r[16], 1, NULL));
        assert_int_equal(sg_ob_account_merge(dst, other), SG_OK);
        assert_int_equal(sg_ob_ring_sum(dst, W_DAY, F_MSG, t + 300), 16);
        assert_false(sg_ob_bloom_has(dst, r[16], 1, NULL));
        for (int i = 0; i < 15; i++)
            assert_true(sg_ob_bloom_has(dst, r[i], 1, NULL));
        sg_ob_account_free(other);
    }
    assert_false(sg_ob_account_blocked(dst, NULL, NULL));
    /* a block made in memory carries over, with its time and reasons */
    sg_ob_account_block(src, t + 250, SG_OBR_SAME_BODY);
    assert_int_equal(sg_ob_account_merge(dst, src), SG_OK);
    assert_true(sg_ob_account_blocked(dst, &since, &reasons));
    assert_int_equal(since, t + 250);
    assert_int_equal(reasons, SG_OBR_SAME_BODY);
    /* released afterwards on the shared store: that release stands, and
     * src's counts from before it do not come back */
    sg_ob_account_release(dst, t + 400);
    assert_int_equal(sg_ob_account_merge(dst, src), SG_OK);
    assert_false(sg_ob_account_blocked(dst, NULL, NULL));
    assert_int_equal(sg_ob_ring_sum(dst, W_DAY, F_MSG, t + 500), 0);
    /* a record with nothing yet takes src whole: the same bytes */
    sg_ob_account *fresh;
    assert_int_equal(sg_ob_account_new(&fresh), SG_OK);
    assert_int_equal(sg_ob_account_merge(fresh, src), SG_OK);
    assert_int_equal(sg_ob_account_encode(fresh, b1, sizeof b1, &l1), SG_OK);
    assert_int_equal(sg_ob_account_encode(src, b2, sizeof b2, &l2), SG_OK);
    assert_true(l1 == l2 && !memcmp(b1, b2, l1));
    assert_int_equal(sg_ob_account_merge(NULL, src), SG_EINVAL);
    /* full recipient filters merged again and again: still a record decode
     * takes (an uncapped count passed decode's bound after six carries) */
    src->bloom_n[0] = src->bloom_n[1] = OB_BLOOM_CAPACITY;
    for (int i = 0; i < 8; i++)
        assert_int_equal(sg_ob_account_merge(fresh, src), SG_OK);
    assert_int_equal(sg_ob_account_encode(fresh, b1, sizeof b1, &l1), SG_OK);
    assert_int_equal(sg_ob_account_decode(fresh, b1, l1), SG_OK);
    assert_true(fresh->bloom_n[fresh->bloom_cur & 1] <= OB_BLOOM_CAPACITY);
    sg_ob_account_free(fresh);
    addrs_free(r, 20);
    sg_ob_account_free(empty);
    sg_ob_account_free(src);
    sg_ob_account_free(dst);
    sg_ob_policy_free(p);
}

/* Read lines made by sg_ob_policy_lines back into a fresh policy. */
static sg_ob_policy *policy_from_lines(const char *text)
{
    sg_ob_policy *p;
    char *copy = strdup(text), *save = NULL;
    assert_non_null(copy);
    assert_int_equal(sg_ob_policy_new(&p), SG_OK);
    for (char *l = strtok_r(copy, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(l, ' ');
        assert_non_null(sp);
        *sp = '\0';
        assert_int_equal(sg_ob_policy_directive(p, l, sp + 1), SG_OK);
    }
    free(copy);
    return p;
}

static void policy_lines(void **state)
{
    static const char *const dirs[][2] = {
        {"outbound_limit", "messages_per_minute 10"},
        {"outbound_limit", "vip.messages_per_hour 5000"}, /* vip: a copy of default now */
        {"outbound_limit", "messages_per_day 100"},       /* does not reach vip */
        {"outbound_account", "bob@org.example vip"},
        {"outbound_account", "carol@org.example new"}, /* new: a copy with both changes */
        {"outbound_limit", "bounce_warn 0.07"},
        {"outbound_limit", "score_onset 0.123456789012345"},
        {"outbound_account", "bob@org.example default"}, /* moved back */
        {"outbound_internal_domain", "Org.example, sub.other.example."},
    };
    static const char expected[] = "outbound_limit vip.messages_per_minute 10\n"
                                   "outbound_limit vip.messages_per_hour 5000\n"
                                   "outbound_limit new.messages_per_minute 10\n"
                                   "outbound_limit new.messages_per_day 100\n"
                                   "outbound_account bob@org.example default\n"
                                   "outbound_account carol@org.example new\n"
                                   "outbound_limit messages_per_minute 10\n"
                                   "outbound_limit messages_per_day 100\n"
                                   "outbound_limit bounce_warn 0.07\n"
                                   "outbound_limit score_onset 0.123456789012345\n"
                                   "outbound_internal_domain org.example\n"
                                   "outbound_internal_domain sub.other.example\n";
    sg_ob_policy *p, *q;
    char *t1, *t2;
    (void)state;
    assert_int_equal(sg_ob_policy_new(&p), SG_OK);
    assert_int_equal(sg_ob_policy_lines(p, &t1), SG_OK);
    assert_string_equal(t1, ""); /* the built-in defaults need no line */
    free(t1);
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        assert_int_equal(sg_ob_policy_directive(p, dirs[i][0], dirs[i][1]), SG_OK);
    /* decimals only, as many significant digits as a double holds */
    static const char *const bad[] = {
        "0.12345678901234567891", "0x10", "1,5", "-1", "1.2.3", ".", "inf", "1e", "1e-40", "5e99"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sg_ob_policy_set(p, NULL, "score_onset", bad[i]) != SG_ESYNTAX)
            fail_msg("score_onset %s: taken", bad[i]);
    assert_int_equal(sg_ob_policy_set(p, NULL, "messages_per_day", "000000000000000000100"), SG_OK);
    /* what strtod took in a configuration before: exponents, 16 digits
     * (rev26 R26-7: a -t output with 1e-05 no longer loaded) */
    {
        sg_ob_policy *g;
        static const char *const good[] = {"1e3", "2.5E-1", "1.000000000000000", "5e-1", "0e5"};
        assert_int_equal(sg_ob_policy_new(&g), SG_OK);
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
            if (sg_ob_policy_set(g, NULL, "score_onset", good[i]) != SG_OK &&
                sg_ob_policy_set(g, NULL, "messages_per_hour", good[i]) != SG_OK)
                fail_msg("%s: refused", good[i]);
        assert_int_equal(sg_ob_policy_set(g, NULL, "bounce_warn", "7e-2"), SG_OK);
        assert_int_equal(sg_ob_policy_set(g, NULL, "score_onset", "1.23456789012345e-1"), SG_OK);
        assert_int_equal(sg_ob_policy_set(g, NULL, "hold_score", "1e-2"), SG_OK);
        /* smaller than 15 decimals hold: an exponent, not 0 (rev27 R27-4) */
        assert_int_equal(sg_ob_policy_set(g, NULL, "weight_same_body", "1.5e-16"), SG_OK);
        assert_int_equal(sg_ob_policy_lines(g, &t1), SG_OK);
        assert_non_null(strstr(t1, "outbound_limit bounce_warn 0.07\n"));
        assert_non_null(strstr(t1, "outbound_limit score_onset 0.123456789012345\n"));
        assert_non_null(strstr(t1, "outbound_limit hold_score 0.01\n"));
        assert_non_null(strstr(t1, "outbound_limit weight_same_body 15e-17\n"));
        /* and every line reads back as the same policy */
        sg_ob_policy *back = policy_from_lines(t1);
        char *t3;
        assert_int_equal(sg_ob_policy_lines(back, &t3), SG_OK);
        assert_string_equal(t3, t1);
        free(t3);
        sg_ob_policy_free(back);
        free(t1);
        sg_ob_policy_free(g);
    }
    assert_int_equal(sg_ob_policy_lines(p, &t1), SG_OK);
    assert_string_equal(t1, expected);
    /* read back: the same policy, so the same lines */
    q = policy_from_lines(t1);
    assert_int_equal(sg_ob_policy_lines(q, &t2), SG_OK);
    assert_string_equal(t2, t1);
    free(t2);
    sg_ob_policy_free(q);
    free(t1);
    /* an account key no configuration line can hold */
    assert_int_equal(sg_ob_policy_assign(p, "a b@org.example", "vip"), SG_OK);
    t1 = (char *)"untouched";
    assert_int_equal(sg_ob_policy_lines(p, &t1), SG_EINVAL);
    assert_null(t1);
    sg_ob_policy_free(p);
}

static void reason_names_contract(void **state)
{
    static const char *const names[] = {
        "messages_minute",     "messages_hour",   "messages_day",       "recipients_day",
        "recipients_message",  "baseline_volume", "new_account_ramp",   "new_recipients",
        "external_recipients", "same_body",       "ownership_refusals", "new_network",
        "many_networks",       "bounce_rate",     "internal_fanout",    "domain_volume",
        "account_blocked",
    };
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_string_equal(sg_ob_reason_name(1u << i), names[i]);
    assert_null(sg_ob_reason_name(1u << 20));
    assert_null(sg_ob_reason_name(3));
    assert_string_equal(sg_ob_action_name(SG_OB_THROTTLE), "throttle");
    assert_string_equal(sg_ob_action_name(SG_OB_BLOCK), "block");
}

static void bad_arguments(void **state)
{
    sg_ob_policy *p = policy_only(NULL);
    sg_ob_account *a;
    sg_ob_decision d;
    sg_ob_message m = {-1, "a", "192.0.2.1", "", NULL, 0, 0, NULL, 0};
    assert_int_equal(sg_ob_account_new(&a), SG_OK);
    assert_int_equal(sg_ob_decide(p, a, NULL, &m, &d), SG_EINVAL);
    m.t = SG_OB_TIME_MAX + 1;
    assert_int_equal(sg_ob_decide(p, a, NULL, &m, &d), SG_EINVAL);
    assert_int_equal(sg_ob_note_dsn(p, a, SG_OB_TIME_MAX + 1, "5.1.1", &d), SG_EINVAL);
    /* an unparsable client address and no recipients still decide */
    m.t = T0;
    m.client_ip = "not an address";
    assert_int_equal(sg_ob_decide(p, a, NULL, &m, &d), SG_OK);
    assert_int_equal(d.action, SG_OB_ALLOW);
    sg_ob_account_free(a);
    sg_ob_policy_free(p);
}

/* ---- the replay event reader ---- */

static void event_reader(void **state)
{
    sgu_ob_event ev = {0};
    char err[200];
    const char *ok = "{\"t\":1767571200,\"login\":\"al\\u00e9\",\"client_ip\":\"192.0.2.1\","
                     "\"mail_from\":\"a@x.example\",\"rcpts\":[\"b@y.example\",\"c@z\"],"
                     "\"size\":10,\"extra\":{\"n\":[1,2,{\"x\":null}]},\"id\":\"m\\\"1\"}";
    assert_int_equal(sgu_ob_event_parse(&ev, ok, strlen(ok), err, sizeof(err)), 0);
    assert_int_equal(ev.is_dsn, 0);
    assert_int_equal(ev.t, 1767571200);
    assert_string_equal(ev.login, "al\xc3\xa9");
    assert_int_equal(ev.nrcpts, 2);
    assert_string_equal(ev.rcpts[1], "c@z");
    assert_string_equal(ev.id, "m\"1");
    assert_null(ev.body_hash);
    const char *dsn = "{\"t\":5,\"dsn_for\":\"al\",\"status\":\"5.1.1\"}";
    assert_int_equal(sgu_ob_event_parse(&ev, dsn, strlen(dsn), err, sizeof(err)), 0);
    assert_int_equal(ev.is_dsn, 1);
    assert_string_equal(ev.status, "5.1.1");
    static const struct {
        const char *line, *msg;
    } bad[] = {
        {"not json", "not JSON"},
        {"{\"t\":1}", "missing field \"login\""},
        {"{\"t\":1,\"dsn_for\":\"a\"}", "missing field \"status\""},
        {"{\"t\":-1,\"dsn_for\":\"a\",\"status\":\"5.0.0\"}", "whole number"},
        {"{\"t\":1.5,\"dsn_for\":\"a\",\"status\":\"5.0.0\"}", "whole number"},
        {"{\"t\":4294967296,\"dsn_for\":\"a\",\"status\":\"5.0.0\"}", "out of range"},
        {"{\"t\":\"1\",\"dsn_for\":\"a\",\"status\":\"5.0.0\"}", "must be a number"},
        {"{\"t\":1,\"t\":2,\"dsn_for\":\"a\",\"status\":\"5.0.0\"}", "twice"},
        {"{\"t\":1,\"dsn_for\":\"a\",\"status\":\"5.0.0\"} x", "text after"},
        {"{\"t\":1,\"login\":\"a\",\"client_ip\":\"\",\"mail_from\":\"\",\"rcpts\":[1],"
         "\"size\":1}",
         "list of strings"},
        {"{\"t\":1,\"dsn_for\":\"a\\u0000\",\"status\":\"5.0.0\"}", "\\u0000"},
        {"{\"t\":1,\"dsn_for\":\"\\ud800\",\"status\":\"5.0.0\"}", "surrogate"},
        {"{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
         "deeply"},
        {"{\"t\":1,\"dsn_for\":\"a\",\"status\":\"5.0.0\"", "expected"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            sgu_ob_event_parse(&ev, bad[i].line, strlen(bad[i].line), err, sizeof(err)), -1);
        if (strstr(err, bad[i].msg) == NULL)
            fail_msg("%s: got \"%s\", wanted \"%s\"", bad[i].line, err, bad[i].msg);
    }
    sgu_ob_event_free(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(throttle_per_minute),
        cmocka_unit_test(recipients_per_message_blocks_and_release),
        cmocka_unit_test(new_account_ramp),
        cmocka_unit_test(new_recipients),
        cmocka_unit_test(internal_fanout),
        cmocka_unit_test(baseline_volume),
        cmocka_unit_test(same_body),
        cmocka_unit_test(ownership_refusals),
        cmocka_unit_test(many_networks),
        cmocka_unit_test(new_network_scores_alone_below_hold),
        cmocka_unit_test(bounce_rate),
        cmocka_unit_test(bounce_needs_a_sample),
        cmocka_unit_test(bounce_from_outside_needs_a_sent_recipient),
        cmocka_unit_test(bounce_from_outside_counts_once_a_day),
        cmocka_unit_test(history_is_keyed),
        cmocka_unit_test(bounce_internal_never_counts),
        cmocka_unit_test(bounce_one_reporter_counts_two_a_day),
        cmocka_unit_test(old_history_is_no_evidence),
        cmocka_unit_test(percent_hack_is_external),
        cmocka_unit_test(holds_in_an_hour_block),
        cmocka_unit_test(domain_volume),
        cmocka_unit_test(encode_round_trip_and_damage),
        cmocka_unit_test(packed_and_plain_records),
        cmocka_unit_test(release_clears_evidence_keeps_history),
        cmocka_unit_test(last_active_counts_every_event),
        cmocka_unit_test(policy_directives),
        cmocka_unit_test(policy_lines),
        cmocka_unit_test(account_merge),
        cmocka_unit_test(reason_names_contract),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(event_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
