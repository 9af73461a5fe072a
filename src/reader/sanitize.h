/*
 * The reader's HTML sanitizer: untrusted text/html in, HTML safe for a
 * sandboxed iframe out, plus the list of links it held.
 *
 * Part of the reader's view (src/reader, target sg_sanitize: an internal
 * static library linked by `spoofguard explain` and `spoofguard-view`, not
 * libspoofguard's API). The input is parsed by gumbo, an HTML5-spec parser,
 * into the tree the browser would build; the output is written from an
 * allow-list of elements and attributes over that tree, every text and
 * attribute value escaped, so the browser's re-parse of the output gives
 * the same elements and nothing else (no mutation XSS): no script, no on*
 * handler, no form, frame, object, embed, meta, base, link, no SVG or
 * MathML, no URL but http(s)/mailto links (rewritten, below), cid: and
 * data:image sources and, only when asked, remote images; CSS only through
 * the allow-list of css.c. The input is never changed.
 *
 * Links: every <a href>/<area href> is described (links.h) into the
 * result's list; in the output its href becomes what the caller's link_href
 * callback writes for its index (an interstitial, "/link/ID/3"), or, in
 * inert mode, the anchor becomes a <span> followed by its target as text.
 *
 * No global mutable state; one call uses only its own memory.
 */
#ifndef SG_READER_SANITIZE_H
#define SG_READER_SANITIZE_H

#include <stddef.h>

#include <spoofguard/arena.h>

#include "links.h"

/* Defaults of the bounds (sgr_sanitize_opts). */
#define SGR_SANITIZE_MAX_INPUT (8u << 20)   /* bytes of HTML parsed */
#define SGR_SANITIZE_MAX_OUTPUT (16u << 20) /* bytes of HTML written */
/* Elements nested deeper than this are written without their tags (their
 * text stays): below the 512 at which Chromium's parser stops nesting, so
 * the browser builds the tree we wrote. */
#define SGR_SANITIZE_MAX_DEPTH 256
/* gumbo's tree builder scans the stack of open elements for every tag, so
 * its time grows with nesting times tags (1 MB of <div> takes minutes).
 * Input whose start tags can leave more elements open than this (a cheap
 * pre-scan that never underestimates gumbo's depth by much) is refused
 * with SG_ELIMIT before gumbo sees it. Real mail stays far below. */
#define SGR_SANITIZE_MAX_NESTING 1000
/* gumbo's tokenizer compares each attribute of a tag with every earlier
 * one (a strlen each): one tag of 40,000 attributes (256 KB) takes 3.4 s.
 * Input with a tag of more attributes than this is refused the same way;
 * real tags have a few dozen at most. */
#define SGR_SANITIZE_MAX_ATTRS 256
/* Longest URL written into src= (data:image URLs included). */
#define SGR_SANITIZE_MAX_SRC (1u << 20)

typedef enum {
    SGR_LINKS_INTERSTITIAL = 0, /* href = the link_href callback's URL */
    SGR_LINKS_INERT = 1,        /* <span>, then the target as text */
} sgr_link_mode;

/* Writes the URL that replaces link number index (in the result's list,
 * described by *link) into buf, NUL-terminated, at most cap bytes with the
 * NUL. Returns 0, or non-zero to make this link inert. */
typedef int (*sgr_link_href_cb)(char *buf, size_t cap, size_t index, const sgr_link *link,
                                void *payload);
/* Writes the URL that serves the MIME part with this Content-ID (the cid:
 * URL's value, percent-decoded, RFC 2392) into buf. Returns 0, or non-zero
 * to drop the image. */
typedef int (*sgr_cid_src_cb)(char *buf, size_t cap, const char *cid, size_t cid_len,
                              void *payload);

typedef struct {
    size_t max_input;   /* bytes; larger input gives SG_ELIMIT */
    size_t max_output;  /* bytes; larger output gives SG_ELIMIT */
    unsigned max_depth; /* see SGR_SANITIZE_MAX_DEPTH */
    size_t max_links;   /* links listed; later ones are made inert */
    /* Keep http(s) <img src> and background= (off by default; the viewer
     * allows it only for Verified mail). CSS url() is never kept. */
    int allow_remote_images;
    /* Keep <img src="data:image/{png,gif,jpeg,webp};base64,...">: raster
     * images decode without running anything and load nothing from the
     * network; SVG (which can carry script and references) is refused. */
    int allow_data_images;
    sgr_link_mode link_mode;
    sgr_link_href_cb link_href; /* required in SGR_LINKS_INTERSTITIAL mode */
    sgr_cid_src_cb cid_src;     /* NULL: cid: images are dropped */
    void *payload;              /* passed to both callbacks */
    /* target= written on rewritten links (e.g. "_top"), NULL for none */
    const char *link_target;
    /* the public suffix list for the links' registrable domains (the
     * lookalike checker's, so one list throughout); NULL: libpsl's built-in */
    const psl_ctx_t *psl;
} sgr_sanitize_opts;

/* The defaults: the bounds above, no remote images, data images kept,
 * interstitial links (link_href still has to be set). */
void sgr_sanitize_opts_init(sgr_sanitize_opts *opts);

typedef struct {
    char *html; /* NUL-terminated, html_len bytes, valid UTF-8 */
    size_t html_len;
    sgr_link_list links; /* in arena */
    /* what was taken out, for the viewer's notes */
    size_t remote_images_blocked; /* remote sources removed (images, background=) */
    size_t elements_dropped;      /* elements removed with their content */
    size_t attributes_dropped;
    int depth_limited; /* some elements were written without their tags */
    sg_arena *arena;
} sgr_sanitize_result;

/* Sanitizes html[0..len) (UTF-8: the caller converts the part's charset).
 * Fills *out, to be freed with sgr_sanitize_result_free (also on error: it
 * is then empty). Returns 0; SG_ELIMIT (input, output or memory bound),
 * SG_ENOMEM, or SG_EINVAL (no link_href in interstitial mode). */
int sgr_sanitize_html(sgr_sanitize_result *out, const char *html, size_t len,
                      const sgr_sanitize_opts *opts);

void sgr_sanitize_result_free(sgr_sanitize_result *r);

/* Renders a text/plain part (UTF-8) as HTML for the same iframe: the text
 * escaped inside <div style="white-space:pre-wrap">, and its URLs
 * (sgr_links_from_text) listed and written as links exactly as
 * sgr_sanitize_html writes anchors (interstitial or inert). The same
 * result, bounds and errors. */
int sgr_text_to_html(sgr_sanitize_result *out, const char *text, size_t len,
                     const sgr_sanitize_opts *opts);

#endif
