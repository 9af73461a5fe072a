/* libFuzzer: the header redaction of DMARC failure reports
 * (src/reports/failure.c) on any bytes, as a sender writes them. The output
 * stays within its buffer and NUL-terminated, has no CR, and every field in
 * it is one the redaction keeps; a Subject is never more than "[redacted]"
 * and a To or Cc holds only redacted@ addresses. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reports/send.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int starts(const char *l, const char *name)
{
    size_t n = strlen(name);
    return strncasecmp(l, name, n) == 0 && l[n] == ':';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[1024];
    char *in = malloc(size ? size : 1);
    if (in == NULL)
        return 0;
    memcpy(in, data, size);
    memset(out, 0x55, sizeof(out));
    size_t n = sgrep_failure_redact(in, size, out, sizeof(out));
    if (n >= sizeof(out) || out[n] != '\0' || strlen(out) != n || memchr(out, '\r', n))
        abort();
    for (char *l = out; *l;) {
        char *e = strchr(l, '\n');
        if (e == NULL)
            abort(); /* every field ends its line */
        *e = '\0';
        if (*l != ' ' && *l != '\t') {
            if (starts(l, "Subject")) {
                if (strcmp(l, "Subject: [redacted]") != 0)
                    abort();
            } else if (starts(l, "To") || starts(l, "Cc")) {
                for (char *a = strchr(l, '@'); a; a = strchr(a + 1, '@'))
                    if (a - l < 12 || strncmp(a - 8, "redacted", 8) != 0)
                        abort();
            } else if (!starts(l, "From") && !starts(l, "Date") && !starts(l, "Message-ID") &&
                       !starts(l, "DKIM-Signature")) {
                abort();
            }
        }
        l = e + 1;
    }
    free(in);
    return 0;
}
