/*
 * spoofguard dkim-verify - verify every DKIM-Signature of one message.
 *
 *   spoofguard dkim-verify [--zone FILE | --dns HOST[:PORT]] [--json]
 *                          [--now UNIX] [--max-signatures N]
 *                          [--fail-partial-body] [MSG|-]
 *
 * The message streams through the parser into the verifier in 64 KiB
 * reads; memory does not grow with the body.
 *
 * Output: one line per signature, "RESULT d=... s=... a=... (reason)", or
 * "none (no DKIM signature)"; with --json a list of objects with domain,
 * selector, algorithm, result, reason, identity, b (header.b prefix),
 * length (l=, or null) and key_bits.
 *
 * Exit status: 0 the check ran (whatever the results), 2 usage, 3 input
 * error (unreadable or malformed message), 4 internal error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spoofguard/dkim.h>
#include <spoofguard/msg.h>

#include "cli.h"

int cmd_dkim_verify(int argc, char **argv);

/* Read size: big enough that syscalls are not the cost, small enough to
 * keep the working set in cache. */
#define READ_CHUNK (64 * 1024)

enum { O_JSON = 1, O_NOW, O_MAX_SIGS, O_FAIL_PARTIAL };

static const sg_cli_opt dv_opts[] = {
    {"json", NULL, O_JSON, "print a JSON list of the signatures' results"},
    {"now", "UNIX", O_NOW, "check signatures as of this time (Unix seconds)"},
    {"max-signatures", "N", O_MAX_SIGS, "signatures evaluated, 1..64 (default 10)"},
    {"fail-partial-body", NULL, O_FAIL_PARTIAL,
     "an l= that leaves body content unsigned is a failure (as in verify)"},
    SG_CLI_DNS_OPTS,
    {NULL, NULL, 0, NULL},
};

static const sg_cli_cmd dv_cmd = {
    "dkim-verify",
    "[OPTIONS] [MSG|-]",
    "Verifies every DKIM-Signature of one message (RFC 6376, 8463); no MSG or \"-\": stdin.\n"
    "Exit status: 0 the check ran (whatever the results), 2 usage, 3 unreadable or\n"
    "malformed message, 4 internal error.\n",
    dv_opts,
};

typedef struct {
    sg_dkim_verify_opts o;
    int json;
} dv_ctx;

static int dv_option(int id, const char *val, void *payload)
{
    dv_ctx *c = payload;
    long long num;
    switch (id) {
    case O_JSON:
        c->json = 1;
        break;
    case O_FAIL_PARTIAL:
        c->o.fail_on_partial_body = 1;
        break;
    case O_NOW:
        if (sg_cli_parse_num(val, 1, 253402300799LL, &num) != 0)
            return sg_cli_usage_error(&dv_cmd, "--now takes Unix seconds");
        c->o.now = num;
        break;
    case O_MAX_SIGS:
        if (sg_cli_parse_num(val, 1, 64, &num) != 0)
            return sg_cli_usage_error(&dv_cmd, "--max-signatures takes 1..64");
        c->o.max_signatures = (size_t)num;
        break;
    }
    return SG_CLI_GO;
}

static int on_headers(const sg_header *f, size_t n, void *p)
{
    return sg_dkim_verify_headers(p, f, n);
}

static int on_body(const char *d, size_t n, void *p)
{
    return sg_dkim_verify_body(p, d, n);
}

static void print_json(const sg_dkim_sig_result *r, size_t n)
{
    printf("[");
    for (size_t i = 0; i < n; i++) {
        printf("%s{\"domain\":", i ? "," : "");
        sg_cli_json_str(stdout, r[i].domain);
        printf(",\"selector\":");
        sg_cli_json_str(stdout, r[i].selector);
        printf(",\"algorithm\":");
        sg_cli_json_str(stdout, r[i].algorithm);
        printf(",\"result\":");
        sg_cli_json_str(stdout, sg_dkim_result_str(r[i].result));
        printf(",\"reason\":");
        sg_cli_json_str(stdout, r[i].reason);
        printf(",\"identity\":");
        sg_cli_json_str(stdout, r[i].identity);
        printf(",\"b\":");
        sg_cli_json_str(stdout, r[i].b_prefix);
        if (r[i].has_length)
            printf(",\"length\":%llu", (unsigned long long)r[i].length);
        else
            printf(",\"length\":null");
        printf(",\"key_bits\":%u,\"testing\":%s}", r[i].key_bits, r[i].testing ? "true" : "false");
    }
    printf("]\n");
}

