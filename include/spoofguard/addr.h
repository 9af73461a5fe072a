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

typedef struct {
    /* Display name with comments removed, quoted strings unquoted
     * (quoted-pairs resolved), runs of whitespace folded to one space;
     * NULL if none. */
    const char *display;
    /* Local part as it appears, quoted form kept if it was quoted (so the
     * address can be written back); and its unquoted semantic form. */
    const char *local;
    const char *local_unquoted;
    /* Domain as written: a dot-atom (lower-case NOT applied) or a domain
     * literal "[...]" (is_literal = 1). */
    const char *domain;
    int is_literal;
    /* Index of the group this mailbox belongs to (0-based), or -1. */
    int group;
} sg_mailbox;

typedef struct {
    sg_mailbox *mailboxes;
    size_t count;
    size_t ngroups;     /* number of groups seen (including empty ones) */
    const char **group_names; /* ngroups display names */
} sg_addr_list;

/* Parse an address-list (the unfolded value of From, To, Cc, Sender,
 * Reply-To...). All strings are allocated from the arena. Returns 0, or
 * SG_ESYNTAX (with *err_pos, if given, the byte offset where parsing
 * failed), or SG_ENOMEM. An empty or all-whitespace value parses to
 * count == 0 (the caller decides whether that is acceptable). */
SG_EXTERN int sg_addr_parse_list(sg_arena *arena, const char *value, size_t len,
                                 sg_addr_list *out, size_t *err_pos);

/* Parse a single RFC 5321 path or bare address as found in MAIL FROM
 * ("<user@dom>", "user@dom", "<>" -> local and domain empty). */
SG_EXTERN int sg_addr_parse_path(sg_arena *arena, const char *s, size_t len, sg_mailbox *out);

#ifdef __cplusplus
}
#endif
#endif
