/*
 * The key rotation state file (src/common/keys_state.h) and the DNS
 * answer parser of `spoofguard keys activate` (src/cli/keys_dns.c):
 * known files parse to known records, every malformed line is refused
 * with its line number, format and parse are inverses (escapes too),
 * the atomic write leaves no temporary file, and hand-built DNS answers
 * (compression, CNAME, truncation, pointer loops) parse as they should.
 */
/* keys_dns.c, compiled in below, needs it before any system header */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/keys_state.h"
/* the CLI's DNS stub is not in a library: compiled in here */
#include "../../src/cli/keys_dns.c"

#define HEAD "spoofguard-keys-state 1\n"

static void parses_known_file(void **state)
{
    (void)state;
    const char *text =
        "# comment\n\n" HEAD
        "key domain=example.net selector=202612r alg=rsa name=ex-rsa path=/etc/k/a%20b.pem "
        "state=active created=1700000000 activated=1700000100 ttl=3600\n"
        "  key\tdomain=example.net selector=old alg=ed25519 path=/k/old state=retiring "
        "created=1 retiring_since=1700000100\r\n";
    sgu_keys_state st = {0};
    char err[256] = "";
    assert_int_equal(sgu_keys_state_parse(&st, text, strlen(text), err, sizeof(err)), 0);
    assert_int_equal(st.n, 2);
    assert_string_equal(st.keys[0].path, "/etc/k/a b.pem");
    assert_string_equal(st.keys[0].name, "ex-rsa");
    assert_int_equal(st.keys[0].phase, SGU_KS_ACTIVE);
    assert_int_equal(st.keys[0].created, 1700000000);
    assert_int_equal(st.keys[0].activated, 1700000100);
    assert_int_equal(st.keys[0].ttl, 3600);
    assert_string_equal(st.keys[1].alg, "ed25519");
    assert_int_equal(st.keys[1].phase, SGU_KS_RETIRING);
    assert_int_equal(st.keys[1].retiring_since, 1700000100);
    assert_string_equal(st.keys[1].name, "");
    assert_non_null(sgu_keys_state_find(&st, "EXAMPLE.net", "OLD"));
    assert_null(sgu_keys_state_find(&st, "example.net", "none"));
    sgu_keys_state_free(&st);
}

/* Each bad file and the line and words of its refusal. */
static void refuses_malformed(void **state)
{
    (void)state;
#define K "key domain=d selector=s alg=rsa path=/p state=pending created=1"
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {K "\n", "line 1: expected 'spoofguard-keys-state 1' first"},
        {"spoofguard-keys-state 2\n", "line 1: expected"},
        {HEAD "kee domain=d\n", "line 2: expected 'key field=value...'"},
        {HEAD K " bogus=1\n", "line 2: unknown field 'bogus'"},
        {HEAD K " created=2\n", "line 2: field 'created' twice"},
        {HEAD "key domain=d selector=s alg=rsa path=/p state=pending\n",
         "line 2: field 'created' missing"},
        {HEAD "key domain=d selector=s alg=dsa path=/p state=pending created=1\n",
         "bad value for 'alg'"},
        {HEAD "key domain=d selector=s alg=rsa path=/p state=actve created=1\n",
         "bad value for 'state'"},
        {HEAD "key domain=d selector=s alg=rsa path=/p state=pending created=-1\n",
         "bad value for 'created'"},
        {HEAD
         "key domain=d selector=s alg=rsa path=/p state=pending created=99999999999999999999\n",
         "bad value for 'created'"},
        {HEAD K " ttl=4294967296\n", "bad value for 'ttl'"},
        {HEAD "key domain=d selector=s alg=rsa path=/p%2 state=pending created=1\n",
         "bad value for 'path'"},
        {HEAD "key domain=d selector=s alg=rsa path=/p%00 state=pending created=1\n",
         "bad value for 'path'"},
        {HEAD "key domain= selector=s alg=rsa path=/p state=pending created=1\n",
         "bad value for 'domain'"},
        {HEAD K "\n" K "\n", "line 3: d selector s twice"},
        {HEAD K " novalue\n", "is not field=value"},
        /* names become file names: no "../", no '/' */
        {HEAD "key domain=../../x selector=s alg=rsa path=/p state=pending created=1\n",
         "line 2: '../../x' selector 's' is not a DKIM name"},
        {HEAD "key domain=d selector=a%2Fb alg=rsa path=/p state=pending created=1\n",
         "line 2: 'd' selector 'a/b' is not a DKIM name"},
    };
