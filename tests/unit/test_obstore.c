/*
 * The outbound state stores (src/outbound/obstore.h): each update is
 * atomic, also between processes (LMDB: the daemon's workers and the CLI;
 * Redis: several hosts), so counts stay exact under concurrent writers;
 * an update whose decision fails writes nothing; a record the engine
 * cannot read starts afresh (obops.h).
 *
 * The Redis cases start a real redis-server on loopback (no persistence),
 * port $SG_TEST_REDIS_PORT (default 16379); they are skipped, saying so,
 * when redis-server is not installed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <spoofguard/outbound.h>

#include "ob_test.h"
#include "obops.h"
#include "obstore.h"

#define N_PER_PROC 1500

/* A counter record: 8 bytes, little endian; absent = 0. */
static int incr_fn(void *ctx, sg_obs_rec *r, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 0;
        if (r[i].cur) {
            if (r[i].curlen != 8)
                return 5;
            for (int b = 7; b >= 0; b--)
                v = (v << 8) | r[i].cur[b];
        }
        v++;
        for (int b = 0; b < 8; b++)
            r[i].next[b] = (uint8_t)(v >> (8 * b));
        r[i].nextlen = 8;
    }
    return 0;
}

static int refuse_fn(void *ctx, sg_obs_rec *r, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        r[i].nextlen = 0;
    return 7;
}

/* Reads a counter and refuses: nothing is written. */
static int read_fn(void *ctx, sg_obs_rec *r, size_t n)
{
    uint64_t *v = ctx;
    (void)n;
    *v = 0;
    if (r[0].cur) {
        if (r[0].curlen != 8)
            return 5;
        for (int k = 7; k >= 0; k--)
            *v = (*v << 8) | r[0].cur[k];
    }
    return 7;
}

static uint64_t counter(sg_obs *s, const char *key)
{
    uint8_t a[8];
    uint64_t v = 0;
    char err[256];
    sg_obs_rec r[1] = {{.key = key, .next = a, .nextcap = sizeof(a)}};
    assert_int_equal(sg_obs_update(s, r, 1, read_fn, &v, err, sizeof(err)), 7);
    return v;
}

/* n updates of keys (one or two) */
static void bump(sg_obs *s, const char *k1, const char *k2, int n)
{
    uint8_t b1[8], b2[8];
    char err[256];
    for (int i = 0; i < n; i++) {
        sg_obs_rec r[2] = {{.key = k1, .next = b1, .nextcap = 8},
                           {.key = k2, .next = b2, .nextcap = 8}};
        int rc = sg_obs_update(s, r, k2 ? 2 : 1, incr_fn, NULL, err, sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "update: %d %s\n", rc, err);
            _exit(3);
        }
    }
}

static char tmpdir[256];

static void make_tmp(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sg-obstore.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
}

static void rm_tmp(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
}

/* Two processes (own environments, as the daemon and the CLI) and, in
 * each, two threads' worth of serial updates: the count is exact. */
static void concurrent(const char *spec)
{
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            sg_obs *s;
            char err[256];
            if (sg_obs_open(&s, spec, NULL, err, sizeof(err)) != 0) {
                fprintf(stderr, "open: %s\n", err);
                _exit(2);
            }
            bump(s, "alice@example.com", "@example.com", N_PER_PROC);
            sg_obs_close(s);
            _exit(0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int st;
        assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    sg_obs *s;
    char err[256];
    assert_int_equal(sg_obs_open(&s, spec, NULL, err, sizeof(err)), 0);
    assert_int_equal(counter(s, "alice@example.com"), 2 * N_PER_PROC);
    assert_int_equal(counter(s, "@example.com"), 2 * N_PER_PROC);
    sg_obs_close(s);
}

static void test_lmdb_two_processes_exact(void **state)
{
    (void)state;
    make_tmp();
    concurrent(tmpdir);
    rm_tmp();
}

static void test_memory_basics(void **state)
{
    (void)state;
    sg_obs *s;
    char err[256];
    assert_int_equal(sg_obs_open(&s, "memory:", NULL, err, sizeof(err)), 0);
    assert_string_equal(sg_obs_kind(s), "memory");
    assert_int_equal(counter(s, "bob"), 0);
    bump(s, "bob", NULL, 3);
    bump(s, "bob", "@x.test", 2);
    assert_int_equal(counter(s, "bob"), 5);
    assert_int_equal(counter(s, "@x.test"), 2);
    sg_obs_close(s);
}

/* A refused update writes nothing; each sees every record; the file is
 * there after a reopen (a restart of the daemon). */
static void test_lmdb_refused_writes_nothing(void **state)
{
    (void)state;
    make_tmp();
    sg_obs *s;
    char err[256];
    assert_int_equal(sg_obs_open(&s, tmpdir, NULL, err, sizeof(err)), 0);
    assert_string_equal(sg_obs_kind(s), "lmdb");
    bump(s, "carol", NULL, 4);
    assert_int_equal(counter(s, "carol"), 4);
    assert_int_equal(counter(s, "dave"), 0); /* the refusal did not create it */
    assert_int_equal(ob_test_records(s), 1);
    sg_obs_close(s);
    assert_int_equal(sg_obs_open(&s, tmpdir, NULL, err, sizeof(err)), 0);
    assert_int_equal(counter(s, "carol"), 4);
    sg_obs_close(s);
    rm_tmp();
}

/* A bounded map: a store that is full refuses the write with an error
 * (the daemon then counts in memory) and keeps what it had. */
static int fill_fn(void *ctx, sg_obs_rec *r, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        memset(r[i].next, 'x', r[i].nextcap);
        r[i].nextlen = r[i].nextcap;
    }
    return 0;
}

