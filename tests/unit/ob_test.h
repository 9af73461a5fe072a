/* Outbound test helpers shared by test_obstore.c and test_daemon_carry.c:
 * decisions for one account through a store, as the daemon makes them,
 * a count of a store's records, and the day's messages of one record. */
#ifndef SG_TEST_OB_TEST_H
#define SG_TEST_OB_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

typedef struct {
    const char *key;
    uint8_t buf[SG_OB_ACCOUNT_MAX];
    size_t len;
} ob_test_one_rec;

static inline int ob_test_find_rec(void *ctx, const char *key, const uint8_t *v, size_t vlen)
{
    ob_test_one_rec *o = ctx;
    if (strcmp(key, o->key) != 0 || vlen > sizeof(o->buf))
        return 0;
    memcpy(o->buf, v, vlen);
    o->len = vlen;
    return 1;
}

/* messages in the day window of a key's record (0 when there is none) */
static inline unsigned ob_test_day_messages(sg_obs *s, const sg_ob_policy *pol, const char *key,
                                            int64_t now, int *blocked)
{
    static ob_test_one_rec o;
    char err[256], *json = NULL;
    sg_ob_account *a;
    o.key = key;
    o.len = 0;
    assert_true(sg_obs_each(s, ob_test_find_rec, &o, err, sizeof err) >= 0);
    assert_int_equal(sg_ob_account_new(&a), 0);
    if (o.len > 0)
        assert_int_equal(sg_ob_account_decode(a, o.buf, o.len), 0);
    *blocked = sg_ob_account_blocked(a, NULL, NULL);
    assert_int_equal(sg_ob_account_json(pol, a, now, &json), 0);
    const char *p = strstr(json, "\"day\":{\"messages\":");
    assert_non_null(p);
    unsigned n = (unsigned)strtoul(p + strlen("\"day\":{\"messages\":"), NULL, 10);
    free(json);
    sg_ob_account_free(a);
    return n;
}

#endif
