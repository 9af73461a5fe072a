/*
 * The network resolver backend against real servers.
 *
 * Two kinds of server:
 *  - an in-test fake: a UDP socket on 127.0.0.1:0 that this thread reads
 *    and answers with hand-built messages (SERVFAIL, REFUSED, malformed,
 *    partial CNAME chains) or never reads at all (timeouts). Always run.
 *  - unbound serving tests/data/dns/net-test.zone, started by
 *    tests/env/dns-server.sh; its address comes from SG_TEST_DNS
 *    ("127.0.0.1:PORT"). Without it these cases fail, unless
 *    SG_TEST_DNS_OPTIONAL=1 makes them skip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dns/cache.h"
#include "dns/resolver_int.h"

/* ---- helpers ---------------------------------------------------------------- */

typedef struct {
    int calls;
    int in_query; /* set around sg_resolver_query: answers must not come then */
    sg_dns_status status;
    sg_dns_result res;
} capture;

static void cb_capture(const sg_dns_answer *a, void *payload)
{
    capture *c = payload;
    assert_false(c->in_query);
    c->calls++;
    c->status = a->status;
    sg_dns_result_free(&c->res);
    assert_int_equal(sg_dns_answer_copy(a, &c->res), SG_OK);
}

static void cap_free(capture *c)
{
    sg_dns_result_free(&c->res);
    memset(c, 0, sizeof(*c));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static sg_resolver *mk(const char *servers, unsigned timeout_ms, unsigned tries, int no_cache)
{
    sg_resolver_opts o;
    sg_resolver *r = NULL;
    sg_resolver_opts_init(&o);
    o.servers = servers;
    o.timeout_ms = timeout_ms;
    o.tries = tries;
    o.no_cache = no_cache;
    assert_int_equal(sg_resolver_new_net(&r, &o), SG_OK);
    assert_non_null(r);
    return r;
}

static void start(sg_resolver *r, const char *name, uint16_t type, capture *c)
{
    c->in_query = 1;
    assert_int_equal(sg_resolver_query(r, name, type, cb_capture, c, NULL), SG_OK);
    c->in_query = 0;
    assert_int_equal(c->calls, 0);
}

/* Run until every query is answered (bounded: 10 s). */
static void run_all(sg_resolver *r)
{
    double end = now_s() + 10;
    while (sg_resolver_pending(r) > 0) {
        assert_true(sg_resolver_run(r, -1) >= 0);
        assert_true(now_s() < end);
    }
}

static void ask(sg_resolver *r, const char *name, uint16_t type, capture *c)
{
    cap_free(c);
    start(r, name, type, c);
    run_all(r);
    assert_int_equal(c->calls, 1);
    assert_int_equal(c->res.answer.qtype, type);
    assert_string_equal(c->res.answer.qname, name);
}

static sg_dns_net_stats stats(const sg_resolver *r)
{
    sg_dns_net_stats s;
    assert_int_equal(sg_dns_net_stats_get(r, &s), SG_OK);
    return s;
}

/* ---- the in-test fake server ------------------------------------------------------ */

static int udp_socket(char *servers, size_t n)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    snprintf(servers, n, "127.0.0.1:%u", ntohs(sa.sin_port));
    return fd;
}

typedef struct {
    char qname[256];
    uint16_t qtype;
    int queries;
    int mode;
    double delay_s; /* each answer this long after its query */
} fake;

enum {
    FAKE_SERVFAIL,
    FAKE_REFUSED,
    FAKE_BAD_TXT,
    FAKE_SPLIT_CHAIN,
    FAKE_SPLIT_CHAIN_ODD,
    FAKE_ENDLESS_CHAIN
};

static void put16(uint8_t *b, size_t *n, unsigned v)
{
    b[(*n)++] = (uint8_t)(v >> 8);
    b[(*n)++] = (uint8_t)v;
}

static void put_name(uint8_t *b, size_t *n, const char *name)
{
    while (*name) {
        size_t len = strcspn(name, ".");
        b[(*n)++] = (uint8_t)len;
        memcpy(b + *n, name, len);
        *n += len;
        name += len;
        if (*name == '.')
            name++;
    }
    b[(*n)++] = 0;
}

