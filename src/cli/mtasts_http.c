/*
 * The HTTP/1.1 answer of the MTA-STS policy host (see mtasts_http.h):
 * pure code over the bytes the fetcher (mtasts_fetch.c) received.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mtasts_http.h"

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

/* A header field's value in [h, he), or NULL. */
static const char *header_value(const char *h, const char *he, const char *name, size_t *vl)
{
    size_t n = strlen(name);
    for (const char *l = h; l < he;) {
        const char *e = memchr(l, '\n', (size_t)(he - l));
        const char *le = e ? e : he;
        if ((size_t)(le - l) > n && strncasecmp(l, name, n) == 0 && l[n] == ':') {
            const char *v = l + n + 1;
            while (v < le && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = le;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vl = (size_t)(ve - v);
            return v;
        }
        l = e ? e + 1 : he;
    }
    return NULL;
}

/* Chunked transfer coding (RFC 9112 7.1), walked over n bytes: the body's
 * length once the last chunk and the trailer section's end are there,
 * UNCHUNK_SHORT before, UNCHUNK_BROKEN when it can never be well formed.
 * With decode, the chunks' data is moved together at the front of b, and a
 * connection closed within the trailer section is taken as its end. */
#define UNCHUNK_BROKEN (-1)
#define UNCHUNK_SHORT (-2)
static long unchunk(char *b, size_t n, int decode)
{
    size_t i = 0, o = 0;
    for (;;) {
        size_t sz = 0, digits = 0;
        while (i < n &&
               ((b[i] >= '0' && b[i] <= '9') || ((b[i] | 0x20) >= 'a' && (b[i] | 0x20) <= 'f'))) {
            unsigned char c = (unsigned char)b[i++];
            sz = sz * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
            if (++digits > 8)
                return UNCHUNK_BROKEN;
        }
        if (i >= n)
            return UNCHUNK_SHORT;
        if (digits == 0)
            return UNCHUNK_BROKEN;
        while (i < n && b[i] != '\n') /* chunk extensions */
            i++;
        if (i++ >= n)
            return UNCHUNK_SHORT;
        if (sz == 0)
            break;
        if (sz > n - i)
            return UNCHUNK_SHORT;
        if (decode)
            memmove(b + o, b + i, sz);
        o += sz;
        i += sz;
        if (i < n && b[i] == '\r')
            i++;
        if (i >= n)
            return UNCHUNK_SHORT;
        if (b[i++] != '\n')
            return UNCHUNK_BROKEN;
    }
    /* trailer fields, then an empty line */
    for (;;) {
        size_t start = i;
        while (i < n && b[i] != '\n')
            i++;
        if (i >= n)
            return decode ? (long)o : UNCHUNK_SHORT;
        if (i - start == 0 || (i - start == 1 && b[start] == '\r'))
            return (long)o;
        i++;
    }
}

int sg_cli_mtasts_http_whole(sg_cli_http_scan *s, char *resp, size_t got, size_t rcap)
{
    if (s->hend == 0) {
        for (size_t i = s->scanned; i + 1 < got && s->hend == 0; i++)
            if (resp[i] == '\n' && (resp[i + 1] == '\n' ||
                                    (i + 2 < got && resp[i + 1] == '\r' && resp[i + 2] == '\n')))
                s->hend = i + (resp[i + 1] == '\n' ? 2 : 3);
        s->scanned = got > 2 ? got - 2 : 0;
        size_t vl;
        const char *v;
        if (s->hend != 0 &&
            (v = header_value(resp, resp + s->hend, "Transfer-Encoding", &vl)) != NULL)
            s->chunked = vl >= 7 && strncasecmp(v + vl - 7, "chunked", 7) == 0;
        else if (s->hend != 0 &&
                 (v = header_value(resp, resp + s->hend, "Content-Length", &vl)) != NULL) {
            char num[24], *endp;
            snprintf(num, sizeof(num), "%.*s", (int)(vl < 20 ? vl : 20), v);
            unsigned long long cl = strtoull(num, &endp, 10);
            if (*endp == '\0' && vl > 0 && cl <= rcap - s->hend)
                s->whole = s->hend + (size_t)cl;
        }
    }
    if (s->whole != 0 && got >= s->whole)
        return 1;
    /* chunks end with a line end: walked again only when one came, a
     * cost bounded by the 64 KiB answer and the fetch's deadline */
    if (s->chunked && got > s->hend && memchr(resp + s->fresh, '\n', got - s->fresh) != NULL &&
        unchunk(resp + s->hend, got - s->hend, 0) != UNCHUNK_SHORT)
        return 1;
    s->fresh = got;
    return 0;
}

int sg_cli_mtasts_http_answer(char *resp, size_t got, size_t cap, const char **body,
                              size_t *blen_out, char *err, size_t errlen)
{
    /* the status line and the header */
    char *he = NULL;
    for (size_t i = 0; i + 1 < got; i++)
        if (resp[i] == '\n' &&
            (resp[i + 1] == '\n' || (i + 2 < got && resp[i + 1] == '\r' && resp[i + 2] == '\n'))) {
            he = resp + i + 1;
            break;
        }
    if (he == NULL)
        return fail(err, errlen,
                    got == 0 ? "an empty answer" : "an answer without a complete header");
    char *b = he + (*he == '\r' ? 2 : 1);
    /* "HTTP/1.x SP 3DIGIT SP" (RFC 9112 4): "2004" is no status 200 */
    if (got < 13 || strncmp(resp, "HTTP/1.", 7) != 0 || resp[7] < '0' || resp[7] > '9' ||
        resp[8] != ' ' || resp[9] < '1' || resp[9] > '5' || resp[10] < '0' || resp[10] > '9' ||
        resp[11] < '0' || resp[11] > '9' ||
        (resp[12] != ' ' && resp[12] != '\r' && resp[12] != '\n'))
        return fail(err, errlen, "not an HTTP answer");
    int status = (resp[9] - '0') * 100 + (resp[10] - '0') * 10 + (resp[11] - '0');
    size_t vl;
    const char *v;
    if (status >= 300 && status < 400) {
        v = header_value(resp, he, "Location", &vl);
        return fail(err, errlen, "HTTP %d, a redirect%s%.*s: RFC 8461 3.3 forbids following it",
                    status, v ? " to " : "", v ? (int)(vl > 200 ? 200 : vl) : 0, v ? v : "");
    }
    if (status != 200)
        return fail(err, errlen, "HTTP status %d (200 required)", status);
    v = header_value(resp, he, "Content-Type", &vl);
    if (v == NULL || vl < 10 || strncasecmp(v, "text/plain", 10) != 0 ||
        (vl > 10 && v[10] != ';' && v[10] != ' '))
        return fail(err, errlen, "Content-Type %.*s, not text/plain (RFC 8461 3.2)",
                    v ? (int)(vl > 100 ? 100 : vl) : 6, v ? v : "absent");
    size_t blen = got - (size_t)(b - resp);
    v = header_value(resp, he, "Transfer-Encoding", &vl);
    if (v != NULL && vl >= 7 && strncasecmp(v + vl - 7, "chunked", 7) == 0) {
        long u = unchunk(b, blen, 1);
        if (u < 0)
            return fail(err, errlen, "a broken chunked answer");
        blen = (size_t)u;
    } else if ((v = header_value(resp, he, "Content-Length", &vl)) != NULL) {
        char num[24];
        snprintf(num, sizeof(num), "%.*s", (int)(vl < 20 ? vl : 20), v);
        char *endp;
        unsigned long long cl = strtoull(num, &endp, 10);
        if (*endp != '\0' || cl > blen)
            return fail(err, errlen, "the answer is shorter than its Content-Length (%s)", num);
        blen = (size_t)cl;
    }
    if (blen > cap)
        return fail(err, errlen, "the policy is larger than 64 KiB");
    *body = b;
    *blen_out = blen;
    return 0;
}
