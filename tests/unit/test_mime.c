/*
 * The reader's MIME walk (src/reader/mime.c, issue 13 item 5).
 *
 * Fixture messages in tests/data/mime (written by make_fixtures.py, by
 * hand rather than through an email library) and messages built here;
 * every test states the exact expected output: the chosen body, its
 * UTF-8 text, each part's role, type, name, Content-ID, size and risk.
 * tests/scripts/mime_pyemail_diff.sh compares the same fixtures with
 * Python's email package, an independent reader (`test_mime --dump`).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "mime.h"

/* ---- helpers ------------------------------------------------------------- */

static sgr_mime *parse_mem(const char *data, size_t len, const sgr_mime_limits *lim)
{
    sgr_mime *m = NULL;
    assert_int_equal(sgr_mime_parse(&m, data, len, lim), SGR_MIME_OK);
    assert_non_null(m);
    return m;
}

static sgr_mime *parse_str(const char *s)
{
    return parse_mem(s, strlen(s), NULL);
}

static sgr_mime *parse_file(const char *name)
{
    char rel[256];
    size_t len;
    snprintf(rel, sizeof rel, "mime/%s", name);
    char *data = sg_test_read_file(sg_test_path(sg_test_data_dir(), rel), &len);
    assert_non_null(data);
    sgr_mime *m = parse_mem(data, len, NULL);
    free(data);
    return m;
}

/* What every view must satisfy, whatever the input. */
static void check_invariants(const sgr_mime *m, const sgr_mime_limits *lim)
{
    const sgr_mime_view *v = sgr_mime_get(m);
    assert_non_null(v->subject);
    assert_non_null(v->body);
    assert_int_equal(strlen(v->body), v->body_len);
    if (lim)
        assert_true(v->nparts <= lim->max_parts);
    assert_true(v->body_part >= -1 && v->body_part < (int)v->nparts);
    for (size_t i = 0; i < v->nparts; i++) {
        const sgr_mime_part *p = &v->parts[i];
        assert_int_equal(p->index, i);
        assert_non_null(p->content_type);
        assert_int_equal(p->role == SGR_PART_BODY, (int)i == v->body_part);
        assert_int_equal(p->risk != 0, p->risk_detail != NULL);
        unsigned char *c;
        size_t n;
        assert_int_equal(sgr_mime_part_content(m, (unsigned)i, &c, &n), SGR_MIME_OK);
        assert_int_equal(n, p->size);
        free(c);
        if (p->content_id)
            assert_true(sgr_mime_find_cid(m, p->content_id, strlen(p->content_id)) <= (int)i);
    }
}

static const sgr_mime_part *part(const sgr_mime *m, size_t i)
{
    const sgr_mime_view *v = sgr_mime_get(m);
    assert_true(i < v->nparts);
    return &v->parts[i];
}

/* ---- body choice ------------------------------------------------------------ */

static void alternative_html_last(void **state)
{
    sgr_mime *m = parse_file("alt_html_last.eml");
    const sgr_mime_view *v = sgr_mime_get(m);
    check_invariants(m, NULL);
    assert_string_equal(v->subject, "html last");
    assert_string_equal(v->body, "<p>html version</p>");
    assert_int_equal(v->body_is_html, 1);
    assert_int_equal(v->body_part, 1);
    assert_int_equal(v->nparts, 2);
    assert_int_equal(part(m, 0)->role, SGR_PART_ALTERNATIVE);
    assert_string_equal(part(m, 0)->content_type, "text/plain");
    assert_string_equal(part(m, 0)->charset, "utf-8");
    assert_int_equal(part(m, 0)->size, strlen("plain version"));
    assert_int_equal(part(m, 1)->role, SGR_PART_BODY);
    assert_int_equal(v->truncated, 0);
    assert_string_equal(v->date, "Fri, 04 Dec 2026 10:00:00 +0000");
    assert_int_equal(v->date_unix, 1796378400LL);
    sgr_mime_free(m);
}

