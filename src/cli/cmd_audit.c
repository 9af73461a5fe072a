/*
 * spoofguard audit - check what domains publish (SPF, DKIM, DMARC, MX,
 * MTA-STS, TLS-RPT) and print each problem with the record that fixes it.
 *
 *   spoofguard audit DOMAIN... [--selector S]... [--key-table FILE]
 *                    [--key-max-age DAYS] [--zone FILE | --dns HOST] [--json]
 *                    [--[no-]mta-sts-fetch] [--mta-sts-connect HOST:PORT] [--mta-sts-ca FILE]
 *
 * The checks are the library's (sg_audit_domain); this file reads the
 * local keys (--key-table: OpenDKIM-style `keyname domain:selector:path`)
 * and prints. Exit status: 0 no finding at error level, 1 at least one, 2
 * usage, 3 unreadable input (zone, key table, a name that is no domain),
 * 4 internal error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <spoofguard/audit.h>
#include <spoofguard/dkim.h>
#include <spoofguard/dmarc.h>

#include "cli.h"
#include "common/conf_line.h"
#include "common/keys_state.h"
#include "mtasts_fetch.h"

int cmd_audit(int argc, char **argv);

enum {
    O_SELECTOR = 1,
    O_KEY_TABLE,
    O_KEY_MAX_AGE,
    O_JSON,
    O_MTASTS_FETCH,
    O_NO_MTASTS_FETCH,
    O_MTASTS_CONNECT,
    O_MTASTS_CA
};

static const sg_cli_opt audit_opts[] = {
    {"selector", "S", O_SELECTOR, "a DKIM selector to check in every domain; repeatable"},
    {"key-table", "FILE", O_KEY_TABLE,
     "the daemon's KeyTable: its selectors and keys (compared with DNS)"},
    {"key-max-age", "DAYS", O_KEY_MAX_AGE, "warn about keys older than this (default 180)"},
    {"json", NULL, O_JSON, "one JSON object per domain"},
    {"mta-sts-fetch", NULL, O_MTASTS_FETCH,
     "fetch the MTA-STS policy over HTTPS (the default, except with --zone)"},
    {"no-mta-sts-fetch", NULL, O_NO_MTASTS_FETCH, "do not fetch the MTA-STS policy"},
    {"mta-sts-connect", "HOST:PORT", O_MTASTS_CONNECT,
     "fetch the policy from there, still as https://mta-sts.DOMAIN/ (tests, split setups)"},
    {"mta-sts-ca", "FILE", O_MTASTS_CA,
     "trust the CA certificates in FILE for the policy instead of the system's"},
    SG_CLI_DNS_OPTS,
    {NULL, NULL, 0, NULL},
};

static const sg_cli_cmd audit_cmd = {
    "audit",
    "DOMAIN... [OPTIONS]",
    "Checks SPF (the whole include tree against RFC 7208's limits), DKIM keys of the\n"
    "given selectors, DMARC (RFC 9989), MX, MTA-STS and TLS-RPT records; each finding\n"
    "has a severity, the RFC section and the record to publish (docs/audit.md).\n"
    "Exit status: 0 nothing at error level, 1 an error-level finding, 2 usage,\n"
    "3 unreadable zone, key table or domain name, 4 internal error.\n",
    audit_opts,
};

#define MAX_SELECTORS 64

typedef struct {
    const char *selectors[MAX_SELECTORS];
    size_t nselectors;
    const char *key_table;
    long long max_age;
    int json;
    int mtasts_fetch; /* -1: the default (on, off with --zone) */
    sg_cli_mtasts mtasts;
} audit_args;

static int audit_option(int id, const char *val, void *payload)
{
    audit_args *a = payload;
    switch (id) {
    case O_SELECTOR:
        if (a->nselectors == MAX_SELECTORS)
            return sg_cli_usage_error(&audit_cmd, "at most %d --selector", MAX_SELECTORS);
        /* the names keygen and keys take: "../x" would be audited as
         * "../x._domainkey.D", an error finding for a typo (adv26
         * CLI-10.5) */
        if (!sg_dkim_name_ok(val))
            return sg_cli_usage_error(&audit_cmd,
                                      "--selector '%s' is not a selector (RFC 6376 3.1)", val);
        a->selectors[a->nselectors++] = val;
        break;
    case O_KEY_TABLE:
        a->key_table = val;
        break;
    case O_KEY_MAX_AGE:
        if (sg_cli_parse_num(val, 1, 36500, &a->max_age) != 0)
            return sg_cli_usage_error(&audit_cmd, "--key-max-age needs 1..36500 days");
        break;
    case O_JSON:
        a->json = 1;
        break;
    case O_MTASTS_FETCH:
    case O_NO_MTASTS_FETCH:
        a->mtasts_fetch = id == O_MTASTS_FETCH;
        break;
    case O_MTASTS_CONNECT:
        if (val[0] == '\0' || strrchr(val, ':') == NULL)
            return sg_cli_usage_error(&audit_cmd, "--mta-sts-connect needs HOST:PORT");
        a->mtasts.connect = val;
        break;
    case O_MTASTS_CA:
        a->mtasts.ca_file = val;
        break;
    }
    return SG_CLI_GO;
}

