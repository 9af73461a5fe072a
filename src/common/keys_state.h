/*
 * The DKIM key rotation state of `spoofguard keys` (docs/keys.md): one
 * line per key that the rotation knows, in a small text file beside the
 * daemon's KeyTable (KEYTABLE.rotation). spoofguardd reads it too, for the
 * key-age gauge (spoofguard_dkim_key_age_seconds), so it lives in the
 * internal library both front ends link.
 *
 * Format (one record a line, '#' comments, blank lines ignored):
 *
 *   spoofguard-keys-state 1
 *   key domain=D selector=S alg=rsa|ed25519 name=N path=P state=STATE
 *       created=T activated=T retiring_since=T retired=T ttl=SECONDS
 *
 * (one line per key). STATE is pending, active, retiring or retired;
 * times are Unix seconds, 0 for "not yet". A value is printable ASCII
 * without space or '=', any other byte written as %XX (so paths with
 * spaces survive). The version line must come first. Unknown or repeated
 * fields, missing required fields (domain, selector, alg, path, state,
 * created) and two records for one domain and selector are errors: the
 * file steers which key signs mail, so a damaged one is refused rather
 * than guessed at.
 */
#ifndef SG_COMMON_KEYS_STATE_H
#define SG_COMMON_KEYS_STATE_H

#include <stddef.h>
#include <stdint.h>

/* Bounds of one record: a domain name's presentation length (RFC 1035
 * 2.3.4), a selector label, a KeyTable key name, a path. */
#define SGU_KS_DOMAIN_MAX 254
#define SGU_KS_SELECTOR_MAX 64
#define SGU_KS_NAME_MAX 128
#define SGU_KS_PATH_MAX 1024
#define SGU_KS_MAX_KEYS 4096
/* The longest line the parser reads (every field escaped three times over
 * fits). */
#define SGU_KS_LINE_MAX 8192

typedef enum {
    SGU_KS_PENDING = 0, /* made by rotate, not signing yet */
    SGU_KS_ACTIVE,      /* in the KeyTable, signing */
    SGU_KS_RETIRING,    /* switched away from; still published */
    SGU_KS_RETIRED,     /* revoked; private key removed */
} sgu_ks_phase;

typedef struct {
    char domain[SGU_KS_DOMAIN_MAX + 1];
    char selector[SGU_KS_SELECTOR_MAX + 1];
    char alg[8]; /* "rsa" or "ed25519" */
    char name[SGU_KS_NAME_MAX + 1];
    char path[SGU_KS_PATH_MAX + 1];
    sgu_ks_phase phase;
    int64_t created, activated, retiring_since, retired;
    uint32_t ttl; /* the record's TTL seen at the servers (0: unknown) */
} sgu_ks_key;

typedef struct {
    sgu_ks_key *keys;
    size_t n, cap;
} sgu_keys_state;

/* Parse text[0..len) into st (zero-initialised by the caller; records
 * are appended). 0, or -1 with "line N: problem" in err. */
int sgu_keys_state_parse(sgu_keys_state *st, const char *text, size_t len, char *err,
                         size_t errlen);
/* The file's text (malloc'd, NUL-terminated; *len without the NUL).
 * Parsing it gives st back. 0 or -1 (out of memory). */
int sgu_keys_state_format(const sgu_keys_state *st, char **out, size_t *len);
/* Read path into st. A missing file is an empty state (0). */
int sgu_keys_state_load(sgu_keys_state *st, const char *path, char *err, size_t errlen);
/* Write st to path atomically: a temporary file beside it, fsync, rename
 * over path, fsync of the folder. The file gets mode `mode`. A crash
 * leaves the old or the new file, never a mix. 0 or -1 with err. */
int sgu_keys_state_save(const sgu_keys_state *st, const char *path, unsigned mode, char *err,
                        size_t errlen);
/* Append a zeroed record; NULL when full or out of memory. */
sgu_ks_key *sgu_keys_state_add(sgu_keys_state *st);
/* The record of domain and selector (case-insensitive), or NULL. */
sgu_ks_key *sgu_keys_state_find(const sgu_keys_state *st, const char *domain, const char *selector);
void sgu_keys_state_free(sgu_keys_state *st);

const char *sgu_ks_phase_str(sgu_ks_phase p);

/* Write data[0..len) to path atomically (as sgu_keys_state_save): for the
 * tables and the files to publish. A file replaced keeps its owner and
 * group when the writer may set them. */
int sgu_write_atomic(const char *path, const char *data, size_t len, unsigned mode, char *err,
                     size_t errlen);

#endif
