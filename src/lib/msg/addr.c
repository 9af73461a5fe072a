/*
 * Strict RFC 5322 3.4 / 4.4 + RFC 6854 address-list parser, and the RFC
 * 5321 path parser.
 *
 * The list parser works in two passes over a bounded input:
 *   1. a lexer turns the bytes into tokens (atom, quoted-string, domain
 *      literal, one-character specials), dropping CFWS but remembering on
 *      each token whether CFWS preceded it. Comments are skipped with a
 *      depth counter, not recursion.
 *   2. a token parser applies the grammar. An address starts with a run of
 *      words and dots; the token that ends the run decides what it was:
 *      "@" -> it was a local-part (addr-spec), "<" -> a display-name
 *      (name-addr), ":" -> a group's display-name. Anything else is an
 *      error: we never guess (e.g. a bare "user" is not a mailbox).
 * Because CFWS is dropped by the lexer, the obsolete grammar that allows
 * CFWS around dots and "@" (RFC 5322 4.4) falls out naturally.
 *
 * Scratch memory (the token array) is malloc'd and freed before return so
 * that the caller's arena only holds results, whose total size is bounded
 * by a small multiple of the input length.
 */
#include <spoofguard/addr.h>

#include <arpa/inet.h>
#include <stdint.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include "util/text.h"
#include "util/ascii.h"

/* ---- character classes ------------------------------------------------ */

static int is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* ---- lexer ------------------------------------------------------------ */

enum tok_type {
    T_END = 0,
    T_ATOM,   /* 1*atext */
    T_QUOTED, /* quoted-string, span includes the DQUOTEs */
    T_DOMLIT, /* domain-literal, span includes the brackets */
    T_SPECIAL /* one of < > @ , ; : . */
};

/* 12 bytes: the array holds up to one token per input byte. Offsets fit
 * 32 bits because the input is at most SG_ADDR_MAX_INPUT. */
typedef struct {
    unsigned char type;      /* enum tok_type */
    char ch;                 /* for T_SPECIAL */
    unsigned char sp_before; /* CFWS between this token and the previous one */
    uint32_t start;          /* byte offsets into the value */
    uint32_t end;
} token;
_Static_assert(SG_ADDR_MAX_INPUT < UINT32_MAX, "token offsets are 32-bit");

typedef struct {
    const unsigned char *s;
    size_t len;
    size_t pos; /* current / error position */
    token *toks;
    size_t ntoks;
    size_t t; /* parser cursor */
    sg_arena *arena;
    sg_mailbox *mb;
    size_t nmb, capmb;
    const char **groups;
    size_t ngroups, capgroups;
} parser;

/* Skip a fold: CRLF followed by WSP (RFC 5322 3.2.2 FWS / 4.2 obs-FWS).
 * Returns the bytes consumed (2) or 0; the WSP is consumed by the caller. */
static size_t fold_len(const parser *p, size_t i)
{
    if (i + 2 < p->len && p->s[i] == '\r' && p->s[i + 1] == '\n' && is_wsp(p->s[i + 2]))
        return 2;
    return 0;
}

/* quoted-pair = "\" (VCHAR / WSP), VCHAR extended by RFC 6532. The
 * obsolete obs-qp forms (a quoted NUL, CR, LF or control) are refused.
 * Returns the length of the pair at i (2..5) or 0. */
static size_t qpair_len(const parser *p, size_t i)
{
    unsigned char c;
    if (i + 1 >= p->len || p->s[i] != '\\')
        return 0;
    c = p->s[i + 1];
    if (is_wsp(c) || (c >= 0x21 && c <= 0x7E))
        return 2;
    if (c >= 0x80) {
        size_t u = sg_text_utf8_len(p->s + i + 1, p->len - i - 1);
        return u ? 1 + u : 0;
    }
    return 0;
}

/* One "text" unit inside a comment, quoted string or literal: WSP, a fold,
 * or a UTF-8 non-ASCII sequence. Returns its length or 0 (then the caller
 * checks its own ASCII class). */
static size_t common_text_len(const parser *p, size_t i)
{
    unsigned char c = p->s[i];
    if (is_wsp(c))
        return 1;
    if (c == '\r')
        return fold_len(p, i);
    if (c >= 0x80)
        return sg_text_utf8_len(p->s + i, p->len - i);
    return 0;
}

