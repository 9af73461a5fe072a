/*
 * libFuzzer harness: the MTA-STS (RFC 8461 3.1) and TLS-RPT (RFC 8460 3)
 * record checks of spoofguard audit. Any bytes, NULs included: the checks
 * must stay inside the buffer, and a record they accept must be one the
 * grammar allows (checked here by its fixed parts).
 */
#include <spoofguard/audit.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *reason = NULL;
    /* a copy of exactly size bytes, so reading past it is caught */
    char *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    if (size)
        memcpy(buf, data, size);
    if (sg_audit_mtasts_check(buf, size, &reason) == 0) {
        if (size < 7 || memcmp(buf, "v=STSv1", 7) != 0 || memchr(buf, '\0', size) != NULL)
            abort();
    } else if (reason == NULL) {
        abort();
    }
    reason = NULL;
    if (sg_audit_tlsrpt_check(buf, size, &reason) == 0) {
        if (size < 10 || memcmp(buf, "v=TLSRPTv1", 10) != 0 || memchr(buf, '\0', size) != NULL)
            abort();
    } else if (reason == NULL) {
        abort();
    }
    free(buf);
    return 0;
}
