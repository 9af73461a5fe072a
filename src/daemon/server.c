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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <spoofguard/verdict.h>
#include <systemd/sd-daemon.h>

#include "metrics.h"
#include "metrics_http.h"
#include "reportcollect.h"
#include "signer_client.h"
#include "worker.h"

struct sg_server {
    char *config_path;
    sg_worker_shared sh;  /* policy, log, listening socket, connection count */
    sg_logstats logstats; /* of sh.log */
    char unix_path[108];
    const char *listen_group;
    sg_worker *workers;
    unsigned nworkers;
    uv_loop_t loop; /* the main thread's: signals only */
    uv_signal_t sighup, sigterm, sigint, sigchld;
    uv_timer_t watchdog;     /* checks the workers' beats; pings systemd's watchdog */
    uint64_t wd_ms;          /* the unit's WatchdogSec= (0: none) */
    uint64_t stall_ms;       /* a worker whose beat stands still this long is stalled */
    uint64_t last_ping;      /* uv_now of the last WATCHDOG=1 */
    int signer_stalled;      /* signer_stalled logged, and no answer from it since */
    unsigned signer_answers; /* the workers' answers from the signer when it was */
    uv_timer_t ob_timer;     /* outbound store upkeep, every second */
    int draining;
    int exit_status;    /* 1 when the signer died: systemd restarts the unit */
    sg_metrics metrics; /* shards: one per worker */
    int metrics_fd;     /* bound in sg_server_new, served from the main loop */
    char metrics_path[108];
    unsigned signer_nworkers; /* sh.signer_fds: the control channel and one per worker */
    pid_t signer_pid;
    sg_mhttp *mhttp;
};

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
        s->metrics.live[j].created = keys[i].created ? keys[i].created : s->metrics.live[j].mtime;
        s->metrics.nlive++;
    }
}

static void metrics_render(sg_mbuf *b, void *payload)
{
    sg_server *s = payload;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sg_metrics_render(&s->metrics, b, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    {
        /* always served (0 without report_store), so a dashboard need not
         * know whether reporting is on */
        sg_rcollect_stats st = {0};
        if (s->sh.reports)
            sg_rcollect_stats_get(s->sh.reports, &st);
        static const struct {
            const char *name, *help;
        } fam[7] = {
            {"spoofguard_report_messages_total",
             "Inbound messages counted for DMARC aggregate reports."},
            {"spoofguard_report_lost_total",
             "Messages not counted for reports: the worker's table was full."},
            {"spoofguard_report_flush_errors_total",
             "Writes to report_store that failed (the counts are kept and written later)."},
            {"spoofguard_failure_reports_queued_total",
             "DMARC failure reports queued for `spoofguard report send`."},
            {"spoofguard_failure_reports_limited_total",
             "Failure reports not queued: one was this hour for that domain and source."},
            {"spoofguard_failure_reports_lost_total",
             "Failure reports due but not queued (no memory, a full list, a failed write)."},
            {"spoofguard_report_store_lost_total",
             "Flushes that found report_store deleted, replaced or overwritten (then opened "
             "again)."},
        };
        const uint64_t v[7] = {
            st.messages,         st.lost,          st.flush_errors, st.failures_queued,
            st.failures_limited, st.failures_lost, st.store_lost};
        for (int i = 0; i < 7; i++)
            sg_mbuf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", fam[i].name,
                           fam[i].help, fam[i].name, fam[i].name, (unsigned long long)v[i]);
    }
}

/* ------------------------------------------------------------------------ */
/* listening socket                                                          */

