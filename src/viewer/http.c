/* The HTTP server of spoofguard-view (see http.h). */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "api.h"
#include "conns.h"
#include "pages.h"

/* The pool (conns.h) is shared by MHD's worker threads, which admit,
 * record and release connections, and the reaper thread, which closes the
 * overdue ones; mu guards it. A connection is closed with shutdown(2) on
 * its socket, under mu: MHD releases a connection (on_connection, CLOSED,
 * which takes mu) before it closes the socket, so the descriptor cannot
 * have been closed and reused meanwhile. MHD then sees the end of the
 * stream and closes the connection itself. */
struct sgv_http {
    struct MHD_Daemon *d;
    sgv_app *app;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* wakes the reaper to stop */
    pthread_t reaper;
    int reaper_started, stopping;
    sgv_pool pool;
};

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the routing table ---------------------------------------------------------- */

/* LINK_AUTH: a session, or the link's own token (pages.c checks it): a
 * click in the sandboxed body comes from an opaque origin, so the browser
 * sends no SameSite=Strict cookie with it. */
enum { NO_AUTH = 0, PAGE_AUTH, API_AUTH, LINK_AUTH };
/* csrf: 1 the session's token, 2 the login form's (its cookie sg_login,
 * checked without state: sgv_auth_login_form_ok) */

typedef struct {
    const char *method;
    const char *path; /* exact, or a prefix when it ends in '/' and prefix is set */
    int prefix;
    int auth;
    int csrf; /* the form's csrf field must match the session's */
    void (*fn)(sgv_req *q, sgv_resp *r, const char *rest);
} route;

static const route routes[] = {
    {"GET", "/login", 0, NO_AUTH, 0, sgv_page_login_form},
    {"POST", "/login", 0, NO_AUTH, 2, sgv_page_login_post},
    {"POST", "/logout", 0, PAGE_AUTH, 1, sgv_page_logout},
    {"GET", "/style.css", 0, NO_AUTH, 0, sgv_page_style},
    {"GET", "/", 0, PAGE_AUTH, 0, sgv_page_list},
    {"GET", "/reports", 0, PAGE_AUTH, 0, sgv_page_reports},
    {"GET", "/reports.csv", 0, PAGE_AUTH, 0, sgv_page_reports_csv},
    {"GET", "/m/", 1, PAGE_AUTH, 0, sgv_page_message},
    {"POST", "/m/", 1, PAGE_AUTH, 1, sgv_page_message_post},
    {"GET", "/link/", 1, LINK_AUTH, 0, sgv_page_link},
    {"POST", "/link/", 1, LINK_AUTH, 0, sgv_page_link_post},
    {"GET", "/api/messages", 0, API_AUTH, 0, sgv_api_list},
    {"GET", "/api/messages/", 1, API_AUTH, 0, sgv_api_message},
};

int sgv_route_lookup(const char *method, const char *path, const char **rest, int *path_known)
{
    int best = -1;
    size_t best_len = 0;
    *path_known = 0;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const route *r = &routes[i];
        size_t n = strlen(r->path);
        int match =
            r->prefix ? !strncmp(path, r->path, n) && path[n] != '\0' : !strcmp(path, r->path);
        if (!match)
            continue;
        *path_known = 1;
        if (strcmp(method, r->method) && !(!strcmp(method, "HEAD") && !strcmp(r->method, "GET")))
            continue;
        if (best < 0 || n > best_len) {
            best = (int)i;
            best_len = n;
        }
    }
    if (best >= 0)
        *rest = path + best_len;
    return best;
}

static const route *route_find(const char *method, const char *path, const char **rest,
                               int *path_known)
{
    int i = sgv_route_lookup(method, path, rest, path_known);
    return i < 0 ? NULL : &routes[i];
}

const char *sgv_route_path(int i, int *prefix)
{
    if (i < 0 || (size_t)i >= sizeof(routes) / sizeof(routes[0]))
        return NULL;
    *prefix = routes[i].prefix;
    return routes[i].path;
}

int sgv_session_cookie(const char *cookie, char token[SGV_TOKEN_HEX + 1])
{
    token[0] = '\0';
    if (cookie == NULL || strlen(cookie) != SGV_TOKEN_HEX)
        return 0;
    memcpy(token, cookie, SGV_TOKEN_HEX + 1);
    return 1;
}

/* ---- requests ----------------------------------------------------------------------- */

typedef struct {
    char *body;
    size_t len;
    int too_big;
} upload;

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

