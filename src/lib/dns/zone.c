/*
 * The in-memory zone: an open-addressing hash table of owner nodes keyed
 * by the lower-cased name, each node holding its RRsets (one contiguous
 * array per type, so an answer can point straight at it), its fault rows
 * and an "exists" mark; and a second table of the names above the owners
 * (empty non-terminals). Everything but the tables lives in an arena.
 */
#include "dns/zone.h"

#include <spoofguard/arena.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/ascii.h"

struct rrset {
    struct rrset *next;
    uint16_t type;
    size_t count, cap;
    sg_dns_rr *rrs; /* grown by doubling in the arena; old arrays stay valid */
};

struct fault {
    struct fault *next;
    uint16_t type; /* or SG_DNS_ANY */
    sg_dns_status status;
};

struct node {
    char *name; /* lower-cased, no trailing dot */
    size_t len;
    struct rrset *sets;
    struct fault *faults;
    uint32_t hash;
    uint32_t idx; /* in sg_zone.owners */
    int exists;
};

/* A proper ancestor of an owner: it exists even with no records of its
 * own (an empty non-terminal, RFC 4592 2.2.2, RFC 8020): NODATA, never
 * NXDOMAIN, and a wildcard beside it does not match it. A name of n
 * labels has n - 1 ancestors, so these are kept as small as can be: no
 * node and no copy of the name, only the suffix's hash and which owner it
 * was first seen above (every ancestor is a suffix of its owner's stored
 * name, which is what a lookup compares with). A full node with a copied
 * name per ancestor cost ~40 bytes of memory per input byte for owners of
 * many short labels (F8). */
struct ent {
    uint32_t hash;
    uint32_t owner; /* 1 + index in sg_zone.owners; 0: empty slot */
};

struct sg_zone {
    sg_arena *arena;
    struct node **tab; /* malloc'd; capacity is a power of two */
    size_t cap, used;
    struct node **owners; /* malloc'd; every node, in order of creation */
    size_t ocap;          /* owners holds `used` */
    struct ent *ents;     /* malloc'd on the first ancestor; capacity a power of two */
    size_t ecap, eused;
    size_t nrecords;
};

/* Initial table size; it doubles whenever it gets 70% full so probe
 * sequences stay short (10^4 records load in well under a millisecond). */
#define ZONE_INITIAL_BUCKETS 64

/* A name of at most 255 octets has at most 127 ancestors: their offsets
 * and hashes fit on the stack. Longer names (zone.tsv enforces no length)
 * take the heap. */
#define ZONE_STACK_ANCESTORS 128

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* FNV-1a over the lower-cased octets, last octet first. Taken from the
 * right, the hash of every suffix is a step on the way to the hash of the
 * whole name, so one pass over an owner gives the hashes of all its
 * ancestors (mark_ancestors) instead of one pass per ancestor. */
#define HASH_SEED 2166136261u

static uint32_t hash_step(uint32_t h, unsigned char c)
{
    return (h ^ lower(c)) * 16777619u;
}

static uint32_t name_hash(const char *s, size_t len)
{
    uint32_t h = HASH_SEED;
    while (len > 0)
        h = hash_step(h, (unsigned char)s[--len]);
    return h;
}

static int name_eq(const char *stored, const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        if ((unsigned char)stored[i] != lower((unsigned char)s[i]))
            return 0;
    return stored[len] == '\0';
}

int sg_zone_new(sg_zone **out)
{
    sg_zone *z;
    if (out == NULL)
        return SG_EINVAL;
    *out = NULL;
    z = calloc(1, sizeof(*z));
    if (z == NULL)
        return SG_ENOMEM;
    if (sg_arena_new(&z->arena, 64 * 1024) != SG_OK)
        goto oom;
    z->tab = calloc(ZONE_INITIAL_BUCKETS, sizeof(*z->tab));
    if (z->tab == NULL)
        goto oom;
    z->cap = ZONE_INITIAL_BUCKETS;
    *out = z;
    return SG_OK;
oom:
    sg_arena_free(z->arena);
    free(z);
    return SG_ENOMEM;
}

