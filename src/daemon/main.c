/*
 * spoofguardd - the spoofguard milter for Postfix and Sendmail.
 *
 *   spoofguardd [-c FILE]        run (in the foreground; log to stderr or log_file)
 *   spoofguardd -t [-c FILE]     test the configuration, tables and keys, then exit
 *   spoofguardd --reference      print the option reference (Markdown)
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spoofguard/dmarc.h>
#include <spoofguard/dns.h>

#include "config.h"
#include "maps.h"
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

/* Started as root, spoofguardd reads the configuration and its tables
 * again at each reload as `user`: files that user cannot read make the
 * first reload fail (adv16 F5). Checked in a child that becomes the user,
 * as the daemon does. 0, or -1 with the first file it cannot read in err. */
static int readable_by_user(const sg_config *cfg, const char *path, char *err, size_t errlen)
{
    const char *files[] = {path, cfg->sender_map, cfg->signing_table, cfg->key_table,
                           cfg->public_suffix_list};
    const char *user = cfg->user ? cfg->user : SG_DEFAULT_USER;
    if (geteuid() != 0)
        return 0;
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
    if (sg_config_load(&cfg, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "spoofguardd: %s\n", err);
        return 1;
    }
    if (test) {
        sg_maps *maps;
        if (sg_maps_load(&maps, &cfg, err, sizeof(err)) != 0) {
            fprintf(stderr, "spoofguardd: %s\n", err);
            sg_config_free(&cfg);
            return 1;
        }
        /* the keys are checked where they will be read: in a signer */
        int *fds;
        pid_t pid;
        if (sg_signer_start(&cfg, maps, 0, &fds, &pid, err, sizeof(err)) != 0) {
            fprintf(stderr, "spoofguardd: %s\n", err);
            sg_maps_free(maps);
            sg_config_free(&cfg);
            return 1;
        }
        sg_signer_stop(fds, 0, pid);
        sg_maps_free(maps);
        /* a warning: the configuration is right, the files' modes are
         * not (the start, as root, works; the first reload would not) */
        if (readable_by_user(&cfg, path, err, sizeof(err)) != 0)
            fprintf(stderr, "spoofguardd: warning: %s\n", err);
        if (sg_config_unmapped_logins(&cfg))
            fprintf(stderr, "spoofguardd: warning: %s: %s\n", path, SG_CONFIG_UNMAPPED_LOGINS);
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
        fprintf(stdout, "# %s: configuration OK\n", path);
        sg_config_free(&cfg);
        return 0;
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
