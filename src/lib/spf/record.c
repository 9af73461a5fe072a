/*
 * SPF record parser (RFC 7208 4.5, 4.6, 5, 6, 12).
 *
 *   record    = version terms *SP
 *   version   = "v=spf1"
 *   terms     = *( 1*SP ( directive / modifier ) )
 *   directive = [ qualifier ] mechanism
 *   modifier  = redirect / explanation / unknown-modifier
 *
 * Table-driven: one row per mechanism says which arguments it takes.
 * The whole record is parsed before evaluation because RFC 7208 4.6
 * makes a syntax error anywhere a permerror, even after a matching term.
 */
#include "spf_int.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "util/ascii.h"

/* A parsed record and the memory behind it: the public part first so a
 * sg_spf_record * is also a struct record *. */
struct record {
    sg_spf_record pub;
    sg_arena *arena;
    unsigned refs;
};

enum {
    ARG_NONE = 0,    /* all */
    ARG_DOMAIN_REQ,  /* include, exists: ":" domain-spec */
    ARG_DOMAIN_OPT,  /* ptr: [":" domain-spec] */
    ARG_DOMAIN_CIDR, /* a, mx: [":" domain-spec] [dual-cidr-length] */
    ARG_IP4,         /* ip4: ":" ip4-network [ip4-cidr-length] */
    ARG_IP6,         /* ip6: ":" ip6-network [ip6-cidr-length] */
};

static const struct {
    const char *name;
    sg_spf_mech_type type;
    int args;
} mech_table[] = {
    {"all", SG_SPF_MECH_ALL, ARG_NONE},       {"include", SG_SPF_MECH_INCLUDE, ARG_DOMAIN_REQ},
    {"a", SG_SPF_MECH_A, ARG_DOMAIN_CIDR},    {"mx", SG_SPF_MECH_MX, ARG_DOMAIN_CIDR},
    {"ptr", SG_SPF_MECH_PTR, ARG_DOMAIN_OPT}, {"ip4", SG_SPF_MECH_IP4, ARG_IP4},
    {"ip6", SG_SPF_MECH_IP6, ARG_IP6},        {"exists", SG_SPF_MECH_EXISTS, ARG_DOMAIN_REQ},
};

const char *sg_spf_mech_str(sg_spf_mech_type t)
{
    for (size_t i = 0; i < sizeof(mech_table) / sizeof(mech_table[0]); i++)
        if (mech_table[i].type == t)
            return mech_table[i].name;
    return "?";
}

int sg_spf_is_record(const char *text, size_t len)
{
    /* RFC 7208 4.5: "v=spf1" exactly, case-insensitive, then SP or end. */
    if (len < 6 || sg_ascii_ncasecmp(text, "v=spf1", 6) != 0)
        return 0;
    return len == 6 || text[6] == ' ';
}

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* "/" then "0" / %x31-39 *DIGIT, value <= max. Leading zeros are not in
 * the grammar (RFC 7208 12: ip4-cidr-length = "/" ("0" / %x31-39
 * 0*1DIGIT)). Returns the value or -1. */
static int parse_cidr(const char *s, size_t len, int max)
{
    if (len == 0 || len > 3)
        return -1;
    if (s[0] == '0' && len > 1)
        return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

/* Split a trailing dual-cidr-length off arg[0..*len): "/N", "//N" or
 * "/N//M". Shortens *len. Returns 0 or -1 on a malformed length. */
static int split_dual_cidr(const char *arg, size_t *len, int *c4, int *c6)
{
    size_t n = *len, i = n;
    *c4 = *c6 = -1;
    while (i > 0 && is_digit((unsigned char)arg[i - 1]))
        i--;
    if (i == n || i == 0 || arg[i - 1] != '/')
        return 0; /* no trailing "/digits": part of the domain-spec or none */
    /* arg[i-1] == '/' */
    if (i >= 2 && arg[i - 2] == '/') {
        if ((*c6 = parse_cidr(arg + i, n - i, 128)) < 0)
            return -1;
        n = i - 2;
        i = n;
        while (i > 0 && is_digit((unsigned char)arg[i - 1]))
            i--;
        if (i < n && i > 0 && arg[i - 1] == '/') {
            if ((*c4 = parse_cidr(arg + i, n - i, 32)) < 0)
                return -1;
            n = i - 1;
        }
    } else {
        if ((*c4 = parse_cidr(arg + i, n - i, 32)) < 0)
            return -1;
        n = i - 1;
    }
    *len = n;
    return 0;
}

/* Strict dotted quad (RFC 7208 12: ip4-network = qnum "." qnum "." qnum
 * "." qnum, qnum = 0..255 without leading zeros). */
static int parse_ip4(const char *s, size_t len, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        unsigned v = 0;
        size_t start = i;
        while (i < len && is_digit((unsigned char)s[i]) && i - start < 4)
            v = v * 10 + (unsigned)(s[i++] - '0');
        if (i == start || i - start > 3 || v > 255 || (s[start] == '0' && i - start > 1))
            return -1;
        out[part] = (uint8_t)v;
        if (part < 3) {
            if (i >= len || s[i] != '.')
                return -1;
            i++;
        }
    }
    return i == len ? 0 : -1;
}

