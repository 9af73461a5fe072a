/*
 * Internal: the charset of an RFC 2047 encoded word applied (iconv).
 */
#ifndef SG_UTIL_CHARSET_H
#define SG_UTIL_CHARSET_H

#include <stddef.h>

/* out[start..*o), a word's bytes in charset cs[0..csn) ("utf-8*en": RFC
 * 2231's language ignored), rewritten as UTF-8 from start (room: cap; *o
 * moved to its end). UTF-8 and ASCII are left as they are; what the
 * charset lacks is U+FFFD. 0, or -1 when iconv does not know the charset,
 * the room or memory runs out (*o back at start). */
int sg_charset_recode(const char *cs, size_t csn, char *out, size_t start, size_t *o, size_t cap);

#endif
