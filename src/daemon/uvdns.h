/*
 * Drives an sg_resolver from a libuv loop: polls the resolver's sockets
 * and its timeout, so no DNS lookup ever blocks the loop.
 */
#ifndef SG_DAEMON_UVDNS_H
#define SG_DAEMON_UVDNS_H

#include <uv.h>

#include <spoofguard/dns.h>

typedef struct sg_uvdns sg_uvdns;

int sg_uvdns_new(sg_uvdns **out, uv_loop_t *loop, sg_resolver *resolver);
/* Stops polling; closes its handles (they finish closing on the loop). */
void sg_uvdns_close(sg_uvdns *d);

#endif
