/*
 * sgr_explain_json: the JSON object of issue 13 item 7, for `spoofguard
 * explain --json` and the viewer's /api/messages/ID. The key names are a
 * contract (outside checks rely on them): extend, never rename. Every
 * string goes through sgu_json_quote, so the output is valid UTF-8 JSON
 * whatever the message held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "explain.h"

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} jbuf;

static int reserve(jbuf *b, size_t n)
{
    if (b->oom)
        return -1;
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) {
        if (cap > ((size_t)-1) / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static void put(jbuf *b, const char *s)
{
    size_t l = strlen(s);
    if (reserve(b, l) == 0) {
        memcpy(b->p + b->len, s, l);
        b->len += l;
    }
}

static void str(jbuf *b, const char *s)
{
    size_t l = s ? strlen(s) : 0;
    size_t max = SGU_JSON_QUOTED_MAX(l) + 4; /* + 4: "null" */
    if (reserve(b, max) == 0)
        b->len += sgu_json_quote(b->p + b->len, max + 1, s, l);
}

static void key(jbuf *b, const char *k, int first)
{
    if (!first)
        put(b, ",");
    str(b, k);
    put(b, ":");
}

static void kstr(jbuf *b, const char *k, const char *v)
{
    key(b, k, 0);
    str(b, v);
}

static void num(jbuf *b, unsigned long long v)
{
    char n[32];
    snprintf(n, sizeof(n), "%llu", v);
    put(b, n);
}

static void boolean(jbuf *b, int v)
{
    put(b, v ? "true" : "false");
}

static void warnings(jbuf *b, const sgr_warning *w, size_t n, int with_field)
{
    put(b, "[");
    for (size_t i = 0; i < n; i++) {
        put(b, i ? ",{" : "{");
        key(b, "kind", 1);
        str(b, w[i].kind);
        if (with_field)
            kstr(b, "field", w[i].field);
        kstr(b, "detail", w[i].detail);
        put(b, "}");
    }
    put(b, "]");
}

static const char *verified_by_name(sgr_verified_by v)
{
    return v == SGR_FROM_AUTHRES ? "authres" : v == SGR_FROM_VERIFIED ? "verified" : "none";
}

int sgr_explain_json(const sgr_explanation *e, char **out, size_t *len)
{
    jbuf b = {0};
    if (e == NULL || out == NULL)
        return SGR_EXPLAIN_EINVAL;
    const sgr_identity *id = &e->identity;
    put(&b, "{");
    key(&b, "headline", 1);
    str(&b, sgr_headline_name(e->headline));
    kstr(&b, "headline_title", sgr_headline_title(e->headline));
    kstr(&b, "headline_detail", e->headline_detail);
    kstr(&b, "third_party", e->third_party);
    kstr(&b, "verified_by", verified_by_name(e->verified_by));

    key(&b, "identity", 0);
    put(&b, "{");
    key(&b, "display_name", 1);
    str(&b, id->display_name);
    kstr(&b, "address", id->address);
    kstr(&b, "domain", id->domain);
    kstr(&b, "domain_unicode", id->domain_unicode);
    kstr(&b, "registrable_domain", id->registrable_domain);
    key(&b, "signed_by", 0);
    put(&b, "[");
    for (size_t i = 0; i < id->nsigned_by; i++) {
        const sgr_signed_by *s = &id->signed_by[i];
        put(&b, i ? ",{" : "{");
        key(&b, "domain", 1);
        str(&b, s->domain);
        kstr(&b, "selector", s->selector);
        kstr(&b, "algorithm", s->algorithm);
        key(&b, "key_bits", 0);
        num(&b, s->key_bits);
        key(&b, "aligned", 0);
        boolean(&b, s->aligned);
        put(&b, "}");
    }
    put(&b, "]");
    kstr(&b, "mailed_by", id->mailed_by);
    kstr(&b, "via", id->via);
    kstr(&b, "reply_to", id->reply_to);
    kstr(&b, "sender", id->sender);
    kstr(&b, "list_id", id->list_id);
    kstr(&b, "arc", id->arc);
    put(&b, "}");

    key(&b, "warnings", 0);
    warnings(&b, e->warnings, e->nwarnings, 1);

    key(&b, "links", 0);
    put(&b, "[");
    for (size_t i = 0; i < e->nlinks; i++) {
        const sgr_link_view *v = &e->links[i];
        put(&b, i ? ",{" : "{");
        key(&b, "text", 1);
        str(&b, v->link->text);
        kstr(&b, "target", v->link->target);
        kstr(&b, "host", v->link->host);
        kstr(&b, "host_unicode", v->link->host_unicode);
        kstr(&b, "registrable_domain", v->link->registrable_domain);
        key(&b, "inert", 0);
        boolean(&b, v->inert);
        key(&b, "warnings", 0);
        warnings(&b, v->warnings, v->nwarnings, 0);
        put(&b, "}");
    }
    put(&b, "]");
    key(&b, "links_truncated", 0);
    boolean(&b, e->links_truncated);

    const sgr_mime_view *m = e->mime;
    kstr(&b, "subject", m ? m->subject : NULL);
    kstr(&b, "date", m ? m->date : NULL);
    key(&b, "attachments", 0);
    put(&b, "[");
    int first = 1;
    for (size_t i = 0; m && i < m->nparts; i++) {
        const sgr_mime_part *p = &m->parts[i];
        if (p->role != SGR_PART_ATTACHMENT)
            continue;
        put(&b, first ? "{" : ",{");
        first = 0;
        key(&b, "index", 1);
        num(&b, p->index);
        kstr(&b, "name", p->filename);
        kstr(&b, "type", p->content_type);
        key(&b, "size", 0);
        num(&b, p->size);
        key(&b, "risk", 0);
        put(&b, "[");
        int rf = 1;
        for (unsigned bit = 1; bit && bit <= SGR_RISK_TYPE_MISMATCH; bit <<= 1)
            if (p->risk & bit) {
                if (!rf)
                    put(&b, ",");
                rf = 0;
                str(&b, sgr_mime_risk_name(bit));
            }
        put(&b, "]");
        kstr(&b, "detail", p->risk_detail);
        put(&b, "}");
    }
    put(&b, "]");
    key(&b, "remote_images_blocked", 0);
    num(&b, e->remote_images_blocked);
    put(&b, "}");
    if (b.oom) {
        free(b.p);
        return SGR_EXPLAIN_ENOMEM;
    }
    b.p[b.len] = '\0';
    *out = b.p;
    if (len)
        *len = b.len;
    return SGR_EXPLAIN_OK;
}