static void test_lmdb_full_map_refuses(void **state)
{
    (void)state;
    make_tmp();
    sg_obs_opts o;
    sg_obs_opts_init(&o);
    o.map_size = 256 * 1024;
    sg_obs *s;
    char err[256];
    assert_int_equal(sg_obs_open(&s, tmpdir, &o, err, sizeof(err)), 0);
    bump(s, "first", NULL, 1);
    static uint8_t big[4000];
    int rc = 0, i;
    for (i = 0; i < 1000 && rc == 0; i++) {
        char key[32];
        snprintf(key, sizeof(key), "user%d", i);
        sg_obs_rec r = {.key = key, .next = big, .nextcap = sizeof(big)};
        rc = sg_obs_update(s, &r, 1, fill_fn, NULL, err, sizeof(err));
    }
    assert_int_equal(rc, -1); /* full, long before 4 MB */
    assert_true(i < 100);
    assert_non_null(strstr(err, "MDB_MAP_FULL"));
    assert_int_equal(counter(s, "first"), 1); /* what was there stays */
    sg_obs_close(s);
    rm_tmp();
}

/* ---- the engine's records (obops.h) ---------------------------------- */

static int write_garbage(void *ctx, sg_obs_rec *r, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        memcpy(r[i].next, "not a record of ours", 20);
        r[i].nextlen = 20;
    }
    return 0;
}

static void test_corrupt_record_starts_fresh(void **state)
{
    (void)state;
    make_tmp();
    sg_obs *s;
    sg_ob_policy *pol;
    char err[256];
    uint8_t b[64];
    assert_int_equal(sg_obs_open(&s, tmpdir, NULL, err, sizeof(err)), 0);
    assert_int_equal(sg_ob_policy_new(&pol), 0);
    sg_obs_rec r = {.key = "mallory", .next = b, .nextcap = sizeof(b)};
    assert_int_equal(sg_obs_update(s, &r, 1, write_garbage, NULL, err, sizeof(err)), 0);

    const char *rcpts[] = {"x@remote.test"};
    sg_ob_message m = {.t = 1700000000,
                       .login = "mallory",
                       .client_ip = "192.0.2.1",
                       .mail_from = "mallory@ourco.test",
                       .rcpts = rcpts,
                       .nrcpts = 1,
                       .size = 1000};
    sg_obop op = {.kind = SG_OBOP_DECIDE, .pol = pol, .msg = &m};
    assert_int_equal(sg_obop_run(s, &op, "mallory", m.mail_from, err, sizeof(err)), 0);
    assert_int_equal(op.fresh & 1u, 1u); /* the account's record started afresh */
    assert_int_equal(op.out.action, SG_OB_ALLOW);
    /* and is the engine's own now: a second decision decodes it */
    m.t += 60;
    assert_int_equal(sg_obop_run(s, &op, "mallory", m.mail_from, err, sizeof(err)), 0);
    assert_int_equal(op.fresh, 0u);

    /* block and release go through the same records */
    sg_obop blk = {.kind = SG_OBOP_BLOCK, .pol = pol, .t = m.t, .reasons = SG_OBR_BLOCKED};
    assert_int_equal(sg_obop_run(s, &blk, "mallory", NULL, err, sizeof(err)), 0);
    m.t += 60;
    assert_int_equal(sg_obop_run(s, &op, "mallory", m.mail_from, err, sizeof(err)), 0);
    /* a blocked account's messages are held, saying why */
    assert_int_equal(op.out.action, SG_OB_HOLD);
    assert_true(op.out.reasons & SG_OBR_BLOCKED);
    sg_obop rel = {.kind = SG_OBOP_RELEASE, .pol = pol, .t = m.t};
    assert_int_equal(sg_obop_run(s, &rel, "mallory", NULL, err, sizeof(err)), 0);
    m.t += 60;
    assert_int_equal(sg_obop_run(s, &op, "mallory", m.mail_from, err, sizeof(err)), 0);
    assert_int_equal(op.out.action, SG_OB_ALLOW);

    sg_ob_policy_free(pol);
    sg_obs_close(s);
    rm_tmp();
}

/* A login is one account whatever its case: the sender map compares
 * logins without case, and where SASL does too, a blocked Support@ went
 * on sending as SUPPORT@ (a fresh record), every limit multiplied. */
