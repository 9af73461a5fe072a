/*
 * libFuzzer harness: the `accounts replay` event reader (src/common/
 * ob_event.c) on hostile lines, each event that parses then decided by
 * the engine as the replay does, on one shared account.
 */
#include <spoofguard/outbound.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ob_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_ob_policy *p = NULL;
    sg_ob_account *a = NULL, *dom = NULL;
    sgu_ob_event ev = {0};
    char err[256];
    const char *s = (const char *)data, *end = s + size;

    if (sg_ob_policy_new(&p) != SG_OK || sg_ob_account_new(&a) != SG_OK ||
        sg_ob_account_new(&dom) != SG_OK)
        abort();
    if (sg_ob_policy_add_internal_domain(p, "org.example") != SG_OK)
        abort();
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
        int rc = sgu_ob_event_parse(&ev, s, n, err, sizeof(err));
        if (rc == 0) {
            sg_ob_decision d;
            if (ev.is_dsn) {
                if (sg_ob_note_dsn(p, a, ev.t, ev.status, &d) != SG_OK)
                    abort();
            } else {
                sg_ob_message m = {ev.t,
                                   ev.login,
                                   ev.client_ip,
                                   ev.mail_from,
                                   ev.rcpts,
                                   ev.nrcpts,
                                   ev.size,
                                   (const uint8_t *)ev.body_hash,
                                   ev.body_hash ? strlen(ev.body_hash) : 0};
                if (sg_ob_decide(p, a, dom, &m, &d) != SG_OK)
                    abort();
            }
        } else if (rc == -1 && err[0] == '\0')
            abort(); /* a refusal always says why */
        s += n + 1;
    }
    sgu_ob_event_free(&ev);
    sg_ob_account_free(a);
    sg_ob_account_free(dom);
    sg_ob_policy_free(p);
    return 0;
}
