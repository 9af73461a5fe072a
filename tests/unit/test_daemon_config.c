/* spoofguardd configuration: defaults, parsing, validation errors with
 * line numbers, network matching, reload rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "common/conf_line.h"
#include "config.h"

static char path[64];

static void write_conf(const char *text)
{
    strcpy(path, "/tmp/sgconfXXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void defaults_are_safe(void **state)
{
    sg_config c;
    assert_int_equal(sg_config_defaults(&c), 0);
    assert_int_equal(c.failsafe, SG_FAILSAFE_TEMPFAIL);
    assert_int_equal(c.dmarc_enforce, 1);
    assert_int_equal(c.reject_protected_fail, 1);
    assert_int_equal(c.allow_group_readable_keys, 0);
    assert_string_equal(c.listen, "inet:127.0.0.1:8891");
    assert_int_equal(c.max_message_size, 64u * 1024 * 1024);
    sg_config_free(&c);
}

static void parses_a_full_file(void **state)
{
    sg_config c;
    char err[256] = "";
    write_conf("# sample\n"
               "listen unix:/run/sg.sock\n"
               "authserv_id mx.example.net   # trailing comment\n"
               "protected_domains Example.COM, example.org.\n"
               "internal_networks 10.0.0.0/8 192.168.1.7 2001:db8::/32\n"
               "failsafe accept\n"
               "max_message_size 10M\n"
               "dmarc_enforce no\n"
               "dmarc_suffix_guard Off\n"
               "trusted_arc_sealers Lists.Example.NET., fwd.example\n"
               "sender_display_names_exempt Helpdesk@Example.com crm\n");
    assert_int_equal(sg_config_load(&c, path, err, sizeof(err)), 0);
    /* logins are kept as written (compared in any case), not as domains */
    assert_int_equal(c.n_sender_display_names_exempt, 2);
    assert_string_equal(c.sender_display_names_exempt[0], "Helpdesk@Example.com");
    assert_string_equal(c.sender_display_names_exempt[1], "crm");
    assert_int_equal(c.n_trusted_arc_sealers, 2);
    assert_string_equal(c.trusted_arc_sealers[0], "lists.example.net");
    assert_string_equal(c.trusted_arc_sealers[1], "fwd.example");
    assert_string_equal(c.listen, "unix:/run/sg.sock");
    assert_string_equal(c.authserv_id, "mx.example.net");
    assert_int_equal(c.n_protected_domains, 2);
    assert_string_equal(c.protected_domains[0], "example.com");
    assert_string_equal(c.protected_domains[1], "example.org");
    assert_int_equal(c.failsafe, SG_FAILSAFE_ACCEPT);
    assert_int_equal(c.max_message_size, 10u * 1024 * 1024);
    assert_int_equal(c.dmarc_enforce, 0);
    assert_int_equal(c.dmarc_suffix_guard, 0); /* on/off too, any case (adv21 F9) */
    assert_int_equal(c.n_internal_networks, 3);

    sg_cidr a;
    assert_int_equal(sg_cidr_parse("10.200.3.4", &a), 0);
    assert_true(sg_cidr_match(c.internal_networks, c.n_internal_networks, a.addr));
    assert_int_equal(sg_cidr_parse("11.0.0.1", &a), 0);
    assert_false(sg_cidr_match(c.internal_networks, c.n_internal_networks, a.addr));
    assert_int_equal(sg_cidr_parse("192.168.1.7", &a), 0);
    assert_true(sg_cidr_match(c.internal_networks, c.n_internal_networks, a.addr));
    assert_int_equal(sg_cidr_parse("192.168.1.8", &a), 0);
    assert_false(sg_cidr_match(c.internal_networks, c.n_internal_networks, a.addr));
    assert_int_equal(sg_cidr_parse("[2001:db8:1::5]", &a), 0);
    assert_true(sg_cidr_match(c.internal_networks, c.n_internal_networks, a.addr));
    sg_config_free(&c);
    unlink(path);
}

