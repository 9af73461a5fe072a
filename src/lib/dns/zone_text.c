/*
 * RFC 1035 section 5 master files.
 *
 * Two stages: a lexer turns the text into logical lines (parentheses join
 * physical lines, 5.1), each a list of tokens decoded into one buffer
 * (quoted strings, \X and \DDD escapes); then each logical line is a
 * directive or `[owner] [ttl] [class] type rdata`, with the TTL and class
 * in either order (5.1). The input is untrusted (fuzzed): every token is
 * bounded by its input, every field length is checked, nothing recurses.
 *
 * Also the text entry points of the store (sg_zone_add, one row;
 * sg_zone_load_file): they parse, then call down into zone.c, which never
 * calls back up.
 */
#include "dns/zone.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "util/ascii.h"

/* RFC 1035 2.3.4 (text form: 253 characters without the trailing dot). */
#define NAME_MAX_TEXT 253
#define LABEL_MAX 63

struct tok {
    size_t off, len;  /* decoded bytes in line.buf (NUL-terminated there) */
    size_t line;      /* physical line the token starts on */
    int quoted;       /* was a "quoted string" */
    int col0;         /* starts in column 0 of its physical line */
    int last_escaped; /* the final byte came from an escape (so "a\." is relative) */
    int escaped_dot;  /* an unquoted "\." or "\046": a dot inside a label */
};

struct line {
    struct tok *toks;
    size_t ntok, tcap;
    char *buf;
    size_t blen, bcap;
};

struct lexer {
    const char *p, *end;
    size_t line;
    int bol;   /* at the beginning of a physical line */
    int paren; /* inside ( ) */
    size_t paren_line;
    size_t err_line;
};

static int buf_put(struct line *l, char c)
{
    if (l->blen == l->bcap) {
        size_t ncap = l->bcap ? l->bcap * 2 : 256;
        char *nb = realloc(l->buf, ncap);
        if (nb == NULL)
            return SG_ENOMEM;
        l->buf = nb;
        l->bcap = ncap;
    }
    l->buf[l->blen++] = c;
    return SG_OK;
}

static int tok_push(struct line *l, const struct tok *t)
{
    if (l->ntok == l->tcap) {
        size_t ncap = l->tcap ? l->tcap * 2 : 16;
        struct tok *nt = realloc(l->toks, ncap * sizeof(*nt));
        if (nt == NULL)
            return SG_ENOMEM;
        l->toks = nt;
        l->tcap = ncap;
    }
    l->toks[l->ntok++] = *t;
    return SG_OK;
}

