/*
 * spoofguard spf - evaluate SPF (RFC 7208) for one SMTP transaction.
 *
 *   spoofguard spf --ip ADDR --mail-from ADDR [--helo NAME]
 *                  [--receiver NAME] [--zone FILE | --dns HOST[:PORT]] [--json]
 *
 * Identities (RFC 7208 2.3, 2.4):
 *  - --mail-from empty ("" or "<>"): the HELO identity is checked
 *    (sender postmaster@HELO); --helo is then required.
 *  - otherwise the MAIL FROM identity gives the main result. When --helo
 *    is given too, the HELO identity is checked separately as RFC 7208
 *    2.3 recommends, and reported as helo_result; it does not change the
 *    main result (2.3 leaves the combination to local policy).
 *
 * Exit status: 0 the check ran (whatever the result), 2 usage, 3 input
 * error (bad address, unreadable zone), 4 internal error.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <spoofguard/spf.h>

#include "cli.h"

int cmd_spf(int argc, char **argv);

enum { O_IP = 1, O_MAIL_FROM, O_HELO, O_RECEIVER, O_JSON };

static const sg_cli_opt spf_opts[] = {
    {"ip", "ADDR", O_IP, "the client's IPv4 or IPv6 address (required)"},
    {"mail-from", "ADDR", O_MAIL_FROM, "the MAIL FROM address (required; \"\" or \"<>\": null)"},
    {"helo", "NAME", O_HELO, "the HELO/EHLO name (required with a null MAIL FROM)"},
    {"receiver", "NAME", O_RECEIVER, "our host name, for %{r} and Received-SPF"},
    {"json", NULL, O_JSON, "print one JSON object"},
    SG_CLI_DNS_OPTS,
    {NULL, NULL, 0, NULL},
};

static const sg_cli_cmd spf_cmd = {
    "spf",
    "--ip ADDR --mail-from ADDR [OPTIONS]",
    "Checks the MAIL FROM identity (or the HELO identity when --mail-from is\n"
    "empty or \"<>\") and prints the SPF result, and the explanation for fail.\n"
    "Exit status: 0 the check ran (whatever the result), 2 usage, 3 bad address or\n"
    "unreadable zone, 4 internal error.\n",
    spf_opts,
};

typedef struct {
    const char *ip, *mail_from, *helo, *receiver;
    int json;
} spf_ctx;

static int spf_option(int id, const char *val, void *payload)
{
    spf_ctx *c = payload;
    switch (id) {
    case O_IP:
        c->ip = val;
        break;
    case O_MAIL_FROM:
        c->mail_from = val;
        break;
    case O_HELO:
        c->helo = val;
        break;
    case O_RECEIVER:
        c->receiver = val;
        break;
    case O_JSON:
        c->json = 1;
        break;
    }
    return SG_CLI_GO;
}

static int run_check(sg_spf_result *out, sg_arena *arena, sg_resolver *res, const char *ip,
                     const char *helo, const char *mail_from, sg_spf_identity id,
                     const char *receiver)
{
    sg_spf_request req;
    sg_spf_request_init(&req);
    req.ip = ip;
    req.helo = helo;
    req.mail_from = mail_from;
    req.identity = id;
    req.receiver = receiver;
    return sg_spf_check_sync(out, arena, res, &req);
}

static void json_uint_field(FILE *f, const char *key, unsigned v)
{
    fprintf(f, ",");
    sg_cli_json_str(f, key);
    fprintf(f, ":%u", v);
}

static void json_str_field(FILE *f, const char *key, const char *v)
{
    fprintf(f, ",");
    sg_cli_json_str(f, key);
    fprintf(f, ":");
    sg_cli_json_str(f, v);
}

int cmd_spf(int argc, char **argv)
{
    sg_cli_dns d = {0};
    const char *ip = NULL, *mail_from = NULL, *helo = NULL, *receiver = NULL;
    int json = 0, rc, status = SG_EXIT_OK;
    sg_arena *arena = NULL;
    sg_spf_result main_res, helo_res;
    int have_helo_res = 0;
    uint8_t tmp[16];

    spf_ctx c = {NULL, NULL, NULL, NULL, 0};
    int first;
    rc = sg_cli_parse(&spf_cmd, argc, argv, &d, spf_option, &c, &first);
    if (rc != SG_CLI_GO)
        return rc;
    ip = c.ip, mail_from = c.mail_from, helo = c.helo, receiver = c.receiver, json = c.json;
    if (first < argc) {
        sg_cli_dns_close(&d);
        return sg_cli_usage_error(&spf_cmd, "unexpected argument '%s'", argv[first]);
    }
    if (ip == NULL || mail_from == NULL) {
        sg_cli_dns_close(&d);
        return sg_cli_usage_error(&spf_cmd, "--ip and --mail-from are required");
    }
    int null_sender = mail_from[0] == '\0' || !strcmp(mail_from, "<>");
    if (null_sender && (helo == NULL || helo[0] == '\0')) {
        sg_cli_dns_close(&d);
        return sg_cli_usage_error(&spf_cmd, "an empty --mail-from needs --helo (the HELO "
                                            "identity is checked)");
    }
    if (inet_pton(AF_INET, ip, tmp) != 1 && inet_pton(AF_INET6, ip, tmp) != 1) {
        fprintf(stderr, "spoofguard spf: '%s' is not an IPv4 or IPv6 address\n", ip);
        sg_cli_dns_close(&d);
        return SG_EXIT_INPUT;
    }
    if ((rc = sg_cli_dns_open(&d)) != 0) {
        sg_cli_dns_close(&d); /* a half-opened zone is freed too */
        return rc;
    }
    if (sg_arena_new(&arena, 0) != 0) {
        status = SG_EXIT_INTERNAL;
        goto out;
    }
    rc = run_check(&main_res, arena, d.resolver, ip, helo, null_sender ? "" : mail_from,
                   null_sender ? SG_SPF_ID_HELO : SG_SPF_ID_MAILFROM, receiver);
    if (rc == 0 && !null_sender && helo != NULL && helo[0] != '\0') {
        rc = run_check(&helo_res, arena, d.resolver, ip, helo, NULL, SG_SPF_ID_HELO, receiver);
        have_helo_res = rc == 0;
    }
    if (rc != 0) {
        fprintf(stderr, "spoofguard spf: %s\n", sg_strerror(rc));
        status = rc == SG_EINVAL ? SG_EXIT_INPUT : SG_EXIT_INTERNAL;
        goto out;
    }

    char *received = NULL;
    sg_spf_received_info info = {
        .result = &main_res,
        .client_ip = ip,
        .envelope_from = null_sender ? "" : mail_from,
        .helo = helo,
        .receiver = receiver,
    };
    if (sg_spf_received_spf(&received, arena, &info) != 0)
        received = NULL;

    if (json) {
        printf("{");
        sg_cli_json_str(stdout, "result");
        printf(":");
        sg_cli_json_str(stdout, sg_spf_result_str(main_res.result));
        json_str_field(stdout, "identity", sg_spf_identity_str(main_res.identity));
        json_str_field(stdout, "domain", main_res.domain);
        json_str_field(stdout, "explanation", main_res.explanation);
        json_uint_field(stdout, "dns_lookups", main_res.dns_lookups);
        json_uint_field(stdout, "void_lookups", main_res.void_lookups);
        json_str_field(stdout, "mechanism", main_res.mechanism);
        json_str_field(stdout, "reason", main_res.reason);
        json_str_field(stdout, "received_spf", received);
        if (have_helo_res) {
            json_str_field(stdout, "helo_result", sg_spf_result_str(helo_res.result));
            json_str_field(stdout, "helo_explanation", helo_res.explanation);
            json_str_field(stdout, "helo_reason", helo_res.reason);
        }
        printf("}\n");
    } else {
        printf("%s\n", sg_spf_result_str(main_res.result));
        if (main_res.explanation != NULL)
            printf("explanation: %s\n", main_res.explanation);
        if (main_res.reason != NULL &&
            (main_res.result == SG_SPF_PERMERROR || main_res.result == SG_SPF_TEMPERROR ||
             main_res.result == SG_SPF_NONE))
            printf("reason: %s\n", main_res.reason);
        if (have_helo_res)
            printf("helo: %s\n", sg_spf_result_str(helo_res.result));
        if (received != NULL)
            printf("Received-SPF: %s\n", received);
    }
out:
    sg_arena_free(arena);
    sg_cli_dns_close(&d);
    return status;
}