static void errors_name_file_and_line(void **state)
{
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {"listen inet:1.2.3.4:1\nbogus 1\n", ":2: unknown option 'bogus'"},
        {"dns_timeout_ms 10\n", ":1: dns_timeout_ms: 10 is out of range (50..60000)"},
        {"dns_timeout_ms abc\n", ":1: dns_timeout_ms: 'abc' is not a number"},
        {"dmarc_enforce maybe\n", ":1: dmarc_enforce: 'maybe' is not yes or no"},
        {"failsafe reject\n", ":1: failsafe: 'reject' is not tempfail or accept"},
        {"\n\ninternal_networks 10.0.0.0/33\n", ":3: internal_networks: '10.0.0.0/33' is not"},
        {"protected_domains exa mple..com\n", "'mple..com' is not a domain name"},
        /* IDNA2008 (issue 11 class 6): a ZWJ outside CONTEXTJ, bad Punycode */
        {"protected_domains ba\xe2\x80\x8dnk.example\n", "is not a domain name (IDNA2008"},
        {"protected_domains xn--zz.example\n", "'xn--zz.example' is not a domain name"},
        {"authserv_id a\nauthserv_id b\n", ":2: 'authserv_id' set twice"},
        {"authserv_id\n", ":1: 'authserv_id' needs a value"},
        {"listen tcp:1\n", "must start with inet: or unix:"},
        {"signing_table /x\n", "signing_table and key_table go together"},
        /* a value's own syntax names its line (spoofguardd.8's promise) */
        {"workers 1\nauthserv_id mx.example; dkim=pass\n",
         ":2: authserv_id: 'mx.example; dkim=pass' is not"},
        {"workers 1\nmetrics_listen 0.0.0.0:9100\n",
         ":2: metrics_listen: 0.0.0.0 is not a loopback address"},
        {"metrics_listen localhost:9100\n",
         ":1: metrics_listen: 'localhost:9100' is not a numeric"},
        {"report_store /r.db\nreport_redis http://x\n",
         ":2: report_redis: 'http://x' is not redis://HOST:PORT[/DB]"},
        /* the resolver's rule, with the line and the reason (adv37 F8) */
        {"workers 1\ndns_servers 192.0.2.53:0\n",
         ":2: dns_servers: '192.0.2.53:0': the port must be 1 to 65535"},
        {"dns_servers 192.0.2.1, 192.0.2.53:70000\n",
         ":1: dns_servers: '192.0.2.53:70000': the port must be 1 to 65535"},
        {"dns_servers [2001:db8::53]:0\n", ":1: dns_servers: '[2001:db8::53]:0': the port must be"},
        {"dns_servers ns.example\n", ":1: dns_servers: 'ns.example': not an IPv4 or IPv6 address"},
        {"dns_servers ,\n", ":1: dns_servers: ',': no server"},
        /* an outbound key the engine lacks is named as such (adv37 F8:
         * "invalid argument"), with or without a class */
        {"outbound_limit max_rcpts 5\n",
         ":1: outbound_limit 'max_rcpts 5': unknown key 'max_rcpts' (the keys are listed in "
         "docs/outbound.md"},
        {"\noutbound_limit vip.max_rcpts 5\n",
         ":2: outbound_limit 'vip.max_rcpts 5': unknown key 'max_rcpts'"},
        {"outbound_limit messages_per_minute lots\n",
         ":1: outbound_limit 'messages_per_minute lots': bad value"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sg_config c;
        char err[256] = "";
        write_conf(cases[i].text);
        assert_int_not_equal(sg_config_load(&c, path, err, sizeof(err)), 0);
        if (strstr(err, cases[i].want) == NULL)
            fail_msg("case %zu: got '%s', want '%s'", i, err, cases[i].want);
        unlink(path);
    }
}

/* listen is read at load by the function server.c binds with: what -t
 * passes the start binds, and what the start would refuse -t refuses,
 * naming the line (adv37 F1); a port is 1 to 65535, never the low 16
 * bits of a larger number or the kernel's choice (adv37 F2). */
