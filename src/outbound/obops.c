/*
 * The operations on the outbound records (obops.h).
 */
#include "obops.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A stored record the engine did not write (another version, damage)
 * starts afresh: never half a record. */
static int load(sg_ob_account **a, const sg_obs_rec *r, unsigned bit, unsigned *fresh)
{
    int rc = sg_ob_account_new(a);
    if (rc != 0)
        return rc;
    if (r->cur == NULL)
        return 0;
    if (sg_ob_account_decode(*a, r->cur, r->curlen) != 0) {
        sg_ob_account_free(*a);
        *fresh |= bit;
        return sg_ob_account_new(a);
    }
    return 0;
}

/* Every record written goes through here, so the store learns from one
 * place which records hold a block and must never expire. */
static int save(const sg_ob_account *a, sg_obs_rec *r)
{
    r->keep = sg_ob_account_blocked(a, NULL, NULL);
    return sg_ob_account_encode(a, r->next, r->nextcap, &r->nextlen);
}

/* sg_obs_get's answer for sg_obop_blocked_now: 1 blocked, 0 not (no
 * record, or one that does not decode: its next decision starts it
 * afresh, so no block of it is enforced anywhere) */
static int stored_block(void *ctx, const char *key, const uint8_t *v, size_t vlen)
{
    (void)key;
    return v != NULL && sg_ob_account_decode(ctx, v, vlen) == 0 &&
           sg_ob_account_blocked(ctx, NULL, NULL);
}

/* TAKE's answer when there is no record: write nothing */
#define TAKE_NONE 1

int sg_obop_fn(void *ctx, sg_obs_rec *r, size_t n)
{
    sg_obop *op = ctx;
    sg_ob_account *acct = NULL, *dom = NULL;
    int rc;
    op->fresh = 0;
    memset(&op->out, 0, sizeof(op->out));
    if (op->kind == SG_OBOP_TAKE) {
        /* What is left keeps the block: the next outage starts from it, and
         * the block goes along again with every later carry (a block
         * merged twice is one block; a release made since still wins). */
        int64_t since;
        uint32_t reasons;
        op->take_len = 0;
        if (r[0].cur == NULL || r[0].curlen == 0)
            return TAKE_NONE;
        if (r[0].curlen > op->take_cap)
            return op->engine_rc = SG_ELIMIT;
        if ((rc = load(&acct, &r[0], 1u, &op->fresh)) != 0 || (rc = sg_ob_account_new(&dom)) != 0)
            goto take_out;
        /* nothing to carry: a record that does not decode (its next
         * decision starts it afresh), or one with nothing in it */
        if ((rc = save(dom, &r[0])) != 0)
            goto take_out;
        if (op->fresh ||
            (r[0].nextlen == r[0].curlen && !memcmp(r[0].next, r[0].cur, r[0].curlen))) {
            rc = TAKE_NONE;
            goto take_out;
        }
        if (sg_ob_account_blocked(acct, &since, &reasons)) {
            sg_ob_account_block(dom, since, reasons);
            if ((rc = save(dom, &r[0])) != 0)
                goto take_out;
        }
        memcpy(op->take, r[0].cur, r[0].curlen);
        op->take_len = r[0].curlen;
    take_out:
        sg_ob_account_free(acct);
        sg_ob_account_free(dom);
        if (rc != TAKE_NONE)
            op->engine_rc = rc;
        return rc;
    }
    if ((rc = load(&acct, &r[0], 1u, &op->fresh)) != 0)
        goto out;
    if (n > 1 && (rc = load(&dom, &r[1], 2u, &op->fresh)) != 0)
        goto out;
    switch (op->kind) {
    case SG_OBOP_DECIDE:
        rc = sg_ob_decide(op->pol, acct, dom, op->msg, &op->out);
        break;
    case SG_OBOP_REFUSAL:
        sg_ob_note_refusal(op->pol, acct, op->t);
        break;
    case SG_OBOP_DSN:
        if (op->dsn_checked) {
            rc =
                sg_ob_note_dsn_sent(op->pol, acct, op->t, op->status, op->dsn_reporter, op->dsn_own,
                                    op->dsn_rcpts, op->dsn_nrcpts, &op->dsn_counted, &op->out);
        } else {
            rc = sg_ob_note_dsn(op->pol, acct, op->t, op->status, &op->out);
            op->dsn_counted = rc == SG_OK && op->status[0] == '5' && op->status[1] == '.';
        }
        break;
    case SG_OBOP_BLOCK:
        sg_ob_account_block(acct, op->t, op->reasons);
        break;
    case SG_OBOP_RELEASE:
        sg_ob_account_release(acct, op->t);
        break;
    case SG_OBOP_MERGE: {
        sg_ob_account *src = NULL;
        if ((rc = sg_ob_account_new(&src)) == 0 &&
            (rc = sg_ob_account_decode(src, op->src, op->srclen)) == 0)
            rc = sg_ob_account_merge(acct, src);
        sg_ob_account_free(src);
        break;
    }
    case SG_OBOP_TAKE: /* above */
        break;
    }
    if (rc == 0)
        rc = save(acct, &r[0]);
    if (rc == 0 && n > 1)
        rc = save(dom, &r[1]);
out:
    op->engine_rc = rc;
    sg_ob_account_free(acct);
    sg_ob_account_free(dom);
    return rc;
}

