/* Password file, sessions, CSRF tokens and login throttling (see auth.h). */
#include "auth.h"

#include <crypt.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

typedef struct {
    char user[SGV_USER_MAX];
    char *hash;
    size_t lineno; /* in the password file, to name a duplicate's first line */
} account;

/* A logged-in session: the table holds nothing else, so only a right
 * password takes (or evicts for) a slot. */
typedef struct {
    int used;
    char token[SGV_TOKEN_HEX + 1];
    char csrf[SGV_TOKEN_HEX + 1];
    char user[SGV_USER_MAX];
    long long created, last;
} session;

/* A client's failed logins; failures 0: a free entry. */
typedef struct {
    sgv_client_key client;
    unsigned failures;
    long long last_fail;
} throttle;

struct sgv_auth {
    pthread_mutex_t lock;
    account *accounts;
    size_t naccounts;
    session sessions[SGV_MAX_SESSIONS];
    throttle throttles[SGV_THROTTLE_CLIENTS];
    throttle overflow; /* shared by the clients that found no free entry (auth.h) */
    char local_csrf[SGV_TOKEN_HEX + 1]; /* no-login mode */
    char dummy_hash[CRYPT_OUTPUT_SIZE]; /* hashed against for unknown users */
    /* keys the login form's token (sgv_auth_login_form); random per
     * process and never written anywhere, so a restart voids open forms */
    unsigned char form_key[32];
};

/* ---- random tokens --------------------------------------------------------- */

static int random_bytes(unsigned char *raw, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(raw + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

/* len bytes as 2 * len lowercase hex digits and a NUL */
static void to_hex(const unsigned char *raw, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = "0123456789abcdef"[raw[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[raw[i] & 15];
    }
    out[2 * len] = '\0';
}

static int random_hex(char out[SGV_TOKEN_HEX + 1])
{
    unsigned char raw[SGV_TOKEN_HEX / 2];
    if (random_bytes(raw, sizeof(raw)) != 0)
        return -1;
    to_hex(raw, sizeof(raw), out);
    return 0;
}

/* Constant time in the length of a (the secret side). */
static int equal_ct(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la; i++)
        d |= (unsigned char)(a[i] ^ (i < lb ? b[i] : 0));
    return d == 0;
}

int sgv_auth_csrf_ok(const char *expected, const char *given)
{
    if (expected == NULL || given == NULL || expected[0] == '\0')
        return 0;
    return equal_ct(expected, given);
}

/* ---- passwords ------------------------------------------------------------- */

int sgv_hash_password(const char *pw, char *out, size_t cap)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data *cd;
    int rc = -1;
    /* NULL random bytes: libxcrypt draws them from the system itself;
     * count 0: its default cost for yescrypt */
    if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL)
        return -1;
    if ((cd = calloc(1, sizeof(*cd))) == NULL)
        return -1;
    const char *h = crypt_r(pw, salt, cd);
    if (h != NULL && h[0] == '$' && strlen(h) < cap) {
        strcpy(out, h);
        rc = 0;
    }
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return rc;
}

int sgv_password_check(const char *pw, const char *hash)
{
    struct crypt_data *cd;
    int ok = 0;
    /* a failed crypt returns "*0" or "*1" (never equal to a real hash) */
    if (pw == NULL || hash == NULL || hash[0] != '$' || (cd = calloc(1, sizeof(*cd))) == NULL)
        return 0;
    const char *h = crypt_r(pw, hash, cd);
    if (h != NULL && h[0] == '$')
        ok = equal_ct(hash, h);
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return ok;
}

/* ---- the password file --------------------------------------------------------- */