#undef K
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sgu_keys_state st = {0};
        char err[256] = "";
        assert_int_equal(
            sgu_keys_state_parse(&st, cases[i].text, strlen(cases[i].text), err, sizeof(err)), -1);
        if (strstr(err, cases[i].msg) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
        sgu_keys_state_free(&st);
    }
    /* an over-long selector does not fit its buffer */
    char text[512];
    snprintf(text, sizeof(text),
             HEAD "key domain=d selector=%065d alg=rsa path=/p state=pending created=1\n", 0);
    sgu_keys_state st = {0};
    char err[256];
    assert_int_equal(sgu_keys_state_parse(&st, text, strlen(text), err, sizeof(err)), -1);
    sgu_keys_state_free(&st);
}

static void format_parse_round_trip(void **state)
{
    (void)state;
    sgu_keys_state st = {0}, back = {0};
    sgu_ks_key *k = sgu_keys_state_add(&st);
    snprintf(k->domain, sizeof(k->domain), "example.org");
    snprintf(k->selector, sizeof(k->selector), "202601e");
    snprintf(k->alg, sizeof(k->alg), "ed25519");
    /* every byte that needs an escape */
    snprintf(k->path, sizeof(k->path), "/k/a b%%c=d#e\t\xc3\xa9");
    k->phase = SGU_KS_RETIRED;
    k->created = 1, k->activated = 2, k->retiring_since = 3, k->retired = INT64_MAX;
    k->ttl = UINT32_MAX;
    char *text, err[256];
    size_t len;
    assert_int_equal(sgu_keys_state_format(&st, &text, &len), 0);
    assert_non_null(strstr(text, " path=/k/a%20b%25c%3Dd%23e%09%C3%A9 ")); /* escaped */
    assert_int_equal(sgu_keys_state_parse(&back, text, len, err, sizeof(err)), 0);
    assert_int_equal(back.n, 1);
    assert_memory_equal(&back.keys[0], &st.keys[0], sizeof(sgu_ks_key));
    free(text);
    sgu_keys_state_free(&st);
    sgu_keys_state_free(&back);
}

static void atomic_save_and_load(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg-ks-test.XXXXXX", path[256], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/KeyTable.rotation", dir);
    sgu_keys_state st = {0}, back = {0};
    assert_int_equal(sgu_keys_state_load(&st, path, err, sizeof(err)), 0); /* missing: empty */
    assert_int_equal(st.n, 0);
    for (int i = 0; i < 100; i++) {
        sgu_ks_key *k = sgu_keys_state_add(&st);
        snprintf(k->domain, sizeof(k->domain), "d%d.example", i);
        snprintf(k->selector, sizeof(k->selector), "s%d", i);
        snprintf(k->alg, sizeof(k->alg), "rsa");
        snprintf(k->path, sizeof(k->path), "/k/%d", i);
        k->created = i + 1;
    }
    assert_int_equal(sgu_keys_state_save(&st, path, 0640, err, sizeof(err)), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    assert_int_equal(sgu_keys_state_load(&back, path, err, sizeof(err)), 0);
    assert_int_equal(back.n, 100);
    assert_int_equal(back.keys[99].created, 100);
    /* nothing but the file is left in the folder */
    DIR *d = opendir(dir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL)
        files += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(files, 1);
    unlink(path);
    rmdir(dir);
    sgu_keys_state_free(&st);
    sgu_keys_state_free(&back);
}

/* ---- DNS answers ---------------------------------------------------------- */

/* A response to id 0x1234 for "s._domainkey.ex.test" TXT: header, the
 * question, then the given answer records (raw). */
static size_t response(uint8_t *out, uint8_t flags, uint8_t rcode, const uint8_t *an, size_t anlen,
                       unsigned ancount)
{
    static const uint8_t q[] = {1, 's', 10,  '_', 'd', 'o', 'm', 'a', 'i', 'n', 'k', 'e', 'y',
                                2, 'e', 'x', 4,   't', 'e', 's', 't', 0,   0,   16,  0,   1};
    uint8_t h[12] = {0x12, 0x34, flags, rcode, 0, 1, 0, (uint8_t)ancount, 0, 0, 0, 0};
    memcpy(out, h, 12);
    memcpy(out + 12, q, sizeof(q));
    if (anlen)
        memcpy(out + 12 + sizeof(q), an, anlen);
    return 12 + sizeof(q) + anlen;
}

