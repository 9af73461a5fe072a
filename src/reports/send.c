/*
 * The RFC 9990 aggregate report we send: the XML, its gzip, its file name,
 * the mail that carries it, and the sending side's tables in the store.
 * See send.h.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <spoofguard/dmarc.h>
#include <zlib.h>

#include "reports.h"
#include <stdarg.h>

#include "send.h"

/* ---- buffer ------------------------------------------------------------ */

static void put(sgrep_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->oom = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

static void puts_(sgrep_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

void sgrep_buf_printf(sgrep_buf *b, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}
#define putf sgrep_buf_printf

void sgrep_date(char *out, size_t n, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, n, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

void sgrep_buf_put(sgrep_buf *b, const char *s, size_t n)
{
    put(b, s, n);
}

void sgrep_buf_free(sgrep_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* The length of the well-formed UTF-8 sequence at s (RFC 3629: shortest
 * form, no surrogate, nothing past U+10FFFF) and its code point in *cp; 0
 * when the bytes there are not one. The NUL that ends s is never a
 * continuation byte, so a sequence cut by it is refused, not overrun. */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2, v = c & 0x1fu, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, v = c & 0x0fu, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* Character data from stored strings, which hold whatever a sender wrote
 * (an SPF domain is the MAIL FROM's bytes): the specials escaped; a byte
 * that starts no well-formed UTF-8 sequence, and U+FFFE/U+FFFF, which XML
 * 1.0 (2.2, Char) forbids, become U+FFFD; control characters '?' (the
 * declaration says UTF-8, and one bad character makes a consumer drop the
 * whole report, every domain's record in it). */
static void put_text(sgrep_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        uint32_t cp = 0;
        size_t n = utf8_seq(p, &cp);
        if (n == 0 || cp == 0xfffe || cp == 0xffff)
            puts_(b, "\xEF\xBF\xBD");
        else if (cp == '&')
            puts_(b, "&amp;");
        else if (cp == '<')
            puts_(b, "&lt;");
        else if (cp == '>')
            puts_(b, "&gt;");
        else if (cp == '"')
            puts_(b, "&quot;");
        else if (cp < 0x20 || cp == 0x7f)
            put(b, "?", 1);
        else
            put(b, (const char *)p, n);
        p += n ? n : 1;
    }
}

static void elem(sgrep_buf *b, const char *indent, const char *name, const char *value)
{
    puts_(b, indent);
    putf(b, "<%s>", name);
    put_text(b, value);
    putf(b, "</%s>\n", name);
}

/* ---- enumerations of the schema ---------------------------------------- */

static const char *one_of(const char *v, const char *const *allowed, const char *dflt)
{
    if (v)
        for (size_t i = 0; allowed[i]; i++)
            if (!strcmp(v, allowed[i]))
                return allowed[i];
    return dflt;
}

static const char *const disp_words[] = {"none", "quarantine", "reject", NULL};
static const char *const align_words[] = {"r", "s", NULL};
static const char *const yn_words[] = {"n", "y", NULL};
static const char *const disc_words[] = {"psl", "treewalk", NULL};
static const char *const pf_words[] = {"pass", "fail", NULL};
/* RFC 9990 PolicyOverrideType */
static const char *const override_words[] = {"local_policy",     "mailing_list",      "other",
                                             "policy_test_mode", "trusted_forwarder", NULL};
/* RFC 8601 2.7.1 */
static const char *const dkim_words[] = {"none",    "pass",      "fail",      "policy",
                                         "neutral", "temperror", "permerror", NULL};
/* RFC 8601 2.7.2 */
static const char *const spf_words[] = {"none",     "neutral",   "pass",      "fail",
                                        "softfail", "temperror", "permerror", NULL};
/* RFC 9990: "mfrom", the only valid value (rows of an older collection
 * may say helo: a null sender's postmaster@HELO, RFC 7208 2.4) */
static const char *const scope_words[] = {"mfrom", NULL};

/* ---- policy string ------------------------------------------------------ */

static const char *nz(const char *s)
{
    return s && *s ? s : NULL;
}

/* Appends s to out[*j..cap-1], always leaving room for the final NUL. */
static void cat(char *out, size_t *j, size_t cap, const char *s)
{
    while (*s && *j + 1 < cap)
        out[(*j)++] = *s++;
}

/* Called once per message collected (collect.c's group key), hence
 * concatenation rather than snprintf: a third of the collection's cost
 * went to formatting this string. */
void sgrep_policy_format(char *out, size_t outlen, const sgrep_obs *o)
{
    const char *p = one_of(nz(o->p), disp_words, "none");
    const char *sp = one_of(nz(o->sp), disp_words, p);
    const char *np = one_of(nz(o->np), disp_words, sp);
    const char *fo = nz(o->fo) && strlen(o->fo) < 16 && !strpbrk(o->fo, " =") ? o->fo : "0";
    const char *v[] = {"p=",      p,
                       " sp=",    sp,
                       " np=",    np,
                       " adkim=", one_of(nz(o->adkim), align_words, "r"),
                       " aspf=",  one_of(nz(o->aspf), align_words, "r"),
                       " fo=",    fo,
                       " t=",     o->testing ? "y" : "n",
                       " disc=",  one_of(nz(o->discovery), disc_words, "treewalk")};
    size_t j = 0;
    if (outlen == 0)
        return;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        cat(out, &j, outlen, v[i]);
    out[j] = '\0';
}

static void copy_word(char *dst, size_t n, const char *v, const char *const *allowed,
                      const char *dflt)
{
    snprintf(dst, n, "%s", one_of(v, allowed, dflt));
}

void sgrep_policy_parse(const char *s, sgrep_policy *out)
{
    char v[8][16];
    memset(v, 0, sizeof v);
    static const char *const tags[8] = {"p", "sp", "np", "adkim", "aspf", "fo", "t", "disc"};
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s ? s : "");
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            continue;
        *eq = 0;
        for (int k = 0; k < 8; k++)
            if (!strcmp(tok, tags[k]))
                snprintf(v[k], sizeof v[k], "%s", eq + 1);
    }
    copy_word(out->p, sizeof out->p, v[0], disp_words, "none");
    copy_word(out->sp, sizeof out->sp, v[1], disp_words, out->p);
    copy_word(out->np, sizeof out->np, v[2], disp_words, out->sp);
    copy_word(out->adkim, sizeof out->adkim, v[3], align_words, "r");
    copy_word(out->aspf, sizeof out->aspf, v[4], align_words, "r");
    snprintf(out->fo, sizeof out->fo, "%s", v[5][0] ? v[5] : "0");
    copy_word(out->testing, sizeof out->testing, v[6], yn_words, "n");
    copy_word(out->discovery, sizeof out->discovery, v[7], disc_words, "treewalk");
}

/* ---- Report-ID, file name ------------------------------------------------ */

static uint64_t fnv1a(const char *s, uint64_t h)
{
    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* dot-atom-text (RFC 5322 3.2.3) of a domain-ish string: atext kept, the
 * rest (there should be none in a DNS name) replaced by '-'. */
static void atomise(char *dst, size_t n, const char *s)
{
    size_t j = 0;
    for (const char *p = s ? s : ""; *p && j + 1 < n; p++) {
        unsigned char c = (unsigned char)*p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 strchr("-_.", c);
        dst[j++] = ok ? (char)c : '-';
    }
    dst[j] = 0;
    /* no leading, trailing or double dot */
    while (dst[0] == '.')
        memmove(dst, dst + 1, strlen(dst));
    for (size_t k = strlen(dst); k && dst[k - 1] == '.'; k--)
        dst[k - 1] = 0;
    for (char *d; (d = strstr(dst, ".."));)
        memmove(d, d + 1, strlen(d));
    if (!dst[0] && n > 1)
        snprintf(dst, n, "x");
}

/* The Report-ID and its unique-id: sep between the day and the hash ("."
 * in the version before the store ID, none since: RFC 9990's unique-id is
 * letters and digits). */
static void report_id(char *out, size_t outlen, char *unique, size_t uniquelen, int64_t day,
                      const char *policy_domain, const char *policy, const char *host,
                      const char *org_name, const char *sep)
{
    time_t t = (time_t)day;
    struct tm tm;
    gmtime_r(&t, &tm);
    uint64_t h = fnv1a(policy, fnv1a(policy_domain, 0xcbf29ce484222325ull));
    if (host)
        h = fnv1a(host, (h ^ '\n') * 0x100000001b3ull);
    char dom[256], org[256];
    atomise(dom, sizeof dom, policy_domain);
    atomise(org, sizeof org, org_name);
    snprintf(unique, uniquelen, "%04d%02d%02d%s%016llx", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, sep, (unsigned long long)h);
    snprintf(out, outlen, "%s.%s@%s", unique, dom, org);
}

void sgrep_report_id(char *out, size_t outlen, char *unique, size_t uniquelen, int64_t day,
                     const char *policy_domain, const char *policy, const char *host,
                     const char *org_name)
{
    report_id(out, outlen, unique, uniquelen, day, policy_domain, policy, host, org_name, "");
}

void sgrep_report_filename(char *out, size_t outlen, const char *org_name,
                           const char *policy_domain, int64_t begin, int64_t end,
                           const char *unique)
{
    char dom[256], org[256];
    atomise(dom, sizeof dom, policy_domain);
    atomise(org, sizeof org, org_name);
    snprintf(out, outlen, "%s!%s!%lld!%lld!%s.xml.gz", org, dom, (long long)begin, (long long)end,
             unique);
}

/* ---- XML ----------------------------------------------------------------- */

void sgrep_gen_begin(sgrep_buf *b, const sgrep_gen_meta *m, const char *report_id,
                     const char *policy_domain, const sgrep_policy *pol, int64_t begin, int64_t end)
{
    b->len = 0;
    b->records = b->messages = 0;
    puts_(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">\n"
             "  <version>1.0</version>\n"
             "  <report_metadata>\n");
    elem(b, "    ", "org_name", m->org_name);
    elem(b, "    ", "email", m->email);
    elem(b, "    ", "report_id", report_id);
    putf(b,
         "    <date_range>\n      <begin>%lld</begin>\n      <end>%lld</end>\n    </date_range>\n",
         (long long)begin, (long long)end);
    if (m->error)
        elem(b, "    ", "error", m->error);
    elem(b, "    ", "generator", m->generator);
    puts_(b, "  </report_metadata>\n  <policy_published>\n");
    elem(b, "    ", "domain", policy_domain);
    elem(b, "    ", "discovery_method", pol->discovery);
    elem(b, "    ", "adkim", pol->adkim);
    elem(b, "    ", "aspf", pol->aspf);
    elem(b, "    ", "p", pol->p);
    elem(b, "    ", "sp", pol->sp);
    elem(b, "    ", "np", pol->np);
    elem(b, "    ", "testing", pol->testing);
    elem(b, "    ", "fo", pol->fo);
    puts_(b, "  </policy_published>\n");
}

/* Splits "a/b/c" into three fields of at most 255 bytes; -1 when there
 * are not three or one is longer. Collection bounds a name to 253 octets,
 * so a longer one is a row stored before it did: that result is left out
 * rather than written cut, as a name that was never there. */
static int split3(const char *s, size_t n, char f[3][256])
{
    f[0][0] = f[1][0] = f[2][0] = 0;
    int k = 0;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '/' && k < 2) {
            f[k][j] = 0;
            k++;
            j = 0;
        } else if (j < 255) {
            f[k][j++] = s[i];
        } else {
            return -1;
        }
    }
    f[k][j] = 0;
    return k == 2 ? 0 : -1;
}

int sgrep_gen_record(sgrep_buf *b, const sgrep_row *r)
{
    unsigned char addr[16];
    char ip[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET, r->source_ip, addr) == 1)
        inet_ntop(AF_INET, addr, ip, sizeof ip);
    else if (inet_pton(AF_INET6, r->source_ip, addr) == 1)
        inet_ntop(AF_INET6, addr, ip, sizeof ip);
    else
        return -1;
    b->records++;
    b->messages += r->count;
    puts_(b, "  <record>\n    <row>\n");
    elem(b, "      ", "source_ip", ip);
    putf(b, "      <count>%llu</count>\n", (unsigned long long)r->count);
    puts_(b, "      <policy_evaluated>\n");
    elem(b, "        ", "disposition", one_of(r->disposition, disp_words, "none"));
    elem(b, "        ", "dkim", one_of(r->dkim_aligned, pf_words, "fail"));
    elem(b, "        ", "spf", one_of(r->spf_aligned, pf_words, "fail"));
    if (r->reason && *r->reason) {
        char type[32];
        size_t n = strcspn(r->reason, "/");
        snprintf(type, sizeof type, "%.*s", (int)n, r->reason);
        puts_(b, "        <reason>\n");
        elem(b, "          ", "type", one_of(type, override_words, "other"));
        if (r->reason[n] == '/' && r->reason[n + 1])
            elem(b, "          ", "comment", r->reason + n + 1);
        puts_(b, "        </reason>\n");
    }
    puts_(b, "      </policy_evaluated>\n    </row>\n    <identifiers>\n");
    if (r->envelope_to && *r->envelope_to)
        elem(b, "      ", "envelope_to", r->envelope_to);
    if (r->envelope_from && *r->envelope_from)
        elem(b, "      ", "envelope_from", r->envelope_from);
    elem(b, "      ", "header_from", r->header_from);
    puts_(b, "    </identifiers>\n    <auth_results>\n");
    char f[3][256];
    for (const char *p = r->dkim ? r->dkim : ""; *p;) {
        size_t n = strcspn(p, " ");
        if (n && split3(p, n, f) == 0 && f[0][0]) {
            puts_(b, "      <dkim>\n");
            elem(b, "        ", "domain", f[0]);
            /* RFC 9990: the selector is always present */
            elem(b, "        ", "selector", f[1]);
            elem(b, "        ", "result", one_of(f[2], dkim_words, "temperror"));
            puts_(b, "      </dkim>\n");
        }
        p += n;
        while (*p == ' ')
            p++;
    }
    /* The schema wants one SPF result at least: without one we report the
     * identity SPF would have checked, result none. */
    const char *spf = r->spf ? r->spf : "";
    if (!*spf || split3(spf, strlen(spf), f) != 0 || !f[0][0]) {
        snprintf(f[0], sizeof f[0], "%s",
                 r->envelope_from && *r->envelope_from ? r->envelope_from : r->header_from);
        snprintf(f[1], sizeof f[1], "mfrom");
        snprintf(f[2], sizeof f[2], "none");
    }
    puts_(b, "      <spf>\n");
    elem(b, "        ", "domain", f[0]);
    elem(b, "        ", "scope", one_of(f[1], scope_words, "mfrom"));
    elem(b, "        ", "result", one_of(f[2], spf_words, "temperror"));
    puts_(b, "      </spf>\n    </auth_results>\n  </record>\n");
    return 0;
}

void sgrep_gen_end(sgrep_buf *b)
{
    puts_(b, "</feedback>\n");
}

/* ---- gzip ---------------------------------------------------------------- */

int sgrep_gzip(const void *data, size_t len, unsigned char **out, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    /* 15 + 16: a gzip header and trailer (RFC 1952), not zlib's */
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    size_t cap = deflateBound(&z, len);
    unsigned char *o = malloc(cap ? cap : 1);
    if (!o) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (unsigned char *)(uintptr_t)data;
    z.avail_in = (uInt)len;
    z.next_out = o;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(o);
        return -1;
    }
    *out = o;
    *outlen = n;
    return 0;
}

