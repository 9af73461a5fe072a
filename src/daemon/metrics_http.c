/*
 * The metrics endpoint (see metrics_http.h).
 *
 * A connection's life: accept (over SG_MHTTP_MAX_CONNS, the oldest one
 * is closed to make room), read into a fixed buffer until the blank line that ends the
 * request header, answer, shut the sending side down, read and discard
 * until the scraper closes, close. A timer bounds the whole, so a scraper
 * that stalls anywhere costs at most one slot for SG_MHTTP_TIMEOUT_MS.
 * Closing only after the scraper's FIN means unread request bytes never
 * make the kernel reset the connection under an answer not yet read.
 */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct conn conn;

struct sg_mhttp {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
        uv_handle_t handle;
    } listener;
    int is_unix;
    int closing;
    int listener_closed;
    sg_mhttp_render_cb render;
    void *payload;
    uint64_t *refused;
    conn *conns; /* open connections */
    unsigned nconns;
};

struct conn {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_stream_t stream;
        uv_handle_t handle;
    } h;
    uv_timer_t timer;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    sg_mhttp *srv;
    conn *prev, *next;
    int pending; /* handles still to close: freed at 0 */
    int answered;
    int closing;
    char *resp; /* the answer being written */
    size_t len;
    char req[SG_MHTTP_MAX_REQUEST];
    char discard[512];
};

/* ------------------------------------------------------------------------ */
/* the address                                                              */

typedef struct {
    int is_unix;
    char path[108];
    struct sockaddr_storage sa;
    socklen_t salen;
} mspec;

