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
/* sign: the private-key operation, done elsewhere (the signer process):
 * sign digest with key, as sg_dkim_signkey_sign_digest does. */
typedef int (*sg_arcseal_sign_fn)(const sg_map_key *key, const uint8_t digest[32], uint8_t *sig,
                                  size_t *len, void *payload);
int sg_arcseal_begin(sg_arcseal **out, const sg_map_key *key, const char *authserv_id,
                     sg_arcseal_sign_fn sign, void *payload);
/* The message bytes as the verdict gets them. 0, or the parser's error
 * (the verdict refuses such a message anyway). */
int sg_arcseal_feed(sg_arcseal *a, const char *data, size_t len);
/* After the verdict: the three fields to insert at the top, in insertion
 * order (ARC-Authentication-Results, ARC-Message-Signature, ARC-Seal, so
 * that the seal ends on top), as names and values (after "Name: ", LF
 * folds, no final line end: the session adds the leading space if the
 * MTA wants it). *n is 0 when no set is added (an ended
 * chain, 50 sets, no chain result). Valid until sg_arcseal_free. */
int sg_arcseal_finish(sg_arcseal *a, const sg_verdict_result *vr, const char *names[3],
                      const char *values[3], size_t *n);
void sg_arcseal_free(sg_arcseal *a);

#endif
