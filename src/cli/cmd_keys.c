/*
 * spoofguard keys - DKIM key rotation over spoofguardd's KeyTable and
 * SigningTable (docs/keys.md).
 *
 *   spoofguard keys status   [--json] [--check]
 *   spoofguard keys rotate   [--domain D]
 *   spoofguard keys activate [--domain D] [--ns HOST[:PORT]]... [--wait S]
 *   spoofguard keys retire   [--domain D] [--grace S [--force]]
 *
 * A state machine per key: pending (rotate made it; published by the
 * operator) -> active (activate checked it at every authoritative server
 * and switched the tables) -> retiring (switched away from; still
 * published for the grace period) -> retired (revocation record given,
 * private key removed). The state lives in KEYTABLE.rotation
 * (src/common/keys_state.h); every file is written atomically and every
 * step is ordered so that re-running it after a crash at any point
 * finishes the job or does nothing:
 *  - rotate records the new selectors first, then writes each key under a
 *    temporary name and renames it (a key file is whole or absent), then
 *    the files to publish; a re-run reuses what exists;
 *  - activate changes nothing until every server serves every new key;
 *    then KeyTable, SigningTable (each rewrite is a no-op when already
 *    done), the reload, and only then the state: a crash before the state
 *    write repeats the (idempotent) switch, and the old key's last use is
 *    taken as the later moment, which only lengthens its grace period;
 *  - retire removes the key file, then records it; a re-run finds the file
 *    gone and records it.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <spoofguard/audit.h>
#include <spoofguard/dkim.h>

#include "cli.h"
#include "common/conf_line.h"
#include "common/keys_state.h"
#include "keys_dns.h"

/* An error message, cut to fit: paths in it may be long, and a cut
 * message is still the right one to show. */
__attribute__((format(printf, 3, 4))) static void errf(char *err, size_t errlen, const char *fmt,
                                                       ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int cmd_keys(int argc, char **argv);

#define DEFAULT_CONFIG "/etc/spoofguard/spoofguardd.conf"
/* RFC 6376 3.6.2.2: no recommendation; an hour is what most guides use. */
#define DEFAULT_TTL 3600
/* The grace floor: Postfix's maximal_queue_lifetime (5 days), the longest
 * a signed message may sit in a queue before a receiver verifies it, plus
 * twice the record's TTL (a resolver may hold the answer that long after
 * the last message). */
#define GRACE_QUEUE_SECONDS (5 * 86400)
/* Name server addresses asked at most: a larger NS set is refused, never
 * checked in part (16 were, silently: adv19 F2) */
#define MAX_NS 64
/* Domains of one run at most; a KeyTable with more is refused, never
 * handled in part (64, silently: adv19 F12) */
#define MAX_DOMAINS 1024

enum {
    O_CONFIG = 1,
    O_KEYTABLE,
    O_SIGNTABLE,
    O_STATE,
    O_DOMAIN,
    O_SEL_RSA,
    O_SEL_ED,
    O_TTL,
    O_PUBLISH,
    O_KEYDIR,
    O_NS,
    O_RESOLVER,
    O_WAIT,
    O_INTERVAL,
    O_RELOAD_CMD,
    O_PIDFILE,
    O_NO_RELOAD,
    O_GRACE,
    O_FORCE,
    O_NOW,
    O_JSON,
    O_CHECK,
    O_NS_PORT,
};

static const sg_cli_opt keys_opts[] = {
    {"config", "FILE", O_CONFIG, "spoofguardd.conf naming key_table and signing_table"},
    {"key-table", "FILE", O_KEYTABLE, "the KeyTable (with --signing-table, instead of --config)"},
    {"signing-table", "FILE", O_SIGNTABLE,
     "the SigningTable (with --key-table, instead of --config)"},
    {"state", "FILE", O_STATE, "the rotation state (default KEYTABLE.rotation)"},
    {"domain", "D", O_DOMAIN, "only this domain (default: every domain of the KeyTable)"},
    {"selector-rsa", "TEMPLATE", O_SEL_RSA, "new RSA selectors (default {yyyy}{mm}r)"},
    {"selector-ed25519", "TEMPLATE", O_SEL_ED, "new Ed25519 selectors (default {yyyy}{mm}e)"},
    {"ttl", "SECONDS", O_TTL, "TTL of the records to publish (default 3600)"},
    {"publish-dir", "DIR", O_PUBLISH, "where rotate/retire write what to publish"},
    {"key-dir", "DIR", O_KEYDIR, "where new keys go (default: beside the domain's key)"},
    {"ns", "HOST[:PORT]", O_NS, "check this server instead of the domain's NS set; repeatable"},
    {"ns-port", "PORT", O_NS_PORT,
     "port of the NS set's servers (default 53; split setups, tests)"},
    {"dns", "HOST[:PORT]", O_RESOLVER, "resolver for the NS set (default: resolv.conf)"},
    {"wait", "SECONDS", O_WAIT, "activate: poll until visible everywhere, at most this long"},
    {"interval", "SECONDS", O_INTERVAL, "activate --wait: seconds between polls (default 5)"},
    {"reload-command", "CMD", O_RELOAD_CMD, "activate: reload spoofguardd with this (sh -c)"},
    {"pid-file", "FILE", O_PIDFILE, "activate: reload spoofguardd by SIGHUP to this pid"},
    {"no-reload", NULL, O_NO_RELOAD, "activate: do not reload (the operator will)"},
    {"grace", "SECONDS", O_GRACE, "retire: grace after last use (floor 5 d + 2 TTL)"},
    {"force", NULL, O_FORCE, "retire: accept a --grace below the floor"},
    {"now", "UNIX", O_NOW, "testing aid: take this as the current time"},
    {"json", NULL, O_JSON, "status: JSON output"},
    {"check", NULL, O_CHECK, "status: ask the authoritative servers about each key"},
    {NULL, NULL, 0, NULL},
};

static const sg_cli_cmd keys_cmd = {
    "keys",
    "status|rotate|activate|retire [OPTIONS]",
    "rotate: new RSA-2048 and Ed25519 keys under new selectors, and the records to\n"
    "  publish (PUBLISH_DIR/DOMAIN.{txt,zone,nsupdate}); signing does not change.\n"
    "activate: switches the tables to the new keys once every authoritative server\n"
    "  of the domain serves them (asked directly, recursion off), then reloads.\n"
    "retire: after the grace period, the revocation record (p=) and the private key\n"
    "  removed.\n"
    "status: each domain's selectors and their state.\n"
    "Every step is idempotent and safe to re-run after a crash.\n"
    "Exit status: 0 done (or nothing to do), 1 refused (not visible everywhere; grace\n"
    "period not over), 2 usage, 3 unreadable or bad table or state, or no process at\n"
    "--pid-file (nothing changed), 4 internal error (a reload that failed after the\n"
    "switch: reload spoofguardd then).\n",
    keys_opts,
};

typedef struct {
    const char *config, *key_table, *signing_table, *state, *domain;
    const char *sel_rsa, *sel_ed, *publish_dir, *key_dir, *resolver;
    const char *reload_cmd, *pid_file;
    const char *ns[MAX_NS];
    size_t nns;
    long long ttl, wait, interval, grace, now, ns_port;
    int no_reload, force, json, check, grace_set;
} keys_opt;

/* Testing aid (docs/keys.md): SG_KEYS_CRASH_AT=POINT kills the process
 * with SIGKILL at that point between two steps, as a power cut would, so
 * that the tests can check what a re-run makes of it. */
static void crash_point(const char *point)
{
    const char *at = getenv("SG_KEYS_CRASH_AT");
    if (at != NULL && !strcmp(at, point))
        raise(SIGKILL);
}

static int keys_option(int id, const char *val, void *payload)
{
    keys_opt *o = payload;
    switch (id) {
    case O_CONFIG:
        o->config = val;
        break;
    case O_KEYTABLE:
        o->key_table = val;
        break;
    case O_SIGNTABLE:
        o->signing_table = val;
        break;
    case O_STATE:
        o->state = val;
        break;
    case O_DOMAIN:
        o->domain = val;
        break;
    case O_SEL_RSA:
        o->sel_rsa = val;
        break;
    case O_SEL_ED:
        o->sel_ed = val;
        break;
    case O_PUBLISH:
        o->publish_dir = val;
        break;
    case O_KEYDIR:
        o->key_dir = val;
        break;
    case O_RESOLVER:
        o->resolver = val;
        break;
    case O_RELOAD_CMD:
        o->reload_cmd = val;
        break;
    case O_PIDFILE:
        o->pid_file = val;
        break;
    case O_NS:
        if (o->nns == MAX_NS)
            return sg_cli_usage_error(&keys_cmd, "at most %d --ns", MAX_NS);
        o->ns[o->nns++] = val;
        break;
    case O_TTL:
        if (sg_cli_parse_num(val, 1, 604800, &o->ttl) != 0)
            return sg_cli_usage_error(&keys_cmd, "--ttl takes 1..604800");
        break;
    case O_WAIT:
        if (sg_cli_parse_num(val, 0, 30 * 86400, &o->wait) != 0)
            return sg_cli_usage_error(&keys_cmd, "--wait takes 0..2592000 seconds");
        break;
    case O_INTERVAL:
        if (sg_cli_parse_num(val, 1, 3600, &o->interval) != 0)
            return sg_cli_usage_error(&keys_cmd, "--interval takes 1..3600 seconds");
        break;
    case O_GRACE:
        if (sg_cli_parse_num(val, 0, 3650LL * 86400, &o->grace) != 0)
            return sg_cli_usage_error(&keys_cmd, "--grace takes seconds");
        o->grace_set = 1;
        break;
    case O_NOW:
        if (sg_cli_parse_num(val, 1, 1LL << 40, &o->now) != 0)
            return sg_cli_usage_error(&keys_cmd, "--now takes a Unix time");
        break;
    case O_NS_PORT:
        if (sg_cli_parse_num(val, 1, 65535, &o->ns_port) != 0)
            return sg_cli_usage_error(&keys_cmd, "--ns-port takes 1..65535");
        break;
    case O_NO_RELOAD:
        o->no_reload = 1;
        break;
    case O_FORCE:
        o->force = 1;
        break;
    case O_JSON:
        o->json = 1;
        break;
    case O_CHECK:
        o->check = 1;
        break;
    }
    return SG_CLI_GO;
}

/* ------------------------------------------------------------------------ */
/* tables                                                                    */

/* One line of the KeyTable or SigningTable, kept as written so a rewrite
 * changes only the lines it must. */
typedef struct {
    char *raw;   /* without the newline */
    char *f[64]; /* fields (into a copy), comments removed */
    size_t nf;
    char *copy;
    int changed;     /* 1: written back from the fields */
    char *comment;   /* "# ..." of a changed line, kept */
    char *owned[64]; /* fields set by tline_set */
} tline;

typedef struct {
    const char *path;
    tline *l;
    size_t n;
    unsigned mode;
    uint64_t sum; /* of the file as read (file_sum): written back only if it still is */
} table;

#define SUM_START 0xcbf29ce484222325ull

/* FNV-1a over n more bytes of a table's text (never 0 once ended: | 1). */
static uint64_t sum_add(uint64_t h, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const unsigned char *)p)[i]) * 0x100000001b3ull;
    return h;
}

