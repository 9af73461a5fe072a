/*
 * Internal ARC interfaces for the verdict.
 */
#ifndef SG_ARC_INT_H
#define SG_ARC_INT_H

#include <spoofguard/arc.h>

#include "dkim/bodyhash.h"

/* Lend the verifier the owner's body hashes (the verdict's, shared with
 * the DKIM verifier): from then on the owner feeds the body and finals
 * the set, and sg_arc_verify_body is refused. Call once, before any
 * message; the set must outlive the verifier's use of it. */
void sg_arc_verifier_lend_bodyhash(sg_arc_verifier *v, sg_bodyhash_set *set);
/* The verdict stops waiting: key lookups still out are cancelled and the
 * chain decided with what arrived (a signature whose key is missing is a
 * temperror, so the chain fails temporarily). The done callback does not
 * run. */
void sg_arc_verify_give_up(sg_arc_verifier *v);

#endif
