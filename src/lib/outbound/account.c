/*
 * The account record: its windows, its recipient history, its encoding
 * (versioned, length- and checksum-checked: a store hands back whatever
 * bytes it holds, and half a record must never be trusted), block and
 * release, and its JSON view.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "ob.h"

static const struct {
    int width, n;
} ring_shape[W_COUNT] = {
    [W_MINUTE] = {10, 6},
    [W_HOUR] = {300, 12},
    [W_DAY] = {3600, 24},
};

int sg_ob_account_new(sg_ob_account **out)
{
    if (out == NULL)
        return SG_EINVAL;
    *out = calloc(1, sizeof(**out));
    return *out ? SG_OK : SG_ENOMEM;
}

void sg_ob_account_free(sg_ob_account *a)
{
    free(a);
}

/* ---- windows ---- */

uint32_t sg_ob_ring_sum(const sg_ob_account *a, int w, int f, int64_t t)
{
    const ob_ring *r = &a->ring[w];
    int64_t idx = t / ring_shape[w].width + 1;
    uint64_t sum = 0;
    for (int i = 0; i < ring_shape[w].n; i++)
        if (r->stamp[i] != 0 && (int64_t)r->stamp[i] <= idx &&
            (int64_t)r->stamp[i] > idx - ring_shape[w].n)
            sum += r->c[i][f];
    return sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
}

void sg_ob_ring_add(sg_ob_account *a, int f, int64_t t, uint32_t n)
{
    for (int w = 0; w < W_COUNT; w++) {
        ob_ring *r = &a->ring[w];
        uint32_t idx = (uint32_t)(t / ring_shape[w].width + 1);
        int slot = (int)(idx % (uint32_t)ring_shape[w].n);
        if (r->stamp[slot] != idx) {
            r->stamp[slot] = idx;
            memset(r->c[slot], 0, sizeof(r->c[slot]));
        }
        r->c[slot][f] = ob_sat_add(r->c[slot][f], n);
    }
}

void sg_ob_ring_merge(sg_ob_account *dst, const sg_ob_account *src, int64_t not_before)
{
    for (int w = 0; w < W_COUNT; w++)
        for (int i = 0; i < ring_shape[w].n; i++) {
            uint32_t ss = src->ring[w].stamp[i], ds = dst->ring[w].stamp[i];
            /* empty, from before not_before, or an older turn of the ring */
            if (ss == 0 || (int64_t)(ss - 1) * ring_shape[w].width < not_before || ss < ds)
                continue;
            if (ss != ds) {
                dst->ring[w].stamp[i] = ss;
                memset(dst->ring[w].c[i], 0, sizeof(dst->ring[w].c[i]));
            }
            for (int f = 0; f < F_COUNT; f++)
                dst->ring[w].c[i][f] = ob_sat_add(dst->ring[w].c[i][f], src->ring[w].c[i][f]);
        }
}

void sg_ob_ring_clear(sg_ob_account *a)
{
    memset(a->ring, 0, sizeof(a->ring));
}

/* ---- recipient history ---- */

/* FNV-1a, 64 bits: the record's checksum and the body fingerprints, where
 * a collision gains an outsider nothing. Not for the recipient history
 * (below): histories made before version 4 of the record used it. */
