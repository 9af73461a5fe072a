/*
 * Collection (issue 16 item 1): a worker counts what each DMARC evaluation
 * saw in a table of its own, in memory (no lock, no I/O on the event loop);
 * a flush adds the counts to the store's `collected` table in one
 * transaction. The key of a group is its RFC 9990 grouping written as one
 * string (fields separated by 0x1f), so equal groups meet in one counter.
 * The table is bounded: when it is full sgrep_collect_add says so and the
 * caller flushes early or counts the loss; it never grows past its bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "send.h"

#define SEP '\x1f'
/* day .. policy, then the reason: a key written before the reason existed
 * (12 fields, in a cluster's Redis) reads as one without a reason */
#define NFIELDS 13

typedef struct {
    char *key; /* NULL: empty slot */
    uint64_t hash;
    uint64_t count;
} slot;

struct sgrep_collect {
    slot *slots;
    size_t cap;     /* a power of two, at least twice used */
    size_t max_cap; /* cap once max groups are held */
    size_t max, used;
    uint64_t messages;
};

#define MIN_CAP 256

sgrep_collect *sgrep_collect_new(size_t max_groups)
{
    sgrep_collect *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (max_groups < 16)
        max_groups = 16;
    size_t cap = MIN_CAP;
    while (cap < max_groups * 2)
        cap *= 2;
    c->max_cap = cap;
    /* the table grows with what it holds: an idle worker's costs little */
    c->cap = MIN_CAP < cap ? MIN_CAP : cap;
    c->slots = calloc(c->cap, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return NULL;
    }
    c->max = max_groups;
    return c;
}

static void clear(sgrep_collect *c)
{
    for (size_t i = 0; c->used && i < c->cap; i++)
        if (c->slots[i].key) {
            free(c->slots[i].key);
            c->slots[i].key = NULL;
            c->used--;
        }
    c->used = 0;
    c->messages = 0;
}

/* Doubles the slot array (rehashing); -1 on no memory (the table stays). */
static int grow(sgrep_collect *c)
{
    size_t cap = c->cap * 2;
    slot *n = calloc(cap, sizeof *n);
    if (!n)
        return -1;
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->slots[i].key)
            continue;
        size_t j = (size_t)c->slots[i].hash & (cap - 1);
        while (n[j].key)
            j = (j + 1) & (cap - 1);
        n[j] = c->slots[i];
    }
    free(c->slots);
    c->slots = n;
    c->cap = cap;
    return 0;
}

void sgrep_collect_free(sgrep_collect *c)
{
    if (!c)
        return;
    clear(c);
    free(c->slots);
    free(c);
}

size_t sgrep_collect_groups(const sgrep_collect *c)
{
    return c->used;
}
uint64_t sgrep_collect_messages(const sgrep_collect *c)
{
    return c->messages;
}

/* What each byte of a field becomes in the key: lower case (domains and
 * result words are case-insensitive), and none of the separators the
 * stored strings use (0x1f between fields, ' ' between DKIM results, '/'
 * inside one) nor another control character: '_' instead. */
static const unsigned char key_byte[256] = {
#define KB4(c) KB(c), KB(c + 1), KB(c + 2), KB(c + 3)
#define KB16(c) KB4(c), KB4(c + 4), KB4(c + 8), KB4(c + 12)
#define KB(c)                                                                                      \
    (unsigned char)((c) < 0x20 || (c) == 0x7f || (c) == ' ' || (c) == '/' ? '_'                    \
                    : (c) >= 'A' && (c) <= 'Z'                            ? (c) - 'A' + 'a'        \
                                                                          : (c))
    KB16(0x00), KB16(0x10), KB16(0x20), KB16(0x30), KB16(0x40), KB16(0x50), KB16(0x60), KB16(0x70),
    KB16(0x80), KB16(0x90), KB16(0xa0), KB16(0xb0), KB16(0xc0), KB16(0xd0), KB16(0xe0), KB16(0xf0),
#undef KB
#undef KB16
#undef KB4
};

/* Appends at most max bytes of s (key_byte'd), then sep unless 0. The key
 * is sized so the bounded fields always fit (KEY_NEED); cap only guards. */
