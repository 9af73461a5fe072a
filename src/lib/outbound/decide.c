/*
 * The decision: signals, each graded against its limit, summed into a
 * score; hard rate limits throttle; a score past hold_score holds the
 * message, past block_score (or holds_to_block holds within an hour)
 * blocks the account until an administrator releases it.
 *
 * A graded signal adds nothing below score_onset of its limit, its full
 * weight at the limit, and at most twice its weight beyond: two signals
 * each three quarters of the way to their limits hold a message that
 * neither would hold alone, which is how a compromise that stays under
 * every single limit is still seen.
 */
#include <arpa/inet.h>
#include <math.h>
#include <string.h>

#include "ob.h"

#define V(k) (cls->v[k])
#define HOUR_DECAY 0.99916 /* peaks lose ~2% a day */
#define EWMA_ALPHA 0.15    /* each hour-of-day slot learns over ~a week */

/* Fold the open hour into the baseline and move to hour h. Hours with
 * nothing sent fold in as zeros, at most two weeks of them. */
static void roll_baseline(sg_ob_account *a, int64_t h)
{
    int64_t skipped;
    if (a->base_hour == 0 || h < a->base_hour) {
        if (a->base_hour == 0)
            a->base_hour = h;
        return;
    }
    if (h == a->base_hour)
        return;
    skipped = h - a->base_hour;
    if (skipped > 24 * 14)
        skipped = 24 * 14;
    for (int64_t i = 0; i < skipped; i++) {
        int64_t hh = a->base_hour + i;
        int slot = (int)(hh % 24);
        double x[3] = {0, 0, 0};
        uint32_t *ew[3] = {&a->ewma_rcpt[slot], &a->ewma_new[slot], &a->ewma_int[slot]};
        uint32_t *pk[3] = {&a->peak_rcpt, &a->peak_new, &a->peak_int};
        if (i == 0) {
            x[0] = a->cur[F_RCPT];
            x[1] = a->cur[F_NEW];
            x[2] = a->cur[F_NEWINT];
        }
        for (int k = 0; k < 3; k++) {
            double e = *ew[k] / 100.0, pkv = *pk[k] / 100.0 * HOUR_DECAY;
            e += EWMA_ALPHA * (x[k] - e);
            if (x[k] > pkv)
                pkv = x[k];
            *ew[k] = e * 100 > 4e9 ? 4000000000u : (uint32_t)(e * 100 + 0.5);
            *pk[k] = pkv * 100 > 4e9 ? 4000000000u : (uint32_t)(pkv * 100 + 0.5);
        }
        if (a->base_hours < UINT32_MAX)
            a->base_hours++;
    }
    memset(a->cur, 0, sizeof(a->cur));
    a->base_hour = h;
}

/* The learned expectation for hour-of-day slot `slot` of counter k: the
 * busiest of this hour and its neighbours (a meeting that ends late, a
 * clock change), and never less than half the account's decaying peak. */
static double expected(const uint32_t *ewma, uint32_t peak, int slot)
{
    double e = ewma[slot];
    if (ewma[(slot + 1) % 24] > e)
        e = ewma[(slot + 1) % 24];
    if (ewma[(slot + 23) % 24] > e)
        e = ewma[(slot + 23) % 24];
    if (peak / 2.0 > e)
        e = peak / 2.0;
    return e / 100.0;
}

/* Score of a value against its limit (see the top of the file). */
static double grade(double value, double limit, double onset, double weight)
{
    double r;
    if (limit <= 0 || weight <= 0)
        return 0;
    r = value / limit;
    if (r < onset)
        return 0;
    r = (r - onset) / (1 - onset);
    return weight * (r > 2 ? 2 : r);
}

/* The /24 (IPv4) or /48 (IPv6) of a textual address, as 16 bytes
 * (IPv4-mapped for IPv4); 0 if it does not parse. */
static int network_of(const char *ip, uint8_t out[16])
{
    struct in_addr a4;
    memset(out, 0, 16);
    if (ip == NULL)
        return 0;
    if (inet_pton(AF_INET, ip, &a4) == 1) {
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 3);
        return 1;
    }
    if (inet_pton(AF_INET6, ip, out) == 1) {
        static const uint8_t v4[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memset(out + (memcmp(out, v4, 12) ? 6 : 15), 0, memcmp(out, v4, 12) ? 10 : 1);
        return 1;
    }
    return 0;
}

