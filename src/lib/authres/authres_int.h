/* Private helpers shared by the Authentication-Results writer, parser
 * and finder (and the tests). */
#ifndef SG_AUTHRES_INT_H
#define SG_AUTHRES_INT_H

#include <spoofguard/authres.h>

#include "util/text.h" /* RFC 5322 atext, dot-atom */

/* RFC 2045 5.1 tspecials; a token is 1* of any printable US-ASCII
 * character (33..126) that is not one of these. */
int sg_authres_is_tokenchar(unsigned char c);
/* RFC 5321 Keyword (Ldh-str): ALPHA / DIGIT / "-", not ending in "-",
 * 1..SG_AUTHRES_MAX_KEYWORD long. */
int sg_authres_is_keyword(const char *s, size_t n);
/* RFC 6376 domain-name: sub-domain *("." sub-domain), each Let-dig
 * [Ldh-str]. */
int sg_authres_is_domain(const char *s, size_t n);
/* A value the writer may emit bare and the parser reads back unchanged:
 * a token, or [dot-atom-local] "@" domain-name (RFC 8601 2.3). */
int sg_authres_is_bare_value(const char *s, size_t n, int allow_at);
/* Bytes a value, reason or comment may hold: HTAB, 0x20..0x7E, >= 0x80. */
int sg_authres_is_safe_text(const char *s, size_t n);

/* The writer's validation plus the length of the folded form: 0,
 * SG_EINVAL (not writable) or SG_ELIMIT. The parser calls it so that
 * everything it accepts can be written back. */
int sg_authres_check(const sg_authres *ar, size_t *folded_len);

/* Deep structural equality (strings byte for byte, NULL != ""). */
int sg_authres_equal(const sg_authres *a, const sg_authres *b);
/* The one-line form of a field sg_authres_format wrote folded, without
 * writing it again: the writer folds only as ";CRLF TAB" between results
 * and "CRLF TAB SP SP" inside one, and no value may hold CR or LF, so
 * each fold becomes one space exactly as SG_AUTHRES_UNFOLDED writes it.
 * In the arena; NULL when out of memory. */
char *sg_authres_unfold_arena(sg_arena *a, const char *folded, size_t len);

#endif
