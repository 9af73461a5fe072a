/*
 * The MTA-STS policy fetcher of `spoofguard audit` (mtasts_fetch.c), an
 * sg_audit_fetch_fn.
 */
#ifndef SG_CLI_MTASTS_FETCH_H
#define SG_CLI_MTASTS_FETCH_H

#include <stddef.h>

#include <spoofguard/dns.h>

typedef struct {
    const char *connect; /* "HOST:PORT" to connect to instead of the policy host on 443 */
    const char *ca_file; /* trust these CAs instead of the system's */
    unsigned timeout_ms; /* 0: 10 s, for the whole fetch */
    /* the audit's resolver: the policy host's A and AAAA are asked of it,
     * as every other name (NULL: the system's, getaddrinfo) */
    sg_resolver *resolver;
} sg_cli_mtasts;

/* ctx: an sg_cli_mtasts (may be NULL). */
int sg_cli_mtasts_fetch(void *ctx, const char *host, char *buf, size_t cap, size_t *len, char *err,
                        size_t errlen);

#endif
