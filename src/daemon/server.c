/*
 * spoofguardd's server: the listening socket, the worker threads (one
 * libuv loop each, so every core is used without a thread per
 * connection), SIGHUP reload and SIGTERM drain.
 */
/* accept4 */
#define _GNU_SOURCE
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#ifdef __linux__
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <spoofguard/verdict.h>
#include <systemd/sd-daemon.h>

#include "metrics.h"
#include "metrics_http.h"
#include "worker.h"

struct sg_server {
    char *config_path;
    pthread_mutex_t lock; /* guards policy */
    sg_policy *policy;
    int listen_fd;
    int is_unix;
    char unix_path[108];
    const char *listen_group;
    sg_worker *workers;
    unsigned nworkers;
    uv_loop_t loop; /* the main thread's: signals only */
    uv_signal_t sighup, sigterm, sigint;
    uv_timer_t watchdog; /* pings systemd's watchdog when the unit asks for one */
    int log_fd;
    atomic_uint conns;
    int draining;
    sg_metrics metrics; /* shards: one per worker */
    int metrics_fd;     /* bound in sg_server_new, served from the main loop */
    char metrics_path[108];
    sg_mhttp *mhttp;
};

/* ------------------------------------------------------------------------ */
/* policy snapshots                                                          */

sg_policy *sg_policy_ref(sg_policy *p)
{
    atomic_fetch_add(&p->refs, 1);
    return p;
}

void sg_policy_unref(sg_policy *p)
{
    if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    sg_maps_free(p->maps);
    sg_config_free(&p->cfg);
    free(p);
}

/* Takes over cfg's contents on success. */
static int policy_build(sg_policy **out, sg_config *cfg, char *err, size_t errlen)
{
    sg_policy *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (sg_maps_load(&p->maps, cfg, err, errlen) != 0) {
        free(p);
        return -1;
    }
    p->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    atomic_init(&p->refs, 1);
    if (gethostname(p->hostname, sizeof(p->hostname) - 1) != 0)
        strcpy(p->hostname, "localhost");
    p->authserv_id = p->cfg.authserv_id ? p->cfg.authserv_id : p->hostname;
    *out = p;
    return 0;
}

/* Give the policy's keys their metric label slots and publish their ages
 * (main thread, before the policy is handed to the workers). */
static void metrics_keys(sg_server *s, sg_policy *p)
{
    size_t n;
    sg_map_key *keys = sg_maps_keys(p->maps, &n);
    s->metrics.nlive = 0;
    for (size_t i = 0; i < n; i++) {
        keys[i].metric = sg_metrics_key_slot(&s->metrics, keys[i].domain, keys[i].selector);
        if (keys[i].metric == SG_METRICS_KEY_OTHER)
            continue;
        size_t j;
        for (j = 0; j < s->metrics.nlive; j++)
            if (s->metrics.live[j].slot == keys[i].metric)
                break; /* the same domain and selector twice: the first one counts */
        if (j < s->metrics.nlive || s->metrics.nlive == SG_METRICS_MAX_KEYS)
            continue;
        s->metrics.live[j].slot = keys[i].metric;
        s->metrics.live[j].mtime = keys[i].mtime ? keys[i].mtime : (int64_t)time(NULL);
        s->metrics.nlive++;
    }
}

