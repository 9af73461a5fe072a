/* spoofguard-view's access control (src/viewer/auth.c): yescrypt hashes
 * through crypt_r, the password file, login throttling, session expiry
 * and CSRF tokens. Times are passed in, so expiry is tested exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <crypt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "viewer_test.h"

#define T0 1800000000LL

/* sgv_auth_login from the peer address addr. */
static sgv_login_result login(sgv_auth *a, const char *user, const char *pw, const char *addr,
                              long long now, char token[SGV_TOKEN_HEX + 1])
{
    sgv_client_key k = viewer_test_key(addr);
    return sgv_auth_login(a, user, pw, &k, now, token);
}

static char *write_passwd(const char *content)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/sgv-passwd-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return path;
}

static sgv_auth *auth_with(const char *user, const char *pw)
{
    char hash[512], line[700], err[256] = "";
    sgv_auth *a = NULL;
    assert_int_equal(sgv_hash_password(pw, hash, sizeof(hash)), 0);
    snprintf(line, sizeof(line), "# comment\n\n%s:%s\n", user, hash);
    char *path = write_passwd(line);
    assert_int_equal(sgv_auth_new(&a, path, err, sizeof(err)), 0);
    unlink(path);
    assert_true(sgv_auth_enabled(a));
    return a;
}

static void hash_round_trip(void **state)
{
    char h1[512], h2[512];
    assert_int_equal(sgv_hash_password("s3cret pass", h1, sizeof(h1)), 0);
    assert_int_equal(sgv_hash_password("s3cret pass", h2, sizeof(h2)), 0);
    assert_memory_equal(h1, "$y$", 3); /* yescrypt */
    assert_string_not_equal(h1, h2);   /* a fresh salt each time */
    assert_true(sgv_password_check("s3cret pass", h1));
    assert_true(sgv_password_check("s3cret pass", h2));
    assert_false(sgv_password_check("s3cret pasS", h1));
    assert_false(sgv_password_check("", h1));
    assert_false(sgv_password_check("s3cret pass", "*0"));
    assert_false(sgv_password_check("s3cret pass", "$y$broken"));
    assert_false(sgv_password_check(NULL, h1));
    /* the check itself is crypt(3)'s, any scheme (SHA-512 crypt, the glibc
     * test vector); the password file is what admits yescrypt only */
    assert_true(sgv_password_check(
        "Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJu"
                        "esI68u4OTLiBFdcbYEdFCoEOfaS35inz1"));
}

/* A yescrypt hash of pw with the cost count (crypt_gensalt: 0 the default). */
static void yescrypt_hash(const char *prefix, unsigned long count, const char *pw, char *out,
                          size_t cap)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data cd;
    memset(&cd, 0, sizeof(cd));
    assert_non_null(crypt_gensalt_rn(prefix, count, NULL, 0, salt, sizeof(salt)));
    const char *h = crypt_r(pw, salt, &cd);
    assert_true(h != NULL && h[0] == '$' && strlen(h) < cap);
    strcpy(out, h);
}

/* sgv_auth_new on content: 0, or -1 with err holding file:line and want. */
static void expect_refused(const char *content, int line, const char *want)
{
    char err[512] = "", at[128];
    sgv_auth *a = NULL;
    char *path = write_passwd(content);
    assert_int_equal(sgv_auth_new(&a, path, err, sizeof(err)), -1);
    assert_null(a);
    snprintf(at, sizeof(at), "%s:%d: ", path, line);
    if (strstr(err, at) == NULL || strstr(err, want) == NULL)
        fail_msg("refusal of [%s]: got [%s], want [%s] and [%s]", content, err, at, want);
    unlink(path);
}

static void password_file_errors(void **state)
{
    static const char *const bad[] = {
        "nocolon\n", "user:plaintext\n",  ":$y$j9T$abc$def\n", "# only a comment\n",
        "",          "user:$unknown$x\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        sgv_auth *a = NULL;
        char *path = write_passwd(bad[i]);
        assert_int_equal(sgv_auth_new(&a, path, err, sizeof(err)), -1);
        assert_null(a);
        assert_true(err[0] != '\0');
        unlink(path);
    }
    char err[256] = "";
    sgv_auth *a = NULL;
    assert_int_equal(sgv_auth_new(&a, "/nonexistent/passwd", err, sizeof(err)), -1);
}

/* yescrypt only (the dummy for unknown users costs what the accounts
 * cost, and no weak method); a user once; no empty password (adv32 F3). */
