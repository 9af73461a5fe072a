/* spoofguard-view's pages (src/viewer/pages.c): the two escaping
 * functions on hostile text, and the list and message pages rendered from
 * a Maildir of hostile subjects and names: nothing from a message reaches
 * the page as markup, and nothing unverified looks verified. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth.h"
#include "index.h"
#include "pages.h"

static char *esc(void (*fn)(sg_cli_buf *, const char *), const char *s)
{
    sg_cli_buf b = {0};
    fn(&b, s);
    sg_cli_buf_putc(&b, '\0');
    return b.data;
}

static void text_escaping(void **state)
{
    static const struct {
        const char *in, *text, *attr;
    } cases[] = {
        {"plain", "plain", "plain"},
        {"<script>alert('x')</script>", "&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;",
         "&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;"},
        {"\"><img src=x onerror=alert(1)>", "&#34;&#62;&#60;img src=x onerror=alert(1)&#62;",
         "&#34;&#62;&#60;img src&#61;x onerror&#61;alert(1)&#62;"},
        {"a&amp;b", "a&#38;amp;b", "a&#38;amp;b"},
        {"`x`=y", "`x`=y", "&#96;x&#96;&#61;y"},
        /* controls dropped (TAB and LF kept in text), DEL dropped */
        {"a\x01\x1b[31mb\x7f", "a[31mb", "a[31mb"},
        {"l1\nl2\tx", "l1\nl2\tx", "l1&#10;l2&#9;x"},
        /* UTF-8 kept; invalid bytes as U+FFFD */
        {"caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac"},
        {"a\xff\xc0\x80z", "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz",
         "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz"},
        /* a right-to-left override ("invoice\u202Efdp.exe") and an isolate
         * cannot reorder the page; C1 controls go too */
        {"invoice\xe2\x80\xae"
         "fdp.exe",
         "invoice\xef\xbf\xbd"
         "fdp.exe",
         "invoice\xef\xbf\xbd"
         "fdp.exe"},
        {"x\xe2\x81\xa6y\xc2\x85z", "x\xef\xbf\xbdy\xef\xbf\xbdz", "x\xef\xbf\xbdy\xef\xbf\xbdz"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = esc(sgv_html_text, cases[i].in), *a = esc(sgv_html_attr, cases[i].in);
        assert_string_equal(t, cases[i].text);
        assert_string_equal(a, cases[i].attr);
        free(t);
        free(a);
    }
    char *n = esc(sgv_html_text, NULL);
    assert_true(n == NULL || n[0] == '\0');
    free(n);
}

/* ---- pages over a Maildir --------------------------------------------------------- */

static char root[64];
static const char *maildirs[1];

static void put(const char *rel, const char *content)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void render(sgv_app *app, void (*fn)(sgv_req *, sgv_resp *, const char *), const char *rest,
                   sgv_resp *r)
{
    sgv_req q;
    memset(&q, 0, sizeof(q));
    memset(r, 0, sizeof(*r));
    q.app = app;
    q.method = "GET";
    q.path = "/";
    q.body = "";
    q.has_session = sgv_auth_session(app->auth, NULL, 0, &q.sess);
    fn(&q, r, rest);
}

static void resp_free(sgv_resp *r)
{
    free(r->body);
    free(r->location);
    free(r->set_cookie);
    free(r->disposition);
}

/* Nothing a message holds becomes markup: no tag or attribute the page
 * did not write itself. */
static void assert_inert(const char *page)
{
    assert_null(strstr(page, "<script"));
    assert_null(strstr(page, "<img src=x"));
    /* as text ("&#60;img src=x onerror=...") it is harmless: only a tag is not */
    assert_null(strstr(page, "<b>bold"));
    assert_null(strstr(page, "\xe2\x80\xae")); /* no bidi override */
}