/* ---- the mail ------------------------------------------------------------ */

int sgrep_addr_ok(const char *a)
{
    return sg_dmarc_report_addr_ok(a);
}

static void put_base64(sgrep_buf *b, const unsigned char *d, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char line[80];
    size_t j = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)d[i + 1] << 8;
        if (i + 2 < n)
            v |= d[i + 2];
        line[j++] = tab[(v >> 18) & 63];
        line[j++] = tab[(v >> 12) & 63];
        line[j++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        line[j++] = i + 2 < n ? tab[v & 63] : '=';
        if (j == 76) {
            line[j++] = '\n';
            put(b, line, j);
            j = 0;
        }
    }
    if (j) {
        line[j++] = '\n';
        put(b, line, j);
    }
}

void sgrep_mail(sgrep_buf *b, const sgrep_gen_meta *m, const char *to, const char *policy_domain,
                const char *report_id, const char *filename, const unsigned char *gz, size_t gzlen,
                int64_t now)
{
    char date[64];
    sgrep_date(date, sizeof date, now);
    char dom[256], org[256];
    atomise(dom, sizeof dom, policy_domain);
    atomise(org, sizeof org, m->org_name);
    b->len = 0;
    /* the boundary is made of the Report-ID's hash: never in base64 text */
    char boundary[64];
    snprintf(boundary, sizeof boundary, "=_sg_%016llx",
             (unsigned long long)fnv1a(report_id, 0xcbf29ce484222325ull));
    putf(b, "From: %s\n", m->email);
    putf(b, "To: %s\n", to);
    /* RFC 9990 "Subject": Report Domain, Submitter, Report-ID */
    putf(b, "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\n", dom, org, report_id);
    putf(b, "Date: %s\n", date);
    putf(b, "Message-ID: <%s>\n", report_id);
    puts_(b, "Auto-Submitted: auto-generated\nMIME-Version: 1.0\n");
    putf(b, "Content-Type: multipart/mixed; boundary=\"%s\"\n\n", boundary);
    putf(b, "--%s\nContent-Type: text/plain; charset=us-ascii\n\n", boundary);
    putf(b, "This is a DMARC aggregate report (RFC 9990) for %s from %s.\n\n", dom, org);
    putf(b, "--%s\nContent-Type: application/gzip; name=\"%s\"\n", boundary, filename);
    putf(b, "Content-Disposition: attachment; filename=\"%s\"\n", filename);
    puts_(b, "Content-Transfer-Encoding: base64\n\n");
    put_base64(b, gz, gzlen);
    putf(b, "\n--%s--\n", boundary);
}

