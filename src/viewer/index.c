/* The message index and its verification thread (see index.h). */
#include "index.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpsl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/random.h>

#include <spoofguard/dkim.h>
#include <spoofguard/spf.h>
#include <spoofguard/verdict.h>

/* ---- a string-keyed hash map (open addressing) ------------------------------ */

typedef struct {
    char *key; /* owned; NULL: empty */
    void *val;
} slot;

typedef struct {
    slot *s;
    size_t cap, n; /* cap a power of two */
} strmap;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static slot *map_find(const strmap *m, const char *key)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = hash_str(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->s[i].key == NULL)
            return NULL;
        if (!strcmp(m->s[i].key, key))
            return &m->s[i];
    }
}

static void *map_get(const strmap *m, const char *key)
{
    slot *s = map_find(m, key);
    return s ? s->val : NULL;
}

/* Inserts or replaces; the key is copied. Returns the slot or NULL (OOM). */
static slot *map_put(strmap *m, const char *key, void *val)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        slot *ns = calloc(cap, sizeof(*ns));
        if (ns == NULL)
            return NULL;
        for (size_t i = 0; i < m->cap; i++) {
            if (m->s[i].key == NULL)
                continue;
            size_t j = hash_str(m->s[i].key) & (cap - 1);
            while (ns[j].key != NULL)
                j = (j + 1) & (cap - 1);
            ns[j] = m->s[i];
        }
        free(m->s);
        m->s = ns;
        m->cap = cap;
    }
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->s[i].key != NULL && strcmp(m->s[i].key, key))
        i = (i + 1) & (m->cap - 1);
    if (m->s[i].key == NULL) {
        if ((m->s[i].key = strdup(key)) == NULL)
            return NULL;
        m->n++;
    }
    m->s[i].val = val;
    return &m->s[i];
}

/* Removes key (backward-shift deletion keeps probe chains intact). */
static void map_del(strmap *m, const char *key)
{
    slot *s = map_find(m, key);
    if (s == NULL)
        return;
    size_t i = (size_t)(s - m->s);
    free(s->key);
    s->key = NULL;
    m->n--;
    for (size_t j = (i + 1) & (m->cap - 1); m->s[j].key != NULL; j = (j + 1) & (m->cap - 1)) {
        size_t home = hash_str(m->s[j].key) & (m->cap - 1);
        /* move j back to i when its home is not in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            m->s[i] = m->s[j];
            m->s[j].key = NULL;
            i = j;
        }
    }
}

static void map_free(strmap *m, void (*free_val)(void *))
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->s[i].key == NULL)
            continue;
        free(m->s[i].key);
        if (free_val)
            free_val(m->s[i].val);
    }
    free(m->s);
    memset(m, 0, sizeof(*m));
}

/* ---- the index's records ----------------------------------------------------- */

/* A message's summary: what the list shows. Immutable once published. */
typedef struct {
    sgv_row row;
    sgv_warn warn[SGV_ROW_WARNINGS_MAX];
    char *strings; /* every string of row and warn, one block */
} summary;

typedef struct hot hot;

typedef struct {
    char id[SGV_ID_LEN + 1];
    unsigned maildir;
    char *name;
    int sub;
    long long size, mtime;
    summary *sum; /* NULL before the first pass */
    int stage;    /* STAGE_* */
    int images;   /* remote images allowed (verified mail only) */
    int present;  /* seen by the current rescan */
    hot *hot;     /* the verdict, while kept */
} msg;

enum { STAGE_FIRST = 0, STAGE_VERIFY, STAGE_DONE };

/* A verified message kept for its pages: the bytes and the verdict they
 * were checked with. Reference counted (the index's LRU holds one). */
struct hot {
    int refs;
    char id[SGV_ID_LEN + 1];
    char *data;
    size_t len;
    sg_verdict *verdict;          /* NULL: not verified by us (trusted A-R, or failed) */
    const sg_verdict_result *res; /* the verdict's result or NULL */
    long long date_unix, mtime;
    struct vview *view; /* the rendered view, cached (holds a reference) */
    hot *gc;
};

/* The view handed to pages; the public part first. */
typedef struct vview {
    sgv_view pub;
    int refs;
    hot *h; /* NULL for a fallback view */
    char *data;
    size_t len; /* fallback: its own bytes */
    sgr_explanation *expl;
    int images_req;     /* rendered with remote images asked for */
    sgr_mime *cid_mime; /* parsed lazily by the cid callback */
    struct vview *gc;
} vview;

/* The lookalike checker, swapped whole when the references change. */
typedef struct {
    int refs;
    sgr_lookalike *lk;
} checker;

/* What the mailbox knows of one From address. */
typedef struct {
    long long first_date, first_mtime; /* the earliest message from it */
    char first_id[SGV_ID_LEN + 1];
    char *name; /* display name from verified mail, folded; NULL */
} addr_info;

struct sgv_index {
    const sgv_config *cfg;
    sg_resolver *resolver;
    sg_dkim_keycache *keycache;
    sg_spf_cache *spf_cache;
    sg_verdict_opts vopts;
    sg_dmarc_opts dmarc;     /* vopts.dmarc: the defaults with our list */
    sg_dmarc_psl *dmarc_psl; /* --psl, else the system's newest: the suffix guard's */
    char **operator_domains;
    size_t noperator;

    pthread_mutex_t lock;
    pthread_cond_t wake; /* the worker: work arrived */
    pthread_cond_t done; /* a message got verified; the queues emptied */
    pthread_mutex_t refresh_lock;
    pthread_t thread;
    int started, stop;

    msg **msgs; /* every message, in list order when !unsorted */
    size_t nmsgs, capmsgs;
    int unsorted;
    strmap by_id; /* id -> msg* */
    sgv_mstamp *stamps;

    /* queues of IDs: the first pass, verification, and pages waiting */
    char (*qa)[SGV_ID_LEN + 1], (*qb)[SGV_ID_LEN + 1], (*qp)[SGV_ID_LEN + 1];
    size_t qa_head, qa_n, qa_cap, qb_head, qb_n, qb_cap, qp_head, qp_n, qp_cap;
    size_t ndone;

    hot *lru[SGV_HOT_MAX]; /* most recent first */
    size_t nlru;
    size_t hot_bytes; /* message bytes held by the LRU */

    strmap addrs;        /* address -> addr_info* */
    strmap names;        /* folded display name -> owner address (char*, owned) */
    strmap corr_domains; /* registrable domains of correspondents (val unused) */
    size_t corr_max;     /* at most this many (SGV_CORRESPONDENTS_MAX) */
    int corr_full_said;  /* the cap was said on stderr */
    int checker_stale;
    int checker_building; /* checker_refresh between taking and swapping */
    checker *chk;
    psl_ctx_t *psl;             /* --psl, else the system's newest list */
    unsigned char link_key[32]; /* sgv_index_link_token */
    long long first_index_ns;   /* how long the first index took; 0 until done */
    struct timespec started_at;
};

/* ---- small helpers ------------------------------------------------------------- */

static long long mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static msg *find(sgv_index *ix, const char *id)
{
    return map_get(&ix->by_id, id);
}

static int push(char (**q)[SGV_ID_LEN + 1], size_t *head, size_t *n, size_t *cap, const char *id)
{
    if (*head > 0 && *head == *n) { /* drained: start over */
        *head = *n = 0;
    }
    if (*n == *cap) {
        if (*head > 0) { /* compact */
            memmove(*q, *q + *head, (*n - *head) * sizeof(**q));
            *n -= *head;
            *head = 0;
        }
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 256;
            void *nq = realloc(*q, nc * sizeof(**q));
            if (nq == NULL)
                return -1;
            *q = nq;
            *cap = nc;
        }
    }
    memcpy((*q)[(*n)++], id, SGV_ID_LEN + 1);
    return 0;
}

/* Lower case, whitespace runs as one space, trimmed: how display names
 * are compared (explain.h name_owner). */
static void fold_name(const char *s, char *out, size_t cap)
{
    size_t w = 0;
    int space = 0;
    for (; *s && w + 2 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '"') {
            space = w > 0;
            continue;
        }
        if (space)
            out[w++] = ' ';
        space = 0;
        out[w++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out[w] = '\0';
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s + 32);
}

/* ---- summaries ----------------------------------------------------------------- */

static void summary_free(summary *s)
{
    if (s != NULL) {
        free(s->strings);
        free(s);
    }
}

/* The address as the message page's panel shows it: the domain in its
 * A-label form, what DMARC proved. "security@bаnk.example" in the list
 * would read as the bank's (adv29 RD-2). NULL without an address. */
static const char *row_address(const sgr_explanation *e, char *buf, size_t cap)
{
    const sgr_identity *id = e ? &e->identity : NULL;
    if (id == NULL || id->address == NULL)
        return NULL;
    const char *at = strrchr(id->address, '@');
    if (at == NULL || id->domain == NULL)
        return id->address;
    int n = snprintf(buf, cap, "%.*s@%s", (int)(at - id->address), id->address, id->domain);
    return n > 0 && (size_t)n < cap ? buf : id->address;
}

/* Copies what the list needs out of an explanation. */
static summary *summary_make(const char *id, const sgr_explanation *e, int checking, int unreadable)
{
    summary *s = calloc(1, sizeof(*s));
    const char *src[6 + 2 * SGV_ROW_WARNINGS_MAX];
    const char **dst[6 + 2 * SGV_ROW_WARNINGS_MAX];
    size_t n = 0, total = 0;
    char addr[1280];
    if (s == NULL)
        return NULL;
    s->row.headline = e ? e->headline : SGR_HEADLINE_UNVERIFIED;
    /* never verified before proven: the first pass shows unverified */
    if (checking)
        s->row.headline = SGR_HEADLINE_UNVERIFIED;
    s->row.checking = checking;
    s->row.unreadable = unreadable;
    s->row.date_unix = e && e->mime ? e->mime->date_unix : 0;
#define ADD(from, to)                                                                              \
    do {                                                                                           \
        src[n] = (from) ? (from) : "";                                                             \
        dst[n++] = &(to);                                                                          \
    } while (0)
    ADD(id, s->row.id);
    ADD(e ? e->identity.display_name : NULL, s->row.display_name);
    ADD(row_address(e, addr, sizeof(addr)), s->row.address);
    ADD(e && e->mime ? e->mime->subject : NULL, s->row.subject);
    ADD(e && e->mime ? e->mime->date : NULL, s->row.date);
    ADD(checking     ? "Not verified yet: the viewer is still checking this message."
        : unreadable ? "The message file could not be read."
        : e          ? e->headline_detail
                     : NULL,
        s->row.headline_detail);
    for (size_t i = 0; e && i < e->nwarnings && s->row.nwarnings < SGV_ROW_WARNINGS_MAX; i++) {
        /* the list shows each kind once (the page lists them all) */
        int dup = 0;
        for (size_t k = 0; k < i; k++)
            dup |= !strcmp(e->warnings[k].kind, e->warnings[i].kind);
        if (dup)
            continue;
        sgv_warn *w = &s->warn[s->row.nwarnings++];
        ADD(e->warnings[i].kind, w->kind);
        ADD(e->warnings[i].detail, w->detail);
    }
#undef ADD
    s->row.warnings = s->warn;
    for (size_t i = 0; i < n; i++)
        total += strlen(src[i]) + 1;
    if ((s->strings = malloc(total)) == NULL) {
        free(s);
        return NULL;
    }
    char *p = s->strings;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(src[i]) + 1;
        memcpy(p, src[i], l);
        *dst[i] = p;
        p += l;
    }
    return s;
}