uint64_t sg_ob_hash(const char *s, size_t n, int fold_case)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (fold_case && c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h ^= c;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* HMAC-SHA256 under the key k[0] || k[1] (two little-endian words), its
 * first 8 bytes as a little-endian word, over s with ASCII case folded if
 * asked. HMAC rather than the faster SipHash: it is in every OpenSSL
 * provider, FIPS's included, where a missing SIPHASH failed every outbound
 * decision (rev21 R-6); ~1 us an address. SG_OK, SG_ENOMEM, or SG_ECRYPTO
 * when OpenSSL has no HMAC-SHA256 at all. */
int sg_ob_keyed_hash(const uint64_t k[2], const char *s, size_t n, int fold_case, uint64_t *out)
{
    unsigned char key[16], buf[256], d[32];
    size_t got = 0;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                           OSSL_PARAM_END};
    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)(k[i / 8] >> (8 * (i % 8)));
    ERR_clear_error();
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    int ok = c != NULL && EVP_MAC_init(c, key, sizeof(key), params) == 1;
    for (size_t i = 0; ok && i < n;) {
        size_t m = 0;
        for (; m < sizeof(buf) && i < n; i++) {
            unsigned char ch = (unsigned char)s[i];
            buf[m++] = fold_case && ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch - 'A' + 'a') : ch;
        }
        ok = EVP_MAC_update(c, buf, m) == 1;
    }
    ok = ok && EVP_MAC_final(c, d, &got, sizeof(d)) == 1 && got == sizeof(d);
    EVP_MAC_CTX_free(c);
    int nomac = mac == NULL;
    EVP_MAC_free(mac);
    OPENSSL_cleanse(key, sizeof(key));
    ERR_clear_error();
    if (!ok)
        return nomac ? SG_ECRYPTO : SG_ENOMEM;
    *out = 0;
    for (int i = 7; i >= 0; i--)
        *out = *out << 8 | d[i];
    return SG_OK;
}

int sg_ob_history_key(sg_ob_account *a)
{
    uint64_t k[2] = {0, 0};
    if (a->hkey[0] | a->hkey[1])
        return SG_OK;
    while ((k[0] | k[1]) == 0) /* all zeros stands for "no key yet" */
        if (getrandom(k, sizeof(k), 0) != (ssize_t)sizeof(k))
            return SG_EIO;
    a->hkey[0] = k[0];
    a->hkey[1] = k[1];
    return SG_OK;
}

int sg_ob_rcpt_hash(const sg_ob_account *a, const char *s, uint64_t *out)
{
    return sg_ob_keyed_hash(a->hkey, s, strlen(s), 1, out);
}

#define BLOOM_BITS (OB_BLOOM_WORDS * 64)
_Static_assert(BLOOM_BITS <= 65536 && (BLOOM_BITS & (BLOOM_BITS - 1)) == 0 && OB_BLOOM_K <= 4,
               "a probe position is a 16-bit slice of the keyed hash");

/* The probes are the four 16-bit slices of the keyed hash (13 bits of
 * each for 8,192 bits): all of it picks them, none from a part an
 * outsider could aim at. An address that is not in the history passes
 * only by the filter's own false positives (~1% when full), which no one
 * without the key can tell from the others. */
static int gen_has(const uint64_t *bits, uint64_t h)
{
    for (uint32_t i = 0; i < OB_BLOOM_K; i++) {
        uint32_t b = (uint32_t)(h >> (16 * i)) & (BLOOM_BITS - 1);
        if (!(bits[b / 64] & (1ull << (b % 64))))
            return 0;
    }
    return 1;
}

/* A generation an older record filled: FNV-1a, double hashing. */
static int gen_has_unkeyed(const uint64_t *bits, uint64_t h)
{
    uint32_t h1 = (uint32_t)h, h2 = (uint32_t)(h >> 32) | 1;
    for (uint32_t i = 0; i < OB_BLOOM_K; i++) {
        uint32_t b = (h1 + i * h2) % BLOOM_BITS;
        if (!(bits[b / 64] & (1ull << (b % 64))))
            return 0;
    }
    return 1;
}

int sg_ob_bloom_has(const sg_ob_account *a, const char *addr, int keyed_only, uint64_t *keyed)
{
    uint64_t h, old = 0;
    int rc = sg_ob_rcpt_hash(a, addr, &h);
    if (rc != SG_OK)
        return rc;
    if (keyed != NULL)
        *keyed = h;
    if (a->bloom_legacy && !keyed_only) /* an older record's: no other needs it */
        old = sg_ob_hash(addr, strlen(addr), 1);
    for (uint32_t g = 0; g < 2; g++) {
        int unkeyed = (a->bloom_legacy >> g) & 1;
        if (unkeyed ? !keyed_only && gen_has_unkeyed(a->bloom[g], old) : gen_has(a->bloom[g], h))
            return 1;
    }
    return 0;
}

