/*
 * bench/bench_common.h - small helpers shared by the benchmarks: clocks,
 * a deterministic PRNG, worker processes measured with wait4() (so each
 * implementation's peak RSS is its own), and file helpers.
 *
 * Not part of the library; the benchmarks are run by hand
 * (scripts/bench.sh), never by CI.
 */
#ifndef SG_BENCH_COMMON_H
#define SG_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* CPU seconds used by this process (user + system). The machine is shared
 * with builds and other helpers: CPU time is what an implementation costs,
 * wall time would also count the time another process held the core. */
double bench_cpu_now(void);
/* Monotonic wall clock in seconds. */
double bench_wall_now(void);
/* Peak resident set of this process so far, KiB (getrusage ru_maxrss).
 * Beware in an exec'd child: Linux carries the pre-exec (forked copy of
 * the parent) high-water mark into ru_maxrss. */
long bench_maxrss_kb(void);
/* Peak resident set of this process's current image, KiB: VmHWM from
 * /proc/self/status (reset by exec, unlike ru_maxrss); -1 if unknown.
 * Workers report this. */
long bench_hwm_kb(void);

/* splitmix64: deterministic, seedable, good enough for test data. */
typedef struct {
    uint64_t s;
} bench_rng;
void bench_rng_seed(bench_rng *r, uint64_t seed);
uint64_t bench_rng_next(bench_rng *r);
/* Uniform in [0, n). n > 0. */
uint32_t bench_rng_below(bench_rng *r, uint32_t n);

/* Outcome of a child process. */
typedef struct {
    int status;     /* exit code, or 128+signal */
    long maxrss_kb; /* the child's peak RSS (wait4 rusage) */
    double cpu_s;   /* the child's user+system CPU time */
} bench_child;

/* Run argv[0] (a path) with argv, stdout redirected to out_path (NULL:
 * inherit). Waits; returns 0 and fills *out, or -1 if it could not start. */
int bench_run(const char *const *argv, const char *out_path, bench_child *out);

/* This executable's path (/proc/self/exe), for re-running itself as a
 * worker. */
const char *bench_self_exe(void);

/* Read a whole file (malloc'd, NUL-terminated); NULL on error. */
char *bench_read_file(const char *path, size_t *len);
int bench_write_file(const char *path, const void *data, size_t len);

/* mkdtemp under $TMPDIR (or /tmp) with the given prefix; static storage. */
const char *bench_tmpdir(const char *prefix);
/* rm -r of a directory made by bench_tmpdir (one level deep). */
void bench_rmdir(const char *dir);

/* printf to a malloc'd string. */
char *bench_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Die with a message (benchmarks have nothing to clean up). */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The directory holding the peer scripts (compiled in, $SG_BENCH_DIR
 * overrides). */
const char *bench_script_dir(void);

/* Human-readable rate: "12 345". buf must hold 32 bytes. */
const char *bench_fmt_num(char *buf, double v);

#endif
