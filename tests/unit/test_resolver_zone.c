/*
 * The zone resolver backend and the common dispatch layer: async delivery
 * semantics, CNAME chains, fault injection, NODATA vs NXDOMAIN, the
 * synchronous wrapper, and the conformance suites' zone.tsv files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spoofguard/dns.h>

#include "dns/resolver_int.h"
#include "dns/zone.h"
#include "helpers.h"

/* ---- fixtures ---------------------------------------------------------- */

struct fx {
    sg_zone *zone;
    sg_resolver *r;
};

static const char fx_zone[] = "$ORIGIN example.org.\n"
                              "$TTL 600\n"
                              "@            TXT \"v=spf1 -all\"\n"
                              "             A 192.0.2.1\n"
                              "a1           CNAME a2\n"
                              "a2       120 CNAME a3\n"
                              "a3       900 A 192.0.2.3\n"
                              "a3       30  A 192.0.2.4\n"
                              "loop1        CNAME loop2\n"
                              "loop2        CNAME loop1\n"
                              "self         CNAME self\n"
                              "dangling     CNAME nowhere\n"
                              "tofault      CNAME slow\n"
                              "slow         TIMEOUT TXT\n"
                              "slow         A 192.0.2.9\n"
                              "dead         SERVFAIL ANY\n"
                              "deadmx       SERVFAIL MX\n"
                              "deadmx       TIMEOUT ANY\n"
                              "gone         TIMEOUT ANY\n"
                              "soa          SOA ns host 1 2 3 4 5\n"
                              "mx           MX 10 mail\n"
                              "mx           MX 0 .\n"
                              "v6           AAAA 2001:db8::1\n"
                              "ptr          PTR host.example.net.\n";

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    size_t line = 0;
    assert_non_null(f);
    assert_int_equal(sg_zone_new(&f->zone), SG_OK);
    assert_int_equal(sg_zone_load_text(f->zone, fx_zone, strlen(fx_zone), NULL, &line), SG_OK);
    assert_int_equal(sg_resolver_new_zone(&f->r, f->zone), SG_OK);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    sg_resolver_free(f->r);
    sg_zone_free(f->zone);
    free(f);
    return 0;
}

/* Synchronous lookup helper: returns the status, keeps the result. */
static sg_dns_status look(sg_resolver *r, const char *name, uint16_t type, sg_dns_result *res)
{
    assert_int_equal(sg_dns_lookup_sync(r, name, type, res), SG_OK);
    return res->answer.status;
}

static sg_dns_status look_status(sg_resolver *r, const char *name, uint16_t type)
{
    sg_dns_result res;
    sg_dns_status st = look(r, name, type, &res);
    sg_dns_result_free(&res);
    return st;
}

/* ---- basic answers ----------------------------------------------------- */

static void answers_and_ttl(void **state)
{
    struct fx *f = *state;
    sg_dns_result res;

    assert_int_equal(look(f->r, "EXAMPLE.org.", SG_DNS_TXT, &res), SG_DNS_NOERROR);
    assert_int_equal(res.answer.count, 1);
    assert_int_equal(res.answer.qtype, SG_DNS_TXT);
    assert_string_equal(res.answer.qname, "EXAMPLE.org."); /* as asked */
    assert_int_equal(res.answer.rrs[0].type, SG_DNS_TXT);
    assert_int_equal(res.answer.rrs[0].u.txt.len, 11);
    assert_memory_equal(res.answer.rrs[0].u.txt.data, "v=spf1 -all", 12);
    assert_int_equal(res.answer.ttl, 600);
    sg_dns_result_free(&res);

    assert_int_equal(look(f->r, "mx.example.org", SG_DNS_MX, &res), SG_DNS_NOERROR);
    assert_int_equal(res.answer.count, 2);
    assert_int_equal(res.answer.rrs[0].u.mx.pref, 10);
    assert_string_equal(res.answer.rrs[0].u.mx.host, "mail.example.org");
    assert_int_equal(res.answer.rrs[1].u.mx.pref, 0);
    assert_string_equal(res.answer.rrs[1].u.mx.host, ""); /* RFC 7505 null MX */
    sg_dns_result_free(&res);

    assert_int_equal(look(f->r, "v6.example.org", SG_DNS_AAAA, &res), SG_DNS_NOERROR);
    assert_int_equal(res.answer.rrs[0].u.aaaa[0], 0x20);
    assert_int_equal(res.answer.rrs[0].u.aaaa[1], 0x01);
    assert_int_equal(res.answer.rrs[0].u.aaaa[15], 0x01);
    sg_dns_result_free(&res);

    assert_int_equal(look(f->r, "ptr.example.org", SG_DNS_PTR, &res), SG_DNS_NOERROR);
    assert_string_equal(res.answer.rrs[0].u.name, "host.example.net");
    sg_dns_result_free(&res);
}