int sgv_form_get(const char *body, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name), i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        if (end - i > nl && !memcmp(body + i, name, nl) && body[i + nl] == '=') {
            size_t w = 0;
            for (size_t k = i + nl + 1; k < end; k++) {
                int c = (unsigned char)body[k];
                if (c == '+')
                    c = ' ';
                else if (c == '%' && k + 2 < end && hexval(body[k + 1]) >= 0 &&
                         hexval(body[k + 2]) >= 0) {
                    c = hexval(body[k + 1]) * 16 + hexval(body[k + 2]);
                    k += 2;
                }
                if (c == 0 || w + 1 >= cap)
                    return 0;
                out[w++] = (char)c;
            }
            out[w] = '\0';
            return 1;
        }
        i = end + 1;
    }
    return 0;
}

const char *sgv_req_arg(const sgv_req *q, const char *name)
{
    return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, name);
}

void sgv_resp_set(sgv_resp *r, int status, const char *ctype, const char *body, size_t len)
{
    free(r->body);
    r->status = status;
    r->ctype = ctype;
    r->body = malloc(len + 1);
    r->len = r->body ? len : 0;
    if (r->body) {
        memcpy(r->body, body, len);
        r->body[len] = '\0';
    }
}

void sgv_resp_redirect(sgv_resp *r, int status, const char *location)
{
    free(r->location);
    r->status = status;
    r->location = strdup(location);
}

/* ---- answers ------------------------------------------------------------------------- */

static enum MHD_Result send_resp(struct MHD_Connection *c, sgv_resp *r)
{
    struct MHD_Response *mr;
    enum MHD_Result ret;
    if (r->body == NULL) {
        r->body = strdup("");
        r->len = 0;
    }
    mr = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
    if (mr == NULL) {
        free(r->body);
        r->body = NULL;
        return MHD_NO;
    }
    r->body = NULL; /* the response owns it */
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->ctype ? r->ctype : "text/html; charset=utf-8");
    MHD_add_response_header(mr, "Content-Security-Policy", r->csp ? r->csp : SGV_CSP_PAGE);
    if (!r->frameable)
        MHD_add_response_header(mr, "X-Frame-Options", "DENY");
    else
        MHD_add_response_header(mr, "X-Frame-Options", "SAMEORIGIN");
    MHD_add_response_header(mr, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(mr, "Cache-Control", "no-store");
    MHD_add_response_header(mr, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(mr, "Cross-Origin-Resource-Policy", "same-origin");
    if (r->location)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_LOCATION, r->location);
    if (r->set_cookie)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie);
    if (r->set_cookie2)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie2);
    if (r->disposition)
        MHD_add_response_header(mr, "Content-Disposition", r->disposition);
    if (r->allow)
        MHD_add_response_header(mr, "Allow", r->allow);
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", r->retry_after);
        MHD_add_response_header(mr, "Retry-After", ra);
    }
    ret = MHD_queue_response(c, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

static void simple(sgv_resp *r, int status, const char *msg)
{
    char buf[512];
    int n =
        snprintf(buf, sizeof(buf),
                 "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>%d</title>"
                 "<link rel=\"stylesheet\" href=\"/style.css\"></head><body><main><h1>%s</h1>"
                 "<p><a href=\"/\">Back to the messages</a></p></main></body></html>",
                 status, msg);
    sgv_resp_set(r, status, "text/html; charset=utf-8", buf, (size_t)n);
}

/* The client of c, as every per-client limit counts it (client.h). */
static void client_of(struct MHD_Connection *c, sgv_client_key *k)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    (void)sgv_client_key_of(ci ? ci->client_addr : NULL, k); /* else one shared key */
}

/* Without a login, anyone who reaches the port reads the mail, so a web
 * page must not reach it through DNS rebinding (its own name pointed at
 * 127.0.0.1 makes the viewer "same-origin" to it): the Host field must
 * name the loopback address or localhost. With a login the session cookie
 * belongs to our own origin and a rebound name never has it. */