/* The older generation cleared, and current. */
static uint32_t turn_over(sg_ob_account *a)
{
    uint32_t cur = (a->bloom_cur & 1) ^ 1;
    a->bloom_cur = cur;
    memset(a->bloom[cur], 0, sizeof(a->bloom[cur]));
    a->bloom_n[cur] = 0;
    a->bloom_legacy &= ~(1u << cur);
    return cur;
}

int sg_ob_bloom_add(sg_ob_account *a, const char *addr)
{
    uint64_t h;
    int rc = sg_ob_rcpt_hash(a, addr, &h);
    uint32_t cur = a->bloom_cur & 1;
    if (rc != SG_OK)
        return rc;
    if (!(a->bloom_legacy & (1u << cur)) && gen_has(a->bloom[cur], h))
        return SG_OK;
    /* the older generation goes; what it knew and was used since has been
     * copied into the newer one by this function. An unkeyed generation
     * takes no keyed bits: it goes first, as if full. */
    if (a->bloom_n[cur] >= OB_BLOOM_CAPACITY || a->bloom_legacy & (1u << cur))
        cur = turn_over(a);
    for (uint32_t i = 0; i < OB_BLOOM_K; i++) {
        uint32_t b = (uint32_t)(h >> (16 * i)) & (BLOOM_BITS - 1);
        a->bloom[cur][b / 64] |= 1ull << (b % 64);
    }
    a->bloom_n[cur]++;
    return SG_OK;
}

int sg_ob_bloom_merge(sg_ob_account *dst, const sg_ob_account *src)
{
    int src_keyed = (src->hkey[0] | src->hkey[1]) != 0;
    if (!src_keyed)
        return 0;
    if ((dst->hkey[0] | dst->hkey[1]) == 0) { /* nothing keyed in dst yet */
        dst->hkey[0] = src->hkey[0];
        dst->hkey[1] = src->hkey[1];
    }
    if (dst->hkey[0] != src->hkey[0] || dst->hkey[1] != src->hkey[1])
        return 0;
    uint32_t cur = dst->bloom_cur & 1;
    if (dst->bloom_legacy & (1u << cur))
        cur = turn_over(dst);
    uint32_t n = dst->bloom_n[cur];
    for (int g = 0; g < 2; g++) {
        if (src->bloom_legacy & (1u << g))
            continue;
        for (int i = 0; i < OB_BLOOM_WORDS; i++)
            dst->bloom[cur][i] |= src->bloom[g][i];
        n = ob_sat_add(n, src->bloom_n[g]);
    }
    /* at most full: the next new recipient turns the generation over (and
     * a count past what decode accepts would lose the whole record) */
    dst->bloom_n[cur] = n < OB_BLOOM_CAPACITY ? n : OB_BLOOM_CAPACITY;
    return 1;
}

/* ---- encoding ---- */

/* The record's fields in their encoded order: each a run of count
 * little-endian integers of size bytes. Adding a field means a new
 * version; decode refuses any other. */
#define OB_FIELD(m, sz)                                                                            \
    {                                                                                              \
        offsetof(sg_ob_account, m), sz, sizeof(((sg_ob_account *)0)->m) / sz                       \
    }
