/*
 * libFuzzer harness: the MTA-STS (RFC 8461 3.1), TLS-RPT (RFC 8460 3) and
 * DKIM key (RFC 6376 3.6.1, sg_audit_dkim_key_check) record checks of
 * spoofguard audit, and the MTA-STS policy file parser
 * (RFC 8461 3.2) with its mx matcher. Any bytes, NULs included: the checks
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
    /* the DKIM key record check keys activate makes: a record it takes
     * has no NUL (RFC 6376 3.2 tag-lists have none), a refusal says why */
    reason = NULL;
    int krc = sg_audit_dkim_key_check(buf, size, &reason);
    if (krc == 0) {
        if (memchr(buf, '\0', size) != NULL)
            abort();
    } else if (krc != SG_ENOMEM && reason == NULL) {
        abort();
    }
    /* the MTA-STS policy file: an accepted policy has its required
     * lines, mx patterns inside the buffer, and every pattern (without a
     * "*.") matches itself */
    sg_audit_mtasts_policy pol;
    reason = NULL;
    if (sg_audit_mtasts_policy_parse(buf, size, &pol, &reason) == 0) {
        if (pol.max_age > 31557600 || pol.nmx > SG_AUDIT_MTASTS_MAX_MX ||
            (pol.nmx == 0 && pol.mode != SG_AUDIT_MTASTS_NONE))
            abort();
        for (size_t i = 0; i < pol.nmx; i++) {
            if (pol.mx[i].name < buf || pol.mx[i].name + pol.mx[i].len > buf + size ||
                pol.mx[i].len == 0 || pol.mx[i].len > 253)
                abort();
            char host[256];
            memcpy(host, pol.mx[i].name, pol.mx[i].len);
            host[pol.mx[i].len] = '\0';
            if (host[0] != '*' && !sg_audit_mtasts_mx_match(&pol, host))
                abort();
        }
    } else if (reason == NULL) {
        abort();
    }
    free(buf);
    return 0;
}
