/*
 * ARC sealing of inbound mail that spoofguardd passes on (arc_seal_key):
 * the daemon as a forwarder (a list, an alias expander) adds one ARC set
 * (RFC 8617 5.1) recording its own Authentication-Results, so that the
 * next hop can trust what it saw here.
 *
 * The message is read once: the session feeds the same bytes to the
 * verdict and to the sealer; the sealer learns cv= and the results from
 * the verdict. The private key is the signer process's: the caller's
 * sign function asks it, one "sign this SHA-256 digest" per signature
 * (two per set).
 */
#ifndef SG_DAEMON_ARCSEAL_H
#define SG_DAEMON_ARCSEAL_H

#include <stddef.h>
#include <stdint.h>

#include <spoofguard/verdict.h>

#include "maps.h"

typedef struct sg_arcseal sg_arcseal;

/* A sealer for one message with key (the key table's arc_seal_key, an
 * RSA key: sg_maps_load checks it), under our authserv_id. 0 or SG_E*. */
int sg_arcseal_begin(sg_arcseal **out, const sg_map_key *key, const char *authserv_id);
/* The message bytes as the verdict gets them. 0, or the parser's error
 * (the verdict refuses such a message anyway). */
int sg_arcseal_feed(sg_arcseal *a, const char *data, size_t len);
/* After the verdict. The set takes two signatures of the key (the
 * ARC-Message-Signature's, then the ARC-Seal's, which covers the first),
 * asked of the signer one after the other without blocking: prepare()
 * gives the first digest to sign, signed() takes each signature and gives
 * the next digest. Both return 1 (digest written: sign it), 0 (no set:
 * an ended chain, 50 sets, nothing we can vouch for; or, for signed(),
 * the set is complete) or an SG_E* error (no set). */
int sg_arcseal_prepare(sg_arcseal *a, const sg_verdict_result *vr, uint8_t digest[32]);
int sg_arcseal_signed(sg_arcseal *a, const uint8_t *sig, size_t siglen, uint8_t digest[32]);
/* The complete set: the three fields to insert at the top, in insertion
 * order (ARC-Authentication-Results, ARC-Message-Signature, ARC-Seal, so
 * that the seal ends on top), as names and values (after "Name: ", LF
 * folds, no final line end: the session adds the leading space if the
 * MTA wants it). Returns 3, or 0 when the set is not complete. Valid
 * until sg_arcseal_free. */
size_t sg_arcseal_fields(const sg_arcseal *a, const char *names[3], const char *values[3]);
void sg_arcseal_free(sg_arcseal *a);

#endif
