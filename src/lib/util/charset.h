/*
 * Internal: the charset of an RFC 2047 encoded word applied (iconv).
 */
#ifndef SG_UTIL_CHARSET_H
#define SG_UTIL_CHARSET_H

#include <stddef.h>

/* Does charset cs[0..n) give its bytes as they are: UTF-8 or ASCII
 * ("utf-8*en": RFC 2231's language ignored)? */
int sg_charset_as_is(const char *cs, size_t n);
/* raw[0..rn), in charset cs[0..csn), as UTF-8 at out + *o (room: cap, *o
 * moved past it). A sequence the charset does not have is U+FFFD. 0, or
 * -1 when iconv does not know the charset or the room runs out. */
int sg_charset_to_utf8(const char *cs, size_t csn, const char *raw, size_t rn, char *out, size_t *o,
                       size_t cap);

#endif