/* Build the fake's answer to one query; 0: stay silent. */
static size_t fake_answer(fake *f, const uint8_t *q, size_t qlen, uint8_t *out)
{
    size_t off = 12, o = 0;
    char *d = f->qname;
    if (qlen < 12)
        return 0;
    while (off < qlen && q[off] != 0) { /* the question, uncompressed */
        size_t l = q[off];
        if (d != f->qname)
            *d++ = '.';
        memcpy(d, q + off + 1, l);
        d += l;
        off += l + 1;
    }
    *d = '\0';
    off++;
    f->qtype = (uint16_t)((q[off] << 8) | q[off + 1]);
    off += 4;
    f->queries++;

    unsigned rcode = 0, an = 0;
    uint8_t ans[512];
    size_t n = 0;
    switch (f->mode) {
    case FAKE_SERVFAIL:
        rcode = 2;
        break;
    case FAKE_REFUSED:
        rcode = 5;
        break;
    case FAKE_BAD_TXT:
        an = 1;
        put16(ans, &n, 0xC00C);
        put16(ans, &n, SG_DNS_TXT);
        put16(ans, &n, 1);
        put16(ans, &n, 0);
        put16(ans, &n, 60);
        put16(ans, &n, 3); /* RDLENGTH 3, but the string claims 9 */
        ans[n++] = 9;
        ans[n++] = 'a';
        ans[n++] = 'b';
        break;
    case FAKE_ENDLESS_CHAIN: {
        /* hN.slow.test -> h(N+1).slow.test, one hop per answer */
        char target[64];
        snprintf(target, sizeof(target), "h%d.slow.test", f->queries);
        an = 1;
        put16(ans, &n, 0xC00C);
        put16(ans, &n, SG_DNS_CNAME);
        put16(ans, &n, 1);
        put16(ans, &n, 0);
        put16(ans, &n, 100);
        put16(ans, &n, (unsigned)strlen(target) + 2);
        put_name(ans, &n, target);
        break;
    }
    case FAKE_SPLIT_CHAIN:
    case FAKE_SPLIT_CHAIN_ODD:
        /* a.fake.test -> b.other.test (no SOA: the chain leaves us);
         * b.other.test A 192.0.2.7. ODD: the target's first label is
         * "b c\001" (a space and a control octet). */
        an = 1;
        put16(ans, &n, 0xC00C);
        if (strcmp(f->qname, "a.fake.test") == 0) {
            const char *target =
                f->mode == FAKE_SPLIT_CHAIN ? "b.other.test" : "b c\001.other.test";
            put16(ans, &n, SG_DNS_CNAME);
            put16(ans, &n, 1);
            put16(ans, &n, 0);
            put16(ans, &n, 100);
            put16(ans, &n, (unsigned)strlen(target) + 2);
            put_name(ans, &n, target);
        } else {
            put16(ans, &n, SG_DNS_A);
            put16(ans, &n, 1);
            put16(ans, &n, 0);
            put16(ans, &n, 200);
            put16(ans, &n, 4);
            memcpy(ans + n, "\xc0\x00\x02\x07", 4);
            n += 4;
        }
        break;
    }
    memcpy(out, q, off); /* ID, question */
    out[2] = 0x81;       /* QR, RD */
    out[3] = (uint8_t)(0x80 | rcode);
    out[6] = 0;
    out[7] = (uint8_t)an;
    memset(out + 8, 0, 4); /* no authority, no additional (drops the OPT) */
    o = off;
    memcpy(out + o, ans, n);
    return o + n;
}

/* Run the resolver and serve its queries until every query is answered. */
static void run_with_fake(sg_resolver *r, int fd, fake *f)
{
    double end = now_s() + 10, due = 0;
    uint8_t q[1500], a[1500];
    size_t held = 0; /* an answer held back until due (f->delay_s) */
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    while (sg_resolver_pending(r) > 0) {
        assert_true(sg_resolver_run(r, 10) >= 0);
        ssize_t n;
        if (held > 0 && now_s() >= due) {
            assert_true(sendto(fd, a, held, 0, (struct sockaddr *)&from, fl) == (ssize_t)held);
            held = 0;
        }
        while (held == 0 &&
               (n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl)) > 0) {
            size_t m = fake_answer(f, q, (size_t)n, a);
            if (m > 0 && f->delay_s > 0) {
                held = m;
                due = now_s() + f->delay_s;
            } else if (m > 0) {
                assert_true(sendto(fd, a, m, 0, (struct sockaddr *)&from, fl) == (ssize_t)m);
            }
            if (held == 0)
                fl = sizeof(from);
        }
        assert_true(now_s() < end);
    }
}

static void fake_case(int mode, const char *name, uint16_t type, capture *c, fake *f,
                      sg_dns_net_stats *st)
{
    char servers[64];
    int fd = udp_socket(servers, sizeof(servers));
    sg_resolver *r = mk(servers, 500, 2, 0);
    memset(f, 0, sizeof(*f));
    f->mode = mode;
    start(r, name, type, c);
    run_with_fake(r, fd, f);
    assert_int_equal(c->calls, 1);
    *st = stats(r);
    sg_resolver_free(r);
    close(fd);
}

/* ---- cases without unbound ----------------------------------------------------- */

static void timeout_after_tries(void **state)
{
    char servers[64];
    capture c = {0};
    int fd = udp_socket(servers, sizeof(servers)); /* bound, never read */
    sg_resolver *r = mk(servers, 200, 2, 0);
    double t0 = now_s();
    start(r, "slow.example", SG_DNS_TXT, &c);
    run_all(r);
    double el = now_s() - t0;
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.status, SG_DNS_TIMEOUT);
    assert_true(el >= 0.3);
    assert_true(el < 1.5);
    assert_int_equal(stats(r).sent, 2);
    /* a timeout is not cached: asking again goes to the network again */
    c.calls = 0;
    start(r, "slow.example", SG_DNS_TXT, &c);
    run_all(r);
    assert_int_equal(stats(r).sent, 4);
    assert_int_equal(c.calls, 1);
    sg_resolver_free(r);
    close(fd);
    cap_free(&c);
}

/* Nothing listens: the ICMP port-unreachable makes c-ares report
 * ECONNREFUSED, which is no answer at all, i.e. TIMEOUT, and fast. */
static void closed_port_is_timeout(void **state)
{
    char servers[64];
    capture c = {0};
    int fd = udp_socket(servers, sizeof(servers));
    close(fd); /* the port is free again */
    sg_resolver *r = mk(servers, 500, 2, 0);
    start(r, "x.example", SG_DNS_A, &c);
    run_all(r);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.status, SG_DNS_TIMEOUT);
    assert_int_equal(stats(r).sent, 2);
    sg_resolver_free(r);
    cap_free(&c);
}

