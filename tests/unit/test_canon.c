/* DKIM canonicalisation (RFC 6376 3.4): published vectors, edge cases,
 * chunking invariance against a naive whole-buffer reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <spoofguard/canon.h>
#include <spoofguard/msg.h>

#include "dkim/bodyhash.h"
#include "helpers.h"

/* ---- a growable output buffer used as sink ----------------------------- */

typedef struct {
    char *d;
    size_t n, cap;
    size_t calls;
    const char *last_ptr;
} sbuf;

static void sb_put(sbuf *b, const void *data, size_t len)
{
    if (len >= b->cap - b->n) { /* room for len + NUL, without wrapping */
        b->cap = (b->n + len + 1) * 2;
        b->d = realloc(b->d, b->cap);
        assert_non_null(b->d);
    }
    memcpy(b->d + b->n, data, len);
    b->n += len;
    b->d[b->n] = '\0';
}

static void sink_sb(const void *data, size_t len, void *payload)
{
    sbuf *b = payload;
    assert_true(len > 0); /* the canonicaliser never makes empty calls */
    b->calls++;
    b->last_ptr = data;
    sb_put(b, data, len);
}

static void sb_free(sbuf *b)
{
    free(b->d);
    memset(b, 0, sizeof(*b));
}

static void assert_bytes(const char *got, size_t got_len, const char *want, size_t want_len)
{
    if (got_len != want_len || (want_len && memcmp(got, want, want_len) != 0)) {
        fprintf(stderr, "got  (%zu): ", got_len);
        fwrite(got, 1, got_len, stderr);
        fprintf(stderr, "\nwant (%zu): ", want_len);
        fwrite(want, 1, want_len, stderr);
        fprintf(stderr, "\n");
        fail_msg("byte mismatch");
    }
}

/* ---- naive reference (whole buffer, straight from the RFC text) -------- */

/* 3.4.3: the body with all trailing CRLFs removed, plus one CRLF. */
static void ref_simple(const char *in, size_t n, sbuf *out)
{
    while (n >= 2 && in[n - 2] == '\r' && in[n - 1] == '\n')
        n -= 2;
    sb_put(out, in, n);
    sb_put(out, "\r\n", 2);
}

/* 3.4.4, in the order of the RFC steps: per line, drop WSP before the
 * CRLF and squeeze WSP runs; then drop trailing CRLFs and add one if the
 * result is not empty. An unterminated last line is squeezed only. */
static void ref_relaxed(const char *in, size_t n, sbuf *out)
{
    sbuf tmp = {0};
    size_t i = 0;
    while (i < n) {
        size_t j = i, e;
        int term = 0;
        while (j < n && !(in[j] == '\r' && j + 1 < n && in[j + 1] == '\n'))
            j++;
        e = j;
        if (j < n)
            term = 1;
        if (term)
            while (e > i && (in[e - 1] == ' ' || in[e - 1] == '\t'))
                e--;
        for (size_t k = i; k < e; k++) {
            if (in[k] == ' ' || in[k] == '\t') {
                while (k + 1 < e && (in[k + 1] == ' ' || in[k + 1] == '\t'))
                    k++;
                sb_put(&tmp, " ", 1);
            } else {
                sb_put(&tmp, &in[k], 1);
            }
        }
        if (term)
            sb_put(&tmp, "\r\n", 2);
        i = term ? j + 2 : j;
    }
    size_t m = tmp.n;
    while (m >= 2 && tmp.d[m - 2] == '\r' && tmp.d[m - 1] == '\n')
        m -= 2;
    if (m > 0) {
        sb_put(out, tmp.d, m);
        sb_put(out, "\r\n", 2);
    }
    sb_free(&tmp);
}

static void ref_body(sg_canon_mode mode, const char *in, size_t n, sbuf *out)
{
    if (mode == SG_CANON_SIMPLE)
        ref_simple(in, n, out);
    else
        ref_relaxed(in, n, out);
}

/* Streaming canonicalisation with the given chunk boundaries. */
static void canon_chunks(sg_canon_mode mode, uint64_t limit, const char *in, size_t n,
                         const size_t *cuts, size_t ncuts, sbuf *out, uint64_t *total)
{
    sg_canon_body c;
    size_t prev = 0;
    sg_canon_body_init(&c, mode, limit, sink_sb, out);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        sg_canon_body_update(&c, in + prev, to - prev);
        prev = to;
    }
    sg_canon_body_final(&c);
    assert_true(c.emitted == out->n);
    if (total)
        *total = c.total;
}

