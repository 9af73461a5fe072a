/* libFuzzer: the whole inbound path the milter daemon runs on hostile mail
 * (message parser, DKIM, ARC, DMARC, SPF, Authentication-Results) on
 * arbitrary message bytes, against a small zone. Every verdict must come
 * with an Authentication-Results field, and a pass needs a DMARC pass. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <spoofguard/verdict.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char zone_text[] =
    "$ORIGIN example.\n"
    "@ IN TXT \"v=spf1 ip4:192.0.2.1 include:_s.example -all\"\n"
    "_s IN TXT \"v=spf1 a mx ~all\"\n"
    "@ IN MX 10 mx\nmx IN A 192.0.2.1\n"
    "_dmarc IN TXT \"v=DMARC1; p=reject; sp=quarantine; adkim=r\"\n"
    "k._domainkey IN TXT \"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"\n"
    "sub TIMEOUT TXT\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_zone *z = NULL;
    sg_resolver *r = NULL;
    sg_verdict *v = NULL;
    const sg_verdict_result *res = NULL;
    const char *protect[] = {"example"};
    if (sg_zone_new(&z) != 0 ||
        sg_zone_load_text(z, zone_text, strlen(zone_text), NULL, NULL) != 0 ||
        sg_resolver_new_zone(&r, z) != 0)
        abort();
    sg_verdict_opts o;
    sg_verdict_opts_init(&o);
    o.now = 1767225600;
    o.protected_domains = protect;
    o.nprotected = 1;
    if (sg_verdict_new(&v, r, &o) != 0)
        abort();
    sg_verdict_envelope env = {
        .client_ip = "192.0.2.7", .helo = "mx.example", .mail_from = "a@example"};
    if (sg_verdict_envelope_set(v, &env) != 0)
        abort();
    /* chunk sizes from the first byte */
    size_t step = size ? 1 + data[0] % 97 : 1, off = 0;
    int rc = 0;
    while (off < size && rc == 0) {
        size_t n = size - off < step ? size - off : step;
        rc = sg_verdict_feed(v, (const char *)data + off, n);
        off += n;
    }
    if (rc == 0 && sg_verdict_finish_sync(v, &res) == 0) {
        if (res->authres == NULL || res->authres_line == NULL)
            abort();
        if (res->verdict == SG_VERDICT_AUTHENTIC && res->dmarc.result != SG_DMARC_RESULT_PASS)
            abort();
    }
    sg_verdict_free(v);
    sg_resolver_free(r);
    sg_zone_free(z);
    return 0;
}