static void fake_servfail_refused_malformed(void **state)
{
    capture c = {0};
    fake f;
    sg_dns_net_stats st;
    fake_case(FAKE_SERVFAIL, "x.fake.test", SG_DNS_A, &c, &f, &st);
    assert_int_equal(c.status, SG_DNS_SERVFAIL);
    assert_int_equal(f.queries, 1); /* a SERVFAIL is an answer, not retried */
    cap_free(&c);
    fake_case(FAKE_REFUSED, "x.fake.test", SG_DNS_MX, &c, &f, &st);
    assert_int_equal(c.status, SG_DNS_SERVFAIL);
    cap_free(&c);
    fake_case(FAKE_BAD_TXT, "x.fake.test", SG_DNS_TXT, &c, &f, &st);
    assert_int_equal(c.status, SG_DNS_SERVFAIL);
    assert_string_equal(f.qname, "x.fake.test");
    assert_int_equal(f.qtype, SG_DNS_TXT);
    cap_free(&c);
}

/* A sender's server answers every hop of an endless CNAME chain just
 * before the per-try timeout: the whole lookup still ends within tries x
 * timeout (plus the try under way), as a timeout. Each hop used to get
 * the full tries again: 16 hops at 0.4 s each (adv23 F2). */
static void chain_within_tries_times_timeout(void **state)
{
    char servers[64];
    capture c = {0};
    fake f = {.mode = FAKE_ENDLESS_CHAIN, .delay_s = 0.4};
    int fd = udp_socket(servers, sizeof(servers));
    sg_resolver *r = mk(servers, 500, 2, 0);
    double t0 = now_s();
    start(r, "h0.slow.test", SG_DNS_TXT, &c);
    run_with_fake(r, fd, &f);
    double el = now_s() - t0;
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.status, SG_DNS_TIMEOUT);
    if (el > 1.6 || f.queries > 4)
        fail_msg("%.2f s, %d queries", el, f.queries);
    sg_resolver_free(r);
    close(fd);
    cap_free(&c);
}

static void fake_partial_chain_is_followed(void **state)
{
    capture c = {0};
    fake f;
    sg_dns_net_stats st;
    fake_case(FAKE_SPLIT_CHAIN, "A.fake.test.", SG_DNS_A, &c, &f, &st);
    assert_int_equal(c.status, SG_DNS_NOERROR);
    assert_int_equal(c.res.answer.count, 1);
    assert_memory_equal(c.res.answer.rrs[0].u.a, "\xc0\x00\x02\x07", 4);
    assert_string_equal(c.res.answer.qname, "A.fake.test.");
    assert_int_equal(f.queries, 2);
    assert_string_equal(f.qname, "b.other.test");
    assert_int_equal(st.requeries, 1);
    cap_free(&c);
    /* the target is asked for with its exact octets */
    fake_case(FAKE_SPLIT_CHAIN_ODD, "a.fake.test", SG_DNS_A, &c, &f, &st);
    assert_int_equal(c.status, SG_DNS_NOERROR);
    assert_int_equal(f.queries, 2);
    assert_string_equal(f.qname, "b c\001.other.test");
    cap_free(&c);
}

static void bad_options_and_names(void **state)
{
    sg_resolver_opts o;
    sg_resolver *r = NULL;
    capture c = {0};
    sg_resolver_opts_init(&o);
    o.servers = "not-an-address";
    assert_int_equal(sg_resolver_new_net(&r, &o), SG_EINVAL);
    assert_null(r);
    o.servers = "";
    assert_int_equal(sg_resolver_new_net(&r, &o), SG_EINVAL);
    /* a port past 65535, or 0, or missing after the colon: c-ares took
     * 99999 and every lookup timed out (adv21 F4) */
    static const char *const bad[] = {"127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:",
                                      "[::1]:65536",     "[::1]x",      "127.0.0.1:53,host.test"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        o.servers = bad[i];
        if (sg_resolver_new_net(&r, &o) != SG_EINVAL)
            fail_msg("servers \"%s\" accepted", bad[i]);
        /* the configuration's check applies the same rule */
        if (sg_resolver_servers_check(bad[i], NULL, NULL, NULL) != SG_EINVAL)
            fail_msg("servers \"%s\" passed the check", bad[i]);
    }
    /* and names the entry and why, for the message (adv37 F8) */
    const char *why = NULL;
    size_t off = 99, len = 99;
    assert_int_equal(sg_resolver_servers_check("127.0.0.1:53,host.test", &why, &off, &len),
                     SG_EINVAL);
    assert_int_equal(off, 13);
    assert_int_equal(len, 9);
    assert_non_null(strstr(why, "not an IPv4 or IPv6 address"));
    assert_int_equal(sg_resolver_servers_check("::1 192.0.2.53:0", &why, &off, &len), SG_EINVAL);
    assert_int_equal(off, 4);
    assert_int_equal(len, 12);
    assert_string_equal(why, "the port must be 1 to 65535");
    assert_int_equal(sg_resolver_servers_check(" , ", &why, &off, &len), SG_EINVAL);
    assert_int_equal(len, 0);
    assert_int_equal(sg_resolver_servers_check("127.0.0.1:65535 ::1\t[::1]:1", &why, &off, &len),
                     SG_OK);
    /* commas or white space between servers */
    o.servers = "127.0.0.1:65535 ::1\t127.0.0.2";
    assert_int_equal(sg_resolver_new_net(&r, &o), SG_OK);
    sg_resolver_free(r);
    r = NULL;
    o.servers = "127.0.0.1:53";
    o.version = 99;
    assert_int_equal(sg_resolver_new_net(&r, &o), SG_EINVAL);
    o.version = SG_RESOLVER_OPTS_VERSION;
    o.tries = 1000;
    assert_int_equal(sg_resolver_new_net(&r, &o), SG_EINVAL);
    o.tries = 0;
    o.servers = "127.0.0.1:53,[::1]:5353";
    assert_int_equal(sg_resolver_new_net(&r, &o), SG_OK);
    char label[70];
    memset(label, 'a', 64);
    strcpy(label + 64, ".x");
    assert_int_equal(sg_resolver_query(r, label, SG_DNS_A, cb_capture, &c, NULL), SG_EINVAL);
    assert_int_equal(sg_resolver_query(r, "x.test", SG_DNS_ANY, cb_capture, &c, NULL), SG_EINVAL);
    assert_int_equal(sg_resolver_query(r, "x.test", 6 /* SOA */, cb_capture, &c, NULL), SG_EINVAL);
    assert_int_equal(sg_resolver_pending(r), 0);
    assert_int_equal(sg_resolver_run(r, 0), 0);
    sg_resolver_free(r);
}

