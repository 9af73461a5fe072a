/*
 * The reader's HTML sanitizer and link list (src/reader): the XSS corpus
 * in tests/data/xss must come out 100% inert, judged by re-parsing the
 * output with gumbo (xss_check.h); benign mail must survive with known
 * output; links are listed with the targets a browser would follow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spoofguard/common.h>

#include "helpers.h"
#include "sanitize.h"
#include "xss_check.h"

/* ---- callbacks the viewer would supply ---------------------------------- */

static int link_cb(char *buf, size_t cap, size_t index, const sgr_link *l, void *payload)
{
    snprintf(buf, cap, "/link/T/%zu", index);
    return 0;
}

static int cid_cb(char *buf, size_t cap, const char *cid, size_t n, void *payload)
{
    /* the viewer serves parts by an id of its own; the test shows the cid */
    size_t k = snprintf(buf, cap, "/cid/");
    for (size_t i = 0; i < n && k + 4 < cap; i++) {
        unsigned char c = (unsigned char)cid[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '@' || c == '-' || c == '_')
            buf[k++] = (char)c;
        else
            k += snprintf(buf + k, cap - k, "%%%02X", c);
    }
    buf[k] = '\0';
    return 0;
}

static void opts_for(sgr_sanitize_opts *o, int inert, int remote)
{
    sgr_sanitize_opts_init(o);
    o->link_href = link_cb;
    o->cid_src = cid_cb;
    o->link_mode = inert ? SGR_LINKS_INERT : SGR_LINKS_INTERSTITIAL;
    o->allow_remote_images = remote;
}

static char *san(const char *html, int inert, int remote, sgr_sanitize_result *r)
{
    sgr_sanitize_opts o;
    opts_for(&o, inert, remote);
    assert_int_equal(sgr_sanitize_html(r, html, strlen(html), &o), 0);
    return r->html;
}

/* ---- the oracle can fail ---------------------------------------------------- */

static void test_checker_detects(void **state)
{
    static const char *const bad[] = {
        "<img src=x onerror=alert(1)>",
        "<a href=\"javascript:alert(1)\">x</a>",
        "<a href=\"https://evil.example/\">x</a>",
        "<svg></svg>",
        "<math></math>",
        "<script>x</script>",
        "<div style=\"background:url(x)\">x</div>",
        "<style>p{background:u\\rl(x)}</style>",
        "<img src=\"http://evil.example/t.gif\">",
        "<meta http-equiv=refresh content=0>",
        "<iframe srcdoc=x></iframe>",
        "<form action=x></form>",
        "<p ONCLICK=x>",
        "<noscript>x</noscript>",
        "<img src=\"data:image/svg+xml;base64,PHN2Zz4=\">",
        "<x-custom>x</x-custom>",
    };
    char why[200];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *w = xss_check(bad[i], strlen(bad[i]), 0, why, sizeof why);
        if (w == NULL)
            fail_msg("oracle missed: %s", bad[i]);
    }
    const char *ok = "<p style=\"color:red\">x<a href=\"/link/T/0\">y</a>"
                     "<img src=\"/cid/a@b\"><img src=\"data:image/png;base64,iVBO\"></p>";
    assert_null(xss_check(ok, strlen(ok), 0, why, sizeof why));
    const char *remote = "<img src=\"https://cdn.example/a.png\">";
    assert_non_null(xss_check(remote, strlen(remote), 0, why, sizeof why));
    assert_null(xss_check(remote, strlen(remote), 1, why, sizeof why));
}

/* ---- the corpus --------------------------------------------------------------- */

static const char *corpus_dir(void)
{
    const char *d = getenv("SG_XSS_CORPUS");
    static char buf[4096];
    if (d != NULL)
        return d;
    snprintf(buf, sizeof buf, "%s/xss", sg_test_data_dir());
    return buf;
}

/* Decodes the corpus escapes of one line in place; returns its length. */
static size_t unescape(char *s)
{
    size_t k = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] != '\\' || s[i + 1] == '\0') {
            s[k++] = s[i];
            continue;
        }
        char c = s[++i];
        if (c == 'n')
            s[k++] = '\n';
        else if (c == 'r')
            s[k++] = '\r';
        else if (c == 't')
            s[k++] = '\t';
        else if (c == '0')
            s[k++] = '\0';
        else if (c == '\\')
            s[k++] = '\\';
        else if (c == 'x' && s[i + 1] && s[i + 2]) {
            char h[3] = {s[i + 1], s[i + 2], 0};
            s[k++] = (char)strtol(h, NULL, 16);
            i += 2;
        } else {
            s[k++] = '\\';
            s[k++] = c;
        }
    }
    s[k] = '\0';
    return k;
}

static size_t n_cases, n_inert;

/* SG_XSS_DUMP=DIR: every case's input and output as files, for the
 * browser check (tests/browser/xss_chromium.py). */
static void dump_case(const char *in, size_t n, const char *out, size_t on)
{
    const char *dir = getenv("SG_XSS_DUMP");
    char path[4096];
    if (dir == NULL)
        return;
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/case%04zu.%s.html", dir, n_cases, k ? "out" : "in");
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(k ? out : in, 1, k ? on : n, f), k ? on : n);
        fclose(f);
    }
}

