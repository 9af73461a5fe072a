/*
 * A worker's verdicts of finished messages, reset and kept for the next
 * ones, and the verdicts whose free must wait until their own callback
 * has unwound (a verdict cannot be freed inside its callback).
 */
#ifndef SG_DAEMON_VERDICT_POOL_H
#define SG_DAEMON_VERDICT_POOL_H

#include <uv.h>

#include "policy.h"

struct sg_verdict;

typedef struct sg_vpool {
    uv_check_t reaper; /* recycles deferred verdicts after each loop turn */
    struct sg_dead {
        struct sg_verdict *v;
        sg_policy *pol; /* a reference */
    } * dead;
    size_t ndead, capdead;
    /* Verdicts of finished messages, reset, for the next ones: all made for
     * pool_pol (a reference), so their options still hold. */
    struct sg_verdict *pool[8];
    size_t npool;
    sg_policy *pool_pol;
} sg_vpool;

void sg_vpool_init(sg_vpool *vp, uv_loop_t *loop);
/* Frees every verdict kept (the loop's handles are closed by the owner). */
void sg_vpool_destroy(sg_vpool *vp);

/* A verdict made earlier for policy pol, reset for a new message; NULL if
 * there is none (make one). */
struct sg_verdict *sg_vpool_get(sg_vpool *vp, const sg_policy *pol);
/* The message of v (made for pol) is over: v is kept for a next message or
 * freed. in_callback: we are inside v's own callback, so this happens once
 * the callback chain has unwound. */
void sg_vpool_done(sg_vpool *vp, struct sg_verdict *v, sg_policy *pol, int in_callback);

#endif
