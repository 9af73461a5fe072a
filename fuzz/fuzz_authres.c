/*
 * libFuzzer harness for the Authentication-Results parser (RFC 8601).
 *
 * Whatever parses must format (folded and unfolded), and the formatted
 * text must parse back to the identical structure; the finder must not
 * crash on the same bytes. Any violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>

#include "authres/authres_int.h"
#include <spoofguard/arena.h>
#include <spoofguard/authres.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_arena *a;
    if (sg_arena_new(&a, 0) != SG_OK)
        return 0;
    const char *in = (const char *)data;
    (void)sg_authres_value_claims(in, size, "mx.example.org");

    sg_authres r;
    size_t ep = 0;
    int rc = sg_authres_parse(&r, a, in, size, &ep);
    if (rc == SG_OK) {
        for (unsigned fl = 0; fl <= SG_AUTHRES_FOLDED; fl++) {
            char *s;
            size_t len;
            sg_authres back;
            if (sg_authres_format_arena(&s, &len, a, &r, fl) != SG_OK)
                abort();
            if (sg_authres_parse(&back, a, s, len, NULL) != SG_OK)
                abort();
            if (!sg_authres_equal(&r, &back))
                abort();
            /* what we write names its authserv-id to the finder */
            if (!sg_authres_value_claims(s, len, r.authserv_id))
                abort();
        }
    } else if (rc != SG_ESYNTAX && rc != SG_ELIMIT) {
        abort();
    } else if (ep > size) {
        abort();
    }
    sg_arena_free(a);
    return 0;
}
