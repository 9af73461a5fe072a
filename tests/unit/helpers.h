/* Shared test helpers: fixture paths and file loading. */
#ifndef SG_TEST_HELPERS_H
#define SG_TEST_HELPERS_H

#include <openssl/evp.h>

#include <stddef.h>

/* Directory of the conformance suites: $SG_CONFORMANCE_DIR, else the
 * tree's tests/conformance ($SG_CONFORMANCE_DEFAULT, or the path compiled
 * in). Never NULL. */
const char *sg_test_conformance_dir(void);
/* tests/data ($SG_TEST_DATA). */
const char *sg_test_data_dir(void);
/* Join dir + "/" + rel into a static buffer (one at a time). */
const char *sg_test_path(const char *dir, const char *rel);
/* Read a whole file (malloc'd, NUL-terminated); NULL on error. */
char *sg_test_read_file(const char *path, size_t *len);
/* A free name for an SQLite store in /tmp: path is a mkstemp template
 * ("...XXXXXX"), rewritten in place; the file itself is not left there. */
void sg_test_tmp_store(char *path);
/* Remove a store and its -wal and -shm files. */
void sg_test_rm_store(const char *path);
/* Sign one field of a message's single ARC set by hand, for sets our
 * sealer would not make: the ARC-Message-Signature (ams 1; its header
 * hash) or the ARC-Seal (ams 0; the chain hash of RFC 8617 5.1.1 over
 * the one set), computed with the DKIM core as the verifier does. The
 * field's b= must read "b=AAAA", replaced by the signature. msg is
 * freed; the new message is returned (malloc'd), NULL on any error. */
char *sg_test_arc_sign_field(char *msg, int ams, EVP_PKEY *key);

#endif
