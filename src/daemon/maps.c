/* spoofguardd lookup tables: see maps.h. */
#include "maps.h"
#include "common/conf_line.h"
#include "common/keys_state.h"

#include <spoofguard/dkim.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef struct {
    char *login;
    char **addrs;
    size_t naddrs;
} sender_entry;

typedef struct {
    char *pattern;
    size_t *keys; /* indexes into maps->keys */
    size_t nkeys;
} signing_entry;

struct sg_maps {
    int have_sender_map;
    sender_entry *senders;
    size_t nsenders;
    signing_entry *signing;
    size_t nsigning;
    sg_map_key *keys;
    size_t nkeys;
};

/* Table sizes are bounded so a bad file cannot take the daemon's memory. */
#define MAX_ENTRIES 1000000
#define MAX_PER_LINE 256

int sg_glob_match(const char *p, const char *s)
{
    const char *star = NULL, *mark = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            mark = s;
        } else if (tolower((unsigned char)*p) == tolower((unsigned char)*s)) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++mark;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

/* Read a table file line by line: fields split on whitespace and commas,
 * comments with '#'. The callback gets the fields of one line. */
typedef int (*line_fn)(sg_maps *m, char **f, size_t n, char *err, size_t errlen);

static int read_table_at(sg_maps *m, int dirfd, const char *name, const char *path, line_fn fn,
                         char *err, size_t errlen)
{
    sg_lines r;
    char msg[512];
    ssize_t len;
    int rc = 0;
    /* a table read in part (a folder, a read error) would sign for some
     * senders and not the others, and say nothing (adv26 CLI-2) */
    if (sg_lines_openat(&r, dirfd, name, path, err, errlen) != 0)
        return -1;
    while ((len = sg_lines_next(&r, err, errlen)) >= 0) {
        char *fields[MAX_PER_LINE + 1], *save = NULL, *line = r.line;
        size_t n = 0, lineno = r.lineno;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        for (char *t = strtok_r(line, " \t\r\n,", &save); t;
             t = strtok_r(NULL, " \t\r\n,", &save)) {
            if (n == MAX_PER_LINE) {
                snprintf(err, errlen, "%s:%zu: more than %d fields", path, lineno, MAX_PER_LINE);
                rc = -1;
                goto out;
            }
            fields[n++] = t;
        }
        if (n == 0)
            continue;
        msg[0] = '\0';
        if (fn(m, fields, n, msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "%s:%zu: %s", path, lineno, msg);
            rc = -1;
            goto out;
        }
    }
    if (len != SG_LINES_END)
        rc = -1;
out:
    sg_lines_close(&r);
    return rc;
}

static int read_table(sg_maps *m, const char *path, line_fn fn, char *err, size_t errlen)
{
    return read_table_at(m, AT_FDCWD, path, path, fn, err, errlen);
}

/* The keys' creation times from the rotation state beside the KeyTable
 * (written by `spoofguard keys`), for spoofguard_dkim_key_age_seconds: a
 * rotated key's age is its rotation's, whatever touched the file since.
 * The state is advisory here: a missing or damaged file leaves the files'
 * mtimes (a damaged one is said by `spoofguard keys`, which refuses it). */
static void key_created(sg_maps *m, const char *key_table)
{
    char path[4096];
    sgu_keys_state st = {0};
    char err[256];
    if ((size_t)snprintf(path, sizeof(path), "%s.rotation", key_table) >= sizeof(path))
        return;
    if (sgu_keys_state_load(&st, path, err, sizeof(err)) == 0)
        for (size_t i = 0; i < m->nkeys; i++) {
            const sgu_ks_key *k = sgu_keys_state_find(&st, m->keys[i].domain, m->keys[i].selector);
            if (k != NULL && k->created > 0)
                m->keys[i].created = k->created;
        }
    sgu_keys_state_free(&st);
}

static int grow(void **arr, size_t n, size_t size)
{
    /* grow by doubling at powers of two */
    if (n >= MAX_ENTRIES)
        return -1;
    if (n == 0 || (n & (n - 1)) == 0) {
        void *p = realloc(*arr, (n ? n * 2 : 4) * size);
        if (p == NULL)
            return -1;
        *arr = p;
    }
    return 0;
}

static int sender_line(sg_maps *m, char **f, size_t n, char *err, size_t errlen)
{
    if (n < 2) {
        snprintf(err, errlen, "'%s' has no addresses", f[0]);
        return -1;
    }
    for (size_t i = 1; i < n; i++)
        if (strchr(f[i], '@') == NULL) {
            snprintf(err, errlen, "'%s' is not an address or @domain", f[i]);
            return -1;
        }
    if (grow((void **)&m->senders, m->nsenders, sizeof(sender_entry)) != 0) {
        snprintf(err, errlen, "too many entries or out of memory");
        return -1;
    }
    sender_entry *e = &m->senders[m->nsenders];
    memset(e, 0, sizeof(*e));
    e->login = strdup(f[0]);
    e->addrs = calloc(n - 1, sizeof(char *));
    if (e->login == NULL || e->addrs == NULL)
        goto oom;
    m->nsenders++;
    for (size_t i = 1; i < n; i++) {
        if ((e->addrs[i - 1] = strdup(f[i])) == NULL)
            goto oom;
        e->naddrs++;
    }
    return 0;
oom:
    if (e->login && e->addrs == NULL) {
        free(e->login);
    }
    snprintf(err, errlen, "out of memory");
    return -1;
}

