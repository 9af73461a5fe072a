/*
 * Lookup tables of spoofguardd, loaded at start and on SIGHUP:
 *  - the sender map: which addresses an authenticated login may use
 *    (`login address[,address...]`, `@domain` wildcards), in the spirit
 *    of Postfix's smtpd_sender_login_maps but keyed by login;
 *  - OpenDKIM's SigningTable (`pattern keyname[,keyname...]`, `*` globs,
 *    first matching pattern wins; several lines with the same pattern
 *    add signatures) and KeyTable (`keyname domain:selector:/path/key`),
 *    so an OpenDKIM installation's files work unchanged.
 * The private keys are not loaded here: the signer process holds them
 * (signer.h) and tells, for each key, its algorithm and size.
 */
#ifndef SG_DAEMON_MAPS_H
#define SG_DAEMON_MAPS_H

#include <stddef.h>
#include <stdint.h>

#include <spoofguard/dkim.h>

#include "config.h"

typedef struct {
    char *name;
    char *domain;
    char *selector;
    char *path;      /* the key's id in the signer */
    sg_dkim_alg alg; /* filled from the signer (sg_signer_load_keys) */
    unsigned bits;
    int64_t mtime;   /* the key file's, when loaded (0: unknown) */
    int64_t created; /* from KEYTABLE.rotation (spoofguard keys), else mtime */
    unsigned metric; /* label slot in the server's metrics */
} sg_map_key;

typedef struct sg_maps sg_maps;

/* Load every table the configuration names. On error returns non-zero
 * with "FILE:LINE: problem" in err and leaves nothing behind. */
int sg_maps_load(sg_maps **out, const sg_config *cfg, char *err, size_t errlen);
void sg_maps_free(sg_maps *m);
/* The KeyTable alone, at name in the folder dirfd (path for the
 * messages), parsed and checked line by line as sg_maps_load does: the
 * signer reads it itself, to load only the keys it names (signer.h). */
int sg_maps_load_key_table_at(sg_maps **out, int dirfd, const char *name, const char *path,
                              char *err, size_t errlen);

/* 1 if a sender map is configured. */
int sg_maps_have_sender_map(const sg_maps *m);
/* 1 if the key table has keys: the daemon signs. */
int sg_maps_have_keys(const sg_maps *m);
/* Signing without a sender_map: there is nothing to check a login's From
 * against, so mail from authenticated logins is refused (disposition.c);
 * said by -t and at start, in these words. */
int sg_maps_unmapped_logins(const sg_maps *m);
#define SG_MAPS_UNMAPPED_LOGINS                                                                    \
    "the key_table has keys but there is no sender_map: mail from authenticated logins is "        \
    "refused (550 5.7.1), since nothing says which addresses they own; set sender_map"
/* 1 if login may use the address local@domain (parts as parsed, local
 * part unquoted; compared case-insensitively). The parts are compared as
 * they are, never through a rebuilt string, so no local part containing
 * "@" can pass for another address. A login missing from the map may use
 * nothing. */
int sg_maps_sender_allowed(const sg_maps *m, const char *login, const char *local,
                           const char *domain);

/* The one login the sender map gives the exact address addr (compared
 * case-insensitively; `@domain` wildcards do not count), or NULL when
 * none or several do: whose mail a delivery-status report to addr is
 * about. */
const char *sg_maps_login_of(const sg_maps *m, const char *addr);

/* Keys to sign mail from addr with (up to max); returns the count. */
size_t sg_maps_signing_keys(const sg_maps *m, const char *addr, const sg_map_key **out, size_t max);

/* The key table's key of that name, or NULL. */
const sg_map_key *sg_maps_key_named(const sg_maps *m, const char *name);
/* Once the signer has said each key's algorithm (sg_signer_load_keys):
 * arc_seal_key must be RSA. -1 with the reason in err. */
int sg_maps_check_algs(const sg_maps *m, const sg_config *cfg, char *err, size_t errlen);

/* Every key of the key table (for metrics). */
sg_map_key *sg_maps_keys(sg_maps *m, size_t *n);

/* Glob match with '*' (case-insensitive); exposed for tests. */
int sg_glob_match(const char *pattern, const char *s);

#endif
