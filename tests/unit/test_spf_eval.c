/*
 * SPF evaluator: asynchronous behaviour (suspension, parallel MX/PTR
 * lookups, several checks on one resolver, cancellation, time budget),
 * the record cache, configurable limits, identities and Received-SPF.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <spoofguard/dns.h>
#include <spoofguard/spf.h>

#include "dns/zone.h"

static const char zone_text[] =
    "$ORIGIN example.com.\n"
    "@        TXT \"v=spf1 mx -all\"\n"
    "@        MX 10 mx1\n"
    "@        MX 20 mx2\n"
    "@        MX 30 mx3\n"
    "mx1      A 192.0.2.1\n"
    "mx2      A 192.0.2.2\n"
    "mx3      A 192.0.2.3\n"
    "inc      TXT \"v=spf1 include:example.com include:v6.example.com ?all\"\n"
    "v6       TXT \"v=spf1 exists:%{ir}.%{v}._spf.%{d2} -all\"\n"
    "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com. A "
    "127.0.0.2\n"
    "chain1   TXT \"v=spf1 include:chain2.example.com -all\"\n"
    "chain2   TXT \"v=spf1 include:chain3.example.com -all\"\n"
    "chain3   TXT \"v=spf1 include:chain4.example.com -all\"\n"
    "chain4   TXT \"v=spf1 +all\"\n"
    "ptr      TXT \"v=spf1 exists:%{p}.p.example.com -all\"\n"
    "ptr2     TXT \"v=spf1 ptr:example.com -all\"\n"
    "ptr3     TXT \"v=spf1 ptr:example.net -all\"\n"
    "mx3.example.com.p A 127.0.0.2\n"
    "3.2.0.192.in-addr.arpa. PTR mx3.example.com.\n"
    "3.2.0.192.in-addr.arpa. PTR bogus.example.net.\n"
    /* ten names that cannot be used (one label), then one that validates */
    "ptr4     TXT \"v=spf1 ptr:ptr4.example.com -all\"\n"
    "4.2.0.192.in-addr.arpa. PTR host0.\n4.2.0.192.in-addr.arpa. PTR host1.\n"
    "4.2.0.192.in-addr.arpa. PTR host2.\n4.2.0.192.in-addr.arpa. PTR host3.\n"
    "4.2.0.192.in-addr.arpa. PTR host4.\n4.2.0.192.in-addr.arpa. PTR host5.\n"
    "4.2.0.192.in-addr.arpa. PTR host6.\n4.2.0.192.in-addr.arpa. PTR host7.\n"
    "4.2.0.192.in-addr.arpa. PTR host8.\n4.2.0.192.in-addr.arpa. PTR host9.\n"
    "4.2.0.192.in-addr.arpa. PTR good.ptr4.example.com.\n"
    "good.ptr4 A 192.0.2.4\n"
    "slow     TIMEOUT TXT\n"
    "void     TXT \"v=spf1 a:n1.example.com a:n2.example.com a:n3.example.com +all\"\n"
    "mxerr    TXT \"v=spf1 mx -all\"\n"
    "mxerr    MX 10 mx1\n"
    "mxerr    MX 20 slowmx\n"
    "slowmx   TIMEOUT A\n"
    "helo     TXT \"v=spf1 a -all\"\n"
    "helo     A 198.51.100.1\n"
    /* bücher.example.com, by its A-label (RFC 8616 3) */
    "xn--bcher-kva TXT \"v=spf1 ip4:192.0.2.10 -all\"\n";

typedef struct {
    sg_zone *zone;
    sg_resolver *res;
} fixture;