static void password_file_yescrypt_only(void **state)
{
    char good[256], empty[256], line[1024];
    assert_int_equal(sgv_hash_password("pw", good, sizeof(good)), 0);
    /* MD5-crypt and SHA-512-crypt (glibc test vectors), even after a good line */
    snprintf(line, sizeof(line), "a:%s\nb:$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1\n", good);
    expect_refused(line, 2, "--hash-password");
    expect_refused("b:$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4"
                   "OTLiBFdcbYEdFCoEOfaS35inz1\n",
                   1, "not a yescrypt hash");
    expect_refused("b:$1$abc\n", 1, "not a yescrypt hash");
    /* a setting without its hash matches no password */
    char setting[64];
    assert_int_equal(sgv_hash_setting(good, setting, sizeof(setting)), 0);
    snprintf(line, sizeof(line), "b:%s\n", setting);
    expect_refused(line, 1, "--hash-password");
    yescrypt_hash("$y$", 0, "", empty, sizeof(empty));
    snprintf(line, sizeof(line), "# x\nb:%s\n", empty);
    expect_refused(line, 2, "empty password");
    /* the same user twice: the second line would replace the first */
    snprintf(line, sizeof(line), "a:%s\n\nb:%s\na:%s\n", good, good, good);
    expect_refused(line, 4, "user a again (first on line 1)");
    /* gost-yescrypt is yescrypt too */
    char gy[256];
    yescrypt_hash("$gy$", 0, "pw", gy, sizeof(gy));
    snprintf(line, sizeof(line), "a:%s\nb:%s\n", gy, good);
    char *path = write_passwd(line);
    char err[256] = "";
    sgv_auth *a = NULL;
    assert_int_equal(sgv_auth_new(&a, path, err, sizeof(err)), 0);
    unlink(path);
    char token[SGV_TOKEN_HEX + 1];
    assert_int_equal(login(a, "a", "pw", "10.0.0.1", T0, token), SGV_LOGIN_OK);
    assert_int_equal(login(a, "b", "pw", "10.0.0.1", T0, token), SGV_LOGIN_OK);
    sgv_auth_free(a);
}

/* An unknown user is hashed against a dummy made with the first account's
 * setting (method and cost), so it costs what that account costs: the
 * answer's time does not tell which names exist. */
static void dummy_costs_like_first_account(void **state)
{
    char cheap[256], dflt[256], line[700], s1[64], s2[64], s3[64];
    yescrypt_hash("$y$", 3, "pw", cheap, sizeof(cheap)); /* not the default cost */
    yescrypt_hash("$y$", 0, "pw", dflt, sizeof(dflt));
    assert_int_equal(sgv_hash_setting(cheap, s1, sizeof(s1)), 0);
    assert_int_equal(sgv_hash_setting(dflt, s2, sizeof(s2)), 0);
    assert_string_not_equal(s1, s2);
    snprintf(line, sizeof(line), "first:%s\nsecond:%s\n", cheap, dflt);
    char *path = write_passwd(line);
    char err[256] = "";
    sgv_auth *a = NULL;
    assert_int_equal(sgv_auth_new(&a, path, err, sizeof(err)), 0);
    unlink(path);
    assert_int_equal(sgv_hash_setting(sgv_auth_dummy_hash(a), s3, sizeof(s3)), 0);
    assert_string_equal(s3, s1);
    char token[SGV_TOKEN_HEX + 1];
    assert_int_equal(login(a, "nobody", "not a password", "10.0.0.1", T0, token), SGV_LOGIN_BAD);
    sgv_auth_free(a);
    assert_int_equal(sgv_hash_setting("$6$salt$hash", s3, sizeof(s3)), -1);
    assert_int_equal(sgv_hash_setting("$y$j9T", s3, sizeof(s3)), -1);
    assert_int_equal(sgv_hash_setting(dflt, s3, 4), -1);
}

