/*
 * libFuzzer harness: the RFC 1035 master-file parser on hostile text,
 * then lookups through the zone resolver (CNAME chains, faults) and the
 * answer copy, so whatever the parser stored is also read back.
 */
#include <spoofguard/dns.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/zone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count_cb(const sg_dns_answer *a, void *payload)
{
    sg_dns_result res;
    size_t i, *n = payload;
    (*n)++;
    if (sg_dns_answer_copy(a, &res) == SG_OK) {
        /* touch every string so ASan sees bad pointers */
        for (i = 0; i < res.answer.count; i++) {
            const sg_dns_rr *rr = &res.answer.rrs[i];
            if ((rr->type == SG_DNS_TXT || rr->type == SG_DNS_SPF) && rr->u.txt.len > 0 &&
                rr->u.txt.data[rr->u.txt.len] != '\0')
                abort();
            if (rr->type == SG_DNS_MX && strlen(rr->u.mx.host) > 253)
                abort();
        }
        sg_dns_result_free(&res);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {
        "example.com", "www.example.com", "a.example.com", "b.example.com", "x", "a", ""};
    static const uint16_t types[] = {SG_DNS_A,   SG_DNS_AAAA,  SG_DNS_MX, SG_DNS_TXT,
                                     SG_DNS_PTR, SG_DNS_CNAME, SG_DNS_SPF};
    sg_zone *z;
    sg_resolver *r;
    size_t line, i, j, answered = 0, asked = 0;
    char qname[64];

    if (sg_zone_new(&z) != SG_OK)
        return 0;
    (void)sg_zone_load_text(z, (const char *)data, size, "example.com", &line);
    if (sg_resolver_new_zone(&r, z) != SG_OK) {
        sg_zone_free(z);
        return 0;
    }
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        for (j = 0; j < sizeof(types) / sizeof(types[0]); j++)
            if (sg_resolver_query(r, names[i], types[j], count_cb, &answered, NULL) == SG_OK)
                asked++;
    /* the input's first word as a name too (it is often an owner) */
    for (i = 0; i < size && i < sizeof(qname) - 1 && data[i] > ' '; i++)
        qname[i] = (char)data[i];
    qname[i] = '\0';
    for (j = 0; j < sizeof(types) / sizeof(types[0]); j++)
        if (sg_resolver_query(r, qname, types[j], count_cb, &answered, NULL) == SG_OK)
            asked++;
    while (sg_resolver_run(r, 0) > 0)
        ;
    if (answered != asked)
        abort();
    sg_resolver_free(r);
    sg_zone_free(z);
    return 0;
}