static const struct {
    size_t off, size, count;
} fields[] = {
    OB_FIELD(created, 8),
    OB_FIELD(last_t, 8),
    OB_FIELD(blocked_since, 8),
    OB_FIELD(released_at, 8),
    OB_FIELD(blocked, 4),
    OB_FIELD(block_reasons, 4),
    OB_FIELD(ring, 4),
    OB_FIELD(base_hour, 8),
    OB_FIELD(cur, 4),
    OB_FIELD(ewma_rcpt, 4),
    OB_FIELD(ewma_new, 4),
    OB_FIELD(ewma_int, 4),
    OB_FIELD(peak_rcpt, 4),
    OB_FIELD(peak_new, 4),
    OB_FIELD(peak_int, 4),
    OB_FIELD(base_hours, 4),
    OB_FIELD(bloom, 8),
    OB_FIELD(bloom_n, 4),
    OB_FIELD(bloom_cur, 4),
    OB_FIELD(net, 1),
    OB_FIELD(net_first, 8),
    OB_FIELD(net_last, 8),
    OB_FIELD(nnet, 4),
    OB_FIELD(body, 8),
    OB_FIELD(body_t, 8),
    OB_FIELD(body_rcpts, 4),
    /* version 3 */
    OB_FIELD(bounced, 8),
    OB_FIELD(bounced_t, 8),
    /* version 4 */
    OB_FIELD(hkey, 8),
    OB_FIELD(bloom_legacy, 4),
    OB_FIELD(bounced_by, 8),
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))
#define NFIELDS_V3 (NFIELDS - 3)    /* version 3 ends with bounced_t */
#define NFIELDS_V2 (NFIELDS_V3 - 2) /* versions 1 and 2 end with body_rcpts */

#define OB_MAGIC "SGOB"
#define OB_VERSION_PLAIN 1 /* the fields up to body_rcpts as they are */
#define OB_VERSION_2 2     /* the same bytes with their zero runs packed */
#define OB_VERSION_3 3     /* the fields up to bounced_t, packed */
#define OB_VERSION 4       /* all the fields, packed */
#define OB_HEADER 12       /* magic, version (2), reserved (2), length (4) */
#define OB_TRAILER 8       /* FNV-1a 64 of everything before it */

/* The bytes of the first nf fields (versions 1 and 2: 6,384; 3: 7,408;
 * 4: 7,940). */
static size_t payload_size(size_t nf)
{
    size_t n = 0;
    for (size_t i = 0; i < nf; i++)
        n += fields[i].size * fields[i].count;
    return n;
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t load(const void *p, size_t size)
{
    switch (size) {
    case 1:
        return *(const uint8_t *)p;
    case 4:
        return *(const uint32_t *)p;
    default:
        return *(const uint64_t *)p;
    }
}

static void store(void *p, size_t size, uint64_t v)
{
    switch (size) {
    case 1:
        *(uint8_t *)p = (uint8_t)v;
        break;
    case 4:
        *(uint32_t *)p = (uint32_t)v;
        break;
    default:
        *(uint64_t *)p = v;
        break;
    }
}

static void payload_put(const sg_ob_account *a, uint8_t *p, size_t nf)
{
    for (size_t i = 0; i < nf; i++) {
        const uint8_t *base = (const uint8_t *)a + fields[i].off;
        for (size_t j = 0; j < fields[i].count; j++, p += fields[i].size)
            put_le(p, load(base + j * fields[i].size, fields[i].size), fields[i].size);
    }
}

static void payload_get(sg_ob_account *a, const uint8_t *p, size_t nf)
{
    for (size_t i = 0; i < nf; i++) {
        uint8_t *base = (uint8_t *)a + fields[i].off;
        for (size_t j = 0; j < fields[i].count; j++, p += fields[i].size)
            store(base + j * fields[i].size, fields[i].size, get_le(p, fields[i].size));
    }
}

/*
 * Zero runs packed. Most of a record is zeros (ring slots of windows not
 * used yet, Bloom bits, networks and bodies not seen): an ordinary account
 * packs to a few hundred bytes instead of 6,384, and every decision moves
 * its records to the store and back (Redis: twice over the network).
 * A token byte t < 0x80 is followed by t + 1 literal bytes; t >= 0x80
 * stands for (t & 0x7f) + 1 zero bytes. Worst case: one token per 128
 * literal bytes (6,434 bytes).
 */
#define PACK_RUN 128

static size_t pack(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        size_t z = 0;
        while (i + z < n && in[i + z] == 0 && z < PACK_RUN)
            z++;
        /* a lone zero inside literals costs less as a literal */
        if (z >= 2 || (z == 1 && i + 1 == n)) {
            out[o++] = (uint8_t)(0x80 | (z - 1));
            i += z;
            continue;
        }
        size_t l = 0;
        while (i + l < n && l < PACK_RUN &&
               !(in[i + l] == 0 && (i + l + 1 == n || in[i + l + 1] == 0)))
            l++;
        out[o++] = (uint8_t)(l - 1);
        memcpy(out + o, in + i, l);
        o += l;
        i += l;
    }
    return o;
}

