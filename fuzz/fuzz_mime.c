/*
 * libFuzzer harness for the reader's MIME walk (src/reader/mime.c).
 *
 * The first byte chooses the bounds (the defaults, or small ones so the
 * fuzzer reaches every "truncated" path); the rest is the message. Not
 * only "no crash, no leak": the view must keep mime.h's promises: subject
 * and body valid UTF-8 without NUL, body_len == strlen(body) <= max_body,
 * nparts <= max_parts, body_part a BODY part (or -1), every part's content
 * retrievable with its stated size, the decoded total within max_decoded,
 * file names free of controls and bidi overrides, risk and risk_detail
 * together, and find_cid answering each part's own Content-ID with that
 * part or an earlier one of the same ID.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/reader/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_utf8(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n || c == 0 || c == 0xC0 || c == 0xC1 || c > 0xF4)
            abort();
        uint32_t cp = len == 1 ? c : c & (0x7F >> len);
        for (size_t k = 1; k < len; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                abort();
            cp = (cp << 6) | (u[i + k] & 0x3F);
        }
        /* no overlong form, no surrogate, nothing above U+10FFFF */
        static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            abort();
        i += len;
    }
}

static void check_name(const char *s)
{
    check_utf8(s, strlen(s));
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; u[i]; i++) {
        if (u[i] < 0x20 || u[i] == 0x7F)
            abort();
        if (u[i] == 0xC2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9F)
            abort(); /* C1 */
        if (u[i] == 0xE2 && ((u[i + 1] == 0x80 && u[i + 2] >= 0xAA && u[i + 2] <= 0xAE) ||
                             (u[i + 1] == 0x81 && u[i + 2] >= 0xA6 && u[i + 2] <= 0xA9)))
            abort(); /* bidi */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    sgr_mime_limits lim;
    sgr_mime_limits_init(&lim);
    unsigned f = data[0];
    if (f & 1) {
        lim.max_parts = 1 + ((f >> 1) & 7);
        lim.max_depth = (f >> 4) & 3;
        lim.max_body = (f & 0x40) ? 16 : 200;
        lim.max_decoded = (f & 0x80) ? 64 : 4096;
    }
    sgr_mime *m = NULL;
    int rc = sgr_mime_parse(&m, (const char *)data + 1, size - 1, &lim);
    if (rc != SGR_MIME_OK || m == NULL)
        abort();
    const sgr_mime_view *v = sgr_mime_get(m);
    if (v->subject == NULL || v->body == NULL || strlen(v->body) != v->body_len ||
        v->body_len > lim.max_body)
        abort();
    check_utf8(v->subject, strlen(v->subject));
    check_utf8(v->body, v->body_len);
    if (v->date)
        check_utf8(v->date, strlen(v->date));
    if (v->nparts > lim.max_parts || v->body_part < -1 || v->body_part >= (int)v->nparts)
        abort();
    if (v->body_part >= 0 && v->parts[v->body_part].role != SGR_PART_BODY)
        abort();
    size_t total = 0;
    for (size_t i = 0; i < v->nparts; i++) {
        const sgr_mime_part *p = &v->parts[i];
        if (p->index != i || p->content_type == NULL || strchr(p->content_type, '/') == NULL)
            abort();
        if ((p->role == SGR_PART_BODY) != ((int)i == v->body_part))
            abort();
        if ((p->risk != 0) != (p->risk_detail != NULL) || p->risk >= (1u << 6))
            abort();
        if (p->risk && (p->role == SGR_PART_BODY || p->role == SGR_PART_ALTERNATIVE ||
                        p->role == SGR_PART_INLINE))
            abort();
        if (p->filename)
            check_name(p->filename);
        unsigned char *c = NULL;
        size_t n = 0;
        if (sgr_mime_part_content(m, (unsigned)i, &c, &n) != SGR_MIME_OK || n != p->size)
            abort();
        free(c);
        total += p->size;
        if (p->content_id) {
            check_utf8(p->content_id, strlen(p->content_id));
            int k = sgr_mime_find_cid(m, p->content_id, strlen(p->content_id));
            if (k < 0 || k > (int)i)
                abort();
        }
    }
    if (total > lim.max_decoded)
        abort();
    unsigned char *c;
    size_t n;
    if (sgr_mime_part_content(m, (unsigned)v->nparts, &c, &n) != SGR_MIME_EINVAL)
        abort();
    /* the input's own bytes as a cid: never a crash, a part or -1 */
    int k = sgr_mime_find_cid(m, (const char *)data + 1, size - 1 > 300 ? 300 : size - 1);
    if (k < -1 || k >= (int)v->nparts)
        abort();
    sgr_mime_free(m);
    return 0;
}