static int find_net(const sg_ob_account *a, const uint8_t net[16])
{
    for (uint32_t i = 0; i < a->nnet; i++)
        if (!memcmp(a->net[i], net, 16))
            return (int)i;
    return -1;
}

/* The network slot seen least recently (the table is full). */
static int least_recent_net(const sg_ob_account *a)
{
    int i = 0;
    for (uint32_t j = 1; j < a->nnet; j++)
        if (a->net_last[j] < a->net_last[i])
            i = (int)j;
    return i;
}

static void note_net(sg_ob_account *a, const uint8_t net[16], int64_t t)
{
    int i = find_net(a, net);
    if (i < 0) {
        i = a->nnet < OB_NETS ? (int)a->nnet++ : least_recent_net(a);
        memcpy(a->net[i], net, 16);
        a->net_first[i] = t;
    }
    a->net_last[i] = t;
}

static uint32_t networks_24h(const sg_ob_account *a, int64_t t, const uint8_t *extra)
{
    int64_t floor_t = t - 86400;
    uint32_t n = 0;
    if (a->released_at > floor_t)
        floor_t = a->released_at;
    for (uint32_t i = 0; i < a->nnet; i++)
        n += a->net_last[i] >= floor_t;
    if (extra != NULL && find_net(a, extra) < 0)
        n++;
    return n;
}

/* The body's slot (its recipients within the last hour), or -1. */
static int find_body(const sg_ob_account *a, uint64_t h, int64_t t)
{
    for (int i = 0; i < OB_BODIES; i++)
        if (a->body[i] == h && a->body_t[i] > t - 3600)
            return i;
    return -1;
}

/* The body slot used longest ago. */
static int oldest_body(const sg_ob_account *a)
{
    int i = 0;
    for (int j = 1; j < OB_BODIES; j++)
        if (a->body_t[j] < a->body_t[i])
            i = j;
    return i;
}

static void note_body(sg_ob_account *a, uint64_t h, int64_t t, uint32_t nrcpt)
{
    int i = find_body(a, h, t);
    if (i < 0) {
        i = oldest_body(a);
        a->body[i] = h;
        a->body_t[i] = t;
        a->body_rcpts[i] = 0;
    }
    a->body_rcpts[i] = ob_sat_add(a->body_rcpts[i], nrcpt);
}

static const char *addr_domain(const char *addr)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;
    return at ? at + 1 : NULL;
}

/* Hard bounces over the recipients of the last 24 hours. A window of
 * time rather than of the last N messages: reports come back minutes to
 * hours after a send, and a newsletter's 3,000 recipients would push the
 * messages they bounce for out of any short message window. */
static double bounce_rate(const sg_ob_account *a, const ob_class *cls, int64_t t)
{
    double sent = sg_ob_ring_sum(a, W_DAY, F_RCPT, t);
    if (sent < V(OBK_BOUNCE_SAMPLE) || sent <= 0)
        return 0;
    return sg_ob_ring_sum(a, W_DAY, F_BOUNCE, t) / sent;
}

static double bounce_grade(const sg_ob_account *a, const ob_class *cls, int64_t t)
{
    double onset = V(OBK_BOUNCE_WARN) / V(OBK_BOUNCE_HOLD);
    return grade(bounce_rate(a, cls, t), V(OBK_BOUNCE_HOLD), onset < 0.99 ? onset : 0.99,
                 V(OBK_W_BOUNCES));
}

typedef struct {
    double score;
    uint32_t reasons;
} tally;

static void add(tally *t, uint32_t reason, double s)
{
    if (s > 0) {
        t->score += s;
        t->reasons |= reason;
    }
}