static int load_file(sgv_auth *a, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    char line[1024];
    size_t lineno = 0;
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        size_t n = strlen(line);
        lineno++;
        if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
            snprintf(err, errlen, "%s:%zu: line too long", path, lineno);
            goto fail;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        char *colon = strchr(p, ':');
        if (colon == NULL || colon == p || (size_t)(colon - p) >= SGV_USER_MAX || colon[1] != '$') {
            snprintf(err, errlen, "%s:%zu: expected user:HASH (a crypt(3) hash)", path, lineno);
            goto fail;
        }
        *colon = '\0';
        const char *hash = colon + 1;
        /* one method only: the dummy an unknown user is hashed against
         * (sgv_auth_new) costs what the accounts cost, so the answer's
         * time does not tell which names exist; and no weak old method */
        if (strncmp(hash, "$y$", 3) != 0 && strncmp(hash, "$gy$", 4) != 0) {
            snprintf(err, errlen,
                     "%s:%zu: not a yescrypt hash ($y$): make one with "
                     "spoofguard-view --hash-password",
                     path, lineno);
            goto fail;
        }
        /* crypt(3) must know it (checked now, not at login), and it must be
         * a whole hash: a setting alone, which no password matches, gives a
         * longer result */
        struct crypt_data *cd = calloc(1, sizeof(*cd));
        const char *h = cd ? crypt_r("", hash, cd) : NULL;
        int known = h != NULL && h[0] == '$' && strlen(h) == strlen(hash);
        int empty = known && strcmp(h, hash) == 0;
        free(cd);
        if (!known) {
            snprintf(err, errlen,
                     "%s:%zu: not a complete yescrypt hash this system's crypt(3) knows: "
                     "make one with spoofguard-view --hash-password",
                     path, lineno);
            goto fail;
        }
        if (empty) {
            snprintf(err, errlen, "%s:%zu: the hash of an empty password", path, lineno);
            goto fail;
        }
        /* a second line would silently replace the first one's password */
        for (size_t i = 0; i < a->naccounts; i++) {
            if (!strcmp(a->accounts[i].user, p)) {
                snprintf(err, errlen, "%s:%zu: user %s again (first on line %zu)", path, lineno, p,
                         a->accounts[i].lineno);
                goto fail;
            }
        }
        account *na = realloc(a->accounts, (a->naccounts + 1) * sizeof(*na));
        if (na == NULL)
            goto oom;
        a->accounts = na;
        /* the name's length is checked above: shorter than SGV_USER_MAX */
        memcpy(na[a->naccounts].user, p, (size_t)(colon - p) + 1);
        na[a->naccounts].lineno = lineno;
        if ((na[a->naccounts].hash = strdup(hash)) == NULL)
            goto oom;
        a->naccounts++;
    }
    fclose(f);
    if (a->naccounts == 0) {
        snprintf(err, errlen, "%s: no user:HASH line", path);
        return -1;
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    fclose(f);
    return -1;
}

/* The dummy an unknown user's password is hashed against: the first
 * account's setting (method, cost and salt), so it costs what that account
 * costs. It never matches (sgv_auth_login asks for a known user too). */
static int make_dummy(sgv_auth *a)
{
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    int rc = -1;
    if (cd == NULL)
        return -1;
    const char *h = crypt_r("not a password", a->accounts[0].hash, cd);
    if (h != NULL && h[0] == '$' && strlen(h) < sizeof(a->dummy_hash)) {
        strcpy(a->dummy_hash, h);
        rc = 0;
    }
    free(cd);
    return rc;
}

int sgv_hash_setting(const char *hash, char *out, size_t cap)
{
    /* "$y$PARAMS$SALT$HASH" or "$gy$...": method and cost end at the third '$' */
    const char *p = hash;
    for (int n = 0; p != NULL && n < 3; n++)
        p = strchr(p + (n > 0), '$');
    if (p == NULL || (strncmp(hash, "$y$", 3) != 0 && strncmp(hash, "$gy$", 4) != 0) ||
        (size_t)(p - hash) + 1 >= cap)
        return -1;
    memcpy(out, hash, (size_t)(p - hash) + 1);
    out[p - hash + 1] = '\0';
    return 0;
}

const char *sgv_auth_dummy_hash(const sgv_auth *a)
{
    return a->dummy_hash;
}

int sgv_auth_new(sgv_auth **out, const char *password_file, char *err, size_t errlen)
{
    sgv_auth *a = calloc(1, sizeof(*a));
    *out = NULL;
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&a->lock, NULL);
    if (random_hex(a->local_csrf) != 0 || random_bytes(a->form_key, sizeof(a->form_key)) != 0) {
        snprintf(err, errlen, "getrandom failed");
        sgv_auth_free(a);
        return -1;
    }
    if (password_file != NULL) {
        if (load_file(a, password_file, err, errlen) != 0 || make_dummy(a) != 0) {
            if (err[0] == '\0')
                snprintf(err, errlen, "crypt(3) cannot make a yescrypt hash");
            sgv_auth_free(a);
            return -1;
        }
    }
    *out = a;
    return 0;
}

void sgv_auth_free(sgv_auth *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->naccounts; i++)
        free(a->accounts[i].hash);
    free(a->accounts);
    pthread_mutex_destroy(&a->lock);
    explicit_bzero(a, sizeof(*a));
    free(a);
}

int sgv_auth_enabled(const sgv_auth *a)
{
    return a->naccounts > 0;
}

/* ---- sessions ---------------------------------------------------------------------- */

static int session_live(const session *s, long long now)
{
    return s->used && now - s->created < SGV_SESSION_LIFETIME && now - s->last < SGV_SESSION_IDLE;
}

