/*
 * The viewer's connection pool: who may connect, who makes room when it is
 * full, and whose request is overdue. Kept apart from libmicrohttpd (http.c
 * wires it to MHD's callbacks and a reaper thread) so that the rules are
 * unit-tested on their own.
 *
 * The rules, against slowloris (a client that holds connections open by
 * sending a request a byte at a time):
 *   - A request's head must be complete within head_ms of the connection's
 *     start (or of the end of the previous answer on a kept-alive
 *     connection), and its body within body_ms of the head: deadlines, not
 *     idle timeouts, so a byte now and then buys nothing. Overdue
 *     connections are closed.
 *   - A client (an IPv4 address, or an IPv6 /64: client.h) holds at most
 *     per_client connections, a small share of the pool.
 *   - When the pool is full, a new connection is not refused: a
 *     connection waiting on its client (head or body not yet complete) of
 *     the client holding the most places is closed to make room, its
 *     longest wait first. Clients that reconnect as fast as they are closed
 *     churn among themselves; a reader with few connections survives
 *     however late its request comes. Only when every connection is being
 *     answered is the newcomer refused.
 *
 * Not thread-safe: the caller holds one lock around every call.
 */
#ifndef SG_VIEWER_CONNS_H
#define SG_VIEWER_CONNS_H

#include <stddef.h>

#include "client.h"

/* Bounds. A browser opens up to 6 connections to one server; 16 leaves
 * room for a few tabs, and 16 clients are needed to fill the pool. */
#define SGV_POOL_MAX 256
#define SGV_POOL_PER_CLIENT 16
/* Slots for connections, counting those already closed by the pool and
 * not yet released by MHD: MHD's own hard limit (http.c). */
#define SGV_POOL_SLOTS (2 * SGV_POOL_MAX)
#define SGV_REQUEST_TIMEOUT_S 10 /* default head and body deadlines */

typedef enum {
    SGV_CONN_FREE = 0, /* an unused slot */
    SGV_CONN_HEAD,     /* waiting for a request head (since accept or the last answer) */
    SGV_CONN_BODY,     /* the head is in; waiting for the body */
    SGV_CONN_ANSWER,   /* the request is in: being answered (MHD's idle timeout applies) */
} sgv_conn_phase;

typedef struct {
    sgv_conn_phase phase;
    int closing; /* closed by the pool, waiting for MHD to release it: counts no more */
    int fd;
    sgv_client_key key;
    long long since_ms; /* when the phase began (a monotonic clock) */
} sgv_conn;

typedef struct {
    sgv_conn slot[SGV_POOL_SLOTS];
    size_t max, per_client;
    long long head_ms, body_ms;
} sgv_pool;

/* max at most SGV_POOL_SLOTS / 2; per_client at most max. */
void sgv_pool_init(sgv_pool *p, size_t max, size_t per_client, long long head_ms,
                   long long body_ms);

/* A new connection from k, with descriptor fd, at now_ms: recorded in
 * phase HEAD and returned, or NULL when refused (the client holds its
 * share, or the pool is full and every connection is being answered; the
 * caller closes it). When room had to be made, *victim_fd is the
 * connection the caller must close (it is marked closing here), else -1. */
sgv_conn *sgv_pool_open(sgv_pool *p, const sgv_client_key *k, int fd, long long now_ms,
                        int *victim_fd);

/* c enters phase from now_ms. */
void sgv_pool_phase(sgv_conn *c, sgv_conn_phase phase, long long now_ms);

/* MHD released c. */
void sgv_pool_remove(sgv_conn *c);

/* The connections past their deadline at now_ms: marked closing, their fds
 * written to fds (up to cap). Returns how many. *next_ms is the earliest
 * deadline still ahead, or -1 when none is. */
size_t sgv_pool_expire(sgv_pool *p, long long now_ms, int *fds, size_t cap, long long *next_ms);

/* Connections that count (not closing), all or from k (k NULL: all). */
size_t sgv_pool_count(const sgv_pool *p, const sgv_client_key *k);

#endif
