/* spoofguard-view's Maildir reader (src/viewer/maildir.c): IDs stable
 * across rescans and moves to cur/ with flags, new mail seen through the
 * folder stamps, and what a hostile deliverer may leave: dot files, links
 * (in and out of the Maildir), folders, FIFOs, odd names, huge files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maildir.h"

static char root[64];

static void put(const char *rel, const char *content)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static int setup(void **state)
{
    char p[128];
    snprintf(root, sizeof(root), "/tmp/sgv-md-XXXXXX");
    assert_non_null(mkdtemp(root));
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", root, (const char *[]){"new", "cur", "tmp"}[i]);
        assert_int_equal(mkdir(p, 0700), 0);
    }
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    return system(cmd) == 0 ? 0 : -1;
}

static const sgv_mentry *by_name(const sgv_mlist *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].name, name))
            return &l->v[i];
    return NULL;
}

static int hex_id(const char *id)
{
    return strlen(id) == SGV_ID_LEN && strspn(id, "0123456789abcdef") == SGV_ID_LEN;
}

static void ids_and_rescans(void **state)
{
    sgv_mlist l = {0};
    sgv_mstamp s1, s2, s3;
    char id_new[SGV_ID_LEN + 1], p1[256], p2[256];
    put("new/1700000000.M1P1.host", "From: a@example.com\n\nhi\n");
    put("cur/1700000001.M2P2.host:2,S", "From: b@example.com\n\nhi\n");
    sgv_maildir_stamp(root, &s1);
    assert_true(s1.ok);
    assert_int_equal(sgv_maildir_scan(root, 0, &l), 0);
    assert_int_equal(l.n, 2);
    const sgv_mentry *e = by_name(&l, "1700000000.M1P1.host");
    assert_non_null(e);
    assert_int_equal(e->sub, SGV_SUB_NEW);
    assert_true(hex_id(e->id));
    memcpy(id_new, e->id, sizeof(id_new));
    /* the ID is the unique name's: flags do not count */
    char want[SGV_ID_LEN + 1];
    sgv_maildir_id(0, "1700000001.M2P2.host", 20, want);
    assert_string_equal(by_name(&l, "1700000001.M2P2.host:2,S")->id, want);
    /* another Maildir index, another ID */
    sgv_maildir_id(1, "1700000001.M2P2.host", 20, want);
    assert_string_not_equal(by_name(&l, "1700000001.M2P2.host:2,S")->id, want);

    /* nothing changed: same stamp, same IDs */
    sgv_maildir_stamp(root, &s2);
    assert_true(sgv_mstamp_equal(&s1, &s2));
    assert_int_equal(sgv_maildir_scan(root, 0, &l), 0);
    assert_string_equal(by_name(&l, "1700000000.M1P1.host")->id, id_new);

    /* read by the MUA: moved to cur/ with flags; the ID stays */
    snprintf(p1, sizeof(p1), "%s/new/1700000000.M1P1.host", root);
    snprintf(p2, sizeof(p2), "%s/cur/1700000000.M1P1.host:2,RS", root);
    assert_int_equal(rename(p1, p2), 0);
    sgv_maildir_stamp(root, &s3);
    assert_false(sgv_mstamp_equal(&s2, &s3));
    assert_int_equal(sgv_maildir_scan(root, 0, &l), 0);
    assert_int_equal(l.n, 2);
    e = by_name(&l, "1700000000.M1P1.host:2,RS");
    assert_non_null(e);
    assert_int_equal(e->sub, SGV_SUB_CUR);
    assert_string_equal(e->id, id_new);

    /* new mail appears: the stamp changes, the scan lists it */
    put("new/1700000002.M3P3.host", "From: c@example.com\n\nnew\n");
    sgv_maildir_stamp(root, &s2);
    assert_false(sgv_mstamp_equal(&s2, &s3));
    assert_int_equal(sgv_maildir_scan(root, 0, &l), 0);
    assert_int_equal(l.n, 3);
    assert_non_null(by_name(&l, "1700000002.M3P3.host"));

    /* half-done move: in both folders at once, listed once (from cur/) */
    put("new/1700000003.M4P4.host", "x\n");
    put("cur/1700000003.M4P4.host:2,", "x\n");
    assert_int_equal(sgv_maildir_scan(root, 0, &l), 0);
    assert_int_equal(l.n, 4);
    assert_non_null(by_name(&l, "1700000003.M4P4.host:2,"));
    assert_null(by_name(&l, "1700000003.M4P4.host"));
    sgv_mlist_free(&l);
}

