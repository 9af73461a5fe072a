/*
 * The aggregate report's XML, read with libxml2's SAX2 push parser: no tree
 * is built, chunks come straight from the inflater, and memory stays the
 * same whatever the number of records.
 *
 * Hostile XML: a DOCTYPE is refused outright (reports never carry one), so
 * no entity can be declared, internal or external, and no DTD is loaded;
 * XML_PARSE_NONET, never XML_PARSE_NOENT or XML_PARSE_DTDLOAD. Nesting,
 * text between tags and records are bounded (sgrep_limits).
 *
 * Messy real reports: elements are matched by local name in any namespace
 * (RFC 7489's, RFC 9990's, GMX's own, none); results are lower-cased and
 * trimmed; a <feedback> wrapped in other elements is found; libxml2's
 * recovery reads past a stray '<' or bytes that are not UTF-8 (veeam's and
 * accurateplastics' reports), but a document whose </feedback> never comes
 * (truncated) is refused.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <spoofguard/common.h>
#include <time.h>

#include "reports.h"

/* Where the parser is: the element ids of the open elements. */
enum {
    E_NONE = 0,
    E_WRAP, /* an element around <feedback> (or the document's root) */
    E_SKIP, /* a subtree we do not read (extensions, unknown elements) */
    E_FEEDBACK,
    E_META,
    E_RANGE,
    E_POLICY,
    E_RECORD,
    E_ROW,
    E_PEVAL,
    E_REASON,
    E_IDENT,
    E_AUTH,
    E_ADKIM,
    E_ASPF,
    /* leaves: text is kept */
    L_FIRST,
    L_ORG = L_FIRST,
    L_EMAIL,
    L_REPORT_ID,
    L_GENERATOR,
    L_BEGIN,
    L_END,
    L_P_DOMAIN,
    L_P_ADKIM,
    L_P_ASPF,
    L_P_P,
    L_P_SP,
    L_P_NP,
    L_P_PCT,
    L_P_FO,
    L_P_TESTING,
    L_P_DISCOVERY,
    L_SOURCE_IP,
    L_COUNT,
    L_DISPOSITION,
    L_PE_DKIM,
    L_PE_SPF,
    L_REASON_TYPE,
    L_REASON_COMMENT,
    L_HEADER_FROM,
    L_ENV_FROM,
    L_ENV_TO,
    L_AD_DOMAIN,
    L_AD_SELECTOR,
    L_AD_RESULT,
    L_AD_HUMAN,
    L_AS_DOMAIN,
    L_AS_SCOPE,
    L_AS_RESULT,
    L_AS_HUMAN,
};

static const struct {
    unsigned char parent;
    const char *name;
    unsigned char id;
} children[] = {
    {E_FEEDBACK, "report_metadata", E_META},
    {E_FEEDBACK, "policy_published", E_POLICY},
    {E_FEEDBACK, "record", E_RECORD},
    {E_META, "org_name", L_ORG},
    {E_META, "email", L_EMAIL},
    {E_META, "report_id", L_REPORT_ID},
    {E_META, "generator", L_GENERATOR},
    {E_META, "date_range", E_RANGE},
    {E_RANGE, "begin", L_BEGIN},
    {E_RANGE, "end", L_END},
    {E_POLICY, "domain", L_P_DOMAIN},
    {E_POLICY, "adkim", L_P_ADKIM},
    {E_POLICY, "aspf", L_P_ASPF},
    {E_POLICY, "p", L_P_P},
    {E_POLICY, "sp", L_P_SP},
    {E_POLICY, "np", L_P_NP},
    {E_POLICY, "pct", L_P_PCT},
    {E_POLICY, "fo", L_P_FO},
    {E_POLICY, "testing", L_P_TESTING},
    {E_POLICY, "discovery_method", L_P_DISCOVERY},
    {E_RECORD, "row", E_ROW},
    {E_RECORD, "identifiers", E_IDENT},
    {E_RECORD, "auth_results", E_AUTH},
    {E_ROW, "source_ip", L_SOURCE_IP},
    {E_ROW, "count", L_COUNT},
    {E_ROW, "policy_evaluated", E_PEVAL},
    {E_PEVAL, "disposition", L_DISPOSITION},
    {E_PEVAL, "dkim", L_PE_DKIM},
    {E_PEVAL, "spf", L_PE_SPF},
    {E_PEVAL, "reason", E_REASON},
    {E_REASON, "type", L_REASON_TYPE},
    {E_REASON, "comment", L_REASON_COMMENT},
    {E_IDENT, "header_from", L_HEADER_FROM},
    {E_IDENT, "envelope_from", L_ENV_FROM},
    {E_IDENT, "envelope_to", L_ENV_TO},
    {E_AUTH, "dkim", E_ADKIM},
    {E_AUTH, "spf", E_ASPF},
    {E_ADKIM, "domain", L_AD_DOMAIN},
    {E_ADKIM, "selector", L_AD_SELECTOR},
    {E_ADKIM, "result", L_AD_RESULT},
    {E_ADKIM, "human_result", L_AD_HUMAN},
    {E_ASPF, "domain", L_AS_DOMAIN},
    {E_ASPF, "scope", L_AS_SCOPE},
    {E_ASPF, "result", L_AS_RESULT},
    {E_ASPF, "human_result", L_AS_HUMAN},
};

