/*
 * spoofguard verify: one verdict per message (SPF, DKIM, DMARC).
 *
 *   spoofguard verify [--ip ADDR --helo NAME --mail-from ADDR]
 *                     [--authserv-id ID] [--protect DOMAIN]... [--now UNIX]
 *                     [--zone FILE | --dns HOST[:PORT]] [--json] [MSG|DIR|-]...
 *
 * Prints the Authentication-Results field and a one-line verdict for each
 * message; --json prints one JSON object per message (one per line). A
 * directory is read as a Maildir (cur/ and new/) or as a plain folder of
 * message files. Exit status: 0 when every check ran, whatever the
 * verdicts; 2 for usage errors; 3 when a message could not be read.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <spoofguard/arena.h>
#include <spoofguard/verdict.h>

#include "cli.h"

#define MAX_PROTECT 64

typedef struct {
    sg_cli_dns dns;
    sg_verdict_envelope env;
    sg_verdict_opts opts;
    const char *protect[MAX_PROTECT];
    int json;
    int many; /* more than one message: name each */
    sg_dkim_keycache *keycache;
    int status;
} verify_ctx;

static void usage(FILE *f)
{
    fprintf(f, "usage: spoofguard verify [--ip ADDR --helo NAME --mail-from ADDR]\n"
               "         [--authserv-id ID] [--protect DOMAIN]... [--now UNIX]\n"
               "         [--zone FILE | --dns HOST[:PORT]] [--json] [MSG|DIR|-]...\n");
}

static void json_spf(FILE *o, const char *key, const sg_spf_result *r, int checked)
{
    fprintf(o, "\"%s\":{\"result\":", key);
    sg_cli_json_str(o, checked ? sg_spf_result_str(r->result) : "none");
    if (checked) {
        fputs(",\"identity\":", o);
        sg_cli_json_str(o, sg_spf_identity_str(r->identity));
        fputs(",\"domain\":", o);
        sg_cli_json_str(o, r->domain);
        fputs(",\"explanation\":", o);
        sg_cli_json_str(o, r->explanation);
        fputs(",\"reason\":", o);
        sg_cli_json_str(o, r->reason);
    } else {
        fputs(",\"reason\":\"no client IP given\"", o);
    }
    fputc('}', o);
}

static void print_json(FILE *o, const char *name, const sg_verdict_result *r)
{
    fputc('{', o);
    if (name) {
        fputs("\"file\":", o);
        sg_cli_json_str(o, name);
        fputc(',', o);
    }
    fputs("\"verdict\":", o);
    sg_cli_json_str(o, sg_verdict_kind_str(r->verdict));
    fputs(",\"reason\":", o);
    sg_cli_json_str(o, r->reason);
    fprintf(o, ",\"temporary\":%s,\"protected_domain\":%s,", r->temporary ? "true" : "false",
            r->protected_domain ? "true" : "false");
    json_spf(o, "spf", &r->spf, r->spf_checked);
    if (r->spf_helo_checked) {
        fputc(',', o);
        json_spf(o, "spf_helo", &r->spf_helo, 1);
    }
    fputs(",\"dkim\":[", o);
    for (size_t i = 0; i < r->ndkim; i++) {
        const sg_dkim_sig_result *d = &r->dkim[i];
        fputs(i ? ",{\"domain\":" : "{\"domain\":", o);
        sg_cli_json_str(o, d->domain);
        fputs(",\"selector\":", o);
        sg_cli_json_str(o, d->selector);
        fputs(",\"algorithm\":", o);
        sg_cli_json_str(o, d->algorithm);
        fputs(",\"result\":", o);
        sg_cli_json_str(o, sg_dkim_result_str(d->result));
        fputs(",\"reason\":", o);
        sg_cli_json_str(o, d->reason);
        fputc('}', o);
    }
    fputs("],\"dmarc\":{\"result\":", o);
    sg_cli_json_str(o, sg_dmarc_result_str(r->dmarc.result));
    fputs(",\"policy\":", o);
    sg_cli_json_str(o, r->dmarc.record ? sg_dmarc_policy_str(r->dmarc.policy) : NULL);
    fputs(",\"disposition\":", o);
    sg_cli_json_str(o, sg_dmarc_disposition_str(r->disposition));
    fputs(",\"header_from\":", o);
    sg_cli_json_str(o, r->author.domain ? r->author.domain : r->dmarc.author_domain);
    fputs(",\"org_domain\":", o);
    sg_cli_json_str(o, r->dmarc.org_domain);
    fputs(",\"policy_domain\":", o);
    sg_cli_json_str(o, r->dmarc.policy_domain);
    fputs(",\"reason\":", o);
    sg_cli_json_str(o, r->dmarc.reason);
    fputs("},\"arc\":", o);
    if (r->arc == NULL) {
        fputs("null", o);
    } else {
        fputs("{\"result\":", o);
        sg_cli_json_str(o, sg_arc_cv_str(r->arc->cv));
        fprintf(o, ",\"instances\":%u,\"oldest_pass\":%u,\"reason\":", r->arc->instance,
                r->arc->oldest_pass);
        sg_cli_json_str(o, r->arc->reason);
        fputc('}', o);
    }
    fputs(",\"authentication_results\":", o);
    sg_cli_json_str(o, r->authres_line);
    fputs("}\n", o);
}

