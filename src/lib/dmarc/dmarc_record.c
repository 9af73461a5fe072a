/*
 * DMARC policy record parser (RFC 9989 4.7, 4.8).
 *
 * A record is a DKIM-style tag-list whose first tag must be v=DMARC1.
 * Everything after that is parsed leniently, as RFC 9989 4.8 requires:
 * "Syntax errors in the remainder of the record MUST be discarded in
 * favor of default values (if any) or ignored outright", and unknown tags
 * MUST be ignored (4.7). Each problem is recorded as a warning bit so
 * tools can show it. Tags are dispatched through one table.
 *
 * The RFC 7489 tags pct, rf and ri are not RFC 9989 tags: rf and ri are
 * ignored; pct is reported and mapped per RFC 9989 A.6 (pct=0 ~ t=y).
 * We also compute whether the record would be valid under RFC 7489's
 * stricter grammar, so conformance data written against RFC 7489 can be
 * checked for both readings.
 */
#include <spoofguard/dmarc.h>

#include <stdio.h>
#include <string.h>

#include "dmarc_int.h"
#include "util/ascii.h"

/* --- small lexical helpers ------------------------------------------------ */

/* WSP per RFC 5234 plus CR/LF: TXT data should not carry folding, but a
 * record pasted with line breaks is still readable; treating them as
 * whitespace is the lenient reading 4.8 asks for. */
static int is_wsp(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_wsp(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_wsp((*s)[*n - 1]))
        (*n)--;
}

/* Case-insensitive comparison of a counted string with a literal: ABNF
 * quoted strings are case-insensitive (RFC 5234 2.3). */
static int eq_ci(const char *s, size_t n, const char *lit)
{
    size_t i;
    if (strlen(lit) != n)
        return 0;
    for (i = 0; i < n; i++)
        if (lower(s[i]) != lit[i])
            return 0;
    return 1;
}

/* --- value parsers ------------------------------------------------------ */

static int parse_request(const char *v, size_t n, sg_dmarc_policy *out)
{
    /* dmarc-request = "none" / "quarantine" / "reject" (4.8) */
    if (eq_ci(v, n, "none"))
        *out = SG_DMARC_POLICY_NONE;
    else if (eq_ci(v, n, "quarantine"))
        *out = SG_DMARC_POLICY_QUARANTINE;
    else if (eq_ci(v, n, "reject"))
        *out = SG_DMARC_POLICY_REJECT;
    else
        return 0;
    return 1;
}

/* dmarc-fo (4.8): colon-separated 0/1/d/s, each at most once, 0 and 1
 * mutually exclusive. WSP around ':' is tolerated. */
static int parse_fo(const char *v, size_t n, unsigned *out)
{
    unsigned bits = 0;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        const char *tok;
        size_t tn;
        unsigned bit;
        while (j < n && v[j] != ':')
            j++;
        tok = v + i;
        tn = j - i;
        trim(&tok, &tn);
        if (tn != 1)
            return 0;
        switch (lower(tok[0])) {
        case '0':
            bit = SG_DMARC_FO_0;
            break;
        case '1':
            bit = SG_DMARC_FO_1;
            break;
        case 'd':
            bit = SG_DMARC_FO_D;
            break;
        case 's':
            bit = SG_DMARC_FO_S;
            break;
        default:
            return 0;
        }
        if (bits & bit)
            return 0;
        bits |= bit;
        i = j + 1;
    }
    if ((bits & SG_DMARC_FO_0) && (bits & SG_DMARC_FO_1))
        return 0;
    *out = bits;
    return 1;
}

/* RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then
 * ":" and a non-empty remainder of visible ASCII (anything else must be
 * percent-encoded, RFC 3986 2.1). */
static int uri_syntax_ok(const char *s, size_t n)
{
    size_t i = 0;
    if (n == 0 || !is_alpha(s[0]))
        return 0;
    while (i < n && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (i >= n || s[i] != ':' || i + 1 >= n)
        return 0;
    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f)
            return 0;
    }
    return 1;
}

