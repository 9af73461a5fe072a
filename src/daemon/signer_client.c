/*
 * The daemon's side of the signer (signer_client.h). The worker's client
 * keeps its requests in order: those not yet written are written together
 * (one sendmmsg) just before the loop would sleep, and each answer is
 * matched to its request by id.
 *
 * Why batches, and why the client waits a little: a signature takes the
 * signer ~0.3 ms, and a worker with nothing else to do then slept in
 * epoll and woke for each packet its MTAs sent meanwhile, one by one (a
 * context switch each way, ~5 a message where signing in the worker had
 * 0.5). So the requests of one loop turn go in one system call, the
 * answers come back in one (recvmmsg), and while answers are due the loop
 * first waits for them on the signer's channel alone, up to WAIT_MS: the
 * MTAs' packets of that time are then read in one turn, as they were when
 * the worker signed itself (and its loop was busy for as long).
 */
#define _GNU_SOURCE /* sendmmsg, recvmmsg */
#include "signer_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "signer.h"

/* The main thread waits this long for each control answer. */
#define CTL_TIMEOUT_MS 5000
/* Datagrams per sendmmsg / recvmmsg. */
#define BATCH 16
/* How long a loop turn waits for a due answer before it polls its other
 * handles: a few RSA-2048 signatures. Beyond that the worker goes on, so
 * a slow or stuck signer costs its own messages only. */
#define WAIT_MS 2

const char *sg_signer_status_str(int status)
{
    switch (status) {
    case SG_SP_OK:
        return "ok";
    case SG_SP_ENOKEY:
        return "signer: no such key";
    case SG_SP_ECRYPTO:
        return "signer: signing failed";
    case SG_SP_ELOAD:
        return "signer: key not loaded";
    case SG_SP_EDIR:
        return "signer: key folder not open";
    case SG_SP_ESTATE:
        return "signer: out of order";
    case SG_SP_ENOMEM:
        return "signer: out of memory";
    case SG_SP_EREQUEST:
        return "signer: bad request";
    case SG_SIGNER_GONE:
        return "signer gone";
    }
    return "signer: unknown status";
}

/* ---- control channel (main thread) ---------------------------------------------- */

static int ctl_call(int fd, const sg_sp_request *rq, uint8_t *buf, size_t cap, sg_sp_answer *a,
                    char *err, size_t errlen)
{
    size_t n = sg_sp_encode_request(buf, cap, rq);
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t r;
    if (n == 0) {
        snprintf(err, errlen, "signer: request too large");
        return -1;
    }
    if (send(fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n) {
        snprintf(err, errlen, "signer gone");
        return -1;
    }
    /* Answers come in order; one of an earlier call that gave up waiting
     * (a signer stopped for a while, a slow key file) may still come
     * first: skipped, or every later call would read the one before it
     * and fail (adv12 F1: no reload worked again until a restart). */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = CTL_TIMEOUT_MS -
                    ((now.tv_sec - t0.tv_sec) * 1000L + (now.tv_nsec - t0.tv_nsec) / 1000000L);
        if (left <= 0 || poll(&p, 1, (int)left) != 1 || (r = recv(fd, buf, cap, 0)) <= 0 ||
            sg_sp_decode_answer(buf, (size_t)r, a) != 0 || (int32_t)(a->id - rq->id) > 0) {
            snprintf(err, errlen, "signer gone or not answering");
            return -1;
        }
        if (a->id == rq->id)
            return 0;
    }
}

