/*
 * The daemon's asynchronous Redis client for the outbound records
 * (obredis.h).
 */
#include "obredis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <spoofguard/outbound.h>

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#define CACHE_N 4096u  /* direct-mapped: a miss costs one extra round trip */
#define MAX_ATTEMPTS 8 /* decisions per update when the records keep changing */
#define DOMAIN_TRIES 2 /* compare-and-set tries of the domain record */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

typedef struct {
    char key[SG_OBS_KEY_MAX + 1];
    char ver[SG_OBS_VER_MAX];
    uint8_t *val;
    size_t len;
    uint64_t at_ms; /* when Redis said so */
} cache_ent;

typedef struct req {
    struct req *prev, *next; /* in flight, oldest first */
    sg_obredis *r;
    uint64_t id;
    uint64_t sent_ms;
    sg_obs_rec *recs;
    size_t n;
    sg_obs_fn fn;
    void *ctx;
    sg_obredis_done done; /* NULL once answered or cancelled */
    void *payload;
    int attempts;
    int waiting;   /* not sent: another decision for key0 is in flight */
    int cancelled; /* fn's data is gone: never decide again */
    int by_text;   /* Redis did not know the script by its SHA-1: send it whole */
    char ver[SG_OBS_MAXKEYS][SG_OBS_VER_MAX];
    char key0[SG_OBS_KEY_MAX + 1]; /* the account's record (recs may go first) */
} req;

struct sg_obredis {
    uv_loop_t *loop;
    const sg_logger *log;
    atomic_int *fallback_active;
    char host[256];
    int port, db;
    unsigned timeout_ms, ttl_s;
    redisAsyncContext *ac;
    uint64_t connect_ms; /* when ac started connecting */
    int up;              /* connected and answering */
    int down;            /* counted in fallback_active */
    unsigned backoff_ms;
    uv_timer_t retry;    /* reconnect */
    uv_timer_t watchdog; /* the oldest request's age */
    req *head, *tail;
    uint64_t next_id;
    cache_ent *cache;
    int closing;
    /* the script's SHA-1 in hex: EVALSHA spares Redis the script's text
     * and its hashing at every decision (31 us a call against 39) */
    char sha[41];
    int64_t offset_s;       /* Redis's clock minus ours (sg_obredis_time) */
    int64_t offset_said;    /* the offset last logged (outbound_clock_skew) */
    uint64_t time_asked_ms; /* when TIME was last sent (CLOCK_EVERY_MS) */
};

static void connect_now(sg_obredis *r);
static uint64_t now_ms(sg_obredis *r);

/* One log line of the Redis store: {"event":E,"store":"redis",K:V} */
static void say(const sg_obredis *r, const char *event, const char *key, const char *value)
{
    sg_logline l;
    sg_logline_start(&l);
    sg_logline_kv(&l, "event", event);
    sg_logline_kv(&l, "store", "redis");
    sg_logline_kv(&l, key, value);
    sg_logline_emit(&l, r->log);
}

/* An offset this large is said: a host whose clock is that far from
 * Redis's would decide its windows on its own clock alone. */
#define CLOCK_SAID_S 10
/* TIME again at most this often, at a decision: a clock that drifts or
 * is stepped is followed within a minute */
#define CLOCK_EVERY_MS 60000
/* Microseconds since 2001: anything less is no clock reading */
#define CLOCK_MIN_US 1000000000000000ull

/* Redis's clock at us microseconds (TIME); the worker decides on it from
 * now on. Not from the versions its writes return: after Redis's clock
 * steps back a version is the record's last one plus one, ahead of any
 * clock (rev27 R27-1: an offset flipping by the step at every decision). */
static void learn_clock(sg_obredis *r, uint64_t us)
{
    if (us < CLOCK_MIN_US)
        return;
    int64_t off = (int64_t)(us / 1000000) - (int64_t)time(NULL);
    r->offset_s = off;
    int64_t moved = off - r->offset_said;
    if (moved >= CLOCK_SAID_S || moved <= -CLOCK_SAID_S) {
        char text[32];
        snprintf(text, sizeof(text), "%lld", (long long)off);
        say(r, "outbound_clock_skew", "redis_minus_ours_s", text);
        r->offset_said = off;
    }
}