static void login_and_sessions(void **state)
{
    sgv_auth *a = auth_with("reader", "right");
    char token[SGV_TOKEN_HEX + 1];
    sgv_session s;
    assert_int_equal(login(a, "reader", "wrong", "10.0.0.1", T0, token), SGV_LOGIN_BAD);
    assert_int_equal(login(a, "nobody", "right", "10.0.0.1", T0, token), SGV_LOGIN_BAD);
    assert_int_equal(login(a, "reader", "right", "10.0.0.1", T0, token), SGV_LOGIN_OK);
    assert_int_equal(strlen(token), SGV_TOKEN_HEX);
    assert_true(sgv_auth_session(a, token, T0 + 10, &s));
    assert_true(s.authenticated);
    assert_string_equal(s.user, "reader");
    assert_int_equal(strlen(s.csrf), SGV_TOKEN_HEX);
    /* a second login is a new session (no fixation) */
    char again[SGV_TOKEN_HEX + 1];
    assert_int_equal(login(a, "reader", "right", "10.0.0.1", T0, again), SGV_LOGIN_OK);
    assert_string_not_equal(again, token);
    /* unknown, malformed, missing tokens */
    char other[SGV_TOKEN_HEX + 1];
    memcpy(other, token, sizeof(other));
    other[0] = other[0] == 'a' ? 'b' : 'a';
    assert_false(sgv_auth_session(a, other, T0 + 10, &s));
    assert_false(sgv_auth_session(a, "abc", T0 + 10, &s));
    assert_false(sgv_auth_session(a, NULL, T0 + 10, &s));
    /* logout ends it */
    sgv_auth_logout(a, token);
    assert_false(sgv_auth_session(a, token, T0 + 11, &s));
    sgv_auth_free(a);
}

/* The login form's state is the browser's (adv32 F1): no number of forms
 * made for others makes a reader's form fail, and no form is a session. */
static void login_form(void **state)
{
    sgv_auth *a = auth_with("reader", "right");
    char cookie[SGV_LOGIN_COOKIE_HEX + 1], csrf[SGV_TOKEN_HEX + 1];
    char c2[SGV_LOGIN_COOKIE_HEX + 1], x2[SGV_TOKEN_HEX + 1], token[SGV_TOKEN_HEX + 1];
    sgv_session s;
    assert_int_equal(sgv_auth_login_form(a, T0, cookie, csrf), 0);
    assert_int_equal(strlen(cookie), SGV_LOGIN_COOKIE_HEX);
    assert_int_equal(strlen(csrf), SGV_TOKEN_HEX);
    /* a flood of forms for others, and more logins than the session table holds */
    for (int i = 0; i < 600; i++)
        assert_int_equal(sgv_auth_login_form(a, T0 + 1, c2, x2), 0);
    assert_true(sgv_auth_login_form_ok(a, cookie, csrf, T0 + 2));
    assert_false(sgv_auth_session(a, cookie, T0 + 2, &s)); /* not a session */
    assert_int_equal(login(a, "reader", "right", "10.0.0.1", T0 + 2, token), SGV_LOGIN_OK);
    assert_true(sgv_auth_session(a, token, T0 + 2, &s));
    /* another form's token, a token cut short or empty, no cookie */
    assert_string_not_equal(c2, cookie);
    assert_false(sgv_auth_login_form_ok(a, cookie, x2, T0 + 2));
    assert_false(sgv_auth_login_form_ok(a, c2, csrf, T0 + 2));
    char cut[SGV_TOKEN_HEX + 1];
    memcpy(cut, csrf, sizeof(cut));
    cut[SGV_TOKEN_HEX - 1] = '\0';
    assert_false(sgv_auth_login_form_ok(a, cookie, cut, T0 + 2));
    assert_false(sgv_auth_login_form_ok(a, cookie, "", T0 + 2));
    assert_false(sgv_auth_login_form_ok(a, cookie, NULL, T0 + 2));
    assert_false(sgv_auth_login_form_ok(a, NULL, csrf, T0 + 2));
    assert_false(sgv_auth_login_form_ok(a, "", csrf, T0 + 2));
    /* usable for SGV_PRESESSION_LIFETIME seconds, not one more */
    assert_true(sgv_auth_login_form_ok(a, cookie, csrf, T0 + SGV_PRESESSION_LIFETIME - 1));
    assert_false(sgv_auth_login_form_ok(a, cookie, csrf, T0 + SGV_PRESESSION_LIFETIME));
    /* the cookie's time cannot be moved: its token no longer matches */
    char moved[SGV_LOGIN_COOKIE_HEX + 1];
    memcpy(moved, cookie, sizeof(moved));
    moved[SGV_LOGIN_COOKIE_HEX - 3] = moved[SGV_LOGIN_COOKIE_HEX - 3] == '0' ? '1' : '0';
    assert_false(sgv_auth_login_form_ok(a, moved, csrf, T0 + 2));
    /* the nonce neither; nor upper case hex */
    memcpy(moved, cookie, sizeof(moved));
    moved[0] = moved[0] == 'a' ? 'b' : 'a';
    assert_false(sgv_auth_login_form_ok(a, moved, csrf, T0 + 2));
    memcpy(moved, cookie, sizeof(moved));
    moved[0] = 'A';
    assert_false(sgv_auth_login_form_ok(a, moved, csrf, T0 + 2));
    /* a form from the future: only a clock stepped back a little */
    assert_int_equal(sgv_auth_login_form(a, T0 + 3600, c2, x2), 0);
    assert_false(sgv_auth_login_form_ok(a, c2, x2, T0));
    assert_true(sgv_auth_login_form_ok(a, c2, x2, T0 + 3600 - 60));
    /* another process (another key) made it: refused */
    sgv_auth *b = auth_with("reader", "right");
    assert_false(sgv_auth_login_form_ok(b, cookie, csrf, T0 + 2));
    sgv_auth_free(b);
    sgv_auth_free(a);
}

