/*
 * A report that came as mail, through the reader's MIME walk (sg_mime,
 * GMime): every part is looked at by its bytes, not its declared type, as
 * senders label reports application/octet-stream, text/plain, application/
 * x-zip-compressed and worse. The first part holding gzip, zip or an XML
 * <feedback> is the aggregate report. Otherwise a message/feedback-report
 * part (ARF, RFC 5965) makes a failure report (RFC 9991, RFC 6591); failing
 * that, Exim's plain-text forensic report ("Sender IP Address:") is read.
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "mime.h"
#include "reports.h"

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *e)
{
    if (e - p >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
        p += 3;
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* gzip, zip, or XML with a <feedback ...> near its start. */
static int looks_aggregate(const unsigned char *d, size_t n)
{
    if (n >= 2 && d[0] == 0x1f && d[1] == 0x8b)
        return 1;
    if (n >= 4 && !memcmp(d, "PK\3\4", 4))
        return 1;
    const unsigned char *p = skip_ws(d, d + n);
    if (p == d + n || *p != '<')
        return 0;
    size_t look = (size_t)(d + n - p) < 8192 ? (size_t)(d + n - p) : 8192;
    /* the tag, not the word: an HTML part may well say "feedback" */
    return memmem(p, look, "<feedback", 9) != NULL || memmem(p, look, ":feedback", 9) != NULL;
}

/* The value of header field `name` in a block of "Name: value" lines (the
 * top of a mail, or an ARF part), unfolded and trimmed, into out[cap].
 * Stops at the first empty line. Returns 1 when found. */
static int field(const unsigned char *d, size_t n, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const unsigned char *p = d, *e = d + n;
    while (p < e) {
        const unsigned char *eol = memchr(p, '\n', (size_t)(e - p));
        if (!eol)
            eol = e;
        size_t ll = (size_t)(eol - p);
        if (ll && p[ll - 1] == '\r')
            ll--;
        if (ll == 0)
            return 0; /* end of the header block */
        if (ll > nl && p[nl] == ':' && !strncasecmp((const char *)p, name, nl)) {
            size_t o = 0;
            const unsigned char *v = p + nl + 1;
            for (;;) {
                const unsigned char *ve = p + ll;
                for (; v < ve && o + 1 < cap; v++)
                    out[o++] = (*v == '\t' || *v < 0x20) ? ' ' : (char)*v;
                /* folded continuation lines */
                p = eol < e ? eol + 1 : e;
                if (p >= e || (*p != ' ' && *p != '\t'))
                    break;
                eol = memchr(p, '\n', (size_t)(e - p));
                if (!eol)
                    eol = e;
                ll = (size_t)(eol - p);
                if (ll && p[ll - 1] == '\r')
                    ll--;
                v = p;
            }
            out[o] = 0;
            char *s = out;
            while (*s == ' ')
                s++;
            memmove(out, s, strlen(s) + 1);
            o = strlen(out);
            while (o && out[o - 1] == ' ')
                out[--o] = 0;
            return 1;
        }
        p = eol < e ? eol + 1 : e;
    }
    return 0;
}

/* "x@example.com", "Name <x@Example.COM>" -> "example.com" */
static void addr_domain(const char *v, char *out, size_t cap)
{
    const char *at = strrchr(v, '@');
    out[0] = 0;
    if (!at)
        return;
    size_t o = 0;
    for (at++; *at && *at != '>' && *at != ' ' && *at != ';' && o + 1 < cap; at++)
        out[o++] = (char)(*at >= 'A' && *at <= 'Z' ? *at + 32 : *at);
    out[o] = 0;
}

/* "dns; mail.example.net" -> "mail.example.net" (RFC 3464 typed names) */
static void untype(char *s)
{
    char *semi = strchr(s, ';');
    if (!semi)
        return;
    semi++;
    while (*semi == ' ')
        semi++;
    memmove(s, semi, strlen(semi) + 1);
}

static int64_t mail_date(const char *v)
{
    GDateTime *dt = g_mime_utils_header_decode_date(v);
    if (!dt)
        return 0;
    int64_t t = g_date_time_to_unix(dt);
    g_date_time_unref(dt);
    return t > 0 ? t : 0;
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s += 32;
}

