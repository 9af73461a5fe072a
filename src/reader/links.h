/*
 * The reader's link list: what a link in a message really points at.
 *
 * Part of the reader's view (src/reader, an internal static library linked
 * by `spoofguard explain` and `spoofguard-view`; not libspoofguard's API).
 * The HTML sanitizer collects <a href> and <area href> into this list, and
 * sgr_links_from_text() finds URLs in text/plain parts; both describe each
 * link the same way, so the interstitial and `explain --json` show one
 * thing. Everything lives in the caller's arena: no global mutable state.
 */
#ifndef SG_READER_LINKS_H
#define SG_READER_LINKS_H

#include <libpsl.h>
#include <stddef.h>

#include <spoofguard/arena.h>

/* Bounds (the sanitizer's options may lower the count). */
#define SGR_LINKS_MAX_DEFAULT 1000 /* links kept per message part */
#define SGR_LINK_TEXT_MAX 512      /* bytes of link text kept (cut at a UTF-8 boundary) */
#define SGR_LINK_TARGET_MAX 8192   /* longer targets are kept cut and flagged */

/* sgr_link.flags */
enum {
    /* The scheme is not http, https or mailto (javascript:, data:, a
     * relative URL...): the link is never navigable, only shown. */
    SGR_LINK_BLOCKED = 1u << 0,
    /* The link text names a URL, address or domain whose registrable
     * domain differs from the target's ("www.paypal.com" -> evil.example). */
    SGR_LINK_TEXT_MISMATCH = 1u << 1,
    /* The host is an IP address (or a number the URL parser reads as one). */
    SGR_LINK_IP_HOST = 1u << 2,
    /* user@ before the host: "https://paypal.com@evil.example/". */
    SGR_LINK_USERINFO = 1u << 3,
    /* The host is not a valid IDNA2008/UTS #46 name: shown as parsed. */
    SGR_LINK_IDNA_INVALID = 1u << 4,
    /* Found in plain text rather than in an <a>/<area>. */
    SGR_LINK_FROM_TEXT = 1u << 5,
    /* The target was longer than SGR_LINK_TARGET_MAX and is cut. */
    SGR_LINK_TRUNCATED = 1u << 6,
    /* mailto: more recipients than the first address (a comma, or to=,
     * cc=, bcc= fields): host names the first one only. */
    SGR_LINK_MAILTO_MORE = 1u << 7,
    /* The text holds bidirectional overrides or isolates (U+202A-U+202E,
     * U+2066-U+2069): it may be shown in another order than it reads. */
    SGR_LINK_TEXT_BIDI = 1u << 8,
};

typedef struct {
    const char *text;               /* the text shown, whitespace collapsed (may be "") */
    const char *target;             /* the target as the browser parses it: entities decoded,
                                       tabs/newlines removed, outer spaces and controls trimmed */
    const char *scheme;             /* lower case, "" for a relative URL */
    const char *host;               /* ASCII form (A-labels), lower case; mailto: the first
                                       address's domain; NULL when there is none */
    const char *host_unicode;       /* U-label form; NULL unless it differs from host */
    const char *registrable_domain; /* of host (libpsl), NULL when none */
    const char *text_host;          /* the host or domain the text names, or NULL */
    unsigned flags;                 /* SGR_LINK_* */
} sgr_link;

typedef struct {
    sgr_link *v;
    size_t n, cap;
    size_t max;    /* 0: SGR_LINKS_MAX_DEFAULT */
    int truncated; /* more links than max were seen */
} sgr_link_list;

/* Describes one link into *out (strings in arena): target is the parsed
 * attribute value (or the URL found in text), text what is shown; psl: the
 * public suffix list for registrable domains and domain-like text (the
 * process's one, so that the reader agrees with the DMARC suffix guard;
 * NULL: libpsl's built-in list). Returns 0, SG_ENOMEM or SG_EINVAL. */
int sgr_link_describe(sgr_link *out, sg_arena *arena, const psl_ctx_t *psl, const char *target,
                      size_t target_len, const char *text, size_t text_len);

/* Appends a described link; returns its index, -1 when the list is full
 * (list->truncated is then set) or on SG_ENOMEM (returned as such, < -1). */
long sgr_link_list_add(sgr_link_list *list, sg_arena *arena, const sgr_link *l);

/* Finds http://, https://, mailto: and www. URLs in UTF-8 text (a
 * text/plain part) and appends them to list, flagged SGR_LINK_FROM_TEXT,
 * with the matched text as both text and target (www. gets http://).
 * Trailing punctuation and an unbalanced closing bracket are not part of a
 * URL. Returns 0, SG_ENOMEM or SG_EINVAL; a full list is not an error. */
int sgr_links_from_text(sgr_link_list *list, sg_arena *arena, const psl_ctx_t *psl,
                        const char *text, size_t len);

/* Where the next URL in text[0..len) starts and ends (byte offsets), as
 * sgr_links_from_text finds them; 0 when there is none. For renderers that
 * turn text/plain into HTML. */
int sgr_text_next_url(const char *text, size_t len, size_t *start, size_t *end);

#endif
