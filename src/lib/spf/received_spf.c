/*
 * Received-SPF header field writer (RFC 7208 9.1).
 *
 *   header-field = "Received-SPF:" [CFWS] result FWS [comment FWS]
 *                  [ key-value-list ] CRLF
 *   key-value-pair = key [CFWS] "=" ( dot-atom / quoted-string )
 *
 * Everything that goes into the field comes from the SMTP client (HELO,
 * MAIL FROM) or from DNS (explanations), so every byte is sanitised: no
 * CR/LF/NUL/non-ASCII (header injection), comments get quoted-pairs for
 * '(' ')' '\', values that are not dot-atoms become quoted-strings.
 */
#include "spf_int.h"

#include <stdio.h>
#include <string.h>

#include "util/text.h"

typedef struct {
    char *p;
    size_t len, cap;
    sg_arena *arena;
    int oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = sg_arena_alloc(b->arena, cap);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        if (b->len)
            memcpy(np, b->p, b->len);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Printable ASCII or '?' (RFC 5322 fields are US-ASCII, no CR/LF). */
static char safe(unsigned char c)
{
    return (c >= 0x20 && c < 0x7f) ? (char)c : '?';
}

/* Comment text: ctext or quoted-pair (RFC 5322 3.2.2). */
static void put_comment_text(sbuf *b, const char *s)
{
    for (; s != NULL && *s; s++) {
        char c = safe((unsigned char)*s);
        if (c == '(' || c == ')' || c == '\\')
            put(b, "\\", 1);
        put(b, &c, 1);
    }
}

static void put_value(sbuf *b, const char *v)
{
    if (v == NULL)
        v = "";
    if (sg_text_is_dot_atom(v, strlen(v))) {
        puts_(b, v);
        return;
    }
    put(b, "\"", 1);
    for (; *v; v++) {
        char c = safe((unsigned char)*v);
        if (c == '"' || c == '\\')
            put(b, "\\", 1);
        put(b, &c, 1);
    }
    put(b, "\"", 1);
}

static void put_kv(sbuf *b, const char *key, const char *val)
{
    puts_(b, " ");
    puts_(b, key);
    puts_(b, "=");
    put_value(b, val);
    puts_(b, ";");
}

int sg_spf_received_spf(char **out, sg_arena *arena, const sg_spf_received_info *info)
{
    sbuf b = {0};
    const sg_spf_result *r;
    if (out == NULL || arena == NULL || info == NULL || info->result == NULL ||
        info->client_ip == NULL)
        return SG_EINVAL;
    r = info->result;
    b.arena = arena;
    const char *who =
        r->identity == SG_SPF_ID_HELO ? (info->helo ? info->helo : r->domain) : r->sender;
    if (who == NULL)
        who = "";

    puts_(&b, sg_spf_result_str(r->result));
    puts_(&b, " (");
    if (info->receiver != NULL) {
        put_comment_text(&b, info->receiver);
        puts_(&b, ": ");
    }
    switch (r->result) {
    case SG_SPF_PASS:
        puts_(&b, "domain of ");
        put_comment_text(&b, who);
        puts_(&b, " designates ");
        put_comment_text(&b, info->client_ip);
        puts_(&b, " as permitted sender");
        break;
    case SG_SPF_FAIL:
        puts_(&b, "domain of ");
        put_comment_text(&b, who);
        puts_(&b, " does not designate ");
        put_comment_text(&b, info->client_ip);
        puts_(&b, " as permitted sender");
        break;
    case SG_SPF_SOFTFAIL:
        puts_(&b, "transitioning domain of ");
        put_comment_text(&b, who);
        puts_(&b, " does not designate ");
        put_comment_text(&b, info->client_ip);
        puts_(&b, " as permitted sender");
        break;
    case SG_SPF_NEUTRAL:
        put_comment_text(&b, info->client_ip);
        puts_(&b, " is neither permitted nor denied by domain of ");
        put_comment_text(&b, who);
        break;
    case SG_SPF_NONE:
        puts_(&b, "domain of ");
        put_comment_text(&b, who);
        puts_(&b, " does not designate permitted sender hosts");
        break;
    case SG_SPF_TEMPERROR:
        puts_(&b, "error in processing during lookup of ");
        put_comment_text(&b, who);
        break;
    case SG_SPF_PERMERROR:
        puts_(&b, "permanent error in processing domain of ");
        put_comment_text(&b, who);
        break;
    }
    puts_(&b, ")");
    put_kv(&b, "client-ip", info->client_ip);
    put_kv(&b, "envelope-from", info->envelope_from ? info->envelope_from : "");
    if (info->helo != NULL)
        put_kv(&b, "helo", info->helo);
    if (info->receiver != NULL)
        put_kv(&b, "receiver", info->receiver);
    put_kv(&b, "identity", sg_spf_identity_str(r->identity));
    if ((r->result == SG_SPF_TEMPERROR || r->result == SG_SPF_PERMERROR) && r->reason != NULL)
        put_kv(&b, "problem", r->reason);
    else if (r->mechanism != NULL)
        put_kv(&b, "mechanism", r->mechanism);
    /* drop the final ";" (it is optional, 9.1) */
    if (b.len > 0 && b.p[b.len - 1] == ';')
        b.p[--b.len] = '\0';
    if (b.oom)
        return SG_ENOMEM;
    *out = b.p;
    return 0;
}