static void listen_checked_at_load(void **state)
{
    static const struct {
        const char *text;
        const char *want;
    } bad[] = {
        {"workers 1\nlisten inet:127.0.0.1\n",
         ":2: listen: 'inet:127.0.0.1' is not inet:HOST:PORT"},
        {"listen inet:mx.example.invalid:27741\n", ":1: listen: 'inet:mx.example.invalid:27741': "
                                                   "HOST must be a numeric"},
        {"listen inet:127.0.0.1:93237\n", ":1: listen: 'inet:127.0.0.1:93237': the port must be 1 "
                                          "to 65535"},
        {"listen inet:127.0.0.1:0\n",
         ":1: listen: 'inet:127.0.0.1:0': the port must be 1 to 65535"},
        {"listen inet:127.0.0.1:\n", "the port must be 1 to 65535"},
        {"listen inet:127.0.0.1:http\n", "the port must be 1 to 65535"},
        {"listen inet:127.0.0.1:-1\n", "the port must be 1 to 65535"},
        {"listen inet:[::1]\n", ":1: listen: 'inet:[::1]' is not inet:HOST:PORT"},
        {"listen inet:[127.0.0.1]:8891\n", "only an IPv6 address goes in brackets"},
        {"listen inet:::1\n", "HOST must be a numeric"}, /* ":" is no address */
        {"listen unix:milter.sock\n", ":1: listen: 'unix:milter.sock': the socket's path must be "
                                      "absolute"},
        {"listen unix:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n",
         "the socket's path is longer than 107 bytes"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sg_config c;
        char err[256] = "";
        write_conf(bad[i].text);
        assert_int_not_equal(sg_config_load(&c, path, err, sizeof(err)), 0);
        if (strstr(err, bad[i].want) == NULL || strncmp(err, path, strlen(path)))
            fail_msg("case %zu: got '%s', want '%s'", i, err, bad[i].want);
        unlink(path);
    }

    sg_listen_addr a;
    char err[256] = "";
    assert_int_equal(sg_listen_parse("inet:127.0.0.1:65535", &a, err, sizeof(err)), 0);
    assert_int_equal(a.sa.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&a.sa)->sin_port), 65535);
    assert_false(sg_listen_exposed(&a));
    assert_int_equal(sg_listen_parse("inet:[::1]:8891", &a, err, sizeof(err)), 0);
    assert_int_equal(a.sa.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&a.sa)->sin6_port), 8891);
    assert_false(sg_listen_exposed(&a));
    /* what the bind took before (getaddrinfo's numeric forms) still is:
     * a working configuration must not stop the next restart (rev24 R24-4) */
    assert_int_equal(sg_listen_parse("inet:127.1:8891", &a, err, sizeof(err)), 0);
    assert_int_equal(a.sa.ss_family, AF_INET);
    assert_int_equal(ntohl(((struct sockaddr_in *)&a.sa)->sin_addr.s_addr), 0x7f000001);
    assert_int_equal(sg_listen_parse("inet:[fe80::1%lo]:8891", &a, err, sizeof(err)), 0);
    assert_int_equal(a.sa.ss_family, AF_INET6);
    assert_int_not_equal(((struct sockaddr_in6 *)&a.sa)->sin6_scope_id, 0);
    /* unbracketed, the port after the last colon, as it was bound before */
    assert_int_equal(sg_listen_parse("inet:::1:8891", &a, err, sizeof(err)), 0);
    assert_int_equal(a.sa.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&a.sa)->sin6_port), 8891);
    assert_false(sg_listen_exposed(&a));
    assert_int_equal(sg_listen_parse("inet:127.8.9.10:1", &a, err, sizeof(err)), 0);
    assert_false(sg_listen_exposed(&a));
    assert_int_equal(sg_listen_parse("inet:[::ffff:127.0.0.1]:1", &a, err, sizeof(err)), 0);
    assert_false(sg_listen_exposed(&a));
    assert_int_equal(sg_listen_parse("inet:0.0.0.0:8891", &a, err, sizeof(err)), 0);
    assert_true(sg_listen_exposed(&a));
    assert_int_equal(sg_listen_parse("inet:[::]:8891", &a, err, sizeof(err)), 0);
    assert_true(sg_listen_exposed(&a));
    assert_int_equal(sg_listen_parse("inet:[::ffff:10.0.0.1]:1", &a, err, sizeof(err)), 0);
    assert_true(sg_listen_exposed(&a));
    assert_int_equal(sg_listen_parse("unix:/run/spoofguard/milter.sock", &a, err, sizeof(err)), 0);
    assert_true(a.is_unix);
    assert_string_equal(a.path, "/run/spoofguard/milter.sock");
    assert_false(sg_listen_exposed(&a));
}

