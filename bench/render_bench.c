/*
 * The server-side render of one message (issue 13: a 1 MB HTML message in
 * at most 150 ms at p95): the MIME walk (sgr_mime_parse: GMime, the body
 * chosen and converted to UTF-8) and then the sanitizer in interstitial
 * mode (sgr_sanitize_html, links rewritten, cid: images resolved through
 * sgr_mime_find_cid), what spoofguard-view does for GET /m/ID/body.
 *
 * The message is generated deterministically: multipart/alternative with
 * a short text/plain part and a 1 MiB (decoded) newsletter-like text/html
 * part in quoted-printable UTF-8 (tables, inline styles, a <style> sheet,
 * tracked links, remote images, non-ASCII text), plus a multipart/related
 * logo referenced by cid:. Each run is timed by wall clock and by this
 * process's CPU time (the machine is shared); p50/p95/max over RUNS
 * (default 60), then the peak RSS.
 *   render_bench [RUNS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "mime.h"
#include "sanitize.h"

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int link_cb(char *buf, size_t cap, size_t index, const sgr_link *l, void *payload)
{
    snprintf(buf, cap, "/link/B/%zu", index);
    return 0;
}

static int cid_cb(char *buf, size_t cap, const char *cid, size_t n, void *payload)
{
    int k = sgr_mime_find_cid(payload, cid, n);
    if (k < 0)
        return 1;
    snprintf(buf, cap, "/m/B/cid/%d", k);
    return 0;
}

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL)
            exit(1);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* RFC 2045 6.7 quoted-printable, lines of at most 76 characters. */
static void put_qp(sbuf *out, const char *s, size_t n)
{
    size_t col = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char enc[4];
        size_t el;
        if (c == '\n') {
            put(out, "\n", 1);
            col = 0;
            continue;
        }
        if (c == '=' || c >= 0x7F || (c < 0x20 && c != '\t') ||
            ((c == ' ' || c == '\t') && (i + 1 == n || s[i + 1] == '\n'))) {
            snprintf(enc, sizeof enc, "=%02X", c);
            el = 3;
        } else {
            enc[0] = (char)c;
            el = 1;
        }
        if (col + el > 75) {
            put(out, "=\n", 2);
            col = 0;
        }
        put(out, enc, el);
        col += el;
    }
}

static char *make_message(size_t html_bytes, size_t *len)
{
    sbuf h = {0}, m = {0};
    char line[1024];
    puts_(&h, "<html><head><style>td{padding:4px;color:#333}.h{font-weight:bold}</style>"
              "</head><body><img src=\"cid:logo@bench.example\" alt=\"logo\">\n");
    for (int k = 0; h.n < html_bytes - 700; k++) {
        int n = snprintf(
            line, sizeof line,
            "<table width=600 cellpadding=0 style=\"border:1px solid #ccc;"
            "background-color:#fff\"><tr><td class=h style=\"font-family:Arial,sans-serif;"
            "font-size:14px\">Item %d \xE2\x80\x9C"
            "caf\xC3\xA9 cr\xC3\xA8me\xE2\x80\x9D &amp; more text, some <b>bold</b> and "
            "<i>italic</i> words</td><td><a href=\"https://click.example.com/track?id=%d&amp;"
            "u=abc\">Read more at example.com</a><img src=\"https://cdn.example.com/i%d.png\" "
            "width=100 alt=\"pic\"></td></tr></table>\n",
            k, k, k);
        put(&h, line, (size_t)n);
    }
    puts_(&h, "</body></html>\n");
    puts_(&m, "From: News <news@bench.example>\nTo: reader@example.org\n"
              "Subject: =?utf-8?Q?The_weekly_caf=C3=A9_letter?=\n"
              "Date: Fri, 04 Dec 2026 10:00:00 +0000\nMIME-Version: 1.0\n"
              "Content-Type: multipart/related; boundary=\"rel\"\n\n"
              "--rel\nContent-Type: multipart/alternative; boundary=\"alt\"\n\n"
              "--alt\nContent-Type: text/plain; charset=utf-8\n\n"
              "The weekly letter: read it in a viewer that shows HTML.\n"
              "--alt\nContent-Type: text/html; charset=utf-8\n"
              "Content-Transfer-Encoding: quoted-printable\n\n");
    put_qp(&m, h.p, h.n);
    puts_(&m, "\n--alt--\n\n--rel\nContent-Type: image/gif\nContent-ID: <logo@bench.example>\n"
              "Content-Transfer-Encoding: base64\n\n"
              "R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=\n--rel--\n");
    free(h.p);
    *len = m.n;
    return m.p;
}

static void report(const char *what, double *t, int runs)
{
    qsort(t, (size_t)runs, sizeof *t, cmp);
    printf("%-28s p50 %7.1f ms  p95 %7.1f ms  max %7.1f ms\n", what, t[runs / 2] * 1e3,
           t[(runs * 95) / 100] * 1e3, t[runs - 1] * 1e3);
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 60;
    if (runs < 1)
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    size_t len;
    char *msg = make_message(1u << 20, &len);
    double *wall = calloc((size_t)runs, sizeof *wall), *cpu = calloc((size_t)runs, sizeof *cpu);
    double *parse = calloc((size_t)runs, sizeof *parse), *san = calloc((size_t)runs, sizeof *san);
    if (wall == NULL || cpu == NULL || parse == NULL || san == NULL)
        return 1;
    size_t body_len = 0, out_len = 0, links = 0, nparts = 0;
    for (int i = 0; i < runs; i++) {
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        sgr_mime *m = NULL;
        if (sgr_mime_parse(&m, msg, len, NULL) != SGR_MIME_OK)
            return 1;
        const sgr_mime_view *v = sgr_mime_get(m);
        double w1 = clock_s(CLOCK_MONOTONIC);
        sgr_sanitize_opts o;
        sgr_sanitize_opts_init(&o);
        o.link_mode = SGR_LINKS_INTERSTITIAL;
        o.link_href = link_cb;
        o.cid_src = cid_cb;
        o.payload = m;
        o.link_target = "_top";
        sgr_sanitize_result r;
        if (!v->body_is_html || sgr_sanitize_html(&r, v->body, v->body_len, &o) != 0) {
            fprintf(stderr, "render_bench: the html body did not sanitize\n");
            return 1;
        }
        double w2 = clock_s(CLOCK_MONOTONIC);
        body_len = v->body_len;
        nparts = v->nparts;
        out_len = r.html_len;
        links = r.links.n;
        sgr_sanitize_result_free(&r);
        sgr_mime_free(m);
        wall[i] = clock_s(CLOCK_MONOTONIC) - w0;
        cpu[i] = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        parse[i] = w1 - w0;
        san[i] = w2 - w1;
    }
    printf("message %zu B (quoted-printable), html body %zu B, %zu parts, sanitized %zu B, "
           "%zu links, %d runs\n",
           len, body_len, nparts, out_len, links, runs);
    report("parse (sgr_mime_parse)", parse, runs);
    report("sanitize (interstitial)", san, runs);
    report("render, wall", wall, runs);
    report("render, CPU", cpu, runs);
    qsort(wall, (size_t)runs, sizeof *wall, cmp);
    double p95 = wall[(runs * 95) / 100] * 1e3;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %ld MiB\n", ru.ru_maxrss / 1024);
    printf("SUMMARY|render 1 MB HTML p95 (ms)|%.1f|-|-|<= 150|%s\n", p95,
           p95 <= 150 ? "ok" : "SLOW");
    free(wall);
    free(cpu);
    free(parse);
    free(san);
    free(msg);
    return 0;
}