#define MAX_STACK 256

/* Distinct names of elements we do not read (extensions, unknown):
 * real reports have a handful. */
#define MAX_SKIPPED_NAMES 1000
/* One tag, comment or other markup: a start tag of ~10,000 attributes. */
#define MAX_MARKUP (64u * 1024)
enum { SCAN_OUT, SCAN_OPEN, SCAN_TAG, SCAN_OTHER };

struct sgrep_xml {
    sgrep_limits lim;
    const sgrep_sink *sink;
    xmlParserCtxtPtr ctxt;
    unsigned char stack[MAX_STACK];
    uint32_t names[MAX_STACK]; /* hash of each open element's local name */
    int mismatch;              /* libxml2 just said an end tag did not match */
    int fed;                   /* bytes were fed already */
    int utf16;                 /* the document starts with a UTF-16 byte order mark */
    uint32_t mismatch_name;    /* ... and this is the end tag's own name */
    unsigned depth;            /* open elements; stack[] holds the first MAX_STACK */
    int found;                 /* a <feedback> was opened */
    int complete;              /* ... and closed */
    int failed;                /* err is set; the parser was stopped */
    int sink_status;
    char *text;
    size_t text_len, text_cap;
    size_t run; /* character data since the last tag */
    sgrep_report rep;
    sgrep_record rec;
    unsigned reasons; /* reason elements in the current record */
    char err[256];
    /* libxml2 2.9's name dictionary stops growing its table, so each new
     * element or attribute name costs in proportion to those it holds
     * (1.5M distinct names: 46 s), and its start-tag parser compares
     * each attribute with every earlier one (120,000 in one tag: 7 s),
     * both before any callback of ours. Names of elements we skip are
     * counted here (distinct, by hash), and the bytes are scanned before
     * libxml2 sees them for markup longer than MAX_MARKUP. */
    uint32_t skipped[2 * MAX_SKIPPED_NAMES];
    unsigned nskipped;
    unsigned char scan; /* SCAN_* */
    char scan_q;        /* the quote a start tag's value is in */
    size_t scan_len;    /* bytes of the markup so far */
};

void sgrep_limits_init(sgrep_limits *l)
{
    l->max_input = SGREP_MAX_INPUT;
    l->max_inflated = SGREP_MAX_INFLATED;
    l->max_ratio = SGREP_MAX_RATIO;
    l->ratio_floor = SGREP_RATIO_FLOOR;
    l->max_records = SGREP_MAX_RECORDS;
    l->max_depth = SGREP_MAX_DEPTH;
    l->max_text = SGREP_MAX_TEXT;
    l->now = 0;
}

static void fail(sgrep_xml *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(sgrep_xml *x, const char *fmt, ...)
{
    if (x->failed)
        return;
    x->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err, sizeof x->err, fmt, ap);
    va_end(ap);
    if (x->ctxt)
        xmlStopParser(x->ctxt);
}

/* Trimmed copy of the collected text into dst[cap]; lower: ASCII lower case. */
static void keep(const sgrep_xml *x, char *dst, size_t cap, int lower)
{
    if (!x->text_len) { /* x->text may still be NULL */
        dst[0] = 0;
        return;
    }
    const char *s = x->text, *e = x->text + x->text_len;
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    size_t n = (size_t)(e - s);
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = (char)(c == 0 ? ' ' : lower ? tolower(c) : c);
    }
    dst[n] = 0;
}

