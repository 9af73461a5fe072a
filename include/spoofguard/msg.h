/*
 * spoofguard/msg.h - incremental RFC 5322 message parser.
 *
 * Feed the message in chunks of any size. Header fields are kept as exact
 * raw bytes (DKIM needs them) plus a parsed view; the body is handed to a
 * callback as it arrives and never held. Bare LF line endings are
 * normalised to CRLF in both header and body, so consumers always see
 * CRLF. Hard limits bound the memory one message can take.
 */
#ifndef SPOOFGUARD_MSG_H
#define SPOOFGUARD_MSG_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    /* Exact bytes of the field: name, colon, value, folding, final CRLF
     * (after LF->CRLF normalisation). */
    const char *raw;
    size_t raw_len;
    /* Field name, without trailing whitespace before the colon. */
    const char *name;
    size_t name_len;
    /* Unfolded value: the bytes after the colon with every CRLF that
     * precedes whitespace removed and the final CRLF dropped. Leading
     * whitespace is kept. NUL-terminated (value[value_len] == 0). */
    const char *value;
    size_t value_len;
} sg_header;

#define SG_MSG_LIMITS_VERSION 1
typedef struct {
    unsigned version;
    size_t max_fields;      /* default 1000 */
    size_t max_field_size;  /* raw bytes of one field; default 64 KiB */
    size_t max_header_size; /* raw bytes of the whole header; default 1 MiB */
} sg_msg_limits;
/* A zero limit in a caller's struct means "the default". */

SG_EXTERN void sg_msg_limits_init(sg_msg_limits *lim);

typedef struct sg_msg_parser sg_msg_parser;

/* Callbacks; any may be NULL. A non-zero return aborts parsing: feed()
 * then returns that value. */
typedef struct {
    /* After the last header field (the empty line), before any body byte.
     * The header fields stay valid until the parser is freed or reset. */
    int (*on_headers)(const sg_header *fields, size_t count, void *payload);
    /* Body bytes, CRLF-normalised, in order; chunking is arbitrary. */
    int (*on_body)(const char *data, size_t len, void *payload);
    /* End of message (from sg_msg_finish). */
    int (*on_end)(void *payload);
} sg_msg_callbacks;

/* lim NULL: defaults. cbs NULL: parse headers only, discard the body. */
SG_EXTERN int sg_msg_parser_new(sg_msg_parser **out, const sg_msg_limits *lim,
                                const sg_msg_callbacks *cbs, void *payload);
SG_EXTERN void sg_msg_parser_free(sg_msg_parser *p);
/* Ready for a new message; keeps limits and callbacks. */
SG_EXTERN void sg_msg_parser_reset(sg_msg_parser *p);

/* Feed bytes. Returns 0, SG_ELIMIT (a header limit; the message is
 * unusable), SG_ESYNTAX (a header line that is not "name *WSP :" with an
 * RFC 5322 ftext name and not a continuation, or a continuation with no
 * field before it; the message is unusable), SG_ESTATE (after finish), or
 * a callback's non-zero value. Errors are sticky: every later feed/finish
 * returns the same value until reset.
 * An mbox "From " separator line is not a header field and gives
 * SG_ESYNTAX: callers reading mbox files must strip it first.
 * In the header a bare LF ends a line like CRLF, while a CR not followed
 * by LF, or a NUL, is SG_ESYNTAX: readers disagree about where such a
 * field ends, so no verdict on one reading is safe (message.c). Other
 * octets are kept in field values (value_len is authoritative). In the
 * body, a bare CR and a NUL are data. */
SG_EXTERN int sg_msg_feed(sg_msg_parser *p, const char *data, size_t len);
/* End of input. A message with no empty line is all header; a final
 * header line without line ending is completed with CRLF (a lone CR at
 * EOF counts as that line ending). Body bytes are passed as they are (no
 * CRLF is added: that is the canonicaliser's business). Calls on_headers
 * (if not yet), then on_end. */
SG_EXTERN int sg_msg_finish(sg_msg_parser *p);

/* Header fields seen so far (complete fields only), in message order.
 * While the header is still being fed, a later feed may move them; from
 * on_headers on they stay put until the parser is freed or reset. */
SG_EXTERN const sg_header *sg_msg_headers(const sg_msg_parser *p, size_t *count);
/* Body bytes passed on so far (after normalisation). */
SG_EXTERN uint64_t sg_msg_body_size(const sg_msg_parser *p);
/* 1 once the empty line ending the header has been seen. */
SG_EXTERN int sg_msg_in_body(const sg_msg_parser *p);

/* Case-insensitive field-name comparison helper. */
SG_EXTERN int sg_header_is(const sg_header *h, const char *name);
/* First field with that name (case-insensitive), starting at index *pos
 * (NULL: from 0); on return *pos is the index after it. NULL if none. */
SG_EXTERN const sg_header *sg_headers_find(const sg_header *fields, size_t count, const char *name,
                                           size_t *pos);

#ifdef __cplusplus
}
#endif
#endif
