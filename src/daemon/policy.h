/*
 * The policy snapshot: the configuration and its tables, built once, shared
 * read-only by every worker and swapped whole on SIGHUP. A message is
 * judged with the snapshot current at its MAIL (a reference each session).
 */
#ifndef SG_DAEMON_POLICY_H
#define SG_DAEMON_POLICY_H

#include <pthread.h>
#include <stdatomic.h>

#include <spoofguard/dmarc.h>

#include "config.h"
#include "maps.h"

/* What a session needs of the configuration, swapped whole on SIGHUP;
 * a message keeps the one its MAIL found until it is answered. */
typedef struct sg_policy {
    atomic_int refs;
    sg_config cfg;
    sg_maps *maps;
    sg_dmarc_psl *psl;       /* cfg.public_suffix_list or the system's newest; NULL: none at all */
    const char *authserv_id; /* cfg.authserv_id or the host name */
    char hostname[256];
} sg_policy;

/* Takes over cfg's contents on success. */
int sg_policy_build(sg_policy **out, sg_config *cfg, char *err, size_t errlen);
sg_policy *sg_policy_ref(sg_policy *p);
void sg_policy_unref(sg_policy *p);

/* The current snapshot, read by the workers at each accept and each
 * message, and replaced by the main thread on reload. */
typedef struct sg_policy_slot {
    pthread_mutex_t lock;
    sg_policy *cur;    /* a reference */
    atomic_uint swaps; /* how many times cur was replaced */
} sg_policy_slot;

void sg_policy_slot_init(sg_policy_slot *slot, sg_policy *p); /* takes over p's reference */
sg_policy *sg_policy_slot_get(sg_policy_slot *slot);          /* a new reference */
/* What a holder of a snapshot remembers to renew it: the swaps read
 * before it was taken (a swap in between costs one needless renewal). */
unsigned sg_policy_slot_swaps(sg_policy_slot *slot);
/* *held replaced by the current snapshot when a swap came since *swaps
 * (its reference dropped, *swaps updated); 1 when it was. One atomic load
 * when nothing changed. */
int sg_policy_slot_renew(sg_policy_slot *slot, sg_policy **held, unsigned *swaps);
/* Installs p (taking over its reference) and drops the old one. */
void sg_policy_slot_swap(sg_policy_slot *slot, sg_policy *p);
void sg_policy_slot_destroy(sg_policy_slot *slot);

#endif
