/*
 * An inbound message: its verdict (SPF, DKIM, DMARC, ARC) set up at MAIL
 * and asked for at end of message, the disposition it leads to
 * (disposition.c) applied when it comes (session_answer.c); and, for a
 * null sender, the delivery-status report kept (bounded) and, once found
 * authentic, noted for the outbound account it came back to (dsn.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dsn.h"
#include "session_priv.h"

static void dsn_note(session *s, const sg_disposition *d, const sg_verdict_result *vr);

/* ------------------------------------------------------------------------ */
/* inbound: verdict, Authentication-Results, disposition                     */

/* MAIL of an inbound message: its verdict (one of the worker's pool when
 * there is one), and our ARC set when we seal. */
void inbound_start(session *s)
{
    const sg_config *cfg = &s->pol->cfg;
    /* a null sender: perhaps a report on our own mail (dsn.h) */
    s->dsn_on = s->mail_from[0] == '\0' && s->env->obd && cfg->outbound &&
                sg_maps_have_sender_map(s->pol->maps);
    sg_verdict_opts o;
    sg_verdict_opts_init(&o);
    sg_dmarc_opts dmarc; /* copied by sg_verdict_new */
    sg_dmarc_opts_init(&dmarc);
    dmarc.suffix_guard = cfg->dmarc_suffix_guard;
    dmarc.psl = s->pol->psl; /* NULL (no list at all): the library's built-in one */
    o.dmarc = &dmarc;
    o.authserv_id = s->pol->authserv_id;
    o.protected_domains = (const char *const *)cfg->protected_domains;
    o.nprotected = cfg->n_protected_domains;
    o.trusted_arc_sealers = (const char *const *)cfg->trusted_arc_sealers;
    o.ntrusted_arc_sealers = cfg->n_trusted_arc_sealers;
    o.keycache = s->env->keycache;
    o.spf_cache = s->env->spf_cache;
    /* a verdict of an earlier message, reset, when the worker has one */
    if ((s->verdict = sg_vpool_get(s->env->vpool, s->pol)) == NULL &&
        sg_verdict_new(&s->verdict, s->env->resolver, &o) != 0) {
        s->fail = "out of memory";
        return;
    }
    sg_verdict_envelope env = {
        .client_ip = s->client_ip[0] ? s->client_ip : NULL,
        .helo = s->helo[0] ? s->helo : NULL,
        .mail_from = s->mail_from,
    };
    if (sg_verdict_envelope_set(s->verdict, &env) != 0)
        s->fail = "SPF set-up failed";
    const sg_map_key *ak = sg_maps_key_named(s->pol->maps, cfg->arc_seal_key);
    if (ak && sg_arcseal_begin(&s->seal, ak, s->pol->authserv_id) != 0)
        s->fail = "out of memory";
}

static void inbound_done(const sg_verdict_result *vr, void *payload)
{
    session *s = payload;
    sg_disposition d;
    s->state = MSG_ANSWERING;
    if (s->timer_live)
        uv_timer_stop(&s->timer);
    sg_disposition_inbound(&s->pol->cfg, vr, &d);
    if (d.failsafe && s->gave_up) {
        /* temporary because the budget ended the wait: said as such (the
         * log, spoofguard_failsafe_total{cause="timeout"}) */
        d.cause = SG_MFS_TIMEOUT;
        d.why = MSG_TIMEOUT;
    }
    s->gave_up = 0;
    dsn_note(s, &d, vr);
    if (apply(s, &d, vr)) {
        /* our ARC set waits for the signer: the verdict (vr) stays. It is
         * known, and the seal only adds to it: a stalled signer must not
         * hold inbound mail for message_timeout (60 s, past Postfix's
         * milter_content_timeout: adv12 F5); on_timeout gives the answer
         * without our set */
        uint64_t ms = (uint64_t)s->pol->cfg.message_timeout_s * 1000;
        wait_answer(s, ms < SEAL_WAIT_MS ? ms : SEAL_WAIT_MS);
        return;
    }
    message_reset(s);
    flush(s);
}

/* End of an inbound message. Returns 1 when the answer waits for the
 * verdict (inbound_done gives it), 0 when it was given now. */