/* Every relative path names a file beside the configuration, whatever
 * the folder the daemon or -t runs in: public_suffix_list and
 * report_store were opened from the current folder (adv37 F3). */
static void relative_paths_beside_the_configuration(void **state)
{
    sg_config c;
    char err[256] = "", want[128];
    write_conf("listen inet:127.0.0.1:8891\n"
               "sender_map senders\n"
               "signing_table SigningTable\n"
               "key_table KeyTable\n"
               "log_file log/sg.log\n"
               "public_suffix_list public_suffix_list.dat\n"
               "outbound_store ob\n"
               "outbound_spill ob.spill\n"
               "report_store reports.db\n");
    assert_int_equal(sg_config_load(&c, path, err, sizeof(err)), 0);
    const char *dir = "/tmp/"; /* write_conf's */
    const struct {
        const char *got, *name;
    } rel[] = {
        {c.sender_map, "senders"},
        {c.signing_table, "SigningTable"},
        {c.key_table, "KeyTable"},
        {c.log_file, "log/sg.log"},
        {c.public_suffix_list, "public_suffix_list.dat"},
        {c.outbound_store, "ob"},
        {c.outbound_spill, "ob.spill"},
        {c.report_store, "reports.db"},
    };
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        snprintf(want, sizeof(want), "%s%s", dir, rel[i].name);
        if (rel[i].got == NULL || strcmp(rel[i].got, want))
            fail_msg("%s: got '%s', want '%s'", rel[i].name, rel[i].got ? rel[i].got : "(null)",
                     want);
    }
    sg_config_free(&c);
    unlink(path);
    /* what is not a path stays as written */
    write_conf("outbound_store redis://127.0.0.1:6379\noutbound_spill none\n");
    assert_int_equal(sg_config_load(&c, path, err, sizeof(err)), 0);
    assert_string_equal(c.outbound_store, "redis://127.0.0.1:6379");
    assert_string_equal(c.outbound_spill, "none");
    sg_config_free(&c);
    unlink(path);
}

/* A NUL byte would end the line for every string function after the
 * read: "failsafe accept\0 # was: tempfail" read as "accept", a list
 * read as its first entry. The line is refused, with file and line. */
static void nul_byte_is_an_error(void **state)
{
#define T(s)                                                                                       \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
    static const struct {
        const char *text;
        size_t len;
    } cases[] = {
        T("listen inet:127.0.0.1:1\nprotected_domains a.test\0, ourbank.test\n"),
        T("listen inet:127.0.0.1:1\nfailsafe accept\0 # was: tempfail\n"),
        T("listen inet:127.0.0.1:1\n# a comment\0 too\n"),
        T("listen inet:127.0.0.1:1\n\0\n"),
    };
#undef T
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sg_config c;
        char err[256] = "";
        strcpy(path, "/tmp/sgconfXXXXXX");
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, cases[i].text, cases[i].len), (ssize_t)cases[i].len);
        close(fd);
        assert_int_not_equal(sg_config_load(&c, path, err, sizeof(err)), 0);
        if (strstr(err, ":2: a NUL byte in the line") == NULL || strncmp(err, path, strlen(path)))
            fail_msg("case %zu: got '%s'", i, err);
        unlink(path);
    }
}

/* A configuration that cannot be read is an error, never the defaults
 * of the lines not read (adv26 CLI-2: a folder, whose getline() fails
 * with EISDIR as if at the end, was "configuration OK"); a line is at
 * most SG_CONF_LINE_MAX bytes. */