static void canon_whole(sg_canon_mode mode, const char *in, size_t n, sbuf *out)
{
    canon_chunks(mode, UINT64_MAX, in, n, NULL, 0, out, NULL);
}

static char *load(const char *rel, size_t *len)
{
    char *d = sg_test_read_file(sg_test_path(sg_test_conformance_dir(), rel), len);
    if (d == NULL)
        fail_msg("cannot read conformance file %s", rel);
    return d;
}

/* ---- message splitting via the parser ---------------------------------- */

typedef struct {
    sg_header *h;
    size_t n;
    sbuf body;
} parsed;

static int cb_headers(const sg_header *f, size_t n, void *payload)
{
    parsed *p = payload;
    p->h = (sg_header *)f;
    p->n = n;
    return 0;
}

static int cb_body(const char *d, size_t n, void *payload)
{
    parsed *p = payload;
    sb_put(&p->body, d, n);
    return 0;
}

static sg_msg_parser *parse_all(const char *d, size_t n, parsed *out)
{
    sg_msg_parser *mp;
    sg_msg_callbacks cbs = {cb_headers, cb_body, NULL};
    memset(out, 0, sizeof(*out));
    assert_int_equal(sg_msg_parser_new(&mp, NULL, &cbs, out), SG_OK);
    assert_int_equal(sg_msg_feed(mp, d, n), SG_OK);
    assert_int_equal(sg_msg_finish(mp), SG_OK);
    return mp;
}

/* ---- RFC 6376 3.4.5 ---------------------------------------------------- */

static void rfc6376_example(void **state)
{
    static const struct {
        sg_canon_mode mode;
        const char *hdr, *body;
    } exp[] = {
        {SG_CANON_RELAXED, "dkim/rfc6376/canonicalization/example.relaxed.header.bin",
         "dkim/rfc6376/canonicalization/example.relaxed.body.bin"},
        {SG_CANON_SIMPLE, "dkim/rfc6376/canonicalization/example.simple.header.bin",
         "dkim/rfc6376/canonicalization/example.simple.body.bin"},
    };
    size_t in_len;
    char *in = load("dkim/rfc6376/canonicalization/example.input.bin", &in_len);
    parsed pm;
    sg_msg_parser *mp = parse_all(in, in_len, &pm);
    assert_int_equal(pm.n, 2);

    for (size_t k = 0; k < 2; k++) {
        size_t hl, bl;
        char *wh = load(exp[k].hdr, &hl);
        char *wb = load(exp[k].body, &bl);
        sbuf h = {0}, b = {0};
        for (size_t i = 0; i < pm.n; i++)
            sg_canon_header(exp[k].mode, pm.h[i].raw, pm.h[i].raw_len, 0, sink_sb, &h);
        assert_bytes(h.d, h.n, wh, hl);
        canon_whole(exp[k].mode, pm.body.d, pm.body.n, &b);
        assert_bytes(b.d, b.n, wb, bl);
        /* and byte by byte */
        sbuf b1 = {0};
        size_t *cuts = malloc(pm.body.n * sizeof(size_t) + 1);
        for (size_t i = 0; i < pm.body.n; i++)
            cuts[i] = i;
        canon_chunks(exp[k].mode, UINT64_MAX, pm.body.d, pm.body.n, cuts, pm.body.n, &b1, NULL);
        assert_bytes(b1.d, b1.n, wb, bl);
        free(cuts);
        sb_free(&h);
        sb_free(&b);
        sb_free(&b1);
        free(wh);
        free(wb);
    }
    sb_free(&pm.body);
    sg_msg_parser_free(mp);
    free(in);
}

/* ---- empty body hashes (3.4.3, 3.4.4) ---------------------------------- */

typedef struct {
    EVP_MD_CTX *ctx;
} hsink;

static void sink_hash(const void *d, size_t n, void *payload)
{
    assert_int_equal(EVP_DigestUpdate(((hsink *)payload)->ctx, d, n), 1);
}

