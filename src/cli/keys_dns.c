/*
 * A DNS stub for `spoofguard keys` (keys_dns.h): one question to one
 * server, RD chosen by the caller, answers parsed with explicit bounds.
 */
#define _GNU_SOURCE
#include "keys_dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int kd_server_parse(kd_server *s, const char *spec, char *err, size_t errlen)
{
    char host[256], port[8] = "53";
    const char *colon;
    memset(s, 0, sizeof(*s));
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || (size_t)(close - spec - 1) >= sizeof(host))
            goto bad;
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = '\0';
        if (close[1] == ':')
            snprintf(port, sizeof(port), "%s", close + 2);
        else if (close[1] != '\0')
            goto bad;
    } else if ((colon = strchr(spec, ':')) != NULL && strchr(colon + 1, ':') == NULL) {
        if ((size_t)(colon - spec) >= sizeof(host))
            goto bad;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        snprintf(port, sizeof(port), "%s", colon + 1);
    } else {
        if (strlen(spec) >= sizeof(host))
            goto bad;
        snprintf(host, sizeof(host), "%s", spec);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "%s: %s", spec, rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    memcpy(&s->addr, res->ai_addr, res->ai_addrlen);
    s->len = res->ai_addrlen;
    freeaddrinfo(res);
    snprintf(s->label, sizeof(s->label), "%s", spec);
    return 0;
bad:
    snprintf(err, errlen, "'%s' is not HOST[:PORT]", spec);
    return -1;
}

int kd_server_system(kd_server *s)
{
    FILE *fp = fopen("/etc/resolv.conf", "r");
    char line[512], err[128];
    if (fp != NULL) {
        while (fgets(line, sizeof(line), fp)) {
            char addr[256];
            if (sscanf(line, " nameserver %255s", addr) == 1) {
                fclose(fp);
                char spec[260];
                snprintf(spec, sizeof(spec), strchr(addr, ':') ? "[%s]" : "%s", addr);
                return kd_server_parse(s, spec, err, sizeof(err));
            }
        }
        fclose(fp);
    }
    return kd_server_parse(s, "127.0.0.1", err, sizeof(err));
}

/* ------------------------------------------------------------------------ */
/* wire format                                                               */

/* name as wire labels into out (cap bytes); its length or -1. */
static int encode_name(uint8_t *out, size_t cap, const char *name)
{
    size_t o = 0;
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (l == 0 || l > 63 || o + l + 2 > cap)
            return -1;
        out[o++] = (uint8_t)l;
        memcpy(out + o, p, l);
        o += l;
        p += l;
        if (*p == '.')
            p++;
    }
    if (o + 1 > cap || o + 1 > 255)
        return -1;
    out[o++] = 0;
    return (int)o;
}

/* Read the (possibly compressed) name at *off into out as dotted text,
 * lower-cased, no trailing dot; advances *off past it. -1 on a malformed
 * name (out of bounds, forward or looping pointers, too long). */
static int read_name(const uint8_t *pkt, size_t len, size_t *off, char *out, size_t cap)
{
    size_t p = *off, o = 0, end = 0;
    int jumped = 0, hops = 0;
    for (;;) {
        if (p >= len)
            return -1;
        uint8_t l = pkt[p];
        if ((l & 0xC0) == 0xC0) {
            if (p + 1 >= len || ++hops > 64)
                return -1;
            size_t to = ((size_t)(l & 0x3F) << 8) | pkt[p + 1];
            if (to >= p)
                return -1; /* only backwards: no loops */
            if (!jumped)
                end = p + 2;
            jumped = 1;
            p = to;
            continue;
        }
        if (l & 0xC0)
            return -1;
        if (l == 0) {
            if (!jumped)
                end = p + 1;
            break;
        }
        if (p + 1 + l > len || o + l + 2 > cap)
            return -1;
        if (o)
            out[o++] = '.';
        for (size_t i = 0; i < l; i++) {
            unsigned char c = pkt[p + 1 + i];
            out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        p += 1 + l;
    }
    out[o] = '\0';
    *off = end;
    return 0;
}

static int kd_fail(kd_answer *a, const char *why)
{
    a->status = -1;
    snprintf(a->why, sizeof(a->why), "%s", why);
    return -1;
}

static void lower_copy(char *out, size_t cap, const char *in)
{
    size_t i;
    for (i = 0; in[i] && i + 1 < cap; i++)
        out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] + 32 : in[i]);
    out[i] = '\0';
    if (i && out[i - 1] == '.')
        out[i - 1] = '\0';
}

