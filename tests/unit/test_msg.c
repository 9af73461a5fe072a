/* The incremental RFC 5322 parser: fields, folding, LF normalisation,
 * limits, odd input, and identical results for any chunking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spoofguard/msg.h>

#include "helpers.h"

typedef struct {
    char *d;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const void *data, size_t len)
{
    if (b->n + len + 1 > b->cap) {
        b->cap = (b->n + len + 1) * 2;
        b->d = realloc(b->d, b->cap);
        assert_non_null(b->d);
    }
    if (len)
        memcpy(b->d + b->n, data, len);
    b->n += len;
    b->d[b->n] = '\0';
}

static void sb_free(sbuf *b)
{
    free(b->d);
    memset(b, 0, sizeof(*b));
}

/* What one parse produced, in a comparable form. */
typedef struct {
    sbuf hdr;  /* serialised fields, written at on_headers */
    sbuf body; /* on_body bytes */
    int headers_calls, end_calls;
    size_t nfields;
    const sg_header *fields;
    int abort_in_body;               /* test: on_body returns this */
    const char *chunk_lo, *chunk_hi; /* the chunk being fed, for zero-copy checks */
    size_t body_calls, body_from_input;
    sg_msg_parser *owned; /* freed by result_free: fields point into it */
} result;

static void serialise(const sg_header *f, size_t n, sbuf *out)
{
    char num[64];
    for (size_t i = 0; i < n; i++) {
        snprintf(num, sizeof(num), "[%zu %zu %zu]", f[i].raw_len, f[i].name_len, f[i].value_len);
        sb_put(out, num, strlen(num));
        sb_put(out, f[i].raw, f[i].raw_len);
        sb_put(out, "|", 1);
        sb_put(out, f[i].value, f[i].value_len + 1); /* includes the NUL */
        assert_int_equal(f[i].value[f[i].value_len], '\0');
        assert_ptr_equal(f[i].name, f[i].raw);
    }
}

static int on_headers(const sg_header *f, size_t n, void *payload)
{
    result *r = payload;
    r->headers_calls++;
    r->nfields = n;
    r->fields = f;
    serialise(f, n, &r->hdr);
    return 0;
}

static int on_body(const char *d, size_t n, void *payload)
{
    result *r = payload;
    assert_true(n > 0);
    r->body_calls++;
    if (d >= r->chunk_lo && d + n <= r->chunk_hi)
        r->body_from_input += n;
    sb_put(&r->body, d, n);
    return r->abort_in_body;
}

static int on_end(void *payload)
{
    ((result *)payload)->end_calls++;
    return 0;
}

static const sg_msg_callbacks CBS = {on_headers, on_body, on_end};

static void result_free(result *r)
{
    sb_free(&r->hdr);
    sb_free(&r->body);
    sg_msg_parser_free(r->owned);
    r->owned = NULL;
}

/* Parse with the given chunk boundaries; returns the first error. */
static int parse(const char *in, size_t n, const size_t *cuts, size_t ncuts,
                 const sg_msg_limits *lim, result *r, sg_msg_parser **keep)
{
    sg_msg_parser *p;
    size_t prev = 0;
    int rc = 0;
    memset(r, 0, sizeof(*r));
    assert_int_equal(sg_msg_parser_new(&p, lim, &CBS, r), SG_OK);
    for (size_t i = 0; i <= ncuts && rc == 0; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        r->chunk_lo = in + prev;
        r->chunk_hi = in + to;
        rc = sg_msg_feed(p, in + prev, to - prev);
        prev = to;
    }
    if (rc == 0)
        rc = sg_msg_finish(p);
    if (rc == 0) {
        assert_int_equal(r->headers_calls, 1);
        assert_int_equal(r->end_calls, 1);
        assert_true(sg_msg_body_size(p) == r->body.n);
        /* the fields are still valid and unchanged after the body */
        sbuf again = {0};
        serialise(r->fields, r->nfields, &again);
        assert_int_equal(again.n, r->hdr.n);
        assert_memory_equal(again.d, r->hdr.d, again.n);
        sb_free(&again);
    }
    if (keep)
        *keep = p;
    else
        r->owned = p;
    return rc;
}

static int parse_str(const char *s, result *r)
{
    return parse(s, strlen(s), NULL, 0, NULL, r, NULL);
}

