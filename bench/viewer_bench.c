/*
 * bench/viewer_bench.c - spoofguard-view on a large Maildir (issue 13:
 * "listing a 10,000-message Maildir after the first index within 1 s").
 *
 * Generates a Maildir of N messages (default 10 000) from 200 sender
 * domains: 50 of them sign with DKIM (Ed25519) and publish p=reject, so
 * their mail is verified (and some of it, unsigned, forged); the other 150
 * publish nothing (unverified). Half the bodies are HTML with links, half
 * plain text; 2-6 KiB each. DNS is a zone file (the viewer's --zone).
 *
 * Then, in this process: the viewer's index and HTTP server (the code of
 * spoofguard-view, sg_viewer_core) on 127.0.0.1, and
 *   - the first index: from start until every message is verified;
 *   - GET /api/messages and GET / over HTTP, R times each after it
 *     (p50, p95, max; wall time, one client);
 *   - GET /m/ID (a message page: explanation and render) for R random IDs;
 *   - the peak RSS (VmHWM) of the whole process.
 *
 *   viewer_bench [--messages N] [--requests R] [--port P] [--keep]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <spoofguard/dkim.h>
#include <spoofguard/msg.h>

#include "auth.h"
#include "bench_common.h"
#include "cli/cli.h"
#include "http.h"
#include "index.h"

#define NDOMAINS 200
#define NSIGNING 50
#define SELECTOR "bench"

/* ---- signing ----------------------------------------------------------------- */

typedef struct {
    sg_dkim_signer *s;
    int err;
} signer;

static int on_headers(const sg_header *f, size_t n, void *payload)
{
    signer *c = payload;
    int rc = sg_dkim_sign_headers(c->s, f, n);
    if (rc != 0)
        c->err = rc;
    return 0;
}

static int on_body(const char *d, size_t n, void *payload)
{
    signer *c = payload;
    int rc = sg_dkim_sign_body(c->s, d, n);
    if (rc != 0)
        c->err = rc;
    return 0;
}

/* The DKIM-Signature field(s) for msg, signed as domain (malloc'd). */
static char *sign(const sg_dkim_signkey *key, const char *domain, const char *msg, size_t len)
{
    sg_dkim_sign_opts o;
    signer c = {NULL, 0};
    sg_msg_callbacks cbs = {on_headers, on_body, NULL};
    sg_msg_parser *p = NULL;
    const char *sig;
    size_t siglen;
    sg_dkim_sign_opts_init(&o);
    o.domain = domain;
    o.selector = SELECTOR;
    o.key = key;
    if (sg_dkim_signer_new(&c.s, &o, 1) != 0 || sg_msg_parser_new(&p, NULL, &cbs, &c) != 0 ||
        sg_msg_feed(p, msg, len) != 0 || sg_msg_finish(p) != 0 || c.err != 0 ||
        sg_dkim_sign_finish(c.s, &sig, &siglen) != 0)
        bench_die("signing failed");
    char *out = bench_strf("%.*s", (int)siglen, sig);
    sg_msg_parser_free(p);
    sg_dkim_signer_free(c.s);
    return out;
}

/* ---- the corpus ---------------------------------------------------------------- */

static const char *const words[] = {
    "invoice", "meeting", "report",  "quarterly", "update", "schedule", "project", "review",
    "account", "payment", "summary", "weekly",    "notes",  "travel",   "team",    "budget",
};

static void text_lines(bench_rng *r, char *buf, size_t *len, size_t cap, size_t want)
{
    while (*len + 100 < cap && *len < want) {
        for (int w = 0; w < 12; w++)
            *len += (size_t)snprintf(buf + *len, cap - *len, "%s ",
                                     words[bench_rng_below(r, sizeof(words) / sizeof(words[0]))]);
        *len += (size_t)snprintf(buf + *len, cap - *len, "\r\n");
    }
}

/* Writes N messages into md/cur and the zone into zone. Returns the
 * number of messages of each expected kind via counts. */
