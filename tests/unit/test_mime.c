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
#include <pthread.h>
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

static void html_meta_charset(void **state)
{
    /* no MIME charset, not UTF-8: the <meta> decides, as in a browser */
    sgr_mime *m = parse_file("cs_html_meta.eml");
    assert_string_equal(sgr_mime_get(m)->body,
                        "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; "
                        "charset=windows-1252\"></head><body>\xE2\x80\x9C"
                        "caf\xC3\xA9\xE2\x80\x9D</body></html>\n");
    assert_null(part(m, 0)->charset);
    sgr_mime_free(m);
    /* valid UTF-8 stays UTF-8 whatever the <meta> claims */
    m = parse_file("cs_html_meta_utf8.eml");
    assert_string_equal(sgr_mime_get(m)->body, "<meta charset=\"iso-8859-1\"><p>caf\xC3\xA9</p>\n");
    sgr_mime_free(m);
    /* plain text has no <meta>: the same bytes as UTF-8 with replacement */
    m = parse_str("Content-Type: text/plain\n\n<meta charset=windows-1252>\x93");
    assert_string_equal(sgr_mime_get(m)->body, "<meta charset=windows-1252>\xEF\xBF\xBD");
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

static void dates(void **state)
{
    static const struct {
        const char *raw, *shown;
        long long unix_time;
    } cases[] = {
        {"Fri, 04 Dec 2026 10:00:00 +0000", "Fri, 04 Dec 2026 10:00:00 +0000", 1796378400LL},
        {"4 Dec 2026 11:00:00 +0100", "4 Dec 2026 11:00:00 +0100", 1796378400LL},
        {"Fri, 04 Dec 2026\n 10:00:00 -0000 (UTC)", "Fri, 04 Dec 2026 10:00:00 -0000 (UTC)",
         1796378400LL},
        {"  not a date at all  ", "not a date at all", 0},
        {"", "", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char msg[256];
        snprintf(msg, sizeof msg, "Date: %s\nSubject: d\n\nx\n", cases[i].raw);
        sgr_mime *m = parse_str(msg);
        const sgr_mime_view *v = sgr_mime_get(m);
        assert_non_null(v->date);
        if (strcmp(v->date, cases[i].shown) != 0 || v->date_unix != cases[i].unix_time)
            fail_msg("case %zu: [%s] %lld", i, v->date, v->date_unix);
        sgr_mime_free(m);
    }
}

/* ---- attachment risk ------------------------------------------------------------- */

static sgr_mime *one_attachment(const char *type, const char *name)
{
    char msg[1024];
    snprintf(msg, sizeof msg,
             "Content-Type: multipart/mixed; boundary=z\n\n"
             "--z\nContent-Type: text/plain\n\nbody\n"
             "--z\nContent-Type: %s; name=\"%s\"\n"
             "Content-Disposition: attachment; filename=\"%s\"\n"
             "Content-Transfer-Encoding: base64\n\nQUJD\n--z--\n",
             type, name, name);
    sgr_mime *m = parse_str(msg);
    check_invariants(m, NULL);
    assert_int_equal(sgr_mime_get(m)->nparts, 2);
    return m;
}

#define EXE SGR_RISK_EXECUTABLE
#define MAC SGR_RISK_MACRO
#define HTM SGR_RISK_HTML
#define ARC SGR_RISK_ARCHIVE
#define DBL SGR_RISK_DOUBLE_EXT
#define MIS SGR_RISK_TYPE_MISMATCH

static void risk_classes(void **state)
{
    /* each class with a harmless neighbour */
    static const struct {
        const char *type, *name;
        unsigned risk;
        const char *shown; /* the name as listed, when it differs */
    } cases[] = {
        {"application/pdf", "report.pdf", 0, NULL},
        {"application/octet-stream", "report.pdf.exe", EXE | DBL, NULL},
        {"application/octet-stream", "report.exe", EXE, NULL},
        {"application/octet-stream", "report.EXE. ", EXE, NULL},
        {"application/octet-stream", "setup.x64.exe", EXE, NULL},
        {"application/octet-stream", "photo.jpg.scr", EXE | DBL, NULL},
        {"application/pdf", "invoice.pdf      .exe", EXE | DBL | MIS, NULL},
        {"application/octet-stream",
         "invoice\xE2\x80\xAE"
         "fdp.exe",
         EXE | DBL,
         "invoice\xEF\xBF\xBD"
         "fdp.exe"},
        {"application/octet-stream", "in\xE2\x81\xA7voice.txt", DBL, "in\xEF\xBF\xBDvoice.txt"},
        {"image/png", "x.exe", EXE | MIS, NULL},
        {"image/png", "x.png", 0, NULL},
        {"application/x-msdownload", "photo.jpg", EXE | MIS, NULL},
        {"application/x-msdownload", "tool.exe", EXE, NULL},
        {"application/javascript", "lib.js", EXE, NULL},
        {"text/plain", "lib.js.txt", 0, NULL},
        {"application/vnd.ms-excel.sheet.macroEnabled.12", "budget.xlsm", MAC, NULL},
        {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "budget.xlsx", 0,
         NULL},
        {"application/octet-stream", "budget.xlsm", MAC, NULL},
        {"application/msword", "letter.doc", MAC, NULL},
        {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "letter.docm",
         MAC | MIS, NULL},
        {"text/html", "login.html", HTM, NULL},
        {"text/plain", "login.txt", 0, NULL},
        {"application/octet-stream", "invoice.pdf.html", HTM | DBL, NULL},
        {"image/svg+xml", "logo.svg", HTM, NULL},
        {"application/zip", "photos.zip", ARC, NULL},
        {"application/x-tar", "backup.tar.gz", ARC, NULL},
        {"application/octet-stream", "report.pdf.zip", ARC, NULL},
        {"application/octet-stream", "disk.iso", ARC, NULL},
        {"application/octet-stream", "notes", 0, NULL},
        {"application/octet-stream",
         "a\x01"
         "b.txt",
         0,
         "a\xEF\xBF\xBD"
         "b.txt"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sgr_mime *m = one_attachment(cases[i].type, cases[i].name);
        const sgr_mime_part *p = part(m, 1);
        if (p->risk != cases[i].risk)
            fail_msg("case %zu (%s %s): risk %#x, want %#x", i, cases[i].type, cases[i].name,
                     p->risk, cases[i].risk);
        assert_int_equal(p->role, SGR_PART_ATTACHMENT);
        assert_string_equal(p->filename, cases[i].shown ? cases[i].shown : cases[i].name);
        assert_int_equal(p->size, 3);
        sgr_mime_free(m);
    }
}

static void risk_details(void **state)
{
    static const struct {
        const char *type, *name, *detail;
    } cases[] = {
        {"application/octet-stream",
         "invoice\xE2\x80\xAE"
         "fdp.exe",
         "The file name contains a right-to-left control that disguises its real extension "
         "(.exe)."},
        {"image/png", "x.exe", "It is declared as image/png but its name ends in .exe."},
        {"application/octet-stream", "x.exe",
         "It is a program or script: opening it runs code on your computer."},
        {"application/octet-stream", "x.docm",
         "It is an Office document that can hold macros, which run code when enabled."},
        {"text/html", "x.html",
         "It is a web page: opened from disk it can show a fake login form."},
        {"application/zip", "x.zip",
         "It is an archive or disk image, which can hide programs from mail filters."},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sgr_mime *m = one_attachment(cases[i].type, cases[i].name);
        assert_string_equal(part(m, 1)->risk_detail, cases[i].detail);
        sgr_mime_free(m);
    }
    /* no name: the declared type alone */
    sgr_mime *m = parse_str("Content-Type: multipart/mixed; boundary=z\n\n--z\n\nbody\n"
                            "--z\nContent-Type: application/javascript\n\nalert(1)\n--z--\n");
    assert_int_equal(part(m, 1)->risk, EXE);
    assert_null(part(m, 1)->filename);
    sgr_mime_free(m);
}

static void risk_names(void **state)
{
    static const char *const want[] = {"executable", "macro",      "html",
                                       "archive",    "double_ext", "type_mismatch"};
    for (unsigned i = 0; i < 6; i++)
        assert_string_equal(sgr_mime_risk_name(1u << i), want[i]);
    assert_null(sgr_mime_risk_name(0));
    assert_null(sgr_mime_risk_name(3));
    assert_null(sgr_mime_risk_name(1u << 6));
}

static void inline_image_roles(void **state)
{
    /* an image with a Content-ID is inline unless it is attached, or its
     * name says it is something else */
    sgr_mime *m = parse_str("Content-Type: multipart/related; boundary=z\n\n"
                            "--z\nContent-Type: text/html\n\n<img src=cid:a@x>\n"
                            "--z\nContent-Type: image/png\nContent-ID: <a@x>\n\nA\n"
                            "--z\nContent-Type: image/png\nContent-ID: <b@x>\n"
                            "Content-Disposition: attachment\n\nB\n"
                            "--z\nContent-Type: image/png; name=x.exe\nContent-ID: <c@x>\n\nC\n"
                            "--z\nContent-Type: image/png\n\nD\n--z--\n");
    check_invariants(m, NULL);
    assert_int_equal(sgr_mime_get(m)->nparts, 5);
    assert_int_equal(part(m, 1)->role, SGR_PART_INLINE);
    assert_int_equal(part(m, 2)->role, SGR_PART_ATTACHMENT);
    assert_int_equal(part(m, 2)->risk, 0);
    assert_int_equal(part(m, 3)->role, SGR_PART_ATTACHMENT);
    assert_int_equal(part(m, 3)->risk, EXE | MIS);
    assert_int_equal(part(m, 4)->role, SGR_PART_ATTACHMENT);
    assert_int_equal(sgr_mime_find_cid(m, "c@x", 3), 3);
    assert_int_equal(sgr_mime_find_cid(m, "c@X", 3), 3);
    assert_int_equal(sgr_mime_find_cid(m, "C@x", 3), -1);
    assert_int_equal(sgr_mime_find_cid(m, "%63@x", 5), 3);
    assert_int_equal(sgr_mime_find_cid(m, "%6", 2), -1);
    sgr_mime_free(m);
}

static void names_encoded_and_attached_message(void **state)
{
    sgr_mime *m = parse_file("names_encoded.eml");
    const sgr_mime_view *v = sgr_mime_get(m);
    check_invariants(m, NULL);
    assert_string_equal(v->body, "see attached");
    assert_int_equal(v->nparts, 4);
    /* RFC 2047 inside a quoted parameter, as mailers write it */
    assert_string_equal(part(m, 1)->filename, "\xC3\xA9t\xC3\xA9.pdf");
    assert_int_equal(part(m, 1)->risk, 0);
    /* RFC 2231 %-encoding carrying U+202E */
    assert_string_equal(part(m, 2)->filename, "invoice\xEF\xBF\xBD"
                                              "fdp.exe");
    assert_int_equal(part(m, 2)->risk, EXE | DBL);
    /* an attached message is one leaf: its own parts are not listed */
    assert_string_equal(part(m, 3)->content_type, "message/rfc822");
    assert_string_equal(part(m, 3)->filename, "forwarded.eml");
    assert_int_equal(part(m, 3)->role, SGR_PART_ATTACHMENT);
    unsigned char *c;
    size_t n;
    assert_int_equal(sgr_mime_part_content(m, 3, &c, &n), SGR_MIME_OK);
    assert_int_equal(n, part(m, 3)->size);
    assert_true(n > 16 && memcmp(c, "Subject: inner\n", 15) == 0);
    free(c);
    sgr_mime_free(m);
}

/* ---- hostile input ---------------------------------------------------------------- */

static void empty_and_null(void **state)
{
    sgr_mime *m = NULL;
    assert_int_equal(sgr_mime_parse(NULL, "x", 1, NULL), SGR_MIME_EINVAL);
    assert_int_equal(sgr_mime_parse(&m, NULL, 1, NULL), SGR_MIME_EINVAL);
    assert_null(m);
    m = parse_mem(NULL, 0, NULL);
    const sgr_mime_view *v = sgr_mime_get(m);
    check_invariants(m, NULL);
    assert_string_equal(v->subject, "");
    assert_null(v->date);
    assert_int_equal(v->date_unix, 0);
    assert_string_equal(v->body, "");
    assert_int_equal(v->body_len, 0);
    assert_int_equal(v->body_part, -1);
    assert_int_equal(v->nparts, 0);
    assert_int_equal(sgr_mime_find_cid(m, "a", 1), -1);
    unsigned char *c;
    size_t n;
    assert_int_equal(sgr_mime_part_content(m, 0, &c, &n), SGR_MIME_EINVAL);
    assert_int_equal(sgr_mime_part_content(NULL, 0, &c, &n), SGR_MIME_EINVAL);
    assert_null(sgr_mime_get(NULL));
    assert_int_equal(sgr_mime_find_cid(NULL, "a", 1), -1);
    sgr_mime_free(m);
    sgr_mime_free(NULL);
}

static void header_only(void **state)
{
    static const char *const msgs[] = {"Subject: only a header\n", "Subject: only a header\r\n",
                                       "Subject: only a header", "Subject: only a header\n\n"};
    for (size_t i = 0; i < 4; i++) {
        sgr_mime *m = parse_str(msgs[i]);
        const sgr_mime_view *v = sgr_mime_get(m);
        check_invariants(m, NULL);
        assert_string_equal(v->subject, "only a header");
        assert_string_equal(v->body, "");
        assert_int_equal(v->nparts, 1);
        assert_int_equal(v->body_part, 0);
        assert_string_equal(part(m, 0)->content_type, "text/plain");
        assert_int_equal(part(m, 0)->size, 0);
        sgr_mime_free(m);
    }
}

static void body_case(const char *msg, size_t len, const char *want_body, int want_part,
                      size_t want_nparts)
{
    sgr_mime *m = parse_mem(msg, len, NULL);
    const sgr_mime_view *v = sgr_mime_get(m);
    check_invariants(m, NULL);
    assert_string_equal(v->body, want_body);
    assert_int_equal(v->body_part, want_part);
    assert_int_equal(v->nparts, want_nparts);
    sgr_mime_free(m);
}

#define BODY_CASE(lit, body, part, n) body_case(lit, sizeof(lit) - 1, body, part, n)

static void broken_structure(void **state)
{
    /* an mbox "From " line first (RFC 4155): skipped, as readers do */
    BODY_CASE("From alice@example.com Fri Dec  4 10:00:00 2026\nSubject: x\n\nbody\n", "body\n", 0,
              1);
    BODY_CASE("From ", "", -1, 0);
    /* no Content-Type: text/plain (RFC 2045 5.2) */
    BODY_CASE("Subject: x\n\nplain text\n", "plain text\n", 0, 1);
    /* not a message at all: GMime gives up, the bytes are shown as text */
    BODY_CASE("just some words\nand more\n", "just some words\nand more\n", -1, 0);
    /* the boundary never comes: what GMime kept before it is the text */
    BODY_CASE("Content-Type: multipart/mixed; boundary=b\n\nprologue\n--c\n"
              "Content-Type: text/html\n\n<p>x</p>\n--c--\n",
              "prologue\n--c\nContent-Type: text/html\n\n<p>x</p>\n--c--\n", -1, 0);
    BODY_CASE("Content-Type: multipart/mixed\n\nno boundary at all\n", "no boundary at all\n", -1,
              0);
    /* no closing boundary, the message cut mid-part */
    BODY_CASE("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
              "first\n--b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n"
              "QUJDRE",
              "first", 0, 2);
    /* an empty multipart/alternative, then the text */
    BODY_CASE("Content-Type: multipart/mixed; boundary=b\n\n--b\n"
              "Content-Type: multipart/alternative; boundary=c\n\n--c--\n"
              "--b\nContent-Type: text/plain\n\nafter\n--b--\n",
              "after", 0, 1);
    /* a NUL in a field name: GMime makes no message; shown as text */
    BODY_CASE("Subj\0ect: a\nContent-Type: text/plain\n\nx\0y\n",
              "Subj\xEF\xBF\xBD"
              "ect: a\nContent-Type: text/plain\n\nx\xEF\xBF\xBDy\n",
              -1, 0);
    /* a NUL in a value and in the body */
    BODY_CASE("Subject: a\0b\nContent-Type: text/plain\n\nx\0y\n",
              "x\xEF\xBF\xBD"
              "y\n",
              0, 1);
    /* an unknown transfer encoding: the bytes as they are */
    BODY_CASE("Content-Type: text/plain\nContent-Transfer-Encoding: x-foo\n\n=41\n", "=41\n", 0, 1);
    /* UTF-16 text is converted, its NUL bytes are not NULs */
    BODY_CASE("Content-Type: text/plain; charset=utf-16le\n\na\0b\0", "ab", 0, 1);
    /* an odd byte out in UTF-16: one replacement */
    BODY_CASE("Content-Type: text/plain; charset=utf-16le\n\na\0b", "a\xEF\xBF\xBD", 0, 1);
}

static void truncated_encodings(void **state)
{
    /* base64 cut mid-quantum: the whole quanta */
    BODY_CASE("Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\nQUJDRE", "ABC", 0, 1);
    /* base64 with junk and no padding */
    BODY_CASE("Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\nQU!JD\n", "ABC", 0,
              1);
    /* quoted-printable: a soft break, then an escape cut at the end */
    BODY_CASE("Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
              "abc=3D=\nde=4",
              "abc=de", 0, 1);
    /* an encoded word with a NUL in it: the NUL is a control, dropped */
    sgr_mime *m = parse_str("Subject: =?utf-8?Q?a=00b?=\n\nx");
    assert_string_equal(sgr_mime_get(m)->subject, "ab");
    sgr_mime_free(m);
}

static void megabyte_lines(void **state)
{
    size_t mb = 1u << 20;
    char *msg = malloc(3 * mb + 200);
    assert_non_null(msg);
    size_t n = 0;
    n += (size_t)sprintf(msg + n, "Subject: ");
    memset(msg + n, 'a', mb);
    n += mb;
    n += (size_t)sprintf(msg + n, "\nX-Long: ");
    memset(msg + n, 'b', mb);
    n += mb;
    n += (size_t)sprintf(msg + n, "\nContent-Type: text/plain\n\n");
    memset(msg + n, 'c', mb);
    n += mb;
    sgr_mime *m = parse_mem(msg, n, NULL);
    const sgr_mime_view *v = sgr_mime_get(m);
    check_invariants(m, NULL);
    assert_int_equal(strlen(v->subject), mb);
    assert_int_equal(v->body_len, mb);
    assert_int_equal(v->body[0], 'c');
    assert_int_equal(v->nparts, 1);
    sgr_mime_free(m);
    free(msg);
}

static void deep_nesting(void **state)
{
    /* 5,000 nested multiparts: GMime stops at its own 1,024, we at 32 */
    size_t cap = 5000 * 64 + 100, n = 0;
    char *msg = malloc(cap);
    assert_non_null(msg);
    for (int i = 0; i < 5000; i++)
        n += (size_t)snprintf(msg + n, cap - n,
                              "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
    n += (size_t)snprintf(msg + n, cap - n, "Content-Type: text/plain\n\ndeep\n");
    sgr_mime *m = parse_mem(msg, n, NULL);
    const sgr_mime_view *v = sgr_mime_get(m);
    check_invariants(m, NULL);
    assert_int_equal(v->nparts, 0);
    assert_int_equal(v->truncated, 1);
    assert_string_equal(v->body, "");
    sgr_mime_free(m);
    free(msg);
}

static void structure_flood(void **state)
{
    /* 1 MB of empty parts (200,000) and 1 MB of header fields (200,000):
     * GMime is handed only the first few thousand lines of structure */
    size_t cap = 1u << 21, n = 0;
    char *msg = malloc(cap);
    assert_non_null(msg);
    n += (size_t)sprintf(msg, "Subject: flood\nContent-Type: multipart/mixed; boundary=b\n\n");
    while (n < (1u << 20))
        n += (size_t)sprintf(msg + n, "--b\n\n");
    sgr_mime *m = parse_mem(msg, n, NULL);
    const sgr_mime_view *v = sgr_mime_get(m);
    check_invariants(m, NULL);
    assert_string_equal(v->subject, "flood");
    assert_int_equal(v->nparts, SGR_MIME_MAX_PARTS);
    assert_int_equal(v->truncated, 1);
    sgr_mime_free(m);

    n = (size_t)sprintf(msg, "Subject: many fields\n");
    while (n < (1u << 20))
        n += (size_t)sprintf(msg + n, "X: y\n");
    n += (size_t)sprintf(msg + n, "\nthe body\n");
    m = parse_mem(msg, n, NULL);
    v = sgr_mime_get(m);
    check_invariants(m, NULL);
    assert_string_equal(v->subject, "many fields");
    assert_int_equal(v->truncated, 1);
    sgr_mime_free(m);

    /* 1 MB of parameters on one field */
    n = (size_t)sprintf(msg, "Subject: params\nContent-Type: text/plain");
    while (n < (1u << 20))
        n += (size_t)sprintf(msg + n, "; a=b");
    n += (size_t)sprintf(msg + n, "\n\nx\n");
    m = parse_mem(msg, n, NULL);
    v = sgr_mime_get(m);
    check_invariants(m, NULL);
    assert_string_equal(v->subject, "params");
    assert_int_equal(v->truncated, 1);
    sgr_mime_free(m);

    /* below the bound nothing is cut: 2,000 parts of real shape */
    n = (size_t)sprintf(msg, "Content-Type: multipart/mixed; boundary=b\n\n");
    for (int i = 0; i < 2000; i++)
        n += (size_t)sprintf(msg + n,
                             "--b\nContent-Type: application/pdf; name=p%d.pdf\n"
                             "Content-Transfer-Encoding: base64\nContent-ID: <p%d@x>\n\nQUJD\n",
                             i, i);
    n += (size_t)sprintf(msg + n, "--b--\n");
    sgr_mime_limits lim;
    sgr_mime_limits_init(&lim);
    lim.max_parts = 2000;
    m = parse_mem(msg, n, &lim);
    v = sgr_mime_get(m);
    check_invariants(m, &lim);
    assert_int_equal(v->nparts, 2000);
    assert_int_equal(v->truncated, 0);
    assert_string_equal(part(m, 1999)->filename, "p1999.pdf");
    sgr_mime_free(m);
    free(msg);
}

static void address_fields_left_alone(void **state)
{
    /* GMime's address parser recurses into groups: 100,000 nested ones
     * overflow the stack; at the top (GMime builds no GMimeMessage for it)
     * and in an attached message (the field is renamed first) */
    size_t cap = 1u << 20, n = 0;
    char *msg = malloc(cap);
    assert_non_null(msg);
    n += (size_t)sprintf(msg, "Subject: groups\nFrom: ");
    for (int i = 0; i < 100000; i++)
        n += (size_t)sprintf(msg + n, "g:");
    n += (size_t)sprintf(msg + n, "a@b\n");
    for (int i = 0; i < 5000; i++)
        n += (size_t)sprintf(msg + n, "To: a@b\n");
    size_t head = n;
    n += (size_t)sprintf(msg + n, "\nbody\n");
    sgr_mime *m = parse_mem(msg, n, NULL);
    check_invariants(m, NULL);
    assert_string_equal(sgr_mime_get(m)->subject, "groups");
    assert_string_equal(sgr_mime_get(m)->body, "body\n");
    sgr_mime_free(m);

    static const char pre[] = "Content-Type: multipart/mixed; boundary=b\n\n--b\n\ntext\n"
                              "--b\nContent-Type: message/rfc822\n\n";
    char *msg2 = malloc(head + sizeof pre + 64);
    assert_non_null(msg2);
    memcpy(msg2, pre, sizeof pre - 1);
    memcpy(msg2 + sizeof pre - 1, msg, head);
    size_t n2 = sizeof pre - 1 + head;
    n2 += (size_t)sprintf(msg2 + n2, "\ninner\n--b--\n");
    m = parse_mem(msg2, n2, NULL);
    const sgr_mime_view *v = sgr_mime_get(m);
    check_invariants(m, NULL);
    assert_string_equal(v->body, "text");
    assert_int_equal(v->nparts, 2);
    /* the attached message as GMime writes it back: the same bytes but
     * for the hostile field's name, renamed so GMime leaves it alone */
    assert_string_equal(part(m, 1)->content_type, "message/rfc822");
    assert_int_equal(part(m, 1)->size, head + strlen("\ninner"));
    unsigned char *c;
    size_t cn;
    assert_int_equal(sgr_mime_part_content(m, 1, &c, &cn), SGR_MIME_OK);
    assert_memory_equal(c, "Subject: groups\nXrom: g:g:", 26);
    assert_memory_equal(c + 17, msg + 17, head - 17);
    free(c);
    sgr_mime_free(m);

    /* unterminated groups in a list, and a comment that hides the type
     * from a naive look: still renamed, still no crash */
    static const char *const heads[] = {
        "Content-Type: message/rfc822\n\nTo: ",
        "Content-Type: (x) message/rfc822\n\nCc : ",
        "Content-Type: multipart/digest; boundary=b\n\n--b\n\nReply-To:\n ",
    };
    for (size_t h = 0; h < 3; h++) {
        n = (size_t)sprintf(msg, "%s", heads[h]);
        while (n < 400000)
            n += (size_t)sprintf(msg + n, "g:a@b,");
        n += (size_t)sprintf(msg + n, "\n\nx\n--b--\n");
        m = parse_mem(msg, n, NULL);
        v = sgr_mime_get(m);
        check_invariants(m, NULL);
        assert_int_equal(v->nparts, 1);
        assert_string_equal(part(m, 0)->content_type, "message/rfc822");
        sgr_mime_free(m);
    }
    free(msg2);
    free(msg);
}

/* ---- bounds ---------------------------------------------------------------------------- */

static void bound_parts(void **state)
{
    char msg[4096];
    size_t n = (size_t)snprintf(msg, sizeof msg,
                                "Content-Type: multipart/mixed; boundary=z\n\n"
                                "--z\nContent-Type: text/plain\n\nbody\n");
    for (int i = 0; i < 10; i++)
        n += (size_t)snprintf(msg + n, sizeof msg - n,
                              "--z\nContent-Type: application/pdf; name=a%d.pdf\n\n%d\n", i, i);
    n += (size_t)snprintf(msg + n, sizeof msg - n, "--z--\n");
    sgr_mime_limits lim;
    sgr_mime_limits_init(&lim);
    sgr_mime *m = parse_mem(msg, n, &lim);
    assert_int_equal(sgr_mime_get(m)->nparts, 11);
    assert_int_equal(sgr_mime_get(m)->truncated, 0);
    sgr_mime_free(m);
    lim.max_parts = 3;
    m = parse_mem(msg, n, &lim);
    const sgr_mime_view *v = sgr_mime_get(m);
    check_invariants(m, &lim);
    assert_int_equal(v->nparts, 3);
    assert_int_equal(v->truncated, 1);
    assert_string_equal(v->body, "body");
    assert_string_equal(part(m, 2)->filename, "a1.pdf");
    sgr_mime_free(m);
}

static void bound_depth(void **state)
{
    static const char msg[] = "Content-Type: multipart/mixed; boundary=a\n\n"
                              "--a\nContent-Type: text/plain\n\ntop\n"
                              "--a\nContent-Type: multipart/mixed; boundary=b\n\n"
                              "--b\nContent-Type: application/pdf; name=one.pdf\n\n1\n"
                              "--b\nContent-Type: multipart/mixed; boundary=c\n\n"
                              "--c\nContent-Type: application/pdf; name=two.pdf\n\n2\n"
                              "--c--\n--b--\n--a--\n";
    sgr_mime_limits lim;
    sgr_mime_limits_init(&lim);
    sgr_mime *m = parse_mem(msg, sizeof msg - 1, &lim);
    assert_int_equal(sgr_mime_get(m)->nparts, 3);
    assert_int_equal(sgr_mime_get(m)->truncated, 0);
    sgr_mime_free(m);
    lim.max_depth = 2; /* the top multipart and one below it */
    m = parse_mem(msg, sizeof msg - 1, &lim);
    check_invariants(m, &lim);
    assert_int_equal(sgr_mime_get(m)->nparts, 2);
    assert_string_equal(part(m, 1)->filename, "one.pdf");
    assert_int_equal(sgr_mime_get(m)->truncated, 1);
    sgr_mime_free(m);
    lim.max_depth = 0; /* not even the top one */
    m = parse_mem(msg, sizeof msg - 1, &lim);
    check_invariants(m, &lim);
    assert_int_equal(sgr_mime_get(m)->nparts, 0);
    assert_int_equal(sgr_mime_get(m)->truncated, 1);
    sgr_mime_free(m);
}

static void bound_body(void **state)
{
    static const char msg[] = "Content-Type: text/plain; charset=utf-8\n\n\xC3\xA9\xC3\xA9\xC3\xA9";
    sgr_mime_limits lim;
    sgr_mime_limits_init(&lim);
    static const struct {
        size_t max;
        const char *want;
        int truncated;
    } cases[] = {
        {6, "\xC3\xA9\xC3\xA9\xC3\xA9", 0},
        {5, "\xC3\xA9\xC3\xA9", 1},
        {4, "\xC3\xA9\xC3\xA9", 1},
        {3, "\xC3\xA9", 1},
        {1, "", 1},
        {0, "", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lim.max_body = cases[i].max;
        sgr_mime *m = parse_mem(msg, sizeof msg - 1, &lim);
        const sgr_mime_view *v = sgr_mime_get(m);
        check_invariants(m, &lim);
        assert_string_equal(v->body, cases[i].want);
        assert_int_equal(v->truncated, cases[i].truncated);
        /* the part itself stays whole */
        assert_int_equal(part(m, 0)->size, 6);
        sgr_mime_free(m);
    }
}

static void bound_decoded(void **state)
{
    /* body 5 bytes, then attachments of 4 and 8: within 10, the body and
     * the first; the second is left out */
    static const char msg[] = "Content-Type: multipart/mixed; boundary=z\n\n"
                              "--z\nContent-Type: application/pdf; name=big.pdf\n\n12345678\n"
                              "--z\nContent-Type: text/plain\n\nhello\n"
                              "--z\nContent-Type: application/pdf; name=small.pdf\n\n1234\n"
                              "--z--\n";
    sgr_mime_limits lim;
    sgr_mime_limits_init(&lim);
    lim.max_decoded = 10;
    sgr_mime *m = parse_mem(msg, sizeof msg - 1, &lim);
    const sgr_mime_view *v = sgr_mime_get(m);
    check_invariants(m, &lim);
    assert_int_equal(v->truncated, 1);
    assert_int_equal(v->nparts, 2);
    assert_string_equal(v->body, "hello");
    assert_int_equal(v->body_part, 0);
    assert_string_equal(part(m, 1)->filename, "small.pdf");
    sgr_mime_free(m);
    lim.max_decoded = 4; /* not even the body */
    m = parse_mem(msg, sizeof msg - 1, &lim);
    v = sgr_mime_get(m);
    check_invariants(m, &lim);
    assert_int_equal(v->nparts, 1);
    assert_int_equal(v->body_part, -1);
    assert_string_equal(v->body, "");
    assert_string_equal(part(m, 0)->filename, "small.pdf");
    sgr_mime_free(m);
}

/* ---- threads ------------------------------------------------------------------------ */

/* The viewer parses and serves parts from several threads: one parse per
 * thread, and one parsed message read by all (no state of ours is
 * shared; GMime's is set up once). */
static const sgr_mime *shared_msg;

static void *thread_job(void *arg)
{
    char *data = arg;
    for (int i = 0; i < 40; i++) {
        sgr_mime *m = NULL;
        if (sgr_mime_parse(&m, data, strlen(data), NULL) != SGR_MIME_OK)
            return "parse";
        const sgr_mime_view *v = sgr_mime_get(m);
        if (v->nparts != 3 || v->body_part != 1 ||
            strcmp(v->parts[2].content_id, "logo@EXAMPLE.com"))
            return "view";
        sgr_mime_free(m);
        unsigned char *c;
        size_t n;
        if (sgr_mime_part_content(shared_msg, 2, &c, &n) != SGR_MIME_OK || n != 74)
            return "content";
        free(c);
        if (sgr_mime_find_cid(shared_msg, "logo%40example.com", 18) != 2)
            return "cid";
    }
    return NULL;
}

static void threads(void **state)
{
    size_t len;
    char *data = sg_test_read_file(sg_test_path(sg_test_data_dir(), "mime/related_cid.eml"), &len);
    assert_non_null(data);
    sgr_mime *m = parse_mem(data, len, NULL);
    shared_msg = m;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_job, data), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        assert_int_equal(pthread_join(t[i], &r), 0);
        if (r != NULL)
            fail_msg("thread %d: %s", i, (const char *)r);
    }
    sgr_mime_free(m);
    free(data);
}

/* ---- --dump: the oracle script's view --------------------------------------------- */

static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        if (*u == '"' || *u == '\\')
            printf("\\%c", *u);
        else if (*u < 0x20)
            printf("\\u%04x", *u);
        else
            putchar(*u);
    }
    putchar('"');
}

/* One JSON object per file: what tests/scripts/mime_pyemail_diff.sh
 * compares with Python's email package. */
static int dump(int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        size_t len;
        char *data = sg_test_read_file(argv[i], &len);
        sgr_mime *m = NULL;
        if (data == NULL || sgr_mime_parse(&m, data, len, NULL) != SGR_MIME_OK) {
            fprintf(stderr, "test_mime: cannot read %s\n", argv[i]);
            return 1;
        }
        const sgr_mime_view *v = sgr_mime_get(m);
        printf("{\"file\":");
        json_str(argv[i]);
        printf(",\"subject\":");
        json_str(v->subject);
        printf(",\"body_type\":\"%s\",\"body\":", v->body_part < 0  ? "none"
                                                  : v->body_is_html ? "html"
                                                                    : "plain");
        json_str(v->body);
        printf(",\"names\":[");
        int first = 1;
        for (size_t k = 0; k < v->nparts; k++)
            if (v->parts[k].filename) {
                printf(first ? "" : ",");
                json_str(v->parts[k].filename);
                first = 0;
            }
        printf("],\"parts\":[");
        for (size_t k = 0; k < v->nparts; k++) {
            printf("%s[", k ? "," : "");
            json_str(v->parts[k].content_type);
            printf(",%zu]", v->parts[k].size);
        }
        printf("]}\n");
        sgr_mime_free(m);
        free(data);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--dump") == 0)
        return dump(argc, argv);
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
        cmocka_unit_test(html_meta_charset),
        cmocka_unit_test(subjects),
        cmocka_unit_test(subject_words_inline),
        cmocka_unit_test(dates),
        cmocka_unit_test(risk_classes),
        cmocka_unit_test(risk_details),
        cmocka_unit_test(risk_names),
        cmocka_unit_test(inline_image_roles),
        cmocka_unit_test(names_encoded_and_attached_message),
        cmocka_unit_test(empty_and_null),
        cmocka_unit_test(header_only),
        cmocka_unit_test(broken_structure),
        cmocka_unit_test(truncated_encodings),
        cmocka_unit_test(megabyte_lines),
        cmocka_unit_test(deep_nesting),
        cmocka_unit_test(structure_flood),
        cmocka_unit_test(address_fields_left_alone),
        cmocka_unit_test(bound_parts),
        cmocka_unit_test(bound_depth),
        cmocka_unit_test(bound_body),
        cmocka_unit_test(bound_decoded),
        cmocka_unit_test(threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
