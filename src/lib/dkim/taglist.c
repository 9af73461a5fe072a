/*
 * Tag lists (RFC 6376 3.2) and base64 (RFC 2045 6.8 alphabet) for DKIM.
 *
 *   tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
 *   tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
 *   tag-name  =  ALPHA *ALNUMPUNC            ; ALNUMPUNC = ALPHA / DIGIT / "_"
 *   tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
 *   tval      =  1*VALCHAR                   ; VALCHAR = %x21-3A / %x3C-7E
 *
 * The parser is one pass over the bytes with a small state machine; it
 * never allocates and never reads past len.
 */
#include "dkim_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/text.h"

/* ---- base64 ---------------------------------------------------------------- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Decoding table: 0..63 the digit's value; WS: folding white space,
 * skipped (RFC 6376 3.5 b=, bh= and p= may be folded); PD: '=' padding;
 * XX: not base64. */
enum { WS = 64, PD = 65, XX = 66 };
static const uint8_t b64dec[256] = {
    XX, XX, XX, XX, XX, XX, XX, XX, XX, WS, WS, XX, XX, WS, XX, XX, /* 00 */
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 10 */
    WS, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, 62, XX, XX, XX, 63, /* 20 */
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, XX, XX, XX, PD, XX, XX, /* 30 */
    XX, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, /* 40 */
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, XX, XX, XX, XX, XX, /* 50 */
    XX, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, /* 60 */
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, XX, XX, XX, XX, XX, /* 70 */
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 80 */
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* 90 */
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* a0 */
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* b0 */
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* c0 */
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* d0 */
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* e0 */
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, /* f0 */
};

int sg_dkim_b64_decode(sg_arena *a, const char *s, size_t len, uint8_t **out, size_t *outlen)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t cap = len / 4 * 3 + 3, n = 0, pad = 0, i = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    uint8_t *buf = a ? sg_arena_alloc(a, cap ? cap : 1) : malloc(cap ? cap : 1);
    *out = NULL;
    *outlen = 0;
    if (buf == NULL)
        return SG_ENOMEM;
    while (i < len) {
        unsigned v = b64dec[u[i]];
        /* Whole quanta of four digits, the common case, in one step. Only
         * on a quantum boundary, so the bit accounting below still holds. */
        if (bits == 0 && pad == 0 && i + 4 <= len) {
            unsigned v1 = b64dec[u[i + 1]], v2 = b64dec[u[i + 2]], v3 = b64dec[u[i + 3]];
            if ((v | v1 | v2 | v3) < 64) {
                uint32_t q = v << 18 | v1 << 12 | v2 << 6 | v3;
                buf[n] = (uint8_t)(q >> 16);
                buf[n + 1] = (uint8_t)(q >> 8);
                buf[n + 2] = (uint8_t)q;
                n += 3;
                i += 4;
                continue;
            }
        }
        i++;
        if (v == WS)
            continue;
        if (v == PD) {
            pad++;
            continue;
        }
        if (pad > 0 || v == XX)
            goto bad; /* data after padding, or not base64 */
        acc = (acc << 6) | v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (uint8_t)(acc >> bits);
        }
    }
    /* Leftover bits must be the zero fill of a final quantum, and the
     * padding must complete it: 2 chars + "==", 3 chars + "=". */
    if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0)
        goto bad;
    if (pad > 2 || (pad > 0 && pad != bits / 2))
        goto bad;
    *out = buf;
    *outlen = n;
    return SG_OK;
bad:
    if (a == NULL)
        free(buf);
    return SG_ESYNTAX;
}

size_t sg_dkim_b64_encode(const uint8_t *src, size_t n, char *dst)
{
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
        dst[o++] = b64chars[v >> 18];
        dst[o++] = b64chars[(v >> 12) & 63];
        dst[o++] = b64chars[(v >> 6) & 63];
        dst[o++] = b64chars[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)src[i] << 16 | (i + 1 < n ? (uint32_t)src[i + 1] << 8 : 0);
        dst[o++] = b64chars[v >> 18];
        dst[o++] = b64chars[(v >> 12) & 63];
        dst[o++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
        dst[o++] = '=';
    }
    dst[o] = '\0';
    return o;
}

/* ---- tag lists ----------------------------------------------------------------- */

static int is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnumpunc(unsigned char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9') || c == '_';
}

static int is_valchar(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != ';';
}

/* Skip FWS = [*WSP CRLF] 1*WSP, leniently: any run of WSP and CRLF where
 * each CRLF is followed by WSP (a bare CRLF would end the field, which
 * cannot happen inside a header field, so it is a syntax error). Returns
 * the new position, or SIZE_MAX on a CRLF not followed by WSP. */