/* One case through both modes: interstitial links without remote images,
 * inert links with remote images allowed. */
static void run_case(const char *file, const char *html, size_t n)
{
    for (int mode = 0; mode < 2; mode++) {
        sgr_sanitize_opts o;
        sgr_sanitize_result r;
        char why[256];
        opts_for(&o, mode, mode);
        int rc = sgr_sanitize_html(&r, html, n, &o);
        if (rc != 0)
            fail_msg("%s: sanitize failed %d on %.*s", file, rc, (int)n, html);
        const char *w = xss_check(r.html, r.html_len, mode, why, sizeof why);
        if (mode == 0)
            dump_case(html, n, r.html, r.html_len);
        if (w != NULL)
            fail_msg("%s: NOT INERT (%s)\n  in:  %.*s\n  out: %s", file, w, (int)n, html, r.html);
        sgr_sanitize_result_free(&r);
    }
    n_cases++;
    n_inert++;
}

static void test_corpus(void **state)
{
    static const char *const files[] = {"script.txt",        "handlers.txt", "urls.txt",
                                        "foreign.txt",       "mxss.txt",     "css.txt",
                                        "meta-base-form.txt"};
    char path[8192];
    n_cases = n_inert = 0;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t len, before = n_cases;
        snprintf(path, sizeof path, "%s/%s", corpus_dir(), files[f]);
        char *text = sg_test_read_file(path, &len);
        if (text == NULL)
            fail_msg("cannot read %s", path);
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            if (line[0] == '#' || line[0] == '\0')
                continue;
            size_t n = unescape(line);
            run_case(files[f], line, n);
        }
        free(text);
        printf("xss corpus: %-20s %3zu cases inert\n", files[f], n_cases - before);
        assert_true(n_cases - before >= 20);
    }

    /* every event handler attribute, on several elements and spellings */
    snprintf(path, sizeof path, "%s/event-handlers.txt", corpus_dir());
    size_t len, names = 0, before = n_cases;
    char *text = sg_test_read_file(path, &len);
    assert_non_null(text);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char upper[64], mixed[64], html[512];
        size_t i;
        for (i = 0; line[i] && i < 63; i++) {
            upper[i] = (char)(line[i] >= 'a' && line[i] <= 'z' ? line[i] - 32 : line[i]);
            mixed[i] = (i % 2) ? upper[i] : line[i];
        }
        upper[i] = mixed[i] = '\0';
        const char *forms[] = {
            "<img src=x %s=alert(1)>",
            "<div %s=\"alert(1)\" style=\"color:red\">x</div>",
            "<body %s=alert(1)>x</body>",
            "<svg %s=alert(1)><circle r=9 /></svg>",
            "<a href=\"https://ok.example/\" %s=alert(1)>x</a>",
            "<table><tr><td %s=alert(1)>x</td></tr></table>",
        };
        const char *spell[] = {line, upper, mixed, line, mixed, upper};
        for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++) {
            snprintf(html, sizeof html, forms[k], spell[k]);
            run_case("event-handlers", html, strlen(html));
        }
        names++;
    }
    free(text);
    printf("xss corpus: %-20s %3zu cases inert (%zu handler names x 6 forms)\n",
           "event-handlers.txt", n_cases - before, names);
    assert_true(names >= 100);
    printf("xss corpus: %zu/%zu cases inert (100%%), each in interstitial and inert mode\n",
           n_inert, n_cases);
    assert_int_equal(n_inert, n_cases);
}

/* ---- benign content survives (known output) ----------------------------------- */

static void expect(const char *in, const char *out)
{
    sgr_sanitize_result r;
    san(in, 0, 0, &r);
    if (strcmp(r.html, out) != 0)
        fail_msg("in:   %s\nwant: %s\ngot:  %s", in, out, r.html);
    sgr_sanitize_result_free(&r);
}

