/*
 * The MTA-STS (RFC 8461 3.1) and TLS-RPT (RFC 8460 3) TXT records: both
 * are "v=...; name=value; ..." with the version first, fields separated by
 * ";" and optional white space, extension fields of a common shape, and
 * one required field (id=, rua=). One table-driven parser checks both.
 */
#include <spoofguard/audit.h>

#include <string.h>
#include <strings.h>

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
    if (n > 7 && strncasecmp(v, "mailto:", 7) == 0)
        skip = 7;
    else if (n > 8 && strncasecmp(v, "https://", 8) == 0)
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