/* 0, or -1 when the stream does not unpack to exactly n bytes. */
static int unpack(const uint8_t *in, size_t len, uint8_t *out, size_t n)
{
    size_t i = 0, o = 0;
    while (i < len) {
        uint8_t t = in[i++];
        size_t run = (size_t)(t & 0x7f) + 1;
        if (run > n - o)
            return -1;
        if (t & 0x80) {
            memset(out + o, 0, run);
        } else {
            if (run > len - i)
                return -1;
            memcpy(out + o, in + i, run);
            i += run;
        }
        o += run;
    }
    return o == n ? 0 : -1;
}

/* The frame around a body already at buf + OB_HEADER: magic, version,
 * length, and the checksum of it all. Returns the record's length. */
static size_t frame(uint8_t *buf, unsigned version, size_t body)
{
    size_t total = OB_HEADER + body + OB_TRAILER;
    memcpy(buf, OB_MAGIC, 4);
    put_le(buf + 4, version, 2);
    put_le(buf + 6, 0, 2);
    put_le(buf + 8, total, 4);
    put_le(buf + total - OB_TRAILER, sg_ob_hash((const char *)buf, total - OB_TRAILER, 0), 8);
    return total;
}

static int encode(const sg_ob_account *a, unsigned version, uint8_t *buf, size_t cap, size_t *len)
{
    uint8_t plain[8192], packed[8192 + 8192 / PACK_RUN];
    size_t nf = version == OB_VERSION     ? NFIELDS
                : version == OB_VERSION_3 ? NFIELDS_V3
                                          : NFIELDS_V2,
           n = payload_size(nf), p;
    if (a == NULL || buf == NULL || len == NULL)
        return SG_EINVAL;
    if (n > sizeof(plain))
        return SG_ELIMIT;
    payload_put(a, plain, nf);
    p = version == OB_VERSION_PLAIN ? n : pack(plain, n, packed);
    if (cap < OB_HEADER + p + OB_TRAILER)
        return SG_ELIMIT;
    memcpy(buf + OB_HEADER, version == OB_VERSION_PLAIN ? plain : packed, p);
    *len = frame(buf, version, p);
    return SG_OK;
}

int sg_ob_account_encode(const sg_ob_account *a, uint8_t *buf, size_t cap, size_t *len)
{
    return encode(a, OB_VERSION, buf, cap, len);
}

int sg_ob_account_encode_old(const sg_ob_account *a, unsigned version, uint8_t *buf, size_t cap,
                             size_t *len)
{
    if (version != OB_VERSION_PLAIN && version != OB_VERSION_2 && version != OB_VERSION_3)
        return SG_EINVAL;
    return encode(a, version, buf, cap, len);
}