static void test_benign(void **state)
{
    expect("<p>Hello <b>world</b> &amp; <i>you</i></p>",
           "<p>Hello <b>world</b> &amp; <i>you</i></p>");
    expect("<html><head><title>T</title></head><body><h1>Hi</h1><p>x</p></body></html>",
           "<h1>Hi</h1><p>x</p>");
    expect("<table border=1 cellpadding=\"4\"><tr><td colspan=2 align=center>a</td></tr></table>",
           "<table border=\"1\" cellpadding=\"4\"><tbody><tr><td colspan=\"2\" "
           "align=\"center\">a</td></tr></tbody></table>");
    expect("<ul><li>one<li>two</ul><ol start=3><li>three</ol>",
           "<ul><li>one</li><li>two</li></ul><ol start=\"3\"><li>three</li></ol>");
    expect("<p style=\"color: red; background: url(x); font-size:12px\">x</p>",
           "<p style=\"color:red;font-size:12px;\">x</p>");
    expect("<p style=\"font-family: 'Helvetica Neue', Arial; COLOR:#333 !important\">x</p>",
           "<p style=\"font-family:&#39;Helvetica Neue&#39;, Arial;color:#333 !important;\">x</p>");
    expect("<style>p { color: red } @import url(x); .a{background:url(x)} td{padding:2px}</style>"
           "<p>x</p>",
           "<style>p{color:red;}td{padding:2px;}</style><p>x</p>");
    expect("<div>a<br>b<hr>c</div><pre>\nline</pre>", "<div>a<br>b<hr>c</div><pre>line</pre>");
    expect("<pre>\n\nline</pre>", "<pre>\n\nline</pre>");
    expect("<p>1 &lt; 2 &gt; 0 \"q\" 'a'</p>", "<p>1 &lt; 2 &gt; 0 &quot;q&quot; &#39;a&#39;</p>");
    expect("<font face=Arial color=\"#f00\" size=2>x</font><center>c</center>",
           "<font face=\"Arial\" color=\"#f00\" size=\"2\">x</font><center>c</center>");
    expect("<o:p>office</o:p><custom-tag>t</custom-tag><form>in form</form>", "office"
                                                                              "t"
                                                                              "in form");
    expect("<p class=\"a sg-link-target b\">x</p>", "<p class=\"a b\">x</p>");
    expect("<blockquote type=cite>quoted</blockquote>",
           "<blockquote type=\"cite\">quoted</blockquote>");
    expect("caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac");
    /* negative offsets paint a box over what came before (a fake target
     * over an inert link's real one: adv17 F3); positive ones stay */
    expect("<span style=\"display:inline-block;margin-left:-17em;width:17em\">x</span>",
           "<span style=\"display:inline-block;width:17em;\">x</span>");
    expect("<p style=\"margin:0 -.5em 0 0;text-indent:-9999px;letter-spacing:-3px;"
           "word-spacing:-1em;margin-top:calc(1em - 40px);margin-left:4px\">x</p>",
           "<p style=\"margin-left:4px;\">x</p>");
    expect("<style>.a{margin: 0 auto; margin-left:-2em; text-indent: 2em}</style>x",
           "<style>.a{margin:0 auto;text-indent:2em;}</style>x");
}

static void test_images(void **state)
{
    sgr_sanitize_result r;
    san("<img alt=Logo src=\"cid:logo%40mail.example\">", 0, 0, &r);
    assert_string_equal(r.html, "<img alt=\"Logo\" src=\"/cid/logo@mail.example\">");
    sgr_sanitize_result_free(&r);

    san("<img src=\"https://cdn.example/p.png\" width=10>"
        "<table background=\"http://cdn.example/b.gif\"><tr><td>x</td></tr></table>",
        0, 0, &r);
    assert_string_equal(r.html,
                        "<img width=\"10\"><table><tbody><tr><td>x</td></tr></tbody></table>");
    assert_int_equal(r.remote_images_blocked, 2);
    sgr_sanitize_result_free(&r);

    san("<img src=\" https://cdn.example/p.png\" width=10>", 0, 1, &r);
    assert_string_equal(r.html, "<img src=\"https://cdn.example/p.png\" width=\"10\">");
    assert_int_equal(r.remote_images_blocked, 0);
    sgr_sanitize_result_free(&r);

    san("<img src=\"data:image/png;base64,iVBORw0KGgo=\"><img "
        "src=\"data:image/svg+xml;base64,AA\">",
        0, 0, &r);
    assert_string_equal(r.html, "<img src=\"data:image/png;base64,iVBORw0KGgo=\"><img>");
    sgr_sanitize_result_free(&r);

    /* without a cid callback, cid images go */
    sgr_sanitize_opts o;
    opts_for(&o, 0, 0);
    o.cid_src = NULL;
    o.allow_data_images = 0;
    assert_int_equal(
        sgr_sanitize_html(&r, "<img src=cid:a><img src=\"data:image/png;base64,AA\">", 52, &o), 0);
    assert_string_equal(r.html, "<img><img>");
    sgr_sanitize_result_free(&r);
}

/* ---- links ----------------------------------------------------------------------- */