/* ---- cases against unbound (SG_TEST_DNS) ------------------------------------------ */

static const char *server(void)
{
    const char *s = getenv("SG_TEST_DNS");
    if (s == NULL || *s == '\0') {
        const char *opt = getenv("SG_TEST_DNS_OPTIONAL");
        if (opt != NULL && strcmp(opt, "1") == 0)
            skip();
        fail_msg("SG_TEST_DNS is not set: start tests/env/dns-server.sh start DIR PORT and set "
                 "SG_TEST_DNS=127.0.0.1:PORT (or SG_TEST_DNS_OPTIONAL=1 to skip)");
    }
    return s;
}

static void txt_split_and_binary(void **state)
{
    sg_resolver *r = mk(server(), 1000, 2, 0);
    capture c = {0};
    ask(r, "split.nettest.test", SG_DNS_TXT, &c);
    assert_int_equal(c.status, SG_DNS_NOERROR);
    assert_int_equal(c.res.answer.count, 1);
    assert_int_equal(c.res.answer.ttl, 300);
    const sg_dns_rr *rr = &c.res.answer.rrs[0];
    assert_int_equal(rr->type, SG_DNS_TXT);
    assert_int_equal(rr->u.txt.nstrings, 3);
    assert_int_equal(rr->u.txt.len, 28);
    assert_string_equal(rr->u.txt.data, "v=spf1 ip4:192.0.2.0/24 -all");

    /* "a\000b" "q\"x\\y": 8 octets, a NUL among them */
    ask(r, "bin.nettest.test", SG_DNS_TXT, &c);
    rr = &c.res.answer.rrs[0];
    assert_int_equal(rr->u.txt.nstrings, 2);
    assert_int_equal(rr->u.txt.len, 8);
    assert_memory_equal(rr->u.txt.data, "a\0bq\"x\\y", 9);

    ask(r, "empty.nettest.test", SG_DNS_TXT, &c);
    assert_int_equal(c.res.answer.count, 1);
    assert_int_equal(c.res.answer.rrs[0].u.txt.len, 0);
    assert_int_equal(c.res.answer.rrs[0].u.txt.nstrings, 1);

    ask(r, "multi.nettest.test", SG_DNS_TXT, &c);
    assert_int_equal(c.res.answer.count, 2);
    int first = strcmp(c.res.answer.rrs[0].u.txt.data, "first") == 0 ? 0 : 1;
    assert_string_equal(c.res.answer.rrs[first].u.txt.data, "first");
    assert_int_equal(c.res.answer.rrs[first].u.txt.nstrings, 1);
    assert_string_equal(c.res.answer.rrs[1 - first].u.txt.data, "secondpart");
    assert_int_equal(c.res.answer.rrs[1 - first].u.txt.nstrings, 2);
    sg_resolver_free(r);
    cap_free(&c);
}

static void txt_big_over_tcp(void **state)
{
    sg_resolver *r = mk(server(), 1000, 2, 0);
    capture c = {0};
    ask(r, "big.nettest.test", SG_DNS_TXT, &c);
    assert_int_equal(c.status, SG_DNS_NOERROR);
    assert_int_equal(c.res.answer.count, 1);
    const sg_dns_rr *rr = &c.res.answer.rrs[0];
    assert_int_equal(rr->u.txt.nstrings, 6);
    assert_int_equal(rr->u.txt.len, 1500);
    for (size_t i = 0; i < 1500; i++)
        assert_int_equal(rr->u.txt.data[i], "abcdef"[i / 250]);
    assert_int_equal(rr->u.txt.data[1500], '\0');
    sg_resolver_free(r);
    cap_free(&c);
}

