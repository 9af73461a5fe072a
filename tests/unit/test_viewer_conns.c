/* spoofguard-view's connection pool (src/viewer/conns.c), the rules against
 * slowloris without a server: clients are IPv4 addresses and IPv6 /64s, a
 * client holds at most its share, a full pool closes the connection that
 * has waited longest on its client, of the client holding the most places
 * (never one being answered), and heads
 * and bodies have deadlines that bytes do not push back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "conns.h"
#include "viewer_test.h"

static int same(const char *a, const char *b)
{
    sgv_client_key ka = viewer_test_key(a), kb = viewer_test_key(b);
    return !memcmp(&ka, &kb, sizeof(ka));
}

static void client_keys(void **state)
{
    (void)state;
    /* one subscriber's /64 is one client, however many addresses it uses */
    assert_true(same("2001:db8:1:2::1", "2001:db8:1:2:ffff:eeee:dddd:cccc"));
    assert_false(same("2001:db8:1:2::1", "2001:db8:1:3::1"));
    /* IPv4: the address; a mapped address is the same client, and is not
     * lumped with every other IPv4 client in ::ffff:0:0/96 */
    assert_false(same("192.0.2.1", "192.0.2.2"));
    assert_true(same("192.0.2.1", "::ffff:192.0.2.1"));
    assert_false(same("::ffff:192.0.2.1", "::ffff:192.0.2.2"));
    assert_false(same("0.0.0.1", "::1"));
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    sgv_client_key k;
    assert_int_equal(sgv_client_key_of((struct sockaddr *)&un, &k), -1);
    assert_int_equal(sgv_client_key_of(NULL, &k), -1);
}

/* A connection from addr with descriptor fd at t ms, or NULL if refused. */
static sgv_conn *open_conn(sgv_pool *p, const char *addr, int fd, long long t, int *victim)
{
    sgv_client_key k = viewer_test_key(addr);
    return sgv_pool_open(p, &k, fd, t, victim);
}

static void per_client_share(void **state)
{
    sgv_pool p;
    int victim;
    (void)state;
    sgv_pool_init(&p, 8, 3, 10000, 10000);
    for (int i = 0; i < 3; i++)
        assert_non_null(open_conn(&p, "2001:db8::1", i, 0, &victim));
    /* another address in the same /64 is the same client */
    assert_null(open_conn(&p, "2001:db8::2:1", 9, 0, &victim));
    assert_non_null(open_conn(&p, "2001:db8:0:1::1", 10, 0, &victim));
    sgv_client_key k = viewer_test_key("2001:db8::5");
    assert_int_equal(sgv_pool_count(&p, &k), 3);
    assert_int_equal(sgv_pool_count(&p, NULL), 4);
    /* a closed connection gives its place back */
    sgv_pool_remove(&p.slot[0]);
    assert_non_null(open_conn(&p, "2001:db8::3", 11, 0, &victim));
}

static void full_pool_makes_room(void **state)
{
    sgv_pool p;
    int victim;
    sgv_conn *c[4];
    (void)state;
    sgv_pool_init(&p, 4, 4, 10000, 10000);
    c[0] = open_conn(&p, "192.0.2.1", 100, 1000, &victim);
    c[1] = open_conn(&p, "192.0.2.2", 101, 500, &victim);
    c[2] = open_conn(&p, "192.0.2.3", 102, 2000, &victim);
    c[3] = open_conn(&p, "192.0.2.4", 103, 3000, &victim);
    assert_int_equal(victim, -1);
    /* the oldest is being answered: it stays; the one that has waited
     * longest for its request goes */
    sgv_pool_phase(c[1], SGV_CONN_ANSWER, 2500);
    assert_non_null(open_conn(&p, "192.0.2.9", 104, 4000, &victim));
    assert_int_equal(victim, 100);
    assert_true(c[0]->closing);
    /* a body still coming counts as waiting on the client, and its phase
     * began later than c[2]'s head */
    sgv_pool_phase(c[3], SGV_CONN_BODY, 3500);
    assert_non_null(open_conn(&p, "192.0.2.10", 105, 4100, &victim));
    assert_int_equal(victim, 102);
    /* a closing connection is not chosen twice, nor counted */
    assert_int_equal(sgv_pool_count(&p, NULL), 4);
    assert_non_null(open_conn(&p, "192.0.2.11", 106, 4200, &victim));
    assert_int_equal(victim, 103);
    /* everything being answered: the newcomer is refused */
    for (size_t i = 0; i < SGV_POOL_SLOTS; i++)
        if (p.slot[i].phase != SGV_CONN_FREE && !p.slot[i].closing)
            sgv_pool_phase(&p.slot[i], SGV_CONN_ANSWER, 5000);
    assert_null(open_conn(&p, "192.0.2.12", 107, 5000, &victim));
    assert_int_equal(victim, -1);
}