static void test_links_html(void **state)
{
    sgr_sanitize_result r;
    const char *in =
        "<p><a href=\"https://www.example.com/a?b=1\">Example</a> "
        "<a href=\"https://evil.example/login\">www.paypal.com</a> "
        "<a href=\"https://www.paypal.com/signin\">paypal.com</a> "
        "<a href=\"http&#58;//ex&#97;mple.org/\n\">entity</a> "
        "<a href=\"javascript:alert(1)\">js</a> "
        "<a href=\"https://www.paypal.com@evil.example/\">x</a> "
        "<a href=\"https://b\xc3\xbc"
        "cher.example/\">idn</a> "
        "<a href=\"https:\\\\evil.example\\x\">backslash</a> "
        "<a href=\"mailto:support@bank.example\">support@evil.example</a> "
        "<a href=\"http://0x7f.1/\">ip</a> "
        "<a href=\"https://example.net/\"><img alt=\"Visit example.net\" src=cid:x></a></p>";
    san(in, 0, 0, &r);
    assert_int_equal(r.links.n, 11);
    const sgr_link *l = r.links.v;

    assert_string_equal(l[0].target, "https://www.example.com/a?b=1");
    assert_string_equal(l[0].text, "Example");
    assert_string_equal(l[0].scheme, "https");
    assert_string_equal(l[0].host, "www.example.com");
    assert_string_equal(l[0].registrable_domain, "example.com");
    assert_int_equal(l[0].flags, 0);

    assert_string_equal(l[1].host, "evil.example");
    assert_string_equal(l[1].text_host, "www.paypal.com");
    assert_true(l[1].flags & SGR_LINK_TEXT_MISMATCH);

    assert_string_equal(l[2].text_host, "paypal.com");
    assert_false(l[2].flags & SGR_LINK_TEXT_MISMATCH);

    assert_string_equal(l[3].target, "http://example.org/");
    assert_string_equal(l[3].host, "example.org");

    assert_string_equal(l[4].scheme, "javascript");
    assert_true(l[4].flags & SGR_LINK_BLOCKED);

    assert_string_equal(l[5].host, "evil.example");
    assert_true(l[5].flags & SGR_LINK_USERINFO);

    assert_string_equal(l[6].host, "xn--bcher-kva.example");
    assert_string_equal(l[6].host_unicode, "b\xc3\xbc"
                                           "cher.example");

    assert_string_equal(l[7].host, "evil.example");

    assert_string_equal(l[8].scheme, "mailto");
    assert_string_equal(l[8].host, "bank.example");
    assert_true(l[8].flags & SGR_LINK_TEXT_MISMATCH);

    assert_true(l[9].flags & SGR_LINK_IP_HOST);

    assert_string_equal(l[10].text, "Visit example.net");
    assert_false(l[10].flags & SGR_LINK_TEXT_MISMATCH);

    /* the output has the interstitial hrefs, never a target */
    assert_non_null(
        strstr(r.html, "<a href=\"/link/T/0\" rel=\"noopener noreferrer\">Example</a>"));
    assert_null(strstr(r.html, "href=\"http"));
    assert_null(strstr(r.html, "href=\"mailto"));
    assert_null(strstr(r.html, "href=\"javascript"));
    assert_null(strstr(r.html, "/link/T/4")); /* javascript: is never navigable */
    assert_non_null(strstr(r.html, "<span class=\"sg-inert-link\">js</span>"));
    sgr_sanitize_result_free(&r);
}

/* What a link's target and text really say (adv17 F1, F2, F4): each row
 * a target and a text, the host and target the reader is shown, and the
 * flags that must and must not be set. */
