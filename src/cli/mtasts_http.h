/*
 * The HTTP/1.1 answer of the MTA-STS policy host, as bytes (mtasts_http.c):
 * the part of `spoofguard audit`'s fetcher (mtasts_fetch.c) that reads what
 * a remote server wrote, kept apart from the TLS I/O so that it can be
 * fuzzed (fuzz/fuzz_mtasts_http.c).
 */
#ifndef SG_CLI_MTASTS_HTTP_H
#define SG_CLI_MTASTS_HTTP_H

#include <stddef.h>

/* What the reading loop knows of the answer so far; zero it first. */
typedef struct {
    size_t hend;    /* where the header ends (0: not yet seen) */
    size_t scanned; /* the header end was looked for up to here */
    size_t whole;   /* with a Content-Length: where the answer ends (0: unknown) */
    size_t fresh;   /* bytes already walked for chunks */
    int chunked;
} sg_cli_http_scan;

/* Has resp[0, got) the whole answer, as its Content-Length or its last
 * chunk and trailer section say (RFC 9112 6.3)? 1 yes, 0 read on. rcap is
 * the buffer's size: a Content-Length beyond it is not believed. Call it
 * again, with the same s, each time got grew; resp is not changed. */
int sg_cli_mtasts_http_whole(sg_cli_http_scan *s, char *resp, size_t got, size_t rcap);

/* The policy in the answer resp[0, got) once it is read: 0 with *body and
 * *blen (a chunked body decoded in place, inside resp), or -1 with err set
 * (no complete header, not HTTP, not 200, not text/plain, a broken chunked
 * coding, shorter than its Content-Length, more than cap bytes). */
int sg_cli_mtasts_http_answer(char *resp, size_t got, size_t cap, const char **body, size_t *blen,
                              char *err, size_t errlen);

#endif
