/*
 * The metrics endpoint: a minimal HTTP/1.0-1.1 responder on a libuv loop
 * (spoofguardd runs it on its main thread, which carries no mail). It
 * reads at most one small request, answers GET /metrics (404 for any
 * other path, 405 for any other method, 400 for garbage) and closes.
 * Connections, request size, response size and time are all bounded.
 */
#ifndef SG_DAEMON_METRICS_HTTP_H
#define SG_DAEMON_METRICS_HTTP_H

#include <stddef.h>
#include <uv.h>

#include "metrics.h"

/* Connections served at once; more are accepted and closed at once. */
#define SG_MHTTP_MAX_CONNS 8
/* Request line and header fields; a longer request gets 431. */
#define SG_MHTTP_MAX_REQUEST 4096
/* Whole life of one connection, from accept to close. */
#define SG_MHTTP_TIMEOUT_MS 10000
/* Largest response: far above the ~10 KB of the default series. */
#define SG_MHTTP_MAX_RESPONSE (1024 * 1024)

/* Check a metrics_listen value: `127.0.0.1:PORT`, `[::1]:PORT` (any
 * 127.0.0.0/8 address; also with an `inet:` prefix) or a unix socket
 * path (`/path` or `unix:/path`). Metrics are unauthenticated, so any
 * other TCP address is refused. Returns 0, or -1 with a message in err. */
int sg_mhttp_check(const char *spec, char *err, size_t errlen);

/* Bind and listen (before privileges are dropped). *unix_path gets the
 * socket path ("" for TCP; size >= 108). Returns the descriptor or -1. */
int sg_mhttp_bind(const char *spec, char *unix_path, char *err, size_t errlen);

/* What to answer to the request bytes read so far (len of them; max: the
 * most we read): NULL while it is incomplete, else the status line:
 * "200 OK" for a complete GET /metrics, 400 for what is not an HTTP/1.x
 * request line (judged as soon as the line is complete), 404, 405, or
 * 431 once max bytes hold no complete request. Pure, for tests. */
const char *sg_mhttp_judge(const char *req, size_t len, size_t max);

typedef struct sg_mhttp sg_mhttp;

/* Render the exposition into b (called on the loop's thread per scrape). */
typedef void (*sg_mhttp_render_cb)(sg_mbuf *b, void *payload);

/* Serve on the listening descriptor fd (taken over). */
int sg_mhttp_start(sg_mhttp **out, uv_loop_t *loop, int fd, sg_mhttp_render_cb render,
                   void *payload, uint64_t *refused_counter);
/* Stop listening and close every connection; memory is freed as the
 * handles finish closing on the loop. */
void sg_mhttp_close(sg_mhttp *h);

#endif
