/*
 * spoofguard arc-seal - add one ARC set (RFC 8617 5.1) to a message.
 *
 *   spoofguard arc-seal --domain D --selector S --key FILE --authserv-id ID
 *                       [--results TEXT] [--headers a:b:c] [--now UNIX]
 *                       [--zone FILE | --dns HOST[:PORT]] [MSG|-]
 *
 * One pass feeds both the ARC verifier (for cv=) and the sealer; the
 * sealer learns cv= when the verifier is done, before its first digest.
 * The new set goes on top of the message, which follows unchanged (a
 * pipe is spooled to an unlinked temporary file, as in `sign`).
 *
 * The ARC-Authentication-Results carry --results, or else the results of
 * the message's Authentication-Results fields of --authserv-id, merged
 * (what dkimpy and the ValiMail suite's sealers copy); an arc= result is
 * added with the cv= found when they have none (RFC 8617 4.1.1 expects
 * it). No set is added to a chain that has ended (newest cv=fail) or has
 * 50 sets: the message goes out unchanged, with a note on stderr.
 *
 * Exit status: 0 sealed (or nothing to add), 2 usage, 3 input error
 * (unreadable or malformed message or key, no From field), 4 internal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <spoofguard/arc.h>
#include <spoofguard/authres.h>
#include <spoofguard/msg.h>

#include "cli.h"

int cmd_arc_seal(int argc, char **argv);

/* Names in --headers. */
#define MAX_HEADERS 64
/* Merged results copied from the message (the AAR is one field). */
#define MAX_RESULTS 8192

enum { O_DOMAIN = 1, O_SELECTOR, O_KEY, O_AUTHSERV, O_RESULTS, O_HEADERS, O_NOW, O_INSECURE };

static const sg_cli_opt seal_opts[] = {
    {"domain", "D", O_DOMAIN, "the sealing domain, d= (required)"},
    {"selector", "S", O_SELECTOR, "the selector, s= (required)"},
    {"key", "FILE", O_KEY, "the private RSA key (required; RFC 8617 allows rsa-sha256 only)"},
    {"authserv-id", "ID", O_AUTHSERV, "our authserv-id, for the ARC-Authentication-Results"},
    {"results", "TEXT", O_RESULTS,
     "the results to record (\"spf=pass ...; dkim=...\"); default: the message's "
     "Authentication-Results of ID"},
    {"headers", "a:b:c", O_HEADERS,
     "fields the ARC-Message-Signature signs (default: From, Sender, "
     "Reply-To, To, Cc, Subject, Date, Message-ID, ..., each once more than present)"},
    {"now", "UNIX", O_NOW, "t= of the new set and the time the chain is verified at"},
    {"insecure-key-permissions", NULL, O_INSECURE,
     "accept a key file others may read, or that another user owns"},
    SG_CLI_DNS_OPTS,
    {NULL, NULL, 0, NULL},
};

static const sg_cli_cmd seal_cmd = {
    "arc-seal",
    "--domain D --selector S --key FILE --authserv-id ID [OPTIONS] [MSG|-]",
    "Verifies the message's ARC chain (for cv=) and puts a new ARC set on top\n"
    "(RFC 8617 5.1); the sealed message goes to stdout. A chain that has ended\n"
    "(newest cv=fail) or has 50 sets gets no set: the message goes out unchanged.\n"
    "So does one whose keys got no answer (a DNS timeout, SERVFAIL): cv=fail would\n"
    "end the chain for every later hop; try again later.\n"
    "Exit status: 0 sealed or nothing to add, 1 not sealed for now (a key got no\n"
    "answer), 2 usage, 3 unreadable or malformed message or key, no From field,\n"
    "4 internal error.\n",
    seal_opts,
};

typedef struct {
    const char *domain, *selector, *keyfile, *authserv, *results, *headers;
    long long now;
    int insecure;
} seal_ctx;

static int seal_option(int id, const char *val, void *payload)
{
    seal_ctx *c = payload;
    switch (id) {
    case O_DOMAIN:
        c->domain = val;
        break;
    case O_SELECTOR:
        c->selector = val;
        break;
    case O_KEY:
        c->keyfile = val;
        break;
    case O_AUTHSERV:
        c->authserv = val;
        break;
    case O_RESULTS:
        c->results = val;
        break;
    case O_HEADERS:
        c->headers = val;
        break;
    case O_NOW:
        if (sg_cli_parse_num(val, 1, 253402300799LL, &c->now) != 0)
            return sg_cli_usage_error(&seal_cmd, "--now takes Unix seconds");
        break;
    case O_INSECURE:
        c->insecure = 1;
        break;
    }
    return SG_CLI_GO;
}

