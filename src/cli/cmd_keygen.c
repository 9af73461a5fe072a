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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spoofguard/dkim.h>

#include "cli.h"

int cmd_keygen(int argc, char **argv);

static void keygen_usage(FILE *f)
{
    fprintf(f, "usage: spoofguard keygen --domain D --selector S [--type rsa|ed25519] [--bits N]\n"
               "                         [--out DIR]\n"
               "\n"
               "Writes DIR/S.private (mode 0600; never overwrites) and prints the TXT record.\n"
               "RSA: 2048 bits by default (1024..8192). Publishing an RSA and an Ed25519 key\n"
               "and signing with both is the recommended set-up (RFC 8463 3).\n");
}

int cmd_keygen(int argc, char **argv)
{
    const char *domain = NULL, *selector = NULL, *dir = ".", *type = "rsa";
    unsigned long bits = 0;
    sg_dkim_signkey *k = NULL;
    char *rec = NULL, *zone = NULL, *path = NULL;
    int rc, status = SG_EXIT_OK;
    size_t plen;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            keygen_usage(stdout);
            return SG_EXIT_OK;
        } else if (!strcmp(a, "--domain") && has) {
            domain = argv[++i];
        } else if (!strcmp(a, "--selector") && has) {
            selector = argv[++i];
        } else if (!strcmp(a, "--type") && has) {
            type = argv[++i];
        } else if (!strcmp(a, "--out") && has) {
            dir = argv[++i];
        } else if (!strcmp(a, "--bits") && has) {
            char *end;
            bits = strtoul(argv[++i], &end, 10);
            if (*end || bits < 1024 || bits > 8192) {
                fprintf(stderr, "spoofguard: --bits takes 1024..8192\n");
                return SG_EXIT_USAGE;
            }
        } else {
            keygen_usage(stderr);
            return SG_EXIT_USAGE;
        }
    }
    if (domain == NULL || selector == NULL || (strcmp(type, "rsa") && strcmp(type, "ed25519")) ||
        (bits && strcmp(type, "rsa")) || strchr(selector, '/') || !*selector || !*domain) {
        keygen_usage(stderr);
        return SG_EXIT_USAGE;
    }
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
                rc == SG_EEXIST ? "exists; refusing to overwrite a key" : sg_strerror(rc));
        status = SG_EXIT_INPUT;
        goto out;
    }
    fprintf(stderr, "spoofguard: private key written to %s\n", path);
    fputs(zone, stdout);
out:
    free(zone);
    free(rec);
    free(path);
    sg_dkim_signkey_free(k);
    return status;
}
