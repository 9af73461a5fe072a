/*
 * The key rotation state file (keys_state.h): a table-driven parser of
 * `key field=value ...` lines, its writer, and the atomic file write the
 * rotation uses for every file it changes.
 */
#define _POSIX_C_SOURCE 200809L
#include "keys_state.h"

#include <spoofguard/dkim.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define VERSION_LINE "spoofguard-keys-state 1"

static const char *const PHASES[] = {"pending", "active", "retiring", "retired"};

const char *sgu_ks_phase_str(sgu_ks_phase p)
{
    return (unsigned)p < 4 ? PHASES[p] : "?";
}

/* ------------------------------------------------------------------------ */
/* the field table                                                           */

enum { F_STR, F_TIME, F_TTL, F_PHASE, F_ALG };

typedef struct {
    const char *name;
    int type;
    size_t off, size; /* F_STR: the buffer */
    int required;
} field;

#define S(m) offsetof(sgu_ks_key, m), sizeof(((sgu_ks_key *)0)->m)
#define T(m) offsetof(sgu_ks_key, m), 0
static const field FIELDS[] = {
    {"domain", F_STR, S(domain), 1},
    {"selector", F_STR, S(selector), 1},
    {"alg", F_ALG, S(alg), 1},
    {"name", F_STR, S(name), 0},
    {"path", F_STR, S(path), 1},
    {"state", F_PHASE, T(phase), 1},
    {"created", F_TIME, T(created), 1},
    {"activated", F_TIME, T(activated), 0},
    {"retiring_since", F_TIME, T(retiring_since), 0},
    {"retired", F_TIME, T(retired), 0},
    {"ttl", F_TTL, T(ttl), 0},
};
#undef S
#undef T
#define NFIELDS (sizeof(FIELDS) / sizeof(FIELDS[0]))

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* %XX-decode v[0..n) into out (cap bytes with the NUL). A NUL byte, a bad
 * escape or an overflow is refused. */
static int unescape(char *out, size_t cap, const char *v, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)v[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= n)
                return -1;
            h = hexval((unsigned char)v[i + 1]);
            l = hexval((unsigned char)v[i + 2]);
            if (h < 0 || l < 0 || (h | l) == 0)
                return -1;
            c = h * 16 + l;
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/* A decimal integer in [0, max], nothing else. */
static int parse_uint(const char *v, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0 || n > 20)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        if (x > (max - (uint64_t)(v[i] - '0')) / 10)
            return -1;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return 0;
}

static int set_field(sgu_ks_key *k, const field *f, const char *v, size_t n)
{
    char *base = (char *)k;
    uint64_t x;
    switch (f->type) {
    case F_STR:
        return unescape(base + f->off, f->size, v, n) == 0 && base[f->off] != '\0' ? 0 : -1;
    case F_ALG:
        if (!((n == 3 && !memcmp(v, "rsa", 3)) || (n == 7 && !memcmp(v, "ed25519", 7))))
            return -1;
        memcpy(base + f->off, v, n);
        base[f->off + n] = '\0';
        return 0;
    case F_PHASE:
        for (size_t p = 0; p < 4; p++)
            if (strlen(PHASES[p]) == n && !memcmp(v, PHASES[p], n)) {
                k->phase = (sgu_ks_phase)p;
                return 0;
            }
        return -1;
    case F_TIME:
        if (parse_uint(v, n, (uint64_t)INT64_MAX, &x) != 0)
            return -1;
        *(int64_t *)(void *)(base + f->off) = (int64_t)x;
        return 0;
    case F_TTL:
        if (parse_uint(v, n, UINT32_MAX, &x) != 0)
            return -1;
        k->ttl = (uint32_t)x;
        return 0;
    }
    return -1;
}

static int fail(char *err, size_t errlen, size_t lineno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, size_t lineno, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (errlen)
        snprintf(err, errlen, "line %zu: %s", lineno, msg);
    return -1;
}

/* One `key ...` line (without the "key" word): fields separated by
 * spaces or tabs. */