static void test_login_case_is_one_account(void **state)
{
    (void)state;
    make_tmp();
    sg_obs *s;
    sg_ob_policy *pol;
    char err[256];
    assert_int_equal(sg_obs_open(&s, tmpdir, NULL, err, sizeof(err)), 0);
    assert_int_equal(sg_ob_policy_new(&pol), 0);
    const char *rcpts[] = {"x@remote.test"};
    sg_ob_message m = {.t = 1700000000,
                       .login = "Support@ourco.test",
                       .client_ip = "192.0.2.1",
                       .mail_from = "support@ourco.test",
                       .rcpts = rcpts,
                       .nrcpts = 1,
                       .size = 1000};
    sg_obop op = {.kind = SG_OBOP_DECIDE, .pol = pol, .msg = &m};
    sg_obop blk = {.kind = SG_OBOP_BLOCK, .pol = pol, .t = m.t, .reasons = SG_OBR_BLOCKED};
    assert_int_equal(sg_obop_run(s, &blk, "Support@ourco.test", NULL, err, sizeof(err)), 0);
    static const char *const spellings[] = {"support@ourco.test", "SUPPORT@OURCO.TEST",
                                            "support@OURCO.test"};
    for (size_t i = 0; i < 3; i++) {
        m.t += 60;
        m.login = spellings[i];
        assert_int_equal(sg_obop_run(s, &op, spellings[i], m.mail_from, err, sizeof(err)), 0);
        if (op.out.action != SG_OB_HOLD || !(op.out.reasons & SG_OBR_BLOCKED))
            fail_msg("%s: not held as the blocked account", spellings[i]);
    }
    sg_obop rel = {.kind = SG_OBOP_RELEASE, .pol = pol, .t = m.t};
    assert_int_equal(sg_obop_run(s, &rel, "SUPPORT@ourco.test", NULL, err, sizeof(err)), 0);
    m.t += 60;
    assert_int_equal(sg_obop_run(s, &op, "Support@ourco.test", m.mail_from, err, sizeof(err)), 0);
    assert_int_equal(op.out.action, SG_OB_ALLOW);
    sg_ob_policy_free(pol);
    sg_obs_close(s);
    rm_tmp();
}

/* ---- LMDB upkeep: expiry, a full map, an empty file (adv36 F3, F7) ---- */

#define NOW 1796000000
#define DAYS (86400)
#define IDLE (90 * DAYS)

/* One decision of acct sending from dom (a record "@dom" besides the
 * account's); the store's answer, err for its error. */
static int decide_from(sg_obs *s, const sg_ob_policy *pol, const char *acct, const char *dom,
                       int64_t t, char *err, size_t errlen)
{
    char from[128];
    snprintf(from, sizeof from, "x@%s", dom);
    const char *r[1] = {"r@far.example"};
    sg_ob_message m = {t, acct, "192.0.2.10", from, r, 1, 1000, NULL, 0};
    sg_obop op = {.kind = SG_OBOP_DECIDE, .pol = pol, .msg = &m};
    return sg_obop_run(s, &op, acct, from, err, errlen);
}

static int present_cb(void *ctx, const char *key, const uint8_t *v, size_t vlen)
{
    (void)ctx;
    (void)key;
    (void)vlen;
    return v != NULL;
}

/* Has the store a record of key? (read without writing) */
static int present(sg_obs *s, const char *key)
{
    char err[256];
    int rc = sg_obs_get(s, key, present_cb, NULL, err, sizeof err);
    assert_true(rc >= 0);
    return rc;
}

static int blocked_in(sg_obs *s, const char *key)
{
    char err[256];
    return sg_obop_blocked_now(s, key, err, sizeof err);
}

/* Records idle for 90 days go, as on Redis (its TTL); a blocked one stays
 * whatever its age, and so does one the engine cannot read. Keys of idle
 * and fresh records alternate over steps of the walk. */
static void test_lmdb_expiry(void **state)
{
    (void)state;
    make_tmp();
    sg_obs *s;
    sg_ob_policy *pol;
    char err[256];
    uint8_t b[64];
    assert_int_equal(sg_obs_open(&s, tmpdir, NULL, err, sizeof(err)), 0);
    assert_int_equal(sg_ob_policy_new(&pol), 0);
    for (int i = 0; i < 600; i++) {
        char acct[32], dom[32];
        snprintf(acct, sizeof acct, "u%03d", i);
        snprintf(dom, sizeof dom, "d%03d.example", i);
        int64_t t = i % 2 ? NOW - 100 * DAYS : NOW - 89 * DAYS;
        assert_int_equal(decide_from(s, pol, acct, dom, t, err, sizeof err), 0);
    }
    /* idle for 200 days, but blocked: a block lasts until a release */
    sg_obop blk = {.kind = SG_OBOP_BLOCK, .t = NOW - 200 * DAYS, .reasons = SG_OBR_SAME_BODY};
    assert_int_equal(sg_obop_run(s, &blk, "u001", NULL, err, sizeof err), 0);
    sg_obs_rec r = {.key = "zz-foreign", .next = b, .nextcap = sizeof(b)};
    assert_int_equal(sg_obs_update(s, &r, 1, write_garbage, NULL, err, sizeof(err)), 0);
    assert_int_equal(ob_test_records(s), 1201);

    sg_obop_expired x;
    assert_int_equal(sg_obop_expire(s, NOW, IDLE, NULL, &x, err, sizeof err), 0);
    /* the 300 idle accounts and their domains, but u001 */
    assert_int_equal(x.removed, 599);
    assert_int_equal(x.kept_blocked, 1);
    assert_int_equal(ob_test_records(s), 602);
    assert_int_equal(blocked_in(s, "u001"), 1);
    assert_false(present(s, "@d001.example"));
    assert_false(present(s, "u003"));
    assert_true(present(s, "u002"));
    assert_true(present(s, "@d598.example"));
    assert_true(present(s, "zz-foreign"));
    /* nothing more to do; a stopped walk stops */
    assert_int_equal(sg_obop_expire(s, NOW, IDLE, NULL, &x, err, sizeof err), 0);
    assert_int_equal(x.removed, 0);
    atomic_int stop = 1;
    assert_int_equal(sg_obop_expire(s, NOW + 10 * DAYS, IDLE, &stop, &x, err, sizeof err), 1);
    assert_int_equal(x.removed, 0);
    assert_int_equal(ob_test_records(s), 602);
    /* memory keeps everything: its records are carried, not expired */
    sg_obs *mem;
    assert_int_equal(sg_obs_open(&mem, "memory:", NULL, err, sizeof(err)), 0);
    assert_int_equal(decide_from(mem, pol, "old", "old.example", NOW - 400 * DAYS, err, sizeof err),
                     0);
    assert_int_equal(sg_obop_expire(mem, NOW, IDLE, NULL, &x, err, sizeof err), 0);
    assert_int_equal(ob_test_records(mem), 2);
    sg_obs_close(mem);
    sg_ob_policy_free(pol);
    sg_obs_close(s);
    rm_tmp();
}

