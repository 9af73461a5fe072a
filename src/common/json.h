/*
 * The JSON string writer and the UTF-8 helpers shared by the front ends
 * (the small internal library in src/common, linked by the CLI,
 * spoofguardd and the reader's view; not part of libspoofguard's API).
 */
#ifndef SG_COMMON_JSON_H
#define SG_COMMON_JSON_H

#include <stddef.h>
#include <stdint.h>

/* The most sgu_json_quote writes for len input bytes: 6 per byte
 * ("\u00XX", "\ufffd") and the quotes. */
#define SGU_JSON_QUOTED_MAX(len) (6 * (len) + 2)

/* Writes s[0..len) as a JSON string literal, quotes included, into out,
 * at most cap bytes; s NULL: null. JSON text must be UTF-8 (RFC 8259 8.1):
 * valid UTF-8 is copied, every other byte becomes U+FFFD; the quote and the
 * backslash are escaped, LF, CR and TAB as \n \r \t, the other control
 * characters (and DEL) as \u00XX. When it does not fit, the text is cut at
 * a character boundary and the literal still closed. Returns the bytes
 * written (no NUL is added); 0 if cap cannot hold even "" or null. */
size_t sgu_json_quote(char *out, size_t cap, const char *s, size_t len);

/* The length of the valid UTF-8 sequence at s (at most n bytes, n >= 1):
 * 1 to 4, or 0 if it is not one (overlong, surrogate, past U+10FFFF,
 * truncated). */
size_t sgu_utf8_len(const unsigned char *s, size_t n);

/* Bidirectional embeddings, overrides and isolates (U+202A-U+202E,
 * U+2066-U+2069): text holding one may be shown in another order than it
 * is read ("invoice<U+202E>fdp.exe" shows as "invoiceexe.pdf"). The marks
 * (LRM, RLM, ALM) only nudge neutral characters and are not in the set.
 * The library's own check of shown addresses (dmarc_author.c) has the same
 * set; it cannot link this front-end library. */
int sgu_is_bidi_control(uint32_t cp);
/* Whether s[0..n) starts with one, UTF-8 encoded. */
int sgu_bidi_control_at(const unsigned char *s, size_t n);

#endif
