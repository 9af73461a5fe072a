/*
 * libFuzzer harness for the ARC sealer.
 *
 * The input is a message, read once by the ARC verifier and the sealer
 * together (as `spoofguard arc-seal` and a sealing daemon do); the
 * sealer gets the verifier's cv= after the body and signs in the split
 * rounds with a constant stand-in signature (the digests, not RSA, are
 * under test). Promises checked, whatever the sender wrote:
 *   - cv= from our verifier never makes the sealer refuse (SG_EINVAL);
 *   - a set is added, or none with a reason, never both or neither;
 *   - the three fields are well formed: every CR is a CRLF, every LF
 *     not followed by a space ends the field where we meant it to (no
 *     header injection through the results or the message).
 * The first byte chooses the chunk size.
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

struct both {
    sg_arc_verifier *v;
    sg_arc_sealer *s;
    int seal_rc;
};

static int on_headers(const sg_header *f, size_t n, void *p)
{
    struct both *b = p;
    int rc = sg_arc_verify_headers(b->v, f, n);
    b->seal_rc = sg_arc_seal_headers(b->s, f, n);
    return rc;
}

static int on_body(const char *d, size_t n, void *p)
{
    struct both *b = p;
    int rc = sg_arc_verify_body(b->v, d, n);
    if (rc == 0 && b->seal_rc == 0 && sg_arc_seal_body(b->s, d, n) != 0)
        abort();
    return rc;
}

/* The three fields: CRLF-terminated, folds are CRLF + SP, three lines
 * start at column 0, each with its own name. */
static void check_fields(const char *o, size_t n)
{
    static const char *const names[3] = {
        "ARC-Seal: ", "ARC-Message-Signature: ", "ARC-Authentication-Results: "};
    size_t starts = 0;
    for (size_t i = 0; i < n; i++) {
        if (o[i] == '\r' && (i + 1 >= n || o[i + 1] != '\n'))
            abort();
        if (o[i] == '\n' && (i == 0 || o[i - 1] != '\r'))
            abort();
        if (i == 0 || o[i - 1] == '\n') {
            if (o[i] == ' ')
                continue;
            if (starts >= 3 || strncmp(o + i, names[starts], strlen(names[starts])) != 0)
                abort();
            starts++;
        }
    }
    if (starts != 3 || n < 2 || o[n - 1] != '\n')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_zone *z = NULL;
    sg_resolver *r = NULL;
    struct both b = {0};
    sg_msg_parser *p = NULL;
    sg_msg_callbacks cbs = {on_headers, on_body, NULL};
    sg_arc_verify_opts vo;
    sg_arc_seal_opts so;
    const sg_arc_result *res;
    size_t chunk;
    int rc = 0;

    if (size < 1)
        return 0;
    chunk = (size_t)data[0] + 1;
    data++;
    size--;
    if (sg_zone_new(&z) != 0 ||
        sg_zone_add(z, "dummy._domainkey.example.org", "TXT", key_rec, 300) != 0 ||
        sg_resolver_new_zone(&r, z) != 0)
        abort();
    sg_arc_verify_opts_init(&vo);
    vo.now = 1767225600;
    sg_arc_seal_opts_init(&so);
    so.domain = "example.org";
    so.selector = "dummy";
    so.authserv_id = "mx.example.org";
    so.results = "spf=pass smtp.mailfrom=example.org; dmarc=pass header.from=example.org";
    so.timestamp = 1767225000;
    if (sg_arc_verifier_new(&b.v, r, NULL, &vo) != 0 || sg_arc_sealer_new(&b.s, &so) != 0 ||
        sg_msg_parser_new(&p, NULL, &cbs, &b) != 0)
        abort();
    for (size_t off = 0; off < size && rc == 0; off += chunk)
        rc = sg_msg_feed(p, (const char *)data + off, size - off < chunk ? size - off : chunk);
    if (rc == 0)
        rc = sg_msg_finish(p);
    if (rc == 0 && sg_msg_in_body(p) && b.seal_rc == 0 && sg_arc_verify_wait(b.v) == 0) {
        const char *out;
        size_t olen = 0;
        uint8_t digest[32], sig[128];
        memset(sig, 0x5a, sizeof(sig));
        if (sg_arc_verify_result(b.v, &res) != 0)
            abort();
        sg_arc_sealer_set_cv(b.s, res->cv);
        if (sg_arc_seal_instance(b.s) == 0) {
            if (sg_arc_seal_skip_reason(b.s) == NULL ||
                sg_arc_seal_digest(b.s, digest) != SG_ESTATE)
                abort();
        } else {
            if (sg_arc_seal_skip_reason(b.s) != NULL)
                abort();
            for (int round = 0; round < 2; round++)
                if (sg_arc_seal_digest(b.s, digest) != 0 ||
                    sg_arc_seal_complete(b.s, sig, sizeof(sig)) != 0)
                    abort(); /* SG_EINVAL here: sealer and verifier disagree */
        }
        if (sg_arc_seal_finish(b.s, &out, &olen) != 0)
            abort();
        if (olen > 0)
            check_fields(out, olen);
        else if (sg_arc_seal_instance(b.s) != 0)
            abort();
    }
    sg_msg_parser_free(p);
    sg_arc_sealer_free(b.s);
    sg_arc_verifier_free(b.v);
    sg_resolver_free(r);
    sg_zone_free(z);
    return 0;
}
