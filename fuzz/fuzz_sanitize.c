/*
 * libFuzzer harness for the reader's HTML sanitizer (src/reader).
 *
 * The first byte chooses the options (link mode, remote and data images,
 * small depth and link bounds); the rest is the HTML. Not only "no crash":
 * the output must be inert when re-parsed by an HTML5 parser (the shared
 * oracle of tests/unit/xss_check.h: no script, no handler, no foreign
 * element, no URL but the interstitial/cid/data:image forms, no dangerous
 * CSS), valid UTF-8 without NUL, and stay inert when sanitized again; the
 * link list keeps its bounds. The same input also goes through the
 * text/plain renderer under the same checks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spoofguard/common.h>

#include "../src/reader/sanitize.h"
#include "../tests/unit/xss_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int link_cb(char *buf, size_t cap, size_t index, const sgr_link *l, void *payload)
{
    if (l == NULL || l->target == NULL || l->text == NULL || l->scheme == NULL)
        abort();
    snprintf(buf, cap, "/link/T/%zu", index);
    return 0;
}

static int cid_cb(char *buf, size_t cap, const char *cid, size_t n, void *payload)
{
    snprintf(buf, cap, "/cid/%zu", n);
    return 0;
}

static void check_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n || c == 0)
            abort();
        for (size_t k = 1; k < len; k++)
            if (((unsigned char)s[i + k] & 0xC0) != 0x80)
                abort();
        i += len;
    }
}

static void check(const sgr_sanitize_result *r, const sgr_sanitize_opts *o, int allow_remote)
{
    char why[256];
    if (r->html == NULL || strlen(r->html) != r->html_len)
        abort();
    check_utf8(r->html, r->html_len);
    const char *bad = xss_check(r->html, r->html_len, allow_remote, why, sizeof why);
    if (bad != NULL) {
        fprintf(stderr, "NOT INERT: %s\n%s\n", bad, r->html);
        abort();
    }
    if (r->links.n > o->max_links)
        abort();
    for (size_t i = 0; i < r->links.n; i++) {
        const sgr_link *l = &r->links.v[i];
        if (l->target == NULL || l->text == NULL || strlen(l->text) > SGR_LINK_TEXT_MAX ||
            strlen(l->target) > SGR_LINK_TARGET_MAX)
            abort();
        check_utf8(l->text, strlen(l->text));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned f = data[0];
    sgr_sanitize_opts o;
    sgr_sanitize_opts_init(&o);
    o.link_href = link_cb;
    o.cid_src = (f & 1) ? cid_cb : NULL;
    o.link_mode = (f & 2) ? SGR_LINKS_INERT : SGR_LINKS_INTERSTITIAL;
    o.allow_remote_images = (f >> 2) & 1;
    o.allow_data_images = (f >> 3) & 1;
    if (f & 0x10)
        o.max_depth = 1 + (f >> 5);
    if (f & 0x20)
        o.max_links = 1 + (f >> 6);
    o.max_input = 1u << 20;
    const char *html = (const char *)data + 1;
    size_t n = size - 1;

    sgr_sanitize_result r, r2;
    int rc = sgr_sanitize_html(&r, html, n, &o);
    if (rc != 0 && rc != SG_ELIMIT)
        abort();
    if (rc == 0) {
        check(&r, &o, o.allow_remote_images);
        /* a second pass over our own output stays inert too */
        if (sgr_sanitize_html(&r2, r.html, r.html_len, &o) == 0) {
            check(&r2, &o, o.allow_remote_images);
            sgr_sanitize_result_free(&r2);
        }
    }
    sgr_sanitize_result_free(&r);

    /* text/plain: the bytes may not be UTF-8 (the caller converts, but a
     * bad part must not break the page): the output is still inert */
    rc = sgr_text_to_html(&r, html, n, &o);
    if (rc != 0 && rc != SG_ELIMIT)
        abort();
    if (rc == 0) {
        char why[256];
        if (xss_check(r.html, r.html_len, 0, why, sizeof why) != NULL)
            abort();
    }
    sgr_sanitize_result_free(&r);
    return 0;
}