/* ---- basic structure --------------------------------------------------- */

static void fields_and_body(void **state)
{
    result r;
    sg_msg_parser *p;
    const char *m = "From: a@example.com\r\n"
                    "Subject: hello\r\n"
                    " world\r\n"
                    "\tagain\r\n"
                    "B : Y\r\n"
                    "X-Empty:\r\n"
                    "\r\n"
                    "body line\r\n";
    assert_int_equal(parse(m, strlen(m), NULL, 0, NULL, &r, &p), SG_OK);
    size_t n;
    const sg_header *h = sg_msg_headers(p, &n);
    assert_int_equal(n, 4);
    assert_ptr_equal(h, r.fields);
    assert_int_equal(h[0].name_len, 4);
    assert_memory_equal(h[0].name, "From", 4);
    assert_string_equal(h[0].value, " a@example.com");
    assert_int_equal(h[0].raw_len, 21);
    assert_memory_equal(h[1].raw, "Subject: hello\r\n world\r\n\tagain\r\n", h[1].raw_len);
    assert_int_equal(h[1].raw_len, 32);
    assert_string_equal(h[1].value, " hello world\tagain");
    assert_int_equal(h[2].name_len, 1); /* WSP before the colon is not name */
    assert_string_equal(h[2].value, " Y");
    assert_int_equal(h[3].value_len, 0);
    assert_string_equal(r.body.d, "body line\r\n");
    assert_true(sg_msg_in_body(p));

    size_t pos = 0;
    assert_ptr_equal(sg_headers_find(h, n, "SUBJECT", &pos), &h[1]);
    assert_int_equal(pos, 2);
    assert_null(sg_headers_find(h, n, "subject", &pos));
    assert_null(sg_headers_find(h, n, "Subjec", NULL));
    assert_true(sg_header_is(&h[2], "b"));
    assert_false(sg_header_is(&h[2], "b "));

    /* feed after finish */
    assert_int_equal(sg_msg_feed(p, "x", 1), SG_ESTATE);
    assert_int_equal(sg_msg_finish(p), SG_ESTATE);

    /* reset: a second message through the same parser */
    sg_msg_parser_reset(p);
    assert_false(sg_msg_in_body(p));
    assert_int_equal(sg_msg_feed(p, "A: 1\n\nb", 7), SG_OK);
    assert_int_equal(sg_msg_finish(p), SG_OK);
    h = sg_msg_headers(p, &n);
    assert_int_equal(n, 1);
    assert_string_equal(h[0].value, " 1");
    assert_int_equal(sg_msg_body_size(p), 1);
    sg_msg_parser_free(p);
    result_free(&r);
}

/* ---- line endings ------------------------------------------------------ */

static void lf_normalised(void **state)
{
    result a, b;
    const char *crlf = "A: x\r\nB: y\r\n z\r\n\r\nl1\r\n\r\nl3\r\n";
    const char *lf = "A: x\nB: y\n z\n\nl1\n\nl3\n";
    const char *mixed = "A: x\r\nB: y\n z\r\n\nl1\n\r\nl3\r\n";
    assert_int_equal(parse_str(crlf, &a), SG_OK);
    assert_int_equal(parse_str(lf, &b), SG_OK);
    assert_int_equal(a.hdr.n, b.hdr.n);
    assert_memory_equal(a.hdr.d, b.hdr.d, a.hdr.n);
    assert_string_equal(a.body.d, b.body.d);
    result_free(&b);
    assert_int_equal(parse_str(mixed, &b), SG_OK);
    assert_memory_equal(a.hdr.d, b.hdr.d, a.hdr.n);
    assert_string_equal(a.body.d, b.body.d);
    result_free(&a);
    result_free(&b);

    /* a lone CR is data in the body */
    assert_int_equal(parse_str("A: xy\r\n\r\na\rb\r\rc\n", &a), SG_OK);
    assert_string_equal(a.body.d, "a\rb\r\rc\r\n");
    result_free(&a);

    /* a bare LF inside a CRLF header ends the line: the field after it
     * is a field of its own, as every reader sees it (issue 11 class 4) */
    assert_int_equal(
        parse_str("From: a@x.example\r\nSubject: hi\nFrom: ceo@bank.example\r\n\r\nb", &a), SG_OK);
    assert_int_equal(a.nfields, 3);
    assert_string_equal(a.fields[1].value, " hi");
    assert_string_equal(a.fields[2].value, " ceo@bank.example");
    assert_memory_equal(a.fields[1].raw, "Subject: hi\r\n", 13);
    result_free(&a);
    /* ... and a bare LF followed by WSP is a fold, stored as CRLF WSP */
    assert_int_equal(parse_str("Subject: hi\n there\r\n\r\nb", &a), SG_OK);
    assert_int_equal(a.nfields, 1);
    assert_string_equal(a.fields[0].value, " hi there");
    assert_memory_equal(a.fields[0].raw, "Subject: hi\r\n there\r\n", 21);
    result_free(&a);

    /* CRLF split across chunks must not become CRCRLF */
    const char *m = "A: 1\r\n\r\nx\r\ny\r\n";
    size_t n = strlen(m);
    for (size_t cut = 0; cut <= n; cut++) {
        assert_int_equal(parse(m, n, &cut, 1, NULL, &a, NULL), SG_OK);
        assert_string_equal(a.body.d, "x\r\ny\r\n");
        assert_string_equal(a.fields[0].value, " 1");
        result_free(&a);
    }
}