/* TIME's answer, asked at each connection and at most once a minute */
static void on_time(redisAsyncContext *ac, void *reply, void *privdata)
{
    sg_obredis *r = ac->data;
    redisReply *rep = reply;
    (void)privdata;
    if (rep == NULL || r->ac != ac)
        return;
    learn_clock(r, sg_obs_time_reply_us(rep));
}

static void ask_time(sg_obredis *r)
{
    r->time_asked_ms = now_ms(r);
    redisAsyncCommand(r->ac, on_time, NULL, "TIME");
}

int64_t sg_obredis_time(const sg_obredis *r)
{
    return (int64_t)time(NULL) + r->offset_s;
}

static uint64_t now_ms(sg_obredis *r)
{
    return uv_now(r->loop);
}

static void set_down(sg_obredis *r, int down, const char *why)
{
    if (down == r->down)
        return;
    r->down = down;
    atomic_fetch_add(r->fallback_active, down ? 1 : -1);
    say(r, down ? "outbound_store_down" : "outbound_store_up", "why", why);
}

static cache_ent *cache_slot(sg_obredis *r, const char *key)
{
    uint32_t h = 2166136261u;
    for (const char *p = key; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return &r->cache[h % CACHE_N];
}

/* Does the copy e holds (of any age) hold a block? */
static int ent_blocked(const cache_ent *e)
{
    sg_ob_account *a;
    if (strcmp(e->ver, "0") == 0 || e->val == NULL || sg_ob_account_new(&a) != 0)
        return 0;
    int blocked =
        sg_ob_account_decode(a, e->val, e->len) == 0 && sg_ob_account_blocked(a, NULL, NULL);
    sg_ob_account_free(a);
    return blocked;
}

static void cache_put(sg_obredis *r, const char *key, const char *ver, size_t verlen,
                      const uint8_t *val, size_t len)
{
    cache_ent *e = cache_slot(r, key);
    uint8_t *v = malloc(len ? len : 1);
    if (v == NULL || verlen >= sizeof(e->ver)) {
        free(v);
        e->key[0] = '\0'; /* forget it: the next update asks Redis */
        return;
    }
    memcpy(v, val, len);
    free(e->val);
    e->val = v;
    e->len = len;
    snprintf(e->key, sizeof(e->key), "%s", key);
    memcpy(e->ver, ver, verlen);
    e->ver[verlen] = '\0';
    e->at_ms = now_ms(r);
}

static void unlink_req(sg_obredis *r, req *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else if (r->head == q)
        r->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else if (r->tail == q)
        r->tail = q->prev;
    q->prev = q->next = NULL;
}

static void answer(req *q, int status)
{
    sg_obredis_done d = q->done;
    q->done = NULL;
    if (d)
        d(q->payload, status);
}

/* Every request in flight gets its answer now (Redis failed). Those not
 * sent have no reply to wait for: gone at once. */
static void fail_all(sg_obredis *r)
{
    for (req *q = r->head, *next; q; q = next) {
        next = q->next;
        answer(q, -1);
        if (q->waiting) {
            unlink_req(r, q);
            free(q);
        }
    }
}

static int send_cas(sg_obredis *r, req *q);
static void start_next(sg_obredis *r, const char *key);

/* After an error reply: the account's record read again (on_reply), then
 * the answer -1 (count in memory). */
static void on_reread(redisAsyncContext *ac, void *reply, void *privdata)
{
    req *q = privdata;
    sg_obredis *r = q->r;
    redisReply *rep = reply;
    (void)ac;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_STRING && rep->element[1]->type == REDIS_REPLY_STRING)
        cache_put(r, q->key0, rep->element[0]->str, rep->element[0]->len,
                  (const uint8_t *)rep->element[1]->str, rep->element[1]->len);
    answer(q, -1);
    char key[SG_OBS_KEY_MAX + 1];
    memcpy(key, q->key0, sizeof(key));
    unlink_req(r, q);
    free(q);
    if (rep != NULL)
        start_next(r, key);
}

/* Decides q on what this worker saw last (Redis says if it changed) and
 * sends it. */