int sg_obop_fold_login(char dst[SG_OBS_KEY_MAX + 1], const char *acct)
{
    if (strlen(acct) > SG_OBS_KEY_MAX)
        return -1;
    size_t i = 0;
    for (const char *p = acct; *p; p++)
        dst[i++] = (char)tolower((unsigned char)*p);
    dst[i] = '\0';
    return 0;
}

void sg_obop_recs_init(sg_obop_recs *rr, const char *acct, const char *mail_from)
{
    memset(rr->rec, 0, sizeof(rr->rec));
    rr->n = 1;
    rr->rec[0].key = sg_obop_fold_login(rr->acct, acct) == 0 ? rr->acct : acct;
    rr->dom[0] = '\0';
    const char *at = mail_from ? strrchr(mail_from, '@') : NULL;
    if (at && at[1] && strlen(at) <= SG_OBS_KEY_MAX) {
        size_t i = 0;
        rr->dom[i++] = '@';
        for (const char *p = at + 1; *p; p++)
            rr->dom[i++] = (char)tolower((unsigned char)*p);
        rr->dom[i] = '\0';
        rr->rec[1].key = rr->dom;
        rr->n = 2;
    }
    for (size_t i = 0; i < SG_OBS_MAXKEYS; i++) {
        rr->rec[i].next = rr->buf[i];
        rr->rec[i].nextcap = sizeof(rr->buf[i]);
    }
}

int sg_obop_run(sg_obs *s, sg_obop *op, const char *acct, const char *mail_from, char *err,
                size_t errlen)
{
    sg_obop_recs *rr = malloc(sizeof(*rr));
    if (rr == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sg_obop_recs_init(rr, acct, op->kind == SG_OBOP_DECIDE ? mail_from : NULL);
    op->engine_rc = 0;
    int rc = sg_obs_update(s, rr->rec, rr->n, sg_obop_fn, op, err, errlen);
    if (op->engine_rc != 0) {
        snprintf(err, errlen, "engine: %s", sg_strerror(op->engine_rc));
        rc = -1;
    }
    free(rr);
    return rc;
}

/* ---- carrying one store into another ---- */

typedef struct {
    char **key;
    size_t n, cap;
    int oom;
} key_list;

static int collect_key(void *ctx, const char *key, const uint8_t *v, size_t vlen)
{
    key_list *l = ctx;
    (void)v;
    (void)vlen;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **k = realloc(l->key, cap * sizeof(*k));
        if (k == NULL)
            return l->oom = 1;
        l->key = k;
        l->cap = cap;
    }
    if ((l->key[l->n] = strdup(key)) == NULL)
        return l->oom = 1;
    l->n++;
    return 0;
}