int inbound_eom(session *s)
{
    wait_answer(s, (uint64_t)s->pol->cfg.message_timeout_s * 1000);
    int frc = sg_verdict_finish(s->verdict, inbound_done, s);
    if (sg_disposition_header_reply(frc) != NULL && s->state == MSG_WAITING) {
        /* the sender's header, judged at its end: refused for good
         * as at the feed, never the fail-safe answer */
        s->state = MSG_OPEN;
        refuse(s, sg_disposition_header_reply(frc));
    } else if (frc != 0 && s->state == MSG_WAITING) {
        s->state = MSG_OPEN;
        failsafe(s, "verdict failed");
    } else {
        return 1; /* inbound_done answers and resets */
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* inbound: delivery-status reports for our outbound accounts                */

/* Keep the first DSN_MAX_BYTES of a null-sender message. */
void dsn_keep(session *s, const char *data, size_t len)
{
    if (len > DSN_MAX_BYTES - s->dsn_len)
        len = DSN_MAX_BYTES - s->dsn_len;
    if (s->dsn_len + len > s->dsn_cap) {
        size_t cap = s->dsn_cap ? s->dsn_cap * 2 : 16384;
        while (cap < s->dsn_len + len)
            cap *= 2;
        char *n = realloc(s->dsn, cap);
        if (n == NULL) {
            s->dsn_on = 0; /* a report not read costs nothing but its count */
            return;
        }
        s->dsn = n;
        s->dsn_cap = cap;
    }
    memcpy(s->dsn + s->dsn_len, data, len);
    s->dsn_len += len;
}

static int same_addr(const char *a, const char *b)
{
    return a[0] != '\0' && !strcasecmp(a, b);
}

/* The same failed recipient once: a report may repeat a group (32 groups
 * for one address counted 32 bounces), also with the other address of
 * the pair changed each time. */
static int dsn_seen(const sg_dsn_failure *f, size_t i)
{
    for (size_t k = 0; k < i; k++)
        if (f[k].status[0] == f[i].status[0] && /* a delay does not hide a failure */
            (same_addr(f[i].final_rcpt, f[k].final_rcpt) ||
             same_addr(f[i].final_rcpt, f[k].orig_rcpt) ||
             same_addr(f[i].orig_rcpt, f[k].final_rcpt) ||
             same_addr(f[i].orig_rcpt, f[k].orig_rcpt)))
            return 1;
    return 0;
}

/* A delivered, authentic delivery-status report: each failed recipient
 * goes to the account that owns the address it came back to. A forged
 * report could otherwise raise anyone's bounce rate, hence authentic only
 * (our verdict: SPF or DKIM aligned with its From), and the engine counts
 * only recipients the account sent to (sg_ob_note_dsn_sent). One report
 * counts each failed recipient once, for each account once, however many
 * of its groups repeat the recipient or of its envelope recipients belong
 * to that account: before, one 2.7 KB report counted up to 16 x 32. */
static void dsn_note(session *s, const sg_disposition *d, const sg_verdict_result *vr)
{
    sg_dsn_failure f[SG_DSN_MAX];
    const char *done[16];
    size_t ndone = 0;
    /* delivered: inbound mail that goes on is CONTINUE (ACCEPT is for
     * signed outbound mail), and a quarantined report does not count */
    if (!s->dsn_on || s->dsn_len == 0 || vr == NULL || vr->verdict != SG_VERDICT_AUTHENTIC ||
        d->action != SG_ACT_CONTINUE || d->quarantine || d->failsafe)
        return;
    size_t n = sg_dsn_failed(s->dsn, s->dsn_len, f, SG_DSN_MAX);
    /* who reports: the engine counts at most 2 failures a day of an
     * account from one reporter. Its registrable domain by the public
     * suffix list, or every subdomain of a domain of one's own would be
     * another reporter; not DMARC's Organizational Domain first, which a
     * psd=y of the reporter's own making moves down a label. */
    const char *reporter = NULL;
    if (s->pol->psl && vr->dmarc.author_domain && s->arena)
        (void)sg_dmarc_psl_registrable(s->arena, s->pol->psl, vr->dmarc.author_domain, &reporter);
    if (reporter == NULL)
        reporter = vr->dmarc.org_domain      ? vr->dmarc.org_domain
                   : vr->dmarc.author_domain ? vr->dmarc.author_domain
                                             : "";
    for (size_t r = 0; n > 0 && r < s->nrcpts && r < 16; r++) {
        const char *login = sg_maps_login_of(s->pol->maps, s->rcpts[r]);
        int again = 0;
        if (login == NULL)
            continue;
        for (size_t k = 0; k < ndone; k++)
            again |= !strcmp(done[k], login);
        if (again)
            continue;
        done[ndone++] = login;
        const char *at = strrchr(s->rcpts[r], '@');
        for (size_t i = 0; i < n; i++)
            if (!dsn_seen(f, i))
                sg_obd_note(s->env->obd, s->pol, login, &f[i], reporter, at ? at + 1 : NULL,
                            s->queue_id);
    }
}