/* A non-negative decimal, whitespace around it allowed; -1 when not one. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static void end_record(sgrep_xml *x)
{
    sgrep_report *r = &x->rep;
    if (r->records >= x->lim.max_records) {
        fail(x, "more than %llu records", (unsigned long long)x->lim.max_records);
        return;
    }
    r->records++;
    r->messages += x->rec.count;
    /* sums over many reports must stay far from 2^63 (SQLite's sum) */
    if (r->messages > SGREP_MAX_MESSAGES) {
        fail(x, "the records' counts add up to more than %llu messages",
             (unsigned long long)SGREP_MAX_MESSAGES);
        return;
    }
    if (!strcmp(x->rec.dkim, "pass"))
        r->dkim_aligned_pass += x->rec.count;
    if (!strcmp(x->rec.spf, "pass"))
        r->spf_aligned_pass += x->rec.count;
    sgrep_tally_add(r->disposition, &r->ndisposition,
                    *x->rec.disposition ? x->rec.disposition : "unknown", x->rec.count);
    if (*x->rec.reason_type)
        sgrep_reason_tally_add(r->reason, &r->nreason, x->rec.reason_type, x->rec.count);
    if (x->sink && x->sink->record) {
        int rc = x->sink->record(x->sink->ctx, r, &x->rec);
        if (rc) {
            x->sink_status = rc;
            fail(x, "the store refused record %llu", (unsigned long long)r->records);
        }
    }
}