static void b64(const unsigned char *d, unsigned n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, d, (int)n);
}

static void body_hash_b64(sg_canon_mode mode, const char *md, const char *in, size_t n,
                          size_t chunk, char *out)
{
    hsink h;
    sg_canon_body c;
    unsigned char dg[EVP_MAX_MD_SIZE];
    unsigned dl;
    h.ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestInit_ex(h.ctx, EVP_get_digestbyname(md), NULL), 1);
    sg_canon_body_init(&c, mode, UINT64_MAX, sink_hash, &h);
    for (size_t off = 0; off < n; off += chunk)
        sg_canon_body_update(&c, in + off, n - off < chunk ? n - off : chunk);
    sg_canon_body_final(&c);
    assert_int_equal(EVP_DigestFinal_ex(h.ctx, dg, &dl), 1);
    EVP_MD_CTX_free(h.ctx);
    b64(dg, dl, out);
}

static void empty_body_hashes(void **state)
{
    size_t len;
    char *tsv = load("dkim/rfc6376/empty-body-hashes.tsv", &len);
    int rows = 0;
    char *save = NULL;
    for (char *line = strtok_r(tsv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char canon[32], md[32], want[128], got[128];
        if (line[0] == '#')
            continue;
        assert_int_equal(sscanf(line, "%31s %31s %127s", canon, md, want), 3);
        sg_canon_mode m = strcmp(canon, "relaxed") == 0 ? SG_CANON_RELAXED : SG_CANON_SIMPLE;
        body_hash_b64(m, md, "", 0, 1, got);
        assert_string_equal(got, want);
        /* a body of only empty lines is the empty body too */
        body_hash_b64(m, md, "\r\n\r\n\r\n", 6, 1, got);
        assert_string_equal(got, want);
        rows++;
    }
    assert_int_equal(rows, 4);
    free(tsv);
}

/* ---- RFC 8463 body ----------------------------------------------------- */

static void rfc8463_body(void **state)
{
    size_t n, wl;
    char *msg = load("dkim/rfc8463/signed.eml", &n);
    char *want = load("dkim/rfc8463/canonical/body.relaxed.bin", &wl);
    parsed pm;
    sg_msg_parser *mp = parse_all(msg, n, &pm);
    sbuf b = {0};
    char bh[128];
    canon_whole(SG_CANON_RELAXED, pm.body.d, pm.body.n, &b);
    assert_bytes(b.d, b.n, want, wl);
    /* the bh= of both signatures */
    for (size_t chunk = 1; chunk < 20; chunk += 3) {
        body_hash_b64(SG_CANON_RELAXED, "sha256", pm.body.d, pm.body.n, chunk, bh);
        assert_string_equal(bh, "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
    }
    sb_free(&b);
    sb_free(&pm.body);
    sg_msg_parser_free(mp);
    free(msg);
    free(want);
}

/* ---- known answers for edge cases -------------------------------------- */

static void body_edge_cases(void **state)
{
    static const struct {
        const char *in, *simple, *relaxed;
    } t[] = {
        {"", "\r\n", ""},
        {"\r\n", "\r\n", ""},
        {"\r\n\r\n\r\n", "\r\n", ""},
        {"abc", "abc\r\n", "abc\r\n"},
        {"abc\r\n", "abc\r\n", "abc\r\n"},
        {"abc\r\n\r\n\r\n", "abc\r\n", "abc\r\n"},
        {"\r\n\r\nabc\r\n\r\n", "\r\n\r\nabc\r\n", "\r\n\r\nabc\r\n"},
        {"a  b\t\tc \t \r\n", "a  b\t\tc \t \r\n", "a b c\r\n"},
        {"a\tb\r\n", "a\tb\r\n", "a b\r\n"},
        {" \r\n\t\r\n", " \r\n\t\r\n", ""},                /* WSP-only lines become empty */
        {"x\r\n  \r\n \r\n", "x\r\n  \r\n \r\n", "x\r\n"}, /* ... and trailing */
        {"x\r\n  \r\ny\r\n", "x\r\n  \r\ny\r\n", "x\r\n\r\ny\r\n"},
        {"  lead\r\n", "  lead\r\n", " lead\r\n"},
        {"abc  ", "abc  \r\n", "abc \r\n"},         /* unterminated line: squeeze only */
        {"a\rb\r\n", "a\rb\r\n", "a\rb\r\n"},       /* lone CR is content */
        {"a \r b\r\n", "a \r b\r\n", "a \r b\r\n"}, /* WSP before lone CR stays */
        {"abc\r", "abc\r\r\n", "abc\r\r\n"},
        {"abc\r\n\r", "abc\r\n\r\r\n", "abc\r\n\r\r\n"},
        {"a\nb\n", "a\nb\n\r\n", "a\nb\n\r\n"}, /* bare LF is not a line end here */
        {"a \n", "a \n\r\n", "a \n\r\n"},
        {"\t", "\t\r\n", " \r\n"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t n = strlen(t[i].in);
        for (int m = 0; m < 2; m++) {
            const char *want = m ? t[i].relaxed : t[i].simple;
            sbuf b = {0};
            canon_whole(m ? SG_CANON_RELAXED : SG_CANON_SIMPLE, t[i].in, n, &b);
            assert_bytes(b.d, b.n, want, strlen(want));
            sb_free(&b);
            /* the reference agrees with the table too */
            ref_body(m ? SG_CANON_RELAXED : SG_CANON_SIMPLE, t[i].in, n, &b);
            assert_bytes(b.d, b.n, want, strlen(want));
            sb_free(&b);
        }
    }
}

/* ---- chunking invariance ----------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static void random_body(char *buf, size_t n)
{
    static const char alpha[] = "ab  \t\r\n\r\n\r";
    for (size_t i = 0; i < n; i++)
        buf[i] = alpha[rnd() % (sizeof(alpha) - 1)];
}

static void check_against_ref(const char *in, size_t n, const size_t *cuts, size_t ncuts)
{
    for (int m = 0; m < 2; m++) {
        sg_canon_mode mode = m ? SG_CANON_RELAXED : SG_CANON_SIMPLE;
        sbuf want = {0}, got = {0};
        ref_body(mode, in, n, &want);
        canon_chunks(mode, UINT64_MAX, in, n, cuts, ncuts, &got, NULL);
        assert_bytes(got.d, got.n, want.d, want.n);
        sb_free(&want);
        sb_free(&got);
    }
}

static void chunking_every_split(void **state)
{
    char in[48];
    for (int iter = 0; iter < 400; iter++) {
        size_t n = 1 + rnd() % sizeof(in);
        random_body(in, n);
        check_against_ref(in, n, NULL, 0);
        for (size_t a = 0; a <= n; a++) {
            size_t cuts[2] = {a, a};
            check_against_ref(in, n, cuts, 1);
            /* every pair of split points on the shorter ones */
            if (n <= 16)
                for (size_t b = a; b <= n; b++) {
                    cuts[1] = b;
                    check_against_ref(in, n, cuts, 2);
                }
        }
    }
}