static int start(sg_obredis *r, req *q)
{
    for (size_t i = 0; i < q->n; i++) {
        cache_ent *e = cache_slot(r, q->recs[i].key);
        int hit = strcmp(e->key, q->recs[i].key) == 0;
        snprintf(q->ver[i], sizeof(q->ver[i]), "%s", hit ? e->ver : "0");
        q->recs[i].cur = hit && strcmp(e->ver, "0") != 0 ? e->val : NULL;
        q->recs[i].curlen = q->recs[i].cur ? e->len : 0;
    }
    q->sent_ms = now_ms(r);
    return q->fn(q->ctx, q->recs, q->n) != 0 || send_cas(r, q) != 0 ? -1 : 0;
}

/* The decision for key ended: the next one waiting for it starts, on the
 * records the first left in the cache. */
static void start_next(sg_obredis *r, const char *key)
{
    for (req *q = r->head, *next; q; q = next) {
        next = q->next;
        if (!q->waiting || strcmp(q->key0, key) != 0)
            continue;
        q->waiting = 0;
        if (!q->cancelled && q->done != NULL && start(r, q) == 0)
            return;
        answer(q, -1);
        unlink_req(r, q);
        free(q);
    }
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    req *q = privdata;
    sg_obredis *r = q->r;
    redisReply *rep = reply;
    (void)ac;
    if (rep == NULL) {
        /* the connection went: fail_all ends the waiting ones */
        answer(q, -1);
        unlink_req(r, q);
        free(q);
        return;
    }
    if (q->done == NULL || q->cancelled) { /* the caller is gone */
        answer(q, -1);
        goto done;
    }
    /* a Redis that restarted or flushed its scripts: once with the text,
     * which caches it again */
    if (rep->type == REDIS_REPLY_ERROR && !q->by_text && !strncmp(rep->str, "NOSCRIPT", 8)) {
        q->by_text = 1;
        if (send_cas(r, q) == 0)
            return; /* the same request, sent again */
        answer(q, -1);
        goto done;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        rep->element[0]->type != REDIS_REPLY_INTEGER) {
        char why[160];
        /* Redis's own words (OOM, READONLY, NOAUTH...): an error reply is
         * a store that does not work, for the gauge as for the log */
        snprintf(why, sizeof(why), "%s",
                 rep->type == REDIS_REPLY_ERROR && rep->str ? rep->str : "unexpected answer");
        say(r, "outbound_store_error", "why", why);
        set_down(r, 1, why);
        /* A Redis that refuses writes (full, read-only) still reads: the
         * account's record as it is now, so that the decision counted in
         * memory still sees a block made elsewhere (sg_obredis_cached_blocked) */
        char key[SG_OBS_KEY_MAX + 8];
        snprintf(key, sizeof(key), SG_OBS_REDIS_PREFIX "%s", q->key0);
        if (rep->type == REDIS_REPLY_ERROR &&
            redisAsyncCommand(r->ac, on_reread, q, "HMGET %s v d", key) == REDIS_OK)
            return;
        answer(q, -1);
        goto done;
    }
    if (rep->element[0]->integer == 1 && rep->elements == 1 + q->n) {
        set_down(r, 0, "answering");
        /* only an answer proves Redis works: a stalled one still accepts
         * connections (the backoff would start again at each) */
        r->backoff_ms = BACKOFF_MIN_MS;
        for (size_t i = 0; i < q->n; i++) {
            redisReply *v = rep->element[1 + i];
            if (v->type == REDIS_REPLY_STRING)
                cache_put(r, q->recs[i].key, v->str, v->len, q->recs[i].next, q->recs[i].nextlen);
        }
        answer(q, 0);
        goto done;
    }
    if (rep->element[0]->integer != 0 || rep->elements != 1 + 2 * q->n) {
        answer(q, -1);
        goto done;
    }
    /* A conflict: decide again on the records as they are now. */
    for (size_t i = 0; i < q->n; i++) {
        redisReply *v = rep->element[1 + 2 * i], *d = rep->element[2 + 2 * i];
        if (v->type != REDIS_REPLY_STRING || d->type != REDIS_REPLY_STRING ||
            v->len >= sizeof(q->ver[i])) {
            answer(q, -1);
            goto done;
        }
        int had = strcmp(q->ver[i], "0") != 0 && strcmp(q->ver[i], "*") != 0;
        memcpy(q->ver[i], v->str, v->len);
        q->ver[i][v->len] = '\0';
        int absent = strcmp(q->ver[i], "0") == 0;
        const cache_ent *e = cache_slot(r, q->recs[i].key);
        if (had && absent && strcmp(e->key, q->recs[i].key) == 0 && ent_blocked(e)) {
            /* versions never go back to none: Redis lost a record that
             * held a block (a restart without persistence, FLUSHALL, an
             * allkeys eviction), and the account is free again. Said, as
             * nothing else will (adv43 F2) */
            say(r, "outbound_block_lost", "account", q->recs[i].key);
        }
        q->recs[i].cur = absent ? NULL : (const uint8_t *)d->str;
        q->recs[i].curlen = absent ? 0 : d->len;
        cache_put(r, q->recs[i].key, v->str, v->len, (const uint8_t *)d->str, d->len);
    }
    /* The sending domain's record is shared by every account of the
     * domain, on every worker and host: after DOMAIN_TRIES conflicts it is
     * written whatever its version (its counts may then miss the messages
     * of that moment), so a busy domain never starves its accounts; the
     * account's record stays exact. */
    if (++q->attempts >= DOMAIN_TRIES)
        for (size_t i = 1; i < q->n; i++)
            strcpy(q->ver[i], "*");
    if (q->attempts >= MAX_ATTEMPTS) {
        /* other workers or hosts keep winning on this account: its
         * messages wait (a 4xx), never counted where no block is seen */
        answer(q, SG_OBREDIS_BUSY);
        goto done;
    }
    if (q->fn(q->ctx, q->recs, q->n) != 0 || send_cas(r, q) != 0) {
        answer(q, -1);
        goto done;
    }
    return; /* the same request, sent again */
done:;
    char key[SG_OBS_KEY_MAX + 1];
    memcpy(key, q->key0, sizeof(key));
    unlink_req(r, q);
    free(q);
    start_next(r, key);
}

