/* libFuzzer: the whole inbound path the milter daemon runs on hostile mail
 * (message parser, DKIM, ARC, DMARC, SPF, Authentication-Results) on
 * arbitrary message bytes, against a small zone. Sender input never ends
 * in an internal error: the feed accepts the message or refuses it for
 * good (SG_ELIMIT, SG_ESYNTAX), finishing succeeds or refuses the same way, every verdict
 * comes with an Authentication-Results field that our strict parser reads
 * back, and a pass needs a DMARC pass. The seeds carry the counts a
 * sender controls (signatures, ARC sets, A-R and From fields) near and
 * past the caps; fuzz_verdict.dict gives the mutator the field names. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <spoofguard/arena.h>
#include <spoofguard/authres.h>
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
    if (rc != 0 && rc != SG_ELIMIT && rc != SG_ESYNTAX)
        abort();
    /* the end of the message can still show a malformed header (a last
     * line without a colon): refused for good like the feed's errors */
    if (rc == 0) {
        rc = sg_verdict_finish_sync(v, &res);
        if (rc != 0 && rc != SG_ELIMIT && rc != SG_ESYNTAX)
            abort();
    }
    if (rc == 0) {
        if (res == NULL)
            abort();
        if (res->authres == NULL || res->authres_line == NULL)
            abort();
        if (strstr(res->reason, "internal error") != NULL)
            abort();
        if (res->verdict == SG_VERDICT_AUTHENTIC && res->dmarc.result != SG_DMARC_RESULT_PASS)
            abort();
        /* the DMARC result never claims a definite fail the verdict
         * holds back as temporary */
        if (res->temporary && res->dmarc.result == SG_DMARC_RESULT_FAIL)
            abort();
        sg_arena *a;
        sg_authres ar;
        if (sg_arena_new(&a, 0) != 0)
            abort();
        if (sg_authres_parse(&ar, a, res->authres, strlen(res->authres), NULL) != 0 ||
            sg_authres_parse(&ar, a, res->authres_line, strlen(res->authres_line), NULL) != 0)
            abort();
        sg_arena_free(a);
    }
    sg_verdict_free(v);
    sg_resolver_free(r);
    sg_zone_free(z);
    return 0;
}
