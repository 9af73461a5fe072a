/*
 * spoofguard-view (issue 13): a web mail viewer that shows who really sent
 * each message and keeps links in unverified mail from being opened.
 *
 * One file per subsystem, each with its own header:
 *   main.c     the command line, start and stop
 *   http.c     libmicrohttpd, the routing table, the headers on every answer
 *   conns.c    the connection pool: per-client shares, request deadlines
 *   auth.c     password file (yescrypt), sessions, CSRF tokens, throttling
 *   maildir.c  reading Maildirs: stable IDs, rescans, hostile names
 *   index.c    the message index: verification in a background thread,
 *              summaries, correspondents, the lookalike checker
 *   pages.c    the HTML pages (no script at all) and their handlers
 *   api.c      /api/messages and /api/messages/ID
 * Everything but main.c forms sg_viewer_core, which the unit tests link.
 */
#ifndef SG_VIEWER_H
#define SG_VIEWER_H

#include <stddef.h>

/* Exit statuses, as the CLI's (src/cli/cli.h). */
enum { SGV_EXIT_OK = 0, SGV_EXIT_USAGE = 2, SGV_EXIT_INPUT = 3, SGV_EXIT_INTERNAL = 4 };

/* The configuration from the command line; strings borrowed from argv. */
typedef struct {
    const char **maildirs;
    size_t nmaildirs;
    const char *listen; /* "127.0.0.1:8025" */
    const char *password_file;
    const char *tls_cert, *tls_key;
    const char *authserv_id;
    const char **protect; /* --protect, repeatable */
    size_t nprotect;
    const char *operator_domains; /* a file, one domain a line */
    const char *psl;              /* a public suffix list file, or NULL */
    long long now;                /* --now: verification time; 0 the clock */
    const char *reports_db;       /* --reports-db: the DMARC report store, or NULL */
    long long request_timeout;    /* --request-timeout: seconds for a request's head, and
                                     again for its body; 0 SGV_REQUEST_TIMEOUT_S */
    size_t correspondents_max;    /* correspondents' domains learned as lookalike references;
                                     0 SGV_CORRESPONDENTS_MAX */
} sgv_config;

struct sgv_auth;
struct sgv_index;

/* What every request handler reaches. */
typedef struct {
    const sgv_config *cfg;
    struct sgv_auth *auth;
    struct sgv_index *index;
    int tls; /* served over TLS: cookies get Secure */
} sgv_app;

#endif