/* ---- one pass: verifier and sealer ----------------------------------------------------- */

typedef struct {
    sg_arc_verifier *v;
    sg_arc_sealer *s;
    const char *authserv;
    char merged[MAX_RESULTS]; /* results of our own A-R fields */
    int seal_rc;
} pass_ctx;

/* The results after "ID;" of our MTA's Authentication-Results fields,
 * joined with "; ": the first run of fields whose authserv-id is ours the
 * RFC way (sg_authres_value_is_ours). Not the deletion rule
 * (sg_authres_value_claims), which also matches spellings only a lax
 * reader takes for ours: a verifier before us that deletes only exact
 * matches leaves those, and we would seal a forger's dmarc=pass. Fields
 * below another host's are older than it, so not ours either. */
static void merge_results(pass_ctx *c, const sg_header *f, size_t n)
{
    size_t len = 0;
    int in_run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = f[i].value, *e = f[i].value + f[i].value_len, *semi;
        if (f[i].name_len != 22 || strncasecmp(f[i].name, "Authentication-Results", 22))
            continue;
        if (!sg_authres_value_is_ours(v, f[i].value_len, c->authserv)) {
            if (in_run)
                break;
            continue;
        }
        in_run = 1;
        if ((semi = memchr(v, ';', f[i].value_len)) == NULL)
            continue; /* "ID" alone, or "ID none": no results */
        for (v = semi + 1; v < e && (*v == ' ' || *v == '\t'); v++)
            ;
        while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e == v || len + (size_t)(e - v) + 3 > sizeof(c->merged))
            continue;
        if (len > 0) {
            memcpy(c->merged + len, "; ", 2);
            len += 2;
        }
        memcpy(c->merged + len, v, (size_t)(e - v));
        len += (size_t)(e - v);
    }
    c->merged[len] = '\0';
}

static int on_headers(const sg_header *f, size_t n, void *p)
{
    pass_ctx *c = p;
    int rc = sg_arc_verify_headers(c->v, f, n);
    if (rc != 0)
        return rc;
    merge_results(c, f, n);
    /* a header the sealer refuses (no From) still lets the verifier
     * finish; the error is reported after the pass */
    c->seal_rc = sg_arc_seal_headers(c->s, f, n);
    return 0;
}

static int on_body(const char *d, size_t n, void *p)
{
    pass_ctx *c = p;
    int rc = sg_arc_verify_body(c->v, d, n);
    if (rc == 0 && c->seal_rc == 0)
        rc = sg_arc_seal_body(c->s, d, n);
    return rc;
}

