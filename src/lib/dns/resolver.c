/*
 * The backend-independent half of the DNS layer: the public sg_resolver_*
 * functions dispatch through the backend's vtable (resolver_int.h); the
 * rest is name checking, answer copying, the synchronous wrapper and the
 * mnemonic tables.
 */
#include "dns/resolver_int.h"
#include "util/domain.h"

#include <stdlib.h>
#include <string.h>
#include "util/ascii.h"

/* ------------------------------------------------------------------ */
/* Names                                                              */
/* ------------------------------------------------------------------ */

/*
 * Check a presentation-format name and copy it without its trailing dot.
 * "." and "" both mean the root and give "". Empty labels ("a..b", ".a")
 * cannot be encoded on the wire, so they are rejected like over-long ones.
 * Escapes are not interpreted: a name is a string of octets to us.
 */
int sg_dns_name_normalise(const char *name, char *buf, size_t bufsize)
{
    size_t len;

    if (name == NULL || buf == NULL || bufsize == 0)
        return SG_EINVAL;
    len = strlen(name);
    if (!sg_domain_syntax_ok(name, len, SG_DOMAIN_ROOT_DOT | SG_DOMAIN_EMPTY))
        return SG_EINVAL;
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len + 1 > bufsize)
        return SG_EINVAL;
    memcpy(buf, name, len);
    buf[len] = '\0';
    return SG_OK;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                           */
/* ------------------------------------------------------------------ */

void sg_resolver_free(sg_resolver *r)
{
    if (r != NULL && r->ops != NULL && r->ops->destroy != NULL)
        r->ops->destroy(r);
}

int sg_resolver_query(sg_resolver *r, const char *name, uint16_t type, sg_dns_cb cb, void *payload,
                      sg_dns_query **out)
{
    char buf[SG_DOMAIN_MAX + 3];

    if (out != NULL)
        *out = NULL;
    if (r == NULL || r->ops == NULL || name == NULL || cb == NULL || type == 0)
        return SG_EINVAL;
    /* Checked here once so every backend rejects the same names. */
    if (sg_dns_name_normalise(name, buf, sizeof(buf)) != SG_OK)
        return SG_EINVAL;
    return r->ops->query(r, name, type, cb, payload, out);
}

void sg_resolver_cancel(sg_resolver *r, sg_dns_query *q)
{
    if (r != NULL && q != NULL && r->ops != NULL && r->ops->cancel != NULL)
        r->ops->cancel(r, q);
}

int sg_resolver_run(sg_resolver *r, int timeout_ms)
{
    if (r == NULL || r->ops == NULL || r->ops->run == NULL)
        return SG_EINVAL;
    return r->ops->run(r, timeout_ms);
}

size_t sg_resolver_pending(const sg_resolver *r)
{
    if (r == NULL || r->ops == NULL || r->ops->pending == NULL)
        return 0;
    return r->ops->pending(r);
}

int sg_resolver_fds(sg_resolver *r, int *fds, int *want_write, int nfds, int *timeout_ms)
{
    if (timeout_ms != NULL)
        *timeout_ms = -1;
    if (r == NULL || r->ops == NULL || nfds < 0 ||
        (nfds > 0 && (fds == NULL || want_write == NULL)))
        return SG_EINVAL;
    if (r->ops->fds == NULL)
        return 0;
    return r->ops->fds(r, fds, want_write, nfds, timeout_ms);
}

void sg_resolver_process_fd(sg_resolver *r, int read_fd, int write_fd)
{
    if (r != NULL && r->ops != NULL && r->ops->process_fd != NULL)
        r->ops->process_fd(r, read_fd, write_fd);
}

/* ------------------------------------------------------------------ */
/* Copying answers                                                    */
/* ------------------------------------------------------------------ */

static size_t rr_extra(const sg_dns_rr *rr)
{
    switch (rr->type) {
    case SG_DNS_MX:
        return rr->u.mx.host ? strlen(rr->u.mx.host) + 1 : 0;
    case SG_DNS_PTR:
    case SG_DNS_CNAME:
        return rr->u.name ? strlen(rr->u.name) + 1 : 0;
    case SG_DNS_TXT:
    case SG_DNS_SPF:
        return rr->u.txt.data ? rr->u.txt.len + 1 : 0;
    default:
        return 0;
    }
}

static char *put(char **cursor, const char *s, size_t n)
{
    char *d = *cursor;
    memcpy(d, s, n);
    d[n] = '\0';
    *cursor += n + 1;
    return d;
}

/*
 * One malloc block: the rr array first (so it is suitably aligned), then
 * the qname and every string the records point to.
 */