/* Fills a store of 1 MiB (outbound_store_map_size's least) with one new
 * internal client and MAIL FROM domain per message, decided at time t,
 * until 20 writes in a row were refused. */
static void fill(sg_obs *s, const sg_ob_policy *pol, int64_t t)
{
    char err[256];
    int refused = 0, i;
    for (i = 0; i < 20000 && refused < 20; i++) {
        char acct[32], dom[32];
        snprintf(acct, sizeof acct, "ip:10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        snprintf(dom, sizeof dom, "f%d-%d.example", (int)(t % 1000), i);
        int rc = decide_from(s, pol, acct, dom, t, err, sizeof err);
        if (rc != 0)
            assert_non_null(strstr(err, "MDB_MAP_FULL"));
        refused = rc == 0 ? 0 : refused + 1;
    }
    assert_int_equal(refused, 20);
}

/* A full map refuses writes, but its blocks are still read (a read-only
 * transaction takes no page); the store says it met a full map; an
 * expiry frees what is idle, a full map or not, and the writes work again. */
static void test_lmdb_full_map_reads_and_expires(void **state)
{
    (void)state;
    make_tmp();
    sg_obs_opts o;
    sg_obs_opts_init(&o);
    o.map_size = 1 << 20;
    sg_obs *s;
    sg_ob_policy *pol;
    sg_obop_expired x;
    char err[256];
    assert_int_equal(sg_obs_open(&s, tmpdir, &o, err, sizeof(err)), 0);
    assert_int_equal(sg_ob_policy_new(&pol), 0);
    sg_obop blk = {.kind = SG_OBOP_BLOCK, .t = NOW - 300 * DAYS, .reasons = SG_OBR_BLOCKED};
    assert_int_equal(sg_obop_run(s, &blk, "alice@ourco.test", NULL, err, sizeof err), 0);
    assert_int_equal(sg_obop_run(s, &blk, "bob@ourco.test", NULL, err, sizeof err), 0);
    assert_int_equal(sg_obs_full_seen(s), 0);
    fill(s, pol, NOW - 100 * DAYS);
    assert_int_equal(sg_obs_full_seen(s), 1);
    assert_int_equal(sg_obs_full_seen(s), 0); /* said once */
    /* an update of a record in place may find the pages it needs where
     * new records do not: new domains until one is refused */
    int refused = 0;
    for (int i = 0; i < 100 && !refused; i++) {
        char dom[32];
        snprintf(dom, sizeof dom, "new%d.example", i);
        refused = decide_from(s, pol, "alice@ourco.test", dom, NOW, err, sizeof err) == -1;
    }
    assert_true(refused);
    assert_int_equal(blocked_in(s, "alice@ourco.test"), 1);
    assert_int_equal(blocked_in(s, "ip:10.0.0.1"), 0);
    assert_int_equal(blocked_in(s, "nobody"), 0);
    /* what stays: alice and bob (blocked), and the domains alice's
     * decisions that worked wrote at NOW */
    int before = ob_test_records(s);
    assert_int_equal(sg_obop_expire(s, NOW, IDLE, NULL, &x, err, sizeof err), 0);
    assert_true(x.removed > 1000);
    assert_true(ob_test_records(s) <= 2 + 100);
    assert_int_equal(ob_test_records(s), before - (int)x.removed);
    assert_int_equal(x.kept_blocked, 1); /* bob; alice was active at NOW */
    assert_false(present(s, "ip:10.0.0.1"));
    assert_int_equal(blocked_in(s, "bob@ourco.test"), 1);
    assert_int_equal(decide_from(s, pol, "carol@ourco.test", "new1.example", NOW, err, sizeof err),
                     0);
    assert_int_equal(blocked_in(s, "alice@ourco.test"), 1);
    /* full of records younger than 90 days: the expiry frees nothing and
     * fails nothing; the block is still read */
    fill(s, pol, NOW - 10 * DAYS);
    assert_int_equal(sg_obop_expire(s, NOW, IDLE, NULL, &x, err, sizeof err), 0);
    assert_int_equal(x.removed, 0);
    assert_int_equal(blocked_in(s, "alice@ourco.test"), 1);
    sg_ob_policy_free(pol);
    sg_obs_close(s);
    rm_tmp();
}

/* An empty data.mdb (a truncated copy or restore) is refused, naming the
 * file and the fix: LMDB would start a new store over it and forget every
 * block (adv36 F7). A store made new says so; one opened again does not. */
static void test_lmdb_empty_file_refused(void **state)
{
    (void)state;
    make_tmp();
    sg_obs *s;
    char err[512], data[300];
    int found = -1;
    assert_int_equal(sg_obs_lmdb_check(tmpdir, &found, err, sizeof err), 0);
    assert_int_equal(found, 0);
    assert_int_equal(sg_obs_open(&s, tmpdir, NULL, err, sizeof(err)), 0);
    assert_int_equal(sg_obs_created(s), 1);
    bump(s, "carol", NULL, 2);
    sg_obs_close(s);
    assert_int_equal(sg_obs_open(&s, tmpdir, NULL, err, sizeof(err)), 0);
    assert_int_equal(sg_obs_created(s), 0);
    assert_int_equal(counter(s, "carol"), 2);
    sg_obs_close(s);
    assert_int_equal(sg_obs_lmdb_check(tmpdir, &found, err, sizeof err), 0);
    assert_int_equal(found, 1);

    snprintf(data, sizeof data, "%s/data.mdb", tmpdir);
    assert_int_equal(truncate(data, 0), 0);
    assert_int_equal(sg_obs_lmdb_check(tmpdir, &found, err, sizeof err), -1);
    assert_int_equal(sg_obs_open(&s, tmpdir, NULL, err, sizeof(err)), -1);
    assert_null(s);
    assert_non_null(strstr(err, data));
    assert_non_null(strstr(err, "is empty (0 bytes)"));
    assert_non_null(strstr(err, "remove the file"));
    /* nothing was written over it */
    struct stat st;
    assert_int_equal(stat(data, &st), 0);
    assert_int_equal(st.st_size, 0);
    /* removed: a new, empty store, said to be one */
    assert_int_equal(unlink(data), 0);
    assert_int_equal(sg_obs_open(&s, tmpdir, NULL, err, sizeof(err)), 0);
    assert_int_equal(sg_obs_created(s), 1);
    assert_int_equal(counter(s, "carol"), 0);

    /* cut to half, records and all: LMDB opens it without a word and a
     * read of a page past the end is a SIGBUS (the start's expiry sweep,
     * `spoofguard accounts`): refused as the empty one is (rev24 R24-1) */
    char key[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "ip:10.%d.%d.1", i / 256, i % 256);
        bump(s, key, NULL, 1);
    }
    sg_obs_close(s);
    assert_int_equal(stat(data, &st), 0);
    off_t whole = st.st_size;
    assert_true(whole >= 16 * 4096);
    assert_int_equal(truncate(data, whole / 2), 0);
    found = 0;
    err[0] = '\0';
    assert_int_equal(sg_obs_lmdb_check(tmpdir, &found, err, sizeof err), -1);
    assert_int_equal(found, 1);
    assert_non_null(strstr(err, data));
    assert_non_null(strstr(err, "is cut short"));
    assert_non_null(strstr(err, "remove the file"));
    assert_int_equal(sg_obs_open(&s, tmpdir, NULL, err, sizeof(err)), -1);
    assert_null(s);
    assert_non_null(strstr(err, "is cut short"));
    assert_int_equal(stat(data, &st), 0);
    assert_int_equal(st.st_size, whole / 2);
    /* shorter than its two meta pages: not an LMDB store at all, said so
     * at the same place rather than by the open alone */
    assert_int_equal(truncate(data, 4096), 0);
    assert_int_equal(sg_obs_lmdb_check(tmpdir, &found, err, sizeof err), -1);
    assert_non_null(strstr(err, data));
    assert_non_null(strstr(err, "remove the file"));
    rm_tmp();
}