static void chunking_random(void **state)
{
    size_t cap = 200000;
    char *in = malloc(cap);
    size_t *cuts = malloc(cap * sizeof(size_t));
    for (int iter = 0; iter < 60; iter++) {
        size_t n = 1 + rnd() % cap;
        /* mostly text with the odd special, so the word-at-a-time path runs */
        for (size_t i = 0; i < n; i++) {
            uint32_t r = rnd() % 100;
            in[i] = r < 70   ? (char)('a' + r % 26)
                    : r < 85 ? ' '
                    : r < 88 ? '\t'
                    : r < 94 ? '\r'
                             : '\n';
            if (r >= 88 && r < 94 && i + 1 < n)
                in[++i] = '\n';
        }
        size_t nc = 0, pos = 0;
        int style = iter % 3;
        while (nc < cap) {
            size_t step = style == 0 ? 1 : style == 1 ? 1 + rnd() % 17 : 1 + rnd() % 5000;
            if (pos + step >= n)
                break;
            pos += step;
            cuts[nc++] = pos;
        }
        check_against_ref(in, n, cuts, nc);
    }
    free(in);
    free(cuts);
}

/* ---- l= ---------------------------------------------------------------- */

static void length_limit(void **state)
{
    const char *in = "Hello  world\r\nsecond line \r\n\r\n\r\n";
    size_t n = strlen(in);
    for (int m = 0; m < 2; m++) {
        sg_canon_mode mode = m ? SG_CANON_RELAXED : SG_CANON_SIMPLE;
        sbuf full = {0};
        canon_whole(mode, in, n, &full);
        for (uint64_t l = 0; l <= full.n + 3; l++) {
            for (size_t split = 0; split <= n; split += 5) {
                sbuf got = {0};
                uint64_t total = 0;
                canon_chunks(mode, l, in, n, &split, 1, &got, &total);
                size_t want = l < full.n ? (size_t)l : full.n;
                assert_bytes(got.d, got.n, full.d, want);
                assert_int_equal(total, full.n); /* l= > total is detectable */
                sb_free(&got);
            }
        }
        sb_free(&full);
    }
}

