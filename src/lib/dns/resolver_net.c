/*
 * The network resolver backend: c-ares (1.18) for the wire, our own
 * answer parser and TTL cache (cache.c), answers delivered only from
 * run() / process_fd().
 *
 * Life of a query: sg_resolver_query() either finds the answer in the
 * cache (the query goes to the ready queue), joins a lookup already in
 * flight for the same (name, type), or starts a lookup. A lookup is one
 * c-ares query plus our own retries; when c-ares calls back, the answer is
 * parsed once, cached, and every waiting query moves to the ready queue.
 * User callbacks run only while the ready queue is drained, never inside
 * c-ares, so they may start or cancel queries freely (but not free the
 * resolver). Failures are answers: SERVFAIL/REFUSED/malformed messages give
 * SERVFAIL, no reply after every try (or ICMP-refused) gives TIMEOUT; only
 * NOERROR/NODATA/NXDOMAIN are cached. A cancelled query's lookup runs on
 * (c-ares 1.18 cannot cancel one query) and still feeds the cache.
 * sg_resolver_free() drops pending queries without calling them back.
 */
#include "dns/cache.h"
#include "dns/resolver_int.h"

#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Defaults (sg_resolver_opts documents them). */
#define NET_DEFAULT_CACHE 10000
#define NET_DEFAULT_MAX_TTL 86400 /* one day, as most resolvers cap */
#define NET_DEFAULT_NEG_TTL 300   /* RFC 2308 5 suggests 1-3 hours; mail wants fresher */
/* Hard limits on the options: a try longer than a minute or more than ten
 * tries would hold a mail transaction far beyond any MTA timeout. */
#define NET_MAX_TIMEOUT_MS 60000
#define NET_MAX_TRIES 10
/* EDNS0 payload size: the DNS flag day 2020 value, which avoids IP
 * fragmentation; larger answers go over TCP (RFC 7766). */
#define NET_EDNS_PAYLOAD 1232
/* Buckets of the in-flight table (chained; in-flight lookups are few and
 * short-lived, so a fixed table suffices). */
#define NET_INFLIGHT_BUCKETS 1024

typedef struct net_resolver net_resolver;
typedef struct net_lookup net_lookup;

struct sg_dns_query {
    sg_dns_query *prev, *next; /* in a lookup's waiters or the ready queue */
    net_lookup *lookup;        /* non-NULL while waiting for the network */
    sg_dns_ans *ans;           /* once ready; NULL with EFAIL */
    uint64_t seq;              /* ready-queue order */
    uint32_t age, remaining;   /* cache hits: seconds since stored / left */
    int from_cache;
    uint64_t t0_us; /* when asked, if observed */
    sg_dns_cb cb;
    void *payload;
    uint16_t type;
    char name[]; /* as asked */
};

typedef struct {
    sg_dns_query *head, *tail;
} qlist;

struct net_lookup {
    net_lookup *hnext;
    net_resolver *r;
    qlist waiters;
    uint64_t hash;
    uint16_t type;
    unsigned tries_left;
    uint64_t until_ms;  /* monotonic: no try starts after it (net_lookup_late) */
    unsigned hops;      /* CNAMEs followed across re-queries */
    uint32_t chain_ttl; /* smallest CNAME TTL of earlier legs */
    char *cur;          /* the name asked now: key, or a CNAME target */
    char key[];         /* normalised, lower-cased */
};

typedef struct {
    int fd;
    int rd, wr;
} watch;

struct net_resolver {
    sg_resolver base;
    ares_channel ch;
    sg_dns_cache *cache; /* NULL: no_cache */
    sg_dns_ans_limits lim;
    unsigned tries;
    unsigned timeout_ms; /* per try */
    net_lookup *inflight[NET_INFLIGHT_BUCKETS];
    size_t ninflight;
    qlist ready;
    uint64_t ready_seq;
    size_t npending;
    watch *watches; /* sockets c-ares wants watched (sock_state_cb) */
    size_t nwatch, capwatch;
    struct pollfd *pfds;
    size_t cappfds;
    int destroying;
    sg_dns_net_stats stats;
    sg_dns_observe_cb observe;
    void *observe_payload;
};

static const sg_resolver_ops net_ops;