/* ---- correspondents ------------------------------------------------------------------ */

/* The earliest-message key of a message, for "seen before". */
static int key_less(long long d1, long long m1, const char *id1, long long d2, long long m2,
                    const char *id2)
{
    if (d1 != d2)
        return d1 < d2;
    if (m1 != m2)
        return m1 < m2;
    return strcmp(id1, id2) < 0;
}

static void addr_free(void *p)
{
    addr_info *a = p;
    if (a != NULL) {
        free(a->name);
        free(a);
    }
}

/* Records a message from address (locked). */
static void learn_address(sgv_index *ix, const char *address, long long date, long long mtime,
                          const char *id)
{
    char key[512];
    if (address == NULL || address[0] == '\0' || strlen(address) >= sizeof(key))
        return;
    snprintf(key, sizeof(key), "%s", address);
    lower(key);
    addr_info *a = map_get(&ix->addrs, key);
    if (a == NULL) {
        if ((a = calloc(1, sizeof(*a))) == NULL || map_put(&ix->addrs, key, a) == NULL) {
            free(a);
            return;
        }
        a->first_date = date;
        a->first_mtime = mtime;
        snprintf(a->first_id, sizeof(a->first_id), "%s", id);
    } else if (key_less(date, mtime, id, a->first_date, a->first_mtime, a->first_id)) {
        a->first_date = date;
        a->first_mtime = mtime;
        snprintf(a->first_id, sizeof(a->first_id), "%s", id);
    }
}

/* Verified mail teaches a correspondent: its name and its domain (locked).
 * learnable: correspondent_learnable's answer for it. */
static void learn_correspondent(sgv_index *ix, const sgr_explanation *e, int learnable)
{
    char key[512], folded[512];
    const sgr_identity *id = &e->identity;
    if (e->headline != SGR_HEADLINE_VERIFIED || !learnable || id->address == NULL ||
        strlen(id->address) >= sizeof(key))
        return;
    snprintf(key, sizeof(key), "%s", id->address);
    lower(key);
    addr_info *a = map_get(&ix->addrs, key);
    if (id->display_name != NULL && id->display_name[0] != '\0') {
        fold_name(id->display_name, folded, sizeof(folded));
        if (folded[0] != '\0') {
            if (a != NULL && a->name == NULL)
                a->name = strdup(folded);
            /* the first verified owner of a name keeps it; its string
             * stays until the index is freed (name_owner hands it out) */
            if (map_get(&ix->names, folded) == NULL) {
                char *owner = strdup(key);
                if (owner != NULL && map_put(&ix->names, folded, owner) == NULL)
                    free(owner);
            }
        }
    }
    const char *dom = id->registrable_domain ? id->registrable_domain : id->domain;
    if (dom == NULL || dom[0] == '\0' || map_find(&ix->corr_domains, dom) != NULL)
        return;
    if (ix->corr_domains.n >= ix->corr_max) {
        if (!ix->corr_full_said)
            fprintf(stderr,
                    "spoofguard-view: correspondents' domains reach the cap of %zu: later "
                    "ones (%s first) are not lookalike references\n",
                    ix->corr_max, dom);
        ix->corr_full_said = 1;
        return;
    }
    map_put(&ix->corr_domains, dom, NULL);
    ix->checker_stale = 1;
}

