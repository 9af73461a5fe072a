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

#include <spoofguard/dns.h>
#include <stdio.h>
#include <string.h>

enum {
    SG_EXIT_OK = 0,
    SG_EXIT_FAIL = 1,
    SG_EXIT_USAGE = 2,
    SG_EXIT_INPUT = 3,
    SG_EXIT_INTERNAL = 4
};

/* Resolver chosen by --zone FILE (repeatable) or --dns HOST[:PORT];
 * neither: the system resolver. */
typedef struct {
    const char *zone_files[16];
    int nzones;
    const char *dns;
    unsigned timeout_ms;
    sg_zone *zone;
    sg_resolver *resolver;
} sg_cli_dns;

/* If argv[*i] is --zone/--dns/--dns-timeout (with its value), consume it
 * (advancing *i) and return 1; 0 if not a DNS option; -1 on a missing
 * value (message printed). */
int sg_cli_dns_option(sg_cli_dns *d, int argc, char **argv, int *i);
/* Create the resolver. Returns 0 or prints an error and returns an exit
 * status. */
int sg_cli_dns_open(sg_cli_dns *d);
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

#endif
