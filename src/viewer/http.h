/*
 * The HTTP side of spoofguard-view, on libmicrohttpd: the server, the
 * routing table, sessions and CSRF checks before any handler runs, and
 * the security headers on every answer.
 *
 * Handlers (pages.c, api.c) fill an sgv_resp; http.c sends it with
 * Content-Security-Policy (the viewer's own pages need no script at all),
 * X-Frame-Options: DENY (except the message body, which its own page
 * frames), Referrer-Policy: no-referrer, X-Content-Type-Options: nosniff
 * and Cache-Control: no-store.
 */
#ifndef SG_VIEWER_HTTP_H
#define SG_VIEWER_HTTP_H

#include <stddef.h>

#include "auth.h"
#include "viewer.h"

/* Bounds. The connection pool, its per-client share and the request
 * deadlines are in conns.h. SGV_HTTP_TIMEOUT_S is MHD's idle timeout: it
 * only still matters while an answer is sent (a client that stops reading). */
#define SGV_HTTP_TIMEOUT_S 30
#define SGV_HTTP_MAX_BODY 16384 /* bytes of a POST body (forms only) */
#define SGV_HTTP_THREADS 4

/* The CSP of the viewer's own pages. */
#define SGV_CSP_PAGE                                                                               \
    "default-src 'self'; script-src 'none'; object-src 'none'; style-src 'self'; "                 \
    "img-src 'self' data:; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; "            \
    "form-action 'self'"

typedef struct {
    sgv_app *app;
    const char *method; /* "GET", "POST", "HEAD" */
    const char *path;
    const char *body; /* POST: the form, NUL-terminated */
    size_t body_len;
    sgv_client_key client; /* the peer (client.h), for throttling */
    sgv_session sess;      /* valid when has_session */
    int has_session;
    /* the session cookie sg_session's value ("" when none) */
    char token[SGV_TOKEN_HEX + 1];
    void *conn; /* struct MHD_Connection * */
} sgv_req;

typedef struct {
    int status;
    char *body; /* malloc'ed; sent and freed by http.c */
    size_t len;
    const char *ctype; /* default "text/html; charset=utf-8" */
    const char *csp;   /* NULL: SGV_CSP_PAGE */
    int frameable;     /* the body page: no X-Frame-Options DENY */
    char *location;    /* malloc'ed, for 30x */
    char *set_cookie;  /* malloc'ed */
    char *set_cookie2; /* malloc'ed, a second Set-Cookie */
    char *disposition; /* malloc'ed Content-Disposition */
    const char *allow; /* for 405 */
    int retry_after;   /* seconds, for 429; 0 none */
} sgv_resp;

typedef struct sgv_http sgv_http;

/* Starts serving app on cfg->listen ("ADDR:PORT", "[v6]:PORT"). TLS when
 * cert_pem/key_pem are given (PEM text). Returns 0 or -1 with err. */
int sgv_http_start(sgv_http **out, sgv_app *app, const char *cert_pem, const char *key_pem,
                   char *err, size_t errlen);
void sgv_http_stop(sgv_http *h);

/* Parses "ADDR:PORT" into a socket address; *loopback says whether ADDR
 * is 127.0.0.0/8 or ::1. Returns 0 or -1. */
struct sockaddr_storage;
int sgv_parse_listen(const char *s, struct sockaddr_storage *ss, unsigned *sslen, int *loopback);

/* The value of field name in an application/x-www-form-urlencoded body,
 * decoded into out (cap bytes with the NUL). 1 found, 0 not found (or
 * too long, or with a NUL byte). */
int sgv_form_get(const char *body, size_t len, const char *name, char *out, size_t cap);

/* Response helpers: body text copied. */
void sgv_resp_set(sgv_resp *r, int status, const char *ctype, const char *body, size_t len);
void sgv_resp_redirect(sgv_resp *r, int status, const char *location);
/* A query argument of the request (GET), or NULL. */
const char *sgv_req_arg(const sgv_req *q, const char *name);

/* ---- routing (pure, fuzz/fuzz_viewer.c) ---- */

/* The route of (method, path): its index in the routing table, with *rest
 * the path after the route's own (a prefix route's ID and tail), or -1.
 * *path_known: some route has this path (for 405 rather than 404); HEAD
 * takes a GET route. */
int sgv_route_lookup(const char *method, const char *path, const char **rest, int *path_known);
/* Route i's path and whether it is a prefix; NULL when there is no route i. */
const char *sgv_route_path(int i, int *prefix);
/* The sg_session cookie's value as a session token: 1 and token when it
 * has a token's length, else 0 and token "". */
int sgv_session_cookie(const char *cookie, char token[SGV_TOKEN_HEX + 1]);

#endif