static void print_text(FILE *o, const char *name, const sg_verdict_result *r)
{
    if (name)
        fprintf(o, "== %s\n", name);
    fprintf(o, "Authentication-Results: %s\n", r->authres ? r->authres : "");
    fprintf(o, "verdict: %s%s (%s)\n", sg_verdict_kind_str(r->verdict),
            r->temporary ? ", temporary" : "", r->reason);
}

/* Check one message read from f. Returns 0 or an exit status. */
static int verify_stream(verify_ctx *c, FILE *f, const char *name)
{
    sg_verdict *v;
    const sg_verdict_result *r;
    char buf[65536];
    size_t n;
    int rc = sg_verdict_new(&v, c->dns.resolver, &c->opts);
    if (rc != 0) {
        fprintf(stderr, "spoofguard: %s\n", sg_strerror(rc));
        return SG_EXIT_INTERNAL;
    }
    if ((rc = sg_verdict_envelope_set(v, &c->env)) != 0) {
        fprintf(stderr, "spoofguard: bad envelope: %s\n", sg_strerror(rc));
        sg_verdict_free(v);
        return SG_EXIT_USAGE;
    }
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        if ((rc = sg_verdict_feed(v, buf, n)) != 0)
            break;
    if (rc == 0 && ferror(f))
        rc = SG_EIO;
    if (rc == 0)
        rc = sg_verdict_finish_sync(v, &r);
    if (rc != 0) {
        fprintf(stderr, "spoofguard: %s: %s\n", name ? name : "stdin",
                rc == SG_ELIMIT    ? "header exceeds the size limits"
                : rc == SG_ESYNTAX ? "malformed message header"
                                   : sg_strerror(rc));
        sg_verdict_free(v);
        return SG_EXIT_INPUT;
    }
    if (c->json)
        print_json(stdout, c->many ? name : NULL, r);
    else
        print_text(stdout, c->many ? name : NULL, r);
    sg_verdict_free(v);
    return 0;
}

static void verify_path(verify_ctx *c, const char *path);

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A folder: a Maildir's cur/ and new/, else its regular files, sorted. */
static void verify_dir(verify_ctx *c, const char *dir)
{
    struct stat st;
    char path[4096], sub[sizeof(path) + 8];
    snprintf(path, sizeof(path), "%s", dir);
    for (size_t l = strlen(path); l > 1 && path[l - 1] == '/'; l--)
        path[l - 1] = '\0';
    snprintf(sub, sizeof(sub), "%s/cur", path);
    if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
        verify_dir(c, sub);
        snprintf(sub, sizeof(sub), "%s/new", path);
        if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            verify_dir(c, sub);
        return;
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "spoofguard: %s: cannot read folder\n", path);
        c->status = SG_EXIT_INPUT;
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof(*nn));
            if (nn == NULL)
                break;
            names = nn;
        }
        if ((names[n] = malloc(strlen(path) + strlen(e->d_name) + 2)) == NULL)
            break;
        sprintf(names[n++], "%s/%s", path, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = 0; i < n; i++) {
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
            verify_path(c, names[i]);
        free(names[i]);
    }
    free(names);
}

