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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* Outbound on, its store an LMDB in dir of the least map size the option
 * takes (1 MiB, soon full), no spill file. */
static void small_lmdb_config(sg_config *cfg, const char *dir)
{
    assert_int_equal(sg_config_defaults(cfg), 0);
    cfg->outbound = 1;
    free(cfg->outbound_store);
    cfg->outbound_store = strdup(dir);
    cfg->outbound_store_map_size = 1 << 20;
    free(cfg->outbound_spill);
    cfg->outbound_spill = strdup("none");
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

/* The whole log file, malloc()ed. */
static char *log_all(int fd)
{
    off_t n = lseek(fd, 0, SEEK_END);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    ssize_t got = pread(fd, buf, (size_t)n, 0);
    buf[got > 0 ? got : 0] = '\0';
    return buf;
}

/* One outbound message through the daemon's decision (LMDB: decided now). */
static sg_obd_result decide(sg_obd *o, const sg_config *cfg, const char *acct, const char *from,
                            int64_t t)
{
    const char *r[1] = {"r@far.example"};
    sg_obd_ask ask = {.cfg = cfg,
                      .account = acct,
                      .queue_id = "Q1",
                      .msg = {t, acct, "192.0.2.10", from, r, 1, 1000, NULL, 0}};
    sg_obd_result res;
    sg_obd_job *job;
    assert_int_equal(sg_obd_decide(o, &ask, NULL, NULL, &res, &job), 0);
    assert_false(res.failed);
    return res;
}

/* adv36 F3: an LMDB store filled up (one record per new MAIL FROM domain
 * of internal clients) refuses writes; a blocked account's messages were
 * then decided in memory, which knew nothing of the block, and allowed.
 * Now the record is read (a read-only transaction works on a full map) and
 * holds them; the gauge says the store refuses writes; the first tick's
 * expiry frees the records idle for 90 days, and writes work again. */
static void full_lmdb_holds_block(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg-full.XXXXXX", err[256];
    assert_non_null(mkdtemp(dir));
    sg_config cfg;
    small_lmdb_config(&cfg, dir);
    sg_obd_shared sh;
    assert_int_equal(sg_obd_shared_init(&sh, &cfg, err, sizeof err), 0);
    char logpath[] = "/tmp/sg-full-log.XXXXXX";
    sg_logger log = {.fd = mkstemp(logpath)};
    assert_true(log.fd >= 0);
    sg_obd_shared_restore(&sh, &log);
    assert_non_null(strstr(log_text(log.fd), "{\"event\":\"outbound_store_created\",\"store\":"
                                             "\"lmdb\",\"path\":\"/tmp/sg-full."));
    sg_metrics m;
    assert_int_equal(sg_metrics_init(&m, 1, "test", 0), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    sg_obd o;
    assert_int_equal(sg_obd_init(&o, &sh, &loop, &log, &m.shards[0], err, sizeof err), 0);
    int64_t now = (int64_t)time(NULL);
    sg_obop blk = {.kind = SG_OBOP_BLOCK, .t = now, .reasons = SG_OBR_BLOCKED};
    assert_int_equal(sg_obop_run(sh.store, &blk, "alice@ourco.test", NULL, err, sizeof err), 0);

    /* filled by internal clients, each with a new MAIL FROM domain, 100
     * days ago, until 20 decisions in a row went to memory */
    int quiet = log.fd, in_memory = 0;
    log.fd = open("/dev/null", O_WRONLY);
    for (int i = 0; i < 20000 && in_memory < 20; i++) {
        char acct[32], from[64];
        snprintf(acct, sizeof acct, "ip:10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        snprintf(from, sizeof from, "x@d%d.example", i);
        sg_obd_result res = decide(&o, &cfg, acct, from, now - 100 * 86400);
        in_memory = strcmp(res.store, "memory") == 0 ? in_memory + 1 : 0;
    }
    assert_int_equal(in_memory, 20);
    close(log.fd);
    log.fd = quiet;

    /* alice sends from new domains too: every message held, and some of
     * them because the full store was read */
    int readonly = 0;
    for (int i = 0; i < 300; i++) {
        char from[64];
        snprintf(from, sizeof from, "alice@new%d.example", i);
        sg_obd_result res = decide(&o, &cfg, "alice@ourco.test", from, now);
        if (res.d.action != SG_OB_HOLD || !(res.d.reasons & SG_OBR_BLOCKED))
            fail_msg("message %d of the blocked account: %s (store %s)", i,
                     sg_ob_action_name(res.d.action), res.store);
        readonly += strcmp(res.store, "lmdb-readonly") == 0;
    }
    assert_true(readonly > 0);
    char *text = log_all(log.fd);
    assert_int_equal(count(text, "\"action\":\"allow\""), 0);
    assert_int_equal(count(text, "\"store\":\"lmdb-readonly\""), readonly);
    assert_true(count(text, "MDB_MAP_FULL") >= readonly);
    free(text);
    /* every refused write went to the fallback: counted, as for Redis */
    assert_true(atomic_load(&m.shards[0].ob_fallback) >= 20 + (uint64_t)readonly);

    /* the tick: the gauge says the store refuses writes, and the first
     * tick's expiry (cause "start") removes what was idle for 90 days
     * (no carry here: the gauge is the decisions' alone) */
    assert_int_equal(atomic_load(&sh.fallback_active), 0);
    sh.carry_wait = 1000;
    tick_and_run(&sh, &loop, &log);
    assert_int_equal(atomic_load(&sh.fallback_active), 1);
    text = log_all(log.fd);
    const char *ex = strstr(text, "{\"event\":\"outbound_store_expired\",\"store\":\"lmdb\","
                                  "\"cause\":\"start\",\"records\":");
    assert_non_null(ex);
    assert_true(strtoul(ex + strlen("{\"event\":\"outbound_store_expired\",\"store\":\"lmdb\","
                                    "\"cause\":\"start\",\"records\":"),
                        NULL, 10) > 1000);
    free(text);
    /* the writes work: alice held from the store, a new account allowed */
    sg_obd_result res = decide(&o, &cfg, "alice@ourco.test", "alice@ourco.test", now);
    assert_int_equal(res.d.action, SG_OB_HOLD);
    assert_string_equal(res.store, "lmdb");
    res = decide(&o, &cfg, "carol@ourco.test", "carol@ourco.test", now);
    assert_int_equal(res.d.action, SG_OB_ALLOW);
    assert_string_equal(res.store, "lmdb");
    tick_and_run(&sh, &loop, &log);
    assert_int_equal(atomic_load(&sh.fallback_active), 0);
    /* a tick without writes keeps what the last one said */
    tick_and_run(&sh, &loop, &log);
    assert_int_equal(atomic_load(&sh.fallback_active), 0);

    sg_obd_close(&o);
    sg_obd_free(&o);
    uv_loop_close(&loop);
    sg_metrics_free(&m);
    sg_obd_shared_free(&sh);
    finish(&cfg, &log, logpath, dir);
}

/* A write that met a full map asks for an expiry within a minute of the
 * last one (not at once: a map full of records younger than 90 days frees
 * nothing, and the walk reads every record), said even when it frees
 * nothing: then the map is too small for the traffic. */
static void full_map_expiry_within_a_minute(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg-full2.XXXXXX", err[256];
    assert_non_null(mkdtemp(dir));
    sg_config cfg;
    small_lmdb_config(&cfg, dir);
    sg_obd_shared sh;
    assert_int_equal(sg_obd_shared_init(&sh, &cfg, err, sizeof err), 0);
    char logpath[] = "/tmp/sg-full2-log.XXXXXX";
    sg_logger log = {.fd = mkstemp(logpath)};
    assert_true(log.fd >= 0);
    sg_metrics m;
    assert_int_equal(sg_metrics_init(&m, 1, "test", 0), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    sg_obd o;
    assert_int_equal(sg_obd_init(&o, &sh, &loop, &log, &m.shards[0], err, sizeof err), 0);
    sh.carry_wait = 1000;           /* no carry here: its failures would only add lines */
    tick_and_run(&sh, &loop, &log); /* the start's expiry: nothing to do, nothing said */
    assert_int_equal(count(log_text(log.fd), "outbound_store_expired"), 0);
    int64_t now = (int64_t)time(NULL);
    int quiet = log.fd, in_memory = 0;
    log.fd = open("/dev/null", O_WRONLY);
    for (int i = 0; i < 20000 && in_memory < 20; i++) {
        char acct[32], from[64];
        snprintf(acct, sizeof acct, "ip:10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        snprintf(from, sizeof from, "x@d%d.example", i);
        sg_obd_result res = decide(&o, &cfg, acct, from, now - 86400);
        in_memory = strcmp(res.store, "memory") == 0 ? in_memory + 1 : 0;
    }
    assert_int_equal(in_memory, 20);
    close(log.fd);
    log.fd = quiet;
    for (int i = 0; i < 59; i++)
        tick_and_run(&sh, &loop, &log);
    assert_int_equal(count(log_text(log.fd), "outbound_store_expired"), 0);
    tick_and_run(&sh, &loop, &log); /* 60 ticks after the last */
    assert_non_null(strstr(log_text(log.fd),
                           "{\"event\":\"outbound_store_expired\",\"store\":\"lmdb\","
                           "\"cause\":\"full\",\"records\":0,\"kept_blocked\":0}"));
    assert_int_equal(count(log_text(log.fd), "outbound_store_expired"), 1);
    assert_int_equal(atomic_load(&sh.fallback_active), 1);

    sg_obd_close(&o);
    sg_obd_free(&o);
    uv_loop_close(&loop);
    sg_metrics_free(&m);
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
        cmocka_unit_test(full_lmdb_holds_block),
        cmocka_unit_test(full_map_expiry_within_a_minute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