/* comment (RFC 5322 3.2.2), iterative. p->pos is at "(". */
static int lex_comment(parser *p)
{
    size_t depth = 0, i = p->pos, n;
    while (i < p->len) {
        unsigned char c = p->s[i];
        if (c == '(') {
            if (++depth > SG_ADDR_MAX_COMMENT_DEPTH) {
                p->pos = i;
                return SG_ELIMIT;
            }
            i++;
        } else if (c == ')') {
            i++;
            if (--depth == 0) {
                p->pos = i;
                return 0;
            }
        } else if (c == '\\') {
            if ((n = qpair_len(p, i)) == 0)
                break;
            i += n;
        } else if ((c >= 33 && c <= 39) || (c >= 42 && c <= 91) || (c >= 93 && c <= 126)) {
            i++; /* ctext */
        } else if ((n = common_text_len(p, i)) != 0) {
            i += n;
        } else {
            break;
        }
    }
    p->pos = i; /* bad byte, or end of input inside the comment */
    return SG_ESYNTAX;
}

/* quoted-string body (RFC 5322 3.2.4). p->pos is at the opening DQUOTE. */
static int lex_quoted(parser *p)
{
    size_t i = p->pos + 1, n;
    while (i < p->len) {
        unsigned char c = p->s[i];
        if (c == '"') {
            p->pos = i + 1;
            return 0;
        } else if (c == '\\') {
            if ((n = qpair_len(p, i)) == 0)
                break;
            i += n;
        } else if (c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126)) {
            i++; /* qtext */
        } else if ((n = common_text_len(p, i)) != 0) {
            i += n;
        } else {
            break;
        }
    }
    p->pos = i;
    return SG_ESYNTAX;
}

/* domain-literal (RFC 5322 3.4.1); quoted-pair kept from obs-dtext (4.4),
 * obs-NO-WS-CTL refused. p->pos is at "[". */
static int lex_domlit(parser *p)
{
    size_t i = p->pos + 1, n;
    while (i < p->len) {
        unsigned char c = p->s[i];
        if (c == ']') {
            p->pos = i + 1;
            return 0;
        } else if (c == '\\') {
            if ((n = qpair_len(p, i)) == 0)
                break;
            i += n;
        } else if ((c >= 33 && c <= 90) || (c >= 94 && c <= 126)) {
            i++; /* dtext */
        } else if ((n = common_text_len(p, i)) != 0) {
            i += n;
        } else {
            break;
        }
    }
    p->pos = i;
    return SG_ESYNTAX;
}

static int lex(parser *p)
{
    int sp = 0, rc;
    size_t n;
    p->pos = 0;
    while (p->pos < p->len) {
        const unsigned char c = p->s[p->pos];
        token *tk = &p->toks[p->ntoks];
        if (is_wsp(c)) {
            p->pos++;
            sp = 1;
            continue;
        }
        if (c == '\r') {
            if ((n = fold_len(p, p->pos)) == 0)
                return SG_ESYNTAX; /* bare CR, or CRLF not followed by WSP */
            p->pos += n;
            sp = 1;
            continue;
        }
        if (c == '(') {
            if ((rc = lex_comment(p)) != 0)
                return rc;
            sp = 1;
            continue;
        }
        tk->sp_before = sp;
        tk->start = p->pos;
        tk->ch = 0;
        sp = 0;
        if (c == '"') {
            if ((rc = lex_quoted(p)) != 0)
                return rc;
            tk->type = T_QUOTED;
        } else if (c == '[') {
            if ((rc = lex_domlit(p)) != 0)
                return rc;
            tk->type = T_DOMLIT;
        } else if (c != 0 && strchr("<>@,;:.", c) != NULL) {
            tk->type = T_SPECIAL;
            tk->ch = (char)c;
            p->pos++;
        } else if (sg_text_is_atext(c) || c >= 0x80) {
            size_t i = p->pos;
            while (i < p->len) {
                if (sg_text_is_atext(p->s[i]))
                    i++;
                else if (p->s[i] >= 0x80 && (n = sg_text_utf8_len(p->s + i, p->len - i)) != 0)
                    i += n;
                else
                    break;
            }
            if (i == p->pos)
                return SG_ESYNTAX; /* malformed UTF-8 */
            tk->type = T_ATOM;
            p->pos = i;
        } else {
            return SG_ESYNTAX; /* control, NUL, ")", "]", "\" ... */
        }
        tk->end = p->pos;
        p->ntoks++;
    }
    p->toks[p->ntoks].type = T_END;
    p->toks[p->ntoks].sp_before = sp;
    p->toks[p->ntoks].start = p->toks[p->ntoks].end = p->len;
    p->toks[p->ntoks].ch = 0;
    return 0;
}

