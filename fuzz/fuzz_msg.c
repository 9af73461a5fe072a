/*
 * libFuzzer harness for the message parser.
 *
 * The first two bytes choose the chunking and the limits; the rest is the
 * message. It is parsed whole and in chunks; both runs must agree exactly
 * (return code, fields, body), and the output must keep the parser's
 * promises: CRLF only, body size = sum of on_body lengths, values
 * NUL-terminated and no longer than the raw field.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spoofguard/msg.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    char *d;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->d = realloc(b->d, b->cap);
        if (b->d == NULL)
            abort();
    }
    if (n)
        memcpy(b->d + b->n, p, n);
    b->n += n;
}

typedef struct {
    buf hdr, body;
    uint64_t body_sum;
    int headers_calls, end_calls;
} run;

/* Every LF is preceded by CR (the normalisation promise). */
static void check_crlf(const char *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r'))
            abort();
}

static int on_headers(const sg_header *f, size_t n, void *payload)
{
    run *r = payload;
    r->headers_calls++;
    for (size_t i = 0; i < n; i++) {
        if (f[i].raw_len < 3 || f[i].name_len == 0 || f[i].name != f[i].raw ||
            f[i].value_len > f[i].raw_len || f[i].value[f[i].value_len] != '\0')
            abort();
        if (memcmp(f[i].raw + f[i].raw_len - 2, "\r\n", 2) != 0)
            abort();
        check_crlf(f[i].raw, f[i].raw_len);
        /* no bare CR and no NUL in the header (readers disagree on them:
         * the parser refuses the message, issue 11 class 4) */
        for (size_t k = 0; k < f[i].raw_len; k++)
            if (f[i].raw[k] == '\0' || (f[i].raw[k] == '\r' && f[i].raw[k + 1] != '\n'))
                abort();
        for (size_t k = 0; k < f[i].value_len; k++)
            if (f[i].value[k] == '\0' || f[i].value[k] == '\r' || f[i].value[k] == '\n')
                abort();
        /* the unfolded value has no CRLF left */
        for (size_t k = 0; k + 1 < f[i].value_len; k++)
            if (f[i].value[k] == '\r' && f[i].value[k + 1] == '\n')
                abort();
        put(&r->hdr, &f[i].raw_len, sizeof(size_t));
        put(&r->hdr, f[i].raw, f[i].raw_len);
        put(&r->hdr, &f[i].name_len, sizeof(size_t));
        put(&r->hdr, f[i].value, f[i].value_len + 1);
    }
    return 0;
}

static int on_body(const char *d, size_t n, void *payload)
{
    run *r = payload;
    if (n == 0 || r->headers_calls != 1)
        abort();
    r->body_sum += n;
    put(&r->body, d, n);
    return 0;
}

static int on_end(void *payload)
{
    ((run *)payload)->end_calls++;
    return 0;
}

static int parse(const char *m, size_t n, const sg_msg_limits *lim, unsigned seed, run *r)
{
    static const sg_msg_callbacks cbs = {on_headers, on_body, on_end};
    sg_msg_parser *p;
    int rc = 0;
    memset(r, 0, sizeof(*r));
    if (sg_msg_parser_new(&p, lim, &cbs, r) != SG_OK)
        abort();
    size_t off = 0;
    while (off < n && rc == 0) {
        size_t step = n - off;
        if (seed) {
            /* chunk sizes 1..16 (or larger) from a tiny LCG on the seed */
            seed = seed * 1103515245u + 12345u;
            step = 1 + (seed >> 16) % ((seed & 0x100) ? 16 : 257);
            if (step > n - off)
                step = n - off;
        }
        rc = sg_msg_feed(p, m + off, step);
        off += step;
    }
    if (rc == 0)
        rc = sg_msg_finish(p);
    if (rc == 0) {
        if (r->headers_calls != 1 || r->end_calls != 1)
            abort();
        if (sg_msg_body_size(p) != r->body_sum || r->body_sum != r->body.n)
            abort();
        check_crlf(r->body.d, r->body.n);
        if (sg_msg_feed(p, "x", 1) != SG_ESTATE)
            abort();
    } else if (sg_msg_feed(p, "x", 1) != rc) {
        abort(); /* errors are sticky */
    }
    sg_msg_parser_free(p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_msg_limits lim, *limp = NULL;
    run a, b;
    if (size < 2)
        return 0;
    unsigned seed = data[0] | 1u;
    if (data[1] & 1) {
        sg_msg_limits_init(&lim);
        lim.max_fields = 1 + (data[1] >> 5);
        lim.max_field_size = 8 + (data[1] >> 1) * 4;
        lim.max_header_size = 16 + (data[1] >> 1) * 16;
        limp = &lim;
    }
    const char *m = (const char *)data + 2;
    size_t n = size - 2;
    int rca = parse(m, n, limp, 0, &a);
    int rcb = parse(m, n, limp, seed, &b);
    if (rca != rcb)
        abort();
    if (rca == 0) {
        if (a.hdr.n != b.hdr.n || (a.hdr.n && memcmp(a.hdr.d, b.hdr.d, a.hdr.n) != 0))
            abort();
        if (a.body.n != b.body.n || (a.body.n && memcmp(a.body.d, b.body.d, a.body.n) != 0))
            abort();
    }
    free(a.hdr.d);
    free(a.body.d);
    free(b.hdr.d);
    free(b.body.d);
    return 0;
}