static void session_expiry(void **state)
{
    sgv_auth *a = auth_with("reader", "right");
    char token[SGV_TOKEN_HEX + 1];
    sgv_session s;
    /* idle timeout */
    assert_int_equal(login(a, "reader", "right", "192.0.2.7", T0, token), SGV_LOGIN_OK);
    assert_true(sgv_auth_session(a, token, T0 + SGV_SESSION_IDLE - 1, &s));
    assert_false(sgv_auth_session(a, token, T0 + 2 * SGV_SESSION_IDLE, &s));
    /* absolute lifetime, however busy */
    assert_int_equal(login(a, "reader", "right", "192.0.2.7", T0, token), SGV_LOGIN_OK);
    long long t;
    for (t = T0; t < T0 + SGV_SESSION_LIFETIME; t += 600)
        assert_true(sgv_auth_session(a, token, t, &s));
    assert_false(sgv_auth_session(a, token, T0 + SGV_SESSION_LIFETIME, &s));
    sgv_auth_free(a);
}

static void throttling(void **state)
{
    sgv_auth *a = auth_with("reader", "right");
    char token[SGV_TOKEN_HEX + 1];
    long long t = T0;
    for (int i = 0; i < SGV_THROTTLE_FREE; i++)
        assert_int_equal(login(a, "reader", "bad", "10.0.0.9", t, token), SGV_LOGIN_BAD);
    /* now even the right password waits, and costs no hashing */
    assert_int_equal(login(a, "reader", "right", "10.0.0.9", t, token), SGV_LOGIN_THROTTLED);
    /* another client is not held up */
    assert_int_equal(login(a, "reader", "right", "10.0.0.10", t, token), SGV_LOGIN_OK);
    /* after 2^0 s one more try; failing doubles the wait */
    assert_int_equal(login(a, "reader", "bad", "10.0.0.9", t + 1, token), SGV_LOGIN_BAD);
    assert_int_equal(login(a, "reader", "right", "10.0.0.9", t + 2, token), SGV_LOGIN_THROTTLED);
    assert_int_equal(login(a, "reader", "bad", "10.0.0.9", t + 3, token), SGV_LOGIN_BAD);
    assert_int_equal(login(a, "reader", "right", "10.0.0.9", t + 6, token), SGV_LOGIN_THROTTLED);
    /* a success resets the count */
    assert_int_equal(login(a, "reader", "right", "10.0.0.9", t + 7, token), SGV_LOGIN_OK);
    assert_int_equal(login(a, "reader", "bad", "10.0.0.9", t + 7, token), SGV_LOGIN_BAD);
    assert_int_equal(login(a, "reader", "right", "10.0.0.9", t + 7, token), SGV_LOGIN_OK);
    /* a long quiet forgets the count: the next failure is the first */
    long long t2 = t + 100;
    for (int i = 0; i < SGV_THROTTLE_FREE; i++)
        assert_int_equal(login(a, "reader", "bad", "10.0.0.11", t2, token), SGV_LOGIN_BAD);
    assert_int_equal(login(a, "reader", "bad", "10.0.0.11", t2, token), SGV_LOGIN_THROTTLED);
    assert_int_equal(login(a, "reader", "bad", "10.0.0.11", t2 + 1, token), SGV_LOGIN_BAD);
    assert_int_equal(login(a, "reader", "bad", "10.0.0.11", t2 + 3, token), SGV_LOGIN_BAD);
    t2 += 3 + SGV_THROTTLE_FORGET;
    for (int i = 0; i < SGV_THROTTLE_FREE; i++)
        assert_int_equal(login(a, "reader", "bad", "10.0.0.11", t2, token), SGV_LOGIN_BAD);
    assert_int_equal(login(a, "reader", "right", "10.0.0.11", t2, token), SGV_LOGIN_THROTTLED);
    sgv_auth_free(a);
}