int sg_ob_decide(const sg_ob_policy *p, sg_ob_account *acct, sg_ob_account *dom,
                 const sg_ob_message *m, sg_ob_decision *out)
{
    const ob_class *cls;
    const char *from_dom;
    uint8_t net[16];
    int have_net, learning;
    uint32_t nrcpt, nnew = 0, next = 0, nnewint = 0, throttle = 0;
    double onset;
    int slot;
    tally tl = {0, 0};
    sg_ob_action action = SG_OB_ALLOW;
    uint64_t bh = 0;
    int rc;

    if (p == NULL || acct == NULL || m == NULL || out == NULL || m->t < 0 ||
        m->t > SG_OB_TIME_MAX || (m->nrcpts > 0 && m->rcpts == NULL))
        return SG_EINVAL;
    memset(out, 0, sizeof(*out));
    if ((rc = sg_ob_history_key(acct)) != SG_OK)
        return rc; /* before anything changed */
    cls = sg_ob_policy_class(p, m->login);
    onset = V(OBK_ONSET);
    if (acct->created == 0)
        acct->created = m->t;
    acct->last_t = m->t;
    roll_baseline(acct, m->t / 3600);
    slot = (int)((m->t / 3600) % 24);
    learning = m->t - acct->created < (int64_t)(V(OBK_LEARNING_DAYS) * 86400);
    nrcpt = m->nrcpts > UINT32_MAX ? UINT32_MAX : (uint32_t)m->nrcpts;
    have_net = network_of(m->client_ip, net);
    from_dom = addr_domain(m->mail_from);

    if (acct->blocked) {
        /* every later message waits in the hold queue until a release */
        sg_ob_ring_add(acct, F_MSG, m->t, 1);
        sg_ob_ring_add(acct, F_RCPT, m->t, nrcpt);
        if (have_net)
            note_net(acct, net, m->t);
        out->action = SG_OB_HOLD;
        out->reasons = SG_OBR_BLOCKED | acct->block_reasons;
        out->score = 0;
        return SG_OK;
    }

    /* what this message brings: first-time, external, new internal */
    for (size_t i = 0; i < m->nrcpts; i++) {
        const char *r = m->rcpts[i] ? m->rcpts[i] : "";
        int internal = sg_ob_policy_internal(p, r, from_dom);
        int known = sg_ob_bloom_has(acct, r, 0, NULL);
        if (known < 0)
            return known;
        nnew += !internal && !known;
        next += !internal;
        nnewint += internal && !known;
    }

    /* hard rate limits: a 4xx, the client retries */
    if (V(OBK_MSG_MINUTE) > 0 &&
        sg_ob_ring_sum(acct, W_MINUTE, F_MSG, m->t) + 1 > V(OBK_MSG_MINUTE))
        throttle |= SG_OBR_MSG_MINUTE;
    if (V(OBK_MSG_HOUR) > 0 && sg_ob_ring_sum(acct, W_HOUR, F_MSG, m->t) + 1 > V(OBK_MSG_HOUR))
        throttle |= SG_OBR_MSG_HOUR;

    /* limits a mail administrator knows, graded */
    add(&tl, SG_OBR_MSG_DAY,
        grade(sg_ob_ring_sum(acct, W_DAY, F_MSG, m->t) + 1.0, V(OBK_MSG_DAY), onset,
              V(OBK_W_LIMITS)));
    add(&tl, SG_OBR_RCPT_DAY,
        grade((double)sg_ob_ring_sum(acct, W_DAY, F_RCPT, m->t) + nrcpt, V(OBK_RCPT_DAY), onset,
              V(OBK_W_LIMITS)));
    if (V(OBK_RCPT_MESSAGE) > 0 && nrcpt > V(OBK_RCPT_MESSAGE))
        add(&tl, SG_OBR_RCPT_MESSAGE, V(OBK_W_LIMITS) * V(OBK_BLOCK_SCORE));
    add(&tl, SG_OBR_EXTERNAL,
        grade((double)sg_ob_ring_sum(acct, W_DAY, F_EXT, m->t) + next, V(OBK_EXT_DAY), onset,
              V(OBK_W_EXT)));

    if (learning) {
        /* everything is new to a new account: a conservative ramp stands
         * in for the baseline it does not have yet */
        add(&tl, SG_OBR_NEW_ACCOUNT,
            grade((double)sg_ob_ring_sum(acct, W_DAY, F_RCPT, m->t) + nrcpt, V(OBK_RAMP_RCPT_DAY),
                  onset, V(OBK_W_RAMP)));
    } else {
        double hour_rcpt = (double)sg_ob_ring_sum(acct, W_HOUR, F_RCPT, m->t) + nrcpt;
        double hour_ext = (double)sg_ob_ring_sum(acct, W_HOUR, F_EXT, m->t) + next;
        double hour_new = (double)sg_ob_ring_sum(acct, W_HOUR, F_NEW, m->t) + nnew;
        double hour_int = (double)sg_ob_ring_sum(acct, W_HOUR, F_NEWINT, m->t) + nnewint;
        double lim;
        lim = V(OBK_BASE_FLOOR) +
              V(OBK_BASE_FACTOR) * expected(acct->ewma_rcpt, acct->peak_rcpt, slot);
        add(&tl, SG_OBR_BASELINE, grade(hour_rcpt, lim, onset, V(OBK_W_BASELINE)));
        lim = V(OBK_NEW_FLOOR) + V(OBK_NEW_FACTOR) * expected(acct->ewma_new, acct->peak_new, slot);
        if (hour_ext > 0 && hour_new / hour_ext >= V(OBK_NEW_SHARE))
            add(&tl, SG_OBR_NEW_RCPT, grade(hour_new, lim, onset, V(OBK_W_NEW)));
        lim = V(OBK_INT_FLOOR) + V(OBK_INT_FACTOR) * expected(acct->ewma_int, acct->peak_int, slot);
        add(&tl, SG_OBR_INTERNAL_FANOUT, grade(hour_int, lim, onset, V(OBK_W_INTERNAL)));
    }

    if (m->body_hash != NULL && m->body_hash_len > 0) {
        int b;
        bh = sg_ob_hash((const char *)m->body_hash, m->body_hash_len, 0);
        b = find_body(acct, bh, m->t);
        add(&tl, SG_OBR_SAME_BODY,
            grade((b >= 0 ? acct->body_rcpts[b] : 0.0) + nrcpt, V(OBK_BODY_RCPTS), onset,
                  V(OBK_W_BODY)));
    }

    add(&tl, SG_OBR_OWNERSHIP,
        grade(sg_ob_ring_sum(acct, W_HOUR, F_REFUSE, m->t), V(OBK_REFUSALS_HOUR), onset,
              V(OBK_W_REFUSALS)));

    if (have_net) {
        /* a new network counts only once the account has a history of
         * networks to compare with */
        if (!learning && acct->nnet > 0 && find_net(acct, net) < 0)
            add(&tl, SG_OBR_NEW_NETWORK, V(OBK_W_NEW_NET));
        add(&tl, SG_OBR_NETWORKS,
            grade(networks_24h(acct, m->t, net), V(OBK_NETWORKS_DAY), onset, V(OBK_W_NETWORKS)));
    }

    add(&tl, SG_OBR_BOUNCES, bounce_grade(acct, cls, m->t));

    if (dom != NULL) {
        add(&tl, SG_OBR_DOMAIN,
            grade(sg_ob_ring_sum(dom, W_DAY, F_MSG, m->t) + 1.0, V(OBK_DOM_MSG_DAY), onset,
                  V(OBK_W_DOMAIN)));
        add(&tl, SG_OBR_DOMAIN,
            grade((double)sg_ob_ring_sum(dom, W_DAY, F_RCPT, m->t) + nrcpt, V(OBK_DOM_RCPT_DAY),
                  onset, V(OBK_W_DOMAIN)));
    }

    /* the decision */
    if (tl.score >= V(OBK_BLOCK_SCORE))
        action = SG_OB_BLOCK;
    else if (tl.score >= V(OBK_HOLD_SCORE)) {
        action = SG_OB_HOLD;
        if (sg_ob_ring_sum(acct, W_HOUR, F_HOLD, m->t) + 1 >= V(OBK_HOLDS_TO_BLOCK))
            action = SG_OB_BLOCK;
    } else if (throttle)
        action = SG_OB_THROTTLE;
    out->action = action;
    out->score = tl.score;
    out->reasons = action == SG_OB_THROTTLE ? throttle : action == SG_OB_ALLOW ? 0 : tl.reasons;

    /* the login happened whatever the answer */
    if (have_net)
        note_net(acct, net, m->t);
    if (action == SG_OB_THROTTLE)
        return SG_OK; /* refused for now: not sent, not counted */

    sg_ob_ring_add(acct, F_MSG, m->t, 1);
    sg_ob_ring_add(acct, F_RCPT, m->t, nrcpt);
    sg_ob_ring_add(acct, F_NEW, m->t, nnew);
    sg_ob_ring_add(acct, F_EXT, m->t, next);
    sg_ob_ring_add(acct, F_NEWINT, m->t, nnewint);
    if (bh != 0)
        note_body(acct, bh, m->t, nrcpt);
    if (dom != NULL) {
        if (dom->created == 0)
            dom->created = m->t;
        dom->last_t = m->t;
        sg_ob_ring_add(dom, F_MSG, m->t, 1);
        sg_ob_ring_add(dom, F_RCPT, m->t, nrcpt);
        sg_ob_ring_add(dom, F_EXT, m->t, next);
    }
    if (action == SG_OB_ALLOW) {
        /* only delivered mail teaches the history and the baseline */
        for (size_t i = 0; i < m->nrcpts; i++) {
            const char *r = m->rcpts[i] ? m->rcpts[i] : "";
            /* a recipient not learnt is new once more next time: the
             * decision made stands */
            (void)sg_ob_bloom_add(acct, r);
        }
        acct->cur[F_RCPT] += nrcpt;
        acct->cur[F_NEW] += nnew;
        acct->cur[F_NEWINT] += nnewint;
        return SG_OK;
    }
    sg_ob_ring_add(acct, F_HOLD, m->t, 1);
    if (action == SG_OB_BLOCK) {
        sg_ob_account_block(acct, m->t, tl.reasons);
        out->tripped = 1;
    }
    return SG_OK;
}

