/*
 * One line of spoofguardd.conf's syntax, for every reader of that file
 * (the daemon, `spoofguard accounts`, `accounts replay --config`), so
 * they cannot disagree on what a line says.
 */
#ifndef SG_COMMON_CONF_LINE_H
#define SG_COMMON_CONF_LINE_H

#include <stddef.h>

/* `name value`: `#` starts a comment, blanks around the name and the
 * value are dropped, the value is the rest of the line (it may hold
 * blanks). Cuts line in place. Returns 1 with *name and *value set
 * (*value "" when there is none), 0 for a blank or comment line. */
int sg_conf_line(char *line, char **name, char **value);

/* Does line[0..len) (getline's length) hold a NUL byte? Every string
 * function after the read would stop there and silently drop the rest
 * of the line ("failsafe accept\0 # was: tempfail"), so the readers of
 * spoofguardd.conf and of its tables refuse such a line, naming it. */
int sg_line_has_nul(const char *line, size_t len);

/* The folder of path into out (at most cap bytes): "." when it has no
 * slash, "/" for a file at the root. The configuration's tables and the
 * daemon's sockets and stores are looked for there. */
void sg_folder_of(char *out, size_t cap, const char *path);

#endif