/* The sum of the file's bytes, or 0 when it cannot be read. */
static uint64_t file_sum(const char *path)
{
    FILE *fp = fopen(path, "rb");
    unsigned char buf[8192];
    size_t n;
    uint64_t h = SUM_START;
    if (fp == NULL)
        return 0;
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        h = sum_add(h, buf, n);
    fclose(fp);
    return h | 1;
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->l[i].raw);
        free(t->l[i].copy);
        for (size_t j = 0; j < 64; j++)
            free(t->l[i].owned[j]);
    }
    free(t->l);
    t->l = NULL;
    t->n = 0;
}

static void split_fields(tline *l)
{
    char *save = NULL, *hash;
    l->copy = strdup(l->raw);
    l->nf = 0;
    if (l->copy == NULL)
        return;
    hash = strchr(l->copy, '#');
    if (hash) {
        l->comment = strchr(l->raw, '#');
        *hash = '\0';
    }
    for (char *t = strtok_r(l->copy, " \t\r,", &save); t && l->nf < 63;
         t = strtok_r(NULL, " \t\r,", &save))
        l->f[l->nf++] = t;
}

/* Returns 0, SG_LINES_EINPUT or SG_LINES_ENOMEM (said in err): a table
 * read in part is never returned, since rotate and retire would act on
 * the keys it has and say nothing of the others (adv26 CLI-2). */
static int table_load(table *t, const char *path, int missing_ok, char *err, size_t errlen)
{
    sg_lines r;
    ssize_t n;
    struct stat st;
    memset(t, 0, sizeof(*t));
    t->path = path;
    t->mode = 0644;
    int rc = sg_lines_open(&r, path, err, errlen);
    if (rc != 0)
        return rc == SG_LINES_EINPUT && errno == ENOENT && missing_ok ? 0 : rc;
    if (fstat(fileno(r.f), &st) == 0)
        t->mode = st.st_mode & 07777;
    /* the sum of the very bytes parsed: a second read could see an edit
     * the lines do not have (rev17) */
    uint64_t h = SUM_START;
    while ((n = sg_lines_next(&r, err, errlen)) >= 0) {
        char *line = r.line;
        h = sum_add(h, line, (size_t)n);
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        tline *nl = realloc(t->l, (t->n + 1) * sizeof(tline));
        if (nl == NULL) {
            n = SG_LINES_ENOMEM;
            break;
        }
        t->l = nl;
        memset(&t->l[t->n], 0, sizeof(tline));
        t->n++;
        if ((t->l[t->n - 1].raw = strdup(line)) == NULL) {
            n = SG_LINES_ENOMEM;
            break;
        }
        split_fields(&t->l[t->n - 1]);
        if (t->l[t->n - 1].copy == NULL) {
            n = SG_LINES_ENOMEM;
            break;
        }
    }
    sg_lines_close(&r);
    if (n != SG_LINES_END) {
        if (n == SG_LINES_ENOMEM)
            errf(err, errlen, "%s: out of memory", path);
        table_free(t);
        return (int)n;
    }
    t->sum = h | 1;
    return 0;
}

static tline *table_append(table *t)
{
    tline *nl = realloc(t->l, (t->n + 1) * sizeof(tline));
    if (nl == NULL)
        return NULL;
    t->l = nl;
    memset(&t->l[t->n], 0, sizeof(tline));
    t->l[t->n].raw = strdup("");
    t->l[t->n].copy = strdup("");
    t->l[t->n].changed = 1;
    return &t->l[t->n++];
}

/* The table's text: unchanged lines as read, changed ones from fields. */
static char *table_text(const table *t, int keytable, size_t *len)
{
    size_t cap = 1;
    for (size_t i = 0; i < t->n; i++) {
        cap += strlen(t->l[i].raw) + 2;
        for (size_t j = 0; j < t->l[i].nf; j++)
            cap += strlen(t->l[i].f[j]) + 3;
    }
    char *s = malloc(cap), *p = s;
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < t->n; i++) {
        const tline *l = &t->l[i];
        if (!l->changed) {
            p += sprintf(p, "%s\n", l->raw);
            continue;
        }
        for (size_t j = 0; j < l->nf; j++)
            p += sprintf(p, "%s%s", j == 0 ? "" : j == 1 || keytable ? " " : ", ", l->f[j]);
        if (l->comment)
            p += sprintf(p, " %s", l->comment);
        p += sprintf(p, "\n");
    }
    *p = '\0';
    *len = (size_t)(p - s);
    return s;
}

/* Set field j of line l to a new (owned) string. */
static int tline_set(tline *l, size_t j, const char *v)
{
    char *d = strdup(v);
    if (d == NULL)
        return -1;
    if (j >= l->nf) {
        if (j >= 63) {
            free(d);
            return -1;
        }
        l->nf = j + 1;
    }
    free(l->owned[j]);
    l->f[j] = l->owned[j] = d;
    l->changed = 1;
    return 0;
}

/* The steps read a private key only for its public half (what to publish,
 * what the servers must serve): its mode and owner are the signer's to
 * judge, not ours. */
#define KEY_PUBLIC_ONLY (SG_DKIM_KEY_ALLOW_READABLE | SG_DKIM_KEY_ALLOW_ANY_OWNER)

/* A KeyTable line: name domain:selector:path. */
typedef struct {
    const char *name;
    char domain[SGU_KS_DOMAIN_MAX + 1], selector[SGU_KS_SELECTOR_MAX + 1];
    char path[SGU_KS_PATH_MAX + 1];
} kt_entry;

/* -1 and, when why is given, the reason in it. The domain and selector
 * make the names of the files `rotate` writes and the owner names of the
 * records it publishes, so they are checked as DKIM names (no "../", no
 * '/'), as the daemon's loader checks them. */
static int kt_parse(const tline *l, kt_entry *e, char *why, size_t whylen)
{
    const char *v, *c1, *c2;
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (l->nf != 2)
        goto shape;
    v = l->f[1];
    c1 = strchr(v, ':');
    c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || !c2 || c1 == v || c2 == c1 + 1 || !c2[1] || (size_t)(c1 - v) > SGU_KS_DOMAIN_MAX ||
        (size_t)(c2 - c1 - 1) > SGU_KS_SELECTOR_MAX || strlen(c2 + 1) > SGU_KS_PATH_MAX)
        goto shape;
    e->name = l->f[0];
    snprintf(e->domain, sizeof(e->domain), "%.*s", (int)(c1 - v), v);
    snprintf(e->selector, sizeof(e->selector), "%.*s", (int)(c2 - c1 - 1), c1 + 1);
    snprintf(e->path, sizeof(e->path), "%s", c2 + 1);
    if (!sg_dkim_name_ok(e->domain)) {
        errf(why, whylen, "'%s' is not a domain name (LDH labels, A-labels for IDNs)", e->domain);
        return -1;
    }
    if (!sg_dkim_name_ok(e->selector)) {
        errf(why, whylen, "'%s' is not a selector (RFC 6376 3.1)", e->selector);
        return -1;
    }
    if (e->path[0] != '/') { /* as spoofguardd reads it: maps.c */
        errf(why, whylen, "key path '%s' is not absolute", e->path);
        return -1;
    }
    return 0;
shape:
    errf(why, whylen, "expected 'keyname domain:selector:/path/to/key'");
    return -1;
}

/* ------------------------------------------------------------------------ */
/* context                                                                   */

typedef struct {
    keys_opt o;
    char key_table[4096], signing_table[4096], state_path[4096], publish_dir[4096];
    table kt, st_table;
    sgu_keys_state st;
    int64_t now;
    unsigned state_mode;
    char doms[MAX_DOMAINS][SGU_KS_DOMAIN_MAX + 1];
    int doms_more; /* the KeyTable and state name more than MAX_DOMAINS */
} ctx;

