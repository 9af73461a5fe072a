/*
 * Delivery-status reports for the outbound engine's bounce rate
 * (src/daemon/dsn.c): the failed recipients' statuses of a real-shaped
 * RFC 3464 report (Postfix's own bounce layout), nothing from a message
 * that only looks like one, and the reverse sender-map lookup that says
 * whose report it is (maps.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dsn.h"
#include "maps.h"

/* The layout of a Postfix bounce (bounce(8) with the RFC 3464 part). */
static const char POSTFIX_BOUNCE[] =
    "From: MAILER-DAEMON@mx.remote.test (Mail Delivery System)\r\n"
    "Subject: Undelivered Mail Returned to Sender\r\n"
    "To: alice@ourco.test\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
    "\tboundary=\"B1\"\r\n"
    "\r\n"
    "This is a MIME-encapsulated message.\r\n"
    "\r\n"
    "--B1\r\n"
    "Content-Description: Notification\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "I'm sorry to have to inform you that your message could not\r\n"
    "Status: 5.9.9 (this line is in the text part and must not count)\r\n"
    "\r\n"
    "--B1\r\n"
    "Content-Description: Delivery report\r\n"
    "Content-Type: message/delivery-status\r\n"
    "\r\n"
    "Reporting-MTA: dns; mx.remote.test\r\n"
    "X-Postfix-Queue-ID: 4AB12\r\n"
    "Arrival-Date: Fri,  4 Dec 2026 15:00:00 +0000 (UTC)\r\n"
    "\r\n"
    "Final-Recipient: rfc822; nobody@remote.test\r\n"
    "Original-Recipient: rfc822;nobody@remote.test\r\n"
    "Action: failed\r\n"
    "Status: 5.1.1\r\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <nobody@remote.test>: User unknown\r\n"
    "\r\n"
    "Final-Recipient: rfc822; slow@remote.test\r\n"
    "Action: delayed\r\n"
    "Status: 4.4.1\r\n"
    "\r\n"
    "Final-Recipient: rfc822; full@remote.test\r\n"
    "Action: failed\r\n"
    "Status: 5.2.2\r\n"
    "\r\n"
    "--B1\r\n"
    "Content-Description: Undelivered Message\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Content-Type: message/delivery-status\r\n"
    "Action: failed\r\n"
    "Status: 5.7.1\r\n"
    "\r\n"
    "--B1--\r\n";

static void test_postfix_bounce(void **state)
{
    (void)state;
    sg_dsn_failure st[SG_DSN_MAX];
    size_t n = sg_dsn_failed(POSTFIX_BOUNCE, strlen(POSTFIX_BOUNCE), st, SG_DSN_MAX);
    /* the two failed recipients; not the delayed one, not the text part,
     * not the returned message's look-alike */
    assert_int_equal(n, 2);
    assert_string_equal(st[0].status, "5.1.1");
    assert_string_equal(st[0].final_rcpt, "nobody@remote.test");
    assert_string_equal(st[0].orig_rcpt, "nobody@remote.test");
    assert_string_equal(st[1].status, "5.2.2");
    assert_string_equal(st[1].final_rcpt, "full@remote.test");
    assert_string_equal(st[1].orig_rcpt, ""); /* none given */
    /* bounded */
    assert_int_equal(sg_dsn_failed(POSTFIX_BOUNCE, strlen(POSTFIX_BOUNCE), st, 1), 1);
}

