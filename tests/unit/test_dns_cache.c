/*
 * The network backend's private pieces without a network: the wire-format
 * answer parser (hand-built RFC 1035 messages) and the TTL cache (with an
 * injected clock, so expiry needs no sleeping).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/cache.h"

/* ---- a tiny DNS message builder ------------------------------------------ */

typedef struct {
    uint8_t b[65536];
    size_t n;
} pkt;

static void p8(pkt *p, unsigned v)
{
    p->b[p->n++] = (uint8_t)v;
}

static void p16(pkt *p, unsigned v)
{
    p8(p, (v >> 8) & 0xFF);
    p8(p, v & 0xFF);
}

static void p32(pkt *p, uint32_t v)
{
    p16(p, v >> 16);
    p16(p, v & 0xFFFF);
}

/* dotted name, uncompressed; "" is the root */
static void pname(pkt *p, const char *name)
{
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t len = dot ? (size_t)(dot - name) : strlen(name);
        p8(p, (unsigned)len);
        memcpy(p->b + p->n, name, len);
        p->n += len;
        name += len;
        if (*name == '.')
            name++;
    }
    p8(p, 0);
}

static void header(pkt *p, unsigned rcode, unsigned an, unsigned ns)
{
    p->n = 0;
    p16(p, 0x1234);
    p16(p, 0x8180 | rcode); /* QR RD RA */
    p16(p, 1);
    p16(p, an);
    p16(p, ns);
    p16(p, 0);
}

static void question(pkt *p, const char *name, unsigned type)
{
    pname(p, name);
    p16(p, type);
    p16(p, 1);
}

/* Starts a record; returns where RDLENGTH goes (patched by rr_end). */
static size_t rr_begin(pkt *p, const char *owner, unsigned type, uint32_t ttl)
{
    pname(p, owner);
    p16(p, type);
    p16(p, 1);
    p32(p, ttl);
    p16(p, 0);
    return p->n - 2;
}

static void rr_end(pkt *p, size_t at)
{
    size_t len = p->n - at - 2;
    p->b[at] = (uint8_t)(len >> 8);
    p->b[at + 1] = (uint8_t)len;
}

static void txt_rr(pkt *p, const char *owner, uint32_t ttl, int nstr, const char **strs,
                   const size_t *lens)
{
    size_t at = rr_begin(p, owner, SG_DNS_TXT, ttl);
    for (int i = 0; i < nstr; i++) {
        p8(p, (unsigned)lens[i]);
        memcpy(p->b + p->n, strs[i], lens[i]);
        p->n += lens[i];
    }
    rr_end(p, at);
}

static void name_rr(pkt *p, const char *owner, unsigned type, uint32_t ttl, const char *target)
{
    size_t at = rr_begin(p, owner, type, ttl);
    pname(p, target);
    rr_end(p, at);
}

static void soa_rr(pkt *p, const char *owner, uint32_t ttl, uint32_t minimum)
{
    size_t at = rr_begin(p, owner, 6, ttl);
    pname(p, "ns.x.test");
    pname(p, "host.x.test");
    p32(p, 1);
    p32(p, 3600);
    p32(p, 600);
    p32(p, 86400);
    p32(p, minimum);
    rr_end(p, at);
}

static const sg_dns_ans_limits lim = {86400, 300};

static sg_dns_ans *parse_full(const pkt *p, const char *q, uint16_t t, char *follow, unsigned *hops)
{
    sg_dns_ans *a = NULL;
    assert_int_equal(sg_dns_ans_from_wire(&a, p->b, p->n, q, t, &lim, follow, hops), SG_OK);
    assert_non_null(a);
    return a;
}

static sg_dns_ans *parse(const pkt *p, const char *q, uint16_t t)
{
    char follow[SG_DNS_PRESENTATION_MAX];
    unsigned hops;
    sg_dns_ans *a = parse_full(p, q, t, follow, &hops);
    assert_string_equal(follow, "");
    return a;
}

/* ---- parser ----------------------------------------------------------------- */

