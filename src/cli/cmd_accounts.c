/*
 * spoofguard accounts - outbound accounts: the dispatcher and `replay`.
 *
 *   spoofguard accounts replay [--config FILE] [--internal-domain D]...
 *                              [--stats] EVENTS.jsonl|-
 *
 * Runs the outbound decision engine (the same code spoofguardd runs) over
 * a stream of events, on the events' own clock, with a fresh in-memory
 * store, and prints one JSON line per decision that is not "allow"
 * (issue 14, "Deliver 5"; docs/outbound.md, "Replay"). The other
 * subcommands (list, show, explain, block, release) work on the daemon's
 * store and live in cmd_accounts_admin.c.
 *
 * Exit status: 0 done, 2 usage or bad input (the message names the line),
 * 3 the file cannot be read, 4 internal error.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <spoofguard/outbound.h>

#include "cli.h"
#include "common/conf_line.h"
#include "common/ob_event.h"

int cmd_accounts(int argc, char **argv);
int sg_cli_accounts_admin(int argc, char **argv);

enum { O_CONFIG = 1, O_INTERNAL, O_STATS };

static const sg_cli_opt replay_opts[] = {
    {"config", "FILE", O_CONFIG,
     "read outbound_* directives from FILE (a spoofguardd.conf works; other lines are skipped)"},
    {"internal-domain", "D", O_INTERNAL, "one of the organisation's own domains; repeatable"},
    {"stats", NULL, O_STATS, "print decisions a second and the decision cost to stderr"},
    {NULL, NULL, 0, NULL},
};

static const sg_cli_cmd replay_cmd = {
    "accounts replay",
    "[--config FILE] [--internal-domain D]... EVENTS.jsonl|-",
    "Input: one JSON object a line, in time order. A message: t, login, client_ip,\n"
    "mail_from, rcpts, size, optional body_hash and id. A delivery-status report:\n"
    "t, dsn_for, status, optional rcpt and id.\n"
    "Output: one JSON line per decision that is not allow: t, login, action\n"
    "(throttle, hold, block), reasons, score, and id when the event had one.\n"
    "Exit status: 0 done, 2 usage or bad input (the line is named), 3 unreadable\n"
    "file, 4 internal error.\n",
    replay_opts,
};

typedef struct {
    const char *config;
    const char **internal;
    size_t ninternal;
    int stats;
    int oom;
} replay_ctx;

static int replay_option(int id, const char *val, void *payload)
{
    replay_ctx *c = payload;
    switch (id) {
    case O_CONFIG:
        c->config = val;
        break;
    case O_INTERNAL: {
        const char **n = realloc(c->internal, (c->ninternal + 1) * sizeof(*n));
        if (n == NULL) {
            c->oom = 1;
            return SG_EXIT_INTERNAL;
        }
        c->internal = n;
        c->internal[c->ninternal++] = val;
        break;
    }
    case O_STATS:
        c->stats = 1;
        break;
    }
    return SG_CLI_GO;
}

/* ---- the in-memory store: records by key, chained hash ---- */

typedef struct entry {
    struct entry *next;
    sg_ob_account *acct;
    char key[];
} entry;

typedef struct {
    entry **slots;
    size_t nslots, n;
} store;

/* Keys without case, as the daemon's store keys logins (sg_obop_recs_init). */
static uint64_t key_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)tolower((unsigned char)*s);
        h *= 0x100000001b3ull;
    }
    return h;
}

static int store_grow(store *st)
{
    size_t n = st->nslots ? st->nslots * 2 : 1024;
    entry **s = calloc(n, sizeof(*s));
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < st->nslots; i++)
        for (entry *e = st->slots[i], *next; e != NULL; e = next) {
            size_t j = key_hash(e->key) & (n - 1);
            next = e->next;
            e->next = s[j];
            s[j] = e;
        }
    free(st->slots);
    st->slots = s;
    st->nslots = n;
    return 0;
}

/* The record of key, created empty when new; NULL when out of memory. */
static sg_ob_account *store_get(store *st, const char *key)
{
    entry *e;
    size_t i, klen = strlen(key);
    if (st->n >= st->nslots && store_grow(st) != 0)
        return NULL;
    i = key_hash(key) & (st->nslots - 1);
    for (e = st->slots[i]; e != NULL; e = e->next)
        if (!strcasecmp(e->key, key))
            return e->acct;
    e = malloc(sizeof(*e) + klen + 1);
    if (e == NULL)
        return NULL;
    memcpy(e->key, key, klen + 1);
    if (sg_ob_account_new(&e->acct) != SG_OK) {
        free(e);
        return NULL;
    }
    e->next = st->slots[i];
    st->slots[i] = e;
    st->n++;
    return e->acct;
}

static void store_free(store *st)
{
    for (size_t i = 0; i < st->nslots; i++)
        for (entry *e = st->slots[i], *next; e != NULL; e = next) {
            next = e->next;
            sg_ob_account_free(e->acct);
            free(e);
        }
    free(st->slots);
}

/* ---- configuration ---- */

