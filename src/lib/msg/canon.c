/*
 * DKIM canonicalisation (RFC 6376 3.4).
 *
 * The body canonicaliser is the hot path for large messages, so it never
 * walks the body byte by byte through a callback: each chunk is split into
 *   - a prefix that resolves what the previous chunk held back,
 *   - a middle that ends in a content byte, scanned 16 bytes at a time
 *     (SSE2; 8 with plain 64-bit words elsewhere) for the only patterns
 *     that change anything (HTAB, or SP followed by SP/HTAB/CR in relaxed
 *     mode; nothing at all in simple mode) and handed to the sink in runs
 *     straight from the caller's buffer, and
 *   - a tail made only of line ends and whitespace (and maybe a final CR),
 *     which is counted rather than emitted because its fate depends on
 *     what comes next (trailing empty lines are dropped, 3.4.3/3.4.4).
 */
#include <spoofguard/canon.h>

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#include "util/ascii.h"
#endif

/* ---- output ------------------------------------------------------------ */

/* Output goes through a small staging buffer on the stack of each
 * update/final call: short pieces (a run between two whitespace fixes, a
 * single SP, a few CRLFs) are gathered so that a whitespace-heavy body
 * (indented HTML) does not cost one hash update call per fix, while long
 * runs still go to the sink straight from the caller's buffer. Everything
 * staged is flushed before update/final returns. */
#define STAGE_SIZE 2048
#define STAGE_DIRECT 256 /* runs at least this long bypass the stage */

typedef struct {
    sg_canon_body *c;
    size_t n;
    char buf[STAGE_SIZE];
} out_t;

static void stage_flush(out_t *o)
{
    if (o->n > 0 && o->c->sink)
        o->c->sink(o->buf, o->n, o->c->payload);
    o->n = 0;
}

/* Pass canonical bytes on, honouring l= (3.5: the count is of canonical
 * body bytes). total keeps counting past the limit. */
static void emit(out_t *o, const char *data, size_t n)
{
    sg_canon_body *c = o->c;
    uint64_t room;
    if (n == 0)
        return;
    c->total += n;
    room = c->limit - c->emitted;
    if (room == 0)
        return;
    if ((uint64_t)n > room)
        n = (size_t)room;
    c->emitted += n;
    if (n >= STAGE_DIRECT) {
        stage_flush(o);
        if (c->sink)
            c->sink(data, n, c->payload);
        return;
    }
    if (o->n + n > sizeof(o->buf))
        stage_flush(o);
    memcpy(o->buf + o->n, data, n);
    o->n += n;
}

static const char crlf_run[] = "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
                               "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";
#define CRLF_RUN_PAIRS ((sizeof(crlf_run) - 1) / 2)

/* Emit the held line ends: content follows, so they were not trailing. */
static void flush_crlf(out_t *o)
{
    sg_canon_body *c = o->c;
    while (c->pending_crlf > 0) {
        uint64_t k = c->pending_crlf < CRLF_RUN_PAIRS ? c->pending_crlf : CRLF_RUN_PAIRS;
        emit(o, crlf_run, (size_t)k * 2);
        c->pending_crlf -= k;
    }
}

/* Content is about to be emitted: everything held becomes real. */
static void flush_held(out_t *o)
{
    sg_canon_body *c = o->c;
    flush_crlf(o);
    if (c->pending_wsp) {
        emit(o, " ", 1);
        c->pending_wsp = 0;
    }
    c->any_data = 1;
}

static inline int is_wsp(unsigned char ch)
{
    return ch == ' ' || ch == '\t';
}

/* ---- body -------------------------------------------------------------- */

void sg_canon_body_init(sg_canon_body *c, sg_canon_mode mode, uint64_t limit, sg_canon_sink sink,
                        void *payload)
{
    memset(c, 0, sizeof(*c));
    c->mode = mode;
    c->limit = limit;
    c->sink = sink;
    c->payload = payload;
}

/* Start of the held-back tail of [p, end): the longest suffix made of CRLF
 * pairs and (relaxed) WSP, plus a final CR whose partner may come in the
 * next chunk. Pairs are unambiguous (every LF preceded by CR), so scanning
 * backwards agrees with reading forwards. */
static const char *tail_start(const char *p, const char *end, int relaxed)
{
    const char *t = end;
    if (t > p && t[-1] == '\r')
        t--;
    while (t > p) {
        if (t - p >= 2 && t[-1] == '\n' && t[-2] == '\r')
            t -= 2;
        else if (relaxed && is_wsp((unsigned char)t[-1]))
            t--;
        else
            break;
    }
    return t;
}

/* ---- word-at-a-time scanning ------------------------------------------- */

#if !defined(__SSE2__)
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

static inline uint64_t load64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* High bit set in every byte of v equal to b. May also flag a byte just
 * above a true match (borrow), never misses one: a superset is safe here
 * because a flagged word only sends us to the exact byte-level check. */
static inline uint64_t bytes_eq(uint64_t v, unsigned char b)
{
    uint64_t x = v ^ (ONES * b);
    return (x - ONES) & ~x & HIGHS;
}