/* ---- body hashes: one pass per canonicalisation, a copy per l= --------- */

/* Every (mode, l=) of a set, over random bodies in random chunks, against
 * the canonicaliser with that limit hashed on its own (the way the set
 * hashed before it shared one pass per mode): l= of 0, 1, random, around
 * the canonical length and beyond, none. */
static void bodyhash_shared_pass(void **state)
{
    (void)state;
    for (int iter = 0; iter < 200; iter++) {
        char in[600];
        size_t n = rnd() % sizeof(in), cuts[8], ncuts = rnd() % 8;
        sg_bodyhash_set set;
        uint64_t lim[2][12];
        int idx[2][12];
        random_body(in, n);
        for (size_t i = 0; i < ncuts; i++)
            cuts[i] = n ? rnd() % (n + 1) : 0;
        for (size_t i = 1; i < ncuts; i++) /* ascending */
            for (size_t k = i; k > 0 && cuts[k - 1] > cuts[k]; k--) {
                size_t t = cuts[k];
                cuts[k] = cuts[k - 1];
                cuts[k - 1] = t;
            }
        sg_bodyhash_init(&set, NULL);
        for (int m = 0; m < 2; m++) {
            sbuf full = {0};
            canon_whole(m ? SG_CANON_RELAXED : SG_CANON_SIMPLE, in, n, &full);
            uint64_t f = full.n;
            uint64_t l[12] = {0,
                              1,
                              f ? f - 1 : 0,
                              f,
                              f + 1,
                              f + 1000,
                              UINT64_MAX,
                              rnd() % (f + 2),
                              rnd() % (f + 2),
                              rnd() % 5,
                              f / 2,
                              f};
            for (int k = 0; k < 12; k++) {
                lim[m][k] = l[k];
                idx[m][k] = sg_bodyhash_add(&set, m ? SG_CANON_RELAXED : SG_CANON_SIMPLE, l[k]);
                assert_true(idx[m][k] >= 0);
            }
            sb_free(&full);
        }
        /* the same pair twice is one hasher */
        assert_int_equal(idx[0][3], idx[0][11]);
        size_t prev = 0;
        for (size_t i = 0; i <= ncuts; i++) {
            size_t to = i < ncuts ? cuts[i] : n;
            sg_bodyhash_update(&set, in + prev, to - prev);
            prev = to;
        }
        assert_int_equal(sg_bodyhash_final(&set), 0);
        assert_int_equal(sg_bodyhash_add(&set, SG_CANON_SIMPLE, 5), SG_ESTATE);
        for (int m = 0; m < 2; m++)
            for (int k = 0; k < 12; k++) {
                sbuf want = {0};
                uint64_t total = 0;
                unsigned char d[32];
                unsigned dl = 0;
                sg_canon_mode mode = m ? SG_CANON_RELAXED : SG_CANON_SIMPLE;
                canon_chunks(mode, lim[m][k], in, n, NULL, 0, &want, &total);
                assert_int_equal(EVP_Digest(want.d, want.n, d, &dl, EVP_sha256(), NULL), 1);
                if (memcmp(sg_bodyhash_digest(&set, idx[m][k]), d, 32) != 0)
                    fail_msg("iter %d mode %d l=%llu: digest differs (body %zu bytes)", iter, m,
                             (unsigned long long)lim[m][k], n);
                assert_int_equal(sg_bodyhash_total(&set, idx[m][k]), total);
                sb_free(&want);
            }
        /* the next message reuses the set */
        sg_bodyhash_reset(&set);
        assert_int_equal(sg_bodyhash_add(&set, SG_CANON_RELAXED, 3), 0);
        sg_bodyhash_update(&set, "a b\r\n", 5);
        assert_int_equal(sg_bodyhash_final(&set), 0);
        {
            unsigned char d[32];
            unsigned dl = 0;
            assert_int_equal(EVP_Digest("a b", 3, d, &dl, EVP_sha256(), NULL), 1);
            assert_memory_equal(sg_bodyhash_digest(&set, 0), d, 32);
        }
        sg_bodyhash_free(&set);
    }
}