static void metrics_render(sg_mbuf *b, void *payload)
{
    sg_server *s = payload;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sg_metrics_render(&s->metrics, b, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* Every DNS answer a worker's checks get (its own thread). */
static void on_dns_answer(const sg_dns_answer *a, int from_cache, uint64_t us, void *payload)
{
    sg_metrics_shard *m = payload;
    SG_MC_INC_AT(m->dns[from_cache ? 1 : 0], a->status);
    if (!from_cache)
        sg_mhist_observe(&m->dns_latency, us);
}

sg_policy *sg_server_policy(sg_server *s)
{
    pthread_mutex_lock(&s->lock);
    sg_policy *p = sg_policy_ref(s->policy);
    pthread_mutex_unlock(&s->lock);
    return p;
}

int sg_server_is_unix(const sg_server *s)
{
    return s->is_unix;
}

unsigned sg_server_conn_add(sg_server *s, int delta)
{
    return delta > 0 ? atomic_fetch_add(&s->conns, 1) + 1 : atomic_fetch_sub(&s->conns, 1) - 1;
}

void sg_log(sg_server *s, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    /* one write() per line: lines from different threads never interleave */
    ssize_t w = write(s->log_fd, buf, (size_t)n);
    (void)w;
}

/* ------------------------------------------------------------------------ */
/* listening socket                                                          */

static int open_listener(sg_server *s, const char *spec, char *err, size_t errlen)
{
    int fd = -1, one = 1;
    if (!strncmp(spec, "unix:", 5)) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        const char *path = spec + 5;
        if (strlen(path) >= sizeof(sa.sun_path)) {
            snprintf(err, errlen, "listen: socket path too long");
            return -1;
        }
        strcpy(sa.sun_path, path);
        strcpy(s->unix_path, path);
        unlink(path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
            goto fail;
        /* Only root and the MTA's group may connect: a connection can ask
         * for mail to be signed. */
        if (chmod(path, 0660) != 0)
            goto fail;
        if (s->listen_group) {
            struct group *g = getgrnam(s->listen_group);
            if (g == NULL) {
                snprintf(err, errlen, "listen_group: no group '%s'", s->listen_group);
                close(fd);
                return -1;
            }
            if (chown(path, (uid_t)-1, g->gr_gid) != 0)
                goto fail;
        }
        s->is_unix = 1;
    } else {
        /* inet:HOST:PORT (HOST may be [v6]) */
        char host[256];
        const char *hp = spec + 5, *colon = strrchr(hp, ':');
        if (colon == NULL || colon == hp || (size_t)(colon - hp) >= sizeof(host)) {
            snprintf(err, errlen, "listen: '%s' is not inet:HOST:PORT", spec);
            return -1;
        }
        memcpy(host, hp, (size_t)(colon - hp));
        host[colon - hp] = '\0';
        char *h = host;
        if (h[0] == '[' && h[strlen(h) - 1] == ']') {
            h[strlen(h) - 1] = '\0';
            h++;
        }
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE},
                        *ai = NULL;
        if (getaddrinfo(h, colon + 1, &hints, &ai) != 0 || ai == NULL) {
            snprintf(err, errlen, "listen: '%s' is not a numeric address and port", spec);
            return -1;
        }
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            freeaddrinfo(ai);
            goto fail;
        }
        freeaddrinfo(ai);
#ifdef TCP_DEFER_ACCEPT
        /* The MTA speaks first (OPTNEG) as soon as it is connected: wake a
         * worker only when that packet is there, so the accept and its
         * reply take one wake-up, not two (the session reads at once).
         * A peer that sends nothing is still accepted after this many
         * seconds. */
        int defer = 5;
        setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
#endif
    }
    if (listen(fd, 1024) != 0)
        goto fail;
    /* every worker's loop accepts on it: it must never block */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    s->listen_fd = fd;
    return 0;
fail:
    snprintf(err, errlen, "listen %s: %s", spec, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* workers                                                                   */

static void pool_drain(sg_worker *w)
{
    while (w->npool > 0)
        sg_verdict_free(w->pool[--w->npool]);
    if (w->pool_pol != NULL)
        sg_policy_unref(w->pool_pol);
    w->pool_pol = NULL;
}

/* Keep v (reset) for the next message, unless the pool is full. A reload
 * empties the pool: verdicts hold pointers into the policy they were made
 * for. */
static void pool_put(sg_worker *w, struct sg_verdict *v, sg_policy *pol)
{
    if (pol != w->pool_pol) {
        pool_drain(w);
        w->pool_pol = sg_policy_ref(pol);
    }
    if (w->npool == sizeof(w->pool) / sizeof(w->pool[0])) {
        sg_verdict_free(v);
        return;
    }
    sg_verdict_reset(v);
    w->pool[w->npool++] = v;
}

struct sg_verdict *sg_worker_verdict_get(sg_worker *w, const sg_policy *pol)
{
    return w->npool > 0 && pol == w->pool_pol ? w->pool[--w->npool] : NULL;
}

void sg_worker_verdict_done(sg_worker *w, struct sg_verdict *v, sg_policy *pol, int in_callback)
{
    if (v == NULL)
        return;
    if (!in_callback) {
        pool_put(w, v, pol);
        return;
    }
    if (w->ndead == w->capdead) {
        size_t cap = w->capdead ? w->capdead * 2 : 16;
        struct sg_dead *d = realloc(w->dead, cap * sizeof(*d));
        if (d == NULL) {
            /* cannot defer: leak it rather than free it under its caller */
            return;
        }
        w->dead = d;
        w->capdead = cap;
    }
    w->dead[w->ndead].v = v;
    w->dead[w->ndead++].pol = sg_policy_ref(pol);
}

static void on_reap(uv_check_t *c)
{
    sg_worker *w = c->data;
    while (w->ndead > 0) {
        struct sg_dead d = w->dead[--w->ndead];
        pool_put(w, d.v, d.pol);
        sg_policy_unref(d.pol);
    }
}

static void on_connection(uv_stream_t *l, int status)
{
    sg_worker *w = l->data;
    if (status == 0 && !w->draining)
        sg_session_accept(w, -1);
}

#ifdef EPOLLEXCLUSIVE
static void on_accept_ready(uv_poll_t *p, int status, int events);

/* Add (on) or remove the listener's entry in the loop's epoll set. It is
 * tagged with accept_ep's number, which libuv watches through accept_poll,
 * so libuv hands its events to on_accept_ready. It must be removed before
 * accept_poll stops or closes: an event for a descriptor libuv no longer
 * watches makes libuv delete that descriptor's entry, not ours, and a
 * level-triggered entry left behind would fire at every loop turn. */
static int accept_arm(sg_worker *w, int on)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE};
    if (w->accept_armed == on)
        return 0;
    ev.data.fd = w->accept_ep;
    if (epoll_ctl(uv_backend_fd(&w->loop), on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, w->srv->listen_fd,
                  &ev) != 0)
        return -1;
    w->accept_armed = on;
    return 0;
}

