/* The viewer's connection pool (see conns.h). */
#include "conns.h"

#include <stdint.h>
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

/* Each client's places and its connection that has waited longest on it,
 * in a small open-addressing table (SGV_POOL_SLOTS clients at most). */
typedef struct {
    const sgv_client_key *key; /* NULL: an empty entry */
    size_t n;
    sgv_conn *oldest; /* head or body not complete, waited longest */
} client_places;

#define PLACES_BITS 10 /* 1024 entries, twice SGV_POOL_SLOTS */
_Static_assert((1u << PLACES_BITS) >= 2 * SGV_POOL_SLOTS, "the table has room for every client");

static client_places *places_of(client_places *t, const sgv_client_key *k)
{
    uint32_t h = 2166136261u; /* FNV-1a: the keys are addresses, not secrets */
    for (size_t i = 0; i < sizeof(k->b); i++)
        h = (h ^ k->b[i]) * 16777619u;
    for (uint32_t i = h >> (32 - PLACES_BITS);; i = (i + 1) & ((1u << PLACES_BITS) - 1)) {
        if (t[i].key == NULL)
            t[i].key = k;
        if (!memcmp(t[i].key, k, sizeof(*k)))
            return &t[i];
    }
}

/* Whom to close when the pool is full: a connection waiting on its client
 * (head or body not complete) of the client holding the most places, the
 * newcomer's counted; of its, the one that has waited longest; between
 * clients holding as many, the longer wait. Closing the longest wait of
 * anyone let 16 clients that reconnect as fast as they are closed push
 * every reader out whose request came 30 ms after its connection (adv32
 * F2): each closure gave a place back to whoever made it. Now a client
 * pushes out only the connections of clients holding at least as many
 * places as it will, itself first. NULL when every connection is being
 * answered. */
static sgv_conn *victim(sgv_pool *p, const sgv_client_key *newcomer)
{
    client_places t[1u << PLACES_BITS];
    client_places *best = NULL;
    memset(t, 0, sizeof(t));
    places_of(t, newcomer)->n++;
    for (size_t i = 0; i < SGV_POOL_SLOTS; i++) {
        sgv_conn *c = &p->slot[i];
        if (!counts(c))
            continue;
        client_places *e = places_of(t, &c->key);
        e->n++;
        if (c->phase != SGV_CONN_ANSWER && (e->oldest == NULL || c->since_ms < e->oldest->since_ms))
            e->oldest = c;
    }
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        client_places *e = &t[i];
        if (e->oldest != NULL &&
            (best == NULL || e->n > best->n ||
             (e->n == best->n && e->oldest->since_ms < best->oldest->since_ms)))
            best = e;
    }
    return best ? best->oldest : NULL;
}

sgv_conn *sgv_pool_open(sgv_pool *p, const sgv_client_key *k, int fd, long long now_ms,
                        int *victim_fd)
{
    sgv_conn *free_slot = NULL;
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
    }
    if (free_slot == NULL || mine >= p->per_client)
        return NULL;
    if (all >= p->max) { /* full: make room rather than refuse */
        sgv_conn *v = victim(p, k);
        if (v == NULL)
            return NULL;
        v->closing = 1;
        *victim_fd = v->fd;
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