static void add_field(char *k, size_t *j, size_t cap, const char *s, size_t max, int sep)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    for (size_t n = 0; *p && n < max && *j + 2 < cap; p++, n++)
        k[(*j)++] = (char)key_byte[*p];
    if (sep && *j + 1 < cap)
        k[(*j)++] = (char)sep;
}

/* What a report can carry of each field. A name is a DNS name (RFC 1035
 * 2.3.4: 253 octets, 63 a label); the others are our own words or bounded
 * by what makes them. */
#define NAME_MAX 253
#define IP_MAX 64
#define WORD_MAX 16
#define POLICY_MAX 160
#define OVERRIDE_TYPE_MAX 32
#define OVERRIDE_COMMENT_MAX 300
/* Everything but the DKIM results, separators included: the day, policy
 * domain, source, disposition, two alignments, three identifiers, then SPF
 * (name/scope/result), the policy and the reason (type/comment). */
#define HEAD_MAX (24 + NAME_MAX + IP_MAX + WORD_MAX + 4 + 4 + 3 * NAME_MAX + 9)
#define TAIL_MAX                                                                                   \
    (1 + NAME_MAX + WORD_MAX + WORD_MAX + 2 + 1 + POLICY_MAX + 1 + OVERRIDE_TYPE_MAX + 1 +         \
     OVERRIDE_COMMENT_MAX)
#define KEY_MAX 4096
_Static_assert(HEAD_MAX + TAIL_MAX + 1 < KEY_MAX, "the key holds every field but DKIM's");

/* Whether s is a DNS name by length: what a report's domain or selector
 * may be. */
static int name_fits(const char *s)
{
    size_t n = 0, label = 0;
    for (; s && *s; s++) {
        if (++n > NAME_MAX)
            return 0;
        label = *s == '.' ? 0 : label + 1;
        if (label > 63)
            return 0;
    }
    return 1;
}

/* FNV-1a over 8-byte words, then a final mix (splitmix64's): a key is a
 * few hundred bytes and is hashed once per message, so byte at a time cost
 * as much as building it. Only equal keys must meet; the table's strcmp
 * decides equality. */
static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
    }
    w = 0;
    memcpy(&w, s + i, n - i);
    h = (h ^ w ^ n) * 0x100000001b3ull;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

