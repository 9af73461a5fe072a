/*
 * spoofguard accounts list | show | explain | block | release: the outbound
 * engine's accounts (issue 14, "Administration"), on the store spoofguardd
 * uses, while it runs.
 *
 *   spoofguard accounts list [--json] [STORE OPTIONS]
 *   spoofguard accounts show LOGIN [--json] [STORE OPTIONS]
 *   spoofguard accounts explain LOGIN [STORE OPTIONS]
 *   spoofguard accounts block LOGIN [STORE OPTIONS]
 *   spoofguard accounts release LOGIN [STORE OPTIONS]
 * STORE OPTIONS: --store DIR|redis://HOST:PORT[/DB], or --config FILE
 * (default /etc/spoofguard/spoofguardd.conf: its outbound_store, and its
 * outbound_limit/outbound_account/outbound_internal_domain lines for the
 * policy that show and explain report against).
 *
 * A block or a release is one atomic update of the account's record (an
 * LMDB write transaction, or the Redis script), the same update every
 * decision of the daemon goes through: the next message of the account,
 * on every host sharing the store, sees it. LOGIN is the SASL login as
 * the MTA gives it, or ip:ADDR for a client in internal_networks.
 *
 * Exit status: 0 done; 1 show/explain/release: no such account; 2 usage;
 * 3 the configuration could not be read, or no store at --store; 4 the store
 * failed (cli.h).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <spoofguard/outbound.h>

#include "cli.h"
#include "common/conf_line.h"
#include "obops.h"
#include "obstore.h"

#define DEFAULT_CONFIG "/etc/spoofguard/spoofguardd.conf"
#define DEFAULT_STORE "/var/lib/spoofguard/outbound"

enum { O_STORE = 1, O_CONFIG, O_JSON };

static const sg_cli_opt accounts_opts[] = {
    {"store", "DIR|redis://HOST:PORT[/DB]", O_STORE,
     "the outbound store (default: outbound_store of the configuration)"},
    {"config", "FILE", O_CONFIG, "spoofguardd's configuration (default " DEFAULT_CONFIG ")"},
    {"json", NULL, O_JSON, "list, show: JSON (one object per line)"},
    {NULL, NULL, 0, NULL},
};

static const sg_cli_cmd accounts_cmd = {
    "accounts",
    "list|show LOGIN|explain LOGIN|block LOGIN|release LOGIN [OPTIONS] (replay: accounts replay "
    "--help)",
    "The outbound engine's accounts on spoofguardd's store, while it runs. A release takes "
    "effect on the account's next message. LOGIN: the SASL login, or ip:ADDR.",
    accounts_opts,
};

typedef struct {
    const char *store;
    const char *config;
    int config_given;
    int json;
    char *store_buf;
    uint64_t map_size;
    sg_ob_policy *pol;
} acct_ctx;

static int accounts_option(int id, const char *val, void *payload)
{
    acct_ctx *c = payload;
    switch (id) {
    case O_STORE:
        c->store = val;
        break;
    case O_CONFIG:
        c->config = val;
        c->config_given = 1;
        break;
    case O_JSON:
        c->json = 1;
        break;
    }
    return SG_CLI_GO;
}

/* From spoofguardd's configuration: the store and the engine's policy
 * lines; every other option is the daemon's business. */
