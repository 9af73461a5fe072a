/* spoofguardd carrying what it counted in memory into the outbound store
 * once the store works again (src/daemon/outbound.c sg_obd_shared_tick):
 * the upkeep tick, the work on libuv's pool, the log line, and the backoff
 * after a failed carry. LMDB in a temporary directory; a Redis nobody
 * listens on for the failure; the spill file a stop during an outage
 * leaves, and the next start's reading of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "ob_test.h"
#include "obops.h"
#include "outbound.h"

#define T 1796000000

/* The log so far, as one string (static buffer). */
static const char *log_text(int fd)
{
    static char buf[8192];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void tick_and_run(sg_obd_shared *sh, uv_loop_t *loop, const sg_logger *log)
{
    sg_obd_shared_tick(sh, loop, log);
    uv_run(loop, UV_RUN_DEFAULT); /* until the pool's work and its answer are done */
}

/* A test's end: its configuration, its log file and its folder gone. */
static void finish(sg_config *cfg, sg_logger *log, const char *logpath, const char *dir)
{
    char cmd[128];
    sg_config_free(cfg);
    close(log->fd);
    unlink(logpath);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Outbound on, its store a Redis nobody listens on, the spill file at
 * spill. */
static void outage_config(sg_config *cfg, const char *spill)
{
    assert_int_equal(sg_config_defaults(cfg), 0);
    cfg->outbound = 1;
    free(cfg->outbound_store);
    cfg->outbound_store = strdup("redis://127.0.0.1:1");
    cfg->outbound_redis_timeout_ms = 100;
    free(cfg->outbound_spill);
    cfg->outbound_spill = strdup(spill);
}

static void carry_into_lmdb(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg-carry.XXXXXX", err[256];
    assert_non_null(mkdtemp(dir));
    sg_config cfg;
    assert_int_equal(sg_config_defaults(&cfg), 0);
    cfg.outbound = 1;
    free(cfg.outbound_store);
    cfg.outbound_store = strdup(dir);
    sg_obd_shared sh;
    assert_int_equal(sg_obd_shared_init(&sh, &cfg, err, sizeof err), 0);
    char logpath[] = "/tmp/sg-carry-log.XXXXXX";
    sg_logger log = {.fd = mkstemp(logpath)};
    assert_true(log.fd >= 0);
    uv_loop_t loop;
    uv_loop_init(&loop);

    /* nothing in memory: no work */
    tick_and_run(&sh, &loop, &log);
    assert_int_equal(count(log_text(log.fd), "outbound_store_merge"), 0);
    /* counted in memory while the file refused writes, then it works */
    ob_test_decide(sh.memory, cfg.ob_policy, "alice", T, 4);
    sg_obop blk = {.kind = SG_OBOP_BLOCK, .t = T + 60, .reasons = SG_OBR_SAME_BODY};
    assert_int_equal(sg_obop_run(sh.memory, &blk, "carol", NULL, err, sizeof err), 0);
    atomic_store(&sh.memory_dirty, 1);
    tick_and_run(&sh, &loop, &log);
    assert_non_null(strstr(log_text(log.fd),
                           "{\"event\":\"outbound_store_merged\",\"store\":\"lmdb\","
                           "\"records\":3,\"blocked\":1}"));
    assert_int_equal(ob_test_records(sh.store), 3); /* alice, @org.example, carol */
    /* nothing new in memory, nothing marked: a second tick has nothing to do */
    tick_and_run(&sh, &loop, &log);
    assert_int_equal(count(log_text(log.fd), "outbound_store_merge"), 1);

    uv_loop_close(&loop);
    sg_obd_shared_free(&sh);
    finish(&cfg, &log, logpath, dir);
}

static void failed_carry_backs_off(void **state)
{
    (void)state;
    char err[256];
    sg_config cfg;
    assert_int_equal(sg_config_defaults(&cfg), 0);
    cfg.outbound = 1;
    free(cfg.outbound_store);
    cfg.outbound_store = strdup("redis://127.0.0.1:1"); /* nobody there */
    cfg.outbound_redis_timeout_ms = 100;
    sg_obd_shared sh;
    assert_int_equal(sg_obd_shared_init(&sh, &cfg, err, sizeof err), 0);
    char logpath[] = "/tmp/sg-carry-log.XXXXXX";
    sg_logger log = {.fd = mkstemp(logpath)};
    uv_loop_t loop;
    uv_loop_init(&loop);
    ob_test_decide(sh.memory, cfg.ob_policy, "alice", T, 2);
    atomic_store(&sh.memory_dirty, 1);
    /* a worker still down: no try */
    atomic_store(&sh.fallback_active, 1);
    tick_and_run(&sh, &loop, &log);
    assert_int_equal(count(log_text(log.fd), "outbound_store_merge"), 0);
    atomic_store(&sh.fallback_active, 0);
    tick_and_run(&sh, &loop, &log);
    assert_int_equal(count(log_text(log.fd), "outbound_store_merge_failed"), 1);
    assert_int_equal(atomic_load(&sh.memory_dirty), 1); /* left for later */
    /* then 2 ticks skipped, the third tries; after that 4 */
    tick_and_run(&sh, &loop, &log);
    tick_and_run(&sh, &loop, &log);
    assert_int_equal(count(log_text(log.fd), "outbound_store_merge_failed"), 1);
    tick_and_run(&sh, &loop, &log);
    assert_int_equal(count(log_text(log.fd), "outbound_store_merge_failed"), 2);
    for (int i = 0; i < 4; i++)
        tick_and_run(&sh, &loop, &log);
    assert_int_equal(count(log_text(log.fd), "outbound_store_merge_failed"), 2);
    tick_and_run(&sh, &loop, &log);
    assert_int_equal(count(log_text(log.fd), "outbound_store_merge_failed"), 3);
    /* nothing lost: alice's record is still in memory */
    assert_int_equal(ob_test_records(sh.memory), 2);
    uv_loop_close(&loop);
    sg_obd_shared_free(&sh);
    sg_config_free(&cfg);
    close(log.fd);
    unlink(logpath);
}

/* A stop while the store is away: one last carry, then the spill file;
 * the next start reads it back into memory and carries it into the store
 * (here an LMDB file that works). */
static void stop_during_outage_keeps_counts(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg-spill.XXXXXX", err[256], spill[128], lmdb[128];
    assert_non_null(mkdtemp(dir));
    snprintf(spill, sizeof spill, "%s/outbound.spill", dir);
    snprintf(lmdb, sizeof lmdb, "%s/lmdb", dir);
    sg_config cfg;
    outage_config(&cfg, spill);
    char logpath[] = "/tmp/sg-carry-log.XXXXXX";
    sg_logger log = {.fd = mkstemp(logpath)};
    sg_obd_shared sh;
    assert_int_equal(sg_obd_shared_init(&sh, &cfg, err, sizeof err), 0);
    /* nothing counted in memory: nothing tried, nothing written */
    sg_obd_shared_finish(&sh, &log);
    assert_int_equal(count(log_text(log.fd), "outbound_"), 0);
    assert_int_equal(access(spill, F_OK), -1);
    ob_test_decide(sh.memory, cfg.ob_policy, "alice", T, 3);
    sg_obop blk = {.kind = SG_OBOP_BLOCK, .t = T + 60, .reasons = SG_OBR_SAME_BODY};
    assert_int_equal(sg_obop_run(sh.memory, &blk, "carol", NULL, err, sizeof err), 0);
    atomic_store(&sh.memory_dirty, 1);
    sg_obd_shared_finish(&sh, &log);
    assert_int_equal(count(log_text(log.fd), "outbound_store_merge_failed"), 1);
    char want[256];
    snprintf(want, sizeof want,
             "{\"event\":\"outbound_spill_written\",\"path\":\"%s\",\"records\":3,\"blocked\":1}",
             spill);
    assert_non_null(strstr(log_text(log.fd), want));
    sg_obd_shared_free(&sh);

    /* the next start, on a store that works */
    free(cfg.outbound_store);
    cfg.outbound_store = strdup(lmdb);
    assert_int_equal(sg_obd_shared_init(&sh, &cfg, err, sizeof err), 0);
    sg_obd_shared_restore(&sh, &log);
    snprintf(want, sizeof want,
             "{\"event\":\"outbound_spill_loaded\",\"path\":\"%s\",\"records\":3,\"blocked\":1}",
             spill);
    assert_non_null(strstr(log_text(log.fd), want));
    assert_int_equal(access(spill, F_OK), 0); /* until carried: a crash now loses nothing */
    assert_int_equal(atomic_load(&sh.memory_dirty), 1);
    uv_loop_t loop;
    uv_loop_init(&loop);
    tick_and_run(&sh, &loop, &log);
    assert_non_null(strstr(log_text(log.fd),
                           "{\"event\":\"outbound_store_merged\",\"store\":\"lmdb\","
                           "\"records\":3,\"blocked\":1}"));
    assert_int_equal(access(spill, F_OK), -1); /* carried: a next start adds nothing */
    int blocked;
    assert_int_equal(ob_test_day_messages(sh.store, cfg.ob_policy, "alice", T + 100, &blocked), 3);
    assert_false(blocked);
    assert_int_equal(ob_test_day_messages(sh.store, cfg.ob_policy, "carol", T + 100, &blocked), 0);
    assert_true(blocked);
    /* carried: this stop has nothing to keep */
    sg_obd_shared_finish(&sh, &log);
    assert_int_equal(access(spill, F_OK), -1);
    assert_int_equal(count(log_text(log.fd), "outbound_spill_written"), 1);
    /* counted in memory and the file works again at the stop: carried there */
    ob_test_decide(sh.memory, cfg.ob_policy, "alice", T + 200, 2);
    atomic_store(&sh.memory_dirty, 1);
    sg_obd_shared_finish(&sh, &log);
    assert_int_equal(count(log_text(log.fd), "outbound_store_merged"), 2);
    assert_int_equal(access(spill, F_OK), -1);
    assert_int_equal(ob_test_day_messages(sh.store, cfg.ob_policy, "alice", T + 300, &blocked), 5);
    uv_loop_close(&loop);
    sg_obd_shared_free(&sh);

    /* a damaged file: moved aside, said, nothing loaded, the start goes on */
    FILE *f = fopen(spill, "w");
    assert_non_null(f);
    fputs("SGOBSPILL1\nnot records", f);
    fclose(f);
    assert_int_equal(sg_obd_shared_init(&sh, &cfg, err, sizeof err), 0);
    sg_obd_shared_restore(&sh, &log);
    assert_int_equal(count(log_text(log.fd), "\"event\":\"outbound_spill_unreadable\""), 1);
    assert_non_null(strstr(log_text(log.fd), "\"moved\":true"));
    assert_int_equal(access(spill, F_OK), -1);
    char badp[160];
    snprintf(badp, sizeof badp, "%s.bad", spill);
    assert_int_equal(access(badp, F_OK), 0);
    assert_int_equal(ob_test_records(sh.memory), 0);
    assert_int_equal(atomic_load(&sh.memory_dirty), 0);
    sg_obd_shared_free(&sh);

    /* outbound_spill none: the loss is said */
    free(cfg.outbound_store);
    cfg.outbound_store = strdup("redis://127.0.0.1:1");
    free(cfg.outbound_spill);
    cfg.outbound_spill = strdup("none");
    assert_int_equal(sg_obd_shared_init(&sh, &cfg, err, sizeof err), 0);
    ob_test_decide(sh.memory, cfg.ob_policy, "alice", T, 1);
    atomic_store(&sh.memory_dirty, 1);
    sg_obd_shared_finish(&sh, &log);
    assert_non_null(strstr(log_text(log.fd), "{\"event\":\"outbound_memory_lost\",\"records\":2}"));
    sg_obd_shared_free(&sh);

    finish(&cfg, &log, logpath, dir);
}

/* During an outage the spill file is kept up to date every
 * outbound_spill_interval ticks when memory has something new, so a crash
 * (no stop, no finish) loses at most that; the next start reads it, and
 * the carry that takes it all removes it. */
static void outage_spills_for_a_crash(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg-spill2.XXXXXX", err[256], spill[128], lmdb[128];
    assert_non_null(mkdtemp(dir));
    snprintf(spill, sizeof spill, "%s/outbound.spill", dir);
    snprintf(lmdb, sizeof lmdb, "%s/lmdb", dir);
    sg_config cfg;
    outage_config(&cfg, spill);
    assert_int_equal(cfg.outbound_spill_interval, 30);
    cfg.outbound_spill_interval = 3;
    char logpath[] = "/tmp/sg-carry-log.XXXXXX";
    sg_logger log = {.fd = mkstemp(logpath)};
    sg_obd_shared sh;
    assert_int_equal(sg_obd_shared_init(&sh, &cfg, err, sizeof err), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    atomic_store(&sh.fallback_active, 1); /* the workers count in memory */
    ob_test_decide(sh.memory, cfg.ob_policy, "alice", T, 2);
    atomic_store(&sh.memory_dirty, 1);
    atomic_store(&sh.spill_dirty, 1);
    tick_and_run(&sh, &loop, &log);
    tick_and_run(&sh, &loop, &log);
    assert_int_equal(access(spill, F_OK), -1);
    tick_and_run(&sh, &loop, &log); /* the third tick */
    assert_int_equal(access(spill, F_OK), 0);
    assert_int_equal(atomic_load(&sh.spill_dirty), 0);
    /* more counted: the next write comes 3 ticks later, with it */
    ob_test_decide(sh.memory, cfg.ob_policy, "alice", T + 10, 3);
    atomic_store(&sh.spill_dirty, 1);
    for (int i = 0; i < 3; i++)
        tick_and_run(&sh, &loop, &log);
    assert_int_equal(atomic_load(&sh.spill_dirty), 0);
    assert_int_equal(count(log_text(log.fd), "outbound_spill_failed"), 0);
    /* the crash: no finish; the next start reads the file, on LMDB */
    uv_loop_close(&loop);
    sg_obd_shared_free(&sh);
    free(cfg.outbound_store);
    cfg.outbound_store = strdup(lmdb);
    assert_int_equal(sg_obd_shared_init(&sh, &cfg, err, sizeof err), 0);
    sg_obd_shared_restore(&sh, &log);
    assert_non_null(strstr(log_text(log.fd), "\"event\":\"outbound_spill_loaded\""));
    uv_loop_init(&loop);
    tick_and_run(&sh, &loop, &log);
    int blocked;
    assert_int_equal(ob_test_day_messages(sh.store, cfg.ob_policy, "alice", T + 100, &blocked), 5);
    assert_int_equal(access(spill, F_OK), -1);
    /* a spill into a folder that is gone fails, logged, and stays due */
    ob_test_decide(sh.memory, cfg.ob_policy, "bob", T + 200, 1);
    atomic_store(&sh.spill_dirty, 1);
    free(sh.spill);
    sh.spill = strdup("/nonexistent/outbound.spill");
    for (int i = 0; i < 3; i++)
        tick_and_run(&sh, &loop, &log);
    assert_int_equal(count(log_text(log.fd), "outbound_spill_failed"), 1);
    assert_int_equal(atomic_load(&sh.spill_dirty), 1);
    uv_loop_close(&loop);
    sg_obd_shared_free(&sh);
    finish(&cfg, &log, logpath, dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(carry_into_lmdb),
        cmocka_unit_test(failed_carry_backs_off),
        cmocka_unit_test(stop_during_outage_keeps_counts),
        cmocka_unit_test(outage_spills_for_a_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
