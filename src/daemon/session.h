/*
 * One milter session (session.c): what it is given when the worker accepts
 * the connection, so it never calls back up into the worker or the server.
 */
#ifndef SG_DAEMON_SESSION_H
#define SG_DAEMON_SESSION_H

#include "policy.h"
#include "session_env.h"

/* Start a session on fd, a connection the worker accepted itself, or
 * (fd < 0) accept one on env->listener. pol: a reference the session takes
 * over. conns: connections open across workers, this one included (over
 * max_connections every message gets the fail-safe answer). */
void sg_session_accept(const sg_session_env *env, sg_policy *pol, unsigned pol_swaps,
                       unsigned conns, int fd);

#endif