static void make_corpus(const char *md, const char *zone_path, unsigned n)
{
    sg_dkim_signkey *key;
    char *rec, path[4096];
    bench_rng r;
    FILE *z;
    if (sg_dkim_signkey_generate(&key, SG_DKIM_ED25519_SHA256, 0) != 0 ||
        sg_dkim_signkey_record(key, &rec) != 0)
        bench_die("key generation failed");
    if ((z = fopen(zone_path, "w")) == NULL)
        bench_die("%s: %s", zone_path, strerror(errno));
    for (int d = 0; d < NSIGNING; d++) {
        fprintf(z, "%s._domainkey.d%d.example. 3600 IN TXT \"%s\"\n", SELECTOR, d, rec);
        fprintf(z, "_dmarc.d%d.example. 3600 IN TXT \"v=DMARC1; p=reject\"\n", d);
    }
    fclose(z);
    free(rec);
    bench_rng_seed(&r, 13);
    size_t cap = 16384;
    char *body = malloc(cap), *head = malloc(4096);
    for (unsigned i = 0; i < n; i++) {
        unsigned d = bench_rng_below(&r, NDOMAINS);
        unsigned user = bench_rng_below(&r, 8);
        int html = bench_rng_below(&r, 2);
        /* in signing domains, 1 message in 10 is unsigned: forged */
        int do_sign = d < NSIGNING && bench_rng_below(&r, 10) != 0;
        size_t blen = 0, want = 2048 + bench_rng_below(&r, 4096);
        long long date = 1790000000LL + (long long)i * 300;
        if (html) {
            blen += (size_t)snprintf(body + blen, cap - blen,
                                     "<html><body><p>Hello,</p><p>See <a href=\"https://portal.d%u."
                                     "example/doc/%u\">the document</a> and "
                                     "<a href=\"https://www.example.org/x?id=%u\">this page</a>."
                                     "</p><p>",
                                     d, i, i);
            text_lines(&r, body, &blen, cap - 64, want);
            blen += (size_t)snprintf(body + blen, cap - blen, "</p></body></html>\r\n");
        } else {
            blen += (size_t)snprintf(body + blen, cap - blen,
                                     "Hello,\r\n\r\nsee https://portal.d%u.example/doc/%u\r\n\r\n",
                                     d, i);
            text_lines(&r, body, &blen, cap, want);
        }
        time_t t = (time_t)date;
        struct tm tm;
        char ds[64];
        gmtime_r(&t, &tm);
        strftime(ds, sizeof(ds), "%a, %d %b %Y %H:%M:%S +0000", &tm);
        int hl = snprintf(head, 4096,
                          "From: User %u of d%u <user%u@d%u.example>\r\n"
                          "To: reader@home.example\r\n"
                          "Subject: %s %s #%u\r\n"
                          "Date: %s\r\n"
                          "Message-ID: <%u.bench@d%u.example>\r\n"
                          "MIME-Version: 1.0\r\n"
                          "Content-Type: text/%s; charset=utf-8\r\n\r\n",
                          user, d, user, d, words[i % 16], words[(i / 16) % 16], i, ds, i, d,
                          html ? "html" : "plain");
        size_t mlen = (size_t)hl + blen;
        char *msg = malloc(mlen + 1);
        memcpy(msg, head, (size_t)hl);
        memcpy(msg + hl, body, blen);
        msg[mlen] = '\0';
        char *sig = NULL;
        if (do_sign) {
            char dom[32];
            snprintf(dom, sizeof(dom), "d%u.example", d);
            sig = sign(key, dom, msg, mlen);
        }
        snprintf(path, sizeof(path), "%s/cur/%lld.M%uP1.bench:2,S", md, date, i);
        FILE *f = fopen(path, "wb");
        if (f == NULL)
            bench_die("%s: %s", path, strerror(errno));
        if (sig)
            fputs(sig, f);
        fwrite(msg, 1, mlen, f);
        fclose(f);
        free(sig);
        free(msg);
    }
    free(body);
    free(head);
    sg_dkim_signkey_free(key);
}

/* ---- an HTTP client ------------------------------------------------------------------ */

/* GET path; returns the wall seconds, *status and *bytes set. */
static double get(int port, const char *path, int *status, size_t *bytes)
{
    struct sockaddr_in a;
    char req[512], buf[65536];
    double t0 = bench_wall_now();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        bench_die("connect: %s", strerror(errno));
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n)
        bench_die("write: %s", strerror(errno));
    size_t total = 0;
    ssize_t k;
    *status = 0;
    while ((k = read(fd, buf, sizeof(buf))) > 0) {
        if (total == 0 && k > 12)
            *status = atoi(buf + 9);
        total += (size_t)k;
    }
    close(fd);
    *bytes = total;
    return bench_wall_now() - t0;
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, int n, size_t bytes)
{
    qsort(t, (size_t)n, sizeof(*t), dcmp);
    printf("%-28s p50 %8.1f ms  p95 %8.1f ms  max %8.1f ms  (%d requests, %zu bytes each)\n", what,
           t[n / 2] * 1e3, t[(int)(n * 0.95)] * 1e3, t[n - 1] * 1e3, n, bytes);
}

typedef struct {
    char (*ids)[SGV_ID_LEN + 1];
    size_t n, cap;
    size_t by_headline[4];
} collect_ctx;