void sg_ob_note_refusal(const sg_ob_policy *p, sg_ob_account *acct, int64_t t)
{
    if (p == NULL || acct == NULL || t < 0 || t > SG_OB_TIME_MAX)
        return;
    sg_ob_ring_add(acct, F_REFUSE, t, 1);
}

int sg_ob_note_dsn(const sg_ob_policy *p, sg_ob_account *acct, int64_t t, const char *status,
                   sg_ob_decision *out)
{
    const ob_class *cls;
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (p == NULL || acct == NULL || status == NULL || t < 0 || t > SG_OB_TIME_MAX)
        return SG_EINVAL;
    /* RFC 3463: class 5 is a permanent failure; 4 is transient */
    if (status[0] != '5' || status[1] != '.')
        return SG_OK;
    /* the report does not say which login's class applies: "default" */
    cls = &p->classes[0];
    sg_ob_ring_add(acct, F_BOUNCE, t, 1);
    if (!acct->blocked && V(OBK_W_BOUNCES) > 0 && bounce_rate(acct, cls, t) >= V(OBK_BOUNCE_HOLD)) {
        sg_ob_account_block(acct, t, SG_OBR_BOUNCES);
        if (out != NULL) {
            out->action = SG_OB_BLOCK;
            out->reasons = SG_OBR_BOUNCES;
            out->score = bounce_grade(acct, cls, t);
            out->tripped = 1;
        }
    }
    return SG_OK;
}