/* ---- the sending side's tables -------------------------------------------- */

static const char send_schema[] =
    /* one row per report and destination: marked sent only after the MTA
     * took it (exit 0); given up 24 hours after the first try */
    "CREATE TABLE IF NOT EXISTS send_queue("
    " report_id TEXT NOT NULL, rua TEXT NOT NULL, policy_domain TEXT NOT NULL,"
    " day INTEGER NOT NULL,"
    " state TEXT NOT NULL CHECK(state IN ('pending','sent','failed')),"
    " tries INTEGER NOT NULL DEFAULT 0, first_try INTEGER, next_try INTEGER,"
    " sent_at INTEGER, last_error TEXT,"
    " PRIMARY KEY(report_id, rua));"
    "CREATE INDEX IF NOT EXISTS send_queue_day ON send_queue(day);"
    /* RFC 9990: <policy-domain>._report._dmarc.<dest> for a rua outside the
     * policy domain's organisation; both answers kept until expires */
    "CREATE TABLE IF NOT EXISTS report_auth_cache("
    " policy_domain TEXT NOT NULL, dest TEXT NOT NULL, ok INTEGER NOT NULL,"
    " expires INTEGER NOT NULL, PRIMARY KEY(policy_domain, dest));"
    /* failure reports (RFC 9991): one row per policy domain, source and
     * hour at most (the key is the rate limit), the sample redacted
     * already, the ruf addresses as the record named them (space
     * separated); state as send_queue's */
    "CREATE TABLE IF NOT EXISTS failure_queue("
    " policy_domain TEXT NOT NULL, source_ip TEXT NOT NULL, hour INTEGER NOT NULL,"
    " arrival INTEGER NOT NULL, envelope_from TEXT NOT NULL, header_from TEXT NOT NULL,"
    " authres TEXT NOT NULL, dkim_aligned INTEGER NOT NULL, spf_aligned INTEGER NOT NULL,"
    " dkim_domain TEXT, dkim_selector TEXT, headers TEXT NOT NULL, ruf TEXT NOT NULL,"
    " state TEXT NOT NULL DEFAULT 'pending' CHECK(state IN ('pending','sent','failed')),"
    " tries INTEGER NOT NULL DEFAULT 0, first_try INTEGER, next_try INTEGER NOT NULL DEFAULT 0,"
    " sent_at INTEGER, last_error TEXT,"
    " PRIMARY KEY(policy_domain, source_ip, hour));"
    /* the rate limit of failure reports (RFC 9991 5, 7) beyond that key:
     * a wildcard record gives every name under a domain a policy of its
     * own, so per policy domain limits nothing. One per organisational
     * domain of the policy domain (the public suffix list: the sender
     * cannot move it), source and hour; at most SGREP_FAILURE_ORG_HOUR
     * per organisational domain and hour, whatever the source (an IPv6
     * sender has addresses to spare). Tables of their own, so a store
     * made before them needs no migration. */
    /* a failure report's destinations that took it (the MTA exited 0):
     * a retry for the others never sends it to these again */
    "CREATE TABLE IF NOT EXISTS failure_sent("
    " policy_domain TEXT NOT NULL, source_ip TEXT NOT NULL, hour INTEGER NOT NULL,"
    " dest TEXT NOT NULL, sent_at INTEGER NOT NULL,"
    " PRIMARY KEY(policy_domain, source_ip, hour, dest)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS failure_limit("
    " org_domain TEXT NOT NULL, source_ip TEXT NOT NULL, hour INTEGER NOT NULL,"
    " PRIMARY KEY(org_domain, source_ip, hour)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS failure_org_hour("
    " org_domain TEXT NOT NULL, hour INTEGER NOT NULL, n INTEGER NOT NULL,"
    " PRIMARY KEY(org_domain, hour)) WITHOUT ROWID;"
    /* the store's own name, made once: in the Report-ID of its reports,
     * so two MX hosts with stores of their own never share one, while a
     * host renamed (or a container's run) keeps its reports' IDs */
    "CREATE TABLE IF NOT EXISTS store_meta(k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO store_meta VALUES('store_id', lower(hex(randomblob(8))));";

