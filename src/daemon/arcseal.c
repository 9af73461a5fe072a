/*
 * ARC sealing of inbound mail (see arcseal.h).
 */
#include "arcseal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <spoofguard/arc.h>
#include <spoofguard/msg.h>

struct sg_arcseal {
    sg_arc_sealer *s;
    sg_msg_parser *p;
    int rc;          /* the sealer's first error (a header without From...) */
    int round;       /* signatures taken (2: the set is complete) */
    char *fields[3]; /* values, LF-folded */
};

static int on_headers(const sg_header *f, size_t n, void *p)
{
    sg_arcseal *a = p;
    a->rc = sg_arc_seal_headers(a->s, f, n);
    return 0;
}

static int on_body(const char *d, size_t n, void *p)
{
    sg_arcseal *a = p;
    if (a->rc == 0)
        a->rc = sg_arc_seal_body(a->s, d, n);
    return 0;
}

int sg_arcseal_begin(sg_arcseal **out, const sg_map_key *key, const char *authserv_id)
{
    sg_arcseal *a = calloc(1, sizeof(*a));
    sg_msg_callbacks cbs = {on_headers, on_body, NULL};
    sg_arc_seal_opts o;
    int rc;
    *out = NULL;
    if (a == NULL)
        return SG_ENOMEM;
    sg_arc_seal_opts_init(&o);
    o.domain = key->domain;
    o.selector = key->selector;
    o.alg = SG_DKIM_RSA_SHA256;
    o.authserv_id = authserv_id; /* key stays NULL: the signer process signs */
    if ((rc = sg_arc_sealer_new(&a->s, &o)) != 0 ||
        (rc = sg_msg_parser_new(&a->p, NULL, &cbs, a)) != 0) {
        sg_arcseal_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int sg_arcseal_feed(sg_arcseal *a, const char *data, size_t len)
{
    return sg_msg_feed(a->p, data, len);
}

/* A field of the sealer's output: the value after "Name: ", CRLF folds
 * made LF (milter values), no final line end. */
static char *milter_value(const char *field, size_t len)
{
    const char *colon = memchr(field, ':', len), *v;
    char *o, *w;
    if (colon == NULL)
        return NULL;
    v = colon + 1;
    if (v < field + len && *v == ' ')
        v++;
    if ((o = malloc(len + 1)) == NULL)
        return NULL;
    w = o;
    for (; v < field + len; v++)
        if (*v != '\r')
            *w++ = *v;
    while (w > o && w[-1] == '\n')
        w--;
    *w = '\0';
    return o;
}

int sg_arcseal_prepare(sg_arcseal *a, const sg_verdict_result *vr, uint8_t digest[32])
{
    const char *results, *semi;
    int rc;
    if (sg_msg_finish(a->p) != 0 || a->rc != 0 || vr->arc == NULL || vr->authres_line == NULL)
        return 0; /* nothing we can vouch for: no set */
    /* our own results, after our authserv-id */
    semi = strchr(vr->authres_line, ';');
    results = semi ? semi + 1 : "";
    while (*results == ' ')
        results++;
    sg_arc_sealer_set_cv(a->s, vr->arc->cv);
    if ((rc = sg_arc_sealer_set_results(a->s, results)) != 0)
        return rc;
    if (sg_arc_seal_instance(a->s) == 0)
        return 0;
    return (rc = sg_arc_seal_digest(a->s, digest)) != 0 ? rc : 1;
}

/* The sealer's output (ARC-Seal, ARC-Message-Signature,
 * ARC-Authentication-Results, each ending in a CRLF not followed by a
 * space) as milter values, in insertion order. */
static int split_fields(sg_arcseal *a)
{
    const char *out;
    size_t olen;
    int rc;
    if ((rc = sg_arc_seal_finish(a->s, &out, &olen)) != 0)
        return rc;
    for (size_t start = 0, k = 0; start < olen && k < 3; k++) {
        size_t end = start;
        while (end + 2 < olen && !(out[end] == '\r' && out[end + 1] == '\n' && out[end + 2] != ' '))
            end++;
        end = end + 2 < olen ? end + 2 : olen;
        if ((a->fields[2 - k] = milter_value(out + start, end - start)) == NULL)
            return SG_ENOMEM;
        start = end;
    }
    return a->fields[0] && a->fields[1] && a->fields[2] ? 0 : SG_ESTATE;
}

int sg_arcseal_signed(sg_arcseal *a, const uint8_t *sig, size_t siglen, uint8_t digest[32])
{
    int rc;
    if (a->round >= 2)
        return SG_ESTATE;
    if ((rc = sg_arc_seal_complete(a->s, sig, siglen)) != 0)
        return rc;
    if (++a->round < 2)
        return (rc = sg_arc_seal_digest(a->s, digest)) != 0 ? rc : 1;
    return split_fields(a);
}

size_t sg_arcseal_fields(const sg_arcseal *a, const char *names[3], const char *values[3])
{
    static const char *const order[3] = {"ARC-Authentication-Results", "ARC-Message-Signature",
                                         "ARC-Seal"};
    if (a->round < 2 || a->fields[2] == NULL)
        return 0;
    for (int k = 0; k < 3; k++) {
        names[k] = order[k];
        values[k] = a->fields[k];
    }
    return 3;
}

void sg_arcseal_free(sg_arcseal *a)
{
    if (a == NULL)
        return;
    sg_msg_parser_free(a->p);
    sg_arc_sealer_free(a->s);
    for (int k = 0; k < 3; k++)
        free(a->fields[k]);
    free(a);
}
