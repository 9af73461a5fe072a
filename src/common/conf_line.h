/*
 * One line of spoofguardd.conf's syntax, for every reader of that file
 * (the daemon, `spoofguard accounts`, `accounts replay --config`), so
 * they cannot disagree on what a line says.
 */
#ifndef SG_COMMON_CONF_LINE_H
#define SG_COMMON_CONF_LINE_H

/* `name value`: `#` starts a comment, blanks around the name and the
 * value are dropped, the value is the rest of the line (it may hold
 * blanks). Cuts line in place. Returns 1 with *name and *value set
 * (*value "" when there is none), 0 for a blank or comment line. */
int sg_conf_line(char *line, char **name, char **value);

#endif
