/*
 * spoofguardd - the spoofguard milter for Postfix and Sendmail.
 *
 *   spoofguardd [-c FILE]        run (in the foreground; log to stderr or log_file)
 *   spoofguardd -t [-c FILE]     test the configuration, tables and keys, then exit
 *   spoofguardd --reference      print the option reference (Markdown)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