static int collect(const sgv_row *row, void *payload)
{
    collect_ctx *c = payload;
    if (c->n < c->cap)
        memcpy(c->ids[c->n++], row->id, SGV_ID_LEN + 1);
    if ((unsigned)row->headline < 4)
        c->by_headline[row->headline]++;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned nmsg = 10000;
    int nreq = 50, port = 18128, keep = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--messages") && i + 1 < argc)
            nmsg = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--requests") && i + 1 < argc)
            nreq = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else
            bench_die("usage: viewer_bench [--messages N] [--requests R] [--port P] [--keep]");
    }
    if (nmsg < 1 || nreq < 2)
        bench_die("need at least 1 message and 2 requests");
    const char *dir = bench_tmpdir("sg-viewer-bench");
    char *md = bench_strf("%s/maildir", dir), *zone = bench_strf("%s/bench.zone", dir);
    char *sub;
    mkdir(md, 0700);
    for (int i = 0; i < 3; i++) {
        sub = bench_strf("%s/%s", md, (const char *[]){"new", "cur", "tmp"}[i]);
        mkdir(sub, 0700);
        free(sub);
    }
    double t0 = bench_wall_now();
    make_corpus(md, zone, nmsg);
    printf("corpus: %u messages in %s (%.1f s to generate and sign)\n", nmsg, md,
           bench_wall_now() - t0);

    /* the viewer, as main.c sets it up (no login: loopback) */
    const char *maildirs[1] = {md};
    const char *zones[1] = {zone};
    char listen[32], err[256];
    sgv_config cfg;
    sg_cli_dns dns;
    sgv_app app;
    sgv_http *http = NULL;
    memset(&cfg, 0, sizeof(cfg));
    memset(&dns, 0, sizeof(dns));
    memset(&app, 0, sizeof(app));
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    cfg.maildirs = maildirs;
    cfg.nmaildirs = 1;
    cfg.listen = listen;
    dns.zone_files = malloc(sizeof(char *));
    dns.zone_files[0] = zones[0];
    dns.nzones = 1;
    if (sg_cli_dns_open(&dns) != 0)
        bench_die("zone");
    if (sgv_auth_new(&app.auth, NULL, err, sizeof(err)) != 0 ||
        sgv_index_new(&app.index, &cfg, dns.resolver, err, sizeof(err)) != 0)
        bench_die("viewer set-up: %s", err);
    app.cfg = &cfg;
    if (sgv_http_start(&http, &app, NULL, NULL, err, sizeof(err)) != 0)
        bench_die("%s", err);

    long hwm0 = bench_hwm_kb();
    t0 = bench_wall_now();
    if (sgv_index_start(app.index) != 0)
        bench_die("index");
    double scanned = bench_wall_now() - t0;
    if (!sgv_index_wait_idle(app.index, 600000))
        bench_die("the first index took more than 10 minutes");
    double first = bench_wall_now() - t0;
    printf("first index: %.2f s (scan %.3f s; the index says %.2f s) = %.0f messages/s\n", first,
           scanned, sgv_index_first_index_ns(app.index) / 1e9, nmsg / first);

    collect_ctx cc = {NULL, 0, (size_t)nmsg, {0}};
    cc.ids = calloc(nmsg, sizeof(*cc.ids));
    sgv_index_foreach(app.index, collect, &cc);
    printf("headlines: verified %zu, verified_third_party %zu, unverified %zu, forged %zu\n",
           cc.by_headline[0], cc.by_headline[1], cc.by_headline[2], cc.by_headline[3]);

    double *t = calloc((size_t)nreq, sizeof(double));
    int st;
    size_t bytes;
    const char *const lists[] = {"/api/messages", "/"};
    for (int k = 0; k < 2; k++) {
        get(port, lists[k], &st, &bytes); /* warm */
        for (int i = 0; i < nreq; i++) {
            t[i] = get(port, lists[k], &st, &bytes);
            if (st != 200)
                bench_die("GET %s: %d", lists[k], st);
        }
        report(k ? "GET / (list page)" : "GET /api/messages", t, nreq, bytes);
    }
    bench_rng r;
    bench_rng_seed(&r, 7);
    size_t pbytes = 0;
    for (int i = 0; i < nreq; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/m/%s", cc.ids[bench_rng_below(&r, (uint32_t)cc.n)]);
        t[i] = get(port, path, &st, &bytes);
        pbytes += bytes;
        if (st != 200)
            bench_die("GET %s: %d", path, st);
    }
    report("GET /m/ID (random IDs)", t, nreq, pbytes / (size_t)nreq);
    long hwm = bench_hwm_kb();
    printf("peak RSS (VmHWM): %.1f MiB (%.1f MiB before the index)\n", hwm / 1024.0, hwm0 / 1024.0);
    qsort(t, (size_t)nreq, sizeof(*t), dcmp);

    sgv_http_stop(http);
    sgv_index_free(app.index);
    sgv_auth_free(app.auth);
    sg_cli_dns_close(&dns);
    free(t);
    free(cc.ids);
    if (!keep) {
        for (int i = 0; i < 3; i++) { /* bench_rmdir goes one level deep */
            sub = bench_strf("%s/%s", md, (const char *[]){"new", "cur", "tmp"}[i]);
            bench_rmdir(sub);
            free(sub);
        }
        bench_rmdir(md);
        bench_rmdir(dir);
    } else
        printf("kept %s\n", dir);
    free(md);
    free(zone);
    return 0;
}
