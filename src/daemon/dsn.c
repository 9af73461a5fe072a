/*
 * Delivery-status reports (dsn.h). A line scanner, not a MIME parser: it
 * needs the top-level Content-Type (multipart/report with
 * report-type=delivery-status and its boundary) and, in the top-level
 * part whose header says message/delivery-status, the per-recipient
 * field groups. Anything
 * else is not a report and counts nothing: a sender gains nothing but a
 * bounce count for a login whose address it wrote to, only with a report
 * that passed our checks (session.c), and only for a recipient that login
 * sent to (sg_ob_note_dsn_sent).
 */
#include "dsn.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* The next line [*p, eol), without its line end; 0 at the end. */
static int next_line(const char **p, const char *end, const char **line, size_t *ll)
{
    if (*p >= end)
        return 0;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *e = nl ? nl : end;
    *line = *p;
    *ll = (size_t)(e - *p);
    if (*ll && (*line)[*ll - 1] == '\r')
        (*ll)--;
    *p = nl ? nl + 1 : end;
    return 1;
}

static int field_is(const char *line, size_t ll, const char *name, const char **val, size_t *vl)
{
    size_t n = strlen(name);
    if (ll <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return 0;
    const char *v = line + n + 1;
    const char *e = line + ll;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    *val = v;
    *vl = (size_t)(e - v);
    return 1;
}

/* case-insensitive search of needle in [h, h + hl) */
static int contains(const char *h, size_t hl, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= hl; i++)
        if (!strncasecmp(h + i, needle, n))
            return 1;
    return 0;
}

/* The boundary parameter of a Content-Type value, into out (bounded). */
static int boundary_of(const char *v, size_t vl, char *out, size_t cap)
{
    for (size_t i = 0; i + 9 <= vl; i++) {
        if (strncasecmp(v + i, "boundary=", 9) != 0 || (i > 0 && isalnum((unsigned char)v[i - 1])))
            continue;
        const char *b = v + i + 9, *e = v + vl;
        size_t n = 0;
        if (b < e && *b == '"') {
            b++;
            while (b + n < e && b[n] != '"')
                n++;
        } else {
            while (b + n < e && b[n] != ';' && b[n] != ' ' && b[n] != '\t')
                n++;
        }
        if (n == 0 || n >= cap)
            return 0;
        memcpy(out, b, n);
        out[n] = '\0';
        return 1;
    }
    return 0;
}

/* The address of a recipient field's value ("rfc822; a@b", RFC 3464
 * 2.3.2): another address type, or anything that is not one plain
 * address, gives "". */
static void rcpt_of(const char *v, size_t vl, char *out, size_t cap)
{
    const char *e = v + vl;
    out[0] = '\0';
    if (vl < 7 || strncasecmp(v, "rfc822", 6) != 0)
        return;
    v += 6;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    if (v == e || *v++ != ';')
        return;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    if (e - v >= 2 && *v == '<' && e[-1] == '>')
        v++, e--;
    size_t n = (size_t)(e - v);
    if (n == 0 || n >= cap || !memchr(v, '@', n))
        return;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= ' ' || v[i] == '<' || v[i] == '>' || v[i] == 0x7f)
            return;
    memcpy(out, v, n);
    out[n] = '\0';
}

size_t sg_dsn_failed(const char *msg, size_t len, sg_dsn_failure *out, size_t max)
{
    const char *p = msg, *end = msg + len, *line, *v;
    size_t ll, vl, n = 0;
    int report = 0, in_ct = 0;
    /* the top-level Content-Type (folded lines joined into ct) */
    char ct[1024], bnd[80];
    size_t ctl = 0;
    while (next_line(&p, end, &line, &ll) && ll > 0) {
        if (field_is(line, ll, "Content-Type", &v, &vl)) {
            in_ct = 1;
            ctl = vl < sizeof(ct) ? vl : sizeof(ct) - 1;
            memcpy(ct, v, ctl);
        } else if (in_ct && (line[0] == ' ' || line[0] == '\t')) {
            size_t k = ll < sizeof(ct) - 1 - ctl ? ll : sizeof(ct) - 1 - ctl;
            memcpy(ct + ctl, line, k);
            ctl += k;
        } else {
            in_ct = 0;
        }
    }
    report = contains(ct, ctl, "multipart/report") && contains(ct, ctl, "delivery-status") &&
             boundary_of(ct, ctl, bnd, sizeof(bnd));
    if (!report)
        return 0;
    size_t bl = strlen(bnd);
    /* the top-level parts only: a part header right after "--boundary",
     * the groups of a message/delivery-status part's body; anything
     * nested (the returned message) is body text of its own part */
    int in_head = 0, in_status = 0, failed = 0;
    sg_dsn_failure cur;
    memset(&cur, 0, sizeof(cur));
#define GROUP_END()                                                                                \
    do {                                                                                           \
        if (in_status && failed && cur.status[0] && n < max)                                       \
            out[n++] = cur;                                                                        \
        failed = 0;                                                                                \
        memset(&cur, 0, sizeof(cur));                                                              \
    } while (0)
    while (next_line(&p, end, &line, &ll)) {
        if (ll >= bl + 2 && line[0] == '-' && line[1] == '-' && !memcmp(line + 2, bnd, bl)) {
            GROUP_END();
            in_head = 1;
            in_status = 0;
            continue;
        }
        if (in_head) {
            if (ll == 0)
                in_head = 0;
            else if (field_is(line, ll, "Content-Type", &v, &vl))
                in_status = contains(v, vl, "message/delivery-status");
            continue;
        }
        if (!in_status)
            continue;
        if (ll == 0) { /* the end of one group */
            GROUP_END();
            continue;
        }
        if (field_is(line, ll, "Action", &v, &vl))
            failed = vl >= 6 && !strncasecmp(v, "failed", 6);
        else if (field_is(line, ll, "Final-Recipient", &v, &vl))
            rcpt_of(v, vl, cur.final_rcpt, sizeof(cur.final_rcpt));
        else if (field_is(line, ll, "Original-Recipient", &v, &vl))
            rcpt_of(v, vl, cur.orig_rcpt, sizeof(cur.orig_rcpt));
        else if (field_is(line, ll, "Status", &v, &vl)) {
            /* class.subject.detail: digits and dots only, bounded */
            size_t k = 0;
            char *st = cur.status;
            while (k < vl && k < sizeof(cur.status) - 1 &&
                   (isdigit((unsigned char)v[k]) || v[k] == '.'))
                k++;
            memcpy(st, v, k);
            st[k] = '\0';
            if (k < 5 || (st[0] != '4' && st[0] != '5') || st[1] != '.')
                st[0] = '\0';
        }
    }
    GROUP_END();
#undef GROUP_END
    return n;
}