#endif

/* First position in [q, t) that relaxed mode may have to change: an HTAB,
 * or an SP followed by SP, HTAB or CR. Reads up to end (one byte past a
 * candidate). May stop early at a false candidate (the SWAR variant);
 * never skips a true one. Returns t if there is none. */
static const char *find_special(const char *q, const char *t, const char *end)
{
#if defined(__SSE2__)
    const __m128i sp = _mm_set1_epi8(' '), ht = _mm_set1_epi8('\t'), cr = _mm_set1_epi8('\r');
    while (q < t && end - q >= 17) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)q);
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(q + 1));
        __m128i next = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(b, sp), _mm_cmpeq_epi8(b, ht)),
                                    _mm_cmpeq_epi8(b, cr));
        __m128i hit =
            _mm_or_si128(_mm_cmpeq_epi8(a, ht), _mm_and_si128(_mm_cmpeq_epi8(a, sp), next));
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m != 0) {
            q += __builtin_ctz(m);
            return q < t ? q : t;
        }
        q += 16;
    }
#else
    while (q < t && end - q >= 9) {
        uint64_t w0 = load64(q), w1 = load64(q + 1);
        uint64_t next = bytes_eq(w1, ' ') | bytes_eq(w1, '\t') | bytes_eq(w1, '\r');
        if ((bytes_eq(w0, '\t') | (bytes_eq(w0, ' ') & next)) != 0)
            return q;
        q += 8;
    }
#endif
    for (; q < t; q++) {
        unsigned char ch = (unsigned char)*q;
        if (ch == '\t' ||
            (ch == ' ' && q + 1 < end && (q[1] == ' ' || q[1] == '\t' || q[1] == '\r')))
            return q;
    }
    return t;
}

/* Relaxed middle [p, t): t[-1] is a content byte, so every WSP run in here
 * is followed by a known byte within the chunk. 3.4.4: a WSP run before
 * CRLF goes; any other run becomes one SP. A lone SP before ordinary text
 * (by far the common case) needs no change and stays inside the run. */
static void relaxed_middle(out_t *o, const char *p, const char *t, const char *end)
{
    const char *s = p, *q = p;
    for (;;) {
        q = find_special(q, t, end);
        if (q >= t)
            break;
        unsigned char ch = (unsigned char)*q;
        if (!is_wsp(ch)) { /* a false candidate of the word scan */
            q++;
            continue;
        }
        const char *r = q + 1;
        while (r < t && is_wsp((unsigned char)*r))
            r++;
        /* r < t: t[-1] is not WSP */
        if (*r == '\r' && r + 1 < end && r[1] == '\n') {
            emit(o, s, (size_t)(q - s)); /* drop end-of-line WSP */
            s = r;
        } else if (!(r == q + 1 && ch == ' ')) {
            emit(o, s, (size_t)(q - s));
            emit(o, " ", 1);
            s = r;
        }
        q = r;
    }
    emit(o, s, (size_t)(t - s));
}

void sg_canon_body_update(sg_canon_body *c, const char *data, size_t len)
{
    const char *p = data, *end = data + len, *t;
    int relaxed = c->mode == SG_CANON_RELAXED;
    out_t stage, *o = &stage;
    o->c = c;
    o->n = 0;

    /* Resolve what the previous chunk held: [CRLF*] [WSP] [CR]. */
    while (p < end && (c->saw_cr || c->pending_wsp)) {
        if (c->saw_cr) {
            c->saw_cr = 0;
            if (*p == '\n') {
                /* a line end; whitespace before it is dropped */
                c->pending_wsp = 0;
                c->pending_crlf++;
                p++;
            } else {
                flush_held(o); /* a lone CR is content */
                emit(o, "\r", 1);
            }
        } else if (is_wsp((unsigned char)*p)) {
            p++;
        } else if (*p == '\r') {
            c->saw_cr = 1;
            p++;
        } else {
            flush_held(o); /* WSP then content: one SP */
        }
    }
    if (p == end) {
        stage_flush(o);
        return;
    }

    t = tail_start(p, end, relaxed);
    if (t > p) {
        flush_held(o);
        if (relaxed)
            relaxed_middle(o, p, t, end);
        else
            emit(o, p, (size_t)(t - p)); /* simple: pass the run as is */
    }
    /* The tail: only CRLF pairs, WSP (relaxed) and maybe a final CR. */
    while (t < end) {
        if (*t == '\r') {
            if (t + 1 < end) { /* necessarily LF */
                c->pending_wsp = 0;
                c->pending_crlf++;
                t += 2;
            } else {
                c->saw_cr = 1;
                t++;
            }
        } else {
            c->pending_wsp = 1;
            t++;
        }
    }
    stage_flush(o);
}