/* ---- small helpers -------------------------------------------------- */

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void ql_append(qlist *l, sg_dns_query *q)
{
    q->next = NULL;
    q->prev = l->tail;
    if (l->tail)
        l->tail->next = q;
    else
        l->head = q;
    l->tail = q;
}

static void ql_unlink(qlist *l, sg_dns_query *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        l->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        l->tail = q->prev;
    q->prev = q->next = NULL;
}

static int supported_type(uint16_t t)
{
    return t == SG_DNS_A || t == SG_DNS_AAAA || t == SG_DNS_MX || t == SG_DNS_PTR ||
           t == SG_DNS_CNAME || t == SG_DNS_TXT || t == SG_DNS_SPF;
}

static uint64_t key_hash(const char *key, uint16_t type)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = key; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 0x100000001b3ull;
    }
    return (h ^ type) * 0x100000001b3ull;
}

static void make_ready(net_resolver *r, sg_dns_query *q, sg_dns_ans *ans)
{
    q->lookup = NULL;
    q->ans = ans;
    q->seq = r->ready_seq++;
    ql_append(&r->ready, q);
}

/* ---- c-ares socket tracking (ARES_OPT_SOCK_STATE_CB) ------------------ */

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    net_resolver *r = data;
    size_t i;
    for (i = 0; i < r->nwatch; i++)
        if (r->watches[i].fd == fd)
            break;
    if (!readable && !writable) {
        if (i < r->nwatch)
            r->watches[i] = r->watches[--r->nwatch];
        return;
    }
    if (i == r->nwatch) {
        if (r->nwatch == r->capwatch) {
            size_t ncap = r->capwatch ? r->capwatch * 2 : 8;
            watch *w = realloc(r->watches, ncap * sizeof(*w));
            if (w == NULL)
                return; /* the socket goes unwatched; its query times out */
            r->watches = w;
            r->capwatch = ncap;
        }
        r->watches[r->nwatch++].fd = fd;
    }
    r->watches[i].rd = readable;
    r->watches[i].wr = writable;
}

/* ---- lookups ------------------------------------------------------------ */

static void on_ares(void *arg, int status, int timeouts, unsigned char *abuf, int alen);

static void lookup_send(net_lookup *l)
{
    l->r->stats.sent++;
    /* May call on_ares before returning (e.g. no server): touch nothing
     * after this call. */
    ares_query(l->r->ch, l->cur, 1 /* IN */, l->type, on_ares, l);
}

/* One server: an IPv4 or IPv6 address, with an optional port (1..65535;
 * [IPv6]:PORT). c-ares took "127.0.0.1:99999" and then never answered:
 * every lookup timed out (adv21 F4). NULL when it is one, else why not
 * (static text), which the daemon's configuration check shows with the
 * line (adv37 F8). */
static const char *server_bad(const char *s, size_t n)
{
    char host[INET6_ADDRSTRLEN + 2];
    unsigned char bin[16];
    const char *port = NULL, *end = s + n;
    size_t hl = n;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL)
            return "'[' without ']'";
        hl = (size_t)(close - s) - 1;
        s++;
        if (close + 1 < end) {
            if (close[1] != ':')
                return "[ADDRESS] is followed by :PORT or nothing";
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon != NULL && memchr(colon + 1, ':', n - (size_t)(colon - s) - 1) == NULL) {
            hl = (size_t)(colon - s);
            port = colon + 1;
        }
    }
    if (hl == 0 || hl >= sizeof(host))
        return "not an IPv4 or IPv6 address";
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (inet_pton(AF_INET, host, bin) != 1 && inet_pton(AF_INET6, host, bin) != 1)
        return "not an IPv4 or IPv6 address (an IPv6 one with a port: [ADDRESS]:PORT)";
    if (port != NULL) {
        unsigned long v = 0;
        if (port == end)
            return "the port must be 1 to 65535";
        for (const char *p = port; p < end; p++) {
            if (*p < '0' || *p > '9' || (v = v * 10 + (unsigned)(*p - '0')) > 65535)
                return "the port must be 1 to 65535";
        }
        if (v == 0)
            return "the port must be 1 to 65535";
    }
    return NULL;
}

