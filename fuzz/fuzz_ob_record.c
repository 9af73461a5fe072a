/*
 * libFuzzer harness: the outbound account record decoder on hostile bytes
 * (a store hands back whatever it holds). Half the inputs get a correct
 * header and checksum put on, so the fuzzer reaches the field checks and
 * then the engine itself: a decoded record must survive a decision, a DSN,
 * its JSON view and a second encode; merging an empty record into it
 * changes nothing, and it merges into a fresh one (a host's memory carried
 * into Redis: sg_ob_account_merge).
 */
#include <spoofguard/outbound.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "outbound/ob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[SG_OB_ACCOUNT_MAX];
    sg_ob_policy *p = NULL;
    sg_ob_account *a = NULL;
    size_t len = 0;
    const char *rcpts[2] = {"x@far.example", "y@org.example"};
    sg_ob_message m = {1767571200,           "fuzz", "192.0.2.1", "f@org.example", rcpts, 2, 10,
                       (const uint8_t *)"h", 1};
    sg_ob_decision d;
    char *json = NULL;

    if (sg_ob_policy_new(&p) != SG_OK || sg_ob_account_new(&a) != SG_OK)
        abort();
    if (sg_ob_account_encode(a, buf, sizeof(buf), &len) != SG_OK)
        abort();
    if (size > 0 && (data[0] & 1)) {
        /* the body of a record, framed as the encoder frames it */
        size_t n = size - 1 < len - 20 ? size - 1 : len - 20;
        memcpy(buf + 12, data + 1, n);
        uint64_t h = sg_ob_hash((const char *)buf, len - 8, 0);
        for (int i = 0; i < 8; i++)
            buf[len - 8 + i] = (uint8_t)(h >> (8 * i));
        data = buf;
        size = len;
    }
    if (sg_ob_account_decode(a, data, size) == SG_OK) {
        static uint8_t before[SG_OB_ACCOUNT_MAX];
        size_t blen = 0;
        sg_ob_account *other = NULL;
        if (sg_ob_account_encode(a, before, sizeof(before), &blen) != SG_OK ||
            sg_ob_account_new(&other) != SG_OK || sg_ob_account_merge(a, other) != SG_OK ||
            sg_ob_account_encode(a, buf, sizeof(buf), &len) != SG_OK || len != blen ||
            memcmp(before, buf, len) != 0)
            abort(); /* an empty record adds nothing */
        /* merged twice (a carry retried): still a record decode takes */
        if (sg_ob_account_merge(other, a) != SG_OK || sg_ob_account_merge(other, a) != SG_OK ||
            sg_ob_account_encode(other, buf, sizeof(buf), &len) != SG_OK ||
            sg_ob_account_decode(other, buf, len) != SG_OK)
            abort();
        sg_ob_account_free(other);
        m.t = a->last_t > 0 && a->last_t <= SG_OB_TIME_MAX ? a->last_t : m.t;
        if (sg_ob_decide(p, a, NULL, &m, &d) != SG_OK)
            abort();
        if (sg_ob_note_dsn(p, a, m.t, "5.1.1", &d) != SG_OK)
            abort();
        /* the bounce memory the record brought, at its own time */
        if (sg_ob_note_dsn_sent(p, a, m.t, "5.1.1", "far.example", "org.example", rcpts, 2, NULL,
                                &d) != SG_OK)
            abort();
        if (sg_ob_account_json(p, a, m.t, &json) != SG_OK)
            abort();
        free(json);
        if (sg_ob_account_encode(a, buf, sizeof(buf), &len) != SG_OK)
            abort();
    }
    sg_ob_account_free(a);
    sg_ob_policy_free(p);
    return 0;
}
