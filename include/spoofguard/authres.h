/*
 * spoofguard/authres.h - the Authentication-Results header field (RFC 8601).
 *
 * Three jobs:
 *  - a writer: a structured result list -> a field value, folded (for a
 *    message header) or on one line (for logs and the CLI);
 *  - a strict parser: a field value (folded or not) -> the same structure;
 *    whatever the writer emits the parser reads back identically, and
 *    whatever the parser accepts the writer can write back;
 *  - a finder: every Authentication-Results field in a header that carries
 *    a given authserv-id, so a border MTA can delete forgeries before it
 *    adds its own (RFC 8601 5).
 *
 * Comments (RFC 5322 CFWS) may appear anywhere the ABNF allows them. The
 * structure keeps exactly one of them per result: the first comment after
 * the result keyword ("dkim=pass (2048-bit key) ..."), which is where
 * writers put their human-readable detail. All other comments are read and
 * dropped.
 */
#ifndef SPOOFGUARD_AUTHRES_H
#define SPOOFGUARD_AUTHRES_H

#include "arena.h"
#include "common.h"
#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hard limits, shared by the parser and the writer so that each accepts
 * what the other produces (inputs beyond them give SG_ELIMIT).
 * - MAX_INPUT: a field value, folded, at most 64 KiB. Real fields are a
 *   few hundred bytes; 64 KiB matches the message parser's field cap.
 * - MAX_ENTRIES: resinfo per field. A busy receiver writes spf, dkim per
 *   signature, dmarc, arc, iprev...: 256 is far above any real field.
 * - MAX_PROPS: properties per resinfo (RFC 8601 2.3); real ones use <= 6.
 * - MAX_COMMENT_DEPTH: comments nest (RFC 5322 3.2.2); the parser does not
 *   recurse, the cap only keeps counters sane.
 * - MAX_KEYWORD: method, result, ptype and property names (RFC 5321
 *   Keyword); registered names are < 20 characters.
 * - MAX_ELEMENT: one written element ("header.b=...", a comment, the
 *   authserv-id) must fit one line of a folded field with its indent and
 *   ";": RFC 5322 2.1.1 caps lines at 998 octets and an element cannot be
 *   folded inside (folding a quoted-string would change its value).
 * - MAX_VERSION: authres-version and method-version are 1*DIGIT; only 1 is
 *   defined. 9 digits keep them in an int. */
#define SG_AUTHRES_MAX_INPUT 65536
#define SG_AUTHRES_MAX_ENTRIES 256
#define SG_AUTHRES_MAX_PROPS 64
#define SG_AUTHRES_MAX_COMMENT_DEPTH 32
#define SG_AUTHRES_MAX_KEYWORD 64
#define SG_AUTHRES_MAX_ELEMENT 900
#define SG_AUTHRES_MAX_VERSION 999999999

/* Folded lines are kept to 78 characters (RFC 5322 2.1.1 SHOULD) where
 * each element allows it. The first line is counted as if preceded by
 * "Authentication-Results: " (24 characters); a TAB counts as 8. */
#define SG_AUTHRES_LINE 78

/* RFC 6008 2: header.b carries enough of the signature to tell several
 * signatures from one domain apart; 8 characters is the suggested
 * minimum. A convenience for callers of sg_authres_add_prop_n(). */
#define SG_AUTHRES_HEADER_B_LEN 8

typedef struct {
    const char *ptype;    /* "smtp", "header", "body", "policy" (Keyword) */
    const char *property; /* "mailfrom", "helo", "d", "s", "b", "from"... */
    const char *value;    /* unquoted; may be "local@domain" or "@domain" */
} sg_authres_prop;

typedef struct {
    const char *method; /* "spf", "dkim", "dmarc", "arc", "iprev", "auth" */
    int method_version; /* "dkim/1" -> 1; -1 when absent */
    const char *result; /* "pass", "fail", "none", "temperror"... */
    /* The comment right after the result, without its parentheses,
     * quoted-pairs resolved (so it may contain "(" ")" "\"); NULL: none. */
    const char *comment;
    const char *reason; /* reasonspec value, unquoted; NULL: absent */
    sg_authres_prop *props;
    size_t nprops;
} sg_authres_entry;

typedef struct {
    /* RFC 8601 2.2 authserv-id: a token or quoted-string, unquoted here.
     * Never empty after a parse; the writer refuses an empty one and any
     * control character (CR, LF, NUL... would break the header). */
    const char *authserv_id;
    int version; /* authres-version; -1 when absent */
    /* count == 0 is written and read as "; none" (RFC 8601 2.2
     * no-result: the service ran no method on this message). */
    sg_authres_entry *entries;
    size_t count;
} sg_authres;

/* ---- building --------------------------------------------------------- */

/* Empty result set for authserv_id (not copied), no version, no entries. */
SG_EXTERN void sg_authres_init(sg_authres *ar, const char *authserv_id);

/* Append an entry (method and result copied into the arena;
 * method_version -1, no comment, no reason, no props). *out, if out is
 * not NULL, points at it until the next sg_authres_add() on the same ar
 * (the array is reallocated from the arena). SG_ELIMIT past
 * SG_AUTHRES_MAX_ENTRIES, SG_ENOMEM. Fields of *out may be set directly. */
SG_EXTERN int sg_authres_add(sg_authres_entry **out, sg_arena *arena, sg_authres *ar,
                             const char *method, const char *result);

/* Append a property (strings copied). SG_ELIMIT past SG_AUTHRES_MAX_PROPS. */
SG_EXTERN int sg_authres_add_prop(sg_arena *arena, sg_authres_entry *e, const char *ptype,
                                  const char *property, const char *value);
