/*
 * Who may read: the password file, sessions, CSRF tokens and login
 * throttling of spoofguard-view.
 *
 * Password file lines are `user:HASH` with a yescrypt crypt(3) hash ("$y$"
 * or "$gy$", made by `spoofguard-view --hash-password`; other methods, a
 * user twice, the hash of an empty password are refused); `#` starts a
 * comment. A session is a 256-bit random token (getrandom) in the cookie
 * `sg_session`, with its own 256-bit CSRF token that every state change
 * must send back. Only a login takes a session: the login form's CSRF
 * token is stateless (sgv_auth_login_form), so no number of forms fetched
 * by others evicts a reader's; a successful login makes a new session (no
 * fixation). Without a password file the viewer has no login: one implicit
 * session whose CSRF token is random per process.
 *
 * Times are passed in (seconds), so the tests can move the clock. Thread
 * safe: one mutex inside.
 */
#ifndef SG_VIEWER_AUTH_H
#define SG_VIEWER_AUTH_H

#include <stddef.h>

#include "client.h"

#define SGV_TOKEN_HEX 64 /* 32 random bytes, hex */
#define SGV_USER_MAX 64
#define SGV_MAX_SESSIONS 256
#define SGV_SESSION_LIFETIME (12 * 3600) /* absolute, seconds */
#define SGV_SESSION_IDLE (2 * 3600)      /* without a request */
#define SGV_PRESESSION_LIFETIME 900      /* a login form stays usable this long */
#define SGV_LOGIN_COOKIE_HEX 64          /* the sg_login cookie: nonce and time, hex */
/* Throttling: after SGV_THROTTLE_FREE failed logins from one client (an
 * IPv4 address or an IPv6 /64, client.h: the connection pool's client),
 * each further attempt waits 2^(failures - FREE) seconds after the last
 * failure, at most SGV_THROTTLE_MAX; a success or SGV_THROTTLE_FORGET
 * quiet seconds reset the count. Refused attempts cost no hashing. An
 * attempt is counted as a failure before its password is hashed (a success
 * takes it back), so concurrent attempts cannot all pass one check.
 *
 * SGV_THROTTLE_CLIENTS clients with failures are followed one by one. When
 * that many have failed within SGV_THROTTLE_FORGET seconds, no entry is
 * evicted (evicting would let an attacker clear his own count by failing
 * from other addresses, and a churning table counts nobody): every further
 * client shares one overflow count with the same rules, a global slow-down
 * for clients not followed until entries are forgotten. A success does not
 * reset that shared count, it only takes back its own attempt. */
#define SGV_THROTTLE_FREE 5
#define SGV_THROTTLE_MAX 300
#define SGV_THROTTLE_FORGET 900
#define SGV_THROTTLE_CLIENTS 128

typedef struct sgv_auth sgv_auth;

/* password_file NULL: no login (the caller allows this on loopback only).
 * Returns 0, or -1 with a message in err naming file:line (unreadable file,
 * a line that is not user:HASH, a hash that is not a whole yescrypt hash
 * crypt(3) knows, the hash of an empty password, a user twice, no user). */
int sgv_auth_new(sgv_auth **out, const char *password_file, char *err, size_t errlen);
void sgv_auth_free(sgv_auth *a);
int sgv_auth_enabled(const sgv_auth *a);

/* A yescrypt crypt(3) hash of pw into out (cap >= 128). Returns 0 or -1. */
int sgv_hash_password(const char *pw, char *out, size_t cap);
/* 1 if pw matches hash (crypt_r, constant-time comparison), else 0. */
int sgv_password_check(const char *pw, const char *hash);
/* The method and cost of a yescrypt hash ("$y$j9T$" of "$y$j9T$SALT$HASH")
 * into out. Returns 0, or -1 (not yescrypt, or cap too small). */
int sgv_hash_setting(const char *hash, char *out, size_t cap);
/* The hash an unknown user's password is checked against: made with the
 * first account's setting, so that it costs the same (for the tests). */
const char *sgv_auth_dummy_hash(const sgv_auth *a);

typedef enum {
    SGV_LOGIN_OK = 0,
    SGV_LOGIN_BAD,
    SGV_LOGIN_THROTTLED,
    SGV_LOGIN_ERROR
} sgv_login_result;

/* Checks user/password for client (sgv_client_key_of the peer, for
 * throttling; NULL: the all-zero key). On success a new authenticated
 * session's token goes to token. */
sgv_login_result sgv_auth_login(sgv_auth *a, const char *user, const char *pw,
                                const sgv_client_key *client, long long now,
                                char token[SGV_TOKEN_HEX + 1]);

typedef struct {
    int authenticated;
    char user[SGV_USER_MAX];
    char csrf[SGV_TOKEN_HEX + 1];
} sgv_session;

/* The live session with this token (NULL or unknown: 0). Touches it. In
 * no-login mode every request has the implicit authenticated session. */
int sgv_auth_session(sgv_auth *a, const char *token, long long now, sgv_session *out);
/* A login form: the value of its cookie sg_login (a random nonce and the
 * time now) and its CSRF token (an HMAC of the cookie under a random key of
 * this process). Nothing is stored. Returns 0 or -1. */
int sgv_auth_login_form(const sgv_auth *a, long long now, char cookie[SGV_LOGIN_COOKIE_HEX + 1],
                        char csrf[SGV_TOKEN_HEX + 1]);
/* 1 if csrf is the token of the form whose cookie this is, compared in
 * constant time, and the form is younger than SGV_PRESESSION_LIFETIME;
 * else (NULL, malformed, another form's, expired) 0. */
int sgv_auth_login_form_ok(const sgv_auth *a, const char *cookie, const char *csrf, long long now);
void sgv_auth_logout(sgv_auth *a, const char *token);

/* 1 if given equals expected (a CSRF token), compared in constant time;
 * NULL or a different length: 0. */
int sgv_auth_csrf_ok(const char *expected, const char *given);

#endif