/* ---- the odd cases ----------------------------------------------------- */

static void empty_and_headerless(void **state)
{
    result r;
    /* empty message */
    assert_int_equal(parse_str("", &r), SG_OK);
    assert_int_equal(r.nfields, 0);
    assert_int_equal(r.body.n, 0);
    result_free(&r);
    /* just the empty line */
    assert_int_equal(parse_str("\r\n", &r), SG_OK);
    assert_int_equal(r.nfields, 0);
    assert_int_equal(r.body.n, 0);
    result_free(&r);
    /* empty header, then a body */
    assert_int_equal(parse_str("\nbody", &r), SG_OK);
    assert_int_equal(r.nfields, 0);
    assert_string_equal(r.body.d, "body");
    result_free(&r);
    /* no empty line: all header */
    assert_int_equal(parse_str("A: 1\r\nB: 2\r\n", &r), SG_OK);
    assert_int_equal(r.nfields, 2);
    assert_int_equal(r.body.n, 0);
    result_free(&r);
    /* last line without line ending is completed */
    assert_int_equal(parse_str("A: 1\r\nB: 2", &r), SG_OK);
    assert_int_equal(r.nfields, 2);
    assert_int_equal(r.fields[1].raw_len, 6);
    assert_memory_equal(r.fields[1].raw, "B: 2\r\n", 6);
    result_free(&r);
    /* ... also when it is a continuation line, or ends in CR */
    assert_int_equal(parse_str("A: 1\r\n 2", &r), SG_OK);
    assert_string_equal(r.fields[0].value, " 1 2");
    result_free(&r);
    assert_int_equal(parse_str("A: 1\r", &r), SG_OK);
    assert_memory_equal(r.fields[0].raw, "A: 1\r\n", 6);
    result_free(&r);
    /* body without final line ending is passed as is */
    assert_int_equal(parse_str("A: 1\r\n\r\nlast", &r), SG_OK);
    assert_string_equal(r.body.d, "last");
    result_free(&r);
}

