/*
 * spoofguard - command-line front end. Dispatches to one function per
 * subcommand; each lives in its own cmd_*.c file. The commands that need
 * more than libspoofguard (GMime, ICU, SQLite, libxml2, LMDB, hiredis,
 * libssl) are helper programs, spoofguard-NAME, that this one execs: so
 * verify, sign and the others start without loading those libraries.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <spoofguard/common.h>

#include "cli.h"

int cmd_spf(int argc, char **argv);
int cmd_dkim_verify(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_arc_seal(int argc, char **argv);
int cmd_keys(int argc, char **argv);

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
    {"explain", NULL, "what a reader should be told: headline, sender, warnings, links"},
    {"report", NULL, "DMARC reports: read them (parse), summary, prune; send our own"},
    {"audit", NULL, "check a domain's SPF, DKIM, DMARC, MX, MTA-STS, TLS-RPT records"},
    {"accounts", NULL, "outbound accounts: list, show, explain, block, release; replay events"},
    {NULL, NULL, NULL},
};

/* Exec spoofguard-NAME with the command's argument vector (argv[0] is the
 * command's name). Looked for beside this program first (a build tree, or
 * a copy installed elsewhere as a whole), then in LIBEXECDIR/spoofguard. */
static int run_helper(const char *name, char **argv)
{
    char self[PATH_MAX], path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            if ((size_t)snprintf(path, sizeof(path), "%s/spoofguard-%s", self, name) <
                    sizeof(path) &&
                access(path, X_OK) == 0)
                execv(path, argv);
        }
    }
    snprintf(path, sizeof(path), "%s/spoofguard-%s", SG_LIBEXECDIR, name);
    execv(path, argv);
    fprintf(stderr, "spoofguard %s: cannot run %s: %s\n", name, path, strerror(errno));
    return SG_EXIT_INTERNAL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: spoofguard COMMAND [OPTIONS]\n"
               "       spoofguard --help | --version\n\ncommands:\n");
    for (size_t i = 0; commands[i].name != NULL; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nspoofguard COMMAND --help for a command's options.\n");
}

static int run(int argc, char **argv)
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
        if (!strcmp(argv[1], commands[i].name)) {
            /* every command's --version, those with steps too (report,
             * accounts) */
            if (argc == 3 && !strcmp(argv[2], "--version")) {
                printf("spoofguard %s\n", sg_version());
                return SG_EXIT_OK;
            }
            if (commands[i].fn == NULL)
                return run_helper(commands[i].name, argv + 1);
            int rc = sg_cli_wants_help(argc - 1, argv + 1) ? 0 : sg_cli_start("spoofguard");
            return rc != 0 ? rc : commands[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "spoofguard: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return SG_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    return sg_cli_end("spoofguard", run(argc, argv));
}
