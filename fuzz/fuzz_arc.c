/*
 * libFuzzer harness for the ARC validator.
 *
 * The input is a message. It goes through the message parser into an ARC
 * verifier backed by a tiny zone holding one real 1024-bit key (the
 * ValiMail suite's dummy._domainkey.example.org) and the suite's other
 * keys, so inputs built from the suite's messages (fuzz/seeds/fuzz_arc:
 * one or two of each class of tests/conformance/arc/flat/validation)
 * reach the hashing and RSA paths and the chain walk after a passing
 * set. The first byte chooses the chunk size, so the streaming paths are
 * covered too. The
 * result must keep the API's promises (reason never NULL, count <=
 * instance <= 50, cv none only with no sets).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spoofguard/arc.h>
#include <spoofguard/dns.h>
#include <spoofguard/msg.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char key_rec[] =
    "\"v=DKIM1; k=rsa; "
    "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/"
    "J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/"
    "8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\"";

/* The suite's other keys (tests/conformance/arc/flat/validation/zone.tsv):
 * the 512/1024/2048-bit sealers of the as_fields_b_* tests, the second
 * signer, and the broken record of public_key_invalid, so that those
 * seeds meet the keys they were signed for. */
static const struct {
    const char *name, *txt;
} suite_keys[] = {
    {"dummy2._domainkey.example.org",
     "\"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6Np"
     "P3id Y6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsC"
     "R+yz1Lx j+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QID"
     "AQAB\""},
    {"512._domainkey.example.org",
     "\"v=DKIM1; k=rsa; p= MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAIWmlgix/84GJ+dfgjm7LTc9E"
     "Pdfk ftlgiPpCq4/kbDAZmU0VvYKDljjleJ1dfvS+CGy9U/kk1tG3EeEvb82xAcCAwEAAQ==\""},
    {"1024._domainkey.example.org",
     "\"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCyBwu6PiaDN87t3DVZ84"
     "zIrE hCoxtFuv7g52oCwAUXTDnXZ+0XHM/rhkm8XSGr1yLsDc1zLGX8IfITY1dL2CzptdgyiX7vgYj"
     "zZqG368 C8BtGB5m6nj26NyhSKEdlV7MS9KbASd359ggCeGTT5QjRKEMSauVyVSeapq6ZcpZ9JwQID"
     "AQAB\""},
    {"2048._domainkey.example.org",
     "\"v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAv+7VkwpTtICeJF"
     "M4Hf UZsvv2OaA+QMrW9Af1PpTOzVP0uvUFK20lcaxMvt81ia/sGYW4gHp/WUIk0BIQMPVhUeCIuM1"
     "mcOQNFS OflR8pLo916rjEZXpRP/XGo4HwWzdqD2qQeb3+fv1IrzfHiDb9THbamoz05EX7JX+wVSAh"
     "dSW/igwhA/ +beuzWR0RDDyGMT1b1Sb/lrGfwSXm7QoZQtj5PRiTX+fsL7WlzL+fBThySwS8ZBZcHc"
     "d8iWOSGKZ0gYK zxyuOf8VCX71C4xDhahN+HXWZFn9TZb+uZX9m+WXM3t+P8CdfxsaOdnVg6imgNDl"
     "UWX4ClLTZhco0Kmi BU+QIDAQAB\""},
    {"dummy2._domainkey.example2.org",
     "\"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDR3lRpGZS+xO96Znv/BP"
     "NQxi m7ZD0v6yFmZa9Rni5FHCeWuQwcp+PH/XXOyF6JsmB+kS0ybxJnx594ulqH2KvLMNsGAD+yRl2"
     "bJSXbBH ea7K9C5WX8Vjx3oPoGgw7QCONptnjUsbIIoxUZBEUe17eG44H/PbDqGwCBiyI20KEC/wID"
     "AQAB\""},
    {"invalid._domainkey.example.org", "\"v=DKIM1; k=rsa; omgwhatsgoingon\""},
};

static int on_headers(const sg_header *f, size_t n, void *p)
{
    return sg_arc_verify_headers(p, f, n);
}

static int on_body(const char *d, size_t n, void *p)
{
    return sg_arc_verify_body(p, d, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_zone *z = NULL;
    sg_resolver *r = NULL;
    sg_arc_verifier *v = NULL;
    sg_msg_parser *p = NULL;
    sg_msg_callbacks cbs = {on_headers, on_body, NULL};
    sg_arc_verify_opts opts;
    const sg_arc_result *res;
    size_t chunk;
    int rc = 0;

    if (size < 1)
        return 0;
    chunk = (size_t)data[0] + 1;
    data++;
    size--;
    if (sg_zone_new(&z) != 0)
        abort();
    if (sg_zone_add(z, "dummy._domainkey.example.org", "TXT", key_rec, 300) != 0)
        abort();
    (void)sg_zone_add(z, "slow._domainkey.example.org", "TXT", "TIMEOUT", 300);
    for (size_t i = 0; i < sizeof(suite_keys) / sizeof(suite_keys[0]); i++)
        if (sg_zone_add(z, suite_keys[i].name, "TXT", suite_keys[i].txt, 300) != 0)
            abort();
    if (sg_resolver_new_zone(&r, z) != 0)
        abort();
    sg_arc_verify_opts_init(&opts);
    opts.now = 1767225600;
    if (sg_arc_verifier_new(&v, r, NULL, &opts) != 0)
        abort();
    if (sg_msg_parser_new(&p, NULL, &cbs, v) != 0)
        abort();
    for (size_t off = 0; off < size && rc == 0; off += chunk)
        rc = sg_msg_feed(p, (const char *)data + off, size - off < chunk ? size - off : chunk);
    if (rc == 0)
        rc = sg_msg_finish(p);
    if (rc == 0) {
        if (sg_msg_in_body(p) == 0 && size == 0)
            (void)sg_arc_verify_headers(v, NULL, 0);
        rc = sg_arc_verify_wait(v);
        if (rc == 0) {
            if (sg_arc_verify_result(v, &res) != 0)
                abort();
            if (res->reason == NULL || res->count > res->instance ||
                res->instance > SG_ARC_MAX_INSTANCES)
                abort();
            if (res->cv == SG_ARC_NONE && res->instance != 0)
                abort();
            if (res->cv == SG_ARC_PASS && res->oldest_pass > res->instance)
                abort();
            for (size_t k = 0; k < res->count; k++)
                if (res->sets[k].instance != k + 1 || res->sets[k].ams_reason == NULL ||
                    res->sets[k].as_reason == NULL)
                    abort();
        }
    }
    sg_msg_parser_free(p);
    sg_arc_verifier_free(v);
    sg_resolver_free(r);
    sg_zone_free(z);
    return 0;
}