static void txt_strings_concatenated(void **state)
{
    pkt p;
    const char *s1[] = {"v=spf1 ", "ip4:192.0.2.0/24", " -all"};
    const size_t l1[] = {7, 16, 5};
    const char *s2[] = {"a\0b", ""};
    const size_t l2[] = {3, 0};
    header(&p, 0, 2, 0);
    question(&p, "x.test", SG_DNS_TXT);
    txt_rr(&p, "x.test", 120, 3, s1, l1);
    txt_rr(&p, "X.TEST", 60, 2, s2, l2); /* owner case differs: same name */
    sg_dns_ans *a = parse(&p, "x.test", SG_DNS_TXT);
    assert_int_equal(a->status, SG_DNS_NOERROR);
    assert_int_equal(a->count, 2);
    assert_int_equal(a->ttl, 60);
    assert_int_equal(a->rrs[0].u.txt.nstrings, 3);
    assert_int_equal(a->rrs[0].u.txt.len, 28);
    assert_string_equal(a->rrs[0].u.txt.data, "v=spf1 ip4:192.0.2.0/24 -all");
    assert_int_equal(a->rrs[1].u.txt.nstrings, 2);
    assert_int_equal(a->rrs[1].u.txt.len, 3);
    assert_memory_equal(a->rrs[1].u.txt.data, "a\0b", 4); /* and the NUL after */
    assert_int_equal(a->rrs[1].type, SG_DNS_TXT);
    sg_dns_ans_unref(a);
}

static void cname_chain_only_final_type(void **state)
{
    pkt p;
    const char *s[] = {"wrong owner"};
    const size_t l[] = {11};
    const char *e[] = {"end"};
    const size_t le[] = {3};
    char follow[SG_DNS_PRESENTATION_MAX];
    unsigned hops = 0;
    header(&p, 0, 5, 0);
    question(&p, "a.test", SG_DNS_TXT);
    /* out of order on purpose; a TXT owned by a chain member is ignored */
    name_rr(&p, "b.test", SG_DNS_CNAME, 50, "c.test");
    txt_rr(&p, "b.test", 300, 1, s, l);
    txt_rr(&p, "c.test", 300, 1, e, le);
    name_rr(&p, "a.test", SG_DNS_CNAME, 300, "b.test");
    txt_rr(&p, "other.test", 300, 1, s, l);
    sg_dns_ans *a = parse_full(&p, "a.test", SG_DNS_TXT, follow, &hops);
    assert_string_equal(follow, "");
    assert_int_equal(hops, 2);
    assert_int_equal(a->status, SG_DNS_NOERROR);
    assert_int_equal(a->count, 1);
    assert_string_equal(a->rrs[0].u.txt.data, "end");
    assert_int_equal(a->ttl, 300);
    assert_int_equal(a->cache_ttl, 50); /* bounded by the chain's CNAME */
    sg_dns_ans_unref(a);

    /* asking for the CNAME itself does not follow it */
    header(&p, 0, 1, 0);
    question(&p, "a.test", SG_DNS_CNAME);
    name_rr(&p, "a.test", SG_DNS_CNAME, 300, "b.test");
    a = parse(&p, "a.test", SG_DNS_CNAME);
    assert_int_equal(a->count, 1);
    assert_string_equal(a->rrs[0].u.name, "b.test");
    sg_dns_ans_unref(a);
}

static void cname_loop_is_servfail(void **state)
{
    pkt p;
    header(&p, 0, 2, 0);
    question(&p, "l1.test", SG_DNS_A);
    name_rr(&p, "l1.test", SG_DNS_CNAME, 300, "l2.test");
    name_rr(&p, "l2.test", SG_DNS_CNAME, 300, "l1.test");
    sg_dns_ans *a = parse(&p, "l1.test", SG_DNS_A);
    assert_int_equal(a->status, SG_DNS_SERVFAIL);
    sg_dns_ans_unref(a);
}

static void dangling_cname_asks_to_follow(void **state)
{
    pkt p;
    char follow[SG_DNS_PRESENTATION_MAX];
    unsigned hops = 0;
    header(&p, 0, 1, 0);
    question(&p, "a.test", SG_DNS_A);
    name_rr(&p, "a.test", SG_DNS_CNAME, 40, "elsewhere.example");
    sg_dns_ans *a = parse_full(&p, "a.test", SG_DNS_A, follow, &hops);
    assert_string_equal(follow, "elsewhere.example");
    assert_int_equal(hops, 1);
    assert_int_equal(a->status, SG_DNS_NODATA);
    assert_int_equal(a->cache_ttl, 40);
    sg_dns_ans_unref(a);

    /* with an SOA the NODATA is proven: nothing to follow */
    header(&p, 0, 1, 1);
    question(&p, "a.test", SG_DNS_A);
    name_rr(&p, "a.test", SG_DNS_CNAME, 40, "b.test");
    soa_rr(&p, "test", 900, 30);
    a = parse_full(&p, "a.test", SG_DNS_A, follow, &hops);
    assert_string_equal(follow, "");
    assert_int_equal(a->status, SG_DNS_NODATA);
    assert_int_equal(a->ttl, 30);
    sg_dns_ans_unref(a);
}