static void dns_answers(void **state)
{
    (void)state;
    static kd_answer a;
    uint8_t pkt[1024];
    /* a TXT of two strings, owner by a pointer to the question (offset 12) */
    static const uint8_t txt[] = {0xC0, 12, 0,   16,  0,   1, 0,   0,   0x0e, 0x10, 0,
                                  9,    3,  'a', 'b', 'c', 4, 'd', 'e', 'f',  'g'};
    size_t n = response(pkt, 0x84, 0, txt, sizeof(txt), 1); /* QR AA */
    assert_int_equal(kd_parse(pkt, n, 0x1234, "S._domainkey.ex.test.", KD_TYPE_TXT, &a), 0);
    assert_int_equal(a.aa, 1);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.data[0], "abcdefg");
    assert_int_equal(a.ttl[0], 3600);
    /* another id, or no QR bit: not our answer */
    assert_int_equal(kd_parse(pkt, n, 0x1235, "s._domainkey.ex.test", KD_TYPE_TXT, &a), -1);
    n = response(pkt, 0x04, 0, txt, sizeof(txt), 1);
    assert_int_equal(kd_parse(pkt, n, 0x1234, "s._domainkey.ex.test", KD_TYPE_TXT, &a), -1);
    /* another question */
    n = response(pkt, 0x84, 0, txt, sizeof(txt), 1);
    assert_int_equal(kd_parse(pkt, n, 0x1234, "t._domainkey.ex.test", KD_TYPE_TXT, &a), -1);
    /* a string running past its record */
    uint8_t bad[sizeof(txt)];
    memcpy(bad, txt, sizeof(txt));
    bad[16] = 9;
    n = response(pkt, 0x84, 0, bad, sizeof(bad), 1);
    assert_int_equal(kd_parse(pkt, n, 0x1234, "s._domainkey.ex.test", KD_TYPE_TXT, &a), -1);
    /* a pointer to itself (a loop) and a forward pointer */
    uint8_t loop[sizeof(txt)];
    memcpy(loop, txt, sizeof(txt));
    loop[1] = 12 + 26; /* the record's own offset */
    n = response(pkt, 0x84, 0, loop, sizeof(loop), 1);
    assert_int_equal(kd_parse(pkt, n, 0x1234, "s._domainkey.ex.test", KD_TYPE_TXT, &a), -1);
    loop[1] = 200;
    assert_int_equal(kd_parse(pkt, n, 0x1234, "s._domainkey.ex.test", KD_TYPE_TXT, &a), -1);
    /* a record of another owner is not taken; a CNAME to it is followed
     * (ex.test is at offset 25, in the question) */
    uint8_t chain[64];
    size_t cl = 0;
    const uint8_t c1[] = {0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 1, 'x', 0xC0, 25};
    const uint8_t c2[] = {1, 'x', 0xC0, 25, 0, 16, 0, 1, 0, 0, 0, 60, 0, 3, 2, 'h', 'i'};
    memcpy(chain, c1, sizeof(c1)), cl += sizeof(c1);
    memcpy(chain + cl, c2, sizeof(c2)), cl += sizeof(c2);
    n = response(pkt, 0x84, 0, chain, cl, 2);
    assert_int_equal(kd_parse(pkt, n, 0x1234, "s._domainkey.ex.test", KD_TYPE_TXT, &a), 0);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.data[0], "hi");
    n = response(pkt, 0x84, 0, c2, sizeof(c2), 1);
    assert_int_equal(kd_parse(pkt, n, 0x1234, "s._domainkey.ex.test", KD_TYPE_TXT, &a), 0);
    assert_int_equal(a.n, 0);
    /* NXDOMAIN and the TC bit are reported */
    n = response(pkt, 0x86, 3, NULL, 0, 0);
    assert_int_equal(kd_parse(pkt, n, 0x1234, "s._domainkey.ex.test", KD_TYPE_TXT, &a), 0);
    assert_int_equal(a.rcode, 3);
    assert_int_equal(a.tc, 1);
    /* every truncation of a good answer is refused or parsed, never read past */
    n = response(pkt, 0x84, 0, txt, sizeof(txt), 1);
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, pkt, cut);
        int rc = kd_parse(copy, cut, 0x1234, "s._domainkey.ex.test", KD_TYPE_TXT, &a);
        assert_int_equal(rc, -1);
        free(copy);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_known_file),
        cmocka_unit_test(refuses_malformed),
        cmocka_unit_test(format_parse_round_trip),
        cmocka_unit_test(atomic_save_and_load),
        cmocka_unit_test(dns_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
