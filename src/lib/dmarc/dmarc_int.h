/*
 * Internal helpers shared by the DMARC files.
 */
#ifndef SG_DMARC_INT_H
#define SG_DMARC_INT_H

#include <spoofguard/dmarc.h>

/* Maximum octets of a DNS name in text form without the trailing dot
 * (RFC 1035 2.3.4: 255 on the wire = 253 in text). */
#define SG_DMARC_MAX_NAME 253

/* Number of labels of a normalised (dot-separated, no trailing dot) name. */
size_t sg_dmarc_label_count(const char *name);
/* Pointer to the suffix of `name` that has `keep` labels (keep >= 1). */
const char *sg_dmarc_suffix(const char *name, size_t keep);

/* The public suffix list the check consults: psl's, or libpsl's built-in
 * list when psl is NULL (NULL when libpsl was built without one). */
const void *sg_dmarc_psl_ctx(const sg_dmarc_psl *psl);
/* The registrable domain of a lower-case name by ctx, a pointer into name;
 * NULL when name is a public suffix or ctx is NULL. */
const char *sg_dmarc_psl_reg(const void *ctx, const char *name);
/* The nearest common ancestor-or-self of two names (ASCII case and a
 * trailing dot aside): a pointer into a, NULL when they share no label. */
const char *sg_dmarc_common_ancestor(const char *a, const char *b);

#endif
