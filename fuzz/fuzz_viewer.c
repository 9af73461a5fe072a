/*
 * libFuzzer harness for what spoofguard-view does with bytes it did not
 * write itself before any message is involved: the HTML escaping every
 * page goes through (src/viewer/pages.c), the form parser of every POST
 * and the --listen parser (src/viewer/http.c), and what a request's URL
 * and cookies name before any authentication: the routing table, the
 * /m/ID and /link/ID/N[/go] paths, ?days=N, the sg_session cookie against
 * a live session, and the sg_login cookie with its form token.
 *
 * Invariants checked: the escaped text and attribute are valid UTF-8,
 * hold no '<', '>', '"', '\'' or control character but TAB/LF (text), and
 * every '&' starts a numeric character reference; the attribute form has
 * no '=', '`', TAB or LF either. A form value found is NUL-free and fits.
 * A route found is one of the table's, the path is its path then the
 * rest, and a prefix route's rest is never empty. A path ID is exactly
 * SGV_ID_LEN lower-case hex digits; a link number is 0..1000000009 with
 * the tail "" or "/go"; days are 1..366. Only the live session's own token
 * opens it, and no login form verifies without its process's key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/json.h"
#include "http.h"
#include "auth.h"
#include "pages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* assert() is compiled out in release builds: an invariant must hold there too */
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static void check_escaped(const sg_cli_buf *b, int attr)
{
    const unsigned char *p = (const unsigned char *)b->data;
    for (size_t i = 0; i < b->len;) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t l = sgu_utf8_len(p + i, b->len - i);
            CHECK(l > 0);
            i += l;
            continue;
        }
        CHECK(c != '<' && c != '>' && c != '"' && c != '\'' && c != 0x7f);
        CHECK(c >= 0x20 || (!attr && (c == '\t' || c == '\n')));
        if (attr)
            CHECK(c != '=' && c != '`');
        if (c == '&') {
            CHECK(i + 2 < b->len && p[i + 1] == '#');
            size_t k = i + 2;
            while (k < b->len && p[k] >= '0' && p[k] <= '9')
                k++;
            CHECK(k > i + 2 && k < b->len && p[k] == ';');
        }
        i++;
    }
}

static int is_hex_id(const char *id)
{
    for (size_t i = 0; i < SGV_ID_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return id[SGV_ID_LEN] == '\0';
}

/* A viewer with one account and one live session, made once: the
 * password's yescrypt hash is too slow for every input. */
#define NOW 1767225600LL
static sgv_auth *auth;
static char live_token[SGV_TOKEN_HEX + 1];

static void auth_once(void)
{
    char hash[256], path[] = "/tmp/fuzz_viewer.XXXXXX", err[256];
    if (auth != NULL)
        return;
    int fd = mkstemp(path);
    CHECK(fd >= 0 && sgv_hash_password("fuzz-password", hash, sizeof(hash)) == 0);
    FILE *f = fdopen(fd, "w");
    CHECK(f != NULL && fprintf(f, "fuzz:%s\n", hash) > 0 && fclose(f) == 0);
    int rc = sgv_auth_new(&auth, path, err, sizeof(err));
    unlink(path);
    CHECK(rc == 0);
    CHECK(sgv_auth_login(auth, "fuzz", "fuzz-password", NULL, NOW, live_token) == SGV_LOGIN_OK);
}

static void check_request(const char *s)
{
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT"};
    char id[SGV_ID_LEN + 1];
    const char *rest, *tail;
    long n;
    int known, prefix;

    for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
        rest = NULL;
        int i = sgv_route_lookup(methods[m], s, &rest, &known);
        if (i < 0)
            continue;
        const char *rp = sgv_route_path(i, &prefix);
        CHECK(rp != NULL && known);
        size_t rl = strlen(rp);
        CHECK(rest == s + rl && strncmp(s, rp, rl) == 0);
        CHECK(prefix ? *rest != '\0' : *rest == '\0');
        if (!strcmp(rp, "/link/") && sgv_link_path_parse(rest, id, &n, &tail) == 0) {
            CHECK(is_hex_id(id) && n >= 0 && n <= 1000000009L);
            CHECK(*tail == '\0' || !strcmp(tail, "/go"));
            CHECK(tail > rest + SGV_ID_LEN && tail <= rest + strlen(rest));
        }
    }
    if ((tail = sgv_path_id(s, id)) != NULL)
        CHECK(tail == s + SGV_ID_LEN && is_hex_id(id) && (*tail == '\0' || *tail == '/'));
    tail = s;
    if ((n = sgv_path_num(&tail)) >= 0)
        CHECK(n <= 1000000009L && tail > s && (*tail == '\0' || *tail == '/'));
    else
        CHECK(tail == s);
    n = -7;
    if (sgv_days_arg(s, &n))
        CHECK(n >= 1 && n <= 366);
    else
        CHECK(n == -7);

    /* the cookies: only the live token is a session; a login form's
     * cookie and token come from this process's key alone */
    char token[SGV_TOKEN_HEX + 1];
    sgv_session sess;
    auth_once();
    if (sgv_session_cookie(s, token))
        CHECK(strlen(token) == SGV_TOKEN_HEX);
    else
        CHECK(token[0] == '\0');
    int live = sgv_auth_session(auth, token[0] ? token : NULL, NOW, &sess);
    CHECK(live == (strcmp(token, live_token) == 0));
    if (live)
        CHECK(sess.authenticated && !strcmp(sess.user, "fuzz"));
    const char *amp = strchr(s, '&');
    if (amp != NULL) {
        char cookie[SGV_LOGIN_COOKIE_HEX + 1];
        size_t cl =
            (size_t)(amp - s) < SGV_LOGIN_COOKIE_HEX ? (size_t)(amp - s) : SGV_LOGIN_COOKIE_HEX;
        memcpy(cookie, s, cl);
        cookie[cl] = '\0';
        CHECK(!sgv_auth_login_form_ok(auth, cookie, amp + 1, NOW));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    char out[64];
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    for (int attr = 0; attr < 2; attr++) {
        sg_cli_buf b = {0};
        (attr ? sgv_html_attr : sgv_html_text)(&b, s);
        if (!b.oom)
            check_escaped(&b, attr);
        sg_cli_buf_free(&b);
    }

    static const char *const names[] = {"csrf", "user", "password", "k", ""};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        memset(out, 'x', sizeof(out));
        if (sgv_form_get((const char *)data, size, names[i], out, sizeof(out))) {
            size_t n = strnlen(out, sizeof(out));
            CHECK(n < sizeof(out));
        }
    }

    struct sockaddr_storage ss;
    unsigned sl;
    int lo;
    if (sgv_parse_listen(s, &ss, &sl, &lo) == 0)
        CHECK(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
    check_request(s);
    free(s);
    return 0;
}