void sg_zone_free(sg_zone *z)
{
    if (z == NULL)
        return;
    sg_arena_free(z->arena);
    free(z->tab);
    free(z->owners);
    free(z->ents);
    free(z);
}

size_t sg_zone_count(const sg_zone *z)
{
    return z ? z->nrecords : 0;
}

size_t sg_zone_bytes(const sg_zone *z)
{
    if (z == NULL)
        return 0;
    return sizeof(*z) + sg_arena_used(z->arena) + z->cap * sizeof(*z->tab) +
           z->ocap * sizeof(*z->owners) + z->ecap * sizeof(*z->ents);
}

static struct node *node_find(const sg_zone *z, const char *name, size_t len, uint32_t h)
{
    size_t i = h & (z->cap - 1);
    for (;;) {
        struct node *n = z->tab[i];
        if (n == NULL)
            return NULL;
        if (n->hash == h && name_eq(n->name, name, len))
            return n;
        i = (i + 1) & (z->cap - 1);
    }
}

static int grow(sg_zone *z)
{
    size_t ncap = z->cap * 2, i;
    struct node **nt = calloc(ncap, sizeof(*nt));
    if (nt == NULL)
        return SG_ENOMEM;
    for (i = 0; i < z->cap; i++) {
        struct node *n = z->tab[i];
        size_t j;
        if (n == NULL)
            continue;
        j = n->hash & (ncap - 1);
        while (nt[j] != NULL)
            j = (j + 1) & (ncap - 1);
        nt[j] = n;
    }
    free(z->tab);
    z->tab = nt;
    z->cap = ncap;
    return SG_OK;
}

static struct node *node_get(sg_zone *z, const char *name)
{
    size_t len = strlen(name), i;
    struct node *n;
    uint32_t h;