int sg_signer_load_keys(int ctl_fd, sg_maps *maps, const sg_config *cfg, const char *table,
                        char *err, size_t errlen)
{
    size_t n;
    sg_map_key *keys = sg_maps_keys(maps, &n);
    static uint32_t next_id = 1;
    uint8_t buf[SG_SP_MAX_MSG];
    sg_sp_request rq;
    sg_sp_answer a;
    memset(&rq, 0, sizeof(rq));
    rq.type = SG_SP_BEGIN;
    rq.id = next_id++;
    if (ctl_call(ctl_fd, &rq, buf, sizeof(buf), &a, err, errlen) != 0)
        return -1;
    /* the signer reads the KeyTable itself: one it cannot read loads no key */
    if (a.status != SG_SP_OK) {
        if (a.reason_len)
            snprintf(err, errlen, "%s: signer: %.*s", table, (int)a.reason_len, a.reason);
        else
            snprintf(err, errlen, "%s: %s", table, sg_signer_status_str(a.status));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        rq.type = SG_SP_LOAD;
        rq.id = next_id++;
        rq.items[0].keyid = keys[i].path;
        rq.items[0].keyid_len = strlen(keys[i].path);
        if (ctl_call(ctl_fd, &rq, buf, sizeof(buf), &a, err, errlen) != 0)
            return -1;
        if (a.status != SG_SP_OK) {
            if (a.reason_len)
                snprintf(err, errlen, "%s: key '%s': %.*s", table, keys[i].name, (int)a.reason_len,
                         a.reason);
            else
                snprintf(err, errlen, "%s: key '%s': %s", table, keys[i].name,
                         sg_signer_status_str(a.status));
            return -1;
        }
        keys[i].alg = (sg_dkim_alg)a.alg;
        keys[i].bits = a.bits;
    }
    /* before the commit: a table refused after it would have replaced the
     * serving one all the same, and two such reloads left the running
     * policy's keys in neither of the signer's tables (adv16 F1) */
    if (cfg != NULL && sg_maps_check_algs(maps, cfg, err, errlen) != 0)
        return -1;
    rq.type = SG_SP_COMMIT;
    rq.id = next_id++;
    if (ctl_call(ctl_fd, &rq, buf, sizeof(buf), &a, err, errlen) != 0)
        return -1;
    if (a.status != SG_SP_OK) {
        snprintf(err, errlen, "%s", sg_signer_status_str(a.status));
        return -1;
    }
    return 0;
}