static int setup(void **state)
{
    static fixture f;
    size_t line = 0;
    assert_int_equal(sg_zone_new(&f.zone), 0);
    int rc = sg_zone_load_text(f.zone, zone_text, strlen(zone_text), NULL, &line);
    if (rc != 0)
        fail_msg("zone line %zu: %d", line, rc);
    assert_int_equal(sg_resolver_new_zone(&f.res, f.zone), 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sg_resolver_free(f->res);
    sg_zone_free(f->zone);
    return 0;
}

static sg_spf_result_code sync_check(fixture *f, sg_arena *a, const char *ip, const char *mail_from,
                                     const char *helo, sg_spf_result *out)
{
    sg_spf_request req;
    sg_spf_request_init(&req);
    req.ip = ip;
    req.mail_from = mail_from;
    req.helo = helo;
    assert_int_equal(sg_spf_check_sync(out, a, f->res, &req), 0);
    return out->result;
}

typedef struct {
    int calls;
    sg_spf_result_code r;
} done_t;

static void on_done(const sg_spf_result *r, void *payload)
{
    done_t *d = payload;
    d->calls++;
    d->r = r->result;
}

/* The check suspends on DNS: nothing is decided inside start(); the MX
 * exchanges are looked up in parallel (all three queries outstanding at
 * once, RFC 7208 5.4 allows any order). */
static void suspends_and_parallel_mx(void **state)
{
    fixture *f = *state;
    sg_spf_check *c;
    sg_spf_request req;
    done_t d = {0};
    sg_spf_request_init(&req);
    req.ip = "192.0.2.3";
    req.mail_from = "user@example.com";
    assert_int_equal(sg_spf_check_start(&c, f->res, &req, on_done, &d), 0);
    assert_int_equal(d.calls, 0);
    assert_null(sg_spf_check_result(c));
    assert_int_equal(sg_resolver_pending(f->res), 1); /* TXT example.com */
    sg_resolver_run(f->res, 0);
    assert_int_equal(sg_resolver_pending(f->res), 1); /* MX example.com */
    sg_resolver_run(f->res, 0);
    assert_int_equal(sg_resolver_pending(f->res), 3); /* A of mx1, mx2, mx3 together */
    sg_resolver_run(f->res, 0);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.r, SG_SPF_PASS);
    const sg_spf_result *r = sg_spf_check_result(c);
    assert_non_null(r);
    assert_string_equal(r->mechanism, "mx");
    assert_int_equal(r->dns_lookups, 1);
    sg_spf_check_free(c);
}

/* Many checks share one resolver; each completes with its own result. */
static void concurrent_checks(void **state)
{
    fixture *f = *state;
    enum { N = 50 };
    sg_spf_check *c[N];
    done_t d[N];
    memset(d, 0, sizeof(d));
    for (int i = 0; i < N; i++) {
        sg_spf_request req;
        char ip[32];
        sg_spf_request_init(&req);
        snprintf(ip, sizeof(ip), "192.0.2.%d", i % 5);
        req.ip = ip; /* copied by start */
        req.mail_from = (i % 2) ? "u@example.com" : "u@inc.example.com";
        assert_int_equal(sg_spf_check_start(&c[i], f->res, &req, on_done, &d[i]), 0);
    }
    while (sg_resolver_pending(f->res) > 0)
        assert_true(sg_resolver_run(f->res, 0) >= 0);
    for (int i = 0; i < N; i++) {
        int host = i % 5;
        sg_spf_result_code want;
        if (host >= 1 && host <= 3)
            want = SG_SPF_PASS;
        else
            want = (i % 2) ? SG_SPF_FAIL : SG_SPF_NEUTRAL; /* inc: include no match -> ?all */
        assert_int_equal(d[i].calls, 1);
        assert_int_equal(d[i].r, want);
        sg_spf_check_free(c[i]);
    }
}

/* Freeing a check with queries outstanding cancels them: no callback. */
static void free_cancels(void **state)
{
    fixture *f = *state;
    sg_spf_check *c;
    sg_spf_request req;
    done_t d = {0};
    sg_spf_request_init(&req);
    req.ip = "192.0.2.9";
    req.mail_from = "user@example.com";
    assert_int_equal(sg_spf_check_start(&c, f->res, &req, on_done, &d), 0);
    sg_resolver_run(f->res, 0);
    sg_spf_check_free(c);
    assert_int_equal(sg_resolver_pending(f->res), 0);
    sg_resolver_run(f->res, 0);
    assert_int_equal(d.calls, 0);
}

/* Time budget (RFC 7208 4.6.4): exhausted -> temperror. */
static void time_budget(void **state)
{
    fixture *f = *state;
    sg_spf_check *c;
    sg_spf_request req;
    done_t d = {0};
    sg_spf_request_init(&req);
    req.ip = "192.0.2.9";
    req.mail_from = "user@example.com";
    req.budget_ms = 1;
    assert_int_equal(sg_spf_check_start(&c, f->res, &req, on_done, &d), 0);
    struct timespec ts = {0, 5 * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(sg_spf_check_poll(c), 1);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.r, SG_SPF_TEMPERROR);
    assert_non_null(strstr(sg_spf_check_result(c)->reason, "budget"));
    assert_int_equal(sg_resolver_pending(f->res), 0); /* its query was cancelled */
    sg_spf_check_free(c);
}