static void nodata_vs_nxdomain(void **state)
{
    struct fx *f = *state;
    sg_dns_result res;

    assert_int_equal(look(f->r, "example.org", SG_DNS_MX, &res), SG_DNS_NODATA);
    assert_int_equal(res.answer.count, 0);
    assert_int_equal(res.answer.ttl, SG_ZONE_NEG_TTL);
    sg_dns_result_free(&res);
    assert_int_equal(look_status(f->r, "nope.example.org", SG_DNS_A), SG_DNS_NXDOMAIN);
    /* an unknown type (SOA) only marks the name as existing */
    assert_int_equal(look_status(f->r, "soa.example.org", SG_DNS_TXT), SG_DNS_NODATA);
    /* a fault row for one type leaves the name existing for the others */
    assert_int_equal(look_status(f->r, "slow.example.org", SG_DNS_MX), SG_DNS_NODATA);
    /* a name above a record is an empty non-terminal: it exists (RFC
     * 4592 2.2.2, RFC 8020), as an authoritative server answers */
    assert_int_equal(look_status(f->r, "org", SG_DNS_A), SG_DNS_NODATA);
}

/* RFC 4592 2.2.1's example zone and its answers (2.2.1 lists them), plus
 * the DMARC external-destination pattern of RFC 9989 (9990 3.1.1). */
static const char wild_zone[] = "$ORIGIN example.\n"
                                "$TTL 3600\n"
                                "@                  SOA ns.example.com. h 1 2 3 4 5\n"
                                "@                  NS ns.example.com.\n"
                                "*                  TXT \"this is a wildcard\"\n"
                                "*                  MX 10 host1.example.\n"
                                "sub.*              TXT \"this is not a wildcard\"\n"
                                "host1              A 192.0.2.1\n"
                                "_ssh._tcp.host1    SRV 0 0 22 host1\n"
                                "_ssh._tcp.host2    SRV 0 0 22 host2\n"
                                "*._report._dmarc   TXT \"v=DMARC1\"\n"
                                "*.cn               CNAME host1\n";

static void wildcards(void **state)
{
    sg_zone *z;
    sg_resolver *r;
    sg_dns_result res;
    size_t line = 0;
    (void)state;
    assert_int_equal(sg_zone_new(&z), SG_OK);
    assert_int_equal(sg_zone_load_text(z, wild_zone, strlen(wild_zone), NULL, &line), SG_OK);
    assert_int_equal(sg_resolver_new_zone(&r, z), SG_OK);

    /* synthesised from *.example */
    assert_int_equal(look(r, "host3.example", SG_DNS_MX, &res), SG_DNS_NOERROR);
    assert_int_equal(res.answer.count, 1);
    assert_string_equal(res.answer.rrs[0].u.mx.host, "host1.example");
    sg_dns_result_free(&res);
    assert_int_equal(look(r, "foo.bar.example", SG_DNS_TXT, &res), SG_DNS_NOERROR);
    assert_string_equal(res.answer.rrs[0].u.txt.data, "this is a wildcard");
    sg_dns_result_free(&res);
    /* the wildcard has no A: NODATA, not NXDOMAIN */
    assert_int_equal(look_status(r, "host3.example", SG_DNS_A), SG_DNS_NODATA);
    /* an existing name never takes the wildcard's types */
    assert_int_equal(look_status(r, "host1.example", SG_DNS_MX), SG_DNS_NODATA);
    assert_int_equal(look_status(r, "sub.*.example", SG_DNS_MX), SG_DNS_NODATA);
    /* closest encloser host1.example has no wildcard of its own */
    assert_int_equal(look_status(r, "_telnet._tcp.host1.example", SG_DNS_A), SG_DNS_NXDOMAIN);
    /* closest encloser *.example; *.*.example does not exist */
    assert_int_equal(look_status(r, "ghost.*.example", SG_DNS_MX), SG_DNS_NXDOMAIN);
    /* empty non-terminals exist and block the wildcard */
    assert_int_equal(look_status(r, "_tcp.host1.example", SG_DNS_TXT), SG_DNS_NODATA);
    assert_int_equal(look_status(r, "host2.example", SG_DNS_TXT), SG_DNS_NODATA);
    assert_int_equal(look_status(r, "_dmarc.example", SG_DNS_TXT), SG_DNS_NODATA);
    /* the literal wildcard name is an ordinary name */
    assert_int_equal(look(r, "*.example", SG_DNS_TXT, &res), SG_DNS_NOERROR);
    sg_dns_result_free(&res);
    /* RFC 9990 3.1.1 authorisation records */
    assert_int_equal(look(r, "a.example.com._report._dmarc.example", SG_DNS_TXT, &res),
                     SG_DNS_NOERROR);
    assert_string_equal(res.answer.rrs[0].u.txt.data, "v=DMARC1");
    sg_dns_result_free(&res);
    assert_int_equal(look_status(r, "_report._dmarc.example", SG_DNS_TXT), SG_DNS_NODATA);
    /* a wildcard CNAME is followed */
    assert_int_equal(look(r, "x.cn.example", SG_DNS_A, &res), SG_DNS_NOERROR);
    assert_int_equal(res.answer.rrs[0].u.a[3], 1);
    sg_dns_result_free(&res);
    /* outside every node: nothing encloses it */
    assert_int_equal(look_status(r, "example.net", SG_DNS_A), SG_DNS_NXDOMAIN);
    sg_resolver_free(r);
    sg_zone_free(z);
}