static int64_t now_of(const ctx *c)
{
    return c->o.now ? (int64_t)c->o.now : (int64_t)time(NULL);
}

/* key_table and signing_table from spoofguardd.conf ("name value" lines,
 * read as the daemon reads them; a relative file is beside the
 * configuration). */
static int read_config(ctx *c, char *err, size_t errlen)
{
    sg_lines r;
    char dir[4096], *name, *val;
    ssize_t len;
    int rc = sg_lines_open(&r, c->o.config, err, errlen);
    if (rc != 0)
        return rc;
    sg_folder_of(dir, sizeof(dir), c->o.config);
    while ((len = sg_lines_next(&r, err, errlen)) >= 0) {
        if (!sg_conf_line(r.line, &name, &val) || *val == '\0')
            continue;
        char *dst = !strcmp(name, "key_table")       ? c->key_table
                    : !strcmp(name, "signing_table") ? c->signing_table
                                                     : NULL;
        /* --key-table or --signing-table beside --config wins */
        if (dst == NULL || dst[0] != '\0')
            continue;
        if (val[0] == '/')
            snprintf(dst, 4096, "%s", val);
        else if (snprintf(dst, 4096, "%s/%s", dir, val) >= 4096)
            dst[0] = '\0';
    }
    sg_lines_close(&r);
    return len == SG_LINES_END ? 0 : (int)len;
}

/* Returns 0, -1 or SG_LINES_ENOMEM (said in err). */
static int ctx_open(ctx *c, char *err, size_t errlen)
{
    struct stat sb;
    if (c->o.key_table)
        snprintf(c->key_table, sizeof(c->key_table), "%s", c->o.key_table);
    if (c->o.signing_table)
        snprintf(c->signing_table, sizeof(c->signing_table), "%s", c->o.signing_table);
    if (!c->key_table[0] || !c->signing_table[0]) {
        if (!c->o.config)
            c->o.config = DEFAULT_CONFIG;
        int rc = read_config(c, err, errlen);
        if (rc != 0)
            return rc;
    }
    if (!c->key_table[0] || !c->signing_table[0]) {
        errf(err, errlen,
             "no key_table or signing_table (give --config, or --key-table and "
             "--signing-table)");
        return -1;
    }
    if (c->o.state)
        snprintf(c->state_path, sizeof(c->state_path), "%s", c->o.state);
    else if (snprintf(c->state_path, sizeof(c->state_path), "%s.rotation", c->key_table) >=
             (int)sizeof(c->state_path)) {
        errf(err, errlen, "path too long");
        return -1;
    }
    if (c->o.publish_dir)
        snprintf(c->publish_dir, sizeof(c->publish_dir), "%s", c->o.publish_dir);
    else {
        char d[4096];
        sg_folder_of(d, sizeof(d), c->key_table);
        if (snprintf(c->publish_dir, sizeof(c->publish_dir), "%s/dkim-publish", d) >=
            (int)sizeof(c->publish_dir)) {
            errf(err, errlen, "path too long");
            return -1;
        }
    }
    c->now = now_of(c);
    int rc = table_load(&c->kt, c->key_table, 0, err, errlen);
    if (rc != 0 || (rc = table_load(&c->st_table, c->signing_table, 0, err, errlen)) != 0)
        return rc;
    for (size_t i = 0; i < c->kt.n; i++) {
        kt_entry e;
        char why[400];
        if (c->kt.l[i].nf && kt_parse(&c->kt.l[i], &e, why, sizeof(why)) != 0) {
            errf(err, errlen, "%s:%zu: %s", c->key_table, i + 1, why);
            return -1;
        }
    }
    /* the state file is no secret; it follows the KeyTable's mode so the
     * daemon (which reads the KeyTable) reads it too, for the key ages */
    c->state_mode = stat(c->key_table, &sb) == 0 ? (sb.st_mode & 0644) | 0600 : 0644;
    return sgu_keys_state_load(&c->st, c->state_path, err, errlen);
}

static int save_state(ctx *c)
{
    char err[512];
    struct stat kt;
    if (sgu_keys_state_save(&c->st, c->state_path, c->state_mode, err, sizeof(err)) != 0) {
        fprintf(stderr, "spoofguard keys: %s\n", err);
        return -1;
    }
    /* the daemon reads the state as it reads the KeyTable (key ages) */
    if (stat(c->key_table, &kt) == 0 && chown(c->state_path, kt.st_uid, kt.st_gid) != 0) {
        /* not root: the file stays the writer's */
    }
    return 0;
}

/* The domains to work on: --domain, or every domain of the KeyTable and
 * the state (copied: the state's records move as it grows). */
static size_t domains(ctx *c, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < c->kt.n + c->st.n; i++) {
        kt_entry e;
        const char *d;
        if (c->o.domain) {
            d = c->o.domain;
        } else if (i < c->kt.n) {
            if (!c->kt.l[i].nf || kt_parse(&c->kt.l[i], &e, NULL, 0) != 0)
                continue;
            d = e.domain;
        } else {
            d = c->st.keys[i - c->kt.n].domain;
        }
        size_t j;
        for (j = 0; j < n; j++)
            if (!strcasecmp(c->doms[j], d))
                break;
        if (j == n && n == max) {
            c->doms_more = 1;
            break;
        }
        if (j == n && snprintf(c->doms[n], sizeof(c->doms[n]), "%s", d) < (int)sizeof(c->doms[n]))
            n++;
        if (c->o.domain)
            break;
    }
    if (c->o.domain && n == 0)
        n = snprintf(c->doms[0], sizeof(c->doms[0]), "%s", c->o.domain) < (int)sizeof(c->doms[0]);
    return n;
}

static const char *alg_of_key(const sg_dkim_signkey *k)
{
    return sg_dkim_signkey_alg(k) == SG_DKIM_ED25519_SHA256 ? "ed25519" : "rsa";
}

/* Keys of the KeyTable that the state does not know yet become active
 * records (their creation time: the file's mtime). Reading the key (as
 * root, or its owner) tells its algorithm. */
static int adopt(ctx *c, const char *domain, char *err, size_t errlen)
{
    int added = 0;
    for (size_t i = 0; i < c->kt.n; i++) {
        kt_entry e;
        if (!c->kt.l[i].nf || kt_parse(&c->kt.l[i], &e, NULL, 0) != 0 ||
            strcasecmp(e.domain, domain))
            continue;
        if (sgu_keys_state_find(&c->st, e.domain, e.selector))
            continue;
        sg_dkim_signkey *k = NULL;
        char kerr[256] = "";
        if (sg_dkim_signkey_load(&k, e.path, KEY_PUBLIC_ONLY, kerr, sizeof(kerr)) != 0) {
            errf(err, errlen, "%s: %s", e.path, kerr[0] ? kerr : "cannot read the key");
            return -1;
        }
        sgu_ks_key *r = sgu_keys_state_add(&c->st);
        if (r == NULL) {
            sg_dkim_signkey_free(k);
            errf(err, errlen, "out of memory");
            return -1;
        }
        struct stat sb;
        snprintf(r->domain, sizeof(r->domain), "%s", e.domain);
        snprintf(r->selector, sizeof(r->selector), "%s", e.selector);
        snprintf(r->alg, sizeof(r->alg), "%s", alg_of_key(k));
        snprintf(r->name, sizeof(r->name), "%s", e.name);
        snprintf(r->path, sizeof(r->path), "%s", e.path);
        r->phase = SGU_KS_ACTIVE;
        r->created = stat(e.path, &sb) == 0 ? (int64_t)sb.st_mtime : c->now;
        r->activated = r->created;
        sg_dkim_signkey_free(k);
        added = 1;
    }
    return added;
}

/* ------------------------------------------------------------------------ */
/* rotate                                                                    */

/* Expand a selector template: {yyyy} {mm} {dd}; anything else as is. */
static int expand_selector(char *out, size_t cap, const char *tpl, int64_t now)
{
    time_t t = (time_t)now;
    struct tm tm;
    size_t o = 0;
    gmtime_r(&t, &tm);
    for (const char *p = tpl; *p;) {
        char part[16];
        size_t skip = 0;
        if (!strncmp(p, "{yyyy}", 6))
            snprintf(part, sizeof(part), "%04d", tm.tm_year + 1900), skip = 6;
        else if (!strncmp(p, "{mm}", 4))
            snprintf(part, sizeof(part), "%02d", tm.tm_mon + 1), skip = 4;
        else if (!strncmp(p, "{dd}", 4))
            snprintf(part, sizeof(part), "%02d", tm.tm_mday), skip = 4;
        else
            part[0] = *p, part[1] = '\0', skip = 1;
        size_t pl = strlen(part);
        if (o + pl + 1 > cap)
            return -1;
        memcpy(out + o, part, pl);
        o += pl;
        p += skip;
    }
    out[o] = '\0';
    /* a selector is a sequence of DNS labels (RFC 6376 3.1) */
    if (o == 0 || o > 63 || out[0] == '.' || out[o - 1] == '.' || strstr(out, ".."))
        return -1;
    for (size_t i = 0; i < o; i++)
        if (!isalnum((unsigned char)out[i]) && out[i] != '-' && out[i] != '.' && out[i] != '_')
            return -1;
    return 0;
}

