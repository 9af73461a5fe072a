/*
 * spoofguard/canon.h - DKIM canonicalisation (RFC 6376 3.4), streaming.
 *
 * The body canonicaliser takes CRLF text in chunks of any size and passes
 * canonical bytes to a sink (normally a hash update), holding back only
 * trailing empty lines and whitespace whose fate depends on what follows.
 * Large runs of ordinary text are passed through without copying.
 */
#ifndef SPOOFGUARD_CANON_H
#define SPOOFGUARD_CANON_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { SG_CANON_SIMPLE = 0, SG_CANON_RELAXED = 1 } sg_canon_mode;

typedef void (*sg_canon_sink)(const void *data, size_t len, void *payload);

/* Body canonicaliser state; embed it by value (no allocation). */
typedef struct {
    sg_canon_mode mode;
    sg_canon_sink sink;
    void *payload;
    uint64_t limit;    /* l= : stop after this many canonical bytes; UINT64_MAX: none */
    uint64_t emitted;  /* canonical bytes passed to the sink */
    uint64_t pending_crlf; /* empty lines held back */
    int pending_wsp;   /* relaxed: a whitespace run held back */
    int saw_cr;        /* last input byte was CR */
    int line_has_data; /* current line has non-whitespace-held content */
    int any_data;      /* any content line seen (simple: empty body -> CRLF) */
} sg_canon_body;

SG_EXTERN void sg_canon_body_init(sg_canon_body *c, sg_canon_mode mode, uint64_t limit,
                                  sg_canon_sink sink, void *payload);
SG_EXTERN void sg_canon_body_update(sg_canon_body *c, const char *data, size_t len);
/* Flush what the end of the body decides (RFC 6376 3.4.3 / 3.4.4). */
SG_EXTERN void sg_canon_body_final(sg_canon_body *c);

/* Canonicalise one header field given as its exact raw bytes (name,
 * colon, value, folding, final CRLF). Simple: the bytes as they are.
 * Relaxed: lower-case name, unfold, compress WSP, trim around the colon
 * and at the end; output ends with CRLF unless strip_crlf is set (the
 * DKIM-Signature field itself is hashed without its final CRLF).
 * The output goes to the sink. */
SG_EXTERN void sg_canon_header(sg_canon_mode mode, const char *raw, size_t len, int strip_crlf,
                               sg_canon_sink sink, void *payload);

/* Parse "simple", "relaxed", "relaxed/simple"... (c= tag). Missing body
 * part means simple. Returns 0 or SG_ESYNTAX. */
SG_EXTERN int sg_canon_parse(const char *s, size_t len, sg_canon_mode *header, sg_canon_mode *body);

#ifdef __cplusplus
}
#endif
#endif
