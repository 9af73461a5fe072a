/*
 * libFuzzer harness: the signature field parser of the DKIM family (tag
 * list, every tag's validation, base64, dkim-quoted-printable, h=
 * splitting) for its three kinds. The first input byte picks the kind
 * (DKIM-Signature, ARC-Message-Signature, ARC-Seal); the rest is the raw
 * header field value, the kind's name prepended. Checks that the b= span
 * reported for blanking lies inside the field, and what each kind
 * promises of an accepted field.
 */
#include "dkim/dkim_int.h"

#include <spoofguard/arc.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct {
        sg_dkim_kind kind;
        const char *name;
    } kinds[3] = {{SG_SIG_DKIM, "DKIM-Signature:"},
                  {SG_SIG_AMS, "ARC-Message-Signature:"},
                  {SG_SIG_AS, "ARC-Seal:"}};
    sg_arena *a;
    sg_dkim_sig s;
    const char *reason = NULL, *name;
    sg_dkim_kind kind;
    char *raw;
    size_t nl, n;
    if (size < 1 || size > 65536)
        return 0;
    kind = kinds[data[0] % 3].kind;
    name = kinds[data[0] % 3].name;
    data++;
    size--;
    nl = strlen(name);
    n = nl + size;
    raw = malloc(n + 1);
    if (raw == NULL || sg_arena_new(&a, 0) != 0) {
        free(raw);
        return 0;
    }
    memcpy(raw, name, nl);
    memcpy(raw + nl, data, size);
    raw[n] = '\0';
    if (sg_dkim_sig_parse(a, kind, raw, n, &s, &reason) == 0) {
        if (s.kind != kind || s.b_start > s.b_end || s.b_end > n || s.d == NULL || s.s == NULL ||
            s.blen == 0)
            abort();
        if (kind == SG_SIG_DKIM && (s.i == NULL || s.nh == 0 || s.bhlen == 0))
            abort();
        if (kind != SG_SIG_DKIM &&
            (s.instance < 1 || s.instance > SG_ARC_MAX_INSTANCES || s.alg != SG_DKIM_RSA_SHA256))
            abort();
        if (kind == SG_SIG_AMS && s.bhlen != 32)
            abort();
        if (kind == SG_SIG_AS && (s.nh != 0 || s.hcanon != SG_CANON_RELAXED))
            abort();
    } else if (reason == NULL) {
        abort();
    }
    sg_arena_free(a);
    free(raw);
    return 0;
}