/* Same with at most `maxlen` bytes of value (e.g. header.b prefix). */
SG_EXTERN int sg_authres_add_prop_n(sg_arena *arena, sg_authres_entry *e, const char *ptype,
                                    const char *property, const char *value, size_t maxlen);

/* ---- writing ---------------------------------------------------------- */

/* Flags for the writers. */
#define SG_AUTHRES_UNFOLDED 0x0 /* one line: "id; spf=pass ...; dkim=..." */
#define SG_AUTHRES_FOLDED 0x1   /* CRLF TAB before each resinfo, lines <= 78 */

/* Write the field value (what follows "Authentication-Results:", without
 * leading space and without final CRLF) into buf, NUL-terminated.
 * *out_len (if given) receives the length without the NUL - also when the
 * buffer is too small, so the caller can retry. Values that are RFC 2045
 * tokens, or local-part@domain / @domain forms (RFC 8601 2.3 pvalue), are
 * written bare; anything else as a quoted-string with "\" escapes.
 * Returns 0; SG_EINVAL if the structure is not writable (empty or
 * control-character authserv-id; a method, result, ptype or property that
 * is not a Keyword; a control character other than HTAB in a value,
 * reason or comment; a version out of range); SG_ELIMIT when buf is too
 * small or a SG_AUTHRES_MAX_* limit is exceeded. */
SG_EXTERN int sg_authres_format(char *buf, size_t size, size_t *out_len, const sg_authres *ar,
                                unsigned flags);

/* Same, allocating the result from the arena. */
SG_EXTERN int sg_authres_format_arena(char **out, size_t *out_len, sg_arena *arena,
                                      const sg_authres *ar, unsigned flags);

/* ---- parsing ---------------------------------------------------------- */

/* Parse a field value (the bytes after the colon; leading whitespace,
 * comments and folding CRLF+WSP allowed wherever RFC 8601 2.2 allows
 * CFWS). Strict: a bare CR or LF, a control character, a missing
 * result, a trailing ";", an unquoted value that is neither a token nor
 * local-part@domain, an unterminated comment or quoted-string... all give
 * SG_ESYNTAX (with *err_pos, if given, the byte offset). Non-ASCII bytes
 * are accepted only inside quoted-strings and comments (RFC 6532). A
 * parse that succeeds is always writable by sg_authres_format(). Strings
 * are allocated from the arena; *out is filled only on success. Returns 0,
 * SG_ESYNTAX, SG_ELIMIT, SG_EINVAL or SG_ENOMEM. */
SG_EXTERN int sg_authres_parse(sg_authres *out, sg_arena *arena, const char *value, size_t len,
                               size_t *err_pos);

/* ---- finding our own fields ------------------------------------------- */

typedef struct {
    size_t index;   /* index into the sg_header array */
    size_t ordinal; /* 1-based position among fields of the same name, as
                     * the milter protocol's SMFIR_CHGHEADER expects */
} sg_authres_match;

/* 1 if an Authentication-Results field value claims authserv_id, else 0.
 *
 * The rule (documented in docs and the test suite): only the authserv-id
 * is read, never the rest, because a forger can malform the rest on
 * purpose to escape a strict parser and still fool a lax reader. Leading
 * CFWS is skipped (whitespace, folding, nested comments with
 * quoted-pairs); an unterminated comment there stops the scan (no id).
 * Then the field claims `id` if ANY of these readings equals it,
 * ASCII-case-insensitively (RFC 8601 5) and ignoring one trailing dot:
 *  - the RFC reading: a token or a quoted-string (unquoted, surrounding
 *    whitespace inside the quotes trimmed);
 *  - a lax reading: everything up to the first whitespace, ";" or "(",
 *    less a leading and a trailing DQUOTE (even unbalanced ones);
 *  - a reader's reading (a mail library that decodes, a script that
 *    trims): Unicode spaces, invisible format characters and ASCII
 *    VT/FF/FS-US skipped like whitespace, comments ending at the first
 *    ")", RFC 2047 encoded-words decoded, quotes and every trailing dot
 *    dropped ("=?utf-8?q?ours?=", "\xc2\xa0ours", "ours..").
 * So "ours (c);x", "\"ours\"", "\"ours", "OURS.", "(x) ours;garbage
 * \x01", "ours/junk", "ours" and "ours;" all match; "oursx", "x.ours"
 * and "(ours) other" do not. Deleting
 * a field a lax consumer would misread is harmless; keeping one is not
 * (a third party's field with nested comments, "(a (b) ours; x) theirs",
 * goes too). For deleting only: never to decide what to trust
 * (sg_authres_value_is_ours). */
SG_EXTERN int sg_authres_value_claims(const char *value, size_t len, const char *authserv_id);
/* Whether a field value is an RFC 8601 Authentication-Results value
 * (sg_authres_parse) whose authserv-id is authserv_id (ASCII case and one
 * trailing dot aside). sg_authres_value_claims() is for deleting: it matches
 * whatever some reader might take for ours, so it must never decide what
 * to trust; this one, on a field in our MTA's topmost block, may. */
SG_EXTERN int sg_authres_value_is_ours(const char *value, size_t len, const char *authserv_id);

/* Every field named Authentication-Results (case-insensitive; never
 * ARC-Authentication-Results) whose value claims authserv_id, in header
 * order. *out is allocated from the arena (NULL when *count is 0).
 * Returns 0, SG_EINVAL, SG_ENOMEM. */
SG_EXTERN int sg_authres_find(sg_authres_match **out, size_t *count, sg_arena *arena,
                              const sg_header *fields, size_t nfields, const char *authserv_id);

#ifdef __cplusplus
}
#endif
#endif
