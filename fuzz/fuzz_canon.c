/*
 * libFuzzer harness for DKIM canonicalisation.
 *
 * Byte 0 picks the mode and an l= limit, byte 1 seeds the chunking; the
 * rest is a body. The streaming canonicaliser is run whole and chunked;
 * the outputs must be identical, and both must equal a naive whole-buffer
 * reference written straight from RFC 6376 3.4.3/3.4.4. The same bytes
 * are also run through the header canonicaliser, whose relaxed output must
 * keep its promises (lower-case name, no WSP run, no fold, one final CRLF).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <spoofguard/canon.h>

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

static void sink(const void *d, size_t n, void *payload)
{
    if (n == 0)
        abort();
    put(payload, d, n);
}

static int wsp(char c)
{
    return c == ' ' || c == '\t';
}

static void ref_body(sg_canon_mode mode, const char *in, size_t n, buf *out)
{
    if (mode == SG_CANON_SIMPLE) {
        while (n >= 2 && in[n - 2] == '\r' && in[n - 1] == '\n')
            n -= 2;
        put(out, in, n);
        put(out, "\r\n", 2);
        return;
    }
    buf tmp = {0};
    size_t i = 0;
    while (i < n) {
        size_t j = i, e;
        while (j < n && !(in[j] == '\r' && j + 1 < n && in[j + 1] == '\n'))
            j++;
        int term = j < n;
        e = j;
        if (term)
            while (e > i && wsp(in[e - 1]))
                e--;
        for (size_t k = i; k < e; k++) {
            if (wsp(in[k])) {
                while (k + 1 < e && wsp(in[k + 1]))
                    k++;
                put(&tmp, " ", 1);
            } else {
                put(&tmp, &in[k], 1);
            }
        }
        if (term)
            put(&tmp, "\r\n", 2);
        i = term ? j + 2 : j;
    }
    size_t m = tmp.n;
    while (m >= 2 && tmp.d[m - 2] == '\r' && tmp.d[m - 1] == '\n')
        m -= 2;
    if (m > 0) {
        put(out, tmp.d, m);
        put(out, "\r\n", 2);
    }
    free(tmp.d);
}

static void stream(sg_canon_mode mode, uint64_t limit, const char *in, size_t n, unsigned seed,
                   buf *out, uint64_t *total)
{
    sg_canon_body c;
    size_t off = 0;
    sg_canon_body_init(&c, mode, limit, sink, out);
    while (off < n) {
        size_t step = n - off;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            step = 1 + (seed >> 16) % ((seed & 0x100) ? 9 : 300);
            if (step > n - off)
                step = n - off;
        }
        sg_canon_body_update(&c, in + off, step);
        off += step;
    }
    sg_canon_body_final(&c);
    if (c.emitted != out->n)
        abort();
    *total = c.total;
}

static void check_header(const char *in, size_t n)
{
    buf s = {0}, r = {0};
    sg_canon_header(SG_CANON_SIMPLE, in, n, 0, sink, &s);
    if (s.n != n || (n && memcmp(s.d, in, n) != 0))
        abort();
    sg_canon_header(SG_CANON_RELAXED, in, n, 0, sink, &r);
    if (r.n < 2 || memcmp(r.d + r.n - 2, "\r\n", 2) != 0)
        abort();
    /* A bare LF in the input can meet a lone CR once a fold is removed;
     * parser output never has one, so only check CRLF when there is none. */
    int bare_lf = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
            bare_lf = 1;
    /* The name is whatever precedes the first colon (garbage stays
     * garbage, lower-cased); the value obeys 3.4.2. */
    const char *colon = memchr(r.d, ':', r.n);
    size_t vstart = colon ? (size_t)(colon - r.d) + 1 : r.n;
    for (size_t i = 0; i + 2 < r.n; i++) {
        if (i < vstart) {
            if (r.d[i] >= 'A' && r.d[i] <= 'Z')
                abort();
            continue;
        }
        if (r.d[i] == '\t' || (r.d[i] == ' ' && wsp(r.d[i + 1])))
            abort();
        if (!bare_lf && r.d[i] == '\r' && r.d[i + 1] == '\n')
            abort();
    }
    /* no WSP right after the colon or before the final CRLF */
    if (colon && vstart < r.n - 2 && wsp(r.d[vstart]))
        abort();
    if (colon && r.n - 2 > vstart && wsp(r.d[r.n - 3]))
        abort();
    free(s.d);
    free(r.d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    sg_canon_mode mode = (data[0] & 1) ? SG_CANON_RELAXED : SG_CANON_SIMPLE;
    uint64_t limit = (data[0] & 2) ? (uint64_t)(data[0] >> 2) * 3 : UINT64_MAX;
    unsigned seed = data[1] | 1u;
    const char *in = (const char *)data + 2;
    size_t n = size - 2;

    buf ref = {0}, whole = {0}, chunked = {0};
    uint64_t t1, t2;
    ref_body(mode, in, n, &ref);
    stream(mode, limit, in, n, 0, &whole, &t1);
    stream(mode, limit, in, n, seed, &chunked, &t2);
    size_t want = ref.n;
    if (limit < want)
        want = (size_t)limit;
    if (t1 != ref.n || t2 != ref.n)
        abort();
    if (whole.n != want || chunked.n != want)
        abort();
    if (want && (memcmp(whole.d, ref.d, want) != 0 || memcmp(chunked.d, ref.d, want) != 0))
        abort();
    check_header(in, n);
    free(ref.d);
    free(whole.d);
    free(chunked.d);
    return 0;
}