static void test_not_a_report(void **state)
{
    (void)state;
    sg_dsn_failure st[SG_DSN_MAX];
    static const char plain[] =
        "Content-Type: text/plain\r\n\r\nContent-Type: message/delivery-status\r\n"
        "\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n";
    assert_int_equal(sg_dsn_failed(plain, strlen(plain), st, SG_DSN_MAX), 0);
    /* a multipart/report of another type (a feedback report) */
    static const char arf[] =
        "Content-Type: multipart/report; report-type=feedback-report;\r\n"
        " boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n\r\n--x--\r\n";
    assert_int_equal(sg_dsn_failed(arf, strlen(arf), st, SG_DSN_MAX), 0);
    /* a status that is not one, LF line ends, cut short */
    static const char odd[] = "Content-Type: multipart/report; report-type=delivery-status; "
                              "boundary=x\n\n--x\nContent-Type: message/delivery-status\n\n"
                              "Action: failed\nStatus: 9.9\n\nAction: failed\nStatus: 5.0.0";
    size_t n = sg_dsn_failed(odd, strlen(odd), st, SG_DSN_MAX);
    assert_int_equal(n, 1);
    assert_string_equal(st[0].status, "5.0.0");
    assert_string_equal(st[0].final_rcpt, "");
    assert_int_equal(sg_dsn_failed("", 0, st, SG_DSN_MAX), 0);
}

/* The recipient fields: only an rfc822 address, with or without <> and
 * blanks; another type, two words, no @, or an overlong one give "". */
static void test_recipients(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"rfc822; a@remote.test", "a@remote.test"},
        {"RFC822;<B@Remote.Test>", "B@Remote.Test"},
        {"rfc822 ;  c@remote.test  ", "c@remote.test"},
        {"x400; a@remote.test", ""},
        {"rfc822; not an address", ""},
        {"rfc822; nobody", ""},
        {"rfc822;", ""},
        {"rfc822; a@b <c@d>", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msg[1024];
        snprintf(msg, sizeof(msg),
                 "Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n"
                 "--x\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; m.test\n\n"
                 "Final-Recipient: %s\nOriginal-Recipient: %s\nAction: failed\n"
                 "Status: 5.1.1\n\n--x--\n",
                 cases[i][0], cases[i][0]);
        sg_dsn_failure f[2];
        assert_int_equal(sg_dsn_failed(msg, strlen(msg), f, 2), 1);
        assert_string_equal(f[0].final_rcpt, cases[i][1]);
        assert_string_equal(f[0].orig_rcpt, cases[i][1]);
    }
    /* 255 bytes fit, 256 do not */
    char msg[2048], addr[300];
    for (size_t len = 255; len <= 256; len++) {
        memset(addr, 'a', len);
        memcpy(addr + len - 7, "@b.test", 7);
        addr[len] = '\0';
        snprintf(msg, sizeof(msg),
                 "Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n"
                 "--x\nContent-Type: message/delivery-status\n\n\nFinal-Recipient: rfc822; %s\n"
                 "Action: failed\nStatus: 5.1.1\n\n--x--\n",
                 addr);
        sg_dsn_failure f[1];
        assert_int_equal(sg_dsn_failed(msg, strlen(msg), f, 1), 1);
        assert_string_equal(f[0].final_rcpt, len == 255 ? addr : "");
    }
}

static void test_login_of(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg-dsn.XXXXXX", path[64], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/senders", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("alice alice@ourco.test, a.smith@ourco.test\n"
          "bob bob@ourco.test, @ourco.test\n"
          "team shared@ourco.test\n"
          "carol shared@ourco.test\n",
          f);
    fclose(f);
    sg_config cfg;
    assert_int_equal(sg_config_defaults(&cfg), 0);
    cfg.sender_map = strdup(path);
    sg_maps *m;
    assert_int_equal(sg_maps_load(&m, &cfg, err, sizeof(err)), 0);
    assert_string_equal(sg_maps_login_of(m, "alice@ourco.test"), "alice");
    assert_string_equal(sg_maps_login_of(m, "A.Smith@OURCO.test"), "alice");
    assert_string_equal(sg_maps_login_of(m, "bob@ourco.test"), "bob");
    /* only a wildcard: no one account */
    assert_null(sg_maps_login_of(m, "dave@ourco.test"));
    /* two owners: no one account */
    assert_null(sg_maps_login_of(m, "shared@ourco.test"));
    sg_maps_free(m);
    sg_config_free(&cfg);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postfix_bounce),
        cmocka_unit_test(test_not_a_report),
        cmocka_unit_test(test_recipients),
        cmocka_unit_test(test_login_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
