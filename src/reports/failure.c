/*
 * DMARC failure reports we send (RFC 9991; issue 16 item 4): when one is
 * due (the record's fo=), the redacted header kept of the message, and the
 * report mail itself (RFC 5965 ARF, RFC 6591 authentication failure
 * fields). No I/O: spoofguardd queues samples in the report store
 * (src/daemon/reportcollect.c), `spoofguard report send` mails them.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <spoofguard/dmarc.h>

#include "send.h"

int sgrep_failure_due(unsigned fo, int dmarc_pass, int dkim_aligned, int spf_aligned,
                      int dkim_failed, int spf_failed)
{
    if (fo == 0)
        fo = SG_DMARC_FO_0;
    return ((fo & SG_DMARC_FO_0) && !dmarc_pass) ||
           ((fo & SG_DMARC_FO_1) && (!dkim_aligned || !spf_aligned)) ||
           ((fo & SG_DMARC_FO_D) && dkim_failed) || ((fo & SG_DMARC_FO_S) && spf_failed);
}

/* ---- redaction ------------------------------------------------------------ */

enum { KEEP, ADDRS, SUBJECT, DROP };

/* The fields kept, and how. */
static int field_kind(const char *name, size_t n)
{
    static const struct {
        const char *name;
        int kind;
    } t[] = {
        {"From", KEEP}, {"Date", KEEP}, {"Message-ID", KEEP}, {"DKIM-Signature", KEEP},
        {"To", ADDRS},  {"Cc", ADDRS},  {"Subject", SUBJECT},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strlen(t[i].name) == n && strncasecmp(name, t[i].name, n) == 0)
            return t[i].kind;
    return DROP;
}

int sgrep_failure_field_kept(const char *name, size_t n)
{
    return field_kind(name, n) != DROP;
}

static int domain_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '[' || c == ']' || c == ':';
}

/* "redacted@DOMAIN" for every "@DOMAIN" of an address list: the domains
 * show where the message went, no one's name or mailbox does. */
static size_t redact_addrs(const char *v, size_t vl, char *out, size_t cap)
{
    size_t o = 0, n = 0;
    for (size_t i = 0; i < vl; i++) {
        if (v[i] != '@')
            continue;
        size_t e = i + 1;
        while (e < vl && domain_char((unsigned char)v[e]))
            e++;
        if (e == i + 1)
            continue;
        int w = snprintf(out + o, cap - o, "%sredacted@%.*s", n++ ? ", " : " ", (int)(e - i - 1),
                         v + i + 1);
        if (w < 0 || (size_t)w >= cap - o)
            return 0;
        o += (size_t)w;
        i = e - 1;
    }
    return o;
}

/* Removes the z= tag (RFC 6376 3.5: copied header fields, a recipient's
 * name and address, the subject) from the DKIM-Signature tag-list in
 * f[from..*fl), in place; every other tag is kept byte for byte, folding
 * included. Tags are ';'-separated; a tag name may have whitespace (and
 * folding) before it and before its '='. */
static void drop_z_tag(char *f, size_t from, size_t *fl)
{
    size_t o = from, seg = from;
    int first = 1;
    for (size_t i = from; i <= *fl; i++) {
        if (i < *fl && f[i] != ';')
            continue;
        size_t n = i - seg, t = seg;
        while (t < i && (f[t] == ' ' || f[t] == '\t' || f[t] == '\n'))
            t++;
        int z = t < i && f[t] == 'z';
        if (z) {
            t++;
            while (t < i && (f[t] == ' ' || f[t] == '\t' || f[t] == '\n'))
                t++;
            z = t < i && f[t] == '=';
        }
        if (!z) {
            if (!first)
                f[o++] = ';';
            memmove(f + o, f + seg, n);
            o += n;
            first = 0;
        }
        seg = i + 1;
    }
    *fl = o;
}