/* One line of Exim's text ("  Sender IP Address: 203.0.113.68"). */
static int text_line(const unsigned char *d, size_t n, const char *label, char *out, size_t cap)
{
    size_t ll = strlen(label);
    const unsigned char *p = d, *e = d + n;
    while ((p = memmem(p, (size_t)(e - p), label, ll)) != NULL) {
        p += ll;
        while (p < e && *p == ' ')
            p++;
        size_t o = 0;
        while (p < e && *p != '\r' && *p != '\n' && o + 1 < cap)
            out[o++] = (char)*p++;
        while (o && out[o - 1] == ' ')
            o--;
        out[o] = 0;
        return o > 0;
    }
    return 0;
}

static int failure(const unsigned char *mail, size_t mlen, const unsigned char *arf, size_t alen,
                   int exim, const sgrep_sink *sink, char *err, size_t errlen)
{
    sgrep_report *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return SGREP_ENOMEM;
    }
    r->kind = SGREP_FAILURE;
    char v[512];
    if (field(mail, mlen, "From", v, sizeof v))
        addr_domain(v, r->org_name, sizeof r->org_name);
    if (field(mail, mlen, "Message-ID", v, sizeof v)) {
        char *s = v + (v[0] == '<');
        s[strcspn(s, ">")] = 0;
        snprintf(r->report_id, sizeof r->report_id, "%s", s);
    }
    if (!exim) {
        field(arf, alen, "Feedback-Type", r->feedback_type, sizeof r->feedback_type);
        field(arf, alen, "Auth-Failure", r->auth_failure, sizeof r->auth_failure);
        field(arf, alen, "Identity-Alignment", r->identity_alignment, sizeof r->identity_alignment);
        field(arf, alen, "Source-IP", r->source_ip, sizeof r->source_ip);
        field(arf, alen, "Reported-Domain", r->policy_domain, sizeof r->policy_domain);
        field(arf, alen, "Original-Mail-From", r->original_mail_from, sizeof r->original_mail_from);
        field(arf, alen, "Original-Rcpt-To", r->original_rcpt_to, sizeof r->original_rcpt_to);
        field(arf, alen, "Reporting-MTA", r->reporting_mta, sizeof r->reporting_mta);
        field(arf, alen, "DKIM-Domain", r->dkim_domain, sizeof r->dkim_domain);
        field(arf, alen, "DKIM-Selector", r->dkim_selector, sizeof r->dkim_selector);
        field(arf, alen, "SPF-DNS", r->spf_dns, sizeof r->spf_dns);
        field(arf, alen, "Delivery-Result", r->delivery_result, sizeof r->delivery_result);
        if (field(arf, alen, "Arrival-Date", v, sizeof v) ||
            field(arf, alen, "Received-Date", v, sizeof v))
            r->arrival = mail_date(v);
        untype(r->reporting_mta);
        /* "192.0.2.1 (host.example)": the address alone */
        r->source_ip[strcspn(r->source_ip, " \t(")] = 0;
    } else {
        /* Exim's forensic text has no ARF part: the same facts as prose */
        snprintf(r->feedback_type, sizeof r->feedback_type, "auth-failure");
        snprintf(r->auth_failure, sizeof r->auth_failure, "dmarc");
        text_line(arf, alen, "Sender Domain:", r->policy_domain, sizeof r->policy_domain);
        text_line(arf, alen, "Sender IP Address:", r->source_ip, sizeof r->source_ip);
        if (text_line(arf, alen, "Received date:", v, sizeof v))
            r->arrival = mail_date(v);
    }
    lower(r->feedback_type);
    lower(r->auth_failure);
    lower(r->policy_domain);
    /* stored as aggregate reports' names are (A-labels, no root dot); a
     * failure report is kept whatever its Reported-Domain says (a missing
     * or broken one is still a failure worth reading), so a name that is
     * not a domain is kept as it came */
    if (r->policy_domain[0])
        (void)sgrep_domain_stored(r->policy_domain, r->policy_domain, sizeof r->policy_domain);
    lower(r->dkim_domain);
    if (!r->org_name[0]) {
        snprintf(r->org_name, sizeof r->org_name, "%s", r->reporting_mta);
        lower(r->org_name);
    }
    if (!r->report_id[0]) {
        /* no Message-ID: the report's own bytes name it, so a second copy
         * of the same report is still recognised */
        gchar *h = g_compute_checksum_for_data(G_CHECKSUM_SHA256, arf, alen);
        snprintf(r->report_id, sizeof r->report_id, "sha256:%s", h);
        g_free(h);
    }
    int rc = SGREP_OK;
    if (sink && sink->begin && sink->begin(sink->ctx))
        rc = SGREP_ESINK;
    else if (sink && sink->end && sink->end(sink->ctx, r))
        rc = SGREP_ESINK;
    if (rc != SGREP_OK)
        snprintf(err, errlen, "the store could not commit the report");
    free(r);
    return rc;
}

