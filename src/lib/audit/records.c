/*
 * The MTA-STS (RFC 8461 3.1) and TLS-RPT (RFC 8460 3) TXT records: both
 * are "v=...; name=value; ..." with the version first, fields separated by
 * ";" and optional white space, extension fields of a common shape, and
 * one required field (id=, rua=). One table-driven parser checks both.
 */
#include <spoofguard/audit.h>

#include <string.h>

#include "audit_int.h"
#include "util/ascii.h"

/* RFC 8461 3.1 sts-id: 1*32(ALPHA / DIGIT). */
#define STS_ID_MAX 32
/* Both RFCs: ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."). */
#define EXT_NAME_MAX 32

typedef int (*field_fn)(const char *v, size_t n, const char **reason);

struct field {
    const char *name;
    field_fn check;
    int required;
};

struct grammar {
    const char *version; /* "v=STSv1", case-sensitive (%s in the ABNF) */
    const struct field *fields;
    size_t nfields;
};

static int is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static int check_sts_id(const char *v, size_t n, const char **reason)
{
    size_t i;
    if (n == 0 || n > STS_ID_MAX) {
        *reason = "id= must be 1 to 32 letters or digits";
        return SG_ESYNTAX;
    }
    for (i = 0; i < n; i++)
        if (!is_alnum((unsigned char)v[i])) {
            *reason = "id= must be 1 to 32 letters or digits";
            return SG_ESYNTAX;
        }
    return SG_OK;
}

/* One tlsrpt-uri: "mailto:" or "https:" and at least one more octet of
 * URI text (no white space, ",", ";"). */
static int check_uri(const char *v, size_t n)
{
    size_t i, skip;
    if (n > 7 && sg_ascii_ncasecmp(v, "mailto:", 7) == 0)
        skip = 7;
    else if (n > 8 && sg_ascii_ncasecmp(v, "https://", 8) == 0)
        skip = 8;
    else
        return SG_ESYNTAX;
    for (i = skip; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
            return SG_ESYNTAX;
    return SG_OK;
}

static int check_rua(const char *v, size_t n, const char **reason)
{
    size_t i = 0;
    if (n == 0) {
        *reason = "rua= is empty";
        return SG_ESYNTAX;
    }
    while (i <= n) {
        size_t s = i, e;
        while (i < n && v[i] != ',')
            i++;
        e = i;
        while (s < e && is_wsp(v[s]))
            s++;
        while (e > s && is_wsp(v[e - 1]))
            e--;
        if (check_uri(v + s, e - s) != SG_OK) {
            *reason = "rua= needs mailto: or https:// URIs separated by commas";
            return SG_ESYNTAX;
        }
        i++;
    }
    return SG_OK;
}

static const struct field sts_fields[] = {{"id", check_sts_id, 1}};
static const struct field tlsrpt_fields[] = {{"rua", check_rua, 1}};
static const struct grammar sts = {"v=STSv1", sts_fields, 1};
static const struct grammar tlsrpt = {"v=TLSRPTv1", tlsrpt_fields, 1};

static int ext_name_ok(const char *s, size_t n)
{
    size_t i;
    if (n == 0 || n > EXT_NAME_MAX || !is_alnum((unsigned char)s[0]))
        return 0;
    for (i = 1; i < n; i++)
        if (!is_alnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
            return 0;
    return 1;
}

/* ext-value = 1*(%x21-3A / %x3C / %x3E-7E): no ";", "=", space, CTL. */
static int ext_value_ok(const char *s, size_t n)
{
    size_t i;
    if (n == 0)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e || c == ';' || c == '=')
            return 0;
    }
    return 1;
}

