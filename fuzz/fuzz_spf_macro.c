/*
 * libFuzzer harness: SPF macro expander (RFC 7208 7). First byte picks
 * the mode (domain-spec, explanation, modifier value) and the client
 * family; the rest is the macro-string. Checks the invariants:
 * expansion succeeds exactly when the syntax check does (ignoring the
 * domain-end rule, which only the check applies), domain expansions are
 * at most 253 octets unless a single label is longer, and nothing
 * exceeds SG_SPF_MAX_EXPANSION.
 */
#include <stdlib.h>
#include <string.h>

#include "spf/spf_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_spf_macro_ctx ctx = {
        .sender = "strong-bad@email.example.com",
        .local = "strong-bad",
        .sender_domain = "email.example.com",
        .domain = "email.example.com",
        .ip_i = "192.0.2.3",
        .ip_c = "192.0.2.3",
        .ptr = "mx.example.org",
        .helo = "a-very.long.helo-name.with.many.labels.example.org",
        .receiver = "rcv.example.net",
        .now = 1700000000,
    };
    if (size < 1)
        return 0;
    sg_spf_macro_mode mode = (sg_spf_macro_mode)(data[0] % 3);
    if (data[0] & 0x10) {
        ctx.v6 = 1;
        ctx.ip_i = "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1";
        ctx.ip_c = "2001:db8::cb01";
    }
    if (data[0] & 0x20)
        ctx.ptr = NULL;
    const char *spec = (const char *)data + 1;
    size_t len = size - 1;
    sg_arena *a;
    if (sg_arena_new(&a, 0) != 0)
        return 0;
    const char *why = NULL;
    int chk = sg_spf_macro_check(spec, len, mode, &why);
    if (chk != 0 && why == NULL)
        abort();
    (void)sg_spf_macro_needs_ptr(spec, len);
    char *out = NULL;
    size_t n = 0;
    int rc = sg_spf_macro_expand(&out, &n, a, spec, len, &ctx, mode, &why);
    if (chk == 0 && rc != 0)
        abort();
    if (mode != SG_SPF_MACRO_DOMAIN && (chk == 0) != (rc == 0))
        abort();
    if (rc == 0) {
        if (n > SG_SPF_MAX_EXPANSION || strlen(out) > n)
            abort();
        if (mode == SG_SPF_MACRO_DOMAIN && n > 254 && memchr(out, '.', n - 1) != NULL) {
            /* longer than 253 only if no label boundary allows a cut */
            size_t eff = out[n - 1] == '.' ? n - 1 : n;
            const char *dot = memchr(out, '.', eff);
            if (dot != NULL && eff - (size_t)(dot - out + 1) <= 253 && eff > 253)
                abort();
        }
    }
    sg_arena_free(a);
    return 0;
}
