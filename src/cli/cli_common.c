/* Shared helpers of the CLI: DNS options, input files, JSON strings. */
#include "cli.h"

#include <stdint.h>
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
                sg_cli_dns_close(d);
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
        sg_cli_dns_close(d);
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

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        len = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* no overlong forms, no surrogates, nothing past U+10FFFF */
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return len;
}

/* JSON must be valid UTF-8: bytes that are not become U+FFFD. */
void sg_cli_json_strn(FILE *f, const char *s, size_t len)
{
    if (s == NULL) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t l;
        switch (c) {
        case '"':
            fputs("\\\"", f);
            i++;
            continue;
        case '\\':
            fputs("\\\\", f);
            i++;
            continue;
        case '\n':
            fputs("\\n", f);
            i++;
            continue;
        case '\r':
            fputs("\\r", f);
            i++;
            continue;
        case '\t':
            fputs("\\t", f);
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
            i++;
        } else if ((l = utf8_len((const unsigned char *)s + i, len - i)) == 0) {
            fputs("\\ufffd", f);
            i++;
        } else {
            fwrite(s + i, 1, l, f);
            i += l;
        }
    }
    fputc('"', f);
}

void sg_cli_json_str(FILE *f, const char *s)
{
    sg_cli_json_strn(f, s, s ? strlen(s) : 0);
}