static void alternative_html_first(void **state)
{
    /* html is preferred even when a plain alternative follows it */
    sgr_mime *m = parse_file("alt_html_first.eml");
    const sgr_mime_view *v = sgr_mime_get(m);
    check_invariants(m, NULL);
    assert_string_equal(v->body, "<p>html first</p>");
    assert_int_equal(v->body_is_html, 1);
    assert_int_equal(v->body_part, 0);
    assert_int_equal(part(m, 1)->role, SGR_PART_ALTERNATIVE);
    sgr_mime_free(m);
}

static void alternative_plain_last_we_can_show(void **state)
{
    /* text/enriched and AMP cannot be shown: the plain one (CRLF input) */
    sgr_mime *m = parse_file("alt_plain_last.eml");
    const sgr_mime_view *v = sgr_mime_get(m);
    check_invariants(m, NULL);
    assert_string_equal(v->body, "plain shown");
    assert_int_equal(v->body_is_html, 0);
    assert_int_equal(v->body_part, 1);
    assert_int_equal(v->nparts, 3);
    assert_string_equal(part(m, 0)->content_type, "text/enriched");
    assert_int_equal(part(m, 0)->role, SGR_PART_ALTERNATIVE);
    assert_string_equal(part(m, 2)->content_type, "text/x-amp-html");
    assert_int_equal(part(m, 2)->role, SGR_PART_ALTERNATIVE);
    sgr_mime_free(m);
}

static void alternative_last_html_wins(void **state)
{
    sgr_mime *m = parse_str("Content-Type: multipart/alternative; boundary=x\n\n"
                            "--x\nContent-Type: text/html\n\nfirst\n"
                            "--x\nContent-Type: text/plain\n\nplain\n"
                            "--x\nContent-Type: text/html\n\nsecond\n--x--\n");
    const sgr_mime_view *v = sgr_mime_get(m);
    check_invariants(m, NULL);
    assert_string_equal(v->body, "second");
    assert_int_equal(v->body_part, 2);
    assert_int_equal(part(m, 0)->role, SGR_PART_ALTERNATIVE);
    assert_int_equal(part(m, 1)->role, SGR_PART_ALTERNATIVE);
    sgr_mime_free(m);
}

static void related_root_and_cid(void **state)
{
    sgr_mime *m = parse_file("related_cid.eml");
    const sgr_mime_view *v = sgr_mime_get(m);
    check_invariants(m, NULL);
    assert_string_equal(v->body, "<p>See <img src=\"cid:logo%40example.com\"> the logo.</p>");
    assert_int_equal(v->body_is_html, 1);
    assert_int_equal(v->body_part, 1);
    assert_int_equal(v->nparts, 3);
    const sgr_mime_part *img = part(m, 2);
    assert_int_equal(img->role, SGR_PART_INLINE);
    assert_string_equal(img->content_type, "image/png");
    assert_string_equal(img->content_id, "logo@EXAMPLE.com");
    assert_null(img->filename);
    assert_int_equal(img->risk, 0);
    assert_null(img->risk_detail);

    /* RFC 2392: percent-decoded, the domain without regard to case */
    assert_int_equal(sgr_mime_find_cid(m, "logo%40example.com", 18), 2);
    assert_int_equal(sgr_mime_find_cid(m, "logo@example.com", 16), 2);
    assert_int_equal(sgr_mime_find_cid(m, "<logo@example.com>", 18), 2);
    assert_int_equal(sgr_mime_find_cid(m, "LOGO@example.com", 16), -1);
    assert_int_equal(sgr_mime_find_cid(m, "logo@example.co", 15), -1);
    assert_int_equal(sgr_mime_find_cid(m, "", 0), -1);

    /* the decoded bytes are the original image */
    size_t want_len;
    char *want = sg_test_read_file(sg_test_path(sg_test_data_dir(), "mime/logo.png"), &want_len);
    assert_non_null(want);
    unsigned char *c;
    size_t n;
    assert_int_equal(sgr_mime_part_content(m, 2, &c, &n), SGR_MIME_OK);
    assert_int_equal(n, want_len);
    assert_int_equal(img->size, want_len);
    assert_memory_equal(c, want, n);
    free(c);
    free(want);
    assert_int_equal(sgr_mime_part_content(m, 3, &c, &n), SGR_MIME_EINVAL);
    sgr_mime_free(m);
}