static void ipv6_macros_and_mapped(void **state)
{
    fixture *f = *state;
    sg_arena *a;
    sg_spf_result r;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    /* RFC 7208 7.4 IPv6 example: %{ir}.%{v}._spf.%{d2} */
    assert_int_equal(sync_check(f, a, "2001:db8::cb01", "x@v6.example.com", NULL, &r), SG_SPF_PASS);
    assert_int_equal(sync_check(f, a, "2001:db8::cb02", "x@v6.example.com", NULL, &r), SG_SPF_FAIL);
    /* IPv4-mapped IPv6 is IPv4 (the MX hosts have A records only) */
    assert_int_equal(sync_check(f, a, "::ffff:192.0.2.2", "x@example.com", NULL, &r), SG_SPF_PASS);
    sg_arena_free(a);
}

/* %{p} and ptr use validated names only (RFC 7208 5.5): 192.0.2.3 has
 * PTR mx3.example.com (validates) and bogus.example.net (does not). */
static void ptr_validation(void **state)
{
    fixture *f = *state;
    sg_arena *a;
    sg_spf_result r;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    assert_int_equal(sync_check(f, a, "192.0.2.3", "x@ptr.example.com", NULL, &r), SG_SPF_PASS);
    assert_string_equal(r.mechanism, "exists:%{p}.p.example.com");
    assert_int_equal(sync_check(f, a, "192.0.2.3", "x@ptr2.example.com", NULL, &r), SG_SPF_PASS);
    assert_string_equal(r.mechanism, "ptr:example.com");
    /* bogus.example.net is a PTR name but does not resolve back */
    assert_int_equal(sync_check(f, a, "192.0.2.3", "x@ptr3.example.com", NULL, &r), SG_SPF_FAIL);
    /* the 11th PTR name is ignored though the first ten cannot be used
     * (RFC 7208 4.6.4; pyspf agrees: adv23 F3) */
    assert_int_equal(sync_check(f, a, "192.0.2.4", "x@ptr4.example.com", NULL, &r), SG_SPF_FAIL);
    /* 192.0.2.1 has no PTR: ptr does not match, %{p} = unknown */
    assert_int_equal(sync_check(f, a, "192.0.2.1", "x@ptr.example.com", NULL, &r), SG_SPF_FAIL);
    sg_arena_free(a);
}

static void limits(void **state)
{
    fixture *f = *state;
    sg_arena *a;
    sg_spf_result r;
    sg_spf_request req;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    /* default limit: 4 includes fine */
    assert_int_equal(sync_check(f, a, "203.0.113.1", "x@chain1.example.com", NULL, &r),
                     SG_SPF_PASS);
    assert_int_equal(r.dns_lookups, 3);
    /* a tighter configured limit turns it into permerror */
    sg_spf_request_init(&req);
    req.ip = "203.0.113.1";
    req.mail_from = "x@chain1.example.com";
    req.limits.max_dns_terms = 2;
    assert_int_equal(sg_spf_check_sync(&r, a, f->res, &req), 0);
    assert_int_equal(r.result, SG_SPF_PERMERROR);
    /* void lookups: three NXDOMAIN a: terms -> permerror at the third */
    assert_int_equal(sync_check(f, a, "203.0.113.1", "x@void.example.com", NULL, &r),
                     SG_SPF_PERMERROR);
    assert_int_equal(r.void_lookups, 3);
    req.mail_from = "x@void.example.com";
    req.limits.max_dns_terms = 0;
    req.limits.max_void_lookups = 3;
    assert_int_equal(sg_spf_check_sync(&r, a, f->res, &req), 0);
    assert_int_equal(r.result, SG_SPF_PASS);
    /* RFC 7208 5: a DNS error on any exchange's address lookup stops the
     * mechanism with temperror, even if another exchange matches */
    assert_int_equal(sync_check(f, a, "192.0.2.1", "x@mxerr.example.com", NULL, &r),
                     SG_SPF_TEMPERROR);
    /* DNS timeout on the record -> temperror */
    assert_int_equal(sync_check(f, a, "203.0.113.1", "x@slow.example.com", NULL, &r),
                     SG_SPF_TEMPERROR);
    /* absurd limits are refused */
    req.limits.max_dns_terms = 1000000;
    assert_int_equal(sg_spf_check_sync(&r, a, f->res, &req), SG_EINVAL);
    sg_arena_free(a);
}

