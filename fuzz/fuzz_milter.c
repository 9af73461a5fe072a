/*
 * libFuzzer: the milter packet reader (src/daemon/milter_proto.c) on
 * arbitrary bytes, fed in chunks whose sizes come from the input itself.
 * The seeds (fuzz/seeds/fuzz_milter) are whole connections as Postfix
 * sends them, so every command the reader decodes is reached.
 *
 * Invariants: every string a decoded command points to (CONNECT host and
 * address, HELO name, MAIL/RCPT arguments, MACRO names and values, the
 * header field's name and value) starts inside the packet and ends with
 * a NUL inside it; counts stay within SG_MILTER_MAX_ARGS; a CONNECT
 * family is one the protocol defines; a header value runs to the packet's
 * last NUL; BODY, EOB and UNKNOWN hand out exactly the packet's data.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "milter_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* s is a NUL-terminated string inside the packet */
static void check_str(const sg_milter_cmd *c, const char *s)
{
    const char *end = c->data + c->len;
    if (s == NULL || s < c->data || s >= end || memchr(s, '\0', (size_t)(end - s)) == NULL)
        abort();
}

static void check_cmd(const sg_milter_cmd *c)
{
    switch (c->cmd) {
    case SG_MC_CONNECT:
        check_str(c, c->u.connect.hostname);
        if (c->u.connect.family == 'U') {
            if (strcmp(c->u.connect.address, "") != 0 || c->u.connect.port != 0)
                abort();
        } else if (c->u.connect.family == '4' || c->u.connect.family == '6' ||
                   c->u.connect.family == 'L') {
            check_str(c, c->u.connect.address);
            if (c->u.connect.address + strlen(c->u.connect.address) != c->data + c->len - 1)
                abort();
        } else {
            abort();
        }
        break;
    case SG_MC_HELO:
        check_str(c, c->u.helo.name);
        break;
    case SG_MC_MAIL:
    case SG_MC_RCPT:
        if (c->u.args.n == 0 || c->u.args.n > SG_MILTER_MAX_ARGS)
            abort();
        for (size_t i = 0; i < c->u.args.n; i++)
            check_str(c, c->u.args.argv[i]);
        break;
    case SG_MC_MACRO:
        if (c->u.macro.n > SG_MILTER_MAX_ARGS || c->len < 1 || c->u.macro.stage != c->data[0])
            abort();
        for (size_t i = 0; i < c->u.macro.n; i++) {
            check_str(c, c->u.macro.name[i]);
            check_str(c, c->u.macro.value[i]);
        }
        break;
    case SG_MC_HEADER:
        check_str(c, c->u.header.name);
        if (c->u.header.value < c->data || c->u.header.value > c->data + c->len - 1 ||
            c->u.header.value + c->u.header.value_len != c->data + c->len - 1)
            abort();
        break;
    case SG_MC_BODY:
    case SG_MC_BODYEOB:
    case SG_MC_UNKNOWN:
        if (c->u.body.data != c->data || c->u.body.len != c->len)
            abort();
        break;
    case SG_MC_OPTNEG:
        if (c->len < 12)
            abort();
        break;
    case SG_MC_ABORT:
    case SG_MC_EOH:
    case SG_MC_QUIT:
    case SG_MC_QUIT_NC:
    case SG_MC_DATA:
        break;
    default: /* the reader refuses any other command */
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_milter_reader r;
    sg_milter_cmd c;
    size_t off = 0;
    sg_milter_reader_init(&r, 64 * 1024);
    while (off < size) {
        size_t chunk = 1 + data[off] % 64;
        if (chunk > size - off)
            chunk = size - off;
        if (sg_milter_feed(&r, data + off, chunk) != SG_MILTER_OK)
            break;
        off += chunk;
        sg_milter_status st;
        while ((st = sg_milter_next(&r, &c)) == SG_MILTER_OK)
            check_cmd(&c);
        if (st == SG_MILTER_EPROTO)
            break;
    }
    sg_milter_reader_free(&r);
    return 0;
}