static void negative_ttls(void **state)
{
    pkt p;
    /* NXDOMAIN: min(SOA TTL, MINIMUM), RFC 2308 5 */
    header(&p, 3, 0, 1);
    question(&p, "no.test", SG_DNS_TXT);
    soa_rr(&p, "test", 45, 600);
    sg_dns_ans *a = parse(&p, "no.test", SG_DNS_TXT);
    assert_int_equal(a->status, SG_DNS_NXDOMAIN);
    assert_int_equal(a->ttl, 45);
    assert_int_equal(a->count, 0);
    sg_dns_ans_unref(a);

    /* NODATA without SOA: the configured default */
    header(&p, 0, 0, 0);
    question(&p, "no.test", SG_DNS_TXT);
    a = parse(&p, "no.test", SG_DNS_TXT);
    assert_int_equal(a->status, SG_DNS_NODATA);
    assert_int_equal(a->ttl, 300);
    sg_dns_ans_unref(a);
}

static void ttl_rules(void **state)
{
    pkt p;
    sg_dns_ans_limits small = {100, 10};
    char follow[SG_DNS_PRESENTATION_MAX];
    unsigned hops;
    sg_dns_ans *a;
    header(&p, 0, 2, 0);
    question(&p, "t.test", SG_DNS_A);
    size_t at = rr_begin(&p, "t.test", SG_DNS_A, 0x80000010u); /* MSB set: 0 (RFC 2181 8) */
    p32(&p, 0x7F000001);
    rr_end(&p, at);
    at = rr_begin(&p, "t.test", SG_DNS_A, 5000);
    p32(&p, 0x7F000002);
    rr_end(&p, at);
    assert_int_equal(sg_dns_ans_from_wire(&a, p.b, p.n, "t.test", SG_DNS_A, &small, follow, &hops),
                     SG_OK);
    assert_int_equal(a->count, 2);
    assert_int_equal(a->rrs[0].ttl, 0);
    assert_int_equal(a->rrs[1].ttl, 100); /* capped */
    assert_int_equal(a->ttl, 0);
    assert_memory_equal(a->rrs[1].u.a, "\x7f\x00\x00\x02", 4);
    sg_dns_ans_unref(a);
}

static void mx_aaaa_ptr(void **state)
{
    pkt p;
    header(&p, 0, 2, 0);
    question(&p, "m.test", SG_DNS_MX);
    size_t at = rr_begin(&p, "m.test", SG_DNS_MX, 300);
    p16(&p, 10);
    pname(&p, "mx1.m.test");
    rr_end(&p, at);
    at = rr_begin(&p, "m.test", SG_DNS_MX, 300);
    p16(&p, 0);
    p16(&p, 0xC000 | 12); /* compressed: points at the question name */
    rr_end(&p, at);
    sg_dns_ans *a = parse(&p, "m.test", SG_DNS_MX);
    assert_int_equal(a->count, 2);
    assert_int_equal(a->rrs[0].u.mx.pref, 10);
    assert_string_equal(a->rrs[0].u.mx.host, "mx1.m.test");
    assert_int_equal(a->rrs[1].u.mx.pref, 0);
    assert_string_equal(a->rrs[1].u.mx.host, "m.test");
    sg_dns_ans_unref(a);

    header(&p, 0, 1, 0);
    question(&p, "6.test", SG_DNS_AAAA);
    at = rr_begin(&p, "6.test", SG_DNS_AAAA, 300);
    for (int i = 0; i < 16; i++)
        p8(&p, (unsigned)i);
    rr_end(&p, at);
    a = parse(&p, "6.test", SG_DNS_AAAA);
    assert_int_equal(a->count, 1);
    assert_int_equal(a->rrs[0].u.aaaa[15], 15);
    sg_dns_ans_unref(a);

    /* the question may be asked with raw octets: "\\032" and " " match */
    header(&p, 0, 1, 0);
    question(&p, "a b.test", SG_DNS_A);
    at = rr_begin(&p, "A B.test", SG_DNS_A, 300);
    p32(&p, 1);
    rr_end(&p, at);
    a = parse(&p, "a\\032b.test", SG_DNS_A);
    assert_int_equal(a->count, 1);
    sg_dns_ans_unref(a);
    a = parse(&p, "A b.TEST", SG_DNS_A);
    assert_int_equal(a->count, 1);
    sg_dns_ans_unref(a);
    a = parse(&p, "a\\.b.test", SG_DNS_A); /* an escaped dot is no separator */
    assert_int_equal(a->status, SG_DNS_SERVFAIL);
    sg_dns_ans_unref(a);

    /* a label holding a dot is escaped in presentation form */
    header(&p, 0, 1, 0);
    question(&p, "1.test", SG_DNS_PTR);
    at = rr_begin(&p, "1.test", SG_DNS_PTR, 300);
    p8(&p, 3);
    memcpy(p.b + p.n, "a.b", 3);
    p.n += 3;
    pname(&p, "test");
    rr_end(&p, at);
    a = parse(&p, "1.test", SG_DNS_PTR);
    assert_string_equal(a->rrs[0].u.name, "a\\.b.test");
    sg_dns_ans_unref(a);
}

