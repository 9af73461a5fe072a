/*
 * spoofguardd - the spoofguard milter for Postfix and Sendmail.
 *
 *   spoofguardd [-c FILE]        run (in the foreground; log to stderr or log_file)
 *   spoofguardd -t [-c FILE]     test the configuration, tables and keys, then exit
 *   spoofguardd --reference      print the option reference (Markdown)
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spoofguard/dmarc.h>
#include <spoofguard/dns.h>

#include "common/conf_line.h"
#include "config.h"
#include "maps.h"
#include "obstore.h"
#include "server.h"
#include "signer_client.h"

#define DEFAULT_CONFIG "/etc/spoofguard/spoofguardd.conf"

static void usage(FILE *f)
{
    fprintf(f, "usage: spoofguardd [-c FILE] [-t] [--reference]\n"
               "  -c FILE       configuration file (default " DEFAULT_CONFIG ")\n"
               "  -t            check the configuration, tables and keys, then exit\n"
               "  --reference   print the option reference\n");
}

static int is_folder(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The outbound store is a folder (LMDB) unless it is Redis or memory. */
static const char *outbound_folder(const sg_config *cfg)
{
    if (!cfg->outbound || cfg->outbound_store == NULL ||
        !strncmp(cfg->outbound_store, "redis://", 8) || !strcmp(cfg->outbound_store, "memory:"))
        return NULL;
    return cfg->outbound_store;
}

/* A `user` that is root: the start refuses it, wherever it runs. */
static int user_is_root(const sg_config *cfg, char *err, size_t errlen)
{
    const char *user = cfg->user ? cfg->user : SG_DEFAULT_USER;
    struct passwd *pw = geteuid() == 0 || cfg->user ? getpwnam(user) : NULL;
    if (pw != NULL && pw->pw_uid == 0) {
        snprintf(err, errlen, "user: '%s' is root: spoofguardd does not run as root", user);
        return 1;
    }
    return 0;
}

/* Started as root, the signer becomes signer_user (signer.c): a user
 * this host lacks stops the start, as a missing `user` does, so -t calls
 * it the host's (exit 3, adv37 F4), not the configuration's. */
static int signer_user_missing(const sg_config *cfg)
{
    return geteuid() == 0 && getpwnam(cfg->signer_user ? cfg->signer_user : "nobody") == NULL;
}

/* An LMDB store whose data.mdb is a truncated copy or restore: empty,
 * LMDB would start a new store over it, forgetting every block (adv36
 * F7); cut short, the first read past its end (the start's expiry sweep)
 * kills the daemon with SIGBUS at every restart (rev24 R24-1). The start
 * and -t refuse it, naming the file and the fix. 0, or -1 with err. */
static int outbound_store_damaged(const sg_config *cfg, char *err, size_t errlen)
{
    const char *ob = outbound_folder(cfg);
    int found;
    char e[1024];
    if (ob == NULL || sg_obs_lmdb_check(ob, &found, e, sizeof(e)) == 0)
        return 0;
    snprintf(err, errlen, "outbound_store: %.900s", e);
    return -1;
}

/* What this host lacks that the start needs, and -t can see without
 * starting: `-t` said "configuration OK" for a socket or store folder
 * that is not there and a report store the user cannot write, then the
 * start (at the next restart, for the options a reload does not change)
 * failed (adv21 F4). 0, or -1 with err. */
static int host_not_ready(const sg_config *cfg, char *err, size_t errlen)
{
    char dir[4096];
    if (!strncmp(cfg->listen, "unix:", 5)) {
        sg_folder_of(dir, sizeof(dir), cfg->listen + 5);
        if (!is_folder(dir)) {
            snprintf(err, errlen, "listen: the socket's folder %.400s does not exist", dir);
            return -1;
        }
        /* the group is looked up only when the socket is made: the start
         * failed on a group -t had not looked for (adv37 F1) */
        if (cfg->listen_group != NULL && getgrnam(cfg->listen_group) == NULL) {
            snprintf(err, errlen, "listen_group: no group '%.200s' on this host",
                     cfg->listen_group);
            return -1;
        }
    }
    /* opened (created) at the start, before anything else: a missing
     * folder stopped the start that -t had passed (adv37 F1) */
    if (cfg->log_file != NULL) {
        sg_folder_of(dir, sizeof(dir), cfg->log_file);
        if (!is_folder(dir)) {
            snprintf(err, errlen, "log_file: the folder %.400s does not exist", dir);
            return -1;
        }
    }
    const char *ob = outbound_folder(cfg);
    if (ob != NULL && !is_folder(ob)) {
        snprintf(err, errlen,
                 "outbound_store: the folder %s does not exist (create it, writable "
                 "by the user spoofguardd runs as)",
                 ob);
        return -1;
    }
    if (outbound_store_damaged(cfg, err, errlen) != 0)
        return -1;
    if (cfg->report_store != NULL) {
        sg_folder_of(dir, sizeof(dir), cfg->report_store);
        if (!is_folder(dir)) {
            snprintf(err, errlen, "report_store: the folder %.400s does not exist", dir);
            return -1;
        }
    }
    if (signer_user_missing(cfg)) {
        snprintf(err, errlen,
                 "signer_user: no user '%.200s' for the signer (the process holding the keys) to "
                 "run as: create it or set signer_user (the keys were not checked)",
                 cfg->signer_user ? cfg->signer_user : "nobody");
        return -1;
    }
    return 0;
}

