/* Shared helpers of the CLI: DNS options, input files, JSON strings. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

int sg_cli_dns_option(sg_cli_dns *d, int argc, char **argv, int *i)
{
    const char *opt = argv[*i];
    if (strcmp(opt, "--zone") && strcmp(opt, "--dns") && strcmp(opt, "--dns-timeout"))
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "spoofguard: %s needs a value\n", opt);
        return -1;
    }
    const char *val = argv[++*i];
    if (!strcmp(opt, "--zone")) {
        if (d->nzones == (int)(sizeof(d->zone_files) / sizeof(d->zone_files[0]))) {
            fprintf(stderr, "spoofguard: too many --zone files\n");
            return -1;
        }
        d->zone_files[d->nzones++] = val;
    } else if (!strcmp(opt, "--dns")) {
        d->dns = val;
    } else {
        char *end;
        unsigned long ms = strtoul(val, &end, 10);
        if (*end != '\0' || ms == 0 || ms > 600000) {
            fprintf(stderr, "spoofguard: --dns-timeout takes milliseconds (1..600000)\n");
            return -1;
        }
        d->timeout_ms = (unsigned)ms;
    }
    return 1;
}

int sg_cli_dns_open(sg_cli_dns *d)
{
    int rc;
    if (d->nzones > 0 && d->dns != NULL) {
        fprintf(stderr, "spoofguard: --zone and --dns exclude each other\n");
        return SG_EXIT_USAGE;
    }
    if (d->nzones > 0) {
        if ((rc = sg_zone_new(&d->zone)) != 0) {
            fprintf(stderr, "spoofguard: %s\n", sg_strerror(rc));
            return SG_EXIT_INTERNAL;
        }
        for (int i = 0; i < d->nzones; i++) {
            size_t line = 0;
            const char *p = d->zone_files[i];
            size_t n = strlen(p);
            if (n > 4 && !strcmp(p + n - 4, ".tsv"))
                rc = sg_zone_load_tsv(d->zone, p, NULL, &line);
            else
                rc = sg_zone_load_file(d->zone, p, NULL, &line);
            if (rc != 0) {
                if (line)
                    fprintf(stderr, "spoofguard: %s:%zu: %s\n", p, line, sg_strerror(rc));
                else
                    fprintf(stderr, "spoofguard: %s: %s\n", p, sg_strerror(rc));
                return SG_EXIT_INPUT;
            }
        }
        rc = sg_resolver_new_zone(&d->resolver, d->zone);
    } else {
        sg_resolver_opts o;
        sg_resolver_opts_init(&o);
        o.servers = d->dns;
        if (d->timeout_ms)
            o.timeout_ms = d->timeout_ms;
        rc = sg_resolver_new_net(&d->resolver, &o);
    }
    if (rc != 0) {
        fprintf(stderr, "spoofguard: cannot set up DNS: %s\n", sg_strerror(rc));
        return rc == SG_EINVAL ? SG_EXIT_USAGE : SG_EXIT_INTERNAL;
    }
    return 0;
}

void sg_cli_dns_close(sg_cli_dns *d)
{
    sg_resolver_free(d->resolver);
    sg_zone_free(d->zone);
    d->resolver = NULL;
    d->zone = NULL;
}

FILE *sg_cli_open_input(const char *path)
{
    if (path == NULL || !strcmp(path, "-"))
        return stdin;
    return fopen(path, "rb");
}

void sg_cli_json_strn(FILE *f, const char *s, size_t len)
{
    if (s == NULL) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\u%04x", c);
            else
                fputc(c, f);
        }
    }
    fputc('"', f);
}

void sg_cli_json_str(FILE *f, const char *s)
{
    sg_cli_json_strn(f, s, s ? strlen(s) : 0);
}