static void end_leaf(sgrep_xml *x, unsigned id)
{
    sgrep_report *r = &x->rep;
    sgrep_record *c = &x->rec;
    sgrep_auth *ad = c->ndkim ? &c->dkim_auth[(c->ndkim - 1) % SGREP_MAX_AUTH] : NULL;
    sgrep_auth *as = c->nspf ? &c->spf_auth[(c->nspf - 1) % SGREP_MAX_AUTH] : NULL;
    char num[32];
    uint64_t v;
    switch (id) {
    case L_ORG:
        keep(x, r->org_name, sizeof r->org_name, 0);
        break;
    case L_EMAIL:
        keep(x, r->email, sizeof r->email, 0);
        break;
    case L_REPORT_ID:
        keep(x, r->report_id, sizeof r->report_id, 0);
        break;
    case L_GENERATOR:
        keep(x, r->generator, sizeof r->generator, 0);
        break;
    case L_BEGIN:
    case L_END:
        keep(x, num, sizeof num, 0);
        /* a fraction some reporters add ("1538204542.0") is dropped */
        if (strchr(num, '.'))
            *strchr(num, '.') = 0;
        if (parse_u64(num, &v) || v > INT64_MAX)
            fail(x, "date_range %s is not a number of seconds", id == L_BEGIN ? "begin" : "end");
        else if (id == L_BEGIN)
            r->begin = (int64_t)v;
        else
            r->end = (int64_t)v;
        break;
    case L_P_DOMAIN:
        keep(x, r->policy_domain, sizeof r->policy_domain, 1);
        break;
    case L_P_ADKIM:
        keep(x, r->adkim, sizeof r->adkim, 1);
        break;
    case L_P_ASPF:
        keep(x, r->aspf, sizeof r->aspf, 1);
        break;
    case L_P_P:
        keep(x, r->p, sizeof r->p, 1);
        break;
    case L_P_SP:
        keep(x, r->sp, sizeof r->sp, 1);
        break;
    case L_P_NP:
        keep(x, r->np, sizeof r->np, 1);
        break;
    case L_P_PCT:
        keep(x, r->pct, sizeof r->pct, 0);
        break;
    case L_P_FO:
        keep(x, r->fo, sizeof r->fo, 1);
        break;
    case L_P_TESTING:
        keep(x, r->testing, sizeof r->testing, 1);
        break;
    case L_P_DISCOVERY:
        keep(x, r->discovery_method, sizeof r->discovery_method, 1);
        break;
    case L_SOURCE_IP:
        keep(x, c->source_ip, sizeof c->source_ip, 1);
        break;
    case L_COUNT:
        keep(x, num, sizeof num, 0);
        if (parse_u64(num, &v) || v > UINT32_MAX * 1024ull)
            fail(x, "record %llu: count is not a number", (unsigned long long)r->records + 1);
        else if (v > SGREP_MAX_COUNT)
            fail(x, "record %llu: count over %llu", (unsigned long long)r->records + 1,
                 SGREP_MAX_COUNT);
        else
            c->count = v;
        break;
    case L_DISPOSITION:
        keep(x, c->disposition, sizeof c->disposition, 1);
        break;
    case L_PE_DKIM:
        keep(x, c->dkim, sizeof c->dkim, 1);
        break;
    case L_PE_SPF:
        keep(x, c->spf, sizeof c->spf, 1);
        break;
    case L_REASON_TYPE:
        if (x->reasons == 1)
            keep(x, c->reason_type, sizeof c->reason_type, 1);
        break;
    case L_REASON_COMMENT:
        if (x->reasons == 1)
            keep(x, c->reason_comment, sizeof c->reason_comment, 0);
        break;
    case L_HEADER_FROM:
        keep(x, c->header_from, sizeof c->header_from, 1);
        break;
    case L_ENV_FROM:
        keep(x, c->envelope_from, sizeof c->envelope_from, 1);
        break;
    case L_ENV_TO:
        keep(x, c->envelope_to, sizeof c->envelope_to, 1);
        break;
    case L_AD_DOMAIN:
        if (ad && c->ndkim <= SGREP_MAX_AUTH)
            keep(x, ad->domain, sizeof ad->domain, 1);
        break;
    case L_AD_SELECTOR:
        if (ad && c->ndkim <= SGREP_MAX_AUTH)
            keep(x, ad->selector, sizeof ad->selector, 0);
        break;
    case L_AD_RESULT:
        if (ad && c->ndkim <= SGREP_MAX_AUTH)
            keep(x, ad->result, sizeof ad->result, 1);
        break;
    case L_AD_HUMAN:
        if (ad && c->ndkim <= SGREP_MAX_AUTH)
            keep(x, ad->human_result, sizeof ad->human_result, 0);
        break;
    case L_AS_DOMAIN:
        if (as && c->nspf <= SGREP_MAX_AUTH)
            keep(x, as->domain, sizeof as->domain, 1);
        break;
    case L_AS_SCOPE:
        if (as && c->nspf <= SGREP_MAX_AUTH)
            keep(x, as->scope, sizeof as->scope, 1);
        break;
    case L_AS_RESULT:
        if (as && c->nspf <= SGREP_MAX_AUTH)
            keep(x, as->result, sizeof as->result, 1);
        break;
    case L_AS_HUMAN:
        if (as && c->nspf <= SGREP_MAX_AUTH)
            keep(x, as->human_result, sizeof as->human_result, 0);
        break;
    default:
        break;
    }
}

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static unsigned child_id(unsigned parent, const char *name)
{
    if (parent == E_NONE || parent == E_WRAP)
        return strcmp(name, "feedback") ? E_WRAP : E_FEEDBACK;
    if (parent == E_SKIP || parent >= L_FIRST)
        return E_SKIP;
    for (size_t i = 0; i < sizeof children / sizeof children[0]; i++)
        if (children[i].parent == parent && !strcmp(children[i].name, name))
            return children[i].id;
    return E_SKIP;
}

