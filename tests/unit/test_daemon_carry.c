/* spoofguardd carrying what it counted in memory into the outbound store
 * once the store works again (src/daemon/outbound.c sg_obd_shared_tick):
 * the upkeep tick, the work on libuv's pool, the log line, and the backoff
 * after a failed carry. LMDB in a temporary directory; a Redis nobody
 * listens on for the failure. */
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
    sg_logger log = {mkstemp(logpath)};
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
    sg_config_free(&cfg);
    close(log.fd);
    unlink(logpath);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
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
    sg_logger log = {mkstemp(logpath)};
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(carry_into_lmdb),
        cmocka_unit_test(failed_carry_backs_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
