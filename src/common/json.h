/*
 * The JSON string writer shared by the CLI and spoofguardd (the small
 * internal library in src/common, linked by both front ends; not part of
 * libspoofguard's API).
 */
#ifndef SG_COMMON_JSON_H
#define SG_COMMON_JSON_H

#include <stddef.h>

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

#endif
