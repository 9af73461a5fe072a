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

#endif
