/* bench/bench_corpus.c - the benchmarks' test messages (bench_corpus.h). */
#include "bench_corpus.h"

#include <stdlib.h>
#include <string.h>

static const char *const words[] = {
    "the",       "quarterly", "report",   "shows",   "that",        "revenue",  "grew",
    "by",        "twelve",    "percent",  "while",   "costs",       "remained", "flat",
    "please",    "review",    "attached", "figures", "before",      "Thursday", "meeting",
    "we",        "will",      "discuss",  "budget",  "for",         "next",     "year",
    "and",       "hiring",    "plans",    "in",      "engineering", "sales",    "support",
    "regards",   "thanks",    "Alice",    "Bob",     "schedule",    "update",   "server",
    "migration", "completed", "without",  "errors",  "customers",   "reported", "no",
    "downtime",  "latency",   "improved", "after",   "cache",       "changes",  "were",
    "deployed",  "on",        "Monday",   "morning", "--",          "ok,",      "see",
    "below.",
};
#define NWORDS (sizeof words / sizeof words[0])

size_t bench_gen_line(bench_rng *r, char *out)
{
    uint32_t u = bench_rng_below(r, 100);
    size_t n = 0, target;
    if (u < 6) {
        memcpy(out, "\r\n", 2);
        return 2;
    }
    target = u < 9 ? 200 + bench_rng_below(r, 790) : 30 + bench_rng_below(r, 47);
    while (n < target) {
        const char *w = words[bench_rng_below(r, NWORDS)];
        size_t wl = strlen(w);
        if (n > 0) {
            uint32_t s = bench_rng_below(r, 40);
            if (s == 0)
                out[n++] = '\t';
            else if (s == 1) {
                out[n++] = ' ';
                out[n++] = ' ';
            } else
                out[n++] = ' ';
        }
        memcpy(out + n, w, wl);
        n += wl;
    }
    if (bench_rng_below(r, 8) == 0) {
        size_t k = 1 + bench_rng_below(r, 3);
        while (k--)
            out[n++] = bench_rng_below(r, 3) ? ' ' : '\t';
    }
    out[n++] = '\r';
    out[n++] = '\n';
    return n;
}

char *bench_gen_header(uint64_t seed)
{
    return bench_strf("Received: from mail.%s (mail.%s [192.0.2.25])\r\n"
                      "\tby mx.receiver.example (Postfix) with ESMTPS id 4Zx%016llx\r\n"
                      "\tfor <bob@receiver.example>; Sun, 29 Nov 2026 09:59:59 +0000 (UTC)\r\n"
                      "Received: from [10.0.0.7] (unknown [10.0.0.7])\r\n"
                      "\tby mail.%s (Postfix) with ESMTPSA id 7Q%08llx;\r\n"
                      "\tSun, 29 Nov 2026 09:59:58 +0000 (UTC)\r\n"
                      "From: \"Alice Example\" <alice@%s>\r\n"
                      "To: Bob Receiver <bob@receiver.example>\r\n"
                      "Cc: team@%s,\r\n"
                      "  Carol <carol@receiver.example>\r\n"
                      "Subject: Quarterly report and the   budget for next year (%llu)\r\n"
                      "Date: Sun, 29 Nov 2026 09:59:57 +0000\r\n"
                      "Message-ID: <%016llx.bench@%s>\r\n"
                      "MIME-Version: 1.0\r\n"
                      "Content-Type: text/plain; charset=utf-8; format=flowed\r\n"
                      "Content-Transfer-Encoding: 8bit\r\n"
                      "User-Agent: bench-mailer/1.0\r\n"
                      "\r\n",
                      BENCH_CORPUS_DOMAIN, BENCH_CORPUS_DOMAIN, (unsigned long long)seed,
                      BENCH_CORPUS_DOMAIN, (unsigned long long)(seed & 0xffffffff),
                      BENCH_CORPUS_DOMAIN, BENCH_CORPUS_DOMAIN, (unsigned long long)seed,
                      (unsigned long long)seed, BENCH_CORPUS_DOMAIN);
}

char *bench_gen_message(uint64_t seed, size_t size, size_t *len)
{
    bench_rng r;
    char *hdr = bench_gen_header(seed), *buf;
    size_t hl = strlen(hdr), n, cap = size + 4096;
    bench_rng_seed(&r, seed);
    buf = malloc(cap);
    if (buf == NULL)
        bench_die("out of memory");
    memcpy(buf, hdr, hl);
    n = hl;
    while (n + 4 < size) {
        char line[1200];
        size_t ll = bench_gen_line(&r, line);
        if (n + ll + 4 > cap)
            break;
        memcpy(buf + n, line, ll);
        n += ll;
    }
    memcpy(buf + n, "\r\n\r\n", 4);
    n += 4;
    free(hdr);
    *len = n;
    return buf;
}