static void hostile_list_and_message(void **state)
{
    char p[128], err[256];
    sgv_config cfg;
    sgv_app app;
    sgv_resp r;
    snprintf(root, sizeof(root), "/tmp/sgv-pages-XXXXXX");
    assert_non_null(mkdtemp(root));
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", root, (const char *[]){"new", "cur", "tmp"}[i]);
        assert_int_equal(mkdir(p, 0700), 0);
    }
    put("new/1.host",
        "From: \"<b>bold</b> \\\"><img src=x onerror=alert(1)>\" <evil@attacker.example>\n"
        "Subject: <script>alert(document.cookie)</script> & invoice\xe2\x80\xae"
        "fdp.exe\n"
        "Date: Mon, 1 Dec 2026 10:00:00 +0000\n"
        "Content-Type: text/html\n\n"
        "<p onclick=\"alert(1)\">Hi <a href=\"javascript:alert(1)\">click</a>"
        "<script>alert(2)</script><a href=\"https://bank.example/\">bank</a></p>\n");
    put("new/2.host", "From: plain@example.org\nSubject: hello\n"
                      "Date: Tue, 2 Dec 2026 10:00:00 +0000\n\nhttps://example.org/x\n");

    memset(&cfg, 0, sizeof(cfg));
    maildirs[0] = root;
    cfg.maildirs = maildirs;
    cfg.nmaildirs = 1;
    cfg.listen = "127.0.0.1:1";
    memset(&app, 0, sizeof(app));
    app.cfg = &cfg;
    assert_int_equal(sgv_auth_new(&app.auth, NULL, err, sizeof(err)), 0);
    /* no resolver: nothing can be verified */
    assert_int_equal(sgv_index_new(&app.index, &cfg, NULL, err, sizeof(err)), 0);
    assert_int_equal(sgv_index_start(app.index), 0);
    assert_true(sgv_index_wait_idle(app.index, 20000));

    render(&app, sgv_page_list, "", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(r.body);
    assert_inert(r.body);
    assert_non_null(
        strstr(r.body, "&#60;script&#62;alert(document.cookie)&#60;/script&#62; &#38;"));
    assert_non_null(strstr(r.body, "<table id=\"messages\">"));
    /* newest first; unverifiable mail is never shown verified */
    const char *r2 = strstr(r.body, "<tr class=\"msg\"");
    assert_non_null(r2);
    assert_non_null(strstr(r2, "data-headline=\"unverified\""));
    assert_null(strstr(r.body, "data-headline=\"verified"));
    assert_true(strstr(r.body, "hello") < strstr(r.body, "&#60;script"));
    /* the message's ID from the list */
    const char *hostile_row = strstr(r.body, "<tr class=\"msg\" data-id=\"");
    hostile_row = strstr(hostile_row + 1, "<tr class=\"msg\" data-id=\"");
    assert_non_null(hostile_row);
    char id[SGV_ID_LEN + 1];
    memcpy(id, hostile_row + strlen("<tr class=\"msg\" data-id=\""), SGV_ID_LEN);
    id[SGV_ID_LEN] = '\0';
    resp_free(&r);

    render(&app, sgv_page_message, id, &r);
    assert_int_equal(r.status, 200);
    assert_inert(r.body);
    assert_non_null(strstr(r.body, "data-headline=\"unverified\""));
    assert_non_null(strstr(r.body, "sandbox=\"allow-popups allow-popups-to-escape-sandbox "
                                   "allow-top-navigation-by-user-activation\""));
    assert_null(strstr(r.body, "allow-scripts"));
    assert_null(strstr(r.body, "allow-same-origin"));
    resp_free(&r);

    char body_rest[64];
    snprintf(body_rest, sizeof(body_rest), "%s/body", id);
    render(&app, sgv_page_message, body_rest, &r);
    assert_int_equal(r.status, 200);
    assert_true(r.frameable);
    assert_non_null(strstr(r.csp, "default-src 'none'"));
    assert_null(strstr(r.body, "<script"));
    assert_null(strstr(r.body, "onclick"));
    assert_null(strstr(r.body, "javascript:alert(1)\""));
    assert_null(strstr(r.body, "href=")); /* unverified: inert links */
    resp_free(&r);

    /* the interstitial of link 0: unverified, so a confirmation, no way through */
    snprintf(body_rest, sizeof(body_rest), "%s/0", id);
    render(&app, sgv_page_link, body_rest, &r);
    if (r.status == 200) {
        assert_null(strstr(r.body, "id=\"link-continue\""));
        assert_inert(r.body);
    }
    resp_free(&r);

    /* unknown and malformed IDs */
    render(&app, sgv_page_message, "000000000000000000000000", &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    render(&app, sgv_page_message, "../../etc/passwd", &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);

    sgv_index_free(app.index);
    sgv_auth_free(app.auth);
    snprintf(p, sizeof(p), "rm -rf %s", root);
    assert_int_equal(system(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_escaping),
        cmocka_unit_test(hostile_list_and_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