/* ---- string building -------------------------------------------------- */

static const token *cur(const parser *p)
{
    return &p->toks[p->t];
}

static int is_special(const token *tk, char ch)
{
    return tk->type == T_SPECIAL && tk->ch == ch;
}

static int is_word(const token *tk)
{
    return tk->type == T_ATOM || tk->type == T_QUOTED;
}

/* Append a token's text to dst. raw: keep a quoted string as written
 * (minus folding CRLFs); otherwise unquote it (resolve quoted-pairs). */
static size_t put_token(const parser *p, const token *tk, char *dst, int raw)
{
    size_t i = tk->start, end = tk->end, o = 0;
    if (tk->type == T_SPECIAL) {
        dst[0] = tk->ch;
        return 1;
    }
    if (tk->type == T_QUOTED && !raw) {
        i++;
        end--;
    }
    while (i < end) {
        unsigned char c = p->s[i];
        if (c == '\r' && i + 1 < end && p->s[i + 1] == '\n') {
            i += 2; /* a fold inside a quoted string or literal */
            continue;
        }
        if (c == '\\' && !raw && i + 1 < end) {
            i++;
            c = p->s[i];
        }
        dst[o++] = (char)c;
        i++;
    }
    return o;
}

/* Sum of the token spans of toks[a..b) plus one separator each: an upper
 * bound for any string built from them. */
static size_t span_bound(const parser *p, size_t a, size_t b)
{
    size_t n = 1, i;
    for (i = a; i < b; i++)
        n += p->toks[i].end - p->toks[i].start + 1;
    return n;
}

/* Display name from phrase tokens [a,b): words unquoted, a space where the
 * input had CFWS between tokens, then whitespace runs folded to one space
 * and trimmed, so spacing cannot be used to push text out of sight. */
static int build_phrase(parser *p, size_t a, size_t b, const char **out)
{
    char *buf = sg_arena_alloc(p->arena, span_bound(p, a, b));
    size_t o = 0, r, w = 0, i;
    int prev_sp = 1;
    if (buf == NULL)
        return SG_ENOMEM;
    for (i = a; i < b; i++) {
        if (i > a && p->toks[i].sp_before)
            buf[o++] = ' ';
        o += put_token(p, &p->toks[i], buf + o, 0);
    }
    for (r = 0; r < o; r++) {
        char c = buf[r] == '\t' ? ' ' : buf[r];
        if (c == ' ' && prev_sp)
            continue;
        prev_sp = (c == ' ');
        buf[w++] = c;
    }
    if (w > 0 && buf[w - 1] == ' ')
        w--;
    buf[w] = '\0';
    *out = buf;
    return 0;
}

/* ---- token parser ----------------------------------------------------- */

static int fail(parser *p, int rc)
{
    p->pos = cur(p)->start;
    return rc;
}

/* obs-local-part = word *("." word) (covers dot-atom too, since the lexer
 * already split atoms at dots and dropped CFWS). Tokens [a,b). */
static int check_local(const parser *p, size_t a, size_t b)
{
    size_t i;
    if (a == b)
        return 0;
    for (i = a; i < b; i++) {
        int want_word = ((i - a) % 2) == 0;
        if (want_word != is_word(&p->toks[i]))
            return 0;
    }
    return is_word(&p->toks[b - 1]);
}

static int build_local(parser *p, size_t a, size_t b, sg_mailbox *mb)
{
    size_t bound = span_bound(p, a, b), o = 0, i;
    char *raw = sg_arena_alloc(p->arena, bound);
    char *unq = sg_arena_alloc(p->arena, bound);
    if (raw == NULL || unq == NULL)
        return SG_ENOMEM;
    for (i = a; i < b; i++)
        o += put_token(p, &p->toks[i], raw + o, 1);
    raw[o] = '\0';
    o = 0;
    for (i = a; i < b; i++)
        o += put_token(p, &p->toks[i], unq + o, 0);
    unq[o] = '\0';
    mb->local = raw;
    mb->local_unquoted = unq;
    return 0;
}