static int parse_ip6(const char *s, size_t len, uint8_t out[16])
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
              c == '.'))
            return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, out) == 1 ? 0 : -1;
}

/* name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) (RFC 7208 6) */
static size_t scan_name(const char *s, size_t len)
{
    size_t i = 0;
    if (len == 0 || !is_alpha((unsigned char)s[0]))
        return 0;
    for (i = 1; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '.'))
            break;
    }
    return i;
}

#define FAIL(why)                                                                                  \
    do {                                                                                           \
        reason = (why);                                                                            \
        goto syntax;                                                                               \
    } while (0)

static int parse_term(struct record *r, sg_spf_mech *mechs, size_t *nmechs, const char *t,
                      size_t tlen, const char **why)
{
    const char *reason = NULL;
    sg_spf_result_code q = SG_SPF_PASS;
    int has_q = 0;
    const char *p = t;
    size_t len = tlen;

    switch (p[0]) {
    case '+':
        q = SG_SPF_PASS;
        has_q = 1;
        break;
    case '-':
        q = SG_SPF_FAIL;
        has_q = 1;
        break;
    case '~':
        q = SG_SPF_SOFTFAIL;
        has_q = 1;
        break;
    case '?':
        q = SG_SPF_NEUTRAL;
        has_q = 1;
        break;
    }
    if (has_q) {
        p++;
        len--;
    }
    size_t nl = scan_name(p, len);
    if (nl == 0)
        FAIL("term does not start with a name");

    /* modifier: name "=" macro-string */
    if (nl < len && p[nl] == '=') {
        const char *val = p + nl + 1;
        size_t vlen = len - nl - 1;
        if (has_q)
            FAIL("modifier with a qualifier");
        if (nl == 8 && !sg_ascii_ncasecmp(p, "redirect", 8)) {
            if (r->pub.redirect != NULL)
                FAIL("redirect= appears twice");
            if (sg_spf_macro_check(val, vlen, SG_SPF_MACRO_DOMAIN, &reason) != 0)
                goto syntax;
            r->pub.redirect = sg_arena_strndup(r->arena, val, vlen);
            return r->pub.redirect ? 0 : SG_ENOMEM;
        }
        if (nl == 3 && !sg_ascii_ncasecmp(p, "exp", 3)) {
            if (r->pub.exp != NULL)
                FAIL("exp= appears twice");
            if (sg_spf_macro_check(val, vlen, SG_SPF_MACRO_DOMAIN, &reason) != 0)
                goto syntax;
            r->pub.exp = sg_arena_strndup(r->arena, val, vlen);
            return r->pub.exp ? 0 : SG_ENOMEM;
        }
        /* RFC 7208 6: unknown modifiers MUST be ignored, but their value
         * must still be a valid macro-string (4.6.1 grammar). */
        if (sg_spf_macro_check(val, vlen, SG_SPF_MACRO_MODIFIER, &reason) != 0)
            goto syntax;
        r->pub.nunknown++;
        return 0;
    }

    size_t mi;
    for (mi = 0; mi < sizeof(mech_table) / sizeof(mech_table[0]); mi++)
        if (strlen(mech_table[mi].name) == nl && !sg_ascii_ncasecmp(p, mech_table[mi].name, nl))
            break;
    if (mi == sizeof(mech_table) / sizeof(mech_table[0]))
        FAIL("unknown mechanism");

    sg_spf_mech *m = &mechs[*nmechs];
    memset(m, 0, sizeof(*m));
    m->type = mech_table[mi].type;
    m->qualifier = q;
    m->cidr4 = m->cidr6 = -1;
    const char *arg = p + nl;
    size_t alen = len - nl;

    switch (mech_table[mi].args) {
    case ARG_NONE:
        if (alen != 0)
            FAIL("'all' takes no argument");
        break;
    case ARG_DOMAIN_REQ:
    case ARG_DOMAIN_OPT:
        if (alen == 0) {
            if (mech_table[mi].args == ARG_DOMAIN_REQ)
                FAIL("mechanism needs ':' and a domain-spec");
            break;
        }
        if (arg[0] != ':')
            FAIL("malformed mechanism argument");
        if (sg_spf_macro_check(arg + 1, alen - 1, SG_SPF_MACRO_DOMAIN, &reason) != 0)
            goto syntax;
        if ((m->domain_spec = sg_arena_strndup(r->arena, arg + 1, alen - 1)) == NULL)
            return SG_ENOMEM;
        break;
    case ARG_DOMAIN_CIDR:
        if (split_dual_cidr(arg, &alen, &m->cidr4, &m->cidr6) != 0)
            FAIL("invalid CIDR length");
        if (alen == 0)
            break;
        if (arg[0] != ':')
            FAIL("malformed mechanism argument");
        if (sg_spf_macro_check(arg + 1, alen - 1, SG_SPF_MACRO_DOMAIN, &reason) != 0)
            goto syntax;
        if ((m->domain_spec = sg_arena_strndup(r->arena, arg + 1, alen - 1)) == NULL)
            return SG_ENOMEM;
        break;
    case ARG_IP4:
    case ARG_IP6: {
        int is6 = mech_table[mi].args == ARG_IP6;
        if (alen < 2 || arg[0] != ':')
            FAIL("ip4/ip6 need ':' and an address");
        arg++;
        alen--;
        const char *slash = memchr(arg, '/', alen);
        size_t alen_ip = slash ? (size_t)(slash - arg) : alen;
        if (slash != NULL) {
            int v = parse_cidr(slash + 1, alen - alen_ip - 1, is6 ? 128 : 32);
            if (v < 0)
                FAIL("invalid CIDR length");
            if (is6)
                m->cidr6 = v;
            else
                m->cidr4 = v;
        }
        if (is6 ? parse_ip6(arg, alen_ip, m->addr) : parse_ip4(arg, alen_ip, m->addr))
            FAIL(is6 ? "invalid IPv6 address" : "invalid IPv4 address");
        break;
    }
    }
    if (m->type == SG_SPF_MECH_ALL)
        r->pub.has_all = 1;
    if ((m->text = sg_arena_strndup(r->arena, t, tlen)) == NULL)
        return SG_ENOMEM;
    (*nmechs)++;
    return 0;

syntax:
    *why = reason;
    return SG_ESYNTAX;
}