static int host_is_loopback(const char *host)
{
    char h[128];
    size_t n;
    if (host == NULL)
        return 0;
    if (host[0] == '[') { /* [::1]:port */
        const char *close = strchr(host, ']');
        return close != NULL && (size_t)(close - host) == 4 && !strncmp(host, "[::1]", 5) &&
               (close[1] == '\0' || close[1] == ':');
    }
    n = strcspn(host, ":");
    if (n == 0 || n >= sizeof(h))
        return 0;
    memcpy(h, host, n);
    h[n] = '\0';
    if (!strcasecmp(h, "localhost"))
        return 1;
    struct in_addr a;
    return inet_pton(AF_INET, h, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* c enters phase (conns.h): its deadline starts again. */
static void conn_phase(sgv_http *h, struct MHD_Connection *c, sgv_conn_phase phase)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci == NULL || ci->socket_context == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    sgv_pool_phase(ci->socket_context, phase, mono_ms());
    pthread_mutex_unlock(&h->mu);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    sgv_http *h = cls;
    upload *u = *con_cls;
    sgv_req q;
    sgv_resp r;
    if (u == NULL) { /* the first call: the head is complete */
        if ((u = calloc(1, sizeof(*u))) == NULL)
            return MHD_NO;
        *con_cls = u;
        conn_phase(h, c, SGV_CONN_BODY);
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!u->too_big && u->len + *upload_size <= SGV_HTTP_MAX_BODY) {
            char *nb = realloc(u->body, u->len + *upload_size + 1);
            if (nb == NULL)
                return MHD_NO;
            u->body = nb;
            memcpy(u->body + u->len, upload_data, *upload_size);
            u->len += *upload_size;
            u->body[u->len] = '\0';
        } else {
            u->too_big = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }

    conn_phase(h, c, SGV_CONN_ANSWER);
    memset(&q, 0, sizeof(q));
    memset(&r, 0, sizeof(r));
    q.app = h->app;
    q.method = method;
    q.path = url;
    q.body = u->body ? u->body : "";
    q.body_len = u->len;
    q.conn = c;
    client_of(c, &q.client);

    const char *rest = "";
    int known;
    const route *rt = route_find(method, url, &rest, &known);
    long long now = (long long)time(NULL);
    (void)sgv_session_cookie(MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "sg_session"),
                             q.token);
    q.has_session = sgv_auth_session(h->app->auth, q.token[0] ? q.token : NULL, now, &q.sess);

    if (!sgv_auth_enabled(h->app->auth) &&
        !host_is_loopback(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"))) {
        simple(&r, 403, "Forbidden: this viewer answers to 127.0.0.1 and localhost only");
    } else if (u->too_big) {
        simple(&r, 413, "Request too large");
    } else if (rt == NULL) {
        if (known) {
            simple(&r, 405, "Method not allowed");
            r.allow = "GET, HEAD, POST";
        } else {
            simple(&r, 404, "Not found");
        }
    } else if (rt->auth != NO_AUTH && rt->auth != LINK_AUTH &&
               !(q.has_session && q.sess.authenticated)) {
        if (rt->auth == API_AUTH) {
            static const char j[] = "{\"error\":\"login required\"}";
            sgv_resp_set(&r, 401, "application/json", j, sizeof(j) - 1);
        } else {
            sgv_resp_redirect(&r, 303, "/login");
        }
    } else if (rt->csrf) {
        char given[SGV_TOKEN_HEX + 2];
        int form = sgv_form_get(q.body, q.body_len, "csrf", given, sizeof(given));
        if (rt->csrf == 2)
            form = form &&
                   sgv_auth_login_form_ok(
                       h->app->auth, MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "sg_login"),
                       given, now);
        else
            form = form && q.has_session && sgv_auth_csrf_ok(q.sess.csrf, given);
        if (!form)
            simple(&r, 403, "Forbidden: the form's token is missing or wrong (reload the page)");
        else
            rt->fn(&q, &r, rest);
    } else {
        rt->fn(&q, &r, rest);
    }
    if (r.status == 0)
        simple(&r, 500, "Internal error");
    enum MHD_Result ret = send_resp(c, &r);
    free(r.body);
    free(r.location);
    free(r.set_cookie);
    free(r.set_cookie2);
    free(r.disposition);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    upload *u = *con_cls;
    if (u != NULL) {
        free(u->body);
        free(u);
        *con_cls = NULL;
    }
    /* a kept-alive connection waits for its next head: a new deadline */
    conn_phase(cls, c, SGV_CONN_HEAD);
}

/* ---- the connection pool ---------------------------------------------------------------- */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    sgv_http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        /* the pool's rules (conns.h), checked and recorded under one lock:
         * concurrent accepts in MHD's workers cannot all take the last place */
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        sgv_client_key k;
        int victim;
        client_of(c, &k);
        if (fd == NULL)
            return; /* MHD gives every connection's socket: not expected */
        pthread_mutex_lock(&h->mu);
        *socket_context = sgv_pool_open(&h->pool, &k, fd->connect_fd, mono_ms(), &victim);
        if (victim >= 0)
            shutdown(victim, SHUT_RDWR);
        if (*socket_context == NULL) /* refused: closed before it is read */
            shutdown(fd->connect_fd, SHUT_RDWR);
        pthread_mutex_unlock(&h->mu);
    } else if (*socket_context != NULL) {
        pthread_mutex_lock(&h->mu);
        sgv_pool_remove(*socket_context);
        pthread_mutex_unlock(&h->mu);
        *socket_context = NULL;
    }
}

/* Closes the connections past their deadline, then sleeps until the next
 * one. A deadline set while it sleeps is at least the shorter timeout
 * away, so it never sleeps longer than that. */