static int selector_taken(ctx *c, const char *domain, const char *sel)
{
    if (sgu_keys_state_find(&c->st, domain, sel))
        return 1;
    for (size_t i = 0; i < c->kt.n; i++) {
        kt_entry e;
        if (c->kt.l[i].nf && kt_parse(&c->kt.l[i], &e, NULL, 0) == 0 &&
            !strcasecmp(e.domain, domain) && !strcasecmp(e.selector, sel))
            return 1;
    }
    return 0;
}

/* Load the key at path, or make it: generated into path.tmp (a leftover
 * from a crash is replaced), synced, given the reference key's owner and
 * mode, then renamed, so path holds a whole key or nothing. */
static int ensure_key(const sgu_ks_key *r, const struct stat *ref, sg_dkim_signkey **out, char *err,
                      size_t errlen)
{
    char kerr[256] = "", tmp[SGU_KS_PATH_MAX + 16];
    int rc;
    struct stat sb;
    if (lstat(r->path, &sb) == 0) {
        /* a leftover at the new key's name becomes the signing key: it
         * must be one nobody else could have read (adv19 F14: a
         * world-readable file was published and activated, and the daemon
         * then refused it) */
        mode_t allowed = ref ? (ref->st_mode & 0040) : 0;
        if (!S_ISREG(sb.st_mode) || (sb.st_mode & 0077 & ~allowed) != 0 ||
            (ref && sb.st_uid != ref->st_uid)) {
            errf(err, errlen,
                 "%s exists (mode %04o) but is not a private key file only its owner can read: "
                 "remove it, and rotate again",
                 r->path, (unsigned)(sb.st_mode & 07777));
            return -1;
        }
        if (sg_dkim_signkey_load(out, r->path, KEY_PUBLIC_ONLY, kerr, sizeof(kerr))) {
            errf(err, errlen, "%s: %s", r->path, kerr[0] ? kerr : "unreadable key");
            return -1;
        }
        if (strcmp(alg_of_key(*out), r->alg)) {
            errf(err, errlen, "%s: not an %s key", r->path, r->alg);
            sg_dkim_signkey_free(*out);
            *out = NULL; /* the caller frees what it holds */
            return -1;
        }
        return 0;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", r->path);
    unlink(tmp);
    rc = sg_dkim_signkey_generate(
        out, strcmp(r->alg, "rsa") ? SG_DKIM_ED25519_SHA256 : SG_DKIM_RSA_SHA256, 2048);
    if (rc == 0)
        rc = sg_dkim_signkey_write(*out, tmp);
    if (rc != 0) {
        errf(err, errlen, "%s: %s", tmp, sg_strerror(rc));
        sg_dkim_signkey_free(*out);
        *out = NULL; /* the caller frees what it holds */
        return -1;
    }
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        /* the daemon's signer reads keys as their owner would: keep the
         * current key's owner and group, and its group-read bit (which
         * spoofguardd accepts only with allow_group_readable_keys) */
        if (ref && fchown(fd, ref->st_uid, ref->st_gid) == 0)
            (void)fchmod(fd, (ref->st_mode & 0040) | 0600);
        (void)fsync(fd);
        close(fd);
    }
    if (rename(tmp, r->path) != 0) {
        errf(err, errlen, "%s: %s", r->path, strerror(errno));
        sg_dkim_signkey_free(*out);
        *out = NULL; /* the caller frees what it holds */
        return -1;
    }
    /* the rename is durable once the folder is: before the files to
     * publish name this key */
    char dir[SGU_KS_PATH_MAX + 1];
    sg_folder_of(dir, sizeof(dir), r->path);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* The files to publish for domain's pending keys, and the zone fragment
 * on stdout. */
static int write_publish(ctx *c, const char *domain, sgu_ks_key **keys, sg_dkim_signkey **sk,
                         size_t n)
{
    char *txt = NULL, *zone = NULL, *nsu = NULL, err[512];
    size_t tl = 0, zl = 0, nl = 0;
    FILE *ft = open_memstream(&txt, &tl), *fz = open_memstream(&zone, &zl),
         *fn = open_memstream(&nsu, &nl);
    int rc = -1;
    if (!ft || !fz || !fn)
        goto out;
    /* each record its TTL, no $TTL: appended to a zone file, a $TTL would
     * change the TTL of every record after it (adv21 F12) */
    fprintf(fz,
            "; DKIM keys for %s made by spoofguard keys rotate; publish, then run\n"
            "; spoofguard keys activate --domain %s --reload-command 'systemctl reload "
            "spoofguardd'\n",
            domain, domain);
    fprintf(fn, "; nsupdate script: nsupdate -k KEYFILE %s/%s.nsupdate\n", c->publish_dir, domain);
    for (size_t i = 0; i < n; i++) {
        char *rec = NULL, *z = NULL;
        if (sg_dkim_signkey_record(sk[i], &rec) != 0 ||
            sg_dkim_zone_txt(&z, domain, keys[i]->selector, rec) != 0) {
            free(rec);
            goto out;
        }
        fprintf(ft, "%s._domainkey.%s TXT %s\n", keys[i]->selector, domain, rec);
        const char *in = strstr(z, "\tIN\t");
        if (in != NULL)
            fprintf(fz, "%.*s\t%lld%s", (int)(in - z), z, c->o.ttl, in);
        else
            fputs(z, fz);
        /* nsupdate takes the zone-file strings after the type */
        char *strings = strstr(z, "TXT");
        fprintf(fn, "update add %s._domainkey.%s. %lld ", keys[i]->selector, domain, c->o.ttl);
        if (strings) {
            /* one line: the parentheses and line breaks out, runs of
             * blanks between the strings squeezed (none inside them) */
            int blank = 0, quoted = 0;
            for (const char *p = strings; *p; p++) {
                if (*p == '"' && p[-1] != '\\')
                    quoted = !quoted;
                if (!quoted && (*p == '(' || *p == ')' || isspace((unsigned char)*p))) {
                    blank = 1;
                    continue;
                }
                if (blank && p != strings)
                    fputc(' ', fn);
                blank = 0;
                fputc(*p, fn);
            }
        }
        fputc('\n', fn);
        free(rec);
        free(z);
    }
    fprintf(fn, "send\n");
    fclose(ft), fclose(fz), fclose(fn);
    ft = fz = fn = NULL;
    if (mkdir(c->publish_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "spoofguard keys: %s: %s\n", c->publish_dir, strerror(errno));
        goto out;
    }
    static const char *const ext[] = {"txt", "zone", "nsupdate"};
    const char *data[] = {txt, zone, nsu};
    size_t lens[] = {tl, zl, nl};
    for (size_t i = 0; i < 3; i++) {
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s.%s", c->publish_dir, domain, ext[i]);
        if (sgu_write_atomic(path, data[i], lens[i], 0644, err, sizeof(err)) != 0) {
            fprintf(stderr, "spoofguard keys: %s\n", err);
            goto out;
        }
    }
    fputs(zone, stdout);
    fprintf(stderr, "spoofguard keys: %s: publish %s/%s.zone (or .nsupdate, .txt), then activate\n",
            domain, c->publish_dir, domain);
    rc = 0;
out:
    if (ft)
        fclose(ft);
    if (fz)
        fclose(fz);
    if (fn)
        fclose(fn);
    free(txt);
    free(zone);
    free(nsu);
    return rc;
}

static int rotate_domain(ctx *c, const char *domain)
{
    char err[512] = "";
    int a = adopt(c, domain, err, sizeof(err));
    if (a < 0) {
        fprintf(stderr, "spoofguard keys: %s\n", err);
        return SG_EXIT_INPUT;
    }
    /* the reference key: the domain's first active one */
    const sgu_ks_key *ref = NULL;
    sgu_ks_key *pend[2] = {NULL, NULL};
    static const char *const algs[2] = {"rsa", "ed25519"};
    for (size_t i = 0; i < c->st.n; i++) {
        sgu_ks_key *k = &c->st.keys[i];
        if (strcasecmp(k->domain, domain))
            continue;
        if (k->phase == SGU_KS_ACTIVE && ref == NULL)
            ref = k;
        if (k->phase == SGU_KS_PENDING)
            pend[strcmp(k->alg, "rsa") ? 1 : 0] = k;
    }
    char keydir[4096], cwd[2048];
    /* the KeyTable takes absolute paths only (spoofguardd reads it from "/") */
    if (c->o.key_dir && c->o.key_dir[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL)
        snprintf(keydir, sizeof(keydir), "%s/%s", cwd, c->o.key_dir);
    else if (c->o.key_dir)
        snprintf(keydir, sizeof(keydir), "%s", c->o.key_dir);
    else if (ref)
        sg_folder_of(keydir, sizeof(keydir), ref->path);
    else {
        fprintf(stderr, "spoofguard keys: %s has no key in the KeyTable: give --key-dir\n", domain);
        return SG_EXIT_USAGE;
    }
    int made = 0;
    for (size_t j = 0; j < 2; j++) {
        if (pend[j])
            continue; /* a re-run: the selector chosen before stays */
        char sel[SGU_KS_SELECTOR_MAX + 1], base[SGU_KS_SELECTOR_MAX + 1];
        const char *tpl = j ? (c->o.sel_ed ? c->o.sel_ed : "{yyyy}{mm}e")
                            : (c->o.sel_rsa ? c->o.sel_rsa : "{yyyy}{mm}r");
        if (expand_selector(base, sizeof(base) - 4, tpl, c->now) != 0) {
            fprintf(stderr, "spoofguard keys: selector template '%s' does not make a selector\n",
                    tpl);
            return SG_EXIT_USAGE;
        }
        snprintf(sel, sizeof(sel), "%s", base);
        for (int n = 2; selector_taken(c, domain, sel) && n < 100; n++)
            if (snprintf(sel, sizeof(sel), "%s-%d", base, n) >= (int)sizeof(sel))
                break;
        if (selector_taken(c, domain, sel)) {
            fprintf(stderr, "spoofguard keys: no free selector from '%s'\n", tpl);
            return SG_EXIT_USAGE;
        }
        sgu_ks_key *r = sgu_keys_state_add(&c->st);
        if (r == NULL)
            return SG_EXIT_INTERNAL;
        /* add() may move the array: find the reference again later */
        ref = NULL;
        snprintf(r->domain, sizeof(r->domain), "%s", domain);
        snprintf(r->selector, sizeof(r->selector), "%s", sel);
        snprintf(r->alg, sizeof(r->alg), "%s", algs[j]);
        if ((size_t)snprintf(r->path, sizeof(r->path), "%s/%s.%s.private", keydir, domain, sel) >=
            sizeof(r->path))
            return SG_EXIT_USAGE;
        r->phase = SGU_KS_PENDING;
        r->created = c->now;
        made = 1;
    }
    /* the selectors are recorded before any key file exists */
    if ((made || a) && save_state(c) != 0)
        return SG_EXIT_INTERNAL;
    crash_point("rotate:state");
    struct stat refst, *refp = NULL;
    sgu_ks_key *keys[2];
    sg_dkim_signkey *sk[2] = {NULL, NULL};
    size_t n = 0;
    for (size_t i = 0; i < c->st.n; i++) {
        sgu_ks_key *k = &c->st.keys[i];
        if (strcasecmp(k->domain, domain))
            continue;
        if (k->phase == SGU_KS_ACTIVE && refp == NULL && stat(k->path, &refst) == 0)
            refp = &refst;
        if (k->phase == SGU_KS_PENDING && n < 2)
            keys[n++] = k;
    }
    int status = SG_EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        if (ensure_key(keys[i], refp, &sk[i], err, sizeof(err)) != 0) {
            fprintf(stderr, "spoofguard keys: %s\n", err);
            status = SG_EXIT_INPUT;
            n = i;
            break;
        }
        crash_point("rotate:key");
    }
    if (status == SG_EXIT_OK) {
        if (write_publish(c, domain, keys, sk, n) != 0)
            status = SG_EXIT_INTERNAL;
        else if (!made)
            fprintf(stderr, "spoofguard keys: %s: rotation already pending (%s, %s): nothing new\n",
                    domain, keys[0]->selector, n > 1 ? keys[1]->selector : "-");
    }
    for (size_t i = 0; i < 2; i++)
        sg_dkim_signkey_free(sk[i]);
    return status;
}

/* ------------------------------------------------------------------------ */
/* checking the authoritative servers                                         */

/* The value of tag `name` in a DKIM key record (RFC 6376 3.6.1) with the
 * whitespace removed, into out; 1 found, 0 absent. */
static int record_tag(const char *rec, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = rec;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ';')
            p++;
        const char *eq = strchr(p, '='), *semi = strchr(p, ';');
        if (!semi)
            semi = p + strlen(p);
        if (eq && eq < semi) {
            const char *t = eq;
            while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
                t--;
            if ((size_t)(t - p) == nl && !strncmp(p, name, nl)) {
                size_t o = 0;
                for (const char *v = eq + 1; v < semi; v++)
                    if (!isspace((unsigned char)*v) && o + 1 < cap)
                        out[o++] = *v;
                out[o] = '\0';
                return 1;
            }
        }
        p = *semi ? semi + 1 : semi;
    }
    return 0;
}

