/*
 * Small helpers shared by the DKIM unit tests (header-only: each test is
 * one binary, linked with helpers.c only).
 */
#ifndef SG_TEST_DKIM_UTIL_H
#define SG_TEST_DKIM_UTIL_H

#include <spoofguard/dkim.h>
#include <spoofguard/dns.h>
#include <spoofguard/msg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Feed a message through the msg parser into a verifier, in chunks of
 * `chunk` bytes (0: all at once) so the streaming paths are exercised. */
static int tdk_on_headers(const sg_header *f, size_t n, void *p)
{
    return sg_dkim_verify_headers(p, f, n);
}

static int tdk_on_body(const char *d, size_t n, void *p)
{
    return sg_dkim_verify_body(p, d, n);
}

/* Verify msg; returns a malloc'd "result,result,..." (empty string for no
 * signature) and, if reasons != NULL, a malloc'd "reason|reason|...". */
static char *tdk_verify(sg_resolver *r, sg_dkim_keycache *cache, const sg_dkim_verify_opts *o,
                        const char *msg, size_t len, size_t chunk, char **reasons)
{
    sg_dkim_verifier *v = NULL;
    sg_msg_parser *p = NULL;
    sg_msg_callbacks cbs = {tdk_on_headers, tdk_on_body, NULL};
    const sg_dkim_sig_result *res;
    size_t n = 0;
    char *out = calloc(1, 4096), *rs = calloc(1, 16384);
    if (out == NULL || rs == NULL || sg_dkim_verifier_new(&v, r, cache, o) != 0)
        abort();
    if (sg_msg_parser_new(&p, NULL, &cbs, v) != 0)
        abort();
    if (chunk == 0)
        chunk = len ? len : 1;
    for (size_t off = 0; off < len; off += chunk) {
        size_t k = len - off < chunk ? len - off : chunk;
        int rc = sg_msg_feed(p, msg + off, k);
        if (rc != 0) {
            fprintf(stderr, "feed failed: %d\n", rc);
            abort();
        }
    }
    if (sg_msg_finish(p) != 0)
        abort();
    if (sg_dkim_verify_wait(v) != 0)
        abort();
    if (sg_dkim_verify_results(v, &res, &n) != 0)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (i) {
            strcat(out, ",");
            strcat(rs, "|");
        }
        strcat(out, sg_dkim_result_str(res[i].result));
        strncat(rs, res[i].reason, 200);
    }
    sg_msg_parser_free(p);
    sg_dkim_verifier_free(v);
    if (reasons)
        *reasons = rs;
    else
        free(rs);
    return out;
}

#endif