/* One KeyTable row: `keyname domain:selector:/path/to/key`. */
typedef struct {
    char *domain, *selector, *path;
} kt_row;

static void kt_free(kt_row *rows, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        free(rows[i].domain);
        free(rows[i].selector);
        free(rows[i].path);
    }
    free(rows);
}

/* Returns 0 or an exit status (said on stderr): a table read in part is
 * an error, never the keys compared (adv26 CLI-2). */
static int kt_load(const char *path, kt_row **out, size_t *nout)
{
    sg_lines r;
    char err[600];
    ssize_t len;
    kt_row *rows = NULL;
    size_t n = 0;
    int status = 0;
    int rc = sg_lines_open(&r, path, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "spoofguard audit: %s\n", err);
        return rc == SG_LINES_ENOMEM ? SG_EXIT_INTERNAL : SG_EXIT_INPUT;
    }
    while ((len = sg_lines_next(&r, err, sizeof(err))) >= 0) {
        char *p = r.line, *val, *c1, *c2, *end;
        kt_row *nr;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        val = p + strcspn(p, " \t");
        while (*val == ' ' || *val == '\t')
            val++;
        end = val + strcspn(val, " \t\r\n");
        *end = '\0';
        c1 = strchr(val, ':');
        c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c1 == NULL || c2 == NULL || c1 == val || c2 == c1 + 1 || c2[1] == '\0') {
            fprintf(stderr, "spoofguard audit: %s:%zu: expected \"keyname domain:selector:path\"\n",
                    path, r.lineno);
            status = SG_EXIT_INPUT;
            break;
        }
        nr = realloc(rows, (n + 1) * sizeof(*rows));
        if (nr == NULL) {
            status = SG_EXIT_INTERNAL;
            break;
        }
        rows = nr;
        rows[n].domain = strndup(val, (size_t)(c1 - val));
        rows[n].selector = strndup(c1 + 1, (size_t)(c2 - c1 - 1));
        rows[n].path = strdup(c2 + 1);
        n++;
        if (!rows[n - 1].domain || !rows[n - 1].selector || !rows[n - 1].path) {
            status = SG_EXIT_INTERNAL;
            break;
        }
    }
    if (status == 0 && len != SG_LINES_END) {
        fprintf(stderr, "spoofguard audit: %s\n", err);
        status = len == SG_LINES_ENOMEM ? SG_EXIT_INTERNAL : SG_EXIT_INPUT;
    }
    if (status == SG_EXIT_INTERNAL && len >= 0)
        fprintf(stderr, "spoofguard audit: %s: out of memory\n", path);
    sg_lines_close(&r);
    if (status != 0) {
        kt_free(rows, n);
        return status;
    }
    *out = rows;
    *nout = n;
    return 0;
}

/* The public record of a local key, its age, or why it cannot be read;
 * strings in the arena. */
static void local_key(sg_arena *arena, const char *path, sg_audit_selector *s)
{
    sg_dkim_signkey *k = NULL;
    char err[256] = "";
    char *rec = NULL;
    struct stat st;

    s->key_path = path;
    if (stat(path, &st) == 0)
        s->key_mtime = (int64_t)st.st_mtime;
    /* for its public half only: mode and owner are the signer's to judge */
    if (sg_dkim_signkey_load(&k, path, SG_DKIM_KEY_ALLOW_READABLE | SG_DKIM_KEY_ALLOW_ANY_OWNER,
                             err, sizeof(err)) != 0) {
        s->local_error = sg_arena_strdup(arena, err[0] ? err : "cannot read the key");
        return;
    }
    if (sg_dkim_signkey_record(k, &rec) == 0) {
        s->local_record = sg_arena_strdup(arena, rec);
        free(rec);
    }
    sg_dkim_signkey_free(k);
}

static int flush_buf(sg_cli_buf *b)
{
    int oom = b->oom;
    if (!oom)
        fwrite(b->data, 1, b->len, stdout);
    sg_cli_buf_free(b);
    return oom ? -1 : 0;
}

/* The details and fixes quote published records, and an SPF include or a
 * rua= address points into DNS the domain's owner does not run: each line is
 * shown through sg_cli_buf_put_term, so no record drives the terminal. */
