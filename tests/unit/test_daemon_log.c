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
#include <signal.h>
#include <sys/resource.h>
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

/* A file that stops taking bytes mid-line (a full disk; here a file size
 * limit): the lines it did not take whole are counted, and the next line
 * starts on a line of its own instead of finishing the cut one (adv16 F3). */
static void test_cut_line_ended_and_counted(void **state)
{
    char path[] = "/tmp/sg-logcut.XXXXXX";
    int fd = mkstemp(path);
    sg_logstats st;
    assert_int_equal(sg_logstats_init(&st), 0);
    sg_logger log = {.fd = fd, .st = &st};
    struct rlimit old, lim;
    char buf[512], line1[128];
    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 100;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    sg_log(&log, "{\"n\":1,\"pad\":\"%040d\"}", 0); /* 56 bytes: whole */
    sg_log(&log, "{\"n\":2,\"pad\":\"%040d\"}", 0); /* 44 of 56 */
    sg_log(&log, "{\"n\":3}");                      /* nothing */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(atomic_load(&st.lost), 2);
    sg_log(&log, "{\"n\":4}");
    sg_log(&log, "{\"n\":5}");
    assert_int_equal(atomic_load(&st.lost), 2);
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    snprintf(line1, sizeof(line1), "{\"n\":1,\"pad\":\"%040d\"}\n", 0);
    assert_int_equal(strncmp(buf, line1, strlen(line1)), 0);
    assert_int_equal(n, 100 + strlen("\n{\"n\":4}\n{\"n\":5}\n"));
    assert_string_equal(buf + 100, "\n{\"n\":4}\n{\"n\":5}\n");
    sg_logstats_destroy(&st);
    close(fd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ms_as_printf),
        cmocka_unit_test(test_long_line_cut_and_closed),
        cmocka_unit_test(test_cut_line_ended_and_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