void sg_canon_body_final(sg_canon_body *c)
{
    out_t stage, *o = &stage;
    o->c = c;
    o->n = 0;
    if (c->saw_cr || c->pending_wsp) {
        /* The last line has no CRLF: what is held is content. */
        flush_held(o);
        if (c->saw_cr)
            emit(o, "\r", 1);
        c->saw_cr = 0;
        emit(o, "\r\n", 2);
    } else if (c->mode == SG_CANON_SIMPLE || c->any_data) {
        /* The held CRLFs are the last content line's end followed by
         * trailing empty lines: exactly one CRLF survives. Simple also
         * turns an empty body into one CRLF (3.4.3). */
        emit(o, "\r\n", 2);
    }
    c->pending_crlf = 0;
    stage_flush(o);
}

/* ---- headers ----------------------------------------------------------- */

typedef struct {
    char buf[256];
    size_t n;
    sg_canon_sink sink;
    void *payload;
} outbuf;

static void ob_flush(outbuf *o)
{
    if (o->n > 0 && o->sink)
        o->sink(o->buf, o->n, o->payload);
    o->n = 0;
}

static void ob_put(outbuf *o, char ch)
{
    if (o->n == sizeof(o->buf))
        ob_flush(o);
    o->buf[o->n++] = ch;
}

static void ob_write(outbuf *o, const char *p, size_t n)
{
    while (n > 0) {
        if (o->n == sizeof(o->buf))
            ob_flush(o);
        size_t k = sizeof(o->buf) - o->n;
        if (k > n)
            k = n;
        memcpy(o->buf + o->n, p, k);
        o->n += k;
        p += k;
        n -= k;
    }
}

/* 3.4.2: lower-case the name, unfold, reduce WSP runs to one SP, drop WSP
 * at the end of the value and around the colon. A CR or LF that is not
 * part of a CRLF is data and kept. */
static void relaxed_header(const char *raw, size_t len, int strip_crlf, outbuf *o)
{
    const char *end = raw + len;
    const char *colon = memchr(raw, ':', len);
    const char *name_end = colon ? colon : end;
    const char *p;
    int wsp = 0, started = 0;

    while (name_end > raw && is_wsp((unsigned char)name_end[-1]))
        name_end--;
    for (p = raw; p < name_end; p++) {
        char ch = *p;
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        ob_put(o, ch);
    }
    if (colon) {
        ob_put(o, ':');
        for (p = colon + 1; p < end;) {
            unsigned char ch = (unsigned char)*p;
            if (ch == '\r' && p + 1 < end && p[1] == '\n') {
                p += 2; /* unfold; the final CRLF is re-added below */
                continue;
            }
            if (is_wsp(ch)) {
                wsp = 1;
                p++;
                continue;
            }
            if (wsp && started)
                ob_put(o, ' ');
            wsp = 0;
            started = 1;
            /* a run of data (a CR not before LF is data too) in one copy */
            const char *q = p + 1;
            while (q < end && !is_wsp((unsigned char)*q) && *q != '\r')
                q++;
            ob_write(o, p, (size_t)(q - p));
            p = q;
        }
    }
    if (!strip_crlf) {
        ob_put(o, '\r');
        ob_put(o, '\n');
    }
}

void sg_canon_header(sg_canon_mode mode, const char *raw, size_t len, int strip_crlf,
                     sg_canon_sink sink, void *payload)
{
    if (mode == SG_CANON_SIMPLE) {
        if (strip_crlf && len >= 2 && raw[len - 2] == '\r' && raw[len - 1] == '\n')
            len -= 2;
        if (len > 0 && sink)
            sink(raw, len, payload);
        return;
    }
    outbuf o;
    o.n = 0;
    o.sink = sink;
    o.payload = payload;
    relaxed_header(raw, len, strip_crlf, &o);
    ob_flush(&o);
}

/* ---- c= ---------------------------------------------------------------- */

static int parse_one(const char *s, size_t len, sg_canon_mode *out)
{
    /* ABNF literals are case-insensitive (RFC 5234 2.3) */
    if (len == 6 && sg_ascii_ncasecmp(s, "simple", 6) == 0)
        *out = SG_CANON_SIMPLE;
    else if (len == 7 && sg_ascii_ncasecmp(s, "relaxed", 7) == 0)
        *out = SG_CANON_RELAXED;
    else
        return SG_ESYNTAX;
    return SG_OK;
}

static int is_fws_byte(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

int sg_canon_parse(const char *s, size_t len, sg_canon_mode *header, sg_canon_mode *body)
{
    sg_canon_mode h, b = SG_CANON_SIMPLE;
    const char *slash;
    if (s == NULL)
        return SG_EINVAL;
    /* tolerate FWS around the whole value (3.2 tag-value) */
    while (len > 0 && is_fws_byte(*s)) {
        s++;
        len--;
    }
    while (len > 0 && is_fws_byte(s[len - 1]))
        len--;
    slash = memchr(s, '/', len);
    if (slash) {
        if (parse_one(s, (size_t)(slash - s), &h) != SG_OK ||
            parse_one(slash + 1, (size_t)(s + len - slash - 1), &b) != SG_OK)
            return SG_ESYNTAX;
    } else if (parse_one(s, len, &h) != SG_OK) {
        return SG_ESYNTAX;
    }
    if (header)
        *header = h;
    if (body)
        *body = b;
    return SG_OK;
}
