/*
 * Our ARC set on inbound mail we pass on (arc_seal_key; arcseal.h): once
 * the disposition is decided (session_answer.c), the set's two signatures
 * are asked of the signer process one after the other, and the answer
 * waits for them; a failure costs the set, never the message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_priv.h"

static int seal_ask(session *s, const uint8_t digest[32]);

void seal_left_off(session *s, const char *why)
{
    sg_log(s->env->log, "{\"event\":\"arc_seal_unsigned\",\"queue_id\":\"%s\",\"why\":\"%s\"}",
           s->queue_id, why);
    sg_mc_inc(&s->env->metrics->arc_seals[1], 1);
}

/* The signer's answer to one of the seal's two signatures. A failure
 * costs the set, never the message. */
static void seal_signed(int status, const uint8_t *const *sigs, const size_t *siglens, size_t n,
                        void *payload)
{
    session *s = payload;
    uint8_t digest[32];
    int rc = status == SG_SP_OK && n == 1 ? 1 : SG_ECRYPTO;
    s->sign_req = 0;
    if (rc == 1 && (rc = sg_arcseal_signed(s->seal, sigs[0], siglens[0], digest)) == 1 &&
        seal_ask(s, digest) == 0)
        return; /* the second signature */
    if (rc == 0) {
        const char *names[3], *values[3];
        size_t k, nf = sg_arcseal_fields(s->seal, names, values), max = 0;
        for (k = 0; k < nf; k++)
            if (strlen(values[k]) > max)
                max = strlen(values[k]);
        /* one buffer for the three, so memory running out cannot leave
         * half a set (a broken chain) on the message */
        char *v = malloc(max + 2);
        if (v == NULL) {
            seal_left_off(s, sg_strerror(SG_ENOMEM));
        } else {
            for (k = 0; k < nf; k++) {
                snprintf(v, max + 2, "%s%s", s->proto & SG_MP_HDR_LEADSPC ? " " : "", values[k]);
                sg_milter_put_insheader(&s->out, 0, names[k], v);
            }
            free(v);
            sg_mc_inc(&s->env->metrics->arc_seals[0], 1);
        }
    } else {
        seal_left_off(s, status != SG_SP_OK ? sg_signer_status_str(status)
                         : rc == 1          ? sg_signer_status_str(SG_SIGNER_GONE)
                                            : sg_strerror(rc));
    }
    s->sealing = 0;
    s->state = MSG_OPEN;
    if (s->timer_live)
        uv_timer_stop(&s->timer);
    give(s, &s->pend, s->pend_vr);
    message_reset(s);
    flush(s);
}

/* Ask the signer for a signature of the seal; 0, or -1 if it is gone. */
static int seal_ask(session *s, const uint8_t digest[32])
{
    const sg_map_key *k = sg_maps_key_named(s->pol->maps, s->pol->cfg.arc_seal_key);
    sg_sp_item it = {(uint8_t)k->alg, k->path, strlen(k->path), digest};
    s->sign_req = sg_signer_sign(s->env->signer, &it, 1, seal_signed, s);
    return s->sign_req != 0 ? 0 : -1;
}

/* As a forwarder (arc_seal_key): start our ARC set on top of a message we
 * pass on. Returns 1 when the answer waits for the signer (seal_signed
 * gives it), 0 when there is no set to add. */
int seal_start(session *s, const sg_disposition *d, const sg_verdict_result *vr)
{
    uint8_t digest[32];
    /* cv=fail is final for every later hop (RFC 8617 5.1.2): not written
     * for a chain whose keys only failed to answer */
    if (vr->arc != NULL && vr->arc->temporary) {
        seal_left_off(s, "a key of the ARC chain got no answer");
        return 0;
    }
    int rc = sg_arcseal_prepare(s->seal, vr, digest);
    if (rc == 1 && seal_ask(s, digest) == 0) {
        s->pend = *d;
        if (d->reply == d->replybuf)
            s->pend.reply = s->pend.replybuf;
        s->pend_vr = vr;
        s->sealing = 1;
        return 1;
    }
    if (rc != 0)
        seal_left_off(s, rc == 1 ? sg_signer_status_str(SG_SIGNER_GONE) : sg_strerror(rc));
    return 0;
}