/* A free slot: an unused or dead one, else the least recently used. Only
 * a right password gets here, so only readers evict readers. Locked. */
static session *session_slot(sgv_auth *a, long long now)
{
    session *best = NULL;
    for (size_t i = 0; i < SGV_MAX_SESSIONS; i++) {
        session *s = &a->sessions[i];
        if (!session_live(s, now))
            return s;
        if (best == NULL || s->last < best->last)
            best = s;
    }
    return best;
}

static int session_new(sgv_auth *a, long long now, const char *user, char token[SGV_TOKEN_HEX + 1])
{
    session s = {0};
    s.used = 1;
    s.created = s.last = now;
    snprintf(s.user, sizeof(s.user), "%s", user);
    if (random_hex(s.token) != 0 || random_hex(s.csrf) != 0)
        return -1;
    pthread_mutex_lock(&a->lock);
    *session_slot(a, now) = s;
    pthread_mutex_unlock(&a->lock);
    memcpy(token, s.token, sizeof(s.token));
    return 0;
}

/* ---- the login form ------------------------------------------------------------------- */

/* The form's state travels with the browser, so no client can evict it:
 * the cookie is a random nonce and the issue time, the form's token an
 * HMAC of them under the per-process form_key (a double-submit cookie
 * that only this process can mint). */
#define FORM_NONCE 24 /* bytes; then 8 bytes of issue time, big-endian */

