/*
 * libFuzzer harness: the DKIM-Signature field parser (tag list, every tag's
 * validation, base64, dkim-quoted-printable, h= splitting). The input is a
 * raw header field value; "DKIM-Signature:" is prepended. Checks that the
 * b= span reported for blanking lies inside the field.
 */
#include "dkim/dkim_int.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char name[] = "DKIM-Signature:";
    sg_arena *a;
    sg_dkim_sig s;
    const char *reason = NULL;
    char *raw;
    size_t n = sizeof(name) - 1 + size;
    if (size > 65536)
        return 0;
    raw = malloc(n + 1);
    if (raw == NULL || sg_arena_new(&a, 0) != 0) {
        free(raw);
        return 0;
    }
    memcpy(raw, name, sizeof(name) - 1);
    memcpy(raw + sizeof(name) - 1, data, size);
    raw[n] = '\0';
    if (sg_dkim_sig_parse(a, raw, n, &s, &reason) == 0) {
        if (s.b_start > s.b_end || s.b_end > n || s.d == NULL || s.s == NULL || s.i == NULL ||
            s.nh == 0 || s.blen == 0)
            abort();
    } else if (reason == NULL) {
        abort();
    }
    sg_arena_free(a);
    free(raw);
    return 0;
}