static void syntax_errors(void **state)
{
    static const char *bad[] = {
        "From sender@example.com Mon Jan  1 00:00:00 2024\r\nA: 1\r\n\r\n", /* mbox */
        "no colon here\r\n\r\n",
        "A: 1\r\nnocolon\r\n\r\n",
        "A: 1\r\nnocolon", /* at EOF */
        " leading: wsp\r\n\r\n",
        ": empty name\r\n\r\n",
        "A: 1\r\n\rX: 2\r\n\r\n", /* a line starting with a lone CR */
        "Na\x01me: x\r\n\r\n",
        "Na\0me: x\r\n\r\n",
        "A\r\n : folded before colon\r\n\r\n",
        "A b: space inside name\r\n\r\n",
        /* issue 11 class 4: a bare CR anywhere in the header */
        "Subject: hi\rFrom: ceo@bank.example\r\n\r\nb",    /* hides a From */
        "From: ceo@bank.example\r\rX: 1\r\n\r\n",          /* CR CR LF */
        "From: a@b\r\nSubject: hi\r\r\nFrom: c@d\r\n\r\n", /* CR at end of a field */
        "From: ceo@bank.example\r\n\t\rx\r\n\r\n",         /* in a continuation */
        "To: a@b\r, ceo@bank.example\n\n",                 /* in an LF-only file */
        "Subject: hi\r From: x\r\n\r\n",                   /* CR then WSP */
        "A: 1\r\nB\r: 2\r\n\r\n",                          /* in a name */
        /* NUL anywhere in the header */
        "X-Nul: a\0b\r\n\r\n",
        "Subject: hi\0From: ceo@bank.example\r\n\r\n",
        "From: ceo@bank.example\0\r\n\r\n",
        "A: 1\r\n\0B: 2\r\n\r\n",
        "A: 1\r\n \0\r\n\r\n",
    };
    static const size_t badlen[] = {0, 0, 0, 0, 0, 0, 0,  0,  12, 0,  0, 0,
                                    0, 0, 0, 0, 0, 0, 14, 38, 27, 15, 12};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        result r;
        size_t n = badlen[i] ? badlen[i] : strlen(bad[i]);
        sg_msg_parser *p;
        int rc = parse(bad[i], n, NULL, 0, NULL, &r, &p);
        assert_int_equal(rc, SG_ESYNTAX);
        /* sticky */
        assert_int_equal(sg_msg_feed(p, "A: 1\r\n", 6), SG_ESYNTAX);
        assert_int_equal(sg_msg_finish(p), SG_ESYNTAX);
        assert_int_equal(r.headers_calls, 0);
        sg_msg_parser_free(p);
        result_free(&r);
    }
}

static void nul_bytes(void **state)
{
    /* NUL in the body is data (DKIM hashes the bytes); in the header it is
     * refused (syntax_errors) */
    static const char m[] = "X-Nul: ab\r\n\r\nbo\0dy\r\n";
    result r;
    assert_int_equal(parse(m, sizeof(m) - 1, NULL, 0, NULL, &r, NULL), SG_OK);
    assert_int_equal(r.nfields, 1);
    assert_int_equal(r.body.n, 7);
    assert_memory_equal(r.body.d, "bo\0dy\r\n", 7);
    result_free(&r);
}

/* ---- limits ------------------------------------------------------------ */

static void limits(void **state)
{
    sg_msg_limits lim;
    result r;
    sbuf m = {0};

    sg_msg_limits_init(&lim);
    assert_int_equal(lim.version, SG_MSG_LIMITS_VERSION);
    assert_int_equal(lim.max_fields, 1000);

    /* field count: exactly at the limit passes, one more fails */
    lim.max_fields = 3;
    const char *three = "A: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_int_equal(parse(three, strlen(three), NULL, 0, &lim, &r, NULL), SG_OK);
    result_free(&r);
    const char *four = "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    assert_int_equal(parse(four, strlen(four), NULL, 0, &lim, &r, NULL), SG_ELIMIT);
    result_free(&r);
    lim.max_fields = 4;
    assert_int_equal(parse(four, strlen(four), NULL, 0, &lim, &r, NULL), SG_OK);
    result_free(&r);

    /* one field's raw size, folding included; LF counts as CRLF */
    sg_msg_limits_init(&lim);
    lim.max_field_size = 12;
    assert_int_equal(parse("A: 1234567\n\n", 12, NULL, 0, &lim, &r, NULL), SG_OK); /* 12 */
    result_free(&r);
    assert_int_equal(parse("A: 12345678\n\n", 13, NULL, 0, &lim, &r, NULL), SG_ELIMIT);
    result_free(&r);
    assert_int_equal(parse("A: 1234\r\n 5678\r\n\r\n", 18, NULL, 0, &lim, &r, NULL), SG_ELIMIT);
    result_free(&r);

    /* whole header */
    sg_msg_limits_init(&lim);
    lim.max_header_size = 100;
    for (int i = 0; i < 20; i++)
        sb_put(&m, "Abc: 123\r\n", 10);
    sb_put(&m, "\r\nbody\r\n", 8);
    assert_int_equal(parse(m.d, m.n, NULL, 0, &lim, &r, NULL), SG_ELIMIT);
    result_free(&r);
    lim.max_header_size = 200;
    assert_int_equal(parse(m.d, m.n, NULL, 0, &lim, &r, NULL), SG_OK);
    result_free(&r);
    sb_free(&m);

    /* an endless field fed in pieces is cut off without taking memory */
    sg_msg_parser *p;
    assert_int_equal(sg_msg_parser_new(&p, NULL, NULL, NULL), SG_OK);
    char chunk[4096];
    memset(chunk, 'x', sizeof(chunk));
    assert_int_equal(sg_msg_feed(p, "X: ", 3), SG_OK);
    int rc = 0;
    size_t fed = 0;
    while (rc == 0 && fed < 10 * 1024 * 1024) {
        rc = sg_msg_feed(p, chunk, sizeof(chunk));
        fed += sizeof(chunk);
    }
    assert_int_equal(rc, SG_ELIMIT);
    assert_true(fed <= 64 * 1024 + sizeof(chunk));
    sg_msg_parser_free(p);

    /* a wrong limits version is a caller bug */
    sg_msg_limits_init(&lim);
    lim.version = 99;
    assert_int_equal(sg_msg_parser_new(&p, &lim, NULL, NULL), SG_EINVAL);
    assert_null(p);
}