/* Every line through sg_ob_policy_directive; names it does not know are
 * the daemon's own options and are skipped. */
static int read_config(sg_ob_policy *p, const char *path)
{
    sg_lines r;
    char err[600];
    ssize_t n;
    int status = SG_EXIT_OK;
    /* a configuration read in part (a folder, a read error) would replay
     * with the built-in limits in place of the configured ones (adv26
     * CLI-2) */
    int rc = sg_lines_open(&r, path, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "spoofguard accounts replay: %s\n", err);
        return rc == SG_LINES_ENOMEM ? SG_EXIT_INTERNAL : SG_EXIT_INPUT;
    }
    while ((n = sg_lines_next(&r, err, sizeof(err))) >= 0) {
        char *name, *value;
        if (!sg_conf_line(r.line, &name, &value))
            continue;
        rc = sg_ob_policy_directive(p, name, value);
        if (rc == SG_ENOTFOUND)
            continue;
        if (rc != SG_OK) {
            char why[200];
            sg_ob_directive_why(why, sizeof(why), name, value, rc);
            fprintf(stderr, "spoofguard accounts replay: %s:%zu: %s %s: %s\n", path, r.lineno, name,
                    value, why);
            status = SG_EXIT_USAGE;
            break;
        }
    }
    if (n < 0 && n != SG_LINES_END) {
        fprintf(stderr, "spoofguard accounts replay: %s\n", err);
        status = n == SG_LINES_ENOMEM ? SG_EXIT_INTERNAL : SG_EXIT_INPUT;
    }
    sg_lines_close(&r);
    return status;
}

/* ---- output ---- */