static int cb_seen(void *payload, const char *address)
{
    sgv_seen_ctx *c = payload;
    char key[512];
    int seen = -1;
    if (address == NULL || strlen(address) >= sizeof(key))
        return -1;
    snprintf(key, sizeof(key), "%s", address);
    lower(key);
    pthread_mutex_lock(&c->ix->lock);
    addr_info *a = map_get(&c->ix->addrs, key);
    if (a != NULL)
        seen = key_less(a->first_date, a->first_mtime, a->first_id, c->date_unix, c->mtime, c->id);
    else
        seen = 0;
    pthread_mutex_unlock(&c->ix->lock);
    return seen;
}

/* The registrable domain of an address's domain (libpsl), or the domain. */
static void addr_org(const psl_ctx_t *psl, const char *address, char *out, size_t cap)
{
    const char *at = strrchr(address, '@');
    const char *dom = at ? at + 1 : address;
    const char *rd = psl ? psl_registrable_domain(psl, dom) : NULL;
    /* a domain name is at most 253 bytes: cap (256) never cuts one */
    const char *s = rd ? rd : dom;
    size_t n = strnlen(s, cap - 1);
    memcpy(out, s, n);
    out[n] = '\0';
}

static const char *cb_name_owner(void *payload, const char *name, const char *address)
{
    sgv_seen_ctx *c = payload;
    char folded[512], key[512];
    const char *owner = NULL;
    if (name == NULL || address == NULL || strlen(address) >= sizeof(key))
        return NULL;
    fold_name(name, folded, sizeof(folded));
    if (folded[0] == '\0')
        return NULL;
    snprintf(key, sizeof(key), "%s", address);
    lower(key);
    pthread_mutex_lock(&c->ix->lock);
    owner = map_get(&c->ix->names, folded);
    if (owner != NULL && !strcmp(owner, key))
        owner = NULL;
    /* the address is itself a verified correspondent of this name */
    addr_info *a = owner ? map_get(&c->ix->addrs, key) : NULL;
    if (a != NULL && a->name != NULL && !strcmp(a->name, folded))
        owner = NULL;
    /* another address of the same organisation (news@ and support@ of one
     * bank) is not someone impersonating it */
    if (owner != NULL) {
        char o1[256], o2[256];
        addr_org(c->ix->psl, owner, o1, sizeof(o1));
        addr_org(c->ix->psl, key, o2, sizeof(o2));
        if (!strcmp(o1, o2))
            owner = NULL;
    }
    pthread_mutex_unlock(&c->ix->lock);
    return owner;
}

void sgv_index_correspondents(sgv_seen_ctx *ctx, sgr_correspondents *out)
{
    out->seen = cb_seen;
    out->name_owner = cb_name_owner;
    out->payload = ctx;
}

/* ---- the lookalike checker ---------------------------------------------------------- */

static void checker_put(sgv_index *ix, checker *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&ix->lock);
    int last = --c->refs == 0;
    pthread_mutex_unlock(&ix->lock);
    if (last) {
        sgr_lookalike_free(c->lk);
        free(c);
    }
}

static checker *checker_get(sgv_index *ix)
{
    pthread_mutex_lock(&ix->lock);
    checker *c = ix->chk;
    if (c != NULL)
        c->refs++;
    pthread_mutex_unlock(&ix->lock);
    return c;
}

/* May verified mail from this sender teach a correspondent? Not when its
 * domain resembles a protected or operator name or fails the idn test:
 * verified only proves that the attacker sent it from his own
 * bank-example.com, and a learned domain and display name would then
 * vouch for his later mail (adv29 RD-1). Checked outside the index's
 * lock (the checker can take a while against many references). */
static int correspondent_learnable(sgv_index *ix, const sgr_explanation *e)
{
    const char *dom = e->identity.domain;
    if (e->headline != SGR_HEADLINE_VERIFIED || dom == NULL || dom[0] == '\0')
        return 0;
    checker *c = checker_get(ix);
    sgr_lookalike_result *r = malloc(sizeof(*r));
    int ok = c != NULL && r != NULL &&
             sgr_lookalike_check(c->lk, dom, strlen(dom), r) == SGR_LOOKALIKE_OK &&
             r->verdict != SGR_LOOKALIKE_INVALID;
    /* a known name carries no hits but an idn one */
    for (size_t i = 0; ok && i < r->nhits; i++)
        if (r->hits[i].kind == SGR_LOOKALIKE_IDN ||
            r->hits[i].source != SGR_LOOKALIKE_CORRESPONDENT)
            ok = 0;
    free(r);
    checker_put(ix, c);
    return ok;
}

/* Builds a checker from --protect, --operator-domains and the
 * correspondents' domains (corr: a copy taken under the lock). strict:
 * a bad --protect or operator name is an error (at start). */
static int checker_build(sgv_index *ix, char **corr, size_t ncorr, checker **out, char *err,
                         size_t errlen)
{
    sgr_lookalike_builder *b = NULL;
    checker *c = calloc(1, sizeof(*c));
    int rc;
    *out = NULL;
    if (c == NULL || (rc = sgr_lookalike_builder_new(&b, ix->cfg->psl)) != SGR_LOOKALIKE_OK) {
        snprintf(err, errlen, "cannot set up the lookalike checker (public suffix list %s)",
                 ix->cfg->psl ? ix->cfg->psl : "of the system");
        free(c);
        return -1;
    }
    for (size_t i = 0; i < ix->cfg->nprotect; i++) {
        const char *d = ix->cfg->protect[i];
        if (sgr_lookalike_builder_add(b, d, strlen(d), SGR_LOOKALIKE_PROTECTED) != 0) {
            snprintf(err, errlen, "--protect %s: not a domain name", d);
            goto fail;
        }
    }
    for (size_t i = 0; i < ix->noperator; i++) {
        const char *d = ix->operator_domains[i];
        if (sgr_lookalike_builder_add(b, d, strlen(d), SGR_LOOKALIKE_OPERATOR) != 0) {
            snprintf(err, errlen, "%s: %s is not a domain name", ix->cfg->operator_domains, d);
            goto fail;
        }
    }
    /* learned names: one that is not a domain is simply not a reference */
    for (size_t i = 0; i < ncorr; i++)
        sgr_lookalike_builder_add(b, corr[i], strlen(corr[i]), SGR_LOOKALIKE_CORRESPONDENT);
    rc = sgr_lookalike_build(&c->lk, b);
    b = NULL;
    if (rc != SGR_LOOKALIKE_OK) {
        snprintf(err, errlen, "cannot build the lookalike checker");
        goto fail;
    }
    c->refs = 1;
    *out = c;
    return 0;
fail:
    sgr_lookalike_builder_free(b);
    free(c);
    return -1;
}