static size_t skip_fws(const char *s, size_t len, size_t i)
{
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (is_wsp(c)) {
            i++;
        } else if (c == '\r' && i + 1 < len && s[i + 1] == '\n') {
            if (i + 2 >= len || !is_wsp((unsigned char)s[i + 2]))
                return SIZE_MAX;
            i += 2;
        } else if (c == '\n') {
            /* LF alone: tolerated as folding when followed by WSP (bare-LF
             * input normalised elsewhere) */
            if (i + 1 >= len || !is_wsp((unsigned char)s[i + 1]))
                return SIZE_MAX;
            i++;
        } else {
            break;
        }
    }
    return i;
}

int sg_dkim_taglist_parse(const char *s, size_t len, sg_dkim_tag *tags, size_t max, size_t *ntags,
                          const char **err)
{
    size_t i = 0, n = 0;
    *ntags = 0;
    for (;;) {
        size_t name_start, name_end, val_start, val_end;
        i = skip_fws(s, len, i);
        if (i == SIZE_MAX)
            goto bad_fws;
        if (i == len)
            break; /* empty list, or trailing ';' [FWS] */
        name_start = i;
        if (!is_alpha((unsigned char)s[i])) {
            *err = s[i] == ';' ? "empty tag" : "bad tag name";
            return SG_ESYNTAX;
        }
        while (i < len && is_alnumpunc((unsigned char)s[i]))
            i++;
        name_end = i;
        i = skip_fws(s, len, i);
        if (i == SIZE_MAX)
            goto bad_fws;
        if (i == len || s[i] != '=') {
            /* "x-y=1": the name stops at the '-', which is not an '=' */
            *err = i < len && i == name_end && s[i] != ';' && !is_wsp((unsigned char)s[i])
                       ? "bad character in a tag name"
                       : "tag without '='";
            return SG_ESYNTAX;
        }
        i = skip_fws(s, len, i + 1);
        if (i == SIZE_MAX)
            goto bad_fws;
        val_start = val_end = i;
        while (i < len && s[i] != ';') {
            unsigned char c = (unsigned char)s[i];
            if (is_valchar(c)) {
                /* a run of value characters (';' is not one) */
                do
                    i++;
                while (i < len && is_valchar((unsigned char)s[i]));
                val_end = i;
            } else if (c >= 0x80 && sg_text_utf8_len((const unsigned char *)s + i, len - i)) {
                /* UTF-8 in a value (RFC 8616 4: a U-label d=, a UTF-8
                 * local part in i=; adv30 IN-2) */
                i += sg_text_utf8_len((const unsigned char *)s + i, len - i);
                val_end = i;
            } else if (is_wsp(c) || c == '\r' || c == '\n') {
                size_t j = skip_fws(s, len, i);
                if (j == SIZE_MAX)
                    goto bad_fws;
                if (j == i) { /* a bare CR */
                    *err = "invalid character in tag value";
                    return SG_ESYNTAX;
                }
                i = j;
            } else {
                *err = "invalid character in tag value";
                return SG_ESYNTAX;
            }
        }
        for (size_t k = 0; k < n; k++)
            if (tags[k].name_len == name_end - name_start &&
                !memcmp(tags[k].name, s + name_start, name_end - name_start)) {
                *err = "duplicate tag"; /* RFC 6376 3.2: the whole list is invalid */
                return SG_ESYNTAX;
            }
        if (n == max) {
            *err = "too many tags";
            return SG_ESYNTAX;
        }
        tags[n].name = s + name_start;
        tags[n].name_len = name_end - name_start;
        tags[n].value = s + val_start;
        tags[n].value_len = val_end - val_start;
        tags[n].value_off = val_start;
        tags[n].end_off = i;
        n++;
        if (i == len)
            break;
        i++; /* the ';' */
    }
    *ntags = n;
    return SG_OK;
bad_fws:
    *err = "line break not followed by whitespace";
    return SG_ESYNTAX;
}

int sg_dkim_tag_lookup(const sg_dkim_tagdef *defs, size_t ndefs, const char *name, size_t len)
{
    for (size_t k = 0; k < ndefs; k++)
        if (strlen(defs[k].name) == len && !memcmp(defs[k].name, name, len))
            return defs[k].id;
    return -1;
}

int sg_dkim_is_fws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int sg_dkim_list_each(const char *v, size_t n, int (*fn)(const char *s, size_t len, void *p),
                      void *p)
{
    size_t i = 0;
    while (i <= n) {
        size_t j = i, s0, e0;
        int rc;
        while (j < n && v[j] != ':')
            j++;
        s0 = i;
        e0 = j;
        while (s0 < e0 && sg_dkim_is_fws(v[s0]))
            s0++;
        while (e0 > s0 && sg_dkim_is_fws(v[e0 - 1]))
            e0--;
        if ((rc = fn(v + s0, e0 - s0, p)) != 0)
            return rc;
        i = j + 1;
    }
    return 0;
}
