/*
 * The signer's messages (signer_proto.h): bounded encoders and decoders.
 * Each decoder walks one datagram with a cursor that refuses to read past
 * its end, and accepts the datagram only if it is used up exactly.
 */
#include "signer_proto.h"

#include <string.h>

/* ---- writing -------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t len, cap;
    int bad; /* overflow or an invalid field: the message is not made */
} wcur;

static void w_bytes(wcur *w, const void *d, size_t n)
{
    if (w->bad || n > w->cap - w->len) {
        w->bad = 1;
        return;
    }
    if (n)
        memcpy(w->p + w->len, d, n);
    w->len += n;
}

static void w_u8(wcur *w, unsigned v)
{
    uint8_t b = (uint8_t)v;
    w_bytes(w, &b, 1);
}

static void w_u16(wcur *w, size_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    if (v > 0xffff)
        w->bad = 1;
    w_bytes(w, b, 2);
}

static void w_u32(wcur *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    w_bytes(w, b, 4);
}

/* ---- reading -------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t len, off;
    int bad;
} rcur;

static const uint8_t *r_bytes(rcur *r, size_t n)
{
    if (r->bad || n > r->len - r->off) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *at = r->p + r->off;
    r->off += n;
    return at;
}

static unsigned r_u8(rcur *r)
{
    const uint8_t *b = r_bytes(r, 1);
    return b ? b[0] : 0;
}

static size_t r_u16(rcur *r)
{
    const uint8_t *b = r_bytes(r, 2);
    return b ? (size_t)b[0] << 8 | b[1] : 0;
}

static uint32_t r_u32(rcur *r)
{
    const uint8_t *b = r_bytes(r, 4);
    return b ? (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3] : 0;
}

/* ---- field rules, shared by both directions ---------------------------------- */

/* A key id is a path: 1..SG_SP_MAX_KEYID bytes, no NUL. */
static int keyid_ok(const char *s, size_t n)
{
    return s != NULL && n >= 1 && n <= SG_SP_MAX_KEYID && memchr(s, '\0', n) == NULL;
}

static int alg_ok(unsigned alg)
{
    return alg >= 1 && alg <= 15;
}