/* ---- recipients a report from outside failed ---- */

/* A failed recipient counts once a day, however many reports name it:
 * whoever the account wrote to can send authentic reports about that
 * address (his own) as often as he likes, and each used to count as one
 * more hard bounce, until the account was blocked. */
#define OB_BOUNCE_ONCE 86400

/* And one reporting domain counts at most this many failed recipients of
 * an account a day (adv28 OB-1). Anyone can authenticate a domain of his
 * own and report failures; even with a history no one can forge, its
 * false positives (~1% when full) let one made-up recipient in a hundred
 * count. Real bounce storms come back from many receiving domains:
 * bounce_hold (10%) of bounce_min_sample (50) is 5 bounces, so at least
 * three reporting domains are needed to block, and more as the account
 * sends more. Two, not one: one receiving domain may honestly fail two
 * of an account's recipients in a day (a colleague gone, a full box). */
#define OB_BOUNCES_PER_REPORTER 2

static int bounced_find(const sg_ob_account *a, uint64_t h)
{
    for (int i = 0; i < OB_BOUNCED; i++)
        if (a->bounced_t[i] != 0 && a->bounced[i] == h)
            return i;
    return -1;
}

/* slot k counted within a day of t (before or after: a replay may go back) */
static int bounced_within(const sg_ob_account *a, int k, int64_t t)
{
    int64_t d = t - (a->bounced_t[k] - 1);
    return a->bounced_t[k] != 0 && d < OB_BOUNCE_ONCE && d > -OB_BOUNCE_ONCE;
}