static void cname_chain(void **state)
{
    struct fx *f = *state;
    sg_dns_result res;

    assert_int_equal(look(f->r, "a1.example.org", SG_DNS_A, &res), SG_DNS_NOERROR);
    assert_int_equal(res.answer.count, 2);
    assert_int_equal(res.answer.rrs[0].type, SG_DNS_A); /* only the queried type */
    assert_memory_equal(res.answer.rrs[0].u.a, "\xc0\x00\x02\x03", 4);
    assert_memory_equal(res.answer.rrs[1].u.a, "\xc0\x00\x02\x04", 4);
    assert_int_equal(res.answer.ttl, 30); /* min over chain and records */
    sg_dns_result_free(&res);

    /* asking for the CNAME itself does not follow it */
    assert_int_equal(look(f->r, "a1.example.org", SG_DNS_CNAME, &res), SG_DNS_NOERROR);
    assert_string_equal(res.answer.rrs[0].u.name, "a2.example.org");
    sg_dns_result_free(&res);

    /* the chain ends in a name without the type: NODATA; nowhere: NXDOMAIN */
    assert_int_equal(look_status(f->r, "a1.example.org", SG_DNS_MX), SG_DNS_NODATA);
    assert_int_equal(look_status(f->r, "dangling.example.org", SG_DNS_A), SG_DNS_NXDOMAIN);
    /* loops end in SERVFAIL */
    assert_int_equal(look_status(f->r, "loop1.example.org", SG_DNS_A), SG_DNS_SERVFAIL);
    assert_int_equal(look_status(f->r, "self.example.org", SG_DNS_TXT), SG_DNS_SERVFAIL);
    /* a fault at the chain's target applies */
    assert_int_equal(look_status(f->r, "tofault.example.org", SG_DNS_TXT), SG_DNS_TIMEOUT);
    assert_int_equal(look_status(f->r, "tofault.example.org", SG_DNS_A), SG_DNS_NOERROR);
}

static void cname_chain_bound(void **state)
{
    sg_zone *z;
    sg_resolver *r;
    char name[64], target[64];
    int i;

    assert_int_equal(sg_zone_new(&z), SG_OK);
    /* c0 -> c1 -> ... -> cN, cN has an A */
    for (i = 0; i < SG_ZONE_MAX_CNAME + 1; i++) {
        snprintf(name, sizeof(name), "c%d.test", i);
        snprintf(target, sizeof(target), "c%d.test", i + 1);
        assert_int_equal(sg_zone_add(z, name, "CNAME", target, 60), SG_OK);
    }
    snprintf(name, sizeof(name), "c%d.test", SG_ZONE_MAX_CNAME + 1);
    assert_int_equal(sg_zone_add(z, name, "A", "192.0.2.1", 60), SG_OK);
    assert_int_equal(sg_resolver_new_zone(&r, z), SG_OK);
    /* c1: exactly SG_ZONE_MAX_CNAME links: answered */
    assert_int_equal(look_status(r, "c1.test", SG_DNS_A), SG_DNS_NOERROR);
    /* c0: one link too many */
    assert_int_equal(look_status(r, "c0.test", SG_DNS_A), SG_DNS_SERVFAIL);
    sg_resolver_free(r);
    sg_zone_free(z);
}

