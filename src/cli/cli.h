/*
 * Shared helpers of the spoofguard CLI. Every subcommand is a function
 * `int cmd_NAME(int argc, char **argv)` (argv[0] is the subcommand name)
 * returning the process exit status, listed in the table in main.c.
 *
 * Exit statuses: 0 the command ran (whatever the verdict), 1 a check ran
 * and the command's contract says "failure" (documented per command),
 * 2 usage error, 3 input error (unreadable file, malformed input),
 * 4 internal/resource error.
 */
#ifndef SG_CLI_H
#define SG_CLI_H

#include <spoofguard/arena.h>
#include <spoofguard/dns.h>
#include <spoofguard/msg.h>
#include <spoofguard/verdict.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

enum {
    SG_EXIT_OK = 0,
    SG_EXIT_FAIL = 1,
    SG_EXIT_USAGE = 2,
    SG_EXIT_INPUT = 3,
    SG_EXIT_INTERNAL = 4
};

/* Before a command runs: sg_crypto_init, where its failure can be said
 * (adv27 MEM-5). 0, or SG_EXIT_INTERNAL (said on stderr). */
int sg_cli_start(const char *prog);
/* Whether the arguments ask for --help (or -h): it needs no OpenSSL, and
 * must work where OpenSSL does not (rev20 R-5). */
int sg_cli_wants_help(int argc, char **argv);

/* Why path cannot be an SQLite store (a folder, a device, a file of other
 * bytes), or NULL when it may be one (an empty file is an empty store): a
 * mistyped path is the user's input (exit 3), not a store that failed. */
const char *sg_cli_not_sqlite(const char *path);

/* After it: what it wrote must have reached stdout. A lost output is no
 * success (adv26 CLI-1: `verify > /dev/full` exited 0): rc, or
 * SG_EXIT_INTERNAL with the error said on stderr. */
int sg_cli_end(const char *prog, int rc);

/*
 * The option table of a command: getopt_long, the --help text and the
 * common options (--help, --version, and the DNS options for commands that
 * list them) all come from it, so every command reads and explains its
 * options the same way. Options are long only (-h is the one short one).
 */
typedef struct {
    const char *name; /* without "--"; NULL ends the table */
    const char *arg;  /* the value's name in --help ("FILE"); NULL: a flag */
    int id;           /* what the command's handler switches on */
    const char *help; /* one line */
} sg_cli_opt;

/* ids of the options the parser handles itself */
enum { SG_CLI_OPT_ZONE = 1000, SG_CLI_OPT_DNS, SG_CLI_OPT_DNS_TIMEOUT };
/* The DNS options, for a command's table (handled by sg_cli_parse). */
#define SG_CLI_DNS_OPTS                                                                            \
    {"zone", "FILE", SG_CLI_OPT_ZONE,                                                              \
     "answer DNS from a zone file (RFC 1035, or .tsv); repeatable"},                               \
        {"dns", "HOST[:PORT]", SG_CLI_OPT_DNS, "ask this DNS server (default: resolv.conf)"},      \
    {                                                                                              \
        "dns-timeout", "MS", SG_CLI_OPT_DNS_TIMEOUT, "per-try DNS timeout, 1..600000 ms"           \
    }

typedef struct {
    const char *name;       /* "verify" */
    const char *synopsis;   /* after "spoofguard NAME ": "[OPTIONS] [MSG|-]" */
    const char *about;      /* printed after the options; may be NULL */
    const sg_cli_opt *opts; /* ended by a NULL name */
} sg_cli_cmd;

/* Resolver chosen by --zone FILE (repeatable) or --dns HOST[:PORT];
 * neither: the system resolver. Zero-initialise. */
typedef struct {
    const char **zone_files; /* grows as --zone is repeated */
    size_t nzones;
    const char *dns;
    unsigned timeout_ms; /* 0: the library's default */
    sg_zone *zone;
    sg_resolver *resolver;
} sg_cli_dns;

/* Returns SG_CLI_GO to go on, or the exit status to return now. */
#define SG_CLI_GO (-1)
typedef int (*sg_cli_opt_fn)(int id, const char *value, void *payload);

/*
 * Parse argv (argv[0] is the command name) with getopt_long from cmd's
 * table: each option found goes to fn(id, value, payload), in order, except
 * --help and --version (printed here: exit 0) and the DNS options (stored
 * in dns, which may be NULL for commands without them). fn returns
 * SG_CLI_GO or an exit status. On success *first is the index of the
 * first operand (options and operands may be mixed; "--" ends options).
 * Returns SG_CLI_GO or the exit status to return: 0 after --help or
 * --version, SG_EXIT_USAGE after an unknown option or a missing value
 * (message and usage on stderr).
 */