/* A client is an IPv4 address or an IPv6 /64, as for the connection pool:
 * failures from addresses rotated inside one /64 add up. */
static void throttling_by_64(void **state)
{
    sgv_auth *a = auth_with("reader", "right");
    char token[SGV_TOKEN_HEX + 1], addr[64];
    for (int i = 1; i <= SGV_THROTTLE_FREE; i++) {
        snprintf(addr, sizeof(addr), "2001:db8::%x", i); /* a new address each time */
        assert_int_equal(login(a, "reader", "bad", addr, T0, token), SGV_LOGIN_BAD);
    }
    /* any address of that /64 is held up, even with the right password */
    assert_int_equal(login(a, "reader", "right", "2001:db8::1", T0, token), SGV_LOGIN_THROTTLED);
    assert_int_equal(login(a, "reader", "right", "2001:db8::ffff:eeee:dddd:cccc", T0, token),
                     SGV_LOGIN_THROTTLED);
    /* the next /64 is another client */
    assert_int_equal(login(a, "reader", "right", "2001:db8:0:1::1", T0, token), SGV_LOGIN_OK);
    /* IPv4: the address; a mapped address is the same client */
    for (int i = 0; i < SGV_THROTTLE_FREE; i++)
        assert_int_equal(
            login(a, "reader", "bad", i % 2 ? "192.0.2.9" : "::ffff:192.0.2.9", T0, token),
            SGV_LOGIN_BAD);
    assert_int_equal(login(a, "reader", "right", "192.0.2.9", T0, token), SGV_LOGIN_THROTTLED);
    assert_int_equal(login(a, "reader", "right", "::ffff:192.0.2.9", T0, token),
                     SGV_LOGIN_THROTTLED);
    assert_int_equal(login(a, "reader", "right", "192.0.2.10", T0, token), SGV_LOGIN_OK);
    /* no address (NULL): one shared key, throttled like any client */
    for (int i = 0; i < SGV_THROTTLE_FREE; i++)
        assert_int_equal(sgv_auth_login(a, "reader", "bad", NULL, T0, token), SGV_LOGIN_BAD);
    assert_int_equal(sgv_auth_login(a, "reader", "right", NULL, T0, token), SGV_LOGIN_THROTTLED);
    sgv_auth_free(a);
}

/* The table of clients is full: no live entry is evicted (the attacker
 * cannot clear his own count by failing from other /64s), and the clients
 * that found no entry share one count. */