static void a_aaaa_mx_ptr(void **state)
{
    sg_resolver *r = mk(server(), 1000, 2, 0);
    capture c = {0};
    ask(r, "nettest.test", SG_DNS_A, &c);
    assert_int_equal(c.res.answer.count, 1);
    assert_memory_equal(c.res.answer.rrs[0].u.a, "\xc0\x00\x02\x01", 4);
    ask(r, "nettest.test.", SG_DNS_AAAA, &c);
    assert_int_equal(c.res.answer.count, 1);
    assert_memory_equal(c.res.answer.rrs[0].u.aaaa, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01",
                        16);
    ask(r, "nettest.test", SG_DNS_MX, &c);
    assert_int_equal(c.res.answer.count, 2);
    int i10 = c.res.answer.rrs[0].u.mx.pref == 10 ? 0 : 1;
    assert_int_equal(c.res.answer.rrs[i10].u.mx.pref, 10);
    assert_string_equal(c.res.answer.rrs[i10].u.mx.host, "mx1.nettest.test");
    assert_int_equal(c.res.answer.rrs[1 - i10].u.mx.pref, 20);
    assert_string_equal(c.res.answer.rrs[1 - i10].u.mx.host, "mx2.nettest.test");
    ask(r, "ptr.nettest.test", SG_DNS_PTR, &c);
    assert_int_equal(c.res.answer.count, 1);
    assert_string_equal(c.res.answer.rrs[0].u.name, "host.nettest.test");
    ask(r, "spf.nettest.test", SG_DNS_SPF, &c);
    assert_int_equal(c.res.answer.count, 1);
    assert_int_equal(c.res.answer.rrs[0].type, SG_DNS_SPF);
    assert_string_equal(c.res.answer.rrs[0].u.txt.data, "v=spf1 -all");
    assert_int_equal(c.res.answer.rrs[0].u.txt.nstrings, 2);
    /* names are case-insensitive; qname comes back as asked */
    ask(r, "UPPER.NetTest.Test.", SG_DNS_TXT, &c);
    assert_int_equal(c.status, SG_DNS_NOERROR);
    assert_string_equal(c.res.answer.rrs[0].u.txt.data, "case");
    sg_resolver_free(r);
    cap_free(&c);
}

static void nxdomain_vs_nodata(void **state)
{
    sg_resolver *r = mk(server(), 1000, 2, 0);
    capture c = {0};
    ask(r, "nope.nettest.test", SG_DNS_TXT, &c);
    assert_int_equal(c.status, SG_DNS_NXDOMAIN);
    assert_int_equal(c.res.answer.count, 0);
    assert_int_equal(c.res.answer.ttl, 60); /* min(SOA TTL 300, MINIMUM 60) */
    ask(r, "txtonly.nettest.test", SG_DNS_A, &c);
    assert_int_equal(c.status, SG_DNS_NODATA);
    assert_int_equal(c.res.answer.ttl, 60);
    ask(r, "outside.example", SG_DNS_A, &c); /* the server's static "." zone */
    assert_int_equal(c.status, SG_DNS_NXDOMAIN);
    sg_resolver_free(r);
    cap_free(&c);
}

static void cname_chains(void **state)
{
    sg_resolver *r = mk(server(), 1000, 2, 0);
    capture c = {0};
    /* c1 -> c2 -> c3 -> end */
    ask(r, "c1.nettest.test", SG_DNS_TXT, &c);
    assert_int_equal(c.status, SG_DNS_NOERROR);
    assert_int_equal(c.res.answer.count, 1);
    assert_int_equal(c.res.answer.rrs[0].type, SG_DNS_TXT);
    assert_string_equal(c.res.answer.rrs[0].u.txt.data, "end of chain");
    ask(r, "c2.nettest.test", SG_DNS_A, &c);
    assert_int_equal(c.res.answer.count, 1);
    assert_memory_equal(c.res.answer.rrs[0].u.a, "\xc0\x00\x02\x21", 4);
    ask(r, "c1.nettest.test", SG_DNS_CNAME, &c);
    assert_int_equal(c.res.answer.count, 1);
    assert_string_equal(c.res.answer.rrs[0].u.name, "c2.nettest.test");
    assert_int_equal(stats(r).requeries, 0);
    /* unbound gives only the CNAME for a target it lacks: we ask again */
    ask(r, "dangling.nettest.test", SG_DNS_A, &c);
    assert_int_equal(c.status, SG_DNS_NXDOMAIN);
    assert_int_equal(stats(r).requeries, 1);
    ask(r, "loop1.nettest.test", SG_DNS_A, &c);
    assert_int_equal(c.status, SG_DNS_SERVFAIL);
    sg_resolver_free(r);
    cap_free(&c);
}

typedef struct {
    int calls[2][6]; /* [from_cache][status] */
    uint64_t max_us[2];
} seen;

static void on_observe(const sg_dns_answer *a, int from_cache, uint64_t us, void *payload)
{
    seen *s = payload;
    s->calls[from_cache ? 1 : 0][a->status]++;
    if (us > s->max_us[from_cache ? 1 : 0])
        s->max_us[from_cache ? 1 : 0] = us;
}

/* The observer (daemon metrics) sees every answer once, with its source
 * and a time that covers the wait: a network answer, then the same from
 * the cache, then a timeout after 2 tries of 200 ms. */
