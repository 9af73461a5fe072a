/*
 * spoofguardd metrics: the Prometheus text format writer (exact text,
 * escaping, cumulative histogram buckets), the registry's sums over
 * worker shards, label slots for signing keys, the output bound, and
 * the metrics_listen address check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <spoofguard/dns.h>

#include "metrics.h"
#include "metrics_http.h"

/* A small registry written with the primitives: every line is known. */
static void text_format_exact(void **state)
{
    sg_mbuf b;
    sg_mbuf_init(&b, 1 << 16);
    sg_prom_head(&b, "x_requests_total", "counter", "Requests \\ handled,\nby code.");
    const char *l1[4] = {"code", "200", "path", "a\"b\\c\nd"};
    sg_prom_sample(&b, "x_requests_total", l1, 2, 1027);
    sg_prom_sample(&b, "x_requests_total", NULL, 0, 0);
    sg_prom_head(&b, "x_temperature", "gauge", "A gauge.");
    sg_prom_sample_f(&b, "x_temperature", NULL, 0, 21.5);

    sg_hist_snap h;
    memset(&h, 0, sizeof(h));
    h.bucket[0] = 1;          /* <= 0.5 ms */
    h.bucket[3] = 2;          /* <= 5 ms */
    h.bucket[SG_HIST_NB] = 1; /* over 30 s */
    h.sum_us = 31006500;
    sg_prom_head(&b, "x_seconds", "histogram", "H.");
    const char *l2[2] = {"dir", "in"};
    sg_prom_histogram(&b, "x_seconds", l2, 1, &h);
    const char *want = "# HELP x_requests_total Requests \\\\ handled,\\nby code.\n"
                       "# TYPE x_requests_total counter\n"
                       "x_requests_total{code=\"200\",path=\"a\\\"b\\\\c\\nd\"} 1027\n"
                       "x_requests_total 0\n"
                       "# HELP x_temperature A gauge.\n"
                       "# TYPE x_temperature gauge\n"
                       "x_temperature 21.500\n"
                       "# HELP x_seconds H.\n"
                       "# TYPE x_seconds histogram\n"
                       "x_seconds_bucket{dir=\"in\",le=\"0.0005\"} 1\n"
                       "x_seconds_bucket{dir=\"in\",le=\"0.001\"} 1\n"
                       "x_seconds_bucket{dir=\"in\",le=\"0.0025\"} 1\n"
                       "x_seconds_bucket{dir=\"in\",le=\"0.005\"} 3\n"
                       "x_seconds_bucket{dir=\"in\",le=\"0.01\"} 3\n"
                       "x_seconds_bucket{dir=\"in\",le=\"0.025\"} 3\n"
                       "x_seconds_bucket{dir=\"in\",le=\"0.05\"} 3\n"
                       "x_seconds_bucket{dir=\"in\",le=\"0.1\"} 3\n"
                       "x_seconds_bucket{dir=\"in\",le=\"0.25\"} 3\n"
                       "x_seconds_bucket{dir=\"in\",le=\"0.5\"} 3\n"
                       "x_seconds_bucket{dir=\"in\",le=\"1\"} 3\n"
                       "x_seconds_bucket{dir=\"in\",le=\"2.5\"} 3\n"
                       "x_seconds_bucket{dir=\"in\",le=\"5\"} 3\n"
                       "x_seconds_bucket{dir=\"in\",le=\"10\"} 3\n"
                       "x_seconds_bucket{dir=\"in\",le=\"30\"} 3\n"
                       "x_seconds_bucket{dir=\"in\",le=\"+Inf\"} 4\n"
                       "x_seconds_sum{dir=\"in\"} 31.006500\n"
                       "x_seconds_count{dir=\"in\"} 4\n";
    assert_false(b.full);
    assert_string_equal(b.data, want);
    sg_mbuf_free(&b);
}

/* Observations land in the bucket whose bound is >= the value (le). */
static void histogram_observe_bounds(void **state)
{
    sg_mhist h;
    memset(&h, 0, sizeof(h));
    sg_mhist_observe(&h, 0);
    sg_mhist_observe(&h, 500);      /* exactly on the first bound */
    sg_mhist_observe(&h, 501);      /* the next */
    sg_mhist_observe(&h, 30000000); /* the top bound */
    sg_mhist_observe(&h, 30000001); /* +Inf */
    assert_int_equal(atomic_load(&h.bucket[0]), 2);
    assert_int_equal(atomic_load(&h.bucket[1]), 1);
    assert_int_equal(atomic_load(&h.bucket[SG_HIST_NB - 1]), 1);
    assert_int_equal(atomic_load(&h.bucket[SG_HIST_NB]), 1);
    assert_int_equal(atomic_load(&h.sum_us), 0 + 500 + 501 + 30000000 + 30000001);
}

