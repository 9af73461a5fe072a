/*
 * libFuzzer harness for the report reader (src/reports: containers, XML,
 * mail). The first byte chooses the bounds: the defaults, or tiny ones so
 * the fuzzer reaches every refusal (records, nesting, text, inflation,
 * ratio). Not only "no crash, no leak": the sink checks the parser's
 * promises: every begin ends in exactly one end or abort, never a record
 * outside them; no more records than the bound; the sums at end agree with
 * the records seen (messages, per disposition, aligned passes); a refusal
 * always carries a reason.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/reports/reports.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    int open;
    int ended;
    size_t max_records;
    uint64_t records, messages, dkim, spf;
} check;

static int c_begin(void *ctx)
{
    check *c = ctx;
    if (c->open)
        abort();
    c->open = 1;
    c->records = c->messages = c->dkim = c->spf = 0;
    return 0;
}

static int c_record(void *ctx, const sgrep_report *rep, const sgrep_record *rec)
{
    check *c = ctx;
    if (!c->open || ++c->records > c->max_records || rep->records != c->records)
        abort();
    if (strlen(rec->source_ip) >= sizeof rec->source_ip || rec->ndkim > 1u << 20)
        abort();
    c->messages += rec->count;
    c->dkim += strcmp(rec->dkim, "pass") ? 0 : rec->count;
    c->spf += strcmp(rec->spf, "pass") ? 0 : rec->count;
    return 0;
}

static int c_end(void *ctx, const sgrep_report *rep)
{
    check *c = ctx;
    if (!c->open)
        abort();
    c->open = 0;
    c->ended++;
    if (rep->kind == SGREP_AGGREGATE) {
        uint64_t sum = 0;
        for (unsigned i = 0; i < rep->ndisposition; i++)
            sum += rep->disposition[i].messages;
        if (rep->records != c->records || rep->messages != c->messages || sum != c->messages ||
            rep->dkim_aligned_pass != c->dkim || rep->spf_aligned_pass != c->spf)
            abort();
    }
    return 0;
}

static void c_abort(void *ctx)
{
    check *c = ctx;
    if (!c->open)
        abort();
    c->open = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    sgrep_limits lim;
    sgrep_limits_init(&lim);
    if (data[0] & 1) {
        lim.max_records = 3;
        lim.max_depth = 6;
        lim.max_text = 64;
        lim.max_inflated = 8192;
        lim.ratio_floor = 256;
        lim.max_ratio = 8;
    }
    check c = {.max_records = lim.max_records};
    sgrep_sink sink = {&c, c_begin, c_record, c_end, c_abort};
    char err[512] = "";
    int rc = sgrep_parse(data + 1, size - 1, &lim, &sink, err, sizeof err);
    if (c.open)
        abort(); /* a begin left without end or abort */
    if (rc == SGREP_OK && c.ended != 1)
        abort();
    if (rc != SGREP_OK && (c.ended || !err[0]))
        abort();
    return 0;
}
