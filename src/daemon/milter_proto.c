/* Milter protocol v6 codec: see milter_proto.h. */
#include "milter_proto.h"

#include <stdlib.h>
#include <string.h>

/* Only what we read: fewer and smaller macro packets. The client address
 * comes in the CONNECT packet itself. Postfix takes an empty list as
 * "main.cf's list" (its default for connect, RCPT, DATA and every header is
 * not empty), so a stage we want nothing from asks for a name no MTA
 * defines. */
#define NO_MACROS "{spoofguard_none}"
const char *const sg_milter_want_symlists[7] = {
    [SG_MS_CONNECT] = NO_MACROS, [SG_MS_HELO] = NO_MACROS, [SG_MS_MAIL] = "{auth_authen} v",
    [SG_MS_RCPT] = NO_MACROS,    [SG_MS_DATA] = NO_MACROS, [SG_MS_EOM] = "i",
    [SG_MS_EOH] = NO_MACROS,
};

void sg_milter_reader_init(sg_milter_reader *r, size_t max_packet)
{
    memset(r, 0, sizeof(*r));
    r->max_packet = max_packet ? max_packet : SG_MILTER_MAX_PACKET;
}

void sg_milter_reader_free(sg_milter_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

sg_milter_status sg_milter_feed(sg_milter_reader *r, const void *data, size_t len)
{
    if (r->consumed > 0) {
        /* drop the packets already handed out; their pointers expire now */
        memmove(r->buf, r->buf + r->consumed, r->len - r->consumed);
        r->len -= r->consumed;
        r->consumed = 0;
    }
    if (len > SIZE_MAX - r->len)
        return SG_MILTER_ENOMEM;
    if (r->len + len > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + len)
            cap *= 2;
        unsigned char *nb = realloc(r->buf, cap + 1);
        if (nb == NULL)
            return SG_MILTER_ENOMEM;
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, len);
    r->len += len;
    return SG_MILTER_OK;
}

static uint32_t get32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Split data into NUL-terminated strings. Every string must be terminated:
 * an unterminated tail is a malformed packet. */
static int split_strings(const char *data, size_t len, const char **argv, size_t max, size_t *n)
{
    size_t i = 0, start = 0;
    *n = 0;
    while (start < len) {
        const char *nul = memchr(data + start, '\0', len - start);
        if (nul == NULL)
            return -1;
        if (i == max)
            return -1;
        argv[i++] = data + start;
        start = (size_t)(nul - data) + 1;
    }
    *n = i;
    return 0;
}

static sg_milter_status decode(sg_milter_cmd *c)
{
    const char *d = c->data;
    size_t len = c->len;
    const char *v[2 * SG_MILTER_MAX_ARGS];
    size_t n;

    switch (c->cmd) {
    case SG_MC_OPTNEG:
        if (len < 12)
            return SG_MILTER_EPROTO;
        c->u.optneg.version = get32((const unsigned char *)d);
        c->u.optneg.actions = get32((const unsigned char *)d + 4);
        c->u.optneg.protocol = get32((const unsigned char *)d + 8);
        return SG_MILTER_OK;
    case SG_MC_MACRO:
        if (len < 1)
            return SG_MILTER_EPROTO;
        c->u.macro.stage = d[0];
        if (split_strings(d + 1, len - 1, v, 2 * SG_MILTER_MAX_ARGS, &n) != 0 || n % 2 != 0)
            return SG_MILTER_EPROTO;
        c->u.macro.n = n / 2;
        for (size_t i = 0; i < n / 2; i++) {
            c->u.macro.name[i] = v[2 * i];
            c->u.macro.value[i] = v[2 * i + 1];
        }
        return SG_MILTER_OK;
    case SG_MC_CONNECT: {
        const char *nul = memchr(d, '\0', len);
        if (nul == NULL)
            return SG_MILTER_EPROTO;
        c->u.connect.hostname = d;
        size_t off = (size_t)(nul - d) + 1;
        if (off >= len)
            return SG_MILTER_EPROTO;
        c->u.connect.family = d[off++];
        c->u.connect.port = 0;
        c->u.connect.address = "";
        if (c->u.connect.family == 'U')
            return SG_MILTER_OK;
        if (c->u.connect.family != '4' && c->u.connect.family != '6' && c->u.connect.family != 'L')
            return SG_MILTER_EPROTO;
        if (len - off < 3)
            return SG_MILTER_EPROTO;
        c->u.connect.port = (uint16_t)(((unsigned char)d[off] << 8) | (unsigned char)d[off + 1]);
        off += 2;
        if (memchr(d + off, '\0', len - off) != d + len - 1)
            return SG_MILTER_EPROTO;
        c->u.connect.address = d + off;
        return SG_MILTER_OK;
    }
    case SG_MC_HELO:
        if (len < 1 || d[len - 1] != '\0')
            return SG_MILTER_EPROTO;
        c->u.helo.name = d;
        return SG_MILTER_OK;
    case SG_MC_MAIL:
    case SG_MC_RCPT:
        if (split_strings(d, len, c->u.args.argv, SG_MILTER_MAX_ARGS, &c->u.args.n) != 0 ||
            c->u.args.n == 0)
            return SG_MILTER_EPROTO;
        return SG_MILTER_OK;
    case SG_MC_HEADER: {
        const char *nul = memchr(d, '\0', len);
        if (nul == NULL || len == 0 || d[len - 1] != '\0' || nul == d + len - 1)
            return SG_MILTER_EPROTO;
        c->u.header.name = d;
        c->u.header.value = nul + 1;
        /* the value may itself hold NUL bytes from a hostile client: keep
         * the length, not strlen */
        c->u.header.value_len = (size_t)(d + len - 1 - (nul + 1));
        return SG_MILTER_OK;
    }
    case SG_MC_BODY:
    case SG_MC_BODYEOB:
    case SG_MC_UNKNOWN:
        c->u.body.data = d;
        c->u.body.len = len;
        return SG_MILTER_OK;
    case SG_MC_ABORT:
    case SG_MC_EOH:
    case SG_MC_QUIT:
    case SG_MC_QUIT_NC:
    case SG_MC_DATA:
        return SG_MILTER_OK;
    default:
        return SG_MILTER_EPROTO;
    }
}