/* ---- Redis ---------------------------------------------------------------- */

static pid_t redis_pid = -1;
static char redis_spec[64];

static int redis_up(void)
{
    const char *port = getenv("SG_TEST_REDIS_PORT");
    if (port == NULL)
        port = "16379";
    snprintf(redis_spec, sizeof(redis_spec), "redis://127.0.0.1:%s", port);
    if (access("/usr/bin/redis-server", X_OK) != 0)
        return 0;
    redis_pid = fork();
    if (redis_pid == 0) {
        /* its start-up chatter (warnings about overcommit) is not ours */
        if (freopen("/dev/null", "w", stdout) == NULL || freopen("/dev/null", "w", stderr) == NULL)
            _exit(126);
        execl("/usr/bin/redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
              "--save", "", "--appendonly", "no", "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        sg_obs *s;
        char err[256];
        uint8_t b[8];
        if (sg_obs_open(&s, redis_spec, NULL, err, sizeof(err)) == 0) {
            sg_obs_rec r = {.key = "probe", .next = b, .nextcap = 8};
            int rc = sg_obs_update(s, &r, 1, refuse_fn, NULL, err, sizeof(err));
            sg_obs_close(s);
            if (rc == 7)
                return 1;
        }
        usleep(50000);
    }
    return 0;
}

static void redis_down(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGTERM);
        waitpid(redis_pid, NULL, 0);
        redis_pid = -1;
    }
}