static void faults(void **state)
{
    struct fx *f = *state;
    /* type-specific TIMEOUT */
    assert_int_equal(look_status(f->r, "slow.example.org", SG_DNS_TXT), SG_DNS_TIMEOUT);
    assert_int_equal(look_status(f->r, "slow.example.org", SG_DNS_A), SG_DNS_NOERROR);
    /* ANY */
    assert_int_equal(look_status(f->r, "dead.example.org", SG_DNS_A), SG_DNS_SERVFAIL);
    assert_int_equal(look_status(f->r, "dead.example.org", SG_DNS_TXT), SG_DNS_SERVFAIL);
    assert_int_equal(look_status(f->r, "gone.example.org", SG_DNS_AAAA), SG_DNS_TIMEOUT);
    /* the type-specific row beats the ANY row */
    assert_int_equal(look_status(f->r, "deadmx.example.org", SG_DNS_MX), SG_DNS_SERVFAIL);
    assert_int_equal(look_status(f->r, "deadmx.example.org", SG_DNS_A), SG_DNS_TIMEOUT);
}

/* ---- asynchronous semantics ------------------------------------------- */

struct rec {
    int calls;
    sg_dns_status status;
    size_t count;
    sg_resolver *r;
    sg_dns_query *other; /* to cancel from inside a callback */
    struct rec *child;   /* to query from inside a callback */
};

static void rec_cb(const sg_dns_answer *a, void *payload)
{
    struct rec *rc = payload;
    rc->calls++;
    rc->status = a->status;
    rc->count = a->count;
    if (rc->other) {
        sg_resolver_cancel(rc->r, rc->other);
        rc->other = NULL;
    }
    if (rc->child)
        assert_int_equal(sg_resolver_query(rc->r, "example.org", SG_DNS_A, rec_cb, rc->child, NULL),
                         SG_OK);
}

static void no_callback_inside_query(void **state)
{
    struct fx *f = *state;
    struct rec a = {0}, b = {0};
    sg_dns_query *q = NULL;

    assert_int_equal(sg_resolver_query(f->r, "example.org", SG_DNS_TXT, rec_cb, &a, &q), SG_OK);
    assert_non_null(q);
    assert_int_equal(sg_resolver_query(f->r, "nope.example.org", SG_DNS_TXT, rec_cb, &b, NULL),
                     SG_OK);
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 0);
    assert_int_equal(sg_resolver_pending(f->r), 2);
    assert_int_equal(sg_resolver_run(f->r, 0), 0);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.status, SG_DNS_NOERROR);
    assert_int_equal(a.count, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.status, SG_DNS_NXDOMAIN);
    assert_int_equal(sg_resolver_pending(f->r), 0);
    /* nothing left: run returns at once even with an infinite timeout */
    assert_int_equal(sg_resolver_run(f->r, -1), 0);
    assert_int_equal(a.calls, 1);
}

static void cancel(void **state)
{
    struct fx *f = *state;
    struct rec a = {0}, b = {0}, c = {0};
    sg_dns_query *qa, *qb, *qc;
    int fds[4], ww[4], tmo = 5;

    assert_int_equal(sg_resolver_query(f->r, "example.org", SG_DNS_A, rec_cb, &a, &qa), SG_OK);
    assert_int_equal(sg_resolver_query(f->r, "example.org", SG_DNS_A, rec_cb, &b, &qb), SG_OK);
    assert_int_equal(sg_resolver_query(f->r, "example.org", SG_DNS_A, rec_cb, &c, &qc), SG_OK);
    /* no sockets; answers are ready now */
    assert_int_equal(sg_resolver_fds(f->r, fds, ww, 4, &tmo), 0);
    assert_int_equal(tmo, 0);
    sg_resolver_cancel(f->r, qb);
    assert_int_equal(sg_resolver_pending(f->r), 2);
    /* a's callback cancels c, which is still queued in the same run */
    a.r = f->r;
    a.other = qc;
    assert_int_equal(sg_resolver_run(f->r, 0), 0);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 0);
    assert_int_equal(c.calls, 0);
    assert_int_equal(sg_resolver_fds(f->r, fds, ww, 4, &tmo), 0);
    assert_int_equal(tmo, -1);
    /* queries freed unanswered by sg_resolver_free do not leak (ASan) */
    assert_int_equal(sg_resolver_query(f->r, "example.org", SG_DNS_A, rec_cb, &a, NULL), SG_OK);
}