typedef struct {
    kd_server s[MAX_NS];
    size_t n;
} ns_set;

/* The domain's NS set through the resolver: the NS of the closest
 * enclosing zone (labels stripped until an answer), then each name
 * server's IPv4 and IPv6 addresses. */
static int find_ns(ctx *c, const char *domain, ns_set *out, char *err, size_t errlen)
{
    kd_server res;
    kd_answer *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    int rc = -1;
    out->n = 0;
    if (!a || !b) {
        errf(err, errlen, "out of memory");
        goto done;
    }
    if (c->o.resolver ? kd_server_parse(&res, c->o.resolver, err, errlen)
                      : kd_server_system(&res)) {
        if (!c->o.resolver)
            errf(err, errlen, "no resolver");
        goto done;
    }
    const char *zone = domain;
    for (;;) {
        kd_query(&res, zone, KD_TYPE_NS, 1, 3000, a);
        if (a->status != 0) {
            errf(err, errlen, "NS %s: %s", zone, a->why);
            goto done;
        }
        if (a->rcode == 0 && a->n > 0)
            break;
        const char *dot = strchr(zone, '.');
        if (a->rcode != 0 && a->rcode != 3) {
            errf(err, errlen, "NS %s: rcode %d", zone, a->rcode);
            goto done;
        }
        if (dot == NULL || dot[1] == '\0') {
            errf(err, errlen, "no NS set found for %s", domain);
            goto done;
        }
        zone = dot + 1;
    }
    /* Every server must be asked: one whose address cannot be found now
     * (a timeout, SERVFAIL) is not "not there", and activating without it
     * could sign with a key a secondary does not serve yet (adv19 F1) */
    for (size_t i = 0; i < a->n; i++) {
        size_t had = out->n;
        for (int t = 0; t < 2; t++) {
            kd_query(&res, a->data[i], t ? KD_TYPE_AAAA : KD_TYPE_A, 1, 3000, b);
            if (b->status != 0 || (b->rcode != 0 && b->rcode != 3)) {
                errf(err, errlen, "name server %s: %s lookup failed (%s)", a->data[i],
                     t ? "AAAA" : "A", b->status != 0 ? b->why : "an error rcode");
                goto done;
            }
            if (out->n + b->n > MAX_NS) {
                errf(err, errlen,
                     "the NS set of %s has more than %d addresses: too many to check them all; "
                     "name the servers with --ns",
                     zone, MAX_NS);
                goto done;
            }
            for (size_t j = 0; j < b->n; j++) {
                char spec[300], e2[128];
                snprintf(spec, sizeof(spec), t ? "[%s]:%lld" : "%s:%lld", b->data[j],
                         c->o.ns_port ? c->o.ns_port : 53);
                if (kd_server_parse(&out->s[out->n], spec, e2, sizeof(e2)) == 0) {
                    if (snprintf(out->s[out->n].label, sizeof(out->s[0].label), "%.200s (%.64s)",
                                 a->data[i], spec) < 0)
                        continue;
                    out->n++;
                }
            }
        }
        if (out->n == had) {
            errf(err, errlen, "name server %s has no address", a->data[i]);
            goto done;
        }
    }
    if (out->n == 0) {
        errf(err, errlen, "no address for the NS set of %s", zone);
        goto done;
    }
    rc = 0;
done:
    free(a);
    free(b);
    return rc;
}

static int servers_for(ctx *c, const char *domain, ns_set *ns, char *err, size_t errlen)
{
    if (c->o.nns == 0)
        return find_ns(c, domain, ns, err, errlen);
    ns->n = 0;
    for (size_t i = 0; i < c->o.nns; i++)
        if (kd_server_parse(&ns->s[ns->n++], c->o.ns[i], err, errlen) != 0)
            return -1;
    return 0;
}

/* 1 when server s serves, authoritatively, exactly one key record at
 * the key's name, with the local key's type and public key; 0 with the
 * reason in why. *ttl gets the record's TTL. */
static int visible_at(const kd_server *s, const sgu_ks_key *k, const char *want_p, kd_answer *a,
                      uint32_t *ttl, char *why, size_t wl)
{
    char name[400], p[KD_RDATA_MAX], kt[32];
    snprintf(name, sizeof(name), "%s._domainkey.%s", k->selector, k->domain);
    kd_query(s, name, KD_TYPE_TXT, 0, 2000, a);
    if (a->status != 0)
        return snprintf(why, wl, "%s", a->why), 0;
    if (a->rcode == 3)
        return snprintf(why, wl, "NXDOMAIN"), 0;
    if (a->rcode != 0)
        return snprintf(why, wl, "rcode %d", a->rcode), 0;
    if (!a->aa)
        return snprintf(why, wl, "answer not authoritative (no AA bit)"), 0;
    if (a->n == 0)
        return snprintf(why, wl, "no TXT record"), 0;
    if (a->n > 1)
        return snprintf(why, wl, "%zu TXT records (one expected)", a->n), 0;
    if (!record_tag(a->data[0], "p", p, sizeof(p)))
        return snprintf(why, wl, "record without p="), 0;
    if (!record_tag(a->data[0], "k", kt, sizeof(kt)))
        snprintf(kt, sizeof(kt), "rsa");
    if (strcmp(kt, k->alg))
        return snprintf(why, wl, "k=%s, the local key is %s", kt, k->alg), 0;
    if (p[0] == '\0')
        return snprintf(why, wl, "revoked (empty p=)"), 0;
    if (strcmp(p, want_p))
        return snprintf(why, wl, "stale: another public key"), 0;
    /* the right key in a record verifiers refuse (h=sha1, s=tlsrpt, a
     * second p=) or treat as unsigned (t=y) was "ok" (adv19 F3) */
    const char *bad = NULL;
    if (sg_audit_dkim_key_check(a->data[0], a->len[0], &bad) != 0)
        return snprintf(why, wl, "unusable by verifiers: %s", bad ? bad : "syntax error"), 0;
    *ttl = a->ttl[0];
    snprintf(why, wl, "ok, TTL %" PRIu32, a->ttl[0]);
    return 1;
}