static int parse_record(sgu_keys_state *st, const char *p, const char *end, size_t lineno,
                        char *err, size_t errlen)
{
    sgu_ks_key k;
    unsigned seen = 0;
    memset(&k, 0, sizeof(k));
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p == end)
            break;
        const char *tok = p;
        while (p < end && *p != ' ' && *p != '\t')
            p++;
        const char *eq = memchr(tok, '=', (size_t)(p - tok));
        if (eq == NULL)
            return fail(err, errlen, lineno, "'%.*s' is not field=value", (int)(p - tok) & 0xff,
                        tok);
        size_t i, nlen = (size_t)(eq - tok);
        for (i = 0; i < NFIELDS; i++)
            if (strlen(FIELDS[i].name) == nlen && !memcmp(tok, FIELDS[i].name, nlen))
                break;
        if (i == NFIELDS)
            return fail(err, errlen, lineno, "unknown field '%.*s'", (int)nlen & 0xff, tok);
        if (seen & (1u << i))
            return fail(err, errlen, lineno, "field '%s' twice", FIELDS[i].name);
        seen |= 1u << i;
        if (set_field(&k, &FIELDS[i], eq + 1, (size_t)(p - eq - 1)) != 0)
            return fail(err, errlen, lineno, "bad value for '%s'", FIELDS[i].name);
    }
    for (size_t i = 0; i < NFIELDS; i++)
        if (FIELDS[i].required && !(seen & (1u << i)))
            return fail(err, errlen, lineno, "field '%s' missing", FIELDS[i].name);
    /* the names make file names (rotate, retire): a state written before
     * the KeyTable's names were checked, or edited, is not trusted more */
    if (!sg_dkim_name_ok(k.domain) || !sg_dkim_name_ok(k.selector))
        return fail(err, errlen, lineno, "'%.100s' selector '%.63s' is not a DKIM name", k.domain,
                    k.selector);
    if (sgu_keys_state_find(st, k.domain, k.selector) != NULL)
        return fail(err, errlen, lineno, "%s selector %s twice", k.domain, k.selector);
    sgu_ks_key *slot = sgu_keys_state_add(st);
    if (slot == NULL)
        return fail(err, errlen, lineno, "too many keys or out of memory");
    *slot = k;
    return 0;
}

int sgu_keys_state_parse(sgu_keys_state *st, const char *text, size_t len, char *err, size_t errlen)
{
    const char *p = text, *end = text + len;
    size_t lineno = 0;
    int versioned = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end, *next = nl ? nl + 1 : end;
        lineno++;
        if ((size_t)(le - p) > SGU_KS_LINE_MAX)
            return fail(err, errlen, lineno, "line too long");
        if (le > p && le[-1] == '\r')
            le--;
        const char *s = p;
        while (s < le && (*s == ' ' || *s == '\t'))
            s++;
        if (s == le || *s == '#') {
            p = next;
            continue;
        }
        if (memchr(s, '\0', (size_t)(le - s)) != NULL)
            return fail(err, errlen, lineno, "NUL byte");
        if (!versioned) {
            size_t vl = strlen(VERSION_LINE);
            if ((size_t)(le - s) != vl || memcmp(s, VERSION_LINE, vl) != 0)
                return fail(err, errlen, lineno, "expected '%s' first", VERSION_LINE);
            versioned = 1;
        } else if (le - s > 4 && !memcmp(s, "key", 3) && (s[3] == ' ' || s[3] == '\t')) {
            if (parse_record(st, s + 4, le, lineno, err, errlen) != 0)
                return -1;
        } else {
            return fail(err, errlen, lineno, "expected 'key field=value...'");
        }
        p = next;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* writing                                                                   */

typedef struct {
    char *d;
    size_t len, cap;
    int oom;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->d, cap);
        if (d == NULL) {
            b->oom = 1;
            return;
        }
        b->d = d, b->cap = cap;
    }
    memcpy(b->d + b->len, s, n);
    b->len += n;
    b->d[b->len] = '\0';
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_escaped(buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || c == '%' || c == '=' || c == '#') {
            char e[4];
            snprintf(e, sizeof(e), "%%%02X", c);
            put(b, e, 3);
        } else {
            put(b, (const char *)&c, 1);
        }
    }
}

