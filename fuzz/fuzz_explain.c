/*
 * libFuzzer harness for what a reader is told (src/reader/explain.c): the
 * whole path, header, trusted Authentication-Results, MIME walk, body,
 * links and warnings, on arbitrary bytes.
 *
 * The first byte chooses the caller's verdict (none, or a fixed synthetic
 * one: authentic, unverified with a passing third-party signature,
 * forged) and whether links go to an interstitial; the rest is the
 * message. Invariants: sgr_explain never fails but for ENOMEM; without a
 * verdict and without our trusted A-R the headline is never verified nor
 * third party; a forged verdict stays forged unless our A-R is on top; in
 * unverified and forged mail every link is inert; the JSON is valid UTF-8
 * without NUL, an object.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/common/json.h"
#include "../src/reader/explain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define AUTHSERV "mx.fuzz.example"

static int href(char *buf, size_t cap, size_t index, const sgr_link *l, void *payload)
{
    (void)l;
    (void)payload;
    snprintf(buf, cap, "/link/F/%zu", index);
    return 0;
}

/* The reference set, built once: the harness's own state, not the
 * library's (explain keeps none). */
static const sgr_lookalike *checker(void)
{
    static sgr_lookalike *lk;
    if (lk == NULL) {
        sgr_lookalike_builder *b;
        if (sgr_lookalike_builder_new(&b, "") != SGR_LOOKALIKE_OK)
            abort();
        sgr_lookalike_builder_add(b, "paypal.com", 10, SGR_LOOKALIKE_PROTECTED);
        sgr_lookalike_builder_add(b, "shop.example", 12, SGR_LOOKALIKE_OPERATOR);
        if (sgr_lookalike_build(&lk, b) != SGR_LOOKALIKE_OK)
            abort();
    }
    return lk;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    const char *msg = (const char *)data + 1;
    size_t len = size - 1;

    static const sg_dkim_sig_result sigs[] = {
        {.result = SG_DKIM_PASS,
         .domain = "lists.example",
         .selector = "k1",
         .algorithm = "ed25519-sha256",
         .key_bits = 256,
         .field_index = 0},
    };
    sg_verdict_result v;
    memset(&v, 0, sizeof(v));
    v.reason = "synthetic";
    v.dkim = sigs;
    v.ndkim = 1;
    const sg_verdict_result *verdict = NULL;
    switch (mode & 3) {
    case 1:
        v.verdict = SG_VERDICT_AUTHENTIC;
        v.dmarc.result = SG_DMARC_RESULT_PASS;
        verdict = &v;
        break;
    case 2:
        v.verdict = SG_VERDICT_UNVERIFIED;
        verdict = &v;
        break;
    case 3:
        v.verdict = SG_VERDICT_FORGED;
        v.dmarc.result = SG_DMARC_RESULT_FAIL;
        verdict = &v;
        break;
    }
    sgr_explain_opts o;
    sgr_explain_opts_init(&o);
    o.authserv_id = AUTHSERV;
    o.lookalike = checker();
    /* the name rules read a display name against these (name_claims) */
    static const char *const protect[] = {"paypal.com", "bank.example"};
    o.protected_domains = protect;
    o.nprotected = 2;
    if (mode & 4)
        o.link_href = href;
    o.allow_remote_images = (mode & 8) != 0;

    sgr_explanation *e;
    int rc = sgr_explain(&e, msg, len, verdict, &o);
    if (rc == SGR_EXPLAIN_ENOMEM)
        return 0;
    if (rc != SGR_EXPLAIN_OK)
        abort();
    int trusted = sgr_explain_trusts_authres(msg, len, AUTHSERV);
    if (trusted != (e->verified_by == SGR_FROM_AUTHRES))
        abort();
    if (!trusted && verdict == NULL &&
        (e->headline == SGR_HEADLINE_VERIFIED || e->headline == SGR_HEADLINE_VERIFIED_THIRD_PARTY))
        abort();
    if (!trusted && verdict && verdict->verdict == SG_VERDICT_FORGED &&
        e->headline != SGR_HEADLINE_FORGED)
        abort();
    if (e->headline == SGR_HEADLINE_UNVERIFIED || e->headline == SGR_HEADLINE_FORGED)
        for (size_t i = 0; i < e->nlinks; i++)
            if (!e->links[i].inert)
                abort();
    if (e->remote_images_allowed && e->headline != SGR_HEADLINE_VERIFIED)
        abort();
    char *j;
    size_t jl;
    if (sgr_explain_json(e, &j, &jl) == SGR_EXPLAIN_OK) {
        if (jl < 2 || j[0] != '{' || j[jl - 1] != '}' || strlen(j) != jl)
            abort();
        for (size_t i = 0; i < jl;) {
            size_t l = sgu_utf8_len((const unsigned char *)j + i, jl - i);
            if (l == 0)
                abort();
            i += l;
        }
        free(j);
    }
    sgr_explain_free(e);
    return 0;
}
