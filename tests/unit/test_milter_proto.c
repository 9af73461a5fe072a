/* Milter protocol codec: decoding what Postfix 3.7 sends, malformed and
 * truncated packets, and the exact bytes of our replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "milter_proto.h"

/* Frame a packet: 4-byte length, command, data. */
static size_t frame(unsigned char *out, char cmd, const void *data, size_t len)
{
    uint32_t l = (uint32_t)len + 1;
    out[0] = (unsigned char)(l >> 24);
    out[1] = (unsigned char)(l >> 16);
    out[2] = (unsigned char)(l >> 8);
    out[3] = (unsigned char)l;
    out[4] = (unsigned char)cmd;
    memcpy(out + 5, data, len);
    return len + 5;
}

static void optneg_and_connect_bytewise(void **state)
{
    unsigned char wire[512];
    size_t n = 0;
    const unsigned char opt[12] = {0, 0, 0, 6, 0, 0, 1, 0xff, 0, 0x1f, 0xff, 0xff};
    n += frame(wire + n, 'O', opt, sizeof(opt));
    /* "mx.remote.test\0" '4' port 0x1234 "127.0.0.20\0" */
    const char conn[] = "mx.remote.test\0"
                        "4\x12\x34"
                        "127.0.0.20";
    n += frame(wire + n, 'C', conn, sizeof(conn));
    const char mac[] = "C"
                       "j\0mx.rcpt.test\0{daemon_name}\0ORIGINATING";
    n += frame(wire + n, 'D', mac, sizeof(mac));

    sg_milter_reader r;
    sg_milter_cmd c;
    sg_milter_reader_init(&r, 0);
    int got = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sg_milter_feed(&r, wire + i, 1), SG_MILTER_OK);
        sg_milter_status st;
        while ((st = sg_milter_next(&r, &c)) == SG_MILTER_OK) {
            switch (got++) {
            case 0:
                assert_int_equal(c.cmd, 'O');
                assert_int_equal(c.u.optneg.version, 6);
                assert_int_equal(c.u.optneg.actions, 0x1ff);
                assert_int_equal(c.u.optneg.protocol, 0x1fffff);
                break;
            case 1:
                assert_int_equal(c.cmd, 'C');
                assert_string_equal(c.u.connect.hostname, "mx.remote.test");
                assert_int_equal(c.u.connect.family, '4');
                assert_int_equal(c.u.connect.port, 0x1234);
                assert_string_equal(c.u.connect.address, "127.0.0.20");
                break;
            case 2:
                assert_int_equal(c.cmd, 'D');
                assert_int_equal(c.u.macro.stage, 'C');
                assert_int_equal(c.u.macro.n, 2);
                assert_string_equal(c.u.macro.name[1], "{daemon_name}");
                assert_string_equal(c.u.macro.value[1], "ORIGINATING");
                break;
            }
        }
        assert_int_equal(st, SG_MILTER_NEED_MORE);
    }
    assert_int_equal(got, 3);
    sg_milter_reader_free(&r);
}

static void header_with_nul_and_body(void **state)
{
    unsigned char wire[256];
    size_t n = 0;
    const char hdr[] = "Subject\0 hi\0there"; /* value holds a NUL byte */
    n += frame(wire + n, 'L', hdr, sizeof(hdr));
    n += frame(wire + n, 'B', "line\r\n", 6);
    n += frame(wire + n, 'E', "", 0);
    sg_milter_reader r;
    sg_milter_cmd c;
    sg_milter_reader_init(&r, 0);
    assert_int_equal(sg_milter_feed(&r, wire, n), SG_MILTER_OK);
    assert_int_equal(sg_milter_next(&r, &c), SG_MILTER_OK);
    assert_string_equal(c.u.header.name, "Subject");
    assert_int_equal(c.u.header.value_len, 9);
    assert_memory_equal(c.u.header.value, " hi\0there", 9);
    assert_int_equal(sg_milter_next(&r, &c), SG_MILTER_OK);
    assert_int_equal(c.cmd, 'B');
    assert_int_equal(c.u.body.len, 6);
    assert_int_equal(sg_milter_next(&r, &c), SG_MILTER_OK);
    assert_int_equal(c.cmd, 'E');
    assert_int_equal(c.u.body.len, 0);
    assert_int_equal(sg_milter_next(&r, &c), SG_MILTER_NEED_MORE);
    sg_milter_reader_free(&r);
}