static void related_start_parameter(void **state)
{
    sgr_mime *m = parse_file("related_start.eml");
    const sgr_mime_view *v = sgr_mime_get(m);
    check_invariants(m, NULL);
    assert_string_equal(v->body, "<p>root <img src=\"cid:pixel@example.com\"></p>");
    assert_int_equal(v->body_part, 1);
    assert_int_equal(part(m, 0)->role, SGR_PART_INLINE);
    assert_int_equal(part(m, 0)->size, 35); /* the 1x1 GIF */
    assert_int_equal(sgr_mime_find_cid(m, "pixel@example.com", 17), 0);
    assert_int_equal(sgr_mime_find_cid(m, "root@example.com", 16), 1);
    sgr_mime_free(m);
}

static void mixed_first_text_not_attachment(void **state)
{
    sgr_mime *m = parse_file("mixed_attach.eml");
    const sgr_mime_view *v = sgr_mime_get(m);
    check_invariants(m, NULL);
    assert_string_equal(v->body, "the body");
    assert_int_equal(v->body_part, 1);
    assert_int_equal(v->nparts, 4);
    assert_int_equal(part(m, 0)->role, SGR_PART_ATTACHMENT);
    assert_string_equal(part(m, 0)->filename, "notes.txt");
    assert_int_equal(part(m, 0)->risk, 0);
    assert_string_equal(part(m, 2)->filename, "report.pdf");
    assert_string_equal(part(m, 2)->content_type, "application/pdf");
    assert_int_equal(part(m, 2)->risk, 0);
    assert_int_equal(part(m, 2)->size, 19);
    /* RFC 2231: three continuations, the first two %-encoded UTF-8 */
    assert_string_equal(part(m, 3)->filename, "\xE2\x82\xAC rates \xC3\xA9t\xC3\xA9.pdf.exe");
    assert_int_equal(part(m, 3)->risk, SGR_RISK_EXECUTABLE | SGR_RISK_DOUBLE_EXT);
    assert_string_equal(part(m, 3)->risk_detail,
                        "The name ends in .exe after a decoy .pdf: it only looks like a harmless "
                        "file.");
    unsigned char *c;
    size_t n;
    assert_int_equal(sgr_mime_part_content(m, 3, &c, &n), SGR_MIME_OK);
    assert_int_equal(n, 12);
    assert_memory_equal(c, "MZ\x90\0\3\0\0\0\4\0\0\0", 12);
    free(c);
    sgr_mime_free(m);
}

/* ---- charsets ------------------------------------------------------------------ */

static void charset_case(const char *file, const char *want_body, const char *want_cs)
{
    sgr_mime *m = parse_file(file);
    const sgr_mime_view *v = sgr_mime_get(m);
    check_invariants(m, NULL);
    assert_string_equal(v->body, want_body);
    assert_int_equal(v->body_is_html, 0);
    assert_int_equal(v->body_part, 0);
    assert_string_equal(part(m, 0)->charset, want_cs);
    sgr_mime_free(m);
}

static void charsets(void **state)
{
    charset_case("cs_latin1.eml", "Caf\xC3\xA9 cr\xC3\xA8me, \xC2\xBD price\n", "iso-8859-1");
    charset_case("cs_cp1252.eml",
                 "\xE2\x80\x9Csmart\xE2\x80\x9D quotes \xE2\x80\x93 and \xE2\x82\xAC"
                 "5\n",
                 "windows-1252");
    charset_case("cs_koi8r.eml",
                 "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82, \xD0\xBC\xD0\xB8\xD1\x80\n",
                 "koi8-r");
    charset_case("cs_iso2022jp.eml",
                 "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF\xE3\x80\x81"
                 "\xE4\xB8\x96\xE7\x95\x8C\n",
                 "iso-2022-jp");
    charset_case("cs_sjis.eml",
                 "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\xA1\xE3\x83\xBC"
                 "\xE3\x83\xAB\n",
                 "shift_jis");
    /* maximal subparts: FF, E2 82, ED|A0|80 (a surrogate), C0|AF (overlong) */
    charset_case("cs_utf8_invalid.eml",
                 "ok \xC3\xA9 bad \xEF\xBF\xBD \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD "
                 "\xEF\xBF\xBD\xEF\xBF\xBD end\n",
                 "utf-8");
    /* an unknown label reads as UTF-8 with replacement */
    charset_case("cs_unknown.eml", "caf\xC3\xA9 and \xEF\xBF\xBD\n", "x-no-such-charset");
    charset_case("cs_nul.eml",
                 "before\xEF\xBF\xBD"
                 "after\n",
                 "utf-8");
}