/* The servers of list (commas and/or white space): their number, each
 * written to out (when not NULL; strlen(list) + 1 bytes) as c-ares takes
 * them, separated by commas; or -1 with the first refused entry
 * (*off, *len; *len 0 for a list of none) and *reason. */
static long servers_walk(const char *list, char *out, const char **reason, size_t *off, size_t *len)
{
    size_t n = strlen(list), o = 0;
    long count = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && (list[i] == ',' || list[i] == ' ' || list[i] == '\t'))
            i++;
        size_t b = i;
        while (i < n && list[i] != ',' && list[i] != ' ' && list[i] != '\t')
            i++;
        if (i == b)
            break;
        const char *why = server_bad(list + b, i - b);
        if (why != NULL) {
            *reason = why;
            *off = b;
            *len = i - b;
            return -1;
        }
        if (out != NULL) {
            if (count)
                out[o++] = ',';
            memcpy(out + o, list + b, i - b);
            o += i - b;
        }
        count++;
    }
    if (out != NULL)
        out[o] = '\0';
    if (count == 0) {
        *reason = "no server";
        *off = *len = 0;
        return -1;
    }
    return count;
}

int sg_resolver_servers_check(const char *servers, const char **reason, size_t *off, size_t *len)
{
    const char *why;
    size_t o, l;
    if (servers == NULL)
        return SG_EINVAL;
    if (servers_walk(servers, NULL, &why, &o, &l) >= 0)
        return SG_OK;
    if (reason != NULL)
        *reason = why;
    if (off != NULL)
        *off = o;
    if (len != NULL)
        *len = l;
    return SG_EINVAL;
}

/* The servers list as c-ares takes it (commas), from commas and/or
 * white space; NULL for an invalid entry or none, or out of memory (*oom). */
static char *servers_csv(const char *list, int *oom)
{
    const char *why;
    size_t off, len;
    char *out = malloc(strlen(list) + 1);
    *oom = out == NULL;
    if (out != NULL && servers_walk(list, out, &why, &off, &len) < 0) {
        free(out);
        return NULL;
    }
    return out;
}

static uint64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* A lookup, the CNAMEs it follows included, lasts `tries` times the
 * per-try timeout (one more try may be under way at that moment). Every
 * hop of a chain used to get the full tries again: a sender's server
 * answering each of 16 hops just before the timeout held one lookup for
 * a minute (adv23 F2). */
static int net_lookup_late(const net_lookup *l)
{
    return mono_ms() >= l->until_ms;
}

static void lookup_free(net_lookup *l)
{
    net_resolver *r = l->r;
    net_lookup **pp = &r->inflight[l->hash % NET_INFLIGHT_BUCKETS];
    while (*pp && *pp != l)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = l->hnext;
    r->ninflight--;
    if (l->cur != l->key)
        free(l->cur);
    free(l);
}

/* c-ares 1.18 reads only \X escapes in query names, not \DDD: turn the
 * parser's \DDD back into raw octets. NULL for a NUL octet (it cannot be
 * asked for) or out of memory. */