/* The public key (p=) of the key file at path. */
static int local_p(const sgu_ks_key *k, char *out, size_t cap, char *err, size_t errlen)
{
    sg_dkim_signkey *sk = NULL;
    char *rec = NULL, kerr[256] = "";
    if (sg_dkim_signkey_load(&sk, k->path, KEY_PUBLIC_ONLY, kerr, sizeof(kerr)) != 0) {
        errf(err, errlen, "%s: %s", k->path, kerr[0] ? kerr : "unreadable key");
        return -1;
    }
    int rc = sg_dkim_signkey_record(sk, &rec);
    sg_dkim_signkey_free(sk);
    if (rc != 0 || !record_tag(rec, "p", out, cap)) {
        free(rec);
        errf(err, errlen, "%s: no public key", k->path);
        return -1;
    }
    free(rec);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* activate                                                                  */

/* The pid in --pid-file, of a process that is there to signal; -1 with
 * the reason said. */
static long pid_to_signal(const ctx *c)
{
    FILE *fp = fopen(c->o.pid_file, "r");
    long pid = 0;
    if (fp == NULL || fscanf(fp, "%ld", &pid) != 1 || pid <= 1) {
        fprintf(stderr,
                "spoofguard keys: %s: no pid (spoofguardd writes no pid file of its own; under "
                "systemd use --reload-command 'systemctl reload spoofguardd')\n",
                c->o.pid_file);
        if (fp)
            fclose(fp);
        return -1;
    }
    fclose(fp);
    if (kill((pid_t)pid, 0) != 0) {
        fprintf(stderr, "spoofguard keys: %s: pid %ld: %s\n", c->o.pid_file, pid, strerror(errno));
        return -1;
    }
    return pid;
}

/* Before anything changes: the daemon a --pid-file names must be there
 * to reload, or the tables would be switched under a daemon that goes on
 * signing with the old keys until someone notices (adv21 F5). */
static int reload_target_ok(const ctx *c)
{
    return c->o.reload_cmd != NULL || c->o.pid_file == NULL || pid_to_signal(c) > 0;
}

static int reload_daemon(ctx *c)
{
    if (c->o.reload_cmd) {
        int rc = system(c->o.reload_cmd);
        if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
            fprintf(stderr,
                    "spoofguard keys: tables switched, but the reload command failed: %s: "
                    "reload spoofguardd now\n",
                    c->o.reload_cmd);
            return -1;
        }
        return 0;
    }
    if (c->o.pid_file) {
        long pid = pid_to_signal(c);
        if (pid < 0 || kill((pid_t)pid, SIGHUP) != 0) {
            fprintf(stderr,
                    "spoofguard keys: tables switched, but not reloaded%s%s: reload "
                    "spoofguardd now\n",
                    pid < 0 ? "" : ": SIGHUP: ", pid < 0 ? "" : strerror(errno));
            return -1;
        }
        return 0;
    }
    fprintf(stderr, "spoofguard keys: tables switched; not reloading (--no-reload): reload "
                    "spoofguardd now\n");
    return 0;
}

/* Does SigningTable line l name key `name`? */
static int st_names(const tline *l, const char *name)
{
    for (size_t j = 1; j < l->nf; j++)
        if (!strcmp(l->f[j], name))
            return 1;
    return 0;
}

/* Point the tables at the new keys: a KeyTable entry of the same domain
 * and algorithm is rewritten in place (the SigningTable keeps naming it);
 * a new algorithm gets a new entry, named beside the domain's others in
 * every SigningTable line. Re-running finds everything done and changes
 * nothing. */
static int switch_tables(ctx *c, sgu_ks_key **pend, size_t np, sgu_ks_key **old, char *err,
                         size_t errlen)
{
    for (size_t i = 0; i < np; i++) {
        sgu_ks_key *nk = pend[i];
        char value[SGU_KS_DOMAIN_MAX + SGU_KS_SELECTOR_MAX + SGU_KS_PATH_MAX + 4];
        snprintf(value, sizeof(value), "%s:%s:%s", nk->domain, nk->selector, nk->path);
        old[i] = NULL;
        /* already switched (a re-run)? */
        size_t at = c->kt.n;
        for (size_t l = 0; l < c->kt.n; l++)
            if (c->kt.l[l].nf == 2 && !strcmp(c->kt.l[l].f[1], value))
                at = l;
        /* the active key it replaces: same domain and algorithm */
        for (size_t s = 0; s < c->st.n; s++) {
            sgu_ks_key *k = &c->st.keys[s];
            if (k->phase == SGU_KS_ACTIVE && !strcasecmp(k->domain, nk->domain) &&
                !strcmp(k->alg, nk->alg) && k->name[0]) {
                old[i] = k;
                break;
            }
        }
        if (at < c->kt.n) {
            snprintf(nk->name, sizeof(nk->name), "%s", c->kt.l[at].f[0]);
            continue;
        }
        if (old[i]) {
            for (size_t l = 0; l < c->kt.n; l++)
                if (c->kt.l[l].nf == 2 && !strcmp(c->kt.l[l].f[0], old[i]->name)) {
                    if (tline_set(&c->kt.l[l], 1, value) != 0)
                        goto oom;
                    at = l;
                }
            if (at == c->kt.n) {
                errf(err, errlen, "key '%s' is no longer in %s", old[i]->name, c->key_table);
                return -1;
            }
            snprintf(nk->name, sizeof(nk->name), "%s", old[i]->name);
            continue;
        }
        /* a new algorithm for the domain: a new KeyTable name */
        char name[SGU_KS_NAME_MAX + 1];
        if (snprintf(name, sizeof(name), "%.100s-%s", nk->domain, nk->alg) < 0)
            goto oom;
        for (int n = 2; n < 100; n++) {
            int taken = 0;
            for (size_t l = 0; l < c->kt.n; l++)
                if (c->kt.l[l].nf && !strcmp(c->kt.l[l].f[0], name))
                    taken = 1;
            if (!taken)
                break;
            if (snprintf(name, sizeof(name), "%.100s-%s-%d", nk->domain, nk->alg, n) < 0)
                goto oom;
        }
        tline *l = table_append(&c->kt);
        if (l == NULL || tline_set(l, 0, name) || tline_set(l, 1, value))
            goto oom;
        snprintf(nk->name, sizeof(nk->name), "%s", name);
    }
    /* every new name signs wherever the domain's other keys sign */
    for (size_t i = 0; i < np; i++) {
        int anywhere = 0;
        for (size_t l = 0; l < c->st_table.n; l++)
            if (st_names(&c->st_table.l[l], pend[i]->name))
                anywhere = 1;
        if (anywhere)
            continue;
        int added = 0;
        for (size_t l = 0; l < c->st_table.n; l++) {
            tline *sl = &c->st_table.l[l];
            int domain_line = 0;
            for (size_t s = 0; s < c->st.n; s++) {
                const sgu_ks_key *k = &c->st.keys[s];
                if (!strcasecmp(k->domain, pend[i]->domain) && k->name[0] &&
                    strcmp(k->name, pend[i]->name) && st_names(sl, k->name))
                    domain_line = 1;
            }
            for (size_t j = 0; j < np; j++)
                if (j != i && st_names(sl, pend[j]->name))
                    domain_line = 1;
            if (domain_line) {
                if (tline_set(sl, sl->nf, pend[i]->name) != 0)
                    goto oom;
                added = 1;
            }
        }
        if (!added) {
            char pat[SGU_KS_DOMAIN_MAX + 3];
            snprintf(pat, sizeof(pat), "*@%s", pend[i]->domain);
            tline *l = table_append(&c->st_table);
            if (l == NULL || tline_set(l, 0, pat) || tline_set(l, 1, pend[i]->name))
                goto oom;
        }
    }
    /* KeyTable first: a reload between the two writes then sees new keys
     * that nothing names yet, or the in-place switch, never a name without
     * its key */
    table *tabs[2] = {&c->kt, &c->st_table};
    /* activate --wait reads the tables, then polls for up to days: an
     * edit made meanwhile would be written over with the old copy (adv19
     * F4: a KeyTable line lost, the next reload refused, the "retiring"
     * key still signing). Refused instead, before either is written. */
    for (size_t t = 0; t < 2; t++)
        if (file_sum(tabs[t]->path) != tabs[t]->sum) {
            errf(err, errlen,
                 "%s changed since it was read (an edit while waiting?): nothing switched; run "
                 "activate again",
                 tabs[t]->path);
            return -1;
        }
    for (size_t t = 0; t < 2; t++) {
        int changed = 0;
        for (size_t l = 0; l < tabs[t]->n; l++)
            changed |= tabs[t]->l[l].changed;
        if (!changed)
            continue;
        size_t len;
        char *text = table_text(tabs[t], t == 0, &len);
        if (text == NULL)
            goto oom;
        int rc = sgu_write_atomic(tabs[t]->path, text, len, tabs[t]->mode, err, errlen);
        /* what we wrote is the next domain's base: summed as written, not
         * read back (an edit just after our write would pass for ours) */
        tabs[t]->sum = sum_add(SUM_START, text, len) | 1;
        free(text);
        if (rc != 0)
            return -1;
        crash_point(t == 0 ? "activate:keytable" : "activate:signingtable");
    }
    return 0;
oom:
    errf(err, errlen, "out of memory");
    return -1;
}