static void query_from_callback_answered_later(void **state)
{
    struct fx *f = *state;
    struct rec parent = {0}, child = {0};

    parent.r = f->r;
    parent.child = &child;
    assert_int_equal(sg_resolver_query(f->r, "mx.example.org", SG_DNS_MX, rec_cb, &parent, NULL),
                     SG_OK);
    /* the first run answers the parent, whose callback queues the child */
    assert_int_equal(sg_resolver_run(f->r, -1), 1);
    assert_int_equal(parent.calls, 1);
    assert_int_equal(child.calls, 0);
    assert_int_equal(sg_resolver_pending(f->r), 1);
    assert_int_equal(sg_resolver_run(f->r, -1), 0);
    assert_int_equal(child.calls, 1);
    assert_int_equal(child.status, SG_DNS_NOERROR);
    assert_int_equal(sg_resolver_zone_queries(f->r), 2);
}

static void bad_names(void **state)
{
    struct fx *f = *state;
    struct rec a = {0};
    char longlabel[80], longname[300];
    sg_dns_query *q = (sg_dns_query *)1;

    memset(longlabel, 'a', 64);
    strcpy(longlabel + 64, ".com");
    assert_int_equal(sg_resolver_query(f->r, longlabel, SG_DNS_A, rec_cb, &a, &q), SG_EINVAL);
    assert_null(q);
    longlabel[1] = '.'; /* 62-octet label: fine */
    assert_int_equal(sg_resolver_query(f->r, longlabel, SG_DNS_A, rec_cb, &a, NULL), SG_OK);
    /* 253 octets is the limit (254 with the trailing dot) */
    memset(longname, 'a', 253);
    for (int i = 50; i < 253; i += 50)
        longname[i] = '.';
    longname[253] = '\0';
    assert_int_equal(sg_resolver_query(f->r, longname, SG_DNS_A, rec_cb, &a, NULL), SG_OK);
    strcat(longname, ".");
    assert_int_equal(sg_resolver_query(f->r, longname, SG_DNS_A, rec_cb, &a, NULL), SG_OK);
    strcat(longname, "a");
    assert_int_equal(sg_resolver_query(f->r, longname, SG_DNS_A, rec_cb, &a, NULL), SG_EINVAL);
    assert_int_equal(sg_resolver_query(f->r, "a..b", SG_DNS_A, rec_cb, &a, NULL), SG_EINVAL);
    assert_int_equal(sg_resolver_query(f->r, ".a", SG_DNS_A, rec_cb, &a, NULL), SG_EINVAL);
    assert_int_equal(sg_resolver_query(f->r, NULL, SG_DNS_A, rec_cb, &a, NULL), SG_EINVAL);
    assert_int_equal(sg_resolver_query(f->r, "a", SG_DNS_A, NULL, &a, NULL), SG_EINVAL);
    assert_int_equal(sg_resolver_pending(f->r), 3);
    assert_int_equal(sg_resolver_run(f->r, 0), 0);
    assert_int_equal(a.calls, 3);
}

static void normalise(void **state)
{
    char buf[256];
    (void)state;
    assert_int_equal(sg_dns_name_normalise("Example.COM.", buf, sizeof(buf)), SG_OK);
    assert_string_equal(buf, "Example.COM"); /* case is kept; lookups ignore it */
    assert_int_equal(sg_dns_name_normalise(".", buf, sizeof(buf)), SG_OK);
    assert_string_equal(buf, "");
    assert_int_equal(sg_dns_name_normalise("a..", buf, sizeof(buf)), SG_EINVAL);
    assert_int_equal(sg_dns_name_normalise("abc", buf, 3), SG_EINVAL); /* no room for NUL */
}