static void test_links_describe(void **state)
{
    static const struct {
        const char *target, *text, *host, *shown;
        unsigned set, unset;
    } rows[] = {
        /* without "//" a browser on an http page reads a path of the
         * page's own site: written out as the host shown */
        {"http:bank.example/../../../m/", "x", "bank.example", "http://bank.example/../../../m/", 0,
         SGR_LINK_BLOCKED},
        {"http:/bank.example/a", "x", "bank.example", "http://bank.example/a", 0, 0},
        {"HTTPS:\\\\bank.example", "x", "bank.example", "https://bank.example", 0, 0},
        {"https:///bank.example/", "x", "bank.example", "https://bank.example/", 0, 0},
        {"https://bank.example/", "x", "bank.example", "https://bank.example/", 0, 0},
        /* mailto: the first address after decoding, and the others said */
        {"mailto:attacker@evil.example%2C@bank.example", "x", "evil.example", NULL,
         SGR_LINK_MAILTO_MORE, 0},
        {"mailto:support@bank.example?bcc=attacker@evil.example", "x", "bank.example", NULL,
         SGR_LINK_MAILTO_MORE, 0},
        {"mailto:support@bank.example?subject=hi&To=a@evil.example", "x", "bank.example", NULL,
         SGR_LINK_MAILTO_MORE, 0},
        {"mailto:support@bank.example?%63c=a@evil.example", "x", "bank.example", NULL,
         SGR_LINK_MAILTO_MORE, 0},
        {"mailto:support@bank.example,a@evil.example", "x", "bank.example", NULL,
         SGR_LINK_MAILTO_MORE, 0},
        {"mailto:attacker@evil.example;@bank.example", "x", "evil.example", NULL,
         SGR_LINK_MAILTO_MORE, 0},
        {"mailto:%22support@bank.example%22@evil.example", "x", "evil.example", NULL, 0,
         SGR_LINK_MAILTO_MORE},
        {"mailto:%22a,b%22@bank.example", "x", "bank.example", NULL, 0, SGR_LINK_MAILTO_MORE},
        {"mailto:list-request@lists.example?subject=unsubscribe", "x", "lists.example", NULL, 0,
         SGR_LINK_MAILTO_MORE},
        {"mailto:support@bank.example,", "x", "bank.example", NULL, 0, SGR_LINK_MAILTO_MORE},
        /* a name in the text ends where a name cannot go on */
        {"https://evil.example/", "paypal.com\xe2\x80\x99s login page", "evil.example", NULL,
         SGR_LINK_TEXT_MISMATCH, 0},
        {"https://evil.example/", "Sign in at paypal.com\xe2\x80\xa6", "evil.example", NULL,
         SGR_LINK_TEXT_MISMATCH, 0},
        {"https://evil.example/", "www.paypal.com\xc2\xa0", "evil.example", NULL,
         SGR_LINK_TEXT_MISMATCH, 0},
        {"https://evil.example/", "paypal.com\xe2\x80\x94secure", "evil.example", NULL,
         SGR_LINK_TEXT_MISMATCH, 0},
        {"https://evil.example/", "\xe2\x80\x9cpaypal.com\xe2\x80\x9d", "evil.example", NULL,
         SGR_LINK_TEXT_MISMATCH, 0},
        /* U-labels and the ideographic full stop stay part of the name */
        {"https://xn--bcher-kva.de/",
         "b\xc3\xbc"
         "cher.de",
         "xn--bcher-kva.de", NULL, 0, SGR_LINK_TEXT_MISMATCH},
        {"https://evil.example/",
         "paypal\xe3\x80\x82"
         "com",
         "evil.example", NULL, SGR_LINK_TEXT_MISMATCH, 0},
        {"https://www.paypal.com/", "paypal.com\xe2\x80\x99s page", "www.paypal.com", NULL, 0,
         SGR_LINK_TEXT_MISMATCH},
        /* text read folded as display names are (fold.h): other dots,
         * fullwidth letters (adv29 RD-7) */
        {"https://login.attacker.example/",
         "paypal\xe2\x80\xa4"
         "com",
         "login.attacker.example", NULL, SGR_LINK_TEXT_MISMATCH, 0}, /* U+2024 */
        {"https://login.attacker.example/",
         "www.paypal\xe2\x80\xa4"
         "com",
         "login.attacker.example", NULL, SGR_LINK_TEXT_MISMATCH, 0},
        {"https://login.attacker.example/",
         "paypal\xef\xb9\x92"
         "com",
         "login.attacker.example", NULL, SGR_LINK_TEXT_MISMATCH, 0}, /* U+FE52 */
        {"https://login.attacker.example/",
         "\xef\xbd\x90\xef\xbd\x81\xef\xbd\x99\xef\xbd\x90\xef\xbd\x81\xef\xbd\x8c\xef\xbc\x8e"
         "\xef\xbd\x83\xef\xbd\x8f\xef\xbd\x8d",
         "login.attacker.example", NULL, SGR_LINK_TEXT_MISMATCH, 0}, /* all fullwidth */
        {"https://login.attacker.example/",
         "Log in at paypal\xe2\x80\xa4"
         "com\xe2\x80\xa4",
         "login.attacker.example", NULL, SGR_LINK_TEXT_MISMATCH, 0}, /* a dot leader after */
        {"https://login.attacker.example/",
         "paypal.com\xe2\x84\xa2", /* a trade mark sign still ends the name */
         "login.attacker.example", NULL, SGR_LINK_TEXT_MISMATCH, 0},
        {"https://login.attacker.example/",
         "pay\xc2\xadpal\xef\xb9\x92"
         "com",
         "login.attacker.example", NULL, SGR_LINK_TEXT_MISMATCH, 0}, /* soft hyphen too */
        /* ... and the same texts on the site they name, or naming none */
        {"https://www.paypal.com/",
         "\xef\xbd\x90\xef\xbd\x81\xef\xbd\x99\xef\xbd\x90\xef\xbd\x81\xef\xbd\x8c\xef\xbc\x8e"
         "\xef\xbd\x83\xef\xbd\x8f\xef\xbd\x8d",
         "www.paypal.com", NULL, 0, SGR_LINK_TEXT_MISMATCH},
        {"https://paypal.com/",
         "www.paypal\xe2\x80\xa4"
         "com",
         "paypal.com", NULL, 0, SGR_LINK_TEXT_MISMATCH},
        {"https://login.attacker.example/",
         "report\xe2\x80\xa4"
         "pdf",
         "login.attacker.example", NULL, 0, SGR_LINK_TEXT_MISMATCH}, /* no public suffix */
        {"https://login.attacker.example/",
         "1\xe2\x80\xa4"
         "5 million \xef\xbc\xa3\xef\xbc\xa8\xef\xbc\xa6",
         "login.attacker.example", NULL, 0, SGR_LINK_TEXT_MISMATCH},
        {"https://login.attacker.example/", "\xe2\x80\xa4\xe2\x80\xa4\xe2\x80\xa4 more",
         "login.attacker.example", NULL, 0, SGR_LINK_TEXT_MISMATCH},
        /* invisible characters inside or after the name (review of the
         * above: they ended the name, and the warning was lost) */
        {"https://evil.example/", "paypal\xc2\xad.com", "evil.example", NULL,
         SGR_LINK_TEXT_MISMATCH, 0},
        {"https://evil.example/", "pay\xe2\x80\x8bpal.com", "evil.example", NULL,
         SGR_LINK_TEXT_MISMATCH, 0},
        {"https://evil.example/", "paypal.com\xe2\x80\x8d", "evil.example", NULL,
         SGR_LINK_TEXT_MISMATCH, 0},
        {"https://evil.example/", "paypal.com\xe2\x80\xae", "evil.example", NULL,
         SGR_LINK_TEXT_MISMATCH | SGR_LINK_TEXT_BIDI, 0},
        /* a right-to-left override shows "https://bank.example" */
        {"https://evil.example/login",
         "\xe2\x80\xae"
         "elpmaxe.knab//:sptth\xe2\x80\xac",
         "evil.example", NULL, SGR_LINK_TEXT_BIDI, 0},
        {"https://evil.example/login", "\xe2\x81\xa7x\xe2\x81\xa9", "evil.example", NULL,
         SGR_LINK_TEXT_BIDI, 0},
        {"https://evil.example/login", "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d", "evil.example", NULL, 0,
         SGR_LINK_TEXT_BIDI},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sg_arena *a;
        sgr_link l;
        assert_int_equal(sg_arena_new(&a, 4096), 0);
        assert_int_equal(sgr_link_describe(&l, a, NULL, rows[i].target, strlen(rows[i].target),
                                           rows[i].text, strlen(rows[i].text)),
                         0);
        if (l.host == NULL || strcmp(l.host, rows[i].host) != 0)
            fail_msg("row %zu (%s): host %s, want %s", i, rows[i].target,
                     l.host ? l.host : "(none)", rows[i].host);
        if (rows[i].shown && strcmp(l.target, rows[i].shown) != 0)
            fail_msg("row %zu: target %s, want %s", i, l.target, rows[i].shown);
        if ((l.flags & rows[i].set) != rows[i].set || (l.flags & rows[i].unset) != 0)
            fail_msg("row %zu (%s | %s): flags %#x, want %#x set and %#x not", i, rows[i].target,
                     rows[i].text, l.flags, rows[i].set, rows[i].unset);
        sg_arena_free(a);
    }
    /* the warning names what the text reads as */
    static const struct {
        const char *text, *named;
    } named[] = {
        {"\xef\xbd\x90\xef\xbd\x81\xef\xbd\x99\xef\xbd\x90\xef\xbd\x81\xef\xbd\x8c\xef\xbc\x8e"
         "\xef\xbd\x83\xef\xbd\x8f\xef\xbd\x8d",
         "paypal.com"},
        {"www.paypal\xe2\x80\xa4"
         "com",
         "www.paypal.com"},
        {"Log in at paypal\xef\xb9\x92"
         "com\xe2\x80\xa4",
         "paypal.com"},
    };
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        sg_arena *a;
        sgr_link l;
        static const char target[] = "https://login.attacker.example/";
        assert_int_equal(sg_arena_new(&a, 4096), 0);
        assert_int_equal(sgr_link_describe(&l, a, NULL, target, strlen(target), named[i].text,
                                           strlen(named[i].text)),
                         0);
        if (l.text_host == NULL || strcmp(l.text_host, named[i].named) != 0)
            fail_msg("%s: names %s, want %s", named[i].text, l.text_host ? l.text_host : "nothing",
                     named[i].named);
        assert_string_equal(l.text, named[i].text); /* the text shown is left as it is */
        sg_arena_free(a);
    }
}