int sg_obop_drain(sg_obs *from, sg_obs *to, sg_obop_drained *out, char *err, size_t errlen)
{
    key_list l = {0};
    uint8_t *taken = malloc(SG_OB_ACCOUNT_MAX);
    sg_ob_account *a = NULL;
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (taken == NULL || sg_ob_account_new(&a) != 0) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    /* the keys first: a store's walk must not update it */
    int wrc = sg_obs_each(from, collect_key, &l, err, errlen);
    if (wrc != 0 || l.oom) {
        if (l.oom)
            snprintf(err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < l.n; i++) {
        sg_obop take = {.kind = SG_OBOP_TAKE, .take = taken, .take_cap = SG_OB_ACCOUNT_MAX};
        int trc = sg_obop_run(from, &take, l.key[i], NULL, err, errlen);
        if (trc == TAKE_NONE)
            continue;
        if (trc != 0)
            goto done;
        sg_obop merge = {.kind = SG_OBOP_MERGE, .src = taken, .srclen = take.take_len};
        if (sg_obop_run(to, &merge, l.key[i], NULL, err, errlen) != 0) {
            /* Back where it was, with whatever was counted there meanwhile.
             * A store that wrote it and then failed to answer (a timeout)
             * gets it again next time: counted twice, the strict side. */
            char e2[128];
            if (sg_obop_run(from, &merge, l.key[i], NULL, e2, sizeof(e2)) != 0) {
                size_t k = strlen(err);
                snprintf(err + k, errlen - k, "; %s lost: %s", l.key[i], e2);
            }
            goto done;
        }
        out->records++;
        if (sg_ob_account_decode(a, taken, take.take_len) == 0 &&
            sg_ob_account_blocked(a, NULL, NULL))
            out->blocked++;
    }
    rc = 0;
done:
    for (size_t i = 0; i < l.n; i++)
        free(l.key[i]);
    free(l.key);
    sg_ob_account_free(a);
    free(taken);
    return rc;
}

/* ---- expiry ---- */

typedef struct {
    sg_ob_account *a;
    int64_t before; /* idle since before this: gone */
    size_t kept_blocked;
    const atomic_int *stop;
} expiry;

/* The walk stops here */
#define EXPIRY_STOPPED (-2)

static int expired(void *ctx, const char *key, const uint8_t *v, size_t vlen)
{
    expiry *x = ctx;
    (void)key;
    if (x->stop != NULL && atomic_load(x->stop))
        return EXPIRY_STOPPED;
    /* a record the engine cannot read may be a newer release's, block and
     * all: the next decision on it says so (record_reset) and starts it
     * afresh; the sweep never guesses */
    if (sg_ob_account_decode(x->a, v, vlen) != 0)
        return 0;
    if (sg_ob_account_blocked(x->a, NULL, NULL)) {
        if (sg_ob_account_last_active(x->a) < x->before)
            x->kept_blocked++;
        return 0;
    }
    return sg_ob_account_last_active(x->a) < x->before;
}

int sg_obop_expire(sg_obs *s, int64_t now, int64_t idle, const atomic_int *stop,
                   sg_obop_expired *out, char *err, size_t errlen)
{
    expiry x = {.before = now - idle, .stop = stop};
    memset(out, 0, sizeof(*out));
    if (sg_ob_account_new(&x.a) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = sg_obs_sweep(s, expired, &x, &out->removed, err, errlen);
    out->kept_blocked = x.kept_blocked;
    sg_ob_account_free(x.a);
    return rc == EXPIRY_STOPPED ? 1 : rc;
}

int sg_obop_blocked_now(sg_obs *s, const char *key, char *err, size_t errlen)
{
    sg_ob_account *a = NULL;
    if (sg_ob_account_new(&a) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = sg_obs_get(s, key, stored_block, a, err, errlen);
    sg_ob_account_free(a);
    return rc;
}

/* ---- spill files ---- */

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    size_t records, blocked;
    sg_ob_account *a;
    int oom;
} spill_buf;

static int spill_put(spill_buf *b, const void *p, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n)
            cap *= 2;
        uint8_t *nb = realloc(b->buf, cap);
        if (nb == NULL)
            return b->oom = 1;
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, p, n);
    b->len += n;
    return 0;
}

