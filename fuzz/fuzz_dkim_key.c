/*
 * libFuzzer harness: the DKIM key-record parser (tag list, v/k/h/s/t/p,
 * base64, SPKI / PKCS#1 / raw Ed25519 decoding through OpenSSL), through
 * the key cache so its hashing, eviction and reference counting run too.
 */
#include "dkim/dkim_int.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sg_dkim_keycache *cache; /* harness state only, kept across inputs */
    sg_dkim_key k;
    const char *reason = NULL;
    int rc;
    if (size > 16384)
        return 0;
    if (cache == NULL && sg_dkim_keycache_new(&cache, 64) != 0)
        abort();
    rc = sg_dkim_keycache_get(cache, (const char *)data, size, 300, 1000, &k, &reason);
    if (rc == 0) {
        if (k.pkey == NULL || (k.type != SG_DKIM_KEY_RSA && k.type != SG_DKIM_KEY_ED25519))
            abort();
    } else if (rc != SG_ENOMEM && (reason == NULL || k.pkey != NULL)) {
        abort();
    }
    sg_dkim_key_clear(&k);
    return 0;
}