static void hostile_entries(void **state)
{
    sgv_mlist l = {0};
    char p[256], *data;
    size_t len;
    int trunc;
    put("new/ok.host", "From: ok@example.com\n\nok\n");
    put("new/.hidden", "x\n");
    put("new/<script>alert(1)<\\script> \"x\"\n'y'.host:2,S", "From: odd@example.com\n\nodd\n");
    put("cur/inside", "From: target@example.com\n\n");
    snprintf(p, sizeof(p), "%s/new/link-out", root);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    snprintf(p, sizeof(p), "%s/new/link-in", root);
    assert_int_equal(symlink("../cur/inside", p), 0);
    snprintf(p, sizeof(p), "%s/new/a-folder", root);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/new/a-fifo", root);
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(sgv_maildir_scan(root, 0, &l), 0);
    assert_int_equal(l.n, 3); /* ok.host, the odd name, cur/inside */
    assert_non_null(by_name(&l, "ok.host"));
    assert_non_null(by_name(&l, "inside"));
    const sgv_mentry *odd = by_name(&l, "<script>alert(1)<\\script> \"x\"\n'y'.host:2,S");
    assert_non_null(odd);
    assert_true(hex_id(odd->id)); /* whatever the name, the ID is URL-safe */
    for (size_t i = 0; i < l.n; i++)
        assert_true(hex_id(l.v[i].id));

    /* reading: links are never followed, names cannot leave the folder */
    assert_int_equal(sgv_maildir_read(root, SGV_SUB_NEW, "ok.host", &data, &len, &trunc), 0);
    assert_string_equal(data, "From: ok@example.com\n\nok\n");
    assert_false(trunc);
    free(data);
    assert_int_equal(sgv_maildir_read(root, SGV_SUB_NEW, "link-out", &data, &len, &trunc), -1);
    assert_int_equal(sgv_maildir_read(root, SGV_SUB_NEW, "link-in", &data, &len, &trunc), -1);
    assert_int_equal(sgv_maildir_read(root, SGV_SUB_NEW, "a-fifo", &data, &len, &trunc), -1);
    assert_int_equal(sgv_maildir_read(root, SGV_SUB_NEW, "a-folder", &data, &len, &trunc), -1);
    assert_int_equal(sgv_maildir_read(root, SGV_SUB_NEW, "../cur/inside", &data, &len, &trunc), -1);
    assert_int_equal(sgv_maildir_read(root, SGV_SUB_NEW, ".hidden", &data, &len, &trunc), -1);
    assert_int_equal(sgv_maildir_read(root, SGV_SUB_NEW, "gone", &data, &len, &trunc), -1);
    sgv_mlist_free(&l);

    /* a cur/ that is a link out of the Maildir is not read */
    char other[64], cmd[512];
    snprintf(other, sizeof(other), "/tmp/sgv-md2-XXXXXX");
    assert_non_null(mkdtemp(other));
    snprintf(cmd, sizeof(cmd),
             "mkdir %s/new && mkdir %s/x && ln -s %s/x %s/cur && echo hi > %s/x/f", other, other,
             other, other, other);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(sgv_maildir_scan(other, 0, &l), -1);
    assert_null(by_name(&l, "f"));
    sgv_mlist_free(&l);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", other);
    assert_int_equal(system(cmd), 0);
}

static void huge_file_capped(void **state)
{
    char p[256], *data;
    size_t len;
    int trunc;
    snprintf(p, sizeof(p), "%s/new/huge", root);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "From: big@example.com\n\n", 23), 23);
    assert_int_equal(ftruncate(fd, (off_t)SGV_MAX_MESSAGE + 4096), 0); /* sparse */
    close(fd);
    assert_int_equal(sgv_maildir_read(root, SGV_SUB_NEW, "huge", &data, &len, &trunc), 0);
    assert_int_equal(len, SGV_MAX_MESSAGE);
    assert_true(trunc);
    assert_memory_equal(data, "From: big@example.com\n", 22);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ids_and_rescans, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(huge_file_capped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