int sg_cli_parse(const sg_cli_cmd *cmd, int argc, char **argv, sg_cli_dns *dns, sg_cli_opt_fn fn,
                 void *payload, int *first);
/* The generated help of cmd (on stdout for --help, stderr for errors). */
void sg_cli_usage(const sg_cli_cmd *cmd, FILE *f);
/* "spoofguard CMD: --opt needs ..." style message on stderr; returns
 * SG_EXIT_USAGE. */
int sg_cli_usage_error(const sg_cli_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A decimal integer in [lo, hi], nothing else; 0 or -1. */
int sg_cli_parse_num(const char *s, long long lo, long long hi, long long *out);

/*
 * The inputs of a verdict from the command line, one handling for the
 * commands that verify messages (verify, explain): the envelope, our
 * authserv-id, the time, the protected domains and the trusted ARC sealers
 * (both in A-label form: a name that is not a domain is refused loudly,
 * since silently protecting nothing is the failure this prevents), the
 * caches the messages share and the verdict reused from one to the next.
 * The library's defaults (sg_verdict_opts_init) are the daemon's too: only
 * what the command line says is set.
 */
enum {
    SG_CLI_OPT_IP = 1100,
    SG_CLI_OPT_HELO,
    SG_CLI_OPT_MAIL_FROM,
    SG_CLI_OPT_AUTHSERV_ID,
    SG_CLI_OPT_PROTECT,
    SG_CLI_OPT_TRUSTED_ARC,
    SG_CLI_OPT_NOW,
    SG_CLI_OPT_NO_SUFFIX_GUARD,
    SG_CLI_OPT_PSL
};
/* The table lines whose meaning is the same in every such command: the
 * envelope first, the ARC and time options last (--help's order). */
#define SG_CLI_ENVELOPE_OPTS                                                                       \
    {"ip", "ADDR", SG_CLI_OPT_IP, "client IP address; without it, no SPF check"},                  \
        {"helo", "NAME", SG_CLI_OPT_HELO, "the name the client gave in HELO/EHLO"},                \
    {                                                                                              \
        "mail-from", "ADDR", SG_CLI_OPT_MAIL_FROM,                                                 \
            "the MAIL FROM address (\"\" or \"<>\": null sender)"                                  \
    }
#define SG_CLI_VERDICT_OPTS                                                                        \
    {"trusted-arc-sealer", "DOMAIN", SG_CLI_OPT_TRUSTED_ARC,                                       \
     "a forwarder whose passing ARC seal over dmarc=pass overrides a DMARC fail (repeatable)"},    \
        {"no-suffix-guard", NULL, SG_CLI_OPT_NO_SUFFIX_GUARD,                                      \
         "DMARC by RFC 9989's rules alone: an Organizational Domain may lie above the public "     \
         "suffix list's registrable domain (docs/conformance.md)"},                                \
        {"psl", "FILE", SG_CLI_OPT_PSL,                                                            \
         "public suffix list (public_suffix_list.dat) for every check that uses one: the DMARC "   \
         "suffix guard, lookalikes, links (default: the system's newest)"},                        \
    {                                                                                              \
        "now", "UNIX", SG_CLI_OPT_NOW, "check signatures as of this time (Unix seconds)"           \
    }

typedef struct {
    sg_verdict_envelope env;
    sg_verdict_opts opts;
    sg_dmarc_opts dmarc;  /* the library's defaults but for --no-suffix-guard */
    const char *psl_file; /* --psl; NULL: the system's newest list */
    sg_dmarc_psl *psl;    /* that list, for dmarc.psl (the suffix guard) */
    const char **protect; /* grows with each --protect */
    size_t nprotect;
    const char **sealers; /* grows with each --trusted-arc-sealer */
    size_t nsealers;
    sg_arena *names; /* the domains above, in A-label form */
    sg_dkim_keycache *keycache;
    sg_spf_cache *spf_cache; /* parsed SPF records, shared by the messages */
    sg_verdict *verdict;     /* reused from message to message */
} sg_cli_verdict;

void sg_cli_verdict_init(sg_cli_verdict *v);
/* One of the SG_CLI_OPT_IP.. options: SG_CLI_GO or the exit status. */
int sg_cli_verdict_option(sg_cli_verdict *v, const sg_cli_cmd *cmd, int id, const char *val);
/* After the options: the caches. Returns 0 or an exit status. */
int sg_cli_verdict_open(sg_cli_verdict *v);
/* The verdict for the next message, reset, its envelope set: 0 or an
 * sg error code: *out is NULL when there is no verdict (memory), else
 * the code is the envelope's error. */
int sg_cli_verdict_next(sg_cli_verdict *v, sg_resolver *r, sg_verdict **out);
void sg_cli_verdict_close(sg_cli_verdict *v);

/* Create the resolver. Returns 0 or prints an error and returns an exit
 * status. */
int sg_cli_dns_open(sg_cli_dns *d);
/* Frees the resolver, the zone and the --zone list. */
void sg_cli_dns_close(sg_cli_dns *d);

/* Open a message source: path, or "-"/NULL for stdin. */
FILE *sg_cli_open_input(const char *path);

/* Print a JSON string literal (with quotes, escaped) to f. */
void sg_cli_json_str(FILE *f, const char *s);
void sg_cli_json_strn(FILE *f, const char *s, size_t len);

/* An output line built in memory and written with one fwrite: a result
 * line is some 40 pieces, and stdio's per-call locking and bookkeeping
 * cost more than the escaping. Reused across messages (len = 0). A failed
 * allocation sets `oom` and drops further output. */
typedef struct {
    char *data;
    size_t len, cap;
    int oom;
} sg_cli_buf;

void sg_cli_buf_put(sg_cli_buf *b, const char *s, size_t n);
/* inline, so that the length of a literal is known at compile time */
static inline void sg_cli_buf_puts(sg_cli_buf *b, const char *s)
{
    sg_cli_buf_put(b, s, strlen(s));
}
void sg_cli_buf_putc(sg_cli_buf *b, char c);
void sg_cli_buf_uint(sg_cli_buf *b, unsigned long v);
/* A JSON string literal (quoted, escaped), or null for NULL. */
void sg_cli_buf_json_str(sg_cli_buf *b, const char *s);
void sg_cli_buf_json_strn(sg_cli_buf *b, const char *s, size_t len);
void sg_cli_buf_free(sg_cli_buf *b);
/* Text from outside (a message, a report), for a terminal: control
 * characters (C0, DEL, C1) and bytes that are not valid UTF-8 become '?',
 * so no escape sequence reaches the screen, 8-bit terminals included. */
void sg_cli_buf_put_term(sg_cli_buf *b, const char *s);
void sg_cli_buf_put_termn(sg_cli_buf *b, const char *s, size_t len);
/* The same into dst (cap bytes, always terminated, cut when longer), for
 * printf's fields; returns dst. */
const char *sg_cli_term(char *dst, size_t cap, const char *s);

/* A message that a command puts new fields on top of (sign, arc-seal):
 * read once through a parser, then written again after the new fields.
 * A pipe is spooled to an unlinked temporary file meanwhile, so memory
 * stays flat whatever the message's size. */
typedef struct {
    FILE *in, *spool;
    int lf; /* 1: lines end in a bare LF (the new fields are written so) */
    char *buf;
    off_t start;        /* where the message began in a regular file */
    uint64_t total;     /* bytes read: the second pass writes as many */
    struct stat before; /* a regular file as the first pass found it */
} sg_cli_msg;

/* Open path ("-"/NULL: stdin) and feed it to p up to sg_msg_finish.
 * Returns an exit status for I/O trouble (said on stderr) or SG_EXIT_OK,
 * with the parser's (and its callbacks') error in *rc. */
int sg_cli_msg_read(sg_cli_msg *m, const char *path, sg_msg_parser *p, int *rc);

/* No bytes is no message: a producer upstream that failed (adv26 CLI-8), not
 * an "unverified" one. Says so for NAME (NULL: stdin) and returns exit 3. */
int sg_cli_no_message(const char *name);
/* fields (CRLF-terminated, as the library makes them), then the message
 * exactly as it came: the bytes the first pass read, from where it began
 * (a file read in part before we ran: adv26 CLI-4). A file that changed
 * meanwhile is an error (SG_EXIT_INTERNAL), the signature being over what
 * it was. Returns an exit status. */
int sg_cli_msg_write(sg_cli_msg *m, const char *fields, size_t len);
void sg_cli_msg_close(sg_cli_msg *m);

#endif
