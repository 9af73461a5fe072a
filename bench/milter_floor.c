/*
 * milter_floor: the least a milter can do, for bench/milter_load.sh.
 *
 * It negotiates what spoofguardd negotiates (milter_proto.h: the same
 * protocol flags, so Postfix skips and batches the same stages, and the
 * same macro lists), decodes every packet with spoofguardd's codec, and
 * answers only what must be answered: OPTNEG, and "continue" at end of
 * message. No verdict, no log line. One thread, epoll, non-blocking
 * sockets; over TCP the same TCP_DEFER_ACCEPT, TCP_QUICKACK and reset
 * after QUIT as spoofguardd, and SCHED_BATCH like spoofguardd's workers
 * (--no-batch: the default policy).
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

typedef struct {
    int fd;
    int quit; /* the MTA said QUIT */
    sg_milter_reader rd;
    sg_milter_out out;
} conn;

static int is_tcp;

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

/* Handle the complete packets read so far, with spoofguardd's codec and
 * negotiation (milter_proto.h): 0 go on, -1 close. */
static int packets(conn *c)
{
    sg_milter_cmd cmd;
    sg_milter_status st;
    int close_after = 0;
    c->out.len = 0;
    while ((st = sg_milter_next(&c->rd, &cmd)) == SG_MILTER_OK) {
        if (cmd.cmd == SG_MC_OPTNEG) {
            uint32_t actions = cmd.u.optneg.actions & SG_MILTER_WANT_ACTIONS;
            sg_milter_put_optneg(&c->out, SG_MILTER_VERSION, actions,
                                 cmd.u.optneg.protocol & SG_MILTER_WANT_PROTOCOL,
                                 (actions & SG_MF_SETSYMLIST) ? sg_milter_want_symlists : NULL);
        } else if (cmd.cmd == SG_MC_BODYEOB) {
            sg_milter_put_simple(&c->out, SG_MR_CONTINUE);
        } else if (cmd.cmd == SG_MC_QUIT) {
            close_after = 1;
            c->quit = 1;
        } /* macros, stages we asked not to answer, ABORT, QUIT_NC: nothing */
    }
    if (st != SG_MILTER_NEED_MORE || c->out.oom)
        return -1;
    if (c->out.len > 0 && send_all(c->fd, c->out.buf, c->out.len) != 0)
        return -1;
#ifdef TCP_QUICKACK
    /* as spoofguardd: Postfix's Nagle waits for our ACK when we say nothing */
    if (is_tcp && c->out.len == 0 && !close_after) {
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
    }
#endif
    return close_after ? -1 : 0;
}

static void drop(int ep, conn *c)
{
    if (c->quit && is_tcp) { /* as spoofguardd (session_reply.c): a reset after QUIT */
        struct linger now = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
    }
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    sg_milter_reader_free(&c->rd);
    sg_milter_out_free(&c->out);
    free(c);
}

static int on_readable(conn *c)
{
    unsigned char buf[65536];
    for (;;) {
        ssize_t r = read(c->fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (r <= 0 || sg_milter_feed(&c->rd, buf, (size_t)r) != SG_MILTER_OK || packets(c) != 0)
            return -1;
        if ((size_t)r < sizeof(buf))
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
                sg_milter_reader_init(&c->rd, SG_MILTER_MAX_PACKET);
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