int sg_spf_record_parse(sg_spf_record **out, const char *text, size_t len, sg_spf_parse_error *err)
{
    struct record *r;
    sg_arena *arena;
    sg_spf_mech *mechs;
    size_t nterms = 0, nmechs = 0, i;
    int rc;

    if (out == NULL || (text == NULL && len > 0))
        return SG_EINVAL;
    *out = NULL;
    if (err != NULL) {
        err->pos = 0;
        err->reason = NULL;
    }
    if (!sg_spf_is_record(text, len)) {
        if (err != NULL)
            err->reason = "not an SPF version 1 record";
        return SG_ESYNTAX;
    }
    /* RFC 7208 12 allows US-ASCII only; said as such, not as whatever term
     * the NUL happens to start or end */
    const char *nul = memchr(text, '\0', len);
    if (nul != NULL) {
        if (err != NULL) {
            err->pos = (size_t)(nul - text);
            err->reason = "a NUL byte in the record";
        }
        return SG_ESYNTAX;
    }
    /* count terms to size the mechanism array */
    for (i = 6; i < len;) {
        while (i < len && text[i] == ' ')
            i++;
        if (i < len)
            nterms++;
        while (i < len && text[i] != ' ')
            i++;
    }
    if (nterms > SG_SPF_MAX_TERMS) {
        if (err != NULL)
            err->reason = "too many terms";
        return SG_ESYNTAX;
    }
    if ((rc = sg_arena_new(&arena, 256 + len * 2 + nterms * sizeof(sg_spf_mech))) != 0)
        return rc;
    r = sg_arena_calloc(arena, 1, sizeof(*r));
    mechs = sg_arena_calloc(arena, nterms ? nterms : 1, sizeof(*mechs));
    if (r == NULL || mechs == NULL) {
        sg_arena_free(arena);
        return SG_ENOMEM;
    }
    r->arena = arena;
    r->refs = 1;
    for (i = 6; i < len;) {
        const char *why = NULL;
        size_t start;
        while (i < len && text[i] == ' ')
            i++;
        if (i >= len)
            break;
        start = i;
        while (i < len && text[i] != ' ')
            i++;
        rc = parse_term(r, mechs, &nmechs, text + start, i - start, &why);
        if (rc != 0) {
            if (err != NULL && rc == SG_ESYNTAX) {
                err->pos = start;
                err->reason = why;
            }
            sg_arena_free(arena);
            return rc;
        }
    }
    r->pub.mechs = mechs;
    r->pub.nmechs = nmechs;
    *out = &r->pub;
    return 0;
}

sg_spf_record *sg_spf_record_ref(sg_spf_record *rec)
{
    if (rec != NULL)
        ((struct record *)rec)->refs++;
    return rec;
}

void sg_spf_record_free(sg_spf_record *rec)
{
    struct record *r = (struct record *)rec;
    if (r == NULL || --r->refs > 0)
        return;
    sg_arena_free(r->arena);
}