/* Rebuilds the checker when the correspondents changed (worker thread). */
static void checker_refresh(sgv_index *ix)
{
    char **corr = NULL, err[256];
    size_t n = 0;
    checker *c;
    pthread_mutex_lock(&ix->lock);
    if (!ix->checker_stale) {
        pthread_mutex_unlock(&ix->lock);
        return;
    }
    ix->checker_stale = 0;
    ix->checker_building = 1;
    if ((corr = calloc(ix->corr_domains.n + 1, sizeof(*corr))) != NULL)
        for (size_t i = 0; i < ix->corr_domains.cap; i++)
            if (ix->corr_domains.s[i].key != NULL)
                corr[n++] = strdup(ix->corr_domains.s[i].key);
    pthread_mutex_unlock(&ix->lock);
    checker *old = NULL;
    int built = corr != NULL && checker_build(ix, corr, n, &c, err, sizeof(err)) == 0;
    pthread_mutex_lock(&ix->lock);
    if (built) {
        old = ix->chk;
        ix->chk = c;
    }
    ix->checker_building = 0;
    pthread_cond_broadcast(&ix->done);
    pthread_mutex_unlock(&ix->lock);
    checker_put(ix, old);
    for (size_t i = 0; i < n; i++)
        free(corr[i]);
    free(corr);
}

/* ---- hot entries and views ------------------------------------------------------------ */

/* What the last reference let go of, freed after the lock is released
 * (freeing an explanation or a verdict is not done under the lock). */
typedef struct {
    hot *h;
    vview *v;
} garbage;

static void hot_unref_locked(hot *h, garbage *g)
{
    if (h != NULL && --h->refs == 0) {
        h->gc = g->h;
        g->h = h;
    }
}

/* A view holds a reference on its hot entry; the entry's cached view
 * holds one on the view: the cycle is broken when the entry leaves the
 * LRU (hot_retire_locked). */
static void view_unref_locked(vview *v, garbage *g)
{
    if (v == NULL || --v->refs > 0)
        return;
    hot_unref_locked(v->h, g);
    v->gc = g->v;
    g->v = v;
}

static void hot_retire_locked(hot *h, garbage *g)
{
    if (h->view != NULL) {
        vview *v = h->view;
        h->view = NULL;
        view_unref_locked(v, g);
    }
    hot_unref_locked(h, g);
}

static void hot_free(hot *h)
{
    sg_verdict_free(h->verdict);
    free(h->data);
    free(h);
}

static void collect(garbage *g)
{
    while (g->v != NULL) {
        vview *v = g->v;
        g->v = v->gc;
        sgr_explain_free(v->expl);
        sgr_mime_free(v->cid_mime);
        free(v->data);
        free(v);
    }
    while (g->h != NULL) {
        hot *h = g->h;
        g->h = h->gc;
        hot_free(h);
    }
}

static void lru_remove_locked(sgv_index *ix, hot *h, garbage *g)
{
    for (size_t i = 0; i < ix->nlru; i++)
        if (ix->lru[i] == h) {
            memmove(&ix->lru[i], &ix->lru[i + 1], (ix->nlru - i - 1) * sizeof(hot *));
            ix->nlru--;
            ix->hot_bytes -= h->len;
            hot_retire_locked(h, g);
            return;
        }
}

/* Puts h first in the LRU (locked), taking over the caller's reference;
 * the message's previous entry and the evicted one are retired. */
static void lru_insert(sgv_index *ix, msg *m, hot *h, garbage *g)
{
    if (m->hot != NULL) {
        lru_remove_locked(ix, m->hot, g);
        m->hot = NULL;
    }
    /* by count, and by bytes: 32 messages of 32 MiB are not kept */
    while (ix->nlru == SGV_HOT_MAX ||
           (ix->nlru > 0 && ix->hot_bytes + h->len > SGV_HOT_MAX_BYTES)) {
        hot *ev = ix->lru[ix->nlru - 1];
        msg *em = find(ix, ev->id);
        if (em != NULL && em->hot == ev)
            em->hot = NULL;
        lru_remove_locked(ix, ev, g);
    }
    memmove(&ix->lru[1], &ix->lru[0], ix->nlru * sizeof(hot *));
    ix->lru[0] = h;
    ix->nlru++;
    ix->hot_bytes += h->len;
    m->hot = h;
}

/* ---- explaining ------------------------------------------------------------------------- */

typedef struct {
    const sgv_index *ix;
    char id[SGV_ID_LEN + 1];
    const char *data;
    size_t len;
    sgr_mime **mime; /* parsed on the first cid: */
} render_ctx;

