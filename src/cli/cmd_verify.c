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

typedef struct {
    sg_cli_dns dns;
    sg_verdict_envelope env;
    sg_verdict_opts opts;
    const char **protect; /* grows with each --protect */
    size_t nprotect;
    sg_arena *names; /* the --protect domains in A-label form */
    int json;
    int many; /* more than one message: name each */
    sg_dkim_keycache *keycache;
    int status;
} verify_ctx;

enum { O_IP = 1, O_HELO, O_MAIL_FROM, O_AUTHSERV_ID, O_PROTECT, O_NOW, O_JSON };

static const sg_cli_opt verify_opts[] = {
    {"ip", "ADDR", O_IP, "client IP address; without it, no SPF check"},
    {"helo", "NAME", O_HELO, "the name the client gave in HELO/EHLO"},
    {"mail-from", "ADDR", O_MAIL_FROM, "the MAIL FROM address (\"\" or \"<>\": null sender)"},
    {"authserv-id", "ID", O_AUTHSERV_ID, "our authserv-id in Authentication-Results (localhost)"},
    {"protect", "DOMAIN", O_PROTECT, "our domain: must pass DMARC alignment (repeatable)"},
    {"now", "UNIX", O_NOW, "check signatures as of this time (Unix seconds)"},
    {"json", NULL, O_JSON, "one JSON object per message, one per line"},
    SG_CLI_DNS_OPTS,
    {NULL, NULL, 0, NULL},
};

static const sg_cli_cmd verify_cmd = {
    "verify",
    "[OPTIONS] [MSG|DIR|-]...",
    "One verdict per message (authentic, unverified, forged) with SPF, DKIM and DMARC, and\n"
    "its Authentication-Results field. Any number of files and folders; a folder is read as\n"
    "a Maildir (cur/ and new/) or as a folder of message files; none or \"-\": stdin.\n"
    "Exit status: 0 every check ran (whatever the verdicts), 2 usage, 3 a message could\n"
    "not be read or is malformed, 4 internal error.\n",
    verify_opts,
};

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
        fputs(d->skipped ? ",\"skipped\":true}" : ",\"skipped\":false}", o);
    }
    fputs("],\"dmarc\":{\"result\":", o);
    sg_cli_json_str(o, sg_dmarc_result_str(r->dmarc.result));
    fputs(",\"policy\":", o);
    sg_cli_json_str(o, r->dmarc.record ? sg_dmarc_policy_str(r->dmarc.policy) : NULL);
    fputs(",\"disposition\":", o);
    sg_cli_json_str(o, sg_dmarc_disposition_str(r->disposition));
    fputs(",\"header_from\":", o);
    sg_cli_json_str(o, r->author.domain ? r->author.domain : r->dmarc.author_domain);
    /* the From did not parse: header_from is the domain a reader shows */
    fprintf(o, ",\"header_from_lenient\":%s", r->author.lenient ? "true" : "false");
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
    fprintf(o, ",\"dkim_skipped\":%zu,\"unsigned_fields\":[", r->ndkim_skipped);
    for (size_t i = 0; i < r->nunsigned_fields; i++) {
        if (i)
            fputc(',', o);
        sg_cli_json_str(o, r->unsigned_fields[i]);
    }
    fputc(']', o);
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

/* A --protect domain in the form the verdict compares the From domain in:
 * A-labels, lower case (IDNA2008 + UTS #46, as the daemon's
 * protected_domains). A name that is not one is refused loudly: silently
 * protecting nothing is the failure this prevents. */
static const char *protect_domain(verify_ctx *c, const char *val)
{
    char *norm;
    int rc;
    if (c->names == NULL && sg_arena_new(&c->names, 1024) != 0) {
        fprintf(stderr, "spoofguard: out of memory\n");
        return NULL;
    }
    rc = sg_dmarc_domain_normalise(c->names, val, strlen(val), &norm);
    if (rc != 0) {
        fprintf(stderr, "spoofguard: --protect %s: %s\n", val,
                rc == SG_ESYNTAX ? "not a domain name (IDNA2008/UTS #46)" : sg_strerror(rc));
        return NULL;
    }
    return norm;
}

static int verify_option(int id, const char *val, void *payload)
{
    verify_ctx *c = payload;
    long long now;
    switch (id) {
    case O_IP:
        c->env.client_ip = val;
        break;
    case O_HELO:
        c->env.helo = val;
        break;
    case O_MAIL_FROM:
        c->env.mail_from = val;
        break;
    case O_AUTHSERV_ID:
        c->opts.authserv_id = val;
        break;
    case O_NOW:
        if (sg_cli_parse_num(val, 1, 253402300799LL, &now) != 0)
            return sg_cli_usage_error(&verify_cmd, "--now takes Unix seconds");
        c->opts.now = now;
        break;
    case O_JSON:
        c->json = 1;
        break;
    case O_PROTECT: {
        const char **p = realloc(c->protect, (c->nprotect + 1) * sizeof(*p));
        if (p == NULL) {
            fprintf(stderr, "spoofguard: out of memory\n");
            return SG_EXIT_INTERNAL;
        }
        c->protect = p;
        if ((c->protect[c->nprotect] = protect_domain(c, val)) == NULL)
            return SG_EXIT_USAGE;
        c->nprotect++;
        break;
    }
    }
    return SG_CLI_GO;
}

int cmd_verify(int argc, char **argv);
int cmd_verify(int argc, char **argv)
{
    verify_ctx c;
    int first, rc;
    memset(&c, 0, sizeof(c));
    /* The library's defaults, the daemon's too (l= included): set only
     * what the command line says. */
    sg_verdict_opts_init(&c.opts);
    rc = sg_cli_parse(&verify_cmd, argc, argv, &c.dns, verify_option, &c, &first);
    if (rc != SG_CLI_GO) {
        free(c.protect);
        sg_arena_free(c.names);
        return rc;
    }
    if (c.env.client_ip == NULL && (c.env.helo || c.env.mail_from))
        fprintf(stderr, "spoofguard: note: without --ip, SPF is not checked\n");
    if ((rc = sg_cli_dns_open(&c.dns)) != 0) {
        free(c.protect);
        sg_arena_free(c.names);
        return rc;
    }
    if (sg_dkim_keycache_new(&c.keycache, 0) != 0) {
        sg_cli_dns_close(&c.dns);
        free(c.protect);
        sg_arena_free(c.names);
        return SG_EXIT_INTERNAL;
    }
    c.opts.keycache = c.keycache;
    c.opts.protected_domains = c.protect;
    c.opts.nprotected = c.nprotect;
    /* Operands are read one at a time from argv: any number of them, in
     * memory that does not grow with their count. */
    c.many = argc - first > 1;
    if (first == argc)
        verify_path(&c, NULL);
    for (int i = first; i < argc; i++)
        verify_path(&c, argv[i]);
    sg_dkim_keycache_free(c.keycache);
    sg_cli_dns_close(&c.dns);
    free(c.protect);
    sg_arena_free(c.names);
    return c.status;
}