static void test_redis_two_processes_exact(void **state)
{
    (void)state;
    if (!redis_up()) {
        redis_down();
        fprintf(stderr, "SKIP: no redis-server (scripts/install-deps.sh installs it)\n");
        skip();
    }
    sg_obs *s;
    char err[256];
    assert_int_equal(sg_obs_open(&s, redis_spec, NULL, err, sizeof(err)), 0);
    assert_string_equal(sg_obs_kind(s), "redis");
    sg_obs_close(s);
    concurrent(redis_spec); /* conflicts happen: every one is decided again */
    /* a dead server: an error, never a hang */
    redis_down();
    assert_int_equal(sg_obs_open(&s, redis_spec, NULL, err, sizeof(err)), 0);
    uint8_t b[8];
    sg_obs_rec r = {.key = "x", .next = b, .nextcap = 8};
    assert_int_equal(sg_obs_update(s, &r, 1, incr_fn, NULL, err, sizeof(err)), -1);
    sg_obs_close(s);
}

/* Redis's TTL of a record key: -1 none, -2 no such key. */
static long long redis_ttl(const char *key)
{
    int port = atoi(strrchr(redis_spec, ':') + 1);
    redisContext *c = redisConnect("127.0.0.1", port);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisReply *r = redisCommand(c, "TTL " SG_OBS_REDIS_PREFIX "%s", key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long ttl = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return ttl;
}

static void redis_expire(const char *key, long long ttl)
{
    int port = atoi(strrchr(redis_spec, ':') + 1);
    redisContext *c = redisConnect("127.0.0.1", port);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "EXPIRE " SG_OBS_REDIS_PREFIX "%s %lld", key, ttl);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    redisFree(c);
}

/* A block lasts until a release, on Redis as on LMDB: a record that holds
 * one never expires, whoever writes it (a decision, the CLI's block, the
 * carry of memory after an outage), while every other record keeps its
 * TTL, and a release gives it back. Before, every write set the TTL, and
 * a thief whose login was blocked could send again after 90 quiet days. */
static void test_redis_block_never_expires(void **state)
{
    (void)state;
    if (!redis_up()) {
        redis_down();
        fprintf(stderr, "SKIP: no redis-server (scripts/install-deps.sh installs it)\n");
        skip();
    }
    sg_obs *s, *mem;
    sg_ob_policy *pol;
    char err[256];
    int64_t t = (int64_t)time(NULL);
    assert_int_equal(sg_ob_policy_new(&pol), 0);
    assert_int_equal(sg_obs_open(&s, redis_spec, NULL, err, sizeof err), 0);

    ob_test_decide(s, pol, "ttl-alice", t, 1);
    assert_true(redis_ttl("ttl-alice") > 0);
    assert_true(redis_ttl("@org.example") > 0);

    sg_obop blk = {.kind = SG_OBOP_BLOCK, .t = t, .reasons = SG_OBR_SAME_BODY};
    assert_int_equal(sg_obop_run(s, &blk, "ttl-mallory", NULL, err, sizeof err), 0);
    assert_int_equal(redis_ttl("ttl-mallory"), -1);
    /* a decision on the blocked account, and its domain beside it */
    ob_test_decide(s, pol, "ttl-mallory", t + 1, 1);
    assert_int_equal(redis_ttl("ttl-mallory"), -1);
    assert_true(redis_ttl("@org.example") > 0);
    assert_int_equal(sg_obop_blocked_now(s, "ttl-mallory", err, sizeof err), 1);

    /* a block an older release wrote with a TTL loses it at the next write */
    redis_expire("ttl-mallory", 1000);
    ob_test_decide(s, pol, "ttl-mallory", t + 2, 1);
    assert_int_equal(redis_ttl("ttl-mallory"), -1);

    /* the release: the record expires again once idle */
    sg_obop rel = {.kind = SG_OBOP_RELEASE, .t = t + 3};
    assert_int_equal(sg_obop_run(s, &rel, "ttl-mallory", NULL, err, sizeof err), 0);
    assert_int_equal(sg_obop_blocked_now(s, "ttl-mallory", err, sizeof err), 0);
    assert_true(redis_ttl("ttl-mallory") > 0);

    /* the carry of a host's memory after an outage */
    assert_int_equal(sg_obs_open(&mem, "memory:", NULL, err, sizeof err), 0);
    ob_test_decide(mem, pol, "ttl-carol", t, 1);
    ob_test_decide(mem, pol, "ttl-dave", t, 1);
    assert_int_equal(sg_obop_run(mem, &blk, "ttl-carol", NULL, err, sizeof err), 0);
    sg_obop_drained d;
    assert_int_equal(sg_obop_drain(mem, s, &d, err, sizeof err), 0);
    assert_int_equal(d.blocked, 1);
    assert_int_equal(redis_ttl("ttl-carol"), -1);
    assert_true(redis_ttl("ttl-dave") > 0);

    sg_obs_close(mem);
    sg_obs_close(s);
    sg_ob_policy_free(pol);
}

/* A failed assertion leaves the test early: its server must still go, or
 * the next test would find it up and start none of its own. */
static int redis_teardown(void **state)
{
    (void)state;
    redis_down();
    return 0;
}

/* ---- carrying a host's memory into the shared store (sg_obop_drain) ---- */

