/*
 * The MTA-STS policy file over HTTPS for `spoofguard audit` (RFC 8461 3.3):
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt, a certificate valid for
 * that name (the system's trust store or --mta-sts-ca), HTTP status 200
 * only (a redirect is not followed: the RFC forbids it), Content-Type
 * text/plain, at most 64 KiB, 10 s in all. The audit engine does no I/O:
 * it calls this through sg_audit_opts.mtasts_fetch.
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mtasts_fetch.h"
#include "mtasts_http.h"

/* The answer's header: generous, but bounded like the body. */
#define HEAD_MAX 16384

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The socket stays non-blocking and every TLS call that would block waits
 * here, in poll(), for at most what is left of the one deadline of the
 * fetch. A timeout per recv() (SO_RCVTIMEO) bounded nothing: SSL_connect
 * and SSL_read make many recv() calls, and a server sending a byte every
 * 200 ms held the audit for hours (adv34 F1). After a TLS call returned
 * ret: 1 to call it again, 0 when the deadline has passed, -1 on any
 * other failure. */
static int tls_wait(SSL *ssl, int fd, int ret, double deadline)
{
    int e = SSL_get_error(ssl, ret);
    short ev;
    if (e == SSL_ERROR_WANT_READ)
        ev = POLLIN;
    else if (e == SSL_ERROR_WANT_WRITE)
        ev = POLLOUT;
    else
        return -1;
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, ev, 0};
        int n = poll(&p, 1, (int)(left * 1000) + 1);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* Whether an address is one the policy host may have: not loopback,
 * private (RFC 1918, fc00::/7), shared (RFC 6598), link-local,
 * unspecified, multicast, reserved, documentation or another
 * special-purpose block (RFC 6890). A DNS answer chooses where the fetch
 * connects: without this, a hostile domain's "mta-sts" name pointed the
 * audit at 127.0.0.1:443 or 169.254.169.254 (adv34 F7, SSRF). */
static int addr_public(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        return !(a[0] == 0 || a[0] == 10 || a[0] == 127 || a[0] >= 224 ||
                 (a[0] == 100 && (a[1] & 0xc0) == 64) || (a[0] == 169 && a[1] == 254) ||
                 (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
                 (a[0] == 192 && a[1] == 0 && (a[2] == 0 || a[2] == 2)) ||
                 (a[0] == 192 && a[1] == 88 && a[2] == 99) ||
                 (a[0] == 198 && (a[1] & 0xfe) == 18) ||
                 (a[0] == 198 && a[1] == 51 && a[2] == 100) ||
                 (a[0] == 203 && a[1] == 0 && a[2] == 113));
    }
    if (sa->sa_family == AF_INET6) {
        const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const uint8_t zero[10] = {0};
        if (memcmp(a, zero, 10) == 0)
            return 0; /* ::, ::1, IPv4-compatible and IPv4-mapped (::ffff:0:0/96) */
        if ((a[0] & 0xfe) == 0xfc || a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||
            (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0))
            return 0; /* ULA, multicast, link-local, site-local */
        if ((a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) ||
            (a[0] == 0x3f && a[1] == 0xff && (a[2] & 0xf0) == 0) ||
            (a[0] == 0x20 && a[1] == 0x01 && (a[2] & 0xfe) == 0) ||
            (a[0] == 0x20 && a[1] == 0x02) ||
            (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b) ||
            (a[0] == 0x01 && a[1] == 0 && a[2] == 0 && a[3] == 0))
            return 0;                 /* documentation (2001:db8::/32, 3fff::/20), IETF protocol
                                       * assignments (2001::/23: Teredo, benchmarking, ORCHID;
                                       * rev23 R23-5), 6to4, NAT64, discard-only */
        return (a[0] & 0xe0) == 0x20; /* global unicast: 2000::/3 */
    }
    return 0;
}

/* Connect to one address within the deadline: the fd, or -1 with err set. */
static int dial_one(const struct sockaddr *sa, socklen_t salen, const char *host, const char *port,
                    double deadline, char *err, size_t errlen)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(err, errlen, "connecting to %s port %s: %s", host, port, strerror(errno));
    if (connect(fd, sa, salen) != 0) {
        struct pollfd p = {fd, POLLOUT, 0};
        int soerr = errno == EINPROGRESS ? 0 : errno;
        socklen_t sl = sizeof(soerr);
        double left = deadline - now_s();
        if (soerr == 0 && (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) != 1 ||
                           getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0))
            soerr = ETIMEDOUT;
        if (soerr != 0) {
            snprintf(err, errlen, "connecting to %s port %s: %s", host, port,
                     soerr == ETIMEDOUT ? "timed out" : strerror(soerr));
            close(fd);
            return -1;
        }
    }
    /* non-blocking from here: every TLS call waits in tls_wait() */
    return fd;
}

