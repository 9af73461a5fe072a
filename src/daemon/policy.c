/*
 * Policy snapshots: build, reference counting, and the slot that holds the
 * current one (see policy.h).
 */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spoofguard/outbound.h>

sg_policy *sg_policy_ref(sg_policy *p)
{
    atomic_fetch_add(&p->refs, 1);
    return p;
}

void sg_policy_unref(sg_policy *p)
{
    if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    sg_maps_free(p->maps);
    sg_dmarc_psl_free(p->psl);
    sg_config_free(&p->cfg);
    free(p);
}

/* Takes over cfg's contents on success. */
int sg_policy_build(sg_policy **out, sg_config *cfg, char *err, size_t errlen)
{
    sg_policy *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (sg_maps_load(&p->maps, cfg, err, errlen) != 0) {
        free(p);
        return -1;
    }
    /* one list for the snapshot's life: a reload reads a newer one */
    int rc = sg_dmarc_psl_open(&p->psl, cfg->public_suffix_list);
    if (rc != 0 && rc != SG_EUNSUPPORTED) {
        if (rc == SG_EIO)
            snprintf(err, errlen, "public_suffix_list %s: cannot load the list",
                     cfg->public_suffix_list);
        else
            snprintf(err, errlen, "out of memory");
        sg_maps_free(p->maps);
        free(p);
        return -1;
    }
    /* The organisation's domains for the outbound engine: besides its
     * own outbound_internal_domain list, every domain we protect or sign
     * for (recipients there are internal). */
    for (size_t i = 0; i < cfg->n_protected_domains; i++)
        if (sg_ob_policy_add_internal_domain(cfg->ob_policy, cfg->protected_domains[i]) != 0)
            goto oom;
    size_t nk;
    sg_map_key *keys = sg_maps_keys(p->maps, &nk);
    for (size_t i = 0; i < nk; i++)
        if (sg_ob_policy_add_internal_domain(cfg->ob_policy, keys[i].domain) != 0)
            goto oom;
    p->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    atomic_init(&p->refs, 1);
    if (gethostname(p->hostname, sizeof(p->hostname) - 1) != 0)
        strcpy(p->hostname, "localhost");
    p->authserv_id = p->cfg.authserv_id ? p->cfg.authserv_id : p->hostname;
    *out = p;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    sg_maps_free(p->maps);
    sg_dmarc_psl_free(p->psl);
    free(p);
    return -1;
}

void sg_policy_slot_init(sg_policy_slot *slot, sg_policy *p)
{
    pthread_mutex_init(&slot->lock, NULL);
    slot->cur = p;
    atomic_init(&slot->swaps, 0);
}

sg_policy *sg_policy_slot_get(sg_policy_slot *slot)
{
    pthread_mutex_lock(&slot->lock);
    sg_policy *p = sg_policy_ref(slot->cur);
    pthread_mutex_unlock(&slot->lock);
    return p;
}

unsigned sg_policy_slot_swaps(sg_policy_slot *slot)
{
    return atomic_load_explicit(&slot->swaps, memory_order_acquire);
}

int sg_policy_slot_renew(sg_policy_slot *slot, sg_policy **held, unsigned *swaps)
{
    if (atomic_load_explicit(&slot->swaps, memory_order_acquire) == *swaps)
        return 0;
    pthread_mutex_lock(&slot->lock);
    sg_policy *p = sg_policy_ref(slot->cur);
    *swaps = atomic_load_explicit(&slot->swaps, memory_order_relaxed);
    pthread_mutex_unlock(&slot->lock);
    sg_policy_unref(*held);
    *held = p;
    return 1;
}

void sg_policy_slot_swap(sg_policy_slot *slot, sg_policy *p)
{
    pthread_mutex_lock(&slot->lock);
    sg_policy *old = slot->cur;
    slot->cur = p;
    atomic_fetch_add_explicit(&slot->swaps, 1, memory_order_release);
    pthread_mutex_unlock(&slot->lock);
    sg_policy_unref(old);
}

void sg_policy_slot_destroy(sg_policy_slot *slot)
{
    sg_policy_unref(slot->cur);
    slot->cur = NULL;
    pthread_mutex_destroy(&slot->lock);
}
