/*
 * libuv adapter for sg_resolver.
 *
 * Before the loop blocks (a uv_prepare handle) it asks the resolver which
 * sockets to watch and when its next timeout is, and mirrors that with
 * uv_poll handles and one timer.
 *
 * The sockets belong to c-ares, which may close one and open another with
 * the same number between two of our looks. So each poll handle watches
 * its own dup() of the socket, never the socket itself: closing our
 * handle can never disturb whatever now owns that number, and a number
 * reused for a new socket is noticed by its inode changing.
 *
 * Answers the resolver has ready without asking (its cache) are delivered
 * by a uv_check handle, right after the loop's poll phase in which the
 * query was made: through the timer they cost one more loop turn (a
 * zero-timeout epoll_wait) a round of queries. Never inside the query
 * call itself: the caller is not ready for its callback there.
 */
#include "uvdns.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SOCKETS 64

typedef struct {
    uv_poll_t poll;
    int fd;    /* the resolver's descriptor number */
    int dupfd; /* ours */
    ino_t ino; /* identity of the socket behind fd */
    int events;
    int alive; /* seen in the last sync */
    struct sg_uvdns *owner;
} watch;

struct sg_uvdns {
    uv_loop_t *loop;
    sg_resolver *r;
    uv_prepare_t prepare;
    uv_check_t check;
    uv_timer_t timer;
    watch *w[MAX_SOCKETS];
    int nw;
    int closing;
    int pending_close; /* handles still closing */
};

static void maybe_free(struct sg_uvdns *d)
{
    if (d->closing && d->pending_close == 0)
        free(d);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct sg_uvdns *d = h->data;
    d->pending_close--;
    maybe_free(d);
}

static void on_watch_closed(uv_handle_t *h)
{
    watch *w = (watch *)h;
    struct sg_uvdns *d = w->owner;
    close(w->dupfd);
    free(w);
    d->pending_close--;
    maybe_free(d);
}

static void drop_watch(struct sg_uvdns *d, int i)
{
    watch *w = d->w[i];
    d->w[i] = d->w[--d->nw];
    uv_poll_stop(&w->poll);
    d->pending_close++;
    uv_close((uv_handle_t *)&w->poll, on_watch_closed);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    watch *w = (watch *)h;
    int rd = (status < 0 || (events & (UV_READABLE | UV_DISCONNECT))) ? w->fd : -1;
    int wr = (status >= 0 && (events & UV_WRITABLE)) ? w->fd : -1;
    sg_resolver_process_fd(w->owner->r, rd, wr);
}

static void on_timer(uv_timer_t *t)
{
    struct sg_uvdns *d = t->data;
    sg_resolver_run(d->r, 0);
}

/* Rounds of ready answers delivered per check: an answer's callback may
 * ask for more cached names (an SPF include chain); past this the timer
 * takes over, so a callback that keeps asking cannot hold the loop. */
#define CHECK_ROUNDS 16

static void deliver_ready(uv_check_t *c)
{
    struct sg_uvdns *d = c->data;
    for (int i = 0; i < CHECK_ROUNDS; i++) {
        int timeout = -1;
        if (sg_resolver_fds(d->r, NULL, NULL, 0, &timeout) < 0 || timeout != 0)
            return;
        /* no descriptor: deliver what is ready, expire what is due; no syscall */
        sg_resolver_process_fd(d->r, -1, -1);
    }
}

static void sync_watches(uv_prepare_t *p)
{
    struct sg_uvdns *d = p->data;
    int fds[MAX_SOCKETS], ww[MAX_SOCKETS], timeout = -1;
    int n = sg_resolver_fds(d->r, fds, ww, MAX_SOCKETS, &timeout);
    if (n < 0)
        n = 0;
    for (int i = 0; i < d->nw; i++)
        d->w[i]->alive = 0;
    for (int k = 0; k < n; k++) {
        struct stat st;
        int events = UV_READABLE | (ww[k] ? UV_WRITABLE : 0);
        if (fstat(fds[k], &st) != 0)
            continue;
        int i;
        for (i = 0; i < d->nw; i++)
            if (d->w[i]->fd == fds[k] && d->w[i]->ino == st.st_ino)
                break;
        if (i < d->nw) {
            watch *w = d->w[i];
            w->alive = 1;
            if (w->events != events) {
                w->events = events;
                uv_poll_start(&w->poll, events, on_poll);
            }
            continue;
        }
        if (d->nw == MAX_SOCKETS)
            continue; /* left to the resolver's timeout */
        watch *w = calloc(1, sizeof(*w));
        if (w == NULL)
            continue;
        w->fd = fds[k];
        w->ino = st.st_ino;
        w->owner = d;
        w->dupfd = dup(fds[k]);
        if (w->dupfd < 0 || uv_poll_init(d->loop, &w->poll, w->dupfd) != 0) {
            if (w->dupfd >= 0)
                close(w->dupfd);
            free(w);
            continue;
        }
        w->events = events;
        w->alive = 1;
        uv_poll_start(&w->poll, events, on_poll);
        d->w[d->nw++] = w;
    }
    for (int i = d->nw - 1; i >= 0; i--)
        if (!d->w[i]->alive)
            drop_watch(d, i);
    if (timeout >= 0)
        uv_timer_start(&d->timer, on_timer, (uint64_t)timeout, 0);
    else
        uv_timer_stop(&d->timer);
}

int sg_uvdns_new(sg_uvdns **out, uv_loop_t *loop, sg_resolver *resolver)
{
    struct sg_uvdns *d = calloc(1, sizeof(*d));
    *out = NULL;
    if (d == NULL)
        return -1;
    d->loop = loop;
    d->r = resolver;
    uv_prepare_init(loop, &d->prepare);
    uv_timer_init(loop, &d->timer);
    d->prepare.data = d;
    d->timer.data = d;
    uv_prepare_start(&d->prepare, sync_watches);
    uv_check_init(loop, &d->check);
    d->check.data = d;
    uv_check_start(&d->check, deliver_ready);
    /* the prepare and check handles alone must not keep the loop alive */
    uv_unref((uv_handle_t *)&d->prepare);
    uv_unref((uv_handle_t *)&d->check);
    *out = d;
    return 0;
}

void sg_uvdns_close(sg_uvdns *d)
{
    if (d == NULL)
        return;
    d->closing = 1;
    while (d->nw > 0)
        drop_watch(d, d->nw - 1);
    uv_prepare_stop(&d->prepare);
    uv_check_stop(&d->check);
    uv_timer_stop(&d->timer);
    d->pending_close += 3;
    uv_close((uv_handle_t *)&d->prepare, on_handle_closed);
    uv_close((uv_handle_t *)&d->check, on_handle_closed);
    uv_close((uv_handle_t *)&d->timer, on_handle_closed);
}