static char *cares_name(const char *pres)
{
    char *out = malloc(strlen(pres) + 1), *o = out;
    const char *p = pres;
    if (out == NULL)
        return NULL;
    while (*p) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9' &&
            p[3] >= '0' && p[3] <= '9') {
            int v = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
            if (v == 0 || v > 255) {
                free(out);
                return NULL;
            }
            *o++ = (char)v;
            p += 4;
        } else if (p[0] == '\\' && p[1] != '\0') {
            *o++ = *p++;
            *o++ = *p++;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* Map a c-ares completion without a usable response to a status. */
static sg_dns_status status_of_ares(int status)
{
    switch (status) {
    case ARES_ETIMEOUT:
    case ARES_ECONNREFUSED: /* nothing listens: no answer is coming */
        return SG_DNS_TIMEOUT;
    case ARES_ENOMEM:
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
    case ARES_EBADNAME:
    case ARES_EBADQUERY:
        return SG_DNS_EFAIL;
    default: /* ESERVFAIL, EREFUSED, EFORMERR, ENOTIMP, EBADRESP, ... */
        return SG_DNS_SERVFAIL;
    }
}

static void on_ares(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    net_lookup *l = arg;
    net_resolver *r = l->r;
    sg_dns_ans *ans = NULL;
    char follow[SG_DNS_PRESENTATION_MAX];
    unsigned hops = 0;
    (void)timeouts;

    if (status == ARES_EDESTRUCTION || r->destroying) {
        /* the resolver is being freed: drop the waiters silently */
        sg_dns_query *q;
        while ((q = l->waiters.head) != NULL) {
            ql_unlink(&l->waiters, q);
            free(q);
        }
        lookup_free(l);
        return;
    }
    /* Retries are ours, not c-ares': c-ares 1.18 doubles the timeout on
     * every round, so "timeout per try" would not hold. */
    if ((status == ARES_ETIMEOUT || status == ARES_ECONNREFUSED) && l->tries_left > 1 &&
        !net_lookup_late(l)) {
        l->tries_left--;
        lookup_send(l);
        return;
    }

    follow[0] = '\0';
    if (abuf != NULL && alen > 0 && status != ARES_ETIMEOUT && status != ARES_ECONNREFUSED) {
        /* c-ares has checked the ID and the question; we parse the
         * response ourselves, whatever status c-ares derived from it */
        if (sg_dns_ans_from_wire(&ans, abuf, (size_t)alen, l->cur, l->type, &r->lim, follow,
                                 &hops) != 0)
            ans = NULL;
    } else {
        ans = sg_dns_ans_new_status(status_of_ares(status), 0);
    }

    if (ans != NULL && follow[0] != '\0') {
        /* The server returned only part of a CNAME chain (an authoritative
         * server whose zone the chain leaves): ask for the target. */
        l->hops += hops;
        if (l->chain_ttl > ans->cache_ttl)
            l->chain_ttl = ans->cache_ttl;
        sg_dns_ans_unref(ans);
        if (net_lookup_late(l)) {
            ans = sg_dns_ans_new_status(SG_DNS_TIMEOUT, 0);
            goto answered;
        }
        if (l->hops <= SG_DNS_MAX_CNAME_CHAIN) {
            char *cur = cares_name(follow);
            if (cur != NULL) {
                if (l->cur != l->key)
                    free(l->cur);
                l->cur = cur;
                l->tries_left = r->tries;
                r->stats.requeries++;
                lookup_send(l);
                return;
            }
        }
        /* a chain too long, or a target we cannot ask for */
        ans = sg_dns_ans_new_status(SG_DNS_SERVFAIL, 0);
    }
answered:
    if (ans != NULL) {
        if (ans->cache_ttl > l->chain_ttl)
            ans->cache_ttl = l->chain_ttl;
        if (r->cache != NULL)
            (void)sg_dns_cache_put(r->cache, l->key, l->type, ans); /* best effort */
    }

    sg_dns_query *q;
    while ((q = l->waiters.head) != NULL) {
        ql_unlink(&l->waiters, q);
        make_ready(r, q, sg_dns_ans_ref(ans));
    }
    sg_dns_ans_unref(ans);
    lookup_free(l);
}

/* ---- vtable ---------------------------------------------------------------- */

static int net_query(sg_resolver *base, const char *name, uint16_t type, sg_dns_cb cb,
                     void *payload, sg_dns_query **out)
{
    net_resolver *r = (net_resolver *)base;
    char key[256];

    if (out)
        *out = NULL;
    if (name == NULL || cb == NULL || !supported_type(type))
        return SG_EINVAL;
    if (r->destroying)
        return SG_ESTATE;
    int rc = sg_dns_name_normalise(name, key, sizeof(key));
    if (rc != 0)
        return rc;
    for (char *p = key; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);

    size_t nlen = strlen(name);
    sg_dns_query *q = calloc(1, sizeof(*q) + nlen + 1);
    if (q == NULL)
        return SG_ENOMEM;
    memcpy(q->name, name, nlen + 1);
    q->cb = cb;
    q->payload = payload;
    q->type = type;
    if (r->observe != NULL)
        q->t0_us = mono_us();

    /* 1. the cache: answered on the next run(), never from here */
    if (r->cache != NULL) {
        uint32_t age = 0, remaining = 0;
        sg_dns_ans *hit = sg_dns_cache_get(r->cache, key, type, &age, &remaining);
        if (hit != NULL) {
            q->from_cache = 1;
            q->age = age;
            q->remaining = remaining;
            make_ready(r, q, hit);
            r->stats.cache_hits++;
            r->npending++;
            if (out)
                *out = q;
            return SG_OK;
        }
    }

    /* 2. a lookup already in flight for the same question */
    uint64_t h = key_hash(key, type);
    net_lookup *l;
    for (l = r->inflight[h % NET_INFLIGHT_BUCKETS]; l; l = l->hnext)
        if (l->hash == h && l->type == type && strcmp(l->key, key) == 0)
            break;
    if (l != NULL) {
        q->lookup = l;
        ql_append(&l->waiters, q);
        r->stats.coalesced++;
        r->npending++;
        if (out)
            *out = q;
        return SG_OK;
    }

    /* 3. a new lookup */
    size_t klen = strlen(key);
    l = calloc(1, sizeof(*l) + klen + 1);
    if (l == NULL) {
        free(q);
        return SG_ENOMEM;
    }
    memcpy(l->key, key, klen + 1);
    l->cur = l->key;
    l->r = r;
    l->hash = h;
    l->type = type;
    l->tries_left = r->tries;
    l->until_ms = mono_ms() + (uint64_t)r->tries * r->timeout_ms;
    l->chain_ttl = UINT32_MAX;
    l->hnext = r->inflight[h % NET_INFLIGHT_BUCKETS];
    r->inflight[h % NET_INFLIGHT_BUCKETS] = l;
    r->ninflight++;
    q->lookup = l;
    ql_append(&l->waiters, q);
    r->npending++;
    if (out)
        *out = q;
    lookup_send(l);
    return SG_OK;
}

static void net_cancel(sg_resolver *base, sg_dns_query *q)
{
    net_resolver *r = (net_resolver *)base;
    if (q == NULL)
        return;
    if (q->lookup != NULL) {
        /* c-ares 1.18 cannot cancel one query: the lookup runs on and its
         * answer still feeds the cache */
        ql_unlink(&q->lookup->waiters, q);
    } else {
        ql_unlink(&r->ready, q);
        sg_dns_ans_unref(q->ans);
    }
    free(q);
    r->npending--;
}

/* Deliver the queries that were ready when this call started; those made
 * ready by the callbacks themselves wait for the next call, so a callback
 * that re-asks a cached name cannot keep us here forever. */
static int deliver_ready(net_resolver *r)
{
    uint64_t limit = r->ready_seq;
    int n = 0;
    sg_dns_query *q;

    while ((q = r->ready.head) != NULL && q->seq < limit) {
        ql_unlink(&r->ready, q);
        r->npending--;

        sg_dns_answer a;
        sg_dns_rr *aged = NULL;
        memset(&a, 0, sizeof(a));
        a.qtype = q->type;
        a.qname = q->name;
        a.status = SG_DNS_EFAIL;
        if (q->ans != NULL) {
            a.status = q->ans->status;
            a.ttl = q->ans->ttl;
            a.count = q->ans->count;
            a.rrs = q->ans->rrs;
            if (q->from_cache) {
                /* age the TTLs: what a downstream cache may still keep */
                a.ttl = a.ttl > q->age ? a.ttl - q->age : 0;
                if (a.ttl > q->remaining)
                    a.ttl = q->remaining;
                if (q->age > 0 && a.count > 0) {
                    aged = sg_dns_ans_aged_rrs(q->ans, q->age);
                    if (aged == NULL) {
                        a.status = SG_DNS_EFAIL;
                        a.count = 0;
                    }
                    a.rrs = aged;
                }
            }
        }
        if (r->observe != NULL) {
            uint64_t now = mono_us();
            r->observe(&a, q->from_cache, q->t0_us && now > q->t0_us ? now - q->t0_us : 0,
                       r->observe_payload);
        }
        q->cb(&a, q->payload);
        free(aged);
        sg_dns_ans_unref(q->ans);
        free(q);
        n++;
    }
    return n;
}

/* Milliseconds until c-ares' next timeout, -1 if none. */
static int ares_wait_ms(net_resolver *r)
{
    struct timeval tv, *tvp;
    if (r->ninflight == 0)
        return -1;
    tvp = ares_timeout(r->ch, NULL, &tv);
    if (tvp == NULL)
        return -1;
    long ms = (long)tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Wait up to wait_ms (<0: forever) for our sockets, then let c-ares read,
 * write and expire what it must. */
static int do_io(net_resolver *r, int wait_ms)
{
    size_t n = r->nwatch;
    if (n > r->cappfds) {
        struct pollfd *p = realloc(r->pfds, n * sizeof(*p));
        if (p == NULL)
            return SG_ENOMEM;
        r->pfds = p;
        r->cappfds = n;
    }
    for (size_t i = 0; i < n; i++) {
        r->pfds[i].fd = r->watches[i].fd;
        r->pfds[i].events =
            (short)((r->watches[i].rd ? POLLIN : 0) | (r->watches[i].wr ? POLLOUT : 0));
        r->pfds[i].revents = 0;
    }
    if (n == 0 && wait_ms < 0)
        wait_ms = 0; /* nothing could wake us */
    int rc = poll(n ? r->pfds : NULL, (nfds_t)n, wait_ms);
    if (rc < 0 && errno != EINTR)
        return SG_EIO;
    for (size_t i = 0; rc > 0 && i < n; i++) {
        short ev = r->pfds[i].revents;
        if (ev == 0)
            continue;
        ares_socket_t rfd = (ev & (POLLIN | POLLERR | POLLHUP)) ? r->pfds[i].fd : ARES_SOCKET_BAD;
        ares_socket_t wfd = (ev & POLLOUT) ? r->pfds[i].fd : ARES_SOCKET_BAD;
        ares_process_fd(r->ch, rfd, wfd);
    }
    /* timeouts (and nothing else) */
    ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    return SG_OK;
}

static int net_run(sg_resolver *base, int timeout_ms)
{
    net_resolver *r = (net_resolver *)base;
    int delivered = deliver_ready(r);

    if (r->ninflight > 0) {
        int wait = 0;
        if (timeout_ms != 0 && delivered == 0 && r->ready.head == NULL) {
            int t = ares_wait_ms(r);
            if (timeout_ms < 0)
                wait = t;
            else
                wait = (t >= 0 && t < timeout_ms) ? t : timeout_ms;
        }
        int rc = do_io(r, wait);
        if (rc != 0)
            return rc;
        deliver_ready(r);
    }
    return r->npending > INT_MAX ? INT_MAX : (int)r->npending;
}

static size_t net_pending(const sg_resolver *base)
{
    return ((const net_resolver *)base)->npending;
}

/* Fills up to nfds descriptors and returns how many were written. */
static int net_fds(sg_resolver *base, int *fds, int *want_write, int nfds, int *timeout_ms)
{
    net_resolver *r = (net_resolver *)base;
    int n = 0;
    for (size_t i = 0; i < r->nwatch && n < nfds; i++, n++) {
        if (fds)
            fds[n] = r->watches[i].fd;
        if (want_write)
            want_write[n] = r->watches[i].wr;
    }
    if (timeout_ms)
        *timeout_ms = r->ready.head != NULL ? 0 : ares_wait_ms(r);
    return n;
}

static void net_process_fd(sg_resolver *base, int read_fd, int write_fd)
{
    net_resolver *r = (net_resolver *)base;
    ares_process_fd(r->ch, read_fd >= 0 ? read_fd : ARES_SOCKET_BAD,
                    write_fd >= 0 ? write_fd : ARES_SOCKET_BAD);
    deliver_ready(r);
}

static void net_destroy(sg_resolver *base)
{
    net_resolver *r = (net_resolver *)base;
    r->destroying = 1;
    if (r->ch != NULL)
        ares_destroy(r->ch); /* on_ares(ARES_EDESTRUCTION) frees the lookups */
    sg_dns_query *q;
    while ((q = r->ready.head) != NULL) {
        ql_unlink(&r->ready, q);
        sg_dns_ans_unref(q->ans);
        free(q);
    }
    sg_dns_cache_free(r->cache);
    free(r->watches);
    free(r->pfds);
    free(r);
}

static const sg_resolver_ops net_ops = {
    .name = "net",
    .query = net_query,
    .cancel = net_cancel,
    .run = net_run,
    .pending = net_pending,
    .fds = net_fds,
    .process_fd = net_process_fd,
    .destroy = net_destroy,
};

/* ---- construction ------------------------------------------------------------ */

void sg_resolver_opts_init(sg_resolver_opts *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->version = SG_RESOLVER_OPTS_VERSION;
}

int sg_resolver_new_net(sg_resolver **out, const sg_resolver_opts *opts)
{
    sg_resolver_opts o;

    if (out == NULL)
        return SG_EINVAL;
    *out = NULL;
    sg_resolver_opts_init(&o);
    if (opts != NULL) {
        if (opts->version != SG_RESOLVER_OPTS_VERSION)
            return SG_EINVAL;
        o = *opts;
    }
    if (o.timeout_ms == 0)
        o.timeout_ms = SG_DNS_DEFAULT_TIMEOUT_MS;
    if (o.tries == 0)
        o.tries = SG_DNS_DEFAULT_TRIES;
    if (o.cache_entries == 0)
        o.cache_entries = NET_DEFAULT_CACHE;
    if (o.max_ttl == 0)
        o.max_ttl = NET_DEFAULT_MAX_TTL;
    if (o.neg_ttl == 0)
        o.neg_ttl = NET_DEFAULT_NEG_TTL;
    if (o.timeout_ms > NET_MAX_TIMEOUT_MS || o.tries > NET_MAX_TRIES ||
        (o.servers != NULL && o.servers[0] == '\0'))
        return SG_EINVAL;

    net_resolver *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return SG_ENOMEM;
    r->base.ops = &net_ops;
    r->tries = o.tries;
    r->timeout_ms = o.timeout_ms;
    r->lim.max_ttl = o.max_ttl;
    r->lim.neg_ttl = o.neg_ttl;

    int rc = SG_OK;
    if (!o.no_cache) {
        sg_dns_cache_opts co = {o.cache_entries, o.max_ttl, NULL, NULL};
        rc = sg_dns_cache_new(&r->cache, &co);
        if (rc != 0)
            goto fail;
    }

    struct ares_options ao;
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_EDNSPSZ |
               ARES_OPT_SOCK_STATE_CB;
    memset(&ao, 0, sizeof(ao));
    /* EDNS0 (RFC 6891) so that DKIM keys fit in one UDP answer; c-ares
     * 1.18 falls back to plain DNS on FORMERR and to TCP on truncation.
     * NOCHECKRESP: without it c-ares 1.18 treats SERVFAIL/REFUSED/NOTIMP
     * as a dead server and, once out of servers, reports ECONNREFUSED
     * (not ESERVFAIL) and no message; we want the message and decide. */
    ao.flags = ARES_FLAG_EDNS | ARES_FLAG_NOCHECKRESP;
    ao.ednspsz = NET_EDNS_PAYLOAD;
    ao.timeout = (int)o.timeout_ms;
    ao.tries = 1; /* see on_ares: we retry ourselves */
    ao.sock_state_cb = on_sock_state;
    ao.sock_state_cb_data = r;
    if (ares_init_options(&r->ch, &ao, mask) != ARES_SUCCESS) {
        r->ch = NULL;
        rc = SG_EDNS;
        goto fail;
    }
    if (o.servers != NULL) {
        int oom;
        char *csv = servers_csv(o.servers, &oom);
        int ar = csv != NULL ? ares_set_servers_ports_csv(r->ch, csv) : ARES_EBADSTR;
        free(csv);
        if (ar != ARES_SUCCESS) {
            rc = oom || ar == ARES_ENOMEM ? SG_ENOMEM : SG_EINVAL;
            goto fail;
        }
    }
    *out = &r->base;
    return SG_OK;

fail:
    net_destroy(&r->base);
    return rc;
}

int sg_dns_net_stats_get(const sg_resolver *r, sg_dns_net_stats *out)
{
    if (r == NULL || out == NULL || r->ops != &net_ops)
        return SG_EINVAL;
    *out = ((const net_resolver *)r)->stats;
    return SG_OK;
}

int sg_resolver_observe(sg_resolver *r, sg_dns_observe_cb cb, void *payload)
{
    if (r == NULL || r->ops != &net_ops)
        return SG_EINVAL;
    ((net_resolver *)r)->observe = cb;
    ((net_resolver *)r)->observe_payload = payload;
    return SG_OK;
}