int sg_signer_start(const sg_config *cfg, sg_maps *maps, unsigned nworkers, int **fds, pid_t *pid,
                    char *warn, size_t warnlen, char *err, size_t errlen)
{
    size_t n, ndirs = 0;
    sg_map_key *keys = sg_maps_keys(maps, &n);
    const char **paths = calloc(n ? n : 1, sizeof(*paths));
    char **dirs = NULL;
    int rc = -1;
    *fds = calloc(nworkers + 1, sizeof(int));
    *pid = -1;
    if (warnlen)
        warn[0] = '\0';
    if (paths == NULL || *fds == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (unsigned i = 0; i <= nworkers; i++)
        (*fds)[i] = -1;
    for (size_t i = 0; i < n; i++)
        paths[i] = keys[i].path;
    if ((dirs = sg_signer_dirs(paths, n, &ndirs)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    sg_signer_spec spec = {cfg->signer_user, (const char *const *)dirs, ndirs,
                           cfg->allow_group_readable_keys, cfg->key_table};
    if (sg_signer_spawn(&spec, *fds, nworkers + 1, pid, warn, warnlen, err, errlen) != 0)
        goto out;
    rc = sg_signer_load_keys((*fds)[0], maps, cfg, cfg->key_table ? cfg->key_table : "key_table",
                             err, errlen);
out:
    sg_signer_dirs_free(dirs, ndirs);
    free(paths);
    if (rc != 0 && *fds) {
        sg_signer_stop(*fds, nworkers, *pid);
        *fds = NULL;
        *pid = -1;
    }
    return rc;
}

void sg_signer_stop(int *fds, unsigned nworkers, pid_t pid)
{
    for (unsigned i = 0; fds && i <= nworkers; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    /* the control channel closed: the signer exits */
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

/* ---- a worker's client ---------------------------------------------------------- */

typedef struct {
    uint32_t id;
    sg_signer_cb cb;
    void *payload;
    uint8_t *msg; /* not yet written; NULL once written */
    size_t len;
    uint64_t since; /* uv_now when asked */
} pending;

struct sg_signer_client {
    uv_poll_t poll;
    uv_prepare_t flush; /* active while requests are queued or due */
    int fd;
    int gone;
    int events;
    int flushing;
    int full; /* the socket had no room: write when the loop says so */
    uint32_t next_id;
    pending *v;
    size_t n, cap;
    size_t unsent;    /* the last `unsent` of v are not written yet */
    uint64_t answers; /* read so far */
    struct mmsghdr mv[BATCH];
    struct iovec iov[BATCH];
    uint8_t buf[BATCH][SG_SP_MAX_MSG]; /* answers being delivered */
};

static void on_poll(uv_poll_t *h, int status, int events);
static void on_flush(uv_prepare_t *p);

static void flush_on(sg_signer_client *c)
{
    if (!c->flushing && !c->gone) {
        uv_prepare_start(&c->flush, on_flush);
        c->flushing = 1;
    }
}

static void flush_off(sg_signer_client *c)
{
    if (c->flushing) {
        uv_prepare_stop(&c->flush);
        c->flushing = 0;
    }
}

static void watch(sg_signer_client *c)
{
    int want = c->full ? UV_READABLE | UV_WRITABLE : UV_READABLE;
    if (!c->gone && want != c->events) {
        uv_poll_start(&c->poll, want, on_poll);
        c->events = want;
    }
    /* an idle channel must not keep a draining worker's loop alive; a
     * waiting request must */
    if (c->n > 0)
        uv_ref((uv_handle_t *)&c->poll);
    else
        uv_unref((uv_handle_t *)&c->poll);
}

static void drop(sg_signer_client *c, size_t i)
{
    if (c->v[i].msg)
        c->unsent--;
    free(c->v[i].msg);
    memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(*c->v));
    c->n--;
}

/* Every waiting request gets the fail-safe status, once. */
static void fail_all(sg_signer_client *c)
{
    c->gone = 1;
    uv_poll_stop(&c->poll);
    c->events = 0;
    flush_off(c);
    while (c->n > 0) {
        pending p = c->v[0];
        p.msg = NULL;
        drop(c, 0);
        p.cb(SG_SIGNER_GONE, NULL, NULL, 0, p.payload);
    }
}

/* Write what is queued, in order, BATCH datagrams a call, until the
 * socket is full; -1 if the channel broke. */
static int write_queued(sg_signer_client *c)
{
    c->full = 0;
    while (c->unsent > 0) {
        size_t first = c->n - c->unsent, k = c->unsent < BATCH ? c->unsent : BATCH;
        for (size_t i = 0; i < k; i++) {
            c->iov[i] = (struct iovec){c->v[first + i].msg, c->v[first + i].len};
            memset(&c->mv[i], 0, sizeof(c->mv[i]));
            c->mv[i].msg_hdr.msg_iov = &c->iov[i];
            c->mv[i].msg_hdr.msg_iovlen = 1;
        }
        int w = sendmmsg(c->fd, c->mv, (unsigned)k, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
            c->full = 1;
            return 0;
        }
        if (w <= 0)
            return -1;
        for (size_t i = 0; i < (size_t)w; i++) {
            /* one datagram is one message: it went whole or not at all */
            if (c->mv[i].msg_len != c->v[first + i].len)
                return -1;
            free(c->v[first + i].msg);
            c->v[first + i].msg = NULL;
            c->unsent--;
        }
        if ((size_t)w < k) {
            c->full = 1; /* the rest when the loop says writable */
            return 0;
        }
    }
    return 0;
}

/* An answer to its waiting request, if any (a cancelled one has none). */
static void deliver(sg_signer_client *c, const sg_sp_answer *a)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->v[i].id != a->id || c->v[i].msg != NULL)
            continue;
        pending p = c->v[i];
        drop(c, i);
        p.cb(a->status, a->status == SG_SP_OK ? a->sig : NULL,
             a->status == SG_SP_OK ? a->siglen : NULL, a->status == SG_SP_OK ? a->n : 0, p.payload);
        return;
    }
}

/* Every answer there is, BATCH a call. */
static void read_answers(sg_signer_client *c)
{
    for (;;) {
        for (size_t i = 0; i < BATCH; i++) {
            c->iov[i] = (struct iovec){c->buf[i], sizeof(c->buf[i])};
            memset(&c->mv[i], 0, sizeof(c->mv[i]));
            c->mv[i].msg_hdr.msg_iov = &c->iov[i];
            c->mv[i].msg_hdr.msg_iovlen = 1;
        }
        int r = recvmmsg(c->fd, c->mv, BATCH, MSG_DONTWAIT, NULL);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (r <= 0) {
            fail_all(c);
            return;
        }
        for (int i = 0; i < r; i++) {
            sg_sp_answer a;
            if (c->mv[i].msg_len == 0) { /* end of file: the signer is gone */
                fail_all(c);
                return;
            }
            if ((c->mv[i].msg_hdr.msg_flags & MSG_TRUNC) ||
                sg_sp_decode_answer(c->buf[i], c->mv[i].msg_len, &a) != 0 || a.type != SG_SP_SIGNED)
                continue; /* not ours to trust: its request times out */
            c->answers++;
            deliver(c, &a);
            if (c->gone)
                return;
        }
        if (r < BATCH)
            return;
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sg_signer_client *c = h->data;
    if (status < 0) {
        fail_all(c);
        return;
    }
    if ((events & UV_WRITABLE) && write_queued(c) != 0) {
        fail_all(c);
        return;
    }
    if (!c->gone && (events & (UV_READABLE | UV_DISCONNECT)))
        read_answers(c);
    if (!c->gone)
        watch(c);
}

/* Before the loop sleeps: write the requests of this turn, then, while
 * answers are due, give the signer up to WAIT_MS to send one before the
 * loop polls everything (the answer is then read in the same turn). */
static void on_flush(uv_prepare_t *p)
{
    sg_signer_client *c = p->data;
    if (c->unsent > 0 && write_queued(c) != 0) {
        fail_all(c);
        return;
    }
    watch(c);
    if (c->n == 0 || c->unsent > 0) {
        if (c->n == 0)
            flush_off(c);
        return;
    }
    struct pollfd pf = {c->fd, POLLIN, 0};
    (void)poll(&pf, 1, WAIT_MS);
}

int sg_signer_client_new(sg_signer_client **out, uv_loop_t *loop, int fd)
{
    sg_signer_client *c = calloc(1, sizeof(*c));
    *out = NULL;
    if (c == NULL)
        return -1;
    c->fd = fd;
    c->next_id = 1;
    if (uv_poll_init(loop, &c->poll, fd) != 0) {
        free(c);
        return -1;
    }
    c->poll.data = c;
    /* never keeps the loop alive by itself: the poll handle does that
     * while a request waits */
    uv_prepare_init(loop, &c->flush);
    uv_unref((uv_handle_t *)&c->flush);
    c->flush.data = c;
    watch(c);
    *out = c;
    return 0;
}

void sg_signer_client_free(sg_signer_client *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].msg);
    free(c->v);
    close(c->fd);
    free(c);
}