int sg_dns_answer_copy(const sg_dns_answer *in, sg_dns_result *out)
{
    size_t i, size, qlen;
    sg_dns_rr *rrs;
    char *cur;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (in == NULL || out == NULL || (in->count > 0 && in->rrs == NULL))
        return SG_EINVAL;
    if (in->count > SIZE_MAX / sizeof(sg_dns_rr) / 2)
        return SG_ENOMEM;
    qlen = in->qname ? strlen(in->qname) : 0;
    size = in->count * sizeof(sg_dns_rr) + qlen + 1;
    for (i = 0; i < in->count; i++)
        size += rr_extra(&in->rrs[i]);
    out->mem_ = malloc(size);
    if (out->mem_ == NULL)
        return SG_ENOMEM;
    rrs = out->mem_;
    cur = (char *)out->mem_ + in->count * sizeof(sg_dns_rr);
    out->answer = *in;
    out->answer.qname = put(&cur, in->qname ? in->qname : "", qlen);
    out->answer.rrs = in->count ? rrs : NULL;
    for (i = 0; i < in->count; i++) {
        const sg_dns_rr *s = &in->rrs[i];
        rrs[i] = *s;
        switch (s->type) {
        case SG_DNS_MX:
            if (s->u.mx.host)
                rrs[i].u.mx.host = put(&cur, s->u.mx.host, strlen(s->u.mx.host));
            break;
        case SG_DNS_PTR:
        case SG_DNS_CNAME:
            if (s->u.name)
                rrs[i].u.name = put(&cur, s->u.name, strlen(s->u.name));
            break;
        case SG_DNS_TXT:
        case SG_DNS_SPF:
            if (s->u.txt.data)
                rrs[i].u.txt.data = put(&cur, s->u.txt.data, s->u.txt.len);
            break;
        default:
            break;
        }
    }
    return SG_OK;
}

void sg_dns_result_free(sg_dns_result *res)
{
    if (res == NULL)
        return;
    free(res->mem_);
    memset(res, 0, sizeof(*res));
}

/* ------------------------------------------------------------------ */
/* Synchronous wrapper                                                */
/* ------------------------------------------------------------------ */

struct sync_state {
    int done;
    int err;
    sg_dns_result *out;
};

static void sync_cb(const sg_dns_answer *answer, void *payload)
{
    struct sync_state *st = payload;
    st->err = sg_dns_answer_copy(answer, st->out);
    st->done = 1;
}

int sg_dns_lookup_sync(sg_resolver *r, const char *name, uint16_t type, sg_dns_result *out)
{
    struct sync_state st = {0, 0, out};
    sg_dns_query *q = NULL;
    int rc;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (r == NULL || name == NULL || out == NULL)
        return SG_EINVAL;
    rc = sg_resolver_query(r, name, type, sync_cb, &st, &q);
    if (rc != SG_OK)
        return rc;
    while (!st.done) {
        rc = sg_resolver_run(r, -1);
        if (rc < 0) {
            if (st.done)
                break; /* the answer came; the error is the resolver's, not ours */
            sg_resolver_cancel(r, q);
            return rc;
        }
        if (rc == 0 && !st.done)
            return SG_ESTATE; /* nothing pending could answer us: a backend bug */
    }
    return st.err;
}

/* ------------------------------------------------------------------ */
/* Mnemonics                                                          */
/* ------------------------------------------------------------------ */

static const struct {
    const char *name;
    uint16_t type;
} type_table[] = {
    {"A", SG_DNS_A},     {"CNAME", SG_DNS_CNAME}, {"PTR", SG_DNS_PTR}, {"MX", SG_DNS_MX},
    {"TXT", SG_DNS_TXT}, {"AAAA", SG_DNS_AAAA},   {"SPF", SG_DNS_SPF}, {"ANY", SG_DNS_ANY},
};

uint16_t sg_dns_type_from_str(const char *s)
{
    size_t i;
    if (s == NULL)
        return 0;
    for (i = 0; i < sizeof(type_table) / sizeof(type_table[0]); i++)
        if (sg_ascii_casecmp(s, type_table[i].name) == 0)
            return type_table[i].type;
    return 0;
}

const char *sg_dns_type_str(uint16_t type)
{
    size_t i;
    for (i = 0; i < sizeof(type_table) / sizeof(type_table[0]); i++)
        if (type_table[i].type == type)
            return type_table[i].name;
    return NULL;
}

const char *sg_dns_status_str(sg_dns_status st)
{
    switch (st) {
    case SG_DNS_NOERROR:
        return "NOERROR";
    case SG_DNS_NODATA:
        return "NODATA";
    case SG_DNS_NXDOMAIN:
        return "NXDOMAIN";
    case SG_DNS_SERVFAIL:
        return "SERVFAIL";
    case SG_DNS_TIMEOUT:
        return "TIMEOUT";
    case SG_DNS_EFAIL:
        return "EFAIL";
    }
    return "UNKNOWN";
}
