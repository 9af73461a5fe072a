/* The front ends' one JSON string writer (src/common/json.c): the CLI's
 * output contract (escapes, U+FFFD for bytes that are not UTF-8) and the
 * daemon's bounded log lines (cut at a character boundary, still valid). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/json.h"

static const struct {
    const char *in;
    size_t len;
    const char *out;
} cases[] = {
#define C(in, out)                                                                                 \
    {                                                                                              \
        in, sizeof(in) - 1, out                                                                    \
    }
    C("", "\"\""),
    C("plain text 123", "\"plain text 123\""),
    C("a\"b\\c", "\"a\\\"b\\\\c\""),
    C("l1\nl2\r\tx", "\"l1\\nl2\\r\\tx\""),
    C("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\""),
    C("nul\0in", "\"nul\\u0000in\""),
    C("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""),
    /* RFC 3629: a stray continuation, an overlong form, a surrogate, a
     * code point past U+10FFFF, a cut sequence, a byte never in UTF-8 */
    C("a\x80z", "\"a\\ufffdz\""),
    C("\xc0\x80", "\"\\ufffd\\ufffd\""),
    C("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""),
    C("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""),
    C("x\xe2\x82", "\"x\\ufffd\\ufffd\""),
    C("\xff", "\"\\ufffd\""),
#undef C
};

static void escapes(void **state)
{
    char out[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = sgu_json_quote(out, sizeof(out), cases[i].in, cases[i].len);
        out[n] = '\0';
        assert_string_equal(out, cases[i].out);
        assert_true(n <= SGU_JSON_QUOTED_MAX(cases[i].len));
    }
    assert_int_equal(sgu_json_quote(out, sizeof(out), NULL, 0), 4);
    assert_memory_equal(out, "null", 4);
}

/* The worst case fits SGU_JSON_QUOTED_MAX exactly: every byte escaped. */
static void worst_case_fits(void **state)
{
    char out[SGU_JSON_QUOTED_MAX(3)];
    assert_int_equal(sgu_json_quote(out, sizeof(out), "\x01\xff\x80", 3), sizeof(out));
}

static void cut_at_a_character(void **state)
{
    static const struct {
        size_t cap;
        const char *in, *out;
    } cuts[] = {
        {4, "h\xc3\xa9llo", "\"h\""},         /* é does not fit: not half of it */
        {5, "h\xc3\xa9llo", "\"h\xc3\xa9\""}, /* it does */
        {5, "ab\ncd", "\"ab\""},              /* \n is two bytes or none */
        {6, "ab\ncd", "\"ab\\n\""},
        {2, "abc", "\"\""},
        {3, "abc", "\"a\""},
        {8, "a\x01", "\"a\""}, /* \u0001 is six bytes */
    };
    char out[32];
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        size_t n = sgu_json_quote(out, cuts[i].cap, cuts[i].in, strlen(cuts[i].in));
        assert_true(n <= cuts[i].cap);
        out[n] = '\0';
        assert_string_equal(out, cuts[i].out);
    }
    assert_int_equal(sgu_json_quote(out, 1, "abc", 3), 0);
    assert_int_equal(sgu_json_quote(out, 3, NULL, 0), 0);
}

static void utf8_lengths(void **state)
{
    assert_int_equal(sgu_utf8_len((const unsigned char *)"a", 1), 1);
    assert_int_equal(sgu_utf8_len((const unsigned char *)"\xc3\xa9", 2), 2);
    assert_int_equal(sgu_utf8_len((const unsigned char *)"\xc3\xa9", 1), 0);
    assert_int_equal(sgu_utf8_len((const unsigned char *)"\xef\xbf\xbd", 3), 3);
    assert_int_equal(sgu_utf8_len((const unsigned char *)"\xf4\x8f\xbf\xbf", 4), 4);
    assert_int_equal(sgu_utf8_len((const unsigned char *)"\xe0\x80\x80", 3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escapes),
        cmocka_unit_test(worst_case_fits),
        cmocka_unit_test(cut_at_a_character),
        cmocka_unit_test(utf8_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
