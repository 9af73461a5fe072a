/* spoofguardd lookup tables: sender ownership, OpenDKIM-style signing and
 * key tables. The keys themselves are the signer's (test_signer.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maps.h"

static char dir[64];

static const char *file(const char *name, const char *text, mode_t mode)
{
    static char path[4][128];
    static int turn;
    char *p = path[turn++ % 4];
    snprintf(p, 128, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(p, mode);
    return p;
}

static int setup(void **state)
{
    strcpy(dir, "/tmp/sgmapsXXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static void glob(void **state)
{
    assert_true(sg_glob_match("*@example.com", "Alice@EXAMPLE.com"));
    assert_false(sg_glob_match("*@example.com", "alice@sub.example.com"));
    assert_true(sg_glob_match("*.example.com", "sub.example.com"));
    assert_true(sg_glob_match("*", ""));
    assert_false(sg_glob_match("a*b", "acbd"));
}

static void sender_map(void **state)
{
    sg_config c;
    sg_maps *m;
    char err[256] = "";
    sg_config_defaults(&c);
    c.sender_map = strdup(file("senders",
                               "# login  addresses\n"
                               "alice@ourco.test  alice@ourco.test, a.smith@ourco.test\n"
                               "postmaster        @ourco.test @ourco.example\n",
                               0644));
    assert_int_equal(sg_maps_load(&m, &c, err, sizeof(err)), 0);
    assert_true(sg_maps_have_sender_map(m));
    assert_true(sg_maps_sender_allowed(m, "alice@ourco.test", "alice", "ourco.test"));
    assert_true(sg_maps_sender_allowed(m, "ALICE@ourco.test", "A.Smith", "OurCo.test"));
    assert_false(sg_maps_sender_allowed(m, "alice@ourco.test", "bob", "ourco.test"));
    assert_false(sg_maps_sender_allowed(m, "alice@ourco.test", "alice", "ourco.test.evil"));
    assert_false(sg_maps_sender_allowed(m, "nobody", "nobody", "ourco.test"));
    assert_true(sg_maps_sender_allowed(m, "postmaster", "anyone", "ourco.example"));
    assert_false(sg_maps_sender_allowed(m, "postmaster", "anyone", "sub.ourco.example"));
    assert_false(sg_maps_sender_allowed(m, "postmaster", "", "ourco.test"));
    /* a local part that looks like another address is just a local part */
    assert_false(sg_maps_sender_allowed(m, "postmaster", "x@ourco.example", "victim.test"));
    sg_maps_free(m);
    sg_config_free(&c);
}

static const char ed_seed_b64[] = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n";

static void signing_and_key_tables(void **state)
{
    sg_config c;
    sg_maps *m;
    char err[512] = "", text[512];
    sg_config_defaults(&c);
    file("ed.key", ed_seed_b64, 0600);
    file("ed2.key", ed_seed_b64, 0600);
    snprintf(text, sizeof(text),
             "ed   ourco.test:ed2026:%s/ed.key\ned2  ourco.test:second:%s/ed2.key\n", dir, dir);
    c.key_table = strdup(file("keytable", text, 0644));
    c.signing_table = strdup(file("signingtable",
                                  "*@ourco.test     ed\n"
                                  "*@ourco.test     ed2\n"
                                  "other.test       ed2\n",
                                  0644));
    assert_int_equal(sg_maps_load(&m, &c, err, sizeof(err)), 0);
    const sg_map_key *keys[4];
    assert_int_equal(sg_maps_signing_keys(m, "alice@ourco.test", keys, 4), 2);
    assert_string_equal(keys[0]->selector, "ed2026");
    assert_string_equal(keys[1]->selector, "second");
    assert_int_equal(sg_maps_signing_keys(m, "x@other.test", keys, 4), 1);
    assert_string_equal(keys[0]->name, "ed2");
    assert_int_equal(sg_maps_signing_keys(m, "x@elsewhere.test", keys, 4), 0);
    sg_maps_free(m);

    /* this process never reads a key: an unreadable one changes nothing */
    file("ed.key", "not a key", 0);
    assert_int_equal(sg_maps_load(&m, &c, err, sizeof(err)), 0);
    assert_int_equal(sg_maps_signing_keys(m, "alice@ourco.test", keys, 4), 2);
    assert_int_equal(keys[0]->alg, SG_DKIM_ALG_UNKNOWN); /* until the signer says */
    sg_maps_free(m);

    /* an unknown key name in the signing table is an error with its line */
    file("ed.key", ed_seed_b64, 0600);
    file("signingtable", "*@ourco.test ed\n*@x.test nokey\n", 0644);
    assert_int_not_equal(sg_maps_load(&m, &c, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "signingtable:2: key 'nokey' is not in the key table"));
    sg_config_free(&c);
}

/* A KeyTable's domain and selector are DKIM names: "../../../x" would be
 * signed as d= and made into file names by `spoofguard keys`. The line is
 * refused with the file and line, whatever the rest of the table. */