int cmd_arc_seal(int argc, char **argv)
{
    seal_ctx c;
    sg_cli_dns d = {0};
    sg_dkim_signkey *key = NULL;
    sg_arc_seal_opts so;
    sg_arc_verify_opts vo;
    pass_ctx pc;
    sg_msg_parser *p = NULL;
    sg_msg_callbacks cbs = {on_headers, on_body, NULL};
    const char *hnames[MAX_HEADERS], *path, *out = NULL;
    char *hbuf = NULL;
    size_t nh = 0, outlen = 0;
    const sg_arc_result *res;
    sg_cli_msg m = {0};
    int first, rc, status = SG_EXIT_OK;

    memset(&c, 0, sizeof(c));
    memset(&pc, 0, sizeof(pc));
    rc = sg_cli_parse(&seal_cmd, argc, argv, &d, seal_option, &c, &first);
    if (rc != SG_CLI_GO) {
        sg_cli_dns_close(&d);
        return rc;
    }
    if (argc - first > 1) {
        sg_cli_dns_close(&d);
        return sg_cli_usage_error(&seal_cmd, "one message at a time");
    }
    path = first < argc ? argv[first] : NULL;
    if (c.domain == NULL || c.selector == NULL || c.keyfile == NULL || c.authserv == NULL) {
        sg_cli_dns_close(&d);
        return sg_cli_usage_error(&seal_cmd,
                                  "--domain, --selector, --key and --authserv-id are required");
    }
    if (c.headers != NULL) {
        char *save = NULL;
        if ((hbuf = strdup(c.headers)) == NULL) {
            status = SG_EXIT_INTERNAL;
            goto out;
        }
        for (char *t = strtok_r(hbuf, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
            if (nh == MAX_HEADERS) {
                status = sg_cli_usage_error(&seal_cmd, "at most %d --headers names", MAX_HEADERS);
                goto out;
            }
            hnames[nh++] = t;
        }
    }
    {
        char err[512] = "";
        rc = sg_dkim_signkey_load(
            &key, c.keyfile,
            c.insecure ? SG_DKIM_KEY_ALLOW_READABLE | SG_DKIM_KEY_ALLOW_ANY_OWNER : 0, err,
            sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "spoofguard: %s\n", err[0] ? err : sg_strerror(rc));
            status = SG_EXIT_INPUT;
            goto out;
        }
    }
    sg_arc_seal_opts_init(&so);
    so.domain = c.domain;
    so.selector = c.selector;
    so.key = key;
    so.authserv_id = c.authserv;
    so.headers = c.headers ? hnames : NULL;
    so.nheaders = nh;
    so.timestamp = c.now;
    if (c.headers != NULL && nh == 0) {
        status = sg_cli_usage_error(&seal_cmd, "--headers needs at least one name");
        goto out;
    }
    if (sg_arc_sealer_new(&pc.s, &so) != 0) {
        fprintf(stderr, "spoofguard: bad sealing options (domain, selector, authserv-id, "
                        "--headers, or a key that is not RSA)\n");
        status = SG_EXIT_USAGE;
        goto out;
    }
    if (c.results != NULL && sg_arc_sealer_set_results(pc.s, c.results) != 0) {
        status = sg_cli_usage_error(&seal_cmd, "--results must be one line");
        goto out;
    }
    if ((rc = sg_cli_dns_open(&d)) != 0) {
        status = rc;
        goto out;
    }
    sg_arc_verify_opts_init(&vo);
    vo.now = c.now;
    pc.authserv = c.authserv;
    if (sg_arc_verifier_new(&pc.v, d.resolver, NULL, &vo) != 0 ||
        sg_msg_parser_new(&p, NULL, &cbs, &pc) != 0) {
        status = SG_EXIT_INTERNAL;
        goto out;
    }
    if ((status = sg_cli_msg_read(&m, path, p, &rc)) != SG_EXIT_OK)
        goto out;
    if (rc == 0)
        rc = pc.seal_rc;
    if (rc == 0 && (rc = sg_arc_verify_wait(pc.v)) >= 0)
        rc = sg_arc_verify_result(pc.v, &res);
    if (rc != 0) {
        fprintf(stderr, "spoofguard: %s: %s\n", path ? path : "stdin",
                rc == SG_ENOTFOUND                    ? "no From field: cannot seal"
                : rc == SG_ESYNTAX || rc == SG_ELIMIT ? "malformed message header"
                                                      : sg_strerror(rc));
        status = rc == SG_ENOTFOUND || rc == SG_ESYNTAX || rc == SG_ELIMIT ? SG_EXIT_INPUT
                                                                           : SG_EXIT_INTERNAL;
        goto out;
    }
    if (res->temporary) {
        fprintf(stderr,
                "spoofguard: no ARC set added: a key of the chain got no answer (%s); "
                "try again later\n",
                res->reason);
        status = sg_cli_msg_write(&m, "", 0);
        if (status == SG_EXIT_OK)
            status = SG_EXIT_FAIL;
        goto out;
    }
    sg_arc_sealer_set_cv(pc.s, res->cv);
    if (c.results == NULL) {
        /* (the library adds arc= when they have none) */
        if (sg_arc_sealer_set_results(pc.s, pc.merged) != 0) {
            fprintf(stderr, "spoofguard: the message's Authentication-Results cannot be "
                            "copied (control characters); give --results\n");
            status = SG_EXIT_INPUT;
            goto out;
        }
    }
    if ((rc = sg_arc_seal_finish(pc.s, &out, &outlen)) != 0) {
        fprintf(stderr, "spoofguard: sealing failed: %s\n", sg_strerror(rc));
        status = SG_EXIT_INTERNAL;
        goto out;
    }
    if (outlen == 0)
        fprintf(stderr, "spoofguard: no ARC set added: %s\n", sg_arc_seal_skip_reason(pc.s));
    status = sg_cli_msg_write(&m, out, outlen);
out:
    sg_msg_parser_free(p);
    sg_arc_verifier_free(pc.v);
    sg_arc_sealer_free(pc.s);
    sg_dkim_signkey_free(key);
    sg_cli_dns_close(&d);
    free(hbuf);
    sg_cli_msg_close(&m);
    return status;
}