static void answer_copy_and_strings(void **state)
{
    sg_dns_rr rrs[3];
    sg_dns_answer a;
    sg_dns_result res;
    (void)state;

    memset(rrs, 0, sizeof(rrs));
    rrs[0].type = SG_DNS_TXT;
    rrs[0].u.txt.data = "ab\0cd";
    rrs[0].u.txt.len = 5;
    rrs[0].u.txt.nstrings = 2;
    rrs[1].type = SG_DNS_MX;
    rrs[1].u.mx.pref = 5;
    rrs[1].u.mx.host = "mx.example";
    rrs[2].type = SG_DNS_A;
    memcpy(rrs[2].u.a, "\x01\x02\x03\x04", 4);
    memset(&a, 0, sizeof(a));
    a.status = SG_DNS_NOERROR;
    a.qname = "q.example";
    a.count = 3;
    a.rrs = rrs;
    a.ttl = 77;
    assert_int_equal(sg_dns_answer_copy(&a, &res), SG_OK);
    assert_true(res.answer.rrs != rrs);
    assert_memory_equal(res.answer.rrs[0].u.txt.data, "ab\0cd", 6);
    assert_true(res.answer.rrs[0].u.txt.data != rrs[0].u.txt.data);
    assert_string_equal(res.answer.rrs[1].u.mx.host, "mx.example");
    assert_memory_equal(res.answer.rrs[2].u.a, "\x01\x02\x03\x04", 4);
    assert_string_equal(res.answer.qname, "q.example");
    assert_int_equal(res.answer.ttl, 77);
    sg_dns_result_free(&res);
    sg_dns_result_free(&res); /* idempotent */

    assert_int_equal(sg_dns_type_from_str("aaaa"), SG_DNS_AAAA);
    assert_int_equal(sg_dns_type_from_str("SOA"), 0);
    assert_string_equal(sg_dns_type_str(SG_DNS_SPF), "SPF");
    assert_null(sg_dns_type_str(6));
    assert_string_equal(sg_dns_status_str(SG_DNS_NXDOMAIN), "NXDOMAIN");
    assert_string_equal(sg_dns_status_str(SG_DNS_TIMEOUT), "TIMEOUT");
}

/* ---- conformance zone.tsv files --------------------------------------- */

static sg_dns_status tsv_status(sg_zone *z, const char *name, uint16_t type, sg_dns_result *res)
{
    sg_resolver *r;
    sg_dns_status st;
    assert_int_equal(sg_resolver_new_zone(&r, z), SG_OK);
    st = look(r, name, type, res);
    sg_resolver_free(r);
    return st;
}

