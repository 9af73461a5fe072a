/*
 * spoofguardd's server: worker threads, each with its own libuv loop,
 * resolver and caches, accepting milter connections from one shared
 * listening socket. One connection is one milter session (session.c).
 */
#ifndef SG_DAEMON_SERVER_H
#define SG_DAEMON_SERVER_H

#include <stdatomic.h>
#include <stdio.h>
#include <uv.h>

#include "config.h"
#include "maps.h"

/* What a session needs of the configuration, swapped whole on SIGHUP;
 * sessions keep the one they started with until they end. */
typedef struct sg_policy {
    atomic_int refs;
    sg_config cfg;
    sg_maps *maps;
    const char *authserv_id; /* cfg.authserv_id or the host name */
    char hostname[256];
} sg_policy;

sg_policy *sg_policy_ref(sg_policy *p);
void sg_policy_unref(sg_policy *p);

typedef struct sg_server sg_server;

/* Builds the policy from cfg (taking ownership of cfg's contents). */
int sg_server_new(sg_server **out, sg_config *cfg, const char *config_path, char *err,
                  size_t errlen);
/* Runs until SIGTERM/SIGINT has drained every session. */
int sg_server_run(sg_server *s);
void sg_server_free(sg_server *s);

/* Logging: one line, written atomically. */
void sg_log(sg_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