static int send_cas(sg_obredis *r, req *q)
{
    /* EVAL, the script, n, the TTL; a key, a version, the bytes and a TTL
     * each (none for a record that holds a block: it never expires) */
    const char *argv[4 + SG_OBS_MAXKEYS * 4];
    size_t argl[4 + SG_OBS_MAXKEYS * 4], a = 0;
    char keys[SG_OBS_MAXKEYS][SG_OBS_KEY_MAX + 8], nk[16], ttl[16];
    if (q->by_text || r->sha[0] == '\0') {
        argv[a] = "EVAL", argl[a++] = 4;
        argv[a] = sg_obs_redis_script, argl[a++] = strlen(sg_obs_redis_script);
    } else {
        argv[a] = "EVALSHA", argl[a++] = 7;
        argv[a] = r->sha, argl[a++] = 40;
    }
    snprintf(nk, sizeof(nk), "%zu", q->n);
    argv[a] = nk, argl[a++] = strlen(nk);
    for (size_t i = 0; i < q->n; i++) {
        snprintf(keys[i], sizeof(keys[i]), SG_OBS_REDIS_PREFIX "%s", q->recs[i].key);
        argv[a] = keys[i], argl[a++] = strlen(keys[i]);
    }
    snprintf(ttl, sizeof(ttl), "%u", r->ttl_s);
    argv[a] = ttl, argl[a++] = strlen(ttl);
    for (size_t i = 0; i < q->n; i++)
        argv[a] = q->ver[i], argl[a++] = strlen(q->ver[i]);
    for (size_t i = 0; i < q->n; i++)
        argv[a] = (const char *)q->recs[i].next, argl[a++] = q->recs[i].nextlen;
    for (size_t i = 0; i < q->n; i++) {
        argv[a] = q->recs[i].keep ? "0" : ttl;
        argl[a] = strlen(argv[a]);
        a++;
    }
    q->sent_ms = now_ms(r);
    return redisAsyncCommandArgv(r->ac, on_reply, q, (int)a, argv, argl) == REDIS_OK ? 0 : -1;
}

