/*
 * The operations on the outbound records (obops.h).
 */
#include "obops.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A stored record the engine did not write (another version, damage)
 * starts afresh: never half a record. */
static int load(sg_ob_account **a, const sg_obs_rec *r, unsigned bit, unsigned *fresh)
{
    int rc = sg_ob_account_new(a);
    if (rc != 0)
        return rc;
    if (r->cur == NULL)
        return 0;
    if (sg_ob_account_decode(*a, r->cur, r->curlen) != 0) {
        sg_ob_account_free(*a);
        *fresh |= bit;
        return sg_ob_account_new(a);
    }
    return 0;
}

static int save(const sg_ob_account *a, sg_obs_rec *r)
{
    return sg_ob_account_encode(a, r->next, r->nextcap, &r->nextlen);
}

int sg_obop_fn(void *ctx, sg_obs_rec *r, size_t n)
{
    sg_obop *op = ctx;
    sg_ob_account *acct = NULL, *dom = NULL;
    int rc;
    op->fresh = 0;
    memset(&op->out, 0, sizeof(op->out));
    if ((rc = load(&acct, &r[0], 1u, &op->fresh)) != 0)
        goto out;
    if (n > 1 && (rc = load(&dom, &r[1], 2u, &op->fresh)) != 0)
        goto out;
    switch (op->kind) {
    case SG_OBOP_DECIDE:
        rc = sg_ob_decide(op->pol, acct, dom, op->msg, &op->out);
        break;
    case SG_OBOP_REFUSAL:
        sg_ob_note_refusal(op->pol, acct, op->t);
        break;
    case SG_OBOP_DSN:
        rc = op->dsn_checked ? sg_ob_note_dsn_sent(op->pol, acct, op->t, op->status, op->dsn_rcpts,
                                                   op->dsn_nrcpts, NULL, &op->out)
                             : sg_ob_note_dsn(op->pol, acct, op->t, op->status, &op->out);
        break;
    case SG_OBOP_BLOCK:
        sg_ob_account_block(acct, op->t, op->reasons);
        break;
    case SG_OBOP_RELEASE:
        sg_ob_account_release(acct, op->t);
        break;
    }
    if (rc == 0)
        rc = save(acct, &r[0]);
    if (rc == 0 && n > 1)
        rc = save(dom, &r[1]);
out:
    op->engine_rc = rc;
    sg_ob_account_free(acct);
    sg_ob_account_free(dom);
    return rc;
}

void sg_obop_recs_init(sg_obop_recs *rr, const char *acct, const char *mail_from)
{
    memset(rr->rec, 0, sizeof(rr->rec));
    rr->n = 1;
    rr->rec[0].key = acct;
    rr->dom[0] = '\0';
    const char *at = mail_from ? strrchr(mail_from, '@') : NULL;
    if (at && at[1] && strlen(at) <= SG_OBS_KEY_MAX) {
        size_t i = 0;
        rr->dom[i++] = '@';
        for (const char *p = at + 1; *p; p++)
            rr->dom[i++] = (char)tolower((unsigned char)*p);
        rr->dom[i] = '\0';
        rr->rec[1].key = rr->dom;
        rr->n = 2;
    }
    for (size_t i = 0; i < SG_OBS_MAXKEYS; i++) {
        rr->rec[i].next = rr->buf[i];
        rr->rec[i].nextcap = sizeof(rr->buf[i]);
    }
}

int sg_obop_run(sg_obs *s, sg_obop *op, const char *acct, const char *mail_from, char *err,
                size_t errlen)
{
    sg_obop_recs *rr = malloc(sizeof(*rr));
    if (rr == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sg_obop_recs_init(rr, acct, op->kind == SG_OBOP_DECIDE ? mail_from : NULL);
    op->engine_rc = 0;
    int rc = sg_obs_update(s, rr->rec, rr->n, sg_obop_fn, op, err, errlen);
    if (op->engine_rc != 0) {
        snprintf(err, errlen, "engine: %s", sg_strerror(op->engine_rc));
        rc = -1;
    }
    free(rr);
    return rc;
}
