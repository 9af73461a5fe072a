/*
 * libFuzzer harness: the outbound spill file (src/outbound/obops.h), which
 * spoofguardd reads back at start. Any bytes: refused with nothing merged,
 * or merged whole; what was merged spills again and reads back to the
 * same records.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outbound/obops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_cb(void *ctx, const char *key, const uint8_t *v, size_t vlen)
{
    (void)key;
    (void)v;
    (void)vlen;
    (*(size_t *)ctx)++;
    return 0;
}

static size_t records(sg_obs *s)
{
    char err[256];
    size_t n = 0;
    if (sg_obs_each(s, count_cb, &n, err, sizeof(err)) != 0)
        abort();
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_obs *mem = NULL, *again = NULL;
    sg_obop_drained d, d2;
    char err[256], path[64];
    if (sg_obs_open(&mem, "memory:", NULL, err, sizeof(err)) != 0 ||
        sg_obs_open(&again, "memory:", NULL, err, sizeof(err)) != 0)
        abort();
    if (sg_obop_spill_parse(mem, data, size, &d, err, sizeof(err)) != 0) {
        if (records(mem) != 0) /* refused: nothing merged */
            abort();
    } else {
        /* the same key twice merges into one record */
        size_t n = records(mem);
        if (n > d.records || (d.records > 0 && n == 0))
            abort();
        snprintf(path, sizeof(path), "/tmp/fuzz-ob-spill.%d", (int)getpid());
        if (sg_obop_spill_save(mem, path, &d2, err, sizeof(err)) != 0 || d2.records != n)
            abort();
        if (n > 0 && (sg_obop_spill_load(again, path, &d2, err, sizeof(err)) != 0 ||
                      d2.records != n || records(again) != n))
            abort();
        unlink(path);
    }
    sg_obs_close(mem);
    sg_obs_close(again);
    return 0;
}