static int count_series(const char *text)
{
    int n = 0;
    for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
        if (*p != '#')
            n++;
        if (strchr(p, '\n') == NULL)
            break;
    }
    return n;
}

static void has_line(const char *text, const char *line)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "\n%s\n", line);
    if (strstr(text, buf) == NULL)
        fail_msg("missing line: %s", line);
}

/* Two worker shards add up; key labels come from the slots. */
static void registry_sums_shards(void **state)
{
    sg_metrics m;
    assert_int_equal(sg_metrics_init(&m, 2, "9.9.9", 1700000000.0), 0);
    assert_int_equal(sg_metrics_key_slot(&m, "example.com", "s1"), 0);
    assert_int_equal(sg_metrics_key_slot(&m, "example.org", "ed"), 1);
    assert_int_equal(sg_metrics_key_slot(&m, "example.com", "s1"), 0); /* the same pair */
    m.live[0].slot = 0;
    m.live[0].mtime = 1700000000 - 86400;
    m.live[0].created = 1700000000 - 10 * 86400; /* from the rotation state */
    m.nlive = 1;
    sg_metrics_shard *a = &m.shards[0], *b = &m.shards[1];
    sg_mc_inc(&a->sessions_opened, 5);
    sg_mc_inc(&b->sessions_opened, 2);
    sg_mc_inc(&a->sessions_closed, 4);
    sg_mc_inc(&a->actions[SG_MDIR_INBOUND][SG_MACT_REJECT], 2);
    sg_mc_inc(&b->actions[SG_MDIR_INBOUND][SG_MACT_REJECT], 1);
    SG_MC_INC_AT(a->verdicts, 2); /* forged */
    SG_MC_INC_AT(a->spf, 3);      /* fail */
    SG_MC_INC_AT(b->spf, 3);
    SG_MC_INC_AT(a->spf, 99); /* unknown to the registry: dropped */
    SG_MC_INC_AT(b->signatures, 1);
    SG_MC_INC_AT(a->arc_seals, 1); /* left off */
    SG_MC_INC_AT(b->arc_seals, 1);
    SG_MC_INC_AT(a->dns[0], SG_DNS_TIMEOUT);
    SG_MC_INC_AT(b->dns[1], SG_DNS_NOERROR);
    sg_mhist_observe(&a->dns_latency, 1200);
    sg_mhist_observe(&b->dns_latency, 700);
    sg_mhist_observe(&b->message_duration[SG_MDIR_OUTBOUND], 3000);
    m.reloads_ok = 3;
    m.stalls[0] = 2;
    m.stalled[0] = 1;
    m.reloads_failed = 1;

    sg_mbuf out;
    sg_mbuf_init(&out, 1 << 20);
    sg_metrics_render(&m, &out, 1700000000.5);
    assert_false(out.full);
    const char *t = out.data;
    has_line(t, "spoofguard_build_info{version=\"9.9.9\"} 1");
    has_line(t, "spoofguard_start_time_seconds 1700000000.000");
    has_line(t, "spoofguard_workers 2");
    has_line(t, "spoofguard_milter_sessions_open 3");
    has_line(t, "spoofguard_milter_sessions_total 7");
    has_line(t, "spoofguard_actions_total{direction=\"inbound\",action=\"reject\"} 3");
    has_line(t, "spoofguard_actions_total{direction=\"outbound\",action=\"accept\"} 0");
    has_line(t, "spoofguard_verdicts_total{verdict=\"forged\"} 1");
    has_line(t, "spoofguard_verdicts_total{verdict=\"authentic\"} 0");
    has_line(t, "spoofguard_spf_results_total{result=\"fail\"} 2");
    has_line(t, "spoofguard_dkim_results_total{result=\"policy\"} 0");
    has_line(t, "spoofguard_dmarc_results_total{result=\"permerror\"} 0");
    has_line(t, "spoofguard_arc_results_total{result=\"pass\"} 0");
    has_line(t, "spoofguard_failsafe_total{cause=\"overload\"} 0");
    has_line(t, "spoofguard_failsafe_total{cause=\"signer\"} 0");
    has_line(t, "spoofguard_signatures_total{domain=\"example.com\",selector=\"s1\"} 0");
    has_line(t, "spoofguard_signatures_total{domain=\"example.org\",selector=\"ed\"} 1");
    has_line(t, "spoofguard_arc_seals_total{result=\"added\"} 0");
    has_line(t, "spoofguard_accept_pauses_total 0");
    has_line(t, "spoofguard_arc_seals_total{result=\"unsigned\"} 2");
    has_line(t, "spoofguard_signing_key_age_seconds{domain=\"example.com\",selector=\"s1\"} "
                "86400.500");
    has_line(t, "spoofguard_dkim_key_age_seconds{domain=\"example.com\",selector=\"s1\"} "
                "864000.500");
    has_line(t, "spoofguard_dns_queries_total{source=\"network\",status=\"timeout\"} 1");
    has_line(t, "spoofguard_dns_queries_total{source=\"cache\",status=\"noerror\"} 1");
    has_line(t, "spoofguard_dns_timeouts_total 1");
    has_line(t, "spoofguard_dns_query_duration_seconds_bucket{le=\"0.001\"} 1");
    has_line(t, "spoofguard_dns_query_duration_seconds_bucket{le=\"0.0025\"} 2");
    has_line(t, "spoofguard_dns_query_duration_seconds_sum 0.001900");
    has_line(t, "spoofguard_dns_query_duration_seconds_count 2");
    has_line(t,
             "spoofguard_message_duration_seconds_bucket{direction=\"outbound\",le=\"0.005\"} 1");
    has_line(t, "spoofguard_message_duration_seconds_count{direction=\"inbound\"} 0");
    has_line(t, "spoofguard_reloads_total{result=\"ok\"} 3");
    has_line(t, "spoofguard_reloads_total{result=\"failed\"} 1");
    has_line(t, "spoofguard_scrape_connections_refused_total 0");
    has_line(t, "spoofguard_log_lines_lost_total 0"); /* no log stats given */
    has_line(t, "spoofguard_stalls_total{what=\"worker\"} 2");
    has_line(t, "spoofguard_stalls_total{what=\"signer\"} 0");
    has_line(t, "spoofguard_stalled{what=\"worker\"} 1");
    has_line(t, "spoofguard_stalled{what=\"signer\"} 0");
    assert_non_null(strstr(t, "# TYPE spoofguard_stalled gauge\n"));
    /* every family is declared once, every series has a family */
    assert_non_null(strstr(t, "# TYPE spoofguard_dns_query_duration_seconds histogram\n"));
    /* 168 series without keys (121 + 47 of outbound detection), plus
     * 2 + 1 + 1 for these keys (two signature counters, the two ages of
     * the live key) */
    assert_int_equal(count_series(t), 168 + 4);
    sg_mbuf_free(&out);
    sg_metrics_free(&m);
}