static int form_mac(const sgv_auth *a, const unsigned char raw[SGV_LOGIN_COOKIE_HEX / 2],
                    char csrf[SGV_TOKEN_HEX + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    if (HMAC(EVP_sha256(), a->form_key, sizeof(a->form_key), raw, SGV_LOGIN_COOKIE_HEX / 2, mac,
             &maclen) == NULL ||
        maclen != SGV_TOKEN_HEX / 2)
        return -1;
    to_hex(mac, SGV_TOKEN_HEX / 2, csrf);
    return 0;
}

int sgv_auth_login_form(const sgv_auth *a, long long now, char cookie[SGV_LOGIN_COOKIE_HEX + 1],
                        char csrf[SGV_TOKEN_HEX + 1])
{
    unsigned char raw[SGV_LOGIN_COOKIE_HEX / 2];
    unsigned long long t = (unsigned long long)now;
    if (random_bytes(raw, FORM_NONCE) != 0)
        return -1;
    for (int i = 0; i < 8; i++)
        raw[FORM_NONCE + i] = (unsigned char)(t >> (56 - 8 * i));
    to_hex(raw, sizeof(raw), cookie);
    return form_mac(a, raw, csrf);
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int sgv_auth_login_form_ok(const sgv_auth *a, const char *cookie, const char *csrf, long long now)
{
    unsigned char raw[SGV_LOGIN_COOKIE_HEX / 2];
    char want[SGV_TOKEN_HEX + 1];
    unsigned long long t = 0;
    if (cookie == NULL || csrf == NULL || strlen(cookie) != SGV_LOGIN_COOKIE_HEX)
        return 0;
    for (size_t i = 0; i < sizeof(raw); i++) {
        int hi = hex_digit(cookie[2 * i]), lo = hex_digit(cookie[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return 0;
        raw[i] = (unsigned char)(hi << 4 | lo);
    }
    for (int i = 0; i < 8; i++)
        t = t << 8 | raw[FORM_NONCE + i];
    if (form_mac(a, raw, want) != 0)
        return 0;
    int ok = equal_ct(want, csrf);
    /* as old as a form may be; a little from the future only if the clock
     * was stepped back since the form was made */
    if (t > (unsigned long long)LLONG_MAX || now - (long long)t >= SGV_PRESESSION_LIFETIME ||
        (long long)t - now > 60)
        ok = 0;
    return ok;
}

int sgv_auth_session(sgv_auth *a, const char *token, long long now, sgv_session *out)
{
    int found = 0;
    memset(out, 0, sizeof(*out));
    if (!sgv_auth_enabled(a)) {
        out->authenticated = 1;
        memcpy(out->csrf, a->local_csrf, sizeof(out->csrf));
        return 1;
    }
    if (token == NULL || strlen(token) != SGV_TOKEN_HEX)
        return 0;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < SGV_MAX_SESSIONS; i++) {
        session *s = &a->sessions[i];
        /* every slot is compared, so the time says nothing of where */
        int match = s->used && equal_ct(s->token, token);
        if (match && session_live(s, now) && !found) {
            found = 1;
            s->last = now;
            out->authenticated = 1;
            memcpy(out->user, s->user, sizeof(out->user));
            memcpy(out->csrf, s->csrf, sizeof(out->csrf));
        } else if (match) {
            memset(s, 0, sizeof(*s));
        }
    }
    pthread_mutex_unlock(&a->lock);
    return found;
}

void sgv_auth_logout(sgv_auth *a, const char *token)
{
    if (token == NULL || strlen(token) != SGV_TOKEN_HEX)
        return;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < SGV_MAX_SESSIONS; i++)
        if (a->sessions[i].used && equal_ct(a->sessions[i].token, token))
            memset(&a->sessions[i], 0, sizeof(a->sessions[i]));
    pthread_mutex_unlock(&a->lock);
}

/* ---- login and throttling -------------------------------------------------------- */

/* Forgets t if it has been quiet long enough. Locked. */
static void throttle_age(throttle *t, long long now)
{
    if (t->failures && now - t->last_fail >= SGV_THROTTLE_FORGET)
        memset(t, 0, sizeof(*t));
}

/* The entry of client, or NULL. Locked. */
static throttle *throttle_find(sgv_auth *a, const sgv_client_key *client)
{
    for (size_t i = 0; i < SGV_THROTTLE_CLIENTS; i++) {
        throttle *t = &a->throttles[i];
        if (t->failures && !memcmp(&t->client, client, sizeof(*client)))
            return t;
    }
    return NULL;
}

/* The entry that counts client's attempts: its own (a free one taken if
 * need be), or the shared overflow entry when every entry holds another
 * client's recent failures. Never evicts a live entry: whoever could
 * evict could clear his own count by failing from enough other clients.
 * Locked. */
static throttle *throttle_of(sgv_auth *a, const sgv_client_key *client, long long now)
{
    throttle *free_slot = NULL;
    throttle_age(&a->overflow, now);
    for (size_t i = 0; i < SGV_THROTTLE_CLIENTS; i++)
        throttle_age(&a->throttles[i], now);
    throttle *t = throttle_find(a, client);
    if (t != NULL)
        return t;
    for (size_t i = 0; i < SGV_THROTTLE_CLIENTS && free_slot == NULL; i++)
        if (!a->throttles[i].failures)
            free_slot = &a->throttles[i];
    if (free_slot == NULL)
        return &a->overflow;
    memset(free_slot, 0, sizeof(*free_slot));
    free_slot->client = *client;
    return free_slot;
}

static long long throttle_wait(const throttle *t)
{
    if (t->failures < SGV_THROTTLE_FREE)
        return 0;
    unsigned e = t->failures - SGV_THROTTLE_FREE;
    return e >= 9 ? SGV_THROTTLE_MAX : (1LL << e) > SGV_THROTTLE_MAX ? SGV_THROTTLE_MAX : 1LL << e;
}

sgv_login_result sgv_auth_login(sgv_auth *a, const char *user, const char *pw,
                                const sgv_client_key *client, long long now,
                                char token[SGV_TOKEN_HEX + 1])
{
    static const sgv_client_key unknown; /* all zero: const, not state */
    const char *hash = NULL;
    if (!sgv_auth_enabled(a))
        return SGV_LOGIN_ERROR;
    if (client == NULL)
        client = &unknown;
    pthread_mutex_lock(&a->lock);
    throttle *t = throttle_of(a, client, now);
    int shared = t == &a->overflow;
    int blocked = t->failures >= SGV_THROTTLE_FREE && now - t->last_fail < throttle_wait(t);
    if (!blocked) {
        /* counted before the hashing, outside the lock: concurrent attempts
         * from one client (MHD's threads) see each other */
        t->failures++;
        t->last_fail = now;
    }
    pthread_mutex_unlock(&a->lock);
    if (blocked)
        return SGV_LOGIN_THROTTLED;
    for (size_t i = 0; user != NULL && i < a->naccounts; i++)
        if (!strcmp(a->accounts[i].user, user))
            hash = a->accounts[i].hash;
    /* an unknown user costs one hashing too: the time does not tell */
    int ok = sgv_password_check(pw ? pw : "", hash ? hash : a->dummy_hash) && hash != NULL;
    if (!ok)
        return SGV_LOGIN_BAD;
    pthread_mutex_lock(&a->lock);
    if (shared) {
        /* the shared count is other clients' too: take back only our own
         * attempt (if it was not forgotten meanwhile) */
        if (a->overflow.failures > 0)
            a->overflow.failures--;
    } else if ((t = throttle_find(a, client)) != NULL) {
        memset(t, 0, sizeof(*t));
    }
    pthread_mutex_unlock(&a->lock);
    return session_new(a, now, user, token) == 0 ? SGV_LOGIN_OK : SGV_LOGIN_ERROR;
}
