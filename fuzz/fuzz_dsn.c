/* libFuzzer: the delivery-status report scanner (src/daemon/dsn.c) on any
 * bytes, as a sender can write them. It stays inside the input, never
 * reports more failures than asked, and what it reports is well-formed:
 * a status of the 4.x.x/5.x.x shape, recipient addresses NUL-terminated
 * within their buffers, with an @ and no blank, angle bracket or control. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_addr(const char *a, size_t cap)
{
    size_t n = strnlen(a, cap);
    if (n == cap)
        abort();
    if (n == 0)
        return;
    if (!memchr(a, '@', n))
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)a[i] <= ' ' || a[i] == '<' || a[i] == '>' || a[i] == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_dsn_failure f[4];
    for (size_t max = 0; max <= 4; max += 4) {
        size_t n = sg_dsn_failed((const char *)data, size, f, max);
        if (n > max)
            abort();
        for (size_t i = 0; i < n; i++) {
            const char *s = f[i].status;
            size_t l = strnlen(s, sizeof(f[i].status));
            if (l < 5 || l == sizeof(f[i].status) || (s[0] != '4' && s[0] != '5') || s[1] != '.')
                abort();
            check_addr(f[i].final_rcpt, sizeof(f[i].final_rcpt));
            check_addr(f[i].orig_rcpt, sizeof(f[i].orig_rcpt));
        }
    }
    return 0;
}