/* ---- large runs reach the sink whole ----------------------------------- */

static void large_runs_zero_copy(void **state)
{
    size_t n = 1 << 20;
    char *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        in[i] = (i % 73 == 71)                ? '\r'
                : (i % 73 == 72)              ? '\n'
                : (i % 73 < 70 && i % 7 == 6) ? ' '
                                              : 'x';
    for (int m = 0; m < 2; m++) {
        sbuf got = {0};
        sg_canon_body c;
        sg_canon_body_init(&c, m ? SG_CANON_RELAXED : SG_CANON_SIMPLE, UINT64_MAX, sink_sb, &got);
        sg_canon_body_update(&c, in, n);
        /* ordinary text: one call, straight from the input buffer */
        assert_int_equal(got.calls, 1);
        assert_ptr_equal(got.last_ptr, in);
        sg_canon_body_final(&c);
        sb_free(&got);
    }
    free(in);
}

/* ---- headers ----------------------------------------------------------- */

static void header_relaxed_cases(void **state)
{
    static const struct {
        const char *raw, *relaxed;
    } t[] = {
        {"Subject: Hello World\r\n", "subject:Hello World\r\n"},
        {"SUBJECT :  a \t b  \r\n", "subject:a b\r\n"},
        {"Subject:\r\n\tfolded\r\n  value \r\n", "subject:folded value\r\n"},
        {"To: a@example.com,\r\n b@example.com\r\n", "to:a@example.com, b@example.com\r\n"},
        {"X-Empty:\r\n", "x-empty:\r\n"},
        {"X-Empty: \t \r\n", "x-empty:\r\n"},
        {"X-Cr: a\rb\r\n", "x-cr:a\rb\r\n"},
        {"X-NoCrlf: v", "x-nocrlf:v\r\n"},
        {"DKIM-Signature: v=1; b=\r\n abc\r\n", "dkim-signature:v=1; b= abc\r\n"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        sbuf b = {0};
        const char *raw = t[i].raw;
        sg_canon_header(SG_CANON_RELAXED, raw, strlen(raw), 0, sink_sb, &b);
        assert_bytes(b.d, b.n, t[i].relaxed, strlen(t[i].relaxed));
        sb_free(&b);
        /* strip_crlf drops exactly the final CRLF */
        sg_canon_header(SG_CANON_RELAXED, raw, strlen(raw), 1, sink_sb, &b);
        assert_bytes(b.d, b.n, t[i].relaxed, strlen(t[i].relaxed) - 2);
        sb_free(&b);
        /* simple: untouched */
        sg_canon_header(SG_CANON_SIMPLE, raw, strlen(raw), 0, sink_sb, &b);
        assert_bytes(b.d, b.n, raw, strlen(raw));
        sb_free(&b);
    }
    sbuf b = {0};
    sg_canon_header(SG_CANON_SIMPLE, "A: x\r\n\ty\r\n", 10, 1, sink_sb, &b);
    assert_bytes(b.d, b.n, "A: x\r\n\ty", 8);
    sb_free(&b);
    /* a long folded field crosses the internal output buffer */
    sbuf raw = {0}, want = {0};
    sb_put(&raw, "X-Long:", 7);
    sb_put(&want, "x-long:", 7);
    for (int i = 0; i < 300; i++) {
        sb_put(&raw, "  word\r\n\t", 9);
        sb_put(&want, i ? " word" : "word", i ? 5 : 4);
    }
    sb_put(&raw, "end\r\n", 5);
    sb_put(&want, " end\r\n", 6);
    sg_canon_header(SG_CANON_RELAXED, raw.d, raw.n, 0, sink_sb, &b);
    assert_bytes(b.d, b.n, want.d, want.n);
    sb_free(&b);
    sb_free(&raw);
    sb_free(&want);
}

/* Relaxed header canonicalisation of the RFC 8463 message reproduces the
 * start of the published signed data (from, to, subject in h= order). */
static void header_rfc8463_signed_data(void **state)
{
    size_t n, wl;
    char *msg = load("dkim/rfc8463/signed.eml", &n);
    char *want = load("dkim/rfc8463/canonical/ed25519.signed-data.bin", &wl);
    parsed pm;
    sg_msg_parser *mp = parse_all(msg, n, &pm);
    static const char *h[] = {"from", "to", "subject", "date", "message-id"};
    sbuf b = {0};
    for (size_t i = 0; i < 5; i++) {
        const sg_header *f = sg_headers_find(pm.h, pm.n, h[i], NULL);
        assert_non_null(f);
        sg_canon_header(SG_CANON_RELAXED, f->raw, f->raw_len, 0, sink_sb, &b);
    }
    assert_true(wl > b.n);
    assert_bytes(want, b.n, b.d, b.n);
    /* and the DKIM-Signature field itself ends the data, b= emptied, no CRLF */
    const sg_header *sig = sg_headers_find(pm.h, pm.n, "dkim-signature", NULL);
    assert_non_null(sig);
    const char *bt = strstr(sig->raw, " b=");
    assert_non_null(bt);
    sbuf emptied = {0};
    sb_put(&emptied, sig->raw, (size_t)(bt - sig->raw) + 3);
    sb_put(&emptied, "\r\n", 2);
    sbuf tail = {0};
    sg_canon_header(SG_CANON_RELAXED, emptied.d, emptied.n, 1, sink_sb, &tail);
    assert_true(wl >= tail.n);
    assert_bytes(want + wl - tail.n, tail.n, tail.d, tail.n);
    sb_free(&tail);
    sb_free(&emptied);
    sb_free(&b);
    sb_free(&pm.body);
    sg_msg_parser_free(mp);
    free(msg);
    free(want);
}

/* ---- c= ---------------------------------------------------------------- */

static void parse_c_tag(void **state)
{
    static const struct {
        const char *s;
        int rc;
        sg_canon_mode h, b;
    } t[] = {
        {"simple", 0, SG_CANON_SIMPLE, SG_CANON_SIMPLE},
        {"relaxed", 0, SG_CANON_RELAXED, SG_CANON_SIMPLE},
        {"relaxed/relaxed", 0, SG_CANON_RELAXED, SG_CANON_RELAXED},
        {"simple/relaxed", 0, SG_CANON_SIMPLE, SG_CANON_RELAXED},
        {"relaxed/simple", 0, SG_CANON_RELAXED, SG_CANON_SIMPLE},
        {" Relaxed/Relaxed ", 0, SG_CANON_RELAXED, SG_CANON_RELAXED},
        {"", SG_ESYNTAX, 0, 0},
        {"relaxed/", SG_ESYNTAX, 0, 0},
        {"/simple", SG_ESYNTAX, 0, 0},
        {"relaxed/simple/simple", SG_ESYNTAX, 0, 0},
        {"relaxed /simple", SG_ESYNTAX, 0, 0},
        {"nowsp", SG_ESYNTAX, 0, 0},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        sg_canon_mode h = 99, b = 99;
        int rc = sg_canon_parse(t[i].s, strlen(t[i].s), &h, &b);
        assert_int_equal(rc, t[i].rc);
        if (rc == 0) {
            assert_int_equal(h, t[i].h);
            assert_int_equal(b, t[i].b);
        } else {
            assert_int_equal(h, 99); /* outputs untouched on error */
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bodyhash_shared_pass),
        cmocka_unit_test(rfc6376_example),
        cmocka_unit_test(empty_body_hashes),
        cmocka_unit_test(rfc8463_body),
        cmocka_unit_test(body_edge_cases),
        cmocka_unit_test(chunking_every_split),
        cmocka_unit_test(chunking_random),
        cmocka_unit_test(length_limit),
        cmocka_unit_test(large_runs_zero_copy),
        cmocka_unit_test(header_relaxed_cases),
        cmocka_unit_test(header_rfc8463_signed_data),
        cmocka_unit_test(parse_c_tag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