void sgv_index_link_token(const sgv_index *ix, const char *id, size_t n,
                          char out[SGV_LINK_TOKEN_HEX + 1])
{
    char text[SGV_ID_LEN + 32];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    int l = snprintf(text, sizeof(text), "%s/%zu", id, n);
    if (HMAC(EVP_sha256(), ix->link_key, sizeof(ix->link_key), (const unsigned char *)text,
             (size_t)l, mac, &maclen) == NULL)
        memset(mac, 0, sizeof(mac)); /* OOM: a token that matches nothing we gave */
    for (size_t i = 0; i < SGV_LINK_TOKEN_HEX / 2; i++) {
        out[2 * i] = "0123456789abcdef"[mac[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[mac[i] & 15];
    }
    out[SGV_LINK_TOKEN_HEX] = '\0';
}

int sgv_index_link_token_ok(const sgv_index *ix, const char *id, size_t n, const char *given)
{
    char want[SGV_LINK_TOKEN_HEX + 1];
    if (given == NULL || strlen(given) != SGV_LINK_TOKEN_HEX)
        return 0;
    sgv_index_link_token(ix, id, n, want);
    return CRYPTO_memcmp(want, given, SGV_LINK_TOKEN_HEX) == 0;
}

static int cb_link_href(char *buf, size_t cap, size_t index, const sgr_link *link, void *payload)
{
    render_ctx *r = payload;
    char tok[SGV_LINK_TOKEN_HEX + 1];
    sgv_index_link_token(r->ix, r->id, index, tok);
    int n = snprintf(buf, cap, "/link/%s/%zu?k=%s", r->id, index, tok);
    return n < 0 || (size_t)n >= cap;
}

static int cb_cid_src(char *buf, size_t cap, const char *cid, size_t cid_len, void *payload)
{
    render_ctx *r = payload;
    if (*r->mime == NULL && sgr_mime_parse(r->mime, r->data, r->len, NULL) != SGR_MIME_OK)
        return 1;
    int part = sgr_mime_find_cid(*r->mime, cid, cid_len);
    if (part < 0)
        return 1;
    const sgr_mime_view *mv = sgr_mime_get(*r->mime);
    if ((size_t)part >= mv->nparts || strncmp(mv->parts[part].content_type, "image/", 6))
        return 1;
    int n = snprintf(buf, cap, "/m/%s/cid/%d", r->id, part);
    return n < 0 || (size_t)n >= cap;
}

/* How much of a message an explanation covers. */
enum {
    EXPLAIN_HEADER = -1, /* the first pass: headline, identity, header warnings */
    EXPLAIN_LINKS = 0,   /* the list's summary: the links' warnings too */
    EXPLAIN_RENDER = 1,  /* a page: the body rendered (link and cid callbacks) */
};

/* Explains data with the verdict res (NULL: none), as much as `render`
 * (EXPLAIN_*) says; the explanation copies what it keeps. corr:
 * correspondents or NULL. */
static int explain(sgv_index *ix, sgr_explanation **out, const char *id, const char *data,
                   size_t len, const sg_verdict_result *res, int render, int images,
                   const sgr_correspondents *corr, sgr_mime **cid_mime)
{
    sgr_explain_opts o;
    render_ctx rc;
    checker *c = checker_get(ix);
    sgr_explain_opts_init(&o);
    o.authserv_id = ix->cfg->authserv_id;
    o.protected_domains = ix->cfg->protect;
    o.nprotected = ix->cfg->nprotect;
    o.lookalike = c ? c->lk : NULL;
    o.correspondents = corr;
    o.skip_body = render == EXPLAIN_HEADER;
    if (render == EXPLAIN_RENDER) {
        memset(&rc, 0, sizeof(rc));
        rc.ix = ix;
        snprintf(rc.id, sizeof(rc.id), "%s", id);
        rc.data = data;
        rc.len = len;
        rc.mime = cid_mime;
        o.link_href = cb_link_href;
        o.cid_src = cb_cid_src;
        o.payload = &rc;
        o.link_target = "_top";
        o.allow_remote_images = images;
    }
    int r = sgr_explain(out, data, len, res, &o);
    checker_put(ix, c);
    return r;
}

/* ---- the worker ------------------------------------------------------------------------ */

typedef struct {
    char id[SGV_ID_LEN + 1];
    unsigned maildir;
    int sub;
    char *name;
    long long date_unix, mtime;
} job;

/* Takes the next job (locked): pages first, then the first pass, then
 * verification. Returns the stage to run, or -1 when there is none. */
static int next_job(sgv_index *ix, job *j)
{
    for (;;) {
        int stage;
        msg *m;
        if (ix->qp_head < ix->qp_n) {
            m = find(ix, ix->qp[ix->qp_head++]);
            if (m == NULL || (m->stage != STAGE_FIRST && m->hot != NULL))
                continue;
            stage = m->stage == STAGE_FIRST ? STAGE_FIRST : STAGE_VERIFY;
            /* a page waits for a message not seen yet: both passes now */
            if (stage == STAGE_FIRST)
                push(&ix->qp, &ix->qp_head, &ix->qp_n, &ix->qp_cap, m->id);
        } else if (ix->qa_head < ix->qa_n) {
            m = find(ix, ix->qa[ix->qa_head++]);
            if (m == NULL || m->stage != STAGE_FIRST)
                continue;
            stage = STAGE_FIRST;
        } else if (ix->qb_head < ix->qb_n) {
            m = find(ix, ix->qb[ix->qb_head++]);
            if (m == NULL || m->stage != STAGE_VERIFY)
                continue;
            stage = STAGE_VERIFY;
        } else {
            return -1;
        }
        memcpy(j->id, m->id, sizeof(j->id));
        j->maildir = m->maildir;
        j->sub = m->sub;
        j->date_unix = m->sum ? m->sum->row.date_unix : 0;
        j->mtime = m->mtime;
        if ((j->name = strdup(m->name)) == NULL)
            continue;
        return stage;
    }
}

/* Verifies data with the library (worker thread). Returns the verdict or
 * NULL when it could not run (the message is then unverified). */
static sg_verdict *verify(sgv_index *ix, const char *data, size_t len,
                          const sg_verdict_result **res)
{
    sg_verdict *v = NULL;
    sg_verdict_envelope env = {NULL, NULL, NULL};
    *res = NULL;
    if (ix->resolver == NULL || sg_verdict_new(&v, ix->resolver, &ix->vopts) != 0)
        return NULL;
    if (sg_verdict_envelope_set(v, &env) != 0 || sg_verdict_feed(v, data, len) != 0 ||
        sg_verdict_finish_sync(v, res) != 0 || *res == NULL) {
        sg_verdict_free(v);
        *res = NULL;
        return NULL;
    }
    return v;
}

static void run_job(sgv_index *ix, int stage, job *j)
{
    char *data = NULL;
    size_t len = 0;
    int truncated = 0, unreadable;
    sgr_explanation *e = NULL;
    const sg_verdict_result *res = NULL;
    sg_verdict *v = NULL;
    int trusted = 0, learnable = 0;
    hot *h = NULL;
    garbage g = {NULL, NULL};

    unreadable = sgv_maildir_read(ix->cfg->maildirs[j->maildir], j->sub, j->name, &data, &len,
                                  &truncated) != 0;
    if (!unreadable && stage == STAGE_FIRST) {
        explain(ix, &e, j->id, data, len, NULL, EXPLAIN_HEADER, 0, NULL, NULL);
    } else if (!unreadable) {
        sgv_seen_ctx sc = {ix, j->date_unix, j->mtime, j->id};
        sgr_correspondents corr;
        sgv_index_correspondents(&sc, &corr);
        trusted = ix->cfg->authserv_id != NULL &&
                  sgr_explain_trusts_authres(data, len, ix->cfg->authserv_id);
        if (!trusted)
            v = verify(ix, data, len, &res);
        explain(ix, &e, j->id, data, len, res, EXPLAIN_LINKS, 0, &corr, NULL);
        learnable = e != NULL && correspondent_learnable(ix, e);
        if ((h = calloc(1, sizeof(*h))) != NULL) {
            h->refs = 1;
            memcpy(h->id, j->id, sizeof(h->id));
            h->data = data;
            h->len = len;
            h->verdict = v;
            h->res = res;
            h->date_unix = j->date_unix;
            h->mtime = j->mtime;
            data = NULL;
            v = NULL;
        }
    }
    /* the first pass is final when our MTA's A-R decided */
    int checking = stage == STAGE_FIRST && !(e && e->verified_by == SGR_FROM_AUTHRES);
    summary *s = summary_make(j->id, e, checking && !unreadable, unreadable);

    pthread_mutex_lock(&ix->lock);
    msg *m = find(ix, j->id);
    /* a first pass done meanwhile by a list request (sgv_index_refresh) */
    if (m != NULL && stage == STAGE_FIRST && m->stage != STAGE_FIRST)
        m = NULL;
    if (m != NULL && s != NULL) {
        summary_free(m->sum);
        m->sum = s;
        s = NULL;
        ix->unsorted = 1;
        if (stage == STAGE_FIRST) {
            if (e != NULL)
                learn_address(ix, e->identity.address, m->sum->row.date_unix, m->mtime, m->id);
            m->stage = unreadable ? STAGE_DONE : STAGE_VERIFY;
            if (unreadable)
                ix->ndone++;
            else
                push(&ix->qb, &ix->qb_head, &ix->qb_n, &ix->qb_cap, m->id);
        } else {
            if (m->stage != STAGE_DONE)
                ix->ndone++;
            m->stage = STAGE_DONE;
            if (e != NULL)
                learn_correspondent(ix, e, learnable);
            if (h != NULL) {
                lru_insert(ix, m, h, &g);
                h = NULL;
            }
        }
    }
    if (ix->first_index_ns == 0 && ix->qa_head == ix->qa_n && ix->qb_head == ix->qb_n &&
        ix->qp_head == ix->qp_n)
        ix->first_index_ns =
            mono_ns() - (long long)ix->started_at.tv_sec * 1000000000LL - ix->started_at.tv_nsec;
    pthread_cond_broadcast(&ix->done);
    pthread_mutex_unlock(&ix->lock);

    if (h != NULL)
        hot_free(h);
    collect(&g);
    summary_free(s);
    sgr_explain_free(e);
    sg_verdict_free(v);
    free(data);
}

/* The first pass of message id in the calling thread, unless done. */
static void first_pass_now(sgv_index *ix, const char *id)
{
    job j;
    pthread_mutex_lock(&ix->lock);
    msg *m = find(ix, id);
    int go = m != NULL && m->stage == STAGE_FIRST && (j.name = strdup(m->name)) != NULL;
    if (go) {
        memcpy(j.id, m->id, sizeof(j.id));
        j.maildir = m->maildir;
        j.sub = m->sub;
        j.date_unix = 0;
        j.mtime = m->mtime;
    }
    pthread_mutex_unlock(&ix->lock);
    if (go) {
        run_job(ix, STAGE_FIRST, &j);
        free(j.name);
    }
}

static void *worker(void *arg)
{
    sgv_index *ix = arg;
    size_t since_rebuild = 0;
    pthread_mutex_lock(&ix->lock);
    while (!ix->stop) {
        job j;
        int stage = next_job(ix, &j);
        if (stage < 0) {
            pthread_cond_broadcast(&ix->done);
            if (ix->checker_stale) {
                pthread_mutex_unlock(&ix->lock);
                checker_refresh(ix);
                since_rebuild = 0;
                pthread_mutex_lock(&ix->lock);
                continue;
            }
            pthread_cond_wait(&ix->wake, &ix->lock);
            continue;
        }
        pthread_mutex_unlock(&ix->lock);
        run_job(ix, stage, &j);
        free(j.name);
        /* new correspondents: a new checker now and then, not per message */
        if (++since_rebuild >= 256) {
            checker_refresh(ix);
            since_rebuild = 0;
        }
        pthread_mutex_lock(&ix->lock);
    }
    pthread_mutex_unlock(&ix->lock);
    return NULL;
}

/* ---- scanning --------------------------------------------------------------------------- */

static void msg_free(msg *m)
{
    free(m->name);
    summary_free(m->sum);
    free(m);
}

static int mtime_desc(const void *a, const void *b)
{
    const sgv_mentry *x = a, *y = b;
    return x->mtime < y->mtime ? 1 : x->mtime > y->mtime ? -1 : strcmp(x->id, y->id);
}

/* Merges a fresh scan of Maildir number md into the index (locked). */
static void merge_scan(sgv_index *ix, unsigned md, sgv_mlist *l, garbage *g,
                       char (*added_ids)[SGV_ID_LEN + 1], size_t *nadded)
{
    int added = 0;
    for (size_t i = 0; i < ix->nmsgs; i++)
        if (ix->msgs[i]->maildir == md)
            ix->msgs[i]->present = 0;
    /* newest files first into the queue: the top of the list fills first */
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), mtime_desc);
    for (size_t i = 0; i < l->n; i++) {
        sgv_mentry *e = &l->v[i];
        msg *m = find(ix, e->id);
        if (m != NULL) {
            m->present = 1;
            if (strcmp(m->name, e->name)) { /* moved to cur/ or flags changed */
                free(m->name);
                m->name = e->name;
                e->name = NULL;
            }
            m->sub = e->sub;
            continue;
        }
        if (ix->nmsgs == ix->capmsgs) {
            size_t cap = ix->capmsgs ? ix->capmsgs * 2 : 256;
            msg **nm = realloc(ix->msgs, cap * sizeof(*nm));
            if (nm == NULL)
                break;
            ix->msgs = nm;
            ix->capmsgs = cap;
        }
        if ((m = calloc(1, sizeof(*m))) == NULL)
            break;
        memcpy(m->id, e->id, sizeof(m->id));
        m->maildir = md;
        m->name = e->name;
        e->name = NULL;
        m->sub = e->sub;
        m->size = e->size;
        m->mtime = e->mtime;
        m->present = 1;
        if (map_put(&ix->by_id, m->id, m) == NULL) {
            msg_free(m);
            break;
        }
        ix->msgs[ix->nmsgs++] = m;
        push(&ix->qa, &ix->qa_head, &ix->qa_n, &ix->qa_cap, m->id);
        if (*nadded < SGV_REFRESH_INLINE)
            memcpy(added_ids[*nadded], m->id, sizeof(m->id));
        (*nadded)++;
        added = 1;
    }
    /* files gone */
    size_t w = 0;
    for (size_t i = 0; i < ix->nmsgs; i++) {
        msg *m = ix->msgs[i];
        if (m->maildir != md || m->present) {
            ix->msgs[w++] = m;
            continue;
        }
        map_del(&ix->by_id, m->id);
        if (m->stage == STAGE_DONE && ix->ndone > 0)
            ix->ndone--;
        if (m->hot != NULL)
            lru_remove_locked(ix, m->hot, g);
        msg_free(m);
    }
    ix->nmsgs = w;
    ix->unsorted = 1;
    if (added)
        pthread_cond_signal(&ix->wake);
}