static void latin1_is_windows_1252(void **state)
{
    /* 0x93/0x94 in mail labelled latin-1 are smart quotes, as browsers say */
    sgr_mime *m = parse_str("Content-Type: text/plain; charset=ISO-8859-1\n\n\x93q\x94 \xe9\n");
    assert_string_equal(sgr_mime_get(m)->body, "\xE2\x80\x9Cq\xE2\x80\x9D \xC3\xA9\n");
    assert_string_equal(part(m, 0)->charset, "iso-8859-1");
    sgr_mime_free(m);
}

/* ---- encoded words ------------------------------------------------------------ */

static void subject_case(const char *file, const char *want)
{
    sgr_mime *m = parse_file(file);
    assert_string_equal(sgr_mime_get(m)->subject, want);
    sgr_mime_free(m);
}

static void subjects(void **state)
{
    /* B, lower-case b, a padded first word */
    subject_case("subject_b.eml", "\xC3\x81rv\xC3\xADz t\xC5\xB1r\xC5\x91");
    subject_case("subject_q.eml", "caf\xC3\xA9 cr\xC3\xA8me and more");
    /* U+00E9 split over two words */
    subject_case("subject_split.eml", "caf\xC3\xA9 bar");
    subject_case("subject_invalid.eml", "=?utf-8?X?abc?= and =?utf-8?B?not base64!?= kept");
}

static void subject_words_inline(void **state)
{
    static const struct {
        const char *raw, *want;
    } cases[] = {
        {"Subject: plain", "plain"},
        {"Subject: =?utf-8?q?a?= =?utf-8?q?b?=", "ab"},
        {"Subject: =?utf-8?q?a?= x =?utf-8?q?b?=", "a x b"},
        {"Subject: =?utf-8?B?####?= stays", "=?utf-8?B?####?= stays"},
        {"Subject: =?utf-8?B?YQ?= no padding", "a no padding"},
        {"Subject: =?iso-8859-1*fr?Q?=E9t=E9?=", "\xC3\xA9t\xC3\xA9"},
        {"Subject: =?x-unknown?Q?caf=C3=A9?=", "caf\xC3\xA9"},
        {"Subject: =?utf-8?Q?tab=09and=0Anewline?=", "tab\tandnewline"},
        {"Subject: raw \xC3\xA9 and \xFF", "raw \xC3\xA9 and \xEF\xBF\xBD"},
        {"Subject: =?utf-8?q?x?", "=?utf-8?q?x?"},
        {"Subject: folded\n   line", "folded   line"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s\nContent-Type: text/plain\n\nx\n", cases[i].raw);
        sgr_mime *m = parse_str(msg);
        if (strcmp(sgr_mime_get(m)->subject, cases[i].want) != 0)
            fail_msg("case %zu: [%s] != [%s]", i, sgr_mime_get(m)->subject, cases[i].want);
        sgr_mime_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alternative_html_last),
        cmocka_unit_test(alternative_html_first),
        cmocka_unit_test(alternative_plain_last_we_can_show),
        cmocka_unit_test(alternative_last_html_wins),
        cmocka_unit_test(related_root_and_cid),
        cmocka_unit_test(related_start_parameter),
        cmocka_unit_test(mixed_first_text_not_attachment),
        cmocka_unit_test(charsets),
        cmocka_unit_test(latin1_is_windows_1252),
        cmocka_unit_test(subjects),
        cmocka_unit_test(subject_words_inline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