static void observer_sees_every_answer(void **state)
{
    seen s = {0};
    capture c = {0};
    sg_resolver *r = mk(server(), 1000, 2, 0);
    assert_int_equal(sg_resolver_observe(r, on_observe, &s), SG_OK);
    ask(r, "split.nettest.test", SG_DNS_TXT, &c);
    ask(r, "split.nettest.test", SG_DNS_TXT, &c);
    ask(r, "nope.nettest.test", SG_DNS_A, &c);
    assert_int_equal(s.calls[0][SG_DNS_NOERROR], 1);
    assert_int_equal(s.calls[1][SG_DNS_NOERROR], 1);
    assert_int_equal(s.calls[0][SG_DNS_NXDOMAIN], 1);
    sg_resolver_free(r);

    char servers[64];
    int fd = udp_socket(servers, sizeof(servers)); /* bound, never read */
    memset(&s, 0, sizeof(s));
    r = mk(servers, 200, 2, 0);
    assert_int_equal(sg_resolver_observe(r, on_observe, &s), SG_OK);
    ask(r, "slow.example", SG_DNS_TXT, &c);
    assert_int_equal(s.calls[0][SG_DNS_TIMEOUT], 1);
    assert_true(s.max_us[0] >= 300000);
    assert_true(s.max_us[0] < 1500000);
    /* off again: nothing more is seen */
    assert_int_equal(sg_resolver_observe(r, NULL, NULL), SG_OK);
    ask(r, "slow.example", SG_DNS_TXT, &c);
    assert_int_equal(s.calls[0][SG_DNS_TIMEOUT], 1);
    sg_resolver_free(r);
    close(fd);
    cap_free(&c);
}

static void cache_serves_second_query(void **state)
{
    sg_resolver *r = mk(server(), 1000, 2, 0);
    capture c = {0};
    ask(r, "split.nettest.test", SG_DNS_TXT, &c);
    sg_dns_net_stats s0 = stats(r);
    ask(r, "SPLIT.nettest.test.", SG_DNS_TXT, &c); /* same key */
    sg_dns_net_stats s1 = stats(r);
    assert_int_equal(s1.sent, s0.sent);
    assert_int_equal(s1.cache_hits, s0.cache_hits + 1);
    assert_string_equal(c.res.answer.rrs[0].u.txt.data, "v=spf1 ip4:192.0.2.0/24 -all");
    assert_string_equal(c.res.answer.qname, "SPLIT.nettest.test.");
    /* negative answers are cached too */
    ask(r, "nope.nettest.test", SG_DNS_A, &c);
    ask(r, "nope.nettest.test", SG_DNS_A, &c);
    assert_int_equal(c.status, SG_DNS_NXDOMAIN);
    assert_int_equal(stats(r).sent, s1.sent + 1);
    /* the cached TTL runs down */
    ask(r, "ttl7.nettest.test", SG_DNS_TXT, &c);
    assert_int_equal(c.res.answer.ttl, 7);
    usleep(1100 * 1000);
    ask(r, "ttl7.nettest.test", SG_DNS_TXT, &c);
    assert_true(c.res.answer.ttl <= 6);
    assert_true(c.res.answer.rrs[0].ttl <= 6);
    sg_resolver_free(r);

    /* no_cache: every query goes out */
    r = mk(server(), 1000, 2, 1);
    ask(r, "split.nettest.test", SG_DNS_TXT, &c);
    ask(r, "split.nettest.test", SG_DNS_TXT, &c);
    assert_int_equal(stats(r).sent, 2);
    assert_int_equal(stats(r).cache_hits, 0);
    sg_resolver_free(r);
    cap_free(&c);
}

static void coalesce_in_flight(void **state)
{
    sg_resolver *r = mk(server(), 1000, 2, 0);
    capture c[5];
    memset(c, 0, sizeof(c));
    for (int i = 0; i < 5; i++)
        start(r, "nettest.test", SG_DNS_MX, &c[i]);
    assert_int_equal(sg_resolver_pending(r), 5);
    run_all(r);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(c[i].calls, 1);
        assert_int_equal(c[i].res.answer.count, 2);
        cap_free(&c[i]);
    }
    assert_int_equal(stats(r).sent, 1);
    assert_int_equal(stats(r).coalesced, 4);
    sg_resolver_free(r);
}

static void fifty_at_once(void **state)
{
    enum { N = 50 };
    sg_resolver *r = mk(server(), 1000, 2, 1);
    capture c[N];
    char name[N][64];
    memset(c, 0, sizeof(c));
    for (int i = 0; i < N; i++) {
        snprintf(name[i], sizeof(name[i]), "n%d.wild.nettest.test", i);
        start(r, name[i], i % 2 ? SG_DNS_TXT : SG_DNS_A, &c[i]);
    }
    assert_int_equal(sg_resolver_pending(r), N);
    run_all(r);
    for (int i = 0; i < N; i++) {
        assert_int_equal(c[i].calls, 1);
        assert_int_equal(c[i].status, SG_DNS_NOERROR);
        assert_string_equal(c[i].res.answer.qname, name[i]);
        assert_int_equal(c[i].res.answer.count, 1);
        if (i % 2)
            assert_string_equal(c[i].res.answer.rrs[0].u.txt.data, "wildcard");
        else
            assert_memory_equal(c[i].res.answer.rrs[0].u.a, "\xc0\x00\x02\x63", 4);
        cap_free(&c[i]);
    }
    assert_int_equal(stats(r).sent, N);
    sg_resolver_free(r);
}

