/*
 * bench/bench_corpus.h - the deterministic test messages shared by the
 * benchmarks: a realistic 12-field header (folded Received: and Cc:) and a
 * plain-text body with long lines, runs of blanks, trailing whitespace and
 * trailing empty lines, so canonicalisation has work to do.
 */
#ifndef SG_BENCH_CORPUS_H
#define SG_BENCH_CORPUS_H

#include "bench_common.h"

/* The From domain (and signing domain) of every generated message. */
#define BENCH_CORPUS_DOMAIN "bench.example"

/* One body line with CRLF into out (at least 1100 bytes); returns its
 * length. About 6% blank, 3% long (200-990 bytes), 12% with trailing
 * whitespace, some with runs of blanks or tabs inside. */
size_t bench_gen_line(bench_rng *r, char *out);
/* The header block (ending with the empty line), malloc'd. */
char *bench_gen_header(uint64_t seed);
/* A complete message of about `size` bytes (header included), ending
 * with two empty lines; malloc'd. */
char *bench_gen_message(uint64_t seed, size_t size, size_t *len);

#endif