static void put_term_lines(sg_cli_buf *b, const char *s, const char *indent)
{
    const char *nl;
    while ((nl = strchr(s, '\n')) != NULL) {
        sg_cli_buf_put_termn(b, s, (size_t)(nl - s));
        sg_cli_buf_putc(b, '\n');
        sg_cli_buf_puts(b, indent);
        s = nl + 1;
    }
    sg_cli_buf_put_term(b, s);
}

/* 0, or -1 when the output could not be built (out of memory) */
static int print_text(const sg_audit_report *r)
{
    sg_cli_buf b = {0};
    size_t i, ninfo = r->nfindings - r->nerrors - r->nwarnings;
    char line[256];
    snprintf(line, sizeof(line),
             ": %zu error%s, %zu warning%s, %zu info; SPF tree: %u lookups, %u void\n", r->nerrors,
             r->nerrors == 1 ? "" : "s", r->nwarnings, r->nwarnings == 1 ? "" : "s", ninfo,
             r->spf_lookups, r->spf_void_lookups);
    sg_cli_buf_put_term(&b, r->domain);
    sg_cli_buf_puts(&b, line);
    for (i = 0; i < r->nfindings; i++) {
        const sg_audit_finding *f = &r->findings[i];
        snprintf(line, sizeof(line), "  %-7s ", sg_audit_severity_str(f->severity));
        sg_cli_buf_puts(&b, line);
        sg_cli_buf_puts(&b, f->code);
        sg_cli_buf_puts(&b, " (");
        sg_cli_buf_puts(&b, f->rfc);
        sg_cli_buf_puts(&b, ")\n          ");
        put_term_lines(&b, f->detail, "          ");
        sg_cli_buf_putc(&b, '\n');
        if (f->fix[0] == '\0')
            continue;
        sg_cli_buf_puts(&b, "          fix: ");
        put_term_lines(&b, f->fix, "               ");
        sg_cli_buf_putc(&b, '\n');
    }
    return flush_buf(&b);
}

static int print_json(const sg_audit_report *r)
{
    sg_cli_buf b = {0};
    size_t i;
    sg_cli_buf_puts(&b, "{\"domain\":");
    sg_cli_buf_json_str(&b, r->domain);
    sg_cli_buf_puts(&b, ",\"findings\":[");
    for (i = 0; i < r->nfindings; i++) {
        const sg_audit_finding *f = &r->findings[i];
        sg_cli_buf_puts(&b, i ? ",{\"code\":" : "{\"code\":");
        sg_cli_buf_json_str(&b, f->code);
        sg_cli_buf_puts(&b, ",\"severity\":");
        sg_cli_buf_json_str(&b, sg_audit_severity_str(f->severity));
        sg_cli_buf_puts(&b, ",\"rfc\":");
        sg_cli_buf_json_str(&b, f->rfc);
        sg_cli_buf_puts(&b, ",\"detail\":");
        sg_cli_buf_json_str(&b, f->detail);
        sg_cli_buf_puts(&b, ",\"fix\":");
        sg_cli_buf_json_str(&b, f->fix);
        sg_cli_buf_putc(&b, '}');
    }
    sg_cli_buf_puts(&b, "],\"spf\":{\"lookups\":");
    sg_cli_buf_uint(&b, r->spf_lookups);
    sg_cli_buf_puts(&b, ",\"void_lookups\":");
    sg_cli_buf_uint(&b, r->spf_void_lookups);
    sg_cli_buf_puts(&b, "},\"errors\":");
    sg_cli_buf_uint(&b, r->nerrors);
    sg_cli_buf_puts(&b, ",\"warnings\":");
    sg_cli_buf_uint(&b, r->nwarnings);
    sg_cli_buf_puts(&b, "}\n");
    return flush_buf(&b);
}