static int read_config(acct_ctx *c)
{
    sg_lines r;
    char err[600];
    ssize_t len;
    int rc = sg_lines_open(&r, c->config, err, sizeof(err));
    if (rc != 0) {
        if (rc == SG_LINES_EINPUT && !c->config_given && errno == ENOENT)
            return 0; /* no configuration: the defaults */
        fprintf(stderr, "spoofguard accounts: %s\n", err);
        return rc == SG_LINES_ENOMEM ? SG_EXIT_INTERNAL : SG_EXIT_INPUT;
    }
    while ((len = sg_lines_next(&r, err, sizeof(err))) >= 0) {
        char *name, *p;
        if (!sg_conf_line(r.line, &name, &p))
            continue;
        if (!strcasecmp(name, "outbound_store") && c->store == NULL) {
            const char *slash = strrchr(c->config, '/');
            free(c->store_buf);
            if (p[0] != '/' && strncmp(p, "redis://", 8) != 0 && slash) {
                /* relative: beside the configuration, as the daemon reads it */
                size_t dl = (size_t)(slash - c->config) + 1;
                c->store_buf = malloc(dl + strlen(p) + 1);
                if (c->store_buf) {
                    memcpy(c->store_buf, c->config, dl);
                    strcpy(c->store_buf + dl, p);
                }
            } else {
                c->store_buf = strdup(p);
            }
            if (c->store_buf == NULL) {
                len = SG_LINES_ENOMEM;
                snprintf(err, sizeof(err), "%s: out of memory", c->config);
                break;
            }
        } else if (!strcasecmp(name, "outbound_store_map_size")) {
            char *e;
            unsigned long long v = strtoull(p, &e, 10);
            uint64_t mul = *e == 'K' || *e == 'k'   ? 1024
                           : *e == 'M' || *e == 'm' ? 1024 * 1024
                           : *e == 'G' || *e == 'g' ? 1024ull * 1024 * 1024
                                                    : 1;
            c->map_size = v * mul;
        } else {
            int drc = sg_ob_policy_directive(c->pol, name, p);
            if (drc != 0 && drc != SG_ENOTFOUND) {
                char why[200];
                sg_ob_directive_why(why, sizeof(why), name, p, drc);
                fprintf(stderr, "spoofguard accounts: %s:%zu: %s '%s': %s\n", c->config, r.lineno,
                        name, p, why);
                sg_lines_close(&r);
                return SG_EXIT_INPUT;
            }
        }
    }
    sg_lines_close(&r);
    if (len != SG_LINES_END) {
        fprintf(stderr, "spoofguard accounts: %s\n", err);
        return len == SG_LINES_ENOMEM ? SG_EXIT_INTERNAL : SG_EXIT_INPUT;
    }
    return 0;
}

static void print_reasons(FILE *f, uint32_t reasons, int json)
{
    int first = 1;
    if (json)
        fputc('[', f);
    for (unsigned i = 0; i < 32; i++) {
        const char *n = (reasons & (1u << i)) ? sg_ob_reason_name(1u << i) : NULL;
        if (n == NULL)
            continue;
        if (json) {
            fprintf(f, "%s", first ? "" : ",");
            sg_cli_json_str(f, n);
        } else {
            fprintf(f, "%s%s", first ? "" : ",", n);
        }
        first = 0;
    }
    if (json)
        fputc(']', f);
    else if (first)
        fputc('-', f);
}

static void print_time(FILE *f, int64_t t)
{
    char buf[64];
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
        fputs(buf, f);
    else
        fprintf(f, "%lld", (long long)t);
}

/* ---- list ---------------------------------------------------------------- */

typedef struct {
    acct_ctx *c;
    size_t n, bad;
} list_ctx;

static int list_one(void *payload, const char *key, const uint8_t *v, size_t vlen)
{
    list_ctx *l = payload;
    sg_ob_account *a;
    int64_t since = 0;
    uint32_t reasons = 0;
    if (sg_ob_account_new(&a) != 0)
        return -1;
    int ok = sg_ob_account_decode(a, v, vlen) == 0;
    int blocked = ok && sg_ob_account_blocked(a, &since, &reasons);
    sg_ob_account_free(a);
    l->n++;
    if (!ok)
        l->bad++;
    if (l->c->json) {
        fputs("{\"account\":", stdout);
        sg_cli_json_str(stdout, key);
        printf(",\"kind\":\"%s\",\"blocked\":%s", key[0] == '@' ? "domain" : "account",
               blocked ? "true" : "false");
        if (blocked) {
            printf(",\"since\":%lld,\"reasons\":", (long long)since);
            print_reasons(stdout, reasons, 1);
        }
        if (!ok)
            fputs(",\"unreadable\":true", stdout);
        fputs("}\n", stdout);
    } else {
        /* a login is what the MTA's SASL layer handed the daemon */
        char shown[512];
        printf("%-40s %-8s ", sg_cli_term(shown, sizeof(shown), key),
               !ok       ? "unread"
               : blocked ? "BLOCKED"
                         : "ok");
        if (blocked) {
            print_time(stdout, since);
            fputc(' ', stdout);
            print_reasons(stdout, reasons, 0);
        }
        fputc('\n', stdout);
    }
    return 0;
}

/* ---- show, explain --------------------------------------------------------- */

/* The record of one account, read through the same atomic update the
 * daemon uses, which then writes nothing. */
typedef struct {
    uint8_t *buf;
    size_t len;
    int found;
} peek_ctx;