/* Note a skipped element's name: -1 once there are too many distinct. */
static int skipped_name(sgrep_xml *x, uint32_t h)
{
    size_t cap = sizeof(x->skipped) / sizeof(x->skipped[0]), i = h % cap;
    h |= 1; /* 0 marks a free slot */
    for (; x->skipped[i] != 0; i = (i + 1) % cap)
        if (x->skipped[i] == h)
            return 0;
    if (x->nskipped >= MAX_SKIPPED_NAMES)
        return -1;
    x->skipped[i] = h;
    x->nskipped++;
    return 0;
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                     int nb_namespaces, const xmlChar **namespaces, int nb_attributes,
                     int nb_defaulted, const xmlChar **attributes)
{
    sgrep_xml *x = ctx;
    if (x->failed)
        return;
    if (x->depth >= x->lim.max_depth || x->depth >= MAX_STACK) {
        fail(x, "elements nested deeper than %llu", (unsigned long long)x->lim.max_depth);
        return;
    }
    unsigned parent = x->depth ? x->stack[x->depth - 1] : E_NONE;
    if (x->complete && (parent == E_NONE || parent == E_WRAP))
        parent = E_SKIP; /* one report a document: a second <feedback> is not read */
    unsigned id = child_id(parent, (const char *)localname);
    x->names[x->depth] = name_hash((const char *)localname);
    if (id == E_SKIP && skipped_name(x, x->names[x->depth]) != 0) {
        fail(x, "more than %u distinct names of elements not read", MAX_SKIPPED_NAMES);
        return;
    }
    x->stack[x->depth++] = (unsigned char)id;
    x->run = 0;
    x->text_len = 0;
    switch (id) {
    case E_FEEDBACK:
        x->found = 1;
        if (uri && strstr((const char *)uri, "dmarc-2.0"))
            x->rep.ns = SGREP_NS_RFC9990;
        else if (uri && strstr((const char *)uri, "dmarc-xml/0.1"))
            x->rep.ns = SGREP_NS_RFC7489;
        break;
    case E_RECORD:
        memset(&x->rec, 0, sizeof x->rec);
        x->reasons = 0;
        break;
    case E_REASON:
        x->reasons++;
        break;
    case E_ADKIM:
        x->rec.ndkim++;
        break;
    case E_ASPF:
        x->rec.nspf++;
        break;
    default:
        break;
    }
}

static void close_top(sgrep_xml *x)
{
    unsigned id = x->stack[--x->depth];
    if (id >= L_FIRST)
        end_leaf(x, id);
    else if (id == E_RECORD)
        end_record(x);
    else if (id == E_FEEDBACK)
        x->complete = 1;
    x->run = 0;
    x->text_len = 0;
}

/* libxml2's push parser, recovering from a stray '<' ("<email><x@y></email>",
 * veeam's report), closes its own idea of the open element while the end
 * tag names another: the end tag's name (from the mismatch error) says
 * which of ours it closes. An end tag naming nothing open is ignored. */
static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    sgrep_xml *x = ctx;
    if (x->failed || x->depth == 0)
        return;
    if (!x->mismatch) {
        close_top(x);
        return;
    }
    x->mismatch = 0;
    unsigned i = x->depth;
    while (i > 0 && x->names[i - 1] != x->mismatch_name)
        i--;
    if (i == 0)
        return;
    while (!x->failed && x->depth >= i)
        close_top(x);
}

static void on_chars(void *ctx, const xmlChar *ch, int len)
{
    sgrep_xml *x = ctx;
    if (x->failed || len <= 0)
        return;
    x->run += (size_t)len;
    if (x->run > x->lim.max_text) {
        fail(x, "more than %llu bytes of text in one element", (unsigned long long)x->lim.max_text);
        return;
    }
    if (!x->depth || x->stack[x->depth - 1] < L_FIRST)
        return;
    if (x->text_len + (size_t)len > x->text_cap) {
        size_t cap = x->text_cap ? x->text_cap : 256;
        while (cap < x->text_len + (size_t)len)
            cap *= 2;
        char *t = realloc(x->text, cap);
        if (!t) {
            fail(x, "out of memory");
            return;
        }
        x->text = t;
        x->text_cap = cap;
    }
    memcpy(x->text + x->text_len, ch, (size_t)len);
    x->text_len += (size_t)len;
}

/* Reports have no DTD: any DOCTYPE (and so any entity declaration, the
 * billion laughs, an external entity) is refused before it is read. */
static void on_dtd(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    fail(ctx, "a DOCTYPE is refused (reports have no DTD)");
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *pub,
                           const xmlChar *sys, xmlChar *content)
{
    fail(ctx, "an entity declaration is refused");
}

static xmlEntityPtr on_get_entity(void *ctx, const xmlChar *name)
{
    return NULL; /* only the predefined five, which the parser knows itself */
}

static xmlParserInputPtr on_resolve(void *ctx, const xmlChar *pub, const xmlChar *sys)
{
    fail(ctx, "an external reference is refused");
    return NULL;
}

/* libxml2's own errors: recovered ones are noted, the first fatal one kept
 * for the reason should the document not end well. */
