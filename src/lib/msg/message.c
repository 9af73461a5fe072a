/*
 * Incremental RFC 5322 message parser.
 *
 * Header: a byte-level state machine (headers are small) appending the
 * CRLF-normalised raw bytes of each field to one growing buffer owned by
 * the parser. When a field is complete (the next line does not start with
 * WSP, RFC 5322 2.2.3) its unfolded, NUL-terminated value is appended
 * right after its raw bytes, and the sg_header entry is (re)pointed into
 * the buffer. A realloc re-points every entry, so pointers are stable once
 * the header is complete (no more appends after on_headers).
 *
 * Line ends in the header (one rule for the library, the CLI and the
 * daemon, which rebuilds the header from milter fields and feeds it here):
 *  - CRLF ends a line; so does a bare LF, which every reader we know of
 *    (Postfix, dkimpy, Python's email package, MUAs) treats as a line end,
 *    and which LF-only files (mbox, Maildir) use throughout. It is stored
 *    as CRLF, so DKIM canonicalisation and the signer see what a reader
 *    sees.
 *  - a bare CR (not followed by LF) or a NUL anywhere in the header is a
 *    syntax error: the whole message is refused. Readers disagree about
 *    them - Python's email package and several MUAs end a line at a bare
 *    CR, Postfix and dkimpy keep it as data, C readers stop at a NUL - so
 *    a field hidden behind one (`Subject: hi<CR>From: ceo@bank.example`)
 *    is seen by some readers and not by others, and no single reading we
 *    could pick is safe. RFC 5322 2.2/2.3 forbids both, and no signer can
 *    sign such a field in a way every verifier reproduces.
 * The body is not read by anyone for authorship: a bare CR or a NUL
 * there stays data (DKIM hashes the bytes as sent; RFC 6376 3.4).
 *
 * Body: never held. Each chunk is searched for a bare LF (SSE2 or memchr)
 * and passed to on_body in runs straight from the caller's buffer; only a
 * bare LF costs an extra one-byte "\r" call. A CR at the end of one chunk is
 * remembered so that an LF starting the next one is not doubled.
 */
#include <spoofguard/msg.h>

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#include "util/ascii.h"
#endif

/* Defaults. RFC 5322 2.1.1 caps a line at 998 octets but a field may fold
 * over many lines; real fields top out at a few KiB (long DKIM-Signature /
 * ARC-Seal sets, Received chains), so 64 KiB per field and 1 MiB for the
 * whole header leave a wide margin while bounding memory per message.
 * 1000 fields is far above any legitimate header (Postfix rejects more
 * than 50 Received fields by default, hopcount_limit). */
#define SG_MSG_DEFAULT_MAX_FIELDS 1000
#define SG_MSG_DEFAULT_MAX_FIELD_SIZE (64 * 1024)
#define SG_MSG_DEFAULT_MAX_HEADER_SIZE (1024 * 1024)

enum hstate {
    H_LINE_START, /* at the start of a line */
    H_NAME,       /* inside the field name */
    H_NAME_WSP,   /* WSP between name and colon (obs-optional, RFC 5322 4.5) */
    H_VALUE,      /* after the colon, or on a continuation line */
};

enum phase { P_HEADER, P_BODY, P_DONE };

struct sg_msg_parser {
    sg_msg_limits lim;
    sg_msg_callbacks cbs;
    void *payload;

    char *buf; /* raw fields, each followed by its unfolded value + NUL */
    size_t buf_len, buf_cap;

    sg_header *hdrs;
    size_t *offs; /* per field: raw offset, value offset */
    size_t nfields, fields_cap;

    int have_cur; /* a field is being accumulated at buf + cur_start */
    size_t cur_start;
    size_t cur_name_len;  /* name length (without WSP before the colon) */
    size_t cur_value_off; /* offset of the byte after the colon, from cur_start */
    size_t header_bytes;  /* raw bytes of all fields so far */

    enum hstate st;
    int pending_cr; /* header: a CR whose meaning depends on the next byte */
    int body_last_cr;
    /* an LF-only body's lines, gathered with their CRs (see body_bytes) */
    char body_buf[8192];
    size_t body_buf_len;
    enum phase phase;
    int err; /* sticky: once non-zero every call returns it */
    uint64_t body_size;
};

