/* Outbound test helpers shared by test_obstore.c and test_daemon_carry.c:
 * decisions for one account through a store, as the daemon makes them,
 * and a count of a store's records. */
#ifndef SG_TEST_OB_TEST_H
#define SG_TEST_OB_TEST_H

#include <stdio.h>

#include "obops.h"

/* n messages from acct (MAIL FROM alice@org.example, one recipient each,
 * one second apart from t); asserts each was decided. */
static inline void ob_test_decide(sg_obs *s, const sg_ob_policy *pol, const char *acct, int64_t t,
                                  int n)
{
    char err[256];
    for (int i = 0; i < n; i++) {
        char rcpt[64];
        snprintf(rcpt, sizeof rcpt, "r%d@far.example", i);
        const char *r[1] = {rcpt};
        sg_ob_message m = {t + i, acct, "192.0.2.10", "alice@org.example", r, 1, 1000, NULL, 0};
        sg_obop op = {.kind = SG_OBOP_DECIDE, .pol = pol, .msg = &m};
        assert_int_equal(sg_obop_run(s, &op, acct, m.mail_from, err, sizeof err), 0);
    }
}

static inline int ob_test_count_cb(void *ctx, const char *key, const uint8_t *v, size_t vlen)
{
    (void)key;
    (void)v;
    (void)vlen;
    (*(int *)ctx)++;
    return 0;
}

/* How many records the store holds; asserts the walk worked. */
static inline int ob_test_records(sg_obs *s)
{
    char err[256];
    int n = 0;
    assert_int_equal(sg_obs_each(s, ob_test_count_cb, &n, err, sizeof err), 0);
    return n;
}

#endif