/* ---- callbacks --------------------------------------------------------- */

static void callback_abort_and_null_cbs(void **state)
{
    result r;
    sg_msg_parser *p;
    memset(&r, 0, sizeof(r));
    r.abort_in_body = 42;
    assert_int_equal(sg_msg_parser_new(&p, NULL, &CBS, &r), SG_OK);
    assert_int_equal(sg_msg_feed(p, "A: 1\r\n\r\nbody", 12), 42);
    assert_int_equal(sg_msg_feed(p, "more", 4), 42);
    sg_msg_parser_free(p);
    result_free(&r);

    /* no callbacks: header only, body counted and dropped */
    assert_int_equal(sg_msg_parser_new(&p, NULL, NULL, NULL), SG_OK);
    assert_int_equal(sg_msg_feed(p, "A: 1\n\nab\ncd", 11), SG_OK);
    assert_int_equal(sg_msg_finish(p), SG_OK);
    assert_int_equal(sg_msg_body_size(p), 6); /* "ab\r\ncd" */
    size_t n;
    assert_string_equal(sg_msg_headers(p, &n)[0].value, " 1");
    sg_msg_parser_free(p);
}

/* The body is not copied: CRLF text reaches on_body straight from the
 * caller's buffer, in one call per chunk. */
static void body_zero_copy(void **state)
{
    sbuf m = {0};
    result r;
    sb_put(&m, "A: 1\r\n\r\n", 8);
    for (int i = 0; i < 20000; i++)
        sb_put(&m, "The quick brown fox jumps over the lazy dog.\r\n", 46);
    assert_int_equal(parse(m.d, m.n, NULL, 0, NULL, &r, NULL), SG_OK);
    assert_int_equal(r.body_calls, 1);
    assert_int_equal(r.body_from_input, m.n - 8);
    result_free(&r);
    sb_free(&m);
}

/* ---- chunking invariance ----------------------------------------------- */

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Whole, byte by byte, every single split, random chunks: all identical
 * (including the error, if the message is bad). */
static void check_invariant(const char *in, size_t n, int every_split)
{
    result whole, r;
    int rc0 = parse(in, n, NULL, 0, NULL, &whole, NULL);
    size_t *cuts = malloc((n + 1) * sizeof(size_t));
    for (int style = 0; style < 4; style++) {
        size_t nc = 0, pos = 0;
        if (style == 0) {
            for (size_t i = 1; i < n; i++)
                cuts[nc++] = i;
        } else {
            size_t maxstep = style == 1 ? 7 : style == 2 ? 300 : 70000;
            for (;;) {
                pos += 1 + rnd() % maxstep;
                if (pos >= n)
                    break;
                cuts[nc++] = pos;
            }
        }
        int rc = parse(in, n, cuts, nc, NULL, &r, NULL);
        assert_int_equal(rc, rc0);
        if (rc == 0) {
            assert_int_equal(r.hdr.n, whole.hdr.n);
            assert_memory_equal(r.hdr.d, whole.hdr.d, r.hdr.n);
            assert_int_equal(r.body.n, whole.body.n);
            if (r.body.n)
                assert_memory_equal(r.body.d, whole.body.d, r.body.n);
        }
        result_free(&r);
    }
    if (every_split) {
        for (size_t cut = 0; cut <= n; cut++) {
            int rc = parse(in, n, &cut, 1, NULL, &r, NULL);
            assert_int_equal(rc, rc0);
            if (rc == 0) {
                assert_memory_equal(r.hdr.d, whole.hdr.d, whole.hdr.n);
                assert_int_equal(r.body.n, whole.body.n);
                if (r.body.n)
                    assert_memory_equal(r.body.d, whole.body.d, r.body.n);
            }
            result_free(&r);
        }
    }
    free(cuts);
    result_free(&whole);
}

