/*
 * milter_floor: the least a milter can do, for bench/milter_load.sh.
 *
 * It negotiates exactly what spoofguardd negotiates (the same protocol
 * flags, so Postfix skips and batches the same stages, and the same macro
 * lists), reads every packet, and answers only what must be answered:
 * OPTNEG, and "continue" at end of message. No parsing beyond the framing,
 * no verdict, no log line. One thread, epoll, non-blocking sockets; over
 * TCP the same TCP_DEFER_ACCEPT and TCP_QUICKACK as spoofguardd, and
 * SCHED_BATCH like spoofguardd's workers (--no-batch: the default policy).
 *
 * Its CPU a message on a machine is the part of spoofguardd's figure that
 * is the milter protocol, the MTA's wake-ups and the kernel, not the
 * checks: the floor under the 0.15 ms of issue 11.
 *
 *   milter_floor inet:HOST:PORT | unix:PATH [--no-batch]
 *
 * Not a product: a benchmark fixture. A peer that sends more than 1 MiB in
 * one packet, or garbage, is disconnected.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "milter_proto.h"

#define MAX_PACKET SG_MILTER_MAX_PACKET
/* spoofguardd's WANT_PROTOCOL and WANT_ACTIONS (src/daemon/session.c) */
#define PROTOCOL                                                                                   \
    (SG_MP_NOUNKNOWN | SG_MP_NODATA | SG_MP_NR_MAIL | SG_MP_NR_RCPT | SG_MP_NR_CONN |              \
     SG_MP_NR_HELO | SG_MP_NR_HDR | SG_MP_NR_EOH | SG_MP_NR_BODY | SG_MP_HDR_LEADSPC)
#define ACTIONS (SG_MF_ADDHDRS | SG_MF_CHGHDRS | SG_MF_QUARANTINE | SG_MF_SETSYMLIST)

typedef struct {
    int fd;
    unsigned char *buf;
    size_t len, cap;
    uint32_t proto;
} conn;

static int is_tcp;

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned char *put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return p + 4;
}

/* OPTNEG answer with spoofguardd's macro lists (session.c, SG_MC_OPTNEG). */
static size_t optneg(unsigned char *out, uint32_t actions, uint32_t proto)
{
    static const char *const sym[7] = {"{spoofguard_none}", "{spoofguard_none}", "{auth_authen}",
                                       "{spoofguard_none}", "{spoofguard_none}", "i",
                                       "{spoofguard_none}"};
    unsigned char *p = out + 5;
    p = put32(p, 6);
    p = put32(p, actions);
    p = put32(p, proto);
    if (actions & SG_MF_SETSYMLIST)
        for (uint32_t i = 0; i < 7; i++) {
            p = put32(p, i);
            size_t l = strlen(sym[i]) + 1;
            memcpy(p, sym[i], l);
            p += l;
        }
    put32(out, (uint32_t)(p - out - 4));
    out[4] = 'O';
    return (size_t)(p - out);
}

static int send_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1; /* a reply this small does not fill a socket buffer */
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Handle the complete packets in c->buf: 0 go on, -1 close. */
static int packets(conn *c)
{
    unsigned char out[512];
    size_t outlen = 0, off = 0;
    int close_after = 0;
    while (c->len - off >= 5) {
        uint32_t n = get32(c->buf + off);
        if (n == 0 || n > MAX_PACKET)
            return -1;
        if (c->len - off < 4 + (size_t)n)
            break;
        unsigned char cmd = c->buf[off + 4];
        const unsigned char *d = c->buf + off + 5;
        switch (cmd) {
        case 'O':
            if (n < 13)
                return -1;
            c->proto = get32(d + 8) & PROTOCOL;
            outlen += optneg(out + outlen, get32(d + 4) & ACTIONS, c->proto);
            break;
        case 'E': /* end of message: continue */
            put32(out + outlen, 1);
            out[outlen + 4] = 'c';
            outlen += 5;
            break;
        case 'Q':
            close_after = 1;
            break;
        default: /* macros, stages we asked not to answer, ABORT, QUIT_NC */
            break;
        }
        off += 4 + (size_t)n;
        if (outlen > sizeof(out) - 256) { /* room for the largest answer */
            if (send_all(c->fd, out, outlen) != 0)
                return -1;
            outlen = 0;
        }
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    if (outlen > 0 && send_all(c->fd, out, outlen) != 0)
        return -1;
#ifdef TCP_QUICKACK
    /* as spoofguardd: Postfix's Nagle waits for our ACK when we say nothing */
    if (is_tcp && outlen == 0 && !close_after) {
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
    }
#endif
    return close_after ? -1 : 0;
}

static void drop(int ep, conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->buf);
    free(c);
}

static int on_readable(conn *c)
{
    for (;;) {
        if (c->cap - c->len < 65536) {
            size_t cap = c->cap ? c->cap * 2 : 65536 * 2;
            if (cap > 2 * MAX_PACKET + 65536)
                return -1;
            unsigned char *b = realloc(c->buf, cap);
            if (b == NULL)
                return -1;
            c->buf = b;
            c->cap = cap;
        }
        ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (r <= 0)
            return -1;
        c->len += (size_t)r;
        if (packets(c) != 0)
            return -1;
        if ((size_t)r < 65536)
            return 0; /* a short read: the rest, if any, comes with a wake-up */
    }
}

static int listen_on(const char *spec)
{
    int fd;
    if (strncmp(spec, "unix:", 5) == 0) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(spec + 5) >= sizeof(sa.sun_path))
            return -1;
        strcpy(sa.sun_path, spec + 5);
        unlink(sa.sun_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
            return -1;
        chmod(sa.sun_path, 0666);
    } else if (strncmp(spec, "inet:", 5) == 0) {
        char host[64];
        const char *colon = strrchr(spec + 5, ':');
        if (colon == NULL || (size_t)(colon - spec - 5) >= sizeof(host))
            return -1;
        memcpy(host, spec + 5, (size_t)(colon - spec - 5));
        host[colon - spec - 5] = '\0';
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)atoi(colon + 1))};
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
            return -1;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1, defer = 5;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
            return -1;
        is_tcp = 1;
    } else {
        return -1;
    }
    if (listen(fd, 1024) != 0)
        return -1;
    return fd;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (argc == 3 && strcmp(argv[2], "--no-batch") != 0) || argc > 3) {
        fprintf(stderr, "usage: milter_floor inet:HOST:PORT|unix:PATH [--no-batch]\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    if (argc == 2) {
        struct sched_param sp = {0};
        if (pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp) != 0)
            fprintf(stderr, "milter_floor: SCHED_BATCH refused; default policy\n");
    }
    int lfd = listen_on(argv[1]);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (lfd < 0 || ep < 0) {
        fprintf(stderr, "milter_floor: cannot listen on %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return 1;
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c == NULL) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                    continue;
                c = calloc(1, sizeof(*c));
                if (c == NULL) {
                    close(fd);
                    continue;
                }
                c->fd = fd;
                struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                /* over TCP the first packet is there (TCP_DEFER_ACCEPT) */
                if (is_tcp && on_readable(c) != 0)
                    drop(ep, c);
                continue;
            }
            if (on_readable(c) != 0)
                drop(ep, c);
        }
    }
}