static void failures_are_servfail(void **state)
{
    pkt p;
    sg_dns_ans *a;
    unsigned rcodes[] = {1, 2, 4, 5, 9};
    for (size_t i = 0; i < sizeof(rcodes) / sizeof(rcodes[0]); i++) {
        header(&p, rcodes[i], 0, 0);
        question(&p, "x.test", SG_DNS_A);
        a = parse(&p, "x.test", SG_DNS_A);
        assert_int_equal(a->status, SG_DNS_SERVFAIL);
        sg_dns_ans_unref(a);
    }
    /* another question */
    header(&p, 0, 0, 0);
    question(&p, "y.test", SG_DNS_A);
    a = parse(&p, "x.test", SG_DNS_A);
    assert_int_equal(a->status, SG_DNS_SERVFAIL);
    sg_dns_ans_unref(a);
    /* A with 5 octets of RDATA */
    header(&p, 0, 1, 0);
    question(&p, "x.test", SG_DNS_A);
    size_t at = rr_begin(&p, "x.test", SG_DNS_A, 1);
    p32(&p, 1);
    p8(&p, 1);
    rr_end(&p, at);
    a = parse(&p, "x.test", SG_DNS_A);
    assert_int_equal(a->status, SG_DNS_SERVFAIL);
    sg_dns_ans_unref(a);
    /* TXT string running past RDATA */
    header(&p, 0, 1, 0);
    question(&p, "x.test", SG_DNS_TXT);
    at = rr_begin(&p, "x.test", SG_DNS_TXT, 1);
    p8(&p, 5);
    p8(&p, 'a');
    rr_end(&p, at);
    p8(&p, 'b'); /* bytes after the record do not rescue it */
    p8(&p, 'c');
    a = parse(&p, "x.test", SG_DNS_TXT);
    assert_int_equal(a->status, SG_DNS_SERVFAIL);
    sg_dns_ans_unref(a);
    /* compression pointer loop in the owner name */
    header(&p, 0, 1, 0);
    question(&p, "x.test", SG_DNS_A);
    size_t self = p.n;
    p16(&p, 0xC000 | (unsigned)self);
    p16(&p, SG_DNS_A);
    p16(&p, 1);
    p32(&p, 1);
    p16(&p, 4);
    p32(&p, 1);
    a = parse(&p, "x.test", SG_DNS_A);
    assert_int_equal(a->status, SG_DNS_SERVFAIL);
    sg_dns_ans_unref(a);
    /* not a response */
    header(&p, 0, 0, 0);
    p.b[2] &= 0x7F;
    question(&p, "x.test", SG_DNS_A);
    a = parse(&p, "x.test", SG_DNS_A);
    assert_int_equal(a->status, SG_DNS_SERVFAIL);
    sg_dns_ans_unref(a);
    /* unsupported query type is a caller error */
    char follow[SG_DNS_PRESENTATION_MAX];
    unsigned hops;
    assert_int_equal(sg_dns_ans_from_wire(&a, p.b, p.n, "x.test", 6, &lim, follow, &hops),
                     SG_EINVAL);
}