/* domain = dot-atom / domain-literal / obs-domain (atom *("." atom)). */
static int parse_domain(parser *p, const char **out, int *is_literal)
{
    size_t a = p->t, o = 0, i;
    char *buf;
    if (cur(p)->type == T_DOMLIT) {
        const token *tk = cur(p);
        buf = sg_arena_alloc(p->arena, tk->end - tk->start + 1);
        if (buf == NULL)
            return SG_ENOMEM;
        for (i = tk->start; i < tk->end; i++) {
            /* FWS inside a literal carries no meaning for us: drop it */
            if (!is_wsp(p->s[i]) && p->s[i] != '\r' && p->s[i] != '\n')
                buf[o++] = (char)p->s[i];
        }
        buf[o] = '\0';
        p->t++;
        *out = buf;
        *is_literal = 1;
        return 0;
    }
    if (cur(p)->type != T_ATOM)
        return fail(p, SG_ESYNTAX);
    p->t++;
    while (is_special(cur(p), '.')) {
        p->t++;
        if (cur(p)->type != T_ATOM)
            return fail(p, SG_ESYNTAX); /* "a..b", trailing dot */
        p->t++;
    }
    buf = sg_arena_alloc(p->arena, span_bound(p, a, p->t));
    if (buf == NULL)
        return SG_ENOMEM;
    for (i = a; i < p->t; i++)
        o += put_token(p, &p->toks[i], buf + o, 1);
    buf[o] = '\0';
    *out = buf;
    *is_literal = 0;
    return 0;
}

/* End of a run of words and dots starting at the cursor. */
static size_t scan_words(const parser *p)
{
    size_t k = p->t;
    while (is_word(&p->toks[k]) || is_special(&p->toks[k], '.'))
        k++;
    return k;
}

/* addr-spec = local-part "@" domain; cursor at the local-part. */
static int parse_addr_spec(parser *p, sg_mailbox *mb)
{
    size_t a = p->t, k = scan_words(p);
    int rc;
    if (!is_special(&p->toks[k], '@')) {
        p->t = k;
        return fail(p, SG_ESYNTAX);
    }
    if (!check_local(p, a, k))
        return fail(p, SG_ESYNTAX);
    if ((rc = build_local(p, a, k, mb)) != 0)
        return rc;
    p->t = k + 1;
    return parse_domain(p, &mb->domain, &mb->is_literal);
}

/* angle-addr / obs-angle-addr; cursor at "<". The obs-route
 * (RFC 5322 4.4: obs-domain-list ":") is checked and ignored. */
static int parse_angle(parser *p, sg_mailbox *mb)
{
    const char *ign;
    int lit, rc;
    p->t++;
    if (is_special(cur(p), '@') || is_special(cur(p), ',')) {
        while (is_special(cur(p), ','))
            p->t++;
        if (!is_special(cur(p), '@'))
            return fail(p, SG_ESYNTAX);
        p->t++;
        if ((rc = parse_domain(p, &ign, &lit)) != 0)
            return rc;
        while (is_special(cur(p), ',')) {
            p->t++;
            if (is_special(cur(p), '@')) {
                p->t++;
                if ((rc = parse_domain(p, &ign, &lit)) != 0)
                    return rc;
            }
        }
        if (!is_special(cur(p), ':'))
            return fail(p, SG_ESYNTAX);
        p->t++;
    }
    if ((rc = parse_addr_spec(p, mb)) != 0)
        return rc;
    if (!is_special(cur(p), '>'))
        return fail(p, SG_ESYNTAX);
    p->t++;
    return 0;
}

static int push_mailbox(parser *p, const sg_mailbox *mb)
{
    if (p->nmb == p->capmb) {
        size_t ncap = p->capmb ? p->capmb * 2 : 4;
        sg_mailbox *n;
        if (ncap > SG_ADDR_MAX_MAILBOXES)
            ncap = SG_ADDR_MAX_MAILBOXES;
        if (p->nmb >= ncap)
            return fail(p, SG_ELIMIT);
        n = sg_arena_alloc(p->arena, ncap * sizeof(*n));
        if (n == NULL)
            return SG_ENOMEM;
        if (p->nmb)
            memcpy(n, p->mb, p->nmb * sizeof(*n));
        p->mb = n;
        p->capmb = ncap;
    }
    p->mb[p->nmb++] = *mb;
    return 0;
}

