/*
 * spoofguardd's server: the process. The listening socket, privilege drop,
 * signals (SIGHUP reload, SIGTERM drain), the metrics listener and the
 * worker threads (worker.c), each with its own libuv loop.
 */
#ifndef SG_DAEMON_SERVER_H
#define SG_DAEMON_SERVER_H

#include <signal.h>
#include <stddef.h>

#include "config.h"

typedef struct sg_server sg_server;
struct passwd;

/* Started as root, spoofguardd runs as `user`, else as this one. */
#define SG_DEFAULT_USER "spoofguard"

/* Becomes pw's user for good: supplementary groups, then group, then
 * user, so nothing of root's is kept. 0, or -1 with errno. */
int sg_server_become(const struct passwd *pw);

/* Builds the policy from cfg (taking ownership of cfg's contents). */
int sg_server_new(sg_server **out, sg_config *cfg, const char *config_path, char *err,
                  size_t errlen);
/* The signals sg_server_run handles (SIGHUP, SIGTERM, SIGINT, SIGCHLD),
 * into set. */
void sg_server_signals(sigset_t *set);
/* Those of them main() blocks before anything else (SIGHUP, SIGCHLD), so
 * one that comes during the start-up waits for sg_server_run, which
 * unblocks them once its handlers are in place, instead of taking its
 * default action (a SIGHUP killed the daemon: adv36 F6). SIGTERM and
 * SIGINT keep theirs until sg_server_run's last step before READY=1: a
 * stuck start-up still ends at once (rev24 R24-5). */
void sg_server_startup_signals(sigset_t *set);
/* Runs until SIGTERM/SIGINT has drained every session. */
int sg_server_run(sg_server *s);
void sg_server_free(sg_server *s);

#endif