    if (len > 0 && name[len - 1] == '.')
        len--;
    h = name_hash(name, len);
    n = node_find(z, name, len, h);
    if (n != NULL)
        return n;
    if ((z->used + 1) * 10 > z->cap * 7 && grow(z) != SG_OK)
        return NULL;
    if (z->used == z->ocap) {
        size_t ncap = z->ocap ? z->ocap * 2 : ZONE_INITIAL_BUCKETS;
        struct node **no;
        if (ncap > (size_t)UINT32_MAX)
            return NULL; /* ent.owner is 32 bits */
        no = realloc(z->owners, ncap * sizeof(*no));
        if (no == NULL)
            return NULL;
        z->owners = no;
        z->ocap = ncap;
    }
    n = sg_arena_calloc(z->arena, 1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->name = sg_arena_strndup(z->arena, name, len);
    if (n->name == NULL)
        return NULL;
    for (i = 0; i < len; i++)
        n->name[i] = (char)lower((unsigned char)n->name[i]);
    n->len = len;
    n->hash = h;
    n->idx = (uint32_t)z->used;
    z->owners[z->used] = n;
    i = h & (z->cap - 1);
    while (z->tab[i] != NULL)
        i = (i + 1) & (z->cap - 1);
    z->tab[i] = n;
    z->used++;
    return n;
}

/* Whether the ancestor recorded in e is name. */
static int ent_is(const sg_zone *z, const struct ent *e, const char *name, size_t len, uint32_t h)
{
    const struct node *o;
    if (e->hash != h)
        return 0;
    o = z->owners[e->owner - 1];
    return o->len > len && o->name[o->len - len - 1] == '.' &&
           name_eq(o->name + o->len - len, name, len);
}

static int ent_find(const sg_zone *z, const char *name, size_t len, uint32_t h)
{
    size_t i;
    if (z->ecap == 0)
        return 0;
    for (i = h & (z->ecap - 1); z->ents[i].owner != 0; i = (i + 1) & (z->ecap - 1))
        if (ent_is(z, &z->ents[i], name, len, h))
            return 1;
    return 0;
}

/* Record an ancestor of owner known not to be recorded yet. */
static int ent_add(sg_zone *z, const struct node *owner, uint32_t h)
{
    size_t i;
    if ((z->eused + 1) * 10 > z->ecap * 7) {
        size_t ncap = z->ecap ? z->ecap * 2 : ZONE_INITIAL_BUCKETS;
        struct ent *nt = calloc(ncap, sizeof(*nt));
        if (nt == NULL)
            return SG_ENOMEM;
        for (i = 0; i < z->ecap; i++) {
            size_t j;
            if (z->ents[i].owner == 0)
                continue;
            for (j = z->ents[i].hash & (ncap - 1); nt[j].owner != 0; j = (j + 1) & (ncap - 1))
                ;
            nt[j] = z->ents[i];
        }
        free(z->ents);
        z->ents = nt;
        z->ecap = ncap;
    }
    for (i = h & (z->ecap - 1); z->ents[i].owner != 0; i = (i + 1) & (z->ecap - 1))
        ;
    z->ents[i].hash = h;
    z->ents[i].owner = owner->idx + 1;
    z->eused++;
    return SG_OK;
}

struct ancestor {
    size_t off; /* where it starts in the owner's name */
    uint32_t hash;
};

/* Record every ancestor of an owner (below the root) as existing, as an
 * authoritative server sees the names above a record: empty
 * non-terminals. */
static int mark_ancestors(sg_zone *z, const struct node *owner)
{
    struct ancestor stack[ZONE_STACK_ANCESTORS], *anc = stack;
    const char *name = owner->name;
    size_t len = owner->len, n = 0, i, first;
    uint32_t h = HASH_SEED;
    int rc = SG_OK;

    for (i = 0; i + 1 < len; i++)
        if (name[i] == '.')
            n++;
    if (n == 0)
        return SG_OK;
    if (n > ZONE_STACK_ANCESTORS) {
        anc = malloc(n * sizeof(*anc));
        if (anc == NULL)
            return SG_ENOMEM;
    }
    /* One right-to-left pass: at each dot, h is the hash of the suffix to
     * its right. anc[] ends up root-most first. */
    n = 0;
    for (i = len; i-- > 0;) {
        if (name[i] == '.' && i + 1 < len) {
            anc[n].off = i + 1;
            anc[n].hash = h;
            n++;
        }
        h = hash_step(h, (unsigned char)name[i]);
    }
    /* Nearest first: once one is known, so are all above it (they were
     * recorded with it), so a name added under a known parent costs one
     * lookup. */
    for (first = n; first > 0; first--) {
        const struct ancestor *a = &anc[first - 1];
        if (ent_find(z, name + a->off, len - a->off, a->hash))
            break;
    }
    /* Root-most first, so that if memory runs out half-way every name
     * recorded still has all its ancestors recorded, as the lookup above
     * assumes. */
    for (i = first; i < n && rc == SG_OK; i++)
        rc = ent_add(z, owner, anc[i].hash);
    if (anc != stack)
        free(anc);
    return rc;
}

static struct rrset *set_find(const struct node *n, uint16_t type)
{
    struct rrset *s;
    for (s = n->sets; s != NULL; s = s->next)
        if (s->type == type)
            return s;
    return NULL;
}

int sg_zone_add_rr(sg_zone *z, const char *owner, const sg_dns_rr *rr)
{
    struct node *n;
    struct rrset *s;
    sg_dns_rr c;

    if (z == NULL || owner == NULL || rr == NULL)
        return SG_EINVAL;
    c = *rr;
    switch (rr->type) {
    case SG_DNS_A:
    case SG_DNS_AAAA:
        break;
    case SG_DNS_MX:
        if (rr->u.mx.host == NULL)
            return SG_EINVAL;
        c.u.mx.host = sg_arena_strdup(z->arena, rr->u.mx.host);
        if (c.u.mx.host == NULL)
            return SG_ENOMEM;
        break;
    case SG_DNS_PTR:
    case SG_DNS_CNAME:
        if (rr->u.name == NULL)
            return SG_EINVAL;
        c.u.name = sg_arena_strdup(z->arena, rr->u.name);
        if (c.u.name == NULL)
            return SG_ENOMEM;
        break;
    case SG_DNS_TXT:
    case SG_DNS_SPF:
        if (rr->u.txt.data == NULL && rr->u.txt.len > 0)
            return SG_EINVAL;
        c.u.txt.data =
            sg_arena_strndup(z->arena, rr->u.txt.data ? rr->u.txt.data : "", rr->u.txt.len);
        if (c.u.txt.data == NULL)
            return SG_ENOMEM;
        break;
    default:
        return SG_EINVAL;
    }
    n = node_get(z, owner);
    if (n == NULL)
        return SG_ENOMEM;
    s = set_find(n, rr->type);
    if (s == NULL) {
        s = sg_arena_calloc(z->arena, 1, sizeof(*s));
        if (s == NULL)
            return SG_ENOMEM;
        s->type = rr->type;
        /* append so sets keep the order they were first seen in */
        if (n->sets == NULL) {
            n->sets = s;
        } else {
            struct rrset *t = n->sets;
            while (t->next)
                t = t->next;
            t->next = s;
        }
    }
    if (s->count == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 2;
        sg_dns_rr *nr = sg_arena_calloc(z->arena, ncap, sizeof(*nr));
        if (nr == NULL)
            return SG_ENOMEM;
        if (s->count)
            memcpy(nr, s->rrs, s->count * sizeof(*nr));
        s->rrs = nr;
        s->cap = ncap;
    }
    s->rrs[s->count++] = c;
    n->exists = 1;
    z->nrecords++;
    return mark_ancestors(z, n);
}

int sg_zone_mark_exists(sg_zone *z, const char *owner)
{
    struct node *n;
    if (z == NULL || owner == NULL)
        return SG_EINVAL;
    n = node_get(z, owner);
    if (n == NULL)
        return SG_ENOMEM;
    n->exists = 1;
    return mark_ancestors(z, n);
}

int sg_zone_add_fault(sg_zone *z, const char *owner, uint16_t type, sg_dns_status st)
{
    struct node *n;
    struct fault *f;
    if (z == NULL || owner == NULL || type == 0 || (st != SG_DNS_TIMEOUT && st != SG_DNS_SERVFAIL))
        return SG_EINVAL;
    n = node_get(z, owner);
    if (n == NULL)
        return SG_ENOMEM;
    /* "such a name still exists for all other types" */
    n->exists = 1;
    if (mark_ancestors(z, n) != SG_OK)
        return SG_ENOMEM;
    for (f = n->faults; f != NULL; f = f->next)
        if (f->type == type) {
            f->status = st; /* the later row wins */
            return SG_OK;
        }
    f = sg_arena_calloc(z->arena, 1, sizeof(*f));
    if (f == NULL)
        return SG_ENOMEM;
    f->type = type;
    f->status = st;
    f->next = n->faults;
    n->faults = f;
    return SG_OK;
}

/* A type-specific fault beats an ANY one. */
static const struct fault *fault_find(const struct node *n, uint16_t qtype)
{
    const struct fault *f, *any = NULL;
    for (f = n->faults; f != NULL; f = f->next) {
        if (f->type == qtype)
            return f;
        if (f->type == SG_DNS_ANY)
            any = f;
    }
    return any;
}

/* What a name is in the zone: absent, an empty non-terminal (exists, no
 * data of its own), or an owner (*out is its node). */
enum presence { ABSENT, EMPTY, OWNER };

static enum presence name_lookup(const sg_zone *z, const char *name, size_t len,
                                 const struct node **out)
{
    uint32_t h = name_hash(name, len);
    const struct node *n = node_find(z, name, len, h);
    *out = NULL;
    if (n != NULL && n->exists) {
        *out = n;
        return OWNER;
    }
    return ent_find(z, name, len, h) ? EMPTY : ABSENT;
}

/* RFC 4592 3.3.1: for a name that does not exist, the closest encloser is
 * its nearest existing ancestor; the answer is synthesised from
 * "*.<closest encloser>" if that exists, else the name is NXDOMAIN. A
 * wildcard never reaches past an existing name (empty non-terminals
 * included), so only the closest encloser's wildcard is tried. A wildcard
 * that is itself an empty non-terminal (only "x.*.<encloser>" is in the
 * zone) exists with no data: EMPTY. */
static enum presence wildcard_find(const sg_zone *z, const char *name, size_t len,
                                   const struct node **out)
{
    char buf[2 + 256];
    size_t i;
    *out = NULL;
    for (i = 0; i < len; i++) {
        const struct node *enc;
        size_t rest;
        if (name[i] != '.')
            continue;
        rest = len - i - 1;
        if (name_lookup(z, name + i + 1, rest, &enc) == ABSENT)
            continue;
        if (rest + 2 >= sizeof(buf))
            return ABSENT;
        buf[0] = '*';
        buf[1] = '.';
        memcpy(buf + 2, name + i + 1, rest);
        return name_lookup(z, buf, rest + 2, out);
    }
    return ABSENT;
}

void sg_zone_resolve(const sg_zone *z, const char *name, uint16_t qtype, sg_zone_answer *out)
{
    const char *cur = name;
    uint32_t ttl = UINT32_MAX;
    unsigned hops = 0;

    memset(out, 0, sizeof(*out));
    if (z == NULL || name == NULL) {
        out->status = SG_DNS_EFAIL;
        return;
    }
    for (;;) {
        size_t len = strlen(cur);
        const struct node *n;
        const struct fault *f;
        const struct rrset *s;
        enum presence p;

        if (len > 0 && cur[len - 1] == '.')
            len--;
        p = name_lookup(z, cur, len, &n);
        if (p == ABSENT)
            p = wildcard_find(z, cur, len, &n);
        out->cname_hops = hops;
        if (p != OWNER) {
            /* an empty non-terminal has no records and no fault rows */
            out->status = p == EMPTY ? SG_DNS_NODATA : SG_DNS_NXDOMAIN;
            out->ttl = SG_ZONE_NEG_TTL;
            return;
        }
        f = fault_find(n, qtype);
        if (f != NULL) {
            out->status = f->status;
            out->ttl = 0;
            return;
        }
        s = set_find(n, qtype);
        if (s != NULL && s->count > 0) {
            size_t i;
            for (i = 0; i < s->count; i++)
                if (s->rrs[i].ttl < ttl)
                    ttl = s->rrs[i].ttl;
            out->status = SG_DNS_NOERROR;
            out->ttl = ttl;
            out->count = s->count;
            out->rrs = s->rrs;
            return;
        }
        s = qtype != SG_DNS_CNAME ? set_find(n, SG_DNS_CNAME) : NULL;
        if (s != NULL && s->count > 0) {
            if (hops >= SG_ZONE_MAX_CNAME) {
                out->status = SG_DNS_SERVFAIL; /* loop or over-long chain */
                out->ttl = 0;
                return;
            }
            /* The answer may be cached no longer than any link of the
             * chain that produced it. */
            if (s->rrs[0].ttl < ttl)
                ttl = s->rrs[0].ttl;
            cur = s->rrs[0].u.name;
            hops++;
            continue;
        }
        out->status = SG_DNS_NODATA;
        out->ttl = SG_ZONE_NEG_TTL;
        return;
    }
}

/* ------------------------------------------------------------------ */
/* Type column                                                        */
/* ------------------------------------------------------------------ */

static const struct {
    const char *name;
    uint32_t type;
} ztypes[] = {
    {"A", SG_DNS_A},
    {"AAAA", SG_DNS_AAAA},
    {"CNAME", SG_DNS_CNAME},
    {"PTR", SG_DNS_PTR},
    {"MX", SG_DNS_MX},
    {"TXT", SG_DNS_TXT},
    {"SPF", SG_DNS_SPF},
    {"ANY", SG_DNS_ANY},
    {"TIMEOUT", SG_ZONE_T_TIMEOUT},
    {"SERVFAIL", SG_ZONE_T_SERVFAIL},
    {"NXDOMAIN", SG_ZONE_T_NXDOMAIN},
    {"EXISTS", SG_ZONE_T_EXISTS},
};

/* IANA "Resource Record (RR) TYPEs" registry: the ones seen in zones. */
static const char *const other_types[] = {
    "NS",       "MD",    "MF",   "SOA",      "MB",      "MG",      "MR",         "NULL",  "WKS",
    "HINFO",    "MINFO", "RP",   "AFSDB",    "X25",     "ISDN",    "RT",         "NSAP",  "SIG",
    "KEY",      "PX",    "GPOS", "LOC",      "NXT",     "EID",     "NIMLOC",     "SRV",   "ATMA",
    "NAPTR",    "KX",    "CERT", "A6",       "DNAME",   "SINK",    "APL",        "DS",    "SSHFP",
    "IPSECKEY", "RRSIG", "NSEC", "DNSKEY",   "DHCID",   "NSEC3",   "NSEC3PARAM", "TLSA",  "SMIMEA",
    "HIP",      "NINFO", "RKEY", "TALINK",   "CDS",     "CDNSKEY", "OPENPGPKEY", "CSYNC", "ZONEMD",
    "SVCB",     "HTTPS", "NID",  "L32",      "L64",     "LP",      "EUI48",      "EUI64", "URI",
    "CAA",      "AVC",   "DOA",  "AMTRELAY", "RESINFO", "WALLET",  "TA",         "DLV",
};

uint32_t sg_zone_type_lookup(const char *s, size_t len)
{
    size_t i;
    if (s == NULL || len == 0)
        return 0;
    for (i = 0; i < sizeof(ztypes) / sizeof(ztypes[0]); i++)
        if (strlen(ztypes[i].name) == len && sg_ascii_ncasecmp(s, ztypes[i].name, len) == 0)
            return ztypes[i].type;
    /* RFC 3597 5: TYPEnnn */
    if (len > 4 && len <= 9 && sg_ascii_ncasecmp(s, "TYPE", 4) == 0) {
        unsigned long v = 0;
        for (i = 4; i < len; i++) {
            if (s[i] < '0' || s[i] > '9')
                return 0;
            v = v * 10 + (unsigned long)(s[i] - '0');
        }
        if (v == 0 || v > 65535)
            return 0;
        if (v == SG_DNS_A || v == SG_DNS_AAAA || v == SG_DNS_CNAME || v == SG_DNS_PTR ||
            v == SG_DNS_MX || v == SG_DNS_TXT || v == SG_DNS_SPF)
            return (uint32_t)v;
        return SG_ZONE_T_UNKNOWN;
    }
    /* Types we do not store but accept, so that ordinary zone files
     * load: they only mark the owner as existing. A closed list (not "any
     * word") so that a typo in a type is an error, not a silent mark. */
    for (i = 0; i < sizeof(other_types) / sizeof(other_types[0]); i++)
        if (strlen(other_types[i]) == len && sg_ascii_ncasecmp(s, other_types[i], len) == 0)
            return SG_ZONE_T_UNKNOWN;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Files                                                              */
/* ------------------------------------------------------------------ */

int sg_zone_read_file(const char *path, char **out, size_t *len)
{
    FILE *f;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    int rc = SG_OK, err = 0;

    *out = NULL;
    *len = 0;
    f = fopen(path, "rb");
    if (f == NULL)
        return errno == ENOMEM ? SG_ENOMEM : SG_EIO; /* fopen allocates */
    for (;;) {
        size_t r;
        if (cap - n < 4096 + 1) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb;
            if (ncap > (size_t)SG_ZONE_MAX_FILE + 4096 + 1)
                ncap = (size_t)SG_ZONE_MAX_FILE + 4096 + 1;
            if (ncap <= cap) {
                rc = SG_ELIMIT;
                break;
            }
            nb = realloc(buf, ncap);
            if (nb == NULL) {
                rc = SG_ENOMEM;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (n > SG_ZONE_MAX_FILE) {
            rc = SG_ELIMIT;
            break;
        }
        if (r == 0) {
            if (ferror(f))
                rc = SG_EIO, err = errno;
            break;
        }
    }
    fclose(f);
    if (rc != SG_OK) {
        free(buf);
        /* SG_EIO's cause for the caller (EISDIR for a folder), past fclose */
        errno = err;
        return rc;
    }
    if (buf == NULL) {
        buf = malloc(1);
        if (buf == NULL)
            return SG_ENOMEM;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return SG_OK;
}
