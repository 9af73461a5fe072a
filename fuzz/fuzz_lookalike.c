/*
 * libFuzzer harness for the lookalike checker (src/reader/lookalike.c):
 * arbitrary bytes as a candidate domain and as a reference. The input is
 * split at its first '\n': the candidate before it, the reference after
 * (added as a protected name and as a correspondent, next to fixed ones).
 * Besides memory safety it checks the contract the viewer relies on:
 *   - the call never fails for a hostile name (only out of memory could);
 *   - every result string is NUL-terminated inside its field, valid UTF-8
 *     and free of control characters (the viewer shows them);
 *   - INVALID carries a reason and no hits; otherwise the A-label form is
 *     plain LDH ASCII and the registrable domain is its tail;
 *   - KNOWN names a reference; SUSPECT has hits, each with a kind name,
 *     a detail and (but for idn) the reference it resembles;
 *   - checking again gives the same answer.
 */
#include "reader/lookalike.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/utf8.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == cap)
        abort();
    for (int32_t i = 0; i < (int32_t)n;) {
        UChar32 c;
        U8_NEXT(s, i, (int32_t)n, c);
        if (c < 0x20 || c == 0x7f)
            abort();
    }
}

static void check_ldh(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '.' ||
              *s == '_'))
            abort();
}

static sgr_lookalike_result res, again;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const fixed[] = {"paypal.com", "ups.com", "example-bank.com"};
    const uint8_t *nl = memchr(data, '\n', size);
    size_t clen = nl ? (size_t)(nl - data) : size;
    const char *ref = nl ? (const char *)nl + 1 : NULL;
    size_t rlen = nl ? size - clen - 1 : 0;

    sgr_lookalike_builder *b = NULL;
    if (sgr_lookalike_builder_new(&b, "") != SGR_LOOKALIKE_OK)
        abort();
    for (size_t i = 0; i < 3; i++)
        if (sgr_lookalike_builder_add(b, fixed[i], strlen(fixed[i]), SGR_LOOKALIKE_PROTECTED))
            abort();
    if (ref) {
        int rc = sgr_lookalike_builder_add(b, ref, rlen, SGR_LOOKALIKE_PROTECTED);
        if (rc != SGR_LOOKALIKE_OK && rc != SGR_LOOKALIKE_EINVAL)
            abort();
        rc = sgr_lookalike_builder_add(b, ref, rlen, SGR_LOOKALIKE_CORRESPONDENT);
        if (rc != SGR_LOOKALIKE_OK && rc != SGR_LOOKALIKE_EINVAL)
            abort();
    }
    sgr_lookalike *lk = NULL;
    if (sgr_lookalike_build(&lk, b) != SGR_LOOKALIKE_OK)
        abort();

    /* a copy without a terminator: ASan catches a read past len */
    char *cand = malloc(clen ? clen : 1);
    if (cand == NULL)
        abort();
    memcpy(cand, data, clen);
    if (sgr_lookalike_check(lk, cand, clen, &res) != SGR_LOOKALIKE_OK)
        abort();
    check_text(res.ascii, sizeof res.ascii);
    check_text(res.unicode, sizeof res.unicode);
    check_text(res.registrable, sizeof res.registrable);
    check_text(res.registrable_unicode, sizeof res.registrable_unicode);
    check_text(res.known, sizeof res.known);
    check_text(res.detail, sizeof res.detail);
    if (res.nhits > SGR_LOOKALIKE_MAX_HITS || res.nhits > res.nhits_total ||
        (res.nhits_total > SGR_LOOKALIKE_MAX_HITS) != (res.nhits_total > res.nhits))
        abort();
    switch (res.verdict) {
    case SGR_LOOKALIKE_INVALID:
        if (res.detail[0] == '\0' || res.nhits_total != 0 || res.ascii[0] != '\0')
            abort();
        break;
    case SGR_LOOKALIKE_KNOWN:
        if (res.known[0] == '\0')
            abort();
        /* fall through */
    case SGR_LOOKALIKE_CLEAN:
    case SGR_LOOKALIKE_SUSPECT: {
        check_ldh(res.ascii);
        size_t al = strlen(res.ascii), rl = strlen(res.registrable);
        if (rl == 0 || rl > al || strcmp(res.ascii + al - rl, res.registrable) != 0)
            abort();
        if ((res.verdict == SGR_LOOKALIKE_SUSPECT) != (res.nhits_total > 0) &&
            res.verdict != SGR_LOOKALIKE_KNOWN)
            abort();
        /* a known name can only carry an idn hit */
        for (size_t i = 0; res.verdict == SGR_LOOKALIKE_KNOWN && i < res.nhits; i++)
            if (res.hits[i].kind != SGR_LOOKALIKE_IDN)
                abort();
        break;
    }
    default:
        abort();
    }
    for (size_t i = 0; i < res.nhits; i++) {
        const sgr_lookalike_hit *h = &res.hits[i];
        check_text(h->detail, sizeof h->detail);
        check_text(h->reference, sizeof h->reference);
        check_text(h->reference_ascii, sizeof h->reference_ascii);
        if (h->detail[0] == '\0' || strcmp(sgr_lookalike_kind_name(h->kind), "unknown") == 0)
            abort();
        if ((h->kind == SGR_LOOKALIKE_IDN) != (h->reference_ascii[0] == '\0'))
            abort();
    }
    if (sgr_lookalike_check(lk, cand, clen, &again) != SGR_LOOKALIKE_OK ||
        memcmp(&res, &again, sizeof res) != 0)
        abort();
    free(cand);
    sgr_lookalike_free(lk);
    return 0;
}
