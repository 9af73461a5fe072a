/* libFuzzer: the metrics endpoint's request judge on arbitrary bytes,
 * fed as a scraper would send them, in chunks whose sizes come from the
 * input itself; once it has judged, the verdict must be one of ours and
 * a 200 only for a request that starts "GET /metrics". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const known[] = {"200 OK", "400 Bad Request", "404 Not Found",
                                        "405 Method Not Allowed",
                                        "431 Request Header Fields Too Large"};
    char req[SG_MHTTP_MAX_REQUEST];
    size_t len = 0, off = 0;
    const char *st = NULL;
    while (off < size && st == NULL) {
        size_t chunk = 1 + data[off] % 97;
        if (chunk > size - off)
            chunk = size - off;
        if (chunk > sizeof(req) - 1 - len)
            chunk = sizeof(req) - 1 - len;
        memcpy(req + len, data + off, chunk);
        len += chunk;
        off += chunk;
        req[len] = '\0';
        st = sg_mhttp_judge(req, len, sizeof(req) - 1);
    }
    if (st == NULL)
        return 0;
    size_t i;
    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(st, known[i]))
            break;
    if (i == sizeof(known) / sizeof(known[0]))
        abort();
    if (!strcmp(st, "200 OK") && (len < 12 || memcmp(req, "GET /metrics", 12) != 0))
        abort();
    return 0;
}
