/* libFuzzer: the key rotation state parser (src/common/keys_state.c) on
 * arbitrary bytes; what parses must format and parse back to the same
 * records. And, on a first byte of 'D', the DNS answer parser of
 * `spoofguard keys activate` (src/cli/keys_dns.c) on arbitrary packets. */
/* keys_dns.c, compiled in below, needs it before any system header */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/keys_state.h"
/* the CLI's DNS stub is not in a library: compiled in here */
#include "../src/cli/keys_dns.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kd_answer a;
    if (size > 3 && data[0] == 'D') {
        static const uint16_t types[] = {KD_TYPE_TXT, KD_TYPE_NS, KD_TYPE_A, KD_TYPE_AAAA};
        /* the packet's own id: the checks past it are the ones to reach */
        uint16_t id = (uint16_t)(data[2] << 8 | data[3]);
        kd_parse(data + 2, size - 2, id, "s._domainkey.ex.test", types[data[1] % 4], &a);
        return 0;
    }
    sgu_keys_state st = {0}, back = {0};
    char err[256], *text;
    size_t len;
    if (sgu_keys_state_parse(&st, (const char *)data, size, err, sizeof(err)) == 0) {
        if (sgu_keys_state_format(&st, &text, &len) != 0)
            abort();
        if (sgu_keys_state_parse(&back, text, len, err, sizeof(err)) != 0 || back.n != st.n)
            abort();
        for (size_t i = 0; i < st.n; i++)
            if (memcmp(&st.keys[i], &back.keys[i], sizeof(sgu_ks_key)) != 0)
                abort();
        free(text);
    }
    sgu_keys_state_free(&st);
    sgu_keys_state_free(&back);
    return 0;
}