static int push_group(parser *p, const char *name)
{
    if (p->ngroups == p->capgroups) {
        size_t ncap = p->capgroups ? p->capgroups * 2 : 4;
        const char **n;
        if (ncap > SG_ADDR_MAX_GROUPS)
            ncap = SG_ADDR_MAX_GROUPS;
        if (p->ngroups >= ncap)
            return fail(p, SG_ELIMIT);
        n = sg_arena_alloc(p->arena, ncap * sizeof(*n));
        if (n == NULL)
            return SG_ENOMEM;
        if (p->ngroups)
            memcpy(n, p->groups, p->ngroups * sizeof(*n));
        p->groups = n;
        p->capgroups = ncap;
    }
    p->groups[p->ngroups++] = name;
    return 0;
}

/* phrase = 1*word / obs-phrase (word *(word / "." / CFWS)): tokens [a,b)
 * must be non-empty and start with a word; the scan only admits words
 * and dots. */
static int check_phrase(const parser *p, size_t a, size_t b)
{
    return b > a && is_word(&p->toks[a]);
}

/* address = mailbox / group (group only when group < 0, i.e. not already
 * inside one: groups do not nest). */
static int parse_address(parser *p, int group)
{
    sg_mailbox mb;
    size_t a = p->t, k;
    int rc;
    memset(&mb, 0, sizeof(mb));
    mb.group = group;
    if (is_special(cur(p), '<')) {
        if ((rc = parse_angle(p, &mb)) != 0)
            return rc;
        return push_mailbox(p, &mb);
    }
    k = scan_words(p);
    if (is_special(&p->toks[k], '@')) {
        if ((rc = parse_addr_spec(p, &mb)) != 0)
            return rc;
        return push_mailbox(p, &mb);
    }
    if (is_special(&p->toks[k], '<')) {
        if (!check_phrase(p, a, k))
            return fail(p, SG_ESYNTAX);
        if ((rc = build_phrase(p, a, k, &mb.display)) != 0)
            return rc;
        p->t = k;
        if ((rc = parse_angle(p, &mb)) != 0)
            return rc;
        return push_mailbox(p, &mb);
    }
    if (is_special(&p->toks[k], ':') && group < 0) {
        /* group = display-name ":" [group-list] ";" [CFWS] (RFC 5322
         * 3.4, RFC 6854). group-list admits mailbox-list, CFWS or
         * obs-group-list, so any mix of empty elements is valid. */
        const char *name;
        int gi;
        if (!check_phrase(p, a, k)) {
            p->t = a;
            return fail(p, SG_ESYNTAX);
        }
        if ((rc = build_phrase(p, a, k, &name)) != 0)
            return rc;
        p->t = k + 1;
        gi = (int)p->ngroups;
        if ((rc = push_group(p, name)) != 0)
            return rc;
        for (;;) {
            if (is_special(cur(p), ';')) {
                p->t++;
                return 0;
            }
            if (is_special(cur(p), ',')) {
                p->t++;
                continue;
            }
            if (cur(p)->type == T_END)
                return fail(p, SG_ESYNTAX); /* unterminated group */
            if ((rc = parse_address(p, gi)) != 0)
                return rc;
            if (!is_special(cur(p), ',') && !is_special(cur(p), ';'))
                return fail(p, SG_ESYNTAX);
        }
    }
    p->t = k;
    return fail(p, SG_ESYNTAX);
}