void sg_msg_limits_init(sg_msg_limits *lim)
{
    lim->version = SG_MSG_LIMITS_VERSION;
    lim->max_fields = SG_MSG_DEFAULT_MAX_FIELDS;
    lim->max_field_size = SG_MSG_DEFAULT_MAX_FIELD_SIZE;
    lim->max_header_size = SG_MSG_DEFAULT_MAX_HEADER_SIZE;
}

int sg_msg_parser_new(sg_msg_parser **out, const sg_msg_limits *lim, const sg_msg_callbacks *cbs,
                      void *payload)
{
    sg_msg_parser *p;
    if (out == NULL)
        return SG_EINVAL;
    *out = NULL;
    if (lim && lim->version != SG_MSG_LIMITS_VERSION)
        return SG_EINVAL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return SG_ENOMEM;
    sg_msg_limits_init(&p->lim);
    if (lim) {
        /* zero means "default" so callers can set only what they care about */
        if (lim->max_fields)
            p->lim.max_fields = lim->max_fields;
        if (lim->max_field_size)
            p->lim.max_field_size = lim->max_field_size;
        if (lim->max_header_size)
            p->lim.max_header_size = lim->max_header_size;
    }
    if (cbs)
        p->cbs = *cbs;
    p->payload = payload;
    *out = p;
    return SG_OK;
}

void sg_msg_parser_free(sg_msg_parser *p)
{
    if (p == NULL)
        return;
    free(p->buf);
    free(p->hdrs);
    free(p->offs);
    free(p);
}

void sg_msg_parser_reset(sg_msg_parser *p)
{
    if (p == NULL)
        return;
    /* keep the buffers for reuse */
    p->buf_len = 0;
    p->nfields = 0;
    p->have_cur = 0;
    p->cur_start = p->cur_name_len = p->cur_value_off = 0;
    p->header_bytes = 0;
    p->st = H_LINE_START;
    p->pending_cr = 0;
    p->body_last_cr = 0;
    p->body_buf_len = 0;
    p->phase = P_HEADER;
    p->err = 0;
    p->body_size = 0;
}

/* ---- header storage ---------------------------------------------------- */

static void repoint(sg_msg_parser *p)
{
    for (size_t i = 0; i < p->nfields; i++) {
        sg_header *h = &p->hdrs[i];
        h->raw = p->buf + p->offs[2 * i];
        h->name = h->raw;
        h->value = p->buf + p->offs[2 * i + 1];
    }
}

static int reserve(sg_msg_parser *p, size_t n)
{
    size_t need, cap;
    char *nb;
    if (n <= p->buf_cap - p->buf_len)
        return SG_OK;
    if (n > SIZE_MAX - p->buf_len)
        return SG_ENOMEM;
    need = p->buf_len + n;
    cap = p->buf_cap ? p->buf_cap : 1024;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    nb = realloc(p->buf, cap);
    if (nb == NULL)
        return SG_ENOMEM;
    p->buf = nb;
    p->buf_cap = cap;
    repoint(p);
    return SG_OK;
}

/* Append raw header bytes of the current field, enforcing the limits
 * before any memory is taken. */
static int append_raw(sg_msg_parser *p, const char *data, size_t n)
{
    int rc;
    if (p->buf_len - p->cur_start + n > p->lim.max_field_size ||
        p->header_bytes + n > p->lim.max_header_size)
        return SG_ELIMIT;
    if ((rc = reserve(p, n)) != SG_OK)
        return rc;
    memcpy(p->buf + p->buf_len, data, n);
    p->buf_len += n;
    p->header_bytes += n;
    return SG_OK;
}

/* The current field is complete (raw ends with CRLF): append its unfolded
 * value and publish it. Inside one field every CRLF but the last precedes
 * WSP (that is how the field was delimited), so unfolding is removing all
 * CRLF pairs (the header holds no bare CR and no NUL, see above). */
