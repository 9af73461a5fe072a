/*
 * spoofguardd's line a message (src/daemon/log.c): one write of one JSON
 * object and a newline, "ms" with three decimals exactly as "%.3f" gives
 * them, and a line too long for the buffer cut but still closed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* The line sg_log_message writes for m, read back from a temporary file. */
static char *line_of(const sg_log_msg *m, size_t *len)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    sg_logger log = {.fd = fileno(f)};
    sg_log_message(&log, m);
    long n = lseek(log.fd, 0, SEEK_END);
    assert_true(n > 0);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(pread(log.fd, buf, (size_t)n, 0), n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static sg_log_msg plain(double ms)
{
    sg_log_msg m = {.queue_id = "4B96CA41FF1",
                    .client = "127.0.0.20",
                    .client_name = "mx.remote.test",
                    .helo = "mx.remote.test",
                    .mail_from = "user@remote.test",
                    .login = "",
                    .action = "accept",
                    .why = "test",
                    .ms = ms};
    return m;
}

static void test_ms_as_printf(void **state)
{
    (void)state;
    const double v[] = {0, 0.0004,  0.0006,  0.001,    0.1,        1.422,
                        5, 12.3456, 172.288, 999.9999, 1234567.891};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        sg_log_msg m = plain(v[i]);
        size_t len;
        char *l = line_of(&m, &len);
        char want[64];
        snprintf(want, sizeof(want), "\"ms\":\"%.3f\"}\n", v[i]);
        assert_true(len > strlen(want));
        assert_string_equal(l + len - strlen(want), want);
        assert_int_equal(l[0], '{');
        assert_null(memchr(l, '\n', len - 1)); /* one line */
        free(l);
    }
}

static void test_long_line_cut_and_closed(void **state)
{
    (void)state;
    size_t big = 10000;
    char *why = malloc(big + 1);
    assert_non_null(why);
    memset(why, 'x', big);
    why[big] = '\0';
    sg_log_msg m = plain(1.5);
    m.why = why;
    size_t len;
    char *l = line_of(&m, &len);
    assert_true(len <= sizeof(((sg_logline *)0)->buf));
    assert_true(len > 4000); /* cut near the buffer's end, not emptied */
    assert_int_equal(l[len - 2], '}');
    assert_int_equal(l[len - 1], '\n');
    assert_null(memchr(l, '\n', len - 1));
    assert_non_null(strstr(l, "\"queue_id\":\"4B96CA41FF1\""));
    free(l);
    free(why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ms_as_printf),
        cmocka_unit_test(test_long_line_cut_and_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