void sgv_index_refresh(sgv_index *ix)
{
    char added[SGV_REFRESH_INLINE][SGV_ID_LEN + 1];
    size_t nadded = 0;
    pthread_mutex_lock(&ix->refresh_lock);
    for (unsigned md = 0; md < ix->cfg->nmaildirs; md++) {
        sgv_mstamp st;
        sgv_mlist l = {0};
        garbage g = {NULL, NULL};
        sgv_maildir_stamp(ix->cfg->maildirs[md], &st);
        if (sgv_mstamp_equal(&st, &ix->stamps[md]))
            continue;
        /* a folder that cannot be read now keeps what was listed */
        if (sgv_maildir_scan(ix->cfg->maildirs[md], md, &l) != 0) {
            sgv_mlist_free(&l);
            continue;
        }
        ix->stamps[md] = st;
        pthread_mutex_lock(&ix->lock);
        merge_scan(ix, md, &l, &g, added, &nadded);
        pthread_mutex_unlock(&ix->lock);
        collect(&g);
        sgv_mlist_free(&l);
    }
    pthread_mutex_unlock(&ix->refresh_lock);
    /* a few new messages (new mail while the viewer runs): their first
     * pass now, in this thread, so the list that asked shows their From
     * and Subject; it needs no DNS. Many (the first scan): the worker's. */
    if (ix->started && nadded <= SGV_REFRESH_INLINE)
        for (size_t i = 0; i < nadded; i++)
            first_pass_now(ix, added[i]);
}

/* ---- listing ------------------------------------------------------------------------------ */

static long long list_key(const msg *m)
{
    /* Date when known (seconds), else the file time */
    if (m->sum != NULL && m->sum->row.date_unix != 0)
        return m->sum->row.date_unix;
    return m->mtime / 1000000000LL;
}