static int finish_field(sg_msg_parser *p)
{
    size_t raw_len, vstart, vend, i, out;
    int rc;
    if (!p->have_cur)
        return SG_OK;
    raw_len = p->buf_len - p->cur_start;
    vstart = p->cur_start + p->cur_value_off;
    vend = p->cur_start + raw_len - 2; /* drop the final CRLF */
    if (p->nfields == p->fields_cap) {
        size_t ncap = p->fields_cap ? p->fields_cap * 2 : 32;
        sg_header *nh = realloc(p->hdrs, ncap * sizeof(*nh));
        if (nh == NULL)
            return SG_ENOMEM;
        p->hdrs = nh;
        size_t *no = realloc(p->offs, ncap * 2 * sizeof(*no));
        if (no == NULL)
            return SG_ENOMEM;
        p->offs = no;
        p->fields_cap = ncap;
    }
    if ((rc = reserve(p, vend - vstart + 1)) != SG_OK)
        return rc;
    /* copy the runs between CRLF pairs (the value holds no other CR) */
    out = p->buf_len;
    for (i = vstart; i < vend;) {
        const char *cr = memchr(p->buf + i, '\r', vend - i);
        size_t run = cr ? (size_t)(cr - (p->buf + i)) : vend - i;
        memcpy(p->buf + out, p->buf + i, run);
        out += run;
        i += run;
        if (i < vend) {
            if (p->buf[i + 1] == '\n') {
                i += 2;
            } else {
                p->buf[out++] = '\r';
                i++;
            }
        }
    }
    p->buf[out] = '\0';

    sg_header *h = &p->hdrs[p->nfields];
    p->offs[2 * p->nfields] = p->cur_start;
    p->offs[2 * p->nfields + 1] = p->buf_len;
    h->raw = p->buf + p->cur_start;
    h->raw_len = raw_len;
    h->name = h->raw;
    h->name_len = p->cur_name_len;
    h->value = p->buf + p->buf_len;
    h->value_len = out - p->buf_len;
    p->buf_len = out + 1;
    p->nfields++;
    p->have_cur = 0;
    return SG_OK;
}

/* ---- header state machine ---------------------------------------------- */

/* RFC 5322 3.6.8: ftext = %d33-57 / %d59-126 */
static int is_ftext(unsigned char ch)
{
    return ch >= 33 && ch <= 126 && ch != ':';
}

static int is_wsp(unsigned char ch)
{
    return ch == ' ' || ch == '\t';
}

/* The first CR, LF or NUL in [s, end), or end: the end of a run of field
 * value bytes. 16 bytes at a time with SSE2. */
static const char *value_run_end(const char *s, const char *end)
{
#if defined(__SSE2__)
    const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n'), nul = _mm_setzero_si128();
    while (end - s >= 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)s);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(a, cr), _mm_cmpeq_epi8(a, lf)),
                                   _mm_cmpeq_epi8(a, nul));
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m != 0)
            return s + __builtin_ctz(m);
        s += 16;
    }
#endif
    while (s < end && *s != '\r' && *s != '\n' && *s != '\0')
        s++;
    return s;
}

static int fail(sg_msg_parser *p, int rc)
{
    p->err = rc;
    return rc;
}

static int end_of_header(sg_msg_parser *p)
{
    int rc;
    if ((rc = finish_field(p)) != SG_OK)
        return rc;
    p->phase = P_BODY;
    p->body_last_cr = 0;
    if (p->cbs.on_headers && (rc = p->cbs.on_headers(p->hdrs, p->nfields, p->payload)) != 0)
        return rc;
    return SG_OK;
}

/* A line break inside a field (CRLF, or a bare LF normalised to it). */
static int line_break(sg_msg_parser *p)
{
    int rc = append_raw(p, "\r\n", 2);
    p->st = H_LINE_START;
    return rc;
}

/* Consume header bytes from [*pp, end); stops early at the end of the
 * header (phase becomes P_BODY) or on error. */