static void *reaper(void *arg)
{
    sgv_http *h = arg;
    int fds[SGV_POOL_SLOTS];
    long long shorter = h->pool.head_ms < h->pool.body_ms ? h->pool.head_ms : h->pool.body_ms;
    pthread_mutex_lock(&h->mu);
    while (!h->stopping) {
        long long now = mono_ms(), next;
        size_t n = sgv_pool_expire(&h->pool, now, fds, SGV_POOL_SLOTS, &next);
        for (size_t i = 0; i < n; i++)
            shutdown(fds[i], SHUT_RDWR);
        long long wake = now + shorter;
        if (next >= 0 && next < wake)
            wake = next;
        struct timespec ts = {.tv_sec = wake / 1000, .tv_nsec = (long)(wake % 1000) * 1000000};
        pthread_cond_timedwait(&h->cv, &h->mu, &ts);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static int pool_start(sgv_http *h, long long timeout_s)
{
    pthread_condattr_t ca;
    sgv_pool_init(&h->pool, SGV_POOL_MAX, SGV_POOL_PER_CLIENT, timeout_s * 1000, timeout_s * 1000);
    if (pthread_mutex_init(&h->mu, NULL) != 0)
        return -1;
    /* the deadlines are on the monotonic clock: a clock step must not
     * close every connection, or none */
    if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&h->cv, &ca) != 0) {
        pthread_mutex_destroy(&h->mu);
        return -1;
    }
    pthread_condattr_destroy(&ca);
    if (pthread_create(&h->reaper, NULL, reaper, h) != 0) {
        pthread_cond_destroy(&h->cv);
        pthread_mutex_destroy(&h->mu);
        return -1;
    }
    h->reaper_started = 1;
    return 0;
}

static void pool_stop(sgv_http *h)
{
    if (!h->reaper_started)
        return;
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->reaper, NULL);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    h->reaper_started = 0;
}

/* ---- the server ------------------------------------------------------------------------ */

int sgv_parse_listen(const char *s, struct sockaddr_storage *ss, unsigned *sslen, int *loopback)
{
    char host[128];
    const char *colon, *port_s;
    size_t hl;
    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        hl = (size_t)(close - s - 1);
        if (hl >= sizeof(host))
            return -1;
        memcpy(host, s + 1, hl);
        port_s = close + 2;
    } else {
        if ((colon = strrchr(s, ':')) == NULL || (size_t)(colon - s) >= sizeof(host))
            return -1;
        hl = (size_t)(colon - s);
        memcpy(host, s, hl);
        port_s = colon + 1;
    }
    host[hl] = '\0';
    char *end;
    long port = strtol(port_s, &end, 10);
    if (*port_s == '\0' || *end != '\0' || port < 1 || port > 65535)
        return -1;
    if (!strcmp(host, "localhost"))
        strcpy(host, "127.0.0.1");
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((unsigned short)port);
        *sslen = sizeof(*a4);
        *loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((unsigned short)port);
        *sslen = sizeof(*a6);
        *loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
        return 0;
    }
    return -1;
}

int sgv_http_start(sgv_http **out, sgv_app *app, const char *cert_pem, const char *key_pem,
                   char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    unsigned sslen;
    int loopback;
    sgv_http *h = calloc(1, sizeof(*h));
    *out = NULL;
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (sgv_parse_listen(app->cfg->listen, &ss, &sslen, &loopback) != 0) {
        snprintf(err, errlen, "--listen %s: expected ADDR:PORT", app->cfg->listen);
        free(h);
        return -1;
    }
    h->app = app;
    if (pool_start(h, app->cfg->request_timeout > 0 ? app->cfg->request_timeout
                                                    : SGV_REQUEST_TIMEOUT_S) != 0) {
        snprintf(err, errlen, "cannot start the connection reaper thread");
        free(h);
        return -1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (cert_pem != NULL)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &ss},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, h},
        {MHD_OPTION_THREAD_POOL_SIZE, SGV_HTTP_THREADS, NULL},
        /* the pool's rules (on_connection) limit connections; MHD's limit
         * only leaves room for the ones closed and not yet released. (MHD's
         * per-IP limit is not used: it counts single IPv6 addresses.) */
        {MHD_OPTION_CONNECTION_LIMIT, SGV_POOL_SLOTS, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, SGV_HTTP_TIMEOUT_S, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL},
        {cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_ARRAY, opts,
                            MHD_OPTION_END);
    if (h->d == NULL) {
        snprintf(err, errlen, "cannot listen on %s (address in use, or TLS not usable)",
                 app->cfg->listen);
        pool_stop(h);
        free(h);
        return -1;
    }
    *out = h;
    return 0;
}

void sgv_http_stop(sgv_http *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->d);
    pool_stop(h); /* after MHD: its last CLOSED notifications take mu */
    free(h);
}