int cmd_dkim_verify(int argc, char **argv)
{
    sg_cli_dns d = {0};
    dv_ctx c = {.json = 0};
    sg_dkim_verifier *v = NULL;
    sg_msg_parser *p = NULL;
    sg_msg_callbacks cbs = {on_headers, on_body, NULL};
    const sg_dkim_sig_result *res;
    const char *path = NULL;
    size_t n = 0;
    int first, rc, status = SG_EXIT_OK;
    FILE *in;
    char *buf;

    /* raw DKIM results: the library's DKIM defaults, not a verdict's */
    sg_dkim_verify_opts_init(&c.o);
    rc = sg_cli_parse(&dv_cmd, argc, argv, &d, dv_option, &c, &first);
    if (rc != SG_CLI_GO)
        return rc;
    if (argc - first > 1) {
        sg_cli_dns_close(&d);
        return sg_cli_usage_error(&dv_cmd, "one message at a time");
    }
    path = first < argc ? argv[first] : NULL;
    in = sg_cli_open_input(path);
    if (in == NULL) {
        int e = errno;
        fprintf(stderr, "spoofguard: %s: %s\n", path, strerror(e));
        sg_cli_dns_close(&d);
        return e == ENOMEM ? SG_EXIT_INTERNAL : SG_EXIT_INPUT;
    }
    if ((rc = sg_cli_dns_open(&d)) != 0) {
        if (in != stdin)
            fclose(in);
        return rc;
    }
    buf = malloc(READ_CHUNK);
    if (buf == NULL || sg_dkim_verifier_new(&v, d.resolver, NULL, &c.o) != 0 ||
        sg_msg_parser_new(&p, NULL, &cbs, v) != 0) {
        fprintf(stderr, "spoofguard: out of memory\n");
        status = SG_EXIT_INTERNAL;
        goto out;
    }
    rc = 0;
    size_t got = 0;
    while (rc == 0 && (n = fread(buf, 1, READ_CHUNK, in)) > 0) {
        got += n;
        rc = sg_msg_feed(p, buf, n);
    }
    if (rc == 0 && ferror(in)) {
        fprintf(stderr, "spoofguard: %s: read error\n", path ? path : "stdin");
        status = SG_EXIT_INPUT;
        goto out;
    }
    if (rc == 0 && got == 0) {
        status = sg_cli_no_message(path);
        goto out;
    }
    if (rc == 0)
        rc = sg_msg_finish(p);
    if (rc == SG_ESYNTAX || rc == SG_ELIMIT) {
        fprintf(stderr, "spoofguard: %s: malformed message header (%s)\n", path ? path : "stdin",
                sg_strerror(rc));
        status = SG_EXIT_INPUT;
        goto out;
    }
    if (rc == 0)
        rc = sg_dkim_verify_wait(v);
    if (rc == 0)
        rc = sg_dkim_verify_results(v, &res, &n);
    if (rc != 0) {
        fprintf(stderr, "spoofguard: %s\n", sg_strerror(rc));
        status = SG_EXIT_INTERNAL;
        goto out;
    }
    if (c.json) {
        print_json(res, n);
    } else if (n == 0) {
        printf("none (no DKIM signature)\n");
    } else {
        for (size_t i = 0; i < n; i++) {
            printf("%s d=%s s=%s a=%s", sg_dkim_result_str(res[i].result),
                   res[i].domain ? res[i].domain : "?", res[i].selector ? res[i].selector : "?",
                   res[i].algorithm ? res[i].algorithm : "?");
            if (res[i].has_length)
                printf(" l=%llu", (unsigned long long)res[i].length);
            printf(" (%s)\n", res[i].reason);
        }
    }
out:
    sg_msg_parser_free(p);
    sg_dkim_verifier_free(v);
    sg_cli_dns_close(&d);
    free(buf);
    if (in != stdin)
        fclose(in);
    return status;
}
