/*
 * report_parse_bench: how fast the report reader (src/reports) reads a
 * large aggregate report, and in how much memory (issue 16: >= 50 MB/s of
 * XML).
 *
 *   report_parse_bench [MB] [--store]
 *
 * Writes a deterministic RFC 9990 report of about MB megabytes (default
 * 100: some 170,000 records with DKIM and SPF results, varied addresses,
 * counts and results) to a temporary file, then reads it three ways, each
 * three times (the best CPU time counts: the machine is shared):
 *   xml   the file in 64 KiB chunks into the streaming XML reader;
 *   gzip  the same report gzip'ed (zlib level 6), through sgrep_parse_gzip;
 *   store (--store) the XML into a fresh SQLite store, one transaction.
 * Prints MB/s of XML (CPU time) and the peak RSS of the process, which holds
 * the gzip'ed copy (some 10 MB) but never the XML.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "bench_common.h"
#include "reports.h"

static int on_record(void *ctx, const sgrep_report *rep, const sgrep_record *rec)
{
    (*(uint64_t *)ctx)++;
    return 0;
}

static size_t generate(FILE *f, size_t target)
{
    bench_rng r;
    bench_rng_seed(&r, 16);
    static const char *res[] = {"pass", "fail", "pass", "pass", "softfail", "none"};
    static const char *disp[] = {"none", "none", "none", "quarantine", "reject"};
    size_t n = (size_t)fprintf(
        f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
           "<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">\n  <version>1.0</version>\n"
           "  <report_metadata>\n    <org_name>bench.example</org_name>\n"
           "    <email>dmarc@bench.example</email>\n    <report_id>bench-1</report_id>\n"
           "    <generator>report_parse_bench</generator>\n"
           "    <date_range><begin>1767225600</begin><end>1767311999</end></date_range>\n"
           "  </report_metadata>\n  <policy_published>\n    <domain>example.com</domain>\n"
           "    <discovery_method>treewalk</discovery_method><adkim>r</adkim><aspf>r</aspf>\n"
           "    <p>reject</p><sp>reject</sp><np>reject</np><testing>n</testing>\n"
           "  </policy_published>\n");
    uint64_t i = 0;
    while (n < target) {
        uint32_t a = bench_rng_below(&r, 1u << 24);
        const char *dk = res[bench_rng_below(&r, 6)], *sp = res[bench_rng_below(&r, 6)];
        n += (size_t)fprintf(
            f,
            "  <record>\n    <row>\n      <source_ip>%u.%u.%u.%u</source_ip>\n"
            "      <count>%u</count>\n      <policy_evaluated>\n"
            "        <disposition>%s</disposition>\n        <dkim>%s</dkim>\n"
            "        <spf>%s</spf>\n      </policy_evaluated>\n    </row>\n"
            "    <identifiers>\n      <envelope_from>bounce%u.example.net</envelope_from>\n"
            "      <header_from>example.com</header_from>\n    </identifiers>\n"
            "    <auth_results>\n      <dkim>\n        <domain>sig%u.example.org</domain>\n"
            "        <selector>s%u</selector>\n        <result>%s</result>\n      </dkim>\n"
            "      <spf>\n        <domain>bounce%u.example.net</domain>\n"
            "        <scope>mfrom</scope>\n        <result>%s</result>\n      </spf>\n"
            "    </auth_results>\n  </record>\n",
            10 + (a >> 16) % 200, (a >> 8) & 255, a & 255, 1 + (unsigned)(i % 250),
            bench_rng_below(&r, 1000) + 1, disp[bench_rng_below(&r, 5)], dk, sp,
            (unsigned)(i % 977), (unsigned)(i % 331), (unsigned)(i % 17), dk, (unsigned)(i % 977),
            sp);
        i++;
    }
    n += (size_t)fprintf(f, "</feedback>\n");
    return n;
}

int main(int argc, char **argv)
{
    size_t mb = 100;
    int store = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--store"))
            store = 1;
        else
            mb = (size_t)atol(argv[i]);
    }
    char path[] = "/tmp/report_bench.XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w+") : NULL;
    if (!f) {
        perror("tmp");
        return 1;
    }
    size_t total = generate(f, mb * 1000000);
    fflush(f);
    sgrep_limits lim;
    sgrep_limits_init(&lim);
    lim.max_inflated = lim.max_input = total + 1;
    lim.max_records = SIZE_MAX;
    lim.max_ratio = 1000;
    char *chunk = malloc(1 << 16);

    /* the gzip'ed copy, in memory (a mail attachment would be) */
    size_t zcap = total / 4 + (1 << 20), zlen = 0;
    unsigned char *z = malloc(zcap);
    {
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
        rewind(f);
        size_t n;
        zs.next_out = z;
        zs.avail_out = (uInt)zcap;
        while ((n = fread(chunk, 1, 1 << 16, f)) > 0) {
            zs.next_in = (unsigned char *)chunk;
            zs.avail_in = (uInt)n;
            deflate(&zs, Z_NO_FLUSH);
        }
        deflate(&zs, Z_FINISH);
        zlen = zs.total_out;
        deflateEnd(&zs);
    }
    printf("report: %.1f MB of XML (%zu bytes), %.1f MB gzip'ed\n", total / 1e6, total, zlen / 1e6);

    const char *ways[] = {"xml", "gzip", "store"};
    for (int w = 0; w < (store ? 3 : 2); w++) {
        double best = 1e9;
        uint64_t recs = 0;
        for (int rep = 0; rep < 3; rep++) {
            uint64_t count = 0;
            sgrep_sink sink = {&count, NULL, on_record, NULL, NULL};
            char err[512] = "";
            sgrep_store *st = NULL;
            char dbpath[64];
            if (w == 2) {
                snprintf(dbpath, sizeof dbpath, "%s.db", path);
                unlink(dbpath);
                st = sgrep_store_open(dbpath, err, sizeof err);
                if (!st) {
                    fprintf(stderr, "store: %s\n", err);
                    return 1;
                }
                sgrep_store_sink(st, path, &sink);
            }
            double t0 = bench_cpu_now();
            int rc;
            if (w == 1) {
                rc = sgrep_parse_gzip(z, zlen, &lim, &sink, err, sizeof err);
            } else {
                sgrep_xml *x = sgrep_xml_new(&lim, &sink);
                rewind(f);
                size_t n;
                while ((n = fread(chunk, 1, 1 << 16, f)) > 0)
                    if (sgrep_xml_feed(x, chunk, n) != SGREP_OK)
                        break;
                rc = sgrep_xml_finish(x, err, sizeof err);
                sgrep_xml_free(x);
            }
            double t = bench_cpu_now() - t0;
            if (st) {
                sgrep_store_close(st);
                unlink(dbpath);
                char wal[80];
                snprintf(wal, sizeof wal, "%s-wal", dbpath);
                unlink(wal);
                snprintf(wal, sizeof wal, "%s-shm", dbpath);
                unlink(wal);
            }
            if (rc != SGREP_OK) {
                fprintf(stderr, "%s: refused: %s\n", ways[w], err);
                return 1;
            }
            if (t < best)
                best = t;
            if (count)
                recs = count; /* the store's sink counts nothing of ours: the same report */
        }
        printf("%-5s %8.1f MB/s of XML  %.2f s CPU  %llu records (%.0f records/s)\n", ways[w],
               total / 1e6 / best, best, (unsigned long long)recs, recs / best);
    }
    printf("peak RSS %.1f MiB (the process, with the %.1f MB gzip copy)\n",
           bench_maxrss_kb() / 1024.0, zlen / 1e6);
    fclose(f);
    unlink(path);
    free(chunk);
    free(z);
    return 0;
}