/* A 2-byte pointer can stand for a 253-octet name: an answer of thousands
 * of records owned by such a name made every pass over the records decode
 * every owner again (58 ms an answer, 7 s a message with a hostile zone's
 * SPF). Owners are decoded only for records of a type looked for, and an
 * answer that would still make us decode more than 16 octets of owner
 * names per octet is a server failure. */
static void compressed_owner_floods(void **state)
{
    static pkt p;
    const char *t[] = {"v=spf1 -all"};
    const size_t tl[] = {11};
    (void)state;
    for (int cname_fill = 0; cname_fill <= 1; cname_fill++) {
        header(&p, 0, 0, 0);
        question(&p, "q.test", SG_DNS_TXT);
        unsigned an = 0;
        /* a record (type 99) whose RDATA holds the long name: 126 labels
         * of one letter, each label then a pointer to the next */
        size_t at = rr_begin(&p, "", 99, 60);
        size_t chain = p.n;
        for (unsigned i = 0; i < 126; i++) {
            p8(&p, 1);
            p8(&p, 'a');
            if (i < 125)
                p16(&p, 0xC000 | (unsigned)(p.n + 2));
            else
                p8(&p, 0);
        }
        rr_end(&p, at);
        an++;
        /* fillers owned by it, of another type, or CNAMEs not in the chain */
        while (p.n + 64 < 60000) {
            p16(&p, 0xC000 | (unsigned)chain);
            p16(&p, cname_fill ? SG_DNS_CNAME : 99);
            p16(&p, 1);
            p32(&p, 60);
            p16(&p, 2);
            p16(&p, 0xC000 | 12); /* the question's name */
            an++;
        }
        txt_rr(&p, "q.test", 300, 1, t, tl);
        an++;
        p.b[6] = (uint8_t)(an >> 8);
        p.b[7] = (uint8_t)an;
        sg_dns_ans *a = parse(&p, "q.test", SG_DNS_TXT);
        if (!cname_fill) {
            assert_int_equal(a->status, SG_DNS_NOERROR);
            assert_int_equal(a->count, 1);
            assert_string_equal(a->rrs[0].u.txt.data, "v=spf1 -all");
        } else {
            /* 5,000 CNAME owners of 253 octets each: past the budget */
            assert_int_equal(a->status, SG_DNS_SERVFAIL);
        }
        sg_dns_ans_unref(a);
    }
}

/* Every proper prefix of a valid message is rejected, never overread (the
 * ASan build checks the latter). */
static void every_truncation_is_servfail(void **state)
{
    pkt p;
    const char *s[] = {"hello", "world"};
    const size_t l[] = {5, 5};
    header(&p, 0, 3, 1);
    question(&p, "a.test", SG_DNS_TXT);
    name_rr(&p, "a.test", SG_DNS_CNAME, 300, "b.test");
    txt_rr(&p, "b.test", 300, 2, s, l);
    txt_rr(&p, "b.test", 300, 1, s, l);
    soa_rr(&p, "test", 300, 60);
    sg_dns_ans *a = parse(&p, "a.test", SG_DNS_TXT);
    assert_int_equal(a->status, SG_DNS_NOERROR);
    assert_int_equal(a->count, 2);
    sg_dns_ans_unref(a);
    for (size_t n = 0; n < p.n; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size, so ASan sees overreads */
        memcpy(copy, p.b, n);
        char follow[SG_DNS_PRESENTATION_MAX];
        unsigned hops;
        assert_int_equal(
            sg_dns_ans_from_wire(&a, copy, n, "a.test", SG_DNS_TXT, &lim, follow, &hops), SG_OK);
        assert_int_equal(a->status, SG_DNS_SERVFAIL);
        sg_dns_ans_unref(a);
        free(copy);
    }
}

