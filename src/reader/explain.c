/*
 * What a reader is told about one message: the headline, the identity
 * panel, the warnings and the links (explain.h has the contract; the rules
 * and thresholds are in docs/explain.md).
 *
 * One pass: the header is read with the library's own parser (the same
 * field indexes the verdict's DKIM results refer to), the authentication
 * facts are taken from our trusted Authentication-Results or from the
 * caller's verdict into one summary (auth_facts), the headline is decided
 * from that summary, then the identity panel, the MIME walk, the body and
 * its links, and the warnings. Everything the result points at lives in
 * its arena or in the MIME walk and sanitizer results it owns.
 */
#define _GNU_SOURCE /* strcasestr */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>
#include <idn2.h>
#include <libpsl.h>
#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <spoofguard/addr.h>
#include <spoofguard/arena.h>
#include <spoofguard/authres.h>
#include <spoofguard/dmarc.h>
#include <spoofguard/msg.h>
#include <spoofguard/verdict.h>

#include "common/json.h"
#include "explain.h"
#include "fold.h"

/* Bounds of what one explanation lists. */
#define MAX_SIGS 16          /* passing signatures shown */
#define MAX_WARNINGS 64      /* message-level warnings */
#define MAX_LINK_WARNINGS 8  /* per link */
#define MAX_HOST_CACHE 64    /* distinct link hosts checked for lookalikes */
#define MAX_NAME_BYTES 1024  /* decoded display name kept */
#define MAX_FIELD_SHOWN 2048 /* Reply-To, Sender, List-Id as shown */
#define MAX_H_NAMES 256      /* names read from a DKIM-Signature h= */

typedef struct {
    const char *domain, *selector, *algorithm;
    unsigned key_bits;
    const char *b_prefix; /* A-R header.b, to find the signature field */
    long field_index;     /* in the header array, -1 when unknown */
    unsigned candidates;  /* fields that could be it (find_signature); 1 when known */
    int aligned;
} sig_fact;

/* The authentication facts, from whichever source is trusted. */
typedef struct {
    sgr_verified_by by;
    sgr_headline base; /* before the third-party rule */
    const char *reason;
    int dmarc_pass;
    int temporary;
    sig_fact sigs[MAX_SIGS];
    size_t nsigs;
    const char *mailed_by;  /* the MAIL FROM identity's domain when SPF passed */
    const char *org_domain; /* From's organizational domain, for alignment */
    int strict_dkim;
    int spf_aligned; /* DMARC passed through SPF (the verdict's, or our A-R's aligned=) */
    int replayed;    /* DMARC passed, but an unsigned duplicate of a displayed field */
} auth_facts;

typedef struct {
    sgr_explanation pub; /* first: the caller's pointer */
    sg_arena *a;
    sg_msg_parser *parser;
    const sg_header *h;
    size_t nh;
    const char *malformed; /* why the header parser refused it, or NULL */
    sgr_mime *mime;
    sgr_sanitize_result san;
    int san_used;
    sgr_warning *warn;
    size_t nwarn, capwarn;
    sgr_signed_by *sigs;
    sgr_link_view *links;
    const psl_ctx_t *psl; /* the lookalike checker's list, else libpsl's built-in */
    int oom;
} explain_impl;

typedef struct {
    char host[SGR_LOOKALIKE_ASCII_MAX];
    sgr_lookalike_verdict verdict;
    const char *lookalike; /* detail of the first non-idn hit, arena */
    const char *ref;       /* that hit's reference (A-label), arena */
    const char *idn;       /* detail of the first idn hit, arena */
} host_check;

/* ---- names ------------------------------------------------------------ */

static const char *const headline_names[] = {"verified", "verified_third_party", "unverified",
                                             "forged"};
static const char *const headline_titles[] = {"Verified", "Verified through a third party",
                                              "Unverified", "Forged"};

const char *sgr_headline_name(sgr_headline h)
{
    return (unsigned)h < 4 ? headline_names[h] : "unverified";
}

const char *sgr_headline_title(sgr_headline h)
{
    return (unsigned)h < 4 ? headline_titles[h] : "Unverified";
}

void sgr_explain_opts_init(sgr_explain_opts *o)
{
    memset(o, 0, sizeof(*o));
}

/* ---- small helpers ---------------------------------------------------- */

static char *xstrdup(explain_impl *x, const char *s)
{
    char *r;
    if (s == NULL)
        return NULL;
    if ((r = sg_arena_strdup(x->a, s)) == NULL)
        x->oom = 1;
    return r;
}

static char *xprintf(explain_impl *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *xprintf(explain_impl *x, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return xstrdup(x, buf);
}

/* s as shown to a reader: valid UTF-8, no control characters and no bidi
 * controls (they reorder what the reader sees: "gpj.exe"), runs of
 * whitespace folded, trimmed, at most max bytes (cut at a character). */
static char *clean_text(explain_impl *x, const char *s, size_t len, size_t max)
{
    char *o = sg_arena_alloc(x->a, (len < max ? len : max) * 3 / 1 + 4);
    size_t n = 0, cap = (len < max ? len : max) * 3 + 1;
    int space = 0;
    if (o == NULL) {
        x->oom = 1;
        return NULL;
    }
    for (size_t i = 0; i < len && n + 4 < cap && n < max;) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c < 0x80 ? 1 : 0;
        unsigned cp = c;
        if (c >= 0x80) {
            /* decode one UTF-8 sequence, strictly */
            if (c >= 0xc2 && c <= 0xdf && i + 1 < len && (s[i + 1] & 0xc0) == 0x80) {
                cp = (c & 0x1fu) << 6 | (s[i + 1] & 0x3fu);
                l = 2;
            } else if (c >= 0xe0 && c <= 0xef && i + 2 < len && (s[i + 1] & 0xc0) == 0x80 &&
                       (s[i + 2] & 0xc0) == 0x80) {
                cp = (c & 0xfu) << 12 | (s[i + 1] & 0x3fu) << 6 | (s[i + 2] & 0x3fu);
                l = cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff) ? 3 : 0;
            } else if (c >= 0xf0 && c <= 0xf4 && i + 3 < len && (s[i + 1] & 0xc0) == 0x80 &&
                       (s[i + 2] & 0xc0) == 0x80 && (s[i + 3] & 0xc0) == 0x80) {
                cp = (c & 0x7u) << 18 | (s[i + 1] & 0x3fu) << 12 | (s[i + 2] & 0x3fu) << 6 |
                     (s[i + 3] & 0x3fu);
                l = cp >= 0x10000 && cp <= 0x10ffff ? 4 : 0;
            }
        }
        if (l == 0) { /* invalid byte: U+FFFD */
            memcpy(o + n, "\xef\xbf\xbd", 3);
            n += 3;
            i++;
            space = 0;
            continue;
        }
        if (cp == ' ' || cp == '\t' || cp == '\r' || cp == '\n') {
            space = n > 0;
            i += l;
            continue;
        }
        int bad = cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp == 0x200e ||
                  cp == 0x200f || cp == 0x061c || sgu_is_bidi_control(cp);
        if (space && n + 1 < cap)
            o[n++] = ' ';
        space = 0;
        if (bad) {
            memcpy(o + n, "\xef\xbf\xbd", 3);
            n += 3;
        } else {
            memcpy(o + n, s + i, l);
            n += l;
        }
        i += l;
    }
    o[n] = '\0';
    return o;
}

/* s lower-cased (ASCII), in the arena: the addresses the mailbox's
 * callbacks compare (sgr_correspondents). */
