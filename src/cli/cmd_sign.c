/*
 * spoofguard sign - add DKIM signatures to one message.
 *
 *   spoofguard sign --domain D --selector S --key FILE [--key FILE ...]
 *                   [--canon relaxed/relaxed] [--identity I] [--expire SECS]
 *                   [--timestamp UNIX] [--insecure-key-permissions] [MSG|-]
 *
 * One signature per --key (e.g. an RSA-2048 and an Ed25519 key), all made
 * in one pass; the same selector is used for every key unless --selector
 * is repeated once per key. The signed message goes to stdout.
 *
 * The signatures go on top of the message but depend on its whole body,
 * so the input is read twice: a regular file is simply re-read; a pipe is
 * spooled to an unlinked temporary file while it is hashed. Memory stays
 * bounded by the header, whatever the body size.
 *
 * Exit status: 0 signed, 2 usage, 3 input error (unreadable message or
 * key, no From field, key file readable by others), 4 internal error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <spoofguard/dkim.h>
#include <spoofguard/msg.h>

#include "cli.h"

int cmd_sign(int argc, char **argv);

/* Signatures per run: RSA + Ed25519 is the usual pair; a few more allow
 * key rollover. */
#define MAX_KEYS 8
#define sign_usage_error(...) sg_cli_usage_error(&sign_cmd, __VA_ARGS__)

enum { O_DOMAIN = 1, O_SELECTOR, O_KEY, O_IDENTITY, O_CANON, O_EXPIRE, O_TIMESTAMP, O_INSECURE };

static const sg_cli_opt sign_opts[] = {
    {"domain", "D", O_DOMAIN, "the signing domain, d= (required)"},
    {"selector", "S", O_SELECTOR, "the selector, s= (required; once, or once per --key)"},
    {"key", "FILE", O_KEY, "a private key; one signature per key (required, up to 8)"},
    {"canon", "HEADER/BODY", O_CANON, "canonicalization, simple or relaxed (relaxed/relaxed)"},
    {"identity", "I", O_IDENTITY, "the signing identity, i= (within the domain)"},
    {"expire", "SECONDS", O_EXPIRE, "signatures expire this long after signing (x=)"},
    {"timestamp", "UNIX", O_TIMESTAMP, "signing time, t= (default: now)"},
    {"insecure-key-permissions", NULL, O_INSECURE,
     "accept a key file others may read, or that another user owns"},
    {NULL, NULL, 0, NULL},
};

static const sg_cli_cmd sign_cmd = {
    "sign",
    "--domain D --selector S --key FILE [--key FILE ...] [OPTIONS] [MSG|-]",
    "Keys: PEM (PKCS#1 or PKCS#8, RSA or Ed25519) or an Ed25519 seed (32 bytes, raw\n"
    "or base64). Key files must not be readable by group or others (chmod 600).\n"
    "Repeat --selector once per --key to give each key its own selector.\n"
    "The signed message goes to stdout.\n"
    "Exit status: 0 signed, 2 usage, 3 unreadable message or key, no From field or a\n"
    "key file readable by others, 4 internal error.\n",
    sign_opts,
};

typedef struct {
    const char *domain, *identity, *canon;
    const char *selectors[MAX_KEYS], *keyfiles[MAX_KEYS];
    int nsel, nkeys, insecure;
    long long expire, timestamp;
} sign_ctx;

static int sign_option(int id, const char *val, void *payload)
{
    sign_ctx *c = payload;
    long long v;
    switch (id) {
    case O_DOMAIN:
        c->domain = val;
        break;
    case O_SELECTOR:
        if (c->nsel == MAX_KEYS)
            return sign_usage_error("at most %d selectors", MAX_KEYS);
        c->selectors[c->nsel++] = val;
        break;
    case O_KEY:
        if (c->nkeys == MAX_KEYS)
            return sign_usage_error("at most %d keys", MAX_KEYS);
        c->keyfiles[c->nkeys++] = val;
        break;
    case O_IDENTITY:
        c->identity = val;
        break;
    case O_CANON:
        c->canon = val;
        break;
    case O_EXPIRE:
    case O_TIMESTAMP:
        if (sg_cli_parse_num(val, 1, 253402300799LL, &v) != 0)
            return sign_usage_error("--%s takes a positive number of seconds",
                                    id == O_EXPIRE ? "expire" : "timestamp");
        if (id == O_EXPIRE)
            c->expire = v;
        else
            c->timestamp = v;
        break;
    case O_INSECURE:
        c->insecure = 1;
        break;
    }
    return SG_CLI_GO;
}

static int on_headers(const sg_header *f, size_t n, void *p)
{
    return sg_dkim_sign_headers(p, f, n);
}

