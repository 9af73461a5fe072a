/*
 * The HTML pages of spoofguard-view and their handlers: login, the
 * message list, a message (headline, identity, warnings, attachments, the
 * body in a sandboxed iframe), the body itself, inline images and
 * attachment downloads, and the link interstitial.
 *
 * Every piece of text goes through sgv_html_text and every attribute
 * value through sgv_html_attr (both also make the bytes valid UTF-8 and
 * drop control characters): nothing from a message reaches the page
 * unescaped. The pages carry no script at all; icons are inline SVG with
 * an aria-label next to the words, never colour alone.
 */
#ifndef SG_VIEWER_PAGES_H
#define SG_VIEWER_PAGES_H

#include "cli/cli.h"
#include "http.h"
#include "maildir.h"

/* Appends s escaped as HTML text (& < > " ' escaped). NULL: nothing. */
void sgv_html_text(sg_cli_buf *b, const char *s);
/* Appends s escaped for a double-quoted attribute value (also ` = and
 * every other ASCII punctuation a browser might mis-parse). */
void sgv_html_attr(sg_cli_buf *b, const char *s);

void sgv_page_login_form(sgv_req *q, sgv_resp *r, const char *rest);
void sgv_page_login_post(sgv_req *q, sgv_resp *r, const char *rest);
void sgv_page_logout(sgv_req *q, sgv_resp *r, const char *rest);
void sgv_page_style(sgv_req *q, sgv_resp *r, const char *rest);
void sgv_page_list(sgv_req *q, sgv_resp *r, const char *rest);
/* /m/ID, /m/ID/body, /m/ID/cid/N, /m/ID/part/N */
void sgv_page_message(sgv_req *q, sgv_resp *r, const char *rest);
/* POST /m/ID/images */
void sgv_page_message_post(sgv_req *q, sgv_resp *r, const char *rest);
/* /link/ID/N and /link/ID/N/go */
void sgv_page_link(sgv_req *q, sgv_resp *r, const char *rest);
/* POST /link/ID/N/go: the reader's confirmation to open an unverified link */
void sgv_page_link_post(sgv_req *q, sgv_resp *r, const char *rest);

/* GET /reports (reports_page.c): the DMARC report store as a chart. */
void sgv_page_reports(sgv_req *q, sgv_resp *r, const char *rest);
/* GET /reports.csv: the same store as `spoofguard report summary --csv`. */
void sgv_page_reports_csv(sgv_req *q, sgv_resp *r, const char *rest);
/* Content-Disposition: attachment with an ASCII fallback and the UTF-8
 * name as RFC 6266 / RFC 8187 filename*; malloc()ed, NULL when out of
 * memory. */
char *sgv_disposition(const char *name);
/* A page's head and header (title escaped here), and its end: the buffer
 * becomes the response body (for pages outside pages.c). */
void sgv_page_open(sg_cli_buf *b, const sgv_req *q, const char *title);
void sgv_page_close(sgv_resp *r, sg_cli_buf *b, int status);

/* The CSP of /m/ID/body (images: remote images allowed). */
const char *sgv_body_csp(int images);

/* ---- what a request's URL names (pure parsers, fuzz/fuzz_viewer.c) ---- */

/* An ID in a path: exactly SGV_ID_LEN lower-case hex digits, then '\0'
 * or '/'. Returns the rest after it, or NULL. */
const char *sgv_path_id(const char *rest, char id[SGV_ID_LEN + 1]);
/* A decimal index "N" up to '\0' or '/' (at most 1000000009), *p moved
 * past it; -1 when not one (*p unchanged). */
long sgv_path_num(const char **p);
/* What follows /link/: "ID/N" or "ID/N/go". 0 with id, the link's number
 * and the tail ("" or "/go"), else -1. */
int sgv_link_path_parse(const char *rest, char id[SGV_ID_LEN + 1], long *n, const char **tail);
/* ?days=N of /reports and /reports.csv: 1 and *out when N is a whole
 * number of days in 1..366, else 0 (*out unchanged). */
int sgv_days_arg(const char *arg, long *out);

#endif