static void test_links_inert(void **state)
{
    sgr_sanitize_result r;
    san("<a href=\"https://x.example/p\" title=t>click <b>here</b></a>", 1, 0, &r);
    assert_non_null(strstr(r.html, "<span class=\"sg-inert-link\" title=\"t\">click <b>here</b>"
                                   "</span><span class=\"sg-link-target\" style=\""));
    assert_non_null(strstr(r.html, "\"> [https://x.example/p]</span>"));
    /* what a message's stylesheet may set on a span (css.c's list), and
     * what hid the target (float:left;width:0;height:0;overflow:hidden),
     * is pinned on it with !important */
    static const char *const pinned[] = {"display:inline !important",
                                         "float:none !important",
                                         "width:auto !important",
                                         "height:auto !important",
                                         "overflow:visible !important",
                                         "margin:0 !important",
                                         "letter-spacing:normal !important",
                                         "font-size:small !important",
                                         "color:#555 !important",
                                         "direction:ltr !important",
                                         "vertical-align:baseline !important",
                                         "text-indent:0 !important",
                                         "line-height:normal !important",
                                         "white-space:normal !important"};
    for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++)
        if (strstr(r.html, pinned[i]) == NULL)
            fail_msg("the target's style lacks %s: %s", pinned[i], r.html);
    assert_int_equal(r.links.n, 1);
    assert_string_equal(r.links.v[0].text, "click here");
    sgr_sanitize_result_free(&r);

    sgr_sanitize_opts o;
    opts_for(&o, 0, 0);
    o.link_target = "_top";
    assert_int_equal(sgr_sanitize_html(&r, "<a href=https://x.example/>x</a>", 31, &o), 0);
    assert_string_equal(r.html,
                        "<a href=\"/link/T/0\" rel=\"noopener noreferrer\" target=\"_top\">x</a>");
    sgr_sanitize_result_free(&r);
}

/* The list the caller passes is the one the links use: two hosts under a
 * private suffix (shop.example.net, in no built-in list) are one site by
 * libpsl's built-in list and two by ours, in an <a> and in plain text. */