/* A TCP connection to host:port within the deadline, or -1. With r, the
 * host's A and AAAA records come from the audit's resolver (--zone,
 * --dns: the system's resolvers are never asked) and only public
 * addresses are connected to; without r (--mta-sts-connect: the operator
 * named the place) getaddrinfo, unfiltered. */
static int dial(sg_resolver *r, const char *host, const char *port, double deadline, char *err,
                size_t errlen)
{
    int fd = -1, rc;
    err[0] = '\0';
    if (r != NULL) {
        static const uint16_t types[2] = {SG_DNS_AAAA, SG_DNS_A};
        char why[64] = "";
        for (int t = 0; t < 2 && fd < 0; t++) {
            sg_dns_result res;
            if (now_s() >= deadline)
                return fail(err, errlen, "timed out looking up %s", host);
            if (sg_dns_lookup_sync(r, host, types[t], &res) != 0)
                continue;
            if (res.answer.status != SG_DNS_NOERROR && res.answer.status != SG_DNS_NODATA &&
                res.answer.status != SG_DNS_NXDOMAIN)
                snprintf(why, sizeof(why), "%s lookup %s", sg_dns_type_str(types[t]),
                         sg_dns_status_str(res.answer.status));
            for (size_t i = 0; i < res.answer.count && fd < 0; i++) {
                const sg_dns_rr *rr = &res.answer.rrs[i];
                struct sockaddr_storage ss;
                socklen_t sl;
                memset(&ss, 0, sizeof(ss));
                if (rr->type == SG_DNS_A) {
                    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
                    in->sin_family = AF_INET;
                    in->sin_port = htons((uint16_t)atoi(port));
                    memcpy(&in->sin_addr, rr->u.a, 4);
                    sl = sizeof(*in);
                } else if (rr->type == SG_DNS_AAAA) {
                    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
                    in6->sin6_family = AF_INET6;
                    in6->sin6_port = htons((uint16_t)atoi(port));
                    memcpy(&in6->sin6_addr, rr->u.aaaa, 16);
                    sl = sizeof(*in6);
                } else
                    continue;
                if (!addr_public((struct sockaddr *)&ss)) {
                    char a[INET6_ADDRSTRLEN] = "?";
                    getnameinfo((struct sockaddr *)&ss, sl, a, sizeof(a), NULL, 0, NI_NUMERICHOST);
                    snprintf(err, errlen,
                             "%s has the address %s, which is loopback, private, link-local or "
                             "otherwise special-purpose: not connected to",
                             host, a);
                    continue;
                }
                fd = dial_one((struct sockaddr *)&ss, sl, host, port, deadline, err, errlen);
            }
            sg_dns_result_free(&res);
        }
        if (fd < 0 && err[0] == '\0')
            snprintf(err, errlen, "%s has no address%s%s", host, why[0] ? ": " : "", why);
        return fd;
    }
    struct addrinfo hints, *res = NULL, *ai;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0)
        return fail(err, errlen, "%s: %s", host, gai_strerror(rc));
    for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
        fd = dial_one(ai->ai_addr, ai->ai_addrlen, host, port, deadline, err, errlen);
    freeaddrinfo(res);
    if (fd < 0 && err[0] == '\0')
        snprintf(err, errlen, "no address of %s to connect to", host);
    return fd;
}

/* The TLS layer's reason, certificate errors by name. */
static void tls_reason(SSL *ssl, char *err, size_t errlen, const char *host)
{
    long v = SSL_get_verify_result(ssl);
    unsigned long e = ERR_peek_last_error();
    if (v != X509_V_OK)
        snprintf(err, errlen, "TLS: the certificate of %s is not valid for it: %s", host,
                 X509_verify_cert_error_string(v));
    else if (e != 0)
        snprintf(err, errlen, "TLS: %s",
                 ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "handshake failed");
    else
        snprintf(err, errlen, "TLS: the connection closed during the handshake");
}

