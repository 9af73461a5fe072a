/*
 * The part of a verifier the DKIM and the ARC verifier share: the
 * message's arena and body hashes, its stages, and the wait for keys.
 * See dkim_int.h.
 */
#include "dkim_int.h"

#include <string.h>
#include <time.h>

int sg_dkim_vcore_init(sg_dkim_vcore *c, sg_resolver *resolver, sg_dkim_keycache *cache)
{
    int rc;
    memset(c, 0, sizeof(*c));
    if ((rc = sg_arena_new(&c->arena, 16384)) != 0)
        return rc;
    c->resolver = resolver;
    c->cache = cache;
    sg_bodyhash_init(&c->own_bh, sg_dkim_sha256(cache));
    c->bh = &c->own_bh;
    return SG_OK;
}

void sg_dkim_vcore_reset(sg_dkim_vcore *c)
{
    sg_bodyhash_reset(&c->own_bh); /* a lent set is its owner's to reset */
    sg_arena_reset(c->arena);
    c->pending = 0;
    c->have_headers = c->body_done = 0;
}

void sg_dkim_vcore_free(sg_dkim_vcore *c)
{
    sg_bodyhash_free(&c->own_bh);
    sg_arena_free(c->arena);
}

int sg_dkim_vcore_headers(sg_dkim_vcore *c, int64_t now)
{
    if (c->have_headers)
        return SG_ESTATE;
    c->have_headers = 1;
    c->now = now ? now : (int64_t)time(NULL);
    return SG_OK;
}

int sg_dkim_vcore_body(sg_dkim_vcore *c, const char *data, size_t len)
{
    if (data == NULL && len > 0)
        return SG_EINVAL;
    if (!c->have_headers || c->body_done || c->bh != &c->own_bh)
        return SG_ESTATE;
    sg_bodyhash_update(c->bh, data, len);
    return SG_OK;
}

int sg_dkim_vcore_end_body(sg_dkim_vcore *c)
{
    int rc;
    if (!c->have_headers)
        return SG_ESTATE;
    if (c->body_done)
        return 0;
    c->body_done = 1;
    /* a lent set is final already when its owner finished the body;
     * final is idempotent */
    if ((rc = sg_bodyhash_final(c->bh)) != 0)
        return rc;
    return 1;
}

int sg_dkim_vcore_wait(sg_dkim_vcore *c, int rc, void (*give_up)(void *self), void *self)
{
    while (rc > 0) {
        rc = sg_resolver_run(c->resolver, -1);
        if (rc < 0)
            return rc;
        if (rc == 0 && c->pending > 0) {
            /* the resolver has nothing left for us: never hang */
            give_up(self);
            c->pending = 0;
        }
        rc = (int)c->pending;
    }
    return rc;
}
