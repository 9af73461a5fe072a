/* libFuzzer: the milter packet reader on arbitrary bytes, fed in chunks
 * whose sizes come from the input itself. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "milter_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_milter_reader r;
    sg_milter_cmd c;
    size_t off = 0;
    sg_milter_reader_init(&r, 64 * 1024);
    while (off < size) {
        size_t chunk = 1 + data[off] % 64;
        if (chunk > size - off)
            chunk = size - off;
        if (sg_milter_feed(&r, data + off, chunk) != SG_MILTER_OK)
            break;
        off += chunk;
        sg_milter_status st;
        while ((st = sg_milter_next(&r, &c)) == SG_MILTER_OK) {
            /* every decoded string must lie inside the packet */
            if (c.cmd == 'L' && c.u.header.value + c.u.header.value_len > c.data + c.len)
                abort();
        }
        if (st == SG_MILTER_EPROTO)
            break;
    }
    sg_milter_reader_free(&r);
    return 0;
}