static void print_decision(sg_cli_buf *b, int64_t t, const char *login, const sg_ob_decision *d,
                           const char *id)
{
    char num[64];
    int first = 1;
    b->len = 0;
    sg_cli_buf_puts(b, "{\"t\":");
    snprintf(num, sizeof(num), "%lld", (long long)t);
    sg_cli_buf_puts(b, num);
    sg_cli_buf_puts(b, ",\"login\":");
    sg_cli_buf_json_str(b, login);
    sg_cli_buf_puts(b, ",\"action\":\"");
    sg_cli_buf_puts(b, sg_ob_action_name(d->action));
    sg_cli_buf_puts(b, "\",\"reasons\":[");
    for (uint32_t i = 0; i < 32; i++) {
        const char *name = sg_ob_reason_name(1u << i);
        if (!(d->reasons & (1u << i)) || name == NULL)
            continue;
        if (!first)
            sg_cli_buf_putc(b, ',');
        sg_cli_buf_putc(b, '"');
        sg_cli_buf_puts(b, name);
        sg_cli_buf_putc(b, '"');
        first = 0;
    }
    snprintf(num, sizeof(num), "],\"score\":%.3f", d->score);
    sg_cli_buf_puts(b, num);
    if (id != NULL) {
        sg_cli_buf_puts(b, ",\"id\":");
        sg_cli_buf_json_str(b, id);
    }
    sg_cli_buf_puts(b, "}\n");
    if (!b->oom)
        fwrite(b->data, 1, b->len, stdout);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- replay ---- */

static int replay(int argc, char **argv)
{
    replay_ctx c = {0};
    sg_ob_policy *pol = NULL;
    store st = {0};
    sgu_ob_event ev = {0};
    sg_cli_buf out = {0};
    FILE *in = NULL;
    char *line = NULL, err[256], domkey[300];
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0;
    int64_t last_t = -1;
    int first, status;
    double *cost = NULL, t0 = now_ns();
    size_t ncost = 0, costcap = 0;
    unsigned long ndecisions = 0, nprinted = 0;

    status = sg_cli_parse(&replay_cmd, argc, argv, NULL, replay_option, &c, &first);
    if (status != SG_CLI_GO)
        goto done;
    if (first != argc - 1) {
        status = sg_cli_usage_error(&replay_cmd, "one EVENTS file (or -) expected");
        goto done;
    }
    if (sg_ob_policy_new(&pol) != SG_OK) {
        status = SG_EXIT_INTERNAL;
        goto done;
    }
    if (c.config != NULL && (status = read_config(pol, c.config)) != SG_EXIT_OK)
        goto done;
    for (size_t i = 0; i < c.ninternal; i++)
        if (sg_ob_policy_add_internal_domain(pol, c.internal[i]) != SG_OK) {
            status = sg_cli_usage_error(&replay_cmd, "--internal-domain %s: not a domain",
                                        c.internal[i]);
            goto done;
        }
    in = sg_cli_open_input(argv[first]);
    if (in == NULL) {
        fprintf(stderr, "spoofguard accounts replay: %s: cannot read\n", argv[first]);
        status = SG_EXIT_INPUT;
        goto done;
    }
    status = SG_EXIT_OK;
    while ((n = getline(&line, &cap, in)) >= 0) {
        sg_ob_account *acct, *dom = NULL;
        sg_ob_decision d;
        int rc;
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue; /* a blank line (a trailing one, say) is no event */
        rc = sgu_ob_event_parse(&ev, line, (size_t)n, err, sizeof(err));
        if (rc == -2) {
            status = SG_EXIT_INTERNAL;
            break;
        }
        if (rc != 0) {
            fprintf(stderr, "spoofguard accounts replay: line %lu: %s\n", lineno, err);
            status = SG_EXIT_USAGE;
            break;
        }
        if (ev.t < last_t) {
            fprintf(stderr,
                    "spoofguard accounts replay: line %lu: time goes backwards (%lld after %lld)\n",
                    lineno, (long long)ev.t, (long long)last_t);
            status = SG_EXIT_USAGE;
            break;
        }
        last_t = ev.t;
        acct = store_get(&st, ev.login);
        if (acct == NULL) {
            status = SG_EXIT_INTERNAL;
            break;
        }
        if (ev.is_dsn) {
            rc = sg_ob_note_dsn(pol, acct, ev.t, ev.status, &d);
        } else {
            const char *at = strrchr(ev.mail_from, '@');
            sg_ob_message m = {
                ev.t, ev.login, ev.client_ip, ev.mail_from, ev.rcpts, ev.nrcpts, ev.size, NULL, 0};
            double c0;
            if (at != NULL && at[1] != '\0' && strlen(at + 1) < sizeof(domkey) - 1) {
                size_t i;
                domkey[0] = '@';
                for (i = 0; at[1 + i] != '\0'; i++)
                    domkey[1 + i] =
                        (char)(at[1 + i] >= 'A' && at[1 + i] <= 'Z' ? at[1 + i] - 'A' + 'a'
                                                                    : at[1 + i]);
                domkey[1 + i] = '\0';
                /* the account's record is fetched first: growing the
                 * table moves entries, not records */
                dom = store_get(&st, domkey);
                if (dom == NULL) {
                    status = SG_EXIT_INTERNAL;
                    break;
                }
            }
            if (ev.body_hash != NULL && ev.body_hash[0] != '\0') {
                m.body_hash = (const uint8_t *)ev.body_hash;
                m.body_hash_len = strlen(ev.body_hash);
            }
            c0 = c.stats ? now_ns() : 0;
            rc = sg_ob_decide(pol, acct, dom, &m, &d);
            if (c.stats) {
                if (ncost == costcap) {
                    size_t nc = costcap ? 2 * costcap : 4096;
                    double *p = realloc(cost, nc * sizeof(*p));
                    if (p == NULL) {
                        status = SG_EXIT_INTERNAL;
                        break;
                    }
                    cost = p;
                    costcap = nc;
                }
                cost[ncost++] = now_ns() - c0;
            }
        }
        if (rc != SG_OK) {
            fprintf(stderr, "spoofguard accounts replay: line %lu: %s\n", lineno, sg_strerror(rc));
            status = SG_EXIT_INTERNAL;
            break;
        }
        ndecisions++;
        if (d.action != SG_OB_ALLOW) {
            print_decision(&out, ev.t, ev.login, &d, ev.id);
            nprinted++;
        }
    }
    if (status == SG_EXIT_OK && ferror(in)) {
        fprintf(stderr, "spoofguard accounts replay: %s: read error\n", argv[first]);
        status = SG_EXIT_INPUT;
    }
    if (fflush(stdout) != 0 && status == SG_EXIT_OK)
        status = SG_EXIT_INTERNAL;
    if (c.stats) {
        double secs = (now_ns() - t0) / 1e9, p50 = 0, p99 = 0, max = 0;
        if (ncost > 0) {
            qsort(cost, ncost, sizeof(*cost), cmp_double);
            p50 = cost[ncost / 2];
            p99 = cost[(size_t)(ncost * 0.99)];
            max = cost[ncost - 1];
        }
        fprintf(stderr,
                "replay: %lu events, %lu decisions printed, %zu accounts and domains, %.2f s, "
                "%.0f events/s; decide() cost p50 %.1f us, p99 %.1f us, max %.1f us\n",
                ndecisions, nprinted, st.n, secs, secs > 0 ? ndecisions / secs : 0, p50 / 1e3,
                p99 / 1e3, max / 1e3);
    }
done:
    if (in != NULL && in != stdin)
        fclose(in);
    free(line);
    free(cost);
    free(c.internal);
    sg_cli_buf_free(&out);
    sgu_ob_event_free(&ev);
    store_free(&st);
    sg_ob_policy_free(pol);
    return status;
}

int cmd_accounts(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: spoofguard accounts replay|list|show|explain|block|release ...\n"
                        "       spoofguard accounts SUBCOMMAND --help\n");
        return SG_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: spoofguard accounts replay|list|show|explain|block|release ...\n"
               "       spoofguard accounts SUBCOMMAND --help\n");
        return SG_EXIT_OK;
    }
    if (!strcmp(argv[1], "replay"))
        return replay(argc - 1, argv + 1);
    /* argv[0] is the subcommand's name, as for every command */
    return sg_cli_accounts_admin(argc - 1, argv + 1);
}