/* In the user's process (the child of as_user, or this one when
 * not started as root): the stores must be writable by it, the report
 * store's folder too (SQLite writes its journal beside it). 0, or -1 with
 * the reason in msg. */
static int stores_writable(const sg_config *cfg, const char *user, char *msg, size_t n)
{
    char dir[4096];
    const char *ob = outbound_folder(cfg);
    if (ob != NULL && access(ob, W_OK | X_OK) != 0) {
        snprintf(msg, n, "outbound_store %s: not writable by user '%s' (%s)", ob, user,
                 strerror(errno));
        return -1;
    }
    if (cfg->report_store != NULL) {
        sg_folder_of(dir, sizeof(dir), cfg->report_store);
        if ((access(cfg->report_store, F_OK) == 0 && access(cfg->report_store, R_OK | W_OK) != 0) ||
            access(dir, W_OK | X_OK) != 0) {
            snprintf(msg, n,
                     "report_store %s: not writable by user '%s' (%s): a store made by root "
                     "(`spoofguard report parse` run as root) must be given to that user",
                     cfg->report_store, user, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Started as root, spoofguardd reads the configuration and its tables
 * again at each reload as `user`: files that user cannot read make the
 * first reload fail (adv16 F5); with `stores`, the stores it writes
 * instead (stores_writable). Checked in a child that becomes the user, as
 * the daemon does; not started as root, in this process. 0, or -1 with
 * the first problem in err. */
static int as_user(const sg_config *cfg, const char *path, int stores, char *err, size_t errlen)
{
    const char *files[] = {path, cfg->sender_map, cfg->signing_table, cfg->key_table,
                           cfg->public_suffix_list};
    const char *user = cfg->user ? cfg->user : SG_DEFAULT_USER;
    if (geteuid() != 0) {
        /* not root: the daemon would run as us; a configuration for
         * another user (checked by its admin before a root start) cannot
         * be judged from here (rev19 #5) */
        struct passwd *me = getpwuid(geteuid());
        if (!stores || me == NULL || (cfg->user && strcmp(cfg->user, me->pw_name)))
            return 0;
        return stores_writable(cfg, me->pw_name, err, errlen);
    }
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        snprintf(err, errlen,
                 "user: no user '%s' to run as: the start, as root, would fail (create it or "
                 "set `user`)",
                 user);
        return -1;
    }
    if (pw->pw_uid == 0)
        return 0; /* the start refuses it, naming the fix */
    int p[2];
    if (pipe(p) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        if (sg_server_become(pw) != 0) {
            dprintf(p[1], "user: cannot become '%s': %s", user, strerror(errno));
            _exit(1);
        }
        if (stores) {
            char msg[1024];
            if (stores_writable(cfg, user, msg, sizeof(msg)) != 0) {
                dprintf(p[1], "%s", msg);
                _exit(1);
            }
            _exit(0);
        }
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            if (files[i] == NULL)
                continue;
            int fd = open(files[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
            if (fd < 0) {
                dprintf(p[1], "%s: not readable by user '%s' (%s): a reload would fail", files[i],
                        user, strerror(errno));
                _exit(1);
            }
            close(fd);
        }
        _exit(0);
    }
    close(p[1]);
    ssize_t n = read(p[0], err, errlen - 1);
    close(p[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    err[n > 0 ? n : 0] = '\0';
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (n <= 0)
        snprintf(err, errlen, "user '%s': the check of the files failed", user);
    return -1;
}

int main(int argc, char **argv)
{
    /* Before anything: a SIGHUP (a script's `kill -HUP` or a logrotate
     * postrotate right after a start; `systemctl reload` waits for
     * READY=1, they do not) during the start-up took its default action,
     * and the daemon died (adv36 F6); a SIGCHLD (the signer dead already)
     * was lost. Blocked, they wait for sg_server_run's handlers. SIGTERM
     * and SIGINT are not: blocked, a start-up stuck on a log_file FIFO
     * nobody reads could be ended by SIGKILL only (rev24 R24-5). Their
     * default action ends it at once, the signer with it (its
     * PR_SET_PDEATHSIG), and the next start unlinks a socket file left
     * behind. The signer forked meanwhile inherits the mask (it clears
     * it). */
    sigset_t startup, caller;
    sg_server_startup_signals(&startup);
    pthread_sigmask(SIG_BLOCK, &startup, &caller);
    const char *path = DEFAULT_CONFIG;
    int test = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-c") && i + 1 < argc) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "-t")) {
            test = 1;
        } else if (!strcmp(argv[i], "--reference")) {
            sg_config_print_reference(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }

    sg_config cfg;
    char err[1024];
    /* before any thread, and before the first message can meet a failure
     * of OpenSSL's own set-up (adv27 MEM-5) */
    if (sg_crypto_init() != SG_OK) {
        fprintf(stderr, "spoofguardd: OpenSSL does not work here (start-up check failed)\n");
        return 1;
    }
    if (sg_config_load(&cfg, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "spoofguardd: %s\n", err);
        return 1;
    }
    if (test) {
        /* a check is no daemon: ^C ends it */
        pthread_sigmask(SIG_SETMASK, &caller, NULL);
        sg_maps *maps;
        if (sg_maps_load(&maps, &cfg, err, sizeof(err)) != 0) {
            fprintf(stderr, "spoofguardd: %s\n", err);
            sg_config_free(&cfg);
            return 1;
        }
        /* the keys are checked where they will be read: in a signer; one
         * without its user cannot start, which the host check says */
        int *fds;
        pid_t pid;
        int signer = !signer_user_missing(&cfg);
        char warn[512] = "";
        int started = signer ? sg_signer_start(&cfg, maps, 0, &fds, &pid, warn, sizeof(warn), err,
                                               sizeof(err))
                             : 0;
        if (warn[0])
            fprintf(stderr, "spoofguardd: warning: %s\n", warn);
        if (started != 0) {
            fprintf(stderr, "spoofguardd: %s\n", err);
            sg_maps_free(maps);
            sg_config_free(&cfg);
            return 1;
        }
        if (signer)
            sg_signer_stop(fds, 0, pid);
        int unmapped = sg_maps_unmapped_logins(maps);
        sg_maps_free(maps);
        if (user_is_root(&cfg, err, sizeof(err))) {
            fprintf(stderr, "spoofguardd: %s: %s\n", path, err);
            sg_config_free(&cfg);
            return 1;
        }
        /* a warning: the configuration is right, the files' modes are
         * not (the start, as root, works; the first reload would not) */
        if (as_user(&cfg, path, 0, err, sizeof(err)) != 0)
            fprintf(stderr, "spoofguardd: warning: %s\n", err);
        if (unmapped)
            fprintf(stderr, "spoofguardd: warning: %s: %s\n", path, SG_MAPS_UNMAPPED_LOGINS);
        if (sg_config_listen_exposed(&cfg))
            fprintf(stderr, "spoofguardd: warning: %s: %s\n", path, SG_CONFIG_LISTEN_EXPOSED);
        sg_dmarc_psl *psl = NULL;
        if (cfg.public_suffix_list && sg_dmarc_psl_load_file(&psl, cfg.public_suffix_list) != 0) {
            fprintf(stderr, "spoofguardd: %s: public_suffix_list %s: cannot load the list\n", path,
                    cfg.public_suffix_list);
            sg_config_free(&cfg);
            return 1;
        }
        sg_dmarc_psl_free(psl);
        /* the resolver settings are only checked by building one */
        sg_resolver *r;
        sg_resolver_opts ro;
        sg_resolver_opts_init(&ro);
        ro.servers = cfg.dns_servers;
        ro.timeout_ms = cfg.dns_timeout_ms;
        ro.tries = cfg.dns_tries;
        int rc = sg_resolver_new_net(&r, &ro);
        if (rc != 0) {
            fprintf(stderr, "spoofguardd: %s: dns_servers: %s\n", path, sg_strerror(rc));
            sg_config_free(&cfg);
            return 1;
        }
        sg_resolver_free(r);
        rc = sg_config_print(&cfg, stdout);
        if (rc != 0) {
            fprintf(stderr, "spoofguardd: %s: cannot print the configuration: %s\n", path,
                    sg_strerror(rc));
            sg_config_free(&cfg);
            return 1;
        }
        /* the configuration is right, this host is not ready for it: its
         * own exit status, so that a configuration can be checked where
         * it is written (tests, a build host) and is never called usable
         * where it is not */
        if (host_not_ready(&cfg, err, sizeof(err)) != 0 ||
            as_user(&cfg, path, 1, err, sizeof(err)) != 0) {
            fflush(stdout);
            fprintf(stderr, "spoofguardd: %s: this host cannot start it: %s\n", path, err);
            sg_config_free(&cfg);
            return 3;
        }
        fprintf(stdout, "# %s: configuration OK\n", path);
        sg_config_free(&cfg);
        return 0;
    }
    /* the same word as -t's for a store this host holds damaged: a restart
     * loop would not mend it */
    if (outbound_store_damaged(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "spoofguardd: %s: this host cannot start it: %s\n", path, err);
        sg_config_free(&cfg);
        return 3;
    }
    sg_server *srv;
    if (sg_server_new(&srv, &cfg, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "spoofguardd: %s\n", err);
        sg_config_free(&cfg);
        return 1;
    }
    int rc = sg_server_run(srv);
    sg_server_free(srv);
    return rc == 0 ? 0 : 1;
}
