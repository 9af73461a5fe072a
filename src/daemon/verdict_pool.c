/*
 * The worker's verdict pool (see verdict_pool.h).
 */
#include "verdict_pool.h"

#include <stdlib.h>

#include <spoofguard/verdict.h>

static void pool_drain(sg_vpool *w)
{
    while (w->npool > 0)
        sg_verdict_free(w->pool[--w->npool]);
    if (w->pool_pol != NULL)
        sg_policy_unref(w->pool_pol);
    w->pool_pol = NULL;
}

/* Keep v (reset) for the next message, unless the pool is full. A reload
 * empties the pool: verdicts hold pointers into the policy they were made
 * for. */
static void pool_put(sg_vpool *w, struct sg_verdict *v, sg_policy *pol)
{
    if (pol != w->pool_pol) {
        pool_drain(w);
        w->pool_pol = sg_policy_ref(pol);
    }
    if (w->npool == sizeof(w->pool) / sizeof(w->pool[0])) {
        sg_verdict_free(v);
        return;
    }
    sg_verdict_reset(v);
    w->pool[w->npool++] = v;
}

struct sg_verdict *sg_vpool_get(sg_vpool *w, const sg_policy *pol)
{
    return w->npool > 0 && pol == w->pool_pol ? w->pool[--w->npool] : NULL;
}

void sg_vpool_done(sg_vpool *w, struct sg_verdict *v, sg_policy *pol, int in_callback)
{
    if (v == NULL)
        return;
    if (!in_callback) {
        pool_put(w, v, pol);
        return;
    }
    if (w->ndead == w->capdead) {
        size_t cap = w->capdead ? w->capdead * 2 : 16;
        struct sg_dead *d = realloc(w->dead, cap * sizeof(*d));
        if (d == NULL) {
            /* cannot defer: leak it rather than free it under its caller */
            return;
        }
        w->dead = d;
        w->capdead = cap;
    }
    w->dead[w->ndead].v = v;
    w->dead[w->ndead++].pol = sg_policy_ref(pol);
}

static void on_reap(uv_check_t *c)
{
    sg_vpool *w = c->data;
    while (w->ndead > 0) {
        struct sg_dead d = w->dead[--w->ndead];
        pool_put(w, d.v, d.pol);
        sg_policy_unref(d.pol);
    }
}

void sg_vpool_init(sg_vpool *vp, uv_loop_t *loop)
{
    uv_check_init(loop, &vp->reaper);
    vp->reaper.data = vp;
    uv_check_start(&vp->reaper, on_reap);
    uv_unref((uv_handle_t *)&vp->reaper);
}

void sg_vpool_destroy(sg_vpool *w)
{
    while (w->ndead > 0) {
        sg_verdict_free(w->dead[--w->ndead].v);
        sg_policy_unref(w->dead[w->ndead].pol);
    }
    pool_drain(w);
    free(w->dead);
    w->dead = NULL;
    w->capdead = 0;
}