static int peek_fn(void *ctx, sg_obs_rec *r, size_t n)
{
    peek_ctx *p = ctx;
    (void)n;
    if (r[0].cur == NULL)
        return 1; /* nothing to write: no such account */
    size_t l = r[0].curlen > SG_OB_ACCOUNT_MAX ? SG_OB_ACCOUNT_MAX : r[0].curlen;
    memcpy(p->buf, r[0].cur, l);
    p->len = l;
    p->found = 1;
    return 1; /* nothing to write */
}

static int load_account(sg_obs *s, const char *login, sg_ob_account **out, int *found)
{
    char err[256];
    uint8_t *buf = malloc(SG_OB_ACCOUNT_MAX);
    *found = 0;
    *out = NULL;
    if (buf == NULL)
        return -1;
    peek_ctx p = {buf, 0, 0};
    uint8_t next[1];
    sg_obs_rec r = {.key = login, .next = next, .nextcap = sizeof(next)};
    int rc = sg_obs_update(s, &r, 1, peek_fn, &p, err, sizeof(err));
    rc = rc < 0 ? -1 : 0;
    *found = p.found;
    if (rc == 0 && p.found && (rc = sg_ob_account_new(out)) == 0 &&
        sg_ob_account_decode(*out, buf, p.len) != 0)
        *found = -1;
    if (rc != 0)
        fprintf(stderr, "spoofguard accounts: %s\n", err);
    free(buf);
    return rc;
}

static int show(acct_ctx *c, sg_obs *s, const char *login, int explain)
{
    sg_ob_account *a;
    int found;
    if (load_account(s, login, &a, &found) != 0)
        return SG_EXIT_INTERNAL;
    if (found == 0) {
        fprintf(stderr, "spoofguard accounts: no account '%s' in the store\n", login);
        return SG_EXIT_FAIL;
    }
    if (found < 0) {
        fprintf(stderr,
                "spoofguard accounts: the record of '%s' does not decode (another version, or "
                "damaged); its next message starts it afresh\n",
                login);
        sg_ob_account_free(a);
        return SG_EXIT_FAIL;
    }
    int64_t now = sg_obs_now(s), since = 0;
    uint32_t reasons = 0;
    char *json = NULL;
    int blocked = sg_ob_account_blocked(a, &since, &reasons);
    if (sg_ob_account_json(c->pol, a, now, &json) != 0) {
        sg_ob_account_free(a);
        return SG_EXIT_INTERNAL;
    }
    if (c->json && !explain) {
        printf("%s\n", json);
    } else if (!explain) {
        printf("account: %s\nstate:   %s", login, blocked ? "BLOCKED since " : "ok");
        if (blocked) {
            print_time(stdout, since);
            fputs(" (", stdout);
            print_reasons(stdout, reasons, 0);
            fputc(')', stdout);
        }
        printf("\nrecord:  %s\n", json);
    } else {
        printf("%s: ", login);
        if (blocked) {
            printf("BLOCKED since ");
            print_time(stdout, since);
            printf(". Every message it sends is accepted into the MTA's hold queue and waits "
                   "there; nothing is delivered until you release the account.\nWhy: ");
            print_reasons(stdout, reasons, 0);
            printf("\n(reason codes: docs/outbound.md). If the sending was genuine, or the "
                   "password has been changed:\n  spoofguard accounts release %s\n"
                   "then release the held messages you want delivered (postqueue -j shows "
                   "them; postsuper -H QUEUEID releases one, postsuper -d deletes one).\n",
                   login);
        } else {
            printf("not blocked: its messages are judged one by one (allow, throttle with a "
                   "4xx, or hold) against its limits and its own history.\n");
        }
        printf("State: %s\n", json);
    }
    free(json);
    sg_ob_account_free(a);
    return SG_EXIT_OK;
}

/* ---- block, release ---------------------------------------------------------- */

static int change(acct_ctx *c, sg_obs *s, const char *login, int block)
{
    char err[256];
    sg_obop op = {
        .kind = block ? SG_OBOP_BLOCK : SG_OBOP_RELEASE,
        .pol = c->pol,
        .t = sg_obs_now(s),
        .reasons = SG_OBR_BLOCKED,
    };
    if (!block) {
        sg_ob_account *a;
        int found;
        if (load_account(s, login, &a, &found) != 0)
            return SG_EXIT_INTERNAL;
        sg_ob_account_free(a);
        if (found == 0) {
            fprintf(stderr, "spoofguard accounts: no account '%s' in the store\n", login);
            return SG_EXIT_FAIL;
        }
    }
    if (sg_obop_run(s, &op, login, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "spoofguard accounts: %s\n", err);
        return SG_EXIT_INTERNAL;
    }
    printf("%s %s\n", block ? "blocked" : "released", login);
    return SG_EXIT_OK;
}