int sg_addr_parse_list(sg_arena *arena, const char *value, size_t len, sg_addr_list *out,
                       size_t *err_pos)
{
    parser p;
    int rc = 0, naddr = 0, ncomma = 0;
    if (arena == NULL || out == NULL || (value == NULL && len > 0))
        return SG_EINVAL;
    if (err_pos)
        *err_pos = 0;
    if (len > SG_ADDR_MAX_INPUT) {
        if (err_pos)
            *err_pos = SG_ADDR_MAX_INPUT;
        return SG_ELIMIT;
    }
    memset(&p, 0, sizeof(p));
    p.s = (const unsigned char *)value;
    p.len = len;
    p.arena = arena;
    /* at most one token per input byte, plus T_END */
    p.toks = malloc((len + 1) * sizeof(*p.toks));
    if (p.toks == NULL)
        return SG_ENOMEM;
    if ((rc = lex(&p)) != 0)
        goto done;
    /* address-list = (address *("," address)) / obs-addr-list, where
     * obs-addr-list = *([CFWS] ",") address *("," [address / CFWS]):
     * empty elements are fine as long as there is one address. */
    for (;;) {
        if (cur(&p)->type == T_END)
            break;
        if (is_special(cur(&p), ',')) {
            ncomma++;
            p.t++;
            continue;
        }
        if ((rc = parse_address(&p, -1)) != 0)
            goto done;
        naddr++;
        if (cur(&p)->type != T_END && !is_special(cur(&p), ',')) {
            rc = fail(&p, SG_ESYNTAX); /* trailing garbage, ">" or ";" */
            goto done;
        }
    }
    if (naddr == 0 && ncomma > 0) {
        p.t = 0;
        rc = fail(&p, SG_ESYNTAX);
        goto done;
    }
    out->mailboxes = p.mb;
    out->count = p.nmb;
    out->ngroups = p.ngroups;
    out->group_names = p.groups;
done:
    if (rc != 0 && err_pos)
        *err_pos = p.pos;
    free(p.toks);
    return rc;
}

/* ---- RFC 5321 paths ----------------------------------------------------- */

/* Let-dig / Ldh-str sub-domain (RFC 5321 4.1.2), or a U-label (RFC 6531
 * 3.3: sub-domain =/ U-label; only UTF-8 well-formedness is checked).
 * Returns the end of the domain, or 0 on error. */
static size_t smtp_domain(const unsigned char *s, size_t i, size_t end)
{
    for (;;) {
        size_t start = i, n;
        int last_hyphen = 0;
        while (i < end) {
            unsigned char c = s[i];
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
                i++;
                last_hyphen = 0;
            } else if (c == '-' && i > start) {
                i++;
                last_hyphen = 1;
            } else if (c >= 0x80 && (n = sg_text_utf8_len(s + i, end - i)) != 0) {
                i += n;
                last_hyphen = 0;
            } else {
                break;
            }
        }
        if (i == start || last_hyphen)
            return 0;
        if (i < end && s[i] == '.') {
            i++;
            continue;
        }
        return i;
    }
}

/* address-literal (RFC 5321 4.1.3): IPv4, "IPv6:" + RFC 4291 text, or a
 * General-address-literal (Standardized-tag ":" 1*dcontent). s[i] is "[".
 * Returns the end (after "]") or 0. */
static size_t smtp_literal(const unsigned char *s, size_t i, size_t end)
{
    size_t close = i + 1, inner;
    char tmp[64];
    unsigned char a6[16];
    while (close < end && s[close] != ']') {
        if (s[close] < 33 || s[close] > 126 || s[close] == '[' || s[close] == '\\')
            return 0;
        close++;
    }
    if (close >= end)
        return 0;
    inner = close - i - 1;
    if (inner == 0 || inner >= sizeof(tmp))
        return 0;
    memcpy(tmp, s + i + 1, inner);
    tmp[inner] = '\0';
    if (sg_ascii_ncasecmp(tmp, "IPv6:", 5) == 0) {
        if (inet_pton(AF_INET6, tmp + 5, a6) != 1)
            return 0;
    } else if (strchr(tmp, ':') != NULL) {
        /* General-address-literal: tag is an Ldh-str */
        size_t t = 0;
        while (tmp[t] != ':' &&
               ((tmp[t] >= 'a' && tmp[t] <= 'z') || (tmp[t] >= 'A' && tmp[t] <= 'Z') ||
                (tmp[t] >= '0' && tmp[t] <= '9') || tmp[t] == '-'))
            t++;
        if (t == 0 || tmp[t] != ':' || tmp[t - 1] == '-' || tmp[t + 1] == '\0')
            return 0;
    } else {
        /* IPv4: 4 Snum of 1*3DIGIT, value <= 255 */
        int parts = 0;
        const char *q = tmp;
        for (;;) {
            int v = 0, d = 0;
            while (*q >= '0' && *q <= '9' && d < 4) {
                v = v * 10 + (*q - '0');
                q++;
                d++;
            }
            if (d == 0 || d > 3 || v > 255)
                return 0;
            parts++;
            if (*q == '.' && parts < 4) {
                q++;
                continue;
            }
            break;
        }
        if (parts != 4 || *q != '\0')
            return 0;
    }
    return close + 1;
}