/* adv32 F2: clients that reconnect as fast as they are closed. Four of
 * them fill a pool of 16; a reader's connection, waiting on its request
 * longer than any of theirs, outlives a thousand of their reconnections:
 * each one closes a connection of a client holding the most places. */
static void churn_spares_the_reader(void **state)
{
    static const char *const attackers[] = {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"};
    sgv_pool p;
    int victim, fd = 0;
    long long t = 0;
    (void)state;
    sgv_pool_init(&p, 16, 4, 10000, 10000);
    for (int i = 0; i < 16; i++)
        assert_non_null(open_conn(&p, attackers[i % 4], fd++, t++, &victim));
    sgv_conn *reader = open_conn(&p, "198.51.100.7", 1 << 20, t++, &victim);
    assert_non_null(reader);
    assert_int_not_equal(victim, -1);
    for (int round = 0; round < 1000; round++) {
        /* the attacker whose connection was closed gets it back */
        const char *who = NULL;
        for (size_t i = 0; i < SGV_POOL_SLOTS; i++)
            if (p.slot[i].closing) {
                for (size_t a = 0; a < 4; a++) {
                    sgv_client_key k = viewer_test_key(attackers[a]);
                    if (!memcmp(&k, &p.slot[i].key, sizeof(k)))
                        who = attackers[a];
                }
                sgv_pool_remove(&p.slot[i]);
            }
        assert_non_null(who);
        assert_non_null(open_conn(&p, who, fd++, t++, &victim));
        assert_int_not_equal(victim, 1 << 20);
        assert_false(reader->closing);
    }
    /* the newcomer's own client gives way first when it holds the most */
    sgv_pool_init(&p, 4, 4, 10000, 10000);
    for (int i = 0; i < 3; i++)
        assert_non_null(open_conn(&p, "192.0.2.1", 10 + i, 100 + i, &victim));
    assert_non_null(open_conn(&p, "192.0.2.2", 20, 0, &victim));
    assert_non_null(open_conn(&p, "192.0.2.1", 13, 200, &victim));
    assert_int_equal(victim, 10);
}

static void deadlines(void **state)
{
    sgv_pool p;
    int victim, fds[SGV_POOL_SLOTS];
    long long next;
    (void)state;
    sgv_pool_init(&p, 8, 8, 10000, 5000);
    sgv_conn *head = open_conn(&p, "192.0.2.1", 1, 0, &victim);
    sgv_conn *body = open_conn(&p, "192.0.2.1", 2, 0, &victim);
    sgv_conn *answer = open_conn(&p, "192.0.2.1", 3, 0, &victim);
    sgv_conn *kept = open_conn(&p, "192.0.2.1", 4, 0, &victim);
    sgv_pool_phase(body, SGV_CONN_BODY, 6000);
    sgv_pool_phase(answer, SGV_CONN_ANSWER, 1000);
    /* answered at 8 s, kept alive: its next head has its own 10 s */
    sgv_pool_phase(kept, SGV_CONN_ANSWER, 2000);
    sgv_pool_phase(kept, SGV_CONN_HEAD, 8000);

    assert_int_equal(sgv_pool_expire(&p, 9999, fds, SGV_POOL_SLOTS, &next), 0);
    assert_int_equal(next, 10000);
    /* the head is due 10 s after the accept, whatever trickled in */
    assert_int_equal(sgv_pool_expire(&p, 10000, fds, SGV_POOL_SLOTS, &next), 1);
    assert_int_equal(fds[0], 1);
    assert_true(head->closing);
    assert_int_equal(next, 11000);
    /* the body 5 s after the head; an answer has no deadline here */
    assert_int_equal(sgv_pool_expire(&p, 11000, fds, SGV_POOL_SLOTS, &next), 1);
    assert_int_equal(fds[0], 2);
    assert_int_equal(next, 18000);
    assert_int_equal(sgv_pool_expire(&p, 18000, fds, 0, &next), 0);
    assert_int_equal(next, 18000); /* due, but no room to report it: again now */
    assert_int_equal(sgv_pool_expire(&p, 18000, fds, SGV_POOL_SLOTS, &next), 1);
    assert_int_equal(fds[0], 4);
    assert_int_equal(next, -1);
    assert_int_equal(sgv_pool_expire(&p, 1000000, fds, SGV_POOL_SLOTS, &next), 0);
    assert_false(answer->closing);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(client_keys),
        cmocka_unit_test(per_client_share),
        cmocka_unit_test(full_pool_makes_room),
        cmocka_unit_test(churn_spares_the_reader),
        cmocka_unit_test(deadlines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