/* The bytes of one key's record, read with a walk (no update). */
static void test_drain(void **state)
{
    (void)state;
    sg_obs *mem, *shared, *dead;
    sg_ob_policy *pol;
    sg_obop_drained d;
    char err[256];
    int blocked;
    int64_t t = 1796000000;
    assert_int_equal(sg_ob_policy_new(&pol), 0);
    assert_int_equal(sg_obs_open(&mem, "memory:", NULL, err, sizeof err), 0);
    assert_int_equal(sg_obs_open(&shared, "memory:", NULL, err, sizeof err), 0);
    ob_test_decide(shared, pol, "alice", t, 5);    /* before the outage */
    ob_test_decide(mem, pol, "alice", t + 600, 7); /* counted in memory meanwhile */
    ob_test_decide(mem, pol, "carol", t + 600, 2);
    sg_obop blk = {.kind = SG_OBOP_BLOCK, .t = t + 700, .reasons = SG_OBR_SAME_BODY};
    assert_int_equal(sg_obop_run(mem, &blk, "carol", NULL, err, sizeof err), 0);
    /* the first key of the walk carries a block too */
    assert_int_equal(sg_obop_run(mem, &blk, "@org.example", NULL, err, sizeof err), 0);
    /* the store that is back is down again: everything stays in memory */
    sg_obs_opts o;
    sg_obs_opts_init(&o);
    o.timeout_ms = 200;
    assert_int_equal(sg_obs_open(&dead, "redis://127.0.0.1:1", &o, err, sizeof err), 0);
    assert_int_equal(sg_obop_drain(mem, dead, &d, err, sizeof err), -1);
    assert_int_equal(d.records, 0);
    /* the record it had taken is back, counts and block */
    assert_int_equal(ob_test_day_messages(mem, pol, "@org.example", t + 900, &blocked), 9);
    assert_true(blocked);
    assert_int_equal(ob_test_day_messages(mem, pol, "alice", t + 900, &blocked), 7);
    assert_int_equal(sg_obop_drain(mem, shared, &d, err, sizeof err), 0);
    /* alice, carol and the domain record @org.example */
    assert_int_equal(d.records, 3);
    assert_int_equal(d.blocked, 2);
    assert_int_equal(ob_test_day_messages(shared, pol, "alice", t + 900, &blocked), 12);
    assert_false(blocked);
    assert_int_equal(ob_test_day_messages(shared, pol, "carol", t + 900, &blocked), 2);
    assert_true(blocked); /* the block made in memory is kept */
    assert_int_equal(ob_test_day_messages(shared, pol, "@org.example", t + 900, &blocked), 14);
    assert_int_equal(ob_test_day_messages(mem, pol, "alice", t + 900, &blocked), 0);
    /* memory keeps carol's block, not her counts: a next outage starts blocked */
    assert_int_equal(ob_test_day_messages(mem, pol, "carol", t + 900, &blocked), 0);
    assert_true(blocked);
    /* nothing new in memory: only the blocks go again, no count twice */
    assert_int_equal(sg_obop_drain(mem, shared, &d, err, sizeof err), 0);
    assert_int_equal(d.records, 2);
    assert_int_equal(d.blocked, 2);
    assert_int_equal(ob_test_day_messages(shared, pol, "alice", t + 900, &blocked), 12);
    assert_int_equal(ob_test_day_messages(shared, pol, "@org.example", t + 900, &blocked), 14);
    assert_true(blocked);
    sg_obs_close(dead);
    sg_obs_close(mem);
    sg_obs_close(shared);
    sg_ob_policy_free(pol);
}

/* The whole file as bytes (at most 64 KiB here). */
static size_t file_bytes(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    assert_true(n < cap);
    fclose(f);
    return n;
}

/* A spill file keeps memory's records across a restart: counts and blocks
 * come back exactly; a damaged or foreign file adds nothing. */