static void key_table_names(void **state)
{
    static const struct {
        const char *value, *says;
    } bad[] = {
        {"../../../escaped:s", "'../../../escaped' is not a domain name"},
        {"a/b.test:s", "'a/b.test' is not a domain name"},
        {"a..test:s", "'a..test' is not a domain name"},
        {"ourco.test.:s", "'ourco.test.' is not a domain name"},
        {"b\xc3\xa4r.test:s", "is not a domain name"}, /* a U-label */
        {"ourco.test:../s", "'../s' is not a selector"},
        {"ourco.test:s/t", "'s/t' is not a selector"},
        {"ourco.test:s..t", "'s..t' is not a selector"},
    };
    sg_config c;
    sg_maps *m;
    char err[512], text[512];
    sg_config_defaults(&c);
    file("ed.key", ed_seed_b64, 0600);
    c.key_table = strdup(file("keytable", "", 0644));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "ok ourco.test:s1:%s/ed.key\nk1 %s:%s/ed.key\n", dir,
                 bad[i].value, dir);
        file("keytable", text, 0644);
        err[0] = '\0';
        assert_int_not_equal(sg_maps_load(&m, &c, err, sizeof(err)), 0);
        assert_non_null(strstr(err, "keytable:2: "));
        assert_non_null(strstr(err, bad[i].says));
    }
    /* A-labels, '_', digits and '-' are names */
    snprintf(text, sizeof(text), "k1 xn--br-via.test:sel_2026-a:%s/ed.key\n", dir);
    file("keytable", text, 0644);
    assert_int_equal(sg_maps_load(&m, &c, err, sizeof(err)), 0);
    sg_maps_free(m);
    sg_config_free(&c);
}

/* A NUL byte in a table line (sender map, KeyTable, SigningTable) would cut
 * it short for every string function after the read: refused, with file
 * and line. */
static void nul_byte_is_an_error(void **state)
{
    sg_config c;
    sg_maps *m;
    char err[512], text[512], p[160];
    sg_config_defaults(&c);
    file("ed.key", ed_seed_b64, 0600);
    int n = snprintf(text, sizeof(text), "ed ourco.test:s:%s/ed.key\ned2 ourco.test:t:%s/ed.key",
                     dir, dir);
    /* "ed2 ...\0 # old" : the name and its value are whole, only the rest is cut */
    memcpy(text + n, "\0 # old\n", 8);
    snprintf(p, sizeof(p), "%s/keytable", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, (size_t)n + 8, f), (size_t)n + 8);
    fclose(f);
    c.key_table = strdup(p);
    c.signing_table = strdup(file("signingtable", "*@ourco.test ed\n", 0644));
    assert_int_not_equal(sg_maps_load(&m, &c, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "keytable:2: a NUL byte in the line"));

    snprintf(text, sizeof(text), "ed ourco.test:s:%s/ed.key\n", dir);
    file("keytable", text, 0644);
    snprintf(p, sizeof(p), "%s/signingtable", dir);
    f = fopen(p, "w");
    assert_non_null(f);
    fwrite("*@ourco.test ed\0, ed2\n", 1, 22, f);
    fclose(f);
    assert_int_not_equal(sg_maps_load(&m, &c, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "signingtable:1: a NUL byte in the line"));
    file("signingtable", "*@ourco.test ed\n", 0644);

    snprintf(p, sizeof(p), "%s/senders", dir);
    f = fopen(p, "w");
    assert_non_null(f);
    fwrite("alice alice@ourco.test\nbob bob@ourco.test\0, boss@ourco.test\n", 1, 60, f);
    fclose(f);
    c.sender_map = strdup(p);
    assert_int_not_equal(sg_maps_load(&m, &c, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "senders:2: a NUL byte in the line"));
    sg_config_free(&c);
}

/* A table that cannot be read (a folder: getline() failed with EISDIR as
 * if at the end) is an error, never an empty table that signs nothing
 * (adv26 CLI-2). */
static void unreadable_table_is_an_error(void **state)
{
    sg_config c;
    sg_maps *m;
    char err[512], text[512];
    (void)state;
    sg_config_defaults(&c);
    file("ed.key", ed_seed_b64, 0600);
    snprintf(text, sizeof(text), "ed ourco.test:s:%s/ed.key\n", dir);
    c.key_table = strdup(file("keytable", text, 0644));
    c.signing_table = strdup(dir);
    assert_int_not_equal(sg_maps_load(&m, &c, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "not a regular file"));
    free(c.signing_table);
    c.signing_table = strdup(file("signingtable", "*@ourco.test ed\n", 0644));
    free(c.key_table);
    c.key_table = strdup("/dev/zero");
    assert_int_not_equal(sg_maps_load(&m, &c, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "/dev/zero: not a regular file"));
    sg_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(glob),
        cmocka_unit_test_setup_teardown(sender_map, setup, teardown),
        cmocka_unit_test_setup_teardown(signing_and_key_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(key_table_names, setup, teardown),
        cmocka_unit_test_setup_teardown(nul_byte_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(unreadable_table_is_an_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
