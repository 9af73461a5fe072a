/*
 * libFuzzer: the DNS answer parser of the network backend
 * (sg_dns_ans_from_wire, src/lib/dns/cache.c) on response packets, for
 * every query type the resolver asks.
 *
 * Byte 0: the query type (low 7 bits modulo the table) and, with bit 7,
 * where the question comes from. The parser drops a packet whose question
 * is not the one asked, and the name comparison (octet by octet, escapes
 * decoded, case folded) is one the fuzzer's compare hooks cannot solve:
 * with bit 7 the name asked is the packet's own question, so mutated
 * packets keep reaching the answer section; without it the name asked is
 * example.com (the seeds' name), so the question check is fuzzed too.
 * The rest is the packet.
 *
 * Invariants: an answer comes back for every packet; records only with
 * NOERROR, each of the type asked, with TTLs under the cap and strings
 * that fit a presentation name; a name to follow only on a NODATA reached
 * through a CNAME; no more hops than the chain limit unless the answer is
 * a server failure.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The question name at offset 12 in presentation form, escaped as the
 * parser's own decoder writes it (RFC 1035 5.1), or 0 when it is not
 * plain labels (then the caller asks for example.com). */
static int question_name(const uint8_t *p, size_t len, char *out, size_t cap)
{
    size_t off = 12, o = 0;
    while (off < len && p[off] != 0) {
        size_t n = p[off++];
        if (n > 63 || n > len - off)
            return 0;
        if (o > 0)
            out[o++] = '.';
        for (size_t i = 0; i < n; i++, off++) {
            unsigned char c = p[off];
            if (o + 5 >= cap)
                return 0;
            if (c == '.' || c == '\\')
                o += (size_t)snprintf(out + o, cap - o, "\\%c", c);
            else if (c < 0x21 || c > 0x7E)
                o += (size_t)snprintf(out + o, cap - o, "\\%03u", c);
            else
                out[o++] = (char)c;
        }
    }
    if (off >= len)
        return 0;
    out[o] = '\0';
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t types[] = {SG_DNS_A,   SG_DNS_AAAA,  SG_DNS_MX, SG_DNS_TXT,
                                     SG_DNS_PTR, SG_DNS_CNAME, SG_DNS_SPF};
    static char qname[SG_DNS_PRESENTATION_MAX];
    if (size < 1)
        return 0;
    uint16_t qtype = types[(data[0] & 0x7f) % (sizeof(types) / sizeof(types[0]))];
    const char *name = "example.com";
    if ((data[0] & 0x80) && question_name(data + 1, size - 1, qname, sizeof(qname)))
        name = qname;
    char follow[SG_DNS_PRESENTATION_MAX];
    unsigned hops = 0;
    sg_dns_ans *ans = NULL;
    sg_dns_ans_limits lim = {.max_ttl = 86400, .neg_ttl = 300};
    int rc = sg_dns_ans_from_wire(&ans, data + 1, size - 1, name, qtype, &lim, follow, &hops);
    if (rc != 0) {
        if (rc != SG_ENOMEM)
            abort();
        return 0;
    }
    if (ans == NULL || ans->status > SG_DNS_SERVFAIL)
        abort();
    if ((ans->status == SG_DNS_NOERROR) != (ans->count > 0))
        abort();
    if (ans->ttl > lim.max_ttl || ans->cache_ttl > lim.max_ttl)
        abort();
    if (follow[0] != '\0' && (ans->status != SG_DNS_NODATA || hops == 0))
        abort();
    if (strlen(follow) >= SG_DNS_PRESENTATION_MAX)
        abort();
    if (ans->status != SG_DNS_SERVFAIL && hops > SG_DNS_MAX_CNAME_CHAIN)
        abort();
    for (size_t i = 0; i < ans->count; i++) {
        const sg_dns_rr *rr = &ans->rrs[i];
        if (rr->type != qtype || rr->ttl > lim.max_ttl)
            abort();
        if (qtype == SG_DNS_MX && strlen(rr->u.mx.host) >= SG_DNS_PRESENTATION_MAX)
            abort();
        if ((qtype == SG_DNS_PTR || qtype == SG_DNS_CNAME) &&
            strlen(rr->u.name) >= SG_DNS_PRESENTATION_MAX)
            abort();
        if ((qtype == SG_DNS_TXT || qtype == SG_DNS_SPF) &&
            (rr->u.txt.data[rr->u.txt.len] != '\0' || rr->u.txt.nstrings == 0 ||
             rr->u.txt.len > size))
            abort();
    }
    sg_dns_ans_unref(ans);
    return 0;
}