static int parse_spec(const char *spec, mspec *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!strncmp(spec, "unix:", 5))
        spec += 5;
    if (spec[0] == '/') {
        if (strlen(spec) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            snprintf(err, errlen, "metrics_listen: socket path too long");
            return -1;
        }
        out->is_unix = 1;
        strcpy(out->path, spec);
        return 0;
    }
    if (!strncmp(spec, "inet:", 5))
        spec += 5;
    char host[64];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || colon == spec || (size_t)(colon - spec) >= sizeof(host) ||
        colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
        strlen(colon + 1) > 5 || atoi(colon + 1) < 1 || atoi(colon + 1) > 65535) {
        snprintf(err, errlen,
                 "metrics_listen: '%s' is not 127.0.0.1:PORT, [::1]:PORT or a socket path", spec);
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    char *h = host;
    size_t hl = strlen(h);
    int bracketed = h[0] == '[' && h[hl - 1] == ']';
    if (bracketed) {
        h[hl - 1] = '\0';
        h++;
    }
    unsigned port = (unsigned)atoi(colon + 1);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->sa;
    if (!bracketed && inet_pton(AF_INET, h, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        out->salen = sizeof(*v4);
        /* 127.0.0.0/8 (RFC 1122 3.2.1.3) */
        if ((ntohl(v4->sin_addr.s_addr) >> 24) == 127)
            return 0;
    } else if (bracketed && inet_pton(AF_INET6, h, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        out->salen = sizeof(*v6);
        if (IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr))
            return 0;
    } else {
        snprintf(err, errlen,
                 "metrics_listen: '%s' is not a numeric address (127.0.0.1:PORT or [::1]:PORT)",
                 spec);
        return -1;
    }
    snprintf(err, errlen,
             "metrics_listen: %s is not a loopback address; metrics have no authentication, so "
             "only 127.0.0.0/8, [::1] or a unix socket is allowed",
             h);
    return -1;
}

int sg_mhttp_check(const char *spec, char *err, size_t errlen)
{
    mspec m;
    return parse_spec(spec, &m, err, errlen);
}

int sg_mhttp_bind(const char *spec, char *unix_path, char *err, size_t errlen)
{
    mspec m;
    int fd = -1, one = 1;
    unix_path[0] = '\0';
    if (parse_spec(spec, &m, err, errlen) != 0)
        return -1;
    if (m.is_unix) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strcpy(sa.sun_path, m.path);
        unlink(m.path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
            goto fail;
        strcpy(unix_path, m.path);
        /* owner and group only, like the milter socket */
        if (chmod(m.path, 0660) != 0)
            goto fail;
    } else {
        fd = socket(m.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (fd < 0 || bind(fd, (struct sockaddr *)&m.sa, m.salen) != 0)
            goto fail;
    }
    if (listen(fd, 64) != 0)
        goto fail;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
fail:
    snprintf(err, errlen, "metrics_listen %s: %s", spec, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* connections                                                               */

static void conn_unlink(conn *c)
{
    sg_mhttp *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
}

static void maybe_free_srv(sg_mhttp *s)
{
    if (s->closing && s->listener_closed && s->nconns == 0)
        free(s);
}

static void on_conn_closed(uv_handle_t *h)
{
    conn *c = h->data;
    if (--c->pending > 0)
        return;
    sg_mhttp *s = c->srv;
    conn_unlink(c);
    free(c->resp);
    free(c);
    maybe_free_srv(s);
}

static void conn_close(conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_timer_stop(&c->timer);
    uv_close(&c->h.handle, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status; /* the read side sees the scraper's close, or the timer fires */
}

static void on_written(uv_write_t *req, int status)
{
    conn *c = req->data;
    free(c->resp);
    c->resp = NULL;
    if (status != 0 || c->closing) {
        conn_close(c);
        return;
    }
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, &c->h.stream, on_shutdown) != 0)
        conn_close(c);
}

static void respond(conn *c, const char *status, const char *ctype, const char *body, size_t blen)
{
    char head[256];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      status, ctype, blen);
    c->answered = 1;
    c->resp = malloc((size_t)hl + blen);
    if (c->resp == NULL) {
        conn_close(c);
        return;
    }
    memcpy(c->resp, head, (size_t)hl);
    if (blen)
        memcpy(c->resp + hl, body, blen);
    c->len = (size_t)hl + blen;
    uv_buf_t b = uv_buf_init(c->resp, (unsigned)c->len);
    c->wreq.data = c;
    if (uv_write(&c->wreq, &c->h.stream, &b, 1, on_written) != 0) {
        free(c->resp);
        c->resp = NULL;
        conn_close(c);
    }
}

static void respond_text(conn *c, const char *status, const char *text)
{
    respond(c, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* Judge the request line, "METHOD SP TARGET SP HTTP/1.x" (RFC 9112 3),
 * as soon as it is complete: garbage is answered at once. Returns NULL
 * when it is GET /metrics, else the status to answer with. */
static const char *request_line_status(const char *p, const char *eol)
{
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    if (sp1 == NULL)
        return "400 Bad Request";
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', (size_t)(eol - target));
    if (sp2 == NULL)
        return "400 Bad Request";
    const char *v = sp2 + 1, *vend = eol;
    if (vend > v && vend[-1] == '\r')
        vend--;
    if (vend - v != 8 || (memcmp(v, "HTTP/1.0", 8) != 0 && memcmp(v, "HTTP/1.1", 8) != 0))
        return "400 Bad Request";
    size_t mlen = (size_t)(sp1 - p), tlen = (size_t)(sp2 - target);
    if (mlen != 3 || memcmp(p, "GET", 3) != 0)
        return "405 Method Not Allowed";
    /* /metrics, with or without a query string (Prometheus sends none) */
    if (!(tlen >= 8 && !memcmp(target, "/metrics", 8) && (tlen == 8 || target[8] == '?')))
        return "404 Not Found";
    return NULL;
}

const char *sg_mhttp_judge(const char *req, size_t len, size_t max)
{
    /* NUL bytes cannot be part of a request */
    if (memchr(req, '\0', len) != NULL)
        return "400 Bad Request";
    const char *eol = memchr(req, '\n', len);
    if (eol == NULL)
        return len >= max ? "431 Request Header Fields Too Large" : NULL;
    const char *status = request_line_status(req, eol);
    if (status != NULL)
        return status;
    /* answer once the header has ended with an empty line (CRLF CRLF;
     * bare LF tolerated), so the scraper reads the answer in one piece */
    for (const char *p = eol; p < req + len; p++) {
        p = memchr(p, '\n', (size_t)(req + len - p));
        if (p == NULL)
            break;
        if (p + 1 < req + len && p[1] == '\n')
            return "200 OK";
        if (p + 2 < req + len && p[1] == '\r' && p[2] == '\n')
            return "200 OK";
    }
    return len >= max ? "431 Request Header Fields Too Large" : NULL;
}

static void respond_error(conn *c, const char *status)
{
    static const struct {
        const char *status, *body;
    } bodies[] = {
        {"404 Not Found", "not found: try /metrics\n"},
        {"405 Method Not Allowed", "only GET\n"},
        {"431 Request Header Fields Too Large", "request too large\n"},
    };
    const char *body = "bad request\n";
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        if (!strcmp(status, bodies[i].status))
            body = bodies[i].body;
    respond_text(c, status, body);
}

static void serve_metrics(conn *c)
{
    sg_mbuf b;
    sg_mbuf_init(&b, SG_MHTTP_MAX_RESPONSE);
    c->srv->render(&b, c->srv->payload);
    if (b.full || b.data == NULL)
        respond_text(c, "500 Internal Server Error", "metrics did not fit\n");
    else
        respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
    sg_mbuf_free(&b);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = h->data;
    (void)suggested;
    if (c->answered) {
        *buf = uv_buf_init(c->discard, sizeof(c->discard));
        return;
    }
    /* one byte kept free: the header end is searched in what was read */
    *buf = uv_buf_init(c->req + c->len, (unsigned)(sizeof(c->req) - 1 - c->len));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    conn *c = st->data;
    (void)buf;
    if (n < 0) {
        conn_close(c); /* EOF or error: after an answer, the normal end */
        return;
    }
    if (n == 0 || c->answered)
        return;
    c->len += (size_t)n;
    c->req[c->len] = '\0';
    const char *status = sg_mhttp_judge(c->req, c->len, sizeof(c->req) - 1);
    if (status == NULL)
        return;
    if (!strcmp(status, "200 OK"))
        serve_metrics(c);
    else
        respond_error(c, status);
}

static void on_connection(uv_stream_t *l, int status)
{
    sg_mhttp *s = l->data;
    if (status != 0 || s->closing)
        return;
    conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return; /* libuv stops accepting here: metrics stop, mail goes on */
    /* Full: the oldest connection goes, not the new one. Refusing the new
     * one let a local user who kept SG_MHTTP_MAX_CONNS idle connections
     * open (reopened as they time out) keep every scrape out (adv12 F4);
     * a scraper's own exchange lasts milliseconds, so it is never the
     * oldest for long. */
    int over = 0;
    if (s->nconns >= SG_MHTTP_MAX_CONNS) {
        conn *old = NULL;
        for (conn *o = s->conns; o; o = o->next)
            if (!o->closing)
                old = o;
        if (old != NULL)
            conn_close(old);
        else
            over = 1; /* all of them closing already: this one is closed too */
        if (s->refused)
            (*s->refused)++;
    }
    c->srv = s;
    c->h.handle.data = c;
    c->timer.data = c;
    if (s->is_unix)
        uv_pipe_init(l->loop, &c->h.pipe, 0);
    else
        uv_tcp_init(l->loop, &c->h.tcp);
    uv_timer_init(l->loop, &c->timer);
    c->pending = 2;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(l, &c->h.stream) != 0 || over) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timeout, SG_MHTTP_TIMEOUT_MS, 0);
    if (uv_read_start(&c->h.stream, on_alloc, on_read) != 0)
        conn_close(c);
}

static void on_listener_closed(uv_handle_t *h)
{
    sg_mhttp *s = h->data;
    s->listener_closed = 1;
    maybe_free_srv(s);
}

int sg_mhttp_start(sg_mhttp **out, uv_loop_t *loop, int fd, sg_mhttp_render_cb render,
                   void *payload, uint64_t *refused_counter)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int rc;
    *out = NULL;
    sg_mhttp *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -1;
    s->render = render;
    s->payload = payload;
    s->refused = refused_counter;
    s->is_unix = getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_UNIX;
    if (s->is_unix) {
        uv_pipe_init(loop, &s->listener.pipe, 0);
        rc = uv_pipe_open(&s->listener.pipe, fd);
    } else {
        uv_tcp_init(loop, &s->listener.tcp);
        rc = uv_tcp_open(&s->listener.tcp, fd);
    }
    s->listener.handle.data = s;
    if (rc == 0)
        rc = uv_listen(&s->listener.stream, 64, on_connection);
    if (rc != 0) {
        s->closing = 1;
        uv_close(&s->listener.handle, on_listener_closed);
        return -1;
    }
    *out = s;
    return 0;
}

void sg_mhttp_close(sg_mhttp *s)
{
    if (s == NULL || s->closing)
        return;
    s->closing = 1;
    for (conn *c = s->conns; c; c = c->next)
        conn_close(c);
    uv_close(&s->listener.handle, on_listener_closed);
}
