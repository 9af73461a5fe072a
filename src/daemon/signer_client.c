/*
 * The daemon's side of the signer (signer_client.h). The worker's client
 * keeps its requests in order: those not yet written (the socket was
 * full) are written when the loop says it can, and each answer is matched
 * to its request by id.
 */
#include "signer_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "signer.h"

/* The main thread waits this long for each control answer. */
#define CTL_TIMEOUT_MS 5000

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
    /* answers come in order: skip nothing, wait for ours */
    if (poll(&p, 1, CTL_TIMEOUT_MS) != 1 || (r = recv(fd, buf, cap, 0)) <= 0 ||
        sg_sp_decode_answer(buf, (size_t)r, a) != 0 || a->id != rq->id) {
        snprintf(err, errlen, "signer gone or not answering");
        return -1;
    }
    return 0;
}

int sg_signer_load_keys(int ctl_fd, sg_maps *maps, const char *table, char *err, size_t errlen)
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
                    char *err, size_t errlen)
{
    size_t n, ndirs = 0;
    sg_map_key *keys = sg_maps_keys(maps, &n);
    const char **paths = calloc(n ? n : 1, sizeof(*paths));
    char **dirs = NULL;
    int rc = -1;
    *fds = calloc(nworkers + 1, sizeof(int));
    *pid = -1;
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
                           cfg->allow_group_readable_keys};
    if (sg_signer_spawn(&spec, *fds, nworkers + 1, pid, err, errlen) != 0)
        goto out;
    rc = sg_signer_load_keys((*fds)[0], maps, cfg->key_table ? cfg->key_table : "key_table", err,
                             errlen);
    if (rc == 0)
        rc = sg_maps_check_algs(maps, cfg, err, errlen);
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
} pending;

struct sg_signer_client {
    uv_poll_t poll;
    int fd;
    int gone;
    int events;
    uint32_t next_id;
    pending *v;
    size_t n, cap;
    uint8_t buf[SG_SP_MAX_MSG]; /* an answer being delivered */
};

static void on_poll(uv_poll_t *h, int status, int events);

static void watch(sg_signer_client *c)
{
    int want = UV_READABLE;
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].msg)
            want |= UV_WRITABLE;
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
    while (c->n > 0) {
        pending p = c->v[0];
        p.msg = NULL;
        drop(c, 0);
        p.cb(SG_SIGNER_GONE, NULL, NULL, 0, p.payload);
    }
}

/* Write what is queued, in order, until the socket is full; -1 if the
 * channel broke. */
static int write_queued(sg_signer_client *c)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->v[i].msg == NULL)
            continue;
        ssize_t w = send(c->fd, c->v[i].msg, c->v[i].len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
            return 0;
        if (w != (ssize_t)c->v[i].len)
            return -1;
        free(c->v[i].msg);
        c->v[i].msg = NULL;
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

static void read_answers(sg_signer_client *c)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->buf, sizeof(c->buf), MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (r <= 0) {
            fail_all(c);
            return;
        }
        sg_sp_answer a;
        if (sg_sp_decode_answer(c->buf, (size_t)r, &a) != 0 || a.type != SG_SP_SIGNED)
            continue; /* not ours to trust: its request times out */
        deliver(c, &a);
        if (c->gone)
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
    if ((p->msg = malloc(len)) == NULL)
        return 0;
    memcpy(p->msg, tmp, len);
    c->n++;
    if (write_queued(c) != 0) {
        /* the others learn it from the loop, never inside this call */
        sg_signer_cancel(c, rq.id);
        uv_poll_start(&c->poll, UV_READABLE | UV_WRITABLE, on_poll);
        c->events = UV_READABLE | UV_WRITABLE;
        return 0;
    }
    watch(c);
    return rq.id;
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
