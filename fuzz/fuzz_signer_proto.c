/* libFuzzer: the signer protocol's decoders on arbitrary datagrams. A
 * datagram either is refused or decodes to fields inside it that encode
 * back to exactly the same bytes (one spelling per message). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "signer_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const void *p, size_t n, const uint8_t *data, size_t size)
{
    const uint8_t *b = p;
    if (n && (b < data || b + n > data + size))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[SG_SP_MAX_MSG];
    sg_sp_request rq;
    sg_sp_answer an;
    if (sg_sp_decode_request(data, size, &rq) == 0) {
        size_t n = rq.type == 'S' ? rq.n : 1;
        for (size_t i = 0; i < n; i++) {
            inside(rq.items[i].keyid, rq.items[i].keyid_len, data, size);
            if (rq.type == 'S')
                inside(rq.items[i].digest, 32, data, size);
        }
        size_t len = sg_sp_encode_request(out, sizeof(out), &rq);
        if (len != size || memcmp(out, data, size) != 0)
            abort();
    }
    if (sg_sp_decode_answer(data, size, &an) == 0) {
        for (size_t i = 0; i < an.n; i++)
            inside(an.sig[i], an.siglen[i], data, size);
        inside(an.reason, an.reason_len, data, size);
        size_t len = sg_sp_encode_answer(out, sizeof(out), &an);
        if (len != size || memcmp(out, data, size) != 0)
            abort();
    }
    return 0;
}