static void throttling_table_full(void **state)
{
    sgv_auth *a = auth_with("reader", "right");
    char token[SGV_TOKEN_HEX + 1], addr[64];
    long long t = T0;
    /* the attacker's own client is held up */
    for (int i = 0; i < SGV_THROTTLE_FREE; i++)
        assert_int_equal(login(a, "reader", "bad", "2001:db8:ffff:1::1", t, token), SGV_LOGIN_BAD);
    /* he fails once from each of many other /64s: the table fills, and
     * the further /64s share the overflow count */
    for (int i = 0; i < SGV_THROTTLE_CLIENTS - 1 + SGV_THROTTLE_FREE; i++) {
        snprintf(addr, sizeof(addr), "2001:db8:%x::1", i);
        assert_int_equal(login(a, "reader", "bad", addr, t, token), SGV_LOGIN_BAD);
    }
    /* his own count stands */
    assert_int_equal(login(a, "reader", "right", "2001:db8:ffff:1::1", t, token),
                     SGV_LOGIN_THROTTLED);
    /* a client never seen is not followed on its own: it waits with the
     * other overflow clients (a global slow-down, not free guesses) */
    assert_int_equal(login(a, "reader", "bad", "198.51.100.1", t, token), SGV_LOGIN_THROTTLED);
    assert_int_equal(login(a, "reader", "right", "2001:db8:eeee::1", t, token),
                     SGV_LOGIN_THROTTLED);
    /* a client that has its entry still has its own count */
    assert_int_equal(login(a, "reader", "right", "2001:db8:0::1", t, token), SGV_LOGIN_OK);
    /* that success freed an entry: the next new client gets it (and the
     * table is full again) */
    assert_int_equal(login(a, "reader", "bad", "198.51.100.2", t, token), SGV_LOGIN_BAD);
    /* the overflow count follows the same rules: one more try after 2^0 s,
     * then 2^1 s */
    assert_int_equal(login(a, "reader", "bad", "198.51.100.3", t + 1, token), SGV_LOGIN_BAD);
    assert_int_equal(login(a, "reader", "bad", "198.51.100.4", t + 2, token), SGV_LOGIN_THROTTLED);
    /* a success there does not reset the count shared with the attacker... */
    assert_int_equal(login(a, "reader", "right", "198.51.100.5", t + 3, token), SGV_LOGIN_OK);
    assert_int_equal(login(a, "reader", "right", "198.51.100.6", t + 3, token),
                     SGV_LOGIN_THROTTLED);
    /* ...it takes back its own attempt only: the wait is still 2^1 s */
    assert_int_equal(login(a, "reader", "right", "198.51.100.6", t + 5, token), SGV_LOGIN_OK);
    /* entries quiet for SGV_THROTTLE_FORGET seconds are forgotten: room again */
    t += 5 + SGV_THROTTLE_FORGET;
    assert_int_equal(login(a, "reader", "right", "2001:db8:ffff:1::1", t, token), SGV_LOGIN_OK);
    assert_int_equal(login(a, "reader", "right", "198.51.100.6", t, token), SGV_LOGIN_OK);
    sgv_auth_free(a);
}

static void csrf(void **state)
{
    sgv_auth *a = auth_with("reader", "right");
    char t1[SGV_TOKEN_HEX + 1], t2[SGV_TOKEN_HEX + 1];
    sgv_session s1, s2;
    assert_int_equal(login(a, "reader", "right", "192.0.2.7", T0, t1), SGV_LOGIN_OK);
    assert_int_equal(login(a, "reader", "right", "192.0.2.7", T0, t2), SGV_LOGIN_OK);
    assert_true(sgv_auth_session(a, t1, T0, &s1));
    assert_true(sgv_auth_session(a, t2, T0, &s2));
    assert_true(sgv_auth_csrf_ok(s1.csrf, s1.csrf));
    assert_false(sgv_auth_csrf_ok(s1.csrf, s2.csrf)); /* another session's token */
    char cut[SGV_TOKEN_HEX + 1];
    memcpy(cut, s1.csrf, sizeof(cut));
    cut[SGV_TOKEN_HEX - 1] = '\0';
    assert_false(sgv_auth_csrf_ok(s1.csrf, cut));
    assert_false(sgv_auth_csrf_ok(s1.csrf, ""));
    assert_false(sgv_auth_csrf_ok(s1.csrf, NULL));
    assert_false(sgv_auth_csrf_ok("", ""));
    assert_false(sgv_auth_csrf_ok(NULL, s1.csrf));
    sgv_auth_free(a);
}

static void no_login_mode(void **state)
{
    sgv_auth *a = NULL;
    char err[64], token[SGV_TOKEN_HEX + 1];
    sgv_session s1, s2;
    assert_int_equal(sgv_auth_new(&a, NULL, err, sizeof(err)), 0);
    assert_false(sgv_auth_enabled(a));
    assert_true(sgv_auth_session(a, NULL, T0, &s1));
    assert_true(s1.authenticated);
    assert_int_equal(strlen(s1.csrf), SGV_TOKEN_HEX); /* state changes still need it */
    assert_true(sgv_auth_session(a, "x", T0, &s2));
    assert_string_equal(s1.csrf, s2.csrf);
    assert_int_equal(login(a, "u", "p", "192.0.2.7", T0, token), SGV_LOGIN_ERROR);
    sgv_auth_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_round_trip),
        cmocka_unit_test(password_file_errors),
        cmocka_unit_test(password_file_yescrypt_only),
        cmocka_unit_test(dummy_costs_like_first_account),
        cmocka_unit_test(login_and_sessions),
        cmocka_unit_test(login_form),
        cmocka_unit_test(session_expiry),
        cmocka_unit_test(throttling),
        cmocka_unit_test(throttling_by_64),
        cmocka_unit_test(throttling_table_full),
        cmocka_unit_test(csrf),
        cmocka_unit_test(no_login_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
