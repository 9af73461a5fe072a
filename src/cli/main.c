/*
 * spoofguard - command-line front end. Dispatches to one function per
 * subcommand; each lives in its own cmd_*.c file.
 */
#include <stdio.h>
#include <string.h>

#include <spoofguard/common.h>

#include "cli.h"

int cmd_spf(int argc, char **argv);
int cmd_dkim_verify(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_arc_seal(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_accounts(int argc, char **argv);

int cmd_verify(int argc, char **argv);
static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} commands[] = {
    /* SUBCOMMAND TABLE: keep one line per command */
    {"verify", cmd_verify,
     "one verdict per message: SPF, DKIM and DMARC, as Authentication-Results"},
    {"spf", cmd_spf, "evaluate SPF (RFC 7208) for a client IP and MAIL FROM/HELO"},
    {"dkim-verify", cmd_dkim_verify, "verify the DKIM signatures of a message (RFC 6376, 8463)"},
    {"sign", cmd_sign, "add DKIM signatures (RSA and/or Ed25519) to a message"},
    {"keygen", cmd_keygen, "make a DKIM key pair and print its DNS TXT record"},
    {"arc-seal", cmd_arc_seal, "verify the ARC chain and add a new ARC set (RFC 8617)"},
    {"keys", cmd_keys, "DKIM key rotation: status, rotate, activate (once published), retire"},
    {"explain", cmd_explain, "what a reader should be told: headline, sender, warnings, links"},
    {"report", cmd_report, "DMARC reports: read them (parse), summary, prune"},
    {"audit", cmd_audit, "check a domain's SPF, DKIM, DMARC, MX, MTA-STS, TLS-RPT records"},
    {"accounts", cmd_accounts, "outbound accounts: replay events through the abuse engine"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: spoofguard COMMAND [OPTIONS]\n"
               "       spoofguard --help | --version\n\ncommands:\n");
    for (size_t i = 0; commands[i].name != NULL; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nspoofguard COMMAND --help for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return SG_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return SG_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("spoofguard %s\n", sg_version());
        return SG_EXIT_OK;
    }
    for (size_t i = 0; commands[i].name != NULL; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "spoofguard: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return SG_EXIT_USAGE;
}
