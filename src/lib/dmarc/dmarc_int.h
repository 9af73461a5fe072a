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

#endif