/* argv[0] is the subcommand (list, show, ...): cmd_accounts.c dispatches. */
int sg_cli_accounts_admin(int argc, char **argv);
int sg_cli_accounts_admin(int argc, char **argv)
{
    acct_ctx c = {.config = DEFAULT_CONFIG};
    int first, rc;
    sg_obs *s = NULL;
    char err[256];
    const char *what = argv[0];
    if (strcmp(what, "list") && strcmp(what, "show") && strcmp(what, "explain") &&
        strcmp(what, "block") && strcmp(what, "release")) {
        fprintf(stderr, "spoofguard accounts: unknown subcommand '%s'\n", what);
        sg_cli_usage(&accounts_cmd, stderr);
        return SG_EXIT_USAGE;
    }
    rc = sg_cli_parse(&accounts_cmd, argc, argv, NULL, accounts_option, &c, &first);
    if (rc != SG_CLI_GO)
        return rc;
    int need_login = strcmp(what, "list") != 0;
    if (argc - first != (need_login ? 1 : 0))
        return sg_cli_usage_error(&accounts_cmd,
                                  need_login ? "%s needs one LOGIN" : "%s takes no operand", what);
    const char *login = need_login ? argv[first] : NULL;
    if (login && (login[0] == '\0' || strlen(login) > SG_OBS_KEY_MAX))
        return sg_cli_usage_error(&accounts_cmd, "LOGIN must be 1..%d bytes", SG_OBS_KEY_MAX);
    /* the record's name as the daemon keys it (case folded): `show` and
     * `release` with the spelling Postfix logs said "no account" while
     * that login's mail sat held (adv43 F3) */
    char key[SG_OBS_KEY_MAX + 1];
    if (login && sg_obop_fold_login(key, login) == 0)
        login = key;
    if (sg_ob_policy_new(&c.pol) != 0)
        return SG_EXIT_INTERNAL;
    if ((rc = read_config(&c)) != 0)
        goto out;
    const char *spec = c.store ? c.store : c.store_buf ? c.store_buf : DEFAULT_STORE;
    sg_obs_opts so;
    sg_obs_opts_init(&so);
    so.sync = 1; /* one change: on disk before we say so */
    so.timeout_ms = 2000;
    if (c.map_size)
        so.map_size = c.map_size;
    if (strncmp(spec, "redis://", 8) != 0) {
        /* LMDB makes what it does not find: a mistyped --store became a new
         * empty store, root's, where "blocked alice" changed nothing the
         * daemon reads (adv26 CLI-7) */
        char db[PATH_MAX];
        if ((size_t)snprintf(db, sizeof(db), "%s/data.mdb", spec) >= sizeof(db) ||
            access(db, F_OK) != 0) {
            fprintf(stderr,
                    "spoofguard accounts: %s: no store there (%s); spoofguardd makes it "
                    "(outbound_store)\n",
                    spec, strerror(errno));
            rc = SG_EXIT_INPUT; /* the user's input, as report's --store (rev20 R-8) */
            goto out;
        }
    }
    if (sg_obs_open(&s, spec, &so, err, sizeof(err)) != 0) {
        fprintf(stderr, "spoofguard accounts: %s\n", err);
        rc = SG_EXIT_INTERNAL;
        goto out;
    }
    if (!strcmp(what, "list")) {
        list_ctx l = {&c, 0, 0};
        if (sg_obs_each(s, list_one, &l, err, sizeof(err)) < 0) {
            fprintf(stderr, "spoofguard accounts: %s\n", err);
            rc = SG_EXIT_INTERNAL;
        }
    } else if (!strcmp(what, "show") || !strcmp(what, "explain")) {
        rc = show(&c, s, login, what[0] == 'e');
    } else {
        rc = change(&c, s, login, what[0] == 'b');
    }
out:
    sg_obs_close(s);
    sg_ob_policy_free(c.pol);
    free(c.store_buf);
    return rc;
}