uint32_t sg_signer_sign(sg_signer_client *c, const sg_sp_item *items, size_t n, sg_signer_cb cb,
                        void *payload)
{
    sg_sp_request rq;
    uint8_t tmp[SG_SP_MAX_MSG];
    if (c == NULL || c->gone || n == 0 || n > SG_SP_MAX_ITEMS)
        return 0;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        pending *v = realloc(c->v, nc * sizeof(*v));
        if (v == NULL)
            return 0;
        c->v = v;
        c->cap = nc;
    }
    memset(&rq, 0, sizeof(rq));
    rq.type = SG_SP_SIGN;
    rq.id = c->next_id++;
    if (rq.id == 0)
        rq.id = c->next_id++;
    rq.n = n;
    memcpy(rq.items, items, n * sizeof(*items));
    size_t len = sg_sp_encode_request(tmp, sizeof(tmp), &rq);
    if (len == 0)
        return 0;
    pending *p = &c->v[c->n];
    memset(p, 0, sizeof(*p));
    p->id = rq.id;
    p->cb = cb;
    p->payload = payload;
    p->len = len;
    p->since = uv_now(c->poll.loop);
    if ((p->msg = malloc(len)) == NULL)
        return 0;
    memcpy(p->msg, tmp, len);
    c->n++;
    c->unsent++;
    flush_on(c); /* written with the turn's others, before the loop sleeps */
    watch(c);
    return rq.id;
}

uint64_t sg_signer_client_waited(const sg_signer_client *c)
{
    /* v is in the order asked: drop() keeps it */
    if (c == NULL || c->gone || c->n == 0)
        return 0;
    uint64_t now = uv_now(c->poll.loop);
    return now > c->v[0].since ? now - c->v[0].since : 0;
}

uint64_t sg_signer_client_answers(const sg_signer_client *c)
{
    return c ? c->answers : 0;
}

void sg_signer_cancel(sg_signer_client *c, uint32_t id)
{
    if (c == NULL || id == 0)
        return;
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].id == id) {
            drop(c, i);
            watch(c);
            return;
        }
}