static int open_listener(sg_server *s, const char *spec, char *err, size_t errlen)
{
    int fd = -1, one = 1;
    sg_listen_addr la;
    /* the configuration was checked with the same reading */
    if (sg_listen_parse(spec, &la, err, errlen) != 0)
        return -1;
    if (la.is_unix) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        const char *path = la.path;
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
        s->sh.is_unix = 1;
    } else {
        fd = socket(la.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            /* Nagle vs delayed ACK stalls ~40 ms a packet. Linux copies
             * TCP_NODELAY to every accepted socket: set here once, not
             * once a connection (session.c). */
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            /* An MTA that crashed or was cut off would hold its sessions
             * until the 65-minute idle limit (rev18): keepalive probes
             * after 2 minutes of silence, 4 of them 30 s apart, end such a
             * connection within 4 minutes. Inherited by accepted sockets
             * as TCP_NODELAY is. */
            int idle = 120, intvl = 30, cnt = 4;
            setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
        }
        if (fd < 0 || bind(fd, (struct sockaddr *)&la.sa, la.salen) != 0)
            goto fail;
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
    s->sh.listen_fd = fd;
    return 0;
fail:
    snprintf(err, errlen, "listen %s: %s", spec, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* ------------------------------------------------------------------------ */
/* signals                                                                   */

/* err may hold table contents: the writer escapes it */
static void log_reload_failed(sg_server *s, const char *err)
{
    sg_logline l;
    sg_logline_start(&l);
    sg_logline_kv(&l, "event", "reload_failed");
    sg_logline_kv(&l, "why", err);
    sg_logline_emit(&l, &s->sh.log);
}

static void reload(sg_server *s)
{
    sg_config cfg;
    sg_policy *p;
    char err[1024];
    s->metrics.reloads_failed++; /* until it succeeds */
    if (sg_config_load(&cfg, s->config_path, err, sizeof(err)) != 0) {
        log_reload_failed(s, err);
        return;
    }
    const char *blocker = sg_config_reload_blocker(&s->sh.policy.cur->cfg, &cfg);
    if (blocker) {
        sg_log(&s->sh.log,
               "{\"event\":\"reload_failed\",\"why\":\"%s changes only with a restart\"}", blocker);
        sg_config_free(&cfg);
        return;
    }
    if (sg_policy_build(&p, &cfg, err, sizeof(err)) != 0) {
        log_reload_failed(s, err);
        sg_config_free(&cfg);
        return;
    }
    if (sg_signer_load_keys(s->sh.signer_fds[0], p->maps, &p->cfg, p->cfg.key_table, err,
                            sizeof(err)) != 0) {
        log_reload_failed(s, err);
        sg_policy_unref(p);
        return;
    }
    s->metrics.reloads_failed--;
    s->metrics.reloads_ok++;
    metrics_keys(s, p);
    /* A message in progress keeps the snapshot it holds; each message's
     * MAIL from now on takes this one, on old connections too. */
    sg_policy_slot_swap(&s->sh.policy, p);
    sg_log(&s->sh.log, "{\"event\":\"reloaded\"}");
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

static void drain(sg_server *s, int sig)
{
    if (s->draining)
        return;
    s->draining = 1;
    atomic_store(&s->sh.draining, 1);
    sd_notify(0, "STOPPING=1");
    uv_timer_stop(&s->watchdog);
    sg_log(&s->sh.log, "{\"event\":\"draining\",\"signal\":%d}", sig);
    sg_mhttp_close(s->mhttp);
    s->mhttp = NULL;
    /* The workers close their dup()s of the listening socket; this one
     * too, or the kernel keeps completing connections nobody accepts. */
    if (s->sh.listen_fd >= 0) {
        close(s->sh.listen_fd);
        s->sh.listen_fd = -1;
    }
    for (unsigned i = 0; i < s->nworkers; i++)
        sg_worker_drain(&s->workers[i]);
    uv_signal_stop(&s->sighup);
    uv_signal_stop(&s->sigterm);
    uv_signal_stop(&s->sigint);
    uv_signal_stop(&s->sigchld);
    /* an expiry sweep under way on the pool ends at its next step: the
     * stop waits for that, not for the whole walk */
    sg_obd_shared_stopping(&s->sh.ob);
    uv_stop(&s->loop);
}

static void on_term(uv_signal_t *h, int sig)
{
    drain(h->data, sig);
}

/* The milter side dropped root and cannot start a new signer with the
 * keys: without one, every outbound message would get the fail-safe
 * answer until someone noticed. Drain and exit non-zero instead, so the
 * service manager (Restart=on-failure) starts a whole new daemon; the
 * MTA's milter_default_action covers the seconds in between. */
static void on_chld(uv_signal_t *h, int sig)
{
    sg_server *s = h->data;
    int st;
    if (s->signer_pid <= 0 || waitpid(s->signer_pid, &st, WNOHANG) != s->signer_pid)
        return;
    s->signer_pid = -1;
    sg_log(&s->sh.log, "{\"event\":\"signer_died\",\"%s\":%d}",
           WIFSIGNALED(st) ? "signal" : "status", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    s->exit_status = 1;
    drain(s, sig);
}

/* Without a watchdog a stall is only logged, after this long. */
#define STALL_LOG_MS 10000

/* Every tick: a worker whose beat has not moved for stall_ms is stalled
 * (logged once, and again when it moves), and so is the signer process
 * when a worker's request to it has waited that long; while either is,
 * systemd's watchdog goes without its ping: WatchdogSec= later systemd
 * kills the daemon (SIGABRT, a core for the bug) and Restart=on-failure
 * starts a new one. The MTA's milter_default_action covers the sessions
 * in between, as for any restart. Half of WatchdogSec= of stall before
 * the pings stop leaves a worker room for the longest legitimate turn (a
 * slow disk under an LMDB write) and still restarts a wedged one within
 * one period. The ping comes from this loop, so a wedged main loop (a
 * stuck reload) stops it too. */
static void on_watchdog(uv_timer_t *t)
{
    sg_server *s = t->data;
    uint64_t now = uv_now(&s->loop);
    unsigned nstalled = 0;
    /* the signer's: the longest wait of a request, and the answers had */
    unsigned waited = 0, answers = 0;
    for (unsigned i = 0; i < s->nworkers; i++) {
        sg_worker *w = &s->workers[i];
        unsigned ms = atomic_load_explicit(&w->signer_wait_ms, memory_order_relaxed);
        waited = ms > waited ? ms : waited;
        answers += atomic_load_explicit(&w->signer_answers, memory_order_relaxed);
        unsigned b = atomic_load_explicit(&w->beat, memory_order_relaxed);
        if (b != w->seen_beat) {
            if (w->stalled)
                sg_log(&s->sh.log, "{\"event\":\"worker_recovered\",\"worker\":%u,\"ms\":%llu}", i,
                       (unsigned long long)(now - w->seen_at));
            w->seen_beat = b;
            w->seen_at = now;
            w->stalled = 0;
        } else if (now - w->seen_at >= s->stall_ms) {
            if (!w->stalled) {
                sg_log(&s->sh.log,
                       "{\"event\":\"worker_stalled\",\"worker\":%u,\"ms\":%llu,"
                       "\"watchdog\":\"%s\"}",
                       i, (unsigned long long)(now - w->seen_at), s->wd_ms ? "withheld" : "none");
                s->metrics.stalls[0]++;
            }
            w->stalled = 1;
            nstalled++;
        }
    }
    /* The signer answers whatever it reads within milliseconds; without
     * this a wedged signer left every outbound message waiting for the
     * MTA's timeout, and the unit healthy. Stalled until it answers: a
     * waiting request that goes away (its session ended) does not show the
     * signer alive. */
    if (waited >= s->stall_ms && !s->signer_stalled) {
        sg_log(&s->sh.log, "{\"event\":\"signer_stalled\",\"ms\":%u,\"watchdog\":\"%s\"}", waited,
               s->wd_ms ? "withheld" : "none");
        s->signer_stalled = 1;
        s->signer_answers = answers;
        s->metrics.stalls[1]++;
    } else if (s->signer_stalled && answers != s->signer_answers && waited < s->stall_ms) {
        sg_log(&s->sh.log, "{\"event\":\"signer_recovered\"}");
        s->signer_stalled = 0;
    }
    s->metrics.stalled[0] = nstalled;
    s->metrics.stalled[1] = (unsigned)s->signer_stalled;
    /* the first tick pings: last_ping starts at 0 */
    if (s->wd_ms && nstalled == 0 && !s->signer_stalled &&
        (s->last_ping == 0 || now - s->last_ping >= s->wd_ms / 2)) {
        sd_notify(0, "WATCHDOG=1");
        s->last_ping = now;
    }
}

/* ------------------------------------------------------------------------ */

int sg_server_become(const struct passwd *pw)
{
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0)
        return -1;
    return 0;
}

/* Once the socket is bound and the log opened, nothing needs root: run
 * as the configured user. */
static int drop_privileges(sg_server *s, const char *user, char *err, size_t errlen)
{
    /* root is never kept: the default user, which must exist */
    if (user == NULL && geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(user ? user : SG_DEFAULT_USER);
    if (pw == NULL) {
        snprintf(err, errlen,
                 user ? "user: no user '%s'"
                      : "user: started as root, spoofguardd runs as the user `user` names, or "
                        "'%s' by default: create that system user or set `user`",
                 user ? user : SG_DEFAULT_USER);
        return -1;
    }
    if (pw->pw_uid == 0) {
        snprintf(err, errlen, "user: '%s' is root: spoofguardd does not run as root", pw->pw_name);
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
    if (sg_server_become(pw) != 0) {
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
    s->sh.listen_fd = -1;
    s->metrics_fd = -1;
    s->signer_pid = -1;
    s->sh.log.fd = 2;
    if (sg_logstats_init(&s->logstats) == 0)
        s->sh.log.st = &s->logstats;
    sg_policy_slot_init(&s->sh.policy, NULL);
    s->config_path = config_path ? strdup(config_path) : NULL;
    if (cfg->log_file) {
        s->sh.log.fd = open(cfg->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (s->sh.log.fd < 0) {
            snprintf(err, errlen, "log_file %s: %s", cfg->log_file, strerror(errno));
            s->sh.log.fd = 2;
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
    s->metrics.logstats = &s->logstats;
    if (sg_policy_build(&s->sh.policy.cur, cfg, err, errlen) != 0)
        goto fail;
    /* the keys go to the signer before the milter side drops root */
    char warn[512];
    int started =
        sg_signer_start(&s->sh.policy.cur->cfg, s->sh.policy.cur->maps, n, &s->sh.signer_fds,
                        &s->signer_pid, warn, sizeof(warn), err, errlen);
    if (warn[0]) {
        sg_logline l;
        sg_logline_start(&l);
        sg_logline_kv(&l, "event", "warning");
        sg_logline_kv(&l, "why", warn);
        sg_logline_emit(&l, &s->sh.log);
    }
    if (started != 0)
        goto fail;
    s->signer_nworkers = n;
    metrics_keys(s, s->sh.policy.cur);
    if (drop_privileges(s, s->sh.policy.cur->cfg.user, err, errlen) != 0)
        goto fail;
    /* opened as the user that runs: the files stay its own, and
     * `spoofguard accounts` (as that user or root) shares them */
    if (sg_obd_shared_init(&s->sh.ob, &s->sh.policy.cur->cfg, err, errlen) != 0)
        goto fail;
    s->metrics.ob_fallback_active = &s->sh.ob.fallback_active;
    /* after the drop: the store's files belong to the daemon's user */
    const sg_config *pc = &s->sh.policy.cur->cfg;
    if (pc->report_store &&
        sg_rcollect_new(&s->sh.reports, pc->report_store, pc->report_flush_interval,
                        pc->report_max_groups, n, err, errlen) != 0)
        goto fail;
    if (s->sh.reports)
        sg_rcollect_set_log(s->sh.reports, &s->sh.log);
    if (s->sh.reports && pc->failure_reports)
        sg_rcollect_failures_on(s->sh.reports);
    if (s->sh.reports && pc->report_redis &&
        sg_rcollect_use_redis(s->sh.reports, pc->report_redis, err, errlen) != 0)
        goto fail;
    s->workers = calloc(n, sizeof(sg_worker));
    if (s->workers == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    s->nworkers = n;
    for (unsigned i = 0; i < n; i++)
        if (sg_worker_init(&s->workers[i], &s->sh, &s->metrics.shards[i], (int)i, err, errlen) != 0)
            goto fail;
    *out = s;
    return 0;
fail:
    sg_server_free(s);
    return -1;
}

/* LMDB without outbound_store_sync: flushed here, once a second; the
 * slots of dead readers (a killed CLI) cleared; records idle for 90 days
 * expired. What was counted in memory while the store (Redis or LMDB)
 * failed, carried into it. */
static void on_ob_timer(uv_timer_t *t)
{
    sg_server *s = t->data;
    sg_obd_shared_maintain(&s->sh.ob);
    sg_obd_shared_tick(&s->sh.ob, &s->loop, &s->sh.log);
}

void sg_server_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGCHLD);
}

void sg_server_startup_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGCHLD);
}

/* The threads started here leave the signals to the main loop: they are
 * made with all four blocked, whatever this thread's mask. */
static void threads_mask(int on, sigset_t *saved)
{
    sigset_t all;
    sg_server_signals(&all);
    if (on)
        pthread_sigmask(SIG_BLOCK, &all, saved);
    else
        pthread_sigmask(SIG_SETMASK, saved, NULL);
}

int sg_server_run(sg_server *s)
{
    sigset_t saved;
    uv_loop_init(&s->loop);
    uv_signal_init(&s->loop, &s->sighup);
    uv_signal_init(&s->loop, &s->sigterm);
    uv_signal_init(&s->loop, &s->sigint);
    uv_signal_init(&s->loop, &s->sigchld);
    s->sighup.data = s->sigterm.data = s->sigint.data = s->sigchld.data = s;
    uv_signal_start(&s->sighup, on_hup, SIGHUP);
    uv_signal_start(&s->sigchld, on_chld, SIGCHLD);
    signal(SIGPIPE, SIG_IGN);
    if (s->metrics_fd >= 0) {
        /* the main thread carries no mail: a scrape never delays a message */
        if (sg_mhttp_start(&s->mhttp, &s->loop, s->metrics_fd, metrics_render, s,
                           &s->metrics.http_refused) == 0)
            s->metrics_fd = -1; /* the listener owns it now */
        else
            sg_log(&s->sh.log, "{\"event\":\"metrics_failed\"}");
    }
    threads_mask(1, &saved);
    int rc_failed = s->sh.reports && sg_rcollect_start(s->sh.reports) != 0;
    threads_mask(0, &saved);
    if (rc_failed)
        sg_log(&s->sh.log, "{\"event\":\"report_collection_failed\"}");
    sg_obd_shared_restore(&s->sh.ob, &s->sh.log);
    /* Under systemd (Type=notify): ready once the socket is bound and every
     * worker accepts; watchdog pings while every worker's loop turns. The
     * workers beat four times in a stall period (at most once a second). */
    uint64_t wd_usec = 0;
    if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec >= 2000)
        s->wd_ms = wd_usec / 1000;
    s->stall_ms = s->wd_ms ? s->wd_ms / 2 : STALL_LOG_MS;
    uint64_t tick = s->stall_ms / 4;
    if (tick > 1000)
        tick = 1000;
    if (tick == 0)
        tick = 1;
    uv_update_time(&s->loop);
    threads_mask(1, &saved);
    for (unsigned i = 0; i < s->nworkers; i++) {
        s->workers[i].seen_at = uv_now(&s->loop);
        sg_worker_start(&s->workers[i], (unsigned)tick);
    }
    threads_mask(0, &saved);
    sg_log(&s->sh.log, "{\"event\":\"started\",\"workers\":%u,\"listen\":\"%s\"}", s->nworkers,
           s->sh.policy.cur->cfg.listen);
    if (sg_maps_unmapped_logins(s->sh.policy.cur->maps))
        sg_log(&s->sh.log, "{\"event\":\"warning\",\"why\":\"%s\"}", SG_MAPS_UNMAPPED_LOGINS);
    if (sg_config_listen_exposed(&s->sh.policy.cur->cfg))
        sg_log(&s->sh.log, "{\"event\":\"warning\",\"why\":\"%s\"}", SG_CONFIG_LISTEN_EXPOSED);
    uv_timer_init(&s->loop, &s->watchdog);
    s->watchdog.data = s;
    uv_timer_start(&s->watchdog, on_watchdog, 0, tick);
    uv_timer_init(&s->loop, &s->ob_timer);
    s->ob_timer.data = s;
    if (s->sh.ob.store || s->sh.ob.redis)
        uv_timer_start(&s->ob_timer, on_ob_timer, 1000, 1000);
    /* Last: until here a SIGTERM or SIGINT takes its default action, so
     * a start-up stuck on its log or store still ends at once; a handler
     * would only hold it for a loop not yet running (rev24 R24-5). */
    uv_signal_start(&s->sigterm, on_term, SIGTERM);
    uv_signal_start(&s->sigint, on_term, SIGINT);
    sd_notifyf(0, "READY=1\nMAINPID=%lu", (unsigned long)getpid());
    /* main() blocked SIGHUP and SIGCHLD for the start-up: the handlers are
     * in place, and what came meanwhile is taken now, by the loop (a
     * SIGHUP is a reload after READY=1). In this thread only: the
     * workers, started with all four blocked, leave the signals to the
     * main loop. */
    sigset_t sigs;
    sg_server_signals(&sigs);
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    for (unsigned i = 0; i < s->nworkers; i++)
        sg_worker_join(&s->workers[i]);
    uv_walk(&s->loop, close_walk, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT); /* a carry under way on the pool ends here */
    sg_obd_shared_finish(&s->sh.ob, &s->sh.log);
    uv_loop_close(&s->loop);
    sg_log(&s->sh.log, "{\"event\":\"stopped\"}");
    return s->exit_status;
}

void sg_server_free(sg_server *s)
{
    if (s == NULL)
        return;
    for (unsigned i = 0; i < s->nworkers; i++)
        sg_worker_destroy(&s->workers[i]);
    free(s->workers);
    sg_rcollect_free(s->sh.reports); /* after the workers: a last flush */
    if (s->sh.listen_fd >= 0)
        close(s->sh.listen_fd);
    if (s->unix_path[0])
        unlink(s->unix_path);
    if (s->metrics_fd >= 0)
        close(s->metrics_fd);
    if (s->metrics_path[0])
        unlink(s->metrics_path);
    sg_signer_stop(s->sh.signer_fds, s->signer_nworkers, s->signer_pid);
    sg_metrics_free(&s->metrics);
    sg_obd_shared_free(&s->sh.ob);
    sg_policy_slot_destroy(&s->sh.policy);
    if (s->sh.log.fd > 2)
        close(s->sh.log.fd);
    if (s->sh.log.st != NULL)
        sg_logstats_destroy(s->sh.log.st);
    free(s->config_path);
    free(s);
}
