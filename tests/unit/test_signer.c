/*
 * spoofguardd's signer process (issue 12):
 *   signer::proto_bytes    the wire layout, byte for byte; every malformed
 *                          datagram refused
 *   signer::process        a real signer (forked, confined: as root it
 *                          chroots and runs as nobody): keys loaded from
 *                          their folders, signatures equal to in-process
 *                          ones and verifying, readable or unknown-folder
 *                          keys refused with the reason, wrong algorithm
 *                          refused, many requests in one loop turn (more
 *                          than a batch) each answered once with its own
 *                          signature, a dead signer fails every request
 *   signer::landlock_refused  under a filter answering EPERM to the
 *                          landlock calls: the start warns, naming
 *                          Landlock; a key linked out of its folder is
 *                          still refused (adv36 F1)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <errno.h>
#include <linux/landlock.h>
#include <seccomp.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "maps.h"
#include "signer.h"
#include "signer_client.h"
#include "signer_proto.h"

/* ---- the protocol -------------------------------------------------------------- */

static void proto_bytes(void **state)
{
    uint8_t digest[32], buf[SG_SP_MAX_MSG];
    memset(digest, 0xaa, sizeof(digest));
    sg_sp_request rq, back;
    memset(&rq, 0, sizeof(rq));
    rq.type = SG_SP_SIGN;
    rq.id = 0x01020304;
    rq.n = 1;
    rq.items[0] = (sg_sp_item){1, "a/k", 3, digest};
    size_t n = sg_sp_encode_request(buf, sizeof(buf), &rq);
    static const uint8_t want[] = {'S', 1, 2, 3, 4, 1, 1, 0, 3, 'a', '/', 'k'};
    assert_int_equal(n, sizeof(want) + 32);
    assert_memory_equal(buf, want, sizeof(want));
    assert_memory_equal(buf + sizeof(want), digest, 32);
    assert_int_equal(sg_sp_decode_request(buf, n, &back), 0);
    assert_int_equal(back.id, 0x01020304);
    assert_int_equal(back.n, 1);
    assert_int_equal(back.items[0].keyid_len, 3);
    assert_memory_equal(back.items[0].keyid, "a/k", 3);
    assert_ptr_equal(back.items[0].digest, buf + sizeof(want));
    /* one byte short, one byte more, n 0 and 9, a NUL in the key id, alg 0 */
    assert_int_equal(sg_sp_decode_request(buf, n - 1, &back), -1);
    buf[n] = 0;
    assert_int_equal(sg_sp_decode_request(buf, n + 1, &back), -1);
    buf[5] = 0;
    assert_int_equal(sg_sp_decode_request(buf, n, &back), -1);
    buf[5] = 9;
    assert_int_equal(sg_sp_decode_request(buf, n, &back), -1);
    buf[5] = 1;
    buf[10] = '\0';
    assert_int_equal(sg_sp_decode_request(buf, n, &back), -1);
    buf[10] = '/';
    buf[6] = 0;
    assert_int_equal(sg_sp_decode_request(buf, n, &back), -1);
    /* a key id length past the end */
    buf[6] = 1;
    buf[7] = 0xff;
    assert_int_equal(sg_sp_decode_request(buf, n, &back), -1);
    /* nine items do not encode */
    rq.n = 9;
    assert_int_equal(sg_sp_encode_request(buf, sizeof(buf), &rq), 0);

    sg_sp_answer a, ab;
    static const uint8_t sig[] = {1, 2};
    memset(&a, 0, sizeof(a));
    a.type = SG_SP_SIGNED;
    a.id = 7;
    a.n = 1;
    a.sig[0] = sig;
    a.siglen[0] = 2;
    static const uint8_t awant[] = {'s', 0, 0, 0, 7, 0, 1, 0, 2, 1, 2};
    n = sg_sp_encode_answer(buf, sizeof(buf), &a);
    assert_int_equal(n, sizeof(awant));
    assert_memory_equal(buf, awant, n);
    assert_int_equal(sg_sp_decode_answer(buf, n, &ab), 0);
    assert_int_equal(ab.siglen[0], 2);
    assert_int_equal(sg_sp_decode_answer(buf, n - 1, &ab), -1);
    /* a failed sign answer carries nothing more */
    static const uint8_t fail[] = {'s', 0, 0, 0, 7, SG_SP_ENOKEY};
    assert_int_equal(sg_sp_decode_answer(fail, sizeof(fail), &ab), 0);
    assert_int_equal(ab.status, SG_SP_ENOKEY);
    assert_int_equal(ab.n, 0);
    static const uint8_t badstatus[] = {'s', 0, 0, 0, 7, SG_SP_NSTATUS};
    assert_int_equal(sg_sp_decode_answer(badstatus, sizeof(badstatus), &ab), -1);
    /* a load failure's reason: printable only */
    static const uint8_t why[] = {'l', 0, 0, 0, 1, SG_SP_ELOAD, 0, 2, 'n', 'o'};
    assert_int_equal(sg_sp_decode_answer(why, sizeof(why), &ab), 0);
    assert_int_equal(ab.reason_len, 2);
    static const uint8_t ctl[] = {'l', 0, 0, 0, 1, SG_SP_ELOAD, 0, 2, 'n', '\n'};
    assert_int_equal(sg_sp_decode_answer(ctl, sizeof(ctl), &ab), -1);
    static const uint8_t loaded[] = {'l', 0, 0, 0, 1, 0, 3, 0x01, 0x00};
    assert_int_equal(sg_sp_decode_answer(loaded, sizeof(loaded), &ab), 0);
    assert_int_equal(ab.alg, 3);
    assert_int_equal(ab.bits, 256);
    /* 'r' always carries a reason: a failed start's, or when ready a
     * warning for the log (length 0: none) */
    static const uint8_t ready[] = {'r', 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(sg_sp_decode_answer(ready, sizeof(ready), &ab), 0);
    assert_int_equal(ab.status, SG_SP_OK);
    assert_int_equal(ab.reason_len, 0);
    assert_int_equal(sg_sp_decode_answer(ready, 6, &ab), -1);
    static const uint8_t rwarn[] = {'r', 0, 0, 0, 0, 0, 0, 2, 'n', 'o'};
    memset(&a, 0, sizeof(a));
    a.type = SG_SP_READY;
    a.reason = "no";
    a.reason_len = 2;
    n = sg_sp_encode_answer(buf, sizeof(buf), &a);
    assert_int_equal(n, sizeof(rwarn));
    assert_memory_equal(buf, rwarn, n);
    assert_int_equal(sg_sp_decode_answer(rwarn, sizeof(rwarn), &ab), 0);
    assert_int_equal(ab.status, SG_SP_OK);
    assert_int_equal(ab.reason_len, 2);
}

/* ---- a real signer ---------------------------------------------------------------- */

static char dir[64];

static void put(const char *path, const void *data, size_t len, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

typedef struct {
    int calls, status;
    size_t n;
    uint8_t sig[2][SG_SP_MAX_SIG];
    size_t siglen[2];
} got;

static void on_signed(int status, const uint8_t *const *sigs, const size_t *siglens, size_t n,
                      void *payload)
{
    got *g = payload;
    g->calls++;
    g->status = status;
    g->n = n;
    for (size_t i = 0; i < n && i < 2; i++) {
        memcpy(g->sig[i], sigs[i], siglens[i]);
        g->siglen[i] = siglens[i];
    }
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void wait_for(uv_loop_t *loop, got *g)
{
    for (int i = 0; i < 5000 && g->calls == 0; i++)
        uv_run(loop, UV_RUN_NOWAIT), usleep(1000);
    assert_int_equal(g->calls, 1);
}

/* One control request as a compromised milter would send it, through the
 * project's own encoder; the answer's status, its reason in why. */
static int ctl(int fd, uint8_t type, const char *keyid, char *why, size_t cap)
{
    static uint32_t id = 1u << 30;
    uint8_t buf[SG_SP_MAX_MSG];
    sg_sp_request rq;
    sg_sp_answer a;
    memset(&rq, 0, sizeof(rq));
    rq.type = type;
    rq.id = id++;
    if (keyid) {
        rq.items[0].keyid = keyid;
        rq.items[0].keyid_len = strlen(keyid);
    }
    size_t n = sg_sp_encode_request(buf, sizeof(buf), &rq);
    assert_int_not_equal(n, 0);
    assert_int_equal(send(fd, buf, n, 0), (ssize_t)n);
    ssize_t r = recv(fd, buf, sizeof(buf), 0);
    assert_true(r > 0);
    assert_int_equal(sg_sp_decode_answer(buf, (size_t)r, &a), 0);
    assert_int_equal(a.id, rq.id);
    snprintf(why, cap, "%.*s", (int)a.reason_len, a.reason ? a.reason : "");
    return a.status;
}

static sg_maps *keytable(sg_config *c, const char *text)
{
    char path[128], err[512] = "";
    sg_maps *m;
    /* in a folder of its own: the signer reads files beneath it */
    snprintf(path, sizeof(path), "%s/etc/KeyTable", dir);
    put(path, text, strlen(text), 0644);
    free(c->key_table);
    c->key_table = strdup(path);
    assert_int_equal(sg_maps_load(&m, c, err, sizeof(err)), 0);
    return m;
}

static void process(void **state)
{
    char path[160], text[1024], err[512], warn[512];
    sg_dkim_signkey *rsa, *ed;
    uint8_t seed[32];
    strcpy(dir, "/tmp/sgsignerXXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/keys", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/other", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/etc", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(sg_dkim_signkey_generate(&rsa, SG_DKIM_RSA_SHA256, 2048), 0);
    snprintf(path, sizeof(path), "%s/keys/rsa.pem", dir);
    assert_int_equal(sg_dkim_signkey_write(rsa, path), 0);
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i * 7 + 1);
    assert_int_equal(sg_dkim_signkey_from_ed25519_seed(&ed, seed), 0);
    snprintf(path, sizeof(path), "%s/keys/ed.seed", dir);
    put(path, seed, 32, 0600);
    snprintf(path, sizeof(path), "%s/keys/open.seed", dir);
    put(path, seed, 32, 0644);
    snprintf(path, sizeof(path), "%s/other/ed.seed", dir);
    put(path, seed, 32, 0600);

    sg_config c;
    sg_config_defaults(&c);
    snprintf(text, sizeof(text), "rsa d.test:r:%s/keys/rsa.pem\ned d.test:e:%s/keys/ed.seed\n", dir,
             dir);
    sg_maps *m = keytable(&c, text);
    int *fds;
    pid_t pid;
    assert_int_equal(sg_signer_start(&c, m, 1, &fds, &pid, warn, sizeof(warn), err, sizeof(err)),
                     0);
    /* none, unless this test itself runs under a filter refusing Landlock */
    if (warn[0] && strstr(warn, "signer: Landlock refused") == NULL)
        fail_msg("a warning at start: %s", warn);
    size_t nk;
    sg_map_key *k = sg_maps_keys(m, &nk);
    assert_int_equal(nk, 2);
    assert_int_equal(k[0].alg, SG_DKIM_RSA_SHA256);
    assert_int_equal(k[0].bits, 2048);
    assert_int_equal(k[1].alg, SG_DKIM_ED25519_SHA256);

    uv_loop_t loop;
    sg_signer_client *cl;
    uv_loop_init(&loop);
    assert_int_equal(sg_signer_client_new(&cl, &loop, fds[1]), 0);
    fds[1] = -1;
    uint8_t digest[32];
    for (int i = 0; i < 32; i++)
        digest[i] = (uint8_t)(0xf0 ^ i);
    sg_sp_item items[2] = {{SG_DKIM_RSA_SHA256, k[0].path, strlen(k[0].path), digest},
                           {SG_DKIM_ED25519_SHA256, k[1].path, strlen(k[1].path), digest}};
    got g = {0};
    assert_int_not_equal(sg_signer_sign(cl, items, 2, on_signed, &g), 0);
    assert_int_equal(g.calls, 0); /* never inside the call */
    wait_for(&loop, &g);
    assert_int_equal(g.status, SG_SP_OK);
    assert_int_equal(g.n, 2);
    /* the same bytes as signing here (both schemes are deterministic) */
    uint8_t mine[SG_SP_MAX_SIG];
    size_t ml = sizeof(mine);
    assert_int_equal(sg_dkim_signkey_sign_digest(rsa, digest, mine, &ml), 0);
    assert_int_equal(g.siglen[0], 256);
    assert_memory_equal(g.sig[0], mine, ml);
    ml = sizeof(mine);
    assert_int_equal(sg_dkim_signkey_sign_digest(ed, digest, mine, &ml), 0);
    assert_int_equal(g.siglen[1], 64);
    assert_memory_equal(g.sig[1], mine, 64);

    /* the wrong algorithm for a key, an unknown key */
    items[0].alg = SG_DKIM_ED25519_SHA256;
    memset(&g, 0, sizeof(g));
    assert_int_not_equal(sg_signer_sign(cl, items, 1, on_signed, &g), 0);
    wait_for(&loop, &g);
    assert_int_equal(g.status, SG_SP_ENOKEY);
    items[0] = (sg_sp_item){SG_DKIM_RSA_SHA256, "/etc/shadow", 11, digest};
    memset(&g, 0, sizeof(g));
    assert_int_not_equal(sg_signer_sign(cl, items, 1, on_signed, &g), 0);
    wait_for(&loop, &g);
    assert_int_equal(g.status, SG_SP_ENOKEY);
    /* a cancelled request never calls back */
    memset(&g, 0, sizeof(g));
    uint32_t id = sg_signer_sign(cl, items + 1, 1, on_signed, &g);
    sg_signer_cancel(cl, id);
    for (int i = 0; i < 50; i++)
        uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
    assert_int_equal(g.calls, 0);

    /* many requests in one loop turn (more than one batch each way), one
     * cancelled among them: each of the others is answered once, with the
     * signature of its own digest */
    enum { MANY = 41 };
    static got many[MANY];
    static uint8_t dg[MANY][32];
    uint32_t ids[MANY];
    memset(many, 0, sizeof(many));
    for (int j = 0; j < MANY; j++) {
        for (int i = 0; i < 32; i++)
            dg[j][i] = (uint8_t)(j * 31 + i);
        sg_sp_item one = {SG_DKIM_ED25519_SHA256, k[1].path, strlen(k[1].path), dg[j]};
        ids[j] = sg_signer_sign(cl, &one, 1, on_signed, &many[j]);
        assert_int_not_equal(ids[j], 0);
    }
    sg_signer_cancel(cl, ids[17]);
    for (int i = 0; i < 5000 && many[MANY - 1].calls == 0; i++)
        uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
    for (int i = 0; i < 20; i++) /* anything late or twice would show */
        uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
    for (int j = 0; j < MANY; j++) {
        assert_int_equal(many[j].calls, j == 17 ? 0 : 1);
        if (j == 17)
            continue;
        assert_int_equal(many[j].status, SG_SP_OK);
        ml = sizeof(mine);
        assert_int_equal(sg_dkim_signkey_sign_digest(ed, dg[j], mine, &ml), 0);
        assert_int_equal(many[j].siglen[0], 64);
        assert_memory_equal(many[j].sig[0], mine, 64);
    }

    /* the milter (the exposed process) names a key file the KeyTable does
     * not: a TLS key beside the DKIM keys. The signer reads the KeyTable
     * itself and refuses it, so it never signs with it (adv33 R1) */
    snprintf(path, sizeof(path), "%s/keys/tls.pem", dir);
    assert_int_equal(sg_dkim_signkey_write(rsa, path), 0);
    char why[SG_SP_MAX_REASON + 1];
    assert_int_equal(ctl(fds[0], SG_SP_BEGIN, NULL, why, sizeof(why)), SG_SP_OK);
    assert_int_equal(ctl(fds[0], SG_SP_LOAD, path, why, sizeof(why)), SG_SP_ELOAD);
    if (strstr(why, "tls.pem: not in ") == NULL || strstr(why, "/etc/KeyTable") == NULL)
        fail_msg("a key the KeyTable does not name: %s", why);
    /* the names it does hold still load; the table committed holds them */
    assert_int_equal(ctl(fds[0], SG_SP_LOAD, k[0].path, why, sizeof(why)), SG_SP_OK);
    assert_int_equal(ctl(fds[0], SG_SP_LOAD, k[1].path, why, sizeof(why)), SG_SP_OK);
    assert_int_equal(ctl(fds[0], SG_SP_COMMIT, NULL, why, sizeof(why)), SG_SP_OK);
    items[0] = (sg_sp_item){SG_DKIM_RSA_SHA256, path, strlen(path), digest};
    memset(&g, 0, sizeof(g));
    assert_int_not_equal(sg_signer_sign(cl, items, 1, on_signed, &g), 0);
    wait_for(&loop, &g);
    assert_int_equal(g.status, SG_SP_ENOKEY);
    /* the same through the client: the milter's table names it, the file
     * the signer reads does not */
    {
        sg_config c2;
        sg_maps *mm;
        char mpath[160];
        sg_config_defaults(&c2);
        snprintf(mpath, sizeof(mpath), "%s/etc/KeyTable.milter", dir);
        snprintf(text, sizeof(text), "tls d.test:t:%s\n", path);
        put(mpath, text, strlen(text), 0644);
        c2.key_table = strdup(mpath);
        assert_int_equal(sg_maps_load(&mm, &c2, err, sizeof(err)), 0);
        assert_int_not_equal(sg_signer_load_keys(fds[0], mm, NULL, "KT", err, sizeof(err)), 0);
        if (strstr(err, "KT: key 'tls'") == NULL || strstr(err, "not in ") == NULL)
            fail_msg("the client's load of a key the KeyTable does not name: %s", err);
        sg_maps_free(mm);
        sg_config_free(&c2);
    }
    /* a reload whose KeyTable adds a key (a rotation's new one): loaded
     * and signing without a restart */
    {
        sg_maps *mr;
        snprintf(path, sizeof(path), "%s/keys/new.seed", dir);
        put(path, seed, 32, 0600);
        snprintf(text, sizeof(text),
                 "rsa d.test:r:%s/keys/rsa.pem\ned d.test:e:%s/keys/ed.seed\n"
                 "new d.test:n:%s\n",
                 dir, dir, path);
        mr = keytable(&c, text);
        if (sg_signer_load_keys(fds[0], mr, NULL, "KT", err, sizeof(err)) != 0)
            fail_msg("reload with a key the table names: %s", err);
        items[0] = (sg_sp_item){SG_DKIM_ED25519_SHA256, path, strlen(path), digest};
        memset(&g, 0, sizeof(g));
        assert_int_not_equal(sg_signer_sign(cl, items, 1, on_signed, &g), 0);
        wait_for(&loop, &g);
        assert_int_equal(g.status, SG_SP_OK);
        sg_maps_free(mr);
    }

    /* whoever can change the KeyTable chooses the keys: a table (or its
     * folder) others can write, or another user owns, is not read (rev22
     * F4: the milter's user rewrote it to name a TLS key) */
    {
        char kt[160], ktdir[160];
        snprintf(kt, sizeof(kt), "%s/etc/KeyTable", dir);
        snprintf(ktdir, sizeof(ktdir), "%s/etc", dir);
        for (int w = 0; w < 2; w++) {
            assert_int_equal(chmod(w ? ktdir : kt, w ? 0777 : 0666), 0);
            assert_int_equal(ctl(fds[0], SG_SP_BEGIN, NULL, why, sizeof(why)), SG_SP_ELOAD);
            if (strstr(why, w ? "the KeyTable's folder is group- or world-writable"
                              : "the KeyTable is group- or world-writable") == NULL)
                fail_msg("a writable KeyTable%s: %s", w ? " folder" : "", why);
            assert_int_equal(chmod(w ? ktdir : kt, w ? 0755 : 0644), 0);
        }
        if (geteuid() == 0) {
            assert_int_equal(chown(kt, 65534, 0), 0);
            assert_int_equal(ctl(fds[0], SG_SP_BEGIN, NULL, why, sizeof(why)), SG_SP_ELOAD);
            assert_non_null(strstr(why, "the KeyTable is owned by another user"));
            assert_int_equal(chown(kt, 0, 0), 0);
        }
        assert_int_equal(ctl(fds[0], SG_SP_BEGIN, NULL, why, sizeof(why)), SG_SP_OK);
    }

    /* reloads: a world-readable key, a key of a folder not open at start */
    sg_maps *m2;
    snprintf(text, sizeof(text), "o d.test:o:%s/keys/open.seed\n", dir);
    m2 = keytable(&c, text);
    assert_int_not_equal(sg_signer_load_keys(fds[0], m2, NULL, "KT", err, sizeof(err)), 0);
    assert_non_null(strstr(err, "open.seed: private key file is accessible by group or others"));
    assert_non_null(strstr(err, "chmod 600"));
    sg_maps_free(m2);
    if (geteuid() == 0) {
        /* started as root, the signer runs as nobody: a key nobody owns is
         * one any nobody process can swap, refused at start and at reload
         * alike (only root may own keys), through a link too */
        snprintf(path, sizeof(path), "%s/keys/nobody.seed", dir);
        put(path, seed, 32, 0600);
        assert_int_equal(chown(path, 65534, 65534), 0);
        snprintf(path, sizeof(path), "%s/keys/link.seed", dir);
        assert_int_equal(symlink("nobody.seed", path), 0);
        for (int l = 0; l < 2; l++) {
            snprintf(text, sizeof(text), "n d.test:n:%s/keys/%s.seed\n", dir,
                     l ? "link" : "nobody");
            m2 = keytable(&c, text);
            assert_int_not_equal(sg_signer_load_keys(fds[0], m2, NULL, "KT", err, sizeof(err)), 0);
            assert_non_null(strstr(err, "owned by uid 65534, not root"));
            sg_maps_free(m2);
        }
        /* a link to root's key is followed (rotation's current -> 2026) */
        snprintf(path, sizeof(path), "%s/keys/current.seed", dir);
        assert_int_equal(symlink("ed.seed", path), 0);
        snprintf(text, sizeof(text),
                 "rsa d.test:r:%s/keys/rsa.pem\ned d.test:e:%s/keys/ed.seed\n"
                 "c d.test:c:%s/keys/current.seed\n",
                 dir, dir, dir);
        m2 = keytable(&c, text);
        assert_int_equal(sg_signer_load_keys(fds[0], m2, NULL, "KT", err, sizeof(err)), 0);
        sg_maps_free(m2);
    }
    /* a link out of the key folder, relative or absolute, to a key the
     * signer could otherwise read: refused by Landlock (adv12 F2: the
     * folder descriptors reach out of the empty root), when the kernel
     * has it */
    if (syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) >= 1) {
        for (int l = 0; l < 2; l++) {
            char target[200];
            snprintf(target, sizeof(target), "%s/other/ed.seed", dir);
            snprintf(path, sizeof(path), "%s/keys/out%d.seed", dir, l);
            assert_int_equal(symlink(l ? target : "../other/ed.seed", path), 0);
            snprintf(text, sizeof(text), "o d.test:o:%s\n", path);
            m2 = keytable(&c, text);
            assert_int_not_equal(sg_signer_load_keys(fds[0], m2, NULL, "KT", err, sizeof(err)), 0);
            if ((strstr(err, "Permission denied") == NULL && strstr(err, "No such file") == NULL) ||
                strstr(err, "only relative links to files in the same key folder") == NULL)
                fail_msg("link %d out of the key folder: %s", l, err);
            sg_maps_free(m2);
        }
    }
    /* a relative link in the folder whose target is missing: said so,
     * the target named, not blamed on links (adv33 R4) */
    snprintf(path, sizeof(path), "%s/keys/dangling.seed", dir);
    assert_int_equal(symlink("gone.seed", path), 0);
    snprintf(text, sizeof(text), "d d.test:d:%s\n", path);
    m2 = keytable(&c, text);
    assert_int_not_equal(sg_signer_load_keys(fds[0], m2, NULL, "KT", err, sizeof(err)), 0);
    if (strstr(err, "a symbolic link to gone.seed, which is missing") == NULL ||
        strstr(err, "cannot follow") != NULL)
        fail_msg("a dangling relative link: %s", err);
    sg_maps_free(m2);
    /* a FIFO in a key's place: refused at once (it blocked the open, the
     * signer's control thread with it, and every later reload: adv12 F1) */
    snprintf(path, sizeof(path), "%s/keys/fifo.seed", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    snprintf(text, sizeof(text), "f d.test:f:%s\n", path);
    m2 = keytable(&c, text);
    time_t t0 = time(NULL);
    assert_int_not_equal(sg_signer_load_keys(fds[0], m2, NULL, "KT", err, sizeof(err)), 0);
    assert_non_null(strstr(err, "not a regular file"));
    assert_true(time(NULL) - t0 < 3);
    sg_maps_free(m2);
    /* a reload the signer answers too late (stopped past the 5 s wait):
     * that one fails, the next one works (the late answer is skipped,
     * not taken for the next call's) */
    snprintf(text, sizeof(text), "ed d.test:e:%s/keys/ed.seed\n", dir);
    m2 = keytable(&c, text);
    assert_int_equal(kill(pid, SIGSTOP), 0);
    assert_int_not_equal(sg_signer_load_keys(fds[0], m2, NULL, "KT", err, sizeof(err)), 0);
    assert_int_equal(kill(pid, SIGCONT), 0);
    for (int i = 0; i < 2; i++)
        if (sg_signer_load_keys(fds[0], m2, NULL, "KT", err, sizeof(err)) != 0)
            fail_msg("reload %d after a late answer: %s", i, err);
    sg_maps_free(m2);
    /* the serving table is the full one again */
    snprintf(text, sizeof(text), "rsa d.test:r:%s/keys/rsa.pem\ned d.test:e:%s/keys/ed.seed\n", dir,
             dir);
    m2 = keytable(&c, text);
    assert_int_equal(sg_signer_load_keys(fds[0], m2, NULL, "KT", err, sizeof(err)), 0);
    sg_maps_free(m2);
    snprintf(text, sizeof(text), "x d.test:x:%s/other/ed.seed\n", dir);
    m2 = keytable(&c, text);
    assert_int_not_equal(sg_signer_load_keys(fds[0], m2, NULL, "KT", err, sizeof(err)), 0);
    assert_non_null(strstr(err, "KT: key 'x'"));
    assert_non_null(strstr(err, "restart"));
    sg_maps_free(m2);
    /* a table the configuration refuses (arc_seal_key names an Ed25519
     * key), twice: it never replaces the serving one (adv16 F1: the
     * second left the RSA key in neither of the signer's tables) */
    snprintf(text, sizeof(text), "ed d.test:e:%s/keys/ed.seed\n", dir);
    m2 = keytable(&c, text);
    free(c.arc_seal_key);
    c.arc_seal_key = strdup("ed");
    for (int i = 0; i < 2; i++) {
        assert_int_not_equal(sg_signer_load_keys(fds[0], m2, &c, "KT", err, sizeof(err)), 0);
        assert_non_null(strstr(err, "is not RSA"));
    }
    free(c.arc_seal_key);
    c.arc_seal_key = NULL;
    sg_maps_free(m2);
    /* the failed loads left the serving table alone */
    for (int i = 0; i < 2; i++) {
        items[0] = (sg_sp_item){i ? SG_DKIM_RSA_SHA256 : SG_DKIM_ED25519_SHA256, k[!i].path,
                                strlen(k[!i].path), digest};
        memset(&g, 0, sizeof(g));
        assert_int_not_equal(sg_signer_sign(cl, items, 1, on_signed, &g), 0);
        wait_for(&loop, &g);
        assert_int_equal(g.status, SG_SP_OK);
    }

    /* the signer gone: what waits fails, what comes is refused */
    memset(&g, 0, sizeof(g));
    assert_int_not_equal(sg_signer_sign(cl, items, 1, on_signed, &g), 0);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    wait_for(&loop, &g);
    assert_true(g.status == SG_SIGNER_GONE || g.status == SG_SP_OK); /* it may have answered */
    memset(&g, 0, sizeof(g));
    assert_int_equal(sg_signer_sign(cl, items, 1, on_signed, &g), 0);
    for (int i = 0; i < 50; i++)
        uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
    assert_int_equal(g.calls, 0);

    uv_walk(&loop, close_walk, NULL); /* as worker_destroy does */
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    sg_signer_client_free(cl);
    sg_signer_stop(fds, 1, -1);

    /* a KeyTable reached through a link into another folder (shared with
     * OpenDKIM, placed by configuration management): the signer reads it
     * where it is (rev22 F1: "Permission denied", no start) */
    {
        sg_config c3;
        sg_maps *m3;
        char link[160];
        sg_config_defaults(&c3);
        snprintf(path, sizeof(path), "%s/conf", dir);
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(link, sizeof(link), "%s/conf/KeyTable", dir);
        snprintf(text, sizeof(text), "rsa d.test:r:%s/keys/rsa.pem\n", dir);
        snprintf(path, sizeof(path), "%s/etc/KeyTable", dir);
        put(path, text, strlen(text), 0644);
        assert_int_equal(symlink("../etc/KeyTable", link), 0);
        c3.key_table = strdup(link);
        assert_int_equal(sg_maps_load(&m3, &c3, err, sizeof(err)), 0);
        if (sg_signer_start(&c3, m3, 1, &fds, &pid, warn, sizeof(warn), err, sizeof(err)) != 0)
            fail_msg("a KeyTable through a link: %s", err);
        sg_signer_stop(fds, 1, -1);
        /* a folder on the way writable by others: the link in it, or the
         * folder it names, could be re-pointed to another table before
         * the next start (rev23 R23-6, rev24 R24-3). Modes: 0 the link's
         * folder group-writable; 1 sticky and world-writable (as /tmp),
         * the link root's (ours when not root): only its owner may swap
         * it, allowed; 2 a chain of two links, the second in a
         * world-writable folder; 3 a directory link (d -> ../etc) in a
         * world-writable folder, the table named through it; 4 sticky,
         * but the link is another user's (root only: lchown) */
        snprintf(path, sizeof(path), "%s/conf", dir);
        for (int mode = 0; mode < 5; mode++) {
            if (mode == 4 && geteuid() != 0)
                continue;
            assert_int_equal(chmod(path, mode == 0                ? 0775
                                         : mode == 1 || mode == 4 ? 01777
                                                                  : 0755),
                             0);
            if (mode == 2) {
                char l2[200], d2[160];
                snprintf(d2, sizeof(d2), "%s/shared", dir);
                assert_int_equal(mkdir(d2, 0777), 0);
                assert_int_equal(chmod(d2, 0777), 0);
                snprintf(l2, sizeof(l2), "%s/KeyTable", d2);
                assert_int_equal(symlink("../etc/KeyTable", l2), 0);
                assert_int_equal(unlink(link), 0);
                assert_int_equal(symlink("../shared/KeyTable", link), 0);
            }
            if (mode == 3) {
                char d3[200];
                snprintf(d3, sizeof(d3), "%s/open", dir);
                assert_int_equal(mkdir(d3, 0777), 0);
                assert_int_equal(chmod(d3, 0777), 0);
                snprintf(d3, sizeof(d3), "%s/open/d", dir);
                assert_int_equal(symlink("../etc", d3), 0);
                free(c3.key_table);
                snprintf(d3, sizeof(d3), "%s/open/d/KeyTable", dir);
                c3.key_table = strdup(d3);
            }
            if (mode == 4) {
                free(c3.key_table);
                c3.key_table = strdup(link);
                assert_int_equal(unlink(link), 0);
                assert_int_equal(symlink("../etc/KeyTable", link), 0);
                assert_int_equal(lchown(link, 65534, 65534), 0);
            }
            int rc = sg_signer_start(&c3, m3, 1, &fds, &pid, warn, sizeof(warn), err, sizeof(err));
            if (rc == 0)
                sg_signer_stop(fds, 1, -1);
            if (mode == 1) {
                if (rc != 0)
                    fail_msg("a link of ours in a sticky folder: %s", err);
                continue;
            }
            if (rc == 0)
                fail_msg("a link in a folder others can write (mode %d) was followed", mode);
            if (strstr(err, "chooses the table") == NULL ||
                strstr(err, mode == 3 ? "the link /tmp/sgsigner" : "the link") == NULL ||
                (mode == 3 && strstr(err, "/open/d is in a folder") == NULL) ||
                (mode == 4 && strstr(err, "owned by another user") == NULL))
                fail_msg("mode %d: %s", mode, err);
        }
        sg_maps_free(m3);
        sg_config_free(&c3);
    }
    sg_maps_free(m);
    sg_config_free(&c);
    sg_dkim_signkey_free(rsa);
    sg_dkim_signkey_free(ed);
    snprintf(text, sizeof(text), "rm -rf %s", dir);
    assert_int_equal(system(text), 0);
}

/* ---- Landlock refused ----------------------------------------------------------- */

/* In a child under a filter that answers EPERM to the landlock calls, as
 * systemd 252's SystemCallFilter=@system-service did (adv36 F1): the
 * signer starts with a warning naming Landlock, and a key that is a link
 * out of its folder is still refused, as a link it cannot follow. 0, or
 * what went wrong on stderr and 1. (No cmocka here: a failed assertion
 * would go on running the tests in the child.) */
static int refused_child(sg_config *good, sg_maps *mgood, sg_config *link, sg_maps *mlink)
{
    static const int calls[] = {SCMP_SYS(landlock_create_ruleset), SCMP_SYS(landlock_add_rule),
                                SCMP_SYS(landlock_restrict_self)};
    char warn[512], err[512];
    int *fds;
    pid_t pid;
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
    int rc = f == NULL ? -1 : 0;
    for (size_t i = 0; rc == 0 && i < sizeof(calls) / sizeof(*calls); i++)
        rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), calls[i], 0);
    if (rc != 0 || seccomp_load(f) != 0) {
        fprintf(stderr, "landlock_refused: the filter did not load\n");
        return 1;
    }
    seccomp_release(f);
    if (sg_signer_start(good, mgood, 1, &fds, &pid, warn, sizeof(warn), err, sizeof(err)) != 0) {
        fprintf(stderr, "landlock_refused: no start: %s\n", err);
        return 1;
    }
    sg_signer_stop(fds, 1, pid);
    if (strstr(warn, "signer: Landlock refused (Operation not permitted: a system call filter?)") ==
            NULL ||
        strstr(warn, "landlock_restrict_self") == NULL) {
        fprintf(stderr, "landlock_refused: the warning: '%s'\n", warn);
        return 1;
    }
    if (sg_signer_start(link, mlink, 1, &fds, &pid, warn, sizeof(warn), err, sizeof(err)) == 0) {
        sg_signer_stop(fds, 1, pid);
        fprintf(stderr, "landlock_refused: the key through '..' loaded\n");
        return 1;
    }
    if (strstr(err, "out.seed: Permission denied (a symbolic link the signer cannot follow: only "
                    "relative links to files in the same key folder work)") == NULL) {
        fprintf(stderr, "landlock_refused: the link's error: %s\n", err);
        return 1;
    }
    return 0;
}

static void landlock_refused(void **state)
{
    char path[200], text[512], err[512];
    uint8_t seed[32];
    sg_config c[2];
    sg_maps *m[2];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i * 5 + 3);
    strcpy(dir, "/tmp/sgllXXXXXX");
    assert_non_null(mkdtemp(dir));
    static const char *const sub[] = {"keys", "outside", "etc"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, sub[i]);
        assert_int_equal(mkdir(path, i == 2 ? 0755 : 0700), 0);
    }
    snprintf(path, sizeof(path), "%s/keys/ed.seed", dir);
    put(path, seed, 32, 0600);
    snprintf(path, sizeof(path), "%s/outside/secret.seed", dir);
    put(path, seed, 32, 0600);
    snprintf(path, sizeof(path), "%s/keys/out.seed", dir);
    assert_int_equal(symlink("../outside/secret.seed", path), 0);
    for (int l = 0; l < 2; l++) {
        sg_config_defaults(&c[l]);
        snprintf(text, sizeof(text), "k d.test:k:%s/keys/%s\n", dir, l ? "out.seed" : "ed.seed");
        snprintf(path, sizeof(path), "%s/etc/KeyTable.%d", dir, l);
        put(path, text, strlen(text), 0644);
        c[l].key_table = strdup(path);
        assert_int_equal(sg_maps_load(&m[l], &c[l], err, sizeof(err)), 0);
    }
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(refused_child(&c[0], m[0], &c[1], m[1]));
    int st = 0;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    for (int l = 0; l < 2; l++) {
        sg_maps_free(m[l]);
        sg_config_free(&c[l]);
    }
    snprintf(text, sizeof(text), "rm -rf %s", dir);
    assert_int_equal(system(text), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(proto_bytes),
        cmocka_unit_test(process),
        cmocka_unit_test(landlock_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