/* Reasons end up in the JSON log: printable ASCII only. */
static int reason_ok(const char *s, size_t n)
{
    if (n > SG_SP_MAX_REASON || (n && s == NULL))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

static int is_request(unsigned t)
{
    return t == SG_SP_SIGN || t == SG_SP_BEGIN || t == SG_SP_LOAD || t == SG_SP_COMMIT;
}

static int is_answer(unsigned t)
{
    return t == SG_SP_SIGNED || t == SG_SP_BEGUN || t == SG_SP_LOADED || t == SG_SP_COMMITTED ||
           t == SG_SP_READY;
}

/* The answer carries a reason when it failed and the request can name
 * one; 'r' always does: a failed start's, or a warning ("" for none). */
static int has_reason(const sg_sp_answer *a)
{
    return a->type == SG_SP_READY ||
           (a->status != SG_SP_OK && (a->type == SG_SP_LOADED || a->type == SG_SP_BEGUN));
}

/* ---- requests ------------------------------------------------------------- */

size_t sg_sp_encode_request(uint8_t *buf, size_t cap, const sg_sp_request *r)
{
    wcur w = {buf, 0, cap < SG_SP_MAX_MSG ? cap : SG_SP_MAX_MSG, 0};
    if (r == NULL || !is_request(r->type))
        return 0;
    w_u8(&w, r->type);
    w_u32(&w, r->id);
    if (r->type == SG_SP_SIGN) {
        if (r->n < 1 || r->n > SG_SP_MAX_ITEMS)
            return 0;
        w_u8(&w, (unsigned)r->n);
        for (size_t i = 0; i < r->n; i++) {
            const sg_sp_item *it = &r->items[i];
            if (!alg_ok(it->alg) || !keyid_ok(it->keyid, it->keyid_len) || it->digest == NULL)
                return 0;
            w_u8(&w, it->alg);
            w_u16(&w, it->keyid_len);
            w_bytes(&w, it->keyid, it->keyid_len);
            w_bytes(&w, it->digest, 32);
        }
    } else if (r->type == SG_SP_LOAD) {
        if (!keyid_ok(r->items[0].keyid, r->items[0].keyid_len))
            return 0;
        w_u16(&w, r->items[0].keyid_len);
        w_bytes(&w, r->items[0].keyid, r->items[0].keyid_len);
    }
    return w.bad ? 0 : w.len;
}

int sg_sp_decode_request(const uint8_t *buf, size_t len, sg_sp_request *out)
{
    rcur r = {buf, len > SG_SP_MAX_MSG ? 0 : len, 0, 0};
    memset(out, 0, sizeof(*out));
    if (buf == NULL)
        return -1;
    out->type = (uint8_t)r_u8(&r);
    out->id = r_u32(&r);
    if (r.bad || !is_request(out->type))
        return -1;
    if (out->type == SG_SP_SIGN) {
        out->n = r_u8(&r);
        if (out->n < 1 || out->n > SG_SP_MAX_ITEMS)
            return -1;
        for (size_t i = 0; i < out->n && !r.bad; i++) {
            sg_sp_item *it = &out->items[i];
            it->alg = (uint8_t)r_u8(&r);
            it->keyid_len = r_u16(&r);
            it->keyid = (const char *)r_bytes(&r, it->keyid_len);
            it->digest = r_bytes(&r, 32);
            if (!r.bad && (!alg_ok(it->alg) || !keyid_ok(it->keyid, it->keyid_len)))
                return -1;
        }
    } else if (out->type == SG_SP_LOAD) {
        out->items[0].keyid_len = r_u16(&r);
        out->items[0].keyid = (const char *)r_bytes(&r, out->items[0].keyid_len);
        if (!r.bad && !keyid_ok(out->items[0].keyid, out->items[0].keyid_len))
            return -1;
    }
    return r.bad || r.off != r.len ? -1 : 0;
}

/* ---- answers -------------------------------------------------------------- */

size_t sg_sp_encode_answer(uint8_t *buf, size_t cap, const sg_sp_answer *a)
{
    wcur w = {buf, 0, cap < SG_SP_MAX_MSG ? cap : SG_SP_MAX_MSG, 0};
    if (a == NULL || !is_answer(a->type) || a->status >= SG_SP_NSTATUS)
        return 0;
    w_u8(&w, a->type);
    w_u32(&w, a->id);
    w_u8(&w, a->status);
    if (has_reason(a)) {
        if (!reason_ok(a->reason, a->reason_len))
            return 0;
        w_u16(&w, a->reason_len);
        w_bytes(&w, a->reason, a->reason_len);
    } else if (a->status == SG_SP_OK && a->type == SG_SP_SIGNED) {
        if (a->n < 1 || a->n > SG_SP_MAX_ITEMS)
            return 0;
        w_u8(&w, (unsigned)a->n);
        for (size_t i = 0; i < a->n; i++) {
            if (a->sig[i] == NULL || a->siglen[i] < 1 || a->siglen[i] > SG_SP_MAX_SIG)
                return 0;
            w_u16(&w, a->siglen[i]);
            w_bytes(&w, a->sig[i], a->siglen[i]);
        }
    } else if (a->status == SG_SP_OK && a->type == SG_SP_LOADED) {
        if (!alg_ok(a->alg) || a->bits > 0xffff)
            return 0;
        w_u8(&w, a->alg);
        w_u16(&w, a->bits);
    }
    return w.bad ? 0 : w.len;
}

int sg_sp_decode_answer(const uint8_t *buf, size_t len, sg_sp_answer *out)
{
    rcur r = {buf, len > SG_SP_MAX_MSG ? 0 : len, 0, 0};
    memset(out, 0, sizeof(*out));
    if (buf == NULL)
        return -1;
    out->type = (uint8_t)r_u8(&r);
    out->id = r_u32(&r);
    out->status = (uint8_t)r_u8(&r);
    if (r.bad || !is_answer(out->type) || out->status >= SG_SP_NSTATUS)
        return -1;
    if (has_reason(out)) {
        out->reason_len = r_u16(&r);
        out->reason = (const char *)r_bytes(&r, out->reason_len);
        if (!r.bad && !reason_ok(out->reason, out->reason_len))
            return -1;
    } else if (out->status == SG_SP_OK && out->type == SG_SP_SIGNED) {
        out->n = r_u8(&r);
        if (out->n < 1 || out->n > SG_SP_MAX_ITEMS)
            return -1;
        for (size_t i = 0; i < out->n && !r.bad; i++) {
            out->siglen[i] = r_u16(&r);
            out->sig[i] = r_bytes(&r, out->siglen[i]);
            if (!r.bad && (out->siglen[i] < 1 || out->siglen[i] > SG_SP_MAX_SIG))
                return -1;
        }
    } else if (out->status == SG_SP_OK && out->type == SG_SP_LOADED) {
        out->alg = (uint8_t)r_u8(&r);
        out->bits = (unsigned)r_u16(&r);
        if (!r.bad && !alg_ok(out->alg))
            return -1;
    }
    return r.bad || r.off != r.len ? -1 : 0;
}