static sg_milter_status decode_one(char cmd, const void *data, size_t len)
{
    unsigned char wire[256];
    size_t n = frame(wire, cmd, data, len);
    sg_milter_reader r;
    sg_milter_cmd c;
    sg_milter_reader_init(&r, 0);
    sg_milter_feed(&r, wire, n);
    sg_milter_status st = sg_milter_next(&r, &c);
    sg_milter_reader_free(&r);
    return st;
}

static void malformed_packets(void **state)
{
    /* OPTNEG too short */
    assert_int_equal(decode_one('O', "\0\0\0\6", 4), SG_MILTER_EPROTO);
    /* CONNECT without terminating NUL after the address */
    assert_int_equal(decode_one('C',
                                "h\0"
                                "4\0\1"
                                "1.2.3.4",
                                12),
                     SG_MILTER_EPROTO);
    /* CONNECT with an unknown family */
    assert_int_equal(decode_one('C',
                                "h\0"
                                "X\0\1"
                                "1.2.3.4\0",
                                13),
                     SG_MILTER_EPROTO);
    /* header without value */
    assert_int_equal(decode_one('L', "Subject\0", 8), SG_MILTER_EPROTO);
    /* macro with an odd number of strings */
    assert_int_equal(decode_one('D', "Cj\0", 3), SG_MILTER_EPROTO);
    /* unknown command */
    assert_int_equal(decode_one('Z', "", 0), SG_MILTER_EPROTO);
    /* MAIL with no argument */
    assert_int_equal(decode_one('M', "", 0), SG_MILTER_EPROTO);
    /* HELO not NUL-terminated */
    assert_int_equal(decode_one('H', "abc", 3), SG_MILTER_EPROTO);

    /* a zero length and a length over the limit are desyncs */
    sg_milter_reader r;
    sg_milter_cmd c;
    sg_milter_reader_init(&r, 1024);
    sg_milter_feed(&r, "\0\0\0\0", 4);
    assert_int_equal(sg_milter_next(&r, &c), SG_MILTER_EPROTO);
    sg_milter_reader_free(&r);
    sg_milter_reader_init(&r, 1024);
    sg_milter_feed(&r,
                   "\0\0\x04\x01"
                   "B",
                   5);
    assert_int_equal(sg_milter_next(&r, &c), SG_MILTER_EPROTO);
    sg_milter_reader_free(&r);
    /* a truncated packet waits for more */
    sg_milter_reader_init(&r, 1024);
    sg_milter_feed(&r,
                   "\0\0\0\x05"
                   "Hab",
                   7);
    assert_int_equal(sg_milter_next(&r, &c), SG_MILTER_NEED_MORE);
    sg_milter_reader_free(&r);
}

static void reply_bytes(void **state)
{
    sg_milter_out o = {0};
    sg_milter_put_simple(&o, SG_MR_CONTINUE);
    assert_int_equal(o.len, 5);
    assert_memory_equal(o.buf, "\0\0\0\1c", 5);
    o.len = 0;
    sg_milter_put_chgheader(&o, 2, "Authentication-Results", "");
    const char want[] = "\0\0\0\x1dm\0\0\0\2"
                        "Authentication-Results\0";
    assert_int_equal(o.len, sizeof(want));
    assert_memory_equal(o.buf, want, sizeof(want));
    o.len = 0;
    sg_milter_put_replycode(&o, "550 5.7.1 no");
    assert_memory_equal(o.buf,
                        "\0\0\0\x0e"
                        "y550 5.7.1 no\0",
                        18);
    o.len = 0;
    const char *sym[7] = {0};
    sym[SG_MS_MAIL] = "{auth_authen}";
    sg_milter_put_optneg(&o, 6, SG_MF_ADDHDRS, 0, sym);
    const char wopt[] = "\0\0\0\x1fO\0\0\0\6\0\0\0\1\0\0\0\0\0\0\0\2{auth_authen}";
    assert_int_equal(o.len, sizeof(wopt));
    assert_memory_equal(o.buf, wopt, sizeof(wopt));
    sg_milter_out_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(optneg_and_connect_bytewise),
        cmocka_unit_test(header_with_nul_and_body),
        cmocka_unit_test(malformed_packets),
        cmocka_unit_test(reply_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