int sg_ob_account_decode(sg_ob_account *a, const uint8_t *buf, size_t len)
{
    uint8_t plain[8192];
    size_t nf = NFIELDS_V2, n = payload_size(nf);
    sg_ob_account tmp;
    if (a == NULL || (buf == NULL && len > 0))
        return SG_EINVAL;
    if (len < OB_HEADER + OB_TRAILER || len > SG_OB_ACCOUNT_MAX ||
        payload_size(NFIELDS) > sizeof(plain) || memcmp(buf, OB_MAGIC, 4) != 0 ||
        get_le(buf + 8, 4) != len)
        return SG_ESYNTAX;
    if (get_le(buf + len - OB_TRAILER, 8) != sg_ob_hash((const char *)buf, len - OB_TRAILER, 0))
        return SG_ESYNTAX;
    const uint8_t *body = buf + OB_HEADER;
    size_t blen = len - OB_HEADER - OB_TRAILER;
    switch (get_le(buf + 4, 2)) {
    case OB_VERSION_PLAIN: /* written before records were packed */
        if (blen != n)
            return SG_ESYNTAX;
        memcpy(plain, body, n);
        break;
    case OB_VERSION:
    case OB_VERSION_3:
        nf = get_le(buf + 4, 2) == OB_VERSION ? NFIELDS : NFIELDS_V3;
        n = payload_size(nf);
        /* fall through */
    case OB_VERSION_2:
        if (unpack(body, blen, plain, n) != 0)
            return SG_ESYNTAX;
        break;
    default:
        return SG_ESYNTAX;
    }
    /* an older record's fields beyond its own stay zero */
    memset(&tmp, 0, sizeof(tmp));
    payload_get(&tmp, plain, nf);
    if (nf < NFIELDS) {
        /* Its recipient history was made with the unkeyed hash: kept for
         * telling first-time recipients (its holder would lose nothing to
         * a forger there, and forgetting it would hold innocent mail for
         * a day), never again as proof for a report from outside; it goes
         * as the keyed history fills. The bounce memory was keyed by that
         * hash too: forgotten (a recipient it held may count once more). */
        tmp.bloom_legacy = 3;
        memset(tmp.bounced, 0, sizeof(tmp.bounced));
        memset(tmp.bounced_t, 0, sizeof(tmp.bounced_t));
    }
    /* the checksum proves the bytes are ours, but the engine indexes
     * arrays with these: check them all the same */
    if (tmp.nnet > OB_NETS || tmp.bloom_cur > 1 || tmp.bloom_legacy > 3 || tmp.blocked > 1 ||
        tmp.created < 0 || tmp.bloom_n[0] > OB_BLOOM_WORDS * 64 ||
        tmp.bloom_n[1] > OB_BLOOM_WORDS * 64)
        return SG_ESYNTAX;
    for (int i = 0; i < OB_BOUNCED; i++) /* times plus one, compared with arithmetic */
        if (tmp.bounced_t[i] < 0 || tmp.bounced_t[i] > SG_OB_TIME_MAX + 1)
            return SG_ESYNTAX;
    *a = tmp;
    return SG_OK;
}

/* ---- administration ---- */

void sg_ob_account_block(sg_ob_account *a, int64_t t, uint32_t reasons)
{
    if (a == NULL)
        return;
    if (!a->blocked)
        a->blocked_since = t;
    a->blocked = 1;
    a->block_reasons |= reasons;
}

void sg_ob_account_release(sg_ob_account *a, int64_t t)
{
    if (a == NULL)
        return;
    a->blocked = 0;
    a->block_reasons = 0;
    a->blocked_since = 0;
    a->released_at = t;
    /* the evidence goes, what was learned stays: the windows (with the
     * bounces and refusals in them) and the bodies are cleared; the baseline, the recipient history
     * and the known networks are kept (networks seen before the release no longer count towards
     * many_networks) */
    sg_ob_ring_clear(a);
    memset(a->body, 0, sizeof(a->body));
    memset(a->body_t, 0, sizeof(a->body_t));
    memset(a->body_rcpts, 0, sizeof(a->body_rcpts));
}

int sg_ob_account_blocked(const sg_ob_account *a, int64_t *since, uint32_t *reasons)
{
    if (a == NULL || !a->blocked)
        return 0;
    if (since != NULL)
        *since = a->blocked_since;
    if (reasons != NULL)
        *reasons = a->block_reasons;
    return 1;
}

/* Every time the record keeps is a candidate: a note (a refusal, a
 * report) moves only the windows or the bounced list, a block or release
 * only its own stamp, and a store's expiry must count each as a use. The
 * windows say it to the bucket (an hour at worst), which an expiry counted
 * in days does not notice. */