int kd_parse(const uint8_t *pkt, size_t len, uint16_t id, const char *name, uint16_t type,
             kd_answer *a)
{
    char want[256], owner[256], qn[256];
    size_t off = 12;
    memset(a, 0, offsetof(kd_answer, data));
    a->why[0] = '\0';
    if (len < 12)
        return kd_fail(a, "short answer");
    if (((pkt[0] << 8) | pkt[1]) != id || !(pkt[2] & 0x80))
        return kd_fail(a, "not the answer to our question");
    a->aa = !!(pkt[2] & 0x04);
    a->tc = !!(pkt[2] & 0x02);
    a->rcode = pkt[3] & 0x0F;
    unsigned qd = (unsigned)(pkt[4] << 8 | pkt[5]), an = (unsigned)(pkt[6] << 8 | pkt[7]);
    lower_copy(want, sizeof(want), name);
    if (qd != 1)
        return kd_fail(a, "answer without our question");
    if (read_name(pkt, len, &off, qn, sizeof(qn)) != 0 || off + 4 > len)
        return kd_fail(a, "malformed question");
    if (strcmp(qn, want) != 0 || ((pkt[off] << 8) | pkt[off + 1]) != type)
        return kd_fail(a, "answer to another question");
    off += 4;
    for (unsigned i = 0; i < an; i++) {
        if (read_name(pkt, len, &off, owner, sizeof(owner)) != 0 || off + 10 > len)
            return kd_fail(a, "malformed record");
        uint16_t rtype = (uint16_t)(pkt[off] << 8 | pkt[off + 1]);
        uint32_t ttl = (uint32_t)pkt[off + 4] << 24 | (uint32_t)pkt[off + 5] << 16 |
                       (uint32_t)pkt[off + 6] << 8 | pkt[off + 7];
        size_t rdlen = (size_t)(pkt[off + 8] << 8 | pkt[off + 9]);
        off += 10;
        if (off + rdlen > len)
            return kd_fail(a, "record past the end");
        size_t rd = off;
        off += rdlen;
        if (strcmp(owner, want) != 0)
            continue;
        if (rtype == KD_TYPE_CNAME && type != KD_TYPE_CNAME) {
            /* follow the chain inside the answer (records come in order) */
            size_t t = rd;
            if (read_name(pkt, len, &t, want, sizeof(want)) != 0)
                return kd_fail(a, "malformed CNAME");
            continue;
        }
        if (rtype != type)
            continue;
        if (a->n == KD_MAX_RRS) {
            a->over = 1;
            continue;
        }
        char *d = a->data[a->n];
        size_t dl = 0;
        if (type == KD_TYPE_TXT) {
            for (size_t p = rd; p < rd + rdlen;) {
                size_t sl = pkt[p];
                if (p + 1 + sl > rd + rdlen)
                    return kd_fail(a, "malformed TXT");
                if (dl + sl >= KD_RDATA_MAX)
                    return kd_fail(a, "TXT too long");
                memcpy(d + dl, pkt + p + 1, sl);
                dl += sl;
                p += 1 + sl;
            }
            d[dl] = '\0';
        } else if (type == KD_TYPE_NS) {
            size_t t = rd;
            if (read_name(pkt, len, &t, d, KD_RDATA_MAX) != 0 || t > rd + rdlen)
                return kd_fail(a, "malformed NS");
            dl = strlen(d);
        } else if (type == KD_TYPE_A && rdlen == 4) {
            inet_ntop(AF_INET, pkt + rd, d, KD_RDATA_MAX);
            dl = strlen(d);
        } else if (type == KD_TYPE_AAAA && rdlen == 16) {
            inet_ntop(AF_INET6, pkt + rd, d, KD_RDATA_MAX);
            dl = strlen(d);
        } else {
            continue;
        }
        a->len[a->n] = dl;
        a->ttl[a->n] = ttl;
        a->n++;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* transport                                                                 */

static int wait_fd(int fd, short ev, int ms)
{
    struct pollfd p = {.fd = fd, .events = ev};
    int rc;
    do
        rc = poll(&p, 1, ms);
    while (rc < 0 && errno == EINTR);
    return rc > 0 ? 0 : -1;
}

/* Milliseconds from now to the deadline, at least 0. */
static int ms_left(const struct timespec *deadline)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long long ms =
        (long long)(deadline->tv_sec - t.tv_sec) * 1000 + (deadline->tv_nsec - t.tv_nsec) / 1000000;
    return ms <= 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}

/* n bytes, all by the deadline: a server that trickles an answer one
 * octet at a time inside each timeout held a query for minutes (adv19
 * F11) */
static int io_all(int fd, uint8_t *b, size_t n, int wr, const struct timespec *deadline)
{
    for (size_t o = 0; o < n;) {
        int ms = ms_left(deadline);
        if (ms == 0 || wait_fd(fd, wr ? POLLOUT : POLLIN, ms) != 0)
            return -1;
        ssize_t r = wr ? write(fd, b + o, n - o) : read(fd, b + o, n - o);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        o += (size_t)r;
    }
    return 0;
}

/* Name servers left out of a set taken in part would never be asked
 * whether they serve the new key: the whole set or a failure. */
static void refuse_over(kd_answer *a)
{
    if (a->status == 0 && a->over) {
        a->status = -1;
        snprintf(a->why, sizeof(a->why), "more than %d records", KD_MAX_RRS);
    }
}

void kd_query(const kd_server *s, const char *name, uint16_t type, int rd, int timeout_ms,
              kd_answer *a)
{
    uint8_t q[300], resp[65535 + 2];
    uint16_t id;
    int qlen, nl;
    memset(a, 0, offsetof(kd_answer, data));
    if (getrandom(&id, sizeof(id), 0) != sizeof(id))
        id = (uint16_t)(time(NULL) ^ getpid());
    memset(q, 0, 12);
    q[0] = (uint8_t)(id >> 8), q[1] = (uint8_t)id;
    q[2] = rd ? 0x01 : 0x00;
    q[5] = 1;
    nl = encode_name(q + 12, sizeof(q) - 16, name);
    if (nl < 0) {
        kd_fail(a, "bad name");
        return;
    }
    qlen = 12 + nl;
    q[qlen++] = (uint8_t)(type >> 8), q[qlen++] = (uint8_t)type;
    q[qlen++] = 0, q[qlen++] = 1; /* IN */

    int fd = socket(s->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)&s->addr, s->len) != 0) {
        if (fd >= 0)
            close(fd);
        kd_fail(a, strerror(errno));
        return;
    }
    int got = 0;
    for (int tries = 0; tries < 2 && !got; tries++) {
        if (send(fd, q, (size_t)qlen, 0) != qlen)
            break;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            int left = timeout_ms -
                       (int)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
            if (left <= 0 || wait_fd(fd, POLLIN, left) != 0)
                break;
            ssize_t r = recv(fd, resp, sizeof(resp), 0);
            if (r < 0)
                break; /* ICMP refused: nobody there */
            /* a stray or spoofed datagram is skipped, not taken */
            if (kd_parse(resp, (size_t)r, id, name, type, a) == 0) {
                got = 1;
                break;
            }
        }
    }
    close(fd);
    if (!got) {
        kd_fail(a, "no answer");
        return;
    }
    if (!a->tc) {
        refuse_over(a);
        return;
    }
    /* truncated: the same question over TCP (RFC 7766) */
    fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        kd_fail(a, strerror(errno));
        return;
    }
    if (connect(fd, (const struct sockaddr *)&s->addr, s->len) != 0 && errno != EINPROGRESS) {
        close(fd);
        kd_fail(a, "TCP connect failed");
        return;
    }
    uint8_t lenbuf[2] = {(uint8_t)(qlen >> 8), (uint8_t)qlen};
    /* the whole TCP exchange gets twice the query's timeout */
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += (2 * timeout_ms) / 1000;
    dl.tv_nsec += (long)((2 * timeout_ms) % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L)
        dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    if (io_all(fd, lenbuf, 2, 1, &dl) != 0 || io_all(fd, q, (size_t)qlen, 1, &dl) ||
        io_all(fd, lenbuf, 2, 0, &dl) != 0) {
        close(fd);
        kd_fail(a, "no answer over TCP");
        return;
    }
    size_t rl = (size_t)(lenbuf[0] << 8 | lenbuf[1]);
    if (io_all(fd, resp, rl, 0, &dl) != 0) {
        close(fd);
        kd_fail(a, "short answer over TCP");
        return;
    }
    close(fd);
    kd_parse(resp, rl, id, name, type, a);
    refuse_over(a);
}