int sg_addr_parse_path(sg_arena *arena, const char *str, size_t len, sg_mailbox *out)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, end = len, lstart, lend, dstart, dend, n, o = 0;
    char *local, *unq, *dom;
    int lit = 0;
    if (arena == NULL || out == NULL || (str == NULL && len > 0))
        return SG_EINVAL;
    if (len > SG_ADDR_MAX_PATH)
        return SG_ELIMIT;
    if (len == 2 && s[0] == '<' && s[1] == '>') {
        /* null reverse-path (RFC 5321 4.1.1.2, 4.5.5) */
        char *e = sg_arena_strdup(arena, "");
        if (e == NULL)
            return SG_ENOMEM;
        memset(out, 0, sizeof(*out));
        out->local = out->local_unquoted = out->domain = e;
        out->group = -1;
        return 0;
    }
    if (len > 0 && s[0] == '<') {
        if (s[len - 1] != '>' || len < 2)
            return SG_ESYNTAX;
        i = 1;
        end = len - 1;
        /* A-d-l = At-domain *( "," At-domain ) ":" - checked, ignored */
        if (i < end && s[i] == '@') {
            for (;;) {
                if ((i = smtp_domain(s, i + 1, end)) == 0)
                    return SG_ESYNTAX;
                if (i < end && s[i] == ',' && i + 1 < end && s[i + 1] == '@') {
                    i++;
                    continue;
                }
                if (i < end && s[i] == ':') {
                    i++;
                    break;
                }
                return SG_ESYNTAX;
            }
        }
    }
    /* Local-part = Dot-string / Quoted-string (RFC 5321 4.1.2) */
    lstart = i;
    if (i < end && s[i] == '"') {
        i++;
        for (;;) {
            if (i >= end)
                return SG_ESYNTAX;
            if (s[i] == '"')
                break;
            if (s[i] == '\\') {
                /* quoted-pairSMTP = "\" %d32-126 (+ UTF-8, RFC 6531) */
                if (i + 1 < end && s[i + 1] >= 32 && s[i + 1] <= 126)
                    i += 2;
                else if (i + 1 < end && s[i + 1] >= 0x80 &&
                         (n = sg_text_utf8_len(s + i + 1, end - i - 1)) != 0)
                    i += 1 + n;
                else
                    return SG_ESYNTAX;
            } else if (s[i] >= 32 && s[i] <= 126) {
                i++; /* qtextSMTP: %d32-33 / %d35-91 / %d93-126 */
            } else if (s[i] >= 0x80 && (n = sg_text_utf8_len(s + i, end - i)) != 0) {
                i += n;
            } else {
                return SG_ESYNTAX;
            }
        }
        i++;
    } else {
        for (;;) {
            size_t a = i;
            while (i < end) {
                if (sg_text_is_atext(s[i]))
                    i++;
                else if (s[i] >= 0x80 && (n = sg_text_utf8_len(s + i, end - i)) != 0)
                    i += n;
                else
                    break;
            }
            if (i == a)
                return SG_ESYNTAX;
            if (i < end && s[i] == '.') {
                i++;
                continue;
            }
            break;
        }
    }
    lend = i;
    if (i >= end || s[i] != '@')
        return SG_ESYNTAX;
    dstart = ++i;
    if (i < end && s[i] == '[') {
        dend = smtp_literal(s, i, end);
        lit = 1;
    } else {
        dend = smtp_domain(s, i, end);
    }
    if (dend == 0 || dend != end)
        return SG_ESYNTAX;
    local = sg_arena_strndup(arena, str + lstart, lend - lstart);
    dom = sg_arena_strndup(arena, str + dstart, dend - dstart);
    unq = sg_arena_alloc(arena, lend - lstart + 1);
    if (local == NULL || dom == NULL || unq == NULL)
        return SG_ENOMEM;
    if (s[lstart] == '"') {
        for (i = lstart + 1; i + 1 < lend; i++) {
            if (s[i] == '\\')
                i++;
            unq[o++] = (char)s[i];
        }
    } else {
        memcpy(unq, str + lstart, lend - lstart);
        o = lend - lstart;
    }
    unq[o] = '\0';
    memset(out, 0, sizeof(*out));
    out->local = local;
    out->local_unquoted = unq;
    out->domain = dom;
    out->is_literal = lit;
    out->group = -1;
    return 0;
}