static int list_cmp(const void *a, const void *b)
{
    const msg *x = *(msg *const *)a, *y = *(msg *const *)b;
    long long kx = list_key(x), ky = list_key(y);
    if (kx != ky)
        return kx < ky ? 1 : -1;
    if (x->mtime != y->mtime)
        return x->mtime < y->mtime ? 1 : -1;
    return strcmp(x->id, y->id);
}

size_t sgv_index_foreach(sgv_index *ix, sgv_row_cb cb, void *payload)
{
    pthread_mutex_lock(&ix->lock);
    if (ix->unsorted && ix->nmsgs > 1) {
        qsort(ix->msgs, ix->nmsgs, sizeof(*ix->msgs), list_cmp);
        ix->unsorted = 0;
    }
    size_t n = ix->nmsgs;
    for (size_t i = 0; i < n; i++) {
        msg *m = ix->msgs[i];
        sgv_row pending = {0};
        const sgv_row *r;
        if (m->sum != NULL) {
            r = &m->sum->row;
        } else {
            pending.id = m->id;
            pending.headline = SGR_HEADLINE_UNVERIFIED;
            pending.checking = 1;
            pending.display_name = pending.address = pending.subject = pending.date = "";
            pending.headline_detail =
                "Not verified yet: the viewer is still checking this message.";
            r = &pending;
        }
        if (cb(r, payload) != 0)
            break;
    }
    pthread_mutex_unlock(&ix->lock);
    return n;
}

void sgv_index_progress(sgv_index *ix, size_t *total, size_t *done)
{
    pthread_mutex_lock(&ix->lock);
    *total = ix->nmsgs;
    *done = ix->ndone;
    pthread_mutex_unlock(&ix->lock);
}

int sgv_index_wait_idle(sgv_index *ix, long timeout_ms)
{
    struct timespec dl;
    int idle;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ix->lock);
#define IDLE(ix) ((ix)->ndone >= (ix)->nmsgs && !(ix)->checker_stale && !(ix)->checker_building)
    while (!(idle = IDLE(ix))) {
        if (pthread_cond_timedwait(&ix->done, &ix->lock, &dl) == ETIMEDOUT) {
            idle = IDLE(ix);
            break;
        }
    }
#undef IDLE
    pthread_mutex_unlock(&ix->lock);
    return idle;
}

/* ---- opening a message ----------------------------------------------------------------------- */

/* Renders a new view of message id (no lock held). h: the hot entry the
 * caller holds a reference for (handed to the view), or NULL with data
 * owned by the view from now on. */
static vview *render(sgv_index *ix, const char *id, hot *h, char *data, size_t len,
                     long long date_unix, long long mtime, int images, int checking)
{
    vview *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return NULL;
    snprintf(v->pub.id, sizeof(v->pub.id), "%s", id);
    v->refs = 1;
    sgv_seen_ctx sc = {ix, date_unix, mtime, v->pub.id};
    sgr_correspondents corr;
    sgv_index_correspondents(&sc, &corr);
    if (explain(ix, &v->expl, v->pub.id, h ? h->data : data, h ? h->len : len, h ? h->res : NULL,
                EXPLAIN_RENDER, images, &corr, &v->cid_mime) != SGR_EXPLAIN_OK) {
        sgr_mime_free(v->cid_mime);
        free(v);
        return NULL;
    }
    v->h = h;
    if (h == NULL) {
        v->data = data;
        v->len = len;
    }
    v->pub.e = v->expl;
    v->pub.checking = checking && v->expl->verified_by != SGR_FROM_AUTHRES;
    v->pub.images_allowed = v->expl->remote_images_allowed;
    v->images_req = images;
    return v;
}

static void deadline(struct timespec *dl, long ms)
{
    clock_gettime(CLOCK_REALTIME, dl);
    dl->tv_sec += ms / 1000;
    dl->tv_nsec += (ms % 1000) * 1000000L;
    if (dl->tv_nsec >= 1000000000L) {
        dl->tv_sec++;
        dl->tv_nsec -= 1000000000L;
    }
}

int sgv_index_open(sgv_index *ix, const char *id, sgv_view **out)
{
    struct timespec dl;
    garbage g = {NULL, NULL};
    vview *v = NULL;
    msg *m;
    *out = NULL;
    deadline(&dl, SGV_OPEN_WAIT_MS);
    pthread_mutex_lock(&ix->lock);
    if ((m = find(ix, id)) == NULL) {
        pthread_mutex_unlock(&ix->lock);
        return -1;
    }
    if (m->hot == NULL) {
        /* ask the worker, wait a little, never for DNS timeouts */
        push(&ix->qp, &ix->qp_head, &ix->qp_n, &ix->qp_cap, m->id);
        pthread_cond_signal(&ix->wake);
        while ((m = find(ix, id)) != NULL && m->hot == NULL)
            if (pthread_cond_timedwait(&ix->done, &ix->lock, &dl) == ETIMEDOUT)
                break;
        if ((m = find(ix, id)) == NULL) {
            pthread_mutex_unlock(&ix->lock);
            return -1;
        }
    }
    if (m->hot != NULL) {
        hot *h = m->hot;
        int images = m->images;
        if (h->view != NULL && h->view->images_req == images) {
            h->view->refs++;
            *out = &h->view->pub;
            pthread_mutex_unlock(&ix->lock);
            return 0;
        }
        h->refs++; /* the view's */
        pthread_mutex_unlock(&ix->lock);
        v = render(ix, id, h, NULL, 0, h->date_unix, h->mtime, images, 0);
        pthread_mutex_lock(&ix->lock);
        if (v == NULL) {
            hot_unref_locked(h, &g);
        } else if ((m = find(ix, id)) != NULL && m->hot == h) {
            /* cached on the entry while it stays in the LRU */
            if (h->view != NULL)
                view_unref_locked(h->view, &g);
            h->view = v;
            v->refs++;
        }
        pthread_mutex_unlock(&ix->lock);
        collect(&g);
        if (v == NULL)
            return -2;
        *out = &v->pub;
        return 0;
    }
    /* not verified in time: shown as it stands, unverified */
    unsigned md = m->maildir;
    int sub = m->sub;
    char *name = strdup(m->name);
    long long date = m->sum ? m->sum->row.date_unix : 0, mt = m->mtime;
    pthread_mutex_unlock(&ix->lock);
    char *data = NULL;
    size_t len = 0;
    int truncated;
    if (name == NULL)
        return -2;
    if (sgv_maildir_read(ix->cfg->maildirs[md], sub, name, &data, &len, &truncated) != 0) {
        free(name);
        if ((v = calloc(1, sizeof(*v))) == NULL)
            return -2;
        v->refs = 1;
        snprintf(v->pub.id, sizeof(v->pub.id), "%s", id);
        v->pub.unreadable = 1;
        *out = &v->pub;
        return 0;
    }
    free(name);
    if ((v = render(ix, id, NULL, data, len, date, mt, 0, 1)) == NULL) {
        free(data);
        return -2;
    }
    *out = &v->pub;
    return 0;
}