static void test_links_own_list(void **state)
{
    (void)state;
    /* the pinned list and one private suffix more */
    char pinned[1024], path[] = "/tmp/sg-psl.XXXXXX", cmd[2200];
    snprintf(pinned, sizeof pinned, "%s/dmarc/psl/public_suffix_list.dat",
             sg_test_conformance_dir());
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "{ cat '%s' && echo shop.example.net; } > '%s'", pinned, path);
    assert_int_equal(system(cmd), 0);
    psl_ctx_t *own = psl_load_file(path);
    unlink(path);
    assert_non_null(own);
    sg_arena *a;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    static const char href[] = "https://evil.shop.example.net/pay",
                      text[] = "www.bank.shop.example.net";
    sgr_link l;
    assert_int_equal(sgr_link_describe(&l, a, NULL, href, strlen(href), text, strlen(text)), 0);
    assert_string_equal(l.registrable_domain, "example.net");
    assert_false(l.flags & SGR_LINK_TEXT_MISMATCH);
    assert_int_equal(sgr_link_describe(&l, a, own, href, strlen(href), text, strlen(text)), 0);
    assert_string_equal(l.registrable_domain, "evil.shop.example.net");
    assert_true(l.flags & SGR_LINK_TEXT_MISMATCH);
    /* the sanitizer passes its option on */
    static const char html[] =
        "<a href=\"https://evil.shop.example.net/\">bank.shop.example.net</a>";
    sgr_sanitize_opts o;
    sgr_sanitize_opts_init(&o);
    o.link_mode = SGR_LINKS_INERT;
    for (int mine = 0; mine < 2; mine++) {
        sgr_sanitize_result r;
        o.psl = mine ? own : NULL;
        assert_int_equal(sgr_sanitize_html(&r, html, strlen(html), &o), 0);
        assert_int_equal(r.links.n, 1);
        assert_int_equal(!!(r.links.v[0].flags & SGR_LINK_TEXT_MISMATCH), mine);
        sgr_sanitize_result_free(&r);
    }
    sg_arena_free(a);
    psl_free(own);
}

static void test_links_text(void **state)
{
    sg_arena *a;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    sgr_link_list list = {0};
    const char *t = "See https://example.com/a_(b) and (https://x.example/y). Or www.test.example, "
                    "mailto:me@mail.example?subject=hi! not:http:// nor xhttp://no.example";
    assert_int_equal(sgr_links_from_text(&list, a, NULL, t, strlen(t)), 0);
    assert_int_equal(list.n, 4);
    assert_string_equal(list.v[0].target, "https://example.com/a_(b)");
    assert_string_equal(list.v[1].target, "https://x.example/y");
    assert_string_equal(list.v[2].text, "www.test.example");
    assert_string_equal(list.v[2].target, "http://www.test.example");
    assert_string_equal(list.v[2].host, "www.test.example");
    assert_string_equal(list.v[3].host, "mail.example");
    for (size_t i = 0; i < list.n; i++)
        assert_true(list.v[i].flags & SGR_LINK_FROM_TEXT);
    /* closing brackets at the end: those with an opening one in the URL
     * stay, the rest (and punctuation between them) go; a run of 100,000
     * is dropped in one pass, not recounted for each */
    static const struct {
        const char *text, *target;
    } br[] = {
        {"(see http://a.example/x_(y)))", "http://a.example/x_(y)"},
        {"[http://a.example/[1]]].", "http://a.example/[1]"},
        {"http://a.example/(a)(b)).)", "http://a.example/(a)(b)"},
        {"http://a.example/]).", "http://a.example/"},
    };
    for (size_t i = 0; i < sizeof(br) / sizeof(br[0]); i++) {
        sgr_link_list l2 = {0};
        assert_int_equal(sgr_links_from_text(&l2, a, NULL, br[i].text, strlen(br[i].text)), 0);
        assert_int_equal(l2.n, 1);
        assert_string_equal(l2.v[0].target, br[i].target);
    }
    {
        enum { RUN = 100000 };
        char *big = malloc(RUN + 32);
        assert_non_null(big);
        strcpy(big, "see http://a.example/");
        memset(big + 21, ')', RUN);
        big[21 + RUN] = '\0';
        sgr_link_list l3 = {0};
        assert_int_equal(sgr_links_from_text(&l3, a, NULL, big, strlen(big)), 0);
        assert_int_equal(l3.n, 1);
        assert_string_equal(l3.v[0].target, "http://a.example/");
        free(big);
    }
    sg_arena_free(a);

    sgr_sanitize_result r;
    sgr_sanitize_opts o;
    opts_for(&o, 0, 0);
    const char *plain = "Hi <you>,\nsee https://example.com/x & more";
    assert_int_equal(sgr_text_to_html(&r, plain, strlen(plain), &o), 0);
    assert_string_equal(r.html, "<div style=\"white-space:pre-wrap\">Hi &lt;you&gt;,\nsee "
                                "<a href=\"/link/T/0\" rel=\"noopener noreferrer\">"
                                "https://example.com/x</a> &amp; more</div>");
    assert_int_equal(r.links.n, 1);
    sgr_sanitize_result_free(&r);
    o.link_mode = SGR_LINKS_INERT;
    assert_int_equal(sgr_text_to_html(&r, plain, strlen(plain), &o), 0);
    assert_non_null(strstr(r.html, "<span class=\"sg-inert-link\">https://example.com/x</span>"));
    assert_null(strstr(r.html, "href"));
    sgr_sanitize_result_free(&r);
}

/* ---- bounds -------------------------------------------------------------------------- */