static const char *tok_str(const struct line *l, const struct tok *t)
{
    return l->buf + t->off;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* After a backslash: \DDD (exactly three digits, <= 255) or \X. */
static int lex_escape(struct lexer *lx, char *out)
{
    if (lx->p >= lx->end)
        return SG_ESYNTAX;
    if (is_digit(*lx->p)) {
        unsigned v;
        if (lx->end - lx->p < 3 || !is_digit(lx->p[1]) || !is_digit(lx->p[2]))
            return SG_ESYNTAX;
        v = (unsigned)(lx->p[0] - '0') * 100 + (unsigned)(lx->p[1] - '0') * 10 +
            (unsigned)(lx->p[2] - '0');
        if (v > 255)
            return SG_ESYNTAX;
        *out = (char)v;
        lx->p += 3;
        return SG_OK;
    }
    if (*lx->p == '\n')
        lx->line++;
    *out = *lx->p++;
    return SG_OK;
}

static int is_delim(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '(' || c == ')' ||
           c == '"';
}

/*
 * Read one logical line into l. Returns 1 when a line was read (it may
 * have no tokens), 0 at end of input, or a negative SG_E* code with
 * lx->err_line set.
 */
static int lex_line(struct lexer *lx, struct line *l)
{
    int rc;

    l->ntok = 0;
    l->blen = 0;
    if (lx->p >= lx->end)
        return 0;
    for (;;) {
        char c;
        struct tok t;

        if (lx->p >= lx->end) {
            if (lx->paren) {
                lx->err_line = lx->paren_line; /* "(" never closed */
                return SG_ESYNTAX;
            }
            return 1;
        }
        c = *lx->p;
        if (c == '\n') {
            lx->p++;
            lx->line++;
            lx->bol = 1;
            if (!lx->paren)
                return 1;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r') {
            lx->p++;
            lx->bol = 0;
            continue;
        }
        if (c == ';') { /* comment to end of line (5.1) */
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
            continue;
        }
        if (c == '(') {
            if (lx->paren) { /* 5.1 has no nesting */
                lx->err_line = lx->line;
                return SG_ESYNTAX;
            }
            lx->paren = 1;
            lx->paren_line = lx->line;
            lx->p++;
            lx->bol = 0;
            continue;
        }
        if (c == ')') {
            if (!lx->paren) {
                lx->err_line = lx->line;
                return SG_ESYNTAX;
            }
            lx->paren = 0;
            lx->p++;
            lx->bol = 0;
            continue;
        }
        memset(&t, 0, sizeof(t));
        t.off = l->blen;
        t.line = lx->line;
        t.col0 = lx->bol;
        lx->bol = 0;
        if (c == '"') {
            t.quoted = 1;
            lx->p++;
            for (;;) {
                char d;
                if (lx->p >= lx->end || *lx->p == '\n') {
                    lx->err_line = t.line; /* unterminated string */
                    return SG_ESYNTAX;
                }
                d = *lx->p++;
                if (d == '"')
                    break;
                if (d == '\\') {
                    rc = lex_escape(lx, &d);
                    if (rc != SG_OK) {
                        lx->err_line = lx->line;
                        return rc;
                    }
                }
                if ((rc = buf_put(l, d)) != SG_OK)
                    return rc;
            }
        } else {
            while (lx->p < lx->end && !is_delim(*lx->p)) {
                char d = *lx->p++;
                t.last_escaped = 0;
                if (d == '\\') {
                    rc = lex_escape(lx, &d);
                    if (rc != SG_OK) {
                        lx->err_line = lx->line;
                        return rc;
                    }
                    t.last_escaped = 1;
                    t.escaped_dot |= d == '.';
                }
                if ((rc = buf_put(l, d)) != SG_OK)
                    return rc;
            }
        }
        t.len = l->blen - t.off;
        if ((rc = buf_put(l, '\0')) != SG_OK)
            return rc;
        if ((rc = tok_push(l, &t)) != SG_OK)
            return rc;
    }
}

/* ------------------------------------------------------------------ */
/* Fields                                                             */
/* ------------------------------------------------------------------ */

/* Check an absolute name (text, no trailing dot): RFC 1035 2.3.4 lengths,
 * no empty label, no NUL (names are C strings here). */
static int name_check(const char *s, size_t len)
{
    size_t i, label = 0;
    if (len > NAME_MAX_TEXT)
        return SG_ESYNTAX;
    for (i = 0; i < len; i++) {
        if (s[i] == '\0')
            return SG_ESYNTAX;
        if (s[i] == '.') {
            if (label == 0)
                return SG_ESYNTAX;
            label = 0;
        } else if (++label > LABEL_MAX) {
            return SG_ESYNTAX;
        }
    }
    if (len > 0 && label == 0)
        return SG_ESYNTAX;
    return SG_OK;
}

/*
 * A domain-name field: "@" is the origin, a name ending in an unescaped
 * dot is absolute, anything else is relative to the origin (5.1). out
 * gets the absolute name without the trailing dot ("" = root).
 */
static int make_name(const struct line *l, const struct tok *t, const char *origin, char *out,
                     size_t outsize)
{
    const char *s = tok_str(l, t);
    size_t len = t->len, olen = strlen(origin);

    if (t->quoted || len == 0)
        return SG_ESYNTAX;
    /* Names are kept as dotted text, where a dot inside a label would
     * read as two labels ("x\046test" answering for x.test). No name
     * that mail authentication looks up holds one: refused, not split. */
    if (t->escaped_dot)
        return SG_EUNSUPPORTED;
    if (len == 1 && s[0] == '@' && !t->last_escaped) {
        if (olen + 1 > outsize)
            return SG_ESYNTAX;
        memcpy(out, origin, olen + 1);
        return SG_OK;
    }
    if (s[len - 1] == '.' && !t->last_escaped) {
        len--;
        if (len + 1 > outsize)
            return SG_ESYNTAX;
        memcpy(out, s, len);
        out[len] = '\0';
    } else {
        if (len + 1 + olen + 1 > outsize)
            return SG_ESYNTAX;
        memcpy(out, s, len);
        if (olen > 0) {
            out[len] = '.';
            memcpy(out + len + 1, origin, olen + 1);
            len += 1 + olen;
        } else {
            out[len] = '\0';
        }
    }
    return name_check(out, len);
}

/* A TTL: decimal seconds, or the BIND unit form "1h30m" (w d h m s).
 * RFC 2181 8: at most 2^31 - 1. */
static int parse_ttl(const char *s, size_t len, uint32_t *out)
{
    uint64_t total = 0, cur = 0;
    size_t i;
    int digits = 0, units = 0;

    if (len == 0 || !is_digit(s[0]))
        return SG_ESYNTAX;
    for (i = 0; i < len; i++) {
        char c = s[i];
        uint64_t mul;
        if (is_digit(c)) {
            cur = cur * 10 + (uint64_t)(c - '0');
            if (cur > SG_ZONE_MAX_TTL)
                return SG_ESYNTAX;
            digits = 1;
            continue;
        }
        switch (c) {
        case 'w':
        case 'W':
            mul = 604800;
            break;
        case 'd':
        case 'D':
            mul = 86400;
            break;
        case 'h':
        case 'H':
            mul = 3600;
            break;
        case 'm':
        case 'M':
            mul = 60;
            break;
        case 's':
        case 'S':
            mul = 1;
            break;
        default:
            return SG_ESYNTAX;
        }
        if (!digits)
            return SG_ESYNTAX;
        total += cur * mul;
        if (total > SG_ZONE_MAX_TTL)
            return SG_ESYNTAX;
        cur = 0;
        digits = 0;
        units = 1;
    }
    if (digits) {
        if (units) /* "1h30" is ambiguous; BIND rejects it too */
            return SG_ESYNTAX;
        total = cur;
    }
    *out = (uint32_t)total;
    return SG_OK;
}

static int parse_u16(const char *s, size_t len, uint16_t *out)
{
    uint32_t v = 0;
    size_t i;
    if (len == 0 || len > 5)
        return SG_ESYNTAX;
    for (i = 0; i < len; i++) {
        if (!is_digit(s[i]))
            return SG_ESYNTAX;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > 65535)
        return SG_ESYNTAX;
    *out = (uint16_t)v;
    return SG_OK;
}

/*
 * Build one record of a stored type from rdata tokens toks[0..n) and add
 * it. *bad gets the index of the offending token (for its line number).
 */
static int add_rdata(sg_zone *z, const char *owner, uint16_t type, const struct line *l,
                     const struct tok *toks, size_t n, const char *origin, uint32_t ttl,
                     unsigned flags, size_t *bad)
{
    sg_dns_rr rr;
    char name[NAME_MAX_TEXT + 3];
    int rc;

    *bad = 0;
    memset(&rr, 0, sizeof(rr));
    rr.type = type;
    rr.ttl = ttl;
    switch (type) {
    case SG_DNS_A:
    case SG_DNS_AAAA:
        if (n != 1 || toks[0].quoted)
            return SG_ESYNTAX;
        if (inet_pton(type == SG_DNS_A ? AF_INET : AF_INET6, tok_str(l, &toks[0]),
                      type == SG_DNS_A ? (void *)rr.u.a : (void *)rr.u.aaaa) != 1 ||
            strlen(tok_str(l, &toks[0])) != toks[0].len)
            return SG_ESYNTAX;
        break;
    case SG_DNS_MX: /* RFC 1035 3.3.9: PREFERENCE EXCHANGE */
        if (n == 1 && (flags & SG_ZONE_MX_EMPTY_OK) && !toks[0].quoted &&
            parse_u16(tok_str(l, &toks[0]), toks[0].len, &rr.u.mx.pref) == SG_OK) {
            rr.u.mx.host = "";
            break;
        }
        if (n != 2 || toks[0].quoted)
            return SG_ESYNTAX;
        if (parse_u16(tok_str(l, &toks[0]), toks[0].len, &rr.u.mx.pref) != SG_OK)
            return SG_ESYNTAX;
        *bad = 1;
        if ((rc = make_name(l, &toks[1], origin, name, sizeof(name))) != SG_OK)
            return rc;
        rr.u.mx.host = name;
        break;
    case SG_DNS_PTR:
    case SG_DNS_CNAME:
        if (n != 1)
            return SG_ESYNTAX;
        if ((rc = make_name(l, &toks[0], origin, name, sizeof(name))) != SG_OK)
            return rc;
        rr.u.name = name;
        break;
    case SG_DNS_TXT:
    case SG_DNS_SPF: { /* RFC 1035 3.3.14: one or more <character-string> */
        size_t i, total = 0, nstrings = 0;
        char *data;
        if (n == 0)
            return SG_ESYNTAX;
        for (i = 0; i < n; i++) {
            size_t chunks = 1;
            if (toks[i].len > SG_ZONE_MAX_CHARSTRING) {
                if (!(flags & SG_ZONE_SPLIT_LONG)) {
                    *bad = i;
                    return SG_ESYNTAX;
                }
                chunks = (toks[i].len + SG_ZONE_MAX_CHARSTRING - 1) / SG_ZONE_MAX_CHARSTRING;
            }
            nstrings += chunks;
            total += toks[i].len + chunks; /* wire form: length octets + data */
            if (total > SG_ZONE_MAX_RDATA) {
                *bad = i;
                return SG_ESYNTAX;
            }
        }
        data = malloc(total + 1);
        if (data == NULL)
            return SG_ENOMEM;
        total = 0;
        for (i = 0; i < n; i++) {
            memcpy(data + total, tok_str(l, &toks[i]), toks[i].len);
            total += toks[i].len;
        }
        data[total] = '\0';
        rr.u.txt.data = data;
        rr.u.txt.len = total;
        rr.u.txt.nstrings = (uint16_t)nstrings;
        rc = sg_zone_add_rr(z, owner, &rr);
        free(data);
        return rc;
    }
    default:
        return SG_ESYNTAX;
    }
    return sg_zone_add_rr(z, owner, &rr);
}

/* `TIMEOUT TYPE` / `SERVFAIL TYPE` rdata: a stored-type mnemonic, TYPEnnn
 * or ANY ("-" is ANY too, as in zone.tsv). */
static int fault_type(const struct line *l, const struct tok *t, uint16_t *out)
{
    uint32_t ft;
    if (t->quoted)
        return SG_ESYNTAX;
    if (t->len == 1 && tok_str(l, t)[0] == '-') {
        *out = SG_DNS_ANY;
        return SG_OK;
    }
    ft = sg_zone_type_lookup(tok_str(l, t), t->len);
    if (ft == 0 || ft > 0xffff) {
        /* TYPEnnn of a type we do not store is still a type */
        if (ft == SG_ZONE_T_UNKNOWN && t->len > 4 &&
            sg_ascii_ncasecmp(tok_str(l, t), "TYPE", 4) == 0) {
            *out = (uint16_t)atoi(tok_str(l, t) + 4);
            return SG_OK;
        }
        return SG_ESYNTAX;
    }
    *out = (uint16_t)ft;
    return SG_OK;
}

int sg_zone_add_rdata_text(sg_zone *z, const char *owner, uint16_t type, const char *data,
                           size_t len, const char *origin, uint32_t ttl, unsigned flags)
{
    struct lexer lx;
    struct line l;
    size_t bad;
    int rc;

    if (z == NULL || owner == NULL || data == NULL)
        return SG_EINVAL;
    memset(&lx, 0, sizeof(lx));
    memset(&l, 0, sizeof(l));
    lx.p = data;
    lx.end = data + len;
    lx.line = 1;
    lx.bol = 0;
    rc = lex_line(&lx, &l);
    if (rc == 1 && lx.p < lx.end) {
        /* more than one logical line: only trailing blank/comment lines */
        struct line rest;
        memset(&rest, 0, sizeof(rest));
        while ((rc = lex_line(&lx, &rest)) == 1 && rest.ntok == 0)
            ;
        free(rest.toks);
        free(rest.buf);
        rc = rc == 0 ? 1 : SG_ESYNTAX;
    }
    if (rc == 1)
        rc = add_rdata(z, owner, type, &l, l.toks, l.ntok, origin ? origin : "", ttl, flags, &bad);
    else if (rc == 0)
        rc = SG_ESYNTAX; /* no data at all */
    free(l.toks);
    free(l.buf);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Master file                                                        */
/* ------------------------------------------------------------------ */

struct mf {
    sg_zone *z;
    char origin[NAME_MAX_TEXT + 3];
    char owner[NAME_MAX_TEXT + 3];
    int have_owner;
    uint32_t dollar_ttl, last_ttl;
    int have_dollar_ttl, have_last_ttl;
};

static int tok_is(const struct line *l, const struct tok *t, const char *word)
{
    return !t->quoted && t->len == strlen(word) && sg_ascii_casecmp(tok_str(l, t), word) == 0;
}

static int directive(struct mf *m, const struct line *l, size_t *errl)
{
    const struct tok *t = &l->toks[0];
    int rc;

    if (tok_is(l, t, "$ORIGIN")) {
        char tmp[sizeof(m->origin)];
        if (l->ntok != 2)
            return SG_ESYNTAX;
        *errl = l->toks[1].line;
        /* a relative $ORIGIN is relative to the current one */
        if ((rc = make_name(l, &l->toks[1], m->origin, tmp, sizeof(tmp))) != SG_OK)
            return rc;
        memcpy(m->origin, tmp, sizeof(tmp));
        return SG_OK;
    }
    if (tok_is(l, t, "$TTL")) { /* RFC 2308 4 */
        if (l->ntok != 2 || l->toks[1].quoted)
            return SG_ESYNTAX;
        *errl = l->toks[1].line;
        if (parse_ttl(tok_str(l, &l->toks[1]), l->toks[1].len, &m->dollar_ttl) != SG_OK)
            return SG_ESYNTAX;
        m->have_dollar_ttl = 1;
        return SG_OK;
    }
    /* A zone is one self-contained text: no file access from inside it. */
    if (tok_is(l, t, "$INCLUDE") || tok_is(l, t, "$GENERATE"))
        return SG_EUNSUPPORTED;
    return SG_ESYNTAX;
}

static int record(struct mf *m, const struct line *l, size_t *errl)
{
    size_t i = 0, bad;
    uint32_t ttl = 0, type;
    int have_ttl = 0, have_class = 0, rc;
    const struct tok *t;

    /* Owner: present iff the line starts in column 0 (5.1). */
    if (l->toks[0].col0) {
        if ((rc = make_name(l, &l->toks[0], m->origin, m->owner, sizeof(m->owner))) != SG_OK)
            return rc;
        m->have_owner = 1;
        i = 1;
    } else if (!m->have_owner) {
        return SG_ESYNTAX; /* blank owner with no previous owner */
    }
    /* [<TTL>] [<class>] or [<class>] [<TTL>] */
    for (; i < l->ntok; i++) {
        t = &l->toks[i];
        *errl = t->line;
        if (t->quoted)
            return SG_ESYNTAX;
        if (is_digit(tok_str(l, t)[0])) {
            if (have_ttl || parse_ttl(tok_str(l, t), t->len, &ttl) != SG_OK)
                return SG_ESYNTAX;
            have_ttl = 1;
        } else if (tok_is(l, t, "IN")) {
            if (have_class)
                return SG_ESYNTAX;
            have_class = 1;
        } else if (tok_is(l, t, "CH") || tok_is(l, t, "HS") || tok_is(l, t, "CS")) {
            return SG_ESYNTAX; /* only class IN is served */
        } else {
            break;
        }
    }
    if (i >= l->ntok)
        return SG_ESYNTAX; /* no type */
    t = &l->toks[i];
    *errl = t->line;
    type = sg_zone_type_lookup(tok_str(l, t), t->len);
    if (type == 0 || t->quoted || type == SG_DNS_ANY)
        return SG_ESYNTAX;
    i++;
    if (have_ttl) {
        m->last_ttl = ttl;
        m->have_last_ttl = 1;
    } else if (m->have_dollar_ttl) {
        ttl = m->dollar_ttl;
    } else if (m->have_last_ttl) {
        ttl = m->last_ttl; /* RFC 1035 5.1: the last explicitly stated TTL */
    } else {
        ttl = SG_ZONE_DEFAULT_TTL;
    }
    switch (type) {
    case SG_ZONE_T_TIMEOUT:
    case SG_ZONE_T_SERVFAIL: {
        uint16_t ft;
        if (l->ntok - i != 1)
            return SG_ESYNTAX;
        *errl = l->toks[i].line;
        if (fault_type(l, &l->toks[i], &ft) != SG_OK)
            return SG_ESYNTAX;
        return sg_zone_add_fault(m->z, m->owner, ft,
                                 type == SG_ZONE_T_TIMEOUT ? SG_DNS_TIMEOUT : SG_DNS_SERVFAIL);
    }
    case SG_ZONE_T_NXDOMAIN:
        return SG_OK;
    case SG_ZONE_T_EXISTS:
    case SG_ZONE_T_UNKNOWN:
        /* SOA, NS...: the rdata is not checked, only the name exists. */
        return sg_zone_mark_exists(m->z, m->owner);
    default:
        break;
    }
    rc = add_rdata(m->z, m->owner, (uint16_t)type, l, l->toks + i, l->ntok - i, m->origin, ttl, 0,
                   &bad);
    if (rc != SG_OK && i + bad < l->ntok)
        *errl = l->toks[i + bad].line;
    return rc;
}

int sg_zone_load_text(sg_zone *z, const char *text, size_t len, const char *origin,
                      size_t *err_line)
{
    struct lexer lx;
    struct line l;
    struct mf m;
    int rc;

    if (err_line != NULL)
        *err_line = 0;
    if (z == NULL || (text == NULL && len > 0))
        return SG_EINVAL;
    memset(&m, 0, sizeof(m));
    m.z = z;
    if (origin != NULL) {
        size_t olen = strlen(origin);
        if (olen > 0 && origin[olen - 1] == '.')
            olen--;
        if (olen > NAME_MAX_TEXT || name_check(origin, olen) != SG_OK)
            return SG_EINVAL;
        memcpy(m.origin, origin, olen);
        m.origin[olen] = '\0';
    }
    memset(&lx, 0, sizeof(lx));
    memset(&l, 0, sizeof(l));
    lx.p = text;
    lx.end = text + len;
    lx.line = 1;
    lx.bol = 1;
    for (;;) {
        size_t start = lx.line, errl;
        rc = lex_line(&lx, &l);
        if (rc <= 0) {
            if (rc < 0 && err_line != NULL)
                *err_line = lx.err_line ? lx.err_line : start;
            break;
        }
        if (l.ntok == 0)
            continue;
        errl = l.toks[0].line;
        if (l.toks[0].col0 && !l.toks[0].quoted && tok_str(&l, &l.toks[0])[0] == '$')
            rc = directive(&m, &l, &errl);
        else
            rc = record(&m, &l, &errl);
        if (rc != SG_OK) {
            if (err_line != NULL)
                *err_line = errl;
            break;
        }
    }
    free(l.toks);
    free(l.buf);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Row-wise adding (sg_zone_add, and every zone.tsv row)              */
/* ------------------------------------------------------------------ */

static int is_dash(const char *s)
{
    return s == NULL || s[0] == '\0' || strcmp(s, "-") == 0;
}

int sg_zone_add(sg_zone *z, const char *name, const char *type, const char *data, uint32_t ttl)
{
    uint32_t t;
    size_t nlen;

    if (z == NULL || name == NULL || type == NULL)
        return SG_EINVAL;
    nlen = strlen(name);
    /* No lengths are enforced on zone names (the conformance zones hold
     * deliberately over-long labels, which queries then cannot reach),
     * but an empty label other than the root is not a name. */
    if (nlen > 0 && (name[0] == '.' || strstr(name, "..") != NULL) && strcmp(name, ".") != 0)
        return SG_ESYNTAX;
    t = sg_zone_type_lookup(type, strlen(type));
    switch (t) {
    case 0:
        return SG_ESYNTAX;
    case SG_DNS_ANY:
        return SG_ESYNTAX;
    case SG_ZONE_T_NXDOMAIN:
        /* A name with no row is NXDOMAIN already; the row documents it. */
        return SG_OK;
    case SG_ZONE_T_EXISTS:
    case SG_ZONE_T_UNKNOWN:
        return sg_zone_mark_exists(z, name);
    case SG_ZONE_T_TIMEOUT:
    case SG_ZONE_T_SERVFAIL: {
        /* `name TIMEOUT -` (every type) or `name TIMEOUT TYPE` */
        sg_dns_status st = t == SG_ZONE_T_TIMEOUT ? SG_DNS_TIMEOUT : SG_DNS_SERVFAIL;
        uint32_t ft = SG_DNS_ANY;
        if (!is_dash(data) && sg_ascii_casecmp(data, "TIMEOUT") != 0) {
            ft = sg_zone_type_lookup(data, strlen(data));
            if (ft == 0 || ft > 0xffff)
                return SG_ESYNTAX;
        }
        return sg_zone_add_fault(z, name, (uint16_t)ft, st);
    }
    default:
        break;
    }
    if (t > 0xffff)
        return SG_ESYNTAX;
    if (data == NULL)
        return SG_EINVAL;
    /* `name TYPE TIMEOUT`: this (name, type) times out (the lookup
     * order in tests/conformance/SOURCES.md); SERVFAIL likewise. */
    if (strcmp(data, "TIMEOUT") == 0)
        return sg_zone_add_fault(z, name, (uint16_t)t, SG_DNS_TIMEOUT);
    if (strcmp(data, "SERVFAIL") == 0)
        return sg_zone_add_fault(z, name, (uint16_t)t, SG_DNS_SERVFAIL);
    if (ttl > SG_ZONE_MAX_TTL)
        return SG_EINVAL;
    return sg_zone_add_rdata_text(z, name, (uint16_t)t, data, strlen(data), "", ttl,
                                  SG_ZONE_SPLIT_LONG | SG_ZONE_MX_EMPTY_OK);
}

/* ------------------------------------------------------------------ */
/* Files                                                              */
/* ------------------------------------------------------------------ */

int sg_zone_load_file(sg_zone *z, const char *path, const char *origin, size_t *err_line)
{
    char *text;
    size_t len;
    int rc;

    if (err_line != NULL)
        *err_line = 0;
    if (z == NULL || path == NULL)
        return SG_EINVAL;
    rc = sg_zone_read_file(path, &text, &len);
    if (rc != SG_OK)
        return rc;
    rc = sg_zone_load_text(z, text, len, origin, err_line);
    free(text);
    return rc;
}
