/*
 * The command-line inputs of a verdict, shared by `spoofguard verify` and
 * `spoofguard explain` (cli.h): one reading of the envelope and policy
 * options and one set of caches, so the two commands cannot drift apart.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spoofguard/dmarc.h>

#include "cli.h"
#include "common/conf_line.h"

void sg_cli_verdict_init(sg_cli_verdict *v)
{
    memset(v, 0, sizeof(*v));
    sg_verdict_opts_init(&v->opts);
    sg_dmarc_opts_init(&v->dmarc);
}

/* A domain option's value in the form the verdict compares the From domain
 * in: A-labels, lower case (IDNA2008 + UTS #46, as the daemon's
 * protected_domains), appended to *list. */
static int push_domain(sg_cli_verdict *v, const char *opt, const char *val, const char ***list,
                       size_t *n)
{
    char *norm;
    int rc;
    if (v->names == NULL && sg_arena_new(&v->names, 1024) != 0)
        goto oom;
    rc = sg_dmarc_domain_normalise(v->names, val, strlen(val), &norm);
    if (rc != 0) {
        fprintf(stderr, "spoofguard: --%s %s: %s\n", opt, val,
                rc == SG_ESYNTAX ? "not a domain name (IDNA2008/UTS #46)" : sg_strerror(rc));
        return rc == SG_ENOMEM ? SG_EXIT_INTERNAL : SG_EXIT_USAGE;
    }
    const char **p = realloc(*list, (*n + 1) * sizeof(*p));
    if (p == NULL)
        goto oom;
    *list = p;
    p[(*n)++] = norm;
    return SG_CLI_GO;
oom:
    fprintf(stderr, "spoofguard: out of memory\n");
    return SG_EXIT_INTERNAL;
}

int sg_cli_verdict_option(sg_cli_verdict *v, const sg_cli_cmd *cmd, int id, const char *val)
{
    long long now;
    switch (id) {
    case SG_CLI_OPT_IP: {
        /* said here, the same for verify and explain: explain blamed the
         * message file for it, exit 4 (adv26 CLI-6) */
        unsigned char a[16];
        if (inet_pton(AF_INET, val, a) != 1 && inet_pton(AF_INET6, val, a) != 1)
            return sg_cli_usage_error(cmd, "--ip '%s' is not an IPv4 or IPv6 address", val);
        v->env.client_ip = val;
        break;
    }
    case SG_CLI_OPT_HELO:
        v->env.helo = val;
        break;
    case SG_CLI_OPT_MAIL_FROM:
        v->env.mail_from = val;
        break;
    case SG_CLI_OPT_AUTHSERV_ID:
        /* an empty one would make every Authentication-Results malformed */
        if (val[0] == '\0')
            return sg_cli_usage_error(cmd, "--authserv-id must not be empty");
        /* the daemon's rule: a control character was an "invalid argument"
         * at the first message, exit 4 (adv26 CLI-6) */
        if (!sg_authserv_id_ok(val))
            return sg_cli_usage_error(cmd, "--authserv-id '%s' is not a host name", val);
        v->opts.authserv_id = val;
        break;
    case SG_CLI_OPT_NOW:
        if (sg_cli_parse_num(val, 1, 253402300799LL, &now) != 0)
            return sg_cli_usage_error(cmd, "--now takes Unix seconds");
        v->opts.now = now;
        break;
    case SG_CLI_OPT_PROTECT:
        return push_domain(v, "protect", val, &v->protect, &v->nprotect);
    case SG_CLI_OPT_NO_SUFFIX_GUARD:
        v->dmarc.suffix_guard = 0;
        break;
    case SG_CLI_OPT_PSL:
        v->psl_file = val;
        break;
    case SG_CLI_OPT_TRUSTED_ARC:
        /* checked as --protect is: a typo must not trust nothing silently */
        return push_domain(v, "trusted-arc-sealer", val, &v->sealers, &v->nsealers);
    default:
        return sg_cli_usage_error(cmd, "option %d not handled", id);
    }
    return SG_CLI_GO;
}

int sg_cli_verdict_open(sg_cli_verdict *v)
{
    if (v->env.client_ip == NULL && (v->env.helo || v->env.mail_from))
        fprintf(stderr, "spoofguard: note: without --ip, SPF is not checked\n");
    if (sg_dkim_keycache_new(&v->keycache, 0) != 0 || sg_spf_cache_new(&v->spf_cache, 1000) != 0) {
        fprintf(stderr, "spoofguard: out of memory\n");
        return SG_EXIT_INTERNAL;
    }
    /* the list the daemon would use (its public_suffix_list), loaded once:
     * the suffix guard and the reader's checks then agree on it */
    int rc = sg_dmarc_psl_open(&v->psl, v->psl_file);
    if (rc == SG_EIO) {
        fprintf(stderr, "spoofguard: --psl %s: cannot load the public suffix list\n", v->psl_file);
        return SG_EXIT_USAGE;
    }
    if (rc != 0 && rc != SG_EUNSUPPORTED) {
        fprintf(stderr, "spoofguard: out of memory\n");
        return SG_EXIT_INTERNAL;
    }
    v->dmarc.psl = v->psl;
    v->opts.dmarc = &v->dmarc;
    v->opts.keycache = v->keycache;
    v->opts.spf_cache = v->spf_cache;
    v->opts.protected_domains = v->protect;
    v->opts.nprotected = v->nprotect;
    v->opts.trusted_arc_sealers = v->sealers;
    v->opts.ntrusted_arc_sealers = v->nsealers;
    return 0;
}

int sg_cli_verdict_next(sg_cli_verdict *v, sg_resolver *r, sg_verdict **out)
{
    int rc;
    *out = NULL;
    /* one verdict for the whole run, reset between messages: its buffers
     * and verifiers are reused */
    if (v->verdict != NULL)
        sg_verdict_reset(v->verdict);
    else if ((rc = sg_verdict_new(&v->verdict, r, &v->opts)) != 0)
        return rc;
    *out = v->verdict;
    return sg_verdict_envelope_set(v->verdict, &v->env);
}

void sg_cli_verdict_close(sg_cli_verdict *v)
{
    sg_verdict_free(v->verdict);
    sg_spf_cache_free(v->spf_cache);
    sg_dkim_keycache_free(v->keycache);
    sg_dmarc_psl_free(v->psl);
    free(v->protect);
    free(v->sealers);
    sg_arena_free(v->names);
    memset(v, 0, sizeof(*v));
}