static int parse(const struct grammar *g, const char *txt, size_t len, const char **reason)
{
    size_t vlen = strlen(g->version), i;
    unsigned seen = 0, all = 0;
    const char *dummy;

    if (reason == NULL)
        reason = &dummy;
    if (txt == NULL) {
        *reason = "no record";
        return SG_EINVAL;
    }
    if (len < vlen || memcmp(txt, g->version, vlen) != 0) {
        *reason = "the record must start with its version tag";
        return SG_ESYNTAX;
    }
    i = vlen;
    for (;;) {
        size_t ns, ne, vs, ve, k;
        while (i < len && is_wsp(txt[i]))
            i++;
        if (i == len)
            break;
        if (txt[i] != ';') {
            *reason = "fields must be separated by ';'";
            return SG_ESYNTAX;
        }
        i++;
        while (i < len && is_wsp(txt[i]))
            i++;
        if (i == len)
            break; /* a trailing ';' is allowed */
        ns = i;
        while (i < len && txt[i] != '=' && txt[i] != ';' && !is_wsp(txt[i]))
            i++;
        ne = i;
        if (i == len || txt[i] != '=') {
            *reason = "a field is not name=value";
            return SG_ESYNTAX;
        }
        vs = ++i;
        /* rua= may hold ", " between URIs; other values have no spaces */
        while (i < len && txt[i] != ';')
            i++;
        ve = i;
        while (ve > vs && is_wsp(txt[ve - 1]))
            ve--;
        for (k = 0; k < g->nfields; k++)
            if (strlen(g->fields[k].name) == ne - ns &&
                memcmp(txt + ns, g->fields[k].name, ne - ns) == 0)
                break;
        if (k < g->nfields) {
            if (seen & (1u << k)) {
                *reason = "a field appears twice";
                return SG_ESYNTAX;
            }
            seen |= 1u << k;
            if (g->fields[k].check(txt + vs, ve - vs, reason) != SG_OK)
                return SG_ESYNTAX;
        } else if (!ext_name_ok(txt + ns, ne - ns) || !ext_value_ok(txt + vs, ve - vs)) {
            *reason = "an extension field is malformed";
            return SG_ESYNTAX;
        }
    }
    for (i = 0; i < g->nfields; i++)
        if (g->fields[i].required)
            all |= 1u << i;
    if ((seen & all) != all) {
        *reason = g == &sts ? "id= is missing" : "rua= is missing";
        return SG_ESYNTAX;
    }
    return SG_OK;
}

int sg_audit_mtasts_check(const char *txt, size_t len, const char **reason)
{
    return parse(&sts, txt, len, reason);
}

int sg_audit_tlsrpt_check(const char *txt, size_t len, const char **reason)
{
    return parse(&tlsrpt, txt, len, reason);
}

/* ---- the MTA-STS policy file (RFC 8461 3.2) ---- */

/* sts-policy-mx-value: an optional "*." and then labels of letters,
 * digits and hyphens, separated by dots. */