static void cancel_in_flight_and_cached(void **state)
{
    sg_resolver *r = mk(server(), 1000, 2, 0);
    capture keep = {0}, drop = {0}, hit = {0};
    sg_dns_query *q = NULL;
    start(r, "nettest.test", SG_DNS_A, &keep);
    assert_int_equal(sg_resolver_query(r, "nettest.test", SG_DNS_A, cb_capture, &drop, &q), SG_OK);
    sg_resolver_cancel(r, q);
    assert_int_equal(sg_resolver_pending(r), 1);
    run_all(r);
    assert_int_equal(keep.calls, 1);
    assert_int_equal(drop.calls, 0);
    /* now cached: a ready query can be cancelled before run() delivers it */
    assert_int_equal(sg_resolver_query(r, "nettest.test", SG_DNS_A, cb_capture, &hit, &q), SG_OK);
    assert_int_equal(sg_resolver_pending(r), 1);
    sg_resolver_cancel(r, q);
    assert_int_equal(sg_resolver_run(r, 0), 0);
    assert_int_equal(hit.calls, 0);
    /* freeing with queries pending runs no callback */
    start(r, "mx1.nettest.test", SG_DNS_A, &drop);
    sg_resolver_free(r);
    assert_int_equal(drop.calls, 0);
    cap_free(&keep);
}

/* A callback that asks again from inside the callback. */
typedef struct {
    sg_resolver *r;
    int stage;
    capture inner;
} chain_state;

static void cb_chain(const sg_dns_answer *a, void *payload)
{
    chain_state *s = payload;
    assert_int_equal(a->status, SG_DNS_NOERROR);
    s->stage++;
    s->inner.in_query = 1;
    assert_int_equal(
        sg_resolver_query(s->r, "mx1.nettest.test", SG_DNS_A, cb_capture, &s->inner, NULL), SG_OK);
    s->inner.in_query = 0;
}

static void query_from_callback_and_event_loop(void **state)
{
    sg_resolver *r = mk(server(), 1000, 2, 0);
    chain_state s = {r, 0, {0}};
    assert_int_equal(sg_resolver_query(r, "nettest.test", SG_DNS_MX, cb_chain, &s, NULL), SG_OK);
    /* drive it the way an event loop would: fds + poll + process_fd */
    double end = now_s() + 10;
    while (sg_resolver_pending(r) > 0) {
        int fds[8], ww[8], tmo = -1;
        struct pollfd p[8];
        int n = sg_resolver_fds(r, fds, ww, 8, &tmo);
        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
            p[i].fd = fds[i];
            p[i].events = (short)(POLLIN | (ww[i] ? POLLOUT : 0));
            p[i].revents = 0;
        }
        int rc = poll(p, (nfds_t)n, tmo < 0 || tmo > 100 ? 100 : tmo);
        assert_true(rc >= 0);
        for (int i = 0; i < n; i++)
            if (p[i].revents)
                sg_resolver_process_fd(r, (p[i].revents & POLLOUT) ? -1 : fds[i],
                                       (p[i].revents & POLLOUT) ? fds[i] : -1);
        if (rc == 0)
            sg_resolver_process_fd(r, -1, -1); /* timeouts; delivers cache hits */
        assert_true(now_s() < end);
    }
    assert_int_equal(s.stage, 1);
    assert_int_equal(s.inner.calls, 1);
    assert_memory_equal(s.inner.res.answer.rrs[0].u.a, "\xc0\x00\x02\x0a", 4);
    sg_resolver_free(r);
    cap_free(&s.inner);
}

static void sync_wrapper(void **state)
{
    sg_resolver *r = mk(server(), 1000, 2, 0);
    sg_dns_result res;
    assert_int_equal(sg_dns_lookup_sync(r, "c3.nettest.test", SG_DNS_TXT, &res), SG_OK);
    assert_int_equal(res.answer.status, SG_DNS_NOERROR);
    assert_string_equal(res.answer.rrs[0].u.txt.data, "end of chain");
    sg_dns_result_free(&res);
    /* again, from the cache */
    assert_int_equal(sg_dns_lookup_sync(r, "c3.nettest.test", SG_DNS_TXT, &res), SG_OK);
    assert_string_equal(res.answer.rrs[0].u.txt.data, "end of chain");
    sg_dns_result_free(&res);
    assert_int_equal(stats(r).cache_hits, 1);
    sg_resolver_free(r);
}

/* The zone backend answers as unbound does, serving the same file: every
 * owner of net-test.zone, its parents, names below it and names below the
 * wildcards (RFC 4592), for each type we store. Status and record data
 * must agree (TTLs aside: the zone backend has no SOA for negative TTLs). */
static void answer_text(const sg_dns_result *res, char *buf, size_t n)
{
    size_t i, off;
    char recs[64][300];
    size_t nrec = res->answer.count < 64 ? res->answer.count : 64;
    off = (size_t)snprintf(buf, n, "%s", sg_dns_status_str(res->answer.status));
    for (i = 0; i < nrec; i++) {
        const sg_dns_rr *rr = &res->answer.rrs[i];
        switch (rr->type) {
        case SG_DNS_A:
            snprintf(recs[i], sizeof(recs[i]), "A %u.%u.%u.%u", rr->u.a[0], rr->u.a[1], rr->u.a[2],
                     rr->u.a[3]);
            break;
        case SG_DNS_AAAA:
            snprintf(recs[i], sizeof(recs[i]), "AAAA %02x%02x..%02x", rr->u.aaaa[0], rr->u.aaaa[1],
                     rr->u.aaaa[15]);
            break;
        case SG_DNS_MX:
            snprintf(recs[i], sizeof(recs[i]), "MX %u %s", rr->u.mx.pref, rr->u.mx.host);
            break;
        case SG_DNS_TXT:
        case SG_DNS_SPF:
            snprintf(recs[i], sizeof(recs[i]), "TXT %zu %.200s", rr->u.txt.len, rr->u.txt.data);
            break;
        default:
            snprintf(recs[i], sizeof(recs[i]), "%u %s", rr->type, rr->u.name);
            break;
        }
    }
    /* RRsets have no order on the wire: compare them sorted */
    qsort(recs, nrec, sizeof(recs[0]), (int (*)(const void *, const void *))strcmp);
    for (i = 0; i < nrec && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, " | %s", recs[i]);
}