sg_milter_status sg_milter_next(sg_milter_reader *r, sg_milter_cmd *out)
{
    size_t avail = r->len - r->consumed;
    unsigned char *p = r->buf + r->consumed;
    uint32_t plen;

    if (avail < 4)
        return SG_MILTER_NEED_MORE;
    plen = get32(p);
    if (plen < 1 || plen > r->max_packet)
        return SG_MILTER_EPROTO;
    if (avail - 4 < plen)
        return SG_MILTER_NEED_MORE;
    /* decode() fills the union member of the command it accepts, and
     * nothing reads it otherwise: zeroing all of it (over 1 KiB, for the
     * macro and argument arrays) at every packet was the reader's largest
     * cost */
    out->cmd = (char)p[4];
    out->data = (const char *)p + 5;
    out->len = plen - 1;
    r->consumed += 4 + (size_t)plen;
    return decode(out);
}

/* ---- encoders ---- */

static unsigned char *reserve(sg_milter_out *o, size_t n)
{
    if (o->oom)
        return NULL;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 512;
        while (cap < o->len + n)
            cap *= 2;
        unsigned char *nb = realloc(o->buf, cap);
        if (nb == NULL) {
            o->oom = 1;
            return NULL;
        }
        o->buf = nb;
        o->cap = cap;
    }
    unsigned char *p = o->buf + o->len;
    o->len += n;
    return p;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Packet with up to four parts: an optional 32-bit integer and up to
 * three NUL-terminated strings. */
static void put_packet(sg_milter_out *o, char cmd, const uint32_t *num, const char *s1,
                       const char *s2, const char *s3)
{
    size_t l1 = s1 ? strlen(s1) + 1 : 0, l2 = s2 ? strlen(s2) + 1 : 0;
    size_t l3 = s3 ? strlen(s3) + 1 : 0;
    size_t body = 1 + (num ? 4 : 0) + l1 + l2 + l3;
    unsigned char *p = reserve(o, 4 + body);
    if (p == NULL)
        return;
    put32(p, (uint32_t)body);
    p[4] = (unsigned char)cmd;
    p += 5;
    if (num) {
        put32(p, *num);
        p += 4;
    }
    if (s1) {
        memcpy(p, s1, l1);
        p += l1;
    }
    if (s2) {
        memcpy(p, s2, l2);
        p += l2;
    }
    if (s3)
        memcpy(p, s3, l3);
}

void sg_milter_out_free(sg_milter_out *o)
{
    free(o->buf);
    memset(o, 0, sizeof(*o));
}

void sg_milter_put_simple(sg_milter_out *o, char cmd)
{
    put_packet(o, cmd, NULL, NULL, NULL, NULL);
}

void sg_milter_put_optneg(sg_milter_out *o, uint32_t version, uint32_t actions, uint32_t protocol,
                          const char *const *symlists)
{
    size_t body = 13;
    if (symlists)
        for (int i = 0; i <= SG_MS_EOH; i++)
            if (symlists[i])
                body += 4 + strlen(symlists[i]) + 1;
    unsigned char *p = reserve(o, 4 + body);
    if (p == NULL)
        return;
    put32(p, (uint32_t)body);
    p[4] = SG_MC_OPTNEG;
    put32(p + 5, version);
    put32(p + 9, actions);
    put32(p + 13, protocol);
    p += 17;
    if (symlists)
        for (int i = 0; i <= SG_MS_EOH; i++)
            if (symlists[i]) {
                size_t l = strlen(symlists[i]) + 1;
                put32(p, (uint32_t)i);
                memcpy(p + 4, symlists[i], l);
                p += 4 + l;
            }
}

void sg_milter_put_replycode(sg_milter_out *o, const char *smtp_reply)
{
    /* MTAs read '%' in the text as a format character (Sendmail: printf;
     * Postfix: "%%" -> "%"): double each one. */
    size_t n = 0;
    for (const char *p = smtp_reply; *p; p++)
        n += *p == '%' ? 2 : 1;
    char *esc = malloc(n + 1), *q = esc;
    if (esc == NULL) {
        o->oom = 1;
        return;
    }
    for (const char *p = smtp_reply; *p; p++) {
        *q++ = *p;
        if (*p == '%')
            *q++ = '%';
    }
    *q = '\0';
    put_packet(o, SG_MR_REPLYCODE, NULL, esc, NULL, NULL);
    free(esc);
}

void sg_milter_put_addheader(sg_milter_out *o, const char *name, const char *value)
{
    put_packet(o, SG_MR_ADDHEADER, NULL, name, value, NULL);
}

void sg_milter_put_insheader(sg_milter_out *o, uint32_t index, const char *name, const char *value)
{
    put_packet(o, SG_MR_INSHEADER, &index, name, value, NULL);
}

void sg_milter_put_chgheader(sg_milter_out *o, uint32_t index, const char *name, const char *value)
{
    put_packet(o, SG_MR_CHGHEADER, &index, name, value, NULL);
}

void sg_milter_put_quarantine(sg_milter_out *o, const char *reason)
{
    put_packet(o, SG_MR_QUARANTINE, NULL, reason, NULL, NULL);
}