static void verify_path(verify_ctx *c, const char *path)
{
    struct stat st;
    if (path && strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        c->many = 1;
        verify_dir(c, path);
        return;
    }
    const char *name = path && strcmp(path, "-") ? path : "-"; /* NULL is stdin */
    FILE *f = sg_cli_open_input(path);
    if (f == NULL) {
        fprintf(stderr, "spoofguard: %s: cannot open\n", name);
        c->status = SG_EXIT_INPUT;
        return;
    }
    int rc = verify_stream(c, f, name);
    if (f != stdin)
        fclose(f);
    if (rc != 0 && c->status == 0)
        c->status = rc;
}

int cmd_verify(int argc, char **argv);
int cmd_verify(int argc, char **argv)
{
    verify_ctx c;
    const char *files[256];
    int nfiles = 0, nprotect = 0;
    memset(&c, 0, sizeof(c));
    sg_verdict_opts_init(&c.opts);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = sg_cli_dns_option(&c.dns, argc, argv, &i);
        if (r < 0)
            return SG_EXIT_USAGE;
        if (r > 0)
            continue;
        if (!strcmp(a, "--json")) {
            c.json = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return SG_EXIT_OK;
        } else if (!strcmp(a, "--ip") || !strcmp(a, "--helo") || !strcmp(a, "--mail-from") ||
                   !strcmp(a, "--authserv-id") || !strcmp(a, "--protect") || !strcmp(a, "--now")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "spoofguard: %s needs a value\n", a);
                return SG_EXIT_USAGE;
            }
            const char *val = argv[++i];
            if (!strcmp(a, "--ip"))
                c.env.client_ip = val;
            else if (!strcmp(a, "--helo"))
                c.env.helo = val;
            else if (!strcmp(a, "--mail-from"))
                c.env.mail_from = val;
            else if (!strcmp(a, "--authserv-id"))
                c.opts.authserv_id = val;
            else if (!strcmp(a, "--now"))
                c.opts.now = strtoll(val, NULL, 10);
            else if (nprotect == MAX_PROTECT) {
                fprintf(stderr, "spoofguard: too many --protect domains\n");
                return SG_EXIT_USAGE;
            } else
                c.protect[nprotect++] = val;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "spoofguard: unknown option %s\n", a);
            usage(stderr);
            return SG_EXIT_USAGE;
        } else if (nfiles == (int)(sizeof(files) / sizeof(files[0]))) {
            fprintf(stderr, "spoofguard: too many files (give a folder instead)\n");
            return SG_EXIT_USAGE;
        } else {
            files[nfiles++] = a;
        }
    }
    if (c.env.client_ip == NULL && (c.env.helo || c.env.mail_from))
        fprintf(stderr, "spoofguard: note: without --ip, SPF is not checked\n");
    int rc = sg_cli_dns_open(&c.dns);
    if (rc != 0)
        return rc;
    if (sg_dkim_keycache_new(&c.keycache, 0) != 0) {
        sg_cli_dns_close(&c.dns);
        return SG_EXIT_INTERNAL;
    }
    sg_dkim_verify_opts dk;
    sg_dkim_verify_opts_init(&dk);
    dk.now = c.opts.now;
    c.opts.dkim = &dk;
    c.opts.keycache = c.keycache;
    c.opts.protected_domains = c.protect;
    c.opts.nprotected = (size_t)nprotect;
    c.many = nfiles > 1;
    if (nfiles == 0)
        verify_path(&c, NULL);
    for (int i = 0; i < nfiles; i++)
        verify_path(&c, files[i]);
    sg_dkim_keycache_free(c.keycache);
    sg_cli_dns_close(&c.dns);
    return c.status;
}