static void zone_backend_matches_unbound(void **state)
{
    static const char *const owners[] = {
        "nettest.test",
        "ns",
        "mx1",
        "ptr",
        "split",
        "bin",
        "multi",
        "empty",
        "spf",
        "big",
        "txtonly",
        "c1",
        "c2",
        "c3",
        "end",
        "dangling",
        "loop1",
        "*.wild",
        "upper",
        "ttl7",
        "*.ex4592",
        "sub.*.ex4592",
        "host1.ex4592",
        "_ssh._tcp.host1.ex4592",
        "_ssh._tcp.host2.ex4592",
        "*._report._dmarc.rep",
        "*.cnw",
        "deep.a.b.ent",
    };
    static const char *const extra[] = {
        "host3.ex4592",
        "foo.bar.ex4592",
        "_telnet._tcp.host1.ex4592",
        "ghost.*.ex4592",
        "x.sub.*.ex4592",
        "_tcp.host1.ex4592",
        "ex4592",
        "a.wild",
        "a.b.wild",
        "wild",
        "example.com._report._dmarc.rep",
        "_report._dmarc.rep",
        "_dmarc.rep",
        "x.cnw",
        "a.b.ent",
        "b.ent",
        "x.b.ent",
        "nothere",
        "nope",
        "x.txtonly",
    };
    static const uint16_t types[] = {SG_DNS_A,   SG_DNS_AAAA, SG_DNS_MX,
                                     SG_DNS_TXT, SG_DNS_PTR,  SG_DNS_CNAME};
    const char *data = getenv("SG_TEST_DATA");
    char path[1024], name[300], a_txt[4096], b_txt[4096];
    sg_zone *z;
    sg_resolver *zr, *nr = mk(server(), 1000, 2, 1);
    size_t i, k, asked = 0;
    int suffix, pass;

    assert_non_null(data);
    snprintf(path, sizeof(path), "%s/dns/net-test.zone", data);
    assert_int_equal(sg_zone_new(&z), SG_OK);
    assert_int_equal(sg_zone_load_file(z, path, NULL, NULL), SG_OK);
    assert_int_equal(sg_resolver_new_zone(&zr, z), SG_OK);
    for (pass = 0; pass < 2; pass++) {
        size_t nnames =
            pass == 0 ? sizeof(owners) / sizeof(owners[0]) : sizeof(extra) / sizeof(extra[0]);
        for (i = 0; i < nnames; i++) {
            const char *o = pass == 0 ? owners[i] : extra[i];
            /* the owner itself, and (for owners) a name just below it */
            for (suffix = 0; suffix < (pass == 0 ? 2 : 1); suffix++) {
                if (strcmp(o, "nettest.test") == 0)
                    snprintf(name, sizeof(name), "%s%s", suffix ? "below." : "", o);
                else
                    snprintf(name, sizeof(name), "%s%s.nettest.test", suffix ? "below." : "", o);
                for (k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
                    sg_dns_result ra, rb;
                    assert_int_equal(sg_dns_lookup_sync(zr, name, types[k], &ra), SG_OK);
                    assert_int_equal(sg_dns_lookup_sync(nr, name, types[k], &rb), SG_OK);
                    answer_text(&ra, a_txt, sizeof(a_txt));
                    answer_text(&rb, b_txt, sizeof(b_txt));
                    if (strcmp(a_txt, b_txt) != 0)
                        fail_msg("%s %s: zone backend \"%s\", unbound \"%s\"", name,
                                 sg_dns_type_str(types[k]), a_txt, b_txt);
                    sg_dns_result_free(&ra);
                    sg_dns_result_free(&rb);
                    asked++;
                }
            }
        }
    }
    print_message("zone backend and unbound agree on %zu questions\n", asked);
    sg_resolver_free(zr);
    sg_resolver_free(nr);
    sg_zone_free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timeout_after_tries),
        cmocka_unit_test(closed_port_is_timeout),
        cmocka_unit_test(fake_servfail_refused_malformed),
        cmocka_unit_test(fake_partial_chain_is_followed),
        cmocka_unit_test(chain_within_tries_times_timeout),
        cmocka_unit_test(bad_options_and_names),
        cmocka_unit_test(txt_split_and_binary),
        cmocka_unit_test(txt_big_over_tcp),
        cmocka_unit_test(a_aaaa_mx_ptr),
        cmocka_unit_test(nxdomain_vs_nodata),
        cmocka_unit_test(cname_chains),
        cmocka_unit_test(cache_serves_second_query),
        cmocka_unit_test(observer_sees_every_answer),
        cmocka_unit_test(coalesce_in_flight),
        cmocka_unit_test(fifty_at_once),
        cmocka_unit_test(cancel_in_flight_and_cached),
        cmocka_unit_test(query_from_callback_and_event_loop),
        cmocka_unit_test(sync_wrapper),
        cmocka_unit_test(zone_backend_matches_unbound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
