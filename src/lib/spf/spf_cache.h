/*
 * Internal: the SPF record cache (see sg_spf_cache in spoofguard/spf.h).
 */
#ifndef SG_SPF_CACHE_H
#define SG_SPF_CACHE_H

#include <spoofguard/spf.h>

typedef enum {
    SG_SPF_CACHE_RECORD,    /* one parsed record */
    SG_SPF_CACHE_NONE,      /* no SPF record (NXDOMAIN, NODATA or no v=spf1) */
    SG_SPF_CACHE_MULTIPLE,  /* several v=spf1 records (RFC 7208 4.5: permerror) */
    SG_SPF_CACHE_SYNTAX,    /* one record that does not parse */
    SG_SPF_CACHE_TEMPERROR, /* DNS error: never stored */
} sg_spf_cache_kind;

typedef struct {
    sg_spf_cache_kind kind;
    sg_spf_record *rec; /* RECORD: a reference owned by whoever holds the entry */
    const char *reason; /* SYNTAX: static text */
    uint32_t ttl;
} sg_spf_cache_entry;

/* A fresh entry for the domain (case-insensitive), or NULL. The pointer
 * is valid until the next cache call. */
const sg_spf_cache_entry *sg_spf_cache_get(sg_spf_cache *cache, const char *domain);
/* Store (the cache takes its own record reference). TEMPERROR entries
 * and zero TTLs are not stored. */
void sg_spf_cache_put(sg_spf_cache *cache, const char *domain, const sg_spf_cache_entry *e);

#endif