static void test_spill(void **state)
{
    (void)state;
    sg_obs *mem, *back, *empty;
    sg_ob_policy *pol;
    sg_obop_drained d;
    char err[256], path[300], link[300];
    static uint8_t a[65536], b[65536], bad[65536];
    int blocked;
    struct stat st;
    int64_t t = 1796000000;
    make_tmp();
    snprintf(path, sizeof path, "%s/outbound.spill", tmpdir);
    snprintf(link, sizeof link, "%s/link.spill", tmpdir);
    assert_int_equal(sg_ob_policy_new(&pol), 0);
    assert_int_equal(sg_obs_open(&mem, "memory:", NULL, err, sizeof err), 0);
    assert_int_equal(sg_obs_open(&empty, "memory:", NULL, err, sizeof err), 0);
    /* an empty memory: no file */
    assert_int_equal(sg_obop_spill_save(empty, path, &d, err, sizeof err), 0);
    assert_int_equal(d.records, 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(sg_obop_spill_load(empty, path, &d, err, sizeof err), 1);

    ob_test_decide(mem, pol, "alice", t, 7);
    ob_test_decide(mem, pol, "carol", t, 2);
    sg_obop blk = {.kind = SG_OBOP_BLOCK, .t = t + 60, .reasons = SG_OBR_SAME_BODY};
    assert_int_equal(sg_obop_run(mem, &blk, "carol", NULL, err, sizeof err), 0);
    assert_int_equal(sg_obop_spill_save(mem, path, &d, err, sizeof err), 0);
    assert_int_equal(d.records, 3); /* alice, carol, @org.example */
    assert_int_equal(d.blocked, 1);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    size_t n = file_bytes(path, a, sizeof a);

    assert_int_equal(sg_obs_open(&back, "memory:", NULL, err, sizeof err), 0);
    assert_int_equal(sg_obop_spill_load(back, path, &d, err, sizeof err), 0);
    assert_int_equal(d.records, 3);
    assert_int_equal(d.blocked, 1);
    assert_int_equal(ob_test_day_messages(back, pol, "alice", t + 100, &blocked), 7);
    assert_false(blocked);
    assert_int_equal(ob_test_day_messages(back, pol, "carol", t + 100, &blocked), 2);
    assert_true(blocked);
    assert_int_equal(ob_test_day_messages(back, pol, "@org.example", t + 100, &blocked), 9);
    /* what came back spills to the same bytes */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(sg_obop_spill_save(back, path, &d, err, sizeof err), 0);
    assert_int_equal(file_bytes(path, b, sizeof b), n);
    assert_memory_equal(a, b, n);

    /* every shorter file is refused and adds nothing */
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(sg_obop_spill_parse(empty, a, k, &d, err, sizeof err), -1);
        assert_int_equal(ob_test_records(empty), 0);
    }
    /* a byte more, a wrong count, a key or record length out of bounds */
    memcpy(bad, a, n);
    bad[n] = 0;
    assert_int_equal(sg_obop_spill_parse(empty, bad, n + 1, &d, err, sizeof err), -1);
    bad[n - 1] ^= 1;
    assert_int_equal(sg_obop_spill_parse(empty, bad, n, &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "truncated"));
    memcpy(bad, a, n);
    size_t m = sizeof(SG_OBOP_SPILL_MAGIC) - 1; /* the first key's length */
    bad[m] = 0xff;
    assert_int_equal(sg_obop_spill_parse(empty, bad, n, &d, err, sizeof err), -1);
    memcpy(bad, a, n);
    size_t klen = (size_t)a[m] << 8 | a[m + 1];
    memset(bad + m + 2 + klen, 0, 4); /* the first record's length: 0 */
    assert_int_equal(sg_obop_spill_parse(empty, bad, n, &d, err, sizeof err), -1);
    memcpy(bad, a, n);
    bad[m + 2] = '\0'; /* a NUL in the key */
    assert_int_equal(sg_obop_spill_parse(empty, bad, n, &d, err, sizeof err), -1);
    memcpy(bad, a, n);
    bad[0] = 'X';
    assert_int_equal(sg_obop_spill_parse(empty, bad, n, &d, err, sizeof err), -1);
    assert_int_equal(ob_test_records(empty), 0);

    /* a file others may write, or a link, is not read */
    assert_int_equal(chmod(path, 0620), 0);
    assert_int_equal(sg_obop_spill_load(empty, path, &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "writable by it alone"));
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(sg_obop_spill_load(empty, link, &d, err, sizeof err), -1);
    assert_int_equal(ob_test_records(empty), 0);
    /* a missing folder: the save says so */
    assert_int_equal(sg_obop_spill_save(mem, "/nonexistent/x.spill", &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/x.spill.tmp"));

    sg_obs_close(mem);
    sg_obs_close(back);
    sg_obs_close(empty);
    sg_ob_policy_free(pol);
    rm_tmp();
}

static void test_redis_url(void **state)
{
    (void)state;
    char host[64], err[128];
    int port, db;
    assert_int_equal(sg_obs_redis_url("redis://10.0.0.5:6380/3", host, sizeof(host), &port, &db,
                                      err, sizeof(err)),
                     0);
    assert_string_equal(host, "10.0.0.5");
    assert_int_equal(port, 6380);
    assert_int_equal(db, 3);
    assert_int_equal(
        sg_obs_redis_url("redis://h", host, sizeof(host), &port, &db, err, sizeof(err)), 0);
    assert_int_equal(port, 6379);
    assert_int_equal(db, 0);
    assert_int_equal(
        sg_obs_redis_url("redis://h:0", host, sizeof(host), &port, &db, err, sizeof(err)), -1);
    assert_int_equal(
        sg_obs_redis_url("redis://:1", host, sizeof(host), &port, &db, err, sizeof(err)), -1);
    assert_int_equal(
        sg_obs_redis_url("redis://h:1/x", host, sizeof(host), &port, &db, err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_basics),
        cmocka_unit_test(test_lmdb_refused_writes_nothing),
        cmocka_unit_test(test_lmdb_two_processes_exact),
        cmocka_unit_test(test_lmdb_full_map_refuses),
        cmocka_unit_test(test_corrupt_record_starts_fresh),
        cmocka_unit_test(test_login_case_is_one_account),
        cmocka_unit_test(test_lmdb_expiry),
        cmocka_unit_test(test_lmdb_full_map_reads_and_expires),
        cmocka_unit_test(test_lmdb_empty_file_refused),
        cmocka_unit_test(test_redis_url),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_spill),
        cmocka_unit_test_teardown(test_redis_block_never_expires, redis_teardown),
        cmocka_unit_test(test_redis_two_processes_exact),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    redis_down();
    return rc;
}