static int mx_pattern_ok(const char *v, size_t n)
{
    size_t i = 0, label = 0;
    if (n >= 2 && v[0] == '*' && v[1] == '.')
        i = 2;
    if (i == n || n > 253)
        return 0;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (is_alnum(c) || c == '-') {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0 || (n > 0 && v[n - 1] == '.');
}

static int word_is(const char *v, size_t n, const char *w)
{
    return strlen(w) == n && memcmp(v, w, n) == 0;
}

enum { POL_VERSION = 1, POL_MODE = 2, POL_MAX_AGE = 4 };

int sg_audit_mtasts_policy_parse(const char *text, size_t len, sg_audit_mtasts_policy *out,
                                 const char **reason)
{
    return sg_audit_policy_parse(text, len, out, reason, NULL);
}

int sg_audit_policy_parse(const char *text, size_t len, sg_audit_mtasts_policy *out,
                          const char **reason, const char **repeated)
{
    const char *p = text, *end = text + len;
    unsigned seen = 0;
    if (repeated != NULL)
        *repeated = NULL;
    if (out == NULL || reason == NULL || (text == NULL && len > 0))
        return SG_EINVAL;
    memset(out, 0, sizeof(*out));
    if (len > SG_AUDIT_MTASTS_POLICY_MAX) {
        *reason = "larger than 64 KiB";
        return SG_ESYNTAX;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end, *k = p, *c, *v, *ve;
        p = nl ? nl + 1 : end;
        if (le > k && le[-1] == '\r')
            le--;
        if (le == k)
            continue; /* an empty line: the last line's end, or a stray one */
        if ((c = memchr(k, ':', (size_t)(le - k))) == NULL || c == k) {
            *reason = "a line that is not \"key: value\"";
            return SG_ESYNTAX;
        }
        for (const char *q = k; q < c; q++)
            if (!is_alnum((unsigned char)*q) && *q != '_' && *q != '-' && *q != '.') {
                *reason = "a key with characters RFC 8461 does not allow";
                return SG_ESYNTAX;
            }
        for (v = c + 1; v < le && (*v == ' ' || *v == '\t'); v++)
            ;
        for (ve = le; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
            ;
        size_t kl = (size_t)(c - k), vl = (size_t)(ve - v);
        for (const char *q = v; q < ve; q++)
            if ((unsigned char)*q < 0x20 || *q == 0x7f) {
                *reason = "a control character in a value";
                return SG_ESYNTAX;
            }
        /* the first of a repeated key counts here; senders that keep the
         * last one read another policy (adv34 L3): the caller says so */
        if (repeated != NULL && *repeated == NULL &&
            ((kl == 7 && !memcmp(k, "version", 7) && (seen & POL_VERSION)) ||
             (kl == 4 && !memcmp(k, "mode", 4) && (seen & POL_MODE)) ||
             (kl == 7 && !memcmp(k, "max_age", 7) && (seen & POL_MAX_AGE))))
            *repeated = kl == 4 ? "mode" : k[0] == 'v' ? "version" : "max_age";
        if (kl == 7 && !memcmp(k, "version", 7)) {
            if (!(seen & POL_VERSION) && !word_is(v, vl, "STSv1")) {
                *reason = "version is not STSv1";
                return SG_ESYNTAX;
            }
            seen |= POL_VERSION;
        } else if (kl == 4 && !memcmp(k, "mode", 4)) {
            if (seen & POL_MODE)
                continue;
            if (word_is(v, vl, "enforce"))
                out->mode = SG_AUDIT_MTASTS_ENFORCE;
            else if (word_is(v, vl, "testing"))
                out->mode = SG_AUDIT_MTASTS_TESTING;
            else if (word_is(v, vl, "none"))
                out->mode = SG_AUDIT_MTASTS_NONE;
            else {
                *reason = "mode is not enforce, testing or none";
                return SG_ESYNTAX;
            }
            seen |= POL_MODE;
        } else if (kl == 7 && !memcmp(k, "max_age", 7)) {
            uint64_t n = 0;
            if (seen & POL_MAX_AGE)
                continue;
            if (vl == 0 || vl > 10) {
                *reason = "max_age is not 1 to 10 digits";
                return SG_ESYNTAX;
            }
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9') {
                    *reason = "max_age is not a number of seconds";
                    return SG_ESYNTAX;
                }
                n = n * 10 + (uint64_t)(v[i] - '0');
            }
            if (n > 31557600) {
                *reason = "max_age is over 31557600 (a year)";
                return SG_ESYNTAX;
            }
            out->max_age = (uint32_t)n;
            seen |= POL_MAX_AGE;
        } else if (kl == 2 && !memcmp(k, "mx", 2)) {
            if (!mx_pattern_ok(v, vl)) {
                *reason = "an mx value that is not a host name or \"*.\" pattern";
                return SG_ESYNTAX;
            }
            if (out->nmx == SG_AUDIT_MTASTS_MAX_MX) {
                *reason = "more than 64 mx lines";
                return SG_ESYNTAX;
            }
            out->mx[out->nmx].name = v;
            out->mx[out->nmx].len = vl;
            out->nmx++;
        }
    }
    if (!(seen & POL_VERSION))
        *reason = "no version: STSv1 line";
    else if (!(seen & POL_MODE))
        *reason = "no mode line";
    else if (!(seen & POL_MAX_AGE))
        *reason = "no max_age line";
    else if (out->nmx == 0 && out->mode != SG_AUDIT_MTASTS_NONE)
        *reason = "no mx line (required unless mode is none)";
    else
        return SG_OK;
    return SG_ESYNTAX;
}

int sg_audit_mtasts_mx_match(const sg_audit_mtasts_policy *p, const char *host)
{
    size_t hl;
    if (p == NULL || host == NULL)
        return 0;
    hl = strlen(host);
    if (hl > 0 && host[hl - 1] == '.')
        hl--;
    for (size_t i = 0; i < p->nmx; i++) {
        const char *m = p->mx[i].name;
        size_t ml = p->mx[i].len;
        if (ml > 0 && m[ml - 1] == '.')
            ml--;
        if (ml >= 2 && m[0] == '*' && m[1] == '.') {
            /* exactly one label before the rest: "a.example.net" */
            const char *dot = memchr(host, '.', hl);
            if (dot != NULL && dot > host && (size_t)(host + hl - dot) == ml - 1 &&
                !sg_ascii_ncasecmp(dot, m + 1, ml - 1))
                return 1;
        } else if (ml == hl && !sg_ascii_ncasecmp(m, host, hl)) {
            return 1;
        }
    }
    return 0;
}