static void unreadable_is_an_error(void **state)
{
    sg_config c;
    char err[256] = "", dir[] = "/tmp/sgconfdirXXXXXX";
    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_not_equal(sg_config_load(&c, dir, err, sizeof(err)), 0);
    if (strncmp(err, dir, strlen(dir)) || strstr(err, "not a regular file") == NULL)
        fail_msg("a folder: got '%s'", err);
    rmdir(dir);
    assert_int_not_equal(sg_config_load(&c, "/dev/zero", err, sizeof(err)), 0);
    assert_non_null(strstr(err, "/dev/zero: not a regular file"));
    /* /dev/null: the empty file by convention, the defaults */
    assert_int_equal(sg_config_load(&c, "/dev/null", err, sizeof(err)), 0);
    sg_config_free(&c);

    strcpy(path, "/tmp/sgconfXXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs("listen inet:127.0.0.1:1\n#", f);
    for (size_t i = 0; i < SG_CONF_LINE_MAX - 1; i++)
        fputc('a', f);
    fclose(f);
    /* the bound itself is read */
    assert_int_equal(sg_config_load(&c, path, err, sizeof(err)), 0);
    sg_config_free(&c);
    f = fopen(path, "a");
    assert_non_null(f);
    fputs("a\nworkers 1\n", f);
    fclose(f);
    assert_int_not_equal(sg_config_load(&c, path, err, sizeof(err)), 0);
    if (strncmp(err, path, strlen(path)) ||
        strstr(err, ":2: a line longer than 1048576 bytes") == NULL)
        fail_msg("a long line: got '%s'", err);
    unlink(path);
}

/* protected_domains given as U-labels are stored as A-labels, the form the
 * verdict compares (the CLI's --protect does the same; issue 11 class 6). */
static void domains_as_a_labels(void **state)
{
    sg_config c;
    char err[256] = "";
    write_conf("protected_domains B\xc3\x9c"
               "CHER.example, bank\xe3\x80\x82"
               "example, "
               "XN--11B2EZC.example., never\xef\xbc\x8e"
               "example\n");
    assert_int_equal(sg_config_load(&c, path, err, sizeof(err)), 0);
    assert_int_equal(c.n_protected_domains, 4);
    assert_string_equal(c.protected_domains[0], "xn--bcher-kva.example");
    assert_string_equal(c.protected_domains[1], "bank.example");
    assert_string_equal(c.protected_domains[2], "xn--11b2ezc.example");
    assert_string_equal(c.protected_domains[3], "never.example");
    sg_config_free(&c);
    unlink(path);
}

static void reload_blockers(void **state)
{
    sg_config a, b;
    sg_config_defaults(&a);
    sg_config_defaults(&b);
    assert_null(sg_config_reload_blocker(&a, &b));
    b.message_timeout_s = 999; /* reloadable */
    assert_null(sg_config_reload_blocker(&a, &b));
    {
        char *sealers[] = {"lists.example.net"};
        b.trusted_arc_sealers = sealers; /* reloadable: read per message */
        b.n_trusted_arc_sealers = 1;
        assert_null(sg_config_reload_blocker(&a, &b));
        b.trusted_arc_sealers = NULL;
        b.n_trusted_arc_sealers = 0;
    }
    free(b.listen);
    b.listen = strdup("unix:/x");
    assert_string_equal(sg_config_reload_blocker(&a, &b), "listen");
    free(b.listen);
    b.listen = strdup(a.listen);
    b.dns_timeout_ms = 999; /* the resolvers are built once, at start */
    assert_string_equal(sg_config_reload_blocker(&a, &b), "dns_timeout_ms");
    b.dns_timeout_ms = a.dns_timeout_ms;
    /* the signer reads the KeyTable from the folder it opened at start */
    b.key_table = strdup("/etc/spoofguard/KeyTable");
    assert_string_equal(sg_config_reload_blocker(&a, &b), "key_table");
    sg_config_free(&a);
    sg_config_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_safe),
        cmocka_unit_test(parses_a_full_file),
        cmocka_unit_test(errors_name_file_and_line),
        cmocka_unit_test(domains_as_a_labels),
        cmocka_unit_test(reload_blockers),
        cmocka_unit_test(nul_byte_is_an_error),
        cmocka_unit_test(unreadable_is_an_error),
        cmocka_unit_test(listen_checked_at_load),
        cmocka_unit_test(relative_paths_beside_the_configuration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