int sg_cli_mtasts_fetch(void *ctx, const char *host, char *buf, size_t cap, size_t *len, char *err,
                        size_t errlen)
{
    const sg_cli_mtasts *o = ctx;
    unsigned ms = o && o->timeout_ms ? o->timeout_ms : 10000, secs = (ms + 999) / 1000;
    double deadline = now_s() + ms / 1000.0;
    char chost[256], cport[16] = "443", *resp = NULL;
    SSL_CTX *sctx = NULL;
    SSL *ssl = NULL;
    int fd = -1, rc = -1;
    size_t got = 0, rcap = HEAD_MAX + cap + 64;

    /* where to connect: --mta-sts-connect HOST:PORT, else the name on 443 */
    snprintf(chost, sizeof(chost), "%s", host);
    if (o != NULL && o->connect != NULL) {
        const char *colon = strrchr(o->connect, ':');
        size_t hl = colon ? (size_t)(colon - o->connect) : strlen(o->connect);
        const char *h = o->connect;
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']')
            h++, hl -= 2;
        if (hl == 0 || hl >= sizeof(chost))
            return fail(err, errlen, "--mta-sts-connect %s: not HOST:PORT", o->connect);
        memcpy(chost, h, hl);
        chost[hl] = '\0';
        if (colon != NULL)
            snprintf(cport, sizeof(cport), "%s", colon + 1);
    }
    if ((resp = malloc(rcap)) == NULL)
        return fail(err, errlen, "out of memory");
    /* a server that closes while we write must not kill the audit with
     * SIGPIPE: ignored during the fetch, the caller's handling restored */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old_pipe);
    if ((fd = dial(o != NULL && o->connect == NULL ? o->resolver : NULL, chost, cport, deadline,
                   err, errlen)) < 0)
        goto out;
    if ((sctx = SSL_CTX_new(TLS_client_method())) == NULL ||
        SSL_CTX_set_min_proto_version(sctx, TLS1_2_VERSION) != 1) {
        fail(err, errlen, "TLS: cannot start");
        goto out;
    }
    SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER, NULL);
    /* many servers close without close_notify; the answer's own length
     * (Content-Length or the last chunk) says whether it is whole */
    SSL_CTX_set_options(sctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (o != NULL && o->ca_file != NULL ? SSL_CTX_load_verify_locations(sctx, o->ca_file, NULL) != 1
                                        : SSL_CTX_set_default_verify_paths(sctx) != 1) {
        fail(err, errlen, "TLS: cannot load the trusted certificates%s%s",
             o && o->ca_file ? " of " : "", o && o->ca_file ? o->ca_file : "");
        goto out;
    }
    if ((ssl = SSL_new(sctx)) == NULL || SSL_set_tlsext_host_name(ssl, host) != 1 ||
        SSL_set1_host(ssl, host) != 1 || SSL_set_fd(ssl, fd) != 1) {
        fail(err, errlen, "TLS: cannot start");
        goto out;
    }
    /* the name only in the subject's CN is not a certificate for it: RFC
     * 6125 6.4.4 once there is a subjectAltName, and browsers, Go and the
     * CA/B Baseline Requirements never look at the CN, so senders refuse
     * what OpenSSL's fallback accepted */
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    for (int r; (r = SSL_connect(ssl)) != 1;) {
        int w = tls_wait(ssl, fd, r, deadline);
        if (w == 1)
            continue;
        if (w == 0)
            fail(err, errlen, "timed out during the TLS handshake (%u s)", secs);
        else
            tls_reason(ssl, err, errlen, host);
        goto out;
    }
    char req[512];
    int rl = snprintf(req, sizeof(req),
                      "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: %s\r\n"
                      "User-Agent: spoofguard-audit\r\nAccept: text/plain\r\n"
                      "Connection: close\r\n\r\n",
                      host);
    if (rl <= 0 || (size_t)rl >= sizeof(req)) {
        fail(err, errlen, "could not send the request");
        goto out;
    }
    for (int r; (r = SSL_write(ssl, req, rl)) != rl;) {
        int w = r > 0 ? -1 : tls_wait(ssl, fd, r, deadline);
        if (w == 1)
            continue;
        fail(err, errlen,
             w == 0 ? "timed out sending the request (%u s)" : "could not send the request", secs);
        goto out;
    }
    /* a server that keeps the connection open after a complete answer is
     * not read until the deadline */
    sg_cli_http_scan scan = {0};
    for (;;) {
        int n;
        if (sg_cli_mtasts_http_whole(&scan, resp, got, rcap))
            break;
        if (got == rcap) {
            fail(err, errlen, "the answer is larger than 64 KiB of policy");
            goto out;
        }
        n = SSL_read(ssl, resp + got, (int)(rcap - got));
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN)
            break;
        int w = tls_wait(ssl, fd, n, deadline);
        if (w == 1)
            continue;
        if (w == 0)
            fail(err, errlen, "timed out reading the answer (%u s)", secs);
        else
            fail(err, errlen, "the connection failed while reading");
        goto out;
    }

    const char *body;
    size_t blen;
    if (sg_cli_mtasts_http_answer(resp, got, cap, &body, &blen, err, errlen) != 0)
        goto out;
    memcpy(buf, body, blen);
    *len = blen;
    rc = 0;
out:
    if (ssl != NULL)
        SSL_free(ssl);
    SSL_CTX_free(sctx);
    if (fd >= 0)
        close(fd);
    free(resp);
    sigaction(SIGPIPE, &old_pipe, NULL);
    return rc;
}