int cmd_audit(int argc, char **argv)
{
    sg_cli_dns d = {0};
    audit_args a;
    kt_row *kt = NULL;
    size_t nkt = 0;
    int first, rc, status = SG_EXIT_OK, i;
    sg_arena *arena = NULL;

    memset(&a, 0, sizeof(a));
    a.max_age = SG_AUDIT_DEFAULT_KEY_MAX_AGE_DAYS;
    a.mtasts_fetch = -1;
    rc = sg_cli_parse(&audit_cmd, argc, argv, &d, audit_option, &a, &first);
    if (rc != SG_CLI_GO)
        return rc;
    /* an offline audit stays offline unless asked; where to connect asks */
    if (a.mtasts_fetch < 0)
        a.mtasts_fetch = d.nzones == 0 || a.mtasts.connect != NULL;
    if (first >= argc) {
        sg_cli_dns_close(&d);
        return sg_cli_usage_error(&audit_cmd, "name at least one DOMAIN");
    }
    if (a.key_table != NULL && (rc = kt_load(a.key_table, &kt, &nkt)) != 0) {
        sg_cli_dns_close(&d);
        return rc;
    }
    /* A rotated key's age is its rotation's (KEYTABLE.rotation, written by
     * `spoofguard keys`), whatever touched the file since (a restore from
     * backup, configuration management): as spoofguardd's key-age gauge
     * counts it. Advisory: without the state, the file's mtime. */
    sgu_keys_state ks = {0};
    if (a.key_table != NULL) {
        char path[4096], err[256];
        if ((size_t)snprintf(path, sizeof(path), "%s.rotation", a.key_table) < sizeof(path) &&
            sgu_keys_state_load(&ks, path, err, sizeof(err)) != 0) {
            fprintf(stderr, "spoofguard audit: %s: %s (key ages from the files' mtimes)\n", path,
                    err);
            sgu_keys_state_free(&ks);
            memset(&ks, 0, sizeof(ks));
        }
    }
    if ((rc = sg_cli_dns_open(&d)) != 0) {
        sg_cli_dns_close(&d);
        kt_free(kt, nkt);
        sgu_keys_state_free(&ks);
        return rc;
    }
    for (i = first; i < argc; i++) {
        sg_audit_selector sels[MAX_SELECTORS * 2];
        size_t nsels = 0, k, j;
        sg_audit_opts o;
        sg_audit_report rep;
        const char *dom = argv[i];
        size_t dlen;

        if (sg_arena_new(&arena, 0) != 0) {
            status = SG_EXIT_INTERNAL;
            break;
        }
        /* a U-label audits its A-label, the name in DNS (IN-6) */
        if ((rc = sg_dmarc_domain_alabel(arena, &dom)) != 0 && rc != SG_ESYNTAX) {
            status = SG_EXIT_INTERNAL;
            break;
        }
        dlen = strlen(dom);
        if (dlen > 0 && dom[dlen - 1] == '.')
            dlen--;
        memset(sels, 0, sizeof(sels));
        for (k = 0; k < nkt && nsels < MAX_SELECTORS; k++) {
            if (strlen(kt[k].domain) != dlen || strncasecmp(kt[k].domain, dom, dlen) != 0)
                continue;
            sels[nsels].selector = kt[k].selector;
            local_key(arena, kt[k].path, &sels[nsels]);
            const sgu_ks_key *rk = sgu_keys_state_find(&ks, kt[k].domain, kt[k].selector);
            if (rk != NULL && rk->created > 0)
                sels[nsels].key_mtime = rk->created;
            nsels++;
        }
        for (k = 0; k < a.nselectors; k++) {
            for (j = 0; j < nsels; j++)
                if (strcasecmp(sels[j].selector, a.selectors[k]) == 0)
                    break;
            if (j == nsels)
                sels[nsels++].selector = a.selectors[k];
        }
        sg_audit_opts_init(&o);
        o.selectors = sels;
        o.nselectors = nsels;
        o.key_max_age_days = (unsigned)a.max_age;
        o.now = (int64_t)time(NULL);
        /* the SPF walk's deadline follows the per-try DNS timeout: 15
         * tries' worth, 30 s at the default 2 s */
        o.spf_time_limit_ms = 15 * (d.timeout_ms ? d.timeout_ms : SG_DNS_DEFAULT_TIMEOUT_MS);
        if (a.mtasts_fetch) {
            a.mtasts.resolver = d.resolver;
            o.mtasts_fetch = sg_cli_mtasts_fetch;
            o.mtasts_ctx = &a.mtasts;
        }
        rc = sg_audit_domain(&rep, arena, d.resolver, &o, dom);
        if (rc == SG_EINVAL) {
            fprintf(stderr, "spoofguard audit: '%s' is not a domain name\n", dom);
            status = SG_EXIT_INPUT;
        } else if (rc != SG_OK) {
            fprintf(stderr, "spoofguard audit: %s: %s\n", dom, sg_strerror(rc));
            status = SG_EXIT_INTERNAL;
        } else {
            if ((a.json ? print_json(&rep) : print_text(&rep)) != 0) {
                fprintf(stderr, "spoofguard audit: %s: out of memory\n", dom);
                status = SG_EXIT_INTERNAL;
            } else if (rep.nerrors > 0 && status == SG_EXIT_OK)
                status = SG_EXIT_FAIL;
        }
        fflush(stdout);
        sg_arena_free(arena);
        arena = NULL;
    }
    kt_free(kt, nkt);
    sgu_keys_state_free(&ks);
    sg_cli_dns_close(&d);
    return status;
}