static void on_error(void *ctx, const xmlError *e)
{
    sgrep_xml *x = ctx;
    if (e && e->code == XML_ERR_TAG_NAME_MISMATCH && e->str2) {
        x->mismatch = 1;
        x->mismatch_name = name_hash(e->str2);
    }
    if (x->failed || x->err[0] || !e || !e->message)
        return;
    snprintf(x->err, sizeof x->err, "XML line %d: %s", e->line, e->message);
    size_t n = strlen(x->err);
    while (n && (x->err[n - 1] == '\n' || x->err[n - 1] == ' '))
        x->err[--n] = 0;
}

/* libxml2 sets up its globals on first use; done once here, so threads
 * (spoofguardd later) never race to do it. */
static pthread_once_t xml_once = PTHREAD_ONCE_INIT;
static void xml_init(void)
{
    xmlInitParser();
}

sgrep_xml *sgrep_xml_new(const sgrep_limits *lim, const sgrep_sink *sink)
{
    pthread_once(&xml_once, xml_init);
    sgrep_xml *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    if (lim)
        x->lim = *lim;
    else
        sgrep_limits_init(&x->lim);
    x->sink = sink;
    xmlSAXHandler sax;
    memset(&sax, 0, sizeof sax);
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = on_start;
    sax.endElementNs = on_end;
    sax.characters = on_chars;
    sax.cdataBlock = on_chars;
    sax.internalSubset = on_dtd;
    sax.externalSubset = on_dtd;
    sax.entityDecl = on_entity_decl;
    sax.getEntity = on_get_entity;
    sax.getParameterEntity = on_get_entity;
    sax.resolveEntity = on_resolve;
    sax.serror = (xmlStructuredErrorFunc)on_error;
    x->ctxt = xmlCreatePushParserCtxt(&sax, x, NULL, 0, "report.xml");
    if (!x->ctxt) {
        free(x);
        return NULL;
    }
    xmlCtxtUseOptions(x->ctxt, XML_PARSE_NONET | XML_PARSE_RECOVER | XML_PARSE_NOCDATA);
    if (sink && sink->begin && (x->sink_status = sink->begin(sink->ctx)) != 0)
        fail(x, "the store could not begin");
    return x;
}

/* Each tag's length, across feeds: a start tag's quoted values may hold
 * '>', comments and the like end at the first '>'. -1: too long. */
static int scan_markup(sgrep_xml *x, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        switch (x->scan) {
        case SCAN_OUT:
            if (c == '<') {
                x->scan = SCAN_OPEN;
                x->scan_len = 0;
                x->scan_q = 0;
            }
            continue;
        case SCAN_OPEN:
            x->scan = c == '!' || c == '?' || c == '/' ? SCAN_OTHER : SCAN_TAG;
            break;
        case SCAN_TAG:
            if (x->scan_q) {
                if (c == x->scan_q)
                    x->scan_q = 0;
            } else if (c == '"' || c == '\'') {
                x->scan_q = c;
            } else if (c == '>') {
                x->scan = SCAN_OUT;
            }
            break;
        case SCAN_OTHER:
            if (c == '>')
                x->scan = SCAN_OUT;
            break;
        }
        if (++x->scan_len > MAX_MARKUP)
            return -1;
    }
    return 0;
}

int sgrep_xml_feed(sgrep_xml *x, const char *buf, size_t len)
{
    if (!x->fed && len >= 2) {
        x->fed = 1;
        x->utf16 = ((unsigned char)buf[0] == 0xff && (unsigned char)buf[1] == 0xfe) ||
                   ((unsigned char)buf[0] == 0xfe && (unsigned char)buf[1] == 0xff);
    }
    /* XML has no NUL character (XML 1.0 2.2); libxml2's recovery would read
     * past it, so a NUL is refused here, whatever else the bytes hold */
    if (!x->utf16 && !x->failed && memchr(buf, 0, len))
        fail(x, "a NUL byte in the XML");
    if (!x->utf16 && !x->failed && scan_markup(x, buf, len) != 0)
        fail(x, "a tag or other markup longer than %u bytes", MAX_MARKUP);
    while (!x->failed && len) {
        int n = len > (1u << 20) ? 1 << 20 : (int)len;
        xmlParseChunk(x->ctxt, buf, n, 0);
        buf += n;
        len -= (size_t)n;
    }
    return x->failed ? (x->sink_status ? SGREP_ESINK : SGREP_EREFUSED) : SGREP_OK;
}

