/*
 * The reader's MIME walk (issue 13 item 5): a message's bytes in, what a
 * reader is shown out: the decoded Subject, the one body to display (the
 * text/html or text/plain alternative, converted to UTF-8) and the list of
 * every other part (inline cid: images, attachments), each with its
 * decoded size and, for attachments, a risk class.
 *
 * Part of the reader's view (src/reader, target sg_mime: an internal static
 * library linked by `spoofguard explain` and `spoofguard-view`, never by
 * libspoofguard or spoofguardd), on GMime 3. The input is never changed;
 * everything in the result is owned by it. Bounded: parts, depth and
 * decoded bytes (sgr_mime_limits); past a bound the walk stops there and
 * says so (`truncated`), it never fails on hostile input. No global
 * mutable state (GMime's one-time g_mime_init is done under pthread_once).
 */
#ifndef SG_READER_MIME_H
#define SG_READER_MIME_H

#include <stddef.h>

/* Return codes. */
#define SGR_MIME_OK 0
#define SGR_MIME_ENOMEM (-1)
#define SGR_MIME_EINVAL (-2) /* NULL arguments, or no such part */

/* Default bounds. */
#define SGR_MIME_MAX_PARTS 256           /* leaf parts listed */
#define SGR_MIME_MAX_DEPTH 32            /* multipart nesting followed */
#define SGR_MIME_MAX_BODY (8u << 20)     /* bytes of the displayed body (UTF-8) */
#define SGR_MIME_MAX_DECODED (64u << 20) /* bytes decoded over the whole walk */

typedef struct {
    size_t max_parts;
    unsigned max_depth;
    size_t max_body;
    size_t max_decoded;
} sgr_mime_limits;

void sgr_mime_limits_init(sgr_mime_limits *l);

/* sgr_mime_part.risk: why an attachment deserves a warning (0: none). */
enum {
    SGR_RISK_EXECUTABLE =
        1u << 0,              /* .exe .scr .js .vbs .bat .ps1 .msi .jar .lnk ..., or such a type */
    SGR_RISK_MACRO = 1u << 1, /* .docm .xlsm .pptm ... and OLE Office files that may hold macros */
    SGR_RISK_HTML = 1u << 2,  /* .htm(l) .svg .xhtml .shtml attachments (phishing forms) */
    SGR_RISK_ARCHIVE = 1u << 3,    /* .zip .rar .7z .iso .img ... (hide the above) */
    SGR_RISK_DOUBLE_EXT = 1u << 4, /* "invoice.pdf.exe", or a right-to-left override in the name */
    SGR_RISK_TYPE_MISMATCH =
        1u << 5, /* declared type differs from the name's (image/png "x.exe") */
};

typedef enum {
    SGR_PART_BODY = 0,    /* the displayed body (its index is `body_part`) */
    SGR_PART_ALTERNATIVE, /* another alternative of the body, not shown */
    SGR_PART_INLINE,      /* an inline image referenced or referable by cid: */
    SGR_PART_ATTACHMENT,  /* listed; downloaded only on request, never rendered */
} sgr_part_role;

typedef struct {
    unsigned index; /* 0.., walk order; stable for the same bytes (URLs use it) */
    sgr_part_role role;
    const char *content_type; /* "type/subtype", lower case, never NULL */
    const char *charset;      /* as declared (lower case) or NULL */
    const char *filename;     /* decoded (RFC 2231 / RFC 2047) UTF-8, control characters and
                                 bidi overrides replaced by U+FFFD; NULL when none */
    const char *content_id;   /* without < >, or NULL */
    size_t size;              /* decoded bytes (after Content-Transfer-Encoding) */
    unsigned risk;            /* SGR_RISK_* */
    const char *risk_detail;  /* one English sentence when risk != 0, else NULL */
} sgr_mime_part;

typedef struct sgr_mime sgr_mime;

typedef struct {
    const char *subject; /* RFC 2047 decoded, UTF-8, controls removed; "" when absent */
    const char *date;    /* the Date field as written (trimmed), or NULL */
    long long date_unix; /* parsed Date, Unix seconds; 0 when absent or unparsable */
    /* The body shown: html when the message has a text/html alternative
     * (multipart/alternative: the last one we can show, RFC 2046 5.1.4),
     * else text/plain; charset converted to UTF-8 (invalid bytes become
     * U+FFFD), NUL-terminated. body is "" when there is none. Line
     * ends are LF; NUL bytes become U+FFFD; no label, us-ascii and a
     * label iconv does not know read as UTF-8, iso-8859-1 as
     * windows-1252 (as browsers do). A multipart whose boundary never
     * comes, or bytes GMime makes no message of, are shown as text/plain
     * with body_part -1. */
    const char *body;
    size_t body_len;
    int body_is_html;
    int body_part; /* index in parts[] of the body, -1 when none */
    const sgr_mime_part *parts;
    size_t nparts;
    int truncated; /* a bound stopped the walk: parts or body are missing */
    int body_cut;  /* the body is cut at max_body: what is here is not all of it */
} sgr_mime_view;

/* Parses data[0..len) (a whole RFC 5322 message, CRLF or LF). Never fails
 * on malformed MIME (a broken structure is shown as what GMime recovered,
 * at worst one text part); fails only on ENOMEM / EINVAL. *out is freed
 * with sgr_mime_free. lim NULL: the defaults. */
int sgr_mime_parse(sgr_mime **out, const char *data, size_t len, const sgr_mime_limits *lim);

/* The view of a parsed message; valid until sgr_mime_free. */
const sgr_mime_view *sgr_mime_get(const sgr_mime *m);

/* The decoded bytes of part `index` (for cid: images and attachment
 * downloads), malloc'ed into *out (caller frees), *len set. EINVAL for an
 * index out of range. */
int sgr_mime_part_content(const sgr_mime *m, unsigned index, unsigned char **out, size_t *len);

/* The part with this Content-ID (without < >, compared as RFC 2392 asks),
 * or -1. */
int sgr_mime_find_cid(const sgr_mime *m, const char *cid, size_t cid_len);

void sgr_mime_free(sgr_mime *m);

/* "executable", "macro", ... for one SGR_RISK_* bit (JSON names, never
 * renamed). */
const char *sgr_mime_risk_name(unsigned risk_bit);

#endif