static const char *lower(explain_impl *x, const char *s)
{
    char *r = xstrdup(x, s);
    for (char *p = r; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return r;
}

static int ieq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

/* The registrable domain (the list links.c and the lookalike checker
 * use), lower case, in the arena; NULL when none. */
static const char *registrable(explain_impl *x, const char *domain)
{
    if (domain == NULL || domain[0] == '\0')
        return NULL;
    char low[256];
    size_t l = strlen(domain);
    if (l >= sizeof(low))
        return NULL;
    for (size_t i = 0; i <= l; i++)
        low[i] = (char)tolower((unsigned char)domain[i]);
    if (l > 0 && low[l - 1] == '.')
        low[l - 1] = '\0';
    const char *r = psl_registrable_domain(x->psl, low);
    return r ? xstrdup(x, r) : NULL;
}

/* A-label form of a domain as written (arena), or NULL. */
static const char *alabel(explain_impl *x, const char *d)
{
    char *out;
    if (d == NULL || d[0] == '\0')
        return NULL;
    int rc = sg_dmarc_domain_normalise(x->a, d, strlen(d), &out);
    if (rc == SG_ENOMEM)
        x->oom = 1;
    return rc == 0 ? out : NULL;
}

/* U-label form when it differs from the A-label one; NULL otherwise. */
static const char *ulabel(explain_impl *x, const char *ascii)
{
    char *u = NULL;
    const char *r = NULL;
    if (ascii == NULL || strstr(ascii, "xn--") == NULL)
        return NULL;
    if (idn2_to_unicode_8z8z(ascii, &u, 0) == IDN2_OK && u && strcmp(u, ascii) != 0)
        r = clean_text(x, u, strlen(u), 1024);
    free(u);
    return r;
}

static void add_warning(explain_impl *x, const char *kind, const char *field, const char *detail)
{
    if (detail == NULL || x->nwarn >= MAX_WARNINGS)
        return;
    for (size_t i = 0; i < x->nwarn; i++) /* the same sentence once */
        if (!strcmp(x->warn[i].kind, kind) && !strcmp(x->warn[i].detail, detail))
            return;
    if (x->nwarn == x->capwarn) {
        size_t cap = x->capwarn ? x->capwarn * 2 : 8;
        sgr_warning *w = realloc(x->warn, cap * sizeof(*w));
        if (w == NULL) {
            x->oom = 1;
            return;
        }
        x->warn = w;
        x->capwarn = cap;
    }
    x->warn[x->nwarn++] = (sgr_warning){kind, field, detail};
}

/* ---- the header -------------------------------------------------------- */

static const sg_header *field(const explain_impl *x, const char *name, size_t *count)
{
    const sg_header *first = NULL;
    size_t n = 0;
    for (size_t i = 0; i < x->nh; i++)
        if (sg_header_is(&x->h[i], name)) {
            if (first == NULL)
                first = &x->h[i];
            n++;
        }
    if (count)
        *count = n;
    return first;
}

/* Reads the header with the library's parser. A header it refuses (a NUL,
 * a field over the limits) leaves no fields: the message is then explained
 * from nothing, never trusted. */
static int read_header(sg_msg_parser **pp, const sg_header **h, size_t *nh, const char *msg,
                       size_t len, const char **malformed)
{
    sg_msg_parser *p;
    int rc;
    *h = NULL;
    *nh = 0;
    *malformed = NULL;
    if (sg_msg_parser_new(&p, NULL, NULL, NULL) != 0)
        return SGR_EXPLAIN_ENOMEM;
    *pp = p;
    if ((rc = sg_msg_feed(p, msg, len)) == 0)
        rc = sg_msg_finish(p);
    if (rc == SG_ENOMEM)
        return SGR_EXPLAIN_ENOMEM;
    if (rc == SG_ESYNTAX)
        *malformed = "its header is malformed, with a NUL byte or a CR or LF that ends no line";
    else if (rc == SG_ELIMIT)
        *malformed = "its header is over the size limits";
    else if (rc == 0)
        *h = sg_msg_headers(p, nh);
    if (*h == NULL)
        *nh = 0;
    return SGR_EXPLAIN_OK;
}

/* The topmost Authentication-Results field, parsed, when it claims our
 * authserv-id; 1 then, else 0 (also when ours is on top but does not
 * parse: nothing is trusted, the caller verifies). */
static int trusted_authres(sg_authres *ar, sg_arena *a, const sg_header *h, size_t nh,
                           const char *id)
{
    if (id == NULL || id[0] == '\0')
        return 0;
    for (size_t i = 0; i < nh; i++) {
        if (!sg_header_is(&h[i], "Authentication-Results"))
            continue;
        if (!sg_authres_value_is_ours(h[i].value, h[i].value_len, id) ||
            sg_authres_parse(ar, a, h[i].value, h[i].value_len, NULL) != 0)
            return 0;
        /* and it must speak of the From shown now: a field about another
         * author domain proves nothing about this message (a From that
         * names no one domain is judged by the local rules) */
        sg_dmarc_author author;
        memset(&author, 0, sizeof(author));
        if (sg_dmarc_author_domain(a, h, nh, &author) != 0)
            return 0;
        for (size_t k = 0; k < ar->count; k++) {
            const sg_authres_entry *e = &ar->entries[k];
            if (strcasecmp(e->method, "dmarc") != 0)
                continue;
            for (size_t j = 0; j < e->nprops; j++)
                if (!strcasecmp(e->props[j].ptype, "header") &&
                    !strcasecmp(e->props[j].property, "from") && author.domain &&
                    strcasecmp(e->props[j].value, author.domain) != 0)
                    return 0;
        }
        return 1;
    }
    return 0;
}

int sgr_explain_trusts_authres(const char *msg, size_t len, const char *authserv_id)
{
    sg_msg_parser *p = NULL;
    sg_arena *a = NULL;
    const sg_header *h;
    const char *malformed;
    size_t nh;
    sg_authres ar;
    int r = 0;
    if (msg == NULL || authserv_id == NULL)
        return 0;
    if (read_header(&p, &h, &nh, msg, len, &malformed) == SGR_EXPLAIN_OK &&
        sg_arena_new(&a, 4096) == 0)
        r = trusted_authres(&ar, a, h, nh, authserv_id);
    sg_arena_free(a);
    sg_msg_parser_free(p);
    return r;
}

/* ---- DKIM-Signature fields --------------------------------------------- */

/* The value of tag `tag` in a tag-list (RFC 6376 3.2), whitespace removed,
 * at most max bytes of it, into the arena; NULL when absent. The bound
 * keeps a header of many large fields from costing memory per look-up. */
static char *dkim_tag(explain_impl *x, const char *v, size_t len, const char *tag, size_t max)
{
    size_t tl = strlen(tag);
    size_t i = 0;
    while (i < len) {
        while (i < len &&
               (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n' || v[i] == ';'))
            i++;
        size_t ns = i;
        while (i < len && v[i] != '=' && v[i] != ';')
            i++;
        size_t ne = i;
        while (ne > ns && (v[ne - 1] == ' ' || v[ne - 1] == '\t'))
            ne--;
        if (i >= len || v[i] != '=') {
            continue;
        }
        size_t vs = ++i;
        while (i < len && v[i] != ';')
            i++;
        if (ne - ns == tl && strncasecmp(v + ns, tag, tl) == 0) {
            size_t end = i - vs > max ? vs + max : i;
            char *o = sg_arena_alloc(x->a, end - vs + 1);
            size_t n = 0;
            if (o == NULL) {
                x->oom = 1;
                return NULL;
            }
            for (size_t k = vs; k < end; k++)
                if (!isspace((unsigned char)v[k]))
                    o[n++] = v[k];
            o[n] = '\0';
            return o;
        }
    }
    return NULL;
}

/* Could field i be the signature an A-R dkim=pass names: its d=, s= and
 * the header.b prefix. */
static int sig_matches(explain_impl *x, size_t i, const sig_fact *s)
{
    if (!sg_header_is(&x->h[i], "DKIM-Signature"))
        return 0;
    const char *fd = dkim_tag(x, x->h[i].value, x->h[i].value_len, "d", 256);
    if (!ieq(fd, s->domain))
        return 0;
    if (s->selector) {
        const char *fs = dkim_tag(x, x->h[i].value, x->h[i].value_len, "s", 256);
        if (!ieq(fs, s->selector))
            return 0;
    }
    if (s->b_prefix) {
        const char *fb = dkim_tag(x, x->h[i].value, x->h[i].value_len, "b", 64);
        if (fb == NULL || strncmp(fb, s->b_prefix, strlen(s->b_prefix)) != 0)
            return 0;
    }
    return 1;
}

/* The field behind an A-R dkim=pass (-1: none), and how many fields could
 * be it. header.b is a prefix (RFC 6008), and a sender can copy d=, s= and
 * all of b= into a field of his own with another h= above the one that
 * verified: then no one field is known to be it (mark_sig_covered). */
static long find_signature(explain_impl *x, const sig_fact *s, unsigned *candidates)
{
    long first = -1;
    *candidates = 0;
    for (size_t i = 0; i < x->nh; i++)
        if (sig_matches(x, i, s)) {
            if (first < 0)
                first = (long)i;
            (*candidates)++;
        }
    return first;
}

/* Marks in covered[] (one flag per header field) the instances the
 * signature at field_index lists in h=: RFC 6376 5.4.2, each name takes
 * the next instance from the bottom. */
static void mark_covered(explain_impl *x, long field_index, unsigned char *covered)
{
    if (field_index < 0 || (size_t)field_index >= x->nh)
        return;
    const sg_header *f = &x->h[field_index];
    char *hl = dkim_tag(x, f->value, f->value_len, "h", f->value_len);
    if (hl == NULL)
        return;
    size_t *used = calloc(x->nh, sizeof(*used)); /* per field: taken */
    if (used == NULL) {
        x->oom = 1;
        return;
    }
    unsigned names = 0;
    for (char *s = hl; *s && names < MAX_H_NAMES; names++) {
        char *e = strchr(s, ':');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        /* the next instance of this name from the bottom not taken yet */
        for (size_t k = x->nh; k-- > 0;) {
            if (used[k] || x->h[k].name_len != l || strncasecmp(x->h[k].name, s, l) != 0)
                continue;
            used[k] = 1;
            covered[k] = 1;
            break;
        }
        if (e == NULL)
            break;
        s = e + 1;
    }
    free(used);
}

/* Marks what a signature fact covers. Several fields that could be it: only
 * what every one of them covers, since the one that verified may be any. */
static void mark_sig_covered(explain_impl *x, const sig_fact *s, unsigned char *covered)
{
    if (s->candidates <= 1) {
        mark_covered(x, s->field_index, covered);
        return;
    }
    unsigned char *all = malloc(x->nh), *one = malloc(x->nh);
    if (all == NULL || one == NULL) {
        x->oom = 1;
        free(all);
        free(one);
        return;
    }
    memset(all, 1, x->nh);
    for (size_t i = 0; i < x->nh; i++) {
        if (!sig_matches(x, i, s))
            continue;
        memset(one, 0, x->nh);
        mark_covered(x, (long)i, one);
        for (size_t k = 0; k < x->nh; k++)
            all[k] &= one[k];
    }
    for (size_t k = 0; k < x->nh; k++)
        covered[k] |= all[k];
    free(all);
    free(one);
}

/* The displayed fields that have an instance no signature in sigs[] covers
 * ("Subject, Date"), or NULL when all are covered. only_aligned: the
 * aligned signatures (verified), else those of `domain` (third party). */
static const char *uncovered_fields(explain_impl *x, const auth_facts *f, int only_aligned,
                                    const char *domain, int panel_only, int *duplicate)
{
    unsigned char *covered = calloc(x->nh ? x->nh : 1, 1);
    char buf[256];
    size_t n = 0;
    if (covered == NULL) {
        x->oom = 1;
        return NULL;
    }
    for (size_t i = 0; i < f->nsigs; i++)
        if (only_aligned ? f->sigs[i].aligned : ieq(f->sigs[i].domain, domain))
            mark_sig_covered(x, &f->sigs[i], covered);
    /* the verdict's own list: a reader sees these fields, so a signature
     * that leaves one out leaves it unproven */
    size_t ndisplayed;
    const char *const *displayed = sg_verdict_displayed_fields(&ndisplayed);
    /* and, for verified mail, what the identity panel shows besides (the
     * verdict's duplicate rule is the verdict's list only; a third party
     * is named by the List-Id, not vouched for by its own signature) */
    static const char *const panel[] = {"List-Id"};
    const size_t npanel = only_aligned ? sizeof(panel) / sizeof(panel[0]) : 0;
    buf[0] = '\0';
    *duplicate = 0;
    for (size_t d = panel_only ? ndisplayed : 0; d < ndisplayed + npanel; d++) {
        const char *name = d < ndisplayed ? displayed[d] : panel[d - ndisplayed];
        int miss = 0, count = 0;
        for (size_t k = 0; k < x->nh; k++)
            if (sg_header_is(&x->h[k], name)) {
                count++;
                miss |= !covered[k];
            }
        if (!miss)
            continue;
        if (count > 1 && d < ndisplayed)
            *duplicate = 1;
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? ", " : "", name);
        if (n >= sizeof(buf))
            n = sizeof(buf) - 1;
    }
    free(covered);
    return n ? xstrdup(x, buf) : NULL;
}

/* Does text name domain (or a name under it) as a whole name: "<talk.
 * lists.example>" names lists.example, "notlists.example" does not. */
static int names_domain(const char *text, const char *domain)
{
    size_t dl = strlen(domain);
    for (const char *p = text; (p = strcasestr(p, domain)) != NULL; p++) {
        char before = p == text ? ' ' : p[-1], after = p[dl];
        if ((before == '.' || before == '<' || before == '@' || before == ' ') &&
            !(isalnum((unsigned char)after) || after == '-' || after == '.'))
            return 1;
    }
    return 0;
}

/* ---- the authentication facts ------------------------------------------ */

/* Is d aligned with the From domain? Relaxed: the same organizational
 * domain (the verdict's, else libpsl's); strict: the same name. */
static int aligned(explain_impl *x, const auth_facts *f, const char *from, const char *d)
{
    if (from == NULL || d == NULL)
        return 0;
    if (f->strict_dkim)
        return ieq(from, d);
    if (f->org_domain)
        return sg_domain_within(d, f->org_domain) && sg_domain_within(from, f->org_domain);
    const char *rf = registrable(x, from), *rd = registrable(x, d);
    return rf && rd && !strcmp(rf, rd);
}

static void facts_from_verdict(explain_impl *x, auth_facts *f, const sg_verdict_result *r)
{
    f->by = SGR_FROM_VERIFIED;
    f->reason = r->reason;
    f->temporary = r->temporary;
    f->dmarc_pass = r->dmarc.result == SG_DMARC_RESULT_PASS;
    f->base = r->verdict == SG_VERDICT_AUTHENTIC ? SGR_HEADLINE_VERIFIED
              : r->verdict == SG_VERDICT_FORGED  ? SGR_HEADLINE_FORGED
                                                 : SGR_HEADLINE_UNVERIFIED;
    f->org_domain = r->dmarc.org_domain;
    f->strict_dkim = r->dmarc.record && r->dmarc.record->adkim == SG_DMARC_ALIGN_STRICT;
    for (size_t i = 0; i < r->ndkim && f->nsigs < MAX_SIGS; i++) {
        const sg_dkim_sig_result *d = &r->dkim[i];
        if (d->result != SG_DKIM_PASS || d->domain == NULL)
            continue;
        /* copied: the explanation outlives the caller's verdict */
        f->sigs[f->nsigs++] = (sig_fact){xstrdup(x, d->domain),
                                         xstrdup(x, d->selector),
                                         xstrdup(x, d->algorithm),
                                         d->key_bits,
                                         NULL,
                                         (long)d->field_index,
                                         1,
                                         0};
    }
    if (r->spf_checked && r->spf.result == SG_SPF_PASS && r->spf.domain)
        f->mailed_by = xstrdup(x, r->spf.domain);
    f->spf_aligned = r->dmarc.spf_align == SG_DMARC_ALIGN_RESULT_PASS;
    /* the one rule that makes a DMARC pass unverified (verdict.c) */
    f->replayed = f->dmarc_pass && r->verdict == SG_VERDICT_UNVERIFIED && !r->temporary;
}

/* The aligned= word of our dmarc=pass comment (verdict.c): does it name
 * spf? A field without it (written before it was) says no: the reader
 * cannot tell a HELO pass or aspf=s from the rest of the field, so it
 * takes the answer that keeps the duplicate-field rule. */
static int comment_spf_aligned(const char *comment)
{
    const char *a = comment ? strstr(comment, "aligned=") : NULL;
    if (a == NULL)
        return 0;
    a += strlen("aligned=");
    size_t n = strcspn(a, " ,;)");
    return (n == 3 && !strncmp(a, "spf", 3)) || (n == 8 && !strncmp(a, "dkim+spf", 8));
}

static const char *prop_value(const sg_authres_entry *e, const char *ptype, const char *property)
{
    for (size_t i = 0; i < e->nprops; i++)
        if (ieq(e->props[i].ptype, ptype) && ieq(e->props[i].property, property))
            return e->props[i].value;
    return NULL;
}

/* The From's protected status, as the verdict decides it: the From domain,
 * or the domain a lenient reader shows when the From does not parse. */
static int is_protected(explain_impl *x, const sgr_explain_opts *o, const char *domain)
{
    for (size_t i = 0; domain && i < o->nprotected; i++) {
        const char *p = alabel(x, o->protected_domains[i]);
        if (p && sg_domain_within(domain, p))
            return 1;
    }
    return 0;
}

/* The verdict's lax rule for a From that is not one parsable address:
 * does any From field name a protected domain anywhere (verdict.c)? */
static int from_names_protected(explain_impl *x, const sgr_explain_opts *o)
{
    const char **p = o->nprotected ? sg_arena_alloc(x->a, o->nprotected * sizeof(*p)) : NULL;
    size_t n = 0;
    if (o->nprotected && p == NULL) {
        x->oom = 1;
        return 0;
    }
    for (size_t i = 0; i < o->nprotected; i++)
        if ((p[n] = alabel(x, o->protected_domains[i])) != NULL)
            n++;
    for (size_t i = 0; n && i < x->nh; i++)
        if (sg_header_is(&x->h[i], "From") &&
            sg_verdict_value_names_domain(x->h[i].value, x->h[i].value_len, p, n))
            return 1;
    return 0;
}

/* Our MTA's A-R, read back into facts. The daemon writes what sg_verdict
 * wrote (verdict.c add_authres_full): dmarc=pass|fail|none|temperror|
 * permerror with policy.dmarc and a "p=... dis=..." comment (with
 * "trusted_forwarder by local policy" when a trusted ARC sealer overrode a
 * fail), dkim= per signature with header.d/s/a/b and "N-bit key", spf=
 * with smtp.mailfrom or smtp.helo. What the field cannot say (several
 * From fields, a protected domain, an unsigned duplicate of a displayed
 * field) is decided again here from the message itself, by the verdict's
 * rules, so both paths give one headline. */
static void facts_from_authres(explain_impl *x, auth_facts *f, const sg_authres *ar,
                               const sgr_explain_opts *o, const sg_dmarc_author *author)
{
    const sg_authres_entry *dmarc = NULL;
    int spf_seen = 0;
    f->by = SGR_FROM_AUTHRES;
    for (size_t i = 0; i < ar->count; i++) {
        const sg_authres_entry *e = &ar->entries[i];
        if (ieq(e->method, "dmarc") && dmarc == NULL)
            dmarc = e;
        else if (ieq(e->method, "dkim") && ieq(e->result, "pass") && f->nsigs < MAX_SIGS) {
            const char *d = prop_value(e, "header", "d");
            if (d == NULL)
                continue;
            sig_fact *s = &f->sigs[f->nsigs++];
            memset(s, 0, sizeof(*s));
            s->domain = d;
            s->selector = prop_value(e, "header", "s");
            s->algorithm = prop_value(e, "header", "a");
            s->b_prefix = prop_value(e, "header", "b");
            unsigned bits = 0;
            if (e->comment && sscanf(e->comment, "%u-bit key", &bits) == 1)
                s->key_bits = bits;
            else if (s->algorithm && !strncasecmp(s->algorithm, "ed25519", 7))
                s->key_bits = 256;
            s->field_index = find_signature(x, s, &s->candidates);
        } else if (ieq(e->method, "spf") && !spf_seen++ && ieq(e->result, "pass")) {
            /* the first spf= is the MAIL FROM identity's (smtp.helo for a
             * null sender, RFC 7208 2.4); a later one is the HELO check,
             * which proves nothing about the sender DMARC aligns */
            const char *mf = prop_value(e, "smtp", "mailfrom");
            const char *at = mf ? strrchr(mf, '@') : NULL;
            f->mailed_by = at ? at + 1 : mf ? mf : prop_value(e, "smtp", "helo");
        }
    }
    const char *res = dmarc ? dmarc->result : "none";
    const char *pol = dmarc ? prop_value(dmarc, "policy", "dmarc") : NULL;
    int prot = is_protected(x, o, author->domain) ||
               (author->status != SG_DMARC_AUTHOR_OK && from_names_protected(x, o));
    f->dmarc_pass = ieq(res, "pass");
    f->spf_aligned = f->dmarc_pass && comment_spf_aligned(dmarc->comment);
    f->base = SGR_HEADLINE_UNVERIFIED;
    if (author->status == SG_DMARC_AUTHOR_MULTIPLE_FROM ||
        author->status == SG_DMARC_AUTHOR_MULTIPLE_DOMAINS) {
        f->base = SGR_HEADLINE_FORGED;
        f->reason = "several From fields or author domains: a message has one author domain to "
                    "check (RFC 5322 3.6, RFC 9989 11.5)";
        return;
    }
    if (author->status != SG_DMARC_AUTHOR_OK) {
        f->base = prot ? SGR_HEADLINE_FORGED : SGR_HEADLINE_UNVERIFIED;
        f->reason = prot ? "a From field names a protected domain, but the From is not one "
                           "verifiable address"
                         : "the From field names no usable domain";
        return;
    }
    /* trusted_authres refuses such a field; kept as a second wall */
    const char *hf = dmarc ? prop_value(dmarc, "header", "from") : NULL;
    if (hf && author->domain && !ieq(hf, author->domain)) {
        /* the field speaks of another From than the one shown now:
         * nothing in it is about this message */
        f->nsigs = 0;
        f->mailed_by = NULL;
        f->base = prot ? SGR_HEADLINE_FORGED : SGR_HEADLINE_UNVERIFIED;
        f->reason = "the From field is not the one your mail server checked";
        return;
    }
    if (ieq(res, "temperror")) {
        f->temporary = 1;
        f->reason = "DMARC could not be checked: a temporary DNS error";
        return;
    }
    if (f->dmarc_pass) {
        f->base = SGR_HEADLINE_VERIFIED;
        f->reason = "DMARC pass: the From domain is proven";
        return; /* the duplicate-field rule runs once alignment is known */
    }
    if (ieq(res, "fail")) {
        if (dmarc->comment && strstr(dmarc->comment, "trusted_forwarder")) {
            f->reason = "DMARC fail, accepted by local policy: a passing ARC chain sealed by a "
                        "trusted forwarder";
        } else if (ieq(pol, "quarantine") || ieq(pol, "reject")) {
            /* the words of the verdict's reason: what was done (the
             * comment's dis=, t=y applying one level below), not what is
             * published */
            const char *dis = dmarc->comment ? strstr(dmarc->comment, "dis=") : NULL;
            const char *act = dis ? dis + 4 : pol;
            f->base = SGR_HEADLINE_FORGED;
            f->reason = sg_verdict_dmarc_reason(
                SG_DMARC_RESULT_FAIL, !strncasecmp(act, "reject", 6) ? SG_DMARC_DISP_REJECT
                                      : !strncasecmp(act, "quarantine", 10)
                                          ? SG_DMARC_DISP_QUARANTINE
                                          : SG_DMARC_DISP_NONE);
        } else {
            f->reason = "DMARC fail, but the domain's policy is p=none (monitoring only)";
        }
    } else {
        f->reason = sg_verdict_dmarc_reason(ieq(res, "none") ? SG_DMARC_RESULT_NONE
                                                             : SG_DMARC_RESULT_PERMERROR,
                                            SG_DMARC_DISP_NONE);
    }
    if (prot && f->base != SGR_HEADLINE_VERIFIED) {
        f->base = SGR_HEADLINE_FORGED;
        f->reason = "claims a protected domain without an aligned SPF or DKIM pass";
    }
}

/* ---- identity ----------------------------------------------------------- */

/* addr-specs of a field's mailboxes, ", "-separated; NULL when none. */
static const char *addr_specs(explain_impl *x, const sg_header *f, const char **first_domain)
{
    sg_addr_list l;
    char buf[MAX_FIELD_SHOWN];
    size_t n = 0;
    if (first_domain)
        *first_domain = NULL;
    if (f == NULL || sg_addr_parse_list(x->a, f->value, f->value_len, &l, NULL) != 0 ||
        l.count == 0)
        return NULL;
    for (size_t i = 0; i < l.count && n < sizeof(buf) - 1; i++) {
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s@%s", i ? ", " : "",
                              l.mailboxes[i].local, l.mailboxes[i].domain);
        if (n >= sizeof(buf))
            n = sizeof(buf) - 1;
    }
    if (first_domain)
        *first_domain = alabel(x, l.mailboxes[0].domain);
    return clean_text(x, buf, n, sizeof(buf));
}

/* The display name, RFC 2047 words decoded by GMime (initialised by the
 * MIME walk that ran before), as shown: cleaned. */
static const char *display_name(explain_impl *x, const char *raw)
{
    if (raw == NULL || raw[0] == '\0')
        return "";
    if (strstr(raw, "=?") == NULL)
        return clean_text(x, raw, strlen(raw), MAX_NAME_BYTES);
    char *dec = g_mime_utils_header_decode_phrase(NULL, raw);
    const char *r = clean_text(x, dec ? dec : raw, strlen(dec ? dec : raw), MAX_NAME_BYTES);
    g_free(dec);
    return r;
}

/* "pass by sealer.example (i=2)", from the ARC result or the newest
 * ARC-Seal in the message. */
static const char *arc_summary(explain_impl *x, const sg_verdict_result *v, const sg_authres *ar,
                               int have_ar, const char **pass_sealer)
{
    const char *cv = NULL, *sealer = NULL;
    unsigned inst = 0;
    *pass_sealer = NULL;
    if (v && v->arc && v->arc->instance > 0) {
        cv = sg_arc_cv_str(v->arc->cv);
        inst = v->arc->instance;
        if (v->arc->count >= inst && v->arc->sets)
            sealer = v->arc->sets[inst - 1].as_domain;
    } else if (have_ar) {
        for (size_t i = 0; i < ar->count; i++)
            if (ieq(ar->entries[i].method, "arc"))
                cv = ar->entries[i].result;
    }
    if (cv == NULL)
        return NULL;
    if (sealer == NULL) { /* the newest seal in the message */
        for (size_t i = 0; i < x->nh; i++) {
            if (!sg_header_is(&x->h[i], "ARC-Seal"))
                continue;
            const char *is = dkim_tag(x, x->h[i].value, x->h[i].value_len, "i", 16);
            unsigned n = is ? (unsigned)strtoul(is, NULL, 10) : 0;
            if (n > inst || sealer == NULL) {
                if (n > inst)
                    inst = n;
                sealer = dkim_tag(x, x->h[i].value, x->h[i].value_len, "d", 256);
            }
        }
    }
    if (ieq(cv, "pass") && sealer) {
        *pass_sealer = sealer;
        return xprintf(x, "pass by %.253s (i=%u)", sealer, inst);
    }
    return xprintf(x, "%.16s", cv);
}

/* ---- warnings ----------------------------------------------------------- */

/* own: the registrable domain of a verified sender, or NULL. A link in
 * mail proven to come from github.com that resembles github.com
 * (app.github.media) is the brand's own: only the brand can send it, so
 * that hit is not a warning. */
static void check_host(explain_impl *x, const sgr_explain_opts *o, const char *name,
                       const char *own, host_check *out)
{
    sgr_lookalike_result res;
    memset(out, 0, sizeof(*out));
    snprintf(out->host, sizeof(out->host), "%s", name ? name : "");
    if (o->lookalike == NULL || name == NULL || name[0] == '\0')
        return;
    if (sgr_lookalike_check(o->lookalike, name, strlen(name), &res) != SGR_LOOKALIKE_OK) {
        x->oom = 1;
        return;
    }
    out->verdict = res.verdict;
    /* an idn hit is kept whatever the verdict: a name the checker knows
     * is still shown in a form that reads as another (adv29 RD-1); a
     * known name has no other hits */
    for (size_t i = 0; i < res.nhits; i++) {
        const sgr_lookalike_hit *h = &res.hits[i];
        if (h->kind == SGR_LOOKALIKE_IDN && out->idn == NULL)
            out->idn = xstrdup(x, h->detail);
        else if (h->kind != SGR_LOOKALIKE_IDN && out->lookalike == NULL &&
                 !(own && ieq(h->reference_ascii, own))) {
            out->lookalike = xstrdup(x, h->detail);
            out->ref = xstrdup(x, h->reference_ascii);
        }
    }
}

/* Known to the reader from outside the message: a protected or operator
 * name, or a correspondent the viewer learned from verified mail (never
 * one resembling ours: sgr_lookalike_check). */
static int known_party(explain_impl *x, const sgr_explain_opts *o, const char *domain)
{
    host_check hc;
    check_host(x, o, domain, NULL, &hc);
    return hc.verdict == SGR_LOOKALIKE_KNOWN;
}

/* Lookalike and idn warnings for one header domain. */
static host_check warn_domain(explain_impl *x, const sgr_explain_opts *o, const char *what,
                              const char *fieldname, const char *domain)
{
    host_check hc;
    check_host(x, o, domain, NULL, &hc);
    /* the hit's own sentence names the domain and why: "From: paypa1.com
     * looks like paypal.com: '1' in place of 'l', which look the same" */
    if (hc.lookalike)
        add_warning(x, SGR_WARN_LOOKALIKE, fieldname, xprintf(x, "%s: %s", what, hc.lookalike));
    if (hc.idn)
        add_warning(x, SGR_WARN_IDN, fieldname, xprintf(x, "%s: %s", what, hc.idn));
    return hc;
}

/* The display name (or a quoted local part) as the name rules read it:
 * what a person sees, not the code points (fold.h; adv14 finding 4: one
 * invisible character after "service@paypal.com" hid the name). The name
 * itself when it cannot be folded (memory, ICU). */
static const char *name_folded(explain_impl *x, const char *name)
{
    const char *out;
    int rc = sgr_fold_seen(x->a, name, strlen(name), &out);
    if (rc == SG_ENOMEM)
        x->oom = 1;
    return rc == 0 ? out : name;
}

/* Domains and addresses named in a display name: "paypal.com",
 * "service@paypal.com". Only names under a real public suffix count
 * ("J. Smith" and "Dr.Who" name nothing). Returns the first whose
 * registrable domain differs from `real` (arena), else NULL. */
static const char *name_names_other(explain_impl *x, const sgr_lookalike *lk, const char *name,
                                    const char *real)
{
    const char *p = name;
    while (*p) {
        while (*p && !(isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80))
            p++;
        const char *s = p;
        while (*p && (isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '@' ||
                      *p == '_' || *p == '+' || (unsigned char)*p >= 0x80))
            p++;
        size_t l = (size_t)(p - s);
        if (l == 0 || l > 253) {
            if (*p)
                p++;
            continue;
        }
        char tok[256];
        memcpy(tok, s, l);
        tok[l] = '\0';
        while (l && (tok[l - 1] == '.' || tok[l - 1] == '-'))
            tok[--l] = '\0';
        char *dom = strrchr(tok, '@');
        dom = dom ? dom + 1 : tok;
        char *dot = strrchr(dom, '.');
        if (dot == NULL || dot == dom || dot[1] == '\0')
            continue;
        const char *ascii = alabel(x, dom);
        if (ascii == NULL)
            continue;
        const char *tld = strrchr(ascii, '.');
        if (tld == NULL)
            continue;
        /* a name under a real public suffix, or one of (or like one of)
         * the references, whatever its suffix ("bank.example") */
        if (!psl_is_public_suffix2(x->psl, tld + 1, PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE)) {
            sgr_lookalike_result res;
            if (lk == NULL || sgr_lookalike_check(lk, ascii, strlen(ascii), &res) != 0 ||
                (res.verdict != SGR_LOOKALIKE_KNOWN && res.verdict != SGR_LOOKALIKE_SUSPECT))
                continue;
        }
        const char *rd = registrable(x, ascii);
        if (rd && (real == NULL || strcmp(rd, real) != 0))
            return xstrdup(x, tok);
    }
    return NULL;
}

/* s as the name rules compare it with a domain: read through the
 * lookalike checker's skeleton ("Bаnk" with a Cyrillic а, "Вank" with a
 * Cyrillic В and "Exarnple" read as "bank", "example"; adv29 RD-4), after
 * ASCII lower case when lower_first ("BILL" is "bill", not "blll": the
 * skeleton reads a capital I as l), then its ASCII letters and digits in
 * lower case, the runs between them as one space, combining marks
 * dropped ("Bänk" reads "bank"), and "rn" as "m" (the skeleton keeps a
 * capital M, Greek Μ among them, but reads a small m as "rn"). Without a
 * checker or a skeleton that fits, s itself. In the arena; NULL on
 * memory. */
static char *name_reading(explain_impl *x, const sgr_lookalike *lk, const char *s, int lower_first)
{
    /* a skeleton takes up to 18 bytes a code point (U+FDFA) */
    size_t n = strlen(s), cap = n * 18 + 16;
    char *in = xstrdup(x, s), *sk = sg_arena_alloc(x->a, cap), *out = sg_arena_alloc(x->a, cap);
    if (in == NULL || sk == NULL || out == NULL) {
        x->oom = 1;
        return NULL;
    }
    for (char *p = in; lower_first && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    /* The skeleton 32 code points at a time: taken whole, 25 Hangul
     * syllables after "Bаnk Ехаmple" outgrew the buffer and the name was
     * read as written, its Cyrillic letters unread (rev21 R-3). A piece
     * with no skeleton stays as written. */
    size_t o = 0;
    for (int32_t i = 0, l = (int32_t)n; lk && i < l;) {
        char piece[32 * 4 + 1];
        int32_t start = i;
        for (int k = 0; k < 32 && i < l; k++) {
            UChar32 c;
            U8_NEXT(in, i, l, c);
            (void)c;
        }
        memcpy(piece, in + start, (size_t)(i - start));
        piece[i - start] = '\0';
        sgr_lookalike_skeleton(lk, piece, sk + o, cap - o);
        if (sk[o] == '\0')
            memcpy(sk + o, piece, (size_t)(i - start) + 1);
        o += strlen(sk + o);
    }
    sk[o] = '\0';
    const char *r = lk ? sk : in;
    o = 0;
    for (int32_t i = 0, l = (int32_t)strlen(r); i < l;) {
        UChar32 c;
        U8_NEXT(r, i, l, c);
        if (c >= 0 && c < 0x80 && isalnum(c))
            out[o++] = (char)tolower(c);
        else if (c >= 0 && u_charType(c) == U_NON_SPACING_MARK)
            continue;
        else if (o && out[o - 1] != ' ')
            out[o++] = ' ';
    }
    while (o && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
    size_t k = 0;
    for (size_t i = 0; i < o; i++) {
        if (out[i] == 'r' && out[i + 1] == 'n') {
            out[k++] = 'm';
            i++;
        } else {
            out[k++] = out[i];
        }
    }
    out[k] = '\0';
    return out;
}

/* s without its spaces, in place. */
static void squeeze(char *s)
{
    size_t k = 0;
    for (size_t i = 0; s[i]; i++)
        if (s[i] != ' ')
            s[k++] = s[i];
    s[k] = '\0';
}

/* Does the display name claim the reference domain ref by name, as a
 * person reads both (name_reading): its letters contain all of ref's
 * registrable domain ("Bank Example", "Bаnk Ехаmple" and bank.example),
 * or one of its words is ref's registrable label of at least 5 letters
 * ("PayPal" and paypal.com; "Bank" alone is a word too common to count)?
 * The name is read both lower-cased first and as written ("PayPaI" with a
 * capital I): name_read, once for every reference. */
typedef struct {
    char *words[2];   /* name_reading, lower-cased first and as written */
    char *letters[2]; /* the same without spaces */
} name_read;

/* 0, or -1 on memory (x->oom set). */
static int name_read_make(explain_impl *x, const sgr_lookalike *lk, const char *name, name_read *r)
{
    for (int as_written = 0; as_written < 2; as_written++) {
        r->words[as_written] = name_reading(x, lk, name, !as_written);
        r->letters[as_written] = r->words[as_written] ? xstrdup(x, r->words[as_written]) : NULL;
        if (r->letters[as_written] == NULL)
            return -1;
        squeeze(r->letters[as_written]);
    }
    return 0;
}

static int name_claims(explain_impl *x, const sgr_lookalike *lk, const name_read *nr,
                       const char *ref)
{
    const char *rd = registrable(x, ref);
    if (rd == NULL)
        return 0;
    const char *rdu = ulabel(x, rd);
    rdu = rdu ? rdu : rd;
    size_t ll = strcspn(rd, ".");
    char *rl = name_reading(x, lk, rdu, 1);
    const char *lu = xprintf(x, "%.*s", (int)strcspn(rdu, "."), rdu);
    char *label = lu ? name_reading(x, lk, lu, 1) : NULL;
    if (rl == NULL || label == NULL)
        return 0;
    squeeze(rl); /* "bank example" -> "bankexample" */
    /* a label of several words ("example-bank") is no one word */
    int one_word = ll >= 5 && label[0] && strchr(label, ' ') == NULL;
    for (int as_written = 0; as_written < 2; as_written++) {
        for (const char *w = nr->words[as_written]; one_word && *w;) {
            size_t l = strcspn(w, " ");
            if (l == strlen(label) && strncmp(w, label, l) == 0)
                return 1;
            w += l + (w[l] == ' ');
        }
        if (rl[0] && strstr(nr->letters[as_written], rl))
            return 1;
    }
    return 0;
}

/* ---- the body and its links ---------------------------------------------- */

static const char *link_host(const sgr_link *l)
{
    return l->host_unicode ? l->host_unicode : l->host;
}

static int render_body(explain_impl *x, const sgr_explain_opts *o, int interstitial,
                       host_check *cache, size_t *ncache)
{
    const sgr_mime_view *mv = x->pub.mime;
    sgr_sanitize_opts so;
    sgr_sanitize_opts_init(&so);
    so.link_mode = interstitial ? SGR_LINKS_INTERSTITIAL : SGR_LINKS_INERT;
    so.link_href = interstitial ? o->link_href : NULL;
    so.cid_src = o->cid_src;
    so.payload = o->payload;
    so.link_target = o->link_target;
    so.psl = x->psl;
    so.allow_remote_images = o->allow_remote_images && x->pub.headline == SGR_HEADLINE_VERIFIED;
    x->pub.remote_images_allowed = so.allow_remote_images;
    /* HTML cut at the MIME bound is not shown either: it renders as
     * whatever the cut left open (inside a <style>: nothing at all) */
    int rc = SG_ELIMIT;
    if (!mv->body_cut || !mv->body_is_html) {
        rc = mv->body_is_html ? sgr_sanitize_html(&x->san, mv->body, mv->body_len, &so)
                              : sgr_text_to_html(&x->san, mv->body, mv->body_len, &so);
        x->san_used = 1;
    }
    if (rc == SG_ENOMEM)
        return SGR_EXPLAIN_ENOMEM;
    if (rc != 0) {
        /* a body over the sanitizer's bounds is not shown: said instead */
        if (o->link_href) {
            x->pub.html = "<p>This message's body is too large or too deeply nested to be shown "
                          "safely.</p>";
            x->pub.html_len = strlen(x->pub.html);
        }
        return SGR_EXPLAIN_OK;
    }
    if (o->link_href) {
        x->pub.html = x->san.html;
        x->pub.html_len = x->san.html_len;
    }
    x->pub.remote_images_blocked = x->san.remote_images_blocked;
    size_t n = x->san.links.n;
    x->pub.links_truncated = x->san.links.truncated;
    if (n == 0)
        return SGR_EXPLAIN_OK;
    x->links = calloc(n, sizeof(*x->links));
    if (x->links == NULL)
        return SGR_EXPLAIN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const sgr_link *l = &x->san.links.v[i];
        sgr_link_view *v = &x->links[i];
        sgr_warning w[MAX_LINK_WARNINGS];
        size_t nw = 0;
        v->link = l;
        v->inert = !interstitial || (l->flags & SGR_LINK_BLOCKED) != 0;
        if (l->flags & SGR_LINK_BLOCKED)
            w[nw++] = (sgr_warning){"blocked_scheme", "link",
                                    xprintf(x, "A %.32s%s link is never followed.",
                                            l->scheme[0] ? l->scheme : "relative",
                                            l->scheme[0] ? ":" : "")};
        if (l->flags & SGR_LINK_TEXT_MISMATCH)
            w[nw++] =
                (sgr_warning){"text_mismatch", "link",
                              xprintf(x, "The link text names %.253s, the link goes to %.253s.",
                                      l->text_host ? l->text_host : "another address",
                                      l->host ? link_host(l) : l->target)};
        if (l->flags & SGR_LINK_IP_HOST)
            w[nw++] = (sgr_warning){"ip_host", "link",
                                    xprintf(x,
                                            "The link goes to a bare IP address (%.64s), "
                                            "not a named site.",
                                            l->host ? l->host : "")};
        if (l->flags & SGR_LINK_USERINFO)
            w[nw++] = (sgr_warning){"userinfo", "link",
                                    xprintf(x,
                                            "The link hides its real host behind a user name "
                                            "before '@': it goes to %.253s.",
                                            l->host ? link_host(l) : "another host")};
        if (l->flags & SGR_LINK_MAILTO_MORE)
            w[nw++] = (sgr_warning){"mailto_recipients", "link",
                                    xprintf(x,
                                            "The link writes to more addresses than the one at "
                                            "%.253s (to, cc or bcc in it): check every "
                                            "recipient before you send.",
                                            l->host ? link_host(l) : "the start")};
        if (l->flags & SGR_LINK_TEXT_BIDI)
            w[nw++] = (sgr_warning){"bidi_text", "link",
                                    "The link text holds characters that reverse the order "
                                    "in which it is shown: it may not say what it seems to."};
        if (l->host && !(l->flags & SGR_LINK_IP_HOST)) {
            host_check *hc = NULL, one;
            for (size_t k = 0; k < *ncache; k++)
                if (!strcmp(cache[k].host, l->host))
                    hc = &cache[k];
            if (hc == NULL) {
                /* past the cache every host is still checked: decoys
                 * first cannot hide the lookalike after them */
                hc = *ncache < MAX_HOST_CACHE ? &cache[(*ncache)++] : &one;
                check_host(x, o, l->host,
                           x->pub.headline == SGR_HEADLINE_VERIFIED
                               ? x->pub.identity.registrable_domain
                               : NULL,
                           hc);
                /* a suspect link host is a message-level warning too */
                if (hc->lookalike)
                    add_warning(x, SGR_WARN_LOOKALIKE, "link",
                                xprintf(x, "Link: %s", hc->lookalike));
                if (hc->idn)
                    add_warning(x, SGR_WARN_IDN, "link", xprintf(x, "Link: %s", hc->idn));
            }
            if (hc && hc->lookalike && nw < MAX_LINK_WARNINGS)
                w[nw++] = (sgr_warning){SGR_WARN_LOOKALIKE, "link", hc->lookalike};
            if (hc && hc->idn && nw < MAX_LINK_WARNINGS)
                w[nw++] = (sgr_warning){SGR_WARN_IDN, "link", hc->idn};
        }
        if (nw) {
            sgr_warning *cp = sg_arena_alloc(x->a, nw * sizeof(*cp));
            if (cp == NULL)
                return SGR_EXPLAIN_ENOMEM;
            size_t k = 0;
            for (size_t j = 0; j < nw; j++)
                if (w[j].detail)
                    cp[k++] = w[j];
            v->warnings = cp;
            v->nwarnings = k;
        }
    }
    x->pub.links = x->links;
    x->pub.nlinks = n;
    return SGR_EXPLAIN_OK;
}

/* ---- the whole explanation ------------------------------------------------ */

/* 1 when a passing signature or the SPF pass is in registrable domain rd:
 * that party did take part in sending the message. */
static int proven_party(explain_impl *x, const auth_facts *f, const char *rd)
{
    for (size_t i = 0; i < f->nsigs; i++)
        if (ieq(registrable(x, f->sigs[i].domain), rd))
            return 1;
    return f->mailed_by && ieq(registrable(x, f->mailed_by), rd);
}

static const char *headline_sentence(explain_impl *x, const auth_facts *f, sgr_headline h,
                                     const char *third, const char *from_domain)
{
    const char *why = f->reason ? f->reason : "";
    switch (h) {
    case SGR_HEADLINE_VERIFIED:
        return xprintf(x, "The sender's domain %s is proven (%s).", from_domain ? from_domain : "",
                       why);
    case SGR_HEADLINE_VERIFIED_THIRD_PARTY:
        return xprintf(x,
                       "Not proven to come from %s, but signed by %.253s, which handled it "
                       "(%s).",
                       from_domain ? from_domain : "the sender's domain", third ? third : "", why);
    case SGR_HEADLINE_FORGED:
        /* a malformed header proves no forgery, only that nothing in it
         * can be trusted (rev20 R-12) */
        if (x->malformed != NULL)
            return xprintf(x, "Treat it as forged: %s.", why);
        return xprintf(x, "This message is not from %s (%s).",
                       from_domain ? from_domain : "the sender it names", why);
    default:
        if (f->by == SGR_FROM_NONE)
            return "Nothing about the sender could be checked.";
        return xprintf(x, "The sender could not be proven (%s%s).", why,
                       f->temporary ? "; a temporary error: it may pass later" : "");
    }
}

int sgr_explain(sgr_explanation **out, const char *msg, size_t len,
                const sg_verdict_result *verdict, const sgr_explain_opts *opts)
{
    sgr_explain_opts defaults;
    explain_impl *x;
    auth_facts f;
    sg_authres ar;
    sg_dmarc_author author;
    int rc, have_ar;

    if (out == NULL || (msg == NULL && len > 0))
        return SGR_EXPLAIN_EINVAL;
    *out = NULL;
    if (msg == NULL)
        msg = "";
    if (opts == NULL) {
        sgr_explain_opts_init(&defaults);
        opts = &defaults;
    }
    if ((x = calloc(1, sizeof(*x))) == NULL)
        return SGR_EXPLAIN_ENOMEM;
    x->psl = opts->lookalike ? sgr_lookalike_psl(opts->lookalike) : psl_builtin();
    if (sg_arena_new(&x->a, 16384) != 0) {
        free(x);
        return SGR_EXPLAIN_ENOMEM;
    }
    if ((rc = read_header(&x->parser, &x->h, &x->nh, msg, len, &x->malformed)) != 0)
        goto fail;
    /* the MIME walk first: it also readies GMime for the display name */
    if ((rc = sgr_mime_parse(&x->mime, msg, len, opts->mime_limits)) != 0) {
        rc = rc == SGR_MIME_ENOMEM ? SGR_EXPLAIN_ENOMEM : SGR_EXPLAIN_EINVAL;
        goto fail;
    }
    x->pub.mime_handle = x->mime;
    x->pub.mime = sgr_mime_get(x->mime);

    memset(&author, 0, sizeof(author));
    author.status = SG_DMARC_AUTHOR_NO_FROM;
    if (sg_dmarc_author_domain(x->a, x->h, x->nh, &author) == SG_ENOMEM)
        goto oom;

    /* ---- the headline ---- */
    memset(&f, 0, sizeof(f));
    f.by = SGR_FROM_NONE;
    f.base = SGR_HEADLINE_UNVERIFIED;
    have_ar = trusted_authres(&ar, x->a, x->h, x->nh, opts->authserv_id);
    if (have_ar)
        facts_from_authres(x, &f, &ar, opts, &author);
    else if (verdict != NULL)
        facts_from_verdict(x, &f, verdict);
    x->pub.verified_by = f.by;
    x->pub.verdict = f.by == SGR_FROM_VERIFIED ? verdict : NULL;

    const char *from_domain = author.domain;
    for (size_t i = 0; i < f.nsigs; i++)
        f.sigs[i].aligned = aligned(x, &f, from_domain, f.sigs[i].domain);
    int any_aligned = 0;
    for (size_t i = 0; i < f.nsigs; i++)
        any_aligned |= f.sigs[i].aligned;

    if (f.by == SGR_FROM_AUTHRES && f.base == SGR_HEADLINE_VERIFIED) {
        /* verdict.c: a pass by DKIM alone with an unsigned second
         * instance of a displayed field is not authentic */
        int dup = 0;
        (void)uncovered_fields(x, &f, 1, NULL, 0, &dup);
        if (dup && !f.spf_aligned) {
            f.base = SGR_HEADLINE_UNVERIFIED;
            f.replayed = 1;
            f.reason = "DMARC pass by DKIM alone, but a displayed field appears twice and an "
                       "unsigned instance would be shown (RFC 5322 3.6)";
        }
    }

    if (x->malformed != NULL) {
        /* spoofguardd refuses such a header (550 5.6.0): readers disagree on
         * what it says, the From they show included, so nothing in it is
         * the sender's; never the milder "unverified" (adv26 CLI-5) */
        f.base = SGR_HEADLINE_FORGED;
        f.reason = xprintf(x,
                           "%s; mail checked by spoofguard is refused for it, and mail "
                           "readers disagree on what it says",
                           x->malformed);
    }
    sgr_headline h = f.base;
    const char *third = NULL;
    /* A third party's signature never lifts a replay: the From domain's
     * own signature passed, but a displayed field was added unsigned, and
     * anyone can sign his additions with a domain of his own (adv14 F2) */
    const char *arc_sealer = NULL, *sender_dom = NULL;
    const char *arc =
        arc_summary(x, f.by == SGR_FROM_VERIFIED ? verdict : NULL, &ar, have_ar, &arc_sealer);
    const char *ss = addr_specs(x, field(x, "Sender", NULL), &sender_dom);
    if (h == SGR_HEADLINE_UNVERIFIED && !f.replayed) {
        /* The signer to name: one the message itself says handled it (the
         * list its List-Id names, the sealer of its passing ARC chain, the
         * agent its Sender field names: RFC 5322 3.6.2) and that the
         * reader knows from outside the message: one of ours, or in the
         * viewer a correspondent that sent verified mail. Any other
         * signature proves only that its signer signed: an attacker's own
         * signature on a spoof of a p=none domain made its links one click
         * (adv29 RD-3), and the relations are his to write as well - a
         * Sender or List-Id naming his domain, his own ARC seal (rev21
         * */
        const sg_header *lid = field(x, "List-Id", NULL);
        const char *sealer_rd = arc_sealer ? registrable(x, arc_sealer) : NULL;
        const char *sender_rd = sender_dom ? registrable(x, sender_dom) : NULL;
        int best = -1, score = 0;
        for (size_t i = 0; i < f.nsigs; i++) {
            if (f.sigs[i].aligned)
                continue;
            int s = 0;
            const char *rd = registrable(x, f.sigs[i].domain);
            if (lid && rd && names_domain(lid->value, rd))
                s = 2;
            else if (rd && ((sealer_rd && ieq(sealer_rd, rd)) || (sender_rd && ieq(sender_rd, rd))))
                s = 1;
            if (s > score && known_party(x, opts, f.sigs[i].domain)) {
                score = s;
                best = (int)i;
            }
        }
        if (best >= 0) {
            h = SGR_HEADLINE_VERIFIED_THIRD_PARTY;
            third = f.sigs[best].domain;
        }
    }
    x->pub.headline = h;
    x->pub.third_party = third;

    /* ---- identity ---- */
    sgr_identity *id = &x->pub.identity;
    const sg_header *from = field(x, "From", NULL);
    id->display_name = "";
    if (from) {
        sg_addr_list l;
        if (sg_addr_parse_list(x->a, from->value, from->value_len, &l, NULL) == 0 && l.count) {
            id->display_name = display_name(x, l.mailboxes[0].display);
            char buf[1024];
            int n =
                snprintf(buf, sizeof(buf), "%s@%s", l.mailboxes[0].local, l.mailboxes[0].domain);
            id->address =
                clean_text(x, buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1, sizeof(buf));
            if (from_domain == NULL)
                from_domain = alabel(x, l.mailboxes[0].domain);
        }
    }
    if (from_domain == NULL && author.domain_raw)
        from_domain = alabel(x, author.domain_raw);
    id->domain = from_domain;
    id->domain_unicode = ulabel(x, from_domain);
    id->registrable_domain = registrable(x, from_domain);
    if (f.nsigs) {
        x->sigs = sg_arena_calloc(x->a, f.nsigs, sizeof(*x->sigs));
        if (x->sigs == NULL)
            goto oom;
        for (size_t i = 0; i < f.nsigs; i++)
            x->sigs[i] = (sgr_signed_by){f.sigs[i].domain, f.sigs[i].selector, f.sigs[i].algorithm,
                                         f.sigs[i].key_bits, f.sigs[i].aligned};
        id->signed_by = x->sigs;
        id->nsigned_by = f.nsigs;
    }
    id->mailed_by = f.mailed_by;
    if (!any_aligned && f.nsigs)
        id->via = f.sigs[0].domain;
    if (third)
        id->via = third;
    const char *reply_dom = NULL;
    const sg_header *rt = field(x, "Reply-To", NULL);
    const char *rts = addr_specs(x, rt, &reply_dom);
    if (rts && !(id->address && ieq(rts, id->address)))
        id->reply_to = rts;
    if (ss && !(id->address && ieq(ss, id->address)))
        id->sender = ss;
    const sg_header *lid = field(x, "List-Id", NULL);
    if (lid)
        id->list_id = clean_text(x, lid->value, lid->value_len, MAX_FIELD_SHOWN);
    id->arc = arc;

    /* ---- warnings on the header ---- */
    host_check from_hc = warn_domain(x, opts, "From", "from", from_domain);

    /* What was proven is the A-label: a sentence that says "bаnk.example
     * is proven" in Unicode reads as bank.example (adv29 RD-2). The
     * Unicode form only beside it, and never for a name that resembles
     * another. */
    const char *named = from_domain;
    if (from_domain && id->domain_unicode && !from_hc.lookalike && !from_hc.idn)
        named = xprintf(x, "%.253s (shown as %.1024s)", from_domain, id->domain_unicode);
    const char *third_a = third ? alabel(x, third) : NULL;
    x->pub.headline_detail = headline_sentence(x, &f, h, third_a ? third_a : third, named);
    host_check rt_hc;
    memset(&rt_hc, 0, sizeof(rt_hc));
    if (id->reply_to && reply_dom && !ieq(reply_dom, from_domain))
        rt_hc = warn_domain(x, opts, "Reply-To", "reply-to", reply_dom);
    if (id->sender && sender_dom && !ieq(sender_dom, from_domain) && !ieq(sender_dom, reply_dom))
        (void)warn_domain(x, opts, "Sender", "sender", sender_dom);
    /* A signer the panel names (third party, via) looks like ours just as
     * a From would (adv29 RD-3); an aligned one is the From's own. Not in
     * verified mail, whose proof is the From's, and by its registrable
     * domain: the labels below are the signer's own business, and Google
     * signs a Workspace domain's mail as ourco-example.20230601.
     * gappssmtp.com, which read as ourco.example (rev21 R-4). */
    for (size_t i = 0; h != SGR_HEADLINE_VERIFIED && i < f.nsigs; i++) {
        const char *rd = registrable(x, f.sigs[i].domain);
        int dup = rd == NULL || f.sigs[i].aligned || ieq(f.sigs[i].domain, sender_dom) ||
                  ieq(f.sigs[i].domain, reply_dom);
        for (size_t k = 0; k < i && !dup; k++)
            dup = !f.sigs[k].aligned && ieq(registrable(x, f.sigs[k].domain), rd);
        if (!dup)
            (void)warn_domain(x, opts, "Signed by", "signed-by", rd);
    }

    /* where the address is, as the warnings below say it */
    const char *at_domain = id->domain_unicode ? id->domain_unicode
                            : from_domain      ? from_domain
                                               : "another domain";
    /* a quoted local part a reader shows whole ("payroll@ourco.test"@shop.test,
     * adv14 finding 5): read like a display name, folded before its at
     * sign is looked for ("payroll＠ourco.test", adv29 RD-5). Without an
     * at sign it is not read: a dotted local part ("jane.name", "sales.de")
     * is a person or a department far more often than a claim. */
    const char *last_at = id->address ? strrchr(id->address, '@') : NULL;
    const char *local =
        last_at ? xprintf(x, "%.*s", (int)(last_at - id->address), id->address) : NULL;
    const char *local_seen = local ? name_folded(x, local) : NULL;
    if (local_seen && strchr(local_seen, '@')) {
        const char *other =
            name_names_other(x, opts->lookalike, local_seen, id->registrable_domain);
        if (other)
            add_warning(x, SGR_WARN_DISPLAY_NAME, "from",
                        xprintf(x, "The address begins with %.253s, but it is at %.253s.", other,
                                at_domain));
    }
    if (id->display_name[0]) {
        const char *seen = name_folded(x, id->display_name);
        const char *other = name_names_other(x, opts->lookalike, seen, id->registrable_domain);
        if (other)
            add_warning(
                x, SGR_WARN_DISPLAY_NAME, "from",
                xprintf(x, "The name says %.253s, the address is at %.253s.", other, at_domain));
        /* the name of one of our domains, or of the reference the From
         * domain resembles, on an address elsewhere */
        const char *claimed = NULL;
        name_read nr;
        int readable = !other && (opts->nprotected > 0 || from_hc.ref) &&
                       name_read_make(x, opts->lookalike, seen, &nr) == 0;
        for (size_t i = 0; readable && !claimed && i < opts->nprotected; i++) {
            const char *p = alabel(x, opts->protected_domains[i]);
            if (p && !ieq(registrable(x, p), id->registrable_domain) &&
                name_claims(x, opts->lookalike, &nr, p))
                claimed = p;
        }
        if (readable && !claimed && from_hc.ref &&
            name_claims(x, opts->lookalike, &nr, from_hc.ref))
            claimed = from_hc.ref;
        if (claimed)
            add_warning(x, SGR_WARN_DISPLAY_NAME, "from",
                        xprintf(x,
                                "The name says %.200s, like %.253s, but the address is at "
                                "%.253s.",
                                id->display_name, claimed,
                                from_domain ? from_domain : "another domain"));
        const sgr_correspondents *c = opts->correspondents;
        const char *owner = c && c->name_owner && id->address
                                ? c->name_owner(c->payload, id->display_name, lower(x, id->address))
                                : NULL;
        if (owner && !ieq(owner, id->address))
            add_warning(x, SGR_WARN_DISPLAY_NAME, "from",
                        xprintf(x,
                                "The name \"%.200s\" belongs to %.253s, whom you know; this "
                                "message is from %.253s.",
                                id->display_name, owner, id->address));
    }
    if (opts->correspondents && opts->correspondents->seen && id->address) {
        const char *low = lower(x, id->address);
        if (low && opts->correspondents->seen(opts->correspondents->payload, low) == 0)
            add_warning(
                x, SGR_WARN_FIRST_CONTACT, "from",
                xprintf(x, "This is the first message from %.253s in this mailbox.", id->address));
    }
    if (id->reply_to && reply_dom) {
        const char *rr = registrable(x, reply_dom);
        int differs = rr && !ieq(rr, id->registrable_domain);
        /* a list that asks replies to itself is what it says it is */
        if (differs && h == SGR_HEADLINE_VERIFIED_THIRD_PARTY && ieq(rr, registrable(x, third)))
            differs = 0;
        if (differs && (h != SGR_HEADLINE_VERIFIED || rt_hc.lookalike || rt_hc.idn))
            add_warning(x, SGR_WARN_REPLY_TO, "reply-to",
                        xprintf(x, "Replies go to %.253s, not to the sender's domain %.253s.", rts,
                                id->registrable_domain ? id->registrable_domain : "(none)"));
    }
    /* A Sender names a party that nothing here proves sent the message:
     * verified mail from attacker.example with "Sender:
     * security@bank.example" otherwise listed the bank in the panel
     * without a word (adv29 RD-6). */
    const char *sender_rd = id->sender && sender_dom ? registrable(x, sender_dom) : NULL;
    if (sender_rd && !ieq(sender_rd, id->registrable_domain) && !proven_party(x, &f, sender_rd))
        add_warning(x, SGR_WARN_SENDER, "sender",
                    xprintf(x,
                            "The Sender field names %.253s, but %.253s did not send this: no "
                            "signature or SPF pass of it.",
                            ss, sender_rd));
    if (h == SGR_HEADLINE_VERIFIED || h == SGR_HEADLINE_VERIFIED_THIRD_PARTY) {
        /* the verdict's own list when it is the source (verdict.h
         * unsigned_fields); from an A-R, or for a third party's signature,
         * the same rule over the signatures' h= tags */
        int dup, any = 0;
        const char *un = NULL;
        const char *who = h == SGR_HEADLINE_VERIFIED ? from_domain : third;
        if (h == SGR_HEADLINE_VERIFIED && f.by == SGR_FROM_VERIFIED) {
            char buf[256];
            size_t n = 0;
            buf[0] = '\0';
            const char *panel = uncovered_fields(x, &f, 1, NULL, 1, &dup);
            for (size_t i = 0; i < verdict->nunsigned_fields && n < sizeof(buf) - 1; i++) {
                n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? ", " : "",
                                      verdict->unsigned_fields[i]);
                if (n >= sizeof(buf))
                    n = sizeof(buf) - 1;
            }
            if (panel && n < sizeof(buf) - 1)
                n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? ", " : "", panel);
            if (n >= sizeof(buf))
                n = sizeof(buf) - 1;
            un = n ? xstrdup(x, buf) : NULL;
        } else {
            un = uncovered_fields(x, &f, h == SGR_HEADLINE_VERIFIED, third, 0, &dup);
        }
        for (size_t i = 0; i < f.nsigs; i++)
            any |= h == SGR_HEADLINE_VERIFIED ? f.sigs[i].aligned : ieq(f.sigs[i].domain, third);
        if (un && any)
            add_warning(x, SGR_WARN_UNSIGNED_FIELD, "header",
                        xprintf(x,
                                "%s %s not covered by %.253s's signature: what is shown there "
                                "may have been changed.",
                                un, strchr(un, ',') ? "are" : "is", who ? who : "the sender"));
        else if (un)
            add_warning(x, SGR_WARN_UNSIGNED_FIELD, "header",
                        xprintf(x,
                                "The sender is proven by SPF alone: no signature covers %s, so "
                                "what is shown there may have been changed.",
                                un));
    }
    const sgr_mime_view *mv = x->pub.mime;
    for (size_t i = 0; i < mv->nparts; i++)
        if (mv->parts[i].risk && mv->parts[i].role == SGR_PART_ATTACHMENT)
            add_warning(x, SGR_WARN_ATTACHMENT, "attachment",
                        mv->parts[i].risk_detail
                            ? xprintf(x, "%.200s: %s",
                                      mv->parts[i].filename ? mv->parts[i].filename
                                                            : mv->parts[i].content_type,
                                      mv->parts[i].risk_detail)
                            : NULL);

    /* ---- the body and its links ---- */
    host_check cache[MAX_HOST_CACHE];
    size_t ncache = 0;
    int interstitial = opts->link_href != NULL &&
                       (h == SGR_HEADLINE_VERIFIED || h == SGR_HEADLINE_VERIFIED_THIRD_PARTY);
    if (!opts->skip_body && (rc = render_body(x, opts, interstitial, cache, &ncache)) != 0)
        goto fail;
    if (x->oom)
        goto oom;
    x->pub.warnings = x->warn;
    x->pub.nwarnings = x->nwarn;
    *out = &x->pub;
    return SGR_EXPLAIN_OK;
oom:
    rc = SGR_EXPLAIN_ENOMEM;
fail:
    sgr_explain_free(&x->pub);
    return rc;
}

void sgr_explain_free(sgr_explanation *e)
{
    explain_impl *x = (explain_impl *)e;
    if (x == NULL)
        return;
    if (x->san_used)
        sgr_sanitize_result_free(&x->san);
    sgr_mime_free(x->mime);
    sg_msg_parser_free(x->parser);
    sg_arena_free(x->a);
    free(x->warn);
    free(x->links);
    free(x);
}