/* Keys beyond the slots share one "_other" series: bounded labels. */
static void key_slots_are_bounded(void **state)
{
    sg_metrics m;
    char sel[32];
    assert_int_equal(sg_metrics_init(&m, 1, "1", 0), 0);
    for (unsigned i = 0; i < 100; i++) {
        snprintf(sel, sizeof(sel), "s%u", i);
        unsigned slot = sg_metrics_key_slot(&m, "example.com", sel);
        assert_int_equal(slot, i < SG_METRICS_KEY_OTHER ? i : SG_METRICS_KEY_OTHER);
    }
    SG_MC_INC_AT(m.shards[0].signatures, SG_METRICS_KEY_OTHER);
    sg_mbuf out;
    sg_mbuf_init(&out, 1 << 20);
    sg_metrics_render(&m, &out, 0);
    has_line(out.data, "spoofguard_signatures_total{domain=\"_other\",selector=\"_other\"} 1");
    has_line(out.data, "spoofguard_signatures_total{domain=\"example.com\",selector=\"s30\"} 0");
    assert_null(strstr(out.data, "selector=\"s31\""));
    assert_int_equal(count_series(out.data), 168 + SG_METRICS_KEY_OTHER + 1);
    sg_mbuf_free(&out);
    sg_metrics_free(&m);
}

/* The output buffer never grows past its bound; it says it was cut. */
static void buffer_is_bounded(void **state)
{
    sg_metrics m;
    sg_mbuf out;
    assert_int_equal(sg_metrics_init(&m, 4, "1", 0), 0);
    sg_mbuf_init(&out, 1000);
    sg_metrics_render(&m, &out, 0);
    assert_true(out.full);
    assert_true(out.len < 1000);
    sg_mbuf_free(&out);
    sg_metrics_free(&m);
}