static int header_bytes(sg_msg_parser *p, const char **pp, const char *end)
{
    const char *s = *pp;
    int rc = SG_OK;

    while (s < end && p->phase == P_HEADER) {
        unsigned char ch = (unsigned char)*s;

        if (p->pending_cr) {
            p->pending_cr = 0;
            if (ch == '\n') {
                s++;
                rc = p->st == H_LINE_START ? end_of_header(p) : line_break(p);
                if (rc)
                    break;
                continue;
            }
            rc = SG_ESYNTAX; /* a bare CR: readers disagree on it (see above) */
            break;
        }

        switch (p->st) {
        case H_LINE_START:
            if (ch == '\r') {
                p->pending_cr = 1;
                s++;
            } else if (ch == '\n') {
                s++;
                rc = end_of_header(p);
            } else if (is_wsp(ch)) {
                /* continuation (folding); nothing to continue is an error */
                if (!p->have_cur) {
                    rc = SG_ESYNTAX;
                    break;
                }
                p->st = H_VALUE;
            } else if (is_ftext(ch)) {
                if ((rc = finish_field(p)) != SG_OK)
                    break;
                if (p->nfields >= p->lim.max_fields) {
                    rc = SG_ELIMIT;
                    break;
                }
                p->have_cur = 1;
                p->cur_start = p->buf_len;
                p->cur_name_len = 0;
                p->st = H_NAME;
            } else {
                rc = SG_ESYNTAX;
            }
            break;
        case H_NAME: {
            const char *r = s;
            while (r < end && is_ftext((unsigned char)*r))
                r++;
            if (r > s) {
                if ((rc = append_raw(p, s, (size_t)(r - s))) != SG_OK)
                    break;
                p->cur_name_len += (size_t)(r - s);
                s = r;
                break;
            }
            if (ch == ':') {
                rc = append_raw(p, s++, 1);
                p->cur_value_off = p->buf_len - p->cur_start;
                p->st = H_VALUE;
            } else if (is_wsp(ch)) {
                rc = append_raw(p, s++, 1);
                p->st = H_NAME_WSP;
            } else {
                /* no colon: e.g. an mbox "From " line, or garbage */
                rc = SG_ESYNTAX;
            }
            break;
        }
        case H_NAME_WSP:
            if (is_wsp(ch)) {
                rc = append_raw(p, s++, 1);
            } else if (ch == ':') {
                rc = append_raw(p, s++, 1);
                p->cur_value_off = p->buf_len - p->cur_start;
                p->st = H_VALUE;
            } else {
                rc = SG_ESYNTAX;
            }
            break;
        case H_VALUE: {
            const char *r = value_run_end(s, end);
            if (r > s) {
                rc = append_raw(p, s, (size_t)(r - s));
                s = r;
            } else if (ch == '\r') {
                p->pending_cr = 1;
                s++;
            } else if (ch == '\0') {
                rc = SG_ESYNTAX; /* NUL in a field: readers disagree on it */
            } else {             /* bare LF */
                s++;
                rc = line_break(p);
            }
            break;
        }
        }
        if (rc)
            break;
    }
    *pp = s;
    return rc;
}

/* ---- body -------------------------------------------------------------- */

static int body_out(sg_msg_parser *p, const char *data, size_t n)
{
    if (n == 0)
        return 0;
    p->body_size += n;
    if (p->cbs.on_body)
        return p->cbs.on_body(data, n, p->payload);
    return 0;
}

/* First LF in [q, end) that is not preceded by CR, or NULL. data is the
 * start of the chunk; the byte before it was a CR iff last_cr. Almost
 * every LF in real mail is preceded by CR, so this is a scan for a rare
 * event: 16 bytes at a time with SSE2, memchr per line otherwise. */
static const char *find_bare_lf(const char *q, const char *end, const char *data, int last_cr)
{
    if (q < end && q == data) {
        if (*q == '\n' && !last_cr)
            return q;
        q++;
    }
#if defined(__SSE2__)
    const __m128i lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
    while (end - q >= 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)q);
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(q - 1)); /* q > data */
        __m128i bare = _mm_andnot_si128(_mm_cmpeq_epi8(b, cr), _mm_cmpeq_epi8(a, lf));
        unsigned m = (unsigned)_mm_movemask_epi8(bare);
        if (m != 0)
            return q + __builtin_ctz(m);
        q += 16;
    }
#endif
    while (q < end) {
        const char *l = memchr(q, '\n', (size_t)(end - q));
        if (l == NULL)
            return NULL;
        if (l[-1] != '\r') /* l > data here */
            return l;
        q = l + 1;
    }
    return NULL;
}

static int body_flush(sg_msg_parser *p)
{
    size_t n = p->body_buf_len;
    p->body_buf_len = 0;
    return body_out(p, p->body_buf, n);
}

/* Out through body_buf: every consumer call costs the body's consumers
 * (a hash per body canonicalisation and l=, up to dozens) a round, and an
 * LF-only body made two calls a line; gathered, they are one per 8 KiB. A
 * piece the buffer cannot take goes out directly, after what it holds. */
