/*
 * Text as a reader sees it, for the rules that look for a name in what a
 * message shows: the display name and a quoted local part (explain.c) and
 * link text (links.c). One folding, so that a character that hides a name
 * from one rule hides it from none (adv14 finding 4, adv29 RD-5, RD-7).
 *
 * Part of the reader's view (src/reader, in sg_sanitize); not
 * libspoofguard's API. No global mutable state: ICU's normaliser
 * instances are immutable and shared.
 */
#ifndef SG_READER_FOLD_H
#define SG_READER_FOLD_H

#include <stddef.h>
#include <stdint.h>

#include <spoofguard/arena.h>

/* s[0..n) (UTF-8) folded: characters that draw nothing (default
 * ignorables such as ZWSP, soft hyphen, bidi controls and the Hangul
 * fillers, and U+2800 BRAILLE PATTERN BLANK) dropped, any space a space,
 * bytes that are not UTF-8 a space, U+3002 and U+FF61 dots (as in IDNA),
 * then NFKC (U+FF0E, U+2024, U+FE52 to '.', U+FF20 and U+FE6B to '@',
 * fullwidth letters to ASCII). On success *out is the folded text in the
 * arena, NUL-terminated. Returns 0, SG_ENOMEM, or SG_EINVAL when ICU
 * cannot fold it (the caller then reads the text as it is). */
int sgr_fold_seen(sg_arena *a, const char *s, size_t n, const char **out);

/* Does the code point read as a full stop: '.', U+3002, U+FF61, or one
 * whose compatibility mapping is a lone '.' (U+FF0E, U+2024, U+FE52)?
 * For the scanners that must know where a name ends before folding it. */
int sgr_fold_is_dot(int32_t cp);

#endif
