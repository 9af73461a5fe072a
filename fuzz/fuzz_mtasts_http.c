/*
 * libFuzzer harness: the HTTP/1.1 answer of an MTA-STS policy host as
 * `spoofguard audit` reads it (src/cli/mtasts_http.c), bytes a remote
 * server writes. Byte 0 seeds the sizes of the reads; the rest is the
 * answer. As the fetcher does, the completeness check runs after each
 * read (a server may keep the connection open), then the answer parser
 * runs on what was read.
 *
 * Invariants: what the check finds read by read it also finds in one
 * pass over the same bytes (the incremental header scan loses nothing);
 * a body lies inside the answer and within the policy cap; an answer
 * whose Content-Length the check believed is never "shorter than its
 * Content-Length".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the fetcher's sizes: a 64 KiB policy, a 16 KiB header */
#define CAP 65536
#define RCAP (16384 + CAP + 64)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size - 1 > RCAP)
        return 0;
    unsigned seed = data[0] | 1u;
    size_t n = size - 1;
    /* exactly the answer's size, so ASan sees a read past what came */
    char *resp = malloc(n ? n : 1);
    if (resp == NULL)
        return 0;
    if (n)
        memcpy(resp, data + 1, n);

    sg_cli_http_scan s = {0};
    size_t got = 0;
    int whole = 0;
    for (;;) {
        if ((whole = sg_cli_mtasts_http_whole(&s, resp, got, RCAP)) != 0 || got == n)
            break;
        seed = seed * 1103515245u + 12345u;
        size_t step = 1 + (seed >> 16) % ((seed & 0x100) ? 7 : 600);
        got += step < n - got ? step : n - got;
    }
    if (whole) {
        sg_cli_http_scan one = {0};
        if (s.hend == 0 || s.hend > got || !sg_cli_mtasts_http_whole(&one, resp, got, RCAP) ||
            one.hend != s.hend || one.whole != s.whole || one.chunked != s.chunked)
            abort();
    }

    const char *body = NULL;
    size_t blen = 0;
    char err[256] = "";
    if (sg_cli_mtasts_http_answer(resp, got, CAP, &body, &blen, err, sizeof(err)) == 0) {
        if (body < resp || body > resp + got || blen > (size_t)(resp + got - body) || blen > CAP)
            abort();
    } else {
        if (err[0] == '\0')
            abort();
        if (whole && s.whole != 0 && !s.chunked && strncmp(err, "the answer is shorter", 21) == 0)
            abort();
    }
    free(resp);
    return 0;
}