static void identities(void **state)
{
    fixture *f = *state;
    sg_arena *a;
    sg_spf_result r;
    sg_spf_request req;
    assert_int_equal(sg_arena_new(&a, 0), 0);
    /* null sender -> HELO identity, sender postmaster@helo (2.4) */
    assert_int_equal(sync_check(f, a, "198.51.100.1", "<>", "helo.example.com", &r), SG_SPF_PASS);
    assert_int_equal(r.identity, SG_SPF_ID_HELO);
    assert_string_equal(r.sender, "postmaster@helo.example.com");
    assert_string_equal(r.domain, "helo.example.com");
    /* no local part -> postmaster (4.3) */
    assert_int_equal(sync_check(f, a, "198.51.100.1", "example.com", "helo.example.com", &r),
                     SG_SPF_FAIL);
    assert_string_equal(r.sender, "postmaster@example.com");
    assert_int_equal(r.identity, SG_SPF_ID_MAILFROM);
    /* explicit HELO check even with a sender */
    sg_spf_request_init(&req);
    req.ip = "198.51.100.1";
    req.mail_from = "user@example.com";
    req.helo = "helo.example.com";
    req.identity = SG_SPF_ID_HELO;
    assert_int_equal(sg_spf_check_sync(&r, a, f->res, &req), 0);
    assert_int_equal(r.result, SG_SPF_PASS);
    assert_int_equal(r.identity, SG_SPF_ID_HELO);
    /* single-label HELO: none before any DNS query (4.3) */
    size_t before = sg_resolver_zone_queries(f->res);
    assert_int_equal(sync_check(f, a, "198.51.100.1", "", "localhost", &r), SG_SPF_NONE);
    assert_int_equal(sg_resolver_zone_queries(f->res), before);
    /* bad IP is a caller error */
    req.ip = "300.1.1.1";
    assert_int_equal(sg_spf_check_sync(&r, a, f->res, &req), SG_EINVAL);
    /* binary address form */
    req.ip = NULL;
    req.family = 4;
    memcpy(req.addr, "\xc6\x33\x64\x01", 4);
    assert_int_equal(sg_spf_check_sync(&r, a, f->res, &req), 0);
    assert_int_equal(r.result, SG_SPF_PASS);
    /* default explanation names the sender, domain and IP */
    assert_int_equal(sync_check(f, a, "203.0.113.7", "bob@example.com", NULL, &r), SG_SPF_FAIL);
    assert_string_equal(r.explanation, "bob@example.com is not authorized by example.com to send "
                                       "from 203.0.113.7");
    assert_int_equal(r.exp_from_record, 0);
    /* an SMTPUTF8 envelope: a U-label domain is its A-label (RFC 8616 3;
     * adv30 IN-3: "none"), a UTF-8 local part as it is */
    static const char *const forms[] = {"jos\xc3\xa9@b\xc3\xbc"
                                        "cher.example.com",
                                        "j@B\xc3\x9c"
                                        "CHER.example.com",
                                        "j@xn--bcher-kva.example.com"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(sync_check(f, a, "192.0.2.10", forms[i], NULL, &r), SG_SPF_PASS);
        assert_string_equal(r.domain, "xn--bcher-kva.example.com");
        assert_int_equal(sync_check(f, a, "203.0.113.5", forms[i], NULL, &r), SG_SPF_FAIL);
    }
    /* the HELO identity too */
    assert_int_equal(sync_check(f, a, "192.0.2.10", "<>",
                                "b\xc3\xbc"
                                "cher.example.com",
                                &r),
                     SG_SPF_PASS);
    /* a name IDNA refuses stays as it is: malformed, none */
    assert_int_equal(sync_check(f, a, "192.0.2.10",
                                "j@b\xe2\x81\x84"
                                "cher.example.com",
                                NULL, &r),
                     SG_SPF_NONE);
    sg_arena_free(a);
}