/* Records of the rfc7208 suite checked against spf/rfc7208-tests.yml. */
static void spf_flat_rfc7208(void **state)
{
    char path[4096];
    sg_zone *z;
    size_t line = 0;
    sg_dns_result res;
    (void)state;

    snprintf(path, sizeof(path), "%s/spf/flat/rfc7208-tests.zone.tsv", sg_test_conformance_dir());

    /* scenario 1 "Initial processing" */
    assert_int_equal(sg_zone_new(&z), SG_OK);
    assert_int_equal(sg_zone_load_tsv(z, path, "1", &line), SG_OK);
    /* yml: example.com: - TIMEOUT */
    assert_int_equal(tsv_status(z, "example.com", SG_DNS_TXT, &res), SG_DNS_TIMEOUT);
    sg_dns_result_free(&res);
    /* yml: hosed2.example.com: - SPF: "v=spf1 \x80a:example.net -all" (TXT copy) */
    assert_int_equal(tsv_status(z, "hosed2.example.com", SG_DNS_TXT, &res), SG_DNS_NOERROR);
    assert_int_equal(res.answer.count, 1);
    assert_int_equal(res.answer.rrs[0].u.txt.len, strlen("v=spf1 \x80"
                                                         "a:example.net -all"));
    assert_memory_equal(res.answer.rrs[0].u.txt.data,
                        "v=spf1 \x80"
                        "a:example.net -all",
                        26);
    sg_dns_result_free(&res);
    /* yml: null.example.com: TXT: ["v=spf1 ip4:", "192.0.2.5 -all"] plus an empty one */
    assert_int_equal(tsv_status(z, "null.example.com", SG_DNS_TXT, &res), SG_DNS_NOERROR);
    assert_int_equal(res.answer.count, 2);
    assert_int_equal(res.answer.rrs[0].u.txt.nstrings, 2);
    assert_string_equal(res.answer.rrs[0].u.txt.data, "v=spf1 ip4:192.0.2.5 -all");
    assert_int_equal(res.answer.rrs[1].u.txt.len, 0);
    sg_dns_result_free(&res);
    /* yml: ctrl.example.com: "v=spf1 a:ctrl.example.com\rptr -all" and A 192.0.2.3 */
    assert_int_equal(tsv_status(z, "CTRL.example.com", SG_DNS_TXT, &res), SG_DNS_NOERROR);
    assert_string_equal(res.answer.rrs[0].u.txt.data, "v=spf1 a:ctrl.example.com\rptr -all");
    sg_dns_result_free(&res);
    assert_int_equal(tsv_status(z, "ctrl.example.com", SG_DNS_A, &res), SG_DNS_NOERROR);
    assert_memory_equal(res.answer.rrs[0].u.a, "\xc0\x00\x02\x03", 4);
    sg_dns_result_free(&res);
    /* not in scenario 1 */
    assert_int_equal(tsv_status(z, "example3.com", SG_DNS_MX, &res), SG_DNS_NXDOMAIN);
    sg_dns_result_free(&res);
    sg_zone_free(z);

    /* scenario 3 "Selecting records": yml example3.com MX [0, mail.example1.com]
     * and example2.com TXT ["v=spf1", "mx"] */
    assert_int_equal(sg_zone_new(&z), SG_OK);
    assert_int_equal(sg_zone_load_tsv(z, path, "3", &line), SG_OK);
    assert_int_equal(tsv_status(z, "example3.com", SG_DNS_MX, &res), SG_DNS_NOERROR);
    assert_int_equal(res.answer.rrs[0].u.mx.pref, 0);
    assert_string_equal(res.answer.rrs[0].u.mx.host, "mail.example1.com");
    sg_dns_result_free(&res);
    assert_int_equal(tsv_status(z, "example2.com", SG_DNS_TXT, &res), SG_DNS_NOERROR);
    assert_string_equal(res.answer.rrs[0].u.txt.data, "v=spf1mx");
    assert_int_equal(res.answer.rrs[0].u.txt.nstrings, 2);
    sg_dns_result_free(&res);
    sg_zone_free(z);

    /* scenario 6 "PTR mechanism": 4.3.2.1.in-addr.arpa has three PTRs */
    assert_int_equal(sg_zone_new(&z), SG_OK);
    assert_int_equal(sg_zone_load_tsv(z, path, "6", &line), SG_OK);
    assert_int_equal(tsv_status(z, "4.3.2.1.in-addr.arpa", SG_DNS_PTR, &res), SG_DNS_NOERROR);
    assert_int_equal(res.answer.count, 3);
    assert_string_equal(res.answer.rrs[0].u.name, "e3.example.com");
    assert_string_equal(res.answer.rrs[2].u.name, "mail.example.com");
    sg_dns_result_free(&res);
    sg_zone_free(z);
}

/* Every scenario of the SPF suites loads on its own. */
static void spf_flat_every_scenario(void **state)
{
    static const char *suites[] = {"rfc7208-tests", "rfc4408-tests", "stalwart-mail-auth"};
    size_t s;
    (void)state;

    for (s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
        char path[4096], zpath[4096], *text, *p;
        size_t len, nscen = 0;
        snprintf(path, sizeof(path), "%s/spf/flat/%s.scenarios.tsv", sg_test_conformance_dir(),
                 suites[s]);
        snprintf(zpath, sizeof(zpath), "%s/spf/flat/%s.zone.tsv", sg_test_conformance_dir(),
                 suites[s]);
        text = sg_test_read_file(path, &len);
        assert_non_null(text);
        for (p = strtok(text, "\n"); p != NULL; p = strtok(NULL, "\n")) {
            sg_zone *z;
            size_t line = 0;
            char *tab = strchr(p, '\t');
            if (p[0] == '#' || tab == NULL)
                continue;
            *tab = '\0';
            assert_int_equal(sg_zone_new(&z), SG_OK);
            if (sg_zone_load_tsv(z, zpath, p, &line) != SG_OK)
                fail_msg("%s scenario %s: line %zu", zpath, p, line);
            nscen++;
            sg_zone_free(z);
        }
        free(text);
        if (s == 0)
            assert_int_equal(nscen, 16); /* README: rfc7208 has 16 scenarios */
        if (s == 1)
            assert_int_equal(nscen, 15);
    }
}