static int on_body(const char *d, size_t n, void *p)
{
    return sg_dkim_sign_body(p, d, n);
}

int cmd_sign(int argc, char **argv)
{
    const char *domain = NULL, *identity = NULL, *path = NULL, *canon = NULL;
    int nsel = 0, nkeys = 0, insecure = 0, status = SG_EXIT_OK, rc;
    long long expire = 0, timestamp = 0;
    sg_dkim_signkey *keys[MAX_KEYS] = {0};
    sg_dkim_sign_opts opts[MAX_KEYS];
    sg_canon_mode hc = SG_CANON_RELAXED, bc = SG_CANON_RELAXED;
    sg_dkim_signer *s = NULL;
    sg_msg_parser *p = NULL;
    sg_msg_callbacks cbs = {on_headers, on_body, NULL};
    sg_cli_msg m = {0};
    const char *sig;
    size_t siglen;

    sign_ctx c;
    int first;
    memset(&c, 0, sizeof(c));
    rc = sg_cli_parse(&sign_cmd, argc, argv, NULL, sign_option, &c, &first);
    if (rc != SG_CLI_GO)
        return rc;
    if (argc - first > 1)
        return sign_usage_error("one message at a time");
    path = first < argc ? argv[first] : NULL;
    domain = c.domain, identity = c.identity, canon = c.canon, insecure = c.insecure;
    expire = c.expire, timestamp = c.timestamp, nsel = c.nsel, nkeys = c.nkeys;
    if (domain == NULL || nsel == 0 || nkeys == 0)
        return sign_usage_error("--domain, --selector and --key are required");
    if (nsel != 1 && nsel != nkeys)
        return sign_usage_error("give one --selector, or one per --key");
    if (expire > 0xffffffffLL)
        return sign_usage_error("--expire is at most 4294967295 seconds");
    if (canon != NULL && sg_canon_parse(canon, strlen(canon), &hc, &bc) != 0) {
        fprintf(stderr, "spoofguard: --canon takes simple or relaxed, e.g. relaxed/relaxed\n");
        return SG_EXIT_USAGE;
    }
    for (int k = 0; k < nkeys; k++) {
        char err[512];
        rc = sg_dkim_signkey_load(
            &keys[k], c.keyfiles[k],
            insecure ? SG_DKIM_KEY_ALLOW_READABLE | SG_DKIM_KEY_ALLOW_ANY_OWNER : 0, err,
            sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "spoofguard: %s\n", err[0] ? err : sg_strerror(rc));
            status = SG_EXIT_INPUT;
            goto out;
        }
        sg_dkim_sign_opts_init(&opts[k]);
        opts[k].domain = domain;
        opts[k].selector = c.selectors[nsel == 1 ? 0 : k];
        opts[k].key = keys[k];
        opts[k].identity = identity;
        opts[k].header_canon = hc;
        opts[k].body_canon = bc;
        opts[k].timestamp = timestamp;
        opts[k].expire_after = (uint32_t)expire;
    }
    if ((rc = sg_dkim_signer_new(&s, opts, (size_t)nkeys)) != 0) {
        fprintf(stderr, "spoofguard: bad signing options (domain, selector or identity)\n");
        status = SG_EXIT_USAGE;
        goto out;
    }
    if (sg_msg_parser_new(&p, NULL, &cbs, s) != 0) {
        status = SG_EXIT_INTERNAL;
        goto out;
    }
    if ((status = sg_cli_msg_read(&m, path, p, &rc)) != SG_EXIT_OK)
        goto out;
    if (rc == 0)
        rc = sg_dkim_sign_finish(s, &sig, &siglen);
    if (rc != 0) {
        fprintf(stderr, "spoofguard: %s: %s\n", path ? path : "stdin",
                rc == SG_ENOTFOUND                    ? "no From field: cannot sign (RFC 6376 5.4)"
                : rc == SG_ESYNTAX || rc == SG_ELIMIT ? "malformed message header"
                                                      : sg_strerror(rc));
        status = rc == SG_ENOTFOUND || rc == SG_ESYNTAX || rc == SG_ELIMIT ? SG_EXIT_INPUT
                                                                           : SG_EXIT_INTERNAL;
        goto out;
    }
    /* second pass: signatures, then the message exactly as it came */
    status = sg_cli_msg_write(&m, sig, siglen);
out:
    sg_msg_parser_free(p);
    sg_dkim_signer_free(s);
    for (int k = 0; k < nkeys; k++)
        sg_dkim_signkey_free(keys[k]);
    sg_cli_msg_close(&m);
    return status;
}
