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

/* Body canonicaliser state; embed it by value (no allocation). The fields
 * are private except emitted and total, which callers may read.
 *
 * What is held back between chunks is always of the form
 *   CRLF{pending_crlf} [WSP run (relaxed)] [CR]
 * i.e. line ends that may turn out to be trailing empty lines (3.4.3),
 * whitespace that may turn out to end a line (3.4.4), and a CR whose
 * meaning depends on whether LF follows. */
typedef struct {
    sg_canon_mode mode;
    sg_canon_sink sink;
    void *payload;
    uint64_t limit;        /* l= : stop after this many canonical bytes; UINT64_MAX: none */
    uint64_t emitted;      /* canonical bytes passed to the sink (<= limit) */
    uint64_t total;        /* canonical length of the whole body, ignoring the limit
                            * (complete after final(); l= > total is detectable) */
    uint64_t pending_crlf; /* line ends held back */
    int pending_wsp;       /* relaxed: a whitespace run held back */
    int saw_cr;            /* a CR held back (last input byte was CR) */
    int any_data;          /* any content seen (relaxed: empty body -> nothing) */
} sg_canon_body;

SG_EXTERN void sg_canon_body_init(sg_canon_body *c, sg_canon_mode mode, uint64_t limit,
                                  sg_canon_sink sink, void *payload);
SG_EXTERN void sg_canon_body_update(sg_canon_body *c, const char *data, size_t len);
/* Flush what the end of the body decides (RFC 6376 3.4.3 / 3.4.4): trailing
 * empty lines are dropped and a final CRLF is added where needed (simple:
 * always ends in exactly one CRLF, empty body -> CRLF; relaxed: empty body
 * -> nothing). A last line with no CRLF keeps its whitespace as one SP in
 * relaxed mode (the CRLF is added after whitespace reduction, as the
 * 3.4.4 steps are ordered; dkimpy does the same). */
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