static void cache(void **state)
{
    fixture *f = *state;
    sg_spf_cache *cache;
    sg_arena *a;
    sg_spf_result r;
    sg_spf_request req;
    uint64_t hits, misses;
    /* 0 is the default size, as for the DKIM key cache; NULL out is not */
    assert_int_equal(sg_spf_cache_new(NULL, 0), SG_EINVAL);
    assert_int_equal(sg_spf_cache_new(&cache, 0), 0);
    sg_spf_cache_free(cache);
    assert_int_equal(sg_spf_cache_new(&cache, 2), 0);
    assert_int_equal(sg_arena_new(&a, 0), 0);
    sg_spf_request_init(&req);
    req.ip = "192.0.2.2";
    req.mail_from = "u@inc.example.com";
    req.cache = cache;
    assert_int_equal(sg_spf_check_sync(&r, a, f->res, &req), 0);
    assert_int_equal(r.result, SG_SPF_PASS);
    assert_int_equal(sg_spf_cache_size(cache), 2); /* capacity 2: oldest evicted */
    size_t q0 = sg_resolver_zone_queries(f->res);
    assert_int_equal(sg_spf_check_sync(&r, a, f->res, &req), 0);
    assert_int_equal(r.result, SG_SPF_PASS);
    sg_spf_cache_stats(cache, &hits, &misses);
    assert_true(hits >= 1);
    /* the cached records saved TXT queries */
    size_t q1 = sg_resolver_zone_queries(f->res);
    assert_true(q1 - q0 < q0);
    sg_spf_cache_free(cache); /* records still referenced nowhere: freed */
    sg_arena_free(a);
}

static void received_spf(void **state)
{
    sg_arena *a;
    char *v;
    sg_spf_result r = {0};
    assert_int_equal(sg_arena_new(&a, 0), 0);
    r.result = SG_SPF_PASS;
    r.identity = SG_SPF_ID_MAILFROM;
    r.sender = "myname@example.com";
    r.domain = "example.com";
    r.mechanism = "ip4:192.0.2.0/24";
    sg_spf_received_info info = {.result = &r,
                                 .client_ip = "192.0.2.1",
                                 .envelope_from = "myname@example.com",
                                 .helo = "foo.example.com",
                                 .receiver = "mybox.example.org"};
    assert_int_equal(sg_spf_received_spf(&v, a, &info), 0);
    /* RFC 7208 9.1 example, plus identity and mechanism */
    assert_string_equal(v, "pass (mybox.example.org: domain of myname@example.com designates "
                           "192.0.2.1 as permitted sender) client-ip=192.0.2.1; "
                           "envelope-from=\"myname@example.com\"; helo=foo.example.com; "
                           "receiver=mybox.example.org; identity=mailfrom; "
                           "mechanism=\"ip4:192.0.2.0/24\"");
    /* hostile input: no header injection, quotes escaped, comment closed */
    r.result = SG_SPF_PERMERROR;
    r.identity = SG_SPF_ID_HELO;
    r.reason = "bad \"record\"";
    info.helo = "evil)\r\nX-Injected: yes";
    info.envelope_from = "";
    assert_int_equal(sg_spf_received_spf(&v, a, &info), 0);
    assert_null(strchr(v, '\r'));
    assert_null(strchr(v, '\n'));
    assert_non_null(strstr(v, "domain of evil\\)??X-Injected: yes)"));
    assert_non_null(strstr(v, "helo=\"evil)??X-Injected: yes\""));
    assert_non_null(strstr(v, "problem=\"bad \\\"record\\\"\""));
    assert_non_null(strstr(v, "envelope-from=\"\""));
    assert_int_equal(sg_spf_received_spf(&v, a, NULL), SG_EINVAL);
    sg_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(suspends_and_parallel_mx),
        cmocka_unit_test(concurrent_checks),
        cmocka_unit_test(free_cancels),
        cmocka_unit_test(time_budget),
        cmocka_unit_test(ipv6_macros_and_mapped),
        cmocka_unit_test(ptr_validation),
        cmocka_unit_test(limits),
        cmocka_unit_test(identities),
        cmocka_unit_test(cache),
        cmocka_unit_test(received_spf),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
