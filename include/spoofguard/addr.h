/*
 * spoofguard/addr.h - strict RFC 5322 / RFC 6854 address-list parser.
 *
 * Serves DMARC (the author domain), sender-ownership policy and the
 * viewer, so it never guesses: it reports zero, one or several mailboxes
 * exactly, flags groups, and fails on anything it cannot parse. Obsolete
 * syntax (RFC 5322 4.4: CFWS in odd places, obs-local-part, obs-domain,
 * obs-route) is accepted; obs-phrase too. Encoded words (RFC 2047) in
 * display names are kept as they are, not decoded.
 */
#ifndef SPOOFGUARD_ADDR_H
#define SPOOFGUARD_ADDR_H

#include "arena.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hard limits (inputs beyond them give SG_ELIMIT). A header field value
 * is at most 998 octets per line (RFC 5322 2.1.1) but may be folded over
 * many lines; 64 KiB is far above any legitimate address list and bounds
 * the scratch memory of one parse. 10000 mailboxes is above any real
 * recipient list. Comments nest (RFC 5322 3.2.2) without a limit in the
 * grammar, and the parser counts depth instead of recursing, so any depth
 * the input length allows is read: a cap would make a valid From
 * unreadable to us while mail readers show it (issue 11 class 5). 5321 paths are at most 256 octets
 * (RFC 5321 4.5.3.1.3) but SRS/BATV rewriting exceeds that in the wild: 4 KiB. */
#define SG_ADDR_MAX_INPUT 65536
#define SG_ADDR_MAX_MAILBOXES 10000
#define SG_ADDR_MAX_GROUPS 10000
#define SG_ADDR_MAX_COMMENT_DEPTH SG_ADDR_MAX_INPUT
#define SG_ADDR_MAX_PATH 4096

typedef struct {
    /* Display name with comments removed, quoted strings unquoted
     * (quoted-pairs resolved), runs of whitespace folded to one space and
     * trimmed; NULL if there is no display-name, "" if there is one but it
     * is empty (e.g. `"" <a@b>`). Never contains control characters. */
    const char *display;
    /* Local part as it appears, quoted form kept if it was quoted (so the
     * address can be written back; CFWS around obsolete dots and folding
     * CRLFs removed); and its unquoted semantic form. */
    const char *local;
    const char *local_unquoted;
    /* Domain as written: a dot-atom (lower-case NOT applied, CFWS around
     * obsolete dots removed) or a domain literal "[...]" (is_literal = 1,
     * whitespace inside removed). Never empty in a parsed list. */
    const char *domain;
    int is_literal;
    /* Index of the group this mailbox belongs to (0-based), or -1. */
    int group;
} sg_mailbox;

typedef struct {
    sg_mailbox *mailboxes;
    size_t count;
    size_t ngroups;           /* number of groups seen (including empty ones) */
    const char **group_names; /* ngroups display names */
} sg_addr_list;

/* Parse an address-list (the value of From, To, Cc, Sender, Reply-To...,
 * without the field name; RFC 5322 3.4 with the obsolete forms of 4.4 and
 * RFC 6854 groups anywhere). `value` is length-delimited: a NUL byte, any
 * other control character (C0, DEL, C1), malformed UTF-8, or a CR/LF that
 * is not a fold (CRLF followed by SP/HTAB) is a syntax error. UTF-8
 * (RFC 6532) is accepted in atoms, quoted strings, comments and domain
 * literals. All strings are allocated from the arena; `out` is only
 * filled on success. Returns 0, SG_ESYNTAX (with *err_pos, if given, the
 * byte offset where parsing failed), SG_ELIMIT (a SG_ADDR_MAX_* limit;
 * *err_pos set too), SG_EINVAL or SG_ENOMEM. An empty value, or one of
 * only whitespace and comments, parses to count == 0 (the caller decides
 * whether that is acceptable); a list of only commas is a syntax error. */
SG_EXTERN int sg_addr_parse_list(sg_arena *arena, const char *value, size_t len, sg_addr_list *out,
                                 size_t *err_pos);

/* Parse a single RFC 5321 path or bare address as found in MAIL FROM /
 * RCPT TO, without the verb or ESMTP parameters and without surrounding
 * whitespace: "<user@dom>", "user@dom", "<>" (null reverse-path: local,
 * local_unquoted and domain are ""), "<@relay,@relay2:user@dom>" (the
 * source route is checked, then ignored), "<\"a b\"@dom>", address
 * literals "[192.0.2.1]" / "[IPv6:...]" (is_literal = 1). Domains must be
 * LDH host names (RFC 5321 4.1.2) or UTF-8 U-labels (RFC 6531). display
 * is NULL and group -1. Returns 0, SG_ESYNTAX, SG_ELIMIT (longer than
 * SG_ADDR_MAX_PATH), SG_EINVAL or SG_ENOMEM. */
SG_EXTERN int sg_addr_parse_path(sg_arena *arena, const char *s, size_t len, sg_mailbox *out);

#ifdef __cplusplus
}
#endif
#endif