static int bounced_recently(const sg_ob_account *a, uint64_t h, int64_t t)
{
    int k = bounced_find(a, h);
    return k >= 0 && bounced_within(a, k, t);
}

/* Failed recipients the reporter `by` counted within a day of t. */
static int bounced_by_reporter(const sg_ob_account *a, uint64_t by, int64_t t)
{
    int n = 0;
    for (int i = 0; i < OB_BOUNCED; i++)
        n += a->bounced_by[i] == by && bounced_within(a, i, t);
    return n;
}

/* stamp: the time plus one (0 marks a free slot). A new address takes a
 * free slot, else the oldest one unless that is newer. */
static void bounced_put(sg_ob_account *a, uint64_t h, uint64_t by, int64_t stamp)
{
    int k = bounced_find(a, h);
    if (k >= 0) {
        if (a->bounced_t[k] < stamp) {
            a->bounced_t[k] = stamp;
            a->bounced_by[k] = by;
        }
        return;
    }
    k = 0;
    for (int i = 1; i < OB_BOUNCED && a->bounced_t[k] != 0; i++)
        if (a->bounced_t[i] < a->bounced_t[k])
            k = i;
    if (a->bounced_t[k] != 0 && a->bounced_t[k] >= stamp)
        return;
    a->bounced[k] = h;
    a->bounced_t[k] = stamp;
    a->bounced_by[k] = by;
}

int sg_ob_note_dsn_sent(const sg_ob_policy *p, sg_ob_account *acct, int64_t t, const char *status,
                        const char *reporter, const char *own, const char *const *rcpts,
                        size_t nrcpts, int *counted, sg_ob_decision *out)
{
    uint64_t known[2], by;
    size_t nknown = 0;
    int recent = 0;
    if (counted != NULL)
        *counted = 0;
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (p == NULL || acct == NULL || status == NULL || (rcpts == NULL && nrcpts > 0) || t < 0 ||
        t > SG_OB_TIME_MAX)
        return SG_EINVAL;
    /* one of ours named failed is no evidence from outside (rev21 R-1) */
    for (size_t i = 0; i < nrcpts; i++)
        if (rcpts[i] != NULL && sg_ob_policy_internal(p, rcpts[i], own))
            return SG_OK;
    /* the addresses of one failed recipient (Final- and Original-Recipient),
     * by the keyed history only */
    for (size_t i = 0; i < nrcpts; i++) {
        uint64_t h;
        int rc;
        if (rcpts[i] == NULL || rcpts[i][0] == '\0' ||
            (rc = sg_ob_bloom_has(acct, rcpts[i], 1, &h)) == 0)
            continue;
        if (rc < 0)
            return rc;
        recent |= bounced_recently(acct, h, t);
        if (nknown < sizeof(known) / sizeof(known[0]))
            known[nknown++] = h;
    }
    if (nknown == 0 || recent)
        return SG_OK;
    /* never 0 (the mark of a failure's other address) */
    int rc = sg_ob_rcpt_hash(acct, reporter ? reporter : "", &by);
    if (rc != SG_OK)
        return rc;
    by |= 1;
    if (bounced_by_reporter(acct, by, t) >= OB_BOUNCES_PER_REPORTER)
        return SG_OK;
    rc = sg_ob_note_dsn(p, acct, t, status, out);
    if (rc == SG_OK && status[0] == '5' && status[1] == '.') {
        for (size_t i = 0; i < nknown; i++)
            bounced_put(acct, known[i], i == 0 ? by : 0, t + 1);
        if (counted != NULL)
            *counted = 1;
    }
    return rc;
}