size_t sgrep_failure_redact(const char *hdr, size_t len, char *out, size_t cap)
{
    const char *p = hdr, *end = hdr + len;
    size_t o = 0;
    if (cap == 0)
        return 0;
    out[0] = '\0';
    while (p < end) {
        /* one field: its first line and the folded ones after it */
        const char *f = p, *fe = p;
        do {
            const char *nl = memchr(fe, '\n', (size_t)(end - fe));
            fe = nl ? nl + 1 : end;
        } while (fe < end && (*fe == ' ' || *fe == '\t'));
        p = fe;
        const char *colon = memchr(f, ':', (size_t)(fe - f));
        if (colon == NULL || colon == f)
            continue;
        size_t nl = (size_t)(colon - f);
        int kind = field_kind(f, nl);
        if (kind == DROP)
            continue;
        char field[2048];
        size_t fl = 0;
        if (kind == KEEP) {
            /* the field as it came, LF line ends; one with a control
             * character (a NUL...) no header may hold is not shown */
            int bad = 0;
            for (const char *q = f; q < fe && fl + 1 < sizeof(field); q++) {
                unsigned char c = (unsigned char)*q;
                if (c == '\r')
                    continue;
                bad |= (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f;
                field[fl++] = (char)c;
            }
            if (bad || fl + 1 >= sizeof(field))
                continue; /* kept whole or not at all */
            if (nl == 14 && strncasecmp(f, "DKIM-Signature", 14) == 0) {
                while (fl > 0 && field[fl - 1] == '\n')
                    fl--;
                drop_z_tag(field, nl + 1, &fl);
            }
            if (fl == 0 || field[fl - 1] != '\n')
                field[fl++] = '\n';
        } else if (kind == SUBJECT) {
            fl = (size_t)snprintf(field, sizeof(field), "Subject: [redacted]\n");
        } else {
            int w = snprintf(field, sizeof(field), "%.*s:", (int)nl, f);
            size_t a = redact_addrs(colon + 1, (size_t)(fe - colon - 1), field + w,
                                    sizeof(field) - (size_t)w - 1);
            if (a == 0)
                continue;
            fl = (size_t)w + a;
            field[fl++] = '\n';
        }
        field[fl] = '\0';
        if (o + fl + 1 > cap)
            break;
        memcpy(out + o, field, fl + 1);
        o += fl;
    }
    return o;
}

/* ---- the report ------------------------------------------------------------ */

static void puts_(sgrep_buf *b, const char *s)
{
    sgrep_buf_put(b, s, strlen(s));
}

#define putf sgrep_buf_printf

/* A header field value we write ourselves from stored text: one line,
 * bounded, and US-ASCII, as the part it goes in declares: a stored value
 * can hold anything a sender wrote (a MAIL FROM of invalid UTF-8), so a
 * control character becomes ' ' and a byte past 0x7f '?'. */
static void put_value(sgrep_buf *b, const char *s, size_t max)
{
    size_t n = 0;
    for (const char *q = s ? s : ""; *q && n < max; q++, n++) {
        unsigned char c = (unsigned char)*q;
        char ch = c < 0x20 || c == 0x7f ? ' ' : c > 0x7f ? '?' : (char)c;
        sgrep_buf_put(b, &ch, 1);
    }
}

/* Our Authentication-Results value, folded as the verdict wrote it (its
 * results on lines of their own: flattened, one with a few signatures was
 * a line of 1,524 octets, over RFC 5322's 998, cut inside a result: adv18
 * F8): CR dropped, a line break kept only before white space, anything
 * else as put_value; beyond max octets it ends after the last whole
 * result (at a ';') that fits. */
static void put_authres(sgrep_buf *b, const char *s, size_t max)
{
    size_t n = strlen(s ? s : "");
    if (n > max) {
        n = max;
        while (n > 0 && s[n - 1] != ';')
            n--;
        if (n > 0)
            n--; /* the ';' itself */
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char ch = c == '\n' && i + 1 < n && (s[i + 1] == ' ' || s[i + 1] == '\t') ? '\n'
                  : c == '\r'                                                     ? 0
                  : c == '\t'                                                     ? '\t'
                  : c < 0x20 || c == 0x7f                                         ? ' '
                  : c > 0x7f                                                      ? '?'
                                                                                  : (char)c;
        if (ch)
            sgrep_buf_put(b, &ch, 1);
    }
}

/* The redacted header as the text/rfc822-headers part: its line ends and
 * folding kept, every byte past 0x7f '?' (the part has no charset, so it is
 * US-ASCII, and a From display name in raw UTF-8 would break that), any
 * other control character ' '. */
static void put_headers(sgrep_buf *b, const char *s)
{
    for (const char *q = s ? s : ""; *q; q++) {
        unsigned char c = (unsigned char)*q;
        char ch = c == '\n' || c == '\t'  ? (char)c
                  : c < 0x20 || c == 0x7f ? ' '
                  : c > 0x7f              ? '?'
                                          : (char)c;
        sgrep_buf_put(b, &ch, 1);
    }
}

void sgrep_failure_mail(sgrep_buf *b, const sgrep_gen_meta *m, const char *to,
                        const sgrep_failure *f, const char *report_id, int64_t now)
{
    char date[64], arrival[64], boundary[80];
    sgrep_date(date, sizeof date, now);
    sgrep_date(arrival, sizeof arrival, f->arrival);
    b->len = 0;
    snprintf(boundary, sizeof boundary, "=_sgfr_%.60s", report_id);
    for (char *q = boundary; *q; q++)
        if (*q == '@')
            *q = '.';
    putf(b, "From: %s\n", m->email);
    putf(b, "To: %s\n", to);
    puts_(b, "Subject: DMARC failure report for ");
    put_value(b, f->policy_domain, 253);
    puts_(b, " from ");
    put_value(b, f->source_ip, 64);
    putf(b, "\nDate: %s\nMessage-ID: <%s>\n", date, report_id);
    puts_(b, "Auto-Submitted: auto-generated\nMIME-Version: 1.0\n");
    putf(b,
         "Content-Type: multipart/report; report-type=feedback-report;\n boundary=\"%s\"\n\n"
         "--%s\nContent-Type: text/plain; charset=us-ascii\n\n",
         boundary, boundary);
    puts_(b, "A message claiming to be from ");
    put_value(b, f->header_from, 253);
    puts_(b, " failed DMARC at ");
    put_value(b, m->org_name, 253);
    puts_(b, " (sent from ");
    put_value(b, f->source_ip, 64);
    puts_(b, ").\nIts header follows, redacted: no local part of a recipient,\n"
             "no subject, no body.\n\n");
    putf(b, "--%s\nContent-Type: message/feedback-report\n\n", boundary);
    putf(b, "Feedback-Type: auth-failure\nUser-Agent: %s\nVersion: 1\nAuth-Failure: dmarc\n",
         m->generator);
    puts_(b, "Original-Mail-From: <");
    put_value(b, f->envelope_from, 254);
    putf(b, ">\nArrival-Date: %s\nSource-IP: ", arrival);
    put_value(b, f->source_ip, 64);
    puts_(b, "\nReported-Domain: ");
    put_value(b, f->header_from, 253);
    if (f->authres && *f->authres) {
        puts_(b, "\nAuthentication-Results: ");
        put_authres(b, f->authres, 4000);
    }
    /* RFC 9991 3: the mechanisms that failed to authenticate an aligned
     * identity, "none" if none did (RFC 7489's meaning was the opposite,
     * the aligned ones: adv18 F7) */
    putf(b, "\nIdentity-Alignment: %s",
         !f->dkim_aligned && !f->spf_aligned ? "dkim, spf"
         : !f->dkim_aligned                  ? "dkim"
         : !f->spf_aligned                   ? "spf"
                                             : "none");
    if (f->dkim_domain && *f->dkim_domain) {
        puts_(b, "\nDKIM-Domain: ");
        put_value(b, f->dkim_domain, 253);
        /* REQUIRED with a DKIM failure (RFC 9991 3); the signature's i=
         * is not kept, and its default is "@" d= (RFC 6376 3.5) */
        puts_(b, "\nDKIM-Identity: @");
        put_value(b, f->dkim_domain, 253);
        if (f->dkim_selector && *f->dkim_selector) {
            puts_(b, "\nDKIM-Selector: ");
            put_value(b, f->dkim_selector, 63);
        }
    }
    putf(b, "\n\n--%s\nContent-Type: text/rfc822-headers\n\n", boundary);
    put_headers(b, f->headers);
    putf(b, "\n--%s--\n", boundary);
}