int64_t sg_ob_account_last_active(const sg_ob_account *a)
{
    if (a == NULL)
        return 0;
    int64_t t = a->last_t;
    const int64_t more[] = {a->created, a->blocked_since, a->released_at};
    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++)
        t = more[i] > t ? more[i] : t;
    for (int w = 0; w < W_COUNT; w++)
        for (int i = 0; i < ring_shape[w].n; i++) {
            uint32_t st = a->ring[w].stamp[i];
            int64_t b = st ? (int64_t)(st - 1) * ring_shape[w].width : 0;
            t = b > t ? b : t;
        }
    for (int i = 0; i < OB_NETS; i++)
        t = a->net_last[i] > t ? a->net_last[i] : t;
    for (int i = 0; i < OB_BODIES; i++)
        t = a->body_t[i] > t ? a->body_t[i] : t;
    for (int i = 0; i < OB_BOUNCED; i++) /* stored plus one */
        t = a->bounced_t[i] - 1 > t ? a->bounced_t[i] - 1 : t;
    return t;
}

/* ---- names ---- */

static const char *const reason_names[] = {
    "messages_minute",     "messages_hour",   "messages_day",       "recipients_day",
    "recipients_message",  "baseline_volume", "new_account_ramp",   "new_recipients",
    "external_recipients", "same_body",       "ownership_refusals", "new_network",
    "many_networks",       "bounce_rate",     "internal_fanout",    "domain_volume",
    "account_blocked",
};

const char *sg_ob_reason_name(uint32_t bit)
{
    for (size_t i = 0; i < sizeof(reason_names) / sizeof(reason_names[0]); i++)
        if (bit == 1u << i)
            return reason_names[i];
    return NULL;
}

const char *sg_ob_action_name(sg_ob_action a)
{
    switch (a) {
    case SG_OB_ALLOW:
        return "allow";
    case SG_OB_THROTTLE:
        return "throttle";
    case SG_OB_HOLD:
        return "hold";
    case SG_OB_BLOCK:
        return "block";
    }
    return "allow";
}

/* ---- text views (the JSON here, configuration lines in policy.c) ---- */

void sg_ob_printf(ob_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->oom)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n + 64;
        char *s = realloc(b->s, cap);
        if (s == NULL) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

static void net_text(const uint8_t *net, char *out, size_t cap)
{
    static const uint8_t v4[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!memcmp(net, v4, 12))
        snprintf(out, cap, "%u.%u.%u.0/24", net[12], net[13], net[14]);
    else
        snprintf(out, cap, "%x:%x:%x::/48", (unsigned)net[0] << 8 | net[1],
                 (unsigned)net[2] << 8 | net[3], (unsigned)net[4] << 8 | net[5]);
}

static void reasons_json(ob_buf *b, uint32_t reasons)
{
    int first = 1;
    sg_ob_printf(b, "[");
    for (uint32_t i = 0; i < 32; i++)
        if (reasons & (1u << i) && sg_ob_reason_name(1u << i) != NULL) {
            sg_ob_printf(b, "%s\"%s\"", first ? "" : ",", sg_ob_reason_name(1u << i));
            first = 0;
        }
    sg_ob_printf(b, "]");
}