static int key_line(sg_maps *m, char **f, size_t n, char *err, size_t errlen)
{
    char *d, *s, *p;
    if (n != 2) {
        snprintf(err, errlen, "expected 'keyname domain:selector:/path/to/key'");
        return -1;
    }
    d = f[1];
    s = strchr(d, ':');
    p = s ? strchr(s + 1, ':') : NULL;
    if (s == NULL || p == NULL || s == d || p == s + 1 || p[1] == '\0') {
        snprintf(err, errlen, "'%s' is not domain:selector:/path/to/key", f[1]);
        return -1;
    }
    *s++ = '\0';
    *p++ = '\0';
    /* d= and s= of every signature made with the key, and the names
     * `spoofguard keys` makes files and records of: the checks it makes */
    if (!sg_dkim_name_ok(d)) {
        snprintf(err, errlen, "'%.253s' is not a domain name (LDH labels, A-labels for IDNs)", d);
        return -1;
    }
    if (!sg_dkim_name_ok(s)) {
        snprintf(err, errlen, "'%.63s' is not a selector (RFC 6376 3.1)", s);
        return -1;
    }
    /* a relative path would be read from the daemon's current folder ("/"
     * under systemd), so -t run beside the table passed what the start
     * then refused (adv21 F6) */
    if (p[0] != '/') {
        snprintf(err, errlen, "key path '%.200s' is not absolute", p);
        return -1;
    }
    for (size_t i = 0; i < m->nkeys; i++)
        if (!strcmp(m->keys[i].name, f[0])) {
            snprintf(err, errlen, "key name '%s' defined twice", f[0]);
            return -1;
        }
    if (grow((void **)&m->keys, m->nkeys, sizeof(sg_map_key)) != 0) {
        snprintf(err, errlen, "too many entries or out of memory");
        return -1;
    }
    sg_map_key *k = &m->keys[m->nkeys];
    memset(k, 0, sizeof(*k));
    k->name = strdup(f[0]);
    k->domain = strdup(d);
    k->selector = strdup(s);
    k->path = strdup(p);
    m->nkeys++;
    if (!k->name || !k->domain || !k->selector || !k->path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int signing_line(sg_maps *m, char **f, size_t n, char *err, size_t errlen)
{
    if (n < 2) {
        snprintf(err, errlen, "'%s' names no key", f[0]);
        return -1;
    }
    if (grow((void **)&m->signing, m->nsigning, sizeof(signing_entry)) != 0) {
        snprintf(err, errlen, "too many entries or out of memory");
        return -1;
    }
    signing_entry *e = &m->signing[m->nsigning];
    memset(e, 0, sizeof(*e));
    e->pattern = strdup(f[0]);
    e->keys = calloc(n - 1, sizeof(size_t));
    m->nsigning++;
    if (e->pattern == NULL || e->keys == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 1; i < n; i++) {
        size_t k;
        for (k = 0; k < m->nkeys; k++)
            if (!strcmp(m->keys[k].name, f[i]))
                break;
        if (k == m->nkeys) {
            snprintf(err, errlen, "key '%s' is not in the key table", f[i]);
            return -1;
        }
        e->keys[e->nkeys++] = k;
    }
    return 0;
}

int sg_maps_load(sg_maps **out, const sg_config *cfg, char *err, size_t errlen)
{
    sg_maps *m = calloc(1, sizeof(*m));
    *out = NULL;
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (cfg->sender_map) {
        m->have_sender_map = 1;
        if (read_table(m, cfg->sender_map, sender_line, err, errlen) != 0)
            goto fail;
    }
    if (cfg->key_table) {
        if (read_table(m, cfg->key_table, key_line, err, errlen) != 0)
            goto fail;
        /* The keys themselves are the signer process's (signer.c): this
         * process never reads one. Their age, for the metrics. */
        for (size_t i = 0; i < m->nkeys; i++) {
            struct stat st;
            m->keys[i].mtime = stat(m->keys[i].path, &st) == 0 ? (int64_t)st.st_mtime : 0;
            m->keys[i].created = m->keys[i].mtime;
        }
        key_created(m, cfg->key_table);
    }
    if (cfg->signing_table && read_table(m, cfg->signing_table, signing_line, err, errlen) != 0)
        goto fail;
    if (cfg->arc_seal_key) {
        /* checked here, so that -t and a SIGHUP refuse it, not a message */
        if (sg_maps_key_named(m, cfg->arc_seal_key) == NULL) {
            snprintf(err, errlen, "arc_seal_key: no key '%s' in key_table", cfg->arc_seal_key);
            goto fail;
        }
    }
    *out = m;
    return 0;
fail:
    sg_maps_free(m);
    return -1;
}

int sg_maps_load_key_table_at(sg_maps **out, int dirfd, const char *name, const char *path,
                              char *err, size_t errlen)
{
    sg_maps *m = calloc(1, sizeof(*m));
    *out = NULL;
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (read_table_at(m, dirfd, name, path, key_line, err, errlen) != 0) {
        sg_maps_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

const sg_map_key *sg_maps_key_named(const sg_maps *m, const char *name)
{
    for (size_t i = 0; m != NULL && name != NULL && i < m->nkeys; i++)
        if (!strcmp(m->keys[i].name, name))
            return &m->keys[i];
    return NULL;
}

sg_map_key *sg_maps_keys(sg_maps *m, size_t *n)
{
    *n = m->nkeys;
    return m->keys;
}

void sg_maps_free(sg_maps *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nsenders; i++) {
        for (size_t j = 0; j < m->senders[i].naddrs; j++)
            free(m->senders[i].addrs[j]);
        free(m->senders[i].addrs);
        free(m->senders[i].login);
    }
    free(m->senders);
    for (size_t i = 0; i < m->nsigning; i++) {
        free(m->signing[i].pattern);
        free(m->signing[i].keys);
    }
    free(m->signing);
    for (size_t i = 0; i < m->nkeys; i++) {
        free(m->keys[i].name);
        free(m->keys[i].domain);
        free(m->keys[i].selector);
        free(m->keys[i].path);
    }
    free(m->keys);
    free(m);
}

int sg_maps_have_sender_map(const sg_maps *m)
{
    return m->have_sender_map;
}

int sg_maps_have_keys(const sg_maps *m)
{
    return m->nkeys > 0;
}

int sg_maps_unmapped_logins(const sg_maps *m)
{
    return m->nkeys > 0 && !m->have_sender_map;
}

int sg_maps_sender_allowed(const sg_maps *m, const char *login, const char *local,
                           const char *domain)
{
    if (local == NULL || domain == NULL || local[0] == '\0' || domain[0] == '\0')
        return 0;
    size_t ll = strlen(local);
    for (size_t i = 0; i < m->nsenders; i++) {
        if (strcasecmp(m->senders[i].login, login) != 0)
            continue;
        for (size_t j = 0; j < m->senders[i].naddrs; j++) {
            const char *a = m->senders[i].addrs[j];
            const char *at = strrchr(a, '@');
            if (a[0] == '@') {
                if (!strcasecmp(a + 1, domain))
                    return 1;
            } else if ((size_t)(at - a) == ll && !strncasecmp(a, local, ll) &&
                       !strcasecmp(at + 1, domain)) {
                return 1;
            }
        }
    }
    return 0;
}

const char *sg_maps_login_of(const sg_maps *m, const char *addr)
{
    const char *found = NULL;
    for (size_t i = 0; i < m->nsenders; i++)
        for (size_t j = 0; j < m->senders[i].naddrs; j++) {
            if (m->senders[i].addrs[j][0] == '@' || strcasecmp(m->senders[i].addrs[j], addr) != 0)
                continue;
            if (found && strcasecmp(found, m->senders[i].login) != 0)
                return NULL; /* two logins own it: no one account to charge */
            found = m->senders[i].login;
        }
    return found;
}

size_t sg_maps_signing_keys(const sg_maps *m, const char *addr, const sg_map_key **out, size_t max)
{
    const char *at = strrchr(addr, '@');
    const char *domain = at ? at + 1 : addr;
    const char *matched = NULL;
    size_t n = 0;
    for (size_t i = 0; i < m->nsigning; i++) {
        const char *p = m->signing[i].pattern;
        if (matched
                ? strcmp(p, matched) != 0
                : !(sg_glob_match(p, addr) || (strchr(p, '@') == NULL && sg_glob_match(p, domain))))
            continue;
        matched = p;
        for (size_t k = 0; k < m->signing[i].nkeys && n < max; k++) {
            const sg_map_key *key = &m->keys[m->signing[i].keys[k]];
            int dup = 0;
            for (size_t j = 0; j < n; j++)
                dup |= out[j] == key;
            if (!dup)
                out[n++] = key;
        }
    }
    return n;
}

int sg_maps_check_algs(const sg_maps *m, const sg_config *cfg, char *err, size_t errlen)
{
    const sg_map_key *k = cfg->arc_seal_key ? sg_maps_key_named(m, cfg->arc_seal_key) : NULL;
    if (k != NULL && k->alg != SG_DKIM_RSA_SHA256) {
        snprintf(err, errlen,
                 "arc_seal_key: key '%s' is not RSA (RFC 8617 defines rsa-sha256 only)",
                 cfg->arc_seal_key);
        return -1;
    }
    return 0;
}