/* What a whole report must hold before it is stored: a period a report
 * can have (a date in 2106 would anchor the viewer's window and never be
 * pruned; one past 2^31 years breaks gmtime), and a policy domain that is
 * a domain name, in the form DMARC compares (so that a lookalike spelling,
 * "Owner.Example." or a U-label, is the same name or is refused). */
static int check_report(sgrep_xml *x)
{
    sgrep_report *r = &x->rep;
    int64_t now = x->lim.now ? x->lim.now : (int64_t)time(NULL);
    const char *why = NULL;
    if (r->end < r->begin)
        why = "date_range end is before begin";
    else if (r->begin < SGREP_MIN_BEGIN)
        why = "date_range begin is before 2012-01-01";
    else if (r->end > now + SGREP_MAX_FUTURE)
        why = "date_range end is more than a day after now";
    else if (r->end - r->begin > SGREP_MAX_SPAN)
        why = "date_range covers more than 31 days";
    if (why) {
        snprintf(x->err, sizeof x->err, "%s (begin %lld, end %lld)", why, (long long)r->begin,
                 (long long)r->end);
        return -1;
    }
    int rc = sgrep_domain_stored(r->policy_domain, r->policy_domain, sizeof r->policy_domain);
    if (rc != 0)
        snprintf(x->err, sizeof x->err, "%s",
                 rc == SG_ENOMEM ? "out of memory"
                                 : "policy_published domain is not a domain name");
    return rc == 0 ? 0 : -1;
}

int sgrep_xml_finish(sgrep_xml *x, char *err, size_t errlen)
{
    if (!x->failed)
        xmlParseChunk(x->ctxt, NULL, 0, 1);
    int rc = SGREP_OK;
    if (x->failed) {
        rc = x->sink_status ? SGREP_ESINK : SGREP_EREFUSED;
    } else if (!x->found) {
        rc = SGREP_EREFUSED;
        char why[sizeof x->err + 64];
        snprintf(why, sizeof why, "no <feedback> element%s%s", x->err[0] ? ": " : "", x->err);
        snprintf(x->err, sizeof x->err, "%.*s", (int)sizeof x->err - 1, why);
    } else if (!x->complete) {
        rc = SGREP_EREFUSED;
        char why[sizeof x->err + 64];
        snprintf(why, sizeof why, "truncated: </feedback> never came%s%s", x->err[0] ? "; " : "",
                 x->err);
        snprintf(x->err, sizeof x->err, "%.*s", (int)sizeof x->err - 1, why);
    }
    if (rc == SGREP_OK && x->rep.records == 0 && !x->rep.report_id[0]) {
        /* nothing to read, and nothing to tell one copy from another by */
        rc = SGREP_EREFUSED;
        snprintf(x->err, sizeof x->err, "an empty <feedback> (no report_id, no record)");
    }
    if (rc == SGREP_OK && check_report(x) != 0)
        rc = SGREP_EREFUSED;
    x->failed = x->failed || rc != SGREP_OK;
    if (rc == SGREP_OK && x->sink && x->sink->end) {
        x->sink_status = x->sink->end(x->sink->ctx, &x->rep);
        if (x->sink_status) {
            rc = SGREP_ESINK;
            snprintf(x->err, sizeof x->err, "the store could not commit the report");
        }
    } else if (rc != SGREP_OK && x->sink && x->sink->abort) {
        x->sink->abort(x->sink->ctx);
    }
    if (rc != SGREP_OK && err)
        snprintf(err, errlen, "%s", x->err);
    return rc;
}

void sgrep_xml_abort(sgrep_xml *x, const char *why)
{
    fail(x, "%s", why && *why ? why : "stopped");
}

const char *sgrep_xml_error(const sgrep_xml *x)
{
    return x->err;
}

const sgrep_report *sgrep_xml_report(const sgrep_xml *x);
const sgrep_report *sgrep_xml_report(const sgrep_xml *x)
{
    return &x->rep;
}

void sgrep_xml_free(sgrep_xml *x)
{
    if (!x)
        return;
    if (x->ctxt)
        xmlFreeParserCtxt(x->ctxt);
    free(x->text);
    free(x);
}