int sgrep_collect_add(sgrep_collect *c, const sgrep_obs *o)
{
    char k[KEY_MAX];
    size_t j = 0;
    /* the UTC day's first second, in decimal (snprintf cost as much as the
     * rest of the key) */
    char day[24], *d = day + sizeof day;
    long long t = (long long)(o->when - (o->when % 86400));
    int neg = t < 0;
    unsigned long long u = neg ? 0ull - (unsigned long long)t : (unsigned long long)t;
    *--d = '\0';
    do
        *--d = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (neg)
        *--d = '-';
    /* Every field is bounded by what a report carries (a name longer than
     * a DNS name is cut at 253 octets), so all of them but the DKIM
     * results always fit; those get the room that is left, and one that
     * does not fit is dropped with the ones after it. A sender who writes
     * many long broken signatures loses some DKIM results from the
     * record, never its SPF result or the published policy. */
    add_field(k, &j, sizeof k, d, sizeof day, SEP);
    add_field(k, &j, sizeof k, o->policy_domain, NAME_MAX, SEP);
    add_field(k, &j, sizeof k, o->source_ip, IP_MAX, SEP);
    add_field(k, &j, sizeof k, o->disposition ? o->disposition : "none", WORD_MAX, SEP);
    add_field(k, &j, sizeof k, o->dkim_aligned ? "pass" : "fail", 4, SEP);
    add_field(k, &j, sizeof k, o->spf_aligned ? "pass" : "fail", 4, SEP);
    add_field(k, &j, sizeof k, o->header_from, NAME_MAX, SEP);
    add_field(k, &j, sizeof k, o->envelope_from, NAME_MAX, SEP);
    add_field(k, &j, sizeof k, o->envelope_to, NAME_MAX, SEP);

    char tail[TAIL_MAX + 2];
    size_t tl = 0;
    tail[tl++] = SEP;
    if (o->spf_domain && *o->spf_domain) {
        add_field(tail, &tl, sizeof tail, o->spf_domain, NAME_MAX, '/');
        add_field(tail, &tl, sizeof tail, o->spf_scope ? o->spf_scope : "mfrom", WORD_MAX, '/');
        add_field(tail, &tl, sizeof tail, o->spf_result ? o->spf_result : "none", WORD_MAX, 0);
    }
    tail[tl++] = SEP;
    char pol[POLICY_MAX];
    sgrep_policy_format(pol, sizeof pol, o);
    for (const char *p = pol; *p; p++)
        tail[tl++] = *p;
    if (o->override_type && *o->override_type) {
        tail[tl++] = SEP;
        add_field(tail, &tl, sizeof tail, o->override_type, OVERRIDE_TYPE_MAX,
                  o->override_comment && *o->override_comment ? '/' : 0);
        add_field(tail, &tl, sizeof tail, o->override_comment, OVERRIDE_COMMENT_MAX, 0);
    }

    size_t room = sizeof k - 1 - tl;
    unsigned kept = 0;
    for (unsigned i = 0; i < o->ndkim && i < SGREP_OBS_MAX_DKIM; i++) {
        /* a domain that is not a name cannot be reported; a selector that
         * is not one (a broken signature's s= is copied raw) is left
         * empty: the result still says the domain signed and failed */
        const char *dom = o->dkim[i].domain, *sel = o->dkim[i].selector;
        if (!dom || !*dom || !name_fits(dom))
            continue;
        if (!name_fits(sel))
            sel = "";
        const char *res = o->dkim[i].result ? o->dkim[i].result : "";
        size_t rl = strlen(res) < WORD_MAX ? strlen(res) : WORD_MAX;
        size_t need = (kept ? 1 : 0) + strlen(dom) + 1 + strlen(sel) + 1 + rl;
        if (j + need > room)
            break;
        if (kept)
            k[j++] = ' ';
        add_field(k, &j, sizeof k, dom, NAME_MAX, '/');
        add_field(k, &j, sizeof k, sel, NAME_MAX, '/');
        add_field(k, &j, sizeof k, res, WORD_MAX, 0);
        kept++;
    }
    memcpy(k + j, tail, tl);
    j += tl;
    k[j] = 0;

    uint64_t h = hash(k, j);
    size_t i = (size_t)h & (c->cap - 1);
    while (c->slots[i].key) {
        if (c->slots[i].hash == h && !strcmp(c->slots[i].key, k)) {
            c->slots[i].count++;
            c->messages++;
            return 0;
        }
        i = (i + 1) & (c->cap - 1);
    }
    if (c->used >= c->max)
        return -1;
    if ((c->used + 1) * 2 > c->cap && c->cap < c->max_cap) {
        if (grow(c) != 0)
            return -1;
        i = (size_t)h & (c->cap - 1);
        while (c->slots[i].key)
            i = (i + 1) & (c->cap - 1);
    }
    char *key = malloc(j + 1);
    if (!key)
        return -1;
    memcpy(key, k, j + 1);
    c->slots[i].key = key;
    c->slots[i].hash = h;
    c->slots[i].count = 1;
    c->used++;
    c->messages++;
    return 0;
}

static const char upsert_sql[] =
    "INSERT INTO collected(day, policy_domain, source_ip, disposition, dkim_aligned,"
    " spf_aligned, header_from, envelope_from, envelope_to, dkim, spf, policy, reason, count)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    " ON CONFLICT DO UPDATE SET count = count + excluded.count";

