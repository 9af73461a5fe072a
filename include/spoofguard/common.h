/*
 * spoofguard/common.h - error codes and small shared types.
 *
 * Every public function that can fail returns an int: 0 on success, a
 * negative SG_E* code otherwise. A verification *outcome* (pass, fail,
 * temperror...) is never an error return: it is data in a result struct.
 */
#ifndef SPOOFGUARD_COMMON_H
#define SPOOFGUARD_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SG_EXTERN __attribute__((visibility("default")))
#define SG_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define SG_EXTERN
#define SG_WARN_UNUSED
#endif

typedef enum {
    SG_OK = 0,
    SG_ENOMEM = -1,    /* allocation failed */
    SG_EINVAL = -2,    /* invalid argument (a caller bug) */
    SG_ESYNTAX = -3,   /* input does not parse */
    SG_ELIMIT = -4,    /* a configured hard limit was exceeded */
    SG_EIO = -5,       /* a file or socket operation failed (see errno) */
    SG_ENOTFOUND = -6, /* the thing asked for does not exist */
    SG_ESTATE = -7,    /* call not valid in the object's current state */
    SG_ECRYPTO = -8,   /* the crypto library reported an error */
    SG_EPERM = -9,     /* refused for safety (e.g. key file permissions) */
    SG_EEXIST = -10,   /* refusing to overwrite */
    SG_ETIMEOUT = -11, /* an operation ran out of time */
    SG_EDNS = -12,     /* resolver set-up failed */
    SG_EUNSUPPORTED = -13,
} sg_error;

/* Short English description of an SG_E* code; never NULL. */
SG_EXTERN const char *sg_strerror(int err);

/* Library version string, e.g. "0.1.0". */
SG_EXTERN const char *sg_version(void);

/* Make OpenSSL ready for what the library asks of it, and check it: call
 * once at start, before threads and before the first message. OpenSSL
 * sets itself up on first use, and in OpenSSL 3.0 an allocation failing
 * there can leave it failing every later key for the life of the process:
 * done here, such a failure is an SG_ECRYPTO at start-up, not a message
 * judged on it. SG_OK or SG_ECRYPTO. */
SG_EXTERN int sg_crypto_init(void);

/* Is name equal to domain or a subdomain of it? ASCII case-insensitive;
 * one trailing dot on either side is ignored; an empty domain contains
 * nothing; NULL is never within. The one rule the library and the daemon
 * use (DKIM i=, SPF, DMARC, protected and listed domains). Internationalised
 * names compare in their A-label form. */
SG_EXTERN int sg_domain_within(const char *name, const char *domain);

#ifdef __cplusplus
}
#endif
#endif