static void aged_rrs(void **state)
{
    pkt p;
    header(&p, 0, 1, 0);
    question(&p, "t.test", SG_DNS_A);
    size_t at = rr_begin(&p, "t.test", SG_DNS_A, 30);
    p32(&p, 1);
    rr_end(&p, at);
    sg_dns_ans *a = parse(&p, "t.test", SG_DNS_A);
    sg_dns_rr *r = sg_dns_ans_aged_rrs(a, 12);
    assert_int_equal(r[0].ttl, 18);
    free(r);
    r = sg_dns_ans_aged_rrs(a, 99);
    assert_int_equal(r[0].ttl, 0);
    free(r);
    assert_int_equal(a->rrs[0].ttl, 30); /* the shared block is untouched */
    sg_dns_ans_unref(a);
}

/* ---- cache ----------------------------------------------------------------- */

static uint64_t fake_now;

static uint64_t fake_clock(void *ctx)
{
    return *(uint64_t *)ctx;
}

static sg_dns_cache *mk_cache(size_t entries, uint32_t max_ttl)
{
    sg_dns_cache *c = NULL;
    sg_dns_cache_opts o = {entries, max_ttl, fake_clock, &fake_now};
    fake_now = 1000000;
    assert_int_equal(sg_dns_cache_new(&c, &o), SG_OK);
    return c;
}

static sg_dns_ans *mk_ans(sg_dns_status st, uint32_t ttl)
{
    sg_dns_ans *a = sg_dns_ans_new_status(st, ttl);
    assert_non_null(a);
    return a;
}

static void cache_hit_age_expiry(void **state)
{
    sg_dns_cache *c = mk_cache(10, 86400);
    sg_dns_ans *a = mk_ans(SG_DNS_NXDOMAIN, 60);
    uint32_t age = 99, rem = 0;
    assert_int_equal(sg_dns_cache_put(c, "Example.TEST", SG_DNS_TXT, a), SG_OK);
    assert_int_equal(a->refs, 2);
    sg_dns_ans_unref(a);
    assert_null(sg_dns_cache_get(c, "example.test", SG_DNS_A, NULL, NULL)); /* type is key */
    fake_now += 20500;
    sg_dns_ans *h = sg_dns_cache_get(c, "EXAMPLE.test", SG_DNS_TXT, &age, &rem);
    assert_ptr_equal(h, a);
    assert_int_equal(age, 20);
    assert_int_equal(rem, 40); /* 39.5 s rounded up */
    sg_dns_ans_unref(h);
    fake_now += 39499;
    h = sg_dns_cache_get(c, "example.test", SG_DNS_TXT, &age, &rem);
    assert_non_null(h);
    assert_int_equal(rem, 1);
    sg_dns_ans_unref(h);
    fake_now += 1; /* exactly 60 s after storing */
    assert_null(sg_dns_cache_get(c, "example.test", SG_DNS_TXT, &age, &rem));
    assert_int_equal(sg_dns_cache_count(c), 0);
    sg_dns_cache_free(c);
}

static void cache_max_ttl_caps(void **state)
{
    sg_dns_cache *c = mk_cache(10, 100);
    sg_dns_ans *a = mk_ans(SG_DNS_NODATA, 100000);
    uint32_t rem = 0;
    assert_int_equal(sg_dns_cache_put(c, "x.test", SG_DNS_A, a), SG_OK);
    sg_dns_ans *h = sg_dns_cache_get(c, "x.test", SG_DNS_A, NULL, &rem);
    assert_int_equal(rem, 100);
    sg_dns_ans_unref(h);
    fake_now += 100 * 1000;
    assert_null(sg_dns_cache_get(c, "x.test", SG_DNS_A, NULL, NULL));
    sg_dns_ans_unref(a);
    sg_dns_cache_free(c);
}

static void cache_failures_not_stored(void **state)
{
    sg_dns_cache *c = mk_cache(10, 100);
    sg_dns_status bad[] = {SG_DNS_SERVFAIL, SG_DNS_TIMEOUT, SG_DNS_EFAIL};
    for (size_t i = 0; i < 3; i++) {
        sg_dns_ans *a = mk_ans(bad[i], 60);
        assert_int_equal(sg_dns_cache_put(c, "x.test", SG_DNS_A, a), SG_OK);
        assert_int_equal(a->refs, 1);
        sg_dns_ans_unref(a);
    }
    sg_dns_ans *z = mk_ans(SG_DNS_NODATA, 0); /* TTL 0: use once, keep never */
    assert_int_equal(sg_dns_cache_put(c, "x.test", SG_DNS_A, z), SG_OK);
    sg_dns_ans_unref(z);
    assert_int_equal(sg_dns_cache_count(c), 0);
    assert_null(sg_dns_cache_get(c, "x.test", SG_DNS_A, NULL, NULL));
    sg_dns_cache_free(c);
}

