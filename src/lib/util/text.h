/*
 * Internal: RFC 5322 character classes shared by the parsers and writers
 * (addresses, Authentication-Results, Received-SPF).
 */
#ifndef SG_UTIL_TEXT_H
#define SG_UTIL_TEXT_H

#include <stddef.h>

/* atext (RFC 5322 3.2.3): ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~". */
int sg_text_is_atext(unsigned char c);
/* dot-atom-text (RFC 5322 3.2.3): atext runs separated by single dots. */
int sg_text_is_dot_atom(const char *s, size_t n);
/* Length (2..4) of a well-formed UTF-8 sequence for a non-ASCII scalar
 * value at s (RFC 3629 3: no overlongs, no surrogates, <= U+10FFFF), or 0.
 * RFC 6532 3.2 adds UTF8-non-ascii to atext, qtext, ctext, dtext and
 * VCHAR. C1 controls (U+0080..U+009F) are refused: they are control
 * characters, and what holds them is shown to people. */
size_t sg_text_utf8_len(const unsigned char *s, size_t n);

#endif