static int spill_u(spill_buf *b, uint32_t v, size_t n)
{
    uint8_t x[4];
    for (size_t i = 0; i < n; i++)
        x[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return spill_put(b, x, n);
}

static int spill_record(void *ctx, const char *key, const uint8_t *v, size_t vlen)
{
    spill_buf *b = ctx;
    size_t klen = strlen(key);
    if (klen == 0 || klen > SG_OBS_KEY_MAX || vlen == 0 || vlen > SG_OB_ACCOUNT_MAX)
        return 0; /* never written by us: nothing to keep */
    if (spill_u(b, (uint32_t)klen, 2) || spill_put(b, key, klen) || spill_u(b, (uint32_t)vlen, 4) ||
        spill_put(b, v, vlen))
        return 1;
    b->records++;
    if (sg_ob_account_decode(b->a, v, vlen) == 0 && sg_ob_account_blocked(b->a, NULL, NULL))
        b->blocked++;
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The folder's entry made durable too: a rename is only as safe as that. */
static void sync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(copy);
}

int sg_obop_spill_save(sg_obs *from, const char *path, sg_obop_drained *out, char *err,
                       size_t errlen)
{
    spill_buf b = {0};
    char tmp[4096];
    int rc = -1, fd = -1, made = 0;
    memset(out, 0, sizeof(*out));
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    if (sg_ob_account_new(&b.a) != 0 ||
        spill_put(&b, SG_OBOP_SPILL_MAGIC, sizeof(SG_OBOP_SPILL_MAGIC) - 1)) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    int wrc = sg_obs_each(from, spill_record, &b, err, errlen);
    if (wrc != 0 || b.oom || spill_u(&b, 0, 2) || spill_u(&b, (uint32_t)b.records, 4)) {
        if (wrc != -1)
            snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (b.records == 0) {
        rc = 0;
        goto done;
    }
    if (b.len > SG_OBOP_SPILL_MAX) {
        snprintf(err, errlen, "%zu records: more than %u bytes", b.records, SG_OBOP_SPILL_MAX);
        goto done;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    made = fd >= 0;
    if (fd < 0 || fchmod(fd, 0600) != 0 || write_all(fd, b.buf, b.len) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    if (close(fd) != 0) {
        fd = -1;
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    sync_dir_of(path);
    out->records = b.records;
    out->blocked = b.blocked;
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    if (rc != 0 && made)
        unlink(tmp);
    sg_ob_account_free(b.a);
    free(b.buf);
    return rc;
}

static uint32_t get_u(const uint8_t *p, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* One pass over the bytes: check (merge NULL) or merge each record. */
static int spill_walk(const uint8_t *buf, size_t len, sg_obs *merge, sg_ob_account *a,
                      sg_obop_drained *out, char *err, size_t errlen)
{
    const size_t mlen = sizeof(SG_OBOP_SPILL_MAGIC) - 1;
    size_t p = mlen, n = 0, blocked = 0;
    if (len < mlen || memcmp(buf, SG_OBOP_SPILL_MAGIC, mlen) != 0) {
        snprintf(err, errlen, "not a spill file");
        return -1;
    }
    for (;;) {
        if (len - p < 2)
            goto truncated;
        size_t klen = get_u(buf + p, 2);
        p += 2;
        if (klen == 0)
            break;
        if (klen > SG_OBS_KEY_MAX || len - p < klen + 4)
            goto bad;
        const uint8_t *key = buf + p;
        if (memchr(key, '\0', klen) != NULL)
            goto bad;
        p += klen;
        size_t vlen = get_u(buf + p, 4);
        p += 4;
        if (vlen == 0 || vlen > SG_OB_ACCOUNT_MAX || len - p < vlen)
            goto bad;
        if (sg_ob_account_decode(a, buf + p, vlen) != 0) {
            snprintf(err, errlen, "record %zu does not decode", n + 1);
            return -1;
        }
        if (sg_ob_account_blocked(a, NULL, NULL))
            blocked++;
        if (merge != NULL) {
            char k[SG_OBS_KEY_MAX + 1];
            memcpy(k, key, klen);
            k[klen] = '\0';
            sg_obop m = {.kind = SG_OBOP_MERGE, .src = buf + p, .srclen = vlen};
            if (sg_obop_run(merge, &m, k, NULL, err, errlen) != 0)
                return -1;
        }
        p += vlen;
        n++;
    }
    if (len - p != 4 || get_u(buf + p, 4) != n)
        goto truncated;
    out->records = n;
    out->blocked = blocked;
    return 0;
truncated:
    snprintf(err, errlen, "truncated after %zu records", n);
    return -1;
bad:
    snprintf(err, errlen, "record %zu is malformed", n + 1);
    return -1;
}

int sg_obop_spill_parse(sg_obs *to, const uint8_t *buf, size_t len, sg_obop_drained *out, char *err,
                        size_t errlen)
{
    sg_ob_account *a = NULL;
    memset(out, 0, sizeof(*out));
    if (sg_ob_account_new(&a) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = spill_walk(buf, len, NULL, a, out, err, errlen);
    if (rc == 0)
        rc = spill_walk(buf, len, to, a, out, err, errlen);
    sg_ob_account_free(a);
    return rc;
}

int sg_obop_spill_load(sg_obs *to, const char *path, sg_obop_drained *out, char *err, size_t errlen)
{
    struct stat st;
    memset(out, 0, sizeof(*out));
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = NULL;
    int rc = -1;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
        snprintf(err, errlen, "%s: not a regular file of uid %u writable by it alone", path,
                 (unsigned)geteuid());
        goto done;
    }
    if ((uint64_t)st.st_size > SG_OBOP_SPILL_MAX) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, SG_OBOP_SPILL_MAX);
        goto done;
    }
    size_t len = (size_t)st.st_size, got = 0;
    if ((buf = malloc(len ? len : 1)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(err, errlen, "%s: %s", path,
                     r < 0 ? strerror(errno) : "shorter than its size");
            goto done;
        }
        got += (size_t)r;
    }
    rc = sg_obop_spill_parse(to, buf, len, out, err, errlen);
done:
    free(buf);
    close(fd);
    return rc;
}
