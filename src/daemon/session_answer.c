/*
 * The answer a session gives a message: a disposition decided elsewhere
 * (disposition.c) applied - header edits, our ARC set (session_seal.c),
 * then the reply (session_reply.c) - the fail-safe answer and the
 * refusal, and the time budget of a message that waits.
 */
#include <stdlib.h>
#include <string.h>

#include "session_priv.h"

/* fail-safe causes the metrics tell apart (compared by address) */
const char MSG_TIMEOUT[] = "message time budget exhausted";
const char MSG_OVERLOAD[] = "too many connections";

/* Our Authentication-Results field on top (milter values: bare LF). */
static int put_authres(session *s, const char *authres)
{
    size_t l = strlen(authres);
    char *ar = malloc(l + 2);
    if (ar == NULL)
        return -1;
    char *o = ar;
    if (s->proto & SG_MP_HDR_LEADSPC)
        *o++ = ' ';
    for (size_t i = 0; i < l; i++)
        if (authres[i] != '\r')
            *o++ = authres[i];
    *o = '\0';
    sg_milter_put_insheader(&s->out, 0, "Authentication-Results", ar);
    free(ar);
    return 0;
}

/* Gives the answer d decided (disposition.c): the header edits, our ARC
 * set, the quarantine, the metrics, the log line and the reply. Returns 1
 * when the answer waits for the signer (the ARC set's signatures). */
int apply(session *s, const sg_disposition *d, const sg_verdict_result *vr)
{
    if (d->delete_forged)
        delete_forged_authres(s);
    if (d->add_authres && vr != NULL && vr->authres && (s->actions & SG_MF_ADDHDRS) &&
        put_authres(s, vr->authres) != 0) {
        sg_disposition f;
        sg_disposition_failsafe(&s->pol->cfg, "out of memory", SG_MFS_INTERNAL, &f);
        give(s, &f, NULL);
        return 0;
    }
    if (d->seal && vr != NULL && s->seal && (s->actions & SG_MF_ADDHDRS) && seal_start(s, d, vr))
        return 1;
    give(s, d, vr);
    return 0;
}

void failsafe_as(session *s, sg_mfs cause, const char *why)
{
    sg_disposition d;
    sg_disposition_failsafe(&s->pol->cfg, why, cause, &d);
    apply(s, &d, NULL);
}

void failsafe(session *s, const char *why)
{
    failsafe_as(s,
                why == MSG_TIMEOUT    ? SG_MFS_TIMEOUT
                : why == MSG_OVERLOAD ? SG_MFS_OVERLOAD
                                      : SG_MFS_INTERNAL,
                why);
}

/* The message is refused with the reply decided while it came in. */
void refuse(session *s, const char *smtp_reply)
{
    sg_disposition d;
    sg_disposition_reject(smtp_reply, &d);
    apply(s, &d, NULL);
}

/* The answer to end of message waits, at most ms. */
void wait_answer(session *s, uint64_t ms)
{
    s->state = MSG_WAITING;
    if (!s->timer_live)
        return;
    s->deadline = uv_now(s->timer.loop) + ms;
    uv_timer_start(&s->timer, on_timeout, ms < PROGRESS_MS ? ms : PROGRESS_MS, 0);
}

void on_timeout(uv_timer_t *t)
{
    session *s = t->data;
    if (s->state != MSG_WAITING)
        return;
    uint64_t now = uv_now(t->loop);
    if (now < s->deadline) { /* still working on it */
        sg_milter_put_simple(&s->out, SG_MR_PROGRESS);
        flush(s);
        if (s->closing || s->draining)
            return; /* the write failed, or the answer was the last: the session is going (rev18) */
        uint64_t left = s->deadline - now;
        uv_timer_start(&s->timer, on_timeout, left < PROGRESS_MS ? left : PROGRESS_MS, 0);
        return;
    }
    s->gave_up = 1;
    if (!s->sealing && !s->outbound && s->verdict != NULL &&
        sg_verdict_result_get(s->verdict) == NULL && sg_verdict_give_up(s->verdict) == 0)
        /* the verdict with what is known: a lookup still out counts as a
         * temporary error, which makes the verdict temporary only where
         * it could have aligned with the From domain. The sender's own
         * slow DNS (a CNAME chain answered just before each timeout) held
         * the verdict past the budget and got the fail-safe answer,
         * `accept` included (adv23 F1). inbound_done has answered. */
        return;
    s->gave_up = 0;
    s->state = MSG_OPEN;
    if (s->sealing) { /* the verdict is known: it goes on without our set */
        seal_left_off(s, MSG_TIMEOUT);
        s->sealing = 0;
        give(s, &s->pend, s->pend_vr);
    } else {
        failsafe(s, MSG_TIMEOUT);
    }
    message_reset(s);
    flush(s);
}