static int hexval(char c)
{
    if (is_digit(c))
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* obs-dmarc-report-size = "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] (4.8);
 * WSP between the number and the unit is tolerated (seen in the wild). */
static int parse_size(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0, digits = 0;
    trim(&s, &n);
    while (i < n && is_digit(s[i])) {
        if (++digits > 15) /* 10^15 * 2^40 would overflow 64 bits */
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
        i++;
    }
    if (digits == 0)
        return 0;
    while (i < n && is_wsp(s[i]))
        i++;
    if (i < n) {
        unsigned shift;
        switch (lower(s[i])) {
        case 'k':
            shift = 10;
            break;
        case 'm':
            shift = 20;
            break;
        case 'g':
            shift = 30;
            break;
        case 't':
            shift = 40;
            break;
        default:
            return 0;
        }
        if (i + 1 != n)
            return 0;
        v <<= shift;
    }
    *out = v;
    return 1;
}

/* The address of a mailto: URI (RFC 6068): up to '?', %-decoded, with
 * whitespace removed (an unquoted address cannot contain any). NULL if it
 * has no '@'. */
static const char *mailto_addr(sg_arena *a, const char *u, size_t n)
{
    char *out, *o;
    size_t i, end;
    int at = 0;
    if (n < 7 || !eq_ci(u, 7, "mailto:"))
        return NULL;
    u += 7;
    n -= 7;
    for (end = 0; end < n && u[end] != '?'; end++)
        ;
    out = sg_arena_alloc(a, end + 1);
    if (out == NULL)
        return NULL;
    o = out;
    for (i = 0; i < end; i++) {
        char c = u[i];
        if (c == '%' && i + 2 < end && hexval(u[i + 1]) >= 0 && hexval(u[i + 2]) >= 0) {
            c = (char)(hexval(u[i + 1]) * 16 + hexval(u[i + 2]));
            i += 2;
        }
        if (is_wsp(c) || (unsigned char)c < 0x20 || c == 0x7f)
            continue;
        if (c == '@')
            at = 1;
        *o++ = c;
    }
    *o = '\0';
    return at ? out : NULL;
}

/* dmarc-urilist (4.8), read leniently: entries split at ',' with WSP
 * trimmed; an entry that is not a URI is kept but marked invalid. */
static int parse_urilist(sg_arena *a, const char *v, size_t n, sg_dmarc_uri **out, size_t *nout,
                         unsigned *warn)
{
    sg_dmarc_uri tmp[SG_DMARC_MAX_URIS];
    size_t cnt = 0, i = 0;
    int any_valid = 0;
    while (i <= n) {
        size_t j = i, bang;
        const char *e;
        size_t en;
        sg_dmarc_uri *u;
        while (j < n && v[j] != ',')
            j++;
        e = v + i;
        en = j - i;
        i = j + 1;
        trim(&e, &en);
        if (cnt == SG_DMARC_MAX_URIS) {
            *warn |= SG_DMARC_W_TOO_MANY_URIS;
            break;
        }
        u = &tmp[cnt];
        memset(u, 0, sizeof(*u));
        /* '!' must be percent-encoded inside a dmarc-uri, so the last one
         * starts the obsolete size suffix. */
        for (bang = en; bang > 0 && e[bang - 1] != '!'; bang--)
            ;
        if (bang > 0) {
            const char *sz = e + bang;
            size_t szn = en - bang;
            if (!parse_size(sz, szn, &u->max_size)) {
                *warn |= SG_DMARC_W_BAD_VALUE;
                u->max_size = 0;
            }
            en = bang - 1;
            trim(&e, &en);
        }
        u->uri = sg_arena_strndup(a, e, en);
        if (u->uri == NULL)
            return SG_ENOMEM;
        u->valid = uri_syntax_ok(e, en);
        if (!u->valid)
            *warn |= SG_DMARC_W_BAD_URI;
        else
            any_valid = 1;
        u->mailto = u->valid ? mailto_addr(a, e, en) : NULL;
        cnt++;
    }
    *out = sg_arena_calloc(a, cnt ? cnt : 1, sizeof(sg_dmarc_uri));
    if (*out == NULL)
        return SG_ENOMEM;
    memcpy(*out, tmp, cnt * sizeof(sg_dmarc_uri));
    *nout = cnt;
    return any_valid ? 1 : 0;
}

/* --- the tag table ------------------------------------------------------ */

typedef struct {
    sg_dmarc_record *r;
    sg_arena *arena;
    int rfc7489_ok;
    int t_seen;
    int err; /* SG_ENOMEM from a handler */
} parse_ctx;

/* A handler returns 1 if the value is valid, 0 if not (the default then
 * stays in place and SG_DMARC_W_BAD_VALUE is set by the caller). */
typedef int (*tag_fn)(parse_ctx *c, const char *v, size_t n);

static int tag_p(parse_ctx *c, const char *v, size_t n)
{
    int ok = parse_request(v, n, &c->r->p);
    c->r->p_state = ok ? SG_DMARC_TAG_VALID : SG_DMARC_TAG_INVALID;
    return ok;
}

static int tag_sp(parse_ctx *c, const char *v, size_t n)
{
    int ok = parse_request(v, n, &c->r->sp);
    c->r->sp_state = ok ? SG_DMARC_TAG_VALID : SG_DMARC_TAG_INVALID;
    return ok;
}

static int tag_np(parse_ctx *c, const char *v, size_t n)
{
    int ok = parse_request(v, n, &c->r->np);
    c->r->np_state = ok ? SG_DMARC_TAG_VALID : SG_DMARC_TAG_INVALID;
    return ok;
}

static int parse_rors(const char *v, size_t n, sg_dmarc_align *out)
{
    if (eq_ci(v, n, "r"))
        *out = SG_DMARC_ALIGN_RELAXED;
    else if (eq_ci(v, n, "s"))
        *out = SG_DMARC_ALIGN_STRICT;
    else
        return 0;
    return 1;
}

static int tag_adkim(parse_ctx *c, const char *v, size_t n)
{
    return parse_rors(v, n, &c->r->adkim);
}

static int tag_aspf(parse_ctx *c, const char *v, size_t n)
{
    return parse_rors(v, n, &c->r->aspf);
}

static int tag_fo(parse_ctx *c, const char *v, size_t n)
{
    return parse_fo(v, n, &c->r->fo);
}

static int tag_t(parse_ctx *c, const char *v, size_t n)
{
    if (eq_ci(v, n, "y"))
        c->r->testing = 1;
    else if (eq_ci(v, n, "n"))
        c->r->testing = 0;
    else
        return 0;
    c->t_seen = 1;
    c->r->t_present = 1;
    return 1;
}

static int tag_psd(parse_ctx *c, const char *v, size_t n)
{
    if (eq_ci(v, n, "y"))
        c->r->psd = SG_DMARC_PSD_Y;
    else if (eq_ci(v, n, "n"))
        c->r->psd = SG_DMARC_PSD_N;
    else if (eq_ci(v, n, "u"))
        c->r->psd = SG_DMARC_PSD_U;
    else
        return 0;
    return 1;
}

static int tag_rua(parse_ctx *c, const char *v, size_t n)
{
    int rc = parse_urilist(c->arena, v, n, &c->r->rua, &c->r->nrua, &c->r->warnings);
    if (rc < 0)
        c->err = rc;
    return 1; /* per-entry problems are W_BAD_URI, the tag itself stands */
}

static int tag_ruf(parse_ctx *c, const char *v, size_t n)
{
    int rc = parse_urilist(c->arena, v, n, &c->r->ruf, &c->r->nruf, &c->r->warnings);
    if (rc < 0)
        c->err = rc;
    return 1;
}

/* RFC 7489 6.3 pct: 1*3DIGIT, 0..100. Not an RFC 9989 tag (A.6). */
static int tag_pct(parse_ctx *c, const char *v, size_t n)
{
    unsigned val = 0;
    size_t i;
    c->r->warnings |= SG_DMARC_W_OBSOLETE_PCT;
    if (n == 0 || n > 3)
        return 0;
    for (i = 0; i < n; i++) {
        if (!is_digit(v[i]))
            return 0;
        val = val * 10 + (unsigned)(v[i] - '0');
    }
    if (val > 100)
        return 0;
    c->r->pct = (int)val;
    return 1;
}

/* RFC 7489 6.3 rf: colon-separated report formats; only "afrf" (and the
 * pre-7489 "iodef") were ever defined - this is OpenDMARC's reading too.
 * Ignored under RFC 9989 (moved to the reporting documents, C.5.2). */
static int tag_rf(parse_ctx *c, const char *v, size_t n)
{
    size_t i = 0;
    c->r->warnings |= SG_DMARC_W_OBSOLETE_RF;
    while (i <= n) {
        size_t j = i;
        const char *tok;
        size_t tn;
        while (j < n && v[j] != ':')
            j++;
        tok = v + i;
        tn = j - i;
        trim(&tok, &tn);
        if (!eq_ci(tok, tn, "afrf") && !eq_ci(tok, tn, "iodef"))
            return 0;
        i = j + 1;
    }
    return 1;
}

/* RFC 7489 6.3 ri: 1*DIGIT, a 32-bit unsigned interval. Ignored (C.5.2). */
static int tag_ri(parse_ctx *c, const char *v, size_t n)
{
    uint64_t val = 0;
    size_t i;
    c->r->warnings |= SG_DMARC_W_OBSOLETE_RI;
    if (n == 0 || n > 10)
        return 0;
    for (i = 0; i < n; i++) {
        if (!is_digit(v[i]))
            return 0;
        val = val * 10 + (uint64_t)(v[i] - '0');
    }
    return val <= 0xffffffffu;
}

typedef struct {
    const char *name;
    tag_fn fn;
    /* A bad value also makes the record invalid under RFC 7489 (where the
     * tag exists there and its grammar is strict). */
    int rfc7489_strict;
} tag_def;

/* RFC 9989 Table 2 plus the three RFC 7489 tags. "v" is handled first. */
static const tag_def TAGS[] = {
    {"p", tag_p, 1},       {"sp", tag_sp, 1},   {"np", tag_np, 0},   {"adkim", tag_adkim, 1},
    {"aspf", tag_aspf, 1}, {"fo", tag_fo, 1},   {"rua", tag_rua, 0}, {"ruf", tag_ruf, 0},
    {"t", tag_t, 0},       {"psd", tag_psd, 0}, {"pct", tag_pct, 1}, {"rf", tag_rf, 1},
    {"ri", tag_ri, 1},
};
#define NTAGS (sizeof(TAGS) / sizeof(TAGS[0]))

/* --- the parser ---------------------------------------------------------- */

/* Split off the next tag-spec (up to ';' or the end). */
static int next_spec(const char *s, size_t n, size_t *pos, const char **spec, size_t *sn)
{
    size_t i = *pos;
    if (i > n)
        return 0;
    *spec = s + i;
    while (i < n && s[i] != ';')
        i++;
    *sn = (size_t)(s + i - *spec);
    *pos = i + 1;
    return 1;
}

/* tag-spec = 1*ALPHA equals value (4.8, dmarc-tag). Returns 0 if it does
 * not have that shape. Digits and '_' are allowed in names so an unknown
 * future tag is not reported as garbage. */
static int split_spec(const char *spec, size_t sn, const char **name, size_t *nn, const char **val,
                      size_t *vn)
{
    size_t i = 0;
    trim(&spec, &sn);
    while (i < sn && (is_alpha(spec[i]) || is_digit(spec[i]) || spec[i] == '_'))
        i++;
    if (i == 0)
        return 0;
    *name = spec;
    *nn = i;
    while (i < sn && is_wsp(spec[i]))
        i++;
    if (i >= sn || spec[i] != '=')
        return 0;
    i++;
    *val = spec + i;
    *vn = sn - i;
    trim(val, vn);
    if (*vn == 0)
        return 0;
    /* dmarc-value = %x20-3A / %x3C-7E: printable ASCII */
    for (i = 0; i < *vn; i++) {
        unsigned char c = (unsigned char)(*val)[i];
        if ((c < 0x20 && c != '\t') || c > 0x7e)
            return 0;
    }
    return 1;
}

int sg_dmarc_record_parse(sg_arena *arena, const char *txt, size_t len, sg_dmarc_record *out)
{
    parse_ctx c;
    sg_dmarc_record r;
    const char *spec, *name, *val;
    size_t pos = 0, sn, nn, vn, i;
    unsigned seen = 0; /* bit per TAGS[] entry: duplicates */
    int fallback;

    if (arena == NULL || (txt == NULL && len > 0) || out == NULL)
        return SG_EINVAL;
    if (len > SG_DMARC_MAX_RECORD)
        return SG_ELIMIT;

    memset(&r, 0, sizeof(r));
    r.fo = SG_DMARC_FO_0;
    r.pct = -1;
    r.applicable = 1;

    /* 4.7 "v": MUST be the first tag, value exactly "DMARC1" (case
     * sensitive, %s in 4.8); otherwise the record MUST be ignored. */
    if (!next_spec(txt, len, &pos, &spec, &sn) || !split_spec(spec, sn, &name, &nn, &val, &vn) ||
        !eq_ci(name, nn, "v") || vn != 6 || memcmp(val, "DMARC1", 6) != 0)
        return SG_ESYNTAX;

    memset(&c, 0, sizeof(c));
    c.r = &r;
    c.arena = arena;
    c.rfc7489_ok = 1;

    while (next_spec(txt, len, &pos, &spec, &sn)) {
        const char *t = spec;
        size_t tn = sn;
        trim(&t, &tn);
        if (tn == 0) /* ";;" or a trailing ";" (4.8 allows one) */
            continue;
        if (!split_spec(spec, sn, &name, &nn, &val, &vn)) {
            r.warnings |= SG_DMARC_W_BAD_TAGSPEC;
            c.rfc7489_ok = 0;
            continue;
        }
        for (i = 0; i < NTAGS; i++)
            if (eq_ci(name, nn, TAGS[i].name))
                break;
        if (i == NTAGS) {
            /* 4.7: unknown tags MUST be ignored ("v" again included). */
            r.warnings |= eq_ci(name, nn, "v") ? SG_DMARC_W_DUP_TAG : SG_DMARC_W_UNKNOWN_TAG;
            continue;
        }
        if (seen & (1u << i)) {
            /* RFC 6376 3.2 would void the whole tag-list; RFC 9989 4.8
             * asks for leniency, so the first occurrence wins. */
            r.warnings |= SG_DMARC_W_DUP_TAG;
            continue;
        }
        seen |= 1u << i;
        if (!TAGS[i].fn(&c, val, vn)) {
            r.warnings |= SG_DMARC_W_BAD_VALUE;
            if (TAGS[i].rfc7489_strict)
                c.rfc7489_ok = 0;
        }
        if (c.err)
            return c.err;
    }

    /* Defaults (4.7): sp defaults to p, np to sp. An invalid sp/np also
     * falls back to the default before the 4.10.1 check below. */
    if (r.p_state != SG_DMARC_TAG_VALID)
        r.p = SG_DMARC_POLICY_NONE;
    if (r.sp_state != SG_DMARC_TAG_VALID)
        r.sp = r.p;
    if (r.np_state != SG_DMARC_TAG_VALID)
        r.np = r.sp;

    /* 4.10.1: no valid p, or an invalid sp or np: with at least one
     * syntactically valid rua URI act as if the record said p=none;
     * otherwise apply no DMARC processing. 4.7 "p": a record without a valid
     * p is "treated as if it included p=none", so a valid sp or np it does
     * include still stands (v=DMARC1; sp=reject; rua=... rejects forged
     * subdomains). An invalid sp or np leaves nothing to trust: all none. */
    fallback = r.p_state != SG_DMARC_TAG_VALID || r.sp_state == SG_DMARC_TAG_INVALID ||
               r.np_state == SG_DMARC_TAG_INVALID;
    if (fallback) {
        int rua_ok = 0;
        for (i = 0; i < r.nrua; i++)
            rua_ok |= r.rua[i].valid;
        if (r.sp_state == SG_DMARC_TAG_INVALID || r.np_state == SG_DMARC_TAG_INVALID)
            r.p = r.sp = r.np = SG_DMARC_POLICY_NONE;
        r.warnings |= SG_DMARC_W_POLICY_FALLBACK;
        if (!rua_ok) {
            r.applicable = 0;
            r.warnings |= SG_DMARC_W_NOT_APPLICABLE;
        }
    }

    /* RFC 9989 A.6: t=y is the analogue of pct=0, t=n of pct=100. An
     * explicit t= wins; other pct values are not sampled (pct is gone). */
    if (r.pct == 0 && !c.t_seen)
        r.testing = 1;

    /* RFC 7489 6.3: p is REQUIRED in a policy record. */
    if (r.p_state != SG_DMARC_TAG_VALID)
        c.rfc7489_ok = 0;
    r.rfc7489_valid = c.rfc7489_ok;
    if (r.rua == NULL)
        r.nrua = 0;
    if (r.ruf == NULL)
        r.nruf = 0;
    *out = r;
    return 0;
}

const char *sg_dmarc_policy_str(sg_dmarc_policy p)
{
    switch (p) {
    case SG_DMARC_POLICY_NONE:
        return "none";
    case SG_DMARC_POLICY_QUARANTINE:
        return "quarantine";
    case SG_DMARC_POLICY_REJECT:
        return "reject";
    }
    return "?";
}

const char *sg_dmarc_fo_str(unsigned fo, char buf[16])
{
    static const struct {
        unsigned bit;
        char c;
    } order[] = {
        {SG_DMARC_FO_0, '0'}, {SG_DMARC_FO_1, '1'}, {SG_DMARC_FO_D, 'd'}, {SG_DMARC_FO_S, 's'}};
    size_t i, n = 0;
    for (i = 0; i < 4; i++) {
        if (fo & order[i].bit) {
            if (n)
                buf[n++] = ':';
            buf[n++] = order[i].c;
        }
    }
    buf[n] = '\0';
    return buf;
}

int sg_dmarc_report_addr_ok(const char *a)
{
    const char *at = a ? strrchr(a, '@') : NULL;
    if (!at || at == a || !at[1] || strlen(a) > 254 || strchr(a, '@') != at)
        return 0;
    for (const char *p = a; *p; p++) {
        unsigned char c = (unsigned char)*p;
        /* '%' and '!' route mail on (Sendmail's and Postfix's percent
         * hack, UUCP bang paths) to a third party that gave no consent;
         * '|' pipes to a command at some MTAs; mailto's %-decoding makes
         * them, and a second '@', from %25, %21, %7C and %40 (adv39 F3) */
        if (c <= 0x20 || c >= 0x7f || strchr("<>()[]\\,;:\"%!|", c))
            return 0;
    }
    return 1;
}

int sg_dmarc_report_consent(sg_arena *arena, const sg_dns_answer *ans, char kind, const char *dest,
                            const char **override)
{
    const char *rec = NULL;
    size_t len = 0, seen = 0;
    sg_dmarc_record r;
    *override = NULL;
    if (ans == NULL || ans->status != SG_DNS_NOERROR)
        return 0;
    for (size_t i = 0; i < ans->count; i++) {
        const char *t = ans->rrs[i].u.txt.data;
        size_t l = ans->rrs[i].u.txt.len;
        /* "starts with v=DMARC1": the tag may be followed by ';' or end */
        if (ans->rrs[i].type != SG_DNS_TXT || l < 8 || sg_ascii_ncasecmp(t, "v=DMARC1", 8) != 0 ||
            (l > 8 && t[8] != ';' && t[8] != ' ' && t[8] != '\t'))
            continue;
        if (seen++ == 0) {
            rec = t;
            len = l;
        }
    }
    if (seen != 1)
        return 0;
    if (sg_dmarc_record_parse(arena, rec, len, &r) != SG_OK)
        return 1; /* "v=DMARC1" alone, or tags we cannot read: consent, no redirect */
    const sg_dmarc_uri *u = kind == 'f' ? r.ruf : r.rua;
    size_t n = kind == 'f' ? r.nruf : r.nrua;
    if (n == 0)
        return 1;
    /* a redirect: only one on dest's host is taken (RFC 9990 4.4 step 9),
     * the first a report can be sent to (rev23 R23-2: an unusable first
     * one made the usable one after it count for nothing) */
    for (size_t k = 0; k < n; k++) {
        const char *at = u[k].mailto ? strrchr(u[k].mailto, '@') : NULL;
        if (at != NULL && sg_ascii_casecmp(at + 1, dest) == 0 &&
            sg_dmarc_report_addr_ok(u[k].mailto)) {
            *override = u[k].mailto;
            return 1;
        }
    }
    return 0;
}
