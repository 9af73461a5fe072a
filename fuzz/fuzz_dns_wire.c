/* libFuzzer: the DNS answer parser of the network backend on arbitrary
 * response packets, for every query type it understands. */
#include <stddef.h>
#include <stdint.h>

#include "dns/cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t types[] = {SG_DNS_A, SG_DNS_AAAA, SG_DNS_MX, SG_DNS_TXT, SG_DNS_PTR};
    if (size < 1)
        return 0;
    uint16_t qtype = types[data[0] % 5];
    char follow[SG_DNS_PRESENTATION_MAX];
    unsigned hops = 0;
    sg_dns_ans *ans = NULL;
    sg_dns_ans_limits lim = {.max_ttl = 86400, .neg_ttl = 300};
    if (sg_dns_ans_from_wire(&ans, data + 1, size - 1, "example.com", qtype, &lim, follow, &hops) ==
        0)
        sg_dns_ans_unref(ans);
    return 0;
}