typedef struct {
    const sgrep_day_report *r;
    size_t i;
} ranked;

static int own_org(const sgrep_day_report *r)
{
    return strcasecmp(r->domain, r->org) == 0;
}

static int rank_cmp(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    int c = strcmp(a->r->org, b->r->org);
    if (c)
        return c;
    if (!a->r->started != !b->r->started)
        return b->r->started ? 1 : -1;
    if (own_org(a->r) != own_org(b->r))
        return own_org(b->r) - own_org(a->r);
    if (a->r->messages != b->r->messages)
        return a->r->messages > b->r->messages ? -1 : 1;
    c = strcmp(a->r->domain, b->r->domain);
    if (c)
        return c;
    return a->i < b->i ? -1 : a->i > b->i;
}

long sgrep_limit_per_org(const sgrep_day_report *r, size_t n, size_t limit, unsigned char *keep)
{
    if (limit == 0 || n <= limit) {
        memset(keep, 1, n);
        return 0;
    }
    ranked *v = malloc(n * sizeof *v);
    if (v == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        v[i] = (ranked){&r[i], i};
    qsort(v, n, sizeof *v, rank_cmp);
    long held = 0;
    size_t run_len = 0;
    for (size_t k = 0; k < n; k++) {
        run_len = k > 0 && strcmp(v[k].r->org, v[k - 1].r->org) == 0 ? run_len + 1 : 1;
        keep[v[k].i] = run_len <= limit;
        held += run_len > limit;
    }
    free(v);
    return held;
}

/* One statement with text (t) and integer (i) parameters, in order; the
 * number of rows it returned (a SELECT's first column) or changed, -1 on
 * an error. */
static long long run(sqlite3 *db, const char *sql, const char *types, ...)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return -1;
    va_list ap;
    va_start(ap, types);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 't')
            sqlite3_bind_text(q, i + 1, va_arg(ap, const char *), -1, SQLITE_STATIC);
        else
            sqlite3_bind_int64(q, i + 1, va_arg(ap, int64_t));
    }
    va_end(ap);
    int rc = sqlite3_step(q);
    long long v = rc == SQLITE_ROW    ? sqlite3_column_int64(q, 0)
                  : rc == SQLITE_DONE ? (long long)sqlite3_changes(db)
                                      : -1;
    sqlite3_finalize(q);
    return v;
}