static void on_accept_resume(uv_timer_t *t)
{
    sg_worker *w = t->data;
    if (w->listening) {
        uv_poll_start(&w->accept_poll, UV_READABLE, on_accept_ready);
        (void)accept_arm(w, 1);
    }
}

/* One accept per wake-up: the set is level-triggered, so a backlog brings
 * us back, and the usual case costs no accept that finds nothing. */
static void on_accept_ready(uv_poll_t *p, int status, int events)
{
    sg_worker *w = p->data;
    (void)events;
    if (status < 0 || w->draining)
        return;
    int fd = accept4(w->srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
        sg_session_accept(w, fd);
    } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        /* the connection stays queued: poll again in a while rather than
         * spin on a socket that stays readable */
        (void)accept_arm(w, 0);
        uv_poll_stop(&w->accept_poll);
        uv_timer_start(&w->accept_pause, on_accept_resume, 100, 0);
    }
}

/* The exclusive listener; -1 (nothing changed) if the kernel refuses.
 * EPOLLEXCLUSIVE must be on the entry in the epoll set the thread sleeps
 * in: the kernel stops waking at the first exclusive entry whose set has
 * a thread waiting in epoll_wait. Through a set of its own nested in the
 * loop's (how this was done before), no thread ever waits in the nested
 * set itself, so every worker's loop was woken for every connection (0.6
 * to 0.8 accept4 finding nothing a message, strace). libuv cannot add an
 * entry that way, hence accept_arm() with an eventfd nobody writes
 * standing for the listener in libuv's books. */
static int listen_exclusive(sg_server *s, sg_worker *w)
{
    (void)s;
    if (uv_backend_fd(&w->loop) < 0)
        return -1;
    int tag = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (tag < 0)
        return -1;
    w->accept_ep = tag;
    /* armed first: a refused EPOLLEXCLUSIVE leaves no poll handle on a
     * closed descriptor behind */
    if (accept_arm(w, 1) != 0 || uv_poll_init(&w->loop, &w->accept_poll, tag) != 0) {
        (void)accept_arm(w, 0);
        close(tag);
        w->accept_ep = -1;
        return -1;
    }
    w->accept_poll.data = w;
    uv_timer_init(&w->loop, &w->accept_pause);
    w->accept_pause.data = w;
    uv_poll_start(&w->accept_poll, UV_READABLE, on_accept_ready);
    return 0;
}
#endif

/* Sessions that outlive the drain deadline are cut: the MTA then applies
 * its own milter_default_action for them. */
#define DRAIN_DEADLINE_MS 30000

static void on_drain_deadline(uv_timer_t *t)
{
    sg_worker *w = t->data;
    uv_stop(&w->loop);
}