/* ---- connection ---------------------------------------------------------- */

static void on_retry(uv_timer_t *t)
{
    connect_now(t->data);
}

static void schedule_retry(sg_obredis *r)
{
    if (r->closing)
        return;
    uv_timer_start(&r->retry, on_retry, r->backoff_ms, 0);
    r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    sg_obredis *r = ac->data;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback */
        r->ac = NULL;
        r->up = 0;
        fail_all(r);
        set_down(r, 1, ac->errstr);
        schedule_retry(r);
        return;
    }
    if (r->db)
        return; /* up when SELECT answered (on_select) */
    r->up = 1;
    set_down(r, 0, "connected");
    ask_time(r);
}

/* SELECT's answer: a database Redis does not have (redis://HOST/20 where
 * it has 16) would otherwise leave every record in database 0, where the
 * CLI with the same URL never looks. */
static void on_select(redisAsyncContext *ac, void *reply, void *privdata)
{
    sg_obredis *r = ac->data;
    redisReply *rep = reply;
    (void)privdata;
    if (rep == NULL || r->ac != ac)
        return; /* the connection went */
    if (rep->type == REDIS_REPLY_ERROR) {
        char why[160];
        snprintf(why, sizeof(why), "SELECT %d failed", r->db);
        set_down(r, 1, why);
        redisAsyncDisconnect(ac); /* on_disconnect schedules the next try */
        return;
    }
    r->up = 1;
    set_down(r, 0, "connected");
    ask_time(r);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    sg_obredis *r = ac->data;
    (void)status;
    r->ac = NULL;
    r->up = 0;
    if (r->closing)
        return; /* our own close: nothing to tell */
    fail_all(r);
    set_down(r, 1, ac->errstr[0] ? ac->errstr : "disconnected");
    schedule_retry(r);
}