static void test_bounds(void **state)
{
    sgr_sanitize_opts o;
    sgr_sanitize_result r;
    opts_for(&o, 0, 0);

    /* input */
    o.max_input = 10;
    assert_int_equal(sgr_sanitize_html(&r, "<p>0123456789</p>", 17, &o), SG_ELIMIT);
    assert_null(r.html);
    sgr_sanitize_result_free(&r);

    /* output */
    opts_for(&o, 0, 0);
    o.max_output = 16;
    assert_int_equal(sgr_sanitize_html(&r, "<p>0123456789abcdef</p>", 23, &o), SG_ELIMIT);
    sgr_sanitize_result_free(&r);

    /* no link callback in interstitial mode is a caller bug */
    opts_for(&o, 0, 0);
    o.link_href = NULL;
    assert_int_equal(sgr_sanitize_html(&r, "x", 1, &o), SG_EINVAL);
    sgr_sanitize_result_free(&r);

    /* links past the bound are listed no more and not navigable */
    opts_for(&o, 0, 0);
    o.max_links = 2;
    const char *three = "<a href=https://a.example/>a</a><a href=https://b.example/>b</a>"
                        "<a href=https://c.example/>c</a>";
    assert_int_equal(sgr_sanitize_html(&r, three, strlen(three), &o), 0);
    assert_int_equal(r.links.n, 2);
    assert_true(r.links.truncated);
    assert_null(strstr(r.html, "/link/T/2"));
    assert_non_null(strstr(r.html, "[https://c.example/]"));
    sgr_sanitize_result_free(&r);

    /* depth: 600 nested elements parse and walk without recursion; at
     * most max_depth tags are open at once in the output */
    size_t n = 600;
    char *deep = malloc(200000 * 40);
    assert_non_null(deep);
    for (size_t i = 0; i < n; i++)
        memcpy(deep + i * 5, "<div>", 5);
    strcpy(deep + n * 5, "deep");
    opts_for(&o, 0, 0);
    assert_int_equal(sgr_sanitize_html(&r, deep, strlen(deep), &o), 0);
    assert_true(r.depth_limited);
    size_t divs = 0;
    for (const char *p = r.html; (p = strstr(p, "<div>")) != NULL; p++)
        divs++;
    assert_int_equal(divs, SGR_SANITIZE_MAX_DEPTH);
    assert_non_null(strstr(r.html, "deep"));
    char why[200];
    assert_null(xss_check(r.html, r.html_len, 0, why, sizeof why));
    sgr_sanitize_result_free(&r);

    /* deeper nesting is refused before gumbo (whose time grows with
     * depth x tags), also when end tags hide in attribute values or raw
     * text where the tokenizer does not see them; unclosed <p>, <li> and
     * <td> close themselves and do not count */
    static const char *const units[] = {"<div>", "<b id=1>x", "<div title=\"></div>\">",
                                        "<div><script></div></script>", "<span><!-- </span> -->"};
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        size_t k = 0, ul = strlen(units[u]);
        for (size_t i = 0; i < 200000 && k + ul < 200000 * 40; i++, k += ul)
            memcpy(deep + k, units[u], ul);
        deep[k] = '\0';
        assert_int_equal(sgr_sanitize_html(&r, deep, k, &o), SG_ELIMIT);
        sgr_sanitize_result_free(&r);
    }
    size_t k = 0;
    for (size_t i = 0; i < 20000; i++, k += 14)
        memcpy(deep + k, "<p>x<li>y<td>z", 14);
    deep[k] = '\0';
    assert_int_equal(sgr_sanitize_html(&r, deep, k, &o), 0);
    sgr_sanitize_result_free(&r);
    free(deep);

    /* one tag of more attributes than SGR_SANITIZE_MAX_ATTRS is refused
     * before gumbo (which compares each with every earlier one); names
     * are counted as the tokenizer reads them, so a long unquoted URL
     * path or spaces around '=' are no attributes */
    {
        char *t = malloc(64 * 1024);
        assert_non_null(t);
        for (int many = SGR_SANITIZE_MAX_ATTRS; many <= SGR_SANITIZE_MAX_ATTRS + 1; many++) {
            size_t m = (size_t)snprintf(t, 64 * 1024, "<p");
            for (int i = 0; i < many; i++)
                m += (size_t)snprintf(t + m, 64 * 1024 - m,
                                      i % 3 == 0   ? " a%d=1"
                                      : i % 3 == 1 ? " a%d = \"x\""
                                                   : " a%d",
                                      i);
            m += (size_t)snprintf(t + m, 64 * 1024 - m, ">x</p>");
            assert_int_equal(sgr_sanitize_html(&r, t, m, &o),
                             many > SGR_SANITIZE_MAX_ATTRS ? SG_ELIMIT : 0);
            sgr_sanitize_result_free(&r);
        }
        size_t m = (size_t)snprintf(t, 64 * 1024, "<a href=http://a.example");
        for (int i = 0; i < 2 * SGR_SANITIZE_MAX_ATTRS; i++)
            m += (size_t)snprintf(t + m, 64 * 1024 - m, "/p%d", i);
        m += (size_t)snprintf(t + m, 64 * 1024 - m, " title = 'x'>y</a>");
        assert_int_equal(sgr_sanitize_html(&r, t, m, &o), 0);
        sgr_sanitize_result_free(&r);
        free(t);
    }

    /* empty input is a valid, empty part */
    assert_int_equal(sgr_sanitize_html(&r, "", 0, &o), 0);
    assert_string_equal(r.html, "");
    sgr_sanitize_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checker_detects), cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_benign),          cmocka_unit_test(test_images),
        cmocka_unit_test(test_links_html),      cmocka_unit_test(test_links_inert),
        cmocka_unit_test(test_links_text),      cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_links_own_list),  cmocka_unit_test(test_links_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