/* ---- two records of one account made one ---- */

int sg_ob_account_merge(sg_ob_account *dst, const sg_ob_account *src)
{
    if (dst == NULL || src == NULL)
        return SG_EINVAL;
    int64_t rel = dst->released_at;
    sg_ob_ring_merge(dst, src, rel);
    /* recipients known: src's bits join dst's current generation (a union
     * of the sets; a fuller filter only errs towards "known" a little more
     * often until it turns over), when both were keyed alike. A history
     * kept under another key (memory during an outage, started before the
     * store's record was seen) means nothing here: left out, with the
     * failed recipients it remembers (those recipients are new once more,
     * and a bounce may count once more) */
    int same_key = sg_ob_bloom_merge(dst, src);
    for (uint32_t i = 0; i < src->nnet && i < OB_NETS; i++) {
        if (src->net_last[i] < rel)
            continue;
        int k = find_net(dst, src->net[i]);
        if (k < 0) { /* a free slot, or the least recent if older than this one */
            if (dst->nnet < OB_NETS) {
                k = (int)dst->nnet++;
            } else {
                k = least_recent_net(dst);
                if (dst->net_last[k] >= src->net_last[i])
                    continue;
            }
            memcpy(dst->net[k], src->net[i], 16);
            dst->net_first[k] = src->net_first[i];
            dst->net_last[k] = src->net_last[i];
            continue;
        }
        if (src->net_first[i] < dst->net_first[k])
            dst->net_first[k] = src->net_first[i];
        if (src->net_last[i] > dst->net_last[k])
            dst->net_last[k] = src->net_last[i];
    }
    for (int i = 0; i < OB_BODIES; i++) {
        if (src->body_t[i] == 0 || src->body_t[i] < rel)
            continue;
        int k = find_body(dst, src->body[i], src->body_t[i]);
        if (k >= 0) {
            dst->body_rcpts[k] = ob_sat_add(dst->body_rcpts[k], src->body_rcpts[i]);
            if (src->body_t[i] < dst->body_t[k])
                dst->body_t[k] = src->body_t[i];
            continue;
        }
        k = oldest_body(dst);
        if (dst->body_t[k] < src->body_t[i]) {
            dst->body[k] = src->body[i];
            dst->body_t[k] = src->body_t[i];
            dst->body_rcpts[k] = src->body_rcpts[i];
        }
    }
    /* a recipient counted on either side is not counted again that day */
    for (int i = 0; i < OB_BOUNCED && same_key; i++)
        if (src->bounced_t[i] != 0)
            bounced_put(dst, src->bounced[i], src->bounced_by[i], src->bounced_t[i]);
    /* the baseline: dst's, or src's when dst has learned nothing yet */
    if (dst->base_hour == 0 && dst->base_hours == 0 &&
        (src->base_hour != 0 || src->base_hours != 0)) {
        dst->base_hour = src->base_hour;
        memcpy(dst->cur, src->cur, sizeof(dst->cur));
        memcpy(dst->ewma_rcpt, src->ewma_rcpt, sizeof(dst->ewma_rcpt));
        memcpy(dst->ewma_new, src->ewma_new, sizeof(dst->ewma_new));
        memcpy(dst->ewma_int, src->ewma_int, sizeof(dst->ewma_int));
        dst->peak_rcpt = src->peak_rcpt;
        dst->peak_new = src->peak_new;
        dst->peak_int = src->peak_int;
        dst->base_hours = src->base_hours;
    } else if (dst->base_hour == src->base_hour) {
        for (int f = 0; f < F_COUNT; f++)
            dst->cur[f] = ob_sat_add(dst->cur[f], src->cur[f]);
    }
    if (src->created != 0 && (dst->created == 0 || src->created < dst->created))
        dst->created = src->created;
    if (src->last_t > dst->last_t)
        dst->last_t = src->last_t;
    if (src->blocked && src->blocked_since > rel) /* a release in the same second wins */
        sg_ob_account_block(dst, src->blocked_since, src->block_reasons);
    return SG_OK;
}
