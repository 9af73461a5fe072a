/*
 * The zone backend: answers come from an in-memory sg_zone. Queries are
 * queued and answered from sg_resolver_run() in FIFO order, never inside
 * sg_resolver_query() (dns.h). A run answers only the queries that were
 * queued when it started, so a query issued from a callback is answered
 * by a later run, as it would be by the network backend. Fault rows give
 * TIMEOUT / SERVFAIL at once: no test ever waits for a timer.
 */
#include "dns/resolver_int.h"
#include "dns/zone.h"

#include <stdlib.h>
#include <string.h>

struct sg_dns_query {
    struct sg_dns_query *prev, *next;
    uint64_t seq;
    uint16_t type;
    sg_dns_cb cb;
    void *payload;
    char *qname;   /* as asked */
    char lname[1]; /* normalised (no trailing dot); qname follows it */
};

typedef struct {
    sg_resolver base;
    const sg_zone *zone;
    struct sg_dns_query *head, *tail;
    size_t pending;
    uint64_t next_seq;
    size_t queries; /* accepted by query(), for sg_resolver_zone_queries */
} zone_resolver;

static int zr_query(sg_resolver *r, const char *name, uint16_t type, sg_dns_cb cb, void *payload,
                    sg_dns_query **out)
{
    zone_resolver *zr = (zone_resolver *)r;
    size_t len = strlen(name);
    struct sg_dns_query *q;
    int rc;

    /* one block: header, normalised name (<= 253 + NUL), the name as asked */
    q = malloc(sizeof(*q) + len + 1 + len + 1);
    if (q == NULL)
        return SG_ENOMEM;
    rc = sg_dns_name_normalise(name, q->lname, len + 1 > 1 ? len + 1 : 1);
    if (rc != SG_OK) {
        free(q);
        return rc;
    }
    q->qname = q->lname + len + 1;
    memcpy(q->qname, name, len + 1);
    q->type = type;
    q->cb = cb;
    q->payload = payload;
    q->seq = zr->next_seq++;
    q->next = NULL;
    q->prev = zr->tail;
    if (zr->tail)
        zr->tail->next = q;
    else
        zr->head = q;
    zr->tail = q;
    zr->pending++;
    zr->queries++;
    if (out)
        *out = q;
    return SG_OK;
}

static void unlink_query(zone_resolver *zr, struct sg_dns_query *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        zr->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        zr->tail = q->prev;
    zr->pending--;
}

static void zr_cancel(sg_resolver *r, sg_dns_query *q)
{
    zone_resolver *zr = (zone_resolver *)r;
    unlink_query(zr, q);
    free(q);
}

static int zr_run(sg_resolver *r, int timeout_ms)
{
    zone_resolver *zr = (zone_resolver *)r;
    uint64_t limit = zr->next_seq;

    (void)timeout_ms; /* nothing to wait for */
    /* Pop one at a time: a callback may cancel queries still queued, or
     * queue new ones (seq >= limit: left for the next run). */
    while (zr->head != NULL && zr->head->seq < limit) {
        struct sg_dns_query *q = zr->head;
        sg_zone_answer za;
        sg_dns_answer a;

        unlink_query(zr, q);
        sg_zone_resolve(zr->zone, q->lname, q->type, &za);
        memset(&a, 0, sizeof(a));
        a.status = za.status;
        a.qtype = q->type;
        a.qname = q->qname;
        a.ttl = za.ttl;
        a.count = za.count;
        a.rrs = za.rrs;
        q->cb(&a, q->payload);
        free(q);
    }
    return (int)(zr->pending > (size_t)0x7fffffff ? 0x7fffffff : zr->pending);
}

static size_t zr_pending(const sg_resolver *r)
{
    return ((const zone_resolver *)r)->pending;
}

static int zr_fds(sg_resolver *r, int *fds, int *want_write, int nfds, int *timeout_ms)
{
    /* No sockets; if answers are queued, the caller should run now. */
    if (timeout_ms)
        *timeout_ms = ((zone_resolver *)r)->pending ? 0 : -1;
    return 0;
}

static void zr_process_fd(sg_resolver *r, int read_fd, int write_fd) {}

static void zr_destroy(sg_resolver *r)
{
    zone_resolver *zr = (zone_resolver *)r;
    struct sg_dns_query *q, *n;
    for (q = zr->head; q != NULL; q = n) {
        n = q->next;
        free(q);
    }
    free(zr);
}

static const sg_resolver_ops zone_ops = {
    "zone", zr_query, zr_cancel, zr_run, zr_pending, zr_fds, zr_process_fd, zr_destroy,
};

int sg_resolver_new_zone(sg_resolver **out, const sg_zone *zone)
{
    zone_resolver *zr;
    if (out == NULL)
        return SG_EINVAL;
    *out = NULL;
    if (zone == NULL)
        return SG_EINVAL;
    zr = calloc(1, sizeof(*zr));
    if (zr == NULL)
        return SG_ENOMEM;
    zr->base.ops = &zone_ops;
    zr->zone = zone;
    *out = &zr->base;
    return SG_OK;
}

size_t sg_resolver_zone_queries(const sg_resolver *r)
{
    if (r == NULL || r->ops != &zone_ops)
        return 0;
    return ((const zone_resolver *)r)->queries;
}