void sgv_view_release(sgv_index *ix, sgv_view *pub)
{
    garbage g = {NULL, NULL};
    if (pub == NULL)
        return;
    pthread_mutex_lock(&ix->lock);
    view_unref_locked((vview *)pub, &g);
    pthread_mutex_unlock(&ix->lock);
    collect(&g);
}

int sgv_index_allow_images(sgv_index *ix, const char *id)
{
    int rc;
    pthread_mutex_lock(&ix->lock);
    msg *m = find(ix, id);
    if (m == NULL)
        rc = -1;
    else if (m->stage != STAGE_DONE || m->sum == NULL ||
             m->sum->row.headline != SGR_HEADLINE_VERIFIED)
        rc = -2;
    else {
        m->images = 1;
        rc = 0;
    }
    pthread_mutex_unlock(&ix->lock);
    return rc;
}

/* ---- life cycle
 * ---------------------------------------------------------------------------------- */

size_t sgv_index_operator_domains(const sgv_index *ix, char *const **out)
{
    *out = ix->operator_domains;
    return ix->noperator;
}

/* One domain a line, `#` comments. */
static int load_operator_domains(sgv_index *ix, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    char line[1100];
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p = line, *h = strchr(line, '#');
        if (h != NULL)
            *h = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, " \t\r\n");
        if (n == 0)
            continue;
        p[n] = '\0';
        char **nv = realloc(ix->operator_domains, (ix->noperator + 1) * sizeof(*nv));
        if (nv == NULL || (nv[ix->noperator] = strdup(p)) == NULL) {
            if (nv != NULL)
                ix->operator_domains = nv;
            fclose(f);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        ix->operator_domains = nv;
        ix->noperator++;
    }
    fclose(f);
    return 0;
}

int sgv_index_new(sgv_index **out, const sgv_config *cfg, sg_resolver *resolver, char *err,
                  size_t errlen)
{
    sgv_index *ix = calloc(1, sizeof(*ix));
    *out = NULL;
    if (ix == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ix->cfg = cfg;
    ix->corr_max = cfg->correspondents_max ? cfg->correspondents_max : SGV_CORRESPONDENTS_MAX;
    ix->resolver = resolver;
    pthread_mutex_init(&ix->lock, NULL);
    pthread_mutex_init(&ix->refresh_lock, NULL);
    pthread_cond_init(&ix->wake, NULL);
    pthread_cond_init(&ix->done, NULL);
    sg_verdict_opts_init(&ix->vopts);
    ix->vopts.authserv_id = cfg->authserv_id;
    ix->vopts.protected_domains = cfg->protect;
    ix->vopts.nprotected = cfg->nprotect;
    ix->vopts.now = cfg->now;
    if ((ix->stamps = calloc(cfg->nmaildirs + 1, sizeof(*ix->stamps))) == NULL ||
        sg_dkim_keycache_new(&ix->keycache, 0) != 0 ||
        sg_spf_cache_new(&ix->spf_cache, 1000) != 0) {
        snprintf(err, errlen, "out of memory");
        sgv_index_free(ix);
        return -1;
    }
    ix->vopts.keycache = ix->keycache;
    ix->psl = cfg->psl ? psl_load_file(cfg->psl) : psl_latest(NULL);
    /* the same list again as the DMARC engine's type: the verdicts it
     * computes (mail without our Authentication-Results) then guard
     * suffixes by the list the page's organisation names come from */
    int prc = sg_dmarc_psl_open(&ix->dmarc_psl, cfg->psl);
    if (prc != 0 && prc != SG_EUNSUPPORTED) {
        if (prc == SG_EIO)
            snprintf(err, errlen, "cannot load the public suffix list %s", cfg->psl);
        else
            snprintf(err, errlen, "out of memory");
        sgv_index_free(ix);
        return -1;
    }
    sg_dmarc_opts_init(&ix->dmarc);
    ix->dmarc.psl = ix->dmarc_psl;
    ix->vopts.dmarc = &ix->dmarc;
    if (getrandom(ix->link_key, sizeof(ix->link_key), 0) != (ssize_t)sizeof(ix->link_key)) {
        snprintf(err, errlen, "getrandom failed");
        sgv_index_free(ix);
        return -1;
    }
    ix->vopts.spf_cache = ix->spf_cache;
    if (cfg->operator_domains != NULL &&
        load_operator_domains(ix, cfg->operator_domains, err, errlen) != 0) {
        sgv_index_free(ix);
        return -1;
    }
    if (checker_build(ix, NULL, 0, &ix->chk, err, errlen) != 0) {
        sgv_index_free(ix);
        return -1;
    }
    /* the verdict checks --protect names itself: a bad one fails here */
    if (resolver != NULL) {
        sg_verdict *v = NULL;
        if (sg_verdict_new(&v, resolver, &ix->vopts) != 0) {
            snprintf(err, errlen, "--protect: a name that is not a domain");
            sgv_index_free(ix);
            return -1;
        }
        sg_verdict_free(v);
    }
    *out = ix;
    return 0;
}

int sgv_index_start(sgv_index *ix)
{
    clock_gettime(CLOCK_MONOTONIC, &ix->started_at);
    sgv_index_refresh(ix);
    if (pthread_create(&ix->thread, NULL, worker, ix) != 0)
        return -1;
    ix->started = 1;
    return 0;
}

void sgv_index_free(sgv_index *ix)
{
    garbage g = {NULL, NULL};
    if (ix == NULL)
        return;
    if (ix->started) {
        pthread_mutex_lock(&ix->lock);
        ix->stop = 1;
        pthread_cond_broadcast(&ix->wake);
        pthread_mutex_unlock(&ix->lock);
        pthread_join(ix->thread, NULL);
    }
    pthread_mutex_lock(&ix->lock);
    while (ix->nlru > 0)
        lru_remove_locked(ix, ix->lru[0], &g);
    pthread_mutex_unlock(&ix->lock);
    collect(&g);
    for (size_t i = 0; i < ix->nmsgs; i++)
        msg_free(ix->msgs[i]);
    free(ix->msgs);
    map_free(&ix->by_id, NULL);
    map_free(&ix->addrs, addr_free);
    map_free(&ix->names, free);
    map_free(&ix->corr_domains, NULL);
    free(ix->qa);
    free(ix->qb);
    free(ix->qp);
    free(ix->stamps);
    for (size_t i = 0; i < ix->noperator; i++)
        free(ix->operator_domains[i]);
    free(ix->operator_domains);
    if (ix->chk != NULL) {
        sgr_lookalike_free(ix->chk->lk);
        free(ix->chk);
    }
    psl_free(ix->psl);
    sg_dmarc_psl_free(ix->dmarc_psl);
    sg_dkim_keycache_free(ix->keycache);
    sg_spf_cache_free(ix->spf_cache);
    pthread_cond_destroy(&ix->wake);
    pthread_cond_destroy(&ix->done);
    pthread_mutex_destroy(&ix->lock);
    pthread_mutex_destroy(&ix->refresh_lock);
    free(ix);
}

long long sgv_index_first_index_ns(sgv_index *ix)
{
    pthread_mutex_lock(&ix->lock);
    long long v = ix->first_index_ns;
    pthread_mutex_unlock(&ix->lock);
    return v;
}