static void on_wake(uv_async_t *a)
{
    sg_worker *w = a->data;
    if (!w->srv->draining || w->draining)
        return;
    w->draining = 1;
    uv_timer_init(&w->loop, &w->drain_timer);
    w->drain_timer.data = w;
    uv_timer_start(&w->drain_timer, on_drain_deadline, DRAIN_DEADLINE_MS, 0);
    if (w->listening) {
        w->listening = 0;
        if (w->accept_ep >= 0) {
            (void)accept_arm(w, 0);
            uv_close((uv_handle_t *)&w->accept_poll, NULL);
            uv_close((uv_handle_t *)&w->accept_pause, NULL);
        } else {
            uv_close(&w->listener.handle, NULL);
        }
    }
    if (w->nsessions == 0)
        uv_stop(&w->loop);
}

static void worker_main(void *arg)
{
    sg_worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

/* Parsed SPF records kept per worker: a busy MX sees a few thousand
 * sending domains an hour. */
#define SPF_CACHE_ENTRIES 10000

static int worker_init(sg_server *s, sg_worker *w, int index, char *err, size_t errlen)
{
    const sg_config *cfg = &s->policy->cfg;
    sg_resolver_opts ro;
    w->index = index;
    w->accept_ep = -1;
    if (uv_loop_init(&w->loop) != 0)
        goto fail;
    w->srv = s; /* from here on worker_destroy has a loop to clean up */
    sg_resolver_opts_init(&ro);
    ro.servers = cfg->dns_servers;
    ro.timeout_ms = cfg->dns_timeout_ms;
    ro.tries = cfg->dns_tries;
    int rc = sg_resolver_new_net(&w->resolver, &ro);
    if (rc != 0) {
        snprintf(err, errlen, "DNS resolver: %s", sg_strerror(rc));
        return -1;
    }
    w->metrics = &s->metrics.shards[index];
    (void)sg_resolver_observe(w->resolver, on_dns_answer, w->metrics);
    if (sg_uvdns_new(&w->uvdns, &w->loop, w->resolver) != 0 ||
        sg_dkim_keycache_new(&w->keycache, 0) != 0 ||
        sg_spf_cache_new(&w->spf_cache, SPF_CACHE_ENTRIES) != 0)
        goto fail;
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->wake.data = w;
    uv_check_init(&w->loop, &w->reaper);
    w->reaper.data = w;
    uv_check_start(&w->reaper, on_reap);
    uv_unref((uv_handle_t *)&w->reaper);

#ifdef EPOLLEXCLUSIVE
    if (listen_exclusive(s, w) == 0) {
        w->listening = 1;
        return 0;
    }
#endif
    int fd = dup(s->listen_fd);
    if (fd < 0)
        goto fail;
    if (s->is_unix) {
        uv_pipe_init(&w->loop, &w->listener.pipe, 0);
        rc = uv_pipe_open(&w->listener.pipe, fd);
    } else {
        uv_tcp_init(&w->loop, &w->listener.tcp);
        rc = uv_tcp_open(&w->listener.tcp, fd);
    }
    w->listener.handle.data = w;
    if (rc != 0 || uv_listen(&w->listener.stream, 1024, on_connection) != 0) {
        snprintf(err, errlen, "listener: %s", uv_strerror(rc));
        return -1;
    }
    w->listening = 1;
    return 0;
fail:
    snprintf(err, errlen, "worker set-up failed (out of memory or descriptors)");
    return -1;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void worker_destroy(sg_worker *w)
{
    if (w->srv == NULL)
        return;
    if (w->uvdns)
        sg_uvdns_close(w->uvdns);
    while (w->ndead > 0) {
        sg_verdict_free(w->dead[--w->ndead].v);
        sg_policy_unref(w->dead[w->ndead].pol);
    }
    pool_drain(w);
#ifdef EPOLLEXCLUSIVE
    if (w->accept_ep >= 0)
        (void)accept_arm(w, 0); /* before accept_poll closes */
#endif
    uv_walk(&w->loop, close_walk, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    if (w->accept_ep >= 0)
        close(w->accept_ep); /* after its poll handle is closed */
    sg_resolver_free(w->resolver);
    sg_dkim_keycache_free(w->keycache);
    sg_spf_cache_free(w->spf_cache);
    free(w->dead);
}

/* ------------------------------------------------------------------------ */
/* signals                                                                   */

/* err text may hold table contents: escape it for the JSON log line */
static void json_escape(char *out, size_t size, const char *in)
{
    size_t o = 0;
    for (; *in && o + 7 < size; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

static void reload(sg_server *s)
{
    sg_config cfg;
    sg_policy *p;
    char err[1024], esc[6 * 1024];
    s->metrics.reloads_failed++; /* until it succeeds */
    if (sg_config_load(&cfg, s->config_path, err, sizeof(err)) != 0) {
        json_escape(esc, sizeof(esc), err);
        sg_log(s, "{\"event\":\"reload_failed\",\"why\":\"%s\"}", esc);
        return;
    }
    const char *blocker = sg_config_reload_blocker(&s->policy->cfg, &cfg);
    if (blocker) {
        sg_log(s, "{\"event\":\"reload_failed\",\"why\":\"%s changes only with a restart\"}",
               blocker);
        sg_config_free(&cfg);
        return;
    }
    if (policy_build(&p, &cfg, err, sizeof(err)) != 0) {
        json_escape(esc, sizeof(esc), err);
        sg_log(s, "{\"event\":\"reload_failed\",\"why\":\"%s\"}", esc);
        sg_config_free(&cfg);
        return;
    }
    s->metrics.reloads_failed--;
    s->metrics.reloads_ok++;
    metrics_keys(s, p);
    /* Sessions keep the snapshot they hold; new ones get this one. */
    pthread_mutex_lock(&s->lock);
    sg_policy *old = s->policy;
    s->policy = p;
    pthread_mutex_unlock(&s->lock);
    sg_policy_unref(old);
    sg_log(s, "{\"event\":\"reloaded\"}");
}

static void on_hup(uv_signal_t *h, int sig)
{
    sg_server *s = h->data;
    /* systemd shows the unit as reloading until READY=1; a failed reload
     * keeps the old policy serving, so READY=1 either way. */
    sd_notify(0, "RELOADING=1");
    reload(s);
    sd_notify(0, "READY=1");
}

static void on_term(uv_signal_t *h, int sig)
{
    sg_server *s = h->data;
    if (s->draining)
        return;
    s->draining = 1;
    sd_notify(0, "STOPPING=1");
    uv_timer_stop(&s->watchdog);
    sg_log(s, "{\"event\":\"draining\",\"signal\":%d}", sig);
    sg_mhttp_close(s->mhttp);
    s->mhttp = NULL;
    /* The workers close their dup()s of the listening socket; this one
     * too, or the kernel keeps completing connections nobody accepts. */
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        s->listen_fd = -1;
    }
    for (unsigned i = 0; i < s->nworkers; i++)
        uv_async_send(&s->workers[i].wake);
    uv_signal_stop(&s->sighup);
    uv_signal_stop(&s->sigterm);
    uv_signal_stop(&s->sigint);
    uv_stop(&s->loop);
}

/* The ping comes from the main loop, so a wedged loop (or a stuck
 * reload) stops the pings and systemd restarts us. */
static void on_watchdog(uv_timer_t *t)
{
    sd_notify(0, "WATCHDOG=1");
}

/* ------------------------------------------------------------------------ */

/* Once the socket is bound and the log opened, nothing needs root: run
 * as the configured user (groups first, then gid, then uid, so nothing
 * of root's is kept). */
static int drop_privileges(sg_server *s, const char *user, char *err, size_t errlen)
{
    if (user == NULL)
        return 0;
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        snprintf(err, errlen, "user: no user '%s'", user);
        return -1;
    }
    if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid)
        return 0;
    if (geteuid() != 0) {
        snprintf(err, errlen, "user: only root can switch to '%s'", user);
        return -1;
    }
    if (s->unix_path[0] && chown(s->unix_path, pw->pw_uid, (gid_t)-1) != 0) {
        snprintf(err, errlen, "user: chown %s: %s", s->unix_path, strerror(errno));
        return -1;
    }
    if (s->metrics_path[0] && chown(s->metrics_path, pw->pw_uid, (gid_t)-1) != 0) {
        snprintf(err, errlen, "user: chown %s: %s", s->metrics_path, strerror(errno));
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        snprintf(err, errlen, "user: cannot become '%s': %s", user, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) { /* must be impossible now */
        snprintf(err, errlen, "user: privileges not dropped");
        return -1;
    }
    return 0;
}

int sg_server_new(sg_server **out, sg_config *cfg, const char *config_path, char *err,
                  size_t errlen)
{
    sg_server *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->listen_fd = -1;
    s->metrics_fd = -1;
    s->log_fd = 2;
    pthread_mutex_init(&s->lock, NULL);
    s->config_path = config_path ? strdup(config_path) : NULL;
    if (cfg->log_file) {
        s->log_fd = open(cfg->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (s->log_fd < 0) {
            snprintf(err, errlen, "log_file %s: %s", cfg->log_file, strerror(errno));
            s->log_fd = 2;
            goto fail;
        }
    }
    s->listen_group = cfg->listen_group;
    if (open_listener(s, cfg->listen, err, errlen) != 0)
        goto fail;
    if (cfg->metrics_listen &&
        (s->metrics_fd = sg_mhttp_bind(cfg->metrics_listen, s->metrics_path, err, errlen)) < 0)
        goto fail;
    unsigned n = cfg->workers;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (unsigned)cpus : 1;
    }
    if (sg_metrics_init(&s->metrics, n, sg_version(), (double)time(NULL)) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (policy_build(&s->policy, cfg, err, errlen) != 0)
        goto fail;
    metrics_keys(s, s->policy);
    if (drop_privileges(s, s->policy->cfg.user, err, errlen) != 0)
        goto fail;
    s->workers = calloc(n, sizeof(sg_worker));
    if (s->workers == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    s->nworkers = n;
    for (unsigned i = 0; i < n; i++)
        if (worker_init(s, &s->workers[i], (int)i, err, errlen) != 0)
            goto fail;
    *out = s;
    return 0;
fail:
    sg_server_free(s);
    return -1;
}

int sg_server_run(sg_server *s)
{
    uv_loop_init(&s->loop);
    uv_signal_init(&s->loop, &s->sighup);
    uv_signal_init(&s->loop, &s->sigterm);
    uv_signal_init(&s->loop, &s->sigint);
    s->sighup.data = s->sigterm.data = s->sigint.data = s;
    uv_signal_start(&s->sighup, on_hup, SIGHUP);
    uv_signal_start(&s->sigterm, on_term, SIGTERM);
    uv_signal_start(&s->sigint, on_term, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    if (s->metrics_fd >= 0) {
        /* the main thread carries no mail: a scrape never delays a message */
        if (sg_mhttp_start(&s->mhttp, &s->loop, s->metrics_fd, metrics_render, s,
                           &s->metrics.http_refused) == 0)
            s->metrics_fd = -1; /* the listener owns it now */
        else
            sg_log(s, "{\"event\":\"metrics_failed\"}");
    }
    for (unsigned i = 0; i < s->nworkers; i++)
        uv_thread_create(&s->workers[i].thread, worker_main, &s->workers[i]);
    sg_log(s, "{\"event\":\"started\",\"workers\":%u,\"listen\":\"%s\"}", s->nworkers,
           s->policy->cfg.listen);
    /* Under systemd (Type=notify): ready once the socket is bound and every
     * worker accepts; watchdog pings at half the interval the unit sets. */
    uint64_t wd_usec = 0;
    uv_timer_init(&s->loop, &s->watchdog);
    if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec >= 2000) {
        uint64_t every_ms = wd_usec / 2000;
        uv_timer_start(&s->watchdog, on_watchdog, 0, every_ms);
    }
    sd_notifyf(0, "READY=1\nMAINPID=%lu", (unsigned long)getpid());
    uv_run(&s->loop, UV_RUN_DEFAULT);
    for (unsigned i = 0; i < s->nworkers; i++)
        uv_thread_join(&s->workers[i].thread);
    uv_walk(&s->loop, close_walk, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    sg_log(s, "{\"event\":\"stopped\"}");
    return 0;
}

void sg_server_free(sg_server *s)
{
    if (s == NULL)
        return;
    for (unsigned i = 0; i < s->nworkers; i++)
        worker_destroy(&s->workers[i]);
    free(s->workers);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->unix_path[0])
        unlink(s->unix_path);
    if (s->metrics_fd >= 0)
        close(s->metrics_fd);
    if (s->metrics_path[0])
        unlink(s->metrics_path);
    sg_metrics_free(&s->metrics);
    sg_policy_unref(s->policy);
    if (s->log_fd > 2)
        close(s->log_fd);
    free(s->config_path);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