/* One group (its key split into the columns) added to `collected`. */
static int upsert(sqlite3_stmt *st, const char *k, size_t klen, uint64_t count)
{
    const char *f[NFIELDS], *end = k + klen;
    size_t n[NFIELDS];
    const char *p = k;
    for (int x = 0; x < NFIELDS; x++) {
        const char *e = memchr(p, SEP, (size_t)(end - p));
        f[x] = p;
        n[x] = e ? (size_t)(e - p) : (size_t)(end - p);
        p = e ? e + 1 : end;
    }
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, strtoll(f[0], NULL, 10));
    for (int x = 1; x < NFIELDS; x++)
        sqlite3_bind_text(st, x + 1, f[x], (int)n[x], SQLITE_STATIC);
    sqlite3_bind_int64(st, NFIELDS + 1, (sqlite3_int64)count);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int sgrep_collect_flush(sgrep_collect *c, sqlite3 *db, char *err, size_t errlen)
{
    if (!c->used)
        return 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, upsert_sql, -1, &st, NULL) != SQLITE_OK)
        goto fail;
    for (size_t i = 0; i < c->cap; i++) {
        const char *k = c->slots[i].key;
        if (k && upsert(st, k, strlen(k), c->slots[i].count) != 0)
            goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    clear(c);
    return 0;
fail:
    snprintf(err, errlen, "flush: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* ---- a cluster's counts in Redis ----------------------------------------- */

/* The day of a group key: its first field. */
static long long key_day(const char *k)
{
    return strtoll(k, NULL, 10);
}

int sgrep_collect_flush_redis(sgrep_collect *c, redisContext *r, char *err, size_t errlen)
{
    if (!c->used)
        return 0;
    if (r == NULL || r->err) {
        snprintf(err, errlen, "redis: %s", r ? r->errstr : "not connected");
        return -1;
    }
    /* MULTI .. EXEC: the counts of one flush are added all or not at all,
     * so a flush that fails is retried whole without counting twice (but
     * for an EXEC that ran and whose answer was lost) */
    size_t queued = 2;
    redisAppendCommand(r, "MULTI");
    for (size_t i = 0; i < c->cap; i++) {
        const char *k = c->slots[i].key;
        if (!k)
            continue;
        char hkey[64];
        snprintf(hkey, sizeof hkey, SGREP_REDIS_DAY_PREFIX "%lld", key_day(k));
        redisAppendCommand(r, "HINCRBY %s %b %llu", hkey, k, strlen(k),
                           (unsigned long long)c->slots[i].count);
        redisAppendCommand(r, "EXPIRE %s %d", hkey, SGREP_REDIS_TTL);
        queued += 2;
    }
    redisAppendCommand(r, "EXEC");
    int ok = 1;
    for (size_t i = 0; i < queued; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(r, (void **)&rep) != REDIS_OK) {
            snprintf(err, errlen, "redis: %s", r->errstr);
            return -1; /* the connection is unusable: the caller drops it */
        }
        if (i + 1 == queued && (rep == NULL || rep->type != REDIS_REPLY_ARRAY))
            ok = 0;
        freeReplyObject(rep);
    }
    if (!ok) {
        snprintf(err, errlen, "redis: the transaction was refused");
        return -1;
    }
    clear(c);
    return 0;
}

int sgrep_collected_from_redis(sqlite3 *db, redisContext *r, int64_t day, uint64_t *groups,
                               char *err, size_t errlen)
{
    char hkey[64];
    snprintf(hkey, sizeof hkey, SGREP_REDIS_DAY_PREFIX "%lld", (long long)day);
    *groups = 0;
    redisReply *rep = redisCommand(r, "HGETALL %s", hkey);
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "redis: %s",
                 rep && rep->type == REDIS_REPLY_ERROR ? rep->str : r->errstr);
        freeReplyObject(rep);
        return -1;
    }
    sqlite3_stmt *del = NULL, *st = NULL;
    /* the cluster's totals replace this store's rows of the day: in
     * cluster mode no daemon writes them here */
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "DELETE FROM collected WHERE day=?1", -1, &del, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, upsert_sql, -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_int64(del, 1, day);
    if (sqlite3_step(del) != SQLITE_DONE)
        goto fail;
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        redisReply *k = rep->element[i], *v = rep->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        char *e;
        unsigned long long n = strtoull(v->str, &e, 10);
        /* a field of this day only: the key's day is its first field */
        if (*e != '\0' || n == 0 || key_day(k->str) != (long long)day)
            continue;
        if (upsert(st, k->str, k->len, n) != 0)
            goto fail;
        (*groups)++;
    }
    sqlite3_finalize(del);
    sqlite3_finalize(st);
    freeReplyObject(rep);
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
fail:
    snprintf(err, errlen, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(del);
    sqlite3_finalize(st);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    freeReplyObject(rep);
    return -1;
}
