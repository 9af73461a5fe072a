/* The viewer's connection pool (see conns.h). */
#include "conns.h"

#include <string.h>

void sgv_pool_init(sgv_pool *p, size_t max, size_t per_client, long long head_ms, long long body_ms)
{
    memset(p, 0, sizeof(*p));
    p->max = max > SGV_POOL_SLOTS / 2 ? SGV_POOL_SLOTS / 2 : max;
    p->per_client = per_client > p->max ? p->max : per_client;
    p->head_ms = head_ms;
    p->body_ms = body_ms;
}

static int counts(const sgv_conn *c)
{
    return c->phase != SGV_CONN_FREE && !c->closing;
}

size_t sgv_pool_count(const sgv_pool *p, const sgv_client_key *k)
{
    size_t n = 0;
    for (size_t i = 0; i < SGV_POOL_SLOTS; i++)
        if (counts(&p->slot[i]) && (k == NULL || !memcmp(&p->slot[i].key, k, sizeof(*k))))
            n++;
    return n;
}

sgv_conn *sgv_pool_open(sgv_pool *p, const sgv_client_key *k, int fd, long long now_ms,
                        int *victim_fd)
{
    sgv_conn *free_slot = NULL, *oldest = NULL;
    size_t all = 0, mine = 0;
    *victim_fd = -1;
    for (size_t i = 0; i < SGV_POOL_SLOTS; i++) {
        sgv_conn *c = &p->slot[i];
        if (c->phase == SGV_CONN_FREE) {
            if (free_slot == NULL)
                free_slot = c;
            continue;
        }
        if (!counts(c))
            continue;
        all++;
        if (!memcmp(&c->key, k, sizeof(*k)))
            mine++;
        /* the connection that has waited longest on its client */
        if (c->phase != SGV_CONN_ANSWER && (oldest == NULL || c->since_ms < oldest->since_ms))
            oldest = c;
    }
    if (free_slot == NULL || mine >= p->per_client)
        return NULL;
    if (all >= p->max) { /* full: make room rather than refuse */
        if (oldest == NULL)
            return NULL;
        oldest->closing = 1;
        *victim_fd = oldest->fd;
    }
    memset(free_slot, 0, sizeof(*free_slot));
    free_slot->key = *k;
    free_slot->fd = fd;
    free_slot->phase = SGV_CONN_HEAD;
    free_slot->since_ms = now_ms;
    return free_slot;
}

void sgv_pool_phase(sgv_conn *c, sgv_conn_phase phase, long long now_ms)
{
    c->phase = phase;
    c->since_ms = now_ms;
}

void sgv_pool_remove(sgv_conn *c)
{
    memset(c, 0, sizeof(*c));
}

size_t sgv_pool_expire(sgv_pool *p, long long now_ms, int *fds, size_t cap, long long *next_ms)
{
    size_t n = 0;
    int more = 0;
    *next_ms = -1;
    for (size_t i = 0; i < SGV_POOL_SLOTS; i++) {
        sgv_conn *c = &p->slot[i];
        if (!counts(c) || c->phase == SGV_CONN_ANSWER)
            continue;
        long long due = c->since_ms + (c->phase == SGV_CONN_HEAD ? p->head_ms : p->body_ms);
        if (due > now_ms) {
            if (*next_ms < 0 || due < *next_ms)
                *next_ms = due;
        } else if (n < cap) {
            c->closing = 1;
            fds[n++] = c->fd;
        } else {
            more = 1;
        }
    }
    if (more) /* the rest are due already */
        *next_ms = now_ms;
    return n;
}