int sgrep_parse_mail(const unsigned char *data, size_t len, const sgrep_limits *lim,
                     const sgrep_sink *sink, char *err, size_t errlen)
{
    sgrep_limits lb;
    if (!lim) {
        sgrep_limits_init(&lb);
        lim = &lb;
    }
    /* an mbox "From " line before the header (LinkedIn's reports) */
    if (len > 5 && !memcmp(data, "From ", 5)) {
        const unsigned char *nl = memchr(data, '\n', len);
        if (nl) {
            len -= (size_t)(nl + 1 - data);
            data = nl + 1;
        }
    }
    /* a mail must at least start like a header field */
    size_t i = 0;
    while (i < len && i < 1000 && data[i] > 0x20 && data[i] < 0x7f && data[i] != ':')
        i++;
    if (i == 0 || i == len || data[i] != ':') {
        snprintf(err, errlen, "neither XML, gzip, zip nor a mail");
        return SGREP_EREFUSED;
    }
    sgr_mime_limits ml;
    sgr_mime_limits_init(&ml);
    ml.max_decoded = lim->max_input * 2;
    sgr_mime *m = NULL;
    if (sgr_mime_parse(&m, (const char *)data, len, &ml) != SGR_MIME_OK) {
        snprintf(err, errlen, "out of memory");
        return SGREP_ENOMEM;
    }
    const sgr_mime_view *v = sgr_mime_get(m);
    int rc = SGREP_EREFUSED;
    int done = 0;
    /* an aggregate report, whatever the part says it is */
    for (size_t p = 0; p < v->nparts && !done; p++) {
        if (!strncmp(v->parts[p].content_type, "message/", 8) ||
            !strcmp(v->parts[p].content_type, "text/html"))
            continue; /* the failing message a failure report quotes; a cover letter */
        unsigned char *c = NULL;
        size_t clen = 0;
        if (sgr_mime_part_content(m, v->parts[p].index, &c, &clen) != SGR_MIME_OK)
            continue;
        if (looks_aggregate(c, clen)) {
            const unsigned char *s = skip_ws(c, c + clen);
            if (s < c + clen && *s == '<') {
                sgrep_xml *x = sgrep_xml_new(lim, sink);
                if (!x) {
                    rc = SGREP_ENOMEM;
                    snprintf(err, errlen, "out of memory");
                } else {
                    if (clen > lim->max_inflated)
                        sgrep_xml_abort(x, "XML larger than the bound");
                    else
                        sgrep_xml_feed(x, (const char *)c, clen);
                    rc = sgrep_xml_finish(x, err, errlen);
                    sgrep_xml_free(x);
                }
            } else if (c[0] == 0x1f) {
                rc = sgrep_parse_gzip(c, clen, lim, sink, err, errlen);
            } else {
                rc = sgrep_parse_zip(c, clen, lim, sink, err, errlen);
            }
            done = 1;
        }
        free(c);
    }
    /* a failure report */
    for (size_t p = 0; p < v->nparts && !done; p++) {
        if (strcmp(v->parts[p].content_type, "message/feedback-report"))
            continue;
        unsigned char *c = NULL;
        size_t clen = 0;
        if (sgr_mime_part_content(m, v->parts[p].index, &c, &clen) != SGR_MIME_OK)
            continue;
        rc = failure(data, len, c, clen, 0, sink, err, errlen);
        free(c);
        done = 1;
    }
    if (!done && v->body && strstr(v->body, "Sender IP Address:") && strstr(v->body, "DMARC")) {
        rc = failure(data, len, (const unsigned char *)v->body, v->body_len, 1, sink, err, errlen);
        done = 1;
    }
    if (!done)
        snprintf(err, errlen,
                 "no report in the mail (no XML, gzip or zip part, no "
                 "message/feedback-report)");
    sgr_mime_free(m);
    return rc;
}