int sg_ob_account_json(const sg_ob_policy *p, const sg_ob_account *a, int64_t now, char **json)
{
    static const char *const wname[W_COUNT] = {"minute", "hour", "day"};
    static const char *const fname[F_COUNT] = {"messages",
                                               "recipients",
                                               "new_external_recipients",
                                               "external_recipients",
                                               "new_internal_recipients",
                                               "ownership_refusals",
                                               "holds",
                                               "hard_bounces"};
    ob_buf b = {0};
    int64_t floor_t = now - 86400;
    uint32_t n24 = 0;
    if (p == NULL || a == NULL || json == NULL)
        return SG_EINVAL;
    *json = NULL;
    b.cap = 4096;
    b.s = malloc(b.cap);
    if (b.s == NULL)
        return SG_ENOMEM;
    sg_ob_printf(&b, "{\"created\":%lld,\"last\":%lld,\"blocked\":%s", (long long)a->created,
                 (long long)a->last_t, a->blocked ? "true" : "false");
    if (a->blocked) {
        sg_ob_printf(&b, ",\"blocked_since\":%lld,\"block_reasons\":", (long long)a->blocked_since);
        reasons_json(&b, a->block_reasons);
    }
    if (a->released_at)
        sg_ob_printf(&b, ",\"released_at\":%lld", (long long)a->released_at);
    sg_ob_printf(&b, ",\"windows\":{");
    for (int w = 0; w < W_COUNT; w++) {
        sg_ob_printf(&b, "%s\"%s\":{", w ? "," : "", wname[w]);
        for (int f = 0; f < F_COUNT; f++)
            sg_ob_printf(&b, "%s\"%s\":%u", f ? "," : "", fname[f], sg_ob_ring_sum(a, w, f, now));
        sg_ob_printf(&b, "}");
    }
    sg_ob_printf(&b, "},\"baseline\":{\"hours_learned\":%u,\"recipients_per_hour\":[",
                 a->base_hours);
    /* hundredths kept as integers, written as integers: printf's %f
     * follows LC_NUMERIC, and "1,50" is not JSON (adv44) */
    for (int h = 0; h < 24; h++)
        sg_ob_printf(&b, "%s%u.%02u", h ? "," : "", a->ewma_rcpt[h] / 100, a->ewma_rcpt[h] % 100);
    sg_ob_printf(&b, "],\"new_recipients_per_hour\":[");
    for (int h = 0; h < 24; h++)
        sg_ob_printf(&b, "%s%u.%02u", h ? "," : "", a->ewma_new[h] / 100, a->ewma_new[h] % 100);
    sg_ob_printf(&b,
                 "],\"peak_recipients_hour\":%u.%02u,\"peak_new_recipients_hour\":%u.%02u,"
                 "\"peak_new_internal_hour\":%u.%02u}",
                 a->peak_rcpt / 100, a->peak_rcpt % 100, a->peak_new / 100, a->peak_new % 100,
                 a->peak_int / 100, a->peak_int % 100);
    sg_ob_printf(&b, ",\"recipient_history\":{\"generations\":[%u,%u],\"capacity\":%u}",
                 a->bloom_n[0], a->bloom_n[1], OB_BLOOM_CAPACITY);
    if (a->released_at > floor_t)
        floor_t = a->released_at;
    sg_ob_printf(&b, ",\"networks\":[");
    for (uint32_t i = 0; i < a->nnet && i < OB_NETS; i++) {
        char text[64];
        net_text(a->net[i], text, sizeof(text));
        sg_ob_printf(&b, "%s{\"network\":\"%s\",\"first\":%lld,\"last\":%lld}", i ? "," : "", text,
                     (long long)a->net_first[i], (long long)a->net_last[i]);
        n24 += a->net_last[i] >= floor_t;
    }
    sg_ob_printf(&b, "],\"networks_24h\":%u", n24);
    {
        uint32_t sent = sg_ob_ring_sum(a, W_DAY, F_RCPT, now),
                 hard = sg_ob_ring_sum(a, W_DAY, F_BOUNCE, now);
        /* ten-thousandths, rounded half up */
        uint64_t rate = sent ? ((uint64_t)hard * 20000 + sent) / (2 * (uint64_t)sent) : 0;
        sg_ob_printf(&b, ",\"bounces_24h\":{\"recipients\":%u,\"hard\":%u,\"rate\":%u.%04u}", sent,
                     hard, (unsigned)(rate / 10000), (unsigned)(rate % 10000));
    }
    sg_ob_printf(&b, "}");
    if (b.oom) {
        free(b.s);
        return SG_ENOMEM;
    }
    *json = b.s;
    return SG_OK;
}