static void chunking_small_random(void **state)
{
    static const char *pieces[] = {"A", "b", ":", " ", "\t", "\r", "\n", "\r\n", "X-Y: z"};
    char in[64];
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = 0, want = 1 + rnd() % 40;
        while (n < want) {
            const char *pc = pieces[rnd() % 9];
            size_t l = strlen(pc);
            if (n + l > sizeof(in))
                break;
            memcpy(in + n, pc, l);
            n += l;
        }
        check_invariant(in, n, 1);
    }
}

/* Every message of the shared DKIM corpora, whatever its line endings. */
static void chunking_corpus(void **state)
{
    static const char *dirs[] = {"dkim/mail-dkim/corpus", "dkim/dkimpy/data", "dkim/rfc8463",
                                 "dkim/rfc6376/appendix-a"};
    int files = 0;
    for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/%s", sg_test_conformance_dir(), dirs[d]);
        DIR *dh = opendir(dir);
        assert_non_null(dh);
        struct dirent *e;
        while ((e = readdir(dh)) != NULL) {
            size_t l = strlen(e->d_name);
            if (!((l > 4 && strcmp(e->d_name + l - 4, ".txt") == 0) ||
                  (l > 4 && strcmp(e->d_name + l - 4, ".eml") == 0) ||
                  (l > 4 && strcmp(e->d_name + l - 4, ".msg") == 0)))
                continue;
            char path[8192];
            size_t n;
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            char *data = sg_test_read_file(path, &n);
            assert_non_null(data);
            check_invariant(data, n, n < 3000);
            files++;
            free(data);
        }
        closedir(dh);
    }
    assert_true(files >= 80);
}

/* A 2 MiB LF-only body in random chunks equals the CRLF version; whole,
 * it reaches on_body in pieces of kilobytes, not two calls a line (each
 * call is a round of every body hash: dozens with hostile signatures). */
static void chunking_large_lf(void **state)
{
    sbuf lf = {0}, crlf = {0};
    sb_put(&lf, "Subject: big\n\n", 14);
    sb_put(&crlf, "Subject: big\r\n\r\n", 16);
    while (lf.n < 2 * 1024 * 1024) {
        char line[100];
        size_t l = rnd() % 90;
        for (size_t i = 0; i < l; i++)
            line[i] = (char)('a' + rnd() % 26);
        sb_put(&lf, line, l);
        sb_put(&lf, "\n", 1);
        sb_put(&crlf, line, l);
        sb_put(&crlf, "\r\n", 2);
    }
    result a, b;
    assert_int_equal(parse(crlf.d, crlf.n, NULL, 0, NULL, &a, NULL), SG_OK);
    check_invariant(lf.d, lf.n, 0);
    assert_int_equal(parse(lf.d, lf.n, NULL, 0, NULL, &b, NULL), SG_OK);
    assert_int_equal(a.body.n, b.body.n);
    assert_memory_equal(a.body.d, b.body.d, a.body.n);
    if (b.body_calls > b.body.n / 4096 + 2)
        fail_msg("%zu body calls for %zu bytes", (size_t)b.body_calls, b.body.n);
    result_free(&a);
    result_free(&b);
    sb_free(&lf);
    sb_free(&crlf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fields_and_body),
        cmocka_unit_test(lf_normalised),
        cmocka_unit_test(empty_and_headerless),
        cmocka_unit_test(syntax_errors),
        cmocka_unit_test(nul_bytes),
        cmocka_unit_test(limits),
        cmocka_unit_test(callback_abort_and_null_cbs),
        cmocka_unit_test(body_zero_copy),
        cmocka_unit_test(chunking_small_random),
        cmocka_unit_test(chunking_corpus),
        cmocka_unit_test(chunking_large_lf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
