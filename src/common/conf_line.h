/*
 * One line of spoofguardd.conf's syntax, for every reader of that file
 * (the daemon, `spoofguard accounts`, `accounts replay --config`), so
 * they cannot disagree on what a line says.
 */
#ifndef SG_COMMON_CONF_LINE_H
#define SG_COMMON_CONF_LINE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

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

/* An authserv-id we write (RFC 8601 2.5: a token): host-name characters
 * only (letters, digits, '.', '-', '_'), so every Authentication-Results
 * field we write can be read back; the daemon's authserv_id and the CLI's
 * --authserv-id keep to the same rule. */
int sg_authserv_id_ok(const char *s);

/* The longest line of spoofguardd.conf and of the files beside it (the
 * KeyTable, the SigningTable, explain's --operator-domains), without its
 * line end: the longest list the configuration takes (4096 names of 253
 * bytes and their ", ") fits, and a file without line ends (a log given
 * by mistake) costs 1 MiB, not all the memory there is (adv26 CLI-2). The
 * same bound as an outbound event's line (SGU_OB_LINE_MAX). */
#define SG_CONF_LINE_MAX (1u << 20)

/* Returns of sg_lines_open and sg_lines_next besides a line's length. */
enum {
    SG_LINES_END = -1,    /* the end of the file */
    SG_LINES_EINPUT = -2, /* cannot be read or not what a line may be: exit 3 */
    SG_LINES_ENOMEM = -3  /* out of memory: exit 4 */
};

/* A file read line by line, for the readers of the configuration and of
 * its tables, so a reader cannot take a failed read for the end of the
 * file (getline's -1 is both: a folder, EIO) and act on what it got so
 * far. Zero-initialise. */
typedef struct {
    FILE *f;
    const char *path; /* for the messages; not copied */
    char *line;       /* the line just read, NUL-terminated, its '\n' kept */
    size_t cap;
    size_t lineno; /* of r->line, from 1 */
} sg_lines;

/* Open path. Anything but a regular file (a folder, /dev/zero, a FIFO:
 * none holds a configuration, and the FIFO's open must not wait for a
 * writer) is refused, but /dev/null, the empty file by convention. Returns 0, SG_LINES_EINPUT with
 * "PATH: why" in err (errno is ENOENT when, and only when, there is no such file, which some
 * callers allow) or SG_LINES_ENOMEM. */
int sg_lines_open(sg_lines *r, const char *path, char *err, size_t errlen);
/* The same for name in the folder dirfd (AT_FDCWD: the current one);
 * path names the file in the messages (spoofguardd's signer reads the
 * KeyTable through a folder descriptor, from an empty root). */
int sg_lines_openat(sg_lines *r, int dirfd, const char *name, const char *path, char *err,
                    size_t errlen);

/* The next line into r->line; returns its length (with the '\n'),
 * SG_LINES_END, SG_LINES_EINPUT with "PATH:LINE: why" in err (a read
 * error, a line longer than SG_CONF_LINE_MAX, a NUL byte) or
 * SG_LINES_ENOMEM ("PATH: out of memory"). */
ssize_t sg_lines_next(sg_lines *r, char *err, size_t errlen);

/* Closes the file and frees the line; r can be opened again. */
void sg_lines_close(sg_lines *r);

/* Why sg_ob_policy_directive refused the line `name value` (its rc),
 * into out (at most cap bytes), in the same words for every reader of
 * spoofguardd.conf: an outbound_limit key the engine does not have is
 * named as such, with where the keys are listed; it was "invalid
 * argument" (adv37 F8). */
void sg_ob_directive_why(char *out, size_t cap, const char *name, const char *value, int rc);

/* The folder of path into out (at most cap bytes): "." when it has no
 * slash, "/" for a file at the root. The configuration's tables and the
 * daemon's sockets and stores are looked for there. */
void sg_folder_of(char *out, size_t cap, const char *path);

#endif