static void connect_now(sg_obredis *r)
{
    if (r->closing || r->ac)
        return;
    redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
    if (ac == NULL || ac->err) {
        set_down(r, 1, ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(r);
        return;
    }
    ac->data = r;
    if (redisLibuvAttach(ac, r->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        set_down(r, 1, "attach failed");
        schedule_retry(r);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    r->ac = ac;
    r->connect_ms = now_ms(r);
    if (r->db)
        redisAsyncCommand(ac, on_select, NULL, "SELECT %d", r->db);
}

/* A request older than the timeout: Redis is stuck or gone without a
 * word. Every waiting decision is counted in memory, the connection is
 * dropped and made again. Also a connection that does not complete: the
 * libuv adapter of hiredis 0.14 drops a poll error (a refused connect)
 * without telling hiredis, so the attempt would otherwise wait forever. */
static void on_watchdog(uv_timer_t *t)
{
    sg_obredis *r = t->data;
    if (r->ac == NULL)
        return;
    const req *oldest = r->head;
    while (oldest && oldest->waiting) /* waits for a sent one, checked here */
        oldest = oldest->next;
    int stuck = oldest != NULL && now_ms(r) - oldest->sent_ms >= r->timeout_ms;
    int no_connect = !r->up && now_ms(r) - r->connect_ms >= r->timeout_ms;
    if (!stuck && !no_connect)
        return;
    redisAsyncContext *ac = r->ac;
    int was_up = r->up;
    fail_all(r);
    set_down(r, 1, stuck ? "timeout" : "connect timeout");
    /* calls on_reply (NULL) for each request, and on_disconnect when it
     * was connected */
    redisAsyncFree(ac);
    r->ac = NULL;
    r->up = 0;
    if (!was_up || !uv_is_active((uv_handle_t *)&r->retry))
        schedule_retry(r);
}

int sg_obredis_new(sg_obredis **out, uv_loop_t *loop, const char *url, unsigned timeout_ms,
                   unsigned ttl_s, const sg_logger *log, atomic_int *fallback_active, char *err,
                   size_t errlen)
{
    sg_obredis *r = calloc(1, sizeof(*r));
    *out = NULL;
    if (r == NULL || (r->cache = calloc(CACHE_N, sizeof(cache_ent))) == NULL) {
        free(r);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (sg_obs_redis_url(url, r->host, sizeof(r->host), &r->port, &r->db, err, errlen) != 0) {
        free(r->cache);
        free(r);
        return -1;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    /* without a SHA-1 (a FIPS-only OpenSSL): EVAL with the text, as before */
    if (EVP_Digest(sg_obs_redis_script, strlen(sg_obs_redis_script), md, &mdlen, EVP_sha1(),
                   NULL) &&
        mdlen == 20)
        for (unsigned i = 0; i < 20; i++)
            snprintf(r->sha + 2 * i, 3, "%02x", md[i]);
    r->loop = loop;
    r->log = log;
    r->fallback_active = fallback_active;
    r->timeout_ms = timeout_ms;
    r->ttl_s = ttl_s;
    r->backoff_ms = BACKOFF_MIN_MS;
    r->next_id = 1;
    uv_timer_init(loop, &r->retry);
    uv_timer_init(loop, &r->watchdog);
    r->retry.data = r->watchdog.data = r;
    /* neither keeps the loop alive (the worker stops it when drained) */
    uv_unref((uv_handle_t *)&r->retry);
    uv_unref((uv_handle_t *)&r->watchdog);
    unsigned tick = timeout_ms / 4 ? timeout_ms / 4 : 1;
    uv_timer_start(&r->watchdog, on_watchdog, tick, tick);
    connect_now(r);
    *out = r;
    return 0;
}

uint64_t sg_obredis_update(sg_obredis *r, sg_obs_rec *recs, size_t n, sg_obs_fn fn, void *ctx,
                           sg_obredis_done done, void *payload)
{
    if (r->ac == NULL || !r->up || n == 0 || n > SG_OBS_MAXKEYS)
        return 0;
    if (now_ms(r) - r->time_asked_ms >= CLOCK_EVERY_MS)
        ask_time(r); /* for the decisions after this one */
    req *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return 0;
    q->r = r;
    q->recs = recs;
    q->n = n;
    q->fn = fn;
    q->ctx = ctx;
    q->done = done;
    q->payload = payload;
    snprintf(q->key0, sizeof(q->key0), "%s", recs[0].key);
    /* One decision per account at a time on this connection: parallel
     * ones would all be decided on one cached version, and the j-th of j
     * would need j tries (they went to memory after MAX_ATTEMPTS, where no
     * count and no block of Redis is seen). A later one waits for the
     * earlier one's answer, then decides on what it wrote. */
    for (const req *p = r->head; p && !q->waiting; p = p->next)
        q->waiting = p->done != NULL && strcmp(p->key0, q->key0) == 0;
    if (q->waiting)
        q->sent_ms = now_ms(r);
    else if (start(r, q) != 0) {
        free(q);
        return 0;
    }
    q->id = r->next_id++;
    q->prev = r->tail;
    if (r->tail)
        r->tail->next = q;
    else
        r->head = q;
    r->tail = q;
    return q->id;
}

int sg_obredis_cached_blocked(sg_obredis *r, const char *key)
{
    const cache_ent *e = cache_slot(r, key);
    /* only what Redis said just now: an older copy may predate a release */
    return strcmp(e->key, key) == 0 && now_ms(r) - e->at_ms <= r->timeout_ms && ent_blocked(e);
}

void sg_obredis_cancel(sg_obredis *r, uint64_t id)
{
    for (req *q = r->head; q && id; q = q->next)
        if (q->id == id) {
            q->cancelled = 1;
            return;
        }
}

void sg_obredis_close(sg_obredis *r)
{
    if (r == NULL)
        return;
    r->closing = 1;
    fail_all(r);
    if (r->ac) {
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        redisAsyncFree(ac);
    }
    if (r->down) {
        r->down = 0;
        atomic_fetch_sub(r->fallback_active, 1);
    }
    uv_close((uv_handle_t *)&r->retry, NULL);
    uv_close((uv_handle_t *)&r->watchdog, NULL);
}

void sg_obredis_free(sg_obredis *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < CACHE_N; i++)
        free(r->cache[i].val);
    free(r->cache);
    free(r);
}