static int body_put(sg_msg_parser *p, const char *data, size_t n)
{
    int rc;
    if (n > sizeof(p->body_buf) - p->body_buf_len) {
        if ((rc = body_flush(p)) != 0)
            return rc;
        if (n >= sizeof(p->body_buf))
            return body_out(p, data, n);
    }
    memcpy(p->body_buf + p->body_buf_len, data, n);
    p->body_buf_len += n;
    return 0;
}

static int body_bytes(sg_msg_parser *p, const char *data, size_t len)
{
    const char *end = data + len, *run = data, *scan = data, *q;
    int rc;
    if (len == 0)
        return 0;
    q = find_bare_lf(scan, end, data, p->body_last_cr);
    p->body_last_cr = end[-1] == '\r';
    if (q == NULL) /* CRLF mail: the chunk as it is */
        return body_out(p, data, len);
    do {
        /* bare LF: what precedes, then a CR; the LF starts the next run */
        if ((rc = body_put(p, run, (size_t)(q - run))) != 0 || (rc = body_put(p, "\r", 1)) != 0)
            return rc;
        run = q;
        scan = q + 1;
    } while ((q = find_bare_lf(scan, end, data, 0)) != NULL);
    if ((rc = body_put(p, run, (size_t)(end - run))) != 0)
        return rc;
    return body_flush(p); /* nothing waits past this call */
}

/* ---- public ------------------------------------------------------------ */

int sg_msg_feed(sg_msg_parser *p, const char *data, size_t len)
{
    const char *s = data, *end = data + len;
    int rc;
    if (p == NULL || (data == NULL && len > 0))
        return SG_EINVAL;
    if (p->err)
        return p->err;
    if (p->phase == P_DONE)
        return SG_ESTATE;
    if (len == 0)
        return SG_OK;
    if (p->phase == P_HEADER) {
        if ((rc = header_bytes(p, &s, end)) != SG_OK)
            return fail(p, rc);
    }
    if (p->phase == P_BODY && s < end) {
        if ((rc = body_bytes(p, s, (size_t)(end - s))) != 0)
            return fail(p, rc);
    }
    return SG_OK;
}

int sg_msg_finish(sg_msg_parser *p)
{
    int rc;
    if (p == NULL)
        return SG_EINVAL;
    if (p->err)
        return p->err;
    if (p->phase == P_DONE)
        return SG_ESTATE;
    if (p->phase == P_HEADER) {
        /* A CR at EOF is taken as a truncated CRLF: the final line is
         * complete (an empty one ends the header), so pending_cr needs
         * nothing more here. */
        p->pending_cr = 0;
        switch (p->st) {
        case H_NAME:
        case H_NAME_WSP:
            return fail(p, SG_ESYNTAX); /* last line has no colon */
        case H_VALUE:
            if ((rc = line_break(p)) != SG_OK)
                return fail(p, rc);
            break;
        case H_LINE_START:
            break;
        }
        if ((rc = end_of_header(p)) != SG_OK)
            return fail(p, rc);
    }
    p->phase = P_DONE;
    if (p->cbs.on_end && (rc = p->cbs.on_end(p->payload)) != 0)
        return fail(p, rc);
    return SG_OK;
}

const sg_header *sg_msg_headers(const sg_msg_parser *p, size_t *count)
{
    if (count)
        *count = p ? p->nfields : 0;
    return p ? p->hdrs : NULL;
}

uint64_t sg_msg_body_size(const sg_msg_parser *p)
{
    return p ? p->body_size : 0;
}

int sg_msg_in_body(const sg_msg_parser *p)
{
    return p && p->phase != P_HEADER;
}

int sg_header_is(const sg_header *h, const char *name)
{
    size_t n;
    if (h == NULL || name == NULL)
        return 0;
    n = strlen(name);
    return n == h->name_len && sg_ascii_ncasecmp(h->name, name, n) == 0;
}

const sg_header *sg_headers_find(const sg_header *fields, size_t count, const char *name,
                                 size_t *pos)
{
    size_t i = pos ? *pos : 0;
    for (; i < count; i++) {
        if (sg_header_is(&fields[i], name)) {
            if (pos)
                *pos = i + 1;
            return &fields[i];
        }
    }
    if (pos)
        *pos = count;
    return NULL;
}