int sgu_keys_state_format(const sgu_keys_state *st, char **out, size_t *len)
{
    buf b = {0};
    puts_(&b, "# spoofguard keys: DKIM key rotation state (docs/keys.md). Written by\n"
              "# `spoofguard keys`; edit only while no rotation step runs.\n" VERSION_LINE "\n");
    for (size_t i = 0; i < st->n; i++) {
        const sgu_ks_key *k = &st->keys[i];
        puts_(&b, "key");
        for (size_t f = 0; f < NFIELDS; f++) {
            const field *fd = &FIELDS[f];
            const char *base = (const char *)k;
            char num[32];
            if (fd->type == F_STR && base[fd->off] == '\0')
                continue; /* optional and empty (name before activation) */
            puts_(&b, " ");
            puts_(&b, fd->name);
            puts_(&b, "=");
            switch (fd->type) {
            case F_STR:
                put_escaped(&b, base + fd->off);
                break;
            case F_ALG:
                puts_(&b, base + fd->off);
                break;
            case F_PHASE:
                puts_(&b, sgu_ks_phase_str(k->phase));
                break;
            case F_TIME:
                snprintf(num, sizeof(num), "%" PRId64,
                         *(const int64_t *)(const void *)(base + fd->off));
                puts_(&b, num);
                break;
            case F_TTL:
                snprintf(num, sizeof(num), "%" PRIu32, k->ttl);
                puts_(&b, num);
                break;
            }
        }
        puts_(&b, "\n");
    }
    if (b.oom) {
        free(b.d);
        return -1;
    }
    *out = b.d;
    *len = b.len;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* files                                                                     */

int sgu_keys_state_load(sgu_keys_state *st, const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0;
    int rc;
    if (fp == NULL) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (len + 4096 > cap) {
            if (cap >= (size_t)SGU_KS_MAX_KEYS * SGU_KS_LINE_MAX) {
                snprintf(err, errlen, "%s: too large", path);
                free(text);
                fclose(fp);
                return -1;
            }
            char *t = realloc(text, cap = cap ? cap * 2 : 8192);
            if (t == NULL) {
                snprintf(err, errlen, "%s: out of memory", path);
                free(text);
                fclose(fp);
                return -1;
            }
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        snprintf(err, errlen, "%s: read error", path);
        free(text);
        fclose(fp);
        return -1;
    }
    fclose(fp);
    char msg[256];
    rc = sgu_keys_state_parse(st, text ? text : "", len, msg, sizeof(msg));
    if (rc != 0)
        snprintf(err, errlen, "%s: %s", path, msg);
    free(text);
    return rc;
}

int sgu_write_atomic(const char *path, const char *data, size_t len, unsigned mode, char *err,
                     size_t errlen)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16), *dir = malloc(plen + 2);
    int fd = -1, rc = -1;
    if (tmp == NULL || dir == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    snprintf(tmp, plen + 16, "%s.tmp%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    /* a replaced file keeps its owner and group (a KeyTable of
     * root:spoofguard 0640 must stay readable by the daemon); without the
     * right to chown, the writer's own */
    struct stat old;
    if (stat(path, &old) == 0 && fchown(fd, old.st_uid, old.st_gid) != 0) {
        /* not root: the file becomes the writer's, as any editor makes it */
    }
    /* the umask must not widen or narrow what the caller chose */
    if (fchmod(fd, (mode_t)mode) != 0)
        goto io;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto io;
        off += (size_t)w;
    }
    if (fsync(fd) != 0)
        goto io;
    if (close(fd) != 0) {
        fd = -1;
        goto io;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto io;
    /* the rename itself is durable only once the folder is synced */
    memcpy(dir, path, plen + 1);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        strcpy(dir, ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    rc = 0;
    goto out;
io:
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    free(tmp);
    free(dir);
    return rc;
}

int sgu_keys_state_save(const sgu_keys_state *st, const char *path, unsigned mode, char *err,
                        size_t errlen)
{
    char *text;
    size_t len;
    if (sgu_keys_state_format(st, &text, &len) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = sgu_write_atomic(path, text, len, mode, err, errlen);
    free(text);
    return rc;
}

sgu_ks_key *sgu_keys_state_add(sgu_keys_state *st)
{
    if (st->n >= SGU_KS_MAX_KEYS)
        return NULL;
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 8;
        sgu_ks_key *k = realloc(st->keys, cap * sizeof(*k));
        if (k == NULL)
            return NULL;
        st->keys = k, st->cap = cap;
    }
    memset(&st->keys[st->n], 0, sizeof(st->keys[0]));
    return &st->keys[st->n++];
}

sgu_ks_key *sgu_keys_state_find(const sgu_keys_state *st, const char *domain, const char *selector)
{
    for (size_t i = 0; i < st->n; i++)
        if (!strcasecmp(st->keys[i].domain, domain) && !strcasecmp(st->keys[i].selector, selector))
            return &st->keys[i];
    return NULL;
}

void sgu_keys_state_free(sgu_keys_state *st)
{
    free(st->keys);
    st->keys = NULL;
    st->n = st->cap = 0;
}