static void cache_lru_eviction_and_replace(void **state)
{
    sg_dns_cache *c = mk_cache(2, 1000);
    sg_dns_ans *a = mk_ans(SG_DNS_NXDOMAIN, 50);
    sg_dns_ans *b = mk_ans(SG_DNS_NXDOMAIN, 50);
    sg_dns_ans *n = mk_ans(SG_DNS_NXDOMAIN, 50);
    assert_int_equal(sg_dns_cache_put(c, "a.test", SG_DNS_A, a), SG_OK);
    assert_int_equal(sg_dns_cache_put(c, "b.test", SG_DNS_A, b), SG_OK);
    sg_dns_ans_unref(sg_dns_cache_get(c, "a.test", SG_DNS_A, NULL, NULL)); /* a is now newest */
    assert_int_equal(sg_dns_cache_put(c, "c.test", SG_DNS_A, n), SG_OK);
    assert_int_equal(sg_dns_cache_count(c), 2);
    assert_null(sg_dns_cache_get(c, "b.test", SG_DNS_A, NULL, NULL));
    assert_int_equal(b->refs, 1); /* the evicted entry let go of its answer */
    sg_dns_ans *h = sg_dns_cache_get(c, "a.test", SG_DNS_A, NULL, NULL);
    assert_ptr_equal(h, a);
    sg_dns_ans_unref(h);
    /* replace: the new answer wins, the old reference is dropped */
    fake_now += 10000;
    assert_int_equal(sg_dns_cache_put(c, "A.test", SG_DNS_A, b), SG_OK);
    assert_int_equal(a->refs, 1);
    uint32_t age = 9;
    h = sg_dns_cache_get(c, "a.test", SG_DNS_A, &age, NULL);
    assert_ptr_equal(h, b);
    assert_int_equal(age, 0);
    sg_dns_ans_unref(h);
    assert_int_equal(sg_dns_cache_count(c), 2);
    sg_dns_cache_free(c);
    assert_int_equal(a->refs, 1);
    assert_int_equal(b->refs, 1);
    sg_dns_ans_unref(a);
    sg_dns_ans_unref(b);
    sg_dns_ans_unref(n);
}

static void cache_many_entries(void **state)
{
    sg_dns_cache *c = mk_cache(1000, 1000);
    char name[64];
    sg_dns_ans *a = mk_ans(SG_DNS_NXDOMAIN, 50);
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "n%d.test", i);
        assert_int_equal(sg_dns_cache_put(c, name, SG_DNS_TXT, a), SG_OK);
    }
    assert_int_equal(sg_dns_cache_count(c), 1000);
    assert_int_equal(a->refs, 1001);
    /* the newest 1000 survive */
    for (int i = 4000; i < 5000; i++) {
        snprintf(name, sizeof(name), "N%d.TEST", i);
        sg_dns_ans *h = sg_dns_cache_get(c, name, SG_DNS_TXT, NULL, NULL);
        assert_non_null(h);
        sg_dns_ans_unref(h);
    }
    assert_null(sg_dns_cache_get(c, "n3999.test", SG_DNS_TXT, NULL, NULL));
    sg_dns_cache_free(c);
    assert_int_equal(a->refs, 1);
    sg_dns_ans_unref(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(txt_strings_concatenated),
        cmocka_unit_test(cname_chain_only_final_type),
        cmocka_unit_test(cname_loop_is_servfail),
        cmocka_unit_test(compressed_owner_floods),
        cmocka_unit_test(dangling_cname_asks_to_follow),
        cmocka_unit_test(negative_ttls),
        cmocka_unit_test(ttl_rules),
        cmocka_unit_test(mx_aaaa_ptr),
        cmocka_unit_test(failures_are_servfail),
        cmocka_unit_test(every_truncation_is_servfail),
        cmocka_unit_test(aged_rrs),
        cmocka_unit_test(cache_hit_age_expiry),
        cmocka_unit_test(cache_max_ttl_caps),
        cmocka_unit_test(cache_failures_not_stored),
        cmocka_unit_test(cache_lru_eviction_and_replace),
        cmocka_unit_test(cache_many_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