static int activate_domain(ctx *c, const char *domain)
{
    char err[512] = "";
    sgu_ks_key *pend[2];
    size_t np = 0;
    if (adopt(c, domain, err, sizeof(err)) < 0) {
        fprintf(stderr, "spoofguard keys: %s\n", err);
        return SG_EXIT_INPUT;
    }
    for (size_t i = 0; i < c->st.n && np < 2; i++)
        if (!strcasecmp(c->st.keys[i].domain, domain) && c->st.keys[i].phase == SGU_KS_PENDING)
            pend[np++] = &c->st.keys[i];
    if (np == 0) {
        fprintf(stderr, "spoofguard keys: %s: no pending key: nothing to activate\n", domain);
        return SG_EXIT_OK;
    }
    char want[2][KD_RDATA_MAX];
    for (size_t i = 0; i < np; i++)
        if (local_p(pend[i], want[i], sizeof(want[i]), err, sizeof(err)) != 0) {
            fprintf(stderr, "spoofguard keys: %s (run rotate again)\n", err);
            return SG_EXIT_INPUT;
        }
    ns_set ns;
    if (servers_for(c, domain, &ns, err, sizeof(err)) != 0) {
        fprintf(stderr, "spoofguard keys: %s\n", err);
        return SG_EXIT_FAIL;
    }
    kd_answer *a = malloc(sizeof(*a));
    if (a == NULL)
        return SG_EXIT_INTERNAL;
    uint32_t maxttl = 0;
    time_t start = time(NULL);
    long long interval = c->o.interval ? c->o.interval : 5;
    for (;;) {
        size_t missing = 0;
        for (size_t i = 0; i < np; i++)
            for (size_t s = 0; s < ns.n; s++) {
                char why[200], shown[200], label[300];
                uint32_t ttl = 0;
                int ok = visible_at(&ns.s[s], pend[i], want[i], a, &ttl, why, sizeof(why));
                /* why quotes the record's k= as a name server gave it, and
                 * the label may be an NS name from DNS */
                printf("%s._domainkey.%s at %s: %s\n", pend[i]->selector, domain,
                       sg_cli_term(label, sizeof(label), ns.s[s].label),
                       sg_cli_term(shown, sizeof(shown), why));
                if (!ok)
                    missing++;
                else if (ttl > maxttl)
                    maxttl = ttl;
            }
        fflush(stdout);
        if (missing == 0)
            break;
        if (time(NULL) - start + interval > c->o.wait) {
            free(a);
            fprintf(stderr,
                    "spoofguard keys: %s: refused: %zu of %zu server answers do not show the new "
                    "key; nothing changed\n",
                    domain, missing, np * ns.n);
            return SG_EXIT_FAIL;
        }
        sleep((unsigned)interval);
    }
    free(a);
    if (!reload_target_ok(c)) {
        fprintf(stderr, "spoofguard keys: %s: not switched: nothing to reload; nothing changed\n",
                domain);
        return SG_EXIT_INPUT;
    }
    sgu_ks_key *old[2] = {NULL, NULL};
    if (switch_tables(c, pend, np, old, err, sizeof(err)) != 0) {
        fprintf(stderr, "spoofguard keys: %s\n", err);
        return SG_EXIT_INTERNAL;
    }
    if (reload_daemon(c) != 0)
        return SG_EXIT_INTERNAL;
    crash_point("activate:reload");
    /* the moment of the switch is the old keys' last use */
    int64_t t = now_of(c);
    for (size_t i = 0; i < np; i++) {
        pend[i]->phase = SGU_KS_ACTIVE;
        pend[i]->activated = t;
        pend[i]->ttl = maxttl;
        if (old[i]) {
            old[i]->phase = SGU_KS_RETIRING;
            old[i]->retiring_since = t;
            old[i]->name[0] = '\0';
            if (old[i]->ttl < maxttl)
                old[i]->ttl = maxttl;
        }
    }
    if (save_state(c) != 0)
        return SG_EXIT_INTERNAL;
    for (size_t i = 0; i < np; i++)
        printf("%s: %s key %s active (KeyTable name %s)%s%s%s\n", domain, pend[i]->alg,
               pend[i]->selector, pend[i]->name, old[i] ? "; " : "", old[i] ? old[i]->selector : "",
               old[i] ? " retiring" : "");
    return SG_EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* retire                                                                    */

static int64_t grace_floor(const sgu_ks_key *k)
{
    /* an unknown TTL counts as a day: the floor must not be too short */
    return GRACE_QUEUE_SECONDS + 2 * (int64_t)(k->ttl ? k->ttl : 86400);
}

static int64_t grace_of(const ctx *c, const sgu_ks_key *k)
{
    int64_t floor = grace_floor(k);
    if (!c->o.grace_set)
        return floor;
    return c->o.force || c->o.grace >= floor ? (int64_t)c->o.grace : floor;
}

/* Whether path reaches the directory entry whose lstat is ent: itself,
 * or through the chain of symbolic links its last component starts.
 * Files are compared by identity, not by name: another spelling of the
 * path (keys/./x), a link to the file, or a link to that link all reach
 * it (adv33 R3: a key b.test shared through a link was removed). */
static int reaches(const char *path, const struct stat *ent)
{
    char p[PATH_MAX], t[PATH_MAX];
    if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
        return 0;
    for (int hop = 0; hop < 40; hop++) { /* the kernel's own bound */
        struct stat sb;
        if (lstat(p, &sb) != 0)
            return 0;
        if (sb.st_dev == ent->st_dev && sb.st_ino == ent->st_ino)
            return 1;
        if (!S_ISLNK(sb.st_mode))
            return 0;
        ssize_t n = readlink(p, t, sizeof(t) - 1);
        if (n <= 0)
            return 0;
        t[n] = '\0';
        const char *slash = strrchr(p, '/');
        if (t[0] == '/' || slash == NULL) {
            memcpy(p, t, (size_t)n + 1);
        } else {
            size_t dl = (size_t)(slash - p) + 1;
            if (dl + (size_t)n >= sizeof(p))
                return 0;
            memcpy(p + dl, t, (size_t)n + 1);
        }
    }
    return 0;
}

/* The name of a KeyTable line that reaches ent, and its path in path_out;
 * NULL if none does. */
static const char *reached_by(ctx *c, const struct stat *ent, char *path_out, size_t cap)
{
    for (size_t l = 0; l < c->kt.n; l++) {
        kt_entry e;
        if (c->kt.l[l].nf && kt_parse(&c->kt.l[l], &e, NULL, 0) == 0 && reaches(e.path, ent)) {
            snprintf(path_out, cap, "%s", e.path);
            return c->kt.l[l].f[0];
        }
    }
    return NULL;
}

/* Remove a retired key. A KeyTable path that is a symbolic link (a
 * stable name pointing at the key of the day) is removed with the file it
 * points to, unless a KeyTable entry still reaches that file: removing
 * only the link left the private key on disk while retire said it was
 * gone (adv19 F13). A file, or a link, that a KeyTable line still reaches
 * is never removed. 0, or -1 said on stderr. */
static int remove_key(ctx *c, const char *path)
{
    struct stat ent, tgt;
    char target[PATH_MAX], other[SGU_KS_PATH_MAX + 1];
    const char *user;
    if (lstat(path, &ent) != 0) {
        if (errno == ENOENT) /* removed by a run killed before it recorded so */
            return 0;
        fprintf(stderr, "spoofguard keys: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if ((user = reached_by(c, &ent, other, sizeof(other))) != NULL) {
        fprintf(stderr, "spoofguard keys: %s: still in %s (%s, as %s): refused\n", path,
                c->key_table, user, other);
        return -1;
    }
    int link = S_ISLNK(ent.st_mode) && stat(path, &tgt) == 0 && realpath(path, target) != NULL;
    if (unlink(path) != 0 && errno != ENOENT) {
        fprintf(stderr, "spoofguard keys: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!link)
        return 0;
    if ((user = reached_by(c, &tgt, other, sizeof(other))) != NULL) {
        fprintf(stderr,
                "spoofguard keys: %s was a link to %s, which %s still uses: the link "
                "removed, the key kept\n",
                path, target, user);
        return 0;
    }
    if (unlink(target) != 0 && errno != ENOENT) {
        fprintf(stderr, "spoofguard keys: %s (the key %s linked to): %s\n", target, path,
                strerror(errno));
        return -1;
    }
    return 0;
}

static int retire_domain(ctx *c, const char *domain)
{
    int refused = 0, did = 0;
    char *zone = NULL, *nsu = NULL, err[512];
    size_t zl = 0, nl = 0;
    FILE *fz = open_memstream(&zone, &zl), *fn = open_memstream(&nsu, &nl);
    if (!fz || !fn)
        return SG_EXIT_INTERNAL;
    for (size_t i = 0; i < c->st.n; i++) {
        sgu_ks_key *k = &c->st.keys[i];
        if (strcasecmp(k->domain, domain) || k->phase != SGU_KS_RETIRING)
            continue;
        int64_t end = k->retiring_since + grace_of(c, k);
        if (c->now < end) {
            fprintf(stderr,
                    "spoofguard keys: %s selector %s: refused: in its grace period until %" PRId64
                    " (%" PRId64 " s left; last used %" PRId64 ", grace %" PRId64 " s)\n",
                    domain, k->selector, end, end - c->now, k->retiring_since, grace_of(c, k));
            refused = 1;
            continue;
        }
        /* a key the tables still reach, by any path, is no key to remove
         * (remove_key) */
        if (remove_key(c, k->path) != 0) {
            refused = 1;
            continue;
        }
        fprintf(fz, "%s._domainkey.%s. %lld IN TXT \"v=DKIM1; k=%s; p=\"\n", k->selector, domain,
                c->o.ttl, k->alg);
        fprintf(fn,
                "update delete %s._domainkey.%s. TXT\nupdate add %s._domainkey.%s. %lld TXT "
                "\"v=DKIM1; k=%s; p=\"\n",
                k->selector, domain, k->selector, domain, c->o.ttl, k->alg);
        crash_point("retire:unlink");
        k->phase = SGU_KS_RETIRED;
        k->retired = c->now;
        did = 1;
    }
    fprintf(fn, "send\n");
    fclose(fz);
    fclose(fn);
    int status = refused ? SG_EXIT_FAIL : SG_EXIT_OK;
    if (did) {
        if (save_state(c) != 0)
            status = SG_EXIT_INTERNAL;
        if (mkdir(c->publish_dir, 0755) == 0 || errno == EEXIST) {
            char path[8192];
            snprintf(path, sizeof(path), "%s/%s.revoke.zone", c->publish_dir, domain);
            if (sgu_write_atomic(path, zone, zl, 0644, err, sizeof(err)) == 0) {
                snprintf(path, sizeof(path), "%s/%s.revoke.nsupdate", c->publish_dir, domain);
                (void)sgu_write_atomic(path, nsu, nl, 0644, err, sizeof(err));
            }
        }
        fputs(zone, stdout);
    } else if (!refused) {
        fprintf(stderr, "spoofguard keys: %s: nothing to retire\n", domain);
    }
    free(zone);
    free(nsu);
    return status;
}

/* ------------------------------------------------------------------------ */
/* status                                                                    */

/* A Unix time as "2026-12-04 16:18Z" (UTC) for the text status. */
static const char *when(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%d %H:%MZ", &tm) == 0)
        snprintf(buf, cap, "%" PRId64, t);
    return buf;
}

static int status_all(ctx *c, const char **doms, size_t nd)
{
    ns_set ns;
    kd_answer *a = c->o.check ? malloc(sizeof(*a)) : NULL;
    char err[512];
    int failed_checks = 0, unreadable = 0;
    if (c->o.json)
        printf("[");
    for (size_t d = 0; d < nd; d++) {
        int have_ns = 0, unchecked = 0;
        if (adopt(c, doms[d], err, sizeof(err)) < 0) {
            /* a key that cannot be read is not "nothing to say" (adv21 F6) */
            fprintf(stderr, "spoofguard keys: %s\n", err);
            unreadable = 1;
        }
        if (c->o.check && a) {
            have_ns = servers_for(c, doms[d], &ns, err, sizeof(err)) == 0;
            if (!have_ns) {
                /* a check that could not be made is said, and fails the
                 * run: it looked like "not asked" (adv19 F9) */
                fprintf(stderr, "spoofguard keys: %s: not checked: %s\n", doms[d], err);
                unchecked = failed_checks = 1;
            }
        }
        if (c->o.json) {
            printf("%s{\"domain\":", d ? "," : "");
            sg_cli_json_str(stdout, doms[d]);
            printf(",\"keys\":[");
        } else {
            printf("%s\n", doms[d]);
        }
        int first = 1;
        for (size_t i = 0; i < c->st.n; i++) {
            sgu_ks_key *k = &c->st.keys[i];
            if (strcasecmp(k->domain, doms[d]))
                continue;
            int visible = -1;
            if (have_ns && k->phase != SGU_KS_RETIRED) {
                char want[KD_RDATA_MAX], why[200];
                uint32_t ttl;
                visible = local_p(k, want, sizeof(want), err, sizeof(err)) == 0;
                for (size_t s = 0; visible == 1 && s < ns.n; s++)
                    visible = visible_at(&ns.s[s], k, want, a, &ttl, why, sizeof(why));
            }
            int64_t age = c->now - k->created, retire_after = 0;
            if (k->phase == SGU_KS_RETIRING)
                retire_after = k->retiring_since + grace_of(c, k);
            if (c->o.json) {
                printf("%s{\"selector\":", first ? "" : ",");
                sg_cli_json_str(stdout, k->selector);
                printf(",\"alg\":\"%s\",\"state\":\"%s\",\"name\":", k->alg,
                       sgu_ks_phase_str(k->phase));
                if (k->name[0])
                    sg_cli_json_str(stdout, k->name);
                else
                    printf("null");
                printf(",\"path\":");
                sg_cli_json_str(stdout, k->path);
                printf(",\"created\":%" PRId64 ",\"age_seconds\":%" PRId64, k->created, age);
                printf(",\"activated\":%" PRId64 ",\"retiring_since\":%" PRId64
                       ",\"retire_after\":%" PRId64 ",\"retired\":%" PRId64 ",\"ttl\":%" PRIu32,
                       k->activated, k->retiring_since, retire_after, k->retired, k->ttl);
                if (visible >= 0)
                    printf(",\"visible\":%s", visible ? "true" : "false");
                else if (unchecked && k->phase != SGU_KS_RETIRED)
                    printf(",\"visible\":null");
                printf("}");
            } else {
                char t1[32], t2[32];
                printf("  %-16s %-8s %-9s created %s (%" PRId64 " d)%s", k->selector, k->alg,
                       sgu_ks_phase_str(k->phase), when(k->created, t1, sizeof(t1)), age / 86400,
                       visible >= 0 ? (visible ? ", visible at every server" : ", NOT visible")
                       : unchecked && k->phase != SGU_KS_RETIRED ? ", visibility NOT checked"
                                                                 : "");
                if (k->phase == SGU_KS_RETIRING)
                    printf(", last used %s, retire after %s%s",
                           when(k->retiring_since, t1, sizeof(t1)),
                           when(retire_after, t2, sizeof(t2)),
                           c->now >= retire_after ? " (due)" : "");
                if (k->phase == SGU_KS_RETIRED)
                    printf(", retired %s", when(k->retired, t1, sizeof(t1)));
                printf("\n");
            }
            first = 0;
        }
        if (c->o.json)
            printf("]}");
    }
    if (c->o.json)
        printf("]\n");
    free(a);
    return unreadable ? SG_EXIT_INPUT : failed_checks ? SG_EXIT_FAIL : SG_EXIT_OK;
}

/* ------------------------------------------------------------------------ */

int cmd_keys(int argc, char **argv)
{
    ctx c;
    char err[1024] = "";
    int first, rc;
    memset(&c, 0, sizeof(c));
    c.o.ttl = DEFAULT_TTL;
    /* the step may come before or after the options */
    rc = sg_cli_parse(&keys_cmd, argc, argv, NULL, keys_option, &c.o, &first);
    if (rc != SG_CLI_GO)
        return rc;
    if (first >= argc)
        return sg_cli_usage_error(&keys_cmd, "status, rotate, activate or retire?");
    if (first + 1 < argc)
        return sg_cli_usage_error(&keys_cmd, "unexpected argument '%s'", argv[first + 1]);
    const char *sub = argv[first];
    int is_status = !strcmp(sub, "status"), is_rotate = !strcmp(sub, "rotate"),
        is_activate = !strcmp(sub, "activate"), is_retire = !strcmp(sub, "retire");
    if (!is_status && !is_rotate && !is_activate && !is_retire)
        return sg_cli_usage_error(&keys_cmd, "unknown step '%s'", sub);
    if (is_activate && !c.o.reload_cmd && !c.o.pid_file && !c.o.no_reload)
        return sg_cli_usage_error(&keys_cmd, "activate needs --reload-command, --pid-file or "
                                             "--no-reload");
    if (c.o.grace_set && !c.o.force) {
        /* checked against the smallest possible floor here; per key below */
        if (c.o.grace < GRACE_QUEUE_SECONDS)
            return sg_cli_usage_error(&keys_cmd,
                                      "--grace below 5 days plus twice the TTL needs --force");
    }
    /* one table alone would send us to the default configuration for
     * the other, a file the user never named (adv26 CLI-10.6) */
    if ((c.o.key_table == NULL) != (c.o.signing_table == NULL) && c.o.config == NULL)
        return sg_cli_usage_error(&keys_cmd, "%s is needed with %s (or --config)",
                                  c.o.key_table ? "--signing-table" : "--key-table",
                                  c.o.key_table ? "--key-table" : "--signing-table");
    int status = SG_EXIT_OK;
    if ((rc = ctx_open(&c, err, sizeof(err))) != 0) {
        fprintf(stderr, "spoofguard keys: %s\n", err);
        status = rc == SG_LINES_ENOMEM ? SG_EXIT_INTERNAL : SG_EXIT_INPUT;
        goto out;
    }
    const char *doms[MAX_DOMAINS];
    size_t nd = domains(&c, MAX_DOMAINS);
    if (c.doms_more) {
        fprintf(stderr,
                "spoofguard keys: the KeyTable names more than %d domains: one at a time "
                "(--domain D)\n",
                MAX_DOMAINS);
        status = SG_EXIT_INPUT;
        goto out;
    }
    for (size_t d = 0; d < nd; d++)
        doms[d] = c.doms[d];
    if (is_status) {
        status = status_all(&c, doms, nd);
    } else {
        for (size_t d = 0; d < nd; d++) {
            int r = is_rotate     ? rotate_domain(&c, doms[d])
                    : is_activate ? activate_domain(&c, doms[d])
                                  : retire_domain(&c, doms[d]);
            if (r > status)
                status = r;
        }
    }
out:
    table_free(&c.kt);
    table_free(&c.st_table);
    sgu_keys_state_free(&c.st);
    return status;
}