int sgrep_failure_queue(sqlite3 *db, const sgrep_failure *f, const char *ruf, char *err,
                        size_t errlen)
{
    int64_t hour = f->arrival - f->arrival % 3600;
    const char *org = f->org_domain && *f->org_domain ? f->org_domain : f->policy_domain;
    long long seen = run(db,
                         "SELECT count(*) FROM failure_limit WHERE org_domain=?1 AND source_ip=?2"
                         " AND hour=?3",
                         "tti", org, f->source_ip, hour);
    long long n = seen != 0 ? seen
                            : run(db,
                                  "SELECT coalesce(max(n), 0) FROM failure_org_hour"
                                  " WHERE org_domain=?1 AND hour=?2",
                                  "ti", org, hour);
    if (seen < 0 || n < 0)
        goto fail;
    if (seen > 0 || n >= SGREP_FAILURE_ORG_HOUR)
        return 0;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO failure_queue(policy_domain, source_ip, hour,"
                           " arrival, envelope_from, header_from, authres, dkim_aligned,"
                           " spf_aligned, dkim_domain, dkim_selector, headers, ruf)"
                           " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                           -1, &q, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_text(q, 1, f->policy_domain, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, f->source_ip, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, hour);
    sqlite3_bind_int64(q, 4, f->arrival);
    sqlite3_bind_text(q, 5, f->envelope_from ? f->envelope_from : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 6, f->header_from ? f->header_from : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 7, f->authres ? f->authres : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 8, f->dkim_aligned);
    sqlite3_bind_int(q, 9, f->spf_aligned);
    sqlite3_bind_text(q, 10, f->dkim_domain, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 11, f->dkim_selector, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 12, f->headers ? f->headers : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 13, ruf, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        goto fail;
    if (sqlite3_changes(db) == 0)
        return 0; /* queued by a program before the limit tables */
    if (run(db, "INSERT OR IGNORE INTO failure_limit VALUES(?1, ?2, ?3)", "tti", org, f->source_ip,
            hour) < 0 ||
        run(db,
            "INSERT INTO failure_org_hour VALUES(?1, ?2, 1)"
            " ON CONFLICT DO UPDATE SET n = n + 1",
            "ti", org, hour) < 0)
        goto fail;
    return 1;
fail:
    snprintf(err, errlen, "%s", sqlite3_errmsg(db));
    return -1;
}

int sgrep_store_id(sqlite3 *db, char *out, size_t cap)
{
    sqlite3_stmt *q;
    int rc = -1;
    if (sqlite3_prepare_v2(db, "SELECT v FROM store_meta WHERE k='store_id'", -1, &q, NULL) !=
        SQLITE_OK)
        return -1;
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0) != NULL) {
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(q, 0));
        rc = 0;
    }
    sqlite3_finalize(q);
    return rc;
}

void sgrep_report_id_v1(char *out, size_t outlen, int64_t day, const char *policy_domain,
                        const char *policy, const char *org_name)
{
    char unique[64];
    report_id(out, outlen, unique, sizeof unique, day, policy_domain, policy, NULL, org_name, ".");
}

sqlite3 *sgrep_send_open(const char *path, char *err, size_t errlen)
{
    /* the shared schema (and its version check) first */
    sgrep_store *s = sgrep_store_open(path, err, errlen);
    if (!s)
        return NULL;
    sgrep_store_close(s);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 10000);
    char *msg = NULL;
    if (sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, send_schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}
