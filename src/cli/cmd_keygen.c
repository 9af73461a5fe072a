/*
 * spoofguard keygen - make a DKIM key pair.
 *
 *   spoofguard keygen --domain D --selector S [--type rsa|ed25519]
 *                     [--bits N] [--out DIR]
 *
 * Writes the private key (PKCS#8 PEM) to DIR/S.private with mode 0600,
 * refusing to overwrite an existing file, and prints the DNS record to
 * publish in zone-file syntax, split into strings of at most 255 bytes:
 *
 *   S._domainkey.D.  IN  TXT  ( "v=DKIM1; k=rsa; p=..." "..." )
 *
 * Exit status: 0 done, 2 usage, 3 the key file exists or cannot be
 * written, 4 internal error.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <spoofguard/dkim.h>
#include <spoofguard/dmarc.h>

#include "cli.h"

int cmd_keygen(int argc, char **argv);

enum { O_DOMAIN = 1, O_SELECTOR, O_TYPE, O_BITS, O_OUT };

static const sg_cli_opt keygen_opts[] = {
    {"domain", "D", O_DOMAIN, "the signing domain (d=), for the DNS record (required)"},
    {"selector", "S", O_SELECTOR, "the selector (s=): the key is DIR/S.private (required)"},
    {"type", "rsa|ed25519", O_TYPE, "key type (default rsa)"},
    {"bits", "N", O_BITS, "RSA key size, 1024..8192 (default 2048)"},
    {"out", "DIR", O_OUT, "where to write the private key (default .)"},
    {NULL, NULL, 0, NULL},
};

static const sg_cli_cmd keygen_cmd = {
    "keygen",
    "--domain D --selector S [OPTIONS]",
    "Writes DIR/S.private (mode 0600; never overwrites) and prints the TXT record.\n"
    "Publishing an RSA and an Ed25519 key and signing with both is the recommended\n"
    "set-up (RFC 8463 3).\n"
    "Exit status: 0 done, 2 usage, 3 the key file exists or cannot be written,\n"
    "4 internal error.\n",
    keygen_opts,
};

typedef struct {
    const char *domain, *selector, *dir, *type;
    unsigned long bits;
} keygen_ctx;

static int keygen_option(int id, const char *val, void *payload)
{
    keygen_ctx *c = payload;
    long long bits;
    switch (id) {
    case O_DOMAIN:
        c->domain = val;
        break;
    case O_SELECTOR:
        c->selector = val;
        break;
    case O_TYPE:
        c->type = val;
        break;
    case O_OUT:
        c->dir = val;
        break;
    case O_BITS:
        if (sg_cli_parse_num(val, 1024, 8192, &bits) != 0)
            return sg_cli_usage_error(&keygen_cmd, "--bits takes 1024..8192");
        c->bits = (unsigned long)bits;
        break;
    }
    return SG_CLI_GO;
}

int cmd_keygen(int argc, char **argv)
{
    const char *domain = NULL, *selector = NULL, *dir = ".", *type = "rsa";
    unsigned long bits = 0;
    sg_dkim_signkey *k = NULL;
    char *rec = NULL, *zone = NULL, *path = NULL;
    int rc, status = SG_EXIT_OK;
    size_t plen;

    keygen_ctx c = {NULL, NULL, ".", "rsa", 0};
    int first;
    rc = sg_cli_parse(&keygen_cmd, argc, argv, NULL, keygen_option, &c, &first);
    if (rc != SG_CLI_GO)
        return rc;
    if (first < argc)
        return sg_cli_usage_error(&keygen_cmd, "unexpected argument '%s'", argv[first]);
    domain = c.domain, selector = c.selector, dir = c.dir, type = c.type, bits = c.bits;
    /* each mistake on its own: one message listing every rule left the
     * user to find which was broken (adv26 CLI-10.4) */
    if (domain == NULL || selector == NULL)
        return sg_cli_usage_error(&keygen_cmd, "%s is required",
                                  domain == NULL ? "--domain" : "--selector");
    if (strcmp(type, "rsa") && strcmp(type, "ed25519"))
        return sg_cli_usage_error(&keygen_cmd, "--type '%s': rsa or ed25519", type);
    if (bits && strcmp(type, "rsa"))
        return sg_cli_usage_error(&keygen_cmd, "--bits is for --type rsa only");
    /* the selector names the key file, and both go into the printed
     * record's owner name: "../x" or a space would mean something else */
    char bare[256], alabel[256];
    /* a U-label stands for its A-label, the name its record is published
     * at and sign's d= (IN-6) */
    sg_arena *names = NULL;
    const char *given = domain;
    if (sg_arena_new(&names, 0) != 0)
        return SG_EXIT_INTERNAL;
    rc = sg_dmarc_domain_alabel(names, &domain);
    if (rc == 0 && strlen(domain) >= sizeof(alabel))
        rc = SG_ESYNTAX;
    if (rc == 0)
        memcpy(alabel, domain, strlen(domain) + 1);
    sg_arena_free(names);
    if (rc == SG_ENOMEM)
        return SG_EXIT_INTERNAL;
    if (rc != 0)
        return sg_cli_usage_error(&keygen_cmd, "--domain '%s' is not a domain name (IDNA2008)",
                                  given);
    domain = alabel;
    size_t dl = strlen(domain);
    /* one root dot is a zone file's way of writing the name */
    snprintf(bare, sizeof(bare), "%.*s", (int)(dl > 0 && domain[dl - 1] == '.' ? dl - 1 : dl),
             domain);
    if (dl >= sizeof(bare) || !sg_dkim_name_ok(bare))
        return sg_cli_usage_error(
            &keygen_cmd, "--domain '%s' is not a domain name (LDH labels, A-labels for IDNs)",
            domain);
    if (!sg_dkim_name_ok(selector))
        return sg_cli_usage_error(&keygen_cmd, "--selector '%s' is not a selector (RFC 6376 3.1)",
                                  selector);
    plen = strlen(dir) + strlen(selector) + sizeof("/.private");
    path = malloc(plen);
    if (path == NULL)
        return SG_EXIT_INTERNAL;
    snprintf(path, plen, "%s/%s.private", dir, selector);
    rc = sg_dkim_signkey_generate(
        &k, strcmp(type, "rsa") ? SG_DKIM_ED25519_SHA256 : SG_DKIM_RSA_SHA256, (unsigned)bits);
    if (rc == 0)
        rc = sg_dkim_signkey_record(k, &rec);
    if (rc == 0)
        rc = sg_dkim_zone_txt(&zone, domain, selector, rec);
    if (rc != 0) {
        fprintf(stderr, "spoofguard: key generation failed: %s\n", sg_strerror(rc));
        status = rc == SG_EINVAL ? SG_EXIT_USAGE : SG_EXIT_INTERNAL;
        goto out;
    }
    rc = sg_dkim_signkey_write(k, path);
    if (rc != 0) {
        fprintf(stderr, "spoofguard: %s: %s\n", path,
                rc == SG_EEXIST ? "exists; refusing to overwrite a key"
                : rc == SG_EIO  ? strerror(errno)
                                : sg_strerror(rc));
        status = SG_EXIT_INPUT;
        goto out;
    }
    /* the record is the only copy of the public key we print: a key whose
     * record was lost would stay, and keygen never overwrites (adv26
     * CLI-1); the file is ours, made just now */
    /* a reader gone away is an EPIPE here, not a death by SIGPIPE that
     * would leave the key without its record (rev20 R-7) */
    signal(SIGPIPE, SIG_IGN);
    if (fputs(zone, stdout) == EOF || fflush(stdout) != 0) {
        int e = errno;
        unlink(path);
        fprintf(stderr, "spoofguard: the DNS record could not be written (%s); %s removed\n",
                strerror(e), path);
        clearerr(stdout);
        status = SG_EXIT_INTERNAL;
        goto out;
    }
    fprintf(stderr, "spoofguard: private key written to %s\n", path);
out:
    free(zone);
    free(rec);
    free(path);
    sg_dkim_signkey_free(k);
    return status;
}