static int load_all_tsv(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            load_all_tsv(path, count);
        } else if (n >= 8 && strcmp(e->d_name + n - 8, "zone.tsv") == 0) {
            sg_zone *z;
            size_t line = 0;
            int rc;
            assert_int_equal(sg_zone_new(&z), SG_OK);
            rc = sg_zone_load_tsv(z, path, NULL, &line);
            if (rc != SG_OK)
                fail_msg("%s: %s at line %zu", path, sg_strerror(rc), line);
            assert_true(sg_zone_count(z) > 0);
            sg_zone_free(z);
            (*count)++;
        }
    }
    closedir(d);
    return 0;
}

static void every_conformance_zone_loads(void **state)
{
    size_t count = 0;
    (void)state;
    assert_int_equal(load_all_tsv(sg_test_conformance_dir(), &count), 0);
    assert_true(count >= 11); /* spf x3, dkim x5, arc x3 */
}

static void mail_dkim_special_rows(void **state)
{
    char path[4096];
    sg_zone *z;
    size_t line = 0;
    sg_dns_result res;
    (void)state;

    snprintf(path, sizeof(path), "%s/dkim/mail-dkim/zone.tsv", sg_test_conformance_dir());
    assert_int_equal(sg_zone_new(&z), SG_OK);
    assert_int_equal(sg_zone_load_tsv(z, path, NULL, &line), SG_OK);
    assert_int_equal(tsv_status(z, "nonexistent._domainkey.messiah.edu", SG_DNS_TXT, &res),
                     SG_DNS_NXDOMAIN);
    sg_dns_result_free(&res);
    assert_int_equal(tsv_status(z, "test3._domainkey.blackhole.messiah.edu", SG_DNS_TXT, &res),
                     SG_DNS_TIMEOUT);
    sg_dns_result_free(&res);
    assert_int_equal(tsv_status(z, "test3._domainkey.blackhole2.messiah.edu", SG_DNS_TXT, &res),
                     SG_DNS_SERVFAIL);
    sg_dns_result_free(&res);
    assert_int_equal(tsv_status(z, "testrevoked._domainkey.messiah.edu", SG_DNS_TXT, &res),
                     SG_DNS_NOERROR);
    assert_string_equal(res.answer.rrs[0].u.txt.data, "k=rsa; t=y; p=");
    sg_dns_result_free(&res);
    assert_int_equal(
        tsv_status(z, "2023-05-ed25519-empty._domainkey.wander.science", SG_DNS_TXT, &res),
        SG_DNS_NOERROR);
    assert_int_equal(res.answer.rrs[0].u.txt.len, 0);
    sg_dns_result_free(&res);
    sg_zone_free(z);
}

static void tsv_errors(void **state)
{
    char path[] = "/tmp/sg_test_zone_XXXXXX";
    static const char bad[] = "#name\ttype\tvalue\n"
                              "ok.example\tTXT\t\"fine\"\n"
                              "# a comment\n"
                              "\n"
                              "bad.example\tA\t999.1.1.1\n";
    sg_zone *z;
    size_t line = 0;
    int fd = mkstemp(path);
    FILE *f;
    (void)state;

    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fwrite(bad, 1, sizeof(bad) - 1, f);
    fclose(f);
    assert_int_equal(sg_zone_new(&z), SG_OK);
    assert_int_equal(sg_zone_load_tsv(z, path, NULL, &line), SG_ESYNTAX);
    assert_int_equal(line, 5);
    sg_zone_free(z);
    unlink(path);

    assert_int_equal(sg_zone_new(&z), SG_OK);
    assert_int_equal(sg_zone_load_tsv(z, "/nonexistent/zone.tsv", NULL, &line), SG_EIO);
    sg_zone_free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(answers_and_ttl, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(nodata_vs_nxdomain, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(cname_chain, fx_setup, fx_teardown),
        cmocka_unit_test(wildcards),
        cmocka_unit_test(cname_chain_bound),
        cmocka_unit_test_setup_teardown(faults, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(no_callback_inside_query, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(cancel, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(query_from_callback_answered_later, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(bad_names, fx_setup, fx_teardown),
        cmocka_unit_test(normalise),
        cmocka_unit_test(answer_copy_and_strings),
        cmocka_unit_test(spf_flat_rfc7208),
        cmocka_unit_test(spf_flat_every_scenario),
        cmocka_unit_test(every_conformance_zone_loads),
        cmocka_unit_test(mail_dkim_special_rows),
        cmocka_unit_test(tsv_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
