/*
 * spoofguardd's signer: a process of its own that holds the private DKIM
 * keys, so the milter processes that parse hostile input never map one
 * (OpenSMTPD's ca.c is the model). spoofguardd forks it at start, before
 * it drops its privileges. The signer opens the KeyTable's key folders,
 * then confines itself (its own uid, an empty root, a seccomp filter),
 * and from then on only answers the requests of signer_proto.h: load a
 * key table, sign a digest with a key.
 *
 * Which files are keys is not the milter's to say: the milter process
 * parses hostile input, and a signer that loaded any file of its folders
 * at its request was a signing oracle for, say, a TLS key beside the DKIM
 * key (adv33 R1). The signer opens the KeyTable's folder at start too and
 * reads the KeyTable itself at each 'B'; an 'L' for a path no line of it
 * names is refused. A key_table moved elsewhere needs a restart.
 *
 * Keys are loaded through the folder descriptors opened at start, with
 * CAP_DAC_READ_SEARCH kept when started as root: a SIGHUP can re-read a
 * changed key, or load a new key file, in any of those folders, but a key
 * in a folder the signer did not open at start needs a restart. The
 * table before the last reload stays usable, so a session that began
 * before it still signs; one that outlives two reloads may find its key
 * gone and gets the fail-safe answer.
 */
#ifndef SG_DAEMON_SIGNER_H
#define SG_DAEMON_SIGNER_H

#include <stddef.h>
#include <sys/types.h>

typedef struct {
    const char *user;        /* the signer's uid when started as root */
    const char *const *dirs; /* key folders to open before confinement */
    size_t ndirs;
    int allow_group_readable; /* allow_group_readable_keys */
    const char *key_table;    /* the KeyTable the signer reads; NULL: none */
} sg_signer_spec;

/* Fork the signer with nchan channels (SOCK_SEQPACKET socketpairs) and
 * wait for it to be ready. fds[0..nchan) are the daemon's ends: fds[0] is
 * the control channel (key tables), the others one per worker. Returns 0
 * with warn "" or what the signer warns of (a confinement it could not
 * apply: Landlock refused by a system call filter), for the log; or -1
 * with the reason in err (the signer's own if it failed to start). */
int sg_signer_spawn(const sg_signer_spec *spec, int *fds, size_t nchan, pid_t *pid, char *warn,
                    size_t warnlen, char *err, size_t errlen);

/* The key folders of paths (each path's part before its last '/', "." if
 * none), without duplicates: malloc'd array of malloc'd strings. */
char **sg_signer_dirs(const char *const *paths, size_t n, size_t *ndirs);
void sg_signer_dirs_free(char **dirs, size_t n);

#endif
