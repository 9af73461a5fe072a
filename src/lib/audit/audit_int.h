/*
 * Internal to the audit engine (not exported): what records.c tells
 * audit.c beyond the public record checks.
 */
#ifndef SG_AUDIT_INT_H
#define SG_AUDIT_INT_H

#include <spoofguard/audit.h>

/* sg_audit_mtasts_policy_parse, and with repeated non-NULL the first key
 * of version, mode and max_age that appears twice ("mode"...), or NULL:
 * the first one counts, senders that keep the last read another policy. */
int sg_audit_policy_parse(const char *text, size_t len, sg_audit_mtasts_policy *out,
                          const char **reason, const char **repeated);

#endif