static void listen_address_check(void **state)
{
    static const char *const good[] = {
        "127.0.0.1:9100",
        "127.1.2.3:1",
        "[::1]:9100",
        "inet:127.0.0.1:65535",
        "/run/spoofguard/metrics.sock",
        "unix:/tmp/m.sock",
    };
    static const struct {
        const char *spec, *want;
    } bad[] = {
        {"0.0.0.0:9100", "not a loopback address"},
        {"192.0.2.1:9100", "not a loopback address"},
        {"[::]:9100", "not a loopback address"},
        {"[2001:db8::1]:9100", "not a loopback address"},
        {"[::ffff:192.0.2.1]:9100", "not a loopback address"},
        {"localhost:9100", "not a numeric address"},
        {"::1:9100", "not a numeric address"},
        {"127.0.0.1", "is not 127.0.0.1:PORT"},
        {"127.0.0.1:0", "is not 127.0.0.1:PORT"},
        {"127.0.0.1:65536", "is not 127.0.0.1:PORT"},
        {"127.0.0.1:9x", "is not 127.0.0.1:PORT"},
        {"relative/path.sock", "is not 127.0.0.1:PORT"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (sg_mhttp_check(good[i], err, sizeof(err)) != 0)
            fail_msg("%s refused: %s", good[i], err);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (sg_mhttp_check(bad[i].spec, err, sizeof(err)) == 0)
            fail_msg("%s accepted", bad[i].spec);
        if (strstr(err, bad[i].want) == NULL)
            fail_msg("%s: got '%s', want '%s'", bad[i].spec, err, bad[i].want);
    }
}

/* The request judge: complete or not, and the status for each. */
static void request_judge(void **state)
{
    static const struct {
        const char *req, *want; /* want NULL: wait for more */
    } cases[] = {
        {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "200 OK"},
        {"GET /metrics HTTP/1.0\r\n\r\n", "200 OK"},
        {"GET /metrics HTTP/1.0\n\n", "200 OK"},
        {"GET /metrics?name[]=x HTTP/1.1\r\n\r\n", "200 OK"},
        {"GET /metrics HTTP/1.1\r\nHost: x\r\n", NULL},
        {"GET /metrics HTTP/1.1\r\n", NULL},
        {"GET /metr", NULL},
        {"", NULL},
        {"GET /metrics HTTP/1.1\r\nX: a\n\n", "200 OK"},
        {"GET /metricsx HTTP/1.1\r\n", "404 Not Found"},
        {"GET / HTTP/1.1\r\n", "404 Not Found"},
        {"GET /METRICS HTTP/1.1\r\n", "404 Not Found"},
        {"POST /metrics HTTP/1.1\r\n", "405 Method Not Allowed"},
        {"get /metrics HTTP/1.1\r\n", "405 Method Not Allowed"},
        {"GET /metrics HTTP/2.0\r\n", "400 Bad Request"},
        {"GET /metrics\r\n", "400 Bad Request"},
        {"GET /metrics HTTP/1.1 x\r\n", "400 Bad Request"},
        {"hello\n", "400 Bad Request"},
        {"\n", "400 Bad Request"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = sg_mhttp_judge(cases[i].req, strlen(cases[i].req), 4095);
        if ((got == NULL) != (cases[i].want == NULL) || (got && strcmp(got, cases[i].want) != 0))
            fail_msg("case %zu %s: got %s, want %s", i, cases[i].req, got ? got : "(more)",
                     cases[i].want ? cases[i].want : "(more)");
    }
    /* a NUL byte anywhere, even before the line ends */
    assert_string_equal(sg_mhttp_judge("GET \0/metrics", 14, 4095), "400 Bad Request");
    /* the buffer full without a complete request */
    char big[64];
    memset(big, 'a', sizeof(big));
    assert_string_equal(sg_mhttp_judge(big, 64, 64), "431 Request Header Fields Too Large");
    assert_null(sg_mhttp_judge(big, 63, 64));
    memcpy(big, "GET /metrics HTTP/1.1\r\n", 23);
    assert_string_equal(sg_mhttp_judge(big, 64, 64), "431 Request Header Fields Too Large");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_format_exact),    cmocka_unit_test(histogram_observe_bounds),
        cmocka_unit_test(registry_sums_shards), cmocka_unit_test(key_slots_are_bounded),
        cmocka_unit_test(buffer_is_bounded),    cmocka_unit_test(listen_address_check),
        cmocka_unit_test(request_judge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
