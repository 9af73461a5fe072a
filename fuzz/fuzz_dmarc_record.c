/*
 * libFuzzer harness: the DMARC record parser (RFC 9989 4.7/4.8), plus the
 * domain normaliser (U-label -> A-label) on the same bytes, and the From
 * author-domain extraction. Checks invariants the evaluation relies on.
 */
#include <spoofguard/dmarc.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_arena *a;
    sg_dmarc_record r;
    sg_dmarc_author au;
    char *norm = NULL;
    char fo[16];
    int rc;
    size_t i;

    if (sg_arena_new(&a, 0) != 0)
        return 0;
    rc = sg_dmarc_record_parse(a, (const char *)data, size, &r);
    if (rc == 0) {
        /* invariants */
        if (r.p > SG_DMARC_POLICY_REJECT || r.sp > SG_DMARC_POLICY_REJECT ||
            r.np > SG_DMARC_POLICY_REJECT)
            abort();
        if (!r.applicable && !(r.warnings & SG_DMARC_W_NOT_APPLICABLE))
            abort();
        if (r.nrua > SG_DMARC_MAX_URIS || r.nruf > SG_DMARC_MAX_URIS)
            abort();
        if (r.pct < -1 || r.pct > 100)
            abort();
        for (i = 0; i < r.nrua; i++)
            if (r.rua[i].uri == NULL || strlen(r.rua[i].uri) > size)
                abort();
        (void)sg_dmarc_fo_str(r.fo, fo);
    } else if (rc != SG_ESYNTAX && rc != SG_ELIMIT && rc != SG_ENOMEM) {
        abort();
    }
    rc = sg_dmarc_domain_normalise(a, (const char *)data, size, &norm);
    if (rc == 0 && (norm == NULL || strlen(norm) > 253))
        abort();
    if (sg_dmarc_author_from_value(a, (const char *)data, size, &au) == 0 &&
        au.status == SG_DMARC_AUTHOR_OK && (au.domain == NULL || strlen(au.domain) > 253))
        abort();
    sg_arena_free(a);
    return 0;
}
