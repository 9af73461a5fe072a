/*
 * libFuzzer harness: SPF record parser (RFC 7208 4.6, 12) and evaluator.
 * The input is parsed as is and with "v=spf1 " in front (so the fuzzer
 * need not find the version tag first); every domain-spec of a parsed
 * record is expanded, and the record is then published in a small zone
 * and evaluated by check_host() for an IPv4 and an IPv6 client, so the
 * state machine sees fuzzed terms, macros and includes.
 */
#include <stdlib.h>
#include <string.h>

#include "dns/zone.h"
#include "spf/spf_int.h"

/* Fixed part of the zone: includes and redirects can reach these. */
static const char base_zone[] =
    "$ORIGIN example.com.\n"
    "a       TXT \"v=spf1 a mx -all\"\n"
    "a       A 192.0.2.1\n"
    "a       AAAA 2001:db8::1\n"
    "a       MX 10 mx.a\n"
    "mx.a    A 192.0.2.2\n"
    "b       TXT \"v=spf1 include:a.example.com ptr ?all exp=e.example.com\"\n"
    "e       TXT \"%{i} %{c} %{p} %{r} %{t} %{S}\"\n"
    "loop    TXT \"v=spf1 include:loop.example.com\"\n"
    "t       TIMEOUT ANY\n"
    "1.2.0.192.in-addr.arpa. PTR a.example.com.\n"
    "f.example.com.  TXT \"v=spf1 include:fuzz.example.com redirect=fuzz.example.com\"\n";

static void evaluate(const char *text, size_t len)
{
    sg_zone *z;
    sg_resolver *res;
    sg_arena *a;
    sg_dns_rr rr;
    if (sg_zone_new(&z) != 0)
        return;
    if (sg_zone_load_text(z, base_zone, sizeof(base_zone) - 1, NULL, NULL) != 0)
        abort();
    memset(&rr, 0, sizeof(rr));
    rr.type = SG_DNS_TXT;
    rr.ttl = 300;
    rr.u.txt.data = text;
    rr.u.txt.len = len;
    rr.u.txt.nstrings = 1;
    if (sg_zone_add_rr(z, "fuzz.example.com", &rr) != 0 || sg_resolver_new_zone(&res, z) != 0) {
        sg_zone_free(z);
        return;
    }
    if (sg_arena_new(&a, 0) == 0) {
        static const char *const ips[] = {"192.0.2.1", "2001:db8::1"};
        static const char *const senders[] = {"user@fuzz.example.com", "x@f.example.com"};
        for (int i = 0; i < 4; i++) {
            sg_spf_request req;
            sg_spf_result r;
            sg_spf_request_init(&req);
            req.ip = ips[i & 1];
            req.mail_from = senders[i >> 1];
            req.helo = "helo.example.com";
            req.now = 1;
            if (sg_spf_check_sync(&r, a, res, &req) != 0)
                abort();
            if ((int)r.result < SG_SPF_NONE || r.result > SG_SPF_PERMERROR ||
                r.dns_lookups > SG_SPF_DEFAULT_DNS_TERMS + 1 ||
                r.void_lookups > SG_SPF_DEFAULT_VOID_LOOKUPS + 1)
                abort();
            if ((r.result == SG_SPF_FAIL) != (r.explanation != NULL))
                abort();
        }
        sg_arena_free(a);
    }
    sg_resolver_free(res);
    sg_zone_free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const sg_spf_macro_ctx ctx = {
    .sender = "strong-bad@email.example.com",
    .local = "strong-bad",
    .sender_domain = "email.example.com",
    .domain = "email.example.com",
    .ip_i = "192.0.2.3",
    .ip_c = "192.0.2.3",
    .ptr = "mx.example.org",
    .helo = "mx.example.org",
    .receiver = "rcv.example.net",
    .now = 1,
};

static void walk(const sg_spf_record *r)
{
    sg_arena *a;
    if (sg_arena_new(&a, 0) != 0)
        return;
    for (size_t i = 0; i < r->nmechs; i++) {
        const sg_spf_mech *m = &r->mechs[i];
        char *out;
        size_t n;
        if (m->cidr4 > 32 || m->cidr6 > 128 || m->text == NULL)
            abort();
        if (m->domain_spec != NULL) {
            /* the parser accepted it, so the expander must too */
            if (sg_spf_macro_expand(&out, &n, a, m->domain_spec, strlen(m->domain_spec), &ctx,
                                    SG_SPF_MACRO_DOMAIN, NULL) != 0)
                abort();
            if (strlen(out) != n)
                abort();
        }
    }
    sg_arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_spf_record *r = NULL;
    sg_spf_parse_error err;
    if (sg_spf_record_parse(&r, (const char *)data, size, &err) == 0) {
        walk(r);
        sg_spf_record_free(r);
    } else if (err.reason == NULL) {
        abort();
    }
    char *buf = malloc(size + 7);
    if (buf == NULL)
        return 0;
    memcpy(buf, "v=spf1 ", 7);
    if (size)
        memcpy(buf + 7, data, size);
    if (sg_spf_record_parse(&r, buf, size + 7, &err) == 0) {
        walk(r);
        sg_spf_record_free(sg_spf_record_ref(r));
        sg_spf_record_free(r);
    }
    /* evaluation is slower: keep inputs small enough for speed */
    if (size + 7 <= 512)
        evaluate(buf, size + 7);
    free(buf);
    return 0;
}
